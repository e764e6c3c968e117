/* mc_p11.c - see mc_p11.h. */
#include "mc_p11.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "common/crypto.h"

#define MAX_SLOTS 64

struct mc_p11 {
  void *lib;
  CK_FUNCTION_LIST_PTR f;
  CK_SESSION_HANDLE session;
  int logged_in;
};

/* DER of the P-256 curve OID, as CKA_EC_PARAMS wants it. */
static const uint8_t p256_params[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
/* SubjectPublicKeyInfo up to the BIT STRING's content: id-ecPublicKey, P-256. */
static const uint8_t spki_prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                      0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                      0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

static int fail(int code, char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* Reads the PIN without ever echoing it; the buffer is wiped by the caller. */
static int read_pin(const char *path, char *pin, size_t cap, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t n = fread(pin, 1, cap, f);
  fclose(f);
  if (n == cap) return -1; /* too long: refuse rather than truncate */
  while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r')) n--;
  for (size_t i = 0; i < n; i++)
    if (pin[i] == '\n' || pin[i] == '\0') return -1;
  *len = n;
  return n > 0 ? 0 : -1;
}

int mc_p11_open(const char *module, const char *token_label, const char *pin_file,
                mc_p11 **out, char *err, size_t err_cap) {
  if (!out) return MC_P11_EINVAL;
  *out = NULL;
  if (!module || !module[0] || !token_label || !token_label[0] || !pin_file)
    return fail(MC_P11_EINVAL, err, err_cap, "pkcs11: module, token label and PIN file are needed");
  size_t tl = strlen(token_label);
  if (tl > MC_P11_LABEL_MAX)
    return fail(MC_P11_EINVAL, err, err_cap, "pkcs11: token label longer than 32 bytes");
  char pin[MC_P11_PIN_MAX + 1];
  size_t pin_len = 0;
  if (read_pin(pin_file, pin, sizeof pin, &pin_len) != 0) {
    memset(pin, 0, sizeof pin);
    return fail(MC_P11_EINVAL, err, err_cap,
                "pkcs11: PIN file %s unreadable, empty or longer than %d bytes", pin_file,
                MC_P11_PIN_MAX);
  }
  mc_p11 *p = calloc(1, sizeof *p);
  int rc = MC_P11_EMODULE;
  if (!p) {
    memset(pin, 0, sizeof pin);
    return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: out of memory");
  }
  p->session = CK_INVALID_HANDLE;
  p->lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
  if (!p->lib) {
    const char *why = dlerror();
    rc = fail(MC_P11_EMODULE, err, err_cap, "pkcs11: cannot load module %s: %s", module,
              why ? why : "?");
    goto bad;
  }
  CK_C_GetFunctionList gfl;
  /* dlsym returns a data pointer; POSIX guarantees this conversion works. */
  *(void **)&gfl = dlsym(p->lib, "C_GetFunctionList");
  if (!gfl || gfl(&p->f) != CKR_OK || !p->f) {
    rc = fail(MC_P11_EMODULE, err, err_cap, "pkcs11: %s has no usable C_GetFunctionList", module);
    goto bad;
  }
  CK_RV r = p->f->C_Initialize(NULL);
  if (r != CKR_OK && r != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    p->f = NULL; /* not initialised: no C_Finalize */
    rc = fail(MC_P11_EMODULE, err, err_cap, "pkcs11: C_Initialize of %s failed (CKR 0x%lx)",
              module, (unsigned long)r);
    goto bad;
  }
  CK_SLOT_ID slots[MAX_SLOTS];
  CK_ULONG n = MAX_SLOTS;
  r = p->f->C_GetSlotList(CK_TRUE, slots, &n);
  if (r != CKR_OK) {
    rc = fail(MC_P11_EFAIL, err, err_cap, "pkcs11: C_GetSlotList failed (CKR 0x%lx)",
              (unsigned long)r);
    goto bad;
  }
  CK_SLOT_ID slot = 0;
  int found = 0;
  for (CK_ULONG i = 0; i < n && !found; i++) {
    CK_TOKEN_INFO ti;
    if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK) continue;
    size_t ll = sizeof ti.label;
    while (ll > 0 && ti.label[ll - 1] == ' ') ll--;
    if (ll == tl && memcmp(ti.label, token_label, tl) == 0) {
      slot = slots[i];
      found = 1;
    }
  }
  if (!found) {
    rc = fail(MC_P11_ETOKEN, err, err_cap, "pkcs11: no token labelled \"%s\" in %s", token_label,
              module);
    goto bad;
  }
  r = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->session);
  if (r != CKR_OK) {
    rc = fail(MC_P11_EFAIL, err, err_cap, "pkcs11: cannot open a session on \"%s\" (CKR 0x%lx)",
              token_label, (unsigned long)r);
    goto bad;
  }
  r = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
  memset(pin, 0, sizeof pin);
  if (r == CKR_USER_ALREADY_LOGGED_IN) r = CKR_OK;
  if (r != CKR_OK) {
    rc = fail(MC_P11_EPIN, err, err_cap, "pkcs11: login to token \"%s\" refused (%s)",
              token_label,
              r == CKR_PIN_INCORRECT ? "wrong PIN"
              : r == CKR_PIN_LOCKED  ? "PIN locked"
                                     : "check the PIN file");
    goto bad;
  }
  p->logged_in = 1;
  *out = p;
  return MC_P11_OK;
bad:
  memset(pin, 0, sizeof pin);
  mc_p11_close(p);
  return rc;
}

