/* caps.h - the policy's resource caps, enforced (issue #5).
 *
 * Three pieces, all pure (no I/O, no allocation), so the agent and the tests
 * drive them with any clock:
 *
 *   - a token bucket for caps.max_records_per_s: everything the agent
 *     produces (tailed lines, snapshot and diagnostic lines) is charged to
 *     it. A source that finds the bucket empty is back-pressured: it keeps
 *     its offset and is read again when tokens are back; nothing is dropped.
 *     Burst = one second of rate. A snapshot is started only when tokens are
 *     left and may overdraw the bucket (by at most its item cap): the debt is
 *     paid before anything else is read, so the average rate still holds.
 *   - caps_derive: the bounds that follow from the policy (caps.max_memory_mb
 *     and batch_max_*) and the local config: the in-flight batch size, the
 *     read buffer, the SQLite page cache, the batch record count and age.
 *     Only ever lowers a local bound, never raises one; with the default
 *     64 MiB nothing changes.
 *   - caps_mem: the RSS self-check. Over the cap the agent shrinks the SQLite
 *     cache and cuts the collection rate to a tenth (back-pressure, never a
 *     full stop: a cap set below the agent's baseline must not silence it)
 *     and reports; back under, both are restored.
 *
 * No policy applied yet (version 0): no rate cap, the local config governs.
 *
 * Return codes: none (void / values).
 */
#ifndef OUTPOST_CORE_CAPS_H
#define OUTPOST_CORE_CAPS_H

#include <stdint.h>

#include "core/config.h"
#include "core/policy.h"

#define CAPS_RSS_CHECK_MS 2000      /* RSS self-check period */
#define CAPS_MIN_CACHE_KIB 32       /* SQLite page cache while over the memory cap */
#define CAPS_MIN_CHUNK 4096         /* smallest read buffer */
#define CAPS_MIN_BATCH_BYTES 16384  /* smallest in-flight batch */
#define CAPS_MAX_DEBT (POLICY_SNAPSHOT_ITEMS_CAP + 1024) /* tokens a snapshot may overdraw */
#define CAPS_UNLIMITED INT64_MAX

typedef struct caps_bucket {
  int64_t rate;     /* records per second; 0 = unlimited */
  int64_t milli;    /* tokens x 1000 (integer math: deterministic) */
  int64_t last_ms;  /* monotonic ms of the last refill */
} caps_bucket;

/* rate 0 = unlimited. Starts full (one second of burst). */
void caps_bucket_init(caps_bucket *b, int64_t rate, int64_t now_ms);
/* Changes the rate; tokens are kept (clipped to the new burst). */
void caps_bucket_set_rate(caps_bucket *b, int64_t rate, int64_t now_ms);
/* Whole tokens available at now (refills first); CAPS_UNLIMITED when rate 0;
 * <= 0 while empty or in debt. */
int64_t caps_bucket_avail(caps_bucket *b, int64_t now_ms);
/* Charges n records (may overdraw down to -CAPS_MAX_DEBT). */
void caps_bucket_take(caps_bucket *b, int64_t n);
/* Monotonic ms at which at least min(want, burst) tokens will be there
 * (now_ms when already there or unlimited). */
int64_t caps_bucket_ready_at(const caps_bucket *b, int64_t want, int64_t now_ms);

typedef struct caps_limits {
  int64_t rate;              /* records/s, 0 = unlimited */
  int64_t memory_bytes;      /* the RSS cap */
  int64_t batch_max_bytes;
  int64_t batch_max_age_ms;
  int64_t read_chunk_bytes;
  int64_t cache_kib;         /* SQLite page cache */
  int batch_max_records;
} caps_limits;

/* The local config's bounds the policy may lower (kept apart from the
 * config copy the agent runs with, which caps_derive's result overwrites). */
typedef struct caps_base {
  int64_t batch_max_bytes, batch_max_age_ms, read_chunk_bytes, max_line_bytes;
  int batch_max_records;
} caps_base;

void caps_base_from_config(const agent_config *cfg, caps_base *out);
/* pol may be NULL (no policy: defaults). */
void caps_derive(const policy *pol, const caps_base *base, caps_limits *out);

typedef struct caps_mem {
  int64_t next_check_ms;
  int64_t rss_bytes;       /* last reading, -1 = unknown (shim has no self_rss) */
  int64_t peak_rss_bytes;
  int64_t over_events;     /* times the cap was crossed upwards */
  int over;                /* 1 while over the cap */
} caps_mem;

void caps_mem_init(caps_mem *m);
/* Records a reading (rss < 0: unknown). Returns +1 when the cap was just
 * crossed upwards, -1 when just back under, 0 otherwise. */
int caps_mem_observe(caps_mem *m, int64_t rss_bytes, int64_t cap_bytes, int64_t now_ms);

/* The rate to enforce: limits.rate, cut to a tenth (at least 1) while over
 * the memory cap; with no rate cap and over memory, POLICY_RATE_CAP/10. */
int64_t caps_effective_rate(const caps_limits *l, const caps_mem *m);

/* What the agent reports (status file, metrics, check-in). */
typedef struct caps_info {
  int64_t rate;               /* enforced now, 0 = unlimited */
  int64_t rate_limited_polls; /* collection passes cut short by the rate cap */
  int64_t memory_cap_bytes;
  int64_t rss_bytes;          /* -1 = unknown */
  int64_t peak_rss_bytes;
  int64_t memory_over_events;
  int64_t batch_max_bytes, batch_max_age_ms, read_chunk_bytes, cache_kib;
  int memory_over;
  int batch_max_records;
} caps_info;

#endif
