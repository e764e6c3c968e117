#include "sim_net.h"

#include <stdlib.h>
#include <string.h>

typedef enum { P_TO_CLOUD = 1, P_TO_AGENT = 2 } phase;

typedef struct pending {
  int32_t agent;
  phase ph;
  net_done_fn done;
  int (*sink)(void *user, const uint8_t *data, size_t len);
  void *user;
  char method[16];
  char *path;
  mc_header *hdrs; /* names and values point into hdr_store */
  char *hdr_store;
  size_t n_hdrs;
  uint8_t *body;
  size_t body_len;
  int64_t deadline_ms; /* request start + timeout */
  size_t max_response;
  /* the outcome, filled when it is known */
  int error;
  int status;
  char content_type[64];
  char date[40];
  uint8_t *resp_body;
  size_t resp_len;
} pending;

typedef struct endpoint {
  sim_net *net;
  sim_rng rng; /* this agent's path: its latency and loss draws (issue #15) */
  int32_t agent;
  int partitioned;
  int tls_fail; /* issue #16: handshakes fail */
  int64_t in_flight;
} endpoint;

typedef struct slot {
  pending *p;
  uint32_t gen;
  uint32_t next_free;
} slot;

struct sim_net {
  mc_cloud *cloud;
  sim_queue *q;
  const int64_t *now;
  int ev_deliver, ev_complete;
  sim_net_params par;
  int cloud_down;
  endpoint *eps;
  int n_agents;
  slot *slots;
  uint32_t n_slots, cap_slots, free_head; /* free_head: index + 1, 0 = none */
  int64_t n_pending;
  sim_net_stats st;
  sim_net_tap_fn tap;
  void *tap_user;
  sim_net_handler_fn handler;
  void *handler_user;
  sim_net_filter_fn filter;
  void *filter_user;
};

void sim_net_set_filter(sim_net *n, sim_net_filter_fn fn, void *user) {
  if (!n) return;
  n->filter = fn;
  n->filter_user = user;
}

void sim_net_set_tls_fail(sim_net *n, int agent, int on) {
  if (n && agent >= 0 && agent < n->n_agents) n->eps[agent].tls_fail = on ? 1 : 0;
}

void sim_net_set_handler(sim_net *n, sim_net_handler_fn fn, void *user) {
  if (!n) return;
  n->handler = fn;
  n->handler_user = user;
}

void sim_net_set_tap(sim_net *n, sim_net_tap_fn fn, void *user) {
  if (!n) return;
  n->tap = fn;
  n->tap_user = user;
}

static uint64_t make_id(uint32_t idx, uint32_t gen) { return ((uint64_t)gen << 32) | (idx + 1u); }

static pending *lookup(sim_net *n, uint64_t id, uint32_t *idx_out) {
  uint32_t lo = (uint32_t)(id & 0xffffffffu);
  if (lo == 0 || lo > n->n_slots) return NULL;
  slot *s = &n->slots[lo - 1];
  if (!s->p || s->gen != (uint32_t)(id >> 32)) return NULL;
  *idx_out = lo - 1;
  return s->p;
}

static void pending_free(pending *p) {
  if (!p) return;
  free(p->path);
  free(p->hdrs);
  free(p->hdr_store);
  free(p->body);
  free(p->resp_body);
  free(p);
}

static void release(sim_net *n, uint32_t idx) {
  slot *s = &n->slots[idx];
  pending *p = s->p;
  if (!p) return;
  n->eps[p->agent].in_flight--;
  n->n_pending--;
  pending_free(p);
  s->p = NULL;
  s->gen++;
  s->next_free = n->free_head;
  n->free_head = idx + 1;
}

static int alloc_slot(sim_net *n, pending *p, uint64_t *id) {
  uint32_t idx;
  if (n->free_head) {
    idx = n->free_head - 1;
    n->free_head = n->slots[idx].next_free;
  } else {
    if (n->n_slots >= SIM_NET_MAX_PENDING) return NET_EBUSY;
    if (n->n_slots == n->cap_slots) {
      uint32_t nc = n->cap_slots ? n->cap_slots * 2 : 256;
      slot *ns = realloc(n->slots, (size_t)nc * sizeof *ns);
      if (!ns) return NET_ENOMEM;
      n->slots = ns;
      n->cap_slots = nc;
    }
    idx = n->n_slots++;
    n->slots[idx].gen = 1;
  }
  n->slots[idx].p = p;
  n->slots[idx].next_free = 0;
  *id = make_id(idx, n->slots[idx].gen);
  return NET_OK;
}

