/* Unit tests of worker/nn.c against an independent double-precision MLP
 * written here with plain loops (no BLAS), central finite differences, and
 * Adam / gradient clipping / the Double-DQN step written out formula by
 * formula. Prints every failed check; exits 1 if any failed. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dqn.h"
#include "nn.h"
#include "check.h"

/* |got - want| <= atol + rtol * |want|; reports the first few misses of a
 * group under its name and returns the number of misses. */
static int close_enough(double got, double want, double atol, double rtol)
{
	return fabs(got - want) <= atol + rtol * fabs(want);
}

static int compare(const char *what, size_t idx, double got, double want,
		   double atol, double rtol, int *shown)
{
	check_count++;
	if (close_enough(got, want, atol, rtol))
		return 0;
	check_failures++;
	if ((*shown)++ < 8)
		fprintf(stderr, "FAIL %s[%zu]: got %.9g want %.9g (diff %.3g)\n",
			what, idx, got, want, fabs(got - want));
	return 1;
}

/* ---- reference MLP in double ------------------------------------------- */

typedef struct Ref {
	int L;
	int sizes[MLP_MAX_LAYERS + 1];
	size_t n;
	double *p;
	double *act[MLP_MAX_LAYERS + 1]; /* n_rows x sizes[l] */
	int rows;
} Ref;

static size_t ref_nparams(const int *sizes, int L)
{
	size_t n = 0;

	for (int l = 0; l < L; l++)
		n += (size_t)sizes[l + 1] * sizes[l] + sizes[l + 1];
	return n;
}

static void ref_init(Ref *r, const Mlp *m, int rows)
{
	memset(r, 0, sizeof(*r));
	r->L = m->n_layers;
	memcpy(r->sizes, m->sizes, sizeof(r->sizes));
	r->n = ref_nparams(m->sizes, m->n_layers);
	r->p = calloc(r->n, sizeof(double));
	for (size_t i = 0; i < r->n; i++)
		r->p[i] = m->params[i];
	r->rows = rows;
	for (int l = 0; l <= r->L; l++)
		r->act[l] = calloc((size_t)rows * r->sizes[l], sizeof(double));
}

static void ref_free(Ref *r)
{
	free(r->p);
	for (int l = 0; l <= r->L; l++)
		free(r->act[l]);
}

/* out = relu(in W^T + b) per layer, no relu on the last; W is out x in
 * row-major followed by b, as mlp.h documents. */
static const double *ref_forward(Ref *r, const double *p, const float *x, int n)
{
	const double *w = p;

	for (int i = 0; i < n * r->sizes[0]; i++)
		r->act[0][i] = x[i];
	for (int l = 0; l < r->L; l++) {
		int in = r->sizes[l], out = r->sizes[l + 1];
		const double *b = w + (size_t)out * in;

		for (int i = 0; i < n; i++)
			for (int o = 0; o < out; o++) {
				double s = b[o];

				for (int k = 0; k < in; k++)
					s += r->act[l][i * in + k] * w[(size_t)o * in + k];
				if (l < r->L - 1 && s < 0)
					s = 0;
				r->act[l + 1][i * out + o] = s;
			}
		w = b + out;
	}
	return r->act[r->L];
}

/* Gradient of sum(dout .* output) for the last ref_forward of n rows. */
static void ref_backward(Ref *r, const double *p, const double *dout, int n,
			 double *grad)
{
	size_t off[MLP_MAX_LAYERS + 1];
	double *dz = malloc((size_t)n * r->sizes[r->L] * sizeof(double));

	off[0] = 0;
	for (int l = 0; l < r->L; l++)
		off[l + 1] = off[l] + (size_t)r->sizes[l + 1] * (r->sizes[l] + 1);
	memcpy(dz, dout, (size_t)n * r->sizes[r->L] * sizeof(double));
	for (int l = r->L - 1; l >= 0; l--) {
		int in = r->sizes[l], out = r->sizes[l + 1];
		const double *w = p + off[l];
		double *gw = grad + off[l], *gb = gw + (size_t)out * in;
		double *dprev = calloc((size_t)n * in, sizeof(double));

		for (int o = 0; o < out; o++) {
			gb[o] = 0;
			for (int k = 0; k < in; k++)
				gw[(size_t)o * in + k] = 0;
		}
		for (int i = 0; i < n; i++)
			for (int o = 0; o < out; o++) {
				double d = dz[i * out + o];

				gb[o] += d;
				for (int k = 0; k < in; k++) {
					gw[(size_t)o * in + k] += d * r->act[l][i * in + k];
					dprev[i * in + k] += d * w[(size_t)o * in + k];
				}
			}
		if (l > 0)
			for (int i = 0; i < n * in; i++)
				if (!(r->act[l][i] > 0))
					dprev[i] = 0;
		free(dz);
		dz = dprev;
	}
	free(dz);
}

