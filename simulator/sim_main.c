/* outpost-sim: run a scenario against N simulated agents and a mock cloud.
 *
 *   outpost-sim run SCENARIO.json [--seed N] [--agents N] [--out DIR] [--trace summary|full]
 *               [--quiet] [--shard K/N | --jobs J]
 *   outpost-sim merge SHARD_DIR... --out DIR   (shards of one run: sim_shard.h)
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
 * --jobs J runs the fleet as J shards in J processes, merged (sim_shard.h).
 * Without it, a fleet of JOBS_MIN_AGENTS or more agents of a scenario that
 * shards runs in one process per online CPU, and a smaller one (seconds of
 * work, one cloud.db in OUT) in one; OUTPOST_SIM_JOBS=J sets that default.
 * Either way the report and the trace hash are the same (docs/scale.md).
 *
 * Exit 0: every expectation held; 1: one failed (the replay command is
 * printed); 2: bad scenario file or bad arguments (or the run could not be
 * set up). Wall-clock time and peak RSS go to stdout only, never to files.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim_catalog.h"
#include "sim_cli.h"
#include "sim_real.h"
#include "sim_fleet.h"
#include "sim_replay.h"
#include "sim_shard.h"
#include "sim_sweep.h"
#include "sim_scenario.h"

static int usage(void) {
  fprintf(stderr,
          "usage: outpost-sim run SCENARIO.json [--seed N] [--agents N] [--out DIR] "
          "[--trace summary|full] [--quiet] [--shard K/N | --jobs J]\n"
          "       outpost-sim run SCENARIO.json --real N [--real-seconds S] [--agent-bin PATH] "
          "[--cloud-bin PATH] [--seed N] [--out DIR] [--quiet]\n");
  fprintf(stderr, "       outpost-sim merge SHARD_DIR... --out DIR\n");
  fprintf(stderr, "       outpost-sim replay TRACE.jsonl --agent ID [--from T] [--to T] [--all]\n"
                  "       outpost-sim sweep SCENARIO.json --seeds A..B [--jobs N] [--agents N]\n");
  sim_catalog_usage(stderr);
  return 2;
}

#define PLAIN_EVERY_S 30
#define JOBS_MIN_AGENTS 200

/* The number of processes when --jobs is not given (above): 0, or -1 when
 * OUTPOST_SIM_JOBS is not a number of jobs. */
static int default_jobs(const sim_scenario *scn, int64_t fleet_n, uint64_t *jobs) {
  const char *env = getenv("OUTPOST_SIM_JOBS");
  if (env && *env) {
    if (sim_cli_parse_u64(env, SIM_SHARD_MAX_JOBS, jobs) || *jobs == 0) {
      fprintf(stderr, "outpost-sim: OUTPOST_SIM_JOBS=%s: must be 1..%d\n", env, SIM_SHARD_MAX_JOBS);
      return -1;
    }
    return 0;
  }
  char why[600];
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  *jobs = 1;
  if (fleet_n >= JOBS_MIN_AGENTS && cpus > 1 && !sim_shard_refusal(scn, why, sizeof why))
    *jobs = cpus > SIM_SHARD_MAX_JOBS ? SIM_SHARD_MAX_JOBS : (uint64_t)cpus;
  return 0;
}

typedef struct progress_view {
  int tty;
  double every; /* seconds between lines */
  uint64_t every_s;
  double start, last; /* wall seconds */
  int64_t last_events;
  int shown;
  int jobs; /* > 1: the line is shard 0's, one of this many processes */
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
  char procs[48] = "";
  if (v->jobs > 1) snprintf(procs, sizeof procs, " in %d processes", v->jobs);
  fprintf(stderr, "%ssim %.2f h of %.2f h (%.0f%%), %lld agents%s, %.0f events/s%s, ETA %s, RSS %ld MiB%s%s",
          v->tty ? "\r\033[K" : "", (double)p->now_ms / 3600000.0, (double)p->end_ms / 3600000.0, pct,
          (long long)p->agents, procs, rate, v->jobs > 1 ? " in the first" : "", eta_s, rss_mib(),
          v->jobs > 1 ? " each" : "", v->tty ? "" : "\n");
  fflush(stderr);
  v->last = now;
  v->last_events = p->events;
  v->shown = 1;
}

