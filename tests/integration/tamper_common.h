/*
 * What the tamper tools have in common: devreg_tamper and tempkey_tamper
 * run an AS exchange in-process through libkrb5 (the project's clpreauth
 * module loaded from krb5.conf) and tamper with its messages through the
 * library's KDC send and receive hooks.
 *
 * Conventions shared by both tools (their tests rely on them): exit status
 * 0 success, 1 the KDC exchange failed (on stderr the line kinit would
 * print, then the library's code and message), 2 usage, 3 the tampering
 * could not be done, so that a refusal is never credited to a tampering
 * that did not happen.  Each tampering done is reported on stdout
 * ("tampered: ...") and counted.
 *
 * Kerberos structures that krb5's public API does not expose (METHOD-DATA,
 * AS-REQ, AS-REP) are taken apart with the OpenSSL ASN.1 templates below;
 * no DER is written by hand.  A tool is one process with one krb5 context,
 * so the state here (program name, context, tampering count, first hook
 * failure) is process-wide.
 */
#ifndef TAMPER_COMMON_H
#define TAMPER_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>
#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/safestack.h>

/* ---- ASN.1 templates (RFC 4120) ----------------------------------------- */

/* PA-DATA ::= SEQUENCE { padata-type [1] Int32, padata-value [2] OCTET
 * STRING } */
typedef struct {
    ASN1_INTEGER *type;
    ASN1_OCTET_STRING *value;
} TAMPER_PA_DATA;

DECLARE_ASN1_ITEM(TAMPER_PA_DATA)
DEFINE_STACK_OF(TAMPER_PA_DATA)

/* METHOD-DATA ::= SEQUENCE OF PA-DATA (the e-data of PREAUTH_REQUIRED);
 * decodes to a STACK_OF(TAMPER_PA_DATA). */
DECLARE_ASN1_ITEM(TAMPER_METHOD_DATA)

/* KDC-REQ ::= SEQUENCE { pvno [1], msg-type [2], padata [3] SEQUENCE OF
 * PA-DATA OPTIONAL, req-body [4] KDC-REQ-BODY }; the body is kept as an
 * opaque value, re-encoded byte for byte (the checksums and signed hashes
 * of the preauth mechanisms cover it). */
typedef struct {
    ASN1_INTEGER *pvno;
    ASN1_INTEGER *msg_type;
    STACK_OF(TAMPER_PA_DATA) *padata;
    ASN1_TYPE *req_body;
} TAMPER_KDC_REQ;

DECLARE_ASN1_ITEM(TAMPER_KDC_REQ)

/* AS-REQ ::= [APPLICATION 10] KDC-REQ; decodes to a TAMPER_KDC_REQ. */
DECLARE_ASN1_ITEM(TAMPER_AS_REQ)

/* KDC-REP ::= SEQUENCE { pvno [0], msg-type [1], padata [2] SEQUENCE OF
 * PA-DATA OPTIONAL, crealm [3], cname [4], ticket [5], enc-part [6] }:
 * for reading the (unencrypted) padata of a reply. */
typedef struct {
    ASN1_INTEGER *pvno;
    ASN1_INTEGER *msg_type;
    STACK_OF(TAMPER_PA_DATA) *padata;
    ASN1_TYPE *crealm;
    ASN1_TYPE *cname;
    ASN1_TYPE *ticket;
    ASN1_TYPE *enc_part;
} TAMPER_KDC_REP;

DECLARE_ASN1_ITEM(TAMPER_KDC_REP)

/* AS-REP ::= [APPLICATION 11] KDC-REP; decodes to a TAMPER_KDC_REP. */
DECLARE_ASN1_ITEM(TAMPER_AS_REP)

/* ---- set-up, reporting and the tampering count -------------------------- */

/*
 * Make the tool's krb5 context with the send and receive hooks installed
 * (either may be NULL); prog names the tool in every message.  On failure
 * print "prog: cannot initialize krb5" and return NULL (exit status 3).
 */
krb5_context tamper_init(const char *prog, krb5_pre_send_fn send_hook,
                         krb5_post_recv_fn recv_hook);

/* Free the context of tamper_init(). */
void tamper_fini(void);

/* Print "prog: what: MESSAGE" on stderr, with krb5's message for code. */
void tamper_report(krb5_error_code code, const char *what);

