/* fuzz_tuf_metadata: arbitrary bytes as every kind of metadata, on a set
 * opened from the corpus' fixed trusted root. No input may crash, leak or be
 * accepted without a valid signature (the fuzzer cannot forge ECDSA, so any
 * TUF_OK past tuf_open is a bug). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tuf.h"

/* Trusted root: threshold 1 on a key whose private half nobody has. */
static const char ROOT[] =
    "{\"signatures\":[],\"signed\":{\"_type\":\"root\",\"spec_version\":\"1.0.31\",\"version\":1,"
    "\"expires\":\"2100-01-01T00:00:00Z\",\"consistent_snapshot\":true,\"keys\":{},"
    "\"roles\":{\"root\":{\"keyids\":[],\"threshold\":1},\"timestamp\":{\"keyids\":[],\"threshold\":1},"
    "\"snapshot\":{\"keyids\":[],\"threshold\":1},\"targets\":{\"keyids\":[],\"threshold\":1}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tuf_set *s = NULL;
  char err[256];
  /* The input itself as a trusted root: exercises every root field check. */
  if (tuf_open(data, size, 0, NULL, &s, err, sizeof err) == TUF_OK) {
    tuf_target t;
    char need[TUF_MAX_ROLE_NAME + 1], from[TUF_MAX_ROLE_NAME + 1];
    (void)tuf_update_root(s, data, size);
    (void)tuf_update_timestamp(s, data, size);
    (void)tuf_update_snapshot(s, data, size, 1);
    (void)tuf_update_targets(s, data, size);
    (void)tuf_find_target(s, "a/b", &t, need, from);
    tuf_close(s);
  }
  /* The unsigned root above never verifies (threshold 1, no keys). */
  if (tuf_open((const uint8_t *)ROOT, sizeof ROOT - 1, 0, NULL, &s, err, sizeof err) == TUF_OK) abort();
  if (size > 0 && size < 512) {
    char pat[512], path[512];
    size_t half = size / 2;
    memcpy(pat, data, half);
    pat[half] = 0;
    memcpy(path, data + half, size - half);
    path[size - half] = 0;
    (void)tuf_path_match(pat, path);
  }
  return 0;
}
