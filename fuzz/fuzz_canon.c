/* fuzz_canon: any JSON cJSON accepts must canonicalise without crashing, and
 * the canonical form must be a fixed point (canonical(parse(canon)) == canon). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  cJSON *v = cJSON_ParseWithLength((const char *)data, size);
  if (!v) return 0;
  char *out;
  size_t len;
  if (canon_encode(v, 1 << 20, &out, &len) == CANON_OK) {
    /* Strings with NUL cannot round-trip through cJSON; everything else must. */
    cJSON *again = cJSON_ParseWithLength(out, len);
    if (again) {
      char *out2;
      size_t len2;
      if (canon_encode(again, 1 << 20, &out2, &len2) == CANON_OK) {
        if (len2 != len || memcmp(out, out2, len) != 0) abort();
        free(out2);
      }
      cJSON_Delete(again);
    }
    free(out);
  }
  cJSON_Delete(v);
  return 0;
}
