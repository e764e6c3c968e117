/* sim_shard.c - shards of a fleet and their merge (sim_shard.h). */
#define _GNU_SOURCE /* dl_iterate_phdr: the build id (sim_shard_build_id) */
#include "sim_shard.h"

#include <cjson/cJSON.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_cli.h"
#include "sim_trace.h"

/* ---- --shard K/N, the rule, the digest ----------------------------------- */

int sim_shard_parse(const char *s, int *k, int *n, char *err, size_t err_cap) {
  uint64_t a = 0, b = 0;
  const char *slash = s ? strchr(s, '/') : NULL;
  char ka[24];
  if (!slash || slash == s || (size_t)(slash - s) >= sizeof ka) {
    snprintf(err, err_cap, "--shard %s: must be K/N, e.g. 0/4", s ? s : "(missing)");
    return SIM_SHARD_EINVAL;
  }
  memcpy(ka, s, (size_t)(slash - s));
  ka[slash - s] = 0;
  if (sim_cli_parse_u64(ka, SIM_SHARD_MAX, &a) || sim_cli_parse_u64(slash + 1, SIM_SHARD_MAX, &b) ||
      b < 1 || a >= b) {
    snprintf(err, err_cap, "--shard %s: must be K/N with 0 <= K < N <= %d", s, SIM_SHARD_MAX);
    return SIM_SHARD_EINVAL;
  }
  *k = (int)a;
  *n = (int)b;
  return SIM_SHARD_OK;
}

typedef struct build_note {
  char *out;
  size_t cap;
} build_note;

/* dl_iterate_phdr's first object is the program itself. */
static int find_build_note(struct dl_phdr_info *info, size_t size, void *user) {
  (void)size;
  build_note *b = user;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
    size_t left = ph->p_memsz;
    while (left >= sizeof(ElfW(Nhdr))) {
      const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
      size_t name_sz = (nh->n_namesz + 3) & ~(size_t)3, desc_sz = (nh->n_descsz + 3) & ~(size_t)3;
      size_t whole = sizeof *nh + name_sz + desc_sz;
      if (whole > left) break;
      const unsigned char *name = p + sizeof *nh, *desc = name + name_sz;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          nh->n_descsz > 0 && nh->n_descsz * 2 < b->cap) {
        for (size_t k = 0; k < nh->n_descsz; k++) snprintf(b->out + 2 * k, 3, "%02x", desc[k]);
        return 1;
      }
      p += whole;
      left -= whole;
    }
  }
  return 1; /* only the program itself */
}

void sim_shard_build_id(char *out, size_t cap) {
  snprintf(out, cap, "unknown");
  build_note b = {out, cap};
  dl_iterate_phdr(find_build_note, &b);
}

uint64_t sim_shard_digest(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = SIM_TRACE_FNV_BASIS;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* Why each event type can or cannot run in shards (docs/scale.md keeps the
 * same table). NULL: shardable: it touches each agent it hits alone, and its
 * draws are the fleet's (made in every shard alike) or the agent's own. */
static const char *event_refusal(const sim_scn_event *e) {
  switch (e->type) {
    case SIM_SCN_CLOUD_OUTAGE:
    case SIM_SCN_NETWORK:
    case SIM_SCN_RESTART:
    case SIM_SCN_CRASH:
    case SIM_SCN_PARTITION:
    case SIM_SCN_DISK_FILL:
    case SIM_SCN_ROTATE:
    case SIM_SCN_CLOCK_STEP:
    case SIM_SCN_TLS_FAILURE:
    /* the same policy set on every shard's cloud at the same time: each
     * agent reads it from its own shard's, as from the one cloud */
    case SIM_SCN_POLICY:
      return NULL;
    case SIM_SCN_POWER_CUT:
      return e->switch_step == SIM_SCN_CUT_WRITES && !e->during_download
                 ? NULL
                 : "cuts power in the supervisor's update switch: updates are shared by the fleet";
    case SIM_SCN_CLONE:
    case SIM_SCN_SNAPSHOT:
    case SIM_SCN_RESTORE:
      return "agents interact through the cloud: a copy's identity and clone detection involve "
             "its source agent, which may be in another shard";
    case SIM_SCN_TAMPER:
    case SIM_SCN_PLANT:
    case SIM_SCN_FOREIGN:
    case SIM_SCN_REPLAY:
    case SIM_SCN_REVOKE:
      return "identity attacks are judged with the fleet's identity bookkeeping (attacks refused, "
             "drift, alerts by agent), not merged from shards yet";
    case SIM_SCN_CLOUD_LIE:
      return "a lying cloud hands one agent another agent's session (session_swap): agents "
             "interact through the cloud";
    case SIM_SCN_LOCAL_ATTACK:
      return "the local attacker's expectations (blocked opens, refusals, secrets) are not merged "
             "from shards yet";
    default:
      return "the update repository, its rings and promotion gates are shared by the fleet";
  }
}

const char *sim_shard_refusal(const sim_scenario *scn, char *buf, size_t cap) {
  const char *why = NULL, *what = NULL;
  for (int i = 0; i < scn->n_events && !why; i++) {
    why = event_refusal(&scn->events[i]);
    what = sim_scenario_event_name(scn->events[i].type);
    if (why) {
      snprintf(buf, cap, "scenario %s uses %s events (events[%d]): %s; run it unsharded", scn->name,
               what, i, why);
      return buf;
    }
  }
  if (scn->update_check_interval_s > 0 || scn->ring_pct[0] > 0 || scn->ring_pct[1] > 0)
    why = "serves updates: the repository, rings and promotion gates are shared by the fleet";
  /* Expectations that are not merged from shards (each needs its own rule:
   * only these are: exactly_once, max_spooled_at_end, shed_reported and
   * min_shed, max_requests_per_min, alerts, tls_reported, lost_lines,
   * window_under_faults, policy_applied, no_denied_open, metrics_reported,
   * max_records_per_s, no_secret_shipped; and
   * floor_held, a check of each agent during the run, which stops its
   * shard as it stops one run). */
  else if (scn->max_blocked_opens >= 0) what = "max_blocked_opens";
  else if (scn->refusals_reported) what = "refusals_reported";
  else if (scn->at_least_once) what = "at_least_once";
  else if (scn->clone_detect_within_s >= 0) what = "clone_detect_within_s";
  else if (scn->max_misattributed >= 0) what = "max_misattributed";
  else if (scn->attacks_refused) what = "attacks_refused";
  else if (scn->originals_untouched) what = "originals_untouched";
  else if (scn->min_drift_events >= 0) what = "min_drift_events";
  else if (scn->max_foreign_owned_state_files >= 0) what = "max_foreign_owned_state_files";
  else if (scn->planted_policy_refused) what = "planted_policy_refused";
  else if (scn->lies_refused) what = "lies_refused";
  else return NULL;
  if (why)
    snprintf(buf, cap, "scenario %s %s; run it unsharded", scn->name, why);
  else
    snprintf(buf, cap,
             "scenario %s expects %s, which is not merged from shards yet (docs/scale.md); run it "
             "unsharded",
             scn->name, what);
  return buf;
}

/* ---- writing a part -------------------------------------------------------- */

static void put_str(FILE *o, const char *s, size_t len) {
  fputc('"', o);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      fputc('\\', o);
      fputc(c, o);
    } else if (c < 0x20) {
      fprintf(o, "\\u%04x", c);
    } else {
      fputc(c, o);
    }
  }
  fputc('"', o);
}

