/* config.c - parse and validate the agent's JSON config (see config.h). */
#include "core/config.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h> /* snprintf only: the core does no stdio I/O */
#include <string.h>

#include "common/wire.h"
#include "core/jfield.h"
#include "shim/os.h"

void config_defaults(agent_config *out) {
  memset(out, 0, sizeof(*out));
  out->batch_max_records = 1000;
  out->batch_max_bytes = 1024 * 1024;
  out->batch_max_age_ms = 5000;
  out->ship_window = CONFIG_SHIP_WINDOW_DEFAULT;
  out->poll_interval_ms = 1000;
  out->unreadable_summary_ms = 3600 * 1000;
  out->request_timeout_ms = 30000;
  out->retry_base_ms = 1000;
  out->retry_max_ms = 300000;
  out->read_chunk_bytes = 65536;
  out->max_line_bytes = 32768;
  out->zstd_level = 3;
  out->log_level = OS_LOG_INFO;
  /* issue #14, docs/benchmarks.md "Priority under host load": the lowest
   * setting, SCHED_IDLE and the idle I/O class, still shipped the offered
   * rate under every load measured; batch is there for a host where not. */
  out->cpu_sched = CONFIG_CPU_SCHED_IDLE;
  out->io_sched = CONFIG_IO_SCHED_IDLE;
  out->checkin_interval_ms = 300000;
  memcpy(out->allowed_log_roots[0], "/var/log", sizeof "/var/log");
  out->n_allowed_log_roots = 1;
  out->spool_quota_bytes = 256LL * 1024 * 1024;
  out->spool_floor_pct = 5;
  out->spool_floor_max_bytes = 1024LL * 1024 * 1024;
  out->backpressure_max_ms = 300000;
  out->max_record_bytes = 61440;
  out->update_probation_ms = 600 * 1000;
  out->update_crash_loop_max = 3;
  out->update_crash_window_ms = 300 * 1000;
  out->update_check_interval_ms = 3600 * 1000;
  out->update_first_check_ms = 300 * 1000;
  out->update_max_binary_bytes = 64LL * 1024 * 1024;
}


static int is_absolute_path(const char *p) { return p[0] == '/'; }

static void parse_sources(jfield_err *e, const cJSON *arr, agent_config *out) {
  if (!cJSON_IsArray(arr)) {
    jfield_fail(e, "sources: must be an array");
    return;
  }
  int n = cJSON_GetArraySize(arr);
  if (n > CONFIG_MAX_SOURCES) {
    jfield_fail(e, "sources: at most %d entries", CONFIG_MAX_SOURCES);
    return;
  }
  int i = 0;
  const cJSON *src;
  cJSON_ArrayForEach(src, arr) {
    char key[64];
    snprintf(key, sizeof key, "sources[%d]", i);
    if (!cJSON_IsObject(src)) {
      jfield_fail(e, "%s: must be an object", key);
      return;
    }
    config_source *s = &out->sources[i];
    s->start = CONFIG_START_END;
    int have_path = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, src) {
      char fkey[96];
      snprintf(fkey, sizeof fkey, "%s.%s", key, f->string);
      if (strcmp(f->string, "path") == 0) {
        if (jfield_string(e, f, fkey, s->path, sizeof s->path, 0) != 0) return;
        if (!is_absolute_path(s->path)) {
          jfield_fail(e, "%s: must be an absolute path", fkey);
          return;
        }
        have_path = 1;
      } else if (strcmp(f->string, "start") == 0) {
        int from_beginning = 0;
        if (jfield_start(e, f, fkey, &from_beginning) != 0) return;
        s->start = from_beginning ? CONFIG_START_BEGINNING : CONFIG_START_END;
      } else if (strcmp(f->string, "multiline_start") == 0) {
        if (jfield_string(e, f, fkey, s->multiline_start, sizeof s->multiline_start, 0) != 0)
          return;
      } else {
        jfield_fail(e, "%s: unknown key", fkey);
        return;
      }
    }
    if (!have_path) {
      jfield_fail(e, "%s.path: required", key);
      return;
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(out->sources[j].path, s->path) == 0) {
        jfield_fail(e, "%s.path: duplicate of sources[%d].path", key, j);
        return;
      }
    }
    i++;
  }
  out->n_sources = i;
}

