/* Benchmark of one Double-DQN gradient step (worker/nn.c) at the users'
 * network 11-256-256-128-3, single-threaded OpenBLAS, plus this machine's
 * single-core sgemm peak to put the step's GFLOP/s in proportion.
 *
 * Usage: bench_step [reps] [batch ...]   (default 2000 reps; 128 256 512)
 * Output: one "key=value" line per measurement (bench/step.sh parses it).
 *
 * FLOPs counted per step (sgemm only; bias, ReLU, Adam are not counted):
 *   3 forwards (online on s and s', target on s') : 3 * 2*B*sum(in*out)
 *   backward dW for every layer                    :     2*B*sum(in*out)
 *   backward dX for every layer but the first      :     2*B*(sum(in*out) - 11*256)
 * = B * (10*sum(in*out) - 2*11*256) with sum(in*out) = 101504,
 * i.e. 1,009,408 FLOPs per batch row. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dqn.h"
#include "nn.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a shared, loaded machine the wall clock
 * also counts time the thread was not running; this does not. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Single-thread sgemm C = A B (n x n) in GFLOP/s: median and best of reps. */
static void sgemm_peak(int n, int reps)
{
	float *a = malloc((size_t)n * n * sizeof(float));
	float *b = malloc((size_t)n * n * sizeof(float));
	float *c = malloc((size_t)n * n * sizeof(float));
	double *t = malloc(reps * sizeof(double));
	double *tc = malloc(reps * sizeof(double));
	double flops = 2.0 * n * n * n, best;

	for (size_t i = 0; i < (size_t)n * n; i++) {
		a[i] = (float)(i % 17) * 0.01f;
		b[i] = (float)(i % 13) * 0.02f;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b,
		    n, 0.0f, c, n);
	for (int r = 0; r < reps; r++) {
		double t0 = now_s(), c0 = cpu_s();

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a,
			    n, b, n, 0.0f, c, n);
		tc[r] = cpu_s() - c0;
		t[r] = now_s() - t0;
	}
	best = t[0];
	for (int r = 1; r < reps; r++)
		if (t[r] < best)
			best = t[r];
	printf("peak n=%d median_gflops=%.1f best_gflops=%.1f cpu_gflops=%.1f\n", n,
	       flops / median(t, reps) / 1e9, flops / best / 1e9,
	       flops / median(tc, reps) / 1e9);
	free(a);
	free(b);
	free(c);
	free(t);
	free(tc);
}

static double step_flops(const Mlp *m, int batch)
{
	double sum = 0;

	for (int l = 0; l < m->n_layers; l++)
		sum += (double)m->sizes[l] * m->sizes[l + 1];
	return batch * (10.0 * sum - 2.0 * m->sizes[0] * m->sizes[1]);
}

