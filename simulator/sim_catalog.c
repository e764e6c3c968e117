/* sim_catalog.c - outpost-sim list, show and check (sim_catalog.h). */
#include "sim_catalog.h"
#include "sim_real.h"

#include "sim_scenario.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAT_MAX_FILES 512   /* scenarios in one directory */
#define CAT_MAX_CLAIMS 128  /* IDs in docs/claims.txt */
#define CAT_CLAIM_ID 16
#define CAT_CLAIM_TEXT 512
#define CAT_PATH 1024
#define CAT_WIDTH 100       /* output lines wrap here */
#define CAT_DESC_COLS 60    /* list: the description column */

typedef struct cat_claim {
  char id[CAT_CLAIM_ID];
  char text[CAT_CLAIM_TEXT];
} cat_claim;

typedef struct cat_claims {
  cat_claim c[CAT_MAX_CLAIMS];
  int n;
  char path[CAT_PATH];
} cat_claims;

typedef struct cat_opts {
  const char *dir;          /* --dir */
  const char *claims_file;  /* --claims-file */
  const char *claim;        /* list --claim */
  int by_claim;             /* list --claims */
  int real;                 /* list --real: what real mode plays (sim_real.h) */
} cat_opts;

/* ---- finding the project's files at run time ---- */

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of the running binary (no trailing slash). */
static int exe_dir(const char *argv0, char *out, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0) {
    if (!argv0 || !strchr(argv0, '/') || strlen(argv0) >= cap) return -1;
    snprintf(out, cap, "%s", argv0);
    n = (ssize_t)strlen(out);
  }
  out[n] = 0;
  char *slash = strrchr(out, '/');
  if (!slash) return -1;
  *slash = 0;
  return 0;
}

/* Finds rel ("scenarios" or "docs/claims.txt") in the project as
 * sim_catalog.h says; 0 and the path in out, or -1. */
static int find_project_path(const char *argv0, const char *rel, int want_dir, char *out,
                             size_t cap) {
  char dir[CAT_PATH];
  if (exe_dir(argv0, dir, sizeof dir) != 0) return -1;
  char p[CAT_PATH + 64];
  /* 1. catalog-paths.txt, written by the build beside the binary */
  snprintf(p, sizeof p, "%s/catalog-paths.txt", dir);
  FILE *f = fopen(p, "r");
  if (f) {
    char line[CAT_PATH + 32];
    int found = -1;
    while (found != 0 && fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = 0;
      if (strncmp(line, "source_dir=", 11) != 0) continue;
      if (snprintf(out, cap, "%s/%s", line + 11, rel) >= (int)cap) continue;
      if (want_dir ? is_dir(out) : is_file(out)) found = 0;
    }
    fclose(f);
    if (found == 0) return 0;
  }
  /* 2. a parent of the binary's directory holding both scenarios/ and
   *    docs/claims.txt (an in-tree build dir, a copied tree) */
  char up[CAT_PATH];
  snprintf(up, sizeof up, "%s", dir);
  for (int level = 0; level < 4; level++) {
    char *slash = strrchr(up, '/');
    if (!slash || slash == up) break;
    *slash = 0;
    char a[CAT_PATH + 32], b[CAT_PATH + 32];
    snprintf(a, sizeof a, "%s/scenarios", up);
    snprintf(b, sizeof b, "%s/docs/claims.txt", up);
    if (is_dir(a) && is_file(b)) {
      if (snprintf(out, cap, "%s/%s", up, rel) >= (int)cap) return -1;
      return 0;
    }
  }
  /* 3. an installed layout: bin/outpost-sim, share/outpost/<rel> */
  if (snprintf(out, cap, "%s/../share/outpost/%s", dir, rel) >= (int)cap) return -1;
  return (want_dir ? is_dir(out) : is_file(out)) ? 0 : -1;
}

static int scenario_dir(const char *argv0, const cat_opts *o, char *out, size_t cap) {
  if (o->dir) {
    if (!is_dir(o->dir)) {
      fprintf(stderr, "outpost-sim: %s: not a directory\n", o->dir);
      return -1;
    }
    snprintf(out, cap, "%s", o->dir);
    return 0;
  }
  if (find_project_path(argv0, "scenarios", 1, out, cap) == 0) return 0;
  fprintf(stderr, "outpost-sim: cannot find the scenarios directory beside the binary; "
                  "give it with --dir DIR\n");
  return -1;
}

/* ---- docs/claims.txt: "ID<tab>claim" lines, '#' comments ---- */

static int valid_claim_id(const char *s, size_t n) {
  if (n == 0 || n >= CAT_CLAIM_ID) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-') return 0;
  return 1;
}

static int load_claims(const char *argv0, const cat_opts *o, cat_claims *cl) {
  cl->n = 0;
  if (o->claims_file) {
    snprintf(cl->path, sizeof cl->path, "%s", o->claims_file);
  } else if (find_project_path(argv0, "docs/claims.txt", 0, cl->path, sizeof cl->path) != 0) {
    fprintf(stderr, "outpost-sim: cannot find docs/claims.txt beside the binary; "
                    "give it with --claims-file FILE\n");
    return -1;
  }
  FILE *f = fopen(cl->path, "r");
  if (!f) {
    fprintf(stderr, "outpost-sim: %s: cannot open\n", cl->path);
    return -1;
  }
  char line[CAT_CLAIM_ID + CAT_CLAIM_TEXT + 64];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    size_t len = strcspn(line, "\r\n");
    if (len == strlen(line) && !feof(f)) {
      fprintf(stderr, "outpost-sim: %s:%d: line too long\n", cl->path, lineno);
      rc = -1;
      break;
    }
    line[len] = 0;
    if (!line[0] || line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    size_t idn = tab ? (size_t)(tab - line) : strlen(line);
    if (!valid_claim_id(line, idn) || cl->n >= CAT_MAX_CLAIMS) {
      fprintf(stderr, "outpost-sim: %s:%d: not \"ID<tab>claim\" (ID: A-Z, 0-9, -)\n", cl->path,
              lineno);
      rc = -1;
      break;
    }
    cat_claim *c = &cl->c[cl->n++];
    memcpy(c->id, line, idn);
    c->id[idn] = 0;
    snprintf(c->text, sizeof c->text, "%s", tab ? tab + 1 : "");
  }
  fclose(f);
  if (rc == 0 && cl->n == 0) {
    fprintf(stderr, "outpost-sim: %s: no claim IDs\n", cl->path);
    rc = -1;
  }
  return rc;
}

static const cat_claim *claim_find(const cat_claims *cl, const char *id) {
  for (int i = 0; i < cl->n; i++)
    if (strcmp(cl->c[i].id, id) == 0) return &cl->c[i];
  return NULL;
}

