/* libFuzzer target: the agent's config parser. Any input must either parse or
 * be refused with a non-empty message; nothing may crash, leak or overrun. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  agent_config c;
  char err[256];
  int rc = config_parse((const char *)data, size, &c, err, sizeof err);
  if (rc != CONFIG_OK && err[0] == 0) abort(); /* a refusal must say why */
  if (rc == CONFIG_OK) {
    char text[8192];
    config_explain(&c, text, sizeof text);
    if (c.n_sources < 0 || c.n_sources > CONFIG_MAX_SOURCES) abort();
  }
  return 0;
}
