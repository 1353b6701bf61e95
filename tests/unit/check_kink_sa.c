/*
 * Unit tests of kinkd's SA backend interface (kink/kink_sa.h) without a
 * kernel: the ESP key lengths of every transform, the none backend (SPI
 * counter, the exact log lines the integration tests parse, keys only
 * with show_keys), the checks every backend relies on (refusals with
 * their messages), IPv4-mapped addresses, and the xfrm backend refusing
 * to open without CAP_NET_ADMIN.  The xfrm backend against a real kernel
 * is tests/uml/t_uml_xfrm_backend.sh.
 *
 * Log lines go to stderr (ks_agent_log); a test captures them by pointing
 * stderr at a file for the duration.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_agent.h"
#include "kink_sa.h"
#include "unit_util.h"

static krb5_context ctx;
static char *tmpdir;

static void
setup(void)
{
    tmpdir = unit_mkdtemp(NULL);
    ctx = unit_context_from_profile(tmpdir, "[libdefaults]\n"
                                    " default_realm = EXAMPLE.TEST\n");
    ks_agent_log_init("kinkd", TRUE, FALSE);
}

static void
teardown(void)
{
    krb5_free_context(ctx);
    unit_rmtree(tmpdir);
    free(tmpdir);
}

/* ---- capturing stderr ---- */

static int saved_stderr = -1;
static char *capture_path;

static void
capture_begin(void)
{
    int fd;

    capture_path = unit_path(tmpdir, "log");
    fflush(stderr);
    saved_stderr = dup(2);
    fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, 2), 2);
    close(fd);
}

/* The captured text (malloc'ed). */
static char *
capture_end(void)
{
    FILE *f;
    char *buf;
    long n;

    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    f = fopen(capture_path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, n, f), n);
    fclose(f);
    free(capture_path);
    return buf;
}

/* ---- building pairs ---- */

static struct sockaddr_storage
sa4(const char *s)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    s4->sin_family = AF_INET;
    s4->sin_port = htons(910);
    ck_assert_int_eq(inet_pton(AF_INET, s, &s4->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage
sa6(const char *s)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    s6->sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, s, &s6->sin6_addr), 1);
    return ss;
}

static struct kink_conf_prefix
pfx(int family, const char *s, unsigned int plen)
{
    struct kink_conf_prefix p;

    memset(&p, 0, sizeof(p));
    p.family = family;
    ck_assert_int_eq(inet_pton(family, s, p.addr), 1);
    p.plen = plen;
    return p;
}

static struct kink_isakmp_esp
esp(uint8_t id, uint16_t bits, uint16_t auth, uint16_t mode)
{
    struct kink_isakmp_esp e;

    memset(&e, 0, sizeof(e));
    e.transform_id = id;
    e.key_bits = bits;
    e.auth_alg = auth;
    e.encap_mode = mode;
    return e;
}

/* Keys with recognizable bytes: in = 0x10, 0x11, ...; out = 0xa0, ... */
static void
fill(struct kink_sa_dir *d, unsigned char base, uint32_t spi,
     const struct kink_isakmp_esp *e)
{
    size_t i;

    ck_assert_int_eq(kink_sa_key_lengths(e, &d->enc_key_len,
                                         &d->auth_key_len), 0);
    for (i = 0; i < d->enc_key_len; i++)
        d->enc_key[i] = (unsigned char)(base + i);
    for (i = 0; i < d->auth_key_len; i++)
        d->auth_key[i] = (unsigned char)(base + 0x40 + i);
    d->spi = spi;
}

static struct kink_sa_pair
pair_gcm(void)
{
    struct kink_sa_pair p;

    memset(&p, 0, sizeof(p));
    p.local = sa4("10.9.0.1");
    p.remote = sa4("10.9.0.2");
    p.esp = esp(KINK_ESP_AES_GCM_16, 256, 0, KINK_ENCAP_TRANSPORT);
    p.reqid = 3;
    p.hard_seconds = 3600;
    p.soft_seconds = 3240;
    fill(&p.in, 0x10, 0x1001, &p.esp);
    fill(&p.out, 0xa0, 0x1002, &p.esp);
    return p;
}

