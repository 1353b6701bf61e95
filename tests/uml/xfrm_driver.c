/*
 * xfrm_driver: drives kinkd's xfrm SA backend (kink/kink_sa.h) against a
 * real kernel, for t_uml_xfrm_backend.sh.
 *
 *   xfrm_driver uml CHECK     inside the UML guest, with network
 *                             namespaces a (10.9.0.1 on va) and b
 *                             (10.9.0.2 on vb) set up by the guest
 *                             script; CHECK is that script, which this
 *                             program runs for the traffic checks
 *                             ("CHECK esp NS SRC DST SPI SPI").
 *   xfrm_driver host          on the host's kernel, in a fresh network
 *                             namespace (unshare -n): where there is no
 *                             ESP, kink_sa_add fails with a message
 *                             naming the cause and nothing stays; trap
 *                             policies, ACQUIRE, the socket bypass and
 *                             close, which need no ESP.
 *
 * One backend per namespace: a netlink socket belongs to the namespace it
 * was opened in, so the program enters a, opens A, enters b, opens B, and
 * returns to its own namespace, from which `ip -n` inspects both.
 *
 * Prints "PASS: what" or "FAIL: what (why)" per check and exits 1 if any
 * check failed.
 */
#include "config.h"            /* _GNU_SOURCE: setns */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <krb5/krb5.h>

#include "ks_agent.h"
#include "kink_sa.h"

static krb5_context ctx;
static int failures;
static const char *check_script;

#define MAX_EVENTS 32
struct evlog {
    int n;
    struct kink_sa_event ev[MAX_EVENTS];
};
static struct evlog evs_a, evs_b;

static void
pass(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("PASS: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static void
fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    failures++;
}

static const char *
errmsg(krb5_error_code ret)
{
    static char buf[512];
    const char *m = krb5_get_error_message(ctx, ret);

    snprintf(buf, sizeof(buf), "%s", m);
    krb5_free_error_message(ctx, m);
    return buf;
}

/* Run a shell command; its exit status (or -1). */
static int
sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fflush(stdout);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Count lines of `ip -n NS xfrm state|policy` output matching pattern. */
static int
count(const char *ns, const char *what, const char *pattern)
{
    char cmd[512], line[512];
    FILE *f;
    int n = 0;

    snprintf(cmd, sizeof(cmd), "ip -n %s xfrm %s", ns, what);
    f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, pattern) != NULL)
            n++;
    }
    pclose(f);
    return n;
}

static int
has_spi(const char *ns, uint32_t spi)
{
    char pat[32];

    snprintf(pat, sizeof(pat), "spi 0x%08x", spi);
    return count(ns, "state", pat);
}

static void
on_event(void *arg, const struct kink_sa_event *ev)
{
    struct evlog *log = arg;

    if (log->n < MAX_EVENTS)
        log->ev[log->n++] = *ev;
}

static void
enter_ns(const char *name)
{
    char path[64];
    int fd;

    snprintf(path, sizeof(path), "/run/netns/%s", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "cannot enter network namespace %s: %s\n", name,
                strerror(errno));
        exit(2);
    }
    close(fd);
}

static void
enter_fd(int fd)
{
    if (setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "setns back: %s\n", strerror(errno));
        exit(2);
    }
}

static struct sockaddr_storage
addr(const char *s)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(s, ':') != NULL) {
        s6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, s, &s6->sin6_addr) != 1)
            abort();
        return ss;
    }
    s4->sin_family = AF_INET;
    if (inet_pton(AF_INET, s, &s4->sin_addr) != 1)
        abort();
    return ss;
}

static struct kink_conf_prefix
prefix(const char *s, unsigned int plen)
{
    struct kink_conf_prefix p;

    memset(&p, 0, sizeof(p));
    p.family = AF_INET;
    if (inet_pton(AF_INET, s, p.addr) != 1)
        abort();
    p.plen = plen;
    return p;
}

static void
random_key(unsigned char *k, size_t n)
{
    krb5_data d;

    d.data = (char *)k;
    d.length = n;
    if (krb5_c_random_make_octets(ctx, &d) != 0)
        abort();
}

