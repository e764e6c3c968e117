/* Snapshot deltas on the simulator's fs: a process start and stop and a
 * package upgrade, install and removal give exactly the right records; an
 * unchanged host gives none; a truncated snapshot leaves no base; 5,000
 * packages keep the tracker's heap bounded. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/collect.h"
#include "core/jread.h"
#include "core/pstate.h"
#include "core/snapdelta.h"
#include "core/spool.h"
#include "sim_fs.h"
#include "sim_os.h"
#include "sim_rng.h"

#define MAX_LINES 64
typedef struct lines {
  int n;
  char l[MAX_LINES][COLLECT_LINE_MAX];
} lines;

static int on_line(void *user, const char *line, size_t len) {
  lines *s = user;
  cJSON *o = cJSON_ParseWithLength(line, len);
  assert_non_null(o); /* every record is JSON */
  cJSON_Delete(o);
  if (s->n < MAX_LINES) snprintf(s->l[s->n], sizeof s->l[0], "%.*s", (int)len, line);
  s->n++;
  return 0;
}

static int count_lines(void *user, const char *line, size_t len) {
  (*(int64_t *)user)++;
  return 0;
}

typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
  int pids[8];
  int n_pids;
} fx;
static fx F;

/* The sim fs lists no directories: the test lists its fake /proc itself. */
static int list_proc(void *ctx, const char *dir, size_t max,
                     int (*fn)(void *user, const char *name), void *user) {
  int calls = 0;
  if (strcmp(dir, "/proc") != 0) return OS_ENOENT;
  for (int i = 0; i < F.n_pids && (size_t)calls < max; i++) {
    char name[16];
    snprintf(name, sizeof name, "%d", F.pids[i]);
    calls++;
    if (fn(user, name)) break;
  }
  return calls;
}

static void put_file(const char *path, const char *text) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = 0;
  if (dir[0]) assert_int_equal(sim_fs_mkdirs(F.fs, dir, 0755), OS_OK);
  sim_fs_unlink(F.fs, path);
  assert_int_equal(sim_fs_append(F.fs, path, text, strlen(text), 1), OS_OK);
}

static void add_proc(int pid, const char *comm, long start_ticks) {
  char dir[64], path[96], text[512];
  snprintf(dir, sizeof dir, "/proc/%d", pid);
  assert_int_equal(sim_fs_mkdirs(F.fs, dir, 0755), OS_OK);
  snprintf(path, sizeof path, "%s/stat", dir);
  snprintf(text, sizeof text,
           "%d (%s) S 1 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 %ld 1000 100\n", pid, comm,
           start_ticks);
  put_file(path, text);
  snprintf(path, sizeof path, "%s/status", dir);
  put_file(path, "Name:\tx\nUid:\t0\t0\t0\t0\nVmRSS:\t  1234 kB\n");
  snprintf(path, sizeof path, "%s/cmdline", dir);
  put_file(path, comm);
  F.pids[F.n_pids++] = pid;
}

static int setup(void **state) {
  memset(&F, 0, sizeof F);
  sim_rng_seed(&F.rng, 1, 1);
  if (sim_fs_create(1, 256ULL << 20, NULL, NULL, &F.fs) != OS_OK) return -1;
  sim_os_init(&F.so, &F.now, 0, &F.rng, F.fs, "h", "m");
  sim_os_shim(&F.so, &F.os);
  F.os.list_dir = list_proc;
  return 0;
}
static int teardown(void **state) {
  sim_fs_free(F.fs);
  return 0;
}

static const collect_roots roots = {.proc = "/proc", .sys = "/sys", .run = "/run",
                                    .dpkg_status = "/dpkg/status"};

/* One pass of kind through d into out. */
static void pass(snapdelta *d, policy_snapshot kind, int delta, lines *out) {
  memset(out, 0, sizeof *out);
  assert_int_equal(snapdelta_begin(d, delta, on_line, out), SNAPDELTA_OK);
  int rc = collect_snapshot(kind, &F.os, &roots, 1000, snapdelta_line, d, NULL);
  assert_int_equal(snapdelta_end(d, rc == COLLECT_OK, NULL, NULL, NULL), SNAPDELTA_OK);
}

