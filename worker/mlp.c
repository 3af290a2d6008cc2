/* The DDQN agent's MLP (see mlp.h).
 *
 * Layout of a batch: row-major, one row per sample, so layer l is
 *   act[l+1] = act[l] (rows x in) * W_l^T (in x out) + b_l
 * and every product is one cblas_sgemm with unit-stride rows. */
#include "mlp.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

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
	if (n_layers < 1 || n_layers > MLP_MAX_LAYERS)
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
	for (int l = 0; l <= MLP_MAX_LAYERS; l++) {
		free(k.act[l]);
		free(k.dact[l]);
	}
	return rc;
}

void mlp_work_free(MlpWork *w)
{
	if (!w)
		return;
	for (int l = 0; l <= MLP_MAX_LAYERS; l++) {
		free(w->act[l]);
		free(w->dact[l]);
	}
	memset(w, 0, sizeof(*w));
}

/* Forward of rows already in act[0] (rows <= 2 * max_batch). Bias and
 * ReLU are one pass after each sgemm (beta = 0): cheaper than broadcasting
 * the bias into C and running sgemm with beta = 1, which reads C once more
 * and still needs a separate ReLU pass (measured, bench/RESULTS.md). */
void mlp_forward_rows(const Mlp *mlp, float *const *act, int rows)
{
	int L = mlp->n_layers;
	const float *p = mlp->params;

	for (int l = 0; l < L; l++) {
		int in = mlp->sizes[l], out = mlp->sizes[l + 1];
		const float *W = p;
		const float *b = p + (size_t)out * in;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in,
			    1.0f, act[l], in, W, in, 0.0f, act[l + 1], out);
		nn_bias_act(act[l + 1], b, rows, out, l < L - 1);
		p = b + out;
	}
}

const float *mlp_forward(const Mlp *mlp, MlpWork *w, const float *x, int batch)
{
	assert(batch >= 1 && batch <= w->max_batch);
	memcpy(w->act[0], x, (size_t)batch * mlp->sizes[0] * sizeof(float));
	mlp_forward_rows(mlp, w->act, batch);
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
		nn_mask_colsum(w->dact[l], w->act[l], dW - in, batch, in);
		dz = w->dact[l];
	}
}

void mlp_backward(Mlp *mlp, MlpWork *w, const float *dout, int batch)
{
	assert(batch >= 1 && batch <= w->max_batch);
	backward_rows(mlp, w, dout, batch);
}

void mlp_pack(Enc *e, const Mlp *mlp)
{
	enc_floats(e, mlp->params, mlp->n_params);
}

int mlp_unpack(const Dec *v, Mlp *mlp)
{
	return dec_as_floats(v, mlp->params, mlp->n_params);
}
