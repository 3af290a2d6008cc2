#include "traindata.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checksum.h"
#include "indicators.h"
#include "qp.h"

int train_data_init(TrainData *d, const Config *cfg, const char *data_path,
		    float *feat, double *close, int32_t *date, int32_t n_rows,
		    char *err, size_t errlen)
{
	int32_t test_rows = (int32_t)llround((double)n_rows * cfg->test_fraction);
	uint32_t crc = 0;

	memset(d, 0, sizeof(*d));
	d->feat = feat;
	d->close = close;
	d->date = date;
	d->n_rows = n_rows;
	d->train_rows = n_rows - test_rows;
	d->test_start = d->train_rows;
	d->chunk_length = cfg->chunk_length;
	d->n_chunks = d->train_rows > 0 ? d->train_rows / cfg->chunk_length : 0;
	if (test_rows < 2 || d->n_chunks < 1) {
		snprintf(err, errlen,
			 "%s: %d usable days (after the %d-day indicator warm-up) leave %d "
			 "training days and %d test days (backtest.test_fraction=%g); "
			 "need at least one chunk (rewts.chunk_length=%d) and 2 test days",
			 data_path, n_rows, IND_WARMUP, d->train_rows > 0 ? d->train_rows : 0,
			 test_rows, cfg->test_fraction, cfg->chunk_length);
		return -EINVAL;
	}
	if (d->n_chunks > QP_MAX_M) {
		snprintf(err, errlen,
			 "%s: %d training days make %d chunks of rewts.chunk_length=%d; the "
			 "ensemble holds at most %d chunk models: raise rewts.chunk_length",
			 data_path, d->train_rows, d->n_chunks, cfg->chunk_length, QP_MAX_M);
		return -EINVAL;
	}
	crc = checksum_crc32(crc, feat, (size_t)n_rows * IND_FEATURES * sizeof(float));
	crc = checksum_crc32(crc, close, (size_t)n_rows * sizeof(double));
	crc = checksum_crc32(crc, date, (size_t)n_rows * sizeof(int32_t));
	d->fingerprint = crc;
	return 0;
}

void train_data_free(TrainData *d)
{
	free(d->feat);
	free(d->close);
	free(d->date);
	memset(d, 0, sizeof(*d));
}

uint64_t train_chunk_seed(uint64_t seed, int chunk)
{
	return seed * 0x9e3779b97f4a7c15ULL + (uint64_t)chunk * 0xd1b54a32d192ed03ULL + 1;
}
