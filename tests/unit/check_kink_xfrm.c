/*
 * Unit tests of the XFRM netlink message builders and parser
 * (kink/kink_xfrm_msg.h).
 *
 * The kernel structs of <linux/netlink.h> and <linux/xfrm.h> are the spec:
 * each expected message is assembled in a zeroed buffer by writing literal
 * values at offsetof() positions of those structs (host byte order for
 * kernel integers, literal network-order bytes for SPIs, ports and
 * addresses), and the built message must equal it byte for byte, padding
 * included.  On x86_64 a few absolute sizes are pinned too, so a changed
 * header would be noticed.  Then parsing of hand-built ACQUIRE, EXPIRE,
 * ERROR and NEWSA messages and of a stream of several, and refusals:
 * truncation at every length, nlmsg_len beyond the buffer or below the
 * header, rta_len below 4 or overrunning, short bodies, bad errno values,
 * and unknown types being skipped.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>
#include <check.h>
#include <krb5/krb5.h>

#include "kink_xfrm_msg.h"
#include "unit_util.h"

#define H NLMSG_HDRLEN

static void
put8(unsigned char *b, size_t off, uint8_t v)
{
    b[off] = v;
}

static void
put16(unsigned char *b, size_t off, uint16_t v)
{
    memcpy(b + off, &v, 2);
}

static void
put32(unsigned char *b, size_t off, uint32_t v)
{
    memcpy(b + off, &v, 4);
}

static void
put64(unsigned char *b, size_t off, uint64_t v)
{
    memcpy(b + off, &v, 8);
}

static void
putb(unsigned char *b, size_t off, const void *v, size_t n)
{
    memcpy(b + off, v, n);
}

static void
put_nlhdr(unsigned char *b, uint32_t len, uint16_t type, uint16_t flags,
          uint32_t seq)
{
    put32(b, offsetof(struct nlmsghdr, nlmsg_len), len);
    put16(b, offsetof(struct nlmsghdr, nlmsg_type), type);
    put16(b, offsetof(struct nlmsghdr, nlmsg_flags), flags);
    put32(b, offsetof(struct nlmsghdr, nlmsg_seq), seq);
    put32(b, offsetof(struct nlmsghdr, nlmsg_pid), 0);
}

static void
put_attr(unsigned char *b, size_t off, uint16_t len, uint16_t type)
{
    put16(b, off + offsetof(struct rtattr, rta_len), len);
    put16(b, off + offsetof(struct rtattr, rta_type), type);
}

static const unsigned char ip_a[4] = { 192, 0, 2, 1 };
static const unsigned char ip_b[4] = { 192, 0, 2, 2 };
static const unsigned char ip6_a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 1 };
static const unsigned char ip6_b[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 2 };
static const uint64_t INF = 0xffffffffffffffffULL;

static xfrm_address_t
addr(const unsigned char *p, size_t n)
{
    xfrm_address_t a;

    memset(&a, 0, sizeof(a));
    memcpy(&a, p, n);
    return a;
}

static void
check_same(const unsigned char *got, size_t got_len,
           const unsigned char *exp, size_t exp_len)
{
    size_t i;

    ck_assert_uint_eq(got_len, exp_len);
    for (i = 0; i < exp_len; i++) {
        if (got[i] != exp[i])
            ck_abort_msg("byte %zu: got 0x%02x, expected 0x%02x", i, got[i],
                         exp[i]);
    }
}

START_TEST(test_sizes_x86_64)
{
#if defined(__x86_64__)
    /* The kernel's 64-bit layouts; 32-bit userland differs (the compat
     * problem of xfrm_usersa_info), which is why everything else below
     * uses offsetof. */
    ck_assert_uint_eq(sizeof(struct xfrm_selector), 56);
    ck_assert_uint_eq(sizeof(struct xfrm_usersa_info), 224);
    ck_assert_uint_eq(sizeof(struct xfrm_userspi_info), 232);
    ck_assert_uint_eq(sizeof(struct xfrm_userpolicy_info), 168);
    ck_assert_uint_eq(sizeof(struct xfrm_user_tmpl), 64);
    ck_assert_uint_eq(sizeof(struct xfrm_algo), 68);
    ck_assert_uint_eq(sizeof(struct xfrm_algo_auth), 72);
    ck_assert_uint_eq(sizeof(struct xfrm_algo_aead), 72);
    ck_assert_uint_eq(offsetof(struct xfrm_usersa_info, id), 56);
    ck_assert_uint_eq(offsetof(struct xfrm_usersa_info, family), 212);
#endif
}
END_TEST

/* Selector 192.0.2.1/32 -> 192.0.2.2/32, UDP, sport any, dport 500. */
static struct kink_xfrm_sel
sel4(void)
{
    struct kink_xfrm_sel s;

    memset(&s, 0, sizeof(s));
    s.family = AF_INET;
    s.saddr = addr(ip_a, 4);
    s.daddr = addr(ip_b, 4);
    s.prefixlen_s = 32;
    s.prefixlen_d = 32;
    s.proto = IPPROTO_UDP;
    s.dport = 500;
    return s;
}

