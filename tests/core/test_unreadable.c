/* Logs an operator can read (issue #17): a source that cannot be read is
 * polled every poll_interval_ms (a refused one every GUARD_RECHECK_MS), but
 * the log says it once when it changes, a summary every
 * unreadable_summary_ms while it lasts, once when the reason changes, and
 * once when the file is readable again. Before #17 an unreadable file wrote
 * one warning per poll (86,400 a day at the default 1 s) and a refused one
 * was said once and never again, not even when it came back.
 *
 * A whole agent on the simulator's fs; the os shim's open is wrapped so the
 * source's open fails with whatever error the test chooses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/agent.h"
#include "core/config.h"
#include "core/tail.h"
#include "sim_fs.h"
#include "sim_os.h"

#define SRC "/var/log/app.log"
#define HOUR INT64_C(3600000)

typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
  int (*real_open)(void *ctx, const char *path, int flags, uint32_t mode, os_file **out);
  int fail_with; /* 0: SRC opens; else what its open returns */
  /* log lines naming SRC, by kind */
  int64_t warn, unreadable, summaries, reason_changed, readable_again, other;
  char last_summary[512];
} fx;

static fx *F; /* the test's own fixture: the wrapped open has only the sim's ctx */

static int failing_open(void *ctx, const char *path, int flags, uint32_t mode, os_file **out) {
  if (F->fail_with && strcmp(path, SRC) == 0) return F->fail_with;
  return F->real_open(ctx, path, flags, mode, out);
}

static void sink(void *user, os_log_level level, const char *msg) {
  fx *f = user;
  if (!strstr(msg, SRC)) return;
  if (level == OS_LOG_WARN) f->warn++;
  if (strstr(msg, "still unreadable since")) {
    f->summaries++;
    snprintf(f->last_summary, sizeof f->last_summary, "%s", msg);
  } else if (strstr(msg, "for another reason now")) {
    f->reason_changed++;
  } else if (strstr(msg, "readable again")) {
    f->readable_again++;
  } else if (strstr(msg, "unreadable:")) {
    f->unreadable++;
  } else {
    if (f->other++ == 0) print_message("other: %s\n", msg);
  }
}

static void write_lines(fx *f, int from, int n) {
  char line[64];
  for (int i = from; i < from + n; i++) {
    int len = snprintf(line, sizeof line, "line %06d\n", i);
    assert_int_equal(sim_fs_append(f->fs, SRC, line, (size_t)len, 1), OS_OK);
  }
}

static int fake_request(void *ctx, const net_request *req, net_done_fn done, void *user,
                        uint64_t *id) {
  (void)ctx, (void)req, (void)done, (void)user;
  *id = 1; /* never answers: collection does not wait for the network */
  return NET_OK;
}
static void fake_cancel(void *ctx, uint64_t id) { (void)ctx, (void)id; }

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  F = f;
  sim_rng_seed(&f->rng, 1, 1);
  assert_int_equal(sim_fs_create(1, 256ULL << 20, NULL, NULL, &f->fs), OS_OK);
  assert_int_equal(sim_fs_mkdirs(f->fs, "/var/lib/outpost", 0700), OS_OK);
  assert_int_equal(sim_fs_mkdirs(f->fs, "/var/log", 0755), OS_OK);
  sim_os_init(&f->so, &f->now, 0, &f->rng, f->fs, "h", "m");
  f->so.log_sink = sink;
  f->so.log_user = f;
  sim_os_shim(&f->so, &f->os);
  f->real_open = f->os.open;
  f->os.open = failing_open;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  sim_fs_free(f->fs);
  free(f);
  F = NULL;
  return 0;
}

static agent *open_agent(fx *f) {
  agent_config cfg;
  config_defaults(&cfg);
  snprintf(cfg.cloud_url, sizeof cfg.cloud_url, "https://cloud.test");
  snprintf(cfg.ca_file, sizeof cfg.ca_file, "/ca.pem");
  snprintf(cfg.enrollment_token, sizeof cfg.enrollment_token, "tok");
  snprintf(cfg.state_dir, sizeof cfg.state_dir, "/var/lib/outpost");
  snprintf(cfg.sources[0].path, sizeof cfg.sources[0].path, SRC);
  cfg.sources[0].start = CONFIG_START_BEGINNING;
  cfg.n_sources = 1;
  cfg.poll_interval_ms = 1000; /* the default: one poll a second */
  assert_int_equal(cfg.unreadable_summary_ms, HOUR); /* the default period */
  cfg.log_level = OS_LOG_DEBUG;
  static const net_shim net = {NULL, fake_request, fake_cancel};
  agent *a = NULL;
  char err[256];
  assert_int_equal(agent_open(&cfg, &f->os, &net, &a, err, sizeof err), AGENT_OK);
  return a;
}

