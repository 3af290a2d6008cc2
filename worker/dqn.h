/* The Double-DQN gradient step of the DDQN agent (PyTorch-equivalent:
 * tests/dqn_lockstep.sh runs it against an independent implementation). */
#ifndef TV_DQN_H
#define TV_DQN_H

#include <stddef.h>
#include <stdint.h>

#include "adam.h"
#include "mlp.h"

/* Scales grads so that their global L2 norm is at most max_norm (PyTorch's
 * clip_grad_norm_ with its 1e-6 epsilon); returns the norm before clipping. */
float dqn_clip_grad_norm(float *grads, size_t n, float max_norm);

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

#endif
