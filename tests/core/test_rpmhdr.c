/* rpm header blobs built by hand: a good one (with the immutable region tag
 * rpm writes first), one without epoch and arch, and every way a blob can lie
 * about itself: cut short, too long, counts and offsets outside the store,
 * huge counts, misalignment, unknown types, missing, doubled or mistyped
 * tags, strings without their NUL. Also: a failing reader, long values cut,
 * control bytes replaced, the EVR text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/rpmhdr.h"

#define BLOB_MAX 4096

typedef struct ent {
  uint32_t tag, type, off, count;
} ent;

typedef struct hb {
  ent e[16];
  int n;
  uint8_t data[2048];
  uint32_t dl;
  uint8_t blob[BLOB_MAX];
  size_t len;
} hb;

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void add(hb *h, uint32_t tag, uint32_t type, uint32_t off, uint32_t count) {
  assert_true(h->n < 16);
  h->e[h->n++] = (ent){tag, type, off, count};
}

/* Appends a string entry (and its bytes, NUL included) to the store. */
static uint32_t add_str(hb *h, uint32_t tag, const char *s) {
  uint32_t off = h->dl;
  size_t n = strlen(s) + 1;
  assert_true(h->dl + n <= sizeof h->data);
  memcpy(h->data + h->dl, s, n);
  h->dl += (uint32_t)n;
  add(h, tag, 6, off, 1);
  return off;
}

static uint32_t add_i32(hb *h, uint32_t tag, uint32_t v) {
  while (h->dl % 4) h->data[h->dl++] = 0;
  uint32_t off = h->dl;
  put32(h->data + h->dl, v);
  h->dl += 4;
  add(h, tag, 4, off, 1);
  return off;
}

static size_t build(hb *h) {
  put32(h->blob, (uint32_t)h->n);
  put32(h->blob + 4, h->dl);
  for (int i = 0; i < h->n; i++) {
    uint8_t *p = h->blob + 8 + 16 * i;
    put32(p, h->e[i].tag);
    put32(p + 4, h->e[i].type);
    put32(p + 8, h->e[i].off);
    put32(p + 12, h->e[i].count);
  }
  memcpy(h->blob + 8 + 16 * h->n, h->data, h->dl);
  h->len = 8 + 16 * (size_t)h->n + h->dl;
  return h->len;
}

/* NAME, VERSION, RELEASE, EPOCH, ARCH after a region tag and a summary. */
static void good(hb *h) {
  memset(h, 0, sizeof *h);
  add(h, 63, 7, 0, 16); /* region tag: 16 bytes of trailer at offset 0 */
  memset(h->data, 0xee, 16);
  h->dl = 16;
  add_str(h, RPMHDR_TAG_NAME, "outpost-test-a");
  add_str(h, RPMHDR_TAG_VERSION, "1.2.3");
  add_str(h, RPMHDR_TAG_RELEASE, "4.el9");
  add_i32(h, RPMHDR_TAG_EPOCH, 7);
  add_str(h, 1004, "a summary nobody reads");
  add_str(h, RPMHDR_TAG_ARCH, "noarch");
  build(h);
}

static void good_blob(void **state) {
  hb h;
  rpmhdr_pkg p;
  good(&h);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_OK);
  assert_string_equal(p.name, "outpost-test-a");
  assert_string_equal(p.version, "1.2.3");
  assert_string_equal(p.release, "4.el9");
  assert_string_equal(p.arch, "noarch");
  assert_true(p.has_epoch);
  assert_int_equal(p.epoch, 7);
  char evr[64];
  rpmhdr_evr(&p, evr, sizeof evr);
  assert_string_equal(evr, "7:1.2.3-4.el9");
}

static void no_epoch_no_arch(void **state) {
  hb h;
  memset(&h, 0, sizeof h);
  add_str(&h, RPMHDR_TAG_NAME, "gpg-pubkey");
  add_str(&h, RPMHDR_TAG_VERSION, "fd431d51");
  add_str(&h, RPMHDR_TAG_RELEASE, "4ae0493b");
  build(&h);
  rpmhdr_pkg p;
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_OK);
  assert_string_equal(p.arch, "");
  assert_false(p.has_epoch);
  char evr[64];
  rpmhdr_evr(&p, evr, sizeof evr);
  assert_string_equal(evr, "fd431d51-4ae0493b");
}

