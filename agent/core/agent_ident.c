/* agent_ident.c - identity: enrollment, re-enrollment as a new identity
 * (clones, other hardware), challenge, session, check-in with the ratchet,
 * revocation and the other identity refusals (issue #4). The build and
 * success functions of their rows in agent.c's request table.
 */
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "common/crypto.h"
#include "common/version.h"
#include "core/agent_int.h"
#include "core/reply.h"

/* Signs data with a DER key into base64; 0 on success. */
static int sign_b64(agent *a, const ident *who, const char *data, size_t len, char *out,
                    size_t cap) {
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t sig_len = 0, b64_len = 0;
  return crypto_ec_sign(who->key, who->key_len, data, len, ident_rng, (void *)a->os, sig,
                        sizeof sig, &sig_len) == CRYPTO_OK &&
                 crypto_b64_encode(sig, sig_len, out, cap, &b64_len) == CRYPTO_OK
             ? 0
             : -1;
}

/* AGENT_REQ_ENROLL and AGENT_REQ_REKEY (a->rekey): the same request, other
 * replies. */
void agent__send_enroll(agent *a, const agent__req *r) {
  char pub_b64[CRYPTO_PUB_DER_MAX * 2], host[256] = "", mid[128] = "";
  size_t pub_len = 0;
  /* Re-enrolling: the new identity's key enrolls, the old one vouches. */
  const ident *who = a->rekey ? &a->next_id : &a->id;
  crypto_b64_encode(who->pub, who->pub_len, pub_b64, sizeof pub_b64, &pub_len);
  if (a->os->read_identity(a->os->ctx, OS_IDENT_HOSTNAME, host, sizeof host) < 0) host[0] = 0;
  if (a->os->read_identity(a->os->ctx, OS_IDENT_MACHINE_ID, mid, sizeof mid) < 0) mid[0] = 0;
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "token", a->cfg.enrollment_token);
  cJSON_AddStringToObject(b, "public_key", pub_b64);
  cJSON_AddStringToObject(b, "hostname", host);
  cJSON_AddStringToObject(b, "machine_id", mid);
  cJSON_AddStringToObject(b, "agent_version", outpost_version);
  if (a->rekey) {
    cJSON_AddStringToObject(b, "cloned_from", a->id.agent_id);
    cJSON_AddStringToObject(b, "clone_reason", a->clone_reason);
  }
  char *text = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  if (!text) {
    agent__backoff(a, 0);
    return;
  }
  /* Proof of possession: sign the exact body bytes; a clone report is also
   * signed by the old key, so nobody else can claim a copy of it. */
  char sig_b64[CRYPTO_SIG_MAX * 2], old_b64[CRYPTO_SIG_MAX * 2];
  if (sign_b64(a, who, text, strlen(text), sig_b64, sizeof sig_b64) != 0 ||
      (a->rekey && sign_b64(a, &a->id, text, strlen(text), old_b64, sizeof old_b64) != 0)) {
    agent__log(a, OS_LOG_ERROR, "enroll: cannot sign the enrollment request");
    cJSON_free(text);
    agent__backoff(a, 0);
    return;
  }
  net_header h[2] = {{WIRE_HDR_PROOF, sig_b64}, {WIRE_HDR_CLONE_PROOF, old_b64}};
  agent__send(a, r, h, a->rekey ? 2 : 1, (const uint8_t *)text, strlen(text));
  cJSON_free(text);
}

void agent__send_challenge(agent *a, const agent__req *r) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "agent_id", a->id.agent_id);
  agent__send_json(a, r, b);
}

void agent__send_session(agent *a, const agent__req *r) {
  char msg[256];
  int len = wire_session_message(a->id.agent_id, a->challenge, a->instance, msg, sizeof msg);
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t sig_len = 0, b64_len = 0;
  char sig_b64[CRYPTO_SIG_MAX * 2];
  if (len < 0 ||
      crypto_ec_sign(a->id.key, a->id.key_len, msg, (size_t)len, ident_rng, (void *)a->os, sig,
                     sizeof sig, &sig_len) != CRYPTO_OK ||
      crypto_b64_encode(sig, sig_len, sig_b64, sizeof sig_b64, &b64_len) != CRYPTO_OK) {
    agent__log(a, OS_LOG_ERROR, "session: cannot sign the challenge");
    a->challenge[0] = 0;
    agent__backoff(a, 0);
    return;
  }
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "agent_id", a->id.agent_id);
  cJSON_AddStringToObject(b, "challenge", a->challenge);
  cJSON_AddStringToObject(b, "signature", sig_b64);
  cJSON_AddStringToObject(b, "instance", a->instance);
  if (a->id.workspace[0]) cJSON_AddStringToObject(b, "workspace", a->id.workspace);
  agent__send_json(a, r, b);
}