int sim_shard_write_part(const char *path, const sim_shard_part *p, char *err, size_t err_cap) {
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *o = fopen(tmp, "w");
  if (!o) {
    snprintf(err, err_cap, "%s: cannot write: %s", tmp, strerror(errno));
    return SIM_SHARD_EIO;
  }
  const sim_summary *s = p->sum;
  char build[96];
  sim_shard_build_id(build, sizeof build);
  fprintf(o, "{\"format\": \"%s\",\n \"build\": \"%s\",\n \"shard\": [%d, %d],\n \"scenario\": ",
          SIM_SHARD_FORMAT, build, p->k, p->n);
  put_str(o, s->scenario, strlen(s->scenario));
  fprintf(o, ",\n \"scenario_digest\": \"%016" PRIx64 "\",\n \"seed\": \"%" PRIu64 "\",\n", p->scenario_digest,
          s->seed);
  fprintf(o,
          " \"agents\": %lld, \"duration_s\": %lld, \"drain_s\": %lld, \"simulated_ms\": %lld,"
          " \"has_update\": %d,\n",
          (long long)s->agents, (long long)s->duration_s, (long long)s->drain_s,
          (long long)s->simulated_ms, s->has_update);
  fprintf(o, " \"trace_full\": %d, \"scenario_path\": ", p->trace_full ? 1 : 0);
  put_str(o, p->scenario_path ? p->scenario_path : "", p->scenario_path ? strlen(p->scenario_path) : 0);
  fprintf(o, ",\n \"stopped\": %d, \"failure_t\": %lld, \"failure_agent\": %lld, \"failure\": ",
          p->stopped, (long long)p->failure_t, (long long)p->failure_agent);
  put_str(o, p->run_failure ? p->run_failure : "", p->run_failure ? strlen(p->run_failure) : 0);
  fprintf(o, ",\n \"counters\": {");
  for (int i = 0; i < SIM_C_N; i++)
    fprintf(o, "%s\"%s\": %lld", i ? ", " : "", sim_summary_counter_name(i), (long long)s->c[i]);
  fprintf(o, "},\n \"fleet_events\": %lld, \"fleet_chain\": \"%016" PRIx64 "\",\n \"chains\": [",
          (long long)p->fleet_events, p->fleet_chain);
  for (int64_t i = 0; i < p->n_chains; i++)
    fprintf(o, "%s[%lld, \"%016" PRIx64 "\", %lld]", i ? (i % 4 ? ", " : ",\n  ") : "",
            (long long)p->chain_idx[i], p->chain_hash[i], (long long)p->chain_events[i]);
  fprintf(o, "],\n \"rate_len\": %lld, \"rate\": [", (long long)s->rate_len);
  for (int64_t m = 0, k = 0; s->rate && m < s->rate_len; m++)
    if (s->rate[m]) fprintf(o, "%s[%lld, %lld]", k++ ? ", " : "", (long long)m, (long long)s->rate[m]);
  fprintf(o, "],\n \"timeline\": ");
  if (!p->tl) {
    fprintf(o, "null");
  } else {
    fprintf(o, "{\"interval_ms\": %lld, \"samples\": [", (long long)p->tl->interval_ms);
    for (int i = 0; i < p->tl->n; i++) {
      const sim_report_sample *x = &p->tl->s[i];
      fprintf(o, "%s[%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld]", i ? ",\n  " : "",
              (long long)x->t_ms, (long long)x->spooled, (long long)x->shed,
              (long long)x->produced, (long long)x->acked, (long long)x->cloud_records,
              (long long)x->alerts, (long long)x->restarts, (long long)x->crashes,
              (long long)x->power_cuts);
    }
    fprintf(o, "]}");
  }
  fprintf(o, ",\n \"expectations\": [");
  for (int i = 0; i < s->n_exp; i++) {
    const sim_summary_exp *e = &s->exp[i];
    fprintf(o, "%s\n  {\"name\": \"%s\", \"pass\": %s, \"agent\": %lld, \"v\": [%lld, %lld, %lld, %lld], \"detail\": ",
            i ? "," : "", e->name, e->pass ? "true" : "false", (long long)e->agent,
            (long long)e->v[0], (long long)e->v[1], (long long)e->v[2], (long long)e->v[3]);
    put_str(o, e->detail, strlen(e->detail));
    fputc('}', o);
  }
  fprintf(o, "],\n \"scenario_json\": ");
  put_str(o, p->scenario_text, p->scenario_len);
  fprintf(o, ",\n \"complete\": true}\n");
  int bad = ferror(o);
  if (fclose(o) != 0 || bad || rename(tmp, path) != 0) {
    snprintf(err, err_cap, "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return SIM_SHARD_EIO;
  }
  return SIM_SHARD_OK;
}

/* ---- reading parts ----------------------------------------------------------- */

typedef struct rpart {
  const char *dir;
  char *text; /* the file */
  cJSON *root;
  int k, n;
  uint64_t digest, seed, fleet_chain;
  int64_t agents, duration_s, drain_s, simulated_ms, has_update, stopped, failure_t, failure_agent,
      fleet_events, rate_len, trace_full;
  int64_t c[SIM_C_N];
  const char *scenario, *failure, *scenario_json, *scenario_path, *build;
  cJSON *chains, *rate, *timeline, *exps;
} rpart;

#define MAX_EXACT (INT64_C(1) << 53) /* integers a JSON number holds exactly */

static int bad(char *err, size_t cap, const rpart *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t cap, const rpart *p, const char *fmt, ...) {
  int o = snprintf(err, cap, "%s/shard.json: ", p->dir);
  if (o < 0 || (size_t)o >= cap) return SIM_SHARD_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + o, cap - (size_t)o, fmt, ap);
  va_end(ap);
  return SIM_SHARD_EINVAL;
}