static void process_start_and_stop(void **state) {
  put_file("/proc/stat", "cpu 1 2 3\nbtime 1700000000\n");
  add_proc(1, "init", 100);
  add_proc(200, "sshd", 500);
  snapdelta *d = NULL;
  assert_int_equal(snapdelta_new(POLICY_SNAP_PROCESSES, 1000, &d), SNAPDELTA_OK);
  lines out;
  assert_int_equal(snapdelta_begin(d, 1, on_line, &out), SNAPDELTA_EINVAL); /* no base yet */
  pass(d, POLICY_SNAP_PROCESSES, 0, &out);
  assert_int_equal(out.n, 3); /* full: 2 processes + summary, unchanged */
  assert_non_null(strstr(out.l[0], "{\"snapshot\":\"processes\""));
  assert_true(snapdelta_has_base(d));

  /* Nothing changed but RSS (volatile): no change record. */
  put_file("/proc/200/status", "Name:\tx\nUid:\t0\t0\t0\t0\nVmRSS:\t  9999 kB\n");
  pass(d, POLICY_SNAP_PROCESSES, 1, &out);
  assert_int_equal(out.n, 1);
  assert_non_null(strstr(out.l[0], "\"added\":0,\"changed\":0,\"removed\":0,\"items\":2"));

  /* sshd (200) stops, nginx (300) starts. */
  F.n_pids = 1;
  add_proc(300, "nginx", 900);
  pass(d, POLICY_SNAP_PROCESSES, 1, &out);
  assert_int_equal(out.n, 3);
  assert_non_null(strstr(out.l[0], "{\"delta\":\"processes\",\"change\":\"added\",\"pid\":300,"));
  assert_non_null(strstr(out.l[0], "\"name\":\"nginx\""));
  assert_string_equal(out.l[1],
                      "{\"delta\":\"processes\",\"change\":\"removed\",\"pid\":200,"
                      "\"start_s\":1700000005}");
  assert_non_null(strstr(out.l[2], "\"added\":1,\"changed\":0,\"removed\":1,\"items\":2"));

  /* pid 300 reused by a new process (other start time): removed + added. */
  F.n_pids = 1;
  add_proc(300, "nginx", 1200);
  pass(d, POLICY_SNAP_PROCESSES, 1, &out);
  assert_int_equal(out.n, 3);
  assert_non_null(strstr(out.l[0], "\"change\":\"added\",\"pid\":300,"));
  assert_non_null(strstr(out.l[1], "\"change\":\"removed\",\"pid\":300,\"start_s\":1700000009}"));
  snapdelta_free(d);
}

static const char *pkg(char *buf, size_t cap, const char *name, const char *ver) {
  snprintf(buf, cap,
           "Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n",
           name, ver);
  return buf;
}

static void package_change(void **state) {
  char a[256], b[256], c[256], all[1024];
  snprintf(all, sizeof all, "%s%s", pkg(a, sizeof a, "bash", "5.2-1"),
           pkg(b, sizeof b, "curl", "7.88-1"));
  assert_int_equal(sim_fs_mkdirs(F.fs, "/dpkg", 0755), OS_OK);
  put_file("/dpkg/status", all);
  snapdelta *d = NULL;
  assert_int_equal(snapdelta_new(POLICY_SNAP_PACKAGES, 1000, &d), SNAPDELTA_OK);
  lines out;
  pass(d, POLICY_SNAP_PACKAGES, 0, &out);
  assert_int_equal(out.n, 3);
  /* curl upgraded, bash removed, zstd installed. */
  snprintf(all, sizeof all, "%s%s", pkg(b, sizeof b, "curl", "7.88-2"),
           pkg(c, sizeof c, "zstd", "1.5"));
  put_file("/dpkg/status", all);
  pass(d, POLICY_SNAP_PACKAGES, 1, &out);
  assert_int_equal(out.n, 4);
  assert_string_equal(out.l[0], "{\"delta\":\"packages\",\"change\":\"changed\",\"name\":\"curl\","
                                "\"version\":\"7.88-2\",\"arch\":\"amd64\",\"source\":\"dpkg\"}");
  assert_string_equal(out.l[1], "{\"delta\":\"packages\",\"change\":\"added\",\"name\":\"zstd\","
                                "\"version\":\"1.5\",\"arch\":\"amd64\",\"source\":\"dpkg\"}");
  assert_string_equal(out.l[2],
                      "{\"delta\":\"packages\",\"change\":\"removed\",\"name\":\"bash\","
                      "\"arch\":\"amd64\",\"source\":\"dpkg\"}");
  assert_string_equal(out.l[3], "{\"delta\":\"packages\",\"summary\":true,\"added\":1,"
                                "\"changed\":1,\"removed\":1,\"items\":2,\"truncated\":false,"
                                "\"available\":true}");
  /* The dpkg database vanishes: "not available", no removals, no base. */
  assert_int_equal(sim_fs_unlink(F.fs, "/dpkg/status"), OS_OK);
  pass(d, POLICY_SNAP_PACKAGES, 1, &out);
  assert_int_equal(out.n, 1);
  assert_non_null(strstr(out.l[0], "\"removed\":0,\"items\":0,\"truncated\":false,"
                                   "\"available\":false"));
  assert_false(snapdelta_has_base(d));
  snapdelta_free(d);
}

