#include "core/tuf.h"

#include <stdarg.h>
#include <stdio.h> /* snprintf family only */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/md.h>

#include "common/canon.h"
#include "common/crypto.h"

enum { K_ROOT, K_TIMESTAMP, K_SNAPSHOT, K_TARGETS };
static const char *const kind_name[] = {"root", "timestamp", "snapshot", "targets"};

#define MAX_SIGS 256     /* signatures per document */
#define MAX_KEYIDS 256   /* keyids per role */
#define SEARCH_STACK 1024

typedef struct tuf_md {
  int kind;
  char name[TUF_MAX_ROLE_NAME + 1];
  char delegator[TUF_MAX_ROLE_NAME + 1];
  cJSON *doc;
  const cJSON *sgn; /* doc.signed */
  int64_t version;
  int64_t expires_ms;
} tuf_md;

struct tuf_set {
  tuf_limits lim;
  int64_t now_ms;
  tuf_md *root, *timestamp, *snapshot;
  tuf_md *targets[TUF_MAX_LOADED]; /* "targets" (delegator "root") and delegated roles */
  size_t n_targets;
  int root_steps;
  unsigned rotated;
  char err[512];
};

static void fail_msg(tuf_set *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_msg(tuf_set *s, const char *fmt, ...) {
  if (s) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
  }
}

/* A macro, not a variadic function, so the code is visible at every call
 * site: static analysers do not follow variadic calls and would otherwise
 * assume a failure path can return TUF_OK. */
#define fail(s, code, ...) (fail_msg((s), __VA_ARGS__), (code))

static void md_free(tuf_md *m) {
  if (!m) return;
  cJSON_Delete(m->doc);
  free(m);
}

void tuf_limits_default(tuf_limits *l) {
  l->root = 512u * 1024;
  l->timestamp = 16u * 1024;
  l->snapshot = 2u * 1024 * 1024;
  l->targets = 5u * 1024 * 1024;
}

/* ---- field helpers: each names the role and field in the error ---- */

static int get_int(tuf_set *s, const cJSON *o, const char *key, const char *ctx, int64_t min,
                   int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v)) return fail(s, TUF_EFORMAT, "%s: %s: missing or not a number", ctx, key);
  double d = v->valuedouble;
  if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || (double)(int64_t)d != d)
    return fail(s, TUF_EFORMAT, "%s: %s: not an integer", ctx, key);
  if ((int64_t)d < min) return fail(s, TUF_EFORMAT, "%s: %s: below %lld", ctx, key, (long long)min);
  *out = (int64_t)d;
  return TUF_OK;
}

static int get_str(tuf_set *s, const cJSON *o, const char *key, const char *ctx, const char **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v) || !v->valuestring)
    return fail(s, TUF_EFORMAT, "%s: %s: missing or not a string", ctx, key);
  *out = v->valuestring;
  return TUF_OK;
}

static int get_obj(tuf_set *s, const cJSON *o, const char *key, const char *ctx, const cJSON **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsObject(v)) return fail(s, TUF_EFORMAT, "%s: %s: missing or not an object", ctx, key);
  *out = v;
  return TUF_OK;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SSZ", the only form the spec allows. */
static int parse_expires(const char *t, int64_t *ms) {
  static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
  if (strlen(t) != sizeof shape - 1) return -1;
  for (size_t i = 0; i < sizeof shape - 1; i++) {
    if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i]) return -1;
  }
  int64_t y = 0, v[5];
  for (int i = 0; i < 4; i++) y = y * 10 + (t[i] - '0');
  const int pos[5] = {5, 8, 11, 14, 17};
  for (int i = 0; i < 5; i++) v[i] = (t[pos[i]] - '0') * 10 + (t[pos[i] + 1] - '0');
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > mdays[v[0] - 1] || v[2] > 23 || v[3] > 59 ||
      v[4] > 59)
    return -1;
  if (v[0] == 2 && v[1] == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
  *ms = ((days_from_civil(y, v[0], v[1]) * 86400) + v[2] * 3600 + v[3] * 60 + v[4]) * 1000;
  return 0;
}

static int check_spec_version(const char *v) {
  /* "1.x" or "1.x.y", digits only: the client speaks spec major version 1. */
  int parts = 0;
  const char *p = v;
  int64_t major = -1;
  while (*p) {
    int64_t n = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits++ > 9) return -1;
      n = n * 10 + (*p++ - '0');
    }
    if (!digits) return -1;
    if (parts == 0) major = n;
    parts++;
    if (*p == '.') {
      p++;
      if (!*p) return -1;
    } else if (*p) {
      return -1;
    }
  }
  return (parts == 2 || parts == 3) && major == 1 ? 0 : -1;
}

/* keyids: array of unique strings. */
static int check_keyids(tuf_set *s, const cJSON *role, const char *ctx) {
  const cJSON *ids = cJSON_GetObjectItemCaseSensitive(role, "keyids");
  if (!cJSON_IsArray(ids)) return fail(s, TUF_EFORMAT, "%s: keyids: missing or not an array", ctx);
  int n = cJSON_GetArraySize(ids);
  if (n > MAX_KEYIDS) return fail(s, TUF_EFORMAT, "%s: keyids: more than %d", ctx, MAX_KEYIDS);
  for (const cJSON *a = ids->child; a; a = a->next) {
    if (!cJSON_IsString(a)) return fail(s, TUF_EFORMAT, "%s: keyids: not a string", ctx);
    for (const cJSON *b = ids->child; b != a; b = b->next)
      if (strcmp(a->valuestring, b->valuestring) == 0)
        return fail(s, TUF_EFORMAT, "%s: keyids: duplicate %s", ctx, a->valuestring);
  }
  int64_t th;
  return get_int(s, role, "threshold", ctx, 1, &th);
}

static int check_keys(tuf_set *s, const cJSON *keys, const char *ctx) {
  char c[TUF_MAX_ROLE_NAME + 64];
  for (const cJSON *k = keys->child; k; k = k->next) {
    snprintf(c, sizeof c, "%s: keys[%.64s]", ctx, k->string);
    if (!cJSON_IsObject(k)) return fail(s, TUF_EFORMAT, "%s: not an object", c);
    const char *str;
    const cJSON *kv;
    int rc = get_str(s, k, "keytype", c, &str);
    if (rc == TUF_OK) rc = get_str(s, k, "scheme", c, &str);
    if (rc == TUF_OK) rc = get_obj(s, k, "keyval", c, &kv);
    if (rc == TUF_OK) rc = get_str(s, kv, "public", c, &str);
    if (rc != TUF_OK) return rc;
  }
  return TUF_OK;
}

