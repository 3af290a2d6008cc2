/* The run configuration (config.h).
 *
 * One table (keys[] below) drives parsing, range checks, config_write and
 * the error messages. The INI reader is our own: Debian's inih (version 55)
 * gives the handler no line number and caps lines at 200 bytes, which is
 * shorter than a real `tickers =` list; both matter for errors that must
 * say "file:line".
 *
 * INI dialect: `[section]`, `key = value`, whole-line comments starting
 * with ';' or '#', inline comments introduced by whitespace then ';' or
 * '#', an optional UTF-8 byte order mark, values optionally in double
 * quotes (then they may contain ';', '#' and edge spaces; string values
 * never contain '"'). Section and key names are case-insensitive. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum KeyType {
	T_INT,      /* int, range [lo, hi] */
	T_DOUBLE,   /* finite double, range with optional open ends */
	T_U64,      /* uint64_t, any value */
	T_SIZE,     /* uint64_t bytes, config_parse_size syntax */
	T_STRING,   /* char[], no '"' or control characters */
	T_PATH,     /* T_STRING resolved against the file's folder */
	T_ENUM,     /* one of values[], stored lower case */
	T_INTLIST,  /* hidden: 1..CONFIG_MAX_HIDDEN ints in [lo, hi] */
	T_GPUS,     /* "none" | "auto" | "0,1,..." */
	T_TICKERS,  /* comma list of names, may be empty */
	T_BOOL,     /* int 0/1; true/false, yes/no, on/off, 1/0 */
} KeyType;

/* MODEL: the key shapes the trained model (see config_key_is_model). */
enum { LO_OPEN = 1, HI_OPEN = 2, NONEMPTY = 4, MODEL = 8 };

enum { ORIGIN_DEFAULT = 0, ORIGIN_FILE = 1, ORIGIN_SET = 2 };

typedef struct Key {
	const char *section;
	const char *name;
	const char *alias;      /* second accepted name, or NULL */
	KeyType type;
	size_t offset;
	size_t size;
	double lo, hi;
	int flags;
	const char *const *values;
} Key;

static const char *const device_values[] = { "auto", "cpu", "cuda", NULL };
static const char *const model_values[] = { "ddqn", "lstm", NULL };
/* budget.ladder: batch first, then buffer and chunk in either order. */
static const char *const ladder_values[] = { "batch", "batch,buffer", "batch,chunk",
					     "batch,buffer,chunk", "batch,chunk,buffer", NULL };
static const char *const price_column_values[] = { "close", "adj_close", NULL };

#define FLD(f) offsetof(Config, f), sizeof(((Config *)0)->f)
#define KINT(s, f, lo, hi) { s, #f, NULL, T_INT, FLD(f), lo, hi, 0, NULL }
#define KINTM(s, f, lo, hi) { s, #f, NULL, T_INT, FLD(f), lo, hi, MODEL, NULL }
#define KDBL(s, f, lo, hi, fl) { s, #f, NULL, T_DOUBLE, FLD(f), lo, hi, fl, NULL }
#define KSTR(s, f, t, fl) { s, #f, NULL, t, FLD(f), 0, 0, fl, NULL }

static const Key keys[] = {
	KSTR("run", name, T_STRING, NONEMPTY),
	KSTR("run", data_dir, T_PATH, NONEMPTY),
	KSTR("run", tickers, T_TICKERS, 0),
	KSTR("run", signals_dir, T_PATH, 0),
	{ "run", "signals_required", NULL, T_BOOL, FLD(signals_required), 0, 1, 0, NULL },
	KSTR("run", out_dir, T_PATH, NONEMPTY),
	KINT("run", parallel, 1, 4096),
	KSTR("run", gpus, T_GPUS, 0),
	KINT("run", workers_per_gpu, 1, 256),
	KINT("run", max_attempts, 1, 1000),
	KDBL("run", hang_timeout, 0, 1e7, LO_OPEN),
	KDBL("run", backoff, 0, 1e7, 0),
	{ "run", "device", NULL, T_ENUM, FLD(device), 0, 0, 0, device_values },
	{ "run", "model", NULL, T_ENUM, FLD(model), 0, 0, MODEL, model_values },
	{ "run", "seed", NULL, T_U64, FLD(seed), 0, 0, MODEL, NULL },
	/* Which column of the price file is the close (Yahoo's Adj Close on request). */
	{ "run", "price_column", NULL, T_ENUM, FLD(price_column), 0, 0, MODEL, price_column_values },
	KINT("run", checkpoint_every, 1, INT_MAX),
	KINTM("run", threads, 1, 1024),
	KDBL("run", heartbeat, 0, 3600, LO_OPEN),
	KINT("run", chunks_at_once, 0, 16),
	KSTR("run", metrics_file, T_PATH, 0),
	KINT("run", keep_checkpoints, 0, 1),
	KDBL("run", db_lock_timeout, 0, 1e7, LO_OPEN),

	{ "budget", "rss", "budget_rss", T_SIZE, FLD(budget_rss), 0, 0, 0, NULL },
	{ "budget", "vram", "budget_vram", T_SIZE, FLD(budget_vram), 0, 0, 0, NULL },
	KINT("budget", poll_ms, 1, 3600000),
	KDBL("budget", soft_fraction, 0, 1, LO_OPEN),
	{ "budget", "wal", NULL, T_SIZE, FLD(budget_wal), 0, 0, 0, NULL },
	{ "budget", "ladder", NULL, T_ENUM, FLD(ladder), 0, 0, 0, ladder_values },
	KINT("budget", min_buffer_size, 1, INT_MAX),
	KINT("budget", min_chunk_length, 2, INT_MAX),

	KINT("rewts", batch_size, 1, 1 << 24),
	KINTM("rewts", buffer_size, 1, INT_MAX),
	KINTM("rewts", chunk_length, 2, INT_MAX),
	KINTM("rewts", episodes_per_chunk, 1, INT_MAX),
	KINTM("rewts", lookback_length, 2, INT_MAX),
	KINTM("rewts", fit_weights_every, 1, INT_MAX),
	KINT("rewts", min_batch_size, 1, 1 << 24),
	{ "rewts", "hidden", NULL, T_INTLIST, FLD(hidden), 1, 1 << 16, MODEL, NULL },
	KDBL("rewts", learning_rate, 0, 10, LO_OPEN | MODEL),
	KDBL("rewts", gamma, 0, 1, MODEL),
	KDBL("rewts", grad_clip, 0, 1e12, LO_OPEN | MODEL),
	KINTM("rewts", target_update_every, 1, INT_MAX),
	KDBL("rewts", epsilon_start, 0, 1, MODEL),
	KDBL("rewts", epsilon_decay, 0, 1, LO_OPEN | MODEL),
	KDBL("rewts", epsilon_min, 0, 1, MODEL),
	KINTM("rewts", lstm_hidden, 1, 1 << 16),
	KINTM("rewts", lstm_layers, 1, 64),
	KINTM("rewts", lstm_window, 1, 1 << 20),
	KDBL("rewts", lstm_learning_rate, 0, 10, LO_OPEN | MODEL),
	KINTM("rewts", lstm_epochs, 1, INT_MAX),
	KINTM("rewts", lstm_patience, 0, INT_MAX),

	KDBL("env", initial_balance, 0, 1e15, LO_OPEN | MODEL),
	KDBL("env", transaction_cost, 0, 1, HI_OPEN | MODEL),
	KDBL("env", buy_fraction, 0, 1, LO_OPEN | MODEL),
	KDBL("env", vol_penalty, 0, 1e12, MODEL),
	KDBL("env", dd_penalty, 0, 1e12, MODEL),
	KDBL("env", dd_threshold, 0, 1, MODEL),
	KDBL("env", change_penalty, 0, 1e12, MODEL),

	KDBL("backtest", test_fraction, 0, 1, LO_OPEN | HI_OPEN | MODEL),
};

