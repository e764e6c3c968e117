/* fuzz_policy: policy_parse never crashes, leaks or accepts a policy that
 * breaks its own bounds; policy_normalize/policy_denied/policy_glob_match on
 * the same bytes hold their invariants. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  policy p;
  char err[POLICY_ERR_MAX];
  policy_defaults(&p);
  int rc = policy_parse((const char *)data, size, &p, err, sizeof err);
  if (rc != POLICY_OK && err[0] == 0) abort(); /* a refusal must say why */
  if (rc == POLICY_OK) {
    if (p.version < 1 || p.n_logs < 0 || p.n_logs > POLICY_MAX_GLOBS || p.n_diags < 0 ||
        p.n_diags > POLICY_MAX_DIAGS || p.max_records_per_s > POLICY_RATE_CAP ||
        p.max_memory_mb > POLICY_MEMORY_CAP_MB || p.snapshot_max_items > POLICY_SNAPSHOT_ITEMS_CAP)
      abort();
    for (int i = 0; i < p.n_logs; i++)
      if (p.logs[i].glob[0] != '/' || strnlen(p.logs[i].glob, POLICY_PATH_MAX) >= POLICY_PATH_MAX)
        abort();
    for (int i = 0; i < p.n_diags; i++)
      if ((unsigned)p.diags[i].diag >= POLICY_DIAG_COUNT) abort();
  }
  /* Path functions on the same bytes as a C string. */
  if (size > 0 && size < 2048) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    char out[POLICY_PATH_MAX];
    if (policy_normalize(s, out, sizeof out) == POLICY_OK) {
      /* Normal form: absolute, no "//", no "." or ".." component, idempotent. */
      char again[POLICY_PATH_MAX];
      if (out[0] != '/' || strstr(out, "//") || strstr(out, "/./") || strstr(out, "/../"))
        abort();
      if (policy_normalize(out, again, sizeof again) != POLICY_OK || strcmp(out, again) != 0)
        abort();
      const char *rule = NULL;
      if (policy_denied(out, &rule) && !rule) abort();
    }
    char *slash = strchr(s, '/');
    if (slash) {
      *slash = 0;
      (void)policy_glob_match(s, slash + 1);
    }
    free(s);
  }
  return 0;
}
