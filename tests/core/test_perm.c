/* perm_assert (issue #13, PRIV-1 / LOCAL-1): a state dir that another user
 * could write, and files they planted there. The agent's uid comes from the
 * os shim; nothing is ever chowned; foreign identity/trust files refuse the
 * start, foreign data and unknown names are removed and reported, symlinks
 * are refused where the agent has a file. On the simulator's fs (owners
 * without root) and, for symlinks, on the real fs (as root). */
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

#include "core/perm.h"
#include "posix/os_posix.h"
#include "sim_fs.h"
#include "sim_os.h"

#define SD "/var/lib/outpost"
#define ATTACKER 1000u

/* Test-only spy: every chown perm_assert asks for (it must ask for none). */
static int g_chowns;
static uint32_t g_chown_uid;
static int spy_chown(void *ctx, const char *path, uint32_t uid) {
  (void)ctx, (void)path;
  g_chowns++;
  g_chown_uid = uid;
  return OS_OK; /* pretend it worked: the damage would be done */
}

typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
  perm_drift d[PERM_MAX_DRIFT];
  int n;
  char err[512];
} fx;

static fx *make(uint32_t agent_uid) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  sim_rng_seed(&f->rng, 1, 1);
  assert_int_equal(sim_fs_create(1, 64ULL << 20, NULL, NULL, &f->fs), OS_OK);
  sim_os_init(&f->so, &f->now, 0, &f->rng, f->fs, "h", "m");
  sim_os_set_uid(&f->so, agent_uid);
  sim_os_shim(&f->so, &f->os);
  f->os.chown_nofollow = spy_chown;
  g_chowns = 0;
  g_chown_uid = 0;
  assert_int_equal(sim_fs_mkdirs(f->fs, SD, 0700), OS_OK);
  return f;
}

static void destroy(fx *f) {
  sim_fs_free(f->fs);
  free(f);
}

/* A file written by uid (the agent's, or the attacker's when planted). */
static void put(fx *f, const char *rel, uint32_t uid, uint32_t mode) {
  char p[256];
  snprintf(p, sizeof p, SD "/%s", rel);
  assert_int_equal(sim_fs_append(f->fs, p, "x", 1, 1), OS_OK);
  assert_int_equal(sim_fs_chown(f->fs, p, uid), OS_OK);
  assert_int_equal(sim_fs_chmod(f->fs, p, mode), OS_OK);
}

static void dir(fx *f, const char *rel, uint32_t uid, uint32_t mode) {
  char p[256];
  snprintf(p, sizeof p, SD "/%s", rel);
  assert_int_equal(sim_fs_mkdirs(f->fs, p, mode), OS_OK);
  assert_int_equal(sim_fs_chown(f->fs, p, uid), OS_OK);
}

static int run(fx *f) {
  f->err[0] = 0;
  f->n = -1;
  return perm_assert(&f->os, SD, f->d, &f->n, f->err, sizeof f->err);
}

static int exists(fx *f, const char *rel, os_stat *st) {
  char p[256];
  os_stat s;
  snprintf(p, sizeof p, SD "/%s", rel);
  return sim_fs_lstat(f->fs, p, st ? st : &s) == OS_OK;
}

typedef struct count {
  sim_fs *fs;
  const char *dir;
  uint32_t uid;
  int n;
} count;

static int count_one(void *user, const char *name) {
  count *c = user;
  char p[512];
  os_stat st;
  snprintf(p, sizeof p, "%s/%s", c->dir, name);
  if (sim_fs_lstat(c->fs, p, &st) == OS_OK) {
    if (st.uid == c->uid) c->n++;
    if (st.is_dir) {
      count sub = {c->fs, p, c->uid, 0};
      sim_fs_list_dir(c->fs, p, 1000, count_one, &sub);
      c->n += sub.n;
    }
  }
  return 0;
}

/* Entries under the state dir (and the dir itself) owned by uid. */
static int owned_by(fx *f, uint32_t uid) {
  count c = {f->fs, SD, uid, 0};
  os_stat st;
  assert_int_equal(sim_fs_lstat(f->fs, SD, &st), OS_OK);
  sim_fs_list_dir(f->fs, SD, 1000, count_one, &c);
  return c.n + (st.uid == uid);
}

