/* outpost-tuf-client - the TUF client (agent/core/tuf) behind the client
 * protocol of the TUF conformance suite (tuf-conformance CLIENT-CLI.md):
 *
 *   outpost-tuf-client --metadata-dir D init TRUSTED_ROOT
 *   outpost-tuf-client --metadata-dir D --metadata-url U refresh
 *   outpost-tuf-client --metadata-dir D --metadata-url U --target-name P [...]
 *       --target-base-url T --target-dir TD download
 *
 * This file is the I/O driver: files, HTTP (libcurl easy; https, or plain
 * http to loopback only), wall clock (libc, so faketime moves it). Every
 * decision about trust is made by tuf_*. Metadata files in D have
 * non-versioned names (root.json, ..., <percent-encoded role>.json) and are
 * written (temp + fsync + rename) only after tuf_* accepted them. Exit 0 when
 * the whole command succeeded, 1 otherwise, 2 for usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/tuf.h"
#include "common/version.h"

#define MAX_TARGET_NAMES 64
#define MAX_PATH 4096
#define HTTP_TIMEOUT_MS 30000L
#define NET_URL_CAP 16384

typedef struct client {
  const char *md_dir, *md_url, *target_url, *target_dir;
  const char *targets[MAX_TARGET_NAMES];
  int n_targets;
  tuf_set *set;
  CURL *curl;
} client;

static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("outpost-tuf-client: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- files ---- */

/* 0 and *buf (malloc'd) on success; -ENOENT when absent; -EFBIG over max. */
static int read_file(const char *path, size_t max, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t cap = 4096, n = 0;
  uint8_t *b = malloc(cap);
  int rc = 0;
  for (;;) {
    if (!b) {
      rc = -ENOMEM;
      break;
    }
    if (n == cap) {
      if (cap > max) {
        rc = -EFBIG;
        break;
      }
      uint8_t *nb = realloc(b, cap * 2);
      if (!nb) {
        rc = -ENOMEM;
        break;
      }
      b = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = -errno;
      break;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n > max) {
      rc = -EFBIG;
      break;
    }
  }
  close(fd);
  if (rc != 0) {
    free(b);
    return rc;
  }
  *buf = b;
  *len = n;
  return 0;
}

static int write_atomic(const char *dir, const char *name, const uint8_t *data, size_t len) {
  char path[MAX_PATH], tmp[MAX_PATH];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return -1;
  if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp) return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  int ok = off == len && fsync(fd) == 0;
  if (close(fd) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* Percent-encodes everything but unreserved characters and those in safe
 * (python's urllib.parse.quote), so role names and target paths can be
 * neither path separators nor dot-dot tricks in file names and URLs. */
static int quote(const char *in, const char *safe, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
    int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '_' || *p == '.' || *p == '-' || *p == '~' || (*p && strchr(safe, *p));
    if (o + (keep ? 1 : 3) >= cap) return -1;
    if (keep) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = 0;
  return 0;
}

/* ---- HTTP ---- */

typedef struct body {
  uint8_t *p;
  size_t len, cap, max;
  int too_big;
} body;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user) {
  body *b = user;
  size_t n = size * nmemb;
  if (n > b->max - b->len) {
    b->too_big = 1; /* endless data: stop at the limit */
    return 0;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + n) cap *= 2;
    if (cap > b->max) cap = b->max;
    uint8_t *np = realloc(b->p, cap ? cap : 1);
    if (!np) return 0;
    b->p = np;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, ptr, n);
  b->len += n;
  return n;
}

static int url_allowed(const char *url) {
  if (strncmp(url, "https://", 8) == 0) return 1;
  static const char *const loop[] = {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:",
                                     "http://localhost/", "http://[::1]:", "http://[::1]/"};
  for (size_t i = 0; i < sizeof loop / sizeof loop[0]; i++)
    if (strncmp(url, loop[i], strlen(loop[i])) == 0) return 1;
  return 0;
}

