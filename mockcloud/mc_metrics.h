/* mc_metrics.h - the agents' self-metrics, as sent in each check-in (issue #5).
 *
 * The check-in body carries "metrics": a flat JSON object of numbers and
 * booleans (docs/protocol.md). The cloud keeps the latest one per agent in
 * the table agent_metrics (docs/cloud-store.md): bounded by the number of
 * agents, never a growing history.
 *
 * Return codes: MC_OK, MC_EINVAL (not a flat object of numbers/booleans, too
 * large, or unknown agent for the readers), MC_EDB.
 */
#ifndef OUTPOST_MC_METRICS_H
#define OUTPOST_MC_METRICS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "mc.h"

#define MC_METRICS_MAX 2048 /* compact JSON of one agent's metrics */
#define MC_METRICS_MAX_KEYS 40

typedef struct mc_metrics_row {
  char agent_id[33];
  int64_t received_ms;
  char json[MC_METRICS_MAX];
} mc_metrics_row;

/* Validates and stores m for agent_id (replacing the previous one). */
int mc_metrics_store(mc_cloud *c, const char *agent_id, const cJSON *m, int64_t now);
/* The latest metrics of one agent: MC_OK, MC_EINVAL (none from it), MC_EDB. */
int mc_metrics_get(mc_cloud *c, const char *agent_id, mc_metrics_row *out);
/* Calls fn for every agent's latest metrics, by agent id; fn non-zero stops. */
int mc_metrics_foreach(mc_cloud *c, int (*fn)(void *user, const mc_metrics_row *row),
                       void *user);

#endif
