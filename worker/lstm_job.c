#include "lstm_job.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "gpu/gpu_lstm.h"
#include "modelio.h"

#define ADAM_BETA1 0.9f
#define ADAM_BETA2 0.999f
#define ADAM_EPS 1e-8f
/* Windows per forward in the backtest (bounds its scratch memory). */
#define BT_BATCH 128

int lstm_job_init(LstmJob *j, const Config *cfg, const TrainData *d, char *err, size_t errlen)
{
	memset(j, 0, sizeof(*j));
	j->cfg = cfg;
	j->data = d;
	j->input = LSTM_JOB_INPUTS;
	j->hidden = cfg->lstm_hidden;
	j->layers = cfg->lstm_layers;
	j->window = cfg->lstm_window;
	j->n_params = lstm_param_count(j->input, j->hidden, j->layers);
	j->n_model = j->n_params + 2 * (size_t)j->input;
	j->n_windows = d->chunk_length - j->window;
	if (j->n_windows < 4) {
		snprintf(err, errlen, "rewts.chunk_length=%d leaves %d windows of rewts.lstm_window=%d "
			 "days per chunk; model = lstm needs chunk_length >= lstm_window + 4",
			 d->chunk_length, j->n_windows > 0 ? j->n_windows : 0, j->window);
		return -EINVAL;
	}
	j->n_val = j->n_windows / 4 > 1 ? j->n_windows / 4 : 1;
	j->n_train = j->n_windows - j->n_val;
	j->chunk_models = calloc((size_t)d->n_chunks, sizeof(float *));
	if (!j->chunk_models)
		return -ENOMEM;
	return 0;
}

static void free_chunk_state(LstmJob *j)
{
	gpu_lstm_free(j->gpu);
	j->gpu = NULL;
	lstm_free(&j->net);
	adam_free(&j->opt);
	lstm_work_free(&j->work);
	free(j->best);
	free(j->norm);
	free(j->cx);
	free(j->cy);
	free(j->xb);
	free(j->yb);
	free(j->perm);
	j->best = j->norm = j->cx = j->cy = j->xb = j->yb = NULL;
	j->perm = NULL;
	j->net_ready = 0;
}

void lstm_job_free(LstmJob *j)
{
	if (!j)
		return;
	free_chunk_state(j);
	if (j->chunk_models && j->data)
		for (int c = 0; c < j->data->n_chunks; c++)
			free(j->chunk_models[c]);
	free(j->chunk_models);
	memset(j, 0, sizeof(*j));
}

/* The input row of day r (not standardised) into out[LSTM_JOB_INPUTS]. */
static void raw_inputs(const TrainData *d, int r, double *out)
{
	for (int k = 0; k < IND_FEATURES; k++)
		out[k] = d->feat[(size_t)r * IND_FEATURES + k];
	out[IND_FEATURES] = r > 0 ? d->close[r] / d->close[r - 1] - 1.0 : 0.0;
}

/* Means and deviations (population) of the inputs over days [s, e]. */
static void chunk_norm(const TrainData *d, int s, int e, float *norm)
{
	double sum[LSTM_JOB_INPUTS] = { 0 }, sq[LSTM_JOB_INPUTS] = { 0 }, v[LSTM_JOB_INPUTS];
	int n = e - s + 1;

	for (int r = s; r <= e; r++) {
		raw_inputs(d, r, v);
		for (int k = 0; k < LSTM_JOB_INPUTS; k++)
			sum[k] += v[k];
	}
	for (int k = 0; k < LSTM_JOB_INPUTS; k++)
		sum[k] /= n;
	for (int r = s; r <= e; r++) {
		raw_inputs(d, r, v);
		for (int k = 0; k < LSTM_JOB_INPUTS; k++)
			sq[k] += (v[k] - sum[k]) * (v[k] - sum[k]);
	}
	for (int k = 0; k < LSTM_JOB_INPUTS; k++) {
		double sd = sqrt(sq[k] / n);

		norm[k] = (float)sum[k];
		norm[LSTM_JOB_INPUTS + k] = (float)(sd < 1e-6 ? 1.0 : sd);
	}
}

