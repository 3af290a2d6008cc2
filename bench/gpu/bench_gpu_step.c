/* Time of one DDQN step on the GPU (gpu.h) at 11-256-256-128-3 for several
 * batch sizes, with the ring at the users' default buffer_size (50000).
 *
 *   bench_gpu_step [steps [batch...]]      defaults: 2000 128 256 512
 *
 * Per batch size, after 200 warm-up steps:
 *   sync     - one step then wait for it (gpu_agent_loss_sum reads two
 *              scalars back): median, p10, p90 over `steps` steps, in us;
 *   pipelined- `steps` steps queued back to back, one wait at the end:
 *              mean us per step (what training sees when the host runs ahead);
 *   loop     - what the worker does per environment step: gpu_agent_q (one
 *              state, waits), one push, one step: median us.
 * Indices are drawn by the host RNG each step, as the worker does. Prints
 * one line per batch size; exits 77 without a device. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "gpu.h"

#define DIM 11
#define CAP 50000
#define WARMUP 200

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* An Mlp with PyTorch-default-like uniform weights, without linking nn.c. */
static int make_mlp(Mlp *m, const int *sizes, int n_layers, Rng *rng)
{
	size_t n = 0, off = 0;

	memset(m, 0, sizeof(*m));
	m->n_layers = n_layers;
	for (int l = 0; l <= n_layers; l++)
		m->sizes[l] = sizes[l];
	for (int l = 0; l < n_layers; l++)
		n += (size_t)sizes[l + 1] * sizes[l] + sizes[l + 1];
	m->n_params = n;
	m->params = malloc(n * sizeof(float));
	m->grads = calloc(n, sizeof(float));
	if (!m->params || !m->grads)
		return -ENOMEM;
	for (int l = 0; l < n_layers; l++) {
		size_t k = (size_t)sizes[l + 1] * sizes[l] + sizes[l + 1];
		double bound = 1.0 / sqrt((double)sizes[l]);

		for (size_t i = 0; i < k; i++)
			m->params[off + i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
		off += k;
	}
	return 0;
}

static void draw(Rng *rng, int n, int batch, int32_t *idx)
{
	/* With replacement: cheap, and the device work is the same. */
	for (int i = 0; i < batch; i++)
		idx[i] = (int32_t)rng_below(rng, (uint64_t)n);
}

static int bench(int batch, int steps, Rng *rng)
{
	const int sizes[] = { DIM, 256, 256, 128, 3 };
	Mlp on, tg;
	Adam opt;
	GpuAgent *g = NULL;
	double *t = NULL, loss = 0.0, t0, pipelined, med, p10, p90, loop_med;
	int64_t nsteps = 0, rb = 0, ab = 0, wb = 0;
	int32_t *idx = NULL;
	float s[DIM], s2[DIM], q[3];
	int r;

	r = make_mlp(&on, sizes, 4, rng);
	if (r == 0)
		r = make_mlp(&tg, sizes, 4, rng);
	if (r < 0)
		return r;
	memcpy(tg.params, on.params, on.n_params * sizeof(float));
	memset(&opt, 0, sizeof(opt));
	opt.n = on.n_params;
	opt.lr = 5e-4f;
	opt.beta1 = 0.9f;
	opt.beta2 = 0.999f;
	opt.eps = 1e-8f;
	t = malloc((size_t)steps * sizeof(double));
	idx = malloc((size_t)batch * sizeof(int32_t));
	if (!t || !idx) {
		r = -ENOMEM;
		goto out;
	}
	r = gpu_agent_new(&g, &on, &tg, &opt, batch, CAP, DIM);
	if (r < 0)
		goto out;
	for (int i = 0; i < 10000; i++) {
		for (int k = 0; k < DIM; k++) {
			s[k] = (float)rng_normal(rng);
			s2[k] = (float)rng_normal(rng);
		}
		r = gpu_agent_push(g, s, (int32_t)rng_below(rng, 3),
				   (float)(0.01 * rng_normal(rng)), s2,
				   rng_uniform(rng) < 0.01 ? 1.0f : 0.0f);
		if (r < 0)
			goto out;
	}
	for (int i = 0; i < WARMUP; i++) {
		draw(rng, gpu_agent_size(g), batch, idx);
		if ((r = gpu_agent_train_step(g, idx, 0.995f, 1.0f)) < 0)
			goto out;
	}
	if ((r = gpu_agent_loss_sum(g, &loss, &nsteps, 1)) < 0)
		goto out;

	for (int i = 0; i < steps; i++) {
		draw(rng, gpu_agent_size(g), batch, idx);
		t0 = now_us();
		if ((r = gpu_agent_train_step(g, idx, 0.995f, 1.0f)) < 0 ||
		    (r = gpu_agent_loss_sum(g, &loss, &nsteps, 0)) < 0)
			goto out;
		t[i] = now_us() - t0;
	}
	qsort(t, (size_t)steps, sizeof(double), cmp_double);
	med = t[steps / 2];
	p10 = t[steps / 10];
	p90 = t[steps * 9 / 10];

	t0 = now_us();
	for (int i = 0; i < steps; i++) {
		draw(rng, gpu_agent_size(g), batch, idx);
		if ((r = gpu_agent_train_step(g, idx, 0.995f, 1.0f)) < 0)
			goto out;
	}
	if ((r = gpu_agent_loss_sum(g, &loss, &nsteps, 0)) < 0)
		goto out;
	pipelined = (now_us() - t0) / steps;

	for (int i = 0; i < steps; i++) {
		for (int k = 0; k < DIM; k++)
			s2[k] = (float)rng_normal(rng);
		t0 = now_us();
		if ((r = gpu_agent_q(g, s, q)) < 0 ||
		    (r = gpu_agent_push(g, s, 1, 0.0f, s2, 0.0f)) < 0)
			goto out;
		draw(rng, gpu_agent_size(g), batch, idx);
		if ((r = gpu_agent_train_step(g, idx, 0.995f, 1.0f)) < 0)
			goto out;
		t[i] = now_us() - t0;
		memcpy(s, s2, sizeof(s));
	}
	if ((r = gpu_agent_loss_sum(g, &loss, &nsteps, 0)) < 0)
		goto out;
	qsort(t, (size_t)steps, sizeof(double), cmp_double);
	loop_med = t[steps / 2];
	gpu_agent_bytes(g, &rb, &ab, &wb);
	printf("batch %4d: step+sync median %7.1f us (p10 %6.1f, p90 %6.1f), "
	       "pipelined %6.1f us/step, loop(q+push+step) median %6.1f us; "
	       "mean loss %.4g over %lld steps; device MiB replay %.1f act %.1f weights %.1f\n",
	       batch, med, p10, p90, pipelined, loop_med, loss / (double)nsteps,
	       (long long)nsteps, rb / 1048576.0, ab / 1048576.0, wb / 1048576.0);
	fflush(stdout);
out:
	if (r < 0)
		fprintf(stderr, "bench_gpu_step: batch %d: error %d (%s; %s)\n", batch,
			r, strerror(-r), gpu_last_error());
	gpu_agent_free(g);
	free(t);
	free(idx);
	free(on.params);
	free(on.grads);
	free(tg.params);
	free(tg.grads);
	return r;
}

int main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 2000;
	int def[] = { 128, 256, 512 };
	char name[256];
	Rng rng;
	int rc = 0;

	if (gpu_device_count() == 0) {
		printf("no CUDA device: skipped\n");
		return 77;
	}
	if (steps < 10) {
		fprintf(stderr, "usage: bench_gpu_step [steps>=10 [batch...]]\n");
		return 64;
	}
	if (gpu_device_name(0, name, sizeof(name)) == 0)
		printf("device: %s; net 11-256-256-128-3, FP32, CUDA Graph step, %d steps\n",
		       name, steps);
	rng_seed(&rng, 1);
	if (argc > 2) {
		for (int i = 2; i < argc; i++)
			if (bench(atoi(argv[i]), steps, &rng) < 0)
				rc = 1;
	} else {
		for (int i = 0; i < 3; i++)
			if (bench(def[i], steps, &rng) < 0)
				rc = 1;
	}
	return rc;
}
