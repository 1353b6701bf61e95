/*
 * kinkd.conf parser (see kink_conf.h and kinkd.conf(5)).
 *
 * The file is read whole (it is small), then line by line.  Global keys
 * may appear anywhere outside peer blocks; the SA policy keys given in a
 * peer block override the global ones for that peer only, and are merged
 * once the whole file is read, so the order of global keys and peer blocks
 * does not matter.  Everything that the daemon could only discover at
 * negotiation time (a proposal the Quick Mode codec cannot express, a
 * selector without a family) is refused here, with the line.
 */
#include "ks_util.h"
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "kink_conf.h"
#include "ks_config.h"
#include "ks_err.h"

#define MAX_FILE_SIZE   (1024 * 1024)
#define MAX_WORDS       8

/* Where a key may appear. */
#define SCOPE_GLOBAL    1
#define SCOPE_PEER      2
#define SCOPE_BOTH      3

struct key_def {
    const char *name;
    unsigned int scope;
    int repeatable;
};

static const struct key_def keys[] = {
    { "identity",       SCOPE_GLOBAL, 0 },
    { "listen",         SCOPE_GLOBAL, 1 },
    { "backend",        SCOPE_GLOBAL, 0 },
    { "control_socket", SCOPE_GLOBAL, 0 },
    { "state_dir",      SCOPE_GLOBAL, 0 },
    { "proposal",       SCOPE_BOTH,   1 },
    { "lifetime",       SCOPE_BOTH,   0 },
    { "lifebytes",      SCOPE_BOTH,   0 },
    { "mode",           SCOPE_BOTH,   0 },
    { "pfs",            SCOPE_BOTH,   0 },
    { "principal",      SCOPE_PEER,   0 },
    { "allow",          SCOPE_PEER,   1 },
    { "gettgt",         SCOPE_PEER,   0 },
    { "prf",            SCOPE_PEER,   0 },
    { "cksum",          SCOPE_PEER,   0 },
    { "port",           SCOPE_PEER,   0 },
    { NULL, 0, 0 }
};

/* Policy settings of one scope, before merging: which were given. */
struct policy_set {
    int has_proposals, has_lifetime, has_lifebytes, has_mode, has_pfs;
    size_t n_proposals;
    struct kink_isakmp_esp proposals[KINK_CONF_MAX_PROPOSALS];
    uint32_t lifetime, life_kbytes;
    uint16_t encap_mode, group;
};

struct parser {
    krb5_context ctx;
    const char *name;
    unsigned int line;
    struct kink_conf *cfg;
    struct policy_set global;
    struct policy_set *peer_sets;       /* parallel to cfg->peers */
    size_t peers_cap;
    struct kink_conf_peer *peer;        /* open block, or NULL */
    unsigned int global_seen, peer_seen;
};

/* Set "NAME:LINE: message" on the context; return KSTL_BAD_CONFIG. */
static krb5_error_code
bad(struct parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    krb5_set_error_message(p->ctx, KSTL_BAD_CONFIG, "%s:%u: %s", p->name,
                           p->line, msg);
    return KSTL_BAD_CONFIG;
}

/* Split s in place at white space into at most max words; return the
 * count, or max + 1 if there are more. */
static size_t
split_words(char *s, char **words, size_t max)
{
    size_t n = 0;

    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0')
            return n;
        if (n == max)
            return max + 1;
        words[n++] = s;
        while (*s != '\0' && !isspace((unsigned char)*s))
            s++;
        if (*s != '\0')
            *s++ = '\0';
    }
}

/* Decimal 1..max into *out; nonzero on error. */
static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int
addr_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

int
kink_conf_parse_prefix(const char *s, struct kink_conf_prefix *out,
                       const char **why)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    unsigned long plen;
    unsigned int i, maxbits;

    memset(out, 0, sizeof(*out));
    slash = strchr(s, '/');
    if ((slash != NULL ? (size_t)(slash - s) : strlen(s)) >= sizeof(buf)) {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    if (slash != NULL) {
        memcpy(buf, s, slash - s);
        buf[slash - s] = '\0';
    } else {
        strcpy(buf, s);
    }
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
    } else {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    maxbits = addr_len(out->family) * 8;
    out->plen = maxbits;
    if (slash != NULL) {
        /* parse_uint refuses 0; a /0 prefix is "any", which is allowed. */
        if (strcmp(slash + 1, "0") == 0) {
            plen = 0;
        } else if (parse_uint(slash + 1, maxbits, &plen) != 0) {
            *why = out->family == AF_INET ?
                "prefix length must be 0..32" :
                "prefix length must be 0..128";
            return -1;
        }
        out->plen = plen;
    }
    /* Bits past the prefix are almost always a typo (192.0.2.1/24 for
     * 192.0.2.0/24); refuse rather than guess which one was meant. */
    for (i = out->plen; i < maxbits; i++) {
        if (out->addr[i / 8] & (0x80 >> (i % 8))) {
            *why = "address has bits set past the prefix length";
            return -1;
        }
    }
    return 0;
}

