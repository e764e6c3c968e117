#define _GNU_SOURCE /* mremap */
#include "sim_fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Crash undo works in blocks the size of a SQLite page: the first write into
 * a block since the last sync saves the block's synced bytes, so the cost of
 * durability tracking is proportional to what a transaction touches, not to
 * the file size. */
#define UNDO_BLOCK 4096
#define MAX_ENTRIES 4096 /* names per fs; a simulated agent needs a dozen */

typedef struct undo_block {
  int64_t idx;
  uint8_t *data; /* UNDO_BLOCK bytes; only the part below syn_len matters */
} undo_block;

typedef struct inode {
  uint64_t ino;
  int is_dir;
  int type;            /* OS_TYPE_REG, _DIR, _LNK, _FIFO, _CHR (issue #13) */
  char *target;        /* a symlink's target, as given (absolute or relative) */
  uint32_t nlink;      /* names: hard links count */
  uint32_t mode;
  uint32_t uid;        /* owner: the fs's creating uid at creation, or sim_fs_chown's */
  int64_t mtime_ms;
  /* Bytes [0, dlen) are in data; [dlen, len) are zeros not held in memory
   * (issue #15: the spool's 312 KiB reserve file, all zeros, was 40% of a
   * simulated host's heap). What the agent sees and the quota counts is
   * len, as on a disk that allocates the zeros. */
  uint8_t *data;
  int64_t len, cap, dlen;
  int64_t syn_len;     /* size at the last sync */
  undo_block *undo;    /* saved synced blocks modified since the last sync */
  size_t n_undo, cap_undo;
  int mapped;          /* data is its own mapping (reserve), not from malloc */
  /* Generated lines (sim_fs_append_line): while gen_fn is set, the file is
   * lines gen_first .. gen_first + gen_n - 1 of gen_fn(gen_key, ...), their
   * lengths in gen_len, and holds no bytes (dlen 0, no undo: every line was
   * synced as it came, so syn_len == len). gen_at[i] is the offset of line
   * i * GEN_STRIDE. gen_head holds bytes [0, gen_head_len) as well, up to
   * GEN_HEAD: a tailer reads a file's first bytes at every poll to know it
   * is the same file, and making them again each time cost more than the
   * bytes. */
  sim_fs_line_fn gen_fn;
  uint8_t *gen_head;
  int64_t gen_head_len;
  uint32_t gen_key;
  int64_t gen_first, gen_n, gen_cap;
  uint16_t *gen_len;
  int64_t *gen_at;
  int linked;          /* has a name */
  int64_t refs;        /* open handles */
} inode;

typedef struct entry {
  char *path;
  uint64_t hash; /* path_hash(path): find compares it before the text */
  inode *node;
} entry;

struct os_file {
  inode *node;
  int flags;
  uint64_t epoch;
  struct os_file *prev, *next;
};

struct sim_fs {
  uint64_t dev, quota, used, next_ino, epoch;
  uint64_t generation; /* sim_fs_generation: counts calls that may change the fs */
  sim_fs_clock_fn clock;
  void *clock_ctx;
  entry *entries;
  size_t n_entries, cap_entries;
  os_file *handles;
  int64_t n_handles;
  int frozen;
  /* issue #13: links and special files. n_links counts the symlinks ever
   * made: while 0, path resolution is the plain normalisation it always was. */
  int64_t n_links;
  int64_t blocked_opens;
  char last_open[OS_PATH_MAX];
  sim_fs_open_hook hook;
  void *hook_user;
  int in_hook;
  int64_t fail_nth;
  int fail_err;
  int64_t cut_nth;
  void (*cut_cb)(void *user);
  void *cut_user;
  uint32_t create_uid; /* owner of what is created from now on (sim_fs_set_uid) */
  sim_fs_spares *spares; /* not owned (sim_fs_set_spares); NULL: none */
};

struct sim_fs_spares {
  size_t n, max;
  uint8_t *block[]; /* UNDO_BLOCK bytes each, contents stale */
};

sim_fs_spares *sim_fs_spares_new(size_t max_blocks) {
  if (max_blocks > SIM_FS_SPARES_MAX) max_blocks = SIM_FS_SPARES_MAX;
  sim_fs_spares *s = calloc(1, sizeof *s + max_blocks * sizeof s->block[0]);
  if (s) s->max = max_blocks;
  return s;
}

void sim_fs_spares_free(sim_fs_spares *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) free(s->block[i]);
  free(s);
}

void sim_fs_set_spares(sim_fs *fs, sim_fs_spares *s) {
  if (fs) fs->spares = s;
}

static int64_t now_ms(sim_fs *fs) { return fs->clock ? fs->clock(fs->clock_ctx) : 0; }

static void inode_free(inode *n) {
  if (!n) return;
  free(n->target);
  free(n->gen_len);
  free(n->gen_at);
  free(n->gen_head);
  for (size_t i = 0; i < n->n_undo; i++) free(n->undo[i].data);
  free(n->undo);
  if (n->mapped) munmap(n->data, (size_t)n->cap);
  else free(n->data);
  free(n);
}

static void inode_release(sim_fs *fs, inode *n) {
  if (n->linked || n->refs > 0) return;
  fs->used -= (uint64_t)n->len;
  inode_free(n);
}

/* Normalises into out (collapsing '/' runs, dropping a trailing '/'). */
static int norm_path(const char *in, char *out) {
  if (!in || in[0] != '/') return OS_EINVAL;
  size_t o = 0;
  for (size_t i = 0; in[i]; i++) {
    if (in[i] == '/' && o > 0 && out[o - 1] == '/') continue;
    if (o + 1 >= OS_PATH_MAX) return OS_ENAMETOOLONG;
    out[o++] = in[i];
  }
  if (o > 1 && out[o - 1] == '/') o--;
  out[o] = 0;
  return OS_OK;
}

/* FNV-1a. The fleet stats every agent's files at each ledger check; a hash
 * compared first spares a strcmp per entry (under ASan the intercepted
 * strcmp was 6% of a disk-full run). */
static uint64_t path_hash(const char *p) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
  return h;
}

static entry *find(sim_fs *fs, const char *p) {
  uint64_t h = path_hash(p);
  for (size_t i = 0; i < fs->n_entries; i++)
    if (fs->entries[i].hash == h && strcmp(fs->entries[i].path, p) == 0) return &fs->entries[i];
  return NULL;
}

/* OS_OK when the parent of p exists and is a directory. */
static int check_parent(sim_fs *fs, const char *p) {
  const char *slash = strrchr(p, '/');
  if (slash == p) return OS_OK; /* parent is the root */
  char parent[OS_PATH_MAX];
  size_t n = (size_t)(slash - p);
  memcpy(parent, p, n);
  parent[n] = 0;
  entry *e = find(fs, parent);
  if (!e) return OS_ENOENT;
  return e->node->is_dir ? OS_OK : OS_ENOTDIR;
}

