/* mc_repo.c - see mc_repo.h.
 *
 * Error convention (issue #17): the static helpers return MC_REPO_* codes,
 * as the public functions do (MC_REPO_OK is 0, so `!= 0` tests stay right).
 * The exceptions return a value, not a status: lock_repo (an fd or -1),
 * mc_repo_version_parse and mc_repo_ring_index (documented in mc_repo.h),
 * file_exists and arch_ok (predicates), and the each_keyfile callbacks. */
#define _GNU_SOURCE /* timegm */
#include "mc_repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/canon.h"

#define PATH_CAP 4096
#define META_MAX (8u * 1024 * 1024) /* our own metadata; tuf.c's largest limit is 5 MiB */
#define MAX_ROOT_PROBE 100000       /* root versions looked for on load */
#define MAX_MEMKEYS 64
#define MAX_ROLE_KEYS 8
#define SIG_FILE_MAX 4096
#define SPEC_VERSION "1.0.31"
#define PEM_MAX 256

const char *const mc_repo_rings[MC_REPO_N_RINGS] = {"canary", "early-access", "stable"};

enum { R_ROOT, R_TIMESTAMP, R_SNAPSHOT, R_TARGETS, R_RING0, R_COUNT = R_RING0 + MC_REPO_N_RINGS };
static const char *const role_names[R_COUNT] = {"root",    "timestamp", "snapshot",
                                                "targets", "canary",    "early-access",
                                                "stable"};
static const int64_t role_ttl[R_COUNT] = {MC_REPO_ROOT_TTL,    MC_REPO_TIMESTAMP_TTL,
                                          MC_REPO_SNAPSHOT_TTL, MC_REPO_TARGETS_TTL,
                                          MC_REPO_TARGETS_TTL,  MC_REPO_TARGETS_TTL,
                                          MC_REPO_TARGETS_TTL};

/* The "signed" part of the newest version of every role. */
typedef struct repo {
  cJSON *sg[R_COUNT];
} repo;

static int fail(int code, char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return code;
}

static int pathf(char out[PATH_CAP], const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, PATH_CAP, fmt, ap);
  va_end(ap);
  return n > 0 && n < PATH_CAP ? MC_REPO_OK : MC_REPO_EINVAL;
}

/* ---- files ---- */

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MC_REPO_EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Temp + fsync + rename: readers (serve) see the old or the new file. */
static int atomic_write(const char *path, const void *data, size_t len, mode_t mode) {
  char tmp[PATH_CAP];
  if (pathf(tmp, "%s.tmp", path) != 0) return MC_REPO_EINVAL; /* path too long */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return MC_REPO_EIO;
  int ok = fchmod(fd, mode) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return MC_REPO_EIO;
  }
  return 0;
}

/* MC_REPO_OK and a malloc'd, NUL-terminated buffer; MC_REPO_EIO unreadable;
 * MC_REPO_ECORRUPT over max. */
static int read_all(const char *path, size_t max, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MC_REPO_EIO;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return MC_REPO_EIO;
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return MC_REPO_ECORRUPT; /* over max */
  }
  size_t want = (size_t)st.st_size;
  uint8_t *buf = malloc(want + 1);
  size_t got = 0;
  while (buf && got < want) {
    ssize_t n = read(fd, buf + got, want - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (!buf || got != want) {
    free(buf);
    return MC_REPO_EIO;
  }
  buf[got] = 0;
  *out = buf;
  *len = got;
  return 0;
}

static int mkdir_p(const char *path, mode_t mode) {
  char tmp[PATH_CAP];
  if (pathf(tmp, "%s", path) != 0) return MC_REPO_EINVAL; /* path too long */
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, mode) != 0 && errno != EEXIST) return MC_REPO_EIO;
    *p = '/';
  }
  return mkdir(tmp, mode) != 0 && errno != EEXIST ? MC_REPO_EIO : MC_REPO_OK;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Writers take dir/lock so serve's timer and a ceremony command never
 * publish the same version twice. Returns the fd or -1. */