static int check_hashes(tuf_set *s, const cJSON *o, const char *ctx, int required) {
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hashes");
  if (!h) return required ? fail(s, TUF_EFORMAT, "%s: hashes: missing", ctx) : TUF_OK;
  if (!cJSON_IsObject(h) || !h->child)
    return fail(s, TUF_EFORMAT, "%s: hashes: not a non-empty object", ctx);
  int n = 0;
  for (const cJSON *e = h->child; e; e = e->next) {
    if (!cJSON_IsString(e)) return fail(s, TUF_EFORMAT, "%s: hashes.%.32s: not a string", ctx, e->string);
    if (++n > TUF_MAX_HASHES) return fail(s, TUF_EFORMAT, "%s: hashes: more than %d", ctx, TUF_MAX_HASHES);
  }
  return TUF_OK;
}

static int check_metafile(tuf_set *s, const cJSON *m, const char *ctx) {
  int64_t v;
  if (!cJSON_IsObject(m)) return fail(s, TUF_EFORMAT, "%s: not an object", ctx);
  int rc = get_int(s, m, "version", ctx, 1, &v);
  if (rc == TUF_OK && cJSON_GetObjectItemCaseSensitive(m, "length"))
    rc = get_int(s, m, "length", ctx, 0, &v);
  if (rc == TUF_OK) rc = check_hashes(s, m, ctx, 0);
  return rc;
}

static int check_root(tuf_set *s, const cJSON *sg) {
  const cJSON *keys, *roles, *cs = cJSON_GetObjectItemCaseSensitive(sg, "consistent_snapshot");
  if (cs && !cJSON_IsBool(cs)) return fail(s, TUF_EFORMAT, "root: consistent_snapshot: not a boolean");
  int rc = get_obj(s, sg, "keys", "root", &keys);
  if (rc == TUF_OK) rc = check_keys(s, keys, "root");
  if (rc == TUF_OK) rc = get_obj(s, sg, "roles", "root", &roles);
  if (rc != TUF_OK) return rc;
  int n = 0;
  for (const cJSON *r = roles->child; r; r = r->next) {
    int known = 0;
    for (int k = 0; k < 4; k++) known |= strcmp(r->string, kind_name[k]) == 0;
    if (!known) return fail(s, TUF_EFORMAT, "root: roles: unknown role %.64s", r->string);
    n++;
  }
  for (int k = 0; k < 4; k++) {
    const cJSON *r;
    char c[64];
    snprintf(c, sizeof c, "root: roles.%s", kind_name[k]);
    if ((rc = get_obj(s, roles, kind_name[k], "root: roles", &r)) != TUF_OK) return rc;
    if ((rc = check_keyids(s, r, c)) != TUF_OK) return rc;
  }
  if (n != 4) return fail(s, TUF_EFORMAT, "root: roles: duplicate role");
  return TUF_OK;
}

static int check_timestamp(tuf_set *s, const cJSON *sg) {
  const cJSON *meta = NULL;
  int rc = get_obj(s, sg, "meta", "timestamp", &meta);
  if (rc != TUF_OK) return rc;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(meta, "snapshot.json");
  if (!m) return fail(s, TUF_EFORMAT, "timestamp: meta: no snapshot.json");
  return check_metafile(s, m, "timestamp: meta.snapshot.json");
}

static int check_snapshot(tuf_set *s, const cJSON *sg) {
  const cJSON *meta = NULL;
  int rc = get_obj(s, sg, "meta", "snapshot", &meta);
  char c[TUF_MAX_ROLE_NAME + 64];
  for (const cJSON *m = meta ? meta->child : NULL; rc == TUF_OK && m; m = m->next) {
    snprintf(c, sizeof c, "snapshot: meta[%.256s]", m->string);
    rc = check_metafile(s, m, c);
  }
  return rc;
}

static int check_delegations(tuf_set *s, const cJSON *d, const char *who) {
  char c[2 * TUF_MAX_ROLE_NAME + 64];
  if (!cJSON_IsObject(d)) return fail(s, TUF_EFORMAT, "%s: delegations: not an object", who);
  if (cJSON_GetObjectItemCaseSensitive(d, "succinct_roles"))
    return fail(s, TUF_EFORMAT, "%s: delegations.succinct_roles: not supported", who);
  const cJSON *keys, *roles = cJSON_GetObjectItemCaseSensitive(d, "roles");
  snprintf(c, sizeof c, "%s: delegations", who);
  int rc = get_obj(s, d, "keys", c, &keys);
  if (rc == TUF_OK) rc = check_keys(s, keys, c);
  if (rc != TUF_OK) return rc;
  if (!cJSON_IsArray(roles)) return fail(s, TUF_EFORMAT, "%s: roles: missing or not an array", c);
  int i = 0;
  for (const cJSON *r = roles->child; r; r = r->next, i++) {
    snprintf(c, sizeof c, "%s: delegations.roles[%d]", who, i);
    if (!cJSON_IsObject(r)) return fail(s, TUF_EFORMAT, "%s: not an object", c);
    const char *name;
    if ((rc = get_str(s, r, "name", c, &name)) != TUF_OK) return rc;
    if (strlen(name) > TUF_MAX_ROLE_NAME) return fail(s, TUF_EFORMAT, "%s: name: too long", c);
    if (strcmp(name, "root") == 0 || strcmp(name, "timestamp") == 0 ||
        strcmp(name, "snapshot") == 0 || strcmp(name, "targets") == 0)
      return fail(s, TUF_EFORMAT, "%s: name: a top-level role name", c);
    for (const cJSON *o = roles->child; o != r; o = o->next) {
      const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "name");
      if (strcmp(on->valuestring, name) == 0) return fail(s, TUF_EFORMAT, "%s: name: duplicate %.256s", c, name);
    }
    if ((rc = check_keyids(s, r, c)) != TUF_OK) return rc;
    if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(r, "terminating")))
      return fail(s, TUF_EFORMAT, "%s: terminating: missing or not a boolean", c);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "paths");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(r, "path_hash_prefixes");
    if ((p == NULL) == (h == NULL))
      return fail(s, TUF_EFORMAT, "%s: exactly one of paths and path_hash_prefixes is required", c);
    const cJSON *arr = p ? p : h;
    if (!cJSON_IsArray(arr)) return fail(s, TUF_EFORMAT, "%s: %s: not an array", c, p ? "paths" : "path_hash_prefixes");
    for (const cJSON *e = arr->child; e; e = e->next)
      if (!cJSON_IsString(e)) return fail(s, TUF_EFORMAT, "%s: %s: not a string", c, p ? "paths" : "path_hash_prefixes");
  }
  return TUF_OK;
}