/*
 * Remember the first failure inside a hook (what: what was being done);
 * returns code, for the hook to return.  tamper_outcome() turns it into
 * exit status 3.
 */
krb5_error_code tamper_hook_fail(krb5_error_code code, const char *what);

/* Print one line (fmt, printf-style) on stdout, flushed so that it comes
 * before anything the exchange prints later, and count a tampering. */
void tamper_done(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The number of tamperings done (tamper_done() calls). */
unsigned int tamper_count(void);

/*
 * The exit status of an exchange that returned ret: 3 after a hook failure
 * (reported) or when tampering was asked for but none was done (reported,
 * "no PROTOCOL message of the expected kind went by"); 1 when the exchange
 * failed, with the lines "prog: MESSAGE while getting initial credentials"
 * and "prog: (library: error CODE: MESSAGE)" on stderr; 0 on success, when
 * the caller prints its own line.  With kinit_password, MESSAGE is
 * "Password incorrect" for KRB5KRB_AP_ERR_BAD_INTEGRITY, as stock kinit
 * (1.20) prints it, for tests that compare with kinit's lines.
 */
int tamper_outcome(krb5_error_code ret, krb5_boolean tampering,
                   const char *protocol, krb5_boolean kinit_password);

/*
 * Set the ATTR=VALUE strings attrs on opt, as kinit -X does.  Returns 0; 2
 * after "prog: 'X' is not ATTR=VALUE"; or 3 after reporting the library's
 * failure ("setting the -X attributes").
 */
int tamper_set_attrs(krb5_get_init_creds_opt *opt, char **attrs,
                     int nattrs);

/* ---- DER and PA-DATA ---------------------------------------------------- */

/* DER-decode exactly len bytes at der as it; NULL on any error (also
 * empty input, trailing bytes or more than KS_ASN1_MAX_INPUT bytes). */
ASN1_VALUE *tamper_der_decode(const ASN1_ITEM *it, const unsigned char *der,
                              size_t len);

/* DER-encode v as it into *out (malloc'ed contents). */
krb5_error_code tamper_der_encode(const ASN1_ITEM *it, const ASN1_VALUE *v,
                                  krb5_data *out);

/* The first element of list (may be NULL) of padata type type that has a
 * value, or NULL. */
TAMPER_PA_DATA *tamper_find_padata(STACK_OF(TAMPER_PA_DATA) *list,
                                   int32_t type);

/* Replace pa's value with len bytes at der (copied). */
krb5_error_code tamper_set_padata_value(TAMPER_PA_DATA *pa,
                                        const unsigned char *der,
                                        size_t len);

/* ---- the KDC's errors and the client's requests ------------------------- */

/*
 * If reply is a KRB-ERROR: the error into *err_out (free with
 * krb5_free_error) and, if its e-data is a METHOD-DATA, that list (free
 * with ASN1_item_free as TAMPER_METHOD_DATA), else NULL.  Anything else (an
 * AS-REP) gives NULL and *err_out NULL.
 */
STACK_OF(TAMPER_PA_DATA) *tamper_error_padata(const krb5_data *reply,
                                              krb5_error **err_out);

/*
 * Re-encode err with md as its e-data into *new_reply_out, for a receive
 * hook to hand to the client instead of the KDC's reply; err is left as
 * it was.  A failure is recorded with tamper_hook_fail().
 */
krb5_error_code tamper_rebuild_error(krb5_error *err,
                                     STACK_OF(TAMPER_PA_DATA) *md,
                                     krb5_data **new_reply_out);

/*
 * If message is an AS-REQ: it, decoded (free with ASN1_item_free as
 * TAMPER_AS_REQ), and its padata of type type (or NULL) into *pa_out.
 * Anything else (a TGS-REQ) gives NULL.
 */
TAMPER_KDC_REQ *tamper_as_req_padata(const krb5_data *message, int32_t type,
                                     TAMPER_PA_DATA **pa_out);

/*
 * Re-encode req as an AS-REQ into *new_message_out, for a send hook to
 * send instead of the client's message.  A failure is recorded with
 * tamper_hook_fail().
 */
krb5_error_code tamper_replace_as_req(const TAMPER_KDC_REQ *req,
                                      krb5_data **new_message_out);

#endif
