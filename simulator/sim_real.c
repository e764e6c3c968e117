/* sim_real.c - a scenario on the real binaries (sim_real.h, issue #16).
 *
 * One process drives everything: it forks the cloud and the agents, writes
 * the agents' log files, plays the events at their scaled wall times and, at
 * the end, reads the cloud's SQLite store (read-only) and the agents' state
 * dirs. Every child gets PR_SET_PDEATHSIG, so a killed outpost-sim leaves no
 * agent behind; every wait is bounded. Deterministic where it can be: the
 * agents picked by an event and the lines written follow the seed; what the
 * real processes do in between is real time.
 */
#include "sim_real.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "common/wire.h"
#include "sim_rng.h"

#define PATH_CAP 512
#define ID_CAP 72
#define MAX_IDS 8            /* agent ids one writer may hold over a run */
#define TICK_MS 50
#define STOP_WAIT_MS 10000   /* SIGTERM, then SIGKILL */
#define CMD_WAIT_MS 60000    /* one outpost-cloud command */
#define SERVE_WAIT_MS 15000  /* until "listening on" */
#define DRAIN_MIN_S 20
#define DRAIN_MAX_S 180
#define DRAIN_IDLE_MS 15000  /* the drain ends when nothing more arrives for this long */
#define COPY_MAX_DEPTH 6
#define COPY_MAX_ENTRIES 4096
#define FILL_CHUNK (1024 * 1024)
#define MAX_LINES_PER_AGENT 200000
#define LINE_CAP 1024
#define REVOKE_GRACE_MS 2000
#define ENROLL_WAIT_MS 30000 /* a clone, revoke or tamper event waits this long at most for an enrolled id */
#define WORK_MAX 200         /* the work dir's path */

typedef struct proc_agent {
  pid_t pid;                  /* 0: not running */
  int source;                 /* the agent it was cloned from, -1 for an original */
  int mounted;                /* its volume is a tmpfs of its own */
  int64_t written;            /* lines written to its log */
  int64_t born_ms;            /* wall ms since the start */
  char dir[PATH_CAP];         /* W/agent-<i> */
  char ids[MAX_IDS][ID_CAP];  /* agent ids it held (identity.json), own enrolments only */
  int n_ids;
  char inherited[ID_CAP];     /* a clone's id at copy time: its source's, not its own */
  char id_at_clone[ID_CAP];   /* for a clone source: its id when it was copied */
  int cloned;                 /* was copied (originals_untouched) */
  int has_snapshot;
  char revoked_id[ID_CAP];    /* the id a revoke event revoked ("" if none) */
  int64_t revoked_wall_ms;    /* when (wall clock, as the cloud's received_ms) */
} proc_agent;

typedef struct real_run {
  const sim_scenario *scn;
  const sim_real_options *opt;
  sim_rng rng;
  double scale;               /* wall seconds per simulated second */
  char work[PATH_CAP];
  char cloud_dir[PATH_CAP];
  char cloud_bin[PATH_CAP], agent_bin[PATH_CAP];
  char token[256];
  int port;
  pid_t serve_pid;
  int64_t serve_back_ms;      /* a cloud outage ends then; 0 = none */
  int64_t t0_ms;              /* monotonic ms at the start */
  proc_agent ag[SIM_REAL_MAX_PROCS];
  int n;                      /* processes, clones included */
  int n_orig;
  double lines_per_s;         /* per agent, wall time */
  int rate_capped;
  int mount_refused;
  int capture;                /* the cloud keeps signed requests for replay events */
  int64_t replays, replays_refused;
  int played, skipped;
  char skipped_list[1024];
  int held, failed, unchecked;
  char unchecked_list[1024];
  char first_failure[512];
} real_run;

/* ---- small helpers --------------------------------------------------------- */

static int64_t mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t since_ms(const real_run *r) { return mono_ms() - r->t0_ms; }

static void sleep_ms(int64_t ms) {
  if (ms <= 0) return;
  struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

static void say(const real_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const real_run *r, const char *fmt, ...) {
  if (r->opt->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[real %6.1fs] ", (double)since_ms(r) / 1000.0);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  if (len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

/* out = a/b; -1 (out cut short) when it does not fit. The work dir is at
 * most WORK_MAX bytes and every name below it is short, so that never
 * happens in a run; the check keeps it that way. */
static int path_join(char *out, size_t cap, const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la + lb + 2 > cap) {
    if (cap) out[0] = 0;
    return -1;
  }
  memcpy(out, a, la);
  out[la] = '/';
  memcpy(out + la + 1, b, lb + 1);
  return 0;
}

static int write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  return close(fd);
}

/* Reads a small file whole (at most cap - 1 bytes); -1 when it cannot. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off + 1 < cap) {
    ssize_t n = read(fd, buf + off, cap - 1 - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += (size_t)n;
  }
  close(fd);
  buf[off] = 0;
  return (ssize_t)off;
}

/* ---- processes --------------------------------------------------------------- */

/* fork + exec with stdout/stderr to files (NULL: /dev/null); the child dies
 * with outpost-sim. Returns the pid, or -1. */
static pid_t spawn(char *const argv[], const char *out_path, const char *err_path) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  int in = open("/dev/null", O_RDONLY);
  int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
  int er = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (in < 0 || out < 0 || er < 0) _exit(127);
  dup2(in, 0);
  dup2(out, 1);
  dup2(er, 2);
  execv(argv[0], argv);
  _exit(127);
}

/* Waits for pid up to ms; its exit status (as waitpid's), or -1 on timeout. */
static int wait_for(pid_t pid, int64_t ms) {
  int64_t end = mono_ms() + ms;
  for (;;) {
    int st = 0;
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) return st;
    if (w < 0 && errno != EINTR) return 0; /* not ours any more */
    if (mono_ms() >= end) return -1;
    sleep_ms(20);
  }
}

/* SIGTERM (or sig), then SIGKILL after STOP_WAIT_MS; always reaps. */
static void stop_proc(pid_t *pid, int sig) {
  if (*pid <= 0) return;
  kill(*pid, sig);
  if (wait_for(*pid, STOP_WAIT_MS) < 0) {
    kill(*pid, SIGKILL);
    (void)wait_for(*pid, STOP_WAIT_MS);
  }
  *pid = 0;
}

/* Runs argv to its end (bounded); stdout into out (NUL-terminated, may be
 * NULL), stderr to err_path. Returns the exit code, or -1. */
static int run_cmd(char *const argv[], char *out, size_t out_cap, const char *err_path) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int er = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (er < 0) _exit(127);
    dup2(fds[1], 1);
    dup2(er, 2);
    close(fds[0]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  size_t off = 0;
  char sink[512];
  for (;;) {
    char *dst = out && off + 1 < out_cap ? out + off : sink;
    size_t room = out && off + 1 < out_cap ? out_cap - 1 - off : sizeof sink;
    ssize_t n = read(fds[0], dst, room);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (dst != sink) off += (size_t)n;
  }
  close(fds[0]);
  if (out && out_cap) out[off] = 0;
  int st = wait_for(pid, CMD_WAIT_MS);
  if (st < 0) {
    kill(pid, SIGKILL);
    (void)wait_for(pid, STOP_WAIT_MS);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

/* ---- files: a recursive copy and removal (no links followed) ------------------ */

static int copy_file(const char *from, const char *to, mode_t mode) {
  int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return -1;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buf[65536];
  int rc = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) rc = -1;
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        rc = -1;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  if (fchmod(out, mode & 07777) != 0) rc = -1;
  close(in);
  if (close(out) != 0) rc = -1;
  return rc;
}

static int copy_tree(const char *from, const char *to, int depth, int *budget) {
  if (depth > COPY_MAX_DEPTH) return -1;
  struct stat st;
  if (lstat(from, &st) != 0 || !S_ISDIR(st.st_mode)) return -1;
  if (mkdir(to, st.st_mode & 07777) != 0 && errno != EEXIST) return -1;
  DIR *d = opendir(from);
  if (!d) return -1;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (--*budget < 0) {
      rc = -1;
      break;
    }
    char a[PATH_CAP], b[PATH_CAP];
    if (snprintf(a, sizeof a, "%s/%s", from, e->d_name) >= (int)sizeof a ||
        snprintf(b, sizeof b, "%s/%s", to, e->d_name) >= (int)sizeof b) {
      rc = -1;
      break;
    }
    struct stat es;
    if (lstat(a, &es) != 0) continue; /* gone meanwhile */
    if (S_ISDIR(es.st_mode)) {
      rc = copy_tree(a, b, depth + 1, budget);
    } else if (S_ISREG(es.st_mode)) {
      rc = copy_file(a, b, es.st_mode);
    } else if (S_ISLNK(es.st_mode)) {
      char target[PATH_CAP];
      ssize_t n = readlink(a, target, sizeof target - 1);
      if (n < 0) continue;
      target[n] = 0;
      rc = symlink(target, b) == 0 || errno == EEXIST ? 0 : -1;
    }
  }
  closedir(d);
  if (rc == 0 && chmod(to, st.st_mode & 07777) != 0) rc = -1;
  return rc;
}

