/* jfield.c - typed JSON field reads with key-path errors (jfield.h). */
#include "core/jfield.h"

#include <stdarg.h>
#include <stdio.h> /* vsnprintf only: the core does no stdio I/O */
#include <string.h>

void jfield_fail(jfield_err *e, const char *fmt, ...) {
  if (e->failed) return;
  e->failed = 1;
  if (!e->buf || e->cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->buf, e->cap, fmt, ap);
  va_end(ap);
}

int jfield_int(jfield_err *e, const cJSON *item, const char *key, int64_t lo, int64_t hi,
               int64_t *out) {
  if (!cJSON_IsNumber(item)) {
    jfield_fail(e, "%s: must be a number", key);
    return -1;
  }
  double d = item->valuedouble;
  /* The range test comes first: casting an out-of-range double is UB. */
  if (d != d || d < (double)lo || d > (double)hi || d != (double)(int64_t)d) {
    jfield_fail(e, "%s: must be an integer from %lld to %lld", key, (long long)lo, (long long)hi);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

int jfield_string(jfield_err *e, const cJSON *item, const char *key, char *dst, size_t cap,
                  int allow_empty) {
  if (!cJSON_IsString(item)) {
    jfield_fail(e, "%s: must be a string", key);
    return -1;
  }
  size_t n = strlen(item->valuestring);
  if (n == 0 && !allow_empty) {
    jfield_fail(e, "%s: must not be empty", key);
    return -1;
  }
  if (n >= cap) {
    jfield_fail(e, "%s: longer than %zu bytes", key, cap - 1);
    return -1;
  }
  memcpy(dst, item->valuestring, n + 1);
  return 0;
}

int jfield_bool(jfield_err *e, const cJSON *item, const char *key, int *out) {
  if (!cJSON_IsBool(item)) {
    jfield_fail(e, "%s: must be true or false", key);
    return -1;
  }
  *out = cJSON_IsTrue(item) ? 1 : 0;
  return 0;
}

int jfield_start(jfield_err *e, const cJSON *item, const char *key, int *from_beginning) {
  if (!cJSON_IsString(item) ||
      (strcmp(item->valuestring, "end") != 0 && strcmp(item->valuestring, "beginning") != 0)) {
    jfield_fail(e, "%s: must be \"end\" or \"beginning\"", key);
    return -1;
  }
  *from_beginning = strcmp(item->valuestring, "beginning") == 0;
  return 0;
}
