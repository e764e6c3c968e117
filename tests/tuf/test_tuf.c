/* Tests for agent/common/canon and agent/core/tuf. The test builds its own
 * small repository: ECDSA P-256 keys from mbedTLS, metadata as cJSON, signed
 * over our canonical JSON (a tiny signer; the cloud's comes later). Ed25519
 * and RSA keys and signatures come from OpenSSL's EVP API (issue 17). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <mbedtls/pk.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/canon.h"
#include "common/crypto.h"
#include "core/tuf.h"

/* ---- canonical JSON vectors ---- */

static void canon_is(const char *json, const char *want) {
  cJSON *v = cJSON_Parse(json);
  assert_non_null(v);
  char *out;
  size_t len;
  assert_int_equal(canon_encode(v, 1 << 20, &out, &len), CANON_OK);
  assert_string_equal(out, want);
  assert_int_equal(len, strlen(want));
  free(out);
  cJSON_Delete(v);
}

static void canon_err(const char *json, int want) {
  cJSON *v = cJSON_Parse(json);
  assert_non_null(v);
  char *out = (char *)1;
  size_t len;
  assert_int_equal(canon_encode(v, 1 << 20, &out, &len), want);
  assert_null(out);
  cJSON_Delete(v);
}

static void test_canon_vectors(void **st) {
  (void)st;
  canon_is("{\"b\": 1, \"a\": [true, false, null], \"A\": {}}", "{\"A\":{},\"a\":[true,false,null],\"b\":1}");
  canon_is("  [ ]  ", "[]");
  canon_is("\"q\\\"b\\\\s\\n\\u0001\"", "\"q\\\"b\\\\s\n\001\""); /* only \\ and \" escaped */
  canon_is("\"\\u00e9\"", "\"\xc3\xa9\"");                          /* UTF-8 written raw */
  canon_is("{\"\xc3\xa9\":1,\"z\":2,\"\":3}", "{\"\":3,\"z\":2,\"\xc3\xa9\":1}"); /* byte order */
  canon_is("[-5, 0, 9007199254740992, 1e3]", "[-5,0,9007199254740992,1000]");
  canon_is("{\"k\":{\"y\":[1,{\"b\":2,\"a\":1}],\"x\":\"v\"}}", "{\"k\":{\"x\":\"v\",\"y\":[1,{\"a\":1,\"b\":2}]}}");
  canon_err("[1.5]", CANON_EFLOAT);
  canon_err("[1e300]", CANON_EFLOAT);
  canon_err("{\"a\":1,\"a\":2}", CANON_EDUPKEY);
  cJSON *v = cJSON_Parse("{\"a\":\"0123456789\"}");
  char *out;
  size_t len;
  assert_int_equal(canon_encode(v, 10, &out, &len), CANON_ETOOBIG);
  assert_int_equal(canon_encode(NULL, 10, &out, &len), CANON_EINVAL);
  cJSON_Delete(v);
  /* Depth bound. */
  char deep[300];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  deep[200] = 0;
  canon_err(deep, CANON_EDEPTH);
}

/* ---- a tiny repository signer ---- */

typedef struct key {
  uint8_t der[CRYPTO_KEY_DER_MAX];
  size_t der_len;
  char pem[512];
  char id[65];
} key;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static int test_rng(void *ctx, unsigned char *buf, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; i++) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    buf[i] = (unsigned char)rng_state;
  }
  return 0;
}

static key K[12]; /* 0-2 root, 3 timestamp, 4 snapshot, 5 targets, 6-7 delegated, 8-11 spare */

static void make_key(key *k) {
  assert_int_equal(crypto_ec_generate(test_rng, NULL, k->der, sizeof k->der, &k->der_len), CRYPTO_OK);
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  assert_int_equal(mbedtls_pk_parse_key(&pk, k->der, k->der_len, NULL, 0), 0);
  assert_int_equal(mbedtls_pk_write_pubkey_pem(&pk, (unsigned char *)k->pem, sizeof k->pem), 0);
  mbedtls_pk_free(&pk);
  uint8_t h[32];
  crypto_sha256(k->pem, strlen(k->pem), h);
  crypto_hex(h, 32, k->id);
}

static int setup_keys(void **st) {
  (void)st;
  for (size_t i = 0; i < sizeof K / sizeof K[0]; i++) make_key(&K[i]);
  return 0;
}

static cJSON *key_json(const key *k) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "keytype", "ecdsa");
  cJSON_AddStringToObject(o, "scheme", "ecdsa-sha2-nistp256");
  cJSON *kv = cJSON_AddObjectToObject(o, "keyval");
  cJSON_AddStringToObject(kv, "public", k->pem);
  return o;
}

static cJSON *role_json(key *const *keys, int n, int threshold) {
  cJSON *r = cJSON_CreateObject();
  cJSON *ids = cJSON_AddArrayToObject(r, "keyids");
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(ids, cJSON_CreateString(keys[i]->id));
  cJSON_AddNumberToObject(r, "threshold", threshold);
  return r;
}

static cJSON *common(const char *type, int version, const char *expires) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddStringToObject(s, "_type", type);
  cJSON_AddStringToObject(s, "spec_version", "1.0.31");
  cJSON_AddNumberToObject(s, "version", version);
  cJSON_AddStringToObject(s, "expires", expires);
  return s;
}

#define FUTURE "2031-01-01T00:00:00Z"
#define PAST "2029-06-01T00:00:00Z"
static const int64_t NOW = 1893456000000; /* 2030-01-01 */

