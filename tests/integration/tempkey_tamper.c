/*
 * tempkey_tamper: run a temporary key registration in-process, the way
 * ktempkey does (krb5_get_init_creds_password with no password or
 * prompter, krb5_get_init_creds_opt_set_pa for the tempkey_* attributes,
 * the preauth list restricted to KS_PA_TEMPKEY, the tempkey clpreauth
 * module loaded from krb5.conf), and tamper with it through the library's
 * KDC send and receive hooks.  For t_tempkey_refusals.sh.
 *
 *   tempkey_tamper register CLIENT ATTR=VALUE...
 *       plain registration (the control: no tampering)
 *   tempkey_tamper bad-signature CLIENT ATTR=VALUE...
 *       the same, with the last byte of the server's CMS signature (the
 *       SignerInfo's signature inside TempkeyRequest.signed-request)
 *       flipped before the request is sent; the DER stays valid
 *   tempkey_tamper garbage CLIENT ATTR=VALUE...
 *       the value of the request's KS_PA_TEMPKEY padata replaced with 64
 *       random bytes
 *   tempkey_tamper capture FILE CLIENT ATTR=VALUE...
 *       a plain registration that also saves the AS-REQ carrying the
 *       TempkeyRequest (the exact bytes sent) to FILE
 *   tempkey_tamper replay FILE CLIENT ATTR=VALUE...
 *       when the client sends its AS-REQ carrying a TempkeyRequest, send
 *       FILE's bytes instead (MIT's KDC answers a request identical to one
 *       it served from its per-process lookaside cache: replay to another
 *       KDC process, or to a restarted one)
 *   tempkey_tamper other-kdc-cert CERT.pem CLIENT ATTR=VALUE...
 *       replace the kdc-certificate of the KDC's challenge (in the e-data
 *       of PREAUTH_REQUIRED) with CERT.pem's certificate before the client
 *       module sees it, so that the client seals its keys to a key the KDC
 *       does not hold (CERT.pem must still satisfy the client: chain to
 *       its anchor, id-pkinit-KPKdc, naming krbtgt/REALM)
 *
 * Exit status: 0 success (stdout: "registered key id N of CLIENT"); 1 the
 * KDC exchange failed, with on stderr "tempkey_tamper: MESSAGE while
 * getting initial credentials" and then the library's error code and
 * message; 2 usage; 3 the tampering could not be done (nothing to tamper
 * with, or an error inside the hooks), so that a refusal is never
 * credited to a tampering that did not happen.  Each tampering done is
 * reported on stdout ("tampered: ..."), a capture as "captured: ...".
 *
 * Messages are taken apart and rebuilt with krb5's public API
 * (krb5_rd_error, krb5_mk_error), the project's codecs
 * (ks_tempkey_message_decode/encode), OpenSSL's CMS API for the signed
 * request and tamper_common.h's OpenSSL ASN.1 templates for the Kerberos
 * structures krb5 does not expose (METHOD-DATA, AS-REQ, AS-REP); no DER is
 * written by hand.  The exit statuses, reporting and hook plumbing are
 * tamper_common.h's, shared with devreg_tamper.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <krb5/krb5.h>
#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_tempkey_asn1.h"
#include "tamper_common.h"

/* The garbage mode's padata value length. */
#define GARBAGE_LEN 64

/* ---- state -------------------------------------------------------------- */

enum tamper_mode {
    MODE_NONE,
    MODE_BAD_SIGNATURE,
    MODE_GARBAGE,
    MODE_CAPTURE,
    MODE_REPLAY,
    MODE_OTHER_KDC_CERT,
};

static krb5_context ctx;                /* tamper_init()'s */
static enum tamper_mode mode = MODE_NONE;
static const char *capture_file;        /* capture: where to save */
static krb5_data replay_req;            /* replay: the saved AS-REQ */
static krb5_data other_cert;            /* other-kdc-cert: DER */
static uint32_t reply_key_id;           /* from the KDC's TempkeyReply */

