/*
 * The shared run-time store of the stateless backend: two LMDB
 * environments in state_dir, opened by every krb5kdc worker process and by
 * kstateless.  LMDB's own locking (a lock file next to each data file)
 * makes concurrent readers and writers in several processes safe; every
 * function below runs one short transaction, so a reader never keeps a
 * snapshot between two calls and sees every write committed before the
 * call began, in any process.
 *
 *   STATE_DIR/store.mdb  (lock STATE_DIR/store.mdb-lock): durable.  Every
 *       write is synced to disk before the function returns.  Tables:
 *         staging      device id -> staged public key (DER
 *                      SubjectPublicKeyInfo), optional profile name, time
 *                      added
 *         provisioned  device id -> time provisioned (devices allowed
 *                      past the anonymous restricted profile)
 *         tempkeys     principal NUL u16be key id -> registered, expiry,
 *                      and an opaque blob (the keys, wrapped by the
 *                      stateless backend in a key derived from the realm
 *                      secret; this file never sees them in the clear)
 *         tempkey_meta principal -> highest key id ever stored and the
 *                      latest expiry: kept when keys are purged, so that
 *                      a key id can never be rolled back
 *
 *   STATE_DIR/replay.mdb  (lock STATE_DIR/replay.mdb-lock): the replay
 *       cache of device logins, opened with MDB_NOSYNC.  Tables:
 *         replay         SHA-256 of an authenticator -> expiry time
 *         replay_expiry  expiry time || SHA-256 -> nothing: the replay
 *                        entries in expiry order, so that purging does
 *                        bounded work
 *
 * Why two environments: a synced LMDB commit costs an fsync (5.6 ms on
 * the development disk when measured for the protocol notes, 0.3 to 8 ms
 * since depending on its load; bench/ksstorebench measures it), which
 * capped device logins near 180/s when every login's replay entry was
 * synced.  Replay entries live only for the clock skew, so they are
 * committed without a sync: an insert costs tens of microseconds.  The
 * trade-off, per failure:
 *   - krb5kdc crash or kill -9: nothing is lost.  A committed transaction
 *     is in the kernel's page cache, shared by every process, and reaches
 *     the disk later; a restarted KDC refuses every replay.
 *   - power loss or kernel crash: the entries committed since the last
 *     sync may be lost, so a login captured in that window could be
 *     replayed to a KDC restarted within the clock skew.  Each process
 *     syncs replay.mdb on its first replay write, then on the first write
 *     that finds its last sync KS_STORE_REPLAY_SYNC_SECS old (one fsync
 *     per interval, not one per login), and when the store is closed: a
 *     steady load loses at most about the last second's entries; the tail
 *     of a burst waits for the kernel's own writeback (30 s by default)
 *     or the next write.  Without a sync LMDB
 *     does not order its writes either, so a power loss can also leave
 *     replay.mdb damaged: the replay functions then fail with
 *     KRB5_KDB_DB_CORRUPT and a message saying that the file holds only
 *     the replay cache and may be moved away once the clock skew has
 *     passed since the KDC stopped.  store.mdb is never at that risk.
 * replay.mdb is opened only by the first replay call of a process
 * (kstateless never creates it).  Its map is KS_STORE_REPLAY_MAP_SIZE by
 * default (address space: the file grows only as entries are written):
 * an entry takes about 160 bytes of the file (bench/ksstorebench), so the
 * map holds about 6 million live entries, 20,000 logins/s sustained for a
 * clock skew of 5 minutes.
 *
 * Files are created with mode 0600.  Opening refuses a state_dir writable
 * by group or others, and a data or lock file (of either environment)
 * that is a symbolic link, not a regular file, or writable by group or
 * others; store.mdb and its lock file also when readable by group or
 * others (the file holds temporary keys, wrapped).
 *
 * Processes: LMDB forbids using an environment in a process other than the
 * one that opened it, and opening one file twice in a process and closing
 * one of them (POSIX record locks are per process: the close drops the
 * other's).  So environments are never closed before the process exits:
 * ks_store_close() frees the handle only, and handles of the same store in
 * one process share its environments.  A handle used after fork() (krb5kdc
 * -w N forks its workers after loading the KDB module) opens the files
 * again in the child and abandons the inherited environments.  Plugins
 * that each link their own copy of this file (stateless.so, devreg.so) get
 * their own environments in the same krb5kdc process; that is safe because
 * none is ever closed and no call runs while another is in progress.
 * Handles are not shared between threads.
 *
 * Errors return a krb5_error_code and set a message (naming the store file
 * and the cause) on the context:
 *   KRB5_KDB_NOENTRY     no such entry
 *   KRB5_KDB_INUSE       entry exists (stage without replace, provision,
 *                        a temporary key id not above the stored one)
 *   KRB5KRB_AP_ERR_REPEAT  replayed authenticator
 *   KRB5_KDB_DB_CORRUPT  a record or the store file does not parse
 *   EINVAL               an invalid argument (device id, profile, key,
 *                        principal name, key id, expiry)
 *   EPERM                refused file or directory permissions
 *   ENOSPC               the store's map is full
 *   ENOENT               state_dir does not exist
 *   other errno values, EIO for other LMDB failures.
 */
