/* CSV loading for prices and signals: see csv.h for the accepted format.
 * The whole file is read into memory once, then walked line by line;
 * fields are (pointer, length) ranges into that buffer, so a NUL byte or
 * any other garbage is just an unparsable field, never a crash. */
#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A field of the current line: bytes [s, s+len) of the file buffer. */
typedef struct CsvField {
	const char *s;
	size_t len;
} CsvField;

/* A column the loader knows: its accepted header names (lower case,
 * NULL-terminated list) and, once the header is read, its index or -1. */
typedef struct CsvColumn {
	const char *name;          /* name used in messages */
	const char *const *aliases;
	int index;
} CsvColumn;

typedef struct CsvReader {
	const char *path;
	char *err;
	size_t errlen;
	char *buf;                 /* whole file, NUL-terminated */
	size_t len;
	size_t pos;                /* start of the next line */
	long lineno;               /* line number of the current line */
	int nfields;               /* fields of the header = fields of every row */
	CsvField *fields;          /* nfields entries for the current line */
} CsvReader;

static void csv_errf(CsvReader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes "path:line: <message>" into r->err. */
static void csv_errf(CsvReader *r, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!r->err || r->errlen == 0)
		return;
	k = snprintf(r->err, r->errlen, "%s:%ld: ", r->path, r->lineno);
	if (k < 0 || (size_t)k >= r->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err + k, r->errlen - (size_t)k, fmt, ap);
	va_end(ap);
}

/* Copies a field into out (size outlen >= 8) for a message: printable ASCII
 * kept, anything else shown as '?', long values cut with "...". */
static void csv_quote(const CsvField *f, char *out, size_t outlen)
{
	size_t i, k = 0;

	for (i = 0; i < f->len && k + 4 < outlen; i++) {
		unsigned char c = (unsigned char)f->s[i];
		out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < f->len) {
		out[k++] = '.';
		out[k++] = '.';
		out[k++] = '.';
	}
	out[k] = '\0';
}

