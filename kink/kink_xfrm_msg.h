/*
 * XFRM netlink messages for kinkd's kernel SA backend: pure building and
 * parsing, no socket I/O (the backend sends and receives them).
 *
 * The layouts are the kernel's own structs from <linux/xfrm.h> and
 * <linux/netlink.h>, in host byte order except where the kernel says
 * network order (SPIs and selector ports); this API takes and returns SPIs
 * and ports in host order and converts.
 *
 * Builders write one netlink message into a caller buffer: 0 and the
 * message length in *outlen, ENOSPC when cap is too small, or EINVAL with
 * a static *reason when the arguments are unusable (unknown family or
 * algorithm, wrong key length).  Keys are copied only into the caller's
 * buffer, which then holds key material: the caller zeroes it after
 * sending.
 *
 * The parser reads one message at a time from a netlink stream (a buffer
 * received from the socket may hold several), never trusting nlmsg_len or
 * rta_len.  Unknown message types are not refused: they are returned as
 * KINK_XFRM_EV_IGNORED and skipped (the multicast groups carry other
 * messages too, e.g. XFRM_MSG_POLEXPIRE).  A header that cannot be
 * delimited (truncated, nlmsg_len < 16 or beyond the buffer) is refused,
 * since nothing after it can be found.  The event structs are owned
 * copies; they hold no pointers into the input.
 */
#ifndef KINK_XFRM_MSG_H
#define KINK_XFRM_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>
#include <linux/xfrm.h>

/* ESP encryption: AES-CBC with a 16-, 24- or 32-byte key, or rfc4106(gcm(aes))
 * with a 16/24/32-byte key followed by the 4-byte salt (20/28/36 bytes),
 * always with a 16-byte ICV. */
enum kink_xfrm_enc {
    KINK_XFRM_ENC_AES_CBC = 1,
    KINK_XFRM_ENC_AES_GCM16 = 2
};

/* ESP integrity; NONE only with an AEAD cipher. */
enum kink_xfrm_auth {
    KINK_XFRM_AUTH_NONE = 0,
    KINK_XFRM_AUTH_HMAC_SHA1_96 = 1,     /* 20-byte key */
    KINK_XFRM_AUTH_HMAC_SHA256_128 = 2   /* 32-byte key */
};

/* A traffic selector; ports and prefix lengths in host order.  proto 0
 * and port 0 mean any. */
struct kink_xfrm_sel {
    uint16_t family;                 /* AF_INET or AF_INET6 */
    xfrm_address_t saddr, daddr;
    uint8_t prefixlen_s, prefixlen_d;
    uint8_t proto;
    uint16_t sport, dport;
};

/* Everything XFRM_MSG_NEWSA needs for one ESP SA. */
struct kink_xfrm_sa {
    uint16_t family;                 /* of saddr/daddr */
    xfrm_address_t saddr, daddr;     /* the SA's outer addresses */
    uint32_t spi;                    /* host order */
    uint32_t reqid;
    int tunnel;                      /* 0: transport, 1: tunnel */
    uint8_t replay_window;
    struct kink_xfrm_sel sel;
    /* Lifetimes; 0 means none. */
    uint64_t soft_bytes, hard_bytes;
    uint64_t soft_seconds, hard_seconds;
    enum kink_xfrm_enc enc;
    const unsigned char *enc_key;    /* for GCM: key || 4-byte salt */
    size_t enc_key_len;
    enum kink_xfrm_auth auth;
    const unsigned char *auth_key;
    size_t auth_key_len;
    /* 1: XFRM_MSG_UPDSA instead of NEWSA.  An SA whose SPI came from
     * ALLOCSPI already exists as a larval state with that SPI, so NEWSA
     * would get EEXIST; the kernel fills it in on UPDSA. */
    int update;
};

/* One ESP policy: selector, direction and the template of the SA. */
struct kink_xfrm_policy {
    struct kink_xfrm_sel sel;
    uint8_t dir;                     /* XFRM_POLICY_IN / OUT / FWD */
    uint32_t priority;
    /* Template (NEWPOLICY only): the SA endpoints matter in tunnel mode;
     * in transport mode they may be left zero (any). */
    uint16_t tmpl_family;
    xfrm_address_t tmpl_saddr, tmpl_daddr;
    uint32_t reqid;
    int tunnel;
};

