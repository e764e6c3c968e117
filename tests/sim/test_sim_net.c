/* sim_net against the real mock cloud, and sim_os: latency, loss on either
 * leg, outages, partitions, cancel, and done() only from the event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mc.h"
#include "sim_net.h"
#include "sim_os.h"

#define EV_D 1
#define EV_C 2

typedef struct rig {
  int64_t now;
  sim_rng cloud_rng;
  mc_cloud *cloud;
  sim_queue *q;
  sim_net *net;
  net_shim shim[2];
  char dir[64];
} rig;

typedef struct got {
  int calls;
  int error, status;
  int64_t at;
  char date[64];
  const int64_t *now;
} got;

static int64_t r_wall(void *ctx) { return SIM_WALL_EPOCH_MS + ((rig *)ctx)->now; }
static int r_rand(void *ctx, unsigned char *b, size_t n) {
  sim_rng_fill(&((rig *)ctx)->cloud_rng, b, n);
  return 0;
}

static int setup(void **state) {
  rig *r = calloc(1, sizeof *r);
  snprintf(r->dir, sizeof r->dir, "/tmp/test-sim-net-XXXXXX");
  assert_non_null(mkdtemp(r->dir));
  char db[128];
  snprintf(db, sizeof db, "%s/cloud.db", r->dir);
  sim_rng_seed(&r->cloud_rng, 1, SIM_RNG_CLOUD);
  mc_env env = {.ctx = r, .wall_ms = r_wall, .random = r_rand};
  mc_options mo = {.session_ttl_s = 3600, .challenge_ttl_s = 60, .durable = 0};
  assert_int_equal(mc_open(db, &env, &mo, &r->cloud, NULL, 0), MC_OK);
  assert_int_equal(sim_queue_create(1000, &r->q), SIM_QUEUE_OK);
  assert_int_equal(sim_net_create(2, r->cloud, r->q, &r->now, 7, EV_D, EV_C, &r->net), SIM_NET_OK);
  for (int i = 0; i < 2; i++) assert_int_equal(sim_net_shim(r->net, i, &r->shim[i]), SIM_NET_OK);
  *state = r;
  return 0;
}

static int teardown(void **state) {
  rig *r = *state;
  sim_net_free(r->net);
  sim_queue_free(r->q);
  mc_close(r->cloud);
  char p[160];
  snprintf(p, sizeof p, "%s/cloud.db", r->dir);
  unlink(p);
  rmdir(r->dir);
  free(r);
  return 0;
}

static void on_done(void *user, const net_response *resp) {
  got *g = user;
  g->calls++;
  g->error = resp->error;
  g->status = resp->status;
  g->at = *g->now;
  const char *d = net_response_header(resp, "Date");
  snprintf(g->date, sizeof g->date, "%s", d ? d : "");
  assert_non_null(resp->error_text);
}

static void pump(rig *r) {
  sim_event ev;
  for (int i = 0; i < 100 && sim_queue_pop(r->q, &ev) == SIM_QUEUE_OK; i++) {
    r->now = ev.time_ms;
    sim_net_result res;
    assert_int_equal(sim_net_dispatch(r->net, &ev, &res), SIM_NET_OK);
  }
}

static uint64_t send(rig *r, int agent, got *g, int64_t timeout) {
  static const char body[] = "{}";
  net_request req = {.method = "POST",
                     .url = "https://cloud.sim/v1/challenge?x=1",
                     .body = (const uint8_t *)body,
                     .body_len = 2,
                     .timeout_ms = timeout,
                     .max_response_bytes = 65536};
  uint64_t id = 0;
  g->now = &r->now;
  assert_int_equal(r->shim[agent].request(r->shim[agent].ctx, &req, on_done, g, &id), NET_OK);
  assert_true(id > 0);
  assert_int_equal(g->calls, 0); /* never from inside request() */
  return id;
}

static void delivers_with_latency(void **state) {
  rig *r = *state;
  sim_net_params p = {.latency_min_ms = 50, .latency_max_ms = 50};
  sim_net_set_params(r->net, &p);
  got g = {0};
  send(r, 0, &g, 5000);
  pump(r);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.error, NET_OK);
  assert_int_equal(g.status, 400); /* the cloud answered the malformed challenge */
  assert_int_equal(g.at, 100);     /* 50 ms each way */
  assert_true(strlen(g.date) > 20);
  mc_stats ms;
  mc_get_stats(r->cloud, &ms);
  assert_int_equal(ms.requests, 1);
}

