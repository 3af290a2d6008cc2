/* The training job of one ticker (WORKLOAD.md): chunks of the training
 * period, one Double-DQN agent per chunk, trained episode by episode, with
 * everything needed to stop at any step boundary and continue exactly.
 *
 * Determinism: each chunk has its own generator seeded from (seed, chunk),
 * so a chunk's result does not depend on the others (they can train in
 * parallel later) and an interrupted run resumed from a checkpoint with the
 * same batch size gives the same bytes as an uninterrupted one. */
#ifndef TV_TRAIN_H
#define TV_TRAIN_H

#include <stdint.h>

#include "agent.h"
#include "common/config.h"
#include "common/rng.h"
#include "env.h"

typedef struct TrainData {
	int32_t n_rows;         /* usable days (after the indicator warm-up) */
	int32_t train_rows;     /* days before the test period */
	int32_t test_start;     /* first out-of-sample day (== train_rows) */
	int32_t n_chunks;
	int32_t chunk_length;
	float *feat;            /* n_rows x IND_FEATURES */
	double *close;          /* n_rows closes, aligned with feat */
	int32_t *date;          /* n_rows dates, yyyymmdd */
	uint32_t fingerprint;   /* CRC-32 of feat, close and date: the data a checkpoint belongs to */
} TrainData;

/* Position and per-episode accumulators: plain data, stored as is. */
typedef struct TrainPos {
	int32_t chunk;          /* chunk being trained (n_chunks when all are done) */
	int32_t episode;        /* episodes finished in this chunk */
	int32_t in_episode;     /* 1 when env holds an episode in progress */
	int32_t pad;
	int64_t done_episodes;  /* over the whole ticker */
	int64_t ep_steps;       /* gradient steps in the current episode */
	double ep_loss;         /* sum of losses in the current episode */
	double ep_reward;       /* sum of rewards in the current episode */
} TrainPos;

typedef struct Trainer {
	const Config *cfg;
	EnvParams envp;
	const TrainData *data;
	TrainPos pos;
	EnvState env;
	Rng rng;                /* the current chunk's generator */
	Agent agent;            /* the current chunk's agent (valid when pos.chunk < n_chunks) */
	int agent_ready;
	int use_gpu;              /* train each chunk's agent on the CUDA backend */
	double last_epsilon;     /* epsilon after the last finished episode (for reports) */
	float **chunk_params;   /* n_chunks finished online networks (NULL until done) */
	size_t n_params;
	int sizes[NN_MAX_LAYERS + 1];
	int n_layers;
} Trainer;

/* Cuts the series into train/test and chunks. Errors (-EINVAL, message
 * naming the data file and the config keys) when there are fewer rows than
 * one chunk plus the test period. Takes ownership of feat/close/date. */
int train_data_init(TrainData *d, const Config *cfg, const char *data_path,
		    float *feat, double *close, int32_t *date, int32_t n_rows,
		    char *err, size_t errlen);
void train_data_free(TrainData *d);

int trainer_init(Trainer *tr, const Config *cfg, const TrainData *data);
void trainer_free(Trainer *tr);

/* Sets up the agent of pos.chunk (fresh weights from the chunk's seed). */
int trainer_start_chunk(Trainer *tr);

/* Moves the current agent (after a resume) to the GPU when use_gpu. */
int trainer_attach_gpu(Trainer *tr);

/* Brings device state back to the host (networks, optimiser, the losses
 * summed on the device into pos.ep_loss) before a checkpoint. No-op on
 * the CPU. */
int trainer_sync(Trainer *tr);

/* Seed of chunk c's generator. */
uint64_t train_chunk_seed(uint64_t seed, int chunk);

/* Callbacks of the training loop (the worker's main module reports and
 * writes checkpoints through these). Each returns 0 to go on, a positive
 * value to stop training cleanly (already checkpointed), or negative errno. */
typedef struct TrainHooks {
	void *ctx;
	/* After every environment step: cheap checks (signals, heartbeat). */
	int (*step)(void *ctx, Trainer *tr);
	/* After every finished episode (pos already advanced). */
	int (*episode)(void *ctx, Trainer *tr, double loss, double reward);
	/* After a finished chunk (its model stored in chunk_params). */
	int (*chunk)(void *ctx, Trainer *tr);
} TrainHooks;

/* Trains from the current position to the end. Returns 0 when all chunks
 * are trained, the hook's positive value when a hook stopped it, or a
 * negative errno (-ENOMEM: out of memory). */
int trainer_run(Trainer *tr, const TrainHooks *hooks);

#endif
