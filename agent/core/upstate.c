/* upstate.c - update/state.json, pending.json, health.json, report.json
 * (see upstate.h). */
#include "core/upstate.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <stdlib.h>
#include <string.h>

#include "core/files.h"

/* Parse context: which file, first error wins. */
typedef struct perr {
  const char *file;
  char *buf;
  size_t cap;
  int failed;
} perr;

static int pfail(perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pfail(perr *e, const char *fmt, ...) {
  if (!e->failed && e->buf && e->cap) {
    int n = snprintf(e->buf, e->cap, "%s: ", e->file);
    if (n > 0 && (size_t)n < e->cap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(e->buf + n, e->cap - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  e->failed = 1;
  return UPSTATE_EPARSE;
}

/* Parses text into an object whose keys are all in allowed (NULL-terminated)
 * and none repeated. prefix names the object in messages ("" at top). */
static int check_keys(perr *e, const cJSON *o, const char *prefix, const char *const *allowed) {
  const cJSON *it;
  if (!cJSON_IsObject(o)) return pfail(e, "%s: must be an object", prefix[0] ? prefix : "top level");
  cJSON_ArrayForEach(it, o) {
    int known = 0;
    for (const char *const *k = allowed; *k; k++) known |= strcmp(*k, it->string) == 0;
    if (!known) return pfail(e, "%s%.40s: unknown key", prefix, it->string);
    for (const cJSON *p = o->child; p != it; p = p->next)
      if (strcmp(p->string, it->string) == 0)
        return pfail(e, "%s%.40s: duplicate key", prefix, it->string);
  }
  return 0;
}

static cJSON *parse_text(perr *e, const char *json, size_t len) {
  const char *end = NULL;
  if (len > UPSTATE_FILE_MAX) {
    pfail(e, "larger than %d bytes", UPSTATE_FILE_MAX);
    return NULL;
  }
  cJSON *root = len ? cJSON_ParseWithLengthOpts(json, len, &end, 0) : NULL;
  if (!root) {
    pfail(e, "not valid JSON");
    return NULL;
  }
  for (; end && end < json + len; end++) {
    if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t') {
      pfail(e, "bytes after the JSON value");
      cJSON_Delete(root);
      return NULL;
    }
  }
  return root;
}

/* Required member key of o. allow_empty: "" accepted (the floor). */
static int get_version(perr *e, const cJSON *o, const char *prefix, const char *key, char *dst,
                       int allow_empty) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  release_version v;
  if (!it) return pfail(e, "%s%s: missing", prefix, key);
  if (!cJSON_IsString(it)) return pfail(e, "%s%s: must be a string", prefix, key);
  if (allow_empty && it->valuestring[0] == 0) {
    dst[0] = 0;
    return 0;
  }
  if (release_version_parse(it->valuestring, &v) != RELEASE_OK)
    return pfail(e, "%s%s: must be a version MAJOR.MINOR.PATCH", prefix, key);
  memcpy(dst, it->valuestring, strlen(it->valuestring) + 1); /* parse bounds it to < 24 */
  return 0;
}

static int get_int(perr *e, const cJSON *o, const char *prefix, const char *key, int64_t lo,
                   int64_t hi, int64_t *out) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!it) return pfail(e, "%s%s: missing", prefix, key);
  double d = cJSON_IsNumber(it) ? it->valuedouble : (double)lo - 1;
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
    return pfail(e, "%s%s: must be an integer %lld..%lld", prefix, key, (long long)lo,
                 (long long)hi);
  *out = (int64_t)d;
  return 0;
}

#define MS_MAX (1LL << 53)

void upstate_init(upstate *st) { memset(st, 0, sizeof *st); }

