/* Deterministic random numbers (xoshiro256**, seeded through splitmix64).
 * The whole state is four words so a checkpoint can store and restore it
 * exactly: same seed, same sequence, on every machine. */
#ifndef TV_RNG_H
#define TV_RNG_H

#include <stdint.h>

typedef struct Rng {
	uint64_t s[4];
} Rng;

/* Seeds the generator; any seed (0 included) gives a valid state. */
void rng_seed(Rng *rng, uint64_t seed);
uint64_t rng_next(Rng *rng);
/* Uniform double in [0, 1). */
double rng_uniform(Rng *rng);
/* Uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint64_t rng_below(Rng *rng, uint64_t n);
/* Standard normal (Box-Muller, no cached second value: state stays 4 words). */
double rng_normal(Rng *rng);

#endif
