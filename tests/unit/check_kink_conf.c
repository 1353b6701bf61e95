/*
 * Unit tests for the kinkd.conf parser (kink/kink_conf.c): a full valid
 * file, every refusal with its exact "FILE:LINE: message", and the peer
 * and selector lookups the daemon uses.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "kink_conf.h"
#include "ks_err.h"
#include "unit_util.h"

static krb5_context ctx;
static char *tmpdir;

static void
setup(void)
{
    tmpdir = unit_mkdtemp(NULL);
    ctx = unit_context_from_profile(tmpdir,
                                    "[libdefaults]\n"
                                    " default_realm = EXAMPLE.TEST\n");
}

static void
teardown(void)
{
    krb5_free_context(ctx);
    unit_rmtree(tmpdir);
    free(tmpdir);
}

static const char full_conf[] =
    "# kinkd.conf for a server\n"
    "identity = keytab:FILE:/etc/krb5.keytab host/a.example.test\n"
    "listen = 192.0.2.1:910\n"
    "listen = [2001:db8::1]:9100   # a second socket\n"
    "backend = none\n"
    "control_socket = /run/k.sock\n"
    "state_dir = /var/lib/k\n"
    "proposal = esp aes256-gcm16\n"
    "proposal = esp aes128-cbc hmac-sha1\n"
    "lifetime = 2h\n"
    "lifebytes = 1G\n"
    "mode = transport\n"
    "pfs = ecp256\n"
    "\n"
    "peer 192.0.2.10 {\n"
    "    principal = host/b.example.test@EXAMPLE.TEST\n"
    "    allow = 192.0.2.10/32 udp 500\n"
    "    allow = 198.51.100.0/24 any local 203.0.113.0/24\n"
    "    prf = racoon2\n"
    "    cksum = racoon2\n"
    "    gettgt = no\n"
    "    port = 9910\n"
    "    proposal = esp aes128-cbc hmac-sha256\n"
    "    mode = tunnel\n"
    "    pfs = none\n"
    "}\n"
    "peer 2001:db8::20 {\n"
    "    principal = device/1234@EXAMPLE.TEST\n"
    "    gettgt = yes\n"
    "    allow = 2001:db8::/64 tcp 22\n"
    "    lifetime = 10m\n"
    "}\n";

static struct kink_conf *
parse_ok(const char *text)
{
    struct kink_conf *cfg = NULL;
    krb5_error_code ret;

    ret = kink_conf_parse(ctx, "t.conf", text, &cfg);
    ck_assert_msg(ret == 0, "parse failed: %s", unit_errmsg(ctx, ret));
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

static void
prefix(struct kink_conf_prefix *p, const char *s)
{
    const char *why;

    ck_assert_int_eq(kink_conf_parse_prefix(s, p, &why), 0);
}

START_TEST(test_full_file)
{
    struct kink_conf *cfg = parse_ok(full_conf);
    const struct kink_conf_peer *p;
    const struct sockaddr_in *sin;
    const struct sockaddr_in6 *sin6;
    char name[64];

    ck_assert_int_eq(cfg->identity_type, KINK_CONF_IDENTITY_KEYTAB);
    ck_assert_str_eq(cfg->keytab, "FILE:/etc/krb5.keytab");
    ck_assert_str_eq(cfg->identity_principal, "host/a.example.test");
    ck_assert_ptr_null(cfg->ccache);
    ck_assert_uint_eq(cfg->n_listen, 2);
    sin = (const struct sockaddr_in *)&cfg->listen[0];
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(sin->sin_port), 910);
    ck_assert_str_eq(inet_ntop(AF_INET, &sin->sin_addr, name, sizeof(name)),
                     "192.0.2.1");
    sin6 = (const struct sockaddr_in6 *)&cfg->listen[1];
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_uint_eq(ntohs(sin6->sin6_port), 9100);
    ck_assert_int_eq(cfg->backend, KINK_CONF_BACKEND_NONE);
    ck_assert_str_eq(cfg->control_socket, "/run/k.sock");
    ck_assert_str_eq(cfg->state_dir, "/var/lib/k");

    /* Global policy, proposals completed with mode, group, lifetimes. */
    ck_assert_uint_eq(cfg->policy.n_proposals, 2);
    ck_assert_uint_eq(cfg->policy.proposals[0].transform_id,
                      KINK_ESP_AES_GCM_16);
    ck_assert_uint_eq(cfg->policy.proposals[0].key_bits, 256);
    ck_assert_uint_eq(cfg->policy.proposals[0].auth_alg, 0);
    ck_assert_uint_eq(cfg->policy.proposals[1].transform_id,
                      KINK_ESP_AES_CBC);
    ck_assert_uint_eq(cfg->policy.proposals[1].key_bits, 128);
    ck_assert_uint_eq(cfg->policy.proposals[1].auth_alg,
                      KINK_AUTH_HMAC_SHA1);
    ck_assert_uint_eq(cfg->policy.proposals[1].encap_mode,
                      KINK_ENCAP_TRANSPORT);
    ck_assert_uint_eq(cfg->policy.proposals[1].group, KINK_GROUP_ECP_256);
    ck_assert_uint_eq(cfg->policy.proposals[1].life_seconds, 7200);
    ck_assert_uint_eq(cfg->policy.proposals[1].life_kbytes, 1024 * 1024);
    ck_assert_uint_eq(cfg->policy.lifetime, 7200);
    ck_assert_uint_eq(cfg->policy.soft_lifetime, 6480);
    ck_assert_uint_eq(cfg->policy.life_kbytes, 1048576);
    ck_assert_uint_eq(cfg->policy.soft_life_kbytes, 1048576 - 104857);

    ck_assert_uint_eq(cfg->n_peers, 2);
    /* Peer 1: overrides proposals, mode, pfs; inherits lifetimes. */
    p = &cfg->peers[0];
    ck_assert_uint_eq(p->line, 15);
    ck_assert_str_eq(p->principal_name, "host/b.example.test@EXAMPLE.TEST");
    ck_assert_ptr_nonnull(p->principal);
    ck_assert_int_eq(p->prf, KINK_CONF_PRF_RACOON2);
    ck_assert_int_eq(p->cksum, KINK_CONF_CKSUM_RACOON2);
    ck_assert_int_eq(p->gettgt, KINK_CONF_GETTGT_NO);
    ck_assert_uint_eq(ntohs(((const struct sockaddr_in *)&p->addr)->sin_port),
                      9910);
    ck_assert_uint_eq(p->n_allow, 2);
    ck_assert_uint_eq(p->allow[0].proto, 17);
    ck_assert_uint_eq(p->allow[0].port, 500);
    ck_assert_uint_eq(p->allow[1].remote.plen, 24);
    ck_assert_int_eq(p->allow[1].local.family, AF_INET);
    ck_assert_uint_eq(p->policy.n_proposals, 1);
    ck_assert_uint_eq(p->policy.proposals[0].auth_alg,
                      KINK_AUTH_HMAC_SHA2_256);
    ck_assert_uint_eq(p->policy.proposals[0].encap_mode, KINK_ENCAP_TUNNEL);
    ck_assert_uint_eq(p->policy.proposals[0].group, 0);
    ck_assert_uint_eq(p->policy.proposals[0].life_seconds, 7200);
    ck_assert_uint_eq(p->policy.encap_mode, KINK_ENCAP_TUNNEL);
    /* Peer 2: IPv6, default port, inherits proposals and pfs. */
    p = &cfg->peers[1];
    ck_assert_int_eq(p->addr.ss_family, AF_INET6);
    ck_assert_uint_eq(
        ntohs(((const struct sockaddr_in6 *)&p->addr)->sin6_port), 910);
    ck_assert_int_eq(p->gettgt, KINK_CONF_GETTGT_YES);
    ck_assert_int_eq(p->prf, KINK_CONF_PRF_RFC3962);
    ck_assert_uint_eq(p->policy.n_proposals, 2);
    ck_assert_uint_eq(p->policy.group, KINK_GROUP_ECP_256);
    ck_assert_uint_eq(p->policy.lifetime, 600);
    ck_assert_uint_eq(p->policy.soft_lifetime, 540);
    ck_assert_uint_eq(p->policy.proposals[1].life_seconds, 600);
    kink_conf_free(ctx, cfg);
}
END_TEST