/* Decode pa's value as a tempkey message of type want into *msg_out;
 * nonzero (and *msg_out NULL) when it is not one. */
static int
tempkey_message_of(const TAMPER_PA_DATA *pa, enum ks_tempkey_msg_type want,
                   struct ks_tempkey_message **msg_out)
{
    *msg_out = NULL;
    if (pa == NULL || pa->value->length <= 0)
        return -1;
    if (ks_tempkey_message_decode(pa->value->data, pa->value->length,
                                  msg_out) != 0)
        return -1;
    if ((*msg_out)->type != want) {
        ks_tempkey_message_free(*msg_out);
        *msg_out = NULL;
        return -1;
    }
    return 0;
}

/* Replace pa's value with the DER of msg. */
static krb5_error_code
set_tempkey_value(TAMPER_PA_DATA *pa, const struct ks_tempkey_message *msg)
{
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    ret = ks_tempkey_message_encode(msg, &der, &len);
    if (ret)
        return ret;
    ret = tamper_set_padata_value(pa, der, len);
    free(der);
    return ret;
}

/* ---- receive hook: the KDC's challenge and reply ------------------------ */

/* If reply is an AS-REP carrying a TempkeyReply, note its key id. */
static void
note_reply(const krb5_data *reply)
{
    TAMPER_KDC_REP *rep;
    struct ks_tempkey_message *msg = NULL;

    rep = (TAMPER_KDC_REP *)
        tamper_der_decode(ASN1_ITEM_rptr(TAMPER_AS_REP),
                          (unsigned char *)reply->data, reply->length);
    if (rep == NULL)
        return;
    if (tempkey_message_of(tamper_find_padata(rep->padata, KS_PA_TEMPKEY),
                           KS_TEMPKEY_MSG_REPLY, &msg) == 0)
        reply_key_id = msg->u.reply.key_id;
    ks_tempkey_message_free(msg);
    ASN1_item_free((ASN1_VALUE *)rep, ASN1_ITEM_rptr(TAMPER_AS_REP));
}

/*
 * If reply is a KRB-ERROR whose e-data holds a tempkey challenge, rebuild
 * it with other_cert as the challenge's kdc-certificate into
 * *new_reply_out.
 */
static krb5_error_code
replace_kdc_cert(const krb5_data *reply, krb5_data **new_reply_out)
{
    krb5_error *err = NULL;
    STACK_OF(TAMPER_PA_DATA) *md;
    TAMPER_PA_DATA *pa;
    struct ks_tempkey_message *msg = NULL;
    krb5_data saved_cert;
    krb5_error_code ret = 0;

    /* Anything else (an AS-REP) passes untouched. */
    md = tamper_error_padata(reply, &err);
    pa = tamper_find_padata(md, KS_PA_TEMPKEY);
    if (tempkey_message_of(pa, KS_TEMPKEY_MSG_CHALLENGE, &msg) != 0)
        goto cleanup;           /* a refusal's TempkeyError, or no tempkey */
    if (msg->u.challenge.kdc_cert.length == 0) {
        ret = tamper_hook_fail(EINVAL, "the KDC's challenge carries no "
                               "certificate to replace");
        goto cleanup;
    }
    /* Borrow other_cert for the encoding; the message's own copy goes
     * back before the message is freed. */
    saved_cert = msg->u.challenge.kdc_cert;
    msg->u.challenge.kdc_cert = other_cert;
    ret = set_tempkey_value(pa, msg);
    msg->u.challenge.kdc_cert = saved_cert;
    if (ret) {
        tamper_hook_fail(ret, "re-encoding the challenge");
        goto cleanup;
    }
    ret = tamper_rebuild_error(err, md, new_reply_out);
    if (ret)
        goto cleanup;
    tamper_done("tampered: replaced the KDC certificate of the challenge");

cleanup:
    ks_tempkey_message_free(msg);
    ASN1_item_free((ASN1_VALUE *)md, ASN1_ITEM_rptr(TAMPER_METHOD_DATA));
    krb5_free_error(ctx, err);
    return ret;
}

