/* The agent's state machine against a scripted network: the test plays the
 * cloud's part one reply at a time and checks what the agent sends and does:
 * proof of possession at enrollment, challenge signature, per-request HMAC,
 * zstd NDJSON batches, back-off with Retry-After, session renewal, refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "common/crypto.h"
#include "common/wire.h"
#include "core/agent.h"
#include "posix/os_posix.h"

/* ---- a scripted net shim: requests wait until the test answers ---------- */
typedef struct sent {
  char method[8];
  char url[256];
  char headers[NET_MAX_HEADERS][2][128];
  size_t n_headers;
  uint8_t *body;
  size_t body_len;
  net_done_fn done;
  void *user;
  uint64_t id;
} sent;

#define SN_MORE 16

/* cur is the oldest request waiting for its answer; with the shipping
 * window open (issue #14) later ones wait in more[], oldest first. */
typedef struct script_net {
  sent cur;
  int have;
  sent more[SN_MORE];
  int n_more;
  int max_pending; /* 0 or 1: one request at a time, as the window of 1 promises */
  uint64_t next_id;
  int requests;
} script_net;

static int sn_request(void *ctx, const net_request *req, net_done_fn done, void *user,
                      uint64_t *id) {
  script_net *n = ctx;
  int cap = n->max_pending > 1 ? n->max_pending : 1;
  if (n->have + n->n_more >= cap || n->n_more >= SN_MORE) return NET_EBUSY;
  sent s;
  memset(&s, 0, sizeof s);
  snprintf(s.method, sizeof s.method, "%s", req->method);
  snprintf(s.url, sizeof s.url, "%s", req->url);
  for (size_t i = 0; i < req->n_headers; i++) {
    snprintf(s.headers[i][0], 128, "%s", req->headers[i].name);
    snprintf(s.headers[i][1], 128, "%s", req->headers[i].value);
  }
  s.n_headers = req->n_headers;
  s.body = malloc(req->body_len + 1);
  if (req->body_len) memcpy(s.body, req->body, req->body_len);
  s.body[req->body_len] = 0;
  s.body_len = req->body_len;
  s.done = done;
  s.user = user;
  s.id = *id = ++n->next_id;
  if (n->have) {
    n->more[n->n_more++] = s;
  } else {
    n->cur = s;
    n->have = 1;
  }
  n->requests++;
  return NET_OK;
}

/* Removes pending request k (0: cur) and returns it; the next moves up. */
static sent sn_take(script_net *n, int k) {
  sent s = k > 0 ? n->more[k - 1] : n->cur;
  if (k == 0) {
    n->have = n->n_more > 0;
    if (!n->have) {
      memset(&n->cur, 0, sizeof n->cur);
      return s;
    }
    n->cur = n->more[0];
    k = 1;
  }
  for (int i = k; i < n->n_more; i++) n->more[i - 1] = n->more[i];
  n->n_more--;
  memset(&n->more[n->n_more], 0, sizeof n->more[0]); /* no stale copy of a body pointer */
  return s;
}

static void sn_cancel(void *ctx, uint64_t id) {
  script_net *n = ctx;
  if (n->have && n->cur.id == id) {
    sent s = sn_take(n, 0);
    free(s.body);
    return;
  }
  for (int k = 0; k < n->n_more; k++)
    if (n->more[k].id == id) {
      sent s = sn_take(n, k + 1);
      free(s.body);
      return;
    }
}

static const char *hdr(const sent *s, const char *name) {
  for (size_t i = 0; i < s->n_headers; i++)
    if (strcasecmp(s->headers[i][0], name) == 0) return s->headers[i][1];
  return NULL;
}

/* Answers pending request k (0: the oldest); the body (JSON text) and an
 * optional header. */
static void reply_to(script_net *n, int k, int error, int status, const char *body,
                     const char *hname, const char *hvalue) {
  assert_true(n->have);
  assert_true(k <= n->n_more);
  net_header h = {hname, hvalue};
  net_response r = {.error = error,
                    .status = status,
                    .body = (const uint8_t *)(body ? body : ""),
                    .body_len = body ? strlen(body) : 0,
                    .headers = &h,
                    .n_headers = hname ? 1 : 0,
                    .error_text = error ? "scripted failure" : ""};
  sent s = sn_take(n, k);
  s.done(s.user, &r);
  free(s.body);
}