/* ---- reading a scenario and placing errors on their line ---- */

/* Reads at most SIM_SCN_MAX_FILE bytes into a fresh buffer (caller frees). */
static char *read_text(const char *path, size_t *len, char *err, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, cap, "cannot open");
    return NULL;
  }
  char *buf = malloc(SIM_SCN_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  size_t n = fread(buf, 1, SIM_SCN_MAX_FILE + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || n > SIM_SCN_MAX_FILE) {
    free(buf);
    snprintf(err, cap, bad ? "read error" : "file over %d bytes", SIM_SCN_MAX_FILE);
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* Past the string starting at p (on its opening quote); NULL if unterminated. */
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}

/* Past one JSON value at p (already past whitespace); NULL if malformed or
 * nested deeper than 64. Only as strict as locating a key needs. */
static const char *skip_value(const char *p, const char *end, int depth) {
  if (p >= end || depth > 64) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    p = skip_ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    while (p < end) {
      if (close == '}') {
        if (*p != '"') return NULL;
        p = skip_ws(skip_string(p, end) ? skip_string(p, end) : end, end);
        if (p >= end || *p != ':') return NULL;
        p = skip_ws(p + 1, end);
      }
      p = skip_value(p, end, depth + 1);
      if (!p) return NULL;
      p = skip_ws(p, end);
      if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
        continue;
      }
      return p < end && *p == close ? p + 1 : NULL;
    }
    return NULL;
  }
  while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
         *p != '\r' && *p != '\t')
    p++;
  return p;
}

/* Next component of a key path: a key (up to '.' or '[') or "[N]".
 * Returns the rest of the path, or NULL at its end. */
static const char *next_component(const char *path, char *key, size_t cap, long *index) {
  if (*path == '.') path++;
  if (!*path) return NULL;
  *index = -1;
  key[0] = 0;
  if (*path == '[') {
    char *e = NULL;
    long v = strtol(path + 1, &e, 10);
    if (!e || *e != ']' || v < 0) return NULL;
    *index = v;
    return e + 1;
  }
  size_t n = strcspn(path, ".[");
  if (n >= cap) n = cap - 1;
  memcpy(key, path, n);
  key[n] = 0;
  return path + strcspn(path, ".[");
}

int sim_catalog_line_of(const char *text, size_t len, const char *path, int occurrence) {
  if (!text || !path) return 1;
  const char *end = text + len, *p = skip_ws(text, end), *best = NULL;
  char key[96];
  long index;
  const char *rest = path;
  for (int guard = 0; guard < 64; guard++) {
    const char *next = next_component(rest, key, sizeof key, &index);
    if (!next) break;
    int last = *next == 0;
    const char *found = NULL, *value = NULL;
    if (index >= 0 && p < end && *p == '[') {
      const char *q = skip_ws(p + 1, end);
      for (long i = 0; q && q < end && *q != ']'; i++) {
        if (i == index) {
          found = value = q;
          break;
        }
        q = skip_value(q, end, 1);
        q = q ? skip_ws(q, end) : NULL;
        if (q && q < end && *q == ',') q = skip_ws(q + 1, end);
      }
    } else if (index < 0 && p < end && *p == '{') {
      const char *q = skip_ws(p + 1, end);
      int seen = 0;
      size_t kn = strlen(key);
      while (q && q < end && *q == '"') {
        const char *ks = q;
        const char *ke = skip_string(q, end);
        if (!ke) break;
        q = skip_ws(ke, end);
        if (q >= end || *q != ':') break;
        q = skip_ws(q + 1, end);
        if ((size_t)(ke - ks) == kn + 2 && memcmp(ks + 1, key, kn) == 0 &&
            ++seen == (last && occurrence > 1 ? occurrence : 1)) {
          found = ks;
          value = q;
          break;
        }
        q = skip_value(q, end, 1);
        q = q ? skip_ws(q, end) : NULL;
        if (q && q < end && *q == ',') q = skip_ws(q + 1, end);
      }
    }
    if (!found) break;
    best = found;
    p = value;
    rest = next;
  }
  int line = 1;
  for (const char *c = text; best && c < best; c++) line += *c == '\n';
  return line;
}

/* The line of a parse error: the key path before ": " in err, or for text
 * that is not JSON, where cJSON stopped. */
static int error_line(const char *text, size_t len, const char *err) {
  if (strncmp(err, "(root): not valid JSON", 22) == 0) {
    const char *stop = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &stop, 0);
    cJSON_Delete(j);
    if (!stop || stop < text || stop > text + len) stop = cJSON_GetErrorPtr();
    int line = 1;
    for (const char *c = text; stop && c < stop && c < text + len; c++) line += *c == '\n';
    return line;
  }
  if (err[0] == '(') return 1;
  char path[200];
  size_t n = strcspn(err, ":");
  const char *colon = strstr(err, ": ");
  if (colon) n = (size_t)(colon - err);
  if (n >= sizeof path) n = sizeof path - 1;
  memcpy(path, err, n);
  path[n] = 0;
  int occurrence = strstr(err, ": duplicate key") ? 2 : 1;
  return sim_catalog_line_of(text, len, path, occurrence);
}

/* Parses path; on failure prints "path:LINE: error" and returns -1. The
 * scenario is a plain value the caller owns. */
static int load_scenario(const char *path, sim_scenario *s, char **text_out, size_t *len_out) {
  char err[512];
  size_t len = 0;
  char *text = read_text(path, &len, err, sizeof err);
  if (!text) {
    fprintf(stderr, "%s: %s\n", path, err);
    return -1;
  }
  int rc = sim_scenario_parse(text, len, s, err, sizeof err);
  if (rc != SIM_SCN_OK) {
    fprintf(stderr, "%s:%d: %s\n", path, error_line(text, len, err), err);
    free(text);
    return -1;
  }
  if (text_out) {
    *text_out = text;
    *len_out = len;
  } else {
    free(text);
  }
  return 0;
}

/* Every *.json in dir, sorted; returns the count or -1. */
static int list_dir(const char *dir, char (*names)[256], int cap) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "outpost-sim: %s: cannot read\n", dir);
    return -1;
  }
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t l = strlen(e->d_name);
    if (l < 6 || l >= 256 || strcmp(e->d_name + l - 5, ".json") != 0 || e->d_name[0] == '.')
      continue;
    if (n >= cap) {
      fprintf(stderr, "outpost-sim: %s: more than %d scenarios\n", dir, cap);
      closedir(d);
      return -1;
    }
    memcpy(names[n++], e->d_name, l + 1);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
  return n;
}

/* ---- words ---- */