/* Fill a sockaddr from a family/address and port.  Built in a local of
 * the right type and copied, so that no sockaddr_storage is written
 * through another struct type (strict aliasing). */
static socklen_t
make_sockaddr(struct sockaddr_storage *ss, int family,
              const unsigned char *addr, uint16_t port)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        memcpy(&sin.sin_addr, addr, 4);
        memcpy(ss, &sin, sizeof(sin));
        return sizeof(sin);
    }
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    memcpy(&sin6.sin6_addr, addr, 16);
    memcpy(ss, &sin6, sizeof(sin6));
    return sizeof(sin6);
}

/* The family and address bytes (4 or 16) of a sockaddr; 0 if neither
 * IPv4 nor IPv6.  IPv4-mapped IPv6 addresses are returned as IPv4 (a
 * dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d). */
static int
sockaddr_address(const void *sa, unsigned char out[16])
{
    static const unsigned char v4mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    sa_family_t family;

    memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family),
           sizeof(family));
    if (family == AF_INET) {
        memcpy(&sin, sa, sizeof(sin));
        memcpy(out, &sin.sin_addr, 4);
        return AF_INET;
    }
    if (family == AF_INET6) {
        memcpy(&sin6, sa, sizeof(sin6));
        if (memcmp(sin6.sin6_addr.s6_addr, v4mapped, 12) == 0) {
            memcpy(out, sin6.sin6_addr.s6_addr + 12, 4);
            return AF_INET;
        }
        memcpy(out, sin6.sin6_addr.s6_addr, 16);
        return AF_INET6;
    }
    return 0;
}

/* "ADDR", "ADDR:PORT", "[V6ADDR]:PORT" or "V6ADDR". */
static krb5_error_code
parse_listen(struct parser *p, const char *v)
{
    struct kink_conf *cfg = p->cfg;
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon, *end, *port_s = NULL;
    unsigned char addr[16];
    unsigned long port = KINK_CONF_DEFAULT_PORT;
    size_t hlen;
    int family;

    if (cfg->n_listen == KINK_CONF_MAX_LISTEN)
        return bad(p, "too many 'listen' addresses (at most %d)",
                   KINK_CONF_MAX_LISTEN);
    if (*v == '[') {
        end = strchr(v, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return bad(p, "invalid listen address '%s': expected "
                       "[IPV6]:PORT", v);
        v++;
        hlen = end - v;
        if (end[1] == ':')
            port_s = end + 2;
    } else {
        colon = strchr(v, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            hlen = colon - v;
            port_s = colon + 1;
        } else {
            hlen = strlen(v);
        }
    }
    if (hlen >= sizeof(host))
        return bad(p, "invalid listen address '%s'", v);
    memcpy(host, v, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, addr) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, host, addr) == 1)
        family = AF_INET6;
    else
        return bad(p, "invalid listen address '%s': not an IPv4 or IPv6 "
                   "address", host);
    if (port_s != NULL && parse_uint(port_s, 65535, &port) != 0)
        return bad(p, "invalid port '%s': expected 1..65535", port_s);
    cfg->listen_len[cfg->n_listen] =
        make_sockaddr(&cfg->listen[cfg->n_listen], family, addr,
                      (uint16_t)port);
    cfg->n_listen++;
    return 0;
}

/* "keytab:NAME [PRINCIPAL]" or "ccache:NAME". */
static krb5_error_code
parse_identity(struct parser *p, char *v)
{
    struct kink_conf *cfg = p->cfg;
    char *words[MAX_WORDS];
    krb5_principal princ;
    size_t n;

    n = split_words(v, words, 2);
    if (n == 0 || n > 2)
        goto usage;
    if (strncasecmp(words[0], "keytab:", 7) == 0 && words[0][7] != '\0') {
        cfg->identity_type = KINK_CONF_IDENTITY_KEYTAB;
        free(cfg->keytab);
        cfg->keytab = strdup(words[0] + 7);
        if (cfg->keytab == NULL)
            return ENOMEM;
        if (n == 2) {
            if (krb5_parse_name(p->ctx, words[1], &princ) != 0)
                return bad(p, "invalid principal '%s' in 'identity'",
                           words[1]);
            krb5_free_principal(p->ctx, princ);
            cfg->identity_principal = strdup(words[1]);
            if (cfg->identity_principal == NULL)
                return ENOMEM;
        }
        return 0;
    }
    if (strncasecmp(words[0], "ccache:", 7) == 0 && words[0][7] != '\0') {
        if (n != 1)
            return bad(p, "'identity = ccache:NAME' takes no principal "
                       "(the cache's own principal is used)");
        cfg->identity_type = KINK_CONF_IDENTITY_CCACHE;
        free(cfg->keytab);
        cfg->keytab = NULL;
        cfg->ccache = strdup(words[0] + 7);
        return cfg->ccache == NULL ? ENOMEM : 0;
    }
usage:
    return bad(p, "invalid identity: expected 'keytab:KEYTAB [PRINCIPAL]' "
               "or 'ccache:CCACHE'");
}

