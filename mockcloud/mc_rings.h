/* mc_rings.h - per-agent-group policies and the promotion gate (issues #5,
 * #6; docs/policy.md "Agent groups", docs/updates.md "Promotion gate").
 *
 * An agent may belong to one group of its workspace. GET /v1/policy serves
 * the group's policy when the agent is in a group that has one, else the
 * workspace's. This is how an operator puts agents on release rings: a
 * group whose policy says "update_ring": "canary".
 *
 * Versions: every policy of a workspace, its own and its groups', takes its
 * version from one counter (1 + the highest version any of them holds), so
 * two policies an agent may be served never share a number (the agent skips
 * a policy whose version equals the one it runs). Moving an agent to a group
 * whose policy is older than the one it is served now re-stamps that policy
 * with the next number (content unchanged), so no agent ever sees its policy
 * version go down; the group's other agents merely fetch the same content
 * again.
 *
 * Group names: 1..64 of [A-Za-z0-9._-] (like workspace names).
 *
 * Return codes: MC_OK or negative (mc.h): MC_EINVAL (unknown agent or
 * workspace, bad group name, bad policy text: message in err), MC_EDB,
 * MC_ENOMEM.
 */
#ifndef OUTPOST_MOCKCLOUD_MC_RINGS_H
#define OUTPOST_MOCKCLOUD_MC_RINGS_H

#include <stddef.h>
#include <stdint.h>

#include "mc.h"

#define MC_GROUP_MAX 64

/* Puts agent_id in group ("" or NULL: in no group, the workspace's policy
 * applies). The group need not have a policy yet. */
int mc_agent_set_group(mc_cloud *c, const char *agent_id, const char *group, char *err,
                       size_t err_cap);
/* The agent's group into out ("" when none). MC_OK, MC_EINVAL (unknown) or
 * MC_EDB. */
int mc_agent_group(mc_cloud *c, const char *agent_id, char out[MC_GROUP_MAX + 1]);

/* Sets group's policy in workspace, as mc_policy_set does for the
 * workspace's own (the "version" in json is replaced; the new one in
 * *version). */
int mc_policy_set_group(mc_cloud *c, const char *workspace, const char *group, const char *json,
                        size_t len, int64_t *version, char *err, size_t err_cap);

/* The version of the policy agent_id is served now, 0 when none; negative
 * on error (MC_EINVAL: NULL argument, MC_EDB: the store failed), never 0. */
int64_t mc_policy_version_of(mc_cloud *c, const char *agent_id);

/* Promotion gate: how many distinct agents reported version rolled back by
 * their supervisor (update_rollback events, any ring: a rollback can only
 * come from a ring that held the version, i.e. the source ring or one
 * before it). 0 means the gate is open. why (optional) names the first such
 * agent and its reason. Returns the count (>= 0) or MC_EDB. */
int64_t mc_promote_rollbacks(mc_cloud *c, const char *version, char *why, size_t why_cap);

#endif