/* Folds "." and ".." lexically in a normalised absolute path (in place). */
static void fold_dots(char *p) {
  char out[OS_PATH_MAX];
  size_t o = 0;
  const char *s = p;
  while (*s) {
    while (*s == '/') s++;
    if (!*s) break;
    const char *c = s;
    while (*s && *s != '/') s++;
    size_t len = (size_t)(s - c);
    if (len == 1 && c[0] == '.') continue;
    if (len == 2 && c[0] == '.' && c[1] == '.') {
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
      continue;
    }
    if (o + 1 + len >= sizeof out) break;
    out[o++] = '/';
    memcpy(out + o, c, len);
    o += len;
  }
  if (o == 0) out[o++] = '/';
  out[o] = 0;
  memcpy(p, out, o + 1);
}

/* An attacker's move between two shim calls (sim_fs_set_open_hook). */
static void run_hook(sim_fs *fs, const char *path) {
  if (!fs->hook || fs->in_hook) return;
  fs->in_hook = 1;
  fs->hook(fs->hook_user, fs, path);
  fs->in_hook = 0;
}

#define SIM_FS_MAX_HOPS 40 /* symlinks followed in one resolution (Linux: 40) */

/* Resolves path into out the way the kernel walks it: every symlink in a
 * directory component is followed, the last one only when follow_last;
 * no_links refuses any symlink met (OS_ELOOP), as openat2's
 * RESOLVE_NO_SYMLINKS does. A missing component ends the walk: the rest is
 * appended as it is (the caller's lookup then fails as it should). */
static int resolve(sim_fs *fs, const char *path, int follow_last, int no_links, char *out) {
  int rc = norm_path(path, out);
  if (rc || fs->n_links == 0) return rc;
  char work[OS_PATH_MAX];
  memcpy(work, out, strlen(out) + 1);
  for (int hops = 0;;) {
    size_t o = 0;
    const char *s = work;
    int again = 0;
    out[0] = 0;
    while (*s) {
      while (*s == '/') s++;
      if (!*s) break;
      const char *c = s;
      while (*s && *s != '/') s++;
      size_t len = (size_t)(s - c);
      if (o + 1 + len >= OS_PATH_MAX) return OS_ENAMETOOLONG;
      out[o++] = '/';
      memcpy(out + o, c, len);
      o += len;
      out[o] = 0;
      const char *rest = s;
      while (*rest == '/') rest++;
      int last = *rest == 0;
      entry *e = find(fs, out);
      if (!e) {
        if (!last) {
          size_t rl = strlen(s);
          if (o + rl >= OS_PATH_MAX) return OS_ENAMETOOLONG;
          memcpy(out + o, s, rl + 1);
        }
        return OS_OK;
      }
      if (e->node->type == OS_TYPE_LNK && (!last || follow_last)) {
        if (no_links || ++hops > SIM_FS_MAX_HOPS) return OS_ELOOP;
        char next[OS_PATH_MAX];
        const char *t = e->node->target;
        int w;
        if (t[0] == '/') {
          w = snprintf(next, sizeof next, "%s%s", t, s);
        } else {
          const char *slash = strrchr(out, '/');
          w = snprintf(next, sizeof next, "%.*s/%s%s", (int)(slash - out), out, t, s);
        }
        if (w < 0 || (size_t)w >= sizeof next) return OS_ENAMETOOLONG;
        rc = norm_path(next, work);
        if (rc) return rc;
        fold_dots(work);
        again = 1;
        break;
      }
      if (!last && !e->node->is_dir) return OS_ENOTDIR;
    }
    if (!again) {
      if (o == 0) memcpy(out, "/", 2);
      return OS_OK;
    }
  }
}

static int add_entry(sim_fs *fs, const char *p, inode *n) {
  if (fs->n_entries >= MAX_ENTRIES) return OS_ENOSPC;
  if (fs->n_entries == fs->cap_entries) {
    size_t nc = fs->cap_entries ? fs->cap_entries * 2 : 16;
    entry *ne = realloc(fs->entries, nc * sizeof *ne);
    if (!ne) return OS_ENOMEM;
    fs->entries = ne;
    fs->cap_entries = nc;
  }
  char *dup = strdup(p);
  if (!dup) return OS_ENOMEM;
  fs->entries[fs->n_entries].path = dup;
  fs->entries[fs->n_entries].hash = path_hash(dup);
  fs->entries[fs->n_entries].node = n;
  fs->n_entries++;
  n->nlink++;
  n->linked = 1;
  return OS_OK;
}

static void remove_entry(sim_fs *fs, entry *e) {
  inode *n = e->node;
  free(e->path);
  *e = fs->entries[--fs->n_entries];
  if (n->nlink > 0) n->nlink--;
  n->linked = n->nlink > 0;
  inode_release(fs, n);
}

static inode *inode_new(sim_fs *fs, int is_dir, uint32_t mode) {
  inode *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->ino = fs->next_ino++;
  n->is_dir = is_dir;
  n->type = is_dir ? OS_TYPE_DIR : OS_TYPE_REG;
  n->mode = mode & 07777;
  n->uid = fs->create_uid;
  n->mtime_ms = now_ms(fs);
  return n;
}

int sim_fs_create(uint64_t dev, uint64_t quota, sim_fs_clock_fn clock, void *clock_ctx,
                  sim_fs **out) {
  if (!out) return OS_EINVAL;
  *out = NULL;
  sim_fs *fs = calloc(1, sizeof *fs);
  if (!fs) return OS_ENOMEM;
  fs->dev = dev;
  fs->quota = quota;
  fs->clock = clock;
  fs->clock_ctx = clock_ctx;
  fs->next_ino = 2; /* 1 is the root, which has no entry */
  *out = fs;
  return OS_OK;
}

void sim_fs_free(sim_fs *fs) {
  if (!fs) return;
  os_file *h = fs->handles;
  while (h) {
    os_file *nx = h->next;
    inode *n = h->node;
    free(h);
    n->refs--;
    inode_release(fs, n);
    h = nx;
  }
  fs->handles = NULL;
  while (fs->n_entries > 0) remove_entry(fs, &fs->entries[fs->n_entries - 1]);
  free(fs->entries);
  free(fs);
}

static int live(sim_fs *fs, os_file *f) { return f && f->epoch == fs->epoch; }

