/* cloud_serve.c - outpost-cloud serve: the mock cloud over HTTPS with
 * libmicrohttpd, for real agents on loopback (cloud_serve.h). */
#include "cloud_serve.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cloud_io.h"
#include "common/wire.h"
#include "mc.h"
#include "mc_p11.h"
#include "mc_repo.h"

#define PATH_CAP CIO_PATH_CAP
#define BODY_CAP (WIRE_MAX_BODY + 1024) /* beyond this: 413 without buffering */
#define MAX_HEADERS 64
#define REFRESH_S 60 /* seconds between re-sign checks of the repository */

typedef struct conn_state {
  uint8_t *body;
  size_t len, cap;
  int too_large;
} conn_state;

typedef struct header_list {
  mc_header h[MAX_HEADERS];
  size_t n;
} header_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  (void)kind;
  header_list *l = cls;
  if (l->n >= MAX_HEADERS) return MHD_NO; /* stop iterating; extra headers are ignored */
  l->h[l->n].name = key;
  l->h[l->n].value = value ? value : "";
  l->n++;
  return MHD_YES;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, int status, const char *ctype,
                                  const void *body, size_t len, const char *date) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (date && date[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_DATE, date);
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
  MHD_destroy_response(r);
  return rc;
}

typedef struct serve_ctx {
  mc_cloud *c;
  const char *data;
  const char *capture_dir; /* NULL: no tap (srv_run) */
  int64_t refuse_until_ms; /* CLOCK_MONOTONIC: ingest refused before then (srv_run) */
  uint64_t refused;
} serve_ctx;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* srv_run's refuse_ingest_s: 503 and 429 in turn, Retry-After: 1. */
static enum MHD_Result send_refusal(serve_ctx *sc, struct MHD_Connection *conn, int *status) {
  static const char busy[] = "{\"error\":\"unavailable\",\"message\":\"refusing ingest (--refuse-ingest-s)\"}";
  static const char slow[] = "{\"error\":\"rate_limited\",\"message\":\"refusing ingest (--refuse-ingest-s)\"}";
  int odd = (int)(sc->refused++ & 1);
  *status = odd ? 429 : 503;
  const char *body = odd ? slow : busy;
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                           MHD_RESPMEM_PERSISTENT);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  MHD_add_response_header(r, "Retry-After", "1");
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)*status, r);
  MHD_destroy_response(r);
  return rc;
}

/* The tap (srv_run's capture_dir): best effort, never changes the reply. The
 * file name is the session id, taken only when it is 1..64 hex digits. */
static void capture_request(const serve_ctx *sc, const mc_request *req) {
  const char *sid = NULL;
  int is_signed = 0;
  for (size_t i = 0; i < req->n_headers; i++) {
    if (strcasecmp(req->headers[i].name, WIRE_HDR_SIGNATURE) == 0) is_signed = 1;
    if (strcasecmp(req->headers[i].name, WIRE_HDR_SESSION) == 0) sid = req->headers[i].value;
  }
  size_t sl = sid ? strlen(sid) : 0;
  if (!is_signed || sl == 0 || sl > 64 || strspn(sid, "0123456789abcdef") != sl) return;
  char name[96], tmp[PATH_CAP], final_path[PATH_CAP];
  snprintf(name, sizeof name, "%s.req", sid);
  if (cio_join(final_path, sc->capture_dir, name) != 0) return;
  snprintf(name, sizeof name, ".%s.tmp", sid);
  if (cio_join(tmp, sc->capture_dir, name) != 0) return;
  FILE *f = fopen(tmp, "wbx");
  if (!f) {
    unlink(tmp); /* a leftover of a crash; the next request writes it */
    return;
  }
  int ok = fprintf(f, "%s %s\n", req->method, req->path) > 0;
  for (size_t i = 0; ok && i < req->n_headers; i++)
    if (strncasecmp(req->headers[i].name, "X-Outpost-", 10) == 0 ||
        strcasecmp(req->headers[i].name, "Content-Type") == 0)
      ok = fprintf(f, "%s: %s\n", req->headers[i].name, req->headers[i].value) > 0;
  ok = ok && fputc('\n', f) != EOF;
  if (ok && req->body_len) ok = fwrite(req->body, 1, req->body_len, f) == req->body_len;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, final_path) != 0) unlink(tmp);
}

