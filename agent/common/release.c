/* release.c - release statement, .sig files and versions (see release.h). */
#include "common/release.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>

#include "common/canon.h"

#define HEX_SHA_LEN (2 * CRYPTO_SHA256_LEN)
/* The statement is small; anything near this is not ours. */
#define STATEMENT_MAX 1024

static int fail(char *err, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int code, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* One field: 1..6 digits, no leading zero unless it is "0". Returns the
 * number of characters consumed, 0 on error. */
static size_t version_field(const char *s, uint32_t *out) {
  size_t n = 0;
  uint32_t v = 0;
  while (s[n] >= '0' && s[n] <= '9') {
    if (n == 6) return 0;
    v = v * 10 + (uint32_t)(s[n] - '0');
    n++;
  }
  if (n == 0 || (n > 1 && s[0] == '0')) return 0;
  *out = v;
  return n;
}

int release_version_parse(const char *s, release_version *out) {
  release_version v;
  size_t n;
  if (!s || !out) return RELEASE_EVERSION;
  if (!(n = version_field(s, &v.major)) || s[n] != '.') return RELEASE_EVERSION;
  s += n + 1;
  if (!(n = version_field(s, &v.minor)) || s[n] != '.') return RELEASE_EVERSION;
  s += n + 1;
  if (!(n = version_field(s, &v.patch)) || s[n] != 0) return RELEASE_EVERSION;
  *out = v;
  return RELEASE_OK;
}

static int cmp_u32(uint32_t a, uint32_t b) { return a < b ? -1 : a > b ? 1 : 0; }

int release_version_cmp(const release_version *a, const release_version *b) {
  int c = cmp_u32(a->major, b->major);
  if (!c) c = cmp_u32(a->minor, b->minor);
  if (!c) c = cmp_u32(a->patch, b->patch);
  return c;
}

int release_version_cmp_str(const char *a, const char *b, int *cmp) {
  release_version va, vb;
  if (release_version_parse(a, &va) != RELEASE_OK || release_version_parse(b, &vb) != RELEASE_OK ||
      !cmp)
    return RELEASE_EVERSION;
  *cmp = release_version_cmp(&va, &vb);
  return RELEASE_OK;
}

const char *release_host_arch(void) {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#elif defined(__i386__)
  return "i686";
#elif defined(__arm__)
  return "armv7l";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

int release_key_load(const void *key, size_t len, uint8_t *der, size_t cap, size_t *der_len) {
  static const char pem_tag[] = "-----BEGIN";
  if (!key || len == 0) return RELEASE_ENOKEY;
  if (!der || !der_len || cap < CRYPTO_PUB_DER_MAX || len > RELEASE_SIG_FILE_MAX)
    return RELEASE_EINVAL;
  /* mbedTLS reads PEM only from a NUL-terminated buffer whose length counts
   * the NUL. */
  unsigned char *buf = malloc(len + 1);
  if (!buf) return RELEASE_ENOMEM;
  memcpy(buf, key, len);
  buf[len] = 0;
  int is_pem = len >= sizeof pem_tag - 1 && memcmp(buf, pem_tag, sizeof pem_tag - 1) == 0;
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  int rc = RELEASE_EKEY;
  if (mbedtls_pk_parse_public_key(&pk, buf, is_pem ? len + 1 : len) == 0 &&
      mbedtls_pk_get_type(&pk) == MBEDTLS_PK_ECKEY &&
      mbedtls_pk_ec(pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1) {
    unsigned char tmp[CRYPTO_PUB_DER_MAX + 64];
    int n = mbedtls_pk_write_pubkey_der(&pk, tmp, sizeof tmp);
    if (n > 0 && (size_t)n <= cap) {
      memcpy(der, tmp + sizeof tmp - (size_t)n, (size_t)n);
      *der_len = (size_t)n;
      rc = RELEASE_OK;
    }
  }
  mbedtls_pk_free(&pk);
  free(buf);
  return rc;
}

void release_keyid(const uint8_t *pub_der, size_t pub_len, char out[HEX_SHA_LEN + 1]) {
  uint8_t d[CRYPTO_SHA256_LEN];
  crypto_sha256(pub_der, pub_len, d);
  crypto_hex(d, sizeof d, out);
}

static int is_lower_hex(const char *s, size_t want) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
  return want ? n == want : n > 0 && n % 2 == 0;
}

static int arch_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
      return 0;
  return n > 0 && n < RELEASE_ARCH_MAX;
}

static int check_statement(const release_statement *st, char *err, size_t cap) {
  release_version v;
  if (!arch_ok(st->arch))
    return fail(err, cap, RELEASE_EFIELD, "signed.arch: must be 1..%d of [a-z0-9_]",
                RELEASE_ARCH_MAX - 1);
  if (st->length < 0 || st->length > RELEASE_LENGTH_MAX)
    return fail(err, cap, RELEASE_EFIELD, "signed.length: must be an integer 0..2^53");
  if (!is_lower_hex(st->sha256, HEX_SHA_LEN))
    return fail(err, cap, RELEASE_EFIELD, "signed.sha256: must be 64 lower-case hex digits");
  if (release_version_parse(st->version, &v) != RELEASE_OK)
    return fail(err, cap, RELEASE_EVERSION,
                "signed.version: must be MAJOR.MINOR.PATCH (0..999999, no leading zeros)");
  return RELEASE_OK;
}

static cJSON *statement_json(const release_statement *st) {
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "arch", st->arch) ||
      !cJSON_AddNumberToObject(o, "length", (double)st->length) ||
      !cJSON_AddStringToObject(o, "name", RELEASE_NAME) ||
      !cJSON_AddStringToObject(o, "sha256", st->sha256) ||
      !cJSON_AddStringToObject(o, "version", st->version)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static int encode_tree(const cJSON *signed_obj, char **out, size_t *out_len, char *err,
                       size_t cap) {
  int rc = canon_encode(signed_obj, STATEMENT_MAX, out, out_len);
  if (rc == CANON_OK) return RELEASE_OK;
  if (rc == CANON_ENOMEM) return fail(err, cap, RELEASE_ENOMEM, "signed: out of memory");
  if (rc == CANON_EDUPKEY) return fail(err, cap, RELEASE_EJSON, "signed: duplicate key");
  return fail(err, cap, RELEASE_EFIELD, "signed: cannot be canonically encoded (%s)",
              canon_strerror(rc));
}

int release_statement_encode(const release_statement *st, char **out, size_t *out_len, char *err,
                             size_t err_cap) {
  if (!out || !out_len) return fail(err, err_cap, RELEASE_EINVAL, "release: NULL argument");
  *out = NULL;
  if (!st) return fail(err, err_cap, RELEASE_EINVAL, "release: NULL argument");
  int rc = check_statement(st, err, err_cap);
  if (rc != RELEASE_OK) return rc;
  cJSON *o = statement_json(st);
  if (!o) return fail(err, err_cap, RELEASE_ENOMEM, "signed: out of memory");
  rc = encode_tree(o, out, out_len, err, err_cap);
  cJSON_Delete(o);
  return rc;
}

int release_sign(const release_statement *st, const uint8_t *key_der, size_t key_len,
                 crypto_rng_fn rng, void *rng_ctx, char **out, size_t *out_len, char *err,
                 size_t err_cap) {
  char *canon = NULL, *text = NULL;
  size_t canon_len = 0;
  uint8_t pub[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX];
  size_t pub_len = 0, sig_len = 0;
  char keyid[HEX_SHA_LEN + 1], sighex[2 * CRYPTO_SIG_MAX + 1];
  cJSON *o = NULL;
  if (!out || !out_len || !key_der)
    return fail(err, err_cap, RELEASE_EINVAL, "release: NULL argument");
  *out = NULL;
  int rc = release_statement_encode(st, &canon, &canon_len, err, err_cap);
  if (rc != RELEASE_OK) return rc;
  if (crypto_ec_public_from_private(key_der, key_len, pub, sizeof pub, &pub_len) != CRYPTO_OK ||
      crypto_ec_sign(key_der, key_len, canon, canon_len, rng, rng_ctx, sig, sizeof sig,
                     &sig_len) != CRYPTO_OK) {
    rc = fail(err, err_cap, RELEASE_ECRYPTO, "sig: signing failed");
    goto out;
  }
  release_keyid(pub, pub_len, keyid);
  crypto_hex(sig, sig_len, sighex);
  rc = fail(err, err_cap, RELEASE_ENOMEM, "release: out of memory");
  o = cJSON_CreateObject();
  cJSON *s = o ? statement_json(st) : NULL;
  if (!s) goto out;
  cJSON_AddItemToObject(o, "signed", s);
  if (!cJSON_AddStringToObject(o, "keyid", keyid) || !cJSON_AddStringToObject(o, "sig", sighex))
    goto out;
  text = cJSON_PrintUnformatted(o);
  if (!text) goto out;
  *out_len = strlen(text);
  *out = strdup(text);
  rc = *out ? RELEASE_OK : RELEASE_ENOMEM;
out:
  cJSON_free(text);
  cJSON_Delete(o);
  free(canon);
  return rc;
}

/* Copies a string member of the statement into dst; names the field. */
static int get_str(const cJSON *obj, const char *key, char *dst, size_t cap, char *err,
                   size_t err_cap) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it) return fail(err, err_cap, RELEASE_EFIELD, "signed.%s: missing", key);
  if (!cJSON_IsString(it)) return fail(err, err_cap, RELEASE_EFIELD, "signed.%s: not a string", key);
  size_t n = strlen(it->valuestring);
  if (n >= cap) return fail(err, err_cap, RELEASE_EFIELD, "signed.%s: too long", key);
  memcpy(dst, it->valuestring, n + 1);
  return RELEASE_OK;
}

