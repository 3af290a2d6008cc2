/* run.model = ddqn: the Double-DQN chunk agents of train.h behind the
 * model-kind table of kind.h. */
#include "kind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"
#include "train.h"

typedef struct DdqnJob {
	Trainer tr;
	const KindHooks *hooks;
} DdqnJob;

/* Chunk agents per wave (run.chunks_at_once; 0 = auto). On a GPU several
 * keep the device busy, on the CPU they would only share one core. Each
 * agent holds its own replay buffer, networks and Adam state, so auto
 * keeps a wave within half of budget.rss (and of budget.vram on a GPU):
 * the halving rule shrinks batches, not waves. The model does not depend
 * on the wave size. */
static int auto_wave(const Config *cfg, size_t n_params, int use_gpu)
{
	double agent = (double)cfg->buffer_size * (2 * ENV_STATE_DIM + 3) * sizeof(float) +
		       (double)n_params * sizeof(float) * 6 +
		       (double)cfg->batch_size * 4096 * sizeof(float);
	int k;

	if (cfg->chunks_at_once > 0)
		return cfg->chunks_at_once;
	if (!use_gpu)
		return 1;
	k = 8;
	if (cfg->budget_rss > 0 && 0.5 * (double)cfg->budget_rss / agent < k)
		k = (int)(0.5 * (double)cfg->budget_rss / agent);
	if (cfg->budget_vram > 0 && 0.5 * (double)cfg->budget_vram / agent < k)
		k = (int)(0.5 * (double)cfg->budget_vram / agent);
	return k < 1 ? 1 : k;
}

static int episodes(const Config *cfg)
{
	return cfg->episodes_per_chunk;
}

static int init(void **ret, const Config *cfg, const TrainData *d, int use_gpu, char *err,
		size_t errlen)
{
	DdqnJob *j = calloc(1, sizeof(*j));

	(void)err;
	(void)errlen;
	*ret = NULL;
	if (!j)
		return -ENOMEM;
	if (trainer_init(&j->tr, cfg, d) < 0) {
		trainer_free(&j->tr);
		free(j);
		return -ENOMEM;
	}
	j->tr.use_gpu = use_gpu;
	j->tr.wave = auto_wave(cfg, j->tr.n_params, use_gpu);
	*ret = j;
	return 0;
}

static void job_free(void *job)
{
	DdqnJob *j = job;

	if (!j)
		return;
	trainer_free(&j->tr);
	free(j);
}

static int unpack(void *job, const char *ticker, const char *path, char *err, size_t errlen)
{
	return trainer_read_checkpoint(&((DdqnJob *)job)->tr, ticker, path, err, errlen);
}

static int resume(void *job)
{
	return trainer_attach_gpu(&((DdqnJob *)job)->tr);
}

static int hook_step(void *ctx, Trainer *tr)
{
	const KindHooks *h = ((DdqnJob *)ctx)->hooks;

	(void)tr;
	return h->step(h->ctx);
}

static int hook_episode(void *ctx, Trainer *tr)
{
	const KindHooks *h = ((DdqnJob *)ctx)->hooks;
	const Config *cfg = tr->cfg;
	KindProgress p;

	p.finished = tr->pos.n_active == 0;
	p.chunk = p.finished ? tr->pos.chunk - tr->last_n : tr->pos.chunk;
	p.episode = p.finished ? cfg->episodes_per_chunk : tr->pos.episode;
	p.step = p.finished ? 0 : tr->run[0].agent.grad_steps;
	p.done = tr->pos.done_episodes;
	p.before = p.done - tr->last_n;
	p.loss = tr->last_loss;
	p.epsilon = tr->last_epsilon;
	p.reward = tr->last_reward;
	return h->episode(h->ctx, &p);
}

static int run(void *job, const KindHooks *hooks)
{
	DdqnJob *j = job;
	TrainHooks th;

	j->hooks = hooks;
	memset(&th, 0, sizeof(th));
	th.ctx = j;
	th.step = hook_step;
	th.episode = hook_episode;
	return trainer_run(&j->tr, &th);
}

static int sync(void *job)
{
	return trainer_sync(&((DdqnJob *)job)->tr);
}

static int pack(const void *job, const char *ticker, const char *path, uint32_t *ret_crc,
		char *err, size_t errlen)
{
	return trainer_write_checkpoint(&((const DdqnJob *)job)->tr, ticker, path, ret_crc, err,
					errlen);
}

static int backtest(const void *job, Backtest *ret)
{
	const Trainer *tr = &((const DdqnJob *)job)->tr;

	return backtest_run(tr->cfg, tr->data, tr->chunk_params, tr->sizes, tr->n_layers, ret);
}

static int write_model(const void *job, const char *ticker, const Backtest *bt,
		       const char *path, uint32_t *ret_crc, char *err, size_t errlen)
{
	return trainer_write_model(&((const DdqnJob *)job)->tr, ticker, bt, path, ret_crc, err,
				   errlen);
}

static void bytes(const void *job, KindMemory *ret)
{
	const Trainer *tr = &((const DdqnJob *)job)->tr;

	memset(ret, 0, sizeof(*ret));
	ret->weights = (int64_t)(tr->n_params * sizeof(float)) * tr->data->n_chunks;
	for (int i = 0; i < tr->pos.n_active; i++) {
		const Agent *ag = &tr->run[i].agent;

		ret->replay += (int64_t)ag->replay.bytes;
		ret->activations += (int64_t)agent_bytes_activations(ag);
		ret->weights += (int64_t)agent_bytes_weights(ag);
		ret->device += agent_bytes_device(ag);
	}
}

static void position(const void *job, int64_t *chunk, int64_t *episode, int64_t *done)
{
	const TrainPos *pos = &((const DdqnJob *)job)->tr.pos;

	*chunk = pos->chunk;
	*episode = pos->episode;
	*done = pos->done_episodes;
}

const ModelKind kind_ddqn = {
	.name = "ddqn",
	.checkpoint_any_step = 1,
	.episodes_per_chunk = episodes,
	.init = init,
	.free = job_free,
	.unpack = unpack,
	.resume = resume,
	.run = run,
	.sync = sync,
	.pack = pack,
	.backtest = backtest,
	.write_model = write_model,
	.bytes = bytes,
	.position = position,
	.gpu_error = gpu_last_error,
};

const ModelKind *kind_find(const char *name)
{
	if (!strcmp(name, kind_ddqn.name))
		return &kind_ddqn;
	if (!strcmp(name, kind_lstm.name))
		return &kind_lstm;
	return NULL;
}