static int check_targets(tuf_set *s, const cJSON *sg, const char *who) {
  const cJSON *t = NULL;
  char c[TUF_MAX_ROLE_NAME + TUF_MAX_TARGET_PATH + 64];
  int rc = get_obj(s, sg, "targets", who, &t);
  for (const cJSON *e = t ? t->child : NULL; rc == TUF_OK && e; e = e->next) {
    snprintf(c, sizeof c, "%s: targets[%.256s]", who, e->string);
    int64_t len;
    if (!cJSON_IsObject(e)) return fail(s, TUF_EFORMAT, "%s: not an object", c);
    if (strlen(e->string) > TUF_MAX_TARGET_PATH) return fail(s, TUF_EFORMAT, "%s: path too long", c);
    rc = get_int(s, e, "length", c, 0, &len);
    if (rc == TUF_OK) rc = check_hashes(s, e, c, 1);
  }
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(sg, "delegations");
  if (rc == TUF_OK && d && !cJSON_IsNull(d)) rc = check_delegations(s, d, who);
  return rc;
}

/* ---- signatures ---- */

static int hex_decode(const char *h, uint8_t *out, size_t cap, size_t *len) {
  size_t n = strlen(h);
  if (n % 2 || n / 2 > cap) return -1;
  for (size_t i = 0; i < n; i++) {
    char ch = h[i];
    int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
          : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
    if (v < 0) return -1;
    if (i % 2 == 0) out[i / 2] = (uint8_t)(v << 4);
    else out[i / 2] |= (uint8_t)v;
  }
  *len = n / 2;
  return 0;
}

/* 1 when sig_hex is a valid signature over msg by key (a keys[] entry).
 * Every scheme is verified by libcrypto (crypto_pem_verify,
 * crypto_ed25519_verify); the release signature, the update's second chain,
 * by mbedTLS (docs/tuf.md). ed25519 signs msg itself (RFC 8032 pure
 * Ed25519, as securesystemslib does); the others sign SHA-256(msg). */
static int verify_one(const cJSON *key, const char *sig_hex, const char *msg, size_t msg_len) {
  const char *type = cJSON_GetObjectItemCaseSensitive(key, "keytype")->valuestring;
  const char *scheme = cJSON_GetObjectItemCaseSensitive(key, "scheme")->valuestring;
  const char *pub = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(key, "keyval"), "public")->valuestring;
  int ec = strcmp(scheme, "ecdsa-sha2-nistp256") == 0 &&
           (strcmp(type, "ecdsa") == 0 || strcmp(type, "ecdsa-sha2-nistp256") == 0);
  int pss = strcmp(type, "rsa") == 0 && strcmp(scheme, "rsassa-pss-sha256") == 0;
  int v15 = strcmp(type, "rsa") == 0 && strcmp(scheme, "rsa-pkcs1v15-sha256") == 0;
  int ed = strcmp(type, "ed25519") == 0 && strcmp(scheme, "ed25519") == 0;
  if (!ec && !pss && !v15 && !ed) return 0; /* unsupported scheme: never counts */
  uint8_t sig[1024];
  size_t sig_len;
  if (hex_decode(sig_hex, sig, sizeof sig, &sig_len) != 0 || sig_len == 0) return 0;
  if (ed) {
    /* keyval.public is the raw key as hex (not PEM). A wrong size is a key
     * that does not verify: crypto_ed25519_verify checks 32 / 64 bytes. */
    uint8_t raw[CRYPTO_ED25519_PUB_LEN];
    size_t raw_len;
    if (hex_decode(pub, raw, sizeof raw, &raw_len) != 0) return 0;
    return crypto_ed25519_verify(raw, raw_len, msg, msg_len, sig, sig_len) == CRYPTO_OK;
  }
  crypto_scheme cs = ec    ? CRYPTO_SCHEME_ECDSA_P256_SHA256
                     : pss ? CRYPTO_SCHEME_RSA_PSS_SHA256
                           : CRYPTO_SCHEME_RSA_PKCS1V15_SHA256;
  return crypto_pem_verify(pub, strlen(pub), cs, msg, msg_len, sig, sig_len) == CRYPTO_OK;
}

/* Verifies md's signatures against role (keyids + threshold) with keys. */
static int verify_role(tuf_set *s, const cJSON *keys, const cJSON *role, const tuf_md *md,
                       const char *role_name) {
  char *canon = NULL;
  size_t clen;
  int crc = canon_encode(md->sgn, SIZE_MAX / 2, &canon, &clen);
  if (crc != CANON_OK)
    return fail(s, crc == CANON_ENOMEM ? TUF_ENOMEM : TUF_EFORMAT, "%.256s: signed: %s", role_name,
                canon_strerror(crc));
  const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(md->doc, "signatures");
  int64_t threshold = (int64_t)cJSON_GetObjectItemCaseSensitive(role, "threshold")->valuedouble;
  int64_t good = 0;
  const cJSON *ids = cJSON_GetObjectItemCaseSensitive(role, "keyids");
  /* keyids are unique (checked) and signature keyids are unique (checked):
   * each key counts at most once. */
  for (const cJSON *id = ids->child; id && good < threshold; id = id->next) {
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(keys, id->valuestring);
    if (!key) continue;
    for (const cJSON *sg = sigs->child; sg; sg = sg->next) {
      const char *kid = cJSON_GetObjectItemCaseSensitive(sg, "keyid")->valuestring;
      if (strcmp(kid, id->valuestring) != 0) continue;
      if (verify_one(key, cJSON_GetObjectItemCaseSensitive(sg, "sig")->valuestring, canon, clen))
        good++;
      break;
    }
  }
  free(canon);
  if (good < threshold)
    return fail(s, TUF_ESIG, "%.256s: %lld of %lld required signatures verify", role_name,
                (long long)good, (long long)threshold);
  return TUF_OK;
}

/* ---- loading ---- */

static size_t kind_limit(const tuf_set *s, int kind) {
  switch (kind) {
  case K_ROOT: return s->lim.root;
  case K_TIMESTAMP: return s->lim.timestamp;
  case K_SNAPSHOT: return s->lim.snapshot;
  default: return s->lim.targets;
  }
}

/* Refuses what cJSON accepts but JSON (RFC 8259) and python-tuf do not:
 * numbers with a fraction, an exponent or a leading zero ("1.0", "1E0",
 * "1e3", "01") and raw control characters (bytes < 0x20) inside strings.
 * Both matter for signatures: cJSON reads "1.0" as 1 and canon.c writes a
 * raw control character as is, so without this a document another client
 * refuses would verify here under the same signature. Runs on text cJSON
 * already parsed (so strings and escapes are well formed); one pass, no
 * backtracking. */
