#include "sim_os.h"

#include <stdio.h>
#include <string.h>

#include "core/policy.h"

static int64_t os_mono(void *ctx) { return *((sim_os *)ctx)->now_ms; }

static int64_t os_wall(void *ctx) {
  sim_os *o = ctx;
  return SIM_WALL_EPOCH_MS + *o->now_ms + o->skew_ms;
}

static int os_random(void *ctx, void *buf, size_t len) {
  sim_os *o = ctx;
  if (len > 0 && !buf) return OS_EIO;
  sim_rng_fill(o->rng, buf, len);
  return OS_OK;
}

/* 1 when norm is on the deny list and not inside the agent's own dir. */
static int denied_for(const sim_os *o, const char *norm) {
  size_t own = strlen(o->own_dir);
  return policy_denied(norm, NULL) &&
         !(own && strncmp(norm, o->own_dir, own) == 0 && (norm[own] == '/' || norm[own] == 0));
}

static void count_denied(sim_os *o, const char *norm) {
  if (o->denied_opens++ == 0) snprintf(o->denied_first, sizeof o->denied_first, "%.200s", norm);
}

static int os_open(void *ctx, const char *path, int flags, uint32_t mode, os_file **out) {
  sim_os *o = ctx;
  char norm[POLICY_PATH_MAX];
  /* Recorded before the fs answers: an attempt on /etc/shadow counts even
   * though the simulated disk has no such file. */
  int attempt = path && policy_normalize(path, norm, sizeof norm) == POLICY_OK && denied_for(o, norm);
  if (attempt) count_denied(o, norm);
  int rc = sim_fs_open(o->fs, path, flags, mode, out);
  /* And what the open really reached, through any symlink swapped in
   * (issue #13): a harmless name that led to a denied file counts too. */
  if (rc == OS_OK && !attempt) {
    const char *reached = sim_fs_last_open(o->fs);
    if (denied_for(o, reached)) count_denied(o, reached);
  }
  return rc;
}

static int os_realpath(void *ctx, const char *path, char *out, size_t cap) {
  return sim_fs_realpath(((sim_os *)ctx)->fs, path, out, cap);
}
static int os_close(void *ctx, os_file *f) { return sim_fs_close(((sim_os *)ctx)->fs, f); }
static int64_t os_pread(void *ctx, os_file *f, void *buf, size_t len, int64_t off) {
  return sim_fs_pread(((sim_os *)ctx)->fs, f, buf, len, off);
}
static int64_t os_pwrite(void *ctx, os_file *f, const void *buf, size_t len, int64_t off) {
  return sim_fs_pwrite(((sim_os *)ctx)->fs, f, buf, len, off);
}
static int os_truncate(void *ctx, os_file *f, int64_t size) {
  return sim_fs_truncate(((sim_os *)ctx)->fs, f, size);
}
static int os_sync(void *ctx, os_file *f) { return sim_fs_sync(((sim_os *)ctx)->fs, f); }
static int os_fstat(void *ctx, os_file *f, os_stat *st) {
  return sim_fs_fstat(((sim_os *)ctx)->fs, f, st);
}
static int os_stat_(void *ctx, const char *path, os_stat *st) {
  return sim_fs_stat(((sim_os *)ctx)->fs, path, st);
}
static int os_lstat(void *ctx, const char *path, os_stat *st) {
  return sim_fs_lstat(((sim_os *)ctx)->fs, path, st);
}
static int os_unlink(void *ctx, const char *path) { return sim_fs_unlink(((sim_os *)ctx)->fs, path); }
static int os_rename(void *ctx, const char *a, const char *b) {
  return sim_fs_rename(((sim_os *)ctx)->fs, a, b);
}
static int os_mkdir(void *ctx, const char *path, uint32_t mode) {
  return sim_fs_mkdir(((sim_os *)ctx)->fs, path, mode);
}
static int os_chmod(void *ctx, const char *path, uint32_t mode) {
  return sim_fs_chmod(((sim_os *)ctx)->fs, path, mode);
}

static int os_chown_nofollow(void *ctx, const char *path, uint32_t uid) {
  sim_os *o = ctx;
  if (o->uid != 0) return OS_EPERM; /* only root may give a file away */
  return sim_fs_chown(o->fs, path, uid);
}

static uint32_t os_euid(void *ctx) { return ((sim_os *)ctx)->uid; }

static int os_list_dir(void *ctx, const char *dir, size_t max_entries,
                       int (*fn)(void *user, const char *name), void *user) {
  return sim_fs_list_dir(((sim_os *)ctx)->fs, dir, max_entries, fn, user);
}
static int os_free_space(void *ctx, const char *path, uint64_t *avail, uint64_t *total) {
  return sim_fs_free_space(((sim_os *)ctx)->fs, path, avail, total);
}

