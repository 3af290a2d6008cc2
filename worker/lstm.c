#include "lstm.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

static size_t layer_floats(int in, int hidden)
{
	size_t g = 4 * (size_t)hidden;

	return g * (size_t)in + g * (size_t)hidden + 2 * g;
}

size_t lstm_param_count(int input, int hidden, int layers)
{
	return lstm_offset(input, hidden, layers, layers) + (size_t)hidden + 1;
}

size_t lstm_offset(int input, int hidden, int layers, int layer)
{
	size_t off = 0;

	(void)layers;
	for (int l = 0; l < layer; l++)
		off += layer_floats(l == 0 ? input : hidden, hidden);
	return off;
}

int lstm_init(Lstm *m, int input, int hidden, int layers, Rng *rng)
{
	Lstm k;
	double bound;

	memset(&k, 0, sizeof(k));
	if (input < 1 || hidden < 1 || layers < 1 || input > (1 << 16) || hidden > (1 << 16) ||
	    layers > 64)
		return -EINVAL;
	k.input = input;
	k.hidden = hidden;
	k.layers = layers;
	k.n_params = lstm_param_count(input, hidden, layers);
	k.params = malloc(k.n_params * sizeof(float));
	k.grads = calloc(k.n_params, sizeof(float));
	if (!k.params || !k.grads) {
		free(k.params);
		free(k.grads);
		return -ENOMEM;
	}
	/* nn.LSTM: every weight and bias U(-1/sqrt(H), 1/sqrt(H)); nn.Linear(H, 1)
	 * has the same bound (1/sqrt(fan_in), fan_in = H). */
	bound = 1.0 / sqrt((double)hidden);
	for (size_t i = 0; i < k.n_params; i++)
		k.params[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
	*m = k;
	return 0;
}

void lstm_free(Lstm *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->grads);
	memset(m, 0, sizeof(*m));
}

static void free_list(float **p, int n)
{
	if (!p)
		return;
	for (int i = 0; i < n; i++)
		free(p[i]);
	free(p);
}

void lstm_work_free(LstmWork *w)
{
	if (!w)
		return;
	free(w->x);
	free_list(w->gates, w->layers);
	free_list(w->c, w->layers);
	free_list(w->h, w->layers);
	free_list(w->tc, w->layers);
	free(w->out);
	free(w->dy);
	free(w->dgates);
	free(w->dh_seq);
	free(w->dh);
	free(w->dc);
	memset(w, 0, sizeof(*w));
}

static float *walloc(LstmWork *w, size_t n)
{
	w->bytes += n * sizeof(float);
	return calloc(n, sizeof(float));
}

int lstm_work_init(LstmWork *w, const Lstm *m, int max_batch, int seq_len)
{
	size_t B = (size_t)max_batch, T = (size_t)seq_len, H = (size_t)m->hidden;
	int L = m->layers;

	memset(w, 0, sizeof(*w));
	if (max_batch < 1 || seq_len < 1)
		return -EINVAL;
	w->max_batch = max_batch;
	w->seq_len = seq_len;
	w->layers = L;
	w->gates = calloc((size_t)L, sizeof(float *));
	w->c = calloc((size_t)L, sizeof(float *));
	w->h = calloc((size_t)L, sizeof(float *));
	w->tc = calloc((size_t)L, sizeof(float *));
	if (!w->gates || !w->c || !w->h || !w->tc)
		goto nomem;
	w->x = walloc(w, T * B * (size_t)m->input);
	if (!w->x)
		goto nomem;
	for (int l = 0; l < L; l++) {
		w->gates[l] = walloc(w, T * B * 4 * H);
		w->c[l] = walloc(w, (T + 1) * B * H);
		w->h[l] = walloc(w, (T + 1) * B * H);
		w->tc[l] = walloc(w, T * B * H);
		if (!w->gates[l] || !w->c[l] || !w->h[l] || !w->tc[l])
			goto nomem;
	}
	w->out = walloc(w, B * T);
	w->dy = walloc(w, B * T);
	w->dgates = walloc(w, T * B * 4 * H);
	w->dh_seq = walloc(w, T * B * H);
	w->dh = walloc(w, B * H);
	w->dc = walloc(w, B * H);
	if (!w->out || !w->dy || !w->dgates || !w->dh_seq || !w->dh || !w->dc)
		goto nomem;
	return 0;
nomem:
	lstm_work_free(w);
	return -ENOMEM;
}

