/* config.h - the agent's local configuration (JSON), parsed and validated.
 *
 * Unknown keys and bad values are errors that name the key (e.g.
 * "sources[1].start: must be \"end\" or \"beginning\""). The config is a plain
 * value type with fixed-size fields: no allocation, nothing to free.
 *
 * Return codes: CONFIG_OK (0) or CONFIG_EINVALID (-1) with the message in err.
 */
#ifndef OUTPOST_CORE_CONFIG_H
#define OUTPOST_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_OK 0
#define CONFIG_EINVALID (-1)

#define CONFIG_MAX_SOURCES 32
#define CONFIG_PATH_MAX 1024
#define CONFIG_URL_MAX 512
#define CONFIG_TOKEN_MAX 128
#define CONFIG_PEM_MAX 512 /* update_release_key_pem: one P-256 public key */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define CONFIG_MAX_BATCH_BYTES (3 * 1024 * 1024)
#define CONFIG_MAX_ROOTS 8
#define CONFIG_SHIP_WINDOW_MAX 16
#define CONFIG_SHIP_WINDOW_DEFAULT 4

typedef enum config_start { CONFIG_START_END = 0, CONFIG_START_BEGINNING = 1 } config_start;

/* issue #14: the agent's own CPU and I/O priority (docs/hardening.md,
 * "Priority"). Names are systemd's (CPUSchedulingPolicy=, IOSchedulingClass=).
 * Every CPU policy runs at nice 19; best-effort I/O runs at level 7 (the
 * lowest of its class). No real-time policy or class can be asked for. */
typedef enum config_cpu_sched {
  CONFIG_CPU_SCHED_IDLE = 0,  /* SCHED_IDLE: only time no one else wants */
  CONFIG_CPU_SCHED_BATCH = 1, /* SCHED_BATCH, nice 19 */
  CONFIG_CPU_SCHED_OTHER = 2  /* SCHED_OTHER, nice 19 */
} config_cpu_sched;
typedef enum config_io_sched {
  CONFIG_IO_SCHED_IDLE = 0,       /* I/O class idle */
  CONFIG_IO_SCHED_BEST_EFFORT = 1 /* I/O class best-effort, level 7 */
} config_io_sched;

#define CONFIG_PATTERN_MAX 128

typedef struct config_source {
  char path[CONFIG_PATH_MAX];     /* may hold a glob (* ? [..]) in its last component */
  config_start start;
  char multiline_start[CONFIG_PATTERN_MAX]; /* "" = one record per line (tail.h: pattern) */
} config_source;

