/* tickervisor-worker: trains one ticker (docs/training-job.md), then exits with one
 * of the codes of common/exitcodes.h. See --help and docs/architecture.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cblas.h>

#include "backtest.h"
#include "common/config.h"
#include "common/exitcodes.h"
#include "csv.h"
#include "gpu/gpu.h"
#include "indicators.h"
#include "kind.h"
#include "lstm_job.h"
#include "modelio.h"
#include "report.h"

#define MAX_SETS 64

/* Signal handlers only set flags; the training loop acts on them at the
 * next step boundary (docs/architecture.md: a handler only sets a flag). */
static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_checkpoint;

static void on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		g_stop = 1;
	else if (sig == SIGUSR1)
		g_checkpoint = 1;
}

typedef struct Args {
	const char *config;
	const char *sets[MAX_SETS];
	int n_sets;
	const char *ticker;
	const char *data;
	const char *signals;
	const char *out;
	const char *resume;
	const char *evaluate;
	int report_fd;
	int config_fd;       /* -1, or the descriptor the configuration text comes from */
} Args;

typedef struct Faults {
	long crash_at;       /* -1: off */
	long hang_at;
	long exit_at;
	long nonfinite_at;   /* the episode whose loss reads as NaN */
	int exit_code;
	int garbage;
	int oversize;
	long slow_ms;
	const char *once;
} Faults;

typedef struct Worker {
	Args args;
	Config cfg;
	Faults faults;
	Reporter rp;
	const ModelKind *kind;   /* run.model */
	void *job;               /* the kind's training job */
	TrainData data;
	size_t skipped_rows;  /* price rows of null skipped (missing days), for the hello */
	char ckpt_path[PATH_MAX];
	char model_path[PATH_MAX];
	int stopped;          /* stopped by SIGTERM after a checkpoint */
	int use_gpu;
	int exit_code;        /* for hook errors */
	char err[1024];
} Worker;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tickervisor-worker --config FILE [--set section.key=value ...]\n"
		"                          --ticker NAME --data PRICES.csv [--signals SIGNALS.csv]\n"
		"                          --out DIR [--resume CHECKPOINT] [--report-fd N]\n"
		"                          [--config-fd N (the text of --config FILE, read from fd N)]\n"
		"       tickervisor-worker --evaluate MODEL --data PRICES.csv [--signals SIGNALS.csv]\n"
		"\n"
		"Trains one ticker's ReWTS ensemble (run.model: ddqn = Double-DQN agents,\n"
		"lstm = LSTM forecasters; run.device: auto, cpu or cuda), backtests it on the\n"
		"held-out last backtest.test_fraction of the days and writes DIR/NAME.model.\n"
		"Checkpoints go to DIR/NAME.ckpt. Exit codes: 0 done, 10 interrupted after a\n"
		"checkpoint, 11 out of memory, 12 bad input, 13 internal error, 64 usage.\n");
}

