/* update.c - the agent's updater (update.h). Decisions about trust are made
 * by tuf.c and release.c; this file is the I/O driver over the shims, in the
 * shape of tools/tuf-client (the conformance-tested reference workflow). */
#include "core/update.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "core/files.h"
#include "core/tuf.h"
#include "core/upstate.h"

#define HOUR_MS (3600 * 1000LL)
#define MAX_ROLE_LOADS 8     /* delegated roles loaded per check besides the ring */
#define MAX_ENUM 4096        /* ring entries looked at per check */
#define MAX_BACKOFF_SHIFT 16
/* The download's free-space re-check: often enough that others filling the
 * volume meanwhile stop it within a few MiB of the floor. */
#define SPACE_RECHECK_BYTES (4LL * 1024 * 1024)

typedef enum ustate {
  ST_IDLE = 0,
  ST_ROOT,
  ST_TIMESTAMP,
  ST_SNAPSHOT,
  ST_TARGETS,
  ST_ROLE, /* the ring role, or a role the target search needs */
  ST_BINARY,
  ST_SIG,
} ustate;

struct updater {
  char state_dir[OS_PATH_MAX];
  char cloud_url[NET_MAX_URL / 2];
  char running[RELEASE_VERSION_MAX];
  char arch[RELEASE_ARCH_MAX];
  uint8_t key_der[CRYPTO_PUB_DER_MAX];
  size_t key_len;
  int64_t interval, retry_base, req_timeout, dl_timeout;
  size_t max_binary;
  update_space space; /* all NULL: no gate */
  const os_shim *os;
  const net_shim *net;

  ustate state;
  int64_t now, wall;
  int64_t next_check;
  int attempt;
  int exit_code;
  tuf_set *set;
  tuf_limits lim;
  char ring[TUF_MAX_ROLE_NAME + 1];
  char role[TUF_MAX_ROLE_NAME + 1], role_from[TUF_MAX_ROLE_NAME + 1];
  int role_loads;
  int selected; /* a candidate is chosen: role loads now serve the target search */

  /* the request in flight / its completion */
  int inflight, done;
  uint64_t req_id;
  char req_url[NET_MAX_URL];
  size_t req_max;
  int r_error, r_status, r_toobig;
  uint8_t *r_body;
  size_t r_len;

  char cand[RELEASE_VERSION_MAX];
  char cand_path[TUF_MAX_TARGET_PATH + 1];
  tuf_target bin_t, sig_t;
  /* the binary streams into UPDATE_DOWNLOAD_FILE, hashed as it comes */
  os_file *dl;
  tuf_target_hasher *dl_hash;
  int64_t dl_bytes, dl_recheck_at;
  int dl_held;                 /* space.hold() granted the bytes */
  int dl_verified;             /* length and every TUF hash matched */
  char dl_why[UPDATE_MSG_MAX]; /* why the sink stopped the transfer */

  update_report q[UPDATE_MAX_REPORTS];
  int nq;
  int64_t next_seq;
  int64_t sup_through; /* seq of the last report taken from the supervisor's report.json (0: none) */
  update_stats st;
};