/* The expected bytes of sel4() at offset off. */
static void
put_sel4(unsigned char *b, size_t off)
{
    static const unsigned char port500[2] = { 0x01, 0xf4 };  /* 500, BE */

    putb(b, off + offsetof(struct xfrm_selector, daddr), ip_b, 4);
    putb(b, off + offsetof(struct xfrm_selector, saddr), ip_a, 4);
    putb(b, off + offsetof(struct xfrm_selector, dport), port500, 2);
    put16(b, off + offsetof(struct xfrm_selector, dport_mask), 0xffff);
    /* sport 0 with sport_mask 0: any */
    put16(b, off + offsetof(struct xfrm_selector, family), 2);   /* AF_INET */
    put8(b, off + offsetof(struct xfrm_selector, prefixlen_d), 32);
    put8(b, off + offsetof(struct xfrm_selector, prefixlen_s), 32);
    put8(b, off + offsetof(struct xfrm_selector, proto), 17);    /* UDP */
}

START_TEST(test_allocspi_layout)
{
    unsigned char buf[512], exp[512];
    xfrm_address_t s = addr(ip_a, 4), d = addr(ip_b, 4);
    size_t len, B = H + offsetof(struct xfrm_userspi_info, info);
    const char *why = NULL;
    size_t want = H + sizeof(struct xfrm_userspi_info);

    ck_assert_int_eq(kink_xfrm_build_allocspi(buf, sizeof(buf), 7, AF_INET,
                                              &s, &d, 42, 0, 0x100,
                                              0xffffffff, &len, &why), 0);
    memset(exp, 0, sizeof(exp));
    put_nlhdr(exp, want, 22 /* XFRM_MSG_ALLOCSPI */, 0x1 /* REQUEST */, 7);
    putb(exp, B + offsetof(struct xfrm_usersa_info, id.daddr), ip_b, 4);
    put8(exp, B + offsetof(struct xfrm_usersa_info, id.proto), 50); /* ESP */
    putb(exp, B + offsetof(struct xfrm_usersa_info, saddr), ip_a, 4);
    put16(exp, B + offsetof(struct xfrm_usersa_info, sel.family), 2);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.soft_byte_limit),
          INF);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.hard_byte_limit),
          INF);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.soft_packet_limit),
          INF);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.hard_packet_limit),
          INF);
    put32(exp, B + offsetof(struct xfrm_usersa_info, reqid), 42);
    put16(exp, B + offsetof(struct xfrm_usersa_info, family), 2);
    put8(exp, B + offsetof(struct xfrm_usersa_info, mode), 0); /* transport */
    put32(exp, H + offsetof(struct xfrm_userspi_info, min), 0x100);
    put32(exp, H + offsetof(struct xfrm_userspi_info, max), 0xffffffff);
    check_same(buf, len, exp, want);
}
END_TEST

static const unsigned char key16[16] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
static const unsigned char key20[20] = {
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
    0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3 };
static const unsigned char key32[32] = {
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
    0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f };
/* AES-256 key then the 4-byte salt (RFC 4106 section 8.1). */
static const unsigned char gcm36[36] = {
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
    0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0xde, 0xad, 0xbe, 0xef };

static struct kink_xfrm_sa
sa_cbc_sha1(void)
{
    struct kink_xfrm_sa sa;

    memset(&sa, 0, sizeof(sa));
    sa.family = AF_INET;
    sa.saddr = addr(ip_a, 4);
    sa.daddr = addr(ip_b, 4);
    sa.spi = 0x00001234;
    sa.reqid = 9;
    sa.replay_window = 32;
    sa.sel = sel4();
    sa.soft_bytes = 1000000;
    sa.hard_bytes = 2000000;
    sa.soft_seconds = 3000;
    sa.hard_seconds = 3600;
    sa.enc = KINK_XFRM_ENC_AES_CBC;
    sa.enc_key = key16;
    sa.enc_key_len = 16;
    sa.auth = KINK_XFRM_AUTH_HMAC_SHA1_96;
    sa.auth_key = key20;
    sa.auth_key_len = 20;
    return sa;
}

/* The expected usersa_info of sa_cbc_sha1() at H; mode and flags given. */
static void
put_sa_cbc_sha1_info(unsigned char *exp)
{
    static const unsigned char spi[4] = { 0x00, 0x00, 0x12, 0x34 };

    put_sel4(exp, H + offsetof(struct xfrm_usersa_info, sel));
    putb(exp, H + offsetof(struct xfrm_usersa_info, id.daddr), ip_b, 4);
    putb(exp, H + offsetof(struct xfrm_usersa_info, id.spi), spi, 4);
    put8(exp, H + offsetof(struct xfrm_usersa_info, id.proto), 50);
    putb(exp, H + offsetof(struct xfrm_usersa_info, saddr), ip_a, 4);
    put64(exp, H + offsetof(struct xfrm_usersa_info, lft.soft_byte_limit),
          1000000);
    put64(exp, H + offsetof(struct xfrm_usersa_info, lft.hard_byte_limit),
          2000000);
    put64(exp, H + offsetof(struct xfrm_usersa_info, lft.soft_packet_limit),
          INF);
    put64(exp, H + offsetof(struct xfrm_usersa_info, lft.hard_packet_limit),
          INF);
    put64(exp, H + offsetof(struct xfrm_usersa_info,
                            lft.soft_add_expires_seconds), 3000);
    put64(exp, H + offsetof(struct xfrm_usersa_info,
                            lft.hard_add_expires_seconds), 3600);
    put32(exp, H + offsetof(struct xfrm_usersa_info, reqid), 9);
    put16(exp, H + offsetof(struct xfrm_usersa_info, family), 2);
    put8(exp, H + offsetof(struct xfrm_usersa_info, replay_window), 32);
}