static int64_t latency(sim_net *n, endpoint *ep) {
  return sim_rng_range(&ep->rng, n->par.latency_min_ms, n->par.latency_max_ms);
}

static int schedule(sim_net *n, int type, int32_t agent, int64_t at, uint64_t id) {
  sim_event ev = {.time_ms = at, .type = type, .agent = agent, .arg = id};
  return sim_queue_push(n->q, &ev) == SIM_QUEUE_OK ? NET_OK : NET_EBUSY;
}

/* Splits "scheme://host[:port]/path?query" into a malloc'd path. */
static int url_path(const char *url, char **out) {
  const char *s = strstr(url, "://");
  if (!s) return NET_EINVAL;
  const char *p = strchr(s + 3, '/');
  if (!p) p = "/";
  size_t len = strcspn(p, "?#");
  char *r = malloc(len + 1);
  if (!r) return NET_ENOMEM;
  memcpy(r, p, len);
  r[len] = 0;
  *out = r;
  return NET_OK;
}

static int copy_request(pending *p, const net_request *req) {
  if (strlen(req->method) >= sizeof p->method) return NET_EINVAL;
  strcpy(p->method, req->method);
  int rc = url_path(req->url, &p->path);
  if (rc) return rc;
  size_t total = 0;
  for (size_t i = 0; i < req->n_headers; i++) {
    if (!req->headers[i].name || !req->headers[i].value) return NET_EINVAL;
    total += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 2;
  }
  if (req->n_headers) {
    p->hdrs = calloc(req->n_headers, sizeof *p->hdrs);
    p->hdr_store = malloc(total);
    if (!p->hdrs || !p->hdr_store) return NET_ENOMEM;
    char *w = p->hdr_store;
    for (size_t i = 0; i < req->n_headers; i++) {
      size_t a = strlen(req->headers[i].name) + 1, b = strlen(req->headers[i].value) + 1;
      memcpy(w, req->headers[i].name, a);
      p->hdrs[i].name = w;
      w += a;
      memcpy(w, req->headers[i].value, b);
      p->hdrs[i].value = w;
      w += b;
    }
    p->n_hdrs = req->n_headers;
  }
  if (req->body_len) {
    p->body = malloc(req->body_len);
    if (!p->body) return NET_ENOMEM;
    memcpy(p->body, req->body, req->body_len);
    p->body_len = req->body_len;
  }
  return NET_OK;
}

static int net_request_(void *ctx, const net_request *req, net_done_fn done, void *user,
                        uint64_t *id_out) {
  endpoint *ep = ctx;
  sim_net *n = ep->net;
  if (!req || !done || !id_out || !req->method || !req->url) return NET_EINVAL;
  if (req->n_headers > NET_MAX_HEADERS || strlen(req->url) >= NET_MAX_URL) return NET_EINVAL;
  if (req->body_len && !req->body) return NET_EINVAL;
  if (ep->in_flight >= SIM_NET_MAX_PER_AGENT) {
    n->st.busy++;
    return NET_EBUSY;
  }
  pending *p = calloc(1, sizeof *p);
  if (!p) return NET_ENOMEM;
  int rc = copy_request(p, req);
  if (rc) {
    pending_free(p);
    return rc;
  }
  int64_t now = *n->now;
  int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
  p->agent = ep->agent;
  p->done = done;
  p->sink = req->sink;
  p->user = user;
  p->deadline_ms = now + timeout;
  p->max_response = req->max_response_bytes;
  uint64_t id;
  rc = alloc_slot(n, p, &id);
  if (rc) {
    pending_free(p);
    return rc;
  }
  ep->in_flight++;
  n->n_pending++;
  n->st.requests++;
  /* Draw the same number of values on every path so one agent's fate does
   * not shift the stream differently depending on its partition state. */
  int lost = sim_rng_bernoulli(&ep->rng, n->par.loss);
  int64_t lat = latency(n, ep);
  int64_t at;
  int type;
  if (ep->partitioned) {
    n->st.partitioned++;
    p->ph = P_TO_AGENT;
    p->error = NET_ETIMEDOUT;
    at = p->deadline_ms;
    type = n->ev_complete;
  } else if (ep->tls_fail) {
    /* the handshake fails: the client refuses the certificate */
    n->st.tls_failed++;
    p->ph = P_TO_AGENT;
    p->error = NET_ETLS;
    at = now + lat < p->deadline_ms ? now + lat : p->deadline_ms;
    type = n->ev_complete;
  } else if (lost) {
    n->st.lost_in++;
    if (ep->in_flight >= 2) n->st.lost_in_window++;
    p->ph = P_TO_AGENT;
    p->error = NET_ETIMEDOUT;
    at = p->deadline_ms;
    type = n->ev_complete;
  } else {
    p->ph = P_TO_CLOUD;
    at = now + lat;
    type = n->ev_deliver;
  }
  rc = schedule(n, type, ep->agent, at, id);
  if (rc) {
    uint32_t idx = (uint32_t)(id & 0xffffffffu) - 1;
    release(n, idx);
    return rc;
  }
  *id_out = id;
  return NET_OK;
}