START_TEST(test_defaults)
{
    struct kink_conf *cfg = parse_ok("peer 192.0.2.7 {\n"
                                     " principal = host/x@EXAMPLE.TEST\n"
                                     "}\n");
    const struct kink_conf_peer *p = &cfg->peers[0];
    struct kink_conf_selector sel;

    ck_assert_int_eq(cfg->identity_type, KINK_CONF_IDENTITY_KEYTAB);
    ck_assert_str_eq(cfg->keytab, KINK_CONF_DEFAULT_KEYTAB);
    ck_assert_ptr_null(cfg->identity_principal);
    ck_assert_str_eq(cfg->control_socket, KINK_CONF_DEFAULT_CONTROL);
    ck_assert_str_eq(cfg->state_dir, KINK_CONF_DEFAULT_STATE_DIR);
    ck_assert_int_eq(cfg->backend, KINK_CONF_BACKEND_XFRM);
    ck_assert_uint_eq(cfg->n_listen, 2);
    ck_assert_int_eq(cfg->listen[0].ss_family, AF_INET);
    ck_assert_int_eq(cfg->listen[1].ss_family, AF_INET6);
    ck_assert_uint_eq(cfg->policy.n_proposals, 3);
    ck_assert_uint_eq(cfg->policy.lifetime, 3600);
    ck_assert_uint_eq(cfg->policy.soft_lifetime, 3240);
    ck_assert_uint_eq(cfg->policy.life_kbytes, 0);
    ck_assert_uint_eq(cfg->policy.encap_mode, KINK_ENCAP_TRANSPORT);
    ck_assert_uint_eq(cfg->policy.group, 0);
    ck_assert_int_eq(p->gettgt, KINK_CONF_GETTGT_AUTO);
    /* Default allowance: the peer's own address only, any protocol. */
    ck_assert_uint_eq(p->n_allow, 1);
    memset(&sel, 0, sizeof(sel));
    prefix(&sel.remote, "192.0.2.7");
    prefix(&sel.local, "192.0.2.1");
    sel.proto = 6;
    sel.port = 80;
    ck_assert(kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "192.0.2.8");
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "192.0.2.0/24");
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    kink_conf_free(ctx, cfg);
}
END_TEST

