/*
 * kinkd's control socket, the server side of kinkctl(8).
 *
 * A SOCK_STREAM unix socket (kinkd.conf control_socket), mode 0600, owner
 * root: only root (or the daemon's user) may talk to it.  The protocol is
 * text, one request per connection:
 *
 *   request:  one line, words separated by single spaces, at most
 *             KINK_CTL_MAX_LINE octets including the newline, e.g.
 *             "status\n", "peers\n", "sa\n", "initiate 192.0.2.7\n",
 *             "delete 192.0.2.7\n"
 *   reply:    any number of text lines, then a last line "ok" or
 *             "error: CAUSE"; the daemon then closes the connection.
 *
 * Clients that do not send a full line within 5 s, or send more than
 * KINK_CTL_MAX_LINE octets, or a line with NUL or control characters, are
 * answered "error: ..." and dropped; the daemon never blocks on a client
 * (non-blocking sockets, replies buffered and written as the socket
 * accepts them, at most KINK_CTL_MAX_REPLY octets).
 */
#ifndef KINK_CTL_H
#define KINK_CTL_H

#include <stdio.h>
#include <krb5/krb5.h>
#include <verto.h>

#define KINK_CTL_MAX_LINE  512
#define KINK_CTL_MAX_ARGS  8
#define KINK_CTL_MAX_REPLY (1024 * 1024)
/* Connections served at once; one more is answered "error: busy: ..." and
 * closed. */
#define KINK_CTL_MAX_CONNS 32

/*
 * The daemon's handler: argv[0] is the command.  Write reply lines to out
 * (a memory stream); return NULL for "ok" or a static/short cause for
 * "error: CAUSE" (the handler may also write lines before an error).
 * The cause is copied before the handler is called again.  The handler
 * must not call kink_ctl_close().
 */
typedef const char *(*kink_ctl_fn)(void *arg, int argc, char **argv,
                                   FILE *out);

struct kink_ctl;

/* Bind path (removing a stale socket file first, refusing if another
 * daemon answers on it), listen, watch with loop. */
krb5_error_code kink_ctl_open(krb5_context ctx, verto_ctx *loop,
                              const char *path, kink_ctl_fn fn, void *arg,
                              struct kink_ctl **out);
/* Close every connection and the socket, unlink path. */
void kink_ctl_close(struct kink_ctl *ctl);

/*
 * The deadline for a client to send its request line (from accept) and,
 * once a reply is being written, for the client to take each part of it
 * (from the last progress); KINK_CTL_TIMEOUT_MS unless changed.  Applies
 * to connections accepted afterwards.  For tests; kinkd keeps the default.
 */
#define KINK_CTL_TIMEOUT_MS 5000
void kink_ctl_set_timeout_ms(struct kink_ctl *ctl, unsigned int ms);

/*
 * Deferred replies, for commands that wait for something on the loop
 * ("initiate PEER" waits for its negotiation).  From inside the handler
 * (same call, same thread), kink_ctl_defer(out, cancel, arg) keeps the
 * connection open after the handler returns: the handler's return value
 * is then ignored (return NULL), the lines written to out so far are kept,
 * and more may be written to kink_ctl_req_out(req) later.
 * kink_ctl_finish(req, cause) ends the reply with "ok" (cause NULL) or
 * "error: CAUSE" and sends it; req is invalid afterwards.
 *
 * If the request ends before kink_ctl_finish -- the client closed its
 * connection, or kink_ctl_close -- cancel(arg) is called (when not NULL)
 * and req is freed: forget it there.  A client that only half-closes
 * (shutdown(SHUT_WR)) still gets its reply.  While a reply is deferred
 * no deadline applies; the daemon bounds how long its work may take.
 *
 * kink_ctl_defer returns NULL when out is not the stream of the handler
 * being run (the caller then answers as usual).
 */
struct kink_ctl_req;
typedef void (*kink_ctl_cancel_fn)(void *arg);

struct kink_ctl_req *kink_ctl_defer(FILE *out, kink_ctl_cancel_fn cancel,
                                    void *arg);
FILE *kink_ctl_req_out(struct kink_ctl_req *req);
void kink_ctl_finish(struct kink_ctl_req *req, const char *cause);

/*
 * Split a request line (without its newline) into at most max words
 * (in place).  Returns the count, or -1 if the line is empty, has more
 * than max words, or has control characters.  Exposed for unit tests.
 */
int kink_ctl_split(char *line, char **argv, int max);

#endif
