/* A model kind (run.model): what the worker's pipeline (main.c) needs from
 * the training job of one kind, as a table of functions. The pipeline owns
 * reporting, signals, checkpoint cadence, faults and exit codes; a kind
 * owns its state, its checkpoint and model file, and its backtest.
 * docs/architecture.md describes the pipeline. */
#ifndef TV_KIND_H
#define TV_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "backtest.h"
#include "common/config.h"
#include "traindata.h"

/* Where training stands after a finished episode (DDQN) or epoch (LSTM). */
typedef struct KindProgress {
	int64_t chunk, episode, step;
	int64_t done;            /* episodes over the ticker */
	int64_t before;          /* done before this report */
	int finished;            /* a wave (DDQN) or chunk (LSTM) just finished */
	double loss, epsilon, reward;
} KindProgress;

typedef struct KindHooks {
	void *ctx;
	/* After every environment step or minibatch. */
	int (*step)(void *ctx);
	/* After every episode or epoch: 0 goes on, > 0 stops cleanly
	 * (checkpointed), < 0 stops with an error. */
	int (*episode)(void *ctx, const KindProgress *p);
} KindHooks;

typedef struct KindMemory {
	int64_t replay, activations, weights, device;
} KindMemory;

typedef struct ModelKind {
	const char *name;
	/* 1 when a checkpoint written at any step boundary continues
	 * exactly (DDQN); 0 when only at an episode boundary (LSTM). */
	int checkpoint_any_step;
	int (*episodes_per_chunk)(const Config *cfg);
	/* Allocates the job (*ret); -ENOMEM, or -EINVAL with err. */
	int (*init)(void **ret, const Config *cfg, const TrainData *d, int use_gpu, char *err,
		    size_t errlen);
	void (*free)(void *job);
	/* Reads a checkpoint into a job fresh from init (modelio). */
	int (*unpack)(void *job, const char *ticker, const char *path, char *err, size_t errlen);
	/* After unpack: moves the restored state to the device when on a GPU. */
	int (*resume)(void *job);
	int (*run)(void *job, const KindHooks *hooks);
	/* Brings device state back to the host before a checkpoint. */
	int (*sync)(void *job);
	/* Writes a checkpoint (modelio); ret_crc: its checksum. */
	int (*pack)(const void *job, const char *ticker, const char *path, uint32_t *ret_crc,
		    char *err, size_t errlen);
	int (*backtest)(const void *job, Backtest *ret);
	int (*write_model)(const void *job, const char *ticker, const Backtest *bt,
			   const char *path, uint32_t *ret_crc, char *err, size_t errlen);
	void (*bytes)(const void *job, KindMemory *ret);
	/* The position a checkpoint written now resumes at (chunk, episode
	 * or epoch in it, episodes done over the ticker). */
	void (*position)(const void *job, int64_t *chunk, int64_t *episode, int64_t *done);
	const char *(*gpu_error)(void);
} ModelKind;

extern const ModelKind kind_ddqn;
extern const ModelKind kind_lstm;

/* The kind named by run.model, or NULL. */
const ModelKind *kind_find(const char *name);

#endif
