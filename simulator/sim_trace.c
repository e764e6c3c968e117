#include "sim_trace.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* splitmix64's finaliser: FNV's output is not spread well enough to be
 * summed (two agents' terms must not cancel). */
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t sim_trace_digest_fleet(const sim_trace *t) {
  if (!t) return 0;
  return mix(sim_trace_hash_fold(SIM_TRACE_FNV_BASIS, -1, t->fleet.hash, t->fleet.events));
}

uint64_t sim_trace_digest(const sim_trace *t, int with_fleet) {
  if (!t) return 0;
  uint64_t d = with_fleet ? sim_trace_digest_fleet(t) : 0;
  for (int64_t i = 0; i < t->n_agents; i++)
    if (t->agents[i].events > 0)
      d += mix(sim_trace_hash_fold(SIM_TRACE_FNV_BASIS, i, t->agents[i].hash, t->agents[i].events));
  return d;
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

/* ---- the lines one run and a merge both write ------------------------------- */

static int hour_print(FILE *o, const sim_trace_hour *h) {
  char fleet[96] = "";
  if (h->shard)
    snprintf(fleet, sizeof fleet, ",\"fleet_events\":%lld,\"fleet_hash\":\"%016" PRIx64 "\"",
             (long long)h->fleet_events, h->fleet_hash);
  return fprintf(o,
                 "{\"t\":%lld,\"type\":\"hour\",\"hour\":%lld,\"events\":%lld,\"hash\":\"%016" PRIx64
                 "\",\"lines_written\":%lld,\"produced\":%lld,\"acked\":%lld,\"spooled\":%lld,"
                 "\"cloud_records\":%lld,\"requests\":%lld,\"lost_in\":%lld,\"lost_out\":%lld,"
                 "\"refused\":%lld,\"ledger_checks\":%lld%s}\n",
                 (long long)h->t, (long long)h->hour, (long long)h->events, h->hash,
                 (long long)h->lines_written, (long long)h->produced, (long long)h->acked,
                 (long long)h->spooled, (long long)h->cloud_records, (long long)h->requests,
                 (long long)h->lost_in, (long long)h->lost_out, (long long)h->refused,
                 (long long)h->ledger_checks, fleet);
}

void sim_trace_hour_line(sim_trace *t, const sim_trace_hour *h) {
  if (t && t->f && hour_print(t->f, h) < 0) t->failed = 1;
}

static int verdict_print(FILE *o, const sim_trace_end *e) {
  for (int i = 0; i < e->n_exp; i++)
    if (fprintf(o, "{\"t\":%lld,\"type\":\"expect\",\"name\":\"%s\",\"pass\":%s}\n", (long long)e->t,
                e->exp_name[i], e->exp_pass[i] ? "true" : "false") < 0)
      return -1;
  return fprintf(o,
                 "{\"t\":%lld,\"type\":\"end\",\"events\":%lld,\"hash\":\"%016" PRIx64
                 "\",\"lines_written\":%lld,\"ledger_checks\":%lld}\n",
                 (long long)e->t, (long long)e->events, e->hash, (long long)e->lines_written,
                 (long long)e->ledger_checks);
}

void sim_trace_verdict(sim_trace *t, const sim_trace_end *e) {
  if (t && t->f && verdict_print(t->f, e) < 0) t->failed = 1;
}

/* ---- merging shards' traces ---------------------------------------------------- */

typedef enum line_kind { L_OWN, L_FLEET, L_HOUR, L_DROP } line_kind;

typedef struct head {
  FILE *f;
  const char *path;
  char *line;
  size_t cap;
  ssize_t len;  /* without the newline; -1: the end */
  int64_t lineno, t;
  line_kind kind;
} head;

static int merr(char *err, size_t cap, const head *h, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int merr(char *err, size_t cap, const head *h, const char *fmt, ...) {
  int o = h ? snprintf(err, cap, "%s line %lld: ", h->path, (long long)h->lineno) : 0;
  if (o < 0 || (size_t)o >= cap) return SIM_TRACE_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + o, cap - (size_t)o, fmt, ap);
  va_end(ap);
  return SIM_TRACE_EINVAL;
}

/* What a line is, from the way the run writes it: {"t":N,"ev":"X","agent":A,...}
 * for an event, {"t":N,"type":"X",...} for the rest. */
static int classify(head *h, int64_t agents, char *err, size_t cap) {
  const char *s = h->line;
  if (strncmp(s, "{\"t\":", 5) != 0) return merr(err, cap, h, "does not start with {\"t\":");
  char *end;
  errno = 0;
  long long t = strtoll(s + 5, &end, 10);
  if (errno || end == s + 5 || *end != ',' || t < 0)
    return merr(err, cap, h, "\"t\" is not a simulated time in milliseconds");
  h->t = t;
  end++;
  if (strncmp(end, "\"ev\":\"", 6) == 0) {
    const char *a = strstr(end, "\",\"agent\":");
    if (!a) return merr(err, cap, h, "an event line without \"agent\"");
    long long ag = strtoll(a + 10, NULL, 10);
    h->kind = ag < 0 || ag >= agents ? L_FLEET : L_OWN;
    return 0;
  }
  if (strncmp(end, "\"type\":\"", 8) != 0) return merr(err, cap, h, "neither \"ev\" nor \"type\" after \"t\"");
  const char *type = end + 8;
  if (!strncmp(type, "hour\"", 5)) h->kind = L_HOUR;
  else if (!strncmp(type, "expect\"", 7) || !strncmp(type, "end\"", 4)) h->kind = L_DROP;
  else h->kind = strstr(type, ",\"agent\":") ? L_OWN : L_FLEET;
  return 0;
}

static int advance(head *h, int64_t agents, char *err, size_t cap) {
  for (;;) {
    h->len = getline(&h->line, &h->cap, h->f);
    if (h->len < 0) {
      if (ferror(h->f)) return merr(err, cap, h, "cannot read: %s", strerror(errno));
      return 0;
    }
    h->lineno++;
    if (h->len > SIM_TRACE_MERGE_MAX_LINE) return merr(err, cap, h, "longer than %ld bytes", SIM_TRACE_MERGE_MAX_LINE);
    if (h->len > 0 && h->line[h->len - 1] == '\n') h->line[--h->len] = 0;
    else return merr(err, cap, h, "cut short (no newline): the shard did not finish its trace");
    int rc = classify(h, agents, err, cap);
    if (rc) return rc;
    if (h->kind != L_DROP) return 0;
  }
}

static int hour_num(const cJSON *o, const char *key, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
      v->valuedouble != (double)(int64_t)v->valuedouble)
    return -1;
  *out = (int64_t)v->valuedouble;
  return 0;
}

static int hour_hex(const cJSON *o, const char *key, uint64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v) || strlen(v->valuestring) != 16) return -1;
  char *end;
  errno = 0;
  *out = strtoull(v->valuestring, &end, 16);
  return errno || *end ? -1 : 0;
}