static int is_hex64(const char *s) {
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* A file name of our own making: letters, digits, '.', '_', '-', not
 * starting with '.', at most 128 bytes. Nothing else is ever served. */
static int plain_name(const char *s, size_t n) {
  if (n == 0 || n > 128 || s[0] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '.' || ch == '_' || ch == '-'))
      return 0;
  }
  return 1;
}

/* Maps a /v1/tuf/ or /v1/targets/ URL to a file under DATA/repo. 1 and the
 * path when the URL names one of the repository's files, 0 when it is a
 * repository URL that names nothing (404), -1 when not a repository URL. */
static int repo_path(const char *data, const char *url, char out[PATH_CAP]) {
  if (strncmp(url, "/v1/tuf/", 8) == 0) {
    const char *n = url + 8;
    size_t l = strlen(n);
    if (strcmp(n, "timestamp.json") != 0) {
      size_t d = 0;
      while (d < l && d < 11 && n[d] >= '0' && n[d] <= '9') d++;
      static const char *const roles[] = {"root", "snapshot", "targets", "canary",
                                          "early-access", "stable"};
      int ok = 0;
      for (size_t i = 0; d > 0 && d <= 10 && n[0] != '0' && n[d] == '.' && i < 6; i++) {
        size_t rl = strlen(roles[i]);
        if (l == d + 1 + rl + 5 && strncmp(n + d + 1, roles[i], rl) == 0 &&
            strcmp(n + d + 1 + rl, ".json") == 0)
          ok = 1;
      }
      if (!ok) return 0;
    }
    return snprintf(out, PATH_CAP, "%s/repo/metadata/%s", data, n) < PATH_CAP ? 1 : 0;
  }
  if (strncmp(url, "/v1/targets/", 12) != 0) return -1;
  /* <ring>/outpost-agent/<version>/<sha256>.<basename>, nothing else */
  const char *p = url + 12, *c[4];
  size_t cl[4];
  for (int i = 0; i < 4; i++) {
    const char *e = strchr(p, '/');
    if ((i < 3) != (e != NULL)) return 0;
    c[i] = p;
    cl[i] = e ? (size_t)(e - p) : strlen(p);
    p = e ? e + 1 : p;
  }
  char ring[32], ver[32];
  if (cl[0] >= sizeof ring || cl[2] >= sizeof ver) return 0;
  memcpy(ring, c[0], cl[0]);
  ring[cl[0]] = 0;
  memcpy(ver, c[2], cl[2]);
  ver[cl[2]] = 0;
  if (mc_repo_ring_index(ring) < 0 || cl[1] != 13 || strncmp(c[1], "outpost-agent", 13) != 0 ||
      mc_repo_version_parse(ver, NULL) != 0 || cl[3] < 66 || !is_hex64(c[3]) ||
      c[3][64] != '.' || !plain_name(c[3] + 65, cl[3] - 65))
    return 0;
  return snprintf(out, PATH_CAP, "%s/repo/targets/%s/outpost-agent/%s/%s", data, ring, ver,
                  c[3]) < PATH_CAP
             ? 1
             : 0;
}

/* GET of a repository file: the file's bytes with its length, or 404. The
 * bytes need no protection: every one of them is verified by the agent. */