/* 0 with *status (and the body when 200); -1 on transport failure or a body
 * over max. */
static int fetch(client *c, const char *url, size_t max, uint8_t **out, size_t *out_len, long *status) {
  *out = NULL;
  *out_len = 0;
  *status = 0;
  if (!url_allowed(url)) {
    logf_("%s: only https, or plain http to loopback, is allowed", url);
    return -1;
  }
  body b = {NULL, 0, 0, max, 0};
  curl_easy_reset(c->curl);
  curl_easy_setopt(c->curl, CURLOPT_URL, url);
  curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT_MS);
  curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
  curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
  char user_agent[64];
  snprintf(user_agent, sizeof user_agent, "outpost-tuf-client/%s", outpost_version);
  curl_easy_setopt(c->curl, CURLOPT_USERAGENT, user_agent);
  CURLcode rc = curl_easy_perform(c->curl);
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
  if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
    logf_("%s: more than %zu bytes", url, max);
    free(b.p);
    return -1;
  }
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && *status != 200)) {
    logf_("%s: %s", url, curl_easy_strerror(rc));
    free(b.p);
    return -1;
  }
  if (*status != 200) {
    free(b.p);
    return 0;
  }
  *out = b.p ? b.p : malloc(1);
  *out_len = b.len;
  return *out ? 0 : -1;
}

static int md_url(const client *c, const char *role, int64_t version, char *out, size_t cap) {
  char q[3 * TUF_MAX_ROLE_NAME + 1];
  if (quote(role, "", q, sizeof q) != 0) return -1;
  size_t n = strlen(c->md_url);
  const char *slash = n && c->md_url[n - 1] == '/' ? "" : "/";
  int w = version > 0 ? snprintf(out, cap, "%s%s%lld.%s.json", c->md_url, slash, (long long)version, q)
                      : snprintf(out, cap, "%s%s%s.json", c->md_url, slash, q);
  return w > 0 && (size_t)w < cap ? 0 : -1;
}

static int md_file(const char *role, char *out, size_t cap) {
  char q[3 * TUF_MAX_ROLE_NAME + 1];
  if (quote(role, "", q, sizeof q) != 0) return -1;
  return snprintf(out, cap, "%s.json", q) < (int)cap ? 0 : -1;
}

/* ---- the workflow ---- */

static int load_local(client *c, const char *role, size_t max, uint8_t **buf, size_t *len) {
  char name[MAX_PATH], path[MAX_PATH];
  if (md_file(role, name, sizeof name) != 0) return -1;
  if (snprintf(path, sizeof path, "%s/%s", c->md_dir, name) >= (int)sizeof path) return -1;
  return read_file(path, max, buf, len);
}

static int persist(client *c, const char *role, const uint8_t *data, size_t len) {
  char name[MAX_PATH];
  if (md_file(role, name, sizeof name) != 0 || write_atomic(c->md_dir, name, data, len) != 0) {
    logf_("%s: cannot write to %s", role, c->md_dir);
    return -1;
  }
  return 0;
}

static int open_set(client *c) {
  tuf_limits lim;
  tuf_limits_default(&lim);
  uint8_t *buf;
  size_t len;
  char path[MAX_PATH];
  snprintf(path, sizeof path, "%s/root.json", c->md_dir);
  if (read_file(path, lim.root, &buf, &len) != 0) {
    logf_("%s: cannot read the trusted root", path);
    return -1;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts); /* libc, so faketime can move it */
  int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  char err[512];
  int rc = tuf_open(buf, len, now, &lim, &c->set, err, sizeof err);
  free(buf);
  if (rc != TUF_OK) {
    logf_("trusted root: %s (%s)", err, tuf_strerror(rc));
    return -1;
  }
  return 0;
}

static int fail_tuf(client *c, int rc) {
  logf_("%s (%s)", tuf_error(c->set), tuf_strerror(rc));
  return -1;
}

