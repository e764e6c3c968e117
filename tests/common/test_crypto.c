/* Tests for agent/common/crypto.c: vectors and ECDSA behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/crypto.h"

/* Deterministic xorshift "rng" so key generation is reproducible. */
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

static void test_sha256_vector(void **state) {
  uint8_t h[32];
  char hex[65];
  crypto_sha256("abc", 3, h);
  crypto_hex(h, 32, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hex(void **state) {
  const uint8_t in[] = {0x00, 0x01, 0xab, 0xff};
  char out[9];
  crypto_hex(in, 4, out);
  assert_string_equal(out, "0001abff");
}

static void test_hmac_rfc4231(void **state) {
  uint8_t mac[32];
  char hex[65];
  crypto_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, mac);
  crypto_hex(mac, 32, hex);
  assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  /* RFC 4231 test case 1 */
  uint8_t key[20];
  memset(key, 0x0b, sizeof key);
  crypto_hmac_sha256(key, sizeof key, "Hi There", 8, mac);
  crypto_hex(mac, 32, hex);
  assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_equal(void **state) {
  assert_true(crypto_equal("abcd", "abcd", 4));
  assert_false(crypto_equal("abcd", "abce", 4));
  assert_true(crypto_equal("x", "y", 0));
}

static void test_b64_vectors(void **state) {
  static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    char out[32];
    uint8_t back[32];
    size_t n = 99, m = 99;
    assert_int_equal(crypto_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out,
                                       sizeof out, &n),
                     CRYPTO_OK);
    assert_int_equal(n, strlen(enc[i]));
    assert_memory_equal(out, enc[i], n);
    assert_int_equal(crypto_b64_decode(enc[i], strlen(enc[i]), back, sizeof back, &m), CRYPTO_OK);
    assert_int_equal(m, strlen(plain[i]));
    assert_memory_equal(back, plain[i], m);
  }
  char small[4];
  size_t n;
  assert_int_equal(crypto_b64_encode((const uint8_t *)"foobar", 6, small, sizeof small, &n),
                   CRYPTO_ESPACE);
  uint8_t b[2];
  assert_int_equal(crypto_b64_decode("Zm9vYmFy", 8, b, sizeof b, &n), CRYPTO_ESPACE);
  uint8_t big[16];
  assert_int_equal(crypto_b64_decode("Zm9v!mFy", 8, big, sizeof big, &n), CRYPTO_EINVAL);
}

static void test_ec_roundtrip(void **state) {
  uint64_t seed = 0x1234567;
  uint8_t key[CRYPTO_KEY_DER_MAX], key2[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX],
      pub2[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX], sig2[CRYPTO_SIG_MAX];
  size_t klen, k2len, plen, p2len, slen, s2len;
  assert_int_equal(crypto_ec_generate(test_rng, &seed, key, sizeof key, &klen), CRYPTO_OK);
  assert_int_equal(crypto_ec_generate(test_rng, &seed, key2, sizeof key2, &k2len), CRYPTO_OK);
  assert_int_equal(crypto_ec_public_from_private(key, klen, pub, sizeof pub, &plen), CRYPTO_OK);
  assert_int_equal(crypto_ec_public_from_private(key2, k2len, pub2, sizeof pub2, &p2len),
                   CRYPTO_OK);
  const char *msg = "outpost-session-v1\nagent\nchallenge";
  assert_int_equal(
      crypto_ec_sign(key, klen, msg, strlen(msg), test_rng, &seed, sig, sizeof sig, &slen),
      CRYPTO_OK);
  assert_true(slen <= CRYPTO_SIG_MAX);
  assert_int_equal(crypto_ec_verify(pub, plen, msg, strlen(msg), sig, slen), CRYPTO_OK);
  /* Deterministic (RFC 6979): same key and message give the same signature. */
  assert_int_equal(
      crypto_ec_sign(key, klen, msg, strlen(msg), test_rng, &seed, sig2, sizeof sig2, &s2len),
      CRYPTO_OK);
  assert_int_equal(slen, s2len);
  assert_memory_equal(sig, sig2, slen);
  /* Tampered message and tampered signature fail. */
  assert_int_equal(crypto_ec_verify(pub, plen, "outpost-session-v1\nagent\nchallengE",
                                    strlen(msg), sig, slen),
                   CRYPTO_EVERIFY);
  sig2[slen - 1] ^= 1;
  assert_int_equal(crypto_ec_verify(pub, plen, msg, strlen(msg), sig2, slen), CRYPTO_EVERIFY);
  assert_int_equal(crypto_ec_verify(pub, plen, msg, strlen(msg), sig, slen - 1), CRYPTO_EVERIFY);
  /* Wrong key fails. */
  assert_int_equal(crypto_ec_verify(pub2, p2len, msg, strlen(msg), sig, slen), CRYPTO_EVERIFY);
  /* Garbage keys are EINVAL, small buffers ESPACE. */
  assert_int_equal(crypto_ec_verify((const uint8_t *)"junk", 4, msg, 3, sig, slen),
                   CRYPTO_EINVAL);
  assert_int_equal(crypto_ec_sign((const uint8_t *)"junk", 4, msg, 3, test_rng, &seed, sig,
                                  sizeof sig, &slen),
                   CRYPTO_EINVAL);
  assert_int_equal(crypto_ec_public_from_private(key, klen, pub, 10, &plen), CRYPTO_ESPACE);
  assert_int_equal(crypto_ec_generate(test_rng, &seed, key, 10, &klen), CRYPTO_ESPACE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_vector), cmocka_unit_test(test_hex),
      cmocka_unit_test(test_hmac_rfc4231),  cmocka_unit_test(test_equal),
      cmocka_unit_test(test_b64_vectors),   cmocka_unit_test(test_ec_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