void mc_p11_close(mc_p11 *p) {
  if (!p) return;
  if (p->f) {
    if (p->logged_in) p->f->C_Logout(p->session);
    if (p->session != CK_INVALID_HANDLE) p->f->C_CloseSession(p->session);
    p->f->C_Finalize(NULL);
  }
  if (p->lib) dlclose(p->lib);
  free(p);
}

/* CKA_EC_POINT is a DER OCTET STRING around the uncompressed point (some
 * modules give the bare point); either way 65 bytes starting 0x04. */
static int point_to_spki(const uint8_t *pt, size_t len, uint8_t *pub, size_t cap,
                         size_t *pub_len) {
  if (len == 67 && pt[0] == 0x04 && pt[1] == 65) {
    pt += 2;
    len -= 2;
  }
  if (len != 65 || pt[0] != 0x04 || cap < MC_P11_PUB_DER_LEN) return -1;
  memcpy(pub, spki_prefix, sizeof spki_prefix);
  memcpy(pub + sizeof spki_prefix, pt, 65);
  *pub_len = MC_P11_PUB_DER_LEN;
  return 0;
}

int mc_p11_generate(mc_p11 *p, const char *label, uint8_t *pub, size_t cap, size_t *pub_len,
                    char *err, size_t err_cap) {
  if (!p || !label || !label[0] || strlen(label) > 128 || !pub || !pub_len ||
      cap < MC_P11_PUB_DER_LEN)
    return fail(MC_P11_EINVAL, err, err_cap, "pkcs11: bad key label or buffer");
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
  CK_ULONG ll = strlen(label);
  CK_ATTRIBUTE pub_t[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_VERIFY, &yes, sizeof yes},
      {CKA_EC_PARAMS, (void *)p256_params, sizeof p256_params},
      {CKA_LABEL, (void *)label, ll},
  };
  CK_ATTRIBUTE priv_t[] = {
      {CKA_TOKEN, &yes, sizeof yes},      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},  {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_SIGN, &yes, sizeof yes},       {CKA_LABEL, (void *)label, ll},
  };
  CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
  CK_RV r = p->f->C_GenerateKeyPair(p->session, &mech, pub_t, sizeof pub_t / sizeof pub_t[0],
                                    priv_t, sizeof priv_t / sizeof priv_t[0], &hpub, &hpriv);
  if (r != CKR_OK)
    return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: key generation for \"%s\" failed (CKR 0x%lx)",
                label, (unsigned long)r);
  uint8_t point[80];
  CK_ATTRIBUTE a = {CKA_EC_POINT, point, sizeof point};
  r = p->f->C_GetAttributeValue(p->session, hpub, &a, 1);
  if (r != CKR_OK || point_to_spki(point, a.ulValueLen, pub, cap, pub_len) != 0) {
    p->f->C_DestroyObject(p->session, hpub);
    p->f->C_DestroyObject(p->session, hpriv);
    return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: cannot read the public key of \"%s\"", label);
  }
  /* Name both halves by the public key's hash so a signer needs only the
   * public key (as listed in metadata) to find the private one. */
  uint8_t id[CRYPTO_SHA256_LEN];
  crypto_sha256(pub, *pub_len, id);
  CK_ATTRIBUTE ida = {CKA_ID, id, sizeof id};
  if (p->f->C_SetAttributeValue(p->session, hpriv, &ida, 1) != CKR_OK ||
      p->f->C_SetAttributeValue(p->session, hpub, &ida, 1) != CKR_OK) {
    p->f->C_DestroyObject(p->session, hpub);
    p->f->C_DestroyObject(p->session, hpriv);
    return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: cannot set CKA_ID of \"%s\"", label);
  }
  return MC_P11_OK;
}