static krb5_error_code KRB5_CALLCONV
recv_hook(krb5_context c, void *data, krb5_error_code code,
          const krb5_data *realm, const krb5_data *message,
          const krb5_data *reply, krb5_data **new_reply_out)
{
    if (code != 0 || reply == NULL)
        return code;
    note_reply(reply);
    if (mode != MODE_OTHER_KDC_CERT)
        return 0;
    return replace_kdc_cert(reply, new_reply_out);
}

/* ---- send hook: the server's request ------------------------------------ */

/* Flip the last byte of the SignerInfo signature of the request's signed
 * CMS (for ECDSA the last byte of s, so the DER stays valid). */
static krb5_error_code
flip_signature(struct ks_tempkey_message *msg)
{
    krb5_data *sr = &msg->u.request.signed_request;
    const unsigned char *p = (const unsigned char *)sr->data;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(CMS_SignerInfo) *sis;
    ASN1_OCTET_STRING *sig;
    unsigned char *copy = NULL, *der = NULL;
    krb5_error_code ret = 0;
    int len;

    cms = d2i_CMS_ContentInfo(NULL, &p, sr->length);
    if (cms == NULL || p != (const unsigned char *)sr->data + sr->length) {
        ret = tamper_hook_fail(ASN1_PARSE_ERROR, "decoding the signed "
                               "request");
        goto cleanup;
    }
    sis = CMS_get0_SignerInfos(cms);
    if (sis == NULL || sk_CMS_SignerInfo_num(sis) < 1) {
        ret = tamper_hook_fail(EINVAL, "the signed request has no "
                               "SignerInfo");
        goto cleanup;
    }
    sig = CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(sis, 0));
    len = sig != NULL ? ASN1_STRING_length(sig) : 0;
    if (len <= 0) {
        ret = tamper_hook_fail(EINVAL, "the SignerInfo has no signature");
        goto cleanup;
    }
    copy = malloc(len);
    if (copy == NULL) {
        ret = tamper_hook_fail(ENOMEM, "copying the signature");
        goto cleanup;
    }
    memcpy(copy, ASN1_STRING_get0_data(sig), len);
    copy[len - 1] ^= 0x01;
    if (!ASN1_OCTET_STRING_set(sig, copy, len)) {
        ret = tamper_hook_fail(ENOMEM, "replacing the signature");
        goto cleanup;
    }
    len = i2d_CMS_ContentInfo(cms, &der);
    if (len <= 0) {
        ret = tamper_hook_fail(ASN1_BAD_FORMAT, "re-encoding the signed "
                               "request");
        goto cleanup;
    }
    free(sr->data);
    sr->data = malloc(len);
    if (sr->data == NULL) {
        sr->length = 0;
        ret = tamper_hook_fail(ENOMEM, "copying the signed request");
        goto cleanup;
    }
    memcpy(sr->data, der, len);
    sr->length = len;
    tamper_done("tampered: flipped the last byte of the request's "
                "signature");

cleanup:
    OPENSSL_free(der);
    free(copy);
    CMS_ContentInfo_free(cms);
    return ret;
}

/* Replace pa's value with GARBAGE_LEN random bytes. */
static krb5_error_code
garbage(TAMPER_PA_DATA *pa)
{
    unsigned char buf[GARBAGE_LEN];

    if (RAND_bytes(buf, sizeof(buf)) != 1)
        return tamper_hook_fail(KRB5_CRYPTO_INTERNAL, "making random bytes");
    if (!ASN1_OCTET_STRING_set(pa->value, buf, sizeof(buf)))
        return tamper_hook_fail(ENOMEM, "replacing the padata value");
    tamper_done("tampered: replaced the tempkey padata with 64 random "
                "bytes");
    return 0;
}

