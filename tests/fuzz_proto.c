/* libFuzzer target for the report-protocol decoder (clang only; see
 * tests/meson.build). The first input byte picks how the rest is cut into
 * feed() calls, so split handling is fuzzed too. Every decoded message
 * must re-encode and decode to the same message. */
#include "common/proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* With FUZZ_WRITE_SEEDS=DIR: one encoded frame of each message type into
 * DIR (behind the split byte), then exit. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (!dir)
		return 0;
	for (int t = MSG_HELLO; t <= MSG_ERROR; t++) {
		Msg m;
		uint8_t buf[4096];
		char path[4096];
		FILE *f;
		int n;

		memset(&m, 0, sizeof(m));
		m.type = t;
		if (t == MSG_HELLO) {
			m.u.hello.pid = 42;
			strcpy(m.u.hello.ticker, "AAPL");
			strcpy(m.u.hello.backend, "cpu");
			m.u.hello.skipped_rows = 3;
		} else if (t == MSG_PROGRESS) {
			m.u.progress.episode = 3;
			m.u.progress.loss = 0.5;
		} else if (t == MSG_CHECKPOINT) {
			strcpy(m.u.checkpoint.path, "out/AAPL.ckpt");
		} else if (t == MSG_RESULT) {
			strcpy(m.u.result.model_path, "out/AAPL.model");
			m.u.result.sharpe = 1.25;
		} else if (t == MSG_ERROR) {
			m.u.error.code = 12;
			strcpy(m.u.error.message, "bad input");
		}
		n = proto_encode(&m, buf + 1, sizeof(buf) - 1);
		if (n <= 0)
			abort();
		buf[0] = (uint8_t)(t * 7);
		snprintf(path, sizeof(path), "%s/type%d", dir, t);
		f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, (size_t)n + 1, f) != (size_t)n + 1)
			abort();
		fclose(f);
	}
	exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtoDecoder *dec;
	size_t step, pos = 1;
	char err[256];

	if (size < 1)
		return 0;
	step = 1 + data[0] % 64;
	dec = proto_decoder_new();
	if (!dec)
		return 0;
	while (pos < size) {
		size_t n = size - pos < step ? size - pos : step;
		if (proto_decoder_feed(dec, data + pos, n) < 0)
			break;
		pos += n;
		for (;;) {
			Msg m, again;
			uint8_t buf[4096];
			int r = proto_decoder_next(dec, &m, err, sizeof err), rn;
			ProtoDecoder *d2;
			if (r != 1)
				break;
			rn = proto_encode(&m, buf, sizeof buf);
			if (rn <= 0)
				abort();
			d2 = proto_decoder_new();
			if (!d2)
				break;
			if (proto_decoder_feed(d2, buf, (size_t)rn) != 0 ||
			    proto_decoder_next(d2, &again, err, sizeof err) != 1 ||
			    memcmp(&m, &again, sizeof m) != 0)
				abort();
			proto_decoder_free(d2);
		}
	}
	proto_decoder_free(dec);
	return 0;
}