static int find_priv(mc_p11 *p, const uint8_t *pub, size_t pub_len, CK_OBJECT_HANDLE *h,
                     char *err, size_t err_cap) {
  uint8_t id[CRYPTO_SHA256_LEN];
  crypto_sha256(pub, pub_len, id);
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, id, sizeof id}};
  if (p->f->C_FindObjectsInit(p->session, t, 2) != CKR_OK)
    return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: C_FindObjectsInit failed");
  CK_ULONG n = 0;
  CK_RV r = p->f->C_FindObjects(p->session, h, 1, &n);
  p->f->C_FindObjectsFinal(p->session);
  if (r != CKR_OK) return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: C_FindObjects failed");
  if (n != 1) {
    char hex[17];
    crypto_hex(id, 8, hex);
    return fail(MC_P11_ENOKEY, err, err_cap, "pkcs11: no private key with id %s... in the token",
                hex);
  }
  return MC_P11_OK;
}

int mc_p11_has_key(mc_p11 *p, const uint8_t *pub, size_t pub_len, char *err, size_t err_cap) {
  if (!p || !pub || !pub_len) return MC_P11_EINVAL;
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  int rc = find_priv(p, pub, pub_len, &h, err, err_cap);
  return rc == MC_P11_OK ? 1 : rc == MC_P11_ENOKEY ? 0 : rc;
}

/* One DER INTEGER from a 32-byte big-endian unsigned value. */
static size_t der_int(const uint8_t *v, uint8_t *out) {
  size_t i = 0;
  while (i < 31 && v[i] == 0) i++;
  size_t n = 32 - i, pad = (v[i] & 0x80) ? 1 : 0;
  out[0] = 0x02;
  out[1] = (uint8_t)(n + pad);
  if (pad) out[2] = 0;
  memcpy(out + 2 + pad, v + i, n);
  return 2 + pad + n;
}

int mc_p11_raw_to_der(const uint8_t rs[64], uint8_t *der, size_t cap, size_t *der_len) {
  uint8_t r[35], s[35];
  size_t rl = der_int(rs, r), sl = der_int(rs + 32, s);
  size_t total = 2 + rl + sl; /* content <= 70 bytes: short-form length */
  if (!der || !der_len || cap < total) return MC_P11_EINVAL;
  der[0] = 0x30;
  der[1] = (uint8_t)(rl + sl);
  memcpy(der + 2, r, rl);
  memcpy(der + 2 + rl, s, sl);
  *der_len = total;
  return MC_P11_OK;
}

int mc_p11_sign(mc_p11 *p, const uint8_t *pub, size_t pub_len, const void *msg,
                size_t msg_len, uint8_t *sig, size_t cap, size_t *sig_len, char *err,
                size_t err_cap) {
  if (!p || !pub || !pub_len || (!msg && msg_len) || !sig || !sig_len)
    return fail(MC_P11_EINVAL, err, err_cap, "pkcs11: bad argument to sign");
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  int rc = find_priv(p, pub, pub_len, &h, err, err_cap);
  if (rc != MC_P11_OK) return rc;
  uint8_t digest[CRYPTO_SHA256_LEN];
  crypto_sha256(msg, msg_len, digest);
  CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
  CK_RV r = p->f->C_SignInit(p->session, &mech, h);
  if (r != CKR_OK)
    return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: C_SignInit failed (CKR 0x%lx)",
                (unsigned long)r);
  uint8_t rs[64];
  CK_ULONG n = sizeof rs;
  r = p->f->C_Sign(p->session, digest, sizeof digest, rs, &n);
  if (r != CKR_OK || n != sizeof rs)
    return fail(MC_P11_EFAIL, err, err_cap, "pkcs11: C_Sign failed (CKR 0x%lx, %lu bytes)",
                (unsigned long)r, (unsigned long)n);
  if (mc_p11_raw_to_der(rs, sig, cap, sig_len) != MC_P11_OK)
    return fail(MC_P11_EINVAL, err, err_cap, "pkcs11: signature buffer too small");
  return MC_P11_OK;
}