static int lock_repo(const char *dir) {
  char p[PATH_CAP];
  if (pathf(p, "%s/lock", dir) != 0) return -1;
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

static void unlock_repo(int fd) {
  if (fd >= 0) close(fd); /* releases the flock */
}

/* ---- keys ---- */

int mc_repo_pub_pem(const mc_pub *pub, char *pem, size_t cap) {
  char b64[CRYPTO_PUB_DER_MAX * 2];
  size_t n;
  if (!pub || !pem || crypto_b64_encode(pub->der, pub->len, b64, sizeof b64, &n) != CRYPTO_OK)
    return MC_REPO_EINVAL;
  size_t o = 0;
  int w = snprintf(pem, cap, "-----BEGIN PUBLIC KEY-----\n");
  if (w < 0 || (size_t)w >= cap) return MC_REPO_EINVAL;
  o = (size_t)w;
  for (size_t i = 0; i < n; i += 64) {
    size_t l = n - i < 64 ? n - i : 64;
    if (o + l + 2 > cap) return MC_REPO_EINVAL;
    memcpy(pem + o, b64 + i, l);
    o += l;
    pem[o++] = '\n';
  }
  w = snprintf(pem + o, cap - o, "-----END PUBLIC KEY-----\n");
  return w > 0 && (size_t)w < cap - o ? MC_REPO_OK : MC_REPO_EINVAL;
}

int mc_repo_pub_from_pem(const char *pem, mc_pub *pub) {
  static const char head[] = "-----BEGIN PUBLIC KEY-----", foot[] = "-----END PUBLIC KEY-----";
  if (!pem || !pub) return MC_REPO_EINVAL;
  const char *b = strstr(pem, head), *e;
  if (!b) return MC_REPO_EINVAL;
  b += sizeof head - 1;
  e = strstr(b, foot);
  if (!e) return MC_REPO_EINVAL;
  char b64[PEM_MAX];
  size_t n = 0;
  for (const char *p = b; p < e; p++) {
    if (*p == '\n' || *p == '\r') continue;
    if (n + 1 >= sizeof b64) return MC_REPO_EINVAL;
    b64[n++] = *p;
  }
  return crypto_b64_decode(b64, n, pub->der, sizeof pub->der, &pub->len) == CRYPTO_OK &&
                 pub->len > 0
             ? MC_REPO_OK
             : MC_REPO_EINVAL;
}

static cJSON *key_json(const mc_pub *pub) {
  char pem[PEM_MAX];
  if (mc_repo_pub_pem(pub, pem, sizeof pem) != MC_REPO_OK) return NULL;
  cJSON *k = cJSON_CreateObject();
  cJSON *kv = cJSON_CreateObject();
  if (!k || !kv || !cJSON_AddStringToObject(k, "keytype", "ecdsa") ||
      !cJSON_AddStringToObject(kv, "public", pem) ||
      !cJSON_AddStringToObject(k, "scheme", "ecdsa-sha2-nistp256")) {
    cJSON_Delete(k);
    cJSON_Delete(kv);
    return NULL;
  }
  cJSON_AddItemToObject(k, "keyval", kv);
  return k;
}

/* TUF keyid: hex SHA-256 of the canonical key object. */
static int keyid_of(const mc_pub *pub, char hex[65]) {
  cJSON *k = key_json(pub);
  char *c = NULL;
  size_t cl = 0;
  int rc = k && canon_encode(k, 4096, &c, &cl) == CANON_OK ? 0 : -1;
  if (rc == 0) {
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(c, cl, h);
    crypto_hex(h, sizeof h, hex);
  }
  free(c);
  cJSON_Delete(k);
  return rc;
}

/* ---- signers ---- */

static int p11_generate(void *ctx, const char *label, mc_pub *pub, char *err, size_t cap) {
  return mc_p11_generate(ctx, label, pub->der, sizeof pub->der, &pub->len, err, cap);
}

static int p11_sign(void *ctx, const mc_pub *pub, const void *msg, size_t len, uint8_t *sig,
                    size_t cap, size_t *sig_len, char *err, size_t err_cap) {
  return mc_p11_sign(ctx, pub->der, pub->len, msg, len, sig, cap, sig_len, err, err_cap);
}

void mc_repo_p11_signer(mc_p11 *p, mc_signer *out) {
  out->ctx = p;
  out->generate = p11_generate;
  out->sign = p11_sign;
}

typedef struct memkey {
  uint8_t key[CRYPTO_KEY_DER_MAX];
  size_t key_len;
  mc_pub pub;
} memkey;

struct mc_memkeys {
  crypto_rng_fn rng;
  void *rng_ctx;
  size_t n;
  memkey k[MAX_MEMKEYS];
};

int mc_memkeys_new(crypto_rng_fn rng, void *rng_ctx, mc_memkeys **out) {
  if (!out || !rng) return MC_REPO_EINVAL;
  *out = calloc(1, sizeof **out);
  if (!*out) return MC_REPO_ENOMEM;
  (*out)->rng = rng;
  (*out)->rng_ctx = rng_ctx;
  return MC_REPO_OK;
}

void mc_memkeys_free(mc_memkeys *k) {
  if (!k) return;
  memset(k, 0, sizeof *k); /* private keys */
  free(k);
}

int mc_memkeys_add(mc_memkeys *k, const uint8_t *key_der, size_t len, mc_pub *pub) {
  if (!k || !key_der || len == 0 || len > CRYPTO_KEY_DER_MAX) return MC_REPO_EINVAL;
  if (k->n >= MAX_MEMKEYS) return MC_REPO_ENOMEM;
  memkey *m = &k->k[k->n];
  if (crypto_ec_public_from_private(key_der, len, m->pub.der, sizeof m->pub.der, &m->pub.len) !=
      CRYPTO_OK)
    return MC_REPO_EINVAL;
  memcpy(m->key, key_der, len);
  m->key_len = len;
  if (pub) *pub = m->pub;
  k->n++;
  return MC_REPO_OK;
}

static int mem_generate(void *ctx, const char *label, mc_pub *pub, char *err, size_t cap) {
  mc_memkeys *k = ctx;
  uint8_t der[CRYPTO_KEY_DER_MAX];
  size_t len;
  (void)label;
  if (crypto_ec_generate(k->rng, k->rng_ctx, der, sizeof der, &len) != CRYPTO_OK)
    return fail(MC_REPO_ESIGN, err, cap, "key generation failed");
  int rc = mc_memkeys_add(k, der, len, pub);
  memset(der, 0, sizeof der);
  return rc == MC_REPO_OK ? 0 : fail(MC_REPO_ESIGN, err, cap, "no room for another key");
}

static int mem_sign(void *ctx, const mc_pub *pub, const void *msg, size_t len, uint8_t *sig,
                    size_t cap, size_t *sig_len, char *err, size_t err_cap) {
  mc_memkeys *k = ctx;
  for (size_t i = 0; i < k->n; i++) {
    if (k->k[i].pub.len != pub->len || memcmp(k->k[i].pub.der, pub->der, pub->len) != 0)
      continue;
    return crypto_ec_sign(k->k[i].key, k->k[i].key_len, msg, len, k->rng, k->rng_ctx, sig, cap,
                          sig_len) == CRYPTO_OK
               ? 0
               : fail(MC_REPO_ESIGN, err, err_cap, "in-memory signing failed");
  }
  return fail(MC_P11_ENOKEY, err, err_cap, "no such key in memory");
}

void mc_memkeys_signer(mc_memkeys *k, mc_signer *out) {
  out->ctx = k;
  out->generate = mem_generate;
  out->sign = mem_sign;
}

/* ---- root key files ---- */

int mc_repo_rootkeys_create(const char *dir, mc_memkeys *k, crypto_rng_fn rng, void *rng_ctx,
                            size_t n, mc_pub *pubs, char *err, size_t err_cap) {
  if (!dir || !k || !rng || !pubs || n == 0 || n > 16) return MC_REPO_EINVAL;
  if (mkdir_p(dir, 0700) != 0 || chmod(dir, 0700) != 0)
    return fail(MC_REPO_EIO, err, err_cap, "cannot create root key directory %s: %s", dir,
                strerror(errno));
  for (size_t i = 0; i < n; i++) {
    uint8_t der[CRYPTO_KEY_DER_MAX];
    size_t len;
    char id[65], path[PATH_CAP];
    int rc = MC_REPO_OK;
    if (crypto_ec_generate(rng, rng_ctx, der, sizeof der, &len) != CRYPTO_OK ||
        mc_memkeys_add(k, der, len, &pubs[i]) != MC_REPO_OK || keyid_of(&pubs[i], id) != 0)
      rc = fail(MC_REPO_ESIGN, err, err_cap, "root key generation failed");
    id[16] = 0;
    if (rc == MC_REPO_OK) {
      int fd = -1;
      if (pathf(path, "%s/root-%s.key", dir, id) == 0)
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      int ok = fd >= 0 && write_all(fd, der, len) == 0 && fsync(fd) == 0;
      if (fd >= 0) ok = close(fd) == 0 && ok;
      if (!ok) rc = fail(MC_REPO_EIO, err, err_cap, "cannot write a root key file in %s", dir);
    }
    memset(der, 0, sizeof der);
    if (rc != MC_REPO_OK) return rc;
  }
  return MC_REPO_OK;
}

/* Calls fn for each *.key file of dir with its DER bytes. */
static int each_keyfile(const char *dir, int (*fn)(void *u, const char *path, const uint8_t *der,
                                                   size_t len),
                        void *u, char *err, size_t err_cap) {
  DIR *d = opendir(dir);
  if (!d)
    return fail(MC_REPO_EIO, err, err_cap, "cannot open root key directory %s: %s", dir,
                strerror(errno));
  int rc = MC_REPO_OK, seen = 0;
  struct dirent *e;
  while (rc == MC_REPO_OK && (e = readdir(d)) != NULL && seen < 1000) {
    size_t l = strlen(e->d_name);
    char path[PATH_CAP];
    if (l < 5 || strcmp(e->d_name + l - 4, ".key") != 0) continue;
    seen++;
    uint8_t *der;
    size_t len;
    if (pathf(path, "%s/%s", dir, e->d_name) != 0 ||
        read_all(path, CRYPTO_KEY_DER_MAX, &der, &len) != 0) {
      rc = fail(MC_REPO_EIO, err, err_cap, "cannot read root key %s/%s", dir, e->d_name);
      break;
    }
    rc = fn(u, path, der, len);
    memset(der, 0, len);
    free(der);
    if (rc != MC_REPO_OK) fail(rc, err, err_cap, "root key %s is not a P-256 private key", path);
  }
  closedir(d);
  return rc;
}

static int load_one(void *u, const char *path, const uint8_t *der, size_t len) {
  (void)path;
  return mc_memkeys_add(u, der, len, NULL);
}

int mc_repo_rootkeys_load(const char *dir, mc_memkeys *k, char *err, size_t err_cap) {
  if (!dir || !k) return MC_REPO_EINVAL;
  size_t before = k->n;
  int rc = each_keyfile(dir, load_one, k, err, err_cap);
  if (rc == MC_REPO_OK && k->n == before)
    rc = fail(MC_REPO_ENOTFOUND, err, err_cap, "no root keys (*.key) in %s", dir);
  return rc;
}

typedef struct retire_ctx {
  const char *dir;
  const mc_pub *keep;
  size_t n_keep;
} retire_ctx;

static int retire_one(void *u, const char *path, const uint8_t *der, size_t len) {
  retire_ctx *r = u;
  mc_pub pub;
  if (crypto_ec_public_from_private(der, len, pub.der, sizeof pub.der, &pub.len) != CRYPTO_OK)
    return MC_REPO_EINVAL;
  for (size_t i = 0; i < r->n_keep; i++)
    if (r->keep[i].len == pub.len && memcmp(r->keep[i].der, pub.der, pub.len) == 0)
      return MC_REPO_OK;
  char to[PATH_CAP];
  const char *base = strrchr(path, '/');
  if (pathf(to, "%s/retired/%s", r->dir, base ? base + 1 : path) != 0) return MC_REPO_EIO;
  return rename(path, to) == 0 ? MC_REPO_OK : MC_REPO_EIO;
}

int mc_repo_rootkeys_retire(const char *dir, const mc_pub *keep, size_t n_keep, char *err,
                            size_t err_cap) {
  char rd[PATH_CAP];
  if (!dir || pathf(rd, "%s/retired", dir) != 0 || mkdir_p(rd, 0700) != 0)
    return fail(MC_REPO_EIO, err, err_cap, "cannot create %s/retired", dir ? dir : "");
  retire_ctx r = {dir, keep, n_keep};
  return each_keyfile(dir, retire_one, &r, err, err_cap);
}

/* ---- names ---- */

int mc_repo_version_parse(const char *v, uint32_t out[3]) {
  if (!v) return -1;
  const char *p = v;
  for (int i = 0; i < 3; i++) {
    uint32_t n = 0;
    int digits = 0;
    if (*p < '0' || *p > '9') return -1;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9') return -1; /* leading zero */
    while (*p >= '0' && *p <= '9') {
      if (++digits > 6) return -1;
      n = n * 10 + (uint32_t)(*p++ - '0');
    }
    if (out) out[i] = n;
    if (i < 2 && *p++ != '.') return -1;
  }
  return *p == 0 ? 0 : -1;
}

int mc_repo_ring_index(const char *ring) {
  for (int i = 0; ring && i < MC_REPO_N_RINGS; i++)
    if (strcmp(ring, mc_repo_rings[i]) == 0) return i;
  return -1;
}

static int arch_ok(const char *a) {
  size_t n = a ? strlen(a) : 0;
  if (n == 0 || n > 16) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9') || a[i] == '_'))
      return 0;
  return 1;
}

/* ---- metadata model ---- */

static void repo_free(repo *r) {
  for (int i = 0; i < R_COUNT; i++) cJSON_Delete(r->sg[i]);
  memset(r, 0, sizeof *r);
}

static int64_t get_version(const cJSON *o) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static int set_number(cJSON *o, const char *k, double v) {
  cJSON *n = cJSON_CreateNumber(v);
  if (!n) return MC_REPO_ENOMEM;
  if (cJSON_GetObjectItemCaseSensitive(o, k)) return cJSON_ReplaceItemInObjectCaseSensitive(o, k, n) ? 0 : -1;
  cJSON_AddItemToObject(o, k, n);
  return 0;
}

static int set_string(cJSON *o, const char *k, const char *v) {
  cJSON *n = cJSON_CreateString(v);
  if (!n) return MC_REPO_ENOMEM;
  if (cJSON_GetObjectItemCaseSensitive(o, k)) return cJSON_ReplaceItemInObjectCaseSensitive(o, k, n) ? 0 : -1;
  cJSON_AddItemToObject(o, k, n);
  return 0;
}

/* Reads a metadata file and detaches its "signed". */
static int load_signed(const char *dir, const char *name, cJSON **out, char *err, size_t cap) {
  char p[PATH_CAP];
  uint8_t *buf;
  size_t len;
  *out = NULL;
  if (pathf(p, "%s/metadata/%s", dir, name) != 0 || read_all(p, META_MAX, &buf, &len) != 0)
    return fail(MC_REPO_ECORRUPT, err, cap, "cannot read %s/metadata/%s", dir, name);
  cJSON *doc = cJSON_ParseWithLength((const char *)buf, len);
  free(buf);
  cJSON *sg = doc ? cJSON_DetachItemFromObjectCaseSensitive(doc, "signed") : NULL;
  cJSON_Delete(doc);
  if (!cJSON_IsObject(sg) || get_version(sg) < 0) {
    cJSON_Delete(sg);
    return fail(MC_REPO_ECORRUPT, err, cap, "%s/metadata/%s: not TUF metadata", dir, name);
  }
  *out = sg;
  return MC_REPO_OK;
}

static int64_t meta_version(const cJSON *sg, const char *file) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(sg, "meta");
  return get_version(cJSON_GetObjectItemCaseSensitive(m, file));
}

