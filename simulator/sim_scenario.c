#include "sim_scenario.h"

#include "common/release.h"
#include "core/config.h"
#include "core/policy.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct perr {
  char *buf;
  size_t cap;
} perr;

static int fail(perr *e, const char *fmt, ...) {
  if (e->buf && e->cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->cap, fmt, ap);
    va_end(ap);
  }
  return SIM_SCN_EINVALID;
}

/* Rejects keys outside allowed (NULL-terminated). */
static int only_keys(const cJSON *obj, const char *path, const char *const *allowed, perr *e) {
  /* The analyzer does not follow fail() (variadic), so it cannot see that
     get_obj never hands back NULL with SIM_SCN_OK for a required object. */
  if (!obj) return fail(e, "%s: must be an object", path);
  for (const cJSON *c = obj->child; c; c = c->next) {
    int ok = 0;
    for (size_t i = 0; allowed[i]; i++)
      if (c->string && strcmp(c->string, allowed[i]) == 0) ok = 1;
    if (!ok)
      return fail(e, "%s%s%.64s: unknown key", path, path[0] ? "." : "",
                  c->string ? c->string : "?");
    /* cJSON keeps duplicates; a second copy would silently be ignored */
    for (const cJSON *d = c->next; d; d = d->next)
      if (c->string && d->string && strcmp(c->string, d->string) == 0)
        return fail(e, "%s%s%.64s: duplicate key", path, path[0] ? "." : "", c->string);
  }
  return SIM_SCN_OK;
}

static void key_path(char *out, size_t cap, const char *path, const char *key) {
  snprintf(out, cap, "%s%s%s", path, path[0] ? "." : "", key);
}

/* Integer in [lo, hi]; absent leaves *out unchanged unless required. */
static int get_int(const cJSON *obj, const char *path, const char *key, int64_t lo, int64_t hi,
                   int required, int64_t *out, perr *e) {
  char kp[160];
  key_path(kp, sizeof kp, path, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return required ? fail(e, "%s: required", kp) : SIM_SCN_OK;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
      v->valuedouble < (double)lo || v->valuedouble > (double)hi)
    return fail(e, "%s: must be an integer in %lld..%lld", kp, (long long)lo, (long long)hi);
  *out = (int64_t)v->valuedouble;
  return SIM_SCN_OK;
}

static int get_num(const cJSON *obj, const char *path, const char *key, double lo, double hi,
                   int required, double *out, perr *e) {
  char kp[160];
  key_path(kp, sizeof kp, path, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return required ? fail(e, "%s: required", kp) : SIM_SCN_OK;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
      v->valuedouble > hi)
    return fail(e, "%s: must be a number in %g..%g", kp, lo, hi);
  *out = v->valuedouble;
  return SIM_SCN_OK;
}

static int get_range(const cJSON *obj, const char *path, const char *key, int64_t lo, int64_t hi,
                     int64_t *a, int64_t *b, perr *e) {
  char kp[160];
  key_path(kp, sizeof kp, path, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return SIM_SCN_OK;
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
    return fail(e, "%s: must be [min, max]", kp);
  double x[2];
  for (int i = 0; i < 2; i++) {
    const cJSON *it = cJSON_GetArrayItem(v, i);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
        it->valuedouble != floor(it->valuedouble) || it->valuedouble < (double)lo ||
        it->valuedouble > (double)hi)
      return fail(e, "%s[%d]: must be an integer in %lld..%lld", kp, i, (long long)lo,
                  (long long)hi);
    x[i] = it->valuedouble;
  }
  if (x[0] > x[1]) return fail(e, "%s: min must not exceed max", kp);
  *a = (int64_t)x[0];
  *b = (int64_t)x[1];
  return SIM_SCN_OK;
}

static int get_str(const cJSON *obj, const char *path, const char *key, int required, char *out,
                   size_t cap, perr *e) {
  char kp[160];
  key_path(kp, sizeof kp, path, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return required ? fail(e, "%s: required", kp) : SIM_SCN_OK;
  if (!cJSON_IsString(v) || !v->valuestring) return fail(e, "%s: must be a string", kp);
  if (strlen(v->valuestring) >= cap)
    return fail(e, "%s: longer than %zu bytes", kp, cap - 1);
  strcpy(out, v->valuestring);
  return SIM_SCN_OK;
}

static int get_obj(const cJSON *root, const char *key, int required, const cJSON **out, perr *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  *out = NULL;
  if (!v) return required ? fail(e, "%s: required", key) : SIM_SCN_OK;
  if (!cJSON_IsObject(v)) return fail(e, "%s: must be an object", key);
  *out = v;
  return SIM_SCN_OK;
}

#define TRY(x)                     \
  do {                             \
    int rc_ = (x);                 \
    if (rc_ != SIM_SCN_OK) return rc_; \
  } while (0)

static int parse_agents(const cJSON *ev, const char *path, sim_scn_event *out, perr *e) {
  char kp[160];
  key_path(kp, sizeof kp, path, "agents");
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, "agents");
  if (!v) return fail(e, "%s: required", kp);
  if (cJSON_IsNumber(v)) {
    if (!isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < 1 || v->valuedouble > SIM_SCN_MAX_AGENTS)
      return fail(e, "%s: must be a count in 1..%d or a percentage like \"10%%\"", kp,
                  SIM_SCN_MAX_AGENTS);
    out->agents_count = (int64_t)v->valuedouble;
    out->agents_pct = -1;
    return SIM_SCN_OK;
  }
  if (cJSON_IsString(v) && v->valuestring) {
    const char *s = v->valuestring;
    size_t n = strlen(s);
    char *end = NULL;
    double pct = n >= 2 && n < 16 && s[n - 1] == '%' ? strtod(s, &end) : NAN;
    if (end == s + n - 1 && isfinite(pct) && pct > 0 && pct <= 100) {
      out->agents_pct = pct;
      out->agents_count = 0;
      return SIM_SCN_OK;
    }
  }
  return fail(e, "%s: must be a count in 1..%d or a percentage like \"10%%\"", kp,
              SIM_SCN_MAX_AGENTS);
}

/* ---- update events (issue #6) ---- */

static int upd_event_type(const char *type) {
  static const struct {
    const char *name;
    int type;
  } t[] = {{"release", SIM_SCN_UPD_RELEASE},
           {"promote", SIM_SCN_UPD_PROMOTE},
           {"freeze", SIM_SCN_UPD_FREEZE},
           {"replay_metadata", SIM_SCN_UPD_REPLAY},
           {"compromise_online_keys", SIM_SCN_UPD_COMPROMISE},
           {"tamper_target", SIM_SCN_UPD_TAMPER},
           {"endless_data", SIM_SCN_UPD_ENDLESS},
           {"mix_and_match", SIM_SCN_UPD_MIX},
           {"steal_release_key", SIM_SCN_UPD_STEAL}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(type, t[i].name) == 0) return t[i].type;
  return 0;
}

