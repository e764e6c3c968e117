/* test_ecverify.c - the cloud's libcrypto verifier (mc_ec_verify) gives the
 * same verdict as the agent's mbedTLS one (crypto_ec_verify) on signatures
 * the agent makes, on tampered messages and signatures, on other keys and on
 * malformed input (issue #15). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "mc_ecverify.h"

static int rng(void *c, unsigned char *buf, size_t len) {
  (void)c;
  return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

typedef struct key {
  uint8_t priv[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX];
  size_t priv_len, pub_len;
} key;

static void make_key(key *k) {
  assert_int_equal(crypto_ec_generate(rng, NULL, k->priv, sizeof k->priv, &k->priv_len), CRYPTO_OK);
  assert_int_equal(crypto_ec_public_from_private(k->priv, k->priv_len, k->pub, sizeof k->pub, &k->pub_len),
                   CRYPTO_OK);
}

/* Both verifiers, same answer; returns it. */
static int both(const uint8_t *pub, size_t pub_len, const void *msg, size_t len, const uint8_t *sig,
                size_t sig_len) {
  int a = crypto_ec_verify(pub, pub_len, msg, len, sig, sig_len);
  int b = mc_ec_verify(pub, pub_len, msg, len, sig, sig_len);
  assert_int_equal(a, b);
  return a;
}

static void same_verdicts(void **st) {
  (void)st;
  key k, other;
  make_key(&k);
  make_key(&other);
  for (int round = 0; round < 40; round++) {
    uint8_t msg[300], sig[CRYPTO_SIG_MAX];
    size_t len = (size_t)round * 7, sig_len = 0;
    assert_int_equal(getrandom(msg, sizeof msg, 0), (ssize_t)sizeof msg);
    assert_int_equal(crypto_ec_sign(k.priv, k.priv_len, msg, len, rng, NULL, sig, sizeof sig, &sig_len), CRYPTO_OK);
    assert_int_equal(both(k.pub, k.pub_len, msg, len, sig, sig_len), CRYPTO_OK);
    assert_int_equal(both(other.pub, other.pub_len, msg, len, sig, sig_len), CRYPTO_EVERIFY);
    if (len) {
      msg[round % len] ^= 0x01;
      assert_int_equal(both(k.pub, k.pub_len, msg, len, sig, sig_len), CRYPTO_EVERIFY);
      msg[round % len] ^= 0x01;
    }
    uint8_t bad[CRYPTO_SIG_MAX];
    memcpy(bad, sig, sig_len);
    bad[sig_len - 1 - (size_t)round % 8] ^= 0x40; /* inside s */
    assert_int_equal(both(k.pub, k.pub_len, msg, len, bad, sig_len), CRYPTO_EVERIFY);
    assert_int_equal(both(k.pub, k.pub_len, msg, len, sig, sig_len - 1), CRYPTO_EVERIFY);
    assert_int_equal(both(k.pub, k.pub_len, msg, len, sig, 0), CRYPTO_EVERIFY);
  }
}

static void malformed_keys(void **st) {
  (void)st;
  key k;
  make_key(&k);
  uint8_t sig[CRYPTO_SIG_MAX];
  size_t sig_len = 0;
  assert_int_equal(crypto_ec_sign(k.priv, k.priv_len, "m", 1, rng, NULL, sig, sizeof sig, &sig_len), CRYPTO_OK);
  assert_int_equal(both(k.pub, k.pub_len - 1, "m", 1, sig, sig_len), CRYPTO_EINVAL); /* cut */
  uint8_t longer[CRYPTO_PUB_DER_MAX + 1];
  memcpy(longer, k.pub, k.pub_len);
  longer[k.pub_len] = 0;
  assert_int_equal(both(longer, k.pub_len + 1, "m", 1, sig, sig_len), CRYPTO_EINVAL); /* trailing byte */
  assert_int_equal(both((const uint8_t *)"not a key", 9, "m", 1, sig, sig_len), CRYPTO_EINVAL);
  assert_int_equal(mc_ec_verify(NULL, 0, "m", 1, sig, sig_len), CRYPTO_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(same_verdicts), cmocka_unit_test(malformed_keys)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