static int parse_args(Args *a, int argc, char **argv)
{
	memset(a, 0, sizeof(*a));
	a->report_fd = -1;
	a->config_fd = -1;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			usage(stdout);
			exit(TV_EXIT_DONE);
		}
		if (!v) {
			fprintf(stderr, "tickervisor-worker: %s needs a value\n", o);
			return -EINVAL;
		}
		if (!strcmp(o, "--config"))
			a->config = v;
		else if (!strcmp(o, "--set")) {
			if (a->n_sets == MAX_SETS) {
				fprintf(stderr, "tickervisor-worker: too many --set options\n");
				return -EINVAL;
			}
			a->sets[a->n_sets++] = v;
		} else if (!strcmp(o, "--ticker"))
			a->ticker = v;
		else if (!strcmp(o, "--data"))
			a->data = v;
		else if (!strcmp(o, "--signals"))
			a->signals = v;
		else if (!strcmp(o, "--out"))
			a->out = v;
		else if (!strcmp(o, "--resume"))
			a->resume = v;
		else if (!strcmp(o, "--evaluate"))
			a->evaluate = v;
		else if (!strcmp(o, "--config-fd")) {
			/* The supervisor's frozen configuration; --config only names it. */
			char *end;
			long fd = strtol(v, &end, 10);

			if (*end || fd < 0 || fd > 1024 || fcntl((int)fd, F_GETFD) < 0) {
				fprintf(stderr, "tickervisor-worker: --config-fd %s: not an open file descriptor\n", v);
				return -EINVAL;
			}
			a->config_fd = (int)fd;
		} else if (!strcmp(o, "--report-fd")) {
			char *end;
			long fd = strtol(v, &end, 10);

			if (*end || fd < 0 || fd > 1024 || fcntl((int)fd, F_GETFD) < 0) {
				fprintf(stderr, "tickervisor-worker: --report-fd %s: not an open file descriptor\n", v);
				return -EINVAL;
			}
			a->report_fd = (int)fd;
		} else {
			fprintf(stderr, "tickervisor-worker: unknown option '%s'\n", o);
			return -EINVAL;
		}
		i++;
	}
	if (a->evaluate) {
		if (!a->data) {
			fprintf(stderr, "tickervisor-worker: --evaluate needs --data\n");
			return -EINVAL;
		}
		return 0;
	}
	if (!a->config || !a->ticker || !a->data || !a->out) {
		fprintf(stderr, "tickervisor-worker: --config, --ticker, --data and --out are required\n");
		return -EINVAL;
	}
	return 0;
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void faults_init(Faults *f)
{
	const char *ex = getenv("TV_FAULT_EXIT_AT");

	f->crash_at = env_long("TV_FAULT_CRASH_AT", -1);
	f->hang_at = env_long("TV_FAULT_HANG_AT", -1);
	f->nonfinite_at = env_long("TV_FAULT_NONFINITE_AT", -1);
	f->exit_at = -1;
	if (ex && *ex && sscanf(ex, "%ld:%d", &f->exit_at, &f->exit_code) != 2)
		f->exit_at = -1;
	f->garbage = (int)env_long("TV_FAULT_GARBAGE", 0);
	f->oversize = (int)env_long("TV_FAULT_OVERSIZE", 0);
	f->slow_ms = env_long("TV_FAULT_SLOW_MS", 0);
	f->once = getenv("TV_FAULT_ONCE");
}

/* A fault fires unless TV_FAULT_ONCE names a file that exists; firing
 * creates that file, so the retry runs clean. */
