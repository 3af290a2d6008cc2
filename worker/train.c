#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indicators.h"
#include "modelio.h"

int trainer_init(Trainer *tr, const Config *cfg, const TrainData *data)
{
	memset(tr, 0, sizeof(*tr));
	tr->cfg = cfg;
	tr->data = data;
	tr->wave = 1;
	env_params_from_config(&tr->envp, cfg);
	tr->sizes[0] = ENV_STATE_DIM;
	for (int i = 0; i < cfg->n_hidden; i++)
		tr->sizes[i + 1] = cfg->hidden[i];
	tr->sizes[cfg->n_hidden + 1] = ENV_ACTIONS;
	tr->n_layers = cfg->n_hidden + 1;
	tr->n_params = 0;
	for (int l = 0; l < tr->n_layers; l++)
		tr->n_params += (size_t)tr->sizes[l + 1] * (size_t)(tr->sizes[l] + 1);
	tr->chunk_params = calloc((size_t)data->n_chunks, sizeof(float *));
	return tr->chunk_params ? 0 : -ENOMEM;
}

static void free_runs(Trainer *tr)
{
	for (int i = 0; i < TRAIN_MAX_WAVE; i++)
		agent_free(&tr->run[i].agent);
	memset(tr->run, 0, sizeof(tr->run));
}

void trainer_free(Trainer *tr)
{
	if (tr->chunk_params)
		for (int c = 0; c < tr->data->n_chunks; c++)
			free(tr->chunk_params[c]);
	free(tr->chunk_params);
	free_runs(tr);
	memset(tr, 0, sizeof(*tr));
}

int trainer_start_wave(Trainer *tr)
{
	int left = tr->data->n_chunks - tr->pos.chunk;
	int r;

	free_runs(tr);
	tr->pos.n_active = left < tr->wave ? left : tr->wave;
	tr->pos.episode = 0;
	tr->pos.in_episode = 0;
	for (int i = 0; i < tr->pos.n_active; i++) {
		ChunkRun *cr = &tr->run[i];

		cr->chunk = tr->pos.chunk + i;
		rng_seed(&cr->rng, train_chunk_seed(tr->cfg->seed, cr->chunk));
		r = agent_init(&cr->agent, tr->cfg, &cr->rng);
		if (r < 0)
			return r;
		cr->last_epsilon = cr->agent.epsilon;
	}
	return trainer_attach_gpu(tr);
}

int trainer_attach_gpu(Trainer *tr)
{
	if (!tr->use_gpu)
		return 0;
	for (int i = 0; i < tr->pos.n_active; i++) {
		int r;

		if (tr->run[i].agent.gpu)
			continue;
		r = agent_attach_gpu(&tr->run[i].agent);
		if (r < 0)
			return r;
	}
	return 0;
}