/* A MAJOR.MINOR.PATCH as docs/updates.md defines it. */
static int get_version(const cJSON *ev, const char *path, char *out, size_t cap, perr *e) {
  TRY(get_str(ev, path, "version", 1, out, cap, e));
  release_version v;
  if (release_version_parse(out, &v) != 0)
    return fail(e, "%s.version: must be MAJOR.MINOR.PATCH (each 0..999999, no leading zeros)",
                path);
  return SIM_SCN_OK;
}

static int get_ring(const cJSON *ev, const char *path, const char *key, int *out, perr *e) {
  char ring[32] = "";
  TRY(get_str(ev, path, key, 1, ring, sizeof ring, e));
  static const char *const rings[] = {"canary", "early-access", "stable"};
  for (int k = 0; k < 3; k++)
    if (strcmp(ring, rings[k]) == 0) {
      *out = k;
      return SIM_SCN_OK;
    }
  return fail(e, "%s.%s: must be one of canary, early-access, stable", path, key);
}

static int get_flag(const cJSON *ev, const char *path, const char *key, int *out, perr *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
  if (!v) return SIM_SCN_OK;
  if (!cJSON_IsBool(v)) return fail(e, "%s.%s: must be true or false", path, key);
  *out = cJSON_IsTrue(v);
  return SIM_SCN_OK;
}

static int parse_update_event(const cJSON *ev, const char *path, const char *type,
                              sim_scn_event *out, perr *e) {
  static const char *const k_rel[] = {"at_s", "type", "version", "ring", "broken", "binary_kb", NULL};
  static const char *const k_pro[] = {"at_s", "type", "version", "from", "to", "force", NULL};
  static const char *const k_none[] = {"at_s", "type", NULL};
  static const char *const k_rep[] = {"at_s", "type", "generation", NULL};
  static const char *const k_ver[] = {"at_s", "type", "version", NULL};
  out->type = (sim_scn_event_type)upd_event_type(type);
  switch (out->type) {
    case SIM_SCN_UPD_RELEASE:
    case SIM_SCN_UPD_COMPROMISE:
      TRY(only_keys(ev, path, k_rel, e));
      TRY(get_version(ev, path, out->version, sizeof out->version, e));
      if (out->type == SIM_SCN_UPD_RELEASE) TRY(get_flag(ev, path, "broken", &out->broken, e));
      TRY(get_int(ev, path, "binary_kb", 1, SIM_SCN_MAX_BINARY_KB, 0, &out->binary_kb, e));
      return get_ring(ev, path, "ring", &out->ring, e);
    case SIM_SCN_UPD_PROMOTE:
      TRY(only_keys(ev, path, k_pro, e));
      TRY(get_flag(ev, path, "force", &out->force, e));
      TRY(get_version(ev, path, out->version, sizeof out->version, e));
      TRY(get_ring(ev, path, "from", &out->ring, e));
      TRY(get_ring(ev, path, "to", &out->ring_to, e));
      if (out->ring_to <= out->ring)
        return fail(e, "%s.to: must come after from (canary, early-access, stable)", path);
      return SIM_SCN_OK;
    case SIM_SCN_UPD_REPLAY:
      TRY(only_keys(ev, path, k_rep, e));
      return get_int(ev, path, "generation", 0, 63, 1, &out->generation, e);
    case SIM_SCN_UPD_TAMPER:
    case SIM_SCN_UPD_STEAL:
      TRY(only_keys(ev, path, k_ver, e));
      return get_version(ev, path, out->version, sizeof out->version, e);
    case SIM_SCN_UPD_MIX: {
      static const char *const k_mix[] = {"at_s", "type", "role", "body_version", NULL};
      static const char *const roles[] = {"snapshot", "targets", "canary", "early-access",
                                          "stable"};
      TRY(only_keys(ev, path, k_mix, e));
      TRY(get_str(ev, path, "role", 1, out->role, sizeof out->role, e));
      int ok = 0;
      for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++) ok |= !strcmp(out->role, roles[k]);
      if (!ok)
        return fail(e, "%s.role: must be one of snapshot, targets, canary, early-access, stable",
                    path);
      return get_int(ev, path, "body_version", 1, 999999, 1, &out->body_version, e);
    }
    default:
      return only_keys(ev, path, k_none, e);
  }
}