/* Starts re-enrolling as a new identity. The old identity stays on disk and
 * in a->id until the cloud has enrolled the new one (its key signs the clone
 * report). */
static void start_rekey(agent *a, const char *reason) {
  if (a->rekey) return;
  char err[256];
  if (ident_rekey_prepare(&a->next_id, a->os, a->cfg.state_dir, err, sizeof err) != IDENT_OK) {
    agent__log(a, OS_LOG_ERROR, "cannot prepare a new identity: %s", err);
    agent__backoff(a, 0);
    return;
  }
  snprintf(a->clone_reason, sizeof a->clone_reason, "%s", reason);
  a->rekey = 1;
  a->have_session = 0;
  a->checked_in = 0;
  a->attempt = 0;
  a->retry_at = a->now;
}

void agent__on_rekey_done(agent *a, const agent__completion *c) {
  reply_enroll e;
  if (reply_parse_enroll(c->body, c->body_len, &e) == REPLY_OK) {
    const char *aid = e.agent_id;
    ident *n = &a->next_id;
    memcpy(n->agent_id, e.agent_id, 33);
    snprintf(n->workspace, sizeof n->workspace, "%s", e.workspace);
    memcpy(n->cloned_from, a->id.agent_id, 33);
    n->enrolled_ms = a->wall;
    char err[256];
    if (ident_rekey_commit(n, a->os, a->cfg.state_dir, err, sizeof err) == IDENT_OK) {
      agent__log(a, OS_LOG_WARN,
                 "re-enrolled as agent %s (was %s, reason %s); unacknowledged records follow "
                 "under the new identity",
                 aid, a->id.agent_id, a->clone_reason);
      a->id = *n;
      memset(n, 0, sizeof *n);
      a->rekey = 0;
      a->st.enrollments++;
      a->st.clone_reenrollments++;
      a->flush_now = 1;
      agent__succeeded(a);
      return;
    }
    agent__log(a, OS_LOG_ERROR, "re-enroll: %s", err);
  } else {
    agent__log(a, OS_LOG_ERROR, "re-enroll: malformed reply");
  }
  agent__backoff(a, c->retry_after_ms);
}

void agent__on_rekey_refused(agent *a, const agent__completion *c, const char *why) {
  (void)c;
  /* Never loop: keep the identity we have, send nothing under it, ask again
   * in an hour. */
  agent__log(a, OS_LOG_ERROR, "re-enrollment refused: %s; keeping identity %s, retrying hourly",
             why, a->id.agent_id);
  a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
}

/* The refusals that concern identity rather than transport. Returns 1 when
 * it handled the reply. */