START_TEST(test_newsa_cbc_sha1_layout)
{
    unsigned char buf[1024], exp[1024];
    struct kink_xfrm_sa sa = sa_cbc_sha1();
    size_t len, a1 = H + sizeof(struct xfrm_usersa_info);
    size_t a2 = a1 + 88, want = a2 + 96;
    const char *why = NULL;

    ck_assert_int_eq(kink_xfrm_build_newsa(buf, sizeof(buf), 0x01020304, &sa,
                                           &len, &why), 0);
    memset(exp, 0, sizeof(exp));
    /* REQUEST|ACK|EXCL|CREATE = 0x1|0x4|0x200|0x400 */
    put_nlhdr(exp, want, 16 /* XFRM_MSG_NEWSA */, 0x605, 0x01020304);
    put_sa_cbc_sha1_info(exp);
    put8(exp, H + offsetof(struct xfrm_usersa_info, mode), 0); /* transport */
    /* XFRMA_ALG_CRYPT: rtattr 4 + xfrm_algo 68 + key 16 = 88 */
    put_attr(exp, a1, 88, 2);
    putb(exp, a1 + 4 + offsetof(struct xfrm_algo, alg_name), "cbc(aes)", 8);
    put32(exp, a1 + 4 + offsetof(struct xfrm_algo, alg_key_len), 128);
    putb(exp, a1 + 4 + offsetof(struct xfrm_algo, alg_key), key16, 16);
    /* XFRMA_ALG_AUTH_TRUNC (20): 4 + xfrm_algo_auth 72 + key 20 = 96 */
    put_attr(exp, a2, 96, 20);
    putb(exp, a2 + 4 + offsetof(struct xfrm_algo_auth, alg_name),
         "hmac(sha1)", 10);
    put32(exp, a2 + 4 + offsetof(struct xfrm_algo_auth, alg_key_len), 160);
    put32(exp, a2 + 4 + offsetof(struct xfrm_algo_auth, alg_trunc_len), 96);
    putb(exp, a2 + 4 + offsetof(struct xfrm_algo_auth, alg_key), key20, 20);
    check_same(buf, len, exp, want);
}
END_TEST

START_TEST(test_updsa_cbc256_sha256_tunnel_layout)
{
    unsigned char buf[1024], exp[1024];
    struct kink_xfrm_sa sa = sa_cbc_sha1();
    size_t len, a1 = H + sizeof(struct xfrm_usersa_info);
    size_t a2 = a1 + 104, want = a2 + 108;
    const char *why = NULL;

    sa.enc_key = key32;
    sa.enc_key_len = 32;
    sa.auth = KINK_XFRM_AUTH_HMAC_SHA256_128;
    sa.auth_key = key32;
    sa.auth_key_len = 32;
    sa.tunnel = 1;
    sa.update = 1;
    ck_assert_int_eq(kink_xfrm_build_newsa(buf, sizeof(buf), 5, &sa, &len,
                                           &why), 0);
    memset(exp, 0, sizeof(exp));
    /* XFRM_MSG_UPDSA (26), REQUEST|ACK only */
    put_nlhdr(exp, want, 26, 0x5, 5);
    put_sa_cbc_sha1_info(exp);
    put8(exp, H + offsetof(struct xfrm_usersa_info, mode), 1);   /* tunnel */
    /* 4 + 68 + 32 = 104 */
    put_attr(exp, a1, 104, 2);
    putb(exp, a1 + 4, "cbc(aes)", 8);
    put32(exp, a1 + 4 + offsetof(struct xfrm_algo, alg_key_len), 256);
    putb(exp, a1 + 4 + offsetof(struct xfrm_algo, alg_key), key32, 32);
    /* 4 + 72 + 32 = 108 */
    put_attr(exp, a2, 108, 20);
    putb(exp, a2 + 4, "hmac(sha256)", 12);
    put32(exp, a2 + 4 + offsetof(struct xfrm_algo_auth, alg_key_len), 256);
    put32(exp, a2 + 4 + offsetof(struct xfrm_algo_auth, alg_trunc_len), 128);
    putb(exp, a2 + 4 + offsetof(struct xfrm_algo_auth, alg_key), key32, 32);
    check_same(buf, len, exp, want);
}
END_TEST

