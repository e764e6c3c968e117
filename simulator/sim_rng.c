#include "sim_rng.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sim_rng_seed(sim_rng *r, uint64_t seed, uint64_t stream) {
  /* Mix the stream id through its own splitmix round first so that streams
   * (seed, k) and (seed + 1, k - 1) do not start from related states. */
  uint64_t st = stream;
  uint64_t x = seed ^ splitmix64(&st);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1; /* all-zero is a fixed point */
}

uint64_t sim_rng_u64(sim_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

int64_t sim_rng_range(sim_rng *r, int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  uint64_t span = (uint64_t)hi - (uint64_t)lo + 1; /* 0 means the full 64-bit range */
  if (span == 0) return (int64_t)sim_rng_u64(r);
  /* Rejection sampling: the bound is at most 2 expected draws, in practice 1;
   * cap it anyway so a broken generator cannot spin forever. */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % span);
  uint64_t v = sim_rng_u64(r);
  for (int i = 0; i < 64 && v >= limit; i++) v = sim_rng_u64(r);
  return (int64_t)((uint64_t)lo + v % span);
}

double sim_rng_double(sim_rng *r) { return (double)(sim_rng_u64(r) >> 11) * 0x1.0p-53; }

int sim_rng_bernoulli(sim_rng *r, double p) {
  if (p <= 0.0) return 0;
  if (p >= 1.0) return 1;
  return sim_rng_double(r) < p;
}

double sim_rng_exp(sim_rng *r, double mean) {
  if (mean <= 0.0) return 0.0;
  return -mean * log(1.0 - sim_rng_double(r));
}

void sim_rng_fill(sim_rng *r, void *buf, size_t len) {
  unsigned char *p = buf;
  while (len > 0) {
    uint64_t v = sim_rng_u64(r);
    size_t n = len < 8 ? len : 8;
    memcpy(p, &v, n);
    p += n;
    len -= n;
  }
}
