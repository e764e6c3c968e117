/* fuzz_release: release_verify on arbitrary .sig files against a fixed key
 * and binary. It must never crash or leak; every rejection names a field in
 * err; RELEASE_OK only for the one statement the fixed key signed (the
 * seed corpus holds it: fuzz/corpus/release/valid.json). Also: a version
 * string that parses prints back to the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/release.h"

/* The fixed binary: 300 bytes of i*7, as in tests/common/test_release.c. */
#define BIN_LEN 300

static int det_rng(void *ctx, unsigned char *buf, size_t len) {
  uint64_t *s = ctx;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (unsigned char)*s;
  }
  return 0;
}

static void check_version(const uint8_t *data, size_t size) {
  char s[RELEASE_VERSION_MAX + 8], back[RELEASE_VERSION_MAX + 8];
  release_version v;
  if (size >= sizeof s) return;
  memcpy(s, data, size);
  s[size] = 0;
  if (release_version_parse(s, &v) != RELEASE_OK) return;
  snprintf(back, sizeof back, "%u.%u.%u", v.major, v.minor, v.patch);
  if (strcmp(s, back) != 0) abort();
  if (v.major > RELEASE_VERSION_FIELD_MAX || v.minor > RELEASE_VERSION_FIELD_MAX ||
      v.patch > RELEASE_VERSION_FIELD_MAX)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Fixed key and binary, made once (same seed as the corpus' valid.json). */
  static uint8_t pub[CRYPTO_PUB_DER_MAX], digest[CRYPTO_SHA256_LEN];
  static size_t pub_len;
  if (!pub_len) {
    uint8_t key[CRYPTO_KEY_DER_MAX], bin[BIN_LEN];
    size_t key_len = 0;
    uint64_t seed = 0x1234567;
    if (crypto_ec_generate(det_rng, &seed, key, sizeof key, &key_len) != CRYPTO_OK ||
        crypto_ec_public_from_private(key, key_len, pub, sizeof pub, &pub_len) != CRYPTO_OK)
      abort();
    for (size_t i = 0; i < BIN_LEN; i++) bin[i] = (uint8_t)(i * 7);
    crypto_sha256(bin, BIN_LEN, digest);
  }
  check_version(data, size);
  release_expect exp = {pub, pub_len, {0}, BIN_LEN, "x86_64", "1.4.2"};
  memcpy(exp.sha256, digest, sizeof digest);
  release_statement st;
  char err[256];
  err[0] = 0;
  int rc = release_verify(&exp, (const char *)data, size, &st, err, sizeof err);
  if (rc == RELEASE_OK) {
    if (st.length != BIN_LEN || strcmp(st.version, "1.4.2") != 0 || strcmp(st.arch, "x86_64") != 0)
      abort();
  } else if (err[0] == 0) {
    abort();
  }
  return 0;
}
