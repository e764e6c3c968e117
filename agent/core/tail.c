/* tail.c - follow a text file into the spool (see tail.h). */
#include "core/tail.h"

#include "core/files.h"
#include "core/guard.h"

#include <stdio.h> /* snprintf only */
#include <stdlib.h>
#include <string.h>

int tail_buffers_init(tail_buffers *b, size_t chunk_cap, size_t max_line) {
  memset(b, 0, sizeof *b);
  b->chunk = malloc(chunk_cap);
  b->line = malloc(max_line + sizeof(TAIL_TRUNCATED_MARKER));
  b->lines = calloc(TAIL_MAX_LINES_PER_TXN, sizeof(spool_line));
  if (!b->chunk || !b->line || !b->lines) {
    tail_buffers_free(b);
    return -1;
  }
  b->chunk_cap = chunk_cap;
  b->max_line = max_line;
  return 0;
}

void tail_buffers_free(tail_buffers *b) {
  free(b->chunk);
  free(b->line);
  free(b->lines);
  memset(b, 0, sizeof *b);
}

void tail_source_release(tail_source *src) {
  if (src->rotated && src->rotated_os) src->rotated_os->close(src->rotated_os->ctx, src->rotated);
  src->rotated = NULL;
  src->rotated_os = NULL;
}

static int commit(tail_source *src, spool *sp, const spool_line *lines, size_t n) {
  int rc = spool_append(sp, &src->st, lines, n);
  if (rc == SPOOL_EFULL) return TAIL_EFULL;
  return rc == SPOOL_OK ? TAIL_OK : TAIL_ESPOOL;
}

/* Parses one chunk that starts at src->st.offset. Commits complete lines (in
 * transactions of at most TAIL_MAX_LINES_PER_TXN). Returns bytes consumed via
 * *consumed; leaves a trailing partial line unconsumed unless it is over-long. */
static int consume_chunk(tail_source *src, spool *sp, tail_buffers *b, size_t len,
                         int64_t ts_ms, int64_t *budget, int64_t *lines_out, size_t *consumed) {
  const char *buf = b->chunk;
  size_t pos = 0, n = 0;
  int64_t base = src->st.offset;
  int truncated_in_batch = 0; /* b->line is in use by lines[n-1] until commit */
  while (pos < len) {
    const char *nl = memchr(buf + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - buf) : len;
    size_t line_len = end - pos;
    if (!nl) {
      /* No newline yet: wait for more, unless the line is already too long. */
      if (src->st.skipping) {
        pos = len; /* discard, still skipping */
        break;
      }
      if (line_len <= b->max_line) break;
    }
    if (src->st.skipping) {
      src->st.skipping = 0; /* the over-long line ends here */
    } else {
      const char *data = buf + pos;
      if (line_len > 0 && data[line_len - 1] == '\r' && nl) line_len--;
      if (line_len > b->max_line) {
        if (truncated_in_batch) {
          /* The scratch line is taken: commit first, then reuse it. */
          src->st.offset = base + (int64_t)pos;
          int rc = commit(src, sp, b->lines, n);
          if (rc != TAIL_OK) return rc;
          *lines_out += (int64_t)n;
          n = 0;
        }
        memcpy(b->line, data, b->max_line);
        memcpy(b->line + b->max_line, TAIL_TRUNCATED_MARKER, sizeof(TAIL_TRUNCATED_MARKER) - 1);
        data = b->line;
        line_len = b->max_line + sizeof(TAIL_TRUNCATED_MARKER) - 1;
        truncated_in_batch = 1;
        if (!nl) src->st.skipping = 1; /* the rest arrives later */
      }
      b->lines[n].data = data;
      b->lines[n].len = line_len;
      b->lines[n].ts_ms = ts_ms;
      n++;
      (*budget)--;
    }
    pos = nl ? end + 1 : len;
    /* Rate cap (core/caps.h): stop right after the last line paid for; the
     * offset stops there too, so the rest waits on disk. */
    if (*budget <= 0) break;
    if (n == TAIL_MAX_LINES_PER_TXN) {
      src->st.offset = base + (int64_t)pos;
      int rc = commit(src, sp, b->lines, n);
      if (rc != TAIL_OK) return rc;
      *lines_out += (int64_t)n;
      n = 0;
      truncated_in_batch = 0;
    }
  }
  if (n > 0 || (int64_t)pos + base != src->st.offset) {
    src->st.offset = base + (int64_t)pos;
    int rc = commit(src, sp, b->lines, n);
    if (rc != TAIL_OK) return rc;
    *lines_out += (int64_t)n;
  }
  *consumed = pos;
  return TAIL_OK;
}

/* FNV-1a 64: a fingerprint, not a defence (the files are local). */
static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001b3ULL;
  return h;
}

