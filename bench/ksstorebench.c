/*
 * ksstorebench: what one write to the shared store (lib/ks_store.h) costs
 * on this machine's disk, measured through the store's public API in a
 * fresh state directory:
 *
 *   replay    ks_store_replay_check_and_insert() of a new key, the write
 *             of every device login: replay.mdb, committed without a sync
 *             (MDB_NOSYNC; one sync per KS_STORE_REPLAY_SYNC_SECS by the
 *             first insert after it, included in the figures);
 *   repeat    the same call for a key already recorded (a replayed login:
 *             the write transaction finds it and aborts);
 *   synced    ks_store_provision_add(), a write to store.mdb, which syncs
 *             every commit: what each replay insert cost while the replay
 *             tables lived there.
 *
 * For each: operations, total seconds, mean, median, 99th percentile and
 * maximum microseconds per operation; for replay, also the size of
 * replay.mdb per live entry (the basis of KS_STORE_REPLAY_MAP_SIZE).
 *
 *   ksstorebench [-n REPLAY_INSERTS] [-s SYNCED_WRITES] [-d PARENT_DIR]
 *
 * The state directory is made (mode 0700) in PARENT_DIR (default $TMPDIR
 * or /tmp: put it on the disk the KDC's state_dir uses) and removed at
 * the end.  Output: one machine-readable line per operation, then lines
 * for humans:
 *
 *   ksstorebench op=replay count=20000 seconds=0.412 mean_us=20.6 ...
 *
 * Exit status 0 when every operation succeeded, 1 otherwise, 2 for usage
 * errors.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <krb5/krb5.h>

#include "ks_store.h"

#define DEFAULT_REPLAY 20000
#define DEFAULT_SYNCED 200
#define MAX_COUNT 10000000UL

/* Statistics of one operation. */
struct op_stats {
    const char *name;
    unsigned long count;
    double seconds;
    double *lat_us;             /* per operation, sorted by report() */
};

static void
usage(void)
{
    fprintf(stderr, "usage: ksstorebench [-n REPLAY_INSERTS] "
            "[-s SYNCED_WRITES] [-d PARENT_DIR]\n"
            "  -n COUNT  replay inserts (default %d); as many replays of "
            "them\n"
            "  -s COUNT  synced store.mdb writes (default %d)\n"
            "  -d DIR    where to make the temporary state directory "
            "(default $TMPDIR\n"
            "            or /tmp)\n", DEFAULT_REPLAY, DEFAULT_SYNCED);
}

/* Seconds on the monotonic clock. */
static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The value below which fraction q of the sorted n values lie. */
static double
quantile(const double *v, unsigned long n, double q)
{
    unsigned long i = (unsigned long)(q * (double)(n - 1) + 0.5);

    return n == 0 ? 0 : v[i < n ? i : n - 1];
}

/* Print s's figures, machine-readable then for humans. */
static void
report(struct op_stats *s, const char *what)
{
    double mean = s->count ? s->seconds * 1e6 / s->count : 0;

    qsort(s->lat_us, s->count, sizeof(*s->lat_us), cmp_double);
    printf("ksstorebench op=%s count=%lu seconds=%.3f mean_us=%.1f "
           "p50_us=%.1f p99_us=%.1f max_us=%.1f\n", s->name, s->count,
           s->seconds, mean, quantile(s->lat_us, s->count, 0.5),
           quantile(s->lat_us, s->count, 0.99),
           s->count ? s->lat_us[s->count - 1] : 0);
    printf("  %-7s %s: %lu in %.2f s, %.1f us each (median %.1f, 99%% "
           "%.1f, max %.0f); %.0f/s\n", s->name, what, s->count, s->seconds,
           mean, quantile(s->lat_us, s->count, 0.5),
           quantile(s->lat_us, s->count, 0.99),
           s->count ? s->lat_us[s->count - 1] : 0,
           s->seconds > 0 ? s->count / s->seconds : 0);
}

/* A replay key for index i (distinct for every i). */
static void
make_key(unsigned char key[KS_STORE_REPLAY_KEY_LEN], unsigned long i,
         unsigned long salt)
{
    size_t j;

    /* Spread like a SHA-256 output, so that the B-tree fills as it would
     * with real authenticator hashes (random, not in order). */
    for (j = 0; j < KS_STORE_REPLAY_KEY_LEN; j++) {
        i = i * 6364136223846793005UL + 1442695040888963407UL + salt;
        key[j] = (unsigned char)(i >> 56);
    }
}

/* Remove dir and the regular files in it. */
static void
remove_dir(const char *dir)
{
    const char *names[] = { KS_STORE_FILE, KS_STORE_FILE "-lock",
                            KS_STORE_REPLAY_FILE,
                            KS_STORE_REPLAY_FILE "-lock" };
    char path[4096];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
            (int)sizeof(path))
            continue;
        unlink(path);
    }
    rmdir(dir);
}

