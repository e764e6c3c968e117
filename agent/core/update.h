/* update.h - the agent's updater: the TUF client workflow over the net shim,
 * version selection, both chains verified, staging for the supervisor
 * (docs/updates.md, docs/tuf.md). No OS calls: os and net shims only, so the
 * simulator runs the same code.
 *
 * Step-driven like agent_step: update_step() does what is due and returns the
 * next monotonic deadline; at most one request is in flight, its completion
 * arrives through the net shim's callback (outside update_step) and is acted
 * on at the next update_step. A check is:
 *
 *   root.json (trusted, state_dir/update/metadata/, seeded from cfg.seed_root)
 *   -> GET <cloud>/v1/tuf/<N+1>.root.json ... (404 = newest; at most
 *      TUF_MAX_ROOT_STEPS) -> timestamp.json -> <v>.snapshot.json ->
 *      <v>.targets.json -> <v>.<ring>.json   (local copies tried first)
 *   -> the highest custom.version in the ring role for this arch above
 *      max(running, floor), not bad -> GET <cloud>/v1/targets/<ring>/
 *      outpost-agent/<v>/<sha256>.<name> and the .sig, each within its TUF
 *      length; the binary streams to state_dir/update/download.part, hashed
 *      as it comes (tuf_target_hash_*), then release_verify with
 *      cfg.release_key
 *   -> renamed to state_dir/bin/<v>/outpost-agent (0755); .sig, pending.json
 *   -> update_exit_code() = 75: the caller exits and the supervisor switches.
 *
 * Every download is capped by what TUF allows (tuf_meta_for, the target's
 * length): a longer reply is aborted and reported. A target longer than
 * cfg.max_binary_bytes (the config's update.max_binary_mb) is refused before
 * any byte is fetched. The binary is never held in memory (issue #17): it is
 * written as it arrives, and its bytes count in the spool's quota and keep
 * the volume's free-space floor through cfg.space: when they do not fit the
 * check ends with an "error" report naming the shortfall and is retried
 * after the back-off; the partial file is deleted (and on open, after a
 * crash). The supervisor keeps bin/ to current, previous and one staged
 * version (docs/updates.md). Accepted metadata is
 * persisted atomically (temp + sync + rename). After a root rotation that
 * removed a timestamp or snapshot key the local timestamp and snapshot are
 * deleted (fast-forward recovery). Any refusal (expired/frozen metadata,
 * rollback, signatures, hash or length, endless data, release signature) is
 * recorded with tuf_error()/release's message naming the role and field,
 * queued as a report for the cloud (update_peek_reports) and never trusted;
 * the agent keeps running its version. Failed checks retry with exponential
 * back-off from cfg.retry_base_ms, capped at the check interval.
 *
 * Ownership: update_open allocates, update_close frees (NULL fine) and cancels
 * a request in flight. The shims must outlive the updater. cfg is copied.
 *
 * Return codes: UPDATE_OK (0) or negative:
 *   UPDATE_EINVAL   bad argument (message in err)
 *   UPDATE_ENOMEM   allocation failed
 *   UPDATE_EOFF     updates cannot run: no release key, no trusted root
 *                   (message in err says which); *out is NULL
 */
#ifndef OUTPOST_CORE_UPDATE_H
#define OUTPOST_CORE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/release.h"
#include "shim/net.h"
#include "shim/os.h"

#define UPDATE_OK 0
#define UPDATE_EINVAL (-1)
#define UPDATE_ENOMEM (-2)
#define UPDATE_EOFF (-3)

#define UPDATE_EXIT_RESTART 75 /* EX_TEMPFAIL: the supervisor installs pending.json */
#define UPDATE_MSG_MAX 320
#define UPDATE_MAX_REPORTS 8   /* queued for the cloud; oldest dropped */
#define UPDATE_MAX_BINARY (256u * 1024 * 1024)
#define UPDATE_METADATA_DIR "update/metadata"
#define UPDATE_DOWNLOAD_FILE "update/download.part"

/* Where a download's bytes come from (the agent: its spool's quota and
 * floor, core/spool.h). Functions may be NULL: no gate. Both are called from
 * the net driver's sink as well as from update_step. */
typedef struct update_space {
  void *user;
  /* Holds bytes of the quota for a download, checking the quota's and the
   * floor's room first: 0 = held; non-zero = they do not fit, why says by
   * how much. bytes 0 lets them go (always 0). */
  int (*hold)(void *user, int64_t bytes, char *why, size_t why_cap);
  /* bytes more are still to be written: 0 while they fit above the floor. */
  int (*room)(void *user, int64_t bytes, char *why, size_t why_cap);
} update_space;

typedef struct update_config {
  const char *state_dir;       /* required */
  const char *cloud_url;       /* required: https://host[:port], no trailing path */
  const char *running_version; /* required: this binary's version */
  const char *arch;            /* NULL = release_host_arch() */
  const char *seed_root;       /* trusted root.json copied in when none is held; "" / NULL = none */
  const void *release_key;     /* PEM or DER P-256 public key; len 0 = none (EOFF) */
  size_t release_key_len;
  int64_t check_interval_ms;   /* between checks; <= 0: 1 hour */
  int64_t first_check_ms;      /* delay of the first check after open; < 0: 0 */
  int64_t retry_base_ms;       /* back-off after a failed check; <= 0: 60 s */
  int64_t request_timeout_ms;  /* metadata; <= 0: 30 s */
  int64_t download_timeout_ms; /* binaries; <= 0: 10 min */
  size_t max_binary_bytes;     /* 0 or over UPDATE_MAX_BINARY: UPDATE_MAX_BINARY */
  const update_space *space;   /* NULL: no gate; copied */
} update_config;

typedef struct update_report {
  int64_t seq;                 /* increasing per updater; for update_reports_sent */
  char kind[24];               /* "refused" (trust failure), "staged", "error" (local/transport) */
  char ring[24];
  char version[RELEASE_VERSION_MAX]; /* the candidate, "" when none was chosen */
  char message[UPDATE_MSG_MAX];      /* names the role and field */
  int64_t at_ms;                     /* wall clock */
} update_report;

typedef struct update_stats {
  int64_t checks, failures, refusals, staged;
  int64_t bytes_downloaded;
  char last_error[UPDATE_MSG_MAX];
  char staged_version[RELEASE_VERSION_MAX];
} update_stats;

typedef struct updater updater;

int update_open(const update_config *cfg, const os_shim *os, const net_shim *net, updater **out,
                char *err, size_t err_cap);
void update_close(updater *u);

/* Does what is due; ring is the policy's update_ring name ("stable", ...).
 * now_mono_ms drives timers; wall time is read from the os shim once per
 * check for TUF expiry. Returns the next deadline (> now_mono_ms). */
int64_t update_step(updater *u, int64_t now_mono_ms, const char *ring);

/* UPDATE_EXIT_RESTART once a version is staged and pending.json written,
 * else 0. After that the updater does nothing more. */
int update_exit_code(const updater *u);

/* Copies up to cap queued reports, oldest first, into out; returns how many.
 * They stay queued until update_reports_sent(u, seq of the last one
 * delivered) drops every report up to that seq (the cloud stored them). */
int update_peek_reports(const updater *u, update_report *out, int cap);
void update_reports_sent(updater *u, int64_t through_seq);

void update_get_stats(const updater *u, update_stats *out);

#endif
