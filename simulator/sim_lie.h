/* sim_lie.h - issue #16: a cloud that lies in its replies (docs/scenarios.md,
 * event cloud_lie). A filter between the mock cloud and the simulated
 * network (sim_net_set_filter): the cloud acts honestly, and its reply to a
 * chosen agent is rewritten on the way back, for a while:
 *
 *   session_swap     a 200 to POST /v1/session is replaced by the last
 *                    session the cloud gave another agent (its id and key):
 *                    the agent would sign its requests as that agent
 *   policy_rollback  the policy_version of a 200 to POST /v1/ingest is
 *                    lowered by one, and the 200 to GET /v1/policy is the
 *                    policy with its version lowered by one and other
 *                    content (an added log glob /var/log/rollback.log)
 *   ack_beyond       the acked_through of a 200 to POST /v1/ingest is
 *                    moved 1000 seqs past the batch's last
 *
 * It also watches the agent's next requests to tell whether each lie was
 * believed or refused:
 *   session_swap     refused when the cloud answers a request signed with
 *                    the other agent's session "session belongs to another
 *                    agent process" (401), believed when it answers 2xx
 *   policy_rollback  refused when the agent reports the older version
 *                    "rejected", believed when it reports it applied
 *   ack_beyond       refused when the agent's next ingest starts at or
 *                    before the forged batch's last seq (it kept the
 *                    batch), believed when it starts past it
 *
 * Ownership: sim_lie_create allocates, sim_lie_free frees (NULL fine); now
 * is borrowed and must outlive it. Bounded: one saved session reply of at
 * most SIM_LIE_SESSION_MAX bytes per agent; bodies rewritten are at most
 * SIM_LIE_BODY_MAX bytes (longer ones pass unchanged). Bad bodies are left
 * as they are.
 * Return codes: sim_lie_create 0, or -1 out of memory / bad n.
 */
#ifndef OUTPOST_SIM_LIE_H
#define OUTPOST_SIM_LIE_H

#include <stdint.h>

#include "mc.h"

#define SIM_LIE_KINDS 3
#define SIM_LIE_SESSION_MAX 256
#define SIM_LIE_BODY_MAX 65536
#define SIM_LIE_ACK_PAST 1000

typedef struct sim_lie sim_lie;

typedef struct sim_lie_counts {
  int64_t told, refused, believed;
  int64_t hit; /* cloud_lie events of this kind that chose this agent */
} sim_lie_counts;

int sim_lie_create(int64_t n_agents, const int64_t *now_ms, sim_lie **out);
void sim_lie_free(sim_lie *l);
/* Agent idx is lied to with kind (sim_scn_lie_kind, 1..SIM_LIE_KINDS)
 * until until_ms (sim time). */
void sim_lie_start(sim_lie *l, int64_t idx, int kind, int64_t until_ms);
/* The sim_net_filter_fn; user is the sim_lie. */
void sim_lie_filter(void *user, int32_t agent, const mc_request *req, mc_response *resp);
/* Counts for agent idx and kind (zeros when out of range). */
void sim_lie_get(const sim_lie *l, int64_t idx, int kind, sim_lie_counts *out);

#endif