static int repo_load(const char *dir, repo *r, char *err, size_t cap) {
  memset(r, 0, sizeof *r);
  char p[PATH_CAP], name[128];
  if (pathf(p, "%s/metadata/timestamp.json", dir) != 0 || !file_exists(p))
    return fail(MC_REPO_ENOTFOUND, err, cap, "no repository in %s (run: outpost-cloud repo init)",
                dir);
  int64_t n = 1;
  for (;;) {
    if (n > MAX_ROOT_PROBE || pathf(p, "%s/metadata/%lld.root.json", dir, (long long)n + 1) != 0)
      return fail(MC_REPO_ECORRUPT, err, cap, "too many root versions in %s", dir);
    if (!file_exists(p)) break;
    n++;
  }
  snprintf(name, sizeof name, "%lld.root.json", (long long)n);
  int rc = load_signed(dir, name, &r->sg[R_ROOT], err, cap);
  if (rc == MC_REPO_OK) rc = load_signed(dir, "timestamp.json", &r->sg[R_TIMESTAMP], err, cap);
  if (rc == MC_REPO_OK) {
    snprintf(name, sizeof name, "%lld.snapshot.json",
             (long long)meta_version(r->sg[R_TIMESTAMP], "snapshot.json"));
    rc = load_signed(dir, name, &r->sg[R_SNAPSHOT], err, cap);
  }
  for (int i = R_TARGETS; rc == MC_REPO_OK && i < R_COUNT; i++) {
    char file[64];
    snprintf(file, sizeof file, "%s.json", role_names[i]);
    snprintf(name, sizeof name, "%lld.%s", (long long)meta_version(r->sg[R_SNAPSHOT], file), file);
    rc = load_signed(dir, name, &r->sg[i], err, cap);
  }
  if (rc != MC_REPO_OK) repo_free(r);
  return rc;
}

/* The keys (object keyid -> key) and role entry that sign role i. */
static int role_keys(const repo *r, int i, const cJSON **keys, const cJSON **role) {
  if (i < R_RING0) {
    *keys = cJSON_GetObjectItemCaseSensitive(r->sg[R_ROOT], "keys");
    *role = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r->sg[R_ROOT], "roles"), role_names[i]);
  } else {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(r->sg[R_TARGETS], "delegations");
    *keys = cJSON_GetObjectItemCaseSensitive(d, "keys");
    *role = NULL;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "roles")) {
      const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
      if (cJSON_IsString(nm) && strcmp(nm->valuestring, role_names[i]) == 0) *role = e;
    }
  }
  return cJSON_IsObject(*keys) && cJSON_IsObject(*role) ? 0 : -1;
}

