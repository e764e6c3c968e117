/* Tests for agent/common/crypto.c: vectors, ECDSA behaviour, and TUF's
 * schemes through libcrypto (crypto_pem_verify; keys and signatures made
 * with OpenSSL's EVP API here, and with mbedTLS for the cross-check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <mbedtls/pk.h>
#include <openssl/ecdsa.h>

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

/* ---- crypto_pem_verify: TUF's schemes through libcrypto ---- */

/* The key's public half as SubjectPublicKeyInfo PEM (malloc'd, NUL-ended),
 * or with pkcs1 as PKCS#1 "RSA PUBLIC KEY". */
static char *pub_pem(EVP_PKEY *pk, int pkcs1) {
  BIO *b = BIO_new(BIO_s_mem());
  assert_non_null(b);
  if (pkcs1) {
    OSSL_ENCODER_CTX *e =
        OSSL_ENCODER_CTX_new_for_pkey(pk, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "PEM", "type-specific", NULL);
    assert_non_null(e);
    assert_int_equal(OSSL_ENCODER_to_bio(e, b), 1);
    OSSL_ENCODER_CTX_free(e);
  } else
    assert_int_equal(PEM_write_bio_PUBKEY(b, pk), 1);
  char *data;
  long n = BIO_get_mem_data(b, &data);
  assert_true(n > 0);
  char *out = malloc((size_t)n + 1);
  assert_non_null(out);
  memcpy(out, data, (size_t)n);
  out[n] = 0;
  BIO_free(b);
  return out;
}

/* Signs msg with SHA-256 and the given RSA padding (PSS with salt_len), or
 * ECDSA when padding is 0. */
static size_t evp_sign(EVP_PKEY *pk, int padding, int salt_len, const char *msg, uint8_t *sig,
                       size_t cap) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  assert_non_null(ctx);
  assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, pk), 1);
  if (padding) assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, padding), 1);
  if (padding == RSA_PKCS1_PSS_PADDING) assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt_len), 1);
  size_t n = cap;
  assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const unsigned char *)msg, strlen(msg)), 1);
  EVP_MD_CTX_free(ctx);
  return n;
}

static int pv(const char *pem, crypto_scheme sc, const char *msg, const uint8_t *sig, size_t n) {
  return crypto_pem_verify(pem, strlen(pem), sc, msg, strlen(msg), sig, n);
}

static void test_pem_verify_rsa(void **state) {
  (void)state;
  const char *msg = "{\"_type\":\"timestamp\",\"version\":7}";
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  assert_non_null(rsa);
  assert_non_null(weak);
  assert_non_null(ec);
  char *pem = pub_pem(rsa, 0), *pem1 = pub_pem(rsa, 1), *weak_pem = pub_pem(weak, 0), *ec_pem = pub_pem(ec, 0);
  uint8_t pss[1024], pss_max[1024], v15[1024], bad[1024];
  size_t npss = evp_sign(rsa, RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_DIGEST, msg, pss, sizeof pss);
  size_t nmax = evp_sign(rsa, RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_MAX, msg, pss_max, sizeof pss_max);
  size_t nv15 = evp_sign(rsa, RSA_PKCS1_PADDING, 0, msg, v15, sizeof v15);
  assert_int_equal(npss, 256);
  /* Each scheme verifies its own signature; PSS at any salt length. */
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PSS_SHA256, msg, pss, npss), CRYPTO_OK);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PSS_SHA256, msg, pss_max, nmax), CRYPTO_OK);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PKCS1V15_SHA256, msg, v15, nv15), CRYPTO_OK);
  /* ...and not the other's, nor another message. */
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PKCS1V15_SHA256, msg, pss, npss), CRYPTO_EVERIFY);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PSS_SHA256, msg, v15, nv15), CRYPTO_EVERIFY);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PSS_SHA256, "{}", pss, npss), CRYPTO_EVERIFY);
  /* A flipped bit, a short signature, a signature with a byte too many. */
  memcpy(bad, pss, npss);
  bad[100] ^= 0x10;
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PSS_SHA256, msg, bad, npss), CRYPTO_EVERIFY);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PKCS1V15_SHA256, msg, v15 + 1, nv15 - 1), CRYPTO_EVERIFY);
  memcpy(bad + 1, v15, nv15);
  bad[0] = 0;
  assert_int_equal(pv(pem, CRYPTO_SCHEME_RSA_PKCS1V15_SHA256, msg, bad, nv15 + 1), CRYPTO_EVERIFY);
  /* An RSA key may also be written as PKCS#1 ("RSA PUBLIC KEY"), which
   * mbedTLS read as well. */
  assert_int_equal(pv(pem1, CRYPTO_SCHEME_RSA_PKCS1V15_SHA256, msg, v15, nv15), CRYPTO_OK);
  /* Keys that never count: under 2048 bits (signed correctly), an EC key
   * for an RSA scheme, an RSA key for ECDSA. */
  size_t nweak = evp_sign(weak, RSA_PKCS1_PADDING, 0, msg, bad, sizeof bad);
  assert_int_equal(pv(weak_pem, CRYPTO_SCHEME_RSA_PKCS1V15_SHA256, msg, bad, nweak), CRYPTO_EINVAL);
  assert_int_equal(pv(ec_pem, CRYPTO_SCHEME_RSA_PSS_SHA256, msg, pss, npss), CRYPTO_EINVAL);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, pss, npss), CRYPTO_EINVAL);
  free(pem);
  free(pem1);
  free(weak_pem);
  free(ec_pem);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(weak);
  EVP_PKEY_free(ec);
}