START_TEST(test_device_ccache)
{
    struct kink_conf *cfg =
        parse_ok("identity = ccache:FILE:/var/lib/kregister/tgt.ccache\n");

    ck_assert_int_eq(cfg->identity_type, KINK_CONF_IDENTITY_CCACHE);
    ck_assert_str_eq(cfg->ccache, "FILE:/var/lib/kregister/tgt.ccache");
    ck_assert_ptr_null(cfg->keytab);
    ck_assert_uint_eq(cfg->n_peers, 0);
    kink_conf_free(ctx, cfg);
}
END_TEST

START_TEST(test_load_file)
{
    struct kink_conf *cfg = NULL;
    char *path = unit_path(tmpdir, "kinkd.conf");
    krb5_error_code ret;

    unit_write_file(path, full_conf, strlen(full_conf), 0600);
    ret = kink_conf_load(ctx, path, &cfg);
    ck_assert_msg(ret == 0, "%s", unit_errmsg(ctx, ret));
    ck_assert_str_eq(cfg->path, path);
    ck_assert_uint_eq(cfg->n_peers, 2);
    kink_conf_free(ctx, cfg);

    unit_write_file(path, "bogus = 1\n", 10, 0600);
    ret = kink_conf_load(ctx, path, &cfg);
    ck_assert_int_eq(ret, KSTL_BAD_CONFIG);
    ck_assert_ptr_null(cfg);
    ck_assert(strstr(unit_errmsg(ctx, ret), ":1: unknown key 'bogus'") !=
              NULL);
    free(path);

    path = unit_path(tmpdir, "missing.conf");
    ret = kink_conf_load(ctx, path, &cfg);
    ck_assert_int_eq(ret, ENOENT);
    ck_assert(strstr(unit_errmsg(ctx, ret), "cannot open") != NULL);
    free(path);
}
END_TEST