START_TEST(test_newsa_gcm_v6_layout)
{
    unsigned char buf[1024], exp[1024];
    struct kink_xfrm_sa sa;
    static const unsigned char spi[4] = { 0xc0, 0xff, 0xee, 0x01 };
    size_t len, B = H, a1 = H + sizeof(struct xfrm_usersa_info);
    size_t want = a1 + 112;     /* 4 + 72 + 36 */
    const char *why = NULL;

    memset(&sa, 0, sizeof(sa));
    sa.family = AF_INET6;
    sa.saddr = addr(ip6_a, 16);
    sa.daddr = addr(ip6_b, 16);
    sa.spi = 0xc0ffee01;
    sa.tunnel = 1;
    sa.sel.family = AF_INET6;
    sa.sel.saddr = addr(ip6_a, 16);
    sa.sel.daddr = addr(ip6_b, 16);
    sa.sel.prefixlen_s = 64;
    sa.sel.prefixlen_d = 128;
    sa.enc = KINK_XFRM_ENC_AES_GCM16;
    sa.enc_key = gcm36;
    sa.enc_key_len = 36;
    ck_assert_int_eq(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len,
                                           &why), 0);
    memset(exp, 0, sizeof(exp));
    put_nlhdr(exp, want, 16, 0x605, 1);
    putb(exp, B + offsetof(struct xfrm_usersa_info, sel.daddr), ip6_b, 16);
    putb(exp, B + offsetof(struct xfrm_usersa_info, sel.saddr), ip6_a, 16);
    put16(exp, B + offsetof(struct xfrm_usersa_info, sel.family), 10);
    put8(exp, B + offsetof(struct xfrm_usersa_info, sel.prefixlen_d), 128);
    put8(exp, B + offsetof(struct xfrm_usersa_info, sel.prefixlen_s), 64);
    putb(exp, B + offsetof(struct xfrm_usersa_info, id.daddr), ip6_b, 16);
    putb(exp, B + offsetof(struct xfrm_usersa_info, id.spi), spi, 4);
    put8(exp, B + offsetof(struct xfrm_usersa_info, id.proto), 50);
    putb(exp, B + offsetof(struct xfrm_usersa_info, saddr), ip6_a, 16);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.soft_byte_limit),
          INF);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.hard_byte_limit),
          INF);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.soft_packet_limit),
          INF);
    put64(exp, B + offsetof(struct xfrm_usersa_info, lft.hard_packet_limit),
          INF);
    put16(exp, B + offsetof(struct xfrm_usersa_info, family), 10);
    put8(exp, B + offsetof(struct xfrm_usersa_info, mode), 1);
    /* XFRMA_ALG_AEAD (18) */
    put_attr(exp, a1, 112, 18);
    putb(exp, a1 + 4 + offsetof(struct xfrm_algo_aead, alg_name),
         "rfc4106(gcm(aes))", 17);
    put32(exp, a1 + 4 + offsetof(struct xfrm_algo_aead, alg_key_len), 288);
    put32(exp, a1 + 4 + offsetof(struct xfrm_algo_aead, alg_icv_len), 128);
    putb(exp, a1 + 4 + offsetof(struct xfrm_algo_aead, alg_key), gcm36, 36);
    check_same(buf, len, exp, want);
}
END_TEST

START_TEST(test_delsa_layout)
{
    unsigned char buf[256], exp[256];
    static const unsigned char spi[4] = { 0x00, 0x00, 0x12, 0x34 };
    xfrm_address_t d = addr(ip_b, 4);
    size_t len, want = H + sizeof(struct xfrm_usersa_id);
    const char *why = NULL;

    ck_assert_int_eq(kink_xfrm_build_delsa(buf, sizeof(buf), 3, AF_INET, &d,
                                           0x1234, &len, &why), 0);
    memset(exp, 0, sizeof(exp));
    put_nlhdr(exp, want, 17 /* XFRM_MSG_DELSA */, 0x5, 3);
    putb(exp, H + offsetof(struct xfrm_usersa_id, daddr), ip_b, 4);
    putb(exp, H + offsetof(struct xfrm_usersa_id, spi), spi, 4);
    put16(exp, H + offsetof(struct xfrm_usersa_id, family), 2);
    put8(exp, H + offsetof(struct xfrm_usersa_id, proto), 50);
    check_same(buf, len, exp, want);
}
END_TEST

