/* The training job of one ticker (docs/training-job.md): chunks of the training
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
#include "backtest.h"
#include "codec.h"
#include "common/config.h"
#include "common/rng.h"
#include "env.h"
#include "mlp.h"
#include "traindata.h"

/* Chunks train in waves of up to `wave` chunks at once, in lockstep (the
 * same episode and day in each): on the GPU each chunk's steps run on its
 * own stream, so a wave keeps the device busy; on the CPU a wave of 1 is the
 * plain sequential loop. Chunks never share state, so the result does not
 * depend on the wave size. */
#define TRAIN_MAX_WAVE 16

/* Where the current wave stands: plain data, stored as is. */
typedef struct TrainPos {
	int32_t chunk;          /* first chunk of the current wave (n_chunks when all are done) */
	int32_t n_active;       /* chunks in the current wave (0 between waves) */
	int32_t episode;        /* episodes finished by every chunk of the wave */
	int32_t in_episode;     /* 1 when the wave's environments hold an episode in progress */
	int64_t done_episodes;  /* chunk-episodes finished over the whole ticker */
} TrainPos;

/* One chunk of the current wave. */
typedef struct ChunkRun {
	int32_t chunk;
	EnvState env;
	Rng rng;                /* the chunk's own generator */
	Agent agent;
	int64_t ep_steps;       /* gradient steps in the current episode */
	double ep_loss;         /* sum of losses in the current episode */
	double ep_reward;       /* sum of rewards in the current episode */
	double last_epsilon;    /* epsilon after the last finished episode */
} ChunkRun;

typedef struct Trainer {
	const Config *cfg;
	EnvParams envp;
	const TrainData *data;
	TrainPos pos;
	ChunkRun run[TRAIN_MAX_WAVE];   /* run[0..pos.n_active) */
	int wave;                       /* chunks per wave for new waves */
	int use_gpu;                    /* train the agents on the CUDA backend */
	float **chunk_params;   /* n_chunks finished online networks (NULL until done) */
	size_t n_params;
	int sizes[MLP_MAX_LAYERS + 1];
	int n_layers;
	double last_loss;       /* mean loss over the wave's last episode */
	double last_reward;     /* mean total reward over the wave's last episode */
	double last_epsilon;
	int last_n;             /* chunks in the wave of the last finished episode */
} Trainer;

int trainer_init(Trainer *tr, const Config *cfg, const TrainData *data);
void trainer_free(Trainer *tr);

/* Starts the next wave at pos.chunk: fresh agents, weights from each
 * chunk's seed. */
int trainer_start_wave(Trainer *tr);

/* Moves the wave's agents (after a resume) to the GPU when use_gpu. */
int trainer_attach_gpu(Trainer *tr);

/* Brings device state back to the host (networks, optimiser, the losses
 * summed on the device into each run's ep_loss) before a checkpoint.
 * No-op on the CPU. */
int trainer_sync(Trainer *tr);

/* Callbacks of the training loop (the worker's main module reports and
 * writes checkpoints through these). Each returns 0 to go on, a positive
 * value to stop training cleanly (already checkpointed), or negative errno. */
typedef struct TrainHooks {
	void *ctx;
	/* After every environment step: cheap checks (signals, heartbeat). */
	int (*step)(void *ctx, Trainer *tr);
	/* After every finished episode of the wave (pos already advanced;
	 * pos.n_active == 0 when the wave just finished its last one). */
	int (*episode)(void *ctx, Trainer *tr);
} TrainHooks;

/* Trains from the current position to the end. Returns 0 when all chunks
 * are trained, the hook's positive value when a hook stopped it, or a
 * negative errno (-ENOMEM: out of memory). */
int trainer_run(Trainer *tr, const TrainHooks *hooks);

/* The whole job as TRAINER_PACK_ENTRIES entries of a checkpoint's map
 * (codec.h, docs/model-format.md): layers, batch_size, pos, runs (each
 * chunk of the wave with its environment, generator and agent) and chunks
 * (the finished chunk models). Unpack wants a trainer fresh from
 * trainer_init for the same configuration and data and refuses anything
 * else, naming the field (-EINVAL), or -ENOMEM. */
#define TRAINER_PACK_ENTRIES 5
void trainer_pack(Enc *e, const Trainer *tr);
int trainer_unpack(const Dec *root, Trainer *tr);

/* The "layers" entry (the network's sizes) of checkpoints and model files;
 * unpack reads it into sizes (MLP_MAX_LAYERS + 1) and returns the number
 * of weight layers, or -EINVAL. */
void trainer_pack_shape(Enc *e, const Trainer *tr);
int trainer_unpack_shape(const Dec *root, int *sizes);

/* The job's checkpoint and model file at path (modelio.h: framing,
 * atomic write, checks of ticker, configuration and data). */
int trainer_write_checkpoint(const Trainer *tr, const char *ticker, const char *path,
			     uint32_t *ret_crc, char *err, size_t errlen);
int trainer_read_checkpoint(Trainer *tr, const char *ticker, const char *path, char *err,
			    size_t errlen);
int trainer_write_model(const Trainer *tr, const char *ticker, const Backtest *bt,
			const char *path, uint32_t *ret_crc, char *err, size_t errlen);

#endif
