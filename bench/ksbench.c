/*
 * ksbench: a load generator for a Kerberos KDC, written against MIT krb5's
 * public API only (so it measures any KDC: db2, LMDB, stateless, Heimdal).
 *
 * Modes (one "request" is one library call that reaches the KDC):
 *
 *   as     krb5_get_init_creds_keytab() for the client principal (-p) with
 *          keys from the keytab (-k).  The credentials are discarded, no
 *          ccache is written.  A client that requires preauthentication
 *          costs two exchanges per request.
 *
 *   tgs    A TGT for the client principal is obtained once from the keytab
 *          into a MEMORY ccache; then krb5_get_credentials() with
 *          KRB5_GC_NO_STORE asks for the service (-s) again and again.
 *          The ccache never holds the service ticket, so every call is a
 *          TGS exchange with the KDC.
 *
 *   names  Backend lookups of distinct names.  Request number i asks, for
 *          even i, a service ticket (as in tgs) for the service template
 *          with "%u" replaced by i/2 (default host/svc%u.example.test), and
 *          for odd i, an AS exchange without a key for the device template
 *          (default device/dev%u).  A device requires preauthentication,
 *          so the expected answer is a preauthentication error: that is
 *          counted as a successful lookup; "principal unknown" or any other
 *          failure is counted as an error.  -n 2N looks up N services and N
 *          devices; -u U reuses names, taking (i/2) mod U instead of i/2
 *          (a control: as many requests, only U names of each kind).
 *
 *   init   krb5_get_init_creds_password() with no password and no
 *          prompter, as kinit does it for a preauthentication module that
 *          needs neither: for the client principal (-p), optionally for
 *          the service -s (kinit -S), with the preauth attributes -X
 *          NAME=VALUE (kinit -X) and, with -A, anonymously (kinit -n; the
 *          client is then WELLKNOWN/ANONYMOUS of the default realm unless
 *          -p names another).  -M NAME=CCACHE copies the credentials of
 *          CCACHE into a MEMORY ccache of each process at setup and passes
 *          NAME=MEMORY:... as an attribute, so that a module that reads a
 *          ccache for every request (devreg_ticket) does not reread a
 *          file.  Examples: a devreg registration (-s devreg/REALM -X
 *          devreg_anchor=FILE:ca.pem -X devreg_identity=FILE:c.pem,k.pem),
 *          a devreg login (-M devreg_ticket=FILE:reg.cc), MIT's anonymous
 *          PKINIT (-A -X X509_anchors=FILE:ca.pem).  -P PATYPE (repeatable)
 *          sets the preauth list of the options (kinit has no such
 *          option; krb5_get_init_creds_opt_set_preauth_list): libkrb5
 *          then tries those types optimistically in the first request.
 *          A tempkey registration (-p host/NAME -P -1602 -X
 *          tempkey_identity=FILE:c.pem,k.pem -X tempkey_anchor=FILE:ca.pem
 *          -X tempkey_keytab=FILE:srv.keytab) uses it as ktempkey does, so
 *          that the exchange starts with tempkey whatever the order of the
 *          KDC's preauth hints (without it, libkrb5 answers the KDC's
 *          PREAUTH_REQUIRED with the first hinted mechanism that works);
 *          each request generates a new key, writes it into the keytab and
 *          its state file and registers it, so registrations of one
 *          principal are serialized on key ids (use -c 1).
 *
 * The keytab (as, tgs, names) is copied into a MEMORY keytab at start-up,
 * so that requests do not reread a file.  With -a HOST:PORT, every process
 * sends its requests through one connected UDP socket, installed with
 * krb5_set_kdc_send_hook() (the hook returns the KDC's reply to the
 * library, which then neither locates the KDC nor opens a socket of its
 * own).  That keeps the client side cheap enough for the KDC, not the load
 * generator, to be the bottleneck on a small machine.  As the library
 * would, the hook sends a message longer than 1465 bytes (libkrb5's
 * default udp_preference_limit) over a new TCP connection instead, and
 * resends a message over TCP when the KDC answers KRB_ERR_RESPONSE_TOO_BIG
 * (a reply longer than its kdc_max_dgram_reply_size, 4096 by default).
 * Without -a the library's own transport is used (profile lookup,
 * getaddrinfo and a new socket per request).  Either way the hook counts
 * the messages sent to the KDC (exchanges; a UDP attempt answered "too
 * big" and its TCP retry are two).
 *
 * Work is split over -c processes (fork).  Process k handles request
 * numbers k, k + c, k + 2c, ... so that names stay distinct across
 * processes.  Each process creates its own krb5 context, keytab and TGT,
 * reports "ready" on a pipe and waits until the parent starts the clock;
 * setup is not measured.  Every process stops after its share of -n
 * requests or after -d seconds, whichever comes first (-d 10 when neither
 * is given), and writes one fixed-size report record to the pipe (a single
 * write below PIPE_BUF, hence atomic).
 *
 * Output (stdout), one machine-readable line, then one line for humans:
 *
 *   ksbench mode=tgs procs=2 requests=48213 errors=0 elapsed=10.002 rps=4820.3 client_cpu_us=130 exchanges=48213 exch_per_req=1.00
 *   tgs: 48213 requests (0 errors) in 10.00 s with 2 client processes: 4820 requests/s
 *
 * requests counts every attempt, errors those that failed; rps is
 * (requests - errors) / elapsed, elapsed being wall time from the start
 * signal to the last report; client_cpu_us is the CPU time of the client
 * processes (user + system, setup included) per request; exchanges counts
 * the messages sent to the KDC during the measured run, exch_per_req is
 * exchanges / requests (round trips per request).  The first error
 * of each process goes to stderr.  Exit status: 0 when the run completed,
 * 1 when setup failed or no request succeeded, 2 for usage errors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <krb5/krb5.h>

#define KSB_MAX_PROCS 256
#define KSB_DEFAULT_SECONDS 10.0
#define KSB_NAME_MAX 512
#define KSB_UDP_MAX 65536
#define KSB_UDP_TRIES 3
#define KSB_UDP_TIMEOUT_MS 1000
#define KSB_TCP_TIMEOUT_MS 10000
#define KSB_MAX_ATTRS 16
#define KSB_MAX_PATYPES 8
/* libkrb5's default udp_preference_limit: longer messages go over TCP. */
#define KSB_UDP_PREF_LIMIT 1465
/* The protocol code of KRB5KRB_ERR_RESPONSE_TOO_BIG in a KRB-ERROR. */
#define KSB_ERR_RESPONSE_TOO_BIG \
    (KRB5KRB_ERR_RESPONSE_TOO_BIG - ERROR_TABLE_BASE_krb5)