static int parse_event(const cJSON *ev, int i, sim_scenario *s, sim_scn_event *out,
                       perr *e) {
  char path[48];
  snprintf(path, sizeof path, "events[%d]", i);
  if (!cJSON_IsObject(ev)) return fail(e, "%s: must be an object", path);
  memset(out, 0, sizeof *out);
  out->loss = out->response_loss = -1;
  out->latency_min_ms = out->latency_max_ms = -1;
  out->agents_pct = -1;
  out->switch_step = SIM_SCN_CUT_WRITES;
  char type[32] = "";
  TRY(get_str(ev, path, "type", 1, type, sizeof type, e));
  TRY(get_int(ev, path, "at_s", 0, s->duration_s, 1, &out->at_s, e));
  static const char *const k_outage[] = {"at_s", "type", "duration_s", NULL};
  static const char *const k_net[] = {"at_s", "type", "loss", "response_loss", "latency_ms", NULL};
  static const char *const k_agents[] = {"at_s", "type", "agents", NULL};
  static const char *const k_part[] = {"at_s", "type", "agents", "duration_s", NULL};
  static const char *const k_fill[] = {"at_s", "type", "agents", "free_mb", NULL};
  static const char *const k_rot[] = {"at_s", "type", "agents", "style", NULL};
  static const char *const k_pol[] = {"at_s", "type", "policy", NULL};
  if (strcmp(type, "cloud_outage") == 0) {
    out->type = SIM_SCN_CLOUD_OUTAGE;
    TRY(only_keys(ev, path, k_outage, e));
    TRY(get_int(ev, path, "duration_s", 1, SIM_SCN_MAX_DURATION_S, 1, &out->duration_s, e));
  } else if (strcmp(type, "network") == 0) {
    out->type = SIM_SCN_NETWORK;
    TRY(only_keys(ev, path, k_net, e));
    TRY(get_num(ev, path, "loss", 0, 1, 0, &out->loss, e));
    TRY(get_num(ev, path, "response_loss", 0, 1, 0, &out->response_loss, e));
    TRY(get_range(ev, path, "latency_ms", 0, 600000, &out->latency_min_ms, &out->latency_max_ms,
                  e));
    if (out->loss < 0 && out->response_loss < 0 && out->latency_min_ms < 0)
      return fail(e, "%s: a network event needs loss, response_loss or latency_ms", path);
  } else if (strcmp(type, "restart") == 0 || strcmp(type, "crash") == 0) {
    out->type = type[0] == 'r' ? SIM_SCN_RESTART : SIM_SCN_CRASH;
    TRY(only_keys(ev, path, k_agents, e));
    TRY(parse_agents(ev, path, out, e));
  } else if (strcmp(type, "power_cut") == 0) {
    static const char *const k_cut[] = {"at_s", "type", "agents", "switch_step", "during", NULL};
    char during[32] = "";
    out->type = SIM_SCN_POWER_CUT;
    TRY(only_keys(ev, path, k_cut, e));
    TRY(parse_agents(ev, path, out, e));
    TRY(get_str(ev, path, "during", 0, during, sizeof during, e));
    if (during[0] && strcmp(during, "update_download") != 0)
      return fail(e, "%s.during: must be update_download (or absent: within the next writes)", path);
    out->during_download = during[0] != 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, "switch_step");
    if (v && out->during_download)
      return fail(e, "%s: switch_step and during exclude each other", path);
    if (v) {
      int64_t k = -1;
      if (cJSON_IsString(v) && strcmp(v->valuestring, "spread") == 0) out->switch_step = SIM_SCN_CUT_SPREAD;
      else if (cJSON_IsString(v) && strcmp(v->valuestring, "random") == 0) out->switch_step = SIM_SCN_CUT_RANDOM;
      else if (get_int(ev, path, "switch_step", 0, SIM_SCN_SWITCH_STEPS, 1, &k, e) == SIM_SCN_OK) out->switch_step = (int)k;
      else return fail(e, "%s.switch_step: must be an integer in 0..%d, \"spread\" or \"random\"", path,
                       SIM_SCN_SWITCH_STEPS);
    }
  } else if (strcmp(type, "partition") == 0) {
    out->type = SIM_SCN_PARTITION;
    TRY(only_keys(ev, path, k_part, e));
    TRY(parse_agents(ev, path, out, e));
    TRY(get_int(ev, path, "duration_s", 1, SIM_SCN_MAX_DURATION_S, 1, &out->duration_s, e));
  } else if (strcmp(type, "disk_fill") == 0) {
    out->type = SIM_SCN_DISK_FILL;
    TRY(only_keys(ev, path, k_fill, e));
    TRY(parse_agents(ev, path, out, e));
    TRY(get_int(ev, path, "free_mb", 0, 65536, 1, &out->free_mb, e));
  } else if (strcmp(type, "rotate") == 0) {
    out->type = SIM_SCN_ROTATE;
    TRY(only_keys(ev, path, k_rot, e));
    TRY(parse_agents(ev, path, out, e));
    char style[32] = "";
    TRY(get_str(ev, path, "style", 1, style, sizeof style, e));
    static const char *const styles[] = {"rename", "copytruncate", "truncate", "recreate"};
    for (int k = 0; k < 4; k++)
      if (strcmp(style, styles[k]) == 0) out->rotate_style = k + 1;
    if (!out->rotate_style)
      return fail(e, "%s.style: must be one of rename, copytruncate, truncate, recreate", path);
  } else if (strcmp(type, "clone") == 0) {
    static const char *const k_clone[] = {"at_s", "type", "agents", "copies", "fingerprint", NULL};
    out->type = SIM_SCN_CLONE;
    TRY(only_keys(ev, path, k_clone, e));
    TRY(parse_agents(ev, path, out, e));
    out->copies = 1;
    TRY(get_int(ev, path, "copies", 1, 1000, 0, &out->copies, e));
    char fp[16] = "new";
    TRY(get_str(ev, path, "fingerprint", 0, fp, sizeof fp, e));
    if (strcmp(fp, "new") != 0 && strcmp(fp, "same") != 0)
      return fail(e, "%s.fingerprint: must be \"new\" or \"same\"", path);
    out->same_fingerprint = strcmp(fp, "same") == 0;
  } else if (strcmp(type, "snapshot") == 0 || strcmp(type, "tamper_permissions") == 0 ||
             strcmp(type, "foreign_workspace") == 0 || strcmp(type, "replay") == 0 ||
             strcmp(type, "revoke") == 0) {
    out->type = type[0] == 's'   ? SIM_SCN_SNAPSHOT
                : type[0] == 't' ? SIM_SCN_TAMPER
                : type[0] == 'f' ? SIM_SCN_FOREIGN
                : type[2] == 'p' ? SIM_SCN_REPLAY
                                 : SIM_SCN_REVOKE;
    TRY(only_keys(ev, path, k_agents, e));
    TRY(parse_agents(ev, path, out, e));
  } else if (strcmp(type, "plant_files") == 0) {
    static const char *const k_plant[] = {"at_s", "type", "agents", "uid", NULL};
    out->type = SIM_SCN_PLANT;
    TRY(only_keys(ev, path, k_plant, e));
    TRY(parse_agents(ev, path, out, e));
    out->uid = 1000;
    TRY(get_int(ev, path, "uid", 1, 65534, 0, &out->uid, e));
    if (out->uid == s->agent_uid)
      return fail(e, "%s.uid: must differ from fleet.uid (the agent's own)", path);
  } else if (strcmp(type, "local_attack") == 0) {
    static const char *const k_la[] = {"at_s", "type", "agents", "duration_s", "probability",
                                       "files", NULL};
    static const char *const k_file[] = {"path", "swap", "target", "lines", NULL};
    out->type = SIM_SCN_LOCAL_ATTACK;
    TRY(only_keys(ev, path, k_la, e));
    TRY(parse_agents(ev, path, out, e));
    TRY(get_int(ev, path, "duration_s", 1, SIM_SCN_MAX_DURATION_S, 1, &out->duration_s, e));
    out->probability = 0.3;
    TRY(get_num(ev, path, "probability", 0, 1, 0, &out->probability, e));
    if (!s->secrets) return fail(e, "%s: local_attack needs fleet.secrets: true", path);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(ev, "files");
    if (!cJSON_IsArray(files) || !files->child)
      return fail(e, "%s.files: must be a non-empty array", path);
    out->swap_first = s->n_swaps;
    int j = 0;
    for (const cJSON *fo = files->child; fo; fo = fo->next, j++) {
      char fp[96];
      snprintf(fp, sizeof fp, "%s.files[%d]", path, j);
      if (!cJSON_IsObject(fo)) return fail(e, "%s: must be an object", fp);
      if (s->n_swaps >= SIM_SCN_MAX_SWAPS)
        return fail(e, "%s: at most %d files in all local_attack events", fp, SIM_SCN_MAX_SWAPS);
      sim_scn_swap *w = &s->swaps[s->n_swaps];
      memset(w, 0, sizeof *w);
      TRY(only_keys(fo, fp, k_file, e));
      TRY(get_str(fo, fp, "path", 1, w->path, sizeof w->path, e));
      if (strncmp(w->path, "/var/log/", 9) != 0 || strstr(w->path, "/.") || strchr(w->path + 9, '/'))
        return fail(e, "%s.path: must be a file directly in /var/log/", fp);
      char how[16] = "";
      TRY(get_str(fo, fp, "swap", 1, how, sizeof how, e));
      if (strcmp(how, "symlink") == 0) {
        TRY(get_str(fo, fp, "target", 1, w->target, sizeof w->target, e));
        if (w->target[0] != '/') return fail(e, "%s.target: must be an absolute path", fp);
      } else if (strcmp(how, "fifo") == 0) {
        w->fifo = 1;
        if (cJSON_GetObjectItemCaseSensitive(fo, "target"))
          return fail(e, "%s.target: only for \"swap\": \"symlink\"", fp);
      } else {
        return fail(e, "%s.swap: must be \"symlink\" or \"fifo\"", fp);
      }
      TRY(get_int(fo, fp, "lines", 0, 100000, 0, &w->lines, e));
      if (strcmp(w->path, "/var/log/app.log") == 0 && w->lines)
        return fail(e, "%s.lines: the application writes /var/log/app.log itself", fp);
      s->n_swaps++;
    }
    out->n_swap = j;
  } else if (strcmp(type, "restore") == 0) {
    static const char *const k_restore[] = {"at_s", "type", NULL};
    out->type = SIM_SCN_RESTORE;
    TRY(only_keys(ev, path, k_restore, e));
  } else if (strcmp(type, "policy") == 0) {
    out->type = SIM_SCN_POLICY;
    TRY(only_keys(ev, path, k_pol, e));
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(ev, "policy");
    if (!cJSON_IsObject(pol)) return fail(e, "%s.policy: must be an object", path);
    sim_scenario *ms = s; /* the policy texts live beside the events */
    if (ms->n_policies >= SIM_SCN_MAX_POLICIES)
      return fail(e, "%s: at most %d policy events", path, SIM_SCN_MAX_POLICIES);
    char *text = cJSON_PrintUnformatted(pol);
    if (!text) return SIM_SCN_ENOMEM;
    size_t n = strlen(text);
    if (n >= SIM_SCN_POLICY_MAX) {
      cJSON_free(text);
      return fail(e, "%s.policy: longer than %d bytes", path, SIM_SCN_POLICY_MAX - 1);
    }
    memcpy(ms->policies[ms->n_policies], text, n + 1);
    cJSON_free(text);
    out->policy_index = ms->n_policies++;
  } else if (strcmp(type, "cloud_lie") == 0) {
    static const char *const k_lie[] = {"at_s", "type", "agents", "kind", "duration_s", NULL};
    static const char *const kinds[] = {"session_swap", "policy_rollback", "ack_beyond"};
    out->type = SIM_SCN_CLOUD_LIE;
    TRY(only_keys(ev, path, k_lie, e));
    TRY(parse_agents(ev, path, out, e));
    TRY(get_int(ev, path, "duration_s", 1, SIM_SCN_MAX_DURATION_S, 1, &out->duration_s, e));
    char kind[32] = "";
    TRY(get_str(ev, path, "kind", 1, kind, sizeof kind, e));
    for (int k = 0; k < 3; k++)
      if (strcmp(kind, kinds[k]) == 0) out->lie_kind = k + 1;
    if (!out->lie_kind)
      return fail(e, "%s.kind: must be one of session_swap, policy_rollback, ack_beyond", path);
  } else if (strcmp(type, "clock_step") == 0) {
    static const char *const k_step[] = {"at_s", "type", "agents", "step_s", NULL};
    out->type = SIM_SCN_CLOCK_STEP;
    TRY(only_keys(ev, path, k_step, e));
    TRY(parse_agents(ev, path, out, e));
    /* a year either way: enough for any expiry, far from int64 overflow */
    TRY(get_int(ev, path, "step_s", -366LL * 86400, 366LL * 86400, 1, &out->step_s, e));
    if (out->step_s == 0) return fail(e, "%s.step_s: must not be 0", path);
  } else if (strcmp(type, "tls_failure") == 0) {
    out->type = SIM_SCN_TLS_FAILURE;
    TRY(only_keys(ev, path, k_part, e));
    TRY(parse_agents(ev, path, out, e));
    TRY(get_int(ev, path, "duration_s", 1, SIM_SCN_MAX_DURATION_S, 1, &out->duration_s, e));
  } else if (upd_event_type(type) != 0) {
    TRY(parse_update_event(ev, path, type, out, e));
  } else {
    return fail(e,
                "%s.type: must be one of cloud_outage, network, restart, crash, power_cut, "
                "partition, disk_fill, rotate, policy, clone, snapshot, restore, "
                "tamper_permissions, plant_files, local_attack, foreign_workspace, replay, revoke, release, promote, "
                "freeze, replay_metadata, compromise_online_keys, tamper_target, endless_data, "
                "mix_and_match, steal_release_key, cloud_lie, clock_step, tls_failure",
                path);
  }
  return SIM_SCN_OK;
}

