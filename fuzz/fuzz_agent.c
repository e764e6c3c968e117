/* fuzz_agent.c - libFuzzer target for the agent's handling of every reply
 * from the cloud, through the real path: agent_step() on the simulator's
 * in-memory os shim, with a net shim whose answers come from the input.
 *
 * Input: byte 0 = mode (bit 0 set: start from an enrolled identity, so the
 * replies reach challenge, session, check-in, policy, ingest and shed; clear:
 * start unenrolled, so the first reply is the enrollment's). The rest is a
 * list of replies separated by "\n=====\n", each written like HTTP:
 *
 *   201                     status line: 3 digits, or "E" = transport error
 *   date: Sat, 29 Nov ...   header lines "name: value", up to an empty line
 *   retry-after: 5
 *
 *   {"agent_id": ...}       body; "$LAST" becomes the batch's last seq, so
 *                           an ingest ack can match the batch in flight
 *
 * Each reply answers whatever request the agent has made next (enroll,
 * challenge, session, checkin, policy, policy report, ingest, shed).
 * Invariants: no crash, leak or undefined behaviour; acked <= produced and
 * the spool counts stay sane; and, whatever the cloud said, an agent opens
 * again on the same state dir (a reply must never brick the next start).
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "core/agent.h"
#include "sim_fs.h"
#include "sim_os.h"
#include "sim_rng.h"

#define FA_MAX_STEPS 256
#define FA_SEP "\n=====\n"
#define FA_STATE "/var/lib/outpost"
#define FA_LOG "/var/log/app.log"
#define FA_HEX_ID "0123456789abcdef0123456789abcdef"

typedef struct fake_net {
  int have;
  net_done_fn done;
  void *user;
  uint64_t id, next_id;
  char last_seq[24];
  int requests;
} fake_net;

static int fn_request(void *ctx, const net_request *req, net_done_fn done, void *user,
                      uint64_t *id) {
  fake_net *n = ctx;
  if (n->have) return NET_EBUSY; /* the agent promises one request at a time */
  n->last_seq[0] = 0;
  for (size_t i = 0; i < req->n_headers; i++)
    if (strcmp(req->headers[i].name, WIRE_HDR_LAST_SEQ) == 0)
      snprintf(n->last_seq, sizeof n->last_seq, "%s", req->headers[i].value);
  n->have = 1;
  n->done = done;
  n->user = user;
  n->id = *id = ++n->next_id;
  n->requests++;
  if (getenv("FUZZ_AGENT_TRACE")) /* to write seeds: which request comes next */
    fprintf(stderr, "request %d: %s %s\n", n->requests, req->method, req->url);
  return NET_OK;
}

static void fn_cancel(void *ctx, uint64_t id) {
  fake_net *n = ctx;
  if (n->have && n->id == id) n->have = 0;
}

typedef struct world {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
  fake_net fn;
  net_shim net;
} world;

static agent_config cfg;
static sim_fs *tmpl[2]; /* [0] keyed, not enrolled; [1] enrolled */

static int world_open(world *w, sim_fs *from, agent **a) {
  memset(w, 0, sizeof *w);
  w->now = 1000000;
  sim_rng_seed(&w->rng, 7, 1);
  if (sim_fs_copy(from, 1, &w->fs) != OS_OK) return -1;
  sim_os_init(&w->so, &w->now, 0, &w->rng, w->fs, "host-1", "0123456789abcdef0123456789abcdef");
  snprintf(w->so.own_dir, sizeof w->so.own_dir, "%s", FA_STATE);
  sim_os_shim(&w->so, &w->os);
  w->net = (net_shim){&w->fn, fn_request, fn_cancel};
  char err[256];
  return agent_open(&cfg, &w->os, &w->net, a, err, sizeof err) == AGENT_OK ? 0 : -1;
}

/* Answers the pending request with one reply written as described above. */
static void answer(world *w, const char *r, size_t len) {
  net_header h[NET_MAX_HEADERS];
  char hbuf[NET_MAX_HEADERS][2][128];
  size_t nh = 0, i = 0;
  net_response resp = {.error = NET_OK, .error_text = ""};
  if (len > 0 && r[0] == 'E') {
    resp.error = NET_ETIMEDOUT;
    resp.error_text = "fuzzed transport error";
  } else {
    for (; i < len && i < 3 && r[i] >= '0' && r[i] <= '9'; i++)
      resp.status = resp.status * 10 + (r[i] - '0');
  }
  while (i < len && r[i] != '\n') i++;
  if (i < len) i++;
  /* header lines up to an empty one */
  while (i < len && r[i] != '\n') {
    size_t e = i;
    while (e < len && r[e] != '\n') e++;
    const char *colon = memchr(r + i, ':', e - i);
    if (colon && nh < NET_MAX_HEADERS) {
      size_t nl = (size_t)(colon - (r + i)), vs = (size_t)(colon - r) + 1;
      while (vs < e && r[vs] == ' ') vs++;
      snprintf(hbuf[nh][0], sizeof hbuf[nh][0], "%.*s", (int)nl, r + i);
      snprintf(hbuf[nh][1], sizeof hbuf[nh][1], "%.*s", (int)(e - vs), r + vs);
      h[nh] = (net_header){hbuf[nh][0], hbuf[nh][1]};
      nh++;
    }
    i = e < len ? e + 1 : e;
  }
  if (i < len) i++;
  const char *body = r + i;
  size_t body_len = len - i;
  char *sub = NULL;
  const char *mark = body_len >= 5 ? memmem(body, body_len, "$LAST", 5) : NULL;
  if (mark) { /* one substitution: enough for {"acked_through":$LAST} */
    size_t pre = (size_t)(mark - body), sl = strlen(w->fn.last_seq);
    sub = malloc(body_len - 5 + sl + 1);
    if (sub) {
      memcpy(sub, body, pre);
      memcpy(sub + pre, w->fn.last_seq, sl);
      memcpy(sub + pre + sl, mark + 5, body_len - pre - 5);
      body = sub;
      body_len = body_len - 5 + sl;
    }
  }
  resp.body = (const uint8_t *)body;
  resp.body_len = body_len;
  resp.headers = h;
  resp.n_headers = nh;
  if (resp.error != NET_OK) resp.status = 0;
  w->fn.have = 0;
  w->fn.done(w->fn.user, &resp);
  free(sub);
}