START_TEST(test_newpolicy_layout)
{
    unsigned char buf[512], exp[512];
    struct kink_xfrm_policy pol;
    size_t len, P = H, T = H + sizeof(struct xfrm_userpolicy_info) + 4;
    size_t want = T + sizeof(struct xfrm_user_tmpl);
    const char *why = NULL;

    memset(&pol, 0, sizeof(pol));
    pol.sel = sel4();
    pol.dir = XFRM_POLICY_OUT;
    pol.priority = 2000;
    pol.tmpl_family = AF_INET;
    pol.tmpl_saddr = addr(ip_a, 4);
    pol.tmpl_daddr = addr(ip_b, 4);
    pol.reqid = 9;
    pol.tunnel = 1;
    ck_assert_int_eq(kink_xfrm_build_newpolicy(buf, sizeof(buf), 11, &pol,
                                               &len, &why), 0);
    memset(exp, 0, sizeof(exp));
    put_nlhdr(exp, want, 19 /* XFRM_MSG_NEWPOLICY */, 0x605, 11);
    put_sel4(exp, P + offsetof(struct xfrm_userpolicy_info, sel));
    put64(exp, P + offsetof(struct xfrm_userpolicy_info,
                            lft.soft_byte_limit), INF);
    put64(exp, P + offsetof(struct xfrm_userpolicy_info,
                            lft.hard_byte_limit), INF);
    put64(exp, P + offsetof(struct xfrm_userpolicy_info,
                            lft.soft_packet_limit), INF);
    put64(exp, P + offsetof(struct xfrm_userpolicy_info,
                            lft.hard_packet_limit), INF);
    put32(exp, P + offsetof(struct xfrm_userpolicy_info, priority), 2000);
    put8(exp, P + offsetof(struct xfrm_userpolicy_info, dir), 1);   /* out */
    put8(exp, P + offsetof(struct xfrm_userpolicy_info, action), 0); /* allow */
    put8(exp, P + offsetof(struct xfrm_userpolicy_info, share), 0); /* any */
    /* XFRMA_TMPL (5): 4 + 64 */
    put_attr(exp, T - 4, 4 + sizeof(struct xfrm_user_tmpl), 5);
    putb(exp, T + offsetof(struct xfrm_user_tmpl, id.daddr), ip_b, 4);
    put8(exp, T + offsetof(struct xfrm_user_tmpl, id.proto), 50);
    put16(exp, T + offsetof(struct xfrm_user_tmpl, family), 2);
    putb(exp, T + offsetof(struct xfrm_user_tmpl, saddr), ip_a, 4);
    put32(exp, T + offsetof(struct xfrm_user_tmpl, reqid), 9);
    put8(exp, T + offsetof(struct xfrm_user_tmpl, mode), 1);
    put8(exp, T + offsetof(struct xfrm_user_tmpl, optional), 0);
    put32(exp, T + offsetof(struct xfrm_user_tmpl, aalgos), 0xffffffff);
    put32(exp, T + offsetof(struct xfrm_user_tmpl, ealgos), 0xffffffff);
    put32(exp, T + offsetof(struct xfrm_user_tmpl, calgos), 0xffffffff);
    check_same(buf, len, exp, want);
}
END_TEST

START_TEST(test_delpolicy_layout)
{
    unsigned char buf[256], exp[256];
    struct kink_xfrm_sel sel = sel4();
    size_t len, want = H + sizeof(struct xfrm_userpolicy_id);
    const char *why = NULL;

    ck_assert_int_eq(kink_xfrm_build_delpolicy(buf, sizeof(buf), 12, &sel,
                                               XFRM_POLICY_FWD, &len, &why),
                     0);
    memset(exp, 0, sizeof(exp));
    put_nlhdr(exp, want, 20 /* XFRM_MSG_DELPOLICY */, 0x5, 12);
    put_sel4(exp, H + offsetof(struct xfrm_userpolicy_id, sel));
    put8(exp, H + offsetof(struct xfrm_userpolicy_id, dir), 2);    /* fwd */
    check_same(buf, len, exp, want);
}
END_TEST

START_TEST(test_build_enospc)
{
    unsigned char buf[1024];
    struct kink_xfrm_sa sa = sa_cbc_sha1();
    size_t len, full, cap;
    const char *why = NULL;

    ck_assert_int_eq(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &full,
                                           &why), 0);
    for (cap = 0; cap < full; cap++) {
        memset(buf, 0x5a, sizeof(buf));
        ck_assert_int_eq(kink_xfrm_build_newsa(buf, cap, 1, &sa, &len, &why),
                         ENOSPC);
        ck_assert_uint_eq(len, 0);
        /* Nothing written past (or at all within) the too-small buffer. */
        ck_assert_uint_eq(buf[cap], 0x5a);
    }
}
END_TEST

START_TEST(test_build_refusals)
{
    unsigned char buf[1024];
    struct kink_xfrm_sa sa;
    struct kink_xfrm_policy pol;
    xfrm_address_t a = addr(ip_a, 4);
    size_t len;
    const char *why;

#define REFUSE(expr) do { why = NULL; ck_assert_int_eq((expr), EINVAL); \
        ck_assert_ptr_nonnull(why); } while (0)
    sa = sa_cbc_sha1(); sa.enc_key_len = 20;   /* AES keys: 16, 24, 32 */
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa = sa_cbc_sha1(); sa.auth_key_len = 16;
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa = sa_cbc_sha1(); sa.auth = KINK_XFRM_AUTH_NONE;
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa = sa_cbc_sha1(); sa.enc = KINK_XFRM_ENC_AES_GCM16;
    sa.enc_key = gcm36; sa.enc_key_len = 36;   /* with an auth alg */
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa.auth = KINK_XFRM_AUTH_NONE; sa.enc_key_len = 32;  /* salt missing */
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa = sa_cbc_sha1(); sa.family = 99;
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa = sa_cbc_sha1(); sa.sel.prefixlen_d = 33;
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa = sa_cbc_sha1(); sa.soft_seconds = 4000;
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    sa = sa_cbc_sha1(); sa.enc_key = NULL;
    REFUSE(kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why));
    REFUSE(kink_xfrm_build_allocspi(buf, sizeof(buf), 1, AF_INET, &a, &a, 0,
                                    0, 0x2000, 0x1000, &len, &why));
    REFUSE(kink_xfrm_build_allocspi(buf, sizeof(buf), 1, AF_INET, &a, &a, 0,
                                    0, 1, 0x1000, &len, &why));
    REFUSE(kink_xfrm_build_delsa(buf, sizeof(buf), 1, 0, &a, 1, &len, &why));
    memset(&pol, 0, sizeof(pol));
    pol.sel = sel4();
    pol.dir = 3;
    REFUSE(kink_xfrm_build_newpolicy(buf, sizeof(buf), 1, &pol, &len, &why));
    REFUSE(kink_xfrm_build_delpolicy(buf, sizeof(buf), 1, &pol.sel, 3, &len,
                                     &why));