int agent__ident_refusal(agent *a, const agent__completion *c, const char *why) {
  if (c->error != NET_OK) return 0;
  if (c->status == 403 && agent__code_is(c, "revoked")) {
    if (!a->revoked)
      agent__log(a, OS_LOG_ERROR,
                 "agent %s was revoked by the cloud (%s): sending stops, collection continues; "
                 "re-checking hourly",
                 a->id.agent_id, why);
    a->revoked = 1;
    a->have_session = 0;
    a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
    return 1;
  }
  if (c->status == 409 && agent__code_is(c, "clone_detected")) {
    agent__log(a, OS_LOG_ERROR,
               "the cloud found another live copy of identity %s (%s): re-enrolling as a new "
               "agent",
               a->id.agent_id, why);
    start_rekey(a, "ratchet_conflict");
    return 1;
  }
  if (c->status == 409 && agent__code_is(c, "probation")) {
    /* We replaced a process of this agent that spoke moments ago: the cloud
     * holds our data back until it is sure that one is gone (not a clone). */
    int64_t wait = reply_probation_wait_ms(c->body, c->body_len);
    agent__log(a, OS_LOG_INFO, "data held back for %lld s after a restart (%s)",
               (long long)(wait / 1000), why);
    a->attempt = 0;
    a->retry_at = a->now + wait + agent__random_below(a, 1000);
    return 1;
  }
  if (c->status == 409) { /* superseded_instance, stale_request: a late request of ours */
    agent__log(a, OS_LOG_INFO, "request refused as out of date (%s); retrying", why);
    agent__backoff(a, 0);
    return 1;
  }
  if (c->status == 401 && agent__code_is(c, "clock_skew")) {
    agent__log(a, OS_LOG_ERROR,
               "clock skew: our wall clock %lld ms, the cloud's Date %lld ms (%s); fix the clock",
               (long long)a->wall, (long long)c->date_ms, why);
    /* Sign with the cloud's time from now on (issue #16): its skew window
     * judges freshness by its own clock, so this gives nothing away, and a
     * host whose clock stepped keeps delivering. Only the request time
     * moves: records keep the host's own timestamps. */
    if (c->date_ms > 0) {
      a->time_offset_ms = c->date_ms - a->wall;
      agent__log(a, OS_LOG_WARN, "signing requests with the cloud's time: offset %lld ms",
                 (long long)a->time_offset_ms);
    }
    agent__backoff(a, c->retry_after_ms);
    return 1;
  }
  if (c->status == 401 && agent__code_is(c, "bad_signature") && a->have_session) {
    /* The session we were handed does not sign for us (issue #16: a
     * session of another agent, or a key mangled on the way): never keep
     * trying it until it expires; open a new one. */
    agent__log(a, OS_LOG_ERROR, "the cloud refuses our session (%s): opening a new one", why);
    a->have_session = 0;
    agent__backoff(a, c->retry_after_ms);
    return 1;
  }
  a->revoked = 0;
  return 0;
}

/* issue #5: the self-metrics of status.json and the Prometheus textfile,
 * to the cloud in every check-in (docs/protocol.md: "metrics"). */