/* "esp CIPHER [INTEGRITY]"; validated against the Quick Mode codec. */
static krb5_error_code
parse_proposal(struct parser *p, struct policy_set *ps, char *v)
{
    static const struct {
        const char *name;
        uint8_t id;
        uint16_t bits;
    } ciphers[] = {
        { "aes128-cbc", KINK_ESP_AES_CBC, 128 },
        { "aes192-cbc", KINK_ESP_AES_CBC, 192 },
        { "aes256-cbc", KINK_ESP_AES_CBC, 256 },
        { "aes128-gcm16", KINK_ESP_AES_GCM_16, 128 },
        { "aes192-gcm16", KINK_ESP_AES_GCM_16, 192 },
        { "aes256-gcm16", KINK_ESP_AES_GCM_16, 256 },
        { NULL, 0, 0 }
    };
    struct kink_isakmp_esp esp;
    struct kink_isakmp_esp_attrs attrs;
    char *words[MAX_WORDS];
    const char *reason = "";
    size_t n, i;

    if (!ps->has_proposals) {
        /* The first proposal line of a scope replaces the defaults. */
        ps->has_proposals = 1;
        ps->n_proposals = 0;
    }
    if (ps->n_proposals == KINK_CONF_MAX_PROPOSALS)
        return bad(p, "too many proposals (at most %d)",
                   KINK_CONF_MAX_PROPOSALS);
    n = split_words(v, words, 3);
    if (n < 2 || n > 3)
        return bad(p, "invalid proposal: expected 'esp CIPHER [INTEGRITY]', "
                   "e.g. 'esp aes256-gcm16' or 'esp aes128-cbc hmac-sha1'");
    if (strcasecmp(words[0], "esp") != 0)
        return bad(p, "invalid proposal: protocol '%s' is not supported "
                   "(only esp)", words[0]);
    memset(&esp, 0, sizeof(esp));
    for (i = 0; ciphers[i].name != NULL; i++) {
        if (strcasecmp(words[1], ciphers[i].name) == 0)
            break;
    }
    if (ciphers[i].name == NULL)
        return bad(p, "invalid proposal: unknown cipher '%s' (supported: "
                   "aes128-cbc, aes192-cbc, aes256-cbc, aes128-gcm16, "
                   "aes192-gcm16, aes256-gcm16)", words[1]);
    esp.transform_id = ciphers[i].id;
    esp.key_bits = ciphers[i].bits;
    if (esp.transform_id == KINK_ESP_AES_GCM_16) {
        if (n == 3)
            return bad(p, "invalid proposal: %s is an AEAD cipher and takes "
                       "no integrity algorithm", words[1]);
    } else {
        if (n == 2)
            return bad(p, "invalid proposal: %s needs an integrity "
                       "algorithm (hmac-sha1 or hmac-sha256)", words[1]);
        if (strcasecmp(words[2], "hmac-sha1") == 0 ||
            strcasecmp(words[2], "hmac-sha1-96") == 0)
            esp.auth_alg = KINK_AUTH_HMAC_SHA1;
        else if (strcasecmp(words[2], "hmac-sha256") == 0 ||
                 strcasecmp(words[2], "hmac-sha2-256-128") == 0)
            esp.auth_alg = KINK_AUTH_HMAC_SHA2_256;
        else
            return bad(p, "invalid proposal: unknown integrity algorithm "
                       "'%s' (supported: hmac-sha1, hmac-sha256)", words[2]);
    }
    /* Check with the codec, completed the way the daemon will complete it,
     * so that a proposal accepted here is always one it can send. */
    esp.encap_mode = KINK_ENCAP_TRANSPORT;
    esp.life_seconds = KINK_CONF_DEFAULT_LIFETIME;
    if (kink_isakmp_esp_attrs(&esp, &attrs, &reason) != 0)
        return bad(p, "invalid proposal: the Quick Mode codec refuses it "
                   "(%s)", reason);
    ps->proposals[ps->n_proposals++] = esp;
    return 0;
}