static void interfaces_from_sim(void **state) {
  snapdelta *d = NULL;
  lines out;
  assert_int_equal(snapdelta_new(POLICY_SNAP_INTERFACES, 1000, &d), SNAPDELTA_OK);
  memset(&out, 0, sizeof out);
  assert_int_equal(snapdelta_begin(d, 0, on_line, &out), SNAPDELTA_OK);
  /* NULL roots: the sim's fixed addresses through list_addrs. */
  assert_int_equal(collect_snapshot(POLICY_SNAP_INTERFACES, &F.os, NULL, 1000, snapdelta_line,
                                    d, NULL),
                   COLLECT_OK);
  assert_int_equal(snapdelta_end(d, 1, NULL, NULL, NULL), SNAPDELTA_OK);
  assert_int_equal(out.n, 5);
  assert_string_equal(out.l[0],
                      "{\"snapshot\":\"interfaces\",\"name\":\"lo\",\"ipv4\":\"127.0.0.1\","
                      "\"prefix\":8}");
  assert_string_equal(out.l[2], "{\"snapshot\":\"interfaces\",\"name\":\"lo\",\"ipv6\":\"::1\","
                                "\"prefix\":128}");
  snapdelta_free(d);
}

static void truncated_leaves_no_base(void **state) {
  char a[256], all[4096] = "";
  for (int i = 0; i < 12; i++) {
    char n[16];
    snprintf(n, sizeof n, "p%d", i);
    strncat(all, pkg(a, sizeof a, n, "1"), sizeof all - strlen(all) - 1);
  }
  put_file("/dpkg/status", all);
  snapdelta *d = NULL;
  assert_int_equal(snapdelta_new(POLICY_SNAP_PACKAGES, 10, &d), SNAPDELTA_OK);
  lines out;
  memset(&out, 0, sizeof out);
  snapdelta_begin(d, 0, on_line, &out);
  collect_snapshot(POLICY_SNAP_PACKAGES, &F.os, &roots, 10, snapdelta_line, d, NULL);
  snapdelta_end(d, 1, NULL, NULL, NULL);
  assert_false(snapdelta_has_base(d));
  snapdelta_free(d);
}

/* One pass over hand-written package lines (rpm keeps several versions of
 * one name and arch). */
static void pass_of(snapdelta *d, int delta, const char *const *vers, int n, lines *out) {
  memset(out, 0, sizeof *out);
  assert_int_equal(snapdelta_begin(d, delta, on_line, out), SNAPDELTA_OK);
  char l[256];
  for (int i = 0; i < n; i++) {
    int w = snprintf(l, sizeof l,
                     "{\"snapshot\":\"packages\",\"name\":\"kernel\",\"version\":\"%s\","
                     "\"arch\":\"x86_64\",\"source\":\"rpm\"}", vers[i]);
    snapdelta_line(d, l, (size_t)w);
  }
  static const char sum[] = "{\"snapshot\":\"packages\",\"summary\":true,\"items\":0,"
                            "\"truncated\":false,\"available\":true}";
  snapdelta_line(d, sum, sizeof sum - 1);
  assert_int_equal(snapdelta_end(d, 1, NULL, NULL, NULL), SNAPDELTA_OK);
}

