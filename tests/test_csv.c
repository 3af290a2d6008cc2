/* Tests of worker/csv.c: the sample data and fixtures load with the values
 * the files hold (read back independently with sscanf), every kind of bad
 * input is rejected with a message naming file, line and field, and random
 * garbage, mutations and truncations never crash the loader. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/rng.h"
#include "csv.h"
#include "check.h"

static char tmpdir[256];

static const char *src_path(const char *rel)
{
	static char buf[4096];
	const char *root = getenv("TV_SOURCE_ROOT");

	snprintf(buf, sizeof(buf), "%s/%s", root ? root : ".", rel);
	return buf;
}

/* Writes len bytes to a file in tmpdir and returns its path (static). */
static const char *write_tmp(const char *name, const void *data, size_t len)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(99);
	}
	if (len && fwrite(data, 1, len, f) != len)
		exit(99);
	fclose(f);
	return path;
}

/* The fuzz loops write thousands of files: they reuse one in-memory file
 * (memfd) and load it by its /proc/self/fd path, so disk speed does not
 * matter. */
static const char *write_mem(const void *data, size_t len)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("test_csv", MFD_CLOEXEC);
		if (fd < 0) {
			perror("memfd_create");
			exit(99);
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || (len && pwrite(fd, data, len, 0) != (ssize_t)len)) {
		perror("memfd write");
		exit(99);
	}
	return path;
}

static int32_t ymd(const char *s)
{
	int y, m, d;

	if (sscanf(s, "%d-%d-%d", &y, &m, &d) != 3)
		return -1;
	return y * 10000 + m * 100 + d;
}

/* Checks a loaded series against its file read independently: the number
 * of data lines and the first and last rows' date and close (sscanf). */
static void check_sample(const char *rel, size_t want_rows, int want_volume)
{
	char err[512], line[512], first[512] = "", last[512] = "";
	const char *path = src_path(rel);
	PriceSeries p = {0};
	size_t lines = 0;
	FILE *f = fopen(path, "r");
	double c1, c2;
	char d1[16], d2[16];
	int ret;

	CHECK(f != NULL, "open %s", path);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (lines == 1)
			strcpy(first, line);
		if (line[0] != '\n')
			strcpy(last, line);
		lines++;
	}
	fclose(f);
	/* date,open,high,low,close,volume: close is the fifth field. */
	CHECK(sscanf(first, "%10[0-9-],%*[^,],%*[^,],%*[^,],%lf", d1, &c1) == 2 ||
	      sscanf(first, "%10[0-9-],,,,%lf", d1, &c1) == 2, "parse first %s", first);
	CHECK(sscanf(last, "%10[0-9-],%*[^,],%*[^,],%*[^,],%lf", d2, &c2) == 2 ||
	      sscanf(last, "%10[0-9-],,,,%lf", d2, &c2) == 2, "parse last %s", last);

	ret = csv_load_prices(path, &p, err, sizeof(err));
	CHECK(ret == 0, "%s: %d %s", rel, ret, err);
	if (ret != 0)
		return;
	CHECK(p.n == lines - 1 && p.n == want_rows, "%s: %zu rows, file has %zu lines", rel, p.n, lines);
	CHECK(p.has_volume == want_volume, "%s: has_volume %d", rel, p.has_volume);
	CHECK(p.date[0] == ymd(d1) && p.close[0] == c1, "%s: first row %d %g", rel, p.date[0], p.close[0]);
	CHECK(p.date[p.n - 1] == ymd(d2) && p.close[p.n - 1] == c2, "%s: last row %d %g", rel,
	      p.date[p.n - 1], p.close[p.n - 1]);
	for (size_t i = 0; i < p.n; i++) {
		CHECK(isfinite(p.close[i]) && p.close[i] > 0, "%s: close[%zu]", rel, i);
		if (i)
			CHECK(p.date[i] > p.date[i - 1], "%s: dates[%zu]", rel, i);
		if (!want_volume)
			CHECK(isnan(p.volume[i]) && isnan(p.open[i]), "%s: row %zu not NaN", rel, i);
	}
	price_series_free(&p);
}