/* Saves the synced bytes of block idx before its first change since sync. */
static int save_block(sim_fs *fs, inode *n, int64_t idx) {
  if (idx * UNDO_BLOCK >= n->syn_len) return OS_OK; /* beyond the synced size */
  for (size_t i = 0; i < n->n_undo; i++)
    if (n->undo[i].idx == idx) return OS_OK;
  if (n->n_undo == n->cap_undo) {
    size_t nc = n->cap_undo ? n->cap_undo * 2 : 8;
    undo_block *nu = realloc(n->undo, nc * sizeof *nu);
    if (!nu) return OS_ENOMEM;
    n->undo = nu;
    n->cap_undo = nc;
  }
  int64_t start = idx * UNDO_BLOCK;
  int64_t end = start + UNDO_BLOCK;
  if (end > n->len) end = n->len; /* the rest was already saved by a shrink */
  if (end > n->dlen) end = n->dlen; /* the zero tail: zeros */
  size_t held = end > start ? (size_t)(end - start) : 0;
  uint8_t *d;
  if (fs->spares && fs->spares->n > 0) {
    d = fs->spares->block[--fs->spares->n];
    memset(d + held, 0, UNDO_BLOCK - held);
  } else if (!(d = calloc(1, UNDO_BLOCK))) {
    return OS_ENOMEM;
  }
  if (held) memcpy(d, n->data + start, held);
  n->undo[n->n_undo].idx = idx;
  n->undo[n->n_undo].data = d;
  n->n_undo++;
  return OS_OK;
}

static int save_range(sim_fs *fs, inode *n, int64_t from, int64_t to) {
  if (to > n->syn_len) to = n->syn_len;
  if (from >= to) return OS_OK;
  for (int64_t b = from / UNDO_BLOCK; b * UNDO_BLOCK < to; b++) {
    int rc = save_block(fs, n, b);
    if (rc) return rc;
  }
  return OS_OK;
}

/* A sync frees the saved blocks, and the next transaction saves as many
 * again: they go back to the spares (if any) instead of the allocator,
 * whose work per block (and under ASan its quarantine and 4 KiB fill) was
 * 14% of a scenario's run. */
static void drop_undo(sim_fs *fs, inode *n) {
  sim_fs_spares *sp = fs ? fs->spares : NULL;
  for (size_t i = 0; i < n->n_undo; i++) {
    if (sp && sp->n < sp->max) sp->block[sp->n++] = n->undo[i].data;
    else free(n->undo[i].data);
  }
  n->n_undo = 0;
}

/* Capacities from here on are a mapping of their own, grown by mremap:
 * the kernel moves the pages instead of copying them, where realloc copied
 * the whole file at each growth (always under ASan, whose realloc never
 * grows in place: a simulated log's growth was 15% of a disk-full run).
 * Pages of the slack that were never written are not resident. Not lower:
 * at 256 KiB every agent's log of a steady day moved into a mapping at
 * about the same hour, and the heap blocks it left stayed resident (peak
 * RSS of 64 agents 77 MiB instead of 65). */
#define MAP_FROM (1024 * 1024)
#define MAP_PAGE 4096

static int reserve(sim_fs *fs, inode *n, int64_t need) {
  if (need <= n->cap) return OS_OK;
  /* Geometric, but by 1.25 once past 64 KiB: an append-only log of a
   * thousand simulated hosts otherwise carries up to 2x slack in memory. */
  int64_t nc = n->cap ? n->cap : 256;
  while (nc < need) nc = nc < 65536 ? nc * 2 : nc + nc / 4;
  if ((uint64_t)nc > fs->quota && (uint64_t)need <= fs->quota) nc = (int64_t)fs->quota;
  if (nc < need) nc = need;
  if (nc < MAP_FROM) {
    uint8_t *nd = realloc(n->data, (size_t)nc);
    if (!nd) return OS_ENOMEM;
    n->data = nd;
    n->cap = nc;
    return OS_OK;
  }
  nc = (nc + MAP_PAGE - 1) / MAP_PAGE * MAP_PAGE;
  void *nd;
  if (n->mapped) {
    nd = mremap(n->data, (size_t)n->cap, (size_t)nc, MREMAP_MAYMOVE);
  } else {
    nd = mmap(NULL, (size_t)nc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (nd != MAP_FAILED) {
      if (n->dlen > 0) memcpy(nd, n->data, (size_t)n->dlen);
      free(n->data);
    }
  }
  if (nd == MAP_FAILED) return OS_ENOMEM;
  n->data = nd;
  n->cap = nc;
  n->mapped = 1;
  return OS_OK;
}

/* Holds bytes [0, upto) in data: the zero tail up to there written out. */
static int materialize(sim_fs *fs, inode *n, int64_t upto) {
  if (upto <= n->dlen) return OS_OK;
  int rc = reserve(fs, n, upto);
  if (rc) return rc;
  memset(n->data + n->dlen, 0, (size_t)(upto - n->dlen));
  n->dlen = upto;
  return OS_OK;
}

/* ---- generated lines (sim_fs_append_line) ---- */

#define GEN_STRIDE 64 /* lines between two remembered offsets */
#define GEN_HEAD 512   /* first bytes kept as bytes (gen_head) */

/* Copies bytes [off, off + k) of generated file n into buf (k within len):
 * whole lines made in place, a line cut by either end made aside. */
static void gen_read(const inode *n, uint8_t *buf, size_t k, int64_t off) {
  if (off + (int64_t)k <= n->gen_head_len) {
    memcpy(buf, n->gen_head + off, k);
    return;
  }
  int64_t blocks = (n->gen_n + GEN_STRIDE - 1) / GEN_STRIDE;
  int64_t lo = 0, hi = blocks - 1; /* the last block starting at or before off */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (n->gen_at[mid] <= off) lo = mid;
    else hi = mid - 1;
  }
  int64_t line = lo * GEN_STRIDE, at = n->gen_at[lo];
  while (at + n->gen_len[line] <= off) at += n->gen_len[line++];
  char aside[SIM_FS_LINE_MAX];
  for (size_t done = 0; done < k; line++) {
    size_t len = n->gen_len[line];
    size_t skip = (size_t)(off + (int64_t)done - at); /* non-zero for the first line only */
    size_t take = len - skip;
    if (take > k - done) take = k - done;
    if (skip == 0 && take == len) {
      n->gen_fn(n->gen_key, n->gen_first + line, len, (char *)buf + done);
    } else {
      n->gen_fn(n->gen_key, n->gen_first + line, len, aside);
      memcpy(buf + done, aside + skip, take);
    }
    done += take;
    at += (int64_t)len;
  }
}

static void gen_drop(inode *n) {
  free(n->gen_len);
  free(n->gen_at);
  free(n->gen_head);
  n->gen_len = NULL;
  n->gen_at = NULL;
  n->gen_head = NULL;
  n->gen_head_len = 0;
  n->gen_fn = NULL;
  n->gen_n = n->gen_cap = 0;
}