static void remove_tree(const char *path, int depth) {
  if (depth > COPY_MAX_DEPTH + 4) return;
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[PATH_CAP];
        if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) < (int)sizeof p) remove_tree(p, depth + 1);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* ---- the cloud --------------------------------------------------------------- */

static int cloud_cmd(real_run *r, char *out, size_t cap, const char *a1, const char *a2,
                     const char *a3, const char *a4, const char *a5, const char *a6) {
  char err_path[PATH_CAP];
  path_join(err_path, sizeof err_path, r->work, "cloud-cli.log");
  char *argv[12];
  int n = 0;
  argv[n++] = r->cloud_bin;
  const char *args[] = {a1, a2, a3, a4, a5, a6};
  for (size_t i = 0; i < sizeof args / sizeof *args && args[i]; i++) argv[n++] = (char *)args[i];
  argv[n++] = "--data";
  argv[n++] = r->cloud_dir;
  argv[n] = NULL;
  return run_cmd(argv, out, cap, err_path);
}

static int serve_start(real_run *r, char *err, size_t cap) {
  char listen[64], out_path[PATH_CAP], err_path[PATH_CAP], probation[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", r->port);
  path_join(out_path, sizeof out_path, r->work, "serve.out");
  path_join(err_path, sizeof err_path, r->work, "serve.log");
  unlink(out_path);
  char capture[PATH_CAP];
  path_join(capture, sizeof capture, r->work, "capture");
  char *argv[12] = {r->cloud_bin, "serve", "--data", r->cloud_dir, "--listen", listen, NULL};
  int argc = 6;
  if (r->scn->probation_s > 0) {
    /* the cloud's clone probation shrinks with the timeline, like the check-ins */
    int64_t p = (int64_t)((double)r->scn->probation_s * r->scale + 0.5);
    snprintf(probation, sizeof probation, "%lld", (long long)(p < 1 ? 1 : p));
    argv[argc++] = "--probation-s";
    argv[argc++] = probation;
  }
  if (r->capture) {
    argv[argc++] = "--capture-dir";
    argv[argc++] = capture;
  }
  argv[argc] = NULL;
  r->serve_pid = spawn(argv, out_path, err_path);
  if (r->serve_pid < 0) {
    r->serve_pid = 0;
    snprintf(err, cap, "cannot start %s: %s", r->cloud_bin, strerror(errno));
    return -1;
  }
  int64_t end = mono_ms() + SERVE_WAIT_MS;
  char buf[512];
  while (mono_ms() < end) {
    if (read_small(out_path, buf, sizeof buf) > 0 && strstr(buf, "listening on")) return 0;
    int st = 0;
    if (waitpid(r->serve_pid, &st, WNOHANG) == r->serve_pid) {
      r->serve_pid = 0;
      snprintf(err, cap, "outpost-cloud serve exited at start (see %s)", err_path);
      return -1;
    }
    sleep_ms(50);
  }
  snprintf(err, cap, "outpost-cloud serve did not listen within %d s (see %s)", SERVE_WAIT_MS / 1000,
           err_path);
  return -1;
}

/* ---- agents ----------------------------------------------------------------- */

static void agent_path(const real_run *r, int i, const char *name, char *out, size_t cap) {
  path_join(out, cap, r->ag[i].dir, name);
}

/* Interval scaled to the timeline, clamped to what the config accepts. */
static int64_t scaled_ms(const real_run *r, int64_t sim_ms, int64_t lo, int64_t hi) {
  int64_t v = (int64_t)((double)sim_ms * r->scale + 0.5);
  return v < lo ? lo : v > hi ? hi : v;
}

static int write_config(real_run *r, int i) {
  const sim_scenario *s = r->scn;
  char path[PATH_CAP], state[PATH_CAP], logdir[PATH_CAP], log[PATH_CAP], mid[PATH_CAP],
      uuid[PATH_CAP], ca[PATH_CAP];
  agent_path(r, i, "agent.json", path, sizeof path);
  agent_path(r, i, "vol/state", state, sizeof state);
  agent_path(r, i, "log", logdir, sizeof logdir);
  agent_path(r, i, "log/app.log", log, sizeof log);
  agent_path(r, i, "machine-id", mid, sizeof mid);
  agent_path(r, i, "product_uuid", uuid, sizeof uuid);
  path_join(ca, sizeof ca, r->cloud_dir, "ca.pem");
  cJSON *c = cJSON_CreateObject();
  if (!c) return -1;
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", r->port);
  cJSON_AddStringToObject(c, "cloud_url", url);
  cJSON_AddNumberToObject(c, "allow_cloud_port", r->port);
  cJSON_AddStringToObject(c, "ca_file", ca);
  cJSON_AddStringToObject(c, "enrollment_token", r->token);
  cJSON_AddStringToObject(c, "state_dir", state);
  /* The scaled timeline is wall time: at the default SCHED_IDLE a real agent
   * gets a third of a percent of a core per busy task beside it (ctest -j2,
   * other agents, the cloud), and a starved agent fails the timeline, not a
   * defence. nice 19 SCHED_BATCH, the config's other choice, gets five times
   * that; the default itself is integration_real_policy's to test. */
  cJSON_AddStringToObject(c, "cpu_scheduling_policy", "batch");
  cJSON *src = cJSON_AddArrayToObject(c, "sources");
  cJSON *one = cJSON_CreateObject();
  cJSON_AddStringToObject(one, "path", log);
  cJSON_AddStringToObject(one, "start", "beginning");
  cJSON_AddItemToArray(src, one);
  cJSON *roots = cJSON_AddArrayToObject(c, "allowed_log_roots");
  cJSON_AddItemToArray(roots, cJSON_CreateString(logdir));
  cJSON *id = cJSON_AddObjectToObject(c, "identity");
  cJSON_AddStringToObject(id, "machine_id_file", mid);
  cJSON_AddStringToObject(id, "product_uuid_file", uuid);
  /* the simulator's defaults (sim_agent.c) where the scenario says nothing */
  cJSON_AddNumberToObject(c, "batch_max_age_ms",
                          (double)scaled_ms(r, s->batch_max_age_ms >= 0 ? s->batch_max_age_ms : 1000, 0, 3600000));
  cJSON_AddNumberToObject(c, "poll_interval_ms",
                          (double)scaled_ms(r, s->poll_interval_ms >= 0 ? s->poll_interval_ms : 1000, 10, 3600000));
  if (s->checkin_interval_ms >= 0)
    cJSON_AddNumberToObject(c, "checkin_interval_ms",
                            (double)scaled_ms(r, s->checkin_interval_ms, 1000, 86400000));
  if (s->retry_base_ms >= 0)
    cJSON_AddNumberToObject(c, "retry_base_ms", (double)scaled_ms(r, s->retry_base_ms, 10, 3600000));
  if (s->retry_max_ms >= 0)
    cJSON_AddNumberToObject(c, "retry_max_ms", (double)scaled_ms(r, s->retry_max_ms, 10, 86400000));
  if (s->batch_max_records >= 0) cJSON_AddNumberToObject(c, "batch_max_records", (double)s->batch_max_records);
  if (s->spool_quota_bytes > 0) cJSON_AddNumberToObject(c, "spool_quota_bytes", (double)s->spool_quota_bytes);
  if (s->ship_window > 0) cJSON_AddNumberToObject(c, "ship_window", (double)s->ship_window);
  char *text = cJSON_Print(c);
  cJSON_Delete(c);
  if (!text) return -1;
  int rc = write_file(path, text, 0600);
  cJSON_free(text);
  return rc;
}

static int agent_start(real_run *r, int i) {
  if (r->ag[i].pid > 0) return 0;
  char conf[PATH_CAP], err_path[PATH_CAP];
  agent_path(r, i, "agent.json", conf, sizeof conf);
  agent_path(r, i, "agent.log", err_path, sizeof err_path);
  char *argv[] = {r->agent_bin, "run", "--config", conf, NULL};
  pid_t pid = spawn(argv, NULL, err_path);
  if (pid < 0) return -1;
  r->ag[i].pid = pid;
  return 0;
}

/* The agent id in its identity.json now ("" when none). */
static void current_id(const real_run *r, int i, char *out, size_t cap) {
  char p[PATH_CAP], buf[8192];
  out[0] = 0;
  agent_path(r, i, "vol/state/identity.json", p, sizeof p);
  if (read_small(p, buf, sizeof buf) <= 0) return;
  cJSON *o = cJSON_Parse(buf);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "agent_id");
  if (cJSON_IsString(id)) snprintf(out, cap, "%s", id->valuestring);
  cJSON_Delete(o);
}

