/* The DDQN agent's MLP, Adam and the Double-DQN step (see nn.h).
 *
 * Layout of a batch: row-major, one row per sample, so layer l is
 *   act[l+1] = act[l] (rows x in) * W_l^T (in x out) + b_l
 * and every product is one cblas_sgemm with unit-stride rows.
 *
 * The element-wise passes (bias + ReLU, ReLU mask + bias-gradient column
 * sums, the squared norm, Adam) have an AVX2 version and a portable one.
 * Both do the same IEEE operations in the same order per element and per
 * accumulator (no FMA: the AVX2 functions are compiled for "avx2" only, so
 * the compiler cannot contract a*b+c), so the bits do not depend on which
 * one ran. */
#include "nn.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NN_X86 1
#else
#define NN_X86 0
#endif

/* 64-byte aligned so that rows of the usual widths start on cache lines. */
static float *nn_alloc(size_t n_floats)
{
	void *p = NULL;
	size_t bytes = n_floats * sizeof(float);

	if (bytes == 0)
		bytes = sizeof(float);
	if (posix_memalign(&p, 64, bytes) != 0)
		return NULL;
	return p;
}

/* The one piece of process state here: a switch for tests and benchmarks.
 * Either setting gives the same bits. */
static int nn_simd = 1;

void nn_set_simd(int on)
{
	nn_simd = on != 0;
}

static int nn_have_avx2(void)
{
#if NN_X86
	return nn_simd && __builtin_cpu_supports("avx2");
#else
	return 0;
#endif
}

/* ---- element-wise kernels ------------------------------------------------ */

/* z[i][j] += b[j], then max(z, 0) if relu (NaN and -0 become +0). */
static void bias_act_ref(float *z, const float *b, int rows, int cols, int relu)
{
	for (int i = 0; i < rows; i++) {
		float *zi = z + (size_t)i * cols;

		if (relu) {
			for (int j = 0; j < cols; j++) {
				float x = zi[j] + b[j];

				zi[j] = x > 0.0f ? x : 0.0f;
			}
		} else {
			for (int j = 0; j < cols; j++)
				zi[j] += b[j];
		}
	}
}

/* The ReLU derivative and the bias gradient of the layer below in one pass:
 * d[i][j] = a[i][j] > 0 ? d[i][j] : 0 (a = relu output, so a > 0 exactly
 * where the pre-activation was), and db[j] = sum over i (ascending) of
 * d[i][j], starting from 0. */
static void mask_colsum_ref(float *d, const float *a, float *db, int rows,
			    int cols)
{
	for (int j = 0; j < cols; j++)
		db[j] = 0.0f;
	for (int i = 0; i < rows; i++) {
		float *di = d + (size_t)i * cols;
		const float *ai = a + (size_t)i * cols;

		for (int j = 0; j < cols; j++) {
			float x = ai[j] > 0.0f ? di[j] : 0.0f;

			di[j] = x;
			db[j] += x;
		}
	}
}

/* Sum of squares in double, in 16 interleaved accumulators (element i goes
 * to accumulator i % 16), reduced 0..15 in order. Sixteen so that the AVX2
 * version has four independent add chains. */
static double sumsq_ref(const float *g, size_t n)
{
	double acc[16] = { 0 };
	double s = 0.0;

	for (size_t i = 0; i < n; i++) {
		double x = g[i];

		acc[i % 16] += x * x;
	}
	for (int k = 0; k < 16; k++)
		s += acc[k];
	return s;
}

/* Constants of one Adam step, computed once in double like PyTorch does
 * in Python, then used as floats. */
typedef struct AdamConst {
	float b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, scale;
} AdamConst;

/* g = grads * scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g g;
 * p -= step_size * m / (sqrt(v) / bc2_sqrt + eps). */
