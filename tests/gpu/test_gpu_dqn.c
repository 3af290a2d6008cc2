/* GPU DDQN step vs the CPU reference (worker/dqn.h), from the same initial
 * weights on the same batches:
 *   - Q-values of single states (gpu_agent_q) and of a whole batch;
 *   - the gradients of one step against a reference built here from
 *     mlp_forward/mlp_backward (independent of dqn_train_step), and the
 *     gradient norm against one computed here in double;
 *   - loss, parameters (online, target), Adam's m, v, t after 1 and after
 *     50 steps (target copied every 20 steps; pushes interleaved with steps
 *     so the ring wraps while steps are in flight);
 *   - a second GPU run gives the same bits (fixed-order reductions);
 *   - bad arguments are refused, byte accounting is exact.
 * Error measure: relative L2 over the whole vector,
 *   rel(x, ref) = ||x - ref||_2 / max(||ref||_2, 1e-30),
 * which must be <= 1e-4 for each quantity. Exits 77 without a device. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "gpu.h"
#include "dqn.h"

#define DIM 11
#define OUT 3
#define BATCH 128
#define CAP 300
#define TOL 1e-4

static int failures;

static double rel_l2(const float *x, const float *ref, size_t n)
{
	double d = 0.0, r = 0.0;

	for (size_t i = 0; i < n; i++) {
		double e = (double)x[i] - (double)ref[i];

		d += e * e;
		r += (double)ref[i] * ref[i];
	}
	return sqrt(d) / fmax(sqrt(r), 1e-30);
}

static void check(const char *what, double rel)
{
	int ok = rel <= TOL && !isnan(rel);

	printf("%-34s rel_l2 %.3e  %s\n", what, rel, ok ? "ok" : "FAIL");
	if (!ok)
		failures++;
}

#define REQUIRE(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: %s failed (%s)\n", __FILE__, __LINE__, \
			#cond, gpu_last_error()); \
		exit(1); \
	} \
} while (0)

/* The host mirror of the ring: slot = push number % CAP, as gpu.h says. */
typedef struct Ring {
	float s[CAP][DIM], s2[CAP][DIM], r[CAP], done[CAP];
	int32_t a[CAP];
	int64_t pushed;
} Ring;

static void push_random(Ring *ring, GpuAgent *g, Rng *rng)
{
	int slot = (int)(ring->pushed % CAP);

	for (int k = 0; k < DIM; k++) {
		ring->s[slot][k] = (float)rng_normal(rng);
		ring->s2[slot][k] = (float)rng_normal(rng);
	}
	ring->a[slot] = (int32_t)rng_below(rng, OUT);
	ring->r[slot] = (float)(0.01 * rng_normal(rng));
	ring->done[slot] = rng_uniform(rng) < 0.05 ? 1.0f : 0.0f;
	ring->pushed++;
	if (g)
		REQUIRE(gpu_agent_push(g, ring->s[slot], ring->a[slot], ring->r[slot],
				       ring->s2[slot], ring->done[slot]) == 0);
}

/* BATCH distinct slots in [0, n) (partial Fisher-Yates). */
static void draw(Rng *rng, int n, int32_t *idx)
{
	int32_t perm[CAP];

	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = 0; i < BATCH; i++) {
		int j = i + (int)rng_below(rng, (uint64_t)(n - i));
		int32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
		idx[i] = perm[i];
	}
}

typedef struct Host {
	float s[BATCH * DIM], s2[BATCH * DIM], r[BATCH], done[BATCH];
	int32_t a[BATCH];
} Host;

static DqnBatch gather(const Ring *ring, const int32_t *idx, Host *h)
{
	DqnBatch b;

	for (int i = 0; i < BATCH; i++) {
		memcpy(h->s + i * DIM, ring->s[idx[i]], sizeof(ring->s[0]));
		memcpy(h->s2 + i * DIM, ring->s2[idx[i]], sizeof(ring->s2[0]));
		h->a[i] = ring->a[idx[i]];
		h->r[i] = ring->r[idx[i]];
		h->done[i] = ring->done[idx[i]];
	}
	b.n = BATCH;
	b.s = h->s;
	b.a = h->a;
	b.r = h->r;
	b.s2 = h->s2;
	b.done = h->done;
	return b;
}

