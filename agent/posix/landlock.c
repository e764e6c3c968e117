/* landlock.c - Landlock for the real agent (see landlock.h). */
#define _GNU_SOURCE
#include "posix/landlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posix/os_posix.h"

/* The kernel ABI (include/uapi/linux/landlock.h), declared here because the
 * build host's header may predate the running kernel (Debian 12's knows
 * ABI 2; the kernels it runs on offer up to 7). Names carry the module's
 * internal prefix so they cannot clash with a newer system header. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#define LANDLOCK__CREATE_RULESET_VERSION (1U << 0)
#define LANDLOCK__RULE_PATH_BENEATH 1
#define LANDLOCK__RULE_NET_PORT 2

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_DIR (1ULL << 4)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_CHAR (1ULL << 6)
#define FS_MAKE_DIR (1ULL << 7)
#define FS_MAKE_REG (1ULL << 8)
#define FS_MAKE_SOCK (1ULL << 9)
#define FS_MAKE_FIFO (1ULL << 10)
#define FS_MAKE_BLOCK (1ULL << 11)
#define FS_MAKE_SYM (1ULL << 12)
#define FS_REFER (1ULL << 13)    /* ABI 2 */
#define FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

struct landlock__ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct landlock__path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

struct landlock__net_port_attr {
  uint64_t allowed_access;
  uint64_t port;
};

/* Paths every agent reads after start-up, whatever its config: the
 * collectors' sources (/proc, /sys, package databases, the journal, systemd's
 * unit state), name resolution (resolv.conf, hosts, NSS config; NSS modules
 * load lazily from /usr), TLS trust (the CA directory, not /etc/ssl/private),
 * OpenSSL's config and the libraries under /usr, the host identity. A path
 * missing on this host is skipped. */
static const char *const system_read[] = {
    "/proc",
    "/sys",
    "/usr",
    "/var/lib/dpkg",
    "/var/lib/rpm",
    "/var/log/journal",
    "/run/log/journal",
    "/run/systemd",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/pki/tls/certs",
    "/etc/pki/ca-trust",
    "/etc/os-release",
    OS_POSIX_DEFAULT_MACHINE_ID,
    OS_POSIX_FALLBACK_MACHINE_ID,
};

void landlock_spec_init(landlock_spec *s) { memset(s, 0, sizeof *s); }

int landlock_spec_add_path(landlock_spec *s, const char *path, int write) {
  size_t n = strlen(path);
  if (n == 0) return LANDLOCK_OK; /* an optional config path left empty */
  if (s->n_paths >= LANDLOCK_MAX_RULES || n >= LANDLOCK_PATH_MAX) return LANDLOCK_EFULL;
  memcpy(s->path[s->n_paths], path, n + 1);
  s->write[s->n_paths] = write < 0 ? 0 : write > 2 ? 2 : write;
  s->n_paths++;
  return LANDLOCK_OK;
}

int landlock_spec_add_port(landlock_spec *s, int port) {
  if (port < 1 || port > 65535) return LANDLOCK_EINVAL;
  for (int i = 0; i < s->n_ports; i++)
    if (s->port[i] == port) return LANDLOCK_OK;
  if (s->n_ports >= LANDLOCK_MAX_PORTS) return LANDLOCK_EFULL;
  s->port[s->n_ports++] = (uint16_t)port;
  return LANDLOCK_OK;
}

/* The directory part of path ("/a/b/c.log" -> "/a/b"; "/x" -> "/"). A source
 * is granted by its directory, not its file: Landlock rules name inodes, and
 * a rotated log is a new inode under the same name. */
static void dir_of(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (n == 0) n = slash ? 1 : 0; /* "/x" -> "/"; a relative name -> "" (skipped) */
  if (n >= cap) n = 0;
  memcpy(out, path, n);
  out[n] = 0;
}

/* Port of a URL "scheme://[user@]host[:port][/...]"; dflt when it has none;
 * -1 when malformed. */