/* Standardised inputs of day r with a model's norm. */
static void norm_inputs(const TrainData *d, int r, const float *norm, float *out)
{
	double v[LSTM_JOB_INPUTS];

	raw_inputs(d, r, v);
	for (int k = 0; k < LSTM_JOB_INPUTS; k++)
		out[k] = (float)((v[k] - norm[k]) / norm[LSTM_JOB_INPUTS + k]);
}

int lstm_job_start_chunk(LstmJob *j, int fresh)
{
	const TrainData *d = j->data;
	int L = d->chunk_length, s = j->pos.chunk * L, B = j->cfg->batch_size;
	size_t F = (size_t)j->input, W = (size_t)j->window;
	Rng scratch;
	int r;

	free_chunk_state(j);
	if (fresh)
		rng_seed(&j->rng, train_chunk_seed(j->cfg->seed, j->pos.chunk));
	else
		rng_seed(&scratch, 0);
	r = lstm_init(&j->net, j->input, j->hidden, j->layers, fresh ? &j->rng : &scratch);
	if (r < 0)
		goto fail;
	r = adam_init(&j->opt, j->n_params, (float)j->cfg->lstm_learning_rate, ADAM_BETA1,
		      ADAM_BETA2, ADAM_EPS);
	if (r < 0)
		goto fail;
	r = lstm_work_init(&j->work, &j->net, B, j->window);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	j->best = malloc(j->n_params * sizeof(float));
	j->norm = malloc(2 * F * sizeof(float));
	j->cx = malloc((size_t)L * F * sizeof(float));
	j->cy = malloc((size_t)L * sizeof(float));
	j->xb = malloc((size_t)B * W * F * sizeof(float));
	j->yb = malloc((size_t)B * W * sizeof(float));
	j->perm = malloc((size_t)j->n_train * sizeof(int32_t));
	if (!j->best || !j->norm || !j->cx || !j->cy || !j->xb || !j->yb || !j->perm)
		goto fail;
	memcpy(j->best, j->net.params, j->n_params * sizeof(float));
	chunk_norm(d, s, s + L - 1, j->norm);
	for (int i = 0; i < L; i++) {
		norm_inputs(d, s + i, j->norm, j->cx + (size_t)i * F);
		/* The last day's target lies outside the chunk and no window uses it. */
		j->cy[i] = i + 1 < L ? (float)(LSTM_TARGET_SCALE *
					       (d->close[s + i + 1] / d->close[s + i] - 1.0)) : 0.0f;
	}
	if (fresh) {
		j->pos.epoch = 0;
		j->pos.bad_epochs = 0;
		j->pos.best_val = INFINITY;
	}
	j->net_ready = 1;
	if (fresh)
		return lstm_job_attach_gpu(j);
	return 0;
fail:
	free_chunk_state(j);
	return r;
}

int lstm_job_attach_gpu(LstmJob *j)
{
	int r;

	if (!j->use_gpu || !j->net_ready || j->gpu)
		return 0;
	r = gpu_lstm_new(&j->gpu, j->input, j->hidden, j->layers, j->window, j->cfg->batch_size,
			 j->opt.lr, j->opt.beta1, j->opt.beta2, j->opt.eps);
	if (r < 0)
		return r;
	return gpu_lstm_upload(j->gpu, j->net.params, j->opt.m, j->opt.v, j->opt.t);
}

int lstm_job_sync(LstmJob *j)
{
	if (!j->net_ready || !j->gpu)
		return 0;
	return gpu_lstm_download(j->gpu, j->net.params, j->opt.m, j->opt.v, &j->opt.t);
}

void lstm_job_bytes(const LstmJob *j, int64_t *ret_activations, int64_t *ret_weights,
		    int64_t *ret_device)
{
	int64_t act = 0, weights = 0, device = 0;
	size_t B = (size_t)j->cfg->batch_size, W = (size_t)j->window, F = (size_t)j->input;

	if (j->chunk_models)
		for (int c = 0; c < j->data->n_chunks; c++)
			if (j->chunk_models[c])
				weights += (int64_t)(j->n_model * sizeof(float));
	if (j->net_ready) {
		act = (int64_t)(j->work.bytes + B * W * (F + 1) * sizeof(float));
		/* params, grads, Adam m and v, best */
		weights += (int64_t)(5 * j->n_params * sizeof(float));
		if (j->gpu) {
			int64_t res = 0, ws = 0, a = 0, w = 0;

			if (gpu_lstm_bytes(j->gpu, &res, &ws, &a, &w) >= 0)
				device = res + ws + a + w;
		}
	}
	*ret_activations = act;
	*ret_weights = weights;
	*ret_device = device;
}