static int os_read_identity(void *ctx, os_ident_kind kind, char *buf, size_t cap) {
  sim_os *o = ctx;
  const char *v = NULL;
  if (kind == OS_IDENT_HOSTNAME) v = o->hostname;
  else if (kind == OS_IDENT_MACHINE_ID) v = o->machine_id;
  else if (kind == OS_IDENT_PRODUCT_UUID) v = o->product_uuid;
  else if (kind == OS_IDENT_MACS) v = o->macs;
  if (!v || !v[0]) return OS_ENOENT;
  if (!buf || cap == 0) return OS_EINVAL;
  size_t n = strlen(v);
  if (n > cap - 1) n = cap - 1;
  memcpy(buf, v, n);
  buf[n] = 0;
  return (int)n;
}

static void os_log(void *ctx, os_log_level level, const char *msg) {
  sim_os *o = ctx;
  int l = (int)level;
  if (l < 0 || l > 3) l = 3;
  o->log_count[l]++;
  if (o->log_sink) o->log_sink(o->log_user, (os_log_level)l, msg ? msg : "");
}

/* The simulator has no per-agent heap to measure: the RSS is what the
 * scenario (or a test) sets, so a run stays deterministic. */
static int os_self_rss(void *ctx, uint64_t *bytes) {
  sim_os *o = ctx;
  if (o->rss_bytes <= 0) return OS_ENOSYS;
  *bytes = (uint64_t)o->rss_bytes;
  return OS_OK;
}

/* Fixed addresses: every simulated host has the same loopback and one
 * interface, so a run stays deterministic. */
static int os_list_addrs(void *ctx, size_t max_addrs,
                         int (*fn)(void *user, const char *ifname, int family, const char *addr,
                                   unsigned prefix),
                         void *user) {
  static const struct {
    const char *ifname, *addr;
    int family;
    unsigned prefix;
  } fixed[] = {{"lo", "127.0.0.1", 4, 8},
               {"eth0", "10.0.0.2", 4, 24},
               {"lo", "::1", 6, 128},
               {"eth0", "fe80::2", 6, 64}};
  (void)ctx;
  if (!fn) return OS_EINVAL;
  int calls = 0;
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && (size_t)calls < max_addrs; i++) {
    calls++;
    if (fn(user, fixed[i].ifname, fixed[i].family, fixed[i].addr, fixed[i].prefix)) break;
  }
  return calls;
}

void sim_os_init(sim_os *o, const int64_t *now_ms, int64_t skew_ms, sim_rng *rng, sim_fs *fs,
                 const char *hostname, const char *machine_id) {
  memset(o, 0, sizeof *o);
  o->now_ms = now_ms;
  o->skew_ms = skew_ms;
  o->rng = rng;
  o->fs = fs;
  snprintf(o->hostname, sizeof o->hostname, "%s", hostname ? hostname : "");
  snprintf(o->machine_id, sizeof o->machine_id, "%s", machine_id ? machine_id : "");
}

void sim_os_set_identity(sim_os *o, os_ident_kind kind, const char *value) {
  char *dst = kind == OS_IDENT_HOSTNAME       ? o->hostname
              : kind == OS_IDENT_MACHINE_ID   ? o->machine_id
              : kind == OS_IDENT_PRODUCT_UUID ? o->product_uuid
              : kind == OS_IDENT_MACS         ? o->macs
                                              : NULL;
  if (dst) snprintf(dst, SIM_IDENT_MAX, "%s", value ? value : "");
}

void sim_os_set_uid(sim_os *o, uint32_t uid) {
  o->uid = uid;
  sim_fs_set_uid(o->fs, uid);
}

void sim_os_shim(sim_os *o, os_shim *out) {
  memset(out, 0, sizeof *out);
  out->ctx = o;
  out->mono_ms = os_mono;
  out->wall_ms = os_wall;
  out->random = os_random;
  out->open = os_open;
  out->close = os_close;
  out->pread = os_pread;
  out->pwrite = os_pwrite;
  out->truncate = os_truncate;
  out->sync = os_sync;
  out->fstat = os_fstat;
  out->stat = os_stat_;
  out->lstat = os_lstat;
  out->unlink = os_unlink;
  out->rename = os_rename;
  out->mkdir = os_mkdir;
  out->chmod = os_chmod;
  out->chown_nofollow = os_chown_nofollow;
  out->free_space = os_free_space;
  out->read_identity = os_read_identity;
  out->log = os_log;
  out->self_rss = os_self_rss;
  out->list_addrs = os_list_addrs;
  out->realpath = os_realpath;
  out->list_dir = os_list_dir;
  out->euid = os_euid;
}
