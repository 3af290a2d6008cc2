/* The element-wise kernels under the MLP (mlp.h) and Adam (adam.h), their
 * SIMD dispatch, and the OpenBLAS kernel hint. Internal to mlp.c, adam.c
 * and dqn.c, apart from nn_set_simd and nn_blas_coretype_hint.
 *
 * Determinism: every kernel has an AVX2 version and a portable one that
 * give the same bits; nothing here reads clocks or other global state. */
#ifndef TV_NN_H
#define TV_NN_H

#include <stddef.h>

/* 64-byte aligned floats (rows of the usual widths start on cache lines);
 * release with free(). n_floats 0 gives one float. */
float *nn_alloc(size_t n_floats);

/* z[i][j] += b[j] (rows x cols), then max(z, 0) if relu (NaN and -0 become +0). */
void nn_bias_act(float *z, const float *b, int rows, int cols, int relu);
/* d[i][j] = 0 where a[i][j] <= 0 (ReLU mask), then db[j] = sum_i d[i][j]. */
void nn_mask_colsum(float *d, const float *a, float *db, int rows, int cols);
/* Sum of squares, accumulated in double. */
double nn_sumsq(const float *g, size_t n);

/* Constants of one Adam step, computed once in double like PyTorch does
 * in Python, then used as floats. */
typedef struct NnAdamConst {
	float b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, scale;
} NnAdamConst;

/* g = grads * scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g g;
 * p -= step_size * m / (sqrt(v) / bc2_sqrt + eps). */
void nn_adam(const NnAdamConst *c, float *p, const float *grads, float *m, float *v, size_t n);

/* OpenBLAS picks its kernels once, when it is loaded, from the CPU or from
 * OPENBLAS_CORETYPE. Debian 12's OpenBLAS 0.3.21 does not know AMD Zen 4/5
 * as AVX-512 capable and runs its Haswell (AVX2) kernels there; its
 * SkylakeX kernels make the gradient step ~1.8x faster on such a CPU
 * (bench/RESULTS.md). Returns "SkylakeX" when this CPU has AVX-512
 * F/CD/BW/DQ/VL and the loaded OpenBLAS runs a kernel set without AVX-512;
 * NULL otherwise. Only a fresh process can act on it (set the variable,
 * re-exec). Results differ in their last bits between kernel sets, so a
 * checkpoint resumed under another set is not byte-identical. */
const char *nn_blas_coretype_hint(void);

/* For tests and benchmarks: 0 makes the element-wise passes (bias, ReLU,
 * norm, Adam) use their portable loops, 1 (the default) lets them use AVX2
 * where the CPU has it. Both give identical bits. Not thread-safe: change
 * it only while no other call into this module runs. */
void nn_set_simd(int on);

#endif