static int get_bool(const cJSON *o, const char *key, int *out, perr *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) return SIM_SCN_OK;
  if (!cJSON_IsBool(v)) return fail(e, "expect.%s: must be true or false", key);
  *out = cJSON_IsTrue(v);
  return SIM_SCN_OK;
}

/* expect.alerts: {"<kind>|total": n | [min, max]} and the other identity keys. */
static int parse_ident_expect(const cJSON *o, sim_scenario *s, perr *e) {
  TRY(get_int(o, "expect", "clone_detect_within_s", 0, SIM_SCN_MAX_DURATION_S, 0,
              &s->clone_detect_within_s, e));
  TRY(get_int(o, "expect", "max_misattributed", 0, INT64_C(1) << 40, 0, &s->max_misattributed,
              e));
  TRY(get_int(o, "expect", "min_drift_events", 0, INT64_C(1) << 40, 0, &s->min_drift_events, e));
  TRY(get_int(o, "expect", "max_foreign_owned_state_files", 0, INT64_C(1) << 40, 0,
              &s->max_foreign_owned_state_files, e));
  TRY(get_bool(o, "planted_policy_refused", &s->planted_policy_refused, e));
  TRY(get_bool(o, "no_secret_shipped", &s->no_secret_shipped, e));
  TRY(get_bool(o, "refusals_reported", &s->refusals_reported, e));
  TRY(get_bool(o, "floor_held", &s->disk_floor_held, e));
  TRY(get_bool(o, "lies_refused", &s->lies_refused, e));
  TRY(get_bool(o, "tls_reported", &s->tls_reported, e));
  TRY(get_int(o, "expect", "max_blocked_opens", 0, INT64_C(1) << 40, 0, &s->max_blocked_opens, e));
  if (s->no_secret_shipped && !s->secrets)
    return fail(e, "expect.no_secret_shipped: needs fleet.secrets: true");
  TRY(get_bool(o, "at_least_once", &s->at_least_once, e));
  TRY(get_bool(o, "attacks_refused", &s->attacks_refused, e));
  TRY(get_bool(o, "originals_untouched", &s->originals_untouched, e));
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "alerts");
  if (!a) return SIM_SCN_OK;
  if (!cJSON_IsObject(a)) return fail(e, "expect.alerts: must be an object");
  static const char *const kinds[] = {"total",           "clone_new_hardware",
                                      "clone_reenrolled", "clone_stale_ratchet",
                                      "clone_live_copies", "clone_content_conflict", NULL};
  TRY(only_keys(a, "expect.alerts", kinds, e));
  for (const cJSON *c = a->child; c; c = c->next) {
    if (s->n_alerts >= SIM_SCN_MAX_ALERT_EXPECT) return fail(e, "expect.alerts: too many");
    sim_scn_alert_expect *x = &s->alerts[s->n_alerts++];
    snprintf(x->kind, sizeof x->kind, "%s", c->string);
    if (cJSON_IsNumber(c)) {
      TRY(get_int(a, "expect.alerts", c->string, 0, INT64_C(1) << 40, 1, &x->min, e));
      x->max = x->min;
    } else {
      x->min = x->max = -1;
      TRY(get_range(a, "expect.alerts", c->string, 0, INT64_C(1) << 40, &x->min, &x->max, e));
      if (x->min < 0) return fail(e, "expect.alerts.%s: must be n or [min, max]", c->string);
    }
  }
  return SIM_SCN_OK;
}