static double ref_functional(Ref *r, const double *p, const float *x,
			     const double *c, int n)
{
	const double *out = ref_forward(r, p, x, n);
	double s = 0;

	for (int i = 0; i < n * r->sizes[r->L]; i++)
		s += c[i] * out[i];
	return s;
}

/* 1 if the ReLU on/off pattern of the two parameter vectors differs on x. */
static int ref_pattern_differs(Ref *r, const double *p1, const double *p2,
			       const float *x, int n)
{
	size_t tot = 0;
	unsigned char *pat;
	int diff = 0;

	for (int l = 1; l < r->L; l++)
		tot += (size_t)n * r->sizes[l];
	pat = malloc(tot + 1);
	ref_forward(r, p1, x, n);
	tot = 0;
	for (int l = 1; l < r->L; l++)
		for (int i = 0; i < n * r->sizes[l]; i++)
			pat[tot++] = r->act[l][i] > 0;
	ref_forward(r, p2, x, n);
	tot = 0;
	for (int l = 1; l < r->L; l++)
		for (int i = 0; i < n * r->sizes[l]; i++)
			diff |= pat[tot++] != (r->act[l][i] > 0);
	free(pat);
	return diff;
}

static void fill_uniform(Rng *rng, float *x, size_t n, double lo, double hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(lo + (hi - lo) * rng_uniform(rng));
}

/* ---- tests --------------------------------------------------------------- */

static void test_init(void)
{
	int sizes[] = { 11, 256, 256, 128, 3 };
	int bad[] = { 3, 0, 2 };
	Mlp m, z;
	MlpWork w;
	Rng rng;
	size_t off = 0, expect_bytes = 0;

	memset(&z, 0, sizeof(z));
	rng_seed(&rng, 1);
	CHECK(mlp_init(&m, bad, 2, &rng) == -EINVAL, "zero-width layer accepted");
	CHECK(mlp_init(&m, sizes, 0, &rng) == -EINVAL, "zero layers accepted");
	CHECK(mlp_init(&m, sizes, MLP_MAX_LAYERS + 1, &rng) == -EINVAL,
	      "too many layers accepted");
	CHECK(mlp_init(&m, sizes, 4, &rng) == 0, "mlp_init failed");
	CHECK(m.n_params == 11 * 256 + 256 + 256 * 256 + 256 + 256 * 128 + 128 + 128 * 3 + 3,
	      "n_params %zu", m.n_params);
	CHECK(mlp_bytes(&m) == 2 * m.n_params * sizeof(float), "mlp_bytes");
	/* Every layer inside U(-1/sqrt(in), 1/sqrt(in)), its mean near 0 and
	 * its spread near the uniform's: bound/sqrt(3). */
	for (int l = 0; l < 4; l++) {
		size_t cnt = (size_t)sizes[l + 1] * (sizes[l] + 1);
		double bound = 1.0 / sqrt(sizes[l]), s = 0, s2 = 0, mx = 0;

		for (size_t i = 0; i < cnt; i++) {
			double v = m.params[off + i];

			s += v;
			s2 += v * v;
			mx = fmax(mx, fabs(v));
		}
		off += cnt;
		CHECK(mx <= bound, "layer %d |w| %g > bound %g", l, mx, bound);
		CHECK(fabs(s / cnt) < 4 * bound / sqrt(3.0 * cnt), "layer %d mean %g", l, s / cnt);
		CHECK(fabs(sqrt(s2 / cnt) - bound / sqrt(3.0)) < 0.1 * bound,
		      "layer %d rms %g want %g", l, sqrt(s2 / cnt), bound / sqrt(3.0));
	}
	CHECK(mlp_work_init(&w, &m, 0) == -EINVAL, "max_batch 0 accepted");
	CHECK(mlp_work_init(&w, &m, 64) == 0, "mlp_work_init failed");
	for (int l = 0; l <= 4; l++)
		expect_bytes += (2 * 64 + (l ? 64 : 0)) * (size_t)sizes[l] * sizeof(float);
	CHECK(w.bytes == expect_bytes, "work bytes %zu want %zu", w.bytes, expect_bytes);
	mlp_work_free(&w);
	mlp_work_free(&w);
	mlp_free(&m);
	mlp_free(&z);
	mlp_free(NULL);
	mlp_work_free(NULL);
}