static void net_cancel(void *ctx, uint64_t id) {
  endpoint *ep = ctx;
  uint32_t idx;
  pending *p = lookup(ep->net, id, &idx);
  if (!p || p->agent != ep->agent) return;
  ep->net->st.cancelled++;
  release(ep->net, idx);
}

static void deliver(sim_net *n, pending *p) {
  int resp_lost = sim_rng_bernoulli(&n->eps[p->agent].rng, n->par.response_loss);
  p->ph = P_TO_AGENT;
  if (n->cloud_down) {
    n->st.refused++;
    if (n->eps[p->agent].in_flight >= 2) n->st.refused_in_window++;
    p->error = NET_ECONNECT;
    p->status = 0;
    return;
  }
  n->st.delivered++;
  mc_request mr = {.method = p->method,
                   .path = p->path,
                   .headers = p->hdrs,
                   .n_headers = p->n_hdrs,
                   .body = p->body,
                   .body_len = p->body_len};
  mc_response resp;
  memset(&resp, 0, sizeof resp);
  int rc = MC_OK;
  if (!n->handler || !n->handler(n->handler_user, &mr, &resp)) {
    if (n->tap) n->tap(n->tap_user, p->agent, &mr);
    rc = mc_handle(n->cloud, &mr, &resp);
    if (rc == MC_OK && n->filter) n->filter(n->filter_user, p->agent, &mr, &resp);
  }
  free(p->body);
  p->body = NULL;
  if (rc != MC_OK) {
    p->error = NET_EIO;
    mc_response_free(&resp);
    return;
  }
  if (resp_lost) {
    n->st.lost_out++;
    if (n->eps[p->agent].in_flight >= 2) n->st.lost_in_window++;
    p->error = NET_ETIMEDOUT;
    mc_response_free(&resp);
    return;
  }
  if (p->max_response && resp.body_len > p->max_response) {
    p->error = NET_ETOOBIG;
    mc_response_free(&resp);
    return;
  }
  p->error = NET_OK;
  p->status = resp.status;
  memcpy(p->content_type, resp.content_type, sizeof p->content_type);
  p->content_type[sizeof p->content_type - 1] = 0;
  memcpy(p->date, resp.date, sizeof p->date);
  p->date[sizeof p->date - 1] = 0;
  p->resp_body = resp.body; /* take ownership of the malloc'd body */
  p->resp_len = resp.body_len;
  resp.body = NULL;
  mc_response_free(&resp);
}