static int num_of(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (d != d || d < (double)lo || d > (double)hi || d < -(double)MAX_EXACT || d > (double)MAX_EXACT)
    return -1;
  int64_t x = (int64_t)d;
  if ((double)x != d) return -1;
  *out = x;
  return 0;
}

static int get_num(const rpart *p, const cJSON *o, const char *key, int64_t lo, int64_t hi,
                   int64_t *out, char *err, size_t cap) {
  if (num_of(cJSON_GetObjectItemCaseSensitive(o, key), lo, hi, out) != 0)
    return bad(err, cap, p, "\"%s\" missing or not an integer in %lld..%lld", key, (long long)lo,
               (long long)hi);
  return 0;
}

static int get_str(const rpart *p, const cJSON *o, const char *key, const char **out, char *err,
                   size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v)) return bad(err, cap, p, "\"%s\" missing or not a string", key);
  *out = v->valuestring;
  return 0;
}

static int get_hex(const rpart *p, const cJSON *o, const char *key, uint64_t *out, char *err,
                   size_t cap) {
  const char *s = "";
  char *end = NULL;
  if (get_str(p, o, key, &s, err, cap)) return SIM_SHARD_EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 16);
  if (strlen(s) != 16 || errno || !end || *end) return bad(err, cap, p, "\"%s\": not 16 hex digits", key);
  *out = v;
  return 0;
}

static int read_file(const rpart *p, const char *path, char **out, size_t *len, char *err,
                     size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, cap, "%s: cannot read: %s (not a shard's output directory?)", path, strerror(errno));
    return SIM_SHARD_EIO;
  }
  char *buf = malloc((size_t)SIM_SHARD_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    snprintf(err, cap, "out of memory");
    return SIM_SHARD_ENOMEM;
  }
  size_t n = fread(buf, 1, (size_t)SIM_SHARD_MAX_FILE + 1, f);
  int rerr = ferror(f);
  fclose(f);
  if (rerr || n > (size_t)SIM_SHARD_MAX_FILE) {
    free(buf);
    return rerr ? (snprintf(err, cap, "%s: read error", path), SIM_SHARD_EIO)
                : bad(err, cap, p, "over %ld bytes", SIM_SHARD_MAX_FILE);
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}

static int read_part(rpart *p, char *err, size_t cap) {
  char path[1200];
  size_t len = 0;
  if (strlen(p->dir) > 1000) return bad(err, cap, p, "directory name too long");
  snprintf(path, sizeof path, "%s/shard.json", p->dir);
  int rc = read_file(p, path, &p->text, &len, err, cap);
  if (rc) return rc;
  p->root = cJSON_ParseWithLength(p->text, len);
  if (!p->root || !cJSON_IsObject(p->root)) {
    const char *at = cJSON_GetErrorPtr();
    long off = at && at >= p->text && at <= p->text + len ? (long)(at - p->text) : -1;
    return bad(err, cap, p, "not valid JSON (truncated or damaged; error near byte %ld of %zu)",
               off, len);
  }
  const cJSON *r = p->root;
  const char *fmt = "";
  if (get_str(p, r, "format", &fmt, err, cap)) return SIM_SHARD_EINVAL;
  if (strcmp(fmt, SIM_SHARD_FORMAT) != 0)
    return bad(err, cap, p, "format \"%.40s\", this outpost-sim reads \"%s\"", fmt, SIM_SHARD_FORMAT);
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "complete")))
    return bad(err, cap, p, "incomplete (no \"complete\": true at its end)");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(r, "shard");
  int64_t k, n;
  if (cJSON_GetArraySize(sh) != 2 || num_of(cJSON_GetArrayItem(sh, 1), 1, SIM_SHARD_MAX, &n) ||
      num_of(cJSON_GetArrayItem(sh, 0), 0, n - 1, &k))
    return bad(err, cap, p, "\"shard\": not [K, N] with 0 <= K < N <= %d", SIM_SHARD_MAX);
  p->k = (int)k;
  p->n = (int)n;
  const char *seed = "";
  char *end = NULL;
  if (get_str(p, r, "scenario", &p->scenario, err, cap) ||
      get_str(p, r, "build", &p->build, err, cap) ||
      get_str(p, r, "seed", &seed, err, cap) ||
      get_hex(p, r, "scenario_digest", &p->digest, err, cap) ||
      get_hex(p, r, "fleet_chain", &p->fleet_chain, err, cap) ||
      get_str(p, r, "failure", &p->failure, err, cap) ||
      get_str(p, r, "scenario_json", &p->scenario_json, err, cap) ||
      get_str(p, r, "scenario_path", &p->scenario_path, err, cap) ||
      get_num(p, r, "agents", 1, SIM_SCN_MAX_AGENTS, &p->agents, err, cap) ||
      get_num(p, r, "duration_s", 0, MAX_EXACT, &p->duration_s, err, cap) ||
      get_num(p, r, "drain_s", 0, MAX_EXACT, &p->drain_s, err, cap) ||
      get_num(p, r, "simulated_ms", 0, MAX_EXACT, &p->simulated_ms, err, cap) ||
      get_num(p, r, "has_update", 0, 1, &p->has_update, err, cap) ||
      get_num(p, r, "trace_full", 0, 1, &p->trace_full, err, cap) ||
      get_num(p, r, "stopped", 0, 1, &p->stopped, err, cap) ||
      get_num(p, r, "failure_t", -1, MAX_EXACT, &p->failure_t, err, cap) ||
      get_num(p, r, "failure_agent", -1, SIM_SCN_MAX_AGENTS, &p->failure_agent, err, cap) ||
      get_num(p, r, "fleet_events", 0, MAX_EXACT, &p->fleet_events, err, cap) ||
      get_num(p, r, "rate_len", 0, 100000000, &p->rate_len, err, cap))
    return SIM_SHARD_EINVAL;
  errno = 0;
  p->seed = strtoull(seed, &end, 10);
  if (!*seed || errno || !end || *end) return bad(err, cap, p, "\"seed\": not a decimal integer");
  const cJSON *cs = cJSON_GetObjectItemCaseSensitive(r, "counters");
  for (int i = 0; i < SIM_C_N; i++)
    if (get_num(p, cs, sim_summary_counter_name(i), 0, MAX_EXACT, &p->c[i], err, cap))
      return SIM_SHARD_EINVAL;
  p->chains = cJSON_GetObjectItemCaseSensitive(r, "chains");
  p->rate = cJSON_GetObjectItemCaseSensitive(r, "rate");
  p->timeline = cJSON_GetObjectItemCaseSensitive(r, "timeline");
  p->exps = cJSON_GetObjectItemCaseSensitive(r, "expectations");
  if (!cJSON_IsArray(p->chains) || !cJSON_IsArray(p->rate) || !cJSON_IsArray(p->exps) ||
      !(cJSON_IsNull(p->timeline) || cJSON_IsObject(p->timeline)))
    return bad(err, cap, p, "\"chains\", \"rate\", \"expectations\" or \"timeline\" missing or of the wrong type");
  if (cJSON_GetArraySize(p->exps) > SIM_SUMMARY_MAX_EXPECT)
    return bad(err, cap, p, "more than %d expectations", SIM_SUMMARY_MAX_EXPECT);
  return 0;
}

