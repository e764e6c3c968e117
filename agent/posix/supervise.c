/* supervise.c - the supervisor (see supervise.h, docs/updates.md). */
#include "posix/supervise.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/release.h"
#include "core/upstate.h"
#include "core/upsup.h"

extern char **environ;

#define POLL_MS 100
#define SIG_NAME "outpost-agent.sig"
#define BIN_NAME "outpost-agent"

typedef struct sup {
  const supervise_options *o;
  char bin[OS_PATH_MAX]; /* state_dir/bin */
  uint8_t pub[CRYPTO_PUB_DER_MAX];
  size_t pub_len; /* 0 = no release key */
  uint8_t self_sha[CRYPTO_SHA256_LEN];
  int64_t self_len;
  upsup_cfg cfg;     /* the probation rules, decided by core/upsup.c (shared with the simulator) */
  upsup_exits exits; /* recent unrequested exits */
} sup;

static void slog(const sup *s, os_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slog(const sup *s, os_log_level lvl, const char *fmt, ...) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "supervise: ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  s->o->os->log(s->o->os->ctx, lvl, msg);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL); /* a signal cuts it short: that is what we want */
}

static int path2(char *out, const sup *s, const char *a, const char *b) {
  int n = b ? snprintf(out, OS_PATH_MAX, "%s/%s/%s", s->bin, a, b)
            : snprintf(out, OS_PATH_MAX, "%s/%s", s->bin, a);
  return n > 0 && n < OS_PATH_MAX ? 0 : -1;
}

/* Hashes an open file (at most SUPERVISE_BINARY_MAX bytes). */
static int hash_fd(int fd, uint8_t out[CRYPTO_SHA256_LEN], int64_t *len) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SUPERVISE_BINARY_MAX) return -1;
  unsigned char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) return -1;
  int64_t got = 0;
  while (got <= st.st_size) {
    ssize_t n = pread(fd, buf + got, (size_t)(st.st_size + 1 - got), got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
  }
  int rc = got == st.st_size ? 0 : -1; /* grew or shrank under us: refuse */
  if (rc == 0) crypto_sha256(buf, (size_t)got, out);
  *len = got;
  free(buf);
  return rc;
}

/* Reads bin/<version>/outpost-agent.sig (no symlink, <= 4 KiB). */
static int read_sig(const sup *s, const char *version, char *buf, size_t *len) {
  char p[OS_PATH_MAX];
  if (path2(p, s, version, SIG_NAME) != 0) return -1;
  int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, RELEASE_SIG_FILE_MAX + 1);
  close(fd);
  if (n < 0) return -1;
  *len = (size_t)n; /* one byte over the limit is caught by release_verify */
  return 0;
}

/* Opens bin/<version>/outpost-agent and checks it may run: its .sig verifies
 * for version, or it is the supervisor's own binary. Returns an O_CLOEXEC
 * descriptor to execute, or -1 with why set. want_sha (optional) must also
 * match (pending.json). */
static int open_verified(const sup *s, const char *version, const upstate_pending *want,
                         char *why, size_t why_cap) {
  char dir[OS_PATH_MAX], p[OS_PATH_MAX], sig[RELEASE_SIG_FILE_MAX + 1], err[256];
  struct stat st;
  release_version v;
  uint8_t sha[CRYPTO_SHA256_LEN];
  char hex[2 * CRYPTO_SHA256_LEN + 1];
  int64_t len = 0;
  size_t sig_len = 0;
  if (release_version_parse(version, &v) != RELEASE_OK || path2(dir, s, version, NULL) != 0 ||
      path2(p, s, version, BIN_NAME) != 0) {
    snprintf(why, why_cap, "not a version: %.40s", version);
    return -1;
  }
  if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(why, why_cap, "bin/%s is not a directory", version);
    return -1;
  }
  int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || hash_fd(fd, sha, &len) != 0) {
    snprintf(why, why_cap, "bin/%s/%s: %s", version, BIN_NAME,
             fd < 0 ? strerror(errno) : "not a regular file of bounded size");
    if (fd >= 0) close(fd);
    return -1;
  }
  if (want) {
    crypto_hex(sha, sizeof sha, hex);
    if (len != want->length || strcmp(hex, want->sha256) != 0) {
      snprintf(why, why_cap, "bin/%s/%s does not match pending.json (length or sha256)", version,
               BIN_NAME);
      close(fd);
      return -1;
    }
  }
  if (read_sig(s, version, sig, &sig_len) == 0) {
    release_expect e = {s->pub, s->pub_len, {0}, len, release_host_arch(), version};
    memcpy(e.sha256, sha, sizeof sha);
    int rc = release_verify(&e, sig, sig_len, NULL, err, sizeof err);
    if (rc == RELEASE_OK) return fd;
    snprintf(why, why_cap, "bin/%s/%s: %s", version, SIG_NAME, err);
  } else {
    snprintf(why, why_cap, "bin/%s/%s: missing", version, SIG_NAME);
  }
  /* A pending update must carry a signature; an installed binary may instead
   * be the package's own (the seeded copy). */
  if (!want && len == s->self_len && crypto_equal(sha, s->self_sha, sizeof sha)) return fd;
  close(fd);
  return -1;
}

