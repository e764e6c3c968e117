/* test_update.c - the agent's updater (core/update.c) against a repository
 * written by the cloud's mc_repo with in-memory keys, served by a fake net
 * shim straight from the repository's files (the same names outpost-cloud
 * serve maps), with attacks injected by swapping what is served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/tuf.h"
#include "core/update.h"
#include "core/upstate.h"
#include "mc_repo.h"
#include "posix/os_posix.h"

#define CLOUD "https://cloud.test"
#define DAY_MS (24 * 3600 * 1000LL)

static int rng(void *c, unsigned char *buf, size_t len) {
  (void)c;
  return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static int64_t real_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- world: a repository, a state dir, a fake network ---- */

#define MAX_PENDING 8

typedef struct pending_req {
  char url[NET_MAX_URL];
  size_t max;
  net_done_fn done;
  int (*sink)(void *user, const uint8_t *data, size_t len);
  void *user;
  uint64_t id;
} pending_req;

typedef struct world {
  char tmp[256], repo[512], state[512], serve_md[600];
  mc_memkeys *online_k, *root_k;
  mc_signer online, root;
  mc_repo_ctx ctx;
  char release_pem[1024];
  os_posix px;
  os_shim os;
  net_shim net;
  pending_req q[MAX_PENDING];
  int nq;
  uint64_t next_id;
  /* attacks: bytes served instead of the file whose URL ends with swap_suffix */
  char swap_suffix[256];
  uint8_t *swap;
  size_t swap_len;
  int64_t mono;
  int requests;
  /* issue #17: the fake shim streams to a request's sink in pieces of this
   * many bytes (0: it ignores the sink, as a shim may); with no_cap it does
   * not enforce max_response_bytes (a shim that fails its contract). */
  size_t piece;
  int no_cap, target_requests;
  int64_t sink_peak; /* largest piece the updater was handed */
  /* the space gate */
  int64_t held, hold_calls, room_calls, room_fail_after;
  int hold_refuse;
} world;

static world W;

static int fake_request(void *ctx, const net_request *req, net_done_fn done, void *user, uint64_t *id) {
  world *w = ctx;
  if (w->nq == MAX_PENDING) return NET_EBUSY;
  pending_req *p = &w->q[w->nq++];
  snprintf(p->url, sizeof p->url, "%s", req->url);
  p->max = req->max_response_bytes;
  p->sink = req->sink;
  p->done = done;
  p->user = user;
  p->id = *id = ++w->next_id;
  w->requests++;
  if (strstr(req->url, "/v1/targets/")) w->target_requests++;
  return NET_OK;
}

static void fake_cancel(void *ctx, uint64_t id) {
  world *w = ctx;
  for (int i = 0; i < w->nq; i++)
    if (w->q[i].id == id) {
      memmove(&w->q[i], &w->q[i + 1], sizeof w->q[0] * (size_t)(w->nq - i - 1));
      w->nq--;
      return;
    }
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *b = malloc(16 << 20);
  *len = b ? fread(b, 1, 16 << 20, f) : 0;
  fclose(f);
  return b;
}

/* Delivers every queued request (completions never run inside request()). */
static void pump(world *w) {
  while (w->nq > 0) {
    pending_req p = w->q[0];
    memmove(&w->q[0], &w->q[1], sizeof w->q[0] * (size_t)(w->nq - 1));
    w->nq--;
    char file[4200];
    file[0] = 0;
    const char *u = p.url + strlen(CLOUD);
    if (strncmp(p.url, CLOUD, strlen(CLOUD)) == 0 && strncmp(u, "/v1/tuf/", 8) == 0)
      snprintf(file, sizeof file, "%s/%s", w->serve_md, u + 8);
    else if (strncmp(p.url, CLOUD, strlen(CLOUD)) == 0 && strncmp(u, "/v1/targets/", 12) == 0)
      snprintf(file, sizeof file, "%s/targets/%s", w->repo, u + 12);
    size_t len = 0;
    uint8_t *body = NULL;
    size_t ul = strlen(p.url), sl = strlen(w->swap_suffix);
    if (w->swap && sl <= ul && strcmp(p.url + ul - sl, w->swap_suffix) == 0) {
      body = malloc(w->swap_len);
      memcpy(body, w->swap, w->swap_len);
      len = w->swap_len;
    } else if (file[0]) {
      body = slurp(file, &len);
    }
    net_response r = {.error = NET_OK, .status = body ? 200 : 404, .body = body, .body_len = len,
                      .error_text = ""};
    if (body && len > p.max && !w->no_cap) { /* as the curl shim does */
      r = (net_response){.error = NET_ETOOBIG, .error_text = "too big"};
    } else if (body && p.sink && w->piece) {
      for (size_t off = 0; off < len; off += w->piece) {
        size_t k = len - off < w->piece ? len - off : w->piece;
        if ((int64_t)k > w->sink_peak) w->sink_peak = (int64_t)k;
        if (p.sink(p.user, body + off, k) != 0) {
          r = (net_response){.error = NET_EABORTED, .error_text = "stopped by the receiver"};
          break;
        }
      }
      if (r.error == NET_OK) r.body = NULL, r.body_len = 0;
    }
    p.done(p.user, &r);
    free(body);
  }
}

