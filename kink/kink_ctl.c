/*
 * kinkd's control socket (see kink_ctl.h): a unix stream socket on the
 * daemon's libverto loop, one request line per connection.
 *
 * A connection (struct kink_ctl_req) goes through three states:
 *
 *   READ      reading the request line into a fixed buffer; a deadline
 *             (timeout_ms from accept) bounds how long a client may take;
 *   DEFERRED  the handler called kink_ctl_defer(): no deadline, the
 *             socket is watched only to notice a client that goes away;
 *   WRITE     the reply is complete and written as the socket takes it,
 *             with a deadline re-armed on every bit of progress; then the
 *             connection is closed.
 *
 * Everything is non-blocking and level-triggered: the daemon never waits
 * for a client, and a client can never hold more than one fixed buffer
 * while reading and one bounded reply while writing.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include "kink_ctl.h"
#include "ks_agent.h"

/* Connections served at once (KINK_CTL_MAX_CONNS): the socket is root's
 * only, so this is about a runaway script, not an attacker. */
#define CTL_MAX_CONNS       KINK_CTL_MAX_CONNS
#define CTL_BACKLOG         16
/* Connections accepted per wake-up, so that a flood of them does not
 * starve the KINK sockets on the same loop. */
#define CTL_ACCEPT_BURST    16
/* When out of file descriptors, stop accepting for this long: the
 * listening socket stays readable and would otherwise spin the loop. */
#define CTL_EMFILE_PAUSE_MS 1000
/* Longest cause sent in an "error: CAUSE" line. */
#define CTL_MAX_CAUSE       400

enum req_state { REQ_READ, REQ_DEFERRED, REQ_WRITE };

struct kink_ctl_req {
    struct kink_ctl *ctl;
    struct kink_ctl_req *next;
    struct kink_ctl_req **prevp;
    int fd;
    enum req_state state;
    verto_ev *io;
    verto_ev *timer;

    /* READ: the request line. */
    char in[KINK_CTL_MAX_LINE];
    size_t in_len;

    /* While the handler runs and while deferred: the reply lines. */
    FILE *out;
    char *out_buf;
    size_t out_size;
    kink_ctl_cancel_fn cancel;
    void *cancel_arg;
    /* kink_ctl_finish() called from inside the handler itself: the
     * reply is sent when the handler returns. */
    int finished_early;
    char early_cause[CTL_MAX_CAUSE + 1];
    int early_error;

    /* WRITE: the whole reply. */
    char *reply;
    size_t reply_len;
    size_t reply_off;
};

struct kink_ctl {
    krb5_context ctx;
    verto_ctx *loop;
    char *path;
    dev_t dev;                      /* the socket file we bound, so that */
    ino_t ino;                      /* close never unlinks another's */
    int fd;
    verto_ev *listen_ev;
    verto_ev *pause_ev;
    kink_ctl_fn fn;
    void *arg;
    unsigned int timeout_ms;
    struct kink_ctl_req *reqs;
    size_t n_reqs;
};

/* The request whose handler is running (kinkd is single-threaded): how
 * kink_ctl_defer() finds the connection behind the handler's stream. */
static struct kink_ctl_req *running;

static const char reply_busy[] = "error: busy: too many control connections\n";
static const char reply_nomem[] = "error: out of memory\n";

static void req_write(struct kink_ctl_req *req);

/* --- the request line ---------------------------------------------------- */

/* Bytes below 0x20 and DEL; bytes from 0x80 up are left alone (principal
 * names may be UTF-8). */
static int
is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

int
kink_ctl_split(char *line, char **argv, int max)
{
    char *p;
    int argc = 0;

    for (p = line; *p != '\0'; p++) {
        if (is_control((unsigned char)*p))
            return -1;
    }
    p = line;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (argc >= max)
            return -1;
        argv[argc++] = p;
        while (*p != ' ' && *p != '\0')
            p++;
        if (*p == '\0')
            break;
        *p++ = '\0';
    }
    return argc > 0 ? argc : -1;
}

