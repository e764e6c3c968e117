/* sim_net.h - the simulated network: one net_shim per agent, all delivering
 * to one in-process mock cloud (mockcloud/mc.h) through the event queue.
 *
 * A request is copied, then (drawing from the agent's own stream of the
 * network, seed and SIM_RNG_NET_BASE + agent: one agent's traffic never
 * shifts another's draws, issue #15):
 *   - agent partitioned            -> NET_ETIMEDOUT after the request timeout
 *   - cloud down when it arrives   -> NET_ECONNECT one latency later
 *   - lost on the way in (loss)    -> NET_ETIMEDOUT after timeout; cloud never sees it
 *   - else delivered after latency L1 (uniform [lat_min, lat_max]); the cloud
 *     handles it then (mc_handle, with the URL's path without query); the reply
 *     is lost with response_loss (the cloud acted, the agent gets
 *     NET_ETIMEDOUT after its timeout) or arrives L2 later (NET_ETIMEDOUT
 *     instead if that is past the timeout; NET_ETOOBIG if over
 *     max_response_bytes) with status, body and headers date, content-type.
 * done() runs only from sim_net_dispatch(), which the event loop calls for the
 * events this module pushed (types ev_deliver / ev_complete given at creation).
 * cancel(id) frees the request at once; its queued events then find nothing.
 *
 * Ownership: sim_net owns every pending request and its copies; sim_net_free
 * drops pending requests without calling done(). The cloud, queue and clock
 * are borrowed and must outlive it. The net_shim filled by sim_net_shim points
 * into sim_net and is valid until sim_net_free.
 *
 * Return codes: SIM_NET_OK (0), SIM_NET_ENOMEM, SIM_NET_EINVAL; request()
 * returns NET_* codes as net.h says (NET_EBUSY at SIM_NET_MAX_PENDING).
 */
#ifndef OUTPOST_SIM_NET_H
#define OUTPOST_SIM_NET_H

#include <stdint.h>

#include "mc.h"
#include "shim/net.h"
#include "sim_queue.h"
#include "sim_rng.h"

#define SIM_NET_OK 0
#define SIM_NET_ENOMEM (-1)
#define SIM_NET_EINVAL (-2)

#define SIM_NET_MAX_PENDING (1u << 20)
#define SIM_NET_MAX_PER_AGENT 64
#define SIM_NET_STREAM_PIECE 65536 /* bytes per sink call of a streamed body */

typedef struct sim_net sim_net;

typedef struct sim_net_params {
  int64_t latency_min_ms, latency_max_ms;
  double loss, response_loss;
} sim_net_params;

typedef struct sim_net_stats {
  int64_t requests, delivered, lost_in, lost_out, refused, partitioned, timeouts,
      completed, cancelled, busy, tls_failed;
  /* issue #14: losses and outage refusals that hit an agent while it had
   * two or more requests in flight (its shipping window at work) */
  int64_t lost_in_window, refused_in_window;
} sim_net_stats;

/* What a dispatched event did, for the trace and for the driver. */
typedef struct sim_net_result {
  int32_t agent;   /* agent whose done() ran (-1 when nothing did) */
  int called;      /* 1 when done() ran: call agent_step next */
  int error;       /* NET_* delivered */
  int status;      /* HTTP status (0 on error) */
} sim_net_result;

int sim_net_create(int n_agents, mc_cloud *cloud, sim_queue *q, const int64_t *now_ms,
                   uint64_t seed, int ev_deliver, int ev_complete, sim_net **out);
void sim_net_free(sim_net *n);

void sim_net_set_params(sim_net *n, const sim_net_params *p);
void sim_net_get_params(const sim_net *n, sim_net_params *p);
void sim_net_set_cloud_down(sim_net *n, int down);
void sim_net_set_partition(sim_net *n, int agent, int partitioned);

/* Fills *out with the shim for agent index `agent` (0..n_agents-1). */
int sim_net_shim(sim_net *n, int agent, net_shim *out);

/* Handles one popped event of type ev_deliver or ev_complete. */
int sim_net_dispatch(sim_net *n, const sim_event *ev, sim_net_result *res);

int64_t sim_net_pending(const sim_net *n, int agent); /* agent < 0: all */

/* Observer of every request the cloud receives, called just before
 * mc_handle (the fleet's attacker captures signed requests to replay them).
 * The request is valid only during the call. fn NULL removes it. */
typedef void (*sim_net_tap_fn)(void *user, int32_t agent, const mc_request *req);
void sim_net_set_tap(sim_net *n, sim_net_tap_fn fn, void *user);
void sim_net_get_stats(const sim_net *n, sim_net_stats *out);

/* Another server on the same host (issue #6: the simulator's TUF repository
 * under /v1/tuf/ and /v1/targets/). Called for every delivered request before
 * mc_handle; returning 1 means it filled *resp (body malloc'd, freed with
 * mc_response_free) and the cloud never sees the request (nor does the tap).
 * fn NULL removes it. */
typedef int (*sim_net_handler_fn)(void *user, const mc_request *req, mc_response *resp);
void sim_net_set_handler(sim_net *n, sim_net_handler_fn fn, void *user);

/* issue #16: a liar between the agents and the cloud. Called after
 * mc_handle for every request the cloud handled (not those of the
 * handler above), with the agent it came from; it may rewrite *resp (the
 * body malloc'd, freed with mc_response_free: replace it, never keep a
 * pointer to it). The request is valid only during the call. fn NULL
 * removes it. */
typedef void (*sim_net_filter_fn)(void *user, int32_t agent, const mc_request *req,
                                  mc_response *resp);
void sim_net_set_filter(sim_net *n, sim_net_filter_fn fn, void *user);

/* issue #16: a certificate problem on the agent's path: while on, each of
 * its requests fails one latency later with NET_ETLS (the handshake), and
 * the cloud never sees it. */
void sim_net_set_tls_fail(sim_net *n, int agent, int on);

#endif
