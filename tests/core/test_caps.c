/* Caps enforced (issue #5): the token bucket, the derived bounds, the RSS
 * transitions, tail_poll_max's back-pressure (offset kept, nothing dropped,
 * a half-drained rotated file stays current), and a whole agent on the
 * simulator's fs under a persisted policy: it never produces faster than
 * caps.max_records_per_s, produces everything in the end, applies the
 * policy's batch bounds, and slows down while its RSS is over the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/agent.h"
#include "core/caps.h"
#include "core/config.h"
#include "core/spool.h"
#include "core/tail.h"
#include "sim_fs.h"
#include "sim_os.h"

/* ---- bucket ---------------------------------------------------------- */

static void test_bucket(void **state) {
  (void)state;
  caps_bucket b;
  caps_bucket_init(&b, 10, 0);
  assert_int_equal(caps_bucket_avail(&b, 0), 10); /* one second of burst */
  caps_bucket_take(&b, 10);
  assert_int_equal(caps_bucket_avail(&b, 0), 0);
  assert_int_equal(caps_bucket_avail(&b, 99), 0);
  assert_int_equal(caps_bucket_avail(&b, 100), 1);
  assert_int_equal(caps_bucket_avail(&b, 100000), 10); /* never more than the burst */
  /* A snapshot overdraws: the debt is paid before anything else. */
  caps_bucket_take(&b, 35);
  assert_int_equal(caps_bucket_avail(&b, 100000), -25);
  assert_int_equal(caps_bucket_ready_at(&b, 1, 100000), 100000 + 2600);
  assert_int_equal(caps_bucket_avail(&b, 102599), 0);
  assert_int_equal(caps_bucket_avail(&b, 102600), 1);
  /* The debt is bounded. */
  caps_bucket_take(&b, INT64_C(1) << 40);
  assert_true(caps_bucket_avail(&b, 102600) >= -(int64_t)CAPS_MAX_DEBT);
  /* Unlimited. */
  caps_bucket_set_rate(&b, 0, 200000);
  assert_true(caps_bucket_avail(&b, 200000) == CAPS_UNLIMITED);
  /* Newly capped starts full. */
  caps_bucket_set_rate(&b, 5, 200000);
  assert_int_equal(caps_bucket_avail(&b, 200000), 5);
}

/* ---- derived bounds --------------------------------------------------- */

static void test_derive(void **state) {
  (void)state;
  agent_config cfg;
  config_defaults(&cfg);
  caps_base base;
  caps_base_from_config(&cfg, &base);
  caps_limits l;
  caps_derive(NULL, &base, &l);
  assert_int_equal(l.rate, 0); /* no policy: no rate cap */
  assert_int_equal(l.batch_max_bytes, cfg.batch_max_bytes); /* default 64 MiB changes nothing */
  assert_int_equal(l.read_chunk_bytes, cfg.read_chunk_bytes);
  assert_int_equal(l.cache_kib, 256);
  assert_int_equal(l.batch_max_records, cfg.batch_max_records);

  policy p;
  policy_defaults(&p);
  p.version = 3;
  p.max_records_per_s = 200;
  p.max_memory_mb = 8;
  p.batch_max_records = 77;
  p.batch_max_age_ms = 1234;
  caps_derive(&p, &base, &l);
  assert_int_equal(l.rate, 200);
  assert_int_equal(l.memory_bytes, 8 * 1024 * 1024);
  assert_int_equal(l.batch_max_bytes, 512 * 1024);
  assert_int_equal(l.read_chunk_bytes, cfg.max_line_bytes + 1); /* a line must still fit */
  assert_true(l.read_chunk_bytes < cfg.read_chunk_bytes);
  assert_int_equal(l.cache_kib, 32);
  assert_int_equal(l.batch_max_records, 77);
  assert_int_equal(l.batch_max_age_ms, 1234);
  /* A larger cap never raises a local bound. */
  p.max_memory_mb = 256;
  caps_derive(&p, &base, &l);
  assert_int_equal(l.batch_max_bytes, cfg.batch_max_bytes);
  assert_int_equal(l.read_chunk_bytes, cfg.read_chunk_bytes);
}

