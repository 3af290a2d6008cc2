/* The training job of model = lstm (docs/training-job.md, "The LSTM kind"):
 * the same chunks as the DDQN job, one LSTM forecaster (lstm.h) per chunk,
 * then the same ReWTS ensemble backtest with position = sign of the
 * weighted forecast.
 *
 * Inputs and target. Each day contributes LSTM_JOB_INPUTS values: the 9
 * market features of indicators.h and the day's simple return
 * close(d)/close(d-1) - 1 (0 on the first row). They are standardised
 * per chunk with the mean and standard deviation over the chunk's days
 * (a deviation under 1e-6 counts as 1); these 2 x LSTM_JOB_INPUTS numbers
 * are part of the chunk model. A window ending on day d holds days
 * d-W+1..d (W = rewts.lstm_window); its target at every step is the next
 * day's return times LSTM_TARGET_SCALE (percent: the loss is then of
 * order 1). The forecast of r(d+1) is the last step's output / 100.
 *
 * Windows of chunk [s, e]: those ending on d = s+W-1 .. e-1 (the target
 * stays in the chunk), N = chunk_length - W of them; the last
 * max(1, N/4) are the validation set, the rest are trained on.
 *
 * Training per chunk: the chunk's generator (train_chunk_seed) draws the
 * initial weights (lstm_init), then each epoch a permutation of the
 * training windows, cut into minibatches of rewts.batch_size (the last one
 * smaller); MSE at every step, Adam (adam.h, rewts.lstm_learning_rate, betas
 * 0.9/0.999, eps 1e-8, no clipping). After each epoch the validation MSE;
 * the best parameters so far are kept. Early stopping: after
 * rewts.lstm_patience epochs in a row without a lower validation loss
 * (0 = never), or after rewts.lstm_epochs epochs; the chunk model is the
 * best parameters. Progress counts epochs as episodes: total =
 * n_chunks x lstm_epochs, and an early stop jumps done_episodes to the
 * chunk's end.
 *
 * Chunk model: lstm_param_count(LSTM_JOB_INPUTS, H, layers) floats (the
 * lstm.h layout), then the inputs' means, then their deviations.
 *
 * Determinism: on the CPU with single-threaded OpenBLAS, a run stopped at
 * an epoch boundary (a checkpoint) and resumed gives the same bytes. */
#ifndef TV_LSTM_JOB_H
#define TV_LSTM_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "backtest.h"
#include "codec.h"
#include "common/config.h"
#include "common/rng.h"
#include "indicators.h"
#include "lstm.h"
#include "adam.h"
#include "traindata.h"

#define LSTM_JOB_INPUTS (IND_FEATURES + 1)
#define LSTM_TARGET_SCALE 100.0

typedef struct GpuLstm GpuLstm;

/* Where the job stands: plain data, stored as is in a checkpoint. */
typedef struct LstmPos {
	int32_t chunk;          /* chunk being trained (n_chunks when all are done) */
	int32_t epoch;          /* epochs finished in this chunk */
	int64_t done_episodes;  /* epochs over the ticker, early stops counted as full */
	int32_t bad_epochs;     /* epochs in a row without a better validation loss */
	int32_t pad;
	double best_val;        /* lowest validation loss of this chunk (+inf at start) */
} LstmPos;

typedef struct LstmJob {
	const Config *cfg;
	const TrainData *data;
	int input, hidden, layers, window;
	size_t n_params;        /* of one network */
	size_t n_model;         /* n_params + 2 * input: a stored chunk model */
	int n_windows, n_train, n_val;
	LstmPos pos;
	Rng rng;                /* the current chunk's generator */
	int net_ready;          /* the current chunk's state below is valid */
	Lstm net;
	Adam opt;
	float *best;            /* n_params: best parameters of this chunk */
	LstmWork work;          /* for batch_size windows */
	float *norm;            /* 2 * input: this chunk's means, then deviations */
	float *cx;              /* chunk_length x input: standardised inputs */
	float *cy;              /* chunk_length: scaled next-day returns */
	float *xb, *yb;         /* one minibatch */
	int32_t *perm;          /* n_train */
	int use_gpu;
	GpuLstm *gpu;
	double last_train_loss, last_val_loss;
	float **chunk_models;   /* n_chunks finished models (n_model floats; NULL until done) */
} LstmJob;