/* Fill keys for a transform: dir keys random. */
static void
fill_keys(struct kink_sa_dir *d, const struct kink_isakmp_esp *esp)
{
    if (kink_sa_key_lengths(esp, &d->enc_key_len, &d->auth_key_len) != 0)
        abort();
    random_key(d->enc_key, d->enc_key_len);
    if (d->auth_key_len)
        random_key(d->auth_key, d->auth_key_len);
}

/* The pair as seen from the other side: local/remote and in/out swapped,
 * the selector mirrored. */
static struct kink_sa_pair
mirror(const struct kink_sa_pair *p)
{
    struct kink_sa_pair m = *p;

    m.local = p->remote;
    m.remote = p->local;
    m.in = p->out;
    m.out = p->in;
    m.sel.remote = p->sel.local;
    m.sel.local = p->sel.remote;
    return m;
}

static struct kink_isakmp_esp
esp_gcm256_transport(void)
{
    struct kink_isakmp_esp e;

    memset(&e, 0, sizeof(e));
    e.transform_id = KINK_ESP_AES_GCM_16;
    e.key_bits = 256;
    e.encap_mode = KINK_ENCAP_TRANSPORT;
    return e;
}

static struct kink_isakmp_esp
esp_cbc128_sha256_tunnel(void)
{
    struct kink_isakmp_esp e;

    memset(&e, 0, sizeof(e));
    e.transform_id = KINK_ESP_AES_CBC;
    e.key_bits = 128;
    e.auth_alg = KINK_AUTH_HMAC_SHA2_256;
    e.encap_mode = KINK_ENCAP_TUNNEL;
    return e;
}

/* Allocate an SPI on each side for one pair: pa->in.spi from A (SAs
 * b -> a), pa->out.spi from B. */
static int
alloc_pair(struct kink_sa_backend *A, struct kink_sa_backend *B,
           struct kink_sa_pair *pa, const char *what)
{
    krb5_error_code ret;
    uint32_t sa, sb;

    ret = kink_sa_alloc_spi(A, (struct sockaddr *)&pa->local,
                            (struct sockaddr *)&pa->remote, pa->reqid, &sa);
    if (ret) {
        fail("%s: SPI allocation in a (%s)", what, errmsg(ret));
        return -1;
    }
    ret = kink_sa_alloc_spi(B, (struct sockaddr *)&pa->remote,
                            (struct sockaddr *)&pa->local, pa->reqid, &sb);
    if (ret) {
        fail("%s: SPI allocation in b (%s)", what, errmsg(ret));
        return -1;
    }
    pa->in.spi = sa;
    pa->out.spi = sb;
    return 0;
}

/* Install pa in A and its mirror in B. */
static int
add_both(struct kink_sa_backend *A, struct kink_sa_backend *B,
         const struct kink_sa_pair *pa, const char *what)
{
    struct kink_sa_pair pb = mirror(pa);
    krb5_error_code ret;

    ret = kink_sa_add(A, pa);
    if (ret) {
        fail("%s: kink_sa_add in a (%s)", what, errmsg(ret));
        return -1;
    }
    ret = kink_sa_add(B, &pb);
    if (ret) {
        fail("%s: kink_sa_add in b (%s)", what, errmsg(ret));
        return -1;
    }
    pass("%s: SA pairs installed in a and b (a in SPI 0x%08x, out SPI "
         "0x%08x)", what, pa->in.spi, pa->out.spi);
    return 0;
}

static void
del_both(struct kink_sa_backend *A, struct kink_sa_backend *B,
         const struct kink_sa_pair *pa, int policies, const char *what)
{
    struct kink_sa_pair pb = mirror(pa);
    krb5_error_code ret;

    ret = kink_sa_delete(A, pa, policies);
    if (ret)
        fail("%s: kink_sa_delete in a (%s)", what, errmsg(ret));
    ret = kink_sa_delete(B, &pb, policies);
    if (ret)
        fail("%s: kink_sa_delete in b (%s)", what, errmsg(ret));
}

/* ESP traffic check by the guest script: ping from ns a, capture on b's
 * veth, SPIs on the wire, no plaintext ICMP, byte counters grew. */
