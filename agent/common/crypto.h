/* crypto.h - small wrappers over mbedTLS shared by agent and cloud, and
 * over OpenSSL's libcrypto for verifying TUF metadata (crypto_pem_verify,
 * crypto_ed25519_verify): the release signature stays on mbedTLS
 * (crypto_ec_verify), so the two chains an update must pass are checked by
 * two libraries, and one library's bug does not open both (docs/tuf.md).
 *
 * Randomness always comes from the caller (crypto_rng_fn), so the simulator's
 * seeded PRNG and the real getrandom() both plug in; nothing here keeps global
 * state.
 *
 * Return codes: CRYPTO_OK (0) or a negative CRYPTO_E* code.
 *   CRYPTO_EINVAL  malformed input (bad base64, bad DER/PEM, wrong key type)
 *   CRYPTO_EVERIFY signature does not verify
 *   CRYPTO_ESPACE  output buffer too small
 *   CRYPTO_EFAIL   mbedTLS / libcrypto failed for another reason (incl. rng
 *                  failure, allocation failure)
 */
#ifndef OUTPOST_COMMON_CRYPTO_H
#define OUTPOST_COMMON_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_OK        0
#define CRYPTO_EINVAL  (-1)
#define CRYPTO_EVERIFY (-2)
#define CRYPTO_ESPACE  (-3)
#define CRYPTO_EFAIL   (-4)

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SIG_MAX 80      /* DER ECDSA P-256 signature */
#define CRYPTO_PUB_DER_MAX 100 /* DER SubjectPublicKeyInfo, P-256 */
#define CRYPTO_KEY_DER_MAX 160 /* DER EC private key, P-256 */
#define CRYPTO_ED25519_PUB_LEN 32 /* RFC 8032 public key */
#define CRYPTO_ED25519_SIG_LEN 64 /* RFC 8032 signature (R || S) */

/* Same shape as mbedTLS's f_rng: fill buf, return 0 on success. */
typedef int (*crypto_rng_fn)(void *rng_ctx, unsigned char *buf, size_t len);

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[CRYPTO_SHA256_LEN]);
/* HMAC-SHA-256 of the concatenation of n parts, streamed (never assembled). */
typedef struct crypto_part {
  const void *data;
  size_t len;
} crypto_part;
void crypto_hmac_sha256_parts(const uint8_t *key, size_t key_len, const crypto_part *parts,
                              size_t n, uint8_t out[CRYPTO_SHA256_LEN]);
/* Constant-time comparison; 1 when equal. */
int crypto_equal(const void *a, const void *b, size_t len);

/* Lower-case hex. out must hold 2*len+1 bytes. */
void crypto_hex(const uint8_t *in, size_t len, char *out);
/* Standard base64 with padding. Returns CRYPTO_OK and *out_len, or CRYPTO_ESPACE/EINVAL. */
int crypto_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap, size_t *out_len);
int crypto_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* ECDSA P-256. Keys travel as DER: private key (RFC 5915 ECPrivateKey) and
 * public key (SubjectPublicKeyInfo). crypto_ec_generate draws d from rng as
 * mbedTLS does and computes d*G on libcrypto. */
int crypto_ec_generate(crypto_rng_fn rng, void *rng_ctx, uint8_t *key_der, size_t cap,
                       size_t *key_len);
int crypto_ec_public_from_private(const uint8_t *key_der, size_t key_len, uint8_t *pub_der,
                                  size_t cap, size_t *pub_len);
/* Signs SHA-256(msg); deterministic (RFC 6979): the same DER signature
 * mbedTLS's deterministic ECDSA makes. The curve arithmetic is libcrypto's
 * constant-time P-256, which needs no caller randomness: rng must be
 * non-NULL but is not drawn from (it blinded mbedTLS's arithmetic before). */
int crypto_ec_sign(const uint8_t *key_der, size_t key_len, const void *msg, size_t msg_len,
                   crypto_rng_fn rng, void *rng_ctx, uint8_t *sig, size_t cap, size_t *sig_len);
/* CRYPTO_OK when sig is a valid signature of SHA-256(msg) by pub; else EVERIFY/EINVAL. */
int crypto_ec_verify(const uint8_t *pub_der, size_t pub_len, const void *msg, size_t msg_len,
                     const uint8_t *sig, size_t sig_len);

/* Ed25519 (RFC 8032, pure: msg itself is signed, no pre-hash), through
 * OpenSSL libcrypto. pub_len and sig_len must be exactly
 * CRYPTO_ED25519_PUB_LEN / CRYPTO_ED25519_SIG_LEN: callers pass what they
 * decoded from untrusted text, and a wrong size must not reach libcrypto.
 * CRYPTO_OK when sig is a valid signature of msg by pub; CRYPTO_EINVAL for a
 * wrong-sized or unusable key (NULL pointers included); CRYPTO_EVERIFY for a
 * wrong-sized or non-verifying signature; CRYPTO_EFAIL when libcrypto could
 * not allocate. Leaves libcrypto's (thread-local) error queue empty so a
 * failure here is not later reported by libcurl's OpenSSL backend. */
int crypto_ed25519_verify(const uint8_t *pub, size_t pub_len, const void *msg, size_t msg_len,
                          const uint8_t *sig, size_t sig_len);

/* TUF's signature schemes over a PEM public key ("PUBLIC KEY", i.e.
 * SubjectPublicKeyInfo, as securesystemslib writes; for RSA also PKCS#1
 * "RSA PUBLIC KEY", which mbedTLS read too), through libcrypto. */
typedef enum {
  CRYPTO_SCHEME_ECDSA_P256_SHA256,   /* ecdsa-sha2-nistp256: DER signature */
  CRYPTO_SCHEME_RSA_PSS_SHA256,      /* rsassa-pss-sha256, MGF1-SHA256, any salt length */
  CRYPTO_SCHEME_RSA_PKCS1V15_SHA256, /* rsa-pkcs1v15-sha256 */
} crypto_scheme;
#define CRYPTO_PEM_MAX 16384     /* longer key text is refused unread */
#define CRYPTO_RSA_MIN_BITS 2048 /* a shorter RSA key never verifies */
#define CRYPTO_RSA_MAX_BITS 8192
/* CRYPTO_OK when sig is a valid signature of msg (hashed with SHA-256 by the
 * scheme) by the key in pem[0..pem_len); CRYPTO_EINVAL when the key is not
 * one PEM public key of the scheme's type (P-256 for ECDSA; RSA of
 * CRYPTO_RSA_MIN_BITS..MAX_BITS) or is longer than CRYPTO_PEM_MAX;
 * CRYPTO_EVERIFY when sig does not verify (an RSA signature must be exactly
 * the modulus' length); CRYPTO_EFAIL when libcrypto could not allocate.
 * Leaves libcrypto's error queue empty, as crypto_ed25519_verify does. */
int crypto_pem_verify(const char *pem, size_t pem_len, crypto_scheme scheme, const void *msg,
                      size_t msg_len, const uint8_t *sig, size_t sig_len);

#endif