static void test_samples(void)
{
	struct timespec t0, t1;
	PriceSeries p = {0};
	char err[256];
	int reps = 20;

	check_sample("examples/data/AAPL.csv", 1260, 1);
	check_sample("examples/data/GOOG.csv", 1047, 1);
	check_sample("examples/data/MSFT.csv", 2529, 0);
	check_sample("examples/data/IBM.csv", 2529, 0);
	check_sample("examples/data/SPX.csv", 5105, 1);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < reps; k++) {
		CHECK(csv_load_prices(src_path("examples/data/SPX.csv"), &p, err, sizeof(err)) == 0,
		      "%s", err);
		price_series_free(&p);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("csv: SPX.csv (5105 rows) loads in %.3f ms\n",
	       ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / reps);
}

static void test_fixtures(void)
{
	PriceSeries p = {0};
	SignalSeries s = {0};
	char err[512];
	int ret;

	/* Yahoo header, BOM, CRLF, no final newline: Close (not Adj Close). */
	ret = csv_load_prices(src_path("tests/fixtures/yahoo_crlf_bom.csv"), &p, err, sizeof(err));
	CHECK(ret == 0, "yahoo: %d %s", ret, err);
	if (ret == 0) {
		CHECK(p.n == 5, "yahoo rows %zu", p.n);
		CHECK(p.date[0] == 20200102 && p.date[4] == 20200108, "yahoo dates");
		CHECK(p.close[0] == 75.087502 && p.close[4] == 75.797501, "yahoo close %.9g", p.close[4]);
		CHECK(p.open[1] == 74.287498 && p.high[2] == 74.989998 && p.low[3] == 74.370003, "yahoo ohl");
		CHECK(p.volume[4] == 132079200.0 && p.has_volume, "yahoo volume");
	}
	price_series_free(&p);
	price_series_free(&p); /* twice: zeroed by the first */
	price_series_free(NULL);

	/* Yahoo's "null" rows are missing days: skipped and counted; Adj
	 * Close when asked for (issue 8). */
	ret = csv_load_prices(src_path("tests/fixtures/yahoo_null_rows.csv"), &p, err, sizeof(err));
	CHECK(ret == 0 && p.n == 3 && p.n_missing == 2 && p.first_missing_line == 3 &&
	      p.date[1] == 20200106 && p.close[1] == 74.94 && p.close[2] == 75.79,
	      "yahoo null rows: %d %s n %zu missing %zu", ret, err, p.n, p.n_missing);
	price_series_free(&p);
	ret = csv_load_prices_column(src_path("tests/fixtures/yahoo_null_rows.csv"), CSV_ADJ_CLOSE,
				     &p, err, sizeof(err));
	CHECK(ret == 0 && p.n == 3 && p.close[0] == 73.98 && p.close[1] == 73.85 &&
	      p.close[2] == 74.68, "adj close: %d %s", ret, err);
	price_series_free(&p);
	ret = csv_load_prices_column(src_path("tests/fixtures/reordered_close_only.csv"),
				     CSV_ADJ_CLOSE, &p, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "missing column 'adj close'"), "adj close absent: %d '%s'",
	      ret, err);

	/* Columns in another order, upper case, an extra column, sparse volume,
	 * no open/high/low columns at all. */
	ret = csv_load_prices(src_path("tests/fixtures/reordered_close_only.csv"), &p, err, sizeof(err));
	CHECK(ret == 0, "reordered: %d %s", ret, err);
	if (ret == 0) {
		CHECK(p.n == 3 && p.close[0] == 10.5 && p.close[1] == 10.75 && p.close[2] == 11.0,
		      "reordered closes");
		CHECK(p.date[1] == 20210301, "reordered date");
		CHECK(isnan(p.volume[0]) && p.volume[1] == 1200.0 && isnan(p.volume[2]), "volume");
		CHECK(p.has_volume == 1 && p.has_open == 0 && isnan(p.open[1]), "flags");
	}
	price_series_free(&p);

	ret = csv_load_prices(src_path("tests/fixtures/bad_close_nan_text.csv"), &p, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "bad_close_nan_text.csv:3: field 'close': not a number 'abc'"),
	      "bad close: %d '%s'", ret, err);
	ret = csv_load_prices(src_path("tests/fixtures/bad_date.csv"), &p, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "bad_date.csv:3: field 'date'") && strstr(err, "2020-02-30"),
	      "bad date: %d '%s'", ret, err);

	/* Signals with -1: 0 stays 0. */
	ret = csv_load_signals(src_path("tests/fixtures/signals_pm1.csv"), &s, err, sizeof(err));
	CHECK(ret == 0, "signals: %d %s", ret, err);
	if (ret == 0) {
		CHECK(s.n == 3 && s.direction[0] == 1 && s.direction[1] == -1 && s.direction[2] == 0,
		      "signal directions");
		CHECK(s.confidence[1] == 3.0 && s.confidence[2] == 1.5, "confidence");
	}
	signal_series_free(&s);
}

