/* wire.c - request MAC, session message, ingest batch encode/decode.
 *
 * String escaping choice (encoder): '"' and '\\' are escaped, bytes below 0x20
 * become \n \r \t \b \f or \u00XX; every other byte, including 0x7f and bytes
 * >= 0x80 that are not valid UTF-8, is passed through as-is. cJSON (the
 * decoder) does not validate UTF-8 either, so a log line's bytes arrive
 * unchanged. The one byte that cannot travel is NUL: wire_record strings are
 * NUL-terminated, so the encoder rejects a record whose source or line
 * contains NUL within its stated length (WIRE_EINVAL), and the decoder rejects
 * a raw NUL byte in the NDJSON.
 */
#include "common/wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zstd.h>

#include "common/crypto.h"

/* JSON numbers arrive as doubles: only integers up to 2^53-1 are exact. */
#define WIRE_SAFE_INT 9007199254740991LL

void wire_request_mac(const uint8_t *key, size_t key_len, const char *method, const char *path,
                      int64_t time_ms, const void *body, size_t body_len, const char *instance,
                      const char *ratchet, char out[65]) {
  uint8_t body_hash[CRYPTO_SHA256_LEN], mac[CRYPTO_SHA256_LEN];
  char body_hex[2 * CRYPTO_SHA256_LEN + 1], tbuf[32];

  crypto_sha256(body_len ? body : "", body_len, body_hash);
  crypto_hex(body_hash, sizeof body_hash, body_hex);
  snprintf(tbuf, sizeof tbuf, "%" PRId64, time_ms);
  if (!method) method = "";
  if (!path) path = "";
  if (!instance) instance = "";
  if (!ratchet) ratchet = "";

  /* Streamed so the message is never assembled in a bounded buffer. */
  const crypto_part parts[] = {
      {"outpost-v1\n", 11}, {method, strlen(method)},     {"\n", 1}, {path, strlen(path)},
      {"\n", 1},            {tbuf, strlen(tbuf)},         {"\n", 1}, {body_hex, strlen(body_hex)},
      {"\n", 1},            {instance, strlen(instance)}, {"\n", 1}, {ratchet, strlen(ratchet)},
  };
  crypto_hmac_sha256_parts(key, key_len, parts, sizeof parts / sizeof parts[0], mac);
  crypto_hex(mac, sizeof mac, out);
}

int wire_session_message(const char *agent_id, const char *challenge, const char *instance,
                         char *out, size_t cap) {
  if (!agent_id || !challenge || !instance || !out || cap == 0) return -1;
  int n = snprintf(out, cap, "%s\n%s\n%s\n%s", WIRE_SESSION_CONTEXT, agent_id, challenge,
                   instance);
  if (n < 0 || (size_t)n >= cap) return -1;
  return n;
}