/* Reads bin/<name> (a link to a bare version) into version. */
static int read_link(const sup *s, const char *name, char version[RELEASE_VERSION_MAX]) {
  char p[OS_PATH_MAX], t[RELEASE_VERSION_MAX + 1];
  release_version v;
  if (path2(p, s, name, NULL) != 0) return -1;
  ssize_t n = readlink(p, t, sizeof t - 1);
  if (n <= 0 || (size_t)n >= sizeof t - 1) return -1;
  t[n] = 0;
  if (release_version_parse(t, &v) != RELEASE_OK) return -1; /* no '/', no "..": stays in bin/ */
  memcpy(version, t, (size_t)n + 1);
  return 0;
}

/* fsync of a directory: a rename or unlink in it survives a power cut. */
static int sync_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  int rc = fsync(dfd);
  close(dfd);
  return rc;
}

/* Points bin/<name> at version: a fresh link renamed over the old one. */
static int set_link(const sup *s, const char *name, const char *version) {
  char p[OS_PATH_MAX], tmp[OS_PATH_MAX];
  if (path2(p, s, name, NULL) != 0 || snprintf(tmp, sizeof tmp, "%s/.%s.new", s->bin, name) >=
                                          (int)sizeof tmp)
    return -1;
  unlink(tmp);
  if (symlink(version, tmp) != 0 || rename(tmp, p) != 0) {
    unlink(tmp);
    return -1;
  }
  sync_dir(s->bin); /* the switch must survive a power cut */
  return 0;
}

static int clear_link(const sup *s, const char *name) {
  char p[OS_PATH_MAX];
  if (path2(p, s, name, NULL) != 0) return -1;
  if (unlink(p) != 0 && errno != ENOENT) return -1;
  sync_dir(s->bin);
  return 0;
}

/* state.json, durable before the step that follows it (issue #17): the
 * rename of upstate_save is in update/, a directory the links' fsync of
 * bin/ does not cover. Without this a power cut could keep the new
 * bin/current and lose the probation saved before it. */
static int save_state(const sup *s, const upstate *st) {
  char dir[OS_PATH_MAX];
  if (upstate_save(s->o->os, s->o->state_dir, st) != OS_OK) return -1;
  if (snprintf(dir, sizeof dir, "%s/%s", s->o->state_dir, UPSTATE_DIR) >= (int)sizeof dir) return -1;
  return sync_dir(dir) == 0 ? 0 : -1;
}

/* Carries out steps [from, to) of a switch plan (core/upsup.c), in order,
 * each durable before the next. Returns -1 at the first that fails. */
static int run_steps(const sup *s, const upstate *st, const upsup_step *steps, int from, int to) {
  for (int i = from; i < to; i++) {
    int rc = -1;
    switch (steps[i].op) {
      case UPSUP_OP_SAVE_STATE: rc = st ? save_state(s, st) : -1; break;
      case UPSUP_OP_LINK_PREVIOUS: rc = set_link(s, "previous", steps[i].version); break;
      case UPSUP_OP_LINK_CURRENT: rc = set_link(s, "current", steps[i].version); break;
      case UPSUP_OP_UNLINK_PREVIOUS: rc = clear_link(s, "previous"); break;
    }
    if (rc != 0) {
      slog(s, OS_LOG_ERROR, "switch step %d (%s %s) failed", i + 1, upsup_op_name(steps[i].op),
           steps[i].version);
      return -1;
    }
  }
  return 0;
}