static int update_root_chain(client *c) {
  tuf_limits lim;
  tuf_limits_default(&lim);
  for (int step = 0; step < TUF_MAX_ROOT_STEPS; step++) {
    char url[NET_URL_CAP];
    if (md_url(c, "root", tuf_root_version(c->set) + 1, url, sizeof url) != 0) return -1;
    uint8_t *buf;
    size_t len;
    long status;
    if (fetch(c, url, lim.root, &buf, &len, &status) != 0) return -1;
    if (status == 404 || status == 403) return 0; /* the current root is the newest */
    if (status != 200) {
      logf_("%s: HTTP %ld", url, status);
      return -1;
    }
    int rc = tuf_update_root(c->set, buf, len);
    int prc = rc == TUF_OK ? persist(c, "root", buf, len) : 0;
    free(buf);
    if (rc != TUF_OK) return fail_tuf(c, rc);
    if (prc != 0) return -1;
  }
  return 0;
}

static int update_timestamp(client *c) {
  tuf_limits lim;
  tuf_limits_default(&lim);
  uint8_t *buf;
  size_t len;
  if (load_local(c, "timestamp", lim.timestamp, &buf, &len) == 0) {
    int rc = tuf_update_timestamp(c->set, buf, len); /* failure is fine: remote decides */
    if (rc != TUF_OK) logf_("local timestamp not used as final: %s", tuf_error(c->set));
    free(buf);
  }
  char url[NET_URL_CAP];
  long status;
  if (md_url(c, "timestamp", 0, url, sizeof url) != 0) return -1;
  if (fetch(c, url, lim.timestamp, &buf, &len, &status) != 0) return -1;
  if (status != 200) {
    logf_("%s: HTTP %ld", url, status);
    return -1;
  }
  int rc = tuf_update_timestamp(c->set, buf, len);
  int prc = rc == TUF_OK ? persist(c, "timestamp", buf, len) : 0;
  free(buf);
  if (rc == TUF_EEQUAL) return 0; /* nothing new: keep the trusted copy */
  if (rc != TUF_OK) return fail_tuf(c, rc);
  return prc;
}

/* Local copy first (it serves as the rollback reference even when stale),
 * then the repository when the local one is not final. */
static int update_snapshot(client *c) {
  tuf_limits lim;
  tuf_limits_default(&lim);
  uint8_t *buf;
  size_t len;
  if (load_local(c, "snapshot", lim.snapshot, &buf, &len) == 0) {
    int rc = tuf_update_snapshot(c->set, buf, len, 1);
    free(buf);
    if (rc == TUF_OK) return 0;
    logf_("local snapshot not used as final: %s", tuf_error(c->set));
  }
  int64_t version;
  size_t max;
  int rc = tuf_meta_for(c->set, "snapshot", &version, &max);
  if (rc != TUF_OK) return fail_tuf(c, rc);
  char url[NET_URL_CAP];
  long status;
  if (md_url(c, "snapshot", tuf_consistent_snapshot(c->set) ? version : 0, url, sizeof url) != 0) return -1;
  if (fetch(c, url, max, &buf, &len, &status) != 0) return -1;
  if (status != 200) {
    logf_("%s: HTTP %ld", url, status);
    return -1;
  }
  rc = tuf_update_snapshot(c->set, buf, len, 0);
  int prc = rc == TUF_OK ? persist(c, "snapshot", buf, len) : 0;
  free(buf);
  if (rc != TUF_OK) return fail_tuf(c, rc);
  return prc;
}