static void check(agent *a) {
  agent_stats st;
  agent_get_stats(a, &st);
  if (st.acked > st.produced || st.spooled < 0 || st.acked < 0) abort();
  if ((int)st.state < AGENT_STATE_ENROLLING || (int)st.state > AGENT_STATE_REENROLLING) abort();
  if (st.agent_id[0] && strlen(st.agent_id) != 32) abort();
}

/* Drives the agent: replies in order, virtual time jumping to each deadline. */
static void run(world *w, agent *a, const char *in, size_t len) {
  size_t pos = 0;
  for (int s = 0; s < FA_MAX_STEPS; s++) {
    int64_t next = agent_step(a, w->now);
    check(a);
    if (w->fn.have) {
      if (pos > len) break;
      const char *sep = memmem(in + pos, len - pos, FA_SEP, sizeof FA_SEP - 1);
      size_t end = sep ? (size_t)(sep - in) : len;
      answer(w, in + pos, end - pos);
      pos = sep ? end + sizeof FA_SEP - 1 : len + 1;
      w->now++;
      continue;
    }
    /* Nothing to answer: go to the agent's next deadline (at most a day on). */
    w->now = next > w->now + 86400000LL ? w->now + 86400000LL : next;
  }
}

static int setup(void) {
  config_defaults(&cfg);
  snprintf(cfg.cloud_url, sizeof cfg.cloud_url, "https://cloud.fuzz");
  snprintf(cfg.ca_file, sizeof cfg.ca_file, "/etc/outpost/ca.pem");
  snprintf(cfg.enrollment_token, sizeof cfg.enrollment_token, "otk_fuzz");
  snprintf(cfg.state_dir, sizeof cfg.state_dir, FA_STATE);
  snprintf(cfg.sources[0].path, sizeof cfg.sources[0].path, FA_LOG);
  cfg.sources[0].start = CONFIG_START_BEGINNING;
  cfg.n_sources = 1;
  cfg.batch_max_records = 4;
  cfg.batch_max_age_ms = 0;
  cfg.read_chunk_bytes = 4096;
  cfg.max_line_bytes = 1024; /* small buffers: each input opens two agents */
  cfg.log_level = OS_LOG_ERROR + 1; /* quiet: sim_os counts the lines anyway */
  if (sim_fs_create(1, 64u << 20, NULL, NULL, &tmpl[0]) != OS_OK ||
      sim_fs_mkdirs(tmpl[0], "/var/log", 0755) || sim_fs_mkdirs(tmpl[0], "/var/lib", 0755) ||
      sim_fs_mkdirs(tmpl[0], "/etc/outpost", 0755))
    return -1;
  static const char lines[] = "one\ntwo\nthree\nfour\nfive\nsix\n";
  if (sim_fs_append(tmpl[0], "/etc/outpost/ca.pem", "#\n", 2, 1) != OS_OK ||
      sim_fs_append(tmpl[0], FA_LOG, lines, sizeof lines - 1, 1) != OS_OK)
    return -1;
  /* The first open makes the key (slow: once here, not per input). */
  world w;
  agent *a = NULL;
  if (world_open(&w, tmpl[0], &a) != 0) return -1;
  agent_close(a);
  sim_fs_free(tmpl[0]);
  tmpl[0] = w.fs;
  static const char enroll[] = "201\n\n{\"agent_id\":\"" FA_HEX_ID "\",\"workspace\":\"ws\"}";
  if (world_open(&w, tmpl[0], &a) != 0) return -1;
  agent_step(a, w.now);
  if (!w.fn.have) return -1;
  answer(&w, enroll, sizeof enroll - 1);
  agent_step(a, w.now + 1);
  agent_stats st;
  agent_get_stats(a, &st);
  agent_close(a);
  if (strcmp(st.agent_id, FA_HEX_ID) != 0) return -1;
  tmpl[1] = w.fs;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = -1;
  if (ready < 0) ready = setup() == 0;
  if (!ready) abort();
  if (size < 1) return 0;
  world w;
  agent *a = NULL;
  if (world_open(&w, tmpl[data[0] & 1], &a) != 0) abort();
  run(&w, a, (const char *)data + 1, size - 1);
  agent_stats st;
  agent_get_stats(a, &st);
  agent_close(a);
  /* Whatever the cloud said, the agent must start again on this state dir.
   * Only replies that wrote the identity can change that: the second open
   * (half of the cost of an input) is skipped when none did. */
  sim_fs *fs = w.fs;
  if (st.enrollments > 0 || st.checkins > 0 || st.state == AGENT_STATE_REENROLLING) {
    world w2;
    agent *b = NULL;
    if (world_open(&w2, fs, &b) != 0) abort();
    agent_close(b);
    sim_fs_free(w2.fs);
  }
  sim_fs_free(fs);
  return 0;
}
