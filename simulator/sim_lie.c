#define _GNU_SOURCE
/* sim_lie.c - a cloud that lies in its replies (sim_lie.h, issue #16). */
#include "sim_lie.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/wire.h"
#include "sim_scenario.h"

typedef struct lie_agent {
  int64_t until[SIM_LIE_KINDS + 1]; /* sim ms; the lie of kind k is on while now < until[k] */
  sim_lie_counts c[SIM_LIE_KINDS + 1];
  int64_t forged_last;  /* ack_beyond: last seq of the batch whose ack was forged, 0 none */
  int64_t rb_version;   /* policy_rollback: the older version it was told, 0 none */
  char swap_sid[40];    /* session_swap: the other agent's session it was handed */
  char session[SIM_LIE_SESSION_MAX]; /* the last honest 200 to its POST /v1/session */
} lie_agent;

struct sim_lie {
  const int64_t *now;
  int64_t n;
  lie_agent *a;
};

int sim_lie_create(int64_t n, const int64_t *now_ms, sim_lie **out) {
  *out = NULL;
  if (n < 1 || n > SIM_SCN_MAX_AGENTS * 16 || !now_ms) return -1;
  sim_lie *l = calloc(1, sizeof *l);
  if (!l) return -1;
  l->a = calloc((size_t)n, sizeof *l->a);
  if (!l->a) {
    free(l);
    return -1;
  }
  l->n = n;
  l->now = now_ms;
  *out = l;
  return 0;
}

void sim_lie_free(sim_lie *l) {
  if (!l) return;
  free(l->a);
  free(l);
}

void sim_lie_start(sim_lie *l, int64_t idx, int kind, int64_t until_ms) {
  if (!l || idx < 0 || idx >= l->n || kind < 1 || kind > SIM_LIE_KINDS) return;
  lie_agent *a = &l->a[idx];
  if (until_ms > a->until[kind]) a->until[kind] = until_ms;
  a->c[kind].hit++;
}

void sim_lie_get(const sim_lie *l, int64_t idx, int kind, sim_lie_counts *out) {
  memset(out, 0, sizeof *out);
  if (l && idx >= 0 && idx < l->n && kind >= 1 && kind <= SIM_LIE_KINDS) *out = l->a[idx].c[kind];
}

static const char *req_header(const mc_request *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (r->headers[i].name && strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

static int64_t header_int(const mc_request *r, const char *name) {
  const char *v = req_header(r, name);
  if (!v) return -1;
  char *end = NULL;
  long long x = strtoll(v, &end, 10);
  return end && end != v && *end == 0 && x >= 0 ? (int64_t)x : -1;
}

static cJSON *parse_body(const uint8_t *b, size_t len) {
  if (!b || len == 0 || len > SIM_LIE_BODY_MAX) return NULL;
  cJSON *o = cJSON_ParseWithLength((const char *)b, len);
  if (o && !cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* An integral number within 2^53, or -1. */
static int64_t num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740991.0))
    return -1;
  return (int64_t)v->valuedouble;
}

static void set_num(cJSON *o, const char *key, int64_t v) {
  cJSON_DeleteItemFromObjectCaseSensitive(o, key);
  cJSON_AddNumberToObject(o, key, (double)v);
}

/* Replaces resp's body by o's text (o freed). 0, or -1 (resp unchanged). */
static int replace_body(mc_response *resp, cJSON *o) {
  char *t = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!t) return -1;
  size_t n = strlen(t);
  uint8_t *b = malloc(n + 1);
  if (!b) {
    cJSON_free(t);
    return -1;
  }
  memcpy(b, t, n + 1);
  cJSON_free(t);
  free(resp->body);
  resp->body = b;
  resp->body_len = n;
  return 0;
}

static int replace_raw(mc_response *resp, const char *text) {
  size_t n = strlen(text);
  uint8_t *b = malloc(n + 1);
  if (!b) return -1;
  memcpy(b, text, n + 1);
  free(resp->body);
  resp->body = b;
  resp->body_len = n;
  return 0;
}

