/* libFuzzer target: the strategy-signal CSV reader, then the alignment
 * with a fixed price series. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_memfile.h"
#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int32_t dates[] = { 20200102, 20200103, 20200106, 20200107, 20200108 };
	PriceSeries p = { .n = 5, .date = dates };
	SignalSeries s = { 0 };
	double tau[5];
	char path[64], err[512];
	int fd = fuzz_memfile(data, size, path, sizeof(path));

	if (csv_load_signals(path, &s, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < s.n; i++)
			if (s.direction[i] < -1 || s.direction[i] > 1 ||
			    !(s.confidence[i] >= 1 && s.confidence[i] <= 3) ||
			    (i > 0 && s.date[i] <= s.date[i - 1]))
				abort();
		if (signals_align(&s, &p, tau) < 0)
			abort();
		for (int i = 0; i < 5; i++)
			if (!(fabs(tau[i]) <= 3))
				abort();
		signal_series_free(&s);
	}
	close(fd);
	return 0;
}
