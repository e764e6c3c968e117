/* The journal source: "not available" without a journal (once, in the
 * state and as a record); with a (fake) journal, entries spooled and the
 * cursor persisted across a restart; an unknown cursor starts at the end;
 * the real probe says "no journal" on a host without one (this container). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/files.h"
#include "core/jread.h"
#include "core/spool.h"
#include "posix/journal_posix.h"
#include "sim_fs.h"
#include "sim_os.h"
#include "sim_rng.h"

/* ---- a fake journal: entries[0..n), read position pos ---- */
typedef struct fake {
  int n, pos, opened, open_rc;
  char seek_got[64];
  int seeks;
  char msg[16][64];
  int prio[16]; /* 0 = info (6), else priority + 1 */
} fake;

static int f_open(void *ctx) {
  fake *f = ctx;
  if (f->open_rc) return f->open_rc;
  f->opened = 1;
  return OS_OK;
}
static int f_seek(void *ctx, const char *cursor) {
  fake *f = ctx;
  f->seeks++;
  snprintf(f->seek_got, sizeof f->seek_got, "%s", cursor ? cursor : "");
  if (!cursor || !cursor[0]) {
    f->pos = f->n;
    return OS_OK;
  }
  int i;
  if (sscanf(cursor, "c=%d", &i) != 1 || i < 0 || i >= f->n) return OS_EINVAL;
  f->pos = i + 1;
  return OS_OK;
}
static int f_next(void *ctx, journal_entry *e) {
  fake *f = ctx;
  if (f->pos >= f->n) return 0;
  memset(e, 0, sizeof *e);
  snprintf(e->cursor, sizeof e->cursor, "c=%d", f->pos);
  snprintf(e->message, sizeof e->message, "%s", f->msg[f->pos]);
  snprintf(e->ident, sizeof e->ident, "unit\"x");
  e->priority = f->prio[f->pos] ? f->prio[f->pos] - 1 : 6;
  e->realtime_us = 1000 + f->pos;
  f->pos++;
  return 1;
}
static void f_close(void *ctx) { ((fake *)ctx)->opened = 0; }

static void add(fake *f, const char *m) { snprintf(f->msg[f->n++], sizeof f->msg[0], "%s", m); }

typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
  spool *sp;
  int64_t after;
  int rows;
  char last[2048];
} fx;
static fx F;

static int setup(void **state) {
  memset(&F, 0, sizeof F);
  sim_rng_seed(&F.rng, 1, 1);
  if (sim_fs_create(1, 64ULL << 20, NULL, NULL, &F.fs) != OS_OK) return -1;
  sim_fs_mkdirs(F.fs, "/state", 0700);
  sim_os_init(&F.so, &F.now, 0, &F.rng, F.fs, "h", "m");
  sim_os_shim(&F.so, &F.os);
  char err[128];
  return spool_open(&F.os, "/state/spool.db", &F.sp, err, sizeof err) == SPOOL_OK ? 0 : -1;
}
static int teardown(void **state) {
  spool_close(F.sp);
  sim_fs_free(F.fs);
  return 0;
}

static int on_row(void *user, int64_t seq, int64_t ts, const char *source, size_t source_len,
                  const char *line, size_t len) {
  if (seq <= F.after) return 0;
  F.after = seq;
  assert_int_equal(source_len, 7);
  assert_memory_equal(source, "journal", 7);
  F.rows++;
  snprintf(F.last, sizeof F.last, "%.*s", (int)len, line);
  return 0;
}

static int64_t poll_prio(jread *j, const journal_shim *js, int max_priority) {
  int64_t lines = 0;
  int more = 0;
  F.rows = 0;
  jread_poll(j, js, &F.os, F.sp, 5, F.now, 100, max_priority, &lines, &more);
  assert_true(spool_scan(F.sp, 1000, on_row, NULL) >= 0);
  assert_int_equal(lines, F.rows);
  return lines;
}
static int64_t poll_rows(jread *j, const journal_shim *js) { return poll_prio(j, js, 7); }

static void read_cursor(char *cur, size_t cap) {
  size_t len = 0;
  assert_int_equal(files_read_small(&F.os, "/state/journal.cursor", cur, cap - 1, &len), OS_OK);
  cur[len] = 0;
}

static void no_journal_is_not_available(void **state) {
  jread *j = NULL;
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(jread_get_state(j), JREAD_UNKNOWN);
  assert_int_equal(poll_rows(j, NULL), 0); /* no shim (the simulator): state only */
  assert_int_equal(jread_get_state(j), JREAD_UNAVAILABLE);
  jread_close(j, NULL);
  fake f = {.open_rc = OS_ENOENT}; /* a host without a journal */
  journal_shim js = {&f, f_open, f_seek, f_next, f_close};
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, &js), 1);
  assert_string_equal(F.last,
                      "{\"journal\":\"not available\",\"reason\":\"no systemd journal on this "
                      "host\"}");
  assert_int_equal(jread_get_state(j), JREAD_UNAVAILABLE);
  assert_string_equal(jread_state_name(jread_get_state(j)), "not available");
  F.now += JREAD_RETRY_MS;
  assert_int_equal(poll_rows(j, &js), 0); /* said once */
  assert_int_equal(jread_get_state(j), JREAD_UNAVAILABLE);
  jread_close(j, &js);
}

