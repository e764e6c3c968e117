/* rpm databases written by the real rpm (Debian's `rpm` package, installed by
 * ci/deps.txt): packages built with rpmbuild, installed --justdb into a temp
 * --dbpath with the sqlite backend. Checked: rpmhdr_db_list lists exactly
 * what `rpm -qa --qf` lists; the cap and a stopping callback; the packages
 * snapshot on the simulator's fs (the same database bytes under
 * /var/lib/rpm) with dpkg beside it, and its deltas across an rpm upgrade
 * and removal; a torn header, a cut file and garbled pages reported as
 * errors (never a crash, never a partial list taken as complete); BerkeleyDB,
 * ndb and no database at all named in the summary. Without rpm/rpmbuild the
 * tests skip with a message (CI always has them). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "core/collect.h"
#include "core/rpmhdr.h"
#include "core/snapdelta.h"
#include "posix/os_posix.h"
#include "sim_fs.h"
#include "sim_os.h"
#include "sim_rng.h"

#define MAXP 16
#define ENTRY 1024

typedef struct plist {
  int n;
  char e[MAXP][ENTRY];
} plist;

static int have_tools;
static char T[64];       /* temp dir */
static plist want1, want2; /* rpm -qa of db1 and db2 */

static int cmp(const void *a, const void *b) { return strcmp(a, b); }
static void sort_list(plist *l) { qsort(l->e, (size_t)l->n, ENTRY, cmp); }

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  return system(cmd);
}

static void write_spec(const char *name, const char *epoch, const char *ver, const char *rel,
                       const char *arch) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s-%s.spec", T, name, rel);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fprintf(f, "Name: %s\n%s%s%sVersion: %s\nRelease: %s\nSummary: t\nLicense: MIT\n%s%s%s"
             "%%description\nt\n%%files\n",
          name, epoch ? "Epoch: " : "", epoch ? epoch : "", epoch ? "\n" : "", ver, rel,
          arch ? "BuildArch: " : "", arch ? arch : "", arch ? "\n" : "");
  fclose(f);
  assert_int_equal(sh("rpmbuild --define '_topdir %s/top' --quiet -bb %s >>%s/log 2>&1", T, p, T),
                   0);
}

/* A --dbpath with the sqlite backend holding the given package files. */
static void make_db(const char *db, const char *files) {
  assert_int_equal(sh("rpm --dbpath %s/%s --define '_db_backend sqlite' --initdb >>%s/log 2>&1",
                      T, db, T),
                   0);
  assert_int_equal(sh("cd %s/top/RPMS && rpm -i --justdb --nodeps --noscripts --notriggers "
                      "--nosignature --nodigest --ignorearch --dbpath %s/%s "
                      "--define '_db_backend sqlite' %s >>%s/log 2>&1",
                      T, T, db, files, T),
                   0);
}

static void qa(const char *db, plist *out) {
  char p[256], line[ENTRY];
  snprintf(p, sizeof p, "%s/%s.qa", T, db);
  assert_int_equal(sh("rpm -qa --dbpath %s/%s --define '_db_backend sqlite' --qf "
                      "'%%{NAME} %%|EPOCH?{%%{EPOCH}:}:{}|%%{VERSION}-%%{RELEASE} %%{ARCH}\\n' "
                      ">%s 2>>%s/log",
                      T, db, p, T),
                   0);
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  out->n = 0;
  while (out->n < MAXP && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    snprintf(out->e[out->n++], ENTRY, "%s", line);
  }
  fclose(f);
  sort_list(out);
}

static int group_setup(void **state) {
  have_tools = sh("command -v rpm >/dev/null 2>&1 && command -v rpmbuild >/dev/null 2>&1") == 0;
  if (!have_tools) {
    fprintf(stderr, "test_rpmdb: rpm/rpmbuild not installed: skipping (ci/deps.txt installs "
                    "Debian's rpm package)\n");
    return 0;
  }
  snprintf(T, sizeof T, "/tmp/outpost-rpmdb-XXXXXX");
  if (!mkdtemp(T)) return -1;
  write_spec("outpost-test-a", "7", "1.2.3", "4", "noarch");
  write_spec("outpost-test-b", NULL, "0.9", "1.el9", "noarch");
  write_spec("outpost-test-b", NULL, "0.9", "2.el9", "noarch");
  write_spec("outpost-test-c", "0", "2.0", "0", "noarch");
  write_spec("outpost-test-d", NULL, "3", "1", NULL); /* the host's arch */
  make_db("db1", "noarch/outpost-test-a-* noarch/outpost-test-b-0.9-1.el9* "
                 "noarch/outpost-test-c-* */outpost-test-d-*");
  make_db("db2", "noarch/outpost-test-a-* noarch/outpost-test-b-0.9-2.el9* */outpost-test-d-*");
  qa("db1", &want1);
  qa("db2", &want2);
  return 0;
}

