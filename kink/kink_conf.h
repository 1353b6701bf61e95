/*
 * kinkd.conf: the KINK daemon's configuration (see kinkd.conf(5)).
 *
 * A line-oriented file: "key = value" lines set global settings, and
 * "peer ADDRESS {" ... "}" blocks describe one peer each (its principal,
 * the selectors it may be given SAs for, and overrides of the global SA
 * policy).  '#' starts a comment.  Every error names "FILE:LINE: cause".
 *
 * The parsed configuration is owned by struct kink_conf (free it with
 * kink_conf_free); nothing points into the file's text.
 */
#ifndef KINK_CONF_H
#define KINK_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <krb5/krb5.h>

#include "kink_isakmp.h"

#define KINK_CONF_DEFAULT_PATH          "/etc/kinkd.conf"
#define KINK_CONF_DEFAULT_KEYTAB        "/etc/krb5.keytab"
#define KINK_CONF_DEFAULT_CONTROL       "/run/kinkd.sock"
#define KINK_CONF_DEFAULT_STATE_DIR     "/var/lib/kinkd"
#define KINK_CONF_DEFAULT_PORT          910
#define KINK_CONF_DEFAULT_LIFETIME      3600    /* seconds */
#define KINK_CONF_MIN_LIFETIME          60
#define KINK_CONF_MAX_LINE              1024
#define KINK_CONF_MAX_LISTEN            8
#define KINK_CONF_MAX_PROPOSALS         KINK_ISAKMP_MAX_PROPOSALS
#define KINK_CONF_MAX_ALLOW             32

enum kink_conf_identity_type {
    KINK_CONF_IDENTITY_KEYTAB,      /* servers: a keytab (and a principal) */
    KINK_CONF_IDENTITY_CCACHE       /* devices: a ccache kept by kregister */
};

enum kink_conf_backend {
    KINK_CONF_BACKEND_XFRM,
    KINK_CONF_BACKEND_NONE
};

/* Per-peer compatibility settings (issue 5 item 7). */
enum kink_conf_prf {
    KINK_CONF_PRF_RFC3962,          /* RFC 3962: truncate to one block */
    KINK_CONF_PRF_RACOON2           /* racoon2: CTS over the whole SHA-1 */
};
enum kink_conf_cksum {
    KINK_CONF_CKSUM_RFC4430,        /* checksum over the message as sent */
    KINK_CONF_CKSUM_RACOON2         /* Length without checksum, CksumLen 0 */
};

enum kink_conf_gettgt {
    KINK_CONF_GETTGT_AUTO,          /* service ticket, GETTGT when no key */
    KINK_CONF_GETTGT_YES,           /* always user-to-user via GETTGT */
    KINK_CONF_GETTGT_NO             /* never GETTGT */
};

/* An address prefix; addr holds 4 (AF_INET) or 16 (AF_INET6) bytes, the
 * bits past plen are zero. */
struct kink_conf_prefix {
    int family;                     /* AF_INET, AF_INET6 */
    unsigned char addr[16];
    unsigned int plen;
};

/* One "allow" entry: the traffic selectors a peer may be given SAs for.
 * remote is the peer's side, local ours (family 0: any local address). */
struct kink_conf_allow {
    struct kink_conf_prefix remote;
    struct kink_conf_prefix local;
    uint8_t proto;                  /* IP protocol; 0 = any */
    uint16_t port;                  /* the peer side's port; 0 = any */
};

/* A traffic selector to check against a peer's allowance: the peer's side
 * (remote) and ours (local), the IP protocol (0 = any) and the peer side's
 * port (0 = any), as carried in the Quick Mode ID payloads. */
struct kink_conf_selector {
    struct kink_conf_prefix remote;
    struct kink_conf_prefix local;
    uint8_t proto;
    uint16_t port;
};

/* The SA policy: proposals in order of preference, each a complete ESP
 * transform (mode, PFS group and lifetimes filled in) that
 * kink_isakmp_esp_attrs accepts. */
struct kink_conf_policy {
    size_t n_proposals;
    struct kink_isakmp_esp proposals[KINK_CONF_MAX_PROPOSALS];
    uint16_t encap_mode;            /* KINK_ENCAP_TRANSPORT or _TUNNEL */
    uint16_t group;                 /* 0, KINK_GROUP_MODP_2048, _ECP_256 */
    uint32_t lifetime;              /* hard lifetime, seconds */
    uint32_t soft_lifetime;         /* rekey time: 90% of lifetime */
    uint32_t life_kbytes;           /* hard byte limit in KiB; 0 none */
    uint32_t soft_life_kbytes;      /* 90% of life_kbytes */
};

struct kink_conf_peer {
    unsigned int line;              /* where the block starts */
    struct sockaddr_storage addr;   /* address and KINK port */
    socklen_t addr_len;
    char *principal_name;           /* as written, with realm */
    krb5_principal principal;
    enum kink_conf_gettgt gettgt;
    enum kink_conf_prf prf;
    enum kink_conf_cksum cksum;
    size_t n_allow;
    struct kink_conf_allow allow[KINK_CONF_MAX_ALLOW];
    struct kink_conf_policy policy; /* the global policy plus overrides */
};

struct kink_conf {
    char *path;
    enum kink_conf_identity_type identity_type;
    char *keytab;                   /* KEYTAB: krb5_kt_resolve name */
    char *identity_principal;       /* KEYTAB: NULL = any key in keytab */
    char *ccache;                   /* CCACHE: krb5_cc_resolve name */
    size_t n_listen;
    struct sockaddr_storage listen[KINK_CONF_MAX_LISTEN];
    socklen_t listen_len[KINK_CONF_MAX_LISTEN];
    enum kink_conf_backend backend;
    char *control_socket;
    char *state_dir;
    struct kink_conf_policy policy; /* global defaults */
    size_t n_peers;
    struct kink_conf_peer *peers;
};

/*
 * Read the configuration file at path into *out.  On a bad file return
 * KSTL_BAD_CONFIG with an error message "PATH:LINE: cause" set on ctx
 * (errno values for unreadable files, ENOMEM).
 */
krb5_error_code kink_conf_load(krb5_context ctx, const char *path,
                               struct kink_conf **out);

/* As kink_conf_load, from the NUL-terminated text; name is used in error
 * messages in place of the file name. */
krb5_error_code kink_conf_parse(krb5_context ctx, const char *name,
                                const char *text, struct kink_conf **out);

void kink_conf_free(krb5_context ctx, struct kink_conf *cfg);

/* The peer whose address is the address of sa (the port is ignored;
 * IPv4-mapped IPv6 addresses match IPv4 peers), or NULL. */
const struct kink_conf_peer *
kink_conf_find_peer(const struct kink_conf *cfg, const struct sockaddr *sa);

/* Nonzero if sel is inside one of peer's allow entries: the remote (and,
 * when the entry names one, local) prefix lies within the entry's prefix
 * of the same family, and the entry's protocol and port are any or equal
 * to the selector's ("any" in a selector is not inside a specific
 * protocol or port). */
int kink_conf_selector_allowed(const struct kink_conf_peer *peer,
                               const struct kink_conf_selector *sel);

/* Parse "ADDRESS[/PLEN]" (plen defaults to the full length) into *out;
 * nonzero on error with *why set to a static string. */
int kink_conf_parse_prefix(const char *s, struct kink_conf_prefix *out,
                           const char **why);

#endif