static int load_targets(client *c, const char *role, const char *delegator) {
  tuf_limits lim;
  tuf_limits_default(&lim);
  uint8_t *buf;
  size_t len;
  if (load_local(c, role, lim.targets, &buf, &len) == 0) {
    int rc = tuf_update_delegated_targets(c->set, buf, len, role, delegator);
    free(buf);
    if (rc == TUF_OK) return 0;
    logf_("local %s not used: %s", role, tuf_error(c->set));
  }
  int64_t version;
  size_t max;
  int rc = tuf_meta_for(c->set, role, &version, &max);
  if (rc != TUF_OK) return fail_tuf(c, rc);
  char url[NET_URL_CAP];
  long status;
  if (md_url(c, role, tuf_consistent_snapshot(c->set) ? version : 0, url, sizeof url) != 0) return -1;
  if (fetch(c, url, max, &buf, &len, &status) != 0) return -1;
  if (status != 200) {
    logf_("%s: HTTP %ld", url, status);
    return -1;
  }
  rc = tuf_update_delegated_targets(c->set, buf, len, role, delegator);
  int prc = rc == TUF_OK ? persist(c, role, buf, len) : 0;
  free(buf);
  if (rc != TUF_OK) return fail_tuf(c, rc);
  return prc;
}

static int refresh(client *c) {
  if (open_set(c) != 0) return -1;
  if (update_root_chain(c) != 0) return -1;
  unsigned rot = tuf_rotated(c->set);
  if (rot) {
    /* Fast-forward attack recovery (spec 5.3.11): versions signed by
     * rotated-out keys must not block the repository's new, lower ones. */
    char path[MAX_PATH];
    snprintf(path, sizeof path, "%s/timestamp.json", c->md_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/snapshot.json", c->md_dir);
    unlink(path);
  }
  if (update_timestamp(c) != 0) return -1;
  if (update_snapshot(c) != 0) return -1;
  return load_targets(c, "targets", "root");
}

static int download_one(client *c, const char *name) {
  static tuf_target t; /* large; one at a time */
  char need[TUF_MAX_ROLE_NAME + 1], need_from[TUF_MAX_ROLE_NAME + 1];
  int rc;
  for (int loads = 0;; loads++) {
    rc = tuf_find_target(c->set, name, &t, need, need_from);
    if (rc != TUF_ENEED) break;
    if (loads > 4 * TUF_MAX_DELEGATIONS) {
      logf_("%s: too many delegated roles", name);
      return -1;
    }
    if (load_targets(c, need, need_from) != 0) return -1;
  }
  if (rc != TUF_OK) return fail_tuf(c, rc);

  char qname[3 * TUF_MAX_TARGET_PATH + 1], path[MAX_PATH];
  if (quote(t.path, "", qname, sizeof qname) != 0 ||
      snprintf(path, sizeof path, "%s/%s", c->target_dir, qname) >= (int)sizeof path) {
    logf_("%s: target path too long", name);
    return -1;
  }
  uint8_t *buf;
  size_t len;
  if (t.length >= 0 && read_file(path, (size_t)t.length, &buf, &len) == 0) {
    rc = tuf_verify_target(NULL, buf, len, &t);
    free(buf);
    if (rc == TUF_OK) {
      logf_("%s: cached copy is valid", name);
      return 0;
    }
  }
  if (t.n_hashes == 0) return -1;
  /* Consistent snapshot: the file is HASH.basename in the same directory. */
  char rel[3 * TUF_MAX_TARGET_PATH + 256];
  const char *slash = strrchr(t.path, '/');
  size_t dirlen = slash ? (size_t)(slash - t.path) + 1 : 0;
  if (tuf_consistent_snapshot(c->set))
    snprintf(rel, sizeof rel, "%.*s%s.%s", (int)dirlen, t.path, t.hashes[0].hex, t.path + dirlen);
  else
    snprintf(rel, sizeof rel, "%s", t.path);
  char qrel[3 * sizeof rel], url[NET_URL_CAP];
  if (quote(rel, "/", qrel, sizeof qrel) != 0) return -1;
  size_t bl = strlen(c->target_url);
  if (snprintf(url, sizeof url, "%s%s%s", c->target_url, bl && c->target_url[bl - 1] == '/' ? "" : "/", qrel) >=
      (int)sizeof url)
    return -1;
  long status;
  if (fetch(c, url, (size_t)t.length, &buf, &len, &status) != 0) return -1;
  if (status != 200) {
    logf_("%s: HTTP %ld", url, status);
    return -1;
  }
  rc = tuf_verify_target(c->set, buf, len, &t);
  if (rc != TUF_OK) {
    free(buf);
    return fail_tuf(c, rc);
  }
  int wrc = write_atomic(c->target_dir, qname, buf, len);
  free(buf);
  if (wrc != 0) logf_("%s: cannot write to %s", name, c->target_dir);
  return wrc;
}

static int cmd_init(client *c, const char *trusted) {
  tuf_limits lim;
  tuf_limits_default(&lim);
  uint8_t *buf;
  size_t len;
  if (read_file(trusted, lim.root, &buf, &len) != 0) {
    logf_("%s: cannot read", trusted);
    return 1;
  }
  /* Verified now too, so a bad trusted root is refused at once. */
  char err[512];
  tuf_set *s;
  int rc = tuf_open(buf, len, 0, &lim, &s, err, sizeof err);
  tuf_close(s);
  if (rc != TUF_OK) {
    logf_("%s: %s (%s)", trusted, err, tuf_strerror(rc));
    free(buf);
    return 1;
  }
  mkdir(c->md_dir, 0755);
  int wrc = write_atomic(c->md_dir, "root.json", buf, len);
  free(buf);
  if (wrc != 0) logf_("%s: cannot write root.json", c->md_dir);
  return wrc == 0 ? 0 : 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: outpost-tuf-client --metadata-dir D init TRUSTED_ROOT\n"
          "       outpost-tuf-client --metadata-dir D --metadata-url U refresh\n"
          "       outpost-tuf-client --metadata-dir D --metadata-url U --target-name P [--target-name P2 ...]\n"
          "                          --target-base-url T --target-dir TD download\n");
}