static void cursor_survives_restart(void **state) {
  fake f = {0};
  journal_shim js = {&f, f_open, f_seek, f_next, f_close};
  add(&f, "old history");
  jread *j = NULL;
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, &js), 0); /* no cursor: from the end, no history */
  assert_string_equal(f.seek_got, "");
  assert_int_equal(jread_get_state(j), JREAD_READING);
  add(&f, "one");
  add(&f, "two");
  assert_int_equal(poll_rows(j, &js), 2);
  assert_string_equal(F.last, "{\"journal\":\"entry\",\"ts_us\":1002,\"priority\":6,"
                              "\"ident\":\"unit\\\"x\",\"message\":\"two\"}");
  char cur[64];
  read_cursor(cur, sizeof cur);
  assert_string_equal(cur, "c=2");
  jread_close(j, &js);
  assert_int_equal(f.opened, 0);

  /* Restart: the persisted cursor is where reading resumes. */
  add(&f, "three");
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, &js), 1);
  assert_string_equal(f.seek_got, "c=2");
  assert_non_null(strstr(F.last, "\"message\":\"three\""));
  jread_close(j, &js);

  /* A cursor the journal no longer knows: from the end. */
  assert_int_equal(files_write_atomic(&F.os, "/state/journal.cursor", "c=99", 4, 0600), OS_OK);
  add(&f, "four");
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, &js), 0);
  add(&f, "five");
  assert_int_equal(poll_rows(j, &js), 1);
  assert_non_null(strstr(F.last, "\"message\":\"five\""));
  jread_close(j, &js);
}

/* journal.max_priority: entries above it are skipped, and the cursor moves
 * past them (a restart does not read them again); jread_forget (journal off
 * by policy) drops the position, so back on means from the end. */
static void priority_filter_and_forget(void **state) {
  fake f = {0};
  journal_shim js = {&f, f_open, f_seek, f_next, f_close};
  jread *j = NULL;
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_prio(j, &js, 4), 0);
  add(&f, "debug noise");
  f.prio[f.n - 1] = 7 + 1;
  add(&f, "disk error");
  f.prio[f.n - 1] = 3 + 1;
  add(&f, "info chatter"); /* 6 */
  add(&f, "warning");
  f.prio[f.n - 1] = 4 + 1;
  assert_int_equal(poll_prio(j, &js, 4), 2);
  assert_non_null(strstr(F.last, "\"priority\":4,"));
  assert_non_null(strstr(F.last, "\"message\":\"warning\""));
  char cur[64];
  read_cursor(cur, sizeof cur);
  assert_string_equal(cur, "c=3");
  /* Only skipped entries since: the cursor still moves past them. */
  add(&f, "more chatter");
  assert_int_equal(poll_prio(j, &js, 4), 0);
  read_cursor(cur, sizeof cur);
  assert_string_equal(cur, "c=4");
  jread_forget(j, &F.os);
  jread_close(j, &js);
  os_stat st;
  assert_int_equal(F.os.stat(F.os.ctx, "/state/journal.cursor", &st), OS_ENOENT);
  assert_string_equal(jread_state_name(JREAD_OFF), "off (policy)");
  /* Back on: from the end, what was logged meanwhile is not collected. */
  add(&f, "while off");
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, &js), 0);
  assert_string_equal(f.seek_got, "");
  jread_close(j, &js);
}

static void built_without_sd_journal(void **state) {
  fake f = {.open_rc = OS_ENOSYS};
  journal_shim js = {&f, f_open, f_seek, f_next, f_close};
  jread *j = NULL;
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, &js), 1);
  assert_non_null(strstr(F.last, "built without sd-journal"));
  jread_close(j, &js);
}

/* The real probe on a fake root: empty = no journal; a journald socket =
 * a journal (sd_journal_open then decides). And on this host. */
static void posix_probe(void **state) {
  char root[] = "/tmp/outpost-jroot.XXXXXX";
  assert_non_null(mkdtemp(root));
  const journal_shim *js = journal_posix(root);
  assert_int_equal(js->open(js->ctx), OS_ENOENT);
  char p[256];
  snprintf(p, sizeof p, "mkdir -p %s/var/log/journal && touch %s/var/log/journal/x", root,
           root);
  assert_int_equal(system(p), 0);
  assert_int_not_equal(js->open(js->ctx), OS_ENOENT);
  js->close(js->ctx);
  snprintf(p, sizeof p, "rm -rf %s", root);
  assert_int_equal(system(p), 0);
  /* This host: the answer must match what the file system says. */
  int host_has = system("test -S /run/systemd/journal/socket || "
                        "test -n \"$(ls -A /run/log/journal 2>/dev/null; ls -A /var/log/journal 2>/dev/null)\"") == 0;
  js = journal_posix("");
  int rc = js->open(js->ctx);
  js->close(js->ctx);
  if (host_has) assert_int_not_equal(rc, OS_ENOENT);
  else assert_int_equal(rc, OS_ENOENT); /* this container: no journal */
  fprintf(stderr, "this host: journal %s (open %d)\n", host_has ? "present" : "absent", rc);
}