/* Copies the supervisor's own binary to bin/<self_version>/outpost-agent
 * unless an identical file is already there. */
static int seed_self(const sup *s) {
  char dir[OS_PATH_MAX], p[OS_PATH_MAX], tmp[OS_PATH_MAX], why[256];
  const char *v = s->o->self_version;
  int fd = open_verified(s, v, NULL, why, sizeof why);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  if (path2(dir, s, v, NULL) != 0 || path2(p, s, v, BIN_NAME) != 0 ||
      path2(tmp, s, v, BIN_NAME ".tmp") != 0)
    return -1;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
  int in = open(s->o->self_exe, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  unlink(tmp);
  int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
  int rc = out < 0 ? -1 : 0;
  char buf[65536];
  int64_t total = 0;
  while (rc == 0) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      rc = n < 0 ? -1 : 0;
      break;
    }
    total += n;
    if (total > SUPERVISE_BINARY_MAX || write(out, buf, (size_t)n) != n) rc = -1;
  }
  close(in);
  if (out >= 0) {
    if (rc == 0 && fsync(out) != 0) rc = -1;
    close(out);
  }
  if (rc == 0 && total == s->self_len && rename(tmp, p) == 0) {
    slog(s, OS_LOG_INFO, "seeded bin/%s with this binary", v);
    return 0;
  }
  unlink(tmp);
  return -1;
}

static void add_report(const sup *s, const char *kind, const char *version, const char *reason) {
  upstate_report r;
  memset(&r, 0, sizeof r);
  snprintf(r.kind, sizeof r.kind, "%s", kind);
  snprintf(r.version, sizeof r.version, "%s", version);
  snprintf(r.reason, sizeof r.reason, "%s", reason);
  r.at_ms = wall_ms();
  if (upstate_add_report(s->o->os, s->o->state_dir, &r) != OS_OK)
    slog(s, OS_LOG_WARN, "cannot write update/report.json");
}

/* issue #17 (UPD-6): 1 when version may be started as bin/current: not on
 * the bad list, not below the version floor of update/state.json
 * (core/upsup.c upsup_may_run); else 0 with why set. When that state exists
 * but cannot be read the floor is unknown, never "none": the binary that was
 * running goes on (logged), but nothing else is switched to. A missing
 * state.json is a fresh install: no floor. */
static int may_start(const sup *s, const char *version, char *why, size_t cap) {
  upstate st;
  char err[256];
  if (upstate_load(s->o->os, s->o->state_dir, &st, err, sizeof err) != OS_OK) {
    slog(s, OS_LOG_WARN, "update/state.json unreadable (%s): the version floor is unknown: "
         "keeping %s, switching to nothing else", err, version);
    return 1;
  }
  const char *no = upsup_may_run(&st, version, 1);
  if (!no) return 1;
  if (upstate_is_bad(&st, version)) snprintf(why, cap, "version %s is on the bad list", version);
  else snprintf(why, cap, "version %s is below the version floor %s", version, st.floor);
  return 0;
}

/* Sets up bin/ and makes bin/current point at something that verifies and
 * may run, as core/upsup.c upsup_boot decides: this is also where a switch
 * cut short by a power cut is finished (issue #17). Returns 0 with the
 * version in cur, or -1. */
