/* Policy: validation names the key path; a bad policy leaves the old one
 * untouched; the path box refuses hostile paths (deny list, outside roots,
 * symlinks and ".." resolved first) on the real filesystem. */
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

#include "core/config.h"
#include "core/policy.h"
#include "posix/os_posix.h"

static const char *const good =
    "{\"version\":7,\"logs\":[{\"glob\":\"/var/log/nginx/*.log\"},"
    "{\"glob\":\"/var/log/syslog\",\"start\":\"beginning\"}],"
    "\"snapshots\":{\"processes\":{\"interval_s\":600},\"packages\":{\"interval_s\":86400}},"
    "\"diagnostics\":[{\"name\":\"uptime\",\"interval_s\":60},{\"name\":\"disk\"}],"
    "\"batch_max_records\":500,\"batch_max_age_ms\":2000,\"policy_interval_s\":120,"
    "\"caps\":{\"max_records_per_s\":200,\"max_memory_mb\":32,\"snapshot_max_items\":3000},"
    "\"update_ring\":\"canary\"}";

static void parses_good_policy(void **state) {
  policy p;
  char err[POLICY_ERR_MAX];
  assert_int_equal(policy_parse(good, strlen(good), &p, err, sizeof err), POLICY_OK);
  assert_int_equal(p.version, 7);
  assert_int_equal(p.n_logs, 2);
  assert_string_equal(p.logs[0].glob, "/var/log/nginx/*.log");
  assert_int_equal(p.logs[1].from_beginning, 1);
  assert_int_equal(p.snapshot_interval_s[POLICY_SNAP_PROCESSES], 600);
  assert_int_equal(p.snapshot_interval_s[POLICY_SNAP_SERVICES], 0);
  assert_int_equal(p.n_diags, 2);
  assert_int_equal(p.diags[1].diag, POLICY_DIAG_DISK);
  assert_int_equal(p.diags[1].interval_s, 3600);
  assert_int_equal(p.max_records_per_s, 200);
  assert_int_equal(p.update_ring, POLICY_RING_CANARY);
  assert_int_equal(p.policy_interval_s, 120);
  assert_int_equal(p.snapshot_delta_s[POLICY_SNAP_PROCESSES], -1); /* interval / 10 */
  assert_int_equal(p.journal_enabled, 1);
  assert_int_equal(p.journal_max_priority, 7);
  static const char tuned[] =
      "{\"version\":3,\"snapshots\":{\"packages\":{\"interval_s\":86400,\"delta_interval_s\":600},"
      "\"ports\":{\"interval_s\":60,\"delta_interval_s\":0}},"
      "\"journal\":{\"enabled\":false,\"max_priority\":4}}";
  assert_int_equal(policy_parse(tuned, strlen(tuned), &p, err, sizeof err), POLICY_OK);
  assert_int_equal(p.snapshot_delta_s[POLICY_SNAP_PACKAGES], 600);
  assert_int_equal(p.snapshot_delta_s[POLICY_SNAP_PORTS], 0);
  assert_int_equal(p.journal_enabled, 0);
  assert_int_equal(p.journal_max_priority, 4);
  /* Minimal policy: defaults. */
  assert_int_equal(policy_parse("{\"version\":1}", 13, &p, err, sizeof err), POLICY_OK);
  assert_int_equal(p.n_logs, 0);
  assert_int_equal(p.journal_enabled, 1);
  assert_int_equal(p.max_records_per_s, 1000);
  assert_int_equal(p.policy_interval_s, 300);
}

typedef struct bad_case {
  const char *json;
  const char *expect;
} bad_case;