/* Signs signed (taking ownership) with each key; returns the document text. */
static char *sign_doc(cJSON *sgn, key *const *keys, int n) {
  char *c;
  size_t clen;
  assert_int_equal(canon_encode(sgn, 1 << 22, &c, &clen), CANON_OK);
  cJSON *doc = cJSON_CreateObject();
  cJSON *sigs = cJSON_AddArrayToObject(doc, "signatures");
  for (int i = 0; i < n; i++) {
    uint8_t sig[CRYPTO_SIG_MAX];
    size_t sl;
    char hex[2 * CRYPTO_SIG_MAX + 1];
    assert_int_equal(crypto_ec_sign(keys[i]->der, keys[i]->der_len, c, clen, test_rng, NULL, sig, sizeof sig, &sl),
                     CRYPTO_OK);
    crypto_hex(sig, sl, hex);
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "keyid", keys[i]->id);
    cJSON_AddStringToObject(g, "sig", hex);
    cJSON_AddItemToArray(sigs, g);
  }
  free(c);
  cJSON_AddItemToObject(doc, "signed", sgn);
  char *text = cJSON_Print(doc); /* pretty on purpose: signatures cover the canonical form */
  cJSON_Delete(doc);
  return text;
}

typedef struct root_spec {
  key *root[3];
  int n_root, root_th;
  key *ts, *sn, *tg;
} root_spec;

static cJSON *root_signed(int version, const char *exp, const root_spec *r) {
  cJSON *s = common("root", version, exp);
  cJSON_AddBoolToObject(s, "consistent_snapshot", 1);
  cJSON *keys = cJSON_AddObjectToObject(s, "keys");
  key *all[6] = {r->root[0], r->root[1], r->root[2], r->ts, r->sn, r->tg};
  for (int i = 0; i < 6; i++)
    if (all[i] && (i >= 3 || i < r->n_root) && !cJSON_GetObjectItemCaseSensitive(keys, all[i]->id))
      cJSON_AddItemToObject(keys, all[i]->id, key_json(all[i]));
  cJSON *roles = cJSON_AddObjectToObject(s, "roles");
  cJSON_AddItemToObject(roles, "root", role_json(r->root, r->n_root, r->root_th));
  cJSON_AddItemToObject(roles, "timestamp", role_json(&r->ts, 1, 1));
  cJSON_AddItemToObject(roles, "snapshot", role_json(&r->sn, 1, 1));
  cJSON_AddItemToObject(roles, "targets", role_json(&r->tg, 1, 1));
  return s;
}

static cJSON *metafile(int version, const char *bytes) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "version", version);
  if (bytes) {
    uint8_t h[32];
    char hex[65];
    crypto_sha256(bytes, strlen(bytes), h);
    crypto_hex(h, 32, hex);
    cJSON_AddNumberToObject(m, "length", (double)strlen(bytes));
    cJSON_AddStringToObject(cJSON_AddObjectToObject(m, "hashes"), "sha256", hex);
  }
  return m;
}

static char *timestamp_doc(int version, const char *exp, int snap_version, const char *snap_bytes, key *k) {
  cJSON *s = common("timestamp", version, exp);
  cJSON_AddItemToObject(cJSON_AddObjectToObject(s, "meta"), "snapshot.json", metafile(snap_version, snap_bytes));
  return sign_doc(s, &k, 1);
}

/* names/versions: "targets.json" first, then delegated roles. */
static char *snapshot_doc(int version, const char *exp, int n, const char *const *names, const int *versions,
                          key *k) {
  cJSON *s = common("snapshot", version, exp);
  cJSON *meta = cJSON_AddObjectToObject(s, "meta");
  for (int i = 0; i < n; i++) cJSON_AddItemToObject(meta, names[i], metafile(versions[i], NULL));
  return sign_doc(s, &k, 1);
}

static cJSON *target_entry(const char *content) {
  cJSON *e = cJSON_CreateObject();
  uint8_t h[32];
  char hex[65];
  crypto_sha256(content, strlen(content), h);
  crypto_hex(h, 32, hex);
  cJSON_AddNumberToObject(e, "length", (double)strlen(content));
  cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "hashes"), "sha256", hex);
  return e;
}

static char *targets_doc(const char *type_role_unused, int version, const char *exp, const char *path,
                         const char *content, cJSON *delegations, key *k) {
  (void)type_role_unused;
  cJSON *s = common("targets", version, exp);
  cJSON *t = cJSON_AddObjectToObject(s, "targets");
  if (path) cJSON_AddItemToObject(t, path, target_entry(content));
  if (delegations) cJSON_AddItemToObject(s, "delegations", delegations);
  return sign_doc(s, &k, 1);
}

static int upd_root(tuf_set *s, char *doc) {
  int rc = tuf_update_root(s, (const uint8_t *)doc, strlen(doc));
  free(doc);
  return rc;
}
static int upd_ts(tuf_set *s, char *doc) {
  int rc = tuf_update_timestamp(s, (const uint8_t *)doc, strlen(doc));
  free(doc);
  return rc;
}
static int upd_snap(tuf_set *s, char *doc, int trusted) {
  int rc = tuf_update_snapshot(s, (const uint8_t *)doc, strlen(doc), trusted);
  free(doc);
  return rc;
}
static int upd_targets(tuf_set *s, char *doc, const char *role, const char *delegator) {
  int rc = tuf_update_delegated_targets(s, (const uint8_t *)doc, strlen(doc), role, delegator);
  free(doc);
  return rc;
}

static const root_spec *spec1(void) {
  static root_spec r;
  r = (root_spec){{&K[0], &K[1], &K[2]}, 3, 2, &K[3], &K[4], &K[5]};
  return &r;
}

static tuf_set *open_root(char *doc, int expect) {
  tuf_set *s = NULL;
  char err[256];
  assert_int_equal(tuf_open((const uint8_t *)doc, strlen(doc), NOW, NULL, &s, err, sizeof err), expect);
  free(doc);
  return s;
}

static const char *const TG[] = {"targets.json"};
static const int V1[] = {1};

