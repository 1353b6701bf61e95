/*
 * What the two agents of krb5-stateless have in common: kregister (the
 * device agent, preauth/kregister.c) and ktempkey (the server agent,
 * plugins/ktempkey.c).  Both are one-shot commands that can also run
 * forever in the foreground ("run"), and both follow DESIGN.md section 4
 * "Tools": a one-line message naming the cause on failure, exit status 2
 * for usage errors, logs to syslog when run as a daemon or to stderr with
 * -d.
 *
 * Logging state, the stop-signal set and the program name are process-wide
 * (an agent is one process doing one thing); nothing here is meant for the
 * KDC plugins that share libkscommon.
 */
#ifndef KS_AGENT_H
#define KS_AGENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <krb5/krb5.h>

/* --- logging ------------------------------------------------------------ */

/*
 * Set how ks_agent_log() writes: prog prefixes stderr lines ("prog: ...")
 * and names the syslog ident; debug (-d) lets LOG_DEBUG lines through;
 * timestamps prefixes stderr lines with the local time (run -d, where
 * lines come at long intervals).  Call once, after option parsing and
 * before the first log line; prog must stay valid.
 */
void ks_agent_log_init(const char *prog, krb5_boolean debug,
                       krb5_boolean timestamps);

/*
 * From here on log to syslog (facility daemon, with the pid), unless -d
 * was given.  A daemon calls this after its start-up checks, whose errors
 * went to stderr: the operator, or the service manager's journal.
 */
void ks_agent_log_to_syslog(void);

/* Close syslog if ks_agent_log_to_syslog() opened it. */
void ks_agent_log_close(void);

/* Log one line: syslog (see above), otherwise stderr; LOG_DEBUG lines only
 * with -d. */
void ks_agent_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log "what: MESSAGE" with ret's message as kept in ctx. */
void ks_agent_log_krb5(krb5_context ctx, int prio, krb5_error_code ret,
                       const char *what);

/*
 * t as text into buf: with utc, ISO 8601 in UTC ("2026-01-01T12:00:00Z");
 * otherwise local time for people ("2026-01-01 13:00:00").  32 bytes are
 * enough.
 */
void ks_agent_format_time(time_t t, krb5_boolean utc, char *buf,
                          size_t len);

/* --- commands ----------------------------------------------------------- */

/*
 * The command word of an agent's command line: argv[optind], which must be
 * the last argument and one of the NULL-terminated commands.  Otherwise
 * print "prog: no command given", "prog: too many arguments" or
 * "prog: unknown command 'X'" and then usage(stderr), and return NULL: a
 * usage error, exit status 2.  (Called before ks_agent_log_init(): the
 * command decides how the agent logs.)
 */
const char *ks_agent_command(const char *prog, int argc, char **argv,
                             int optind, const char *const *commands,
                             void (*usage)(FILE *));

/*
 * Start-up of an agent that acts for one principal: a long-lived context
 * (for caches, keytabs and error messages) into *ctx_out, name parsed into
 * *client_out, its canonical form (with the realm, for messages) into
 * *canonical_out and its realm into *realm_out (both malloc'ed).  On
 * failure log the cause (krb5.conf, the principal, or memory) and return
 * -1; what was made so far is in the outputs, for the caller to free.
 */
int ks_agent_init(const char *name, krb5_context *ctx_out,
                  krb5_principal *client_out, char **canonical_out,
                  char **realm_out);

/*
 * Load the identity (if not NULL) and the anchor once, so that a broken
 * file (or a private key readable by others) stops the agent at start-up
 * with a message naming it ("identity: ...", "anchor: ..."), not at the
 * first exchange hours later.  Returns -1 after logging.
 */
int ks_agent_check_identity(krb5_context ctx, const char *identity,
                            const char *anchor);

/*
 * A fresh context for one AS exchange, into *ctx_out.  The clpreauth
 * modules keep their gic options in per-context module data, so each
 * exchange runs in a context of its own: options of one exchange (a
 * devreg_ticket, a key id) must not leak into the next.  On failure the
 * message (naming krb5.conf) is set in agent_ctx.
 */
krb5_error_code ks_agent_exchange_context(krb5_context agent_ctx,
                                          krb5_context *ctx_out);

/* --- stopping and waiting ----------------------------------------------- */

/*
 * Block SIGTERM and SIGINT, so that one arriving during an exchange is not
 * lost (nor kills the agent half way): it waits for ks_agent_sleep_or_stop()
 * or ks_agent_stop_requested().  Returns 0, or errno.
 */
int ks_agent_block_stop_signals(void);

/* Whether a SIGTERM or SIGINT is waiting (blocked, see above). */
krb5_boolean ks_agent_stop_requested(void);

/*
 * Sleep up to seconds (0: just look), or until SIGTERM or SIGINT; with the
 * signals blocked a stop request that came during an exchange is picked up
 * here.  Waits on the monotonic clock, so a wall clock step does not
 * stretch the sleep.  Returns 1 when a signal asks the agent to stop (and
 * logs it).
 */
int ks_agent_sleep_or_stop(time_t seconds);

/*
 * The wait before retry number n (1, 2, ...): min doubled each time,
 * capped at max (min <= max, both > 0).  An agent that many hosts run may
 * take some of it off at random so that they do not come back in step.
 */
time_t ks_agent_backoff(unsigned int n, time_t min, time_t max);

/* --- files -------------------------------------------------------------- */

/* The directory part of path ("." for a bare name, "/" for "/x"),
 * malloc'ed; NULL when out of memory. */
char *ks_agent_dirname(const char *path);

/* fsync the file at path by name (after a library closed it).  Returns 0,
 * or -1 with errno set. */
int ks_agent_sync_file(const char *path);

/* fsync the directory holding path, best effort: makes a rename(2) into
 * it durable. */
void ks_agent_sync_dir(const char *path);

/* The earlier of two times, 0 meaning "none" (the other wins). */
time_t ks_agent_earliest(time_t a, time_t b);

#endif