static const perm_drift *found(fx *f, const char *file) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->d[i].file, file) == 0) return &f->d[i];
  return NULL;
}

/* The bug of issue #13: the state dir left 0777, uid 1000 creates
 * .outpost-uid-probe and a policy.json before the root agent starts. The old
 * guard learnt "the running uid" from the probe's owner and chowned the key,
 * the spool and the dir to 1000. Now: no chown at all, nothing owned by
 * 1000 left, the planted files removed and reported, the door closed. */
static void planted_probe_gives_nothing_away(void **state) {
  (void)state;
  fx *f = make(0);
  assert_int_equal(sim_fs_chmod(f->fs, SD, 0777), OS_OK);
  put(f, "agent.key", 0, 0600);
  put(f, "identity.json", 0, 0600);
  put(f, "spool.db", 0, 0600);
  put(f, ".outpost-uid-probe", ATTACKER, 0644);
  put(f, "policy.json", ATTACKER, 0666);
  assert_int_equal(run(f), PERM_OK);
  assert_int_equal(g_chowns, 0);
  assert_int_equal(owned_by(f, ATTACKER), 0);
  assert_false(exists(f, ".outpost-uid-probe", NULL));
  assert_false(exists(f, "policy.json", NULL)); /* never read: the cloud resends policy */
  os_stat st;
  assert_true(exists(f, "agent.key", &st));
  assert_int_equal(st.uid, 0);
  assert_int_equal(sim_fs_lstat(f->fs, SD, &st), OS_OK);
  assert_int_equal(st.mode, 0700);
  assert_int_equal(st.uid, 0);
  assert_int_equal(f->n, 3);
  const perm_drift *e = found(f, ".");
  assert_non_null(e);
  assert_string_equal(e->action, "chmod");
  assert_int_equal(e->was_mode, 0777);
  assert_int_equal(e->set_mode, 0700);
  e = found(f, ".outpost-uid-probe");
  assert_non_null(e);
  assert_string_equal(e->action, "removed");
  assert_int_equal(e->was_uid, ATTACKER);
  assert_int_equal(e->uid, 0);
  assert_true(e->repaired);
  e = found(f, "policy.json");
  assert_non_null(e);
  assert_string_equal(e->action, "removed");
  /* next start: nothing to say */
  assert_int_equal(run(f), PERM_OK);
  assert_int_equal(f->n, 0);
  destroy(f);
}

/* A file whose content the agent trusts, owned by someone else: not taken
 * over (no chown), not silently dropped: the start is refused, naming it. */
static void foreign_identity_and_trust_refused(void **state) {
  (void)state;
  static const char *const trusted[] = {"agent.key", "agent.key.new", "identity.json",
                                        "identity.json.tmp", "update/state.json",
                                        "update/metadata/1.root.json",
                                        "bin/1.2.3/outpost-agent", "bin/1.2.3/outpost-agent.sig"};
  for (size_t i = 0; i < sizeof trusted / sizeof trusted[0]; i++) {
    fx *f = make(0);
    dir(f, "update/metadata", 0, 0700);
    dir(f, "bin/1.2.3", 0, 0700);
    put(f, trusted[i], ATTACKER, 0600);
    assert_int_equal(run(f), PERM_EFOREIGN);
    assert_non_null(strstr(f->err, trusted[i]));
    assert_non_null(strstr(f->err, "uid 1000"));
    assert_int_equal(g_chowns, 0);
    os_stat st;
    assert_true(exists(f, trusted[i], &st)); /* left for a person to look at */
    assert_int_equal(st.uid, ATTACKER);
    destroy(f);
  }
}

/* Directories: the state dir itself, and any directory in it, owned by
 * another user are refused (they may still hold it open). */
