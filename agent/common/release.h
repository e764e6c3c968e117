/* release.h - the release statement and its detached signature (docs/updates.md,
 * "The release statement"): the second chain, independent of TUF.
 *
 * The release key signs the canonical JSON (canon.h) of
 *   {"arch":A,"length":N,"name":"outpost-agent","sha256":H,"version":V}
 * and the .sig file is {"signed":{...},"keyid":K,"sig":S} (at most
 * RELEASE_SIG_FILE_MAX bytes), K = hex SHA-256 of the public key's DER
 * SubjectPublicKeyInfo, S = hex DER ECDSA P-256 signature over SHA-256 of the
 * canonical statement. A verifier re-encodes "signed" itself and never trusts
 * the file's byte layout.
 *
 * Versions are MAJOR.MINOR.PATCH, each decimal 0..999999 without leading
 * zeros (a lone "0" is fine), compared numerically field by field. Nothing
 * else is a version: no "v" prefix, no suffix, no whitespace, no sign.
 *
 * Ownership: release_statement_encode and release_sign allocate *out
 * (NUL-terminated, length in *out_len without the NUL); the caller frees it
 * with free(). On error *out is NULL. Everything else writes only into
 * caller-provided fixed-size storage. No global state.
 *
 * Return codes: RELEASE_OK (0) or negative; every rejection also writes a
 * message naming the field into err (when err_cap > 0):
 *   RELEASE_EINVAL    NULL or out-of-range argument
 *   RELEASE_ENOMEM    allocation failed
 *   RELEASE_ETOOBIG   .sig file larger than RELEASE_SIG_FILE_MAX
 *   RELEASE_EJSON     not JSON, not an object, trailing bytes, duplicate or
 *                     unknown top-level key
 *   RELEASE_EFIELD    a field is missing, has the wrong type or shape
 *                     (names the field: signed, keyid, sig, signed.arch, ...)
 *   RELEASE_EVERSION  malformed version string
 *   RELEASE_EKEY      the public key is not a P-256 key in PEM or DER
 *   RELEASE_ENOKEY    no release key (a build without OUTPOST_RELEASE_PUBKEY)
 *   RELEASE_EKEYID    keyid is not the verifying key's
 *   RELEASE_ESIG      the signature does not verify
 *   RELEASE_ENAME     name is not "outpost-agent"
 *   RELEASE_EARCH     arch is not the verifier's architecture
 *   RELEASE_ELENGTH   length differs from the binary's
 *   RELEASE_ESHA256   sha256 differs from the binary's
 *   RELEASE_EVERSIONMISMATCH  version differs from the one TUF claims
 *   RELEASE_ECRYPTO   signing failed (release_sign only)
 */
#ifndef OUTPOST_COMMON_RELEASE_H
#define OUTPOST_COMMON_RELEASE_H

#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"

#define RELEASE_OK 0
#define RELEASE_EINVAL (-1)
#define RELEASE_ENOMEM (-2)
#define RELEASE_ETOOBIG (-3)
#define RELEASE_EJSON (-4)
#define RELEASE_EFIELD (-5)
#define RELEASE_EVERSION (-6)
#define RELEASE_EKEY (-7)
#define RELEASE_ENOKEY (-8)
#define RELEASE_EKEYID (-9)
#define RELEASE_ESIG (-10)
#define RELEASE_ENAME (-11)
#define RELEASE_EARCH (-12)
#define RELEASE_ELENGTH (-13)
#define RELEASE_ESHA256 (-14)
#define RELEASE_EVERSIONMISMATCH (-15)
#define RELEASE_ECRYPTO (-16)

#define RELEASE_SIG_FILE_MAX 4096
#define RELEASE_NAME "outpost-agent"
#define RELEASE_ARCH_MAX 32       /* including the NUL; [a-z0-9_]+ */
#define RELEASE_VERSION_MAX 24    /* "999999.999999.999999" + NUL fits */
#define RELEASE_VERSION_FIELD_MAX 999999u
/* A statement's length must be an exact JSON integer (canon.h: <= 2^53). */
#define RELEASE_LENGTH_MAX (1LL << 53)

typedef struct release_version {
  uint32_t major, minor, patch;
} release_version;

typedef struct release_statement {
  char arch[RELEASE_ARCH_MAX];
  int64_t length;
  char sha256[2 * CRYPTO_SHA256_LEN + 1]; /* lower-case hex */
  char version[RELEASE_VERSION_MAX];
} release_statement; /* name is always RELEASE_NAME */

/* What the verifier holds: the key, the binary's digest and length, its own
 * architecture and the version the TUF target entry claims. */
typedef struct release_expect {
  const uint8_t *pub_der; /* from release_key_load */
  size_t pub_len;
  uint8_t sha256[CRYPTO_SHA256_LEN];
  int64_t length;
  const char *arch;
  const char *version;
} release_expect;

/* RELEASE_OK or RELEASE_EVERSION (also for NULL s). */
int release_version_parse(const char *s, release_version *out);
/* <0, 0, >0 like strcmp. */
int release_version_cmp(const release_version *a, const release_version *b);
/* Compares two version strings; RELEASE_EVERSION when either is malformed
 * (then *cmp is untouched). */
int release_version_cmp_str(const char *a, const char *b, int *cmp);

/* The architecture this binary was built for, uname -m style. */
const char *release_host_arch(void);

/* Parses a P-256 public key (PEM "PUBLIC KEY" or DER SubjectPublicKeyInfo)
 * into canonical DER in der (cap >= CRYPTO_PUB_DER_MAX). len 0 or NULL key:
 * RELEASE_ENOKEY. Otherwise RELEASE_OK, RELEASE_EKEY, RELEASE_EINVAL. */
int release_key_load(const void *key, size_t len, uint8_t *der, size_t cap, size_t *der_len);
/* keyid of a DER public key: 64 lower-case hex + NUL. */
void release_keyid(const uint8_t *pub_der, size_t pub_len, char out[2 * CRYPTO_SHA256_LEN + 1]);

/* Canonical JSON of the statement after checking every field (EFIELD,
 * EVERSION, EINVAL, ENOMEM). */
int release_statement_encode(const release_statement *st, char **out, size_t *out_len, char *err,
                             size_t err_cap);

/* Builds a .sig file for st, signed with the DER private key (tests and
 * tools; the cloud signs through PKCS#11). EFIELD/EVERSION/ECRYPTO/ENOMEM. */
int release_sign(const release_statement *st, const uint8_t *key_der, size_t key_len,
                 crypto_rng_fn rng, void *rng_ctx, char **out, size_t *out_len, char *err,
                 size_t err_cap);

/* Verifies a .sig file (sig_len bytes, need not be NUL-terminated) against
 * exp. On RELEASE_OK, *out (if not NULL) holds the verified statement. */
int release_verify(const release_expect *exp, const char *sig_file, size_t sig_len,
                   release_statement *out, char *err, size_t err_cap);

/* Short English text for a RELEASE_* code (never NULL). */
const char *release_strerror(int code);

#endif