/* expect.update_* (issue #6). */
static int parse_update_expect(const cJSON *o, sim_scenario *s, perr *e) {
  static const char *const vkeys[] = {"update_final_version", "update_never_installed"};
  char *vout[] = {s->upd_final_version, s->upd_never};
  for (int k = 0; k < 2; k++) {
    if (!cJSON_GetObjectItemCaseSensitive(o, vkeys[k])) continue;
    TRY(get_str(o, "expect", vkeys[k], 0, vout[k], 24, e));
    release_version v;
    if (release_version_parse(vout[k], &v) != 0)
      return fail(e, "expect.%s: must be MAJOR.MINOR.PATCH", vkeys[k]);
  }
  TRY(get_str(o, "expect", "update_reported", 0, s->upd_reported, sizeof s->upd_reported, e));
  if (cJSON_GetObjectItemCaseSensitive(o, "update_reported") && !s->upd_reported[0])
    return fail(e, "expect.update_reported: must not be empty");
  TRY(get_int(o, "expect", "update_reported_within_s", 1, SIM_SCN_MAX_DURATION_S, 0,
              &s->upd_reported_within_s, e));
  if (s->upd_reported_within_s >= 0 && !s->upd_reported[0])
    return fail(e, "expect.update_reported_within_s: needs expect.update_reported");
  TRY(get_str(o, "expect", "update_rolled_back", 0, s->upd_rolled_back, sizeof s->upd_rolled_back, e));
  release_version rv;
  if (cJSON_GetObjectItemCaseSensitive(o, "update_rolled_back") &&
      release_version_parse(s->upd_rolled_back, &rv) != 0)
    return fail(e, "expect.update_rolled_back: must be MAJOR.MINOR.PATCH");
  TRY(get_int(o, "expect", "update_promotes_refused", 0, SIM_SCN_MAX_EVENTS, 0,
              &s->upd_promotes_refused, e));
  TRY(get_bool(o, "update_ring_order", &s->upd_ring_order, e));
  TRY(get_int(o, "expect", "update_switch_cut_steps", 1, SIM_SCN_SWITCH_STEPS + 1, 0,
              &s->upd_switch_cut_steps, e));
  TRY(get_bool(o, "update_bin_valid", &s->upd_bin_valid, e));
  return get_bool(o, "update_no_install_after_attack", &s->upd_no_install_after_attack, e);
}

/* fleet.rings (issue #6): percentages of the fleet in canary and early-access. */
static int parse_rings(const cJSON *fleet, sim_scenario *s, perr *e) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(fleet, "rings");
  if (!r) return SIM_SCN_OK;
  if (!cJSON_IsObject(r)) return fail(e, "fleet.rings: must be an object");
  static const char *const k_rings[] = {"canary", "early-access", NULL};
  TRY(only_keys(r, "fleet.rings", k_rings, e));
  double total = 0;
  for (int k = 0; k < 2; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, k_rings[k]);
    if (!v) continue;
    const char *t = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t n = t ? strlen(t) : 0;
    char *end = NULL;
    double pct = n >= 2 && n < 16 && t[n - 1] == '%' ? strtod(t, &end) : NAN;
    if (!(end == t + n - 1 && isfinite(pct) && pct > 0 && pct <= 100))
      return fail(e, "fleet.rings.%s: must be a percentage like \"10%%\"", k_rings[k]);
    s->ring_pct[k] = pct;
    total += pct;
  }
  if (total > 100) return fail(e, "fleet.rings: more than 100%% of the fleet");
  return SIM_SCN_OK;
}

