/* policy.c - policy parsing, validation and the path box (see policy.h). */
#include "core/policy.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>
#include <strings.h>

#include "core/jfield.h"

#define POLICY_LIST_MAX_ENTRIES 4096

static const char *const snap_names[POLICY_SNAP_COUNT] = {"processes", "services", "interfaces",
                                                          "packages", "ports"};
static const char *const diag_names[POLICY_DIAG_COUNT] = {
    "uptime", "load", "memory", "disk", "time_sync", "interfaces", "routes", "dns", "self_test"};
static const char *const ring_names[] = {"stable", "early-access", "canary"};

const char *policy_snapshot_name(policy_snapshot s) {
  return (unsigned)s < POLICY_SNAP_COUNT ? snap_names[s] : "?";
}
const char *policy_diag_name(policy_diag d) {
  return (unsigned)d < POLICY_DIAG_COUNT ? diag_names[d] : "?";
}
const char *policy_ring_name(policy_ring r) { return (unsigned)r < 3 ? ring_names[r] : "?"; }

int policy_diag_lookup(const char *name) {
  for (int i = 0; name && i < POLICY_DIAG_COUNT; i++)
    if (strcmp(name, diag_names[i]) == 0) return i;
  return -1;
}

/* ---- errors ------------------------------------------------------------- */

static void say(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t cap, const char *fmt, ...) {
  if (!buf || cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
}

/* ---- parsing ------------------------------------------------------------ */

void policy_defaults(policy *out) {
  memset(out, 0, sizeof *out);
  out->policy_interval_s = 300;
  out->max_records_per_s = 1000;
  out->max_memory_mb = 64;
  out->snapshot_max_items = 5000;
  out->update_ring = POLICY_RING_STABLE;
  for (int i = 0; i < POLICY_SNAP_COUNT; i++) out->snapshot_delta_s[i] = -1;
  out->journal_enabled = 1;
  out->journal_max_priority = 7;
}

static int has_wild(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == ']' || s[i] == '\\') return 1;
  return 0;
}

static void parse_glob(jfield_err *e, const cJSON *v, const char *key, policy_glob *g) {
  if (!cJSON_IsString(v)) {
    jfield_fail(e, "%s: must be a string", key);
    return;
  }
  const char *s = v->valuestring;
  size_t n = strlen(s);
  if (n == 0 || s[0] != '/') {
    jfield_fail(e, "%s: must be an absolute path", key);
    return;
  }
  if (n >= sizeof g->glob) {
    jfield_fail(e, "%s: longer than %zu bytes", key, sizeof g->glob - 1);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) {
      jfield_fail(e, "%s: control character at byte %zu", key, i);
      return;
    }
  }
  const char *slash = strrchr(s, '/');
  if (has_wild(s, (size_t)(slash - s))) {
    jfield_fail(e, "%s: wildcards are allowed in the last path component only", key);
    return;
  }
  if (has_wild(slash + 1, strlen(slash + 1)) &&
      (strchr(slash + 1, '[') || strchr(slash + 1, ']') || strchr(slash + 1, '\\'))) {
    jfield_fail(e, "%s: only '*' and '?' wildcards are supported", key);
    return;
  }
  if (slash[1] == 0) {
    jfield_fail(e, "%s: must name files, not a directory", key);
    return;
  }
  memcpy(g->glob, s, n + 1);
}

static void parse_logs(jfield_err *e, const cJSON *arr, policy *p) {
  if (!cJSON_IsArray(arr)) {
    jfield_fail(e, "logs: must be an array");
    return;
  }
  if (cJSON_GetArraySize(arr) > POLICY_MAX_GLOBS) {
    jfield_fail(e, "logs: at most %d entries", POLICY_MAX_GLOBS);
    return;
  }
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    char key[48];
    snprintf(key, sizeof key, "logs[%d]", i);
    if (!cJSON_IsObject(it)) {
      jfield_fail(e, "%s: must be an object", key);
      return;
    }
    policy_glob *g = &p->logs[i];
    memset(g, 0, sizeof *g);
    int have = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, it) {
      char fkey[96];
      snprintf(fkey, sizeof fkey, "%s.%.40s", key, f->string);
      if (strcmp(f->string, "glob") == 0) {
        parse_glob(e, f, fkey, g);
        have = 1;
      } else if (strcmp(f->string, "start") == 0) {
        if (jfield_start(e, f, fkey, &g->from_beginning) != 0) return;
      } else {
        jfield_fail(e, "%s: unknown key", fkey);
      }
      if (e->failed) return;
    }
    if (!have) {
      jfield_fail(e, "%s.glob: required", key);
      return;
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(p->logs[j].glob, g->glob) == 0) {
        jfield_fail(e, "%s.glob: duplicate of logs[%d].glob", key, j);
        return;
      }
    }
    i++;
  }
  p->n_logs = i;
}

