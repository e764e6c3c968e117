/* collect.c - snapshots and diagnostics read straight from /proc, /sys, /run
 * and the dpkg and rpm databases through the os shim (see collect.h). */
#include "core/collect.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <stdlib.h>
#include <string.h>

#include "core/dpkg.h"
#include "core/rpmhdr.h"

#define COLLECT_CMDLINE_MAX 512
#define COLLECT_SMALL_FILE 4096
#define COLLECT_CHUNK 8192
#define COLLECT_TEXT_LINE 1024
#define COLLECT_LIST_MAX (1 << 20)
#define COLLECT_ROUTES_MAX 32
#define COLLECT_ADDRS_MAX 4096
#define COLLECT_USER_HZ 100 /* /proc start times are in USER_HZ ticks: 100 on Linux ABIs */

static const char *root_of(const char *given, const char *def) { return given ? given : def; }

/* ---- bounded JSON line builder: every append is all-or-nothing ---------- */

typedef struct jb {
  char buf[COLLECT_LINE_MAX];
  size_t n;
  int full; /* something did not fit and was left out */
} jb;

#define JB_RESERVE 8 /* closing brackets always fit */

static void jb_raw(jb *j, const char *s, size_t len) {
  if (j->n + len + JB_RESERVE >= sizeof j->buf) {
    j->full = 1;
    return;
  }
  memcpy(j->buf + j->n, s, len);
  j->n += len;
  j->buf[j->n] = 0;
}

static void jb_fmt(jb *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_fmt(jb *j, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    j->full = 1;
    return;
  }
  jb_raw(j, tmp, (size_t)n);
}

/* Writes v JSON-escaped, without quotes, into out (cut to fit; NUL-terminated)
 * and returns the length written. */
static size_t json_escape(const char *v, size_t vlen, char *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < vlen && n + 8 < cap; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  if (cap) out[n < cap ? n : cap - 1] = 0;
  return n;
}

/* Appends "key":"escaped value" (with a leading comma unless first). */
static void jb_str(jb *j, const char *key, const char *v, size_t vlen) {
  char tmp[COLLECT_LINE_MAX];
  int w = snprintf(tmp, sizeof tmp, ",\"%s\":\"", key);
  if (w < 0) return;
  size_t n = (size_t)w;
  n += json_escape(v, vlen, tmp + n, sizeof tmp - n - 1);
  tmp[n++] = '"';
  jb_raw(j, tmp, n);
}

/* Closing brackets use the reserve: they always fit, so the line stays JSON. */
static void jb_close(jb *j, char c) {
  if (j->n + 2 < sizeof j->buf) {
    j->buf[j->n++] = c;
    j->buf[j->n] = 0;
  }
}

static void jb_begin(jb *j, const char *kind, const char *name) {
  j->n = 0;
  j->full = 0;
  j->buf[0] = 0;
  jb_fmt(j, "{\"%s\":\"%s\"", kind, name);
}

static int jb_emit(jb *j, collect_emit_fn emit, void *user) {
  if (j->full) jb_raw(j, ",\"cut\":true", 11); /* may not fit either; reserve covers '}' */
  jb_close(j, '}');
  return emit(user, j->buf, j->n) != 0 ? COLLECT_ESTOP : COLLECT_OK;
}

/* ---- file reading --------------------------------------------------------- */

/* Reads up to cap-1 bytes (procfs sizes are 0, so no fstat), NUL-terminated.
 * Returns the length or a negative OS_E* code. */