/* Each bad file: content, the line the error must name, and a piece of the
 * message. */
struct BadCase {
	const char *content;
	int line;
	const char *msg;
};

static const struct BadCase bad_prices[] = {
	{"", 1, "empty file"},
	{"\xEF\xBB\xBF", 1, "empty file"},
	{"\n\r\n\n", 3, "empty file"},
	{"date,open,high,low,close,volume\n", 1, "no data rows"},
	{"date,open,high,low,close,volume\r\n\r\n", 2, "no data rows"},
	{"date,open,high,low,volume\n2020-01-01,1,1,1,1\n", 1, "missing column 'close'"},
	{"Date,Open,High,Low,Adj Close,Volume\n2020-01-01,1,1,1,1,1\n", 1, "missing column 'close'"},
	{"open,close\n1,2\n", 1, "missing column 'date'"},
	{"date,close,Close\n2020-01-01,1,2\n", 1, "column 'close' appears twice"},
	{"date,close\n2020-01-01,1\n2020-01-02,abc\n", 3, "field 'close': not a number 'abc'"},
	{"date,close\n2020-01-01,1\n2020-01-02,1.5.2\n", 3, "field 'close': not a number"},
	{"date,close\n2020-01-01,1\n2020-01-02,0x10\n", 3, "field 'close': not a number"},
	{"date,close\n2020-01-01,nan\n", 2, "field 'close': not a finite number 'nan'"},
	{"date,close\n2020-01-01,inf\n", 2, "field 'close': not a finite number"},
	{"date,close\n2020-01-01,-Infinity\n", 2, "field 'close': not a finite number"},
	{"date,close\n2020-01-01,1e999\n", 2, "field 'close': not a finite number"},
	{"date,close\n2020-01-01,0\n", 2, "field 'close': must be in [1e-06, 1e+09], got '0'"},
	{"date,close\n2020-01-01,-3\n", 2, "field 'close': must be in [1e-06, 1e+09]"},
	/* Absurd but finite prices (issue 8: 1.5e308 trained a non-finite model). */
	{"date,close\n2020-01-01,1\n2020-01-02,1.5e308\n", 3, "field 'close': must be in [1e-06, 1e+09], got '1.5e308'"},
	{"date,close\n2020-01-01,1e-300\n", 2, "field 'close': must be in [1e-06, 1e+09]"},
	{"date,open,close\n2020-01-01,2e9,1\n", 2, "field 'open': must be in [0, 1e+09]"},
	{"date,close,volume\n2020-01-01,1,1e300\n", 2, "field 'volume': must be in [0, 1e+15]"},
	{"date,close\n2020-01-01,NULL\n", 2, "no data rows"},
	{"date,close\n2020-01-01,\n", 2, "field 'close': missing value"},
	{"date,close,volume\n2020-01-01,1,-5\n", 2, "field 'volume': must be in [0, 1e+15]"},
	{"date,open,close\n2020-01-01,-1,1\n", 2, "field 'open': must be in [0, 1e+09]"},
	{"date,high,close\n2020-01-01,NaN,1\n", 2, "field 'high': not a finite number"},
	{"date,low,close\n2020-01-01,zz,1\n", 2, "field 'low': not a number 'zz'"},
	{"date,close\n2020-13-01,1\n", 2, "field 'date': not a valid yyyy-mm-dd date '2020-13-01'"},
	{"date,close\n2021-02-29,1\n", 2, "field 'date'"},
	{"date,close\n1900-02-29,1\n", 2, "field 'date': not a valid yyyy-mm-dd date '1900-02-29'"},  /* a century */
	{"date,close\n2020-04-31,1\n", 2, "field 'date'"},
	{"date,close\n2020-00-10,1\n", 2, "field 'date'"},
	{"date,close\n2020-01-00,1\n", 2, "field 'date'"},
	{"date,close\n2020/01/01,1\n", 2, "field 'date'"},
	{"date,close\n20200101,1\n", 2, "field 'date'"},
	{"date,close\n2020-1-1,1\n", 2, "field 'date'"},
	{"date,close\n2020-01-01,1\n2020-01-01,2\n", 3, "duplicate date '2020-01-01'"},
	{"date,close\n2020-01-02,1\n2020-01-01,2\n", 3, "dates must ascend"},
	{"date,close\n2020-01-01,1,7\n", 2, "expected 2 fields, found 3"},
	{"date,close\n2020-01-01\n", 2, "expected 2 fields, found 1"},
	{"date,close\r\n2020-01-01,1\r\n\r\n2020-01-03,2,\r\n", 4, "expected 2 fields, found 3"},
	{"date,close\n2020-01-01,1\n2020-01-02,1\0002\n", 3, "field 'close': not a number '1?2'"},
};