static struct kink_sa_backend *
open_none(int show_keys)
{
    struct kink_sa_backend *be = NULL;

    ck_assert_int_eq(kink_sa_open(ctx, KINK_CONF_BACKEND_NONE, show_keys,
                                  NULL, NULL, &be), 0);
    ck_assert_ptr_nonnull(be);
    return be;
}

/* ---- key lengths ---- */

START_TEST(test_key_lengths)
{
    static const struct {
        uint8_t id;
        uint16_t bits, auth;
        size_t enc, integ;
    } ok[] = {
        { KINK_ESP_AES_CBC, 128, KINK_AUTH_HMAC_SHA1, 16, 20 },
        { KINK_ESP_AES_CBC, 128, KINK_AUTH_HMAC_SHA2_256, 16, 32 },
        { KINK_ESP_AES_CBC, 192, KINK_AUTH_HMAC_SHA1, 24, 20 },
        { KINK_ESP_AES_CBC, 256, KINK_AUTH_HMAC_SHA1, 32, 20 },
        { KINK_ESP_AES_CBC, 256, KINK_AUTH_HMAC_SHA2_256, 32, 32 },
        /* RFC 4106 8.1: key plus a 4-octet salt, no integrity key. */
        { KINK_ESP_AES_GCM_16, 128, 0, 20, 0 },
        { KINK_ESP_AES_GCM_16, 192, 0, 28, 0 },
        { KINK_ESP_AES_GCM_16, 256, 0, 36, 0 },
    };
    size_t i, enc, integ;
    struct kink_isakmp_esp e;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        e = esp(ok[i].id, ok[i].bits, ok[i].auth, KINK_ENCAP_TRANSPORT);
        ck_assert_int_eq(kink_sa_key_lengths(&e, &enc, &integ), 0);
        ck_assert_uint_eq(enc, ok[i].enc);
        ck_assert_uint_eq(integ, ok[i].integ);
        ck_assert_uint_le(enc, KINK_SA_MAX_KEY);
        ck_assert_uint_le(integ, KINK_SA_MAX_KEY);
    }
}
END_TEST

START_TEST(test_key_lengths_refused)
{
    struct kink_isakmp_esp bad[] = {
        esp(KINK_ESP_AES_GCM_16, 256, KINK_AUTH_HMAC_SHA1, 0),
        esp(KINK_ESP_AES_CBC, 128, 0, 0),           /* no integrity */
        esp(KINK_ESP_AES_CBC, 128, 1, 0),           /* HMAC-MD5 */
        esp(KINK_ESP_AES_CBC, 0, KINK_AUTH_HMAC_SHA1, 0),
        esp(KINK_ESP_AES_CBC, 100, KINK_AUTH_HMAC_SHA1, 0),
        esp(KINK_ESP_AES_GCM_16, 512, 0, 0),
        esp(3 /* 3DES */, 192, KINK_AUTH_HMAC_SHA1, 0),
    };
    size_t i, enc = 99, integ = 99;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(kink_sa_key_lengths(&bad[i], &enc, &integ), EINVAL);
        ck_assert_uint_eq(enc, 0);
        ck_assert_uint_eq(integ, 0);
    }
}
END_TEST

/* ---- the none backend ---- */

START_TEST(test_none_basics)
{
    struct kink_sa_backend *be = open_none(0);

    ck_assert_str_eq(kink_sa_name(be), "none");
    ck_assert_int_eq(kink_sa_event_fd(be), -1);
    kink_sa_process_events(be);         /* nothing, never blocks */
    kink_sa_close(be);
    kink_sa_close(NULL);
}
END_TEST

