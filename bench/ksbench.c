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
 * The keytab is copied into a MEMORY keytab at start-up, so that requests
 * do not reread a file.  With -a HOST:PORT, every process sends its requests
 * through one connected UDP socket, installed with krb5_set_kdc_send_hook()
 * (the hook returns the KDC's reply to the library, which then neither
 * locates the KDC nor opens a socket of its own).  That keeps the client
 * side cheap enough for the KDC, not the load generator, to be the
 * bottleneck on a small machine.  Without -a the library's own transport is
 * used (profile lookup, getaddrinfo and a new socket per request).
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
 *   ksbench mode=tgs procs=2 requests=48213 errors=0 elapsed=10.002 rps=4820.3 client_cpu_us=130
 *   tgs: 48213 requests (0 errors) in 10.00 s with 2 client processes: 4820 requests/s
 *
 * requests counts every attempt, errors those that failed; rps is
 * (requests - errors) / elapsed, elapsed being wall time from the start
 * signal to the last report; client_cpu_us is the CPU time of the client
 * processes (user + system, setup included) per request.  The first error
 * of each process goes to stderr.  Exit status: 0 when the run completed,
 * 1 when setup failed or no request succeeded, 2 for usage errors.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
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

enum ksb_mode { KSB_AS, KSB_TGS, KSB_NAMES };

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
};

/* One record on the report pipe: a process is ready, failed setup, or is
 * done. */
enum ksb_report_kind { KSB_READY, KSB_SETUP_FAILED, KSB_DONE };

struct ksb_report {
    int kind;
    int proc;
    unsigned long requests;
    unsigned long errors;
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
    int kdc_fd;                 /* -a: UDP socket connected to the KDC */
    unsigned char *udp_buf;
};

