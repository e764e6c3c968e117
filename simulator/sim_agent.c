/* sim_agent.c - one simulated host: its disk, OS and network shims, its
 * agent's lifecycle (open, restart, power cuts and reboots), the agents'
 * configuration, and the small helpers every file of the run uses (sim_int.h).
 * The bottom of the run: it calls no other file of it. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/update.h"
#include "sim_int.h"

#define SIM_RNG_LOGGEN_BASE UINT64_C(2000000)
#define SIM_RNG_IDENT_BASE UINT64_C(3000000)
#define SIM_RNG_HW_BASE UINT64_C(4000000)

/* ---- small helpers ------------------------------------------------------ */

void sim__json_escape(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s && o + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = 0;
}

void sim__set_failure(fleet *f, const char *fmt, ...) {
  if (f->failure[0]) return;
  f->failure_t = f->now;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->failure, sizeof f->failure, fmt, ap);
  va_end(ap);
}

expectation *sim__add_expect(fleet *f, const char *name) {
  if (f->n_exp >= MAX_EXPECT) return NULL;
  expectation *e = &f->exp[f->n_exp++];
  e->name = name;
  e->pass = 1;
  e->detail[0] = 0;
  memset(e->v, 0, sizeof e->v);
  return e;
}

int sim__push(fleet *f, int type, int32_t who, int64_t at, uint64_t arg) {
  sim_event ev = {.time_ms = at, .type = type, .agent = who, .arg = arg};
  int rc = sim_queue_push(f->q, &ev);
  if (rc != SIM_QUEUE_OK) {
    sim__set_failure(f, "event queue full (%zu events): the run is unbounded",
                sim_queue_capacity(f->q));
    f->stop = 1;
  }
  return rc;
}

void sim__schedule_step(fleet *f, sim_agent *g, int64_t at) {
  if (at < f->now) at = f->now;
  if (g->step_pending && g->step_at == at) return;
  g->step_at = at;
  g->step_pending = 1;
  g->step_gen++;
  sim__push(f, EV_STEP, g->idx, at, g->step_gen);
}

/* ---- environment for the cloud and the agents --------------------------- */

int64_t sim__cloud_wall(void *ctx) { return SIM_WALL_EPOCH_MS + ((fleet *)ctx)->now; }

/* The cloud's randomness (session ids and keys, agent ids, challenges) for
 * a request comes from the stream of the agent that sent it, so an agent's
 * ids do not depend on which other agents' requests came first (a shard
 * draws them exactly as the whole fleet's run does, issue #15). */
int sim__cloud_random(void *ctx, unsigned char *buf, size_t len) {
  fleet *f = ctx;
  sim_rng *r = f->cloud_who >= 0 && f->cloud_who < f->n_cap && f->ag ? &f->ag[f->cloud_who].cloud_rng
                                                                      : &f->cloud_rng;
  sim_rng_fill(r, buf, len);
  return 0;
}

static int64_t fs_clock(void *ctx) { return SIM_WALL_EPOCH_MS + ((fleet *)ctx)->now; }

/* Full traces carry the agents' own log lines (debug trace level). */
static void trace_log_sink(void *user, os_log_level level, const char *msg) {
  log_ctx *c = user;
  char esc[1200];
  sim__json_escape(msg, esc, sizeof esc);
  sim_trace_line(c->f->trace, "{\"t\":%lld,\"type\":\"agent_log\",\"agent\":%d,\"level\":%d,\"msg\":\"%s\"}",
                 (long long)c->f->now, (int)c->g->idx, (int)level, esc);
}

int64_t sim__spool_db_bytes(sim_agent *g) {
  os_stat st;
  int64_t n = 0;
  if (sim_fs_stat(g->fs, STATE_DIR "/" UPDATE_DOWNLOAD_FILE, &st) == OS_OK) n += st.size;
  if (sim_fs_stat(g->fs, STATE_DIR "/spool.db", &st) == OS_OK) n += st.size;
  return n;
}

/* The disk went back to what was synced (a power cut, a crash): a shrink
 * that was not yet durable is undone, so the spool may be larger now than
 * at the last check without the agent having written a byte (RES-3,
 * docs/scenarios.md "Open questions", now closed). expect.floor_held starts
 * again from what the rebooted disk holds, and the agent, a new process,
 * gets the grace period again to give its records back. */
static void floor_rebase(sim_agent *g) {
  g->floor_prev_db = sim__spool_db_bytes(g);
  g->under_floor_since = -1;
}