static void parse_snapshots(jfield_err *e, const cJSON *obj, policy *p) {
  if (!cJSON_IsObject(obj)) {
    jfield_fail(e, "snapshots: must be an object");
    return;
  }
  const cJSON *f;
  cJSON_ArrayForEach(f, obj) {
    int which = -1;
    for (int i = 0; i < POLICY_SNAP_COUNT; i++)
      if (strcmp(f->string, snap_names[i]) == 0) which = i;
    char key[96];
    snprintf(key, sizeof key, "snapshots.%.60s", f->string);
    if (which < 0) {
      jfield_fail(e, "%s: unknown snapshot (known: processes, services, interfaces, packages, ports)",
            key);
      return;
    }
    if (!cJSON_IsObject(f)) {
      jfield_fail(e, "%s: must be an object", key);
      return;
    }
    int have = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, f) {
      char gkey[160];
      snprintf(gkey, sizeof gkey, "%s.%.40s", key, g->string);
      if (strcmp(g->string, "interval_s") == 0) {
        int64_t v;
        if (jfield_int(e, g, gkey, POLICY_MIN_INTERVAL_S, POLICY_MAX_INTERVAL_S, &v) != 0) return;
        p->snapshot_interval_s[which] = v;
        have = 1;
      } else if (strcmp(g->string, "delta_interval_s") == 0) {
        double d = cJSON_IsNumber(g) ? g->valuedouble : -1;
        int off = d == 0, in_range = d >= POLICY_MIN_INTERVAL_S && d <= POLICY_MAX_INTERVAL_S &&
                                     d == (double)(int64_t)d;
        if (!off && !in_range) {
          jfield_fail(e, "%s: must be 0 (no changes between full snapshots) or an integer from %d to %d",
                gkey, POLICY_MIN_INTERVAL_S, POLICY_MAX_INTERVAL_S);
          return;
        }
        p->snapshot_delta_s[which] = off ? 0 : (int64_t)d;
      } else {
        jfield_fail(e, "%s: unknown key", gkey);
        return;
      }
    }
    if (!have) {
      jfield_fail(e, "%s.interval_s: required", key);
      return;
    }
    if (p->snapshot_delta_s[which] >= p->snapshot_interval_s[which]) {
      jfield_fail(e, "%s.delta_interval_s: must be shorter than interval_s (%lld)", key,
            (long long)p->snapshot_interval_s[which]);
      return;
    }
  }
}

static void parse_journal(jfield_err *e, const cJSON *obj, policy *p) {
  if (!cJSON_IsObject(obj)) {
    jfield_fail(e, "journal: must be an object");
    return;
  }
  const cJSON *g;
  cJSON_ArrayForEach(g, obj) {
    char gkey[96];
    snprintf(gkey, sizeof gkey, "journal.%.60s", g->string);
    if (strcmp(g->string, "enabled") == 0) {
      if (jfield_bool(e, g, gkey, &p->journal_enabled) != 0) return;
    } else if (strcmp(g->string, "max_priority") == 0) {
      int64_t v;
      if (jfield_int(e, g, gkey, 0, 7, &v) != 0) return;
      p->journal_max_priority = (int)v;
    } else {
      jfield_fail(e, "%s: unknown key", gkey);
      return;
    }
  }
}