/* "1024", "64K", "512M", "4G" (binary multiples) or "none". */
static krb5_error_code
parse_lifebytes(struct parser *p, struct policy_set *ps, const char *v)
{
    char *end;
    unsigned long long n, mult = 1;

    ps->has_lifebytes = 1;
    if (strcasecmp(v, "none") == 0) {
        ps->life_kbytes = 0;
        return 0;
    }
    if (!isdigit((unsigned char)*v))
        goto badval;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0)
        goto badval;
    if (*end != '\0') {
        switch (toupper((unsigned char)*end)) {
        case 'K': mult = 1ULL << 10; break;
        case 'M': mult = 1ULL << 20; break;
        case 'G': mult = 1ULL << 30; break;
        case 'T': mult = 1ULL << 40; break;
        default: goto badval;
        }
        if (end[1] != '\0')
            goto badval;
    }
    if (n > UINT64_MAX / mult)
        goto badval;
    n = n * mult / 1024;   /* the SA attribute counts kilobytes */
    if (n == 0 || n > UINT32_MAX)
        return bad(p, "invalid lifebytes '%s': must be at least 1K and at "
                   "most 4294967295K", v);
    ps->life_kbytes = (uint32_t)n;
    return 0;
badval:
    return bad(p, "invalid lifebytes '%s': expected a byte count with an "
               "optional K, M, G or T suffix, or none", v);
}

static krb5_error_code
parse_allow(struct parser *p, struct kink_conf_peer *peer, char *v)
{
    static const struct {
        const char *name;
        uint8_t proto;
    } protos[] = {
        { "any", 0 }, { "icmp", 1 }, { "tcp", 6 }, { "udp", 17 },
        { "ipv6-icmp", 58 }, { "icmp6", 58 }, { "sctp", 132 },
        { NULL, 0 }
    };
    struct kink_conf_allow a;
    char *words[MAX_WORDS];
    const char *why;
    unsigned long num;
    size_t n, i, w = 1;

    if (peer->n_allow == KINK_CONF_MAX_ALLOW)
        return bad(p, "too many 'allow' entries (at most %d)",
                   KINK_CONF_MAX_ALLOW);
    memset(&a, 0, sizeof(a));
    n = split_words(v, words, 5);
    if (n == 0 || n > 5)
        goto usage;
    if (kink_conf_parse_prefix(words[0], &a.remote, &why) != 0)
        return bad(p, "invalid prefix '%s': %s", words[0], why);
    if (w < n && strcasecmp(words[w], "local") != 0) {
        for (i = 0; protos[i].name != NULL; i++) {
            if (strcasecmp(words[w], protos[i].name) == 0)
                break;
        }
        if (protos[i].name != NULL)
            a.proto = protos[i].proto;
        else if (parse_uint(words[w], 255, &num) == 0)
            a.proto = (uint8_t)num;
        else
            return bad(p, "invalid protocol '%s' (any, tcp, udp, icmp, "
                       "icmp6, sctp or a number 1..255)", words[w]);
        w++;
        if (w < n && strcasecmp(words[w], "local") != 0) {
            if (a.proto != 6 && a.proto != 17 && a.proto != 132)
                return bad(p, "a port needs protocol tcp, udp or sctp");
            if (parse_uint(words[w], 65535, &num) != 0)
                return bad(p, "invalid port '%s': expected 1..65535",
                           words[w]);
            a.port = (uint16_t)num;
            w++;
        }
    }
    if (w < n) {
        if (strcasecmp(words[w], "local") != 0 || w + 2 != n)
            goto usage;
        if (kink_conf_parse_prefix(words[w + 1], &a.local, &why) != 0)
            return bad(p, "invalid prefix '%s': %s", words[w + 1], why);
    }
    peer->allow[peer->n_allow++] = a;
    return 0;
usage:
    return bad(p, "invalid allow: expected 'PREFIX [PROTOCOL [PORT]] "
               "[local PREFIX]'");
}

static int
same_address(const struct sockaddr_storage *a, const struct sockaddr_storage
             *b)
{
    unsigned char aa[16], ba[16];
    int fa = sockaddr_address(a, aa), fb = sockaddr_address(b, ba);

    return fa != 0 && fa == fb && memcmp(aa, ba, fa == AF_INET ? 4 : 16) == 0;
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
    unsigned char addr[16];
    int family = sockaddr_address(ss, addr);

    make_sockaddr(ss, family, addr, port);
}

