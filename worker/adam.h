/* The Adam optimiser of both model kinds (PyTorch's torch.optim.Adam:
 * bias-corrected, no weight decay), over one float array of n parameters
 * in the layout of the network it updates. */
#ifndef TV_ADAM_H
#define TV_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

typedef struct Adam {
	size_t n;
	int64_t t;                    /* steps taken */
	float *m;
	float *v;
	float lr, beta1, beta2, eps;
} Adam;

int adam_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps);
void adam_free(Adam *a);
/* One PyTorch-equivalent Adam step. */
void adam_step(Adam *a, float *params, const float *grads);
/* The same step on grads * scale (a clip factor folded into the pass). */
void adam_step_scaled(Adam *a, float *params, const float *grads, float scale);

/* The optimiser's state as ADAM_PACK_ENTRIES entries of the enclosing map
 * (codec.h): adam_m, adam_v (float arrays), adam_t (steps). Unpack wants
 * an Adam of the same n; the hyperparameters come from the configuration. */
#define ADAM_PACK_ENTRIES 3
void adam_pack(Enc *e, const Adam *a);
int adam_unpack(const Dec *map, Adam *a);

#endif