static int group_teardown(void **state) {
  if (have_tools && T[0]) sh("rm -rf '%s'", T);
  return 0;
}

#define NEED_TOOLS()              \
  do {                            \
    if (!have_tools) skip();      \
  } while (0)

/* ---- the database as rpm wrote it ---- */

static void rpm_writes_sqlite(void **state) {
  NEED_TOOLS();
  char p[256];
  FILE *f;
  snprintf(p, sizeof p, "%s/db1/rpmdb.sqlite", T);
  assert_non_null(f = fopen(p, "rb"));
  char magic[16];
  assert_int_equal(fread(magic, 1, 16, f), 16);
  fclose(f);
  assert_memory_equal(magic, "SQLite format 3", 16);
  snprintf(p, sizeof p, "%s/db1/Packages", T);
  assert_null(fopen(p, "rb"));
  /* What Debian's rpm uses without our --define (informational: the test
   * defines it either way, and rpm >= 4.16 hosts default to sqlite). */
  sh("printf 'test_rpmdb: rpm default backend: '; rpm --eval '%%_db_backend' >&2");
  assert_int_equal(want1.n, 4);
  assert_int_equal(want2.n, 3);
}

static int to_list(void *user, const rpmhdr_pkg *p) {
  plist *l = user;
  char evr[3 * RPMHDR_FIELD_MAX + 16];
  rpmhdr_evr(p, evr, sizeof evr);
  assert_true(l->n < MAXP);
  snprintf(l->e[l->n++], ENTRY, "%s %s %s", p->name, evr, p->arch);
  return 0;
}

static void assert_same(const plist *a, const plist *b) {
  assert_int_equal(a->n, b->n);
  for (int i = 0; i < a->n; i++) assert_string_equal(a->e[i], b->e[i]);
}

static os_posix px;
static os_shim pos;

static void list_matches_rpm_qa(void **state) {
  NEED_TOOLS();
  assert_int_equal(os_posix_init(&pos, &px, NULL), OS_OK);
  char dir[128];
  rpmhdr_db_result r;
  const char *dbs[2] = {"db1", "db2"};
  const plist *want[2] = {&want1, &want2};
  for (int i = 0; i < 2; i++) {
    plist got = {0};
    snprintf(dir, sizeof dir, "%s/%s", T, dbs[i]);
    assert_int_equal(rpmhdr_db_list(&pos, dir, 1000, to_list, &got, &r), RPMHDR_DB_OK);
    assert_int_equal(r.listed, want[i]->n);
    assert_int_equal(r.bad, 0);
    assert_false(r.more);
    sort_list(&got);
    assert_same(&got, want[i]);
  }
  /* The epoch and the host arch made it through. */
  assert_string_equal(want1.e[0], "outpost-test-a 7:1.2.3-4 noarch");
  assert_string_equal(want1.e[2], "outpost-test-c 0:2.0-0 noarch");
}

static int stop_at_two(void *user, const rpmhdr_pkg *p) { return ++*(int *)user >= 2; }

static void cap_and_stop(void **state) {
  NEED_TOOLS();
  assert_int_equal(os_posix_init(&pos, &px, NULL), OS_OK);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/db1", T);
  rpmhdr_db_result r;
  plist got = {0};
  assert_int_equal(rpmhdr_db_list(&pos, dir, 3, to_list, &got, &r), RPMHDR_DB_OK);
  assert_int_equal(r.listed, 3);
  assert_int_equal(got.n, 3);
  assert_true(r.more);
  int calls = 0;
  assert_int_equal(rpmhdr_db_list(&pos, dir, 100, stop_at_two, &calls, &r), RPMHDR_DB_OK);
  assert_int_equal(calls, 2);
  assert_true(r.stopped);
  assert_false(r.more);
  /* A directory with nothing of rpm's in it. */
  assert_int_equal(rpmhdr_db_list(&pos, T, 100, to_list, &got, &r), RPMHDR_DB_ABSENT);
  assert_int_equal(r.listed, 0);
}