static void foreign_directories_refused(void **state) {
  (void)state;
  fx *f = make(0);
  assert_int_equal(sim_fs_chown(f->fs, SD, ATTACKER), OS_OK);
  assert_int_equal(run(f), PERM_EFOREIGN);
  assert_non_null(strstr(f->err, "state_dir " SD " is owned by uid 1000"));
  assert_int_equal(g_chowns, 0);
  destroy(f);
  static const char *const dirs[] = {"update", "bin", "junk", "update/metadata"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    f = make(0);
    dir(f, "update", 0, 0700);
    dir(f, dirs[i], ATTACKER, 0777);
    assert_int_equal(run(f), PERM_EFOREIGN);
    assert_non_null(strstr(f->err, dirs[i]));
    assert_non_null(strstr(f->err, "a directory (its owner may still hold it open)"));
    destroy(f);
  }
}

/* Every file the agent writes is covered, not five names: modes of
 * policy.json, update/, bin/, status.json reset; foreign data removed. */
static void walk_covers_policy_update_bin(void **state) {
  (void)state;
  fx *f = make(0);
  dir(f, "update/metadata", 0, 0755);
  dir(f, "bin/1.2.3", 0, 0777);
  put(f, "policy.json", 0, 0644);
  put(f, "status.json", 0, 0666);
  put(f, "update/state.json", 0, 0644);
  put(f, "update/metadata/root.json", 0, 0666);
  put(f, "bin/1.2.3/outpost-agent", 0, 04777);
  put(f, "bin/1.2.3/outpost-agent.sig", 0, 0644);
  put(f, "journal.cursor", ATTACKER, 0600);
  put(f, "spool.db-journal", ATTACKER, 0600);
  put(f, "notes.txt", 0, 0666); /* ours, unknown: left alone (could be a hard link) */
  assert_int_equal(run(f), PERM_OK);
  assert_int_equal(g_chowns, 0);
  static const struct {
    const char *rel;
    uint32_t mode;
  } want[] = {{"policy.json", 0600},          {"status.json", 0640},
              {"update", 0700},               {"update/metadata", 0700},
              {"update/state.json", 0600},    {"update/metadata/root.json", 0600},
              {"bin", 0700},                  {"bin/1.2.3", 0700},            {"bin/1.2.3/outpost-agent", 0755},
              {"bin/1.2.3/outpost-agent.sig", 0644}, {"notes.txt", 0666}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    os_stat st;
    assert_true(exists(f, want[i].rel, &st));
    if (st.mode != want[i].mode) fail_msg("%s: mode %04o", want[i].rel, st.mode);
  }
  assert_false(exists(f, "journal.cursor", NULL));
  assert_false(exists(f, "spool.db-journal", NULL));
  assert_int_equal(owned_by(f, ATTACKER), 0);
  const perm_drift *e = found(f, "update/metadata/root.json");
  assert_non_null(e);
  assert_string_equal(e->action, "chmod");
  assert_non_null(found(f, "bin/1.2.3/outpost-agent"));
  assert_non_null(found(f, "policy.json"));
  assert_null(found(f, "notes.txt"));
  assert_string_equal(found(f, "journal.cursor")->action, "removed");
  /* 9 chmods (4 dirs, 5 files; the 0644 signature is fine) + 2 removals */
  assert_int_equal(f->n, 11);
  destroy(f);
}

/* The running uid is the shim's euid: an agent running as uid 999 owns
 * what it creates, and a root-owned file in its dir is as foreign to it. */
static void uid_comes_from_the_shim(void **state) {
  (void)state;
  fx *f = make(999);
  assert_int_equal(sim_fs_chown(f->fs, SD, 999), OS_OK);
  os_file *h = NULL;
  assert_int_equal(f->os.open(f->os.ctx, SD "/agent.key", OS_O_WRITE | OS_O_CREATE, 0600, &h),
                   OS_OK);
  f->os.close(f->os.ctx, h);
  assert_int_equal(run(f), PERM_OK);
  assert_int_equal(f->n, 0);
  put(f, "spool.db", 0, 0600);
  assert_int_equal(run(f), PERM_OK);
  assert_string_equal(found(f, "spool.db")->action, "removed");
  assert_int_equal(f->d[0].uid, 999);
  put(f, "identity.json", 0, 0600);
  assert_int_equal(run(f), PERM_EFOREIGN);
  destroy(f);
  /* no euid in the shim: refuse rather than guess */
  f = make(0);
  f->os.euid = NULL;
  assert_int_equal(run(f), PERM_ENOUID);
  destroy(f);
}