static void fmt_duration(int64_t s, char *out, size_t cap) {
  if (s >= 3600 && s % 3600 == 0) snprintf(out, cap, "%lld h", (long long)(s / 3600));
  else if (s >= 3600) snprintf(out, cap, "%.1f h", (double)s / 3600.0);
  else if (s >= 60 && s % 60 == 0) snprintf(out, cap, "%lld min", (long long)(s / 60));
  else snprintf(out, cap, "%lld s", (long long)s);
}

/* Code points in a UTF-8 string's first n bytes (display columns, near enough). */
static size_t cols(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n && s[i]; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

/* The description's first sentence (up to ". " before a capital, or the
 * end), cut to max_cols at a word with "..." appended. */
static void first_sentence(const char *d, char *out, size_t cap, size_t max_cols) {
  size_t n = strlen(d);
  /* i >= 24: a leading "Issue #13." is a tag, not the sentence */
  for (size_t i = 24; i + 2 < n; i++)
    if (d[i] == '.' && d[i + 1] == ' ' && isupper((unsigned char)d[i + 2])) {
      n = i + 1;
      break;
    }
  int cut = 0;
  if (cols(d, n) > max_cols) {
    size_t b = 0;
    for (size_t c = 0; b < n && c < max_cols - 3; b++) c += ((unsigned char)d[b + 1] & 0xC0) != 0x80;
    while (b > 0 && d[b] != ' ') b--; /* back to a word's end */
    if (b == 0) b = max_cols - 3;
    while (b > 0 && ((unsigned char)d[b] & 0xC0) == 0x80) b--; /* never inside a character */
    n = b;
    cut = 1;
  }
  if (n >= cap - 4) n = cap - 4;
  memcpy(out, d, n);
  snprintf(out + n, cap - n, "%s", cut ? "..." : "");
}

/* Prints text wrapped at CAT_WIDTH: the first line indented by indent
 * spaces, the next ones by hang. */
static void print_hanging(const char *text, int indent, int hang) {
  const char *p = text;
  size_t width = CAT_WIDTH - (size_t)indent;
  for (int first = 1; *p; first = 0) {
    if (!first) {
      indent = hang;
      width = CAT_WIDTH - (size_t)hang;
    }
    while (*p == ' ') p++;
    if (!*p) break;
    size_t n = strlen(p), take = n;
    if (cols(p, n) > width) {
      size_t b = 0;
      for (size_t c = 0; p[b] && c < width; b++) c += ((unsigned char)p[b + 1] & 0xC0) != 0x80;
      take = b;
      while (take > 0 && p[take] != ' ') take--;
      if (take == 0) take = b; /* a word longer than the line */
    }
    printf("%*s%.*s\n", indent, "", (int)take, p);
    p += take;
  }
}

static void print_wrapped(const char *text, int indent) { print_hanging(text, indent, indent); }

static void agents_phrase(const sim_scn_event *ev, char *out, size_t cap) {
  if (ev->agents_pct >= 0) snprintf(out, cap, "%g%% of the agents", ev->agents_pct);
  else snprintf(out, cap, "%lld agent%s", (long long)ev->agents_count,
                ev->agents_count == 1 ? "" : "s");
}

static const char *ring_name(int r) {
  return r == 0 ? "canary" : r == 1 ? "early-access" : r == 2 ? "stable" : "?";
}

static void describe_event(const sim_scenario *s, const sim_scn_event *ev, char *o, size_t cap) {
  char a[48], d[32];
  agents_phrase(ev, a, sizeof a);
  fmt_duration(ev->duration_s, d, sizeof d);
  static const char *const styles[] = {"?", "rename: app.log moved to app.log.1, a new app.log",
                                       "copytruncate: copied to app.log.1, truncated in place",
                                       "truncate: truncated in place, nothing kept",
                                       "recreate: deleted, the next line creates it"};
  switch (ev->type) {
  case SIM_SCN_CLOUD_OUTAGE: snprintf(o, cap, "the cloud is down for %s", d); break;
  case SIM_SCN_NETWORK: {
    size_t k = (size_t)snprintf(o, cap, "the network changes:");
    if (ev->loss >= 0 && k < cap) k += (size_t)snprintf(o + k, cap - k, " %g%% of requests lost;", ev->loss * 100);
    if (ev->response_loss >= 0 && k < cap)
      k += (size_t)snprintf(o + k, cap - k, " %g%% of replies lost after the cloud acted;", ev->response_loss * 100);
    if (ev->latency_min_ms >= 0 && k < cap)
      k += (size_t)snprintf(o + k, cap - k, " latency %lld..%lld ms each way;",
                            (long long)ev->latency_min_ms, (long long)ev->latency_max_ms);
    if (k > 0 && k < cap && o[k - 1] == ';') o[k - 1] = 0;
    break;
  }
  case SIM_SCN_RESTART: snprintf(o, cap, "graceful restart of %s", a); break;
  case SIM_SCN_CRASH:
    snprintf(o, cap, "%s crash between two steps: the disk reverts to its synced content, then "
                     "they start again", a);
    break;
  case SIM_SCN_POWER_CUT:
    if (ev->during_download)
      snprintf(o, cap, "power cut on %s among the writes of their next update download", a);
    else if (ev->switch_step == SIM_SCN_CUT_SPREAD)
      snprintf(o, cap, "power cut on %s in their supervisor's next switch, the i-th agent after "
                       "step i mod %d", a, SIM_SCN_SWITCH_STEPS + 1);
    else if (ev->switch_step == SIM_SCN_CUT_RANDOM)
      snprintf(o, cap, "power cut on %s in their supervisor's next switch, after a random step", a);
    else if (ev->switch_step >= 0)
      snprintf(o, cap, "power cut on %s in their supervisor's next switch, after step %d", a,
               ev->switch_step);
    else
      snprintf(o, cap, "power cut on %s just before one of their next 1..40 disk writes "
                       "(unsynced data is lost), then a reboot", a);
    break;
  case SIM_SCN_PARTITION: snprintf(o, cap, "%s cut off the network for %s", a, d); break;
  case SIM_SCN_DISK_FILL:
    snprintf(o, cap, "another program fills (or gives back) the disk of %s until %lld MiB are free",
             a, (long long)ev->free_mb);
    break;
  case SIM_SCN_ROTATE:
    snprintf(o, cap, "the application log of %s is rotated, %s", a,
             styles[ev->rotate_style >= 1 && ev->rotate_style <= 4 ? ev->rotate_style : 0]);
    break;
  case SIM_SCN_POLICY:
    snprintf(o, cap, "the cloud serves a new policy: %.200s%s",
             ev->policy_index >= 0 && ev->policy_index < s->n_policies ? s->policies[ev->policy_index] : "?",
             ev->policy_index >= 0 && ev->policy_index < s->n_policies &&
                     strlen(s->policies[ev->policy_index]) > 200 ? "..." : "");
    break;
  case SIM_SCN_CLONE:
    snprintf(o, cap, "the disk image of %s is copied into %lld new machine%s each, with %s "
                     "hardware ids", a, (long long)ev->copies, ev->copies == 1 ? "" : "s",
             ev->same_fingerprint ? "identical" : "new");
    break;
  case SIM_SCN_SNAPSHOT: snprintf(o, cap, "a snapshot of the disk of %s is kept", a); break;
  case SIM_SCN_RESTORE:
    snprintf(o, cap, "every agent with a snapshot is thrown away and rebooted from it");
    break;
  case SIM_SCN_TAMPER:
    snprintf(o, cap, "on %s the state dir is loosened to 0755, agent.key and identity.json to "
                     "0644, then a graceful restart", a);
    break;
  case SIM_SCN_PLANT:
    snprintf(o, cap, "on %s the state dir is left 0777 and user %lld plants .outpost-uid-probe "
                     "and its own policy.json there, then a graceful restart", a, (long long)ev->uid);
    break;
  case SIM_SCN_LOCAL_ATTACK: {
    size_t k = (size_t)snprintf(o, cap, "for %s a local user attacks %s: at each of their own "
                                        "opens of a file, with probability %g, it swaps", d, a,
                                ev->probability);
    for (int i = 0; i < ev->n_swap && ev->swap_first + i < s->n_swaps && k < cap; i++) {
      const sim_scn_swap *w = &s->swaps[ev->swap_first + i];
      k += (size_t)snprintf(o + k, cap - k, "%s %s for %s%s", i ? ";" : ":", w->path,
                            w->fifo ? "a FIFO" : "a symlink to ", w->fifo ? "" : w->target);
    }
    break;
  }
  case SIM_SCN_FOREIGN:
    snprintf(o, cap, "the key and identity of %s are stolen and tried against another workspace", a);
    break;
  case SIM_SCN_REPLAY: snprintf(o, cap, "the last signed request of %s is sent again", a); break;
  case SIM_SCN_REVOKE: snprintf(o, cap, "the cloud revokes %s", a); break;
  case SIM_SCN_UPD_RELEASE:
    snprintf(o, cap, "%s released to the %s ring%s (%lld KiB)", ev->version, ring_name(ev->ring),
             ev->broken ? ", broken: it crashes at every start" : "",
             (long long)(ev->binary_kb ? ev->binary_kb : 4));
    break;
  case SIM_SCN_UPD_PROMOTE:
    snprintf(o, cap, "%s promoted from %s to %s%s", ev->version, ring_name(ev->ring),
             ring_name(ev->ring_to), ev->force ? " (forced past the promotion gate)" : "");
    break;
  case SIM_SCN_UPD_FREEZE:
    snprintf(o, cap, "the repository freezes: timestamp.json is no longer re-signed");
    break;
  case SIM_SCN_UPD_REPLAY:
    snprintf(o, cap, "timestamp.json as it was at generation %lld is served again (rollback attack)",
             (long long)ev->generation);
    break;
  case SIM_SCN_UPD_COMPROMISE:
    snprintf(o, cap, "the online TUF keys are stolen: %s to %s, valid TUF metadata, release "
                     "statement signed by the attacker", ev->version, ring_name(ev->ring));
    break;
  case SIM_SCN_UPD_TAMPER:
    snprintf(o, cap, "the binary of %s is served with its last byte changed", ev->version);
    break;
  case SIM_SCN_UPD_ENDLESS: snprintf(o, cap, "timestamp.json is served with 2 MiB of padding"); break;
  case SIM_SCN_UPD_MIX:
    snprintf(o, cap, "every N.%s.json is answered with the signed body of %lld.%s.json "
                     "(mix-and-match)", ev->role, (long long)ev->body_version, ev->role);
    break;
  case SIM_SCN_UPD_STEAL:
    snprintf(o, cap, "the release key is stolen (not the TUF keys): %s is served as the "
                     "attacker's build with a release statement the real key signed", ev->version);
    break;
  case SIM_SCN_CLOUD_LIE:
    snprintf(o, cap, "for %s the cloud lies to %s: %s", d, a,
             ev->lie_kind == SIM_LIE_SESSION_SWAP      ? "their session requests get another agent's session"
             : ev->lie_kind == SIM_LIE_POLICY_ROLLBACK ? "a policy with an older version and other content"
                                                       : "ingest acks name seqs beyond the batch");
    break;
  case SIM_SCN_CLOCK_STEP:
    snprintf(o, cap, "the wall clock of %s steps by %+lld s", a, (long long)ev->step_s);
    break;
  case SIM_SCN_TLS_FAILURE:
    snprintf(o, cap, "the TLS handshake of %s fails (certificate problem) for %s", a, d);
    break;
  default: snprintf(o, cap, "%s", sim_scenario_event_name(ev->type)); break;
  }
}

static void expect_line(const char *text, const char *key) {
  char buf[700];
  snprintf(buf, sizeof buf, "- %s (%s)", text, key);
  print_hanging(buf, 2, 4);
}

static void describe_expectations(const sim_scenario *s) {
  char t[600];
  printf("expectations:\n");
  expect_line("always: after every event, for the agent it touched, the cloud's records are "
              "gap-free and produced == cloud + spooled - overlap + shed", "ledger");
  if (s->exactly_once) {
    snprintf(t, sizeof t, "after the drain (up to %lld s with no new faults) every line written "
                          "is in the cloud exactly once, by the counters and by SQL over the store",
             (long long)s->drain_s);
    expect_line(t, "exactly_once");
  } else {
    snprintf(t, sizeof t, "the run goes on for up to %lld s after the logs stop", (long long)s->drain_s);
    expect_line(t, "drain_s");
  }
  if (s->at_least_once)
    expect_line("every line each agent wrote since its last copy or restore is stored under an "
                "identity it held", "at_least_once");
  if (s->max_spooled_at_end >= 0) {
    if (s->max_spooled_at_end == 0) snprintf(t, sizeof t, "at the end no agent has records left in its spool");
    else snprintf(t, sizeof t, "at the end no agent holds more than %lld records in its spool",
                  (long long)s->max_spooled_at_end);
    expect_line(t, "max_spooled_at_end");
  }
  if (s->max_requests_per_min >= 0) {
    snprintf(t, sizeof t, "from t=%lld s on, the cloud sees at most %lld requests in any simulated "
                          "minute (refused ones included)",
             (long long)s->rate_from_s, (long long)s->max_requests_per_min);
    expect_line(t, "max_requests_per_min, rate_from_s");
  }
  if (s->shed_reported)
    expect_line("every record an agent shed is reported to the cloud and the report stored",
                "shed_reported");
  if (s->min_shed > 0) {
    snprintf(t, sizeof t, "the fleet sheds at least %lld records (the scenario must make it shed)",
             (long long)s->min_shed);
    expect_line(t, "min_shed");
  }
  if (s->lies_refused)
    expect_line("every agent a cloud_lie hit refused the lie: no other identity's session used, no "
                "older policy applied, no forged ack believed", "lies_refused");
  if (s->tls_reported)
    expect_line("every agent whose TLS handshakes failed logged it as a TLS problem",
                "tls_reported");
  if (s->disk_floor_held)
    expect_line("no spool grows while its volume is under the free-space floor, nor keeps records "
                "there past 60 s", "floor_held");
  if (s->lost_min >= 0) {
    snprintf(t, sizeof t, "%lld..%lld of the lines written never reach the cloud, fleet-wide",
             (long long)s->lost_min, (long long)s->lost_max);
    expect_line(t, "lost_lines");
  }
  if (s->lost_middle_min >= 0) {
    snprintf(t, sizeof t, "%lld..%lld of them are whole generations lost between two rotations",
             (long long)s->lost_middle_min, (long long)s->lost_middle_max);
    expect_line(t, "lost_middle_lines");
  }
  if (s->no_denied_open)
    expect_line("no agent opens a path on the deny list (checked after every event)", "no_denied_open");
  if (s->no_secret_shipped)
    expect_line("no record in the cloud holds a line of a secret file (SQL over the store)",
                "no_secret_shipped");
  if (s->max_blocked_opens >= 0) {
    snprintf(t, sizeof t, "at most %lld opens, fleet-wide, would have blocked for ever (a FIFO "
                          "opened without O_NONBLOCK)", (long long)s->max_blocked_opens);
    expect_line(t, "max_blocked_opens");
  }
  if (s->refusals_reported)
    expect_line("every host a local_attack swapped a file on refused a path and the cloud holds "
                "its report", "refusals_reported");
  if (s->policy_applied > 0) {
    snprintf(t, sizeof t, "at the end every agent reports running policy version %lld",
             (long long)s->policy_applied);
    expect_line(t, "policy_applied");
  }
  if (s->max_records_per_s > 0) {
    snprintf(t, sizeof t, "an agent running a rate-capped policy produces at most %lld records per "
                          "second from then on (plus one second of burst), checked after every event",
             (long long)s->max_records_per_s);
    expect_line(t, "max_records_per_s");
  }
  if (s->metrics_reported)
    expect_line("every agent's self-metrics are in the cloud, naming the policy it runs",
                "metrics_reported");
  for (int i = 0; i < s->n_alerts; i++) {
    const sim_scn_alert_expect *x = &s->alerts[i];
    if (x->max == 0)
      snprintf(t, sizeof t, "the cloud raised no alert%s%s", strcmp(x->kind, "total") ? " of kind " : " at all",
               strcmp(x->kind, "total") ? x->kind : "");
    else if (x->min == x->max)
      snprintf(t, sizeof t, "the cloud raised exactly %lld alert%s%s%s", (long long)x->min,
               x->min == 1 ? "" : "s", strcmp(x->kind, "total") ? " of kind " : " in all",
               strcmp(x->kind, "total") ? x->kind : "");
    else
      snprintf(t, sizeof t, "the cloud raised %lld..%lld alerts%s%s", (long long)x->min,
               (long long)x->max, strcmp(x->kind, "total") ? " of kind " : " in all",
               strcmp(x->kind, "total") ? x->kind : "");
    expect_line(t, "alerts");
  }
  if (s->clone_detect_within_s >= 0) {
    snprintf(t, sizeof t, "every copy and restored agent is detected within %lld s of its event",
             (long long)s->clone_detect_within_s);
    expect_line(t, "clone_detect_within_s");
  }
  if (s->originals_untouched)
    expect_line("every clone source ends with the identity it had", "originals_untouched");
  if (s->max_misattributed >= 0) {
    snprintf(t, sizeof t, "at most %lld records are stored under an identity their writer never held",
             (long long)s->max_misattributed);
    expect_line(t, "max_misattributed");
  }
  if (s->attacks_refused)
    expect_line("every foreign-workspace and replayed request is refused and changes nothing",
                "attacks_refused");
  if (s->min_drift_events >= 0) {
    snprintf(t, sizeof t, "the cloud holds at least %lld permission-drift reports",
             (long long)s->min_drift_events);
    expect_line(t, "min_drift_events");
  }
  if (s->max_foreign_owned_state_files >= 0) {
    snprintf(t, sizeof t, "at most %lld entries of any state dir are owned by another uid than the "
                          "agent's", (long long)s->max_foreign_owned_state_files);
    expect_line(t, "max_foreign_owned_state_files");
  }
  if (s->planted_policy_refused)
    expect_line("no agent runs the policy plant_files planted", "planted_policy_refused");
  if (s->upd_final_version[0]) {
    snprintf(t, sizeof t, "every agent ends on version %s", s->upd_final_version);
    expect_line(t, "update_final_version");
  }
  if (s->upd_never[0]) {
    snprintf(t, sizeof t, "no agent ever installs %s", s->upd_never);
    expect_line(t, "update_never_installed");
  }
  if (s->upd_no_install_after_attack)
    expect_line("no agent installs anything after the first attack event",
                "update_no_install_after_attack");
  if (s->upd_reported[0]) {
    if (s->upd_reported_within_s >= 0)
      snprintf(t, sizeof t, "every agent reports a refusal containing \"%s\" within %lld s of the "
                            "first attack", s->upd_reported, (long long)s->upd_reported_within_s);
    else
      snprintf(t, sizeof t, "every agent reports a refusal containing \"%s\"", s->upd_reported);
    expect_line(t, "update_reported");
  }
  if (s->upd_rolled_back[0]) {
    snprintf(t, sizeof t, "every agent that installed %s rolled it back, bad-listed and reported it",
             s->upd_rolled_back);
    expect_line(t, "update_rolled_back");
  }
  if (s->upd_promotes_refused >= 0) {
    snprintf(t, sizeof t, "the promotion gate refuses exactly %lld promote%s",
             (long long)s->upd_promotes_refused, s->upd_promotes_refused == 1 ? "" : "s");
    expect_line(t, "update_promotes_refused");
  }
  if (s->upd_ring_order)
    expect_line("the final version reaches canary, then early-access, then stable agents",
                "update_ring_order");
  if (s->upd_switch_cut_steps >= 0) {
    snprintf(t, sizeof t, "power is cut after each of the steps 0..%lld of some supervisor's switch",
             (long long)s->upd_switch_cut_steps - 1);
    expect_line(t, "update_switch_cut_steps");
  }
  if (s->upd_bin_valid)
    expect_line("at the end every agent's bin/current verifies and may run, and a probation keeps "
                "its bin/previous", "update_bin_valid");
}

/* ---- the commands ---- */

static int cmd_show(const char *argv0, const cat_opts *o, const char *what) {
  char path[CAT_PATH + 300];
  size_t wl = strlen(what);
  int as_file = strchr(what, '/') || (wl > 5 && strcmp(what + wl - 5, ".json") == 0);
  sim_scenario *s = malloc(sizeof *s);
  cat_claims *cl = malloc(sizeof *cl);
  int rc = 2;
  if (!s || !cl) goto out;
  if (as_file) {
    snprintf(path, sizeof path, "%s", what);
  } else {
    char dir[CAT_PATH];
    if (scenario_dir(argv0, o, dir, sizeof dir) != 0) goto out;
    snprintf(path, sizeof path, "%s/%s.json", dir, what);
    if (!is_file(path)) {
      /* not a file name: a scenario whose "name" is it */
      static char names[CAT_MAX_FILES][256];
      int n = list_dir(dir, names, CAT_MAX_FILES), hit = 0;
      for (int i = 0; i < n && !hit; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) continue;
        char err[256];
        hit = sim_scenario_load(path, s, err, sizeof err) == SIM_SCN_OK && strcmp(s->name, what) == 0;
      }
      if (!hit) {
        fprintf(stderr, "outpost-sim: no scenario named %s in %s (outpost-sim list)\n", what, dir);
        goto out;
      }
    }
  }
  if (load_scenario(path, s, NULL, NULL) != 0) {
    rc = 1;
    goto out;
  }
  int have_claims = load_claims(argv0, o, cl) == 0;
  char d[32], dr[32];
  printf("%s  (%s)\n", s->name, path);
  printf("claims:%s\n", s->n_claims ? "" : " none named");
  for (int i = 0; i < s->n_claims; i++) {
    const cat_claim *c = have_claims ? claim_find(cl, s->claims[i]) : NULL;
    char line[CAT_CLAIM_TEXT + 64];
    snprintf(line, sizeof line, "%-8s %s", s->claims[i],
             c ? c->text : have_claims ? "NOT A CLAIM ID of docs/claims.txt" : "");
    print_hanging(line, 2, 11);
  }
  printf("\n");
  print_wrapped(s->description[0] ? s->description : "(no description)", 0);
  printf("\n");
  fmt_duration(s->duration_s, d, sizeof d);
  fmt_duration(s->drain_s, dr, sizeof dr);
  char fl[300];
  snprintf(fl, sizeof fl, "fleet: %lld agent%s, %lld MiB disk each, running as uid %lld%s "
                          "(another size: run --agents N; counts scale, docs/scenarios.md)",
           (long long)s->agents, s->agents == 1 ? "" : "s",
           (long long)(s->disk_quota_bytes / (1024 * 1024)), (long long)s->agent_uid,
           s->agent_uid == 0 ? " (root)" : "");
  print_hanging(fl, 0, 2);
  if (s->clock_skew_ms > 0) printf("  clocks off by up to +-%lld ms each\n", (long long)s->clock_skew_ms);
  if (s->secrets) printf("  every host holds secret files at denied paths (fleet.secrets)\n");
  if (s->ring_pct[0] > 0 || s->ring_pct[1] > 0)
    printf("  rings: canary %g%%, early-access %g%%, the rest stable\n", s->ring_pct[0], s->ring_pct[1]);
  printf("time: %s of logs (%lld s), then a drain of up to %s\n", d, (long long)s->duration_s, dr);
  char real[400], rl[460];
  sim_real_verdict(s, real, sizeof real);
  snprintf(rl, sizeof rl, "real mode (run --real N): %s", real);
  print_hanging(rl, 0, 2);
  printf("log: %g lines per minute per agent, %lld..%lld bytes each\n", s->lines_per_min,
         (long long)s->line_min, (long long)s->line_max);
  printf("network: latency %lld..%lld ms each way, %g%% of requests lost, %g%% of replies lost\n",
         (long long)s->latency_min_ms, (long long)s->latency_max_ms, s->loss * 100,
         s->response_loss * 100);
  static const char *const agent_keys[] = {"batch_max_records",  "batch_max_age_ms",
                                           "poll_interval_ms",   "request_timeout_ms",
                                           "retry_base_ms",      "retry_max_ms",
                                           "backpressure_max_ms", "checkin_interval_ms",
                                           "ship_window"};
  const int64_t agent_vals[] = {s->batch_max_records,  s->batch_max_age_ms, s->poll_interval_ms,
                                s->request_timeout_ms, s->retry_base_ms,    s->retry_max_ms,
                                s->backpressure_max_ms, s->checkin_interval_ms, s->ship_window};
  char as[600];
  size_t k = (size_t)snprintf(as, sizeof as, "agent settings:");
  int any = 0;
  for (size_t i = 0; i < sizeof agent_vals / sizeof agent_vals[0] && k < sizeof as; i++)
    if (agent_vals[i] >= 0) {
      k += (size_t)snprintf(as + k, sizeof as - k, " %s %lld,", agent_keys[i], (long long)agent_vals[i]);
      any = 1;
    }
  if (s->spool_quota_bytes > 0 && k < sizeof as) {
    k += (size_t)snprintf(as + k, sizeof as - k, " spool_quota_mb %lld,",
                          (long long)(s->spool_quota_bytes / (1024 * 1024)));
    any = 1;
  }
  if (k < sizeof as)
    snprintf(as + k, sizeof as - k, "%s", any ? " the rest as config_defaults()" : " config_defaults()");
  print_hanging(as, 0, 2);
  printf("cloud: sessions last %lld s%s", (long long)s->session_ttl_s,
         s->probation_s ? "" : ", no probation\n");
  if (s->probation_s) printf(", newcomers on probation for %lld s\n", (long long)s->probation_s);
  if (s->update_check_interval_s)
    printf("updates: on, every agent checks every %lld s\n", (long long)s->update_check_interval_s);
  printf("\nevents (%d):\n", s->n_events);
  for (int i = 0; i < s->n_events; i++) {
    char text[1200], line[1300];
    const sim_scn_event *ev = &s->events[i];
    describe_event(s, ev, text, sizeof text);
    snprintf(line, sizeof line, "%02lld:%02lld:%02lld  %s: %s", (long long)(ev->at_s / 3600),
             (long long)(ev->at_s / 60 % 60), (long long)(ev->at_s % 60),
             sim_scenario_event_name(ev->type), text);
    print_hanging(line, 2, 12);
  }
  printf("\n");
  describe_expectations(s);
  printf("\nrun: outpost-sim run %s --seed 1\n", path);
  rc = 0;
out:
  free(s);
  free(cl);
  return rc;
}