static void adam_ref(const AdamConst *c, float *p, const float *grads,
		     float *m, float *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float g = grads[i] * c->scale;
		float mi = m[i] * c->b1 + g * c->omb1;
		float vi = v[i] * c->b2 + (g * g) * c->omb2;
		float den = sqrtf(vi) / c->bc2_sqrt + c->eps;

		m[i] = mi;
		v[i] = vi;
		p[i] = p[i] - c->step_size * (mi / den);
	}
}

#if NN_X86
__attribute__((target("avx2")))
static void bias_act_avx2(float *z, const float *b, int rows, int cols, int relu)
{
	const __m256 zero = _mm256_setzero_ps();
	int cv = cols & ~7;

	for (int i = 0; i < rows; i++) {
		float *zi = z + (size_t)i * cols;
		int j = 0;

		if (relu) {
			for (; j < cv; j += 8) {
				__m256 x = _mm256_add_ps(_mm256_loadu_ps(zi + j),
							 _mm256_loadu_ps(b + j));
				/* max returns its second operand on NaN and on
				 * +-0 pairs, which matches x > 0 ? x : 0. */
				_mm256_storeu_ps(zi + j, _mm256_max_ps(x, zero));
			}
			for (; j < cols; j++) {
				float x = zi[j] + b[j];

				zi[j] = x > 0.0f ? x : 0.0f;
			}
		} else {
			for (; j < cv; j += 8)
				_mm256_storeu_ps(zi + j,
						 _mm256_add_ps(_mm256_loadu_ps(zi + j),
							       _mm256_loadu_ps(b + j)));
			for (; j < cols; j++)
				zi[j] += b[j];
		}
	}
}

/* Column blocks of 32 keep four accumulators in registers across rows;
 * each db[j] still sums rows in ascending order from 0. */
__attribute__((target("avx2")))
static void mask_colsum_avx2(float *d, const float *a, float *db, int rows,
			     int cols)
{
	const __m256 zero = _mm256_setzero_ps();
	int j = 0;

	for (; j + 32 <= cols; j += 32) {
		__m256 s0 = zero, s1 = zero, s2 = zero, s3 = zero;

		for (int i = 0; i < rows; i++) {
			float *di = d + (size_t)i * cols + j;
			const float *ai = a + (size_t)i * cols + j;
			/* and with the all-ones/all-zeros compare mask gives d or
			 * +0, as the portable loop does. */
			__m256 x0 = _mm256_and_ps(_mm256_loadu_ps(di),
						  _mm256_cmp_ps(_mm256_loadu_ps(ai), zero, _CMP_GT_OQ));
			__m256 x1 = _mm256_and_ps(_mm256_loadu_ps(di + 8),
						  _mm256_cmp_ps(_mm256_loadu_ps(ai + 8), zero, _CMP_GT_OQ));
			__m256 x2 = _mm256_and_ps(_mm256_loadu_ps(di + 16),
						  _mm256_cmp_ps(_mm256_loadu_ps(ai + 16), zero, _CMP_GT_OQ));
			__m256 x3 = _mm256_and_ps(_mm256_loadu_ps(di + 24),
						  _mm256_cmp_ps(_mm256_loadu_ps(ai + 24), zero, _CMP_GT_OQ));

			_mm256_storeu_ps(di, x0);
			_mm256_storeu_ps(di + 8, x1);
			_mm256_storeu_ps(di + 16, x2);
			_mm256_storeu_ps(di + 24, x3);
			s0 = _mm256_add_ps(s0, x0);
			s1 = _mm256_add_ps(s1, x1);
			s2 = _mm256_add_ps(s2, x2);
			s3 = _mm256_add_ps(s3, x3);
		}
		_mm256_storeu_ps(db + j, s0);
		_mm256_storeu_ps(db + j + 8, s1);
		_mm256_storeu_ps(db + j + 16, s2);
		_mm256_storeu_ps(db + j + 24, s3);
	}
	for (; j < cols; j++) {
		float s = 0.0f;

		for (int i = 0; i < rows; i++) {
			float *dij = d + (size_t)i * cols + j;
			float x = a[(size_t)i * cols + j] > 0.0f ? *dij : 0.0f;

			*dij = x;
			s += x;
		}
		db[j] = s;
	}
}