static void test_mem(void **state) {
  (void)state;
  caps_mem m;
  caps_mem_init(&m);
  caps_limits l = {.rate = 200, .memory_bytes = 1000};
  assert_int_equal(caps_mem_observe(&m, -1, 1000, 0), 0); /* unknown: nothing */
  assert_int_equal(caps_effective_rate(&l, &m), 200);
  assert_int_equal(caps_mem_observe(&m, 900, 1000, 1), 0);
  assert_int_equal(caps_mem_observe(&m, 1001, 1000, 2), 1);
  assert_int_equal(caps_effective_rate(&l, &m), 20);
  assert_int_equal(caps_mem_observe(&m, 1500, 1000, 3), 0);
  assert_int_equal(caps_mem_observe(&m, 999, 1000, 4), -1);
  assert_int_equal(m.over_events, 1);
  assert_int_equal(m.peak_rss_bytes, 1500);
  assert_int_equal(caps_effective_rate(&l, &m), 200);
  l.rate = 0; /* no rate cap: over memory still slows down */
  caps_mem_observe(&m, 2000, 1000, 5);
  assert_int_equal(caps_effective_rate(&l, &m), POLICY_RATE_CAP / 10);
  l.rate = 5;
  assert_int_equal(caps_effective_rate(&l, &m), 1);
}

/* ---- tail_poll_max on the simulator's fs ------------------------------ */

typedef struct fx {
  int64_t now;
  sim_rng rng;
  sim_fs *fs;
  sim_os so;
  os_shim os;
} fx;

static fx *make(void) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  sim_rng_seed(&f->rng, 1, 1);
  assert_int_equal(sim_fs_create(1, 256ULL << 20, NULL, NULL, &f->fs), OS_OK);
  assert_int_equal(sim_fs_mkdirs(f->fs, "/var/lib/outpost", 0700), OS_OK);
  assert_int_equal(sim_fs_mkdirs(f->fs, "/var/log", 0755), OS_OK);
  sim_os_init(&f->so, &f->now, 0, &f->rng, f->fs, "h", "m");
  sim_os_shim(&f->so, &f->os);
  return f;
}

static void destroy(fx *f) {
  sim_fs_free(f->fs);
  free(f);
}

static void write_lines(fx *f, const char *path, int from, int n) {
  char line[64];
  for (int i = from; i < from + n; i++) {
    int len = snprintf(line, sizeof line, "line %06d\n", i);
    assert_int_equal(sim_fs_append(f->fs, path, line, (size_t)len, 1), OS_OK);
  }
}

typedef struct seen {
  int64_t n;
  int in_order;
  int next;
} seen;

static int on_row(void *user, int64_t seq, int64_t ts, const char *source, size_t source_len,
                  const char *line, size_t len) {
  (void)seq, (void)source, (void)source_len, (void)len, (void)ts;
  seen *s = user;
  char want[32];
  snprintf(want, sizeof want, "line %06d", s->next);
  if (strcmp(line, want) != 0) s->in_order = 0;
  s->next++;
  s->n++;
  return 0;
}

static void test_tail_budget(void **state) {
  (void)state;
  fx *f = make();
  spool *sp = NULL;
  char err[256];
  assert_int_equal(spool_open(&f->os, "/var/lib/outpost/spool.db", &sp, err, sizeof err),
                   SPOOL_OK);
  tail_buffers tb;
  assert_int_equal(tail_buffers_init(&tb, 4096, 1024), 0);
  tail_source src = {.start = CONFIG_START_BEGINNING};
  snprintf(src.path, sizeof src.path, "/var/log/app.log");
  write_lines(f, "/var/log/app.log", 0, 100);

  int64_t lines = 0;
  int more = 0, limited = 0, oserr = 0;
  assert_int_equal(tail_poll_max(&src, &f->os, sp, &tb, 1, 30, &lines, &more, &limited, &oserr),
                   TAIL_OK);
  assert_int_equal(lines, 30);
  assert_int_equal(limited, 1);
  assert_int_equal(more, 0);
  assert_int_equal(src.st.offset, 30 * 12); /* stops right after the 30th line */
  /* Empty budget: nothing read, offset kept. */
  assert_int_equal(tail_poll_max(&src, &f->os, sp, &tb, 1, 0, &lines, &more, &limited, &oserr),
                   TAIL_OK);
  assert_int_equal(lines, 0);
  assert_int_equal(limited, 1);
  assert_int_equal(src.st.offset, 30 * 12);

  /* Rotation while back-pressured: the rest of the old file comes first,
   * across polls, then the new one. */
  assert_int_equal(sim_fs_rename(f->fs, "/var/log/app.log", "/var/log/app.log.1"), OS_OK);
  write_lines(f, "/var/log/app.log", 100, 50);
  assert_int_equal(tail_poll_max(&src, &f->os, sp, &tb, 1, 40, &lines, &more, &limited, &oserr),
                   TAIL_OK);
  assert_int_equal(lines, 40);
  assert_int_equal(limited, 1);
  int64_t total = 70;
  for (int i = 0; i < 10 && total < 150; i++) {
    assert_int_equal(
        tail_poll_max(&src, &f->os, sp, &tb, 1, 25, &lines, &more, &limited, &oserr), TAIL_OK);
    assert_true(lines <= 25);
    total += lines;
  }
  assert_int_equal(total, 150);
  seen s = {.in_order = 1};
  assert_int_equal(spool_scan(sp, 1000, on_row, &s), SPOOL_OK);
  assert_int_equal(s.n, 150);
  assert_int_equal(s.in_order, 1); /* nothing dropped, nothing out of order */
  tail_buffers_free(&tb);
  spool_close(sp);
  destroy(f);
}

