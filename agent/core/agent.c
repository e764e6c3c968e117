/* agent.c - the agent's state machine: collect -> spool -> ship (see agent.h).
 *
 * Requests are of the kinds in the request table (reqs[] below): a row
 * says how it is sent and what its success does; ingest batches go up to
 * cfg.ship_window at a time (the window, agent_ship.c), any other kind
 * alone on a quiet line;
 * what a failed reply does (a lost session, an identity refusal, a permanent
 * refusal, a back-off) is one shared path (complete_failed). The net
 * callback only copies the outcome into the agent; agent_step() acts on it
 * with the step's cached clock, so all decisions use one "now".
 *
 * This file: the request table, the shared completion path, the step and
 * the lifecycle. The rest of the agent is in the files agent_int.h lists.
 */
#include <stdlib.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/agent_int.h"
#include "core/files.h"

#define AGENT_SESSION_RENEW_MARGIN_MS 60000

/* ---- the request table -------------------------------------------------- */

#define JSON "application/json"

/* Every kind of request, by kind. A new kind is a row here, its build
 * function and its success handler; a failed reply takes the shared path
 * below, steered by the row's flags and optional hooks (agent_int.h):
 *
 *   kind           method path               authed ident success  hooks
 *   enroll         POST   /v1/enroll          -      -     201      on_refused
 *   rekey          POST   /v1/enroll          -      -     201      on_refused
 *   challenge      POST   /v1/challenge       -      yes   200
 *   session        POST   /v1/session         -      yes   200      on_failure
 *   checkin        POST   /v1/checkin         yes    yes   200
 *   policy         GET    /v1/policy          yes    yes   200      on_failure, on_retry_later
 *   policy report  POST   /v1/policy/report   yes    yes   2xx      on_failure
 *   shed           POST   /v1/shed            yes    yes   200      on_refused
 *   ingest         POST   /v1/ingest          yes    yes   200      on_failure, failed_text
 *
 * Re-enrolling is its own kind: the same request as enroll, other replies. */
static const agent__req reqs[AGENT_REQ_COUNT] = {
    [AGENT_REQ_ENROLL] = {
        .kind = AGENT_REQ_ENROLL, .name = "enroll", .method = "POST", .path = "/v1/enroll",
        .content_type = JSON, .ok_status = 201,
        .build = agent__send_enroll, .on_success = agent__on_enroll_done,
        .failed = "enroll failed, will retry", .on_refused = agent__on_enroll_refused},
    [AGENT_REQ_REKEY] = {
        .kind = AGENT_REQ_REKEY, .name = "enroll", .method = "POST", .path = "/v1/enroll",
        .content_type = JSON, .ok_status = 201,
        .build = agent__send_enroll, .on_success = agent__on_rekey_done,
        .failed = "re-enroll failed, will retry", .on_refused = agent__on_rekey_refused},
    [AGENT_REQ_CHALLENGE] = {
        .kind = AGENT_REQ_CHALLENGE, .name = "challenge", .method = "POST",
        .path = "/v1/challenge", .content_type = JSON, .ident = 1, .ok_status = 200,
        .build = agent__send_challenge, .on_success = agent__on_challenge_done,
        .failed = "challenge failed"},
    [AGENT_REQ_SESSION] = {
        .kind = AGENT_REQ_SESSION, .name = "session", .method = "POST",
        .path = "/v1/session", .content_type = JSON, .ident = 1, .ok_status = 200,
        .build = agent__send_session, .on_success = agent__on_session_done,
        .failed = "session failed", .on_failure = agent__on_session_failed},
    [AGENT_REQ_CHECKIN] = {
        .kind = AGENT_REQ_CHECKIN, .name = "checkin", .method = "POST",
        .path = "/v1/checkin", .content_type = JSON, .authed = 1, .ident = 1, .ok_status = 200,
        .build = agent__send_checkin, .on_success = agent__on_checkin_done,
        .failed = "checkin failed"},
    [AGENT_REQ_POLICY] = {
        .kind = AGENT_REQ_POLICY, .name = "policy", .method = "GET",
        .path = "/v1/policy", .authed = 1, .ident = 1, .ok_status = 200, .quiet = 1,
        .build = agent__send_policy_fetch, .on_success = agent__on_policy_done,
        .failed = "policy fetch failed", .on_failure = agent__on_policy_failed,
        .on_retry_later = agent__policy_retry_later},
    [AGENT_REQ_POLICY_REPORT] = {
        .kind = AGENT_REQ_POLICY_REPORT, .name = "policy report", .method = "POST",
        .path = "/v1/policy/report", .content_type = JSON, .authed = 1, .ident = 1,
        .ok_status = 0, .quiet = 1,
        .build = agent__send_policy_report, .on_success = agent__on_policy_report_done,
        .failed = "policy report failed", .on_failure = agent__on_policy_report_failed},
    [AGENT_REQ_SHED] = {
        .kind = AGENT_REQ_SHED, .name = "shed", .method = "POST",
        .path = "/v1/shed", .content_type = JSON, .authed = 1, .ident = 1, .ok_status = 200,
        .build = agent__send_shed_report, .on_success = agent__on_shed_done,
        .failed = "shed report failed", .on_refused = agent__on_shed_refused},
    [AGENT_REQ_INGEST] = {
        .kind = AGENT_REQ_INGEST, .name = "ingest", .method = "POST",
        .path = "/v1/ingest", .content_type = "application/x-ndjson", .authed = 1, .ident = 1,
        .ok_status = 200,
        .build = agent__send_ingest, .on_success = agent__on_ingest_done,
        .on_failure = agent__on_ingest_failed, .failed_text = agent__ingest_failed_text},
};

