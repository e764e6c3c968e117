/* fuzz_rpmhdr: one rpm header blob as stored in rpmdb.sqlite. The parser
 * never crashes, never asks its reader for a byte outside the blob, leaves
 * the output empty on every rejection, and on success gives terminated,
 * control-free fields from a blob whose lengths agree (8 + 16*il + dl).
 * The in-memory and the reader entry points agree. Seeds: a header written
 * by rpm 4.18 (fuzz/corpus/rpmhdr/rpm418-noarch) and a minimal hand-built one. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rpmhdr.h"

typedef struct rd {
  const uint8_t *p;
  size_t n;
} rd;

static int bounded_read(void *ctx, void *buf, size_t len, uint64_t off) {
  const rd *r = ctx;
  if (off > r->n || len > r->n - off) abort(); /* the parser asked outside the blob */
  memcpy(buf, r->p + off, len);
  return 0;
}

static void check_field(const char *f) {
  size_t n = strnlen(f, RPMHDR_FIELD_MAX);
  if (n >= RPMHDR_FIELD_MAX) abort();
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f) abort();
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rpmhdr_pkg a, b;
  int rc = rpmhdr_parse(data, size, &a);
  rd r = {data, size};
  if (rpmhdr_parse_read(bounded_read, &r, size, &b) != rc) abort();
  if (memcmp(&a, &b, sizeof a) != 0) abort();
  if (rc != RPMHDR_OK) {
    static const rpmhdr_pkg zero;
    if (rc < RPMHDR_EINVAL || rc > 0 || memcmp(&a, &zero, sizeof a) != 0) abort();
    return 0;
  }
  if (size < 8 || (uint64_t)size != 8 + 16 * (uint64_t)be32(data) + be32(data + 4)) abort();
  check_field(a.name);
  check_field(a.version);
  check_field(a.release);
  check_field(a.arch);
  char evr[3 * RPMHDR_FIELD_MAX + 16];
  rpmhdr_evr(&a, evr, sizeof evr);
  if (strnlen(evr, sizeof evr) >= sizeof evr) abort();
  return 0;
}
