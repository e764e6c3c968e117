#include "sim_replay.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void sim_replay_format_time(int64_t t_ms, char *out, size_t cap) {
  const char *sign = t_ms < 0 ? "-" : "";
  uint64_t a = t_ms < 0 ? (uint64_t)0 - (uint64_t)t_ms : (uint64_t)t_ms;
  snprintf(out, cap, "%s%" PRIu64 ":%02u:%02u.%03u", sign, a / 3600000, (unsigned)(a / 60000 % 60),
           (unsigned)(a / 1000 % 60), (unsigned)(a % 1000));
}

/* ---- one story line ----------------------------------------------------- */

/* A bounded text builder: appends are cut at the cap (ending in "...") so a
 * hostile or huge line never overflows. */
typedef struct tbuf {
  char s[SIM_REPLAY_TEXT_MAX];
  size_t n;
  int cut;
} tbuf;

static void tb_add(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_add(tbuf *b, const char *fmt, ...) {
  if (b->cut) return;
  va_list ap;
  va_start(ap, fmt);
  size_t room = sizeof b->s - b->n;
  int w = vsnprintf(b->s + b->n, room, fmt, ap);
  va_end(ap);
  if (w < 0) return;
  if ((size_t)w >= room) {
    b->n = sizeof b->s - 1;
    memcpy(b->s + sizeof b->s - 4, "...", 4);
    b->cut = 1;
  } else {
    b->n += (size_t)w;
  }
}

/* Control characters from an agent's log would garble a terminal: shown as
 * '?' (the text is otherwise the agent's own). */
static void tb_text(tbuf *b, const char *s) {
  char chunk[256];
  size_t k = 0;
  for (; *s && !b->cut; s++) {
    unsigned char c = (unsigned char)*s;
    chunk[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    if (k == sizeof chunk - 1) {
      chunk[k] = 0;
      tb_add(b, "%s", chunk);
      k = 0;
    }
  }
  chunk[k] = 0;
  if (k) tb_add(b, "%s", chunk);
}

/* key=value for every member but the ones the caller already said. */
static void tb_rest(tbuf *b, const cJSON *o) {
  for (const cJSON *c = o->child; c && !b->cut; c = c->next) {
    const char *k = c->string ? c->string : "?";
    if (!strcmp(k, "t") || !strcmp(k, "type") || !strcmp(k, "agent") || !strcmp(k, "fault"))
      continue;
    tb_add(b, " ");
    tb_text(b, k);
    tb_add(b, "=");
    if (cJSON_IsString(c)) {
      tb_text(b, c->valuestring);
    } else if (cJSON_IsNumber(c)) {
      double v = c->valuedouble;
      if (v == floor(v) && fabs(v) < 9e15) tb_add(b, "%lld", (long long)v);
      else tb_add(b, "%g", v);
    } else if (cJSON_IsBool(c)) {
      tb_add(b, "%s", cJSON_IsTrue(c) ? "true" : "false");
    } else if (cJSON_IsArray(c)) {
      int n = cJSON_GetArraySize(c);
      tb_add(b, "[");
      int i = 0;
      for (const cJSON *e = c->child; e && i < 8; e = e->next, i++)
        tb_add(b, "%s%g", i ? "," : "", cJSON_IsNumber(e) ? e->valuedouble : 0.0);
      tb_add(b, "%s]", n > 8 ? ",..." : "");
    } else {
      tb_add(b, "...");
    }
  }
}

static int64_t num_or(const cJSON *o, const char *k, int64_t dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

static const char *str_or(const cJSON *o, const char *k, const char *dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* Routine events, folded into one count line between the interesting ones:
 * an agent steps every poll interval, so a day holds tens of thousands. */
enum { R_STEP, R_LOG, R_DELIVER, R_COMPLETE, R_OTHER, R_N };
static const char *const routine_words[R_N][2] = {
    {"step", "steps"},
    {"line written by the application", "lines written by the application"},
    {"request delivered to the cloud", "requests delivered to the cloud"},
    {"reply back", "replies back"},
    {"other event", "other events"}};

typedef struct stream_state {
  const sim_replay_options *o;
  sim_replay_emit emit;
  void *user;
  sim_replay_stats *st;
  int64_t routine[R_N];
  int64_t routine_from, routine_to;
  int stop;
} stream_state;

static void say(stream_state *s, int64_t t, const char *text) {
  if (!s->stop && s->emit(s->user, t, text)) s->stop = 1;
}

static void flush_routine(stream_state *s) {
  int64_t total = 0;
  for (int i = 0; i < R_N; i++) total += s->routine[i];
  if (!total) return;
  tbuf b = {.n = 0};
  char z[32];
  sim_replay_format_time(s->routine_to, z, sizeof z);
  tb_add(&b, "...");
  for (int i = 0, k = 0; i < R_N; i++)
    if (s->routine[i]) tb_add(&b, "%s %lld %s", k++ ? "," : "", (long long)s->routine[i],
             routine_words[i][s->routine[i] != 1]);
  tb_add(&b, " (until %s)", z);
  say(s, s->routine_from, b.s);
  memset(s->routine, 0, sizeof s->routine);
}

static int routine_kind(const char *ev) {
  if (!strcmp(ev, "step")) return R_STEP;
  if (!strcmp(ev, "log")) return R_LOG;
  if (!strcmp(ev, "net_deliver")) return R_DELIVER;
  if (!strcmp(ev, "net_complete")) return R_COMPLETE;
  return R_OTHER;
}

static const char *const level_names[] = {"debug", "info", "WARN", "ERROR"};

/* Does the JSON array hold the number a? Returns 1/0; *n gets its length. */
static int array_has(const cJSON *arr, int32_t a, int64_t *n) {
  int found = 0;
  *n = 0;
  for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next) {
    (*n)++;
    if (cJSON_IsNumber(e) && (int64_t)e->valuedouble == a) found = 1;
  }
  return found;
}

/* One parsed line: story text or nothing. Returns 0, or -1 with why set. */
static int one_line(stream_state *s, const cJSON *o, int64_t t, const char **why) {
  const int32_t me = s->o->agent;
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "ev");
  const cJSON *agent = cJSON_GetObjectItemCaseSensitive(o, "agent");
  int is_me = cJSON_IsNumber(agent) && (int64_t)agent->valuedouble == me;
  tbuf b = {.n = 0};
  if (ev) {
    if (!cJSON_IsString(ev) || !cJSON_IsNumber(agent)) {
      *why = "an event line needs \"ev\" (a string) and \"agent\" (a number)";
      return -1;
    }
    s->st->full = 1;
    if (!is_me) return 0;
    s->st->matched++;
    if (!s->o->all) {
      int64_t total = 0;
      for (int i = 0; i < R_N; i++) total += s->routine[i];
      if (!total) s->routine_from = t;
      s->routine_to = t;
      s->routine[routine_kind(ev->valuestring)]++;
      return 0;
    }
    tb_add(&b, "event ");
    tb_text(&b, ev->valuestring);
    tb_add(&b, " (result %lld)", (long long)num_or(o, "result", 0));
    say(s, t, b.s);
    return 0;
  }
  const char *type = str_or(o, "type", NULL);
  if (!type) {
    *why = "neither \"ev\" nor \"type\" (a string)";
    return -1;
  }
  if (!strcmp(type, "start")) {
    s->st->agents = num_or(o, "agents", -1);
    s->st->seed = (uint64_t)num_or(o, "seed", 0);
    snprintf(s->st->scenario, sizeof s->st->scenario, "%s", str_or(o, "scenario", "?"));
    tb_add(&b, "run of scenario ");
    tb_text(&b, s->st->scenario);
    tb_add(&b, ", seed %" PRIu64 ", %lld agents, %lld s then %lld s of drain", s->st->seed,
           (long long)s->st->agents, (long long)num_or(o, "duration_s", 0),
           (long long)num_or(o, "drain_s", 0));
  } else if (!strcmp(type, "hour") || !strcmp(type, "end")) {
    if (!s->o->all) return 0;
    tb_add(&b, "fleet: %s", type);
    tb_rest(&b, o);
  } else if (!strcmp(type, "expect")) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pass");
    tb_add(&b, "expectation ");
    tb_text(&b, str_or(o, "name", "?"));
    tb_add(&b, ": %s", cJSON_IsTrue(p) ? "held" : "FAILED");
  } else if (!strcmp(type, "drain_start")) {
    tb_add(&b, "fleet: the scenario's time is up, no new lines; %lld s of drain",
           (long long)num_or(o, "drain_s", 0));
  } else if (!strcmp(type, "fault") || !strcmp(type, "fault_end")) {
    const char *kind = str_or(o, "fault", "?");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "agents");
    if (cJSON_IsArray(arr)) {
      int64_t n = 0;
      if (!array_has(arr, me, &n)) return 0;
      s->st->matched++;
      tb_add(&b, "FAULT ");
      tb_text(&b, kind);
      tb_add(&b, " hits this agent");
      if (n > 1) tb_add(&b, " (and %lld others)", (long long)(n - 1));
    } else if (is_me) {
      s->st->matched++;
      tb_add(&b, "FAULT ");
      tb_text(&b, kind);
      tb_rest(&b, o);
    } else {
      tb_add(&b, "fleet: %s ", strcmp(type, "fault") ? "end of" : "fault");
      tb_text(&b, kind);
      tb_rest(&b, o);
    }
  } else if (!strcmp(type, "clone") && num_or(o, "from", -1) == me) {
    s->st->matched++;
    tb_add(&b, "its disk is copied into agent %lld (fingerprint ", (long long)num_or(o, "agent", -1));
    tb_text(&b, str_or(o, "fingerprint", "?"));
    tb_add(&b, ")");
  } else if (is_me) {
    s->st->matched++;
    if (!strcmp(type, "agent_log")) {
      int64_t lv = num_or(o, "level", 1);
      tb_add(&b, "log %s: ", lv >= 0 && lv <= 3 ? level_names[lv] : "?");
      tb_text(&b, str_or(o, "msg", ""));
    } else if (!strcmp(type, "install")) {
      tb_add(&b, "INSTALL version ");
      tb_text(&b, str_or(o, "version", "?"));
      tb_add(&b, " (ring ");
      tb_text(&b, str_or(o, "ring", "?"));
      tb_add(&b, ")");
    } else if (!strcmp(type, "rollback")) {
      tb_add(&b, "ROLLBACK from ");
      tb_text(&b, str_or(o, "version", "?"));
      tb_add(&b, " to ");
      tb_text(&b, str_or(o, "to", "?"));
      tb_add(&b, ": ");
      tb_text(&b, str_or(o, "why", ""));
    } else if (!strcmp(type, "clone")) {
      tb_add(&b, "created as a copy of agent %lld's disk (fingerprint ",
             (long long)num_or(o, "from", -1));
      tb_text(&b, str_or(o, "fingerprint", "?"));
      tb_add(&b, ")");
    } else {
      tb_text(&b, type);
      tb_rest(&b, o);
    }
  } else {
    return 0;
  }
  flush_routine(s);
  say(s, t, b.s);
  return 0;
}