static int prepare(sup *s, char cur[RELEASE_VERSION_MAX]) {
  char why[512], err[256], cv[RELEASE_VERSION_MAX], pv[RELEASE_VERSION_MAX];
  if (mkdir(s->o->state_dir, 0700) != 0 && errno != EEXIST) return -1;
  if (mkdir(s->bin, 0700) != 0 && errno != EEXIST) return -1;
  struct stat sb;
  if (lstat(s->bin, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    slog(s, OS_LOG_ERROR, "%s is not a directory", s->bin);
    return -1;
  }
  upstate st;
  int have_st = upstate_load(s->o->os, s->o->state_dir, &st, err, sizeof err) == OS_OK;
  upsup_boot_in in;
  memset(&in, 0, sizeof in);
  in.st = have_st ? &st : NULL;
  in.self = s->o->self_version;
  if (read_link(s, "current", cv) == 0) {
    in.current = cv;
    int fd = open_verified(s, cv, NULL, why, sizeof why);
    if (fd < 0) slog(s, OS_LOG_WARN, "bin/current (%s) refused: %s", cv, why);
    else close(fd);
    in.current_ok = fd >= 0;
  }
  if (read_link(s, "previous", pv) == 0) {
    in.previous = pv;
    int fd = open_verified(s, pv, NULL, why, sizeof why);
    if (fd >= 0) close(fd);
    in.previous_ok = fd >= 0;
  }
  upsup_boot_out b;
  upsup_boot(&in, &b);
  if (b.report_kind) {
    slog(s, OS_LOG_ERROR, "%s", b.why);
    add_report(s, b.report_kind, cv, b.why);
  }
  if (b.action == UPSUP_BOOT_FAIL) {
    slog(s, OS_LOG_ERROR, "no binary at or above the floor to start: %s", b.why);
    return -1;
  }
  if (b.action == UPSUP_BOOT_RUN) {
    if (!have_st)
      slog(s, OS_LOG_WARN, "update/state.json unreadable (%s): the version floor is unknown: "
           "keeping %s, switching to nothing else", err, b.run);
    snprintf(cur, RELEASE_VERSION_MAX, "%s", b.run);
    return 0;
  }
  if (in.current_ok && !b.report_kind)
    slog(s, OS_LOG_INFO, "installed binary %s is newer than bin/current %s: switching", b.run, cv);
  if (b.seed_self && seed_self(s) != 0) {
    slog(s, OS_LOG_ERROR, "cannot seed bin/%s", s->o->self_version);
    return -1;
  }
  if (run_steps(s, NULL, b.steps, 0, b.n_steps) != 0) return -1;
  slog(s, OS_LOG_INFO, "bin/current is now %s", b.run);
  snprintf(cur, RELEASE_VERSION_MAX, "%s", b.run);
  return 0;
}

/* Probation failed (or cannot run): back to bin/previous, version marked bad.
 * Returns 1 when it rolled back (or tried to), 0 when it refused to because
 * the state is unreadable (the caller then backs off before the next start). */
static int roll_back(sup *s, const char *bad, const char *reason, char cur[RELEASE_VERSION_MAX]) {
  upstate st;
  char prev[RELEASE_VERSION_MAX], target[RELEASE_VERSION_MAX] = "", why[512], err[256];
  if (upstate_load(s->o->os, s->o->state_dir, &st, err, sizeof err) != OS_OK) {
    /* Fail closed (issue #17): rewriting a fresh state would erase the
     * floor, and the previous binary may be below it. Keep the current
     * binary, report, touch nothing; the caller backs off. */
    slog(s, OS_LOG_ERROR, "version %s failed probation (%s) but update/state.json is unreadable "
         "(%s): keeping it, the floor untouched", bad, reason, err);
    add_report(s, "refused", bad, "rollback refused: update/state.json unreadable");
    return 0;
  }
  slog(s, OS_LOG_ERROR, "version %s failed probation (%s): rolling back", bad, reason);
  upsup_mark_bad(&st, bad);
  /* The target: bin/previous if it verifies and may run (never below the
   * floor, even back), else the installed version. */
  if (read_link(s, "previous", prev) == 0 && strcmp(prev, bad) != 0) {
    const char *no = upsup_may_run(&st, prev, 0);
    int fd = no ? -1 : open_verified(s, prev, NULL, why, sizeof why);
    if (fd >= 0) {
      close(fd);
      snprintf(target, sizeof target, "%s", prev);
    } else {
      slog(s, OS_LOG_WARN, "bin/previous (%s) refused: %s", prev, no ? no : why);
    }
  }
  if (!target[0] && !upsup_may_run(&st, s->o->self_version, 0) && seed_self(s) == 0)
    snprintf(target, sizeof target, "%s", s->o->self_version);
  upsup_step steps[UPSUP_STEPS_MAX];
  int n = upsup_plan_rollback(target, steps);
  /* Step 1, the bad list, then the report: a power cut after either is
   * finished (and reported again) by prepare(). */
  if (run_steps(s, &st, steps, 0, 1) != 0) slog(s, OS_LOG_ERROR, "cannot write update/state.json");
  add_report(s, "rollback", bad, reason);
  if (!target[0]) {
    slog(s, OS_LOG_ERROR, "no version to roll back to: %s is on the bad list and is not started", bad);
    return 1;
  }
  if (run_steps(s, &st, steps, 1, n) == 0) {
    snprintf(cur, RELEASE_VERSION_MAX, "%s", target);
    slog(s, OS_LOG_INFO, "rolled back to %s", target);
  }
  return 1;
}

/* The child exited 75: switch to the staged version if everything verifies. */
static void take_pending(sup *s, char cur[RELEASE_VERSION_MAX]) {
  upstate_pending p;
  upstate st;
  char err[256], why[512];
  int rc = upstate_load_pending(s->o->os, s->o->state_dir, &p, err, sizeof err);
  if (rc == OS_ENOENT) return; /* a plain restart request */
  upstate_clear_pending(s->o->os, s->o->state_dir);
  if (rc != OS_OK) {
    slog(s, OS_LOG_WARN, "update refused: %s", rc == UPSTATE_EPARSE ? err : "pending.json unreadable");
    return;
  }
  if (upstate_load(s->o->os, s->o->state_dir, &st, err, sizeof err) != OS_OK) {
    slog(s, OS_LOG_ERROR, "update %s refused: %s", p.version, err);
    add_report(s, "refused", p.version, "state.json unreadable");
    return;
  }
  const char *bad_why = upsup_check_pending(&st, cur, p.version, s->pub_len != 0);
  int fd = bad_why ? -1 : open_verified(s, p.version, &p, why, sizeof why);
  if (!bad_why && fd < 0) bad_why = why;
  if (bad_why) {
    slog(s, OS_LOG_ERROR, "update to %s refused: %s", p.version, bad_why);
    add_report(s, "refused", p.version, bad_why);
    return;
  }
  close(fd);
  /* The order of the steps (probation, previous, current) and why each
   * prefix is safe after a power cut: core/upsup.h. */
  upsup_begin_probation(&st, NULL, p.version, wall_ms(), &s->cfg);
  upsup_step steps[UPSUP_STEPS_MAX];
  int n = upsup_plan_take(cur, p.version, steps);
  if (run_steps(s, &st, steps, 0, n) != 0) {
    slog(s, OS_LOG_ERROR, "cannot switch to %s", p.version);
    set_link(s, "current", cur);
    return;
  }
  slog(s, OS_LOG_INFO, "switched from %s to %s; on probation for %lld s", cur, p.version,
       (long long)(s->o->probation_ms / 1000));
  snprintf(cur, RELEASE_VERSION_MAX, "%s", p.version);
  s->exits.n = 0; /* only now: a refused switch keeps counting the current version's exits */
}

/* 1 when the directory vfd holds nothing but a release's binary and .sig. */
static int only_release_files(int vfd) {
  int lfd = dup(vfd);
  DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
  if (!d) {
    if (lfd >= 0) close(lfd);
    return 0;
  }
  int ok = 1, seen = 0;
  struct dirent *e;
  while (ok && (e = readdir(d)) != NULL) {
    if (++seen > 8) ok = 0;
    else if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
             strcmp(e->d_name, BIN_NAME) != 0 &&
             strcmp(e->d_name, SIG_NAME) != 0)
      ok = 0;
  }
  closedir(d);
  return ok;
}