/* Turns generated file n into an ordinary one holding the same bytes. */
static int ungen(sim_fs *fs, inode *n) {
  if (!n->gen_fn || n->len == 0) {
    gen_drop(n);
    return OS_OK;
  }
  int rc = reserve(fs, n, n->len);
  if (rc) return rc;
  gen_read(n, n->data, (size_t)n->len, 0);
  n->dlen = n->len;
  gen_drop(n);
  return OS_OK;
}

static int all_zero(const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i]) return 0;
  return 1;
}

/* Where saved block u of n ends within the synced size when it must be put
 * back over bytes [0, dlen) held in memory; 0 when it need not be: empty,
 * or all zeros lying in the zero tail already. */
static int64_t undo_end(const inode *n, size_t u, int64_t dlen) {
  int64_t start = n->undo[u].idx * UNDO_BLOCK, end = start + UNDO_BLOCK;
  if (end > n->syn_len) end = n->syn_len;
  if (end <= start) return 0;
  if (start >= dlen && all_zero(n->undo[u].data, (size_t)(end - start))) return 0;
  return end;
}

/* Sets the size to new_len (growth reads as zeros: the zero tail) after
 * quota and undo checks. */
static int resize(sim_fs *fs, inode *n, int64_t new_len) {
  if (new_len == n->len) return OS_OK;
  if (new_len > n->len && (uint64_t)(new_len - n->len) + fs->used > fs->quota) return OS_ENOSPC;
  int rc = ungen(fs, n);
  if (rc) return rc;
  if (new_len > n->len) {
    fs->used += (uint64_t)(new_len - n->len);
  } else {
    rc = save_range(fs, n, new_len, n->len);
    if (rc) return rc;
    fs->used -= (uint64_t)(n->len - new_len);
    if (n->dlen > new_len) n->dlen = new_len;
  }
  n->len = new_len;
  return OS_OK;
}

int sim_fs_open(sim_fs *fs, const char *path, int flags, uint32_t mode, os_file **out) {
  if (!fs || !out) return OS_EINVAL;
  if (flags & (OS_O_CREATE | OS_O_TRUNC)) fs->generation++; /* else it reads */
  *out = NULL;
  if (fs->frozen) return OS_EIO;
  run_hook(fs, path);
  char p[OS_PATH_MAX];
  int nofollow = (flags & (OS_O_NOFOLLOW | OS_O_NOFOLLOW_ANY)) != 0;
  int rc = resolve(fs, path, !nofollow && !(flags & OS_O_EXCL), (flags & OS_O_NOFOLLOW_ANY) != 0, p);
  if (rc) return rc;
  inode *n = NULL;
  if (strcmp(p, "/") == 0) return OS_EISDIR;
  entry *e = find(fs, p);
  if (e) {
    if ((flags & OS_O_CREATE) && (flags & OS_O_EXCL)) return OS_EEXIST;
    n = e->node;
    if (n->type == OS_TYPE_LNK) return OS_ELOOP; /* a final link not followed */
    if (n->is_dir && (flags & (OS_O_WRITE | OS_O_TRUNC))) return OS_EISDIR;
    if (n->type == OS_TYPE_FIFO && !(flags & OS_O_NONBLOCK)) {
      /* A real open(2) of a FIFO without a writer blocks for ever: the
       * simulator cannot block, so it counts the open (the scenario's
       * max_blocked_opens fails the run) and fails it. */
      fs->blocked_opens++;
      return OS_EIO;
    }
  } else {
    if (!(flags & OS_O_CREATE)) return OS_ENOENT;
    rc = check_parent(fs, p);
    if (rc) return rc;
    n = inode_new(fs, 0, mode);
    if (!n) return OS_ENOMEM;
    rc = add_entry(fs, p, n);
    if (rc) {
      inode_free(n);
      return rc;
    }
  }
  os_file *f = calloc(1, sizeof *f);
  if (!f) return OS_ENOMEM; /* a new empty file stays: harmless, like a crash after creat() */
  if ((flags & OS_O_TRUNC) && (flags & OS_O_WRITE) && n->len > 0) {
    rc = resize(fs, n, 0);
    if (rc) {
      free(f);
      return rc;
    }
    n->mtime_ms = now_ms(fs);
  }
  snprintf(fs->last_open, sizeof fs->last_open, "%s", p);
  f->node = n;
  f->flags = flags;
  f->epoch = fs->epoch;
  f->next = fs->handles;
  if (fs->handles) fs->handles->prev = f;
  fs->handles = f;
  fs->n_handles++;
  n->refs++;
  *out = f;
  return OS_OK;
}

int sim_fs_close(sim_fs *fs, os_file *f) {
  if (!fs || !f) return OS_EBADF;
  if (f->node->refs == 1 && !f->node->linked) fs->generation++; /* frees its space */
  if (f->prev) f->prev->next = f->next;
  else fs->handles = f->next;
  if (f->next) f->next->prev = f->prev;
  fs->n_handles--;
  inode *n = f->node;
  free(f);
  n->refs--;
  inode_release(fs, n);
  return OS_OK;
}

int64_t sim_fs_pread(sim_fs *fs, os_file *f, void *buf, size_t len, int64_t off) {
  if (!fs || !live(fs, f)) return OS_EBADF;
  if (f->node->is_dir) return OS_EISDIR;
  if (off < 0 || (len > 0 && !buf)) return OS_EINVAL;
  inode *n = f->node;
  if (n->type != OS_TYPE_REG) return 0; /* a FIFO with no writer, a device at EOF */
  if (off >= n->len) return 0;
  int64_t avail = n->len - off;
  size_t k = (uint64_t)avail < len ? (size_t)avail : len;
  if (n->gen_fn) {
    gen_read(n, buf, k, off);
    return (int64_t)k;
  }
  size_t held = off < n->dlen ? (size_t)(n->dlen - off) : 0;
  if (held > k) held = k;
  if (held) memcpy(buf, n->data + off, held);
  if (held < k) memset((uint8_t *)buf + held, 0, k - held);
  return (int64_t)k;
}