static void rejects_bad_policies_naming_the_key(void **state) {
  static const bad_case cases[] = {
      {"", "not valid JSON"},
      {"[]", "top level must be an object"},
      {"{}", "version: required"},
      {"{\"version\":1} x", "trailing bytes"},
      {"{\"version\":0}", "version: must be an integer"},
      {"{\"version\":\"7\"}", "version: must be a number"},
      {"{\"version\":1.5}", "version: must be an integer"},
      {"{\"version\":1,\"exec\":\"/bin/sh\"}", "exec: unknown key"},
      {"{\"version\":1,\"logs\":{}}", "logs: must be an array"},
      {"{\"version\":1,\"logs\":[\"/var/log/x\"]}", "logs[0]: must be an object"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/log/a\"},{\"glob\":\"x.log\"}]}",
       "logs[1].glob: must be an absolute path"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/*/x.log\"}]}",
       "logs[0].glob: wildcards are allowed in the last path component only"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/log/[ab].log\"}]}",
       "logs[0].glob: only '*' and '?'"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/log/\"}]}", "logs[0].glob: must name files"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/log/a\\u0001b\"}]}",
       "logs[0].glob: control character"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/log/a\",\"follow_symlinks\":true}]}",
       "logs[0].follow_symlinks: unknown key"},
      {"{\"version\":1,\"logs\":[{\"start\":\"end\"}]}", "logs[0].glob: required"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/log/a\",\"start\":\"middle\"}]}",
       "logs[0].start: must be"},
      {"{\"version\":1,\"logs\":[{\"glob\":\"/var/log/a\"},{\"glob\":\"/var/log/a\"}]}",
       "logs[1].glob: duplicate of logs[0].glob"},
      {"{\"version\":1,\"snapshots\":{\"keystrokes\":{\"interval_s\":60}}}",
       "snapshots.keystrokes: unknown snapshot"},
      {"{\"version\":1,\"snapshots\":{\"processes\":{\"interval_s\":1}}}",
       "snapshots.processes.interval_s: must be an integer from 10"},
      {"{\"version\":1,\"snapshots\":{\"processes\":{}}}", "snapshots.processes.interval_s: required"},
      {"{\"version\":1,\"snapshots\":{\"processes\":{\"interval_s\":60,\"argv\":1}}}",
       "snapshots.processes.argv: unknown key"},
      {"{\"version\":1,\"snapshots\":{\"ports\":{\"interval_s\":60,\"delta_interval_s\":60}}}",
       "snapshots.ports.delta_interval_s: must be shorter than interval_s (60)"},
      {"{\"version\":1,\"snapshots\":{\"ports\":{\"interval_s\":600,\"delta_interval_s\":5}}}",
       "snapshots.ports.delta_interval_s: must be 0 (no changes between full snapshots) or an integer from 10"},
      {"{\"version\":1,\"snapshots\":{\"ports\":{\"interval_s\":600,\"delta_interval_s\":\"1m\"}}}",
       "snapshots.ports.delta_interval_s: must be 0"},
      {"{\"version\":1,\"journal\":true}", "journal: must be an object"},
      {"{\"version\":1,\"journal\":{\"enabled\":1}}", "journal.enabled: must be true or false"},
      {"{\"version\":1,\"journal\":{\"max_priority\":8}}", "journal.max_priority: must be an integer from 0 to 7"},
      {"{\"version\":1,\"journal\":{\"units\":[\"ssh\"]}}", "journal.units: unknown key"},
      {"{\"version\":1,\"diagnostics\":[{\"name\":\"shell\",\"interval_s\":60}]}",
       "diagnostics[0].name: unknown diagnostic \"shell\""},
      {"{\"version\":1,\"diagnostics\":[{\"name\":\"uptime\"},{\"name\":\"run\",\"args\":[\"rm\"]}]}",
       "diagnostics[1].name: unknown diagnostic \"run\""},
      {"{\"version\":1,\"diagnostics\":[{\"name\":\"uptime\",\"command\":\"id\"}]}",
       "diagnostics[0].command: unknown key"},
      {"{\"version\":1,\"diagnostics\":[{\"name\":\"uptime\"},{\"name\":\"uptime\"}]}",
       "diagnostics[1].name: duplicate"},
      {"{\"version\":1,\"diagnostics\":[{\"name\":5}]}", "diagnostics[0].name: must be a string"},
      {"{\"version\":1,\"caps\":{\"max_records_per_s\":1000000}}",
       "caps.max_records_per_s: must be an integer from 1 to 5000"},
      {"{\"version\":1,\"caps\":{\"max_memory_mb\":100000}}", "caps.max_memory_mb: must be"},
      {"{\"version\":1,\"caps\":{\"max_cpu\":99}}", "caps.max_cpu: unknown key"},
      {"{\"version\":1,\"caps\":{\"snapshot_max_items\":-1}}", "caps.snapshot_max_items: must be"},
      {"{\"version\":1,\"update_ring\":\"nightly\"}", "update_ring: must be one of"},
      {"{\"version\":1,\"policy_interval_s\":1}", "policy_interval_s: must be an integer from 30"},
      {"{\"version\":1,\"batch_max_records\":1e9}", "batch_max_records: must be an integer"},
      {"{\"version\":1,\"batch_max_age_ms\":null}", "batch_max_age_ms: must be a number"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    policy p;
    policy_defaults(&p);
    p.version = 42; /* the "last good" one */
    char err[POLICY_ERR_MAX] = "";
    int rc = policy_parse(cases[i].json, strlen(cases[i].json), &p, err, sizeof err);
    if (rc != POLICY_EINVALID || !strstr(err, cases[i].expect))
      fail_msg("case %zu (%s): rc %d, err \"%s\", expected \"%s\"", i, cases[i].json, rc, err,
               cases[i].expect);
    assert_int_equal(p.version, 42); /* untouched: apply is atomic */
  }
}

static void too_many_entries_and_oversize(void **state) {
  char buf[8192];
  size_t n = (size_t)snprintf(buf, sizeof buf, "{\"version\":1,\"logs\":[");
  for (int i = 0; i < POLICY_MAX_GLOBS + 1; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s{\"glob\":\"/var/log/%d\"}", i ? "," : "", i);
  n += (size_t)snprintf(buf + n, sizeof buf - n, "]}");
  policy p;
  char err[POLICY_ERR_MAX];
  assert_int_equal(policy_parse(buf, n, &p, err, sizeof err), POLICY_EINVALID);
  assert_non_null(strstr(err, "logs: at most 16"));
  char *big = malloc(POLICY_MAX_BYTES + 2);
  assert_non_null(big);
  memset(big, ' ', POLICY_MAX_BYTES + 1);
  assert_int_equal(policy_parse(big, POLICY_MAX_BYTES + 1, &p, err, sizeof err), POLICY_EINVALID);
  assert_non_null(strstr(err, "larger than"));
  free(big);
}

static void normalizes(void **state) {
  char out[POLICY_PATH_MAX];
  static const char *const cases[][2] = {
      {"/var/log/../../etc/shadow", "/etc/shadow"},
      {"//var///log/./a.log", "/var/log/a.log"},
      {"/..", "/"},
      {"/../../..", "/"},
      {"/a/b/..", "/a"},
      {"/a/./b/../../c/", "/c"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(policy_normalize(cases[i][0], out, sizeof out), POLICY_OK);
    assert_string_equal(out, cases[i][1]);
  }
  assert_int_equal(policy_normalize("var/log", out, sizeof out), POLICY_EINVALID);
  assert_int_equal(policy_normalize("", out, sizeof out), POLICY_EINVALID);
  assert_int_equal(policy_normalize("/var/log/a\nb", out, sizeof out), POLICY_EINVALID);
  char longp[OS_PATH_MAX + 16];
  memset(longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  longp[sizeof longp - 1] = 0;
  assert_int_equal(policy_normalize(longp, out, sizeof out), POLICY_EINVALID);
}

static void deny_list(void **state) {
  static const char *const denied[] = {
      "/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/home/alice/.ssh/id_rsa",
      "/home/alice/.ssh", "/root/.bash_history", "/home/bob/.gnupg/pubring.kbx",
      "/home/bob/.mozilla/firefox/x.default/logins.json",
      "/home/bob/.config/google-chrome/Default/Cookies", "/home/bob/Documents/report.log",
      "/home/bob/Desktop/a.txt", "/home/bob/.local/share/keyrings/login.keyring",
      "/home/bob/.password-store/bank.gpg", "/etc/ssl/private/server.key",
      "/var/log/app/server.KEY", "/var/log/cert.pem", "/srv/id_ed25519",
      "/proc/self/environ", "/proc/1/root/etc/shadow", "/dev/mem", "/sys/kernel/x",
      "/etc/ssh/ssh_host_ed25519_key", "/var/lib/outpost/agent.key", "/run/secrets/db",
      "/var/log/.aws/credentials", "/home/x/.bash_history", "/opt/app/.netrc",
  };
  for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
    const char *rule = NULL;
    if (!policy_denied(denied[i], &rule)) fail_msg("not denied: %s", denied[i]);
    assert_non_null(rule);
  }
  static const char *const allowed[] = {
      "/var/log/syslog", "/var/log/nginx/access.log", "/var/log/auth.log", "/home/bob/app.log",
      "/var/log/keys.log", "/var/log/pem", "/opt/app/logs/x.log",
  };
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (policy_denied(allowed[i], NULL)) fail_msg("denied: %s", allowed[i]);
}

static void glob_match(void **state) {
  assert_true(policy_glob_match("*.log", "a.log"));
  assert_true(policy_glob_match("*.log", ".log"));
  assert_false(policy_glob_match("*.log", "a.log.1"));
  assert_true(policy_glob_match("a?c*", "abcdef"));
  assert_true(policy_glob_match("*", "x"));
  assert_false(policy_glob_match("?", ""));
  assert_true(policy_glob_match("*a*b*c", "xxaxxbxxc"));
  assert_false(policy_glob_match("*a*b*c", "xxaxxbxx"));
  /* Pathological pattern finishes (backtracking is bounded). */
  char name[4096], pat[64];
  memset(name, 'a', sizeof name - 1);
  name[sizeof name - 1] = 0;
  snprintf(pat, sizeof pat, "*a*a*a*a*a*a*a*a*a*a*a*b");
  assert_false(policy_glob_match(pat, name));
}

/* ---- the box on a real filesystem ---- */

typedef struct fx {
  char tmp[256];
  char root[512];  /* tmp/log: the allowed root */
  char state[512]; /* tmp/log/outpost-state: state dir inside the root (hostile local layout) */
  os_posix px;
  os_shim os;
  policy_limits lim;
} fx;

static void touch(const char *p) {
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs("x\n", f);
  fclose(f);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  snprintf(f->tmp, sizeof f->tmp, "/tmp/outpost-policy-XXXXXX");
  if (!mkdtemp(f->tmp)) return -1;
  char p[700];
  snprintf(f->root, sizeof f->root, "%s/log", f->tmp);
  snprintf(f->state, sizeof f->state, "%s/log/outpost-state", f->tmp);
  mkdir(f->root, 0755);
  mkdir(f->state, 0700);
  snprintf(p, sizeof p, "%s/app", f->root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/app/a.log", f->root);
  touch(p);
  snprintf(p, sizeof p, "%s/app/b.log", f->root);
  touch(p);
  snprintf(p, sizeof p, "%s/app/c.txt", f->root);
  touch(p);
  snprintf(p, sizeof p, "%s/secret", f->tmp);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/secret/data.log", f->tmp);
  touch(p);
  snprintf(p, sizeof p, "%s/state.key", f->state);
  touch(p);
  /* Hostile symlinks planted inside the allowed root. */
  char t[700];
  snprintf(p, sizeof p, "%s/app/shadow.log", f->root);
  assert_int_equal(symlink("/etc/shadow", p), 0);
  snprintf(p, sizeof p, "%s/app/escape.log", f->root);
  snprintf(t, sizeof t, "%s/secret/data.log", f->tmp);
  assert_int_equal(symlink(t, p), 0);
  snprintf(p, sizeof p, "%s/etc", f->root);
  assert_int_equal(symlink("/etc", p), 0);
  snprintf(p, sizeof p, "%s/home", f->root);
  assert_int_equal(symlink("/home", p), 0);
  snprintf(p, sizeof p, "%s/app/loop1.log", f->root);
  snprintf(t, sizeof t, "%s/app/loop2.log", f->root);
  assert_int_equal(symlink(t, p), 0);
  assert_int_equal(symlink(p, t), 0);
  snprintf(p, sizeof p, "%s/app/state.log", f->root);
  snprintf(t, sizeof t, "%s/state.key", f->state);
  assert_int_equal(symlink(t, p), 0);
  snprintf(p, sizeof p, "%s/app/inside.log", f->root);
  assert_int_equal(symlink("a.log", p), 0); /* a benign relative link */
  assert_int_equal(os_posix_init(&f->os, &f->px, NULL), OS_OK);
  snprintf(f->lim.roots[0], sizeof f->lim.roots[0], "%s", f->root);
  f->lim.n_roots = 1;
  snprintf(f->lim.state_dir, sizeof f->lim.state_dir, "%s", f->state);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->tmp);
  if (system(cmd) != 0) return -1;
  free(f);
  return 0;
}

static int check(fx *f, const char *rel_or_abs, char *res, char *why) {
  char p[1200];
  if (rel_or_abs[0] == '/') snprintf(p, sizeof p, "%s", rel_or_abs);
  else snprintf(p, sizeof p, "%s/%s", f->root, rel_or_abs);
  return policy_check_path(&f->lim, &f->os, p, res, POLICY_PATH_MAX, why, POLICY_ERR_MAX);
}

static void path_box(void **state) {
  fx *f = *state;
  char res[POLICY_PATH_MAX], why[POLICY_ERR_MAX], want[1200];
  assert_int_equal(check(f, "app/a.log", res, why), POLICY_OK);
  snprintf(want, sizeof want, "%s/app/a.log", f->root);
  assert_string_equal(res, want);
  /* Not yet existing file: allowed, resolved through its parent. */
  assert_int_equal(check(f, "app/later.log", res, why), POLICY_OK);
  /* Benign relative symlink resolves inside the root. */
  assert_int_equal(check(f, "app/inside.log", res, why), POLICY_OK);
  snprintf(want, sizeof want, "%s/app/a.log", f->root);
  assert_string_equal(res, want);

  struct {
    const char *path;
    int rc;
    const char *why;
  } hostile[] = {
      {"app/shadow.log", POLICY_EDENIED, "/etc/shadow"},
      {"app/escape.log", POLICY_EOUTSIDE, "not under an allowed root"},
      {"etc/shadow", POLICY_EDENIED, "/etc/shadow"},
      {"etc/passwd", POLICY_EOUTSIDE, "resolves to /etc/passwd"},
      {"home/alice/.ssh/id_rsa", POLICY_EDENIED, ".ssh"},
      {"app/../../secret/data.log", POLICY_EOUTSIDE, "not under an allowed root"},
      {"app/loop1.log", POLICY_ERESOLVE, "cannot be resolved"},
      {"app/state.log", POLICY_EDENIED, ".key"},
      {"outpost-state/spool.db", POLICY_EOUTSIDE, "state directory"},
      {"nodir/x.log", POLICY_ERESOLVE, "parent directory"},
      {"/etc/shadow", POLICY_EDENIED, "/etc/shadow"},
      {"/home/alice/.ssh/id_rsa", POLICY_EDENIED, ".ssh"},
      {"/var/log/../../etc/gshadow", POLICY_EDENIED, "/etc/gshadow"},
      {"/proc/self/root/etc/shadow", POLICY_EDENIED, "/proc"},
      {"/etc/hostname", POLICY_EOUTSIDE, "not under an allowed root"},
  };
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    int rc = check(f, hostile[i].path, res, why);
    if (rc != hostile[i].rc || !strstr(why, hostile[i].why))
      fail_msg("%s: rc %d why \"%s\" (expected %d \"%s\")", hostile[i].path, rc, why,
               hostile[i].rc, hostile[i].why);
    assert_string_equal(res, ""); /* nothing to open */
  }
  assert_int_equal(policy_check_path(&f->lim, &f->os, "relative.log", res, sizeof res, why,
                                     sizeof why),
                   POLICY_EINVALID);
}

static void deny_list_beats_local_roots(void **state) {
  fx *f = *state;
  policy_limits lim = {.n_roots = 2};
  snprintf(lim.roots[0], sizeof lim.roots[0], "/");
  snprintf(lim.roots[1], sizeof lim.roots[1], "/home");
  char res[POLICY_PATH_MAX], why[POLICY_ERR_MAX];
  assert_int_equal(policy_check_path(&lim, &f->os, "/etc/shadow", res, sizeof res, why, sizeof why),
                   POLICY_EDENIED);
  assert_int_equal(policy_check_path(&lim, &f->os, "/home/u/.ssh/id_rsa", res, sizeof res, why,
                                     sizeof why),
                   POLICY_EDENIED);
  assert_int_equal(policy_check_path(&lim, &f->os, "/etc/hostname", res, sizeof res, why,
                                     sizeof why),
                   POLICY_OK);
}

typedef struct got {
  int ok, refused;
  char names[16][POLICY_PATH_MAX];
  char refused_why[16][POLICY_ERR_MAX];
} got;

static void on_ok(void *user, const char *p) {
  got *g = user;
  if (g->ok < 16) snprintf(g->names[g->ok], POLICY_PATH_MAX, "%s", p);
  g->ok++;
}
static void on_refused(void *user, const char *p, const char *why) {
  got *g = user;
  if (g->refused < 16) snprintf(g->refused_why[g->refused], POLICY_ERR_MAX, "%s: %s", p, why);
  g->refused++;
}

static void glob_expansion(void **state) {
  fx *f = *state;
  char glob[1200], why[POLICY_ERR_MAX];
  got g = {0};
  policy_expand_cb cb = {&g, on_ok, on_refused};
  snprintf(glob, sizeof glob, "%s/app/*.log", f->root);
  int n = policy_expand_glob(&f->lim, &f->os, glob, 64, &cb, why, sizeof why);
  /* a.log, b.log, inside.log (-> a.log) allowed; shadow, escape, loop1, loop2,
   * state refused, each reported. c.txt does not match. */
  assert_int_equal(n, 3);
  assert_int_equal(g.ok, 3);
  assert_int_equal(g.refused, 5);
  for (int i = 0; i < g.ok; i++) assert_null(strstr(g.names[i], "c.txt"));
  /* The cap on files holds. */
  memset(&g, 0, sizeof g);
  assert_int_equal(policy_expand_glob(&f->lim, &f->os, glob, 1, &cb, why, sizeof why), 1);
  /* A glob whose directory leaves the root is refused before listing. */
  memset(&g, 0, sizeof g);
  snprintf(glob, sizeof glob, "%s/etc/*", f->root);
  assert_int_equal(policy_expand_glob(&f->lim, &f->os, glob, 64, &cb, why, sizeof why),
                   POLICY_EOUTSIDE);
  assert_int_equal(g.ok + g.refused, 0);
  snprintf(glob, sizeof glob, "%s/home/*/.ssh/*", f->root);
  assert_true(policy_expand_glob(&f->lim, &f->os, glob, 64, &cb, why, sizeof why) < 0);
  snprintf(glob, sizeof glob, "%s/../secret/*.log", f->root);
  assert_int_equal(policy_expand_glob(&f->lim, &f->os, glob, 64, &cb, why, sizeof why),
                   POLICY_EOUTSIDE);
  assert_int_equal(policy_expand_glob(&f->lim, &f->os, "/etc/sh*", 64, &cb, why, sizeof why),
                   POLICY_EOUTSIDE);
  assert_int_equal(g.ok, 0);
}

static void config_allowed_roots(void **state) {
  agent_config c;
  char err[256];
  const char *base = "{\"cloud_url\":\"https://x\",\"ca_file\":\"/ca\",\"state_dir\":\"/s\"";
  char j[512];
  snprintf(j, sizeof j, "%s}", base);
  assert_int_equal(config_parse(j, strlen(j), &c, err, sizeof err), CONFIG_OK);
  assert_int_equal(c.n_allowed_log_roots, 1);
  assert_string_equal(c.allowed_log_roots[0], "/var/log");
  snprintf(j, sizeof j, "%s,\"allowed_log_roots\":[\"/srv/logs\",\"/opt/app/log\"]}", base);
  assert_int_equal(config_parse(j, strlen(j), &c, err, sizeof err), CONFIG_OK);
  assert_int_equal(c.n_allowed_log_roots, 2);
  assert_string_equal(c.allowed_log_roots[1], "/opt/app/log");
  snprintf(j, sizeof j, "%s,\"allowed_log_roots\":[]}", base);
  assert_int_equal(config_parse(j, strlen(j), &c, err, sizeof err), CONFIG_OK);
  assert_int_equal(c.n_allowed_log_roots, 0);
  snprintf(j, sizeof j, "%s,\"allowed_log_roots\":[\"var/log\"]}", base);
  assert_int_equal(config_parse(j, strlen(j), &c, err, sizeof err), CONFIG_EINVALID);
  assert_non_null(strstr(err, "allowed_log_roots[0]: must be an absolute path"));
  snprintf(j, sizeof j, "%s,\"allowed_log_roots\":\"/var/log\"}", base);
  assert_int_equal(config_parse(j, strlen(j), &c, err, sizeof err), CONFIG_EINVALID);
  assert_non_null(strstr(err, "allowed_log_roots: must be an array"));
  snprintf(j, sizeof j, "%s,\"metrics_textfile\":\"m.prom\"}", base);
  assert_int_equal(config_parse(j, strlen(j), &c, err, sizeof err), CONFIG_EINVALID);
  assert_non_null(strstr(err, "metrics_textfile: must be an absolute path"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parses_good_policy),
      cmocka_unit_test(rejects_bad_policies_naming_the_key),
      cmocka_unit_test(too_many_entries_and_oversize),
      cmocka_unit_test(normalizes),
      cmocka_unit_test(deny_list),
      cmocka_unit_test(glob_match),
      cmocka_unit_test(config_allowed_roots),
      cmocka_unit_test_setup_teardown(path_box, setup, teardown),
      cmocka_unit_test_setup_teardown(deny_list_beats_local_roots, setup, teardown),
      cmocka_unit_test_setup_teardown(glob_expansion, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