__attribute__((target("avx2")))
static double sumsq_avx2(const float *g, size_t n)
{
	__m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
	__m256d a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
	double acc[16];
	double s = 0.0;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
		__m256d x1 = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 4));
		__m256d x2 = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 8));
		__m256d x3 = _mm256_cvtps_pd(_mm_loadu_ps(g + i + 12));

		a0 = _mm256_add_pd(a0, _mm256_mul_pd(x0, x0));
		a1 = _mm256_add_pd(a1, _mm256_mul_pd(x1, x1));
		a2 = _mm256_add_pd(a2, _mm256_mul_pd(x2, x2));
		a3 = _mm256_add_pd(a3, _mm256_mul_pd(x3, x3));
	}
	_mm256_storeu_pd(acc, a0);
	_mm256_storeu_pd(acc + 4, a1);
	_mm256_storeu_pd(acc + 8, a2);
	_mm256_storeu_pd(acc + 12, a3);
	for (; i < n; i++) {
		double x = g[i];

		acc[i % 16] += x * x;
	}
	for (int k = 0; k < 16; k++)
		s += acc[k];
	return s;
}

__attribute__((target("avx2")))
static void adam_avx2(const AdamConst *c, float *p, const float *grads,
		      float *m, float *v, size_t n)
{
	const __m256 b1 = _mm256_set1_ps(c->b1), b2 = _mm256_set1_ps(c->b2);
	const __m256 omb1 = _mm256_set1_ps(c->omb1), omb2 = _mm256_set1_ps(c->omb2);
	const __m256 ss = _mm256_set1_ps(c->step_size);
	const __m256 bc2 = _mm256_set1_ps(c->bc2_sqrt);
	const __m256 eps = _mm256_set1_ps(c->eps);
	const __m256 sc = _mm256_set1_ps(c->scale);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m256 g = _mm256_mul_ps(_mm256_loadu_ps(grads + i), sc);
		__m256 mi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), b1),
					  _mm256_mul_ps(g, omb1));
		__m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2),
					  _mm256_mul_ps(_mm256_mul_ps(g, g), omb2));
		__m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
		__m256 pi = _mm256_sub_ps(_mm256_loadu_ps(p + i),
					  _mm256_mul_ps(ss, _mm256_div_ps(mi, den)));

		_mm256_storeu_ps(m + i, mi);
		_mm256_storeu_ps(v + i, vi);
		_mm256_storeu_ps(p + i, pi);
	}
	adam_ref(c, p + i, grads + i, m + i, v + i, n - i);
}
#endif

static void bias_act(float *z, const float *b, int rows, int cols, int relu)
{
#if NN_X86
	if (nn_have_avx2()) {
		bias_act_avx2(z, b, rows, cols, relu);
		return;
	}
#endif
	bias_act_ref(z, b, rows, cols, relu);
}

static void mask_colsum(float *d, const float *a, float *db, int rows, int cols)
{
#if NN_X86
	if (nn_have_avx2()) {
		mask_colsum_avx2(d, a, db, rows, cols);
		return;
	}
#endif
	mask_colsum_ref(d, a, db, rows, cols);
}

static double sumsq(const float *g, size_t n)
{
#if NN_X86
	if (nn_have_avx2())
		return sumsq_avx2(g, n);
#endif
	return sumsq_ref(g, n);
}

/* ---- Mlp ----------------------------------------------------------------- */

/* Offset of W_l in params; b_l follows W_l. */
static size_t layer_offset(const Mlp *mlp, int l)
{
	size_t off = 0;

	for (int k = 0; k < l; k++)
		off += (size_t)mlp->sizes[k + 1] * (mlp->sizes[k] + 1);
	return off;
}