/* Parse a count argument or exit with usage status. */
static unsigned long
parse_count(const char *arg, char opt)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v > MAX_COUNT) {
        fprintf(stderr, "ksstorebench: -%c: invalid count '%s'\n", opt, arg);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    krb5_context ctx = NULL;
    struct ks_store *st = NULL;
    struct op_stats replay = { "replay", 0, 0, NULL };
    struct op_stats repeat = { "repeat", 0, 0, NULL };
    struct op_stats synced = { "synced", 0, 0, NULL };
    unsigned char key[KS_STORE_REPLAY_KEY_LEN];
    unsigned long nreplay = DEFAULT_REPLAY, nsynced = DEFAULT_SYNCED, i;
    unsigned long salt = (unsigned long)getpid();
    const char *parent = getenv("TMPDIR"), *msg;
    char dir[4096], path[4096], id[32];
    krb5_error_code ret = 0;
    struct stat sb;
    double t0, t1, start;
    time_t now = time(NULL);
    int c, status = 1;

    while ((c = getopt(argc, argv, "n:s:d:h")) != -1) {
        switch (c) {
        case 'n': nreplay = parse_count(optarg, 'n'); break;
        case 's': nsynced = parse_count(optarg, 's'); break;
        case 'd': parent = optarg; break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }
    if (parent == NULL || *parent == '\0')
        parent = "/tmp";
    snprintf(dir, sizeof(dir), "%s/ksstorebench.XXXXXX", parent);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "ksstorebench: cannot make a directory in %s: %s\n",
                parent, strerror(errno));
        return 1;
    }
    replay.lat_us = calloc(nreplay ? nreplay : 1, sizeof(double));
    repeat.lat_us = calloc(nreplay ? nreplay : 1, sizeof(double));
    synced.lat_us = calloc(nsynced ? nsynced : 1, sizeof(double));
    if (replay.lat_us == NULL || repeat.lat_us == NULL ||
        synced.lat_us == NULL) {
        fprintf(stderr, "ksstorebench: out of memory\n");
        goto cleanup;
    }
    ret = krb5_init_context(&ctx);
    if (ret) {
        fprintf(stderr, "ksstorebench: krb5_init_context: %s\n",
                strerror(ret));
        ctx = NULL;
        goto cleanup;
    }
    ret = ks_store_open(ctx, dir, 0, &st);
    if (ret)
        goto fail;

    /* New keys, each recorded until the clock skew has passed. */
    start = now_seconds();
    for (i = 0; i < nreplay; i++) {
        make_key(key, i, salt);
        t0 = now_seconds();
        ret = ks_store_replay_check_and_insert(ctx, st, key, now + 300, now);
        t1 = now_seconds();
        if (ret)
            goto fail;
        replay.lat_us[replay.count++] = (t1 - t0) * 1e6;
    }
    replay.seconds = now_seconds() - start;

    /* The same keys again: every one is refused as a replay. */
    start = now_seconds();
    for (i = 0; i < nreplay; i++) {
        make_key(key, i, salt);
        t0 = now_seconds();
        ret = ks_store_replay_check_and_insert(ctx, st, key, now + 300, now);
        t1 = now_seconds();
        if (ret != KRB5KRB_AP_ERR_REPEAT) {
            if (ret == 0)
                ret = EEXIST;
            goto fail;
        }
        repeat.lat_us[repeat.count++] = (t1 - t0) * 1e6;
    }
    repeat.seconds = now_seconds() - start;
    ret = 0;

    start = now_seconds();
    for (i = 0; i < nsynced; i++) {
        snprintf(id, sizeof(id), "bench-%lu", i);
        t0 = now_seconds();
        ret = ks_store_provision_add(ctx, st, id, now);
        t1 = now_seconds();
        if (ret)
            goto fail;
        synced.lat_us[synced.count++] = (t1 - t0) * 1e6;
    }
    synced.seconds = now_seconds() - start;

    printf("ksstorebench: state directory %s\n", dir);
    report(&replay, "new replay entries (replay.mdb, no sync per commit)");
    report(&repeat, "replayed keys refused (replay.mdb)");
    report(&synced, "synced writes (store.mdb, one fsync per commit)");
    if (snprintf(path, sizeof(path), "%s/%s", dir, KS_STORE_REPLAY_FILE) <
        (int)sizeof(path) && nreplay > 0 && stat(path, &sb) == 0) {
        printf("ksstorebench op=size entries=%lu replay_mdb_bytes=%lld "
               "bytes_per_entry=%.0f\n", nreplay, (long long)sb.st_size,
               (double)sb.st_size / nreplay);
        printf("  replay.mdb holds %lu live entries in %lld bytes: %.0f "
               "bytes each\n", nreplay, (long long)sb.st_size,
               (double)sb.st_size / nreplay);
    }
    if (replay.count > 0 && synced.count > 0) {
        printf("  a replay insert costs %.1f us; the synced write it used "
               "to be costs %.0f us (%.0fx)\n",
               replay.seconds * 1e6 / replay.count,
               synced.seconds * 1e6 / synced.count,
               (synced.seconds / synced.count) /
               (replay.seconds > 0 ? replay.seconds / replay.count : 1));
    }
    status = 0;
    goto cleanup;

fail:
    msg = krb5_get_error_message(ctx, ret);
    fprintf(stderr, "ksstorebench: %s\n", msg);
    krb5_free_error_message(ctx, msg);

cleanup:
    ks_store_close(st);
    if (ctx != NULL)
        krb5_free_context(ctx);
    remove_dir(dir);
    free(replay.lat_us);
    free(repeat.lat_us);
    free(synced.lat_us);
    return status;
}