/* Public keys of a role entry's keyids. */
static int role_pubs(const cJSON *keys, const cJSON *role, mc_pub *pubs, size_t max, size_t *n,
                     int *threshold) {
  *n = 0;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(role, "threshold");
  if (!cJSON_IsNumber(t)) return MC_REPO_ECORRUPT;
  *threshold = (int)t->valuedouble;
  const cJSON *id;
  cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(role, "keyids")) {
    if (!cJSON_IsString(id) || *n >= max) return MC_REPO_ECORRUPT;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(keys, id->valuestring);
    const cJSON *pem = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(k, "keyval"), "public");
    if (!cJSON_IsString(pem) || mc_repo_pub_from_pem(pem->valuestring, &pubs[*n]) != MC_REPO_OK)
      return MC_REPO_ECORRUPT;
    (*n)++;
  }
  return *n > 0 ? 0 : -1;
}

static int expires_str(int64_t now_ms, int64_t ttl_s, char out[32]) {
  time_t t = (time_t)(now_ms / 1000 + ttl_s);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return MC_REPO_EINVAL;
  return strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20 ? 0 : -1;
}

static int64_t expires_ms(const cJSON *sg) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(sg, "expires");
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (!cJSON_IsString(e) || !strptime(e->valuestring, "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return (int64_t)timegm(&tm) * 1000;
}

/* Signs sg with each pub the signer holds. need_* are thresholds over the
 * two key sets (set b may be empty); keys the signer lacks are skipped.
 * Writes the whole document's canonical bytes into *doc. */
static int sign_doc(const mc_signer *s, const cJSON *sg, const mc_pub *a, size_t na, int need_a,
                    const mc_pub *b, size_t nb, int need_b, char **doc, size_t *doc_len,
                    char *err, size_t cap) {
  char *msg = NULL;
  size_t ml = 0;
  *doc = NULL;
  if (!s) return fail(MC_REPO_ESIGN, err, cap, "no signer for this role (root keys needed)");
  if (canon_encode(sg, META_MAX, &msg, &ml) != CANON_OK)
    return fail(MC_REPO_ECORRUPT, err, cap, "metadata not canonicalisable");
  cJSON *out = cJSON_CreateObject(), *sigs = cJSON_CreateArray();
  cJSON *cp = cJSON_Duplicate(sg, 1);
  int rc = out && sigs && cp ? MC_REPO_OK : MC_REPO_ENOMEM;
  int got_a = 0, got_b = 0;
  const mc_pub *done[2 * MAX_ROLE_KEYS] = {NULL};
  size_t nd = 0;
  if (na > MAX_ROLE_KEYS || nb > MAX_ROLE_KEYS) rc = MC_REPO_EINVAL;
  for (size_t i = 0; rc == MC_REPO_OK && i < na + nb; i++) {
    const mc_pub *pub = i < na ? &a[i] : &b[i - na];
    int dup = 0;
    for (size_t j = 0; j < i; j++) {
      const mc_pub *q = j < na ? &a[j] : &b[j - na];
      if (q->len == pub->len && memcmp(q->der, pub->der, pub->len) == 0) dup = 1;
    }
    if (dup) continue; /* one signature per key, counted for both sets below */
    uint8_t sig[CRYPTO_SIG_MAX];
    size_t sl;
    char id[65], hex[2 * CRYPTO_SIG_MAX + 1];
    int sr = s->sign(s->ctx, pub, msg, ml, sig, sizeof sig, &sl, err, cap);
    if (sr == MC_P11_ENOKEY) continue;
    if (sr != 0) {
      rc = MC_REPO_ESIGN;
      break;
    }
    done[nd++] = pub;
    crypto_hex(sig, sl, hex);
    cJSON *e = cJSON_CreateObject();
    if (keyid_of(pub, id) != 0 || !e || !cJSON_AddStringToObject(e, "keyid", id) ||
        !cJSON_AddStringToObject(e, "sig", hex)) {
      cJSON_Delete(e);
      rc = MC_REPO_ENOMEM;
      break;
    }
    cJSON_AddItemToArray(sigs, e);
  }
  for (size_t i = 0; i < na + nb; i++) {
    const mc_pub *pub = i < na ? &a[i] : &b[i - na];
    for (size_t j = 0; j < nd; j++)
      if (done[j]->len == pub->len && memcmp(done[j]->der, pub->der, pub->len) == 0) {
        if (i < na) got_a++;
        else got_b++;
        break;
      }
  }
  if (rc == MC_REPO_OK && (got_a < need_a || got_b < need_b))
    rc = fail(MC_REPO_ESIGN, err, cap, "only %d of %d (and %d of %d) needed signatures: keys missing",
              got_a, need_a, got_b, need_b);
  if (rc == MC_REPO_OK) {
    cJSON_AddItemToObject(out, "signatures", sigs);
    cJSON_AddItemToObject(out, "signed", cp);
    sigs = cp = NULL;
    /* The file is plain JSON (control characters escaped, as python-tuf
     * and our client require: a PEM key's newlines inside a string are
     * "\n"); the signatures are over the canonical form of "signed",
     * which every client re-derives from the parsed document. */
    char *text = cJSON_PrintUnformatted(out);
    size_t tl = text ? strlen(text) : 0;
    if (!text || tl > META_MAX) {
      rc = text ? MC_REPO_EINVAL : MC_REPO_ENOMEM;
    } else if (!(*doc = malloc(tl + 1))) {
      rc = MC_REPO_ENOMEM;
    } else {
      memcpy(*doc, text, tl + 1);
      *doc_len = tl;
    }
    cJSON_free(text);
  }
  cJSON_Delete(sigs);
  cJSON_Delete(cp);
  cJSON_Delete(out);
  free(msg);
  return rc;
}

static int write_meta(const char *dir, const char *name, const char *doc, size_t len, char *err,
                      size_t cap) {
  char p[PATH_CAP];
  if (pathf(p, "%s/metadata/%s", dir, name) != 0 || atomic_write(p, doc, len, 0644) != 0)
    return fail(MC_REPO_EIO, err, cap, "cannot write %s/metadata/%s: %s", dir, name,
                strerror(errno));
  return MC_REPO_OK;
}

/* New version of an online role i: version+1, expiry from now, signed. */
static int publish_role(const mc_repo_ctx *c, repo *r, int i, char *err, size_t cap) {
  cJSON *sg = r->sg[i];
  char exp[32], name[128];
  const cJSON *keys, *role;
  mc_pub pubs[MAX_ROLE_KEYS];
  size_t np;
  int th;
  if (i == R_SNAPSHOT) {
    cJSON *meta = cJSON_CreateObject();
    for (int j = R_TARGETS; meta && j < R_COUNT; j++) {
      cJSON *m = cJSON_CreateObject();
      snprintf(name, sizeof name, "%s.json", role_names[j]);
      if (!m || set_number(m, "version", (double)get_version(r->sg[j])) != 0) {
        cJSON_Delete(m);
        cJSON_Delete(meta);
        return MC_REPO_ENOMEM;
      }
      cJSON_AddItemToObject(meta, name, m);
    }
    if (!meta || !cJSON_ReplaceItemInObjectCaseSensitive(sg, "meta", meta)) {
      cJSON_Delete(meta);
      return MC_REPO_ENOMEM;
    }
  } else if (i == R_TIMESTAMP) {
    /* Length and hash of the snapshot file as written. */
    uint8_t *buf;
    size_t len;
    char p[PATH_CAP], hex[65];
    uint8_t h[CRYPTO_SHA256_LEN];
    int64_t sv = get_version(r->sg[R_SNAPSHOT]);
    if (pathf(p, "%s/metadata/%lld.snapshot.json", c->dir, (long long)sv) != 0 ||
        read_all(p, META_MAX, &buf, &len) != 0)
      return fail(MC_REPO_EIO, err, cap, "cannot read back %s", p);
    crypto_sha256(buf, len, h);
    free(buf);
    crypto_hex(h, sizeof h, hex);
    cJSON *meta = cJSON_CreateObject(), *m = cJSON_CreateObject(), *hs = cJSON_CreateObject();
    int ok = meta && m && hs && set_number(m, "version", (double)sv) == 0 &&
             set_number(m, "length", (double)len) == 0 && set_string(hs, "sha256", hex) == 0;
    if (ok) {
      cJSON_AddItemToObject(m, "hashes", hs);
      cJSON_AddItemToObject(meta, "snapshot.json", m);
      hs = m = NULL;
      ok = cJSON_ReplaceItemInObjectCaseSensitive(sg, "meta", meta) != 0;
      if (ok) meta = NULL;
    }
    cJSON_Delete(hs);
    cJSON_Delete(m);
    cJSON_Delete(meta);
    if (!ok) return MC_REPO_ENOMEM;
  }
  if (expires_str(c->now_ms, role_ttl[i], exp) != 0 ||
      set_number(sg, "version", (double)(get_version(sg) + 1)) != 0 ||
      set_string(sg, "expires", exp) != 0)
    return MC_REPO_ENOMEM;
  if (role_keys(r, i, &keys, &role) != 0 ||
      role_pubs(keys, role, pubs, MAX_ROLE_KEYS, &np, &th) != 0)
    return fail(MC_REPO_ECORRUPT, err, cap, "no keys for role %s", role_names[i]);
  char *doc = NULL;
  size_t dl = 0;
  int rc = sign_doc(c->online, sg, pubs, np, th, NULL, 0, 0, &doc, &dl, err, cap);
  if (rc != MC_REPO_OK) return rc;
  if (i == R_TIMESTAMP) snprintf(name, sizeof name, "timestamp.json");
  else snprintf(name, sizeof name, "%lld.%s.json", (long long)get_version(sg), role_names[i]);
  rc = write_meta(c->dir, name, doc, dl, err, cap);
  free(doc);
  return rc;
}

#define PUB_RING(i) (1u << (R_RING0 + (i)))
#define PUB_TARGETS (1u << R_TARGETS)

/* Publishes the roles in mask (bits by role index), then always snapshot and
 * timestamp, in the order a client reads them backwards: timestamp last. */
static int publish(const mc_repo_ctx *c, repo *r, unsigned mask, int snapshot, char *err,
                   size_t cap) {
  int rc = MC_REPO_OK;
  for (int i = R_RING0; rc == MC_REPO_OK && i < R_COUNT; i++)
    if (mask & (1u << i)) rc = publish_role(c, r, i, err, cap);
  if (rc == MC_REPO_OK && (mask & PUB_TARGETS)) rc = publish_role(c, r, R_TARGETS, err, cap);
  if (rc == MC_REPO_OK && (snapshot || mask)) rc = publish_role(c, r, R_SNAPSHOT, err, cap);
  if (rc == MC_REPO_OK) rc = publish_role(c, r, R_TIMESTAMP, err, cap);
  return rc;
}

/* Writes r's root as a new version, signed by a threshold of old's root keys
 * (old NULL for version 1) and of its own. */
static int write_root(const mc_repo_ctx *c, repo *r, const cJSON *old, char *err, size_t cap) {
  char exp[32], name[64];
  cJSON *sg = r->sg[R_ROOT];
  if (expires_str(c->now_ms, MC_REPO_ROOT_TTL, exp) != 0 || set_string(sg, "expires", exp) != 0)
    return MC_REPO_ENOMEM;
  mc_pub a[MAX_ROLE_KEYS], b[MAX_ROLE_KEYS];
  size_t na, nb = 0;
  int ta, tb = 0;
  const cJSON *roles = cJSON_GetObjectItemCaseSensitive(sg, "roles");
  if (role_pubs(cJSON_GetObjectItemCaseSensitive(sg, "keys"),
                cJSON_GetObjectItemCaseSensitive(roles, "root"), a, MAX_ROLE_KEYS, &na, &ta) != 0)
    return fail(MC_REPO_ECORRUPT, err, cap, "root: no root keys");
  if (old &&
      role_pubs(cJSON_GetObjectItemCaseSensitive(old, "keys"),
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(old, "roles"), "root"),
                b, MAX_ROLE_KEYS, &nb, &tb) != 0)
    return fail(MC_REPO_ECORRUPT, err, cap, "old root: no root keys");
  char *doc = NULL;
  size_t dl = 0;
  int rc = sign_doc(c->root, sg, a, na, ta, b, nb, tb, &doc, &dl, err, cap);
  if (rc != MC_REPO_OK) return rc;
  snprintf(name, sizeof name, "%lld.root.json", (long long)get_version(sg));
  rc = write_meta(c->dir, name, doc, dl, err, cap);
  free(doc);
  return rc;
}

