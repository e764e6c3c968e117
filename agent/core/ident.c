/* ident.c - agent key and identity files (see ident.h). */
#include "core/ident.h"

#include <cjson/cJSON.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "core/files.h"

int ident_rng(void *p, unsigned char *buf, size_t len) {
  const os_shim *os = p;
  return os->random(os->ctx, buf, len) == OS_OK ? 0 : -1;
}

static int is_hex_id(const char *s) {
  size_t n = strlen(s);
  if (n != 32) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

static int load_key(ident *id, const os_shim *os, const char *dir, char *err, size_t cap) {
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, IDENT_KEY_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  int rc = files_read_small(os, path, id->key, sizeof id->key, &id->key_len);
  if (rc == OS_ENOENT) {
    if (crypto_ec_generate(ident_rng, (void *)os, id->key, sizeof id->key, &id->key_len) !=
        CRYPTO_OK) {
      snprintf(err, cap, "cannot generate the agent key");
      return IDENT_ECRYPTO;
    }
    rc = files_write_atomic(os, path, id->key, id->key_len, 0600);
    if (rc != OS_OK) {
      snprintf(err, cap, "%s: cannot write: %s", path, files_strerror(rc));
      return IDENT_EIO;
    }
  } else if (rc != OS_OK) {
    snprintf(err, cap, "%s: cannot read: %s", path, files_strerror(rc));
    return rc == OS_EFBIG ? IDENT_ECORRUPT : IDENT_EIO;
  } else {
    /* Re-assert the mode every start (PRIV-1). */
    os->chmod(os->ctx, path, 0600);
  }
  if (crypto_ec_public_from_private(id->key, id->key_len, id->pub, sizeof id->pub,
                                    &id->pub_len) != CRYPTO_OK) {
    snprintf(err, cap, "%s: not a valid P-256 private key", path);
    return IDENT_ECORRUPT;
  }
  return IDENT_OK;
}

int ident_load(ident *id, const os_shim *os, const char *dir, char *err, size_t cap) {
  memset(id, 0, sizeof *id);
  int ret = load_key(id, os, dir, err, cap);
  if (ret != IDENT_OK) return ret;
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, IDENT_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  char buf[4096];
  size_t len = 0;
  int rc = files_read_small(os, path, buf, sizeof buf, &len);
  if (rc == OS_ENOENT) return IDENT_OK; /* not enrolled yet */
  if (rc != OS_OK) {
    snprintf(err, cap, "%s: cannot read: %s", path, files_strerror(rc));
    return rc == OS_EFBIG ? IDENT_ECORRUPT : IDENT_EIO;
  }
  os->chmod(os->ctx, path, 0600);
  cJSON *root = cJSON_ParseWithLength(buf, len);
  const cJSON *aid = cJSON_GetObjectItemCaseSensitive(root, "agent_id");
  const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "workspace");
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "enrolled_ms");
  if (!cJSON_IsObject(root) || !cJSON_IsString(aid) || !is_hex_id(aid->valuestring) ||
      !cJSON_IsString(ws) || strlen(ws->valuestring) >= sizeof id->workspace ||
      !cJSON_IsNumber(at)) {
    snprintf(err, cap, "%s: malformed (expected agent_id, workspace, enrolled_ms)", path);
    cJSON_Delete(root);
    return IDENT_ECORRUPT;
  }
  memcpy(id->agent_id, aid->valuestring, 33);
  snprintf(id->workspace, sizeof id->workspace, "%s", ws->valuestring);
  id->enrolled_ms = (int64_t)at->valuedouble;
  id->enrolled = 1;
  cJSON_Delete(root);
  return IDENT_OK;
}

int ident_save(ident *id, const os_shim *os, const char *dir, char *err, size_t cap) {
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, IDENT_FILE) != OS_OK) {
    snprintf(err, cap, "state_dir: path too long");
    return IDENT_EIO;
  }
  cJSON *root = cJSON_CreateObject();
  char *text = NULL;
  if (root && cJSON_AddStringToObject(root, "agent_id", id->agent_id) &&
      cJSON_AddStringToObject(root, "workspace", id->workspace) &&
      cJSON_AddNumberToObject(root, "enrolled_ms", (double)id->enrolled_ms))
    text = cJSON_PrintUnformatted(root);
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