static void parse_roots(jfield_err *e, const cJSON *arr, agent_config *out) {
  if (!cJSON_IsArray(arr)) {
    jfield_fail(e, "allowed_log_roots: must be an array");
    return;
  }
  int n = cJSON_GetArraySize(arr);
  if (n > CONFIG_MAX_ROOTS) {
    jfield_fail(e, "allowed_log_roots: at most %d entries", CONFIG_MAX_ROOTS);
    return;
  }
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    char key[48];
    snprintf(key, sizeof key, "allowed_log_roots[%d]", i);
    if (jfield_string(e, it, key, out->allowed_log_roots[i], CONFIG_PATH_MAX, 0) != 0) return;
    if (!is_absolute_path(out->allowed_log_roots[i])) {
      jfield_fail(e, "%s: must be an absolute path", key);
      return;
    }
    i++;
  }
  out->n_allowed_log_roots = i; /* [] is allowed: the cloud may add no log files */
}

/* Checks the URL shape we support: https://host[:port] with no path, query or
 * credentials. Plain http is refused: the agent only speaks TLS (NET-1). */
static void check_url(jfield_err *e, const char *url) {
  const char *prefix = "https://";
  if (strncmp(url, prefix, strlen(prefix)) != 0) {
    jfield_fail(e, "cloud_url: must start with https://");
    return;
  }
  const char *host = url + strlen(prefix);
  if (*host == 0 || *host == '/' || *host == ':') {
    jfield_fail(e, "cloud_url: missing host");
    return;
  }
  for (const char *p = host; *p; p++) {
    if (*p == '/' && p[1] == 0) break; /* a single trailing slash is fine */
    if (*p == '/' || *p == '?' || *p == '#' || *p == '@' || *p == ' ') {
      jfield_fail(e, "cloud_url: must be https://host[:port] with no path, query or credentials");
      return;
    }
  }
}

/* NET-1: production agents connect to port 443 only. A URL with another port
 * needs the config to allow exactly that port ("allow_cloud_port", for test
 * clouds on loopback), so a stray or tampered URL cannot point the agent at
 * some other service on the network. allowed: 0 = none. */
static void check_port(jfield_err *e, const char *url, int64_t allowed) {
  const char *host = url + strlen("https://");
  const char *colon = NULL;
  if (*host == '[') { /* IPv6 literal: the port follows the bracket */
    const char *rb = strchr(host, ']');
    if (!rb) {
      jfield_fail(e, "cloud_url: unterminated [IPv6] host");
      return;
    }
    if (rb[1] == ':') colon = rb + 1;
    else if (rb[1] != 0) {
      jfield_fail(e, "cloud_url: must be https://host[:port]");
      return;
    }
  } else {
    colon = strchr(host, ':');
  }
  int64_t port = 443;
  if (colon) {
    port = 0;
    const char *p = colon + 1;
    if (*p == 0) {
      jfield_fail(e, "cloud_url: empty port");
      return;
    }
    for (; *p; p++) {
      if (*p < '0' || *p > '9' || port > 65535) {
        jfield_fail(e, "cloud_url: port must be a number in 1..65535");
        return;
      }
      port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535) {
      jfield_fail(e, "cloud_url: port must be a number in 1..65535");
      return;
    }
  }
  if (port != 443 && port != allowed)
    jfield_fail(e,
             "cloud_url: port %lld is not 443; the agent only connects to the cloud on 443 "
             "(a test cloud on another port needs \"allow_cloud_port\": %lld)",
             (long long)port, (long long)port);
}

static void parse_level(jfield_err *e, const cJSON *f, agent_config *out) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  if (cJSON_IsString(f)) {
    for (int i = 0; i < 4; i++) {
      if (strcmp(f->valuestring, names[i]) == 0) {
        out->log_level = i;
        return;
      }
    }
  }
  jfield_fail(e, "log_level: must be one of debug, info, warn, error");
}

/* One of a fixed list of names; the message names the bad value (cut at 32
 * bytes: the key is bounded, the value comes from the file). Returns the
 * index, or -1 after recording a failure. */
