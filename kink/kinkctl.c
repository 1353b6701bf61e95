/*
 * kinkctl: talk to kinkd over its control socket (see kinkctl(8) and the
 * protocol in kink_ctl.h).
 *
 *   kinkctl [-s SOCKET] [-c kinkd.conf] [-t SECONDS] COMMAND [ARGS]
 *
 * Sends one request line, prints the reply lines but the last, and maps
 * the last line to the exit status: "ok" 0, "error: CAUSE" 1 (the cause on
 * standard error), a bad command line 2, a daemon that cannot be reached
 * or does not answer completely 3.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <krb5/krb5.h>

#include "kink_conf.h"
#include "kink_ctl.h"

#define EXIT_OK         0
#define EXIT_ERROR      1
#define EXIT_USAGE      2
#define EXIT_UNREACH    3

/* How long to wait for the whole reply unless -t says otherwise: long
 * enough for "initiate" (a negotiation with Kerberos exchanges and
 * retransmissions), short enough that a wedged daemon does not hang a
 * script for ever. */
#define DEFAULT_TIMEOUT 120

static const char *prog = "kinkctl";

static const struct {
    const char *name;
    int nargs;
    int optional;       /* further optional arguments */
} commands[] = {
    { "status", 0, 0 },
    { "peers", 0, 0 },
    { "sa", 0, 0 },
    { "initiate", 1, 1 },
    { "delete", 1, 0 },
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: %s [-s SOCKET] [-c kinkd.conf] [-t SECONDS] COMMAND "
            "[ARGS]\n"
            "commands:\n"
            "  status          the daemon's identity, sockets and counters\n"
            "  peers           one line per configured peer\n"
            "  sa              one line per SA pair\n"
            "  initiate PEER [COUNT]\n"
            "                  negotiate an SA pair with PEER and wait; with\n"
            "                  COUNT, that many one after the other, and print\n"
            "                  the rate (a benchmark)\n"
            "  delete PEER     send DELETE and remove PEER's SAs\n"
            "options:\n"
            "  -s SOCKET       the control socket (default: kinkd.conf's "
            "control_socket,\n"
            "                  else %s)\n"
            "  -c FILE         the kinkd.conf to read it from (default %s)\n"
            "  -t SECONDS      wait at most this long for the reply "
            "(default %d; 0: no limit)\n"
            "  -h              this help\n",
            prog, KINK_CONF_DEFAULT_CONTROL, KINK_CONF_DEFAULT_PATH,
            DEFAULT_TIMEOUT);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    return EXIT_USAGE;
}

/*
 * The control socket named by kinkd.conf: conf_path (-c), or the default
 * file when it exists.  Returns NULL after printing the cause (exit 1).
 */
static char *
socket_from_conf(const char *conf_path)
{
    krb5_context ctx = NULL;
    struct kink_conf *cfg = NULL;
    krb5_error_code ret;
    const char *msg;
    char *path = NULL;

    if (conf_path == NULL) {
        conf_path = KINK_CONF_DEFAULT_PATH;
        if (access(conf_path, F_OK) != 0 && errno == ENOENT)
            return strdup(KINK_CONF_DEFAULT_CONTROL);
    }
    ret = krb5_init_context(&ctx);
    if (ret) {
        fprintf(stderr, "%s: cannot initialize krb5 (krb5.conf): %s\n", prog,
                strerror(ret));
        return NULL;
    }
    ret = kink_conf_load(ctx, conf_path, &cfg);
    if (ret) {
        msg = krb5_get_error_message(ctx, ret);
        fprintf(stderr, "%s: %s (or name the socket with -s)\n", prog, msg);
        krb5_free_error_message(ctx, msg);
    } else {
        path = strdup(cfg->control_socket != NULL ? cfg->control_socket :
                      KINK_CONF_DEFAULT_CONTROL);
        if (path == NULL)
            fprintf(stderr, "%s: out of memory\n", prog);
        kink_conf_free(ctx, cfg);
    }
    krb5_free_context(ctx);
    return path;
}

/* A word that fits the protocol: no spaces, no control characters. */
static int
word_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
            return 0;
    }
    return 1;
}