#undef JSON

static void start_request(agent *a, agent__req_kind kind) { reqs[kind].build(a, &reqs[kind]); }

/* ---- the shared completion path ----------------------------------------- */

static int transient(const agent__completion *c) {
  return c->error != NET_OK || c->status == 429 || c->status >= 500;
}

static int reply_ok(const agent__req *r, const agent__completion *c) {
  if (c->error != NET_OK) return 0;
  return r->ok_status ? c->status == r->ok_status : c->status >= 200 && c->status < 300;
}

/* Any reply but the row's success, in this order: the kind's own outcomes
 * (on_failure), a lost session (retried at once under a new one), an
 * identity refusal (agent__ident_refusal schedules the retry), a permanent
 * refusal the kind handles (on_refused), else the failure line and a
 * back-off (Retry-After honoured). The order of the random draws (back-off jitter,
 * on_retry_later's) is part of a run's replay: keep it. */
static void complete_failed(agent *a, const agent__req *r, const agent__completion *c) {
  char why[256], what[96];
  if (r->on_failure && r->on_failure(a, c)) return;
  if (r->authed && agent__session_lost(c)) {
    a->have_session = 0;
    agent__succeeded(a);
    return;
  }
  agent__describe_reply(c, why, sizeof why);
  if (r->ident && agent__ident_refusal(a, c, why)) {
    if (r->on_retry_later) r->on_retry_later(a);
    return;
  }
  int t = transient(c);
  if (!t && r->on_refused) {
    r->on_refused(a, c, why);
    return;
  }
  if (r->failed_text) r->failed_text(a, what, sizeof what);
  else snprintf(what, sizeof what, "%s", r->failed);
  agent__log(a, t || r->quiet ? OS_LOG_WARN : OS_LOG_ERROR, "%s: %s", what, why);
  if (r->on_retry_later) r->on_retry_later(a);
  agent__backoff(a, c->retry_after_ms);
}

/* What every reply teaches, whatever its kind. */
static void note_reply(agent *a, const agent__completion *c) {
  if (c->error == NET_OK && c->date_ms > 0) a->st.clock_skew_ms = a->wall - c->date_ms;
  if (c->error == NET_OK && c->status > 0) a->last_contact_wall = a->wall;
}

static void complete(agent *a, const agent__req *r, const agent__completion *c) {
  note_reply(a, c);
  if (reply_ok(r, c)) r->on_success(a, c);
  else complete_failed(a, r, c);
}