static void
check_esp(const char *what, const char *src, const char *dst, uint32_t s1,
          uint32_t s2)
{
    if (sh("bash %s esp a %s %s 0x%08x 0x%08x", check_script, src, dst, s1,
           s2) == 0)
        pass("%s: ping %s -> %s passes as ESP (SPIs 0x%08x, 0x%08x on the "
             "wire, no plaintext ICMP, SA byte counters grew)", what, src,
             dst, s1, s2);
    else
        fail("%s: ping %s -> %s as ESP", what, src, dst);
}

/* Poll be's event fd for up to ms and process what comes, until done
 * (if not NULL) says the log has what is wanted. */
static void
wait_events(struct kink_sa_backend *be, struct evlog *log,
            int (*done)(const struct evlog *, const void *),
            const void *arg, int ms)
{
    struct timespec t0, now;
    struct pollfd p;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left;

        kink_sa_process_events(be);
        if (done != NULL && done(log, arg))
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        left = ms - ((now.tv_sec - t0.tv_sec) * 1000L +
                     (now.tv_nsec - t0.tv_nsec) / 1000000L);
        if (left <= 0)
            return;
        p.fd = kink_sa_event_fd(be);
        p.events = POLLIN;
        (void)poll(&p, 1, (int)left);
    }
}

static int
prefix_eq(const struct kink_conf_prefix *a, const struct kink_conf_prefix *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;

    return a->family == b->family && a->plen == b->plen &&
        memcmp(a->addr, b->addr, n) == 0;
}

static int
sin_eq(const struct sockaddr_storage *ss, const char *s)
{
    struct sockaddr_storage x = addr(s);

    return ss->ss_family == AF_INET &&
        ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
        ((const struct sockaddr_in *)&x)->sin_addr.s_addr;
}

/* ---- the checks ---- */

static struct kink_sa_pair
base_pair(uint32_t reqid, struct kink_isakmp_esp esp)
{
    struct kink_sa_pair p;

    memset(&p, 0, sizeof(p));
    p.local = addr("10.9.0.1");
    p.remote = addr("10.9.0.2");
    p.esp = esp;
    p.reqid = reqid;
    p.hard_seconds = 3600;
    p.soft_seconds = 3240;
    fill_keys(&p.in, &esp);
    fill_keys(&p.out, &esp);
    return p;
}

