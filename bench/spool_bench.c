/* spool_bench.c - the spool's own cost per line on the real filesystem
 * (issue #14, docs/benchmarks.md "The spool's journal, gathered"): LINES
 * lines of 208 bytes appended in transactions of 300 (about a 64 KiB read
 * chunk, the agent's default), the acknowledged prefix deleted every 3,000
 * (ten batches in flight's worth), with the agent's own PRAGMAs, VFS and
 * fsyncs. Prints the process's user and system CPU seconds and the wall
 * time; compare two builds with farm-bench --vs, never against a fixed
 * figure (the machine is shared and noisy).
 *
 * Benchmark only: built on request (cmake --build BUILD --target
 * outpost-spool-bench), not by default and not run by any test.
 * usage: outpost-spool-bench DIR [LINES]   (DIR: an existing empty directory)
 * Exit 0, 1 when the spool refuses anything, 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/spool.h"
#include "posix/os_posix.h"

#define LINE_BYTES 208
#define LINES_PER_TXN 300
#define ACK_EVERY 3000
#define MAX_LINES 100000000L

static double seconds(struct timeval tv) { return (double)tv.tv_sec + tv.tv_usec / 1e6; }

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: outpost-spool-bench DIR [LINES]\n");
    return 2;
  }
  char *end = NULL;
  long total = argc == 3 ? strtol(argv[2], &end, 10) : 1000000;
  if ((argc == 3 && (!end || *end)) || total < LINES_PER_TXN || total > MAX_LINES) {
    fprintf(stderr, "outpost-spool-bench: LINES must be %d..%ld\n", LINES_PER_TXN, MAX_LINES);
    return 2;
  }
  os_shim os;
  os_posix ctx;
  if (os_posix_init(&os, &ctx, NULL) != OS_OK) return 1;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/spool.db", argv[1]) >= (int)sizeof path) return 2;
  spool *sp = NULL;
  char err[256];
  if (spool_open(&os, path, &sp, err, sizeof err) != SPOOL_OK) {
    fprintf(stderr, "outpost-spool-bench: %s\n", err);
    return 1;
  }
  spool_limits lim = {1LL << 34, 0, 0}; /* the quota out of the way: cost, not space */
  spool_source_state src;
  if (spool_set_limits(sp, &lim) != SPOOL_OK ||
      spool_source_load(sp, "/var/log/bench.log", &src) != SPOOL_OK) {
    fprintf(stderr, "outpost-spool-bench: cannot set up the spool\n");
    spool_close(sp);
    return 1;
  }
  static char text[LINE_BYTES];
  memset(text, 'x', sizeof text);
  spool_line lines[LINES_PER_TXN];
  for (int i = 0; i < LINES_PER_TXN; i++)
    lines[i] = (spool_line){text, sizeof text, 1700000000000LL + i};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = 0;
  for (long done = 0; done < total && rc == 0;) {
    src.offset += LINES_PER_TXN * (LINE_BYTES + 1);
    if (spool_append(sp, &src, lines, LINES_PER_TXN) != SPOOL_OK) rc = 1;
    done += LINES_PER_TXN;
    if (rc == 0 && done % ACK_EVERY == 0 && spool_ack(sp, done) != SPOOL_OK) rc = 1;
  }
  spool_close(sp);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc) {
    fprintf(stderr, "outpost-spool-bench: the spool refused a transaction\n");
    return 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%ld lines: user %.3f s, sys %.3f s, wall %.3f s\n", total, seconds(ru.ru_utime),
         seconds(ru.ru_stime), (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
