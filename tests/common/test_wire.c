/* Tests for agent/common/wire.c: MAC, batch roundtrip, every decoder refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "common/crypto.h"
#include "common/wire.h"

typedef struct collected {
  int n;
  int64_t seq[16];
  int64_t ts[16];
  char source[16][64];
  char line[16][256];
  size_t line_len[16];
} collected;

static int collect(void *user, const wire_record *r) {
  collected *c = user;
  if (c->n >= 16) return 1;
  c->seq[c->n] = r->seq;
  c->ts[c->n] = r->ts_ms;
  snprintf(c->source[c->n], sizeof c->source[0], "%s", r->source);
  memcpy(c->line[c->n], r->line, r->line_len + 1);
  c->line_len[c->n] = r->line_len;
  c->n++;
  return 0;
}

static uint8_t *zst(const char *text, size_t len, size_t *out_len) {
  size_t bound = ZSTD_compressBound(len);
  uint8_t *b = malloc(bound);
  assert_non_null(b);
  *out_len = ZSTD_compress(b, bound, text, len, 3);
  assert_false(ZSTD_isError(*out_len));
  return b;
}

/* Decodes NDJSON text compressed here; returns the wire code and fills err. */
static int decode_text(const char *text, int64_t first, int64_t last, collected *c, char *err,
                       size_t cap) {
  size_t n;
  uint8_t *b = zst(text, strlen(text), &n);
  int rc = wire_batch_decode(b, n, first, last, collect, c, err, cap);
  free(b);
  return rc;
}

static void test_request_mac(void **state) {
  char mac[65], mac2[65];
  const uint8_t key[32] = {1, 2, 3};
  const char *inst = "0123456789abcdef0123456789abcdef";
  wire_request_mac(key, 32, "POST", "/v1/ingest", 1764380000123, "body", 4, inst, "none", mac);
  assert_int_equal(strlen(mac), 64);
  /* Compute by hand: HMAC over the documented string. */
  uint8_t h[32], m[32];
  char hh[65], s[256], expect[65];
  crypto_sha256("body", 4, h);
  crypto_hex(h, 32, hh);
  int len = snprintf(s, sizeof s, "outpost-v1\nPOST\n/v1/ingest\n1764380000123\n%s\n%s\nnone", hh,
                     inst);
  crypto_hmac_sha256(key, 32, s, (size_t)len, m);
  crypto_hex(m, 32, expect);
  assert_string_equal(mac, expect);
  wire_request_mac(key, 32, "POST", "/v1/ingest", 1764380000124, "body", 4, inst, "none", mac2);
  assert_string_not_equal(mac, mac2);
  /* instance and ratchet are covered: another process or value, another MAC */
  wire_request_mac(key, 32, "POST", "/v1/ingest", 1764380000123, "body", 4,
                   "1123456789abcdef0123456789abcdef", "none", mac2);
  assert_string_not_equal(mac, mac2);
  wire_request_mac(key, 32, "POST", "/v1/ingest", 1764380000123, "body", 4, inst,
                   "0123456789abcdef0123456789abcdef", mac2);
  assert_string_not_equal(mac, mac2);
  assert_true(wire_is_hex_id(inst));
  assert_false(wire_is_hex_id("0123456789abcdef0123456789abcdeF"));
  assert_false(wire_is_hex_id("0123456789abcdef0123456789abcdef0"));
  assert_false(wire_is_hex_id("0123"));
  assert_false(wire_is_hex_id(NULL));
}

static void test_session_message(void **state) {
  char buf[128];
  int n = wire_session_message("abc", "xyz", "inst", buf, sizeof buf);
  assert_int_equal(n, (int)strlen("outpost-session-v1\nabc\nxyz\ninst"));
  assert_string_equal(buf, "outpost-session-v1\nabc\nxyz\ninst");
  assert_int_equal(wire_session_message("abc", "xyz", "inst", buf, 10), -1);
}

