/* Tests for agent/common/release.c: versions, statements, .sig verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/release.h"

static int test_rng(void *ctx, unsigned char *buf, size_t len) {
  uint64_t *s = ctx;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (unsigned char)*s;
  }
  return 0;
}

typedef struct fixture {
  uint8_t key[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX];
  size_t key_len, pub_len;
  uint8_t other_key[CRYPTO_KEY_DER_MAX], other_pub[CRYPTO_PUB_DER_MAX];
  size_t other_key_len, other_pub_len;
  uint8_t bin[300];
  release_statement st;
  release_expect exp;
  char *sig;
  size_t sig_len;
  char err[256];
} fixture;

static void make_key(uint64_t seed, uint8_t *key, size_t *key_len, uint8_t *pub, size_t *pub_len) {
  assert_int_equal(crypto_ec_generate(test_rng, &seed, key, CRYPTO_KEY_DER_MAX, key_len), 0);
  assert_int_equal(crypto_ec_public_from_private(key, *key_len, pub, CRYPTO_PUB_DER_MAX, pub_len),
                   0);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  uint8_t d[CRYPTO_SHA256_LEN];
  uint64_t seed = 99;
  make_key(0x1234567, f->key, &f->key_len, f->pub, &f->pub_len);
  make_key(0x7654321, f->other_key, &f->other_key_len, f->other_pub, &f->other_pub_len);
  for (size_t i = 0; i < sizeof f->bin; i++) f->bin[i] = (uint8_t)(i * 7);
  crypto_sha256(f->bin, sizeof f->bin, d);
  crypto_hex(d, sizeof d, f->st.sha256);
  strcpy(f->st.arch, "x86_64");
  strcpy(f->st.version, "1.4.2");
  f->st.length = sizeof f->bin;
  assert_int_equal(release_sign(&f->st, f->key, f->key_len, test_rng, &seed, &f->sig, &f->sig_len,
                                f->err, sizeof f->err),
                   RELEASE_OK);
  f->exp.pub_der = f->pub;
  f->exp.pub_len = f->pub_len;
  memcpy(f->exp.sha256, d, sizeof d);
  f->exp.length = sizeof f->bin;
  f->exp.arch = "x86_64";
  f->exp.version = "1.4.2";
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  free(f->sig);
  free(f);
  return 0;
}

static int verify_text(fixture *f, const char *text) {
  return release_verify(&f->exp, text, strlen(text), NULL, f->err, sizeof f->err);
}

/* Replaces the first occurrence of from by to in f->sig (same or other length). */
static char *replaced(const fixture *f, const char *from, const char *to) {
  const char *p = strstr(f->sig, from);
  assert_non_null(p);
  size_t n = strlen(f->sig) - strlen(from) + strlen(to) + 1;
  char *out = malloc(n);
  snprintf(out, n, "%.*s%s%s", (int)(p - f->sig), f->sig, to, p + strlen(from));
  return out;
}

static void test_versions(void **state) {
  static const char *good[] = {"0.0.0", "1.4.2", "999999.999999.999999", "10.0.1"};
  static const char *bad[] = {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03",
                              "1000000.0.0", "v1.2.3", "1.2.3-rc1", " 1.2.3", "1.2.3 ",
                              "+1.2.3", "-1.2.3", "1..3", "1.2.", ".1.2", "1.2.x", "1,2,3"};
  release_version v;
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_int_equal(release_version_parse(good[i], &v), RELEASE_OK);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (release_version_parse(bad[i], &v) != RELEASE_EVERSION) fail_msg("accepted %s", bad[i]);
  }
  assert_int_equal(release_version_parse(NULL, &v), RELEASE_EVERSION);
  int c = 0;
  assert_int_equal(release_version_cmp_str("1.10.0", "1.9.9", &c), RELEASE_OK);
  assert_true(c > 0);
  assert_int_equal(release_version_cmp_str("2.0.0", "10.0.0", &c), RELEASE_OK);
  assert_true(c < 0);
  assert_int_equal(release_version_cmp_str("3.2.1", "3.2.1", &c), RELEASE_OK);
  assert_int_equal(c, 0);
  assert_int_equal(release_version_cmp_str("3.2.1", "3.2.01", &c), RELEASE_EVERSION);
}

static void test_statement_canonical(void **state) {
  fixture *f = *state;
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(release_statement_encode(&f->st, &out, &n, f->err, sizeof f->err), RELEASE_OK);
  char want[256];
  snprintf(want, sizeof want,
           "{\"arch\":\"x86_64\",\"length\":300,\"name\":\"outpost-agent\",\"sha256\":\"%s\","
           "\"version\":\"1.4.2\"}",
           f->st.sha256);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
  free(out);
  release_statement bad = f->st;
  strcpy(bad.version, "1.4");
  assert_int_equal(release_statement_encode(&bad, &out, &n, f->err, sizeof f->err),
                   RELEASE_EVERSION);
  assert_null(out);
  assert_non_null(strstr(f->err, "signed.version"));
  bad = f->st;
  bad.sha256[3] = 'A';
  assert_int_equal(release_statement_encode(&bad, &out, &n, f->err, sizeof f->err), RELEASE_EFIELD);
  assert_non_null(strstr(f->err, "signed.sha256"));
  bad = f->st;
  strcpy(bad.arch, "x86-64");
  assert_int_equal(release_statement_encode(&bad, &out, &n, f->err, sizeof f->err), RELEASE_EFIELD);
  assert_non_null(strstr(f->err, "signed.arch"));
}

