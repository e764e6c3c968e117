/* ident.c - agent key, identity file and machine fingerprint (see ident.h). */
#include "core/ident.h"

#include <cjson/cJSON.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "common/wire.h"
#include "core/files.h"

static const char *const fp_names[IDENT_FP_N] = {"product_uuid", "macs", "machine_id",
                                                 "hostname"};
static const int fp_weights[IDENT_FP_N] = {35, 30, 25, 10};
static const os_ident_kind fp_kinds[IDENT_FP_N] = {OS_IDENT_PRODUCT_UUID, OS_IDENT_MACS,
                                                   OS_IDENT_MACHINE_ID, OS_IDENT_HOSTNAME};

int ident_rng(void *p, unsigned char *buf, size_t len) {
  const os_shim *os = p;
  return os->random(os->ctx, buf, len) == OS_OK ? 0 : -1;
}

static int is_hex64(const char *s) {
  size_t n = strlen(s);
  if (n != 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

static void pub_sha256_hex(const ident *id, char out[65]) {
  uint8_t h[CRYPTO_SHA256_LEN];
  crypto_sha256(id->pub, id->pub_len, h);
  crypto_hex(h, sizeof h, out);
}

/* Reads a DER key file into id (key + derived public key). */
static int read_key(ident *id, const os_shim *os, const char *path, char *err, size_t cap) {
  int rc = files_read_small(os, path, id->key, sizeof id->key, &id->key_len);
  if (rc != OS_OK) {
    snprintf(err, cap, "%s: cannot read: %s", path, files_strerror(rc));
    return rc == OS_EFBIG ? IDENT_ECORRUPT : rc == OS_ENOENT ? OS_ENOENT : IDENT_EIO;
  }
  if (crypto_ec_public_from_private(id->key, id->key_len, id->pub, sizeof id->pub,
                                    &id->pub_len) != CRYPTO_OK) {
    snprintf(err, cap, "%s: not a valid P-256 private key", path);
    return IDENT_ECORRUPT;
  }
  return IDENT_OK;
}

static int make_key(ident *id, const os_shim *os, const char *path, char *err, size_t cap) {
  if (crypto_ec_generate(ident_rng, (void *)os, id->key, sizeof id->key, &id->key_len) !=
          CRYPTO_OK ||
      crypto_ec_public_from_private(id->key, id->key_len, id->pub, sizeof id->pub,
                                    &id->pub_len) != CRYPTO_OK) {
    snprintf(err, cap, "cannot generate the agent key");
    return IDENT_ECRYPTO;
  }
  int rc = files_write_atomic(os, path, id->key, id->key_len, 0600);
  if (rc != OS_OK) {
    snprintf(err, cap, "%s: cannot write: %s", path, files_strerror(rc));
    return IDENT_EIO;
  }
  return IDENT_OK;
}

static int load_key(ident *id, const os_shim *os, const char *dir, char *err, size_t cap) {
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, IDENT_KEY_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  int rc = read_key(id, os, path, err, cap);
  if (rc == OS_ENOENT) return make_key(id, os, path, err, cap);
  return rc;
}

int ident_parse(ident *id, const char *text, size_t len) {
  cJSON *root = cJSON_ParseWithLength(text, len);
  const cJSON *aid = cJSON_GetObjectItemCaseSensitive(root, "agent_id");
  const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "workspace");
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "enrolled_ms");
  const cJSON *rt = cJSON_GetObjectItemCaseSensitive(root, "ratchet");
  const cJSON *fp = cJSON_GetObjectItemCaseSensitive(root, "fp");
  const cJSON *cf = cJSON_GetObjectItemCaseSensitive(root, "cloned_from");
  int ok = cJSON_IsObject(root) && cJSON_IsString(aid) && wire_is_hex_id(aid->valuestring) &&
           cJSON_IsString(ws) && strlen(ws->valuestring) < sizeof id->workspace &&
           cJSON_IsNumber(at) && at->valuedouble >= 0 && at->valuedouble <= 9007199254740992.0 &&
           at->valuedouble == (double)(int64_t)at->valuedouble && /* a wall ms; checked before the cast */
           (!rt || (cJSON_IsString(rt) && (wire_is_hex_id(rt->valuestring) ||
                                           strcmp(rt->valuestring, WIRE_RATCHET_NONE) == 0))) &&
           (!cf || (cJSON_IsString(cf) && wire_is_hex_id(cf->valuestring))) &&
           (!fp || cJSON_IsObject(fp));
  ident_fp f;
  memset(&f, 0, sizeof f);
  for (int i = 0; ok && fp && i < IDENT_FP_N; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(fp, fp_names[i]);
    ok = cJSON_IsString(v) && (v->valuestring[0] == 0 || is_hex64(v->valuestring));
    if (ok) snprintf(f.h[i], sizeof f.h[i], "%s", v->valuestring);
  }
  if (ok) {
    memcpy(id->agent_id, aid->valuestring, 33);
    snprintf(id->workspace, sizeof id->workspace, "%s", ws->valuestring);
    id->enrolled_ms = (int64_t)at->valuedouble;
    snprintf(id->ratchet, sizeof id->ratchet, "%s", rt ? rt->valuestring : WIRE_RATCHET_NONE);
    id->fp = f;
    id->have_fp = fp != NULL;
    snprintf(id->cloned_from, sizeof id->cloned_from, "%s", cf ? cf->valuestring : "");
    id->enrolled = 1;
  }
  cJSON_Delete(root);
  return ok ? IDENT_OK : IDENT_ECORRUPT;
}