/* root v1 -> timestamp v1 -> snapshot v1 -> targets v1 listing "file.txt". */
static tuf_set *valid_chain(void) {
  const root_spec *r = spec1();
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, r), r->root, 2), TUF_OK);
  char *snap = snapshot_doc(1, FUTURE, 1, TG, V1, &K[4]);
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, snap, &K[3])), TUF_OK);
  assert_int_equal(upd_snap(s, snap, 0), TUF_OK);
  assert_int_equal(upd_targets(s, targets_doc("targets", 1, FUTURE, "file.txt", "hello", NULL, &K[5]), "targets", "root"),
                   TUF_OK);
  return s;
}

static void test_valid_chain_and_target(void **st) {
  (void)st;
  tuf_set *s = valid_chain();
  assert_int_equal(tuf_root_version(s), 1);
  assert_true(tuf_consistent_snapshot(s));
  tuf_target t;
  char need[TUF_MAX_ROLE_NAME + 1], from[TUF_MAX_ROLE_NAME + 1];
  assert_int_equal(tuf_find_target(s, "file.txt", &t, need, from), TUF_OK);
  assert_int_equal(t.length, 5);
  assert_string_equal(t.hashes[0].alg, "sha256");
  assert_int_equal(tuf_verify_target(s, (const uint8_t *)"hello", 5, &t), TUF_OK);
  /* Target hash and length mismatch (arbitrary software, endless data). */
  assert_int_equal(tuf_verify_target(s, (const uint8_t *)"hellO", 5, &t), TUF_EHASH);
  assert_int_equal(tuf_verify_target(s, (const uint8_t *)"hello!", 6, &t), TUF_EHASH);
  strcpy(t.hashes[0].alg, "md5");
  assert_int_equal(tuf_verify_target(s, (const uint8_t *)"hello", 5, &t), TUF_EHASH);
  assert_int_equal(tuf_find_target(s, "other.txt", &t, need, from), TUF_ENOTFOUND);
  /* Out of order: root after timestamp. */
  const root_spec *r = spec1();
  assert_int_equal(upd_root(s, sign_doc(root_signed(2, FUTURE, r), r->root, 3)), TUF_EORDER);
  tuf_close(s);
}

/* tuf_role_target_at: the role's own entries, custom.version, the end. */
static void test_role_target_at(void **st) {
  (void)st;
  tuf_set *s = valid_chain();
  tuf_target t;
  char ver[24];
  assert_int_equal(tuf_role_target_at(s, "targets", 0, &t, ver, sizeof ver), TUF_OK);
  assert_string_equal(t.path, "file.txt");
  assert_string_equal(t.role, "targets");
  assert_int_equal(t.length, 5);
  assert_string_equal(ver, "");
  assert_int_equal(tuf_verify_target(NULL, (const uint8_t *)"hello", 5, &t), TUF_OK);
  assert_int_equal(tuf_role_target_at(s, "targets", 1, &t, ver, sizeof ver), TUF_ENOTFOUND);
  assert_int_equal(tuf_role_target_at(s, "canary", 0, &t, NULL, 0), TUF_EMISSING);
  assert_int_equal(tuf_role_target_at(s, "targets", 0, NULL, NULL, 0), TUF_EINVAL);
  tuf_close(s);
  /* custom.version is copied out (a snapshot/targets pair built by hand). */
  const root_spec *r = spec1();
  s = open_root(sign_doc(root_signed(1, FUTURE, r), r->root, 2), TUF_OK);
  char *snap = snapshot_doc(1, FUTURE, 1, TG, V1, &K[4]);
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, snap, &K[3])), TUF_OK);
  assert_int_equal(upd_snap(s, snap, 0), TUF_OK);
  cJSON *sg = common("targets", 1, FUTURE);
  cJSON *e = target_entry("bin");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "custom"), "version", "1.2.3");
  cJSON_AddItemToObject(cJSON_AddObjectToObject(sg, "targets"), "x/bin", e);
  key *k5 = &K[5];
  assert_int_equal(upd_targets(s, sign_doc(sg, &k5, 1), "targets", "root"), TUF_OK);
  assert_int_equal(tuf_role_target_at(s, "targets", 0, &t, ver, 4), TUF_OK);
  assert_string_equal(ver, "1.2"); /* truncated to cap-1 */
  assert_int_equal(tuf_role_target_at(s, "targets", 0, &t, ver, sizeof ver), TUF_OK);
  assert_string_equal(ver, "1.2.3");
  assert_string_equal(t.path, "x/bin");
  tuf_close(s);
}

static void test_bad_signature_and_threshold(void **st) {
  (void)st;
  const root_spec *r = spec1();
  /* Initial root signed by one of three keys, threshold 2. */
  assert_null(open_root(sign_doc(root_signed(1, FUTURE, r), r->root, 1), TUF_ESIG));
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, r), r->root, 2), TUF_OK);
  /* Timestamp signed by the snapshot key. */
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, NULL, &K[4])), TUF_ESIG);
  assert_non_null(strstr(tuf_error(s), "timestamp"));
  /* A tampered signed part: the signature no longer covers it. */
  char *doc = timestamp_doc(1, FUTURE, 1, NULL, &K[3]);
  cJSON *t = cJSON_Parse(doc);
  free(doc);
  cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "signed"), "version"), 7);
  assert_int_equal(upd_ts(s, cJSON_Print(t)), TUF_ESIG);
  cJSON_Delete(t);
  /* Duplicate signature keyids are refused outright. */
  cJSON *d = cJSON_Parse(doc = timestamp_doc(1, FUTURE, 1, NULL, &K[3]));
  free(doc);
  cJSON *sigs = cJSON_GetObjectItem(d, "signatures");
  cJSON_AddItemToArray(sigs, cJSON_Duplicate(sigs->child, 1));
  assert_int_equal(upd_ts(s, cJSON_Print(d)), TUF_EFORMAT);
  cJSON_Delete(d);
  tuf_close(s);
}