static void test_valid(void **state) {
  fixture *f = *state;
  release_statement got;
  assert_int_equal(release_verify(&f->exp, f->sig, f->sig_len, &got, f->err, sizeof f->err),
                   RELEASE_OK);
  assert_string_equal(got.version, "1.4.2");
  assert_int_equal(got.length, 300);
  /* Another byte layout of the same statement verifies: the verifier
   * re-encodes. Move "version" first and add whitespace. */
  char *t1 = replaced(f, ",\"version\":\"1.4.2\"}", "}");
  fixture g = *f;
  g.sig = t1;
  char *t2 = replaced(&g, "{\"arch\"", "{ \"version\" : \"1.4.2\",\n \"arch\"");
  assert_int_equal(verify_text(f, t2), RELEASE_OK);
  free(t1);
  free(t2);
}

static void test_tampered_statement(void **state) {
  fixture *f = *state;
  char *t = replaced(f, "\"length\":300", "\"length\":301");
  f->exp.length = 301;
  assert_int_equal(verify_text(f, t), RELEASE_ESIG);
  assert_non_null(strstr(f->err, "sig"));
  free(t);
}

static void test_wrong_key(void **state) {
  fixture *f = *state;
  f->exp.pub_der = f->other_pub;
  f->exp.pub_len = f->other_pub_len;
  assert_int_equal(verify_text(f, f->sig), RELEASE_EKEYID);
  assert_non_null(strstr(f->err, "keyid"));
  /* A file claiming the right keyid but signed by another key. */
  uint64_t seed = 5;
  char *other = NULL;
  size_t n = 0;
  assert_int_equal(release_sign(&f->st, f->other_key, f->other_key_len, test_rng, &seed, &other,
                                &n, f->err, sizeof f->err),
                   RELEASE_OK);
  char id_other[65], id_mine[65];
  release_keyid(f->other_pub, f->other_pub_len, id_other);
  release_keyid(f->pub, f->pub_len, id_mine);
  char *p = strstr(other, id_other);
  assert_non_null(p);
  memcpy(p, id_mine, 64);
  f->exp.pub_der = f->pub;
  f->exp.pub_len = f->pub_len;
  assert_int_equal(verify_text(f, other), RELEASE_ESIG);
  free(other);
}

static void test_relabelled_version(void **state) {
  fixture *f = *state;
  /* The TUF entry says 1.5.0 but the signed statement says 1.4.2. */
  f->exp.version = "1.5.0";
  assert_int_equal(verify_text(f, f->sig), RELEASE_EVERSIONMISMATCH);
  assert_non_null(strstr(f->err, "signed.version"));
  /* Editing the statement's version breaks the signature. */
  f->exp.version = "1.5.0";
  char *t = replaced(f, "\"1.4.2\"", "\"1.5.0\"");
  assert_int_equal(verify_text(f, t), RELEASE_ESIG);
  free(t);
}

static void test_wrong_arch_length_hash_name(void **state) {
  fixture *f = *state;
  f->exp.arch = "aarch64";
  assert_int_equal(verify_text(f, f->sig), RELEASE_EARCH);
  assert_non_null(strstr(f->err, "signed.arch"));
  f->exp.arch = "x86_64";
  f->exp.length = 299;
  assert_int_equal(verify_text(f, f->sig), RELEASE_ELENGTH);
  assert_non_null(strstr(f->err, "signed.length"));
  f->exp.length = 300;
  f->exp.sha256[0] ^= 1;
  assert_int_equal(verify_text(f, f->sig), RELEASE_ESHA256);
  assert_non_null(strstr(f->err, "signed.sha256"));
  f->exp.sha256[0] ^= 1;
  char *t = replaced(f, "\"outpost-agent\"", "\"outpost-agenX\"");
  assert_int_equal(verify_text(f, t), RELEASE_ENAME);
  assert_non_null(strstr(f->err, "signed.name"));
  free(t);
}

static void test_oversize(void **state) {
  fixture *f = *state;
  size_t n = RELEASE_SIG_FILE_MAX + 1;
  char *big = malloc(n);
  memset(big, ' ', n);
  memcpy(big, f->sig, f->sig_len);
  assert_int_equal(release_verify(&f->exp, big, n, NULL, f->err, sizeof f->err), RELEASE_ETOOBIG);
  /* Trailing whitespace within the limit is fine. */
  assert_int_equal(release_verify(&f->exp, big, RELEASE_SIG_FILE_MAX, NULL, f->err, sizeof f->err),
                   RELEASE_OK);
  free(big);
}