static int parse_name(jfield_err *e, const cJSON *f, const char *key, const char *const *names,
                      int n, const char *list) {
  if (cJSON_IsString(f)) {
    for (int i = 0; i < n; i++)
      if (strcmp(f->valuestring, names[i]) == 0) return i;
    jfield_fail(e, "%s: \"%.32s\" is not one of %s", key, f->valuestring, list);
  } else {
    jfield_fail(e, "%s: must be a string, one of %s", key, list);
  }
  return -1;
}

static const char *const cpu_sched_names[] = {"idle", "batch", "other"};
static const char *const io_sched_names[] = {"idle", "best-effort"};

/* "identity": {"machine_id_file": "/abs", "product_uuid_file": "/abs"}. */
static void parse_identity(jfield_err *e, const cJSON *obj, agent_config *out) {
  if (!cJSON_IsObject(obj)) {
    jfield_fail(e, "identity: must be an object");
    return;
  }
  const cJSON *f;
  cJSON_ArrayForEach(f, obj) {
    char fkey[96];
    snprintf(fkey, sizeof fkey, "identity.%.64s", f->string);
    char *dst = strcmp(f->string, "machine_id_file") == 0     ? out->machine_id_file
                : strcmp(f->string, "product_uuid_file") == 0 ? out->product_uuid_file
                                                               : NULL;
    if (!dst) {
      jfield_fail(e, "%s: unknown key", fkey);
      return;
    }
    if (jfield_string(e, f, fkey, dst, CONFIG_PATH_MAX, 0) != 0) return;
    if (!is_absolute_path(dst)) {
      jfield_fail(e, "%s: must be an absolute path", fkey);
      return;
    }
  }
}

/* "update": {"probation_s": N, "crash_loop_max": N, "crash_window_s": N}. */
static void parse_update(jfield_err *e, const cJSON *obj, agent_config *out) {
  if (!cJSON_IsObject(obj)) {
    jfield_fail(e, "update: must be an object");
    return;
  }
  const cJSON *f;
  int64_t v;
  cJSON_ArrayForEach(f, obj) {
    char fkey[96];
    snprintf(fkey, sizeof fkey, "update.%.64s", f->string);
    if (strcmp(f->string, "probation_s") == 0) {
      if (jfield_int(e, f, fkey, 5, 86400, &v) == 0) out->update_probation_ms = v * 1000;
    } else if (strcmp(f->string, "crash_loop_max") == 0) {
      if (jfield_int(e, f, fkey, 1, 100, &v) == 0) out->update_crash_loop_max = (int)v;
    } else if (strcmp(f->string, "crash_window_s") == 0) {
      if (jfield_int(e, f, fkey, 1, 86400, &v) == 0) out->update_crash_window_ms = v * 1000;
    } else if (strcmp(f->string, "check_interval_s") == 0) {
      if (jfield_int(e, f, fkey, 60, 604800, &v) == 0) out->update_check_interval_ms = v * 1000;
    } else if (strcmp(f->string, "first_check_s") == 0) {
      if (jfield_int(e, f, fkey, 0, 3600, &v) == 0) out->update_first_check_ms = v * 1000;
    } else if (strcmp(f->string, "max_binary_mb") == 0) {
      if (jfield_int(e, f, fkey, 1, 256, &v) == 0) out->update_max_binary_bytes = v * 1024 * 1024;
    } else if (strcmp(f->string, "enabled") == 0) {
      jfield_bool(e, f, fkey, &out->update_enabled);
    } else if (strcmp(f->string, "trusted_root") == 0) {
      if (jfield_string(e, f, fkey, out->update_trusted_root, sizeof out->update_trusted_root, 0) == 0 &&
          !is_absolute_path(out->update_trusted_root))
        jfield_fail(e, "%s: must be an absolute path", fkey);
    } else {
      jfield_fail(e, "%s: unknown key", fkey);
    }
    if (e->failed) return;
  }
}