/* Forward against the reference; backward of sum(c .* out) against the
 * reference's backprop, the reference's central differences (double,
 * h = 1e-6) and central differences of the float code itself. n_fd
 * entries are checked by finite differences (0 = all). */
static void check_grads(const char *name, const int *sizes, int L, int n,
			size_t n_fd, uint64_t seed)
{
	Mlp m;
	MlpWork w;
	Ref r;
	Rng rng;
	float *x;
	double *c, *g_ref, *pp;
	float *dout;
	const float *out;
	int shown = 0, nout = sizes[L];
	size_t fd_done = 0, fd_skipped = 0;
	double gmax = 0, omax = 0;

	rng_seed(&rng, seed);
	if (mlp_init(&m, sizes, L, &rng) || mlp_work_init(&w, &m, n)) {
		CHECK(0, "%s: init", name);
		return;
	}
	x = malloc((size_t)n * sizes[0] * sizeof(float));
	c = malloc((size_t)n * nout * sizeof(double));
	dout = malloc((size_t)n * nout * sizeof(float));
	fill_uniform(&rng, x, (size_t)n * sizes[0], -2, 2);
	for (int i = 0; i < n * nout; i++) {
		dout[i] = (float)(2 * rng_uniform(&rng) - 1);
		c[i] = dout[i];
	}
	ref_init(&r, &m, n);
	g_ref = calloc(m.n_params, sizeof(double));
	pp = malloc(m.n_params * sizeof(double));

	out = mlp_forward(&m, &w, x, n);
	ref_forward(&r, r.p, x, n);
	for (int i = 0; i < n * nout; i++)
		omax = fmax(omax, fabs(r.act[L][i]));
	for (int i = 0; i < n * nout; i++)
		compare(name, (size_t)i, out[i], r.act[L][i], 1e-6 * omax, 1e-5, &shown);

	/* Pre-fill grads with junk: backward must write, not accumulate. */
	for (size_t i = 0; i < m.n_params; i++)
		m.grads[i] = 1e3f;
	mlp_backward(&m, &w, dout, n);
	ref_forward(&r, r.p, x, n);
	ref_backward(&r, r.p, c, n, g_ref);
	for (size_t i = 0; i < m.n_params; i++)
		gmax = fmax(gmax, fabs(g_ref[i]));
	CHECK(gmax > 0, "%s: zero gradient", name);
	shown = 0;
	for (size_t i = 0; i < m.n_params; i++)
		compare("grad vs reference backprop", i, m.grads[i], g_ref[i],
			1e-5 * gmax, 1e-4, &shown);

	/* Finite differences on a spread of entries (all when n_fd == 0):
	 * every layer's weights and biases are hit with the stride below. */
	{
		size_t stride = n_fd ? m.n_params / n_fd : 1;
		int shown_d = 0, shown_f = 0;

		if (stride == 0)
			stride = 1;
		for (size_t i = 0; i < m.n_params; i += stride) {
			const double hd = 1e-6;
			const float hf = 1e-2f;
			double fd, ffd, fp, fm;
			float save = m.params[i];

			memcpy(pp, r.p, m.n_params * sizeof(double));
			pp[i] = r.p[i] + hd;
			fp = ref_functional(&r, pp, x, c, n);
			pp[i] = r.p[i] - hd;
			fm = ref_functional(&r, pp, x, c, n);
			fd = (fp - fm) / (2 * hd);
			compare("reference backprop vs double FD", i, g_ref[i], fd,
				1e-7 * gmax, 1e-5, &shown_d);

			/* Float FD is only meaningful when the float step
			 * crosses no ReLU kink. */
			memcpy(pp, r.p, m.n_params * sizeof(double));
			pp[i] = (double)(save + hf);
			{
				double *pm = malloc(m.n_params * sizeof(double));
				int kink;

				memcpy(pm, r.p, m.n_params * sizeof(double));
				pm[i] = (double)(save - hf);
				kink = ref_pattern_differs(&r, pp, pm, x, n);
				free(pm);
				if (kink) {
					fd_skipped++;
					continue;
				}
			}
			m.params[i] = save + hf;
			out = mlp_forward(&m, &w, x, n);
			fp = 0;
			for (int k = 0; k < n * nout; k++)
				fp += c[k] * out[k];
			m.params[i] = save - hf;
			out = mlp_forward(&m, &w, x, n);
			fm = 0;
			for (int k = 0; k < n * nout; k++)
				fm += c[k] * out[k];
			m.params[i] = save;
			ffd = (fp - fm) / ((double)(save + hf) - (double)(save - hf));
			compare("float backward vs float FD", i, m.grads[i], ffd,
				2e-3 * gmax, 2e-2, &shown_f);
			fd_done++;
		}
	}
	CHECK(fd_done >= 4 * (fd_done + fd_skipped) / 5,
	      "%s: only %zu of %zu float FD entries usable", name, fd_done,
	      fd_done + fd_skipped);
	printf("%s: %zu params, float FD on %zu entries (%zu skipped at kinks)\n",
	       name, m.n_params, fd_done, fd_skipped);

	free(pp);
	free(g_ref);
	ref_free(&r);
	free(x);
	free(c);
	free(dout);
	mlp_work_free(&w);
	mlp_free(&m);
}

