/*
 * u2u_exchange CLIENT_CCACHE SERVER_CCACHE SERVER_PRINCIPAL
 *
 * A user-to-user exchange between two devices that hold only TGTs (no
 * keytab), as issue 3 item 7 describes it, with the public krb5 API:
 *
 *   1. the client obtains a user-to-user ticket for SERVER_PRINCIPAL
 *      encrypted in the session key of the server's TGT (the TGT is the
 *      "second ticket" of the TGS request);
 *   2. it sends an AP-REQ asking for mutual authentication;
 *   3. the server accepts it using only its TGT's session key
 *      (krb5_auth_con_setuseruserkey, no keytab) and answers with an AP-REP;
 *   4. the client checks the AP-REP;
 *   5. both sides' session keys are compared.
 *
 * Prints one line per step; exits 0 only if every step worked and the keys
 * are equal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>
#include <openssl/crypto.h>

static krb5_context ctx;

/* Print what failed with krb5's message for code and exit 1. */
static void
die(krb5_error_code code, const char *what)
{
    const char *msg = krb5_get_error_message(ctx, code);

    fprintf(stderr, "u2u_exchange: %s: %s\n", what, msg);
    krb5_free_error_message(ctx, msg);
    exit(1);
}

/* The TGT of the principal of ccache cc. */
static krb5_creds *
get_tgt(krb5_ccache cc)
{
    krb5_creds mcreds, *creds;
    krb5_principal me, tgs;
    krb5_error_code ret;

    ret = krb5_cc_get_principal(ctx, cc, &me);
    if (ret)
        die(ret, "reading the server's ccache");
    ret = krb5_build_principal_ext(ctx, &tgs, me->realm.length,
                                   me->realm.data, 6, "krbtgt",
                                   me->realm.length, me->realm.data, 0);
    if (ret)
        die(ret, "building the TGS name");
    memset(&mcreds, 0, sizeof(mcreds));
    mcreds.client = me;
    mcreds.server = tgs;
    creds = calloc(1, sizeof(*creds));
    if (creds == NULL)
        die(ENOMEM, "allocating");
    ret = krb5_cc_retrieve_cred(ctx, cc, 0, &mcreds, creds);
    if (ret)
        die(ret, "finding the server's TGT");
    krb5_free_principal(ctx, me);
    krb5_free_principal(ctx, tgs);
    return creds;
}

