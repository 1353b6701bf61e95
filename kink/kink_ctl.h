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

/*
 * The daemon's handler: argv[0] is the command.  Write reply lines to out
 * (a memory stream); return NULL for "ok" or a static/short cause for
 * "error: CAUSE" (the handler may also write lines before an error).
 * The cause is copied before the handler is called again.
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
 * Split a request line (without its newline) into at most max words
 * (in place).  Returns the count, or -1 if the line is empty, has more
 * than max words, or has control characters.  Exposed for unit tests.
 */
int kink_ctl_split(char *line, char **argv, int max);

#endif