static void handle_completion(agent *a) {
  agent__completion *c = &a->done;
  agent__req_kind kind = a->inflight;
  a->inflight = AGENT_REQ_NONE;
  c->pending = 0;
  if (kind <= AGENT_REQ_NONE || kind >= AGENT_REQ_COUNT) {
    note_reply(a, c);
    return;
  }
  complete(a, &reqs[kind], c);
}

/* The window's replies, in seq order; then its acknowledged prefix leaves
 * the spool. */
static void handle_flights(agent *a) {
  int any = 0;
  for (int i = 0; i < a->ship_count; i++) {
    agent__flight *fl = agent__flight_at(a, i);
    if (fl->state != AGENT_FL_SENT || !fl->done.pending) continue;
    fl->done.pending = 0;
    a->ship_sent--;
    any = 1;
    complete(a, &reqs[AGENT_REQ_INGEST], &fl->done);
  }
  if (any) agent__ship_release(a);
}

/* ---- step --------------------------------------------------------------- */

/* A batch may go at *due_at: one waits for its retry (the back-off decides
 * when), or records no batch holds are old enough, or a backlog is left. */
static int ingest_due(const agent *a, const spool_counters *sc, int64_t *due_at) {
  if (a->ship_sent >= a->ship_limit) return 0;
  if (agent__ship_retry_waiting(a)) {
    *due_at = a->now;
    return 1;
  }
  int64_t unsent = agent__ship_unsent(a, sc);
  if (unsent <= 0) return 0;
  /* Records of no known age (a backlog from before a restart, the rest
   * behind a full batch) go now: an age counted from "now" at every step
   * would never come. */
  int64_t at = a->pending_since != INT64_MIN ? a->pending_since + a->cfg.batch_max_age_ms : a->now;
  if (a->flush_now || unsent >= a->cfg.batch_max_records) at = a->now;
  *due_at = at;
  return 1;
}

static int session_due(const agent *a) {
  return !a->have_session || a->now >= a->session_expires - AGENT_SESSION_RENEW_MARGIN_MS;
}

/* A request other than a batch is due now: it waits for the window to
 * drain, and no new batch joins the window meanwhile. */
static int control_due(const agent *a, const spool_counters *sc) {
  return !a->id.enrolled || a->rekey || session_due(a) || !a->checked_in ||
         a->now >= a->next_checkin || pstate_fetch_urgent(a->ps, a->now) ||
         (sc->shed > sc->shed_reported && a->now >= a->shed_hold_until);
}

/* Fills the window: retries first, then new batches, each at most once per
 * slot, while they are due and the net takes them. */
static void fill_window(agent *a) {
  for (int k = 0; k < a->ship_cap; k++) {
    spool_counters sc;
    spool_get_counters(a->sp, &sc);
    int64_t due = 0;
    if (!ingest_due(a, &sc, &due) || a->now < due || a->now < a->retry_at) return;
    int sent = a->ship_sent;
    start_request(a, AGENT_REQ_INGEST);
    if (a->ship_sent == sent) return; /* not sent: backed off, or nothing to build */
  }
}