static void parse_diags(jfield_err *e, const cJSON *arr, policy *p) {
  if (!cJSON_IsArray(arr)) {
    jfield_fail(e, "diagnostics: must be an array");
    return;
  }
  if (cJSON_GetArraySize(arr) > POLICY_MAX_DIAGS) {
    jfield_fail(e, "diagnostics: at most %d entries", POLICY_MAX_DIAGS);
    return;
  }
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    char key[48];
    snprintf(key, sizeof key, "diagnostics[%d]", i);
    if (!cJSON_IsObject(it)) {
      jfield_fail(e, "%s: must be an object", key);
      return;
    }
    policy_diag_entry *d = &p->diags[i];
    int have_name = 0, have_int = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, it) {
      char fkey[96];
      snprintf(fkey, sizeof fkey, "%s.%.40s", key, f->string);
      if (strcmp(f->string, "name") == 0) {
        if (!cJSON_IsString(f)) {
          jfield_fail(e, "%s: must be a string", fkey);
          return;
        }
        int k = policy_diag_lookup(f->valuestring);
        if (k < 0) {
          /* Quote at most 40 bytes of the cloud's text in our report. */
          jfield_fail(e, "%s: unknown diagnostic \"%.40s\" (only compiled-in diagnostics run)", fkey,
                f->valuestring);
          return;
        }
        d->diag = (policy_diag)k;
        have_name = 1;
      } else if (strcmp(f->string, "interval_s") == 0) {
        if (jfield_int(e, f, fkey, POLICY_MIN_INTERVAL_S, POLICY_MAX_INTERVAL_S, &d->interval_s) != 0)
          return;
        have_int = 1;
      } else {
        jfield_fail(e, "%s: unknown key", fkey);
        return;
      }
    }
    if (!have_name) {
      jfield_fail(e, "%s.name: required", key);
      return;
    }
    if (!have_int) d->interval_s = 3600;
    for (int j = 0; j < i; j++) {
      if (p->diags[j].diag == d->diag) {
        jfield_fail(e, "%s.name: duplicate of diagnostics[%d].name", key, j);
        return;
      }
    }
    i++;
  }
  p->n_diags = i;
}

static void parse_caps(jfield_err *e, const cJSON *obj, policy *p) {
  if (!cJSON_IsObject(obj)) {
    jfield_fail(e, "caps: must be an object");
    return;
  }
  const cJSON *f;
  cJSON_ArrayForEach(f, obj) {
    char key[96];
    snprintf(key, sizeof key, "caps.%.60s", f->string);
    if (strcmp(f->string, "max_records_per_s") == 0)
      jfield_int(e, f, key, 1, POLICY_RATE_CAP, &p->max_records_per_s);
    else if (strcmp(f->string, "max_memory_mb") == 0)
      jfield_int(e, f, key, 8, POLICY_MEMORY_CAP_MB, &p->max_memory_mb);
    else if (strcmp(f->string, "snapshot_max_items") == 0)
      jfield_int(e, f, key, 10, POLICY_SNAPSHOT_ITEMS_CAP, &p->snapshot_max_items);
    else
      jfield_fail(e, "%s: unknown key", key);
    if (e->failed) return;
  }
}