/* Copies windows idx[0..n-1] (0 = the chunk's first) into xb/yb. */
static void gather(LstmJob *j, const int32_t *idx, int first, int n)
{
	size_t F = (size_t)j->input, W = (size_t)j->window;

	for (int b = 0; b < n; b++) {
		int k = idx ? idx[b] : first + b;

		memcpy(j->xb + (size_t)b * W * F, j->cx + (size_t)k * F, W * F * sizeof(float));
		memcpy(j->yb + (size_t)b * W, j->cy + k, W * sizeof(float));
	}
}

/* Mean validation MSE with the current parameters. */
static int validate(LstmJob *j, double *ret_loss)
{
	int B = j->cfg->batch_size;
	double sum = 0;
	int r;

	for (int s = 0; s < j->n_val; s += B) {
		int nb = j->n_val - s < B ? j->n_val - s : B;

		gather(j, NULL, j->n_train + s, nb);
		if (j->gpu) {
			size_t n = (size_t)nb * j->window;

			r = gpu_lstm_forward(j->gpu, j->xb, nb, 0, j->work.out);
			if (r < 0)
				return r;
			for (size_t k = 0; k < n; k++) {
				double e = (double)j->work.out[k] - j->yb[k];

				sum += e * e / (double)j->window;
			}
		} else {
			lstm_forward(&j->net, NULL, &j->work, j->xb, nb);
			sum += lstm_mse(&j->net, &j->work, j->yb, 0) * nb;
		}
	}
	*ret_loss = sum / j->n_val;
	return 0;
}

static int train_epoch(LstmJob *j, const LstmHooks *hooks, double *ret_loss)
{
	int B = j->cfg->batch_size;
	double sum = 0;
	int r;

	for (int i = 0; i < j->n_train; i++)
		j->perm[i] = i;
	for (int i = j->n_train - 1; i > 0; i--) {
		int k = (int)rng_below(&j->rng, (uint64_t)i + 1);
		int32_t t = j->perm[i];

		j->perm[i] = j->perm[k];
		j->perm[k] = t;
	}
	for (int s = 0; s < j->n_train; s += B) {
		int nb = j->n_train - s < B ? j->n_train - s : B;
		double loss;

		gather(j, j->perm + s, 0, nb);
		if (j->gpu) {
			r = gpu_lstm_forward(j->gpu, j->xb, nb, 1, NULL);
			if (r >= 0)
				r = gpu_lstm_mse_backward(j->gpu, j->yb, &loss, NULL);
			if (r >= 0)
				r = gpu_lstm_adam_step(j->gpu);
			if (r < 0)
				return r;
		} else {
			lstm_forward(&j->net, NULL, &j->work, j->xb, nb);
			loss = lstm_mse(&j->net, &j->work, j->yb, 1);
			adam_step(&j->opt, j->net.params, j->net.grads);
		}
		sum += loss * nb;
		if (hooks && hooks->step) {
			r = hooks->step(hooks->ctx, j);
			if (r != 0)
				return r;
		}
	}
	*ret_loss = sum / j->n_train;
	return 0;
}