int trainer_sync(Trainer *tr)
{
	for (int i = 0; i < tr->pos.n_active; i++) {
		int r = agent_sync_host(&tr->run[i].agent, &tr->run[i].ep_loss);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Moves the wave's finished online weights into chunk_params and drops the
 * agents, so their replay buffers are returned before the next wave. */
static int finish_wave(Trainer *tr)
{
	for (int i = 0; i < tr->pos.n_active; i++) {
		ChunkRun *cr = &tr->run[i];
		float *p = malloc(tr->n_params * sizeof(float));

		if (!p)
			return -ENOMEM;
		memcpy(p, cr->agent.online.params, tr->n_params * sizeof(float));
		tr->chunk_params[cr->chunk] = p;
	}
	tr->pos.chunk += tr->pos.n_active;
	tr->pos.n_active = 0;
	tr->pos.episode = 0;
	free_runs(tr);
	return 0;
}

/* One environment step of one chunk: act, step, remember, learn. Returns
 * 1 when the episode ended, 0 otherwise, or a negative errno. */
static int chunk_step(Trainer *tr, ChunkRun *cr)
{
	const TrainData *d = tr->data;
	float s[ENV_STATE_DIM], s2[ENV_STATE_DIM];
	Agent *ag = &cr->agent;
	int a, done, r;
	double rew;

	env_observe(&cr->env, &tr->envp, d->feat, s);
	a = agent_act(ag, &cr->rng, s, 1);
	rew = env_step(&cr->env, &tr->envp, d->close, a, &done);
	env_observe(&cr->env, &tr->envp, d->feat, s2);
	r = agent_remember(ag, s, a, (float)rew, s2, (float)done);
	if (r < 0)
		return r;
	cr->ep_reward += rew;
	if (ag->replay.n >= ag->batch) {
		float loss;

		r = agent_learn(ag, &cr->rng, tr->cfg, &loss);
		if (r < 0)
			return r;
		cr->ep_loss += loss;
		cr->ep_steps++;
	}
	return done;
}

int trainer_run(Trainer *tr, const TrainHooks *hooks)
{
	const TrainData *d = tr->data;
	const Config *cfg = tr->cfg;
	int r;

	while (tr->pos.chunk < d->n_chunks) {
		if (tr->pos.n_active == 0) {
			r = trainer_start_wave(tr);
			if (r < 0)
				return r;
		}
		while (tr->pos.episode < cfg->episodes_per_chunk) {
			int n = tr->pos.n_active;
			double loss = 0, reward = 0;

			if (!tr->pos.in_episode) {
				for (int i = 0; i < n; i++) {
					ChunkRun *cr = &tr->run[i];
					int start = cr->chunk * d->chunk_length;

					env_reset(&cr->env, &tr->envp, start, start + d->chunk_length - 1, d->close);
					cr->ep_loss = 0;
					cr->ep_reward = 0;
					cr->ep_steps = 0;
				}
				tr->pos.in_episode = 1;
			}
			/* Every chunk has chunk_length days: the wave's episodes
			 * end on the same step. */
			for (;;) {
				int done = 0;

				for (int i = 0; i < n; i++) {
					r = chunk_step(tr, &tr->run[i]);
					if (r < 0)
						return r;
					done = r;
				}
				if (done)
					break;
				if (hooks && hooks->step) {
					r = hooks->step(hooks->ctx, tr);
					if (r != 0)
						return r;
				}
			}
			r = trainer_sync(tr);
			if (r < 0)
				return r;
			for (int i = 0; i < n; i++) {
				ChunkRun *cr = &tr->run[i];
				Agent *ag = &cr->agent;

				ag->epsilon = fmax(cfg->epsilon_min, ag->epsilon * cfg->epsilon_decay);
				cr->last_epsilon = ag->epsilon;
				loss += cr->ep_steps ? cr->ep_loss / (double)cr->ep_steps : 0.0;
				reward += cr->ep_reward;
			}
			tr->last_loss = loss / n;
			tr->last_reward = reward / n;
			tr->last_epsilon = tr->run[0].last_epsilon;
			tr->last_n = n;
			tr->pos.in_episode = 0;
			tr->pos.episode++;
			tr->pos.done_episodes += n;
			if (tr->pos.episode == cfg->episodes_per_chunk) {
				r = finish_wave(tr);
				if (r < 0)
					return r;
			}
			if (hooks && hooks->episode) {
				r = hooks->episode(hooks->ctx, tr);
				if (r != 0)
					return r;
			}
			if (tr->pos.n_active == 0)
				break;
		}
	}
	return 0;
}

/* ---- checkpoint and model file ---- */

void trainer_pack_shape(Enc *e, const Trainer *tr)
{
	enc_key(e, "layers");
	enc_array(e, (size_t)tr->n_layers + 1);
	for (int l = 0; l <= tr->n_layers; l++)
		enc_int(e, tr->sizes[l]);
}

int trainer_unpack_shape(const Dec *root, int *sizes)
{
	long n;
	Dec a = dec_array(root, "layers", &n);

	if (n < 0)
		return -EINVAL;
	if (n < 2 || n > MLP_MAX_LAYERS + 1)
		return dec_invalid(&a, NULL, "has an unsupported number of layers");
	for (long l = 0; l < n; l++) {
		Dec v = dec_at(&a, (size_t)l);
		int64_t k = dec_as_int(&v);

		if (dec_failed(root))
			return -EINVAL;
		if (k < 1 || k > 65536)
			return dec_invalid(&a, NULL, "holds a layer size out of range [1, 65536]");
		sizes[l] = (int)k;
	}
	return (int)n - 1;
}

static void pack_run(Enc *e, const ChunkRun *cr)
{
	enc_map(e, 7);
	enc_key(e, "chunk"); enc_int(e, cr->chunk);
	enc_key(e, "ep_steps"); enc_int(e, cr->ep_steps);
	enc_key(e, "ep_loss"); enc_double(e, cr->ep_loss);
	enc_key(e, "ep_reward"); enc_double(e, cr->ep_reward);
	enc_key(e, "env"); env_pack(e, &cr->env);
	enc_key(e, "rng"); enc_u64s(e, cr->rng.s, 4);
	enc_key(e, "agent"); agent_pack(e, &cr->agent);
}

void trainer_pack(Enc *e, const Trainer *tr)
{
	const TrainPos *p = &tr->pos;

	trainer_pack_shape(e, tr);
	enc_key(e, "batch_size");
	enc_int(e, tr->cfg->batch_size);
	enc_key(e, "pos");
	enc_map(e, 5);
	enc_key(e, "chunk"); enc_int(e, p->chunk);
	enc_key(e, "n_active"); enc_int(e, p->n_active);
	enc_key(e, "episode"); enc_int(e, p->episode);
	enc_key(e, "in_episode"); enc_int(e, p->in_episode);
	enc_key(e, "done_episodes"); enc_int(e, p->done_episodes);
	/* The chunks of the wave in progress, each with everything it needs
	 * to continue alone. */
	enc_key(e, "runs");
	enc_array(e, (size_t)p->n_active);
	for (int i = 0; i < p->n_active; i++)
		pack_run(e, &tr->run[i]);
	enc_key(e, "chunks");
	train_data_pack_models(e, tr->data, tr->chunk_params, tr->n_params);
}

static int unpack_pos(const Dec *root, const Trainer *tr, TrainPos *p)
{
	const TrainData *d = tr->data;
	Dec m = dec_map(root, "pos");

	memset(p, 0, sizeof(*p));
	p->chunk = (int32_t)dec_int(&m, "chunk");
	p->n_active = (int32_t)dec_int(&m, "n_active");
	p->episode = (int32_t)dec_int(&m, "episode");
	p->in_episode = (int32_t)dec_int(&m, "in_episode");
	p->done_episodes = dec_int(&m, "done_episodes");
	if (dec_failed(root))
		return -EINVAL;
	if (p->chunk < 0 || p->chunk > d->n_chunks)
		return dec_invalid(&m, "chunk", "is not a chunk of the data");
	if (p->n_active < 0 || p->n_active > TRAIN_MAX_WAVE || p->chunk + p->n_active > d->n_chunks)
		return dec_invalid(&m, "n_active", "out of range");
	if (p->episode < 0 || p->episode >= tr->cfg->episodes_per_chunk ||
	    (p->n_active == 0 && p->episode != 0))
		return dec_invalid(&m, "episode", "out of range");
	if (p->in_episode < 0 || p->in_episode > 1 || (p->n_active == 0 && p->in_episode))
		return dec_invalid(&m, "in_episode", "out of range");
	if (p->done_episodes < 0)
		return dec_invalid(&m, "done_episodes", "is negative");
	return 0;
}

/* Restores run i of the wave. Returns 0, -ENOMEM or -EINVAL. */
static int unpack_run(const Dec *m, Trainer *tr, int i)
{
	ChunkRun *cr = &tr->run[i];
	Rng scratch;
	Dec env, agent;
	int r;

	if (dec_as_map(m) < 0)
		return -EINVAL;
	cr->chunk = (int32_t)dec_int(m, "chunk");
	cr->ep_steps = dec_int(m, "ep_steps");
	cr->ep_loss = dec_double(m, "ep_loss");
	cr->ep_reward = dec_double(m, "ep_reward");
	dec_u64s(m, "rng", cr->rng.s, 4);
	env = dec_map(m, "env");
	env_unpack(&env, &cr->env);
	agent = dec_map(m, "agent");
	if (dec_failed(m))
		return -EINVAL;
	if (cr->chunk != tr->pos.chunk + i)
		return dec_invalid(m, "chunk", "is not the wave's chunk at its place");
	if (cr->ep_steps < 0)
		return dec_invalid(m, "ep_steps", "is negative");
	if (cr->env.t >= tr->data->n_rows || cr->env.end >= tr->data->n_rows)
		return dec_invalid(&env, NULL, "is past the end of the data");
	/* agent_init draws initial weights from a generator: give it a
	 * scratch copy, since every weight is overwritten. */
	scratch = cr->rng;
	r = agent_init(&cr->agent, tr->cfg, &scratch);
	if (r < 0)
		return r;
	r = agent_unpack(&agent, &cr->agent);
	if (r < 0)
		return r;
	cr->last_epsilon = cr->agent.epsilon;
	return 0;
}

int trainer_unpack(const Dec *root, Trainer *tr)
{
	int sizes[MLP_MAX_LAYERS + 1];
	TrainPos p;
	Dec runs, chunks;
	long n;
	int r;

	r = trainer_unpack_shape(root, sizes);
	if (r < 0)
		return r;
	if (r != tr->n_layers || memcmp(sizes, tr->sizes, (size_t)(r + 1) * sizeof(int)))
		return dec_invalid(root, "layers", "differ from the configuration's network");
	if (dec_int(root, "batch_size") < 1)
		return dec_invalid(root, "batch_size", "out of range");
	r = unpack_pos(root, tr, &p);
	if (r < 0)
		return r;
	tr->pos = p;
	chunks = dec_key(root, "chunks");
	r = train_data_unpack_models(&chunks, tr->data, p.chunk, tr->chunk_params, tr->n_params);
	if (r < 0)
		return r;
	runs = dec_array(root, "runs", &n);
	if (n < 0)
		return -EINVAL;
	if (n != p.n_active)
		return dec_invalid(&runs, NULL, "does not hold pos.n_active runs");
	for (int i = 0; i < p.n_active; i++) {
		Dec m = dec_at(&runs, (size_t)i);

		r = unpack_run(&m, tr, i);
		if (r < 0)
			return r;
	}
	return 0;
}

static void pack_cb(Enc *e, const void *tr)
{
	trainer_pack(e, tr);
}

static int unpack_cb(const Dec *root, void *tr)
{
	return trainer_unpack(root, tr);
}

static void shape_cb(Enc *e, const void *tr)
{
	trainer_pack_shape(e, tr);
}

static ModelioFile file_of(const Trainer *tr, const char *ticker, const char *path)
{
	ModelioFile f = { path, ticker, tr->cfg, tr->data };

	return f;
}

int trainer_write_checkpoint(const Trainer *tr, const char *ticker, const char *path,
			     uint32_t *ret_crc, char *err, size_t errlen)
{
	ModelioFile f = file_of(tr, ticker, path);

	return modelio_write_checkpoint(&f, TRAINER_PACK_ENTRIES, pack_cb, tr, ret_crc, err,
					errlen);
}

int trainer_read_checkpoint(Trainer *tr, const char *ticker, const char *path, char *err,
			    size_t errlen)
{
	ModelioFile f = file_of(tr, ticker, path);

	return modelio_read_checkpoint(&f, unpack_cb, tr, err, errlen);
}

int trainer_write_model(const Trainer *tr, const char *ticker, const Backtest *bt,
			const char *path, uint32_t *ret_crc, char *err, size_t errlen)
{
	ModelioFile f = file_of(tr, ticker, path);
	ModelioModel m = { "ddqn", shape_cb, tr, tr->chunk_params, tr->n_params };

	return modelio_write_model(&f, &m, bt, ret_crc, err, errlen);
}