static void test_adam(void)
{
	enum { N = 19, STEPS = 4 };
	/* The API takes floats: the reference uses the same float values
	 * (0.999f is 0.99900001287..., so 1 - b2 differs from 0.001 by 1.3e-5
	 * relative; PyTorch, with double betas, would use 0.001). */
	const double lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
	Adam a;
	float p[N], g[N];
	double pd[N], md[N] = { 0 }, vd[N] = { 0 };
	Rng rng;
	int shown = 0;

	rng_seed(&rng, 7);
	CHECK(adam_init(&a, N, (float)lr, (float)b1, (float)b2, (float)eps) == 0, "adam_init");
	fill_uniform(&rng, p, N, -1, 1);
	for (int i = 0; i < N; i++)
		pd[i] = p[i];
	for (int t = 1; t <= STEPS; t++) {
		fill_uniform(&rng, g, N, -0.5, 0.5);
		g[t] = 0.0f; /* a zero gradient: only momentum moves it */
		adam_step(&a, p, g);
		/* Adam (Kingma & Ba) with bias correction, written out. */
		for (int i = 0; i < N; i++) {
			double mh, vh;

			md[i] = b1 * md[i] + (1 - b1) * g[i];
			vd[i] = b2 * vd[i] + (1 - b2) * (double)g[i] * g[i];
			mh = md[i] / (1 - pow(b1, t));
			vh = vd[i] / (1 - pow(b2, t));
			pd[i] -= lr * mh / (sqrt(vh) + eps);
		}
		CHECK(a.t == t, "adam t %lld", (long long)a.t);
		for (int i = 0; i < N; i++) {
			compare("adam param", (size_t)(t * 100 + i), p[i], pd[i], 1e-7, 1e-6, &shown);
			compare("adam m", (size_t)(t * 100 + i), a.m[i], md[i], 1e-9, 1e-5, &shown);
			compare("adam v", (size_t)(t * 100 + i), a.v[i], vd[i], 1e-12, 1e-5, &shown);
		}
	}
	/* A hand value: step 1 moves every param with g != 0 by lr*sign(g)
	 * (up to eps); checked above via the formula, and here directly. */
	{
		Adam b;
		float q[2] = { 1.0f, 1.0f }, h[2] = { 3.0f, -0.25f };

		adam_init(&b, 2, 0.1f, 0.9f, 0.999f, 1e-8f);
		adam_step(&b, q, h);
		CHECK(fabs(q[0] - 0.9) < 1e-6 && fabs(q[1] - 1.1) < 1e-6,
		      "adam first step %g %g", q[0], q[1]);
		adam_free(&b);
	}
	adam_free(&a);
	adam_free(NULL);
}

