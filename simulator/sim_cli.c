/* sim_cli.c - see sim_cli.h */
#include "sim_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int sim_cli_parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (!s || !*s || *s < '0' || *s > '9') return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return -1;
  *out = v;
  return 0;
}

double sim_cli_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
