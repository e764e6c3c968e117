/* fuzz_proc.c - libFuzzer target for the /proc, /sys and /run readers of
 * core/collect.c, through a fake os shim that serves the input as the
 * contents of the files they open.
 *
 * Input: byte 0 = what to collect (bit 7 clear: snapshot byte % 5, set:
 * diagnostic byte % 9). The rest is split at "\n@@\n" into up to three
 * parts: part 1 is served for ".../cmdline", part 2 for ".../status" and
 * ".../operstate", part 0 for every other file (stat, net/tcp, meminfo,
 * loadavg, uptime, route, resolv.conf, dpkg status, ...). Directories list
 * "1", "42", "self", "lo", "eth0" and "invocation:x.service".
 * Invariants: every emitted line is NUL-terminated at its length, at most
 * COLLECT_LINE_MAX, and valid JSON (the cloud stores it as such).
 */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/collect.h"

#define FP_SEP "\n@@\n"

struct os_file {
  const uint8_t *data;
  size_t len;
};

typedef struct fake {
  const uint8_t *part[3];
  size_t len[3];
  struct os_file file;
  int open;
} fake;

static int ends_with(const char *s, const char *tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && strcmp(s + a - b, tail) == 0;
}

static int f_open(void *ctx, const char *path, int flags, uint32_t mode, os_file **out) {
  fake *f = ctx;
  (void)flags;
  (void)mode;
  if (f->open) abort(); /* the readers hold one file at a time */
  int k = ends_with(path, "/cmdline")                                      ? 1
          : ends_with(path, "/status") || ends_with(path, "/operstate") ? 2
                                                                         : 0;
  if (ends_with(path, "/var/lib/dpkg/status")) k = 0;
  f->file.data = f->part[k];
  f->file.len = f->len[k];
  f->open = 1;
  *out = &f->file;
  return OS_OK;
}

static int f_close(void *ctx, os_file *file) {
  fake *f = ctx;
  if (!f->open || file != &f->file) abort();
  f->open = 0;
  return OS_OK;
}

static int64_t f_pread(void *ctx, os_file *file, void *buf, size_t len, int64_t off) {
  (void)ctx;
  if (off < 0) abort();
  if ((size_t)off >= file->len) return 0;
  size_t n = file->len - (size_t)off;
  if (n > len) n = len;
  memcpy(buf, file->data + off, n);
  return (int64_t)n;
}

static int f_stat(void *ctx, const char *path, os_stat *st) {
  (void)ctx;
  (void)path;
  memset(st, 0, sizeof *st);
  return OS_OK;
}

static int f_free_space(void *ctx, const char *path, uint64_t *avail, uint64_t *total) {
  (void)ctx;
  (void)path;
  *avail = 1u << 30;
  *total = 4u << 30;
  return OS_OK;
}

static int f_random(void *ctx, void *buf, size_t len) {
  (void)ctx;
  memset(buf, 0x5a, len);
  return OS_OK;
}

static int64_t f_mono(void *ctx) { (void)ctx; return 1000; }
static int64_t f_wall(void *ctx) { (void)ctx; return 1764374400000LL; }

static int f_list_dir(void *ctx, const char *dir, size_t max_entries,
                      int (*fn)(void *user, const char *name), void *user) {
  static const char *const names[] = {"1", "42", "self", "lo", "eth0", "invocation:x.service"};
  (void)ctx;
  (void)dir;
  for (size_t i = 0; i < sizeof names / sizeof *names && i < max_entries; i++)
    if (fn(user, names[i]) != 0) break;
  return OS_OK;
}

static int on_line(void *user, const char *line, size_t len) {
  (void)user;
  if (len > COLLECT_LINE_MAX || strlen(line) != len) abort();
  cJSON *j = cJSON_ParseWithLength(line, len);
  if (!j) {
    fprintf(stderr, "not JSON: %s\n", line);
    abort();
  }
  cJSON_Delete(j);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fake f = {0};
  const uint8_t *p = data + 1, *end = data + size;
  for (int k = 0; k < 3; k++) {
    const uint8_t *sep = k < 2 && p < end ? memmem(p, (size_t)(end - p), FP_SEP, 4) : NULL;
    const uint8_t *e = sep ? sep : end;
    f.part[k] = p;
    f.len[k] = (size_t)(e - p);
    p = sep ? sep + 4 : end;
  }
  os_shim os = {.ctx = &f,
                .mono_ms = f_mono,
                .wall_ms = f_wall,
                .random = f_random,
                .open = f_open,
                .close = f_close,
                .pread = f_pread,
                .stat = f_stat,
                .lstat = f_stat,
                .free_space = f_free_space,
                .list_dir = f_list_dir};
  int64_t items = 0;
  if (data[0] & 0x80)
    collect_diag((policy_diag)(data[0] % POLICY_DIAG_COUNT), &os, NULL, "/var/lib/outpost",
                 on_line, NULL);
  else
    collect_snapshot((policy_snapshot)(data[0] % POLICY_SNAP_COUNT), &os, NULL, 100, on_line,
                     NULL, &items);
  if (f.open) abort(); /* every open closed */
  return 0;
}
