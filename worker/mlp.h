/* The multi-layer perceptron of the DDQN agent, on the CPU with OpenBLAS
 * sgemm (the element-wise passes are nn.h's kernels).
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
#ifndef TV_MLP_H
#define TV_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "common/rng.h"

#define MLP_MAX_LAYERS 6

typedef struct Mlp {
	int n_layers;                 /* weight layers */
	int sizes[MLP_MAX_LAYERS + 1];
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
	float *act[MLP_MAX_LAYERS + 1];   /* act[0] = input copy, act[l] = output of layer l */
	float *dact[MLP_MAX_LAYERS + 1];
} MlpWork;

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
/* Forward of the rows already in act[0] (up to 2 * max_batch of them:
 * dqn_train_step's s and s' in one pass); outputs in act[1..L]. */
void mlp_forward_rows(const Mlp *mlp, float *const *act, int rows);
/* Backward from dout (batch x sizes[L]) for the batch of the last forward
 * on the same w; writes (not accumulates) mlp->grads. */
void mlp_backward(Mlp *mlp, MlpWork *w, const float *dout, int batch);

/* The parameters as one float array (codec.h); unpack wants an Mlp of the
 * same shape and refuses another size or a non-finite number. */
void mlp_pack(Enc *e, const Mlp *mlp);
int mlp_unpack(const Dec *v, Mlp *mlp);

#endif