/* ---- the merge -------------------------------------------------------------- */

/* Agents of shard k of n in a fleet of agents. */
static int64_t shard_size(int64_t agents, int k, int n) {
  return agents > k ? (agents - k + n - 1) / n : 0;
}

/* The shards agree on what is the fleet's own, and are all of one run. */
static int check_set(rpart *ps, int np, char *err, size_t cap) {
  const rpart *a = &ps[0];
  for (int i = 1; i < np; i++)
    if (ps[i].n != a->n)
      return bad(err, cap, &ps[i], "shard %d/%d, but %s/shard.json is shard %d/%d: different shard counts",
                 ps[i].k, ps[i].n, a->dir, a->k, a->n);
  /* name a shard that is missing, then one given twice */
  unsigned char *have = calloc(a->n > 0 ? (size_t)a->n : 1, 1);
  if (!have) return snprintf(err, cap, "out of memory"), SIM_SHARD_ENOMEM;
  for (int i = 0; i < np; i++)
    if (have[ps[i].k] < 2) have[ps[i].k]++;
  int miss = -1, twice = -1;
  for (int k = 0; k < a->n; k++) {
    if (!have[k] && miss < 0) miss = k;
    if (have[k] > 1 && twice < 0) twice = k;
  }
  free(have);
  if (miss >= 0) {
    snprintf(err, cap, "shard %d/%d is missing: %d director%s given, the run has %d shards", miss,
             a->n, np, np == 1 ? "y" : "ies", a->n);
    return SIM_SHARD_EINVAL;
  }
  if (twice >= 0) {
    snprintf(err, cap, "shard %d/%d is given twice", twice, a->n);
    return SIM_SHARD_EINVAL;
  }
  char mine[96];
  sim_shard_build_id(mine, sizeof mine);
  for (int i = 0; i < np; i++) {
    const rpart *p = &ps[i];
    if (!p->scenario || !a->scenario) return bad(err, cap, p, "no \"scenario\"");
    if (strcmp(p->build, mine) != 0 && strcmp(p->build, "unknown") != 0 && strcmp(mine, "unknown") != 0)
      return bad(err, cap, p, "made by another build of outpost-sim (build id %.80s; this one is %s): "
                              "the shards and the merge must be one build", p->build, mine);
    if (p->digest != a->digest || strcmp(p->scenario, a->scenario) != 0)
      return bad(err, cap, p, "scenario %.100s (file digest %016" PRIx64 "), but %s/shard.json ran %.100s (%016" PRIx64 "): not one run",
                 p->scenario, p->digest, a->dir, a->scenario, a->digest);
    if (p->seed != a->seed)
      return bad(err, cap, p, "seed %" PRIu64 ", but %s/shard.json has seed %" PRIu64 ": not one run",
                 p->seed, a->dir, a->seed);
    if (p->agents != a->agents)
      return bad(err, cap, p, "%lld agents, but %s/shard.json has %lld: not one run",
                 (long long)p->agents, a->dir, (long long)a->agents);
    if (p->duration_s != a->duration_s || p->drain_s != a->drain_s || p->has_update != a->has_update ||
        p->rate_len != a->rate_len || p->trace_full != a->trace_full)
      return bad(err, cap, p, "its run's duration, drain, trace level or updates differ from %s/shard.json's",
                 a->dir);
    if (cJSON_GetArraySize(p->chains) != shard_size(p->agents, p->k, p->n))
      return bad(err, cap, p, "%d agents' hash chains, shard %d/%d of %lld agents has %lld",
                 cJSON_GetArraySize(p->chains), p->k, p->n, (long long)p->agents,
                 (long long)shard_size(p->agents, p->k, p->n));
  }
  return 0;
}

/* The trace hash: each agent's chain from its own shard, in agent order. */
static int merge_hash(rpart *ps, int np, uint64_t *out, char *err, size_t cap) {
  int64_t n = ps[0].agents;
  uint64_t *h = calloc((size_t)n, sizeof *h);
  int64_t *ev = calloc((size_t)n, sizeof *ev);
  if (!h || !ev) {
    free(h);
    free(ev);
    snprintf(err, cap, "out of memory");
    return SIM_SHARD_ENOMEM;
  }
  int rc = 0;
  for (int i = 0; i < np && !rc; i++) {
    const rpart *p = &ps[i];
    int64_t want = p->k;
    const cJSON *c;
    cJSON_ArrayForEach(c, p->chains) {
      int64_t idx = -1, e = 0;
      const cJSON *hx = cJSON_GetArrayItem(c, 1);
      char *end = NULL;
      if (cJSON_GetArraySize(c) != 3 || num_of(cJSON_GetArrayItem(c, 0), 0, n - 1, &idx) ||
          num_of(cJSON_GetArrayItem(c, 2), 0, MAX_EXACT, &e) || !cJSON_IsString(hx) ||
          strlen(hx->valuestring) != 16) {
        rc = bad(err, cap, p, "\"chains\": an entry is not [agent, \"16 hex digits\", events]");
        break;
      }
      if (idx != want) {
        rc = bad(err, cap, p, "\"chains\": agent %lld where agent %lld of shard %d/%d was due",
                 (long long)idx, (long long)want, p->k, p->n);
        break;
      }
      h[idx] = strtoull(hx->valuestring, &end, 16);
      if (!end || *end) {
        rc = bad(err, cap, p, "\"chains\": agent %lld: not 16 hex digits", (long long)idx);
        break;
      }
      ev[idx] = e;
      want += p->n;
    }
  }
  uint64_t x = SIM_TRACE_FNV_BASIS;
  for (int64_t i = 0; i < n; i++) x = sim_trace_hash_fold(x, i, h[i], ev[i]);
  *out = sim_trace_hash_fold(x, -1, ps[0].fleet_chain, ps[0].fleet_events);
  free(h);
  free(ev);
  return rc;
}