void sim__power_cut_done(fleet *f, sim_agent *g) {
  floor_rebase(g);
  g->cut = 0;
  sim_fs_set_frozen(g->fs, 0); /* rebooted (sim__on_power_cut froze it) */
  g->power_cuts++;
  sim_net_set_partition(f->net, g->idx, g->partitions > 0);
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"power_cut\",\"agent\":%d}", (long long)f->now,
                 (int)g->idx);
}

/* Closes an agent whose disk was cut from under it: its clean-up must not
 * touch the "rebooted" disk. */
void sim__close_dead(sim_agent *g) {
  sim_fs_set_frozen(g->fs, 1);
  agent_close(g->a);
  sim_fs_set_frozen(g->fs, 0);
  g->a = NULL;
}

int sim__open_agent(fleet *f, sim_agent *g) {
  char err[256] = "";
  int rc = AGENT_OK;
  /* A power cut can fire during start-up itself; it fires once, so the
   * second attempt runs on the rebooted disk undisturbed. */
  for (int attempt = 0; attempt < 2; attempt++) {
    g->attack_mute--;
    rc = agent_open(&f->cfg, &g->osh, &g->neth, &g->a, err, sizeof err);
    g->attack_mute++;
    if (rc == AGENT_OK) agent_set_zctx(g->a, f->zctx);
    if (rc == AGENT_OK && f->tb.chunk) agent_lend_tail_buffers(g->a, &f->tb); /* else its own */
    if (!g->cut) break;
    if (rc == AGENT_OK) sim__close_dead(g);
    g->a = NULL;
    sim__power_cut_done(f, g);
  }
  if (rc != AGENT_OK) {
    g->a = NULL;
    char esc[600];
    sim__json_escape(err, esc, sizeof esc);
    sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"agent_open_failed\",\"agent\":%d,\"error\":\"%s\"}",
                   (long long)f->now, (int)g->idx, esc);
    sim__set_failure(f, "agent %d: agent_open failed at t=%lld ms: %s", (int)g->idx,
                (long long)f->now, err);
    f->stop = 1;
    return -1;
  }
  sim__schedule_step(f, g, f->now);
  return 0;
}

/* fleet.secrets: files a host really has at denied paths, each line marked,
 * so a read of any of them would show in the cloud (expect.no_secret_shipped). */
static int plant_secrets(sim_agent *g) {
  static const char *const secrets[] = {"/etc/shadow", "/root/.ssh/id_rsa",
                                        "/home/alice/.ssh/id_rsa",
                                        "/etc/ssl/private/server.key", "/var/log/vault.key"};
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
    char dir[64], line[128];
    const char *slash = strrchr(secrets[i], '/');
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - secrets[i]), secrets[i]);
    int n = snprintf(line, sizeof line, "root:" SIM_SCN_SECRET_MARK ":%s:agent-%05d\n",
                     secrets[i], (int)g->idx);
    int rc = sim_fs_mkdirs(g->fs, dir, 0700);
    if (rc == OS_OK) rc = sim_fs_append(g->fs, secrets[i], line, (size_t)n, 1);
    if (rc != OS_OK) return rc;
  }
  return OS_OK;
}

/* Hardware ids of a simulated host: machine-id, hostname (set in
 * sim__setup_agent), and a DMI UUID and one MAC drawn from the agent's identity
 * stream (or, for a copy on new hardware, from the copy's own). */