#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))
_Static_assert(sizeof keys / sizeof keys[0] <= CONFIG_MAX_KEYS,
	       "CONFIG_MAX_KEYS too small for the key table");

static const char *const sections[] = { "run", "budget", "rewts", "env", "backtest" };
#define N_SECTIONS ((int)(sizeof sections / sizeof sections[0]))

/* ---- small helpers ---- */

static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;

	if (!buf || len == 0)
		return;
	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

static void *field(Config *cfg, const Key *k)
{
	return (char *)cfg + k->offset;
}

static const void *cfield(const Config *cfg, const Key *k)
{
	return (const char *)cfg + k->offset;
}

/* Trims leading and trailing whitespace in place; returns the new start. */
static char *trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int find_key(const char *section, const char *name)
{
	for (int i = 0; i < N_KEYS; i++) {
		if (strcasecmp(keys[i].section, section) != 0)
			continue;
		if (strcasecmp(keys[i].name, name) == 0 ||
		    (keys[i].alias && strcasecmp(keys[i].alias, name) == 0))
			return i;
	}
	return -1;
}

static int find_section(const char *name)
{
	for (int i = 0; i < N_SECTIONS; i++)
		if (strcasecmp(sections[i], name) == 0)
			return i;
	return -1;
}

/* Case-insensitive Levenshtein distance of two short strings, or limit + 1
 * once it is certain to exceed limit (longer strings are simply "far").
 * The cut-off keeps a hostile name cheap: each row's minimum never
 * decreases, so the loop stops at the first row above the limit. */
static int distance(const char *a, const char *b, int limit)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[65];

	if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > (size_t)limit)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0], low;
		row[0] = (int)i;
		low = row[0];
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			int best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
			if (best < low)
				low = best;
		}
		if (low > limit)
			return limit + 1;
	}
	return row[lb] > limit ? limit + 1 : row[lb];
}

/* Writes " (did you mean 'x.y'?)" for a close key, or "" when none is:
 * the first key at the smallest distance, if that is at most 2 or a
 * quarter of the name. */
static void suggest_key(const char *section, const char *name, char *buf, size_t len)
{
	char want[160], cand[160];
	int best = -1, best_d, near;

	buf[0] = '\0';
	snprintf(want, sizeof want, "%s.%s", section, name);
	near = (int)strlen(want) / 4 > 2 ? (int)strlen(want) / 4 : 2;
	best_d = near + 1;
	for (int i = 0; i < N_KEYS && best_d > 0; i++) {
		int d;
		/* The right key in the wrong section is the likeliest slip. */
		if (strcasecmp(keys[i].name, name) == 0) {
			best = i;
			best_d = 0;
			break;
		}
		snprintf(cand, sizeof cand, "%s.%s", keys[i].section, keys[i].name);
		/* Only a strictly closer key can replace the best so far. */
		d = distance(want, cand, best_d - 1);
		if (d < best_d) {
			best_d = d;
			best = i;
		}
	}
	if (best >= 0)
		snprintf(buf, len, " (did you mean '%s.%s'?)", keys[best].section, keys[best].name);
}

static void suggest_section(const char *name, char *buf, size_t len)
{
	int best = -1, best_d = 3;

	buf[0] = '\0';
	for (int i = 0; i < N_SECTIONS && best_d > 0; i++) {
		int d = distance(name, sections[i], best_d - 1);
		if (d < best_d) {
			best_d = d;
			best = i;
		}
	}
	if (best >= 0)
		snprintf(buf, len, " (did you mean '[%s]'?)", sections[best]);
}

/* ---- value formatting ---- */

