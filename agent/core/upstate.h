/* upstate.h - the updater's persistent state under state_dir/update/
 * (docs/updates.md), shared by the agent (core), the supervisor (posix) and,
 * later, the simulator: everything goes through the os shim.
 *
 *   update/state.json    {"floor":V,"bad":[V...],"probation":null |
 *                         {"version":V,"since":ms,"deadline":ms,"starts":n}}
 *   update/pending.json  {"version":V,"sha256":H,"length":n}  (agent -> supervisor)
 *   update/health.json   {"version":V,"at":ms}                (agent -> supervisor)
 *   update/report.json   {"events":[{"kind":K,"version":V,"reason":R,"at":ms}...]}
 *                        (supervisor -> agent, which sends it to the cloud)
 *
 * V is a release version (common/release.h), "floor" may be "" (none yet);
 * ms are wall-clock Unix milliseconds. Parsing is strict: unknown keys, wrong
 * types, malformed versions and duplicates are errors whose message names the
 * key (e.g. "state.json: probation.deadline: must be an integer >= 0").
 * Writes are atomic (temp + sync + rename through the shim, files.h).
 *
 * Bounds: every file <= UPSTATE_FILE_MAX bytes; at most UPSTATE_MAX_BAD bad
 * versions (when full, the lowest is dropped: the floor already keeps the
 * oldest versions out); at most UPSTATE_MAX_REPORTS events (oldest dropped).
 *
 * Ownership: plain value types with fixed-size fields; nothing to free.
 *
 * Return codes: OS_OK (0); a negative OS_E* code from the shim (OS_ENOENT
 * when a file is absent where noted, OS_EFBIG when over UPSTATE_FILE_MAX);
 * or UPSTATE_EPARSE with the message in err; UPSTATE_EINVAL for a bad
 * argument (malformed version given by the caller).
 */
#ifndef OUTPOST_CORE_UPSTATE_H
#define OUTPOST_CORE_UPSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/release.h"
#include "shim/os.h"

#define UPSTATE_EPARSE (-1000)
#define UPSTATE_EINVAL (-1001)

#define UPSTATE_FILE_MAX 8192
#define UPSTATE_MAX_BAD 32
#define UPSTATE_MAX_REPORTS 16
#define UPSTATE_REASON_MAX 160
#define UPSTATE_KIND_MAX 24
#define UPSTATE_STARTS_MAX 1000000

#define UPSTATE_DIR "update"
#define UPSTATE_STATE_FILE "update/state.json"
#define UPSTATE_PENDING_FILE "update/pending.json"
#define UPSTATE_HEALTH_FILE "update/health.json"
#define UPSTATE_REPORT_FILE "update/report.json"

typedef struct upstate_probation {
  char version[RELEASE_VERSION_MAX];
  int64_t since_ms;
  int64_t deadline_ms;
  int starts; /* child starts of this version while on probation */
} upstate_probation;

typedef struct upstate {
  char floor[RELEASE_VERSION_MAX]; /* "" = no floor yet */
  char bad[UPSTATE_MAX_BAD][RELEASE_VERSION_MAX];
  int n_bad;
  int on_probation;
  upstate_probation probation;
} upstate;

typedef struct upstate_pending {
  char version[RELEASE_VERSION_MAX];
  char sha256[2 * CRYPTO_SHA256_LEN + 1];
  int64_t length;
} upstate_pending;

typedef struct upstate_health {
  char version[RELEASE_VERSION_MAX];
  int64_t at_ms;
} upstate_health;

typedef struct upstate_report {
  char kind[UPSTATE_KIND_MAX]; /* "rollback", "refused", ... [a-z_] */
  char version[RELEASE_VERSION_MAX];
  char reason[UPSTATE_REASON_MAX];
  int64_t at_ms;
} upstate_report;

/* Empty state: no floor, nothing bad, no probation. */
void upstate_init(upstate *st);

/* Pure parse/render (no I/O). render returns the length written (< cap,
 * NUL-terminated) or UPSTATE_EINVAL when it does not fit / a field is bad. */
int upstate_parse(const char *json, size_t len, upstate *out, char *err, size_t err_cap);
int upstate_render(const upstate *st, char *out, size_t cap);
int upstate_parse_pending(const char *json, size_t len, upstate_pending *out, char *err,
                          size_t err_cap);
int upstate_parse_health(const char *json, size_t len, upstate_health *out, char *err,
                         size_t err_cap);

/* state.json: a missing file loads as upstate_init's state (OS_OK). */
int upstate_load(const os_shim *os, const char *state_dir, upstate *out, char *err, size_t err_cap);
int upstate_save(const os_shim *os, const char *state_dir, const upstate *st);

/* 1 when version is on the bad list. */
int upstate_is_bad(const upstate *st, const char *version);
/* Adds version to the bad list (no duplicate). UPSTATE_EINVAL if malformed. */
int upstate_add_bad(upstate *st, const char *version);
/* floor := max(floor, version). UPSTATE_EINVAL if malformed. */
int upstate_raise_floor(upstate *st, const char *version);

/* pending.json / health.json: OS_ENOENT when absent. */
int upstate_load_pending(const os_shim *os, const char *state_dir, upstate_pending *out, char *err,
                         size_t err_cap);
int upstate_save_pending(const os_shim *os, const char *state_dir, const upstate_pending *p);
int upstate_clear_pending(const os_shim *os, const char *state_dir);
int upstate_load_health(const os_shim *os, const char *state_dir, upstate_health *out, char *err,
                        size_t err_cap);
int upstate_save_health(const os_shim *os, const char *state_dir, const char *version,
                        int64_t at_ms);

/* report.json: appends one event (oldest dropped beyond UPSTATE_MAX_REPORTS;
 * an unreadable old file is replaced rather than blocking the report).
 * load fills up to cap events, *n set; OS_ENOENT when absent. */
int upstate_add_report(const os_shim *os, const char *state_dir, const upstate_report *r);
int upstate_load_reports(const os_shim *os, const char *state_dir, upstate_report *out, int cap,
                         int *n, char *err, size_t err_cap);

/* The agent-side health hook (docs/updates.md): when state.json holds a
 * probation for running_version and health.json does not yet say so, writes
 * health.json. Returns 1 when written, 0 when nothing was due, negative on
 * error. The caller decides when the agent is healthy (checked in and shipped). */
int upstate_report_healthy(const os_shim *os, const char *state_dir, const char *running_version,
                           int64_t wall_ms);
/* 1 when state.json holds a probation for version (errors read as 0). */
int upstate_probation_for(const os_shim *os, const char *state_dir, const char *version);

#endif
