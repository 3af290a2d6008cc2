#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checksum.h"
#include "indicators.h"
#include "qp.h"

int train_data_init(TrainData *d, const Config *cfg, const char *data_path,
		    float *feat, double *close, int32_t *date, int32_t n_rows,
		    char *err, size_t errlen)
{
	int32_t test_rows = (int32_t)llround((double)n_rows * cfg->test_fraction);
	uint32_t crc = 0;

	memset(d, 0, sizeof(*d));
	d->feat = feat;
	d->close = close;
	d->date = date;
	d->n_rows = n_rows;
	d->train_rows = n_rows - test_rows;
	d->test_start = d->train_rows;
	d->chunk_length = cfg->chunk_length;
	d->n_chunks = d->train_rows > 0 ? d->train_rows / cfg->chunk_length : 0;
	if (test_rows < 2 || d->n_chunks < 1) {
		snprintf(err, errlen,
			 "%s: %d usable days (after the %d-day indicator warm-up) leave %d "
			 "training days and %d test days (backtest.test_fraction=%g); "
			 "need at least one chunk (rewts.chunk_length=%d) and 2 test days",
			 data_path, n_rows, IND_WARMUP, d->train_rows > 0 ? d->train_rows : 0,
			 test_rows, cfg->test_fraction, cfg->chunk_length);
		return -EINVAL;
	}
	if (d->n_chunks > QP_MAX_M) {
		snprintf(err, errlen,
			 "%s: %d training days make %d chunks of rewts.chunk_length=%d; the "
			 "ensemble holds at most %d chunk models: raise rewts.chunk_length",
			 data_path, d->train_rows, d->n_chunks, cfg->chunk_length, QP_MAX_M);
		return -EINVAL;
	}
	crc = checksum_crc32(crc, feat, (size_t)n_rows * IND_FEATURES * sizeof(float));
	crc = checksum_crc32(crc, close, (size_t)n_rows * sizeof(double));
	crc = checksum_crc32(crc, date, (size_t)n_rows * sizeof(int32_t));
	d->fingerprint = crc;
	return 0;
}

void train_data_free(TrainData *d)
{
	free(d->feat);
	free(d->close);
	free(d->date);
	memset(d, 0, sizeof(*d));
}

uint64_t train_chunk_seed(uint64_t seed, int chunk)
{
	return seed * 0x9e3779b97f4a7c15ULL + (uint64_t)chunk * 0xd1b54a32d192ed03ULL + 1;
}

int trainer_init(Trainer *tr, const Config *cfg, const TrainData *data)
{
	memset(tr, 0, sizeof(*tr));
	tr->cfg = cfg;
	tr->data = data;
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

void trainer_free(Trainer *tr)
{
	if (tr->chunk_params)
		for (int c = 0; c < tr->data->n_chunks; c++)
			free(tr->chunk_params[c]);
	free(tr->chunk_params);
	agent_free(&tr->agent);
	memset(tr, 0, sizeof(*tr));
}

int trainer_start_chunk(Trainer *tr)
{
	int r;

	agent_free(&tr->agent);
	rng_seed(&tr->rng, train_chunk_seed(tr->cfg->seed, tr->pos.chunk));
	r = agent_init(&tr->agent, tr->cfg, &tr->rng);
	if (r < 0) {
		agent_free(&tr->agent);
		return r;
	}
	tr->agent_ready = 1;
	return trainer_attach_gpu(tr);
}

int trainer_attach_gpu(Trainer *tr)
{
	if (!tr->use_gpu || !tr->agent_ready || tr->agent.gpu)
		return 0;
	return agent_attach_gpu(&tr->agent);
}

int trainer_sync(Trainer *tr)
{
	if (!tr->agent_ready)
		return 0;
	return agent_sync_host(&tr->agent, &tr->pos.ep_loss);
}

/* Moves the finished chunk's online weights into chunk_params and drops the
 * agent, so its replay buffer is returned before the next chunk starts. */
static int finish_chunk(Trainer *tr)
{
	float *p = malloc(tr->n_params * sizeof(float));
	int r;

	if (!p)
		return -ENOMEM;
	r = trainer_sync(tr);
	if (r < 0) {
		free(p);
		return r;
	}
	memcpy(p, tr->agent.online.params, tr->n_params * sizeof(float));
	tr->chunk_params[tr->pos.chunk] = p;
	agent_free(&tr->agent);
	tr->agent_ready = 0;
	tr->pos.chunk++;
	tr->pos.episode = 0;
	return 0;
}

int trainer_run(Trainer *tr, const TrainHooks *hooks)
{
	const TrainData *d = tr->data;
	const Config *cfg = tr->cfg;
	float s[ENV_STATE_DIM], s2[ENV_STATE_DIM];
	int r;

	while (tr->pos.chunk < d->n_chunks) {
		int start = tr->pos.chunk * d->chunk_length;
		int end = start + d->chunk_length - 1;
		Agent *ag = &tr->agent;

		if (!tr->agent_ready) {
			r = trainer_start_chunk(tr);
			if (r < 0)
				return r;
		}
		while (tr->pos.episode < cfg->episodes_per_chunk) {
			double loss;

			if (!tr->pos.in_episode) {
				env_reset(&tr->env, &tr->envp, start, end, d->close);
				tr->pos.in_episode = 1;
				tr->pos.ep_loss = 0;
				tr->pos.ep_reward = 0;
				tr->pos.ep_steps = 0;
			}
			for (;;) {
				int a, done;
				double rew;

				env_observe(&tr->env, &tr->envp, d->feat, s);
				a = agent_act(ag, &tr->rng, s, 1);
				rew = env_step(&tr->env, &tr->envp, d->close, a, &done);
				env_observe(&tr->env, &tr->envp, d->feat, s2);
				r = agent_remember(ag, s, a, (float)rew, s2, (float)done);
				if (r < 0)
					return r;
				tr->pos.ep_reward += rew;
				if (ag->replay.n >= ag->batch) {
					float loss1;

					r = agent_learn(ag, &tr->rng, cfg, &loss1);
					if (r < 0)
						return r;
					tr->pos.ep_loss += loss1;
					tr->pos.ep_steps++;
				}
				if (done)
					break;
				if (hooks && hooks->step) {
					r = hooks->step(hooks->ctx, tr);
					if (r != 0)
						return r;
				}
			}
			if (ag->gpu) {
				r = agent_sync_host(ag, &tr->pos.ep_loss);
				if (r < 0)
					return r;
			}
			tr->pos.in_episode = 0;
			tr->pos.episode++;
			tr->pos.done_episodes++;
			ag->epsilon = fmax(cfg->epsilon_min, ag->epsilon * cfg->epsilon_decay);
			tr->last_epsilon = ag->epsilon;
			loss = tr->pos.ep_steps ? tr->pos.ep_loss / (double)tr->pos.ep_steps : 0.0;
			if (tr->pos.episode == cfg->episodes_per_chunk) {
				r = finish_chunk(tr);
				if (r < 0)
					return r;
			}
			if (hooks && hooks->episode) {
				r = hooks->episode(hooks->ctx, tr, loss, tr->pos.ep_reward);
				if (r != 0)
					return r;
			}
			if (!tr->agent_ready)
				break;
		}
		if (hooks && hooks->chunk) {
			r = hooks->chunk(hooks->ctx, tr);
			if (r != 0)
				return r;
		}
	}
	return 0;
}