/* Milliseconds left until deadline (monotonic), for poll(); -1 = none. */
static int
ms_left(const struct timespec *deadline)
{
    struct timespec now;
    long long ms;

    if (deadline == NULL)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
        (deadline->tv_nsec - now.tv_nsec) / 1000000;
    if (ms < 0)
        return 0;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * Send line on a fresh connection to path and read the whole reply into
 * *reply_out (NUL-terminated), by the deadline dl (NULL: none; timeout is
 * its length, for the message).  Returns 0, or EXIT_UNREACH after
 * printing the cause.
 */
static int
exchange(const char *path, const char *line, const struct timespec *dl,
         long timeout, char **reply_out, size_t *len_out)
{
    struct sockaddr_un sun;
    struct pollfd pfd;
    size_t off = 0, len = 0, cap = 0, max = KINK_CTL_MAX_REPLY + 1024;
    char *buf = NULL, *nbuf;
    ssize_t n;
    int fd, r, e;

    *reply_out = NULL;
    *len_out = 0;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "%s: cannot reach kinkd at %s: path too long for a "
                "unix socket (at most %zu octets)\n", prog, path,
                sizeof(sun.sun_path) - 1);
        return EXIT_UNREACH;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot reach kinkd at %s: %s\n", prog, path,
                strerror(errno));
        return EXIT_UNREACH;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        e = errno;
        fprintf(stderr, "%s: cannot reach kinkd at %s: %s%s\n", prog, path,
                strerror(e), (e == ENOENT || e == ECONNREFUSED) ?
                " (is kinkd running?)" : "");
        close(fd);
        return EXIT_UNREACH;
    }

    len = strlen(line);
    while (off < len) {
        n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            break;              /* the daemon refused us: read why */
        if (n < 0) {
            fprintf(stderr, "%s: cannot send to kinkd at %s: %s\n", prog,
                    path, strerror(errno));
            close(fd);
            return EXIT_UNREACH;
        }
        off += (size_t)n;
    }

    /* Do not shut down our side: the daemon takes that as a client gone
     * away while it waits (initiate), and the reply ends with the close
     * anyway. */
    len = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap == 0 ? 8192 : cap * 2;
            nbuf = realloc(buf, cap + 1);
            if (nbuf == NULL) {
                fprintf(stderr, "%s: out of memory\n", prog);
                goto unreach;
            }
            buf = nbuf;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        r = poll(&pfd, 1, ms_left(dl));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
            goto unreach;
        }
        if (r == 0) {
            fprintf(stderr, "%s: no complete reply from kinkd at %s within "
                    "%ld s\n", prog, path, timeout);
            goto unreach;
        }
        n = recv(fd, buf + len, cap - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        /* A reset after the reply (the daemon closed with our input
         * unread) ends it like EOF; finish_reply() checks that it is
         * complete. */
        if (n < 0 && errno == ECONNRESET)
            break;
        if (n < 0) {
            fprintf(stderr, "%s: cannot read from kinkd at %s: %s\n", prog,
                    path, strerror(errno));
            goto unreach;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            fprintf(stderr, "%s: reply from kinkd at %s is too long\n", prog,
                    path);
            goto unreach;
        }
    }
    close(fd);
    if (buf == NULL)
        buf = calloc(1, 1);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_UNREACH;
    }
    buf[len] = '\0';
    *reply_out = buf;
    *len_out = len;
    return 0;

unreach:
    close(fd);
    free(buf);
    return EXIT_UNREACH;
}

/*
 * Whether reply is exactly "pending ID" and "ok": a daemon that answers
 * initiate and delete at once with a request id, to be asked for with
 * "result ID" until the outcome is known (kinkd may do this instead of a
 * deferred reply, see kink_ctl_defer in kink_ctl.h).
 */
static int
pending_id(const char *reply, unsigned long *id)
{
    const char *p;
    char *end;

    if (strncmp(reply, "pending ", 8) != 0)
        return 0;
    p = reply + 8;
    if (*p < '0' || *p > '9')
        return 0;
    errno = 0;
    *id = strtoul(p, &end, 10);
    return errno == 0 && strcmp(end, "\nok\n") == 0;
}

static void
sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Print the reply's lines but the last and map the last to the exit
 * status. */
