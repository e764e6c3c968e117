/* Tests for the libcurl net shim against an in-test libmicrohttpd server on
 * 127.0.0.1 (plain HTTP, allow_plain_http_loopback=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "curl/net_curl.h"

#define BIG_BYTES 10000
#define PUMP_ROUNDS 400 /* x 50 ms: generous bound for slow machines */

/* ---- the server ------------------------------------------------------- */

typedef struct upload {
  char *data;
  size_t len;
} upload;

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  upload *u = *con_cls;
  if (u) {
    free(u->data);
    free(u);
    *con_cls = NULL;
  }
}

static ssize_t chunk_cb(void *cls, uint64_t pos, char *buf, size_t max) {
  if (pos >= BIG_BYTES) return MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = BIG_BYTES - pos;
  if (n > max) n = max;
  if (n > 1000) n = 1000;
  memset(buf, 'c', n);
  return (ssize_t)n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls) {
  upload *u = *con_cls;
  struct MHD_Response *r;
  enum MHD_Result ret;
  unsigned status = MHD_HTTP_OK;
  if (!u) {
    u = calloc(1, sizeof *u);
    if (!u) return MHD_NO;
    *con_cls = u;
    return MHD_YES;
  }
  if (*data_size) {
    char *p = realloc(u->data, u->len + *data_size);
    if (!p) return MHD_NO;
    memcpy(p + u->len, data, *data_size);
    u->data = p;
    u->len += *data_size;
    *data_size = 0;
    return MHD_YES;
  }
  if (strcmp(url, "/echo") == 0) {
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
    const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (strcmp(method, "GET") == 0)
      r = MHD_create_response_from_buffer(9, (void *)"hello get", MHD_RESPMEM_PERSISTENT);
    else
      r = MHD_create_response_from_buffer(u->len, u->data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "X-Echo-Method", method);
    MHD_add_response_header(r, "X-Echo-Test", t ? t : "none");
    MHD_add_response_header(r, "X-Echo-Expect", ex ? ex : "none");
    MHD_add_response_header(r, "X-Echo-Content-Type", ct ? ct : "none");
    MHD_add_response_header(r, "X-Mixed-Case", "Yes");
  } else if (strcmp(url, "/big") == 0) {
    static char big[BIG_BYTES];
    memset(big, 'b', sizeof big);
    r = MHD_create_response_from_buffer(sizeof big, big, MHD_RESPMEM_MUST_COPY);
  } else if (strcmp(url, "/bigchunked") == 0) {
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1000, chunk_cb, NULL, NULL);
  } else {
    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    r = MHD_create_response_from_buffer(4, (void *)"oops", MHD_RESPMEM_PERSISTENT);
  }
  if (!r) return MHD_NO;
  ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

typedef struct fixture {
  struct MHD_Daemon *mhd;
  int port;
  int silent_fd, silent_port;   /* listens, never accepts or answers */
  int refused_fd, refused_port; /* bound, not listening: connect is refused */
  net_curl *nc;
  net_shim net;
} fixture;

static int loopback_socket(int do_listen, int *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || (do_listen && listen(fd, 16) != 0) ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  struct sockaddr_in a;
  net_curl_options o;
  const union MHD_DaemonInfo *info;
  if (!fx) return -1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fx->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                             on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
  if (!fx->mhd) return -1;
  info = MHD_get_daemon_info(fx->mhd, MHD_DAEMON_INFO_BIND_PORT);
  if (!info || !info->port) return -1;
  fx->port = info->port;
  fx->silent_fd = loopback_socket(1, &fx->silent_port);
  fx->refused_fd = loopback_socket(0, &fx->refused_port);
  if (fx->silent_fd < 0 || fx->refused_fd < 0) return -1;
  net_curl_options_init(&o);
  o.allow_plain_http_loopback = 1;
  o.max_in_flight = 4;
  if (net_curl_create(&o, &fx->nc) != NET_OK) return -1;
  net_curl_shim(fx->nc, &fx->net);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  net_curl_destroy(fx->nc);
  MHD_stop_daemon(fx->mhd);
  close(fx->silent_fd);
  close(fx->refused_fd);
  free(fx);
  return 0;
}

