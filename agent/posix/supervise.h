/* supervise.h - `outpost-agent supervise`: runs the agent as a child, switches
 * to a staged update, holds it on probation and rolls back (docs/updates.md).
 *
 * Layout under state_dir: bin/<version>/outpost-agent (+ outpost-agent.sig),
 * bin/current and bin/previous: symlinks whose target is a bare version
 * ("1.4.2"), replaced by renaming a fresh link. A link whose target is not a
 * version is refused, so nothing outside state_dir/bin is ever followed.
 *
 * Every binary the supervisor starts is verified right before the start,
 * through the descriptor it then executes (fexecve): either its .sig verifies
 * against the compiled-in release key for the directory's version, or it is
 * byte-identical to the supervisor's own binary (the version the package
 * installed). A fresh install (no bin/current) is seeded with a copy of the
 * supervisor's own binary.
 *
 * The supervisor is not the sandboxed agent: it forks and execs. The child
 * installs its own seccomp filter as usual.
 *
 * Ownership: options are borrowed for the duration of supervise_run; *stop is
 * the caller's signal flag (set from a SIGTERM/SIGINT handler), forwarded to
 * the child as SIGTERM. Nothing is allocated that outlives the call.
 *
 * Return: the process exit code: 0 after a stop request, 1 when the layout
 * cannot be set up or no verifiable binary is left to run.
 */
#ifndef OUTPOST_POSIX_SUPERVISE_H
#define OUTPOST_POSIX_SUPERVISE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/os.h"

#define SUPERVISE_EXIT_UPDATE 75  /* EX_TEMPFAIL: the agent asks for a restart */
#define SUPERVISE_BINARY_MAX (512LL * 1024 * 1024)
#define SUPERVISE_CRASH_MAX 100   /* bound on crash_loop_max */

typedef struct supervise_options {
  const os_shim *os;          /* for update/ files and the log */
  const char *state_dir;
  const char *config_path;    /* passed to the child: run --config FILE */
  const char *self_exe;       /* the supervisor's own binary ("/proc/self/exe") */
  const char *self_version;   /* outpost_version (common/version.h) */
  const char *pubkey;         /* compiled-in release key (PEM); "" or NULL = none */
  size_t pubkey_len;
  int64_t probation_ms;       /* config update.probation_s */
  int crash_loop_max;         /* config update.crash_loop_max (1..100) */
  int64_t crash_window_ms;    /* config update.crash_window_s */
  int64_t backoff_base_ms;    /* restart back-off: base, doubling ... */
  int64_t backoff_max_ms;     /* ... up to this; reset after backoff_reset_ms of running */
  int64_t backoff_reset_ms;
  int64_t stop_grace_ms;      /* SIGTERM -> SIGKILL */
  volatile sig_atomic_t *stop;
} supervise_options;

/* Defaults for the timing fields (500 ms .. 30 s back-off, reset after 60 s,
 * 10 s grace) and the config defaults; the caller sets the rest. */
void supervise_options_init(supervise_options *o);

int supervise_run(const supervise_options *o);

#endif