/* One whole check: steps until nothing is in flight. */
static void run_check(world *w, updater *u, const char *ring) {
  w->mono += 10 * DAY_MS; /* past any back-off */
  update_step(u, w->mono, ring);
  for (int i = 0; i < 100 && w->nq > 0; i++) {
    pump(w);
    update_step(u, w->mono, ring);
  }
  assert_int_equal(w->nq, 0);
}

static int64_t fake_mono(void *ctx) {
  (void)ctx;
  return W.mono;
}

static const uint8_t BIN_110[] = "outpost-agent 1.1.0 \x7f" "ELF bytes one";
static const uint8_t BIN_120[] = "outpost-agent 1.2.0 \x7f" "ELF bytes two, longer";

static int repo_setup(world *w, int64_t repo_now) {
  char err[256];
  assert_int_equal(mc_memkeys_new(rng, NULL, &w->online_k), 0);
  assert_int_equal(mc_memkeys_new(rng, NULL, &w->root_k), 0);
  mc_memkeys_signer(w->online_k, &w->online);
  mc_memkeys_signer(w->root_k, &w->root);
  mc_pub roots[MC_REPO_ROOT_KEYS];
  for (int i = 0; i < MC_REPO_ROOT_KEYS; i++)
    assert_int_equal(w->root.generate(w->root.ctx, "root", &roots[i], err, sizeof err), 0);
  w->ctx = (mc_repo_ctx){.dir = w->repo, .online = &w->online, .root = &w->root, .now_ms = repo_now};
  int rc = mc_repo_init(&w->ctx, roots, err, sizeof err);
  if (rc != 0) fprintf(stderr, "init: %s\n", err);
  assert_int_equal(rc, 0);
  mc_pub rel;
  assert_int_equal(mc_repo_release_pub(w->repo, &rel, err, sizeof err), 0);
  assert_int_equal(mc_repo_pub_pem(&rel, w->release_pem, sizeof w->release_pem), 0);
  return 0;
}

static void release(world *w, const uint8_t *bin, size_t len, const char *v, const char *ring) {
  char err[256];
  int rc = mc_repo_release(&w->ctx, bin, len, v, ring, "x86_64", err, sizeof err);
  if (rc != 0) fprintf(stderr, "release: %s\n", err);
  assert_int_equal(rc, 0);
}

static int setup(void **st) {
  (void)st;
  memset(&W, 0, sizeof W);
  snprintf(W.tmp, sizeof W.tmp, "/tmp/outpost-test-update-XXXXXX");
  if (!mkdtemp(W.tmp)) return -1;
  snprintf(W.repo, sizeof W.repo, "%s/repo", W.tmp);
  snprintf(W.state, sizeof W.state, "%s/state", W.tmp);
  snprintf(W.serve_md, sizeof W.serve_md, "%s/metadata", W.repo);
  if (mkdir(W.state, 0700) != 0) return -1;
  if (os_posix_init(&W.os, &W.px, NULL) != OS_OK) return -1;
  W.os.mono_ms = fake_mono;
  W.net = (net_shim){.ctx = &W, .request = fake_request, .cancel = fake_cancel};
  W.mono = 1000;
  return 0;
}