static void key_format(const Config *cfg, const Key *k, char *buf, size_t len)
{
	const void *p = cfield(cfg, k);

	switch (k->type) {
	case T_INT:
		snprintf(buf, len, "%d", *(const int *)p);
		break;
	case T_DOUBLE: {
		/* The shortest of %.15g..%.17g that reads back to the same
		 * bits: 0.9, not 0.90000000000000002. */
		double v = *(const double *)p;
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, len, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		break;
	}
	case T_U64:
		snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", *(const int *)p ? "true" : "false");
		break;
	case T_SIZE:
		if (*(const uint64_t *)p == CONFIG_SIZE_AUTO)
			snprintf(buf, len, "auto");
		else
			snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case T_INTLIST: {
		size_t used = 0;
		buf[0] = '\0';
		for (int i = 0; i < cfg->n_hidden && i < CONFIG_MAX_HIDDEN; i++) {
			int n = snprintf(buf + used, len - used, "%s%d", i ? "," : "", cfg->hidden[i]);
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
		break;
	}
	default:
		snprintf(buf, len, "%.*s", (int)k->size, (const char *)p);
		break;
	}
}

/* Describes the origin of key index ki. */
static void describe_origin(const Config *cfg, int ki, char *buf, size_t len)
{
	char val[256];

	switch (cfg->origin[ki].kind) {
	case ORIGIN_FILE:
		snprintf(buf, len, "%s:%d", cfg->origin_files[cfg->origin[ki].file],
			 cfg->origin[ki].line);
		break;
	case ORIGIN_SET:
		key_format(cfg, &keys[ki], val, sizeof val);
		snprintf(buf, len, "--set %s.%s=%s", keys[ki].section, keys[ki].name, val);
		break;
	default:
		snprintf(buf, len, "default");
		break;
	}
}

/* ---- value parsing ---- */

/* Range check of a number against key k; why gets "must be >= 1". */
static int check_range(const Key *k, double v, char *why, size_t len)
{
	bool lo_open = k->flags & LO_OPEN, hi_open = k->flags & HI_OPEN;

	if (lo_open ? !(v > k->lo) : !(v >= k->lo)) {
		fmt(why, len, "must be %s %.17g", lo_open ? ">" : ">=", k->lo);
		return -EINVAL;
	}
	if (hi_open ? !(v < k->hi) : !(v <= k->hi)) {
		fmt(why, len, "must be %s %.17g", hi_open ? "<" : "<=", k->hi);
		return -EINVAL;
	}
	return 0;
}

static int parse_ll(const char *text, long long *ret)
{
	char *end;
	long long v;

	if (!*text || isspace((unsigned char)*text))
		return -EINVAL;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (end == text || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*ret = v;
	return 0;
}

static int check_string(const Key *k, const char *text, char *why, size_t len)
{
	if ((k->flags & NONEMPTY) && !*text) {
		fmt(why, len, "must not be empty");
		return -EINVAL;
	}
	for (const char *c = text; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '"') {
			fmt(why, len, "must not contain '\"' or control characters");
			return -EINVAL;
		}
	}
	if (strlen(text) >= k->size) {
		fmt(why, len, "longer than %zu characters", k->size - 1);
		return -EINVAL;
	}
	return 0;
}

/* Canonical form of a GPU list into out (len bytes): "none", "auto" or
 * "0,1" with spaces dropped. */
static int parse_gpus(const char *text, char *out, size_t len)
{
	char buf[512], *save = NULL, *tok;
	bool seen[256] = { false };
	size_t used = 0;
	int n = 0;

	if (strcasecmp(text, "none") == 0 || strcasecmp(text, "auto") == 0) {
		snprintf(out, len, "%s", tolower((unsigned char)text[0]) == 'n' ? "none" : "auto");
		return 0;
	}
	if (strlen(text) >= sizeof buf || !*text)
		return -EINVAL;
	strcpy(buf, text);
	if (buf[strlen(buf) - 1] == ',' || buf[0] == ',' || strstr(buf, ",,"))
		return -EINVAL;
	out[0] = '\0';
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long long id;
		int w;
		tok = trim(tok);
		if (parse_ll(tok, &id) < 0 || id < 0 || id > 255 || !isdigit((unsigned char)tok[0]))
			return -EINVAL;
		if (seen[id])
			return -EINVAL;
		seen[id] = true;
		w = snprintf(out + used, len - used, "%s%lld", n ? "," : "", id);
		if (w < 0 || (size_t)w >= len - used)
			return -EINVAL;
		used += (size_t)w;
		n++;
	}
	return n > 0 ? 0 : -EINVAL;
}

int config_check_ticker(const char *name, char *why, size_t whylen)
{
	if (!*name) {
		fmt(why, whylen, "empty ticker name");
		return -EINVAL;
	}
	if (strlen(name) > 255) {
		fmt(why, whylen, "ticker name longer than 255 characters");
		return -EINVAL;
	}
	for (const char *c = name; *c; c++) {
		/* strchr would also match the terminating NUL. */
		if (!isalnum((unsigned char)*c) && (!*c || !strchr("._-^=", *c))) {
			fmt(why, whylen, "ticker '%s' has a character other than letters, digits, '.', '_', '-', '^', '='", name);
			return -EINVAL;
		}
	}
	return 0;
}