static void test_rollback(void **st) {
  (void)st;
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, spec1()), spec1()->root, 2), TUF_OK);
  assert_int_equal(upd_ts(s, timestamp_doc(3, FUTURE, 3, NULL, &K[3])), TUF_OK);
  assert_int_equal(upd_ts(s, timestamp_doc(2, FUTURE, 3, NULL, &K[3])), TUF_EROLLBACK);
  assert_int_equal(upd_ts(s, timestamp_doc(3, FUTURE, 3, NULL, &K[3])), TUF_EEQUAL);
  assert_int_equal(upd_ts(s, timestamp_doc(4, FUTURE, 2, NULL, &K[3])), TUF_EROLLBACK); /* snapshot version */
  assert_int_equal(upd_ts(s, timestamp_doc(4, FUTURE, 4, NULL, &K[3])), TUF_OK);
  /* The local snapshot v3 (targets v5) is not final but becomes the rollback reference. */
  const int V5[] = {5}, V4[] = {4};
  assert_int_equal(upd_snap(s, snapshot_doc(3, FUTURE, 1, TG, V5, &K[4]), 1), TUF_EVERSION);
  assert_int_equal(upd_snap(s, snapshot_doc(4, FUTURE, 1, TG, V4, &K[4]), 0), TUF_EROLLBACK);
  assert_non_null(strstr(tuf_error(s), "targets.json"));
  const char *none[] = {"other.json"};
  assert_int_equal(upd_snap(s, snapshot_doc(4, FUTURE, 1, none, V5, &K[4]), 0), TUF_EMISSING);
  assert_int_equal(upd_snap(s, snapshot_doc(4, FUTURE, 1, TG, V5, &K[4]), 0), TUF_OK);
  /* targets older than snapshot says (a replayed targets): mix-and-match. */
  assert_int_equal(upd_targets(s, targets_doc("targets", 4, FUTURE, NULL, NULL, NULL, &K[5]), "targets", "root"),
                   TUF_EVERSION);
  assert_int_equal(upd_targets(s, targets_doc("targets", 5, FUTURE, NULL, NULL, NULL, &K[5]), "targets", "root"),
                   TUF_OK);
  tuf_close(s);
}

static void test_expired(void **st) {
  (void)st;
  const root_spec *r = spec1();
  /* Expired root: loads (intermediate roots may be expired) but stops the workflow. */
  tuf_set *s = open_root(sign_doc(root_signed(1, PAST, r), r->root, 2), TUF_OK);
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, NULL, &K[3])), TUF_EEXPIRED);
  assert_int_equal(upd_root(s, sign_doc(root_signed(2, FUTURE, r), r->root, 3)), TUF_OK);
  assert_int_equal(upd_ts(s, timestamp_doc(1, PAST, 1, NULL, &K[3])), TUF_EEXPIRED);
  assert_int_equal(tuf_update_snapshot(s, (const uint8_t *)"{}", 2, 0), TUF_EEXPIRED); /* freeze */
  assert_int_equal(upd_ts(s, timestamp_doc(2, FUTURE, 1, NULL, &K[3])), TUF_OK);
  assert_int_equal(upd_snap(s, snapshot_doc(1, PAST, 1, TG, V1, &K[4]), 0), TUF_EEXPIRED);
  assert_int_equal(upd_targets(s, targets_doc("targets", 1, FUTURE, NULL, NULL, NULL, &K[5]), "targets", "root"),
                   TUF_EEXPIRED);
  tuf_close(s);
  s = open_root(sign_doc(root_signed(1, FUTURE, r), r->root, 2), TUF_OK);
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, NULL, &K[3])), TUF_OK);
  assert_int_equal(upd_snap(s, snapshot_doc(1, FUTURE, 1, TG, V1, &K[4]), 0), TUF_OK);
  assert_int_equal(upd_targets(s, targets_doc("targets", 1, PAST, NULL, NULL, NULL, &K[5]), "targets", "root"),
                   TUF_EEXPIRED);
  tuf_close(s);
}

static void test_mix_and_match(void **st) {
  (void)st;
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, spec1()), spec1()->root, 2), TUF_OK);
  char *snap = snapshot_doc(2, FUTURE, 1, TG, V1, &K[4]);
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, snap, &K[3])), TUF_OK);
  /* Length/hash differ from timestamp's meta: refused before parsing. */
  char *other = snapshot_doc(1, FUTURE, 1, TG, V1, &K[4]);
  assert_int_equal(upd_snap(s, other, 0), TUF_EHASH);
  /* Trusted local copy: hashes skipped, the version still must match. */
  assert_int_equal(upd_snap(s, snap, 1), TUF_EVERSION);
  assert_int_equal(tuf_update_targets(s, (const uint8_t *)"{}", 2), TUF_EVERSION);
  tuf_close(s);
}

static void test_root_rotation(void **st) {
  (void)st;
  const root_spec *r1 = spec1();
  root_spec r2 = {{&K[8], &K[9], NULL}, 2, 2, &K[10], &K[4], &K[5]}; /* new root keys and timestamp key */
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, r1), r1->root, 2), TUF_OK);
  key *old_only[] = {&K[0], &K[1]}, *new_only[] = {&K[8], &K[9]}, *one_old_two_new[] = {&K[0], &K[8], &K[9]};
  key *both[] = {&K[0], &K[1], &K[8], &K[9]};
  assert_int_equal(upd_root(s, sign_doc(root_signed(2, FUTURE, &r2), new_only, 2)), TUF_ESIG);
  assert_int_equal(upd_root(s, sign_doc(root_signed(2, FUTURE, &r2), old_only, 2)), TUF_ESIG);
  assert_int_equal(upd_root(s, sign_doc(root_signed(2, FUTURE, &r2), one_old_two_new, 3)), TUF_ESIG);
  assert_int_equal(upd_root(s, sign_doc(root_signed(3, FUTURE, &r2), both, 4)), TUF_EVERSION);
  assert_int_equal(tuf_rotated(s), 0);
  assert_int_equal(upd_root(s, sign_doc(root_signed(2, FUTURE, &r2), both, 4)), TUF_OK);
  assert_int_equal(tuf_root_version(s), 2);
  assert_int_equal(tuf_rotated(s), TUF_ROLE_TIMESTAMP);
  /* The old timestamp key no longer counts: fast-forward recovery. */
  assert_int_equal(upd_ts(s, timestamp_doc(100, FUTURE, 1, NULL, &K[3])), TUF_ESIG);
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, NULL, &K[10])), TUF_OK);
  tuf_close(s);
}

