/* spool.h - the agent's durable queue: a SQLite database (through vfs.h) holding
 * records not yet acknowledged by the cloud, the read offset of every source,
 * and the ledger counters.
 *
 * Invariants (the simulator's ledger relies on them):
 *   - seqs are assigned consecutively from 1; next_seq - 1 records were ever
 *     produced (committed);
 *   - rows are only removed from the low end (ack or shed), so the spool always
 *     holds exactly [first_seq, next_seq - 1];
 *   - records and the source offset that produced them commit in one
 *     transaction: after a crash a line is either spooled with its offset
 *     advanced, or neither.
 *
 * Ownership: spool_open allocates; spool_close frees (safe on NULL). Strings
 * passed to callbacks are valid only during the callback.
 *
 * Space (issue #3, docs/operations.md):
 *   - quota: the database file never grows past quota_bytes minus a reserve
 *     for its rollback journal (SPOOL_JOURNAL_RESERVE(quota)); SQLite enforces
 *     it through max_page_count, so an insert that would cross it fails with
 *     SPOOL_EFULL and changes nothing;
 *   - floor: the database may grow only while the volume keeps floor bytes
 *     free (min(floor_pct% of the volume, floor_max_bytes)), plus the journal
 *     reserve; spool_space() re-reads free space and re-arms the page limit,
 *     and reports a deficit when others took the volume under the floor;
 *   - shedding removes the OLDEST records (low end), in one transaction that
 *     also appends an exact account (records, bytes, seq range, time span,
 *     reason) to the persisted shed log; the agent reports the log to the
 *     cloud and then marks the entries reported.
 *
 * Return codes: SPOOL_OK (0) or negative:
 *   SPOOL_EDB     SQLite error (message from spool_errmsg)
 *   SPOOL_EFULL   the volume or quota is full (SQLITE_FULL); nothing changed
 *   SPOOL_ENOMEM  allocation failed
 *   SPOOL_EINVAL  bad argument
 *   SPOOL_EIO     SQLite reported an I/O error (SQLITE_IOERR*); nothing changed
 */
#ifndef OUTPOST_CORE_SPOOL_H
#define OUTPOST_CORE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

#define SPOOL_OK 0
#define SPOOL_EDB (-1)
#define SPOOL_EFULL (-2)
#define SPOOL_ENOMEM (-3)
#define SPOOL_EINVAL (-4)
#define SPOOL_EIO (-5)

#define SPOOL_DEFAULT_QUOTA (256LL * 1024 * 1024)
/* Journal reserve inside the quota: the largest shed transaction plus slack. */
#define SPOOL_SHED_CHUNK(q) ((q) / 16 < 65536 ? 65536 : (q) / 16 > 4194304 ? 4194304 : (q) / 16)
#define SPOOL_JOURNAL_RESERVE(q) (SPOOL_SHED_CHUNK(q) + 65536)
#define SPOOL_MAX_SHED_LOG 256 /* unreported entries kept; older ones merge */

typedef struct spool spool;

typedef struct spool_source_state {
  int64_t id;       /* row id in the sources table */
  int known;        /* 0: first time this path is seen */
  uint64_t dev, ino;
  int64_t offset;   /* bytes of the file consumed (complete lines only) */
  int skipping;     /* inside an over-long line: discard up to the next newline */
  uint64_t fp;      /* FNV-1a 64 of the file's first fp_len bytes (identity, tail.h) */
  int64_t fp_len;   /* 0..TAIL_FP_BYTES */
} spool_source_state;

typedef struct spool_line {
  const char *data;
  size_t len;
  int64_t ts_ms;
} spool_line;

typedef struct spool_counters {
  int64_t next_seq;   /* produced = next_seq - 1 */
  int64_t acked;
  int64_t shed;       /* records shed, ever */
  int64_t spooled;
  int64_t first_seq;  /* 0 when empty */
  int64_t shed_bytes; /* bytes of line text shed, ever */
  int64_t shed_events;
  int64_t shed_reported; /* records whose shedding the cloud has acknowledged */
  int64_t bytes;      /* bytes of line text in the spool now */
} spool_counters;

typedef struct spool_limits {
  int64_t quota_bytes;     /* database + journal; >= 1 MiB */
  int floor_pct;           /* 0..50 */
  int64_t floor_max_bytes; /* the floor is min(floor_pct% of the volume, this) */
} spool_limits;

typedef struct spool_space_info {
  uint64_t avail, total;   /* the volume, from the os shim */
  int64_t floor_bytes;     /* the floor this volume gets */
  int64_t db_bytes;        /* the database file now (pages x page size) */
  int64_t max_db_bytes;    /* what SQLite may grow it to right now */
  int64_t deficit;         /* bytes the volume is under its floor (0 when fine) */
  int64_t outside_bytes;   /* held outside the database (spool_set_outside_bytes) */
  int64_t quota_room;      /* what the quota still allows the database (>= 0) */
  int64_t floor_room;      /* free above the floor, less journal room (>= 0);
                            * -1 when the os cannot say */
} spool_space_info;

