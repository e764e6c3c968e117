/* mc_p11.h - ECDSA P-256 keys inside a PKCS#11 token (SoftHSM2 in tests and
 * the demo), used only through the standard PKCS#11 API: the private key is
 * generated in the token (CKA_SENSITIVE, not extractable) and never leaves it.
 *
 * A key is found by its CKA_ID, which is the SHA-256 of its public key's DER
 * SubjectPublicKeyInfo: whoever holds the public key (e.g. from TUF metadata)
 * can name the private key without any other state. CKA_LABEL is for humans.
 *
 * Ownership: mc_p11_open allocates the handle (module loaded, session open,
 * user logged in); mc_p11_close logs out, finalizes, unloads and frees (NULL
 * is fine). Buffers are the caller's. One handle per process at a time
 * (PKCS#11 modules keep global state between C_Initialize and C_Finalize).
 * Single-threaded.
 *
 * Return codes: MC_P11_OK (0) or negative, with a message in err naming the
 * module, token or key (the PIN is never printed):
 *   MC_P11_EINVAL  bad argument (empty label, buffer too small, PIN file
 *                  unreadable, empty or over MC_P11_PIN_MAX bytes)
 *   MC_P11_EMODULE the module could not be loaded or initialised
 *   MC_P11_ETOKEN  no token with that label
 *   MC_P11_EPIN    login refused (wrong or locked PIN)
 *   MC_P11_ENOKEY  no private key with that public key in the token
 *   MC_P11_EFAIL   another PKCS#11 failure (the CKR_ code is in err)
 */
#ifndef OUTPOST_MOCKCLOUD_MC_P11_H
#define OUTPOST_MOCKCLOUD_MC_P11_H

#include <stddef.h>
#include <stdint.h>

#define MC_P11_OK        0
#define MC_P11_EINVAL  (-1)
#define MC_P11_EMODULE (-2)
#define MC_P11_ETOKEN  (-3)
#define MC_P11_EPIN    (-4)
#define MC_P11_ENOKEY  (-5)
#define MC_P11_EFAIL   (-6)

#define MC_P11_PIN_MAX 255
#define MC_P11_LABEL_MAX 32 /* a token label is 32 bytes, space padded */
#define MC_P11_PUB_DER_LEN 91 /* P-256 SubjectPublicKeyInfo, uncompressed point */

typedef struct mc_p11 mc_p11;

/* Loads module (a path to a PKCS#11 .so), finds the token by label, opens a
 * read-write session and logs in as user with the PIN read from pin_file
 * (first line; a trailing newline is not part of it). */
int mc_p11_open(const char *module, const char *token_label, const char *pin_file,
                mc_p11 **out, char *err, size_t err_cap);
void mc_p11_close(mc_p11 *p);

/* Generates a P-256 key pair inside the token (token objects, private key
 * sensitive and not extractable), labelled label, and writes its public key
 * as DER SubjectPublicKeyInfo (MC_P11_PUB_DER_LEN bytes) into pub. */
int mc_p11_generate(mc_p11 *p, const char *label, uint8_t *pub, size_t cap, size_t *pub_len,
                    char *err, size_t err_cap);

/* Signs SHA-256(msg) with the token's private key for public key pub
 * (CKM_ECDSA on the digest) and writes a DER ECDSA signature into sig. */
int mc_p11_sign(mc_p11 *p, const uint8_t *pub, size_t pub_len, const void *msg,
                size_t msg_len, uint8_t *sig, size_t cap, size_t *sig_len, char *err,
                size_t err_cap);

/* 1 when the token holds a private key for pub, 0 when not, <0 on error. */
int mc_p11_has_key(mc_p11 *p, const uint8_t *pub, size_t pub_len, char *err, size_t err_cap);

/* Raw r||s (2 * 32 bytes) to DER ECDSA-Sig-Value. Exposed for tests. */
int mc_p11_raw_to_der(const uint8_t rs[64], uint8_t *der, size_t cap, size_t *der_len);

#endif