/* ---- operations ---- */

static cJSON *role_entry(const char *const *ids, size_t n, int threshold) {
  cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
  for (size_t i = 0; o && a && i < n; i++) {
    cJSON *s = cJSON_CreateString(ids[i]);
    if (!s) break;
    cJSON_AddItemToArray(a, s);
  }
  if (!o || !a || cJSON_GetArraySize(a) != (int)n || set_number(o, "threshold", threshold) != 0) {
    cJSON_Delete(o);
    cJSON_Delete(a);
    return NULL;
  }
  cJSON_AddItemToObject(o, "keyids", a);
  return o;
}

static cJSON *new_signed(const char *type, int64_t version) {
  cJSON *o = cJSON_CreateObject();
  if (!o || set_string(o, "_type", type) != 0 || set_string(o, "spec_version", SPEC_VERSION) != 0 ||
      set_number(o, "version", (double)version) != 0 || set_string(o, "expires", "") != 0) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* Adds key pub to keys (object) and returns its keyid in id. */
static int add_key(cJSON *keys, const mc_pub *pub, char id[65]) {
  if (keyid_of(pub, id) != 0) return MC_REPO_ENOMEM;
  if (cJSON_GetObjectItemCaseSensitive(keys, id)) return 0;
  cJSON *k = key_json(pub);
  if (!k) return MC_REPO_ENOMEM;
  cJSON_AddItemToObject(keys, id, k);
  return 0;
}

static int gen_key(const mc_repo_ctx *c, const char *role, mc_pub *pub, char *err, size_t cap) {
  char label[64];
  snprintf(label, sizeof label, "outpost-%s", role);
  int rc = c->online->generate(c->online->ctx, label, pub, err, cap);
  return rc == 0 ? MC_REPO_OK : MC_REPO_ESIGN;
}

int mc_repo_init(const mc_repo_ctx *c, const mc_pub root_pubs[MC_REPO_ROOT_KEYS], char *err,
                 size_t cap) {
  if (!c || !c->dir || !c->online || !c->root || !root_pubs)
    return fail(MC_REPO_EINVAL, err, cap, "repo init: online signer and root keys are needed");
  char p[PATH_CAP];
  if (pathf(p, "%s/metadata", c->dir) != 0 || mkdir_p(p, 0755) != 0 ||
      pathf(p, "%s/targets", c->dir) != 0 || mkdir_p(p, 0755) != 0 ||
      pathf(p, "%s/blobs", c->dir) != 0 || mkdir_p(p, 0755) != 0)
    return fail(MC_REPO_EIO, err, cap, "cannot create %s: %s", c->dir, strerror(errno));
  int lk = lock_repo(c->dir);
  if (lk < 0) return fail(MC_REPO_EIO, err, cap, "cannot lock %s", c->dir);
  repo r;
  memset(&r, 0, sizeof r);
  int rc = MC_REPO_OK;
  if (pathf(p, "%s/metadata/1.root.json", c->dir) != 0 || file_exists(p)) {
    rc = fail(MC_REPO_EEXIST, err, cap, "a repository already exists in %s", c->dir);
    goto out;
  }
  mc_pub online[R_COUNT], release;
  for (int i = R_TIMESTAMP; rc == MC_REPO_OK && i < R_COUNT; i++)
    rc = gen_key(c, role_names[i], &online[i], err, cap);
  if (rc == MC_REPO_OK) rc = gen_key(c, "release", &release, err, cap);
  if (rc != MC_REPO_OK) goto out;
  char pem[PEM_MAX];
  if (mc_repo_pub_pem(&release, pem, sizeof pem) != MC_REPO_OK ||
      pathf(p, "%s/release-key.pem", c->dir) != 0 || atomic_write(p, pem, strlen(pem), 0644) != 0) {
    rc = fail(MC_REPO_EIO, err, cap, "cannot write %s/release-key.pem", c->dir);
    goto out;
  }
  /* root */
  rc = MC_REPO_ENOMEM;
  cJSON *keys, *roles;
  r.sg[R_ROOT] = new_signed("root", 1);
  if (!r.sg[R_ROOT] || !cJSON_AddTrueToObject(r.sg[R_ROOT], "consistent_snapshot") ||
      !(keys = cJSON_AddObjectToObject(r.sg[R_ROOT], "keys")) ||
      !(roles = cJSON_AddObjectToObject(r.sg[R_ROOT], "roles")))
    goto out;
  char ids[MC_REPO_ROOT_KEYS][65];
  const char *idp[MC_REPO_ROOT_KEYS];
  for (int i = 0; i < MC_REPO_ROOT_KEYS; i++) {
    if (add_key(keys, &root_pubs[i], ids[i]) != 0) goto out;
    idp[i] = ids[i];
  }
  cJSON *e = role_entry(idp, MC_REPO_ROOT_KEYS, MC_REPO_ROOT_THRESHOLD);
  if (!e) goto out;
  cJSON_AddItemToObject(roles, "root", e);
  for (int i = R_TIMESTAMP; i <= R_TARGETS; i++) {
    char id[65];
    const char *one = id;
    if (add_key(keys, &online[i], id) != 0 || !(e = role_entry(&one, 1, 1))) goto out;
    cJSON_AddItemToObject(roles, role_names[i], e);
  }
  /* targets with the ring delegations; rings, snapshot, timestamp at 0:
   * publish() raises every one to version 1. */
  cJSON *deleg, *dkeys, *droles;
  if (!(r.sg[R_TARGETS] = new_signed("targets", 0)) ||
      !cJSON_AddObjectToObject(r.sg[R_TARGETS], "targets") ||
      !(deleg = cJSON_AddObjectToObject(r.sg[R_TARGETS], "delegations")) ||
      !(dkeys = cJSON_AddObjectToObject(deleg, "keys")) ||
      !(droles = cJSON_AddArrayToObject(deleg, "roles")))
    goto out;
  for (int i = 0; i < MC_REPO_N_RINGS; i++) {
    char id[65], pat[64];
    const char *one = id;
    if (add_key(dkeys, &online[R_RING0 + i], id) != 0 || !(e = role_entry(&one, 1, 1))) goto out;
    cJSON_AddItemToArray(droles, e);
    snprintf(pat, sizeof pat, "%s/*/*/*", mc_repo_rings[i]);
    cJSON *paths = cJSON_AddArrayToObject(e, "paths"), *ps = cJSON_CreateString(pat);
    if (!paths || !ps || set_string(e, "name", mc_repo_rings[i]) != 0 ||
        !cJSON_AddFalseToObject(e, "terminating")) {
      cJSON_Delete(ps);
      goto out;
    }
    cJSON_AddItemToArray(paths, ps);
    if (!(r.sg[R_RING0 + i] = new_signed("targets", 0)) ||
        !cJSON_AddObjectToObject(r.sg[R_RING0 + i], "targets"))
      goto out;
  }
  if (!(r.sg[R_SNAPSHOT] = new_signed("snapshot", 0)) ||
      !cJSON_AddObjectToObject(r.sg[R_SNAPSHOT], "meta") ||
      !(r.sg[R_TIMESTAMP] = new_signed("timestamp", 0)) ||
      !cJSON_AddObjectToObject(r.sg[R_TIMESTAMP], "meta"))
    goto out;
  rc = write_root(c, &r, NULL, err, cap);
  if (rc == MC_REPO_OK)
    rc = publish(c, &r, PUB_TARGETS | PUB_RING(0) | PUB_RING(1) | PUB_RING(2), 1, err, cap);
out:
  if (rc == MC_REPO_ENOMEM) fail(rc, err, cap, "out of memory");
  repo_free(&r);
  unlock_repo(lk);
  return rc;
}

/* Opens the repository for a change: lock, then load. */
static int begin(const mc_repo_ctx *c, repo *r, int *lk, char *err, size_t cap) {
  if (!c || !c->dir || !c->online) return fail(MC_REPO_EINVAL, err, cap, "bad repository context");
  char p[PATH_CAP];
  if (pathf(p, "%s/metadata/timestamp.json", c->dir) != 0 || !file_exists(p))
    return fail(MC_REPO_ENOTFOUND, err, cap,
                "no repository in %s (run: outpost-cloud repo init first)", c->dir);
  *lk = lock_repo(c->dir);
  if (*lk < 0) return fail(MC_REPO_EIO, err, cap, "cannot lock %s", c->dir);
  int rc = repo_load(c->dir, r, err, cap);
  if (rc != MC_REPO_OK) {
    unlock_repo(*lk);
    *lk = -1;
  }
  return rc;
}

/* Hard-links blobs/<sha> as targets/<dirpath>/<sha>.<base>. */
static int link_target(const char *dir, const char *tpath, const char *sha) {
  char src[PATH_CAP], dst[PATH_CAP], d[PATH_CAP];
  const char *slash = strrchr(tpath, '/');
  if (!slash) return MC_REPO_EIO;
  if (pathf(src, "%s/blobs/%s", dir, sha) != 0 ||
      pathf(d, "%s/targets/%.*s", dir, (int)(slash - tpath), tpath) != 0 ||
      pathf(dst, "%s/%s.%s", d, sha, slash + 1) != 0 || mkdir_p(d, 0755) != 0)
    return MC_REPO_EIO;
  if (link(src, dst) != 0 && errno != EEXIST) return MC_REPO_EIO;
  return 0;
}

static int store_blob(const char *dir, const void *data, size_t len, char sha[65]) {
  uint8_t h[CRYPTO_SHA256_LEN];
  char p[PATH_CAP];
  crypto_sha256(data, len, h);
  crypto_hex(h, sizeof h, sha);
  if (pathf(p, "%s/blobs/%s", dir, sha) != 0) return MC_REPO_EINVAL; /* path too long */
  if (file_exists(p)) return 0; /* named by content: same bytes */
  return atomic_write(p, data, len, 0644);
}

static cJSON *target_entry(size_t len, const char *sha, const char *version) {
  cJSON *e = cJSON_CreateObject(), *h = cJSON_CreateObject();
  if (!e || !h || set_number(e, "length", (double)len) != 0 || set_string(h, "sha256", sha) != 0) {
    cJSON_Delete(e);
    cJSON_Delete(h);
    return NULL;
  }
  cJSON_AddItemToObject(e, "hashes", h);
  if (version) {
    cJSON *cu = cJSON_AddObjectToObject(e, "custom");
    if (!cu || set_string(cu, "version", version) != 0) {
      cJSON_Delete(e);
      return NULL;
    }
  }
  return e;
}

static const char *entry_sha(const cJSON *e) {
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "hashes"), "sha256");
  return cJSON_IsString(h) ? h->valuestring : NULL;
}