/* ---- on the simulator's fs, through collect_snapshot ---- */

typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
} fx;
static fx F;

static int sim_setup(void **state) {
  memset(&F, 0, sizeof F);
  sim_rng_seed(&F.rng, 1, 1);
  if (sim_fs_create(1, 256ULL << 20, NULL, NULL, &F.fs) != OS_OK) return -1;
  sim_os_init(&F.so, &F.now, 0, &F.rng, F.fs, "h", "m");
  sim_os_shim(&F.so, &F.os);
  return 0;
}
static int sim_teardown(void **state) {
  sim_fs_free(F.fs);
  return 0;
}

static void put_bytes(const char *path, const void *data, size_t len) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = 0;
  assert_int_equal(sim_fs_mkdirs(F.fs, dir, 0755), OS_OK);
  sim_fs_unlink(F.fs, path);
  assert_int_equal(sim_fs_append(F.fs, path, data, len, 1), OS_OK);
}

static uint8_t *slurp(const char *db, size_t *len) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s/rpmdb.sqlite", T, db);
  FILE *f = fopen(p, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  assert_true(n > 0);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void put_db(const char *db) {
  size_t n;
  uint8_t *b = slurp(db, &n);
  put_bytes("/var/lib/rpm/rpmdb.sqlite", b, n);
  free(b);
}

static const char dpkg_one[] =
    "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2-1\n\n";
static const collect_roots roots = {.dpkg_status = "/dpkg/status"};

typedef struct snap_out {
  plist rpm, dpkg;
  char summary[COLLECT_LINE_MAX];
  int lines;
} snap_out;

static int on_line(void *user, const char *line, size_t len) {
  snap_out *o = user;
  o->lines++;
  cJSON *j = cJSON_ParseWithLength(line, len);
  assert_non_null(j);
  if (cJSON_IsTrue(cJSON_GetObjectItem(j, "summary"))) {
    snprintf(o->summary, sizeof o->summary, "%.*s", (int)len, line);
  } else {
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItem(j, "source"));
    assert_non_null(src);
    plist *l = strcmp(src, "rpm") == 0 ? &o->rpm : &o->dpkg;
    assert_true(strcmp(src, "rpm") == 0 || strcmp(src, "dpkg") == 0);
    assert_true(l->n < MAXP);
    snprintf(l->e[l->n++], ENTRY, "%s %s %s",
             cJSON_GetStringValue(cJSON_GetObjectItem(j, "name")),
             cJSON_GetStringValue(cJSON_GetObjectItem(j, "version")),
             cJSON_GetStringValue(cJSON_GetObjectItem(j, "arch")));
  }
  cJSON_Delete(j);
  return 0;
}

static void snap(int64_t max, snap_out *o) {
  memset(o, 0, sizeof *o);
  assert_int_equal(
      collect_snapshot(POLICY_SNAP_PACKAGES, &F.os, &roots, max, on_line, o, NULL), COLLECT_OK);
  sort_list(&o->rpm);
}

static void snapshot_lists_rpm_and_dpkg(void **state) {
  NEED_TOOLS();
  put_bytes("/dpkg/status", dpkg_one, strlen(dpkg_one));
  put_db("db1");
  snap_out o;
  snap(1000, &o);
  assert_same(&o.rpm, &want1);
  assert_int_equal(o.dpkg.n, 1);
  assert_string_equal(o.dpkg.e[0], "bash 5.2-1 amd64");
  assert_string_equal(o.summary,
                      "{\"snapshot\":\"packages\",\"summary\":true,\"items\":5,\"truncated\":false,"
                      "\"available\":true,\"dpkg\":\"ok\",\"rpm\":\"ok\"}");
  /* The cap counts both sources: dpkg's one, then three of rpm's four. */
  snap(4, &o);
  assert_int_equal(o.rpm.n, 3);
  assert_non_null(strstr(o.summary, "\"items\":4,\"truncated\":true,\"available\":true"));
  /* rpm alone (no dpkg): still available. */
  sim_fs_unlink(F.fs, "/dpkg/status");
  snap(1000, &o);
  assert_same(&o.rpm, &want1);
  assert_non_null(strstr(o.summary, "\"available\":true,\"dpkg\":\"not available\",\"rpm\":\"ok\""));
}

typedef struct dl {
  int n;
  char l[16][COLLECT_LINE_MAX];
} dl;