/* ---- the client side ----------------------------------------------------- */

typedef struct result {
  int calls;
  int fired_inside_request;
  int error, status;
  char body[BIG_BYTES + 1];
  size_t body_len;
  char echo_method[16], echo_test[64], echo_expect[64], echo_ctype[64], mixed[16];
  int names_lowercase;
  int body_ok; /* body[i] == (uint8_t)(i * 7) for every byte */
  char error_text[256];
  /* streaming (issue #17) */
  size_t streamed, pieces, stop_after; /* stop_after 0: never */
  int streamed_all_c, sink_after_done;
} result;

static int in_request; /* set around request() to prove done() never fires there */

static void copy_hdr(const net_response *r, const char *name, char *out, size_t cap) {
  const char *v = net_response_header(r, name);
  snprintf(out, cap, "%s", v ? v : "(absent)");
}

static void on_done(void *user, const net_response *r) {
  result *res = user;
  res->calls++;
  if (in_request) res->fired_inside_request = 1;
  res->error = r->error;
  res->status = r->status;
  assert_non_null(r->error_text);
  snprintf(res->error_text, sizeof res->error_text, "%s", r->error_text);
  res->body_len = r->body_len;
  res->body_ok = r->body_len > 0;
  for (size_t i = 0; i < r->body_len; i++)
    if (r->body[i] != (uint8_t)(i * 7)) res->body_ok = 0;
  if (r->body_len <= BIG_BYTES) {
    if (r->body_len) memcpy(res->body, r->body, r->body_len);
    res->body[r->body_len] = 0;
  }
  copy_hdr(r, "x-echo-method", res->echo_method, sizeof res->echo_method);
  copy_hdr(r, "x-echo-test", res->echo_test, sizeof res->echo_test);
  copy_hdr(r, "x-echo-expect", res->echo_expect, sizeof res->echo_expect);
  copy_hdr(r, "x-echo-content-type", res->echo_ctype, sizeof res->echo_ctype);
  copy_hdr(r, "X-MIXED-CASE", res->mixed, sizeof res->mixed);
  res->names_lowercase = 1;
  for (size_t i = 0; i < r->n_headers; i++)
    for (const char *p = r->headers[i].name; *p; p++)
      if (*p >= 'A' && *p <= 'Z') res->names_lowercase = 0;
}

static int start(fixture *fx, const char *method, const char *url, const net_header *h, size_t nh,
                 const void *body, size_t blen, int64_t timeout_ms, size_t max_bytes, result *res,
                 uint64_t *id) {
  net_request req = {method, url, h, nh, body, blen, timeout_ms, max_bytes, NULL};
  in_request = 1;
  int rc = fx->net.request(fx->net.ctx, &req, on_done, res, id);
  in_request = 0;
  return rc;
}

static void pump(fixture *fx, const result *res) {
  for (int i = 0; i < PUMP_ROUNDS && res->calls == 0; i++)
    assert_true(net_curl_wait(fx->nc, 50) >= 0);
}

static void url_of(char *out, size_t cap, int port, const char *path) {
  snprintf(out, cap, "http://127.0.0.1:%d%s", port, path);
}

static void test_get_roundtrip(void **state) {
  fixture *fx = *state;
  static result res;
  char url[128];
  uint64_t id = 0, id2 = 0;
  net_header h[] = {{"X-Test", "abc 123"}};
  memset(&res, 0, sizeof res);
  url_of(url, sizeof url, fx->port, "/echo");
  assert_int_equal(start(fx, "GET", url, h, 1, NULL, 0, 5000, 4096, &res, &id), NET_OK);
  assert_true(id > 0);
  assert_int_equal(res.calls, 0);
  pump(fx, &res);
  assert_int_equal(res.calls, 1);
  assert_false(res.fired_inside_request);
  assert_int_equal(res.error, NET_OK);
  assert_int_equal(res.status, 200);
  assert_string_equal(res.body, "hello get");
  assert_string_equal(res.echo_method, "GET");
  assert_string_equal(res.echo_test, "abc 123");
  assert_string_equal(res.mixed, "Yes");
  assert_true(res.names_lowercase);
  assert_int_equal(net_curl_in_flight(fx->nc), 0);
  /* ids increase */
  memset(&res, 0, sizeof res);
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 5000, 4096, &res, &id2), NET_OK);
  assert_true(id2 > id);
  pump(fx, &res);
  assert_int_equal(res.calls, 1);
  assert_string_equal(res.echo_test, "none");
}

