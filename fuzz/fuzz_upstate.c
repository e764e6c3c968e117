/* fuzz_upstate: the update state files the supervisor and the agent hand each
 * other (state.json, pending.json, health.json; agent/core/upstate.h). Both
 * processes read what the other wrote, and a compromised agent can write
 * anything there, so the parsers must never crash, leak or accept garbage.
 * The first byte picks the parser. Properties beyond "no crash":
 *  - every rejection leaves a message in err;
 *  - a state.json that parses renders, and the rendering parses back to a
 *    state that renders to the same bytes (the supervisor rewrites the file
 *    after every change: a lossy round trip would corrupt the floor or the
 *    bad list). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/upstate.h"

static void check_state(const char *json, size_t len) {
  upstate st, again;
  char err[256] = "";
  if (upstate_parse(json, len, &st, err, sizeof err) != OS_OK) {
    if (err[0] == 0) abort();
    return;
  }
  char a[UPSTATE_FILE_MAX + 1], b[UPSTATE_FILE_MAX + 1];
  int na = upstate_render(&st, a, sizeof a);
  if (na < 0) abort();
  if (upstate_parse(a, (size_t)na, &again, err, sizeof err) != OS_OK) abort();
  int nb = upstate_render(&again, b, sizeof b);
  if (nb != na || memcmp(a, b, (size_t)na) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > UPSTATE_FILE_MAX + 1) return 0;
  const char *json = (const char *)data + 1;
  size_t len = size - 1;
  char err[256] = "";
  switch (data[0] % 3) {
    case 0:
      check_state(json, len);
      break;
    case 1: {
      upstate_pending p;
      if (upstate_parse_pending(json, len, &p, err, sizeof err) != OS_OK && err[0] == 0) abort();
      break;
    }
    default: {
      upstate_health h;
      if (upstate_parse_health(json, len, &h, err, sizeof err) != OS_OK && err[0] == 0) abort();
      break;
    }
  }
  return 0;
}