/* Why kink_ctl_split() refused line (as it was before the split). */
static const char *
split_cause(const char *line)
{
    const char *p;
    int words = 0, in_word = 0;

    for (p = line; *p != '\0'; p++) {
        if (is_control((unsigned char)*p))
            return "request has control characters";
        if (*p == ' ') {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    if (words == 0)
        return "empty request";
    return "too many words in request";
}

/* --- connections --------------------------------------------------------- */

/* Closing a unix socket with unread input resets the connection, and the
 * client may then lose the "error: ..." it was sent (a request that was
 * too long, a busy daemon).  Take a little of the input first. */
static void
close_drained(int fd)
{
    char sink[512];
    int i;

    for (i = 0; i < 8; i++) {
        if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
            break;
    }
    close(fd);
}

/* Unlink req, stop its events, close it and free it; a deferred request's
 * owner hears of it through its cancel callback, called last so that it
 * cannot reach the freed request. */
static void
req_free(struct kink_ctl_req *req)
{
    kink_ctl_cancel_fn cancel = NULL;
    void *cancel_arg = NULL;

    if (req->state == REQ_DEFERRED) {
        cancel = req->cancel;
        cancel_arg = req->cancel_arg;
    }
    if (running == req)
        running = NULL;
    *req->prevp = req->next;
    if (req->next != NULL)
        req->next->prevp = req->prevp;
    req->ctl->n_reqs--;
    if (req->io != NULL)
        verto_del(req->io);
    if (req->timer != NULL)
        verto_del(req->timer);
    if (req->fd >= 0)
        close_drained(req->fd);
    if (req->out != NULL)
        fclose(req->out);
    free(req->out_buf);
    free(req->reply);
    free(req);
    if (cancel != NULL)
        cancel(cancel_arg);
}

static void req_io_cb(verto_ctx *loop, verto_ev *ev);
static void req_timeout_cb(verto_ctx *loop, verto_ev *ev);

/* Watch req's socket for flags (IO_READ or IO_WRITE), or stop watching
 * (0).  Returns 0, or -1 when libverto is out of memory. */
static int
req_watch(struct kink_ctl_req *req, verto_ev_flag flags)
{
    if (req->io != NULL) {
        verto_del(req->io);
        req->io = NULL;
    }
    if (flags == 0)
        return 0;
    req->io = verto_add_io(req->ctl->loop, VERTO_EV_FLAG_PERSIST | flags,
                           req_io_cb, req->fd);
    if (req->io == NULL)
        return -1;
    verto_set_private(req->io, req, NULL);
    return 0;
}

/* (Re)start req's deadline; on = 0 stops it. */
static int
req_deadline(struct kink_ctl_req *req, int on)
{
    if (req->timer != NULL) {
        verto_del(req->timer);
        req->timer = NULL;
    }
    if (!on)
        return 0;
    req->timer = verto_add_timeout(req->ctl->loop, VERTO_EV_FLAG_NONE,
                                   req_timeout_cb, req->ctl->timeout_ms);
    if (req->timer == NULL)
        return -1;
    verto_set_private(req->timer, req, NULL);
    return 0;
}

/*
 * Build req's reply from the lines written to req->out (if any) and the
 * last line ("ok", or "error: " and cause), then write it.  The cause is
 * copied here, and made one line of printable text: it goes to the client
 * verbatim and a newline in it would end the reply early.
 */
static void
req_respond(struct kink_ctl_req *req, const char *cause)
{
    size_t lines_len = 0, cause_len = 0, i, n;
    int add_nl = 0, failed = 0;
    char *reply;

    if (req->out != NULL) {
        failed = fclose(req->out) != 0;
        req->out = NULL;
        if (!failed && req->out_size > KINK_CTL_MAX_REPLY) {
            ks_agent_log(LOG_WARNING, "control: reply of %zu octets is too "
                         "long (at most %u)", req->out_size,
                         (unsigned int)KINK_CTL_MAX_REPLY);
            cause = "reply too long";
            req->out_size = 0;
        }
        if (failed) {
            cause = "out of memory";
            req->out_size = 0;
        }
        lines_len = req->out_size;
        add_nl = lines_len > 0 && req->out_buf[lines_len - 1] != '\n';
    }
    if (cause != NULL) {
        cause_len = strlen(cause);
        if (cause_len > CTL_MAX_CAUSE)
            cause_len = CTL_MAX_CAUSE;
    }

    n = lines_len + add_nl + (cause != NULL ? 7 + cause_len : 2) + 1;
    reply = malloc(n);
    if (reply == NULL) {
        /* Still tell the client, from static storage. */
        free(req->out_buf);
        req->out_buf = NULL;
        reply = strdup(reply_nomem);
        if (reply == NULL) {
            req_free(req);
            return;
        }
        n = sizeof(reply_nomem) - 1;
    } else {
        char *p = reply;

        if (lines_len > 0)
            memcpy(p, req->out_buf, lines_len);
        p += lines_len;
        if (add_nl)
            *p++ = '\n';
        if (cause == NULL) {
            memcpy(p, "ok", 2);
            p += 2;
        } else {
            memcpy(p, "error: ", 7);
            p += 7;
            for (i = 0; i < cause_len; i++) {
                unsigned char c = (unsigned char)cause[i];

                *p++ = is_control(c) ? '?' : (char)c;
            }
        }
        *p++ = '\n';
        n = (size_t)(p - reply);
        free(req->out_buf);
        req->out_buf = NULL;
    }
    req->out_size = 0;
    req->reply = reply;
    req->reply_len = n;
    req->reply_off = 0;
    req->state = REQ_WRITE;
    req->cancel = NULL;
    req_write(req);
}

/* Write what the socket takes; close when done or when the client is
 * gone, wait for writability (with a fresh deadline after progress)
 * otherwise. */
static void
req_write(struct kink_ctl_req *req)
{
    ssize_t n;
    int progress = 0;

    while (req->reply_off < req->reply_len) {
        n = send(req->fd, req->reply + req->reply_off,
                 req->reply_len - req->reply_off,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            /* EPIPE, ECONNRESET: the client did not wait for its reply. */
            ks_agent_log(LOG_DEBUG, "control: client left before its reply "
                         "was written: %s", strerror(errno));
            req_free(req);
            return;
        }
        req->reply_off += (size_t)n;
        progress = 1;
    }
    if (req->reply_off == req->reply_len) {
        req_free(req);
        return;
    }
    if ((req->io == NULL || !(verto_get_flags(req->io) &
                              VERTO_EV_FLAG_IO_WRITE)) &&
        req_watch(req, VERTO_EV_FLAG_IO_WRITE) != 0) {
        req_free(req);
        return;
    }
    if ((progress || req->timer == NULL) && req_deadline(req, 1) != 0)
        req_free(req);
}

/* Run the handler on a complete line (without its newline). */
static void
req_handle(struct kink_ctl_req *req, char *line)
{
    struct kink_ctl *ctl = req->ctl;
    char *argv[KINK_CTL_MAX_ARGS + 1], copy[KINK_CTL_MAX_LINE];
    const char *cause;
    size_t len = strlen(line);
    int argc;

    /* "nc -C" and telnet end lines with CRLF. */
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';

    req_deadline(req, 0);
    req_watch(req, 0);
    memcpy(copy, line, strlen(line) + 1);
    argc = kink_ctl_split(line, argv, KINK_CTL_MAX_ARGS);
    if (argc < 0) {
        cause = split_cause(copy);
        ks_agent_log(LOG_NOTICE, "control: refused request: %s", cause);
        req_respond(req, cause);
        return;
    }
    argv[argc] = NULL;
    ks_agent_log(LOG_DEBUG, "control: request %s", argv[0]);

    req->out = open_memstream(&req->out_buf, &req->out_size);
    if (req->out == NULL) {
        req_respond(req, "out of memory");
        return;
    }
    running = req;
    cause = ctl->fn(ctl->arg, argc, argv, req->out);
    running = NULL;

    if (req->finished_early) {
        req->state = REQ_READ;
        req_respond(req, req->early_error ? req->early_cause : NULL);
    } else if (req->state == REQ_DEFERRED) {
        /* Keep reading only to notice a client that goes away. */
        if (req_watch(req, VERTO_EV_FLAG_IO_READ) != 0)
            req_free(req);
    } else {
        req_respond(req, cause);
    }
}

/* READ: take what the client sent; act on a complete line. */
static void
req_read(struct kink_ctl_req *req)
{
    char *nl;
    ssize_t n;

    for (;;) {
        if (req->in_len == sizeof(req->in)) {
            ks_agent_log(LOG_NOTICE, "control: refused request longer "
                         "than %u octets", (unsigned int)KINK_CTL_MAX_LINE);
            req_deadline(req, 0);
            req_watch(req, 0);
            req_respond(req, "request too long");
            return;
        }
        n = recv(req->fd, req->in + req->in_len,
                 sizeof(req->in) - req->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            ks_agent_log(LOG_DEBUG, "control: read: %s", strerror(errno));
            req_free(req);
            return;
        }
        if (n == 0) {
            /* A client that connects and leaves (another kinkd checking
             * whether this one lives) is no error. */
            if (req->in_len == 0) {
                req_free(req);
                return;
            }
            ks_agent_log(LOG_NOTICE, "control: refused request without "
                         "a newline");
            req_deadline(req, 0);
            req_watch(req, 0);
            req_respond(req, "request without a newline");
            return;
        }
        nl = memchr(req->in + req->in_len, '\n', (size_t)n);
        req->in_len += (size_t)n;
        if (nl == NULL)
            continue;
        if ((size_t)(nl - req->in) + 1 != req->in_len) {
            ks_agent_log(LOG_NOTICE, "control: refused data after the "
                         "request line");
            req_deadline(req, 0);
            req_watch(req, 0);
            req_respond(req, "one request per connection");
            return;
        }
        if (memchr(req->in, '\0', (size_t)(nl - req->in)) != NULL) {
            ks_agent_log(LOG_NOTICE, "control: refused request: request "
                         "has control characters");
            req_deadline(req, 0);
            req_watch(req, 0);
            req_respond(req, "request has control characters");
            return;
        }
        *nl = '\0';
        req_handle(req, req->in);
        return;
    }
}

/* DEFERRED: the socket is readable, which a waiting client never makes it
 * by sending; it closed, half-closed or sent more. */
static void
req_check_gone(struct kink_ctl_req *req)
{
    struct pollfd pfd;
    char buf[64];
    ssize_t n;

    n = recv(req->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == 0) {
        /* POLLHUP: both directions are shut, the client is gone.
         * Otherwise it only half-closed and still reads: stop watching
         * (EOF stays readable) and answer in due course. */
        pfd.fd = req->fd;
        pfd.events = 0;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP)) {
            ks_agent_log(LOG_DEBUG, "control: client left while waiting");
            req_free(req);
        } else if (req_watch(req, 0) != 0) {
            req_free(req);
        }
        return;
    }
    ks_agent_log(LOG_NOTICE, "control: dropped a waiting client: %s",
                 n > 0 ? "data after the request line" : strerror(errno));
    req_free(req);
}

