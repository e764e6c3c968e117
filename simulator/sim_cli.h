/* sim_cli.h - small helpers the outpost-sim commands share (run, sweep).
 *
 * sim_cli_parse_u64: a decimal number in 0..max, nothing else (no sign, no
 * spaces, no suffix): 0 and *out set, or -1 and *out untouched.
 * sim_cli_now_s: the monotonic clock in seconds (for durations shown to a
 * person; never in a run's results). */
#ifndef OUTPOST_SIM_CLI_H
#define OUTPOST_SIM_CLI_H

#include <stdint.h>

int sim_cli_parse_u64(const char *s, uint64_t max, uint64_t *out);
double sim_cli_now_s(void);

#endif