/* Deletes bin/<v>/ for every version that is not current, previous or
 * staged (issue #17: old releases never pile up). Runs only while no agent
 * runs, so nothing is being staged. Works on descriptors from bin/ down,
 * never following a link; a directory holding anything but the binary and
 * its .sig is left (logged), not emptied blindly. */
static void prune_bin(const sup *s, const char *cur) {
  char prev[RELEASE_VERSION_MAX] = "", err[256];
  upstate_pending p;
  memset(&p, 0, sizeof p);
  if (read_link(s, "previous", prev) != 0) prev[0] = 0;
  if (upstate_load_pending(s->o->os, s->o->state_dir, &p, err, sizeof err) != OS_OK) p.version[0] = 0;
  int bfd = open(s->bin, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (bfd < 0) return;
  int lfd = dup(bfd);
  DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
  if (!d) {
    if (lfd >= 0) close(lfd);
    close(bfd);
    return;
  }
  char gone[UPSUP_BIN_MAX_ENTRIES][RELEASE_VERSION_MAX];
  int n = 0, seen = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && seen++ < UPSUP_BIN_MAX_ENTRIES) {
    size_t len = strlen(e->d_name);
    if (upsup_bin_keep(e->d_name, cur, prev, p.version) || len >= RELEASE_VERSION_MAX) continue;
    memcpy(gone[n++], e->d_name, len + 1); /* fits: checked above (snprintf warns at -O0) */
  }
  closedir(d);
  for (int i = 0; i < n; i++) {
    int vfd = openat(bfd, gone[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (vfd < 0) continue; /* not a directory (or a link): not ours to judge */
    if (!only_release_files(vfd)) {
      close(vfd);
      slog(s, OS_LOG_WARN, "bin/%s not removed: it holds files other than %s and %s", gone[i], BIN_NAME,
           SIG_NAME);
      continue;
    }
    (void)unlinkat(vfd, BIN_NAME, 0);
    (void)unlinkat(vfd, SIG_NAME, 0);
    close(vfd);
    if (unlinkat(bfd, gone[i], AT_REMOVEDIR) == 0)
      slog(s, OS_LOG_INFO, "bin/%s removed (not current, previous or staged)", gone[i]);
    else
      slog(s, OS_LOG_WARN, "bin/%s not removed: %s", gone[i], strerror(errno));
  }
  if (n > 0) fsync(bfd);
  close(bfd);
}

static pid_t start_child(sup *s, const char *cur) {
  char why[512];
  /* The floor before every exec (issue #17): bin/current may have been
   * pointed at a validly signed older version since the last start. */
  if (!may_start(s, cur, why, sizeof why)) {
    slog(s, OS_LOG_ERROR, "will not start %s: %s", cur, why);
    add_report(s, "refused", cur, why);
    return -1;
  }
  int fd = open_verified(s, cur, NULL, why, sizeof why);
  if (fd < 0) {
    slog(s, OS_LOG_ERROR, "will not start %s: %s", cur, why);
    return -1;
  }
  prune_bin(s, cur);
  pid_t pid = fork();
  if (pid == 0) {
    char *argv[] = {(char *)BIN_NAME, (char *)"run", (char *)"--config",
                    (char *)s->o->config_path, NULL};
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    fexecve(fd, argv, environ);
    _exit(127);
  }
  close(fd);
  if (pid < 0) slog(s, OS_LOG_ERROR, "fork: %s", strerror(errno));
  else slog(s, OS_LOG_INFO, "started %s (pid %d)", cur, (int)pid);
  return pid;
}

/* SIGTERM, then SIGKILL after the grace period. Returns the wait status. */
static int stop_child(const sup *s, pid_t pid) {
  int status = 0;
  kill(pid, SIGTERM);
  int64_t until = mono_ms() + s->o->stop_grace_ms;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (mono_ms() >= until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    sleep_ms(20);
  }
  return status;
}

void supervise_options_init(supervise_options *o) {
  memset(o, 0, sizeof *o);
  o->self_exe = "/proc/self/exe";
  o->probation_ms = 600 * 1000;
  o->crash_loop_max = 3;
  o->crash_window_ms = 300 * 1000;
  o->backoff_base_ms = 500;
  o->backoff_max_ms = 30 * 1000;
  o->backoff_reset_ms = 60 * 1000;
  o->stop_grace_ms = 10 * 1000;
}

int supervise_run(const supervise_options *o) {
  sup *s = calloc(1, sizeof *s);
  char cur[RELEASE_VERSION_MAX], err[256];
  int rc = 1;
  if (!s) return 1;
  s->o = o;
  if (o->crash_loop_max < 1 || o->crash_loop_max > SUPERVISE_CRASH_MAX || !o->stop ||
      snprintf(s->bin, sizeof s->bin, "%s/bin", o->state_dir) >= (int)sizeof s->bin)
    goto out;
  int krc = release_key_load(o->pubkey, o->pubkey_len, s->pub, sizeof s->pub, &s->pub_len);
  if (krc != RELEASE_OK) {
    s->pub_len = 0;
    slog(s, OS_LOG_WARN, "%s", krc == RELEASE_ENOKEY ? "no release key compiled in: updates refused"
                                                     : "the compiled-in release key is unusable: updates refused");
  }
  int self_fd = open(o->self_exe, O_RDONLY | O_CLOEXEC);
  if (self_fd < 0 || hash_fd(self_fd, s->self_sha, &s->self_len) != 0) {
    slog(s, OS_LOG_ERROR, "cannot read own binary %s", o->self_exe);
    if (self_fd >= 0) close(self_fd);
    goto out;
  }
  close(self_fd);
  if (prepare(s, cur) != 0) goto out;
  s->cfg.probation_ms = o->probation_ms;
  s->cfg.crash_loop_max = o->crash_loop_max;
  s->cfg.crash_window_ms = o->crash_window_ms;

  int64_t backoff = o->backoff_base_ms, next_start = 0, started = 0;
  pid_t child = -1;
  rc = 0;
  while (!*o->stop) {
    int64_t now = mono_ms();
    upstate st;
    int have_st = upstate_load(o->os, o->state_dir, &st, err, sizeof err) == OS_OK;
    int on_prob = have_st && upsup_on_probation(&st, cur);
    if (have_st && st.on_probation && !on_prob) {
      st.on_probation = 0; /* left over from an interrupted switch */
      upstate_save(o->os, o->state_dir, &st);
    }
    if (child < 0) {
      if (now < next_start) {
        sleep_ms(next_start - now < POLL_MS ? next_start - now : POLL_MS);
        continue;
      }
      char why[UPSUP_WHY_MAX];
      if (on_prob && upsup_on_start(&st, cur, &s->cfg, why, sizeof why) == UPSUP_ROLLBACK) {
        if (!roll_back(s, cur, why, cur)) next_start = now + o->backoff_max_ms;
        continue;
      }
      if (on_prob) upstate_save(o->os, o->state_dir, &st);
      child = start_child(s, cur);
      if (child < 0) {
        if (on_prob && roll_back(s, cur, "binary refused at start", cur)) continue;
        rc = 1;
        break;
      }
      started = now;
      continue;
    }
    int status = 0;
    pid_t w = waitpid(child, &status, WNOHANG);
    if (w == child) {
      child = -1;
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      slog(s, code == 0 ? OS_LOG_INFO : OS_LOG_WARN, "%s exited with %d", cur, code);
      if (code == SUPERVISE_EXIT_UPDATE) {
        char before[RELEASE_VERSION_MAX];
        snprintf(before, sizeof before, "%s", cur);
        take_pending(s, cur);
        if (strcmp(before, cur) != 0) {
          next_start = now;
          backoff = o->backoff_base_ms;
          continue;
        }
      }
      char why[UPSUP_WHY_MAX];
      if (upsup_on_exit(&s->exits, have_st ? &st : NULL, cur, now, &s->cfg, why, sizeof why) ==
              UPSUP_ROLLBACK &&
          roll_back(s, cur, why, cur)) {
        next_start = now;
        backoff = o->backoff_base_ms;
        continue;
      }
      if (now - started >= o->backoff_reset_ms) backoff = o->backoff_base_ms;
      next_start = now + backoff;
      backoff = backoff * 2 > o->backoff_max_ms ? o->backoff_max_ms : backoff * 2;
      continue;
    }
    if (on_prob) {
      upstate_health h;
      char why[UPSUP_WHY_MAX];
      int have_h = upstate_load_health(o->os, o->state_dir, &h, NULL, 0) == OS_OK;
      upsup_verdict v = upsup_on_tick(&st, cur, have_h ? &h : NULL, wall_ms(), why, sizeof why);
      if (v == UPSUP_PASS) {
        if (upstate_save(o->os, o->state_dir, &st) == OS_OK)
          slog(s, OS_LOG_INFO, "version %s passed probation; floor is now %s", cur, st.floor);
      } else if (v == UPSUP_ROLLBACK) {
        stop_child(s, child);
        child = -1;
        next_start = roll_back(s, cur, why, cur) ? now : now + o->backoff_max_ms;
        continue;
      }
    }
    sleep_ms(POLL_MS);
  }
  if (child > 0) {
    int status = stop_child(s, child);
    slog(s, OS_LOG_INFO, "stopped (%s exited with %d)", cur,
         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  } else if (rc == 0) {
    slog(s, OS_LOG_INFO, "stopped");
  }
out:
  free(s);
  return rc;
}
