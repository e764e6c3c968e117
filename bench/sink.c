/* sink.c - the HTTPS sink bench/agent-vs-peer ships the peer log shippers to
 * (syslog-ng's http(), Fluent Bit's http output): it accepts POSTed batches
 * over TLS on loopback, counts the lines in them, and answers 200.
 *
 * Benchmark only (not part of any product target): bench/agent-vs-peer builds
 * it with cc into its temp dir. A thread per connection with blocking I/O
 * (OpenSSL), HTTP/1.1 keep-alive, Content-Length or chunked bodies,
 * "Expect: 100-continue" answered at once (libcurl would otherwise wait a
 * second before sending a large body), Content-Encoding gzip/deflate (zlib) and
 * zstd decoded before counting.
 *
 * A line is one occurrence of MARKER followed by decimal digits (the
 * generated lines carry a unique sequence number there, whatever envelope the
 * shipper wraps around them: raw lines, JSON). Counted: every occurrence
 * (lines) and the distinct sequence numbers below --max-seq (distinct, a
 * bitmap), so a resent batch does not make a run look finished early.
 * Counters go to the --stats file (written whole and renamed) every 50 ms and
 * at exit; the request bodies' bytes as received (compressed when the
 * shipper compresses) are the "bytes on the wire" figure.
 *
 * usage: sink --cert PEM --key PEM --stats FILE --marker STR [--max-seq N]
 *             [--listen 127.0.0.1:PORT]   (port 0: any; prints "listening on
 *             127.0.0.1:PORT" on stdout once ready). SIGTERM/SIGINT: exit 0.
 * Every buffer is bounded: headers 64 KiB, a body 64 MiB, a decoded body
 * 512 MiB, 256 connections at once. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define HDR_MAX (64 * 1024)
#define BODY_MAX (64u * 1024 * 1024)
#define DECODED_MAX (512u * 1024 * 1024)
#define CONN_MAX 256

static SSL_CTX *ctx;
static const char *marker;
static size_t marker_len;
static uint64_t max_seq;
static _Atomic uint64_t *seen; /* bitmap of sequence numbers < max_seq */
static atomic_long n_requests, n_body_bytes, n_wire_bytes, n_lines, n_distinct, n_errors, n_conns;
static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void write_stats(const char *path) {
  char tmp[4096], text[512];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return;
  int n = snprintf(text, sizeof text,
                   "requests %ld\nbody_bytes %ld\nwire_bytes %ld\nlines %ld\ndistinct %ld\nerrors %ld\n",
                   atomic_load(&n_requests), atomic_load(&n_body_bytes), atomic_load(&n_wire_bytes),
                   atomic_load(&n_lines), atomic_load(&n_distinct), atomic_load(&n_errors));
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fwrite(text, 1, (size_t)n, f);
  if (fclose(f) == 0) rename(tmp, path);
}

static void *stats_thread(void *arg) {
  while (!stopping) {
    write_stats(arg);
    usleep(50 * 1000);
  }
  return NULL;
}

/* Counts MARKER+digits in [p, p+n). */
static void count_lines(const char *p, size_t n) {
  long lines = 0, distinct = 0;
  const char *end = p + n;
  while (p < end) {
    const char *m = memmem(p, (size_t)(end - p), marker, marker_len);
    if (!m) break;
    p = m + marker_len;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9' && digits < 19) v = v * 10 + (uint64_t)(*p++ - '0'), digits++;
    if (!digits) continue;
    lines++;
    if (v < max_seq) {
      uint64_t bit = 1ull << (v % 64);
      if (!(atomic_fetch_or(&seen[v / 64], bit) & bit)) distinct++;
    }
  }
  atomic_fetch_add(&n_lines, lines);
  atomic_fetch_add(&n_distinct, distinct);
}

/* Decodes a gzip/deflate body (zlib detects which from the header). 0 or -1. */
static int inflate_body(const char *in, size_t n, char **out, size_t *out_n) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 32) != Z_OK) return -1;
  size_t cap = n * 4 + 4096, len = 0;
  char *buf = malloc(cap);
  int rc = Z_OK;
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  while (buf && rc != Z_STREAM_END) {
    if (len == cap) {
      if (cap >= DECODED_MAX) break;
      cap = cap * 2 > DECODED_MAX ? DECODED_MAX : cap * 2;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    z.next_out = (Bytef *)buf + len;
    z.avail_out = (uInt)(cap - len);
    rc = inflate(&z, Z_NO_FLUSH);
    len = cap - z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(buf);
    return -1;
  }
  *out = buf;
  *out_n = len;
  return 0;
}