static void test_clip(void)
{
	enum { N = 37 };
	float g[N], g0[N];
	double s = 0, norm;
	float ret;
	Rng rng;
	int shown = 0;

	rng_seed(&rng, 11);
	fill_uniform(&rng, g0, N, -1, 1);
	for (int i = 0; i < N; i++)
		s += (double)g0[i] * g0[i];
	norm = sqrt(s);

	/* Clipping: the result has norm max_norm * norm / (norm + 1e-6). */
	memcpy(g, g0, sizeof(g));
	ret = dqn_clip_grad_norm(g, N, 0.5f);
	compare("clip returned norm", 0, ret, norm, 0, 1e-6, &shown);
	for (int i = 0; i < N; i++)
		compare("clipped grad", (size_t)i, g[i], g0[i] * 0.5 / (norm + 1e-6),
			1e-9, 1e-6, &shown);
	s = 0;
	for (int i = 0; i < N; i++)
		s += (double)g[i] * g[i];
	CHECK(sqrt(s) <= 0.5 + 1e-6, "clipped norm %g", sqrt(s));

	/* Not clipping: bits unchanged. */
	memcpy(g, g0, sizeof(g));
	ret = dqn_clip_grad_norm(g, N, (float)(norm * 1.01));
	compare("unclipped returned norm", 0, ret, norm, 0, 1e-6, &shown);
	CHECK(memcmp(g, g0, sizeof(g)) == 0, "grads changed below max_norm");
}

/* The Double-DQN step against a double reference over several steps, with
 * clipping active and inactive. */
