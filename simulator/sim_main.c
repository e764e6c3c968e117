/* outpost-sim: run a scenario against N simulated agents and a mock cloud.
 *
 *   outpost-sim run SCENARIO.json [--seed N] [--agents N] [--out DIR] [--trace summary|full]
 *               [--quiet]
 *   outpost-sim run SCENARIO.json --real N [--real-seconds S] [--agent-bin P] [--cloud-bin P]
 *               [--seed N] [--out DIR] [--quiet]   (real binaries: sim_real.h)
 *   outpost-sim list|show|check ...   (the catalog: sim_catalog.h)
 *   outpost-sim sweep SCENARIO.json --seeds A..B [--jobs N] [--agents N]   (sim_sweep.h)
 *   outpost-sim replay TRACE.jsonl --agent ID [--from T] [--to T] [--all]   (sim_replay.h)
 *
 * While it runs, a progress line goes to stderr (issue #15): on a terminal
 * one line rewritten in place about 4 times a second, otherwise a plain line
 * every PLAIN_EVERY_S seconds (OUTPOST_SIM_PROGRESS_S=N sets N, 0..3600);
 * --quiet shows none. It reads the wall clock
 * and the process's RSS and never touches the run itself.
 *
 * Exit 0: every expectation held; 1: one failed (the replay command is
 * printed); 2: bad scenario file or bad arguments (or the run could not be
 * set up). Wall-clock time and peak RSS go to stdout only, never to files.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sim_catalog.h"
#include "sim_cli.h"
#include "sim_real.h"
#include "sim_fleet.h"
#include "sim_replay.h"
#include "sim_sweep.h"
#include "sim_scenario.h"

static int usage(void) {
  fprintf(stderr,
          "usage: outpost-sim run SCENARIO.json [--seed N] [--agents N] [--out DIR] "
          "[--trace summary|full] [--quiet]\n"
          "       outpost-sim run SCENARIO.json --real N [--real-seconds S] [--agent-bin PATH] "
          "[--cloud-bin PATH] [--seed N] [--out DIR] [--quiet]\n");
  fprintf(stderr, "       outpost-sim replay TRACE.jsonl --agent ID [--from T] [--to T] [--all]\n"
                  "       outpost-sim sweep SCENARIO.json --seeds A..B [--jobs N] [--agents N]\n");
  sim_catalog_usage(stderr);
  return 2;
}

#define PLAIN_EVERY_S 30

typedef struct progress_view {
  int tty;
  double every; /* seconds between lines */
  uint64_t every_s;
  double start, last; /* wall seconds */
  int64_t last_events;
  int shown;
} progress_view;

/* Resident set now (not the peak), from /proc; 0 when unknown. */
static long rss_mib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  char line[128];
  if (!f) return 0;
  char *ok = fgets(line, sizeof line, f);
  fclose(f);
  if (!ok) return 0;
  char *p = line, *end = NULL;
  (void)strtol(p, &end, 10); /* size; the resident count follows */
  long rss = end && end != p ? strtol(end, NULL, 10) : 0;
  return rss > 0 ? rss * (sysconf(_SC_PAGESIZE) / 1024) / 1024 : 0;
}

