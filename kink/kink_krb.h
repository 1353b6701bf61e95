/*
 * kinkd's Kerberos side, driven from the daemon's libverto loop: nothing
 * here blocks on the network.
 *
 * Identity (kinkd.conf "identity"):
 *   keytab:KT [PRINC]  a server.  Incoming AP-REQs are checked against the
 *                      keytab.  Our TGT (for service tickets to peers and
 *                      for GETTGT replies) is obtained with the keytab
 *                      through krb5_init_creds_init/step, asynchronously.
 *   ccache:CC          a device logged in through devreg; kregister keeps
 *                      CC fresh.  Its TGT is re-read from CC when CC's
 *                      file changes or the copy nears its end.  Incoming
 *                      AP-REQs are user-to-user: their tickets are
 *                      encrypted in our TGT's session key (the current
 *                      one, or the previous one for tickets issued before
 *                      kregister renewed it).
 *
 * Tickets to peers are obtained with krb5_tkt_creds_init/step: each KDC
 * exchange is a UDP datagram (TCP when the request is larger than the
 * profile's udp_preference_limit, or the KDC answers
 * KRB5KRB_ERR_RESPONSE_TOO_BIG) to the realm's KDCs from the profile
 * ([realms] REALM kdc = host[:port]), tried in order with retransmission
 * (a second per KDC in the first pass, then 2, 4, 8 s per KDC; the
 * exchange fails with KRB5_KDC_UNREACH after 10 s) on sockets watched by
 * the loop, so a silent KDC delays only the requests that need it.  Our
 * TGT lives in a private MEMORY ccache (what krb5_tkt_creds reads);
 * obtained tickets live in a table keyed by server and, for user-to-user,
 * by a SHA-256 hash of the peer's TGT (one server may have several), of at
 * most KINK_KRB_CACHE_MAX tickets: when it is full, entries past their end
 * time are dropped, then the ticket that ends first.
 */
#ifndef KINK_KRB_H
#define KINK_KRB_H

#include <krb5/krb5.h>
#include <verto.h>
#include "kink_conf.h"

#define KINK_KRB_CACHE_MAX 1024

struct kink_krb;
struct kink_krb_req;

/*
 * Called once per request from the loop (never from inside
 * kink_krb_get_ticket): ret 0 with creds (valid until the callback
 * returns; copy what is needed, e.g. with krb5_copy_creds; is_skey is set
 * for a user-to-user ticket: make its AP-REQ with AP_OPTS_USE_SESSION_KEY),
 * or an error (the message is set on the context) with creds NULL.
 */
typedef void (*kink_krb_ticket_fn)(void *arg, krb5_error_code ret,
                                   const krb5_creds *creds);

/*
 * Set up from cfg's identity.  Keytab identity: the keytab must be
 * readable and hold a key for identity_principal (or any key); ccache:
 * the ccache must exist and hold a TGT (else an error that names the
 * ccache and says to run kregister).  Starts obtaining our TGT in the
 * background for a keytab identity.
 */
krb5_error_code kink_krb_open(krb5_context ctx, verto_ctx *loop,
                              const struct kink_conf *cfg,
                              struct kink_krb **out);
void kink_krb_close(struct kink_krb *kk);

/* Our principal (keytab: identity_principal or the keytab's first
 * entry's; ccache: the ccache's default principal). */
krb5_const_principal kink_krb_self(const struct kink_krb *kk);

/* 1 for a ccache (device, user-to-user only) identity. */
int kink_krb_is_u2u_only(const struct kink_krb *kk);

/*
 * Get a ticket to server.  server_tgt NULL: an ordinary service ticket.
 * server_tgt non-NULL (the DER Ticket from the peer's KINK_TGT_REP): a
 * user-to-user ticket encrypted in that TGT's session key
 * (KDC_OPT_ENC_TKT_IN_SKEY with the TGT as additional ticket).  Cached
 * tickets with at least 60 s left are returned without a KDC exchange
 * (still through the loop).  *req_out (may be NULL) lets the caller
 * cancel; it is invalid once the callback has run.  A non-zero return
 * (bad arguments, memory, a ccache identity without a valid TGT) means no
 * callback.
 */
krb5_error_code kink_krb_get_ticket(struct kink_krb *kk,
                                    krb5_const_principal server,
                                    const krb5_data *server_tgt,
                                    kink_krb_ticket_fn fn, void *arg,
                                    struct kink_krb_req **req_out);

/* Cancel a pending request: its callback is never called. */
void kink_krb_cancel(struct kink_krb_req *req);

/*
 * Our current TGT as a DER Ticket (for KINK_TGT_REP), copied into *out
 * (krb5_free_data_contents).  KRB5_CC_NOTFOUND (with a message) if none is
 * available yet (keytab identity still obtaining it) or it expired.
 */
krb5_error_code kink_krb_tgt_ticket(struct kink_krb *kk, krb5_data *out);

/*
 * Check an incoming KRB_AP_REQ: krb5_rd_req against the keytab, or for
 * a ccache identity (and for a keytab identity when the ticket says
 * ENC-TKT-IN-SKEY... i.e. when the keytab has no key of the ticket's
 * kvno/enctype) user-to-user with our TGT session key(s).  The ticket's
 * server must be kink_krb_self().  The replay check is the caller's (it
 * keeps a cache that survives restarts); this function uses no rcache:
 * the auth context gets no flags, since in krb5 1.20
 * KRB5_AUTH_CONTEXT_DO_TIME only makes krb5_rd_req open the default replay
 * cache, while the ticket times and the authenticator's clock skew are
 * checked whatever the flags.  On success *ac_out is an
 * auth context ready for krb5_mk_rep and *ticket_out the decrypted ticket
 * (client, session key, times).
 */
krb5_error_code kink_krb_rd_req(struct kink_krb *kk, const krb5_data *ap_req,
                                krb5_auth_context *ac_out,
                                krb5_ticket **ticket_out);

/* Number of tickets in the private cache (kinkctl status). */
size_t kink_krb_cache_size(const struct kink_krb *kk);

#endif