static void ulog(updater *u, os_log_level lv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ulog(updater *u, os_log_level lv, const char *fmt, ...) {
  char msg[UPDATE_MSG_MAX + 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (u->os->log) u->os->log(u->os->ctx, lv, msg);
}

/* ---- reports ---- */

static int path_in(const updater *u, char *out, size_t cap, const char *rel);

static void queue_report(updater *u, const char *kind, const char *msg) {
  if (u->nq == UPDATE_MAX_REPORTS) {
    memmove(&u->q[0], &u->q[1], sizeof u->q[0] * (UPDATE_MAX_REPORTS - 1));
    u->nq--;
  }
  update_report *r = &u->q[u->nq++];
  memset(r, 0, sizeof *r);
  r->seq = ++u->next_seq;
  snprintf(r->kind, sizeof r->kind, "%s", kind);
  snprintf(r->ring, sizeof r->ring, "%.23s", u->ring);
  snprintf(r->version, sizeof r->version, "%s", u->cand);
  snprintf(r->message, sizeof r->message, "%s", msg);
  r->at_ms = u->wall;
}

int update_peek_reports(const updater *u, update_report *out, int cap) {
  int n = 0;
  for (; u && out && n < cap && n < u->nq; n++) out[n] = u->q[n];
  return n;
}

void update_reports_sent(updater *u, int64_t through_seq) {
  if (!u) return;
  int k = 0;
  while (k < u->nq && u->q[k].seq <= through_seq) k++;
  memmove(&u->q[0], &u->q[k], sizeof u->q[0] * (size_t)(u->nq - k));
  u->nq -= k;
  /* The supervisor's events reached the cloud: only now may its file go. It
   * writes report.json only while no agent runs, so nothing new is lost. */
  if (u->sup_through > 0 && through_seq >= u->sup_through) {
    char p[OS_PATH_MAX];
    if (path_in(u, p, sizeof p, UPSTATE_REPORT_FILE) == OS_OK) (void)u->os->unlink(u->os->ctx, p);
    u->sup_through = 0;
  }
}

/* The supervisor's rollbacks and refusals (update/report.json) travel to the
 * cloud with the updater's own reports, kind and version unchanged. */
static void take_supervisor_reports(updater *u) {
  upstate_report ev[UPSTATE_MAX_REPORTS];
  int n = 0;
  char err[160];
  if (upstate_load_reports(u->os, u->state_dir, ev, UPSTATE_MAX_REPORTS, &n, err, sizeof err) != OS_OK)
    return; /* absent (the usual case) or unreadable: the supervisor replaces a bad file */
  /* Newest last, and the queue keeps at most UPDATE_MAX_REPORTS. */
  for (int i = n > UPDATE_MAX_REPORTS ? n - UPDATE_MAX_REPORTS : 0; i < n; i++) {
    if (u->nq == UPDATE_MAX_REPORTS) {
      memmove(&u->q[0], &u->q[1], sizeof u->q[0] * (UPDATE_MAX_REPORTS - 1));
      u->nq--;
    }
    update_report *r = &u->q[u->nq++];
    memset(r, 0, sizeof *r);
    r->seq = ++u->next_seq;
    snprintf(r->kind, sizeof r->kind, "%s", ev[i].kind);
    snprintf(r->version, sizeof r->version, "%s", ev[i].version);
    /* The updater's own reports kept across its restart carry no prefix. */
    int own = strcmp(ev[i].kind, "staged") == 0;
    snprintf(r->message, sizeof r->message, "%s%s", own ? "" : "supervisor: ", ev[i].reason);
    r->at_ms = ev[i].at_ms;
    u->sup_through = r->seq;
  }
}

/* The process exits right after staging, before its next check-in: what is
 * still queued (the "staged" report and any refusal not yet sent) goes to
 * report.json, which the supervisor appends to and the next process sends.
 * The queue is emptied so a send racing the exit cannot deliver it twice. */
static void persist_reports(updater *u) {
  for (int i = 0; i < u->nq; i++) {
    upstate_report r;
    memset(&r, 0, sizeof r);
    snprintf(r.kind, sizeof r.kind, "%s", u->q[i].kind);
    snprintf(r.version, sizeof r.version, "%s", u->q[i].version);
    snprintf(r.reason, sizeof r.reason, "%.*s", (int)sizeof r.reason - 1, u->q[i].message); /* cut */
    r.at_ms = u->q[i].at_ms;
    if (upstate_add_report(u->os, u->state_dir, &r) != OS_OK) {
      ulog(u, OS_LOG_WARN, "update: cannot keep the %s report for the next start (update/report.json)",
           u->q[i].kind);
      return; /* keep the rest queued: a send before the exit may still deliver them */
    }
  }
  u->nq = 0;
}

/* ---- end of a check ---- */

static void download_drop(updater *u, int keep_file);

static void reset_check(updater *u) {
  tuf_close(u->set);
  u->set = NULL;
  download_drop(u, 0);
  free(u->r_body);
  u->r_body = NULL;
  u->r_len = 0;
  u->state = ST_IDLE;
  u->selected = 0;
  u->role_loads = 0;
}

static void finish_ok(updater *u) {
  reset_check(u);
  u->attempt = 0;
  u->next_check = u->now + u->interval;
}

static void backoff(updater *u) {
  int shift = u->attempt < MAX_BACKOFF_SHIFT ? u->attempt : MAX_BACKOFF_SHIFT;
  int64_t d = u->retry_base << shift;
  if (d > u->interval || d <= 0) d = u->interval;
  u->attempt++;
  u->next_check = u->now + d;
}

/* kind "refused": a trust failure (never retried sooner than the back-off,
 * never trusted); "error": local trouble worth the cloud knowing. Transport
 * failures (kind NULL) are only logged: they cannot be delivered anyway. */
static void fail(updater *u, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(updater *u, const char *kind, const char *fmt, ...) {
  char msg[UPDATE_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  u->st.failures++;
  if (kind && strcmp(kind, "refused") == 0) u->st.refusals++;
  snprintf(u->st.last_error, sizeof u->st.last_error, "%s", msg);
  ulog(u, kind ? OS_LOG_WARN : OS_LOG_INFO, "update: %s%s; running %s kept",
       kind && strcmp(kind, "refused") == 0 ? "refused: " : "", msg, u->running);
  if (kind) queue_report(u, kind, msg);
  reset_check(u);
  backoff(u);
}

static void fail_tuf(updater *u, int rc) {
  fail(u, "refused", "%s (%s)", tuf_error(u->set), tuf_strerror(rc));
}

/* ---- files ---- */

static int path_in(const updater *u, char *out, size_t cap, const char *rel) {
  int n = snprintf(out, cap, "%s/%s", u->state_dir, rel);
  return n > 0 && (size_t)n < cap ? OS_OK : OS_ENAMETOOLONG;
}

/* *buf malloc'd on OS_OK. OS_EFBIG over max. */
static int read_all(const updater *u, const char *path, size_t max, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  os_stat st;
  int rc = u->os->stat(u->os->ctx, path, &st);
  if (rc != OS_OK) return rc;
  if (st.is_dir) return OS_EISDIR;
  if (st.size < 0 || (uint64_t)st.size > max) return OS_EFBIG;
  uint8_t *b = malloc((size_t)st.size + 1);
  if (!b) return OS_ENOMEM;
  rc = files_read_small(u->os, path, b, (size_t)st.size + 1, len);
  if (rc != OS_OK || *len > max) {
    free(b);
    return rc != OS_OK ? rc : OS_EFBIG;
  }
  *buf = b;
  return OS_OK;
}

static int md_path(const updater *u, const char *role, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s/" UPDATE_METADATA_DIR "/%s.json", u->state_dir, role);
  return n > 0 && (size_t)n < cap ? OS_OK : OS_ENAMETOOLONG;
}

static int load_local(const updater *u, const char *role, size_t max, uint8_t **buf, size_t *len) {
  char p[OS_PATH_MAX];
  if (md_path(u, role, p, sizeof p) != OS_OK) return OS_ENAMETOOLONG;
  return read_all(u, p, max, buf, len);
}

/* Accepted metadata only; 0 or fails the check. */
static int persist(updater *u, const char *role, const uint8_t *data, size_t len) {
  char p[OS_PATH_MAX];
  int rc = md_path(u, role, p, sizeof p);
  if (rc == OS_OK) rc = files_write_atomic(u->os, p, data, len, 0600);
  if (rc != OS_OK) {
    fail(u, "error", "%s: cannot write %s/%s.json: %s", role, UPDATE_METADATA_DIR, role,
         files_strerror(rc));
    return -1;
  }
  return 0;
}

/* Role names go into file names and URLs: nothing but [a-z0-9_-]. */
static int safe_name(const char *s) {
  if (!*s || strlen(s) > 64) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_')) return 0;
  return 1;
}

/* ---- requests ---- */

static int download_sink(void *user, const uint8_t *data, size_t len);

static void on_reply(void *user, const net_response *r) {
  updater *u = user;
  u->inflight = 0;
  u->req_id = 0;
  u->done = 1;
  u->r_error = r->error;
  u->r_status = r->status;
  u->r_toobig = r->error == NET_ETOOBIG;
  free(u->r_body);
  u->r_body = NULL;
  u->r_len = 0;
  if (r->error != NET_OK || r->status != 200) return;
  /* The shim caps at max_response_bytes; a shim that does not must not get
   * more past this check (endless data). */
  if (r->body_len > u->req_max) {
    u->r_toobig = 1;
    return;
  }
  if (u->state == ST_BINARY) {
    /* A shim that ignored the sink: the body takes the same path. */
    if (r->body_len && download_sink(u, r->body, r->body_len) != 0) u->r_error = NET_EABORTED;
    return;
  }
  u->r_body = malloc(r->body_len ? r->body_len : 1);
  if (!u->r_body) {
    u->r_error = NET_ENOMEM;
    return;
  }
  if (r->body_len) memcpy(u->r_body, r->body, r->body_len);
  u->r_len = r->body_len;
}

static void get(updater *u, ustate st, const char *url, size_t max, int64_t timeout) {
  snprintf(u->req_url, sizeof u->req_url, "%s", url);
  u->req_max = max;
  net_request req = {.method = "GET", .url = url, .timeout_ms = timeout, .max_response_bytes = max,
                     .sink = st == ST_BINARY ? download_sink : NULL};
  uint64_t id = 0;
  int rc = u->net->request(u->net->ctx, &req, on_reply, u, &id);
  if (rc != NET_OK) {
    fail(u, NULL, "GET %s not sent: net error %d", url, rc);
    return;
  }
  u->state = st;
  u->inflight = 1;
  u->req_id = id;
}

static void get_md(updater *u, ustate st, const char *role, int64_t version, size_t max) {
  char url[NET_MAX_URL];
  int n = version > 0 ? snprintf(url, sizeof url, "%s/v1/tuf/%lld.%s.json", u->cloud_url, (long long)version, role)
                      : snprintf(url, sizeof url, "%s/v1/tuf/%s.json", u->cloud_url, role);
  if (n <= 0 || (size_t)n >= sizeof url) {
    fail(u, "error", "%s: URL too long", role);
    return;
  }
  get(u, st, url, max, u->req_timeout);
}

/* ---- the workflow ---- */

static void enter_role(updater *u, const char *role, const char *from);
static void select_version(updater *u);
static void resolve(updater *u);

static void enter_timestamp(updater *u) {
  unsigned rot = tuf_rotated(u->set);
  if (rot) {
    /* Fast-forward recovery (spec 5.3.11): versions signed by rotated-out
     * keys must not block the repository's new, lower ones. */
    char p[OS_PATH_MAX];
    if (md_path(u, "timestamp", p, sizeof p) == OS_OK) u->os->unlink(u->os->ctx, p);
    if (md_path(u, "snapshot", p, sizeof p) == OS_OK) u->os->unlink(u->os->ctx, p);
    ulog(u, OS_LOG_INFO, "update: root rotated a timestamp/snapshot key; local copies dropped");
  }
  uint8_t *b;
  size_t n;
  if (load_local(u, "timestamp", u->lim.timestamp, &b, &n) == OS_OK) {
    (void)tuf_update_timestamp(u->set, b, n); /* only a rollback reference: the remote decides */
    free(b);
  }
  get_md(u, ST_TIMESTAMP, "timestamp", 0, u->lim.timestamp);
}

static void fetch_meta(updater *u, ustate st, const char *role) {
  int64_t v = 0;
  size_t max = 0;
  int rc = tuf_meta_for(u->set, role, &v, &max);
  if (rc != TUF_OK) {
    fail_tuf(u, rc);
    return;
  }
  get_md(u, st, role, tuf_consistent_snapshot(u->set) ? v : 0, max);
}

static void enter_targets(updater *u) {
  uint8_t *b;
  size_t n;
  if (load_local(u, "targets", u->lim.targets, &b, &n) == OS_OK) {
    int rc = tuf_update_targets(u->set, b, n);
    free(b);
    if (rc == TUF_OK) {
      enter_role(u, u->ring, "targets");
      return;
    }
  }
  fetch_meta(u, ST_TARGETS, "targets");
}

static void enter_snapshot(updater *u) {
  uint8_t *b;
  size_t n;
  if (load_local(u, "snapshot", u->lim.snapshot, &b, &n) == OS_OK) {
    int rc = tuf_update_snapshot(u->set, b, n, 1);
    free(b);
    if (rc == TUF_OK) {
      enter_targets(u);
      return;
    }
  }
  fetch_meta(u, ST_SNAPSHOT, "snapshot");
}

static void enter_role(updater *u, const char *role, const char *from) {
  if (!safe_name(role) || !safe_name(from)) {
    fail(u, "refused", "delegated role name \"%.64s\" is not a plain name", role);
    return;
  }
  snprintf(u->role, sizeof u->role, "%s", role);
  snprintf(u->role_from, sizeof u->role_from, "%s", from);
  uint8_t *b;
  size_t n;
  if (load_local(u, role, u->lim.targets, &b, &n) == OS_OK) {
    int rc = tuf_update_delegated_targets(u->set, b, n, role, from);
    free(b);
    if (rc == TUF_OK) {
      if (u->selected) resolve(u);
      else select_version(u);
      return;
    }
  }
  fetch_meta(u, ST_ROLE, role);
}

static void start_check(updater *u, const char *ring) {
  reset_check(u);
  u->st.checks++;
  u->wall = u->os->wall_ms(u->os->ctx);
  u->cand[0] = 0;
  snprintf(u->ring, sizeof u->ring, "%s", ring && *ring ? ring : "stable");
  if (!safe_name(u->ring)) {
    fail(u, "error", "ring \"%.64s\" is not a plain name", u->ring);
    return;
  }
  uint8_t *b;
  size_t n;
  int rc = load_local(u, "root", u->lim.root, &b, &n);
  if (rc != OS_OK) {
    fail(u, "error", "root: cannot read %s/root.json: %s", UPDATE_METADATA_DIR, files_strerror(rc));
    return;
  }
  char err[256];
  rc = tuf_open(b, n, u->wall, &u->lim, &u->set, err, sizeof err);
  free(b);
  if (rc != TUF_OK) {
    fail(u, "refused", "root: trusted root.json: %s (%s)", err, tuf_strerror(rc));
    return;
  }
  get_md(u, ST_ROOT, "root", tuf_root_version(u->set) + 1, u->lim.root);
}

/* "<ring>/outpost-agent/<v>/outpost-agent-linux-<arch>" */
static int binary_path(const updater *u, const char *v, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s/" RELEASE_NAME "/%s/" RELEASE_NAME "-linux-%s", u->ring, v, u->arch);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void select_version(updater *u) {
  upstate ust;
  char err[256];
  if (upstate_load(u->os, u->state_dir, &ust, err, sizeof err) != OS_OK) {
    fail(u, "error", "%s", err);
    return;
  }
  u->selected = 1;
  tuf_target t;
  char v[RELEASE_VERSION_MAX], want[TUF_MAX_TARGET_PATH + 1];
  release_version best = {0, 0, 0}, run = {0, 0, 0}, floor = {0, 0, 0};
  int have = 0, seen = 0;
  (void)release_version_parse(u->running, &run);
  if (ust.floor[0]) (void)release_version_parse(ust.floor, &floor);
  for (size_t i = 0; i < MAX_ENUM; i++) {
    int rc = tuf_role_target_at(u->set, u->ring, i, &t, v, sizeof v);
    if (rc != TUF_OK) break;
    release_version rv;
    if (release_version_parse(v, &rv) != RELEASE_OK || binary_path(u, v, want, sizeof want) != 0 ||
        strcmp(want, t.path) != 0)
      continue; /* another arch, a .sig, or not ours */
    seen++;
    if (release_version_cmp(&rv, &run) <= 0 || release_version_cmp(&rv, &floor) <= 0 ||
        upstate_is_bad(&ust, v))
      continue;
    if (!have || release_version_cmp(&rv, &best) > 0) {
      best = rv;
      snprintf(u->cand, sizeof u->cand, "%s", v);
      have = 1;
    }
  }
  if (!have) {
    ulog(u, OS_LOG_DEBUG, "update: %s: nothing newer than %s (floor %s) among %d release(s)", u->ring,
         u->running, ust.floor[0] ? ust.floor : "none", seen);
    finish_ok(u);
    return;
  }
  if (binary_path(u, u->cand, u->cand_path, sizeof u->cand_path) != 0) {
    fail(u, "error", "%s: target path too long", u->cand);
    return;
  }
  ulog(u, OS_LOG_INFO, "update: %s offers %s (running %s)", u->ring, u->cand, u->running);
  resolve(u);
}

static int target_url(const updater *u, const tuf_target *t, char *out, size_t cap) {
  for (const char *p = t->path; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
          *p == '-' || *p == '_' || *p == '/'))
      return -1;
  if (t->n_hashes == 0 || strcmp(t->hashes[0].alg, "sha256") != 0) return -1;
  const char *slash = strrchr(t->path, '/');
  int dirlen = slash ? (int)(slash - t->path) + 1 : 0;
  int n = tuf_consistent_snapshot(u->set)
              ? snprintf(out, cap, "%s/v1/targets/%.*s%s.%s", u->cloud_url, dirlen, t->path, t->hashes[0].hex,
                         t->path + dirlen)
              : snprintf(out, cap, "%s/v1/targets/%s", u->cloud_url, t->path);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Finds path by the spec's search order, loading roles it needs. 1 found,
 * 0 a role load was started or the check failed. */
static int find(updater *u, const char *path, tuf_target *out) {
  char need[TUF_MAX_ROLE_NAME + 1], from[TUF_MAX_ROLE_NAME + 1];
  int rc = tuf_find_target(u->set, path, out, need, from);
  if (rc == TUF_OK) return 1;
  if (rc == TUF_ENEED && u->role_loads < MAX_ROLE_LOADS) {
    u->role_loads++;
    enter_role(u, need, from);
    return 0;
  }
  fail_tuf(u, rc);
  return 0;
}

/* ---- the binary's download (issue #17) ----
 * Streamed to UPDATE_DOWNLOAD_FILE and hashed as it arrives: memory stays at
 * one network piece whatever the target's length. Its bytes (binary and
 * .sig) are held in the spool's quota before the first one is written, and
 * the room above the free-space floor is re-checked every
 * SPACE_RECHECK_BYTES: the update waits (report, back-off) rather than push
 * the host under the floor. */

static void download_drop(updater *u, int keep_file) {
  if (u->dl) (void)u->os->close(u->os->ctx, u->dl);
  u->dl = NULL;
  tuf_target_hash_free(u->dl_hash);
  u->dl_hash = NULL;
  if (!keep_file) {
    char p[OS_PATH_MAX];
    if (path_in(u, p, sizeof p, UPDATE_DOWNLOAD_FILE) == OS_OK) (void)u->os->unlink(u->os->ctx, p);
    if (u->dl_held && u->space.hold) {
      char why[8];
      (void)u->space.hold(u->space.user, 0, why, sizeof why);
    }
    u->dl_held = 0;
  }
  u->dl_bytes = 0;
  u->dl_verified = 0;
  u->dl_why[0] = 0;
}

static int download_begin(updater *u) {
  int64_t need = u->bin_t.length + u->sig_t.length;
  char why[UPDATE_MSG_MAX - 64];
  why[0] = 0;
  download_drop(u, 0); /* a leftover from a crash or power cut */
  if (u->space.hold && u->space.hold(u->space.user, need, why, sizeof why) != 0) {
    fail(u, "error", "%s (%lld bytes) waits for space: %s", u->cand, (long long)need, why);
    return -1;
  }
  u->dl_held = u->space.hold != NULL;
  int rc = tuf_target_hash_begin(u->set, &u->bin_t, &u->dl_hash);
  if (rc != TUF_OK) {
    fail_tuf(u, rc);
    return -1;
  }
  char p[OS_PATH_MAX];
  int orc = path_in(u, p, sizeof p, UPDATE_DOWNLOAD_FILE);
  if (orc == OS_OK)
    orc = u->os->open(u->os->ctx, p, OS_O_WRITE | OS_O_CREATE | OS_O_TRUNC | OS_O_NOFOLLOW, 0600, &u->dl);
  if (orc != OS_OK) {
    fail(u, "error", "%s: cannot create %s: %s", u->cand, UPDATE_DOWNLOAD_FILE, files_strerror(orc));
    return -1;
  }
  u->dl_recheck_at = SPACE_RECHECK_BYTES;
  return 0;
}

/* The net shim's sink: outside update_step, like on_reply. Non-zero stops
 * the transfer; dl_why says why. */
static int download_sink(void *user, const uint8_t *data, size_t len) {
  updater *u = user;
  if (!u->dl || u->dl_why[0]) return -1;
  if ((uint64_t)len > (uint64_t)(u->bin_t.length - u->dl_bytes)) {
    snprintf(u->dl_why, sizeof u->dl_why, "%.200s: more than its %lld bytes (endless data)", u->bin_t.path,
             (long long)u->bin_t.length);
    return -1;
  }
  if (u->dl_bytes + (int64_t)len >= u->dl_recheck_at && u->space.room) {
    char why[UPDATE_MSG_MAX - 96];
    why[0] = 0;
    if (u->space.room(u->space.user, u->bin_t.length - u->dl_bytes + u->sig_t.length, why, sizeof why) != 0) {
      snprintf(u->dl_why, sizeof u->dl_why, "%s stopped at %lld of %lld bytes: %s", u->cand,
               (long long)u->dl_bytes, (long long)u->bin_t.length, why);
      return -1;
    }
    u->dl_recheck_at += SPACE_RECHECK_BYTES;
  }
  int64_t w = u->os->pwrite(u->os->ctx, u->dl, data, len, u->dl_bytes);
  if (w < 0) {
    snprintf(u->dl_why, sizeof u->dl_why, "%s: writing %s: %s", u->cand, UPDATE_DOWNLOAD_FILE,
             files_strerror((int)w));
    return -1;
  }
  tuf_target_hash_update(u->dl_hash, data, len);
  u->dl_bytes += (int64_t)len;
  return 0;
}

/* The whole binary arrived: its TUF length and hashes, then durable. */
static int download_finish(updater *u) {
  tuf_target_hasher *h = u->dl_hash;
  u->dl_hash = NULL;
  int rc = tuf_target_hash_finish(u->set, h);
  if (rc != TUF_OK) {
    fail_tuf(u, rc);
    return -1;
  }
  int orc = u->os->sync(u->os->ctx, u->dl);
  int crc = u->os->close(u->os->ctx, u->dl);
  u->dl = NULL;
  if (orc == OS_OK) orc = crc;
  if (orc != OS_OK) {
    fail(u, "error", "%s: syncing %s: %s", u->cand, UPDATE_DOWNLOAD_FILE, files_strerror(orc));
    return -1;
  }
  u->dl_verified = 1;
  return 0;
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char c = hex[2 * i + (size_t)k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return hex[2 * n] == 0 ? 0 : -1;
}

static void resolve(updater *u) {
  char sig_path[TUF_MAX_TARGET_PATH + 8];
  snprintf(sig_path, sizeof sig_path, "%s.sig", u->cand_path);
  if (!find(u, u->cand_path, &u->bin_t) || !find(u, sig_path, &u->sig_t)) return;
  char url[NET_MAX_URL];
  if (u->bin_t.length <= 0 || (uint64_t)u->bin_t.length > u->max_binary) {
    fail(u, "refused", "%s: length %lld outside 1..%zu", u->bin_t.path, (long long)u->bin_t.length, u->max_binary);
    return;
  }
  if (u->sig_t.length <= 0 || u->sig_t.length > RELEASE_SIG_FILE_MAX) {
    fail(u, "refused", "%s: length %lld outside 1..%d", u->sig_t.path, (long long)u->sig_t.length,
         RELEASE_SIG_FILE_MAX);
    return;
  }
  if (target_url(u, &u->bin_t, url, sizeof url) != 0) {
    fail(u, "refused", "%s: no sha256 or unusable path for a URL", u->bin_t.path);
    return;
  }
  if (download_begin(u) != 0) return;
  get(u, ST_BINARY, url, (size_t)u->bin_t.length, u->dl_timeout);
}

static void stage(updater *u, const uint8_t *sig, size_t sig_len) {
  release_expect exp;
  memset(&exp, 0, sizeof exp);
  exp.pub_der = u->key_der;
  exp.pub_len = u->key_len;
  /* The file's sha256 is the TUF one it was just checked against. */
  if (!u->dl_verified || strcmp(u->bin_t.hashes[0].alg, "sha256") != 0 ||
      hex_to_bytes(u->bin_t.hashes[0].hex, exp.sha256, CRYPTO_SHA256_LEN) != 0) {
    fail(u, "refused", "%s: no verified sha256 for the release check", u->cand);
    return;
  }
  exp.length = u->dl_bytes;
  exp.arch = u->arch;
  exp.version = u->cand;
  char err[256];
  int rc = release_verify(&exp, (const char *)sig, sig_len, NULL, err, sizeof err);
  if (rc != RELEASE_OK) {
    fail(u, "refused", "release signature of %s: %s (%s)", u->cand, err, release_strerror(rc));
    return;
  }
  char dir[OS_PATH_MAX], rel[64 + RELEASE_VERSION_MAX], p[OS_PATH_MAX], ps[OS_PATH_MAX], part[OS_PATH_MAX];
  snprintf(rel, sizeof rel, "bin/%s", u->cand);
  int orc = path_in(u, dir, sizeof dir, "bin");
  if (orc == OS_OK) orc = files_ensure_dir(u->os, dir, 0700);
  if (orc == OS_OK) orc = path_in(u, dir, sizeof dir, rel);
  if (orc == OS_OK) orc = files_ensure_dir(u->os, dir, 0700);
  if (orc == OS_OK) orc = files_join(p, sizeof p, dir, RELEASE_NAME);
  if (orc == OS_OK) orc = files_join(ps, sizeof ps, dir, RELEASE_NAME ".sig");
  /* The .sig first: the binary appearing is what makes a staged version. */
  if (orc == OS_OK) orc = files_write_atomic(u->os, ps, sig, sig_len, 0644);
  if (orc == OS_OK) orc = path_in(u, part, sizeof part, UPDATE_DOWNLOAD_FILE);
  if (orc == OS_OK) orc = u->os->chmod(u->os->ctx, part, 0755);
  if (orc == OS_OK) orc = u->os->rename(u->os->ctx, part, p);
  upstate_pending pend;
  memset(&pend, 0, sizeof pend);
  snprintf(pend.version, sizeof pend.version, "%s", u->cand);
  crypto_hex(exp.sha256, CRYPTO_SHA256_LEN, pend.sha256);
  pend.length = u->dl_bytes;
  if (orc == OS_OK) orc = upstate_save_pending(u->os, u->state_dir, &pend);
  if (orc != OS_OK) {
    fail(u, "error", "staging %s under %s: %s", u->cand, rel, files_strerror(orc));
    return;
  }
  char msg[UPDATE_MSG_MAX];
  snprintf(msg, sizeof msg, "%s staged from %.23s (sha256 %.16s..., %lld bytes); restarting", u->cand, u->ring,
           pend.sha256, (long long)u->dl_bytes);
  ulog(u, OS_LOG_INFO, "update: %s", msg);
  queue_report(u, "staged", msg);
  persist_reports(u);
  u->st.staged++;
  snprintf(u->st.staged_version, sizeof u->st.staged_version, "%s", u->cand);
  reset_check(u);
  u->exit_code = UPDATE_EXIT_RESTART;
}

static void handle_reply(updater *u) {
  u->done = 0;
  if (u->r_toobig) {
    fail(u, "refused", "%s: reply longer than the %zu bytes allowed (endless data)", u->req_url, u->req_max);
    return;
  }
  if (u->state == ST_BINARY && u->dl_why[0]) {
    /* The sink stopped it: endless data is a refusal; space and disk wait. */
    char why[UPDATE_MSG_MAX];
    snprintf(why, sizeof why, "%s", u->dl_why);
    fail(u, strstr(why, "endless data") ? "refused" : "error", "%s", why);
    return;
  }
  if (u->r_error != NET_OK) {
    fail(u, NULL, "GET %s: net error %d", u->req_url, u->r_error);
    return;
  }
  if (u->state == ST_ROOT && (u->r_status == 404 || u->r_status == 403)) {
    enter_timestamp(u); /* the trusted root is the newest */
    return;
  }
  if (u->r_status != 200) {
    fail(u, NULL, "GET %s: HTTP %d", u->req_url, u->r_status);
    return;
  }
  u->st.bytes_downloaded += u->state == ST_BINARY ? u->dl_bytes : (int64_t)u->r_len;
  uint8_t *b = u->r_body;
  size_t n = u->r_len;
  int rc;
  switch (u->state) {
    case ST_ROOT:
      rc = tuf_update_root(u->set, b, n);
      if (rc != TUF_OK) {
        fail_tuf(u, rc);
        return;
      }
      if (persist(u, "root", b, n) == 0) get_md(u, ST_ROOT, "root", tuf_root_version(u->set) + 1, u->lim.root);
      return;
    case ST_TIMESTAMP:
      rc = tuf_update_timestamp(u->set, b, n);
      if (rc == TUF_EEQUAL) {
        enter_snapshot(u);
        return;
      }
      if (rc != TUF_OK) {
        fail_tuf(u, rc);
        return;
      }
      if (persist(u, "timestamp", b, n) == 0) enter_snapshot(u);
      return;
    case ST_SNAPSHOT:
      rc = tuf_update_snapshot(u->set, b, n, 0);
      if (rc != TUF_OK) {
        fail_tuf(u, rc);
        return;
      }
      if (persist(u, "snapshot", b, n) == 0) enter_targets(u);
      return;
    case ST_TARGETS:
      rc = tuf_update_targets(u->set, b, n);
      if (rc != TUF_OK) {
        fail_tuf(u, rc);
        return;
      }
      if (persist(u, "targets", b, n) == 0) enter_role(u, u->ring, "targets");
      return;
    case ST_ROLE:
      rc = tuf_update_delegated_targets(u->set, b, n, u->role, u->role_from);
      if (rc != TUF_OK) {
        fail_tuf(u, rc);
        return;
      }
      if (persist(u, u->role, b, n) != 0) return;
      if (u->selected) resolve(u);
      else select_version(u);
      return;
    case ST_BINARY: {
      if (download_finish(u) != 0) return;
      char url[NET_MAX_URL];
      if (target_url(u, &u->sig_t, url, sizeof url) != 0) {
        fail(u, "refused", "%s: no sha256 or unusable path for a URL", u->sig_t.path);
        return;
      }
      get(u, ST_SIG, url, (size_t)u->sig_t.length, u->req_timeout);
      return;
    }
    case ST_SIG:
      rc = tuf_verify_target(u->set, b, n, &u->sig_t);
      if (rc != TUF_OK) {
        fail_tuf(u, rc);
        return;
      }
      stage(u, b, n);
      return;
    case ST_IDLE:
      return;
  }
}

int64_t update_step(updater *u, int64_t now_mono_ms, const char *ring) {
  u->now = now_mono_ms;
  if (u->exit_code) return now_mono_ms + HOUR_MS;
  /* Each completion issues at most one new request (or ends the check);
   * local metadata is read synchronously along the way. */
  if (u->done) handle_reply(u);
  if (!u->inflight && u->state == ST_IDLE && now_mono_ms >= u->next_check) start_check(u, ring);
  if (u->exit_code) return now_mono_ms + 1; /* staged: let the caller see it now */
  if (u->inflight) return now_mono_ms + (u->state == ST_BINARY ? u->dl_timeout : u->req_timeout) + 1000;
  return u->next_check > now_mono_ms ? u->next_check : now_mono_ms + 1;
}

int update_exit_code(const updater *u) { return u ? u->exit_code : 0; }

void update_get_stats(const updater *u, update_stats *out) {
  if (u) *out = u->st;
  else memset(out, 0, sizeof *out);
}

/* Copies the seed root in when no trusted root is held, verified first so a
 * bad seed is refused at once (the tuf-client's init). */
static int seed_root(updater *u, const char *seed, char *err, size_t cap) {
  char p[OS_PATH_MAX];
  os_stat st;
  if (md_path(u, "root", p, sizeof p) != OS_OK) {
    snprintf(err, cap, "state_dir too long");
    return UPDATE_EINVAL;
  }
  if (u->os->stat(u->os->ctx, p, &st) == OS_OK) return UPDATE_OK;
  if (!seed || !*seed) {
    snprintf(err, cap, "no trusted root: %s is absent and update.trusted_root is not set", p);
    return UPDATE_EOFF;
  }
  uint8_t *b;
  size_t n;
  int rc = read_all(u, seed, u->lim.root, &b, &n);
  if (rc != OS_OK) {
    snprintf(err, cap, "update.trusted_root %.200s: %s", seed, files_strerror(rc));
    return UPDATE_EOFF;
  }
  char terr[200];
  tuf_set *s = NULL;
  int trc = tuf_open(b, n, 0, &u->lim, &s, terr, sizeof terr);
  tuf_close(s);
  if (trc != TUF_OK) {
    free(b);
    snprintf(err, cap, "update.trusted_root %.200s: %s", seed, terr);
    return UPDATE_EOFF;
  }
  rc = files_write_atomic(u->os, p, b, n, 0600);
  free(b);
  if (rc != OS_OK) {
    snprintf(err, cap, "%.200s: %s", p, files_strerror(rc));
    return UPDATE_EOFF;
  }
  return UPDATE_OK;
}

int update_open(const update_config *cfg, const os_shim *os, const net_shim *net, updater **out,
                char *err, size_t err_cap) {
  char dummy[8];
  if (!err || err_cap == 0) {
    err = dummy;
    err_cap = sizeof dummy;
  }
  err[0] = 0;
  if (!out) return UPDATE_EINVAL;
  *out = NULL;
  if (!cfg || !os || !net || !cfg->state_dir || !cfg->cloud_url || !cfg->running_version) {
    snprintf(err, err_cap, "update: missing argument");
    return UPDATE_EINVAL;
  }
  release_version rv;
  if (release_version_parse(cfg->running_version, &rv) != RELEASE_OK) {
    snprintf(err, err_cap, "update: running version \"%.32s\" is not MAJOR.MINOR.PATCH", cfg->running_version);
    return UPDATE_EINVAL;
  }
  updater *u = calloc(1, sizeof *u);
  if (!u) return UPDATE_ENOMEM;
  u->os = os;
  u->net = net;
  tuf_limits_default(&u->lim);
  const char *arch = cfg->arch ? cfg->arch : release_host_arch();
  size_t ul = strlen(cfg->cloud_url);
  while (ul > 0 && cfg->cloud_url[ul - 1] == '/') ul--;
  if (strlen(cfg->state_dir) + 64 >= sizeof u->state_dir || ul >= sizeof u->cloud_url ||
      strlen(arch) >= sizeof u->arch) {
    free(u);
    snprintf(err, err_cap, "update: state_dir, cloud_url or arch too long");
    return UPDATE_EINVAL;
  }
  snprintf(u->state_dir, sizeof u->state_dir, "%s", cfg->state_dir);
  memcpy(u->cloud_url, cfg->cloud_url, ul);
  u->cloud_url[ul] = 0;
  snprintf(u->running, sizeof u->running, "%s", cfg->running_version);
  snprintf(u->arch, sizeof u->arch, "%s", arch);
  int rc = release_key_load(cfg->release_key, cfg->release_key_len, u->key_der, sizeof u->key_der, &u->key_len);
  if (rc != RELEASE_OK) {
    free(u);
    snprintf(err, err_cap, rc == RELEASE_ENOKEY ? "no release key compiled in: updates off"
                                                : "release key unusable (%s): updates off",
             release_strerror(rc));
    return UPDATE_EOFF;
  }
  u->interval = cfg->check_interval_ms > 0 ? cfg->check_interval_ms : HOUR_MS;
  u->retry_base = cfg->retry_base_ms > 0 ? cfg->retry_base_ms : 60000;
  u->req_timeout = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 30000;
  u->dl_timeout = cfg->download_timeout_ms > 0 ? cfg->download_timeout_ms : 600000;
  u->max_binary = cfg->max_binary_bytes && cfg->max_binary_bytes <= UPDATE_MAX_BINARY ? cfg->max_binary_bytes
                                                                                       : UPDATE_MAX_BINARY;
  u->next_check = os->mono_ms(os->ctx) + (cfg->first_check_ms > 0 ? cfg->first_check_ms : 0);
  char p[OS_PATH_MAX];
  int orc = path_in(u, p, sizeof p, UPSTATE_DIR);
  if (orc == OS_OK) orc = files_ensure_dir(os, p, 0700);
  if (orc == OS_OK) orc = path_in(u, p, sizeof p, UPDATE_METADATA_DIR);
  if (orc == OS_OK) orc = files_ensure_dir(os, p, 0700);
  if (orc != OS_OK) {
    free(u);
    snprintf(err, err_cap, "update: cannot create %s/%s: %s", cfg->state_dir, UPDATE_METADATA_DIR,
             files_strerror(orc));
    return UPDATE_EOFF;
  }
  rc = seed_root(u, cfg->seed_root, err, err_cap);
  if (rc != UPDATE_OK) {
    free(u);
    return rc;
  }
  u->space = cfg->space ? *cfg->space : (update_space){0};
  /* A download cut short by a crash or power cut is never resumed. */
  if (path_in(u, p, sizeof p, UPDATE_DOWNLOAD_FILE) == OS_OK) (void)os->unlink(os->ctx, p);
  take_supervisor_reports(u);
  *out = u;
  return UPDATE_OK;
}

void update_close(updater *u) {
  if (!u) return;
  if (u->inflight && u->net->cancel) u->net->cancel(u->net->ctx, u->req_id);
  reset_check(u);
  free(u);
}