/* What the agent's request says about the lies it was told before. */
static void watch_request(lie_agent *a, const mc_request *req, const mc_response *resp) {
  const char *sid = req_header(req, WIRE_HDR_SESSION);
  if (a->swap_sid[0] && sid && strcmp(sid, a->swap_sid) == 0) {
    sim_lie_counts *c = &a->c[SIM_LIE_SESSION_SWAP];
    if (resp->status >= 200 && resp->status < 300) {
      c->believed++;
    } else if (resp->status == 401 && resp->body &&
               memmem(resp->body, resp->body_len, "another agent process", 21)) {
      c->refused++;
      a->swap_sid[0] = 0; /* counted once per lie */
    }
  }
  if (a->forged_last > 0 && strcmp(req->path, "/v1/ingest") == 0) {
    int64_t first = header_int(req, WIRE_HDR_FIRST_SEQ);
    if (first > 0) {
      a->c[SIM_LIE_ACK_BEYOND].refused += first <= a->forged_last;
      a->c[SIM_LIE_ACK_BEYOND].believed += first > a->forged_last;
      a->forged_last = 0;
    }
  }
  if (a->rb_version > 0 && strcmp(req->path, "/v1/policy/report") == 0) {
    cJSON *o = parse_body(req->body, req->body_len);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
    if (o && cJSON_IsString(st)) {
      if (strcmp(st->valuestring, "rejected") == 0 && num(o, "version") == a->rb_version) {
        a->c[SIM_LIE_POLICY_ROLLBACK].refused++;
        a->rb_version = 0;
      } else if (num(o, "applied_version") == a->rb_version) {
        a->c[SIM_LIE_POLICY_ROLLBACK].believed++;
        a->rb_version = 0;
      }
    }
    cJSON_Delete(o);
  }
}

static void lie_session(sim_lie *l, int32_t agent, mc_response *resp) {
  lie_agent *a = &l->a[agent];
  int64_t other = -1;
  for (int64_t i = 0; i < l->n && other < 0; i++)
    if (i != agent && l->a[i].session[0]) other = i;
  if (other < 0) return; /* nobody else has a session yet: nothing to hand out */
  cJSON *o = parse_body((const uint8_t *)l->a[other].session, strlen(l->a[other].session));
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(o, "session_id");
  if (cJSON_IsString(sid) && strlen(sid->valuestring) < sizeof a->swap_sid &&
      replace_raw(resp, l->a[other].session) == 0) {
    snprintf(a->swap_sid, sizeof a->swap_sid, "%s", sid->valuestring);
    a->c[SIM_LIE_SESSION_SWAP].told++;
  }
  cJSON_Delete(o);
}

void sim_lie_filter(void *user, int32_t agent, const mc_request *req, mc_response *resp) {
  sim_lie *l = user;
  if (!l || agent < 0 || agent >= l->n || !req || !resp) return;
  lie_agent *a = &l->a[agent];
  int64_t now = *l->now;
  watch_request(a, req, resp);
  if (resp->status != 200) return;
  int is_session = strcmp(req->path, "/v1/session") == 0;
  int is_ingest = strcmp(req->path, "/v1/ingest") == 0;
  int is_policy = strcmp(req->path, "/v1/policy") == 0 && strcmp(req->method, "GET") == 0;
  if (is_session) {
    if (now < a->until[SIM_LIE_SESSION_SWAP]) {
      lie_session(l, agent, resp);
      return;
    }
    a->swap_sid[0] = 0; /* an honest session replaces the swapped one */
    if (resp->body && resp->body_len < sizeof a->session) {
      memcpy(a->session, resp->body, resp->body_len);
      a->session[resp->body_len] = 0;
    }
    return;
  }
  if (is_ingest && now < a->until[SIM_LIE_ACK_BEYOND]) {
    cJSON *o = parse_body(resp->body, resp->body_len);
    int64_t last = num(o, "acked_through");
    if (o && last > 0) {
      set_num(o, "acked_through", last + SIM_LIE_ACK_PAST);
      if (replace_body(resp, o) == 0) {
        a->forged_last = last;
        a->c[SIM_LIE_ACK_BEYOND].told++;
      }
    } else {
      cJSON_Delete(o);
    }
  }
  if ((is_ingest || is_policy) && now < a->until[SIM_LIE_POLICY_ROLLBACK]) {
    cJSON *o = parse_body(resp->body, resp->body_len);
    const char *key = is_ingest ? "policy_version" : "version";
    int64_t v = num(o, key);
    if (!o || v < 2) {
      cJSON_Delete(o);
      return;
    }
    set_num(o, key, v - 1);
    if (is_policy) {
      /* other content under the older number: one more log to read */
      cJSON *logs = cJSON_GetObjectItemCaseSensitive(o, "logs");
      if (!logs) logs = cJSON_AddArrayToObject(o, "logs");
      cJSON *g = cJSON_CreateObject();
      if (cJSON_IsArray(logs) && g && cJSON_AddStringToObject(g, "glob", "/var/log/rollback.log"))
        cJSON_AddItemToArray(logs, g);
      else
        cJSON_Delete(g);
    }
    if (replace_body(resp, o) == 0 && is_policy) {
      a->rb_version = v - 1;
      a->c[SIM_LIE_POLICY_ROLLBACK].told++;
    }
  }
}