int mlp_init(Mlp *mlp, const int *sizes, int n_layers, Rng *rng)
{
	Mlp m;
	size_t off = 0;
	int rc = 0;

	memset(&m, 0, sizeof(m));
	if (n_layers < 1 || n_layers > NN_MAX_LAYERS)
		return -EINVAL;
	for (int l = 0; l <= n_layers; l++) {
		if (sizes[l] < 1 || sizes[l] > (1 << 20))
			return -EINVAL;
		m.sizes[l] = sizes[l];
	}
	m.n_layers = n_layers;
	for (int l = 0; l < n_layers; l++)
		m.n_params += (size_t)sizes[l + 1] * (sizes[l] + 1);
	m.params = nn_alloc(m.n_params);
	m.grads = nn_alloc(m.n_params);
	if (!m.params || !m.grads) {
		rc = -ENOMEM;
		goto out;
	}
	memset(m.grads, 0, m.n_params * sizeof(float));
	/* nn.Linear: kaiming_uniform(a=sqrt(5)) on W is U(-1/sqrt(in), 1/sqrt(in)),
	 * the same bound as the bias. Draw order: W_0 row-major, b_0, W_1, ... */
	for (int l = 0; l < n_layers; l++) {
		size_t cnt = (size_t)sizes[l + 1] * (sizes[l] + 1);
		double bound = 1.0 / sqrt((double)sizes[l]);

		for (size_t i = 0; i < cnt; i++)
			m.params[off + i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
		off += cnt;
	}
	*mlp = m;
	return 0;
out:
	free(m.params);
	free(m.grads);
	return rc;
}

void mlp_free(Mlp *mlp)
{
	if (!mlp)
		return;
	free(mlp->params);
	free(mlp->grads);
	memset(mlp, 0, sizeof(*mlp));
}

void mlp_copy_params(Mlp *dst, const Mlp *src)
{
	assert(dst->n_params == src->n_params && dst->n_layers == src->n_layers);
	memcpy(dst->params, src->params, src->n_params * sizeof(float));
}

size_t mlp_bytes(const Mlp *mlp)
{
	return 2 * mlp->n_params * sizeof(float);
}

int mlp_work_init(MlpWork *w, const Mlp *mlp, int max_batch)
{
	MlpWork k;
	int L = mlp->n_layers;
	int rc = 0;

	memset(&k, 0, sizeof(k));
	if (max_batch < 1 || max_batch > INT_MAX / 2 || L < 1)
		return -EINVAL;
	k.max_batch = max_batch;
	for (int l = 0; l <= L; l++) {
		size_t na = 2 * (size_t)max_batch * mlp->sizes[l];

		k.act[l] = nn_alloc(na);
		if (!k.act[l]) {
			rc = -ENOMEM;
			goto out;
		}
		k.bytes += na * sizeof(float);
		if (l >= 1) {
			size_t nd = (size_t)max_batch * mlp->sizes[l];

			k.dact[l] = nn_alloc(nd);
			if (!k.dact[l]) {
				rc = -ENOMEM;
				goto out;
			}
			k.bytes += nd * sizeof(float);
		}
	}
	*w = k;
	return 0;
out:
	for (int l = 0; l <= NN_MAX_LAYERS; l++) {
		free(k.act[l]);
		free(k.dact[l]);
	}
	return rc;
}

void mlp_work_free(MlpWork *w)
{
	if (!w)
		return;
	for (int l = 0; l <= NN_MAX_LAYERS; l++) {
		free(w->act[l]);
		free(w->dact[l]);
	}
	memset(w, 0, sizeof(*w));
}

/* Forward of rows already in act[0] (rows <= 2 * max_batch). Bias and
 * ReLU are one pass after each sgemm (beta = 0): cheaper than broadcasting
 * the bias into C and running sgemm with beta = 1, which reads C once more
 * and still needs a separate ReLU pass (measured, bench/RESULTS.md). */
static void forward_rows(const Mlp *mlp, float *const *act, int rows)
{
	int L = mlp->n_layers;
	const float *p = mlp->params;

	for (int l = 0; l < L; l++) {
		int in = mlp->sizes[l], out = mlp->sizes[l + 1];
		const float *W = p;
		const float *b = p + (size_t)out * in;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in,
			    1.0f, act[l], in, W, in, 0.0f, act[l + 1], out);
		bias_act(act[l + 1], b, rows, out, l < L - 1);
		p = b + out;
	}
}

