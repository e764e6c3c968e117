/* agent_ship.c - the data path's requests: the ingest batch (built from
 * the spool, acknowledged exactly) and the policy's fetch and report
 * (issue #5). The build and success functions of their rows in agent.c's
 * request table.
 */
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/agent_int.h"
#include "core/reply.h"

/* ---- ingest ------------------------------------------------------------- */

typedef struct batch_build {
  wire_batch_enc enc;
  int64_t max_records;
  int full;
  int64_t repaired;
} batch_build;

#define AGENT_POISON_MARKER " [cut by outpost: unsendable record]"

/* A record that cannot go out as it is (over the wire's line limit, a NUL
 * byte, a source path too long: only a spool written by another version or
 * damaged could hold one) must never wedge the queue: when it is first in
 * line it is sent cut to the limits, NULs as '?', with a marker. The seq is
 * kept, so the ledger still balances. */
static int add_repaired(batch_build *b, int64_t seq, int64_t ts_ms, const char *source,
                        size_t source_len, const char *line, size_t line_len) {
  static const char unsendable[] = "[outpost: unsendable record]";
  size_t keep = line_len < WIRE_MAX_LINE - 128 ? line_len : WIRE_MAX_LINE - 128;
  size_t src_keep = source_len < WIRE_MAX_SOURCE - 1 ? source_len : WIRE_MAX_SOURCE - 1;
  char *copy = malloc(keep + sizeof AGENT_POISON_MARKER);
  char *src = malloc(src_keep + 1);
  int rc = WIRE_ENOMEM;
  if (copy && src) {
    for (size_t i = 0; i < keep; i++) copy[i] = line[i] ? line[i] : '?';
    memcpy(copy + keep, AGENT_POISON_MARKER, sizeof AGENT_POISON_MARKER);
    for (size_t i = 0; i < src_keep; i++) src[i] = source[i] ? source[i] : '?';
    src[src_keep] = 0;
    wire_record r = {seq, ts_ms, src, src_keep, copy, keep + sizeof AGENT_POISON_MARKER - 1};
    rc = wire_batch_enc_add(&b->enc, &r);
  }
  if (rc != WIRE_OK) {
    wire_record r = {seq, ts_ms, "?", 1, unsendable, sizeof unsendable - 1};
    rc = wire_batch_enc_add(&b->enc, &r);
  }
  free(copy);
  free(src);
  if (rc == WIRE_OK) b->repaired++;
  return rc;
}

static int add_row(void *user, int64_t seq, int64_t ts_ms, const char *source, size_t source_len,
                   const char *line, size_t line_len) {
  batch_build *b = user;
  wire_record r = {seq, ts_ms, source, source_len, line, line_len};
  int rc = wire_batch_enc_add(&b->enc, &r);
  if (rc == WIRE_OK) return 0;
  if (b->enc.count == 0 && rc != WIRE_ENOMEM &&
      add_repaired(b, seq, ts_ms, source, source_len, line, line_len) == WIRE_OK)
    return 1; /* the repaired record travels alone */
  b->full = 1;
  return 1;
}

agent__flight *agent__flight_at(const agent *a, int i) {
  return &a->ship[(a->ship_head + i) % a->ship_cap];
}

agent__flight *agent__flight_of(const agent__completion *c) {
  return (agent__flight *)((char *)c - offsetof(agent__flight, done));
}

/* The first seq a new batch would start at. */
static int64_t ship_from(const agent *a, const spool_counters *sc) {
  return a->ship_next > sc->first_seq ? a->ship_next : sc->first_seq;
}

int64_t agent__ship_unsent(const agent *a, const spool_counters *sc) {
  if (sc->spooled == 0 || a->ship_count >= a->ship_cap) return 0;
  return sc->next_seq - ship_from(a, sc);
}

int agent__ship_retry_waiting(const agent *a) {
  for (int i = 0; i < a->ship_count; i++)
    if (agent__flight_at(a, i)->state == AGENT_FL_RETRY) return 1;
  return 0;
}

/* The window no longer matches the spool (a retry that does not rebuild
 * the same batch: only a damaged spool does that). Forget it whole: what is
 * in flight is cancelled (no callback comes for it), and shipping starts
 * again from the spool's first record. The spool keeps every record, so
 * nothing is lost: what the cloud already has comes again and is counted a
 * duplicate there. */
static void ship_forget(agent *a) {
  for (int i = 0; i < a->ship_count; i++) {
    agent__flight *fl = agent__flight_at(a, i);
    if (fl->state == AGENT_FL_SENT && fl->req_id && a->net) a->net->cancel(a->net->ctx, fl->req_id);
    fl->state = 0;
    fl->req_id = 0;
    fl->done.pending = 0;
  }
  a->ship_count = 0;
  a->ship_sent = 0;
  a->ship_next = 0;
  a->ship_limit = 1;
}

