/* A small, valid training set for the tests that need trainers without a
 * CSV (test_codec, fuzz_checkpoint): 300 days of random prices around 100
 * and random features (seed 1), and a configuration sized to train in
 * milliseconds: 100-day chunks, hidden 4, replay 64, batch 8, 2 episodes
 * per chunk, an LSTM of 4 x 1 over a 5-day window for 2 epochs. The
 * fuzzer's seed checkpoints are written from it, so a change here changes
 * them (tests/fuzz/corpus/fuzz_checkpoint). Aborts on any failure. */
#ifndef TV_TESTS_TINY_TRAIN_DATA_H
#define TV_TESTS_TINY_TRAIN_DATA_H

#include <stdint.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/rng.h"
#include "indicators.h"
#include "traindata.h"

static inline void tiny_train_data(Config *cfg, TrainData *td, const char *data_path)
{
	static const char *sets[] = {
		"rewts.chunk_length=100", "rewts.hidden=4", "rewts.buffer_size=64",
		"rewts.batch_size=8", "rewts.episodes_per_chunk=2", "rewts.lookback_length=20",
		"rewts.lstm_hidden=4", "rewts.lstm_layers=1", "rewts.lstm_window=5",
		"rewts.lstm_epochs=2",
	};
	enum { N = 300 };
	char err[1024];
	float *feat = malloc((size_t)N * IND_FEATURES * sizeof(float));
	double *close = malloc(N * sizeof(double));
	int32_t *date = malloc(N * sizeof(int32_t));
	Rng rng;

	if (!feat || !close || !date)
		abort();
	config_defaults(cfg);
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (config_set(cfg, sets[i], err, sizeof(err)) < 0)
			abort();
	if (config_validate(cfg, err, sizeof(err)) < 0)
		abort();
	rng_seed(&rng, 1);
	for (int i = 0; i < N; i++) {
		close[i] = 100 + 10 * rng_uniform(&rng);
		date[i] = 20000101 + i;
		for (int k = 0; k < IND_FEATURES; k++)
			feat[(size_t)i * IND_FEATURES + k] = (float)rng_uniform(&rng);
	}
	if (train_data_init(td, cfg, data_path, feat, close, date, N, err, sizeof(err)) < 0)
		abort();
}

#endif
