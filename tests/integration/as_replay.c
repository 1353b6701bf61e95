/*
 * as_replay: record a device login AS exchange and replay its request.
 *
 *   as_replay record REG_CCACHE CLIENT FILE
 *       log CLIENT in with kinit -X devreg_ticket=REG_CCACHE semantics
 *       (krb5_get_init_creds_opt_set_pa), and save the last AS-REQ sent
 *       and the reply to it in FILE.req and FILE.rep;
 *   as_replay send CLIENT FILE
 *       send FILE.req to the realm's KDC again, byte for byte, and say what
 *       came back: "refused" (a KRB-ERROR, exit 0; MIT's KDC reports every
 *       preauth failure but a few as PREAUTH_FAILED, so the cause is in
 *       the KDC's log),
 *       "cached reply" (the very bytes of FILE.rep, which MIT's KDC resends
 *       from its per-process lookaside cache; exit 3), or anything else
 *       (exit 1: a replayed login was served).
 *
 * The KDC is reached through the library (krb5.conf), with its send and
 * receive hooks (public since krb5 1.15) to capture and substitute bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

static krb5_context ctx;
static krb5_data *last_req, *last_rep, *replay_req;

/* Record (or, when replaying, substitute) the message sent. */
static krb5_error_code KRB5_CALLCONV
send_hook(krb5_context c, void *data, const krb5_data *realm,
          const krb5_data *message, krb5_data **new_message_out,
          krb5_data **new_reply_out)
{
    krb5_free_data(c, last_req);
    last_req = NULL;
    if (replay_req != NULL)
        return krb5_copy_data(c, replay_req, new_message_out);
    return krb5_copy_data(c, message, &last_req);
}

/* Record the reply. */
static krb5_error_code KRB5_CALLCONV
recv_hook(krb5_context c, void *data, krb5_error_code code,
          const krb5_data *realm, const krb5_data *message,
          const krb5_data *reply, krb5_data **new_reply_out)
{
    krb5_free_data(c, last_rep);
    last_rep = NULL;
    if (code == 0 && reply != NULL)
        return krb5_copy_data(c, reply, &last_rep);
    return code;
}

/*
 * Print the devreg refusal text the KDC put in the error's e-data: the
 * UTF8String that ends its DevregError, which ends the e-data (one padata).
 * A plain byte search is enough for a test: the text starts "devreg: ".
 */
static void
print_reason(const krb5_data *e_data)
{
    const char *p = NULL, *end = e_data->data + e_data->length;
    const char *q;
    unsigned int i;

    for (i = 0; e_data->length >= 8 && i <= e_data->length - 8; i++) {
        if (memcmp(e_data->data + i, "devreg: ", 8) == 0) {
            p = e_data->data + i;
            break;
        }
    }
    if (p == NULL)
        return;
    for (q = p; q < end && *q >= 0x20 && *q < 0x7f; q++)
        ;
    printf(" reason: %.*s", (int)(q - p), p);
}

static void
die(krb5_error_code code, const char *what)
{
    const char *msg = krb5_get_error_message(ctx, code);

    fprintf(stderr, "as_replay: %s: %s\n", what, msg);
    krb5_free_error_message(ctx, msg);
    exit(1);
}

static void
save(const char *base, const char *ext, const krb5_data *d)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s%s", base, ext);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(d->data, 1, d->length, f) != d->length ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static krb5_data *
load(const char *base, const char *ext)
{
    char path[4096];
    krb5_data *d;
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s%s", base, ext);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0) {
        perror(path);
        exit(1);
    }
    rewind(f);
    d = calloc(1, sizeof(*d));
    d->data = malloc(n);
    d->length = n;
    if (d->data == NULL || fread(d->data, 1, n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    fclose(f);
    return d;
}

/* Run an AS exchange for client with the devreg_ticket attribute. */
static krb5_error_code
login(krb5_principal client, const char *reg)
{
    krb5_get_init_creds_opt *opt;
    krb5_creds creds;
    krb5_error_code ret;

    ret = krb5_get_init_creds_opt_alloc(ctx, &opt);
    if (ret)
        return ret;
    if (reg != NULL) {
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "devreg_ticket", reg);
        if (ret)
            return ret;
    }
    memset(&creds, 0, sizeof(creds));
    ret = krb5_get_init_creds_password(ctx, &creds, client, NULL, NULL, NULL,
                                       0, NULL, opt);
    if (!ret)
        krb5_free_cred_contents(ctx, &creds);
    krb5_get_init_creds_opt_free(ctx, opt);
    return ret;
}

int
main(int argc, char **argv)
{
    krb5_principal client;
    krb5_error_code ret;
    krb5_data *orig_rep;
    krb5_error *err = NULL;

    if (argc < 4 || (strcmp(argv[1], "record") == 0 && argc != 5) ||
        (strcmp(argv[1], "send") == 0 && argc != 4)) {
        fprintf(stderr, "usage: as_replay record REG_CCACHE CLIENT FILE\n"
                "       as_replay send CLIENT FILE\n");
        return 2;
    }
    if (krb5_init_context(&ctx) != 0)
        return 1;
    krb5_set_kdc_send_hook(ctx, send_hook, NULL);
    krb5_set_kdc_recv_hook(ctx, recv_hook, NULL);

    if (strcmp(argv[1], "record") == 0) {
        ret = krb5_parse_name(ctx, argv[3], &client);
        if (ret)
            die(ret, "parsing the client");
        ret = login(client, argv[2]);
        if (ret)
            die(ret, "logging in");
        if (last_req == NULL || last_rep == NULL)
            die(EINVAL, "nothing recorded");
        save(argv[4], ".req", last_req);
        save(argv[4], ".rep", last_rep);
        printf("recorded a login of %s (%u-byte request)\n", argv[3],
               last_req->length);
        return 0;
    }

    ret = krb5_parse_name(ctx, argv[2], &client);
    if (ret)
        die(ret, "parsing the client");
    replay_req = load(argv[3], ".req");
    orig_rep = load(argv[3], ".rep");
    (void)login(client, NULL);
    if (last_rep == NULL) {
        printf("no reply\n");
        return 1;
    }
    if (last_rep->length == orig_rep->length &&
        memcmp(last_rep->data, orig_rep->data, orig_rep->length) == 0) {
        printf("cached reply (identical to the original reply)\n");
        return 3;
    }
    if (krb5_rd_error(ctx, last_rep, &err) == 0) {
        printf("refused (KRB-ERROR %d)", (int)err->error);
        print_reason(&err->e_data);
        printf("\n");
        krb5_free_error(ctx, err);
        return 0;
    }
    printf("a new reply: the replayed login was served\n");
    return 1;
}