/* Checks one parsed scenario's claims against the list; prints each error
 * on its line. Returns the number of errors. */
static int check_claims(const char *path, const char *text, size_t len, const sim_scenario *s,
                        const cat_claims *cl) {
  int errors = 0;
  if (s->n_claims == 0) {
    fprintf(stderr, "%s:%d: claims: names no claim ID (each scenario names the IDs of %s it "
                    "proves)\n", path, sim_catalog_line_of(text, len, "claims", 1), cl->path);
    errors++;
  }
  for (int i = 0; i < s->n_claims; i++) {
    char kp[32];
    snprintf(kp, sizeof kp, "claims[%d]", i);
    if (!claim_find(cl, s->claims[i])) {
      fprintf(stderr, "%s:%d: %s: \"%s\" is not a claim ID of %s\n", path,
              sim_catalog_line_of(text, len, kp, 1), kp, s->claims[i], cl->path);
      errors++;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(s->claims[i], s->claims[j]) == 0) {
        fprintf(stderr, "%s:%d: %s: \"%s\" named twice\n", path,
                sim_catalog_line_of(text, len, kp, 1), kp, s->claims[i]);
        errors++;
        break;
      }
  }
  return errors;
}

static int cmd_check(const char *argv0, const cat_opts *o, int nargs, char **args) {
  cat_claims *cl = malloc(sizeof *cl);
  sim_scenario *s = malloc(sizeof *s);
  static char names[CAT_MAX_FILES][256];
  static char seen_name[CAT_MAX_FILES][128];
  static char seen_file[CAT_MAX_FILES][CAT_PATH];
  int n_seen = 0, files = 0, failed = 0, rc = 2;
  if (!cl || !s || load_claims(argv0, o, cl) != 0) goto out;
  for (int a = 0; a < nargs; a++) {
    int n = 1;
    int dir = is_dir(args[a]);
    if (dir && (n = list_dir(args[a], names, CAT_MAX_FILES)) < 0) goto out;
    for (int i = 0; i < n; i++) {
      char path[CAT_PATH + 300];
      files++;
      if (snprintf(path, sizeof path, dir ? "%s/%s" : "%s", args[a], dir ? names[i] : "") >=
          (int)sizeof path) {
        fprintf(stderr, "%s: path too long\n", args[a]);
        failed++;
        continue;
      }
      char *text = NULL;
      size_t len = 0;
      if (load_scenario(path, s, &text, &len) != 0) {
        failed++;
        continue;
      }
      int errs = check_claims(path, text, len, s, cl);
      /* two files of one name: show NAME and the reports would mix them up */
      for (int k = 0; k < n_seen; k++)
        if (strcmp(seen_name[k], s->name) == 0 && strcmp(seen_file[k], path) != 0) {
          fprintf(stderr, "%s:%d: name: \"%s\" is also the name of %s\n", path,
                  sim_catalog_line_of(text, len, "name", 1), s->name, seen_file[k]);
          errs++;
          break;
        }
      if (n_seen < CAT_MAX_FILES) {
        snprintf(seen_name[n_seen], sizeof seen_name[0], "%s", s->name);
        if (snprintf(seen_file[n_seen], sizeof seen_file[0], "%s", path) < (int)sizeof seen_file[0])
          n_seen++; /* a longer path is not compared: no false duplicate */
      }
      free(text);
      failed += errs > 0;
    }
  }
  printf("checked %d scenario file%s against %s: %s", files, files == 1 ? "" : "s", cl->path,
         failed ? "" : "all valid\n");
  if (failed) printf("%d with errors\n", failed);
  rc = failed ? 1 : 0;
out:
  free(cl);
  free(s);
  return rc;
}