static int parse_root(const cJSON *root, sim_scenario *s, perr *e) {
  if (!cJSON_IsObject(root)) return fail(e, "(root): must be a JSON object");
  static const char *const k_root[] = {"name",  "claims", "description", "fleet",  "duration_s",
                                       "log",   "network", "agent",      "cloud", "events",
                                       "expect", "update", NULL};
  TRY(only_keys(root, "", k_root, e));
  TRY(get_str(root, "", "name", 1, s->name, sizeof s->name, e));
  if (!s->name[0]) return fail(e, "name: must not be empty");
  TRY(get_str(root, "", "description", 0, s->description, sizeof s->description, e));
  const cJSON *claims = cJSON_GetObjectItemCaseSensitive(root, "claims");
  if (claims) {
    if (!cJSON_IsArray(claims)) return fail(e, "claims: must be an array of strings");
    int i = 0;
    for (const cJSON *c = claims->child; c; c = c->next, i++) {
      if (i >= SIM_SCN_MAX_CLAIMS) return fail(e, "claims: at most %d", SIM_SCN_MAX_CLAIMS);
      if (!cJSON_IsString(c) || !c->valuestring || strlen(c->valuestring) >= 64)
        return fail(e, "claims[%d]: must be a string of at most 63 bytes", i);
      strcpy(s->claims[i], c->valuestring);
    }
    s->n_claims = i;
  }
  TRY(get_int(root, "", "duration_s", 1, SIM_SCN_MAX_DURATION_S, 1, &s->duration_s, e));

  const cJSON *o;
  TRY(get_obj(root, "fleet", 1, &o, e));
  static const char *const k_fleet[] = {"agents", "disk_quota_mb", "clock_skew_ms", "rings",
                                        "uid", "secrets", NULL};
  TRY(only_keys(o, "fleet", k_fleet, e));
  TRY(parse_rings(o, s, e));
  TRY(get_int(o, "fleet", "agents", 1, SIM_SCN_MAX_AGENTS, 1, &s->agents, e));
  int64_t mb = s->disk_quota_bytes / (1024 * 1024);
  TRY(get_int(o, "fleet", "disk_quota_mb", 1, 65536, 0, &mb, e));
  s->disk_quota_bytes = mb * 1024 * 1024;
  TRY(get_int(o, "fleet", "clock_skew_ms", 0, 3600000, 0, &s->clock_skew_ms, e));
  TRY(get_int(o, "fleet", "uid", 0, 65534, 0, &s->agent_uid, e));
  const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "secrets");
  if (sec && !cJSON_IsBool(sec)) return fail(e, "fleet.secrets: must be true or false");
  s->secrets = cJSON_IsTrue(sec);

  TRY(get_obj(root, "log", 0, &o, e));
  if (o) {
    static const char *const k_log[] = {"lines_per_min", "line_bytes", NULL};
    TRY(only_keys(o, "log", k_log, e));
    TRY(get_num(o, "log", "lines_per_min", 0, 6000, 0, &s->lines_per_min, e));
    /* the line's unique prefix "agent-NNNNN line-NNNNNNNNN " is 27 bytes */
    TRY(get_range(o, "log", "line_bytes", 32, 16384, &s->line_min, &s->line_max, e));
  }
  TRY(get_obj(root, "network", 0, &o, e));
  if (o) {
    static const char *const k_net[] = {"latency_ms", "loss", "response_loss", NULL};
    TRY(only_keys(o, "network", k_net, e));
    TRY(get_range(o, "network", "latency_ms", 0, 600000, &s->latency_min_ms, &s->latency_max_ms,
                  e));
    TRY(get_num(o, "network", "loss", 0, 1, 0, &s->loss, e));
    TRY(get_num(o, "network", "response_loss", 0, 1, 0, &s->response_loss, e));
  }
  TRY(get_obj(root, "agent", 0, &o, e));
  if (o) {
    static const char *const k_agent[] = {"batch_max_records", "batch_max_age_ms",
                                          "poll_interval_ms",  "request_timeout_ms",
                                          "retry_base_ms",     "retry_max_ms",
                                          "spool_quota_mb",    "backpressure_max_ms",
                                          "checkin_interval_ms", "ship_window", NULL};
    TRY(only_keys(o, "agent", k_agent, e));
    TRY(get_int(o, "agent", "batch_max_records", 1, 10000, 0, &s->batch_max_records, e));
    TRY(get_int(o, "agent", "batch_max_age_ms", 0, 86400000, 0, &s->batch_max_age_ms, e));
    TRY(get_int(o, "agent", "poll_interval_ms", 10, 86400000, 0, &s->poll_interval_ms, e));
    TRY(get_int(o, "agent", "request_timeout_ms", 100, 3600000, 0, &s->request_timeout_ms, e));
    TRY(get_int(o, "agent", "retry_base_ms", 1, 3600000, 0, &s->retry_base_ms, e));
    TRY(get_int(o, "agent", "retry_max_ms", 1, 86400000, 0, &s->retry_max_ms, e));
    int64_t qmb = -1;
    TRY(get_int(o, "agent", "spool_quota_mb", 1, 1 << 20, 0, &qmb, e));
    if (qmb > 0) s->spool_quota_bytes = qmb * 1024 * 1024;
    TRY(get_int(o, "agent", "backpressure_max_ms", 0, 7 * 86400000LL, 0, &s->backpressure_max_ms,
                e));
    TRY(get_int(o, "agent", "checkin_interval_ms", 1000, 86400000, 0, &s->checkin_interval_ms,
                e));
    TRY(get_int(o, "agent", "ship_window", 1, CONFIG_SHIP_WINDOW_MAX, 0, &s->ship_window, e));
  }
  TRY(get_obj(root, "cloud", 0, &o, e));
  if (o) {
    static const char *const k_cloud[] = {"session_ttl_s", "probation_s", NULL};
    TRY(only_keys(o, "cloud", k_cloud, e));
    TRY(get_int(o, "cloud", "session_ttl_s", 10, 30 * 86400, 0, &s->session_ttl_s, e));
    TRY(get_int(o, "cloud", "probation_s", 0, 86400, 0, &s->probation_s, e));
  }
  TRY(get_obj(root, "update", 0, &o, e));
  if (o) {
    static const char *const k_upd[] = {"check_interval_s", NULL};
    TRY(only_keys(o, "update", k_upd, e));
    s->update_check_interval_s = 3600;
    TRY(get_int(o, "update", "check_interval_s", 60, 604800, 0, &s->update_check_interval_s, e));
  }
  const cJSON *evs = cJSON_GetObjectItemCaseSensitive(root, "events");
  if (evs) {
    if (!cJSON_IsArray(evs)) return fail(e, "events: must be an array");
    int i = 0;
    for (const cJSON *ev = evs->child; ev; ev = ev->next, i++) {
      if (i >= SIM_SCN_MAX_EVENTS) return fail(e, "events: at most %d", SIM_SCN_MAX_EVENTS);
      TRY(parse_event(ev, i, s, &s->events[i], e));
    }
    s->n_events = i;
  }
  TRY(get_obj(root, "expect", 0, &o, e));
  if (o) {
    static const char *const k_exp[] = {"exactly_once",         "drain_s",       "max_spooled_at_end",
                                        "max_requests_per_min", "shed_reported", "min_shed",
                                        "rate_from_s",          "policy_applied",
                                        "no_denied_open",       "alerts",
                                        "clone_detect_within_s", "max_misattributed",
                                        "at_least_once",        "attacks_refused",
                                        "originals_untouched",  "min_drift_events",
                                        "max_records_per_s",    "metrics_reported",
                                        "update_final_version", "update_never_installed",
                                        "update_reported",      "update_reported_within_s",
                                        "update_no_install_after_attack",
                                        "update_rolled_back",   "update_promotes_refused",
                                        "update_ring_order",    "update_switch_cut_steps",
                                        "update_bin_valid",
                                        "max_foreign_owned_state_files",
                                        "planted_policy_refused", "no_secret_shipped",
                                        "max_blocked_opens", "refusals_reported", "floor_held",
                                        "lost_lines", "lost_middle_lines", "lies_refused",
                                        "tls_reported", "window_under_faults", NULL};
    TRY(only_keys(o, "expect", k_exp, e));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "exactly_once");
    if (v) {
      if (!cJSON_IsBool(v)) return fail(e, "expect.exactly_once: must be true or false");
      s->exactly_once = cJSON_IsTrue(v);
    }
    TRY(get_int(o, "expect", "drain_s", 0, SIM_SCN_MAX_DURATION_S, 0, &s->drain_s, e));
    TRY(get_int(o, "expect", "max_spooled_at_end", 0, INT64_C(1) << 40, 0,
                &s->max_spooled_at_end, e));
    TRY(get_int(o, "expect", "max_requests_per_min", 1, INT64_C(1) << 40, 0,
                &s->max_requests_per_min, e));
    TRY(get_int(o, "expect", "rate_from_s", 0, SIM_SCN_MAX_DURATION_S, 0, &s->rate_from_s, e));
    TRY(get_int(o, "expect", "min_shed", 0, INT64_C(1) << 40, 0, &s->min_shed, e));
    TRY(get_range(o, "expect", "lost_lines", 0, INT64_C(1) << 40, &s->lost_min, &s->lost_max, e));
    TRY(get_range(o, "expect", "lost_middle_lines", 0, INT64_C(1) << 40, &s->lost_middle_min,
                  &s->lost_middle_max, e));
    TRY(get_int(o, "expect", "policy_applied", 1, INT64_C(1) << 40, 0, &s->policy_applied, e));
    TRY(get_int(o, "expect", "max_records_per_s", 1, POLICY_RATE_CAP, 0, &s->max_records_per_s, e));
    v = cJSON_GetObjectItemCaseSensitive(o, "no_denied_open");
    if (v) {
      if (!cJSON_IsBool(v)) return fail(e, "expect.no_denied_open: must be true or false");
      s->no_denied_open = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "metrics_reported");
    if (v) {
      if (!cJSON_IsBool(v)) return fail(e, "expect.metrics_reported: must be true or false");
      s->metrics_reported = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "window_under_faults");
    if (v) {
      if (!cJSON_IsBool(v)) return fail(e, "expect.window_under_faults: must be true or false");
      s->window_under_faults = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "shed_reported");
    if (v) {
      if (!cJSON_IsBool(v)) return fail(e, "expect.shed_reported: must be true or false");
      s->shed_reported = cJSON_IsTrue(v);
    }
    TRY(parse_ident_expect(o, s, e));
    TRY(parse_update_expect(o, s, e));
  }
  if (!s->update_check_interval_s) {
    for (int i = 0; i < s->n_events; i++)
      if ((s->events[i].type >= SIM_SCN_UPD_RELEASE && s->events[i].type <= SIM_SCN_UPD_MIX) ||
          s->events[i].type == SIM_SCN_UPD_STEAL)
        return fail(e, "events[%d].type: %s needs the top-level \"update\" section", i,
                    sim_scenario_event_name(s->events[i].type));
    if (s->upd_final_version[0] || s->upd_never[0] || s->upd_reported[0] ||
        s->upd_no_install_after_attack || s->upd_rolled_back[0] ||
        s->upd_promotes_refused >= 0 || s->upd_ring_order || s->ring_pct[0] > 0 ||
        s->upd_switch_cut_steps >= 0 || s->upd_bin_valid ||
        s->ring_pct[1] > 0)
      return fail(e, "expect.update_* and fleet.rings: need the top-level \"update\" section");
  }
  return SIM_SCN_OK;
}

