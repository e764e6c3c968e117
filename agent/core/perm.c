/* perm.c - the state dir's owners and modes, re-asserted at every start (see perm.h). */
#include "core/perm.h"

#include <stdio.h> /* snprintf only */
#include <stdlib.h>
#include <string.h>

#include "core/files.h"

/* A name in a directory: NAME_MAX on Linux; longer ones refuse the start. */
#define PERM_NAME_MAX 256

typedef enum perm_kind {
  K_UNKNOWN = 0, /* a name the agent never writes */
  K_IDENTITY,    /* key and identity: content trusted, never re-made silently */
  K_TRUST,       /* update/ and bin/: version floor, trust roots, binaries */
  K_BINLINK,     /* bin/current, bin/previous: the supervisor's own symlinks */
  K_DATA,        /* re-made by the agent when absent */
} perm_kind;

typedef struct perm_class {
  perm_kind kind;
  uint32_t max_mode; /* files: bits allowed; directories are always exactly 0700 */
} perm_class;

/* Top-level names the agent writes (ident.c, spool.c, pstate.c, jread.c,
 * statusfile.c). files_write_atomic also leaves "<name>.tmp" after a crash. */
static const struct {
  const char *name;
  perm_kind kind;
  uint32_t max_mode;
} perm_top[] = {
    {"agent.key", K_IDENTITY, 0600},   {"agent.key.new", K_IDENTITY, 0600},
    {"identity.json", K_IDENTITY, 0600}, {"spool.db", K_DATA, 0600},
    {"spool.db-journal", K_DATA, 0600}, {"spool.db-reserve", K_DATA, 0600},
    {"policy.json", K_DATA, 0600},     {"journal.cursor", K_DATA, 0600},
    {"status.json", K_DATA, 0640},     {"update", K_TRUST, 0600},
    {"bin", K_TRUST, 0755},
};

/* Without list_dir (a shim that cannot list): the names the agent writes in
 * update/ are still checked; bin/ is the supervisor's and is skipped. */
static const char *const perm_update_files[] = {"state.json", "pending.json", "health.json",
                                                "report.json", "metadata"};

typedef struct walk {
  const os_shim *os;
  uint32_t me;
  perm_drift *d;
  int *n;
  int entries; /* inspected so far, at most PERM_MAX_ENTRIES */
  char *err;
  size_t cap;
} walk;

static perm_class classify(const char *rel) {
  perm_class c = {K_UNKNOWN, 0};
  if (strncmp(rel, "update/", 7) == 0) return (perm_class){K_TRUST, 0600};
  if (strncmp(rel, "bin/", 4) == 0) {
    const char *b = rel + 4;
    if (!strcmp(b, "current") || !strcmp(b, "previous") || !strcmp(b, ".current.new") ||
        !strcmp(b, ".previous.new"))
      return (perm_class){K_BINLINK, 0};
    return (perm_class){K_TRUST, 0755}; /* binaries 0755/0700, signatures 0644 */
  }
  size_t len = strlen(rel);
  for (size_t i = 0; i < sizeof perm_top / sizeof perm_top[0]; i++) {
    size_t nl = strlen(perm_top[i].name);
    if (strcmp(rel, perm_top[i].name) == 0 ||
        (len == nl + 4 && strncmp(rel, perm_top[i].name, nl) == 0 && !strcmp(rel + nl, ".tmp"))) {
      c.kind = perm_top[i].kind;
      c.max_mode = perm_top[i].max_mode;
      return c;
    }
  }
  return c;
}

/* Logs every finding and keeps the first PERM_MAX_DRIFT for the cloud. */
static void note(walk *w, const char *rel, const char *action, const os_stat *st,
                 uint32_t set_mode, int repaired) {
  char msg[512];
  unsigned was = (unsigned)(st->mode & 07777), uid = (unsigned)st->uid, me = (unsigned)w->me;
  if (strcmp(action, "removed") == 0)
    snprintf(msg, sizeof msg,
             "state dir: %s is owned by uid %u, not by the agent's uid %u: removed unread "
             "(mode %04o%s)",
             rel, uid, me, was, st->is_symlink ? ", a symlink" : "");
  else if (strcmp(action, "chmod") == 0)
    snprintf(msg, sizeof msg, "state dir: %s: mode %04o reset to %04o (uid %u, the agent's)",
             rel, was, (unsigned)(set_mode & 07777), uid);
  else
    snprintf(msg, sizeof msg,
             "state dir: %s: %s, left as found (mode %04o uid %u; the agent runs as uid %u)", rel,
             st->is_symlink ? "a symlink the agent never follows" : "mode cannot be reset", was,
             uid, me);
  if (w->os->log) w->os->log(w->os->ctx, OS_LOG_WARN, msg);
  if (*w->n >= PERM_MAX_DRIFT) return;
  perm_drift *e = &w->d[(*w->n)++];
  snprintf(e->file, sizeof e->file, "%s", rel);
  snprintf(e->action, sizeof e->action, "%s", action);
  e->was_mode = st->mode & 07777;
  e->set_mode = set_mode & 07777;
  e->was_uid = st->uid;
  e->uid = w->me;
  e->repaired = repaired;
}