static int check_json_text(tuf_set *s, const char *p, size_t n, const char *name) {
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (in_str) {
      if (c == '\\')
        i++; /* the escaped byte cannot end the string; \uXXXX digits are plain */
      else if (c == '"')
        in_str = 0;
      else if (c < 0x20)
        return fail(s, TUF_EFORMAT, "%.256s: raw control character 0x%02x in a string at byte %zu", name, c, i);
      continue;
    }
    if (c == '"') {
      in_str = 1;
      continue;
    }
    if (c != '-' && !(c >= '0' && c <= '9')) continue;
    size_t start = i, digits;
    if (c == '-') i++;
    digits = i;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    if ((i < n && (p[i] == '.' || p[i] == 'e' || p[i] == 'E')) || (i - digits > 1 && p[digits] == '0')) {
      while (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == 'e' || p[i] == 'E' ||
                       p[i] == '+' || p[i] == '-'))
        i++;
      return fail(s, TUF_EFORMAT, "%.256s: number \"%.*s\" at byte %zu is not a plain integer", name,
                  (int)(i - start > 32 ? 32 : i - start), p + start, start);
    }
    i--; /* p[i] is not part of the number: look at it again */
  }
  return TUF_OK;
}

/* Parses and checks the shape of one document; no signature check. */
static int md_parse(tuf_set *s, const uint8_t *data, size_t len, int kind, const char *name,
                    tuf_md **out) {
  *out = NULL;
  if (!data && len) return fail(s, TUF_EINVAL, "%.256s: no data", name);
  if (len > kind_limit(s, kind))
    return fail(s, TUF_ETOOBIG, "%.256s: %zu bytes is over the limit of %zu", name, len, kind_limit(s, kind));
  tuf_md *m = calloc(1, sizeof *m);
  if (!m) return fail(s, TUF_ENOMEM, "out of memory");
  m->kind = kind;
  snprintf(m->name, sizeof m->name, "%s", name);
  const char *end = NULL;
  m->doc = cJSON_ParseWithLengthOpts((const char *)data, len, &end, 0);
  int rc = TUF_OK;
  if (!m->doc) {
    rc = fail(s, TUF_EFORMAT, "%.256s: not valid JSON", name);
    goto bad;
  }
  for (; end && end < (const char *)data + len; end++) {
    if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t') {
      rc = fail(s, TUF_EFORMAT, "%.256s: data after the JSON document", name);
      goto bad;
    }
  }
  /* After the check above, data holds the document and whitespace only. */
  if ((rc = check_json_text(s, (const char *)data, len, name)) != TUF_OK) goto bad;
  if (!cJSON_IsObject(m->doc)) {
    rc = fail(s, TUF_EFORMAT, "%.256s: not a JSON object", name);
    goto bad;
  }
  if ((rc = get_obj(s, m->doc, "signed", name, &m->sgn)) != TUF_OK) goto bad;
  const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(m->doc, "signatures");
  if (!cJSON_IsArray(sigs)) {
    rc = fail(s, TUF_EFORMAT, "%.256s: signatures: missing or not an array", name);
    goto bad;
  }
  int n = 0;
  for (const cJSON *g = sigs->child; g; g = g->next) {
    const char *kid, *sig;
    if (++n > MAX_SIGS || !cJSON_IsObject(g) || get_str(s, g, "keyid", name, &kid) != TUF_OK ||
        get_str(s, g, "sig", name, &sig) != TUF_OK) {
      rc = fail(s, TUF_EFORMAT, "%.256s: signatures[%d]: not {keyid, sig} strings", name, n - 1);
      goto bad;
    }
    for (const cJSON *o = sigs->child; o != g; o = o->next) {
      if (strcmp(cJSON_GetObjectItemCaseSensitive(o, "keyid")->valuestring, kid) == 0) {
        rc = fail(s, TUF_EFORMAT, "%.256s: signatures: keyid %.80s appears twice", name, kid);
        goto bad;
      }
    }
  }
  const char *type, *spec, *exp;
  if ((rc = get_str(s, m->sgn, "_type", name, &type)) != TUF_OK) goto bad;
  if (strcmp(type, kind_name[kind]) != 0) {
    rc = fail(s, TUF_ETYPE, "%.256s: _type is \"%.32s\", expected \"%s\"", name, type, kind_name[kind]);
    goto bad;
  }
  if ((rc = get_str(s, m->sgn, "spec_version", name, &spec)) != TUF_OK) goto bad;
  if (check_spec_version(spec) != 0) {
    rc = fail(s, TUF_EFORMAT, "%.256s: spec_version: \"%.32s\" is not 1.x", name, spec);
    goto bad;
  }
  if ((rc = get_int(s, m->sgn, "version", name, 1, &m->version)) != TUF_OK) goto bad;
  if ((rc = get_str(s, m->sgn, "expires", name, &exp)) != TUF_OK) goto bad;
  if (parse_expires(exp, &m->expires_ms) != 0) {
    rc = fail(s, TUF_EFORMAT, "%.256s: expires: \"%.32s\" is not YYYY-MM-DDTHH:MM:SSZ", name, exp);
    goto bad;
  }
  switch (kind) {
  case K_ROOT: rc = check_root(s, m->sgn); break;
  case K_TIMESTAMP: rc = check_timestamp(s, m->sgn); break;
  case K_SNAPSHOT: rc = check_snapshot(s, m->sgn); break;
  default: rc = check_targets(s, m->sgn, name); break;
  }
  if (rc != TUF_OK) goto bad;
  *out = m;
  return TUF_OK;
bad:
  md_free(m);
  return rc;
}

static int expired(const tuf_set *s, const tuf_md *m) { return s->now_ms >= m->expires_ms; }

static const cJSON *root_role(const tuf_md *root, const char *role) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root->sgn, "roles"), role);
}

static int verify_by_root(tuf_set *s, const tuf_md *root, const tuf_md *m, const char *role) {
  return verify_role(s, cJSON_GetObjectItemCaseSensitive(root->sgn, "keys"), root_role(root, role), m, role);
}

int tuf_open(const uint8_t *root, size_t len, int64_t now_wall_ms, const tuf_limits *limits,
             tuf_set **out, char *err, size_t err_cap) {
  if (err && err_cap) err[0] = 0;
  if (!out) return TUF_EINVAL;
  *out = NULL;
  tuf_set *s = calloc(1, sizeof *s);
  if (!s) {
    if (err && err_cap) snprintf(err, err_cap, "out of memory");
    return TUF_ENOMEM;
  }
  if (limits) s->lim = *limits;
  else tuf_limits_default(&s->lim);
  s->now_ms = now_wall_ms;
  tuf_md *m;
  int rc = md_parse(s, root, len, K_ROOT, "root", &m);
  if (rc == TUF_OK) {
    rc = verify_by_root(s, m, m, "root");
    if (rc != TUF_OK) md_free(m);
  }
  if (rc != TUF_OK) {
    if (err && err_cap) snprintf(err, err_cap, "%s", s->err);
    free(s);
    return rc;
  }
  s->root = m;
  *out = s;
  return TUF_OK;
}

