/* agent_collect.c - collection: one pass over the sources (and the
 * policy's) under the caps (issue #5, core/caps.h), and the agent's own
 * records (agent_self_record).
 */
#include <string.h>

#include "core/agent_int.h"

/* Applies a new policy's caps (once per version) and runs the RSS
 * self-check (every CAPS_RSS_CHECK_MS). */
static void caps_refresh(agent *a) {
  const policy *p = pstate_policy(a->ps);
  int changed = 0;
  if (p->version != a->caps_version) {
    caps_derive(p, &a->caps_base, &a->lim);
    a->caps_version = p->version;
    a->cfg.batch_max_records = a->lim.batch_max_records;
    a->cfg.batch_max_bytes = a->lim.batch_max_bytes;
    a->cfg.batch_max_age_ms = a->lim.batch_max_age_ms;
    if ((size_t)a->lim.read_chunk_bytes != a->tb->chunk_cap) {
      tail_buffers nb;
      /* Out of memory keeps the old buffers: still bounded, still working. */
      if (tail_buffers_init(&nb, (size_t)a->lim.read_chunk_bytes, a->tb->max_line) == 0) {
        /* a lent set stays the lender's: the agent's own of the new size */
        tail_buffers_free(&a->own_tb);
        a->own_tb = nb;
        a->tb = &a->own_tb;
      }
    }
    changed = 1;
    if (p->version >= 1)
      agent__log(a, OS_LOG_INFO,
                 "policy v%lld caps: %lld records/s, memory %lld MiB (batch %d records / %lld "
                 "bytes / %lld ms, read buffer %lld, page cache %lld KiB)",
                 (long long)p->version, (long long)a->lim.rate,
                 (long long)(a->lim.memory_bytes >> 20), a->lim.batch_max_records,
                 (long long)a->lim.batch_max_bytes, (long long)a->lim.batch_max_age_ms,
                 (long long)a->lim.read_chunk_bytes, (long long)a->lim.cache_kib);
  }
  if (a->os->self_rss && a->now >= a->mem.next_check_ms) {
    uint64_t b = 0;
    int64_t rss = a->os->self_rss(a->os->ctx, &b) == OS_OK ? (int64_t)b : -1;
    int t = caps_mem_observe(&a->mem, rss, a->lim.memory_bytes, a->now);
    if (t > 0)
      agent__log(a, OS_LOG_WARN,
                 "RSS %lld KiB is over the memory cap (%lld MiB): page cache shrunk, collection "
                 "slowed to %lld records/s until back under",
                 (long long)(rss >> 10), (long long)(a->lim.memory_bytes >> 20),
                 (long long)caps_effective_rate(&a->lim, &a->mem));
    else if (t < 0)
      agent__log(a, OS_LOG_INFO, "RSS %lld KiB back under the memory cap", (long long)(rss >> 10));
    changed |= t != 0;
  }
  if (changed) {
    spool_set_cache_kib(a->sp, a->mem.over ? CAPS_MIN_CACHE_KIB : a->lim.cache_kib);
    caps_bucket_set_rate(&a->bucket, caps_effective_rate(&a->lim, &a->mem), a->now);
  }
}

int64_t agent__caps_resume_at(const agent *a) {
  return caps_bucket_ready_at(&a->bucket, a->bucket.rate / 10, a->now);
}

