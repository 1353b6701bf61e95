/*
 * What the two preauth plugins (devreg.so in preauth/, tempkey.so in
 * plugins/) do alike, written once: padata elements, the [realms] options
 * they read, and refusals, which travel the same way for both
 * (doc/devreg-protocol.md, "Implementation notes"):
 *
 *  - KDC side: MIT's KDC passes only some kdcpreauth error codes to the
 *    client (filter_preauth_error in its kdc_preauth.c: PREAUTH_FAILED for
 *    the rest, with the module's e-data replaced by the list of preauth
 *    hints).  So a refusal goes out with a "wire" code from that list,
 *    chosen by the protocol's cause, and an e-data element (DevregError,
 *    TempkeyError) carrying the cause and the KDC's message.
 *  - Client side: the module's tryagain turns that e-data into the error
 *    message, "KDC refused: <text> [<cause name>]", and keeps it in its
 *    per-request state to set again at request_fini, because libkrb5 1.20
 *    clears the context's message after a failed tryagain (it goes on to
 *    look for another mechanism).
 *
 * What stays in each plugin: its messages and their codec, and its
 * refusal causes (struct ks_preauth_causes: the table of codes, wire
 * codes and names, and its error message both ways).
 */
#ifndef KS_PREAUTH_H
#define KS_PREAUTH_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>
#include <krb5/kdcpreauth_plugin.h>
#include <profile.h>

/* ---- padata elements ---------------------------------------------------- */

/* A new padata element of type holding the len bytes at der (malloc'ed;
 * taken: freed here on failure).  der may be NULL with len 0 (an empty
 * element). */
krb5_error_code ks_preauth_padata_new(krb5_preauthtype type,
                                      unsigned char *der, size_t len,
                                      krb5_pa_data **pa_out);

/* A NULL-terminated list holding pa alone.  Takes pa (freed here on
 * failure). */
krb5_error_code ks_preauth_padata_list(krb5_pa_data *pa,
                                       krb5_pa_data ***list_out);

/* Free one element (contents and structure); NULL is fine. */
void ks_preauth_padata_free(krb5_pa_data *pa);

/* ---- configuration ------------------------------------------------------ */

/* [realms] realm key as a malloc'ed string without its end-of-line comment
 * (ks_config_strip_comment), or NULL when unset (or out of memory: every
 * caller has a default for an unset option). */
char *ks_preauth_realm_string(profile_t profile, const char *realm,
                              const char *key);

/* The db_library of [dbmodules] section into *lib_out (malloc'ed; NULL
 * when unset). */
krb5_error_code ks_preauth_db_library(profile_t profile, const char *section,
                                      char **lib_out);

/* Nonzero if princ is of realm. */
int ks_preauth_princ_in_realm(krb5_const_principal princ, const char *realm);

/* Replace *field with a copy of value (a gic_opts attribute). */
krb5_error_code ks_preauth_set_string(char **field, const char *value);

/* ---- refusals: what a protocol defines ---------------------------------- */

/* The longest refusal text sent in e-data; longer ones are cut. */
#define KS_PREAUTH_TEXT_MAX 256

/*
 * Copy text into buf, cut to KS_PREAUTH_TEXT_MAX bytes.  A cut text does
 * not end inside a UTF-8 sequence, since the messages' text fields must be
 * UTF-8.  (A text of KS_PREAUTH_TEXT_MAX bytes or more loses the character
 * at the cut even when it was complete, as the plugins always did.)
 */
void ks_preauth_cut_text(const char *text, char buf[KS_PREAUTH_TEXT_MAX + 1]);

/* One refusal cause of a protocol. */
struct ks_preauth_cause {
    int32_t code;               /* KS_DEVREG_E_*, KS_TEMPKEY_E_* */
    krb5_error_code wire;       /* a code MIT's KDC passes through; never
                                 * KRB5KRB_AP_ERR_BAD_INTEGRITY, which
                                 * kinit prints as "Password incorrect" */
    const char *name;           /* short name for scripts ("replay") */
};

/* A protocol's refusals: its causes (a cause not in the table travels
 * with KRB5KDC_ERR_PREAUTH_FAILED and no name), and its error message,
 * which carries one in e-data (the protocol's codec, both ways). */