/* Fingerprint of the first n bytes of f (n <= TAIL_FP_BYTES); -1 if shorter. */
static int fp_of(const os_shim *os, os_file *f, int64_t n, tail_buffers *b, uint64_t *out) {
  if (n <= 0 || n > TAIL_FP_BYTES || (size_t)n > b->chunk_cap) return -1;
  int64_t got = os->pread(os->ctx, f, b->chunk, (size_t)n, 0);
  if (got != n) return -1;
  *out = fnv1a(b->chunk, (size_t)n);
  return 0;
}

/* Is the file open as f still the one the saved state describes: same
 * device and inode, not shorter than the offset, same first bytes? */
static int same_file(const tail_source *src, const os_shim *os, os_file *f, const os_stat *st,
                     tail_buffers *b) {
  if (src->st.dev != st->dev || src->st.ino != st->ino || st->size < src->st.offset) return 0;
  if (src->st.fp_len == 0) return 1;
  uint64_t h;
  return fp_of(os, f, src->st.fp_len, b, &h) == 0 && h == src->st.fp;
}

/* Reads the rest of the old file from its rotated copy (path + ".1", the
 * name logrotate gives it, for rename and copytruncate alike) when that copy
 * is the file the state describes: same first bytes (or, before any were
 * seen, the same inode) and longer than the offset. A final line without a
 * newline is taken as complete: nobody appends to a rotated file. Nothing
 * to drain (no copy, another file) is not an error.
 * At most TAIL_MAX_CHUNKS_PER_POLL chunks per call, as for the live file: a
 * rotated backlog of a gigabyte is read over many steps, each short enough
 * for requests, other sources and SIGTERM to get their turn (issue #14).
 * *unfinished: the rate cap stopped it; *more: the chunk bound did. Either
 * way the state still describes the old file, so the next poll drains on
 * from its offset before the new file. */
static int drain_rotated(tail_source *src, const os_shim *os, spool *sp, tail_buffers *b,
                         int64_t ts_ms, int64_t *budget, int64_t *lines_out, int *unfinished,
                         int *more, int *os_error) {
  os_stat st;
  if (src->rotated) {
    /* Drained on from the descriptor the last poll left open: its size
     * now (an application that has not reopened its log still appends to
     * the renamed file). */
    int frc = os->fstat(os->ctx, src->rotated, &st);
    if (frc != OS_OK) {
      *os_error = frc;
      tail_source_release(src);
      return TAIL_EIO;
    }
  } else {
    char rp[CONFIG_PATH_MAX + 8];
    const char *base = src->open_path[0] ? src->open_path : src->path;
    size_t n = strnlen(base, CONFIG_PATH_MAX);
    if (n + 3 > sizeof rp) return TAIL_OK;
    memcpy(rp, base, n);
    memcpy(rp + n, ".1", 3);
    /* The rotated copy passes the same guard as the file: a symlink, FIFO
     * or hard link planted as PATH.1 is not drained (nothing of the old file
     * is there to read). */
    os_file *f = NULL;
    char why[GUARD_WHY_MAX];
    int gerr = 0;
    if (guard_open(src->guard, os, rp, &f, &st, &gerr, why, sizeof why) != GUARD_OK)
      return TAIL_OK;
    int ok = st.size > src->st.offset;
    if (ok && src->st.fp_len > 0) {
      uint64_t h;
      ok = fp_of(os, f, src->st.fp_len, b, &h) == 0 && h == src->st.fp;
    } else if (ok) {
      ok = st.dev == src->st.dev && st.ino == src->st.ino;
    }
    if (!ok) {
      os->close(os->ctx, f);
      return TAIL_OK;
    }
    src->rotated = f;
    src->rotated_os = os;
  }
  os_file *f = src->rotated;
  int ret = TAIL_OK;
  int round = 0;
  for (; src->st.offset < st.size && round < TAIL_MAX_CHUNKS_PER_POLL; round++) {
    if (*budget <= 0) {
      *unfinished = 1; /* the rest of the old file first, when tokens are back */
      break;
    }
    size_t want = b->chunk_cap - 1; /* room for a closing newline */
    int64_t got = os->pread(os->ctx, f, b->chunk, want, src->st.offset);
    if (got < 0) {
      *os_error = (int)got;
      ret = TAIL_EIO;
      break;
    }
    if (got == 0) break;
    for (int64_t i = 0; i < got; i++)
      if (b->chunk[i] == 0) b->chunk[i] = '?';
    if (src->st.offset + got >= st.size && b->chunk[got - 1] != '\n') b->chunk[got++] = '\n';
    size_t consumed = 0;
    ret = consume_chunk(src, sp, b, (size_t)got, ts_ms, budget, lines_out, &consumed);
    if (ret != TAIL_OK) break;
    if (src->st.offset > st.size) src->st.offset = st.size; /* the added newline */
    if (src->st.offset < st.size && *budget <= 0) *unfinished = 1;
    if (consumed == 0) break;
  }
  if (ret == TAIL_OK && !*unfinished && round == TAIL_MAX_CHUNKS_PER_POLL &&
      src->st.offset < st.size)
    *more = 1;
  /* Kept open only while the drain goes on; a failed one reopens (and
   * re-checks) PATH.1 next time. */
  if (ret != TAIL_OK || !(*more || *unfinished)) tail_source_release(src);
  if (ret != TAIL_OK) {
    spool_source_state disk;
    if (spool_source_load(sp, src->path, &disk) == SPOOL_OK) src->st = disk;
    else src->loaded = 0;
  }
  return ret;
}