#ifndef KS_STORE_H
#define KS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <krb5/krb5.h>

#include "ks_names.h"

#define KS_STORE_FILE "store.mdb"
#define KS_STORE_REPLAY_FILE "replay.mdb"
#define KS_STORE_DEFAULT_MAP_SIZE ((size_t)64 << 20)   /* 64 MiB */
#define KS_STORE_REPLAY_MAP_SIZE ((size_t)1 << 30)     /* 1 GiB */
/* Longest time a process lets replay.mdb go without a sync while it
 * records entries (see above). */
#define KS_STORE_REPLAY_SYNC_SECS 1
#define KS_STORE_MAX_DBS 8
#define KS_STORE_PROFILE_MAX 32
#define KS_STORE_SPKI_MAX 8192
#define KS_STORE_REPLAY_KEY_LEN 32
/* Expired replay entries removed by one ks_store_replay_purge() call, and
 * by each ks_store_replay_check_and_insert() on the side. */
#define KS_STORE_PURGE_BATCH 1000
#define KS_STORE_PURGE_ON_INSERT 4

struct ks_store;

/* One row of the staging table. */
struct ks_stage_entry {
    char id[KS_DEVICE_ID_MAX + 1];
    unsigned char *spki;        /* DER SubjectPublicKeyInfo */
    size_t spki_len;
    char profile[KS_STORE_PROFILE_MAX + 1];    /* "" when none */
    time_t added;
};

/* One row of the provisioned table. */
struct ks_provision_entry {
    char id[KS_DEVICE_ID_MAX + 1];
    time_t since;
};

/* Open (creating if needed) the store in state_dir, with maps of map_size
 * bytes (0: KS_STORE_DEFAULT_MAP_SIZE for store.mdb and
 * KS_STORE_REPLAY_MAP_SIZE for replay.mdb; an existing larger file keeps
 * its size).  state_dir must exist.  Opens store.mdb now and replay.mdb at
 * the first replay call. */
krb5_error_code ks_store_open(krb5_context ctx, const char *state_dir,
                              size_t map_size, struct ks_store **out);

/* Close the store (NULL is fine).  Flushes replay.mdb to disk if this
 * process wrote replay entries since its last flush. */
void ks_store_close(struct ks_store *store);

/* The path of the store's data file (store.mdb), for messages. */
const char *ks_store_path(const struct ks_store *store);

/* The path of the replay cache's data file (replay.mdb), for messages. */
const char *ks_store_replay_path(const struct ks_store *store);

/* Nonzero if profile is a valid profile name: 1 to KS_STORE_PROFILE_MAX
 * characters from [A-Za-z0-9._-]. */
int ks_store_profile_valid(const char *profile);

/* Record entry in the staging table.  Refuses an invalid id or profile, or
 * an spki that is not a DER SubjectPublicKeyInfo (EINVAL); an id already
 * staged returns KRB5_KDB_INUSE unless replace is nonzero. */
krb5_error_code ks_store_stage_put(krb5_context ctx, struct ks_store *store,
                                   const struct ks_stage_entry *entry,
                                   int replace);

/* Look up id in the staging table; on success fill *out (free its contents
 * with ks_stage_entry_free_contents()). */
krb5_error_code ks_store_stage_get(krb5_context ctx, struct ks_store *store,
                                   const char *id,
                                   struct ks_stage_entry *out);

/* Remove id from the staging table (works on a corrupt record too). */
krb5_error_code ks_store_stage_del(krb5_context ctx, struct ks_store *store,
                                   const char *id);

/* Every staging entry in id order; free with ks_stage_list_free().  A
 * corrupt record fails the whole list with a message naming its id. */
krb5_error_code ks_store_stage_list(krb5_context ctx, struct ks_store *store,
                                    struct ks_stage_entry **out,
                                    size_t *count_out);

void ks_stage_entry_free_contents(struct ks_stage_entry *entry);
void ks_stage_list_free(struct ks_stage_entry *entries, size_t count);

/* Mark id provisioned since when; KRB5_KDB_INUSE if it already is. */
krb5_error_code ks_store_provision_add(krb5_context ctx,
                                       struct ks_store *store,
                                       const char *id, time_t when);

/* Set *since_out to the time id was provisioned, or KRB5_KDB_NOENTRY. */
krb5_error_code ks_store_provision_get(krb5_context ctx,
                                       struct ks_store *store,
                                       const char *id, time_t *since_out);