void agent__collect(agent *a) {
  a->more_to_read = 0;
  a->rate_limited = 0;
  caps_refresh(a);
  agent__space_before_collect(a);
  int n_src = a->cfg.n_sources;
  for (int k = 0; k < n_src; k++) {
    int i = (a->rr + k) % n_src;
    if (a->now < a->sources[i].recheck_at) continue;
    int64_t lines = 0;
    int more = 0, limited = 0, os_error = 0;
    int64_t budget = caps_bucket_avail(&a->bucket, a->now);
    int rc = tail_poll_max(&a->sources[i], a->os, a->sp, a->tb, a->wall, budget, &lines, &more,
                           &limited, &os_error);
    caps_bucket_take(&a->bucket, lines);
    a->rate_limited |= limited;
    if (lines > 0 && a->pending_since == INT64_MIN) a->pending_since = a->now;
    a->more_to_read |= more;
    /* Unreadable (an OS error, or refused): said when it changes, then
     * summarised every unreadable_summary_ms, not once per poll (issue #17). */
    char said[512];
    os_log_level lvl = OS_LOG_WARN;
    if (tail_health_note(&a->sources[i], rc, os_error, a->now, a->wall,
                         a->cfg.unreadable_summary_ms, &lvl, said, sizeof said))
      agent__log(a, lvl, "%s", said);
    if (rc == TAIL_EREFUSED) {
      /* Reported to the cloud once per policy (with the path) and counted;
       * looked at again only after GUARD_RECHECK_MS: a FIFO or a swapped
       * symlink costs one check, not one per poll. The offset is kept:
       * nothing is lost. */
      pstate_note_refusal(a->ps, a->os, a->sources[i].path, a->sources[i].why);
      a->sources[i].recheck_at = a->now + GUARD_RECHECK_MS;
    } else if (rc == TAIL_EIO) {
      /* said above; the offset is kept and the next poll tries again */
    } else if (rc == TAIL_EFULL) {
      if (a->bp_since == INT64_MIN)
        agent__log(a, OS_LOG_WARN, "%s: spool full, reading paused (offset kept): %s",
                   a->sources[i].path, spool_errmsg(a->sp));
    } else if (rc != TAIL_OK) {
      agent__log(a, OS_LOG_ERROR, "%s: spool error: %s", a->sources[i].path, spool_errmsg(a->sp));
    }
    agent__space_after_poll(a, rc, lines);
  }
  if (n_src > 0) a->rr = (a->rr + 1) % n_src;
  int64_t plines = 0;
  int pmore = 0, plimited = 0;
  pstate_collect_max(a->ps, a->os, a->sp, a->tb, a->wall, a->now,
                     caps_bucket_avail(&a->bucket, a->now), &plines, &pmore, &plimited);
  caps_bucket_take(&a->bucket, plines);
  a->rate_limited |= plimited;
  if (a->rate_limited) a->rate_limited_polls++;
  if (plines > 0 && a->pending_since == INT64_MIN) a->pending_since = a->now;
  a->more_to_read |= pmore;
}

void agent_caps_info(const agent *a, caps_info *out) {
  memset(out, 0, sizeof *out);
  out->rate = a->bucket.rate;
  out->rate_limited_polls = a->rate_limited_polls;
  out->memory_cap_bytes = a->lim.memory_bytes;
  out->rss_bytes = a->mem.rss_bytes;
  out->peak_rss_bytes = a->mem.peak_rss_bytes;
  out->memory_over = a->mem.over;
  out->memory_over_events = a->mem.over_events;
  out->batch_max_records = a->cfg.batch_max_records;
  out->batch_max_bytes = a->cfg.batch_max_bytes;
  out->batch_max_age_ms = a->cfg.batch_max_age_ms;
  out->read_chunk_bytes = (int64_t)a->tb->chunk_cap;
  out->cache_kib = a->mem.over ? CAPS_MIN_CACHE_KIB : a->lim.cache_kib;
}

int agent_self_record(agent *a, const char *line) {
  size_t len = line ? strnlen(line, 1024) : 0;
  if (!a || len == 0 || len >= 1024 || memchr(line, '\n', len)) return AGENT_ECONFIG;
  spool_source_state st;
  if (spool_source_load(a->sp, AGENT_SELF_SOURCE, &st) != SPOOL_OK) return AGENT_ESTATE;
  /* The offset of a source that is no file: one more per record. */
  st.offset++;
  spool_line l = {line, len, a->wall};
  if (spool_append(a->sp, &st, &l, 1) != SPOOL_OK) return AGENT_ESTATE;
  /* Ships with the next batch, like a line read at the last step. */
  if (a->pending_since == INT64_MIN) a->pending_since = a->now;
  return AGENT_OK;
}