const float *mlp_forward(const Mlp *mlp, MlpWork *w, const float *x, int batch)
{
	assert(batch >= 1 && batch <= w->max_batch);
	memcpy(w->act[0], x, (size_t)batch * mlp->sizes[0] * sizeof(float));
	forward_rows(mlp, w->act, batch);
	return w->act[mlp->n_layers];
}

/* Backward for rows 0..batch-1 of w->act from dout (batch x sizes[L]).
 * For each layer from the top: dW = dZ^T act[l], dact[l] = dZ W, then the
 * ReLU mask on dact[l] and the column sums that are db of the layer below
 * in the same pass. */
static void backward_rows(Mlp *mlp, MlpWork *w, const float *dout, int batch)
{
	int L = mlp->n_layers;
	const float *dz = dout;

	{
		int out = mlp->sizes[L], in = mlp->sizes[L - 1];
		float *db = mlp->grads + layer_offset(mlp, L - 1) + (size_t)out * in;

		/* db of the top layer: plain column sums, rows ascending. */
		for (int j = 0; j < out; j++)
			db[j] = 0.0f;
		for (int i = 0; i < batch; i++)
			for (int j = 0; j < out; j++)
				db[j] += dz[(size_t)i * out + j];
	}
	for (int l = L - 1; l >= 0; l--) {
		int in = mlp->sizes[l], out = mlp->sizes[l + 1];
		size_t off = layer_offset(mlp, l);
		const float *W = mlp->params + off;
		float *dW = mlp->grads + off;

		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch,
			    1.0f, dz, out, w->act[l], in, 0.0f, dW, in);
		if (l == 0)
			break;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out,
			    1.0f, dz, out, W, in, 0.0f, w->dact[l], in);
		mask_colsum(w->dact[l], w->act[l], dW - in, batch, in);
		dz = w->dact[l];
	}
}

void mlp_backward(Mlp *mlp, MlpWork *w, const float *dout, int batch)
{
	assert(batch >= 1 && batch <= w->max_batch);
	backward_rows(mlp, w, dout, batch);
}

/* ---- Adam and clipping --------------------------------------------------- */

int adam_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps)
{
	Adam k;

	memset(&k, 0, sizeof(k));
	k.n = n;
	k.lr = lr;
	k.beta1 = beta1;
	k.beta2 = beta2;
	k.eps = eps;
	k.m = nn_alloc(n);
	k.v = nn_alloc(n);
	if (!k.m || !k.v) {
		free(k.m);
		free(k.v);
		return -ENOMEM;
	}
	memset(k.m, 0, n * sizeof(float));
	memset(k.v, 0, n * sizeof(float));
	*a = k;
	return 0;
}