/* A clone, a revoke or a tamper is about an enrolled agent. A real agent on a loaded
 * machine may not have enrolled by the event's scaled time (seen under
 * ctest -j2 beside the simulator: a clone of an image with no identity,
 * a revoke with no id), so the event waits for one, at most ENROLL_WAIT_MS,
 * rather than testing something else or failing for the machine's speed.
 * The id in out ("" after the wait: not enrolled). */
static void wait_enrolled(const real_run *r, int i, char *out, size_t cap) {
  current_id(r, i, out, cap);
  for (int64_t waited = 0; !out[0] && waited < ENROLL_WAIT_MS; waited += 100) {
    struct timespec pause = {0, 100 * 1000000L};
    nanosleep(&pause, NULL);
    current_id(r, i, out, cap);
  }
}

/* Notes the agent's identity, once per new id (clone: not the inherited one). */
static void track_ids(real_run *r) {
  for (int i = 0; i < r->n; i++) {
    proc_agent *g = &r->ag[i];
    char id[ID_CAP];
    current_id(r, i, id, sizeof id);
    if (!id[0] || strcmp(id, g->inherited) == 0) continue;
    int known = 0;
    for (int k = 0; k < g->n_ids; k++) known |= strcmp(g->ids[k], id) == 0;
    if (!known && g->n_ids < MAX_IDS) snprintf(g->ids[g->n_ids++], ID_CAP, "%s", id);
  }
}

static int make_volume(real_run *r, int i, char *err, size_t cap) {
  char vol[PATH_CAP], state[PATH_CAP], logdir[PATH_CAP];
  agent_path(r, i, "vol", vol, sizeof vol);
  agent_path(r, i, "vol/state", state, sizeof state);
  agent_path(r, i, "log", logdir, sizeof logdir);
  if (mkdir(r->ag[i].dir, 0700) != 0 || mkdir(vol, 0700) != 0 || mkdir(logdir, 0755) != 0) {
    snprintf(err, cap, "cannot make %s: %s", r->ag[i].dir, strerror(errno));
    return -1;
  }
  if (!r->mount_refused) {
    char opts[64];
    int64_t mb = r->scn->disk_quota_bytes / (1024 * 1024);
    snprintf(opts, sizeof opts, "size=%lldm,mode=0700", (long long)(mb < 8 ? 8 : mb));
    if (mount("tmpfs", vol, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0) {
      r->ag[i].mounted = 1;
    } else {
      r->mount_refused = errno;
      say(r, "mount of a tmpfs refused (%s): plain directories, disk_fill skipped", strerror(errno));
    }
  }
  if (mkdir(state, 0700) != 0) {
    snprintf(err, cap, "cannot make %s: %s", state, strerror(errno));
    return -1;
  }
  return 0;
}

static void write_ids(real_run *r, int i, const char *mid, const char *uuid) {
  char p[PATH_CAP];
  agent_path(r, i, "machine-id", p, sizeof p);
  (void)write_file(p, mid, 0644);
  agent_path(r, i, "product_uuid", p, sizeof p);
  (void)write_file(p, uuid, 0644);
}

static void new_ids(real_run *r, char *mid, size_t mcap, char *uuid, size_t ucap) {
  uint64_t a = sim_rng_u64(&r->rng), b = sim_rng_u64(&r->rng), c = sim_rng_u64(&r->rng);
  snprintf(mid, mcap, "%016" PRIx64 "%016" PRIx64 "\n", a, b);
  snprintf(uuid, ucap, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64 "\n",
           c >> 32, (c >> 16) & 0xffff, c & 0xffff, a & 0xffff, b & UINT64_C(0xffffffffffff));
}

static int add_agent(real_run *r, int source, char *err, size_t cap) {
  if (r->n >= SIM_REAL_MAX_PROCS) {
    snprintf(err, cap, "more than %d agents with the clones", SIM_REAL_MAX_PROCS);
    return -1;
  }
  int i = r->n++;
  proc_agent *g = &r->ag[i];
  memset(g, 0, sizeof *g);
  g->source = source;
  g->born_ms = since_ms(r);
  char name[32];
  snprintf(name, sizeof name, "agent-%d", i);
  path_join(g->dir, sizeof g->dir, r->work, name);
  if (make_volume(r, i, err, cap) != 0) return -1;
  char log[PATH_CAP];
  agent_path(r, i, "log/app.log", log, sizeof log);
  if (write_file(log, "", 0644) != 0) {
    snprintf(err, cap, "cannot create %s: %s", log, strerror(errno));
    return -1;
  }
  return i;
}

/* ---- log lines ---------------------------------------------------------------- */

static void write_lines(real_run *r, int i, int64_t upto) {
  proc_agent *g = &r->ag[i];
  if (upto > MAX_LINES_PER_AGENT) upto = MAX_LINES_PER_AGENT;
  if (g->written >= upto) return;
  char log[PATH_CAP];
  agent_path(r, i, "log/app.log", log, sizeof log);
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return; /* rotated away this instant: the next tick writes them */
  char line[LINE_CAP];
  while (g->written < upto) {
    int len = snprintf(line, sizeof line, "outpost-real w%d n%lld ", i, (long long)g->written);
    int64_t lmin = r->scn->line_min, lmax = r->scn->line_max;
    int64_t want = lmin + (lmax > lmin ? (int64_t)(sim_rng_u64(&r->rng) % (uint64_t)(lmax - lmin + 1)) : 0);
    if (want > LINE_CAP - 2) want = LINE_CAP - 2;
    for (; len < want; len++) line[len] = (char)('a' + (len % 26));
    line[len++] = '\n';
    if (write(fd, line, (size_t)len) != len) break;
    g->written++;
  }
  close(fd);
}

/* ---- events --------------------------------------------------------------------- */

const char *sim_real_event_why(const sim_scn_event *ev) {
  switch (ev->type) {
    case SIM_SCN_CLOUD_OUTAGE:
    case SIM_SCN_RESTART:
    case SIM_SCN_CRASH:
    case SIM_SCN_POWER_CUT:
    case SIM_SCN_DISK_FILL:
    case SIM_SCN_ROTATE:
    case SIM_SCN_POLICY:
    case SIM_SCN_CLONE:
    case SIM_SCN_SNAPSHOT:
    case SIM_SCN_RESTORE:
    case SIM_SCN_TAMPER:
    case SIM_SCN_REVOKE:
    case SIM_SCN_REPLAY:
      return ev->type == SIM_SCN_POWER_CUT && ev->switch_step != SIM_SCN_CUT_WRITES
                 ? "a cut inside the supervisor's switch needs the simulator's disk"
                 : ev->type == SIM_SCN_POWER_CUT && ev->during_download
                       ? "a cut inside an update download needs the simulator's disk"
                       : NULL;
    case SIM_SCN_NETWORK:
    case SIM_SCN_PARTITION:
      return "loss and latency on loopback need the simulator's network";
    case SIM_SCN_FOREIGN:
      return "needs a second workspace and the victim's key tried in it (the simulator's)";
    case SIM_SCN_UPD_RELEASE:
    case SIM_SCN_UPD_PROMOTE:
    case SIM_SCN_UPD_FREEZE:
    case SIM_SCN_UPD_REPLAY:
    case SIM_SCN_UPD_COMPROMISE:
    case SIM_SCN_UPD_TAMPER:
    case SIM_SCN_UPD_ENDLESS:
    case SIM_SCN_UPD_MIX:
    case SIM_SCN_UPD_STEAL:
      return "updates on real binaries are tests/integration/real_update.sh (a token, signed builds)";
    case SIM_SCN_PLANT:
      return "needs a second user account on the machine";
    case SIM_SCN_LOCAL_ATTACK:
      return "the swap inside one open() is the simulator's; real swaps: tests/integration/local_attacks.sh";
    case SIM_SCN_CLOUD_LIE:
      return "a lying cloud needs the simulator's mock cloud";
    case SIM_SCN_CLOCK_STEP:
      return "stepping one agent's clock needs the simulator's clock";
    case SIM_SCN_TLS_FAILURE:
      return "a handshake failure on the path needs the simulator's network";
  }
  return "unknown event";
}

/* Which agents an event touches: a seeded pick among the originals. */
static int pick(real_run *r, const sim_scn_event *ev, int *out) {
  int k = (int)sim_scenario_event_agents(ev, r->n_orig);
  if (k > r->n_orig) k = r->n_orig;
  int all[SIM_REAL_MAX_AGENTS] = {0};
  for (int i = 0; i < r->n_orig; i++) all[i] = i;
  for (int i = r->n_orig - 1; i > 0; i--) {
    int j = (int)(sim_rng_u64(&r->rng) % (uint64_t)(i + 1));
    int t = all[i];
    all[i] = all[j];
    all[j] = t;
  }
  memcpy(out, all, (size_t)k * sizeof *out);
  return k;
}

static void fill_disk(real_run *r, int i, int64_t free_mb) {
  char vol[PATH_CAP], filler[PATH_CAP];
  agent_path(r, i, "vol", vol, sizeof vol);
  agent_path(r, i, "vol/filler", filler, sizeof filler);
  struct statvfs v;
  if (statvfs(vol, &v) != 0) return;
  int64_t avail = (int64_t)v.f_bavail * (int64_t)v.f_frsize, want = free_mb * 1024 * 1024;
  int fd = open(filler, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0) {
    if (avail > want) {
      static const char zero[FILL_CHUNK];
      int64_t more = avail - want;
      if (lseek(fd, 0, SEEK_END) >= 0)
        while (more > 0) {
          size_t n = more > FILL_CHUNK ? FILL_CHUNK : (size_t)more;
          ssize_t w = write(fd, zero, n);
          if (w <= 0) break;
          more -= w;
        }
    } else if (avail < want) {
      int64_t back = want - avail;
      if (ftruncate(fd, st.st_size > back ? st.st_size - back : 0) != 0) say(r, "disk_fill: cannot give space back");
    }
  }
  close(fd);
}

static void rotate_log(real_run *r, int i, int style) {
  char log[PATH_CAP], old[PATH_CAP];
  agent_path(r, i, "log/app.log", log, sizeof log);
  agent_path(r, i, "log/app.log.1", old, sizeof old);
  if (style == SIM_ROTATE_RENAME) {
    (void)rename(log, old);
    (void)write_file(log, "", 0644);
  } else if (style == SIM_ROTATE_COPYTRUNCATE) {
    if (copy_file(log, old, 0644) != 0 || truncate(log, 0) != 0) say(r, "rotate: copytruncate of agent %d failed", i);
  } else if (style == SIM_ROTATE_TRUNCATE) {
    if (truncate(log, 0) != 0) say(r, "rotate: truncate of agent %d failed", i);
  } else {
    (void)unlink(log); /* recreated by the next line written */
  }
}

/* As the simulator does (docs/scenarios.md): the state dir to 0755,
 * agent.key and identity.json to 0644. */
static void tamper(real_run *r, int i) {
  static const char *const files[] = {"vol/state/agent.key", "vol/state/identity.json"};
  char p[PATH_CAP];
  agent_path(r, i, "vol/state", p, sizeof p);
  if (chmod(p, 0755) != 0) say(r, "tamper_permissions: chmod %s: %s", p, strerror(errno));
  for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
    agent_path(r, i, files[k], p, sizeof p);
    if (chmod(p, 0644) != 0) say(r, "tamper_permissions: chmod %s: %s", p, strerror(errno));
  }
}

