/* sim_ident.c - identity (issue #4) on the simulated hosts: disk images
 * cloned and snapshots restored (and whether the cloud detects them),
 * attacks with a host's key and identity (another workspace, replayed
 * requests), state dirs tampered with (issue #13), revocation, and which
 * identities a host's lines may be stored under. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "core/ident.h"
#include "sim_int.h"

/* Records an identity the agent obtained itself (not one inherited with a
 * copied disk). */
static void ident_note_id(sim_agent *g, const char *id) {
  if (!id[0] || strcmp(id, g->inherited) == 0) return;
  for (int i = 0; i < g->n_ids; i++)
    if (strcmp(g->ids[i], id) == 0) return;
  if (g->n_ids < SIM_MAX_IDS) memcpy(g->ids[g->n_ids++], id, 33);
}

/* Marks x detected if it or its source re-enrolled since x was watched. */
static void ident_detect(fleet *f, sim_agent *x) {
  if (x->watch_at < 0 || x->detected_at >= 0) return;
  sim_agent *src = x->clone_of >= 0 ? &f->ag[x->clone_of] : NULL;
  if (x->reenrolled <= x->watch_base && !(src && src->reenrolled > x->watch_src_base)) return;
  x->detected_at = f->now;
  int64_t lat = f->now - x->watch_at;
  if (lat > f->detect_max_ms) f->detect_max_ms = lat;
  f->detected++;
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"clone_detected\",\"agent\":%d,\"after_ms\":%lld}",
                 (long long)f->now, (int)x->idx, (long long)lat);
}

/* After every event touching g: new identities, and whether a watched clone
 * or restore has been detected (the copy or its source re-enrolled). */
void sim__ident_watch(fleet *f, sim_agent *g) {
  if (!g->a || !f->ident_on) return;
  agent_stats s;
  agent_get_stats(g->a, &s);
  ident_note_id(g, s.agent_id);
  g->reenrolled = s.clone_reenrollments;
  ident_detect(f, g);
  if (g->copies > 0)
    for (int64_t i = 0; i < f->n; i++)
      if (f->ag[i].clone_of == g->idx) ident_detect(f, &f->ag[i]);
}

static int read_state_file(sim_agent *g, const char *name, char *buf, size_t cap, size_t *len) {
  char p[OS_PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", STATE_DIR, name);
  os_file *fh = NULL;
  if (sim_fs_open(g->fs, p, OS_O_READ, 0, &fh) != OS_OK) return -1;
  int64_t n = sim_fs_pread(g->fs, fh, buf, cap - 1, 0);
  sim_fs_close(g->fs, fh);
  if (n < 0) return -1;
  buf[n] = 0;
  *len = (size_t)n;
  return 0;
}

/* A copy of src's disk as a new agent, on new or identical hardware. */
static void clone_agent(fleet *f, sim_agent *src, int same_fp) {
  if (f->n >= f->n_cap || !src->a) return;
  int32_t idx = (int32_t)f->n;
  sim_agent *g = &f->ag[idx];
  if (sim__setup_agent(f, g, idx, &((log_ctx *)f->lcs)[idx]) != 0) {
    sim__set_failure(f, "clone of agent %d: cannot set up a host", (int)src->idx);
    f->stop = 1;
    return;
  }
  f->n++;
  sim_fs *copy = NULL;
  if (sim_fs_copy(src->fs, (uint64_t)idx + 1, &copy) != OS_OK) {
    sim__set_failure(f, "clone of agent %d: cannot copy its disk", (int)src->idx);
    f->stop = 1;
    return;
  }
  sim_fs_free(g->fs);
  g->fs = copy;
  g->os.fs = copy;
  g->space_fs = NULL; /* a new disk: the next space check reads it */
  /* The image carries /etc/machine-id and /etc/hostname; new hardware has
   * its own DMI UUID and MACs. */
  sim_os_set_identity(&g->os, OS_IDENT_MACHINE_ID, src->os.machine_id);
  sim_os_set_identity(&g->os, OS_IDENT_HOSTNAME, src->os.hostname);
  if (same_fp) {
    sim_os_set_identity(&g->os, OS_IDENT_PRODUCT_UUID, src->os.product_uuid);
    sim_os_set_identity(&g->os, OS_IDENT_MACS, src->os.macs);
  }
  agent_stats s;
  agent_get_stats(src->a, &s);
  memcpy(g->inherited, s.agent_id, 33);
  os_stat st;
  g->log_bytes = sim_fs_stat(g->fs, LOG_PATH, &st) == OS_OK ? st.size : 0;
  g->lineage = src->lineage = 1;
  src->lineage_from = src->lines_written;
  g->clone_of = src->idx;
  g->source_lines_at_clone = src->lines_written;
  src->copies++;
  g->watch_at = f->now;
  g->watch_base = 0;
  g->watch_src_base = src->reenrolled;
  f->clones++;
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"clone\",\"from\":%d,\"agent\":%d,\"fingerprint\":\"%s\"}",
                 (long long)f->now, (int)src->idx, (int)idx, same_fp ? "same" : "new");
  if (sim__open_agent(f, g) != 0) return;
  if (f->loggen_on) sim__push(f, EV_LOG, idx, f->now + sim__next_line_gap(f, g), 0);
}