static int64_t pwrite_impl(sim_fs *fs, os_file *f, const void *buf, size_t len, int64_t off,
                           int hooks) {
  if (!fs || !f) return OS_EBADF;
  fs->generation++;
  if (!live(fs, f)) return (int64_t)len; /* dead after a crash: swallowed */
  if (!(f->flags & OS_O_WRITE)) return OS_EBADF;
  if (off < 0 || (len > 0 && !buf) || len > INT64_MAX / 2) return OS_EINVAL;
  if (hooks && fs->cut_nth > 0 && --fs->cut_nth == 0) {
    /* Power is cut just before this write reaches the disk. */
    sim_fs_crash(fs);
    if (fs->cut_cb) fs->cut_cb(fs->cut_user);
    return (int64_t)len;
  }
  if (hooks && fs->fail_nth > 0 && --fs->fail_nth == 0) return fs->fail_err;
  inode *n = f->node;
  if (len == 0) return 0;
  int64_t end = off + (int64_t)len;
  if (end > n->len && (uint64_t)(end - n->len) + fs->used > fs->quota) return OS_ENOSPC;
  int rc = ungen(fs, n);
  if (rc) return rc;
  rc = save_range(fs, n, off, end);
  if (rc) return rc;
  /* Zeros written at or past the held bytes stay in the zero tail. */
  int zeros = off >= n->dlen && all_zero(buf, len);
  if (!zeros) {
    rc = materialize(fs, n, end);
    if (rc) return rc;
  }
  if (end > n->len) {
    rc = resize(fs, n, end);
    if (rc) return rc;
  }
  if (!zeros) memcpy(n->data + off, buf, len);
  n->mtime_ms = now_ms(fs);
  return (int64_t)len;
}

/* Writes made by the simulator itself (sim_fs_append) do not count for the
 * fault hooks: only the agent's own writes are the "Nth write". */
int64_t sim_fs_pwrite(sim_fs *fs, os_file *f, const void *buf, size_t len, int64_t off) {
  return pwrite_impl(fs, f, buf, len, off, 1);
}

int sim_fs_truncate(sim_fs *fs, os_file *f, int64_t size) {
  if (!fs || !f) return OS_EBADF;
  fs->generation++;
  if (!live(fs, f)) return OS_OK;
  if (!(f->flags & OS_O_WRITE)) return OS_EBADF;
  if (size < 0) return OS_EINVAL;
  int rc = resize(fs, f->node, size);
  if (rc == OS_OK) f->node->mtime_ms = now_ms(fs);
  return rc;
}

int sim_fs_sync(sim_fs *fs, os_file *f) {
  if (!fs || !f) return OS_EBADF;
  if (!live(fs, f)) return OS_OK;
  drop_undo(fs, f->node);
  f->node->syn_len = f->node->len;
  return OS_OK;
}

static void fill_stat(sim_fs *fs, const inode *n, os_stat *st) {
  memset(st, 0, sizeof *st);
  st->dev = fs->dev;
  st->ino = n->ino;
  st->size = n->is_dir ? 4096 : n->len;
  st->mtime_ms = n->mtime_ms;
  st->mode = n->mode;
  st->uid = n->uid;
  st->is_dir = n->is_dir;
  st->type = n->type;
  st->is_symlink = n->type == OS_TYPE_LNK;
  st->nlink = n->is_dir ? 2 : n->nlink > 0 ? n->nlink : 1;
  if (n->type == OS_TYPE_LNK) st->size = (int64_t)strlen(n->target);
}

int sim_fs_fstat(sim_fs *fs, os_file *f, os_stat *st) {
  if (!fs || !live(fs, f)) return OS_EBADF;
  if (!st) return OS_EINVAL;
  fill_stat(fs, f->node, st);
  return OS_OK;
}

static int stat_impl(sim_fs *fs, const char *path, os_stat *st, int follow) {
  if (!fs || !st) return OS_EINVAL;
  run_hook(fs, path);
  char p[OS_PATH_MAX];
  int rc = resolve(fs, path, follow, 0, p);
  if (rc) return rc;
  if (strcmp(p, "/") == 0) {
    inode root = {.ino = 1, .is_dir = 1, .mode = 0755};
    fill_stat(fs, &root, st);
    return OS_OK;
  }
  entry *e = find(fs, p);
  if (!e) return check_parent(fs, p) == OS_ENOTDIR ? OS_ENOTDIR : OS_ENOENT;
  fill_stat(fs, e->node, st);
  return OS_OK;
}

int sim_fs_stat(sim_fs *fs, const char *path, os_stat *st) { return stat_impl(fs, path, st, 1); }

int sim_fs_lstat(sim_fs *fs, const char *path, os_stat *st) { return stat_impl(fs, path, st, 0); }

int sim_fs_unlink(sim_fs *fs, const char *path) {
  if (!fs) return OS_EINVAL;
  fs->generation++;
  if (fs->frozen) return OS_OK;
  char p[OS_PATH_MAX];
  int rc = resolve(fs, path, 0, 0, p);
  if (rc) return rc;
  entry *e = find(fs, p);
  if (!e) return OS_ENOENT;
  if (e->node->is_dir) return OS_EISDIR;
  remove_entry(fs, e);
  return OS_OK;
}

static int is_under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && path[n] == '/';
}

int sim_fs_rmdir(sim_fs *fs, const char *path) {
  if (!fs) return OS_EINVAL;
  fs->generation++;
  if (fs->frozen) return OS_OK;
  char p[OS_PATH_MAX];
  int rc = resolve(fs, path, 0, 0, p);
  if (rc) return rc;
  entry *e = find(fs, p);
  if (!e) return OS_ENOENT;
  if (!e->node->is_dir) return OS_ENOTDIR;
  for (size_t i = 0; i < fs->n_entries; i++)
    if (is_under(fs->entries[i].path, p)) return OS_EEXIST; /* not empty */
  remove_entry(fs, e);
  return OS_OK;
}