static void ident_hw(fleet *f, sim_agent *g, uint64_t stream) {
  sim_rng ir;
  sim_rng_seed(&ir, f->opt->seed, SIM_RNG_HW_BASE + stream);
  uint64_t a = sim_rng_u64(&ir), b = sim_rng_u64(&ir), m = sim_rng_u64(&ir);
  char uuid[40], mac[24];
  snprintf(uuid, sizeof uuid, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
           (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
           (unsigned long long)(b & 0xffffffffffffULL));
  snprintf(mac, sizeof mac, "02:%02x:%02x:%02x:%02x:%02x", (unsigned)(m >> 8) & 0xff,
           (unsigned)(m >> 16) & 0xff, (unsigned)(m >> 24) & 0xff, (unsigned)(m >> 32) & 0xff,
           (unsigned)(m >> 40) & 0xff);
  sim_os_set_identity(&g->os, OS_IDENT_PRODUCT_UUID, uuid);
  sim_os_set_identity(&g->os, OS_IDENT_MACS, mac);
}

int sim__setup_agent(fleet *f, sim_agent *g, int32_t idx, log_ctx *lc) {
  g->idx = idx;
  g->fleet = f;
  g->attack_mute = 1;
  g->under_floor_since = -1;
  sim_rng_seed(&g->rng, f->opt->seed, SIM_RNG_AGENT_BASE + (uint64_t)idx);
  sim_rng_seed(&g->logrng, f->opt->seed, SIM_RNG_LOGGEN_BASE + (uint64_t)idx);
  sim_rng_seed(&g->cloud_rng, f->opt->seed, SIM_RNG_CLOUD_BASE + (uint64_t)idx);
  sim_rng ir;
  sim_rng_seed(&ir, f->opt->seed, SIM_RNG_IDENT_BASE + (uint64_t)idx);
  char host[32], mid[40];
  snprintf(host, sizeof host, "sim-%05d", (int)idx);
  uint64_t m1 = sim_rng_u64(&ir), m2 = sim_rng_u64(&ir);
  snprintf(mid, sizeof mid, "%016" PRIx64 "%016" PRIx64, m1, m2);
  int64_t skew = f->scn->clock_skew_ms > 0
                     ? sim_rng_range(&ir, -f->scn->clock_skew_ms, f->scn->clock_skew_ms)
                     : 0;
  if (sim_fs_create((uint64_t)idx + 1, (uint64_t)f->scn->disk_quota_bytes, fs_clock, f, &g->fs) !=
      OS_OK)
    return -1;
  sim_fs_set_spares(g->fs, f->spares);
  if (sim_fs_mkdirs(g->fs, "/var/log", 0755) || sim_fs_mkdirs(g->fs, "/var/lib", 0755) ||
      sim_fs_mkdirs(g->fs, "/etc/outpost", 0755))
    return -1;
  static const char ca[] = "# the simulator's network needs no CA; the agent only names the file\n";
  if (sim_fs_append(g->fs, CA_PATH, ca, sizeof ca - 1, 1) != OS_OK) return -1;
  if (sim_fs_append(g->fs, LOG_PATH, "", 0, 1) != OS_OK) return -1;
  if (f->scn->secrets && plant_secrets(g) != OS_OK) return -1;
  if (f->upd) {
    size_t rl = 0;
    const uint8_t *root = sim_update_root(f->upd, &rl);
    if (sim_fs_append(g->fs, ROOT_PATH, root, rl, 1) != OS_OK) return -1;
  }
  sim_os_init(&g->os, &f->now, skew, &g->rng, g->fs, host, mid);
  sim_os_set_uid(&g->os, (uint32_t)f->scn->agent_uid);
  snprintf(g->os.own_dir, sizeof g->os.own_dir, "%s", STATE_DIR);
  if (f->opt->trace_full) {
    lc->f = f;
    lc->g = g;
    g->os.log_sink = trace_log_sink;
    g->os.log_user = lc;
  }
  ident_hw(f, g, (uint64_t)idx);
  g->ring = idx < f->ring_n[0] ? 0 : idx < f->ring_n[0] + f->ring_n[1] ? 1 : 2;
  g->final_at = -1;
  g->sw_cut = -1;
  g->clone_of = -1;
  g->watch_at = g->detected_at = -1;
  sim_os_shim(&g->os, &g->osh);
  if (sim_net_shim(f->net, idx, &g->neth) != SIM_NET_OK) return -1;
  return 0;
}

/* ---- power cuts, restarts ---------------------------------------------- */

/* 1 when two or more of the agent's batches are in flight (issue #14). */
static int in_window(const sim_agent *g) {
  if (!g->a) return 0;
  agent_stats s;
  agent_get_stats(g->a, &s);
  return s.ingest_in_flight >= 2;
}

/* Runs inside the agent's own pwrite: only note it and cut the agent off the
 * network (a dead host sends nothing more); the reboot waits until the
 * current event is done, since the agent is still on the stack. */
void sim__on_power_cut(void *user) {
  sim_agent *g = user;
  fleet *f = g->fleet;
  g->cut = 1;
  f->cuts_in_window += in_window(g);
  sim_net_set_partition(f->net, g->idx, 1);
  /* The host is dead: the rest of the work in progress (the agent's step,
   * or the supervisor stand-in's) must not reach the rebooted disk. Before
   * issue #17 it did: a files_write_atomic cut at its pwrite went on to
   * rename the never-synced (so empty) temp file over its target, e.g. an
   * empty identity.json that no reboot can open. sim__close_dead and the
   * supervisor's reboot unfreeze. */
  sim_fs_set_frozen(g->fs, 1);
}

void sim__reboot_after_cut(fleet *f, sim_agent *g) {
  sim__close_dead(g);
  g->step_pending = 0;
  g->step_gen++;
  sim__power_cut_done(f, g);
  sim__open_agent(f, g);
}

int sim__restart_agent(fleet *f, sim_agent *g, int crash) {
  if (!g->a) return -1;
  if (crash) {
    f->crashes_in_window += in_window(g);
    sim_fs_crash(g->fs);
    floor_rebase(g);
    /* The dying process's clean-up must not touch the "rebooted" disk. */
    sim_fs_set_frozen(g->fs, 1);
    agent_close(g->a);
    sim_fs_set_frozen(g->fs, 0);
    g->crashes++;
  } else {
    agent_close(g->a);
    g->restarts++;
  }
  g->a = NULL;
  g->step_pending = 0;
  g->step_gen++; /* any queued step is now stale */
  return sim__open_agent(f, g);
}

/* ---- configuration, log lines, fault picks ------------------------------ */

void sim__build_config(fleet *f) {
  const sim_scenario *s = f->scn;
  agent_config *c = &f->cfg;
  config_defaults(c);
  snprintf(c->cloud_url, sizeof c->cloud_url, "https://cloud.sim");
  snprintf(c->ca_file, sizeof c->ca_file, "%s", CA_PATH);
  snprintf(c->enrollment_token, sizeof c->enrollment_token, "%s", f->token);
  snprintf(c->state_dir, sizeof c->state_dir, "%s", STATE_DIR);
  snprintf(c->sources[0].path, sizeof c->sources[0].path, "%s", LOG_PATH);
  c->sources[0].start = CONFIG_START_BEGINNING;
  c->n_sources = 1;
  if (s->batch_max_records > 0) c->batch_max_records = (int)s->batch_max_records;
  if (s->batch_max_age_ms >= 0) c->batch_max_age_ms = s->batch_max_age_ms;
  if (s->poll_interval_ms > 0) c->poll_interval_ms = s->poll_interval_ms;
  if (s->request_timeout_ms > 0) c->request_timeout_ms = s->request_timeout_ms;
  if (s->retry_base_ms > 0) c->retry_base_ms = s->retry_base_ms;
  if (s->retry_max_ms > 0) c->retry_max_ms = s->retry_max_ms;
  if (s->spool_quota_bytes > 0) c->spool_quota_bytes = s->spool_quota_bytes;
  if (s->backpressure_max_ms >= 0) c->backpressure_max_ms = s->backpressure_max_ms;
  if (s->checkin_interval_ms > 0) c->checkin_interval_ms = s->checkin_interval_ms;
  if (s->ship_window > 0) c->ship_window = (int)s->ship_window;
  /* Small read buffers: a simulated log grows by a few lines per poll, and
   * 1,000 agents each holding 64 KiB buffers is memory for nothing. */
  c->read_chunk_bytes = 16384;
  c->log_level = OS_LOG_INFO;
}

int64_t sim__next_line_gap(fleet *f, sim_agent *g) {
  double mean = 60000.0 / f->scn->lines_per_min;
  int64_t gap = (int64_t)ceil(sim_rng_exp(&g->logrng, mean));
  return gap < 1 ? 1 : gap;
}

/* Picks k distinct agents (partial Fisher-Yates from the fault stream). */
static int64_t pick_agents(fleet *f, int64_t k) {
  for (int64_t i = 0; i < f->n; i++) f->perm[i] = (int32_t)i;
  if (k > f->n) k = f->n;
  for (int64_t i = 0; i < k; i++) {
    int64_t j = sim_rng_range(&f->fault_rng, i, f->n - 1);
    int32_t t = f->perm[i];
    f->perm[i] = f->perm[j];
    f->perm[j] = t;
  }
  return k;
}

static void trace_agents(fleet *f, const char *kind, int64_t k) {
  /* "agents":[...] written in pieces: up to 100,000 indices */
  char *buf = malloc((size_t)k * 8 + 64);
  if (!buf) return;
  size_t o = 0;
  for (int64_t i = 0; i < k; i++)
    o += (size_t)sprintf(buf + o, "%s%d", i ? "," : "", (int)f->perm[i]);
  buf[o] = 0;
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"fault\",\"fault\":\"%s\",\"agents\":[%s]}",
                 (long long)f->now, kind, buf);
  free(buf);
}

int64_t sim__pick_agents(fleet *f, const sim_scn_event *e) {
  int64_t k = pick_agents(f, sim_scenario_event_agents(e, f->n));
  trace_agents(f, sim_scenario_event_name(e->type), k);
  return k;
}