/* Reads the whole file into r->buf. */
static int csv_read_file(CsvReader *r)
{
	struct stat st;
	char *buf = NULL;
	size_t cap, len = 0;
	int fd, ret = 0;

	/* O_NONBLOCK: a FIFO given as data must not block the open. */
	fd = open(r->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;  /* a FIFO, device or socket: never a data file */
		goto out;
	}
	if (st.st_size > (off_t)CSV_MAX_BYTES) {
		ret = -EFBIG;
		goto out;
	}
	/* st_size may be 0 for pipes or /proc files: read until EOF anyway.
	 * +2: the NUL, and room for the read that finds EOF, so that a file of
	 * exactly CSV_MAX_BYTES is read, not refused for lack of that room. */
	cap = (size_t)st.st_size + 2;
	if (cap < 4096)
		cap = 4096;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t k;

		if (len + 1 >= cap) {
			char *nb;

			if (cap > CSV_MAX_BYTES) {
				ret = -EFBIG;
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		k = read(fd, buf + len, cap - 1 - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if (len > CSV_MAX_BYTES) {
		ret = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	r->buf = buf;
	r->len = len;
	buf = NULL;
out:
	if (ret < 0 && r->err && r->errlen > 0) {
		if (ret == -EFBIG)
			snprintf(r->err, r->errlen, "%s: file too large (over the limit of %u MiB)",
				 r->path, CSV_MAX_BYTES >> 20);
		else
			snprintf(r->err, r->errlen, "%s: %s", r->path, ret == -EINVAL ?
				 "not a regular file (a FIFO, device or socket)" : strerror(-ret));
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Advances to the next non-empty line; sets *ret_s and *ret_len to it without
 * its CR/LF. Returns 1 when a line was found, 0 at the end of the file. */
static int csv_next_line(CsvReader *r, const char **ret_s, size_t *ret_len)
{
	while (r->pos < r->len) {
		const char *s = r->buf + r->pos;
		const char *nl = memchr(s, '\n', r->len - r->pos);
		size_t len = nl ? (size_t)(nl - s) : r->len - r->pos;

		r->pos += len + (nl ? 1 : 0);
		r->lineno++;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		*ret_s = s;
		*ret_len = len;
		return 1;
	}
	return 0;
}

/* Trims blanks and one pair of enclosing double quotes. */
static CsvField csv_trim(const char *s, size_t len)
{
	CsvField f;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	f.s = s;
	f.len = len;
	return f;
}

static int csv_count_fields(const char *s, size_t len)
{
	size_t i;
	int n = 1;

	for (i = 0; i < len; i++)
		if (s[i] == ',' && n < 1000000)
			n++;
	return n;
}

/* Splits the line into exactly want fields; returns the number found
 * (fields beyond want are counted, not stored). */
static int csv_split(const char *s, size_t len, CsvField *out, int want)
{
	size_t start = 0, i;
	int n = 0;

	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == ',') {
			if (n < want)
				out[n] = csv_trim(s + start, i - start);
			n++;
			start = i + 1;
		}
	}
	return n;
}

static int field_equals_ci(const CsvField *f, const char *name)
{
	size_t n = strlen(name);

	return f->len == n && strncasecmp(f->s, name, n) == 0;
}

/* Reads the file, skips a BOM, parses the header and finds the columns.
 * Columns with required=1 must exist. */
static int csv_open(CsvReader *r, CsvColumn *cols, int ncols, const int *required)
{
	const char *line;
	size_t len;
	int ret, i, j;

	ret = csv_read_file(r);
	if (ret < 0)
		return ret;
	if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
		r->pos = 3;
	if (!csv_next_line(r, &line, &len)) {
		r->lineno = r->lineno ? r->lineno : 1;
		csv_errf(r, "empty file (no header)");
		return -EINVAL;
	}
	r->nfields = csv_count_fields(line, len);
	if (r->nfields > 4096) {
		csv_errf(r, "header: too many fields (%d)", r->nfields);
		return -EINVAL;
	}
	r->fields = calloc((size_t)r->nfields, sizeof(*r->fields));
	if (!r->fields)
		return -ENOMEM;
	csv_split(line, len, r->fields, r->nfields);
	for (j = 0; j < ncols; j++)
		cols[j].index = -1;
	for (i = 0; i < r->nfields; i++) {
		for (j = 0; j < ncols; j++) {
			const char *const *a;
			int hit = 0;

			for (a = cols[j].aliases; *a; a++)
				hit |= field_equals_ci(&r->fields[i], *a);
			if (!hit)
				continue;
			if (cols[j].index >= 0) {
				csv_errf(r, "header: column '%s' appears twice",
					 cols[j].name);
				return -EINVAL;
			}
			cols[j].index = i;
		}
	}
	for (j = 0; j < ncols; j++) {
		if (required[j] && cols[j].index < 0) {
			csv_errf(r, "header: missing column '%s'", cols[j].name);
			return -EINVAL;
		}
	}
	return 0;
}

/* Moves to the next row and splits it into r->fields. Returns 1 for a row,
 * 0 at the end, -EINVAL for a wrong number of fields. */
static int csv_next_row(CsvReader *r)
{
	const char *line;
	size_t len;
	int n;

	if (!csv_next_line(r, &line, &len))
		return 0;
	n = csv_split(line, len, r->fields, r->nfields);
	if (n != r->nfields) {
		csv_errf(r, "expected %d fields, found %d", r->nfields, n);
		return -EINVAL;
	}
	return 1;
}

static void csv_close(CsvReader *r)
{
	free(r->buf);
	free(r->fields);
	r->buf = NULL;
	r->fields = NULL;
}

/* Parses a decimal number. Returns 0 and sets *ret, 1 for an empty field
 * (or "null"), -1 for text that is not a number, -2 for NaN/inf/overflow. */
static int parse_number(const CsvField *f, double *ret)
{
	char tmp[64];
	char *end;
	double v;
	size_t i;

	if (f->len == 0 || field_equals_ci(f, "null"))
		return 1;
	if (f->len >= sizeof(tmp))
		return -1;
	for (i = 0; i < f->len; i++) {
		unsigned char c = (unsigned char)f->s[i];

		/* No hex floats, no embedded NULs or blanks: letters are
		 * allowed only so "nan"/"inf" are recognised below. */
		if (c == 'x' || c == 'X' || c == 'p' || c == 'P' ||
		    !(isalnum(c) || c == '.' || c == '+' || c == '-'))
			return -1;
	}
	memcpy(tmp, f->s, f->len);
	tmp[f->len] = '\0';
	errno = 0;
	v = strtod(tmp, &end);
	if (end == tmp || *end != '\0')
		return -1;
	if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
		return -2;
	*ret = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return d[m - 1] + (m == 2 && leap);
}

/* Parses yyyy-mm-dd into yyyymmdd; returns 0 or -1. */
static int parse_date(const CsvField *f, int32_t *ret)
{
	const char *s = f->s;
	int y, m, d, i;

	if (f->len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !(s[i] >= '0' && s[i] <= '9'))
			return -1;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	*ret = y * 10000 + m * 100 + d;
	return 0;
}

/* Reads the date of the current row and checks it follows prev
 * (prev = 0 for the first row). */
static int row_date(CsvReader *r, int col, int32_t prev, int32_t *ret)
{
	const CsvField *f = &r->fields[col];
	char q[48];

	if (parse_date(f, ret) < 0) {
		csv_quote(f, q, sizeof(q));
		csv_errf(r, "field 'date': not a valid yyyy-mm-dd date '%s'", q);
		return -EINVAL;
	}
	if (prev != 0 && *ret == prev) {
		csv_quote(f, q, sizeof(q));
		csv_errf(r, "field 'date': duplicate date '%s'", q);
		return -EINVAL;
	}
	if (prev != 0 && *ret < prev) {
		csv_quote(f, q, sizeof(q));
		csv_errf(r, "field 'date': '%s' is before the previous row's date "
			 "(dates must ascend)", q);
		return -EINVAL;
	}
	return 0;
}

/* Reads a numeric field of the current row. Empty is allowed when
 * allow_empty (stores NaN); the value must be in [lo, hi]. */
static int row_number(CsvReader *r, int col, const char *name, int allow_empty,
		      double lo, double hi, double *ret)
{
	const CsvField *f = &r->fields[col];
	char q[48];
	double v = 0.0;
	int k = parse_number(f, &v);

	csv_quote(f, q, sizeof(q));
	if (k == 1) {
		if (!allow_empty) {
			csv_errf(r, "field '%s': missing value", name);
			return -EINVAL;
		}
		*ret = NAN;
		return 0;
	}
	if (k == -1) {
		csv_errf(r, "field '%s': not a number '%s'", name, q);
		return -EINVAL;
	}
	if (k == -2) {
		csv_errf(r, "field '%s': not a finite number '%s'", name, q);
		return -EINVAL;
	}
	if (v < lo || v > hi) {
		csv_errf(r, "field '%s': must be in [%g, %g], got '%s'", name, lo, hi, q);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* Grows each of the k arrays (element sizes sz[k]) to hold cap elements. */
static int grow_arrays(void **arrs[], const size_t *sz, int k, size_t cap)
{
	int i;

	for (i = 0; i < k; i++) {
		void *p = realloc(*arrs[i], cap * sz[i]);

		if (!p)
			return -ENOMEM;
		*arrs[i] = p;
	}
	return 0;
}

void price_series_free(PriceSeries *s)
{
	if (!s)
		return;
	free(s->date);
	free(s->open);
	free(s->high);
	free(s->low);
	free(s->close);
	free(s->volume);
	memset(s, 0, sizeof(*s));
}

enum { PC_DATE, PC_OPEN, PC_HIGH, PC_LOW, PC_CLOSE, PC_VOLUME, PC_N };

int csv_load_prices(const char *path, PriceSeries *ret, char *err, size_t errlen)
{
	return csv_load_prices_column(path, CSV_CLOSE, ret, err, errlen);
}

int csv_load_prices_column(const char *path, CsvPriceColumn column, PriceSeries *ret,
			   char *err, size_t errlen)
{
	static const char *const a_date[] = {"date", NULL};
	static const char *const a_open[] = {"open", NULL};
	static const char *const a_high[] = {"high", NULL};
	static const char *const a_low[] = {"low", NULL};
	static const char *const a_close[] = {"close", NULL};
	static const char *const a_adj[] = {"adj close", "adj_close", "adjclose", NULL};
	static const char *const a_volume[] = {"volume", NULL};
	const char *const names[PC_N] = {"date", "open", "high", "low",
					 column == CSV_ADJ_CLOSE ? "adj close" : "close", "volume"};
	static const int required[PC_N] = {1, 0, 0, 0, 1, 0};
	CsvColumn cols[PC_N] = {
		{"date", a_date, -1}, {"open", a_open, -1}, {"high", a_high, -1},
		{"low", a_low, -1},
		{names[PC_CLOSE], column == CSV_ADJ_CLOSE ? a_adj : a_close, -1},
		{"volume", a_volume, -1},
	};
	CsvReader r = {.path = path, .err = err, .errlen = errlen};
	PriceSeries s = {0};
	double *val[PC_N] = {0};
	size_t cap = 0;
	int ret_code, k, has[PC_N] = {0};

	if (err && errlen > 0)
		err[0] = '\0';
	if (!path || !ret)
		return -EINVAL;
	ret_code = csv_open(&r, cols, PC_N, required);
	if (ret_code < 0)
		goto out;
	for (;;) {
		int32_t prev = s.n ? s.date[s.n - 1] : 0;

		k = csv_next_row(&r);
		if (k < 0) {
			ret_code = k;
			goto out;
		}
		if (k == 0)
			break;
		if (s.n == cap) {
			void **arrs[] = {(void **)&s.date, (void **)&s.open,
					 (void **)&s.high, (void **)&s.low,
					 (void **)&s.close, (void **)&s.volume};
			const size_t sz[] = {sizeof(int32_t), sizeof(double),
					     sizeof(double), sizeof(double),
					     sizeof(double), sizeof(double)};

			cap = cap ? cap * 2 : 1024;
			ret_code = grow_arrays(arrs, sz, 6, cap);
			if (ret_code < 0)
				goto out;
		}
		val[PC_OPEN] = s.open;
		val[PC_HIGH] = s.high;
		val[PC_LOW] = s.low;
		val[PC_CLOSE] = s.close;
		val[PC_VOLUME] = s.volume;
		ret_code = row_date(&r, cols[PC_DATE].index, prev, &s.date[s.n]);
		if (ret_code < 0)
			goto out;
		/* Yahoo writes a day without trading data as a row of "null":
		 * a missing day, skipped and counted. */
		if (field_equals_ci(&r.fields[cols[PC_CLOSE].index], "null")) {
			if (s.n_missing++ == 0)
				s.first_missing_line = r.lineno;
			continue;
		}
		for (k = PC_OPEN; k < PC_N; k++) {
			double *dst = &val[k][s.n];

			if (cols[k].index < 0) {
				*dst = NAN;
				continue;
			}
			if (k == PC_CLOSE)
				ret_code = row_number(&r, cols[k].index, names[k], 0,
						      CSV_MIN_PRICE, CSV_MAX_PRICE, dst);
			else
				ret_code = row_number(&r, cols[k].index, names[k], 1, 0.0,
						      k == PC_VOLUME ? CSV_MAX_VOLUME : CSV_MAX_PRICE,
						      dst);
			if (ret_code < 0)
				goto out;
			if (!isnan(*dst))
				has[k] = 1;
		}
		s.n++;
	}
	if (s.n == 0) {
		csv_errf(&r, "no data rows after the header");
		ret_code = -EINVAL;
		goto out;
	}
	s.has_open = has[PC_OPEN];
	s.has_high = has[PC_HIGH];
	s.has_low = has[PC_LOW];
	s.has_volume = has[PC_VOLUME];
	*ret = s;
	memset(&s, 0, sizeof(s));
	ret_code = 0;
out:
	if (ret_code == -ENOMEM && err && errlen > 0)
		snprintf(err, errlen, "%s: out of memory", path);
	price_series_free(&s);
	csv_close(&r);
	return ret_code;
}

void signal_series_free(SignalSeries *s)
{
	if (!s)
		return;
	free(s->date);
	free(s->direction);
	free(s->confidence);
	memset(s, 0, sizeof(*s));
}

enum { SC_DATE, SC_DIRECTION, SC_CONFIDENCE, SC_N };

int csv_load_signals(const char *path, SignalSeries *ret, char *err, size_t errlen)
{
	static const char *const a_date[] = {"date", NULL};
	static const char *const a_dir[] = {"direction", NULL};
	static const char *const a_conf[] = {"confidence", NULL};
	static const int required[SC_N] = {1, 1, 1};
	CsvColumn cols[SC_N] = {
		{"date", a_date, -1}, {"direction", a_dir, -1},
		{"confidence", a_conf, -1},
	};
	CsvReader r = {.path = path, .err = err, .errlen = errlen};
	SignalSeries s = {0};
	size_t cap = 0, i;
	int ret_code, k, any_minus = 0;

	if (err && errlen > 0)
		err[0] = '\0';
	if (!path || !ret)
		return -EINVAL;
	ret_code = csv_open(&r, cols, SC_N, required);
	if (ret_code < 0)
		goto out;
	for (;;) {
		int32_t prev = s.n ? s.date[s.n - 1] : 0;
		const CsvField *f;
		double d;
		char q[48];

		k = csv_next_row(&r);
		if (k < 0) {
			ret_code = k;
			goto out;
		}
		if (k == 0)
			break;
		if (s.n == cap) {
			void **arrs[] = {(void **)&s.date, (void **)&s.direction,
					 (void **)&s.confidence};
			const size_t sz[] = {sizeof(int32_t), sizeof(int8_t),
					     sizeof(double)};

			cap = cap ? cap * 2 : 256;
			ret_code = grow_arrays(arrs, sz, 3, cap);
			if (ret_code < 0)
				goto out;
		}
		ret_code = row_date(&r, cols[SC_DATE].index, prev, &s.date[s.n]);
		if (ret_code < 0)
			goto out;
		f = &r.fields[cols[SC_DIRECTION].index];
		csv_quote(f, q, sizeof(q));
		if (field_equals_ci(f, "-1")) {
			s.direction[s.n] = -1;
			any_minus = 1;
		} else if (field_equals_ci(f, "0") || field_equals_ci(f, "+0") ||
			   field_equals_ci(f, "-0")) {
			s.direction[s.n] = 0;
		} else if (field_equals_ci(f, "1") || field_equals_ci(f, "+1")) {
			s.direction[s.n] = 1;
		} else {
			csv_errf(&r, "field 'direction': must be -1, 0 or 1, got '%s'", q);
			ret_code = -EINVAL;
			goto out;
		}
		ret_code = row_number(&r, cols[SC_CONFIDENCE].index, "confidence",
				      0, 1.0, 3.0, &d);
		if (ret_code < 0)
			goto out;
		s.confidence[s.n] = d;
		s.n++;
	}
	if (s.n == 0) {
		csv_errf(&r, "no data rows after the header");
		ret_code = -EINVAL;
		goto out;
	}
	/* The {0,1} encoding rule of csv.h. */
	if (!any_minus)
		for (i = 0; i < s.n; i++)
			if (s.direction[i] == 0)
				s.direction[i] = -1;
	*ret = s;
	memset(&s, 0, sizeof(s));
	ret_code = 0;
out:
	if (ret_code == -ENOMEM && err && errlen > 0)
		snprintf(err, errlen, "%s: out of memory", path);
	signal_series_free(&s);
	csv_close(&r);
	return ret_code;
}

int signals_align(const SignalSeries *s, const PriceSeries *p, double *ret_tau)
{
	size_t i, j = 0;
	double cur = 0.0;

	if (!p)
		return -EINVAL;
	if (p->n > 0 && !ret_tau)
		return -EINVAL;
	for (i = 0; i < p->n; i++) {
		/* Both series ascend: one merge pass. */
		while (s && j < s->n && s->date[j] <= p->date[i]) {
			cur = (double)s->direction[j] * s->confidence[j];
			j++;
		}
		ret_tau[i] = cur;
	}
	return 0;
}