int policy_parse(const char *json, size_t len, policy *out, char *err, size_t err_cap) {
  jfield_err e = {err, err_cap, 0};
  if (err && err_cap) err[0] = 0;
  if (!json || !out) {
    jfield_fail(&e, "policy: no input");
    return POLICY_EINVALID;
  }
  if (len > POLICY_MAX_BYTES) {
    jfield_fail(&e, "policy: larger than %d bytes", POLICY_MAX_BYTES);
    return POLICY_EINVALID;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!root) {
    size_t off = end && end >= json ? (size_t)(end - json) : 0;
    jfield_fail(&e, "policy: not valid JSON (near byte %zu)", off);
    return POLICY_EINVALID;
  }
  /* Trailing bytes after the object would mean two parsers could disagree. */
  for (const char *q = end; q && q < json + len; q++) {
    if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t') {
      jfield_fail(&e, "policy: trailing bytes after the JSON object");
      break;
    }
  }
  if (!e.failed && !cJSON_IsObject(root)) jfield_fail(&e, "policy: top level must be an object");
  policy p; /* parsed into a copy: *out changes only when all of it is valid */
  policy_defaults(&p);
  int have_version = 0;
  const cJSON *f;
  if (!e.failed) {
    cJSON_ArrayForEach(f, root) {
      const char *k = f->string;
      char key[64];
      snprintf(key, sizeof key, "%.60s", k);
      if (strcmp(k, "version") == 0) {
        have_version = jfield_int(&e, f, key, 1, INT64_C(1) << 52, &p.version) == 0;
      } else if (strcmp(k, "logs") == 0) {
        parse_logs(&e, f, &p);
      } else if (strcmp(k, "snapshots") == 0) {
        parse_snapshots(&e, f, &p);
      } else if (strcmp(k, "diagnostics") == 0) {
        parse_diags(&e, f, &p);
      } else if (strcmp(k, "batch_max_records") == 0) {
        jfield_int(&e, f, key, 1, 10000, &p.batch_max_records);
      } else if (strcmp(k, "batch_max_age_ms") == 0) {
        jfield_int(&e, f, key, 100, 3600 * 1000, &p.batch_max_age_ms);
      } else if (strcmp(k, "policy_interval_s") == 0) {
        jfield_int(&e, f, key, 30, 86400, &p.policy_interval_s);
      } else if (strcmp(k, "caps") == 0) {
        parse_caps(&e, f, &p);
      } else if (strcmp(k, "journal") == 0) {
        parse_journal(&e, f, &p);
      } else if (strcmp(k, "update_ring") == 0) {
        int r = -1;
        for (int i = 0; cJSON_IsString(f) && i < 3; i++)
          if (strcmp(f->valuestring, ring_names[i]) == 0) r = i;
        if (r < 0) jfield_fail(&e, "update_ring: must be one of stable, early-access, canary");
        else p.update_ring = (policy_ring)r;
      } else {
        jfield_fail(&e, "%s: unknown key", key);
      }
      if (e.failed) break;
    }
  }
  cJSON_Delete(root);
  if (!e.failed && !have_version) jfield_fail(&e, "version: required");
  if (e.failed) return POLICY_EINVALID;
  *out = p;
  return POLICY_OK;
}

/* ---- paths -------------------------------------------------------------- */

int policy_normalize(const char *path, char *out, size_t cap) {
  if (!path || !out || cap < 2 || path[0] != '/') return POLICY_EINVALID;
  /* Whole buffer defined: callers compare prefixes of it (and the static
   * analyser cannot follow the terminator). */
  memset(out, 0, cap);
  size_t n = 0; /* out holds "" for "/" while building; components start with '/' */
  const char *p = path;
  size_t total = 0;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *s = p;
    while (*p && *p != '/') {
      unsigned char c = (unsigned char)*p;
      if (c < 0x20 || c == 0x7f) return POLICY_EINVALID;
      p++;
      if (++total >= OS_PATH_MAX) return POLICY_EINVALID;
    }
    size_t len = (size_t)(p - s);
    if (len == 1 && s[0] == '.') continue;
    if (len == 2 && s[0] == '.' && s[1] == '.') {
      while (n > 0 && out[n - 1] != '/') n--;
      if (n > 0) n--; /* drop the '/' too */
      continue;
    }
    if (n + 1 + len + 1 > cap) return POLICY_EINVALID;
    out[n++] = '/';
    memcpy(out + n, s, len);
    n += len;
  }
  if (n == 0) out[n++] = '/';
  out[n] = 0;
  return POLICY_OK;
}

/* path (pl bytes) equals dir (n bytes) or lies below it. Both normalized. */
static int under_n(const char *path, size_t pl, const char *dir, size_t n) {
  if (n == 1 && dir[0] == '/') return 1;
  if (pl < n || memcmp(path, dir, n) != 0) return 0;
  return pl == n || path[n] == '/';
}

static int under(const char *path, const char *dir) {
  return under_n(path, strlen(path), dir, strlen(dir));
}

/* The deny lists are read at every open of every poll: their lengths are
 * known at compile time rather than measured per call (strlen over these
 * tables was 7% of a simulated agent's CPU). */
typedef struct {
  const char *s;
  size_t len;
} deny_name;
#define DENY(lit) {lit, sizeof(lit) - 1}

