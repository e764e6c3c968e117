/* snapdelta.c - changes between snapshots from per-item hashes (see snapdelta.h). */
#include "core/snapdelta.h"

#include <cjson/cJSON.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <stdlib.h>
#include <string.h>

#define SD_FIELDS 4
#define SD_VALUE_MAX (COLLECT_LINE_MAX + 8)

typedef struct sd_ent {
  uint64_t kh, vh;
  uint32_t koff;
  uint16_t klen;
  uint8_t seen;
} sd_ent;

/* One snapshot's entries, their key texts, and an open-addressing index. */
typedef struct sd_gen {
  sd_ent *e;
  char *keys;
  uint32_t *idx; /* entry + 1, 0 = empty; icap is a power of two */
  size_t n, cap, kused, kcap, icap;
} sd_gen;

struct snapdelta {
  collect_emit_fn emit;
  void *user;
  const char *name;
  int64_t max;
  int64_t added, changed, removed, items;
  sd_gen base, cur;
  policy_snapshot which;
  int has_base, delta, active;
  int truncated, available, saw_summary, stopped, oom;
};

static const char *const key_fields[POLICY_SNAP_COUNT][SD_FIELDS] = {
    [POLICY_SNAP_PROCESSES] = {"pid", "start_s", NULL, NULL},
    [POLICY_SNAP_SERVICES] = {"unit", NULL, NULL, NULL},
    [POLICY_SNAP_INTERFACES] = {"name", "ipv4", "ipv6", NULL},
    [POLICY_SNAP_PACKAGES] = {"name", "arch", "source", NULL},
    [POLICY_SNAP_PORTS] = {"proto", "addr", "port", NULL},
};
static const char *const value_fields[POLICY_SNAP_COUNT][SD_FIELDS] = {
    [POLICY_SNAP_PROCESSES] = {"ppid", "uid", "name", "cmdline"},
    [POLICY_SNAP_SERVICES] = {"state", NULL, NULL, NULL},
    [POLICY_SNAP_INTERFACES] = {"mac", "state", "mtu", "prefix"},
    [POLICY_SNAP_PACKAGES] = {"version", NULL, NULL, NULL},
    [POLICY_SNAP_PORTS] = {"uid", "inode", NULL, NULL},
};

static uint64_t fnv(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}
#define FNV_SEED UINT64_C(0xcbf29ce484222325)

static void gen_free(sd_gen *g) {
  free(g->e);
  free(g->keys);
  free(g->idx);
  memset(g, 0, sizeof *g);
}

int snapdelta_new(policy_snapshot which, int64_t max_entries, snapdelta **out) {
  *out = NULL;
  if ((int)which < 0 || which >= POLICY_SNAP_COUNT || max_entries <= 0 ||
      max_entries > POLICY_SNAPSHOT_ITEMS_CAP)
    return SNAPDELTA_EINVAL;
  snapdelta *d = calloc(1, sizeof *d);
  if (!d) return SNAPDELTA_ENOMEM;
  d->which = which;
  d->max = max_entries;
  d->name = policy_snapshot_name(which);
  *out = d;
  return SNAPDELTA_OK;
}

void snapdelta_free(snapdelta *d) {
  if (!d) return;
  gen_free(&d->base);
  gen_free(&d->cur);
  free(d);
}

int snapdelta_has_base(const snapdelta *d) { return d && d->has_base; }

int snapdelta_begin(snapdelta *d, int delta, collect_emit_fn emit, void *user) {
  if (!d || !emit || (delta && !d->has_base)) return SNAPDELTA_EINVAL;
  gen_free(&d->cur);
  /* Sized for max items at half load, so gen_add never has to grow it. */
  size_t icap = 16;
  while (icap < (size_t)d->max * 2) icap *= 2;
  d->cur.idx = calloc(icap, sizeof *d->cur.idx);
  d->cur.icap = d->cur.idx ? icap : 0;
  d->emit = emit;
  d->user = user;
  d->delta = delta;
  d->active = 1;
  d->added = d->changed = d->removed = d->items = 0;
  d->truncated = d->available = d->saw_summary = d->stopped = d->oom = 0;
  if (!d->cur.icap) d->oom = 1; /* repeated keys undetectable: no base from this pass */
  for (size_t i = 0; i < d->base.n; i++) d->base.e[i].seen = 0;
  return SNAPDELTA_OK;
}

static int put(snapdelta *d, const char *line, size_t len) {
  if (d->stopped) return 1;
  if (d->emit(d->user, line, len) != 0) d->stopped = 1;
  return d->stopped;
}