static enum MHD_Result serve_repo_file(struct MHD_Connection *conn, const char *path,
                                       int found, const char *method, int *status) {
  static const char nf[] = "{\"error\":\"not_found\",\"message\":\"no such file\"}";
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    static const char na[] = "{\"error\":\"method\",\"message\":\"GET only\"}";
    *status = 405;
    return send_reply(conn, 405, "application/json", na, sizeof na - 1, NULL);
  }
  int fd = found ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
                  (uint64_t)st.st_size > MC_REPO_MAX_BINARY)) {
    close(fd);
    fd = -1;
  }
  if (fd < 0) {
    *status = 404;
    return send_reply(conn, 404, "application/json", nf, sizeof nf - 1, NULL);
  }
  /* MHD owns fd from here and sends Content-Length = size. */
  struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
  if (!r) {
    close(fd); /* not taken over when creation fails */
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          strstr(path, "/repo/metadata/") ? "application/json"
                                                          : "application/octet-stream");
  enum MHD_Result rc = MHD_queue_response(conn, 200, r);
  MHD_destroy_response(r);
  *status = 200;
  return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  serve_ctx *sc = cls;
  mc_cloud *c = sc->c;
  conn_state *st = *con_cls;
  if (!st) {
    st = calloc(1, sizeof *st);
    if (!st) return MHD_NO;
    *con_cls = st;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (st->too_large || st->len + n > BODY_CAP) {
      st->too_large = 1; /* keep reading to answer, but store nothing more */
      free(st->body);
      st->body = NULL;
      st->len = st->cap = 0;
      return MHD_YES;
    }
    if (st->len + n > st->cap) {
      size_t ncap = st->cap ? st->cap : 16384;
      while (ncap < st->len + n) ncap *= 2;
      if (ncap > BODY_CAP) ncap = BODY_CAP;
      uint8_t *nb = realloc(st->body, ncap);
      if (!nb) return MHD_NO;
      st->body = nb;
      st->cap = ncap;
    }
    memcpy(st->body + st->len, upload_data, n);
    st->len += n;
    return MHD_YES;
  }

  int status = 500;
  enum MHD_Result ret;
  char rpath[PATH_CAP];
  int rp = repo_path(sc->data, url, rpath);
  if (rp >= 0) {
    ret = serve_repo_file(conn, rpath, rp, method, &status);
  } else if (sc->refuse_until_ms && strcmp(url, "/v1/ingest") == 0 &&
             mono_ms() < sc->refuse_until_ms) {
    ret = send_refusal(sc, conn, &status);
  } else if (st->too_large) {
    static const char msg[] = "{\"error\":\"too_large\",\"message\":\"body too large\"}";
    status = 413;
    ret = send_reply(conn, status, "application/json", msg, sizeof msg - 1, NULL);
  } else {
    header_list hl = {.n = 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hl);
    mc_request req = {method, url, hl.h, hl.n, st->body, st->len};
    if (sc->capture_dir) capture_request(sc, &req);
    mc_response resp;
    if (mc_handle(c, &req, &resp) != MC_OK) {
      mc_response_free(&resp);
      fprintf(stderr, "%s %s 500\n", method, url);
      return MHD_NO;
    }
    status = resp.status;
    ret = send_reply(conn, status, resp.content_type, resp.body, resp.body_len, resp.date);
    mc_response_free(&resp);
  }
  fprintf(stderr, "%s %s %d\n", method, url, status);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  conn_state *st = *con_cls;
  if (!st) return;
  free(st->body);
  free(st);
  *con_cls = NULL;
}

int srv_parse_listen(const char *s, uint16_t *port) {
  const char *colon = strrchr(s, ':');
  if (!colon) return -1;
  size_t hl = (size_t)(colon - s);
  if (!((hl == 9 && strncmp(s, "127.0.0.1", 9) == 0) ||
        (hl == 9 && strncmp(s, "localhost", 9) == 0)))
    return -1;
  const char *p = colon + 1;
  if (!*p || strlen(p) > 5) return -1;
  long v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  if (v > 65535) return -1;
  *port = (uint16_t)v;
  return 0;
}

