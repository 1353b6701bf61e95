/*
 * kinkd's SA backends: one small interface, two implementations.
 *
 *   xfrm  the Linux kernel through XFRM netlink (kink_sa_xfrm.c): SPI
 *         allocation (XFRM_MSG_ALLOCSPI), SAs with soft/hard lifetimes
 *         (UPDSA on the larval SPI), policies, deletion; ACQUIRE and
 *         EXPIRE notifications from the XFRMNLGRP_ACQUIRE/EXPIRE groups
 *         are handed to the daemon through the event callback.
 *   none  negotiate and log what would be installed (in kink_sa.c):
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
 *
 * Log lines (LOG_INFO; the stable format integration tests parse).  PEER
 * is the remote outer address, SPIs are "0x" and 8 lower-case hex digits,
 * SEL is "REMOTE/PLEN <-> LOCAL/PLEN" (the peer's side first; a local
 * side the selector leaves open is 0.0.0.0/0 or ::/0) followed by
 * " proto N" and " port N" when they are set.  In transport mode SEL is what is
 * installed: the two host addresses (with the selector's proto and port).
 * ESP is "aesBITS-gcm16" or "aesBITS-cbc/hmac-sha1-96" or
 * "aesBITS-cbc/hmac-sha256-128"; MODE "transport" or "tunnel"; LIFE is
 * "lifetime H s (soft S s)" or "lifetime none", then ", H KiB (soft S
 * KiB)" when a byte limit is set.
 *
 *   none: would install SA pair with PEER: in SPI 0x..., out SPI 0x...,
 *         esp ESP, MODE, selector SEL, LIFE
 *   none: in SPI 0x... keys enc HEX auth HEX          (show_keys only)
 *   none: out SPI 0x... keys enc HEX auth HEX         (show_keys only)
 *   none: would delete SA pair with PEER: in SPI 0x..., out SPI 0x...
 *         [, and the policies of selector SEL]
 *   none: would install trap policies for selector SEL (reqid N, MODE)
 *   xfrm: installed SA pair with PEER: ... (the rest as for none)
 *   xfrm: deleted SA pair with PEER: ... (as for none)
 *   xfrm: installed trap policies for selector SEL (reqid N, MODE)
 *
 * (each one line; wrapped here).  HEX is lower-case, "-" for no key (GCM
 * has no auth key; its enc key ends with the 4-octet salt).  A key line's
 * SPI names the SA, and an SA has the same SPI on both sides, so what
 * follows "keys " on one side's "out SPI X" line equals what follows it on
 * the other side's "in SPI X" line.  Reservations and releases of SPIs
 * are logged at LOG_DEBUG only.
 *
 * Addresses: IPv4-mapped IPv6 addresses (from a dual-stack socket) are
 * taken as the IPv4 addresses they map; local and remote must then be of
 * one family.
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
     * template; EXPIRE: the SA's addresses, direction and SPI.
     * xfrm: for a policy this backend installed, sel is exactly the
     * selector given to kink_sa_add_trap or kink_sa_add (so the daemon
     * can match it to its configuration); for anyone else's policy it is
     * the kernel's one-flow selector (host addresses, the flow's protocol
     * and destination port).  EXPIREs come only for SAs this backend
     * installed, and also (HARD, inbound) for an SPI from
     * kink_sa_alloc_spi that kink_sa_add did not fill in within the
     * kernel's acquire timeout (net.core.xfrm_acq_expires, 30 s);
     * kink_sa_add still works after that. */
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
 * Let the KINK socket fd (of family AF_INET or AF_INET6) send and receive
 * in the clear whatever policies say: a per-socket "allow" policy for both
 * directions (IP_XFRM_POLICY / IPV6_XFRM_POLICY).  Without it the
 * daemon's own UDP messages to a peer would match the host-to-host
 * policies it installs (proto any) and be held for an SA that only those
 * messages can negotiate.  xfrm: needs CAP_NET_ADMIN; none: no-op.
 * (An addition to the original interface.)
 */
krb5_error_code kink_sa_bypass_socket(struct kink_sa_backend *be, int fd,
                                      int family);

/*
 * Derive the ESP key lengths of a transform: encryption (GCM with the
 * salt) and integrity, in octets; the KEYMAT per direction is their sum,
 * encryption key first (RFC 2409 section 5.5 / RFC 4106 section 8.1).
 */
krb5_error_code kink_sa_key_lengths(const struct kink_isakmp_esp *esp,
                                    size_t *enc_len, size_t *auth_len);

/* ---- Between kink_sa.c and the backends; not for callers. ----------- */

/*
 * kink_sa.c checks and normalizes arguments (addresses unmapped, families
 * equal, key lengths those of the transform, SPIs >= 256) before calling
 * a backend, formats the log lines' common part, and owns the struct.
 */
struct kink_sa_ops {
    const char *name;
    krb5_error_code (*open)(struct kink_sa_backend *be);
    void (*close)(struct kink_sa_backend *be);
    int (*event_fd)(const struct kink_sa_backend *be);
    void (*process_events)(struct kink_sa_backend *be);
    krb5_error_code (*alloc_spi)(struct kink_sa_backend *be,
                                 const struct sockaddr *local,
                                 const struct sockaddr *remote,
                                 uint32_t reqid, uint32_t *spi_out);
    krb5_error_code (*add)(struct kink_sa_backend *be,
                           const struct kink_sa_pair *pair,
                           const char *desc);
    krb5_error_code (*del)(struct kink_sa_backend *be,
                           const struct kink_sa_pair *pair, int policies,
                           const char *desc);
    void (*release_spi)(struct kink_sa_backend *be,
                        const struct sockaddr *local,
                        const struct sockaddr *remote, uint32_t spi);
    krb5_error_code (*add_trap)(struct kink_sa_backend *be,
                                const struct sockaddr *local,
                                const struct sockaddr *remote,
                                const struct kink_conf_selector *sel,
                                uint32_t reqid, int tunnel,
                                const char *desc);
    krb5_error_code (*bypass_socket)(struct kink_sa_backend *be, int fd,
                                     int family);
};

struct kink_sa_backend {
    krb5_context ctx;
    const struct kink_sa_ops *ops;
    int show_keys;
    kink_sa_event_fn fn;
    void *arg;
    void *state;                /* the backend's own */
};

extern const struct kink_sa_ops kink_sa_xfrm_ops;

/* The largest description kink_sa.c hands to add/del/add_trap. */
#define KINK_SA_DESC_MAX 512

/* An address as text ("10.9.0.1", "fd00::1"). */
void kink_sa_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* A selector as in the log lines ("REMOTE/PLEN <-> LOCAL/PLEN ..."). */
void kink_sa_sel_str(const struct kink_conf_selector *sel, char *buf,
                     size_t len);

/* The selector an SA pair or trap installs: in transport mode the two
 * host addresses with sel's proto and port, in tunnel mode sel itself
 * (an open local side taking the remote side's family, prefix 0). */
void kink_sa_effective_sel(const struct sockaddr *local,
                           const struct sockaddr *remote,
                           const struct kink_conf_selector *sel, int tunnel,
                           struct kink_conf_selector *out);

#endif