/* "peer ADDRESS {" */
static krb5_error_code
open_peer(struct parser *p, char *rest)
{
    struct kink_conf *cfg = p->cfg;
    struct kink_conf_peer *peer, *np;
    struct policy_set *ns;
    struct kink_conf_prefix pfx;
    char *words[MAX_WORDS];
    const char *why;
    size_t n, i;

    if (p->peer != NULL)
        return bad(p, "peer block inside a peer block (missing '}' for the "
                   "block at line %u)", p->peer->line);
    n = split_words(rest, words, 2);
    if (n != 2 || strcmp(words[1], "{") != 0)
        return bad(p, "expected 'peer ADDRESS {'");
    if (kink_conf_parse_prefix(words[0], &pfx, &why) != 0)
        return bad(p, "invalid peer address '%s': %s", words[0], why);
    if (pfx.plen != (unsigned int)addr_len(pfx.family) * 8)
        return bad(p, "invalid peer address '%s': a peer is one address, "
                   "not a prefix (use 'allow' for the prefixes it may "
                   "protect)", words[0]);
    if (cfg->n_peers == p->peers_cap) {
        size_t cap = p->peers_cap ? p->peers_cap * 2 : 8;

        np = realloc(cfg->peers, cap * sizeof(*np));
        if (np == NULL)
            return ENOMEM;
        cfg->peers = np;
        ns = realloc(p->peer_sets, cap * sizeof(*ns));
        if (ns == NULL)
            return ENOMEM;
        p->peer_sets = ns;
        p->peers_cap = cap;
    }
    peer = &cfg->peers[cfg->n_peers];
    memset(peer, 0, sizeof(*peer));
    memset(&p->peer_sets[cfg->n_peers], 0, sizeof(*p->peer_sets));
    peer->line = p->line;
    peer->addr_len = make_sockaddr(&peer->addr, pfx.family, pfx.addr,
                                   KINK_CONF_DEFAULT_PORT);
    for (i = 0; i < cfg->n_peers; i++) {
        if (same_address(&cfg->peers[i].addr, &peer->addr))
            return bad(p, "peer %s is already defined at line %u", words[0],
                       cfg->peers[i].line);
    }
    cfg->n_peers++;
    p->peer = peer;
    p->peer_seen = 0;
    return 0;
}

static krb5_error_code
close_peer(struct parser *p)
{
    struct kink_conf_peer *peer = p->peer;
    struct kink_conf_allow *a;

    if (peer == NULL)
        return bad(p, "'}' without an open peer block");
    if (peer->principal == NULL)
        return bad(p, "peer block at line %u has no 'principal'",
                   peer->line);
    if (peer->gettgt == KINK_CONF_GETTGT_YES &&
        (peer->prf == KINK_CONF_PRF_RACOON2 ||
         peer->cksum == KINK_CONF_CKSUM_RACOON2))
        return bad(p, "peer block at line %u: gettgt = yes with racoon2 "
                   "compatibility (racoon2's kinkd does not implement "
                   "GETTGT)", peer->line);
    if (peer->n_allow == 0) {
        /* Default: host-to-host, the peer's own address, any protocol. */
        a = &peer->allow[peer->n_allow++];
        memset(a, 0, sizeof(*a));
        a->remote.family = sockaddr_address(&peer->addr, a->remote.addr);
        a->remote.plen = addr_len(a->remote.family) * 8;
    }
    p->peer = NULL;
    return 0;
}

static int
find_key(const char *name)
{
    int i;

    for (i = 0; keys[i].name != NULL; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return i;
    }
    return -1;
}

/* Apply the policy key k with value v to ps; 1 if k is not a policy key. */
static krb5_error_code
set_policy(struct parser *p, struct policy_set *ps, const char *k, char *v)
{
    krb5_deltat d;

    if (strcmp(k, "proposal") == 0)
        return parse_proposal(p, ps, v);
    if (strcmp(k, "lifebytes") == 0)
        return parse_lifebytes(p, ps, v);
    if (strcmp(k, "lifetime") == 0) {
        if (ks_parse_duration(v, &d) != 0)
            return bad(p, "invalid duration '%s' for key 'lifetime' (krb5 "
                       "syntax: 30m, 8h, 1d)", v);
        if (d < KINK_CONF_MIN_LIFETIME)
            return bad(p, "lifetime '%s' is too short (at least 1m)", v);
        ps->has_lifetime = 1;
        ps->lifetime = (uint32_t)d;
        return 0;
    }
    if (strcmp(k, "mode") == 0) {
        if (strcasecmp(v, "transport") == 0)
            ps->encap_mode = KINK_ENCAP_TRANSPORT;
        else if (strcasecmp(v, "tunnel") == 0)
            ps->encap_mode = KINK_ENCAP_TUNNEL;
        else
            return bad(p, "invalid mode '%s': expected transport or tunnel",
                       v);
        ps->has_mode = 1;
        return 0;
    }
    if (strcmp(k, "pfs") == 0) {
        if (strcasecmp(v, "none") == 0)
            ps->group = 0;
        else if (strcasecmp(v, "modp2048") == 0)
            ps->group = KINK_GROUP_MODP_2048;
        else if (strcasecmp(v, "ecp256") == 0)
            ps->group = KINK_GROUP_ECP_256;
        else
            return bad(p, "invalid pfs '%s': expected none, modp2048 or "
                       "ecp256", v);
        ps->has_pfs = 1;
        return 0;
    }
    return 1;
}

