/* sim_rng.h - seeded pseudo-random streams for the simulator (xoshiro256**).
 *
 * Every agent and every fault source owns one stream derived from
 * (run seed, stream id) with splitmix64, so adding draws to one stream never
 * shifts another: a scenario stays reproducible when one agent changes its
 * behaviour. A stream is a plain value (no allocation, nothing to free).
 */
#ifndef OUTPOST_SIM_RNG_H
#define OUTPOST_SIM_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct sim_rng {
  uint64_t s[4];
} sim_rng;

/* Well-known stream ids; agents use SIM_RNG_AGENT_BASE + index. Every draw
 * that decides what happens to one agent comes from a stream of that agent
 * (its OS, its network path: SIM_RNG_NET_BASE + index, the cloud's draws for
 * its requests: SIM_RNG_CLOUD_BASE + index), so a shard that runs only some
 * agents sees for each of them what the whole fleet's run sees (issue #15,
 * docs/scale.md). The fleet-wide streams below serve only fleet-level work
 * done identically in every shard (set-up, picking the agents an event hits). */
#define SIM_RNG_NET 1u   /* unused since issue #15: the network draws per agent */
#define SIM_RNG_CLOUD 2u /* the cloud's draws outside any agent's request */
#define SIM_RNG_FAULTS 3u
#define SIM_RNG_LOGGEN 4u
#define SIM_RNG_AGENT_BASE 1000u
#define SIM_RNG_NET_BASE UINT64_C(5000000)
#define SIM_RNG_CLOUD_BASE UINT64_C(6000000)

void sim_rng_seed(sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_u64(sim_rng *r);
/* Uniform integer in [lo, hi] (inclusive). hi < lo returns lo. Unbiased. */
int64_t sim_rng_range(sim_rng *r, int64_t lo, int64_t hi);
/* Uniform double in [0, 1), 53 bits. */
double sim_rng_double(sim_rng *r);
/* 1 with probability p (p <= 0 never, p >= 1 always). */
int sim_rng_bernoulli(sim_rng *r, double p);
/* Exponential with the given mean (>= 0). */
double sim_rng_exp(sim_rng *r, double mean);
void sim_rng_fill(sim_rng *r, void *buf, size_t len);

#endif