void tuf_close(tuf_set *s) {
  if (!s) return;
  md_free(s->root);
  md_free(s->timestamp);
  md_free(s->snapshot);
  for (size_t i = 0; i < s->n_targets; i++) md_free(s->targets[i]);
  free(s);
}

const char *tuf_error(const tuf_set *s) { return s ? s->err : ""; }

/* 1 when a key of role a is no longer a key of role b: a key was revoked,
 * which is when local metadata signed by it must stop counting. */
static int role_revoked_key(const cJSON *a, const cJSON *b) {
  const cJSON *ia = cJSON_GetObjectItemCaseSensitive(a, "keyids");
  const cJSON *ib = cJSON_GetObjectItemCaseSensitive(b, "keyids");
  for (const cJSON *x = ia->child; x; x = x->next) {
    int found = 0;
    for (const cJSON *y = ib->child; y && !found; y = y->next) found = strcmp(x->valuestring, y->valuestring) == 0;
    if (!found) return 1;
  }
  return 0;
}

int tuf_update_root(tuf_set *s, const uint8_t *data, size_t len) {
  if (!s) return TUF_EINVAL;
  if (s->timestamp) return fail(s, TUF_EORDER, "root: cannot update root after timestamp");
  if (s->root_steps >= TUF_MAX_ROOT_STEPS)
    return fail(s, TUF_ELIMIT, "root: more than %d root updates", TUF_MAX_ROOT_STEPS);
  tuf_md *m;
  int rc = md_parse(s, data, len, K_ROOT, "root", &m);
  if (rc != TUF_OK) return rc;
  if ((rc = verify_by_root(s, s->root, m, "root")) != TUF_OK) {
    char why[sizeof s->err];
    snprintf(why, sizeof why, "%s", s->err);
    (void)fail(s, rc, "new root v%lld against trusted root v%lld: %s", (long long)m->version,
         (long long)s->root->version, why);
    goto bad;
  }
  if (m->version != s->root->version + 1) {
    rc = fail(s, TUF_EVERSION, "root: expected version %lld, got %lld", (long long)s->root->version + 1,
              (long long)m->version);
    goto bad;
  }
  if ((rc = verify_by_root(s, m, m, "root")) != TUF_OK) goto bad;
  if (role_revoked_key(root_role(s->root, "timestamp"), root_role(m, "timestamp"))) s->rotated |= TUF_ROLE_TIMESTAMP;
  if (role_revoked_key(root_role(s->root, "snapshot"), root_role(m, "snapshot"))) s->rotated |= TUF_ROLE_SNAPSHOT;
  md_free(s->root);
  s->root = m;
  s->root_steps++;
  return TUF_OK;
bad:
  md_free(m);
  return rc;
}

static const cJSON *snapshot_meta(const tuf_md *ts) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ts->sgn, "meta"), "snapshot.json");
}

static int64_t meta_version(const cJSON *mf) {
  return (int64_t)cJSON_GetObjectItemCaseSensitive(mf, "version")->valuedouble;
}

int tuf_update_timestamp(tuf_set *s, const uint8_t *data, size_t len) {
  if (!s) return TUF_EINVAL;
  if (s->snapshot) return fail(s, TUF_EORDER, "timestamp: cannot update timestamp after snapshot");
  if (expired(s, s->root)) return fail(s, TUF_EEXPIRED, "root v%lld is expired", (long long)s->root->version);
  tuf_md *m;
  int rc = md_parse(s, data, len, K_TIMESTAMP, "timestamp", &m);
  if (rc != TUF_OK) return rc;
  if ((rc = verify_by_root(s, s->root, m, "timestamp")) != TUF_OK) goto bad;
  if (s->timestamp) {
    if (m->version < s->timestamp->version) {
      rc = fail(s, TUF_EROLLBACK, "timestamp: version %lld is below trusted %lld", (long long)m->version,
                (long long)s->timestamp->version);
      goto bad;
    }
    if (m->version == s->timestamp->version) {
      rc = fail(s, TUF_EEQUAL, "timestamp: version %lld is the trusted one", (long long)m->version);
      goto bad;
    }
    int64_t ov = meta_version(snapshot_meta(s->timestamp)), nv = meta_version(snapshot_meta(m));
    if (nv < ov) {
      rc = fail(s, TUF_EROLLBACK, "timestamp: snapshot version %lld is below trusted %lld", (long long)nv,
                (long long)ov);
      goto bad;
    }
  }
  /* Kept even when expired: it still guards the next timestamp against rollback. */
  md_free(s->timestamp);
  s->timestamp = m;
  if (expired(s, m)) return fail(s, TUF_EEXPIRED, "timestamp v%lld is expired", (long long)m->version);
  return TUF_OK;
bad:
  md_free(m);
  return rc;
}

static int hash_alg(const char *name, mbedtls_md_type_t *t) {
  if (strcmp(name, "sha256") == 0) *t = MBEDTLS_MD_SHA256;
  else if (strcmp(name, "sha384") == 0) *t = MBEDTLS_MD_SHA384;
  else if (strcmp(name, "sha512") == 0) *t = MBEDTLS_MD_SHA512;
  else return -1;
  return 0;
}

/* 0 when data matches every hash in the object h; -1 otherwise. */
static int check_hash_obj(const cJSON *h, const uint8_t *data, size_t len, char *bad, size_t bad_cap) {
  for (const cJSON *e = h->child; e; e = e->next) {
    mbedtls_md_type_t t;
    if (hash_alg(e->string, &t) != 0) {
      snprintf(bad, bad_cap, "unsupported hash algorithm %.32s", e->string);
      return -1;
    }
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(t);
    uint8_t d[64];
    char hex[129];
    mbedtls_md(info, data, len, d);
    size_t n = mbedtls_md_get_size(info);
    for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    if (strcmp(hex, e->valuestring) != 0) {
      snprintf(bad, bad_cap, "%s mismatch", e->string);
      return -1;
    }
  }
  return 0;
}

/* Length and hashes of a meta entry (both optional in a meta entry). */
static int check_meta_bytes(tuf_set *s, const cJSON *mf, const uint8_t *data, size_t len, const char *name) {
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(mf, "length");
  if (l && (int64_t)l->valuedouble != (int64_t)len)
    return fail(s, TUF_EHASH, "%.256s: length %zu, expected %lld", name, len, (long long)l->valuedouble);
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(mf, "hashes");
  char why[96];
  if (h && check_hash_obj(h, data, len, why, sizeof why) != 0)
    return fail(s, TUF_EHASH, "%.256s: %s", name, why);
  return TUF_OK;
}