static krb5_error_code
set_peer_key(struct parser *p, struct kink_conf_peer *peer, const char *k,
             char *v)
{
    unsigned long port;

    if (strcmp(k, "principal") == 0) {
        if (krb5_parse_name_flags(p->ctx, v,
                                  KRB5_PRINCIPAL_PARSE_REQUIRE_REALM,
                                  &peer->principal) != 0) {
            peer->principal = NULL;
            return bad(p, "invalid principal '%s': expected a principal "
                       "with its realm, e.g. host/b.example.test@"
                       "EXAMPLE.TEST", v);
        }
        peer->principal_name = strdup(v);
        return peer->principal_name == NULL ? ENOMEM : 0;
    }
    if (strcmp(k, "allow") == 0)
        return parse_allow(p, peer, v);
    if (strcmp(k, "gettgt") == 0) {
        if (strcasecmp(v, "auto") == 0)
            peer->gettgt = KINK_CONF_GETTGT_AUTO;
        else if (strcasecmp(v, "yes") == 0)
            peer->gettgt = KINK_CONF_GETTGT_YES;
        else if (strcasecmp(v, "no") == 0)
            peer->gettgt = KINK_CONF_GETTGT_NO;
        else
            return bad(p, "invalid gettgt '%s': expected auto, yes or no",
                       v);
        return 0;
    }
    if (strcmp(k, "prf") == 0) {
        if (strcasecmp(v, "rfc3962") == 0)
            peer->prf = KINK_CONF_PRF_RFC3962;
        else if (strcasecmp(v, "racoon2") == 0)
            peer->prf = KINK_CONF_PRF_RACOON2;
        else
            return bad(p, "invalid prf '%s': expected rfc3962 or racoon2",
                       v);
        return 0;
    }
    if (strcmp(k, "cksum") == 0) {
        if (strcasecmp(v, "rfc4430") == 0)
            peer->cksum = KINK_CONF_CKSUM_RFC4430;
        else if (strcasecmp(v, "racoon2") == 0)
            peer->cksum = KINK_CONF_CKSUM_RACOON2;
        else
            return bad(p, "invalid cksum '%s': expected rfc4430 or racoon2",
                       v);
        return 0;
    }
    /* port */
    if (parse_uint(v, 65535, &port) != 0)
        return bad(p, "invalid port '%s': expected 1..65535", v);
    set_port(&peer->addr, (uint16_t)port);
    return 0;
}

static krb5_error_code
set_global_key(struct parser *p, const char *k, char *v)
{
    struct kink_conf *cfg = p->cfg;
    char **str = NULL;

    if (strcmp(k, "identity") == 0)
        return parse_identity(p, v);
    if (strcmp(k, "listen") == 0)
        return parse_listen(p, v);
    if (strcmp(k, "backend") == 0) {
        if (strcasecmp(v, "xfrm") == 0)
            cfg->backend = KINK_CONF_BACKEND_XFRM;
        else if (strcasecmp(v, "none") == 0)
            cfg->backend = KINK_CONF_BACKEND_NONE;
        else
            return bad(p, "invalid backend '%s': expected xfrm or none", v);
        return 0;
    }
    if (strcmp(k, "control_socket") == 0)
        str = &cfg->control_socket;
    else
        str = &cfg->state_dir;
    if (*v != '/')
        return bad(p, "%s '%s' must be an absolute path", k, v);
    free(*str);
    *str = strdup(v);
    return *str == NULL ? ENOMEM : 0;
}

static krb5_error_code
parse_line(struct parser *p, char *line)
{
    char *s, *eq, *k, *v;
    unsigned int *seen;
    int i;
    krb5_error_code ret;

    ks_config_strip_comment(line);
    s = ks_trim(line);
    if (*s == '\0')
        return 0;
    if (strcmp(s, "}") == 0)
        return close_peer(p);
    eq = strchr(s, '=');
    if (eq == NULL) {
        if (strncmp(s, "peer", 4) == 0 && isspace((unsigned char)s[4]))
            return open_peer(p, s + 4);
        return bad(p, "expected 'key = value', 'peer ADDRESS {' or '}'");
    }
    *eq = '\0';
    k = ks_trim(s);
    v = ks_trim(eq + 1);
    i = find_key(k);
    if (i < 0)
        return bad(p, "unknown key '%s'", k);
    if (p->peer == NULL && !(keys[i].scope & SCOPE_GLOBAL))
        return bad(p, "key '%s' is only valid inside a peer block", k);
    if (p->peer != NULL && !(keys[i].scope & SCOPE_PEER))
        return bad(p, "key '%s' is not valid inside a peer block", k);
    seen = p->peer != NULL ? &p->peer_seen : &p->global_seen;
    if (!keys[i].repeatable && (*seen & (1U << i)))
        return bad(p, "key '%s' is given twice", k);
    *seen |= 1U << i;
    if (*v == '\0')
        return bad(p, "key '%s' has no value", k);

    ret = set_policy(p, p->peer != NULL ?
                     &p->peer_sets[p->peer - p->cfg->peers] : &p->global,
                     k, v);
    if (ret != 1)
        return ret;
    if (p->peer != NULL)
        return set_peer_key(p, p->peer, k, v);
    return set_global_key(p, k, v);
}