static void test_pem_verify_ecdsa(void **state) {
  (void)state;
  const char *msg = "{\"_type\":\"snapshot\"}";
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  assert_non_null(ec);
  assert_non_null(p384);
  char *pem = pub_pem(ec, 0), *p384_pem = pub_pem(p384, 0);
  uint8_t sig[CRYPTO_SIG_MAX + 1], sig384[160];
  size_t n = evp_sign(ec, 0, 0, msg, sig, sizeof sig);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, sig, n), CRYPTO_OK);
  assert_int_equal(pv(pem, CRYPTO_SCHEME_ECDSA_P256_SHA256, "{}", sig, n), CRYPTO_EVERIFY);
  /* DER with a trailing byte is not the signature. */
  sig[n] = 0;
  assert_int_equal(pv(pem, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, sig, n + 1), CRYPTO_EVERIFY);
  sig[n / 2] ^= 0x01;
  assert_int_equal(pv(pem, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, sig, n), CRYPTO_EVERIFY);
  /* Another curve never counts, even with its own valid signature. */
  size_t n384 = evp_sign(p384, 0, 0, msg, sig384, sizeof sig384);
  assert_int_equal(pv(p384_pem, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, sig384, n384), CRYPTO_EINVAL);
  /* What the cloud's signer makes (mbedTLS, crypto_ec_sign) verifies here:
   * the two libraries agree on the DER key and signature. */
  uint64_t seed = 0x5eed;
  uint8_t key[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX], msig[CRYPTO_SIG_MAX];
  size_t klen, plen, mlen;
  assert_int_equal(crypto_ec_generate(test_rng, &seed, key, sizeof key, &klen), CRYPTO_OK);
  assert_int_equal(crypto_ec_public_from_private(key, klen, pub, sizeof pub, &plen), CRYPTO_OK);
  assert_int_equal(crypto_ec_sign(key, klen, msg, strlen(msg), test_rng, &seed, msig, sizeof msig, &mlen), CRYPTO_OK);
  const unsigned char *p = pub;
  EVP_PKEY *mk = d2i_PUBKEY(NULL, &p, (long)plen);
  assert_non_null(mk);
  char *mpem = pub_pem(mk, 0);
  assert_int_equal(pv(mpem, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, msig, mlen), CRYPTO_OK);
  /* Junk, an empty key, an over-long key text, an unknown scheme. */
  assert_int_equal(pv("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                      CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, msig, mlen), CRYPTO_EINVAL);
  assert_int_equal(crypto_pem_verify(mpem, 0, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, strlen(msg), msig, mlen),
                   CRYPTO_EINVAL);
  assert_int_equal(crypto_pem_verify(mpem, CRYPTO_PEM_MAX + 1, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, strlen(msg),
                                     msig, mlen),
                   CRYPTO_EINVAL);
  assert_int_equal(crypto_pem_verify(mpem, strlen(mpem), (crypto_scheme)99, msg, strlen(msg), msig, mlen),
                   CRYPTO_EINVAL);
  assert_int_equal(pv(mpem, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, msig, 0), CRYPTO_EVERIFY);
  /* The same key's DER under another PEM name, with a byte after it, and
   * with its point moved off the curve: never a key. */
  char wrapped[1024];
  BIO *wb = BIO_new(BIO_s_mem());
  assert_non_null(wb);
  assert_true(PEM_write_bio(wb, "CERTIFICATE", "", pub, (long)plen) > 0);
  int wn = BIO_read(wb, wrapped, (int)sizeof wrapped - 1);
  assert_true(wn > 0);
  wrapped[wn] = 0;
  assert_int_equal(pv(wrapped, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, msig, mlen), CRYPTO_EINVAL);
  uint8_t longer[CRYPTO_PUB_DER_MAX + 1];
  memcpy(longer, pub, plen);
  longer[plen] = 0;
  assert_true(PEM_write_bio(wb, "PUBLIC KEY", "", longer, (long)plen + 1) > 0);
  wn = BIO_read(wb, wrapped, (int)sizeof wrapped - 1);
  assert_true(wn > 0);
  wrapped[wn] = 0;
  assert_int_equal(pv(wrapped, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, msig, mlen), CRYPTO_EINVAL);
  memcpy(longer, pub, plen);
  longer[plen - 1] ^= 0x01; /* the last byte of y */
  assert_true(PEM_write_bio(wb, "PUBLIC KEY", "", longer, (long)plen) > 0);
  wn = BIO_read(wb, wrapped, (int)sizeof wrapped - 1);
  assert_true(wn > 0);
  wrapped[wn] = 0;
  assert_int_equal(pv(wrapped, CRYPTO_SCHEME_ECDSA_P256_SHA256, msg, msig, mlen), CRYPTO_EINVAL);
  BIO_free(wb);
  free(mpem);
  free(pem);
  free(p384_pem);
  EVP_PKEY_free(mk);
  EVP_PKEY_free(ec);
  EVP_PKEY_free(p384);
}

/* The signature mbedTLS 2.28 makes for SHA-256(msg) (deterministic, RFC
 * 6979): what crypto_ec_sign made before it moved to libcrypto, and what
 * every simulator trace was recorded with. */
static size_t mbedtls_reference_sig(const uint8_t *key, size_t klen, const char *msg, size_t len,
                                    uint64_t *seed, uint8_t *out) {
  uint8_t hash[CRYPTO_SHA256_LEN];
  crypto_sha256(msg, len, hash);
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  assert_int_equal(mbedtls_pk_parse_key(&pk, key, klen, NULL, 0), 0);
  size_t n = 0;
  assert_int_equal(mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, sizeof hash, out, &n, test_rng,
                                   seed),
                   0);
  mbedtls_pk_free(&pk);
  return n;
}

