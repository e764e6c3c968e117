/* perm.c - re-asserting the state dir's owner and modes (see perm.h). */
#include "core/perm.h"

#include <stdio.h> /* snprintf only */
#include <string.h>

#include "core/files.h"

#define PERM_PROBE ".outpost-uid-probe"

static const struct {
  const char *name;
  uint32_t mode;
} perm_files[] = {
    {"agent.key", 0600},     {"agent.key.new", 0600},     {"identity.json", 0600},
    {"spool.db", 0600},      {"spool.db-journal", 0600},
};

/* The running user's uid: the owner of a file we just created. */
static int probe_uid(const os_shim *os, const char *dir, uint32_t *uid) {
  char path[OS_PATH_MAX];
  if (files_join(path, sizeof path, dir, PERM_PROBE) != OS_OK) return OS_ENAMETOOLONG;
  os_file *f = NULL;
  int rc = os->open(os->ctx, path, OS_O_WRITE | OS_O_CREATE | OS_O_TRUNC | OS_O_NOFOLLOW, 0600,
                    &f);
  if (rc != OS_OK) return rc;
  os_stat st;
  rc = os->fstat(os->ctx, f, &st);
  os->close(os->ctx, f);
  os->unlink(os->ctx, path);
  if (rc == OS_OK) *uid = st.uid;
  return rc;
}

static void note(perm_drift *d, int *n, const char *name, const os_stat *st, uint32_t set_mode,
                 uint32_t uid, int repaired) {
  if (*n >= PERM_MAX_DRIFT) return;
  perm_drift *e = &d[(*n)++];
  snprintf(e->file, sizeof e->file, "%s", name);
  e->was_mode = st->mode;
  e->set_mode = set_mode;
  e->was_uid = st->uid;
  e->uid = uid;
  e->repaired = repaired;
}

static int check_one(const os_shim *os, const char *path, const char *name, uint32_t want,
                     int have_uid, uint32_t uid, perm_drift *d, int *n, char *err, size_t cap) {
  os_stat st;
  int rc = os->lstat(os->ctx, path, &st);
  if (rc == OS_ENOENT) return PERM_OK;
  if (rc != OS_OK) {
    snprintf(err, cap, "%s: cannot inspect: %s", path, files_strerror(rc));
    return PERM_EIO;
  }
  if (st.is_symlink) {
    snprintf(err, cap,
             "%s is a symlink; the agent never follows links in its state dir: remove it and "
             "restore the real file",
             path);
    return PERM_ESYMLINK;
  }
  int mode_bad = (st.mode & 07777) != want, owner_bad = have_uid && st.uid != uid;
  if (!mode_bad && !owner_bad) return PERM_OK;
  /* Owner first: a chown may clear set-id bits, the chmod after it sets the
   * mode that must hold. The shim's chown refuses a symlink swapped in since
   * the lstat above (OS_ELOOP): then nothing is changed and it is reported. */
  int owner_ok = !owner_bad;
  if (owner_bad && os->chown_nofollow) {
    rc = os->chown_nofollow(os->ctx, path, uid);
    if (rc == OS_ELOOP) {
      snprintf(err, cap, "%s became a symlink; the agent never follows links in its state dir",
               path);
      return PERM_ESYMLINK;
    }
    owner_ok = rc == OS_OK;
  }
  int mode_ok = !mode_bad || os->chmod(os->ctx, path, want) == OS_OK;
  note(d, n, name, &st, mode_ok ? want : st.mode, have_uid ? uid : st.uid, owner_ok && mode_ok);
  return PERM_OK;
}

int perm_assert(const os_shim *os, const char *dir, perm_drift *drift, int *n_drift, char *err,
                size_t cap) {
  *n_drift = 0;
  os_stat st;
  int rc = os->lstat(os->ctx, dir, &st);
  if (rc == OS_ENOENT) return PERM_OK; /* first start: files_ensure_dir creates it */
  if (rc == OS_OK && st.is_symlink) {
    snprintf(err, cap, "state_dir %s is a symlink; the agent refuses to follow it", dir);
    return PERM_ESYMLINK;
  }
  if (rc != OS_OK || !st.is_dir) return PERM_OK; /* files_ensure_dir reports it */
  uint32_t uid = 0;
  int have_uid = probe_uid(os, dir, &uid) == OS_OK;
  int ret = check_one(os, dir, ".", 0700, have_uid, uid, drift, n_drift, err, cap);
  for (size_t i = 0; ret == PERM_OK && i < sizeof perm_files / sizeof perm_files[0]; i++) {
    char path[OS_PATH_MAX];
    if (files_join(path, sizeof path, dir, perm_files[i].name) != OS_OK) continue;
    ret = check_one(os, path, perm_files[i].name, perm_files[i].mode, have_uid, uid, drift,
                    n_drift, err, cap);
  }
  return ret;
}