static int bench_batch(int batch, int reps)
{
	const int sizes[] = { 11, 256, 256, 128, 3 };
	Mlp on, tg;
	MlpWork won, wtg;
	Adam opt;
	Rng rng;
	float *s, *s2, *r, *done, *dout;
	int32_t *a;
	double *t = malloc(reps * sizeof(double));
	double *tc = malloc(reps * sizeof(double));
	double *tf = malloc(reps * sizeof(double));
	double *tb = malloc(reps * sizeof(double));
	double *ta = malloc(reps * sizeof(double));
	double med, medc, sink = 0;
	DqnBatch b;
	int warm = reps / 10 + 20;

	rng_seed(&rng, 1234);
	if (mlp_init(&on, sizes, 4, &rng) || mlp_init(&tg, sizes, 4, &rng) ||
	    mlp_work_init(&won, &on, batch) || mlp_work_init(&wtg, &tg, batch) ||
	    adam_init(&opt, on.n_params, 5e-4f, 0.9f, 0.999f, 1e-8f))
		return -1;
	mlp_copy_params(&tg, &on);
	s = malloc((size_t)batch * 11 * sizeof(float));
	s2 = malloc((size_t)batch * 11 * sizeof(float));
	r = malloc(batch * sizeof(float));
	done = malloc(batch * sizeof(float));
	dout = calloc((size_t)batch * 3, sizeof(float));
	a = malloc(batch * sizeof(int32_t));
	for (int i = 0; i < batch * 11; i++) {
		s[i] = (float)rng_normal(&rng);
		s2[i] = (float)rng_normal(&rng);
	}
	for (int i = 0; i < batch; i++) {
		r[i] = (float)(0.01 * rng_normal(&rng));
		done[i] = rng_uniform(&rng) < 0.05 ? 1.0f : 0.0f;
		a[i] = (int32_t)rng_below(&rng, 3);
		dout[i * 3 + a[i]] = 1.0f / batch;
	}
	b = (DqnBatch){ batch, s, a, r, s2, done };

	for (int i = 0; i < warm; i++)
		sink += dqn_train_step(&on, &tg, &opt, &won, &wtg, &b, 0.995f, 1.0f);
	for (int i = 0; i < reps; i++) {
		double t0 = now_s(), c0 = cpu_s();

		sink += dqn_train_step(&on, &tg, &opt, &won, &wtg, &b, 0.995f, 1.0f);
		tc[i] = cpu_s() - c0;
		t[i] = now_s() - t0;
	}
	/* Where the time goes, from the public pieces: one forward of B rows,
	 * one backward, one norm + Adam pass (the step does 3 forwards' worth
	 * of sgemm, as 2B rows + B rows). */
	for (int i = 0; i < reps; i++) {
		double t0 = now_s(), t1, t2;

		mlp_forward(&on, &won, s, batch);
		t1 = now_s();
		mlp_backward(&on, &won, dout, batch);
		t2 = now_s();
		sink += dqn_clip_grad_norm(on.grads, on.n_params, 1e9f);
		adam_step(&opt, on.params, on.grads);
		ta[i] = now_s() - t2;
		tf[i] = t1 - t0;
		tb[i] = t2 - t1;
	}
	med = median(t, reps);
	medc = median(tc, reps);
	printf("step batch=%d reps=%d median_us=%.1f median_cpu_us=%.1f gflops=%.2f "
	       "cpu_gflops=%.2f forward_us=%.1f backward_us=%.1f adam_clip_us=%.1f "
	       "act_bytes=%zu sink=%g\n",
	       batch, reps, med * 1e6, medc * 1e6, step_flops(&on, batch) / med / 1e9,
	       step_flops(&on, batch) / medc / 1e9,
	       median(tf, reps) * 1e6, median(tb, reps) * 1e6, median(ta, reps) * 1e6,
	       won.bytes + wtg.bytes, sink > 0 ? 1.0 : 0.0);
	free(t);
	free(tc);
	free(tf);
	free(tb);
	free(ta);
	free(s);
	free(s2);
	free(r);
	free(done);
	free(dout);
	free(a);
	adam_free(&opt);
	mlp_work_free(&won);
	mlp_work_free(&wtg);
	mlp_free(&on);
	mlp_free(&tg);
	return 0;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 2000;
	int def[] = { 128, 256, 512 };

	if (reps < 1) {
		fprintf(stderr, "usage: bench_step [reps] [batch ...]\n");
		return 64;
	}
	openblas_set_num_threads(1);
	printf("openblas core=%s threads=%d coretype_hint=%s\n", openblas_get_corename(),
	       openblas_get_num_threads(),
	       nn_blas_coretype_hint() ? nn_blas_coretype_hint() : "none");
	sgemm_peak(1024, 30);
	sgemm_peak(2048, 8);
	if (argc > 2) {
		for (int i = 2; i < argc; i++)
			if (bench_batch(atoi(argv[i]), reps))
				return 1;
	} else {
		for (int i = 0; i < 3; i++)
			/* Fewer reps for the larger batches: same total time. */
			if (bench_batch(def[i], reps * 128 / def[i]))
				return 1;
	}
	return 0;
}