/* Reads key_sha256 from identity.json text without the full validation. */
static void text_key_sha(const char *text, size_t len, char out[65]) {
  out[0] = 0;
  cJSON *root = cJSON_ParseWithLength(text, len);
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "key_sha256");
  if (cJSON_IsString(k) && is_hex64(k->valuestring)) memcpy(out, k->valuestring, 65);
  cJSON_Delete(root);
}

int ident_load(ident *id, const os_shim *os, const char *dir, char *err, size_t cap) {
  memset(id, 0, sizeof *id);
  snprintf(id->ratchet, sizeof id->ratchet, "%s", WIRE_RATCHET_NONE);
  char path[OS_PATH_MAX], key_path[OS_PATH_MAX], new_path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, IDENT_FILE) != OS_OK ||
      files_join(key_path, sizeof key_path, dir, IDENT_KEY_FILE) != OS_OK ||
      files_join(new_path, sizeof new_path, dir, IDENT_NEW_KEY_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  char buf[IDENT_FILE_MAX];
  size_t len = 0;
  int rc = files_read_small(os, path, buf, sizeof buf, &len);
  if (rc != OS_OK && rc != OS_ENOENT) {
    snprintf(err, cap, "%s: cannot read: %s", path, files_strerror(rc));
    return rc == OS_EFBIG ? IDENT_ECORRUPT : IDENT_EIO;
  }
  int have_file = rc == OS_OK;
  /* A re-key interrupted by a crash: agent.key.new is the real key exactly
   * when identity.json already names it. */
  ident nk;
  memset(&nk, 0, sizeof nk);
  char scratch[64];
  if (read_key(&nk, os, new_path, scratch, sizeof scratch) == IDENT_OK) {
    char want[65] = "", have[65];
    if (have_file) text_key_sha(buf, len, want);
    pub_sha256_hex(&nk, have);
    if (want[0] && strcmp(want, have) == 0) os->rename(os->ctx, new_path, key_path);
    else os->unlink(os->ctx, new_path);
  }
  memset(&nk, 0, sizeof nk);
  int ret = load_key(id, os, dir, err, cap);
  if (ret != IDENT_OK || !have_file) return ret;
  if (ident_parse(id, buf, len) != IDENT_OK) {
    snprintf(err, cap,
             "%s: malformed (expected agent_id, workspace, enrolled_ms; optional ratchet, fp, "
             "key_sha256, cloned_from)",
             path);
    return IDENT_ECORRUPT;
  }
  char want[65], have[65];
  text_key_sha(buf, len, want);
  pub_sha256_hex(id, have);
  if (want[0] && strcmp(want, have) != 0) {
    snprintf(err, cap, "%s: names another key than %s (restore the matching key)", path,
             key_path);
    return IDENT_ECORRUPT;
  }
  return IDENT_OK;
}