int tail_poll(tail_source *src, const os_shim *os, spool *sp, tail_buffers *b, int64_t ts_ms,
              int64_t *lines_out, int *more, int *os_error) {
  int limited = 0;
  return tail_poll_max(src, os, sp, b, ts_ms, INT64_MAX, lines_out, more, &limited, os_error);
}

int tail_poll_max(tail_source *src, const os_shim *os, spool *sp, tail_buffers *b, int64_t ts_ms,
                  int64_t max_lines, int64_t *lines_out, int *more, int *limited, int *os_error) {
  *lines_out = 0;
  *more = 0;
  *limited = 0;
  *os_error = 0;
  if (max_lines <= 0) {
    *limited = 1;
    return TAIL_OK;
  }
  int64_t budget = max_lines;
  if (!src->loaded) {
    int rc = spool_source_load(sp, src->path, &src->st);
    if (rc != SPOOL_OK) return rc == SPOOL_EFULL ? TAIL_EFULL : TAIL_ESPOOL;
    src->loaded = 1;
  }
  /* Decided on the open descriptor (core/guard.h), before every read. */
  os_file *f = NULL;
  os_stat st;
  src->why[0] = 0;
  int rc = guard_open(src->guard, os, src->open_path[0] ? src->open_path : src->path, &f, &st,
                      os_error, src->why, sizeof src->why);
  src->absent = rc == GUARD_ENOENT;
  if (rc == GUARD_ENOENT) return TAIL_OK; /* may appear later */
  if (rc == GUARD_EREFUSED) return TAIL_EREFUSED;
  if (rc != GUARD_OK) return TAIL_EIO;
  spool_source_state saved = src->st;
  int changed = 0;
  if (!src->st.known) {
    src->st.known = 1;
    src->st.offset = src->start == CONFIG_START_END ? st.size : 0;
    src->st.fp_len = 0;
    changed = 1;
  } else if (src->rotated || !same_file(src, os, f, &st, b)) {
    /* Rotated (rename or copytruncate), truncated, replaced, or an inode
     * reused by another file: what is left of the old file is read first,
     * from the rotated copy if there is one, then the new file from 0. */
    int unfinished = 0, old_more = 0;
    int drc = drain_rotated(src, os, sp, b, ts_ms, &budget, lines_out, &unfinished, &old_more,
                            os_error);
    if (drc != TAIL_OK || unfinished || old_more) {
      /* Unfinished (rate cap) or the step's share read: the state still
       * describes the old file, so the next poll drains on from its offset
       * before the new file. */
      *limited = unfinished;
      *more = old_more;
      os->close(os->ctx, f);
      return drc;
    }
    src->st.offset = 0;
    src->st.skipping = 0;
    src->st.fp_len = 0;
    changed = 1;
  }
  src->st.dev = st.dev;
  src->st.ino = st.ino;
  if (src->st.fp_len < TAIL_FP_BYTES && st.size > src->st.fp_len) {
    /* The identity grows with the file up to TAIL_FP_BYTES. */
    int64_t n = st.size < TAIL_FP_BYTES ? st.size : TAIL_FP_BYTES;
    uint64_t h;
    if (fp_of(os, f, n, b, &h) == 0) {
      src->st.fp = h;
      src->st.fp_len = n;
      changed = 1;
    }
  }
  if (changed) {
    rc = spool_source_save(sp, &src->st);
    if (rc != SPOOL_OK) {
      src->st = saved;
      os->close(os->ctx, f);
      return rc == SPOOL_EFULL ? TAIL_EFULL : TAIL_ESPOOL;
    }
  }
  int ret = TAIL_OK;
  for (int round = 0; round < TAIL_MAX_CHUNKS_PER_POLL; round++) {
    if (src->st.offset >= st.size) break;
    if (budget <= 0) {
      *limited = 1;
      break;
    }
    int64_t got = os->pread(os->ctx, f, b->chunk, b->chunk_cap, src->st.offset);
    if (got < 0) {
      *os_error = (int)got;
      ret = TAIL_EIO;
      break;
    }
    if (got == 0) break;
    /* Records travel as C strings and JSON text: a NUL byte (sparse regions
     * left by copytruncate, binary junk) becomes '?' rather than cutting the
     * line short or making it unsendable. */
    for (char *p = memchr(b->chunk, 0, (size_t)got); p;
         p = memchr(p + 1, 0, (size_t)got - (size_t)(p + 1 - b->chunk)))
      *p = '?';
    size_t consumed = 0;
    ret = consume_chunk(src, sp, b, (size_t)got, ts_ms, &budget, lines_out, &consumed);
    if (ret != TAIL_OK) {
      /* The failed transaction left nothing on disk; earlier ones did. Take
       * the state back from the spool so memory matches what is committed. */
      spool_source_state disk;
      if (spool_source_load(sp, src->path, &disk) == SPOOL_OK) src->st = disk;
      else src->loaded = 0;
      break;
    }
    if (budget <= 0 && src->st.offset < st.size) {
      *limited = 1;
      break;
    }
    if (consumed == 0) break; /* a partial line waits for its newline */
    if (round == TAIL_MAX_CHUNKS_PER_POLL - 1 && src->st.offset < st.size) *more = 1;
  }
  os->close(os->ctx, f);
  return ret;
}