/* Appends "name":value for each present field to out (NUL-terminated);
 * returns the length, or -1 when it does not fit. */
static int fields_text(const cJSON *o, const char *const *names, char *out, size_t cap) {
  size_t n = 0;
  char val[SD_VALUE_MAX];
  out[0] = 0;
  for (int i = 0; i < SD_FIELDS && names[i]; i++) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, names[i]);
    if (!it) continue;
    if (!cJSON_PrintPreallocated((cJSON *)it, val, (int)sizeof val - 5, 0)) return -1;
    int w = snprintf(out + n, cap - n, "%s\"%s\":%s", n ? "," : "", names[i], val);
    if (w < 0 || (size_t)w >= cap - n) return -1;
    n += (size_t)w;
  }
  return (int)n;
}

static sd_ent *base_find(sd_gen *g, uint64_t kh, const char *key, size_t klen) {
  if (!g->icap) return NULL;
  for (size_t i = kh & (g->icap - 1), probes = 0; probes < g->icap;
       i = (i + 1) & (g->icap - 1), probes++) {
    uint32_t v = g->idx[i];
    if (v == 0) return NULL;
    sd_ent *e = &g->e[v - 1];
    if (e->kh == kh && e->klen == klen && memcmp(g->keys + e->koff, key, klen) == 0) return e;
  }
  return NULL;
}

static int gen_add(sd_gen *g, int64_t max, uint64_t kh, uint64_t vh, const char *key,
                   size_t klen) {
  if (g->n >= (size_t)max) return 1;
  if (g->n == g->cap) {
    size_t nc = g->cap ? g->cap * 2 : 64;
    if (nc > (size_t)max) nc = (size_t)max;
    sd_ent *ne = realloc(g->e, nc * sizeof *ne);
    if (!ne) return -1;
    g->e = ne;
    g->cap = nc;
  }
  if (g->kused + klen > g->kcap) {
    size_t nk = g->kcap ? g->kcap * 2 : 4096;
    while (nk < g->kused + klen) nk *= 2;
    char *k = realloc(g->keys, nk);
    if (!k) return -1;
    g->keys = k;
    g->kcap = nk;
  }
  memcpy(g->keys + g->kused, key, klen);
  g->e[g->n] = (sd_ent){kh, vh, (uint32_t)g->kused, (uint16_t)klen, 0};
  g->kused += klen;
  g->n++;
  if (g->icap) { /* the pass's own index (snapdelta_begin): finds repeated keys */
    size_t i = kh & (g->icap - 1);
    while (g->idx[i]) i = (i + 1) & (g->icap - 1);
    g->idx[i] = (uint32_t)g->n;
  }
  return 0;
}

static int gen_index(sd_gen *g) {
  size_t cap = 16;
  while (cap < g->n * 2) cap *= 2;
  free(g->idx);
  g->idx = calloc(cap, sizeof *g->idx);
  if (!g->idx) {
    g->icap = 0;
    return -1;
  }
  g->icap = cap;
  for (size_t j = 0; j < g->n; j++) {
    size_t i = g->e[j].kh & (cap - 1);
    while (g->idx[i]) i = (i + 1) & (cap - 1);
    g->idx[i] = (uint32_t)(j + 1);
  }
  return 0;
}

/* {"snapshot":"K",REST -> {"delta":"K","change":"C",REST; too long: key only. */
static int put_change(snapdelta *d, const char *change, const char *line, size_t len,
                      const char *key) {
  char out[COLLECT_LINE_MAX];
  char prefix[64];
  int pl = snprintf(prefix, sizeof prefix, "{\"snapshot\":\"%s\"", d->name);
  int w;
  if (pl > 0 && (size_t)pl < len && memcmp(line, prefix, (size_t)pl) == 0 &&
      (w = snprintf(out, sizeof out, "{\"delta\":\"%s\",\"change\":\"%s\"%.*s", d->name, change,
                    (int)(len - (size_t)pl), line + pl)) > 0 &&
      (size_t)w < sizeof out)
    return put(d, out, (size_t)w);
  w = snprintf(out, sizeof out, "{\"delta\":\"%s\",\"change\":\"%s\",%s,\"cut\":true}", d->name,
               change, key);
  return w > 0 && (size_t)w < sizeof out ? put(d, out, (size_t)w) : 0;
}