static int on_delta(void *user, const char *line, size_t len) {
  dl *d = user;
  if (d->n < 16) snprintf(d->l[d->n], sizeof d->l[0], "%.*s", (int)len, line);
  d->n++;
  return 0;
}

static void pass(snapdelta *d, int delta, dl *out) {
  memset(out, 0, sizeof *out);
  assert_int_equal(snapdelta_begin(d, delta, on_delta, out), SNAPDELTA_OK);
  assert_int_equal(
      collect_snapshot(POLICY_SNAP_PACKAGES, &F.os, &roots, 1000, snapdelta_line, d, NULL),
      COLLECT_OK);
  assert_int_equal(snapdelta_end(d, 1, NULL, NULL, NULL), SNAPDELTA_OK);
}

static void deltas_across_rpm_upgrade(void **state) {
  NEED_TOOLS();
  put_bytes("/dpkg/status", dpkg_one, strlen(dpkg_one));
  put_db("db1");
  snapdelta *d = NULL;
  assert_int_equal(snapdelta_new(POLICY_SNAP_PACKAGES, 1000, &d), SNAPDELTA_OK);
  dl out;
  pass(d, 0, &out);
  assert_int_equal(out.n, 6);
  assert_true(snapdelta_has_base(d));
  pass(d, 1, &out); /* nothing changed: just the summary */
  assert_int_equal(out.n, 1);
  assert_non_null(strstr(out.l[0], "\"added\":0,\"changed\":0,\"removed\":0,\"items\":5"));
  /* b upgraded 0.9-1.el9 -> 0.9-2.el9, c removed. */
  put_db("db2");
  pass(d, 1, &out);
  assert_int_equal(out.n, 3);
  assert_string_equal(out.l[0],
                      "{\"delta\":\"packages\",\"change\":\"changed\",\"name\":\"outpost-test-b\","
                      "\"version\":\"0.9-2.el9\",\"arch\":\"noarch\",\"source\":\"rpm\"}");
  assert_string_equal(out.l[1], "{\"delta\":\"packages\",\"change\":\"removed\","
                                "\"name\":\"outpost-test-c\",\"arch\":\"noarch\",\"source\":\"rpm\"}");
  assert_non_null(strstr(out.l[2], "\"added\":0,\"changed\":1,\"removed\":1,\"items\":4,"
                                   "\"truncated\":false,\"available\":true"));
  snapdelta_free(d);
}

/* ---- torn and foreign databases ---- */

/* The first stored header, read with SQLite itself, to find it in the file. */
static size_t first_header(const char *db, uint8_t *out, size_t cap) {
  char p[256];
  snprintf(p, sizeof p, "file:%s/%s/rpmdb.sqlite?immutable=1", T, db);
  sqlite3 *h = NULL;
  assert_int_equal(sqlite3_open_v2(p, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL),
                   SQLITE_OK);
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(h, "SELECT blob FROM Packages ORDER BY rowid LIMIT 1", -1,
                                      &q, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  size_t n = (size_t)sqlite3_column_bytes(q, 0);
  assert_true(n > 24 && n <= cap);
  memcpy(out, sqlite3_column_blob(q, 0), n);
  sqlite3_finalize(q);
  sqlite3_close(h);
  return n;
}

/* Flips a bit of dl in every copy of the header in the file (SQLite may
 * have left stale copies in free space: the live one is among them). */
static int flip_dl(uint8_t *b, size_t n, const uint8_t *hdr, size_t hlen) {
  int copies = 0;
  for (uint8_t *p = b; (p = memmem(p, n - (size_t)(p - b), hdr, hlen)) != NULL; p += hlen) {
    p[7] ^= 0x40;
    copies++;
  }
  return copies;
}

static void torn_and_corrupt(void **state) {
  NEED_TOOLS();
  size_t n;
  uint8_t *b = slurp("db1", &n);
  static uint8_t hdr[64 * 1024], torn[64 * 1024];
  size_t hlen = first_header("db1", hdr, sizeof hdr);
  uint8_t *at = memmem(b, n, hdr, hlen);
  assert_non_null(at);
  memcpy(torn, hdr, hlen);
  torn[7] ^= 0x40;
  snap_out o;
  rpmhdr_db_result r;
  /* One header torn mid-write: its dl no longer matches the blob. */
  assert_true(flip_dl(b, n, hdr, hlen) >= 1);
  put_bytes("/var/lib/rpm/rpmdb.sqlite", b, n);
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_ERROR);
  assert_int_equal(r.bad, 1);
  assert_int_equal(r.listed, 3);
  assert_non_null(strstr(r.error, "did not parse"));
  snap(1000, &o);
  assert_int_equal(o.rpm.n, 3);
  /* Incomplete: truncated, so no delta ever reads the torn one as removed. */
  assert_non_null(strstr(o.summary, "\"truncated\":true"));
  assert_non_null(strstr(o.summary, "\"rpm\":\"error\",\"rpm_reason\":\"1 header(s) did not parse"));
  assert_true(flip_dl(b, n, torn, hlen) >= 1);
  /* The file cut before the page holding that header (caught mid-copy, or
   * a disk that lost the tail): the pages SQLite expects are not there. */
  size_t cut = (size_t)(at - b) / 4096 * 4096;
  assert_true(cut >= 4096);
  put_bytes("/var/lib/rpm/rpmdb.sqlite", b, cut);
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_ERROR);
  assert_true(r.error[0] != 0);
  /* Every page after the first garbled: SQLite's corruption, reported. */
  for (size_t i = 4096; i < n; i++) b[i] = (uint8_t)(i * 131 + 7);
  put_bytes("/var/lib/rpm/rpmdb.sqlite", b, n);
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_ERROR);
  snap(1000, &o);
  assert_int_equal(o.rpm.n, 0);
  assert_non_null(strstr(o.summary, "\"rpm\":\"error\""));
  /* Not a database at all. */
  put_bytes("/var/lib/rpm/rpmdb.sqlite", "not sqlite", 10);
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_ERROR);
  free(b);
}