int lstm_job_run(LstmJob *j, const LstmHooks *hooks)
{
	const Config *cfg = j->cfg;
	int r;

	while (j->pos.chunk < j->data->n_chunks) {
		double tl, vl;
		int stop;

		if (!j->net_ready) {
			r = lstm_job_start_chunk(j, 1);
			if (r < 0)
				return r;
		}
		r = train_epoch(j, hooks, &tl);
		if (r != 0)
			return r;
		r = validate(j, &vl);
		if (r < 0)
			return r;
		j->pos.epoch++;
		j->pos.done_episodes++;
		j->last_train_loss = tl;
		j->last_val_loss = vl;
		if (vl < j->pos.best_val) {
			j->pos.best_val = vl;
			j->pos.bad_epochs = 0;
			if (j->gpu)
				r = gpu_lstm_download(j->gpu, j->best, NULL, NULL, NULL);
			else
				memcpy(j->best, j->net.params, j->n_params * sizeof(float));
			if (r < 0)
				return r;
		} else {
			j->pos.bad_epochs++;
		}
		stop = j->pos.epoch >= cfg->lstm_epochs ||
		       (cfg->lstm_patience > 0 && j->pos.bad_epochs >= cfg->lstm_patience);
		if (stop) {
			float *m = malloc(j->n_model * sizeof(float));

			if (!m)
				return -ENOMEM;
			memcpy(m, j->best, j->n_params * sizeof(float));
			memcpy(m + j->n_params, j->norm, 2 * (size_t)j->input * sizeof(float));
			j->chunk_models[j->pos.chunk] = m;
			free_chunk_state(j);
			j->pos.chunk++;
			j->pos.done_episodes = (int64_t)j->pos.chunk * cfg->lstm_epochs;
			j->pos.epoch = 0;
			j->pos.bad_epochs = 0;
			j->pos.best_val = INFINITY;
		}
		if (hooks && hooks->epoch) {
			r = hooks->epoch(hooks->ctx, j, tl, vl);
			if (r != 0)
				return r;
		}
	}
	return 0;
}

/* ---- backtest --------------------------------------------------------------- */

/* Forecasts fc[k] of r(first+k+1) for k in [0, span) by one chunk model;
 * 0 where the window would start before the first row. */
static int model_forecasts(const Config *cfg, const TrainData *d, const float *model,
			   int first, int span, double *fc)
{
	int F = LSTM_JOB_INPUTS, W = cfg->lstm_window;
	size_t n_params = lstm_param_count(F, cfg->lstm_hidden, cfg->lstm_layers);
	const float *norm = model + n_params;
	Lstm view;
	LstmWork work;
	float *xn = NULL, *xb = NULL;
	int lo = first > W - 1 ? first : W - 1, r;

	memset(&view, 0, sizeof(view));
	view.input = F;
	view.hidden = cfg->lstm_hidden;
	view.layers = cfg->lstm_layers;
	view.n_params = n_params;
	r = lstm_work_init(&work, &view, BT_BATCH, W);
	if (r < 0)
		return r;
	xn = malloc((size_t)d->n_rows * F * sizeof(float));
	xb = malloc((size_t)BT_BATCH * W * F * sizeof(float));
	if (!xn || !xb) {
		r = -ENOMEM;
		goto out;
	}
	for (int row = lo - (W - 1); row < d->n_rows; row++)
		norm_inputs(d, row, norm, xn + (size_t)row * F);
	for (int k = 0; k < span && first + k < lo; k++)
		fc[k] = 0.0;
	for (int day = lo; day < first + span; day += BT_BATCH) {
		int nb = first + span - day < BT_BATCH ? first + span - day : BT_BATCH;
		const float *out;

		for (int b = 0; b < nb; b++)
			memcpy(xb + (size_t)b * W * F, xn + (size_t)(day + b - W + 1) * F,
			       (size_t)W * F * sizeof(float));
		out = lstm_forward(&view, model, &work, xb, nb);
		for (int b = 0; b < nb; b++)
			fc[day + b - first] = out[(size_t)b * W + W - 1] / LSTM_TARGET_SCALE;
	}
	r = 0;
out:
	free(xn);
	free(xb);
	lstm_work_free(&work);
	return r;
}

/* The LSTM ensemble's decision: long when the weighted forecast of the
 * next day's return is positive, flat otherwise. */
typedef struct LstmEnsemble {
	const double *fc;
	int first, span, M;
} LstmEnsemble;

static int lstm_decide(void *ctx, const EnvState *env, const EnvParams *envp, int t,
		       const double *w)
{
	const LstmEnsemble *ens = ctx;
	double e = 0;

	(void)envp;
	for (int m = 0; m < ens->M; m++)
		e += w[m] * ens->fc[(size_t)m * ens->span + (t - ens->first)];
	if (e > 0 && env->position == 0)
		return ENV_LONG;
	if (!(e > 0) && env->position == 1)
		return ENV_SHORT;
	return ENV_HOLD;
}