int sim_fs_rename(sim_fs *fs, const char *from, const char *to) {
  if (!fs) return OS_EINVAL;
  fs->generation++;
  if (fs->frozen) return OS_OK;
  char a[OS_PATH_MAX], b[OS_PATH_MAX];
  int rc = resolve(fs, from, 0, 0, a);
  if (rc) return rc;
  rc = resolve(fs, to, 0, 0, b);
  if (rc) return rc;
  entry *ea = find(fs, a);
  if (!ea) return OS_ENOENT;
  rc = check_parent(fs, b);
  if (rc) return rc;
  if (strcmp(a, b) == 0) return OS_OK;
  if (ea->node->is_dir && is_under(b, a)) return OS_EINVAL;
  entry *eb = find(fs, b);
  if (eb) {
    if (eb->node->is_dir && !ea->node->is_dir) return OS_EISDIR;
    if (!eb->node->is_dir && ea->node->is_dir) return OS_ENOTDIR;
    if (eb->node->is_dir) {
      for (size_t i = 0; i < fs->n_entries; i++)
        if (is_under(fs->entries[i].path, b)) return OS_EEXIST; /* not empty */
    }
  }
  /* Build every new name first so a failed allocation changes nothing. */
  size_t la = strlen(a), lb = strlen(b);
  size_t n_move = 0;
  for (size_t i = 0; i < fs->n_entries; i++)
    if (fs->entries[i].node == ea->node || is_under(fs->entries[i].path, a)) n_move++;
  if (n_move == 0) return OS_ENOENT; /* ea is one of the entries; keeps the analyzer's paths honest */
  char **names = calloc(n_move, sizeof *names);
  size_t *idx = calloc(n_move, sizeof *idx);
  if (!names || !idx) {
    free(names);
    free(idx);
    return OS_ENOMEM;
  }
  size_t k = 0;
  rc = OS_OK;
  for (size_t i = 0; i < fs->n_entries && rc == OS_OK; i++) {
    const char *ep = fs->entries[i].path;
    int self = strcmp(ep, a) == 0;
    if (!self && !is_under(ep, a)) continue;
    size_t rest = strlen(ep) - la;
    if (lb + rest + 1 > OS_PATH_MAX) {
      rc = OS_ENAMETOOLONG;
      break;
    }
    names[k] = malloc(lb + rest + 1);
    if (!names[k]) {
      rc = OS_ENOMEM;
      break;
    }
    memcpy(names[k], b, lb);
    memcpy(names[k] + lb, ep + la, rest + 1);
    idx[k++] = i;
  }
  if (rc == OS_OK) {
    for (size_t i = 0; i < k; i++) {
      free(fs->entries[idx[i]].path);
      fs->entries[idx[i]].path = names[i];
      fs->entries[idx[i]].hash = path_hash(names[i]);
      names[i] = NULL;
    }
    /* Remove the replaced target last: removal reorders the array. */
    if (eb) {
      entry *t = NULL;
      for (size_t i = 0; i < fs->n_entries; i++)
        if (strcmp(fs->entries[i].path, b) == 0 && fs->entries[i].node != ea->node) {
          t = &fs->entries[i];
          break;
        }
      if (t) remove_entry(fs, t);
    }
  }
  for (size_t i = 0; i < k; i++) free(names[i]);
  free(names);
  free(idx);
  return rc;
}

/* A new name path for a new inode of type (a directory, a symlink to
 * target, a FIFO or device): the one path every creating call but open takes. */
static int make_node(sim_fs *fs, const char *path, int type, uint32_t mode, const char *target) {
  if (!fs) return OS_EINVAL;
  fs->generation++;
  if (fs->frozen) return OS_OK;
  char p[OS_PATH_MAX];
  int rc = resolve(fs, path, 0, 0, p);
  if (rc) return rc;
  if (strcmp(p, "/") == 0 || find(fs, p)) return OS_EEXIST;
  rc = check_parent(fs, p);
  if (rc) return rc;
  inode *n = inode_new(fs, type == OS_TYPE_DIR, mode);
  if (!n) return OS_ENOMEM;
  n->type = type;
  if (target && !(n->target = strdup(target))) rc = OS_ENOMEM;
  if (!rc) rc = add_entry(fs, p, n);
  if (rc) inode_free(n);
  else if (type == OS_TYPE_LNK) fs->n_links++;
  return rc;
}

int sim_fs_mkdir(sim_fs *fs, const char *path, uint32_t mode) {
  return make_node(fs, path, OS_TYPE_DIR, mode, NULL);
}

int sim_fs_mkdirs(sim_fs *fs, const char *path, uint32_t mode) {
  char p[OS_PATH_MAX];
  int rc = norm_path(path, p);
  if (rc) return rc;
  for (size_t i = 1;; i++) {
    if (p[i] == '/' || p[i] == 0) {
      char c = p[i];
      p[i] = 0;
      rc = sim_fs_mkdir(fs, p, mode);
      if (rc && rc != OS_EEXIST) return rc;
      p[i] = c;
      if (c == 0) break;
    }
  }
  os_stat st;
  rc = sim_fs_stat(fs, p, &st);
  if (rc) return rc;
  return st.is_dir ? OS_OK : OS_ENOTDIR;
}

int sim_fs_chmod(sim_fs *fs, const char *path, uint32_t mode) {
  if (!fs) return OS_EINVAL;
  fs->generation++;
  if (fs->frozen) return OS_OK;
  char p[OS_PATH_MAX];
  int rc = resolve(fs, path, 1, 0, p);
  if (rc) return rc;
  entry *e = find(fs, p);
  if (!e) return OS_ENOENT;
  e->node->mode = mode & 07777;
  return OS_OK;
}

int sim_fs_chown(sim_fs *fs, const char *path, uint32_t uid) {
  if (!fs) return OS_EINVAL;
  fs->generation++;
  if (fs->frozen) return OS_OK;
  char p[OS_PATH_MAX];
  int rc = resolve(fs, path, 0, 0, p);
  if (rc) return rc;
  entry *e = find(fs, p);
  if (!e) return OS_ENOENT;
  if (e->node->type == OS_TYPE_LNK) return OS_ELOOP; /* the shim's chown_nofollow */
  e->node->uid = uid;
  return OS_OK;
}

void sim_fs_set_uid(sim_fs *fs, uint32_t uid) {
  if (!fs) return;
  fs->generation++;
  fs->create_uid = uid;
}

int sim_fs_list_dir(sim_fs *fs, const char *dir, size_t max_entries,
                    int (*fn)(void *user, const char *name), void *user) {
  if (!fs || !fn) return OS_EINVAL;
  char p[OS_PATH_MAX];
  int rc = resolve(fs, dir, 1, 0, p);
  if (rc) return rc;
  size_t plen = strcmp(p, "/") == 0 ? 0 : strlen(p);
  if (plen) {
    entry *d = find(fs, p);
    if (!d) return OS_ENOENT;
    if (!d->node->is_dir) return OS_ENOTDIR;
  }
  /* Entries are a flat table of full paths (at most MAX_ENTRIES): a child is
   * one with the prefix "dir/" and no further '/'. fn may not change the fs
   * while it is called (the table would move). */
  int calls = 0;
  for (size_t i = 0; i < fs->n_entries && (size_t)calls < max_entries; i++) {
    const char *q = fs->entries[i].path;
    if (strncmp(q, p, plen) != 0 || q[plen] != '/' || !q[plen + 1] || strchr(q + plen + 1, '/'))
      continue;
    calls++;
    if (fn(user, q + plen + 1) != 0) break;
  }
  return calls;
}

int sim_fs_free_space(sim_fs *fs, const char *path, uint64_t *avail, uint64_t *total) {
  if (!fs || !avail || !total) return OS_EINVAL;
  os_stat st;
  int rc = sim_fs_stat(fs, path, &st);
  if (rc) return rc;
  *avail = fs->quota - fs->used;
  *total = fs->quota;
  return OS_OK;
}