int sim_net_dispatch(sim_net *n, const sim_event *ev, sim_net_result *res) {
  if (!n || !ev || !res) return SIM_NET_EINVAL;
  memset(res, 0, sizeof *res);
  res->agent = -1;
  uint32_t idx;
  pending *p = lookup(n, ev->arg, &idx);
  if (!p) return SIM_NET_OK; /* cancelled */
  if (ev->type == n->ev_deliver) {
    if (p->ph != P_TO_CLOUD) return SIM_NET_OK;
    int64_t now = *n->now;
    deliver(n, p);
    int64_t at;
    if (p->error == NET_OK || p->error == NET_ECONNECT) {
      at = now + latency(n, &n->eps[p->agent]);
      if (at > p->deadline_ms) {
        /* the answer would come after the agent gave up */
        at = p->deadline_ms;
        p->error = NET_ETIMEDOUT;
        p->status = 0;
      }
    } else {
      at = p->deadline_ms;
    }
    if (at < now) at = now;
    if (schedule(n, n->ev_complete, p->agent, at, ev->arg) != NET_OK) {
      /* queue full: complete now rather than leak the request */
      p->error = NET_EIO;
      p->status = 0;
    } else {
      res->agent = p->agent;
      res->status = p->status;
      res->error = p->error;
      return SIM_NET_OK;
    }
  } else if (ev->type != n->ev_complete) {
    return SIM_NET_EINVAL;
  }
  /* A streamed body arrives in pieces, as from a socket, so the receiver's
   * piece-by-piece path (and its abort) is what runs. */
  if (p->error == NET_OK && p->status == 200 && p->sink) {
    for (size_t off = 0; off < p->resp_len;) {
      size_t k = p->resp_len - off < SIM_NET_STREAM_PIECE ? p->resp_len - off : SIM_NET_STREAM_PIECE;
      if (p->sink(p->user, p->resp_body + off, k) != 0) {
        p->error = NET_EABORTED;
        break;
      }
      off += k;
    }
    p->resp_len = 0;
  }
  net_header hdr[2];
  size_t nh = 0;
  if (p->error == NET_OK) {
    hdr[nh].name = "date";
    hdr[nh++].value = p->date;
    hdr[nh].name = "content-type";
    hdr[nh++].value = p->content_type;
  } else {
    p->status = 0;
  }
  if (p->error == NET_ETIMEDOUT) n->st.timeouts++;
  n->st.completed++;
  const char *text = p->error == NET_OK          ? ""
                     : p->error == NET_ETIMEDOUT ? "simulated timeout"
                     : p->error == NET_ECONNECT  ? "simulated connection refused"
                     : p->error == NET_ETOOBIG   ? "response too large"
                     : p->error == NET_EABORTED  ? "stopped by the receiver"
                     : p->error == NET_ETLS
                         ? "simulated handshake failure: the server certificate does not verify"
                                                 : "simulated transport error";
  net_response r = {.error = p->error,
                    .status = p->status,
                    .body = p->error == NET_OK && p->resp_len ? p->resp_body : NULL,
                    .body_len = p->error == NET_OK ? p->resp_len : 0,
                    .headers = hdr,
                    .n_headers = nh,
                    .error_text = text};
  net_done_fn done = p->done;
  void *user = p->user;
  res->agent = p->agent;
  res->called = 1;
  res->error = p->error;
  res->status = p->status;
  /* The slot is released after the callback so done() cannot be handed this
   * id again; a cancel of this id from inside done() already released it. */
  done(user, &r);
  if (lookup(n, ev->arg, &idx) == p) release(n, idx);
  return SIM_NET_OK;
}

int sim_net_create(int n_agents, mc_cloud *cloud, sim_queue *q, const int64_t *now_ms,
                   uint64_t seed, int ev_deliver, int ev_complete, sim_net **out) {
  if (!out || n_agents < 0 || !q || !now_ms) return SIM_NET_EINVAL;
  *out = NULL;
  sim_net *n = calloc(1, sizeof *n);
  if (!n) return SIM_NET_ENOMEM;
  n->eps = calloc(n_agents > 0 ? (size_t)n_agents : 1, sizeof *n->eps);
  if (!n->eps) {
    free(n);
    return SIM_NET_ENOMEM;
  }
  for (int i = 0; i < n_agents; i++) {
    n->eps[i].net = n;
    n->eps[i].agent = i;
    sim_rng_seed(&n->eps[i].rng, seed, SIM_RNG_NET_BASE + (uint64_t)i);
  }
  n->n_agents = n_agents;
  n->cloud = cloud;
  n->q = q;
  n->now = now_ms;
  n->ev_deliver = ev_deliver;
  n->ev_complete = ev_complete;
  n->par.latency_min_ms = 20;
  n->par.latency_max_ms = 200;
  *out = n;
  return SIM_NET_OK;
}

void sim_net_free(sim_net *n) {
  if (!n) return;
  for (uint32_t i = 0; i < n->n_slots; i++) pending_free(n->slots[i].p);
  free(n->slots);
  free(n->eps);
  free(n);
}

void sim_net_set_params(sim_net *n, const sim_net_params *p) {
  if (n && p) n->par = *p;
}
void sim_net_get_params(const sim_net *n, sim_net_params *p) {
  if (n && p) *p = n->par;
}
void sim_net_set_cloud_down(sim_net *n, int down) {
  if (n) n->cloud_down = down ? 1 : 0;
}
void sim_net_set_partition(sim_net *n, int agent, int partitioned) {
  if (n && agent >= 0 && agent < n->n_agents) n->eps[agent].partitioned = partitioned ? 1 : 0;
}

int sim_net_shim(sim_net *n, int agent, net_shim *out) {
  if (!n || !out || agent < 0 || agent >= n->n_agents) return SIM_NET_EINVAL;
  out->ctx = &n->eps[agent];
  out->request = net_request_;
  out->cancel = net_cancel;
  return SIM_NET_OK;
}

int64_t sim_net_pending(const sim_net *n, int agent) {
  if (!n) return 0;
  if (agent < 0) return n->n_pending;
  if (agent >= n->n_agents) return 0;
  return n->eps[agent].in_flight;
}

void sim_net_get_stats(const sim_net *n, sim_net_stats *out) {
  if (n && out) *out = n->st;
}