void agent__ship_trim(agent *a) {
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  int64_t low = sc.spooled ? sc.first_seq : sc.next_seq;
  while (a->ship_count > 0) {
    agent__flight *fl = agent__flight_at(a, 0);
    if (fl->last >= low) break;
    a->ship_head = (a->ship_head + 1) % a->ship_cap;
    a->ship_count--;
  }
  if (a->ship_count > 0 && agent__flight_at(a, 0)->first < low) agent__flight_at(a, 0)->first = low;
}

void agent__ship_release(agent *a) {
  int n = 0;
  int64_t through = 0;
  while (n < a->ship_count && agent__flight_at(a, n)->state == AGENT_FL_ACKED)
    through = agent__flight_at(a, n++)->last;
  if (n == 0) return;
  if (spool_ack(a->sp, through) != SPOOL_OK) {
    /* The cloud has the records; the flights stay acknowledged and the
     * delete is tried again after the back-off. */
    agent__log(a, OS_LOG_ERROR, "ingest: cannot delete acknowledged records: %s",
               spool_errmsg(a->sp));
    agent__backoff(a, 0);
    return;
  }
  a->ship_head = (a->ship_head + n) % a->ship_cap;
  a->ship_count -= n;
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  if (sc.spooled == 0) a->pending_since = INT64_MIN;
}

void agent__send_ingest(agent *a, const agent__req *r) {
  agent__flight *fl = NULL;
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  for (int i = 0; i < a->ship_count && !fl; i++)
    if (agent__flight_at(a, i)->state == AGENT_FL_RETRY) fl = agent__flight_at(a, i);
  int retry = fl != NULL;
  /* The ring's last flight has nothing above it: its retry may take in
   * what was read since, as one batch did before the window. Below
   * another flight a retry must rebuild exactly the same range. */
  int exact = retry && fl != agent__flight_at(a, a->ship_count - 1);
  int64_t from = retry ? fl->first : ship_from(a, &sc);
  int64_t max_records = exact ? fl->last - fl->first + 1 : a->cfg.batch_max_records;
  int64_t max_bytes = exact ? fl->max_bytes : a->cfg.batch_max_bytes;
  if (!retry) {
    if (a->ship_count >= a->ship_cap || agent__ship_unsent(a, &sc) <= 0) return;
    fl = agent__flight_at(a, a->ship_count); /* not in the ring until it is sent */
  }
  batch_build b = {.max_records = max_records};
  wire_batch_enc_init(&b.enc, (size_t)max_bytes);
  int rc = spool_scan_from(a->sp, from, max_records, add_row, &b);
  if (rc != SPOOL_OK || b.enc.count == 0) {
    /* A record that cannot fit an empty batch would wedge the queue; the
     * line limits make that impossible, so treat it as a spool fault. */
    agent__log(a, OS_LOG_ERROR, "ingest: cannot build a batch: %s",
               rc != SPOOL_OK ? spool_errmsg(a->sp) : "first record does not fit");
    wire_batch_enc_free(&b.enc);
    agent__backoff(a, 0);
    return;
  }
  int64_t first = b.enc.first_seq, last = b.enc.last_seq, count = (int64_t)b.enc.count;
  if (first != from || (exact && last != fl->last)) {
    agent__log(a, OS_LOG_ERROR,
               "ingest: the spool gave seq %lld..%lld for a batch from %lld; sending again "
               "from the oldest record",
               (long long)first, (long long)last, (long long)from);
    wire_batch_enc_free(&b.enc);
    ship_forget(a);
    agent__backoff(a, 0);
    return;
  }
  uint8_t *body = NULL;
  size_t body_len = 0;
  if (b.repaired)
    agent__log(a, OS_LOG_WARN, "ingest: record %lld could not be sent as stored; sent cut, marked",
               (long long)first);
  if (wire_batch_enc_finish_z(&b.enc, a->z, a->cfg.zstd_level, &body, &body_len) != WIRE_OK) {
    agent__log(a, OS_LOG_ERROR, "ingest: cannot compress the batch");
    wire_batch_enc_free(&b.enc);
    agent__backoff(a, 0);
    return;
  }
  wire_batch_enc_free(&b.enc);
  char first_text[24], last_text[24];
  snprintf(first_text, sizeof first_text, "%lld", (long long)first);
  snprintf(last_text, sizeof last_text, "%lld", (long long)last);
  net_header h[3] = {{"Content-Encoding", "zstd"},
                     {WIRE_HDR_FIRST_SEQ, first_text},
                     {WIRE_HDR_LAST_SEQ, last_text}};
  if (agent__send_flight(a, r, fl, h, 3, body, body_len) == NET_OK) {
    a->st.batches_sent++;
    a->st.bytes_sent += (int64_t)body_len;
    if (!exact) {
      fl->first = first;
      fl->last = last;
      fl->max_bytes = max_bytes;
      if (!retry) a->ship_count++;
      a->ship_next = last + 1;
      /* A full batch leaves a backlog: the rest goes without waiting for age. */
      a->flush_now = b.full || count >= max_records; /* b.enc is freed by now */
      if (a->ship_next >= sc.next_seq) {
        a->pending_since = INT64_MIN;
        a->flush_now = 0;
      }
    }
  } else if (!retry) {
    fl->state = 0;
  }
  free(body);
}

