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

void train_data_pack(Enc *e, const TrainData *d)
{
	enc_key(e, "period");
	enc_map(e, 4);
	enc_key(e, "first_date"); enc_int(e, d->date[0]);
	enc_key(e, "test_start_date"); enc_int(e, d->date[d->test_start]);
	enc_key(e, "last_date"); enc_int(e, d->date[d->n_rows - 1]);
	enc_key(e, "rows"); enc_int(e, d->n_rows);
	enc_key(e, "chunks");
	enc_array(e, (size_t)d->n_chunks);
	for (int ci = 0; ci < d->n_chunks; ci++) {
		int s = ci * d->chunk_length, last = s + d->chunk_length - 1;

		enc_map(e, 4);
		enc_key(e, "start_date"); enc_int(e, d->date[s]);
		enc_key(e, "end_date"); enc_int(e, d->date[last]);
		enc_key(e, "start_row"); enc_int(e, s);
		enc_key(e, "end_row"); enc_int(e, last);
	}
}

void train_data_pack_models(Enc *e, const TrainData *d, float *const *models, size_t n_floats)
{
	enc_array(e, (size_t)d->n_chunks);
	for (int c = 0; c < d->n_chunks; c++) {
		if (models[c])
			enc_floats(e, models[c], n_floats);
		else
			enc_nil(e);
	}
}

int train_data_unpack_models(const Dec *v, const TrainData *d, int done, float **models,
			     size_t n_floats)
{
	long n = dec_as_array(v);

	if (n < 0)
		return -EINVAL;
	if (n != d->n_chunks)
		return dec_invalid(v, NULL, "does not have one entry per chunk");
	for (int c = 0; c < done; c++) {
		Dec m = dec_at(v, (size_t)c);

		models[c] = malloc(n_floats * sizeof(float));
		if (!models[c])
			return -ENOMEM;
		if (dec_as_floats(&m, models[c], n_floats) < 0)
			return -EINVAL;
	}
	for (int c = done; c < d->n_chunks; c++) {
		Dec m = dec_at(v, (size_t)c);

		if (!dec_is_nil(&m))
			return dec_invalid(v, NULL, "holds a model of a chunk not yet trained");
	}
	return 0;
}