/* A point-in-time copy of agent i's state dir into dst (the agent paused). */
static int image_copy(real_run *r, int i, const char *dst) {
  char state[PATH_CAP];
  agent_path(r, i, "vol/state", state, sizeof state);
  int budget = COPY_MAX_ENTRIES;
  if (r->ag[i].pid > 0) kill(r->ag[i].pid, SIGSTOP);
  int rc = copy_tree(state, dst, 0, &budget);
  if (r->ag[i].pid > 0) kill(r->ag[i].pid, SIGCONT);
  return rc;
}

static int clone_agent(real_run *r, int src, int same_fp, char *err, size_t cap) {
  char src_id[ID_CAP];
  wait_enrolled(r, src, src_id, sizeof src_id);
  if (!src_id[0]) {
    snprintf(err, cap, "agent %d has not enrolled after %d s: nothing to clone", src,
             ENROLL_WAIT_MS / 1000);
    return -1;
  }
  int c = add_agent(r, src, err, cap);
  if (c < 0) return -1;
  char dst[PATH_CAP];
  agent_path(r, c, "vol/state", dst, sizeof dst);
  rmdir(dst);
  if (image_copy(r, src, dst) != 0) {
    snprintf(err, cap, "cannot copy agent %d's state dir", src);
    return -1;
  }
  char mid[80], uuid[80], p[PATH_CAP];
  agent_path(r, src, "machine-id", p, sizeof p);
  if (read_small(p, mid, sizeof mid) <= 0) mid[0] = 0;
  agent_path(r, src, "product_uuid", p, sizeof p);
  if (read_small(p, uuid, sizeof uuid) <= 0) uuid[0] = 0;
  if (!same_fp) {
    /* One machine has one hostname and one set of MACs, so "new hardware"
     * here is a new machine-id and DMI UUID: more than the simulator's
     * copies change (they keep the image's machine-id). */
    char m2[80], u2[80];
    new_ids(r, m2, sizeof m2, u2, sizeof u2);
    snprintf(mid, sizeof mid, "%s", m2);
    snprintf(uuid, sizeof uuid, "%s", u2);
  }
  write_ids(r, c, mid, uuid);
  current_id(r, c, r->ag[c].inherited, sizeof r->ag[c].inherited);
  if (!r->ag[src].cloned) {
    r->ag[src].cloned = 1;
    memcpy(r->ag[src].id_at_clone, r->ag[c].inherited, ID_CAP);
  }
  if (write_config(r, c) != 0 || agent_start(r, c) != 0) {
    snprintf(err, cap, "cannot start the copy of agent %d", src);
    return -1;
  }
  return 0;
}

/* ---- replay: a captured signed request sent again -------------------------- */

#define REPLAY_MAX_FILE (WIRE_MAX_BODY + 65536) /* the body and its headers */
#define REPLAY_MAX_HEADERS 16

static size_t discard(char *p, size_t size, size_t n, void *user) {
  (void)p;
  (void)user;
  return size * n;
}

/* Sends the captured request in buf (the cloud's tap format, cloud_serve.h)
 * to path, or to its own path when path is NULL; the HTTP status, or -1. */
static long send_captured(const real_run *r, const char *buf, size_t len, const char *path) {
  const char *eol = memchr(buf, '\n', len);
  if (!eol) return -1;
  char method[16], own[256];
  if (sscanf(buf, "%15s %255s", method, own) != 2) return -1;
  struct curl_slist *hs = NULL;
  const char *p = eol + 1, *end = buf + len;
  int n = 0;
  while (p < end && *p != '\n' && n < REPLAY_MAX_HEADERS) {
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e) return -1;
    char line[1024];
    size_t l = (size_t)(e - p) < sizeof line - 1 ? (size_t)(e - p) : sizeof line - 1;
    memcpy(line, p, l);
    line[l] = 0;
    struct curl_slist *t = curl_slist_append(hs, line);
    if (!t) break;
    hs = t;
    n++;
    p = e + 1;
  }
  if (p >= end || *p != '\n') {
    curl_slist_free_all(hs);
    return -1;
  }
  p++; /* the body follows the blank line */
  char url[400], ca[PATH_CAP];
  snprintf(url, sizeof url, "https://127.0.0.1:%d%s", r->port, path ? path : own);
  path_join(ca, sizeof ca, r->cloud_dir, "ca.pem");
  hs = curl_slist_append(hs, "Expect:");
  CURL *c = curl_easy_init();
  long status = -1;
  if (c) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(end - p));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
  }
  curl_slist_free_all(hs);
  return status;
}

/* As the simulator's replay: k captured requests (one per session, newest
 * kept), each sent as captured and to the other endpoint; every one must be
 * refused (4xx: the replay cache, the MAC bound to the path). */
static void replay_captured(real_run *r, int k) {
  char dir[PATH_CAP];
  path_join(dir, sizeof dir, r->work, "capture");
  DIR *d = opendir(dir);
  if (!d) return;
  char names[SIM_REAL_MAX_AGENTS][80];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < k) {
    size_t l = strlen(e->d_name);
    if (e->d_name[0] == '.' || l < 5 || l >= sizeof names[0] || strcmp(e->d_name + l - 4, ".req") != 0) continue;
    memcpy(names[n++], e->d_name, l + 1);
  }
  closedir(d);
  char *buf = malloc(REPLAY_MAX_FILE);
  for (int i = 0; buf && i < n; i++) {
    char p[PATH_CAP];
    path_join(p, sizeof p, dir, names[i]);
    ssize_t len = read_small(p, buf, REPLAY_MAX_FILE);
    if (len <= 0) continue;
    char own[256] = "";
    if (sscanf(buf, "%*15s %255s", own) != 1) continue;
    const char *other = strcmp(own, "/v1/ingest") == 0 ? "/v1/checkin" : "/v1/ingest";
    for (int twice = 0; twice < 2; twice++) {
      long st = send_captured(r, buf, (size_t)len, twice ? other : NULL);
      r->replays++;
      if (st >= 400 && st < 500) r->replays_refused++;
      say(r, "replay of %s%s%s: HTTP %ld", names[i], twice ? " to " : "", twice ? other : "", st);
    }
  }
  free(buf);
}