static void start_network(agent *a) {
  if (a->inflight != AGENT_REQ_NONE || a->now < a->retry_at) return;
  agent__ship_release(a); /* a delete that failed before is tried again */
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  if (a->ship_sent > 0) {
    if (!control_due(a, &sc)) fill_window(a);
    return;
  }
  if (!a->id.enrolled) {
    if (!a->cfg.enrollment_token[0]) {
      agent__log(a, OS_LOG_ERROR, "not enrolled and no enrollment_token in the config");
      a->refused = 1;
      a->retry_at = a->now + AGENT_REFUSED_RETRY_MS;
      return;
    }
    start_request(a, a->rekey ? AGENT_REQ_REKEY : AGENT_REQ_ENROLL);
    return;
  }
  if (a->rekey) {
    start_request(a, AGENT_REQ_REKEY);
    return;
  }
  if (session_due(a)) {
    a->have_session = 0;
    start_request(a, a->challenge[0] ? AGENT_REQ_SESSION : AGENT_REQ_CHALLENGE);
    return;
  }
  /* Nothing is shipped before this process has checked in once: a stale
   * copy is caught before any of its records could be taken for the
   * original's. Later sessions of the same process need no new check-in
   * (its instance is already known), which keeps hourly renewals small. */
  if (!a->checked_in || a->now >= a->next_checkin) {
    start_request(a, AGENT_REQ_CHECKIN);
    return;
  }
  if (pstate_fetch_urgent(a->ps, a->now)) {
    start_request(a, AGENT_REQ_POLICY);
    return;
  }
  /* What was shed is reported before more is shipped: small, and the
   * operator's first question. */
  if (sc.shed > sc.shed_reported && a->now >= a->shed_hold_until) {
    start_request(a, AGENT_REQ_SHED);
    return;
  }
  fill_window(a);
  if (a->ship_sent > 0) return;
  if (pstate_fetch_due(a->ps, a->now)) start_request(a, AGENT_REQ_POLICY);
  else if (pstate_report_pending(a->ps)) start_request(a, AGENT_REQ_POLICY_REPORT);
}

static int64_t next_deadline(agent *a) {
  int64_t d = a->more_to_read ? a->now + 1 : a->next_poll;
  if (a->rate_limited && agent__caps_resume_at(a) < d) d = agent__caps_resume_at(a);
  if (a->inflight == AGENT_REQ_NONE) {
    int64_t net = INT64_MAX;
    spool_counters sc;
    spool_get_counters(a->sp, &sc);
    int64_t due = 0;
    if (a->ship_sent > 0) {
      /* Replies wake the agent; only a batch that may join the window
       * before them is a deadline (none while a request waits to go). */
      if (!control_due(a, &sc) && ingest_due(a, &sc, &due))
        net = due > a->retry_at ? due : a->retry_at;
    } else if (!a->id.enrolled || !a->have_session || a->rekey || !a->checked_in) {
      net = a->retry_at;
    } else {
      if (ingest_due(a, &sc, &due)) net = due > a->retry_at ? due : a->retry_at;
      if (sc.shed > sc.shed_reported && a->shed_hold_until <= a->retry_at) net = a->retry_at;
      int64_t renew = a->session_expires - AGENT_SESSION_RENEW_MARGIN_MS;
      if (renew < net) net = renew > a->retry_at ? renew : a->retry_at;
      if (a->next_checkin < net) net = a->next_checkin > a->retry_at ? a->next_checkin : a->retry_at;
      int64_t pol = pstate_report_pending(a->ps) ? a->now : pstate_next_fetch(a->ps);
      if (pol < net) net = pol > a->retry_at ? pol : a->retry_at;
    }
    if (net < d) d = net;
  }
  return d > a->now ? d : a->now + 1;
}

int64_t agent_step(agent *a, int64_t now_ms) {
  a->now = now_ms;
  a->wall = a->os->wall_ms(a->os->ctx);
  if (a->done.pending) handle_completion(a);
  handle_flights(a);
  if (a->now >= a->next_poll || a->more_to_read ||
      (a->rate_limited && a->now >= agent__caps_resume_at(a))) {
    agent__collect(a);
    if (a->now >= a->next_poll) a->next_poll = a->now + a->cfg.poll_interval_ms;
  }
  start_network(a);
  return agent__update_step(a, next_deadline(a));
}

/* ---- lifecycle ---------------------------------------------------------- */