static int read_file(const os_shim *os, const char *path, char *buf, size_t cap) {
  os_file *f = NULL;
  buf[0] = 0;
  int rc = os->open(os->ctx, path, OS_O_READ, 0, &f);
  if (rc != OS_OK) return rc;
  size_t got = 0;
  while (got + 1 < cap) {
    int64_t n = os->pread(os->ctx, f, buf + got, cap - 1 - got, (int64_t)got);
    if (n < 0) {
      os->close(os->ctx, f);
      return (int)n;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  os->close(os->ctx, f);
  buf[got] = 0;
  return (int)got;
}

typedef int (*line_fn)(void *user, char *line, size_t len);

/* Calls fn for every line of path (newline removed), streaming in chunks.
 * Lines longer than COLLECT_TEXT_LINE are skipped. fn != 0 stops. */
static int for_lines(const os_shim *os, const char *path, line_fn fn, void *user) {
  os_file *f = NULL;
  int rc = os->open(os->ctx, path, OS_O_READ, 0, &f);
  if (rc != OS_OK) return rc;
  char chunk[COLLECT_CHUNK], line[COLLECT_TEXT_LINE + 1];
  size_t ll = 0;
  int skip = 0, stop = 0;
  int64_t off = 0;
  while (!stop) {
    int64_t n = os->pread(os->ctx, f, chunk, sizeof chunk, off);
    if (n < 0) {
      rc = (int)n;
      break;
    }
    if (n == 0) break;
    off += n;
    for (int64_t i = 0; i < n && !stop; i++) {
      if (chunk[i] == '\n') {
        line[ll] = 0;
        if (!skip) stop = fn(user, line, ll) != 0;
        ll = 0;
        skip = 0;
      } else if (ll < COLLECT_TEXT_LINE) {
        line[ll++] = chunk[i];
      } else {
        skip = 1;
      }
    }
  }
  if (!stop && rc == OS_OK && ll > 0 && !skip) {
    line[ll] = 0;
    stop = fn(user, line, ll) != 0;
  }
  os->close(os->ctx, f);
  return rc != OS_OK ? rc : stop;
}

/* Splits line in place at spaces and tabs; returns the number of fields. */
static int split(char *line, char **f, int max) {
  int n = 0;
  char *p = line;
  while (*p && n < max) {
    while (*p == ' ' || *p == '\t') *p++ = 0;
    if (!*p) break;
    f[n++] = p;
    while (*p && *p != ' ' && *p != '\t') p++;
  }
  while (*p == ' ' || *p == '\t') *p++ = 0;
  return n;
}

/* A line that starts with key followed by one of the bytes in seps. */
static int starts_key(const char *line, size_t len, const char *key, const char *seps) {
  size_t n = strlen(key);
  return len > n && memcmp(line, key, n) == 0 && strchr(seps, line[n]) != NULL &&
         line[n] != 0;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (unsigned char)s[n - 1] <= ' ') s[--n] = 0;
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* ---- snapshot driver ------------------------------------------------------ */

typedef struct snap {
  const os_shim *os;
  const collect_roots *roots;
  collect_emit_fn emit;
  void *user;
  int64_t max_items, items;
  int truncated, stopped;
  const char *name;
  int64_t btime;
  /* packages: what each source said, for the summary line */
  int is_packages, dpkg_ok;
  rpmhdr_db_result rpm;
  jb j;
} snap;

/* Counts an item about to be emitted; 0 when the cap says stop. */
static int snap_room(snap *s) {
  if (s->items >= s->max_items) {
    s->truncated = 1;
    return 0;
  }
  return 1;
}

static int snap_emit(snap *s) {
  s->items++;
  if (jb_emit(&s->j, s->emit, s->user) != COLLECT_OK) s->stopped = 1;
  return s->stopped;
}

/* ---- processes ---- */

static int btime_line(void *user, char *line, size_t len) {
  snap *s = user;
  if (strncmp(line, "btime ", 6) == 0) {
    s->btime = strtoll(line + 6, NULL, 10);
    return 1;
  }
  return 0;
}

/* Boot time plus start ticks, both read from files: out of range gives 0
 * rather than a signed overflow. */
static long long start_s(long long btime, long long ticks) {
  long long t = ticks / COLLECT_USER_HZ;
  if (btime < 0 || t < 0 || btime > LLONG_MAX - t) return 0;
  return btime + t;
}

static int one_process(void *user, const char *name) {
  snap *s = user;
  if (!all_digits(name) || strlen(name) > 10) return 0;
  if (!snap_room(s)) return 1;
  const char *proc = root_of(s->roots->proc, "/proc");
  char path[OS_PATH_MAX], stat[COLLECT_SMALL_FILE], status[COLLECT_SMALL_FILE];
  char cmd[COLLECT_CMDLINE_MAX + 1];
  snprintf(path, sizeof path, "%s/%s/stat", proc, name);
  if (read_file(s->os, path, stat, sizeof stat) <= 0) return 0; /* exited meanwhile */
  /* "pid (comm) S ppid ...": comm may hold spaces and ')', so the last ')' ends it. */
  char *open_p = strchr(stat, '('), *close_p = strrchr(stat, ')');
  if (!open_p || !close_p || close_p < open_p) return 0;
  const char *comm = open_p + 1;
  size_t comm_len = (size_t)(close_p - comm);
  long long fields[24] = {0};
  int fi = 3;
  /* A stat that ends at the ')' has no fields: close_p + 2 would be past
   * the terminator (past the buffer when the file filled it). */
  char *p = close_p[1] ? close_p + 2 : close_p + 1;
  char state = *p;
  while (*p && fi < 24) {
    while (*p == ' ') p++;
    if (!*p) break;
    if (fi != 3) fields[fi] = strtoll(p, NULL, 10);
    while (*p && *p != ' ') p++;
    fi++;
  }
  long long uid = -1, rss_kb = 0;
  snprintf(path, sizeof path, "%s/%s/status", proc, name);
  if (read_file(s->os, path, status, sizeof status) > 0) {
    char *u = strstr(status, "\nUid:");
    if (u) uid = strtoll(u + 5, NULL, 10);
    char *r = strstr(status, "\nVmRSS:");
    if (r) rss_kb = strtoll(r + 7, NULL, 10);
  }
  snprintf(path, sizeof path, "%s/%s/cmdline", proc, name);
  int cl = read_file(s->os, path, cmd, sizeof cmd);
  if (cl < 0) cl = 0;
  for (int i = 0; i < cl; i++)
    if (cmd[i] == 0) cmd[i] = ' ';
  while (cl > 0 && cmd[cl - 1] == ' ') cl--;
  jb_begin(&s->j, "snapshot", s->name);
  jb_fmt(&s->j, ",\"pid\":%s,\"ppid\":%lld,\"uid\":%lld,\"state\":\"%c\"", name, fields[4], uid,
         (state >= 'A' && state <= 'Z') ? state : '?');
  jb_str(&s->j, "name", comm, comm_len);
  jb_str(&s->j, "cmdline", cmd, (size_t)cl);
  jb_fmt(&s->j, ",\"start_s\":%lld,\"rss_kb\":%lld",
         start_s(s->btime, fields[22]), rss_kb);
  return snap_emit(s);
}

static int snap_processes(snap *s) {
  char path[OS_PATH_MAX];
  const char *proc = root_of(s->roots->proc, "/proc");
  snprintf(path, sizeof path, "%s/stat", proc);
  for_lines(s->os, path, btime_line, s);
  if (!s->os->list_dir) return -1;
  return s->os->list_dir(s->os->ctx, proc, COLLECT_LIST_MAX, one_process, s) < 0 ? -1 : 0;
}

/* ---- interfaces ---- */

static int one_iface(void *user, const char *name) {
  snap *s = user;
  if (!snap_room(s)) return 1;
  const char *sys = root_of(s->roots->sys, "/sys");
  char path[OS_PATH_MAX], mac[64] = "", state[32] = "", mtu[16] = "";
  snprintf(path, sizeof path, "%s/class/net/%s/address", sys, name);
  read_file(s->os, path, mac, sizeof mac);
  snprintf(path, sizeof path, "%s/class/net/%s/operstate", sys, name);
  read_file(s->os, path, state, sizeof state);
  snprintf(path, sizeof path, "%s/class/net/%s/mtu", sys, name);
  read_file(s->os, path, mtu, sizeof mtu);
  trim(mac);
  trim(state);
  jb_begin(&s->j, "snapshot", s->name);
  jb_str(&s->j, "name", name, strlen(name));
  jb_str(&s->j, "mac", mac, strlen(mac));
  jb_str(&s->j, "state", state, strlen(state));
  jb_fmt(&s->j, ",\"mtu\":%lld", strtoll(mtu, NULL, 10));
  return snap_emit(s);
}

static int inet6_line(void *user, char *line, size_t len) {
  snap *s = user;
  char *f[6];
  if (split(line, f, 6) != 6 || strlen(f[0]) != 32 || strlen(f[5]) > 63) return 0;
  const char *hex = f[0], *ifname = f[5];
  unsigned plen = (unsigned)strtoul(f[2], NULL, 16);
  if (!snap_room(s)) return 1;
  char addr[48];
  size_t n = 0;
  for (int i = 0; i < 32; i++) {
    addr[n++] = hex[i];
    if (i % 4 == 3 && i != 31) addr[n++] = ':';
  }
  addr[n] = 0;
  jb_begin(&s->j, "snapshot", s->name);
  jb_str(&s->j, "name", ifname, strlen(ifname));
  jb_str(&s->j, "ipv6", addr, n);
  jb_fmt(&s->j, ",\"prefix\":%u", plen);
  return snap_emit(s);
}

static int one_addr(void *user, const char *ifname, int family, const char *addr,
                    unsigned prefix) {
  snap *s = user;
  if (!snap_room(s)) return 1;
  jb_begin(&s->j, "snapshot", s->name);
  jb_str(&s->j, "name", ifname, strnlen(ifname, 64));
  jb_str(&s->j, family == 4 ? "ipv4" : "ipv6", addr, strnlen(addr, 64));
  jb_fmt(&s->j, ",\"prefix\":%u", prefix);
  return snap_emit(s);
}

static int snap_interfaces(snap *s) {
  char path[OS_PATH_MAX];
  int any = 0;
  if (s->os->list_dir) {
    snprintf(path, sizeof path, "%s/class/net", root_of(s->roots->sys, "/sys"));
    any = s->os->list_dir(s->os->ctx, path, 4096, one_iface, s) >= 0;
  }
  if (s->stopped || s->truncated) return any ? 0 : -1;
  /* IPv4 and IPv6 from the shim (netlink; fixed ones in the simulator).
   * Without it, or with a fake PROC tree (tests), IPv6 from if_inet6. */
  if (s->os->list_addrs && !s->roots->proc) {
    if (s->os->list_addrs(s->os->ctx, COLLECT_ADDRS_MAX, one_addr, s) >= 0) any = 1;
    return any ? 0 : -1;
  }
  snprintf(path, sizeof path, "%s/net/if_inet6", root_of(s->roots->proc, "/proc"));
  if (for_lines(s->os, path, inet6_line, s) >= 0) any = 1;
  return any ? 0 : -1;
}

/* ---- packages ---- */

static int one_pkg(void *user, const dpkg_pkg *p) {
  snap *s = user;
  if (!snap_room(s)) return 1;
  jb_begin(&s->j, "snapshot", s->name);
  jb_str(&s->j, "name", p->name, strlen(p->name));
  jb_str(&s->j, "version", p->version, strlen(p->version));
  jb_str(&s->j, "arch", p->arch, strlen(p->arch));
  jb_raw(&s->j, ",\"source\":\"dpkg\"", 16);
  return snap_emit(s);
}

/* rpm's version is "[epoch:]version-release", the shape of dpkg's Version, so
 * a release bump is a "changed" version in deltas as it is for dpkg. */
static int one_rpm(void *user, const rpmhdr_pkg *p) {
  snap *s = user;
  if (!snap_room(s)) return 1;
  char evr[3 * RPMHDR_FIELD_MAX + 16];
  rpmhdr_evr(p, evr, sizeof evr);
  jb_begin(&s->j, "snapshot", s->name);
  jb_str(&s->j, "name", p->name, strlen(p->name));
  jb_str(&s->j, "version", evr, strlen(evr));
  jb_str(&s->j, "arch", p->arch, strlen(p->arch));
  jb_raw(&s->j, ",\"source\":\"rpm\"", 15);
  return snap_emit(s);
}

static int snap_dpkg(snap *s) {
  const char *path = root_of(s->roots->dpkg_status, "/var/lib/dpkg/status");
  os_file *f = NULL;
  if (s->os->open(s->os->ctx, path, OS_O_READ | OS_O_NOFOLLOW, 0, &f) != OS_OK) return -1;
  dpkg_parser p;
  dpkg_init(&p, one_pkg, s);
  char chunk[COLLECT_CHUNK];
  int64_t off = 0;
  for (;;) {
    int64_t n = s->os->pread(s->os->ctx, f, chunk, sizeof chunk, off);
    if (n <= 0) break;
    off += n;
    if (dpkg_feed(&p, chunk, (size_t)n)) break;
  }
  dpkg_finish(&p);
  s->os->close(s->os->ctx, f);
  return 0;
}

/* dpkg, then rpm in what room the cap leaves. Available when either source
 * listed something it could read; an rpm database that could not be read
 * completely marks the snapshot truncated, so a delta never reads packages
 * it missed as removed. */
static int snap_packages(snap *s) {
  s->is_packages = 1;
  s->dpkg_ok = snap_dpkg(s) == 0;
  if (s->stopped) return s->dpkg_ok ? 0 : -1;
  int64_t room = s->max_items - s->items;
  rpmhdr_db_list(s->os, NULL, room > 0 ? room : 0, one_rpm, s, &s->rpm);
  if (s->rpm.more) s->truncated = 1;
  if (s->rpm.state == RPMHDR_DB_ERROR) s->truncated = 1;
  int rpm_ok = s->rpm.state == RPMHDR_DB_OK ||
               (s->rpm.state == RPMHDR_DB_ERROR && s->rpm.listed > 0);
  return s->dpkg_ok || rpm_ok ? 0 : -1;
}

/* ---- listening ports ---- */

typedef struct port_ctx {
  snap *s;
  const char *proto;
  int v6, tcp;
} port_ctx;

static void fmt_addr(const char *hex, int v6, char *out, size_t cap) {
  if (!v6) {
    unsigned long v = strtoul(hex, NULL, 16); /* little-endian u32 */
    snprintf(out, cap, "%lu.%lu.%lu.%lu", v & 255, (v >> 8) & 255, (v >> 16) & 255,
             (v >> 24) & 255);
    return;
  }
  /* Four little-endian u32 words; only hex digits are copied into the
   * JSON line (anything else there would break it). */
  size_t n = 0;
  int is_hex = strspn(hex, "0123456789abcdefABCDEF") == 32 && hex[32] == 0;
  for (int w = 0; w < 4 && is_hex; w++) {
    for (int b = 3; b >= 0; b--) {
      if (n + 3 >= cap) break;
      out[n++] = hex[w * 8 + b * 2];
      out[n++] = hex[w * 8 + b * 2 + 1];
      if (b % 2 == 0 && !(w == 3 && b == 0)) out[n++] = ':';
    }
  }
  out[n] = 0;
}

static int port_line(void *user, char *line, size_t len) {
  port_ctx *pc = user;
  snap *s = pc->s;
  /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
  char *f[10];
  if (split(line, f, 10) != 10 || strcmp(f[0], "sl") == 0 || strlen(f[1]) > 63)
    return 0; /* the header line */
  char local[64];
  snprintf(local, sizeof local, "%s", f[1]);
  const char *st = f[3];
  unsigned long long uid = strtoull(f[7], NULL, 10), inode = strtoull(f[9], NULL, 10);
  if (pc->tcp && strcmp(st, "0A") != 0) return 0;          /* LISTEN only */
  if (!pc->tcp && strcmp(st, "07") != 0) return 0;         /* unconnected UDP */
  char *colon = strchr(local, ':');
  if (!colon) return 0;
  *colon = 0;
  if (!snap_room(s)) return 1;
  char addr[64];
  fmt_addr(local, pc->v6, addr, sizeof addr);
  jb_begin(&s->j, "snapshot", s->name);
  jb_fmt(&s->j, ",\"proto\":\"%s\",\"addr\":\"%s\",\"port\":%lu,\"uid\":%llu,\"inode\":%llu",
         pc->proto, addr, strtoul(colon + 1, NULL, 16), uid, inode);
  return snap_emit(s);
}

static int snap_ports(snap *s) {
  static const struct {
    const char *file, *proto;
    int v6, tcp;
  } tabs[] = {{"tcp", "tcp", 0, 1}, {"tcp6", "tcp6", 1, 1}, {"udp", "udp", 0, 0},
              {"udp6", "udp6", 1, 0}};
  int any = 0;
  for (size_t i = 0; i < 4 && !s->stopped && !s->truncated; i++) {
    char path[OS_PATH_MAX];
    snprintf(path, sizeof path, "%s/net/%s", root_of(s->roots->proc, "/proc"), tabs[i].file);
    port_ctx pc = {s, tabs[i].proto, tabs[i].v6, tabs[i].tcp};
    if (for_lines(s->os, path, port_line, &pc) >= 0) any = 1;
  }
  return any ? 0 : -1;
}

/* ---- services ---- */

static int one_unit(void *user, const char *name) {
  snap *s = user;
  if (strncmp(name, "invocation:", 11) != 0) return 0;
  if (!snap_room(s)) return 1;
  jb_begin(&s->j, "snapshot", s->name);
  jb_str(&s->j, "unit", name + 11, strlen(name + 11));
  jb_raw(&s->j, ",\"state\":\"active\"", 17);
  return snap_emit(s);
}

static int snap_services(snap *s) {
  char path[OS_PATH_MAX];
  if (!s->os->list_dir) return -1;
  snprintf(path, sizeof path, "%s/systemd/units", root_of(s->roots->run, "/run"));
  return s->os->list_dir(s->os->ctx, path, 65536, one_unit, s) < 0 ? -1 : 0;
}

int collect_snapshot(policy_snapshot which, const os_shim *os, const collect_roots *roots,
                     int64_t max_items, collect_emit_fn emit, void *user, int64_t *items) {
  static const collect_roots none = {0};
  snap s;
  memset(&s, 0, sizeof s);
  s.os = os;
  s.roots = roots ? roots : &none;
  s.emit = emit;
  s.user = user;
  s.max_items = max_items > 0 ? max_items : 0;
  s.name = policy_snapshot_name(which);
  int avail;
  switch (which) {
    case POLICY_SNAP_PROCESSES: avail = snap_processes(&s) == 0; break;
    case POLICY_SNAP_INTERFACES: avail = snap_interfaces(&s) == 0; break;
    case POLICY_SNAP_PACKAGES: avail = snap_packages(&s) == 0; break;
    case POLICY_SNAP_PORTS: avail = snap_ports(&s) == 0; break;
    case POLICY_SNAP_SERVICES: avail = snap_services(&s) == 0; break;
    default: return COLLECT_EINVAL;
  }
  if (items) *items = s.items;
  if (s.stopped) return COLLECT_ESTOP;
  jb_begin(&s.j, "snapshot", s.name);
  jb_fmt(&s.j, ",\"summary\":true,\"items\":%lld,\"truncated\":%s,\"available\":%s",
         (long long)s.items, s.truncated ? "true" : "false", avail ? "true" : "false");
  if (s.is_packages) {
    jb_fmt(&s.j, ",\"dpkg\":\"%s\",\"rpm\":\"%s\"", s.dpkg_ok ? "ok" : "not available",
           rpmhdr_db_state_name(s.rpm.state));
    if (s.rpm.error[0]) jb_str(&s.j, "rpm_reason", s.rpm.error, strlen(s.rpm.error));
  }
  return jb_emit(&s.j, emit, user);
}

/* ---- diagnostics ---------------------------------------------------------- */

typedef struct kv_ctx {
  jb *j;
  int count;
} kv_ctx;

static int meminfo_line(void *user, char *line, size_t len) {
  kv_ctx *k = user;
  static const char *const keys[] = {"MemTotal", "MemAvailable", "SwapTotal", "SwapFree"};
  for (int i = 0; i < 4; i++) {
    size_t n = strlen(keys[i]);
    if (starts_key(line, len, keys[i], ":")) {
      jb_fmt(k->j, ",\"%s_kb\":%lld", keys[i], strtoll(line + n + 1, NULL, 10));
      k->count++;
    }
  }
  return 0;
}

static int route_line(void *user, char *line, size_t len) {
  kv_ctx *k = user;
  /* Iface Destination Gateway Flags RefCnt Use Metric Mask ... */
  char *f[8];
  if (split(line, f, 8) != 8 || strcmp(f[0], "Iface") == 0) return 0;
  const char *ifname = f[0], *dst = f[1], *gw = f[2], *mask = f[7];
  if (k->count >= COLLECT_ROUTES_MAX) return 1;
  char d[20], g[20], m[20];
  fmt_addr(dst, 0, d, sizeof d);
  fmt_addr(gw, 0, g, sizeof g);
  fmt_addr(mask, 0, m, sizeof m);
  /* Interface names may hold '"' and '\\' (Linux refuses only '/', ':' and
   * white space): escaped, or one name would break the whole line's JSON. */
  char name[16 * 6 + 9];
  json_escape(ifname, strnlen(ifname, 16), name, sizeof name);
  jb_fmt(k->j, "%s{\"if\":\"%s\",\"dst\":\"%s\",\"gw\":\"%s\",\"mask\":\"%s\"}",
         k->count ? "," : "", name, d, g, m);
  k->count++;
  return 0;
}

static int resolv_line(void *user, char *line, size_t len) {
  kv_ctx *k = user;
  static const char *const keys[] = {"nameserver", "search", "domain", "options"};
  for (int i = 0; i < 4; i++) {
    size_t n = strlen(keys[i]);
    if (starts_key(line, len, keys[i], " \t")) {
      char *v = line + n;
      while (*v == ' ' || *v == '\t') v++;
      trim(v);
      char key[32];
      snprintf(key, sizeof key, "%s%d", keys[i], k->count++);
      jb_str(k->j, key, v, strlen(v));
    }
  }
  return 0;
}

static int iface_name(void *user, const char *name) {
  kv_ctx *k = user;
  char esc[32 * 6 + 9];
  json_escape(name, strnlen(name, 32), esc, sizeof esc);
  jb_fmt(k->j, "%s\"%s\"", k->count++ ? "," : "", esc);
  return 0;
}

int collect_diag(policy_diag which, const os_shim *os, const collect_roots *roots,
                 const char *state_dir, collect_emit_fn emit, void *user) {
  static const collect_roots none = {0};
  if (!roots) roots = &none;
  const char *proc = root_of(roots->proc, "/proc");
  const char *run = root_of(roots->run, "/run");
  char path[OS_PATH_MAX], buf[COLLECT_SMALL_FILE];
  jb j;
  kv_ctx k = {&j, 0};
  jb_begin(&j, "diag", policy_diag_name(which));
  switch (which) {
    case POLICY_DIAG_UPTIME:
      snprintf(path, sizeof path, "%s/uptime", proc);
      if (read_file(os, path, buf, sizeof buf) > 0)
        jb_fmt(&j, ",\"uptime_s\":%lld", strtoll(buf, NULL, 10));
      else
        jb_raw(&j, ",\"available\":false", 18);
      break;
    case POLICY_DIAG_LOAD: {
      snprintf(path, sizeof path, "%s/loadavg", proc);
      char *f[5];
      char *slash;
      if (read_file(os, path, buf, sizeof buf) > 0 && split(buf, f, 5) >= 4 &&
          (slash = strchr(f[3], '/')) != NULL)
        jb_fmt(&j,
               ",\"load1\":%.2f,\"load5\":%.2f,\"load15\":%.2f,\"running\":%ld,\"tasks\":%ld",
               strtod(f[0], NULL), strtod(f[1], NULL), strtod(f[2], NULL),
               strtol(f[3], NULL, 10), strtol(slash + 1, NULL, 10));
      else
        jb_raw(&j, ",\"available\":false", 18);
      break;
    }
    case POLICY_DIAG_MEMORY:
      snprintf(path, sizeof path, "%s/meminfo", proc);
      if (for_lines(os, path, meminfo_line, &k) < 0 || k.count == 0)
        jb_raw(&j, ",\"available\":false", 18);
      break;
    case POLICY_DIAG_DISK: {
      const char *paths[3] = {"/", "/var/log", state_dir ? state_dir : "/"};
      jb_raw(&j, ",\"volumes\":[", 12);
      for (int i = 0; i < 3; i++) {
        uint64_t avail = 0, total = 0;
        int rc = os->free_space(os->ctx, paths[i], &avail, &total);
        if (rc == OS_OK)
          jb_fmt(&j, "%s{\"path\":\"%.120s\",\"avail\":%llu,\"total\":%llu}", i ? "," : "",
                 paths[i], (unsigned long long)avail, (unsigned long long)total);
        else
          jb_fmt(&j, "%s{\"path\":\"%.120s\",\"error\":%d}", i ? "," : "", paths[i], rc);
      }
      jb_close(&j, ']');
      break;
    }
    case POLICY_DIAG_TIME_SYNC: {
      os_stat st;
      snprintf(path, sizeof path, "%s/systemd/timesync/synchronized", run);
      int synced = os->stat(os->ctx, path, &st) == OS_OK;
      snprintf(path, sizeof path, "%s/systemd/timesync", run);
      int have = os->stat(os->ctx, path, &st) == OS_OK;
      jb_fmt(&j, ",\"state\":\"%s\"",
             synced ? "synchronized" : have ? "not synchronized" : "unknown (no timesyncd)");
      break;
    }
    case POLICY_DIAG_INTERFACES:
      snprintf(path, sizeof path, "%s/class/net", root_of(roots->sys, "/sys"));
      jb_raw(&j, ",\"names\":[", 10);
      if (os->list_dir) os->list_dir(os->ctx, path, 256, iface_name, &k);
      jb_close(&j, ']');
      break;
    case POLICY_DIAG_ROUTES:
      snprintf(path, sizeof path, "%s/net/route", proc);
      jb_raw(&j, ",\"ipv4\":[", 9);
      for_lines(os, path, route_line, &k);
      jb_close(&j, ']');
      break;
    case POLICY_DIAG_DNS:
      if (for_lines(os, root_of(roots->resolv, "/etc/resolv.conf"), resolv_line, &k) < 0)
        jb_raw(&j, ",\"available\":false", 18);
      break;
    case POLICY_DIAG_SELF_TEST: {
      uint8_t r[16] = {0};
      uint64_t avail = 0, total = 0;
      int rnd = os->random(os->ctx, r, sizeof r) == OS_OK;
      int disk = state_dir && os->free_space(os->ctx, state_dir, &avail, &total) == OS_OK;
      int clock = os->mono_ms(os->ctx) >= 0 && os->wall_ms(os->ctx) > 0;
      jb_fmt(&j, ",\"ok\":%s,\"random\":%s,\"state_dir\":%s,\"clocks\":%s",
             rnd && disk && clock ? "true" : "false", rnd ? "true" : "false",
             disk ? "true" : "false", clock ? "true" : "false");
      break;
    }
    default: return COLLECT_EINVAL;
  }
  return jb_emit(&j, emit, user);
}

void collect_source_name(int is_diag, int which, char *out, size_t cap) {
  snprintf(out, cap, "%s:%s", is_diag ? "diag" : "snapshot",
           is_diag ? policy_diag_name((policy_diag)which)
                   : policy_snapshot_name((policy_snapshot)which));
}