/* Adds a shard's hour line into sum (the first one sets the hour and the
 * fleet's part, which every other shard must repeat). */
static int hour_add(const head *h, sim_trace_hour *sum, int first, char *err, size_t cap) {
  cJSON *o = cJSON_ParseWithLength(h->line, (size_t)h->len);
  if (!o) return merr(err, cap, h, "an hour line that is not valid JSON");
  static const struct { const char *name; size_t off; } sums[] = {
      {"lines_written", offsetof(sim_trace_hour, lines_written)},
      {"produced", offsetof(sim_trace_hour, produced)},
      {"acked", offsetof(sim_trace_hour, acked)},
      {"spooled", offsetof(sim_trace_hour, spooled)},
      {"cloud_records", offsetof(sim_trace_hour, cloud_records)},
      {"requests", offsetof(sim_trace_hour, requests)},
      {"lost_in", offsetof(sim_trace_hour, lost_in)},
      {"lost_out", offsetof(sim_trace_hour, lost_out)},
      {"refused", offsetof(sim_trace_hour, refused)},
      {"ledger_checks", offsetof(sim_trace_hour, ledger_checks)},
  };
  int rc = 0;
  int64_t hour, fleet_events, events, v;
  uint64_t hash, fleet_hash;
  if (hour_num(o, "hour", &hour) || hour_num(o, "events", &events) ||
      hour_num(o, "fleet_events", &fleet_events) || events < fleet_events ||
      hour_hex(o, "hash", &hash) || hour_hex(o, "fleet_hash", &fleet_hash)) {
    rc = merr(err, cap, h, "an hour line without a shard's \"hour\", \"hash\", \"fleet_events\" and "
                           "\"fleet_hash\" (is it a shard's trace?)");
    goto out;
  }
  if (first) {
    sum->t = h->t;
    sum->hour = hour;
    sum->fleet_events = fleet_events;
    sum->fleet_hash = fleet_hash;
    sum->hash = fleet_hash;      /* the fleet's term and events once */
    sum->events = fleet_events;
  } else if (hour != sum->hour || fleet_events != sum->fleet_events || fleet_hash != sum->fleet_hash) {
    rc = merr(err, cap, h, "hour %lld with the fleet at %lld events: another shard is at hour %lld with "
                           "%lld: not one run",
              (long long)hour, (long long)fleet_events, (long long)sum->hour,
              (long long)sum->fleet_events);
    goto out;
  }
  sum->hash += hash;
  sum->events += events - fleet_events; /* every shard counts the fleet's */
  for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
    if (hour_num(o, sums[i].name, &v)) {
      rc = merr(err, cap, h, "an hour line whose \"%s\" is not a count", sums[i].name);
      goto out;
    }
    *(int64_t *)(void *)((char *)sum + sums[i].off) += v;
  }