/* Canonical ticker list: items trimmed, joined by ','. */
static int parse_tickers(const char *text, char *out, size_t len, char *why, size_t whylen)
{
	const char *p = text;
	size_t used = 0;

	out[0] = '\0';
	if (!*text)
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char item[256];

		if (n >= sizeof item) {
			fmt(why, whylen, "ticker name longer than %zu characters", sizeof item - 1);
			return -EINVAL;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		char *t = trim(item);
		if (!*t) {
			fmt(why, whylen, "empty ticker name in the list");
			return -EINVAL;
		}
		if (config_check_ticker(t, why, whylen) < 0)
			return -EINVAL;
		size_t tl = strlen(t);
		if (used + (used ? 1 : 0) + tl >= len) {
			fmt(why, whylen, "list longer than %zu characters", len - 1);
			return -EINVAL;
		}
		if (used)
			out[used++] = ',';
		memcpy(out + used, t, tl + 1);
		used += tl;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

/* Joins a relative path onto dir (absolute). Empty and absolute paths are
 * kept. Returns -ENAMETOOLONG when the result does not fit. */
static int resolve_path(const char *dir, const char *path, char *out, size_t len)
{
	int n;

	if (!*path || path[0] == '/' || !dir)
		n = snprintf(out, len, "%s", path);
	else if (strcmp(path, ".") == 0)
		n = snprintf(out, len, "%s", dir);
	else if (strncmp(path, "./", 2) == 0)
		n = snprintf(out, len, "%s/%s", dir, path + 2);
	else
		n = snprintf(out, len, "%s/%s", dir, path);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* Parses text into key ki of cfg. base_dir (absolute, or NULL to keep the
 * text as is) resolves relative paths. On failure why gets the reason
 * (without the origin or the value) and cfg may be partly written. */
static int key_parse(Config *cfg, int ki, const char *text, const char *base_dir,
		     char *why, size_t len)
{
	const Key *k = &keys[ki];
	void *p = field(cfg, k);
	int r;

	switch (k->type) {
	case T_INT: {
		long long v;
		r = parse_ll(text, &v);
		if (r == -EINVAL) {
			fmt(why, len, "expected an integer");
			return -EINVAL;
		}
		if (r == -ERANGE)
			v = text[0] == '-' ? LLONG_MIN : LLONG_MAX;
		if (check_range(k, (double)v, why, len) < 0)
			return -EINVAL;
		*(int *)p = (int)v;
		return 0;
	}
	case T_DOUBLE: {
		char *end;
		double v;
		if (!*text) {
			fmt(why, len, "expected a number");
			return -EINVAL;
		}
		errno = 0;
		v = strtod(text, &end);
		if (end == text || *end != '\0') {
			fmt(why, len, "expected a number");
			return -EINVAL;
		}
		if (!isfinite(v)) {
			fmt(why, len, "must be a finite number");
			return -EINVAL;
		}
		if (check_range(k, v, why, len) < 0)
			return -EINVAL;
		*(double *)p = v;
		return 0;
	}
	case T_U64: {
		char *end;
		unsigned long long v;
		if (!isdigit((unsigned char)text[0])) {
			fmt(why, len, "expected a non-negative integer");
			return -EINVAL;
		}
		errno = 0;
		v = strtoull(text, &end, 10);
		if (*end != '\0') {
			fmt(why, len, "expected a non-negative integer");
			return -EINVAL;
		}
		if (errno == ERANGE) {
			fmt(why, len, "must be <= %llu", (unsigned long long)UINT64_MAX);
			return -EINVAL;
		}
		*(uint64_t *)p = v;
		return 0;
	}
	case T_SIZE: {
		uint64_t v;
		if (!strcasecmp(text, "auto")) {
			*(uint64_t *)p = CONFIG_SIZE_AUTO;
			return 0;
		}
		if (config_parse_size(text, &v) < 0 || v == CONFIG_SIZE_AUTO) {
			fmt(why, len, "expected a size such as 512MiB, 2GiB, 1.5GiB, 2GB or 1000000 (0 = unlimited), or auto");
			return -EINVAL;
		}
		*(uint64_t *)p = v;
		return 0;
	}
	case T_STRING:
		r = check_string(k, text, why, len);
		if (r < 0)
			return r;
		memcpy(p, text, strlen(text) + 1);
		return 0;
	case T_PATH: {
		char tmp[CONFIG_PATH_MAX];
		r = check_string(k, text, why, len);
		if (r < 0)
			return r;
		if (resolve_path(base_dir, text, tmp, sizeof tmp) < 0) {
			fmt(why, len, "path longer than %d characters once made relative to the file's folder",
			    CONFIG_PATH_MAX - 1);
			return -EINVAL;
		}
		memcpy(p, tmp, strlen(tmp) + 1);
		return 0;
	}
	case T_ENUM: {
		char list[128];
		size_t used = 0;
		for (int i = 0; k->values[i]; i++) {
			if (strcasecmp(text, k->values[i]) == 0) {
				snprintf(p, k->size, "%s", k->values[i]);
				return 0;
			}
		}
		list[0] = '\0';
		for (int i = 0; k->values[i]; i++)
			used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
						 i ? ", " : "", k->values[i]);
		fmt(why, len, "must be one of %s", list);
		return -EINVAL;
	}
	case T_INTLIST: {
		char buf[256], *save = NULL, *tok;
		int vals[CONFIG_MAX_HIDDEN], n = 0;
		size_t tl = strlen(text);
		if (!tl || tl >= sizeof buf || text[0] == ',' || text[tl - 1] == ',' ||
		    strstr(text, ",,")) {
			fmt(why, len, "expected 1 to %d positive integers separated by ','", CONFIG_MAX_HIDDEN);
			return -EINVAL;
		}
		strcpy(buf, text);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			long long v;
			tok = trim(tok);
			if (n == CONFIG_MAX_HIDDEN || parse_ll(tok, &v) < 0) {
				fmt(why, len, "expected 1 to %d positive integers separated by ','", CONFIG_MAX_HIDDEN);
				return -EINVAL;
			}
			if (check_range(k, (double)v, why, len) < 0)
				return -EINVAL;
			vals[n++] = (int)v;
		}
		memcpy(cfg->hidden, vals, sizeof(int) * (size_t)n);
		for (int i = n; i < CONFIG_MAX_HIDDEN; i++)
			cfg->hidden[i] = 0;
		cfg->n_hidden = n;
		return 0;
	}
	case T_GPUS: {
		char tmp[256];
		if (parse_gpus(text, tmp, sizeof tmp) < 0 || strlen(tmp) >= k->size) {
			fmt(why, len, "must be none, auto or a list of distinct GPU ids 0..255 like 0,1");
			return -EINVAL;
		}
		memcpy(p, tmp, strlen(tmp) + 1);
		return 0;
	}
	case T_BOOL: {
		static const char *const yes[] = { "true", "yes", "on", "1" };
		static const char *const no[] = { "false", "no", "off", "0" };
		for (int i = 0; i < 4; i++) {
			if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
				*(int *)p = strcasecmp(text, yes[i]) == 0;
				return 0;
			}
		}
		fmt(why, len, "expected true or false");
		return -EINVAL;
	}
	case T_TICKERS: {
		char tmp[sizeof cfg->tickers];
		r = parse_tickers(text, tmp, sizeof tmp, why, len);
		if (r < 0)
			return r;
		memcpy(p, tmp, strlen(tmp) + 1);
		return 0;
	}
	}
	return -EINVAL;
}

/* Checks the value stored for key ki as config_validate does for a single
 * key (for fields a program set directly). */