START_TEST(test_none_spis)
{
    struct kink_sa_backend *be = open_none(0), *be2 = open_none(0);
    struct sockaddr_storage l = sa4("10.9.0.1"), r = sa4("10.9.0.2");
    uint32_t s1, s2, s3, t1, t2;
    char *log;

    capture_begin();
    ck_assert_int_eq(kink_sa_alloc_spi(be, (struct sockaddr *)&l,
                                       (struct sockaddr *)&r, 1, &s1), 0);
    ck_assert_int_eq(kink_sa_alloc_spi(be, (struct sockaddr *)&l,
                                       (struct sockaddr *)&r, 1, &s2), 0);
    kink_sa_release_spi(be, (struct sockaddr *)&l, (struct sockaddr *)&r,
                        s2);
    ck_assert_int_eq(kink_sa_alloc_spi(be, (struct sockaddr *)&l,
                                       (struct sockaddr *)&r, 1, &s3), 0);
    ck_assert_int_eq(kink_sa_alloc_spi(be2, (struct sockaddr *)&l,
                                       (struct sockaddr *)&r, 1, &t1), 0);
    ck_assert_int_eq(kink_sa_alloc_spi(be2, (struct sockaddr *)&l,
                                       (struct sockaddr *)&r, 1, &t2), 0);
    log = capture_end();
    /* A counter from a random start >= 256; a released SPI is not
     * handed out again at once. */
    ck_assert_uint_ge(s1, 256);
    ck_assert_uint_eq(s2, s1 + 1);
    ck_assert_uint_eq(s3, s2 + 1);
    ck_assert_uint_ge(t1, 256);
    ck_assert_uint_eq(t2, t1 + 1);
    /* Two backends (two daemons) start apart: equal starts would be a
     * 1 in 2^31 coincidence. */
    ck_assert_uint_ne(s1, t1);
    /* Reservations are logged at debug level. */
    {
        char want[128];

        snprintf(want, sizeof(want), "kinkd: none: reserved SPI 0x%08x for "
                 "SAs from 10.9.0.2 (reqid 1)\n", s1);
        ck_assert_ptr_nonnull(strstr(log, want));
        snprintf(want, sizeof(want), "kinkd: none: released SPI 0x%08x\n",
                 s2);
        ck_assert_ptr_nonnull(strstr(log, want));
    }
    free(log);
    kink_sa_close(be);
    kink_sa_close(be2);
}
END_TEST

START_TEST(test_none_add_delete_log)
{
    struct kink_sa_backend *be = open_none(0);
    struct kink_sa_pair p = pair_gcm();
    char *log;

    capture_begin();
    ck_assert_int_eq(kink_sa_add(be, &p), 0);
    ck_assert_int_eq(kink_sa_delete(be, &p, 0), 0);
    ck_assert_int_eq(kink_sa_delete(be, &p, 1), 0);
    log = capture_end();
    ck_assert_str_eq(log,
        "kinkd: none: would install SA pair with 10.9.0.2: in SPI "
        "0x00001001, out SPI 0x00001002, esp aes256-gcm16, transport, "
        "selector 10.9.0.2/32 <-> 10.9.0.1/32, lifetime 3600 s (soft 3240 "
        "s)\n"
        "kinkd: none: would delete SA pair with 10.9.0.2: in SPI "
        "0x00001001, out SPI 0x00001002\n"
        "kinkd: none: would delete SA pair with 10.9.0.2: in SPI "
        "0x00001001, out SPI 0x00001002, and the policies of selector "
        "10.9.0.2/32 <-> 10.9.0.1/32\n");
    free(log);
    kink_sa_close(be);
}
END_TEST