static void truncated_and_padded(void **state) {
  hb h;
  rpmhdr_pkg p;
  good(&h);
  /* Every proper prefix is refused, and the output is left empty. */
  for (size_t n = 0; n < h.len; n++) {
    memset(&p, 0x55, sizeof p);
    int rc = rpmhdr_parse(h.blob, n, &p);
    assert_int_equal(rc, RPMHDR_ESHORT);
    assert_int_equal(p.name[0], 0);
  }
  /* A byte past dl is not ours to ignore: the lengths must agree exactly. */
  assert_int_equal(rpmhdr_parse(h.blob, h.len + 1, &p), RPMHDR_ESHORT);
  assert_int_equal(rpmhdr_parse(NULL, 5, &p), RPMHDR_EINVAL);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, NULL), RPMHDR_EINVAL);
}

static void intro_out_of_range(void **state) {
  hb h;
  rpmhdr_pkg p;
  const uint32_t bad_il[] = {0, RPMHDR_IL_MAX + 1, 0x7fffffff, 0xffffffff};
  for (size_t i = 0; i < sizeof bad_il / sizeof bad_il[0]; i++) {
    good(&h);
    put32(h.blob, bad_il[i]);
    assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_ERANGE);
  }
  const uint32_t bad_dl[] = {0, RPMHDR_DL_MAX + 1, 0x80000000, 0xffffffff};
  for (size_t i = 0; i < sizeof bad_dl / sizeof bad_dl[0]; i++) {
    good(&h);
    put32(h.blob + 4, bad_dl[i]);
    assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_ERANGE);
  }
  /* il claims more entries than the blob holds (within the cap). */
  good(&h);
  put32(h.blob, 1000);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_ESHORT);
}

/* Sets field f (0 tag, 1 type, 2 offset, 3 count) of entry i and rebuilds. */
static int with(int i, int f, uint32_t v) {
  hb h;
  rpmhdr_pkg p;
  good(&h);
  uint32_t *fs[4] = {&h.e[i].tag, &h.e[i].type, &h.e[i].off, &h.e[i].count};
  *fs[f] = v;
  build(&h);
  return rpmhdr_parse(h.blob, h.len, &p);
}

static void offsets_out_of_range(void **state) {
  hb h;
  good(&h);
  uint32_t dl = h.dl;
  /* Entry 1 is NAME, entry 5 the summary nobody reads: both are checked. */
  for (int i = 1; i <= 5; i += 4) {
    assert_int_equal(with(i, 2, dl), RPMHDR_EENTRY);       /* at the end: no room */
    assert_int_equal(with(i, 2, dl + 1), RPMHDR_EENTRY);   /* past it */
    assert_int_equal(with(i, 2, 0x7fffffff), RPMHDR_EENTRY);
    assert_int_equal(with(i, 2, 0xffffffff), RPMHDR_EENTRY); /* -1 on disk */
    assert_int_equal(with(i, 2, 0x80000000), RPMHDR_EENTRY);
  }
  /* The region tag's 16 bytes must fit too. */
  assert_int_equal(with(0, 2, dl - 8), RPMHDR_EENTRY);
  /* EPOCH misaligned (INT32 needs 4) and at the store's last 2 bytes. */
  assert_int_equal(with(4, 2, 17), RPMHDR_EENTRY);
  uint32_t last = (dl - 1) & ~3u; /* aligned, with fewer than 4 bytes after it */
  assert_true(dl - last < 4);
  assert_int_equal(with(4, 2, last), RPMHDR_EENTRY);
  assert_int_equal(with(4, 2, 16), RPMHDR_OK); /* aligned, inside: fine (any 4 bytes) */
}

static void huge_counts_and_types(void **state) {
  /* Counts that do not fit what is left of the store, on kept and other tags. */
  assert_int_equal(with(5, 3, 0xffffffff), RPMHDR_EENTRY);
  assert_int_equal(with(5, 3, 0x10000000), RPMHDR_EENTRY);
  assert_int_equal(with(0, 3, 0x20000000), RPMHDR_EENTRY); /* BIN */
  assert_int_equal(with(4, 3, 0x40000000), RPMHDR_EENTRY); /* INT32: count*4 wraps in 32 bits */
  assert_int_equal(with(1, 3, 0xffffffff), RPMHDR_EENTRY);
  assert_int_equal(with(5, 3, 0), RPMHDR_EENTRY);
  /* Types beyond I18NSTRING (9) are unknown. */
  assert_int_equal(with(5, 1, 10), RPMHDR_EENTRY);
  assert_int_equal(with(5, 1, 0xffffffff), RPMHDR_EENTRY);
  /* INT64 entries need 8-byte alignment. */
  hb h;
  rpmhdr_pkg p;
  good(&h);
  add(&h, 5000, 5, 20, 1); /* offset 20: 4-aligned, not 8 */
  build(&h);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_EENTRY);
}