static int check_final_timestamp(tuf_set *s) {
  if (!s->timestamp) return fail(s, TUF_EORDER, "timestamp not loaded");
  if (expired(s, s->timestamp))
    return fail(s, TUF_EEXPIRED, "timestamp v%lld is expired", (long long)s->timestamp->version);
  return TUF_OK;
}

static int check_final_snapshot(tuf_set *s) {
  if (!s->snapshot) return fail(s, TUF_EORDER, "snapshot not loaded");
  if (expired(s, s->snapshot))
    return fail(s, TUF_EEXPIRED, "snapshot v%lld is expired", (long long)s->snapshot->version);
  int64_t want = meta_version(snapshot_meta(s->timestamp));
  if (s->snapshot->version != want)
    return fail(s, TUF_EVERSION, "snapshot: version %lld, timestamp says %lld", (long long)s->snapshot->version,
                (long long)want);
  return TUF_OK;
}

int tuf_update_snapshot(tuf_set *s, const uint8_t *data, size_t len, int trusted) {
  if (!s) return TUF_EINVAL;
  if (s->n_targets) return fail(s, TUF_EORDER, "snapshot: cannot update snapshot after targets");
  int rc = check_final_timestamp(s);
  if (rc != TUF_OK) return rc;
  if (!trusted && (rc = check_meta_bytes(s, snapshot_meta(s->timestamp), data, len, "snapshot")) != TUF_OK)
    return rc;
  tuf_md *m;
  if ((rc = md_parse(s, data, len, K_SNAPSHOT, "snapshot", &m)) != TUF_OK) return rc;
  if ((rc = verify_by_root(s, s->root, m, "snapshot")) != TUF_OK) goto bad;
  if (s->snapshot) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(m->sgn, "meta");
    for (const cJSON *o = cJSON_GetObjectItemCaseSensitive(s->snapshot->sgn, "meta")->child; o; o = o->next) {
      const cJSON *n = cJSON_GetObjectItemCaseSensitive(nm, o->string);
      if (!n) {
        rc = fail(s, TUF_EMISSING, "snapshot: v%lld drops %.256s", (long long)m->version, o->string);
        goto bad;
      }
      if (meta_version(n) < meta_version(o)) {
        rc = fail(s, TUF_EROLLBACK, "snapshot: %.256s version %lld is below trusted %lld", o->string,
                  (long long)meta_version(n), (long long)meta_version(o));
        goto bad;
      }
    }
  }
  /* Kept even if not final: it guards the next snapshot against rollback. */
  md_free(s->snapshot);
  s->snapshot = m;
  return check_final_snapshot(s);
bad:
  md_free(m);
  return rc;
}

static tuf_md *find_loaded(const tuf_set *s, const char *role, size_t *idx) {
  for (size_t i = 0; i < s->n_targets; i++) {
    if (strcmp(s->targets[i]->name, role) == 0) {
      if (idx) *idx = i;
      return s->targets[i];
    }
  }
  return NULL;
}

static const cJSON *find_delegation(const tuf_md *d, const char *role) {
  const cJSON *dl = cJSON_GetObjectItemCaseSensitive(d->sgn, "delegations");
  const cJSON *roles = cJSON_GetObjectItemCaseSensitive(dl, "roles");
  for (const cJSON *r = roles ? roles->child : NULL; r; r = r->next)
    if (strcmp(cJSON_GetObjectItemCaseSensitive(r, "name")->valuestring, role) == 0) return r;
  return NULL;
}

static char *meta_key(const char *role, char *buf, size_t cap) {
  snprintf(buf, cap, "%s.json", role);
  return buf;
}

int tuf_update_targets(tuf_set *s, const uint8_t *data, size_t len) {
  return tuf_update_delegated_targets(s, data, len, "targets", "root");
}

int tuf_update_delegated_targets(tuf_set *s, const uint8_t *data, size_t len, const char *role,
                                 const char *delegator) {
  if (!s || !role || !delegator) return TUF_EINVAL;
  if (strlen(role) > TUF_MAX_ROLE_NAME || strlen(delegator) > TUF_MAX_ROLE_NAME)
    return fail(s, TUF_EINVAL, "role name too long");
  int top = strcmp(role, "targets") == 0;
  if (top != (strcmp(delegator, "root") == 0))
    return fail(s, TUF_EINVAL, "%.256s: only targets is delegated by root", role);
  if (!s->snapshot) return fail(s, TUF_EORDER, "%.256s: snapshot not loaded", role);
  int rc = check_final_snapshot(s);
  if (rc != TUF_OK) return rc;
  const cJSON *keys, *drole;
  if (top) {
    keys = cJSON_GetObjectItemCaseSensitive(s->root->sgn, "keys");
    drole = root_role(s->root, "targets");
  } else {
    tuf_md *d = find_loaded(s, delegator, NULL);
    if (!d) return fail(s, TUF_EMISSING, "%.256s: delegator %.256s not loaded", role, delegator);
    drole = find_delegation(d, role);
    if (!drole) return fail(s, TUF_EMISSING, "%.256s: %.256s does not delegate to it", role, delegator);
    keys = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d->sgn, "delegations"), "keys");
  }
  char mk[TUF_MAX_ROLE_NAME + 8];
  const cJSON *mf = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s->snapshot->sgn, "meta"),
                                                     meta_key(role, mk, sizeof mk));
  if (!mf) return fail(s, TUF_EMISSING, "%.256s: not listed in snapshot", role);
  if ((rc = check_meta_bytes(s, mf, data, len, role)) != TUF_OK) return rc;
  tuf_md *m;
  if ((rc = md_parse(s, data, len, K_TARGETS, role, &m)) != TUF_OK) return rc;
  snprintf(m->delegator, sizeof m->delegator, "%s", delegator);
  if ((rc = verify_role(s, keys, drole, m, role)) != TUF_OK) goto bad;
  if (m->version != meta_version(mf)) {
    rc = fail(s, TUF_EVERSION, "%.256s: version %lld, snapshot says %lld", role, (long long)m->version,
              (long long)meta_version(mf));
    goto bad;
  }
  if (expired(s, m)) {
    rc = fail(s, TUF_EEXPIRED, "%.256s v%lld is expired", role, (long long)m->version);
    goto bad;
  }
  size_t idx;
  if (find_loaded(s, role, &idx)) {
    md_free(s->targets[idx]);
    s->targets[idx] = m;
  } else if (s->n_targets < TUF_MAX_LOADED) {
    s->targets[s->n_targets++] = m;
  } else {
    rc = fail(s, TUF_ELIMIT, "%.256s: more than %d targets roles loaded", role, TUF_MAX_LOADED);
    goto bad;
  }
  return TUF_OK;
bad:
  md_free(m);
  return rc;
}

int64_t tuf_root_version(const tuf_set *s) { return s ? s->root->version : 0; }