/* Merge the scope settings of ps over base (the defaults or the global
 * policy) into out, and complete each proposal. */
static krb5_error_code
resolve_policy(struct parser *p, const struct kink_conf_policy *base,
               const struct policy_set *ps, struct kink_conf_policy *out)
{
    struct kink_isakmp_esp_attrs attrs;
    const char *reason = "";
    size_t i;

    *out = *base;
    if (ps->has_proposals) {
        out->n_proposals = ps->n_proposals;
        memcpy(out->proposals, ps->proposals, sizeof(ps->proposals));
    }
    if (ps->has_lifetime)
        out->lifetime = ps->lifetime;
    if (ps->has_lifebytes)
        out->life_kbytes = ps->life_kbytes;
    if (ps->has_mode)
        out->encap_mode = ps->encap_mode;
    if (ps->has_pfs)
        out->group = ps->group;
    /* Rekey (make-before-break) at 90% of the hard limits. */
    out->soft_lifetime = out->lifetime - out->lifetime / 10;
    out->soft_life_kbytes = out->life_kbytes - out->life_kbytes / 10;
    for (i = 0; i < out->n_proposals; i++) {
        out->proposals[i].encap_mode = out->encap_mode;
        out->proposals[i].group = out->group;
        out->proposals[i].life_seconds = out->lifetime;
        out->proposals[i].life_kbytes = out->life_kbytes;
        if (kink_isakmp_esp_attrs(&out->proposals[i], &attrs, &reason) != 0)
            return bad(p, "proposal %zu is refused by the Quick Mode codec "
                       "(%s)", i + 1, reason);
    }
    return 0;
}

static void
set_defaults(struct kink_conf_policy *pol)
{
    static const struct {
        uint8_t id;
        uint16_t bits, auth;
    } dflt[] = {
        { KINK_ESP_AES_GCM_16, 256, 0 },
        { KINK_ESP_AES_CBC, 256, KINK_AUTH_HMAC_SHA2_256 },
        { KINK_ESP_AES_CBC, 128, KINK_AUTH_HMAC_SHA1 },
    };
    size_t i;

    memset(pol, 0, sizeof(*pol));
    for (i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++) {
        pol->proposals[i].transform_id = dflt[i].id;
        pol->proposals[i].key_bits = dflt[i].bits;
        pol->proposals[i].auth_alg = dflt[i].auth;
    }
    pol->n_proposals = i;
    pol->encap_mode = KINK_ENCAP_TRANSPORT;
    pol->lifetime = KINK_CONF_DEFAULT_LIFETIME;
}

static krb5_error_code
parse_text(struct parser *p, const char *text)
{
    struct kink_conf *cfg = p->cfg;
    struct kink_conf_policy dflt;
    struct in6_addr any6 = IN6ADDR_ANY_INIT;
    unsigned char any4[4] = { 0, 0, 0, 0 };
    char line[KINK_CONF_MAX_LINE + 1];
    const char *s = text, *nl;
    size_t len, i;
    krb5_error_code ret;

    while (*s != '\0') {
        p->line++;
        nl = strchr(s, '\n');
        len = nl != NULL ? (size_t)(nl - s) : strlen(s);
        if (len > KINK_CONF_MAX_LINE)
            return bad(p, "line too long (at most %d characters)",
                       KINK_CONF_MAX_LINE);
        if (memchr(s, '\0', len) != NULL)
            return bad(p, "NUL character");
        memcpy(line, s, len);
        line[len] = '\0';
        ret = parse_line(p, line);
        if (ret)
            return ret;
        s += len + (nl != NULL);
    }
    if (p->peer != NULL)
        return bad(p, "end of file inside the peer block opened at line %u",
                   p->peer->line);

    /* Defaults for what was not given. */
    if (cfg->keytab == NULL && cfg->ccache == NULL) {
        cfg->keytab = strdup(KINK_CONF_DEFAULT_KEYTAB);
        if (cfg->keytab == NULL)
            return ENOMEM;
    }
    if (cfg->control_socket == NULL)
        cfg->control_socket = strdup(KINK_CONF_DEFAULT_CONTROL);
    if (cfg->state_dir == NULL)
        cfg->state_dir = strdup(KINK_CONF_DEFAULT_STATE_DIR);
    if (cfg->control_socket == NULL || cfg->state_dir == NULL)
        return ENOMEM;
    if (cfg->n_listen == 0) {
        cfg->listen_len[0] = make_sockaddr(&cfg->listen[0], AF_INET, any4,
                                           KINK_CONF_DEFAULT_PORT);
        cfg->listen_len[1] = make_sockaddr(&cfg->listen[1], AF_INET6,
                                           any6.s6_addr,
                                           KINK_CONF_DEFAULT_PORT);
        cfg->n_listen = 2;
    }

    set_defaults(&dflt);
    ret = resolve_policy(p, &dflt, &p->global, &cfg->policy);
    if (ret)
        return ret;
    for (i = 0; i < cfg->n_peers; i++) {
        p->line = cfg->peers[i].line;
        ret = resolve_policy(p, &cfg->policy, &p->peer_sets[i],
                             &cfg->peers[i].policy);
        if (ret)
            return ret;
    }
    return 0;
}