/* Bounded: a tree deeper than the agent writes, or a directory with more
 * names than the limit, refuses the start instead of walking on. */
static void walk_is_bounded(void **state) {
  (void)state;
  fx *f = make(0);
  dir(f, "update/a/b/c/d", 0, 0700);
  assert_int_equal(run(f), PERM_ELIMIT);
  assert_non_null(strstr(f->err, "deeper"));
  destroy(f);
  f = make(0);
  dir(f, "update/a/b/c", 0, 0700); /* depth 4: fine */
  assert_int_equal(run(f), PERM_OK);
  destroy(f);
  f = make(0);
  for (int i = 0; i <= PERM_DIR_MAX_ENTRIES; i++) {
    char n[32];
    snprintf(n, sizeof n, "f%04d", i);
    put(f, n, 0, 0600);
  }
  assert_int_equal(run(f), PERM_ELIMIT);
  destroy(f);
  /* more findings than PERM_MAX_DRIFT: all handled, the first 16 kept */
  f = make(0);
  for (int i = 0; i < PERM_MAX_DRIFT + 4; i++) {
    char n[32];
    snprintf(n, sizeof n, "planted%02d", i);
    put(f, n, ATTACKER, 0600);
  }
  assert_int_equal(run(f), PERM_OK);
  assert_int_equal(f->n, PERM_MAX_DRIFT);
  assert_int_equal(owned_by(f, ATTACKER), 0);
  destroy(f);
}

/* A shim without list_dir: the names the agent writes are still checked. */
static void without_list_dir(void **state) {
  (void)state;
  fx *f = make(0);
  f->os.list_dir = NULL;
  dir(f, "update", 0, 0700);
  put(f, "policy.json", ATTACKER, 0600);
  put(f, "update/pending.json", 0, 0644);
  assert_int_equal(run(f), PERM_OK);
  assert_false(exists(f, "policy.json", NULL));
  assert_string_equal(found(f, "update/pending.json")->action, "chmod");
  put(f, "update/state.json", ATTACKER, 0600);
  assert_int_equal(run(f), PERM_EFOREIGN);
  destroy(f);
}

/* ---- the real fs (symlinks exist here), as root ------------------------ */

typedef struct px {
  os_posix p;
  os_shim os;
  char dir[64], sd[96];
} px;

static int px_setup(void **state) {
  px *x = calloc(1, sizeof *x);
  os_posix_options o;
  os_posix_options_init(&o);
  o.log_level = OS_LOG_ERROR;
  snprintf(x->dir, sizeof x->dir, "/tmp/outpost-perm-XXXXXX");
  if (!mkdtemp(x->dir)) return -1;
  snprintf(x->sd, sizeof x->sd, "%s/state", x->dir);
  if (mkdir(x->sd, 0700) != 0) return -1;
  os_posix_init(&x->os, &x->p, &o);
  *state = x;
  return 0;
}

static int px_teardown(void **state) {
  px *x = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", x->dir);
  int rc = system(cmd);
  free(x);
  return rc == 0 ? 0 : -1;
}

static void px_file(px *x, const char *rel, uid_t uid, mode_t mode) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", x->sd, rel);
  FILE *fp = fopen(p, "w");
  assert_non_null(fp);
  fputs("x", fp);
  fclose(fp);
  assert_int_equal(chown(p, uid, uid), 0);
  assert_int_equal(chmod(p, mode), 0);
}

static void px_link(px *x, const char *rel, const char *target, uid_t uid) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", x->sd, rel);
  assert_int_equal(symlink(target, p), 0);
  assert_int_equal(lchown(p, uid, uid), 0);
}

static int px_run(px *x, perm_drift *d, int *n, char *err, size_t cap) {
  err[0] = 0;
  return perm_assert(&x->os, x->sd, d, n, err, cap);
}

/* The second half of issue #13: a symlink at .outpost-uid-probe made the
 * probe fail, and with it every owner check, silently. Now the probe is
 * gone: a foreign identity.json beside such a link is still refused. */