int tuf_consistent_snapshot(const tuf_set *s) {
  return s && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s->root->sgn, "consistent_snapshot"));
}

unsigned tuf_rotated(const tuf_set *s) { return s ? s->rotated : 0; }

int tuf_meta_for(tuf_set *s, const char *role, int64_t *version, size_t *max_len) {
  if (!s || !role || !version || !max_len) return TUF_EINVAL;
  const cJSON *mf;
  size_t limit;
  if (strcmp(role, "snapshot") == 0) {
    if (!s->timestamp) return fail(s, TUF_EORDER, "snapshot: timestamp not loaded");
    mf = snapshot_meta(s->timestamp);
    limit = s->lim.snapshot;
  } else {
    if (!s->snapshot) return fail(s, TUF_EORDER, "%.256s: snapshot not loaded", role);
    char mk[TUF_MAX_ROLE_NAME + 8];
    if (strlen(role) > TUF_MAX_ROLE_NAME) return fail(s, TUF_EINVAL, "role name too long");
    mf = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s->snapshot->sgn, "meta"),
                                          meta_key(role, mk, sizeof mk));
    if (!mf) return fail(s, TUF_EMISSING, "%.256s: not listed in snapshot", role);
    limit = s->lim.targets;
  }
  *version = meta_version(mf);
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(mf, "length");
  *max_len = l ? (size_t)l->valuedouble : limit;
  if (*max_len > limit) *max_len = limit;
  return TUF_OK;
}

/* ---- target search ---- */

/* fnmatch-like match of one path component (no '/' in either). */
static int glob_component(const char *p, const char *pe, const char *t, const char *te) {
  const char *star_p = NULL, *star_t = NULL;
  while (t < te) {
    if (p < pe && *p == '*') {
      star_p = ++p;
      star_t = t;
      continue;
    }
    if (p < pe) {
      int matched = 0, consumed = 0;
      if (*p == '?') {
        matched = 1;
        consumed = 1;
      } else if (*p == '[') {
        const char *q = p + 1;
        int neg = 0;
        if (q < pe && *q == '!') neg = 1, q++;
        const char *first = q;
        while (q < pe && (*q != ']' || q == first)) q++;
        if (q < pe) { /* a set [..] */
          int in = 0;
          for (const char *c = first; c < q; c++) {
            if (c + 2 < q && c[1] == '-') {
              if ((unsigned char)*t >= (unsigned char)c[0] && (unsigned char)*t <= (unsigned char)c[2]) in = 1;
              c += 2;
            } else if (*c == *t) {
              in = 1;
            }
          }
          matched = in != neg;
          consumed = (int)(q - p) + 1;
        } else { /* no closing bracket: a literal '[' */
          matched = *t == '[';
          consumed = 1;
        }
      } else {
        matched = *p == *t;
        consumed = 1;
      }
      if (matched) {
        p += consumed;
        t++;
        continue;
      }
    }
    if (!star_p) return 0;
    p = star_p;
    t = ++star_t;
  }
  while (p < pe && *p == '*') p++;
  return p == pe;
}

int tuf_path_match(const char *pattern, const char *path) {
  if (!pattern || !path) return 0;
  const char *p = pattern, *t = path;
  for (;;) {
    const char *pe = strchr(p, '/'), *te = strchr(t, '/');
    if (!pe) pe = p + strlen(p);
    if (!te) te = t + strlen(t);
    if (!glob_component(p, pe, t, te)) return 0;
    if (!*pe || !*te) return !*pe && !*te; /* same number of components */
    p = pe + 1;
    t = te + 1;
  }
}

static int role_matches(const cJSON *r, const char *path) {
  const cJSON *paths = cJSON_GetObjectItemCaseSensitive(r, "paths");
  if (paths) {
    for (const cJSON *e = paths->child; e; e = e->next)
      if (tuf_path_match(e->valuestring, path)) return 1;
    return 0;
  }
  uint8_t d[32];
  char hex[65];
  mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)path, strlen(path), d);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  for (const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "path_hash_prefixes")->child; e; e = e->next)
    if (strncmp(hex, e->valuestring, strlen(e->valuestring)) == 0 && strlen(e->valuestring) <= 64) return 1;
  return 0;
}

static void fill_target(tuf_target *out, const cJSON *e, const char *path, const char *role) {
  memset(out, 0, sizeof *out);
  snprintf(out->path, sizeof out->path, "%s", path);
  snprintf(out->role, sizeof out->role, "%s", role);
  out->length = (int64_t)cJSON_GetObjectItemCaseSensitive(e, "length")->valuedouble;
  for (const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "hashes")->child; h && out->n_hashes < TUF_MAX_HASHES;
       h = h->next) {
    snprintf(out->hashes[out->n_hashes].alg, sizeof out->hashes[0].alg, "%s", h->string);
    snprintf(out->hashes[out->n_hashes].hex, sizeof out->hashes[0].hex, "%s", h->valuestring);
    out->n_hashes++;
  }
}

int tuf_find_target(tuf_set *s, const char *path, tuf_target *out, char *need, char *need_delegator) {
  if (!s || !path || !out || !need || !need_delegator) return TUF_EINVAL;
  need[0] = need_delegator[0] = 0;
  if (strlen(path) > TUF_MAX_TARGET_PATH) return fail(s, TUF_EINVAL, "target path too long");
  if (!find_loaded(s, "targets", NULL)) return fail(s, TUF_EORDER, "targets not loaded");
  const char *stack_role[SEARCH_STACK], *stack_parent[SEARCH_STACK];
  const char *visited[TUF_MAX_DELEGATIONS + 1];
  size_t sp = 0, nv = 0;
  stack_role[sp] = "targets";
  stack_parent[sp++] = "root";
  while (sp > 0 && nv <= TUF_MAX_DELEGATIONS) {
    sp--;
    const char *role = stack_role[sp], *parent = stack_parent[sp];
    int seen = 0;
    for (size_t i = 0; i < nv && !seen; i++) seen = strcmp(visited[i], role) == 0;
    if (seen) continue;
    tuf_md *m = find_loaded(s, role, NULL);
    /* A role verified through another delegator proves nothing for this
     * path: it must be verified again against this delegation. */
    if (!m || strcmp(m->delegator, parent) != 0) {
      snprintf(need, TUF_MAX_ROLE_NAME + 1, "%s", role);
      snprintf(need_delegator, TUF_MAX_ROLE_NAME + 1, "%s", parent);
      return fail(s, TUF_ENEED, "%.256s (delegated by %.256s) must be loaded", role, parent);
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m->sgn, "targets"), path);
    if (e) {
      fill_target(out, e, path, m->name);
      return TUF_OK;
    }
    if (nv == TUF_MAX_DELEGATIONS) break;
    visited[nv++] = m->name;
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(m->sgn, "delegations");
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(dl, "roles");
    const cJSON *kids[SEARCH_STACK];
    size_t nk = 0;
    for (const cJSON *r = roles ? roles->child : NULL; r; r = r->next) {
      if (!role_matches(r, path)) continue;
      if (nk == SEARCH_STACK) return fail(s, TUF_ELIMIT, "%.256s: too many matching delegations", role);
      kids[nk++] = r;
      if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "terminating"))) {
        sp = 0; /* terminating: no backtracking to other roles */
        break;
      }
    }
    if (sp + nk > SEARCH_STACK) return fail(s, TUF_ELIMIT, "target search stack full");
    while (nk > 0) {
      nk--;
      stack_role[sp] = cJSON_GetObjectItemCaseSensitive(kids[nk], "name")->valuestring;
      stack_parent[sp++] = m->name;
    }
  }
  if (sp > 0) return fail(s, TUF_ELIMIT, "%.512s: search stopped after %d roles", path, TUF_MAX_DELEGATIONS);
  return fail(s, TUF_ENOTFOUND, "%.512s: no role lists this target", path);
}