#undef REFUSE
}
END_TEST

/* ---- parsing ---- */

/* A kernel-style XFRM_MSG_EXPIRE for SPI 0x1234, 192.0.2.1 -> .2. */
static size_t
make_expire(unsigned char *b, int hard)
{
    static const unsigned char spi[4] = { 0x00, 0x00, 0x12, 0x34 };
    size_t X = H + offsetof(struct xfrm_user_expire, state);
    size_t len = H + sizeof(struct xfrm_user_expire);

    memset(b, 0, len);
    put_nlhdr(b, len, 24 /* XFRM_MSG_EXPIRE */, 0, 0);
    put_sel4(b, X + offsetof(struct xfrm_usersa_info, sel));
    putb(b, X + offsetof(struct xfrm_usersa_info, id.daddr), ip_b, 4);
    putb(b, X + offsetof(struct xfrm_usersa_info, id.spi), spi, 4);
    put8(b, X + offsetof(struct xfrm_usersa_info, id.proto), 50);
    putb(b, X + offsetof(struct xfrm_usersa_info, saddr), ip_a, 4);
    put32(b, X + offsetof(struct xfrm_usersa_info, reqid), 9);
    put16(b, X + offsetof(struct xfrm_usersa_info, family), 2);
    put8(b, X + offsetof(struct xfrm_usersa_info, mode), 1);
    put8(b, H + offsetof(struct xfrm_user_expire, hard), hard);
    return len;
}

/* A kernel-style XFRM_MSG_ACQUIRE with one XFRMA_TMPL. */
static size_t
make_acquire(unsigned char *b)
{
    size_t A = H, T = H + NLMSG_ALIGN(sizeof(struct xfrm_user_acquire)) + 4;
    size_t len = T + sizeof(struct xfrm_user_tmpl);

    memset(b, 0, len);
    put_nlhdr(b, len, 23 /* XFRM_MSG_ACQUIRE */, 0, 0);
    putb(b, A + offsetof(struct xfrm_user_acquire, id.daddr), ip_b, 4);
    put8(b, A + offsetof(struct xfrm_user_acquire, id.proto), 50);
    putb(b, A + offsetof(struct xfrm_user_acquire, saddr), ip_a, 4);
    put_sel4(b, A + offsetof(struct xfrm_user_acquire, sel));
    put_sel4(b, A + offsetof(struct xfrm_user_acquire, policy.sel));
    put32(b, A + offsetof(struct xfrm_user_acquire, policy.index), 0x99);
    put8(b, A + offsetof(struct xfrm_user_acquire, policy.dir), 1);
    put32(b, A + offsetof(struct xfrm_user_acquire, seq), 0x77);
    put_attr(b, T - 4, 4 + sizeof(struct xfrm_user_tmpl), 5);
    putb(b, T + offsetof(struct xfrm_user_tmpl, id.daddr), ip_b, 4);
    put8(b, T + offsetof(struct xfrm_user_tmpl, id.proto), 50);
    put16(b, T + offsetof(struct xfrm_user_tmpl, family), 2);
    put32(b, T + offsetof(struct xfrm_user_tmpl, reqid), 9);
    put8(b, T + offsetof(struct xfrm_user_tmpl, mode), 0);
    return len;
}

/* NLMSG_ERROR carrying err (negative errno or 0) for request seq. */
static size_t
make_error(unsigned char *b, int err, uint32_t seq)
{
    size_t len = H + sizeof(struct nlmsgerr);

    memset(b, 0, len);
    put_nlhdr(b, len, NLMSG_ERROR, 0, seq);
    put32(b, H + offsetof(struct nlmsgerr, error), (uint32_t)err);
    put32(b, H + offsetof(struct nlmsgerr, msg.nlmsg_len), 424);
    put16(b, H + offsetof(struct nlmsgerr, msg.nlmsg_type), 16);
    put32(b, H + offsetof(struct nlmsgerr, msg.nlmsg_seq), seq);
    return len;
}

static void
check_sel4(const struct kink_xfrm_sel *s)
{
    ck_assert_uint_eq(s->family, AF_INET);
    ck_assert_mem_eq(&s->saddr, ip_a, 4);
    ck_assert_mem_eq(&s->daddr, ip_b, 4);
    ck_assert_uint_eq(s->prefixlen_s, 32);
    ck_assert_uint_eq(s->prefixlen_d, 32);
    ck_assert_uint_eq(s->proto, IPPROTO_UDP);
    ck_assert_uint_eq(s->sport, 0);
    ck_assert_uint_eq(s->dport, 500);
}

