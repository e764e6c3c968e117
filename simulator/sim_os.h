/* sim_os.h - the os_shim of one simulated agent.
 *
 * Clocks come from the simulator's virtual time: mono = sim time, wall =
 * SIM_WALL_EPOCH_MS + sim time + the agent's skew. random() draws from the
 * agent's own rng stream; file operations go to its sim_fs; read_identity
 * answers from the hostname / machine-id strings given here; log() counts
 * lines per level and forwards them to an optional sink (the fleet writes
 * them to the trace only at debug trace level).
 *
 * Ownership: sim_os is a plain struct embedded by the caller; it borrows now,
 * rng and fs, which must outlive the shim it fills. Nothing to free.
 */
#ifndef OUTPOST_SIM_OS_H
#define OUTPOST_SIM_OS_H

#include <stdint.h>

#include "shim/os.h"
#include "sim_fs.h"
#include "sim_rng.h"

#define SIM_WALL_EPOCH_MS INT64_C(1764374400000) /* 2025-11-29T00:00:00Z */
#define SIM_IDENT_MAX 96

typedef void (*sim_os_log_fn)(void *user, os_log_level level, const char *msg);

typedef struct sim_os {
  const int64_t *now_ms; /* the simulator's virtual clock */
  int64_t skew_ms;
  sim_rng *rng;
  sim_fs *fs;
  char hostname[SIM_IDENT_MAX];
  char machine_id[SIM_IDENT_MAX];
  char product_uuid[SIM_IDENT_MAX]; /* "" = none (OS_ENOENT) */
  char macs[SIM_IDENT_MAX];
  int64_t log_count[4];
  sim_os_log_fn log_sink; /* may be NULL */
  void *log_user;
  /* issue #5: every open of a path on the compiled-in deny list (the agent's
   * own state dir, own_dir, excepted) is counted: the compromised-cloud
   * scenario asserts it stays 0. */
  char own_dir[256];
  int64_t denied_opens;
  char denied_first[256];
  /* issue #5 (caps): what self_rss reports; 0 = unknown (OS_ENOSYS). */
  int64_t rss_bytes;
  /* issue #13: the uid the agent runs as (euid; default 0 = root). Not
   * root: chown_nofollow answers OS_EPERM, as the kernel would. Set it with
   * sim_os_set_uid so files the agent creates get this owner. */
  uint32_t uid;
} sim_os;

/* hostname / machine_id may be NULL or "" (then read_identity gives OS_ENOENT). */
void sim_os_init(sim_os *o, const int64_t *now_ms, int64_t skew_ms, sim_rng *rng, sim_fs *fs,
                 const char *hostname, const char *machine_id);
/* Sets one identity source (OS_IDENT_*) to value ("" or NULL: absent). */
void sim_os_set_identity(sim_os *o, os_ident_kind kind, const char *value);

/* issue #13: the host's uid (o->uid) and the owner of what it creates. */
void sim_os_set_uid(sim_os *o, uint32_t uid);

/* Fills *out with function pointers bound to o. */
void sim_os_shim(sim_os *o, os_shim *out);

#endif