static const struct BadCase bad_signals[] = {
	{"", 1, "empty file"},
	{"date,direction,confidence\n", 1, "no data rows"},
	{"date,direction\n2020-01-01,1\n", 1, "missing column 'confidence'"},
	{"date,confidence\n2020-01-01,1\n", 1, "missing column 'direction'"},
	{"date,direction,confidence\n2020-01-01,2,1\n", 2, "field 'direction': must be -1, 0 or 1, got '2'"},
	{"date,direction,confidence\n2020-01-01,1.0,1\n", 2, "field 'direction'"},
	{"date,direction,confidence\n2020-01-01,up,1\n", 2, "field 'direction'"},
	{"date,direction,confidence\n2020-01-01,1,0.5\n", 2, "field 'confidence': must be in [1, 3], got '0.5'"},
	{"date,direction,confidence\n2020-01-01,1,3.01\n", 2, "field 'confidence': must be in [1, 3]"},
	{"date,direction,confidence\n2020-01-01,1,nan\n", 2, "field 'confidence': not a finite number"},
	{"date,direction,confidence\n2020-01-01,1,\n", 2, "field 'confidence': missing value"},
	{"date,direction,confidence\n2020-01-01,1,2\n2020-01-01,1,2\n", 3, "duplicate date"},
	{"date,direction,confidence\n2020-02-01,1,2\n2020-01-01,1,2\n", 3, "dates must ascend"},
	{"date,direction,confidence\n2020-02-01,1,2,4\n", 2, "expected 3 fields, found 4"},
};