out:
  cJSON_Delete(o);
  return rc;
}

int sim_trace_merge(const char *const *in, int n, const char *out, const sim_trace_end *end,
                    char *err, size_t err_cap) {
  if (n < 1 || n > SIM_TRACE_MAX_AGENTS) return merr(err, err_cap, NULL, "1..%d traces", SIM_TRACE_MAX_AGENTS);
  size_t olen = strlen(out);
  char *tmp = malloc(olen + 16);
  head *hs = calloc((size_t)n, sizeof *hs);
  FILE *o = NULL;
  int rc = SIM_TRACE_OK;
  if (tmp) tmp[0] = 0;
  if (!tmp || !hs) {
    rc = SIM_TRACE_ENOMEM;
    snprintf(err, err_cap, "out of memory");
    goto out;
  }
  for (int k = 0; k < n; k++) {
    hs[k].path = in[k];
    hs[k].f = fopen(in[k], "r");
    if (!hs[k].f) {
      snprintf(err, err_cap, "%s: cannot read: %s", in[k], strerror(errno));
      rc = SIM_TRACE_EIO;
      goto out;
    }
    if ((rc = advance(&hs[k], end->agents, err, err_cap)) != 0) goto out;
  }
  snprintf(tmp, olen + 16, "%s.tmp", out);
  o = fopen(tmp, "w");
  if (!o) {
    snprintf(err, err_cap, "%s: cannot write: %s", tmp, strerror(errno));
    rc = SIM_TRACE_EIO;
    goto out;
  }
  setvbuf(o, NULL, _IOFBF, 1 << 16);
  int werr = 0;
  for (;;) {
    /* the earliest line; at one time, an agent's line before the fleet's */
    int pick = -1;
    for (int k = 0; k < n; k++) {
      const head *h = &hs[k];
      if (h->len < 0) continue;
      if (pick < 0 || h->t < hs[pick].t ||
          (h->t == hs[pick].t && h->kind == L_OWN && hs[pick].kind != L_OWN))
        pick = k;
    }
    if (pick < 0) break;
    head *p = &hs[pick];
    if (p->kind == L_OWN) {
      werr |= fwrite(p->line, 1, (size_t)p->len, o) != (size_t)p->len || fputc('\n', o) == EOF;
      if ((rc = advance(p, end->agents, err, err_cap)) != 0) goto out;
      continue;
    }
    /* The fleet's line: every shard still running is at it now (each shard
     * keeps its own order, and no agent's line of this time is left). */
    sim_trace_hour sum = {0};
    int first = 1;
    for (int k = 0; k < n; k++) {
      head *h = &hs[k];
      if (h->len < 0) continue; /* stopped early (a failure): its trace is short */
      int same_line = h->len == p->len && memcmp(h->line, p->line, (size_t)p->len) == 0;
      if (h->t != p->t || h->kind != p->kind || (p->kind == L_FLEET && !same_line)) {
        rc = merr(err, err_cap, h, "the fleet's own line at %lld ms is not %s's line %lld: the shards "
                                   "are not of one run",
                  (long long)p->t, p->path, (long long)p->lineno);
        goto out;
      }
      if (p->kind == L_HOUR && (rc = hour_add(h, &sum, first, err, err_cap)) != 0) goto out;
      first = 0;
    }
    if (p->kind == L_HOUR) {
      sum.shard = 0;
      werr |= hour_print(o, &sum) < 0;
    } else {
      werr |= fwrite(p->line, 1, (size_t)p->len, o) != (size_t)p->len || fputc('\n', o) == EOF;
    }
    for (int k = 0; k < n; k++)
      if (hs[k].len >= 0 && (rc = advance(&hs[k], end->agents, err, err_cap)) != 0) goto out;
  }
  werr |= verdict_print(o, end) < 0;
  if (fclose(o) != 0 || werr) {
    o = NULL;
    snprintf(err, err_cap, "%s: cannot write: %s", tmp, strerror(errno));
    rc = SIM_TRACE_EIO;
    goto out;
  }
  o = NULL;
  if (rename(tmp, out) != 0) {
    snprintf(err, err_cap, "%s: cannot rename to %s: %s", tmp, out, strerror(errno));
    rc = SIM_TRACE_EIO;
  }
out:
  if (o) fclose(o);
  if (rc && tmp && tmp[0]) unlink(tmp);
  for (int k = 0; hs && k < n; k++) {
    if (hs[k].f) fclose(hs[k].f);
    free(hs[k].line);
  }
  free(hs);
  free(tmp);
  return rc;
}
