/*
 * Unit tests for kinkd's control socket (kink/kink_ctl.c) and kinkctl:
 * kink_ctl_split, then real round trips over a unix socket in a temporary
 * directory with a libverto loop run by the test itself (the client side
 * uses non-blocking sockets and pumps the loop while it waits), and
 * finally the kinkctl binary against the same server.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <check.h>
#include <krb5/krb5.h>
#include <verto.h>

#include "kink_ctl.h"
#include "unit_util.h"

static krb5_context ctx;
static char *tmpdir, *sock_path;
static verto_ctx *loop;
static struct kink_ctl *ctl;

/* What the test handler saw and holds. */
static int handler_calls;
static int handler_argc;
static char handler_argv[KINK_CTL_MAX_ARGS][64];
static struct kink_ctl_req *pending;
static int cancelled;
static int handler_cookie;
/* Answer initiate with "pending 7" and then "result 7" with "pending 7"
 * this many times before the outcome. */
static int poll_mode, polls_left;

/* A tick, so that verto_run_once() returns at least every 20 ms even when
 * the server has nothing to do (the client polls between runs). */
static void
tick_cb(verto_ctx *l, verto_ev *ev)
{
    (void)l;
    (void)ev;
}

static void
cancel_cb(void *arg)
{
    (*(int *)arg)++;
    pending = NULL;
}

static const char *
test_handler(void *arg, int argc, char **argv, FILE *out)
{
    struct kink_ctl_req *r;
    size_t i;
    int k;

    ck_assert_ptr_eq(arg, &handler_cookie);
    handler_calls++;
    handler_argc = argc;
    for (k = 0; k < argc && k < KINK_CTL_MAX_ARGS; k++)
        snprintf(handler_argv[k], sizeof(handler_argv[k]), "%s", argv[k]);
    ck_assert_ptr_null(argv[argc]);

    if (strcmp(argv[0], "echo") == 0) {
        for (k = 1; k < argc; k++)
            fprintf(out, "%s\n", argv[k]);
        return NULL;
    }
    if (strcmp(argv[0], "fail") == 0) {
        fputs("partial\n", out);
        return "it failed";
    }
    if (strcmp(argv[0], "big") == 0) {
        /* One octet more than a reply may have. */
        for (i = 0; i < KINK_CTL_MAX_REPLY; i += 64)
            fprintf(out, "%063d\n", 0);
        fputc('x', out);
        return NULL;
    }
    if (strcmp(argv[0], "exact") == 0) {
        /* Exactly as long as a reply may be. */
        for (i = 0; i < KINK_CTL_MAX_REPLY; i += 64)
            fprintf(out, "%063d\n", 0);
        return NULL;
    }
    if (strcmp(argv[0], "nonl") == 0) {
        fputs("x", out);
        return NULL;
    }
    if (strcmp(argv[0], "badcause") == 0)
        return "line1\nline2";
    if (strcmp(argv[0], "status") == 0 || strcmp(argv[0], "sa") == 0) {
        fputs("identity: test\nuptime: 5s\n", out);
        return NULL;
    }
    if (strcmp(argv[0], "delete") == 0) {
        fprintf(out, "looked for %s\n", argv[1]);
        return "no such peer";
    }
    if (poll_mode && strcmp(argv[0], "initiate") == 0) {
        fputs("pending 7\n", out);
        return NULL;
    }
    if (strcmp(argv[0], "result") == 0) {
        ck_assert_str_eq(argv[1], "7");
        if (polls_left-- > 0) {
            fputs("pending 7\n", out);
            return NULL;
        }
        return "the peer refused";
    }
    if (strcmp(argv[0], "wait") == 0 || strcmp(argv[0], "initiate") == 0) {
        pending = kink_ctl_defer(out, cancel_cb, &cancelled);
        ck_assert_ptr_nonnull(pending);
        ck_assert_ptr_eq(kink_ctl_req_out(pending), out);
        fputs("started\n", out);
        return "ignored when deferred";
    }
    if (strcmp(argv[0], "waitnow") == 0) {
        r = kink_ctl_defer(out, cancel_cb, &cancelled);
        ck_assert_ptr_nonnull(r);
        fputs("now\n", kink_ctl_req_out(r));
        kink_ctl_finish(r, "done early");
        return "ignored when deferred";
    }
    if (strcmp(argv[0], "foreign") == 0) {
        r = kink_ctl_defer(stdout, cancel_cb, &cancelled);
        return r == NULL ? NULL : "kink_ctl_defer took a foreign stream";
    }
    return "unknown command";
}