static int play(real_run *r, const sim_scn_event *ev, int index, char *err, size_t cap) {
  const char *why = sim_real_event_why(ev);
  const char *name = sim_scenario_event_name(ev->type);
  if (!why && ev->type == SIM_SCN_DISK_FILL && r->mount_refused) why = "mount(2) of a tmpfs was refused";
  if (why) {
    r->skipped++;
    append(r->skipped_list, sizeof r->skipped_list, "%s  events[%d] %s at %llds: %s\n",
           r->skipped == 1 ? "" : "", index, name, (long long)ev->at_s, why);
    say(r, "events[%d] %s skipped: %s", index, name, why);
    return 0;
  }
  r->played++;
  int who[SIM_REAL_MAX_AGENTS];
  int k = pick(r, ev, who);
  if (ev->type == SIM_SCN_CLOUD_OUTAGE || ev->type == SIM_SCN_POLICY || ev->type == SIM_SCN_RESTORE)
    say(r, "events[%d] %s", index, name);
  else
    say(r, "events[%d] %s (%d agent%s)", index, name, k, k == 1 ? "" : "s");
  switch (ev->type) {
    case SIM_SCN_CLOUD_OUTAGE: {
      stop_proc(&r->serve_pid, SIGTERM);
      int64_t d = (int64_t)((double)ev->duration_s * r->scale * 1000.0);
      r->serve_back_ms = since_ms(r) + (d < 1000 ? 1000 : d);
      return 0;
    }
    case SIM_SCN_POLICY: {
      char p[PATH_CAP];
      char file[40];
      snprintf(file, sizeof file, "policy-%d.json", index);
      path_join(p, sizeof p, r->work, file);
      if (write_file(p, r->scn->policies[ev->policy_index], 0600) != 0 ||
          cloud_cmd(r, NULL, 0, "policy", "set", "--workspace", "test", p, NULL) != 0) {
        snprintf(err, cap, "events[%d]: outpost-cloud policy set failed (see %s/cloud-cli.log)", index, r->work);
        return -1;
      }
      return 0;
    }
    case SIM_SCN_REPLAY:
      replay_captured(r, k);
      return 0;
    case SIM_SCN_RESTORE:
      for (int i = 0; i < r->n; i++) {
        if (!r->ag[i].has_snapshot) continue;
        char state[PATH_CAP], snap[PATH_CAP];
        agent_path(r, i, "vol/state", state, sizeof state);
        agent_path(r, i, "snapshot", snap, sizeof snap);
        stop_proc(&r->ag[i].pid, SIGKILL); /* the machine goes back in time */
        remove_tree(state, 0);
        int budget = COPY_MAX_ENTRIES;
        if (copy_tree(snap, state, 0, &budget) != 0 || agent_start(r, i) != 0) {
          snprintf(err, cap, "events[%d]: cannot restore agent %d", index, i);
          return -1;
        }
      }
      return 0;
    default:
      break;
  }
  for (int j = 0; j < k; j++) {
    int i = who[j];
    switch (ev->type) {
      case SIM_SCN_RESTART:
        stop_proc(&r->ag[i].pid, SIGTERM);
        if (agent_start(r, i) != 0) goto start_failed;
        break;
      case SIM_SCN_CRASH:
      case SIM_SCN_POWER_CUT:
        stop_proc(&r->ag[i].pid, SIGKILL);
        if (agent_start(r, i) != 0) goto start_failed;
        break;
      case SIM_SCN_DISK_FILL:
        fill_disk(r, i, ev->free_mb);
        break;
      case SIM_SCN_ROTATE:
        rotate_log(r, i, ev->rotate_style);
        break;
      case SIM_SCN_CLONE:
        for (int64_t c = 0; c < (ev->copies > 0 ? ev->copies : 1); c++)
          if (clone_agent(r, i, ev->same_fingerprint, err, cap) != 0) return -1;
        break;
      case SIM_SCN_SNAPSHOT: {
        char snap[PATH_CAP];
        agent_path(r, i, "snapshot", snap, sizeof snap);
        remove_tree(snap, 0);
        if (image_copy(r, i, snap) != 0) {
          snprintf(err, cap, "events[%d]: cannot snapshot agent %d", index, i);
          return -1;
        }
        r->ag[i].has_snapshot = 1;
        break;
      }
      case SIM_SCN_TAMPER: {
        /* The files whose modes are loosened exist once the agent has
         * enrolled (agent.key, identity.json): tampering before that would
         * test less than the scenario says. */
        char id[ID_CAP];
        wait_enrolled(r, i, id, sizeof id);
        tamper(r, i);
        stop_proc(&r->ag[i].pid, SIGTERM);
        if (agent_start(r, i) != 0) goto start_failed;
        break;
      }
      case SIM_SCN_REVOKE: {
        char id[ID_CAP];
        wait_enrolled(r, i, id, sizeof id);
        if (!id[0] || cloud_cmd(r, NULL, 0, "agent", "revoke", id, NULL, NULL, NULL) != 0) {
          snprintf(err, cap, "events[%d]: cannot revoke agent %d (id \"%s\")", index, i, id);
          return -1;
        }
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        memcpy(r->ag[i].revoked_id, id, ID_CAP);
        r->ag[i].revoked_wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
        break;
      }
      default:
        break;
    }
    continue;
  start_failed:
    snprintf(err, cap, "events[%d]: cannot start agent %d again", index, i);
    return -1;
  }
  return 0;
}

/* ---- expectations --------------------------------------------------------------- */

