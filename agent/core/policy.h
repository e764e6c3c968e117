/* policy.h - the collection policy the cloud serves, and the local limits it
 * can never lift.
 *
 * A policy is JSON (docs/policy.md). policy_parse validates every field:
 * types, ranges, unknown keys (errors name the key path, e.g.
 * "logs[2].glob: must be an absolute path"), compiled-in names (diagnostics,
 * snapshots, update rings) and compiled-in caps. A policy that fails is not
 * applied: the caller keeps its last good one and reports the error.
 *
 * Paths are a separate, per-file check (policy_check_path), because what a
 * glob matches changes over time: a refused file is reported and never
 * opened, and the rest of the policy still applies. The check, in order:
 *   1. lexical: absolute, printable, no empty result; "." and ".." folded;
 *   2. the compiled-in deny list on the lexical path;
 *   3. resolution through the os shim (realpath: symlinks and ".." resolved;
 *      a file that does not exist yet is its resolved parent + its name);
 *   4. the deny list again on the resolved path, then the agent's own state
 *      dir, then "must be under an allowed root" (local config, default
 *      /var/log; the roots are resolved too).
 * The deny list wins over everything, including the local allowed roots.
 *
 * Value types only: fixed-size structs, no allocation, nothing to free.
 *
 * Return codes: POLICY_OK (0) or negative:
 *   POLICY_EINVALID  the policy (or path) is malformed (message in err)
 *   POLICY_EDENIED   the path matches the compiled-in deny list
 *   POLICY_EOUTSIDE  the path is not under an allowed root / is the state dir
 *   POLICY_ERESOLVE  the path cannot be resolved (missing parent, loop, ...)
 */
#ifndef OUTPOST_CORE_POLICY_H
#define OUTPOST_CORE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

#define POLICY_OK 0
#define POLICY_EINVALID (-1)
#define POLICY_EDENIED (-2)
#define POLICY_EOUTSIDE (-3)
#define POLICY_ERESOLVE (-4)

#define POLICY_MAX_BYTES (64 * 1024)
#define POLICY_MAX_GLOBS 16
#define POLICY_MAX_FILES 64      /* files all globs together may add */
#define POLICY_MAX_DIAGS 16
#define POLICY_MAX_ROOTS 8
#define POLICY_PATH_MAX 1024
#define POLICY_ERR_MAX 256

/* Compiled-in caps a policy can ask for but never exceed. */
#define POLICY_RATE_CAP 5000           /* records per second, all sources */
#define POLICY_MEMORY_CAP_MB 256
#define POLICY_SNAPSHOT_ITEMS_CAP 20000
#define POLICY_MIN_INTERVAL_S 10
#define POLICY_MAX_INTERVAL_S (7 * 86400)

typedef enum policy_snapshot {
  POLICY_SNAP_PROCESSES = 0,
  POLICY_SNAP_SERVICES,
  POLICY_SNAP_INTERFACES,
  POLICY_SNAP_PACKAGES,
  POLICY_SNAP_PORTS,
  POLICY_SNAP_COUNT
} policy_snapshot;

typedef enum policy_diag {
  POLICY_DIAG_UPTIME = 0,
  POLICY_DIAG_LOAD,
  POLICY_DIAG_MEMORY,
  POLICY_DIAG_DISK,
  POLICY_DIAG_TIME_SYNC,
  POLICY_DIAG_INTERFACES,
  POLICY_DIAG_ROUTES,
  POLICY_DIAG_DNS,
  POLICY_DIAG_SELF_TEST,
  POLICY_DIAG_COUNT
} policy_diag;

typedef enum policy_ring {
  POLICY_RING_STABLE = 0,
  POLICY_RING_EARLY_ACCESS,
  POLICY_RING_CANARY
} policy_ring;

typedef struct policy_glob {
  char glob[POLICY_PATH_MAX]; /* absolute; wildcards '*' '?' only in the last component */
  int from_beginning;         /* "start": "beginning" (default "end") */
} policy_glob;

typedef struct policy_diag_entry {
  policy_diag diag;
  int64_t interval_s;
} policy_diag_entry;