int mc_repo_release(const mc_repo_ctx *c, const uint8_t *bin, size_t len, const char *version,
                    const char *ring, const char *arch, char *err, size_t cap) {
  if (!arch) arch = "x86_64";
  if (mc_repo_version_parse(version, NULL) != 0)
    return fail(MC_REPO_EINVAL, err, cap,
                "bad version \"%s\": want MAJOR.MINOR.PATCH, each 0..999999 without leading zeros",
                version ? version : "");
  int ri = mc_repo_ring_index(ring);
  if (ri < 0)
    return fail(MC_REPO_EINVAL, err, cap, "unknown ring \"%s\" (canary, early-access, stable)",
                ring ? ring : "");
  if (!arch_ok(arch))
    return fail(MC_REPO_EINVAL, err, cap, "bad arch \"%s\" (uname -m style: x86_64, aarch64)", arch);
  if (!bin || len == 0 || len > MC_REPO_MAX_BINARY)
    return fail(MC_REPO_EINVAL, err, cap, "binary is empty or larger than %u bytes",
                MC_REPO_MAX_BINARY);
  repo r;
  memset(&r, 0, sizeof r);
  int lk = -1;
  int rc = begin(c, &r, &lk, err, cap);
  if (rc != MC_REPO_OK) return rc;
  char base[64], tpath[256], spath[260], sha[65], ssha[65], tail[128];
  uint8_t h[CRYPTO_SHA256_LEN];
  crypto_sha256(bin, len, h);
  crypto_hex(h, sizeof h, sha);
  snprintf(base, sizeof base, "outpost-agent-linux-%s", arch);
  snprintf(tail, sizeof tail, "/outpost-agent/%s/%s", version, base);
  snprintf(tpath, sizeof tpath, "%s%s", ring, tail);
  snprintf(spath, sizeof spath, "%s.sig", tpath);
  /* A version names one set of bytes per arch, in every ring. */
  for (int i = 0; i < MC_REPO_N_RINGS; i++) {
    char p[256];
    snprintf(p, sizeof p, "%s%s", mc_repo_rings[i], tail);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r.sg[R_RING0 + i], "targets"), p);
    if (!e) continue;
    const char *s = entry_sha(e);
    if (i == ri || !s || strcmp(s, sha) != 0) {
      rc = fail(MC_REPO_EEXIST, err, cap,
                i == ri ? "version %s (%s) is already released in %s"
                        : "version %s (%s) is already released with other bytes (in %s)",
                version, arch, mc_repo_rings[i]);
      goto out;
    }
  }
  /* The release statement, signed by the release key (not a TUF key). */
  mc_pub rel;
  if ((rc = mc_repo_release_pub(c->dir, &rel, err, cap)) != MC_REPO_OK) goto out;
  cJSON *st = cJSON_CreateObject(), *sigdoc = cJSON_CreateObject();
  char *stc = NULL, *sigc = NULL;
  size_t stl = 0, sigl = 0;
  rc = MC_REPO_ENOMEM;
  if (st && sigdoc && set_string(st, "arch", arch) == 0 && set_number(st, "length", (double)len) == 0 &&
      set_string(st, "name", "outpost-agent") == 0 && set_string(st, "sha256", sha) == 0 &&
      set_string(st, "version", version) == 0 && canon_encode(st, 4096, &stc, &stl) == CANON_OK) {
    uint8_t sig[CRYPTO_SIG_MAX], kh[CRYPTO_SHA256_LEN];
    size_t sl;
    char hex[2 * CRYPTO_SIG_MAX + 1], kid[65];
    if (c->online->sign(c->online->ctx, &rel, stc, stl, sig, sizeof sig, &sl, err, cap) != 0) {
      rc = MC_REPO_ESIGN;
    } else {
      crypto_hex(sig, sl, hex);
      crypto_sha256(rel.der, rel.len, kh);
      crypto_hex(kh, sizeof kh, kid);
      if (set_string(sigdoc, "keyid", kid) == 0 && set_string(sigdoc, "sig", hex) == 0) {
        cJSON_AddItemToObject(sigdoc, "signed", st);
        st = NULL;
        if (canon_encode(sigdoc, SIG_FILE_MAX, &sigc, &sigl) == CANON_OK) rc = MC_REPO_OK;
      }
    }
  }
  cJSON_Delete(st);
  cJSON_Delete(sigdoc);
  free(stc);
  if (rc == MC_REPO_OK && (store_blob(c->dir, bin, len, sha) != 0 ||
                           store_blob(c->dir, sigc, sigl, ssha) != 0 ||
                           link_target(c->dir, tpath, sha) != 0 ||
                           link_target(c->dir, spath, ssha) != 0))
    rc = fail(MC_REPO_EIO, err, cap, "cannot store the target files under %s: %s", c->dir,
              strerror(errno));
  if (rc == MC_REPO_OK) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(r.sg[R_RING0 + ri], "targets");
    cJSON *eb = target_entry(len, sha, version), *es = target_entry(sigl, ssha, NULL);
    if (!t || !eb || !es) {
      cJSON_Delete(eb);
      cJSON_Delete(es);
      rc = MC_REPO_ENOMEM;
    } else {
      cJSON_AddItemToObject(t, tpath, eb);
      cJSON_AddItemToObject(t, spath, es);
      rc = publish(c, &r, PUB_RING(ri), 1, err, cap);
    }
  }
  free(sigc);