static void add_metrics(agent *a, cJSON *b, const spool_counters *sc) {
  cJSON *m = cJSON_AddObjectToObject(b, "metrics");
  if (!m) return;
  pstate_info pi;
  pstate_get_info(a->ps, &pi);
  caps_info ci;
  agent_caps_info(a, &ci);
  int64_t cpu = -1;
  if (a->os->self_cpu_ms && a->os->self_cpu_ms(a->os->ctx, &cpu) != OS_OK) cpu = -1;
  const struct {
    const char *k;
    int64_t v;
  } f[] = {{"spool_records", sc->spooled},
           {"spool_bytes", sc->bytes},
           {"records_produced", sc->next_seq - 1},
           {"records_acked", sc->acked},
           {"records_shed", sc->shed},
           {"records_shed_reported", sc->shed_reported},
           {"batches_sent", a->st.batches_sent},
           {"batch_failures", a->st.batch_failures},
           {"bytes_sent", a->st.bytes_sent},
           {"errors", a->st.errors},
           {"cpu_ms", cpu},
           {"rss_bytes", ci.rss_bytes},
           {"peak_rss_bytes", ci.peak_rss_bytes},
           {"policy_version", pi.version},
           {"policy_rejected_total", pi.rejected_total},
           {"policy_paths_refused_total", pi.refused_total},
           {"cap_records_per_s", ci.rate},
           {"cap_rate_limited_polls", ci.rate_limited_polls},
           {"cap_memory_bytes", ci.memory_cap_bytes},
           {"cap_memory_over", ci.memory_over},
           {"cap_memory_over_events", ci.memory_over_events}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    cJSON_AddNumberToObject(m, f[i].k, (double)f[i].v);
}

static void send_checkin(agent *a, const agent__req *r, int score) {
  cJSON *b = cJSON_CreateObject();
  cJSON *d = cJSON_CreateArray();
  for (int i = 0; d && i < a->n_drift; i++) {
    const perm_drift *p = &a->drift[i];
    cJSON *e = cJSON_CreateObject();
    char was[8], set[8];
    snprintf(was, sizeof was, "%04o", (unsigned)(p->was_mode & 07777));
    snprintf(set, sizeof set, "%04o", (unsigned)(p->set_mode & 07777));
    if (!e) continue;
    cJSON_AddStringToObject(e, "file", p->file);
    cJSON_AddStringToObject(e, "action", p->action);
    cJSON_AddStringToObject(e, "was_mode", was);
    cJSON_AddStringToObject(e, "set_mode", set);
    cJSON_AddNumberToObject(e, "was_uid", p->was_uid);
    cJSON_AddNumberToObject(e, "uid", p->uid);
    cJSON_AddBoolToObject(e, "repaired", p->repaired);
    cJSON_AddItemToArray(d, e);
  }
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  cJSON_AddNumberToObject(b, "fingerprint_score", score);
  cJSON_AddNumberToObject(b, "clock_skew_ms", (double)a->st.clock_skew_ms);
  cJSON_AddStringToObject(b, "agent_version", outpost_version);
  cJSON_AddNumberToObject(b, "produced", (double)(sc.next_seq - 1));
  cJSON_AddNumberToObject(b, "acked", (double)sc.acked);
  cJSON_AddNumberToObject(b, "shed", (double)sc.shed);
  cJSON_AddNumberToObject(b, "spooled", (double)sc.spooled);
  cJSON_AddItemToObject(b, "drift", d);
  add_metrics(a, b, &sc);
  agent__update_add_reports(a, b);
  agent__send_json(a, r, b);
}

/* Re-reads the fingerprint; on other hardware starts re-enrollment instead. */
void agent__send_checkin(agent *a, const agent__req *r) {
  ident_fp now;
  ident_fp_read(a->os, &now);
  int score = ident_fp_score(&a->id.fp, &now);
  a->st.fp_score = score;
  if (score < IDENT_FP_SAME_MACHINE) {
    agent__log(a, OS_LOG_WARN,
               "machine fingerprint score %d < %d: identity %s is on other hardware; "
               "re-enrolling as a new agent",
               score, IDENT_FP_SAME_MACHINE, a->id.agent_id);
    start_rekey(a, "hardware_changed");
    return;
  }
  send_checkin(a, r, score);
}

void agent__on_checkin_done(agent *a, const agent__completion *c) {
  char next[33];
  if (reply_parse_checkin(c->body, c->body_len, next) != REPLY_OK) {
    agent__log(a, OS_LOG_ERROR, "checkin: malformed reply (no ratchet_next)");
    agent__backoff(a, 0);
    return;
  }
  if (strcmp(next, a->id.ratchet) != 0) {
    /* Persist before use: a value presented but not on disk could be lost
     * in a crash and the restarted agent would look like a stale copy. */
    char old[33], err[256];
    memcpy(old, a->id.ratchet, sizeof old);
    memcpy(a->id.ratchet, next, 33);
    if (ident_save(&a->id, a->os, a->cfg.state_dir, err, sizeof err) != IDENT_OK) {
      /* Not persisted, so not used: the old value stays acceptable to the
       * cloud (it re-issues the same next), so shipping goes on while the
       * disk is full; only the ratchet stands still meanwhile. */
      memcpy(a->id.ratchet, old, sizeof old);
      agent__log(a, OS_LOG_WARN, "checkin: cannot persist the ratchet, keeping the old one: %s",
                 err);
    }
  }
  if (a->n_drift > 0)
    agent__log(a, OS_LOG_INFO, "reported %d permission drift repair(s) to the cloud", a->n_drift);
  a->n_drift = 0;
  update_reports_sent(a->upd, a->upd_report_seq);
  a->checked_in = 1;
  /* +-10% jitter: agents started together must not check in together. */
  a->next_checkin = a->now + a->cfg.checkin_interval_ms * 9 / 10 +
                    agent__random_below(a, a->cfg.checkin_interval_ms / 5 + 1);
  a->st.checkins++;
  agent__succeeded(a);
}

void agent__on_enroll_done(agent *a, const agent__completion *c) {
  reply_enroll e;
  /* The agent id must be what ident.json accepts (32 lower-case hex):
   * anything else would be saved and then refuse every later start. */
  if (reply_parse_enroll(c->body, c->body_len, &e) == REPLY_OK) {
    const char *aid = e.agent_id, *ws = e.workspace;
    memcpy(a->id.agent_id, e.agent_id, 33);
    snprintf(a->id.workspace, sizeof a->id.workspace, "%s", e.workspace);
    a->id.enrolled_ms = a->wall;
    char err[256];
    if (ident_save(&a->id, a->os, a->cfg.state_dir, err, sizeof err) == IDENT_OK) {
      agent__log(a, OS_LOG_INFO, "enrolled as agent %s in workspace %s", aid, ws);
      a->st.enrollments++;
      a->refused = 0;
      agent__succeeded(a);
      return;
    }
    a->id.enrolled = 0;
    agent__log(a, OS_LOG_ERROR, "enroll: %s", err);
  } else {
    agent__log(a, OS_LOG_ERROR, "enroll: malformed reply (expected agent_id and workspace)");
  }
  agent__backoff(a, c->retry_after_ms);
}

void agent__on_enroll_refused(agent *a, const agent__completion *c, const char *why) {
  (void)c;
  /* A refusal (bad token, wrong workspace) is permanent until someone fixes
   * the config or the cloud: say so and retry rarely, never in a tight loop. */
  agent__log(a, OS_LOG_ERROR, "enrollment refused: %s", why);
  a->refused = 1;
  a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
}

void agent__on_challenge_done(agent *a, const agent__completion *c) {
  if (reply_parse_challenge(c->body, c->body_len, a->challenge) == REPLY_OK) {
    agent__succeeded(a);
    return;
  }
  a->challenge[0] = 0;
  agent__log(a, OS_LOG_ERROR, "challenge: malformed reply");
  agent__backoff(a, 0);
}

void agent__on_session_done(agent *a, const agent__completion *c) {
  a->challenge[0] = 0; /* single use, whatever happened */
  reply_session rs;
  int ok = reply_parse_session(c->body, c->body_len, &rs) == REPLY_OK;
  if (ok) {
    memcpy(a->session_id, rs.session_id, sizeof a->session_id);
    memcpy(a->session_key, rs.key, sizeof a->session_key);
    a->session_expires = a->now + rs.ttl_s * 1000;
    a->have_session = 1;
    a->revoked = 0;
    a->st.sessions++;
    agent__log(a, OS_LOG_DEBUG, "session open for %lld s", (long long)rs.ttl_s);
  }
  /* The key is a secret: no copy of it stays on the stack. */
  volatile uint8_t *k = rs.key;
  for (size_t i = 0; i < sizeof rs.key; i++) k[i] = 0;
  if (ok) {
    agent__succeeded(a);
    return;
  }
  agent__log(a, OS_LOG_ERROR, "session: malformed reply");
  agent__backoff(a, 0);
}

int agent__on_session_failed(agent *a, const agent__completion *c) {
  (void)c;
  a->challenge[0] = 0; /* single use, whatever happened */
  return 0;
}

/* Identity work at start: a fresh instance id, drift reports into the log,
 * the fingerprint compared with the one taken at enrollment. */
int agent__ident_start(agent *a, char *err, size_t cap) {
  uint8_t raw[16];
  if (a->os->random(a->os->ctx, raw, sizeof raw) != OS_OK) {
    snprintf(err, cap, "no randomness for the instance id");
    return -1;
  }
  crypto_hex(raw, sizeof raw, a->instance);
  /* perm_assert logged each finding as it made it (also those beyond the
   * PERM_MAX_DRIFT kept for the check-in). */
  a->st.drift_repairs = a->n_drift;
  a->st.fp_score = 100;
  if (!a->id.enrolled) return 0;
  if (!a->id.have_fp) { /* version-1 identity: take the fingerprint now */
    if (ident_save(&a->id, a->os, a->cfg.state_dir, err, cap) != IDENT_OK) return -1;
    return 0;
  }
  ident_fp now;
  ident_fp_read(a->os, &now);
  a->st.fp_score = ident_fp_score(&a->id.fp, &now);
  if (a->st.fp_score < IDENT_FP_SAME_MACHINE) {
    agent__log(a, OS_LOG_WARN,
               "machine fingerprint score %d < %d at start: identity %s was copied from other "
               "hardware; re-enrolling as a new agent",
               a->st.fp_score, IDENT_FP_SAME_MACHINE, a->id.agent_id);
    start_rekey(a, "hardware_changed");
    if (!a->rekey) {
      snprintf(err, cap, "cannot prepare a new identity for a copied state dir");
      return -1;
    }
  }
  return 0;
}