static void test_dqn(void)
{
	enum { B = 6, STEPS = 3 };
	const int sizes[] = { 3, 5, 4, 3 };
	const double lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, gamma = 0.995f;
	const float clips[STEPS] = { 0.05f, 100.0f, 0.05f };
	Mlp on, tg;
	MlpWork won, wtg;
	Adam opt;
	Ref ron, rtg;
	Rng rng;
	float s[B * 3], s2[B * 3], r[B], done[B];
	int32_t a[B];
	DqnBatch batch = { B, s, a, r, s2, done };
	double *md, *vd, *grad, *dout, *pd_before;
	float *tg_before;
	int shown = 0;

	rng_seed(&rng, 3);
	if (mlp_init(&on, sizes, 3, &rng) || mlp_init(&tg, sizes, 3, &rng) ||
	    mlp_work_init(&won, &on, B) || mlp_work_init(&wtg, &tg, B) ||
	    adam_init(&opt, on.n_params, (float)lr, (float)b1, (float)b2, (float)eps)) {
		CHECK(0, "dqn init");
		return;
	}
	ref_init(&ron, &on, B);
	ref_init(&rtg, &tg, B);
	md = calloc(on.n_params, sizeof(double));
	vd = calloc(on.n_params, sizeof(double));
	grad = calloc(on.n_params, sizeof(double));
	pd_before = calloc(on.n_params, sizeof(double));
	dout = calloc(B * 3, sizeof(double));
	tg_before = malloc(tg.n_params * sizeof(float));
	memcpy(tg_before, tg.params, tg.n_params * sizeof(float));

	for (int step = 1; step <= STEPS; step++) {
		double q2[B * 3], qt[B * 3], loss = 0, norm = 0, coef;
		const double *q;
		float lf;

		fill_uniform(&rng, s, B * 3, -2, 2);
		fill_uniform(&rng, s2, B * 3, -2, 2);
		fill_uniform(&rng, r, B, -1, 1);
		for (int i = 0; i < B; i++) {
			a[i] = (int32_t)rng_below(&rng, 3);
			done[i] = (i % 3 == 1) ? 1.0f : 0.0f;
		}

		/* Reference. */
		memcpy(q2, ref_forward(&ron, ron.p, s2, B), sizeof(q2));
		memcpy(qt, ref_forward(&rtg, rtg.p, s2, B), sizeof(qt));
		q = ref_forward(&ron, ron.p, s, B);
		memset(dout, 0, B * 3 * sizeof(double));
		for (int i = 0; i < B; i++) {
			int best = 0;
			double y, d, gap = INFINITY;

			for (int j = 1; j < 3; j++)
				if (q2[i * 3 + j] > q2[i * 3 + best])
					best = j;
			for (int j = 0; j < 3; j++)
				if (j != best)
					gap = fmin(gap, q2[i * 3 + best] - q2[i * 3 + j]);
			/* A near tie would make float and double pick differently. */
			CHECK(gap > 1e-4, "dqn step %d row %d: argmax gap %g too small for the test",
			      step, i, gap);
			y = r[i] + gamma * qt[i * 3 + best] * (1.0 - done[i]);
			d = q[i * 3 + a[i]] - y;
			loss += d * d / B;
			dout[i * 3 + a[i]] = 2 * d / B;
		}
		ref_backward(&ron, ron.p, dout, B, grad);
		for (size_t k = 0; k < on.n_params; k++)
			norm += grad[k] * grad[k];
		norm = sqrt(norm);
		coef = fmin(1.0, clips[step - 1] / (norm + 1e-6));
		CHECK((step == 2) == (coef == 1.0), "dqn step %d: clip %s expected (norm %g)",
		      step, step == 2 ? "inactive" : "active", norm);
		memcpy(pd_before, ron.p, on.n_params * sizeof(double));
		for (size_t k = 0; k < on.n_params; k++) {
			double gk = grad[k] * coef;

			md[k] = b1 * md[k] + (1 - b1) * gk;
			vd[k] = b2 * vd[k] + (1 - b2) * gk * gk;
			ron.p[k] -= lr * (md[k] / (1 - pow(b1, step))) /
				    (sqrt(vd[k] / (1 - pow(b2, step))) + eps);
		}

		/* The code under test. */
		lf = dqn_train_step(&on, &tg, &opt, &won, &wtg, &batch, (float)gamma,
				    clips[step - 1]);

		compare("dqn loss", (size_t)step, lf, loss, 1e-7, 1e-5, &shown);
		/* Contract: rows 0..n-1 of the online scratch hold Q(s) of the
		 * forward (before the update); rows n..2n-1 Q(s'). */
		for (int i = 0; i < B * 3; i++) {
			compare("dqn scratch Q(s)", (size_t)i, won.act[3][i], q[i], 1e-6, 1e-5, &shown);
			compare("dqn scratch Q(s')", (size_t)i, won.act[3][B * 3 + i], q2[i], 1e-6,
				1e-5, &shown);
		}
		for (size_t k = 0; k < on.n_params; k++) {
			compare("dqn unclipped grad", k, on.grads[k], grad[k], 1e-7, 1e-4, &shown);
			compare("dqn adam m", k, opt.m[k], md[k], 1e-9, 1e-4, &shown);
			compare("dqn param update", k, on.params[k] - pd_before[k],
				ron.p[k] - pd_before[k], 2e-6, 1e-3, &shown);
		}
		/* Keep the reference on the float parameters so errors do not
		 * compound across steps. */
		for (size_t k = 0; k < on.n_params; k++)
			ron.p[k] = on.params[k];
	}
	CHECK(memcmp(tg_before, tg.params, tg.n_params * sizeof(float)) == 0,
	      "dqn step changed the target network");
	CHECK(opt.t == STEPS, "adam t %lld after %d steps", (long long)opt.t, STEPS);

	free(tg_before);
	free(md);
	free(vd);
	free(grad);
	free(pd_before);
	free(dout);
	ref_free(&ron);
	ref_free(&rtg);
	adam_free(&opt);
	mlp_work_free(&won);
	mlp_work_free(&wtg);
	mlp_free(&on);
	mlp_free(&tg);
}

