/* Adam (see adam.h); the element-wise pass is nn.h's kernel. */
#include "adam.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

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
void adam_step_scaled(Adam *a, float *params, const float *grads, float scale)
{
	NnAdamConst c;
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
	nn_adam(&c, params, grads, a->m, a->v, a->n);
}

void adam_step(Adam *a, float *params, const float *grads)
{
	adam_step_scaled(a, params, grads, 1.0f);
}

/* PyTorch: coef = max_norm / (norm + 1e-6), applied when below 1. */
void adam_pack(Enc *e, const Adam *a)
{
	enc_key(e, "adam_m");
	enc_floats(e, a->m, a->n);
	enc_key(e, "adam_v");
	enc_floats(e, a->v, a->n);
	enc_key(e, "adam_t");
	enc_int(e, a->t);
}

int adam_unpack(const Dec *map, Adam *a)
{
	int64_t t;

	dec_floats(map, "adam_m", a->m, a->n);
	dec_floats(map, "adam_v", a->v, a->n);
	t = dec_int(map, "adam_t");
	if (dec_failed(map))
		return -EINVAL;
	if (t < 0)
		return dec_invalid(map, "adam_t", "is negative");
	a->t = t;
	return 0;
}