int upstate_parse(const char *json, size_t len, upstate *out, char *err, size_t err_cap) {
  static const char *const top[] = {"floor", "bad", "probation", NULL};
  static const char *const prob[] = {"version", "since", "deadline", "starts", NULL};
  perr e = {"state.json", err, err_cap, 0};
  upstate st;
  upstate_init(&st);
  cJSON *root = parse_text(&e, json, len);
  if (!root) return UPSTATE_EPARSE;
  if (check_keys(&e, root, "", top) || get_version(&e, root, "", "floor", st.floor, 1)) goto out;
  const cJSON *bad = cJSON_GetObjectItemCaseSensitive(root, "bad");
  if (!cJSON_IsArray(bad)) {
    pfail(&e, "bad: %s", bad ? "must be an array" : "missing");
    goto out;
  }
  if (cJSON_GetArraySize(bad) > UPSTATE_MAX_BAD) {
    pfail(&e, "bad: at most %d versions", UPSTATE_MAX_BAD);
    goto out;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, bad) {
    release_version v;
    if (!cJSON_IsString(it) || release_version_parse(it->valuestring, &v) != RELEASE_OK) {
      pfail(&e, "bad[%d]: must be a version MAJOR.MINOR.PATCH", st.n_bad);
      goto out;
    }
    if (upstate_is_bad(&st, it->valuestring)) {
      pfail(&e, "bad[%d]: duplicate version", st.n_bad);
      goto out;
    }
    memcpy(st.bad[st.n_bad++], it->valuestring, strlen(it->valuestring) + 1);
  }
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "probation");
  if (!p) {
    pfail(&e, "probation: missing (null when none)");
    goto out;
  }
  if (!cJSON_IsNull(p)) {
    int64_t starts = 0;
    if (check_keys(&e, p, "probation.", prob) ||
        get_version(&e, p, "probation.", "version", st.probation.version, 0) ||
        get_int(&e, p, "probation.", "since", 0, MS_MAX, &st.probation.since_ms) ||
        get_int(&e, p, "probation.", "deadline", 0, MS_MAX, &st.probation.deadline_ms) ||
        get_int(&e, p, "probation.", "starts", 0, UPSTATE_STARTS_MAX, &starts))
      goto out;
    st.probation.starts = (int)starts;
    st.on_probation = 1;
  }
out:
  cJSON_Delete(root);
  if (e.failed) return UPSTATE_EPARSE;
  *out = st;
  return OS_OK;
}

/* Prints o unformatted into out (< cap); frees o. */
static int render_obj(cJSON *o, char *out, size_t cap) {
  char *text = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (!text) return OS_ENOMEM;
  size_t n = strlen(text);
  int rc = UPSTATE_EINVAL;
  if (n + 2 <= cap && n + 2 <= UPSTATE_FILE_MAX) {
    memcpy(out, text, n);
    out[n++] = '\n';
    out[n] = 0;
    rc = (int)n;
  }
  cJSON_free(text);
  return rc;
}

int upstate_render(const upstate *st, char *out, size_t cap) {
  release_version v;
  if (st->floor[0] && release_version_parse(st->floor, &v) != RELEASE_OK) return UPSTATE_EINVAL;
  if (st->n_bad < 0 || st->n_bad > UPSTATE_MAX_BAD) return UPSTATE_EINVAL;
  cJSON *o = cJSON_CreateObject();
  cJSON *bad = cJSON_AddArrayToObject(o, "bad");
  cJSON_AddStringToObject(o, "floor", st->floor);
  for (int i = 0; bad && i < st->n_bad; i++)
    cJSON_AddItemToArray(bad, cJSON_CreateString(st->bad[i]));
  if (st->on_probation) {
    if (release_version_parse(st->probation.version, &v) != RELEASE_OK) {
      cJSON_Delete(o);
      return UPSTATE_EINVAL;
    }
    cJSON *p = cJSON_AddObjectToObject(o, "probation");
    cJSON_AddStringToObject(p, "version", st->probation.version);
    cJSON_AddNumberToObject(p, "since", (double)st->probation.since_ms);
    cJSON_AddNumberToObject(p, "deadline", (double)st->probation.deadline_ms);
    cJSON_AddNumberToObject(p, "starts", st->probation.starts);
  } else {
    cJSON_AddNullToObject(o, "probation");
  }
  return render_obj(o, out, cap);
}