typedef enum spool_shed_reason {
  SPOOL_SHED_QUOTA = 1,  /* back-pressure was not enough: quota full too long */
  SPOOL_SHED_FLOOR = 2,  /* the volume went under its free-space floor */
  SPOOL_SHED_FULL = 3,   /* SQLite said SQLITE_FULL / the volume said ENOSPC */
  SPOOL_SHED_IO = 4,     /* SQLite reported an I/O error */
} spool_shed_reason;

/* One entry of the shed log: a contiguous seq range shed in one transaction
 * (records == last_seq - first_seq + 1), or, after merging when the log is
 * over SPOOL_MAX_SHED_LOG, several ranges (records < the span). */
typedef struct spool_shed_entry {
  int64_t id;
  int64_t first_seq, last_seq;
  int64_t records, bytes;
  int64_t ts_first_ms, ts_last_ms; /* record timestamps, min and max */
  int64_t at_ms;                   /* wall time of the (last) shedding */
  int reason;                      /* spool_shed_reason of the (last) shedding */
} spool_shed_entry;

/* Opens or creates the spool at path through os (the VFS registers per spool). */
int spool_open(const os_shim *os, const char *path, spool **out, char *err, size_t err_cap);
void spool_close(spool *s);
const char *spool_errmsg(const spool *s);

/* Loads the state of a source, creating its row (known = 0) if new. */
int spool_source_load(spool *s, const char *path, spool_source_state *st);
/* Persists a source state on its own (rotation seen, start offset chosen). */
int spool_source_save(spool *s, const spool_source_state *st);
/* One transaction: inserts lines as consecutive records from source st->id and
 * saves *st (its offset already advanced past them). n may be 0. */
int spool_append(spool *s, const spool_source_state *st, const spool_line *lines, size_t n);

/* Calls fn for up to max_records records in seq order from first_seq; fn
 * returns 0 to continue, non-zero to stop (that row is not consumed). */
typedef int (*spool_row_fn)(void *user, int64_t seq, int64_t ts_ms, const char *source,
                            size_t source_len, const char *line, size_t line_len);
int spool_scan(spool *s, int64_t max_records, spool_row_fn fn, void *user);
/* spool_scan from the record with seq from_seq (from first_seq when lower):
 * issue #14's pipelined shipping builds a batch behind those in flight. */
int spool_scan_from(spool *s, int64_t from_seq, int64_t max_records, spool_row_fn fn, void *user);

/* Deletes records with seq <= through_seq and counts them as acknowledged. */
int spool_ack(spool *s, int64_t through_seq);

void spool_get_counters(const spool *s, spool_counters *out);

/* The last SPOOL_E* code any call returned (SPOOL_OK after a success). */
int spool_last_error(const spool *s);

/* Sets the quota and floor (spool_open starts with the defaults: 256 MiB,
 * 5%, 1 GiB) and re-arms SQLite's page limit. SPOOL_EINVAL on bad values. */
int spool_set_limits(spool *s, const spool_limits *lim);
/* issue #17: bytes of the agent's own data kept outside the database (an
 * update being downloaded: core/update.h) count in the same quota; the
 * database may grow only to the quota less them. 0..quota_bytes; re-arms the
 * page limit (SQLite never shrinks the file below its size: the quota room
 * just stops growing). SPOOL_EINVAL out of range. */
int spool_set_outside_bytes(spool *s, int64_t bytes);
/* Re-reads the volume's free space, re-arms the page limit, fills *out. */
int spool_space(spool *s, spool_space_info *out);
/* The spool is full (an append said SPOOL_EFULL) and room must be made: what
 * one shed should give back (*min_bytes: SPOOL_SHED_CHUNK of the quota) and
 * why (*why: SPOOL_SHED_FULL when the volume, not the quota, limits the
 * database now, else SPOOL_SHED_QUOTA). Re-reads the volume as spool_space
 * does. SPOOL_OK; or spool_space's error, with the outputs still set (the
 * quota's reason): the caller may shed all the same. */
int spool_shed_plan(spool *s, int64_t *min_bytes, spool_shed_reason *why);

/* Sheds the oldest records: at least min_bytes of line text (and at least one
 * record) but at most SPOOL_SHED_CHUNK(quota) bytes unless one record is
 * larger, never past through_seq_max (0 = no limit). Appends the account to
 * the shed log in the same transaction. With reason SPOOL_SHED_FLOOR the freed
 * pages are then given back to the volume (incremental vacuum). *out (may be
 * NULL) describes what was shed; records == 0 when the spool was empty. */
int spool_shed(spool *s, int64_t min_bytes, spool_shed_reason reason, int64_t wall_ms,
               spool_shed_entry *out);
/* Copies up to max unreported shed-log entries, oldest first, into out. */
int spool_shed_pending(spool *s, spool_shed_entry *out, int max, int *n);
/* The cloud stored entries with id <= through_id: drop them from the log.
 * Even when that commit fails (a volume full to the last byte) later calls
 * to spool_shed_pending start after through_id and the counters count them
 * reported; a reopen forgets that and the entries are sent again. */
int spool_shed_reported(spool *s, int64_t through_id);

/* issue #5 (core/caps.h): sets SQLite's page cache to kib KiB (1 .. 1 GiB)
 * and releases cached pages beyond it. SPOOL_OK, SPOOL_EINVAL, SPOOL_EDB. */
int spool_set_cache_kib(spool *s, int64_t kib);

#endif
