/* mc_ecverify.h - P-256 ECDSA/SHA-256 verification for the mock cloud with
 * OpenSSL's libcrypto (issue #15).
 *
 * The agent signs and verifies with its own code (common/crypto.c, mbedTLS);
 * the cloud is not the endpoint, and measured here libcrypto verifies about
 * 19x faster (78 us against 1,472 us), which was a quarter of a simulated
 * fleet's instructions. Same contract as crypto_ec_verify: pub_der is a
 * SubjectPublicKeyInfo of a P-256 key, sig a DER ECDSA signature over
 * SHA-256(msg). tests/cloud/test_ecverify.c checks that both give the same
 * verdict on valid, tampered and malformed input.
 *
 * Returns CRYPTO_OK, CRYPTO_EVERIFY (does not verify, or the signature is
 * malformed) or CRYPTO_EINVAL (NULL, or not a P-256 public key).
 * No state: safe from any thread.
 */
#ifndef OUTPOST_MC_ECVERIFY_H
#define OUTPOST_MC_ECVERIFY_H

#include <stddef.h>
#include <stdint.h>

int mc_ec_verify(const uint8_t *pub_der, size_t pub_len, const void *msg, size_t msg_len, const uint8_t *sig,
                 size_t sig_len);

#endif