/* ---- a whole agent under a persisted policy --------------------------- */

static int fake_request(void *ctx, const net_request *req, net_done_fn done, void *user,
                        uint64_t *id) {
  (void)ctx, (void)req, (void)done, (void)user;
  *id = 1; /* never answers: collection does not wait for the network */
  return NET_OK;
}
static void fake_cancel(void *ctx, uint64_t id) { (void)ctx, (void)id; }

#define POLICY_JSON                                                                     \
  "{\"version\":4,\"caps\":{\"max_records_per_s\":50,\"max_memory_mb\":8},"            \
  "\"batch_max_records\":123,\"batch_max_age_ms\":4567}"

static agent *open_agent(fx *f, const char *policy_json) {
  if (policy_json)
    assert_int_equal(sim_fs_append(f->fs, "/var/lib/outpost/policy.json", policy_json,
                                   strlen(policy_json), 1),
                     OS_OK);
  agent_config cfg;
  config_defaults(&cfg);
  snprintf(cfg.cloud_url, sizeof cfg.cloud_url, "https://cloud.test");
  snprintf(cfg.ca_file, sizeof cfg.ca_file, "/ca.pem");
  snprintf(cfg.enrollment_token, sizeof cfg.enrollment_token, "tok");
  snprintf(cfg.state_dir, sizeof cfg.state_dir, "/var/lib/outpost");
  snprintf(cfg.sources[0].path, sizeof cfg.sources[0].path, "/var/log/a.log");
  snprintf(cfg.sources[1].path, sizeof cfg.sources[1].path, "/var/log/b.log");
  cfg.sources[0].start = cfg.sources[1].start = CONFIG_START_BEGINNING;
  cfg.n_sources = 2;
  cfg.poll_interval_ms = 100;
  static net_shim net = {NULL, fake_request, fake_cancel};
  agent *a = NULL;
  char err[256];
  assert_int_equal(agent_open(&cfg, &f->os, &net, &a, err, sizeof err), AGENT_OK);
  return a;
}

static int64_t produced(agent *a) {
  agent_stats st;
  agent_get_stats(a, &st);
  return st.produced;
}

/* Steps the agent at its own deadlines until `until` (virtual ms). */
static void run_until(fx *f, agent *a, int64_t until, int64_t *next) {
  while (*next <= until) {
    f->now = *next;
    *next = agent_step(a, f->now);
  }
}

static void test_agent_rate_cap(void **state) {
  (void)state;
  fx *f = make();
  write_lines(f, "/var/log/a.log", 0, 1000);
  write_lines(f, "/var/log/b.log", 0, 1000);
  agent *a = open_agent(f, POLICY_JSON);
  int64_t next = 1000;
  /* Every second the agent may produce at most one more second of rate
   * beyond its one-second burst: checked at every 100 ms. */
  for (int64_t t = 1000; t <= 11000; t += 100) {
    run_until(f, a, t, &next);
    int64_t p = produced(a);
    assert_true(p <= 50 + 50 * (t - 1000) / 1000);
  }
  assert_true(produced(a) >= 450); /* it did not stall either */
  caps_info ci;
  agent_caps_info(a, &ci);
  assert_int_equal(ci.rate, 50);
  assert_true(ci.rate_limited_polls > 0);
  assert_int_equal(ci.batch_max_records, 123); /* policy batch bounds applied */
  assert_int_equal(ci.batch_max_age_ms, 4567);
  assert_int_equal(ci.batch_max_bytes, 512 * 1024);
  /* Nothing dropped: given time, every line of both files is produced. */
  run_until(f, a, 60000, &next);
  assert_int_equal(produced(a), 2000);
  agent_close(a);
  destroy(f);
}

