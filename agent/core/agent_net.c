/* agent_net.c - the agent's log, its back-off, and sending one request
 * (agent_int.h). The bottom of the agent's files: it calls none of the
 * others. The net callback (on_done) only copies the outcome into the
 * agent; agent.c's step acts on it.
 */
#include <stdarg.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/agent_int.h"
#include "core/reply.h"

#define AGENT_MAX_BACKOFF_SHIFT 30

/* ---- the log ------------------------------------------------------------ */

void agent__log(agent *a, os_log_level level, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (level >= OS_LOG_ERROR || level == OS_LOG_WARN) {
    a->st.errors += level >= OS_LOG_ERROR;
    size_t n = strnlen(msg, sizeof a->st.last_error - 1);
    memcpy(a->st.last_error, msg, n);
    a->st.last_error[n] = 0;
  }
  if ((int)level >= a->cfg.log_level && a->os->log) a->os->log(a->os->ctx, level, msg);
}

/* ---- helpers ------------------------------------------------------------ */

int64_t agent__random_below(agent *a, int64_t bound) {
  uint64_t r = 0;
  if (bound <= 0) return 0;
  if (a->os->random(a->os->ctx, &r, sizeof r) != OS_OK) return bound / 2;
  return (int64_t)(r % (uint64_t)bound);
}

/* Exponential back-off with full jitter, capped; a Retry-After wins when longer. */
void agent__backoff(agent *a, int64_t retry_after_ms) {
  int shift = a->attempt < AGENT_MAX_BACKOFF_SHIFT ? a->attempt : AGENT_MAX_BACKOFF_SHIFT;
  int64_t cap = a->cfg.retry_base_ms;
  for (int i = 0; i < shift && cap < a->cfg.retry_max_ms; i++) cap *= 2;
  if (cap > a->cfg.retry_max_ms) cap = a->cfg.retry_max_ms;
  int64_t delay = 10 + agent__random_below(a, cap);
  if (retry_after_ms > delay) delay = retry_after_ms;
  if (a->attempt < 1000) a->attempt++;
  a->retry_at = a->now + delay;
}

void agent__succeeded(agent *a) {
  a->attempt = 0;
  a->retry_at = a->now;
}

/* Describes an error reply for the log: "401 session_expired: message". */
void agent__describe_reply(const agent__completion *c, char *out, size_t cap) {
  reply_describe(c->error, c->error_text, c->status, c->body, c->body_len, out, cap);
}

int agent__code_is(const agent__completion *c, const char *code) {
  return reply_code_is(c->body, c->body_len, code);
}

/* The cloud no longer knows the session an authenticated request was signed
 * with: not a failure of the request, which goes again under a new one. */
int agent__session_lost(const agent__completion *c) {
  return c->error == NET_OK && c->status == 401 &&
         (agent__code_is(c, "session_expired") || agent__code_is(c, "unknown_session"));
}

/* ---- sending ------------------------------------------------------------ */

static void fill_completion(agent__completion *c, const net_response *r) {
  c->pending = 1;
  c->error = r->error;
  c->status = r->status;
  snprintf(c->error_text, sizeof c->error_text, "%s", r->error_text ? r->error_text : "");
  c->body_len = r->body_len <= c->body_cap ? r->body_len : c->body_cap;
  if (c->body_len) memcpy(c->body, r->body, c->body_len);
  c->body[c->body_len] = 0;
  c->date_ms = reply_http_date(net_response_header(r, "date"));
  c->retry_after_ms = reply_retry_after_ms(net_response_header(r, "retry-after"));
}

static void on_done(void *user, const net_response *r) {
  agent *a = user;
  a->req_id = 0;
  fill_completion(&a->done, r);
}

static void on_flight_done(void *user, const net_response *r) {
  agent__flight *fl = user;
  fl->req_id = 0;
  fill_completion(&fl->done, r);
}

/* Sends a request of row r (its method, path, content type; signed when the
 * row is authed) with the extra headers after those. Returns NET_OK when it
 * is in flight; otherwise the net error, logged and backed off. */
static int send_request(agent *a, const agent__req *r, agent__flight *fl, const net_header *extra,
                        size_t n_extra, const uint8_t *body, size_t body_len) {
  net_header h[NET_MAX_HEADERS];
  size_t n = 0;
  char time_text[24], mac[65];
  char url[sizeof a->url];
  const char *method = r->method, *path = r->path;
  snprintf(url, sizeof url, "%s%s", a->cfg.cloud_url, path);
  if (r->authed) {
    int64_t t = a->wall + a->time_offset_ms;
    snprintf(time_text, sizeof time_text, "%lld", (long long)t);
    wire_request_mac(a->session_key, sizeof a->session_key, method, path, t, body, body_len,
                     a->instance, a->id.ratchet, mac);
    h[n++] = (net_header){WIRE_HDR_SESSION, a->session_id};
    h[n++] = (net_header){WIRE_HDR_TIME, time_text};
    h[n++] = (net_header){WIRE_HDR_SIGNATURE, mac};
    h[n++] = (net_header){WIRE_HDR_INSTANCE, a->instance};
    h[n++] = (net_header){WIRE_HDR_RATCHET, a->id.ratchet};
  }
  if (r->content_type) h[n++] = (net_header){"Content-Type", r->content_type};
  for (size_t i = 0; i < n_extra && n < NET_MAX_HEADERS; i++) h[n++] = extra[i];
  net_request req = {
      .method = method,
      .url = url,
      .headers = h,
      .n_headers = n,
      .body = body,
      .body_len = body_len,
      .timeout_ms = a->cfg.request_timeout_ms,
      .max_response_bytes = WIRE_MAX_JSON_REPLY,
  };
  uint64_t id = 0;
  int rc = fl ? a->net->request(a->net->ctx, &req, on_flight_done, fl, &id)
              : a->net->request(a->net->ctx, &req, on_done, a, &id);
  if (rc != NET_OK) {
    agent__log(a, OS_LOG_WARN, "%s request not sent: net error %d", r->name, rc);
    agent__backoff(a, 0);
    return rc;
  }
  if (fl) {
    fl->state = AGENT_FL_SENT;
    fl->req_id = id;
    fl->epoch = a->ship_epoch;
    if (++a->ship_sent > a->st.ingest_in_flight_max) a->st.ingest_in_flight_max = a->ship_sent;
    return NET_OK;
  }
  a->inflight = r->kind;
  a->req_id = id;
  return NET_OK;
}

int agent__send(agent *a, const agent__req *r, const net_header *extra, size_t n_extra,
                const uint8_t *body, size_t body_len) {
  return send_request(a, r, NULL, extra, n_extra, body, body_len);
}

int agent__send_flight(agent *a, const agent__req *r, agent__flight *fl, const net_header *extra,
                       size_t n_extra, const uint8_t *body, size_t body_len) {
  return send_request(a, r, fl, extra, n_extra, body, body_len);
}

/* agent__send with body as its text (body is freed, also on failure). */
int agent__send_json(agent *a, const agent__req *r, cJSON *body) {
  char *text = body ? cJSON_PrintUnformatted(body) : NULL;
  cJSON_Delete(body);
  if (!text) {
    agent__log(a, OS_LOG_ERROR, "%s: out of memory", r->name);
    agent__backoff(a, 0);
    return NET_ENOMEM;
  }
  int rc = agent__send(a, r, NULL, 0, (const uint8_t *)text, strlen(text));
  cJSON_free(text);
  return rc;
}
