/* statusfile.h - local status for the operator without a port (issue #5).
 *
 * The running agent rewrites state_dir/status.json atomically (temp file,
 * sync, rename) every few seconds and at exit; `outpost-agent status` reads
 * it. Optionally the same figures go, in the Prometheus text format, to a
 * file for node_exporter's textfile collector (also temp + rename, so the
 * collector never reads half a file). No socket is involved: NET-2.
 *
 * The renderers are pure (no I/O); statusfile_write does the I/O through
 * the os shim. Nothing secret is written (no key, no token, no session).
 *
 * Return codes: renderers return the length written (< cap) or -1 when cap
 * is too small; statusfile_write returns OS_OK or a negative OS_E* code of
 * the first file that failed.
 */
#ifndef OUTPOST_CORE_STATUSFILE_H
#define OUTPOST_CORE_STATUSFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/agent.h"
#include "core/caps.h"
#include "core/pstate.h"
#include "shim/os.h"

#define STATUSFILE_NAME "status.json"
#define STATUSFILE_MAX 8192

typedef struct statusfile_data {
  agent_stats st;
  pstate_info pol;
  int64_t wall_ms;         /* when written */
  int64_t last_contact_ms; /* wall ms of the last HTTP reply from the cloud, 0 = never */
  caps_info caps;          /* issue #5: the caps enforced now, RSS */
  int64_t cpu_ms;          /* process CPU, user + system, -1 = unknown */
  char sandbox_landlock[AGENT_SANDBOX_MAX]; /* issue 13: "" = not reported */
  char sandbox_seccomp[AGENT_SANDBOX_MAX];
} statusfile_data;

int statusfile_render_json(const statusfile_data *d, char *out, size_t cap);
int statusfile_render_prom(const statusfile_data *d, char *out, size_t cap);

/* Collects the data from a, writes state_dir/status.json and, when
 * prom_path is non-empty, the textfile. */
int statusfile_write(const os_shim *os, const agent *a, const char *state_dir,
                     const char *prom_path, int64_t wall_ms);

#endif