static void test_post_roundtrip(void **state) {
  fixture *fx = *state;
  static result res;
  char *url = malloc(128);
  net_header *h = malloc(2 * sizeof *h);
  char *name = strdup("X-Test"), *value = strdup("posted"), *ct_n = strdup("Content-Type"),
       *ct_v = strdup("application/x-ndjson");
  /* Over curl's 1 MiB Expect: 100-continue threshold, so the empty "Expect:"
   * header is what keeps it out. */
  const size_t blen = 1100 * 1024;
  uint8_t *body = malloc(blen);
  uint64_t id;
  assert_non_null(url);
  assert_non_null(h);
  assert_non_null(body);
  for (size_t i = 0; i < blen; i++) body[i] = (uint8_t)(i * 7); /* includes NULs */
  h[0].name = name, h[0].value = value;
  h[1].name = ct_n, h[1].value = ct_v;
  url_of(url, 128, fx->port, "/echo");
  memset(&res, 0, sizeof res);
  assert_int_equal(start(fx, "POST", url, h, 2, body, blen, 5000, blen, &res, &id), NET_OK);
  /* The caller may scribble over and free everything right away. */
  memset(url, 'x', 127);
  memset(body, 0xAA, blen);
  memset(name, 'q', strlen(name));
  free(url), free(h), free(name), free(value), free(ct_n), free(ct_v);
  pump(fx, &res);
  assert_int_equal(res.calls, 1);
  assert_int_equal(res.error, NET_OK);
  assert_int_equal(res.status, 200);
  assert_int_equal(res.body_len, blen);
  assert_true(res.body_ok);
  free(body);
  assert_string_equal(res.echo_method, "POST");
  assert_string_equal(res.echo_test, "posted");
  assert_string_equal(res.echo_expect, "none"); /* no 100-continue */
  assert_string_equal(res.echo_ctype, "application/x-ndjson");
}

static void test_http_status_is_ok(void **state) {
  fixture *fx = *state;
  static result res;
  char url[128];
  uint64_t id;
  memset(&res, 0, sizeof res);
  url_of(url, sizeof url, fx->port, "/nowhere");
  assert_int_equal(start(fx, "POST", url, NULL, 0, NULL, 0, 5000, 4096, &res, &id), NET_OK);
  pump(fx, &res);
  assert_int_equal(res.error, NET_OK);
  assert_int_equal(res.status, 500);
  assert_string_equal(res.body, "oops");
}

static void test_too_big(void **state) {
  fixture *fx = *state;
  static result res;
  char url[128];
  uint64_t id;
  const char *paths[] = {"/big", "/bigchunked"}; /* Content-Length, then chunked */
  for (int i = 0; i < 2; i++) {
    memset(&res, 0, sizeof res);
    url_of(url, sizeof url, fx->port, paths[i]);
    assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 5000, 1000, &res, &id), NET_OK);
    pump(fx, &res);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.error, NET_ETOOBIG);
    assert_int_equal(res.status, 0);
    /* Exactly at the cap is fine. */
    memset(&res, 0, sizeof res);
    assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 5000, BIG_BYTES, &res, &id), NET_OK);
    pump(fx, &res);
    assert_int_equal(res.error, NET_OK);
    assert_int_equal(res.body_len, BIG_BYTES);
  }
}

static int sink_c(void *user, const uint8_t *data, size_t len) {
  result *res = user;
  if (res->calls) res->sink_after_done = 1;
  for (size_t i = 0; i < len; i++)
    if (data[i] != 'c') res->streamed_all_c = 0;
  res->streamed += len;
  res->pieces++;
  return res->stop_after && res->streamed >= res->stop_after ? -1 : 0;
}

/* issue #17: a 200 body goes to the sink in pieces, none buffered; the sink
 * can stop it; an error status is still buffered for done(). */