/* Every refusal: the text and its exact message. */
#define PEER_HEAD "peer 192.0.2.10 {\nprincipal = host/b@EXAMPLE.TEST\n"
static const struct {
    const char *text;
    const char *msg;
} refusals[] = {
    { "bogus = 1\n", "t.conf:1: unknown key 'bogus'" },
    { "\n# c\nbackend\n",
      "t.conf:3: expected 'key = value', 'peer ADDRESS {' or '}'" },
    { "backend = xfrm\nbackend = none\n",
      "t.conf:2: key 'backend' is given twice" },
    { "backend =\n", "t.conf:1: key 'backend' has no value" },
    { "backend = pfkey\n",
      "t.conf:1: invalid backend 'pfkey': expected xfrm or none" },
    { "principal = host/b@EXAMPLE.TEST\n",
      "t.conf:1: key 'principal' is only valid inside a peer block" },
    { PEER_HEAD "backend = none\n}\n",
      "t.conf:3: key 'backend' is not valid inside a peer block" },
    { "identity = file:/x\n", "t.conf:1: invalid identity: expected "
      "'keytab:KEYTAB [PRINCIPAL]' or 'ccache:CCACHE'" },
    { "identity = ccache:FILE:/x host/a\n", "t.conf:1: 'identity = "
      "ccache:NAME' takes no principal (the cache's own principal is "
      "used)" },
    { "listen = 192.0.2.300\n", "t.conf:1: invalid listen address "
      "'192.0.2.300': not an IPv4 or IPv6 address" },
    { "listen = 192.0.2.1:0\n",
      "t.conf:1: invalid port '0': expected 1..65535" },
    { "listen = [::1]x\n",
      "t.conf:1: invalid listen address '[::1]x': expected [IPV6]:PORT" },
    { "control_socket = run/k.sock\n",
      "t.conf:1: control_socket 'run/k.sock' must be an absolute path" },
    { "lifetime = 1x\n", "t.conf:1: invalid duration '1x' for key "
      "'lifetime' (krb5 syntax: 30m, 8h, 1d)" },
    { "lifetime = 30s\n",
      "t.conf:1: lifetime '30s' is too short (at least 1m)" },
    { "lifebytes = 10X\n", "t.conf:1: invalid lifebytes '10X': expected a "
      "byte count with an optional K, M, G or T suffix, or none" },
    { "lifebytes = 100\n", "t.conf:1: invalid lifebytes '100': must be at "
      "least 1K and at most 4294967295K" },
    { "lifebytes = 5T\n", "t.conf:1: invalid lifebytes '5T': must be at "
      "least 1K and at most 4294967295K" },
    { "mode = beet\n",
      "t.conf:1: invalid mode 'beet': expected transport or tunnel" },
    { "pfs = modp1024\n", "t.conf:1: invalid pfs 'modp1024': expected "
      "none, modp2048 or ecp256" },
    { "proposal = ah hmac-sha1\n", "t.conf:1: invalid proposal: protocol "
      "'ah' is not supported (only esp)" },
    { "proposal = esp 3des-cbc hmac-sha1\n", "t.conf:1: invalid proposal: "
      "unknown cipher '3des-cbc' (supported: aes128-cbc, aes192-cbc, "
      "aes256-cbc, aes128-gcm16, aes192-gcm16, aes256-gcm16)" },
    { "proposal = esp aes128-cbc\n", "t.conf:1: invalid proposal: "
      "aes128-cbc needs an integrity algorithm (hmac-sha1 or "
      "hmac-sha256)" },
    { "proposal = esp aes128-gcm16 hmac-sha1\n", "t.conf:1: invalid "
      "proposal: aes128-gcm16 is an AEAD cipher and takes no integrity "
      "algorithm" },
    { "proposal = esp aes128-cbc hmac-md5\n", "t.conf:1: invalid proposal: "
      "unknown integrity algorithm 'hmac-md5' (supported: hmac-sha1, "
      "hmac-sha256)" },
    { "proposal = esp\n", "t.conf:1: invalid proposal: expected 'esp "
      "CIPHER [INTEGRITY]', e.g. 'esp aes256-gcm16' or 'esp aes128-cbc "
      "hmac-sha1'" },
    { "proposal = esp aes128-gcm16\nproposal = esp aes128-gcm16\n"
      "proposal = esp aes128-gcm16\nproposal = esp aes128-gcm16\n"
      "proposal = esp aes128-gcm16\nproposal = esp aes128-gcm16\n"
      "proposal = esp aes128-gcm16\nproposal = esp aes128-gcm16\n"
      "proposal = esp aes128-gcm16\n",
      "t.conf:9: too many proposals (at most 8)" },
    { "peer 192.0.2.10\n", "t.conf:1: expected 'peer ADDRESS {'" },
    { "peer b.example.test {\n", "t.conf:1: invalid peer address "
      "'b.example.test': not an IPv4 or IPv6 address" },
    { "peer 192.0.2.0/24 {\n", "t.conf:1: invalid peer address "
      "'192.0.2.0/24': a peer is one address, not a prefix (use 'allow' "
      "for the prefixes it may protect)" },
    { PEER_HEAD "}\n" PEER_HEAD "}\n",
      "t.conf:4: peer 192.0.2.10 is already defined at line 1" },
    { "peer 2001:db8::1 {\nprincipal = a@B\n}\npeer 2001:DB8:0::1 {\n",
      "t.conf:4: peer 2001:DB8:0::1 is already defined at line 1" },
    { PEER_HEAD "peer 192.0.2.11 {\n", "t.conf:3: peer block inside a peer "
      "block (missing '}' for the block at line 1)" },
    { "}\n", "t.conf:1: '}' without an open peer block" },
    { PEER_HEAD, "t.conf:2: end of file inside the peer block opened at "
      "line 1" },
    { "peer 192.0.2.10 {\n}\n",
      "t.conf:2: peer block at line 1 has no 'principal'" },
    { "peer 192.0.2.10 {\nprincipal = host/b\n}\n", "t.conf:2: invalid "
      "principal 'host/b': expected a principal with its realm, e.g. "
      "host/b.example.test@EXAMPLE.TEST" },
    { PEER_HEAD "gettgt = maybe\n}\n",
      "t.conf:3: invalid gettgt 'maybe': expected auto, yes or no" },
    { PEER_HEAD "prf = sha1\n}\n",
      "t.conf:3: invalid prf 'sha1': expected rfc3962 or racoon2" },
    { PEER_HEAD "cksum = md5\n}\n",
      "t.conf:3: invalid cksum 'md5': expected rfc4430 or racoon2" },
    { PEER_HEAD "port = 65536\n}\n",
      "t.conf:3: invalid port '65536': expected 1..65535" },
    { PEER_HEAD "gettgt = yes\nprf = racoon2\n}\n", "t.conf:5: peer block "
      "at line 1: gettgt = yes with racoon2 compatibility (racoon2's kinkd "
      "does not implement GETTGT)" },
    { PEER_HEAD "allow = 192.0.2.1/24\n}\n", "t.conf:3: invalid prefix "
      "'192.0.2.1/24': address has bits set past the prefix length" },
    { PEER_HEAD "allow = 192.0.2.0/33\n}\n", "t.conf:3: invalid prefix "
      "'192.0.2.0/33': prefix length must be 0..32" },
    { PEER_HEAD "allow = 2001:db8::/129\n}\n", "t.conf:3: invalid prefix "
      "'2001:db8::/129': prefix length must be 0..128" },
    { PEER_HEAD "allow = 192.0.2.0/24 gre\n}\n", "t.conf:3: invalid "
      "protocol 'gre' (any, tcp, udp, icmp, icmp6, sctp or a number "
      "1..255)" },
    { PEER_HEAD "allow = 192.0.2.0/24 icmp 8\n}\n",
      "t.conf:3: a port needs protocol tcp, udp or sctp" },
    { PEER_HEAD "allow = 192.0.2.0/24 tcp 70000\n}\n",
      "t.conf:3: invalid port '70000': expected 1..65535" },
    { PEER_HEAD "allow = 192.0.2.0/24 tcp 22 remote 10.0.0.0/8\n}\n",
      "t.conf:3: invalid allow: expected 'PREFIX [PROTOCOL [PORT]] "
      "[local PREFIX]'" },
    { PEER_HEAD "allow = 192.0.2.0/24 local 10.0.0.1/8\n}\n",
      "t.conf:3: invalid prefix '10.0.0.1/8': address has bits set past "
      "the prefix length" },
};

