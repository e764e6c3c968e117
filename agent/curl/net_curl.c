/* net_curl.c - libcurl multi implementation of the net shim. See net_curl.h. */
#include "curl/net_curl.h"
#include "common/version.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>


#define NC_WAIT_MAX_MS 60000
#define NC_METHOD_MAX 15
#define NC_REQ_HEADER_VALUE_MAX 8192
#define NC_UA_MAX 256

typedef struct nc_xfer {
  net_curl *nc;
  uint64_t id;
  CURL *easy;
  CURLU *url;
  struct curl_slist *req_headers;
  net_done_fn done;
  void *user;
  /* response */
  uint8_t *body;
  size_t body_len, body_cap, body_max;
  int too_big;
  int oom;
  int (*sink)(void *user, const uint8_t *data, size_t len);
  int aborted;      /* the sink said stop */
  size_t streamed;  /* bytes given to the sink */
  char hdr_store[NET_MAX_HEADERS][NET_CURL_HEADER_MAX + 1];
  net_header hdrs[NET_MAX_HEADERS];
  size_t n_hdrs;
  char errbuf[CURL_ERROR_SIZE];
  CURLcode result;
} nc_xfer;

struct net_curl {
  CURLM *multi;
  char *ca_file;
  char user_agent[NC_UA_MAX];
  int allow_plain_http_loopback;
  char *proxy, *proxy_ca_file, *no_proxy;
  unsigned max_in_flight;
  unsigned in_flight;
  nc_xfer **slots;     /* max_in_flight entries, NULL = free */
  uint64_t *done_ids;  /* scratch for net_curl_wait, max_in_flight entries */
  uint64_t next_id;
};

void net_curl_options_init(net_curl_options *opts) {
  if (!opts) return;
  memset(opts, 0, sizeof *opts);
}

static void nc_xfer_free(nc_xfer *x) {
  if (!x) return;
  if (x->easy) curl_easy_cleanup(x->easy);
  if (x->url) curl_url_cleanup(x->url);
  curl_slist_free_all(x->req_headers);
  free(x->body);
  free(x);
}

/* Takes x out of its slot and out of the multi handle; the caller frees it. */
static void nc_detach(net_curl *nc, nc_xfer *x) {
  for (unsigned i = 0; i < nc->max_in_flight; i++) {
    if (nc->slots[i] == x) {
      nc->slots[i] = NULL;
      nc->in_flight--;
      break;
    }
  }
  curl_multi_remove_handle(nc->multi, x->easy);
}

static nc_xfer *nc_find(net_curl *nc, uint64_t id) {
  for (unsigned i = 0; i < nc->max_in_flight; i++)
    if (nc->slots[i] && nc->slots[i]->id == id) return nc->slots[i];
  return NULL;
}

static size_t nc_on_body(char *data, size_t size, size_t nmemb, void *userp) {
  nc_xfer *x = userp;
  size_t n = size * nmemb;
  if (n == 0) return 0;
  if (n > x->body_max - x->body_len - x->streamed) {
    x->too_big = 1;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (x->sink) {
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200) {
      x->streamed += n;
      if (x->sink(x->user, (const uint8_t *)data, n) != 0) {
        x->aborted = 1;
        return 0;
      }
      return n;
    }
  }
  if (x->body_len + n > x->body_cap) {
    size_t cap = x->body_cap ? x->body_cap : 4096;
    while (cap < x->body_len + n) cap = cap > x->body_max / 2 ? x->body_max : cap * 2;
    uint8_t *p = realloc(x->body, cap);
    if (!p) {
      x->oom = 1;
      return 0;
    }
    x->body = p;
    x->body_cap = cap;
  }
  memcpy(x->body + x->body_len, data, n);
  x->body_len += n;
  return n;
}