/* Save message (the AS-REQ as sent) to capture_file, mode 0600. */
static krb5_error_code
capture(const krb5_data *message)
{
    FILE *f;
    int fd, ok;

    fd = open(capture_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return tamper_hook_fail(errno, "creating the capture file");
    f = fdopen(fd, "wb");
    if (f == NULL) {
        close(fd);
        return tamper_hook_fail(errno, "opening the capture file");
    }
    ok = fwrite(message->data, 1, message->length, f) == message->length;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        return tamper_hook_fail(EIO, "writing the capture file");
    tamper_done("captured: the %u-byte AS-REQ carrying the TempkeyRequest",
                message->length);
    return 0;
}

static krb5_error_code KRB5_CALLCONV
send_hook(krb5_context c, void *data, const krb5_data *realm,
          const krb5_data *message, krb5_data **new_message_out,
          krb5_data **new_reply_out)
{
    TAMPER_KDC_REQ *req;
    TAMPER_PA_DATA *pa;
    struct ks_tempkey_message *msg = NULL;
    krb5_error_code ret = 0;

    if (mode == MODE_NONE || mode == MODE_OTHER_KDC_CERT)
        return 0;
    req = tamper_as_req_padata(message, KS_PA_TEMPKEY, &pa);
    if (req == NULL)
        return 0;               /* not an AS-REQ */
    /* Only the request that carries the registration (not the first
     * AS-REQ, which has no tempkey padata). */
    if (tempkey_message_of(pa, KS_TEMPKEY_MSG_REQUEST, &msg) != 0)
        goto cleanup;

    switch (mode) {
    case MODE_CAPTURE:
        ret = capture(message);
        goto cleanup;
    case MODE_REPLAY:
        ret = krb5_copy_data(ctx, &replay_req, new_message_out);
        if (ret)
            tamper_hook_fail(ret, "copying the saved request");
        else
            tamper_done("tampered: sent the saved AS-REQ instead of the "
                        "client's");
        goto cleanup;
    case MODE_GARBAGE:
        ret = garbage(pa);
        break;
    case MODE_BAD_SIGNATURE:
        ret = flip_signature(msg);
        if (!ret) {
            ret = set_tempkey_value(pa, msg);
            if (ret)
                tamper_hook_fail(ret, "re-encoding the tempkey request");
        }
        break;
    default:
        goto cleanup;
    }
    if (ret)
        goto cleanup;
    ret = tamper_replace_as_req(req, new_message_out);

cleanup:
    ks_tempkey_message_free(msg);
    ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(TAMPER_AS_REQ));
    return ret;
}

/* ---- set-up ------------------------------------------------------------- */

/* Read the saved AS-REQ of path into replay_req. */
static int
load_replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "tempkey_tamper: cannot open %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    buf = malloc(KS_ASN1_MAX_INPUT + 1);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, KS_ASN1_MAX_INPUT + 1, f);
    fclose(f);
    if (n == 0 || n > KS_ASN1_MAX_INPUT) {
        fprintf(stderr, "tempkey_tamper: %s is empty or too large\n", path);
        free(buf);
        return -1;
    }
    replay_req.magic = KV5M_DATA;
    replay_req.data = buf;
    replay_req.length = n;
    return 0;
}

/* Read the first certificate of PEM file path into other_cert (DER). */
static int
load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *cert;
    unsigned char *der = NULL;
    int len;

    if (f == NULL) {
        fprintf(stderr, "tempkey_tamper: cannot open %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (cert == NULL) {
        fprintf(stderr, "tempkey_tamper: no PEM certificate in %s\n", path);
        return -1;
    }
    len = i2d_X509(cert, &der);
    X509_free(cert);
    if (len <= 0)
        return -1;
    other_cert.data = malloc(len);
    if (other_cert.data == NULL) {
        OPENSSL_free(der);
        return -1;
    }
    memcpy(other_cert.data, der, len);
    other_cert.length = len;
    other_cert.magic = KV5M_DATA;
    OPENSSL_free(der);
    return 0;
}

/* ---- the exchange ------------------------------------------------------- */

/*
 * A registration AS exchange for client_name (a TGT, as ktempkey asks for)
 * with the -X attributes attrs (ATTR=VALUE).  Returns the exit status.
 */