enum ksb_mode { KSB_AS, KSB_TGS, KSB_NAMES, KSB_INIT };

struct ksb_options {
    enum ksb_mode mode;
    const char *mode_name;
    const char *client;
    const char *keytab;
    const char *service;
    const char *device;
    const char *kdc;            /* -a HOST:PORT, or NULL */
    unsigned long distinct;     /* names: -u, 0 for no reuse */
    double seconds;             /* 0: no time bound */
    unsigned long count;        /* 0: no count bound */
    int procs;
    int anonymous;              /* init: -A */
    const char *attrs[KSB_MAX_ATTRS];   /* init: -X NAME=VALUE */
    int nattrs;
    const char *ccattrs[KSB_MAX_ATTRS]; /* init: -M NAME=CCACHE */
    int nccattrs;
    krb5_preauthtype patypes[KSB_MAX_PATYPES];  /* init: -P PATYPE */
    int npatypes;
};

/* One record on the report pipe: a process is ready, failed setup, or is
 * done. */
enum ksb_report_kind { KSB_READY, KSB_SETUP_FAILED, KSB_DONE };

struct ksb_report {
    int kind;
    int proc;
    unsigned long requests;
    unsigned long errors;
    unsigned long exchanges;
    double elapsed;
    char message[512];
};

/* Per-process state of the request loop. */
struct ksb_client {
    krb5_context ctx;
    krb5_principal client;
    krb5_principal service;
    krb5_keytab keytab;
    krb5_get_init_creds_opt *opt;
    krb5_ccache ccache;         /* holds only the TGT (tgs, names) */
    krb5_ccache memcc[KSB_MAX_ATTRS];   /* init: copies made for -M */
    int kdc_fd;                 /* -a: UDP socket connected to the KDC */
    struct sockaddr_storage kdc_addr;   /* -a: its address, for TCP */
    socklen_t kdc_addrlen;
    unsigned char *udp_buf;
    unsigned long exchanges;    /* messages sent to the KDC */
};

static void
usage(void)
{
    fprintf(stderr,
            "usage: ksbench -m as|tgs|names|init -p PRINC [-k KEYTAB] "
            "[-s SERVICE]\n"
            "               [-D DEVICE] [-u COUNT] [-A] [-X NAME=VALUE]... "
            "[-M NAME=CCACHE]...\n"
            "               [-P PATYPE]... [-a HOST:PORT] [-d SECONDS] "
            "[-n COUNT] [-c PROCS]\n"
            "  -m MODE     as: AS requests with a keytab; tgs: TGS requests "
            "(no cache);\n"
            "              names: lookups of distinct service and device "
            "names;\n"
            "              init: AS exchanges driven by preauth attributes "
            "(kinit -X)\n"
            "  -p PRINC    client principal (as, tgs, names: owner of the "
            "TGT)\n"
            "  -k KEYTAB   keytab holding PRINC's keys (default: the default "
            "keytab)\n"
            "  -s SERVICE  tgs: service principal; names: template, %%u is "
            "the index\n"
            "              (default host/svc%%u.example.test); init: the "
            "initial ticket's\n"
            "              service (kinit -S)\n"
            "  -D DEVICE   names: device template (default device/dev%%u)\n"
            "  -u COUNT    names: use only COUNT names of each kind, "
            "cyclically\n"
            "  -A          init: anonymous (kinit -n); PRINC defaults to "
            "WELLKNOWN/ANONYMOUS\n"
            "  -X NAME=VALUE  init: a preauth attribute (kinit -X), "
            "repeatable\n"
            "  -M NAME=CCACHE init: copy CCACHE into a MEMORY ccache and pass "
            "NAME=MEMORY:...\n"
            "  -P PATYPE   init: a preauth type of the gic preauth list, "
            "sent optimistically\n"
            "              (a number, e.g. -1602 for tempkey), repeatable\n"
            "  -a HOST:PORT  send requests to HOST:PORT over UDP through "
            "one socket per\n"
            "              process, long ones over TCP (default: the "
            "library locates the\n"
            "              KDC and opens a socket for every request)\n"
            "  -d SECONDS  stop after SECONDS (default 10 when -n is not "
            "given)\n"
            "  -n COUNT    stop after COUNT requests in total\n"
            "  -c PROCS    client processes (default 1)\n");
}