static void
req_io_cb(verto_ctx *loop, verto_ev *ev)
{
    struct kink_ctl_req *req = verto_get_private(ev);

    (void)loop;
    switch (req->state) {
    case REQ_READ:
        req_read(req);
        break;
    case REQ_DEFERRED:
        req_check_gone(req);
        break;
    case REQ_WRITE:
        req_write(req);
        break;
    }
}

static void
req_timeout_cb(verto_ctx *loop, verto_ev *ev)
{
    struct kink_ctl_req *req = verto_get_private(ev);

    (void)loop;
    /* A one-shot event: libverto frees it after this callback. */
    req->timer = NULL;
    if (req->state == REQ_READ) {
        ks_agent_log(LOG_NOTICE, "control: dropped a client that sent no "
                     "request within %u ms", req->ctl->timeout_ms);
        req_watch(req, 0);
        req_respond(req, "timed out waiting for the request");
    } else {
        ks_agent_log(LOG_NOTICE, "control: dropped a client that did not "
                     "read its reply within %u ms", req->ctl->timeout_ms);
        req_free(req);
    }
}

/* --- the listening socket ------------------------------------------------ */

static void listen_cb(verto_ctx *loop, verto_ev *ev);

static int
listen_watch(struct kink_ctl *ctl)
{
    ctl->listen_ev = verto_add_io(ctl->loop,
                                  VERTO_EV_FLAG_PERSIST |
                                  VERTO_EV_FLAG_IO_READ, listen_cb, ctl->fd);
    if (ctl->listen_ev == NULL)
        return -1;
    verto_set_private(ctl->listen_ev, ctl, NULL);
    return 0;
}