static void
setup(void)
{
    tmpdir = unit_mkdtemp(NULL);
    ctx = unit_context_from_profile(tmpdir,
                                    "[libdefaults]\n"
                                    " default_realm = EXAMPLE.TEST\n");
    loop = verto_new(NULL, VERTO_EV_TYPE_IO | VERTO_EV_TYPE_TIMEOUT);
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(verto_add_timeout(loop, VERTO_EV_FLAG_PERSIST,
                                            tick_cb, 20));
    sock_path = unit_path(tmpdir, "ctl.sock");
    ctl = NULL;
    handler_calls = 0;
    handler_argc = 0;
    pending = NULL;
    cancelled = 0;
    poll_mode = 0;
    polls_left = 0;
}

static void
teardown(void)
{
    kink_ctl_close(ctl);
    verto_free(loop);
    krb5_free_context(ctx);
    unit_rmtree(tmpdir);
    free(tmpdir);
    free(sock_path);
}

static void
open_ctl(void)
{
    krb5_error_code ret;

    ret = kink_ctl_open(ctx, loop, sock_path, test_handler, &handler_cookie,
                        &ctl);
    ck_assert_msg(ret == 0, "kink_ctl_open: %s", unit_errmsg(ctx, ret));
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop for about ms milliseconds. */
static void
pump(long ms)
{
    long end = now_ms() + ms;

    while (now_ms() < end)
        verto_run_once(loop);
}

static int
unix_connect(const char *path, int nonblock)
{
    struct sockaddr_un sun;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    ck_assert_int_ge(fd, 0);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int
client_connect(void)
{
    int fd = unix_connect(sock_path, 1);

    ck_assert_msg(fd >= 0, "connect %s: %s", sock_path, strerror(errno));
    return fd;
}

static void
client_send(int fd, const void *p, size_t len)
{
    ck_assert_int_eq(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Pump the loop and read fd until EOF or ms pass; returns what was read
 * (malloc'ed, NUL-terminated; *len_out its length) and whether EOF came.
 */
static char *
client_collect(int fd, long ms, int *eof, size_t *len_out)
{
    long end = now_ms() + ms;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap + 1);
    ssize_t n;

    ck_assert_ptr_nonnull(buf);
    *eof = 0;
    for (;;) {
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            ck_assert_ptr_nonnull(buf);
        }
        n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            *eof = 1;
            break;
        }
        ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK,
                      "recv: %s", strerror(errno));
        if (now_ms() >= end)
            break;
        verto_run_once(loop);
    }
    buf[len] = '\0';
    if (len_out != NULL)
        *len_out = len;
    return buf;
}

/* One request (raw bytes) on a fresh connection; the whole reply. */
static char *
request(const void *req, size_t len)
{
    char *reply;
    int fd, eof;

    fd = client_connect();
    client_send(fd, req, len);
    reply = client_collect(fd, 5000, &eof, NULL);
    ck_assert_msg(eof, "no EOF after the reply; got \"%s\"", reply);
    close(fd);
    return reply;
}

static void
expect_reply(const char *req, const char *want)
{
    char *reply = request(req, strlen(req));

    /* Not ck_assert_str_eq: Check cannot pass a message as long as the
     * longest replies. */
    ck_assert_msg(strcmp(reply, want) == 0, "reply \"%.200s\" (%zu "
                  "octets), want \"%s\"", reply, strlen(reply), want);
    free(reply);
}

/* --- kink_ctl_split ------------------------------------------------------ */

START_TEST(test_split_words)
{
    char line[] = "initiate 192.0.2.7";
    char spaces[] = "  delete   peer  ";
    char utf8[] = "echo d\xc3\xa9vice/1@EXAMPLE.TEST";
    char eight[] = "a b c d e f g h";
    char *argv[KINK_CTL_MAX_ARGS];

    ck_assert_int_eq(kink_ctl_split(line, argv, KINK_CTL_MAX_ARGS), 2);
    ck_assert_str_eq(argv[0], "initiate");
    ck_assert_str_eq(argv[1], "192.0.2.7");
    ck_assert_int_eq(kink_ctl_split(spaces, argv, KINK_CTL_MAX_ARGS), 2);
    ck_assert_str_eq(argv[0], "delete");
    ck_assert_str_eq(argv[1], "peer");
    ck_assert_int_eq(kink_ctl_split(utf8, argv, KINK_CTL_MAX_ARGS), 2);
    ck_assert_str_eq(argv[1], "d\xc3\xa9vice/1@EXAMPLE.TEST");
    ck_assert_int_eq(kink_ctl_split(eight, argv, 8), 8);
    ck_assert_str_eq(argv[7], "h");
}
END_TEST

START_TEST(test_split_refusals)
{
    char empty[] = "", blank[] = "   ", tab[] = "echo\ta";
    char cr[] = "status\r", del[] = "st\x7f" "atus", esc[] = "\x1b[2J";
    char nine[] = "a b c d e f g h i", three[] = "a b c";
    char *argv[KINK_CTL_MAX_ARGS];

    ck_assert_int_eq(kink_ctl_split(empty, argv, KINK_CTL_MAX_ARGS), -1);
    ck_assert_int_eq(kink_ctl_split(blank, argv, KINK_CTL_MAX_ARGS), -1);
    ck_assert_int_eq(kink_ctl_split(tab, argv, KINK_CTL_MAX_ARGS), -1);
    ck_assert_int_eq(kink_ctl_split(cr, argv, KINK_CTL_MAX_ARGS), -1);
    ck_assert_int_eq(kink_ctl_split(del, argv, KINK_CTL_MAX_ARGS), -1);
    ck_assert_int_eq(kink_ctl_split(esc, argv, KINK_CTL_MAX_ARGS), -1);
    ck_assert_int_eq(kink_ctl_split(nine, argv, 8), -1);
    ck_assert_int_eq(kink_ctl_split(three, argv, 2), -1);
}
END_TEST

/* --- round trips --------------------------------------------------------- */

START_TEST(test_ok_reply)
{
    open_ctl();
    expect_reply("echo a b\n", "a\nb\nok\n");
    ck_assert_int_eq(handler_calls, 1);
    ck_assert_int_eq(handler_argc, 3);
    ck_assert_str_eq(handler_argv[0], "echo");
    ck_assert_str_eq(handler_argv[2], "b");
    expect_reply("echo\n", "ok\n");
    /* CRLF (nc -C) is taken as a newline. */
    expect_reply("echo x\r\n", "x\nok\n");
    /* A last line without its newline gets one. */
    expect_reply("nonl\n", "x\nok\n");
}
END_TEST

START_TEST(test_error_reply)
{
    char *reply;

    open_ctl();
    expect_reply("fail\n", "partial\nerror: it failed\n");
    expect_reply("nosuch\n", "error: unknown command\n");
    /* A cause cannot end the reply early. */
    expect_reply("badcause\n", "error: line1?line2\n");
    expect_reply("big\n", "error: reply too long\n");
    reply = request("exact\n", 6);
    ck_assert_uint_eq(strlen(reply), KINK_CTL_MAX_REPLY + 3);
    ck_assert_str_eq(reply + KINK_CTL_MAX_REPLY - 4, "000\nok\n");
    free(reply);
    expect_reply("foreign\n", "ok\n");
}
END_TEST

START_TEST(test_bad_requests)
{
    char longreq[KINK_CTL_MAX_LINE + 100];
    char *reply;

    open_ctl();
    expect_reply("\n", "error: empty request\n");
    expect_reply("echo a\tb\n", "error: request has control characters\n");
    reply = request("echo a\0b\n", 9);
    ck_assert_str_eq(reply, "error: request has control characters\n");
    free(reply);
    expect_reply("a b c d e f g h i\n", "error: too many words in request\n");
    expect_reply("echo a\necho b\n", "error: one request per connection\n");

    /* KINK_CTL_MAX_LINE octets including the newline are fine, one more
     * is not (with or without a newline). */
    memset(longreq, 'a', sizeof(longreq));
    memcpy(longreq, "echo ", 5);
    longreq[KINK_CTL_MAX_LINE - 1] = '\n';
    reply = request(longreq, KINK_CTL_MAX_LINE);
    ck_assert_int_eq(strlen(reply), KINK_CTL_MAX_LINE - 5 - 1 + 1 + 3);
    ck_assert(strcmp(reply + strlen(reply) - 4, "\nok\n") == 0);
    free(reply);
    longreq[KINK_CTL_MAX_LINE - 1] = 'a';
    longreq[KINK_CTL_MAX_LINE] = '\n';
    reply = request(longreq, KINK_CTL_MAX_LINE + 1);
    ck_assert_str_eq(reply, "error: request too long\n");
    free(reply);
    reply = request(longreq, KINK_CTL_MAX_LINE - 1 + 50);
    ck_assert_str_eq(reply, "error: request too long\n");
    free(reply);
    ck_assert_int_eq(handler_calls, 1);
}
END_TEST

START_TEST(test_request_in_pieces)
{
    char *reply;
    int fd, eof;

    open_ctl();
    fd = client_connect();
    client_send(fd, "ec", 2);
    free(client_collect(fd, 50, &eof, NULL));
    ck_assert(!eof);
    client_send(fd, "ho piece", 8);
    free(client_collect(fd, 50, &eof, NULL));
    ck_assert(!eof);
    client_send(fd, "s\n", 2);
    reply = client_collect(fd, 5000, &eof, NULL);
    ck_assert(eof);
    ck_assert_str_eq(reply, "pieces\nok\n");
    free(reply);
    close(fd);
}
END_TEST

/* A client that never finishes its line is answered and dropped after the
 * deadline, and others are served meanwhile. */
START_TEST(test_slow_client_dropped)
{
    char *reply;
    long start, took;
    int slow, eof;

    open_ctl();
    kink_ctl_set_timeout_ms(ctl, 300);
    start = now_ms();
    slow = client_connect();
    client_send(slow, "echo never ending", 17);

    expect_reply("echo meanwhile\n", "meanwhile\nok\n");

    reply = client_collect(slow, 5000, &eof, NULL);
    took = now_ms() - start;
    ck_assert(eof);
    ck_assert_str_eq(reply, "error: timed out waiting for the request\n");
    ck_assert_msg(took >= 250 && took < 2000, "dropped after %ld ms", took);
    ck_assert_int_eq(handler_calls, 1);
    free(reply);
    close(slow);

    /* A client that sends nothing at all, likewise. */
    slow = client_connect();
    reply = client_collect(slow, 5000, &eof, NULL);
    ck_assert(eof);
    ck_assert_str_eq(reply, "error: timed out waiting for the request\n");
    free(reply);
    close(slow);
}
END_TEST

/* A client that does not read a long reply is dropped after the deadline
 * instead of holding the reply for ever. */
START_TEST(test_stalled_reader_dropped)
{
    struct kink_ctl_req *r;
    char *reply;
    size_t len, i;
    int fd, eof, rcvbuf = 4096;

    open_ctl();
    kink_ctl_set_timeout_ms(ctl, 200);
    fd = client_connect();
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
                                sizeof(rcvbuf)), 0);
    client_send(fd, "wait\n", 5);
    pump(50);
    ck_assert_ptr_nonnull(pending);
    r = pending;
    for (i = 0; i < KINK_CTL_MAX_REPLY / 256; i++)
        fputs("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
              "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
              "yyyy\n", kink_ctl_req_out(r));
    kink_ctl_finish(r, NULL);
    pending = NULL;
    /* Not reading: the server gives up within the deadline. */
    pump(600);
    reply = client_collect(fd, 2000, &eof, &len);
    ck_assert(eof);
    ck_assert_uint_lt(len, KINK_CTL_MAX_REPLY / 256 * 128);
    ck_assert_int_eq(cancelled, 0);
    free(reply);
    close(fd);
}
END_TEST