static void test_ec_sign_matches_mbedtls(void **state) {
  (void)state;
  uint64_t seed = 0xfeedface12345ULL;
  for (int i = 0; i < 300; i++) {
    uint8_t key[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX], sig[CRYPTO_SIG_MAX],
        ref[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t klen, plen, slen;
    assert_int_equal(crypto_ec_generate(test_rng, &seed, key, sizeof key, &klen), CRYPTO_OK);
    assert_int_equal(crypto_ec_public_from_private(key, klen, pub, sizeof pub, &plen), CRYPTO_OK);
    /* The public point libcrypto computed is d*G as mbedTLS computes it. */
    mbedtls_pk_context prv, pb;
    mbedtls_pk_init(&prv);
    mbedtls_pk_init(&pb);
    assert_int_equal(mbedtls_pk_parse_key(&prv, key, klen, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_parse_public_key(&pb, pub, plen), 0);
    assert_int_equal(mbedtls_ecp_check_pub_priv(mbedtls_pk_ec(pb), mbedtls_pk_ec(prv)), 0);
    mbedtls_pk_free(&prv);
    mbedtls_pk_free(&pb);
    char msg[96];
    size_t mlen = (size_t)(i % 90);
    test_rng(&seed, (unsigned char *)msg, mlen);
    assert_int_equal(crypto_ec_sign(key, klen, msg, mlen, test_rng, &seed, sig, sizeof sig, &slen),
                     CRYPTO_OK);
    size_t rlen = mbedtls_reference_sig(key, klen, msg, mlen, &seed, ref);
    assert_int_equal(slen, rlen);
    assert_memory_equal(sig, ref, slen);
    assert_int_equal(crypto_ec_verify(pub, plen, msg, mlen, sig, slen), CRYPTO_OK);
  }
  /* A signature that does not fit is ESPACE, not a cut one. */
  uint8_t key[CRYPTO_KEY_DER_MAX], small[16];
  size_t klen, slen = 0;
  assert_int_equal(crypto_ec_generate(test_rng, &seed, key, sizeof key, &klen), CRYPTO_OK);
  assert_int_equal(crypto_ec_sign(key, klen, "m", 1, test_rng, &seed, small, sizeof small, &slen),
                   CRYPTO_ESPACE);
}

/* RFC 6979 appendix A.2.5: P-256, SHA-256, messages "sample" and "test". */
static void test_ec_sign_rfc6979_vectors(void **state) {
  (void)state;
  static const char *const x_hex =
      "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
  static const struct {
    const char *msg, *r, *s;
  } v[] = {
      {"sample", "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
       "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"},
      {"test", "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
       "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083"},
  };
  /* The RFC's private key as the ECPrivateKey DER the agent stores. */
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
  assert_int_equal(mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1), 0);
  assert_int_equal(mbedtls_mpi_read_string(&ec->d, 16, x_hex), 0);
  uint64_t seed = 7;
  assert_int_equal(mbedtls_ecp_mul(&ec->grp, &ec->Q, &ec->d, &ec->grp.G, test_rng, &seed), 0);
  unsigned char tmp[CRYPTO_KEY_DER_MAX + 64];
  int n = mbedtls_pk_write_key_der(&pk, tmp, sizeof tmp);
  assert_true(n > 0);
  mbedtls_pk_free(&pk);
  const uint8_t *key = tmp + sizeof tmp - n;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t sig[CRYPTO_SIG_MAX];
    size_t slen = 0;
    assert_int_equal(crypto_ec_sign(key, (size_t)n, v[i].msg, strlen(v[i].msg), test_rng, &seed,
                                    sig, sizeof sig, &slen),
                     CRYPTO_OK);
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)slen);
    assert_non_null(es);
    char *r = BN_bn2hex(ECDSA_SIG_get0_r(es)), *s = BN_bn2hex(ECDSA_SIG_get0_s(es));
    /* Upper-case hex of whole bytes, as the RFC prints them (no vector
     * here starts with a zero byte, which BN_bn2hex would drop). */
    assert_string_equal(r, v[i].r);
    assert_string_equal(s, v[i].s);
    OPENSSL_free(r);
    OPENSSL_free(s);
    ECDSA_SIG_free(es);
  }
}