/* Trees no policy and no local config may open anything in. */
static const deny_name deny_trees[] = {
    DENY("/etc/shadow"), DENY("/etc/gshadow"), DENY("/etc/shadow-"), DENY("/etc/gshadow-"),
    DENY("/etc/security/opasswd"), DENY("/etc/ssl/private"), DENY("/etc/pki/tls/private"),
    DENY("/etc/ssh"), DENY("/etc/krb5.keytab"), DENY("/etc/sudoers"), DENY("/etc/sudoers.d"),
    DENY("/root"), DENY("/proc"), DENY("/sys"), DENY("/dev"), DENY("/run/secrets"),
    DENY("/var/lib/sss/secrets"), DENY("/var/lib/outpost"), DENY("/etc/outpost"),
};

/* A path component with one of these names denies everything below it. */
static const deny_name deny_components[] = {
    DENY(".ssh"), DENY(".gnupg"), DENY(".password-store"), DENY(".mozilla"), DENY(".pki"),
    DENY(".aws"), DENY(".kube"), DENY(".docker"), DENY("keyrings"), DENY(".thunderbird"),
    DENY("google-chrome"), DENY("chromium"), DENY("BraveSoftware"), DENY(".vault-token"),
    DENY(".netrc"), DENY(".pgpass"), DENY(".git-credentials"), DENY(".azure"), DENY(".gcloud"),
    DENY("private-keys-v1.d"),
};

/* Inside a home directory (/home/USER/...), these first-level entries. */
static const deny_name deny_home[] = {
    DENY("Documents"), DENY("Desktop"), DENY("Downloads"), DENY("Pictures"), DENY("Videos"),
    DENY("Music"), DENY(".config"), DENY(".local"), DENY("snap"), DENY(".cache"), DENY(".var"),
};

/* File-name suffixes (case-insensitive) of key and secret stores. */
static const deny_name deny_suffixes[] = {
    DENY(".key"), DENY(".pem"), DENY(".p12"), DENY(".pfx"), DENY(".kdbx"), DENY(".keystore"),
    DENY(".jks"), DENY(".gpg"), DENY(".asc"), DENY("_history"), DENY(".keytab"),
};

/* File-name prefixes of SSH private keys. */
static const deny_name deny_prefixes[] = {
    DENY("id_rsa"), DENY("id_dsa"), DENY("id_ecdsa"), DENY("id_ed25519"),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int policy_denied(const char *path, const char **rule) {
  const char *dummy;
  if (!rule) rule = &dummy;
  *rule = NULL;
  size_t path_len = strlen(path);
  for (size_t i = 0; i < COUNT(deny_trees); i++) {
    if (under_n(path, path_len, deny_trees[i].s, deny_trees[i].len)) {
      *rule = deny_trees[i].s;
      return 1;
    }
  }
  /* Walk components. */
  const char *p = path;
  int depth = 0;
  int in_home = 0;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t len = (size_t)(p - s);
    for (size_t i = 0; i < COUNT(deny_components); i++) {
      if (deny_components[i].len == len && memcmp(s, deny_components[i].s, len) == 0) {
        *rule = deny_components[i].s;
        return 1;
      }
    }
    if (depth == 0) in_home = len == 4 && memcmp(s, "home", 4) == 0;
    if (in_home && depth == 2) {
      for (size_t i = 0; i < COUNT(deny_home); i++) {
        if (deny_home[i].len == len && memcmp(s, deny_home[i].s, len) == 0) {
          *rule = "home directory documents, profiles and caches";
          return 1;
        }
      }
    }
    if (*p == 0) { /* last component: the file name */
      for (size_t i = 0; i < COUNT(deny_suffixes); i++) {
        size_t sl = deny_suffixes[i].len;
        if (len >= sl && strncasecmp(s + len - sl, deny_suffixes[i].s, sl) == 0) {
          *rule = deny_suffixes[i].s;
          return 1;
        }
      }
      for (size_t i = 0; i < COUNT(deny_prefixes); i++) {
        size_t pl = deny_prefixes[i].len;
        if (len >= pl && memcmp(s, deny_prefixes[i].s, pl) == 0) {
          *rule = deny_prefixes[i].s;
          return 1;
        }
      }
    }
    depth++;
  }
  return 0;
}