struct ks_preauth_causes {
    const char *mech;           /* "devreg", for messages */
    krb5_preauthtype pa_type;   /* of the e-data element */
    const struct ks_preauth_cause *list;
    size_t n;
    /* Make the e-data list (one pa_type element holding the error
     * message with cause and text, text cut with ks_preauth_cut_text). */
    krb5_error_code (*error_edata)(int32_t cause, const char *text,
                                   krb5_pa_data ***edata_out);
    /* If pa holds the error message, 0 with its cause and text
     * (malloc'ed; NULL when absent); nonzero for anything else. */
    krb5_error_code (*error_decode)(const krb5_pa_data *pa,
                                    int32_t *cause_out, char **text_out);
};

/* ---- refusals: the KDC side (kdcpreauth) -------------------------------- */

/*
 * The end of a kdcpreauth verify whose request data is the reply padata
 * element (see ks_preauth_return_padata).  On a refusal (ret nonzero) with
 * a cause (nonzero), the code becomes the cause's wire code carrying the
 * same message (the KDC logs the message of the code verify gives it),
 * the e-data the protocol's error message with that message (none if it
 * cannot be made: the refusal still goes out), and reply is dropped.
 * Then respond with reply as the request data and e_data.  Takes reply
 * and e_data.
 */
void ks_preauth_verify_respond(krb5_context ctx,
                               const struct ks_preauth_causes *causes,
                               krb5_error_code ret, int32_t cause,
                               krb5_pa_data *reply, krb5_pa_data **e_data,
                               krb5_kdcpreauth_verify_respond_fn respond,
                               void *arg);

/* The kdcpreauth return_padata and free_modreq methods of a module whose
 * request data is the reply padata element verify made (or NULL).  The
 * reply goes out as a copy: the KDC frees what return_padata gives it and,
 * afterwards, the request data with free_modreq. */
krb5_error_code ks_preauth_return_padata(krb5_context ctx,
                                         krb5_pa_data *padata,
                                         krb5_data *req_pkt,
                                         krb5_kdc_req *request,
                                         krb5_kdc_rep *reply,
                                         krb5_keyblock *encrypting_key,
                                         krb5_pa_data **send_pa_out,
                                         krb5_kdcpreauth_callbacks cb,
                                         krb5_kdcpreauth_rock rock,
                                         krb5_kdcpreauth_moddata moddata,
                                         krb5_kdcpreauth_modreq modreq);
void ks_preauth_free_modreq(krb5_context ctx,
                            krb5_kdcpreauth_moddata moddata,
                            krb5_kdcpreauth_modreq modreq);

/* ---- refusals: the client side (clpreauth) ------------------------------ */

/*
 * The message a request ends with, kept in the clpreauth module's
 * per-request state (zeroed at request_init) and set again by
 * ks_preauth_refusal_fini at request_fini, which runs before
 * krb5_get_init_creds_* returns: libkrb5 1.20 clears the context's
 * message after a clpreauth tryagain fails.  Every function below accepts
 * r NULL (request_init could not allocate the state): the message is then
 * only set, not kept.
 */
struct ks_preauth_refusal {
    krb5_error_code code;
    char *msg;                  /* NULL: none */
};

/* At request_fini: set the kept message, if any, on its code, and free
 * it. */
void ks_preauth_refusal_fini(krb5_context ctx, struct ks_preauth_refusal *r);

/*
 * A clpreauth tryagain: the KDC refused with error.  If error_padata holds
 * the protocol's error message (causes->error_decode), make the message
 * of the error's code "KDC refused: <text> [<cause name>]" (without a
 * text: "KDC refused the <mech> request (cause <n>: <name>)"), with the
 * KDC's control characters replaced by '?' to keep them off the terminal;
 * set it and keep it in r.  Return what tryagain returns: the error's
 * code (KRB5_PREAUTH_FAILED with no error), or ENOMEM.
 */
krb5_error_code ks_preauth_tryagain(krb5_context ctx,
                                    const struct ks_preauth_causes *causes,
                                    struct ks_preauth_refusal *r,
                                    const krb5_error *error,
                                    krb5_pa_data *const *error_padata);

/*
 * The module refuses the KDC's reply padata with code (its message set).
 * libkrb5 ignores a module's failure on reply padata and, lacking a reply
 * key, asks the prompter for a password: with no terminal (a device, an
 * agent, kinit </dev/null) that fails with KRB5_LIBOS_CANTREADPWD, the
 * code krb5_get_init_creds_password returns.  Keep code's message for
 * that code, so that the caller reports why.
 */
void ks_preauth_refuse_reply(krb5_context ctx, struct ks_preauth_refusal *r,
                             krb5_error_code code);

#endif
