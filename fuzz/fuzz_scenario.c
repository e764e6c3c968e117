/* libFuzzer target: the simulator's scenario parser. Any input must either
 * parse into a scenario whose values respect the documented bounds or be
 * refused with a message naming the key; nothing may crash, leak or overrun.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sim_scenario s; /* ~90 KiB: keep it off the fuzzer's stack */
  char err[256];
  int rc = sim_scenario_parse((const char *)data, size, &s, err, sizeof err);
  if (rc != SIM_SCN_OK) {
    if (rc != SIM_SCN_EINVALID || err[0] == 0) abort(); /* a refusal must say why */
    return 0;
  }
  if (s.agents < 1 || s.agents > SIM_SCN_MAX_AGENTS || s.duration_s < 1 ||
      s.n_events < 0 || s.n_events > SIM_SCN_MAX_EVENTS || s.line_min > s.line_max ||
      s.latency_min_ms > s.latency_max_ms || s.loss < 0 || s.loss > 1 || !s.name[0])
    abort();
  for (int i = 0; i < s.n_events; i++) {
    const sim_scn_event *e = &s.events[i];
    if (e->at_s < 0 || e->at_s > s.duration_s) abort();
    int64_t k = sim_scenario_event_agents(e, s.agents);
    if ((e->type == SIM_SCN_CRASH || e->type == SIM_SCN_RESTART || e->type == SIM_SCN_PARTITION ||
         e->type == SIM_SCN_POWER_CUT) &&
        (k < 1 || k > s.agents))
      abort();
    if (strcmp(sim_scenario_event_name(e->type), "?") == 0) abort();
  }
  return 0;
}