static int has_claim(const sim_scenario *s, const char *id) {
  for (int i = 0; i < s->n_claims; i++)
    if (strcmp(s->claims[i], id) == 0) return 1;
  return 0;
}

static int cmd_list(const char *argv0, const cat_opts *o) {
  char dir[CAT_PATH];
  static char names[CAT_MAX_FILES][256];
  cat_claims *cl = malloc(sizeof *cl);
  sim_scenario *s = malloc(sizeof *s);
  /* what the listing needs of each scenario, so --claims can go claim by claim */
  typedef struct row {
    char name[128];
    char claims[SIM_SCN_MAX_CLAIMS][CAT_CLAIM_ID];
    int n_claims;
    int64_t agents, duration_s;
    char desc[CAT_DESC_COLS * 4 + 8];
    char joined[SIM_SCN_MAX_CLAIMS * CAT_CLAIM_ID]; /* "ID,ID" */
    char real[400];                                 /* sim_real_verdict */
  } row;
  row *rows = calloc(CAT_MAX_FILES, sizeof *rows);
  int rc = 2, n_rows = 0, bad = 0;
  if (!cl || !s || !rows) goto out;
  if (scenario_dir(argv0, o, dir, sizeof dir) != 0 || load_claims(argv0, o, cl) != 0) goto out;
  char want[CAT_CLAIM_ID] = "";
  if (o->claim) {
    size_t n = strlen(o->claim);
    for (size_t i = 0; i < n && i < sizeof want - 1; i++) want[i] = (char)toupper((unsigned char)o->claim[i]);
    if (n >= sizeof want || !claim_find(cl, want)) {
      fprintf(stderr, "outpost-sim: %s is not a claim ID of %s (outpost-sim list --claims)\n",
              o->claim, cl->path);
      goto out;
    }
  }
  int n = list_dir(dir, names, CAT_MAX_FILES);
  if (n < 0) goto out;
  for (int i = 0; i < n; i++) {
    char path[CAT_PATH + 300];
    if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path ||
        load_scenario(path, s, NULL, NULL) != 0) {
      bad++;
      continue;
    }
    if (want[0] && !has_claim(s, want)) continue;
    row *r = &rows[n_rows++];
    snprintf(r->name, sizeof r->name, "%s", s->name);
    for (int k = 0; k < s->n_claims; k++) snprintf(r->claims[k], CAT_CLAIM_ID, "%.15s", s->claims[k]);
    r->n_claims = s->n_claims;
    r->agents = s->agents;
    r->duration_s = s->duration_s;
    first_sentence(s->description[0] ? s->description : "(no description)", r->desc,
                   sizeof r->desc, CAT_DESC_COLS);
    sim_real_verdict(s, r->real, sizeof r->real);
  }
  if (o->real) {
    int wn = 4;
    for (int i = 0; i < n_rows; i++)
      if ((int)strlen(rows[i].name) > wn) wn = (int)strlen(rows[i].name);
    printf("%-*s  %s\n", wn, "NAME", "REAL MODE (outpost-sim run NAME --real N)");
    for (int i = 0; i < n_rows; i++) {
      char line[600];
      snprintf(line, sizeof line, "%-*s  %s", wn, rows[i].name, rows[i].real);
      print_hanging(line, 0, wn + 2);
    }
  } else if (o->by_claim) {
    int none = 0;
    printf("%-8s  %s\n", "CLAIM", "SCENARIOS");
    for (int c = 0; c < cl->n; c++) {
      char line[4096];
      size_t k = (size_t)snprintf(line, sizeof line, "%-8s  ", cl->c[c].id);
      int hits = 0;
      for (int i = 0; i < n_rows && k < sizeof line; i++)
        for (int j = 0; j < rows[i].n_claims; j++)
          if (strcmp(rows[i].claims[j], cl->c[c].id) == 0 && k < sizeof line) {
            k += (size_t)snprintf(line + k, sizeof line - k, "%s%s", hits++ ? ", " : "", rows[i].name);
            break;
          }
      if (!hits) {
        none++;
        char cut[96];
        first_sentence(cl->c[c].text, cut, sizeof cut, 60);
        snprintf(line + k, sizeof line - k, "NO SCENARIO: %s", cut);
      }
      print_hanging(line, 0, 10);
    }
    printf("%d of %d claims have no scenario (real-binary tests and CI checks prove those, or "
           "nothing yet: docs/threat-model.md)\n", none, cl->n);
    for (int i = 0; i < n_rows; i++)
      for (int j = 0; j < rows[i].n_claims; j++)
        if (!claim_find(cl, rows[i].claims[j])) {
          printf("unknown claim ID %s in %s\n", rows[i].claims[j], rows[i].name);
          bad++;
        }
  } else {
    int wn = 4, wc = 6;
    for (int i = 0; i < n_rows; i++) {
      char *cj = rows[i].joined;
      size_t k = 0, cap = sizeof rows[i].joined;
      cj[0] = 0;
      for (int j = 0; j < rows[i].n_claims && k < cap; j++)
        k += (size_t)snprintf(cj + k, cap - k, "%s%s", j ? "," : "", rows[i].claims[j]);
      if ((int)strlen(rows[i].name) > wn) wn = (int)strlen(rows[i].name);
      if ((int)strlen(cj) > wc) wc = (int)strlen(cj);
    }
    if (wc > 24) wc = 24; /* longer claim lists push the description on */
    printf("%-*s  %6s  %8s  %-*s  %s\n", wn, "NAME", "AGENTS", "DURATION", wc, "CLAIMS",
           "DESCRIPTION");
    for (int i = 0; i < n_rows; i++) {
      char d[32];
      fmt_duration(rows[i].duration_s, d, sizeof d);
      printf("%-*s  %6lld  %8s  %-*s  %s\n", wn, rows[i].name, (long long)rows[i].agents, d, wc,
             rows[i].joined, rows[i].desc);
    }
    if (want[0] && n_rows == 0) printf("(no scenario claims %s)\n", want);
  }
  rc = bad ? 1 : 0;