int sim_fs_append(sim_fs *fs, const char *path, const void *data, size_t len, int do_sync) {
  os_file *f = NULL;
  int rc = sim_fs_open(fs, path, OS_O_WRITE | OS_O_CREATE, 0644, &f);
  if (rc) return rc;
  int64_t w = pwrite_impl(fs, f, data, len, f->node->len, 0);
  rc = w < 0 ? (int)w : OS_OK;
  if (rc == OS_OK && do_sync) rc = sim_fs_sync(fs, f);
  sim_fs_close(fs, f);
  return rc;
}

/* Room for one more line in n's table: gen_cap stays a multiple of
 * GEN_STRIDE, so gen_at has gen_cap / GEN_STRIDE entries. */
static int gen_grow(inode *n) {
  if (n->gen_n < n->gen_cap) return OS_OK;
  int64_t nc = n->gen_cap ? n->gen_cap + n->gen_cap / 2 : 4 * GEN_STRIDE;
  nc = (nc + GEN_STRIDE - 1) / GEN_STRIDE * GEN_STRIDE;
  uint16_t *nl = realloc(n->gen_len, (size_t)nc * sizeof *nl);
  if (!nl) return OS_ENOMEM;
  n->gen_len = nl;
  int64_t *na = realloc(n->gen_at, (size_t)(nc / GEN_STRIDE) * sizeof *na);
  if (!na) return OS_ENOMEM; /* gen_len is larger than gen_cap says: harmless */
  n->gen_at = na;
  n->gen_cap = nc;
  return OS_OK;
}

/* Copies generated file o's table into n (a new inode). */
static int gen_copy(inode *n, const inode *o) {
  n->gen_len = malloc((size_t)o->gen_cap * sizeof *n->gen_len);
  n->gen_at = malloc((size_t)(o->gen_cap / GEN_STRIDE) * sizeof *n->gen_at);
  n->gen_head = malloc(GEN_HEAD);
  if (!n->gen_len || !n->gen_at || !n->gen_head) return OS_ENOMEM; /* inode_free frees them */
  memcpy(n->gen_head, o->gen_head, (size_t)o->gen_head_len);
  n->gen_head_len = o->gen_head_len;
  memcpy(n->gen_len, o->gen_len, (size_t)o->gen_n * sizeof *n->gen_len);
  memcpy(n->gen_at, o->gen_at, (size_t)((o->gen_n + GEN_STRIDE - 1) / GEN_STRIDE) * sizeof *n->gen_at);
  n->gen_fn = o->gen_fn;
  n->gen_key = o->gen_key;
  n->gen_first = o->gen_first;
  n->gen_n = o->gen_n;
  n->gen_cap = o->gen_cap;
  return OS_OK;
}

int sim_fs_append_line(sim_fs *fs, const char *path, sim_fs_line_fn fn, uint32_t key, int64_t no,
                       size_t len) {
  if (!fs || !fn || len == 0 || len > SIM_FS_LINE_MAX) return OS_EINVAL;
  fs->generation++;
  os_file *f = NULL;
  int rc = sim_fs_open(fs, path, OS_O_WRITE | OS_O_CREATE, 0644, &f);
  if (rc) return rc;
  inode *n = f->node;
  int extend = n->gen_fn == fn && n->gen_key == key && no == n->gen_first + n->gen_n;
  /* Only an empty file with nothing to put back at a crash becomes one. */
  int start = !n->gen_fn && n->type == OS_TYPE_REG && n->len == 0 && n->syn_len == 0 &&
              n->n_undo == 0;
  if (extend || start) {
    if ((uint64_t)len + fs->used > fs->quota) rc = OS_ENOSPC;
    if (!rc) rc = gen_grow(n);
    if (!rc && !n->gen_head && !(n->gen_head = malloc(GEN_HEAD))) rc = OS_ENOMEM;
    if (!rc && start) {
      if (n->mapped) munmap(n->data, (size_t)n->cap);
      else free(n->data);
      n->data = NULL;
      n->cap = n->dlen = 0;
      n->mapped = 0;
      n->gen_fn = fn;
      n->gen_key = key;
      n->gen_first = no;
    }
    if (!rc && n->gen_head_len < GEN_HEAD) {
      char line[SIM_FS_LINE_MAX];
      size_t keep = GEN_HEAD - (size_t)n->gen_head_len;
      fn(key, no, len, line);
      if (keep > len) keep = len;
      memcpy(n->gen_head + n->gen_head_len, line, keep);
      n->gen_head_len += (int64_t)keep;
    }
    if (!rc) {
      if (n->gen_n % GEN_STRIDE == 0) n->gen_at[n->gen_n / GEN_STRIDE] = n->len;
      n->gen_len[n->gen_n++] = (uint16_t)len;
      n->len += (int64_t)len;
      n->syn_len = n->len;
      fs->used += len;
      n->mtime_ms = now_ms(fs);
    }
  } else {
    char line[SIM_FS_LINE_MAX];
    fn(key, no, len, line);
    int64_t w = pwrite_impl(fs, f, line, len, n->len, 0);
    rc = w < 0 ? (int)w : OS_OK;
    if (!rc) rc = sim_fs_sync(fs, f);
  }
  sim_fs_close(fs, f);
  return rc;
}

int sim_fs_copy(sim_fs *src, uint64_t dev, sim_fs **out) {
  if (!src || !out) return OS_EINVAL;
  int rc = sim_fs_create(dev, src->quota, src->clock, src->clock_ctx, out);
  if (rc) return rc;
  sim_fs *fs = *out;
  fs->create_uid = src->create_uid; /* the same host user writes on the copy */
  fs->spares = src->spares;
  /* Directories first (parents before children: shorter paths first). */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t len = 1; len < OS_PATH_MAX; len++) {
      int any_longer = 0;
      for (size_t i = 0; i < src->n_entries; i++) {
        entry *e = &src->entries[i];
        size_t l = strlen(e->path);
        if (l > len) any_longer = 1;
        if (l != len || e->node->is_dir != (pass == 0)) continue;
        inode *n = inode_new(fs, e->node->is_dir, e->node->mode);
        if (!n) rc = OS_ENOMEM;
        if (n) {
          n->uid = e->node->uid;
          n->type = e->node->type;
          if (e->node->target && !(n->target = strdup(e->node->target))) rc = OS_ENOMEM;
        }
        if (!rc && e->node->gen_fn) {
          rc = gen_copy(n, e->node); /* always synced: the whole file */
          if (!rc) {
            n->len = n->syn_len = e->node->len;
            fs->used += (uint64_t)n->len;
          }
        } else if (!rc && n->type == OS_TYPE_REG && e->node->syn_len > 0) {
          inode *o = e->node;
          /* The synced image: the held bytes, then the saved blocks over
           * them; what neither covers stays a zero tail. */
          int64_t have = o->len < o->syn_len ? o->len : o->syn_len;
          if (have > o->dlen) have = o->dlen;
          int64_t held = have;
          for (size_t u = 0; u < o->n_undo; u++) {
            int64_t end = undo_end(o, u, have);
            if (end > held) held = end;
          }
          rc = materialize(fs, n, held);
          if (!rc && held > 0 && n->data) {
            if (have > 0) memcpy(n->data, o->data, (size_t)have);
            for (size_t u = 0; u < o->n_undo; u++) {
              int64_t start = o->undo[u].idx * UNDO_BLOCK, end = undo_end(o, u, have);
              if (end > start) memcpy(n->data + start, o->undo[u].data, (size_t)(end - start));
            }
          }
          if (!rc) {
            n->len = n->syn_len = o->syn_len;
            fs->used += (uint64_t)n->len;
          }
        }
        if (!rc) n->mtime_ms = e->node->mtime_ms;
        if (!rc) rc = add_entry(fs, e->path, n);
        if (rc) {
          if (n && !n->linked) {
            fs->used -= (uint64_t)n->len;
            inode_free(n);
          }
          sim_fs_free(fs);
          *out = NULL;
          return rc;
        }
      }
      if (!any_longer) break;
    }
  }
  return OS_OK;
}

