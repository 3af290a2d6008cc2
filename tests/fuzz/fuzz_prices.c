/* libFuzzer target: the price CSV reader (both close columns). What loads
 * must hold the documented invariants: ascending dates, closes within the
 * bounds, finite or NaN (empty) other fields. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_memfile.h"
#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[512];
	int fd = fuzz_memfile(data, size, path, sizeof(path));

	for (int col = CSV_CLOSE; col <= CSV_ADJ_CLOSE; col++) {
		PriceSeries p = { 0 };

		if (csv_load_prices_column(path, (CsvPriceColumn)col, &p, err, sizeof(err)) < 0)
			continue;
		if (p.n == 0)
			abort();
		for (size_t i = 0; i < p.n; i++) {
			if (!(p.close[i] >= CSV_MIN_PRICE && p.close[i] <= CSV_MAX_PRICE))
				abort();
			if (i > 0 && p.date[i] <= p.date[i - 1])
				abort();
			if (!isnan(p.volume[i]) && !(p.volume[i] >= 0 && p.volume[i] <= CSV_MAX_VOLUME))
				abort();
		}
		price_series_free(&p);
	}
	close(fd);
	return 0;
}