static void restore_agent(fleet *f, sim_agent *g) {
  if (!g->snap || !g->a) return;
  sim_fs *copy = NULL;
  if (sim_fs_copy(g->snap, (uint64_t)g->idx + 1, &copy) != OS_OK) return;
  sim__close_dead(g); /* the running VM is thrown away: no clean shutdown */
  g->step_pending = 0;
  g->step_gen++;
  sim_fs_free(g->fs);
  g->fs = copy;
  g->os.fs = copy;
  g->space_fs = NULL; /* a new disk: the next space check reads it */
  os_stat st;
  g->log_bytes = sim_fs_stat(g->fs, LOG_PATH, &st) == OS_OK ? st.size : 0;
  g->lineage = 1;
  g->lineage_from = g->lines_written;
  g->watch_at = f->now;
  g->watch_base = g->reenrolled;
  g->clone_of = -1;
  f->restores++;
  sim__open_agent(f, g);
}

static int refused(const mc_response *r) { return r->status >= 400 && r->status < 500; }

/* The attacker holds the victim's key and identity file and tries them in
 * another workspace: a clone report into it, and a session as the victim
 * claiming that workspace. */
static void foreign_attack(fleet *f, sim_agent *g) {
  char key[CRYPTO_KEY_DER_MAX + 1], idj[IDENT_FILE_MAX];
  size_t klen = 0, ilen = 0;
  ident id;
  memset(&id, 0, sizeof id);
  if (read_state_file(g, IDENT_KEY_FILE, key, sizeof key, &klen) != 0 ||
      read_state_file(g, IDENT_FILE, idj, sizeof idj, &ilen) != 0 ||
      ident_parse(&id, idj, ilen) != IDENT_OK)
    return;
  uint8_t pub[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX];
  size_t plen = 0, slen = 0, n = 0;
  char pub_b64[CRYPTO_PUB_DER_MAX * 2], sig_b64[CRYPTO_SIG_MAX * 2], body[1024];
  if (crypto_ec_public_from_private((uint8_t *)key, klen, pub, sizeof pub, &plen) != CRYPTO_OK ||
      crypto_b64_encode(pub, plen, pub_b64, sizeof pub_b64, &n) != CRYPTO_OK)
    return;
  int bl = snprintf(body, sizeof body,
                    "{\"token\":\"%s\",\"public_key\":\"%s\",\"hostname\":\"x\",\"machine_id\":\"x\","
                    "\"agent_version\":\"0\",\"cloned_from\":\"%s\",\"clone_reason\":\"hardware_changed\"}",
                    f->other_token, pub_b64, id.agent_id);
  if (crypto_ec_sign((uint8_t *)key, klen, body, (size_t)bl, sim__cloud_random, f, sig, sizeof sig,
                     &slen) != CRYPTO_OK ||
      crypto_b64_encode(sig, slen, sig_b64, sizeof sig_b64, &n) != CRYPTO_OK)
    return;
  mc_header h[] = {{"Content-Type", "application/json"}, {WIRE_HDR_PROOF, sig_b64},
                   {WIRE_HDR_CLONE_PROOF, sig_b64}};
  mc_request rq = {"POST", "/v1/enroll", h, 3, (const uint8_t *)body, (size_t)bl};
  mc_response rs;
  f->attacks++;
  if (mc_handle(f->cloud, &rq, &rs) == MC_OK && refused(&rs)) f->attacks_refused++;
  mc_response_free(&rs);
  /* A session as the victim, naming the other workspace. */
  bl = snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", id.agent_id);
  mc_request cq = {"POST", "/v1/challenge", h, 1, (const uint8_t *)body, (size_t)bl};
  if (mc_handle(f->cloud, &cq, &rs) != MC_OK) return;
  char chal[64] = "";
  const char *c0 = strstr((const char *)rs.body, "\"challenge\":\"");
  if (rs.status == 200 && c0) {
    c0 += 13;
    const char *c1 = strchr(c0, '"');
    if (c1 && c1 - c0 < (ptrdiff_t)sizeof chal) memcpy(chal, c0, (size_t)(c1 - c0));
  }
  mc_response_free(&rs);
  if (!chal[0]) return;
  char msg[256], inst[] = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";
  int ml = wire_session_message(id.agent_id, chal, inst, msg, sizeof msg);
  if (ml < 0 ||
      crypto_ec_sign((uint8_t *)key, klen, msg, (size_t)ml, sim__cloud_random, f, sig, sizeof sig,
                     &slen) != CRYPTO_OK ||
      crypto_b64_encode(sig, slen, sig_b64, sizeof sig_b64, &n) != CRYPTO_OK)
    return;
  bl = snprintf(body, sizeof body,
                "{\"agent_id\":\"%s\",\"challenge\":\"%s\",\"signature\":\"%s\",\"instance\":\"%s\","
                "\"workspace\":\"other\"}",
                id.agent_id, chal, sig_b64, inst);
  mc_request sq = {"POST", "/v1/session", h, 1, (const uint8_t *)body, (size_t)bl};
  f->attacks++;
  if (mc_handle(f->cloud, &sq, &rs) == MC_OK && refused(&rs)) f->attacks_refused++;
  mc_response_free(&rs);
}