/* The scenario file's bytes (a shard embeds them in its shard.json). */
static char *read_scenario(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(SIM_SCN_MAX_FILE + 1);
  size_t n = buf ? fread(buf, 1, SIM_SCN_MAX_FILE + 1, f) : 0;
  int bad = !buf || ferror(f) || n > SIM_SCN_MAX_FILE;
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

static void print_result(const char *name, uint64_t seed, const sim_run_result *res, double wall,
                         long peak_mib) {
  printf("scenario %s, seed %" PRIu64 ", %lld agents, %.1f simulated hours\n", name, seed,
         (long long)res->agents, (double)res->sim_ms / 3600000.0);
  printf("events %lld, lines written %lld, records acked %lld, cloud records %lld, requests %lld\n",
         (long long)res->events, (long long)res->lines_written, (long long)res->records_acked,
         (long long)res->cloud_records, (long long)res->requests);
  printf("ledger checks %lld, expectations %d/%d held, trace hash %016" PRIx64 "\n",
         (long long)res->ledger_checks, res->expectations - res->expectations_failed,
         res->expectations, res->trace_hash);
  printf("wall clock %.1f s, peak RSS %ld MiB\n", wall, peak_mib);
}

static void remove_shard_files(const char *dir) {
  static const char *const names[] = {"shard.json", "trace.jsonl", "cloud.db", "cloud.db-journal",
                                      "cloud.db-wal", "cloud.db-shm", "report.json", "report.html"};
  char p[1200];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

/* --jobs J (issue #15): J shards as child processes of this one, each into
 * its own directory (OUT/shards/K, or a temporary one), then their merge
 * into OUT. A child shares nothing with the others after fork. Returns the
 * exit code; *res is the merged run's. */
static int run_jobs(const sim_scenario *scn, sim_run_options *opt, int jobs, sim_run_result *res, char *err, size_t cap) {
  char base[1024], dirs[SIM_SHARD_MAX_JOBS][1100], merged[1100];
  const char *dp[SIM_SHARD_MAX_JOBS];
  int temp = !opt->out_dir;
  if (temp) {
    snprintf(base, sizeof base, "/tmp/outpost-sim-jobs-XXXXXX");
    if (!mkdtemp(base)) return snprintf(err, cap, "cannot create a temporary directory: %s", strerror(errno)), 2;
    snprintf(merged, sizeof merged, "%s/merged", base);
  } else {
    if (strlen(opt->out_dir) > 900) return snprintf(err, cap, "--out: directory name too long"), 2;
    snprintf(base, sizeof base, "%s/shards", opt->out_dir);
    snprintf(merged, sizeof merged, "%s", opt->out_dir); /* each shard and the merge make their dirs */
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pids[SIM_SHARD_MAX_JOBS];
  int started = 0, rc = 0;
  for (int k = 0; k < jobs; k++) {
    snprintf(dirs[k], sizeof dirs[k], "%s/%d", base, k);
    dp[k] = dirs[k];
    pid_t pid = fork();
    if (pid < 0) {
      snprintf(err, cap, "fork: %s", strerror(errno));
      rc = 2;
      break;
    }
    if (pid == 0) {
      sim_run_options o = *opt;
      o.shard_k = k;
      o.shard_n = jobs;
      o.out_dir = dirs[k];
      if (k > 0) o.progress = NULL; /* one progress line: shard 0's */
      sim_run_result r;
      char e[512];
      int src = sim_run(scn, &o, &r, e, sizeof e);
      if (src == SIM_RUN_ESETUP) fprintf(stderr, "outpost-sim: shard %d/%d: %s\n", k, jobs, e);
      fflush(stderr);
      _exit(src == SIM_RUN_ESETUP ? 2 : 0);
    }
    pids[started++] = pid;
  }
  for (int i = 0; i < started; i++) {
    int st = 0;
    while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {
    }
    if (!rc && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      if (WIFSIGNALED(st)) snprintf(err, cap, "shard %d/%d: killed by signal %d", i, jobs, WTERMSIG(st));
      else snprintf(err, cap, "shard %d/%d: exited %d", i, jobs, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
      rc = 2;
    }
  }
  if (!rc) {
    int mrc = sim_shard_merge(dp, jobs, merged, res, err, cap);
    rc = mrc == SIM_RUN_ESETUP ? 2 : mrc == SIM_RUN_EFAILED ? 1 : 0;
  }
  if (temp) {
    for (int k = 0; k < started; k++) remove_shard_files(dirs[k]);
    remove_shard_files(merged);
    rmdir(base);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "merge") == 0) return sim_shard_merge_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "replay") == 0) return sim_replay_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "sweep") == 0) return sim_sweep_main(argc - 1, argv + 1);
  if (argc >= 2 && sim_catalog_is_command(argv[1])) return sim_catalog_main(argc, argv);
  if (argc < 3 || strcmp(argv[1], "run") != 0) return usage();
  const char *file = argv[2];
  sim_run_options opt = {.seed = 1, .scenario_path = file};
  progress_view view = {.tty = isatty(2)};
  sim_real_options real = {0};
  int quiet = 0;
  uint64_t jobs = 0;
  const char *shard = NULL;
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
    } else if (strcmp(a, "--shard") == 0 && v) {
      shard = v;
    } else if (strcmp(a, "--jobs") == 0) {
      if (sim_cli_parse_u64(v, SIM_SHARD_MAX_JOBS, &jobs) || jobs == 0) {
        fprintf(stderr, "outpost-sim: --jobs %s: must be 1..%d\n", v ? v : "(missing)", SIM_SHARD_MAX_JOBS);
        return 2;
      }
    } else if (strcmp(a, "--trace") == 0) {
      if (!v || (strcmp(v, "summary") != 0 && strcmp(v, "full") != 0)) return usage();
      opt.trace_full = strcmp(v, "full") == 0;
    } else {
      return usage();
    }
  }
  sim_scenario *scn = malloc(sizeof *scn);
  if (!scn) return 2;
  char err[1024];
  if (sim_scenario_load(file, scn, err, sizeof err) != SIM_SCN_OK) {
    fprintf(stderr, "outpost-sim: %s: %s\n", file, err);
    free(scn);
    return 2;
  }
  int jobs_given = jobs > 0;
  if (!jobs && !shard && real.agents == 0 &&
      default_jobs(scn, opt.agents > 0 ? opt.agents : scn->agents, &jobs) != 0) {
    free(scn);
    return 2;
  }
  if (shard || jobs > 1) {
    char serr[512];
    if (shard && jobs_given) {
      fprintf(stderr, "outpost-sim: --shard and --jobs do not go together: a shard is one process\n");
      free(scn);
      return 2;
    }
    if (shard && (sim_shard_parse(shard, &opt.shard_k, &opt.shard_n, serr, sizeof serr) ||
                  (!opt.out_dir && snprintf(serr, sizeof serr, "--shard %s: needs --out DIR", shard)))) {
      fprintf(stderr, "outpost-sim: %s\n", serr);
      free(scn);
      return 2;
    }
    if (real.agents > 0) {
      fprintf(stderr, "outpost-sim: --shard and --jobs are the simulator's, not --real's\n");
      free(scn);
      return 2;
    }
    /* the bytes the shard embeds are the bytes it ran: parse them again */
    char *text = read_scenario(file, &opt.scenario_len);
    if (!text || sim_scenario_parse(text, opt.scenario_len, scn, serr, sizeof serr) != SIM_SCN_OK) {
      fprintf(stderr, "outpost-sim: %s: %s\n", file, text ? serr : "cannot read it again");
      free(text);
      free(scn);
      return 2;
    }
    opt.scenario_text = text;
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
  int64_t fleet_n = opt.agents > 0 ? opt.agents : scn->agents;
  if (jobs > 1) {
    char why[600];
    if (sim_shard_refusal(scn, why, sizeof why)) {
      /* agents that interact run in one process: same result, one core */
      if (jobs_given)
        fprintf(stderr, "outpost-sim: --jobs %d: %s: running it in one process\n", (int)jobs, why);
      jobs = 1;
    } else if ((int64_t)jobs > fleet_n) {
      jobs = (uint64_t)fleet_n;
    }
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sim_run_result res;
  int rc;
  if (jobs > 1) {
    view.jobs = (int)jobs; /* the children's copy of the view says so */
    int jrc = run_jobs(scn, &opt, (int)jobs, &res, err, sizeof err);
    rc = jrc == 2 ? SIM_RUN_ESETUP : jrc == 1 ? SIM_RUN_EFAILED : SIM_RUN_OK;
  } else {
    rc = sim_run(scn, &opt, &res, err, sizeof err);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  struct rusage ru, rc_ru;
  getrusage(RUSAGE_SELF, &ru);
  getrusage(RUSAGE_CHILDREN, &rc_ru); /* --jobs: the largest shard's */
  long peak = (ru.ru_maxrss > rc_ru.ru_maxrss ? ru.ru_maxrss : rc_ru.ru_maxrss) / 1024;
  free((char *)opt.scenario_text);
  if (rc == SIM_RUN_ESETUP) {
    fprintf(stderr, "outpost-sim: %s\n", err);
    free(scn);
    return 2;
  }
  if (opt.shard_n > 1) {
    printf("shard %d/%d of scenario %s, seed %" PRIu64 ": %lld of %lld agents, written to %s/shard.json\n",
           opt.shard_k, opt.shard_n, scn->name, opt.seed, (long long)((fleet_n - opt.shard_k + opt.shard_n - 1) / opt.shard_n),
           (long long)fleet_n, opt.out_dir);
    printf("events %lld, lines written %lld, requests %lld (this shard's)\n", (long long)res.events,
           (long long)res.lines_written, (long long)res.requests);
    printf("wall clock %.1f s, peak RSS %ld MiB\n", wall, peak);
    printf("the verdict is the merge's: outpost-sim merge DIR... --out DIR\n");
    free(scn);
    return 0;
  }
  long long agents = (long long)res.agents;
  print_result(scn->name, opt.seed, &res, wall, peak);
  if (jobs > 1) printf("%d shards in %d processes, merged\n", (int)jobs, (int)jobs);
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