int upstate_parse_pending(const char *json, size_t len, upstate_pending *out, char *err,
                          size_t err_cap) {
  static const char *const keys[] = {"version", "sha256", "length", NULL};
  perr e = {"pending.json", err, err_cap, 0};
  upstate_pending p;
  memset(&p, 0, sizeof p);
  cJSON *root = parse_text(&e, json, len);
  if (!root) return UPSTATE_EPARSE;
  if (!check_keys(&e, root, "", keys) && !get_version(&e, root, "", "version", p.version, 0) &&
      !get_int(&e, root, "", "length", 0, RELEASE_LENGTH_MAX, &p.length)) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "sha256");
    size_t n = cJSON_IsString(h) ? strlen(h->valuestring) : 0;
    int ok = n == 2 * CRYPTO_SHA256_LEN;
    for (size_t i = 0; ok && i < n; i++) {
      char c = h->valuestring[i];
      ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }
    if (!ok) pfail(&e, "sha256: %s", h ? "must be 64 lower-case hex digits" : "missing");
    else memcpy(p.sha256, h->valuestring, n + 1);
  }
  cJSON_Delete(root);
  if (e.failed) return UPSTATE_EPARSE;
  *out = p;
  return OS_OK;
}

int upstate_parse_health(const char *json, size_t len, upstate_health *out, char *err,
                         size_t err_cap) {
  static const char *const keys[] = {"version", "at", NULL};
  perr e = {"health.json", err, err_cap, 0};
  upstate_health h;
  memset(&h, 0, sizeof h);
  cJSON *root = parse_text(&e, json, len);
  if (!root) return UPSTATE_EPARSE;
  if (!check_keys(&e, root, "", keys) && !get_version(&e, root, "", "version", h.version, 0))
    get_int(&e, root, "", "at", 0, MS_MAX, &h.at_ms);
  cJSON_Delete(root);
  if (e.failed) return UPSTATE_EPARSE;
  *out = h;
  return OS_OK;
}

/* Reads state_dir/rel into buf (UPSTATE_FILE_MAX + 1 bytes). */
static int read_file(const os_shim *os, const char *state_dir, const char *rel, char *buf,
                     size_t *len) {
  char path[OS_PATH_MAX];
  int rc = files_join(path, sizeof path, state_dir, rel);
  if (rc == OS_OK) rc = files_read_small(os, path, buf, UPSTATE_FILE_MAX, len);
  return rc;
}

static int write_file(const os_shim *os, const char *state_dir, const char *rel, const char *data,
                      size_t len) {
  char path[OS_PATH_MAX];
  int rc = files_join(path, sizeof path, state_dir, UPSTATE_DIR);
  if (rc == OS_OK) rc = files_ensure_dir(os, path, 0700);
  if (rc == OS_OK) rc = files_join(path, sizeof path, state_dir, rel);
  if (rc == OS_OK) rc = files_write_atomic(os, path, data, len, 0600);
  return rc;
}

int upstate_load(const os_shim *os, const char *state_dir, upstate *out, char *err,
                 size_t err_cap) {
  char *buf = malloc(UPSTATE_FILE_MAX + 1);
  size_t len = 0;
  if (!buf) return OS_ENOMEM;
  int rc = read_file(os, state_dir, UPSTATE_STATE_FILE, buf, &len);
  if (rc == OS_ENOENT) {
    upstate_init(out);
    rc = OS_OK;
  } else if (rc == OS_OK) {
    rc = upstate_parse(buf, len, out, err, err_cap);
  }
  free(buf);
  return rc;
}

int upstate_save(const os_shim *os, const char *state_dir, const upstate *st) {
  char *buf = malloc(UPSTATE_FILE_MAX);
  if (!buf) return OS_ENOMEM;
  int n = upstate_render(st, buf, UPSTATE_FILE_MAX);
  int rc = n < 0 ? n : write_file(os, state_dir, UPSTATE_STATE_FILE, buf, (size_t)n);
  free(buf);
  return rc;
}

int upstate_is_bad(const upstate *st, const char *version) {
  for (int i = 0; i < st->n_bad; i++)
    if (strcmp(st->bad[i], version) == 0) return 1;
  return 0;
}

int upstate_add_bad(upstate *st, const char *version) {
  release_version v, w;
  if (release_version_parse(version, &v) != RELEASE_OK) return UPSTATE_EINVAL;
  if (upstate_is_bad(st, version)) return OS_OK;
  if (st->n_bad >= UPSTATE_MAX_BAD) {
    int low = 0;
    release_version lv;
    if (release_version_parse(st->bad[0], &lv) != RELEASE_OK) lv.major = lv.minor = lv.patch = 0;
    for (int i = 1; i < st->n_bad; i++) {
      if (release_version_parse(st->bad[i], &w) == RELEASE_OK && release_version_cmp(&w, &lv) < 0) {
        lv = w;
        low = i;
      }
    }
    memmove(st->bad[low], st->bad[low + 1],
            (size_t)(st->n_bad - low - 1) * sizeof st->bad[0]);
    st->n_bad--;
  }
  memcpy(st->bad[st->n_bad++], version, strlen(version) + 1);
  return OS_OK;
}