static void symlink_probe_does_not_disable_owner_checks(void **state) {
  px *x = *state;
  if (geteuid() != 0) skip();
  perm_drift d[PERM_MAX_DRIFT];
  int n;
  char err[512];
  px_link(x, ".outpost-uid-probe", "/etc/passwd", ATTACKER);
  px_file(x, "identity.json", ATTACKER, 0600);
  assert_int_equal(px_run(x, d, &n, err, sizeof err), PERM_EFOREIGN);
  assert_non_null(strstr(err, "identity.json is owned by uid 1000"));
  struct stat st;
  char p[256];
  snprintf(p, sizeof p, "%s/identity.json", x->sd);
  assert_int_equal(lstat(p, &st), 0);
  assert_int_equal(st.st_uid, ATTACKER); /* not taken over */
  assert_int_equal(stat("/etc/passwd", &st), 0);
  assert_int_not_equal(st.st_uid, ATTACKER);
  /* the foreign link (an unknown name, walked first) was removed on the
   * way, its target untouched; identity.json gone, the start goes on */
  assert_int_equal(n, 1);
  assert_string_equal(d[0].file, ".outpost-uid-probe");
  assert_string_equal(d[0].action, "removed");
  char lp[256];
  snprintf(lp, sizeof lp, "%s/.outpost-uid-probe", x->sd);
  assert_int_not_equal(lstat(lp, &st), 0);
  assert_int_equal(unlink(p), 0);
  assert_int_equal(px_run(x, d, &n, err, sizeof err), PERM_OK);
  assert_int_equal(n, 0);
  assert_int_equal(stat("/etc/passwd", &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
}

/* Symlinks under update/ and bin/: refused, except the supervisor's own
 * version links; an unknown link of ours is reported and left. */
static void symlinks_in_update_and_bin(void **state) {
  px *x = *state;
  if (geteuid() != 0) skip();
  perm_drift d[PERM_MAX_DRIFT];
  int n;
  char err[512], p[256];
  snprintf(p, sizeof p, "%s/update", x->sd);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/bin", x->sd);
  assert_int_equal(mkdir(p, 0700), 0);
  px_link(x, "bin/current", "1.2.3", 0);
  px_link(x, "bin/previous", "1.2.2", 0);
  px_link(x, "mine", "/nowhere", 0);
  assert_int_equal(px_run(x, d, &n, err, sizeof err), PERM_OK);
  assert_int_equal(n, 1);
  assert_string_equal(d[0].file, "mine");
  assert_string_equal(d[0].action, "reported");
  px_link(x, "update/state.json", "/etc/shadow", 0);
  assert_int_equal(px_run(x, d, &n, err, sizeof err), PERM_ESYMLINK);
  assert_non_null(strstr(err, "update/state.json is a symlink"));
  snprintf(p, sizeof p, "%s/update/state.json", x->sd);
  unlink(p);
  px_link(x, "policy.json", "/etc/shadow", ATTACKER); /* a name we use: refused, even foreign */
  assert_int_equal(px_run(x, d, &n, err, sizeof err), PERM_ESYMLINK);
  assert_non_null(strstr(err, "policy.json is a symlink"));
  snprintf(p, sizeof p, "%s/policy.json", x->sd);
  unlink(p);
  snprintf(p, sizeof p, "%s/bin/current", x->sd);
  assert_int_equal(lchown(p, ATTACKER, ATTACKER), 0);
  assert_int_equal(px_run(x, d, &n, err, sizeof err), PERM_EFOREIGN);
  assert_non_null(strstr(err, "bin/current"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(planted_probe_gives_nothing_away),
      cmocka_unit_test(foreign_identity_and_trust_refused),
      cmocka_unit_test(foreign_directories_refused),
      cmocka_unit_test(walk_covers_policy_update_bin),
      cmocka_unit_test(uid_comes_from_the_shim),
      cmocka_unit_test(walk_is_bounded),
      cmocka_unit_test(without_list_dir),
      cmocka_unit_test_setup_teardown(symlink_probe_does_not_disable_owner_checks, px_setup,
                                      px_teardown),
      cmocka_unit_test_setup_teardown(symlinks_in_update_and_bin, px_setup, px_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
