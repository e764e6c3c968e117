/* landlock.h - the kernel's half of the path box (issue 13; LOCAL-1, NET-2).
 *
 * After start-up `outpost-agent run` confines itself with Landlock: it may
 * read only beneath the local config's allowed_log_roots, its sources'
 * directories, the files the config names (CA, identity overrides, trusted
 * root) and the fixed system paths its collectors and libraries need; write
 * only beneath its state dir (and the metrics textfile's directory); connect
 * over TCP only to the cloud's port, a proxy's port and DNS (53); bind no TCP
 * port at all; reach no abstract Unix socket and signal no process outside
 * its own domain. The user-space checks (core/policy) decide first; this is
 * the wall a bug in them still hits.
 *
 * The three system calls are made directly (syscall(2)): no library wraps
 * them well, and the system's <linux/landlock.h> may be older than the
 * kernel, so the ABI structs are declared here (landlock.c).
 *
 * landlock_spec_init: empty spec.
 * landlock_spec_add_path: one path beneath which reading (write = 0),
 *   reading and writing (write = 1: files and directories, renames across
 *   directories) or reading and writing files only (write = 2) is allowed. A path that does not exist
 *   when the ruleset is built is skipped (a collector's directory that is
 *   absent on this host). LANDLOCK_OK, LANDLOCK_EFULL (more than
 *   LANDLOCK_MAX_RULES, or longer than LANDLOCK_PATH_MAX).
 * landlock_spec_add_port: TCP port the process may connect to (1..65535);
 *   LANDLOCK_OK, LANDLOCK_EFULL, LANDLOCK_EINVAL.
 * landlock_spec_from_config: the agent's spec: the fixed system paths,
 *   everything the config names, the cloud's port (from cloud_url, 443 when
 *   absent), the proxy's port (cfg->proxy, else HTTPS_PROXY/https_proxy/
 *   ALL_PROXY/all_proxy from the environment, which libcurl would use), 53.
 *   LANDLOCK_OK or LANDLOCK_EFULL/LANDLOCK_EINVAL with the reason in err.
 * landlock_apply: queries the best ABI the kernel offers
 *   (LANDLOCK_CREATE_RULESET_VERSION), handles every access right of that
 *   ABI (fs; TCP bind/connect from ABI 4; abstract Unix sockets and signals
 *   scoped from ABI 6), adds the spec's rules, sets no_new_privs and
 *   restricts the calling thread. Call it while the process has one thread:
 *   Landlock binds only the calling thread and the threads it creates later,
 *   so it refuses (LANDLOCK_ETHREADS) when others exist. Writes a one-line
 *   state for status.json into status (e.g. "enforced (ABI 7: fs, tcp,
 *   scopes)", "unavailable: kernel without Landlock (ENOSYS)").
 *   Returns LANDLOCK_OK (enforced), LANDLOCK_UNAVAILABLE (the kernel has no
 *   Landlock or it is disabled: nothing enforced, the agent runs and says
 *   so), LANDLOCK_ETHREADS, or LANDLOCK_ESYS (a Landlock call failed; status
 *   names it). Irreversible once it returns LANDLOCK_OK.
 * landlock_abi: the kernel's ABI version, 0 when Landlock is unavailable.
 */
#ifndef OUTPOST_POSIX_LANDLOCK_H
#define OUTPOST_POSIX_LANDLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define LANDLOCK_OK 0
#define LANDLOCK_UNAVAILABLE 1
#define LANDLOCK_EFULL (-1)
#define LANDLOCK_EINVAL (-2)
#define LANDLOCK_ETHREADS (-3)
#define LANDLOCK_ESYS (-4)

#define LANDLOCK_MAX_RULES 64
#define LANDLOCK_PATH_MAX CONFIG_PATH_MAX
#define LANDLOCK_MAX_PORTS 8
#define LANDLOCK_STATUS_MAX 96

typedef struct landlock_spec {
  char path[LANDLOCK_MAX_RULES][LANDLOCK_PATH_MAX];
  int write[LANDLOCK_MAX_RULES];
  int n_paths;
  uint16_t port[LANDLOCK_MAX_PORTS];
  int n_ports;
} landlock_spec;

void landlock_spec_init(landlock_spec *s);
int landlock_spec_add_path(landlock_spec *s, const char *path, int write);
int landlock_spec_add_port(landlock_spec *s, int port);
int landlock_spec_from_config(const agent_config *cfg, landlock_spec *s, char *err, size_t err_cap);
int landlock_apply(const landlock_spec *s, char *status, size_t status_cap);
int landlock_abi(void);

#endif