/* Reads the statement's members (exactly the five) into st. */
static int parse_statement(const cJSON *s, release_statement *st, char *err, size_t cap) {
  char name[sizeof RELEASE_NAME + 1];
  const cJSON *it;
  int rc;
  cJSON_ArrayForEach(it, s) {
    if (strcmp(it->string, "arch") != 0 && strcmp(it->string, "length") != 0 &&
        strcmp(it->string, "name") != 0 && strcmp(it->string, "sha256") != 0 &&
        strcmp(it->string, "version") != 0)
      return fail(err, cap, RELEASE_EFIELD, "signed.%.40s: unknown key", it->string);
  }
  if ((rc = get_str(s, "arch", st->arch, sizeof st->arch, err, cap)) != RELEASE_OK ||
      (rc = get_str(s, "sha256", st->sha256, sizeof st->sha256, err, cap)) != RELEASE_OK ||
      (rc = get_str(s, "version", st->version, sizeof st->version, err, cap)) != RELEASE_OK)
    return rc;
  if ((rc = get_str(s, "name", name, sizeof name, err, cap)) != RELEASE_OK) {
    if (rc == RELEASE_EFIELD && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(s, "name")))
      return fail(err, cap, RELEASE_ENAME, "signed.name: must be \"%s\"", RELEASE_NAME);
    return rc;
  }
  if (strcmp(name, RELEASE_NAME) != 0)
    return fail(err, cap, RELEASE_ENAME, "signed.name: must be \"%s\"", RELEASE_NAME);
  it = cJSON_GetObjectItemCaseSensitive(s, "length");
  if (!it) return fail(err, cap, RELEASE_EFIELD, "signed.length: missing");
  double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
  if (!(d >= 0 && d <= (double)RELEASE_LENGTH_MAX) || d != (double)(int64_t)d)
    return fail(err, cap, RELEASE_EFIELD, "signed.length: must be an integer 0..2^53");
  st->length = (int64_t)d;
  return check_statement(st, err, cap);
}