static void show_progress(void *user, const sim_progress *p) {
  progress_view *v = user;
  double now = sim_cli_now_s();
  if (p->done) {
    if (v->tty && v->shown) fputs("\r\033[K", stderr); /* the summary follows on stdout */
    return;
  }
  if (now - v->last < v->every || now <= v->last) return;
  double pct = p->end_ms > 0 ? 100.0 * (double)p->now_ms / (double)p->end_ms : 0;
  double rate = (double)(p->events - v->last_events) / (now - v->last);
  double elapsed = now - v->start;
  double eta = pct > 0.5 ? elapsed * (100.0 - pct) / pct : -1;
  char eta_s[32];
  if (eta < 0) snprintf(eta_s, sizeof eta_s, "?");
  else snprintf(eta_s, sizeof eta_s, "%dm%02ds", (int)eta / 60, (int)eta % 60);
  fprintf(stderr, "%ssim %.2f h of %.2f h (%.0f%%), %lld agents, %.0f events/s, ETA %s, RSS %ld MiB%s",
          v->tty ? "\r\033[K" : "", (double)p->now_ms / 3600000.0, (double)p->end_ms / 3600000.0, pct,
          (long long)p->agents, rate, eta_s, rss_mib(), v->tty ? "" : "\n");
  fflush(stderr);
  v->last = now;
  v->last_events = p->events;
  v->shown = 1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "replay") == 0) return sim_replay_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "sweep") == 0) return sim_sweep_main(argc - 1, argv + 1);
  if (argc >= 2 && sim_catalog_is_command(argv[1])) return sim_catalog_main(argc, argv);
  if (argc < 3 || strcmp(argv[1], "run") != 0) return usage();
  const char *file = argv[2];
  sim_run_options opt = {.seed = 1, .scenario_path = file};
  progress_view view = {.tty = isatty(2)};
  sim_real_options real = {0};
  int quiet = 0;
  for (int i = 3; i < argc; i += 2) { /* every option but --quiet takes one value */
    const char *a = argv[i];
    if (strcmp(a, "--quiet") == 0) {
      quiet = 1;
      i--;
      continue;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t n;
    if (strcmp(a, "--seed") == 0) {
      if (sim_cli_parse_u64(v, UINT64_MAX, &n)) return usage();
      opt.seed = n;
    } else if (strcmp(a, "--agents") == 0) {
      if (sim_cli_parse_u64(v, SIM_SCN_MAX_AGENTS, &n) || n == 0) return usage();
      opt.agents = (int64_t)n;
    } else if (strcmp(a, "--out") == 0) {
      if (!v || !*v) return usage();
      opt.out_dir = v;
    } else if (strcmp(a, "--real") == 0) {
      if (sim_cli_parse_u64(v, SIM_REAL_MAX_AGENTS, &n) || n == 0) return usage();
      real.agents = (int64_t)n;
    } else if (strcmp(a, "--real-seconds") == 0) {
      if (sim_cli_parse_u64(v, SIM_REAL_MAX_SECONDS, &n) || n < 5) return usage();
      real.wall_s = (int64_t)n;
    } else if (strcmp(a, "--agent-bin") == 0 && v && *v) {
      real.agent_bin = v;
    } else if (strcmp(a, "--cloud-bin") == 0 && v && *v) {
      real.cloud_bin = v;
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
  if (real.agents > 0) {
    if (opt.agents > 0 || opt.trace_full) {
      fprintf(stderr, "outpost-sim: --real takes the fleet size itself; --agents and --trace are the simulator's\n");
      free(scn);
      return 2;
    }
    if (sim_scenario_scale(scn, real.agents) < 0) {
      fprintf(stderr, "outpost-sim: --real %lld: cannot scale the scenario to that size\n", (long long)real.agents);
      free(scn);
      return 2;
    }
    real.seed = opt.seed;
    real.out_dir = opt.out_dir;
    real.quiet = quiet;
    int rrc = sim_real_run(scn, &real, err, sizeof err);
    if (rrc == SIM_REAL_ESETUP) fprintf(stderr, "outpost-sim: --real: %s\n", err);
    if (rrc == SIM_REAL_EFAILED)
      printf("replay: outpost-sim run %s --real %lld --seed %" PRIu64 "\n", file, (long long)real.agents, opt.seed);
    free(scn);
    return rrc;
  }
  if (real.wall_s || real.agent_bin || real.cloud_bin) {
    fprintf(stderr, "outpost-sim: --real-seconds, --agent-bin and --cloud-bin go with --real N\n");
    free(scn);
    return 2;
  }
  if (!quiet) {
    view.every = view.tty ? 0.25 : PLAIN_EVERY_S;
    const char *ev = getenv("OUTPOST_SIM_PROGRESS_S");
    if (ev && *ev) {
      if (sim_cli_parse_u64(ev, 3600, &view.every_s)) {
        fprintf(stderr, "outpost-sim: OUTPOST_SIM_PROGRESS_S=%s: must be 0..3600 seconds\n", ev);
        free(scn);
        return 2;
      }
      view.every = (double)view.every_s;
    }
    view.start = view.last = sim_cli_now_s();
    opt.progress = show_progress;
    opt.progress_user = &view;
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
