/* agent_space.c - space: back-pressure, then shedding, and the shed
 * report to the cloud (issue #3).
 */
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/agent_int.h"

#define AGENT_SHED_REPORT_MAX 64 /* entries per POST /v1/shed (the cloud's limit) */
#define AGENT_FLOOR_SHEDS_PER_STEP 8

static const char *const shed_reason_names[] = {"?", "quota", "floor", "full", "io"};

static void log_shed(agent *a, const spool_shed_entry *e) {
  agent__log(a, OS_LOG_WARN,
             "shed %lld records (%lld bytes, seq %lld..%lld) to keep the spool %s; "
             "reported to the cloud next",
             (long long)e->records, (long long)e->bytes, (long long)e->first_seq,
             (long long)e->last_seq,
             e->reason == SPOOL_SHED_FLOOR  ? "above the volume's free-space floor"
             : e->reason == SPOOL_SHED_IO   ? "writable after an I/O error"
             : e->reason == SPOOL_SHED_FULL ? "writable on a full volume"
                                            : "within its quota");
}

static int shed_once(agent *a, int64_t min_bytes, spool_shed_reason why) {
  /* The oldest records may be in a batch in flight: the cloud may store it,
   * so shedding them now would count them as both held and shed. Shed after
   * the window's replies (at most request_timeout_ms), when the acks have
   * removed what they could. */
  if (a->ship_sent > 0) return -1;
  spool_shed_entry e;
  int rc = spool_shed(a->sp, min_bytes, why, a->wall, &e);
  if (rc != SPOOL_OK) {
    /* Said when it starts or its reason changes, not at every step: a
     * volume that stays full must not flood the log (issue #17's rule). */
    const char *msg = spool_errmsg(a->sp);
    a->shed_failures++;
    if (strcmp(msg, a->shed_error) != 0) {
      agent__log(a, OS_LOG_ERROR, "cannot shed: %s (said again only if the reason changes)", msg);
      snprintf(a->shed_error, sizeof a->shed_error, "%s", msg);
    }
    return -1;
  }
  if (a->shed_error[0]) {
    agent__log(a, OS_LOG_INFO, "shedding works again after %lld failed attempts",
               (long long)a->shed_failures);
    a->shed_error[0] = 0;
    a->shed_failures = 0;
  }
  if (e.records == 0) return -1;
  log_shed(a, &e);
  agent__ship_trim(a);
  spool_counters sc;
  spool_get_counters(a->sp, &sc);
  if (sc.spooled == 0) a->pending_since = INT64_MIN;
  return 0;
}

/* Others took the volume under its floor: give back our oldest records (and
 * their pages) until the floor holds again or the spool is empty. Waiting
 * would not help here: the agent is not what fills the volume. */
void agent__space_before_collect(agent *a) {
  for (int i = 0; i < AGENT_FLOOR_SHEDS_PER_STEP; i++) {
    spool_space_info si;
    if (spool_space(a->sp, &si) != SPOOL_OK || si.deficit <= 0) return;
    if (shed_once(a, si.deficit, SPOOL_SHED_FLOOR) != 0) return;
  }
}

/* After a source was polled: a full spool first pauses reading (the offset
 * stays, the data waits in the log file); only when the pause has lasted
 * backpressure_max_ms (the cloud is not draining us) does the agent shed its
 * oldest records to make room for new ones. An I/O error sheds at once. */
void agent__space_after_poll(agent *a, int rc, int64_t lines) {
  if (rc == TAIL_OK) {
    if (lines > 0 && a->bp_since != INT64_MIN) {
      agent__log(a, OS_LOG_INFO, "spool has room again, reading resumed");
      a->bp_since = INT64_MIN;
      a->shedding = 0;
    }
    return;
  }
  int err = spool_last_error(a->sp);
  if (rc == TAIL_ESPOOL && err == SPOOL_EIO) {
    if (shed_once(a, 0, SPOOL_SHED_IO) == 0) a->more_to_read = 1;
    return;
  }
  if (rc != TAIL_EFULL) return;
  if (a->bp_since == INT64_MIN) a->bp_since = a->now;
  if (!a->shedding && a->now - a->bp_since < a->cfg.backpressure_max_ms) return;
  a->shedding = 1;
  /* How much and why are the spool's (its quota, its volume): a failure to
   * read the volume still sheds, for the quota. */
  int64_t chunk = 0;
  spool_shed_reason why = SPOOL_SHED_QUOTA;
  (void)spool_shed_plan(a->sp, &chunk, &why);
  if (shed_once(a, chunk, why) == 0) a->more_to_read = 1;
}

void agent__send_shed_report(agent *a, const agent__req *r) {
  spool_shed_entry e[AGENT_SHED_REPORT_MAX];
  int n = 0;
  if (spool_shed_pending(a->sp, e, AGENT_SHED_REPORT_MAX, &n) != SPOOL_OK || n == 0) {
    agent__log(a, OS_LOG_ERROR, "cannot read the shed log: %s", spool_errmsg(a->sp));
    agent__backoff(a, 0);
    return;
  }
  cJSON *b = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(b, "reports");
  for (int i = 0; arr && i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      break;
    }
    cJSON_AddNumberToObject(o, "first_seq", (double)e[i].first_seq);
    cJSON_AddNumberToObject(o, "last_seq", (double)e[i].last_seq);
    cJSON_AddNumberToObject(o, "records", (double)e[i].records);
    cJSON_AddNumberToObject(o, "bytes", (double)e[i].bytes);
    cJSON_AddNumberToObject(o, "ts_first", (double)e[i].ts_first_ms);
    cJSON_AddNumberToObject(o, "ts_last", (double)e[i].ts_last_ms);
    cJSON_AddNumberToObject(o, "at", (double)e[i].at_ms);
    int reason = e[i].reason >= 1 && e[i].reason <= 4 ? e[i].reason : 1;
    cJSON_AddStringToObject(o, "reason", shed_reason_names[reason]);
  }
  char *text = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  if (!text) {
    agent__backoff(a, 0);
    return;
  }
  if (agent__send(a, r, NULL, 0, (const uint8_t *)text, strlen(text)) == NET_OK)
    a->shed_report_through = e[n - 1].id;
  cJSON_free(text);
}

void agent__on_shed_done(agent *a, const agent__completion *c) {
  (void)c;
  if (spool_shed_reported(a->sp, a->shed_report_through) != SPOOL_OK)
    /* Remembered in memory: the next report goes on from there; after a
     * restart this one is sent again, which the cloud stores idempotently. */
    agent__log(a, OS_LOG_WARN, "cannot persist that the shed report was sent: %s",
               spool_errmsg(a->sp));
  agent__log(a, OS_LOG_INFO, "shed report stored by the cloud");
  agent__succeeded(a);
}

void agent__on_shed_refused(agent *a, const agent__completion *c, const char *why) {
  (void)c;
  agent__log(a, OS_LOG_ERROR, "shed report failed: %s", why);
  /* A cloud that refuses the report must not stop the data behind it:
   * keep the report (persisted) and try again in an hour. */
  a->shed_hold_until = a->now + AGENT_REFUSED_RETRY_MS;
  agent__succeeded(a);
}