/* The real sd-journal path: a journal file written by systemd-journal-remote
 * under a temporary root, read through journal_posix(root) by jread: fields,
 * priority, the cursor persisted and resumed, the priority filter. */
static void write_journal(const char *root) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "mkdir -p %s/var/log/journal/0123456789abcdef0123456789abcdef && "
           "printf '%s' | /lib/systemd/systemd-journal-remote "
           "-o %s/var/log/journal/0123456789abcdef0123456789abcdef/system.journal - 2>/dev/null",
           root,
           "__REALTIME_TIMESTAMP=1700000000000000\\n__MONOTONIC_TIMESTAMP=1000\\n"
           "_BOOT_ID=0123456789abcdef0123456789abcdef\\nMESSAGE=first\\nPRIORITY=6\\n"
           "SYSLOG_IDENTIFIER=sshd\\n\\n"
           "__REALTIME_TIMESTAMP=1700000001000000\\n__MONOTONIC_TIMESTAMP=2000\\n"
           "_BOOT_ID=0123456789abcdef0123456789abcdef\\nMESSAGE=disk \"error\"\\nPRIORITY=3\\n"
           "SYSLOG_IDENTIFIER=kernel\\n\\n"
           "__REALTIME_TIMESTAMP=1700000002000000\\n__MONOTONIC_TIMESTAMP=3000\\n"
           "_BOOT_ID=0123456789abcdef0123456789abcdef\\nMESSAGE=chatter\\nPRIORITY=7\\n"
           "SYSLOG_IDENTIFIER=app\\n\\n"
           "__REALTIME_TIMESTAMP=1700000003000000\\n__MONOTONIC_TIMESTAMP=4000\\n"
           "_BOOT_ID=0123456789abcdef0123456789abcdef\\nMESSAGE=no priority\\n"
           "_COMM=cron\\n\\n",
           root);
  assert_int_equal(system(cmd), 0);
}

static void first_cursor(const char *root, char *out, size_t cap) {
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "journalctl --root %s -o export 2>/dev/null | sed -n 's/^__CURSOR=//p' | head -1", root);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  assert_non_null(fgets(out, (int)cap, p));
  pclose(p);
  out[strcspn(out, "\n")] = 0;
  assert_true(strlen(out) > 10);
}

static void real_sd_journal(void **state) {
  if (access("/lib/systemd/systemd-journal-remote", X_OK) != 0 || system("command -v journalctl >/dev/null") != 0) {
    /* ci/deps.txt installs it: only a hand-built machine can miss it. */
    fprintf(stderr, "SKIP: systemd-journal-remote or journalctl missing\n");
    return;
  }
  char root[] = "/tmp/outpost-jreal.XXXXXX";
  assert_non_null(mkdtemp(root));
  write_journal(root);
  const journal_shim *js = journal_posix(root);
  char cur[512];
  first_cursor(root, cur, sizeof cur);
  assert_int_equal(files_write_atomic(&F.os, "/state/journal.cursor", cur, strlen(cur), 0600),
                   OS_OK);
  jread *j = NULL;
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, js), 3); /* after the saved first entry */
  assert_int_equal(jread_get_state(j), JREAD_READING);
  assert_string_equal(F.last, "{\"journal\":\"entry\",\"ts_us\":1700000003000000,\"priority\":-1,"
                              "\"ident\":\"cron\",\"message\":\"no priority\"}");
  char saved[512];
  read_cursor(saved, sizeof saved);
  assert_string_not_equal(saved, cur);
  jread_close(j, js);
  /* Restart at the saved cursor: nothing new. */
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_rows(j, js), 0);
  jread_close(j, js);
  /* From the first entry again, warnings and worse only: the "error" one
   * (escaped), not the debug one nor the one without a priority (info). */
  assert_int_equal(files_write_atomic(&F.os, "/state/journal.cursor", cur, strlen(cur), 0600),
                   OS_OK);
  assert_int_equal(jread_open("/state", &j), JREAD_OK);
  assert_int_equal(poll_prio(j, js, 4), 1);
  assert_string_equal(F.last, "{\"journal\":\"entry\",\"ts_us\":1700000001000000,\"priority\":3,"
                              "\"ident\":\"kernel\",\"message\":\"disk \\\"error\\\"\"}");
  read_cursor(cur, sizeof cur);
  assert_string_equal(cur, saved); /* the skipped ones moved it to the end */
  jread_close(j, js);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(no_journal_is_not_available, setup, teardown),
      cmocka_unit_test_setup_teardown(cursor_survives_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(priority_filter_and_forget, setup, teardown),
      cmocka_unit_test_setup_teardown(built_without_sd_journal, setup, teardown),
      cmocka_unit_test(posix_probe),
      cmocka_unit_test_setup_teardown(real_sd_journal, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