/* Resolves a normalized path through the shim. A missing final component is
 * allowed (a log that appears later): its parent is resolved instead. */
static int resolve(const os_shim *os, const char *lex, char *out, size_t cap, char *why,
                   size_t why_cap) {
  if (!os || !os->realpath) {
    if (strlen(lex) >= cap) return POLICY_EINVALID;
    memcpy(out, lex, strlen(lex) + 1);
    return POLICY_OK;
  }
  int rc = os->realpath(os->ctx, lex, out, cap);
  if (rc == OS_OK) return POLICY_OK;
  if (rc != OS_ENOENT) {
    say(why, why_cap, "cannot be resolved (os error %d)", rc);
    return POLICY_ERESOLVE;
  }
  const char *slash = strrchr(lex, '/');
  char parent[POLICY_PATH_MAX], rp[POLICY_PATH_MAX];
  size_t plen = slash == lex ? 1 : (size_t)(slash - lex);
  memcpy(parent, lex, plen);
  parent[plen] = 0;
  rc = os->realpath(os->ctx, parent, rp, sizeof rp);
  if (rc != OS_OK) {
    say(why, why_cap, "parent directory cannot be resolved (os error %d)", rc);
    return POLICY_ERESOLVE;
  }
  int w = snprintf(out, cap, "%s/%s", strcmp(rp, "/") == 0 ? "" : rp, slash + 1);
  if (w < 0 || (size_t)w >= cap) return POLICY_EINVALID;
  return POLICY_OK;
}

static int under_root(const os_shim *os, const char *path, const char *root) {
  char lex[POLICY_PATH_MAX], rp[POLICY_PATH_MAX];
  if (policy_normalize(root, lex, sizeof lex) != POLICY_OK) return 0;
  if (under(path, lex)) return 1;
  if (os && os->realpath && os->realpath(os->ctx, lex, rp, sizeof rp) == OS_OK)
    return under(path, rp);
  return 0;
}

int policy_check_path(const policy_limits *lim, const os_shim *os, const char *path,
                      char *resolved, size_t resolved_cap, char *why, size_t why_cap) {
#ifdef OUTPOST_TEST_NO_USERSPACE_PATH_CHECK
  /* Test builds only (outpost-agent-nocheck): the user-space box is gone,
   * so that a test shows the kernel's (Landlock) alone keeps secrets out. */
  (void)lim;
  (void)os;
  if (why && why_cap) why[0] = 0;
  if (!path || policy_normalize(path, resolved ? resolved : (char[POLICY_PATH_MAX]){0},
                                resolved ? resolved_cap : POLICY_PATH_MAX) != POLICY_OK)
    return POLICY_EINVALID;
  return POLICY_OK;
#endif
  char lex[POLICY_PATH_MAX], res[POLICY_PATH_MAX];
  const char *rule = NULL;
  if (why && why_cap) why[0] = 0;
  if (resolved && resolved_cap) resolved[0] = 0;
  if (!lim || !path || policy_normalize(path, lex, sizeof lex) != POLICY_OK) {
    say(why, why_cap, "not a clean absolute path");
    return POLICY_EINVALID;
  }
  if (policy_denied(lex, &rule)) {
    say(why, why_cap, "denied by compiled-in rule \"%s\"", rule);
    return POLICY_EDENIED;
  }
  int rc = resolve(os, lex, res, sizeof res, why, why_cap);
  if (rc != POLICY_OK) {
    if (rc == POLICY_EINVALID) say(why, why_cap, "resolved path too long");
    return rc;
  }
  if (policy_denied(res, &rule)) {
    say(why, why_cap, "resolves to %.200s, denied by compiled-in rule \"%s\"", res, rule);
    return POLICY_EDENIED;
  }
  if (lim->state_dir[0] && under_root(os, res, lim->state_dir)) {
    say(why, why_cap, "inside the agent's own state directory");
    return POLICY_EOUTSIDE;
  }
  for (int i = 0; i < lim->n_roots && i < POLICY_MAX_ROOTS; i++) {
    if (under_root(os, res, lim->roots[i])) {
      if (resolved) {
        if (strlen(res) >= resolved_cap) {
          say(why, why_cap, "resolved path too long");
          return POLICY_EINVALID;
        }
        memcpy(resolved, res, strlen(res) + 1);
      }
      return POLICY_OK;
    }
  }
  say(why, why_cap, "%s%.200s is not under an allowed root (allowed_log_roots in the local config)",
      strcmp(res, lex) ? "resolves to " : "", res);
  return POLICY_EOUTSIDE;
}

