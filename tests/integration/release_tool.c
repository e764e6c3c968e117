/* release_tool - test-only helper for supervise.sh: makes a release key pair
 * and signs binaries with it (the cloud signs through PKCS#11 instead).
 *   release_tool keygen KEY.der PUB.pem
 *   release_tool sign KEY.der BINARY VERSION ARCH > BINARY.sig
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/release.h"

static int rng(void *ctx, unsigned char *buf, size_t len) {
  return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static long slurp(const char *path, unsigned char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t n = fread(buf, 1, cap, f);
  int big = n == cap && fgetc(f) != EOF;
  fclose(f);
  return big ? -1 : (long)n;
}

static int keygen(const char *key_path, const char *pem_path) {
  uint8_t key[CRYPTO_KEY_DER_MAX], pub[CRYPTO_PUB_DER_MAX];
  size_t kl = 0, pl = 0, bl = 0;
  char b64[256];
  if (crypto_ec_generate(rng, NULL, key, sizeof key, &kl) != 0 ||
      crypto_ec_public_from_private(key, kl, pub, sizeof pub, &pl) != 0 ||
      crypto_b64_encode(pub, pl, b64, sizeof b64, &bl) != 0)
    return 1;
  FILE *k = fopen(key_path, "wb"), *p = fopen(pem_path, "w");
  if (!k || !p) return 1;
  fwrite(key, 1, kl, k);
  fputs("-----BEGIN PUBLIC KEY-----\n", p);
  for (size_t i = 0; i < bl; i += 64) fprintf(p, "%.64s\n", b64 + i);
  fputs("-----END PUBLIC KEY-----\n", p);
  return (fclose(k) | fclose(p)) ? 1 : 0;
}

static int sign(const char *key_path, const char *bin_path, const char *version, const char *arch) {
  static unsigned char bin[64 * 1024 * 1024];
  uint8_t key[CRYPTO_KEY_DER_MAX], d[CRYPTO_SHA256_LEN];
  long kl = slurp(key_path, key, sizeof key), bl = slurp(bin_path, bin, sizeof bin);
  release_statement st;
  char *out = NULL, err[256];
  size_t n = 0;
  if (kl <= 0 || bl < 0) return 1;
  memset(&st, 0, sizeof st);
  snprintf(st.arch, sizeof st.arch, "%s", arch);
  snprintf(st.version, sizeof st.version, "%s", version);
  st.length = bl;
  crypto_sha256(bin, (size_t)bl, d);
  crypto_hex(d, sizeof d, st.sha256);
  if (release_sign(&st, key, (size_t)kl, rng, NULL, &out, &n, err, sizeof err) != RELEASE_OK) {
    fprintf(stderr, "release_tool: %s\n", err);
    return 1;
  }
  fwrite(out, 1, n, stdout);
  free(out);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "keygen") == 0) return keygen(argv[2], argv[3]);
  if (argc == 6 && strcmp(argv[1], "sign") == 0) return sign(argv[2], argv[3], argv[4], argv[5]);
  if (argc == 2 && strcmp(argv[1], "arch") == 0) return puts(release_host_arch()) < 0;
  fprintf(stderr, "usage: release_tool keygen KEY.der PUB.pem | sign KEY.der BIN VERSION ARCH | arch\n");
  return 2;
}