static int fault_fires(const Faults *f)
{
	int fd;

	if (!f->once || !*f->once)
		return 1;
	if (access(f->once, F_OK) == 0)
		return 0;
	fd = open(f->once, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	return 1;
}

static void send_error(Worker *w, int code, const char *msg)
{
	Msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_ERROR;
	m.u.error.code = code;
	snprintf(m.u.error.message, sizeof(m.u.error.message), "%s", msg);
	if (w->rp.fd >= 0)
		report_send(&w->rp, &m);
	fprintf(stderr, "tickervisor-worker[%d] %s: %s\n", (int)getpid(),
		w->args.ticker ? w->args.ticker : "-", msg);
}

static void update_memory(Worker *w)
{
	KindMemory mem;

	w->kind->bytes(w->job, &mem);
	report_memory(&w->rp, mem.replay, mem.activations, mem.weights, mem.device);
}

/* After a checkpoint write (r from modelio): a failed write ends the worker
 * with the internal-error code (the message names the file); a durable one
 * is reported with the position it resumes at. Returns r. */
static int checkpoint_written(Worker *w, int r, uint32_t crc, int64_t chunk, int64_t episode,
			      int64_t done_episodes)
{
	Msg m;

	if (r < 0) {
		w->exit_code = TV_EXIT_INTERNAL;
		send_error(w, TV_EXIT_INTERNAL, w->err);
		return r;
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_CHECKPOINT;
	snprintf(m.u.checkpoint.path, sizeof(m.u.checkpoint.path), "%s", w->ckpt_path);
	m.u.checkpoint.checksum = crc;
	m.u.checkpoint.chunk = chunk;
	m.u.checkpoint.episode = episode;
	m.u.checkpoint.done_episodes = done_episodes;
	report_send(&w->rp, &m);
	return 0;
}

/* A failure of the device: the GPU's own message, out-of-memory or
 * internal. Returns the exit code. */
static int gpu_failed(Worker *w, int r)
{
	int code = r == -ENOMEM ? TV_EXIT_OVER_BUDGET : TV_EXIT_INTERNAL;

	snprintf(w->err, sizeof(w->err), "GPU: %s", w->kind->gpu_error());
	send_error(w, code, w->err);
	return code;
}

static int checkpoint(Worker *w)
{
	int64_t chunk, episode, done;
	uint32_t crc = 0;
	int r;

	r = w->kind->sync(w->job);
	if (r < 0) {
		w->exit_code = gpu_failed(w, r);
		return r;
	}
	r = w->kind->pack(w->job, w->args.ticker, w->ckpt_path, &crc, w->err, sizeof(w->err));
	w->kind->position(w->job, &chunk, &episode, &done);
	return checkpoint_written(w, r, crc, chunk, episode, done);
}

/* Acts on signals at a step boundary. Returns 1 to stop, 0 to go on. */
static int handle_signals(Worker *w)
{
	if (!g_stop && !g_checkpoint)
		return 0;
	g_checkpoint = 0;
	if (checkpoint(w) < 0)
		return -EIO;
	if (g_stop) {
		w->stopped = 1;
		return 1;
	}
	return 0;
}

static int hook_step(void *ctx)
{
	Worker *w = ctx;

	if (w->rp.fd >= 0 && report_now() - w->rp.last_beat >= w->rp.interval) {
		update_memory(w);
		report_heartbeat(&w->rp, 1);
	}
	return w->kind->checkpoint_any_step ? handle_signals(w) : 0;
}

/* True when a count that grew from before to after passed k (k > 0). */
static int passed(long before, long after, long k)
{
	return k > 0 && before < k && after >= k;
}

/* The test hooks after an episode (see Faults): a slow-down, then the
 * fault whose episode count the run just passed, after any checkpoint due
 * there. */
static void inject_faults(Worker *w, long before, long done)
{
	if (w->faults.slow_ms > 0) {
		struct timespec ts = { w->faults.slow_ms / 1000, (w->faults.slow_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (passed(before, done, w->faults.crash_at) && fault_fires(&w->faults))
		abort();
	if (passed(before, done, w->faults.exit_at) && fault_fires(&w->faults))
		_exit(w->faults.exit_code);
	if (passed(before, done, w->faults.hang_at) && fault_fires(&w->faults))
		for (;;)
			pause();
}

static int hook_episode(void *ctx, const KindProgress *p)
{
	Worker *w = ctx;
	const Config *cfg = &w->cfg;
	long every = cfg->checkpoint_every;
	double loss = p->loss;
	Msg m;
	int r;

	if (passed((long)p->before, (long)p->done, w->faults.nonfinite_at))
		loss = NAN;
	memset(&m, 0, sizeof(m));
	m.type = MSG_PROGRESS;
	m.u.progress.chunk = p->chunk;
	m.u.progress.episode = p->episode;
	m.u.progress.step = p->step;
	m.u.progress.done_episodes = p->done;
	m.u.progress.total_episodes = (int64_t)w->data.n_chunks * w->kind->episodes_per_chunk(cfg);
	m.u.progress.loss = loss;
	m.u.progress.epsilon = p->epsilon;
	m.u.progress.reward = p->reward;
	report_send(&w->rp, &m);
	update_memory(w);
	report_heartbeat(&w->rp, 0);
	/* Deterministic: a retry would diverge the same way, and no
	 * checkpoint or model may hold the numbers (modelio refuses them). */
	if (!isfinite(loss) || !isfinite(p->reward)) {
		snprintf(w->err, sizeof(w->err), "training went non-finite in chunk %lld, episode "
			 "%lld (loss %g, %s %g): the data or the rewts settings (learning_rate, "
			 "grad_clip) make the network diverge", (long long)p->chunk + 1,
			 (long long)p->episode, loss,
			 w->kind == &kind_lstm ? "validation loss" : "reward", p->reward);
		w->exit_code = TV_EXIT_BAD_INPUT;
		send_error(w, w->exit_code, w->err);
		return -ERANGE;
	}

	if (p->finished || p->done / every != p->before / every || g_stop || g_checkpoint) {
		g_checkpoint = 0;
		r = checkpoint(w);
		if (r < 0)
			return r;
		if (g_stop) {
			w->stopped = 1;
			return 1;
		}
	}
	inject_faults(w, (long)p->before, (long)p->done);
	return handle_signals(w);
}

/* run.device: cpu, cuda (a visible CUDA device is required) or auto (the
 * GPU when one is visible - the supervisor sets CUDA_VISIBLE_DEVICES). */
static int choose_device(Worker *w, char *name, size_t len)
{
	int n = strcmp(w->cfg.device, "cpu") ? gpu_device_count() : 0;

	if (!strcmp(w->cfg.device, "cuda") && n <= 0) {
		snprintf(w->err, sizeof(w->err), "run.device = cuda, but %s",
			 n < 0 ? "this worker was built without CUDA" : "no CUDA device is visible");
		return -EINVAL;
	}
	w->use_gpu = n > 0;
	if (w->use_gpu && gpu_device_name(0, name, len) < 0)
		snprintf(name, len, "cuda:0");
	return 0;
}

/* OpenBLAS takes its work buffer (BUFFER_SIZE: 128 MiB and a page in
 * Debian's build; one per thread that runs a kernel) with malloc on first
 * use, and when that fails it retries forever at full CPU - as under an
 * address-space limit (ulimit -v). So: check that the sizes can be had
 * (address space only: nothing is touched), and then make OpenBLAS take
 * its buffer at once with one small product; it keeps it for the
 * process's life, and every later allocation that fails is ours, with a
 * clean out-of-memory exit. */
#define BLAS_BUFFER_BYTES (((size_t)128 << 20) + 4096)

static int blas_buffers_fit(int threads, char *err, size_t errlen)
{
	void *p[64];
	int n = threads < 64 ? threads : 64, got = 0, ok;

	/* mmap, not malloc: with MALLOC_PERTURB_ set (meson test sets it)
	 * glibc would fill the block, making 128 MiB resident. */
	while (got < n) {
		p[got] = mmap(NULL, BLAS_BUFFER_BYTES, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p[got] == MAP_FAILED)
			break;
		got++;
	}
	ok = got == n;
	while (got > 0)
		munmap(p[--got], BLAS_BUFFER_BYTES);
	if (ok) {
		/* Above OpenBLAS's small-matrix path (no buffer there). */
		static float a[128 * 128], c[128 * 128];

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 128, 128, 128, 1.0f, a, 128,
			    a, 128, 0.0f, c, 128);
	}
	if (!ok)
		snprintf(err, errlen, "out of memory: cannot reserve OpenBLAS's work buffers "
			 "(%d x %zu MiB of address space for run.threads = %d; is ulimit -v too low?)",
			 n, BLAS_BUFFER_BYTES >> 20, threads);
	return ok ? 0 : -ENOMEM;
}

/* The exit after blas_buffers_fit failed. OpenBLAS's own helper threads,
 * started when the library loaded, are then spinning on the same failed
 * allocation, and exit() would join them forever: leave without it. */
static void exit_blas_oom(void)
{
	fflush(NULL);
	_exit(TV_EXIT_OVER_BUDGET);
}

static int load_config(Worker *w, const char *path, char *err, size_t errlen)
{
	int r;

	config_defaults(&w->cfg);
	if (path && w->args.config_fd >= 0) {
		/* The text the supervisor checked and recorded at the run's start,
		 * not the file (which the user may have edited since). */
		char *text = NULL;
		size_t len = 0, cap = 0;
		ssize_t n;

		for (;;) {
			if (len == cap) {
				char *grown = cap < (1u << 24) ? realloc(text, cap = cap ? 2 * cap : 65536) : NULL;
				if (!grown) {
					free(text);
					snprintf(err, errlen, "%s: configuration text too large or out of memory", path);
					return -ENOMEM;
				}
				text = grown;
			}
			n = read(w->args.config_fd, text + len, cap - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		if (n < 0) {
			snprintf(err, errlen, "%s: reading the configuration from fd %d: %s", path,
				 w->args.config_fd, strerror(errno));
			free(text);
			return -EIO;
		}
		close(w->args.config_fd);
		r = config_load_text(&w->cfg, text, len, path, err, errlen);
		free(text);
		if (r < 0)
			return r;
	} else if (path) {
		r = config_load(&w->cfg, path, err, errlen);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < w->args.n_sets; i++) {
		r = config_set(&w->cfg, w->args.sets[i], err, errlen);
		if (r < 0)
			return r;
	}
	return config_validate(&w->cfg, err, errlen);
}

/* Loads prices (and signals) and computes the feature rows; fills w->data. */
static int load_data(Worker *w, char *err, size_t errlen)
{
	PriceSeries ps;
	SignalSeries ss;
	double *tau = NULL;
	float *feat = NULL;
	double *close = NULL;
	int32_t *date = NULL;
	size_t rows = 0;
	int r;

	memset(&ps, 0, sizeof(ps));
	memset(&ss, 0, sizeof(ss));
	r = csv_load_prices_column(w->args.data, strcmp(w->cfg.price_column, "adj_close") ?
				   CSV_CLOSE : CSV_ADJ_CLOSE, &ps, err, errlen);
	if (r < 0)
		return r;
	w->skipped_rows = ps.n_missing;
	if (ps.n_missing > 0)
		fprintf(stderr, "tickervisor-worker[%d] %s: %s: %zu missing days (rows of null "
			"prices, the first on line %ld) skipped\n", (int)getpid(),
			w->args.ticker ? w->args.ticker : "-", w->args.data, ps.n_missing,
			ps.first_missing_line);
	if (w->args.signals) {
		r = csv_load_signals(w->args.signals, &ss, err, errlen);
		if (r < 0)
			goto out;
		tau = malloc(ps.n * sizeof(double));
		if (!tau) {
			r = -ENOMEM;
			goto out;
		}
		r = signals_align(&ss, &ps, tau);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot align signals with %s", w->args.signals, w->args.data);
			goto out;
		}
	}
	if (ps.n <= IND_WARMUP) {
		snprintf(err, errlen, "%s: %zu rows, but the indicators need %d rows of warm-up "
			 "before the first usable day", w->args.data, ps.n, IND_WARMUP + 1);
		r = -EINVAL;
		goto out;
	}
	r = indicators_compute(&ps, tau, &feat, &rows);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot compute indicators: %s", w->args.data, strerror(-r));
		goto out;
	}
	close = malloc(rows * sizeof(double));
	date = malloc(rows * sizeof(int32_t));
	if (!close || !date) {
		free(feat);
		free(close);
		free(date);
		r = -ENOMEM;
		goto out;
	}
	memcpy(close, ps.close + IND_WARMUP, rows * sizeof(double));
	memcpy(date, ps.date + IND_WARMUP, rows * sizeof(int32_t));
	r = train_data_init(&w->data, &w->cfg, w->args.data, feat, close, date, (int32_t)rows,
			    err, errlen);
	if (r < 0)
		train_data_free(&w->data);
out:
	free(tau);
	price_series_free(&ps);
	signal_series_free(&ss);
	return r;
}

static void fill_result(MsgResult *res, const Metrics *mt)
{
	res->total_return = mt->total_return;
	res->sharpe = mt->sharpe;
	res->max_drawdown = mt->max_drawdown;
	res->volatility = mt->volatility;
	res->win_rate = mt->win_rate;
	res->trades = mt->trades;
	res->buy_hold_return = mt->buy_hold_return;
	res->test_days = mt->test_days;
	for (int a = 0; a < ENV_ACTIONS; a++)
		res->actions[a] = mt->actions[a];
}

/* The result frame's optional curves (proto.h): the portfolio value and
 * buy-and-hold relative to the first test day, every step-th day so that
 * they fit PROTO_MAX_CURVE; the ensemble weights of every step-th refit so
 * that they fit PROTO_MAX_FITS and PROTO_MAX_WEIGHTS. Frames only: the
 * model file does not change. */
static void fill_curves(MsgResult *res, const Backtest *bt, const TrainData *d)
{
	int n = bt->n_values, t0 = d->test_start;
	if (n > 0 && bt->values && bt->values[0] > 0 && t0 + n <= d->n_rows) {
		int step = (n + PROTO_MAX_CURVE - 1) / PROTO_MAX_CURVE;
		res->curve_step = step;
		for (int k = 0; k < n && res->n_curve < PROTO_MAX_CURVE; k += step) {
			res->equity[res->n_curve] = (float)(bt->values[k] / bt->values[0]);
			res->buy_hold[res->n_curve] = (float)(d->close[t0 + k] / d->close[t0]);
			res->n_curve++;
		}
	}
	if (bt->n_fits > 0 && bt->n_models > 0 && bt->n_models <= PROTO_MAX_WEIGHTS) {
		int per_fits = PROTO_MAX_WEIGHTS / bt->n_models;
		int cap = per_fits < PROTO_MAX_FITS ? per_fits : PROTO_MAX_FITS;
		int step = (bt->n_fits + cap - 1) / cap;
		res->n_models = bt->n_models;
		for (int f = 0; f < bt->n_fits && res->n_fits < cap; f += step) {
			res->fit_dates[res->n_fits] = bt->fit_date[f];
			for (int m = 0; m < bt->n_models; m++)
				res->weights[res->n_fits * bt->n_models + m] =
					(float)bt->weights[(size_t)f * bt->n_models + m];
			res->n_fits++;
		}
	}
}

static void print_metrics_json(FILE *f, const char *ticker, const Metrics *m)
{
	fprintf(f, "{\"ticker\": \"%s\", \"total_return\": %.17g, \"sharpe\": %.17g, "
		"\"max_drawdown\": %.17g, \"volatility\": %.17g, \"win_rate\": %.17g, "
		"\"trades\": %lld, \"buy_hold_return\": %.17g, \"test_days\": %lld, "
		"\"actions\": [%lld, %lld, %lld]}\n",
		ticker, m->total_return, m->sharpe, m->max_drawdown, m->volatility, m->win_rate,
		(long long)m->trades, m->buy_hold_return, (long long)m->test_days,
		(long long)m->actions[0], (long long)m->actions[1], (long long)m->actions[2]);
}

static int code_for(int r)
{
	if (r == -ENOMEM)
		return TV_EXIT_OVER_BUDGET;
	/* Input that is wrong or missing stays so: never worth a retry. */
	if (r == -EINVAL || r == -ENOENT || r == -EACCES || r == -EISDIR || r == -ENOTDIR ||
	    r == -ELOOP || r == -EFBIG || r == -ENAMETOOLONG)
		return TV_EXIT_BAD_INPUT;
	return TV_EXIT_INTERNAL;
}

/* --evaluate: the backtest again from a model file, no training. */
static int evaluate(Worker *w)
{
	ModelFile mf;
	Backtest bt;
	int r, code;

	memset(&bt, 0, sizeof(bt));
	r = modelio_read_model(&mf, w->args.evaluate, w->err, sizeof(w->err));
	if (r < 0) {
		fprintf(stderr, "tickervisor-worker: %s\n", w->err);
		return code_for(r);
	}
	w->args.ticker = mf.ticker;
	/* The model's configuration goes through the same parser as a file;
	 * a message names the model file and the line of its text. */
	config_defaults(&w->cfg);
	r = config_load_text(&w->cfg, mf.config_text, strlen(mf.config_text), w->args.evaluate,
			     w->err, sizeof(w->err));
	if (r >= 0)
		r = config_validate(&w->cfg, w->err, sizeof(w->err));
	if (r >= 0) {
		openblas_set_num_threads(w->cfg.threads);
		if (blas_buffers_fit(w->cfg.threads, w->err, sizeof(w->err)) < 0) {
			fprintf(stderr, "tickervisor-worker: %s\n", w->err);
			exit_blas_oom();
		}
	}
	if (r >= 0)
		r = load_data(w, w->err, sizeof(w->err));
	if (r < 0) {
		fprintf(stderr, "tickervisor-worker: %s\n", w->err);
		model_file_free(&mf);
		return code_for(r);
	}
	if (w->data.fingerprint != mf.fingerprint) {
		fprintf(stderr, "tickervisor-worker: %s was trained on other data than %s\n",
			w->args.evaluate, w->args.data);
		code = TV_EXIT_BAD_INPUT;
		goto out;
	}
	if (w->data.n_chunks != mf.n_chunks) {
		fprintf(stderr, "tickervisor-worker: %s holds %d chunk models, but its configuration "
			"cuts %s into %d chunks\n", w->args.evaluate, mf.n_chunks, w->args.data,
			w->data.n_chunks);
		code = TV_EXIT_BAD_INPUT;
		goto out;
	}
	if (!strcmp(mf.model_kind, "lstm"))
		r = mf.lstm_hidden == w->cfg.lstm_hidden && mf.lstm_layers == w->cfg.lstm_layers &&
		    mf.lstm_window == w->cfg.lstm_window ?
			lstm_backtest_run(&w->cfg, &w->data, mf.params, &bt) : -EINVAL;
	else
		r = backtest_run(&w->cfg, &w->data, mf.params, mf.sizes, mf.n_layers, &bt);
	if (r < 0) {
		fprintf(stderr, "tickervisor-worker: backtest failed: %s\n", strerror(-r));
		code = code_for(r);
		goto out;
	}
	print_metrics_json(stdout, mf.ticker, &bt.m);
	if (memcmp(&bt.m, &mf.metrics, sizeof(bt.m)) != 0) {
		fprintf(stderr, "tickervisor-worker: %s: metrics differ from those stored in the model\n",
			w->args.evaluate);
		print_metrics_json(stderr, "stored", &mf.metrics);
		code = TV_EXIT_INTERNAL;
		goto out;
	}
	code = TV_EXIT_DONE;
out:
	backtest_free(&bt);
	train_data_free(&w->data);
	model_file_free(&mf);
	return code;
}

/* A checkpoint from other data or another configuration never becomes
 * usable by retrying: the message names the way out. */
static void resume_hint(Worker *w, int r)
{
	char msg[sizeof(w->err)];

	if (r != -EINVAL)
		return;
	/* First, so that a reason cut to fit the protocol keeps it. */
	snprintf(msg, sizeof(msg), "%s", w->err);
	snprintf(w->err, sizeof(w->err), "needs --retrain (--retry-failed cannot fix it): %s", msg);
}

/* Resumes from exactly the file given: which checkpoint to resume from
 * (PATH or PATH.prev, by their checksums) is the supervisor's decision
 * (docs/protocol.md), so a damaged file is refused, naming it, and never
 * swapped for another. */
static int resume(Worker *w)
{
	return w->kind->unpack(w->job, w->args.ticker, w->args.resume, w->err, sizeof(w->err));
}

static void send_hello(Worker *w, const char *device_name)
{
	Msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_HELLO;
	m.u.hello.pid = getpid();
	snprintf(m.u.hello.ticker, sizeof(m.u.hello.ticker), "%s", w->args.ticker);
	snprintf(m.u.hello.backend, sizeof(m.u.hello.backend), "%s", w->use_gpu ? "cuda" : "cpu");
	snprintf(m.u.hello.device, sizeof(m.u.hello.device), "%s", device_name);
	m.u.hello.batch_size = w->cfg.batch_size;
	m.u.hello.total_chunks = w->data.n_chunks;
	m.u.hello.episodes_per_chunk = w->kind->episodes_per_chunk(&w->cfg);
	m.u.hello.skipped_rows = (int64_t)w->skipped_rows;
	report_send(&w->rp, &m);
	if (w->rp.fd >= 0 && w->faults.garbage && fault_fires(&w->faults)) {
		static const unsigned char junk[] = { 0, 0, 0, 6, 0xc1, 0xc1, 0xff, 0x00, 0x13, 0x37 };

		if (write(w->rp.fd, junk, sizeof(junk)) < 0)
			w->rp.broken = 1;
	}
	if (w->rp.fd >= 0 && w->faults.oversize && fault_fires(&w->faults)) {
		static const unsigned char big[] = { 0x01, 0x00, 0x00, 0x00 };

		if (write(w->rp.fd, big, sizeof(big)) < 0)
			w->rp.broken = 1;
	}
	report_heartbeat(&w->rp, 1);
}

/* Without a supervisor: where the memory went, for a person at a terminal. */
static void print_summary(Worker *w, const Backtest *bt)
{
	const MsgHeartbeat *h = &w->rp.hb;

	if (w->rp.fd >= 0)
		return;
	if (w->kind == &kind_ddqn) {
		fprintf(stderr, "%s: peak RSS %.1f MiB; own peaks: replay %.1f MiB, activations %.2f MiB, "
			"weights+optimizer %.2f MiB\n", w->args.ticker, h->rss_peak / 1048576.0,
			h->peak_replay / 1048576.0, h->peak_activations / 1048576.0,
			h->peak_weights / 1048576.0);
		fprintf(stderr, "%s: ensemble weights refitted %d times, %d fell back to uniform "
			"(QP KKT check)\n", w->args.ticker, bt->n_fits, bt->qp_fallbacks);
	} else {
		fprintf(stderr, "%s: peak RSS %.1f MiB; own peaks: activations %.2f MiB, "
			"weights+optimizer %.2f MiB, device %.2f MiB\n", w->args.ticker,
			h->rss_peak / 1048576.0, h->peak_activations / 1048576.0,
			h->peak_weights / 1048576.0, h->peak_device / 1048576.0);
	}
}

/* The pipeline of both model kinds after the data is loaded: init, resume,
 * train, backtest, model file. Returns the exit code. */
static int train_ticker(Worker *w, const char *device_name)
{
	KindHooks hooks;
	Backtest bt;
	Msg m;
	int r, code;

	memset(&bt, 0, sizeof(bt));
	w->err[0] = '\0';
	r = w->kind->init(&w->job, &w->cfg, &w->data, w->use_gpu, w->err, sizeof(w->err));
	if (r < 0) {
		code = code_for(r);
		send_error(w, code, r == -ENOMEM ? "out of memory" : w->err);
		goto out;
	}
	if (w->args.resume) {
		r = resume(w);
		if (r < 0) {
			code = code_for(r);
			resume_hint(w, r);
			send_error(w, code, w->err);
			goto out;
		}
		r = w->kind->resume(w->job);
		if (r < 0) {
			code = gpu_failed(w, r);
			goto out;
		}
	}
	send_hello(w, device_name);

	memset(&hooks, 0, sizeof(hooks));
	hooks.ctx = w;
	hooks.step = hook_step;
	hooks.episode = hook_episode;
	r = w->kind->run(w->job, &hooks);
	if (r > 0 && w->stopped) {
		code = TV_EXIT_INTERRUPTED;
		goto out;
	}
	if (r < 0) {
		code = w->exit_code ? w->exit_code : code_for(r == -EINVAL ? -EIO : r);
		if (!w->exit_code) {
			if (w->use_gpu)
				snprintf(w->err, sizeof(w->err), "training failed on the GPU: %s",
					 w->kind->gpu_error());
			else
				snprintf(w->err, sizeof(w->err), "training failed: %s",
					 r == -ENOMEM ? "out of memory" : strerror(-r));
			send_error(w, code, w->err);
		}
		goto out;
	}
	r = w->kind->backtest(w->job, &bt);
	if (r < 0) {
		code = code_for(r == -EINVAL ? -EIO : r);
		send_error(w, code, "backtest failed: out of memory");
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_RESULT;
	r = w->kind->write_model(w->job, w->args.ticker, &bt, w->model_path, &m.u.result.checksum,
				 w->err, sizeof(w->err));
	if (r < 0) {
		code = TV_EXIT_INTERNAL;
		send_error(w, code, w->err);
		goto out;
	}
	snprintf(m.u.result.model_path, sizeof(m.u.result.model_path), "%s", w->model_path);
	fill_result(&m.u.result, &bt.m);
	fill_curves(&m.u.result, &bt, &w->data);
	update_memory(w);
	report_heartbeat(&w->rp, 1);
	report_send(&w->rp, &m);
	print_summary(w, &bt);
	code = TV_EXIT_DONE;
out:
	backtest_free(&bt);
	if (w->job)
		w->kind->free(w->job);
	w->job = NULL;
	return code;
}

/* OpenBLAS starts its helper threads when the library loads (one per core
 * unless OPENBLAS_NUM_THREADS says otherwise), and each takes its work
 * buffer at once, retrying forever when that fails - so under an
 * address-space limit a helper spins at full CPU from before main() and
 * exit() waits for it forever. Run without helpers: when the variable is
 * unset, the worker executes itself again with OPENBLAS_NUM_THREADS=1
 * (same pid and file descriptors); run.threads > 1 adds threads later
 * through openblas_set_num_threads. */
static void exec_without_blas_helpers(char **argv)
{
	if (getenv("OPENBLAS_NUM_THREADS"))
		return;
	if (setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0)
		execv("/proc/self/exe", argv);
	/* Not fatal: training works with helpers; only the limit case spins. */
}

int main(int argc, char **argv)
{
	static Worker w;
	struct sigaction sa;
	char device_name[64] = "cpu";
	pid_t parent = getppid();
	int r, code;

	exec_without_blas_helpers(argv);
	if (parse_args(&w.args, argc, argv) < 0) {
		usage(stderr);
		return TV_EXIT_USAGE;
	}
	/* Die with the supervisor; then make sure it did not die already. */
	if (w.args.report_fd >= 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			return TV_EXIT_INTERRUPTED;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	if (w.args.report_fd < 0)
		sigaction(SIGINT, &sa, NULL);
	faults_init(&w.faults);

	if (w.args.evaluate)
		return evaluate(&w);

	report_init(&w.rp, w.args.report_fd, w.args.ticker, 1.0);
	r = load_config(&w, w.args.config, w.err, sizeof(w.err));
	if (r < 0) {
		send_error(&w, TV_EXIT_BAD_INPUT, w.err);
		return TV_EXIT_BAD_INPUT;
	}
	w.kind = kind_find(w.cfg.model);
	if (!w.kind) {
		snprintf(w.err, sizeof(w.err), "run.model = %s: not a model kind", w.cfg.model);
		send_error(&w, TV_EXIT_BAD_INPUT, w.err);
		return TV_EXIT_BAD_INPUT;
	}
	w.rp.interval = w.cfg.heartbeat;
	openblas_set_num_threads(w.cfg.threads);
	if (blas_buffers_fit(w.cfg.threads, w.err, sizeof(w.err)) < 0) {
		send_error(&w, TV_EXIT_OVER_BUDGET, w.err);
		exit_blas_oom();
	}
	r = choose_device(&w, device_name, sizeof(device_name));
	if (r < 0) {
		send_error(&w, TV_EXIT_BAD_INPUT, w.err);
		return TV_EXIT_BAD_INPUT;
	}
	if (mkdir(w.args.out, 0755) < 0 && errno != EEXIST) {
		snprintf(w.err, sizeof(w.err), "%s: cannot create the output folder: %s",
			 w.args.out, strerror(errno));
		send_error(&w, TV_EXIT_INTERNAL, w.err);
		return TV_EXIT_INTERNAL;
	}
	snprintf(w.ckpt_path, sizeof(w.ckpt_path), "%s/%s.ckpt", w.args.out, w.args.ticker);
	snprintf(w.model_path, sizeof(w.model_path), "%s/%s.model", w.args.out, w.args.ticker);

	r = load_data(&w, w.err, sizeof(w.err));
	if (r < 0) {
		code = code_for(r);
		send_error(&w, code, w.err);
		return code;
	}
	code = train_ticker(&w, device_name);
	train_data_free(&w.data);
	return code;
}