static void verdict(real_run *r, const char *name, int pass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void verdict(real_run *r, const char *name, int pass, const char *fmt, ...) {
  char detail[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  printf("  %-22s %s  %s\n", name, pass ? "held  " : "FAILED", detail);
  if (pass) {
    r->held++;
  } else {
    r->failed++;
    if (!r->first_failure[0]) snprintf(r->first_failure, sizeof r->first_failure, "%s: %s", name, detail);
  }
}

static void not_checked(real_run *r, const char *name, const char *why) {
  r->unchecked++;
  append(r->unchecked_list, sizeof r->unchecked_list, "  %-22s not checked in real mode: %s\n", name, why);
}

/* The expectations real mode cannot check, with why (also for the verdict). */
typedef struct unchecked_rule {
  const char *name;
  const char *why;
} unchecked_rule;

static int scenario_has(const sim_scenario *s, sim_scn_event_type t) {
  for (int i = 0; i < s->n_events; i++)
    if (s->events[i].type == t) return 1;
  return 0;
}

static int unchecked_rules(const sim_scenario *s, unchecked_rule *out, int cap) {
  int n = 0;
#define UNCHECKED(cond, nm, wh)                                                                    \
  do {                                                                                             \
    if ((cond) && n < cap) out[n++] = (unchecked_rule){nm, wh};                                    \
  } while (0)
  UNCHECKED(s->no_secret_shipped, "no_secret_shipped", "the secret files are the simulator's hosts'");
  UNCHECKED(s->refusals_reported, "refusals_reported", "follows local_attack (simulation-only)");
  UNCHECKED(s->max_blocked_opens >= 0, "max_blocked_opens", "counts opens inside the simulator's filesystem");
  UNCHECKED(s->no_denied_open, "no_denied_open", "counts opens inside the simulator's filesystem");
  UNCHECKED(s->max_records_per_s > 0, "max_records_per_s", "reads each agent's production step by step");
  UNCHECKED(s->metrics_reported, "metrics_reported", "not yet read from the real cloud's agent_metrics");
  UNCHECKED(s->max_requests_per_min >= 0, "max_requests_per_min", "a per-minute rate in simulated time");
  UNCHECKED(s->min_shed > 0, "min_shed", "a volume in simulated time");
  UNCHECKED(s->lost_min >= 0 || s->lost_middle_min >= 0, "lost_lines", "counts rotations' generations in the simulator");
  UNCHECKED(s->clone_detect_within_s >= 0, "clone_detect_within_s", "a delay in simulated seconds");
  UNCHECKED(s->attacks_refused && scenario_has(s, SIM_SCN_FOREIGN), "attacks_refused",
            "foreign_workspace's attempts are the simulator's (replays are checked)");
  UNCHECKED(s->max_foreign_owned_state_files >= 0, "max_foreign_owned_state_files", "follows plant_files (simulation-only)");
  UNCHECKED(s->planted_policy_refused, "planted_policy_refused", "follows plant_files (simulation-only)");
  UNCHECKED(s->disk_floor_held, "floor_held", "checked at every write inside the simulator's disk");
  UNCHECKED(s->lies_refused, "lies_refused", "follows cloud_lie (simulation-only)");
  UNCHECKED(s->tls_reported, "tls_reported", "follows tls_failure (simulation-only)");
  UNCHECKED(s->window_under_faults, "window_under_faults", "counts in-flight batches at each simulated fault");
  UNCHECKED(s->upd_final_version[0] || s->upd_never[0] || s->upd_reported[0] ||
                s->upd_no_install_after_attack || s->upd_rolled_back[0] || s->upd_promotes_refused >= 0 ||
                s->upd_ring_order || s->upd_bin_valid || s->upd_switch_cut_steps >= 0,
            "update_*", "updates are simulation-only here (real: tests/integration/real_update.sh)");
#undef UNCHECKED
  return n;
}

typedef struct line_count {
  uint8_t *seen; /* per writer: count per line index, saturating */
} line_count;

static int id_owned_by_lineage(const real_run *r, int w, const char *id) {
  for (int i = 0; i < r->n; i++) {
    int anc = i;
    for (int hops = 0; anc >= 0 && anc != w && hops < SIM_REAL_MAX_PROCS; hops++) anc = r->ag[anc].source;
    if (anc != w) continue; /* i is not w nor a descendant of w */
    for (int k = 0; k < r->ag[i].n_ids; k++)
      if (strcmp(r->ag[i].ids[k], id) == 0) return 1;
  }
  return 0;
}

/* records_produced from the agent's status.json at the end, -1 if unreadable */
static int64_t produced_of(const real_run *r, int i) {
  char p[PATH_CAP], buf[16384];
  agent_path(r, i, "vol/state/status.json", p, sizeof p);
  cJSON *o = read_small(p, buf, sizeof buf) > 0 ? cJSON_Parse(buf) : NULL;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "records_produced");
  int64_t n = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
  cJSON_Delete(o);
  return n;
}

/* "outpost-real w<writer> n<index> ...": 0 and the two numbers, or -1. */
static int parse_line(const char *line, long *writer, long long *index) {
  static const char head[] = "outpost-real w";
  if (strncmp(line, head, sizeof head - 1) != 0) return -1;
  char *end = NULL;
  errno = 0;
  *writer = strtol(line + sizeof head - 1, &end, 10);
  if (errno || !end || end[0] != ' ' || end[1] != 'n') return -1;
  const char *p = end + 2;
  *index = strtoll(p, &end, 10);
  return errno || !end || end == p || *end != ' ' ? -1 : 0;
}

static void check_store(real_run *r) {
  const sim_scenario *s = r->scn;
  const int n_procs = r->n;
  char db_path[PATH_CAP + 16];
  char db_file[PATH_CAP];
  path_join(db_file, sizeof db_file, r->cloud_dir, "cloud.db");
  snprintf(db_path, sizeof db_path, "file:%.500s?mode=ro", db_file);
  sqlite3 *db = NULL;
  uint8_t *seen[SIM_REAL_MAX_PROCS] = {0};
  int64_t dup = 0, missing = 0, misattributed = 0, foreign = 0, shed_reported = 0;
  char mis_example[200] = "";
  int ok = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK;
  if (ok) sqlite3_busy_timeout(db, 10000);
  for (int i = 0; ok && i < n_procs; i++) {
    seen[i] = calloc((size_t)r->ag[i].written + 1, 1);
    if (!seen[i]) ok = 0;
  }
  sqlite3_stmt *st = NULL;
  if (ok && sqlite3_prepare_v2(db, "SELECT agent_id, line FROM records WHERE line LIKE 'outpost-real w%'", -1,
                               &st, NULL) != SQLITE_OK)
    ok = 0;
  while (ok && sqlite3_step(st) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *line = (const char *)sqlite3_column_text(st, 1);
    long w = -1;
    long long idx = -1;
    if (!id || !line || parse_line(line, &w, &idx) != 0 || w < 0 || w >= n_procs || idx < 0 ||
        idx >= r->ag[w].written) {
      foreign++;
      continue;
    }
    if (seen[w][idx] < 255) seen[w][idx]++;
    if (!id_owned_by_lineage(r, (int)w, id)) {
      misattributed++;
      if (!mis_example[0])
        snprintf(mis_example, sizeof mis_example, "line %lld of agent %ld stored under %.40s", idx, w, id);
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  if (ok && sqlite3_prepare_v2(db, "SELECT coalesce(sum(records), 0) FROM shed_reports", -1, &st, NULL) ==
                SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    shed_reported = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  /* Lines an agent never read (it back-pressured: its volume or quota was
   * full) are still in its log file, not lost: the simulator's
   * shed_reported counts them the same way. A clone's produced count
   * includes what its image's spool held, so only originals count here. */
  int64_t unread = 0;
  for (int i = 0; ok && i < r->n; i++) {
    int64_t p = produced_of(r, i);
    if (r->ag[i].source < 0 && p >= 0 && p < r->ag[i].written) unread += r->ag[i].written - p;
  }
  int64_t written = 0;
  int first_missing_w = -1;
  long long first_missing_n = -1;
  for (int i = 0; ok && i < r->n; i++) {
    written += r->ag[i].written;
    for (int64_t k = 0; k < r->ag[i].written; k++) {
      if (seen[i][k] == 0) {
        missing++;
        if (first_missing_w < 0) first_missing_w = i, first_missing_n = (long long)k;
      }
      if (seen[i][k] > 1) dup += seen[i][k] - 1;
    }
  }
  printf("lines written %lld by %d agents, in the cloud %lld distinct, %lld missing (%lld never read), "
         "%lld duplicates, %lld reported shed\n",
         (long long)written, r->n, (long long)(written - missing), (long long)missing, (long long)unread,
         (long long)dup, (long long)shed_reported);
  printf("expectations:\n");
  if (!ok) {
    verdict(r, "cloud_store", 0, "cannot read %s: %s", db_path, db ? sqlite3_errmsg(db) : "open failed");
  } else {
    char where[96] = "";
    if (first_missing_w >= 0)
      snprintf(where, sizeof where, " (first: line %lld of agent %d)", first_missing_n, first_missing_w);
    if (s->exactly_once)
      verdict(r, "exactly_once", dup == 0 && missing <= shed_reported,
              "%lld missing%s, %lld duplicates, %lld reported shed", (long long)missing, where, (long long)dup,
              (long long)shed_reported);
    if (s->at_least_once)
      verdict(r, "at_least_once", missing <= shed_reported, "%lld missing%s, %lld reported shed",
              (long long)missing, where, (long long)shed_reported);
    if (s->shed_reported)
      verdict(r, "shed_reported", missing <= shed_reported + unread,
              "%lld lines never arrived: %lld never read (still in the log files), %lld records in the cloud's "
              "shed reports", (long long)missing, (long long)unread, (long long)shed_reported);
    if (s->max_misattributed >= 0)
      verdict(r, "max_misattributed", misattributed <= s->max_misattributed, "%lld (max %lld)%s%s",
              (long long)misattributed, (long long)s->max_misattributed, mis_example[0] ? ": " : "", mis_example);
  }
  for (int i = 0; i < n_procs; i++) free(seen[i]);
  if (foreign) printf("  (%lld records not written by this run)\n", (long long)foreign);

  if (ok && s->n_alerts > 0) {
    int64_t total = 0;
    int64_t counts[SIM_SCN_MAX_ALERT_EXPECT] = {0};
    if (sqlite3_prepare_v2(db, "SELECT kind, count(*) FROM alerts GROUP BY kind", -1, &st, NULL) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 0);
        int64_t c = sqlite3_column_int64(st, 1);
        total += c;
        for (int a = 0; kind && a < s->n_alerts; a++)
          if (strcmp(s->alerts[a].kind, kind) == 0) counts[a] = c;
      }
    }
    sqlite3_finalize(st);
    for (int a = 0; a < s->n_alerts; a++) {
      int64_t got = strcmp(s->alerts[a].kind, "total") == 0 ? total : counts[a];
      char name[64];
      snprintf(name, sizeof name, "alerts.%s", s->alerts[a].kind);
      verdict(r, name, got >= s->alerts[a].min && got <= s->alerts[a].max, "%lld (expected %lld..%lld)",
              (long long)got, (long long)s->alerts[a].min, (long long)s->alerts[a].max);
    }
  }
  /* Implied by a revoke event (docs/scenarios.md: "the cloud stores
   * nothing more under their identities"): a request already in flight when
   * the command ran may still land, hence the grace. */
  for (int i = 0; ok && i < r->n; i++) {
    if (!r->ag[i].revoked_id[0]) continue;
    int64_t late = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM records WHERE agent_id = ? AND received_ms > ?", -1, &st,
                           NULL) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, r->ag[i].revoked_id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 2, r->ag[i].revoked_wall_ms + REVOKE_GRACE_MS);
      if (sqlite3_step(st) == SQLITE_ROW) late = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    char name[48];
    snprintf(name, sizeof name, "revoked_silent.%d", i);
    verdict(r, name, late == 0, "%lld records stored under agent %d's revoked id %.16s... more than %d s after "
            "the revoke", (long long)late, i, r->ag[i].revoked_id, REVOKE_GRACE_MS / 1000);
  }
  if (ok && s->min_drift_events >= 0) {
    int64_t drift = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE kind = 'permission_drift'", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      drift = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    verdict(r, "min_drift_events", drift >= s->min_drift_events, "%lld permission_drift events in the cloud (min %lld)",
            (long long)drift, (long long)s->min_drift_events);
  }
  if (ok && s->originals_untouched) {
    int pass = 1;
    char detail[200] = "every copied agent keeps its identity";
    for (int i = 0; i < r->n && pass; i++) {
      if (!r->ag[i].cloned) continue;
      char id[ID_CAP];
      current_id(r, i, id, sizeof id);
      int revoked = 0;
      if (sqlite3_prepare_v2(db, "SELECT revoked FROM agents WHERE agent_id = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) revoked = sqlite3_column_int(st, 0);
      }
      sqlite3_finalize(st);
      if (strcmp(id, r->ag[i].id_at_clone) != 0 || revoked) {
        pass = 0;
        snprintf(detail, sizeof detail, "agent %d was %.40s when copied, is %.40s now%s", i, r->ag[i].id_at_clone,
                 id, revoked ? " (revoked)" : "");
      }
    }
    verdict(r, "originals_untouched", pass, "%s", detail);
  }
  sqlite3_close(db);
}