static int merge_rate(rpart *ps, int np, sim_summary *s, char *err, size_t cap) {
  s->rate_len = ps[0].rate_len;
  s->rate = calloc(s->rate_len > 0 ? (size_t)s->rate_len : 1, sizeof *s->rate);
  if (!s->rate) return snprintf(err, cap, "out of memory"), SIM_SHARD_ENOMEM;
  for (int i = 0; i < np; i++) {
    const cJSON *c;
    cJSON_ArrayForEach(c, ps[i].rate) {
      int64_t m, v;
      if (cJSON_GetArraySize(c) != 2 || num_of(cJSON_GetArrayItem(c, 0), 0, s->rate_len - 1, &m) ||
          num_of(cJSON_GetArrayItem(c, 1), 1, MAX_EXACT, &v))
        return bad(err, cap, &ps[i], "\"rate\": an entry is not [minute in 0..%lld, count]",
                   (long long)(s->rate_len - 1));
      s->rate[m] += v;
    }
  }
  sim_summary_rate_peak(s);
  return 0;
}

#define TL_FIELDS 10

/* Adds a shard's sample [t, ...9 counts] into x, at time t. */
static void add_sample(sim_report_sample *x, int64_t t, const int64_t v[TL_FIELDS]) {
  x->t_ms = t;
  x->spooled += v[1];
  x->shed += v[2];
  x->produced += v[3];
  x->acked += v[4];
  x->cloud_records += v[5];
  x->alerts += v[6];
  x->restarts += v[7];
  x->crashes += v[8];
  x->power_cuts += v[9];
}

/* Sums the shards' timelines sample by sample: their samples are at the
 * same simulated times. When a failure stopped the run (stop_ms; else
 * INT64_MAX) the shards stopped at their own failures, the earliest at
 * stop_ms: the samples before stop_ms are summed, and a last one at stop_ms
 * sums each shard's latest sample at or before it (a shard that ran on has
 * none at that instant: its latest is up to one interval older; the
 * counters after a failure are not the unsharded run's, docs/scale.md). */
static int merge_timeline(rpart *ps, int np, int64_t stop_ms, sim_report_timeline **out, char *err,
                          size_t cap) {
  *out = NULL;
  if (cJSON_IsNull(ps[0].timeline)) return 0;
  sim_report_timeline *tl = sim_report_timeline_new((ps[0].duration_s + ps[0].drain_s) * 1000);
  if (!tl) return snprintf(err, cap, "out of memory"), SIM_SHARD_ENOMEM;
  int n_before = -1, have_last = 0;
  for (int i = 0; i < np; i++) {
    const cJSON *smp = cJSON_GetObjectItemCaseSensitive(ps[i].timeline, "samples");
    int ns = cJSON_GetArraySize(smp);
    if (!cJSON_IsArray(smp) || ns > SIM_REPORT_MAX_SAMPLES + 1) {
      sim_report_timeline_free(tl);
      return bad(err, cap, &ps[i], "\"timeline\": %d samples, not an array of at most 721", ns);
    }
    int before = 0;
    int64_t last[TL_FIELDS] = {0};
    int got_last = 0;
    for (int j = 0; j < ns; j++) {
      const cJSON *row = cJSON_GetArrayItem(smp, j);
      int64_t v[TL_FIELDS];
      int ok = cJSON_GetArraySize(row) == TL_FIELDS;
      for (int f = 0; ok && f < TL_FIELDS; f++) ok = !num_of(cJSON_GetArrayItem(row, f), 0, MAX_EXACT, &v[f]);
      if (ok && v[0] < stop_ms && (before != j || (i > 0 && (j >= n_before || v[0] != tl->s[j].t_ms))))
        ok = 0; /* out of order, or not at the first shard's times */
      if (!ok) {
        sim_report_timeline_free(tl);
        return bad(err, cap, &ps[i], "\"timeline\": sample %d is not [t, ...%d counts] at the first shard's times",
                   j, TL_FIELDS - 1);
      }
      if (v[0] <= stop_ms && stop_ms != INT64_MAX) {
        memcpy(last, v, sizeof last);
        got_last = 1;
      }
      if (v[0] >= stop_ms) continue;
      before++;
      add_sample(&tl->s[j], v[0], v);
    }
    if (i > 0 && before != n_before) {
      sim_report_timeline_free(tl);
      return bad(err, cap, &ps[i], "\"timeline\": %d samples before %lld ms, not as many as the first shard's",
                 before, (long long)stop_ms);
    }
    n_before = before;
    if (got_last && before < SIM_REPORT_MAX_SAMPLES + 1) {
      add_sample(&tl->s[before], stop_ms, last);
      have_last = 1;
    }
  }
  tl->n = n_before + have_last;
  tl->next_ms = INT64_MAX;
  *out = tl;
  return 0;
}

typedef struct rexp {
  const char *name, *detail;
  int pass;
  int64_t agent, v[4];
} rexp;

static int get_exp(const rpart *p, int j, rexp *e, char *err, size_t cap) {
  const cJSON *o = cJSON_GetArrayItem(p->exps, j);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
  const cJSON *pass = cJSON_GetObjectItemCaseSensitive(o, "pass");
  if (get_str(p, o, "name", &e->name, err, cap) || get_str(p, o, "detail", &e->detail, err, cap) ||
      get_num(p, o, "agent", -1, SIM_SCN_MAX_AGENTS, &e->agent, err, cap))
    return SIM_SHARD_EINVAL;
  if (!cJSON_IsBool(pass) || cJSON_GetArraySize(v) != 4)
    return bad(err, cap, p, "expectations[%d]: \"pass\" or \"v\" missing", j);
  for (int i = 0; i < 4; i++)
    if (num_of(cJSON_GetArrayItem(v, i), -MAX_EXACT, MAX_EXACT, &e->v[i]))
      return bad(err, cap, p, "expectations[%d].v[%d]: not an integer", j, i);
  e->pass = cJSON_IsTrue(pass);
  return 0;
}