static inline float sigmoidf(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

const float *lstm_forward(const Lstm *m, const float *params, LstmWork *w,
			  const float *x, int batch)
{
	const int H = m->hidden, T = w->seq_len, F = m->input, G = 4 * H;
	const size_t BH = (size_t)batch * H;
	const float *P = params ? params : m->params;
	const float *head;

	assert(batch >= 1 && batch <= w->max_batch && w->layers == m->layers);
	w->batch = batch;
	/* Batch-major input to time-major. */
	for (int b = 0; b < batch; b++)
		for (int t = 0; t < T; t++)
			memcpy(w->x + ((size_t)t * batch + b) * F, x + ((size_t)b * T + t) * F,
			       (size_t)F * sizeof(float));
	for (int l = 0; l < m->layers; l++) {
		int in = l == 0 ? F : H;
		const float *X = l == 0 ? w->x : w->h[l - 1] + BH;
		const float *Wih = P + lstm_offset(F, H, m->layers, l);
		const float *Whh = Wih + (size_t)G * in;
		const float *bih = Whh + (size_t)G * H;
		const float *bhh = bih + G;
		float *Z = w->gates[l], *c = w->c[l], *h = w->h[l], *tc = w->tc[l];

		memset(c, 0, BH * sizeof(float));
		memset(h, 0, BH * sizeof(float));
		/* The input part of every step at once: Z = X W_ih^T + b_ih + b_hh. */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T * batch, G, in, 1.0f,
			    X, in, Wih, in, 0.0f, Z, G);
		for (size_t r = 0; r < (size_t)T * batch; r++) {
			float *z = Z + r * G;

			for (int j = 0; j < G; j++)
				z[j] += bih[j] + bhh[j];
		}
		for (int t = 0; t < T; t++) {
			float *Zt = Z + (size_t)t * batch * G;
			const float *cp = c + (size_t)t * BH;
			float *cn = c + (size_t)(t + 1) * BH;
			float *hn = h + (size_t)(t + 1) * BH;
			float *tct = tc + (size_t)t * BH;

			/* h_0 = 0: the recurrent product of step 0 is zero. */
			if (t > 0)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, G, H, 1.0f,
					    h + (size_t)t * BH, H, Whh, H, 1.0f, Zt, G);
			for (int b = 0; b < batch; b++) {
				float *z = Zt + (size_t)b * G;

				for (int j = 0; j < H; j++) {
					float i = sigmoidf(z[j]);
					float f = sigmoidf(z[H + j]);
					float g = tanhf(z[2 * H + j]);
					float o = sigmoidf(z[3 * H + j]);
					size_t k = (size_t)b * H + j;
					float cc = f * cp[k] + i * g;
					float tt = tanhf(cc);

					z[j] = i;
					z[H + j] = f;
					z[2 * H + j] = g;
					z[3 * H + j] = o;
					cn[k] = cc;
					tct[k] = tt;
					hn[k] = o * tt;
				}
			}
		}
	}
	head = P + lstm_offset(F, H, m->layers, m->layers);
	{
		const float *ht = w->h[m->layers - 1] + BH;

		for (int t = 0; t < T; t++)
			for (int b = 0; b < batch; b++) {
				const float *hv = ht + ((size_t)t * batch + b) * H;
				float s = 0.0f;

				for (int j = 0; j < H; j++)
					s += head[j] * hv[j];
				w->out[(size_t)b * T + t] = s + head[H];
			}
	}
	return w->out;
}

