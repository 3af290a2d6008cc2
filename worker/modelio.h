/* Model files and checkpoints: msgpack, written atomically, checksummed.
 *
 * Both are one msgpack map whose last entry is "crc32": a uint32 written as
 * 0xce + 4 big-endian bytes, the zlib CRC-32 of every byte of the file
 * before that 0xce tag (so: zlib.crc32(data[:-5]) == the last 4 bytes).
 * Float arrays are msgpack bin of little-endian float32 (the nn.h layout).
 * docs/model-format.md describes every field.
 *
 * Writing: to PATH.tmp, fsync, rename over PATH (a checkpoint first moves
 * the previous good one to PATH.prev), fsync of the folder. A crash at any
 * point leaves either the old file or the new one, never a torn file. */
#ifndef TV_MODELIO_H
#define TV_MODELIO_H

#include <stddef.h>
#include <stdint.h>

#include "backtest.h"
#include "lstm_job.h"
#include "train.h"

#define MODEL_FORMAT "tickervisor-model"
#define CHECKPOINT_FORMAT "tickervisor-checkpoint"
#define MODEL_VERSION 1

/* Writes a checkpoint of the trainer's whole state. ret_crc: the file's
 * checksum. Returns 0 or negative errno (err names the file). */
int modelio_write_checkpoint(const Trainer *tr, const char *ticker, const char *path,
			     uint32_t *ret_crc, char *err, size_t errlen);

/* Restores a trainer (already trainer_init'ed for the same config and data)
 * from a checkpoint. A bad checksum, another format/version/ticker/data or
 * a training configuration that differs (batch_size may differ) is -EINVAL
 * with the reason in err. */
int modelio_read_checkpoint(Trainer *tr, const char *ticker, const char *path,
			    char *err, size_t errlen);

/* Writes the final model file. */
int modelio_write_model(const Trainer *tr, const char *ticker, const Backtest *bt,
			const char *path, uint32_t *ret_crc, char *err, size_t errlen);

/* What --evaluate needs back from a model file. */
typedef struct ModelFile {
	char ticker[64];
	char *config_text;     /* the training configuration (INI) */
	uint32_t fingerprint;
	int n_layers;
	int sizes[NN_MAX_LAYERS + 1];
	int n_chunks;
	float **params;        /* n_chunks networks (LSTM: chunk models, lstm_job.h layout) */
	Metrics metrics;
	char model_kind[8];    /* "ddqn" or "lstm" */
	int lstm_input, lstm_hidden, lstm_layers, lstm_window;   /* model_kind "lstm" */
} ModelFile;

int modelio_read_model(ModelFile *ret, const char *path, char *err, size_t errlen);
void model_file_free(ModelFile *m);

/* The configuration text stored in models and checkpoints: config_write's
 * output with only the model-shaping keys (config.h's key table), plus
 * batch_size when with_batch (a checkpoint leaves it out: a resume may use
 * a halved batch). malloc'd. */
char *modelio_config_text(const Config *cfg, int with_batch);

/* model = lstm (lstm_job.h): a checkpoint of the whole job (position,
 * generator, the current chunk's parameters, best parameters and Adam
 * state, finished chunk models) and the model file (model_kind "lstm",
 * shape map "lstm" instead of "layers"; docs/model-format.md). Same
 * atomic writing, checksum and refusals as the DDQN functions above;
 * modelio_read_model reads both kinds. The reader wants a job
 * lstm_job_init'ed for the same configuration and data. */
int modelio_write_lstm_checkpoint(const LstmJob *j, const char *ticker, const char *path,
				  uint32_t *ret_crc, char *err, size_t errlen);
int modelio_read_lstm_checkpoint(LstmJob *j, const char *ticker, const char *path,
				 char *err, size_t errlen);
int modelio_write_lstm_model(const LstmJob *j, const char *ticker, const Backtest *bt,
			     const char *path, uint32_t *ret_crc, char *err, size_t errlen);

#endif