int upstate_raise_floor(upstate *st, const char *version) {
  int c = 1;
  release_version v;
  if (release_version_parse(version, &v) != RELEASE_OK) return UPSTATE_EINVAL;
  if (st->floor[0] && release_version_cmp_str(version, st->floor, &c) != RELEASE_OK) c = 1;
  if (c > 0) memcpy(st->floor, version, strlen(version) + 1);
  return OS_OK;
}

int upstate_load_pending(const os_shim *os, const char *state_dir, upstate_pending *out, char *err,
                         size_t err_cap) {
  char buf[UPSTATE_FILE_MAX + 1];
  size_t len = 0;
  int rc = read_file(os, state_dir, UPSTATE_PENDING_FILE, buf, &len);
  return rc == OS_OK ? upstate_parse_pending(buf, len, out, err, err_cap) : rc;
}

int upstate_save_pending(const os_shim *os, const char *state_dir, const upstate_pending *p) {
  char buf[512];
  release_version v;
  if (release_version_parse(p->version, &v) != RELEASE_OK || p->length < 0) return UPSTATE_EINVAL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "version", p->version);
  cJSON_AddStringToObject(o, "sha256", p->sha256);
  cJSON_AddNumberToObject(o, "length", (double)p->length);
  int n = render_obj(o, buf, sizeof buf);
  return n < 0 ? n : write_file(os, state_dir, UPSTATE_PENDING_FILE, buf, (size_t)n);
}

int upstate_clear_pending(const os_shim *os, const char *state_dir) {
  char path[OS_PATH_MAX];
  int rc = files_join(path, sizeof path, state_dir, UPSTATE_PENDING_FILE);
  if (rc == OS_OK) rc = os->unlink(os->ctx, path);
  return rc == OS_ENOENT ? OS_OK : rc;
}

int upstate_load_health(const os_shim *os, const char *state_dir, upstate_health *out, char *err,
                        size_t err_cap) {
  char buf[UPSTATE_FILE_MAX + 1];
  size_t len = 0;
  int rc = read_file(os, state_dir, UPSTATE_HEALTH_FILE, buf, &len);
  return rc == OS_OK ? upstate_parse_health(buf, len, out, err, err_cap) : rc;
}

int upstate_save_health(const os_shim *os, const char *state_dir, const char *version,
                        int64_t at_ms) {
  char buf[256];
  release_version v;
  if (!version || release_version_parse(version, &v) != RELEASE_OK) return UPSTATE_EINVAL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "version", version);
  cJSON_AddNumberToObject(o, "at", (double)(at_ms < 0 ? 0 : at_ms));
  int n = render_obj(o, buf, sizeof buf);
  return n < 0 ? n : write_file(os, state_dir, UPSTATE_HEALTH_FILE, buf, (size_t)n);
}

static int kind_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_')) return 0;
  return n > 0 && n < UPSTATE_KIND_MAX;
}