/* The network tap: keep each agent's last signed request for replay. */
void sim__capture(void *user, int32_t who, const mc_request *req) {
  fleet *f = user;
  if (who < 0 || who >= f->n) return;
  int signed_req = 0;
  for (size_t i = 0; i < req->n_headers; i++)
    if (strcasecmp(req->headers[i].name, WIRE_HDR_SIGNATURE) == 0) signed_req = 1;
  if (!signed_req || req->n_headers > SIM_CAP_HDRS) return;
  captured *c = &f->ag[who].cap;
  free(c->body);
  memset(c, 0, sizeof *c);
  snprintf(c->path, sizeof c->path, "%s", req->path);
  for (size_t i = 0; i < req->n_headers; i++) {
    snprintf(c->names[i], sizeof c->names[i], "%s", req->headers[i].name);
    snprintf(c->values[i], sizeof c->values[i], "%s", req->headers[i].value);
  }
  c->n = req->n_headers;
  c->body = malloc(req->body_len ? req->body_len : 1);
  if (!c->body) return;
  if (req->body_len) memcpy(c->body, req->body, req->body_len);
  c->len = req->body_len;
  c->have = 1;
}

/* Replays the victim's last signed request twice: as captured, and to
 * another endpoint. Both must be refused and change nothing. */
static void replay_attack(fleet *f, sim_agent *g) {
  captured *c = &g->cap;
  if (!c->have) return;
  mc_header h[SIM_CAP_HDRS];
  for (size_t i = 0; i < c->n; i++) h[i] = (mc_header){c->names[i], c->values[i]};
  static const char *const other[] = {"/v1/ingest", "/v1/checkin"};
  int64_t before = mc_total_records(f->cloud), alerts = mc_alert_count(f->cloud, NULL);
  for (int k = 0; k < 2; k++) {
    const char *path = k == 0 ? c->path : strcmp(c->path, other[0]) == 0 ? other[1] : other[0];
    mc_request rq = {"POST", path, h, c->n, c->body, c->len};
    mc_response rs;
    f->attacks++;
    if (mc_handle(f->cloud, &rq, &rs) == MC_OK && refused(&rs)) f->attacks_refused++;
    mc_response_free(&rs);
  }
  if (mc_total_records(f->cloud) != before || mc_alert_count(f->cloud, NULL) != alerts)
    f->attacks_refused = -1000000; /* a replay changed the store: never passes */
}

static void tamper(fleet *f, sim_agent *g) {
  if (!g->a) return;
  sim_fs_chmod(g->fs, STATE_DIR, 0755);
  sim_fs_chmod(g->fs, STATE_DIR "/" IDENT_KEY_FILE, 0644);
  sim_fs_chmod(g->fs, STATE_DIR "/" IDENT_FILE, 0644);
  /* Modes only: an identity.json given to another user is no longer taken
   * back (issue #13: that user could have written it, so chowning it would
   * make their content the agent's); planted-probe covers foreign owners. */
  f->tampered += 3;
  if (sim__restart_agent(f, g, 0) == 0) sim__ledger_check(f, g);
}