int sim_replay_stream(FILE *in, const char *name, const sim_replay_options *o,
                      sim_replay_emit emit, void *user, sim_replay_stats *st, char *err,
                      size_t err_cap) {
  sim_replay_stats local;
  if (!st) st = &local;
  memset(st, 0, sizeof *st);
  st->agents = -1;
  if (err && err_cap) err[0] = 0;
  const size_t cap = SIM_REPLAY_MAX_LINE + 2; /* the line, its newline, the NUL */
  char *buf = malloc(cap);
  if (!buf) {
    snprintf(err, err_cap, "out of memory");
    return SIM_REPLAY_ENOMEM;
  }
  stream_state s = {.o = o, .emit = emit, .user = user, .st = st};
  int rc = SIM_REPLAY_OK;
  /* Bounded by the file: one iteration per line read. */
  while (!s.stop && fgets(buf, (int)cap, in)) {
    st->lines++;
    size_t len = strlen(buf);
    int nl = len > 0 && buf[len - 1] == '\n';
    if (!nl && len == cap - 1) {
      snprintf(err, err_cap, "%s: line %lld: longer than %d bytes", name, (long long)st->lines,
               SIM_REPLAY_MAX_LINE);
      rc = SIM_REPLAY_EFORMAT;
      break;
    }
    if (!nl && !feof(in)) { /* fgets read past a NUL byte: strlen stopped there */
      snprintf(err, err_cap, "%s: line %lld: holds a NUL byte", name, (long long)st->lines);
      rc = SIM_REPLAY_EFORMAT;
      break;
    }
    if (nl) buf[--len] = 0;
    if (len == 0) continue; /* a trailing blank line is harmless */
    cJSON *obj = cJSON_ParseWithLength(buf, len);
    const char *why = NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "t");
    if (!obj) why = "not JSON";
    else if (!cJSON_IsObject(obj)) why = "not a JSON object";
    else if (!cJSON_IsNumber(t) || !isfinite(t->valuedouble)) why = "no numeric time \"t\"";
    int64_t tm = why ? 0 : (int64_t)t->valuedouble;
    if (!why && tm > o->to_ms) {
      cJSON_Delete(obj);
      break; /* traces are in time order: nothing later is wanted */
    }
    /* The start line is read whatever the window: it names the run. */
    if (!why && (tm >= o->from_ms || !strcmp(str_or(obj, "type", ""), "start")))
      one_line(&s, obj, tm, &why);
    cJSON_Delete(obj);
    if (why) {
      snprintf(err, err_cap, "%s: line %lld: %s", name, (long long)st->lines, why);
      rc = SIM_REPLAY_EFORMAT;
      break;
    }
  }
  if (rc == SIM_REPLAY_OK && ferror(in)) {
    snprintf(err, err_cap, "%s: read error after line %lld: %s", name, (long long)st->lines,
             strerror(errno));
    rc = SIM_REPLAY_EIO;
  }
  if (rc == SIM_REPLAY_OK) flush_routine(&s);
  free(buf);
  return rc;
}

