/* The Double-DQN step and gradient clipping (see dqn.h). */
#include "dqn.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "nn.h"

static float clip_coef(float norm, float max_norm)
{
	float coef = max_norm / (norm + 1e-6f);

	return coef < 1.0f ? coef : 1.0f;
}

float dqn_clip_grad_norm(float *grads, size_t n, float max_norm)
{
	float norm = (float)sqrt(nn_sumsq(grads, n));
	float coef = clip_coef(norm, max_norm);

	if (coef < 1.0f)
		for (size_t i = 0; i < n; i++)
			grads[i] *= coef;
	return norm;
}

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
	mlp_forward_rows(online, w_online->act, 2 * n);
	memcpy(w_target->act[0], b->s2, n * row_bytes);
	mlp_forward_rows(target, w_target->act, n);

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

	mlp_backward(online, w_online, dq, n);
	norm = (float)sqrt(nn_sumsq(online->grads, online->n_params));
	adam_step_scaled(opt, online->params, online->grads, clip_coef(norm, grad_clip));
	return (float)(sum / n);
}