static void foreign_and_absent(void **state) {
  rpmhdr_db_result r;
  snap_out o;
  /* Nothing of rpm's (the simulator's hosts): a clear "not available". */
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_ABSENT);
  snap(1000, &o);
  assert_string_equal(o.summary,
                      "{\"snapshot\":\"packages\",\"summary\":true,\"items\":0,\"truncated\":false,"
                      "\"available\":false,\"dpkg\":\"not available\",\"rpm\":\"not available\"}");
  /* BerkeleyDB (rpm < 4.16): named, not parsed. */
  put_bytes("/var/lib/rpm/Packages", "\0\0\0\0\1\0\0\0\0\0\0\0\x61\x15\x06\0", 16);
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_BDB);
  assert_string_equal(r.error, "rpm database format not supported (bdb)");
  snap(1000, &o);
  assert_non_null(strstr(o.summary, "\"available\":false,\"dpkg\":\"not available\","
                                    "\"rpm\":\"not supported (bdb)\",\"rpm_reason\":\"rpm database "
                                    "format not supported (bdb)\"}"));
  /* ndb (SUSE) in /usr/lib/sysimage/rpm wins over the bdb leftover. */
  put_bytes("/usr/lib/sysimage/rpm/Packages.db", "RpmP", 4);
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_NDB);
  /* An sqlite database anywhere wins over both. */
  put_bytes("/var/lib/rpm/rpmdb.sqlite", "x", 1);
  assert_int_equal(rpmhdr_db_list(&F.os, NULL, 100, NULL, NULL, &r), RPMHDR_DB_ERROR);
  /* dpkg present, rpm unsupported: available, and the list is complete. */
  sim_fs_unlink(F.fs, "/var/lib/rpm/rpmdb.sqlite");
  put_bytes("/dpkg/status", dpkg_one, strlen(dpkg_one));
  snap(1000, &o);
  assert_int_equal(o.dpkg.n, 1);
  assert_non_null(strstr(o.summary, "\"truncated\":false,\"available\":true,\"dpkg\":\"ok\","
                                    "\"rpm\":\"not supported (ndb)\""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rpm_writes_sqlite),
      cmocka_unit_test(list_matches_rpm_qa),
      cmocka_unit_test(cap_and_stop),
      cmocka_unit_test_setup_teardown(snapshot_lists_rpm_and_dpkg, sim_setup, sim_teardown),
      cmocka_unit_test_setup_teardown(deltas_across_rpm_upgrade, sim_setup, sim_teardown),
      cmocka_unit_test_setup_teardown(torn_and_corrupt, sim_setup, sim_teardown),
      cmocka_unit_test_setup_teardown(foreign_and_absent, sim_setup, sim_teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