static size_t nc_on_header(char *data, size_t size, size_t nitems, void *userp) {
  nc_xfer *x = userp;
  size_t n = size * nitems, len = n, i, colon;
  char *line;
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r')) len--;
  /* Each response (100-continue, proxy CONNECT, the final one) starts with a
   * status line; keep only the last response's headers. */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
    x->n_hdrs = 0;
    return n;
  }
  if (len == 0 || len > NET_CURL_HEADER_MAX || x->n_hdrs >= NET_MAX_HEADERS) return n;
  if (data[0] == ' ' || data[0] == '\t') return n; /* obsolete line folding */
  for (colon = 0; colon < len && data[colon] != ':'; colon++) {
  }
  if (colon == 0 || colon == len) return n;
  line = x->hdr_store[x->n_hdrs];
  for (i = 0; i < colon; i++) {
    char c = data[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c == 0) return n;
    line[i] = c;
  }
  line[colon] = 0;
  i = colon + 1;
  while (i < len && (data[i] == ' ' || data[i] == '\t')) i++;
  size_t vlen = len - i;
  while (vlen > 0 && (data[i + vlen - 1] == ' ' || data[i + vlen - 1] == '\t')) vlen--;
  if (memchr(data + i, 0, vlen)) return n;
  memcpy(line + colon + 1, data + i, vlen);
  line[colon + 1 + vlen] = 0;
  x->hdrs[x->n_hdrs].name = line;
  x->hdrs[x->n_hdrs].value = line + colon + 1;
  x->n_hdrs++;
  return n;
}

static int nc_map_error(const nc_xfer *x) {
  switch (x->result) {
  case CURLE_OK: return NET_OK;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return NET_EDNS;
  case CURLE_COULDNT_CONNECT: return NET_ECONNECT;
  case CURLE_OPERATION_TIMEDOUT: return NET_ETIMEDOUT;
  case CURLE_OUT_OF_MEMORY: return NET_ENOMEM;
  case CURLE_FILESIZE_EXCEEDED: return NET_ETOOBIG;
  case CURLE_WRITE_ERROR: return x->too_big ? NET_ETOOBIG : x->oom ? NET_ENOMEM : x->aborted ? NET_EABORTED : NET_EIO;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED: return NET_ETLS;
  default: return NET_EIO;
  }
}

static void nc_fire(nc_xfer *x) {
  net_response r;
  char text[CURL_ERROR_SIZE + 64];
  long status = 0;
  memset(&r, 0, sizeof r);
  r.error = nc_map_error(x);
  text[0] = 0;
  if (r.error == NET_OK) {
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    r.status = (int)status;
    r.body = x->body;
    r.body_len = x->body_len;
    r.headers = x->hdrs;
    r.n_headers = x->n_hdrs;
  } else if (r.error == NET_ETOOBIG) {
    snprintf(text, sizeof text, "response body over %zu bytes", x->body_max);
  } else if (r.error == NET_EABORTED) {
    snprintf(text, sizeof text, "stopped by the receiver after %zu bytes", x->streamed);
  } else {
    snprintf(text, sizeof text, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result));
  }
  r.error_text = text;
  x->done(x->user, &r);
}

int net_curl_wait(net_curl *nc, int64_t timeout_ms) {
  CURLMsg *msg;
  int running = 0, left = 0, fired = 0;
  unsigned n = 0;
  if (!nc) return NET_EIO;
  if (timeout_ms < 0) timeout_ms = 0;
  if (timeout_ms > NC_WAIT_MAX_MS) timeout_ms = NC_WAIT_MAX_MS;
  if (curl_multi_poll(nc->multi, NULL, 0, (int)timeout_ms, NULL) != CURLM_OK) return NET_EIO;
  if (curl_multi_perform(nc->multi, &running) != CURLM_OK) return NET_EIO;
  /* Collect first, dispatch second: a done() may cancel another finished
   * transfer or start new ones, which must not disturb this iteration. */
  while (n < nc->max_in_flight && (msg = curl_multi_info_read(nc->multi, &left)) != NULL) {
    nc_xfer *x = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x) != CURLE_OK || !x)
      continue;
    x->result = msg->data.result;
    nc->done_ids[n++] = x->id;
  }
  for (unsigned i = 0; i < n; i++) {
    nc_xfer *x = nc_find(nc, nc->done_ids[i]);
    if (!x) continue; /* cancelled by an earlier done() */
    nc_detach(nc, x);
    nc_fire(x);
    nc_xfer_free(x);
    fired++;
  }
  return fired;
}