static int teardown(void **st) {
  (void)st;
  free(W.swap);
  mc_memkeys_free(W.online_k);
  mc_memkeys_free(W.root_k);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", W.tmp);
  return system(cmd) == 0 ? 0 : -1;
}

static int gate_hold(void *user, int64_t bytes, char *why, size_t cap) {
  world *w = user;
  w->hold_calls++;
  if (bytes > 0 && w->hold_refuse) {
    snprintf(why, cap, "test: the quota has 0 free");
    return -1;
  }
  w->held = bytes;
  return 0;
}

static int gate_room(void *user, int64_t bytes, char *why, size_t cap) {
  world *w = user;
  (void)bytes;
  if (++w->room_calls > w->room_fail_after && w->room_fail_after > 0) {
    snprintf(why, cap, "test: the volume is at its floor");
    return -1;
  }
  return 0;
}

static const update_space GATE = {.user = &W, .hold = gate_hold, .room = gate_room};

static updater *open_updater_max(world *w, const char *running, const char *key_pem, size_t max_binary) {
  char seed[600], err[256];
  snprintf(seed, sizeof seed, "%s/metadata/1.root.json", w->repo);
  update_config c = {.state_dir = w->state, .cloud_url = CLOUD "/", .running_version = running,
                     .arch = "x86_64", .seed_root = seed, .release_key = key_pem,
                     .release_key_len = strlen(key_pem), .check_interval_ms = 3600 * 1000,
                     .retry_base_ms = 1000, .max_binary_bytes = max_binary, .space = &GATE};
  updater *u = NULL;
  int rc = update_open(&c, &w->os, &w->net, &u, err, sizeof err);
  if (rc != UPDATE_OK) fprintf(stderr, "update_open: %s\n", err);
  assert_int_equal(rc, UPDATE_OK);
  return u;
}

static updater *open_updater(world *w, const char *running, const char *key_pem) {
  return open_updater_max(w, running, key_pem, 0);
}

static int file_equals(const char *path, const uint8_t *data, size_t len) {
  size_t n = 0;
  uint8_t *b = slurp(path, &n);
  int eq = b && n == len && memcmp(b, data, len) == 0;
  free(b);
  return eq;
}

static int exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int exists(const char *fmt, ...) {
  char p[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p, sizeof p, fmt, ap);
  va_end(ap);
  return access(p, F_OK) == 0;
}

/* The last report must be a refusal naming what. */
static void assert_refused(updater *u, const char *needle) {
  update_report r[UPDATE_MAX_REPORTS];
  int n = update_peek_reports(u, r, UPDATE_MAX_REPORTS);
  assert_true(n > 0);
  if (!strstr(r[n - 1].message, needle)) fprintf(stderr, "report: %s\n", r[n - 1].message);
  assert_string_equal(r[n - 1].kind, "refused");
  assert_non_null(strstr(r[n - 1].message, needle));
  assert_int_equal(update_exit_code(u), 0);
  update_reports_sent(u, r[n - 1].seq);
  assert_int_equal(update_peek_reports(u, r, UPDATE_MAX_REPORTS), 0);
}

/* ---- tests ---- */