START_TEST(test_refusal)
{
    struct kink_conf *cfg = (void *)1;
    krb5_error_code ret;

    ret = kink_conf_parse(ctx, "t.conf", refusals[_i].text, &cfg);
    ck_assert_msg(ret == KSTL_BAD_CONFIG, "case %d: ret %d", _i, (int)ret);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(unit_errmsg(ctx, ret), refusals[_i].msg);
}
END_TEST

START_TEST(test_long_line)
{
    char text[KINK_CONF_MAX_LINE + 16];
    struct kink_conf *cfg;
    krb5_error_code ret;

    memset(text, 'a', sizeof(text) - 2);
    text[sizeof(text) - 2] = '\n';
    text[sizeof(text) - 1] = '\0';
    ret = kink_conf_parse(ctx, "t.conf", text, &cfg);
    ck_assert_int_eq(ret, KSTL_BAD_CONFIG);
    ck_assert_str_eq(unit_errmsg(ctx, ret),
                     "t.conf:1: line too long (at most 1024 characters)");
}
END_TEST

START_TEST(test_find_peer)
{
    struct kink_conf *cfg = parse_ok(full_conf);
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(12345);    /* the port does not matter */
    inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
    ck_assert_ptr_eq(kink_conf_find_peer(cfg, (struct sockaddr *)&sin),
                     &cfg->peers[0]);
    inet_pton(AF_INET, "192.0.2.11", &sin.sin_addr);
    ck_assert_ptr_null(kink_conf_find_peer(cfg, (struct sockaddr *)&sin));

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8:0::20", &sin6.sin6_addr);
    ck_assert_ptr_eq(kink_conf_find_peer(cfg, (struct sockaddr *)&sin6),
                     &cfg->peers[1]);
    /* A dual-stack socket's view of the IPv4 peer. */
    inet_pton(AF_INET6, "::ffff:192.0.2.10", &sin6.sin6_addr);
    ck_assert_ptr_eq(kink_conf_find_peer(cfg, (struct sockaddr *)&sin6),
                     &cfg->peers[0]);
    inet_pton(AF_INET6, "2001:db8::21", &sin6.sin6_addr);
    ck_assert_ptr_null(kink_conf_find_peer(cfg, (struct sockaddr *)&sin6));
    kink_conf_free(ctx, cfg);
}
END_TEST