static void test_roundtrip_awkward(void **state) {
  static const char *lines[] = {
      "plain", "quote \" and backslash \\ end", "new\nline\r\ttab", "ctl \x01\x02\x1f\x7f",
      "utf8 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "invalid \xff\xfe\xc3 utf8", "",
      "{\"seq\":1}"};
  const int n = (int)(sizeof lines / sizeof lines[0]);
  wire_batch_enc e;
  wire_batch_enc_init(&e, 0);
  for (int i = 0; i < n; i++) {
    wire_record r = {.seq = 41 + i, .ts_ms = 1764380000000 + i, .source = "/var/log/a \"b\".log",
                     .source_len = strlen("/var/log/a \"b\".log"), .line = lines[i],
                     .line_len = strlen(lines[i])};
    assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_OK);
  }
  assert_int_equal(e.count, n);
  assert_int_equal(e.first_seq, 41);
  assert_int_equal(e.last_seq, 41 + n - 1);
  uint8_t *body = NULL;
  size_t blen = 0;
  assert_int_equal(wire_batch_enc_finish(&e, 3, &body, &blen), WIRE_OK);
  wire_batch_enc_free(&e);
  wire_batch_enc_free(&e); /* safe twice */
  collected c = {0};
  char err[256];
  assert_int_equal(wire_batch_decode(body, blen, 41, 41 + n - 1, collect, &c, err, sizeof err),
                   WIRE_OK);
  free(body);
  assert_int_equal(c.n, n);
  for (int i = 0; i < n; i++) {
    assert_int_equal(c.seq[i], 41 + i);
    assert_int_equal(c.ts[i], 1764380000000 + i);
    assert_string_equal(c.source[i], "/var/log/a \"b\".log");
    assert_int_equal(c.line_len[i], strlen(lines[i]));
    assert_memory_equal(c.line[i], lines[i], c.line_len[i]);
  }
}

/* The encoder as it was written first, byte by byte with snprintf: the
 * table-driven one must produce exactly these bytes (the cloud's stored
 * rows and the simulator's trace hashes depend on them). */
static size_t ref_escape(char *dst, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  dst[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': dst[o++] = '\\'; dst[o++] = '"'; break;
    case '\\': dst[o++] = '\\'; dst[o++] = '\\'; break;
    case '\n': dst[o++] = '\\'; dst[o++] = 'n'; break;
    case '\r': dst[o++] = '\\'; dst[o++] = 'r'; break;
    case '\t': dst[o++] = '\\'; dst[o++] = 't'; break;
    case '\b': dst[o++] = '\\'; dst[o++] = 'b'; break;
    case '\f': dst[o++] = '\\'; dst[o++] = 'f'; break;
    default:
      if (c < 0x20) {
        o += (size_t)sprintf(dst + o, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
      } else {
        dst[o++] = (char)c;
      }
    }
  }
  dst[o++] = '"';
  return o;
}

static size_t ref_record(char *dst, const wire_record *r) {
  size_t o = (size_t)sprintf(dst, "{\"seq\":%lld,\"ts\":%lld,\"source\":", (long long)r->seq,
                             (long long)r->ts_ms);
  o += ref_escape(dst + o, r->source, r->source_len);
  o += (size_t)sprintf(dst + o, ",\"line\":");
  o += ref_escape(dst + o, r->line, r->line_len);
  o += (size_t)sprintf(dst + o, "}\n");
  return o;
}

/* wire.c's bound on seq and ts: 2^53 - 1, what a JSON double holds exactly. */
#define SAFE_INT 9007199254740991LL