static void
usage(void)
{
    fprintf(stderr,
            "usage: ksbench -m as|tgs|names -p PRINC [-k KEYTAB] "
            "[-s SERVICE]\n"
            "               [-D DEVICE] [-u COUNT] [-a HOST:PORT]\n"
            "               [-d SECONDS] [-n COUNT] [-c PROCS]\n"
            "  -m MODE     as: AS requests with a keytab; tgs: TGS requests "
            "(no cache);\n"
            "              names: lookups of distinct service and device "
            "names\n"
            "  -p PRINC    client principal (as, tgs, names: owner of the "
            "TGT)\n"
            "  -k KEYTAB   keytab holding PRINC's keys (default: the default "
            "keytab)\n"
            "  -s SERVICE  tgs: service principal; names: template, %%u is "
            "the index\n"
            "              (default host/svc%%u.example.test)\n"
            "  -D DEVICE   names: device template (default device/dev%%u)\n"
            "  -u COUNT    names: use only COUNT names of each kind, "
            "cyclically\n"
            "  -a HOST:PORT  send requests over UDP to HOST:PORT through "
            "one socket per\n"
            "              process (default: the library locates the KDC and "
            "opens a\n"
            "              socket for every request)\n"
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

/* Open a UDP socket connected to addr ("HOST:PORT", "[V6]:PORT"). */
static krb5_error_code
open_kdc_socket(const char *addr, int *fd_out)
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
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return KRB5_KDC_UNREACH;
    *fd_out = fd;
    return 0;
}

/*
 * Pre-send hook (krb5_set_kdc_send_hook): exchange the message over this
 * process's connected UDP socket and hand the reply to the library, which
 * then skips locating the KDC and opening a socket of its own.  A request
 * is resent after a second without an answer, three times at most.
 */
static krb5_error_code KRB5_CALLCONV
udp_send_hook(krb5_context ctx, void *data, const krb5_data *realm,
              const krb5_data *message, krb5_data **new_message_out,
              krb5_data **new_reply_out)
{
    struct ksb_client *cl = data;
    struct pollfd pfd;
    krb5_data reply;
    ssize_t n;
    int try, r;

    for (try = 0; try < KSB_UDP_TRIES; try++) {
        if (send(cl->kdc_fd, message->data, message->length, 0) < 0)
            return errno;
        pfd.fd = cl->kdc_fd;
        pfd.events = POLLIN;
        do {
            r = poll(&pfd, 1, KSB_UDP_TIMEOUT_MS);
        } while (r < 0 && errno == EINTR);
        if (r < 0)
            return errno;
        if (r == 0)
            continue;
        n = recv(cl->kdc_fd, cl->udp_buf, KSB_UDP_MAX, 0);
        if (n < 0)
            return (errno == ECONNREFUSED) ? KRB5_KDC_UNREACH : errno;
        reply.magic = KV5M_DATA;
        reply.length = (unsigned int)n;
        reply.data = (char *)cl->udp_buf;
        return krb5_copy_data(ctx, &reply, new_reply_out);
    }
    return KRB5_KDC_UNREACH;
}

/* Release everything client_setup() created. */
static void
client_free(struct ksb_client *cl)
{
    if (cl->kdc_fd >= 0)
        close(cl->kdc_fd);
    free(cl->udp_buf);
    if (cl->ctx == NULL)
        return;
    if (cl->ccache != NULL)
        krb5_cc_destroy(cl->ctx, cl->ccache);
    krb5_get_init_creds_opt_free(cl->ctx, cl->opt);
    if (cl->keytab != NULL)
        krb5_kt_close(cl->ctx, cl->keytab);
    krb5_free_principal(cl->ctx, cl->service);
    krb5_free_principal(cl->ctx, cl->client);
    krb5_free_context(cl->ctx);
    memset(cl, 0, sizeof(*cl));
}

/* Create the context, keytab handle and options; for tgs and names, get
 * the TGT into a fresh MEMORY ccache. */
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
    what = "parsing the client principal";
    ret = krb5_parse_name(cl->ctx, o->client, &cl->client);
    if (ret)
        goto cleanup;
    what = "reading the keytab";
    ret = load_memory_keytab(cl->ctx, o->keytab, &cl->keytab);
    if (ret)
        goto cleanup;
    if (o->kdc != NULL) {
        what = "opening a UDP socket to the -a address";
        cl->udp_buf = malloc(KSB_UDP_MAX);
        ret = (cl->udp_buf == NULL) ? ENOMEM :
            open_kdc_socket(o->kdc, &cl->kdc_fd);
        if (ret)
            goto cleanup;
        krb5_set_kdc_send_hook(cl->ctx, udp_send_hook, cl);
    }
    what = "allocating options";
    ret = krb5_get_init_creds_opt_alloc(cl->ctx, &cl->opt);
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
    while ((c = getopt(argc, argv, "m:p:k:s:D:u:a:d:n:c:h")) != -1) {
        switch (c) {
        case 'm':
            o->mode_name = optarg;
            if (strcmp(optarg, "as") == 0)
                o->mode = KSB_AS;
            else if (strcmp(optarg, "tgs") == 0)
                o->mode = KSB_TGS;
            else if (strcmp(optarg, "names") == 0)
                o->mode = KSB_NAMES;
            else {
                fprintf(stderr, "ksbench: unknown mode '%s' (as, tgs or "
                        "names)\n", optarg);
                exit(2);
            }
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
    if (o->client == NULL) {
        fprintf(stderr, "ksbench: -p PRINC is required\n");
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
    unsigned long requests = 0, errors = 0;
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
           "rps=%.1f client_cpu_us=%.0f\n", o.mode_name, o.procs, requests,
           errors, elapsed, rps, requests ? cpu * 1e6 / requests : 0);
    printf("%s: %lu requests (%lu errors) in %.2f s with %d client "
           "process%s: %.0f requests/s\n", o.mode_name, requests, errors,
           elapsed, o.procs, o.procs == 1 ? "" : "es", rps);
    return (requests > errors) ? 0 : 1;
}