START_TEST(test_selectors_v4)
{
    struct kink_conf *cfg = parse_ok(full_conf);
    const struct kink_conf_peer *p = &cfg->peers[0];
    struct kink_conf_selector sel;

    /* allow = 192.0.2.10/32 udp 500 */
    memset(&sel, 0, sizeof(sel));
    prefix(&sel.remote, "192.0.2.10");
    prefix(&sel.local, "192.0.2.1");
    sel.proto = 17;
    sel.port = 500;
    ck_assert(kink_conf_selector_allowed(p, &sel));
    sel.port = 501;                         /* port mismatch */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    sel.port = 0;                           /* any port is wider */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    sel.port = 500;
    sel.proto = 6;                          /* protocol mismatch */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    sel.proto = 0;                          /* any protocol is wider */
    ck_assert(!kink_conf_selector_allowed(p, &sel));

    /* allow = 198.51.100.0/24 any local 203.0.113.0/24 */
    prefix(&sel.remote, "198.51.100.128/25");       /* inside */
    prefix(&sel.local, "203.0.113.7");
    sel.proto = 6;
    sel.port = 443;
    ck_assert(kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "198.51.100.0/23");         /* wider: outside */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "198.51.101.1");            /* next /24 */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "198.51.100.1");
    prefix(&sel.local, "203.0.114.7");              /* local outside */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    /* An IPv6 selector never matches an IPv4 entry. */
    prefix(&sel.remote, "::ffff:198.51.100.1");
    prefix(&sel.local, "::ffff:203.0.113.7");
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    kink_conf_free(ctx, cfg);
}
END_TEST

