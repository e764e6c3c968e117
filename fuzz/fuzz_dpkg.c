/* fuzz_dpkg: the streaming dpkg status parser never crashes or overruns, and
 * gives the same packages whatever the chunking (whole input vs. split at a
 * point the input chooses). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dpkg.h"

typedef struct acc {
  uint64_t hash;
  long n;
} acc;

static int on_pkg(void *user, const dpkg_pkg *p) {
  acc *a = user;
  const char *f[3] = {p->name, p->version, p->arch};
  for (int i = 0; i < 3; i++) {
    size_t n = strnlen(f[i], DPKG_FIELD_MAX);
    if (n >= DPKG_FIELD_MAX) abort(); /* must be terminated */
    for (size_t j = 0; j <= n; j++) a->hash = (a->hash ^ (uint8_t)f[i][j]) * 1099511628211ULL;
  }
  a->n++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dpkg_parser p;
  acc whole = {1469598103934665603ULL, 0}, split = {1469598103934665603ULL, 0};
  dpkg_init(&p, on_pkg, &whole);
  dpkg_feed(&p, (const char *)data, size);
  dpkg_finish(&p);
  size_t cut = size ? data[0] % (size + 1) : 0;
  dpkg_init(&p, on_pkg, &split);
  for (size_t i = 0; i < cut; i++) dpkg_feed(&p, (const char *)data + i, 1); /* byte by byte */
  dpkg_feed(&p, (const char *)data + cut, size - cut);
  dpkg_finish(&p);
  if (whole.n != split.n || whole.hash != split.hash) abort();
  return 0;
}