static void test_sink_streams(void **state) {
  fixture *fx = *state;
  static result res;
  char url[128];
  uint64_t id;
  for (int round = 0; round < 3; round++) {
    memset(&res, 0, sizeof res);
    res.streamed_all_c = 1;
    res.stop_after = round == 1 ? 3000 : 0;
    url_of(url, sizeof url, fx->port, round == 2 ? "/nowhere" : "/bigchunked");
    net_request req = {"GET", url, NULL, 0, NULL, 0, 5000, BIG_BYTES, sink_c};
    assert_int_equal(fx->net.request(fx->net.ctx, &req, on_done, &res, &id), NET_OK);
    pump(fx, &res);
    assert_int_equal(res.calls, 1);
    assert_int_equal(res.sink_after_done, 0);
    if (round == 0) {
      assert_int_equal(res.error, NET_OK);
      assert_int_equal(res.status, 200);
      assert_int_equal(res.streamed, BIG_BYTES);
      assert_true(res.pieces >= 2);
      assert_int_equal(res.streamed_all_c, 1);
      assert_int_equal(res.body_len, 0); /* nothing buffered */
    } else if (round == 1) {
      assert_int_equal(res.error, NET_EABORTED);
      assert_true(res.streamed >= 3000 && res.streamed < BIG_BYTES);
      assert_non_null(strstr(res.error_text, "stopped by the receiver"));
    } else {
      assert_int_equal(res.error, NET_OK);
      assert_int_equal(res.status, 500);
      assert_int_equal(res.streamed, 0);
      assert_string_equal(res.body, "oops");
    }
  }
  /* The cap holds for a streamed body too. */
  memset(&res, 0, sizeof res);
  url_of(url, sizeof url, fx->port, "/bigchunked");
  net_request req = {"GET", url, NULL, 0, NULL, 0, 5000, 1000, sink_c};
  assert_int_equal(fx->net.request(fx->net.ctx, &req, on_done, &res, &id), NET_OK);
  pump(fx, &res);
  assert_int_equal(res.error, NET_ETOOBIG);
  assert_true(res.streamed <= 1000);
}

static void test_timeout(void **state) {
  fixture *fx = *state;
  static result res;
  char url[128];
  uint64_t id;
  memset(&res, 0, sizeof res);
  url_of(url, sizeof url, fx->silent_port, "/echo");
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 300, 4096, &res, &id), NET_OK);
  pump(fx, &res);
  assert_int_equal(res.calls, 1);
  assert_int_equal(res.error, NET_ETIMEDOUT);
  assert_true(strlen(res.error_text) > 0);
}

static void test_refused(void **state) {
  fixture *fx = *state;
  static result res;
  char url[128];
  uint64_t id;
  memset(&res, 0, sizeof res);
  url_of(url, sizeof url, fx->refused_port, "/echo");
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 5000, 4096, &res, &id), NET_OK);
  pump(fx, &res);
  assert_int_equal(res.calls, 1);
  assert_int_equal(res.error, NET_ECONNECT);
}

static void test_cancel(void **state) {
  fixture *fx = *state;
  static result a, b;
  char url[128];
  uint64_t ida, idb;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  url_of(url, sizeof url, fx->port, "/echo");
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 5000, 4096, &a, &ida), NET_OK);
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 5000, 4096, &b, &idb), NET_OK);
  fx->net.cancel(fx->net.ctx, ida);
  fx->net.cancel(fx->net.ctx, ida);      /* twice: ignored */
  fx->net.cancel(fx->net.ctx, 999999);   /* unknown: ignored */
  assert_int_equal(net_curl_in_flight(fx->nc), 1);
  pump(fx, &b); /* b completing proves the loop ran long enough for a too */
  for (int i = 0; i < 5; i++) assert_true(net_curl_wait(fx->nc, 20) >= 0);
  assert_int_equal(b.calls, 1);
  assert_int_equal(b.error, NET_OK);
  assert_int_equal(a.calls, 0);
  assert_int_equal(net_curl_in_flight(fx->nc), 0);
}

