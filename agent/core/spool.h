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
 * Return codes: SPOOL_OK (0) or negative:
 *   SPOOL_EDB     SQLite error (message from spool_errmsg)
 *   SPOOL_EFULL   the volume or quota is full (SQLITE_FULL); nothing changed
 *   SPOOL_ENOMEM  allocation failed
 *   SPOOL_EINVAL  bad argument
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

typedef struct spool spool;

typedef struct spool_source_state {
  int64_t id;       /* row id in the sources table */
  int known;        /* 0: first time this path is seen */
  uint64_t dev, ino;
  int64_t offset;   /* bytes of the file consumed (complete lines only) */
  int skipping;     /* inside an over-long line: discard up to the next newline */
} spool_source_state;

typedef struct spool_line {
  const char *data;
  size_t len;
  int64_t ts_ms;
} spool_line;

typedef struct spool_counters {
  int64_t next_seq;   /* produced = next_seq - 1 */
  int64_t acked;
  int64_t shed;
  int64_t spooled;
  int64_t first_seq;  /* 0 when empty */
} spool_counters;

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

/* Deletes records with seq <= through_seq and counts them as acknowledged. */
int spool_ack(spool *s, int64_t through_seq);

void spool_get_counters(const spool *s, spool_counters *out);

#endif