static void
t_transport_and_rekey(struct kink_sa_backend *A, struct kink_sa_backend *B)
{
    struct kink_sa_pair p1 = base_pair(1, esp_gcm256_transport());
    struct kink_sa_pair p2 = base_pair(1, esp_gcm256_transport());
    struct sockaddr_storage la = addr("10.9.0.1"), lb = addr("10.9.0.2");
    uint32_t spi;
    krb5_error_code ret;
    const char *w = "transport aes256-gcm16";

    /* A reserved SPI is a larval SA; released, it is gone. */
    ret = kink_sa_alloc_spi(A, (struct sockaddr *)&la,
                            (struct sockaddr *)&lb, 1, &spi);
    if (ret) {
        fail("alloc_spi (%s)", errmsg(ret));
        return;
    }
    if (spi >= 256 && has_spi("a", spi) == 1)
        pass("alloc_spi: SPI 0x%08x >= 256 reserved in the kernel", spi);
    else
        fail("alloc_spi: SPI 0x%08x not >= 256 or not in ip xfrm state",
             spi);
    kink_sa_release_spi(A, (struct sockaddr *)&la, (struct sockaddr *)&lb,
                        spi);
    if (has_spi("a", spi) == 0)
        pass("release_spi: SPI 0x%08x gone", spi);
    else
        fail("release_spi: SPI 0x%08x still in ip xfrm state", spi);

    if (alloc_pair(A, B, &p1, w) || add_both(A, B, &p1, w))
        return;
    if (count("a", "policy", "dir out") == 1 &&
        count("a", "policy", "dir in") == 1 &&
        count("a", "state", "proto esp") == 2)
        pass("%s: a has 2 SAs, an out and an in policy", w);
    else
        fail("%s: a's SAs/policies (ip -n a xfrm state/policy)", w);
    check_esp(w, "10.9.0.1", "10.9.0.2", p1.in.spi, p1.out.spi);

    /* Rekey, make-before-break: same selector and reqid, policies stay. */
    w = "rekey";
    if (alloc_pair(A, B, &p2, w) || add_both(A, B, &p2, w))
        return;
    if (count("a", "policy", "dir ") == 2 &&
        count("a", "state", "proto esp") == 4)
        pass("rekey: policies not added again, old and new SAs side by "
             "side");
    else
        fail("rekey: expected 4 SAs and 2 policies in a");
    del_both(A, B, &p1, 0, w);
    if (has_spi("a", p1.in.spi) == 0 && has_spi("a", p1.out.spi) == 0 &&
        has_spi("b", p1.in.spi) == 0 && count("a", "policy", "dir ") == 2)
        pass("rekey: old SAs deleted, policies kept");
    else
        fail("rekey: old SAs or policies wrong after delete(policies=0)");
    check_esp(w, "10.9.0.1", "10.9.0.2", p2.in.spi, p2.out.spi);

    /* A pair whose outbound SA cannot be added leaves nothing behind. */
    {
        struct kink_sa_pair bad = base_pair(1, esp_gcm256_transport());
        char kept[600];

        ret = kink_sa_alloc_spi(A, (struct sockaddr *)&la,
                                (struct sockaddr *)&lb, 1, &bad.in.spi);
        bad.out.spi = p2.out.spi;       /* exists in a already */
        if (!ret)
            ret = kink_sa_add(A, &bad);
        snprintf(kept, sizeof(kept), "%s", ret ? errmsg(ret) : "");
        if (ret == EEXIST && strstr(kept, "XFRM_MSG_NEWSA for SPI") &&
            has_spi("a", bad.in.spi) == 0 &&
            count("a", "state", "proto esp") == 2 &&
            count("a", "policy", "dir ") == 2)
            pass("failed add: \"%s\"; the inbound SA is gone, the others "
                 "stay", kept);
        else
            fail("failed add: ret %d \"%s\", state/policies not as before",
                 (int)ret, kept);
    }

    del_both(A, B, &p2, 1, "delete");
    if (count("a", "state", "proto esp") == 0 &&
        count("b", "state", "proto esp") == 0 &&
        count("a", "policy", "dir ") == 0 &&
        count("b", "policy", "dir ") == 0)
        pass("delete(policies=1): no SA and no policy left in a and b");
    else
        fail("delete(policies=1): SAs or policies left");
}

static int
have_acquire(const struct evlog *log, const void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < log->n; i++) {
        if (log->ev[i].type == KINK_SA_EV_ACQUIRE)
            return 1;
    }
    return 0;
}

/* IPv6, transport, AES-GCM-128, only ICMPv6 (protocol 58) protected:
 * the protocol selector, IPv6 addresses and the IPv6 priority.  The
 * guest script made the neighbor entries static, so no neighbor discovery
 * (ICMPv6 too) has to pass the policies. */
static void
t_ipv6(struct kink_sa_backend *A, struct kink_sa_backend *B)
{
    struct kink_isakmp_esp e = esp_gcm256_transport();
    struct kink_sa_pair p;
    const char *w = "IPv6 transport aes128-gcm16 proto 58";

    e.key_bits = 128;
    p = base_pair(11, e);
    p.local = addr("fd00:9::1");
    p.remote = addr("fd00:9::2");
    p.sel.proto = 58;
    if (alloc_pair(A, B, &p, w) || add_both(A, B, &p, w))
        return;
    if (count("a", "policy", "proto ipv6-icmp") == 2)
        pass("%s: policies select ICMPv6 only", w);
    else
        fail("%s: expected 2 policies with proto ipv6-icmp in a", w);
    check_esp(w, "fd00:9::1", "fd00:9::2", p.in.spi, p.out.spi);
    del_both(A, B, &p, 1, w);
    if (count("a", "state", "proto esp") == 0 &&
        count("a", "policy", "dir ") == 0)
        pass("%s: deleted", w);
    else
        fail("%s: SAs or policies left after delete", w);
}