/* Everything from one seed: init, batches, 6 steps with a target copy
 * after 3; returns the losses and final params/m/v in caller buffers. */
static int run_seeded(uint64_t seed, float *losses, float **ret_params,
		      float **ret_m, float **ret_v, size_t *ret_n)
{
	enum { B = 64, STEPS = 6 };
	const int sizes[] = { 11, 256, 256, 128, 3 };
	Mlp on, tg;
	MlpWork won, wtg;
	Adam opt;
	Rng rng;
	float s[B * 11], s2[B * 11], r[B], done[B];
	int32_t a[B];
	DqnBatch batch = { B, s, a, r, s2, done };

	rng_seed(&rng, seed);
	if (mlp_init(&on, sizes, 4, &rng) || mlp_init(&tg, sizes, 4, &rng) ||
	    mlp_work_init(&won, &on, B) || mlp_work_init(&wtg, &tg, B) ||
	    adam_init(&opt, on.n_params, 5e-4f, 0.9f, 0.999f, 1e-8f))
		return -1;
	mlp_copy_params(&tg, &on);
	for (int t = 0; t < STEPS; t++) {
		fill_uniform(&rng, s, B * 11, -2, 2);
		fill_uniform(&rng, s2, B * 11, -2, 2);
		fill_uniform(&rng, r, B, -1, 1);
		for (int i = 0; i < B; i++) {
			a[i] = (int32_t)rng_below(&rng, 3);
			done[i] = rng_uniform(&rng) < 0.1 ? 1.0f : 0.0f;
		}
		losses[t] = dqn_train_step(&on, &tg, &opt, &won, &wtg, &batch, 0.995f, 1.0f);
		if (t == 2)
			mlp_copy_params(&tg, &on);
	}
	*ret_n = on.n_params;
	*ret_params = malloc(on.n_params * sizeof(float));
	*ret_m = malloc(on.n_params * sizeof(float));
	*ret_v = malloc(on.n_params * sizeof(float));
	memcpy(*ret_params, on.params, on.n_params * sizeof(float));
	memcpy(*ret_m, opt.m, on.n_params * sizeof(float));
	memcpy(*ret_v, opt.v, on.n_params * sizeof(float));
	adam_free(&opt);
	mlp_work_free(&won);
	mlp_work_free(&wtg);
	mlp_free(&on);
	mlp_free(&tg);
	return 0;
}