static void
pause_cb(verto_ctx *loop, verto_ev *ev)
{
    struct kink_ctl *ctl = verto_get_private(ev);

    (void)loop;
    ctl->pause_ev = NULL;
    if (listen_watch(ctl) != 0)
        ks_agent_log(LOG_ERR, "control: out of memory; no longer accepting "
                     "connections on %s", ctl->path);
}

/* Only root or the daemon's own user: the file mode says so already; this
 * holds even if someone loosens it. */
static int
peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    return cred.uid == 0 || cred.uid == geteuid();
}

static void
accept_one(struct kink_ctl *ctl, int fd)
{
    struct kink_ctl_req *req;

    if (!peer_allowed(fd)) {
        ks_agent_log(LOG_WARNING, "control: refused a connection from "
                     "another user");
        close(fd);
        return;
    }
    if (ctl->n_reqs >= CTL_MAX_CONNS) {
        ks_agent_log(LOG_WARNING, "control: refused a connection: %u "
                     "already open", (unsigned int)CTL_MAX_CONNS);
        (void)send(fd, reply_busy, sizeof(reply_busy) - 1,
                   MSG_NOSIGNAL | MSG_DONTWAIT);
        close_drained(fd);
        return;
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        (void)send(fd, reply_nomem, sizeof(reply_nomem) - 1,
                   MSG_NOSIGNAL | MSG_DONTWAIT);
        close_drained(fd);
        return;
    }
    req->ctl = ctl;
    req->fd = fd;
    req->state = REQ_READ;
    req->next = ctl->reqs;
    req->prevp = &ctl->reqs;
    if (ctl->reqs != NULL)
        ctl->reqs->prevp = &req->next;
    ctl->reqs = req;
    ctl->n_reqs++;
    if (req_watch(req, VERTO_EV_FLAG_IO_READ) != 0 ||
        req_deadline(req, 1) != 0) {
        ks_agent_log(LOG_ERR, "control: out of memory");
        req_free(req);
    }
}