/* The strings by their length: the rest of each array is never touched. */
static void settings_from(agent_settings *out, const agent_config *cfg) {
  snprintf(out->cloud_url, sizeof out->cloud_url, "%s", cfg->cloud_url);
  snprintf(out->state_dir, sizeof out->state_dir, "%s", cfg->state_dir);
  snprintf(out->enrollment_token, sizeof out->enrollment_token, "%s", cfg->enrollment_token);
  snprintf(out->update_trusted_root, sizeof out->update_trusted_root, "%s",
           cfg->update_trusted_root);
  snprintf(out->update_release_key_pem, sizeof out->update_release_key_pem, "%s",
           cfg->update_release_key_pem);
  out->n_sources = cfg->n_sources;
  out->batch_max_records = cfg->batch_max_records;
  out->batch_max_bytes = cfg->batch_max_bytes;
  out->batch_max_age_ms = cfg->batch_max_age_ms;
  out->poll_interval_ms = cfg->poll_interval_ms;
  out->request_timeout_ms = cfg->request_timeout_ms;
  out->retry_base_ms = cfg->retry_base_ms;
  out->retry_max_ms = cfg->retry_max_ms;
  out->unreadable_summary_ms = cfg->unreadable_summary_ms;
  out->checkin_interval_ms = cfg->checkin_interval_ms;
  out->spool_quota_bytes = cfg->spool_quota_bytes;
  out->backpressure_max_ms = cfg->backpressure_max_ms;
  out->zstd_level = cfg->zstd_level;
  out->log_level = cfg->log_level;
  out->update_enabled = cfg->update_enabled;
  out->update_check_interval_ms = cfg->update_check_interval_ms;
  out->update_first_check_ms = cfg->update_first_check_ms;
  out->update_max_binary_bytes = cfg->update_max_binary_bytes;
}