static int key_check(const Config *cfg, int ki, char *why, size_t len)
{
	const Key *k = &keys[ki];
	const void *p = cfield(cfg, k);

	switch (k->type) {
	case T_INT:
		return check_range(k, *(const int *)p, why, len);
	case T_DOUBLE:
		if (!isfinite(*(const double *)p)) {
			fmt(why, len, "must be a finite number");
			return -EINVAL;
		}
		return check_range(k, *(const double *)p, why, len);
	case T_U64:
	case T_SIZE:
		return 0;
	case T_BOOL:
		if (*(const int *)p != 0 && *(const int *)p != 1) {
			fmt(why, len, "expected true or false");
			return -EINVAL;
		}
		return 0;
	case T_INTLIST:
		if (cfg->n_hidden < 1 || cfg->n_hidden > CONFIG_MAX_HIDDEN) {
			fmt(why, len, "expected 1 to %d positive integers separated by ','", CONFIG_MAX_HIDDEN);
			return -EINVAL;
		}
		for (int i = 0; i < cfg->n_hidden; i++)
			if (check_range(k, cfg->hidden[i], why, len) < 0)
				return -EINVAL;
		return 0;
	default: {
		/* Strings: re-parse a copy of the stored text. */
		Config *tmp = malloc(sizeof *tmp);
		char text[sizeof cfg->tickers + 1];
		int r;
		if (!tmp)
			return -ENOMEM;
		if (memchr(p, '\0', k->size) == NULL) {
			free(tmp);
			fmt(why, len, "is not terminated");
			return -EINVAL;
		}
		snprintf(text, sizeof text, "%s", (const char *)p);
		r = key_parse(tmp, ki, text, NULL, why, len);
		free(tmp);
		return r;
	}
	}
}

/* ---- public API ---- */

void config_defaults(Config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->name, sizeof cfg->name, "run");
	snprintf(cfg->data_dir, sizeof cfg->data_dir, "data");
	cfg->tickers[0] = '\0';
	cfg->signals_dir[0] = '\0';
	snprintf(cfg->out_dir, sizeof cfg->out_dir, "out");
	cfg->parallel = 1;
	snprintf(cfg->gpus, sizeof cfg->gpus, "none");
	cfg->workers_per_gpu = 1;
	cfg->max_attempts = 3;
	cfg->hang_timeout = 60;
	cfg->backoff = 1;
	snprintf(cfg->device, sizeof cfg->device, "auto");
	snprintf(cfg->model, sizeof cfg->model, "ddqn");
	snprintf(cfg->price_column, sizeof cfg->price_column, "close");
	cfg->seed = 42;
	cfg->checkpoint_every = 10;
	cfg->threads = 1;
	cfg->heartbeat = 1;
	cfg->chunks_at_once = 0;
	cfg->db_lock_timeout = 600;
	cfg->budget_wal = 256ull << 20;

	cfg->budget_rss = 0;
	cfg->budget_vram = 0;
	cfg->poll_ms = 100;
	cfg->soft_fraction = 0.9;
	snprintf(cfg->ladder, sizeof cfg->ladder, "batch");
	cfg->min_buffer_size = 1000;
	cfg->min_chunk_length = 100;

	cfg->batch_size = 128;
	cfg->buffer_size = 50000;
	cfg->chunk_length = 400;
	cfg->episodes_per_chunk = 100;
	cfg->lookback_length = 200;
	cfg->fit_weights_every = 20;
	cfg->min_batch_size = 8;
	cfg->hidden[0] = 256;
	cfg->hidden[1] = 256;
	cfg->hidden[2] = 128;
	cfg->n_hidden = 3;
	cfg->learning_rate = 5e-4;
	cfg->gamma = 0.995;
	cfg->grad_clip = 1.0;
	cfg->target_update_every = 20;
	cfg->epsilon_start = 1.0;
	cfg->epsilon_decay = 0.998;
	cfg->epsilon_min = 0.05;
	cfg->lstm_hidden = 64;
	cfg->lstm_layers = 2;
	cfg->lstm_window = 42;
	cfg->lstm_learning_rate = 1e-3;
	cfg->lstm_epochs = 50;
	cfg->lstm_patience = 10;

	cfg->initial_balance = 10000;
	cfg->transaction_cost = 0.0015;
	cfg->buy_fraction = 0.95;
	cfg->vol_penalty = 2.0;
	cfg->dd_penalty = 5.0;
	cfg->dd_threshold = 0.05;
	cfg->change_penalty = 0.0005;

	cfg->test_fraction = 0.3;
	/* origin[] and origin_files[] are zero: every key is "default". */
}

int config_parse_size(const char *text, uint64_t *ret_bytes)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "", 1 }, { "b", 1 },
		{ "kb", 1000ull }, { "mb", 1000000ull }, { "gb", 1000000000ull },
		{ "tb", 1000000000000ull },
		{ "kib", 1ull << 10 }, { "mib", 1ull << 20 }, { "gib", 1ull << 30 },
		{ "tib", 1ull << 40 },
	};
	const char *p = text, *num_end;
	char unit[8];
	uint64_t mult = 0;
	size_t ul;
	bool plain = true;

	if (!text)
		return -EINVAL;
	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
		return -EINVAL;
	/* The number: digits, an optional fraction, an optional exponent. */
	num_end = p;
	while (isdigit((unsigned char)*num_end))
		num_end++;
	if (*num_end == '.') {
		plain = false;
		num_end++;
		while (isdigit((unsigned char)*num_end))
			num_end++;
	}
	if ((*num_end == 'e' || *num_end == 'E') &&
	    (isdigit((unsigned char)num_end[1]) ||
	     ((num_end[1] == '+' || num_end[1] == '-') && isdigit((unsigned char)num_end[2])))) {
		plain = false;
		num_end += 2;
		while (isdigit((unsigned char)*num_end))
			num_end++;
	}
	/* The unit, case-insensitive, after optional spaces. */
	const char *u = num_end;
	while (isspace((unsigned char)*u))
		u++;
	ul = strlen(u);
	while (ul > 0 && isspace((unsigned char)u[ul - 1]))
		ul--;
	if (ul >= sizeof unit)
		return -EINVAL;
	for (size_t i = 0; i < ul; i++)
		unit[i] = (char)tolower((unsigned char)u[i]);
	unit[ul] = '\0';
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(unit, units[i].unit) == 0)
			mult = units[i].mult;
	if (!mult)
		return -EINVAL;

	if (plain) {
		/* Integers stay exact: no trip through double. */
		unsigned long long v = 0;
		for (const char *c = p; c < num_end; c++) {
			if (__builtin_mul_overflow(v, 10ull, &v) ||
			    __builtin_add_overflow(v, (unsigned long long)(*c - '0'), &v))
				return -EINVAL;
		}
		if (__builtin_mul_overflow(v, (unsigned long long)mult, &v))
			return -EINVAL;
		*ret_bytes = v;
		return 0;
	} else {
		char num[128];
		size_t nl = (size_t)(num_end - p);
		double v;
		if (nl >= sizeof num)
			return -EINVAL;
		memcpy(num, p, nl);
		num[nl] = '\0';
		v = strtod(num, NULL) * (double)mult;
		/* 2^64 is exactly representable; anything at or above overflows. */
		if (!isfinite(v) || v < 0 || v >= 18446744073709551616.0)
			return -EINVAL;
		*ret_bytes = (uint64_t)v; /* fractions of a byte are dropped */
		return 0;
	}
}