/* Checks the shape against the data (a chunk must hold at least 4
 * windows: chunk_length >= lstm_window + 4; -EINVAL with a message naming
 * the keys) and allocates the chunk model table. */
int lstm_job_init(LstmJob *j, const Config *cfg, const TrainData *d, char *err, size_t errlen);
void lstm_job_free(LstmJob *j);

/* Allocates the current chunk's network, optimiser and scratch and
 * computes its inputs. fresh != 0: seeds the chunk's generator and draws
 * the initial weights, resets pos.epoch/bad_epochs/best_val; fresh == 0
 * (a resume) leaves pos and rng alone and the caller overwrites the
 * parameters, Adam state and best parameters. Then attaches the GPU when
 * use_gpu. */
int lstm_job_start_chunk(LstmJob *j, int fresh);

/* Moves the current network and Adam state to the device (after a
 * resume). No-op without use_gpu or when already there. */
int lstm_job_attach_gpu(LstmJob *j);

/* Brings the device's parameters and Adam state back into net/opt before
 * a checkpoint. No-op on the CPU. */
int lstm_job_sync(LstmJob *j);

/* Memory by category: activations (scratch and minibatch), weights
 * (networks, gradients, Adam, best, finished chunk models), device bytes. */
void lstm_job_bytes(const LstmJob *j, int64_t *ret_activations, int64_t *ret_weights,
		    int64_t *ret_device);

/* Callbacks: 0 goes on, a positive value stops cleanly (already
 * checkpointed), negative errno stops with an error. */
typedef struct LstmHooks {
	void *ctx;
	/* After every minibatch: cheap checks (heartbeat). */
	int (*step)(void *ctx, LstmJob *j);
	/* After every epoch (pos advanced; net_ready == 0 when that epoch
	 * finished the chunk, whose model is then in chunk_models). A
	 * checkpoint written here continues exactly. */
	int (*epoch)(void *ctx, LstmJob *j, double train_loss, double val_loss);
} LstmHooks;

/* Trains from the current position to the end: 0 when all chunks are
 * trained, a hook's positive value, or negative errno. */
int lstm_job_run(LstmJob *j, const LstmHooks *hooks);

/* The backtest of backtest.h with LSTM chunk models (n_model floats each,
 * layout above): the forecast f_m(d) of r(d+1) on the lookback days feeds
 * the same QP (P w ~ y, y = r(d+1)) refitted every fit_weights_every test
 * days; the position is 1 when sum_m w_m f_m(t) > 0, else 0, traded in
 * the same environment (LONG to go long, SHORT to go flat, HOLD when the
 * position already matches). Returns 0 or -ENOMEM. */
/* The whole job as LSTM_JOB_PACK_ENTRIES entries of a checkpoint's map
 * (codec.h, docs/model-format.md): model_kind, lstm (the shape),
 * batch_size, pos, rng, net (the current chunk's parameters, best
 * parameters and Adam state; nil between chunks) and chunks (finished
 * chunk models). Unpack wants a job fresh from lstm_job_init for the same
 * configuration and data and refuses anything else, naming the field
 * (-EINVAL), or -ENOMEM. */
#define LSTM_JOB_PACK_ENTRIES 7
void lstm_job_pack(Enc *e, const LstmJob *j);
int lstm_job_unpack(const Dec *root, LstmJob *j);

/* The "lstm" shape entry of checkpoints and model files. unpack checks it
 * (inputs LSTM_JOB_INPUTS, sizes in range) and gives the floats of one
 * chunk model in *ret_model_floats. */
typedef struct LstmShape {
	int input, hidden, layers, window;
} LstmShape;
void lstm_job_pack_shape(Enc *e, const LstmJob *j);
int lstm_job_unpack_shape(const Dec *root, LstmShape *ret, size_t *ret_model_floats);

/* The job's checkpoint and model file at path (modelio.h). */
int lstm_job_write_checkpoint(const LstmJob *j, const char *ticker, const char *path,
			      uint32_t *ret_crc, char *err, size_t errlen);
int lstm_job_read_checkpoint(LstmJob *j, const char *ticker, const char *path, char *err,
			     size_t errlen);
int lstm_job_write_model(const LstmJob *j, const char *ticker, const Backtest *bt,
			 const char *path, uint32_t *ret_crc, char *err, size_t errlen);

int lstm_backtest_run(const Config *cfg, const TrainData *d, float *const *models,
		      Backtest *ret);

#endif
