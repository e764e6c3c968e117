/* cloud_io.c - outpost-cloud's shared plumbing (cloud_io.h). */
#include "cloud_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

int64_t cio_wall_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cio_random(void *ctx, unsigned char *buf, size_t len) {
  (void)ctx;
  while (len > 0) {
    ssize_t n = getrandom(buf, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

const mc_env cio_env = {NULL, cio_wall_ms, cio_random};

int cio_join(char out[CIO_PATH_CAP], const char *dir, const char *name) {
  int n = snprintf(out, CIO_PATH_CAP, "%s/%s", dir, name);
  return n > 0 && n < CIO_PATH_CAP ? 0 : -1;
}

int cio_write_file(const char *path, const void *data, size_t len, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  int ok = fchmod(fd, mode) == 0;
  const char *p = data;
  while (ok && len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = 0;
    else {
      p += n;
      len -= (size_t)n;
    }
  }
  ok = ok && fsync(fd) == 0;
  return close(fd) == 0 && ok ? 0 : -1;
}

char *cio_read_file(const char *path, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(cap + 1);
  size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
  fclose(f);
  if (!buf || n == 0 || n > cap) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

int cio_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int cio_open_store(const char *dir, int must_exist, int64_t probation_s, mc_cloud **c) {
  char path[CIO_PATH_CAP], err[256];
  if (cio_join(path, dir, "cloud.db") != 0) return -1;
  if (must_exist && !cio_exists(path)) {
    fprintf(stderr, "outpost-cloud: no store at %s; run: outpost-cloud init --data %s\n", path,
            dir);
    return -1;
  }
  mc_options opts = {.durable = 1, .probation_s = probation_s};
  if (mc_open(path, &cio_env, &opts, c, err, sizeof err) != MC_OK) {
    fprintf(stderr, "outpost-cloud: %s\n", err);
    return -1;
  }
  return 0;
}

int cio_repo_dir(const char *data, char out[CIO_PATH_CAP]) { return cio_join(out, data, "repo"); }

int cio_token_save(const char *data, const cio_token_conf *t) {
  char path[CIO_PATH_CAP];
  cJSON *o = cJSON_CreateObject();
  char *txt = NULL;
  int rc = -1;
  if (o && cJSON_AddStringToObject(o, "pkcs11_module", t->module) &&
      cJSON_AddStringToObject(o, "token_label", t->label) &&
      cJSON_AddStringToObject(o, "pin_file", t->pin_file) && (txt = cJSON_Print(o)) &&
      cio_join(path, data, "pkcs11.json") == 0)
    rc = cio_write_file(path, txt, strlen(txt), 0600);
  free(txt);
  cJSON_Delete(o);
  return rc;
}

int cio_token_load(const char *data, cio_token_conf *t) {
  char path[CIO_PATH_CAP];
  char *txt = cio_join(path, data, "pkcs11.json") == 0 ? cio_read_file(path, 16384) : NULL;
  if (!txt) {
    fprintf(stderr, "outpost-cloud: no token settings in %s/pkcs11.json; run: outpost-cloud repo "
                    "init first\n", data);
    return -1;
  }
  cJSON *o = cJSON_Parse(txt);
  free(txt);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "pkcs11_module");
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "token_label");
  const cJSON *pf = cJSON_GetObjectItemCaseSensitive(o, "pin_file");
  int ok = cJSON_IsString(m) && cJSON_IsString(l) && cJSON_IsString(pf) &&
           snprintf(t->module, sizeof t->module, "%s", m->valuestring) < (int)sizeof t->module &&
           snprintf(t->label, sizeof t->label, "%s", l->valuestring) < (int)sizeof t->label &&
           snprintf(t->pin_file, sizeof t->pin_file, "%s", pf->valuestring) < (int)sizeof t->pin_file;
  cJSON_Delete(o);
  if (!ok) fprintf(stderr, "outpost-cloud: %s/pkcs11.json is malformed\n", data);
  return ok ? 0 : -1;
}

int cio_token_open(const cio_token_conf *t, mc_p11 **p) {
  char err[512];
  if (mc_p11_open(t->module, t->label, t->pin_file, p, err, sizeof err) != MC_P11_OK) {
    fprintf(stderr, "outpost-cloud: %s\n", err);
    return -1;
  }
  return 0;
}

int cio_repo_begin(const char *data, char rp[CIO_PATH_CAP], mc_p11 **p, mc_signer *on) {
  cio_token_conf t;
  if (cio_repo_dir(data, rp) != 0 || cio_token_load(data, &t) != 0 || cio_token_open(&t, p) != 0)
    return -1;
  mc_repo_p11_signer(*p, on);
  return 0;
}