/* Seconds on the monotonic clock. */
static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Return 1 if tmpl contains exactly one "%u" and no other '%'. */
static int
template_ok(const char *tmpl)
{
    const char *p = strchr(tmpl, '%');

    return p != NULL && p[1] == 'u' && strchr(p + 2, '%') == NULL;
}

/* Write tmpl into buf with its "%u" replaced by index. */
static int
expand_template(const char *tmpl, unsigned long index, char *buf,
                size_t size)
{
    const char *p = strstr(tmpl, "%u");
    int n;

    n = snprintf(buf, size, "%.*s%lu%s", (int)(p - tmpl), tmpl, index,
                 p + 2);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* Format ret as the report's message, prefixed by what failed. */
static void
set_message(struct ksb_report *rep, krb5_context ctx, krb5_error_code ret,
            const char *what)
{
    const char *msg;

    if (ctx == NULL) {
        snprintf(rep->message, sizeof(rep->message), "%s: %s", what,
                 strerror(ret));
        return;
    }
    msg = krb5_get_error_message(ctx, ret);
    snprintf(rep->message, sizeof(rep->message), "%s: %s (%ld)", what, msg,
             (long)ret);
    krb5_free_error_message(ctx, msg);
}

/* Parse name; without an explicit realm, give it the client's realm. */
static krb5_error_code
parse_in_client_realm(struct ksb_client *cl, const char *name,
                      krb5_principal *out)
{
    krb5_error_code ret;
    krb5_principal p = NULL;

    *out = NULL;
    ret = krb5_parse_name(cl->ctx, name, &p);
    if (ret)
        return ret;
    if (strchr(name, '@') == NULL) {
        ret = krb5_set_principal_realm(cl->ctx, p,
                                       krb5_princ_realm(cl->ctx,
                                                        cl->client)->data);
        if (ret) {
            krb5_free_principal(cl->ctx, p);
            return ret;
        }
    }
    *out = p;
    return 0;
}

/* Copy every entry of the keytab named name (or the default keytab) into a
 * new MEMORY keytab, so that requests do not reread a file. */
static krb5_error_code
load_memory_keytab(krb5_context ctx, const char *name, krb5_keytab *out)
{
    krb5_error_code ret;
    krb5_keytab src = NULL, mem = NULL;
    krb5_kt_cursor cursor;
    krb5_keytab_entry entry;
    char memname[64];
    int have_cursor = 0, n = 0;

    *out = NULL;
    ret = (name != NULL) ? krb5_kt_resolve(ctx, name, &src) :
        krb5_kt_default(ctx, &src);
    if (ret)
        goto cleanup;
    snprintf(memname, sizeof(memname), "MEMORY:ksbench-%ld", (long)getpid());
    ret = krb5_kt_resolve(ctx, memname, &mem);
    if (ret)
        goto cleanup;
    ret = krb5_kt_start_seq_get(ctx, src, &cursor);
    if (ret)
        goto cleanup;
    have_cursor = 1;
    while ((ret = krb5_kt_next_entry(ctx, src, &entry, &cursor)) == 0) {
        ret = krb5_kt_add_entry(ctx, mem, &entry);
        krb5_free_keytab_entry_contents(ctx, &entry);
        if (ret)
            goto cleanup;
        n++;
    }
    if (ret != KRB5_KT_END)
        goto cleanup;
    ret = (n > 0) ? 0 : KRB5_KT_NOTFOUND;
    if (ret)
        goto cleanup;
    *out = mem;
    mem = NULL;

cleanup:
    if (have_cursor)
        krb5_kt_end_seq_get(ctx, src, &cursor);
    if (src != NULL)
        krb5_kt_close(ctx, src);
    if (mem != NULL)
        krb5_kt_close(ctx, mem);
    return ret;
}

/* Open a UDP socket connected to addr ("HOST:PORT", "[V6]:PORT"); store
 * the address in *ss (for TCP connections to the same place). */
static krb5_error_code
open_kdc_socket(const char *addr, int *fd_out, struct sockaddr_storage *ss,
                socklen_t *sslen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char host[256];
    const char *colon, *port;
    size_t hlen;
    int fd = -1, err;

    *fd_out = -1;
    colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0')
        return EINVAL;
    port = colon + 1;
    hlen = (size_t)(colon - addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        addr++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return EINVAL;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    err = getaddrinfo(host, port, &hints, &res);
    if (err)
        return KRB5_KDC_UNREACH;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (ai->ai_addrlen <= sizeof(*ss) &&
            connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            memcpy(ss, ai->ai_addr, ai->ai_addrlen);
            *sslen = ai->ai_addrlen;
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return KRB5_KDC_UNREACH;
    *fd_out = fd;
    return 0;
}

/* Wait until fd is ready for events (POLLIN or POLLOUT), at most ms
 * milliseconds; 0 when ready, else an error code. */
static krb5_error_code
wait_fd(int fd, short events, int ms)
{
    struct pollfd pfd;
    int r;

    pfd.fd = fd;
    pfd.events = events;
    do {
        r = poll(&pfd, 1, ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno;
    return (r == 0) ? KRB5_KDC_UNREACH : 0;
}

/* Write or read exactly len bytes on the stream socket fd. */
static krb5_error_code
tcp_io(int fd, void *buf, size_t len, int writing)
{
    size_t done = 0;
    ssize_t n;
    krb5_error_code ret;

    while (done < len) {
        ret = wait_fd(fd, writing ? POLLOUT : POLLIN, KSB_TCP_TIMEOUT_MS);
        if (ret)
            return ret;
        n = writing ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL) :
            recv(fd, (char *)buf + done, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (n == 0) ? KRB5_KDC_UNREACH : errno;
        done += (size_t)n;
    }
    return 0;
}

/* One exchange over a new TCP connection to the -a address (RFC 4120
 * 7.2.2: a four-byte big-endian length before each message), as libkrb5
 * does for long messages; the reply goes to cl->udp_buf, its length to
 * *len_out. */
static krb5_error_code
tcp_exchange(struct ksb_client *cl, const krb5_data *message, size_t *len_out)
{
    unsigned char hdr[4];
    uint32_t len;
    krb5_error_code ret;
    int fd, r;

    fd = socket(cl->kdc_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    do {
        r = connect(fd, (struct sockaddr *)&cl->kdc_addr, cl->kdc_addrlen);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        ret = (errno == ECONNREFUSED) ? KRB5_KDC_UNREACH : errno;
        goto cleanup;
    }
    hdr[0] = (unsigned char)(message->length >> 24);
    hdr[1] = (unsigned char)(message->length >> 16);
    hdr[2] = (unsigned char)(message->length >> 8);
    hdr[3] = (unsigned char)message->length;
    ret = tcp_io(fd, hdr, sizeof(hdr), 1);
    if (!ret)
        ret = tcp_io(fd, message->data, message->length, 1);
    if (!ret)
        ret = tcp_io(fd, hdr, sizeof(hdr), 0);
    if (ret)
        goto cleanup;
    len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
        ((uint32_t)hdr[2] << 8) | hdr[3];
    if (len == 0 || len > KSB_UDP_MAX) {
        ret = KRB5KRB_ERR_FIELD_TOOLONG;
        goto cleanup;
    }
    ret = tcp_io(fd, cl->udp_buf, len, 0);
    if (!ret)
        *len_out = len;

cleanup:
    close(fd);
    return ret;
}

/* One exchange over this process's connected UDP socket: a request is
 * resent after a second without an answer, three times at most. */
static krb5_error_code
udp_exchange(struct ksb_client *cl, const krb5_data *message, size_t *len_out)
{
    krb5_error_code ret;
    ssize_t n;
    int try;

    for (try = 0; try < KSB_UDP_TRIES; try++) {
        if (send(cl->kdc_fd, message->data, message->length, 0) < 0)
            return errno;
        ret = wait_fd(cl->kdc_fd, POLLIN, KSB_UDP_TIMEOUT_MS);
        if (ret == KRB5_KDC_UNREACH)
            continue;
        if (ret)
            return ret;
        n = recv(cl->kdc_fd, cl->udp_buf, KSB_UDP_MAX, 0);
        if (n < 0)
            return (errno == ECONNREFUSED) ? KRB5_KDC_UNREACH : errno;
        *len_out = (size_t)n;
        return 0;
    }
    return KRB5_KDC_UNREACH;
}

/* Nonzero if the len bytes in buf are a KRB-ERROR RESPONSE_TOO_BIG. */
static int
too_big(krb5_context ctx, unsigned char *buf, size_t len)
{
    krb5_data d;
    krb5_error *err = NULL;
    int big;

    d.magic = KV5M_DATA;
    d.length = (unsigned int)len;
    d.data = (char *)buf;
    /* A KRB-ERROR is [APPLICATION 30], DER tag 0x7e. */
    if (len == 0 || buf[0] != 0x7e || krb5_rd_error(ctx, &d, &err) != 0)
        return 0;
    big = err->error == KSB_ERR_RESPONSE_TOO_BIG;
    krb5_free_error(ctx, err);
    return big;
}

/*
 * Pre-send hook (krb5_set_kdc_send_hook): count the message; with -a,
 * exchange it with the KDC (UDP, or TCP as libkrb5 would choose it) and
 * hand the reply to the library, which then skips locating the KDC and
 * opening a socket of its own.  Without -a, let the library send it.
 */
static krb5_error_code KRB5_CALLCONV
send_hook(krb5_context ctx, void *data, const krb5_data *realm,
          const krb5_data *message, krb5_data **new_message_out,
          krb5_data **new_reply_out)
{
    struct ksb_client *cl = data;
    krb5_data reply;
    krb5_error_code ret;
    size_t len = 0;

    cl->exchanges++;
    if (cl->kdc_fd < 0)
        return 0;
    if (message->length > KSB_UDP_PREF_LIMIT) {
        ret = tcp_exchange(cl, message, &len);
    } else {
        ret = udp_exchange(cl, message, &len);
        if (!ret && too_big(ctx, cl->udp_buf, len)) {
            cl->exchanges++;
            ret = tcp_exchange(cl, message, &len);
        }
    }
    if (ret)
        return ret;
    reply.magic = KV5M_DATA;
    reply.length = (unsigned int)len;
    reply.data = (char *)cl->udp_buf;
    return krb5_copy_data(ctx, &reply, new_reply_out);
}

/* Release everything client_setup() created. */
static void
client_free(struct ksb_client *cl)
{
    int i;

    if (cl->kdc_fd >= 0)
        close(cl->kdc_fd);
    free(cl->udp_buf);
    if (cl->ctx == NULL)
        return;
    if (cl->ccache != NULL)
        krb5_cc_destroy(cl->ctx, cl->ccache);
    for (i = 0; i < KSB_MAX_ATTRS; i++) {
        if (cl->memcc[i] != NULL)
            krb5_cc_destroy(cl->ctx, cl->memcc[i]);
    }
    krb5_get_init_creds_opt_free(cl->ctx, cl->opt);
    if (cl->keytab != NULL)
        krb5_kt_close(cl->ctx, cl->keytab);
    krb5_free_principal(cl->ctx, cl->service);
    krb5_free_principal(cl->ctx, cl->client);
    krb5_free_context(cl->ctx);
    memset(cl, 0, sizeof(*cl));
}

/* Split attr ("NAME=VALUE") at its first '=' into name (a copy in buf of
 * size len) and *value; -1 if there is no '=' or name does not fit. */
static int
split_attr(const char *attr, char *buf, size_t len, const char **value)
{
    const char *eq = strchr(attr, '=');

    if (eq == NULL || eq == attr || (size_t)(eq - attr) >= len)
        return -1;
    memcpy(buf, attr, (size_t)(eq - attr));
    buf[eq - attr] = '\0';
    *value = eq + 1;
    return 0;
}

/* init: copy the credentials of ccache src into a new MEMORY ccache
 * (*out) and return its full name in *name_out (free with
 * krb5_free_string()). */
static krb5_error_code
copy_to_memory_ccache(krb5_context ctx, const char *src, krb5_ccache *out,
                      char **name_out)
{
    krb5_ccache in = NULL, mem = NULL;
    krb5_principal princ = NULL;
    krb5_error_code ret;

    *out = NULL;
    *name_out = NULL;
    ret = krb5_cc_resolve(ctx, src, &in);
    if (!ret)
        ret = krb5_cc_get_principal(ctx, in, &princ);
    if (!ret)
        ret = krb5_cc_new_unique(ctx, "MEMORY", NULL, &mem);
    if (!ret)
        ret = krb5_cc_initialize(ctx, mem, princ);
    if (!ret)
        ret = krb5_cc_copy_creds(ctx, in, mem);
    if (!ret)
        ret = krb5_cc_get_full_name(ctx, mem, name_out);
    if (!ret) {
        *out = mem;
        mem = NULL;
    }
    if (mem != NULL)
        krb5_cc_destroy(ctx, mem);
    if (in != NULL)
        krb5_cc_close(ctx, in);
    krb5_free_principal(ctx, princ);
    return ret;
}

/* init: the client principal, anonymous options and preauth attributes. */
static krb5_error_code
init_setup(const struct ksb_options *o, struct ksb_client *cl,
           const char **what)
{
    krb5_error_code ret;
    char name[128], *ccname = NULL;
    const char *value;
    int i;

    if (o->client != NULL) {
        *what = "parsing the client principal";
        ret = krb5_parse_name(cl->ctx, o->client, &cl->client);
    } else {
        char *realm = NULL;

        /* kinit -n: WELLKNOWN/ANONYMOUS of the default realm. */
        *what = "getting the default realm";
        ret = krb5_get_default_realm(cl->ctx, &realm);
        if (!ret) {
            ret = krb5_build_principal_ext(cl->ctx, &cl->client,
                                           (unsigned int)strlen(realm),
                                           realm,
                                           (unsigned int)strlen(
                                               KRB5_WELLKNOWN_NAMESTR),
                                           KRB5_WELLKNOWN_NAMESTR,
                                           (unsigned int)strlen(
                                               KRB5_ANONYMOUS_PRINCSTR),
                                           KRB5_ANONYMOUS_PRINCSTR, 0);
        }
        krb5_free_default_realm(cl->ctx, realm);
    }
    if (ret)
        return ret;
    if (o->anonymous)
        krb5_get_init_creds_opt_set_anonymous(cl->opt, 1);
    /* The options keep a pointer to the list: o outlives cl->opt. */
    if (o->npatypes > 0) {
        krb5_get_init_creds_opt_set_preauth_list(cl->opt,
                                                 (krb5_preauthtype *)
                                                 o->patypes, o->npatypes);
    }
    for (i = 0; i < o->nattrs; i++) {
        *what = "setting a -X attribute";
        if (split_attr(o->attrs[i], name, sizeof(name), &value) != 0)
            return EINVAL;
        ret = krb5_get_init_creds_opt_set_pa(cl->ctx, cl->opt, name, value);
        if (ret)
            return ret;
    }
    for (i = 0; i < o->nccattrs; i++) {
        *what = "copying a -M ccache into a MEMORY ccache";
        if (split_attr(o->ccattrs[i], name, sizeof(name), &value) != 0)
            return EINVAL;
        ret = copy_to_memory_ccache(cl->ctx, value, &cl->memcc[i], &ccname);
        if (!ret) {
            ret = krb5_get_init_creds_opt_set_pa(cl->ctx, cl->opt, name,
                                                 ccname);
        }
        krb5_free_string(cl->ctx, ccname);
        ccname = NULL;
        if (ret)
            return ret;
    }
    return 0;
}

/* Create the context, keytab handle and options; for tgs and names, get
 * the TGT into a fresh MEMORY ccache; for init, see init_setup(). */
static krb5_error_code
client_setup(const struct ksb_options *o, struct ksb_client *cl,
             struct ksb_report *rep)
{
    krb5_error_code ret;
    krb5_creds tgt;
    const char *what = "krb5_init_context";

    memset(cl, 0, sizeof(*cl));
    cl->kdc_fd = -1;
    memset(&tgt, 0, sizeof(tgt));
    ret = krb5_init_context(&cl->ctx);
    if (ret) {
        cl->ctx = NULL;
        set_message(rep, NULL, ret, what);
        return ret;
    }
    if (o->kdc != NULL) {
        what = "opening a UDP socket to the -a address";
        cl->udp_buf = malloc(KSB_UDP_MAX);
        ret = (cl->udp_buf == NULL) ? ENOMEM :
            open_kdc_socket(o->kdc, &cl->kdc_fd, &cl->kdc_addr,
                            &cl->kdc_addrlen);
        if (ret)
            goto cleanup;
    }
    krb5_set_kdc_send_hook(cl->ctx, send_hook, cl);
    what = "allocating options";
    ret = krb5_get_init_creds_opt_alloc(cl->ctx, &cl->opt);
    if (ret)
        goto cleanup;
    if (o->mode == KSB_INIT) {
        ret = init_setup(o, cl, &what);
        goto cleanup;
    }
    what = "parsing the client principal";
    ret = krb5_parse_name(cl->ctx, o->client, &cl->client);
    if (ret)
        goto cleanup;
    what = "reading the keytab";
    ret = load_memory_keytab(cl->ctx, o->keytab, &cl->keytab);
    if (ret)
        goto cleanup;
    if (o->mode == KSB_AS)
        return 0;

    what = "getting the TGT";
    ret = krb5_get_init_creds_keytab(cl->ctx, &tgt, cl->client, cl->keytab,
                                     0, NULL, cl->opt);
    if (ret)
        goto cleanup;
    what = "creating the MEMORY ccache";
    ret = krb5_cc_new_unique(cl->ctx, "MEMORY", NULL, &cl->ccache);
    if (!ret)
        ret = krb5_cc_initialize(cl->ctx, cl->ccache, cl->client);
    if (!ret)
        ret = krb5_cc_store_cred(cl->ctx, cl->ccache, &tgt);
    if (ret)
        goto cleanup;
    if (o->mode == KSB_TGS) {
        what = "parsing the service principal";
        ret = parse_in_client_realm(cl, o->service, &cl->service);
    }

cleanup:
    krb5_free_cred_contents(cl->ctx, &tgt);
    if (ret)
        set_message(rep, cl->ctx, ret, what);
    return ret;
}

/* One AS exchange with the keytab; the credentials are discarded. */
static krb5_error_code
request_as(struct ksb_client *cl)
{
    krb5_creds creds;
    krb5_error_code ret;

    memset(&creds, 0, sizeof(creds));
    ret = krb5_get_init_creds_keytab(cl->ctx, &creds, cl->client, cl->keytab,
                                     0, NULL, cl->opt);
    krb5_free_cred_contents(cl->ctx, &creds);
    return ret;
}

/* One TGS exchange for server, not using or filling the ccache. */
static krb5_error_code
request_tgs(struct ksb_client *cl, krb5_principal server)
{
    krb5_creds in, *out = NULL;
    krb5_error_code ret;

    memset(&in, 0, sizeof(in));
    in.client = cl->client;
    in.server = server;
    ret = krb5_get_credentials(cl->ctx, KRB5_GC_NO_STORE, cl->ccache, &in,
                               &out);
    krb5_free_creds(cl->ctx, out);
    return ret;
}

/* init: one AS exchange driven by the preauth attributes; the credentials
 * are discarded. */
static krb5_error_code
request_init(const struct ksb_options *o, struct ksb_client *cl)
{
    krb5_creds creds;
    krb5_error_code ret;

    memset(&creds, 0, sizeof(creds));
    ret = krb5_get_init_creds_password(cl->ctx, &creds, cl->client, NULL,
                                       NULL, NULL, 0, o->service, cl->opt);
    krb5_free_cred_contents(cl->ctx, &creds);
    return ret;
}

/* Look up one derived service name (even index) or device name (odd). */
static krb5_error_code
request_name(const struct ksb_options *o, struct ksb_client *cl,
             unsigned long index)
{
    char name[KSB_NAME_MAX];
    krb5_principal p = NULL;
    krb5_creds creds;
    krb5_error_code ret;
    int device = (index & 1) != 0;
    unsigned long n = index / 2;

    if (o->distinct > 0)
        n %= o->distinct;
    if (expand_template(device ? o->device : o->service, n, name,
                        sizeof(name)) != 0)
        return ENAMETOOLONG;
    ret = parse_in_client_realm(cl, name, &p);
    if (ret)
        return ret;
    if (!device) {
        ret = request_tgs(cl, p);
    } else {
        /* No password and no prompter: the client cannot answer the
         * KDC's preauth-required error, which proves the lookup found a
         * device principal. */
        memset(&creds, 0, sizeof(creds));
        ret = krb5_get_init_creds_password(cl->ctx, &creds, p, NULL, NULL,
                                           NULL, 0, NULL, cl->opt);
        krb5_free_cred_contents(cl->ctx, &creds);
        if (ret == 0 || ret == KRB5KDC_ERR_PREAUTH_REQUIRED ||
            ret == KRB5_PREAUTH_FAILED || ret == KRB5KDC_ERR_PREAUTH_FAILED)
            ret = 0;
    }
    krb5_free_principal(cl->ctx, p);
    return ret;
}

/* Run process proc's share of the requests and fill rep. */
static void
client_run(const struct ksb_options *o, struct ksb_client *cl, int proc,
           struct ksb_report *rep)
{
    krb5_error_code ret;
    unsigned long index;
    double start, deadline;

    cl->exchanges = 0;          /* setup's exchanges are not measured */
    start = now_seconds();
    deadline = o->seconds > 0 ? start + o->seconds : 0;
    for (index = (unsigned long)proc;
         o->count == 0 || index < o->count;
         index += (unsigned long)o->procs) {
        if (deadline > 0 && now_seconds() >= deadline)
            break;
        switch (o->mode) {
        case KSB_AS:
            ret = request_as(cl);
            break;
        case KSB_TGS:
            ret = request_tgs(cl, cl->service);
            break;
        case KSB_INIT:
            ret = request_init(o, cl);
            break;
        default:
            ret = request_name(o, cl, index);
            break;
        }
        rep->requests++;
        if (ret) {
            if (rep->errors == 0)
                set_message(rep, cl->ctx, ret, "first error");
            rep->errors++;
        }
    }
    rep->elapsed = now_seconds() - start;
    rep->exchanges = cl->exchanges;
}

/* Write one report record; a short write would only garble statistics. */
static void
send_report(int fd, const struct ksb_report *rep)
{
    ssize_t n;

    do {
        n = write(fd, rep, sizeof(*rep));
    } while (n < 0 && errno == EINTR);
}

/* Body of a client process: set up, report ready, wait for the start
 * signal (EOF on go_fd), run, report done. */
static int
client_main(const struct ksb_options *o, int proc, int go_fd, int report_fd)
{
    struct ksb_client cl;
    struct ksb_report rep;
    char c;
    ssize_t n;

    memset(&rep, 0, sizeof(rep));
    rep.proc = proc;
    if (client_setup(o, &cl, &rep) != 0) {
        rep.kind = KSB_SETUP_FAILED;
        send_report(report_fd, &rep);
        client_free(&cl);
        return 1;
    }
    rep.kind = KSB_READY;
    send_report(report_fd, &rep);
    do {
        n = read(go_fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    rep.kind = KSB_DONE;
    client_run(o, &cl, proc, &rep);
    send_report(report_fd, &rep);
    client_free(&cl);
    return 0;
}

/* Read exactly one report record; return -1 at EOF or on error. */
static int
read_report(int fd, struct ksb_report *rep)
{
    size_t got = 0;
    ssize_t n;

    while (got < sizeof(*rep)) {
        n = read(fd, (char *)rep + got, sizeof(*rep) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* Parse a preauth type (a decimal number that fits krb5_preauthtype, which
 * may be negative: private types) or exit with usage status. */
static krb5_preauthtype
parse_patype(const char *arg)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < INT32_MIN ||
        v > INT32_MAX) {
        fprintf(stderr, "ksbench: -P: invalid preauth type '%s'\n", arg);
        exit(2);
    }
    return (krb5_preauthtype)v;
}

/* Parse a positive number argument (a whole one if integral is set) or exit
 * with usage status. */
static double
parse_number(const char *arg, char opt, double max, int integral)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(arg, &end);
    if (errno || end == arg || *end != '\0' || !(v > 0) || v > max ||
        (integral && v != (double)(unsigned long)v)) {
        fprintf(stderr, "ksbench: -%c: invalid value '%s'\n", opt, arg);
        exit(2);
    }
    return v;
}

static void
parse_options(int argc, char **argv, struct ksb_options *o)
{
    int c;

    memset(o, 0, sizeof(*o));
    o->procs = 1;
    o->mode = -1;
    while ((c = getopt(argc, argv, "m:p:k:s:D:u:a:d:n:c:AX:M:P:h")) != -1) {
        switch (c) {
        case 'm':
            o->mode_name = optarg;
            if (strcmp(optarg, "as") == 0)
                o->mode = KSB_AS;
            else if (strcmp(optarg, "tgs") == 0)
                o->mode = KSB_TGS;
            else if (strcmp(optarg, "names") == 0)
                o->mode = KSB_NAMES;
            else if (strcmp(optarg, "init") == 0)
                o->mode = KSB_INIT;
            else {
                fprintf(stderr, "ksbench: unknown mode '%s' (as, tgs, names "
                        "or init)\n", optarg);
                exit(2);
            }
            break;
        case 'A': o->anonymous = 1; break;
        case 'X':
        case 'M':
            if ((c == 'X' ? o->nattrs : o->nccattrs) >= KSB_MAX_ATTRS ||
                strchr(optarg, '=') == NULL || optarg[0] == '=') {
                fprintf(stderr, "ksbench: -%c: NAME=VALUE expected (at most "
                        "%d), not '%s'\n", c, KSB_MAX_ATTRS, optarg);
                exit(2);
            }
            if (c == 'X')
                o->attrs[o->nattrs++] = optarg;
            else
                o->ccattrs[o->nccattrs++] = optarg;
            break;
        case 'P':
            if (o->npatypes >= KSB_MAX_PATYPES) {
                fprintf(stderr, "ksbench: -P: at most %d preauth types\n",
                        KSB_MAX_PATYPES);
                exit(2);
            }
            o->patypes[o->npatypes++] = parse_patype(optarg);
            break;
        case 'p': o->client = optarg; break;
        case 'k': o->keytab = optarg; break;
        case 's': o->service = optarg; break;
        case 'D': o->device = optarg; break;
        case 'a': o->kdc = optarg; break;
        case 'u':
            o->distinct = (unsigned long)parse_number(optarg, 'u', 4e9, 1);
            break;
        case 'd': o->seconds = parse_number(optarg, 'd', 1e6, 0); break;
        case 'n':
            o->count = (unsigned long)parse_number(optarg, 'n', 4e9, 1);
            break;
        case 'c':
            o->procs = (int)parse_number(optarg, 'c', KSB_MAX_PROCS, 1);
            break;
        case 'h': usage(); exit(0);
        default: usage(); exit(2);
        }
    }
    if (optind != argc || (int)o->mode == -1) {
        usage();
        exit(2);
    }
    if (o->client == NULL && !(o->mode == KSB_INIT && o->anonymous)) {
        fprintf(stderr, "ksbench: -p PRINC is required\n");
        exit(2);
    }
    if (o->mode != KSB_INIT &&
        (o->anonymous || o->nattrs > 0 || o->nccattrs > 0 ||
         o->npatypes > 0)) {
        fprintf(stderr, "ksbench: -A, -X, -M and -P are for -m init\n");
        exit(2);
    }
    if (o->mode == KSB_TGS && o->service == NULL) {
        fprintf(stderr, "ksbench: -m tgs needs -s SERVICE\n");
        exit(2);
    }
    if (o->mode == KSB_NAMES) {
        if (o->service == NULL)
            o->service = "host/svc%u.example.test";
        if (o->device == NULL)
            o->device = "device/dev%u";
        if (!template_ok(o->service) || !template_ok(o->device)) {
            fprintf(stderr, "ksbench: -m names: -s and -D templates need "
                    "exactly one %%u and no other %%\n");
            exit(2);
        }
    }
    if (o->seconds == 0 && o->count == 0)
        o->seconds = KSB_DEFAULT_SECONDS;
}

int
main(int argc, char **argv)
{
    struct ksb_options o;
    struct ksb_report rep;
    pid_t pids[KSB_MAX_PROCS];
    int go[2], reports[2], i, ready = 0, done = 0, failed = 0, status;
    unsigned long requests = 0, errors = 0, exchanges = 0;
    double start, elapsed, rps, cpu;
    struct rusage ru;

    parse_options(argc, argv, &o);
    if (pipe(go) != 0 || pipe(reports) != 0) {
        perror("ksbench: pipe");
        return 1;
    }
    fflush(NULL);
    for (i = 0; i < o.procs; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("ksbench: fork");
            o.procs = i;
            failed = 1;
            break;
        }
        if (pids[i] == 0) {
            close(go[1]);
            close(reports[0]);
            _exit(client_main(&o, i, go[0], reports[1]));
        }
    }
    close(go[0]);
    close(reports[1]);

    /* Wait until every process is ready (or has failed setup). */
    while (ready < o.procs && read_report(reports[0], &rep) == 0) {
        ready++;
        if (rep.kind == KSB_SETUP_FAILED) {
            fprintf(stderr, "ksbench: process %d: %s\n", rep.proc,
                    rep.message);
            failed = 1;
        }
    }
    if (failed || ready < o.procs) {
        for (i = 0; i < o.procs; i++)
            kill(pids[i], SIGTERM);
        close(go[1]);
        while (wait(NULL) > 0)
            ;
        return 1;
    }

    /* Start the clock and release the processes. */
    start = now_seconds();
    close(go[1]);
    while (done < o.procs && read_report(reports[0], &rep) == 0) {
        if (rep.kind != KSB_DONE)
            continue;
        done++;
        requests += rep.requests;
        errors += rep.errors;
        exchanges += rep.exchanges;
        if (rep.errors > 0) {
            fprintf(stderr, "ksbench: process %d: %lu of %lu requests "
                    "failed; %s\n", rep.proc, rep.errors, rep.requests,
                    rep.message);
        }
    }
    elapsed = now_seconds() - start;
    while (wait(&status) > 0)
        ;
    memset(&ru, 0, sizeof(ru));
    getrusage(RUSAGE_CHILDREN, &ru);
    cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
        ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    if (done < o.procs) {
        fprintf(stderr, "ksbench: %d of %d processes did not report\n",
                o.procs - done, o.procs);
        return 1;
    }

    rps = elapsed > 0 ? (double)(requests - errors) / elapsed : 0;
    printf("ksbench mode=%s procs=%d requests=%lu errors=%lu elapsed=%.3f "
           "rps=%.1f client_cpu_us=%.0f exchanges=%lu exch_per_req=%.2f\n",
           o.mode_name, o.procs, requests, errors, elapsed, rps,
           requests ? cpu * 1e6 / requests : 0, exchanges,
           requests ? (double)exchanges / requests : 0);
    printf("%s: %lu requests (%lu errors) in %.2f s with %d client "
           "process%s: %.0f requests/s\n", o.mode_name, requests, errors,
           elapsed, o.procs, o.procs == 1 ? "" : "es", rps);
    return (requests > errors) ? 0 : 1;
}
