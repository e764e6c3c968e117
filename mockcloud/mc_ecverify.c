/* mc_ecverify.c - see mc_ecverify.h. */
#include "mc_ecverify.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/crypto.h"

int mc_ec_verify(const uint8_t *pub_der, size_t pub_len, const void *msg, size_t msg_len, const uint8_t *sig,
                 size_t sig_len) {
  if (!pub_der || pub_len == 0 || pub_len > 4096 || (!msg && msg_len)) return CRYPTO_EINVAL;
  if (!sig || sig_len == 0) return CRYPTO_EVERIFY;
  const unsigned char *p = pub_der;
  EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)pub_len);
  char group[32] = "";
  size_t glen = 0;
  /* The whole buffer must be the key (as mbedtls_pk_parse_public_key
   * requires), an EC key, on P-256. */
  if (!pk || p != pub_der + pub_len || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) != 1 ||
      strcmp(group, "prime256v1") != 0) {
    EVP_PKEY_free(pk);
    return CRYPTO_EINVAL;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  const unsigned char *m = msg_len ? (const unsigned char *)msg : (const unsigned char *)"";
  int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
           EVP_DigestVerify(ctx, sig, sig_len, m, msg_len) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  return ok ? CRYPTO_OK : CRYPTO_EVERIFY;
}
