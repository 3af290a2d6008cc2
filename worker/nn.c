/* The element-wise kernels of the MLP and Adam and their SIMD dispatch
 * (see nn.h).
 *
 * The element-wise passes (bias + ReLU, ReLU mask + bias-gradient column
 * sums, the squared norm, Adam) have an AVX2 version and a portable one.
 * Both do the same IEEE operations in the same order per element and per
 * accumulator (no FMA: the AVX2 functions are compiled for "avx2" only, so
 * the compiler cannot contract a*b+c), so the bits do not depend on which
 * one ran. */
#include "nn.h"

#include <cblas.h>
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
float *nn_alloc(size_t n_floats)
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


/* g = grads * scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g g;
 * p -= step_size * m / (sqrt(v) / bc2_sqrt + eps). */
static void adam_ref(const NnAdamConst *c, float *p, const float *grads,
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
static void adam_avx2(const NnAdamConst *c, float *p, const float *grads,
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

void nn_bias_act(float *z, const float *b, int rows, int cols, int relu)
{
#if NN_X86
	if (nn_have_avx2()) {
		bias_act_avx2(z, b, rows, cols, relu);
		return;
	}
#endif
	bias_act_ref(z, b, rows, cols, relu);
}

void nn_mask_colsum(float *d, const float *a, float *db, int rows, int cols)
{
#if NN_X86
	if (nn_have_avx2()) {
		mask_colsum_avx2(d, a, db, rows, cols);
		return;
	}
#endif
	mask_colsum_ref(d, a, db, rows, cols);
}

double nn_sumsq(const float *g, size_t n)
{
#if NN_X86
	if (nn_have_avx2())
		return sumsq_avx2(g, n);
#endif
	return sumsq_ref(g, n);
}
void nn_adam(const NnAdamConst *c, float *p, const float *grads, float *m, float *v, size_t n)
{
#if NN_X86
	if (nn_have_avx2()) {
		adam_avx2(c, p, grads, m, v, n);
		return;
	}
#endif
	adam_ref(c, p, grads, m, v, n);
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