static void check_attacks(real_run *r) {
  const sim_scenario *s = r->scn;
  if (!s->attacks_refused || scenario_has(s, SIM_SCN_FOREIGN)) return;
  verdict(r, "attacks_refused", r->replays > 0 && r->replays_refused == r->replays,
          "%lld of %lld replayed requests refused (4xx)", (long long)r->replays_refused, (long long)r->replays);
}

static void check_status(real_run *r) {
  const sim_scenario *s = r->scn;
  if (s->max_spooled_at_end < 0 && s->policy_applied <= 0) return;
  int64_t worst = 0, worst_policy = -1;
  int worst_i = -1, policy_i = -1, missing_i = -1;
  for (int i = 0; i < r->n; i++) {
    char p[PATH_CAP], buf[16384];
    agent_path(r, i, "vol/state/status.json", p, sizeof p);
    cJSON *o = read_small(p, buf, sizeof buf) > 0 ? cJSON_Parse(buf) : NULL;
    if (!o) {
      if (missing_i < 0) missing_i = i;
      continue;
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "spool_records");
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "policy_version");
    if (cJSON_IsNumber(sp) && (int64_t)sp->valuedouble > worst) worst = (int64_t)sp->valuedouble, worst_i = i;
    if (cJSON_IsNumber(pv) && (int64_t)pv->valuedouble != s->policy_applied && policy_i < 0)
      policy_i = i, worst_policy = (int64_t)pv->valuedouble;
    cJSON_Delete(o);
  }
  if (s->max_spooled_at_end >= 0) {
    if (missing_i >= 0)
      verdict(r, "max_spooled_at_end", 0, "agent %d left no readable status.json", missing_i);
    else
      verdict(r, "max_spooled_at_end", worst <= s->max_spooled_at_end, "at most %lld spooled%s (max %lld)",
              (long long)worst, worst_i >= 0 ? " by one agent" : "", (long long)s->max_spooled_at_end);
  }
  if (s->policy_applied > 0) {
    if (missing_i >= 0)
      verdict(r, "policy_applied", 0, "agent %d left no readable status.json", missing_i);
    else if (policy_i >= 0)
      verdict(r, "policy_applied", 0, "agent %d runs policy version %lld, not %lld", policy_i,
              (long long)worst_policy, (long long)s->policy_applied);
    else
      verdict(r, "policy_applied", 1, "every agent runs policy version %lld", (long long)s->policy_applied);
  }
}

/* Lines in the cloud, all writers (a cheap count for the drain). */
static int64_t cloud_lines(const real_run *r) {
  char db_path[PATH_CAP + 16];
  char db_file[PATH_CAP];
  path_join(db_file, sizeof db_file, r->cloud_dir, "cloud.db");
  snprintf(db_path, sizeof db_path, "file:%.500s?mode=ro", db_file);
  sqlite3 *db = NULL;
  int64_t n = -1;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(DISTINCT line) FROM records WHERE line LIKE 'outpost-real w%'", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

/* Fleet-wide settings real mode does not reproduce, as "a, b" ("" if none). */
static void settings_not_played(const sim_scenario *s, char *out, size_t cap) {
  out[0] = 0;
  if (s->loss > 0 || s->response_loss > 0) append(out, cap, "%snetwork loss", out[0] ? ", " : "");
  if (s->clock_skew_ms > 0) append(out, cap, "%sclock skew", out[0] ? ", " : "");
  if (s->secrets) append(out, cap, "%ssecret files", out[0] ? ", " : "");
  if (s->agent_uid != 0) append(out, cap, "%sagents as uid %lld", out[0] ? ", " : "", (long long)s->agent_uid);
  if (s->ring_pct[0] > 0 || s->ring_pct[1] > 0) append(out, cap, "%srings", out[0] ? ", " : "");
}

void sim_real_verdict(const sim_scenario *scn, char *out, size_t cap) {
  char skipped[512] = "", unchecked[512] = "";
  int n_skipped = 0, n_events = 0;
  for (int e = 0; e < scn->n_events; e++) {
    const char *why = sim_real_event_why(&scn->events[e]);
    n_events++;
    if (!why) continue;
    const char *name = sim_scenario_event_name(scn->events[e].type);
    if (!strstr(skipped, name)) append(skipped, sizeof skipped, "%s%s", n_skipped ? ", " : "", name);
    n_skipped++;
  }
  unchecked_rule rules[32];
  int n_un = unchecked_rules(scn, rules, 32);
  for (int i = 0; i < n_un; i++) append(unchecked, sizeof unchecked, "%s%s", i ? ", " : "", rules[i].name);
  char settings[200];
  settings_not_played(scn, settings, sizeof settings);
  if (!n_skipped && !n_un && !settings[0]) {
    snprintf(out, cap, "yes");
  } else if (n_skipped && n_skipped == n_events) {
    snprintf(out, cap, "no: %s simulation-only", skipped);
  } else {
    out[0] = 0;
    append(out, cap, "partly:");
    if (n_skipped) append(out, cap, " %s skipped;", skipped);
    if (n_un) append(out, cap, " %s not checked;", unchecked);
    if (settings[0]) append(out, cap, " no %s;", settings);
    size_t l = strlen(out);
    if (l && out[l - 1] == ';') out[l - 1] = 0;
  }
}

/* ---- the run ------------------------------------------------------------------- */

static void find_bin(const char *given, const char *rel, char *out, size_t cap) {
  if (given) {
    snprintf(out, cap, "%s", given);
    return;
  }
  char self[PATH_CAP];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0; /* BUILD/simulator */
    slash = strrchr(self, '/');
    if (slash) *slash = 0; /* BUILD */
    path_join(out, cap, self, rel);
    if (access(out, X_OK) == 0) return;
  }
  const char *base = strrchr(rel, '/');
  snprintf(out, cap, "/usr/bin/%s", base ? base + 1 : rel); /* an installed package */
}

static void teardown(real_run *r, int keep) {
  for (int i = 0; i < r->n; i++) stop_proc(&r->ag[i].pid, SIGTERM);
  stop_proc(&r->serve_pid, SIGTERM);
  for (int i = 0; i < r->n; i++) {
    if (!r->ag[i].mounted) continue;
    char vol[PATH_CAP];
    agent_path(r, i, "vol", vol, sizeof vol);
    if (keep) {
      /* keep what the agent left: copy it out of the tmpfs first */
      char kept[PATH_CAP];
      agent_path(r, i, "state-at-end", kept, sizeof kept);
      int budget = COPY_MAX_ENTRIES;
      char state[PATH_CAP];
      agent_path(r, i, "vol/state", state, sizeof state);
      (void)copy_tree(state, kept, 0, &budget);
    }
    (void)umount2(vol, MNT_DETACH);
  }
  if (!keep) remove_tree(r->work, 0);
}