/* issue #15: read buffers lent by the driver (the simulator lends one set
 * to its whole fleet): only of the agent's sizes, never freed by it, and a
 * policy that changes the read chunk gives it its own again. */
static void test_agent_lent_tail_buffers(void **state) {
  (void)state;
  for (int with_policy = 0; with_policy < 2; with_policy++) {
    fx *f = make();
    write_lines(f, "/var/log/a.log", 0, 1000);
    write_lines(f, "/var/log/b.log", 0, 1000);
    agent *a = open_agent(f, with_policy ? POLICY_JSON : NULL);
    tail_buffers wrong, tb;
    assert_int_equal(tail_buffers_init(&wrong, 1000, 32768), 0);
    assert_int_equal(tail_buffers_init(&tb, 65536, 32768), 0); /* the config's defaults */
    assert_int_equal(agent_lend_tail_buffers(a, &wrong), AGENT_EINVAL);
    assert_int_equal(agent_lend_tail_buffers(a, NULL), AGENT_EINVAL);
    assert_int_equal(agent_lend_tail_buffers(a, &tb), AGENT_OK);
    int64_t next = 1000;
    run_until(f, a, 60000, &next);
    assert_int_equal(produced(a), 2000);
    caps_info ci;
    agent_caps_info(a, &ci);
    /* the policy's 8 MiB memory cap wants 32 KiB, and a whole line: 32769 */
    assert_int_equal(ci.read_chunk_bytes, with_policy ? 32769 : 65536);
    agent_close(a);
    /* still the lender's, untouched: using and freeing it here is what ASan
     * watches */
    assert_non_null(tb.chunk);
    assert_int_equal(tb.chunk_cap, 65536);
    memset(tb.chunk, 0, tb.chunk_cap);
    tail_buffers_free(&tb);
    tail_buffers_free(&wrong);
    destroy(f);
  }
}

static void test_agent_no_policy_no_rate_cap(void **state) {
  (void)state;
  fx *f = make();
  write_lines(f, "/var/log/a.log", 0, 1000);
  agent *a = open_agent(f, NULL);
  int64_t next = 1000;
  run_until(f, a, 1100, &next);
  assert_int_equal(produced(a), 1000);
  agent_close(a);
  destroy(f);
}

static void test_agent_memory_cap(void **state) {
  (void)state;
  fx *f = make();
  write_lines(f, "/var/log/a.log", 0, 1000);
  f->so.rss_bytes = 20LL << 20; /* over the policy's 8 MiB */
  agent *a = open_agent(f, POLICY_JSON);
  int64_t next = 1000;
  run_until(f, a, 1000, &next);
  caps_info ci;
  agent_caps_info(a, &ci);
  assert_int_equal(ci.memory_over, 1);
  assert_int_equal(ci.memory_over_events, 1);
  assert_int_equal(ci.rss_bytes, 20LL << 20);
  assert_int_equal(ci.rate, 5); /* a tenth of 50 */
  assert_int_equal(ci.cache_kib, CAPS_MIN_CACHE_KIB);
  run_until(f, a, 11000, &next);
  assert_true(produced(a) <= 50 + 5 * 10 + 5); /* burst, then a tenth */
  assert_true(produced(a) > 0);                  /* slowed, not stopped */
  f->so.rss_bytes = 4LL << 20; /* back under */
  run_until(f, a, 14000, &next);
  agent_caps_info(a, &ci);
  assert_int_equal(ci.memory_over, 0);
  assert_int_equal(ci.rate, 50);
  assert_int_equal(ci.cache_kib, 32);
  agent_close(a);
  destroy(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bucket),
      cmocka_unit_test(test_derive),
      cmocka_unit_test(test_mem),
      cmocka_unit_test(test_tail_budget),
      cmocka_unit_test(test_agent_rate_cap),
      cmocka_unit_test(test_agent_lent_tail_buffers),
      cmocka_unit_test(test_agent_no_policy_no_rate_cap),
      cmocka_unit_test(test_agent_memory_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