static int url_port(const char *url, int dflt) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *at = strchr(p, '@');
  const char *end = p + strcspn(p, "/?#");
  if (at && at < end) p = at + 1;
  const char *colon = NULL;
  if (*p == '[') {
    const char *rb = memchr(p, ']', (size_t)(end - p));
    if (!rb) return -1;
    if (rb + 1 < end && rb[1] == ':') colon = rb + 1;
  } else {
    colon = memchr(p, ':', (size_t)(end - p));
  }
  if (!colon) return dflt;
  long port = 0;
  const char *q = colon + 1;
  if (q == end) return dflt;
  for (; q < end; q++) {
    if (*q < '0' || *q > '9' || port > 65535) return -1;
    port = port * 10 + (*q - '0');
  }
  return port >= 1 && port <= 65535 ? (int)port : -1;
}

/* The port libcurl would use for this proxy string: an explicit one, else
 * 443 for https:// and 1080 (libcurl's default) for everything else. */
static int proxy_port(const char *proxy) {
  return url_port(proxy, strncmp(proxy, "https://", 8) == 0 ? 443 : 1080);
}

int landlock_spec_from_config(const agent_config *cfg, landlock_spec *s, char *err,
                              size_t err_cap) {
  char dir[LANDLOCK_PATH_MAX];
  int rc = LANDLOCK_OK;
  landlock_spec_init(s);
  for (size_t i = 0; i < sizeof system_read / sizeof system_read[0] && rc == LANDLOCK_OK; i++)
    rc = landlock_spec_add_path(s, system_read[i], 0);
  for (int i = 0; i < cfg->n_allowed_log_roots && rc == LANDLOCK_OK; i++)
    rc = landlock_spec_add_path(s, cfg->allowed_log_roots[i], 0);
  for (int i = 0; i < cfg->n_sources && rc == LANDLOCK_OK; i++) {
    dir_of(cfg->sources[i].path, dir, sizeof dir);
    rc = landlock_spec_add_path(s, dir, 0);
  }
  const char *const files[] = {cfg->ca_file, cfg->proxy_ca_file, cfg->update_trusted_root,
                               cfg->machine_id_file, cfg->product_uuid_file};
  for (size_t i = 0; i < sizeof files / sizeof files[0] && rc == LANDLOCK_OK; i++)
    rc = landlock_spec_add_path(s, files[i], 0);
  if (rc == LANDLOCK_OK) rc = landlock_spec_add_path(s, cfg->state_dir, 1);
  if (rc == LANDLOCK_OK && cfg->metrics_textfile[0]) {
    /* written temp + rename beside itself: its directory needs files
     * created, written and removed (not directories) */
    dir_of(cfg->metrics_textfile, dir, sizeof dir);
    rc = landlock_spec_add_path(s, dir, 2);
  }
  if (rc != LANDLOCK_OK) {
    if (err && err_cap) snprintf(err, err_cap, "landlock: more than %d paths", LANDLOCK_MAX_RULES);
    return rc;
  }
  int port = url_port(cfg->cloud_url, 443);
  if (port < 0 || landlock_spec_add_port(s, port) != LANDLOCK_OK) {
    if (err && err_cap) snprintf(err, err_cap, "landlock: cannot read the port of cloud_url");
    return LANDLOCK_EINVAL;
  }
  /* libcurl takes the proxy from the environment when the config has none
   * (main.c); whichever it will use must stay reachable. */
  const char *proxy = cfg->proxy[0] ? cfg->proxy : NULL;
  static const char *const env[] = {"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"};
  for (size_t i = 0; !proxy && i < sizeof env / sizeof env[0]; i++) {
    const char *v = getenv(env[i]);
    if (v && v[0]) proxy = v;
  }
  if (proxy) {
    port = proxy_port(proxy);
    if (port < 0 || landlock_spec_add_port(s, port) != LANDLOCK_OK) {
      if (err && err_cap) snprintf(err, err_cap, "landlock: cannot read the proxy's port");
      return LANDLOCK_EINVAL;
    }
  }
  /* DNS: glibc retries a truncated UDP answer over TCP to port 53. */
  return landlock_spec_add_port(s, 53);
}

int landlock_abi(void) {
  long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK__CREATE_RULESET_VERSION);
  return v > 0 ? (int)v : 0;
}

/* Number of threads of this process (entries of /proc/self/task), -1 when
 * unknown. */
static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static int ll_fail(char *status, size_t cap, const char *what, int e) {
  if (status && cap) snprintf(status, cap, "failed: %s: %s", what, strerror(e));
  return LANDLOCK_ESYS;
}