/* Reference gradients of the DDQN loss, built from the CPU forward and
 * backward alone: dL/dQ(s, a_i) = 2 (Q - y) / B. */
static void ref_grads(Mlp *on, const Mlp *tg, const DqnBatch *b, float gamma,
		      float *ret_grads, float *ret_q)
{
	MlpWork w1, w2;
	float q2[BATCH * OUT], qt[BATCH * OUT], dout[BATCH * OUT];

	REQUIRE(mlp_work_init(&w1, on, BATCH) == 0);
	REQUIRE(mlp_work_init(&w2, tg, BATCH) == 0);
	memcpy(q2, mlp_forward(on, &w1, b->s2, BATCH), sizeof(q2));
	memcpy(qt, mlp_forward(tg, &w2, b->s2, BATCH), sizeof(qt));
	const float *q = mlp_forward(on, &w1, b->s, BATCH);
	memcpy(ret_q, q, sizeof(float) * BATCH * OUT);
	memset(dout, 0, sizeof(dout));
	for (int i = 0; i < BATCH; i++) {
		int best = 0;

		for (int j = 1; j < OUT; j++)
			if (q2[i * OUT + j] > q2[i * OUT + best])
				best = j;
		float y = b->r[i] + gamma * qt[i * OUT + best] * (1.0f - b->done[i]);
		dout[i * OUT + b->a[i]] = 2.0f * (q[i * OUT + b->a[i]] - y) / BATCH;
	}
	mlp_backward(on, &w1, dout, BATCH);
	memcpy(ret_grads, on->grads, on->n_params * sizeof(float));
	mlp_work_free(&w1);
	mlp_work_free(&w2);
}