/* ---- the command -------------------------------------------------------- */

static int replay_usage(void) {
  fprintf(stderr,
          "usage: outpost-sim replay TRACE.jsonl --agent ID [--from T] [--to T] [--all]\n"
          "  T: simulated time, seconds or with a unit: 1500ms, 90s, 15m, 2h\n");
  return 2;
}

/* A time like "90", "90s", "1500ms", "15m", "2h" into ms; -1 on error. */
static int parse_time(const char *s, int64_t *out) {
  if (!s || !*s || *s == '-') return -1;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v < 0) return -1;
  double mul = 1000;
  if (!strcmp(end, "ms")) mul = 1;
  else if (!strcmp(end, "m")) mul = 60000;
  else if (!strcmp(end, "h")) mul = 3600000;
  else if (*end && strcmp(end, "s") != 0) return -1;
  if (v * mul > 9e15) return -1;
  *out = (int64_t)(v * mul);
  return 0;
}

static int print_line(void *user, int64_t t, const char *text) {
  char ts[32];
  sim_replay_format_time(t, ts, sizeof ts);
  printf("%12s  %s\n", ts, text);
  return 0;
}

int sim_replay_main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') return replay_usage();
  const char *file = argv[1];
  sim_replay_options o = {.agent = -1, .from_ms = 0, .to_ms = INT64_MAX};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--all")) {
      o.all = 1;
      continue;
    }
    if (!v) return replay_usage();
    i++;
    if (!strcmp(a, "--agent")) {
      char *end = NULL;
      errno = 0;
      long n = strtol(v, &end, 10);
      if (errno || end == v || *end || n < 0 || n > INT32_MAX) return replay_usage();
      o.agent = (int32_t)n;
    } else if (!strcmp(a, "--from")) {
      if (parse_time(v, &o.from_ms)) return replay_usage();
    } else if (!strcmp(a, "--to")) {
      if (parse_time(v, &o.to_ms)) return replay_usage();
    } else {
      return replay_usage();
    }
  }
  if (o.agent < 0) return replay_usage();
  FILE *in = fopen(file, "r");
  if (!in) {
    fprintf(stderr, "outpost-sim replay: %s: %s\n", file, strerror(errno));
    return 2;
  }
  char err[512];
  sim_replay_stats st;
  printf("agent %d, from %s\n", (int)o.agent, file);
  int rc = sim_replay_stream(in, file, &o, print_line, NULL, &st, err, sizeof err);
  fclose(in);
  if (rc != SIM_REPLAY_OK) {
    fprintf(stderr, "outpost-sim replay: %s\n", err);
    return 2;
  }
  if (!st.full)
    printf("(a summary trace: it holds faults, installs and results but not the agent's events "
           "or log lines; rerun with --trace full for those)\n");
  if (st.matched == 0) {
    fprintf(stderr, "outpost-sim replay: %s: nothing about agent %d in %lld lines%s\n", file,
            (int)o.agent, (long long)st.lines,
            st.agents >= 0 && o.agent >= st.agents ? " (the run's fleet is smaller)" : "");
    return 1;
  }
  return 0;
}