static void test_determinism(void)
{
	float l1[6], l2[6], l3[6];
	float *p1, *m1, *v1, *p2, *m2, *v2, *p3, *m3, *v3;
	size_t n1, n2, n3;

	if (run_seeded(99, l1, &p1, &m1, &v1, &n1) || run_seeded(99, l2, &p2, &m2, &v2, &n2) ||
	    run_seeded(100, l3, &p3, &m3, &v3, &n3)) {
		CHECK(0, "determinism runs failed to init");
		return;
	}
	CHECK(memcmp(l1, l2, sizeof(l1)) == 0, "losses differ between identical runs");
	CHECK(memcmp(p1, p2, n1 * sizeof(float)) == 0, "params differ between identical runs");
	CHECK(memcmp(m1, m2, n1 * sizeof(float)) == 0, "adam m differs between identical runs");
	CHECK(memcmp(v1, v2, n1 * sizeof(float)) == 0, "adam v differs between identical runs");
	/* The portable element-wise loops give the same bits as AVX2. */
	{
		float l4[6], *p4, *m4, *v4;
		size_t n4;

		nn_set_simd(0);
		if (run_seeded(99, l4, &p4, &m4, &v4, &n4) == 0) {
			CHECK(memcmp(l1, l4, sizeof(l1)) == 0, "losses differ without SIMD");
			CHECK(memcmp(p1, p4, n1 * sizeof(float)) == 0, "params differ without SIMD");
			CHECK(memcmp(m1, m4, n1 * sizeof(float)) == 0, "adam m differs without SIMD");
			CHECK(memcmp(v1, v4, n1 * sizeof(float)) == 0, "adam v differs without SIMD");
			free(p4); free(m4); free(v4);
		} else {
			CHECK(0, "portable run failed to init");
		}
		nn_set_simd(1);
	}
	/* And the comparison can fail: another seed gives other bits. */
	CHECK(memcmp(p1, p3, n1 * sizeof(float)) != 0, "another seed gave the same params");
	for (int t = 0; t < 6; t++)
		CHECK(isfinite(l1[t]) && l1[t] >= 0, "loss %d = %g", t, l1[t]);
	printf("determinism: losses %.6g .. %.6g\n", l1[0], l1[5]);
	free(p1); free(m1); free(v1);
	free(p2); free(m2); free(v2);
	free(p3); free(m3); free(v3);
}

/* With --coretype=NAME the test re-executes itself with OPENBLAS_CORETYPE
 * set (OpenBLAS reads it when it is loaded), so every check also runs on
 * that kernel set; exit 77 (skipped) where the CPU cannot run it. */
static int coretype_setup(int argc, char **argv)
{
	const char *ct, *env;

	if (argc < 2 || strncmp(argv[1], "--coretype=", 11) != 0)
		return 0;
	ct = argv[1] + 11;
#if defined(__x86_64__) && defined(__GNUC__)
	if (strcasecmp(ct, "SkylakeX") == 0 &&
	    !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
	      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
	      __builtin_cpu_supports("avx512vl"))) {
		printf("SKIP: no AVX-512 for OpenBLAS %s kernels\n", ct);
		return 77;
	}
#endif
	env = getenv("OPENBLAS_CORETYPE");
	if (!env || strcmp(env, ct) != 0) {
		if (setenv("OPENBLAS_CORETYPE", ct, 1) != 0)
			return 1;
		execv("/proc/self/exe", argv);
		perror("execv /proc/self/exe");
		return 1;
	}
	CHECK(strcasecmp(openblas_get_corename(), ct) == 0, "OpenBLAS runs %s, not %s",
	      openblas_get_corename(), ct);
	return 0;
}

int main(int argc, char **argv)
{
	static const int small[] = { 4, 40, 33, 3 };
	static const int big[] = { 11, 256, 256, 128, 3 };
	const char *hint;
	int rc = coretype_setup(argc, argv);

	if (rc)
		return rc;
	openblas_set_num_threads(1);
	/* The hint names AVX-512 kernels only when OpenBLAS is not already
	 * running AVX-512 ones and the CPU has the instructions. */
	hint = nn_blas_coretype_hint();
	printf("openblas core %s, hint %s\n", openblas_get_corename(), hint ? hint : "none");
	if (hint) {
		CHECK(strcasecmp(openblas_get_corename(), "SkylakeX") != 0,
		      "hint %s while OpenBLAS already runs SkylakeX", hint);
#if defined(__x86_64__) && defined(__GNUC__)
		CHECK(__builtin_cpu_supports("avx512f"), "hint %s without AVX-512", hint);
#endif
	}
	test_init();
	check_grads("mlp 4-40-33-3", small, 3, 5, 0, 21);
	check_grads("mlp 11-256-256-128-3", big, 4, 8, 40, 22);
	test_adam();
	test_clip();
	test_dqn();
	test_determinism();
	/* The same numerical checks through the portable loops. */
	nn_set_simd(0);
	check_grads("mlp 4-40-33-3 (portable)", small, 3, 5, 0, 23);
	test_adam();
	test_dqn();
	nn_set_simd(1);
	return check_done("nn");
}