static cJSON *delegation(const char *name, key *k, const char *pattern, int terminating) {
  cJSON *r = role_json(&k, 1, 1);
  cJSON_AddStringToObject(r, "name", name);
  cJSON_AddBoolToObject(r, "terminating", terminating);
  cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "paths"), cJSON_CreateString(pattern));
  return r;
}

static void test_delegations(void **st) {
  (void)st;
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, spec1()), spec1()->root, 2), TUF_OK);
  const char *names[] = {"targets.json", "a.json", "b.json"};
  const int vers[] = {1, 1, 1};
  assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, NULL, &K[3])), TUF_OK);
  assert_int_equal(upd_snap(s, snapshot_doc(1, FUTURE, 3, names, vers, &K[4]), 0), TUF_OK);
  cJSON *d = cJSON_CreateObject();
  cJSON *keys = cJSON_AddObjectToObject(d, "keys");
  cJSON_AddItemToObject(keys, K[6].id, key_json(&K[6]));
  cJSON_AddItemToObject(keys, K[7].id, key_json(&K[7]));
  cJSON *roles = cJSON_AddArrayToObject(d, "roles");
  cJSON_AddItemToArray(roles, delegation("a", &K[6], "a/*", 1)); /* terminating */
  cJSON_AddItemToArray(roles, delegation("b", &K[7], "*/*.txt", 0));
  assert_int_equal(upd_targets(s, targets_doc("targets", 1, FUTURE, NULL, NULL, d, &K[5]), "targets", "root"), TUF_OK);

  tuf_target t;
  char need[TUF_MAX_ROLE_NAME + 1], from[TUF_MAX_ROLE_NAME + 1];
  assert_int_equal(tuf_find_target(s, "c/x.txt", &t, need, from), TUF_ENEED);
  assert_string_equal(need, "b");
  assert_string_equal(from, "targets");
  /* b signed by a's key: threshold not met. */
  assert_int_equal(upd_targets(s, targets_doc("b", 1, FUTURE, "c/x.txt", "bee", NULL, &K[6]), "b", "targets"), TUF_ESIG);
  assert_int_equal(upd_targets(s, targets_doc("b", 1, FUTURE, "a/y.txt", "bee", NULL, &K[7]), "b", "targets"), TUF_OK);
  /* a/y.txt is listed by b, but a is terminating for a-star paths: b is never asked. */
  assert_int_equal(tuf_find_target(s, "a/y.txt", &t, need, from), TUF_ENEED);
  assert_string_equal(need, "a");
  assert_int_equal(upd_targets(s, targets_doc("a", 1, FUTURE, "a/z", "zed", NULL, &K[6]), "a", "targets"), TUF_OK);
  assert_int_equal(tuf_find_target(s, "a/y.txt", &t, need, from), TUF_ENOTFOUND);
  assert_int_equal(tuf_find_target(s, "a/z", &t, need, from), TUF_OK);
  assert_string_equal(t.role, "a");
  /* Pattern: '*' does not cross '/'. */
  assert_int_equal(tuf_find_target(s, "c/d/x.txt", &t, need, from), TUF_ENOTFOUND);
  /* A role not in snapshot, and a delegator that does not delegate to it. */
  assert_int_equal(upd_targets(s, targets_doc("z", 1, FUTURE, NULL, NULL, NULL, &K[7]), "z", "targets"), TUF_EMISSING);
  assert_int_equal(upd_targets(s, targets_doc("b", 1, FUTURE, NULL, NULL, NULL, &K[7]), "b", "a"), TUF_EMISSING);
  tuf_close(s);
}

static void test_path_match(void **st) {
  (void)st;
  assert_true(tuf_path_match("*", "file"));
  assert_false(tuf_path_match("*", "dir/file"));
  assert_true(tuf_path_match("dir/*.tgz", "dir/a.tgz"));
  assert_false(tuf_path_match("dir/*.tgz", "dir/a.tar"));
  assert_true(tuf_path_match("f?le[0-9]", "file7"));
  assert_false(tuf_path_match("f?le[!0-9]", "file7"));
  assert_true(tuf_path_match("a/*/c", "a/b/c"));
  assert_false(tuf_path_match("a/*", "a/b/c"));
  assert_true(tuf_path_match("[x", "[x"));
  assert_true(tuf_path_match("**", ""));
}

