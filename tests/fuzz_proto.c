/* libFuzzer target for the report-protocol decoder (clang only; see
 * tests/meson.build). The first input byte picks how the rest is cut into
 * feed() calls, so split handling is fuzzed too. Every decoded message
 * must re-encode and decode to the same message. */
#include "common/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