/* SHA-256 and HMAC moved to libcrypto: they must equal mbedTLS's for every
 * length around the block edges, long keys (hashed first) and any split
 * of the message into parts. */
static void test_sha_hmac_match_mbedtls(void **state) {
  (void)state;
  uint64_t seed = 99;
  static unsigned char msg[5000], key[200];
  test_rng(&seed, msg, sizeof msg);
  test_rng(&seed, key, sizeof key);
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  for (size_t len = 0; len < sizeof msg; len += len < 200 ? 1 : 97) {
    uint8_t a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
    crypto_sha256(msg, len, a);
    assert_int_equal(mbedtls_sha256_ret(msg, len, b, 0), 0);
    assert_memory_equal(a, b, sizeof a);
    size_t klen = len % sizeof key;
    crypto_hmac_sha256(key, klen, msg, len, a);
    assert_int_equal(mbedtls_md_hmac(md, key, klen, msg, len, b), 0);
    assert_memory_equal(a, b, sizeof a);
    /* The same message in three parts, cut at places that move with len. */
    size_t c1 = len / 3, c2 = len - len / 5;
    crypto_part parts[] = {{msg, c1}, {msg + c1, c2 - c1}, {msg + c2, len - c2}};
    crypto_hmac_sha256_parts(key, klen, parts, 3, a);
    assert_memory_equal(a, b, sizeof a);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_vector), cmocka_unit_test(test_hex),
      cmocka_unit_test(test_hmac_rfc4231),  cmocka_unit_test(test_equal),
      cmocka_unit_test(test_b64_vectors),   cmocka_unit_test(test_ec_roundtrip),
      cmocka_unit_test(test_sha_hmac_match_mbedtls),
      cmocka_unit_test(test_ec_sign_matches_mbedtls), cmocka_unit_test(test_ec_sign_rfc6979_vectors),
      cmocka_unit_test(test_pem_verify_rsa), cmocka_unit_test(test_pem_verify_ecdsa),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