static void
t_trap_acquire_tunnel(struct kink_sa_backend *A, struct kink_sa_backend *B)
{
    struct kink_sa_pair p = base_pair(5, esp_cbc128_sha256_tunnel());
    struct kink_sa_event *ev = NULL;
    krb5_error_code ret;
    int i;
    const char *w = "tunnel aes128-cbc/hmac-sha256";

    /* Traffic between 10.20.1.0/24 (behind a) and 10.20.2.0/24 (b). */
    p.sel.remote = prefix("10.20.2.0", 24);
    p.sel.local = prefix("10.20.1.0", 24);
    ret = kink_sa_add_trap(A, (struct sockaddr *)&p.local,
                           (struct sockaddr *)&p.remote, &p.sel, 5, 1);
    if (ret) {
        fail("add_trap (%s)", errmsg(ret));
        return;
    }
    if (count("a", "policy", "dir ") == 3)
        pass("add_trap: out, in and fwd policies in a");
    else
        fail("add_trap: expected 3 policies in a");
    evs_a.n = 0;
    (void)sh("ip netns exec a ping -c 1 -W 1 -I 10.20.1.1 10.20.2.1 "
             ">/dev/null 2>&1");
    wait_events(A, &evs_a, have_acquire, NULL, 3000);
    for (i = 0; i < evs_a.n; i++) {
        if (evs_a.ev[i].type == KINK_SA_EV_ACQUIRE)
            ev = &evs_a.ev[i];
    }
    if (ev != NULL && prefix_eq(&ev->sel.remote, &p.sel.remote) &&
        prefix_eq(&ev->sel.local, &p.sel.local) &&
        sin_eq(&ev->remote, "10.9.0.2") && sin_eq(&ev->local, "10.9.0.1"))
        pass("ACQUIRE: a ping matched the trap; event with the trap's "
             "selector and the outer addresses 10.9.0.1 -> 10.9.0.2");
    else
        fail("ACQUIRE: %d events, %s", evs_a.n,
             ev ? "selector or addresses wrong" : "no ACQUIRE");

    if (alloc_pair(A, B, &p, w) || add_both(A, B, &p, w))
        return;
    if (count("a", "policy", "dir ") == 3 && count("b", "policy", "dir ") == 3)
        pass("%s: trap policies reused in a, 3 policies in b", w);
    else
        fail("%s: policy counts after add", w);
    check_esp(w, "10.20.1.1", "10.20.2.1", p.in.spi, p.out.spi);
    del_both(A, B, &p, 1, w);
    if (count("a", "state", "proto esp") == 0 &&
        count("a", "policy", "dir ") == 0 &&
        count("b", "policy", "dir ") == 0)
        pass("%s: delete(policies=1) removed SAs and the trap policies", w);
    else
        fail("%s: SAs or policies left after delete", w);
}

/* Both SAs of the pair hard-expired. */
static int
both_hard(const struct evlog *log, const void *arg)
{
    const struct kink_sa_pair *p = arg;
    int i, in = 0, out = 0;

    for (i = 0; i < log->n; i++) {
        if (log->ev[i].type != KINK_SA_EV_HARD_EXPIRE)
            continue;
        in |= log->ev[i].spi == p->in.spi;
        out |= log->ev[i].spi == p->out.spi;
    }
    return in && out;
}