typedef struct agent_config {
  char cloud_url[CONFIG_URL_MAX];       /* required, https://host[:port]; plain http is refused */
  char ca_file[CONFIG_PATH_MAX];        /* required for https */
  char enrollment_token[CONFIG_TOKEN_MAX]; /* required until enrolled */
  char state_dir[CONFIG_PATH_MAX];      /* required */
  config_source sources[CONFIG_MAX_SOURCES];
  int n_sources;
  /* batching */
  int batch_max_records;        /* default 1000, 1..10000 */
  int64_t batch_max_bytes;      /* default 1 MiB, 1 KiB..3 MiB (decoded NDJSON) */
  int64_t batch_max_age_ms;     /* default 5000: ship when the oldest record is this old */
  int ship_window;              /* issue #14: ingest batches in flight at once, default
                                 * CONFIG_SHIP_WINDOW_DEFAULT, 1..CONFIG_SHIP_WINDOW_MAX */
  int64_t poll_interval_ms;     /* default 1000: how often files are checked */
  int64_t unreadable_summary_ms; /* default 1 h ("unreadable_summary_s", 60..86400): how
                                 * often a source that stays unreadable is summarised
                                 * in the log (issue #17, core/tail.h) */
  int64_t request_timeout_ms;   /* default 30000 */
  int64_t retry_base_ms;        /* default 1000 */
  int64_t retry_max_ms;         /* default 300000 */
  int64_t read_chunk_bytes;     /* default 65536 (read buffer per source) */
  int64_t max_line_bytes;       /* default 65536 */
  int zstd_level;               /* default 3, 1..19 */
  int log_level;                /* os_log_level; default info */
  config_cpu_sched cpu_sched;   /* "cpu_scheduling_policy": idle|batch|other, default idle */
  config_io_sched io_sched;     /* "io_scheduling_class": idle|best-effort, default idle */
  /* identity (issue #4) */
  int64_t checkin_interval_ms;  /* default 300000: check in this often even when idle */
  /* "identity": {"machine_id_file": ..., "product_uuid_file": ...}: read these
   * instead of the host's sources (tests, containers). "" = the host's. The
   * core does not read them itself: the driver hands them to its os shim. */
  char machine_id_file[CONFIG_PATH_MAX];
  char product_uuid_file[CONFIG_PATH_MAX];
  /* issue #5: the box the cloud's policy cannot leave. Log files a policy
   * names are opened only under these roots (default ["/var/log"]); the
   * compiled-in deny list (core/policy.h) applies on top, always. */
  char allowed_log_roots[CONFIG_MAX_ROOTS][CONFIG_PATH_MAX];
  int n_allowed_log_roots;
  /* Optional Prometheus textfile (node_exporter textfile collector), written
   * temp+rename; "" = off. The status file is always state_dir/status.json. */
  char metrics_textfile[CONFIG_PATH_MAX];
  /* spool space (issue #3, docs/operations.md) */
  int64_t spool_quota_bytes;    /* default 256 MiB, 1 MiB..1 TiB */
  int spool_floor_pct;          /* default 5: keep min(5% of the volume, */
  int64_t spool_floor_max_bytes;/*   1 GiB) free; 0..50 %, 0..1 TiB */
  int64_t backpressure_max_ms;  /* default 300000: quota full this long -> shed oldest */
  int64_t max_record_bytes;     /* default 61440: a multi-line record is cut here */
  /* enterprise proxy (agent/curl); "" = none configured (HTTPS_PROXY/NO_PROXY
   * from the environment still apply, read by main.c) */
  char proxy[CONFIG_URL_MAX];   /* http://host:port or https://host:port */
  char proxy_ca_file[CONFIG_PATH_MAX]; /* CA for an https:// proxy */
  char no_proxy[CONFIG_URL_MAX];/* comma-separated hosts that bypass the proxy */
  /* issue #6: "update": {...} for the supervisor (docs/updates.md) */
  int64_t update_probation_ms;    /* "probation_s", default 600, 5..86400 s: a new
                                     version must report health within this */
  int update_crash_loop_max;      /* "crash_loop_max", default 3, 1..100: this many
                                     child exits within crash_window fail probation */
  int64_t update_crash_window_ms; /* "crash_window_s", default 300, 1..86400 s */
  /* issue #6, the updater in the agent (core/update.h) */
  int update_enabled;             /* "enabled", default false */
  char update_trusted_root[CONFIG_PATH_MAX]; /* "trusted_root": absolute path of the
                                     root.json to trust first ("" = one already in
                                     state_dir/update/metadata/) */
  int64_t update_check_interval_ms; /* "check_interval_s", default 3600, 60..604800 s */
  int64_t update_first_check_ms;  /* "first_check_s", default 300, 0..3600 s: the
                                     first check after start is at a random moment
                                     within this window (0: at once) */
  int64_t update_max_binary_bytes; /* "max_binary_mb", default 64, 1..256 MiB: a
                                     release target longer than this is refused
                                     before any byte is fetched (issue #17) */
  /* Not from JSON: the driver copies the compiled-in release key (PEM) here;
   * "" = none, updates stay off. */
  char update_release_key_pem[CONFIG_PEM_MAX];
} agent_config;

/* Fills *out with defaults (everything but the required strings). */
void config_defaults(agent_config *out);

/* Parses and validates JSON text (len bytes, need not be NUL-terminated). */
int config_parse(const char *json, size_t len, agent_config *out, char *err, size_t err_cap);

/* Writes a human-readable explanation of the effective config (for check-config).
 * Returns bytes written (truncated to cap-1, always NUL-terminated). */
size_t config_explain(const agent_config *cfg, char *out, size_t cap);

#endif