START_TEST(test_none_keys_only_with_show_keys)
{
    struct kink_sa_backend *quiet = open_none(0), *loud = open_none(1);
    struct kink_sa_pair p = pair_gcm();
    struct kink_sa_pair c;
    char *log;

    capture_begin();
    ck_assert_int_eq(kink_sa_add(quiet, &p), 0);
    log = capture_end();
    /* No key bytes in any form: 0x10 0x11 ... as hex. */
    ck_assert_ptr_null(strstr(log, "101112"));
    ck_assert_ptr_null(strstr(log, "keys"));
    free(log);

    capture_begin();
    ck_assert_int_eq(kink_sa_add(loud, &p), 0);
    log = capture_end();
    ck_assert_ptr_nonnull(strstr(log,
        "kinkd: none: in SPI 0x00001001 keys enc "
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
        "30313233 auth -\n"
        "kinkd: none: out SPI 0x00001002 keys enc "
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3 auth -\n"));
    free(log);

    /* AES-CBC with HMAC-SHA1: both keys, integrity second. */
    c = p;
    c.esp = esp(KINK_ESP_AES_CBC, 128, KINK_AUTH_HMAC_SHA1,
                KINK_ENCAP_TRANSPORT);
    fill(&c.in, 0x10, 0x2001, &c.esp);
    fill(&c.out, 0xa0, 0x2002, &c.esp);
    capture_begin();
    ck_assert_int_eq(kink_sa_add(loud, &c), 0);
    log = capture_end();
    ck_assert_ptr_nonnull(strstr(log, "esp aes128-cbc/hmac-sha1-96, "));
    ck_assert_ptr_nonnull(strstr(log,
        "kinkd: none: in SPI 0x00002001 keys enc "
        "101112131415161718191a1b1c1d1e1f auth "
        "505152535455565758595a5b5c5d5e5f60616263\n"));
    free(log);
    kink_sa_close(quiet);
    kink_sa_close(loud);
}
END_TEST

START_TEST(test_none_formats)
{
    struct kink_sa_backend *be = open_none(0);
    struct kink_sa_pair p = pair_gcm(), q;
    struct sockaddr_storage l6 = sa6("fd00::1"), r6 = sa6("fd00::2");
    char *log;

    capture_begin();
    /* Tunnel mode: the selector as given; byte lifetimes; an open local
     * side. */
    q = p;
    q.esp = esp(KINK_ESP_AES_CBC, 256, KINK_AUTH_HMAC_SHA2_256,
                KINK_ENCAP_TUNNEL);
    fill(&q.in, 0x10, 0x3001, &q.esp);
    fill(&q.out, 0xa0, 0x3002, &q.esp);
    q.sel.remote = pfx(AF_INET, "10.20.2.0", 24);
    q.sel.local = pfx(AF_INET, "10.20.1.0", 24);
    q.hard_kbytes = 1000;
    q.soft_kbytes = 900;
    ck_assert_int_eq(kink_sa_add(be, &q), 0);
    memset(&q.sel.local, 0, sizeof(q.sel.local));
    q.hard_seconds = q.soft_seconds = 0;
    q.hard_kbytes = q.soft_kbytes = 0;
    ck_assert_int_eq(kink_sa_add(be, &q), 0);

    /* IPv6 transport with protocol and port; the selector's prefixes do
     * not matter in transport mode (the hosts are the selector). */
    q = p;
    q.local = l6;
    q.remote = r6;
    q.sel.remote = pfx(AF_INET6, "fd00::", 64);
    q.sel.proto = 6;
    q.sel.port = 443;
    ck_assert_int_eq(kink_sa_add(be, &q), 0);

    /* Trap policies. */
    ck_assert_int_eq(kink_sa_add_trap(be, (struct sockaddr *)&l6,
                                      (struct sockaddr *)&r6, &q.sel, 4, 0),
                     0);
    log = capture_end();
    ck_assert_str_eq(log,
        "kinkd: none: would install SA pair with 10.9.0.2: in SPI "
        "0x00003001, out SPI 0x00003002, esp aes256-cbc/hmac-sha256-128, "
        "tunnel, selector 10.20.2.0/24 <-> 10.20.1.0/24, lifetime 3600 s "
        "(soft 3240 s), 1000 KiB (soft 900 KiB)\n"
        "kinkd: none: would install SA pair with 10.9.0.2: in SPI "
        "0x00003001, out SPI 0x00003002, esp aes256-cbc/hmac-sha256-128, "
        "tunnel, selector 10.20.2.0/24 <-> 0.0.0.0/0, lifetime none\n"
        "kinkd: none: would install SA pair with fd00::2: in SPI "
        "0x00001001, out SPI 0x00001002, esp aes256-gcm16, transport, "
        "selector fd00::2/128 <-> fd00::1/128 proto 6 port 443, lifetime "
        "3600 s (soft 3240 s)\n"
        "kinkd: none: would install trap policies for selector "
        "fd00::2/128 <-> fd00::1/128 proto 6 port 443 (reqid 4, "
        "transport)\n");
    free(log);
    kink_sa_close(be);
}
END_TEST

START_TEST(test_mapped_addresses)
{
    struct kink_sa_backend *be = open_none(0);
    struct kink_sa_pair p = pair_gcm();
    uint32_t spi;
    char *log;

    /* A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d. */
    p.remote = sa6("::ffff:10.9.0.2");
    capture_begin();
    ck_assert_int_eq(kink_sa_add(be, &p), 0);
    ck_assert_int_eq(kink_sa_alloc_spi(be, (struct sockaddr *)&p.local,
                                       (struct sockaddr *)&p.remote, 1,
                                       &spi), 0);
    log = capture_end();
    ck_assert_ptr_nonnull(strstr(log, "would install SA pair with 10.9.0.2:"
                                 " in SPI 0x00001001"));
    ck_assert_ptr_nonnull(strstr(log, "selector 10.9.0.2/32 <-> "
                                 "10.9.0.1/32,"));
    ck_assert_ptr_nonnull(strstr(log, "for SAs from 10.9.0.2 "));
    free(log);
    kink_sa_close(be);
}
END_TEST

/* kink_sa_add refuses p with EINVAL and exactly msg. */
static void
refused(struct kink_sa_backend *be, const struct kink_sa_pair *p,
        const char *msg)
{
    char *log;

    capture_begin();
    ck_assert_int_eq(kink_sa_add(be, p), EINVAL);
    log = capture_end();
    ck_assert_str_eq(unit_errmsg(ctx, EINVAL), msg);
    /* Nothing was "installed". */
    ck_assert_str_eq(log, "");
    free(log);
}

START_TEST(test_refusals)
{
    struct kink_sa_backend *be = open_none(1), *x = NULL;
    struct kink_sa_pair p, ok = pair_gcm();
    struct sockaddr_storage l = sa4("10.9.0.1"), r6 = sa6("fd00::2");
    struct sockaddr_storage un;
    uint32_t spi = 7;

    p = ok; p.in.enc_key_len = 32;      /* salt missing */
    refused(be, &p, "SA pair with 10.9.0.2: encryption key length does "
            "not match the transform");
    p = ok; p.out.auth_key_len = 20;
    refused(be, &p, "SA pair with 10.9.0.2: integrity key length does not "
            "match the transform");
    p = ok; p.esp.key_bits = 100;
    refused(be, &p, "SA pair with 10.9.0.2: unsupported ESP transform");
    p = ok; p.esp.encap_mode = 3;
    refused(be, &p, "SA pair with 10.9.0.2: encapsulation mode is neither "
            "transport nor tunnel");
    p = ok; p.in.spi = 255;
    refused(be, &p, "SA pair with 10.9.0.2: SPI below 256 (reserved)");
    p = ok; p.out.spi = 0;
    refused(be, &p, "SA pair with 10.9.0.2: SPI below 256 (reserved)");
    p = ok; p.soft_seconds = 3601;
    refused(be, &p, "SA pair with 10.9.0.2: soft lifetime beyond the hard "
            "one");
    p = ok; p.hard_kbytes = 10; p.soft_kbytes = 11;
    refused(be, &p, "SA pair with 10.9.0.2: soft byte lifetime beyond the "
            "hard one");
    p = ok; p.remote = r6;
    refused(be, &p, "SA pair: local and peer addresses are of different "
            "families");
    memset(&un, 0, sizeof(un));
    un.ss_family = AF_UNIX;
    p = ok; p.remote = un;
    refused(be, &p, "SA pair: peer address is not IPv4 or IPv6");
    p = ok; p.local = un;
    refused(be, &p, "SA pair: local address is not IPv4 or IPv6");
    p = ok; p.esp.encap_mode = KINK_ENCAP_TUNNEL;
    refused(be, &p, "SA pair with 10.9.0.2: tunnel mode selector has no "
            "valid peer side prefix");
    p.sel.remote = pfx(AF_INET, "10.20.2.0", 24);
    p.sel.local = pfx(AF_INET6, "fd00::", 64);
    refused(be, &p, "SA pair with 10.9.0.2: selector sides are of "
            "different families");
    p.sel.local = pfx(AF_INET, "10.20.1.0", 33);
    refused(be, &p, "SA pair with 10.9.0.2: tunnel mode selector has an "
            "invalid local side prefix");
    p = ok; p.sel.remote = pfx(AF_INET6, "fd00::", 64);
    refused(be, &p, "SA pair with 10.9.0.2: transport mode selector is not "
            "of the peer address's family");

    /* The other calls check their addresses too. */
    ck_assert_int_eq(kink_sa_alloc_spi(be, (struct sockaddr *)&l,
                                       (struct sockaddr *)&r6, 1, &spi),
                     EINVAL);
    ck_assert_uint_eq(spi, 0);
    ck_assert_str_eq(unit_errmsg(ctx, EINVAL), "SPI allocation: local and "
                     "peer addresses are of different families");
    ck_assert_int_eq(kink_sa_add_trap(be, (struct sockaddr *)&l,
                                      (struct sockaddr *)&un, &ok.sel, 1, 0),
                     EINVAL);
    ck_assert_str_eq(unit_errmsg(ctx, EINVAL), "trap policy: peer address "
                     "is not IPv4 or IPv6");
    ck_assert_int_eq(kink_sa_add_trap(be, (struct sockaddr *)&ok.local,
                                      (struct sockaddr *)&ok.remote, &ok.sel,
                                      1, 1), EINVAL);
    ck_assert_str_eq(unit_errmsg(ctx, EINVAL), "trap policy for 10.9.0.2: "
                     "tunnel mode selector has no valid peer side prefix");
    p = ok; p.esp.encap_mode = KINK_ENCAP_TUNNEL;
    ck_assert_int_eq(kink_sa_delete(be, &p, 1), EINVAL);
    ck_assert_int_eq(kink_sa_bypass_socket(be, 0, AF_UNIX), EINVAL);
    ck_assert_int_eq(kink_sa_bypass_socket(be, 0, AF_INET), 0);
    kink_sa_close(be);

    ck_assert_int_eq(kink_sa_open(ctx, (enum kink_conf_backend)7, 0, NULL,
                                  NULL, &x), EINVAL);
    ck_assert_ptr_null(x);
    ck_assert_str_eq(unit_errmsg(ctx, EINVAL), "unknown SA backend 7");
}
END_TEST

/* Without CAP_NET_ADMIN the xfrm backend does not open, and says why.
 * Run in a child that drops root if it has it. */
START_TEST(test_xfrm_needs_cap_net_admin)
{
    int pfd[2], status;
    pid_t pid;
    char msg[512] = "";
    ssize_t n;

    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct kink_sa_backend *be = NULL;
        krb5_error_code ret;
        const char *m;

        close(pfd[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        ret = kink_sa_open(ctx, KINK_CONF_BACKEND_XFRM, 0, NULL, NULL, &be);
        if (ret == 0)
            _exit(4);
        m = krb5_get_error_message(ctx, ret);
        if (write(pfd[1], m, strlen(m)) < 0)
            _exit(5);
        _exit(ret == EPERM ? 0 : 6);
    }
    close(pfd[1]);
    n = read(pfd[0], msg, sizeof(msg) - 1);
    close(pfd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (n > 0)
        msg[n] = '\0';
    if (strstr(msg, "NETLINK_XFRM socket: Protocol not supported") != NULL)
        return;                 /* no XFRM at all here: nothing to check */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %d, message \"%s\"", status, msg);
    ck_assert_str_eq(msg, "xfrm backend: cannot subscribe to XFRM ACQUIRE "
                     "and EXPIRE events: Operation not permitted (kinkd "
                     "needs CAP_NET_ADMIN)");
}
END_TEST

static Suite *
suite(void)
{
    Suite *s = suite_create("kink_sa");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_key_lengths);
    tcase_add_test(tc, test_key_lengths_refused);
    tcase_add_test(tc, test_none_basics);
    tcase_add_test(tc, test_none_spis);
    tcase_add_test(tc, test_none_add_delete_log);
    tcase_add_test(tc, test_none_keys_only_with_show_keys);
    tcase_add_test(tc, test_none_formats);
    tcase_add_test(tc, test_mapped_addresses);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_xfrm_needs_cap_net_admin);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(suite());
}