static void
t_expire(struct kink_sa_backend *A, struct kink_sa_backend *B)
{
    struct kink_sa_pair p = base_pair(7, esp_gcm256_transport());
    int soft_in = 0, soft_out = 0, hard_in = 0, hard_out = 0, i;
    krb5_error_code ret;

    p.soft_seconds = 1;
    p.hard_seconds = 2;
    if (alloc_pair(A, B, &p, "expire") || add_both(A, B, &p, "expire"))
        return;
    evs_a.n = 0;
    wait_events(A, &evs_a, both_hard, &p, 5000);
    for (i = 0; i < evs_a.n; i++) {
        const struct kink_sa_event *e = &evs_a.ev[i];

        if (e->type == KINK_SA_EV_SOFT_EXPIRE && e->inbound &&
            e->spi == p.in.spi)
            soft_in++;
        if (e->type == KINK_SA_EV_SOFT_EXPIRE && !e->inbound &&
            e->spi == p.out.spi)
            soft_out++;
        if (e->type == KINK_SA_EV_HARD_EXPIRE && e->inbound &&
            e->spi == p.in.spi && sin_eq(&e->remote, "10.9.0.2"))
            hard_in++;
        if (e->type == KINK_SA_EV_HARD_EXPIRE && !e->inbound &&
            e->spi == p.out.spi && sin_eq(&e->remote, "10.9.0.2"))
            hard_out++;
    }
    if (soft_in == 1 && soft_out == 1 && hard_in == 1 && hard_out == 1)
        pass("EXPIRE: soft then hard expiry of both SAs reported with "
             "direction and SPI");
    else
        fail("EXPIRE: %d events: soft in/out %d/%d, hard in/out %d/%d",
             evs_a.n, soft_in, soft_out, hard_in, hard_out);
    if (count("a", "state", "proto esp") == 0)
        pass("EXPIRE: the kernel removed the hard-expired SAs");
    else
        fail("EXPIRE: SAs left after the hard expiry");
    ret = kink_sa_delete(A, &p, 1);
    if (ret == 0 && count("a", "policy", "dir ") == 0)
        pass("delete after hard expiry: not an error, policies removed");
    else
        fail("delete after hard expiry: %s", ret ? errmsg(ret) :
             "policies left");
    {
        struct kink_sa_pair pb = mirror(&p);

        (void)kink_sa_delete(B, &pb, 1);
    }
}

/* A UDP socket in namespace ns (NULL: this one; self: the one to return
 * to) bound to a:port, with or without bypass. */