/* One expectation of the run from the shards' rows j (same name in each). */
static int merge_exp(rpart *ps, int np, int j, int alert_k, const sim_scenario *scn,
                     const sim_summary *s, sim_summary_exp *out, char *err, size_t cap) {
  rexp first, best, sbad;
  memset(&first, 0, sizeof first);
  best = sbad = first;
  int64_t sum[4] = {0, 0, 0, 0}, most[4] = {0, 0, 0, 0};
  int have_best = 0, have_bad = 0;
  for (int i = 0; i < np; i++) {
    rexp x;
    memset(&x, 0, sizeof x);
    if (get_exp(&ps[i], j, &x, err, cap)) return SIM_SHARD_EINVAL;
    if (i == 0) first = x;
    else if (strcmp(x.name, first.name) != 0)
      return bad(err, cap, &ps[i], "expectations[%d] is %.40s, %s/shard.json's is %.40s", j, x.name,
                 ps[0].dir, first.name);
    for (int v = 0; v < 4; v++) {
      sum[v] += x.v[v];
      if (x.v[v] > most[v]) most[v] = x.v[v];
    }
    /* the run checks agents in index order and names the first that fails */
    if (!x.pass && x.agent >= 0 && (!have_best || x.agent < best.agent)) best = x, have_best = 1;
    if (!x.pass && x.agent < 0 && !have_bad) sbad = x, have_bad = 1;
  }
  if (!first.name) return snprintf(err, cap, "no shards to merge"), SIM_SHARD_EINVAL;
  snprintf(out->name, sizeof out->name, "%s", first.name);
  out->agent = -1;
  out->pass = 1;
  out->detail[0] = 0;
  const char *nm = first.name;
  if (have_best) { /* an agent failed it: the run fails it on the first such agent */
    out->pass = 0;
    out->agent = best.agent;
    snprintf(out->detail, sizeof out->detail, "%s", best.detail ? best.detail : "");
    return 0;
  }
  /* no_secret_shipped: a store that could not be read, or records under no
   * agent's identity, stand as the shard said */
  if (strcmp(nm, "exactly_once") == 0 || strcmp(nm, "max_spooled_at_end") == 0 ||
      strcmp(nm, "no_secret_shipped") == 0) {
    if (have_bad) {
      out->pass = 0;
      snprintf(out->detail, sizeof out->detail, "%s", sbad.detail ? sbad.detail : "");
    }
  } else if (strcmp(nm, "shed_reported") == 0) {
    out->pass = sim_summary_verdict_min_shed(sum[0], scn->min_shed, out->detail, sizeof out->detail);
  } else if (strcmp(nm, "max_requests_per_min") == 0) {
    out->pass = sim_summary_verdict_rate(s->rate, s->rate_len, scn->rate_from_s,
                                         scn->max_requests_per_min, out->detail, sizeof out->detail);
  } else if (strcmp(nm, "alerts") == 0) {
    const sim_scn_alert_expect *a = &scn->alerts[alert_k];
    out->pass = sim_summary_verdict_alerts(a->kind, sum[0], a->min, a->max, out->detail,
                                           sizeof out->detail);
  } else if (strcmp(nm, "tls_reported") == 0) {
    out->pass = sim_summary_verdict_tls(sum[0], sum[1], out->detail, sizeof out->detail);
  } else if (strcmp(nm, "lost_lines") == 0 || strcmp(nm, "lost_middle_lines") == 0) {
    if (have_bad && sbad.v[3] == 0) { /* v[3] 0: a store that could not be read */
      out->pass = 0;
      snprintf(out->detail, sizeof out->detail, "%s", sbad.detail ? sbad.detail : "");
    } else {
      out->pass = sim_summary_verdict_lost(sum[0], sum[1], sum[2], scn->lost_min, scn->lost_max,
                                           scn->lost_middle_min, scn->lost_middle_max, out->detail,
                                           sizeof out->detail);
    }
  } else if (strcmp(nm, "window_under_faults") == 0) {
    int crash, cut, loss, outage;
    sim_scenario_fault_kinds(scn, &crash, &cut, &loss, &outage);
    out->pass = sim_summary_verdict_window(crash, cut, loss, outage, sum[0], sum[1], sum[2], sum[3],
                                           out->detail, sizeof out->detail);
  } else if (have_bad && (strcmp(nm, "policy_applied") == 0 || strcmp(nm, "no_denied_open") == 0 ||
                          strcmp(nm, "metrics_reported") == 0)) {
    out->pass = 0; /* they fail on an agent; a shard's other failure stands as it is */
    snprintf(out->detail, sizeof out->detail, "%s", sbad.detail ? sbad.detail : "");
  } else if (strcmp(nm, "policy_applied") == 0) {
    sim_summary_detail_policy(sum[0], s->agents, out->detail, sizeof out->detail);
  } else if (strcmp(nm, "no_denied_open") == 0) {
    sim_summary_detail_denied(sum[0], out->detail, sizeof out->detail);
  } else if (strcmp(nm, "metrics_reported") == 0) {
    sim_summary_detail_metrics(s->agents, out->detail, sizeof out->detail);
  } else if (strcmp(nm, "max_records_per_s") == 0) {
    out->pass = sim_summary_verdict_capped(sum[0], sum[1], scn->max_records_per_s, most[2],
                                           out->detail, sizeof out->detail);
  } else if (strcmp(nm, "exactly_once_store") == 0) {
    if (have_bad && sbad.v[3] == 0) { /* v[3] 0: a store that could not be read */
      out->pass = 0;
      snprintf(out->detail, sizeof out->detail, "%s", sbad.detail ? sbad.detail : "");
    } else {
      out->pass = sim_summary_verdict_store(sum[0], sum[1], sum[2], out->detail, sizeof out->detail);
    }
  } else {
    snprintf(err, cap, "expectation %.40s cannot be merged from shards (docs/scale.md)", nm);
    return SIM_SHARD_EINVAL;
  }
  return 0;
}

/* Writes DIR/trace.jsonl from the shards' traces (sim_trace_merge) and
 * names it in tpath; when a shard has no trace.jsonl, writes nothing and
 * tpath names none (report.html then has no story to tell). */