int landlock_apply(const landlock_spec *s, char *status, size_t cap) {
  long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK__CREATE_RULESET_VERSION);
  if (v <= 0) {
    int e = errno;
    if (status && cap)
      snprintf(status, cap, "unavailable: %s",
               e == ENOSYS       ? "kernel without Landlock (ENOSYS)"
               : e == EOPNOTSUPP ? "Landlock disabled at boot (EOPNOTSUPP)"
                                 : strerror(e));
    return LANDLOCK_UNAVAILABLE;
  }
  int abi = (int)v;
  int threads = thread_count();
  if (threads != 1) {
    if (status && cap) snprintf(status, cap, "failed: %d threads exist (need exactly one)", threads);
    return LANDLOCK_ETHREADS;
  }
  /* Every right this ABI knows is handled (denied unless a rule allows it);
   * rights newer than the kernel cannot be named, or the call fails. */
  uint64_t fs_all = (FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
  if (abi >= 2) fs_all |= FS_REFER;
  if (abi >= 3) fs_all |= FS_TRUNCATE;
  if (abi >= 5) fs_all |= FS_IOCTL_DEV;
  struct landlock__ruleset_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.handled_access_fs = fs_all;
  size_t attr_size = sizeof attr.handled_access_fs;
  if (abi >= 4) {
    attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
    attr_size = offsetof(struct landlock__ruleset_attr, scoped);
  }
  if (abi >= 6) {
    attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
    attr_size = sizeof attr;
  }
  int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
  if (rs < 0) return ll_fail(status, cap, "landlock_create_ruleset", errno);

  /* Read: files and directory listings. Write (state dir): also create,
   * write, truncate, rename within and remove files and directories; never
   * execute, device nodes, FIFOs, sockets or symlinks. */
  const uint64_t rd = FS_READ_FILE | FS_READ_DIR;
  const uint64_t rw = (rd | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR |
                       FS_MAKE_REG | FS_REFER | FS_TRUNCATE) & fs_all;
  /* Rights a rule on a file (not a directory) may carry. */
  const uint64_t file_ok = (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV);
  for (int i = 0; i < s->n_paths; i++) {
    int fd = open(s->path[i], O_PATH | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue; /* not on this host */
      int e = errno;
      close(rs);
      return ll_fail(status, cap, s->path[i], e);
    }
    struct stat st;
    struct landlock__path_beneath_attr pb;
    pb.allowed_access = s->write[i] == 1   ? rw
                        : s->write[i] == 2 ? rw & ~(FS_MAKE_DIR | FS_REMOVE_DIR | FS_REFER)
                                           : rd;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) pb.allowed_access &= file_ok;
    pb.parent_fd = fd;
    long r = syscall(SYS_landlock_add_rule, rs, LANDLOCK__RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    if (r != 0) {
      close(rs);
      return ll_fail(status, cap, s->path[i], e);
    }
  }
  /* TCP: connect to the listed ports only; no bind rule at all, so binding
   * any TCP port is refused (NET-2 with a second, independent wall). */
  for (int i = 0; abi >= 4 && i < s->n_ports; i++) {
    struct landlock__net_port_attr np = {.allowed_access = NET_CONNECT_TCP, .port = s->port[i]};
    if (syscall(SYS_landlock_add_rule, rs, LANDLOCK__RULE_NET_PORT, &np, 0) != 0) {
      int e = errno;
      close(rs);
      return ll_fail(status, cap, "landlock_add_rule(port)", e);
    }
  }
  /* Landlock requires no_new_privs for an unprivileged caller (the agent
   * runs as its own user, with CAP_DAC_READ_SEARCH only). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    int e = errno;
    close(rs);
    return ll_fail(status, cap, "no_new_privs", e);
  }
  if (syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
    int e = errno;
    close(rs);
    return ll_fail(status, cap, "landlock_restrict_self", e);
  }
  close(rs);
  if (status && cap)
    snprintf(status, cap, "enforced (ABI %d: fs%s%s)", abi, abi >= 4 ? ", tcp" : "",
             abi >= 6 ? ", scopes" : "");
  return LANDLOCK_OK;
}