int main(int argc, char **argv) {
  client c;
  memset(&c, 0, sizeof c);
  const char *cmd = NULL, *arg = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = strcmp(a, "--metadata-dir") == 0      ? &c.md_dir
                        : strcmp(a, "--metadata-url") == 0    ? &c.md_url
                        : strcmp(a, "--target-base-url") == 0 ? &c.target_url
                        : strcmp(a, "--target-dir") == 0      ? &c.target_dir
                                                              : NULL;
    if (slot || strcmp(a, "--target-name") == 0) {
      if (i + 1 >= argc) {
        usage();
        return 2;
      }
      if (slot) {
        *slot = argv[++i];
      } else if (c.n_targets < MAX_TARGET_NAMES) {
        c.targets[c.n_targets++] = argv[++i];
      } else {
        logf_("at most %d --target-name", MAX_TARGET_NAMES);
        return 2;
      }
    } else if (!cmd) {
      cmd = a;
    } else if (!arg) {
      arg = a;
    } else {
      usage();
      return 2;
    }
  }
  if (!cmd || !c.md_dir) {
    usage();
    return 2;
  }
  if (strcmp(cmd, "init") == 0) {
    if (!arg) {
      usage();
      return 2;
    }
    return cmd_init(&c, arg);
  }
  int download = strcmp(cmd, "download") == 0;
  if ((!download && strcmp(cmd, "refresh") != 0) || !c.md_url || arg ||
      (download && (!c.target_url || !c.target_dir || c.n_targets == 0))) {
    usage();
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c.curl = curl_easy_init())) {
    logf_("libcurl init failed");
    return 1;
  }
  int rc = refresh(&c);
  for (int i = 0; rc == 0 && download && i < c.n_targets; i++) rc = download_one(&c, c.targets[i]);
  tuf_close(c.set);
  curl_easy_cleanup(c.curl);
  curl_global_cleanup();
  return rc == 0 ? 0 : 1;
}