START_TEST(test_selectors_v6)
{
    struct kink_conf *cfg = parse_ok(full_conf);
    const struct kink_conf_peer *p = &cfg->peers[1];
    struct kink_conf_selector sel;

    /* allow = 2001:db8::/64 tcp 22, no local restriction */
    memset(&sel, 0, sizeof(sel));
    prefix(&sel.remote, "2001:db8::20");
    prefix(&sel.local, "2001:db8:ffff::1");
    sel.proto = 6;
    sel.port = 22;
    ck_assert(kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "2001:db8::ffff:ffff:ffff:ffff");
    ck_assert(kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "2001:db8::/64");
    ck_assert(kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "2001:db8:0:1::1");         /* next /64 */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "2001:db8::/63");           /* wider */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    prefix(&sel.remote, "2001:db8::20");
    sel.proto = 17;                                 /* protocol mismatch */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    sel.proto = 6;
    sel.port = 23;                                  /* port mismatch */
    ck_assert(!kink_conf_selector_allowed(p, &sel));
    kink_conf_free(ctx, cfg);
}
END_TEST

START_TEST(test_prefix_parse)
{
    struct kink_conf_prefix p;
    const char *why;

    ck_assert_int_eq(kink_conf_parse_prefix("0.0.0.0/0", &p, &why), 0);
    ck_assert_uint_eq(p.plen, 0);
    ck_assert_int_eq(kink_conf_parse_prefix("10.1.2.3", &p, &why), 0);
    ck_assert_uint_eq(p.plen, 32);
    ck_assert_int_eq(kink_conf_parse_prefix("::/0", &p, &why), 0);
    ck_assert_int_eq(p.family, AF_INET6);
    ck_assert_int_ne(kink_conf_parse_prefix("10.0.0.0/", &p, &why), 0);
    ck_assert_int_ne(kink_conf_parse_prefix("10.0.0.0/+8", &p, &why), 0);
    ck_assert_int_ne(kink_conf_parse_prefix("", &p, &why), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("kink_conf");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_full_file);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_device_ccache);
    tcase_add_test(tc, test_load_file);
    tcase_add_loop_test(tc, test_refusal, 0,
                        sizeof(refusals) / sizeof(refusals[0]));
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_find_peer);
    tcase_add_test(tc, test_selectors_v4);
    tcase_add_test(tc, test_selectors_v6);
    tcase_add_test(tc, test_prefix_parse);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