static int unzstd_body(const char *in, size_t n, char **out, size_t *out_n) {
  ZSTD_DCtx *d = ZSTD_createDCtx();
  size_t cap = n * 4 + 4096, len = 0;
  char *buf = malloc(cap);
  ZSTD_inBuffer ib = {in, n, 0};
  int ok = 0;
  while (d && buf) {
    if (len == cap) {
      if (cap >= DECODED_MAX) break;
      cap = cap * 2 > DECODED_MAX ? DECODED_MAX : cap * 2;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    ZSTD_outBuffer ob = {buf, cap, len};
    size_t r = ZSTD_decompressStream(d, &ob, &ib);
    len = ob.pos;
    if (ZSTD_isError(r)) break;
    if (r == 0 && ib.pos == ib.size) {
      ok = 1;
      break;
    }
    if (ib.pos == ib.size && ob.pos < ob.size) break; /* truncated frame */
  }
  ZSTD_freeDCtx(d);
  if (!ok) {
    free(buf);
    return -1;
  }
  *out = buf;
  *out_n = len;
  return 0;
}

struct conn {
  SSL *ssl;
  int fd;
  char hdr[HDR_MAX + 1];
  size_t have; /* bytes in hdr[] not yet consumed */
};

/* Reads more into c->hdr; returns bytes read, 0 at EOF or error. */
static int fill(struct conn *c) {
  if (c->have >= HDR_MAX) return 0;
  int r = SSL_read(c->ssl, c->hdr + c->have, (int)(HDR_MAX - c->have));
  if (r <= 0) return 0;
  c->have += (size_t)r;
  c->hdr[c->have] = 0;
  return r;
}

static void consume(struct conn *c, size_t n) {
  memmove(c->hdr, c->hdr + n, c->have - n);
  c->have -= n;
  c->hdr[c->have] = 0;
}

/* Reads exactly n bytes into dst, taking buffered bytes first. 0 or -1. */
static int read_exact(struct conn *c, char *dst, size_t n) {
  size_t take = c->have < n ? c->have : n;
  memcpy(dst, c->hdr, take);
  consume(c, take);
  while (take < n) {
    size_t want = n - take > (1u << 30) ? (1u << 30) : n - take;
    int r = SSL_read(c->ssl, dst + take, (int)want);
    if (r <= 0) return -1;
    take += (size_t)r;
  }
  return 0;
}

/* A line ending in CRLF from the buffer (for chunk sizes); -1 if none. */
static int read_line(struct conn *c, char *dst, size_t cap) {
  char *eol;
  while (!(eol = memmem(c->hdr, c->have, "\r\n", 2)))
    if (!fill(c)) return -1;
  size_t n = (size_t)(eol - c->hdr);
  if (n >= cap) return -1;
  memcpy(dst, c->hdr, n);
  dst[n] = 0;
  consume(c, n + 2);
  return 0;
}

static const char *header(const char *hdrs, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = strstr(hdrs, "\r\n"); p; p = strstr(p, "\r\n")) {
    p += 2;
    if (!strncasecmp(p, name, nl) && p[nl] == ':') {
      p += nl + 1;
      while (*p == ' ' || *p == '\t') p++;
      return p;
    }
  }
  return NULL;
}

static int send_all(struct conn *c, const char *s) {
  return SSL_write(c->ssl, s, (int)strlen(s)) > 0 ? 0 : -1;
}

