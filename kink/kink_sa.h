/*
 * kinkd's SA backends: one small interface, two implementations.
 *
 *   xfrm  the Linux kernel through XFRM netlink (kink_sa_xfrm.c): SPI
 *         allocation (XFRM_MSG_ALLOCSPI), SAs with soft/hard lifetimes
 *         (UPDSA on the larval SPI), policies, deletion; ACQUIRE and
 *         EXPIRE notifications from the XFRMNLGRP_ACQUIRE/EXPIRE groups
 *         are handed to the daemon through the event callback.
 *   none  negotiate and log what would be installed (kink_sa_none.c):
 *         SPIs from a counter, no kernel, never an event.
 *
 * Calls are synchronous: a netlink request to the local kernel is
 * answered at once, so the daemon's loop may wait for it.  Events arrive
 * on kink_sa_event_fd(), which the daemon watches with libverto and then
 * calls kink_sa_process_events().
 *
 * Logging goes through ks_agent_log (lib/ks_agent.h).  Keys are never
 * logged, except by the none backend when show_keys is set (kinkd -K,
 * for tests that compare the two sides' keys); message buffers that held
 * keys are zeroed.
 */
#ifndef KINK_SA_H
#define KINK_SA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <krb5/krb5.h>
#include "kink_conf.h"
#include "kink_isakmp.h"

/* Longest ESP key: AES-256 key + 4-octet GCM salt = 36; HMAC-SHA256 32. */
#define KINK_SA_MAX_KEY 36

/* One direction of an ESP SA pair. */
struct kink_sa_dir {
    uint32_t spi;                       /* host order */
    unsigned char enc_key[KINK_SA_MAX_KEY];
    size_t enc_key_len;                 /* GCM: key || salt */
    unsigned char auth_key[KINK_SA_MAX_KEY];
    size_t auth_key_len;                /* 0 for GCM */
};

/*
 * An SA pair between us (local) and a peer (remote), as negotiated:
 * the inbound SA (remote -> local, SPI chosen by us) and the outbound SA
 * (local -> remote, SPI chosen by the peer), one ESP transform, one
 * selector, lifetimes.
 */
struct kink_sa_pair {
    struct sockaddr_storage local, remote;  /* outer addresses (port ignored) */
    struct kink_isakmp_esp esp;             /* transform, key bits, mode */
    struct kink_conf_selector sel;          /* remote = peer side */
    uint32_t reqid;                         /* ties SAs to policies */
    uint32_t hard_seconds, soft_seconds;    /* 0: none */
    uint64_t hard_kbytes, soft_kbytes;      /* 0: none */
    struct kink_sa_dir in, out;
};

enum kink_sa_event_type {
    KINK_SA_EV_ACQUIRE,     /* traffic matched a policy with no SA */
    KINK_SA_EV_SOFT_EXPIRE, /* rekey now */
    KINK_SA_EV_HARD_EXPIRE  /* the SA is gone */
};

struct kink_sa_event {
    enum kink_sa_event_type type;
    /* ACQUIRE: the policy's selector (remote = the peer side, i.e. the
     * destination of outbound traffic) and the outer addresses of the
     * template; EXPIRE: the SA's addresses, direction and SPI. */
    struct sockaddr_storage local, remote;
    struct kink_conf_selector sel;
    uint32_t spi;           /* EXPIRE only */
    int inbound;            /* EXPIRE: 1 if the SA is an inbound one */
};

typedef void (*kink_sa_event_fn)(void *arg, const struct kink_sa_event *ev);

struct kink_sa_backend;

/*
 * Open the backend (KINK_CONF_BACKEND_XFRM or _NONE).  show_keys: the
 * none backend logs keys (hex) too.  The xfrm backend opens its netlink
 * sockets here and fails with a message naming the cause (e.g. no XFRM
 * support, not permitted without CAP_NET_ADMIN).
 */
krb5_error_code kink_sa_open(krb5_context ctx, enum kink_conf_backend type,
                             int show_keys, kink_sa_event_fn fn, void *arg,
                             struct kink_sa_backend **out);

/* Remove every SA and policy this backend installed, close, free. */
void kink_sa_close(struct kink_sa_backend *be);

/* "xfrm" or "none". */
const char *kink_sa_name(const struct kink_sa_backend *be);

/* The file descriptor to watch for readability (-1: none has no events). */
int kink_sa_event_fd(const struct kink_sa_backend *be);

/* Read and dispatch pending events (never blocks; malformed netlink
 * input is logged and skipped). */
void kink_sa_process_events(struct kink_sa_backend *be);

/*
 * Reserve an inbound SPI for an SA from remote to local (xfrm:
 * ALLOCSPI, a larval state the kernel drops after its acquire timeout
 * unless kink_sa_add fills it in).  SPIs are >= 256.
 */
krb5_error_code kink_sa_alloc_spi(struct kink_sa_backend *be,
                                  const struct sockaddr *local,
                                  const struct sockaddr *remote,
                                  uint32_t reqid, uint32_t *spi_out);

/*
 * Install the pair: the inbound SA (filling the larval SPI in.spi), the
 * outbound SA, and — unless policies for this selector and reqid exist
 * already (a rekey: make-before-break, the new SAs are added next to the
 * old ones and the policies stay) — the out/in (and in tunnel mode fwd)
 * policies.  Logs one line with peer, SPIs, algorithms, selector and
 * lifetimes (and keys for none with show_keys).  On failure nothing of
 * the pair stays installed.
 */
krb5_error_code kink_sa_add(struct kink_sa_backend *be,
                            const struct kink_sa_pair *pair);

/*
 * Delete the SAs of the pair (by SPI).  With policies nonzero also the
 * policies of its selector (the last pair for that selector is going).
 * Missing SAs are not an error (the kernel may have expired them).
 */
krb5_error_code kink_sa_delete(struct kink_sa_backend *be,
                               const struct kink_sa_pair *pair,
                               int policies);

/*
 * Release an SPI reserved by kink_sa_alloc_spi that will not be used
 * (the negotiation failed).
 */
void kink_sa_release_spi(struct kink_sa_backend *be,
                         const struct sockaddr *local,
                         const struct sockaddr *remote, uint32_t spi);

/*
 * Install the out (and, for traffic to us, in) policies that make the
 * kernel send ACQUIRE for traffic matching sel between local and remote
 * (xfrm only; none: no-op).  Used for "peer ... { acquire = yes }" style
 * configurations: the daemon calls it at start for each configured peer
 * selector so that the first packet triggers a negotiation.
 */
krb5_error_code kink_sa_add_trap(struct kink_sa_backend *be,
                                 const struct sockaddr *local,
                                 const struct sockaddr *remote,
                                 const struct kink_conf_selector *sel,
                                 uint32_t reqid, int tunnel);

/*
 * Derive the ESP key lengths of a transform: encryption (GCM with the
 * salt) and integrity, in octets; the KEYMAT per direction is their sum,
 * encryption key first (RFC 2409 section 5.5 / RFC 4106 section 8.1).
 */
krb5_error_code kink_sa_key_lengths(const struct kink_isakmp_esp *esp,
                                    size_t *enc_len, size_t *auth_len);

#endif