static void test_busy_and_destroy_in_flight(void **state) {
  fixture *fx = *state;
  static result res[5];
  char url[128];
  uint64_t id;
  memset(res, 0, sizeof res);
  url_of(url, sizeof url, fx->silent_port, "/x");
  for (int i = 0; i < 4; i++)
    assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 60000, 4096, &res[i], &id), NET_OK);
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 60000, 4096, &res[4], &id), NET_EBUSY);
  assert_int_equal(net_curl_wait(fx->nc, 50), 0);
  /* teardown destroys with four transfers in flight: no callbacks, no leaks */
  net_curl_destroy(fx->nc);
  fx->nc = NULL;
  for (int i = 0; i < 5; i++) assert_int_equal(res[i].calls, 0);
}

static void test_invalid_requests(void **state) {
  fixture *fx = *state;
  static result res;
  char url[128], longurl[NET_MAX_URL + 8];
  uint64_t id = 77;
  net_header bad[] = {{"X-Test", "a\r\nInjected: yes"}};
  net_header badname[] = {{"X Test", "a"}};
  net_header many[NET_MAX_HEADERS + 1];
  for (int i = 0; i <= NET_MAX_HEADERS; i++) many[i].name = "X-A", many[i].value = "b";
  memset(&res, 0, sizeof res);
  url_of(url, sizeof url, fx->port, "/echo");
  assert_int_equal(start(fx, "GET", url, bad, 1, NULL, 0, 5000, 4096, &res, &id), NET_EINVAL);
  assert_int_equal(id, 0);
  assert_int_equal(start(fx, "GET", url, badname, 1, NULL, 0, 5000, 4096, &res, &id), NET_EINVAL);
  assert_int_equal(start(fx, "GET", url, many, NET_MAX_HEADERS + 1, NULL, 0, 5000, 4096, &res, &id),
                   NET_EINVAL);
  assert_int_equal(start(fx, "GET", url, many, NET_MAX_HEADERS, NULL, 0, 5000, 4096, &res, &id),
                   NET_OK);
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 0, 4096, &res, &id), NET_EINVAL);
  assert_int_equal(start(fx, "GET", url, NULL, 0, NULL, 0, 5000, 0, &res, &id), NET_EINVAL);
  assert_int_equal(start(fx, "get", url, NULL, 0, NULL, 0, 5000, 4096, &res, &id), NET_EINVAL);
  assert_int_equal(start(fx, "POST", url, NULL, 0, NULL, 5, 5000, 4096, &res, &id), NET_EINVAL);
  memset(longurl, 'a', sizeof longurl - 1);
  memcpy(longurl, "http://127.0.0.1/", 17);
  longurl[sizeof longurl - 1] = 0;
  assert_int_equal(start(fx, "GET", longurl, NULL, 0, NULL, 0, 5000, 4096, &res, &id), NET_EINVAL);
  /* Loopback mode still refuses every other plain-http host or scheme. */
  const char *refused[] = {"http://example.com/", "http://127.0.0.1@example.com/",
                           "ftp://127.0.0.1/", "file:///etc/passwd", "http://10.0.0.1/",
                           "not a url",
                           "https://127.0.0.1/" /* https without a ca_file */};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
    assert_int_equal(start(fx, "GET", refused[i], NULL, 0, NULL, 0, 5000, 4096, &res, &id),
                     NET_EINVAL);
  pump(fx, &res);
  assert_int_equal(res.calls, 1); /* only the one valid request ran */
  assert_int_equal(res.error, NET_OK);
}

static const char *system_ca(void) {
  const char *p = "/etc/ssl/certs/ca-certificates.crt";
  return access(p, R_OK) == 0 ? p : NULL;
}

