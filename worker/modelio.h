/* Model files and checkpoints: the framing around what the modules pack
 * (codec.h), written atomically, checksummed.
 *
 * Both are one msgpack map: the header (format, version, ticker, config:
 * the model-shaping keys as INI text, data_fingerprint), then the
 * entries of the body, and last "crc32": a uint32 written as 0xce + 4
 * big-endian bytes, the zlib CRC-32 of every byte of the file before that
 * 0xce tag (so: zlib.crc32(data[:-5]) == the last 4 bytes). Who packs
 * what: a checkpoint's body is the job's own (trainer_pack in train.c,
 * lstm_job_pack in lstm_job.c); a model file's is model_kind, the kind's
 * shape entry, train_data_pack, the networks and backtest_pack.
 * docs/model-format.md describes every field.
 *
 * Writing: to PATH.tmp, fsync, rename over PATH (a checkpoint first moves
 * the previous good one to PATH.prev), fsync of the folder. A crash at any
 * point leaves either the old file or the new one, never a torn file. A
 * body holding a non-finite number is not written (-ERANGE, naming the
 * field).
 *
 * Reading: the CRC, then the codec's bounded decoding, then format,
 * version, ticker, configuration and data fingerprint, then the body's
 * unpack; every refusal is -EINVAL with err naming the file and field. */
#ifndef TV_MODELIO_H
#define TV_MODELIO_H

#include <stddef.h>
#include <stdint.h>

#include "backtest.h"
#include "codec.h"
#include "common/config.h"
#include "mlp.h"
#include "traindata.h"

#define MODEL_FORMAT "tickervisor-model"
#define CHECKPOINT_FORMAT "tickervisor-checkpoint"
#define MODEL_VERSION 1

/* Writes a body's entries into the root map; reads them back (0, -EINVAL
 * with the error recorded in the document, or -ENOMEM). */
typedef void (*ModelioPack)(Enc *e, const void *state);
typedef int (*ModelioUnpack)(const Dec *root, void *state);

/* The file and what it belongs to. */
typedef struct ModelioFile {
	const char *path;
	const char *ticker;
	const Config *cfg;        /* its model-shaping keys are stored and, on reading, compared */
	const TrainData *data;    /* its fingerprint likewise */
} ModelioFile;

/* A checkpoint whose body is `entries` entries written by pack(state).
 * ret_crc: the file's checksum. Returns 0 or negative errno (err names the
 * file). */
int modelio_write_checkpoint(const ModelioFile *file, size_t entries, ModelioPack pack,
			     const void *state, uint32_t *ret_crc, char *err, size_t errlen);

/* Reads a checkpoint into state with unpack. A bad checksum, another
 * format/version/ticker/data or a training configuration that differs
 * (batch_size may differ) is -EINVAL with the reason in err. */
int modelio_read_checkpoint(const ModelioFile *file, ModelioUnpack unpack, void *state,
			    char *err, size_t errlen);

/* What differs between the model files of the two kinds. */
typedef struct ModelioModel {
	const char *kind;         /* model_kind: "ddqn" | "lstm" */
	ModelioPack shape;        /* writes the kind's one shape entry */
	const void *state;
	float *const *nets;       /* n_chunks chunk models */
	size_t net_floats;
} ModelioModel;

/* Writes the final model file. */
int modelio_write_model(const ModelioFile *file, const ModelioModel *model, const Backtest *bt,
			uint32_t *ret_crc, char *err, size_t errlen);

/* What --evaluate needs back from a model file. */
typedef struct ModelFile {
	char ticker[64];
	char *config_text;     /* the training configuration (INI) */
	uint32_t fingerprint;
	int n_layers;
	int sizes[MLP_MAX_LAYERS + 1];
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

#endif