/* issue #13: the state dir left writable by everyone, and user uid plants
 * files before the agent starts again: the old uid probe (whose owner the
 * agent once took for its own uid) and a policy.json of its own (it cannot
 * write ours, but the dir lets it replace the name). Then the restart. */
static void plant_files(fleet *f, sim_agent *g, uint32_t uid) {
  if (!g->a) return;
  static const char planted[] = "{\"version\": 990013, \"logs\": [{\"glob\": \"/var/log/planted.log\"}]}";
  _Static_assert(SIM_SCN_PLANTED_POLICY_VERSION == 990013, "the planted policy's version");
  sim_fs_chmod(g->fs, STATE_DIR, 0777);
  sim_fs_set_uid(g->fs, uid);
  sim_fs_append(g->fs, STATE_DIR "/.outpost-uid-probe", "", 0, 1);
  sim_fs_unlink(g->fs, STATE_DIR "/policy.json");
  sim_fs_append(g->fs, STATE_DIR "/policy.json", planted, sizeof planted - 1, 1);
  sim_fs_set_uid(g->fs, g->os.uid);
  f->tampered += 2;
  if (sim__restart_agent(f, g, 0) == 0) sim__ledger_check(f, g);
}

/* ---- the scenario's identity events (sim_workload.c's table) ------------- */

void sim__ev_clone(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++)
    for (int64_t c = 0; c < e->copies && !f->stop; c++)
      clone_agent(f, &f->ag[f->perm[i]], e->same_fingerprint);
}

void sim__ev_snapshot(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) {
    sim_agent *g = &f->ag[f->perm[i]];
    sim_fs_free(g->snap);
    g->snap = NULL;
    if (sim_fs_copy(g->fs, (uint64_t)g->idx + 1, &g->snap) != OS_OK) g->snap = NULL;
  }
}

/* Every agent with a snapshot is rolled back to it. */
void sim__ev_restore(fleet *f, const sim_scn_event *e) {
  (void)e;
  sim_trace_line(f->trace, "{\"t\":%lld,\"type\":\"fault\",\"fault\":\"restore\"}",
                 (long long)f->now);
  for (int64_t i = 0; i < f->n && !f->stop; i++) restore_agent(f, &f->ag[i]);
}

void sim__ev_tamper(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) tamper(f, &f->ag[f->perm[i]]);
}

void sim__ev_plant(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) plant_files(f, &f->ag[f->perm[i]], (uint32_t)e->uid);
}

void sim__ev_foreign(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) foreign_attack(f, &f->ag[f->perm[i]]);
}

void sim__ev_replay(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) replay_attack(f, &f->ag[f->perm[i]]);
}

void sim__ev_revoke(fleet *f, const sim_scn_event *e) {
  int64_t k = sim__pick_agents(f, e);
  for (int64_t i = 0; i < k && !f->stop; i++) {
    sim_agent *g = &f->ag[f->perm[i]];
    if (!g->a) continue;
    agent_stats s;
    agent_get_stats(g->a, &s);
    if (s.agent_id[0] && mc_agent_revoke(f->cloud, s.agent_id) == MC_OK) {
      g->revoked = 1;
      memcpy(g->revoked_id, s.agent_id, 33);
      g->revoked_count = mc_agent_record_count(f->cloud, s.agent_id);
    }
  }
}

/* Which sim agents may hold agent_id's records tagged "agent-<owner>": the
 * owner's own identities; for lines written before the owner was copied,
 * also its copies' identities (the image carried them). */
int sim__line_belongs(fleet *f, const char *agent_id, int64_t owner, int64_t line_no) {
  if (owner < 0 || owner >= f->n) return 0;
  sim_agent *g = &f->ag[owner];
  for (int i = 0; i < g->n_ids; i++)
    if (strcmp(g->ids[i], agent_id) == 0) return 1;
  if (strcmp(g->inherited, agent_id) == 0) return 0;
  for (int64_t i = 0; i < f->n; i++) {
    sim_agent *c = &f->ag[i];
    if (c->clone_of != owner) continue;
    if (strcmp(c->inherited, agent_id) == 0) return 1; /* the source's own id */
    if (line_no <= c->source_lines_at_clone)
      for (int k = 0; k < c->n_ids; k++)
        if (strcmp(c->ids[k], agent_id) == 0) return 1;
  }
  return 0;
}