int policy_glob_match(const char *pat, const char *name) {
  /* Iterative with one backtrack point: linear-ish, no recursion depth. */
  const char *star = NULL, *mark = NULL;
  while (*name) {
    if (*pat == '?' || (*pat && *pat != '*' && *pat == *name)) {
      pat++;
      name++;
    } else if (*pat == '*') {
      star = pat++;
      mark = name;
    } else if (star) {
      pat = star + 1;
      name = ++mark;
    } else {
      return 0;
    }
  }
  while (*pat == '*') pat++;
  return *pat == 0;
}

typedef struct expand_ctx {
  const policy_limits *lim;
  const os_shim *os;
  const char *dir;
  const char *pattern;
  const policy_expand_cb *cb;
  int max_files;
  int found;
} expand_ctx;

static int expand_one(void *user, const char *name) {
  expand_ctx *x = user;
  if (!policy_glob_match(x->pattern, name)) return 0;
  /* Dot files only when the pattern asks for them, like the shell. */
  if (name[0] == '.' && x->pattern[0] != '.') return 0;
  char path[POLICY_PATH_MAX], res[POLICY_PATH_MAX], why[POLICY_ERR_MAX];
  int w = snprintf(path, sizeof path, "%s/%s", strcmp(x->dir, "/") == 0 ? "" : x->dir, name);
  if (w < 0 || (size_t)w >= sizeof path) return 0;
  int rc = policy_check_path(x->lim, x->os, path, res, sizeof res, why, sizeof why);
  if (rc != POLICY_OK) {
    if (x->cb->refused) x->cb->refused(x->cb->user, path, why);
    return 0;
  }
  if (x->cb->ok) x->cb->ok(x->cb->user, res);
  return ++x->found >= x->max_files;
}

int policy_expand_glob(const policy_limits *lim, const os_shim *os, const char *glob,
                       int max_files, const policy_expand_cb *cb, char *why, size_t why_cap) {
  char lex[POLICY_PATH_MAX], dir[POLICY_PATH_MAX], rdir[POLICY_PATH_MAX];
  if (why && why_cap) why[0] = 0;
  if (!cb || !glob || policy_normalize(glob, lex, sizeof lex) != POLICY_OK) {
    say(why, why_cap, "not a clean absolute path");
    return POLICY_EINVALID;
  }
  const char *slash = strrchr(lex, '/');
  const char *pattern = slash + 1;
  if (!has_wild(pattern, strlen(pattern))) {
    char res[POLICY_PATH_MAX];
    int rc = policy_check_path(lim, os, lex, res, sizeof res, why, why_cap);
    if (rc != POLICY_OK) return rc;
    if (max_files > 0 && cb->ok) cb->ok(cb->user, res);
    return max_files > 0 ? 1 : 0;
  }
  size_t dlen = slash == lex ? 1 : (size_t)(slash - lex);
  memcpy(dir, lex, dlen);
  dir[dlen] = 0;
  /* The directory is checked like a file: a glob cannot list /etc or ~/.ssh. */
  int rc = policy_check_path(lim, os, dir, rdir, sizeof rdir, why, why_cap);
  if (rc != POLICY_OK) return rc;
  if (!os || !os->list_dir) return 0; /* a shim that cannot list: no matches */
  expand_ctx x = {lim, os, rdir, pattern, cb, max_files, 0};
  if (max_files <= 0) return 0;
  int n = os->list_dir(os->ctx, rdir, POLICY_LIST_MAX_ENTRIES, expand_one, &x);
  if (n < 0) {
    say(why, why_cap, "cannot list %.200s (os error %d)", rdir, n);
    return POLICY_ERESOLVE;
  }
  return x.found;
}