/* One connection more than KINK_CTL_MAX_CONNS is told so and closed; the
 * others are served. */
START_TEST(test_busy)
{
    int fds[KINK_CTL_MAX_CONNS], i, eof;
    char *reply;

    open_ctl();
    for (i = 0; i < KINK_CTL_MAX_CONNS; i++) {
        fds[i] = client_connect();
        pump(5);
    }
    expect_reply("echo one-too-many\n",
                 "error: busy: too many control connections\n");
    ck_assert_int_eq(handler_calls, 0);
    client_send(fds[0], "echo first\n", 11);
    reply = client_collect(fds[0], 5000, &eof, NULL);
    ck_assert(eof);
    ck_assert_str_eq(reply, "first\nok\n");
    free(reply);
    for (i = 0; i < KINK_CTL_MAX_CONNS; i++)
        close(fds[i]);
    pump(50);
    expect_reply("echo again\n", "again\nok\n");
}
END_TEST

/* Another user is not served even when the socket's mode lets it in. */
START_TEST(test_other_user_refused)
{
    long end;
    pid_t pid, w;
    int status = 0;

    if (geteuid() != 0)
        return;                 /* needs root to become another user */
    open_ctl();
    ck_assert_int_eq(chmod(sock_path, 0666), 0);
    ck_assert_int_eq(chmod(tmpdir, 0755), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char buf[64];
        ssize_t n;
        int fd;

        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(10);
        fd = unix_connect(sock_path, 0);
        if (fd < 0)
            _exit(11);
        (void)send(fd, "echo x\n", 7, MSG_NOSIGNAL);
        n = recv(fd, buf, sizeof(buf), 0);
        _exit(n <= 0 ? 0 : 12);     /* EOF or reset, no reply */
    }
    end = now_ms() + 5000;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < end)
        verto_run_once(loop);
    ck_assert_int_eq(w, pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

/* --- deferred replies ---------------------------------------------------- */

START_TEST(test_deferred_reply)
{
    char *reply;
    int fd, eof;

    open_ctl();
    kink_ctl_set_timeout_ms(ctl, 100);
    fd = client_connect();
    client_send(fd, "wait 192.0.2.7\n", 15);
    /* Well past the deadline: a deferred reply has none. */
    reply = client_collect(fd, 400, &eof, NULL);
    ck_assert(!eof);
    ck_assert_str_eq(reply, "");
    free(reply);
    ck_assert_ptr_nonnull(pending);
    fprintf(kink_ctl_req_out(pending), "SA pair with 192.0.2.7: "
            "in=0x1 out=0x2\n");
    kink_ctl_finish(pending, NULL);
    pending = NULL;
    reply = client_collect(fd, 5000, &eof, NULL);
    ck_assert(eof);
    ck_assert_str_eq(reply, "started\nSA pair with 192.0.2.7: in=0x1 "
                     "out=0x2\nok\n");
    free(reply);
    close(fd);

    /* Finished with an error. */
    fd = client_connect();
    client_send(fd, "wait\n", 5);
    pump(50);
    ck_assert_ptr_nonnull(pending);
    kink_ctl_finish(pending, "negotiation timed out");
    pending = NULL;
    reply = client_collect(fd, 5000, &eof, NULL);
    ck_assert(eof);
    ck_assert_str_eq(reply, "started\nerror: negotiation timed out\n");
    free(reply);
    close(fd);

    /* Finished inside the handler itself. */
    expect_reply("waitnow\n", "now\nerror: done early\n");
    ck_assert_int_eq(cancelled, 0);
}
END_TEST

START_TEST(test_deferred_client_gone)
{
    int fd;

    open_ctl();
    fd = client_connect();
    client_send(fd, "wait\n", 5);
    pump(50);
    ck_assert_ptr_nonnull(pending);
    close(fd);
    pump(100);
    ck_assert_int_eq(cancelled, 1);
    ck_assert_ptr_null(pending);

    /* Data after the line while waiting: dropped too. */
    fd = client_connect();
    client_send(fd, "wait\n", 5);
    pump(50);
    ck_assert_ptr_nonnull(pending);
    client_send(fd, "more\n", 5);
    pump(100);
    ck_assert_int_eq(cancelled, 2);
    close(fd);
}
END_TEST

START_TEST(test_deferred_half_close)
{
    char *reply;
    int fd, eof;

    open_ctl();
    fd = client_connect();
    client_send(fd, "wait\n", 5);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    pump(100);
    ck_assert_int_eq(cancelled, 0);
    ck_assert_ptr_nonnull(pending);
    kink_ctl_finish(pending, NULL);
    pending = NULL;
    reply = client_collect(fd, 5000, &eof, NULL);
    ck_assert(eof);
    ck_assert_str_eq(reply, "started\nok\n");
    free(reply);
    close(fd);
}
END_TEST

START_TEST(test_close_cancels_pending)
{
    char *reply;
    int fd, eof;

    open_ctl();
    fd = client_connect();
    client_send(fd, "wait\n", 5);
    pump(50);
    ck_assert_ptr_nonnull(pending);
    kink_ctl_close(ctl);
    ctl = NULL;
    ck_assert_int_eq(cancelled, 1);
    reply = client_collect(fd, 1000, &eof, NULL);
    ck_assert(eof);
    ck_assert_str_eq(reply, "");
    free(reply);
    close(fd);
}
END_TEST

/* --- the socket file ----------------------------------------------------- */

START_TEST(test_mode_0600)
{
    struct stat st;
    mode_t old;

    old = umask(0);
    open_ctl();
    ck_assert_int_eq(umask(old), 0);
    ck_assert_int_eq(stat(sock_path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(test_close_unlinks)
{
    struct stat st;

    open_ctl();
    kink_ctl_close(ctl);
    ctl = NULL;
    ck_assert_int_eq(lstat(sock_path, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* A socket file that nobody listens on (a kinkd that died) is replaced. */
START_TEST(test_stale_socket_removed)
{
    struct sockaddr_un sun;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, sock_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    ck_assert_int_eq(unix_connect(sock_path, 0), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);

    open_ctl();
    expect_reply("echo fresh\n", "fresh\nok\n");
}
END_TEST

/* A live listener keeps its socket: kink_ctl_open refuses. */
START_TEST(test_live_listener_refused)
{
    struct sockaddr_un sun;
    struct kink_ctl *second = NULL;
    krb5_error_code ret;
    int fd, c;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, sock_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);

    ret = kink_ctl_open(ctx, loop, sock_path, test_handler, &handler_cookie,
                        &ctl);
    ck_assert_int_eq(ret, EADDRINUSE);
    ck_assert_ptr_null(ctl);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret),
                                 "another daemon is listening"));
    /* The other listener's socket is intact. */
    c = unix_connect(sock_path, 0);
    ck_assert_int_ge(c, 0);
    close(c);
    close(fd);
    unlink(sock_path);

    /* And a second kink_ctl on the socket of a first. */
    open_ctl();
    ret = kink_ctl_open(ctx, loop, sock_path, test_handler, &handler_cookie,
                        &second);
    ck_assert_int_eq(ret, EADDRINUSE);
    ck_assert_ptr_null(second);
    /* The probe's connection is no request: the first keeps serving. */
    expect_reply("echo still\n", "still\nok\n");
    ck_assert_int_eq(handler_calls, 1);
}
END_TEST

START_TEST(test_not_a_socket)
{
    struct stat st;
    krb5_error_code ret;

    unit_write_file(sock_path, "keep", 4, 0644);
    ret = kink_ctl_open(ctx, loop, sock_path, test_handler, &handler_cookie,
                        &ctl);
    ck_assert_int_eq(ret, EEXIST);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "not a socket"));
    ck_assert_int_eq(stat(sock_path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
}
END_TEST

START_TEST(test_path_too_long)
{
    struct sockaddr_un sun;
    krb5_error_code ret;
    char *path;
    size_t n = sizeof(sun.sun_path);

    path = malloc(n + 1);
    ck_assert_ptr_nonnull(path);
    memset(path, 'p', n);
    path[0] = '/';
    path[n] = '\0';
    ret = kink_ctl_open(ctx, loop, path, test_handler, &handler_cookie,
                        &ctl);
    ck_assert_int_eq(ret, ENAMETOOLONG);
    ck_assert_ptr_null(ctl);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "path too long"));
    free(path);
}
END_TEST

/* --- kinkctl ------------------------------------------------------------- */

static const char *
kinkctl_path(void)
{
    const char *p = getenv("KINKCTL");

    return p != NULL ? p : "../../kink/kinkctl";
}

static char *
slurp(const char *path)
{
    char *buf = calloc(1, 65536);
    FILE *f = fopen(path, "r");

    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(f);
    (void)fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

/*
 * Run kinkctl with args (NULL-terminated) while pumping the loop; finish a
 * deferred request with finish_line when one appears.  Returns the exit
 * status; *out and *err get standard output and error.
 */
static int
run_kinkctl(const char *const *args, const char *finish_line, char **out,
            char **err)
{
    char *out_path = unit_path(tmpdir, "out"), *err_path =
        unit_path(tmpdir, "err");
    const char *argv[16];
    long end = now_ms() + 10000;
    pid_t pid, w;
    int i, status = 0;

    ck_assert_msg(access(kinkctl_path(), X_OK) == 0, "%s: %s",
                  kinkctl_path(), strerror(errno));
    argv[0] = "kinkctl";
    for (i = 0; args[i] != NULL; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(99);
        execv(kinkctl_path(), (char *const *)argv);
        _exit(98);
    }
    for (;;) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        ck_assert_int_eq(w, 0);
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("kinkctl did not finish");
        }
        if (pending != NULL && finish_line != NULL) {
            fprintf(kink_ctl_req_out(pending), "%s\n", finish_line);
            kink_ctl_finish(pending, NULL);
            pending = NULL;
        }
        verto_run_once(loop);
    }
    ck_assert(WIFEXITED(status));
    *out = slurp(out_path);
    *err = slurp(err_path);
    free(out_path);
    free(err_path);
    return WEXITSTATUS(status);
}

