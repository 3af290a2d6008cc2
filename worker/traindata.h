/* The dataset of one ticker: the usable days (after the indicator
 * warm-up) cut into a training period of whole chunks and the held-out
 * test period (docs/training-job.md). Both model kinds and the backtest
 * read it; nothing here depends on how a chunk is trained. */
#ifndef TV_TRAINDATA_H
#define TV_TRAINDATA_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "common/config.h"

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

/* Cuts the series into train/test and chunks. Errors (-EINVAL, message
 * naming the data file and the config keys) when there are fewer rows than
 * one chunk plus the test period. Takes ownership of feat/close/date. */
int train_data_init(TrainData *d, const Config *cfg, const char *data_path,
		    float *feat, double *close, int32_t *date, int32_t n_rows,
		    char *err, size_t errlen);
void train_data_free(TrainData *d);

/* A model file's description of the data (codec.h): TRAIN_DATA_PACK_ENTRIES
 * entries of the enclosing map, "period" (dates, rows) and "chunks" (each
 * chunk's first and last date and row). */
#define TRAIN_DATA_PACK_ENTRIES 2
void train_data_pack(Enc *e, const TrainData *d);

/* The finished chunk models of a checkpoint, as one array value of
 * n_chunks entries: a float array of n_floats for each chunk before
 * `done`, nil for the others. Unpack allocates models[c] for those and
 * refuses any other layout, naming the field: -EINVAL, or -ENOMEM. */
void train_data_pack_models(Enc *e, const TrainData *d, float *const *models, size_t n_floats);
int train_data_unpack_models(const Dec *v, const TrainData *d, int done, float **models,
			     size_t n_floats);

/* Seed of chunk c's generator. */
uint64_t train_chunk_seed(uint64_t seed, int chunk);

#endif
