#include "sim_trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct chain {
  uint64_t hash;
  int64_t events;
} chain;

struct sim_trace {
  FILE *f;
  int full;
  int failed;
  int64_t n_agents;
  chain *agents; /* [n_agents] */
  chain fleet;
  int64_t events;
};

int sim_trace_open(const char *path, int full, int64_t n_agents, sim_trace **out) {
  *out = NULL;
  if (n_agents < 0 || n_agents > SIM_TRACE_MAX_AGENTS) return SIM_TRACE_EINVAL;
  sim_trace *t = calloc(1, sizeof *t);
  if (!t) return SIM_TRACE_ENOMEM;
  t->agents = calloc(n_agents > 0 ? (size_t)n_agents : 1, sizeof *t->agents);
  if (!t->agents) {
    free(t);
    return SIM_TRACE_ENOMEM;
  }
  t->n_agents = n_agents;
  for (int64_t i = 0; i < n_agents; i++) t->agents[i].hash = SIM_TRACE_FNV_BASIS;
  t->fleet.hash = SIM_TRACE_FNV_BASIS;
  t->full = full;
  if (path) {
    t->f = fopen(path, "w");
    if (!t->f) {
      free(t->agents);
      free(t);
      return SIM_TRACE_EIO;
    }
    /* fully buffered, large: a full trace writes millions of lines */
    setvbuf(t->f, NULL, _IOFBF, 1 << 16);
  }
  *out = t;
  return SIM_TRACE_OK;
}

static uint64_t fold_u64(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t sim_trace_hash_fold(uint64_t h, int64_t agent, uint64_t chain_hash, int64_t events) {
  h = fold_u64(h, (uint64_t)agent);
  h = fold_u64(h, chain_hash);
  return fold_u64(h, (uint64_t)events);
}

void sim_trace_event(sim_trace *t, int type, const char *name, int64_t time_ms, int32_t agent,
                     int64_t result) {
  if (!t) return;
  chain *c = agent >= 0 && agent < t->n_agents ? &t->agents[agent] : &t->fleet;
  c->hash = fold_u64(c->hash, (uint64_t)(int64_t)type);
  c->hash = fold_u64(c->hash, (uint64_t)time_ms);
  c->hash = fold_u64(c->hash, (uint64_t)(int64_t)agent);
  c->hash = fold_u64(c->hash, (uint64_t)result);
  c->events++;
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

uint64_t sim_trace_hash(const sim_trace *t) {
  if (!t) return 0;
  uint64_t h = SIM_TRACE_FNV_BASIS;
  for (int64_t i = 0; i < t->n_agents; i++)
    h = sim_trace_hash_fold(h, i, t->agents[i].hash, t->agents[i].events);
  return sim_trace_hash_fold(h, -1, t->fleet.hash, t->fleet.events);
}

int sim_trace_chain(const sim_trace *t, int64_t i, uint64_t *hash, int64_t *events) {
  if (!t || i < -1 || i >= t->n_agents) return -1;
  const chain *c = i < 0 ? &t->fleet : &t->agents[i];
  *hash = c->hash;
  *events = c->events;
  return 0;
}

int64_t sim_trace_events(const sim_trace *t) { return t ? t->events : 0; }
int sim_trace_full(const sim_trace *t) { return t ? t->full : 0; }

int sim_trace_close(sim_trace *t) {
  if (!t) return SIM_TRACE_OK;
  int rc = t->failed ? SIM_TRACE_EIO : SIM_TRACE_OK;
  if (t->f && fclose(t->f) != 0) rc = SIM_TRACE_EIO;
  free(t->agents);
  free(t);
  return rc;
}