static void
listen_cb(verto_ctx *loop, verto_ev *ev)
{
    struct kink_ctl *ctl = verto_get_private(ev);
    int i, fd;

    (void)loop;
    for (i = 0; i < CTL_ACCEPT_BURST; i++) {
        fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                ks_agent_log(LOG_WARNING, "control: cannot accept: %s; "
                             "pausing for %u ms", strerror(errno),
                             (unsigned int)CTL_EMFILE_PAUSE_MS);
                ctl->pause_ev = verto_add_timeout(ctl->loop,
                                                  VERTO_EV_FLAG_NONE,
                                                  pause_cb,
                                                  CTL_EMFILE_PAUSE_MS);
                if (ctl->pause_ev != NULL) {
                    verto_set_private(ctl->pause_ev, ctl, NULL);
                    verto_del(ctl->listen_ev);
                    ctl->listen_ev = NULL;
                }
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                ks_agent_log(LOG_WARNING, "control: accept: %s",
                             strerror(errno));
            }
            return;
        }
        accept_one(ctl, fd);
    }
}

/* bind() with the socket file created as 0600: the mode a unix socket
 * file gets is decided by the umask at bind time, and a chmod() after it
 * would leave a window in which anyone could connect.  (umask is
 * process-wide; kinkd is single-threaded.) */
static int
bind_private(int fd, const struct sockaddr_un *sun)
{
    mode_t old;
    int r, e;

    old = umask(0177);
    r = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
    e = errno;
    umask(old);
    errno = e;
    return r;
}

/*
 * Bind fd to sun's path.  A socket file left by a kinkd that died is
 * removed, but only after a connect() to it is refused: a daemon that
 * still answers (or whose backlog is full: EAGAIN on this non-blocking
 * probe) keeps its socket, and we refuse to start.
 */
static krb5_error_code
bind_path(krb5_context ctx, int fd, const struct sockaddr_un *sun)
{
    const char *path = sun->sun_path;
    struct stat st;
    int probe, r, e;

    if (bind_private(fd, sun) == 0)
        return 0;
    e = errno;
    if (e != EADDRINUSE) {
        krb5_set_error_message(ctx, e, "cannot bind control socket %s: %s",
                               path, strerror(e));
        return e;
    }

    probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        e = errno;
        krb5_set_error_message(ctx, e, "control socket %s: cannot probe "
                               "it: %s", path, strerror(e));
        return e;
    }
    r = connect(probe, (const struct sockaddr *)sun, sizeof(*sun));
    e = errno;
    close(probe);
    if (r == 0 || e == EAGAIN || e == EINPROGRESS) {
        krb5_set_error_message(ctx, EADDRINUSE, "control socket %s: another "
                               "daemon is listening on it", path);
        return EADDRINUSE;
    }
    if (e != ECONNREFUSED && e != ENOENT) {
        krb5_set_error_message(ctx, e, "control socket %s exists and cannot "
                               "be probed: %s", path, strerror(e));
        return e;
    }
    if (e == ECONNREFUSED) {
        /* connect() is refused by any file that is not a listening
         * socket; remove only sockets. */
        if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            krb5_set_error_message(ctx, EEXIST, "control socket %s: exists "
                                   "and is not a socket", path);
            return EEXIST;
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            e = errno;
            krb5_set_error_message(ctx, e, "cannot remove stale control "
                                   "socket %s: %s", path, strerror(e));
            return e;
        }
        ks_agent_log(LOG_INFO, "removed stale control socket %s", path);
    }
    if (bind_private(fd, sun) != 0) {
        e = errno;
        krb5_set_error_message(ctx, e, "cannot bind control socket %s: %s",
                               path, strerror(e));
        return e;
    }
    return 0;
}