START_TEST(test_parse_expire)
{
    unsigned char b[512];
    struct kink_xfrm_event ev;
    size_t len, used;
    const char *why = NULL;
    int hard;

    for (hard = 0; hard <= 1; hard++) {
        len = make_expire(b, hard);
        ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), 0);
        ck_assert_uint_eq(used, len);
        ck_assert_int_eq(ev.type, KINK_XFRM_EV_EXPIRE);
        ck_assert_int_eq(ev.hard, hard);
        ck_assert_uint_eq(ev.family, AF_INET);
        ck_assert_mem_eq(&ev.saddr, ip_a, 4);
        ck_assert_mem_eq(&ev.daddr, ip_b, 4);
        ck_assert_uint_eq(ev.spi, 0x1234);
        ck_assert_uint_eq(ev.proto, IPPROTO_ESP);
        ck_assert_uint_eq(ev.mode, XFRM_MODE_TUNNEL);
        ck_assert_uint_eq(ev.reqid, 9);
        check_sel4(&ev.sel);
    }
}
END_TEST

START_TEST(test_parse_acquire)
{
    unsigned char b[512];
    struct kink_xfrm_event ev;
    size_t len, used;
    const char *why = NULL;

    len = make_acquire(b);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), 0);
    ck_assert_uint_eq(used, len);
    ck_assert_int_eq(ev.type, KINK_XFRM_EV_ACQUIRE);
    ck_assert_uint_eq(ev.family, AF_INET);
    ck_assert_mem_eq(&ev.saddr, ip_a, 4);
    ck_assert_mem_eq(&ev.daddr, ip_b, 4);
    ck_assert_uint_eq(ev.proto, IPPROTO_ESP);
    ck_assert_uint_eq(ev.spi, 0);
    ck_assert_uint_eq(ev.reqid, 9);
    ck_assert_uint_eq(ev.mode, XFRM_MODE_TRANSPORT);
    ck_assert_uint_eq(ev.dir, XFRM_POLICY_OUT);
    ck_assert_uint_eq(ev.policy_index, 0x99);
    ck_assert_uint_eq(ev.acq_seq, 0x77);
    ck_assert_uint_eq(ev.ntmpl, 1);
    check_sel4(&ev.sel);
}
END_TEST

START_TEST(test_parse_error_and_ack)
{
    unsigned char b[128];
    struct kink_xfrm_event ev;
    size_t len, used;
    const char *why = NULL;

    len = make_error(b, -EEXIST, 41);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), 0);
    ck_assert_int_eq(ev.type, KINK_XFRM_EV_ERROR);
    ck_assert_int_eq(ev.error, EEXIST);
    ck_assert_uint_eq(ev.seq, 41);
    len = make_error(b, 0, 42);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), 0);
    ck_assert_int_eq(ev.type, KINK_XFRM_EV_ERROR);
    ck_assert_int_eq(ev.error, 0);
    ck_assert_uint_eq(ev.seq, 42);
    /* Positive or absurd codes are not negated errnos. */
    len = make_error(b, 5, 1);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
    len = make_error(b, -5000, 1);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
    /* An error with only the 4-byte code (no echoed header) is refused. */
    len = make_error(b, -1, 1);
    put32(b, 0, H + 4);
    ck_assert_int_eq(kink_xfrm_parse(b, H + 4, &ev, &used, &why), EINVAL);
}
END_TEST

/* The SA the kernel returns for ALLOCSPI is a NEWSA like the one we build:
 * parse our own NEWSA as that reply. */
START_TEST(test_parse_newsa_reply)
{
    unsigned char b[1024];
    struct kink_xfrm_sa sa = sa_cbc_sha1();
    struct kink_xfrm_event ev;
    size_t len, used;
    const char *why = NULL;

    sa.spi = 0xc2345678;
    ck_assert_int_eq(kink_xfrm_build_newsa(b, sizeof(b), 8, &sa, &len, &why),
                     0);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), 0);
    ck_assert_int_eq(ev.type, KINK_XFRM_EV_SA);
    ck_assert_uint_eq(ev.spi, 0xc2345678);
    ck_assert_uint_eq(ev.seq, 8);
    ck_assert_uint_eq(ev.reqid, 9);
    ck_assert_uint_eq(ev.proto, IPPROTO_ESP);
    ck_assert_mem_eq(&ev.daddr, ip_b, 4);
    check_sel4(&ev.sel);
}
END_TEST

START_TEST(test_parse_stream)
{
    unsigned char b[2048];
    struct kink_xfrm_event ev;
    size_t off = 0, used, n = 0, end;
    const char *why = NULL;
    int types[8];

    off += make_error(b + off, 0, 1);
    off += make_acquire(b + off);
    /* An unknown type (XFRM_MSG_POLEXPIRE, 27) with a 3-byte body: it is
     * skipped, padding to 4 included. */
    memset(b + off, 0, 20);
    put_nlhdr(b + off, H + 3, 27, 0, 0);
    off += 20;
    off += make_expire(b + off, 1);
    end = off;
    for (off = 0; off < end; off += used) {
        ck_assert_int_eq(kink_xfrm_parse(b + off, end - off, &ev, &used,
                                         &why), 0);
        ck_assert_uint_gt(used, 0);
        types[n++] = ev.type;
    }
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(types[0], KINK_XFRM_EV_ERROR);
    ck_assert_int_eq(types[1], KINK_XFRM_EV_ACQUIRE);
    ck_assert_int_eq(types[2], KINK_XFRM_EV_IGNORED);
    ck_assert_int_eq(types[3], KINK_XFRM_EV_EXPIRE);
}
END_TEST

