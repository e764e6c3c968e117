/* sim_sweep.h - `outpost-sim sweep` (issue #16): one scenario over many
 * seeds, N runs at a time, each a child `outpost-sim run ... --quiet` of this
 * same binary (a crash in one run cannot take the sweep down, and runs share
 * nothing). Lists the failing seeds with their replay commands.
 *
 *   outpost-sim sweep SCENARIO.json --seeds A..B [--jobs N] [--agents N]
 *
 * At most SIM_SWEEP_MAX_SEEDS seeds and SIM_SWEEP_MAX_JOBS jobs; --jobs
 * defaults to the online CPUs. Exit 0: every seed passed; 1: some failed;
 * 2: usage, or a run could not start or exited 2 (a bad scenario).
 */
#ifndef OUTPOST_SIM_SWEEP_H
#define OUTPOST_SIM_SWEEP_H

#define SIM_SWEEP_MAX_SEEDS 100000
#define SIM_SWEEP_MAX_JOBS 64

/* argv[0] is "sweep". */
int sim_sweep_main(int argc, char **argv);

#endif