krb5_error_code
kink_ctl_open(krb5_context ctx, verto_ctx *loop, const char *path,
              kink_ctl_fn fn, void *arg, struct kink_ctl **out)
{
    struct kink_ctl *ctl = NULL;
    struct sockaddr_un sun;
    struct stat st;
    krb5_error_code ret;
    int bound = 0;
    size_t len;

    *out = NULL;
    if (path == NULL || *path == '\0') {
        krb5_set_error_message(ctx, EINVAL, "control socket: empty path");
        return EINVAL;
    }
    len = strlen(path);
    if (len >= sizeof(sun.sun_path)) {
        krb5_set_error_message(ctx, ENAMETOOLONG, "control socket %s: path "
                               "too long (%zu octets, at most %zu)", path,
                               len, sizeof(sun.sun_path) - 1);
        return ENAMETOOLONG;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, len + 1);

    ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return ENOMEM;
    ctl->fd = -1;
    ctl->ctx = ctx;
    ctl->loop = loop;
    ctl->fn = fn;
    ctl->arg = arg;
    ctl->timeout_ms = KINK_CTL_TIMEOUT_MS;
    ctl->path = strdup(path);
    if (ctl->path == NULL) {
        ret = ENOMEM;
        goto fail;
    }

    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ctl->fd < 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "control socket %s: %s", path,
                               strerror(ret));
        goto fail;
    }
    ret = bind_path(ctx, ctl->fd, &sun);
    if (ret)
        goto fail;
    bound = 1;
    /* Belt and braces over the umask (a file system that ignores it). */
    if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "control socket %s: %s", path,
                               strerror(ret));
        goto fail;
    }
    ctl->dev = st.st_dev;
    ctl->ino = st.st_ino;
    if (listen(ctl->fd, CTL_BACKLOG) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot listen on control socket "
                               "%s: %s", path, strerror(ret));
        goto fail;
    }
    if (listen_watch(ctl) != 0) {
        ret = ENOMEM;
        goto fail;
    }
    *out = ctl;
    return 0;

fail:
    if (bound)
        unlink(path);
    if (ctl->fd >= 0)
        close(ctl->fd);
    free(ctl->path);
    free(ctl);
    return ret;
}

void
kink_ctl_close(struct kink_ctl *ctl)
{
    struct stat st;

    if (ctl == NULL)
        return;
    while (ctl->reqs != NULL)
        req_free(ctl->reqs);
    if (ctl->listen_ev != NULL)
        verto_del(ctl->listen_ev);
    if (ctl->pause_ev != NULL)
        verto_del(ctl->pause_ev);
    if (ctl->fd >= 0)
        close(ctl->fd);
    /* Unlink only our own socket file, not one that a newer daemon bound
     * after someone removed ours. */
    if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
        st.st_ino == ctl->ino)
        unlink(ctl->path);
    free(ctl->path);
    free(ctl);
}

void
kink_ctl_set_timeout_ms(struct kink_ctl *ctl, unsigned int ms)
{
    ctl->timeout_ms = ms > 0 ? ms : 1;
}

/* --- deferred replies ---------------------------------------------------- */

struct kink_ctl_req *
kink_ctl_defer(FILE *out, kink_ctl_cancel_fn cancel, void *arg)
{
    if (running == NULL || out == NULL || running->out != out ||
        running->state != REQ_READ || running->finished_early)
        return NULL;
    running->state = REQ_DEFERRED;
    running->cancel = cancel;
    running->cancel_arg = arg;
    return running;
}

FILE *
kink_ctl_req_out(struct kink_ctl_req *req)
{
    return req->out;
}

void
kink_ctl_finish(struct kink_ctl_req *req, const char *cause)
{
    if (req == NULL || req->state != REQ_DEFERRED)
        return;
    if (req == running) {
        /* Finished before the handler returned: req_handle() sends the
         * reply then, so that the handler's caller never sees req freed
         * under it. */
        req->finished_early = 1;
        req->early_error = cause != NULL;
        if (cause != NULL) {
            strncpy(req->early_cause, cause, CTL_MAX_CAUSE);
            req->early_cause[CTL_MAX_CAUSE] = '\0';
        }
        return;
    }
    req->cancel = NULL;
    req_respond(req, cause);
}