int config_parse(const char *json, size_t len, agent_config *out, char *err, size_t err_cap) {
  jfield_err e = {err, err_cap, 0};
  if (err && err_cap) err[0] = 0;
  config_defaults(out);
  if (len > CONFIG_MAX_FILE_BYTES) {
    jfield_fail(&e, "config: larger than %d bytes", CONFIG_MAX_FILE_BYTES);
    return CONFIG_EINVALID;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!root) {
    size_t off = end && end >= json ? (size_t)(end - json) : 0;
    jfield_fail(&e, "config: not valid JSON (near byte %zu)", off);
    return CONFIG_EINVALID;
  }
  if (!cJSON_IsObject(root)) {
    jfield_fail(&e, "config: top level must be an object");
    cJSON_Delete(root);
    return CONFIG_EINVALID;
  }
  int have_url = 0, have_state = 0, have_ca = 0;
  int64_t v, allow_port = 0;
  const cJSON *f;
  cJSON_ArrayForEach(f, root) {
    const char *k = f->string;
    if (e.failed) break;
    if (strcmp(k, "cloud_url") == 0) {
      if (jfield_string(&e, f, k, out->cloud_url, sizeof out->cloud_url, 0) == 0) {
        check_url(&e, out->cloud_url);
        size_t n = strlen(out->cloud_url);
        if (n && out->cloud_url[n - 1] == '/') out->cloud_url[n - 1] = 0;
        have_url = 1;
      }
    } else if (strcmp(k, "ca_file") == 0) {
      if (jfield_string(&e, f, k, out->ca_file, sizeof out->ca_file, 0) == 0) {
        if (!is_absolute_path(out->ca_file)) jfield_fail(&e, "ca_file: must be an absolute path");
        have_ca = 1;
      }
    } else if (strcmp(k, "enrollment_token") == 0) {
      jfield_string(&e, f, k, out->enrollment_token, sizeof out->enrollment_token, 0);
    } else if (strcmp(k, "state_dir") == 0) {
      if (jfield_string(&e, f, k, out->state_dir, sizeof out->state_dir, 0) == 0) {
        if (!is_absolute_path(out->state_dir)) jfield_fail(&e, "state_dir: must be an absolute path");
        have_state = 1;
      }
    } else if (strcmp(k, "sources") == 0) {
      parse_sources(&e, f, out);
    } else if (strcmp(k, "batch_max_records") == 0) {
      if (jfield_int(&e, f, k, 1, WIRE_MAX_RECORDS, &v) == 0) out->batch_max_records = (int)v;
    } else if (strcmp(k, "batch_max_bytes") == 0) {
      /* Well under WIRE_MAX_BODY so that even incompressible lines fit
       * the compressed-body limit. */
      if (jfield_int(&e, f, k, 1024, CONFIG_MAX_BATCH_BYTES, &v) == 0) out->batch_max_bytes = v;
    } else if (strcmp(k, "batch_max_age_ms") == 0) {
      if (jfield_int(&e, f, k, 0, 3600 * 1000, &v) == 0) out->batch_max_age_ms = v;
    } else if (strcmp(k, "poll_interval_ms") == 0) {
      if (jfield_int(&e, f, k, 10, 3600 * 1000, &v) == 0) out->poll_interval_ms = v;
    } else if (strcmp(k, "ship_window") == 0) {
      if (jfield_int(&e, f, k, 1, CONFIG_SHIP_WINDOW_MAX, &v) == 0) out->ship_window = (int)v;
    } else if (strcmp(k, "unreadable_summary_s") == 0) {
      if (jfield_int(&e, f, k, 60, 86400, &v) == 0) out->unreadable_summary_ms = v * 1000;
    } else if (strcmp(k, "request_timeout_ms") == 0) {
      if (jfield_int(&e, f, k, 100, 600 * 1000, &v) == 0) out->request_timeout_ms = v;
    } else if (strcmp(k, "retry_base_ms") == 0) {
      if (jfield_int(&e, f, k, 10, 3600 * 1000, &v) == 0) out->retry_base_ms = v;
    } else if (strcmp(k, "retry_max_ms") == 0) {
      if (jfield_int(&e, f, k, 10, 24 * 3600 * 1000LL, &v) == 0) out->retry_max_ms = v;
    } else if (strcmp(k, "read_chunk_bytes") == 0) {
      if (jfield_int(&e, f, k, 4096, 4 * 1024 * 1024, &v) == 0) out->read_chunk_bytes = v;
    } else if (strcmp(k, "max_line_bytes") == 0) {
      if (jfield_int(&e, f, k, 256, WIRE_MAX_LINE - 64, &v) == 0) out->max_line_bytes = v;
    } else if (strcmp(k, "zstd_level") == 0) {
      if (jfield_int(&e, f, k, 1, 19, &v) == 0) out->zstd_level = (int)v;
    } else if (strcmp(k, "log_level") == 0) {
      parse_level(&e, f, out);
    } else if (strcmp(k, "cpu_scheduling_policy") == 0) {
      int i = parse_name(&e, f, k, cpu_sched_names, 3, "idle, batch, other");
      if (i >= 0) out->cpu_sched = (config_cpu_sched)i;
    } else if (strcmp(k, "io_scheduling_class") == 0) {
      int i = parse_name(&e, f, k, io_sched_names, 2, "idle, best-effort");
      if (i >= 0) out->io_sched = (config_io_sched)i;
    } else if (strcmp(k, "checkin_interval_ms") == 0) {
      if (jfield_int(&e, f, k, 1000, 24 * 3600 * 1000LL, &v) == 0) out->checkin_interval_ms = v;
    } else if (strcmp(k, "identity") == 0) {
      parse_identity(&e, f, out);
    } else if (strcmp(k, "allowed_log_roots") == 0) {
      parse_roots(&e, f, out);
    } else if (strcmp(k, "metrics_textfile") == 0) {
      if (jfield_string(&e, f, k, out->metrics_textfile, sizeof out->metrics_textfile, 0) == 0 &&
          !is_absolute_path(out->metrics_textfile))
        jfield_fail(&e, "metrics_textfile: must be an absolute path");
    } else if (strcmp(k, "spool_quota_bytes") == 0) {
      if (jfield_int(&e, f, k, 1024 * 1024, 1LL << 40, &v) == 0) out->spool_quota_bytes = v;
    } else if (strcmp(k, "spool_floor_pct") == 0) {
      if (jfield_int(&e, f, k, 0, 50, &v) == 0) out->spool_floor_pct = (int)v;
    } else if (strcmp(k, "spool_floor_max_bytes") == 0) {
      if (jfield_int(&e, f, k, 0, 1LL << 40, &v) == 0) out->spool_floor_max_bytes = v;
    } else if (strcmp(k, "backpressure_max_ms") == 0) {
      if (jfield_int(&e, f, k, 0, 7 * 86400 * 1000LL, &v) == 0) out->backpressure_max_ms = v;
    } else if (strcmp(k, "max_record_bytes") == 0) {
      if (jfield_int(&e, f, k, 256, WIRE_MAX_LINE - 64, &v) == 0) out->max_record_bytes = v;
    } else if (strcmp(k, "proxy") == 0) {
      if (jfield_string(&e, f, k, out->proxy, sizeof out->proxy, 1) == 0 && out->proxy[0] &&
          strncmp(out->proxy, "http://", 7) != 0 && strncmp(out->proxy, "https://", 8) != 0)
        jfield_fail(&e, "proxy: must start with http:// or https://");
    } else if (strcmp(k, "proxy_ca_file") == 0) {
      if (jfield_string(&e, f, k, out->proxy_ca_file, sizeof out->proxy_ca_file, 0) == 0 &&
          !is_absolute_path(out->proxy_ca_file))
        jfield_fail(&e, "proxy_ca_file: must be an absolute path");
    } else if (strcmp(k, "allow_cloud_port") == 0) {
      jfield_int(&e, f, k, 1, 65535, &allow_port);
    } else if (strcmp(k, "no_proxy") == 0) {
      jfield_string(&e, f, k, out->no_proxy, sizeof out->no_proxy, 1);
    } else if (strcmp(k, "update") == 0) {
      parse_update(&e, f, out);
    } else {
      jfield_fail(&e, "%s: unknown key", k);
    }
  }
  cJSON_Delete(root);
  if (!e.failed && !have_url) jfield_fail(&e, "cloud_url: required");
  if (!e.failed) check_port(&e, out->cloud_url, allow_port);
  if (!e.failed && !have_ca) jfield_fail(&e, "ca_file: required");
  if (!e.failed && !have_state) jfield_fail(&e, "state_dir: required");
  if (!e.failed && out->retry_max_ms < out->retry_base_ms)
    jfield_fail(&e, "retry_max_ms: must be at least retry_base_ms (%lld)",
             (long long)out->retry_base_ms);
  if (!e.failed && out->read_chunk_bytes <= out->max_line_bytes)
    jfield_fail(&e, "read_chunk_bytes: must be larger than max_line_bytes (%lld)",
             (long long)out->max_line_bytes);
  return e.failed ? CONFIG_EINVALID : CONFIG_OK;
}