out:
  if (rc == MC_REPO_ENOMEM) fail(rc, err, cap, "out of memory");
  repo_free(&r);
  unlock_repo(lk);
  return rc;
}

int mc_repo_promote(const mc_repo_ctx *c, const char *version, const char *from, const char *to,
                    char *err, size_t cap) {
  if (mc_repo_version_parse(version, NULL) != 0)
    return fail(MC_REPO_EINVAL, err, cap,
                "bad version \"%s\": want MAJOR.MINOR.PATCH, each 0..999999 without leading zeros",
                version ? version : "");
  int fi = mc_repo_ring_index(from), ti = mc_repo_ring_index(to);
  if (fi < 0 || ti < 0)
    return fail(MC_REPO_EINVAL, err, cap, "unknown ring \"%s\" (canary, early-access, stable)",
                fi < 0 ? (from ? from : "") : (to ? to : ""));
  if (ti <= fi)
    return fail(MC_REPO_EINVAL, err, cap,
                "cannot promote from %s to %s: rings go canary -> early-access -> stable", from, to);
  repo r;
  memset(&r, 0, sizeof r);
  int lk = -1;
  int rc = begin(c, &r, &lk, err, cap);
  if (rc != MC_REPO_OK) return rc;
  char prefix[128];
  size_t pl = (size_t)snprintf(prefix, sizeof prefix, "%s/outpost-agent/%s/", from, version);
  cJSON *src = cJSON_GetObjectItemCaseSensitive(r.sg[R_RING0 + fi], "targets");
  cJSON *dst = cJSON_GetObjectItemCaseSensitive(r.sg[R_RING0 + ti], "targets");
  int n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, src) {
    if (rc != MC_REPO_OK) break;
    if (strncmp(e->string, prefix, pl) != 0) continue;
    char np[512];
    snprintf(np, sizeof np, "%s/outpost-agent/%s/%s", to, version, e->string + pl);
    const char *sha = entry_sha(e);
    cJSON *cp;
    if (cJSON_GetObjectItemCaseSensitive(dst, np)) {
      rc = fail(MC_REPO_EEXIST, err, cap, "version %s is already in %s", version, to);
    } else if (!sha || link_target(c->dir, np, sha) != 0) {
      rc = fail(MC_REPO_EIO, err, cap, "cannot link %s under %s/targets", np, c->dir);
    } else if (!(cp = cJSON_Duplicate(e, 1))) {
      rc = MC_REPO_ENOMEM;
    } else {
      cJSON_AddItemToObject(dst, np, cp);
      n++;
    }
  }
  if (rc == MC_REPO_OK && n == 0)
    rc = fail(MC_REPO_ENOTFOUND, err, cap, "version %s is not in ring %s", version, from);
  if (rc == MC_REPO_OK) rc = publish(c, &r, PUB_RING(ti), 1, err, cap);
  if (rc == MC_REPO_ENOMEM) fail(rc, err, cap, "out of memory");
  repo_free(&r);
  unlock_repo(lk);
  return rc;
}