static void repeated_keys_are_items_of_their_own(void **state) {
  snapdelta *d = NULL;
  assert_int_equal(snapdelta_new(POLICY_SNAP_PACKAGES, 100, &d), SNAPDELTA_OK);
  const char *two[] = {"6.1", "6.2"}, *three[] = {"6.1", "6.2", "6.3"}, *newer[] = {"6.2", "6.3"};
  lines out;
  pass_of(d, 0, two, 2, &out);
  assert_true(snapdelta_has_base(d));
  /* Unchanged: the summary alone, every pass (no flapping between the two). */
  for (int i = 0; i < 3; i++) {
    pass_of(d, 1, two, 2, &out);
    assert_int_equal(out.n, 1);
    assert_non_null(strstr(out.l[0], "\"added\":0,\"changed\":0,\"removed\":0,\"items\":2"));
  }
  pass_of(d, 1, three, 3, &out);
  assert_int_equal(out.n, 2);
  assert_non_null(strstr(out.l[0], "\"change\":\"added\""));
  assert_non_null(strstr(out.l[0], "\"version\":\"6.3\""));
  /* The oldest goes: by position, two changed and the third removed. */
  pass_of(d, 1, newer, 2, &out);
  assert_int_equal(out.n, 4);
  assert_non_null(strstr(out.l[2], "\"change\":\"removed\""));
  assert_non_null(strstr(out.l[2], "\"dup\":3"));
  assert_non_null(strstr(out.l[3], "\"added\":0,\"changed\":2,\"removed\":1"));
  /* More repeats than SNAPDELTA_DUP_MAX: the pass leaves no base. */
  const char *many[SNAPDELTA_DUP_MAX + 1];
  for (int i = 0; i <= SNAPDELTA_DUP_MAX; i++) many[i] = "same";
  pass_of(d, 1, many, SNAPDELTA_DUP_MAX + 1, &out);
  assert_false(snapdelta_has_base(d));
  snapdelta_free(d);
}

static void five_thousand_packages_bounded(void **state) {
  size_t cap = 5000 * 100, n = 0;
  char *all = malloc(cap);
  assert_non_null(all);
  for (int i = 0; i < 5000; i++)
    n += (size_t)snprintf(all + n, cap - n,
                          "Package: package-number-%d\nStatus: install ok installed\n"
                          "Version: 1.%d\n\n", i, i);
  sim_fs_mkdirs(F.fs, "/dpkg", 0755);
  assert_int_equal(sim_fs_append(F.fs, "/dpkg/status", all, n, 1), OS_OK);
  free(all);
  snapdelta *d = NULL;
  assert_int_equal(snapdelta_new(POLICY_SNAP_PACKAGES, 5000, &d), SNAPDELTA_OK);
  size_t before = mallinfo2().uordblks;
  for (int round = 0; round < 3; round++) {
    int64_t count = 0;
    assert_int_equal(snapdelta_begin(d, round > 0, count_lines, &count), SNAPDELTA_OK);
    collect_snapshot(POLICY_SNAP_PACKAGES, &F.os, &roots, 5000, snapdelta_line, d, NULL);
    snapdelta_end(d, 1, NULL, NULL, NULL);
    assert_int_equal(count, round == 0 ? 5001 : 1); /* full, then only the summary */
    assert_true(snapdelta_has_base(d));
  }
  size_t held = mallinfo2().uordblks - before;
  /* The base: 5,000 x (24-byte entry + ~40-byte key + index) < 1 MiB. */
  assert_true(held < (1u << 20));
  snapdelta_free(d);
}

/* ---- through pstate: full on its interval, deltas between ---------------- */

typedef struct by_src {
  int64_t full, delta, after;
  char last_delta[COLLECT_LINE_MAX];
} by_src;

static int on_row(void *user, int64_t seq, int64_t ts, const char *source, size_t source_len,
                  const char *line, size_t len) {
  by_src *b = user;
  if (seq <= b->after) return 0;
  b->after = seq;
  if (source_len == 17 && memcmp(source, "snapshot:packages", 17) == 0) b->full++;
  if (source_len == 14 && memcmp(source, "delta:packages", 14) == 0) {
    b->delta++;
    snprintf(b->last_delta, sizeof b->last_delta, "%.*s", (int)len, line);
  }
  return 0;
}

static void collect_at(pstate *ps, spool *sp, tail_buffers *tb, int64_t now, by_src *b) {
  int64_t n = 0;
  int more = 0;
  F.now = now;
  b->full = b->delta = 0;
  pstate_collect(ps, &F.os, sp, tb, now, now, &n, &more);
  assert_true(spool_scan(sp, 1000, on_row, b) >= 0);
}