/* Checks scheme and host before anything is sent. Returns NET_OK and sets
 * *is_https, or NET_EINVAL. */
static int nc_check_url(const net_curl *nc, CURLU *u, int *is_https) {
  char *scheme = NULL, *host = NULL;
  int rc = NET_EINVAL;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) goto out;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto out;
  if (strcasecmp(scheme, "https") == 0) {
    *is_https = 1;
    rc = NET_OK;
  } else if (strcasecmp(scheme, "http") == 0 && nc->allow_plain_http_loopback &&
             (strcmp(host, "127.0.0.1") == 0 || strcasecmp(host, "localhost") == 0)) {
    *is_https = 0;
    rc = NET_OK;
  }
out:
  curl_free(scheme);
  curl_free(host);
  return rc;
}

static int nc_valid_header(const net_header *h) {
  size_t i;
  if (!h->name || !h->value || !h->name[0]) return 0;
  for (i = 0; h->name[i]; i++) {
    unsigned char c = (unsigned char)h->name[i];
    if (c <= ' ' || c >= 0x7f || c == ':' || i > 256) return 0;
  }
  for (i = 0; h->value[i]; i++) {
    unsigned char c = (unsigned char)h->value[i];
    if (c == '\r' || c == '\n' || i > NC_REQ_HEADER_VALUE_MAX) return 0;
  }
  return 1;
}

static int nc_valid_method(const char *m) {
  size_t i;
  if (!m || !m[0]) return 0;
  for (i = 0; m[i]; i++)
    if (m[i] < 'A' || m[i] > 'Z' || i >= NC_METHOD_MAX) return 0;
  return 1;
}

/* Appends "name: value" (or "name;" for an empty value: curl reads "name:"
 * as "remove this header"). */
static int nc_add_header(struct curl_slist **list, const char *name, const char *value) {
  size_t ln = strlen(name), lv = strlen(value);
  char *line = malloc(ln + lv + 3);
  struct curl_slist *nl;
  if (!line) return NET_ENOMEM;
  if (lv) snprintf(line, ln + lv + 3, "%s: %s", name, value);
  else snprintf(line, ln + lv + 3, "%s;", name);
  nl = curl_slist_append(*list, line);
  free(line);
  if (!nl) return NET_ENOMEM;
  *list = nl;
  return NET_OK;
}

static int nc_setup(net_curl *nc, nc_xfer *x, const net_request *req) {
  CURL *e = x->easy;
  struct curl_slist *nl;
  int has_ctype = 0, rc;
  CURLcode c = CURLE_OK;
  for (size_t i = 0; i < req->n_headers; i++) {
    if (strcasecmp(req->headers[i].name, "content-type") == 0) has_ctype = 1;
    if ((rc = nc_add_header(&x->req_headers, req->headers[i].name, req->headers[i].value)) != NET_OK)
      return rc;
  }
  /* An empty "Expect:" stops curl from waiting for 100-continue on POSTs;
   * an empty Content-Type stops it from claiming form encoding. */
  if (!(nl = curl_slist_append(x->req_headers, "Expect:"))) return NET_ENOMEM;
  x->req_headers = nl;
  if (!has_ctype) {
    if (!(nl = curl_slist_append(x->req_headers, "Content-Type:"))) return NET_ENOMEM;
    x->req_headers = nl;
  }

#define SET(opt, val) \
  do { if (c == CURLE_OK) c = curl_easy_setopt(e, opt, val); } while (0)
  SET(CURLOPT_PRIVATE, (void *)x);
  SET(CURLOPT_CURLU, x->url);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_ERRORBUFFER, x->errbuf);
  SET(CURLOPT_PROTOCOLS_STR, nc->allow_plain_http_loopback ? "https,http" : "https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_MAXREDIRS, 0L);
  SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, (long)req->timeout_ms);
  SET(CURLOPT_USERAGENT, nc->user_agent);
  SET(CURLOPT_HTTPHEADER, x->req_headers);
  SET(CURLOPT_WRITEFUNCTION, nc_on_body);
  SET(CURLOPT_WRITEDATA, (void *)x);
  SET(CURLOPT_HEADERFUNCTION, nc_on_header);
  SET(CURLOPT_HEADERDATA, (void *)x);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->body_max);
  /* Verification is always on; the CA file is the only trust anchor. */
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if (nc->ca_file) SET(CURLOPT_CAINFO, nc->ca_file);
  SET(CURLOPT_CAPATH, (char *)NULL);
  if (nc->proxy) {
    /* CONNECT even for http:// targets: the proxy only ever sees a tunnel. */
    SET(CURLOPT_PROXY, nc->proxy);
    SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
    SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    if (nc->proxy_ca_file) SET(CURLOPT_PROXY_CAINFO, nc->proxy_ca_file);
    else if (nc->ca_file) SET(CURLOPT_PROXY_CAINFO, nc->ca_file);
    if (nc->no_proxy) SET(CURLOPT_NOPROXY, nc->no_proxy);
  }

  if (strcmp(req->method, "GET") == 0) {
    if (req->body_len) return NET_EINVAL;
    SET(CURLOPT_HTTPGET, 1L);
  } else if (strcmp(req->method, "HEAD") == 0) {
    if (req->body_len) return NET_EINVAL;
    SET(CURLOPT_NOBODY, 1L);
  } else {
    /* CURLOPT_POSTFIELDSIZE first: COPYPOSTFIELDS copies that many bytes. */
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    SET(CURLOPT_COPYPOSTFIELDS, req->body_len ? (const char *)req->body : "");
    if (strcmp(req->method, "POST") != 0) SET(CURLOPT_CUSTOMREQUEST, req->method);
  }