static void reply(script_net *n, int error, int status, const char *body, const char *hname,
                  const char *hvalue) {
  reply_to(n, 0, error, status, body, hname, hvalue);
}

/* ---- fixture -------------------------------------------------------------- */
typedef struct fx {
  os_posix px;
  os_shim os;
  script_net sn;
  net_shim net;
  char dir[64];
  char log[128];
  agent_config cfg;
  agent *a;
  int64_t now;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  os_posix_options o;
  os_posix_options_init(&o);
  o.log_level = OS_LOG_ERROR;
  os_posix_init(&f->os, &f->px, &o);
  f->net = (net_shim){&f->sn, sn_request, sn_cancel};
  snprintf(f->dir, sizeof f->dir, "/tmp/outpost-agent-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->log, sizeof f->log, "%s/app.log", f->dir);
  config_defaults(&f->cfg);
  snprintf(f->cfg.cloud_url, sizeof f->cfg.cloud_url, "https://cloud.test");
  snprintf(f->cfg.ca_file, sizeof f->cfg.ca_file, "/dev/null");
  snprintf(f->cfg.enrollment_token, sizeof f->cfg.enrollment_token, "otk_test");
  snprintf(f->cfg.state_dir, sizeof f->cfg.state_dir, "%s/state", f->dir);
  snprintf(f->cfg.sources[0].path, sizeof f->cfg.sources[0].path, "%s", f->log);
  f->cfg.sources[0].start = CONFIG_START_BEGINNING;
  f->cfg.n_sources = 1;
  f->cfg.log_level = OS_LOG_ERROR;
  f->cfg.checkin_interval_ms = 24 * 3600 * 1000LL; /* tests that want one ask for it */
  /* One request at a time, as the scripted cloud answers them; the window's
   * own tests open it (and the scripted net with it). */
  f->cfg.ship_window = 1;
  f->now = 1000000;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  agent_close(f->a);
  if (f->sn.have) free(f->sn.cur.body);
  for (int k = 0; k < f->sn.n_more; k++) free(f->sn.more[k].body);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  int rc = system(cmd);
  free(f);
  return rc == 0 ? 0 : -1;
}

static int64_t step(fx *f) { return agent_step(f->a, f->now); }

static void open_agent(fx *f) {
  char err[256];
  int rc = agent_open(&f->cfg, &f->os, &f->net, &f->a, err, sizeof err);
  if (rc != AGENT_OK) fail_msg("agent_open: %s", err);
}

static void b64(const uint8_t *in, size_t n, char *out, size_t cap) {
  size_t len;
  assert_int_equal(crypto_b64_encode(in, n, out, cap, &len), CRYPTO_OK);
}

#define RATCHET1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Checks the pending request is an authentic check-in presenting `presents`,
 * answers it with ratchet_next = next. */
static void answer_checkin(fx *f, const uint8_t key[32], const char *presents, const char *next) {
  step(f);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/checkin");
  const char *t = hdr(&f->sn.cur, WIRE_HDR_TIME), *mac = hdr(&f->sn.cur, WIRE_HDR_SIGNATURE);
  const char *inst = hdr(&f->sn.cur, WIRE_HDR_INSTANCE), *rat = hdr(&f->sn.cur, WIRE_HDR_RATCHET);
  assert_non_null(t);
  assert_non_null(inst);
  assert_non_null(rat);
  assert_string_equal(rat, presents);
  char want[65];
  wire_request_mac(key, 32, "POST", "/v1/checkin", strtoll(t, NULL, 10), f->sn.cur.body,
                   f->sn.cur.body_len, inst, rat, want);
  assert_string_equal(mac, want);
  cJSON *b = cJSON_Parse((const char *)f->sn.cur.body);
  assert_true(cJSON_IsNumber(cJSON_GetObjectItem(b, "fingerprint_score")));
  assert_true(cJSON_IsArray(cJSON_GetObjectItem(b, "drift")));
  cJSON_Delete(b);
  char body[128];
  snprintf(body, sizeof body, "{\"ratchet_next\":\"%s\"}", next);
  reply(&f->sn, 0, 200, body, "Date", "Sat, 29 Nov 2025 00:00:00 GMT");
}

/* Plays enrollment and session; returns the session key handed out. */
static void enroll_and_open_session(fx *f, uint8_t key[32]) {
  step(f);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/enroll");
  /* Proof of possession: the body is signed by the key it announces. */
  cJSON *b = cJSON_Parse((const char *)f->sn.cur.body);
  const char *pub_b64 = cJSON_GetObjectItem(b, "public_key")->valuestring;
  assert_string_equal(cJSON_GetObjectItem(b, "token")->valuestring, "otk_test");
  uint8_t pub[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX];
  size_t pub_len, sig_len;
  assert_int_equal(crypto_b64_decode(pub_b64, strlen(pub_b64), pub, sizeof pub, &pub_len), 0);
  const char *proof = hdr(&f->sn.cur, WIRE_HDR_PROOF);
  assert_non_null(proof);
  assert_int_equal(crypto_b64_decode(proof, strlen(proof), sig, sizeof sig, &sig_len), 0);
  assert_int_equal(crypto_ec_verify(pub, pub_len, f->sn.cur.body, f->sn.cur.body_len, sig, sig_len),
                   CRYPTO_OK);
  cJSON_Delete(b);
  reply(&f->sn, 0, 201, "{\"agent_id\":\"0123456789abcdef0123456789abcdef\",\"workspace\":\"ws\"}",
        NULL, NULL);
  step(f);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/challenge");
  reply(&f->sn, 0, 200, "{\"challenge\":\"Y2hhbGxlbmdl\",\"expires_in_s\":60}", NULL, NULL);
  step(f);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/session");
  b = cJSON_Parse((const char *)f->sn.cur.body);
  const char *sig_b64 = cJSON_GetObjectItem(b, "signature")->valuestring;
  assert_int_equal(crypto_b64_decode(sig_b64, strlen(sig_b64), sig, sizeof sig, &sig_len), 0);
  char msg[256];
  const char *inst = cJSON_GetObjectItem(b, "instance")->valuestring;
  assert_true(wire_is_hex_id(inst));
  int mlen = wire_session_message("0123456789abcdef0123456789abcdef", "Y2hhbGxlbmdl", inst, msg,
                                  sizeof msg);
  assert_int_equal(crypto_ec_verify(pub, pub_len, msg, (size_t)mlen, sig, sig_len), CRYPTO_OK);
  cJSON_Delete(b);
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
  char key_b64[64], body[256];
  b64(key, 32, key_b64, sizeof key_b64);
  snprintf(body, sizeof body,
           "{\"session_id\":\"s1\",\"session_key\":\"%s\",\"expires_in_s\":3600}", key_b64);
  reply(&f->sn, 0, 200, body, NULL, NULL);
  answer_checkin(f, key, "none", RATCHET1);
}

static void write_lines(fx *f, int from, int to) {
  FILE *fp = fopen(f->log, "a");
  for (int i = from; i < to; i++) fprintf(fp, "event %d\n", i);
  fclose(fp);
}

typedef struct seen {
  int n;
  int64_t first;
} seen;

static int count_rec(void *user, const wire_record *r) {
  seen *s = user;
  if (s->n == 0) s->first = r->seq;
  s->n++;
  return 0;
}

/* Checks the pending ingest request is authentic and returns its record count. */
static int check_ingest(fx *f, const uint8_t key[32], int64_t *first, int64_t *last) {
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/ingest");
  const char *t = hdr(&f->sn.cur, WIRE_HDR_TIME), *mac = hdr(&f->sn.cur, WIRE_HDR_SIGNATURE);
  assert_non_null(t);
  assert_non_null(mac);
  assert_string_equal(hdr(&f->sn.cur, WIRE_HDR_SESSION), "s1");
  char want[65];
  const char *inst = hdr(&f->sn.cur, WIRE_HDR_INSTANCE), *rat = hdr(&f->sn.cur, WIRE_HDR_RATCHET);
  assert_non_null(inst);
  assert_non_null(rat);
  wire_request_mac(key, 32, "POST", "/v1/ingest", strtoll(t, NULL, 10), f->sn.cur.body,
                   f->sn.cur.body_len, inst, rat, want);
  assert_string_equal(mac, want);
  *first = strtoll(hdr(&f->sn.cur, WIRE_HDR_FIRST_SEQ), NULL, 10);
  *last = strtoll(hdr(&f->sn.cur, WIRE_HDR_LAST_SEQ), NULL, 10);
  seen s = {0};
  char err[128];
  assert_int_equal(wire_batch_decode(f->sn.cur.body, f->sn.cur.body_len, *first, *last, count_rec,
                                     &s, err, sizeof err),
                   WIRE_OK);
  return s.n;
}

/* Answers the policy fetch that opens every session (issue #5): authentic
 * GET, and "no policy set". */
static void answer_policy_fetch(fx *f, const uint8_t key[32]) {
  step(f);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/policy");
  const char *t = hdr(&f->sn.cur, WIRE_HDR_TIME), *mac = hdr(&f->sn.cur, WIRE_HDR_SIGNATURE);
  assert_non_null(t);
  char want[65];
  wire_request_mac(key, 32, "GET", "/v1/policy", strtoll(t, NULL, 10), NULL, 0,
                   hdr(&f->sn.cur, WIRE_HDR_INSTANCE), hdr(&f->sn.cur, WIRE_HDR_RATCHET), want);
  assert_string_equal(mac, want);
  reply(&f->sn, 0, 404, "{\"error\":\"no_policy\",\"message\":\"none set\"}", NULL, NULL);
}

static void ships_with_auth_and_backs_off(void **state) {
  fx *f = *state;
  write_lines(f, 0, 25);
  open_agent(f);
  uint8_t key[32];
  enroll_and_open_session(f, key);
  answer_policy_fetch(f, key);
  /* Identity is on disk, private. */
  char path[1200];
  struct stat st;
  snprintf(path, sizeof path, "%s/identity.json", f->cfg.state_dir);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(stat(f->cfg.state_dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);

  /* Records wait for the batch age, then ship. */
  int64_t d = step(f);
  assert_false(f->sn.have);
  assert_true(d <= f->now + f->cfg.batch_max_age_ms);
  f->now += f->cfg.batch_max_age_ms;
  step(f);
  assert_true(f->sn.have);
  int64_t first, last;
  assert_int_equal(check_ingest(f, key, &first, &last), 25);
  assert_int_equal(first, 1);
  assert_int_equal(last, 25);

  /* 503 with Retry-After: 7 -> nothing resent before 7 s. */
  reply(&f->sn, 0, 503, "{\"error\":\"unavailable\",\"message\":\"later\"}", "Retry-After", "7");
  int64_t t503 = f->now;
  /* Step at every deadline the agent asks for: polls happen, sends do not. */
  for (int i = 0; i < 100 && f->now < t503 + 6999; i++) {
    d = step(f);
    assert_false(f->sn.have);
    f->now = d < t503 + 6999 ? d : t503 + 6999;
  }
  step(f);
  assert_false(f->sn.have);
  f->now = t503 + 7000;
  step(f);
  assert_true(f->sn.have);
  assert_int_equal(check_ingest(f, key, &first, &last), 25);

  /* A 200 that does not acknowledge the batch keeps it. */
  reply(&f->sn, 0, 200, "{\"nonsense\":true}", NULL, NULL);
  agent_stats s;
  agent_get_stats(f->a, &s);
  step(f);
  agent_get_stats(f->a, &s);
  assert_int_equal(s.spooled, 25);
  assert_int_equal(s.acked, 0);
  f->now += f->cfg.retry_max_ms;
  step(f);
  assert_true(f->sn.have);
  reply(&f->sn, 0, 200, "{\"acked_through\":25,\"stored\":25,\"duplicates\":0}", NULL, NULL);
  step(f);
  agent_get_stats(f->a, &s);
  assert_int_equal(s.spooled, 0);
  assert_int_equal(s.acked, 25);
  assert_int_equal(s.produced, 25);
  assert_int_equal(s.state, AGENT_STATE_RUNNING);

  /* An expired session: the agent opens a new one and re-sends. */
  write_lines(f, 25, 30);
  f->now += f->cfg.poll_interval_ms + f->cfg.batch_max_age_ms;
  step(f);
  f->now += f->cfg.batch_max_age_ms;
  step(f);
  assert_true(f->sn.have);
  reply(&f->sn, 0, 401, "{\"error\":\"session_expired\",\"message\":\"expired\"}", NULL, NULL);
  step(f);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/challenge");
  /* Transport failures are retried, never fatal. */
  reply(&f->sn, NET_ECONNECT, 0, NULL, NULL, NULL);
  d = step(f);
  assert_false(f->sn.have);
  agent_get_stats(f->a, &s);
  assert_int_equal(s.state, AGENT_STATE_SESSION);
  assert_int_equal(s.spooled, 5);
}

static int self_rec(void *user, const wire_record *r) {
  assert_string_equal(r->source, AGENT_SELF_SOURCE);
  assert_string_equal(r->line, "{\"outpost\":\"probation\",\"version\":\"9.9.9\"}");
  (*(int *)user)++;
  return 0;
}

/* agent_self_record: the agent's own event goes through the spool and ships
 * like any record, with source "outpost" (main.c announces a version on
 * probation with it, so a host with no logs still ships something). */
static void self_record_ships(void **state) {
  fx *f = *state;
  open_agent(f);
  assert_int_equal(agent_self_record(f->a, NULL), AGENT_ECONFIG);
  assert_int_equal(agent_self_record(f->a, ""), AGENT_ECONFIG);
  assert_int_equal(agent_self_record(f->a, "two\nlines"), AGENT_ECONFIG);
  char big[1100];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_int_equal(agent_self_record(f->a, big), AGENT_ECONFIG);
  assert_int_equal(agent_self_record(f->a, "{\"outpost\":\"probation\",\"version\":\"9.9.9\"}"),
                   AGENT_OK);
  uint8_t key[32];
  enroll_and_open_session(f, key);
  answer_policy_fetch(f, key);
  step(f);
  f->now += f->cfg.batch_max_age_ms;
  step(f);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/ingest");
  int64_t first = strtoll(hdr(&f->sn.cur, WIRE_HDR_FIRST_SEQ), NULL, 10);
  int64_t last = strtoll(hdr(&f->sn.cur, WIRE_HDR_LAST_SEQ), NULL, 10);
  assert_int_equal(first, 1);
  assert_int_equal(last, 1); /* the log is empty: the one record is the agent's */
  int n = 0;
  char err[128];
  assert_int_equal(wire_batch_decode(f->sn.cur.body, f->sn.cur.body_len, first, last, self_rec, &n,
                                     err, sizeof err),
                   WIRE_OK);
  assert_int_equal(n, 1);
}

static void refused_enrollment_backs_off_for_long(void **state) {
  fx *f = *state;
  open_agent(f);
  step(f);
  assert_true(f->sn.have);
  reply(&f->sn, 0, 403, "{\"error\":\"unknown_token\",\"message\":\"no such token\"}", NULL, NULL);
  int64_t d = step(f);
  assert_false(f->sn.have);
  agent_stats s;
  agent_get_stats(f->a, &s);
  assert_int_equal(s.state, AGENT_STATE_REFUSED);
  assert_non_null(strstr(s.last_error, "unknown_token"));
  /* It keeps collecting (polls) but does not hammer the cloud. */
  for (int i = 0; i < 100; i++) {
    f->now = d;
    d = step(f);
    assert_false(f->sn.have && i < 50 && f->now < 1000000 + 3600 * 1000LL);
    if (f->sn.have) break;
  }
  assert_int_equal(f->sn.requests, 1);
}

static void identity_survives_restart(void **state) {
  fx *f = *state;
  open_agent(f);
  uint8_t key[32];
  enroll_and_open_session(f, key);
  agent_close(f->a);
  f->a = NULL;
  open_agent(f);
  step(f);
  assert_true(f->sn.have);
  /* Enrolled already: straight to a session, no second enrollment. */
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/challenge");
}

static void corrupt_identity_refuses_to_start(void **state) {
  fx *f = *state;
  open_agent(f);
  agent_close(f->a);
  f->a = NULL;
  char path[1200];
  snprintf(path, sizeof path, "%s/identity.json", f->cfg.state_dir);
  FILE *fp = fopen(path, "w");
  fputs("{\"agent_id\":42}", fp);
  fclose(fp);
  char err[256];
  assert_int_equal(agent_open(&f->cfg, &f->os, &f->net, &f->a, err, sizeof err), AGENT_ESTATE);
  assert_null(f->a);
  assert_non_null(strstr(err, "identity.json: malformed"));
}


/* 409 clone_detected: the agent re-enrolls as a new identity, the new key
 * proves possession, the old key vouches for the clone report, and the
 * spooled records then ship under the new identity after a check-in. */
static void clone_verdict_reenrolls(void **state) {
  fx *f = *state;
  write_lines(f, 0, 5);
  open_agent(f);
  uint8_t key[32];
  enroll_and_open_session(f, key);
  answer_policy_fetch(f, key);
  step(f);
  agent_stats s;
  agent_get_stats(f->a, &s);
  assert_int_equal(s.checkins, 1);
  f->now += f->cfg.batch_max_age_ms + f->cfg.poll_interval_ms;
  step(f);
  f->now += f->cfg.batch_max_age_ms;
  step(f);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/ingest");
  assert_string_equal(hdr(&f->sn.cur, WIRE_HDR_RATCHET), RATCHET1);
  reply(&f->sn, 0, 409, "{\"error\":\"clone_detected\",\"message\":\"copy\"}", NULL, NULL);
  step(f);
  agent_get_stats(f->a, &s);
  assert_int_equal(s.state, AGENT_STATE_REENROLLING);
  assert_true(f->sn.have);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/enroll");
  cJSON *b = cJSON_Parse((const char *)f->sn.cur.body);
  assert_string_equal(cJSON_GetObjectItem(b, "cloned_from")->valuestring,
                      "0123456789abcdef0123456789abcdef");
  assert_string_equal(cJSON_GetObjectItem(b, "clone_reason")->valuestring, "ratchet_conflict");
  const char *pub_b64 = cJSON_GetObjectItem(b, "public_key")->valuestring;
  uint8_t pub[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX], old_pub[CRYPTO_PUB_DER_MAX];
  size_t pub_len, sig_len, old_len;
  assert_int_equal(crypto_b64_decode(pub_b64, strlen(pub_b64), pub, sizeof pub, &pub_len), 0);
  /* the old public key, from the key file still on disk */
  char kp[1200];
  snprintf(kp, sizeof kp, "%s/agent.key", f->cfg.state_dir);
  uint8_t der[CRYPTO_KEY_DER_MAX];
  FILE *fp = fopen(kp, "rb");
  size_t dl = fread(der, 1, sizeof der, fp);
  fclose(fp);
  assert_int_equal(crypto_ec_public_from_private(der, dl, old_pub, sizeof old_pub, &old_len),
                   CRYPTO_OK);
  assert_false(pub_len == old_len && memcmp(pub, old_pub, pub_len) == 0); /* a new key */
  const char *cp = hdr(&f->sn.cur, WIRE_HDR_CLONE_PROOF);
  assert_non_null(cp);
  assert_int_equal(crypto_b64_decode(cp, strlen(cp), sig, sizeof sig, &sig_len), 0);
  assert_int_equal(
      crypto_ec_verify(old_pub, old_len, f->sn.cur.body, f->sn.cur.body_len, sig, sig_len),
      CRYPTO_OK);
  cJSON_Delete(b);
  reply(&f->sn, 0, 201, "{\"agent_id\":\"fedcba9876543210fedcba9876543210\",\"workspace\":\"ws\"}",
        NULL, NULL);
  step(f);
  agent_get_stats(f->a, &s);
  assert_string_equal(s.agent_id, "fedcba9876543210fedcba9876543210");
  assert_string_equal(s.cloned_from, "0123456789abcdef0123456789abcdef");
  assert_int_equal(s.clone_reenrollments, 1);
  assert_int_equal(s.spooled, 5); /* nothing lost */
  /* The new identity is on disk with the new key: a restart keeps it. */
  agent_close(f->a);
  f->a = NULL;
  if (f->sn.have) {
    free(f->sn.cur.body);
    f->sn.have = 0;
  }
  open_agent(f);
  agent_get_stats(f->a, &s);
  assert_string_equal(s.agent_id, "fedcba9876543210fedcba9876543210");
}

static void revoked_stops_sending(void **state) {
  fx *f = *state;
  write_lines(f, 0, 3);
  open_agent(f);
  uint8_t key[32];
  enroll_and_open_session(f, key);
  answer_policy_fetch(f, key);
  f->now += 2 * f->cfg.batch_max_age_ms + f->cfg.poll_interval_ms;
  step(f);
  step(f);
  assert_true(f->sn.have);
  reply(&f->sn, 0, 403, "{\"error\":\"revoked\",\"message\":\"revoked\"}", NULL, NULL);
  int64_t d = step(f);
  agent_stats s;
  agent_get_stats(f->a, &s);
  assert_int_equal(s.state, AGENT_STATE_REVOKED);
  assert_non_null(strstr(s.last_error, "revoked"));
  int before = f->sn.requests;
  write_lines(f, 3, 6);
  for (int i = 0; i < 200 && f->now < 1000000 + 3500 * 1000LL; i++) {
    f->now = d;
    d = step(f);
    assert_false(f->sn.have);
  }
  assert_int_equal(f->sn.requests, before);
  agent_get_stats(f->a, &s);
  assert_int_equal(s.spooled, 6); /* collection goes on */
}

/* ---- issue #14: the shipping window ------------------------------------- */

static const sent *pending(fx *f, int k) { return k == 0 ? &f->sn.cur : &f->sn.more[k - 1]; }
static int in_flight(fx *f) { return f->sn.have + f->sn.n_more; }

static void range_of(fx *f, int k, int64_t *first, int64_t *last) {
  const sent *s = pending(f, k);
  assert_string_equal(s->url, "https://cloud.test/v1/ingest");
  *first = strtoll(hdr(s, WIRE_HDR_FIRST_SEQ), NULL, 10);
  *last = strtoll(hdr(s, WIRE_HDR_LAST_SEQ), NULL, 10);
}

static void expect_range(fx *f, int k, int64_t first, int64_t last) {
  int64_t a, b;
  range_of(f, k, &a, &b);
  assert_int_equal(a, first);
  assert_int_equal(b, last);
}

static void ack(fx *f, int k) {
  int64_t first, last;
  range_of(f, k, &first, &last);
  char body[128];
  int64_t stored = last - first + 1;
  snprintf(body, sizeof body, "{\"acked_through\":%lld,\"stored\":%lld,\"duplicates\":0}",
           (long long)last, (long long)stored);
  reply_to(&f->sn, k, 0, 200, body, NULL, NULL);
}

static void expect_spool(fx *f, int64_t acked, int64_t first_seq) {
  agent_stats s;
  agent_get_stats(f->a, &s);
  assert_int_equal(s.acked, acked);
  assert_int_equal(s.spool_first_seq, first_seq);
}

/* 100 lines in 10-record batches behind a window of 4, up to the first
 * ingest (the window starts at one batch). */
static void open_window(fx *f, uint8_t key[32]) {
  f->cfg.ship_window = 4;
  f->cfg.batch_max_records = 10;
  f->sn.max_pending = 16;
  write_lines(f, 0, 100);
  open_agent(f);
  enroll_and_open_session(f, key);
  answer_policy_fetch(f, key);
  step(f);
  assert_int_equal(in_flight(f), 1);
  expect_range(f, 0, 1, 10);
}

/* open_window, then the first batch acknowledged: the window doubles, and
 * 11..20 and 21..30 go together. */
static void open_window_of_two(fx *f, uint8_t key[32]) {
  open_window(f, key);
  ack(f, 0);
  step(f);
  expect_spool(f, 10, 11);
  assert_int_equal(in_flight(f), 2);
  expect_range(f, 0, 11, 20);
  expect_range(f, 1, 21, 30);
}

static void window_pipelines_and_releases_prefix(void **state) {
  fx *f = *state;
  uint8_t key[32];
  open_window_of_two(f, key);
  /* The later batch is stored first: the spool keeps everything from 11,
   * since 11..20 may still be lost. */
  ack(f, 1);
  step(f);
  expect_spool(f, 10, 11);
  /* Window 4 now, but 21..30 holds its slot until it is released: the ring
   * takes two more. */
  assert_int_equal(in_flight(f), 3);
  expect_range(f, 1, 31, 40);
  expect_range(f, 2, 41, 50);
  /* 11..20 comes back: the acknowledged prefix 11..30 leaves the spool in
   * one go, and its two slots go to the next batches. */
  ack(f, 0);
  step(f);
  expect_spool(f, 30, 31);
  assert_int_equal(in_flight(f), 4);
  expect_range(f, 2, 51, 60);
  expect_range(f, 3, 61, 70);
  agent_stats s;
  agent_get_stats(f->a, &s);
  assert_int_equal(s.ingest_in_flight, 4);
  assert_int_equal(s.ingest_in_flight_max, 4);
}

static void window_failure_retries_same_range_alone(void **state) {
  fx *f = *state;
  uint8_t key[32];
  open_window_of_two(f, key);
  /* 11..20 fails; 21..30, sent with it, is stored all the same. */
  reply_to(&f->sn, 0, 0, 503, "{\"error\":\"unavailable\",\"message\":\"later\"}",
           "Retry-After", "3");
  int64_t t503 = f->now;
  step(f);
  ack(f, 0);
  step(f);
  expect_spool(f, 10, 11);
  assert_int_equal(in_flight(f), 0);
  /* Nothing before the Retry-After, though 70 records wait. */
  for (int i = 0; i < 100 && f->now < t503 + 2999; i++) {
    int64_t d = step(f);
    assert_int_equal(in_flight(f), 0);
    f->now = d < t503 + 2999 ? d : t503 + 2999;
  }
  /* Then the failed batch alone, the very same range: the window starts
   * again at one. */
  f->now = t503 + 3000;
  step(f);
  assert_int_equal(in_flight(f), 1);
  expect_range(f, 0, 11, 20);
  ack(f, 0);
  step(f);
  expect_spool(f, 30, 31);
  assert_int_equal(in_flight(f), 2);
  expect_range(f, 0, 31, 40);
  expect_range(f, 1, 41, 50);
}

/* A session lost under a full window: the new session waits until every
 * batch out has come back, and the failed batches go again under it. */
static void window_drains_before_a_new_session(void **state) {
  fx *f = *state;
  uint8_t key[32];
  open_window_of_two(f, key);
  const char *expired = "{\"error\":\"session_expired\",\"message\":\"expired\"}";
  reply_to(&f->sn, 0, 0, 401, expired, NULL, NULL);
  step(f);
  assert_int_equal(in_flight(f), 1);
  expect_range(f, 0, 21, 30); /* still out: no challenge beside it */
  reply_to(&f->sn, 0, 0, 401, expired, NULL, NULL);
  step(f);
  assert_int_equal(in_flight(f), 1);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/challenge");
}

/* A restarted agent finds a backlog its predecessor read: the records
 * behind the last full batch have no age, and go at once (before, they
 * waited for an age counted again from "now" at every step, for ever:
 * integration_kill_storm found it). */
static void window_restart_ships_whole_backlog(void **state) {
  fx *f = *state;
  uint8_t key[32];
  f->cfg.ship_window = 4;
  f->cfg.batch_max_records = 10;
  f->sn.max_pending = 16;
  write_lines(f, 0, 25);
  open_agent(f);
  enroll_and_open_session(f, key);
  answer_policy_fetch(f, key);
  step(f);
  assert_int_equal(in_flight(f), 1);
  agent_close(f->a); /* killed with 1..10 out: its reply never comes */
  f->a = NULL;
  assert_int_equal(in_flight(f), 0);
  open_agent(f);
  step(f);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/challenge");
  reply(&f->sn, 0, 200, "{\"challenge\":\"Y2hhbGxlbmdl\",\"expires_in_s\":60}", NULL, NULL);
  step(f);
  assert_string_equal(f->sn.cur.url, "https://cloud.test/v1/session");
  char key_b64[64], body[256];
  b64(key, 32, key_b64, sizeof key_b64);
  snprintf(body, sizeof body,
           "{\"session_id\":\"s1\",\"session_key\":\"%s\",\"expires_in_s\":3600}", key_b64);
  reply(&f->sn, 0, 200, body, NULL, NULL);
  answer_checkin(f, key, RATCHET1, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  answer_policy_fetch(f, key);
  step(f);
  assert_int_equal(in_flight(f), 1);
  expect_range(f, 0, 1, 10);
  ack(f, 0);
  step(f);
  /* 11..20, and the 5 behind it at once, without waiting for any age. */
  assert_int_equal(in_flight(f), 2);
  expect_range(f, 0, 11, 20);
  expect_range(f, 1, 21, 25);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(ships_with_auth_and_backs_off, setup, teardown),
      cmocka_unit_test_setup_teardown(self_record_ships, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_enrollment_backs_off_for_long, setup, teardown),
      cmocka_unit_test_setup_teardown(identity_survives_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(corrupt_identity_refuses_to_start, setup, teardown),
      cmocka_unit_test_setup_teardown(clone_verdict_reenrolls, setup, teardown),
      cmocka_unit_test_setup_teardown(revoked_stops_sending, setup, teardown),
      cmocka_unit_test_setup_teardown(window_pipelines_and_releases_prefix, setup, teardown),
      cmocka_unit_test_setup_teardown(window_failure_retries_same_range_alone, setup, teardown),
      cmocka_unit_test_setup_teardown(window_drains_before_a_new_session, setup, teardown),
      cmocka_unit_test_setup_teardown(window_restart_ships_whole_backlog, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