static int
finish_reply(const char *path, char *reply, size_t len)
{
    char *last;

    if (len == 0 || reply[len - 1] != '\n' ||
        memchr(reply, '\0', len) != NULL) {
        fprintf(stderr, "%s: incomplete reply from kinkd at %s (the "
                "connection was closed)\n", prog, path);
        return EXIT_UNREACH;
    }
    reply[len - 1] = '\0';
    last = strrchr(reply, '\n');
    last = last == NULL ? reply : last + 1;
    if (strcmp(last, "ok") != 0 && strncmp(last, "error: ", 7) != 0) {
        fprintf(stderr, "%s: incomplete reply from kinkd at %s (the "
                "connection was closed)\n", prog, path);
        return EXIT_UNREACH;
    }
    fwrite(reply, 1, (size_t)(last - reply), stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: standard output: %s\n", prog, strerror(errno));
        return EXIT_ERROR;
    }
    if (strcmp(last, "ok") == 0)
        return EXIT_OK;
    fprintf(stderr, "%s: %s\n", prog, last + 7);
    return EXIT_ERROR;
}

int
main(int argc, char **argv)
{
    const char *sock_opt = NULL, *conf_opt = NULL, *cmd;
    char line[KINK_CTL_MAX_LINE + 1], *sock_path, *reply, *end;
    struct timespec deadline, *dl = NULL;
    long timeout = DEFAULT_TIMEOUT, poll_ms = 50;
    unsigned long id;
    size_t i, reply_len, pos;
    int c, nargs, optional = 0, j, status;

    /* '+': options end at the command, whose arguments are its own. */
    while ((c = getopt(argc, argv, "+hs:c:t:")) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 's':
            sock_opt = optarg;
            break;
        case 'c':
            conf_opt = optarg;
            break;
        case 't':
            errno = 0;
            timeout = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || timeout < 0 ||
                timeout > 86400 * 365)
                return usage_error("bad -t value '%s' (seconds)", optarg);
            break;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return usage_error("no command given");
    cmd = argv[optind];
    nargs = -1;
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            nargs = commands[i].nargs;
            optional = commands[i].optional;
        }
    }
    if (nargs < 0)
        return usage_error("unknown command '%s'", cmd);
    if (argc - optind - 1 < nargs)
        return usage_error("%s: missing PEER", cmd);
    if (argc - optind - 1 > nargs + optional)
        return usage_error("%s: too many arguments", cmd);

    pos = (size_t)snprintf(line, sizeof(line), "%s", cmd);
    for (j = optind + 1; j < argc; j++) {
        if (!word_ok(argv[j]))
            return usage_error("bad argument '%s' (spaces or control "
                               "characters)", argv[j]);
        if (pos < sizeof(line))
            pos += (size_t)snprintf(line + pos, sizeof(line) - pos, " %s",
                                    argv[j]);
    }
    if (pos + 1 > KINK_CTL_MAX_LINE)
        return usage_error("request longer than the daemon takes");
    line[pos] = '\n';
    line[pos + 1] = '\0';

    if (sock_opt != NULL)
        sock_path = strdup(sock_opt);
    else
        sock_path = socket_from_conf(conf_opt);
    if (sock_path == NULL)
        return EXIT_ERROR;

    if (timeout > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout;
        dl = &deadline;
    }
    status = exchange(sock_path, line, dl, timeout, &reply, &reply_len);
    while (status == 0 && nargs == 1 && pending_id(reply, &id)) {
        free(reply);
        reply = NULL;
        if (dl != NULL && ms_left(dl) == 0) {
            fprintf(stderr, "%s: no complete reply from kinkd at %s within "
                    "%ld s\n", prog, sock_path, timeout);
            status = EXIT_UNREACH;
            break;
        }
        sleep_ms(dl != NULL && ms_left(dl) < poll_ms ? ms_left(dl) :
                 poll_ms);
        if (poll_ms < 500)
            poll_ms *= 2;
        snprintf(line, sizeof(line), "result %lu\n", id);
        status = exchange(sock_path, line, dl, timeout, &reply, &reply_len);
    }
    if (status == 0) {
        status = finish_reply(sock_path, reply, reply_len);
        free(reply);
    }
    free(sock_path);
    return status;
}