/* Drops the keys no role lists any more (roles: object or array of role
 * entries; bounded by the key count). */
static void gc_keys(cJSON *keys, const cJSON *roles) {
  cJSON *k = keys->child;
  while (k) {
    cJSON *next = k->next;
    int used = 0;
    const cJSON *ro;
    cJSON_ArrayForEach(ro, roles) {
      const cJSON *x;
      cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(ro, "keyids"))
        if (cJSON_IsString(x) && strcmp(x->valuestring, k->string) == 0) used = 1;
    }
    if (!used) cJSON_Delete(cJSON_DetachItemViaPointer(keys, k));
    k = next;
  }
}

/* Makes pubs (n) the only keys of role entry ro, then drops unused keys. */
static int set_role_keys(cJSON *keys, cJSON *ro, const mc_pub *pubs, size_t n, const cJSON *roles) {
  char ids[MC_REPO_ROOT_KEYS][65];
  const char *idp[MC_REPO_ROOT_KEYS];
  if (n == 0 || n > MC_REPO_ROOT_KEYS) return MC_REPO_EINVAL;
  for (size_t k = 0; k < n; k++) {
    if (add_key(keys, &pubs[k], ids[k]) != 0) return MC_REPO_EINVAL;
    idp[k] = ids[k];
  }
  cJSON *e = role_entry(idp, n, 1);
  cJSON *ids_arr = e ? cJSON_DetachItemFromObjectCaseSensitive(e, "keyids") : NULL;
  cJSON_Delete(e);
  if (!ids_arr || !cJSON_ReplaceItemInObjectCaseSensitive(ro, "keyids", ids_arr)) {
    cJSON_Delete(ids_arr);
    return MC_REPO_EINVAL;
  }
  gc_keys(keys, roles);
  return 0;
}

int mc_repo_rotate(const mc_repo_ctx *c, const char *role, const mc_pub new_root[MC_REPO_ROOT_KEYS],
                   char *err, size_t cap) {
  int i = -1;
  for (int j = 0; role && j < R_COUNT; j++)
    if (strcmp(role, role_names[j]) == 0) i = j;
  if (i < 0)
    return fail(MC_REPO_EINVAL, err, cap,
                "unknown role \"%s\" (root, timestamp, snapshot, targets, canary, early-access, "
                "stable; the release key is compiled into agents and is not rotated here)",
                role ? role : "");
  if (i < R_RING0 && !c->root)
    return fail(MC_REPO_EINVAL, err, cap, "rotating %s makes a new root: --root-keys is needed",
                role);
  if (i == R_ROOT && !new_root)
    return fail(MC_REPO_EINVAL, err, cap, "root rotation needs the new root keys");
  repo r;
  memset(&r, 0, sizeof r);
  int lk = -1;
  int rc = begin(c, &r, &lk, err, cap);
  if (rc != MC_REPO_OK) return rc;
  cJSON *old_root = NULL;
  mc_pub pub;
  if (i != R_ROOT && (rc = gen_key(c, role, &pub, err, cap)) != MC_REPO_OK) goto out;
  if (i >= R_RING0) {
    cJSON *d = cJSON_GetObjectItemCaseSensitive(r.sg[R_TARGETS], "delegations");
    const cJSON *keys, *ro;
    if (role_keys(&r, i, &keys, &ro) != 0 ||
        set_role_keys((cJSON *)keys, (cJSON *)ro, &pub, 1,
                      cJSON_GetObjectItemCaseSensitive(d, "roles")) != 0) {
      rc = fail(MC_REPO_ECORRUPT, err, cap, "targets: cannot update the delegation of %s", role);
      goto out;
    }
    rc = publish(c, &r, PUB_TARGETS | PUB_RING(i - R_RING0), 1, err, cap);
    goto out;
  }
  if (!(old_root = cJSON_Duplicate(r.sg[R_ROOT], 1))) {
    rc = MC_REPO_ENOMEM;
    goto out;
  }
  cJSON *keys = cJSON_GetObjectItemCaseSensitive(r.sg[R_ROOT], "keys");
  cJSON *roles = cJSON_GetObjectItemCaseSensitive(r.sg[R_ROOT], "roles");
  cJSON *ro = cJSON_GetObjectItemCaseSensitive(roles, role);
  if (!keys || !ro) {
    rc = fail(MC_REPO_ECORRUPT, err, cap, "root: no role %s", role);
    goto out;
  }
  if (set_role_keys(keys, ro, i == R_ROOT ? new_root : &pub, i == R_ROOT ? MC_REPO_ROOT_KEYS : 1,
                    roles) != 0) {
    rc = MC_REPO_ENOMEM;
    goto out;
  }
  if (set_number(r.sg[R_ROOT], "version", (double)(get_version(old_root) + 1)) != 0) {
    rc = MC_REPO_ENOMEM;
    goto out;
  }
  rc = write_root(c, &r, old_root, err, cap);
  /* The rotated role re-signs at once; snapshot and timestamp always do, so
   * clients move off metadata signed by a rotated-out key. */
  if (rc == MC_REPO_OK) rc = publish(c, &r, i == R_TARGETS ? PUB_TARGETS : 0, 1, err, cap);
out:
  if (rc == MC_REPO_ENOMEM) fail(rc, err, cap, "out of memory");
  cJSON_Delete(old_root);
  repo_free(&r);
  unlock_repo(lk);
  return rc;
}

int mc_repo_refresh(const mc_repo_ctx *c, int force, unsigned *resigned, char *err, size_t cap) {
  if (resigned) *resigned = 0;
  repo r;
  memset(&r, 0, sizeof r);
  int lk = -1;
  int rc = begin(c, &r, &lk, err, cap);
  if (rc != MC_REPO_OK) return rc;
  unsigned mask = 0;
  int snap = 0, ts = force;
  for (int i = R_TIMESTAMP; i < R_COUNT; i++) {
    int due = c->now_ms >= expires_ms(r.sg[i]) - role_ttl[i] * 1000 / 2;
    if (!due) continue;
    if (i == R_TIMESTAMP) ts = 1;
    else if (i == R_SNAPSHOT) snap = 1;
    else mask |= 1u << i;
  }
  if (mask || snap || ts) rc = publish(c, &r, mask, snap, err, cap);
  if (rc == MC_REPO_OK && resigned)
    *resigned = (mask || snap || ts ? 1u : 0u) | (mask || snap ? 2u : 0u) | (mask ? 4u : 0u);
  repo_free(&r);
  unlock_repo(lk);
  return rc;
}

int mc_repo_release_pub(const char *dir, mc_pub *pub, char *err, size_t cap) {
  char p[PATH_CAP];
  uint8_t *buf;
  size_t len;
  if (!dir || !pub || pathf(p, "%s/release-key.pem", dir) != 0 || read_all(p, 4096, &buf, &len) != 0)
    return fail(MC_REPO_ENOTFOUND, err, cap, "cannot read %s/release-key.pem", dir ? dir : "");
  int rc = mc_repo_pub_from_pem((const char *)buf, pub);
  free(buf);
  return rc == MC_REPO_OK ? rc : fail(MC_REPO_ECORRUPT, err, cap, "%s: not a PEM public key", p);
}
