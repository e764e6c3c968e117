/* jread.c - the journal source: shim -> spool, cursor persisted (see jread.h). */
#include "core/jread.h"

#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <stdlib.h>
#include <string.h>

#include "core/files.h"

#define JREAD_PASS_MAX 256
#define JREAD_NO_SHIM 1 /* not an OS_E* code: no journal shim at all */
#define JREAD_LINE (JOURNAL_MESSAGE_MAX * 6 + JOURNAL_IDENT_MAX * 6 + 128)

struct jread {
  int64_t retry_at;
  jread_state state;
  int opened;
  int said_unavailable; /* the "not available" record went once */
  char cursor[JOURNAL_CURSOR_MAX];
  char path[OS_PATH_MAX];
};

int jread_open(const char *state_dir, jread **out) {
  *out = NULL;
  jread *j = calloc(1, sizeof *j);
  if (!j) return JREAD_ENOMEM;
  if (files_join(j->path, sizeof j->path, state_dir, JREAD_CURSOR_FILE) != OS_OK) j->path[0] = 0;
  j->retry_at = INT64_MIN;
  *out = j;
  return JREAD_OK;
}

void jread_close(jread *j, const journal_shim *js) {
  if (!j) return;
  if (j->opened && js && js->close) js->close(js->ctx);
  free(j);
}

jread_state jread_get_state(const jread *j) { return j ? j->state : JREAD_UNKNOWN; }

const char *jread_state_name(jread_state s) {
  switch (s) {
    case JREAD_UNAVAILABLE: return "not available";
    case JREAD_READING: return "reading";
    case JREAD_ERROR: return "error";
    case JREAD_OFF: return "off (policy)";
    default: return "unknown";
  }
}

/* JSON-escapes v into out (cut to fit, NUL-terminated); returns the length. */
static size_t esc(const char *v, char *out, size_t cap) {
  size_t n = 0;
  for (; *v && n + 8 < cap; v++) {
    unsigned char c = (unsigned char)*v;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n] = 0;
  return n;
}

static int spool_one(spool *sp, spool_source_state *st, const char *line, size_t len,
                     int64_t wall) {
  spool_line l = {line, len, wall};
  st->offset++;
  if (spool_append(sp, st, &l, 1) != SPOOL_OK) {
    st->offset--;
    return -1;
  }
  return 0;
}

static void unavailable(jread *j, spool *sp, spool_source_state *st, int rc, int64_t wall,
                        int64_t now, int64_t *lines) {
  j->state = JREAD_UNAVAILABLE;
  j->retry_at = now + JREAD_RETRY_MS;
  /* No journal shim at all (the simulator): the state only, no record, so
   * a simulated fleet's record ledger stays exactly its log lines. */
  if (j->said_unavailable || rc == JREAD_NO_SHIM) return;
  char line[160];
  int n = snprintf(line, sizeof line, "{\"journal\":\"not available\",\"reason\":\"%s\"}",
                   rc == OS_ENOSYS ? "agent built without sd-journal"
                                   : "no systemd journal on this host");
  if (n > 0 && spool_one(sp, st, line, (size_t)n, wall) == 0) {
    j->said_unavailable = 1;
    (*lines)++;
  }
}

void jread_poll(jread *j, const journal_shim *js, const os_shim *os, spool *sp, int64_t wall,
                int64_t now, int64_t max, int max_priority, int64_t *lines, int *more) {
  if (!j || max <= 0 || now < j->retry_at) return;
  if (max > JREAD_PASS_MAX) max = JREAD_PASS_MAX; /* the poll loop stays short */
  spool_source_state st;
  if (spool_source_load(sp, "journal", &st) != SPOOL_OK) return;
  if (!j->opened) {
    int rc = js && js->open ? js->open(js->ctx) : JREAD_NO_SHIM;
    if (rc != OS_OK) {
      unavailable(j, sp, &st, rc, wall, now, lines);
      return;
    }
    j->opened = 1;
    size_t len = 0;
    if (j->path[0] &&
        files_read_small(os, j->path, j->cursor, sizeof j->cursor - 1, &len) == OS_OK)
      j->cursor[len] = 0;
    else
      j->cursor[0] = 0;
    if (js->seek(js->ctx, j->cursor) != OS_OK) {
      /* Rotated away or never seen: from the end, without a flood. */
      j->cursor[0] = 0;
      js->seek(js->ctx, NULL);
    }
  }
  journal_entry *e = malloc(sizeof *e);
  char *line = malloc(JREAD_LINE);
  if (!e || !line) {
    free(e);
    free(line);
    return;
  }
  int64_t got = 0, skipped = 0;
  int err = 0;
  while (got < max && skipped < JREAD_SKIP_MAX) {
    int rc = js->next(js->ctx, e);
    if (rc == 0) break;
    if (rc < 0) {
      err = 1;
      break;
    }
    if ((e->priority < 0 ? 6 : e->priority) > max_priority) {
      e->cursor[sizeof e->cursor - 1] = 0;
      snprintf(j->cursor, sizeof j->cursor, "%s", e->cursor);
      skipped++;
      continue;
    }
    char m[JOURNAL_MESSAGE_MAX * 6 + 8], id[JOURNAL_IDENT_MAX * 6 + 8];
    e->message[sizeof e->message - 1] = 0;
    e->ident[sizeof e->ident - 1] = 0;
    esc(e->message, m, sizeof m);
    esc(e->ident, id, sizeof id);
    int n = snprintf(line, JREAD_LINE,
                     "{\"journal\":\"entry\",\"ts_us\":%lld,\"priority\":%d,\"ident\":\"%s\","
                     "\"message\":\"%s\"}",
                     (long long)e->realtime_us, e->priority, id, m);
    if (n <= 0 || n >= JREAD_LINE || spool_one(sp, &st, line, (size_t)n, wall) != 0) {
      err = 1; /* not spooled: the cursor stays, the entry comes again */
      break;
    }
    e->cursor[sizeof e->cursor - 1] = 0;
    snprintf(j->cursor, sizeof j->cursor, "%s", e->cursor);
    got++;
  }
  if (got == max || skipped == JREAD_SKIP_MAX) *more = 1;
  *lines += got;
  if ((got > 0 || skipped > 0) && j->path[0]) {
    int rc = files_write_atomic(os, j->path, j->cursor, strlen(j->cursor), 0600);
    if (rc != OS_OK && os->log) os->log(os->ctx, OS_LOG_WARN, "journal: cannot save the cursor");
  }
  if (err) {
    /* Reopen later at the saved cursor: an entry not spooled is read again. */
    j->state = JREAD_ERROR;
    js->close(js->ctx);
    j->opened = 0;
    j->retry_at = now + 1000;
  } else {
    j->state = JREAD_READING;
  }
  free(e);
  free(line);
}

void jread_forget(jread *j, const os_shim *os) {
  if (!j || !j->path[0]) return;
  int rc = os->unlink(os->ctx, j->path);
  if (rc != OS_OK && rc != OS_ENOENT && os->log)
    os->log(os->ctx, OS_LOG_WARN, "journal: cannot delete the cursor file");
  j->cursor[0] = 0;
}