static void test_happy_path_stages_highest(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  release(&W, BIN_120, sizeof BIN_120, "1.2.0", "canary"); /* not our ring */
  W.piece = 5; /* the binary arrives in pieces */
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_int_equal(update_exit_code(u), UPDATE_EXIT_RESTART);
  assert_int_equal(W.sink_peak, 5);
  assert_false(exists("%s/update/download.part", W.state));
  assert_int_equal(W.held, 0); /* held while it downloaded, let go once staged */
  assert_true(W.hold_calls >= 2);
  struct stat sb;
  assert_int_equal(stat(strcat(strcpy((char[600]){0}, W.state), "/bin/1.1.0/outpost-agent"), &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0755);
  assert_true(file_equals(strcat(strcpy((char[600]){0}, W.state), "/bin/1.1.0/outpost-agent"), BIN_110,
                          sizeof BIN_110));
  assert_true(exists("%s/bin/1.1.0/outpost-agent.sig", W.state));
  assert_true(exists("%s/update/metadata/stable.json", W.state));
  assert_true(exists("%s/update/metadata/timestamp.json", W.state));
  upstate_pending p;
  char err[256];
  assert_int_equal(upstate_load_pending(&W.os, W.state, &p, err, sizeof err), OS_OK);
  assert_string_equal(p.version, "1.1.0");
  assert_int_equal(p.length, (int64_t)sizeof BIN_110);
  /* The process exits before its next check-in: the "staged" report waits
   * in report.json for the next one, not in this updater's memory. */
  update_report r[UPDATE_MAX_REPORTS];
  assert_int_equal(update_peek_reports(u, r, UPDATE_MAX_REPORTS), 0);
  upstate_report kept[UPSTATE_MAX_REPORTS];
  int nkept = 0;
  assert_int_equal(upstate_load_reports(&W.os, W.state, kept, UPSTATE_MAX_REPORTS, &nkept, err, sizeof err),
                   OS_OK);
  assert_int_equal(nkept, 1);
  assert_string_equal(kept[0].kind, "staged");
  assert_string_equal(kept[0].version, "1.1.0");
  update_close(u);
  /* The canary ring sees 1.2.0; the local metadata is reused and extended. */
  upstate_clear_pending(&W.os, W.state);
  u = open_updater(&W, "1.1.0", W.release_pem);
  assert_int_equal(update_peek_reports(u, r, UPDATE_MAX_REPORTS), 1);
  assert_string_equal(r[0].kind, "staged");
  assert_string_equal(r[0].version, "1.1.0");
  assert_non_null(strstr(r[0].message, "1.1.0 staged from stable"));
  assert_null(strstr(r[0].message, "supervisor"));
  update_reports_sent(u, r[0].seq);
  assert_false(exists("%s/update/report.json", W.state));
  W.piece = 0; /* a shim that ignores the sink: the body comes to done() */
  run_check(&W, u, "canary");
  assert_int_equal(update_exit_code(u), UPDATE_EXIT_RESTART);
  assert_true(file_equals(strcat(strcpy((char[600]){0}, W.state), "/bin/1.2.0/outpost-agent"), BIN_120,
                          sizeof BIN_120));
  update_close(u);
}

static void test_bad_list_and_floor(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  release(&W, BIN_120, sizeof BIN_120, "1.2.0", "stable");
  upstate s;
  upstate_init(&s);
  assert_int_equal(upstate_add_bad(&s, "1.2.0"), OS_OK);
  assert_int_equal(upstate_save(&W.os, W.state, &s), OS_OK);
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_int_equal(update_exit_code(u), UPDATE_EXIT_RESTART);
  assert_true(exists("%s/bin/1.1.0/outpost-agent", W.state));
  assert_false(exists("%s/bin/1.2.0/outpost-agent", W.state)); /* bad: skipped */
  update_close(u);
  /* Floor 1.1.0 and 1.2.0 bad: nothing is offered, nothing fails. */
  upstate_clear_pending(&W.os, W.state);
  assert_int_equal(upstate_raise_floor(&s, "1.1.0"), OS_OK);
  assert_int_equal(upstate_save(&W.os, W.state, &s), OS_OK);
  u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_int_equal(update_exit_code(u), 0);
  update_stats us;
  update_get_stats(u, &us);
  assert_int_equal(us.checks, 1);
  assert_int_equal(us.failures, 0);
  /* The one report is the earlier process's "staged", kept for this one. */
  update_report r[2];
  assert_int_equal(update_peek_reports(u, r, 2), 1);
  assert_string_equal(r[0].kind, "staged");
  assert_string_equal(r[0].version, "1.1.0");
  update_close(u);
}

static void copy_dir(const char *from, const char *to) {
  char cmd[2400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
  assert_int_equal(system(cmd), 0);
}

static void test_downgrade_replay_refused(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  char old[600];
  snprintf(old, sizeof old, "%s/old-metadata", W.tmp);
  copy_dir(W.serve_md, old); /* validly signed, older */
  release(&W, BIN_120, sizeof BIN_120, "1.2.0", "stable");
  updater *u = open_updater(&W, "1.2.0", W.release_pem);
  run_check(&W, u, "stable"); /* learns the newest metadata; nothing newer than itself */
  assert_int_equal(update_exit_code(u), 0);
  update_report r[1];
  assert_int_equal(update_peek_reports(u, r, 1), 0);
  update_close(u);
  /* The attacker replays the old repository to an agent at 1.0.0 whose
   * local metadata is the newer one. */
  snprintf(W.serve_md, sizeof W.serve_md, "%s", old);
  u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_refused(u, "timestamp");
  assert_false(exists("%s/bin/1.1.0", W.state));
  update_close(u);
}

static void test_frozen_timestamp_refused(void **st) {
  (void)st;
  repo_setup(&W, real_now() - 2 * DAY_MS); /* timestamp (1 day) expired, the rest valid */
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_refused(u, "timestamp");
  assert_false(exists("%s/bin/1.1.0", W.state));
  /* Retried after the back-off, refused again: never trusted. */
  run_check(&W, u, "stable");
  assert_refused(u, "expired");
  update_stats us;
  update_get_stats(u, &us);
  assert_int_equal(us.refusals, 2);
  update_close(u);
}

static void test_hash_mismatch_refused(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  W.swap = malloc(sizeof BIN_110);
  memcpy(W.swap, BIN_110, sizeof BIN_110);
  W.swap[0] ^= 1; /* same length, other bytes: arbitrary software */
  W.swap_len = sizeof BIN_110;
  snprintf(W.swap_suffix, sizeof W.swap_suffix, "outpost-agent-linux-x86_64");
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_refused(u, "outpost-agent-linux-x86_64");
  assert_false(exists("%s/bin/1.1.0", W.state));
  update_close(u);
}

static void test_endless_data_refused(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  W.swap_len = 64 * 1024; /* timestamp is capped at 16 KiB */
  W.swap = calloc(1, W.swap_len);
  snprintf(W.swap_suffix, sizeof W.swap_suffix, "/timestamp.json");
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_refused(u, "endless data");
  update_close(u);
}

static void test_release_signature_other_key_refused(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  mc_pub other;
  char err[256], pem[1024];
  assert_int_equal(W.online.generate(W.online.ctx, "other", &other, err, sizeof err), 0);
  assert_int_equal(mc_repo_pub_pem(&other, pem, sizeof pem), 0);
  updater *u = open_updater(&W, "1.0.0", pem); /* the agent pins another release key */
  run_check(&W, u, "stable");
  assert_refused(u, "release signature");
  assert_false(exists("%s/bin/1.1.0/outpost-agent", W.state));
  upstate_pending p;
  assert_int_equal(upstate_load_pending(&W.os, W.state, &p, err, sizeof err), OS_ENOENT);
  update_close(u);
}

/* The last report must be an "error" (the update waits) naming what. */
static void assert_waits(updater *u, const char *needle) {
  update_report r[UPDATE_MAX_REPORTS];
  int n = update_peek_reports(u, r, UPDATE_MAX_REPORTS);
  assert_true(n > 0);
  if (!strstr(r[n - 1].message, needle)) fprintf(stderr, "report: %s\n", r[n - 1].message);
  assert_string_equal(r[n - 1].kind, "error");
  assert_non_null(strstr(r[n - 1].message, needle));
  assert_int_equal(update_exit_code(u), 0);
  update_reports_sent(u, r[n - 1].seq);
}

/* issue #17: no room in the quota or above the floor: nothing is fetched or
 * written, the update waits and is staged once there is room. */
static void test_no_space_waits(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  W.piece = 4;
  W.hold_refuse = 1;
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  assert_waits(u, "waits for space: test: the quota has 0 free");
  assert_int_equal(W.target_requests, 0);
  assert_false(exists("%s/update/download.part", W.state));
  assert_false(exists("%s/bin/1.1.0", W.state));
  W.hold_refuse = 0;
  run_check(&W, u, "stable");
  assert_int_equal(update_exit_code(u), UPDATE_EXIT_RESTART);
  assert_true(exists("%s/bin/1.1.0/outpost-agent", W.state));
  update_close(u);
}

/* The volume fills while a large binary downloads: stopped at the next
 * re-check, partial file deleted, bytes let go, retried later. */
static void test_floor_reached_mid_download(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  size_t big_len = 9u << 20; /* over two re-check intervals */
  uint8_t *big = malloc(big_len);
  assert_non_null(big);
  for (size_t i = 0; i < big_len; i++) big[i] = (uint8_t)(i * 31 + 7);
  release(&W, big, big_len, "1.1.0", "stable");
  W.piece = 256 * 1024;
  W.room_fail_after = 1; /* the first re-check passes, the second finds the floor */
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  run_check(&W, u, "stable");
  /* checked before the piece that crosses 8 MiB is written */
  assert_waits(u, "stopped at 8126464 of 9437184 bytes: test: the volume is at its floor");
  assert_int_equal(W.room_calls, 2);
  assert_false(exists("%s/update/download.part", W.state));
  assert_int_equal(W.held, 0);
  assert_false(exists("%s/bin/1.1.0", W.state));
  W.room_fail_after = 0;
  run_check(&W, u, "stable");
  assert_int_equal(update_exit_code(u), UPDATE_EXIT_RESTART);
  assert_true(file_equals(strcat(strcpy((char[600]){0}, W.state), "/bin/1.1.0/outpost-agent"), big, big_len));
  assert_int_equal(W.sink_peak, 256 * 1024);
  free(big);
  update_close(u);
}

/* The local cap (config update.max_binary_mb): refused before any byte. */
static void test_local_length_cap(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  updater *u = open_updater_max(&W, "1.0.0", W.release_pem, sizeof BIN_110 - 1);
  run_check(&W, u, "stable");
  assert_refused(u, "outside 1..");
  assert_int_equal(W.target_requests, 0);
  assert_int_equal(W.hold_calls, 0);
  update_close(u);
}

/* A shim that does not cap the body: the sink itself stops at the TUF
 * length, and a leftover partial file from a crash is gone at open. */
static void test_streamed_endless_data_and_leftover(void **st) {
  (void)st;
  repo_setup(&W, real_now());
  release(&W, BIN_110, sizeof BIN_110, "1.1.0", "stable");
  char part[700];
  snprintf(part, sizeof part, "%s/update", W.state);
  assert_int_equal(mkdir(part, 0700), 0);
  snprintf(part, sizeof part, "%s/update/download.part", W.state);
  FILE *f = fopen(part, "w");
  assert_non_null(f);
  fputs("half a binary from before a power cut", f);
  fclose(f);
  updater *u = open_updater(&W, "1.0.0", W.release_pem);
  assert_false(exists("%s", part));
  W.piece = 16;
  W.no_cap = 1;
  W.swap_len = 4096;
  W.swap = calloc(1, W.swap_len);
  snprintf(W.swap_suffix, sizeof W.swap_suffix, "outpost-agent-linux-x86_64");
  run_check(&W, u, "stable");
  assert_refused(u, "endless data");
  assert_false(exists("%s", part));
  assert_int_equal(W.held, 0);
  update_close(u);
}

static void test_off_without_key_or_root(void **st) {
  (void)st;
  update_config c = {.state_dir = W.state, .cloud_url = CLOUD, .running_version = "1.0.0"};
  updater *u = NULL;
  char err[256];
  assert_int_equal(update_open(&c, &W.os, &W.net, &u, err, sizeof err), UPDATE_EOFF);
  assert_null(u);
  assert_non_null(strstr(err, "no release key"));
  c.release_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  c.release_key_len = strlen(c.release_key);
  assert_int_equal(update_open(&c, &W.os, &W.net, &u, err, sizeof err), UPDATE_EOFF);
  repo_setup(&W, real_now());
  c.release_key = W.release_pem;
  c.release_key_len = strlen(W.release_pem);
  assert_int_equal(update_open(&c, &W.os, &W.net, &u, err, sizeof err), UPDATE_EOFF);
  assert_non_null(strstr(err, "trusted_root"));
  c.running_version = "v1";
  assert_int_equal(update_open(&c, &W.os, &W.net, &u, err, sizeof err), UPDATE_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_happy_path_stages_highest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_list_and_floor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_downgrade_replay_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_frozen_timestamp_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hash_mismatch_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_endless_data_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_release_signature_other_key_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_off_without_key_or_root, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_space_waits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_floor_reached_mid_download, setup, teardown),
      cmocka_unit_test_setup_teardown(test_local_length_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streamed_endless_data_and_leftover, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