static int hex_val(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Checks the .sig file's shape and returns its three members. */
static int parse_sig_file(const cJSON *root, const cJSON **signed_obj, const char **keyid,
                          const char **sig, char *err, size_t cap) {
  const cJSON *it;
  int seen_s = 0, seen_k = 0, seen_g = 0;
  if (!cJSON_IsObject(root)) return fail(err, cap, RELEASE_EJSON, "sig file: not a JSON object");
  cJSON_ArrayForEach(it, root) {
    int *seen = strcmp(it->string, "signed") == 0  ? &seen_s
                : strcmp(it->string, "keyid") == 0 ? &seen_k
                : strcmp(it->string, "sig") == 0   ? &seen_g
                                                   : NULL;
    if (!seen) return fail(err, cap, RELEASE_EJSON, "%.40s: unknown key", it->string);
    if ((*seen)++) return fail(err, cap, RELEASE_EJSON, "%s: duplicate key", it->string);
  }
  *signed_obj = cJSON_GetObjectItemCaseSensitive(root, "signed");
  it = cJSON_GetObjectItemCaseSensitive(root, "keyid");
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "sig");
  if (!*signed_obj) return fail(err, cap, RELEASE_EFIELD, "signed: missing");
  if (!cJSON_IsObject(*signed_obj)) return fail(err, cap, RELEASE_EFIELD, "signed: not an object");
  if (!it) return fail(err, cap, RELEASE_EFIELD, "keyid: missing");
  if (!cJSON_IsString(it) || !is_lower_hex(it->valuestring, HEX_SHA_LEN))
    return fail(err, cap, RELEASE_EFIELD, "keyid: must be 64 lower-case hex digits");
  if (!g) return fail(err, cap, RELEASE_EFIELD, "sig: missing");
  if (!cJSON_IsString(g) || !is_lower_hex(g->valuestring, 0) ||
      strlen(g->valuestring) > 2 * CRYPTO_SIG_MAX)
    return fail(err, cap, RELEASE_EFIELD, "sig: must be lower-case hex of at most %d bytes",
                CRYPTO_SIG_MAX);
  *keyid = it->valuestring;
  *sig = g->valuestring;
  return RELEASE_OK;
}