/* Remove id from the provisioned table. */
krb5_error_code ks_store_provision_del(krb5_context ctx,
                                       struct ks_store *store,
                                       const char *id);

/* Every provisioned device in id order; free(*out). */
krb5_error_code ks_store_provision_list(krb5_context ctx,
                                        struct ks_store *store,
                                        struct ks_provision_entry **out,
                                        size_t *count_out);

/* In one write transaction: return KRB5KRB_AP_ERR_REPEAT if key is recorded
 * with an expiry later than now, otherwise record key until expiry (which
 * must be later than now, else EINVAL).  Of several processes racing on
 * the same key exactly one gets 0.  Also removes up to
 * KS_STORE_PURGE_ON_INSERT expired entries. */
krb5_error_code ks_store_replay_check_and_insert(
    krb5_context ctx, struct ks_store *store,
    const unsigned char key[KS_STORE_REPLAY_KEY_LEN], time_t expiry,
    time_t now);

/* Remove up to KS_STORE_PURGE_BATCH replay entries whose expiry is not
 * later than now, oldest first; set *removed_out (if not NULL) to how many
 * were removed.  Call it again while it removes a full batch. */
krb5_error_code ks_store_replay_purge(krb5_context ctx,
                                      struct ks_store *store, time_t now,
                                      size_t *removed_out);

/* One temporary key record (the keys of one key id of one principal). */
struct ks_tempkey_record {
    uint32_t key_id;                /* KS_TEMPKEY_ID_MIN..KS_TEMPKEY_ID_MAX */
    time_t registered;
    time_t expiry;
    unsigned char *blob;            /* opaque to the store; NULL in lists */
    size_t blob_len;                /* 1..KS_STORE_TEMPKEY_BLOB_MAX */
};

/* What ks_store_tempkey_list() reports: never key material. */
struct ks_tempkey_info {
    char *principal;
    uint32_t key_id;
    time_t registered;
    time_t expiry;
};

#define KS_STORE_TEMPKEY_BLOB_MAX 4096
#define KS_STORE_PRINCIPAL_MAX 1024

/*
 * Store rec for principal (unparsed, with realm) in one write transaction,
 * synced before returning: refuses (KRB5_KDB_INUSE, message naming the
 * stored id) a key id not greater than the highest ever stored for the
 * principal, and (EINVAL) an expiry not later than now, a key id out of
 * range, an empty or oversized blob.  Updates the principal's
 * tempkey_meta and removes its records that expired at now.
 */
krb5_error_code ks_store_tempkey_put(krb5_context ctx,
                                     struct ks_store *store,
                                     const char *principal,
                                     const struct ks_tempkey_record *rec,
                                     time_t now);

/*
 * The records of principal that have not expired at now (expiry > now),
 * in ascending key id order, with their blobs, into *recs_out (free with
 * ks_tempkey_records_free, which zeroes the blobs) and *count_out (may be
 * 0).  *max_id_out and *last_expiry_out (each may be NULL) get the
 * principal's tempkey_meta.  KRB5_KDB_NOENTRY when the principal never
 * had temporary keys (no tempkey_meta).  *expired_out (may be NULL) gets
 * how many of its records have expired and wait for a purge.  One read
 * transaction.
 */
krb5_error_code ks_store_tempkey_get(krb5_context ctx,
                                     struct ks_store *store,
                                     const char *principal, time_t now,
                                     struct ks_tempkey_record **recs_out,
                                     size_t *count_out, uint32_t *max_id_out,
                                     time_t *last_expiry_out,
                                     size_t *expired_out);

void ks_tempkey_records_free(struct ks_tempkey_record *recs, size_t count);

/* Every record (of principal, or of all principals when NULL), expired or
 * not, in principal and key id order, without blobs; free with
 * ks_tempkey_info_free. */
krb5_error_code ks_store_tempkey_list(krb5_context ctx,
                                      struct ks_store *store,
                                      const char *principal,
                                      struct ks_tempkey_info **out,
                                      size_t *count_out);

void ks_tempkey_info_free(struct ks_tempkey_info *infos, size_t count);

/*
 * Purge temporary keys, synced: with principal NULL, every record that
 * expired at now (all principals; their tempkey_meta stays); with a
 * principal, all its records and its tempkey_meta (the principal forgets
 * it ever had temporary keys: it may register from key id 1 again and
 * matches its service pattern again).  *removed_out (may be NULL) gets the
 * number of key records removed.  KRB5_KDB_NOENTRY if principal is given
 * and has neither records nor meta.
 */
krb5_error_code ks_store_tempkey_purge(krb5_context ctx,
                                       struct ks_store *store,
                                       const char *principal, time_t now,
                                       size_t *removed_out);

#endif
