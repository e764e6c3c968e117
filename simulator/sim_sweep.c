/* sim_sweep.c - outpost-sim sweep (sim_sweep.h). */
#include "sim_sweep.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim_cli.h"

#define LINE_CAP 512

typedef struct sweep_job {
  pid_t pid;
  uint64_t seed;
  char out[64]; /* the child's stdout and stderr */
  double started;
} sweep_job;

static int usage(void) {
  fprintf(stderr, "usage: outpost-sim sweep SCENARIO.json --seeds A..B [--jobs N] [--agents N]\n");
  return 2;
}

/* "A..B", A <= B. */
static int parse_range(const char *s, uint64_t *a, uint64_t *b) {
  const char *dots = s ? strstr(s, "..") : NULL;
  char first[32];
  if (!dots || (size_t)(dots - s) >= sizeof first) return -1;
  memcpy(first, s, (size_t)(dots - s));
  first[dots - s] = 0;
  if (sim_cli_parse_u64(first, UINT64_MAX, a) || sim_cli_parse_u64(dots + 2, UINT64_MAX, b) || *a > *b)
    return -1;
  return 0;
}

static pid_t start(const char *self, const char *scn, uint64_t seed, const char *agents, sweep_job *j) {
  snprintf(j->out, sizeof j->out, "/tmp/outpost-sweep-XXXXXX");
  int fd = mkstemp(j->out);
  if (fd < 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    char seed_s[24];
    snprintf(seed_s, sizeof seed_s, "%" PRIu64, seed);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    char *argv[10] = {(char *)"outpost-sim", (char *)"run", (char *)scn, (char *)"--seed", seed_s,
                      (char *)"--quiet", NULL};
    if (agents) {
      argv[6] = (char *)"--agents";
      argv[7] = (char *)agents;
      argv[8] = NULL;
    }
    execv(self, argv);
    _exit(127);
  }
  close(fd);
  if (pid < 0) unlink(j->out);
  j->pid = pid;
  j->seed = seed;
  j->started = sim_cli_now_s();
  return pid;
}

/* The run's "FAILED: ..." line (or its last line) into why. */
static void read_why(const char *path, char *why, size_t cap) {
  FILE *f = fopen(path, "r");
  char line[LINE_CAP];
  why[0] = 0;
  if (!f) return;
  for (int n = 0; n < 10000 && fgets(line, sizeof line, f); n++) {
    line[strcspn(line, "\n")] = 0;
    if (strncmp(line, "FAILED: ", 8) == 0 || strncmp(line, "outpost-sim: ", 13) == 0) {
      snprintf(why, cap, "%s", line);
      break;
    }
    snprintf(why, cap, "%s", line);
  }
  fclose(f);
}

int sim_sweep_main(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *scn = argv[1], *agents = NULL;
  uint64_t a = 0, b = 0, jobs = 0, n;
  int have_seeds = 0;
  for (int i = 2; i < argc; i += 2) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--seeds") == 0) {
      if (parse_range(v, &a, &b) || b - a >= SIM_SWEEP_MAX_SEEDS) {
        fprintf(stderr, "outpost-sim sweep: --seeds %s: must be A..B with at most %d seeds\n", v ? v : "",
                SIM_SWEEP_MAX_SEEDS);
        return 2;
      }
      have_seeds = 1;
    } else if (strcmp(argv[i], "--jobs") == 0) {
      if (sim_cli_parse_u64(v, SIM_SWEEP_MAX_JOBS, &jobs) || jobs == 0) {
        fprintf(stderr, "outpost-sim sweep: --jobs: 1..%d\n", SIM_SWEEP_MAX_JOBS);
        return 2;
      }
    } else if (strcmp(argv[i], "--agents") == 0) {
      if (sim_cli_parse_u64(v, UINT64_MAX, &n) || n == 0) return usage();
      agents = v;
    } else {
      return usage();
    }
  }
  if (!have_seeds) return usage();
  if (access(scn, R_OK) != 0) {
    fprintf(stderr, "outpost-sim sweep: %s: %s\n", scn, strerror(errno));
    return 2;
  }
  if (jobs == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    jobs = c > 0 ? (uint64_t)c : 1;
    if (jobs > SIM_SWEEP_MAX_JOBS) jobs = SIM_SWEEP_MAX_JOBS;
  }
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0) {
    fprintf(stderr, "outpost-sim sweep: cannot find its own binary\n");
    return 2;
  }
  self[sl] = 0;
  sweep_job running[SIM_SWEEP_MAX_JOBS];
  int n_running = 0, bad_setup = 0;
  uint64_t started = 0, passed = 0, failed = 0, total = b - a + 1; /* <= SIM_SWEEP_MAX_SEEDS */
  double t0 = sim_cli_now_s();
  char failed_list[LINE_CAP] = "";
  while (started < total || n_running > 0) {
    while (started < total && (uint64_t)n_running < jobs && !bad_setup) {
      if (start(self, scn, a + started, agents, &running[n_running]) < 0) {
        fprintf(stderr, "outpost-sim sweep: seed %" PRIu64 ": cannot start a run: %s\n", a + started,
                strerror(errno));
        bad_setup = 1;
        break;
      }
      n_running++;
      started++;
    }
    if (n_running == 0) break;
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    int k = 0;
    while (k < n_running && running[k].pid != pid) k++;
    if (k == n_running) continue; /* not ours */
    sweep_job j = running[k];
    running[k] = running[--n_running];
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    char why[LINE_CAP];
    read_why(j.out, why, sizeof why);
    unlink(j.out);
    double took = sim_cli_now_s() - j.started;
    if (code == 0) {
      passed++;
      printf("seed %" PRIu64 ": OK (%.1f s)\n", j.seed, took);
    } else {
      failed++;
      if (code == 2 || code >= 127) bad_setup = 1;
      printf("seed %" PRIu64 ": %s (exit %d, %.1f s)\n  replay: outpost-sim run %s --seed %" PRIu64 "%s%s\n",
             j.seed, why[0] ? why : "no output", code, took, scn, j.seed, agents ? " --agents " : "",
             agents ? agents : "");
      size_t fl = strlen(failed_list);
      if (fl < sizeof failed_list - 32)
        snprintf(failed_list + fl, sizeof failed_list - fl, "%s%" PRIu64, fl ? ", " : "", j.seed);
    }
    fflush(stdout);
  }
  uint64_t not_run = total - passed - failed;
  printf("sweep %s: %" PRIu64 " seeds, %" PRIu64 " passed, %" PRIu64 " failed%s%s%s, %.1f s with %" PRIu64
         " jobs\n",
         scn, total, passed, failed, failed ? " (" : "", failed_list, failed ? ")" : "",
         sim_cli_now_s() - t0, jobs);
  if (not_run) printf("sweep: %" PRIu64 " seeds not run (stopped at a run that could not be set up)\n", not_run);
  if (bad_setup) return 2;
  return failed ? 1 : 0;
}