#define RUN(expect_status, finish, ...) do {                            \
        const char *const a_[] = { __VA_ARGS__, NULL };                 \
        free(out);                                                      \
        free(err);                                                      \
        ck_assert_int_eq(run_kinkctl(a_, finish, &out, &err),           \
                         expect_status);                                \
    } while (0)

START_TEST(test_kinkctl)
{
    char *out = NULL, *err = NULL, *conf, *text, *missing;

    open_ctl();

    RUN(0, NULL, "-s", sock_path, "status");
    ck_assert_str_eq(out, "identity: test\nuptime: 5s\n");
    ck_assert_str_eq(err, "");

    RUN(1, NULL, "-s", sock_path, "delete", "192.0.2.9");
    ck_assert_str_eq(out, "looked for 192.0.2.9\n");
    ck_assert_str_eq(err, "kinkctl: no such peer\n");
    ck_assert_int_eq(handler_argc, 2);
    ck_assert_str_eq(handler_argv[1], "192.0.2.9");

    RUN(0, "SA pair with 192.0.2.7: in=0x1 out=0x2", "-s", sock_path,
        "initiate", "192.0.2.7");
    ck_assert_str_eq(out, "started\nSA pair with 192.0.2.7: in=0x1 "
                     "out=0x2\n");

    /* The socket named by kinkd.conf. */
    conf = unit_path(tmpdir, "kinkd.conf");
    if (asprintf(&text, "# test\ncontrol_socket = %s\n", sock_path) < 0)
        ck_abort();
    unit_write_file(conf, text, strlen(text), 0600);
    RUN(0, NULL, "-c", conf, "sa");
    ck_assert_str_eq(out, "identity: test\nuptime: 5s\n");
    free(text);

    /* A broken kinkd.conf: status 1 with its message. */
    unit_write_file(conf, "bogus = 1\n", 10, 0600);
    RUN(1, NULL, "-c", conf, "status");
    ck_assert_ptr_nonnull(strstr(err, "kinkd.conf:1"));

    /* Nobody there: status 3 naming the socket and the cause. */
    missing = unit_path(tmpdir, "none.sock");
    RUN(3, NULL, "-s", missing, "status");
    ck_assert_ptr_nonnull(strstr(err, missing));
    ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));

    /* A daemon that does not answer within -t. */
    RUN(3, NULL, "-s", sock_path, "-t", "1", "initiate", "192.0.2.8");
    ck_assert_ptr_nonnull(strstr(err, "no complete reply"));
    pump(100);
    ck_assert_int_eq(cancelled, 1);

    /* A daemon that answers initiate with a request id to poll. */
    poll_mode = 1;
    polls_left = 3;
    handler_calls = 0;
    RUN(1, NULL, "-s", sock_path, "initiate", "192.0.2.7");
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "kinkctl: the peer refused\n");
    ck_assert_int_eq(handler_calls, 5);
    polls_left = 1000;
    RUN(3, NULL, "-s", sock_path, "-t", "1", "initiate", "192.0.2.7");
    ck_assert_ptr_nonnull(strstr(err, "no complete reply"));
    pump(100);      /* the last "result 7", sent as time ran out */
    poll_mode = 0;

    /* Usage errors: status 2, nothing sent. */
    handler_calls = 0;
    RUN(2, NULL, "-s", sock_path, "bogus");
    ck_assert_ptr_nonnull(strstr(err, "unknown command 'bogus'"));
    RUN(2, NULL, "-s", sock_path, "initiate");
    RUN(2, NULL, "-s", sock_path, "status", "extra");
    RUN(2, NULL, "-s", sock_path, "delete", "a b");
    RUN(2, NULL, "-s", sock_path);
    RUN(2, NULL, "-t", "x", "status");
    ck_assert_int_eq(handler_calls, 0);
    RUN(0, NULL, "-h");
    ck_assert_ptr_nonnull(strstr(out, "usage: kinkctl"));

    free(out);
    free(err);
    free(conf);
    free(missing);
}
END_TEST