static void test_encoder_bytes_match_reference(void **state) {
  enum { LINES = 400, MAXLEN = 300 };
  static const int64_t ts[] = {0, 1, -1, 9, 10, -10, 99, 100, -100, 101, 12345, -99999,
                               1764380000000, -1764380000000,
                               SAFE_INT, -SAFE_INT, 999999999999, 1000000000000};
  char line[MAXLEN];
  char *want = malloc((size_t)LINES * (6 * (MAXLEN + 16) + 128));
  assert_non_null(want);
  size_t want_len = 0;
  uint64_t x = 0x9e3779b97f4a7c15u;
  wire_batch_enc e;
  wire_batch_enc_init(&e, 0);
  for (int i = 0; i < LINES; i++) {
    size_t n;
    if (i == 0) { /* every byte value but NUL, which the encoder refuses */
      for (n = 0; n < 255; n++) line[n] = (char)(n + 1);
    } else { /* random lengths and bytes, some lines mostly escapes */
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      n = (size_t)(x % MAXLEN);
      for (size_t k = 0; k < n; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned char c = (unsigned char)(i % 3 ? 0x20 + x % 95 : x % 256);
        if (i % 5 == 0 && x % 4 == 0) c = (unsigned char)"\"\\\n\x01"[x / 4 % 4];
        line[k] = (char)(c ? c : 'z');
      }
    }
    const char *src = i % 2 ? "/var/log/\"x\"\t.log" : "s";
    wire_record r = {.seq = i == LINES - 1 ? SAFE_INT : 1 + i,
                     .ts_ms = ts[i % (int)(sizeof ts / sizeof ts[0])],
                     .source = src, .source_len = strlen(src), .line = line, .line_len = n};
    if (i == LINES - 1) { /* a new batch: its first record may carry any seq */
      wire_batch_enc_free(&e);
      wire_batch_enc_init(&e, 0);
      want_len = 0;
    }
    want_len += ref_record(want + want_len, &r);
    assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_OK);
    assert_int_equal(e.len, want_len);
    assert_memory_equal(e.buf, want, want_len);
  }
  wire_batch_enc_free(&e);
  free(want);
}

static void test_encoder_limits(void **state) {
  wire_batch_enc e;
  wire_batch_enc_init(&e, 200);
  wire_record r = {.seq = 1, .ts_ms = 0, .source = "s", .source_len = 1, .line = "x",
                   .line_len = 1};
  assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_OK);
  r.seq = 3; /* gap */
  assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_EINVAL);
  r.seq = 2;
  char big[300];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  r.line = big;
  r.line_len = strlen(big);
  size_t before = e.len;
  assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_ETOOBIG);
  assert_int_equal(e.len, before);
  assert_int_equal(e.count, 1);
  r.line = "a\0b";
  r.line_len = 3;
  assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_EINVAL);
  wire_batch_enc_free(&e);
}

#define REC(s) "{\"seq\":" #s ",\"ts\":5,\"source\":\"src\",\"line\":\"l\"}\n"

static void test_decode_ok_trailing_newline_optional(void **state) {
  collected c = {0};
  char err[256];
  assert_int_equal(decode_text(REC(1) "{\"seq\":2,\"ts\":5,\"source\":\"s\",\"line\":\"l\"}", 1, 2,
                               &c, err, sizeof err),
                   WIRE_OK);
  assert_int_equal(c.n, 2);
}

