/* main.c - the outpost-agent binary: command line, signals, and the loop
 * that pumps libcurl for the core. All agent logic lives in agent/core.
 *
 *   outpost-agent --version
 *   outpost-agent check-config --config FILE   exit 0 valid, 1 invalid
 *   outpost-agent run --config FILE            exit 0 on SIGTERM/SIGINT, 1 on error
 *   outpost-agent selftest-seccomp             exit 0 when every forbidden call is refused
 *   outpost-agent status --config FILE         prints state_dir/status.json
 *   outpost-agent supervise --config FILE      runs bin/current's agent, applies staged
 *                                              updates, probation, rollback (docs/updates.md)
 *   anything else                              usage on stderr, exit 2
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
#include <arpa/inet.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#endif

#include "common/version.h"
#include "core/agent.h"
#include "core/config.h"
#include "core/statusfile.h"
#include "core/upstate.h"
#include <cjson/cJSON.h>
#include "curl/net_curl.h"
#include "posix/landlock.h"
#include "posix/os_posix.h"
#include "posix/sandbox.h"
#include "posix/supervise.h"
/* Generated at configure time from OUTPOST_RELEASE_PUBKEY (cmake/ReleaseKey.cmake). */
#include "outpost_release_key.h"

#define EXPLAIN_CAP (64 * 1024)
#define WAIT_MAX_MS 1000
#define STATUS_EVERY_MS 5000
#define STATUS_STALE_MS 30000
/* net_curl_wait failing this many times in a row means libcurl is broken. */
#define WAIT_FAILURES_MAX 10

static volatile sig_atomic_t g_stop; /* the only global: signal handlers need one */

static void on_signal(int sig) { g_stop = 1; }

static int usage(void) {
  fprintf(stderr,
          "usage: outpost-agent --version\n"
          "       outpost-agent check-config --config FILE\n"
          "       outpost-agent run --config FILE\n"
          "       outpost-agent selftest-seccomp\n"
          "       outpost-agent status --config FILE\n"
          "       outpost-agent supervise --config FILE\n");
  return 2;
}

/* Reads and parses the config file; on error prints "FILE: message" and
 * returns -1. */
