/* caps.c - the policy's resource caps, enforced (see caps.h). */
#include "core/caps.h"

#include <string.h>

#define MIB (1024 * 1024)

static int64_t burst_milli(const caps_bucket *b) { return b->rate * 1000; }

static void refill(caps_bucket *b, int64_t now_ms) {
  if (b->rate <= 0) return;
  int64_t dt = now_ms - b->last_ms;
  b->last_ms = now_ms;
  if (dt <= 0) return;
  /* rate <= POLICY_RATE_CAP and dt is clipped to 1000 s first, so the
   * product cannot overflow even after a long sleep. */
  if (dt > 1000000) dt = 1000000;
  b->milli += b->rate * dt;
  if (b->milli > burst_milli(b)) b->milli = burst_milli(b);
}

void caps_bucket_init(caps_bucket *b, int64_t rate, int64_t now_ms) {
  b->rate = rate > 0 ? rate : 0;
  b->milli = b->rate * 1000;
  b->last_ms = now_ms;
}

void caps_bucket_set_rate(caps_bucket *b, int64_t rate, int64_t now_ms) {
  refill(b, now_ms);
  int64_t was = b->rate;
  b->rate = rate > 0 ? rate : 0;
  b->last_ms = now_ms;
  if (was == 0 && b->rate > 0) b->milli = burst_milli(b); /* newly capped: start full */
  if (b->milli > burst_milli(b)) b->milli = burst_milli(b);
}

int64_t caps_bucket_avail(caps_bucket *b, int64_t now_ms) {
  if (b->rate <= 0) return CAPS_UNLIMITED;
  refill(b, now_ms);
  return b->milli >= 0 ? b->milli / 1000 : -((-b->milli + 999) / 1000);
}

void caps_bucket_take(caps_bucket *b, int64_t n) {
  if (b->rate <= 0 || n <= 0) return;
  if (n > CAPS_MAX_DEBT + b->rate) n = CAPS_MAX_DEBT + b->rate;
  b->milli -= n * 1000;
  if (b->milli < -(int64_t)CAPS_MAX_DEBT * 1000) b->milli = -(int64_t)CAPS_MAX_DEBT * 1000;
}

int64_t caps_bucket_ready_at(const caps_bucket *b, int64_t want, int64_t now_ms) {
  if (b->rate <= 0) return now_ms;
  if (want > b->rate) want = b->rate;
  if (want < 1) want = 1;
  /* Tokens as of last_ms, then the time the missing ones take. */
  int64_t missing = want * 1000 - b->milli;
  if (missing <= 0) return now_ms > b->last_ms ? now_ms : b->last_ms;
  int64_t at = b->last_ms + (missing + b->rate - 1) / b->rate;
  return at > now_ms ? at : now_ms;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

void caps_base_from_config(const agent_config *cfg, caps_base *out) {
  out->batch_max_records = cfg->batch_max_records;
  out->batch_max_bytes = cfg->batch_max_bytes;
  out->batch_max_age_ms = cfg->batch_max_age_ms;
  out->read_chunk_bytes = cfg->read_chunk_bytes;
  out->max_line_bytes = cfg->max_line_bytes;
}

void caps_derive(const policy *pol, const caps_base *base, caps_limits *out) {
  policy def;
  if (!pol) {
    policy_defaults(&def);
    pol = &def;
  }
  memset(out, 0, sizeof *out);
  out->rate = pol->version >= 1 ? pol->max_records_per_s : 0;
  int64_t mb = pol->max_memory_mb > 0 ? pol->max_memory_mb : 64;
  out->memory_bytes = mb * MIB;
  /* The budget's shares: an in-flight batch costs about three times its
   * NDJSON size (encoder, zstd output, the HTTP layer's copy), so 1/16 of
   * the cap keeps it under a fifth; one read buffer 1/256; the page cache
   * 4 KiB per MiB. At the default 64 MiB these equal or exceed the local
   * defaults, so only a smaller cap changes anything. */
  out->batch_max_bytes = min64(base->batch_max_bytes, max64(CAPS_MIN_BATCH_BYTES, mb * MIB / 16));
  /* The read buffer must hold a whole line (tail.h), so never below
   * max_line_bytes + 1. */
  out->read_chunk_bytes =
      min64(base->read_chunk_bytes,
            max64(max64(CAPS_MIN_CHUNK, mb * MIB / 256), base->max_line_bytes + 1));
  out->cache_kib = max64(CAPS_MIN_CACHE_KIB, mb * 4);
  out->batch_max_records = base->batch_max_records;
  if (pol->batch_max_records > 0) out->batch_max_records = (int)pol->batch_max_records;
  out->batch_max_age_ms = pol->batch_max_age_ms > 0 ? pol->batch_max_age_ms : base->batch_max_age_ms;
}

void caps_mem_init(caps_mem *m) {
  memset(m, 0, sizeof *m);
  m->rss_bytes = -1;
}

int caps_mem_observe(caps_mem *m, int64_t rss_bytes, int64_t cap_bytes, int64_t now_ms) {
  m->next_check_ms = now_ms + CAPS_RSS_CHECK_MS;
  m->rss_bytes = rss_bytes;
  if (rss_bytes < 0) return 0; /* unknown: no action either way */
  if (rss_bytes > m->peak_rss_bytes) m->peak_rss_bytes = rss_bytes;
  int over = rss_bytes > cap_bytes;
  if (over == m->over) return 0;
  m->over = over;
  if (over) {
    m->over_events++;
    return 1;
  }
  return -1;
}

int64_t caps_effective_rate(const caps_limits *l, const caps_mem *m) {
  if (!m->over) return l->rate;
  int64_t r = (l->rate > 0 ? l->rate : POLICY_RATE_CAP) / 10;
  return r > 0 ? r : 1;
}