static int64_t produced(agent *a) {
  agent_stats st;
  agent_get_stats(a, &st);
  return st.produced;
}

/* Steps the agent at its own deadlines until `until` (virtual ms); counts
 * the polls (steps at or after a poll interval since the last). */
static void run_until(fx *f, agent *a, int64_t until, int64_t *next) {
  while (*next <= until) {
    f->now = *next;
    *next = agent_step(a, f->now);
  }
}

/* An OS error on every poll for 5.5 hours (19,800 polls), its reason
 * changing once midway: one line at the change, one summary an hour, one
 * for the new reason, one when it is readable again; nothing lost. */
static void unreadable_said_once_then_hourly(void **state) {
  fx *f = *state;
  write_lines(f, 0, 10);
  agent *a = open_agent(f);
  int64_t next = 1000;
  run_until(f, a, 10000, &next);
  assert_int_equal(produced(a), 10);
  assert_int_equal(f->warn, 0);

  f->fail_with = OS_EIO;
  int64_t t0 = next; /* the first failed poll */
  write_lines(f, 10, 5); /* waits on disk meanwhile */
  run_until(f, a, t0 + HOUR - 1, &next);
  assert_int_equal(f->warn, 1); /* before #17: 3,600, one per poll */
  assert_int_equal(f->unreadable, 1);
  assert_int_equal(f->summaries, 0);
  run_until(f, a, t0 + HOUR, &next);
  assert_int_equal(f->summaries, 1);
  assert_non_null(strstr(f->last_summary, "still unreadable since 2025-11-29T00:00:1"));
  assert_non_null(strstr(f->last_summary, "(3600 s)"));
  assert_non_null(strstr(f->last_summary, "3601 polls failed"));
  run_until(f, a, t0 + 2 * HOUR + HOUR / 2, &next);
  assert_int_equal(f->summaries, 2);

  f->fail_with = OS_ENOMEM; /* another reason: said once */
  run_until(f, a, t0 + 5 * HOUR + HOUR / 2, &next);
  assert_int_equal(f->reason_changed, 1);
  assert_int_equal(f->summaries, 5); /* 1 h, 2 h, 3 h, 4 h, 5 h: the grid holds */
  assert_int_equal(f->unreadable, 1);
  assert_int_equal(f->readable_again, 0);
  assert_int_equal(f->warn, 1 + 1 + 5); /* not 19,800 */
  assert_int_equal(f->other, 0);
  assert_int_equal(produced(a), 10);

  f->fail_with = 0;
  int64_t back = next;
  run_until(f, a, back + 60000, &next);
  assert_int_equal(f->readable_again, 1);
  assert_int_equal(produced(a), 15); /* the lines written meanwhile, read now */
  assert_int_equal(f->warn, 7);

  /* A second episode starts afresh: said once again. */
  f->fail_with = OS_EIO;
  run_until(f, a, next + 10 * 60000, &next);
  assert_int_equal(f->unreadable, 2);
  assert_int_equal(f->summaries, 5);
  agent_close(a);
}

/* Refused by the kernel (EACCES: modes or Landlock): checked again every
 * GUARD_RECHECK_MS; the same rule, and a line when it is readable again. */
static void refused_said_once_then_hourly(void **state) {
  fx *f = *state;
  write_lines(f, 0, 3);
  f->fail_with = OS_EACCES;
  agent *a = open_agent(f);
  int64_t next = 1000;
  run_until(f, a, 3 * HOUR + 1000, &next);
  assert_int_equal(f->warn, 4); /* before #17: 1, then silence */
  assert_int_equal(f->unreadable, 1);
  assert_int_equal(f->summaries, 3);
  assert_non_null(strstr(f->last_summary, "permission denied"));
  assert_int_equal(produced(a), 0);
  f->fail_with = 0;
  run_until(f, a, next + 60000, &next);
  assert_int_equal(f->readable_again, 1);
  assert_int_equal(produced(a), 3);
  assert_int_equal(f->other, 0);
  agent_close(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(unreadable_said_once_then_hourly, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_said_once_then_hourly, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