int main(void)
{
	const int sizes[] = { DIM, 256, 256, 128, OUT };
	const float gamma = 0.995f, clip = 1.0f;
	char name[256];
	Rng rng;
	Mlp on = { 0 }, tg = { 0 }, on2 = { 0 }, g_on = { 0 }, g_tg = { 0 };
	Adam opt = { 0 }, g_opt = { 0 };
	MlpWork w_on, w_tg;
	GpuAgent *g = NULL, *g2 = NULL;
	static Ring ring;
	Host h;
	int32_t idx[BATCH];
	size_t np;
	float *grads_g, *grads_ref, q_g[OUT], q_b_g[BATCH * OUT], q_b_ref[BATCH * OUT];
	float norm_g;
	double loss_cpu_sum = 0.0, loss_g = 0.0;
	int64_t steps_g = 0;

	if (gpu_device_count() == 0) {
		printf("no CUDA device: skipped\n");
		return 77;
	}
	REQUIRE(gpu_device_name(0, name, sizeof(name)) == 0);
	printf("device: %s\n", name);

	rng_seed(&rng, 20240611);
	REQUIRE(mlp_init(&on, sizes, 4, &rng) == 0);
	REQUIRE(mlp_init(&tg, sizes, 4, &rng) == 0);
	mlp_copy_params(&tg, &on);
	REQUIRE(mlp_init(&on2, sizes, 4, &rng) == 0);
	REQUIRE(mlp_init(&g_on, sizes, 4, &rng) == 0);
	REQUIRE(mlp_init(&g_tg, sizes, 4, &rng) == 0);
	np = on.n_params;
	REQUIRE(adam_init(&opt, np, 5e-4f, 0.9f, 0.999f, 1e-8f) == 0);
	REQUIRE(adam_init(&g_opt, np, 5e-4f, 0.9f, 0.999f, 1e-8f) == 0);
	REQUIRE(mlp_work_init(&w_on, &on, BATCH) == 0);
	REQUIRE(mlp_work_init(&w_tg, &tg, BATCH) == 0);
	grads_g = malloc(np * sizeof(float));
	grads_ref = malloc(np * sizeof(float));
	REQUIRE(grads_g && grads_ref);

	/* Argument checks and byte accounting. */
	REQUIRE(gpu_agent_new(&g, &on, &tg, &opt, BATCH, CAP, DIM + 1) == -EINVAL);
	REQUIRE(gpu_agent_new(&g, &on, &tg, &opt, CAP + 1, CAP, DIM) == -EINVAL);
	REQUIRE(gpu_agent_new(&g, &on, &tg, &opt, BATCH, CAP, DIM) == 0);
	REQUIRE(gpu_agent_new(&g2, &on, &tg, &opt, BATCH, CAP, DIM) == 0);
	{
		int64_t rb, ab, wb;

		REQUIRE(gpu_agent_bytes(g, &rb, &ab, &wb) == 0);
		printf("device bytes: replay %lld activations %lld weights %lld\n",
		       (long long)rb, (long long)ab, (long long)wb);
		REQUIRE(rb == (int64_t)CAP * (2 * DIM + 3) * 4);
		REQUIRE(wb == (int64_t)np * 4 * 5);
		REQUIRE(ab > 0);
	}

	/* Fill the ring past one wrap before the first step; both agents get
	 * the same transitions. */
	{
		Rng data;

		rng_seed(&data, 7);
		for (int i = 0; i < 400; i++) {
			int slot = (int)(ring.pushed % CAP);

			push_random(&ring, g, &data);
			REQUIRE(gpu_agent_push(g2, ring.s[slot], ring.a[slot], ring.r[slot],
					       ring.s2[slot], ring.done[slot]) == 0);
		}
	}
	REQUIRE(gpu_agent_size(g) == CAP);

	/* Single-state forward. */
	{
		double worst = 0.0;

		for (int i = 0; i < 16; i++) {
			const float *q_c = mlp_forward(&on, &w_on, ring.s[i * 7], 1);

			REQUIRE(gpu_agent_q(g, ring.s[i * 7], q_g) == 0);
			worst = fmax(worst, rel_l2(q_g, q_c, OUT));
		}
		check("forward q (16 states, worst)", worst);
	}

	/* Step 1: gradients against the independent reference. */
	draw(&rng, CAP, idx);
	REQUIRE(gpu_agent_train_step(g, idx, gamma, clip) == 0);
	REQUIRE(gpu_agent_train_step(g2, idx, gamma, clip) == 0);
	DqnBatch b = gather(&ring, idx, &h);
	mlp_copy_params(&on2, &on);
	ref_grads(&on2, &tg, &b, gamma, grads_ref, q_b_ref);
	REQUIRE(gpu_agent_debug_last(g, grads_g, &norm_g, q_b_g) == 0);
	check("forward q (batch of s)", rel_l2(q_b_g, q_b_ref, BATCH * OUT));
	check("gradients, step 1", rel_l2(grads_g, grads_ref, np));
	{
		double ss = 0.0;

		for (size_t i = 0; i < np; i++)
			ss += (double)grads_ref[i] * grads_ref[i];
		float norm_ref = (float)sqrt(ss);
		printf("grad norm: gpu %.7g  reference %.7g (clip %g)\n", norm_g,
		       norm_ref, clip);
		check("gradient norm, step 1", rel_l2(&norm_g, &norm_ref, 1));
	}
	loss_cpu_sum += dqn_train_step(&on, &tg, &opt, &w_on, &w_tg, &b, gamma, clip);
	REQUIRE(gpu_agent_download(g, &g_on, &g_tg, &g_opt) == 0);
	check("online params, step 1", rel_l2(g_on.params, on.params, np));
	check("adam m, step 1", rel_l2(g_opt.m, opt.m, np));
	check("adam v, step 1", rel_l2(g_opt.v, opt.v, np));
	REQUIRE(g_opt.t == opt.t && opt.t == 1);
	REQUIRE(gpu_agent_loss_sum(g, &loss_g, &steps_g, 0) == 0);
	{
		float lg = (float)loss_g, lc = (float)loss_cpu_sum;

		printf("loss step 1: gpu %.7g cpu %.7g\n", lg, lc);
		check("loss, step 1", rel_l2(&lg, &lc, 1));
	}

	/* Steps 2..50, pushing 3 transitions between steps (the ring wraps
	 * while steps are queued), target copied every 20 steps. */
	{
		Rng data;

		rng_seed(&data, 8);
		for (int step = 2; step <= 50; step++) {
			for (int k = 0; k < 3; k++) {
				int slot = (int)(ring.pushed % CAP);

				push_random(&ring, g, &data);
				REQUIRE(gpu_agent_push(g2, ring.s[slot], ring.a[slot],
						       ring.r[slot], ring.s2[slot],
						       ring.done[slot]) == 0);
			}
			draw(&rng, CAP, idx);
			REQUIRE(gpu_agent_train_step(g, idx, gamma, clip) == 0);
			REQUIRE(gpu_agent_train_step(g2, idx, gamma, clip) == 0);
			b = gather(&ring, idx, &h);
			loss_cpu_sum += dqn_train_step(&on, &tg, &opt, &w_on, &w_tg, &b,
						       gamma, clip);
			if (step % 20 == 0) {
				mlp_copy_params(&tg, &on);
				REQUIRE(gpu_agent_copy_target(g) == 0);
				REQUIRE(gpu_agent_copy_target(g2) == 0);
			}
		}
	}
	idx[0] = CAP;
	REQUIRE(gpu_agent_train_step(g, idx, gamma, clip) == -EINVAL);
	REQUIRE(gpu_agent_download(g, &g_on, &g_tg, &g_opt) == 0);
	check("online params, step 50", rel_l2(g_on.params, on.params, np));
	check("target params, step 50", rel_l2(g_tg.params, tg.params, np));
	check("adam m, step 50", rel_l2(g_opt.m, opt.m, np));
	check("adam v, step 50", rel_l2(g_opt.v, opt.v, np));
	REQUIRE(g_opt.t == opt.t && opt.t == 50);
	REQUIRE(gpu_agent_loss_sum(g, &loss_g, &steps_g, 1) == 0);
	REQUIRE(steps_g == 50);
	{
		float lg = (float)loss_g, lc = (float)loss_cpu_sum;

		printf("loss sum 50 steps: gpu %.7g cpu %.7g\n", lg, lc);
		check("loss sum, 50 steps", rel_l2(&lg, &lc, 1));
	}
	REQUIRE(gpu_agent_loss_sum(g, &loss_g, &steps_g, 0) == 0);
	REQUIRE(loss_g == 0.0 && steps_g == 0);

	/* A second device run from the same start: the same bits. */
	{
		Mlp o2 = { 0 };

		REQUIRE(mlp_init(&o2, sizes, 4, &rng) == 0);
		REQUIRE(gpu_agent_download(g2, &o2, NULL, NULL) == 0);
		int same = memcmp(o2.params, g_on.params, np * sizeof(float)) == 0;
		printf("%-34s %s\n", "two GPU runs bit-identical", same ? "ok" : "FAIL");
		if (!same)
			failures++;
		mlp_free(&o2);
	}
	{
		const float *q_c = mlp_forward(&on, &w_on, ring.s[3], 1);

		REQUIRE(gpu_agent_q(g, ring.s[3], q_g) == 0);
		check("forward q after 50 steps", rel_l2(q_g, q_c, OUT));
	}

	gpu_agent_free(g);
	gpu_agent_free(g2);
	gpu_agent_free(NULL);
	free(grads_g);
	free(grads_ref);
	mlp_work_free(&w_on);
	mlp_work_free(&w_tg);
	mlp_free(&on);
	mlp_free(&tg);
	mlp_free(&on2);
	mlp_free(&g_on);
	mlp_free(&g_tg);
	adam_free(&opt);
	adam_free(&g_opt);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