static int load_config(const char *path, agent_config *cfg) {
  char err[512];
  char *buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
  size_t len = 0;
  int fd, rc = -1;
  if (!buf) {
    fprintf(stderr, "%s: out of memory\n", path);
    return -1;
  }
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    goto out;
  }
  /* Read one byte past the limit so an oversized file (or a pipe) is caught
   * without trusting st_size. */
  while (len <= CONFIG_MAX_FILE_BYTES) {
    ssize_t n = read(fd, buf + len, CONFIG_MAX_FILE_BYTES + 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fprintf(stderr, "%s: %s\n", path, strerror(errno));
      close(fd);
      goto out;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  close(fd);
  if (len > CONFIG_MAX_FILE_BYTES) {
    fprintf(stderr, "%s: config file is larger than %d bytes\n", path, CONFIG_MAX_FILE_BYTES);
    goto out;
  }
  if (config_parse(buf, len, cfg, err, sizeof err) != CONFIG_OK) {
    fprintf(stderr, "%s: %s\n", path, err);
    goto out;
  }
  rc = 0;
out:
  free(buf);
  return rc;
}

#ifdef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
/* Test build only (tests/integration/CMakeLists.txt: outpost-agent-nocheck,
 * never shipped). Proves the kernel's walls by themselves: these probes call
 * the OS directly, so no user-space path or policy check stands in the way.
 *
 * OUTPOST_TEST_NET=PORT (after Landlock, before seccomp, which would refuse
 * bind first with EPERM): bind a TCP port, and connect to 127.0.0.1:PORT and
 * to the cloud's port. OUTPOST_TEST_OPEN=PATH[:PATH...] and
 * OUTPOST_TEST_WRITE=PATH (after both): open for reading / create.
 * OUTPOST_TEST_ABSTRACT=NAME (after both): connect to the abstract Unix
 * socket "\0NAME" made by someone outside the agent's Landlock domain. One
 * line per probe on stdout: "sandbox-probe WHAT: ok" or "...: refused (error)". */
static void probe_line(const char *what, const char *arg, int e) {
  printf("sandbox-probe %s %s: %s%s%s%s\n", what, arg, e ? "refused" : "ok", e ? " (" : "",
         e ? strerror(e) : "", e ? ")" : "");
  fflush(stdout);
}

static int tcp_connect_errno(int port) {
  struct sockaddr_in a;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;
  if (s < 0) return errno;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  e = connect(s, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
  close(s);
  return e;
}

static void test_probe_net(const agent_config *cfg) {
  const char *v = getenv("OUTPOST_TEST_NET");
  if (!v) return;
  struct sockaddr_in a;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  probe_line("bind", "tcp 127.0.0.1:0", bind(s, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno);
  if (s >= 0) close(s);
  probe_line("connect", v, tcp_connect_errno((int)strtol(v, NULL, 10)));
  const char *colon = strrchr(cfg->cloud_url, ':');
  int cloud = colon && colon[1] >= '0' && colon[1] <= '9' ? (int)strtol(colon + 1, NULL, 10) : 443;
  char what[32];
  snprintf(what, sizeof what, "%d (cloud)", cloud);
  probe_line("connect", what, tcp_connect_errno(cloud));
}

static int test_probe_files(void) {
  const char *v = getenv("OUTPOST_TEST_OPEN"), *w = getenv("OUTPOST_TEST_WRITE");
  const char *ab = getenv("OUTPOST_TEST_ABSTRACT");
  if (!v && !w && !ab) return 0;
  char list[4096];
  snprintf(list, sizeof list, "%s", v ? v : "");
  for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    probe_line("open", p, fd >= 0 ? 0 : errno);
    if (fd >= 0) close(fd);
  }
  if (w) {
    int fd = open(w, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    probe_line("create", w, fd >= 0 ? 0 : errno);
    if (fd >= 0) close(fd);
  }
  if (ab) {
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    size_t n = strnlen(ab, sizeof un.sun_path - 2);
    memcpy(un.sun_path + 1, ab, n);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int e = s < 0 ? errno
            : connect(s, (struct sockaddr *)&un, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == 0
                ? 0
                : errno;
    if (s >= 0) close(s);
    probe_line("connect", "abstract unix", e);
  }
  return 1;
}
#endif

static int cmd_check_config(const char *path) {
  agent_config cfg;
  char *text;
  if (load_config(path, &cfg) != 0) return 1;
  text = malloc(EXPLAIN_CAP);
  if (!text) return 1;
  config_explain(&cfg, text, EXPLAIN_CAP);
  fputs(text, stdout);
  free(text);
  return 0;
}

static int cmd_run(const char *path) {
  agent_config cfg;
  os_posix px;
  os_posix_options po;
  os_shim os;
  net_curl_options no;
  net_curl *nc = NULL;
  net_shim net;
  agent *a = NULL;
  struct sigaction sa;
  char err[512];
  int wait_failures = 0, rc;

  if (load_config(path, &cfg) != 0) return 1;
  /* Lowest priority first: every thread made later (curl's resolver)
   * inherits it. */
  if (sandbox_lower_priority(cfg.cpu_sched == CONFIG_CPU_SCHED_BATCH   ? SANDBOX_CPU_BATCH
                             : cfg.cpu_sched == CONFIG_CPU_SCHED_OTHER ? SANDBOX_CPU_OTHER
                                                                       : SANDBOX_CPU_IDLE,
                             cfg.io_sched == CONFIG_IO_SCHED_BEST_EFFORT ? SANDBOX_IO_BEST_EFFORT
                                                                         : SANDBOX_IO_IDLE,
                             err, sizeof err) != 0)
    fprintf(stderr, "%s: warning: cannot set the configured priority: %s\n", path, err);
  os_posix_options_init(&po);
  if (cfg.log_level >= OS_LOG_DEBUG && cfg.log_level <= OS_LOG_ERROR)
    po.log_level = (os_log_level)cfg.log_level;
  if (cfg.machine_id_file[0]) po.machine_id_path = cfg.machine_id_file;
  if (cfg.product_uuid_file[0]) po.product_uuid_path = cfg.product_uuid_file;
  if (os_posix_init(&os, &px, &po) != OS_OK) {
    fprintf(stderr, "%s: cannot set up the os shim\n", path);
    return 1;
  }

  net_curl_options_init(&no);
  no.ca_file = cfg.ca_file[0] ? cfg.ca_file : NULL;
  /* The agent only speaks TLS (NET-1): config_parse refuses http://, and the
   * plain-HTTP loopback mode of net_curl stays off in the agent. */
  no.allow_plain_http_loopback = 0;
  /* Config proxy first; otherwise libcurl reads HTTPS_PROXY/NO_PROXY itself. */
  no.proxy = cfg.proxy[0] ? cfg.proxy : NULL;
  no.proxy_ca_file = cfg.proxy_ca_file[0] ? cfg.proxy_ca_file : NULL;
  no.no_proxy = cfg.no_proxy[0] ? cfg.no_proxy : NULL;
  /* The shipping window's batches, one other request of the agent's, and
   * the updater's (issue #14): a window the transport cannot carry would
   * come back as NET_EBUSY and a back-off. */
  no.max_in_flight = (unsigned)cfg.ship_window + 2;
  if ((rc = net_curl_create(&no, &nc)) != NET_OK) {
    fprintf(stderr, "%s: cannot set up HTTPS (%s)\n", path,
            rc == NET_EINVAL ? "ca_file missing or unreadable" : "libcurl initialisation failed");
    return 1;
  }
  net_curl_shim(nc, &net);

  /* The core has no globals: the compiled-in release key reaches the updater
   * through the config (issue #6). */
  snprintf(cfg.update_release_key_pem, sizeof cfg.update_release_key_pem, "%s", OUTPOST_RELEASE_PUBKEY_PEM);
  if (agent_open(&cfg, &os, &net, &a, err, sizeof err) != AGENT_OK) {
    fprintf(stderr, "%s: %s\n", path, err);
    net_curl_destroy(nc);
    return 1;
  }

  /* issue 13: the kernel's walls. Landlock first: its system calls are not
   * in the seccomp allowlist. Where the kernel has no Landlock the agent
   * runs and says so (log, status.json); a ruleset that cannot be built on a
   * kernel that has it is a bug, and the agent refuses to run unconfined. */
  char ll_status[LANDLOCK_STATUS_MAX], sc_status[64];
  landlock_spec *ls = malloc(sizeof *ls); /* 64 KiB of paths: not on the stack */
  rc = ls ? landlock_spec_from_config(&cfg, ls, err, sizeof err) : LANDLOCK_EFULL;
  if (rc == LANDLOCK_OK) rc = landlock_apply(ls, ll_status, sizeof ll_status);
  else snprintf(ll_status, sizeof ll_status, "failed: %.80s", ls ? err : "out of memory");
  free(ls);
  if (rc != LANDLOCK_OK && rc != LANDLOCK_UNAVAILABLE) {
    fprintf(stderr, "%s: landlock %s\n", path, ll_status);
    agent_close(a);
    net_curl_destroy(nc);
    return 1;
  }
  {
    char msg[LANDLOCK_STATUS_MAX + 64];
    snprintf(msg, sizeof msg, "landlock: %s%s", ll_status,
             rc == LANDLOCK_OK ? "" : "; running without it");
    os.log(os.ctx, rc == LANDLOCK_OK ? OS_LOG_INFO : OS_LOG_WARN, msg);
  }
#ifdef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
  test_probe_net(&cfg);
#endif

  /* From here on the agent can neither accept a connection nor run code. */
  int n_allowed = 0;
  if (sandbox_install_seccomp(&n_allowed, err, sizeof err) != 0) {
    fprintf(stderr, "%s: cannot install the seccomp filter: %s\n", path, err);
    agent_close(a);
    net_curl_destroy(nc);
    return 1;
  }
  snprintf(sc_status, sizeof sc_status, "allowlist (%d syscalls)", n_allowed);
  agent_set_sandbox_status(a, ll_status, sc_status);
#ifdef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
  if (test_probe_files()) {
    agent_close(a);
    net_curl_destroy(nc);
    return 0;
  }
#endif
  if (getenv("OUTPOST_SECCOMP_SELFTEST")) { /* test hook: prove it inside the running agent */
    int bad = sandbox_selftest(2, NULL);
    os.log(os.ctx, bad ? OS_LOG_ERROR : OS_LOG_INFO,
           bad ? "seccomp self-test: some calls were NOT refused"
               : "seccomp self-test: every forbidden call refused");
  }

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  /* TLS libraries can write to a closed socket; that must be an error
   * return, not a fatal signal. */
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);

  char started[64];
  snprintf(started, sizeof started, "outpost-agent %s started", outpost_version);
  os.log(os.ctx, OS_LOG_INFO, started);
  if (sizeof OUTPOST_RELEASE_PUBKEY_PEM <= 1)
    os.log(os.ctx, OS_LOG_WARN, "no release key compiled in: updates refused");
  rc = 0;
  int64_t next_status = 0;
  /* issue #6: a version on probation proves health once it has checked in
   * and had a batch acknowledged; the supervisor reads update/health.json. */
  int owe_health = upstate_probation_for(&os, cfg.state_dir, outpost_version);
  int probation_noted = 0;
  while (!g_stop) {
    int64_t now = os.mono_ms(os.ctx);
    int64_t cpu0 = -1, cpu1 = -1;
    os.self_cpu_ms(os.ctx, &cpu0);
    int64_t wait = agent_step(a, now) - now;
    /* issue #14: how long one step held the loop (no request, no signal
     * check meanwhile), for the status file and the benchmark. */
    os.self_cpu_ms(os.ctx, &cpu1);
    agent_note_step(a, os.mono_ms(os.ctx) - now, cpu0 >= 0 && cpu1 >= cpu0 ? cpu1 - cpu0 : -1);
    if (agent_exit_code(a)) { /* an update is staged: the supervisor takes over */
      rc = agent_exit_code(a);
      os.log(os.ctx, OS_LOG_INFO, "exiting for the supervisor to install the staged update");
      break;
    }
    if (owe_health) {
      agent_stats st;
      agent_get_stats(a, &st);
      if (st.checkins > 0 && st.batches_acked == 0 && !probation_noted) {
        /* One record announces the version under test: operators see it in
         * their stream, and a quiet host has something to ship before the
         * deadline, so a good version is not rolled back for want of logs. */
        char line[160];
        snprintf(line, sizeof line, "{\"outpost\":\"probation\",\"version\":\"%s\"}",
                 outpost_version);
        probation_noted = agent_self_record(a, line) == AGENT_OK;
        if (!probation_noted) os.log(os.ctx, OS_LOG_WARN, "probation: cannot spool the probation record");
      }
      if (st.checkins > 0 && st.batches_acked > 0) {
        int hrc = upstate_report_healthy(&os, cfg.state_dir, outpost_version, os.wall_ms(os.ctx));
        os.log(os.ctx, hrc >= 0 ? OS_LOG_INFO : OS_LOG_WARN,
               hrc >= 0 ? "probation: checked in and shipped; health reported"
                        : "probation: cannot write update/health.json");
        owe_health = 0;
      }
    }
    if (now >= next_status) {
      int src = statusfile_write(&os, a, cfg.state_dir, cfg.metrics_textfile, os.wall_ms(os.ctx));
      if (src != OS_OK && next_status == 0)
        os.log(os.ctx, OS_LOG_WARN, "cannot write the status file");
      next_status = now + STATUS_EVERY_MS;
    }
    if (wait < 0) wait = 0;
    if (wait > WAIT_MAX_MS) wait = WAIT_MAX_MS;
    if (net_curl_wait(nc, wait) < 0) {
      if (++wait_failures >= WAIT_FAILURES_MAX) {
        os.log(os.ctx, OS_LOG_ERROR, "network loop failed repeatedly; exiting");
        rc = 1;
        break;
      }
    } else {
      wait_failures = 0;
    }
    /* Completions fired inside net_curl_wait: the next iteration's
     * agent_step lets the agent act on them right away. */
  }
  statusfile_write(&os, a, cfg.state_dir, cfg.metrics_textfile, os.wall_ms(os.ctx));
  agent_close(a);
  net_curl_destroy(nc);
  os.log(os.ctx, OS_LOG_INFO, "stopped");
  return rc;
}

/* Prints state_dir/status.json as "key  value" lines. Exit 0 when the file
 * is there and fresh, 1 when missing, unreadable or stale. */
static int cmd_status(const char *path) {
  agent_config cfg;
  char file[CONFIG_PATH_MAX + 32], buf[STATUSFILE_MAX + 1];
  if (load_config(path, &cfg) != 0) return 1;
  snprintf(file, sizeof file, "%s/%s", cfg.state_dir, STATUSFILE_NAME);
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    fprintf(stderr, "%s: %s (is the agent running?)\n", file, strerror(errno));
    return 1;
  }
  ssize_t n = read(fd, buf, STATUSFILE_MAX);
  close(fd);
  cJSON *o = n > 0 ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    fprintf(stderr, "%s: not a status file\n", file);
    return 1;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, o) {
    if (cJSON_IsString(it)) printf("%-28s %s\n", it->string, it->valuestring);
    else if (cJSON_IsNumber(it)) printf("%-28s %.0f\n", it->string, it->valuedouble);
  }
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "updated_ms");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double now_ms = (double)ts.tv_sec * 1000 + ts.tv_nsec / 1e6;
  int stale = !cJSON_IsNumber(u) || now_ms - u->valuedouble > STATUS_STALE_MS;
  if (stale) printf("%-28s %s\n", "note", "status is stale: the agent is not running or is stuck");
  cJSON_Delete(o);
  return stale ? 1 : 0;
}