#undef SET
  if (c == CURLE_OUT_OF_MEMORY) return NET_ENOMEM;
  return c == CURLE_OK ? NET_OK : NET_EINVAL;
}

static int nc_request(void *ctx, const net_request *req, net_done_fn done, void *user,
                      uint64_t *id_out) {
  net_curl *nc = ctx;
  nc_xfer *x;
  int rc, is_https = 0;
  unsigned slot;
  if (id_out) *id_out = 0;
  if (!nc || !req || !done || !id_out) return NET_EINVAL;
  if (!req->url || strnlen(req->url, NET_MAX_URL) >= NET_MAX_URL) return NET_EINVAL;
  if (!nc_valid_method(req->method)) return NET_EINVAL;
  if (req->n_headers > NET_MAX_HEADERS || (req->n_headers && !req->headers)) return NET_EINVAL;
  for (size_t i = 0; i < req->n_headers; i++)
    if (!nc_valid_header(&req->headers[i])) return NET_EINVAL;
  if (req->body_len && !req->body) return NET_EINVAL;
  if (req->timeout_ms <= 0 || req->timeout_ms > (int64_t)0x7fffffff) return NET_EINVAL;
  if (req->max_response_bytes == 0) return NET_EINVAL;
  if (nc->in_flight >= nc->max_in_flight) return NET_EBUSY;
  for (slot = 0; slot < nc->max_in_flight && nc->slots[slot]; slot++) {
  }
  if (slot == nc->max_in_flight) return NET_EBUSY;

  x = calloc(1, sizeof *x);
  if (!x) return NET_ENOMEM;
  x->nc = nc;
  x->done = done;
  x->user = user;
  x->body_max = req->max_response_bytes;
  x->sink = req->sink;
  x->url = curl_url();
  x->easy = curl_easy_init();
  if (!x->url || !x->easy) {
    rc = NET_ENOMEM;
    goto fail;
  }
  if (curl_url_set(x->url, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
      nc_check_url(nc, x->url, &is_https) != NET_OK) {
    rc = NET_EINVAL;
    goto fail;
  }
  if (is_https && !nc->ca_file) {
    rc = NET_EINVAL;
    goto fail;
  }
  if ((rc = nc_setup(nc, x, req)) != NET_OK) goto fail;
  /* curl_multi_add_handle only queues the transfer; nothing runs (and no
   * callback fires) until net_curl_wait. */
  if (curl_multi_add_handle(nc->multi, x->easy) != CURLM_OK) {
    rc = NET_EIO;
    goto fail;
  }
  x->id = ++nc->next_id;
  nc->slots[slot] = x;
  nc->in_flight++;
  *id_out = x->id;
  return NET_OK;
fail:
  nc_xfer_free(x);
  return rc;
}

static void nc_cancel(void *ctx, uint64_t id) {
  net_curl *nc = ctx;
  nc_xfer *x;
  if (!nc || id == 0) return;
  x = nc_find(nc, id);
  if (!x) return;
  nc_detach(nc, x);
  nc_xfer_free(x);
}

int net_curl_create(const net_curl_options *opts, net_curl **out) {
  net_curl_options def;
  net_curl *nc;
  if (!out) return NET_EINVAL;
  *out = NULL;
  if (!opts) {
    net_curl_options_init(&def);
    opts = &def;
  }
  if (opts->ca_file) {
    if (access(opts->ca_file, R_OK) != 0) return NET_EINVAL;
  } else if (!opts->allow_plain_http_loopback) {
    return NET_EINVAL;
  }
  if (opts->user_agent && strlen(opts->user_agent) >= NC_UA_MAX) return NET_EINVAL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NET_EIO;
  nc = calloc(1, sizeof *nc);
  if (!nc) goto nomem;
  nc->allow_plain_http_loopback = opts->allow_plain_http_loopback ? 1 : 0;
  nc->max_in_flight = opts->max_in_flight ? opts->max_in_flight : NET_CURL_DEFAULT_IN_FLIGHT;
  if (nc->max_in_flight > NET_CURL_MAX_IN_FLIGHT) nc->max_in_flight = NET_CURL_MAX_IN_FLIGHT;
  if (opts->user_agent)
    snprintf(nc->user_agent, sizeof nc->user_agent, "%s", opts->user_agent);
  else
    snprintf(nc->user_agent, sizeof nc->user_agent, "outpost-agent/%s", outpost_version);
  if (opts->ca_file && !(nc->ca_file = strdup(opts->ca_file))) goto nomem;
  if (opts->proxy && opts->proxy[0] && !(nc->proxy = strdup(opts->proxy))) goto nomem;
  if (opts->proxy_ca_file && opts->proxy_ca_file[0] &&
      !(nc->proxy_ca_file = strdup(opts->proxy_ca_file)))
    goto nomem;
  if (opts->no_proxy && opts->no_proxy[0] && !(nc->no_proxy = strdup(opts->no_proxy)))
    goto nomem;
  nc->slots = calloc(nc->max_in_flight, sizeof *nc->slots);
  nc->done_ids = calloc(nc->max_in_flight, sizeof *nc->done_ids);
  nc->multi = curl_multi_init();
  if (!nc->slots || !nc->done_ids || !nc->multi) goto nomem;
  *out = nc;
  return NET_OK;
nomem:
  if (nc) {
    if (nc->multi) curl_multi_cleanup(nc->multi);
    free(nc->slots);
    free(nc->done_ids);
    free(nc->ca_file);
    free(nc->proxy);
    free(nc->proxy_ca_file);
    free(nc->no_proxy);
    free(nc);
  }
  curl_global_cleanup();
  return NET_ENOMEM;
}

void net_curl_shim(net_curl *nc, net_shim *out) {
  if (!out) return;
  out->ctx = nc;
  out->request = nc_request;
  out->cancel = nc_cancel;
}

unsigned net_curl_in_flight(const net_curl *nc) { return nc ? nc->in_flight : 0; }

void net_curl_destroy(net_curl *nc) {
  if (!nc) return;
  for (unsigned i = 0; i < nc->max_in_flight; i++) {
    nc_xfer *x = nc->slots[i];
    if (!x) continue;
    nc_detach(nc, x);
    nc_xfer_free(x);
  }
  curl_multi_cleanup(nc->multi);
  free(nc->slots);
  free(nc->done_ids);
  free(nc->ca_file);
  free(nc->proxy);
  free(nc->proxy_ca_file);
  free(nc->no_proxy);
  free(nc);
  curl_global_cleanup();
}