typedef struct policy {
  int64_t version;                    /* >= 1, set by the cloud */
  policy_glob logs[POLICY_MAX_GLOBS];
  int n_logs;
  int64_t snapshot_interval_s[POLICY_SNAP_COUNT]; /* 0 = off */
  /* Changes between full snapshots: -1 = every interval / 10 (at least 10 s,
   * none when that is not shorter than the interval), 0 = none, else every
   * that many seconds (below the interval). */
  int64_t snapshot_delta_s[POLICY_SNAP_COUNT];
  int journal_enabled;                /* default 1 */
  int journal_max_priority;           /* 0 (emerg) .. 7 (debug, default): entries above are skipped */
  policy_diag_entry diags[POLICY_MAX_DIAGS];
  int n_diags;
  int64_t batch_max_records;          /* 0 = keep the local config's */
  int64_t batch_max_age_ms;           /* 0 = keep the local config's */
  int64_t policy_interval_s;          /* how often to re-fetch; default 300 */
  int64_t max_records_per_s;          /* default 1000, 1..POLICY_RATE_CAP */
  int64_t max_memory_mb;              /* default 64, 8..POLICY_MEMORY_CAP_MB */
  int64_t snapshot_max_items;         /* default 5000, 10..POLICY_SNAPSHOT_ITEMS_CAP */
  policy_ring update_ring;            /* default stable */
} policy;

/* The local box: set from the local config, never from the cloud. */
typedef struct policy_limits {
  char roots[POLICY_MAX_ROOTS][POLICY_PATH_MAX]; /* allowed log roots */
  int n_roots;
  char state_dir[POLICY_PATH_MAX];               /* the agent's own; always refused */
} policy_limits;

/* Defaults of an empty policy "{}" with version 0 (nothing extra collected). */
void policy_defaults(policy *out);

/* Parses and validates len bytes of JSON into *out. On error *out is left
 * unchanged (apply is atomic: parse into a copy, then assign) and err holds
 * the first problem in document order, naming the key path. */
int policy_parse(const char *json, size_t len, policy *out, char *err, size_t err_cap);

/* Names for reports and status. */
const char *policy_snapshot_name(policy_snapshot s);
const char *policy_diag_name(policy_diag d);
const char *policy_ring_name(policy_ring r);
/* Looks up a compiled-in diagnostic; -1 when unknown. */
int policy_diag_lookup(const char *name);

/* Folds "//", "." and ".." of an absolute path, lexically (no I/O).
 * POLICY_OK or POLICY_EINVALID (relative, control bytes, too long). */
int policy_normalize(const char *path, char *out, size_t cap);

/* 1 when the (normalized, absolute) path matches the compiled-in deny list,
 * with the rule's description in *rule. */
int policy_denied(const char *path, const char **rule);

/* The full check of the header comment. os->realpath may be NULL (a shim
 * without symlinks, e.g. the simulator): then the lexical path is the
 * resolved one. On POLICY_OK, resolved holds the path to open (open it with
 * OS_O_NOFOLLOW). Otherwise why says what refused it; nothing was opened. */
int policy_check_path(const policy_limits *lim, const os_shim *os, const char *path,
                      char *resolved, size_t resolved_cap, char *why, size_t why_cap);

/* 1 when name matches pattern: '*' any run, '?' one byte, no '/' in either. */
int policy_glob_match(const char *pattern, const char *name);

/* Expands one glob: lists its directory through os->list_dir (the directory
 * is literal, and must itself pass policy_check_path), checks every match
 * with policy_check_path, calls ok(user, resolved) for each allowed file and
 * refused(user, path, why) for each refused one, at most max_files calls to
 * ok. A glob without wildcards is one path. Returns the number of allowed
 * files, or a negative POLICY_E* when the directory itself is refused (why
 * set, refused() not called). */
typedef struct policy_expand_cb {
  void *user;
  void (*ok)(void *user, const char *resolved);
  void (*refused)(void *user, const char *path, const char *why);
} policy_expand_cb;
int policy_expand_glob(const policy_limits *lim, const os_shim *os, const char *glob,
                       int max_files, const policy_expand_cb *cb, char *why, size_t why_cap);

#endif
