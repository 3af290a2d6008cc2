/* Loading a ticker's daily prices and its optional strategy signals from CSV.
 *
 * Format accepted by both loaders:
 * - An optional UTF-8 byte order mark, then a header line, then one row per
 *   line. Lines end in LF or CRLF; the last line may lack its newline.
 *   Lines that are empty (after removing CR) are ignored anywhere.
 * - Fields are separated by ',' and trimmed of spaces and tabs; a field
 *   wholly wrapped in double quotes loses them (no embedded commas or
 *   quotes are supported). Every row has exactly as many fields as the
 *   header.
 * - Header names are matched case-insensitively, columns are found by name
 *   in any order, unknown columns are ignored; a known name given twice is
 *   an error.
 * - Dates are ISO yyyy-mm-dd (a real calendar day), strictly ascending.
 *
 * Errors: -EINVAL for bad content, with a message in err (when err is not
 * NULL and errlen > 0) naming the file, the 1-based line and the field,
 * e.g. "data/X.csv:17: field 'close': not a number 'abc'". I/O failures
 * return the negative errno of the failing call with "path: reason" in err.
 * -ENOMEM when memory runs out; -EFBIG for files over CSV_MAX_BYTES.
 * Out-parameters are written only on success. Nothing here prints. */
#ifndef TV_CSV_H
#define TV_CSV_H

#include <stddef.h>
#include <stdint.h>

/* Largest file either loader reads (far above decades of daily rows). */
#define CSV_MAX_BYTES (256u * 1024u * 1024u)

/* Daily OHLCV prices. Arrays hold n values each, index 0 = oldest day.
 * date is yyyymmdd (e.g. 20200417). close is always finite and > 0;
 * open/high/low/volume are finite and >= 0, or NaN where the file left the
 * field empty (or wrote "null", Yahoo's placeholder). has_x is 1 when at
 * least one row has a value in column x (0 also when the column is absent).
 * Free with price_series_free. */
typedef struct PriceSeries {
	size_t n;
	int32_t *date;
	double *open;
	double *high;
	double *low;
	double *close;
	double *volume;
	int has_open;
	int has_high;
	int has_low;
	int has_volume;
	size_t n_missing;        /* rows of "null" prices skipped (missing days) */
	long first_missing_line; /* line of the first of them (0: none) */
} PriceSeries;

/* Prices outside these bounds are refused as absurd (the features and
 * returns computed from them would not be finite or meaningful). */
#define CSV_MIN_PRICE 1e-6
#define CSV_MAX_PRICE 1e9
#define CSV_MAX_VOLUME 1e15

/* Which column is "the close" (run.price_column). */
typedef enum CsvPriceColumn { CSV_CLOSE, CSV_ADJ_CLOSE } CsvPriceColumn;

/* Loads `date,open,high,low,close,volume` or Yahoo's
 * `Date,Open,High,Low,Close,Adj Close,Volume` (any column order, extra
 * columns ignored). Required columns: date and close. When both Close and
 * Adj Close exist, Close is used (Adj Close alone does not count as close).
 * A row whose close is "null" (Yahoo's day without data) is a missing day:
 * skipped and counted in n_missing.
 * Rejected with -EINVAL: an empty file, a header without rows, a missing
 * date or close column, a non-numeric, NaN or infinite value, a close that
 * is empty or outside [CSV_MIN_PRICE, CSV_MAX_PRICE], an open/high/low
 * outside [0, CSV_MAX_PRICE], a volume outside [0, CSV_MAX_VOLUME], a bad
 * date, a duplicate or out-of-order date, a wrong number of fields.
 * On success *ret owns its arrays (the caller frees with price_series_free). */
int csv_load_prices(const char *path, PriceSeries *ret, char *err, size_t errlen);

/* The same with Yahoo's "Adj Close" as the close when column is
 * CSV_ADJ_CLOSE (then required; "Close" is ignored). */
int csv_load_prices_column(const char *path, CsvPriceColumn column, PriceSeries *ret,
			   char *err, size_t errlen);

/* Frees the arrays and zeroes the struct; accepts NULL and a zeroed struct. */
void price_series_free(PriceSeries *s);

/* Strategy signals: on date[i] the strategist says direction[i] (-1 short,
 * 0 none, +1 long) with confidence[i] in [1, 3]. Ascending dates. */
typedef struct SignalSeries {
	size_t n;
	int32_t *date;
	int8_t *direction;
	double *confidence;
} SignalSeries;

/* Loads `date,direction,confidence` (same rules as above). direction must be
 * one of -1, 0, 1 (written as an integer, "+1" allowed). The encoding rule:
 * if any row of the file has -1, values are taken as they are (0 = no
 * view); if no row has -1, the file is read as {0,1}-encoded and 0 means
 * -1 (short). A {-1,0,1} file whose rows happen to contain no -1 is
 * therefore read as {0,1}: write -1/+1 files when that matters.
 * confidence is a finite number in [1, 3]. A file with a header but no
 * rows is -EINVAL like a price file (no signals = pass no file at all). */
int csv_load_signals(const char *path, SignalSeries *ret, char *err, size_t errlen);

/* Frees the arrays and zeroes the struct; accepts NULL and a zeroed struct. */
void signal_series_free(SignalSeries *s);

/* Writes ret_tau[i] (p->n values, caller-allocated) = direction *
 * confidence of the latest signal dated on or before p->date[i], 0 before
 * the first signal. A signal dated on a non-trading day therefore holds
 * from the next trading day. s may be NULL or empty: all zeros.
 * Returns 0, or -EINVAL for a NULL p or ret_tau with p->n > 0. */
int signals_align(const SignalSeries *s, const PriceSeries *p, double *ret_tau);

#endif