static void test_malformed(void **state) {
  fixture *f = *state;
  static const struct {
    const char *text;
    int code;
    const char *names;
  } cases[] = {
      {"", RELEASE_EJSON, "sig file"},
      {"{", RELEASE_EJSON, "sig file"},
      {"[]", RELEASE_EJSON, "sig file"},
      {"{\"signed\":{},\"keyid\":\"\",\"sig\":\"\",\"x\":1}", RELEASE_EJSON, "x"},
      {"{\"keyid\":\"00\",\"sig\":\"00\"}", RELEASE_EFIELD, "signed"},
      {"{\"signed\":1,\"keyid\":\"00\",\"sig\":\"00\"}", RELEASE_EFIELD, "signed"},
      {"{\"signed\":{},\"keyid\":\"00\",\"sig\":\"00\"}", RELEASE_EFIELD, "keyid"},
      {"{\"signed\":{},\"sig\":\"00\",\"keyid\":\"00\",\"keyid\":\"00\"}", RELEASE_EJSON, "keyid"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int rc = verify_text(f, cases[i].text);
    if (rc != cases[i].code || !strstr(f->err, cases[i].names))
      fail_msg("case %zu: rc %d err %s", i, rc, f->err);
  }
  /* Field-level damage in an otherwise well-formed file. */
  static const struct {
    const char *from, *to, *names;
    int code;
  } edits[] = {
      {"\"1.4.2\"", "\"01.4.2\"", "signed.version", RELEASE_EVERSION},
      {"\"1.4.2\"", "\"1.4.2-rc\"", "signed.version", RELEASE_EVERSION},
      {"\"1.4.2\"", "1", "signed.version", RELEASE_EFIELD},
      {"\"length\":300", "\"length\":300.5", "signed.length", RELEASE_EFIELD},
      {"\"length\":300", "\"length\":-1", "signed.length", RELEASE_EFIELD},
      {"\"length\":300", "\"length\":\"300\"", "signed.length", RELEASE_EFIELD},
      {"\"length\":300,", "", "signed.length", RELEASE_EFIELD},
      {"\"arch\":\"x86_64\"", "\"arch\":\"x86_64\",\"extra\":1", "signed.extra", RELEASE_EFIELD},
      {"\"arch\":\"x86_64\"", "\"arch\":\"x86_64\",\"arch\":\"x86_64\"", "signed", RELEASE_EJSON},
      {"\"keyid\":\"", "\"keyid\":\"A", "keyid", RELEASE_EFIELD},
      {"\"sig\":\"", "\"sig\":\"0", "sig", RELEASE_EFIELD},
      {"\"sig\":\"", "\"sig\":\"zz", "sig", RELEASE_EFIELD},
  };
  for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
    char *t = replaced(f, edits[i].from, edits[i].to);
    int rc = verify_text(f, t);
    if (rc != edits[i].code || !strstr(f->err, edits[i].names))
      fail_msg("edit %zu: rc %d err %s", i, rc, f->err);
    free(t);
  }
  char *t = malloc(f->sig_len + 3);
  snprintf(t, f->sig_len + 3, "%s x", f->sig);
  assert_int_equal(verify_text(f, t), RELEASE_EJSON);
  free(t);
}

static void test_no_key(void **state) {
  fixture *f = *state;
  f->exp.pub_der = NULL;
  f->exp.pub_len = 0;
  assert_int_equal(verify_text(f, f->sig), RELEASE_ENOKEY);
  assert_non_null(strstr(f->err, "no release key compiled in: updates refused"));
  uint8_t der[CRYPTO_PUB_DER_MAX];
  size_t n = 0;
  assert_int_equal(release_key_load("", 0, der, sizeof der, &n), RELEASE_ENOKEY);
}

static void test_key_load(void **state) {
  fixture *f = *state;
  uint8_t der[CRYPTO_PUB_DER_MAX];
  size_t n = 0;
  assert_int_equal(release_key_load(f->pub, f->pub_len, der, sizeof der, &n), RELEASE_OK);
  assert_int_equal(n, f->pub_len);
  assert_memory_equal(der, f->pub, n);
  /* PEM of the same key. */
  char b64[256], pem[512];
  size_t b = 0;
  assert_int_equal(crypto_b64_encode(f->pub, f->pub_len, b64, sizeof b64, &b), 0);
  int len = snprintf(pem, sizeof pem, "-----BEGIN PUBLIC KEY-----\n%.64s\n%s\n-----END PUBLIC KEY-----\n",
                     b64, b64 + 64);
  memset(der, 0, sizeof der);
  assert_int_equal(release_key_load(pem, (size_t)len, der, sizeof der, &n), RELEASE_OK);
  assert_int_equal(n, f->pub_len);
  assert_memory_equal(der, f->pub, n);
  assert_int_equal(release_key_load("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                    56, der, sizeof der, &n),
                   RELEASE_EKEY);
  assert_int_equal(release_key_load(f->key, f->key_len, der, sizeof der, &n), RELEASE_EKEY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_versions),
      cmocka_unit_test_setup_teardown(test_statement_canonical, setup, teardown),
      cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tampered_statement, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_relabelled_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_arch_length_hash_name, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_load, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