static int foreign(walk *w, const char *path, const os_stat *st, const char *what) {
  snprintf(w->err, w->cap,
           "%s is owned by uid %u, not by the agent's uid %u: %s another user could have "
           "written it, so the agent will not trust it nor take it over; the agent does not "
           "start. Check it, then remove it (or, if it is genuine, chown it to uid %u)",
           path, (unsigned)st->uid, (unsigned)w->me, what, (unsigned)w->me);
  return PERM_EFOREIGN;
}

/* Mode drift on the agent's own entry: reset and reported. */
static int fix_mode(walk *w, const char *path, const char *rel, const os_stat *st,
                    uint32_t want) {
  if ((st->mode & 07777) == want) return PERM_OK;
  int ok = w->os->chmod(w->os->ctx, path, want) == OS_OK;
  note(w, rel, ok ? "chmod" : "reported", st, ok ? want : st->mode, ok);
  return PERM_OK;
}

typedef struct names {
  char *buf; /* count names of PERM_NAME_MAX bytes each */
  int count, over;
} names;

static int collect(void *user, const char *name) {
  names *nm = user;
  if (nm->count >= PERM_DIR_MAX_ENTRIES || strlen(name) >= PERM_NAME_MAX) {
    nm->over = 1;
    return 1;
  }
  memcpy(nm->buf + (size_t)nm->count * PERM_NAME_MAX, name, strlen(name) + 1);
  nm->count++;
  return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

/* Walks the entries of abs, which are at the given depth (the state dir's own: 1). */
static int walk_dir(walk *w, const char *abs, const char *rel, int depth);

/* One entry at path (rel inside the state dir), at the given depth. */
static int check_entry(walk *w, const char *path, const char *rel, int depth) {
  os_stat st;
  int rc = w->os->lstat(w->os->ctx, path, &st);
  if (rc == OS_ENOENT) return PERM_OK;
  if (rc != OS_OK) {
    snprintf(w->err, w->cap, "%s: cannot inspect: %s", path, files_strerror(rc));
    return PERM_EIO;
  }
  perm_class c = classify(rel);
  int mine = st.uid == w->me;
  if (st.is_symlink) {
    if (c.kind == K_BINLINK && mine) return PERM_OK;
    if (c.kind == K_BINLINK) return foreign(w, path, &st, "the supervisor's version link;");
    if (c.kind != K_UNKNOWN) {
      snprintf(w->err, w->cap,
               "%s is a symlink; the agent never follows links in its state dir: remove it and "
               "restore the real file",
               path);
      return PERM_ESYMLINK;
    }
    if (mine) {
      note(w, rel, "reported", &st, st.mode, 0); /* never followed, never read */
      return PERM_OK;
    }
  }
  if (!mine) {
    if (st.is_dir) return foreign(w, path, &st, "a directory (its owner may still hold it open);");
    if (c.kind == K_IDENTITY || c.kind == K_TRUST)
      return foreign(w, path, &st, "the agent's identity or update state;");
    /* Data the agent re-makes, or a name it never uses: removed, so the
     * agent never reads it and nothing of another user's stays in its dir.
     * unlink removes a link itself, never its target. */
    rc = w->os->unlink(w->os->ctx, path);
    if (rc != OS_OK && rc != OS_ENOENT) {
      snprintf(w->err, w->cap, "%s is owned by uid %u, not by the agent's uid %u, and cannot be "
               "removed (%s); the agent does not start",
               path, (unsigned)st.uid, (unsigned)w->me, files_strerror(rc));
      return PERM_EFOREIGN;
    }
    note(w, rel, "removed", &st, st.mode, 1);
    return PERM_OK;
  }
  if (st.is_dir) {
    /* Closed first (0700), then walked: what is inside can no longer change
     * under us through this path. Unknown directories of ours are walked
     * too (a foreign file there is as bad), but their mode is left. */
    if (c.kind != K_UNKNOWN) fix_mode(w, path, rel, &st, 0700);
    return walk_dir(w, path, rel, depth + 1);
  }
  /* A file of ours. Unknown names are left alone: a chmod through a hard
   * link would change a file elsewhere. */
  if (c.kind == K_UNKNOWN || c.kind == K_BINLINK) return PERM_OK;
  return fix_mode(w, path, rel, &st, st.mode & c.max_mode);
}

/* Lists abs into nm: the shim's list_dir, or (without one) the names the
 * agent writes there. */
static int list_names(walk *w, const char *abs, const char *rel, names *nm) {
  if (w->os->list_dir) {
    int rc = w->os->list_dir(w->os->ctx, abs, PERM_DIR_MAX_ENTRIES + 1, collect, nm);
    if (rc == OS_ENOENT) return PERM_OK; /* raced away */
    if (rc < 0) {
      snprintf(w->err, w->cap, "%s: cannot list: %s", abs, files_strerror(rc));
      return PERM_EIO;
    }
    return PERM_OK;
  }
  if (!rel[0]) {
    for (size_t i = 0; i < sizeof perm_top / sizeof perm_top[0]; i++)
      if (strcmp(perm_top[i].name, "bin") != 0) collect(nm, perm_top[i].name);
  } else if (strcmp(rel, "update") == 0) {
    for (size_t i = 0; i < sizeof perm_update_files / sizeof perm_update_files[0]; i++)
      collect(nm, perm_update_files[i]);
  }
  return PERM_OK;
}

static int walk_dir(walk *w, const char *abs, const char *rel, int depth) {
  names nm = {malloc((size_t)PERM_DIR_MAX_ENTRIES * PERM_NAME_MAX), 0, 0};
  if (!nm.buf) {
    snprintf(w->err, w->cap, "%s: out of memory", abs);
    return PERM_EIO;
  }
  int ret = list_names(w, abs, rel, &nm);
  if (ret == PERM_OK && nm.over) {
    snprintf(w->err, w->cap,
             "%s: more than %d entries, or a name over %d bytes: more than the agent ever writes "
             "there; the agent does not start",
             abs, PERM_DIR_MAX_ENTRIES, PERM_NAME_MAX - 1);
    ret = PERM_ELIMIT;
  }
  if (ret == PERM_OK && nm.count > 0 && depth > PERM_MAX_DEPTH) {
    snprintf(w->err, w->cap,
             "%s: deeper than the agent ever writes (%d levels): the agent does not start", abs,
             PERM_MAX_DEPTH);
    ret = PERM_ELIMIT;
  }
  /* Sorted: the same tree gives the same report, whatever readdir's order. */
  if (ret == PERM_OK) qsort(nm.buf, (size_t)nm.count, PERM_NAME_MAX, by_name);
  for (int i = 0; ret == PERM_OK && i < nm.count; i++) {
    const char *name = nm.buf + (size_t)i * PERM_NAME_MAX;
    char path[OS_PATH_MAX], sub[OS_PATH_MAX];
    if (++w->entries > PERM_MAX_ENTRIES) {
      snprintf(w->err, w->cap, "state dir: more than %d entries; the agent does not start",
               PERM_MAX_ENTRIES);
      ret = PERM_ELIMIT;
      break;
    }
    int n = rel[0] ? snprintf(sub, sizeof sub, "%s/%s", rel, name)
                   : snprintf(sub, sizeof sub, "%s", name);
    if (n < 0 || (size_t)n >= sizeof sub || files_join(path, sizeof path, abs, name) != OS_OK) {
      snprintf(w->err, w->cap, "%s/%s: path too long", abs, name);
      ret = PERM_ELIMIT;
      break;
    }
    ret = check_entry(w, path, sub, depth);
  }
  free(nm.buf);
  return ret;
}

int perm_assert(const os_shim *os, const char *dir, perm_drift *drift, int *n_drift, char *err,
                size_t cap) {
  *n_drift = 0;
  if (!os->euid) {
    snprintf(err, cap, "the os shim cannot say which uid the agent runs as (no euid): its own "
                       "files cannot be told from planted ones; the agent does not start");
    return PERM_ENOUID;
  }
  walk w = {os, os->euid(os->ctx), drift, n_drift, 0, err, cap};
  os_stat st;
  int rc = os->lstat(os->ctx, dir, &st);
  if (rc == OS_ENOENT) return PERM_OK; /* first start: files_ensure_dir creates it */
  if (rc == OS_OK && st.is_symlink) {
    snprintf(err, cap, "state_dir %s is a symlink; the agent refuses to follow it", dir);
    return PERM_ESYMLINK;
  }
  if (rc != OS_OK || !st.is_dir) return PERM_OK; /* files_ensure_dir reports it */
  if (st.uid != w.me) {
    snprintf(err, cap,
             "state_dir %s is owned by uid %u, not by the agent's uid %u: that user controls "
             "everything in it; the agent will not take it over nor start. Check its content, "
             "then chown it to uid %u (or remove it to enroll afresh)",
             dir, (unsigned)st.uid, (unsigned)w.me, (unsigned)w.me);
    return PERM_EFOREIGN;
  }
  /* The door is closed before the walk: once the dir is 0700 and ours, no
   * one else can add a name to it while we look. */
  int ret = fix_mode(&w, dir, ".", &st, 0700);
  if (ret == PERM_OK) ret = walk_dir(&w, dir, "", 1);
  return ret;
}