static void test_malformed(void **st) {
  (void)st;
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, spec1()), spec1()->root, 2), TUF_OK);
  /* Wrong type: a snapshot offered as timestamp, signed by the timestamp key. */
  assert_int_equal(upd_ts(s, snapshot_doc(1, FUTURE, 1, TG, V1, &K[3])), TUF_ETYPE);
  cJSON *sg = common("timestamp", 1, FUTURE);
  cJSON_DeleteItemFromObject(sg, "version");
  key *k3 = &K[3];
  assert_int_equal(upd_ts(s, sign_doc(sg, &k3, 1)), TUF_EFORMAT);
  assert_non_null(strstr(tuf_error(s), "version"));
  sg = common("timestamp", 1, "2030-02-30T00:00:00Z");
  assert_int_equal(upd_ts(s, sign_doc(sg, &k3, 1)), TUF_EFORMAT);
  assert_non_null(strstr(tuf_error(s), "expires"));
  assert_int_equal(tuf_update_timestamp(s, (const uint8_t *)"{\"signed\":", 10), TUF_EFORMAT);
  /* Endless data: over the role's limit. */
  size_t big = 17 * 1024;
  uint8_t *buf = calloc(1, big);
  memset(buf, ' ', big);
  assert_int_equal(tuf_update_timestamp(s, buf, big), TUF_ETOOBIG);
  free(buf);
  tuf_close(s);
}

/* ---- Ed25519 (issue 17) ---- */

static void unhex(const char *h, uint8_t *out) {
  for (size_t i = 0; h[2 * i]; i++) {
    unsigned v;
    assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

/* RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72). */
static void test_ed25519_rfc8032(void **st) {
  (void)st;
  static const char *const pubs[] = {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                                     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"};
  static const char *const sigs[] = {
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"};
  static const uint8_t msg2[1] = {0x72};
  for (int t = 0; t < 2; t++) {
    uint8_t pub[33], sig[65];
    unhex(pubs[t], pub);
    unhex(sigs[t], sig);
    const uint8_t *m = t ? msg2 : NULL;
    size_t ml = t ? 1 : 0;
    assert_int_equal(crypto_ed25519_verify(pub, 32, m, ml, sig, 64), CRYPTO_OK);
    /* One flipped bit anywhere (R, S, key, message) fails. */
    sig[0] ^= 1;
    assert_int_equal(crypto_ed25519_verify(pub, 32, m, ml, sig, 64), CRYPTO_EVERIFY);
    sig[0] ^= 1;
    sig[63] ^= 0x10;
    assert_int_equal(crypto_ed25519_verify(pub, 32, m, ml, sig, 64), CRYPTO_EVERIFY);
    sig[63] ^= 0x10;
    pub[5] ^= 4;
    assert_int_not_equal(crypto_ed25519_verify(pub, 32, m, ml, sig, 64), CRYPTO_OK);
    pub[5] ^= 4;
    if (t) {
      uint8_t m2 = 0x73;
      assert_int_equal(crypto_ed25519_verify(pub, 32, &m2, 1, sig, 64), CRYPTO_EVERIFY);
    }
    /* Strict sizes: a valid signature with a byte more or less, a key with a
     * byte more or less, and NULLs are refused, never read past. */
    sig[64] = 0;
    pub[32] = 0;
    assert_int_equal(crypto_ed25519_verify(pub, 32, m, ml, sig, 63), CRYPTO_EVERIFY);
    assert_int_equal(crypto_ed25519_verify(pub, 32, m, ml, sig, 65), CRYPTO_EVERIFY);
    assert_int_equal(crypto_ed25519_verify(pub, 31, m, ml, sig, 64), CRYPTO_EINVAL);
    assert_int_equal(crypto_ed25519_verify(pub, 33, m, ml, sig, 64), CRYPTO_EINVAL);
    assert_int_equal(crypto_ed25519_verify(pub, 32, m, ml, NULL, 64), CRYPTO_EVERIFY);
    assert_int_equal(crypto_ed25519_verify(NULL, 32, m, ml, sig, 64), CRYPTO_EINVAL);
    assert_int_equal(crypto_ed25519_verify(pub, 32, NULL, 5, sig, 64), CRYPTO_EINVAL);
    assert_int_equal(crypto_ed25519_verify(pub, 32, m, ml, sig, 64), CRYPTO_OK);
  }
}

typedef struct edkey {
  EVP_PKEY *pk;
  char pub[65]; /* keyval.public: 64 hex chars */
  char id[65];
} edkey;

static void ed_make(edkey *k, uint8_t seed_byte) {
  uint8_t seed[32], pub[32];
  size_t pl = sizeof pub;
  memset(seed, seed_byte, sizeof seed);
  k->pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
  assert_non_null(k->pk);
  assert_int_equal(EVP_PKEY_get_raw_public_key(k->pk, pub, &pl), 1);
  assert_int_equal(pl, 32);
  crypto_hex(pub, 32, k->pub);
  uint8_t h[32];
  crypto_sha256(k->pub, 64, h);
  crypto_hex(h, 32, k->id);
}

static cJSON *ed_key_json(const char *pub_hex) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "keytype", "ed25519");
  cJSON_AddStringToObject(o, "scheme", "ed25519");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "keyval"), "public", pub_hex);
  return o;
}

/* {"signatures": [{"keyid", "sig"}], "signed": sgn} as text; takes sgn. */
static char *one_sig_envelope(const char *keyid, const char *hex, cJSON *sgn) {
  cJSON *doc = cJSON_CreateObject();
  cJSON *g = cJSON_CreateObject();
  cJSON_AddStringToObject(g, "keyid", keyid);
  cJSON_AddStringToObject(g, "sig", hex);
  cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "signatures"), g);
  cJSON_AddItemToObject(doc, "signed", sgn);
  char *text = cJSON_Print(doc);
  cJSON_Delete(doc);
  return text;
}

/* Like sign_doc, with one Ed25519 key; flip != 0 flips a bit of the signature. */
static char *ed_sign_doc(cJSON *sgn, const edkey *k, int flip) {
  char *c;
  size_t clen;
  assert_int_equal(canon_encode(sgn, 1 << 22, &c, &clen), CANON_OK);
  uint8_t sig[64];
  size_t sl = sizeof sig;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  assert_non_null(ctx);
  assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pk), 1);
  assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)c, clen), 1);
  assert_int_equal(sl, 64);
  EVP_MD_CTX_free(ctx);
  free(c);
  if (flip) sig[17] ^= 0x02;
  char hex[129];
  crypto_hex(sig, 64, hex);
  return one_sig_envelope(k->id, hex, sgn);
}