void adam_free(Adam *a)
{
	if (!a)
		return;
	free(a->m);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* Adam on grads * scale (scale = the clip factor, 1 when not clipping). */
static void adam_update(Adam *a, float *params, const float *grads, float scale)
{
	AdamConst c;
	double t;

	a->t++;
	t = (double)a->t;
	c.b1 = a->beta1;
	c.b2 = a->beta2;
	c.omb1 = (float)(1.0 - (double)a->beta1);
	c.omb2 = (float)(1.0 - (double)a->beta2);
	c.step_size = (float)((double)a->lr / (1.0 - pow((double)a->beta1, t)));
	c.bc2_sqrt = (float)sqrt(1.0 - pow((double)a->beta2, t));
	c.eps = a->eps;
	c.scale = scale;
#if NN_X86
	if (nn_have_avx2()) {
		adam_avx2(&c, params, grads, a->m, a->v, a->n);
		return;
	}
#endif
	adam_ref(&c, params, grads, a->m, a->v, a->n);
}

void adam_step(Adam *a, float *params, const float *grads)
{
	adam_update(a, params, grads, 1.0f);
}

/* PyTorch: coef = max_norm / (norm + 1e-6), applied when below 1. */
static float clip_coef(float norm, float max_norm)
{
	float coef = max_norm / (norm + 1e-6f);

	return coef < 1.0f ? coef : 1.0f;
}

float clip_grad_norm(float *grads, size_t n, float max_norm)
{
	float norm = (float)sqrt(sumsq(grads, n));
	float coef = clip_coef(norm, max_norm);

	if (coef < 1.0f)
		for (size_t i = 0; i < n; i++)
			grads[i] *= coef;
	return norm;
}

/* ---- Double DQN ---------------------------------------------------------- */

float dqn_train_step(Mlp *online, const Mlp *target, Adam *opt,
		     MlpWork *w_online, MlpWork *w_target, const DqnBatch *b,
		     float gamma, float grad_clip)
{
	int n = b->n, L = online->n_layers;
	int in = online->sizes[0], nq = online->sizes[L];
	size_t row_bytes = (size_t)in * sizeof(float);
	const float *q, *q2, *qt;
	float *dq = w_online->dact[L];
	double sum = 0.0;
	float norm;

	assert(n >= 1 && n <= w_online->max_batch && n <= w_target->max_batch);
	assert(target->n_layers == L && opt->n == online->n_params);

	/* Online network on [s; s'] as one batch of 2n rows. */
	memcpy(w_online->act[0], b->s, n * row_bytes);
	memcpy(w_online->act[0] + (size_t)n * in, b->s2, n * row_bytes);
	forward_rows(online, w_online->act, 2 * n);
	memcpy(w_target->act[0], b->s2, n * row_bytes);
	forward_rows(target, w_target->act, n);

	q = w_online->act[L];
	q2 = q + (size_t)n * nq;
	qt = w_target->act[L];
	memset(dq, 0, (size_t)n * nq * sizeof(float));
	for (int i = 0; i < n; i++) {
		const float *q2i = q2 + (size_t)i * nq;
		int best = 0, ai = b->a[i];
		float y, diff;

		assert(ai >= 0 && ai < nq);
		for (int j = 1; j < nq; j++)
			if (q2i[j] > q2i[best])
				best = j;
		y = b->r[i] + gamma * qt[(size_t)i * nq + best] * (1.0f - b->done[i]);
		diff = q[(size_t)i * nq + ai] - y;
		sum += (double)diff * diff;
		dq[(size_t)i * nq + ai] = 2.0f * diff / (float)n;
	}

	backward_rows(online, w_online, dq, n);
	norm = (float)sqrt(sumsq(online->grads, online->n_params));
	adam_update(opt, online->params, online->grads, clip_coef(norm, grad_clip));
	return (float)(sum / n);
}

/* ---- OpenBLAS kernel selection ------------------------------------------- */

const char *nn_blas_coretype_hint(void)
{
#if NN_X86
	static const char *const avx512_cores[] = {
		"SkylakeX", "Cooperlake", "SapphireRapids",
	};
	const char *core = openblas_get_corename();

	if (!core)
		return NULL;
	for (size_t i = 0; i < sizeof(avx512_cores) / sizeof(avx512_cores[0]); i++)
		if (strcasecmp(core, avx512_cores[i]) == 0)
			return NULL;
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		return "SkylakeX";
#endif
	return NULL;
}
