/* run.model = lstm: the LSTM forecasters of lstm_job.h behind the
 * model-kind table of kind.h. Epochs count as episodes. */
#include "kind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_lstm.h"
#include "lstm_job.h"

typedef struct LstmKindJob {
	LstmJob lj;
	const KindHooks *hooks;
} LstmKindJob;

static int episodes(const Config *cfg)
{
	return cfg->lstm_epochs;
}

static int init(void **ret, const Config *cfg, const TrainData *d, int use_gpu, char *err,
		size_t errlen)
{
	LstmKindJob *j = calloc(1, sizeof(*j));
	int r;

	*ret = NULL;
	if (!j)
		return -ENOMEM;
	r = lstm_job_init(&j->lj, cfg, d, err, errlen);
	if (r < 0) {
		lstm_job_free(&j->lj);
		free(j);
		return r;
	}
	j->lj.use_gpu = use_gpu;
	*ret = j;
	return 0;
}

static void job_free(void *job)
{
	LstmKindJob *j = job;

	if (!j)
		return;
	lstm_job_free(&j->lj);
	free(j);
}

static int unpack(void *job, const char *ticker, const char *path, char *err, size_t errlen)
{
	return lstm_job_read_checkpoint(&((LstmKindJob *)job)->lj, ticker, path, err, errlen);
}

static int resume(void *job)
{
	return lstm_job_attach_gpu(&((LstmKindJob *)job)->lj);
}

static int hook_step(void *ctx, LstmJob *lj)
{
	const KindHooks *h = ((LstmKindJob *)ctx)->hooks;

	(void)lj;
	return h->step(h->ctx);
}

static int hook_epoch(void *ctx, LstmJob *lj, double train_loss, double val_loss)
{
	const KindHooks *h = ((LstmKindJob *)ctx)->hooks;
	KindProgress p;

	p.finished = !lj->net_ready;
	p.chunk = p.finished ? lj->pos.chunk - 1 : lj->pos.chunk;
	p.episode = p.finished ? lj->cfg->lstm_epochs : lj->pos.epoch;
	p.step = 0;
	p.done = lj->pos.done_episodes;
	/* An early stop jumps done to the chunk's end; faults and the
	 * checkpoint cadence count it as one epoch. */
	p.before = p.done - 1;
	p.loss = train_loss;
	p.epsilon = 0;
	/* The reward slot carries the validation loss (lower is better). */
	p.reward = val_loss;
	return h->episode(h->ctx, &p);
}

static int run(void *job, const KindHooks *hooks)
{
	LstmKindJob *j = job;
	LstmHooks lh;

	j->hooks = hooks;
	memset(&lh, 0, sizeof(lh));
	lh.ctx = j;
	lh.step = hook_step;
	lh.epoch = hook_epoch;
	return lstm_job_run(&j->lj, &lh);
}

static int sync(void *job)
{
	return lstm_job_sync(&((LstmKindJob *)job)->lj);
}

static int pack(const void *job, const char *ticker, const char *path, uint32_t *ret_crc,
		char *err, size_t errlen)
{
	return lstm_job_write_checkpoint(&((const LstmKindJob *)job)->lj, ticker, path,
					     ret_crc, err, errlen);
}

static int backtest(const void *job, Backtest *ret)
{
	const LstmJob *lj = &((const LstmKindJob *)job)->lj;

	return lstm_backtest_run(lj->cfg, lj->data, lj->chunk_models, ret);
}

static int write_model(const void *job, const char *ticker, const Backtest *bt,
		       const char *path, uint32_t *ret_crc, char *err, size_t errlen)
{
	return lstm_job_write_model(&((const LstmKindJob *)job)->lj, ticker, bt, path,
					ret_crc, err, errlen);
}

static void bytes(const void *job, KindMemory *ret)
{
	memset(ret, 0, sizeof(*ret));
	lstm_job_bytes(&((const LstmKindJob *)job)->lj, &ret->activations, &ret->weights,
		       &ret->device);
}

static void position(const void *job, int64_t *chunk, int64_t *episode, int64_t *done)
{
	const LstmPos *pos = &((const LstmKindJob *)job)->lj.pos;

	*chunk = pos->chunk;
	*episode = pos->epoch;
	*done = pos->done_episodes;
}

const ModelKind kind_lstm = {
	.name = "lstm",
	.checkpoint_any_step = 0,
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
	.gpu_error = gpu_lstm_last_error,
};