/* Root and timestamp keys ed25519, snapshot and targets ECDSA (K[4], K[5]).
 * ts_pub overrides the timestamp key's keyval.public. */
static cJSON *ed_root_signed(const edkey *root, const edkey *ts, const char *ts_pub) {
  cJSON *s = common("root", 1, FUTURE);
  cJSON_AddBoolToObject(s, "consistent_snapshot", 1);
  cJSON *keys = cJSON_AddObjectToObject(s, "keys");
  cJSON_AddItemToObject(keys, root->id, ed_key_json(root->pub));
  cJSON_AddItemToObject(keys, ts->id, ed_key_json(ts_pub ? ts_pub : ts->pub));
  cJSON_AddItemToObject(keys, K[4].id, key_json(&K[4]));
  cJSON_AddItemToObject(keys, K[5].id, key_json(&K[5]));
  cJSON *roles = cJSON_AddObjectToObject(s, "roles");
  cJSON *rr = cJSON_AddObjectToObject(roles, "root");
  cJSON_AddItemToArray(cJSON_AddArrayToObject(rr, "keyids"), cJSON_CreateString(root->id));
  cJSON_AddNumberToObject(rr, "threshold", 1);
  cJSON *tr = cJSON_AddObjectToObject(roles, "timestamp");
  cJSON_AddItemToArray(cJSON_AddArrayToObject(tr, "keyids"), cJSON_CreateString(ts->id));
  cJSON_AddNumberToObject(tr, "threshold", 1);
  key *k4 = &K[4], *k5 = &K[5];
  cJSON_AddItemToObject(roles, "snapshot", role_json(&k4, 1, 1));
  cJSON_AddItemToObject(roles, "targets", role_json(&k5, 1, 1));
  return s;
}

static char *ed_timestamp(const edkey *k, const char *snap, int flip) {
  cJSON *s = common("timestamp", 1, FUTURE);
  cJSON_AddItemToObject(cJSON_AddObjectToObject(s, "meta"), "snapshot.json", metafile(1, snap));
  return ed_sign_doc(s, k, flip);
}

static void test_ed25519_repository(void **st) {
  (void)st;
  edkey root, ts;
  ed_make(&root, 0x11);
  ed_make(&ts, 0x22);
  /* Root signed by its ed25519 key; a flipped bit does not verify. */
  assert_null(open_root(ed_sign_doc(ed_root_signed(&root, &ts, NULL), &root, 1), TUF_ESIG));
  tuf_set *s = open_root(ed_sign_doc(ed_root_signed(&root, &ts, NULL), &root, 0), TUF_OK);
  char *snap = snapshot_doc(1, FUTURE, 1, TG, V1, &K[4]);
  assert_int_equal(upd_ts(s, ed_timestamp(&ts, snap, 1)), TUF_ESIG);
  assert_int_equal(upd_ts(s, ed_timestamp(&root, snap, 0)), TUF_ESIG); /* wrong key */
  assert_int_equal(upd_ts(s, ed_timestamp(&ts, snap, 0)), TUF_OK);
  assert_int_equal(upd_snap(s, snap, 0), TUF_OK);
  assert_int_equal(upd_targets(s, targets_doc("targets", 1, FUTURE, "f", "x", NULL, &K[5]), "targets", "root"),
                   TUF_OK);
  tuf_close(s);
  /* A malformed timestamp key (62 or 66 hex chars, not hex, PEM) never
   * verifies and never crashes: the set refuses the timestamp. */
  char short_pub[65], long_pub[67];
  snprintf(short_pub, sizeof short_pub, "%.62s", ts.pub);
  snprintf(long_pub, sizeof long_pub, "%s00", ts.pub);
  const char *bad[] = {short_pub, long_pub, "zz", K[3].pem};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s = open_root(ed_sign_doc(ed_root_signed(&root, &ts, bad[i]), &root, 0), TUF_OK);
    assert_int_equal(upd_ts(s, ed_timestamp(&ts, NULL, 0)), TUF_ESIG);
    tuf_close(s);
  }
  EVP_PKEY_free(root.pk);
  EVP_PKEY_free(ts.pk);
}

/* ---- RSA keys (rsassa-pss-sha256, rsa-pkcs1v15-sha256) ---- */

typedef struct rsakey {
  EVP_PKEY *pk;
  char pem[1024];
  char id[65];
} rsakey;

static void rsa_make(rsakey *k) {
  k->pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  assert_non_null(k->pk);
  BIO *b = BIO_new(BIO_s_mem());
  assert_non_null(b);
  assert_int_equal(PEM_write_bio_PUBKEY(b, k->pk), 1);
  char *data;
  long n = BIO_get_mem_data(b, &data);
  assert_true(n > 0 && (size_t)n < sizeof k->pem);
  memcpy(k->pem, data, (size_t)n);
  k->pem[n] = 0;
  BIO_free(b);
  uint8_t h[32];
  crypto_sha256(k->pem, strlen(k->pem), h);
  crypto_hex(h, 32, k->id);
}

/* Like sign_doc, with one RSA key and the given padding. */
static char *rsa_sign_doc(cJSON *sgn, const rsakey *k, int padding) {
  char *c;
  size_t clen;
  assert_int_equal(canon_encode(sgn, 1 << 22, &c, &clen), CANON_OK);
  uint8_t sig[256];
  size_t sl = sizeof sig;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  assert_non_null(ctx);
  assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, k->pk), 1);
  assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, padding), 1);
  assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)c, clen), 1);
  EVP_MD_CTX_free(ctx);
  free(c);
  char hex[513];
  crypto_hex(sig, sl, hex);
  return one_sig_envelope(k->id, hex, sgn);
}