static void defaults(sim_scenario *s) {
  memset(s, 0, sizeof *s);
  s->disk_quota_bytes = 64LL * 1024 * 1024;
  s->lines_per_min = 2;
  s->line_min = 40;
  s->line_max = 160;
  s->latency_min_ms = 20;
  s->latency_max_ms = 200;
  s->batch_max_records = s->batch_max_age_ms = s->poll_interval_ms = -1;
  s->request_timeout_ms = s->retry_base_ms = s->retry_max_ms = -1;
  s->session_ttl_s = 3600;
  s->drain_s = 600;
  s->max_spooled_at_end = -1;
  s->lost_min = s->lost_max = s->lost_middle_min = s->lost_middle_max = -1;
  s->spool_quota_bytes = s->backpressure_max_ms = s->ship_window = -1;
  s->max_requests_per_min = -1;
  s->checkin_interval_ms = -1;
  s->clone_detect_within_s = -1;
  s->max_misattributed = -1;
  s->min_drift_events = -1;
  s->max_foreign_owned_state_files = -1;
  s->max_blocked_opens = -1;
  s->upd_reported_within_s = -1;
  s->upd_promotes_refused = -1;
  s->upd_switch_cut_steps = -1;
}

int sim_scenario_parse(const char *json, size_t len, sim_scenario *out, char *err,
                       size_t err_cap) {
  perr e = {err, err_cap};
  if (err && err_cap) err[0] = 0;
  if (!out) return SIM_SCN_EINVALID;
  defaults(out);
  if (!json || len == 0) return fail(&e, "(root): empty file");
  if (len > SIM_SCN_MAX_FILE) return fail(&e, "(root): file over %d bytes", SIM_SCN_MAX_FILE);
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) return fail(&e, "(root): not valid JSON");
  int rc = parse_root(root, out, &e);
  cJSON_Delete(root);
  if (rc != SIM_SCN_OK) defaults(out);
  return rc;
}

int sim_scenario_load(const char *path, sim_scenario *out, char *err, size_t err_cap) {
  perr e = {err, err_cap};
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (err && err_cap) snprintf(err, err_cap, "%s: cannot open", path);
    return SIM_SCN_EIO;
  }
  char *buf = malloc(SIM_SCN_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    return SIM_SCN_ENOMEM;
  }
  size_t n = fread(buf, 1, SIM_SCN_MAX_FILE + 1, f);
  int rd_err = ferror(f);
  fclose(f);
  if (rd_err || n > SIM_SCN_MAX_FILE) {
    free(buf);
    if (err && err_cap)
      snprintf(err, err_cap, "%s: %s", path, rd_err ? "read error" : "file too large");
    return SIM_SCN_EIO;
  }
  int rc = sim_scenario_parse(buf, n, out, err, err_cap);
  (void)e;
  free(buf);
  return rc;
}

int64_t sim_scenario_event_agents(const sim_scn_event *ev, int64_t n) {
  int64_t k;
  if (ev->agents_pct >= 0) {
    k = (int64_t)floor((double)n * ev->agents_pct / 100.0);
    if (k < 1) k = 1;
  } else {
    k = ev->agents_count;
  }
  return k > n ? n : k;
}