/* Remembers a file name for origins; returns its slot. */
static int origin_file_slot(Config *cfg, const char *path)
{
	int slot;

	for (int i = 0; i < cfg->n_origin_files; i++)
		if (strcmp(cfg->origin_files[i], path) == 0)
			return i;
	if (cfg->n_origin_files < CONFIG_MAX_FILES)
		slot = cfg->n_origin_files++;
	else
		slot = CONFIG_MAX_FILES - 1;
	snprintf(cfg->origin_files[slot], CONFIG_PATH_MAX, "%s", path);
	return slot;
}

/* The absolute folder of path into out. */
static int file_dir(const char *path, char *out, size_t len)
{
	char cwd[CONFIG_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n;

	if (path[0] == '/') {
		if (slash == path)
			n = snprintf(out, len, "/");
		else
			n = snprintf(out, len, "%.*s", (int)(slash - path), path);
	} else {
		if (!getcwd(cwd, sizeof cwd))
			return -errno;
		if (slash)
			n = snprintf(out, len, "%s/%.*s", strcmp(cwd, "/") ? cwd : "",
				     (int)(slash - path), path);
		else
			n = snprintf(out, len, "%s", cwd);
	}
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* Splits an unquoted or quoted value off the text after '='. Returns 0 and
 * sets *ret_value (pointing into s), or -EINVAL for a bad quote. */
static int split_value(char *s, char **ret_value)
{
	char *v = s;

	while (isspace((unsigned char)*v))
		v++;
	if (*v == '"') {
		char *close = strchr(v + 1, '"');
		char *rest;
		if (!close)
			return -EINVAL;
		*close = '\0';
		rest = close + 1;
		while (isspace((unsigned char)*rest))
			rest++;
		if (*rest && *rest != ';' && *rest != '#')
			return -EINVAL;
		*ret_value = v + 1;
		return 0;
	}
	/* Inline comments start at whitespace followed by ';' or '#'. */
	for (char *c = v; *c; c++) {
		if ((*c == ';' || *c == '#') && c > v && isspace((unsigned char)c[-1])) {
			*c = '\0';
			break;
		}
		if ((*c == ';' || *c == '#') && c == v) {
			*c = '\0';
			break;
		}
	}
	*ret_value = trim(v);
	return 0;
}

#define MAX_LINE (64 * 1024)

/* Largest configuration file config_load reads. */
#define MAX_FILE (16 * 1024 * 1024)

int config_load_text(Config *cfg, const char *text, size_t text_len, const char *path,
		     char *err, size_t errlen)
{
	Config *tmp = NULL;
	char *line = NULL;
	size_t pos = 0;
	int lineno = 0, section = -1, r = 0, slot;
	int first_line[N_KEYS] = { 0 };
	char dir[CONFIG_PATH_MAX];
	char why[512], hint[160];

	if (err && errlen)
		err[0] = '\0';
	r = file_dir(path, dir, sizeof dir);
	if (r < 0) {
		fmt(err, errlen, "%s: cannot find its folder: %s", path, strerror(-r));
		goto out;
	}
	tmp = malloc(sizeof *tmp);
	line = malloc(MAX_LINE + 2);
	if (!tmp || !line) {
		r = -ENOMEM;
		fmt(err, errlen, "%s: out of memory", path);
		goto out;
	}
	*tmp = *cfg;
	slot = origin_file_slot(tmp, path);

	while (pos < text_len) {
		char *s, *eq, *name, *value;
		const char *nl = memchr(text + pos, '\n', text_len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) + 1 : text_len - pos;
		int ki;

		lineno++;
		if (n > MAX_LINE) {
			fmt(err, errlen, "%s:%d: line longer than %d bytes", path, lineno, MAX_LINE);
			r = -EINVAL;
			goto out;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n;
		if (n != strlen(line)) {
			fmt(err, errlen, "%s:%d: NUL byte in the line", path, lineno);
			r = -EINVAL;
			goto out;
		}
		s = line;
		if (lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
			s += 3;
		s = trim(s);
		if (!*s || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			char *rest;
			if (!close) {
				fmt(err, errlen, "%s:%d: section header without ']': '%s'", path, lineno, s);
				r = -EINVAL;
				goto out;
			}
			*close = '\0';
			rest = trim(close + 1);
			if (*rest && *rest != ';' && *rest != '#') {
				fmt(err, errlen, "%s:%d: text after the section header: '%s'", path, lineno, rest);
				r = -EINVAL;
				goto out;
			}
			name = trim(s + 1);
			section = find_section(name);
			if (section < 0) {
				suggest_section(name, hint, sizeof hint);
				fmt(err, errlen, "%s:%d: unknown section '[%s]'%s", path, lineno, name, hint);
				r = -EINVAL;
				goto out;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			fmt(err, errlen, "%s:%d: expected 'key = value' or '[section]', got '%s'",
			    path, lineno, s);
			r = -EINVAL;
			goto out;
		}
		*eq = '\0';
		name = trim(s);
		if (!*name) {
			fmt(err, errlen, "%s:%d: missing key name before '='", path, lineno);
			r = -EINVAL;
			goto out;
		}
		if (section < 0) {
			fmt(err, errlen, "%s:%d: key '%s' before any [section]", path, lineno, name);
			r = -EINVAL;
			goto out;
		}
		ki = find_key(sections[section], name);
		if (ki < 0) {
			suggest_key(sections[section], name, hint, sizeof hint);
			fmt(err, errlen, "%s:%d: unknown key '%s.%s'%s", path, lineno,
			    sections[section], name, hint);
			r = -EINVAL;
			goto out;
		}
		if (first_line[ki]) {
			fmt(err, errlen, "%s:%d: duplicate key '%s.%s' (first set at line %d)", path,
			    lineno, keys[ki].section, keys[ki].name, first_line[ki]);
			r = -EINVAL;
			goto out;
		}
		first_line[ki] = lineno;
		if (split_value(eq + 1, &value) < 0) {
			fmt(err, errlen, "%s:%d: key '%s.%s': unbalanced '\"' in the value", path,
			    lineno, keys[ki].section, keys[ki].name);
			r = -EINVAL;
			goto out;
		}
		if (key_parse(tmp, ki, value, dir, why, sizeof why) < 0) {
			fmt(err, errlen, "%s:%d: key '%s.%s': %s, got '%s'", path, lineno,
			    keys[ki].section, keys[ki].name, why, value);
			r = -EINVAL;
			goto out;
		}
		tmp->origin[ki].kind = ORIGIN_FILE;
		tmp->origin[ki].file = (unsigned char)slot;
		tmp->origin[ki].line = lineno;
	}
	/* Default folders are relative to the config file's folder too. */
	for (int i = 0; i < N_KEYS; i++) {
		char *p;
		char buf[CONFIG_PATH_MAX];
		if (keys[i].type != T_PATH || tmp->origin[i].kind != ORIGIN_DEFAULT)
			continue;
		p = field(tmp, &keys[i]);
		if (resolve_path(dir, p, buf, sizeof buf) < 0) {
			fmt(err, errlen, "%s: default %s.%s too long once made relative to the file's folder",
			    path, keys[i].section, keys[i].name);
			r = -EINVAL;
			goto out;
		}
		memcpy(p, buf, strlen(buf) + 1);
	}
	*cfg = *tmp;
	r = 0;
out:
	free(line);
	free(tmp);
	return r;
}

int config_load(Config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (err && errlen)
		err[0] = '\0';
	f = fopen(path, "r");
	if (!f) {
		r = -errno;
		fmt(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	for (;;) {
		size_t got;
		if (len == cap) {
			char *grown;
			if (cap >= MAX_FILE) {
				fmt(err, errlen, "%s: larger than %d MiB, not a configuration file",
				    path, MAX_FILE >> 20);
				r = -EINVAL;
				goto out;
			}
			cap = cap ? 2 * cap : 16384;
			grown = realloc(text, cap);
			if (!grown) {
				fmt(err, errlen, "%s: out of memory", path);
				r = -ENOMEM;
				goto out;
			}
			text = grown;
		}
		got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		r = errno ? -errno : -EIO;
		fmt(err, errlen, "%s: read error: %s", path, strerror(-r));
		goto out;
	}
	r = config_load_text(cfg, text, len, path, err, errlen);
out:
	free(text);
	fclose(f);
	return r;
}

int config_set(Config *cfg, const char *assignment, char *err, size_t errlen)
{
	Config *tmp = NULL;
	char *copy = NULL, *eq, *dot, *lhs, *section, *name, *value;
	char why[512], hint[160], cwd[CONFIG_PATH_MAX];
	int ki, r;

	if (err && errlen)
		err[0] = '\0';
	copy = strdup(assignment);
	tmp = malloc(sizeof *tmp);
	if (!copy || !tmp) {
		r = -ENOMEM;
		fmt(err, errlen, "--set %s: out of memory", assignment);
		goto out;
	}
	*tmp = *cfg;
	eq = strchr(copy, '=');
	if (!eq) {
		r = -EINVAL;
		fmt(err, errlen, "--set %s: expected section.key=value", assignment);
		goto out;
	}
	*eq = '\0';
	lhs = trim(copy);
	dot = strchr(lhs, '.');
	if (!dot) {
		r = -EINVAL;
		fmt(err, errlen, "--set %s: expected section.key=value", assignment);
		goto out;
	}
	*dot = '\0';
	section = trim(lhs);
	name = trim(dot + 1);
	if (find_section(section) < 0) {
		suggest_section(section, hint, sizeof hint);
		r = -EINVAL;
		fmt(err, errlen, "--set %s: unknown section '[%s]'%s", assignment, section, hint);
		goto out;
	}
	ki = find_key(section, name);
	if (ki < 0) {
		suggest_key(sections[find_section(section)], name, hint, sizeof hint);
		r = -EINVAL;
		fmt(err, errlen, "--set %s: unknown key '%s.%s'%s", assignment,
		    sections[find_section(section)], name, hint);
		goto out;
	}
	value = trim(eq + 1);
	{
		size_t vl = strlen(value);
		if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
			value[vl - 1] = '\0';
			value++;
		}
	}
	/* Paths given on the command line are relative to the current
	 * directory; stored absolute so the text from config_write means the
	 * same wherever it is loaded from. */
	if (!getcwd(cwd, sizeof cwd)) {
		r = -errno;
		fmt(err, errlen, "--set %s: cannot read the current directory: %s", assignment,
		    strerror(-r));
		goto out;
	}
	if (key_parse(tmp, ki, value, cwd, why, sizeof why) < 0) {
		r = -EINVAL;
		fmt(err, errlen, "--set %s: key '%s.%s': %s, got '%s'", assignment, keys[ki].section,
		    keys[ki].name, why, value);
		goto out;
	}
	tmp->origin[ki].kind = ORIGIN_SET;
	tmp->origin[ki].file = 0;
	tmp->origin[ki].line = 0;
	*cfg = *tmp;
	r = 0;
out:
	free(copy);
	free(tmp);
	return r;
}

static int key_index(const char *dotted)
{
	for (int i = 0; i < N_KEYS; i++) {
		size_t sl = strlen(keys[i].section);
		if (strncmp(dotted, keys[i].section, sl) == 0 && dotted[sl] == '.' &&
		    strcmp(dotted + sl + 1, keys[i].name) == 0)
			return i;
	}
	return -1;
}

int config_origin(const Config *cfg, const char *key, char *buf, size_t len)
{
	int ki = key_index(key);

	if (ki < 0)
		return -ENOENT;
	describe_origin(cfg, ki, buf, len);
	return 0;
}

/* "ORIGIN: key 'a.b': must be <= c.d (V, from ORIGIN2), got 'X'" */
static int cross_error(const Config *cfg, const char *a, const char *rel, const char *b,
		       char *err, size_t errlen)
{
	int ka = key_index(a), kb = key_index(b);
	char oa[CONFIG_PATH_MAX + 32], ob[CONFIG_PATH_MAX + 32], va[64], vb[64];

	describe_origin(cfg, ka, oa, sizeof oa);
	describe_origin(cfg, kb, ob, sizeof ob);
	key_format(cfg, &keys[ka], va, sizeof va);
	key_format(cfg, &keys[kb], vb, sizeof vb);
	fmt(err, errlen, "%s: key '%s': must be %s %s (%s, from %s), got '%s'", oa, a, rel, b, vb,
	    ob, va);
	return -EINVAL;
}

int config_validate(const Config *cfg, char *err, size_t errlen)
{
	char why[512], origin[CONFIG_PATH_MAX + 32], val[4200];

	if (err && errlen)
		err[0] = '\0';
	for (int i = 0; i < N_KEYS; i++) {
		int r = key_check(cfg, i, why, sizeof why);
		if (r == -ENOMEM) {
			fmt(err, errlen, "out of memory");
			return r;
		}
		if (r < 0) {
			describe_origin(cfg, i, origin, sizeof origin);
			key_format(cfg, &keys[i], val, sizeof val);
			fmt(err, errlen, "%s: key '%s.%s': %s, got '%s'", origin, keys[i].section,
			    keys[i].name, why, val);
			return -EINVAL;
		}
	}
	if (cfg->buffer_size < cfg->batch_size)
		return cross_error(cfg, "rewts.buffer_size", ">=", "rewts.batch_size", err, errlen);
	if (cfg->min_batch_size > cfg->batch_size)
		return cross_error(cfg, "rewts.min_batch_size", "<=", "rewts.batch_size", err, errlen);
	if (cfg->epsilon_min > cfg->epsilon_start)
		return cross_error(cfg, "rewts.epsilon_min", "<=", "rewts.epsilon_start", err, errlen);
	return 0;
}

int config_write(const Config *cfg, FILE *f)
{
	const char *section = NULL;
	char val[4200];

	fprintf(f, "; tickervisor configuration (canonical form: every key)\n");
	for (int i = 0; i < N_KEYS; i++) {
		const Key *k = &keys[i];
		if (!section || strcmp(section, k->section) != 0) {
			fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
			section = k->section;
		}
		key_format(cfg, k, val, sizeof val);
		if (k->type == T_STRING || k->type == T_PATH || k->type == T_TICKERS)
			fprintf(f, "%s = \"%s\"\n", k->name, val);
		else
			fprintf(f, "%s = %s\n", k->name, val);
	}
	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

char *config_write_text(const Config *cfg, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (config_write(cfg, f) < 0) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	if (ret_len)
		*ret_len = len;
	return text;
}

int config_n_keys(void)
{
	return N_KEYS;
}

int config_key_info(int i, const char **ret_section, const char **ret_name, int *ret_model)
{
	if (i < 0 || i >= N_KEYS)
		return -ENOENT;
	if (ret_section)
		*ret_section = keys[i].section;
	if (ret_name)
		*ret_name = keys[i].name;
	if (ret_model)
		*ret_model = (keys[i].flags & MODEL) != 0;
	return 0;
}

int config_key_is_model(const char *key)
{
	int ki = key_index(key);

	if (ki < 0)
		return -ENOENT;
	return (keys[ki].flags & MODEL) != 0;
}

int config_key_value(const Config *cfg, int i, char *buf, size_t len)
{
	if (i < 0 || i >= N_KEYS)
		return -ENOENT;
	key_format(cfg, &keys[i], buf, len);
	return 0;
}

/* Same value for key k in a and b (doubles bit for bit). */
static int key_same(const Config *a, const Config *b, const Key *k)
{
	if (k->type == T_INTLIST)
		return a->n_hidden == b->n_hidden &&
		       memcmp(a->hidden, b->hidden, sizeof a->hidden) == 0;
	if (k->type == T_INT || k->type == T_DOUBLE || k->type == T_U64 || k->type == T_SIZE ||
	    k->type == T_BOOL)
		return memcmp(cfield(a, k), cfield(b, k), k->size) == 0;
	return strncmp(cfield(a, k), cfield(b, k), k->size) == 0;
}

int config_model_diff(const Config *was, const Config *now, char *buf, size_t len)
{
	size_t used = 0;
	int n = 0;
	char va[4200], vb[4200];

	if (buf && len)
		buf[0] = '\0';
	for (int i = 0; i < N_KEYS; i++) {
		const Key *k = &keys[i];
		int w;
		if (!(k->flags & MODEL) || key_same(was, now, k))
			continue;
		n++;
		if (!buf || used >= len)
			continue;
		key_format(was, k, va, sizeof va);
		key_format(now, k, vb, sizeof vb);
		w = snprintf(buf + used, len - used, "%s%s.%s = %s (recorded) / %s (now)",
			     used ? ", " : "", k->section, k->name, va, vb);
		used = w < 0 ? len : used + (size_t)w;
	}
	return n;
}

int config_equal(const Config *a, const Config *b)
{
	for (int i = 0; i < N_KEYS; i++)
		if (!key_same(a, b, &keys[i]))
			return 0;
	return 1;
}
