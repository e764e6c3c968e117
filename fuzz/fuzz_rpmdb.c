/* fuzz_rpmdb: the input served as /var/lib/rpm/rpmdb.sqlite (a torn, cut or
 * hostile rpm database) to rpmhdr_db_list through a minimal in-memory os
 * shim, so SQLite reads it through the core's VFS exactly as on a host. It
 * must never crash or leak, close every file it opened, stay within the
 * package cap and hand on only terminated fields; "ok" with bad headers is
 * a bug. Seed: a one-package database (fuzz/corpus/rpmdb/one-package, page
 * size 512, the Packages table as rpm creates it). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rpmhdr.h"

#define CAP 50

struct os_file {
  int open;
};

typedef struct fake {
  const uint8_t *data;
  size_t len;
  struct os_file file;
} fake;

static const char DB[] = "/var/lib/rpm/rpmdb.sqlite";

static int f_open(void *ctx, const char *path, int flags, uint32_t mode, os_file **out) {
  fake *f = ctx;
  (void)mode;
  if (strcmp(path, DB) != 0) return OS_ENOENT; /* journals, temp files */
  if (flags & (OS_O_WRITE | OS_O_CREATE | OS_O_TRUNC)) abort(); /* read-only, always */
  if (f->file.open) abort();
  f->file.open = 1;
  *out = &f->file;
  return OS_OK;
}

static int f_close(void *ctx, os_file *file) {
  fake *f = ctx;
  if (file != &f->file || !f->file.open) abort();
  f->file.open = 0;
  return OS_OK;
}

static int64_t f_pread(void *ctx, os_file *file, void *buf, size_t len, int64_t off) {
  fake *f = ctx;
  if (file != &f->file || off < 0) abort();
  if ((size_t)off >= f->len) return 0;
  size_t n = f->len - (size_t)off;
  if (n > len) n = len;
  memcpy(buf, f->data + off, n);
  return (int64_t)n;
}

static int f_fstat(void *ctx, os_file *file, os_stat *st) {
  fake *f = ctx;
  (void)file;
  memset(st, 0, sizeof *st);
  st->size = (int64_t)f->len;
  return OS_OK;
}

static int f_stat(void *ctx, const char *path, os_stat *st) {
  fake *f = ctx;
  if (strcmp(path, DB) != 0) return OS_ENOENT;
  memset(st, 0, sizeof *st);
  st->size = (int64_t)f->len;
  return OS_OK;
}

static int f_random(void *ctx, void *buf, size_t len) {
  (void)ctx;
  memset(buf, 0x5a, len);
  return OS_OK;
}

static int64_t f_ms(void *ctx) {
  (void)ctx;
  return 1764374400000LL;
}

static int on_pkg(void *user, const rpmhdr_pkg *p) {
  int *n = user;
  const char *f[4] = {p->name, p->version, p->release, p->arch};
  for (int i = 0; i < 4; i++)
    if (strnlen(f[i], RPMHDR_FIELD_MAX) >= RPMHDR_FIELD_MAX) abort();
  if (++*n > CAP) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fake f = {data, size, {0}};
  os_shim os = {.ctx = &f,
                .mono_ms = f_ms,
                .wall_ms = f_ms,
                .random = f_random,
                .open = f_open,
                .close = f_close,
                .pread = f_pread,
                .fstat = f_fstat,
                .stat = f_stat,
                .lstat = f_stat};
  rpmhdr_db_result r;
  int n = 0;
  rpmhdr_db_state st = rpmhdr_db_list(&os, NULL, CAP, on_pkg, &n, &r);
  if (f.file.open) abort(); /* closed on every path */
  if (st != r.state || r.listed != n || (st == RPMHDR_DB_OK && r.bad != 0)) abort();
  if (st == RPMHDR_DB_ERROR && !r.error[0]) abort();
  if (strnlen(r.error, sizeof r.error) >= sizeof r.error) abort();
  return 0;
}