static int
udp_socket(int self, const char *ns, struct kink_sa_backend *be,
           const char *a, int port, int bypass)
{
    struct sockaddr_storage ss = addr(a);
    struct timeval tv = { 1, 0 };
    krb5_error_code ret;
    int fd;

    if (ns != NULL)
        enter_ns(ns);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ns != NULL)
        enter_fd(self);
    if (fd < 0)
        return -1;
    ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) < 0) {
        close(fd);
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (bypass) {
        ret = kink_sa_bypass_socket(be, fd, AF_INET);
        if (ret) {
            fail("bypass_socket (%s)", errmsg(ret));
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* Send from fd to 10.9.0.2:port; nonzero if rfd receives it. */
static int
udp_through(int fd, int rfd, int port)
{
    struct sockaddr_storage dst = addr("10.9.0.2");
    char buf[16];

    ((struct sockaddr_in *)&dst)->sin_port = htons(port);
    (void)sendto(fd, "kink", 4, 0, (struct sockaddr *)&dst,
                 sizeof(struct sockaddr_in));
    return recv(rfd, buf, sizeof(buf), 0) == 4;
}

static void
t_bypass_and_close(int self, struct kink_sa_backend **A,
                   struct kink_sa_backend **B)
{
    struct kink_sa_pair p = base_pair(9, esp_gcm256_transport());
    struct kink_sa_pair q = base_pair(9, esp_gcm256_transport());
    struct kink_sa_pair pb;
    krb5_error_code ret;
    int fa, fb, fplain;

    /* A policy for the same selector left over by someone else (a
     * kinkd that crashed) is taken over, not an error. */
    (void)sh("ip -n a xfrm policy add src 10.9.0.1/32 dst 10.9.0.2/32 dir "
             "out tmpl proto esp reqid 99 mode transport");
    /* Host-to-host trap policies, any protocol, on both sides. */
    ret = kink_sa_add_trap(*A, (struct sockaddr *)&p.local,
                           (struct sockaddr *)&p.remote, &p.sel, 9, 0);
    if (ret == 0 && count("a", "policy", "reqid 99") == 0 &&
        count("a", "policy", "reqid 9 ") == 2)
        pass("add_trap: a left-over policy for the selector is replaced");
    else
        fail("add_trap over a left-over policy (%s)",
             ret ? errmsg(ret) : "reqids in ip xfrm policy");
    pb = mirror(&p);
    if (!ret)
        ret = kink_sa_add_trap(*B, (struct sockaddr *)&pb.local,
                               (struct sockaddr *)&pb.remote, &pb.sel, 9,
                               0);
    if (ret) {
        fail("trap for bypass test (%s)", errmsg(ret));
        return;
    }
    fa = udp_socket(self, "a", *A, "10.9.0.1", 910, 1);
    fb = udp_socket(self, "b", *B, "10.9.0.2", 910, 1);
    fplain = udp_socket(self, "a", *A, "10.9.0.1", 911, 0);
    if (fa < 0 || fb < 0 || fplain < 0) {
        fail("bypass: sockets");
        return;
    }
    if (udp_through(fa, fb, 910))
        pass("bypass_socket: KINK's UDP passes in the clear under a "
             "host-to-host trap policy");
    else
        fail("bypass_socket: datagram between bypass sockets lost");
    if (!udp_through(fplain, fb, 910))
        pass("bypass: a socket without it is held by the policy");
    else
        fail("bypass: a plain socket's datagram went through in the clear");
    close(fa);
    close(fb);
    close(fplain);

    /* close removes everything: a full pair on top of the traps. */
    if (alloc_pair(*A, *B, &q, "close") || add_both(*A, *B, &q, "close"))
        return;
    (void)alloc_pair(*A, *B, &p, "close");   /* larval SPIs too */
    kink_sa_close(*A);
    kink_sa_close(*B);
    *A = *B = NULL;
    if (count("a", "state", "proto esp") == 0 &&
        count("b", "state", "proto esp") == 0 &&
        count("a", "policy", "dir ") == 0 &&
        count("b", "policy", "dir ") == 0)
        pass("close: every SA, reserved SPI and policy removed in a and b");
    else
        fail("close: SAs or policies left");
}

static int
run_uml(void)
{
    struct kink_sa_backend *A = NULL, *B = NULL;
    krb5_error_code ret;
    int self;

    self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        perror("/proc/self/ns/net");
        return 2;
    }
    enter_ns("a");
    ret = kink_sa_open(ctx, KINK_CONF_BACKEND_XFRM, 0, on_event, &evs_a,
                       &A);
    enter_fd(self);
    if (ret) {
        fail("open in a: %s", errmsg(ret));
        return 1;
    }
    enter_ns("b");
    ret = kink_sa_open(ctx, KINK_CONF_BACKEND_XFRM, 0, on_event, &evs_b,
                       &B);
    enter_fd(self);
    if (ret) {
        fail("open in b: %s", errmsg(ret));
        return 1;
    }
    if (strcmp(kink_sa_name(A), "xfrm") == 0 && kink_sa_event_fd(A) >= 0)
        pass("open: xfrm backends in a and b");
    else
        fail("open: name or event fd");

    t_transport_and_rekey(A, B);
    t_ipv6(A, B);
    t_trap_acquire_tunnel(A, B);
    t_expire(A, B);
    t_bypass_and_close(self, &A, &B);
    if (A != NULL)
        kink_sa_close(A);
    if (B != NULL)
        kink_sa_close(B);
    close(self);
    return failures ? 1 : 0;
}

/*
 * On the host's own kernel, in a fresh network namespace whose lo has
 * 10.9.0.1 and 10.9.0.2: what needs XFRM but no ESP (so it runs in
 * sanitizer builds too): without ESP the refusal names the cause and
 * nothing stays; trap policies, an ACQUIRE from a datagram, the socket
 * bypass, and close removing policies and reserved SPIs.
 */
static int
run_host(void)
{
    struct kink_sa_backend *A = NULL;
    struct kink_sa_pair p = base_pair(1, esp_gcm256_transport());
    struct sockaddr_storage la = addr("10.9.0.1"), lb = addr("10.9.0.2");
    krb5_error_code ret;
    const char *m;
    int fa, fb, fplain, i, acq = 0;
    uint32_t spi;

    /* Linux exempts loopback from IPsec (disable_xfrm and
     * disable_policy are 1 on lo): not in this namespace. */
    if (sh("ip link set lo up && ip addr add 10.9.0.1/32 dev lo && "
           "ip addr add 10.9.0.2/32 dev lo && "
           "sysctl -qw net.ipv4.conf.lo.disable_xfrm=0 "
           "net.ipv4.conf.lo.disable_policy=0") != 0) {
        printf("SKIP: cannot set up lo in this namespace\n");
        return 77;
    }
    ret = kink_sa_open(ctx, KINK_CONF_BACKEND_XFRM, 0, on_event, &evs_a,
                       &A);
    if (ret) {
        printf("SKIP: no XFRM netlink here: %s\n", errmsg(ret));
        return 77;
    }
    ret = kink_sa_alloc_spi(A, (struct sockaddr *)&p.local,
                            (struct sockaddr *)&p.remote, 1, &p.in.spi);
    if (ret) {
        fail("host: alloc_spi (%s)", errmsg(ret));
        return 1;
    }
    p.out.spi = 0x1234;
    ret = kink_sa_add(A, &p);
    if (ret == 0) {
        printf("SKIP: this kernel has ESP (the refusal is not testable)\n");
        (void)kink_sa_delete(A, &p, 1);
    } else {
        m = errmsg(ret);
        if (strstr(m, "for SPI") && strstr(m, "10.9.0") &&
            (strstr(m, "no ESP support") || strstr(m, "not available")))
            pass("no ESP: \"%s\"", m);
        else
            fail("no ESP: message does not name the cause: \"%s\"", m);
        if (sh("ip xfrm state | grep -q .") != 0 &&
            sh("ip xfrm policy | grep -q .") != 0)
            pass("no ESP: nothing of the pair stays (not even the reserved "
                 "SPI)");
        else
            fail("no ESP: state or policy left");
    }

    /* Traps, ACQUIRE and the bypass need no ESP. */
    ret = kink_sa_add_trap(A, (struct sockaddr *)&la, (struct sockaddr *)&lb,
                           &p.sel, 3, 0);
    if (ret) {
        fail("host: add_trap (%s)", errmsg(ret));
        return 1;
    }
    evs_a.n = 0;
    fplain = udp_socket(-1, NULL, A, "10.9.0.1", 911, 0);
    fa = udp_socket(-1, NULL, A, "10.9.0.1", 910, 1);
    fb = udp_socket(-1, NULL, A, "10.9.0.2", 910, 1);
    if (fa < 0 || fb < 0 || fplain < 0) {
        fail("host: sockets");
        return 1;
    }
    if (!udp_through(fplain, fb, 910))
        pass("host: a datagram matching the trap is held");
    else
        fail("host: a datagram went through the trap in the clear");
    wait_events(A, &evs_a, have_acquire, NULL, 2000);
    for (i = 0; i < evs_a.n; i++) {
        if (evs_a.ev[i].type == KINK_SA_EV_ACQUIRE &&
            sin_eq(&evs_a.ev[i].remote, "10.9.0.2") &&
            sin_eq(&evs_a.ev[i].local, "10.9.0.1"))
            acq = 1;
    }
    if (acq)
        pass("host: ACQUIRE for 10.9.0.1 -> 10.9.0.2");
    else
        fail("host: no ACQUIRE (%d events)", evs_a.n);
    if (udp_through(fa, fb, 910))
        pass("host: bypass sockets talk in the clear under the trap");
    else
        fail("host: bypass sockets held by the trap");
    close(fa);
    close(fb);
    close(fplain);

    ret = kink_sa_alloc_spi(A, (struct sockaddr *)&la,
                            (struct sockaddr *)&lb, 3, &spi);
    if (ret)
        fail("host: alloc_spi (%s)", errmsg(ret));
    kink_sa_close(A);
    if (sh("ip xfrm state | grep -q 'spi 0x%08x'", spi) != 0 &&
        sh("ip xfrm policy | grep -q .") != 0)
        pass("host: close removed the trap policies and reserved SPIs");
    else
        fail("host: state or policies left after close");
    return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
    int rc;

    if (argc < 2 || (strcmp(argv[1], "uml") == 0 && argc != 3) ||
        (strcmp(argv[1], "uml") != 0 && strcmp(argv[1], "host") != 0)) {
        fprintf(stderr, "usage: xfrm_driver uml CHECK | host\n");
        return 2;
    }
    /* Backend log lines on stderr, debug ones too. */
    ks_agent_log_init("xfrm_driver", TRUE, FALSE);
    if (krb5_init_context(&ctx) != 0) {
        fprintf(stderr, "krb5_init_context failed\n");
        return 2;
    }
    if (strcmp(argv[1], "uml") == 0) {
        check_script = argv[2];
        rc = run_uml();
    } else {
        rc = run_host();
    }
    krb5_free_context(ctx);
    return rc;
}
