/* The multi-layer perceptron of the DDQN agent, its Adam optimiser and the
 * Double-DQN gradient step, all on the CPU with OpenBLAS sgemm.
 *
 * Layout: an Mlp with L weight layers (sizes[0] inputs .. sizes[L] outputs)
 * keeps all parameters in one float array: for layer l, W_l is
 * sizes[l+1] x sizes[l] row-major (out x in), then b_l (sizes[l+1]).
 * Grads, Adam's m and v share that layout, so optimiser steps, copies,
 * checksums and (de)serialisation are single loops over n_params floats.
 * ReLU after every layer but the last (linear Q-values).
 *
 * Determinism: with OpenBLAS single-threaded, every function here gives the
 * same bits for the same inputs; nothing reads clocks or global state. */
#ifndef TV_NN_H
#define TV_NN_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"

#define NN_MAX_LAYERS 6

typedef struct Mlp {
	int n_layers;                 /* weight layers */
	int sizes[NN_MAX_LAYERS + 1];
	size_t n_params;
	float *params;
	float *grads;
} Mlp;

/* Per-batch scratch: activations of every layer and their gradients for up
 * to max_batch rows. Separate from the Mlp so its bytes can be reported as
 * "activations" and so a halved batch really costs half.
 *
 * act[l] has room for 2 * max_batch rows (row-major, sizes[l] columns) so
 * that dqn_train_step can push s and s' through the online network as one
 * batch (one larger sgemm per layer instead of two); dact[l] (l >= 1) has
 * max_batch rows; dact[0] is NULL (no gradient w.r.t. the input);
 * dact[L] is the gradient w.r.t. the network output (dqn_train_step writes
 * dQ there). bytes counts all of it. */
typedef struct MlpWork {
	int max_batch;
	size_t bytes;
	float *act[NN_MAX_LAYERS + 1];   /* act[0] = input copy, act[l] = output of layer l */
	float *dact[NN_MAX_LAYERS + 1];
} MlpWork;

typedef struct Adam {
	size_t n;
	int64_t t;                    /* steps taken */
	float *m;
	float *v;
	float lr, beta1, beta2, eps;
} Adam;

/* Allocates params and grads, initialised like PyTorch's nn.Linear default
 * (U(-1/sqrt(in), 1/sqrt(in)) for weights and biases) from rng.
 * Returns 0 or -ENOMEM / -EINVAL. */
int mlp_init(Mlp *mlp, const int *sizes, int n_layers, Rng *rng);
void mlp_free(Mlp *mlp);              /* accepts a zeroed Mlp */
/* Copies parameters only (same shapes required). */
void mlp_copy_params(Mlp *dst, const Mlp *src);
size_t mlp_bytes(const Mlp *mlp);      /* params + grads */

int mlp_work_init(MlpWork *w, const Mlp *mlp, int max_batch);
void mlp_work_free(MlpWork *w);

/* Forward for batch rows of x (batch x sizes[0], row-major); the output
 * (batch x sizes[L]) is w->act[L]. batch <= max_batch. */
const float *mlp_forward(const Mlp *mlp, MlpWork *w, const float *x, int batch);
/* Backward from dout (batch x sizes[L]) for the batch of the last forward
 * on the same w; writes (not accumulates) mlp->grads. */
void mlp_backward(Mlp *mlp, MlpWork *w, const float *dout, int batch);

int adam_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps);
void adam_free(Adam *a);
/* One PyTorch-equivalent Adam step (bias-corrected, no weight decay). */
void adam_step(Adam *a, float *params, const float *grads);

/* Scales grads so that their global L2 norm is at most max_norm (PyTorch's
 * clip_grad_norm_ with its 1e-6 epsilon); returns the norm before clipping. */
float clip_grad_norm(float *grads, size_t n, float max_norm);

/* One Double-DQN gradient step on a batch:
 *   a* = argmax_a Q_online(s', a)   (first index on ties, like torch.argmax)
 *   y  = r + gamma * Q_target(s', a*) * (1 - done)
 *   loss = mean over the batch of (Q_online(s, a) - y)^2
 * then backward, clip to grad_clip, Adam. w_online and w_target are scratch
 * for the online and target networks (w_online holds s and s' as one batch
 * of 2n rows, s first, so after the call its rows 0..n-1 are the forward of
 * s). b->n <= max_batch of both, a[i] in [0, sizes[L]). The clip factor is
 * folded into the Adam pass: afterwards online->grads holds the unclipped
 * gradient. Returns the loss before the update. */
typedef struct DqnBatch {
	int n;
	const float *s;      /* n x in */
	const int32_t *a;    /* n */
	const float *r;      /* n */
	const float *s2;     /* n x in */
	const float *done;   /* n, 0 or 1 */
} DqnBatch;

float dqn_train_step(Mlp *online, const Mlp *target, Adam *opt,
		     MlpWork *w_online, MlpWork *w_target, const DqnBatch *b,
		     float gamma, float grad_clip);

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
