#include "sim_trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct sim_trace {
  FILE *f;
  int full;
  int failed;
  uint64_t hash;
  int64_t events;
};

int sim_trace_open(const char *path, int full, sim_trace **out) {
  *out = NULL;
  sim_trace *t = calloc(1, sizeof *t);
  if (!t) return SIM_TRACE_ENOMEM;
  t->hash = 0xcbf29ce484222325ull; /* FNV-1a offset basis */
  t->full = full;
  if (path) {
    t->f = fopen(path, "w");
    if (!t->f) {
      free(t);
      return SIM_TRACE_EIO;
    }
    /* fully buffered, large: a full trace writes millions of lines */
    setvbuf(t->f, NULL, _IOFBF, 1 << 16);
  }
  *out = t;
  return SIM_TRACE_OK;
}

static void fold_u64(sim_trace *t, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    t->hash ^= (v >> (8 * i)) & 0xff;
    t->hash *= 0x100000001b3ull;
  }
}

void sim_trace_event(sim_trace *t, int type, const char *name, int64_t time_ms, int32_t agent,
                     int64_t result) {
  if (!t) return;
  fold_u64(t, (uint64_t)(int64_t)type);
  fold_u64(t, (uint64_t)time_ms);
  fold_u64(t, (uint64_t)(int64_t)agent);
  fold_u64(t, (uint64_t)result);
  t->events++;
  if (t->full && t->f &&
      fprintf(t->f, "{\"t\":%lld,\"ev\":\"%s\",\"agent\":%d,\"result\":%lld}\n",
              (long long)time_ms, name, (int)agent, (long long)result) < 0)
    t->failed = 1;
}

void sim_trace_line(sim_trace *t, const char *fmt, ...) {
  if (!t || !t->f) return;
  va_list ap;
  va_start(ap, fmt);
  if (vfprintf(t->f, fmt, ap) < 0 || fputc('\n', t->f) == EOF) t->failed = 1;
  va_end(ap);
}

uint64_t sim_trace_hash(const sim_trace *t) { return t ? t->hash : 0; }
int64_t sim_trace_events(const sim_trace *t) { return t ? t->events : 0; }
int sim_trace_full(const sim_trace *t) { return t ? t->full : 0; }

int sim_trace_close(sim_trace *t) {
  if (!t) return SIM_TRACE_OK;
  int rc = t->failed ? SIM_TRACE_EIO : SIM_TRACE_OK;
  if (t->f && fclose(t->f) != 0) rc = SIM_TRACE_EIO;
  free(t);
  return rc;
}