out:
  free(cl);
  free(s);
  free(rows);
  return rc;
}

void sim_catalog_usage(FILE *out) {
  fprintf(out,
          "       outpost-sim list [--claim ID | --claims] [--real] [--dir DIR] [--claims-file FILE]\n"
          "       outpost-sim show NAME|FILE [--dir DIR] [--claims-file FILE]\n"
          "       outpost-sim check [--claims-file FILE] FILE|DIR...\n"
          "  list: every scenario (name, fleet, duration, claims, first sentence); --claim ID:\n"
          "  those claiming ID; --claims: each claim ID with its scenarios; --real: what\n"
          "  `run --real N` plays of each and checks (sim_real.h). show: the whole\n"
          "  scenario in words. check: validate without running (errors as FILE:LINE: key.path:\n"
          "  why; claim IDs must be in docs/claims.txt). DIR defaults to the project's\n"
          "  scenarios/ and FILE to its docs/claims.txt, found from the binary: catalog-paths.txt\n"
          "  beside it (written by the build), else a parent dir holding both, else\n"
          "  ../share/outpost/. Exit 0 ok, 1 a check failed, 2 usage.\n");
}

int sim_catalog_is_command(const char *cmd) {
  return cmd && (!strcmp(cmd, "list") || !strcmp(cmd, "show") || !strcmp(cmd, "check"));
}