static void kept_tags_checked(void **state) {
  /* NAME as INT32, NAME with count 2, EPOCH as STRING. */
  assert_int_equal(with(1, 1, 4), RPMHDR_ETAG);
  assert_int_equal(with(1, 3, 2), RPMHDR_ETAG);
  assert_int_equal(with(4, 1, 6), RPMHDR_ETAG);
  /* ARCH as STRING_ARRAY. */
  assert_int_equal(with(6, 1, 8), RPMHDR_ETAG);
  /* Two NAMEs: which one would be true? Neither. */
  hb h;
  rpmhdr_pkg p;
  good(&h);
  add_str(&h, RPMHDR_TAG_NAME, "other");
  build(&h);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_ETAG);
}

static void missing_tags(void **state) {
  const uint32_t need[] = {RPMHDR_TAG_NAME, RPMHDR_TAG_VERSION, RPMHDR_TAG_RELEASE};
  for (size_t i = 0; i < 3; i++) {
    /* Renumber the tag to one nobody keeps. */
    hb h;
    rpmhdr_pkg p;
    good(&h);
    for (int j = 0; j < h.n; j++)
      if (h.e[j].tag == need[i]) h.e[j].tag = 4999;
    build(&h);
    assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_EMISSING);
  }
}

static void strings_checked_and_cut(void **state) {
  hb h;
  rpmhdr_pkg p;
  /* ARCH is the last string: its NUL replaced, the store ends without one. */
  good(&h);
  h.data[h.dl - 1] = 'x';
  build(&h);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_ESTRING);
  /* A 300-byte release is cut to RPMHDR_FIELD_MAX-1; control bytes become '?'. */
  char lng[301];
  memset(lng, 'r', 300);
  lng[300] = 0;
  memset(&h, 0, sizeof h);
  add_str(&h, RPMHDR_TAG_NAME, "a\tb\x7f");
  add_str(&h, RPMHDR_TAG_VERSION, "1");
  add_str(&h, RPMHDR_TAG_RELEASE, lng);
  build(&h);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_OK);
  assert_string_equal(p.name, "a?b?");
  assert_int_equal(strlen(p.release), RPMHDR_FIELD_MAX - 1);
  /* An empty name is a name of zero bytes, not a missing one. */
  memset(&h, 0, sizeof h);
  add_str(&h, RPMHDR_TAG_NAME, "");
  add_str(&h, RPMHDR_TAG_VERSION, "1");
  add_str(&h, RPMHDR_TAG_RELEASE, "1");
  build(&h);
  assert_int_equal(rpmhdr_parse(h.blob, h.len, &p), RPMHDR_OK);
  assert_string_equal(p.name, "");
}

typedef struct failing {
  const uint8_t *p;
  size_t n;
  int calls, fail_at;
} failing;

static int failing_read(void *ctx, void *buf, size_t len, uint64_t off) {
  failing *f = ctx;
  if (++f->calls == f->fail_at) return -1;
  assert_true(off <= f->n && len <= f->n - off); /* never asks outside the blob */
  memcpy(buf, f->p + off, len);
  return 0;
}

static void reader_fails(void **state) {
  hb h;
  rpmhdr_pkg p;
  good(&h);
  failing f = {h.blob, h.len, 0, 0};
  assert_int_equal(rpmhdr_parse_read(failing_read, &f, h.len, &p), RPMHDR_OK);
  int total = f.calls;
  assert_true(total >= 7); /* intro, index, four strings, epoch */
  for (int k = 1; k <= total; k++) {
    failing g = {h.blob, h.len, 0, k};
    assert_int_equal(rpmhdr_parse_read(failing_read, &g, h.len, &p), RPMHDR_EREAD);
    assert_int_equal(p.name[0], 0);
  }
  assert_int_equal(rpmhdr_parse_read(NULL, NULL, 10, &p), RPMHDR_EINVAL);
}

static void state_names(void **state) {
  assert_string_equal(rpmhdr_db_state_name(RPMHDR_DB_OK), "ok");
  assert_string_equal(rpmhdr_db_state_name(RPMHDR_DB_ABSENT), "not available");
  assert_string_equal(rpmhdr_db_state_name(RPMHDR_DB_BDB), "not supported (bdb)");
  assert_string_equal(rpmhdr_db_state_name(RPMHDR_DB_NDB), "not supported (ndb)");
  assert_string_equal(rpmhdr_db_state_name(RPMHDR_DB_ERROR), "error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(good_blob),
      cmocka_unit_test(no_epoch_no_arch),
      cmocka_unit_test(truncated_and_padded),
      cmocka_unit_test(intro_out_of_range),
      cmocka_unit_test(offsets_out_of_range),
      cmocka_unit_test(huge_counts_and_types),
      cmocka_unit_test(kept_tags_checked),
      cmocka_unit_test(missing_tags),
      cmocka_unit_test(strings_checked_and_cut),
      cmocka_unit_test(reader_fails),
      cmocka_unit_test(state_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
