/* Unit tests of common/config.c: defaults, every class of bad value with
 * the exact origin in the message, unknown keys and sections, duplicates,
 * sizes, --set precedence, relative folders and the write/load round trip.
 * Fixtures are in tests/fixtures/config (TV_SOURCE_ROOT). Exits 1 when a
 * check fails and prints every failed check. */
#include "common/config.h"
#include "common/rng.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char fixtures[2048];  /* absolute path of tests/fixtures/config */
static char tmpdir[1024];    /* scratch folder, removed at the end */

static const char *fx(const char *name)
{
	static char buf[4][4096];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", fixtures, name);
	return buf[i];
}

/* Writes text to tmpdir/name and returns the path. */
static const char *write_tmp(const char *name, const char *text)
{
	static char path[2048];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads text (written to a temporary file) over defaults and expects
 * failure with exactly "PATH:" + suffix as the message. */
static void expect_load_error(const char *text, const char *suffix)
{
	Config cfg, before;
	char err[1024], want[4096];
	const char *path = write_tmp("t.ini", text);
	int r;

	config_defaults(&cfg);
	before = cfg;
	r = config_load(&cfg, path, err, sizeof err);
	snprintf(want, sizeof want, "%s:%s", path, suffix);
	CHECK(r == -EINVAL, "load of [%s] returned %d, want -EINVAL", text, r);
	CHECK_STR(err, want);
	CHECK(memcmp(&cfg, &before, sizeof cfg) == 0, "failed load of [%s] changed the config", text);
}

static void expect_set_error(const char *assignment, const char *message)
{
	Config cfg, before;
	char err[1024];
	int r;

	config_defaults(&cfg);
	before = cfg;
	r = config_set(&cfg, assignment, err, sizeof err);
	CHECK(r == -EINVAL, "set %s returned %d", assignment, r);
	CHECK_STR(err, message);
	CHECK(memcmp(&cfg, &before, sizeof cfg) == 0, "failed set %s changed the config", assignment);
}

static void test_defaults(void)
{
	Config c;
	char err[512];

	config_defaults(&c);
	/* The values documented in config.h and docs/training-job.md. */
	CHECK_STR(c.name, "run");
	CHECK_STR(c.out_dir, "out");
	CHECK_STR(c.tickers, "");
	CHECK_STR(c.signals_dir, "");
	CHECK(c.parallel == 1, "%d", c.parallel);
	CHECK_STR(c.gpus, "none");
	CHECK(c.workers_per_gpu == 1, "%d", c.workers_per_gpu);
	CHECK(c.max_attempts == 3, "%d", c.max_attempts);
	CHECK(c.hang_timeout == 60, "%g", c.hang_timeout);
	CHECK(c.backoff == 1, "%g", c.backoff);
	CHECK_STR(c.device, "auto");
	CHECK_STR(c.model, "ddqn");
	CHECK(c.seed == 42, "%llu", (unsigned long long)c.seed);
	CHECK(c.checkpoint_every == 10, "%d", c.checkpoint_every);
	CHECK(c.threads == 1, "%d", c.threads);
	CHECK(c.heartbeat == 1, "%g", c.heartbeat);
	CHECK(c.chunks_at_once == 0, "chunks_at_once %d", c.chunks_at_once);
	CHECK(c.budget_rss == 0 && c.budget_vram == 0, "budgets unlimited");
	CHECK(c.poll_ms == 100, "%d", c.poll_ms);
	CHECK(c.soft_fraction == 0.9, "%g", c.soft_fraction);
	CHECK(c.batch_size == 128, "%d", c.batch_size);
	CHECK(c.buffer_size == 50000, "%d", c.buffer_size);
	CHECK(c.chunk_length == 400, "%d", c.chunk_length);
	CHECK(c.episodes_per_chunk == 100, "%d", c.episodes_per_chunk);
	CHECK(c.lookback_length == 200, "%d", c.lookback_length);
	CHECK(c.fit_weights_every == 20, "%d", c.fit_weights_every);
	CHECK(c.min_batch_size == 8, "%d", c.min_batch_size);
	CHECK(c.n_hidden == 3 && c.hidden[0] == 256 && c.hidden[1] == 256 && c.hidden[2] == 128,
	      "hidden %d: %d,%d,%d", c.n_hidden, c.hidden[0], c.hidden[1], c.hidden[2]);
	CHECK(c.learning_rate == 5e-4, "%g", c.learning_rate);
	CHECK(c.gamma == 0.995, "%g", c.gamma);
	CHECK(c.grad_clip == 1.0, "%g", c.grad_clip);
	CHECK(c.target_update_every == 20, "%d", c.target_update_every);
	CHECK(c.epsilon_start == 1.0 && c.epsilon_decay == 0.998 && c.epsilon_min == 0.05, "epsilon");
	CHECK(c.lstm_hidden == 64 && c.lstm_layers == 2 && c.lstm_window == 42, "lstm shape");
	CHECK(c.lstm_learning_rate == 1e-3 && c.lstm_epochs == 50, "lstm training");
	CHECK(c.lstm_patience == 10, "lstm_patience %d", c.lstm_patience);
	CHECK(c.initial_balance == 10000 && c.transaction_cost == 0.0015 && c.buy_fraction == 0.95,
	      "env money");
	CHECK(c.vol_penalty == 2.0 && c.dd_penalty == 5.0 && c.dd_threshold == 0.05 &&
	      c.change_penalty == 0.0005, "env penalties");
	CHECK(c.test_fraction == 0.3, "%g", c.test_fraction);
	CHECK(config_validate(&c, err, sizeof err) == 0, "defaults do not validate: %s", err);
	CHECK(config_origin(&c, "rewts.batch_size", err, sizeof err) == 0, "origin");
	CHECK_STR(err, "default");
	CHECK(config_origin(&c, "rewts.nope", err, sizeof err) == -ENOENT, "unknown origin key");
}

static void test_sizes(void)
{
	static const struct { const char *text; uint64_t want; } good[] = {
		{ "0", 0 },
		{ "123", 123 },
		{ "512MiB", 512ull * 1024 * 1024 },
		{ "2GiB", 2ull * 1024 * 1024 * 1024 },
		{ "1.5GiB", 3ull * 512 * 1024 * 1024 },
		{ "64KiB", 64ull * 1024 },
		{ "1e9", 1000000000ull },
		{ "2GB", 2000000000ull },
		{ "2gib", 2ull << 30 },
		{ "2GIB", 2ull << 30 },
		{ "3 MiB", 3ull << 20 },
		{ "1TiB", 1ull << 40 },
		{ "5kb", 5000 },
		{ "7B", 7 },
		{ ".5KiB", 512 },
		{ "1.5e3KB", 1500000 },
		{ "18446744073709551615", UINT64_MAX },
		{ "16777215TiB", 16777215ull << 40 },
	};
	static const char *const bad[] = {
		"", " ", "-1", "-1GiB", "abc", "12abc", "1.5.5GiB", "GiB", "2 GiBs", "2G", "2K",
		"0x10", "nan", "inf", "1e999", "18446744073709551616", "16777216TiB",
		"20000000000000000000", "1e20", "+5", "1,5GiB", "2GiB extra", "e9",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		uint64_t v = 12345;
		int r = config_parse_size(good[i].text, &v);
		CHECK(r == 0 && v == good[i].want, "size '%s': r=%d got %llu want %llu", good[i].text,
		      r, (unsigned long long)v, (unsigned long long)good[i].want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v = 12345;
		int r = config_parse_size(bad[i], &v);
		CHECK(r == -EINVAL && v == 12345, "size '%s' accepted (r=%d, %llu)", bad[i], r,
		      (unsigned long long)v);
	}
}

static void test_bad_values(void)
{
	/* Each bad-value class, with the exact message. */
	expect_load_error("[rewts]\nbatch_size = 0\n",
			  "2: key 'rewts.batch_size': must be >= 1, got '0'");
	expect_load_error("[rewts]\n\nbatch_size = 12abc\n",
			  "3: key 'rewts.batch_size': expected an integer, got '12abc'");
	expect_load_error("[rewts]\nbatch_size =\n",
			  "2: key 'rewts.batch_size': expected an integer, got ''");
	expect_load_error("[rewts]\nbatch_size = 1.5\n",
			  "2: key 'rewts.batch_size': expected an integer, got '1.5'");
	expect_load_error("[rewts]\nbuffer_size = 99999999999999999999\n",
			  "2: key 'rewts.buffer_size': must be <= 2147483647, got '99999999999999999999'");
	expect_load_error("[rewts]\nbuffer_size = 2147483648\n",
			  "2: key 'rewts.buffer_size': must be <= 2147483647, got '2147483648'");
	expect_load_error("[rewts]\nbuffer_size = -3\n",
			  "2: key 'rewts.buffer_size': must be >= 1, got '-3'");
	expect_load_error("[rewts]\ngamma = nan\n",
			  "2: key 'rewts.gamma': must be a finite number, got 'nan'");
	expect_load_error("[rewts]\ngamma = -inf\n",
			  "2: key 'rewts.gamma': must be a finite number, got '-inf'");
	expect_load_error("[env]\ninitial_balance = 1e999\n",
			  "2: key 'env.initial_balance': must be a finite number, got '1e999'");
	expect_load_error("[rewts]\ngamma = 0.9x\n",
			  "2: key 'rewts.gamma': expected a number, got '0.9x'");
	expect_load_error("[rewts]\ngamma = 1.0000001\n",
			  "2: key 'rewts.gamma': must be <= 1, got '1.0000001'");
	expect_load_error("[backtest]\ntest_fraction = 1\n",
			  "2: key 'backtest.test_fraction': must be < 1, got '1'");
	expect_load_error("[backtest]\ntest_fraction = 0\n",
			  "2: key 'backtest.test_fraction': must be > 0, got '0'");
	expect_load_error("[budget]\nsoft_fraction = 0\n",
			  "2: key 'budget.soft_fraction': must be > 0, got '0'");
	expect_load_error("[budget]\nsoft_fraction = 1.01\n",
			  "2: key 'budget.soft_fraction': must be <= 1, got '1.01'");
	expect_load_error("[run]\nhang_timeout = 0\n",
			  "2: key 'run.hang_timeout': must be > 0, got '0'");
	expect_load_error("[rewts]\nepsilon_decay = 0\n",
			  "2: key 'rewts.epsilon_decay': must be > 0, got '0'");
	expect_load_error("[rewts]\nlookback_length = 1\n",
			  "2: key 'rewts.lookback_length': must be >= 2, got '1'");
	expect_load_error("[run]\nseed = -1\n",
			  "2: key 'run.seed': expected a non-negative integer, got '-1'");
	expect_load_error("[run]\nseed = 18446744073709551616\n",
			  "2: key 'run.seed': must be <= 18446744073709551615, got '18446744073709551616'");
	expect_load_error("[budget]\nrss = -1GiB\n",
			  "2: key 'budget.rss': expected a size such as 512MiB, 2GiB, 1.5GiB, 2GB or 1000000 (0 = unlimited), or auto, got '-1GiB'");
	expect_load_error("[run]\ndevice = gpu\n",
			  "2: key 'run.device': must be one of auto, cpu, cuda, got 'gpu'");
	expect_load_error("[run]\nmodel = transformer\n",
			  "2: key 'run.model': must be one of ddqn, lstm, got 'transformer'");
	expect_load_error("[rewts]\nhidden = 8,8,8,8,8\n",
			  "2: key 'rewts.hidden': expected 1 to 4 positive integers separated by ',', got '8,8,8,8,8'");
	expect_load_error("[rewts]\nhidden = 8,0\n",
			  "2: key 'rewts.hidden': must be >= 1, got '8,0'");
	expect_load_error("[rewts]\nhidden = 8,,8\n",
			  "2: key 'rewts.hidden': expected 1 to 4 positive integers separated by ',', got '8,,8'");
	expect_load_error("[rewts]\nhidden =\n",
			  "2: key 'rewts.hidden': expected 1 to 4 positive integers separated by ',', got ''");
	expect_load_error("[run]\ngpus = 0,0\n",
			  "2: key 'run.gpus': must be none, auto or a list of distinct GPU ids 0..255 like 0,1, got '0,0'");
	expect_load_error("[run]\ngpus = 0,x\n",
			  "2: key 'run.gpus': must be none, auto or a list of distinct GPU ids 0..255 like 0,1, got '0,x'");
	expect_load_error("[run]\ngpus = -1\n",
			  "2: key 'run.gpus': must be none, auto or a list of distinct GPU ids 0..255 like 0,1, got '-1'");
	expect_load_error("[run]\nname = \"\"\n",
			  "2: key 'run.name': must not be empty, got ''");
	expect_load_error("[run]\ntickers = AAPL,,MSFT\n",
			  "2: key 'run.tickers': empty ticker name in the list, got 'AAPL,,MSFT'");
	expect_load_error("[run]\ntickers = AAPL,../etc\n",
			  "2: key 'run.tickers': ticker '../etc' has a character other than letters, digits, '.', '_', '-', '^', '=', got 'AAPL,../etc'");
	expect_load_error("[run]\nname = \"unclosed\n",
			  "2: key 'run.name': unbalanced '\"' in the value");
	{
		char text[400], want[600];
		char long_name[200];
		memset(long_name, 'n', 128);
		long_name[128] = '\0';
		snprintf(text, sizeof text, "[run]\nname = %s\n", long_name);
		snprintf(want, sizeof want, "2: key 'run.name': longer than 127 characters, got '%s'",
			 long_name);
		expect_load_error(text, want);
	}
	/* Syntax. */
	expect_load_error("batch_size = 3\n", "1: key 'batch_size' before any [section]");
	expect_load_error("[rewts]\nbatch_size 3\n",
			  "2: expected 'key = value' or '[section]', got 'batch_size 3'");
	expect_load_error("[rewts\n", "1: section header without ']': '[rewts'");
	expect_load_error("[rewts] x\n", "1: text after the section header: 'x'");
	expect_load_error("[rewts]\n= 3\n", "2: missing key name before '='");
}

static void test_unknown_and_duplicates(void)
{
	Config c;
	char err[1024], want[4096];

	config_defaults(&c);
	CHECK(config_load(&c, fx("bad_key.ini"), err, sizeof err) == -EINVAL, "bad_key loads");
	snprintf(want, sizeof want, "%s:3: unknown key 'rewts.bach_size' (did you mean 'rewts.batch_size'?)",
		 fx("bad_key.ini"));
	CHECK_STR(err, want);
	CHECK(config_load(&c, fx("bad_section.ini"), err, sizeof err) == -EINVAL, "bad_section loads");
	snprintf(want, sizeof want, "%s:3: unknown section '[rewst]' (did you mean '[rewts]'?)",
		 fx("bad_section.ini"));
	CHECK_STR(err, want);
	CHECK(config_load(&c, fx("duplicate.ini"), err, sizeof err) == -EINVAL, "duplicate loads");
	snprintf(want, sizeof want, "%s:7: duplicate key 'rewts.batch_size' (first set at line 2)",
		 fx("duplicate.ini"));
	CHECK_STR(err, want);
	CHECK(config_load(&c, fx("bad_value.ini"), err, sizeof err) == -EINVAL, "bad_value loads");
	snprintf(want, sizeof want, "%s:6: key 'rewts.batch_size': must be >= 1, got '0'",
		 fx("bad_value.ini"));
	CHECK_STR(err, want);

	expect_load_error("[run]\nbatch_size = 3\n",
			  "2: unknown key 'run.batch_size' (did you mean 'rewts.batch_size'?)");
	expect_load_error("[rewts]\nzzzz = 3\n", "2: unknown key 'rewts.zzzz'");
	expect_load_error("[foo]\n", "1: unknown section '[foo]'");
	/* The alias counts as the same key. */
	expect_load_error("[budget]\nrss = 1GiB\nbudget_rss = 2GiB\n",
			  "3: duplicate key 'budget.rss' (first set at line 2)");

	config_defaults(&c);
	CHECK(config_load(&c, "/nonexistent/dir/x.ini", err, sizeof err) == -ENOENT, "missing file");
	CHECK(strstr(err, "/nonexistent/dir/x.ini") != NULL, "missing file message: %s", err);

	expect_set_error("rewts.bach_size=3",
			 "--set rewts.bach_size=3: unknown key 'rewts.bach_size' (did you mean 'rewts.batch_size'?)");
	expect_set_error("rewts.batch_size=0",
			 "--set rewts.batch_size=0: key 'rewts.batch_size': must be >= 1, got '0'");
	expect_set_error("rewts.batch_size", "--set rewts.batch_size: expected section.key=value");
	expect_set_error("batch_size=3", "--set batch_size=3: expected section.key=value");
	expect_set_error("foo.bar=3", "--set foo.bar=3: unknown section '[foo]'");
	expect_set_error("rewt.batch_size=3", "--set rewt.batch_size=3: unknown section '[rewt]' (did you mean '[rewts]'?)");
	/* A suggestion is made at a distance of at most 2 or a quarter of
	 * "section.name", and never one step further (the cut-off distance
	 * must keep both edges). */
	expect_set_error("rewts.batchsz=1", "--set rewts.batchsz=1: unknown key 'rewts.batchsz' (did you mean 'rewts.batch_size'?)");
	expect_set_error("rewts.bxxxxh_size=1", "--set rewts.bxxxxh_size=1: unknown key 'rewts.bxxxxh_size' (did you mean 'rewts.batch_size'?)");
	expect_set_error("rewts.bxxxxxh_size=1", "--set rewts.bxxxxxh_size=1: unknown key 'rewts.bxxxxxh_size'");
	expect_set_error("rewts.batch_sizexxxxx=1", "--set rewts.batch_sizexxxxx=1: unknown key 'rewts.batch_sizexxxxx' (did you mean 'rewts.batch_size'?)");
	expect_set_error("rewts.batch_sizexxxxxx=1", "--set rewts.batch_sizexxxxxx=1: unknown key 'rewts.batch_sizexxxxxx'");
	expect_set_error("rewtsxx.batch_size=1", "--set rewtsxx.batch_size=1: unknown section '[rewtsxx]' (did you mean '[rewts]'?)");
	expect_set_error("rewtsxxx.batch_size=1", "--set rewtsxxx.batch_size=1: unknown section '[rewtsxxx]'");
	expect_set_error("budget.rss=lots",
			 "--set budget.rss=lots: key 'budget.rss': expected a size such as 512MiB, 2GiB, 1.5GiB, 2GB or 1000000 (0 = unlimited), or auto, got 'lots'");
}

static void test_set_precedence(void)
{
	Config c;
	char err[1024], want[4096], path[2048];

	config_defaults(&c);
	snprintf(path, sizeof path, "%s", write_tmp("p.ini", "[rewts]\nbatch_size = 64\nmin_batch_size = 16\n"));
	CHECK(config_load(&c, path, err, sizeof err) == 0, "load: %s", err);
	CHECK(c.batch_size == 64, "%d", c.batch_size);
	CHECK(config_set(&c, "rewts.batch_size=32", err, sizeof err) == 0, "set: %s", err);
	CHECK(c.batch_size == 32, "--set does not override the file: %d", c.batch_size);
	CHECK(config_set(&c, " budget.rss = 2GiB ", err, sizeof err) == 0, "set: %s", err);
	CHECK(c.budget_rss == 2ull << 30, "%llu", (unsigned long long)c.budget_rss);
	CHECK(config_set(&c, "budget.budget_vram=1GB", err, sizeof err) == 0, "alias set: %s", err);
	CHECK(c.budget_vram == 1000000000ull, "%llu", (unsigned long long)c.budget_vram);
	CHECK(config_set(&c, "run.name=\"a b\"", err, sizeof err) == 0, "quoted set: %s", err);
	CHECK_STR(c.name, "a b");
	CHECK(config_set(&c, "RUN.Device=CUDA", err, sizeof err) == 0, "case: %s", err);
	CHECK_STR(c.device, "cuda");
	CHECK(config_set(&c, "run.chunks_at_once=17", err, sizeof err) == -EINVAL, "chunks_at_once 17 accepted");
	CHECK(config_set(&c, "run.chunks_at_once=4", err, sizeof err) == 0 && c.chunks_at_once == 4,
	      "chunks_at_once 4: %s", err);
	CHECK(config_set(&c, "rewts.lstm_patience=0", err, sizeof err) == 0, "patience 0: %s", err);
	CHECK(c.lstm_patience == 0, "lstm_patience %d", c.lstm_patience);
	CHECK(config_set(&c, "rewts.lstm_patience=-1", err, sizeof err) == -EINVAL, "patience -1 accepted");
	CHECK(config_set(&c, "rewts.lstm_patience=7", err, sizeof err) == 0, "patience 7: %s", err);
	CHECK(c.lstm_patience == 7, "lstm_patience %d", c.lstm_patience);

	CHECK(config_origin(&c, "rewts.batch_size", err, sizeof err) == 0, "origin");
	CHECK_STR(err, "--set rewts.batch_size=32");
	CHECK(config_origin(&c, "rewts.min_batch_size", err, sizeof err) == 0, "origin");
	snprintf(want, sizeof want, "%s:3", path);
	CHECK_STR(err, want);
	CHECK(config_validate(&c, err, sizeof err) == 0, "valid: %s", err);

	/* Cross-field errors name both keys and where each value came from. */
	CHECK(config_set(&c, "rewts.min_batch_size=64", err, sizeof err) == 0, "set: %s", err);
	CHECK(config_validate(&c, err, sizeof err) == -EINVAL, "min > batch validates");
	CHECK_STR(err, "--set rewts.min_batch_size=64: key 'rewts.min_batch_size': must be <= "
		  "rewts.batch_size (32, from --set rewts.batch_size=32), got '64'");

	config_defaults(&c);
	CHECK(config_load(&c, fx("cross.ini"), err, sizeof err) == 0, "cross loads: %s", err);
	CHECK(config_validate(&c, err, sizeof err) == -EINVAL, "buffer < batch validates");
	snprintf(want, sizeof want, "%s:3: key 'rewts.buffer_size': must be >= rewts.batch_size "
		 "(512, from %s:2), got '256'", fx("cross.ini"), fx("cross.ini"));
	CHECK_STR(err, want);

	config_defaults(&c);
	c.epsilon_min = 0.5;
	c.epsilon_start = 0.4;
	CHECK(config_validate(&c, err, sizeof err) == -EINVAL, "eps min > start validates");
	CHECK_STR(err, "default: key 'rewts.epsilon_min': must be <= rewts.epsilon_start "
		  "(0.4, from default), got '0.5'");
	c.epsilon_min = 0.4;  /* equal: a constant epsilon, allowed */
	CHECK(config_validate(&c, err, sizeof err) == 0, "eps min == start: %s", err);

	/* Fields a program set directly get the same range checks. */
	config_defaults(&c);
	c.test_fraction = 1.5;
	CHECK(config_validate(&c, err, sizeof err) == -EINVAL, "test_fraction 1.5 validates");
	CHECK_STR(err, "default: key 'backtest.test_fraction': must be < 1, got '1.5'");
	config_defaults(&c);
	c.n_hidden = 0;
	CHECK(config_validate(&c, err, sizeof err) == -EINVAL, "no hidden layer validates");
	config_defaults(&c);
	snprintf(c.gpus, sizeof c.gpus, "0,,1");
	CHECK(config_validate(&c, err, sizeof err) == -EINVAL, "bad gpus validates");
	CHECK_STR(err, "default: key 'run.gpus': must be none, auto or a list of distinct GPU ids 0..255 like 0,1, got '0,,1'");
	config_defaults(&c);
	c.heartbeat = NAN;
	CHECK(config_validate(&c, err, sizeof err) == -EINVAL, "NaN heartbeat validates");
}

static void test_paths(void)
{
	Config c;
	char err[1024], want[4096], cwd[2048], sub[4096];

	CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
	snprintf(sub, sizeof sub, "%s/sub", fixtures);

	config_defaults(&c);
	CHECK(config_load(&c, fx("sub/rel.ini"), err, sizeof err) == 0, "rel loads: %s", err);
	snprintf(want, sizeof want, "%s/prices", sub);
	CHECK_STR(c.data_dir, want);
	snprintf(want, sizeof want, "%s/signals", sub);
	CHECK_STR(c.signals_dir, want);
	/* The default "out" is relative to the file's folder too. */
	snprintf(want, sizeof want, "%s/out", sub);
	CHECK_STR(c.out_dir, want);

	/* Absolute untouched, ".." kept literally, empty stays empty. */
	config_defaults(&c);
	CHECK(config_load(&c, fx("sub/abs.ini"), err, sizeof err) == 0, "abs loads: %s", err);
	CHECK_STR(c.data_dir, "/abs/prices");
	snprintf(want, sizeof want, "%s/../results", sub);
	CHECK_STR(c.out_dir, want);
	CHECK_STR(c.signals_dir, "");

	/* The same file named by a relative path from another folder gives
	 * the same absolute folders. */
	CHECK(chdir(fixtures) == 0, "chdir");
	config_defaults(&c);
	CHECK(config_load(&c, "sub/rel.ini", err, sizeof err) == 0, "rel (relative name): %s", err);
	snprintf(want, sizeof want, "%s/prices", sub);
	CHECK_STR(c.data_dir, want);
	CHECK(config_origin(&c, "run.data_dir", err, sizeof err) == 0, "origin");
	CHECK_STR(err, "sub/rel.ini:3");
	/* --set paths are relative to the current directory. */
	CHECK(config_set(&c, "run.out_dir=results/x", err, sizeof err) == 0, "set: %s", err);
	snprintf(want, sizeof want, "%s/results/x", fixtures);
	CHECK_STR(c.out_dir, want);
	CHECK(config_set(&c, "run.out_dir=/tmp/y", err, sizeof err) == 0, "set: %s", err);
	CHECK_STR(c.out_dir, "/tmp/y");
	CHECK(chdir(cwd) == 0, "chdir back");

	/* No file at all: defaults stay as written. */
	config_defaults(&c);
	CHECK_STR(c.data_dir, "data");
}

static void test_full_and_dialect(void)
{
	Config c;
	char err[1024];

	config_defaults(&c);
	CHECK(config_load(&c, fx("full.ini"), err, sizeof err) == 0, "full loads: %s", err);
	CHECK_STR(c.name, "nightly ; #1");
	CHECK_STR(c.tickers, "AAPL,MSFT,BRK.B,^GSPC");
	CHECK_STR(c.gpus, "1,0");
	CHECK_STR(c.device, "cpu");
	CHECK_STR(c.model, "lstm");
	CHECK(c.seed == UINT64_MAX, "seed %llu", (unsigned long long)c.seed);
	CHECK(c.budget_rss == 3ull << 29, "rss %llu", (unsigned long long)c.budget_rss);
	CHECK(c.budget_vram == 2000000000ull, "vram %llu", (unsigned long long)c.budget_vram);
	CHECK(c.n_hidden == 2 && c.hidden[0] == 64 && c.hidden[1] == 32 && c.hidden[2] == 0, "hidden");
	CHECK(c.learning_rate == 1e-4 && c.lstm_learning_rate == 3e-3, "rates");
	CHECK(c.initial_balance == 25000.5, "%g", c.initial_balance);
	CHECK(c.hang_timeout == 12.5 && c.backoff == 0.25 && c.heartbeat == 0.1, "times");
	CHECK(c.test_fraction == 0.25, "%g", c.test_fraction);
	CHECK(config_validate(&c, err, sizeof err) == 0, "full validates: %s", err);

	config_defaults(&c);
	CHECK(config_load(&c, fx("bom_crlf.ini"), err, sizeof err) == 0, "bom/crlf: %s", err);
	CHECK(c.batch_size == 32, "%d", c.batch_size);
	CHECK_STR(c.name, "crlf");

	/* A long tickers line (inih would cut it at 200 bytes). */
	{
		static char text[8192];
		size_t used = (size_t)snprintf(text, sizeof text, "[run]\ntickers = ");
		for (int i = 0; i < 500; i++)
			used += (size_t)snprintf(text + used, sizeof text - used, "%sT%03d", i ? "," : "", i);
		snprintf(text + used, sizeof text - used, "\n");
		config_defaults(&c);
		CHECK(config_load(&c, write_tmp("long.ini", text), err, sizeof err) == 0, "long: %s", err);
		CHECK(strlen(c.tickers) == 500 * 4 + 499, "tickers length %zu", strlen(c.tickers));
		CHECK(strncmp(c.tickers + strlen(c.tickers) - 4, "T499", 4) == 0, "last ticker");
	}
	/* Comments, spacing, case of names; a value with '#' not after a space. */
	config_defaults(&c);
	CHECK(config_load(&c, write_tmp("dialect.ini",
					"  # comment\n; comment\n  [ REWTS ]  ; trailing\n"
					"  Batch_Size=16#no space, so part of the value?\n"), err,
			  sizeof err) == -EINVAL, "'#' inside a value is not a comment");
	config_defaults(&c);
	CHECK(config_load(&c, write_tmp("dialect.ini",
					"  # comment\n; comment\n  [ REWTS ]  ; trailing\n"
					"  Batch_Size=16 # comment\n\tgamma\t=\t0.5\t;x\n"), err,
			  sizeof err) == 0, "dialect: %s", err);
	CHECK(c.batch_size == 16 && c.gamma == 0.5, "dialect values %d %g", c.batch_size, c.gamma);
}

/* Writes cfg, loads the text into fresh defaults, and requires identical
 * values; a second write must give the same bytes. */
static void round_trip(const Config *cfg, const char *what)
{
	Config back;
	char err[1024], p1[2048], p2[2048];
	FILE *f;
	char *t1 = NULL, *t2 = NULL;
	size_t n1 = 0, n2 = 0;

	snprintf(p1, sizeof p1, "%s/rt1.ini", tmpdir);
	snprintf(p2, sizeof p2, "%s/rt2.ini", tmpdir);
	f = fopen(p1, "w");
	CHECK(f && config_write(cfg, f) == 0, "%s: write", what);
	fclose(f);
	config_defaults(&back);
	CHECK(config_load(&back, p1, err, sizeof err) == 0, "%s: load back: %s", what, err);
	CHECK(config_equal(cfg, &back), "%s: round trip changed a value (see %s)", what, p1);
	f = fopen(p2, "w");
	CHECK(f && config_write(&back, f) == 0, "%s: write 2", what);
	fclose(f);
	f = fopen(p1, "r");
	if (f) {
		t1 = malloc(1 << 16);
		n1 = fread(t1, 1, 1 << 16, f);
		fclose(f);
	}
	f = fopen(p2, "r");
	if (f) {
		t2 = malloc(1 << 16);
		n2 = fread(t2, 1, 1 << 16, f);
		fclose(f);
	}
	CHECK(t1 && t2 && n1 == n2 && memcmp(t1, t2, n1) == 0, "%s: second write differs", what);
	free(t1);
	free(t2);
}

static double rand_in(Rng *rng, double lo, double hi)
{
	/* Mostly uniform, sometimes a value with all 53 bits of mantissa
	 * busy or a tiny one, to stress the printing. */
	double u = rng_uniform(rng);
	switch (rng_below(rng, 4)) {
	case 0:
		return lo + (hi - lo) * u;
	case 1:
		return lo + (hi - lo) * u * 1e-6;
	case 2:
		return nextafter(hi, lo);
	default:
		return lo + (hi - lo) * (double)rng_next(rng) / 18446744073709551616.0;
	}
}

static void test_round_trip(void)
{
	Config c, d;
	char err[1024];
	Rng rng;

	/* Defaults as a run sees them: after loading a (here empty) file,
	 * which makes the default folders absolute. */
	config_defaults(&c);
	CHECK(config_load(&c, write_tmp("empty.ini", "; nothing\n"), err, sizeof err) == 0,
	      "empty file: %s", err);
	CHECK(strcmp(c.out_dir, "out") != 0 && c.out_dir[0] == '/', "out_dir not resolved: %s",
	      c.out_dir);
	round_trip(&c, "defaults");
	config_defaults(&c);
	CHECK(config_load(&c, fx("full.ini"), err, sizeof err) == 0, "full: %s", err);
	round_trip(&c, "full.ini");

	/* config_equal really compares (else the round trip could not fail). */
	d = c;
	CHECK(config_equal(&c, &d), "equal to a copy");
	d.gamma = nextafter(d.gamma, 2.0);
	CHECK(!config_equal(&c, &d), "one ulp of gamma not seen");
	d = c;
	d.hidden[1]++;
	CHECK(!config_equal(&c, &d), "hidden change not seen");
	d = c;
	d.seed--;
	CHECK(!config_equal(&c, &d), "seed change not seen");

	rng_seed(&rng, 20261127);
	for (int it = 0; it < 300; it++) {
		config_defaults(&c);
		c.hang_timeout = rand_in(&rng, 1e-9, 1e6);
		c.backoff = rand_in(&rng, 0, 1e6);
		c.heartbeat = rand_in(&rng, 1e-6, 3600);
		c.soft_fraction = rand_in(&rng, 1e-9, 1);
		c.learning_rate = rand_in(&rng, 1e-12, 10);
		c.gamma = rand_in(&rng, 0, 1);
		c.grad_clip = rand_in(&rng, 1e-9, 1e9);
		c.epsilon_start = rand_in(&rng, 0.5, 1);
		c.epsilon_decay = rand_in(&rng, 1e-9, 1);
		c.epsilon_min = rand_in(&rng, 0, 0.5);
		c.lstm_learning_rate = rand_in(&rng, 1e-12, 10);
		c.initial_balance = rand_in(&rng, 1e-3, 1e15);
		c.transaction_cost = rand_in(&rng, 0, 0.999);
		c.buy_fraction = rand_in(&rng, 1e-9, 1);
		c.vol_penalty = rand_in(&rng, 0, 1e12);
		c.dd_penalty = rand_in(&rng, 0, 1e12);
		c.dd_threshold = rand_in(&rng, 0, 1);
		c.change_penalty = rand_in(&rng, 0, 1e3);
		c.test_fraction = rand_in(&rng, 1e-9, 0.999999);
		c.seed = rng_next(&rng);
		c.budget_rss = rng_next(&rng);
		c.budget_vram = rng_next(&rng) >> rng_below(&rng, 64);
		c.batch_size = 1 + (int)rng_below(&rng, 1 << 24);
		c.buffer_size = c.batch_size + (int)rng_below(&rng, 1 << 20);
		c.min_batch_size = 1 + (int)rng_below(&rng, (uint64_t)c.batch_size);
		c.n_hidden = 1 + (int)rng_below(&rng, 4);
		for (int i = 0; i < 4; i++)
			c.hidden[i] = i < c.n_hidden ? 1 + (int)rng_below(&rng, 65536) : 0;
		snprintf(c.gpus, sizeof c.gpus, "%d,%d", (int)rng_below(&rng, 100),
			 100 + (int)rng_below(&rng, 100));
		snprintf(c.name, sizeof c.name, "run %d; #x ", it);
		snprintf(c.out_dir, sizeof c.out_dir, "/tmp/o %d", it);
		snprintf(c.data_dir, sizeof c.data_dir, "/data;x #%d", it);
		CHECK(config_validate(&c, err, sizeof err) == 0, "random config %d invalid: %s", it, err);
		round_trip(&c, "random");
		if (check_failures)
			break;
	}
}

/* Text in memory: the caller's name in messages and origins (never a temp
 * file's), relative folders against that name's folder, the same values as
 * loading the file, and config_write_text's text loads back equal. */
static void test_text(void)
{
	Config a, b;
	char err[1024], origin[256];
	const char *text = "[run]\nout_dir = o\n[rewts]\nbatch_size = 0\n";
	char *w;
	size_t wl = 0;

	config_defaults(&a);
	CHECK(config_load_text(&a, text, strlen(text), "/home/u/run.ini", err, sizeof err) == -EINVAL,
	      "bad text accepted");
	CHECK_STR(err, "/home/u/run.ini:4: key 'rewts.batch_size': must be >= 1, got '0'");
	/* Only text_len bytes count: the bad line beyond it is not read. */
	config_defaults(&a);
	CHECK(config_load_text(&a, text, 17, "/home/u/run.ini", err, sizeof err) == 0,
	      "prefix: %s", err);
	CHECK_STR(a.out_dir, "/home/u/o");
	CHECK(config_origin(&a, "run.out_dir", origin, sizeof origin) == 0, "origin");
	CHECK_STR(origin, "/home/u/run.ini:2");
	CHECK(config_load_text(&a, "[run]\nx\0y = 1\n", 13, "n.ini", err, sizeof err) == -EINVAL,
	      "NUL accepted");
	CHECK(strstr(err, "n.ini:2: NUL byte") != NULL, "NUL message: %s", err);

	/* A full configuration through text and through a file: equal. */
	config_defaults(&a);
	CHECK(config_load(&a, fx("full.ini"), err, sizeof err) == 0, "full: %s", err);
	a.signals_required = 1;
	w = config_write_text(&a, &wl);
	CHECK(w && wl == strlen(w), "write_text");
	config_defaults(&b);
	CHECK(w && config_load_text(&b, w, wl, "frozen", err, sizeof err) == 0, "load back: %s", err);
	CHECK(config_equal(&a, &b), "text round trip changed a value");
	CHECK(w && strstr(w, "signals_required = true\n"), "signals_required not written");
	free(w);

	/* run.signals_required is a boolean. */
	config_defaults(&a);
	CHECK(config_set(&a, "run.signals_required=yes", err, sizeof err) == 0 && a.signals_required == 1,
	      "yes: %s", err);
	CHECK(config_set(&a, "run.signals_required=off", err, sizeof err) == 0 && a.signals_required == 0,
	      "off: %s", err);
	expect_set_error("run.signals_required=maybe",
			 "--set run.signals_required=maybe: key 'run.signals_required': expected true or false, got 'maybe'");
}

/* The model-shaping flag of every key, named one by one (a key added to the
 * table without a decision fails here), and the diff that names them. */
static void test_model_keys(void)
{
	static const char *const model[] = {
		"run.model", "run.seed", "run.threads", "run.price_column",
		"rewts.buffer_size", "rewts.chunk_length", "rewts.episodes_per_chunk",
		"rewts.lookback_length", "rewts.fit_weights_every", "rewts.hidden",
		"rewts.learning_rate", "rewts.gamma", "rewts.grad_clip", "rewts.target_update_every",
		"rewts.epsilon_start", "rewts.epsilon_decay", "rewts.epsilon_min",
		"rewts.lstm_hidden", "rewts.lstm_layers", "rewts.lstm_window",
		"rewts.lstm_learning_rate", "rewts.lstm_epochs", "rewts.lstm_patience",
		"env.initial_balance", "env.transaction_cost", "env.buy_fraction", "env.vol_penalty",
		"env.dd_penalty", "env.dd_threshold", "env.change_penalty", "backtest.test_fraction",
	};
	static const char *const other[] = {
		"run.name", "run.data_dir", "run.tickers", "run.signals_dir", "run.signals_required",
		"run.out_dir", "run.parallel", "run.gpus", "run.workers_per_gpu", "run.max_attempts",
		"run.hang_timeout", "run.backoff", "run.device", "run.checkpoint_every",
		"run.heartbeat", "run.chunks_at_once", "run.db_lock_timeout", "budget.rss",
		"budget.vram", "budget.poll_ms", "budget.soft_fraction", "budget.wal",
		"rewts.batch_size", "rewts.min_batch_size", "run.metrics_file", "run.keep_checkpoints",
		"budget.ladder", "budget.min_buffer_size", "budget.min_chunk_length",
	};
	int n_model = (int)(sizeof model / sizeof model[0]);
	int n_other = (int)(sizeof other / sizeof other[0]);
	Config a, b;
	char diff[2048], err[512];

	for (int i = 0; i < n_model; i++)
		CHECK(config_key_is_model(model[i]) == 1, "%s should be model-shaping", model[i]);
	for (int i = 0; i < n_other; i++)
		CHECK(config_key_is_model(other[i]) == 0, "%s should not be model-shaping", other[i]);
	CHECK(config_key_is_model("rewts.nope") == -ENOENT, "unknown key");
	CHECK(config_n_keys() == n_model + n_other, "%d keys in the table, %d decided",
	      config_n_keys(), n_model + n_other);
	for (int i = 0; i < config_n_keys(); i++) {
		const char *sec, *name;
		int m = -1;
		char dotted[128];
		CHECK(config_key_info(i, &sec, &name, &m) == 0, "key %d", i);
		snprintf(dotted, sizeof dotted, "%s.%s", sec, name);
		CHECK(config_key_is_model(dotted) == m, "%s: info and lookup disagree", dotted);
	}
	CHECK(config_key_info(config_n_keys(), NULL, NULL, NULL) == -ENOENT, "past the end");

	config_defaults(&a);
	b = a;
	CHECK(config_model_diff(&a, &b, diff, sizeof diff) == 0 && diff[0] == '\0', "same: %s", diff);
	CHECK(config_set(&b, "run.parallel=8", err, sizeof err) == 0 &&
	      config_set(&b, "rewts.batch_size=64", err, sizeof err) == 0 &&
	      config_set(&b, "run.out_dir=/elsewhere", err, sizeof err) == 0, "%s", err);
	CHECK(config_model_diff(&a, &b, diff, sizeof diff) == 0, "not model-shaping: %s", diff);
	CHECK(config_set(&b, "rewts.hidden=32,32", err, sizeof err) == 0 &&
	      config_set(&b, "run.threads=2", err, sizeof err) == 0, "%s", err);
	CHECK(config_model_diff(&a, &b, diff, sizeof diff) == 2, "two differ: %s", diff);
	CHECK_STR(diff, "run.threads = 1 (recorded) / 2 (now), "
		  "rewts.hidden = 256,256,128 (recorded) / 32,32 (now)");
	b = a;
	b.gamma = nextafter(b.gamma, 0.0);
	CHECK(config_model_diff(&a, &b, NULL, 0) == 1, "one ulp of gamma");
	CHECK(config_model_diff(&a, &b, diff, 8) == 1 && strlen(diff) == 7, "cut message: %s", diff);
}

/* Issue 12: budget.rss/vram = auto, the ladder and its floors. */
static void test_memory_keys(void)
{
	Config c;
	char err[1024];
	config_defaults(&c);
	CHECK(!strcmp(c.ladder, "batch") && c.min_buffer_size == 1000 && c.min_chunk_length == 100,
	      "defaults %s %d %d", c.ladder, c.min_buffer_size, c.min_chunk_length);
	CHECK(config_set(&c, "budget.rss=auto", err, sizeof err) == 0 && c.budget_rss == CONFIG_SIZE_AUTO,
	      "rss auto: %s", err);
	CHECK(config_set(&c, "budget.vram=AUTO", err, sizeof err) == 0 && c.budget_vram == CONFIG_SIZE_AUTO,
	      "vram auto: %s", err);
	CHECK(config_set(&c, "budget.ladder=batch,buffer,chunk", err, sizeof err) == 0 &&
	      !strcmp(c.ladder, "batch,buffer,chunk"), "ladder: %s", err);
	CHECK(config_set(&c, "budget.min_buffer_size=500", err, sizeof err) == 0 && c.min_buffer_size == 500,
	      "min_buffer_size: %s", err);
	/* config_write says auto, and that text loads back as auto. */
	char *text = NULL;
	size_t n = 0;
	FILE *mf = open_memstream(&text, &n);
	CHECK(mf && config_write(&c, mf) == 0, "write");
	fclose(mf);
	CHECK(text && strstr(text, "\nrss = auto\n") && strstr(text, "\nvram = auto\n") &&
	      strstr(text, "\nladder = batch,buffer,chunk\n"), "written: %s", text ? text : "");
	Config back;
	config_defaults(&back);
	const char *path = write_tmp("auto.ini", text);
	CHECK(config_load(&back, path, err, sizeof err) == 0 && back.budget_rss == CONFIG_SIZE_AUTO &&
	      back.budget_vram == CONFIG_SIZE_AUTO && back.min_buffer_size == 500, "load back: %s", err);
	free(text);
	expect_set_error("budget.ladder=buffer",
			 "--set budget.ladder=buffer: key 'budget.ladder': must be one of batch, batch,buffer, "
			 "batch,chunk, batch,buffer,chunk, batch,chunk,buffer, got 'buffer'");
	expect_set_error("budget.min_chunk_length=1",
			 "--set budget.min_chunk_length=1: key 'budget.min_chunk_length': must be >= 2, got '1'");
}

int main(void)
{
	const char *src = getenv("TV_SOURCE_ROOT");
	char cwd[1024];

	if (!src) {
		/* Run by hand from the source root. */
		if (!getcwd(cwd, sizeof cwd))
			return 2;
		src = cwd;
	}
	if (src[0] == '/')
		snprintf(fixtures, sizeof fixtures, "%s/tests/fixtures/config", src);
	else {
		if (!getcwd(cwd, sizeof cwd))
			return 2;
		snprintf(fixtures, sizeof fixtures, "%s/%s/tests/fixtures/config", cwd, src);
	}
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_config.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}

	test_defaults();
	test_sizes();
	test_memory_keys();
	test_bad_values();
	test_unknown_and_duplicates();
	test_set_precedence();
	test_paths();
	test_full_and_dialect();
	test_round_trip();
	test_text();
	test_model_keys();

	{
		char cmd[1200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return check_done("config");
}
