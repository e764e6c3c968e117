/* agent_update.c - the updater in the agent (issue #6, core/update.h):
 * opened with the agent, stepped with it, its downloads held in the
 * spool's quota and above the volume's floor (issue #17), its reports in
 * the check-in.
 */
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "common/version.h"
#include "core/agent_int.h"

/* A download's bytes: in the spool's quota, above the volume's floor. */
static int agent_update_hold(void *user, int64_t bytes, char *why, size_t cap) {
  agent *a = user;
  spool_space_info si;
  if (bytes == 0) {
    (void)spool_set_outside_bytes(a->sp, 0);
    return 0;
  }
  if (spool_space(a->sp, &si) != SPOOL_OK) {
    snprintf(why, cap, "spool: %s", spool_errmsg(a->sp));
    return -1;
  }
  if (bytes > si.quota_room) {
    snprintf(why, cap, "the spool's quota of %lld bytes has %lld free (records waiting for the cloud)",
             (long long)a->cfg.spool_quota_bytes, (long long)si.quota_room);
    return -1;
  }
  if (si.floor_room >= 0 && bytes > si.floor_room) {
    snprintf(why, cap, "the volume has %lld bytes free above its floor of %lld", (long long)si.floor_room,
             (long long)si.floor_bytes);
    return -1;
  }
  if (spool_set_outside_bytes(a->sp, bytes) != SPOOL_OK) {
    snprintf(why, cap, "spool: %s", spool_errmsg(a->sp));
    return -1;
  }
  return 0;
}

static int agent_update_room(void *user, int64_t bytes, char *why, size_t cap) {
  agent *a = user;
  spool_space_info si;
  if (spool_space(a->sp, &si) != SPOOL_OK) {
    snprintf(why, cap, "spool: %s", spool_errmsg(a->sp));
    return -1;
  }
  if (si.floor_room >= 0 && bytes > si.floor_room) {
    snprintf(why, cap, "the volume has %lld bytes free above its floor of %lld, %lld more to write",
             (long long)si.floor_room, (long long)si.floor_bytes, (long long)bytes);
    return -1;
  }
  return 0;
}

void agent__update_open(agent *a) {
  if (!a->cfg.update_enabled) return;
  a->upd_space = (update_space){.user = a, .hold = agent_update_hold, .room = agent_update_room};
  update_config uc = {
      .state_dir = a->cfg.state_dir,
      .cloud_url = a->cfg.cloud_url,
      .running_version = outpost_version,
      .seed_root = a->cfg.update_trusted_root,
      .release_key = a->cfg.update_release_key_pem,
      .release_key_len = strnlen(a->cfg.update_release_key_pem, sizeof a->cfg.update_release_key_pem),
      .check_interval_ms = a->cfg.update_check_interval_ms,
      /* Spread a fleet's first checks over a window (default 5 minutes);
       * a small fleet, or a freshly switched version, may check at once. */
      .first_check_ms = a->cfg.update_first_check_ms > 0
                            ? agent__random_below(a, a->cfg.update_first_check_ms)
                            : 0,
      .retry_base_ms = a->cfg.retry_base_ms * 60,
      .request_timeout_ms = a->cfg.request_timeout_ms,
      .max_binary_bytes = (size_t)a->cfg.update_max_binary_bytes,
      .space = &a->upd_space,
  };
  char err[300];
  int rc = update_open(&uc, a->os, a->net, &a->upd, err, sizeof err);
  if (rc != UPDATE_OK) agent__log(a, OS_LOG_WARN, "update: %s; updates off", err);
  else agent__log(a, OS_LOG_INFO, "update: checking every %lld s",
                  (long long)(uc.check_interval_ms / 1000));
}

int64_t agent__update_step(agent *a, int64_t deadline) {
  if (!a->upd) return deadline;
  const policy *p = pstate_policy(a->ps);
  int64_t d = update_step(a->upd, a->now, policy_ring_name(p ? p->update_ring : POLICY_RING_STABLE));
  return d < deadline ? d : deadline;
}

/* "update": refusals and stagings since the last check-in the cloud stored. */
void agent__update_add_reports(agent *a, cJSON *body) {
  update_report r[UPDATE_MAX_REPORTS];
  int n = update_peek_reports(a->upd, r, UPDATE_MAX_REPORTS);
  a->upd_report_seq = n > 0 ? r[n - 1].seq : 0;
  if (n == 0) return;
  cJSON *arr = cJSON_AddArrayToObject(body, "update");
  for (int i = 0; arr && i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    if (!e) continue;
    cJSON_AddStringToObject(e, "kind", r[i].kind);
    cJSON_AddStringToObject(e, "ring", r[i].ring);
    cJSON_AddStringToObject(e, "version", r[i].version);
    cJSON_AddStringToObject(e, "running", outpost_version);
    cJSON_AddStringToObject(e, "message", r[i].message);
    cJSON_AddNumberToObject(e, "at", (double)r[i].at_ms);
    cJSON_AddItemToArray(arr, e);
  }
}

int agent_exit_code(const agent *a) { return a ? update_exit_code(a->upd) : 0; }