static int setup(real_run *r, char *err, size_t cap) {
  find_bin(r->opt->agent_bin, "agent/outpost-agent", r->agent_bin, sizeof r->agent_bin);
  find_bin(r->opt->cloud_bin, "mockcloud/outpost-cloud", r->cloud_bin, sizeof r->cloud_bin);
  if (access(r->agent_bin, X_OK) != 0 || access(r->cloud_bin, X_OK) != 0) {
    snprintf(err, cap, "no runnable %s (--agent-bin) or %s (--cloud-bin)", r->agent_bin, r->cloud_bin);
    return -1;
  }
  if (r->opt->out_dir) {
    if (strlen(r->opt->out_dir) > WORK_MAX) {
      snprintf(err, cap, "--out: at most %d bytes of path", WORK_MAX);
      return -1;
    }
    snprintf(r->work, sizeof r->work, "%s", r->opt->out_dir);
    if (mkdir(r->work, 0700) != 0 && errno != EEXIST) {
      snprintf(err, cap, "cannot make %s: %s", r->work, strerror(errno));
      return -1;
    }
    char probe[PATH_CAP];
    path_join(probe, sizeof probe, r->work, "cloud");
    if (access(probe, F_OK) == 0) {
      snprintf(err, cap, "%s already holds a run (cloud/): give a new --out", r->work);
      return -1;
    }
  } else {
    snprintf(r->work, sizeof r->work, "/tmp/outpost-real.XXXXXX");
    if (!mkdtemp(r->work)) {
      snprintf(err, cap, "cannot make a work dir: %s", strerror(errno));
      return -1;
    }
  }
  path_join(r->cloud_dir, sizeof r->cloud_dir, r->work, "cloud");
  r->capture = scenario_has(r->scn, SIM_SCN_REPLAY);
  char capture[PATH_CAP];
  path_join(capture, sizeof capture, r->work, "capture");
  if (r->capture && mkdir(capture, 0700) != 0) {
    snprintf(err, cap, "cannot make %s: %s", capture, strerror(errno));
    return -1;
  }
  if (cloud_cmd(r, NULL, 0, "init", NULL, NULL, NULL, NULL, NULL) != 0 ||
      cloud_cmd(r, r->token, sizeof r->token, "workspace", "add", "test", NULL, NULL, NULL) != 0) {
    snprintf(err, cap, "outpost-cloud init / workspace add failed (see %s/cloud-cli.log)", r->work);
    return -1;
  }
  r->token[strcspn(r->token, "\r\n")] = 0;
  if (!r->token[0]) {
    snprintf(err, cap, "outpost-cloud workspace add printed no token");
    return -1;
  }
  for (int tries = 0; tries < 3; tries++) {
    r->port = free_port();
    if (r->port > 0 && serve_start(r, err, cap) == 0) break;
    if (tries == 2) return -1;
  }
  for (int i = 0; i < r->opt->agents; i++) {
    int a = add_agent(r, -1, err, cap);
    if (a < 0) return -1;
    char mid[80], uuid[80];
    new_ids(r, mid, sizeof mid, uuid, sizeof uuid);
    write_ids(r, a, mid, uuid);
    if (write_config(r, a) != 0) {
      snprintf(err, cap, "cannot write agent %d's config", a);
      return -1;
    }
  }
  r->n_orig = r->n;
  return 0;
}

int sim_real_run(const sim_scenario *scn, const sim_real_options *opt, char *err, size_t err_cap) {
  if (opt->agents < 1 || opt->agents > SIM_REAL_MAX_AGENTS) {
    snprintf(err, err_cap, "--real: 1..%d agents", SIM_REAL_MAX_AGENTS);
    return SIM_REAL_ESETUP;
  }
  if (geteuid() != 0) {
    /* the agents read their identity overrides and run their sandbox as
     * the packaged unit does: as root */
    snprintf(err, err_cap, "--real needs root (the agents run as the packaged service does)");
    return SIM_REAL_ESETUP;
  }
  real_run *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, err_cap, "out of memory");
    return SIM_REAL_ESETUP;
  }
  r->scn = scn;
  r->opt = opt;
  sim_rng_seed(&r->rng, opt->seed, 0x7265616cULL); /* "real" */
  int64_t wall_s = opt->wall_s > 0 ? opt->wall_s : SIM_REAL_DEFAULT_SECONDS;
  if (wall_s > scn->duration_s) wall_s = scn->duration_s;
  r->scale = (double)wall_s / (double)scn->duration_s;
  r->lines_per_s = scn->lines_per_min / 60.0 / r->scale;
  if (r->lines_per_s > SIM_REAL_MAX_LINES_PER_S) {
    r->lines_per_s = SIM_REAL_MAX_LINES_PER_S;
    r->rate_capped = 1;
  }
  r->t0_ms = mono_ms();
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT); /* replays; cleaned up below */
  if (setup(r, err, err_cap) != 0) {
    teardown(r, 1);
    free(r);
    curl_global_cleanup();
    return SIM_REAL_ESETUP;
  }
  printf("scenario %s, real mode: %d agents, seed %" PRIu64 ", %lld s of timeline in %lld s of wall time "
         "(1 wall s = %.0f simulated s), %.1f lines/s per agent%s\n",
         scn->name, r->n, opt->seed, (long long)scn->duration_s, (long long)wall_s, 1.0 / r->scale,
         r->lines_per_s, r->rate_capped ? " (capped)" : "");
  printf("work dir %s, cloud https://127.0.0.1:%d, agent %s\n", r->work, r->port, r->agent_bin);
  char settings[200];
  settings_not_played(scn, settings, sizeof settings);
  if (settings[0]) printf("not reproduced on one machine: %s\n", settings);
  fflush(stdout);
  int rc = SIM_REAL_OK;
  for (int i = 0; i < r->n; i++)
    if (agent_start(r, i) != 0) {
      snprintf(err, err_cap, "cannot start %s", r->agent_bin);
      rc = SIM_REAL_ESETUP;
    }
  /* events in time order (the file need not be sorted) */
  int order[SIM_SCN_MAX_EVENTS];
  for (int e = 0; e < scn->n_events; e++) order[e] = e;
  for (int a = 1; a < scn->n_events; a++)
    for (int b = a; b > 0 && scn->events[order[b]].at_s < scn->events[order[b - 1]].at_s; b--) {
      int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  int next = 0;
  int64_t end_ms = wall_s * 1000, last_track = 0;
  while (rc == SIM_REAL_OK) {
    int64_t now = since_ms(r);
    int64_t t = now > end_ms ? end_ms : now;
    while (next < scn->n_events && (int64_t)((double)scn->events[order[next]].at_s * r->scale * 1000.0) <= t &&
           rc == SIM_REAL_OK) {
      if (play(r, &scn->events[order[next]], order[next], err, err_cap) != 0) rc = SIM_REAL_ESETUP;
      next++;
    }
    if (r->serve_back_ms && now >= r->serve_back_ms) {
      r->serve_back_ms = 0;
      say(r, "cloud back");
      if (serve_start(r, err, err_cap) != 0) rc = SIM_REAL_ESETUP;
    }
    for (int i = 0; i < r->n; i++) {
      double from = (double)r->ag[i].born_ms;
      double lines = t > from ? (double)(t - from) / 1000.0 * r->lines_per_s : 0;
      write_lines(r, i, (int64_t)lines);
    }
    if (now - last_track >= 1000) {
      track_ids(r);
      last_track = now;
    }
    if (now >= end_ms && next >= scn->n_events && !r->serve_back_ms) break;
    sleep_ms(TICK_MS);
  }
  if (rc == SIM_REAL_OK) {
    int64_t written = 0;
    for (int i = 0; i < r->n; i++) written += r->ag[i].written;
    int64_t drain_s = (int64_t)((double)scn->drain_s * r->scale);
    if (drain_s < DRAIN_MIN_S) drain_s = DRAIN_MIN_S;
    if (drain_s > DRAIN_MAX_S) drain_s = DRAIN_MAX_S;
    say(r, "timeline done, %lld lines written; draining up to %lld s", (long long)written, (long long)drain_s);
    /* Until every line is in, or nothing more has come for DRAIN_IDLE_MS
     * (a revoked agent's lines never will): the checks say what is missing. */
    int64_t until = since_ms(r) + drain_s * 1000, last_n = -1, last_change = since_ms(r);
    while (since_ms(r) < until) {
      track_ids(r);
      int64_t got = cloud_lines(r);
      if (got >= written) break;
      if (got != last_n) last_n = got, last_change = since_ms(r);
      else if (since_ms(r) - last_change >= DRAIN_IDLE_MS) break;
      sleep_ms(500);
    }
    /* a few more seconds: acks reach the spools and status.json is rewritten */
    sleep_ms(3000);
    track_ids(r);
    for (int i = 0; i < r->n; i++) stop_proc(&r->ag[i].pid, SIGTERM);
    printf("events played %d, skipped %d%s\n%s", r->played, r->skipped, r->skipped ? " (simulation-only):" : "",
           r->skipped_list);
    check_store(r);
    check_status(r);
    check_attacks(r);
    unchecked_rule rules[32];
    int n_un = unchecked_rules(scn, rules, 32);
    for (int i = 0; i < n_un; i++) not_checked(r, rules[i].name, rules[i].why);
    fputs(r->unchecked_list, stdout);
    printf("expectations %d/%d held, %d not checked in real mode\n", r->held, r->held + r->failed, r->unchecked);
    if (r->failed) {
      printf("FAILED: %s\n", r->first_failure);
      printf("kept: %s (agents' logs agent-*/agent.log, state agent-*/state-at-end, cloud cloud/)\n", r->work);
      rc = SIM_REAL_EFAILED;
    } else if (r->held == 0) {
      printf("nothing checked: no expectation of this scenario can be read from real binaries\n");
    }
  }
  teardown(r, rc != SIM_REAL_OK || opt->out_dir != NULL);
  if (rc == SIM_REAL_OK) printf("OK\n");
  free(r);
  curl_global_cleanup();
  return rc;
}