static int usage_error(const char *why) {
  fprintf(stderr, "outpost-sim: %s\nusage:", why);
  sim_catalog_usage(stderr);
  return 2;
}

int sim_catalog_main(int argc, char **argv) {
  if (argc < 2 || !sim_catalog_is_command(argv[1])) return usage_error("no command");
  const char *cmd = argv[1];
  cat_opts o = {0};
  char *args[256];
  int nargs = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--dir") == 0 || strcmp(a, "--claims-file") == 0 ||
        (strcmp(a, "--claim") == 0 && cmd[0] == 'l')) {
      if (!v || !*v) return usage_error("an option without its value");
      if (a[2] == 'd') o.dir = v;
      else if (a[7] == '-') o.claims_file = v;
      else o.claim = v;
      i++;
    } else if (strcmp(a, "--claims") == 0 && cmd[0] == 'l') {
      o.by_claim = 1;
    } else if (strcmp(a, "--real") == 0 && cmd[0] == 'l') {
      o.real = 1;
    } else if (a[0] == '-' && a[1] == '-') {
      return usage_error("unknown option");
    } else {
      if (nargs >= (int)(sizeof args / sizeof args[0])) return usage_error("too many files");
      args[nargs++] = argv[i];
    }
  }
  if (cmd[0] == 'l') {
    if (nargs || (o.claim && o.by_claim) || (o.real && o.by_claim))
      return usage_error("list takes no file; --claim or --claims; --real with --claim or alone");
    return cmd_list(argv[0], &o);
  }
  if (cmd[0] == 's') {
    if (nargs != 1) return usage_error("show takes one NAME or FILE");
    return cmd_show(argv[0], &o, args[0]);
  }
  if (nargs < 1) return usage_error("check takes at least one FILE or DIR");
  if (o.dir) return usage_error("check takes its files and directories as arguments, not --dir");
  return cmd_check(argv[0], &o, nargs, args);
}