krb5_error_code
kink_conf_parse(krb5_context ctx, const char *name, const char *text,
                struct kink_conf **out)
{
    struct parser p;
    krb5_error_code ret;

    *out = NULL;
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.name = name;
    p.cfg = calloc(1, sizeof(*p.cfg));
    if (p.cfg == NULL)
        return ENOMEM;
    p.cfg->path = strdup(name);
    if (p.cfg->path == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = parse_text(&p, text);
    if (ret == ENOMEM)
        krb5_set_error_message(ctx, ret, "%s: out of memory", name);
cleanup:
    free(p.peer_sets);
    if (ret) {
        kink_conf_free(ctx, p.cfg);
        return ret;
    }
    *out = p.cfg;
    return 0;
}

krb5_error_code
kink_conf_load(krb5_context ctx, const char *path, struct kink_conf **out)
{
    FILE *f;
    char *buf = NULL;
    size_t n;
    krb5_error_code ret;

    *out = NULL;
    f = fopen(path, "r");
    if (f == NULL) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot open %s: %s", path,
                               strerror(ret));
        return ret;
    }
    buf = malloc(MAX_FILE_SIZE + 1);
    if (buf == NULL) {
        fclose(f);
        return ENOMEM;
    }
    n = fread(buf, 1, MAX_FILE_SIZE + 1, f);
    if (ferror(f)) {
        ret = errno ? errno : EIO;
        krb5_set_error_message(ctx, ret, "cannot read %s: %s", path,
                               strerror(ret));
        goto cleanup;
    }
    if (n > MAX_FILE_SIZE) {
        ret = KSTL_BAD_CONFIG;
        krb5_set_error_message(ctx, ret, "%s: file too large (at most %d "
                               "bytes)", path, MAX_FILE_SIZE);
        goto cleanup;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        ret = KSTL_BAD_CONFIG;
        krb5_set_error_message(ctx, ret, "%s: NUL character in file", path);
        goto cleanup;
    }
    ret = kink_conf_parse(ctx, path, buf, out);
cleanup:
    fclose(f);
    free(buf);
    return ret;
}

void
kink_conf_free(krb5_context ctx, struct kink_conf *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < cfg->n_peers; i++) {
        free(cfg->peers[i].principal_name);
        krb5_free_principal(ctx, cfg->peers[i].principal);
    }
    free(cfg->peers);
    free(cfg->path);
    free(cfg->keytab);
    free(cfg->identity_principal);
    free(cfg->ccache);
    free(cfg->control_socket);
    free(cfg->state_dir);
    free(cfg);
}

const struct kink_conf_peer *
kink_conf_find_peer(const struct kink_conf *cfg, const struct sockaddr *sa)
{
    struct sockaddr_storage key;
    unsigned char addr[16];
    int family;
    size_t i;

    family = sockaddr_address(sa, addr);
    if (family == 0)
        return NULL;
    make_sockaddr(&key, family, addr, 0);
    for (i = 0; i < cfg->n_peers; i++) {
        if (same_address(&cfg->peers[i].addr, &key))
            return &cfg->peers[i];
    }
    return NULL;
}

/* Nonzero if inner lies within outer. */
static int
prefix_within(const struct kink_conf_prefix *inner,
              const struct kink_conf_prefix *outer)
{
    unsigned int full, rest;

    if (inner->family != outer->family || inner->plen < outer->plen)
        return 0;
    full = outer->plen / 8;
    rest = outer->plen % 8;
    if (memcmp(inner->addr, outer->addr, full) != 0)
        return 0;
    if (rest != 0) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));

        if ((inner->addr[full] & mask) != (outer->addr[full] & mask))
            return 0;
    }
    return 1;
}

int
kink_conf_selector_allowed(const struct kink_conf_peer *peer,
                           const struct kink_conf_selector *sel)
{
    const struct kink_conf_allow *a;
    size_t i;

    for (i = 0; i < peer->n_allow; i++) {
        a = &peer->allow[i];
        if (!prefix_within(&sel->remote, &a->remote))
            continue;
        if (a->local.family != 0 && !prefix_within(&sel->local, &a->local))
            continue;
        if (a->proto != 0 && a->proto != sel->proto)
            continue;
        if (a->port != 0 && a->port != sel->port)
            continue;
        return 1;
    }
    return 0;
}