int tuf_role_target_at(const tuf_set *s, const char *role, size_t index, tuf_target *out,
                       char *custom_version, size_t cap) {
  if (!s || !role || !out || (custom_version && cap == 0)) return TUF_EINVAL;
  if (custom_version) custom_version[0] = 0;
  const tuf_md *m = find_loaded(s, role, NULL);
  if (!m) return TUF_EMISSING;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(m->sgn, "targets");
  size_t i = 0;
  for (const cJSON *e = t ? t->child : NULL; e; e = e->next, i++) {
    if (i != index) continue;
    fill_target(out, e, e->string, m->name);
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "custom"), "version");
    if (custom_version && cJSON_IsString(cv)) snprintf(custom_version, cap, "%s", cv->valuestring);
    return TUF_OK;
  }
  return TUF_ENOTFOUND;
}

struct tuf_target_hasher {
  tuf_target t;
  uint64_t len;
  size_t n;
  mbedtls_md_context_t md[TUF_MAX_HASHES];
  size_t md_len[TUF_MAX_HASHES];
};

void tuf_target_hash_free(tuf_target_hasher *h) {
  if (!h) return;
  for (size_t i = 0; i < h->n; i++) mbedtls_md_free(&h->md[i]);
  free(h);
}

int tuf_target_hash_begin(tuf_set *s, const tuf_target *t, tuf_target_hasher **out) {
  if (!out) return TUF_EINVAL;
  *out = NULL;
  if (!t) return s ? fail(s, TUF_EINVAL, "no target") : TUF_EINVAL;
  if (t->n_hashes == 0) return s ? fail(s, TUF_EHASH, "%.512s: no hashes", t->path) : TUF_EHASH;
  tuf_target_hasher *h = calloc(1, sizeof *h);
  if (!h) return TUF_ENOMEM;
  h->t = *t;
  for (size_t i = 0; i < t->n_hashes && i < TUF_MAX_HASHES; i++) {
    mbedtls_md_type_t ty;
    if (hash_alg(t->hashes[i].alg, &ty) != 0) {
      tuf_target_hash_free(h);
      return s ? fail(s, TUF_EHASH, "%.512s: unsupported hash algorithm %s", t->path, t->hashes[i].alg)
               : TUF_EHASH;
    }
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(ty);
    mbedtls_md_init(&h->md[i]);
    h->n = i + 1;
    h->md_len[i] = mbedtls_md_get_size(info);
    if (mbedtls_md_setup(&h->md[i], info, 0) != 0 || mbedtls_md_starts(&h->md[i]) != 0) {
      tuf_target_hash_free(h);
      return TUF_ENOMEM;
    }
  }
  *out = h;
  return TUF_OK;
}

void tuf_target_hash_update(tuf_target_hasher *h, const uint8_t *data, size_t len) {
  if (!h || !len) return;
  h->len += len;
  for (size_t i = 0; i < h->n; i++) (void)mbedtls_md_update(&h->md[i], data, len);
}

int tuf_target_hash_finish(tuf_set *s, tuf_target_hasher *h) {
  if (!h) return s ? fail(s, TUF_EINVAL, "no target") : TUF_EINVAL;
  const tuf_target *t = &h->t;
  int rc = TUF_OK;
  if (t->length < 0 || (uint64_t)t->length != h->len) {
    rc = s ? fail(s, TUF_EHASH, "%.512s: length %llu, expected %lld", t->path, (unsigned long long)h->len,
                  (long long)t->length)
           : TUF_EHASH;
  }
  for (size_t i = 0; rc == TUF_OK && i < h->n; i++) {
    uint8_t d[64];
    char hex[129];
    size_t dl = h->md_len[i];
    if (mbedtls_md_finish(&h->md[i], d) != 0) dl = 0;
    hex[0] = 0;
    for (size_t j = 0; j < dl; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
    if (strcmp(hex, t->hashes[i].hex) != 0)
      rc = s ? fail(s, TUF_EHASH, "%.512s: %s mismatch", t->path, t->hashes[i].alg) : TUF_EHASH;
  }
  tuf_target_hash_free(h);
  return rc;
}

/* One piece: the whole file is the streamed check's only update. */
int tuf_verify_target(tuf_set *s, const uint8_t *data, size_t len, const tuf_target *t) {
  if (!t || (!data && len)) return s ? fail(s, TUF_EINVAL, "no target") : TUF_EINVAL;
  tuf_target_hasher *h;
  int rc = tuf_target_hash_begin(s, t, &h);
  if (rc != TUF_OK) return rc;
  tuf_target_hash_update(h, data, len);
  return tuf_target_hash_finish(s, h);
}

const char *tuf_strerror(int code) {
  switch (code) {
  case TUF_OK: return "ok";
  case TUF_ENOMEM: return "out of memory";
  case TUF_EINVAL: return "invalid argument";
  case TUF_EORDER: return "out of workflow order";
  case TUF_ETOOBIG: return "too large";
  case TUF_EFORMAT: return "malformed metadata";
  case TUF_ETYPE: return "wrong metadata type";
  case TUF_ESIG: return "signature threshold not met";
  case TUF_EROLLBACK: return "version rollback";
  case TUF_EVERSION: return "version mismatch";
  case TUF_EEQUAL: return "same version as trusted";
  case TUF_EEXPIRED: return "expired";
  case TUF_EHASH: return "length or hash mismatch";
  case TUF_EMISSING: return "missing role";
  case TUF_ENOTFOUND: return "target not found";
  case TUF_ENEED: return "role must be loaded";
  case TUF_ELIMIT: return "limit reached";
  default: return "unknown error";
  }
}
