/* collect.h - system-state snapshots and the fixed diagnostics (issue #5).
 *
 * Read directly through the os shim (open/pread/list_dir/free_space): no
 * child process, no shell, no D-Bus. Each item becomes one JSON text line
 * handed to emit() at once, so memory does not grow with the number of
 * processes or packages: a 2,000-process snapshot uses the same few KiB of
 * stack as a 20-process one. At most max_items items, then a summary line
 * with "truncated":true. Every snapshot ends with one summary line
 * {"snapshot":NAME,"summary":true,"items":N,"truncated":BOOL,"available":BOOL}.
 *
 * What is read:
 *   processes  PROC/<pid>/{stat,status,cmdline}: pid, name, uid, cmdline (cut
 *              at 512 bytes, NULs as spaces), start time, RSS
 *   interfaces SYS/class/net/<if>/{address,operstate,mtu}; then one line
 *              per address {"name","ipv4"|"ipv6","prefix"} from
 *              os->list_addrs (netlink); without it (or with a fake
 *              roots->proc) IPv6 only, from PROC/net/if_inet6
 *   packages   DPKG status via the streaming parser (core/dpkg.h), then the
 *              rpm database when there is one (core/rpmhdr.h); each item has
 *              "source":"dpkg"|"rpm", and the summary adds "dpkg":STATE,
 *              "rpm":STATE (+ "rpm_reason") - see docs/policy.md
 *   ports      PROC/net/{tcp,tcp6,udp,udp6}: listening TCP and bound UDP
 *   services   RUN/systemd/units/invocation:<unit>: the units systemd runs now
 *              (without D-Bus only the active set is visible; "not available"
 *              on hosts without systemd, e.g. containers)
 * Diagnostics (one line each): uptime, load, memory, disk, time_sync,
 * interfaces, routes, dns, self_test.
 *
 * Return codes: COLLECT_OK (0), COLLECT_ESTOP (emit asked to stop),
 * COLLECT_EINVAL (unknown snapshot or diagnostic).
 */
#ifndef OUTPOST_CORE_COLLECT_H
#define OUTPOST_CORE_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "core/policy.h"
#include "shim/os.h"

#define COLLECT_OK 0
#define COLLECT_ESTOP (-1)
#define COLLECT_EINVAL (-2)

#define COLLECT_LINE_MAX 2048 /* one item's JSON line */

/* Where to read; tests point these at a fake tree. NULL = the real path. */
typedef struct collect_roots {
  const char *proc;        /* "/proc" */
  const char *sys;         /* "/sys" */
  const char *run;         /* "/run" */
  const char *dpkg_status; /* "/var/lib/dpkg/status" */
  const char *resolv;      /* "/etc/resolv.conf" */
} collect_roots;

/* emit returns non-zero to stop. line is NUL-terminated, len excludes it. */
typedef int (*collect_emit_fn)(void *user, const char *line, size_t len);

int collect_snapshot(policy_snapshot which, const os_shim *os, const collect_roots *roots,
                     int64_t max_items, collect_emit_fn emit, void *user, int64_t *items);

int collect_diag(policy_diag which, const os_shim *os, const collect_roots *roots,
                 const char *state_dir, collect_emit_fn emit, void *user);

/* Source names used in records: "snapshot:processes", "diag:uptime". */
void collect_source_name(int is_diag, int which, char *out, size_t cap);

#endif