/* ---- what the log says (issue #17) ---------------------------------------- */

/* wall ms -> "2025-11-29T00:00:00Z" (civil from days, H. Hinnant). */
static void utc_text(int64_t wall_ms, char *out, size_t cap) {
  int64_t s = wall_ms / 1000 - (wall_ms % 1000 < 0);
  int64_t days = s / 86400 - (s % 86400 < 0), sod = s - days * 86400;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = yoe + era * 400 + (m <= 2);
  if (y < 0 || y > 9999) y = 0; /* four digits: the text has a fixed width */
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)m, (int)d, (int)(sod / 3600),
           (int)(sod / 60 % 60), (int)(sod % 60));
}

int tail_health_note(tail_source *src, int rc, int os_error, int64_t now, int64_t wall,
                     int64_t period_ms, os_log_level *level, char *msg, size_t cap) {
  tail_health *h = &src->health;
  if (period_ms < TAIL_SUMMARY_MS_MIN) period_ms = TAIL_SUMMARY_MS_MIN;
  if (cap > 0) msg[0] = 0;
  if (rc == TAIL_OK) {
    if (h->failed == 0) return 0;
    int64_t secs = (now - h->since_mono) / 1000;
    *level = OS_LOG_INFO;
    snprintf(msg, cap,
             src->absent ? "source %.200s no longer unreadable after %lld s (%lld polls failed): "
                           "it is gone now and is read when it appears"
                         : "source %.200s readable again after %lld s (%lld polls failed)",
             src->path, (long long)secs, (long long)h->failed);
    memset(h, 0, sizeof *h);
    return 1;
  }
  if (rc != TAIL_EIO && rc != TAIL_EREFUSED) return 0; /* the spool's trouble, not the file's */
  char reason[GUARD_WHY_MAX];
  if (rc == TAIL_EIO) snprintf(reason, sizeof reason, "cannot read: %s", files_strerror(os_error));
  else snprintf(reason, sizeof reason, "%s", src->why[0] ? src->why : "refused");
  *level = OS_LOG_WARN;
  if (h->failed == 0) {
    h->failed = 1;
    h->since_mono = now;
    h->since_wall = wall;
    h->next_summary = now + period_ms;
    memcpy(h->reason, reason, sizeof h->reason);
    snprintf(msg, cap, "source %.200s unreadable: %s", src->path, reason);
    return 1;
  }
  if (h->failed < INT64_MAX) h->failed++;
  if (strcmp(h->reason, reason) != 0) {
    snprintf(msg, cap, "source %.200s still unreadable, for another reason now: %s (was: %.150s)",
             src->path, reason, h->reason);
    memcpy(h->reason, reason, sizeof h->reason);
    return 1;
  }
  if (now < h->next_summary) return 0;
  /* On the period's grid from the change; a long gap (a suspended host)
   * gives one line, not one per missed period. */
  h->next_summary += period_ms * ((now - h->next_summary) / period_ms + 1);
  char since[48];
  utc_text(h->since_wall, since, sizeof since);
  snprintf(msg, cap, "source %.200s still unreadable since %s (%lld s): %s; %lld polls failed",
           src->path, since, (long long)((now - h->since_mono) / 1000), reason,
           (long long)h->failed);
  return 1;
}