static void expect_batch_error(const char *text, int64_t first, int64_t last, int code,
                               const char *needle) {
  collected c = {0};
  char err[256] = "";
  assert_int_equal(decode_text(text, first, last, &c, err, sizeof err), code);
  assert_int_equal(c.n, 0); /* nothing reported from a bad batch */
  if (needle && !strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_decode_gap(void **state) {
  expect_batch_error(REC(10) REC(12) REC(13), 10, 12, WIRE_EBATCH,
                     "line 2: field \"seq\" is 12, expected 11");
}

static void test_decode_count_mismatch(void **state) {
  expect_batch_error(REC(1) REC(2), 1, 3, WIRE_EBATCH, "2 records");
  expect_batch_error(REC(1) REC(2) REC(3), 1, 2, WIRE_EBATCH, "line 3");
}

static void test_decode_wrong_type(void **state) {
  expect_batch_error("{\"seq\":\"1\",\"ts\":5,\"source\":\"s\",\"line\":\"l\"}\n", 1, 1,
                     WIRE_EBATCH, "\"seq\" is not an integer");
  expect_batch_error("{\"seq\":1.5,\"ts\":5,\"source\":\"s\",\"line\":\"l\"}\n", 1, 1,
                     WIRE_EBATCH, "\"seq\"");
  expect_batch_error("{\"seq\":1,\"ts\":1e300,\"source\":\"s\",\"line\":\"l\"}\n", 1, 1,
                     WIRE_EBATCH, "\"ts\"");
  expect_batch_error("{\"seq\":1,\"ts\":5,\"source\":7,\"line\":\"l\"}\n", 1, 1, WIRE_EBATCH,
                     "\"source\"");
  expect_batch_error("{\"seq\":1,\"ts\":5,\"source\":\"s\",\"line\":null}\n", 1, 1, WIRE_EBATCH,
                     "\"line\"");
  expect_batch_error("[1,2,3]\n", 1, 1, WIRE_EBATCH, "not a JSON object");
}

static void test_decode_missing_extra_field(void **state) {
  expect_batch_error("{\"seq\":1,\"ts\":5,\"source\":\"s\"}\n", 1, 1, WIRE_EBATCH,
                     "missing field \"line\"");
  expect_batch_error("{\"seq\":1,\"ts\":5,\"source\":\"s\",\"line\":\"l\",\"x\":1}\n", 1, 1,
                     WIRE_EBATCH, "unexpected field \"x\"");
  expect_batch_error("{\"seq\":1,\"ts\":5,\"source\":\"s\",\"line\":\"l\",\"seq\":1}\n", 1, 1,
                     WIRE_EBATCH, "twice");
}

static void test_decode_malformed(void **state) {
  expect_batch_error(REC(1) "\n" REC(2), 1, 2, WIRE_EBATCH, "line 2: empty line");
  expect_batch_error(REC(1) "{\"seq\":2,", 1, 2, WIRE_EBATCH, "line 2: malformed JSON");
  expect_batch_error("{\"seq\":1,\"ts\":5,\"source\":\"s\",\"line\":\"l\"} x\n", 1, 1,
                     WIRE_EBATCH, "after the JSON");
  expect_batch_error("", 1, 1, WIRE_EBATCH, "0 records");
}

static void test_decode_field_limits(void **state) {
  size_t big = WIRE_MAX_LINE + 2;
  char *text = malloc(big + 100);
  assert_non_null(text);
  int n = snprintf(text, 100, "{\"seq\":1,\"ts\":5,\"source\":\"s\",\"line\":\"");
  memset(text + n, 'a', WIRE_MAX_LINE + 1);
  strcpy(text + n + WIRE_MAX_LINE + 1, "\"}\n");
  expect_batch_error(text, 1, 1, WIRE_ETOOBIG, "line 1: line is");
  n = snprintf(text, 100, "{\"seq\":1,\"ts\":5,\"line\":\"l\",\"source\":\"");
  memset(text + n, 'a', WIRE_MAX_SOURCE + 1);
  strcpy(text + n + WIRE_MAX_SOURCE + 1, "\"}\n");
  expect_batch_error(text, 1, 1, WIRE_ETOOBIG, "source is");
  free(text);
}

static void test_decode_too_many_records(void **state) {
  collected c = {0};
  char err[256];
  uint8_t body[16] = {0};
  assert_int_equal(wire_batch_decode(body, sizeof body, 1, WIRE_MAX_RECORDS + 1, collect, &c, err,
                                     sizeof err),
                   WIRE_ETOOBIG);
  /* A real batch of WIRE_MAX_RECORDS + 1 lines against a header range of
   * WIRE_MAX_RECORDS is refused too. */
  size_t cap = (WIRE_MAX_RECORDS + 1) * 64;
  char *text = malloc(cap);
  assert_non_null(text);
  size_t o = 0;
  for (int i = 1; i <= WIRE_MAX_RECORDS + 1; i++)
    o += (size_t)snprintf(text + o, cap - o, "{\"seq\":%d,\"ts\":5,\"source\":\"s\",\"line\":\"l\"}\n", i);
  expect_batch_error(text, 1, WIRE_MAX_RECORDS, WIRE_EBATCH, "more records");
  free(text);
  assert_int_equal(wire_batch_decode(body, sizeof body, 5, 4, collect, &c, err, sizeof err),
                   WIRE_EBATCH);
  assert_int_equal(wire_batch_decode(body, sizeof body, 0, 4, collect, &c, err, sizeof err),
                   WIRE_EBATCH);
}

static void test_decode_garbage_zstd(void **state) {
  collected c = {0};
  char err[256];
  const uint8_t junk[] = "this is not zstd at all";
  assert_int_equal(wire_batch_decode(junk, sizeof junk, 1, 1, collect, &c, err, sizeof err),
                   WIRE_EENCODING);
  size_t n;
  uint8_t *b = zst(REC(1), strlen(REC(1)), &n);
  assert_int_equal(wire_batch_decode(b, n - 3, 1, 1, collect, &c, err, sizeof err),
                   WIRE_EENCODING); /* truncated */
  uint8_t *two = malloc(2 * n);
  memcpy(two, b, n);
  memcpy(two + n, b, n);
  assert_int_equal(wire_batch_decode(two, 2 * n, 1, 1, collect, &c, err, sizeof err),
                   WIRE_EENCODING); /* a second frame */
  free(two);
  b[n / 2] ^= 0x55; /* corrupt the block (checksum is off by default; may fail either way) */
  int rc = wire_batch_decode(b, n, 1, 1, collect, &c, err, sizeof err);
  assert_true(rc == WIRE_EENCODING || rc == WIRE_EBATCH);
  free(b);
  assert_int_equal(c.n, 0);
  assert_int_equal(wire_batch_decode((const uint8_t *)"", 0, 1, 1, collect, &c, err, sizeof err),
                   WIRE_EENCODING);
}

static void test_decode_body_too_big(void **state) {
  collected c = {0};
  char err[256];
  uint8_t *b = calloc(1, WIRE_MAX_BODY + 1);
  assert_non_null(b);
  assert_int_equal(
      wire_batch_decode(b, WIRE_MAX_BODY + 1, 1, 1, collect, &c, err, sizeof err), WIRE_ETOOBIG);
  free(b);
}

/* A zstd bomb: small body, decoded size above WIRE_MAX_DECODED, both with the
 * size declared in the frame header and with it omitted (streamed). */
static void test_decode_bomb(void **state) {
  size_t big = WIRE_MAX_DECODED + 4096;
  char *zeros = calloc(1, big);
  assert_non_null(zeros);
  collected c = {0};
  char err[256];
  size_t n;
  uint8_t *b = zst(zeros, big, &n);
  assert_true(n < WIRE_MAX_BODY);
  assert_int_equal(wire_batch_decode(b, n, 1, 1, collect, &c, err, sizeof err), WIRE_ETOOBIG);
  free(b);

  ZSTD_CCtx *cc = ZSTD_createCCtx();
  size_t cap = ZSTD_compressBound(big);
  b = malloc(cap);
  ZSTD_outBuffer ob = {b, cap, 0};
  /* Feeding with ZSTD_e_continue first keeps the size out of the header. */
  ZSTD_inBuffer ib = {zeros, big, 0};
  while (ib.pos < ib.size)
    assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue)));
  size_t rem;
  do {
    rem = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
    assert_false(ZSTD_isError(rem));
  } while (rem != 0);
  ZSTD_freeCCtx(cc);
  assert_int_equal(ZSTD_getFrameContentSize(b, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
  assert_int_equal(wire_batch_decode(b, ob.pos, 1, 1, collect, &c, err, sizeof err),
                   WIRE_ETOOBIG);
  assert_non_null(strstr(err, "exceeds"));
  free(b);
  free(zeros);
  assert_int_equal(c.n, 0);
}

static int stop_at_two(void *user, const wire_record *r) {
  int *n = user;
  return ++*n == 2 ? 77 : 0;
}

static void test_decode_callback_stops(void **state) {
  size_t n;
  uint8_t *b = zst(REC(1) REC(2) REC(3), strlen(REC(1) REC(2) REC(3)), &n);
  int calls = 0;
  assert_int_equal(wire_batch_decode(b, n, 1, 3, stop_at_two, &calls, NULL, 0), 77);
  assert_int_equal(calls, 2);
  free(b);
}

/* issue #15: a kept zstd context gives the same bytes as a fresh one, batch
 * after batch, and a frame that failed half-way does not spoil the next. */
static uint8_t *encode_n(wire_zctx *z, int n, int64_t first, size_t *len) {
  wire_batch_enc e;
  wire_batch_enc_init(&e, 0);
  char line[64];
  for (int i = 0; i < n; i++) {
    snprintf(line, sizeof line, "line %d of a batch starting at %lld", i, (long long)first);
    wire_record r = {.seq = first + i, .ts_ms = 1764380000000 + i, .source = "/var/log/app.log",
                     .source_len = 16, .line = line, .line_len = strlen(line)};
    assert_int_equal(wire_batch_enc_add(&e, &r), WIRE_OK);
  }
  uint8_t *body = NULL;
  assert_int_equal(wire_batch_enc_finish_z(&e, z, 3, &body, len), WIRE_OK);
  wire_batch_enc_free(&e);
  return body;
}

typedef struct counted {
  int n;
  int64_t last;
} counted;

static int count_cb(void *user, const wire_record *r) {
  counted *c = user;
  c->n++;
  c->last = r->seq;
  return 0;
}

static void test_kept_context(void **state) {
  (void)state;
  wire_zctx *z = wire_zctx_new();
  assert_non_null(z);
  for (int b = 0; b < 4; b++) {
    int n = 50 + 400 * (b % 2); /* sizes alternate: the context's tables change */
    int64_t first = 1 + 1000 * b;
    size_t l1 = 0, l2 = 0;
    uint8_t *kept = encode_n(z, n, first, &l1), *fresh = encode_n(NULL, n, first, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(kept, fresh, l1);
    /* a truncated frame first, through the same context, then the whole one */
    counted c = {0};
    char err[256];
    assert_int_equal(wire_batch_decode_z(z, kept, l1 / 2, first, first + n - 1, count_cb, &c, err, sizeof err),
                     WIRE_EENCODING);
    assert_int_equal(c.n, 0);
    assert_int_equal(wire_batch_decode_z(z, kept, l1, first, first + n - 1, count_cb, &c, err, sizeof err),
                     WIRE_OK);
    assert_int_equal(c.n, n);
    assert_int_equal(c.last, first + n - 1);
    free(kept);
    free(fresh);
  }
  wire_zctx_free(z);
  wire_zctx_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_mac),
      cmocka_unit_test(test_session_message),
      cmocka_unit_test(test_roundtrip_awkward),
      cmocka_unit_test(test_kept_context),
      cmocka_unit_test(test_encoder_limits),
      cmocka_unit_test(test_decode_ok_trailing_newline_optional),
      cmocka_unit_test(test_decode_gap),
      cmocka_unit_test(test_decode_count_mismatch),
      cmocka_unit_test(test_decode_wrong_type),
      cmocka_unit_test(test_decode_missing_extra_field),
      cmocka_unit_test(test_decode_malformed),
      cmocka_unit_test(test_decode_field_limits),
      cmocka_unit_test(test_decode_too_many_records),
      cmocka_unit_test(test_decode_garbage_zstd),
      cmocka_unit_test(test_decode_body_too_big),
      cmocka_unit_test(test_decode_bomb),
      cmocka_unit_test(test_decode_callback_stops),
      cmocka_unit_test(test_encoder_bytes_match_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