/* Backward from w->dy (time-major d loss / d out). */
static void backward_tm(Lstm *m, LstmWork *w)
{
	const int H = m->hidden, T = w->seq_len, F = m->input, G = 4 * H, batch = w->batch;
	const size_t BH = (size_t)batch * H, TB = (size_t)T * batch;
	const float *head = m->params + lstm_offset(F, H, m->layers, m->layers);
	float *ghead = m->grads + lstm_offset(F, H, m->layers, m->layers);
	const float *htop = w->h[m->layers - 1] + BH;
	float db = 0.0f;

	/* Head: dw_out = sum_r dy_r h_r, db_out = sum_r dy_r, dh_r = dy_r w_out. */
	cblas_sgemv(CblasRowMajor, CblasTrans, (int)TB, H, 1.0f, htop, H, w->dy, 1, 0.0f, ghead, 1);
	for (size_t r = 0; r < TB; r++) {
		db += w->dy[r];
		for (int j = 0; j < H; j++)
			w->dh_seq[r * H + j] = w->dy[r] * head[j];
	}
	ghead[H] = db;

	for (int l = m->layers - 1; l >= 0; l--) {
		int in = l == 0 ? F : H;
		const float *X = l == 0 ? w->x : w->h[l - 1] + BH;
		size_t off = lstm_offset(F, H, m->layers, l);
		const float *Wih = m->params + off;
		const float *Whh = Wih + (size_t)G * in;
		float *gWih = m->grads + off;
		float *gWhh = gWih + (size_t)G * in;
		float *gbih = gWhh + (size_t)G * H;
		float *gbhh = gbih + G;
		const float *gates = w->gates[l], *c = w->c[l], *tc = w->tc[l];

		memset(w->dh, 0, BH * sizeof(float));
		memset(w->dc, 0, BH * sizeof(float));
		for (int t = T - 1; t >= 0; t--) {
			const float *gt = gates + (size_t)t * batch * G;
			float *dg = w->dgates + (size_t)t * batch * G;
			const float *cp = c + (size_t)t * BH;
			const float *tct = tc + (size_t)t * BH;
			const float *dht = w->dh_seq + (size_t)t * BH;

			for (int b = 0; b < batch; b++) {
				const float *z = gt + (size_t)b * G;
				float *d = dg + (size_t)b * G;

				for (int j = 0; j < H; j++) {
					size_t k = (size_t)b * H + j;
					float i = z[j], f = z[H + j], g = z[2 * H + j], o = z[3 * H + j];
					float dh = dht[k] + w->dh[k];
					float tt = tct[k];
					float dc = w->dc[k] + dh * o * (1.0f - tt * tt);

					d[j] = dc * g * i * (1.0f - i);
					d[H + j] = dc * cp[k] * f * (1.0f - f);
					d[2 * H + j] = dc * i * (1.0f - g * g);
					d[3 * H + j] = dh * tt * o * (1.0f - o);
					w->dc[k] = dc * f;
				}
			}
			/* dh_{t-1} = dgates_t W_hh (nothing flows before step 0). */
			if (t > 0)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, H, G, 1.0f,
					    dg, G, Whh, H, 0.0f, w->dh, H);
		}
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, in, (int)TB, 1.0f,
			    w->dgates, G, X, in, 0.0f, gWih, in);
		/* h slots 0..T-1 are h_{t-1} of steps 0..T-1. */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, (int)TB, 1.0f,
			    w->dgates, G, w->h[l], H, 0.0f, gWhh, H);
		memset(gbih, 0, (size_t)G * sizeof(float));
		for (size_t r = 0; r < TB; r++) {
			const float *d = w->dgates + r * G;

			for (int j = 0; j < G; j++)
				gbih[j] += d[j];
		}
		memcpy(gbhh, gbih, (size_t)G * sizeof(float));
		/* d loss / d h of the layer below: dgates W_ih. */
		if (l > 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, H, G, 1.0f,
				    w->dgates, G, Wih, in, 0.0f, w->dh_seq, H);
	}
}

void lstm_backward(Lstm *m, LstmWork *w, const float *dout)
{
	const int T = w->seq_len;

	for (int b = 0; b < w->batch; b++)
		for (int t = 0; t < T; t++)
			w->dy[(size_t)t * w->batch + b] = dout[(size_t)b * T + t];
	backward_tm(m, w);
}

double lstm_mse(Lstm *m, LstmWork *w, const float *target, int grads)
{
	const int T = w->seq_len, batch = w->batch;
	const double n = (double)T * batch;
	double loss = 0.0;

	for (int b = 0; b < batch; b++)
		for (int t = 0; t < T; t++) {
			size_t k = (size_t)b * T + t;
			float e = w->out[k] - target[k];

			loss += (double)e * e;
			w->dy[(size_t)t * batch + b] = (float)(2.0 * e / n);
		}
	if (grads)
		backward_tm(m, w);
	return loss / n;
}