static void loss_outage_partition_cancel(void **state) {
  rig *r = *state;
  mc_stats ms;
  sim_net_params p = {.latency_min_ms = 10, .latency_max_ms = 10, .loss = 1.0};
  sim_net_set_params(r->net, &p);
  got g = {0};
  send(r, 0, &g, 3000);
  pump(r);
  assert_int_equal(g.error, NET_ETIMEDOUT);
  assert_int_equal(g.at, 3000);
  mc_get_stats(r->cloud, &ms);
  assert_int_equal(ms.requests, 0); /* lost on the way in: the cloud never saw it */

  p.loss = 0;
  p.response_loss = 1.0;
  sim_net_set_params(r->net, &p);
  got h = {0};
  int64_t t0 = r->now;
  send(r, 0, &h, 3000);
  pump(r);
  assert_int_equal(h.error, NET_ETIMEDOUT);
  assert_int_equal(h.at, t0 + 3000);
  mc_get_stats(r->cloud, &ms);
  assert_int_equal(ms.requests, 1); /* the cloud acted, the reply was lost */

  p.response_loss = 0;
  sim_net_set_params(r->net, &p);
  sim_net_set_cloud_down(r->net, 1);
  got o = {0};
  t0 = r->now;
  send(r, 0, &o, 3000);
  pump(r);
  assert_int_equal(o.error, NET_ECONNECT);
  assert_int_equal(o.at, t0 + 20);
  sim_net_set_cloud_down(r->net, 0);

  sim_net_set_partition(r->net, 1, 1);
  got a = {0}, b = {0};
  send(r, 0, &a, 1000);
  send(r, 1, &b, 1000);
  pump(r);
  assert_int_equal(a.error, NET_OK);
  assert_int_equal(b.error, NET_ETIMEDOUT);

  got c = {0};
  uint64_t id = send(r, 0, &c, 1000);
  r->shim[0].cancel(r->shim[0].ctx, id);
  r->shim[0].cancel(r->shim[0].ctx, 12345); /* unknown: ignored */
  pump(r);
  assert_int_equal(c.calls, 0);
  assert_int_equal(sim_net_pending(r->net, -1), 0);

  /* a reply slower than the timeout is a timeout */
  p.latency_min_ms = p.latency_max_ms = 800;
  sim_net_set_params(r->net, &p);
  got s = {0};
  t0 = r->now;
  send(r, 0, &s, 1000);
  pump(r);
  assert_int_equal(s.error, NET_ETIMEDOUT);
  assert_int_equal(s.at, t0 + 1000);
}

static void os_shim_clocks_identity_random(void **state) {
  int64_t now = 5000;
  sim_rng a, b;
  sim_rng_seed(&a, 9, SIM_RNG_AGENT_BASE);
  sim_rng_seed(&b, 9, SIM_RNG_AGENT_BASE);
  sim_os o1, o2;
  sim_os_init(&o1, &now, -250, &a, NULL, "host-1", "");
  sim_os_init(&o2, &now, 0, &b, NULL, NULL, NULL);
  os_shim s1, s2;
  sim_os_shim(&o1, &s1);
  sim_os_shim(&o2, &s2);
  assert_int_equal(s1.mono_ms(s1.ctx), 5000);
  assert_int_equal(s1.wall_ms(s1.ctx), SIM_WALL_EPOCH_MS + 5000 - 250);
  now = 6000;
  assert_int_equal(s2.wall_ms(s2.ctx), SIM_WALL_EPOCH_MS + 6000);
  uint8_t x[40], y[40];
  assert_int_equal(s1.random(s1.ctx, x, sizeof x), OS_OK);
  assert_int_equal(s2.random(s2.ctx, y, sizeof y), OS_OK);
  assert_memory_equal(x, y, sizeof x); /* same seed and stream, same bytes */
  char buf[8];
  assert_int_equal(s1.read_identity(s1.ctx, OS_IDENT_HOSTNAME, buf, sizeof buf), 6);
  assert_string_equal(buf, "host-1");
  assert_int_equal(s1.read_identity(s1.ctx, OS_IDENT_HOSTNAME, buf, 4), 3);
  assert_string_equal(buf, "hos");
  assert_int_equal(s1.read_identity(s1.ctx, OS_IDENT_MACHINE_ID, buf, sizeof buf), OS_ENOENT);
  s1.log(s1.ctx, OS_LOG_WARN, "x");
  s1.log(s1.ctx, OS_LOG_WARN, "y");
  assert_int_equal(o1.log_count[OS_LOG_WARN], 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(delivers_with_latency, setup, teardown),
      cmocka_unit_test_setup_teardown(loss_outage_partition_cancel, setup, teardown),
      cmocka_unit_test(os_shim_clocks_identity_random)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