int lstm_backtest_run(const Config *cfg, const TrainData *d, float *const *models,
		      Backtest *ret)
{
	int M = d->n_chunks;
	int first = backtest_first_day(cfg, d);
	int span = d->n_rows - first;
	LstmEnsemble ens;
	double *fc;
	int r = 0;

	fc = malloc((size_t)M * (size_t)span * sizeof(double));
	if (!fc)
		return -ENOMEM;
	for (int m = 0; m < M && r >= 0; m++)
		r = model_forecasts(cfg, d, models[m], first, span, fc + (size_t)m * span);
	if (r >= 0) {
		ens.fc = fc;
		ens.first = first;
		ens.span = span;
		ens.M = M;
		r = backtest_trade(cfg, d, fc, first, lstm_decide, &ens, ret);
	}
	free(fc);
	return r;
}

/* ---- checkpoint and model file ---- */

void lstm_job_pack_shape(Enc *e, const LstmJob *j)
{
	enc_key(e, "lstm");
	enc_map(e, 5);
	enc_key(e, "input"); enc_int(e, j->input);
	enc_key(e, "hidden"); enc_int(e, j->hidden);
	enc_key(e, "layers"); enc_int(e, j->layers);
	enc_key(e, "window"); enc_int(e, j->window);
	enc_key(e, "target_scale"); enc_double(e, LSTM_TARGET_SCALE);
}

int lstm_job_unpack_shape(const Dec *root, LstmShape *ret, size_t *ret_model_floats)
{
	Dec s = dec_map(root, "lstm");
	LstmShape k;

	k.input = (int)dec_int(&s, "input");
	k.hidden = (int)dec_int(&s, "hidden");
	k.layers = (int)dec_int(&s, "layers");
	k.window = (int)dec_int(&s, "window");
	if (dec_double(&s, "target_scale") != LSTM_TARGET_SCALE && !dec_failed(root))
		return dec_invalid(&s, "target_scale", "is not this worker's target scale");
	if (dec_failed(root))
		return -EINVAL;
	if (k.input != LSTM_JOB_INPUTS)
		return dec_invalid(&s, "input", "is not this worker's number of inputs");
	if (k.hidden < 1 || k.hidden > 65536)
		return dec_invalid(&s, "hidden", "out of range [1, 65536]");
	if (k.layers < 1 || k.layers > 64)
		return dec_invalid(&s, "layers", "out of range [1, 64]");
	if (k.window < 1 || k.window > 1000000)
		return dec_invalid(&s, "window", "out of range [1, 1000000]");
	*ret = k;
	*ret_model_floats = lstm_param_count(k.input, k.hidden, k.layers) + 2 * (size_t)k.input;
	return 0;
}

void lstm_job_pack(Enc *e, const LstmJob *j)
{
	const LstmPos *p = &j->pos;

	enc_key(e, "model_kind");
	enc_str(e, "lstm");
	lstm_job_pack_shape(e, j);
	enc_key(e, "batch_size");
	enc_int(e, j->cfg->batch_size);
	enc_key(e, "pos");
	enc_map(e, 5);
	enc_key(e, "chunk"); enc_int(e, p->chunk);
	enc_key(e, "epoch"); enc_int(e, p->epoch);
	enc_key(e, "done_episodes"); enc_int(e, p->done_episodes);
	enc_key(e, "bad_epochs"); enc_int(e, p->bad_epochs);
	enc_key(e, "best_val"); enc_double_or_inf(e, p->best_val);
	enc_key(e, "rng");
	enc_u64s(e, j->rng.s, 4);
	enc_key(e, "net");
	if (!j->net_ready) {
		enc_nil(e);
	} else {
		enc_map(e, 2 + ADAM_PACK_ENTRIES);
		enc_key(e, "params"); enc_floats(e, j->net.params, j->n_params);
		enc_key(e, "best"); enc_floats(e, j->best, j->n_params);
		adam_pack(e, &j->opt);
	}
	enc_key(e, "chunks");
	train_data_pack_models(e, j->data, j->chunk_models, j->n_model);
}