int srv_run(const char *dir, const char *listen, int64_t probation_s, const char *capture_dir,
            int64_t refuse_ingest_s) {
  uint16_t port;
  if (srv_parse_listen(listen, &port) != 0) return 2; /* the caller checked it */
  char path[PATH_CAP];
  char *cert = NULL, *key = NULL;
  if (cio_join(path, dir, "server.pem") == 0) cert = cio_read_file(path, 65536);
  if (cio_join(path, dir, "server.key") == 0) key = cio_read_file(path, 65536);
  if (!cert || !key) {
    fprintf(stderr, "outpost-cloud: cannot read %s/server.pem and server.key\n", dir);
    free(cert);
    free(key);
    return 1;
  }
  mc_cloud *c;
  if (cio_open_store(dir, 1, probation_s, &c) != 0) {
    free(cert);
    free(key);
    return 1;
  }
  if (probation_s > 0)
    printf("strict clone attribution: a restarted instance waits %lld s on probation\n",
           (long long)probation_s);
  struct stat cst;
  if (capture_dir && (stat(capture_dir, &cst) != 0 || !S_ISDIR(cst.st_mode))) {
    fprintf(stderr, "outpost-cloud: --capture-dir %s: not a directory\n", capture_dir);
    mc_close(c);
    free(cert);
    free(key);
    return 1;
  }
  if (capture_dir) printf("capturing every signed request in %s (a test tap for replays)\n", capture_dir);
  /* The release repository, when there is one: its online keys stay in the
   * token; the root keys' directory is never named here. */
  char rp[PATH_CAP], ts[PATH_CAP];
  mc_p11 *tok = NULL;
  mc_signer on;
  int has_repo = cio_repo_dir(dir, rp) == 0 &&
                 cio_join(ts, rp, "metadata/timestamp.json") == 0 && cio_exists(ts);
  if (has_repo && cio_repo_begin(dir, rp, &tok, &on) != 0) {
    fprintf(stderr, "outpost-cloud: the repository in %s needs its token to stay fresh; not "
                    "serving\n", rp);
    mc_close(c);
    free(cert);
    free(key);
    return 1;
  }
  /* Set before the daemon's thread starts: it only reads it. */
  serve_ctx sctx = {c, dir, capture_dir, refuse_ingest_s > 0 ? mono_ms() + refuse_ingest_s * 1000 : 0,
                    0};
  /* Block the stop signals in every thread (MHD's inherits the mask) and
   * take them synchronously below with sigwait. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* One internal thread: mc_handle is never called concurrently. */
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL,
      on_request, &sctx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY, key,
      MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
      MHD_OPTION_END);
  int rc = 1;
  if (!d) {
    fprintf(stderr, "outpost-cloud: cannot listen on %s\n", listen);
  } else {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : port;
    if (refuse_ingest_s > 0)
      printf("refusing every ingest (503 and 429 in turn) for %lld s\n", (long long)refuse_ingest_s);
    printf("listening on https://127.0.0.1:%u\n", bound);
    fflush(stdout);
    int sig = 0;
    /* The re-sign timer: timestamp (and the others when due) are re-signed
     * before half their life is gone, checked every REFRESH_S seconds. */
    for (;;) {
      if (has_repo) {
        char err[512] = "";
        unsigned what = 0;
        mc_repo_ctx rc_ = {rp, &on, NULL, cio_wall_ms(NULL)};
        if (mc_repo_refresh(&rc_, 0, &what, err, sizeof err) != MC_REPO_OK)
          fprintf(stderr, "outpost-cloud: repository re-sign failed: %s\n", err);
        else if (what)
          fprintf(stderr, "outpost-cloud: repository re-signed (%s%s%s)\n",
                  what & 1 ? "timestamp" : "", what & 2 ? " snapshot" : "",
                  what & 4 ? " targets/rings" : "");
      }
      struct timespec wait = {REFRESH_S, 0};
      sig = sigtimedwait(&stop, NULL, &wait);
      if (sig > 0) break;
    }
    fprintf(stderr, "outpost-cloud: signal %d, shutting down\n", sig);
    MHD_stop_daemon(d);
    rc = 0;
  }
  mc_close(c);
  mc_p11_close(tok);
  memset(key, 0, strlen(key));
  free(key);
  free(cert);
  return rc;
}