static void test_plain_http_refused_by_default(void **state) {
  fixture *fx = *state;
  net_curl *nc = NULL;
  net_curl_options o;
  net_shim net;
  static result res;
  char url[128];
  uint64_t id;
  net_request req;
  net_curl_options_init(&o);
  assert_int_equal(net_curl_create(&o, &nc), NET_EINVAL); /* https needs a CA file */
  assert_null(nc);
  o.ca_file = "/nonexistent/ca.pem";
  assert_int_equal(net_curl_create(&o, &nc), NET_EINVAL);
  if (!system_ca()) skip();
  o.ca_file = system_ca();
  assert_int_equal(net_curl_create(&o, &nc), NET_OK);
  net_curl_shim(nc, &net);
  url_of(url, sizeof url, fx->port, "/echo");
  memset(&req, 0, sizeof req);
  req.method = "GET", req.url = url, req.timeout_ms = 5000, req.max_response_bytes = 4096;
  memset(&res, 0, sizeof res);
  assert_int_equal(net.request(net.ctx, &req, on_done, &res, &id), NET_EINVAL);
  assert_int_equal(net_curl_wait(nc, 10), 0);
  assert_int_equal(res.calls, 0);
  net_curl_destroy(nc);
}

static void test_https_to_plain_server(void **state) {
  fixture *fx = *state;
  net_curl *nc = NULL;
  net_curl_options o;
  net_shim net;
  static result res;
  char url[128];
  uint64_t id;
  net_request req;
  if (!system_ca()) skip();
  net_curl_options_init(&o);
  o.ca_file = system_ca();
  o.allow_plain_http_loopback = 1;
  assert_int_equal(net_curl_create(&o, &nc), NET_OK);
  net_curl_shim(nc, &net);
  snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", fx->port);
  memset(&req, 0, sizeof req);
  req.method = "GET", req.url = url, req.timeout_ms = 5000, req.max_response_bytes = 4096;
  memset(&res, 0, sizeof res);
  assert_int_equal(net.request(net.ctx, &req, on_done, &res, &id), NET_OK);
  for (int i = 0; i < PUMP_ROUNDS && res.calls == 0; i++) assert_true(net_curl_wait(nc, 50) >= 0);
  assert_int_equal(res.calls, 1);
  assert_true(res.error == NET_ETLS || res.error == NET_EIO);
  assert_int_equal(res.status, 0);
  net_curl_destroy(nc);
}

/* A done() may start a new request and cancel another finished one. */
static result chain_second;
static uint64_t chain_cancel_id;
static fixture *chain_fx;
static char chain_url[128];
static void on_done_chain(void *user, const net_response *r) {
  result *res = user;
  uint64_t id;
  res->calls++;
  res->error = r->error;
  chain_fx->net.cancel(chain_fx->net.ctx, chain_cancel_id);
  net_request req = {"GET", chain_url, NULL, 0, NULL, 0, 5000, 4096, NULL};
  assert_int_equal(chain_fx->net.request(chain_fx->net.ctx, &req, on_done, &chain_second, &id),
                   NET_OK);
}

static void test_reentrant_done(void **state) {
  fixture *fx = *state;
  static result first, other;
  uint64_t id;
  chain_fx = fx;
  memset(&first, 0, sizeof first);
  memset(&other, 0, sizeof other);
  memset(&chain_second, 0, sizeof chain_second);
  url_of(chain_url, sizeof chain_url, fx->port, "/echo");
  net_request req = {"GET", chain_url, NULL, 0, NULL, 0, 5000, 4096, NULL};
  assert_int_equal(fx->net.request(fx->net.ctx, &req, on_done_chain, &first, &id), NET_OK);
  req.url = "http://127.0.0.1:1/"; /* port 1: refused, possibly in the same round */
  assert_int_equal(fx->net.request(fx->net.ctx, &req, on_done, &other, &chain_cancel_id), NET_OK);
  for (int i = 0; i < PUMP_ROUNDS && (first.calls == 0 || chain_second.calls == 0); i++)
    assert_true(net_curl_wait(fx->nc, 50) >= 0);
  assert_int_equal(first.calls, 1);
  assert_int_equal(chain_second.calls, 1);
  assert_int_equal(chain_second.error, NET_OK);
  assert_true(other.calls <= 1); /* 0 if cancelled before its done() fired */
  assert_int_equal(net_curl_in_flight(fx->nc), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_get_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_post_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_status_is_ok, setup, teardown),
      cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_busy_and_destroy_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plain_http_refused_by_default, setup, teardown),
      cmocka_unit_test_setup_teardown(test_https_to_plain_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reentrant_done, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
