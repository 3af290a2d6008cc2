/* The C side of the DDQN lockstep test (dqn_lockstep.py): the worker's own
 * agent (agent.c: replay sampling, Double-DQN step, Adam, gradient clip,
 * the hard target copy every target_update_every steps) on a replay
 * buffer of random transitions, for STEPS gradient steps. It writes
 * everything an independent implementation needs to follow it - initial
 * weights, replay contents, the indices sampled at each step - and what to
 * compare: the greedy actions on fixed probe states after each step, the
 * loss, and the final online and target parameters.
 *
 * usage: test_dqn_lockstep OUT.bin [STEPS [SEED]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "common/config.h"
#include "common/rng.h"

#define N_REPLAY 256
#define N_PROBE 16

static void put(FILE *f, const void *p, size_t n)
{
	if (fwrite(p, 1, n, f) != n) {
		perror("write");
		exit(1);
	}
}

static void put_i32(FILE *f, int32_t v)
{
	put(f, &v, sizeof(v));
}

static void put_f32(FILE *f, float v)
{
	put(f, &v, sizeof(v));
}

int main(int argc, char **argv)
{
	static const char *sets[] = { "rewts.hidden=32,32", "rewts.batch_size=32",
				      "rewts.buffer_size=256" };
	static float s[N_REPLAY][ENV_STATE_DIM], s2[N_REPLAY][ENV_STATE_DIM], r[N_REPLAY],
		done[N_REPLAY], probe[N_PROBE][ENV_STATE_DIM];
	static int32_t a[N_REPLAY];
	char err[512];
	Config cfg;
	Agent ag;
	Rng rng, data;
	FILE *f;

	int steps = argc > 2 ? atoi(argv[2]) : 1000;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 21;

	if (argc < 2 || steps < 1) {
		fprintf(stderr, "usage: %s OUT.bin [STEPS]\n", argv[0]);
		return 64;
	}
	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (config_set(&cfg, sets[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	rng_seed(&rng, seed);
	rng_seed(&data, seed + 1);
	if (agent_init(&ag, &cfg, &rng) < 0)
		return 1;
	for (int i = 0; i < N_REPLAY; i++) {
		for (int k = 0; k < ENV_STATE_DIM; k++) {
			s[i][k] = (float)rng_normal(&data);
			s2[i][k] = (float)rng_normal(&data);
		}
		a[i] = (int32_t)rng_below(&data, ENV_ACTIONS);
		r[i] = (float)(0.01 * rng_normal(&data));
		done[i] = rng_uniform(&data) < 0.05 ? 1.0f : 0.0f;
	}
	for (int i = 0; i < N_PROBE; i++)
		for (int k = 0; k < ENV_STATE_DIM; k++)
			probe[i][k] = (float)rng_normal(&data);

	f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	put_i32(f, ag.online.n_layers);
	for (int l = 0; l <= ag.online.n_layers; l++)
		put_i32(f, ag.online.sizes[l]);
	put_i32(f, ag.batch);
	put_i32(f, N_REPLAY);
	put_i32(f, steps);
	put_i32(f, N_PROBE);
	put_i32(f, cfg.target_update_every);
	put_f32(f, (float)cfg.gamma);
	put_f32(f, (float)cfg.learning_rate);
	put_f32(f, (float)cfg.grad_clip);
	put(f, ag.online.params, ag.online.n_params * sizeof(float));
	put(f, ag.target.params, ag.target.n_params * sizeof(float));
	put(f, s, sizeof(s));
	put(f, a, sizeof(a));
	put(f, r, sizeof(r));
	put(f, s2, sizeof(s2));
	put(f, done, sizeof(done));
	put(f, probe, sizeof(probe));

	for (int i = 0; i < N_REPLAY; i++)
		if (agent_remember(&ag, s[i], a[i], r[i], s2[i], done[i]) < 0)
			return 1;
	for (int t = 0; t < steps; t++) {
		float loss;

		if (agent_learn(&ag, &rng, &cfg, &loss) < 0)
			return 1;
		put(f, ag.idx, (size_t)ag.batch * sizeof(int32_t));
		for (int i = 0; i < N_PROBE; i++)
			put_i32(f, agent_act(&ag, &rng, probe[i], 0));
		put_f32(f, loss);
	}
	put(f, ag.online.params, ag.online.n_params * sizeof(float));
	put(f, ag.target.params, ag.target.n_params * sizeof(float));
	if (fclose(f) != 0)
		return 1;
	agent_free(&ag);
	return 0;
}