static int unpack_pos(const Dec *root, const LstmJob *j, LstmPos *p)
{
	Dec m = dec_map(root, "pos");

	memset(p, 0, sizeof(*p));
	p->chunk = (int32_t)dec_int(&m, "chunk");
	p->epoch = (int32_t)dec_int(&m, "epoch");
	p->done_episodes = dec_int(&m, "done_episodes");
	p->bad_epochs = (int32_t)dec_int(&m, "bad_epochs");
	p->best_val = dec_double_or_inf(&m, "best_val");
	if (dec_failed(root))
		return -EINVAL;
	if (p->chunk < 0 || p->chunk > j->data->n_chunks)
		return dec_invalid(&m, "chunk", "is not a chunk of the data");
	if (p->epoch < 0 || p->epoch >= j->cfg->lstm_epochs)
		return dec_invalid(&m, "epoch", "out of range (rewts.lstm_epochs)");
	if (p->bad_epochs < 0)
		return dec_invalid(&m, "bad_epochs", "is negative");
	if (p->done_episodes < 0)
		return dec_invalid(&m, "done_episodes", "is negative");
	return 0;
}

int lstm_job_unpack(const Dec *root, LstmJob *j)
{
	LstmShape k;
	LstmPos p;
	Rng g;
	Dec chunks, net;
	size_t n_model;
	int r;

	if (!dec_str_is(root, "model_kind", "lstm"))
		return dec_fail_now(root, "not an LSTM checkpoint (field 'model_kind')");
	r = lstm_job_unpack_shape(root, &k, &n_model);
	if (r < 0)
		return r;
	if (k.input != j->input || k.hidden != j->hidden || k.layers != j->layers ||
	    k.window != j->window)
		return dec_fail(root, "checkpoint of another LSTM shape");
	if (dec_int(root, "batch_size") < 1)
		return dec_invalid(root, "batch_size", "out of range");
	r = unpack_pos(root, j, &p);
	if (r < 0)
		return r;
	dec_u64s(root, "rng", g.s, 4);
	if (dec_failed(root))
		return -EINVAL;
	chunks = dec_key(root, "chunks");
	r = train_data_unpack_models(&chunks, j->data, p.chunk, j->chunk_models, j->n_model);
	if (r < 0)
		return r;
	net = dec_key(root, "net");
	if (!net.obj)
		return dec_invalid(root, "net", "missing");
	j->pos = p;
	j->rng = g;
	if (dec_is_nil(&net))
		return p.epoch == 0 ? 0 : dec_invalid(root, "net", "is empty in the middle of a chunk");
	if (dec_as_map(&net) < 0)
		return -EINVAL;
	if (p.chunk >= j->data->n_chunks)
		return dec_invalid(root, "net", "is set after the last chunk");
	r = lstm_job_start_chunk(j, 0);
	if (r < 0)
		return r;
	dec_floats(&net, "params", j->net.params, j->n_params);
	dec_floats(&net, "best", j->best, j->n_params);
	adam_unpack(&net, &j->opt);
	return dec_failed(root) ? -EINVAL : 0;
}

static void pack_cb(Enc *e, const void *j)
{
	lstm_job_pack(e, j);
}

static int unpack_cb(const Dec *root, void *j)
{
	return lstm_job_unpack(root, j);
}

static void shape_cb(Enc *e, const void *j)
{
	lstm_job_pack_shape(e, j);
}

static ModelioFile file_of(const LstmJob *j, const char *ticker, const char *path)
{
	ModelioFile f = { path, ticker, j->cfg, j->data };

	return f;
}

int lstm_job_write_checkpoint(const LstmJob *j, const char *ticker, const char *path,
			      uint32_t *ret_crc, char *err, size_t errlen)
{
	ModelioFile f = file_of(j, ticker, path);

	return modelio_write_checkpoint(&f, LSTM_JOB_PACK_ENTRIES, pack_cb, j, ret_crc, err,
					errlen);
}

int lstm_job_read_checkpoint(LstmJob *j, const char *ticker, const char *path, char *err,
			     size_t errlen)
{
	ModelioFile f = file_of(j, ticker, path);

	return modelio_read_checkpoint(&f, unpack_cb, j, err, errlen);
}

int lstm_job_write_model(const LstmJob *j, const char *ticker, const Backtest *bt,
			 const char *path, uint32_t *ret_crc, char *err, size_t errlen)
{
	ModelioFile f = file_of(j, ticker, path);
	ModelioModel m = { "lstm", shape_cb, j, j->chunk_models, j->n_model };

	return modelio_write_model(&f, &m, bt, ret_crc, err, errlen);
}