int agent_open(const agent_config *cfg, const os_shim *os, const net_shim *net, agent **out,
               char *err, size_t err_cap) {
  *out = NULL;
  char scratch[8];
  if (!err) {
    err = scratch;
    err_cap = sizeof scratch;
  }
  err[0] = 0;
  agent *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, err_cap, "out of memory");
    return AGENT_ENOMEM;
  }
  settings_from(&a->cfg, cfg);
  a->os = os;
  a->net = net;
  a->z = wire_zctx_new(); /* NULL only costs speed */
  a->tb = &a->own_tb;
  a->z_owned = 1;
  int ret = AGENT_ESTATE;
  a->done.body = malloc(WIRE_MAX_JSON_REPLY + 1);
  a->done.body_cap = WIRE_MAX_JSON_REPLY;
  a->ship_cap = cfg->ship_window >= 1 && cfg->ship_window <= CONFIG_SHIP_WINDOW_MAX
                    ? cfg->ship_window
                    : CONFIG_SHIP_WINDOW_DEFAULT;
  a->ship_limit = 1;
  a->ship = calloc((size_t)a->ship_cap, sizeof *a->ship);
  a->ship_bodies = malloc((size_t)a->ship_cap * (AGENT_INGEST_REPLY_MAX + 1));
  if (a->ship && a->ship_bodies)
    for (int i = 0; i < a->ship_cap; i++) {
      a->ship[i].a = a;
      a->ship[i].done.body = a->ship_bodies + (size_t)i * (AGENT_INGEST_REPLY_MAX + 1);
      a->ship[i].done.body_cap = AGENT_INGEST_REPLY_MAX;
    }
  if (!a->done.body || !a->ship || !a->ship_bodies ||
      tail_buffers_init(&a->own_tb, (size_t)cfg->read_chunk_bytes, (size_t)cfg->max_line_bytes) !=
          0) {
    snprintf(err, err_cap, "out of memory");
    ret = AGENT_ENOMEM;
    goto fail;
  }
  if (perm_assert(os, cfg->state_dir, a->drift, &a->n_drift, err, err_cap) != PERM_OK) goto fail;
  int rc = files_ensure_dir(os, cfg->state_dir, 0700);
  if (rc != OS_OK) {
    snprintf(err, err_cap, "state_dir %s: %s", cfg->state_dir, files_strerror(rc));
    goto fail;
  }
  if (ident_load(&a->id, os, cfg->state_dir, err, err_cap) != IDENT_OK) goto fail;
  if (agent__ident_start(a, err, err_cap) != 0) goto fail;
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, cfg->state_dir, "spool.db") != OS_OK) {
    snprintf(err, err_cap, "state_dir: path too long");
    goto fail;
  }
  if (spool_open(os, path, &a->sp, err, err_cap) != SPOOL_OK) goto fail;
  spool_limits lim = {cfg->spool_quota_bytes, cfg->spool_floor_pct, cfg->spool_floor_max_bytes};
  if (spool_set_limits(a->sp, &lim) != SPOOL_OK) {
    snprintf(err, err_cap, "spool_quota_bytes/spool_floor_*: %s", spool_errmsg(a->sp));
    ret = AGENT_ECONFIG;
    goto fail;
  }
  a->bp_since = INT64_MIN;
  a->shed_hold_until = INT64_MIN;
  caps_base_from_config(cfg, &a->caps_base);
  caps_bucket_init(&a->bucket, 0, 0);
  caps_mem_init(&a->mem);
  a->caps_version = -1;
  if (pstate_open(cfg, os, &a->ps) != PSTATE_OK) {
    snprintf(err, err_cap, "out of memory");
    ret = AGENT_ENOMEM;
    goto fail;
  }
  /* The compiled-in deny list wins over the local config too (issue #5):
   * a denied source is dropped, said once, never opened. */
  policy_limits *own = &a->src_limits;
  own->n_roots = 1;
  memcpy(own->roots[0], "/", 2);
  snprintf(own->state_dir, sizeof own->state_dir, "%s", cfg->state_dir);
  a->sources = calloc(cfg->n_sources > 0 ? (size_t)cfg->n_sources : 1, sizeof *a->sources);
  if (!a->sources) {
    snprintf(err, err_cap, "out of memory");
    ret = AGENT_ENOMEM;
    goto fail;
  }
  int kept = 0;
  for (int i = 0; i < cfg->n_sources; i++) {
    char why[POLICY_ERR_MAX];
#ifndef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
    char lex[POLICY_PATH_MAX];
    const char *rule = NULL;
    if (policy_normalize(cfg->sources[i].path, lex, sizeof lex) == POLICY_OK &&
        policy_denied(lex, &rule)) {
      /* The configured name itself is denied: dropped for good. */
      agent__log(a, OS_LOG_ERROR,
                 "source %s refused: denied by compiled-in rule \"%s\" (never opened)",
                 cfg->sources[i].path, rule);
      continue;
    }
    /* Resolving to a denied file now (a symlink, perhaps swapped in just
     * before this start) is said, and the source kept: guard_open refuses
     * it at every check until it is a plain file again, so an attacker who
     * times a swap with a restart cannot switch the source off. */
    if (policy_check_path(own, os, cfg->sources[i].path, NULL, 0, why, sizeof why) ==
        POLICY_EDENIED)
      agent__log(a, OS_LOG_ERROR, "source %s refused: %s (never opened)", cfg->sources[i].path,
                 why);
#endif
    tail_source *t = &a->sources[kept];
    /* Fixed now: the directories as the administrator laid them out, the
     * file itself never a symlink; every read re-checks it (core/guard.h). */
    if (guard_canonical(os, cfg->sources[i].path, t->open_path, sizeof t->open_path) != GUARD_OK) {
      agent__log(a, OS_LOG_ERROR, "source %s refused: path too long once resolved",
                 cfg->sources[i].path);
      continue;
    }
    (void)why;
    memcpy(t->path, cfg->sources[i].path, sizeof t->path);
    t->start = cfg->sources[i].start;
    t->guard = own;
    kept++;
  }
  a->cfg.n_sources = kept;
  /* Times start at the first step: the driver's clock is the only clock. */
  a->next_poll = INT64_MIN;
  a->retry_at = INT64_MIN;
  a->pending_since = INT64_MIN;
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  a->flush_now = sc.spooled > 0; /* a backlog from before the restart ships at once */
  agent__log(a, OS_LOG_INFO, "agent %s started: %s, %lld records spooled",
             a->id.enrolled ? a->id.agent_id : "(not enrolled)", cfg->state_dir,
             (long long)sc.spooled);
  agent__update_open(a);
  *out = a;
  return AGENT_OK;
fail:
  agent_close(a);
  return ret;
}