int wire_is_hex_id(const char *s) {
  if (!s) return 0;
  size_t i = 0;
  for (; i <= WIRE_ID_HEX && s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return i == WIRE_ID_HEX && s[i] == 0;
}

/* ---- encoder ---- */

void wire_batch_enc_init(wire_batch_enc *e, size_t max_decoded) {
  memset(e, 0, sizeof *e);
  if (max_decoded == 0 || max_decoded > WIRE_MAX_DECODED) max_decoded = WIRE_MAX_DECODED;
  e->max_decoded = max_decoded;
}

void wire_batch_enc_free(wire_batch_enc *e) {
  if (!e) return;
  free(e->buf);
  e->buf = NULL;
  e->len = e->cap = 0;
  e->count = 0;
}

/* What each byte becomes in a JSON string: 0 copied as it is, 'u' for
 * \u00XX, else the letter after a backslash. The encoder copies the runs
 * between escapes with memcpy: escaping byte by byte was 4.7% of the
 * drain's CPU (docs/benchmarks.md, the drain profile). The bytes written are
 * exactly those of the byte-by-byte switch it replaced (test_wire). */
static const unsigned char json_escape[256] = {
    ['\0'] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u',
    [0x06] = 'u', [0x07] = 'u', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', [0x0b] = 'u',
    ['\f'] = 'f', ['\r'] = 'r', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u',
    [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u',
    [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
    [0x1e] = 'u', [0x1f] = 'u', ['"'] = '"', ['\\'] = '\\'};

/* The first i' >= i with u[i'] to be escaped, or n. Eight bytes at a time:
 * the usual has-a-zero-byte test on x - 0x20.. (a control byte), on
 * x ^ '"'.. and on x ^ '\\'.. marks the escapes of a word. Its lowest mark
 * is always a true one (a false mark needs a borrow from a true one below
 * it), so on a little-endian machine it is the position; elsewhere the word
 * is finished byte by byte from the table, which decides in either case. */
static size_t plain_run(const unsigned char *u, size_t i, size_t n) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  while (n - i >= 8) {
    uint64_t x, q, b, mark;
    memcpy(&x, u + i, 8);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    mark = (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
    if (mark) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      return i + (size_t)__builtin_ctzll(mark) / 8;
#else
      break;
#endif
    }
    i += 8;
  }
  while (i < n && !json_escape[u[i]]) i++;
  return i;
}

/* Writes s[0..n) as a quoted JSON string at dst (room for 6n+2 bytes);
 * returns the bytes written. */
static size_t escape_json(char *dst, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0, i = 0;
  dst[o++] = '"';
  while (i < n) {
    size_t run = plain_run(u, i, n);
    memcpy(dst + o, s + i, run - i);
    o += run - i;
    if (run == n) break;
    unsigned char c = u[run], e = json_escape[c];
    i = run + 1;
    dst[o++] = '\\';
    if (e == 'u') {
      memcpy(dst + o, "u00", 3);
      o += 3;
      dst[o++] = hex[c >> 4];
      dst[o++] = hex[c & 15];
    } else {
      dst[o++] = (char)e;
    }
  }
  dst[o++] = '"';
  return o;
}

/* An int64 in decimal, as printf's PRId64 writes it (snprintf was 1.3% of
 * the drain's CPU), two digits a division; returns the bytes written (at
 * most 20). */
static size_t put_i64(char *dst, int64_t v) {
  static const char pairs[] = /* "00" "01" ... "99" */
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char digits[20];
  size_t p = sizeof digits, o = 0;
  uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  while (m >= 100) {
    size_t k = (size_t)(m % 100) * 2;
    m /= 100;
    digits[--p] = pairs[k + 1];
    digits[--p] = pairs[k];
  }
  if (m >= 10) {
    digits[--p] = pairs[m * 2 + 1];
    digits[--p] = pairs[m * 2];
  } else {
    digits[--p] = (char)('0' + m);
  }
  if (v < 0) dst[o++] = '-';
  memcpy(dst + o, digits + p, sizeof digits - p);
  return o + sizeof digits - p;
}

int wire_batch_enc_add(wire_batch_enc *e, const wire_record *r) {
  if (!e || !r || !r->source || !r->line) return WIRE_EINVAL;
  if (r->seq < 1 || r->seq > WIRE_SAFE_INT || r->ts_ms < -WIRE_SAFE_INT ||
      r->ts_ms > WIRE_SAFE_INT)
    return WIRE_EINVAL;
  if (e->count > 0 && r->seq != e->last_seq + 1) return WIRE_EINVAL;
  if (memchr(r->source, 0, r->source_len) || memchr(r->line, 0, r->line_len)) return WIRE_EINVAL;
  /* Records the cloud would refuse never enter a batch. With count == 0 the
   * caller learns the record can never be sent as it is. */
  if (r->source_len > WIRE_MAX_SOURCE || r->line_len > WIRE_MAX_LINE) return WIRE_ETOOBIG;
  if (e->count >= WIRE_MAX_RECORDS) return WIRE_ETOOBIG;

  /* Worst case: every byte becomes \u00XX (6 bytes), plus the fixed text. */
  size_t need = 6 * (r->source_len + r->line_len) + 128;
  if (e->len + need > e->cap) {
    size_t ncap = e->cap ? e->cap : 4096;
    while (ncap < e->len + need) ncap *= 2;
    char *nb = realloc(e->buf, ncap);
    if (!nb) return WIRE_ENOMEM;
    e->buf = nb;
    e->cap = ncap;
  }
  size_t o = e->len;
  memcpy(e->buf + o, "{\"seq\":", 7);
  o += 7;
  o += put_i64(e->buf + o, r->seq);
  memcpy(e->buf + o, ",\"ts\":", 6);
  o += 6;
  o += put_i64(e->buf + o, r->ts_ms);
  memcpy(e->buf + o, ",\"source\":", 10);
  o += 10;
  o += escape_json(e->buf + o, r->source, r->source_len);
  memcpy(e->buf + o, ",\"line\":", 8);
  o += 8;
  o += escape_json(e->buf + o, r->line, r->line_len);
  e->buf[o++] = '}';
  e->buf[o++] = '\n';
  if (o > e->max_decoded) return WIRE_ETOOBIG; /* e->len untouched: batch unchanged */
  e->len = o;
  if (e->count == 0) e->first_seq = r->seq;
  e->last_seq = r->seq;
  e->count++;
  return WIRE_OK;
}

struct wire_zctx {
  ZSTD_CCtx *c; /* made at the first batch encoded */
  ZSTD_DCtx *d; /* made at the first batch decoded */
};

wire_zctx *wire_zctx_new(void) { return calloc(1, sizeof(wire_zctx)); }

void wire_zctx_free(wire_zctx *z) {
  if (!z) return;
  ZSTD_freeCCtx(z->c);
  ZSTD_freeDCtx(z->d);
  free(z);
}

int wire_batch_enc_finish(wire_batch_enc *e, int zstd_level, uint8_t **out, size_t *out_len) {
  return wire_batch_enc_finish_z(e, NULL, zstd_level, out, out_len);
}

int wire_batch_enc_finish_z(wire_batch_enc *e, wire_zctx *z, int zstd_level, uint8_t **out,
                            size_t *out_len) {
  if (!e || !out || !out_len || e->count == 0) return WIRE_EINVAL;
  size_t bound = ZSTD_compressBound(e->len);
  uint8_t *dst = malloc(bound);
  if (!dst) return WIRE_ENOMEM;
  ZSTD_CCtx *own = NULL, *c = z ? z->c : NULL;
  if (z && !c) c = z->c = ZSTD_createCCtx();
  if (!c) c = own = ZSTD_createCCtx();
  if (!c) {
    free(dst);
    return WIRE_ENOMEM;
  }
  /* ZSTD_compressCCtx starts every frame afresh: the same bytes as
   * ZSTD_compress, whatever the context compressed before. */
  size_t n = ZSTD_compressCCtx(c, dst, bound, e->buf, e->len, zstd_level);
  ZSTD_freeCCtx(own);
  if (ZSTD_isError(n)) {
    free(dst);
    return WIRE_EINVAL;
  }
  if (n > WIRE_MAX_BODY) { /* incompressible data: caller must use smaller batches */
    free(dst);
    return WIRE_ETOOBIG;
  }
  *out = dst;
  *out_len = n;
  return WIRE_OK;
}

/* ---- decoder ---- */

static void set_err(char *err, size_t cap, const char *fmt, ...) {
  if (!err || cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

/* Decompresses exactly one zstd frame into *out (malloc'd, NUL-terminated),
 * never holding more than WIRE_MAX_DECODED bytes of output whatever the frame
 * header claims. */
static int decompress_bounded(wire_zctx *z, const uint8_t *body, size_t body_len, char **out,
                              size_t *out_len, char *err, size_t err_cap) {
  unsigned long long declared = ZSTD_getFrameContentSize(body, body_len);
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    set_err(err, err_cap, "body is not a zstd frame");
    return WIRE_EENCODING;
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > WIRE_MAX_DECODED) {
    set_err(err, err_cap, "frame declares %llu decoded bytes, limit is %u", declared,
            WIRE_MAX_DECODED);
    return WIRE_ETOOBIG;
  }
  /* A declared size is only a hint for the first allocation: frames may lie. */
  size_t cap = declared != ZSTD_CONTENTSIZE_UNKNOWN ? (size_t)declared + 1 : body_len * 4 + 1024;
  if (cap > WIRE_MAX_DECODED + 1) cap = WIRE_MAX_DECODED + 1;
  if (cap < 64) cap = 64;
  char *buf = malloc(cap);
  ZSTD_DCtx *own = NULL, *d = z ? z->d : NULL;
  if (z && !d) d = z->d = ZSTD_createDCtx();
  if (!d) d = own = ZSTD_createDCtx();
  int rc = WIRE_OK;
  if (!buf || !d) {
    set_err(err, err_cap, "out of memory");
    rc = WIRE_ENOMEM;
    goto done;
  }
  /* A kept context may hold a failed frame's state: start clean. Window
   * beyond the decoded limit is never needed; refuse bigger ones instead of
   * allocating for them. */
  ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
  ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 24);

  ZSTD_inBuffer in = {body, body_len, 0};
  size_t len = 0, last = 1;
  /* Each call either consumes input or fills output, which is bounded. */
  for (unsigned iter = 0; iter < (1u << 24); iter++) {
    if (len == cap - 1) { /* keep one byte for the NUL */
      if (cap - 1 >= WIRE_MAX_DECODED) {
        set_err(err, err_cap, "decoded batch exceeds %u bytes", WIRE_MAX_DECODED);
        rc = WIRE_ETOOBIG;
        goto done;
      }
      size_t ncap = cap * 2;
      if (ncap > WIRE_MAX_DECODED + 1) ncap = WIRE_MAX_DECODED + 1;
      char *nb = realloc(buf, ncap);
      if (!nb) {
        set_err(err, err_cap, "out of memory");
        rc = WIRE_ENOMEM;
        goto done;
      }
      buf = nb;
      cap = ncap;
    }
    ZSTD_outBuffer ob = {buf, cap - 1, len};
    last = ZSTD_decompressStream(d, &ob, &in);
    len = ob.pos;
    if (ZSTD_isError(last)) {
      set_err(err, err_cap, "zstd: %s", ZSTD_getErrorName(last));
      rc = WIRE_EENCODING;
      goto done;
    }
    if (last == 0) break; /* frame complete */
    if (in.pos == in.size && ob.pos < ob.size) break; /* needs input we do not have */
  }
  if (last != 0) {
    set_err(err, err_cap, "zstd frame is truncated");
    rc = WIRE_EENCODING;
    goto done;
  }
  if (in.pos != in.size) {
    set_err(err, err_cap, "%zu bytes after the zstd frame", in.size - in.pos);
    rc = WIRE_EENCODING;
    goto done;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  buf = NULL;
done:
  free(buf);
  ZSTD_freeDCtx(own);
  return rc;
}

/* Reads an integral JSON number within the safe range. */
static int get_int(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v)) return 0;
  double x = v->valuedouble;
  if (!(x >= -(double)WIRE_SAFE_INT && x <= (double)WIRE_SAFE_INT)) return 0;
  int64_t i = (int64_t)x;
  if ((double)i != x) return 0;
  *out = i;
  return 1;
}

/* Validates one NDJSON line; fills r with pointers into the cJSON tree. */
static int check_line(const cJSON *obj, size_t lineno, int64_t expect_seq, wire_record *r,
                      char *err, size_t err_cap) {
  const cJSON *seq = NULL, *ts = NULL, *source = NULL, *line = NULL;
  if (!cJSON_IsObject(obj)) {
    set_err(err, err_cap, "line %zu: not a JSON object", lineno);
    return WIRE_EBATCH;
  }
  for (const cJSON *f = obj->child; f; f = f->next) {
    const cJSON **slot = NULL;
    if (!f->string) slot = NULL;
    else if (strcmp(f->string, "seq") == 0) slot = &seq;
    else if (strcmp(f->string, "ts") == 0) slot = &ts;
    else if (strcmp(f->string, "source") == 0) slot = &source;
    else if (strcmp(f->string, "line") == 0) slot = &line;
    if (!slot) {
      set_err(err, err_cap, "line %zu: unexpected field \"%.64s\"", lineno,
              f->string ? f->string : "");
      return WIRE_EBATCH;
    }
    if (*slot) {
      set_err(err, err_cap, "line %zu: field \"%s\" appears twice", lineno, f->string);
      return WIRE_EBATCH;
    }
    *slot = f;
  }
  static const char *const names[4] = {"seq", "ts", "source", "line"};
  const cJSON *all[4] = {seq, ts, source, line};
  for (int i = 0; i < 4; i++) {
    if (!all[i]) {
      set_err(err, err_cap, "line %zu: missing field \"%s\"", lineno, names[i]);
      return WIRE_EBATCH;
    }
  }
  if (!get_int(seq, &r->seq)) {
    set_err(err, err_cap, "line %zu: field \"seq\" is not an integer", lineno);
    return WIRE_EBATCH;
  }
  if (!get_int(ts, &r->ts_ms)) {
    set_err(err, err_cap, "line %zu: field \"ts\" is not an integer", lineno);
    return WIRE_EBATCH;
  }
  if (!cJSON_IsString(source) || !source->valuestring) {
    set_err(err, err_cap, "line %zu: field \"source\" is not a string", lineno);
    return WIRE_EBATCH;
  }
  if (!cJSON_IsString(line) || !line->valuestring) {
    set_err(err, err_cap, "line %zu: field \"line\" is not a string", lineno);
    return WIRE_EBATCH;
  }
  if (r->seq != expect_seq) {
    set_err(err, err_cap, "line %zu: field \"seq\" is %" PRId64 ", expected %" PRId64, lineno,
            r->seq, expect_seq);
    return WIRE_EBATCH;
  }
  r->source = source->valuestring;
  r->source_len = strlen(r->source);
  r->line = line->valuestring;
  r->line_len = strlen(r->line);
  if (r->source_len > WIRE_MAX_SOURCE) {
    set_err(err, err_cap, "line %zu: source is %zu bytes, limit %u", lineno, r->source_len,
            (unsigned)WIRE_MAX_SOURCE);
    return WIRE_ETOOBIG;
  }
  if (r->line_len > WIRE_MAX_LINE) {
    set_err(err, err_cap, "line %zu: line is %zu bytes, limit %u", lineno, r->line_len,
            (unsigned)WIRE_MAX_LINE);
    return WIRE_ETOOBIG;
  }
  return WIRE_OK;
}

int wire_batch_decode(const uint8_t *body, size_t body_len, int64_t first_seq, int64_t last_seq,
                      wire_record_fn on_record, void *user, char *err, size_t err_cap) {
  return wire_batch_decode_z(NULL, body, body_len, first_seq, last_seq, on_record, user, err, err_cap);
}

int wire_batch_decode_z(wire_zctx *z, const uint8_t *body, size_t body_len, int64_t first_seq,
                        int64_t last_seq, wire_record_fn on_record, void *user, char *err,
                        size_t err_cap) {
  if (err && err_cap) err[0] = '\0';
  if ((!body && body_len) || !on_record) {
    set_err(err, err_cap, "bad argument");
    return WIRE_EINVAL;
  }
  if (body_len > WIRE_MAX_BODY) {
    set_err(err, err_cap, "body is %zu bytes, limit %u", body_len, WIRE_MAX_BODY);
    return WIRE_ETOOBIG;
  }
  if (first_seq < 1 || last_seq < first_seq || last_seq > WIRE_SAFE_INT) {
    set_err(err, err_cap, "bad sequence range %" PRId64 "..%" PRId64, first_seq, last_seq);
    return WIRE_EBATCH;
  }
  if (last_seq - first_seq + 1 > WIRE_MAX_RECORDS) {
    set_err(err, err_cap, "%" PRId64 " records, limit %d", last_seq - first_seq + 1,
            WIRE_MAX_RECORDS);
    return WIRE_ETOOBIG;
  }
  if (body_len == 0) {
    set_err(err, err_cap, "empty body");
    return WIRE_EENCODING;
  }
  size_t n = (size_t)(last_seq - first_seq + 1);

  char *text = NULL;
  size_t text_len = 0;
  int rc = decompress_bounded(z, body, body_len, &text, &text_len, err, err_cap);
  if (rc != WIRE_OK) return rc;

  cJSON **trees = calloc(n, sizeof *trees);
  wire_record *recs = calloc(n, sizeof *recs);
  size_t got = 0;
  if (!trees || !recs) {
    set_err(err, err_cap, "out of memory");
    rc = WIRE_ENOMEM;
    goto done;
  }
  if (memchr(text, 0, text_len)) {
    set_err(err, err_cap, "batch contains a NUL byte");
    rc = WIRE_EBATCH;
    goto done;
  }

  /* Pass 1: parse and check everything, keeping the trees for pass 2. */
  size_t pos = 0;
  while (pos < text_len) {
    size_t lineno = got + 1;
    const char *start = text + pos;
    const char *nl = memchr(start, '\n', text_len - pos);
    size_t llen = nl ? (size_t)(nl - start) : text_len - pos;
    pos += llen + (nl ? 1 : 0);
    if (llen == 0) {
      set_err(err, err_cap, "line %zu: empty line", lineno);
      rc = WIRE_EBATCH;
      goto done;
    }
    if (got == n) {
      set_err(err, err_cap, "line %zu: more records than %" PRId64 "..%" PRId64 " holds", lineno,
              first_seq, last_seq);
      rc = WIRE_EBATCH;
      goto done;
    }
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(start, llen, &end, 0);
    if (!obj) {
      set_err(err, err_cap, "line %zu: malformed JSON", lineno);
      rc = WIRE_EBATCH;
      goto done;
    }
    trees[got] = obj;
    if (end != start + llen) { /* cJSON stops after the value: refuse trailing text */
      set_err(err, err_cap, "line %zu: text after the JSON object", lineno);
      rc = WIRE_EBATCH;
      got++;
      goto done;
    }
    got++;
    rc = check_line(obj, lineno, first_seq + (int64_t)(got - 1), &recs[got - 1], err, err_cap);
    if (rc != WIRE_OK) goto done;
  }
  if (got != n) {
    set_err(err, err_cap, "batch has %zu records, headers say %zu (%" PRId64 "..%" PRId64 ")",
            got, n, first_seq, last_seq);
    rc = WIRE_EBATCH;
    goto done;
  }

  /* Pass 2: the whole batch is valid; report it. */
  for (size_t i = 0; i < n; i++) {
    rc = on_record(user, &recs[i]);
    if (rc != 0) goto done;
  }
  rc = WIRE_OK;
done:
  if (trees)
    for (size_t i = 0; i < got; i++) cJSON_Delete(trees[i]);
  free(trees);
  free(recs);
  free(text);
  return rc;
}
