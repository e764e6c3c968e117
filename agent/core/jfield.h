/* jfield.h - typed reads of JSON fields for the documents the agent
 * validates (local config, cloud policy): every failure names the key path
 * and what was expected, and the first failure in document order wins so
 * the message points at the first thing wrong.
 *
 * Value type: a jfield_err lives on the caller's stack and points at the
 * caller's message buffer (buf may be NULL: failures still count). Nothing
 * is allocated. Functions return 0, or -1 after recording a failure.
 */
#ifndef OUTPOST_CORE_JFIELD_H
#define OUTPOST_CORE_JFIELD_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jfield_err {
  char *buf;
  size_t cap;
  int failed;
} jfield_err;

void jfield_fail(jfield_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An integral number in [lo, hi] ("1.5", "1e300", NaN, strings refused). */
int jfield_int(jfield_err *e, const cJSON *item, const char *key, int64_t lo, int64_t hi,
               int64_t *out);
/* A string that fits cap with its NUL; empty only when allow_empty. */
int jfield_string(jfield_err *e, const cJSON *item, const char *key, char *dst, size_t cap,
                  int allow_empty);
/* true or false (numbers are not booleans). */
int jfield_bool(jfield_err *e, const cJSON *item, const char *key, int *out);
/* A log source's "start": "end" -> 0, "beginning" -> 1. */
int jfield_start(jfield_err *e, const cJSON *item, const char *key, int *from_beginning);

#endif