int
main(int argc, char **argv)
{
    krb5_ccache client_cc, server_cc;
    krb5_creds in, *server_tgt, *u2u;
    krb5_principal client, server;
    krb5_auth_context cac = NULL, sac = NULL;
    krb5_data ap_req, ap_rep;
    krb5_ap_rep_enc_part *rep_enc = NULL;
    krb5_ticket *ticket = NULL;
    krb5_keyblock *ckey = NULL, *skey = NULL;
    krb5_flags ap_options = 0;
    krb5_error_code ret;
    char *cname = NULL;

    if (argc != 4) {
        fprintf(stderr, "usage: u2u_exchange CLIENT_CCACHE SERVER_CCACHE "
                "SERVER_PRINCIPAL\n");
        return 2;
    }
    ret = krb5_init_context(&ctx);
    if (ret)
        return 1;
    if ((ret = krb5_cc_resolve(ctx, argv[1], &client_cc)) != 0 ||
        (ret = krb5_cc_resolve(ctx, argv[2], &server_cc)) != 0)
        die(ret, "resolving the ccaches");
    ret = krb5_parse_name(ctx, argv[3], &server);
    if (ret)
        die(ret, "parsing the server principal");
    ret = krb5_cc_get_principal(ctx, client_cc, &client);
    if (ret)
        die(ret, "reading the client's ccache");
    krb5_unparse_name(ctx, client, &cname);

    /* 1. A user-to-user ticket for the server, in its TGT session key. */
    server_tgt = get_tgt(server_cc);
    memset(&in, 0, sizeof(in));
    in.client = client;
    in.server = server;
    in.second_ticket = server_tgt->ticket;
    ret = krb5_get_credentials(ctx, KRB5_GC_USER_USER | KRB5_GC_NO_STORE,
                               client_cc, &in, &u2u);
    if (ret)
        die(ret, "getting a user-to-user ticket");
    printf("1. %s got a user-to-user ticket for %s\n", cname, argv[3]);

    /* 2. The client's AP-REQ, mutual authentication required. */
    if ((ret = krb5_auth_con_init(ctx, &cac)) != 0)
        die(ret, "auth context");
    ret = krb5_mk_req_extended(ctx, &cac, AP_OPTS_USE_SESSION_KEY |
                               AP_OPTS_MUTUAL_REQUIRED, NULL, u2u, &ap_req);
    if (ret)
        die(ret, "making the AP-REQ");
    printf("2. %s sent an AP-REQ (%u bytes)\n", cname, ap_req.length);

    /* 3. The server accepts it with its TGT session key only. */
    if ((ret = krb5_auth_con_init(ctx, &sac)) != 0)
        die(ret, "auth context");
    ret = krb5_auth_con_setuseruserkey(ctx, sac, &server_tgt->keyblock);
    if (ret)
        die(ret, "setting the user-to-user key");
    ret = krb5_rd_req(ctx, &sac, &ap_req, server, NULL, &ap_options, &ticket);
    if (ret)
        die(ret, "the server accepting the AP-REQ");
    if (!krb5_principal_compare(ctx, ticket->enc_part2->client, client)) {
        fprintf(stderr, "u2u_exchange: the ticket names another client\n");
        return 1;
    }
    if (!(ap_options & AP_OPTS_MUTUAL_REQUIRED)) {
        fprintf(stderr, "u2u_exchange: mutual authentication not asked\n");
        return 1;
    }
    ret = krb5_mk_rep(ctx, sac, &ap_rep);
    if (ret)
        die(ret, "making the AP-REP");
    printf("3. %s accepted it with its TGT session key (no keytab) and "
           "answered with an AP-REP\n", argv[3]);

    /* 4. The client checks the AP-REP. */
    ret = krb5_rd_rep(ctx, cac, &ap_rep, &rep_enc);
    if (ret)
        die(ret, "the client checking the AP-REP");
    printf("4. %s verified the AP-REP (mutual authentication)\n", cname);

    /* 5. Both ends hold the same session key. */
    if ((ret = krb5_auth_con_getkey(ctx, cac, &ckey)) != 0 ||
        (ret = krb5_auth_con_getkey(ctx, sac, &skey)) != 0)
        die(ret, "reading the session keys");
    if (ckey->enctype != skey->enctype || ckey->length != skey->length ||
        CRYPTO_memcmp(ckey->contents, skey->contents, ckey->length) != 0) {
        fprintf(stderr, "u2u_exchange: the session keys differ\n");
        return 1;
    }
    printf("5. both ends hold the same session key (enctype %d, %u bytes)\n",
           (int)ckey->enctype, ckey->length);

    krb5_free_keyblock(ctx, ckey);
    krb5_free_keyblock(ctx, skey);
    krb5_free_ap_rep_enc_part(ctx, rep_enc);
    krb5_free_data_contents(ctx, &ap_rep);
    krb5_free_data_contents(ctx, &ap_req);
    krb5_free_ticket(ctx, ticket);
    krb5_free_creds(ctx, u2u);
    krb5_free_creds(ctx, server_tgt);
    krb5_auth_con_free(ctx, cac);
    krb5_auth_con_free(ctx, sac);
    krb5_free_unparsed_name(ctx, cname);
    krb5_free_principal(ctx, client);
    krb5_free_principal(ctx, server);
    krb5_cc_close(ctx, client_cc);
    krb5_cc_close(ctx, server_cc);
    krb5_free_context(ctx);
    return 0;
}