static Suite *
kink_ctl_suite(void)
{
    Suite *s = suite_create("kink_ctl");
    TCase *tc;

    tc = tcase_create("split");
    tcase_add_test(tc, test_split_words);
    tcase_add_test(tc, test_split_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ok_reply);
    tcase_add_test(tc, test_error_reply);
    tcase_add_test(tc, test_bad_requests);
    tcase_add_test(tc, test_request_in_pieces);
    tcase_add_test(tc, test_slow_client_dropped);
    tcase_add_test(tc, test_stalled_reader_dropped);
    tcase_add_test(tc, test_busy);
    tcase_add_test(tc, test_other_user_refused);
    tcase_add_test(tc, test_deferred_reply);
    tcase_add_test(tc, test_deferred_client_gone);
    tcase_add_test(tc, test_deferred_half_close);
    tcase_add_test(tc, test_close_cancels_pending);
    tcase_add_test(tc, test_mode_0600);
    tcase_add_test(tc, test_close_unlinks);
    tcase_add_test(tc, test_stale_socket_removed);
    tcase_add_test(tc, test_live_listener_refused);
    tcase_add_test(tc, test_not_a_socket);
    tcase_add_test(tc, test_path_too_long);
    tcase_add_test(tc, test_kinkctl);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(kink_ctl_suite());
}