void agent__on_ingest_done(agent *a, const agent__completion *c) {
  agent__flight *fl = agent__flight_of(c);
  reply_ingest ri;
  int ok = reply_parse_ingest(c->body, c->body_len, &ri) == REPLY_OK && ri.acked_through == fl->last;
  if (ok && ri.has_policy_version) pstate_hint(a->ps, ri.policy_version); /* issue #5 */
  if (!ok) {
    agent__log(a, OS_LOG_ERROR, "ingest: reply does not acknowledge seq %lld; keeping the batch",
               (long long)fl->last);
    a->st.batch_failures++;
    fl->state = AGENT_FL_RETRY;
    a->ship_limit = 1;
    agent__backoff(a, 0);
    return;
  }
  fl->state = AGENT_FL_ACKED;
  a->st.batches_acked++;
  if (fl->epoch == a->ship_epoch && a->ship_limit < a->ship_cap)
    a->ship_limit = a->ship_limit * 2 < a->ship_cap ? a->ship_limit * 2 : a->ship_cap;
  /* A batch sent before the last failure says nothing of the cloud now;
   * the back-off starts over when one sent since comes back and no batch
   * waits for its retry. */
  if (fl->epoch == a->ship_epoch && !agent__ship_retry_waiting(a)) agent__succeeded(a);
}

int agent__on_ingest_failed(agent *a, const agent__completion *c) {
  agent__flight *fl = agent__flight_of(c);
  a->st.batch_failures++;
  fl->state = AGENT_FL_RETRY;
  a->batch_first = fl->first;
  a->batch_last = fl->last;
  /* The window's batches went out together and fail together (a lost
   * session, an outage, a refusal): the first failure decides what to do,
   * once; the others only wait for their retry. */
  if (fl->epoch != a->ship_epoch) return 1;
  a->ship_epoch++;
  a->ship_limit = 1;
  if (agent__session_lost(c)) { /* the shared path opens a new one; said for the data path */
    char why[256];
    agent__describe_reply(c, why, sizeof why);
    agent__log(a, OS_LOG_INFO, "session ended (%s); opening a new one", why);
  }
  return 0;
}

void agent__ingest_failed_text(const agent *a, char *out, size_t cap) {
  snprintf(out, cap, "ingest of %lld..%lld failed", (long long)a->batch_first,
           (long long)a->batch_last);
}

/* ---- policy (issue #5) --------------------------------------------------- */

/* Up to a tenth of the interval, so a fleet that reconnected together does
 * not fetch in lock-step forever. */
static int64_t policy_jitter(agent *a) {
  return agent__random_below(a, pstate_policy(a->ps)->policy_interval_s * 100);
}

void agent__send_policy_fetch(agent *a, const agent__req *r) {
  agent__send(a, r, NULL, 0, NULL, 0);
}

void agent__send_policy_report(agent *a, const agent__req *r) {
  char *text = pstate_report_take(a->ps);
  if (!text) return;
  if (agent__send(a, r, NULL, 0, (const uint8_t *)text, strlen(text)) != NET_OK)
    pstate_report_done(a->ps, 0);
  free(text);
}

void agent__on_policy_done(agent *a, const agent__completion *c) {
  /* Whatever the body says, nothing in it is executed: it is data that
   * policy_parse validates and the path box bounds. */
  pstate_offer(a->ps, a->os, (const char *)c->body, c->body_len, a->now);
  pstate_fetch_done(a->ps, 1, a->now, policy_jitter(a));
  agent__succeeded(a);
}

/* Two replies that are not 200 end the fetch as well as one. */
int agent__on_policy_failed(agent *a, const agent__completion *c) {
  if (c->error == NET_ETOOBIG) {
    /* A body over the limit is a policy we refuse, not a network fault:
     * reported once, and the last good policy kept. */
    char err[POLICY_ERR_MAX];
    snprintf(err, sizeof err, "policy: the reply is larger than %u bytes", WIRE_MAX_JSON_REPLY);
    pstate_reject(a->ps, a->os, err);
    pstate_fetch_done(a->ps, 1, a->now, policy_jitter(a));
    agent__succeeded(a);
    return 1;
  }
  if (c->error == NET_OK && c->status == 404 && agent__code_is(c, "no_policy")) {
    pstate_fetch_done(a->ps, -1, a->now, policy_jitter(a)); /* none set: keep what we have */
    agent__succeeded(a);
    return 1;
  }
  return 0;
}

void agent__policy_retry_later(agent *a) { pstate_fetch_done(a->ps, 0, a->now, policy_jitter(a)); }

void agent__on_policy_report_done(agent *a, const agent__completion *c) {
  (void)c;
  pstate_report_done(a->ps, 1);
  agent__succeeded(a);
}

int agent__on_policy_report_failed(agent *a, const agent__completion *c) {
  (void)c;
  pstate_report_done(a->ps, 0);
  return 0;
}