int snapdelta_line(void *user, const char *line, size_t len) {
  snapdelta *d = user;
  if (!d->active || d->stopped) return 1;
  cJSON *o = cJSON_ParseWithLength(line, len);
  if (!o) return d->delta ? 0 : put(d, line, len); /* never ours: passed on as is */
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "summary"))) {
    d->saw_summary = 1;
    d->truncated |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "truncated"));
    d->available = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "available"));
    cJSON_Delete(o);
    return d->delta ? 0 : put(d, line, len);
  }
  char key[SNAPDELTA_KEY_MAX + 1], val[COLLECT_LINE_MAX + 64];
  int kl = fields_text(o, key_fields[d->which], key, sizeof key);
  int vl = fields_text(o, value_fields[d->which], val, sizeof val);
  cJSON_Delete(o);
  if (kl <= 0) {
    /* No key (or a key too long to name): cannot be tracked, so the base
     * would be wrong; the next pass is a full one. */
    d->truncated = 1;
    return d->delta ? 0 : put(d, line, len);
  }
  uint64_t kh = fnv(FNV_SEED, key, (size_t)kl);
  /* The same key again in one pass (rpm installs several versions of one
   * package, e.g. kernels; SO_REUSEPORT sockets): the n-th occurrence is its
   * own item, "dup":n, in the source's order, which is stable between passes. */
  if (d->cur.icap && base_find(&d->cur, kh, key, (size_t)kl)) {
    int base_len = kl, found = 1;
    for (int n = 2; found && n <= SNAPDELTA_DUP_MAX; n++) {
      int w = snprintf(key + base_len, sizeof key - (size_t)base_len, ",\"dup\":%d", n);
      if (w < 0 || (size_t)w >= sizeof key - (size_t)base_len) break;
      kl = base_len + w;
      kh = fnv(FNV_SEED, key, (size_t)kl);
      found = base_find(&d->cur, kh, key, (size_t)kl) != NULL;
    }
    if (found) {
      d->truncated = 1; /* cannot be told apart: the next pass is a full one */
      return d->delta ? 0 : put(d, line, len);
    }
  }
  uint64_t vh = vl >= 0 ? fnv(FNV_SEED, val, (size_t)vl) : 0;
  d->items++;
  int rc = gen_add(&d->cur, d->max, kh, vh, key, (size_t)kl);
  if (rc < 0) d->oom = 1;
  if (rc > 0) d->truncated = 1;
  if (!d->delta) return put(d, line, len);
  sd_ent *e = base_find(&d->base, kh, key, (size_t)kl);
  if (!e) {
    d->added++;
    return put_change(d, "added", line, len, key);
  }
  e->seen = 1;
  if (e->vh == vh) return 0;
  d->changed++;
  return put_change(d, "changed", line, len, key);
}

int snapdelta_end(snapdelta *d, int complete, int64_t *added, int64_t *changed,
                  int64_t *removed) {
  if (!d || !d->active) return SNAPDELTA_EINVAL;
  d->active = 0;
  /* A cut-short or unavailable pass cannot tell removed from unseen: it
   * reports nothing removed and leaves no base. */
  complete = complete && !d->stopped && d->saw_summary;
  if (d->delta && complete && d->available && !d->truncated && !d->oom) {
    char out[SNAPDELTA_KEY_MAX + 96];
    for (size_t i = 0; i < d->base.n && !d->stopped; i++) {
      sd_ent *e = &d->base.e[i];
      if (e->seen) continue;
      d->removed++;
      int w = snprintf(out, sizeof out, "{\"delta\":\"%s\",\"change\":\"removed\",%.*s}",
                       d->name, (int)e->klen, d->base.keys + e->koff);
      if (w > 0 && (size_t)w < sizeof out) put(d, out, (size_t)w);
    }
  }
  if (d->delta && !d->stopped) {
    char out[256];
    int w = snprintf(out, sizeof out,
                     "{\"delta\":\"%s\",\"summary\":true,\"added\":%lld,\"changed\":%lld,"
                     "\"removed\":%lld,\"items\":%lld,\"truncated\":%s,\"available\":%s}",
                     d->name, (long long)d->added, (long long)d->changed,
                     (long long)d->removed, (long long)d->items,
                     d->truncated ? "true" : "false", d->available ? "true" : "false");
    if (w > 0 && (size_t)w < sizeof out) put(d, out, (size_t)w);
  }
  if (added) *added = d->added;
  if (changed) *changed = d->changed;
  if (removed) *removed = d->removed;
  gen_free(&d->base);
  if (complete && !d->truncated && !d->oom && d->available && !d->stopped &&
      gen_index(&d->cur) == 0) {
    d->base = d->cur;
    memset(&d->cur, 0, sizeof d->cur);
    d->has_base = 1;
  } else {
    gen_free(&d->cur);
    d->has_base = 0;
  }
  return SNAPDELTA_OK;
}