static void test_bad(void)
{
	char name[64], want[512], err[512];
	PriceSeries p = {0};
	SignalSeries s = {0};
	int ret;

	for (size_t k = 0; k < sizeof(bad_prices) / sizeof(bad_prices[0]); k++) {
		const struct BadCase *c = &bad_prices[k];
		/* The last case embeds a NUL: write its full literal length. */
		size_t len = (k + 1 == sizeof(bad_prices) / sizeof(bad_prices[0]))
				     ? sizeof("date,close\n2020-01-01,1\n2020-01-02,1\0002\n") - 1
				     : strlen(c->content);
		const char *path;

		snprintf(name, sizeof(name), "bad_prices_%zu.csv", k);
		path = write_tmp(name, c->content, len);
		memset(&p, 0x5a, sizeof(p));
		ret = csv_load_prices(path, &p, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:%d: ", path, c->line);
		CHECK(ret == -EINVAL, "prices case %zu: ret %d (%s)", k, ret, err);
		CHECK(strncmp(err, want, strlen(want)) == 0 && strstr(err, c->msg) != NULL,
		      "prices case %zu: message '%s', want '%s...%s'", k, err, want, c->msg);
		/* Out-parameter untouched on failure. */
		CHECK(p.n == 0x5a5a5a5a5a5a5a5aULL, "prices case %zu: ret written on failure", k);
	}
	for (size_t k = 0; k < sizeof(bad_signals) / sizeof(bad_signals[0]); k++) {
		const struct BadCase *c = &bad_signals[k];
		const char *path;

		snprintf(name, sizeof(name), "bad_signals_%zu.csv", k);
		path = write_tmp(name, c->content, strlen(c->content));
		ret = csv_load_signals(path, &s, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:%d: ", path, c->line);
		CHECK(ret == -EINVAL, "signals case %zu: ret %d (%s)", k, ret, err);
		CHECK(strncmp(err, want, strlen(want)) == 0 && strstr(err, c->msg) != NULL,
		      "signals case %zu: message '%s', want '%s...%s'", k, err, want, c->msg);
	}

	/* I/O errors: negative errno, path in the message. */
	snprintf(name, sizeof(name), "%s/does-not-exist.csv", tmpdir);
	ret = csv_load_prices(name, &p, err, sizeof(err));
	CHECK(ret == -ENOENT && strstr(err, name) != NULL, "missing file: %d '%s'", ret, err);
	ret = csv_load_prices(tmpdir, &p, err, sizeof(err));
	CHECK(ret == -EISDIR && strstr(err, tmpdir) != NULL, "directory: %d '%s'", ret, err);
	ret = csv_load_signals(name, &s, err, sizeof(err));
	CHECK(ret == -ENOENT, "missing signals file: %d", ret);

	/* No err buffer, and a tiny one: still the right code, no overflow. */
	ret = csv_load_prices(write_tmp("e.csv", "date,close\n2020-01-01,x\n", 24), &p, NULL, 0);
	CHECK(ret == -EINVAL, "err NULL: %d", ret);
	ret = csv_load_prices(write_tmp("e.csv", "date,close\n2020-01-01,x\n", 24), &p, err, 5);
	CHECK(ret == -EINVAL && strlen(err) == 4, "err small: %d '%s'", ret, err);
}

static void test_good_variants(void)
{
	static const char *ok[] = {
		/* leap day, last line without newline, spaces around fields */
		"date,close\n2020-02-28,1\n2020-02-29, 2 \n2020-03-01,3",
		"date , CLOSE\n2020-02-28,1\n2020-02-29,2\n",
		"\"date\",\"close\"\n\"2020-02-28\",\"1.5\"\n",
		"date,close,open\r\n2020-02-28,1,null\r\n\r\n2020-03-02,2e0,\r\n\n\n",
		/* 2000 is a leap year (divisible by 400) */
		"date,close\n2000-02-28,1\n2000-02-29,2\n2000-03-01,3\n",
	};
	PriceSeries p = {0};
	char err[512];
	int ret;

	/* Without a final newline the last row still counts. */
	ret = csv_load_prices(write_tmp("g0.csv", ok[0], strlen(ok[0])), &p, err, sizeof(err));
	CHECK(ret == 0 && p.n == 3 && p.close[1] == 2.0 && p.close[2] == 3.0 &&
	      p.date[1] == 20200229 && p.date[2] == 20200301, "no final newline: %d '%s'", ret, err);
	price_series_free(&p);
	for (size_t k = 1; k < sizeof(ok) / sizeof(ok[0]); k++) {
		char name[32];

		snprintf(name, sizeof(name), "good%zu.csv", k);
		ret = csv_load_prices(write_tmp(name, ok[k], strlen(ok[k])), &p, err, sizeof(err));
		CHECK(ret == 0, "good case %zu: %d %s", k, ret, err);
		if (ret == 0)
			CHECK(p.date[0] == (k == 4 ? 20000228 : 20200228) && p.close[0] >= 1.0 && p.n >= 1,
			      "good %zu", k);
		if (ret == 0 && k == 4)
			CHECK(p.n == 3 && p.date[1] == 20000229 && p.date[2] == 20000301, "2000-02-29");
		if (ret == 0 && k == 3)
			CHECK(p.n == 2 && p.date[1] == 20200302 && p.close[1] == 2.0 &&
			      isnan(p.open[0]) && isnan(p.open[1]) && !p.has_open, "good 3");
		price_series_free(&p);
	}
}

static void test_signals_align(void)
{
	const char *sig = "date,direction,confidence\n"
			  "2020-01-04,1,2\n"    /* Saturday: holds from Monday 6th */
			  "2020-01-08,0,1.5\n"  /* {0,1} file: 0 means -1 */
			  "2020-01-20,1,3\n";   /* after the last price day */
	const int32_t days[] = {20200102, 20200103, 20200106, 20200107, 20200108,
				20200109, 20200110};
	const double want[] = {0, 0, 2, 2, -1.5, -1.5, -1.5};
	PriceSeries p = {.n = 7, .date = (int32_t *)days};
	SignalSeries s = {0};
	double tau[7];
	char err[256];
	int ret;

	ret = csv_load_signals(write_tmp("sig.csv", sig, strlen(sig)), &s, err, sizeof(err));
	CHECK(ret == 0, "signals: %s", err);
	CHECK(signals_align(&s, &p, tau) == 0, "align");
	for (int i = 0; i < 7; i++)
		CHECK(tau[i] == want[i], "tau[%d] = %g, want %g", i, tau[i], want[i]);
	CHECK(signals_align(NULL, &p, tau) == 0 && tau[3] == 0.0, "no signals");
	/* No output array: refused for a series with days, fine for none. */
	CHECK(signals_align(&s, &p, NULL) == -EINVAL, "7 days, no output");
	PriceSeries none = {.n = 0, .date = NULL};
	CHECK(signals_align(&s, &none, NULL) == 0, "no days, no output");
	CHECK(signals_align(&s, NULL, tau) == -EINVAL, "no price series");
	signal_series_free(&s);
	signal_series_free(NULL);
}

/* Checks the invariants of a successful load. */
static void check_invariants(const PriceSeries *p, const char *what, size_t k)
{
	CHECK(p->n > 0, "%s %zu: n 0", what, k);
	for (size_t i = 0; i < p->n; i++) {
		CHECK(isfinite(p->close[i]) && p->close[i] > 0, "%s %zu: close", what, k);
		CHECK(isnan(p->volume[i]) || p->volume[i] >= 0, "%s %zu: volume", what, k);
		if (i)
			CHECK(p->date[i] > p->date[i - 1], "%s %zu: dates", what, k);
	}
}

/* Garbage, mutations and truncations: the loader returns 0 or -EINVAL,
 * never crashes (ASan/UBSan watch), a success satisfies the invariants and
 * a failure has a message. */
static void test_fuzz(void)
{
	static const char base[] =
		"\xEF\xBB\xBF" "Date,Open,High,Low,Close,Adj Close,Volume\r\n"
		"2020-01-02,74.05,75.15,73.79,75.08,73.98,135480400\r\n"
		"2020-01-03,74.28,75.14,74.12,74.35,73.26,146322800\r\n"
		"2020-01-06,73.44,74.98,73.18,74.94,73.85,\r\n"
		"2020-01-07,,,,74.59,73.50,108872000\r\n";
	static const char alphabet[] = "0123456789,.-+eE\r\n \"dateclosDATEnaif\xEF\xBB\xBF\0x";
	char buf[512], err[512];
	PriceSeries p = {0};
	SignalSeries s = {0};
	Rng rng;
	size_t n = sizeof(base) - 1, oks = 0;
	int ret;

	rng_seed(&rng, 777);
	/* Every prefix (cuts inside lines, inside the BOM, inside CRLF). */
	for (size_t cut = 0; cut <= n; cut++) {
		ret = csv_load_prices(write_mem(base, cut), &p, err, sizeof(err));
		CHECK(ret == 0 || (ret == -EINVAL && err[0]), "cut %zu: %d", cut, ret);
		if (ret == 0) {
			check_invariants(&p, "cut", cut);
			oks++;
		}
		price_series_free(&p);
	}
	CHECK(oks > 4, "too few prefixes load (%zu)", oks);
	/* Random byte mutations of the good file. */
	for (size_t k = 0; k < 3000; k++) {
		size_t len = n, edits = 1 + rng_below(&rng, 4);

		memcpy(buf, base, n);
		for (size_t e = 0; e < edits; e++) {
			size_t at = rng_below(&rng, len);
			unsigned op = (unsigned)rng_below(&rng, 3);

			if (op == 0)
				buf[at] = alphabet[rng_below(&rng, sizeof(alphabet) - 1)];
			else if (op == 1)
				buf[at] = (char)rng_below(&rng, 256);
			else if (len > 1) {
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
		}
		ret = csv_load_prices(write_mem(buf, len), &p, err, sizeof(err));
		CHECK(ret == 0 || (ret == -EINVAL && err[0]), "mutation %zu: %d", k, ret);
		if (ret == 0)
			check_invariants(&p, "mutation", k);
		price_series_free(&p);
		ret = csv_load_signals(write_mem(buf, len), &s, err, sizeof(err));
		CHECK(ret == -EINVAL, "signals from prices %zu: %d", k, ret);
	}
	/* Pure garbage of random lengths, from a CSV-ish alphabet and raw bytes. */
	for (size_t k = 0; k < 2000; k++) {
		size_t len = rng_below(&rng, sizeof(buf));
		int raw = k & 1;

		for (size_t i = 0; i < len; i++)
			buf[i] = raw ? (char)rng_below(&rng, 256)
				     : alphabet[rng_below(&rng, sizeof(alphabet) - 1)];
		ret = csv_load_prices(write_mem(buf, len), &p, err, sizeof(err));
		CHECK(ret == 0 || (ret == -EINVAL && err[0]), "junk %zu: %d", k, ret);
		if (ret == 0)
			check_invariants(&p, "junk", k);
		price_series_free(&p);
		ret = csv_load_signals(write_mem(buf, len), &s, err, sizeof(err));
		CHECK(ret == 0 || (ret == -EINVAL && err[0]), "junk signals %zu: %d", k, ret);
		signal_series_free(&s);
	}
}

static void cleanup_tmp(void)
{
	char cmd[600];

	/* Only files this test wrote, in its own mkdtemp folder. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_csv.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 99;
	}
	test_samples();
	test_fixtures();
	test_bad();
	test_good_variants();
	test_signals_align();
	test_fuzz();
	cleanup_tmp();
	return check_done("csv");
}