/* Every proper prefix of a known message is refused. */
START_TEST(test_parse_truncated)
{
    unsigned char b[512], *copy;
    struct kink_xfrm_event ev;
    size_t len, cut, used;
    const char *why;
    size_t noattr = H + NLMSG_ALIGN(sizeof(struct xfrm_user_acquire));
    int m;

    for (m = 0; m < 3; m++) {
        if (m == 0)
            len = make_acquire(b);
        else if (m == 1)
            len = make_expire(b, 0);
        else
            len = make_error(b, -1, 1);
        for (cut = 0; cut < len; cut++) {
            /* Exact-size heap copy, so ASan sees any overread. */
            copy = malloc(cut ? cut : 1);
            memcpy(copy, b, cut);
            why = NULL;
            ck_assert_int_eq(kink_xfrm_parse(copy, cut, &ev, &used, &why),
                             EINVAL);
            ck_assert_ptr_nonnull(why);
            ck_assert_uint_eq(used, 0);
            free(copy);
        }
        /* Shrinking nlmsg_len itself to cut the body is refused too, down
         * to the header alone; only an ACQUIRE cut exactly before its
         * attributes is whole (the template is optional). */
        for (cut = H; cut < len; cut++) {
            if (m == 0 && cut == noattr)
                continue;
            put32(b, 0, cut);
            why = NULL;
            ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why),
                             EINVAL);
        }
    }
}
END_TEST

START_TEST(test_parse_bad_lengths)
{
    unsigned char b[512];
    struct kink_xfrm_event ev;
    size_t len, used, T;
    const char *why;

    /* nlmsg_len beyond the buffer */
    len = make_expire(b, 0);
    put32(b, 0, len + 4);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
    put32(b, 0, 0xffffffff);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
    /* nlmsg_len below the header */
    put32(b, 0, 15);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
    put32(b, 0, 0);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);

    /* rta_len overrunning the message, and below 4 */
    len = make_acquire(b);
    T = H + NLMSG_ALIGN(sizeof(struct xfrm_user_acquire));
    put16(b, T, 4 + sizeof(struct xfrm_user_tmpl) + 1);
    why = NULL;
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
    ck_assert_str_eq(why, "attribute length runs past the message");
    put16(b, T, 3);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
    ck_assert_str_eq(why, "attribute length below its header");
    /* An XFRMA_TMPL that is not a whole template */
    put16(b, T, 4 + 10);
    put32(b, 0, T + 4 + 10);
    ck_assert_int_eq(kink_xfrm_parse(b, T + 4 + 10, &ev, &used, &why),
                     EINVAL);
    /* A trailing 2-byte fragment of an attribute header */
    len = make_expire(b, 0);
    put32(b, 0, len + 2);
    ck_assert_int_eq(kink_xfrm_parse(b, len + 2, &ev, &used, &why), EINVAL);
    ck_assert_str_eq(why, "truncated attribute header");
    /* A bad SA family */
    len = make_expire(b, 0);
    put16(b, H + offsetof(struct xfrm_usersa_info, family), 99);
    ck_assert_int_eq(kink_xfrm_parse(b, len, &ev, &used, &why), EINVAL);
}
END_TEST

START_TEST(test_parse_unknown_ignored)
{
    unsigned char b[64];
    struct kink_xfrm_event ev;
    size_t used;
    const char *why = NULL;

    memset(b, 0xee, sizeof(b));
    put_nlhdr(b, H + 8, 0x7777, 0, 5);
    ck_assert_int_eq(kink_xfrm_parse(b, sizeof(b), &ev, &used, &why), 0);
    ck_assert_int_eq(ev.type, KINK_XFRM_EV_IGNORED);
    ck_assert_uint_eq(ev.nlmsg_type, 0x7777);
    ck_assert_uint_eq(used, H + 8);
    /* The last message's alignment padding may be missing. */
    put_nlhdr(b, H + 1, NLMSG_DONE, 0, 5);
    ck_assert_int_eq(kink_xfrm_parse(b, H + 1, &ev, &used, &why), 0);
    ck_assert_uint_eq(used, H + 1);
}
END_TEST

static Suite *
suite(void)
{
    Suite *s = suite_create("kink_xfrm");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_sizes_x86_64);
    tcase_add_test(tc, test_allocspi_layout);
    tcase_add_test(tc, test_newsa_cbc_sha1_layout);
    tcase_add_test(tc, test_updsa_cbc256_sha256_tunnel_layout);
    tcase_add_test(tc, test_newsa_gcm_v6_layout);
    tcase_add_test(tc, test_delsa_layout);
    tcase_add_test(tc, test_newpolicy_layout);
    tcase_add_test(tc, test_delpolicy_layout);
    tcase_add_test(tc, test_build_enospc);
    tcase_add_test(tc, test_build_refusals);
    tcase_add_test(tc, test_parse_expire);
    tcase_add_test(tc, test_parse_acquire);
    tcase_add_test(tc, test_parse_error_and_ack);
    tcase_add_test(tc, test_parse_newsa_reply);
    tcase_add_test(tc, test_parse_stream);
    tcase_add_test(tc, test_parse_truncated);
    tcase_add_test(tc, test_parse_bad_lengths);
    tcase_add_test(tc, test_parse_unknown_ignored);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(suite());
}
