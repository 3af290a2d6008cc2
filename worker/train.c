#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indicators.h"

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