static int cmd_supervise(const char *path) {
  agent_config cfg;
  os_posix px;
  os_posix_options po;
  os_shim os;
  supervise_options so;
  struct sigaction sa;
  if (load_config(path, &cfg) != 0) return 1;
  os_posix_options_init(&po);
  if (cfg.log_level >= OS_LOG_DEBUG && cfg.log_level <= OS_LOG_ERROR)
    po.log_level = (os_log_level)cfg.log_level;
  if (os_posix_init(&os, &px, &po) != OS_OK) {
    fprintf(stderr, "%s: cannot set up the os shim\n", path);
    return 1;
  }
  /* No SA_RESTART: the signal must cut the supervisor's sleeps short. */
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  supervise_options_init(&so);
  so.os = &os;
  so.state_dir = cfg.state_dir;
  so.config_path = path;
  so.self_version = outpost_version;
  so.pubkey = OUTPOST_RELEASE_PUBKEY_PEM;
  so.pubkey_len = sizeof OUTPOST_RELEASE_PUBKEY_PEM - 1;
  so.probation_ms = cfg.update_probation_ms;
  so.crash_loop_max = cfg.update_crash_loop_max;
  so.crash_window_ms = cfg.update_crash_window_ms;
  so.stop = &g_stop;
  return supervise_run(&so);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("outpost-agent %s\n", outpost_version);
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "selftest-seccomp") == 0) {
    char err[256];
    sandbox_probe early;
    int n = 0;
    /* A thread from before the filter: it must be filtered too (TSYNC). */
    if (sandbox_lower_priority(SANDBOX_CPU_IDLE, SANDBOX_IO_IDLE, err, sizeof err) != 0 ||
        sandbox_probe_start(&early) != 0 ||
        sandbox_install_seccomp(&n, err, sizeof err) != 0) {
      fprintf(stderr, "selftest-seccomp: %s\n", err);
      return 1;
    }
    printf("seccomp-selftest allowlist: %d system calls\n", n);
    fflush(stdout);
    return sandbox_selftest(1, &early) == 0 ? 0 : 1;
  }
  if (argc != 4 || strcmp(argv[2], "--config") != 0) return usage();
  if (strcmp(argv[1], "check-config") == 0) return cmd_check_config(argv[3]);
  if (strcmp(argv[1], "run") == 0) return cmd_run(argv[3]);
  if (strcmp(argv[1], "status") == 0) return cmd_status(argv[3]);
  if (strcmp(argv[1], "supervise") == 0) return cmd_supervise(argv[3]);
  return usage();
}