void sim_fs_crash(sim_fs *fs) {
  if (!fs) return;
  fs->generation++;
  for (size_t i = 0; i < fs->n_entries; i++) {
    inode *n = fs->entries[i].node;
    if (n->type != OS_TYPE_REG || n->gen_fn) continue; /* generated: synced line by line */
    /* Growth back to the synced size cannot exceed the quota: the synced
     * bytes were inside it, and any shrink only freed space. */
    /* Growth back to the synced size reads as zeros (the zero tail); the
     * saved blocks then put the synced bytes back over it. */
    int64_t kept = n->dlen < n->syn_len ? n->dlen : n->syn_len;
    int64_t held = kept;
    for (size_t u = 0; u < n->n_undo; u++) {
      int64_t end = undo_end(n, u, kept);
      if (end > held) held = end;
    }
    if (held > n->dlen && reserve(fs, n, held) != OS_OK) continue; /* ENOMEM: keep current */
    n->dlen = kept;
    if (materialize(fs, n, held) != OS_OK) continue; /* reserved above: cannot fail */
    for (size_t u = 0; u < n->n_undo; u++) {
      int64_t start = n->undo[u].idx * UNDO_BLOCK, end = undo_end(n, u, kept);
      if (end > start) memcpy(n->data + start, n->undo[u].data, (size_t)(end - start));
    }
    drop_undo(fs, n);
    fs->used = fs->used - (uint64_t)n->len + (uint64_t)n->syn_len;
    n->len = n->syn_len;
  }
  fs->epoch++;
}

void sim_fs_power_cut_at(sim_fs *fs, int64_t nth, void (*cb)(void *user), void *user) {
  if (!fs) return;
  fs->cut_nth = nth > 0 ? nth : 0;
  fs->cut_cb = cb;
  fs->cut_user = user;
}

void sim_fs_set_frozen(sim_fs *fs, int frozen) {
  if (!fs) return;
  fs->generation++;
  fs->frozen = frozen ? 1 : 0;
}

void sim_fs_fail_write(sim_fs *fs, int64_t nth, int err) {
  if (!fs) return;
  fs->fail_nth = nth > 0 ? nth : 0;
  fs->fail_err = err;
}

uint64_t sim_fs_used(const sim_fs *fs) { return fs ? fs->used : 0; }
uint64_t sim_fs_generation(const sim_fs *fs) { return fs ? fs->generation : 0; }
uint64_t sim_fs_quota(const sim_fs *fs) { return fs ? fs->quota : 0; }
int64_t sim_fs_open_handles(const sim_fs *fs) { return fs ? fs->n_handles : 0; }

uint64_t sim_fs_held_bytes(const sim_fs *fs) {
  uint64_t sum = 0;
  if (!fs) return 0;
  for (size_t i = 0; i < fs->n_entries; i++) {
    const inode *n = fs->entries[i].node;
    sum += (uint64_t)n->cap + (uint64_t)n->n_undo * UNDO_BLOCK;
    sum += (uint64_t)n->gen_cap * sizeof *n->gen_len +
           (uint64_t)(n->gen_cap / GEN_STRIDE) * sizeof *n->gen_at + (n->gen_head ? GEN_HEAD : 0);
  }
  return sum;
}

/* ---- issue #13: links, special files, the attacker's hook ---------------- */

int sim_fs_symlink(sim_fs *fs, const char *target, const char *path) {
  if (!target || !target[0] || strlen(target) >= OS_PATH_MAX) return OS_EINVAL;
  return make_node(fs, path, OS_TYPE_LNK, 0777, target);
}

int sim_fs_link(sim_fs *fs, const char *existing, const char *path) {
  if (!fs) return OS_EINVAL;
  fs->generation++;
  if (fs->frozen) return OS_OK;
  char a[OS_PATH_MAX], b[OS_PATH_MAX];
  int rc = resolve(fs, existing, 0, 0, a);
  if (!rc) rc = resolve(fs, path, 0, 0, b);
  if (rc) return rc;
  entry *e = find(fs, a);
  if (!e) return OS_ENOENT;
  if (e->node->is_dir) return OS_EPERM;
  if (find(fs, b)) return OS_EEXIST;
  rc = check_parent(fs, b);
  if (rc) return rc;
  return add_entry(fs, b, e->node);
}

int sim_fs_mknod(sim_fs *fs, const char *path, int type, uint32_t mode) {
  if (type != OS_TYPE_FIFO && type != OS_TYPE_CHR) return OS_EINVAL;
  return make_node(fs, path, type, mode, NULL);
}

int sim_fs_realpath(sim_fs *fs, const char *path, char *out, size_t cap) {
  if (!fs || !out || cap == 0) return OS_EINVAL;
  run_hook(fs, path);
  char p[OS_PATH_MAX];
  int rc = resolve(fs, path, 1, 0, p);
  if (rc) return rc;
  if (strcmp(p, "/") != 0) {
    entry *e = find(fs, p);
    if (!e) return OS_ENOENT;
  }
  if (strlen(p) >= cap) return OS_ENAMETOOLONG;
  memcpy(out, p, strlen(p) + 1);
  return OS_OK;
}

void sim_fs_set_open_hook(sim_fs *fs, sim_fs_open_hook hook, void *user) {
  if (!fs) return;
  fs->hook = hook;
  fs->hook_user = user;
}

const char *sim_fs_last_open(const sim_fs *fs) { return fs ? fs->last_open : ""; }
int64_t sim_fs_blocked_opens(const sim_fs *fs) { return fs ? fs->blocked_opens : 0; }
