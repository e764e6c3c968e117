/* libFuzzer target: the merge of shards' traces (sim_trace_merge), which
 * reads trace.jsonl files that a merge on another machine may receive
 * damaged. The input is two shards' traces separated by a 0 byte. A merge
 * either succeeds, leaving a trace whose every line is one the run writes
 * ({"t":N,...} and a newline), or is refused with a message and leaves
 * nothing behind; nothing may crash, leak or overrun.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim_trace.h"

static int shard_file(const uint8_t *p, size_t n, char *path, size_t cap) {
  int fd = memfd_create("shard-trace", MFD_CLOEXEC);
  if (fd < 0) abort();
  if (n && write(fd, p, n) != (ssize_t)n) abort();
  snprintf(path, cap, "/proc/self/fd/%d", fd);
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *cut = memchr(data, 0, size);
  size_t n0 = cut ? (size_t)(cut - data) : size;
  char p0[64], p1[64], out[96];
  int fd0 = shard_file(data, n0, p0, sizeof p0);
  int fd1 = shard_file(cut ? cut + 1 : data + size, cut ? size - n0 - 1 : 0, p1, sizeof p1);
  snprintf(out, sizeof out, "/tmp/fuzz-trace-merge-%d.jsonl", (int)getpid());
  unlink(out);
  const char *in[] = {p0, p1};
  const char *names[] = {"exactly_once"};
  const int pass[] = {1};
  sim_trace_end end = {.agents = 4, .t = 7200000, .events = 10, .lines_written = 3,
                       .ledger_checks = 9, .hash = 1, .n_exp = 1, .exp_name = names,
                       .exp_pass = pass};
  char err[600] = "";
  int rc = sim_trace_merge(in, 2, out, &end, err, sizeof err);
  if (rc != SIM_TRACE_OK) {
    if (!err[0] || access(out, F_OK) == 0) abort(); /* a refusal says why and leaves nothing */
  } else {
    FILE *f = fopen(out, "r");
    if (!f) abort();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lines = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
      if (strncmp(line, "{\"t\":", 5) != 0 || line[len - 1] != '\n') abort();
      lines++;
    }
    if (lines < 2) abort(); /* at least the verdict: an expect line and the end line */
    free(line);
    fclose(f);
    unlink(out);
  }
  close(fd0);
  close(fd1);
  return 0;
}
