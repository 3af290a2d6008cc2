/* libFuzzer target: the model-file reader of --evaluate (both kinds). The
 * input's CRC trailer is recomputed first (last 5 bytes), so the fuzzer
 * gets past the checksum and reaches the decoder and the field checks. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_memfile.h"
#include "common/checksum.h"
#include "modelio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[1024];
	uint8_t *buf;
	ModelFile m;
	int fd;

	if (size < 16 || size > (1u << 22))
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	{
		uint32_t crc = checksum_crc32(0, buf, size - 5);

		buf[size - 5] = 0xce;
		buf[size - 4] = (uint8_t)(crc >> 24);
		buf[size - 3] = (uint8_t)(crc >> 16);
		buf[size - 2] = (uint8_t)(crc >> 8);
		buf[size - 1] = (uint8_t)crc;
	}
	fd = fuzz_memfile(buf, size, path, sizeof(path));
	free(buf);
	if (modelio_read_model(&m, path, err, sizeof(err)) == 0) {
		if (m.n_chunks < 1 || !m.config_text || !isfinite(m.metrics.sharpe))
			abort();
		model_file_free(&m);
	}
	close(fd);
	return 0;
}