static int parse_reports(const char *json, size_t len, upstate_report *out, int cap, int *n,
                         char *err, size_t err_cap) {
  static const char *const top[] = {"events", NULL};
  static const char *const keys[] = {"kind", "version", "reason", "at", NULL};
  perr e = {"report.json", err, err_cap, 0};
  int count = 0;
  cJSON *root = parse_text(&e, json, len);
  if (!root) return UPSTATE_EPARSE;
  const cJSON *ev = check_keys(&e, root, "", top) ? NULL
                                                  : cJSON_GetObjectItemCaseSensitive(root, "events");
  if (!e.failed && !cJSON_IsArray(ev)) pfail(&e, "events: must be an array");
  if (!e.failed && cJSON_GetArraySize(ev) > UPSTATE_MAX_REPORTS)
    pfail(&e, "events: at most %d", UPSTATE_MAX_REPORTS);
  const cJSON *it;
  if (!e.failed) {
    cJSON_ArrayForEach(it, ev) {
      char prefix[32];
      upstate_report r;
      memset(&r, 0, sizeof r);
      snprintf(prefix, sizeof prefix, "events[%d].", count);
      if (check_keys(&e, it, prefix, keys) || get_version(&e, it, prefix, "version", r.version, 0) ||
          get_int(&e, it, prefix, "at", 0, MS_MAX, &r.at_ms))
        break;
      const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "kind");
      const cJSON *why = cJSON_GetObjectItemCaseSensitive(it, "reason");
      if (!cJSON_IsString(k) || !kind_ok(k->valuestring)) {
        pfail(&e, "%skind: must be 1..%d of [a-z_]", prefix, UPSTATE_KIND_MAX - 1);
        break;
      }
      if (!cJSON_IsString(why) || strlen(why->valuestring) >= UPSTATE_REASON_MAX) {
        pfail(&e, "%sreason: must be a string under %d bytes", prefix, UPSTATE_REASON_MAX);
        break;
      }
      memcpy(r.kind, k->valuestring, strlen(k->valuestring) + 1);
      memcpy(r.reason, why->valuestring, strlen(why->valuestring) + 1);
      if (count < cap) out[count] = r;
      count++;
    }
  }
  cJSON_Delete(root);
  if (e.failed) return UPSTATE_EPARSE;
  *n = count < cap ? count : cap;
  return OS_OK;
}

int upstate_load_reports(const os_shim *os, const char *state_dir, upstate_report *out, int cap,
                         int *n, char *err, size_t err_cap) {
  char *buf = malloc(UPSTATE_FILE_MAX + 1);
  size_t len = 0;
  if (!buf) return OS_ENOMEM;
  *n = 0;
  int rc = read_file(os, state_dir, UPSTATE_REPORT_FILE, buf, &len);
  if (rc == OS_OK) rc = parse_reports(buf, len, out, cap, n, err, err_cap);
  free(buf);
  return rc;
}

int upstate_add_report(const os_shim *os, const char *state_dir, const upstate_report *r) {
  upstate_report *all = calloc(UPSTATE_MAX_REPORTS + 1, sizeof *all);
  char *buf = malloc(UPSTATE_FILE_MAX);
  int n = 0, rc;
  release_version v;
  if (!all || !buf) {
    free(all);
    free(buf);
    return OS_ENOMEM;
  }
  if (!kind_ok(r->kind) || release_version_parse(r->version, &v) != RELEASE_OK ||
      !memchr(r->reason, 0, sizeof r->reason)) {
    rc = UPSTATE_EINVAL;
    goto out;
  }
  if (upstate_load_reports(os, state_dir, all, UPSTATE_MAX_REPORTS, &n, NULL, 0) != OS_OK) n = 0;
  if (n == UPSTATE_MAX_REPORTS) {
    memmove(all, all + 1, (size_t)(n - 1) * sizeof *all);
    n--;
  }
  all[n++] = *r;
  cJSON *o = cJSON_CreateObject();
  cJSON *ev = cJSON_AddArrayToObject(o, "events");
  for (int i = 0; ev && i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "kind", all[i].kind);
    cJSON_AddStringToObject(e, "version", all[i].version);
    cJSON_AddStringToObject(e, "reason", all[i].reason);
    cJSON_AddNumberToObject(e, "at", (double)(all[i].at_ms < 0 ? 0 : all[i].at_ms));
    cJSON_AddItemToArray(ev, e);
  }
  rc = render_obj(o, buf, UPSTATE_FILE_MAX);
  if (rc >= 0) rc = write_file(os, state_dir, UPSTATE_REPORT_FILE, buf, (size_t)rc);
out:
  free(all);
  free(buf);
  return rc;
}

int upstate_probation_for(const os_shim *os, const char *state_dir, const char *version) {
  upstate st;
  if (upstate_load(os, state_dir, &st, NULL, 0) != OS_OK) return 0;
  return st.on_probation && strcmp(st.probation.version, version) == 0;
}

int upstate_report_healthy(const os_shim *os, const char *state_dir, const char *running_version,
                           int64_t wall_ms) {
  upstate_health h;
  if (!upstate_probation_for(os, state_dir, running_version)) return 0;
  if (upstate_load_health(os, state_dir, &h, NULL, 0) == OS_OK &&
      strcmp(h.version, running_version) == 0)
    return 0;
  int rc = upstate_save_health(os, state_dir, running_version, wall_ms);
  return rc == OS_OK ? 1 : rc;
}