static int merge_traces(const rpart *ps, int np, const sim_summary *s, const char *dir, char *tpath,
                        size_t tcap, char *err, size_t cap) {
  tpath[0] = 0;
  char(*paths)[1100] = calloc((size_t)np, sizeof *paths);
  const char **in = calloc((size_t)np, sizeof *in);
  int rc = 0;
  if (!paths || !in) {
    rc = SIM_SHARD_ENOMEM;
    snprintf(err, cap, "out of memory");
    goto out;
  }
  for (int i = 0; i < np; i++) {
    int k = ps[i].k;
    snprintf(paths[k], sizeof paths[k], "%s/trace.jsonl", ps[i].dir);
    in[k] = paths[k];
    if (access(paths[k], F_OK) != 0) goto out; /* shard.json files alone */
  }
  const char *names[SIM_SUMMARY_MAX_EXPECT];
  int passes[SIM_SUMMARY_MAX_EXPECT];
  for (int i = 0; i < s->n_exp; i++) {
    names[i] = s->exp[i].name;
    passes[i] = s->exp[i].pass;
  }
  sim_trace_end te = {.agents = s->agents, .t = s->simulated_ms, .events = s->c[SIM_C_EVENTS],
                      .lines_written = s->c[SIM_C_LINES_WRITTEN],
                      .ledger_checks = s->c[SIM_C_LEDGER_CHECKS], .hash = s->trace_hash,
                      .n_exp = s->n_exp, .exp_name = names, .exp_pass = passes};
  snprintf(tpath, tcap, "%s/trace.jsonl", dir);
  char terr[600];
  int trc = sim_trace_merge(in, np, tpath, &te, terr, sizeof terr);
  if (trc != SIM_TRACE_OK) {
    snprintf(err, cap, "merging the traces: %s", terr);
    rc = trc == SIM_TRACE_EINVAL ? SIM_SHARD_EINVAL : trc == SIM_TRACE_ENOMEM ? SIM_SHARD_ENOMEM : SIM_SHARD_EIO;
  }
out:
  free(paths);
  free(in);
  return rc;
}

int sim_shard_merge(const char *const *dirs, int n_dirs, const char *out_dir, sim_run_result *res,
                    char *err, size_t err_cap) {
  memset(res, 0, sizeof *res);
  if (n_dirs < 1 || n_dirs > SIM_SHARD_MAX) {
    snprintf(err, err_cap, "merge takes 1..%d shard directories", SIM_SHARD_MAX);
    return SIM_RUN_ESETUP;
  }
  rpart *ps = calloc((size_t)n_dirs, sizeof *ps);
  sim_summary *s = calloc(1, sizeof *s);
  sim_scenario *scn = malloc(sizeof *scn);
  sim_report_timeline *tl = NULL;
  int ret = SIM_RUN_ESETUP;
  if (!ps || !s || !scn) {
    snprintf(err, err_cap, "out of memory");
    goto out;
  }
  for (int i = 0; i < n_dirs; i++) {
    ps[i].dir = dirs[i];
    if (read_part(&ps[i], err, err_cap)) goto out;
  }
  if (check_set(ps, n_dirs, err, err_cap)) goto out;
  /* the scenario as the shards ran it (scaled to their fleet, as sim_run does) */
  char serr[512];
  const rpart *a = &ps[0];
  if (sim_scenario_parse(a->scenario_json, strlen(a->scenario_json), scn, serr, sizeof serr) !=
          SIM_SCN_OK ||
      sim_shard_digest(a->scenario_json, strlen(a->scenario_json)) != a->digest) {
    snprintf(err, err_cap, "%s/shard.json: the embedded scenario does not load: %s", a->dir, serr);
    goto out;
  }
  if (a->agents != scn->agents && sim_scenario_scale(scn, a->agents) < 0) {
    snprintf(err, err_cap, "%s/shard.json: the scenario cannot be scaled to %lld agents", a->dir,
             (long long)a->agents);
    goto out;
  }
  /* A failure stopped a shard: the run stops at the first one in time (the
   * lower agent index first at the same time). What ran after it in other
   * shards is counted, so the counters are not the unsharded run's then;
   * the verdict and the failure are (docs/scale.md). */
  const rpart *stop = NULL;
  for (int i = 0; i < n_dirs; i++)
    if (ps[i].stopped && (!stop || ps[i].failure_t < stop->failure_t ||
                          (ps[i].failure_t == stop->failure_t && ps[i].failure_agent < stop->failure_agent)))
      stop = &ps[i];
  snprintf(s->scenario, sizeof s->scenario, "%s", a->scenario);
  s->seed = a->seed;
  s->agents = a->agents;
  s->duration_s = a->duration_s;
  s->drain_s = a->drain_s;
  s->simulated_ms = stop ? stop->simulated_ms : a->simulated_ms;
  s->has_update = (int)a->has_update;
  for (int c = 0; c < SIM_C_N; c++) {
    sim_merge_rule rule = sim_summary_merge_rule(c);
    for (int i = 0; i < n_dirs; i++) {
      int64_t v = ps[i].c[c];
      if (c == SIM_C_EVENTS) v -= ps[i].fleet_events; /* the fleet's own events once, below */
      if (rule == SIM_MERGE_SUM || c == SIM_C_EVENTS) s->c[c] += v;
      else if (rule == SIM_MERGE_MAX) s->c[c] = v > s->c[c] ? v : s->c[c];
      else if (i == 0) s->c[c] = v;
      else if (v != s->c[c] && !stop) {
        bad(err, err_cap, &ps[i], "%s %lld, %s/shard.json has %lld: the shards are not of one run",
            sim_summary_counter_name(c), (long long)v, a->dir, (long long)s->c[c]);
        goto out;
      }
    }
  }
  for (int i = 1; i < n_dirs && !stop; i++)
    if (ps[i].simulated_ms != a->simulated_ms || ps[i].fleet_events != a->fleet_events ||
        ps[i].fleet_chain != a->fleet_chain) {
      bad(err, err_cap, &ps[i], "its fleet events or end time differ from %s/shard.json's: not one run", a->dir);
      goto out;
    }
  s->c[SIM_C_EVENTS] += a->fleet_events;
  if (merge_hash(ps, n_dirs, &s->trace_hash, err, err_cap) ||
      merge_rate(ps, n_dirs, s, err, err_cap) || merge_timeline(ps, n_dirs, stop ? stop->simulated_ms : INT64_MAX, &tl, err, err_cap))
    goto out;
  /* expectations: in the order the run lists them */
  if (stop) {
    sim_summary_exp *e = &s->exp[s->n_exp++];
    snprintf(e->name, sizeof e->name, "ledger");
    e->pass = 0;
    e->agent = stop->failure_agent;
    snprintf(e->detail, sizeof e->detail, "%s", stop->failure);
    snprintf(s->failure, sizeof s->failure, "%s", stop->failure);
  } else {
    int n_exp = cJSON_GetArraySize(a->exps), alert_k = 0;
    for (int i = 1; i < n_dirs; i++)
      if (cJSON_GetArraySize(ps[i].exps) != n_exp) {
        bad(err, err_cap, &ps[i], "%d expectations, %s/shard.json has %d", cJSON_GetArraySize(ps[i].exps),
            a->dir, n_exp);
        goto out;
      }
    for (int j = 0; j < n_exp; j++) {
      sim_summary_exp *e = &s->exp[s->n_exp];
      rexp x;
      if (get_exp(a, j, &x, err, err_cap)) goto out;
      if (strcmp(x.name, "ledger") == 0) { /* no shard stopped: it held */
        snprintf(e->name, sizeof e->name, "ledger");
        e->pass = 1;
        e->agent = -1;
        e->detail[0] = 0;
      } else if (merge_exp(ps, n_dirs, j, alert_k, scn, s, e, err, err_cap)) {
        goto out;
      }
      if (strcmp(x.name, "alerts") == 0 && ++alert_k > scn->n_alerts) {
        snprintf(err, err_cap, "%s/shard.json: more alerts expectations than the scenario has", a->dir);
        goto out;
      }
      s->n_exp++;
      if (!e->pass && !s->failure[0])
        snprintf(s->failure, sizeof s->failure, "%s: %s", e->name, e->detail);
    }
  }
  char dir[1024], path[1100], tpath[1100];
  if (strlen(out_dir) >= sizeof dir - 20) {
    snprintf(err, err_cap, "--out: directory name too long");
    goto out;
  }
  snprintf(dir, sizeof dir, "%s", out_dir);
  if (sim_mkdir_p(dir) != 0) {
    snprintf(err, err_cap, "%s: cannot create: %s", dir, strerror(errno));
    goto out;
  }
  snprintf(path, sizeof path, "%s/report.json", dir);
  if (sim_summary_write_json(path, s) != SIM_SUMMARY_OK) {
    snprintf(err, err_cap, "%s: cannot write the report", path);
    goto out;
  }
  /* trace.jsonl: the shards' merged when every shard brought its own (a
   * merge of shard.json files alone has none); report.html tells a
   * failure's story from it. */
  if (merge_traces(ps, n_dirs, s, dir, tpath, sizeof tpath, err, err_cap)) goto out;
  sim_report_expect rx[SIM_SUMMARY_MAX_EXPECT];
  for (int i = 0; i < s->n_exp; i++)
    rx[i] = (sim_report_expect){.name = s->exp[i].name, .pass = s->exp[i].pass,
                                .detail = s->exp[i].detail};
  sim_report_input ri = {.scn = scn, .scenario_path = a->scenario_path[0] ? a->scenario_path : NULL,
                         .out_dir = out_dir, .seed = s->seed, .agents = s->agents,
                         .sim_ms = s->simulated_ms, .lines_written = s->c[SIM_C_LINES_WRITTEN],
                         .records_acked = s->c[SIM_C_RECORDS_ACKED],
                         .cloud_records = s->c[SIM_C_CLOUD_RECORDS], .requests = s->c[SIM_C_REQUESTS],
                         .events = s->c[SIM_C_EVENTS], .trace_hash = s->trace_hash, .tl = tl,
                         .rate = s->rate, .rate_len = s->rate_len, .rate_peak = s->rate_peak,
                         .rate_peak_min = s->rate_peak_min, .exp = rx, .n_exp = s->n_exp,
                         .failure = s->failure, .trace_path = tpath[0] ? tpath : NULL,
                         .trace_full = (int)a->trace_full};
  snprintf(path, sizeof path, "%s/report.html", dir);
  char rerr[600];
  if (sim_report_write_html(path, &ri, rerr, sizeof rerr) != SIM_REPORT_OK) {
    snprintf(err, err_cap, "%s", rerr);
    goto out;
  }
  res->agents = s->agents;
  res->sim_ms = s->simulated_ms;
  res->events = s->c[SIM_C_EVENTS];
  res->lines_written = s->c[SIM_C_LINES_WRITTEN];
  res->records_acked = s->c[SIM_C_RECORDS_ACKED];
  res->cloud_records = s->c[SIM_C_CLOUD_RECORDS];
  res->requests = s->c[SIM_C_REQUESTS];
  res->ledger_checks = s->c[SIM_C_LEDGER_CHECKS];
  res->trace_hash = s->trace_hash;
  for (int i = 0; i < s->n_exp; i++) {
    res->expectations++;
    res->expectations_failed += !s->exp[i].pass;
  }
  snprintf(res->failure, sizeof res->failure, "%s", s->failure);
  ret = res->expectations_failed ? SIM_RUN_EFAILED : SIM_RUN_OK;
out:
  for (int i = 0; ps && i < n_dirs; i++) {
    cJSON_Delete(ps[i].root);
    free(ps[i].text);
  }
  free(ps);
  sim_report_timeline_free(tl);
  if (s) sim_summary_free(s);
  free(s);
  free(scn);
  return ret;
}