int ident_save(ident *id, const os_shim *os, const char *dir, char *err, size_t cap) {
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, IDENT_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  if (!id->have_fp) {
    ident_fp_read(os, &id->fp);
    id->have_fp = 1;
  }
  char ksha[65];
  pub_sha256_hex(id, ksha);
  cJSON *root = cJSON_CreateObject();
  cJSON *fp = cJSON_CreateObject();
  char *text = NULL;
  int ok = root && fp && cJSON_AddStringToObject(root, "agent_id", id->agent_id) &&
           cJSON_AddStringToObject(root, "workspace", id->workspace) &&
           cJSON_AddNumberToObject(root, "enrolled_ms", (double)id->enrolled_ms) &&
           cJSON_AddStringToObject(root, "ratchet", id->ratchet[0] ? id->ratchet
                                                                   : WIRE_RATCHET_NONE) &&
           cJSON_AddStringToObject(root, "key_sha256", ksha);
  for (int i = 0; ok && i < IDENT_FP_N; i++)
    ok = cJSON_AddStringToObject(fp, fp_names[i], id->fp.h[i]) != NULL;
  if (ok) {
    ok = cJSON_AddItemToObject(root, "fp", fp);
    if (ok) fp = NULL;
  }
  if (ok && id->cloned_from[0])
    ok = cJSON_AddStringToObject(root, "cloned_from", id->cloned_from) != NULL;
  if (ok) text = cJSON_PrintUnformatted(root);
  cJSON_Delete(fp);
  cJSON_Delete(root);
  if (!text) {
    snprintf(err, cap, "out of memory writing identity");
    return IDENT_EIO;
  }
  int rc = files_write_atomic(os, path, text, strlen(text), 0600);
  cJSON_free(text);
  if (rc != OS_OK) {
    snprintf(err, cap, "%s: cannot write: %s", path, files_strerror(rc));
    return IDENT_EIO;
  }
  id->enrolled = 1;
  return IDENT_OK;
}

int ident_rekey_prepare(ident *next, const os_shim *os, const char *dir, char *err, size_t cap) {
  memset(next, 0, sizeof *next);
  snprintf(next->ratchet, sizeof next->ratchet, "%s", WIRE_RATCHET_NONE);
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, IDENT_NEW_KEY_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  return make_key(next, os, path, err, cap);
}

int ident_rekey_commit(ident *next, const os_shim *os, const char *dir, char *err, size_t cap) {
  char key_path[OS_PATH_MAX], new_path[OS_PATH_MAX];
  if (files_join(key_path, sizeof key_path, dir, IDENT_KEY_FILE) != OS_OK ||
      files_join(new_path, sizeof new_path, dir, IDENT_NEW_KEY_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  next->have_fp = 0; /* the new identity's fingerprint is this machine's, now */
  int ret = ident_save(next, os, dir, err, cap);
  if (ret != IDENT_OK) return ret;
  /* From here identity.json names the new key: ident_load completes the
   * rename if we crash before it. */
  int rc = os->rename(os->ctx, new_path, key_path);
  if (rc != OS_OK) {
    snprintf(err, cap, "%s: cannot install: %s", key_path, files_strerror(rc));
    return IDENT_EIO;
  }
  return IDENT_OK;
}

void ident_fp_read(const os_shim *os, ident_fp *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < IDENT_FP_N; i++) {
    char v[1200];
    int n = os->read_identity(os->ctx, fp_kinds[i], v, sizeof v);
    if (n <= 0) continue;
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(v, (size_t)n, h);
    crypto_hex(h, sizeof h, out->h[i]);
  }
}

int ident_fp_score(const ident_fp *a, const ident_fp *b) {
  int present = 0, same = 0;
  for (int i = 0; i < IDENT_FP_N; i++) {
    if (!a->h[i][0] || !b->h[i][0]) continue;
    present += fp_weights[i];
    if (strcmp(a->h[i], b->h[i]) == 0) same += fp_weights[i];
  }
  return present == 0 ? 100 : same * 100 / present;
}
