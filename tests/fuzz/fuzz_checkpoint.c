/* libFuzzer target: the checkpoint readers of both model kinds (what
 * --resume reads), against a fixed small configuration and a fixed
 * synthetic price series, so a seed written for them gets past the
 * header, configuration and data checks into every field. The first byte
 * picks the kind (even: DDQN, odd: LSTM); the CRC trailer of the rest is
 * recomputed. With FUZZ_WRITE_SEEDS=DIR the harness writes one seed of
 * each kind there (a checkpoint after the first episode) and exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_memfile.h"
#include "common/checksum.h"
#include "lstm_job.h"
#include "train.h"
#include "../tiny_train_data.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Config cfg;
static TrainData td;

static int stop_first(void *ctx, Trainer *tr)
{
	(void)ctx;
	(void)tr;
	return 1;
}

static int stop_first_epoch(void *ctx, LstmJob *j, double a, double b)
{
	(void)ctx;
	(void)j;
	(void)a;
	(void)b;
	return 1;
}

static void seed_file(const char *dir, const char *name, int kind, const char *ckpt)
{
	char path[4096];
	FILE *in = fopen(ckpt, "rb"), *out;
	int c;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	out = fopen(path, "wb");
	if (!in || !out)
		abort();
	fputc(kind, out);
	while ((c = fgetc(in)) != EOF)
		fputc(c, out);
	fclose(in);
	fclose(out);
}

static void write_seeds(const char *dir)
{
	char ckpt[4096], err[1024];
	Trainer tr;
	TrainHooks th = { .episode = stop_first };
	LstmJob lj;
	LstmHooks lh = { .epoch = stop_first_epoch };

	snprintf(ckpt, sizeof(ckpt), "%s/tmp.ckpt", dir);
	if (trainer_init(&tr, &cfg, &td) < 0 || trainer_run(&tr, &th) != 1 ||
	    trainer_write_checkpoint(&tr, "FUZZ", ckpt, NULL, err, sizeof(err)) < 0)
		abort();
	trainer_free(&tr);
	seed_file(dir, "ddqn_after_episode_1", 0, ckpt);
	if (lstm_job_init(&lj, &cfg, &td, err, sizeof(err)) < 0 || lstm_job_run(&lj, &lh) != 1 ||
	    lstm_job_write_checkpoint(&lj, "FUZZ", ckpt, NULL, err, sizeof(err)) < 0)
		abort();
	lstm_job_free(&lj);
	seed_file(dir, "lstm_after_epoch_1", 1, ckpt);
	unlink(ckpt);
	snprintf(ckpt, sizeof(ckpt), "%s/tmp.ckpt.prev", dir);
	unlink(ckpt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	tiny_train_data(&cfg, &td, "fuzz.csv");
	if (getenv("FUZZ_WRITE_SEEDS")) {
		write_seeds(getenv("FUZZ_WRITE_SEEDS"));
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[1024];
	uint8_t *buf;
	int fd;

	if (size < 17 || size > (1u << 22))
		return 0;
	buf = malloc(size - 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	{
		size_t n = size - 1;
		uint32_t crc = checksum_crc32(0, buf, n - 5);

		buf[n - 5] = 0xce;
		buf[n - 4] = (uint8_t)(crc >> 24);
		buf[n - 3] = (uint8_t)(crc >> 16);
		buf[n - 2] = (uint8_t)(crc >> 8);
		buf[n - 1] = (uint8_t)crc;
	}
	fd = fuzz_memfile(buf, size - 1, path, sizeof(path));
	free(buf);
	if (data[0] % 2 == 0) {
		Trainer tr;

		if (trainer_init(&tr, &cfg, &td) == 0)
			(void)trainer_read_checkpoint(&tr, "FUZZ", path, err, sizeof(err));
		trainer_free(&tr);
	} else {
		LstmJob lj;

		if (lstm_job_init(&lj, &cfg, &td, err, sizeof(err)) == 0)
			(void)lstm_job_read_checkpoint(&lj, "FUZZ", path, err, sizeof(err));
		lstm_job_free(&lj);
	}
	close(fd);
	return 0;
}