int release_verify(const release_expect *exp, const char *sig_file, size_t sig_len,
                   release_statement *out, char *err, size_t err_cap) {
  const cJSON *signed_obj = NULL;
  const char *keyid = NULL, *sighex = NULL, *end = NULL;
  char *canon = NULL, want_id[HEX_SHA_LEN + 1], bin_hex[HEX_SHA_LEN + 1];
  size_t canon_len = 0;
  uint8_t sig[CRYPTO_SIG_MAX];
  release_statement st;
  int rc;
  if (err && err_cap) err[0] = 0;
  if (!exp || (!sig_file && sig_len))
    return fail(err, err_cap, RELEASE_EINVAL, "release: NULL argument");
  if (!exp->pub_der || exp->pub_len == 0)
    return fail(err, err_cap, RELEASE_ENOKEY, "no release key compiled in: updates refused");
  if (!exp->arch || !exp->version)
    return fail(err, err_cap, RELEASE_EINVAL, "release: NULL argument");
  if (sig_len > RELEASE_SIG_FILE_MAX)
    return fail(err, err_cap, RELEASE_ETOOBIG, "sig file: larger than %d bytes",
                RELEASE_SIG_FILE_MAX);
  memset(&st, 0, sizeof st);
  cJSON *root = sig_len ? cJSON_ParseWithLengthOpts(sig_file, sig_len, &end, 0) : NULL;
  if (!root) return fail(err, err_cap, RELEASE_EJSON, "sig file: not valid JSON");
  for (; end && end < sig_file + sig_len; end++) {
    if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t') {
      rc = fail(err, err_cap, RELEASE_EJSON, "sig file: bytes after the JSON value");
      goto out;
    }
  }
  if ((rc = parse_sig_file(root, &signed_obj, &keyid, &sighex, err, err_cap)) != RELEASE_OK)
    goto out;
  /* Shape first (names the field), then the canonical bytes the key signed. */
  if ((rc = parse_statement(signed_obj, &st, err, err_cap)) != RELEASE_OK) goto out;
  if ((rc = encode_tree(signed_obj, &canon, &canon_len, err, err_cap)) != RELEASE_OK) goto out;
  release_keyid(exp->pub_der, exp->pub_len, want_id);
  if (!keyid || !sighex || strcmp(keyid, want_id) != 0) {
    rc = fail(err, err_cap, RELEASE_EKEYID, "keyid: not the release key (%.16s...)", want_id);
    goto out;
  }
  size_t n = strlen(sighex) / 2;
  for (size_t i = 0; i < n; i++) {
    int hi = hex_val(sighex[2 * i]), lo = hex_val(sighex[2 * i + 1]);
    if (hi < 0 || lo < 0 || i >= sizeof sig) { /* parse_sig_file already refused these */
      rc = fail(err, err_cap, RELEASE_EFIELD, "sig: must be lower-case hex");
      goto out;
    }
    sig[i] = (uint8_t)((unsigned)hi << 4 | (unsigned)lo);
  }
  int crc = crypto_ec_verify(exp->pub_der, exp->pub_len, canon, canon_len, sig, n);
  if (crc != CRYPTO_OK) {
    rc = fail(err, err_cap, crc == CRYPTO_EVERIFY || crc == CRYPTO_EINVAL ? RELEASE_ESIG : RELEASE_EKEY,
              "sig: does not verify against the release key");
    goto out;
  }
  if (strcmp(st.arch, exp->arch) != 0) {
    rc = fail(err, err_cap, RELEASE_EARCH, "signed.arch: \"%s\" is not this host's \"%.31s\"",
              st.arch, exp->arch);
    goto out;
  }
  if (st.length != exp->length) {
    rc = fail(err, err_cap, RELEASE_ELENGTH, "signed.length: %lld, the binary has %lld bytes",
              (long long)st.length, (long long)exp->length);
    goto out;
  }
  crypto_hex(exp->sha256, CRYPTO_SHA256_LEN, bin_hex);
  if (!crypto_equal(st.sha256, bin_hex, HEX_SHA_LEN)) {
    rc = fail(err, err_cap, RELEASE_ESHA256, "signed.sha256: does not match the binary");
    goto out;
  }
  if (strcmp(st.version, exp->version) != 0) {
    rc = fail(err, err_cap, RELEASE_EVERSIONMISMATCH,
              "signed.version: \"%s\", the target claims \"%.23s\"", st.version, exp->version);
    goto out;
  }
  if (out) *out = st;
  rc = RELEASE_OK;
out:
  free(canon);
  cJSON_Delete(root);
  return rc;
}

const char *release_strerror(int code) {
  switch (code) {
  case RELEASE_OK: return "ok";
  case RELEASE_EINVAL: return "invalid argument";
  case RELEASE_ENOMEM: return "out of memory";
  case RELEASE_ETOOBIG: return "signature file too large";
  case RELEASE_EJSON: return "signature file is not the expected JSON object";
  case RELEASE_EFIELD: return "malformed field";
  case RELEASE_EVERSION: return "malformed version";
  case RELEASE_EKEY: return "unusable release key";
  case RELEASE_ENOKEY: return "no release key compiled in: updates refused";
  case RELEASE_EKEYID: return "signed by another key";
  case RELEASE_ESIG: return "signature does not verify";
  case RELEASE_ENAME: return "wrong name";
  case RELEASE_EARCH: return "wrong architecture";
  case RELEASE_ELENGTH: return "wrong length";
  case RELEASE_ESHA256: return "wrong sha256";
  case RELEASE_EVERSIONMISMATCH: return "version differs from the one claimed";
  case RELEASE_ECRYPTO: return "signing failed";
  default: return "unknown error";
  }
}
