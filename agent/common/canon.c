#include "common/canon.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct canon_buf {
  char *p;
  size_t len, cap, max;
} canon_buf;

static int buf_put(canon_buf *b, const char *s, size_t n) {
  if (n > b->max - b->len) return CANON_ETOOBIG;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return CANON_ENOMEM;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
  return CANON_OK;
}

static int put_string(canon_buf *b, const char *s) {
  int rc = buf_put(b, "\"", 1);
  const char *run = s;
  for (; rc == CANON_OK && *s; s++) {
    if (*s == '"' || *s == '\\') {
      rc = buf_put(b, run, (size_t)(s - run));
      if (rc == CANON_OK) rc = buf_put(b, "\\", 1);
      run = s; /* the quote or backslash itself goes out with the next run */
    }
  }
  if (rc == CANON_OK) rc = buf_put(b, run, (size_t)(s - run));
  if (rc == CANON_OK) rc = buf_put(b, "\"", 1);
  return rc;
}

static int key_cmp(const void *a, const void *b) {
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string, y->string); /* strcmp compares as unsigned char */
}

static int put_value(canon_buf *b, const cJSON *v, int depth);

static int put_object(canon_buf *b, const cJSON *v, int depth) {
  size_t n = 0;
  for (const cJSON *c = v->child; c; c = c->next) {
    if (!c->string) return CANON_ETYPE;
    n++;
  }
  if (n == 0) return buf_put(b, "{}", 2);
  const cJSON **kids = malloc(n * sizeof *kids);
  if (!kids) return CANON_ENOMEM;
  size_t i = 0;
  for (const cJSON *c = v->child; c; c = c->next) kids[i++] = c;
  qsort(kids, n, sizeof *kids, key_cmp);
  int rc = buf_put(b, "{", 1);
  for (i = 0; rc == CANON_OK && i < n; i++) {
    if (i > 0 && strcmp(kids[i - 1]->string, kids[i]->string) == 0) {
      rc = CANON_EDUPKEY;
      break;
    }
    if (i > 0) rc = buf_put(b, ",", 1);
    if (rc == CANON_OK) rc = put_string(b, kids[i]->string);
    if (rc == CANON_OK) rc = buf_put(b, ":", 1);
    if (rc == CANON_OK) rc = put_value(b, kids[i], depth + 1);
  }
  if (rc == CANON_OK) rc = buf_put(b, "}", 1);
  free(kids);
  return rc;
}

static int put_value(canon_buf *b, const cJSON *v, int depth) {
  if (depth > CANON_MAX_DEPTH) return CANON_EDEPTH;
  switch (v->type & 0xff) {
  case cJSON_False: return buf_put(b, "false", 5);
  case cJSON_True: return buf_put(b, "true", 4);
  case cJSON_NULL: return buf_put(b, "null", 4);
  case cJSON_Number: {
    double d = v->valuedouble;
    /* 2^53: beyond it a double no longer holds every integer exactly. */
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0)) return CANON_EFLOAT; /* NaN too */
    int64_t i = (int64_t)d;
    if ((double)i != d) return CANON_EFLOAT;
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRId64, i);
    return buf_put(b, num, (size_t)n);
  }
  case cJSON_String:
    if (!v->valuestring) return CANON_ETYPE;
    return put_string(b, v->valuestring);
  case cJSON_Array: {
    int rc = buf_put(b, "[", 1);
    for (const cJSON *c = v->child; rc == CANON_OK && c; c = c->next) {
      if (c != v->child) rc = buf_put(b, ",", 1);
      if (rc == CANON_OK) rc = put_value(b, c, depth + 1);
    }
    if (rc == CANON_OK) rc = buf_put(b, "]", 1);
    return rc;
  }
  case cJSON_Object: return put_object(b, v, depth);
  default: return CANON_ETYPE;
  }
}

int canon_encode(const cJSON *value, size_t max_len, char **out, size_t *out_len) {
  if (!out || !out_len) return CANON_EINVAL;
  *out = NULL;
  *out_len = 0;
  if (!value) return CANON_EINVAL;
  canon_buf b = {NULL, 0, 0, max_len};
  int rc = put_value(&b, value, 0);
  if (rc == CANON_OK && !b.p) rc = CANON_ETYPE; /* nothing written: cannot happen for JSON */
  if (rc != CANON_OK) {
    free(b.p);
    return rc;
  }
  *out = b.p;
  *out_len = b.len;
  return CANON_OK;
}

const char *canon_strerror(int code) {
  switch (code) {
  case CANON_OK: return "ok";
  case CANON_ENOMEM: return "out of memory";
  case CANON_ETOOBIG: return "canonical form too large";
  case CANON_EFLOAT: return "number is not an exact integer";
  case CANON_EDUPKEY: return "duplicate key in object";
  case CANON_EDEPTH: return "nested too deeply";
  case CANON_ETYPE: return "value cannot be canonicalised";
  case CANON_EINVAL: return "invalid argument";
  default: return "unknown error";
  }
}