/* One request; 1 to keep the connection, 0 to close it. */
static int one_request(struct conn *c) {
  char *end;
  while (!(end = memmem(c->hdr, c->have, "\r\n\r\n", 4)))
    if (!fill(c)) return 0;
  size_t hlen = (size_t)(end - c->hdr) + 4;
  char hdrs[HDR_MAX + 1];
  memcpy(hdrs, c->hdr, hlen);
  hdrs[hlen - 2] = 0; /* keep the last header's CRLF for header() */
  consume(c, hlen);
  const char *v;
  int keep = !((v = header(hdrs, "Connection")) && !strncasecmp(v, "close", 5));
  if ((v = header(hdrs, "Expect")) && !strncasecmp(v, "100-continue", 12) &&
      send_all(c, "HTTP/1.1 100 Continue\r\n\r\n") != 0)
    return 0;
  char *body = NULL;
  size_t blen = 0;
  if ((v = header(hdrs, "Transfer-Encoding")) && strcasestr(v, "chunked")) {
    size_t cap = 0;
    for (;;) {
      char line[128];
      if (read_line(c, line, sizeof line) != 0) goto fail;
      unsigned long n = strtoul(line, NULL, 16);
      if (n == 0) {
        while (read_line(c, line, sizeof line) == 0 && line[0]) { /* trailers */
        }
        break;
      }
      if (blen + n > BODY_MAX) goto fail;
      if (blen + n > cap) {
        cap = (blen + n) * 2 > BODY_MAX ? BODY_MAX : (blen + n) * 2;
        char *nb = realloc(body, cap);
        if (!nb) goto fail;
        body = nb;
      }
      if (read_exact(c, body + blen, n) != 0 || read_line(c, line, sizeof line) != 0) goto fail;
      blen += n;
    }
  } else if ((v = header(hdrs, "Content-Length"))) {
    unsigned long long n = strtoull(v, NULL, 10);
    if (n > BODY_MAX) goto fail;
    blen = (size_t)n;
    body = malloc(blen ? blen : 1);
    if (!body || read_exact(c, body, blen) != 0) goto fail;
  }
  atomic_fetch_add(&n_wire_bytes, (long)(hlen + blen));
  atomic_fetch_add(&n_body_bytes, (long)blen);
  char *dec = NULL;
  size_t dlen = 0;
  int bad = 0;
  if ((v = header(hdrs, "Content-Encoding")) && blen) {
    if (!strncasecmp(v, "gzip", 4) || !strncasecmp(v, "deflate", 7))
      bad = inflate_body(body, blen, &dec, &dlen) != 0;
    else if (!strncasecmp(v, "zstd", 4))
      bad = unzstd_body(body, blen, &dec, &dlen) != 0;
  }
  if (bad) {
    atomic_fetch_add(&n_errors, 1);
    free(body);
    send_all(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    return keep;
  }
  count_lines(dec ? dec : body, dec ? dlen : blen);
  free(dec);
  free(body);
  atomic_fetch_add(&n_requests, 1);
  if (send_all(c, keep ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                       : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") != 0)
    return 0;
  return keep;
fail:
  atomic_fetch_add(&n_errors, 1);
  free(body);
  return 0;
}

static void *conn_thread(void *arg) {
  struct conn *c = arg;
  if (SSL_accept(c->ssl) == 1)
    while (!stopping && one_request(c)) {
    }
  SSL_shutdown(c->ssl);
  SSL_free(c->ssl);
  close(c->fd);
  free(c);
  atomic_fetch_sub(&n_conns, 1);
  return NULL;
}

static void usage(void) {
  fprintf(stderr, "usage: sink --cert PEM --key PEM --stats FILE --marker STR [--max-seq N] [--listen 127.0.0.1:PORT]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *stats = NULL, *listen_at = "127.0.0.1:0";
  max_seq = 10000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--cert")) cert = argv[i + 1];
    else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
    else if (!strcmp(argv[i], "--stats")) stats = argv[i + 1];
    else if (!strcmp(argv[i], "--marker")) marker = argv[i + 1];
    else if (!strcmp(argv[i], "--max-seq")) max_seq = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--listen")) listen_at = argv[i + 1];
    else usage();
  }
  if (!cert || !key || !stats || !marker || !*marker || max_seq > (1ull << 34)) usage();
  marker_len = strlen(marker);
  seen = calloc(max_seq / 64 + 1, sizeof *seen);
  ctx = SSL_CTX_new(TLS_server_method());
  if (!seen || !ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

  char host[64];
  const char *colon = strrchr(listen_at, ':');
  if (!colon || (size_t)(colon - listen_at) >= sizeof host) usage();
  memcpy(host, listen_at, (size_t)(colon - listen_at));
  host[colon - listen_at] = 0;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) usage();
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t slen = sizeof sa;
  if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 64) != 0 ||
      getsockname(ls, (struct sockaddr *)&sa, &slen) != 0) {
    perror("sink: listen");
    return 1;
  }
  struct sigaction act = {.sa_handler = on_signal};
  sigaction(SIGTERM, &act, NULL);
  sigaction(SIGINT, &act, NULL);
  signal(SIGPIPE, SIG_IGN);
  pthread_t st;
  pthread_create(&st, NULL, stats_thread, (void *)stats);
  printf("listening on %s:%u\n", host, ntohs(sa.sin_port));
  fflush(stdout);

  while (!stopping) {
    struct pollfd p = {.fd = ls, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (atomic_load(&n_conns) >= CONN_MAX) {
      close(fd);
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = malloc(sizeof *c);
    if (!c || !(c->ssl = SSL_new(ctx))) {
      free(c);
      close(fd);
      continue;
    }
    c->fd = fd;
    c->have = 0;
    SSL_set_fd(c->ssl, fd);
    atomic_fetch_add(&n_conns, 1);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, conn_thread, c) != 0) {
      SSL_free(c->ssl);
      close(fd);
      free(c);
      atomic_fetch_sub(&n_conns, 1);
    }
    pthread_attr_destroy(&at);
  }
  pthread_join(st, NULL);
  write_stats(stats);
  return 0;
}