int sim_shard_merge_main(int argc, char **argv) {
  const char *out = NULL;
  const char **dirs = calloc((size_t)argc, sizeof *dirs);
  int nd = 0;
  if (!dirs) return 2;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--out") == 0) {
      if (i + 1 >= argc || !*argv[i + 1] || out) {
        nd = -1;
        break;
      }
      out = argv[++i];
    } else if (argv[i][0] == '-' || !*argv[i]) {
      nd = -1;
      break;
    } else {
      dirs[nd++] = argv[i];
    }
  }
  if (nd <= 0 || !out) {
    fprintf(stderr, "usage: outpost-sim merge SHARD_DIR... --out DIR\n");
    free(dirs);
    return 2;
  }
  sim_run_result res;
  char err[1024];
  int rc = sim_shard_merge(dirs, nd, out, &res, err, sizeof err);
  free(dirs);
  if (rc == SIM_RUN_ESETUP) {
    fprintf(stderr, "outpost-sim merge: %s\n", err);
    return 2;
  }
  printf("merged %d shards: %lld agents, %.1f simulated hours\n", nd, (long long)res.agents,
         (double)res.sim_ms / 3600000.0);
  printf("events %lld, lines written %lld, records acked %lld, cloud records %lld, requests %lld\n",
         (long long)res.events, (long long)res.lines_written, (long long)res.records_acked,
         (long long)res.cloud_records, (long long)res.requests);
  printf("ledger checks %lld, expectations %d/%d held, trace hash %016" PRIx64 "\n",
         (long long)res.ledger_checks, res.expectations - res.expectations_failed, res.expectations,
         res.trace_hash);
  if (rc != SIM_RUN_OK) {
    printf("FAILED: %s\n", res.failure);
    return 1;
  }
  printf("OK\n");
  return 0;
}
