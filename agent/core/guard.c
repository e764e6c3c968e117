/* guard.c - decide on the open descriptor (see guard.h). */
#include "core/guard.h"

#include <stdarg.h>
#include <stdio.h> /* vsnprintf only */
#include <string.h>

static void say(char *why, size_t cap, const char *fmt, ...) {
  if (!why || !cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
}

int guard_canonical(const os_shim *os, const char *path, char *out, size_t cap) {
  char lex[POLICY_PATH_MAX], dir[POLICY_PATH_MAX], rdir[POLICY_PATH_MAX];
  if (policy_normalize(path, lex, sizeof lex) != POLICY_OK || strcmp(lex, "/") == 0)
    return GUARD_EREFUSED;
  const char *slash = strrchr(lex, '/');
  size_t dlen = slash == lex ? 1 : (size_t)(slash - lex);
  memcpy(dir, lex, dlen);
  dir[dlen] = 0;
  const char *base = dir;
  if (os && os->realpath && os->realpath(os->ctx, dir, rdir, sizeof rdir) == OS_OK) base = rdir;
  int w = snprintf(out, cap, "%s/%s", strcmp(base, "/") == 0 ? "" : base, slash + 1);
  return w < 0 || (size_t)w >= cap ? GUARD_EREFUSED : GUARD_OK;
}

const char *guard_type_name(int type) {
  switch (type) {
  case OS_TYPE_REG: return "regular file";
  case OS_TYPE_DIR: return "directory";
  case OS_TYPE_LNK: return "symlink";
  case OS_TYPE_FIFO: return "FIFO";
  case OS_TYPE_CHR: return "character device";
  case OS_TYPE_BLK: return "block device";
  case OS_TYPE_SOCK: return "socket";
  default: return "special file";
  }
}

/* Step 1 of guard.h: the canonical path to open, or a refusal. */
static int checked_path(const policy_limits *lim, const os_shim *os, const char *path,
                        char *res, size_t cap, char *why, size_t why_cap) {
#ifdef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
  /* Test builds only: the kernel (Landlock) must stand alone. */
  (void)lim;
  (void)os;
  (void)why;
  (void)why_cap;
  if (policy_normalize(path, res, cap) != POLICY_OK) return GUARD_EREFUSED;
  return GUARD_OK;
#else
  policy_limits all;
  if (!lim) {
    memset(&all, 0, sizeof all);
    all.n_roots = 1;
    memcpy(all.roots[0], "/", 2);
    lim = &all;
  }
  int rc = policy_check_path(lim, os, path, res, cap, why, why_cap);
  if (rc == POLICY_OK) {
    char lex[POLICY_PATH_MAX];
    if (policy_normalize(path, lex, sizeof lex) == POLICY_OK && strcmp(lex, res) == 0)
      return GUARD_OK;
    say(why, why_cap, "%.200s now resolves to %.200s: a symlink appeared in its path (refused)",
        path, res);
    return GUARD_EREFUSED;
  }
  /* A path whose directory is missing is "not there yet", like a missing file. */
  if (rc == POLICY_ERESOLVE && os->lstat) {
    os_stat st;
    char lex[POLICY_PATH_MAX];
    if (policy_normalize(path, lex, sizeof lex) == POLICY_OK &&
        os->lstat(os->ctx, lex, &st) == OS_ENOENT) {
      const char *rule = NULL;
      if (!policy_denied(lex, &rule)) return GUARD_ENOENT;
    }
  }
  return GUARD_EREFUSED;
#endif
}

int guard_open(const policy_limits *lim, const os_shim *os, const char *path, os_file **out,
               os_stat *st, int *os_error, char *why, size_t why_cap) {
  char res[POLICY_PATH_MAX];
  int dummy_err = 0;
  if (!os_error) os_error = &dummy_err;
  *os_error = 0;
  *out = NULL;
  if (why && why_cap) why[0] = 0;
  int rc = checked_path(lim, os, path, res, sizeof res, why, why_cap);
  if (rc != GUARD_OK) return rc;

  os_stat ls;
  rc = os->lstat(os->ctx, res, &ls);
  if (rc == OS_ENOENT || rc == OS_ENOTDIR) return GUARD_ENOENT;
  if (rc != OS_OK) {
    *os_error = rc;
    return GUARD_EIO;
  }
  if (ls.type != OS_TYPE_REG) {
    say(why, why_cap, "%.200s is a %s, not a regular file (never opened)", res,
        ls.is_symlink ? "symlink" : guard_type_name(ls.type));
    return GUARD_EREFUSED;
  }

  os_file *f = NULL;
  rc = os->open(os->ctx, res, OS_O_READ | OS_O_NOFOLLOW_ANY | OS_O_NONBLOCK, 0, &f);
  if (rc == OS_ENOENT) return GUARD_ENOENT;
  if (rc == OS_ELOOP) {
    say(why, why_cap, "a symlink appeared in %.200s between its check and its opening: refused",
        res);
    return GUARD_EREFUSED;
  }
  if (rc == OS_EACCES || rc == OS_EPERM) {
    /* The kernel's wall (Landlock, or plain modes): a refusal like ours,
     * counted and reported with the path. */
    say(why, why_cap, "the kernel refused to open %.200s (%s: outside the Landlock rules or "
        "the file's modes)", res, rc == OS_EACCES ? "permission denied" : "not permitted");
    return GUARD_EREFUSED;
  }
  if (rc != OS_OK) {
    *os_error = rc;
    return GUARD_EIO;
  }
  rc = os->fstat(os->ctx, f, st);
  if (rc != OS_OK) {
    os->close(os->ctx, f);
    *os_error = rc;
    return GUARD_EIO;
  }
  if (st->type != OS_TYPE_REG) {
    os->close(os->ctx, f);
    say(why, why_cap, "%.200s became a %s between its check and its opening: refused", res,
        guard_type_name(st->type));
    return GUARD_EREFUSED;
  }
  if (st->nlink > 1) {
    os->close(os->ctx, f);
    say(why, why_cap,
        "%.200s has %u hard links: another name may be a denied file (refused)", res,
        (unsigned)st->nlink);
    return GUARD_EREFUSED;
  }
  *out = f;
  return GUARD_OK;
}