static void pstate_sends_full_then_deltas(void **state) {
  char a[256], b2[256], all[1024];
  assert_int_equal(sim_fs_mkdirs(F.fs, "/var/lib/outpost", 0700), OS_OK);
  snprintf(all, sizeof all, "%s%s", pkg(a, sizeof a, "bash", "5.2-1"),
           pkg(b2, sizeof b2, "curl", "7.88-1"));
  put_file("/var/lib/dpkg/status", all);
  agent_config cfg;
  config_defaults(&cfg);
  snprintf(cfg.state_dir, sizeof cfg.state_dir, "/var/lib/outpost");
  pstate *ps = NULL;
  assert_int_equal(pstate_open(&cfg, &F.os, &ps), PSTATE_OK);
  const char *pol = "{\"version\":1,\"snapshots\":{\"packages\":{\"interval_s\":600}}}";
  assert_int_equal(pstate_offer(ps, &F.os, pol, strlen(pol), 0), PSTATE_OK);
  spool *sp = NULL;
  char err[256];
  assert_int_equal(spool_open(&F.os, "/var/lib/outpost/spool.db", &sp, err, sizeof err),
                   SPOOL_OK);
  tail_buffers tb;
  assert_int_equal(tail_buffers_init(&tb, 4096, 1024), 0);
  by_src bs = {0};
  collect_at(ps, sp, &tb, 0, &bs);
  assert_int_equal(bs.full, 3); /* 2 packages + summary */
  assert_int_equal(bs.delta, 0);
  collect_at(ps, sp, &tb, 59999, &bs); /* deltas every 600 s / 10 */
  assert_int_equal(bs.full + bs.delta, 0);
  collect_at(ps, sp, &tb, 60000, &bs);
  assert_int_equal(bs.full, 0);
  assert_int_equal(bs.delta, 1); /* nothing changed: the summary alone */
  assert_non_null(strstr(bs.last_delta, "\"added\":0,\"changed\":0,\"removed\":0"));
  snprintf(all, sizeof all, "%s", pkg(a, sizeof a, "bash", "5.2-2"));
  put_file("/var/lib/dpkg/status", all);
  collect_at(ps, sp, &tb, 120000, &bs);
  assert_int_equal(bs.delta, 3); /* bash changed, curl removed, summary */
  assert_non_null(strstr(bs.last_delta, "\"added\":0,\"changed\":1,\"removed\":1"));
  collect_at(ps, sp, &tb, 600000, &bs); /* the full snapshot on its interval */
  assert_int_equal(bs.full, 2);
  assert_int_equal(bs.delta, 0);
  pstate_info info;
  pstate_get_info(ps, &info);
  assert_int_not_equal(info.journal_state, JREAD_OFF);
  /* The policy sets the cadence of changes (and can turn the journal off). */
  const char *pol2 = "{\"version\":2,\"snapshots\":{\"packages\":{\"interval_s\":600,"
                     "\"delta_interval_s\":30}},\"journal\":{\"enabled\":false}}";
  assert_int_equal(pstate_offer(ps, &F.os, pol2, strlen(pol2), 600001), PSTATE_OK);
  collect_at(ps, sp, &tb, 600001, &bs); /* a new policy: a full snapshot at once */
  assert_int_equal(bs.full, 2);
  collect_at(ps, sp, &tb, 630000, &bs);
  assert_int_equal(bs.full + bs.delta, 0);
  collect_at(ps, sp, &tb, 630001, &bs);
  assert_int_equal(bs.delta, 1);
  pstate_get_info(ps, &info);
  assert_int_equal(info.journal_state, JREAD_OFF);
  const char *pol3 = "{\"version\":3,\"snapshots\":{\"packages\":{\"interval_s\":600,"
                     "\"delta_interval_s\":0}}}";
  assert_int_equal(pstate_offer(ps, &F.os, pol3, strlen(pol3), 700000), PSTATE_OK);
  collect_at(ps, sp, &tb, 700000, &bs);
  assert_int_equal(bs.full, 2);
  for (int64_t t = 710000; t < 1300000; t += 10000) {
    collect_at(ps, sp, &tb, t, &bs);
    assert_int_equal(bs.delta, 0); /* no changes between full snapshots */
  }
  tail_buffers_free(&tb);
  spool_close(sp);
  pstate_close(ps);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(process_start_and_stop, setup, teardown),
      cmocka_unit_test_setup_teardown(package_change, setup, teardown),
      cmocka_unit_test_setup_teardown(interfaces_from_sim, setup, teardown),
      cmocka_unit_test_setup_teardown(truncated_leaves_no_base, setup, teardown),
      cmocka_unit_test_setup_teardown(repeated_keys_are_items_of_their_own, setup, teardown),
      cmocka_unit_test_setup_teardown(five_thousand_packages_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(pstate_sends_full_then_deltas, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