void agent_get_stats(const agent *a, agent_stats *out) {
  *out = a->st;
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  out->state = a->refused           ? AGENT_STATE_REFUSED
               : !a->id.enrolled    ? AGENT_STATE_ENROLLING
               : !a->have_session   ? AGENT_STATE_SESSION
                                    : AGENT_STATE_RUNNING;
  memcpy(out->agent_id, a->id.enrolled ? a->id.agent_id : "", a->id.enrolled ? 33 : 1);
  if (a->revoked) out->state = AGENT_STATE_REVOKED;
  if (a->rekey) out->state = AGENT_STATE_REENROLLING;
  memcpy(out->cloned_from, a->id.cloned_from, sizeof out->cloned_from);
  out->produced = sc.next_seq - 1;
  out->acked = sc.acked;
  out->shed = sc.shed;
  out->shed_bytes = sc.shed_bytes;
  out->shed_reported = sc.shed_reported;
  out->spool_bytes = sc.bytes;
  out->backpressured = a->bp_since != INT64_MIN;
  out->spooled = sc.spooled;
  out->spool_first_seq = sc.first_seq;
  out->next_seq = sc.next_seq;
  out->ingest_in_flight = a->ship_sent;
}

void agent_note_step(agent *a, int64_t took_ms, int64_t cpu_ms) {
  if (took_ms > a->st.step_max_ms) a->st.step_max_ms = took_ms;
  if (cpu_ms > a->st.step_max_cpu_ms) a->st.step_max_cpu_ms = cpu_ms;
  if (took_ms > AGENT_STEP_SLOW_MS) a->st.steps_slow++;
}

void agent_close(agent *a) {
  if (!a) return;
  if (a->req_id && a->net) a->net->cancel(a->net->ctx, a->req_id);
  for (int i = 0; i < a->ship_count; i++) {
    agent__flight *fl = agent__flight_at(a, i);
    if (fl->state == AGENT_FL_SENT && fl->req_id && a->net) a->net->cancel(a->net->ctx, fl->req_id);
  }
  update_close(a->upd);
  spool_close(a->sp);
  pstate_close(a->ps);
  if (a->sources)
    for (int i = 0; i < a->cfg.n_sources; i++) tail_source_release(&a->sources[i]);
  free(a->sources);
  tail_buffers_free(&a->own_tb); /* a lent set is the lender's */
  free(a->done.body);
  free(a->ship);
  free(a->ship_bodies);
  if (a->z_owned) wire_zctx_free(a->z);
  volatile uint8_t *nk = a->next_id.key;
  for (size_t i = 0; i < sizeof a->next_id.key; i++) nk[i] = 0;
  /* The session key is a secret: do not leave it in freed memory. */
  volatile uint8_t *k = a->session_key;
  for (size_t i = 0; i < sizeof a->session_key; i++) k[i] = 0;
  free(a);
}

void agent_set_zctx(agent *a, wire_zctx *z) {
  if (!a) return;
  if (a->z_owned) wire_zctx_free(a->z);
  a->z = z;
  a->z_owned = 0;
}

int agent_lend_tail_buffers(agent *a, tail_buffers *tb) {
  if (!a || !tb || !tb->chunk || tb->chunk_cap != a->tb->chunk_cap || tb->max_line != a->tb->max_line)
    return AGENT_EINVAL;
  if (tb != &a->own_tb) tail_buffers_free(&a->own_tb);
  a->tb = tb;
  return AGENT_OK;
}

void agent_policy_info(const agent *a, pstate_info *out) { pstate_get_info(a->ps, out); }

int64_t agent_last_contact_ms(const agent *a) { return a->last_contact_wall; }

void agent_set_sandbox_status(agent *a, const char *landlock, const char *seccomp) {
  if (landlock) snprintf(a->sandbox_landlock, sizeof a->sandbox_landlock, "%s", landlock);
  if (seccomp) snprintf(a->sandbox_seccomp, sizeof a->sandbox_seccomp, "%s", seccomp);
}

void agent_sandbox_status(const agent *a, char *landlock, char *seccomp) {
  memcpy(landlock, a->sandbox_landlock, AGENT_SANDBOX_MAX);
  memcpy(seccomp, a->sandbox_seccomp, AGENT_SANDBOX_MAX);
}