/* XFRM_MSG_ALLOCSPI for ESP from saddr to daddr, an SPI in [min, max]
 * (EINVAL unless 256 <= min <= max: SPIs 1-255 are reserved, RFC 4303
 * 2.1).  The reply is an XFRM_MSG_NEWSA (KINK_XFRM_EV_SA) or an error. */
krb5_error_code kink_xfrm_build_allocspi(unsigned char *buf, size_t cap,
                                         uint32_t seq, uint16_t family,
                                         const xfrm_address_t *saddr,
                                         const xfrm_address_t *daddr,
                                         uint32_t reqid, int tunnel,
                                         uint32_t min,
                                         uint32_t max, size_t *outlen,
                                         const char **reason);

/* XFRM_MSG_NEWSA (create, exclusive, acked) or XFRM_MSG_UPDSA (acked)
 * for an ESP SA. */
krb5_error_code kink_xfrm_build_newsa(unsigned char *buf, size_t cap,
                                      uint32_t seq,
                                      const struct kink_xfrm_sa *sa,
                                      size_t *outlen, const char **reason);

/* XFRM_MSG_DELSA (acked) for the ESP SA (daddr, spi). */
krb5_error_code kink_xfrm_build_delsa(unsigned char *buf, size_t cap,
                                      uint32_t seq, uint16_t family,
                                      const xfrm_address_t *daddr,
                                      uint32_t spi, size_t *outlen,
                                      const char **reason);

/* XFRM_MSG_NEWPOLICY (create, exclusive, acked) with one ESP template
 * (required level, any algorithms). */
krb5_error_code kink_xfrm_build_newpolicy(unsigned char *buf, size_t cap,
                                          uint32_t seq,
                                          const struct kink_xfrm_policy *pol,
                                          size_t *outlen,
                                          const char **reason);

/* XFRM_MSG_DELPOLICY (acked) by selector and direction. */
krb5_error_code kink_xfrm_build_delpolicy(unsigned char *buf, size_t cap,
                                          uint32_t seq,
                                          const struct kink_xfrm_sel *sel,
                                          uint8_t dir, size_t *outlen,
                                          const char **reason);

enum kink_xfrm_ev_type {
    KINK_XFRM_EV_IGNORED = 0,   /* a well-delimited message we skip */
    KINK_XFRM_EV_ERROR,         /* NLMSG_ERROR; error 0 is an ACK */
    KINK_XFRM_EV_SA,            /* XFRM_MSG_NEWSA: the ALLOCSPI reply */
    KINK_XFRM_EV_ACQUIRE,       /* XFRM_MSG_ACQUIRE */
    KINK_XFRM_EV_EXPIRE         /* XFRM_MSG_EXPIRE */
};

struct kink_xfrm_event {
    enum kink_xfrm_ev_type type;
    uint16_t nlmsg_type;
    uint16_t nlmsg_flags;
    uint32_t seq;               /* nlmsg_seq; for ERROR, the request's */
    int error;                  /* ERROR: positive errno, 0 for an ACK */
    /* SA, ACQUIRE, EXPIRE: */
    uint16_t family;
    xfrm_address_t saddr, daddr;
    uint32_t spi;               /* host order; 0 in ACQUIRE */
    uint8_t proto;              /* IPPROTO_ESP, ... */
    uint8_t mode;               /* XFRM_MODE_* (SA/EXPIRE; ACQUIRE: tmpl) */
    uint32_t reqid;             /* SA/EXPIRE; ACQUIRE: first template's */
    struct kink_xfrm_sel sel;
    int hard;                   /* EXPIRE: 1 hard, 0 soft */
    uint8_t dir;                /* ACQUIRE: the policy's direction */
    uint32_t policy_index;      /* ACQUIRE */
    uint32_t acq_seq;           /* ACQUIRE: the kernel's acquire seq */
    unsigned int ntmpl;         /* ACQUIRE: XFRMA_TMPL entries seen */
};

/*
 * Parse the first netlink message of buf[0..len) into *ev.  On success
 * *consumed is the offset of the next message (nlmsg_len rounded up to 4,
 * at most len).  EINVAL with *reason for anything malformed: a truncated
 * or overlong header, a body shorter than its struct, an attribute whose
 * rta_len is below 4 or runs past the message, a bad address family, an
 * error code outside [-4095, 0].
 */
krb5_error_code kink_xfrm_parse(const unsigned char *buf, size_t len,
                                struct kink_xfrm_event *ev, size_t *consumed,
                                const char **reason);

#endif
