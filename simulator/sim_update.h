/* sim_update.h - the simulator's side of issue #6: a TUF repository written
 * by the cloud's own mc_repo (in-memory keys drawn from the scenario's seed),
 * served to the simulated agents under /v1/tuf/ and /v1/targets/ (hooked into
 * sim_net in front of mc_handle), the repository events of a scenario
 * (release, promote, freeze, replay_metadata, compromise_online_keys,
 * tamper_target, endless_data, mix_and_match) and the install record a
 * minimal supervisor keeps (docs/scenarios.md "Updates").
 *
 * The repository lives on the host filesystem in a fresh directory under
 * /tmp (like the cloud's store when no --out is given), removed by
 * sim_update_free. Serving maps only the exact name shapes docs/updates.md
 * lists (anything else 404, other methods 405), like outpost-cloud serve.
 *
 * Attacks change only what is served or signed:
 *   freeze           timestamp.json as it is now is served from then on and
 *                    nothing is re-signed: it expires
 *   replay_metadata  timestamp.json as it was after the generation-th change
 *                    of the repository (0 = as initialised) is served; the
 *                    older snapshot/targets files it names are still there
 *   compromise_online_keys  a release signed with every real online TUF key,
 *                    its release statement signed by an attacker's key
 *   tamper_target    the binary of a version is served with one byte changed
 *                    (its length kept): a hash mismatch
 *   endless_data     timestamp.json is served with 2 MiB of padding
 *   mix_and_match    every N.<role>.json is answered with the body of
 *                    <body_version>.<role>.json (validly signed, but not the
 *                    version the referring snapshot or timestamp names)
 *
 * Ownership: sim_update_create allocates, sim_update_free frees (NULL fine).
 * Return codes: SIM_UPD_OK (0) or SIM_UPD_EFAIL (-1, message in err).
 */
#ifndef OUTPOST_SIM_UPDATE_H
#define OUTPOST_SIM_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "mc.h"
#include "sim_scenario.h"

#define SIM_UPD_OK 0
#define SIM_UPD_EFAIL (-1)
#define SIM_UPD_MAX_GENERATIONS 64
#define SIM_UPD_MAX_SERVED ((SIM_SCN_MAX_BINARY_KB + 1024u) * 1024) /* a binary and then some */

typedef struct sim_update sim_update;

/* A repository initialised at wall_ms, keys from (seed, stream). */
int sim_update_create(uint64_t seed, int64_t wall_ms, int64_t n_agents, sim_update **out,
                      char *err, size_t err_cap);
void sim_update_free(sim_update *u);

/* The trusted root (1.root.json) to seed agents with, and the release key's
 * public half (PEM, NUL-terminated). Valid until sim_update_free. */
const uint8_t *sim_update_root(const sim_update *u, size_t *len);
const char *sim_update_release_pem(const sim_update *u);

/* sim_net handler: 1 when the request was for the repository. */
int sim_update_serve(void *user, const mc_request *req, mc_response *resp);

/* What outpost-cloud serve's timer does (mc_repo_refresh), unless frozen. */
void sim_update_tick(sim_update *u, int64_t wall_ms);

/* Applies a repository event (types SIM_SCN_UPD_*). Writes a short JSON
 * description (no leading comma) into desc for the trace. */
int sim_update_event(sim_update *u, const sim_scn_event *e, int64_t now_ms, int64_t wall_ms,
                     char *desc, size_t desc_cap, char *err, size_t err_cap);

/* The simulator's supervisor installed version on agent idx at now_ms (ring:
 * the agent's ring). Returns NULL, or why this install breaks the scenario's
 * rules (downgrade, a version never to be installed, a version its ring did
 * not hold, an install after an attack when that is forbidden; static text
 * in a buffer of u). */
const char *sim_update_installed(sim_update *u, const sim_scenario *scn, int32_t idx,
                                 const char *version, const char *ring, int64_t now_ms);
/* Its supervisor rolled agent idx back to version ("" = the packaged one). */
void sim_update_rolled_back(sim_update *u, int32_t idx, const char *version);
/* The version agent idx runs ("" = the packaged one) and how many installs. */
const char *sim_update_version_of(const sim_update *u, int32_t idx);
int64_t sim_update_installs(const sim_update *u);

/* End-of-run checks against the cloud's update_* events. agent_ids[i] is the
 * identity of agent i. fn is called once per expectation with its result. */
typedef void (*sim_update_result_fn)(void *user, const char *name, int pass, const char *detail);
void sim_update_check_end(sim_update *u, const sim_scenario *scn, mc_cloud *cloud,
                          const char *const *agent_ids, int64_t n, sim_update_result_fn fn,
                          void *user);

#endif
