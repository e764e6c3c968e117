/* outpost-sim: run a scenario against N simulated agents and a mock cloud.
 *
 *   outpost-sim run SCENARIO.json [--seed N] [--agents N] [--out DIR] [--trace summary|full]
 *   outpost-sim replay TRACE.jsonl --agent ID [--from T] [--to T] [--all]   (sim_replay.h)
 *
 * Exit 0: every expectation held; 1: one failed (the replay command is
 * printed); 2: bad scenario file or bad arguments (or the run could not be
 * set up). Wall-clock time and peak RSS go to stdout only, never to files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sim_fleet.h"
#include "sim_replay.h"
#include "sim_scenario.h"

static int usage(void) {
  fprintf(stderr,
          "usage: outpost-sim run SCENARIO.json [--seed N] [--agents N] [--out DIR] "
          "[--trace summary|full]\n"
          "       outpost-sim replay TRACE.jsonl --agent ID [--from T] [--to T] [--all]\n");
  return 2;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (!s || !*s || *s == '-') return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "replay") == 0) return sim_replay_main(argc - 1, argv + 1);
  if (argc < 3 || strcmp(argv[1], "run") != 0) return usage();
  const char *file = argv[2];
  sim_run_options opt = {.seed = 1, .scenario_path = file};
  for (int i = 3; i < argc; i += 2) { /* every option takes one value */
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t n;
    if (strcmp(a, "--seed") == 0) {
      if (parse_u64(v, UINT64_MAX, &n)) return usage();
      opt.seed = n;
    } else if (strcmp(a, "--agents") == 0) {
      if (parse_u64(v, SIM_SCN_MAX_AGENTS, &n) || n == 0) return usage();
      opt.agents = (int64_t)n;
    } else if (strcmp(a, "--out") == 0) {
      if (!v || !*v) return usage();
      opt.out_dir = v;
    } else if (strcmp(a, "--trace") == 0) {
      if (!v || (strcmp(v, "summary") != 0 && strcmp(v, "full") != 0)) return usage();
      opt.trace_full = strcmp(v, "full") == 0;
    } else {
      return usage();
    }
  }
  sim_scenario *scn = malloc(sizeof *scn);
  if (!scn) return 2;
  char err[512];
  if (sim_scenario_load(file, scn, err, sizeof err) != SIM_SCN_OK) {
    fprintf(stderr, "outpost-sim: %s: %s\n", file, err);
    free(scn);
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sim_run_result res;
  int rc = sim_run(scn, &opt, &res, err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (rc == SIM_RUN_ESETUP) {
    fprintf(stderr, "outpost-sim: %s\n", err);
    free(scn);
    return 2;
  }
  long long agents = (long long)res.agents;
  printf("scenario %s, seed %" PRIu64 ", %lld agents, %.1f simulated hours\n", scn->name, opt.seed,
         agents, (double)res.sim_ms / 3600000.0);
  printf("events %lld, lines written %lld, records acked %lld, cloud records %lld, requests %lld\n",
         (long long)res.events, (long long)res.lines_written, (long long)res.records_acked,
         (long long)res.cloud_records, (long long)res.requests);
  printf("ledger checks %lld, expectations %d/%d held, trace hash %016" PRIx64 "\n",
         (long long)res.ledger_checks, res.expectations - res.expectations_failed,
         res.expectations, res.trace_hash);
  printf("wall clock %.1f s, peak RSS %ld MiB\n", wall, ru.ru_maxrss / 1024);
  if (rc != SIM_RUN_OK) {
    printf("FAILED: %s\n", res.failure);
    printf("replay: outpost-sim run %s --seed %" PRIu64 " --agents %lld\n", file, opt.seed, agents);
    free(scn);
    return 1;
  }
  printf("OK\n");
  free(scn);
  return 0;
}