/* spec1's root (ECDSA) with the timestamp role given to an RSA key of scheme. */
static char *rsa_root(const rsakey *ts, const char *scheme) {
  const root_spec *r = spec1();
  cJSON *s = root_signed(1, FUTURE, r);
  cJSON *keys = cJSON_GetObjectItemCaseSensitive(s, "keys");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "keytype", "rsa");
  cJSON_AddStringToObject(o, "scheme", scheme);
  cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "keyval"), "public", ts->pem);
  cJSON_AddItemToObject(keys, ts->id, o);
  cJSON *tr = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "roles"), "timestamp");
  cJSON_ReplaceItemInObjectCaseSensitive(tr, "keyids", cJSON_CreateStringArray((const char *const[]){ts->id}, 1));
  return sign_doc(s, r->root, 2);
}

static char *rsa_timestamp(const rsakey *k, int padding) {
  cJSON *s = common("timestamp", 1, FUTURE);
  cJSON_AddItemToObject(cJSON_AddObjectToObject(s, "meta"), "snapshot.json", metafile(1, NULL));
  return rsa_sign_doc(s, k, padding);
}

/* Both RSA schemes verify through the TUF workflow, each only with its own
 * padding; an ECDSA signature by another key does not count for them. */
static void test_rsa_repository(void **st) {
  (void)st;
  rsakey ts;
  rsa_make(&ts);
  static const struct {
    const char *scheme;
    int good, other;
  } cases[] = {{"rsassa-pss-sha256", RSA_PKCS1_PSS_PADDING, RSA_PKCS1_PADDING},
               {"rsa-pkcs1v15-sha256", RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tuf_set *s = open_root(rsa_root(&ts, cases[i].scheme), TUF_OK);
    assert_int_equal(upd_ts(s, rsa_timestamp(&ts, cases[i].other)), TUF_ESIG);
    assert_int_equal(upd_ts(s, timestamp_doc(1, FUTURE, 1, NULL, &K[3])), TUF_ESIG);
    assert_int_equal(upd_ts(s, rsa_timestamp(&ts, cases[i].good)), TUF_OK);
    tuf_close(s);
  }
  EVP_PKEY_free(ts.pk);
}

/* ---- text cJSON accepts but JSON and python-tuf refuse (issue 17) ---- */

/* Returns doc with the first `from` replaced by `to`; frees doc. */
static char *replace_once(char *doc, const char *from, const char *to) {
  char *at = strstr(doc, from);
  assert_non_null(at);
  size_t n = strlen(doc) - strlen(from) + strlen(to) + 1;
  char *out = malloc(n);
  assert_non_null(out);
  snprintf(out, n, "%.*s%s%s", (int)(at - doc), doc, to, at + strlen(from));
  free(doc);
  return out;
}

static void test_not_plain_json(void **st) {
  (void)st;
  tuf_set *s = open_root(sign_doc(root_signed(1, FUTURE, spec1()), spec1()->root, 2), TUF_OK);
  key *k3 = &K[3];
  /* Each is the same signed content as far as cJSON and canon.c see it, so
   * the signature still verifies: only the text check refuses them. */
  static const char *const nums[][2] = {{"1", "1.0"}, {"1", "1E0"}, {"1000", "1e3"}, {"1", "01"}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    char from[32], to[32];
    snprintf(from, sizeof from, "\"version\":\t%s,", nums[i][0]);
    snprintf(to, sizeof to, "\"version\":\t%s,", nums[i][1]);
    char *doc = timestamp_doc(atoi(nums[i][0]), FUTURE, 1, NULL, k3);
    doc = replace_once(doc, from, to);
    assert_int_equal(upd_ts(s, doc), TUF_EFORMAT);
    assert_non_null(strstr(tuf_error(s), "not a plain integer"));
    assert_non_null(strstr(tuf_error(s), nums[i][1]));
  }
  /* A tab escaped is fine; the same tab raw is refused. The note comes
   * first and holds an escaped quote before "1.5": a scan that lost track
   * of the string there would take 1.5 for a number. */
  cJSON *sg = cJSON_CreateObject();
  cJSON_AddStringToObject(sg, "a_note", "say \"1.5\"\tok");
  cJSON_AddStringToObject(sg, "_type", "timestamp");
  cJSON_AddStringToObject(sg, "spec_version", "1.0.31");
  cJSON_AddNumberToObject(sg, "version", 1);
  cJSON_AddStringToObject(sg, "expires", FUTURE);
  cJSON_AddItemToObject(cJSON_AddObjectToObject(sg, "meta"), "snapshot.json", metafile(1, NULL));
  char *doc = sign_doc(sg, &k3, 1);
  char *raw = replace_once(strdup(doc), "\\tok", "\tok");
  assert_int_equal(upd_ts(s, raw), TUF_EFORMAT);
  assert_non_null(strstr(tuf_error(s), "raw control character 0x09"));
  assert_int_equal(upd_ts(s, doc), TUF_OK);
  tuf_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_canon_vectors),       cmocka_unit_test(test_role_target_at),       cmocka_unit_test(test_valid_chain_and_target),
      cmocka_unit_test(test_bad_signature_and_threshold), cmocka_unit_test(test_rollback),
      cmocka_unit_test(test_expired),             cmocka_unit_test(test_mix_and_match),
      cmocka_unit_test(test_root_rotation),       cmocka_unit_test(test_delegations),
      cmocka_unit_test(test_path_match),          cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_ed25519_rfc8032),     cmocka_unit_test(test_ed25519_repository),
      cmocka_unit_test(test_rsa_repository),
      cmocka_unit_test(test_not_plain_json),
  };
  return cmocka_run_group_tests(tests, setup_keys, NULL);
}