const char *sim_scenario_event_name(sim_scn_event_type t) {
  switch (t) {
  case SIM_SCN_CLOUD_OUTAGE: return "cloud_outage";
  case SIM_SCN_NETWORK: return "network";
  case SIM_SCN_RESTART: return "restart";
  case SIM_SCN_CRASH: return "crash";
  case SIM_SCN_PARTITION: return "partition";
  case SIM_SCN_POWER_CUT: return "power_cut";
  case SIM_SCN_DISK_FILL: return "disk_fill";
  case SIM_SCN_ROTATE: return "rotate";
  case SIM_SCN_CLONE: return "clone";
  case SIM_SCN_SNAPSHOT: return "snapshot";
  case SIM_SCN_RESTORE: return "restore";
  case SIM_SCN_TAMPER: return "tamper_permissions";
  case SIM_SCN_PLANT: return "plant_files";
  case SIM_SCN_LOCAL_ATTACK: return "local_attack";
  case SIM_SCN_FOREIGN: return "foreign_workspace";
  case SIM_SCN_REPLAY: return "replay";
  case SIM_SCN_REVOKE: return "revoke";
  case SIM_SCN_POLICY: return "policy";
  case SIM_SCN_UPD_RELEASE: return "release";
  case SIM_SCN_UPD_PROMOTE: return "promote";
  case SIM_SCN_UPD_FREEZE: return "freeze";
  case SIM_SCN_UPD_REPLAY: return "replay_metadata";
  case SIM_SCN_UPD_COMPROMISE: return "compromise_online_keys";
  case SIM_SCN_UPD_TAMPER: return "tamper_target";
  case SIM_SCN_UPD_ENDLESS: return "endless_data";
  case SIM_SCN_UPD_MIX: return "mix_and_match";
  case SIM_SCN_UPD_STEAL: return "steal_release_key";
  case SIM_SCN_CLOUD_LIE: return "cloud_lie";
  case SIM_SCN_CLOCK_STEP: return "clock_step";
  case SIM_SCN_TLS_FAILURE: return "tls_failure";
  }
  return "?";
}

/* Agents the events of the kinds in mask (bit per sim_scn_event_type) hit
 * in a fleet of n, clones counted once per copy. */
static double scale_hits(const sim_scenario *s, uint64_t mask, int64_t n) {
  double h = 0;
  for (int i = 0; i < s->n_events && i < SIM_SCN_MAX_EVENTS; i++) {
    const sim_scn_event *ev = &s->events[i];
    if (!(mask & (UINT64_C(1) << ev->type))) continue;
    double k = (double)sim_scenario_event_agents(ev, n);
    h += ev->type == SIM_SCN_CLONE ? k * (double)ev->copies : k;
  }
  return h;
}

/* A lower bound times r, rounded down, kept >= 1 when it was >= 1. */
static int64_t scale_min(int64_t v, double r) {
  if (v <= 0) return v; /* -1: not checked; 0 stays 0 */
  int64_t x = (int64_t)floor((double)v * r);
  return x < 1 ? 1 : x;
}

/* An upper bound times r, rounded up (0 stays 0, -1 not checked). */
static int64_t scale_max(int64_t v, double r) {
  if (v <= 0) return v;
  return (int64_t)ceil((double)v * r);
}

int sim_scenario_scale(sim_scenario *s, int64_t n) {
  if (!s || n < 1 || n > SIM_SCN_MAX_AGENTS) return SIM_SCN_EINVALID;
  if (n == s->agents) return 0;
  int changed = 0;
#define SCALE_SET(field, expr)      \
  do {                              \
    int64_t v_ = (expr);            \
    if (v_ != (field)) changed = 1; \
    (field) = v_;                   \
  } while (0)
  const uint64_t drift = (UINT64_C(1) << SIM_SCN_TAMPER) | (UINT64_C(1) << SIM_SCN_PLANT);
  const uint64_t ident = (UINT64_C(1) << SIM_SCN_CLONE) | (UINT64_C(1) << SIM_SCN_SNAPSHOT);
  const uint64_t local = UINT64_C(1) << SIM_SCN_LOCAL_ATTACK;
  double h0 = scale_hits(s, drift, s->agents);
  if (h0 > 0) {
    double r = scale_hits(s, drift, n) / h0;
    SCALE_SET(s->min_drift_events, scale_min(s->min_drift_events, r));
    SCALE_SET(s->max_foreign_owned_state_files, scale_max(s->max_foreign_owned_state_files, r));
  }
  h0 = scale_hits(s, ident, s->agents);
  if (h0 > 0) {
    double r = scale_hits(s, ident, n) / h0;
    for (int i = 0; i < s->n_alerts && i < SIM_SCN_MAX_ALERT_EXPECT; i++) {
      SCALE_SET(s->alerts[i].min, scale_min(s->alerts[i].min, r));
      SCALE_SET(s->alerts[i].max, scale_max(s->alerts[i].max, r));
    }
    SCALE_SET(s->max_misattributed, scale_max(s->max_misattributed, r));
  }
  h0 = scale_hits(s, local, s->agents);
  if (h0 > 0)
    SCALE_SET(s->max_blocked_opens,
              scale_max(s->max_blocked_opens, scale_hits(s, local, n) / h0));
  /* Fleet-wide volumes are sums over agents of independent draws: their
   * relative noise grows as the fleet shrinks (cloud-outage's request peak
   * per agent: 1.8 at 150 agents, 2.7 at 30), so a bound scaled down gets a
   * margin of 3 standard deviations of a Poisson count, 3 * sqrt(x). */
  double r = (double)n / (double)s->agents;
  double lo, hi;
  if (s->min_shed > 0) {
    lo = (double)s->min_shed * r;
    if (r < 1) lo -= 3 * sqrt(lo);
    SCALE_SET(s->min_shed, lo < 1 ? 1 : (int64_t)floor(lo));
  }
  if (s->max_requests_per_min > 0) {
    hi = (double)s->max_requests_per_min * r;
    if (r < 1) hi += 3 * sqrt(hi);
    SCALE_SET(s->max_requests_per_min, (int64_t)ceil(hi));
  }
  /* [min, max] pairs: both ends move with the fleet */
  int64_t *pairs[2][2] = {{&s->lost_min, &s->lost_max}, {&s->lost_middle_min, &s->lost_middle_max}};
  for (int k = 0; k < 2; k++) {
    if (*pairs[k][0] < 0) continue;
    lo = (double)*pairs[k][0] * r;
    hi = (double)*pairs[k][1] * r;
    if (r < 1) {
      lo -= 3 * sqrt(lo);
      hi += 3 * sqrt(hi);
    }
    SCALE_SET(*pairs[k][0], lo < 0 ? 0 : (int64_t)floor(lo));
    SCALE_SET(*pairs[k][1], (int64_t)ceil(hi));
  }
  if (s->upd_switch_cut_steps > n) SCALE_SET(s->upd_switch_cut_steps, n);
#undef SCALE_SET
  s->agents = n;
  return changed;
}

void sim_scenario_fault_kinds(const sim_scenario *s, int *crash, int *cut, int *loss, int *outage) {
  *crash = *cut = *outage = 0;
  *loss = s->loss > 0 || s->response_loss > 0;
  for (int i = 0; i < s->n_events; i++) {
    const sim_scn_event *e = &s->events[i];
    *crash |= e->type == SIM_SCN_CRASH;
    *cut |= e->type == SIM_SCN_POWER_CUT;
    *outage |= e->type == SIM_SCN_CLOUD_OUTAGE;
    *loss |= e->type == SIM_SCN_NETWORK && (e->loss > 0 || e->response_loss > 0);
  }
}