size_t config_explain(const agent_config *c, char *out, size_t cap) {
  static const char *const levels[] = {"debug", "info", "warn", "error"};
  if (cap == 0) return 0;
  size_t n = 0;
  int w = snprintf(out, cap,
                   "cloud_url          %s\n"
                   "ca_file            %s\n"
                   "enrollment_token   %s\n"
                   "state_dir          %s (identity, key and spool live here)\n"
                   "batch              up to %d records / %lld bytes, shipped after %lld ms, "
                   "%d in flight\n"
                   "poll_interval_ms   %lld\n"
                   "request_timeout_ms %lld\n"
                   "retry              %lld ms doubling up to %lld ms, full jitter\n"
                   "max_line_bytes     %lld (longer lines are truncated with a marker)\n"
                   "zstd_level         %d\n"
                   "log_level          %s\n"
                   "priority           CPU %s, nice 19; I/O %s\n"
                   "checkin_interval   %lld ms\n"
                   "machine_id_file    %s\n"
                   "product_uuid_file  %s\n"
                   "sources            %d\n",
                   c->cloud_url, c->ca_file, c->enrollment_token[0] ? "(set)" : "(not set)",
                   c->state_dir, c->batch_max_records, (long long)c->batch_max_bytes,
                   (long long)c->batch_max_age_ms, c->ship_window, (long long)c->poll_interval_ms,
                   (long long)c->request_timeout_ms, (long long)c->retry_base_ms,
                   (long long)c->retry_max_ms, (long long)c->max_line_bytes, c->zstd_level,
                   levels[c->log_level & 3],
                   c->cpu_sched == CONFIG_CPU_SCHED_BATCH   ? "SCHED_BATCH"
                   : c->cpu_sched == CONFIG_CPU_SCHED_OTHER ? "SCHED_OTHER"
                                                            : "SCHED_IDLE",
                   c->io_sched == CONFIG_IO_SCHED_BEST_EFFORT ? "best-effort 7" : "idle",
                   (long long)c->checkin_interval_ms,
                   c->machine_id_file[0] ? c->machine_id_file : "(host default)",
                   c->product_uuid_file[0] ? c->product_uuid_file : "(host default)",
                   c->n_sources);
  if (w < 0) return 0;
  n = (size_t)w < cap ? (size_t)w : cap - 1;
  w = snprintf(out + n, cap - n,
               "spool              quota %lld bytes; keep min(%d%% of the volume, %lld bytes) free;\n"
               "                   oldest records shed after %lld ms of back-pressure\n"
               "proxy              %s\n"
               "update             %s, every %lld s; probation %lld s; %d exits within %lld s fail it;\n"
               "                   binaries up to %lld MiB\n",
               (long long)c->spool_quota_bytes, c->spool_floor_pct,
               (long long)c->spool_floor_max_bytes, (long long)c->backpressure_max_ms,
               c->proxy[0] ? c->proxy : "(none; HTTPS_PROXY/NO_PROXY from the environment)",
               c->update_enabled ? "enabled" : "disabled", (long long)(c->update_check_interval_ms / 1000),
               (long long)(c->update_probation_ms / 1000), c->update_crash_loop_max,
               (long long)(c->update_crash_window_ms / 1000), (long long)(c->update_max_binary_bytes >> 20));
  if (w > 0) n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
  for (int i = 0; i < c->n_sources && n < cap - 1; i++) {
    w = snprintf(out + n, cap - n, "  - %s (new files read from the %s)\n", c->sources[i].path,
                 c->sources[i].start == CONFIG_START_END ? "end" : "beginning");
    if (w < 0) break;
    n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
  }
  return n;
}