static int
exchange(const char *client_name, char **attrs, int nattrs)
{
    krb5_preauthtype pa_list[] = { KS_PA_TEMPKEY };
    krb5_get_init_creds_opt *opt = NULL;
    krb5_principal client = NULL;
    krb5_creds creds;
    krb5_error_code ret;
    int status = 3;

    memset(&creds, 0, sizeof(creds));
    ret = krb5_parse_name(ctx, client_name, &client);
    if (ret) {
        tamper_report(ret, "parsing the client name");
        return 2;
    }
    ret = krb5_get_init_creds_opt_alloc(ctx, &opt);
    if (ret) {
        tamper_report(ret, "setting up the request");
        goto cleanup;
    }
    krb5_get_init_creds_opt_set_preauth_list(opt, pa_list, 1);
    status = tamper_set_attrs(opt, attrs, nattrs);
    if (status != 0)
        goto cleanup;

    ret = krb5_get_init_creds_password(ctx, &creds, client, NULL, NULL,
                                       NULL, 0, NULL, opt);
    /* The library's message as it is (no kinit "Password incorrect"). */
    status = tamper_outcome(ret, mode != MODE_NONE, "tempkey", FALSE);
    if (status == 0) {
        if (reply_key_id != 0)
            printf("registered key id %u of %s\n", (unsigned)reply_key_id,
                   client_name);
        else
            printf("registered a key of %s (no TempkeyReply seen)\n",
                   client_name);
    }

cleanup:
    krb5_free_cred_contents(ctx, &creds);
    krb5_free_principal(ctx, client);
    krb5_get_init_creds_opt_free(ctx, opt);
    return status;
}

static int
usage(void)
{
    fprintf(stderr,
            "usage: tempkey_tamper register CLIENT ATTR=VALUE...\n"
            "       tempkey_tamper bad-signature CLIENT ATTR=VALUE...\n"
            "       tempkey_tamper garbage CLIENT ATTR=VALUE...\n"
            "       tempkey_tamper capture FILE CLIENT ATTR=VALUE...\n"
            "       tempkey_tamper replay FILE CLIENT ATTR=VALUE...\n"
            "       tempkey_tamper other-kdc-cert CERT.pem CLIENT "
            "ATTR=VALUE...\n");
    return 2;
}

int
main(int argc, char **argv)
{
    const char *cmd;
    int status;

    if (argc < 2)
        return usage();
    cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage();
        return 0;
    }
    if (strcmp(cmd, "register") == 0 && argc >= 3) {
        mode = MODE_NONE;
    } else if (strcmp(cmd, "bad-signature") == 0 && argc >= 3) {
        mode = MODE_BAD_SIGNATURE;
    } else if (strcmp(cmd, "garbage") == 0 && argc >= 3) {
        mode = MODE_GARBAGE;
    } else if (strcmp(cmd, "capture") == 0 && argc >= 4) {
        mode = MODE_CAPTURE;
        capture_file = argv[2];
    } else if (strcmp(cmd, "replay") == 0 && argc >= 4) {
        mode = MODE_REPLAY;
        if (load_replay(argv[2]) != 0)
            return 3;
    } else if (strcmp(cmd, "other-kdc-cert") == 0 && argc >= 4) {
        mode = MODE_OTHER_KDC_CERT;
        if (load_cert(argv[2]) != 0)
            return 3;
    } else {
        return usage();
    }
    ctx = tamper_init("tempkey_tamper", send_hook, recv_hook);
    if (ctx == NULL) {
        free(replay_req.data);
        free(other_cert.data);
        return 3;
    }

    /* argv[2] is CLIENT for the modes without a file argument. */
    if (mode == MODE_NONE || mode == MODE_BAD_SIGNATURE ||
        mode == MODE_GARBAGE)
        status = exchange(argv[2], argv + 3, argc - 3);
    else
        status = exchange(argv[3], argv + 4, argc - 4);

    tamper_fini();
    free(replay_req.data);
    free(other_cert.data);
    return status;
}
