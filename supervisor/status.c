/* The status view (see status.h). Reads through the store's functions
 * only; never writes. */
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_WIDTH 100
#define BAR_WIDTH 20

static double clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 1 when the run is not ended but its supervisor is gone: the pid is not
 * running on this host, or it is another program now (pid reused). A run
 * of another host cannot be checked from here (0). */
static int supervisor_gone(const StoreRunInfo *run, int have_run)
{
	char host[256] = "", path[64], cmd[256];
	ssize_t n;
	int fd;

	if (!have_run || run->ended_at > 0 || run->pid <= 0 ||
	    gethostname(host, sizeof host - 1) < 0 || strcmp(host, run->host) != 0)
		return 0;
	if (kill((pid_t)run->pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof path, "/proc/%" PRId64 "/cmdline", run->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, cmd, sizeof cmd - 1);
	close(fd);
	if (n <= 0)
		return 0;
	cmd[n] = '\0';  /* argv[0] */
	return strstr(cmd, "tickervisor") == NULL;
}

/* Seconds left for a running job from its attempt's progress rate, or -1
 * when there is no rate yet. */
static double job_eta(const JobRow *j)
{
	double dt = j->progress_at - j->attempt_started_at;
	int64_t done = j->done_episodes - j->attempt_start_episodes;

	if (j->state != JOB_RUNNING || j->total_episodes <= 0 || dt <= 0 || done <= 0)
		return -1;
	int64_t left = j->total_episodes - j->done_episodes;
	if (left < 0)
		left = 0;
	return (double)left * dt / (double)done;
}

static double job_percent(const JobRow *j)
{
	if (j->total_episodes <= 0)
		return j->state == JOB_DONE ? 100.0 : -1;
	double p = 100.0 * (double)j->done_episodes / (double)j->total_episodes;
	return p > 100.0 ? 100.0 : p;
}

static void format_duration(double s, char *buf, size_t len)
{
	if (s < 0) {
		snprintf(buf, len, "-");
		return;
	}
	long t = lround(s);
	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", t / 86400, (t % 86400) / 3600);
}

static void format_time(double t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !localtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "-");
}

/* JSON string with the escapes RFC 8259 requires. */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

static void json_num(FILE *out, double v)
{
	if (isfinite(v))
		fprintf(out, "%.15g", v);  /* epoch seconds keep their milliseconds */
	else
		fputs("null", out);
}

static void render_json(FILE *out, Store *s, const StoreRunInfo *run, int have_run,
                        const JobList *jobs, const int64_t counts[4],
                        int64_t done_eps, int64_t total_eps, double now,
                        const StoreResult *res, int n_res, int gone)
{
	fputs("{\"db\":", out);
	json_str(out, store_path(s));
	fprintf(out, ",\"schema\":%d,\"run\":", store_schema_version());
	if (have_run) {
		fprintf(out, "{\"id\":%" PRId64 ",\"name\":", run->id);
		json_str(out, run->name);
		fputs(",\"host\":", out);
		json_str(out, run->host);
		fprintf(out, ",\"pid\":%" PRId64 ",\"started_at\":", run->pid);
		json_num(out, run->started_at);
		fputs(",\"ended_at\":", out);
		if (run->ended_at > 0)
			json_num(out, run->ended_at);
		else
			fputs("null", out);
		fputs(",\"outcome\":", out);
		json_str(out, run->outcome);
		fprintf(out, ",\"supervisor_gone\":%s,\"warnings\":", gone ? "true" : "false");
		json_str(out, run->warnings);
		fprintf(out, ",\"budget_rss\":%" PRIu64 ",\"budget_vram\":%" PRIu64 "}",
		        run->budget_rss, run->budget_vram);
	} else {
		fputs("null", out);
	}
	fprintf(out, ",\"totals\":{\"jobs\":%d,\"pending\":%" PRId64 ",\"running\":%" PRId64
	        ",\"done\":%" PRId64 ",\"failed\":%" PRId64 ",\"done_episodes\":%" PRId64
	        ",\"total_episodes\":%" PRId64 "},\"jobs\":[",
	        jobs->n, counts[JOB_PENDING], counts[JOB_RUNNING], counts[JOB_DONE],
	        counts[JOB_FAILED], done_eps, total_eps);
	for (int i = 0; i < jobs->n; i++) {
		const JobRow *j = &jobs->rows[i];
		double pct = job_percent(j), eta = gone ? -1 : job_eta(j);
		int running = j->state == JOB_RUNNING;
		(void)now;
		fputs(i ? ",{\"ticker\":" : "{\"ticker\":", out);
		json_str(out, j->ticker);
		fputs(",\"state\":", out);
		json_str(out, store_job_state_name(j->state));
		fprintf(out, ",\"attempt\":%d,\"batch_size\":%d,\"fit_batch_size\":%d,"
		        "\"chunk\":%d,\"episode\":%d,\"done_episodes\":%" PRId64
		        ",\"total_episodes\":%" PRId64 ",\"percent\":",
		        j->attempts, j->batch_size, j->fit_batch_size, j->chunk, j->episode,
		        j->done_episodes, j->total_episodes);
		if (pct >= 0)
			json_num(out, pct);
		else
			fputs("null", out);
		if (running)
			fprintf(out, ",\"pid\":%" PRId64 ",\"gpu\":%d", j->pid, j->gpu);
		else
			fputs(",\"pid\":null,\"gpu\":null", out);
		fprintf(out, ",\"rss\":%" PRIu64 ",\"peak_rss\":%" PRIu64 ",\"vram\":%" PRIu64
		        ",\"peak_vram\":%" PRIu64 ",\"eta_s\":",
		        running ? j->cur_rss : 0, j->peak_rss, running ? j->cur_vram : 0, j->peak_vram);
		if (eta >= 0)
			json_num(out, eta);
		else
			fputs("null", out);
		fputs(",\"last_reason\":", out);
		json_str(out, j->last_reason);
		fputs(",\"model_path\":", out);
		json_str(out, j->model_path);
		fputc('}', out);
	}
	/* The latest out-of-sample backtest of each finished ticker. */
	fputs("],\"results\":[", out);
	for (int i = 0; i < n_res; i++) {
		const StoreResult *x = &res[i];

		fputs(i ? ",{\"ticker\":" : "{\"ticker\":", out);
		json_str(out, x->ticker);
		fputs(",\"total_return\":", out);
		json_num(out, x->total_return);
		fputs(",\"buy_hold_return\":", out);
		json_num(out, x->buy_hold_return);
		fputs(",\"sharpe\":", out);
		json_num(out, x->sharpe);
		fputs(",\"max_drawdown\":", out);
		json_num(out, x->max_drawdown);
		fputs(",\"win_rate\":", out);
		json_num(out, x->win_rate);
		fprintf(out, ",\"trades\":%" PRId64 ",\"test_days\":%" PRId64 "}", x->trades, x->test_days);
	}
	fputs("]}", out);
}

static const char *state_color(JobState st)
{
	switch (st) {
	case JOB_RUNNING: return "\033[36m";
	case JOB_DONE: return "\033[32m";
	case JOB_FAILED: return "\033[31m";
	default: return "\033[33m";
	}
}

static void render_text(FILE *out, Store *s, const StoreRunInfo *run, int have_run,
                        const JobList *jobs, const int64_t counts[4],
                        int64_t done_eps, int64_t total_eps, const StatusOptions *opt,
                        const StoreResult *res, int n_res, int gone)
{
	int width = opt->width > 0 ? opt->width : DEFAULT_WIDTH;
	char b1[32], b2[32], b3[32], line[1024];

	if (have_run) {
		format_time(run->started_at, b1, sizeof b1);
		fprintf(out, "%s: run %" PRId64 " '%s' on %s (pid %" PRId64 "), started %s, %s",
		        store_path(s), run->id, run->name, run->host[0] ? run->host : "?",
		        run->pid, b1, run->ended_at > 0 ? run->outcome :
		        gone ? "not running: its supervisor is gone (run again to resume)" : "running");
		if (run->budget_rss)
			fprintf(out, ", budget.rss %s",
			        policy_format_bytes(run->budget_rss, b2, sizeof b2));
		if (run->budget_vram)
			fprintf(out, ", budget.vram %s",
			        policy_format_bytes(run->budget_vram, b2, sizeof b2));
		fputc('\n', out);
		for (const char *w = run->warnings; w && *w;) {
			size_t wl = strcspn(w, "\n");
			fprintf(out, "warning: %.*s\n", (int)wl, w);
			w += wl + (w[wl] == '\n');
		}
	} else {
		fprintf(out, "%s: no run yet\n", store_path(s));
	}

	int n = snprintf(line, sizeof line, "%-10s %-8s %3s %6s %-18s %6s%s %10s %10s %5s %8s  %s",
	                 "TICKER", "STATE", "ATT", "BATCH", "PROGRESS", "%",
	                 opt->bars ? "                       " : "",
	                 "RSS", "PEAK", "%BUD", "ETA", "REASON");
	if (n > width && width < (int)sizeof line)
		line[width] = '\0';
	fprintf(out, "%s\n", line);

	/* With max_rows, the most interesting rows first: running, failed,
	 * pending, done; ticker order within each. */
	static const JobState order[4] = { JOB_RUNNING, JOB_FAILED, JOB_PENDING, JOB_DONE };
	int limit = opt->max_rows > 0 && opt->max_rows < jobs->n ? opt->max_rows : jobs->n;
	int shown = 0;
	for (int pass = 0; pass < 4; pass++)
	for (int i = 0; i < jobs->n && shown < limit; i++) {
		const JobRow *j = &jobs->rows[i];
		if (limit < jobs->n ? j->state != order[pass] : pass > 0)
			continue;
		shown++;
		double pct = job_percent(j), eta = gone ? -1 : job_eta(j);
		char prog[48], pcts[16], bar[BAR_WIDTH + 4], eta_s[24];
		int running = j->state == JOB_RUNNING;

		if (j->total_episodes > 0)
			snprintf(prog, sizeof prog, "c%d e%d %" PRId64 "/%" PRId64, j->chunk,
			         j->episode, j->done_episodes, j->total_episodes);
		else
			snprintf(prog, sizeof prog, "-");
		if (pct >= 0)
			snprintf(pcts, sizeof pcts, "%.1f%%", pct);
		else
			snprintf(pcts, sizeof pcts, "-");
		bar[0] = '\0';
		if (opt->bars) {
			int fill = pct > 0 ? (int)(pct / 100.0 * BAR_WIDTH + 0.5) : 0;
			bar[0] = ' ';
			bar[1] = '[';
			for (int k = 0; k < BAR_WIDTH; k++)
				bar[2 + k] = k < fill ? '#' : '.';
			bar[2 + BAR_WIDTH] = ']';
			bar[3 + BAR_WIDTH] = '\0';
		}
		format_duration(eta, eta_s, sizeof eta_s);
		if (running)
			policy_format_bytes(j->cur_rss, b1, sizeof b1);
		else
			snprintf(b1, sizeof b1, "-");
		if (j->peak_rss)
			policy_format_bytes(j->peak_rss, b2, sizeof b2);
		else
			snprintf(b2, sizeof b2, "-");
		if (have_run && run->budget_rss && j->peak_rss)
			snprintf(b3, sizeof b3, "%.0f%%",
			         100.0 * (double)j->peak_rss / (double)run->budget_rss);
		else
			snprintf(b3, sizeof b3, "-");
		/* Ticker and state first (the state may be coloured), then the rest;
		 * the line is cut at the terminal width, not counting colour codes. */
		char head[64];
		int hn = snprintf(head, sizeof head, "%-10s ", j->ticker);
		n = snprintf(line, sizeof line, " %3d %6d %-18s %6s%s %10s %10s %5s %8s  %s",
		             j->attempts, j->batch_size, prog, pcts, bar, b1, b2, b3, eta_s,
		             j->last_reason);
		int room = width - hn - 8;
		if (room < 0)
			room = 0;
		if (n > room && room < (int)sizeof line)
			line[room] = '\0';
		fprintf(out, "%s%s%-8s%s%s\n", head, opt->color ? state_color(j->state) : "",
		        gone && running ? "lost" : store_job_state_name(j->state),
		        opt->color ? "\033[0m" : "", line);
	}
	if (shown < jobs->n)
		fprintf(out, "... %d more jobs (max_rows %d)\n", jobs->n - shown, opt->max_rows);
	fprintf(out, "total: %d jobs: %" PRId64 " running, %" PRId64 " pending, %" PRId64
	        " done, %" PRId64 " failed", jobs->n, counts[JOB_RUNNING], counts[JOB_PENDING],
	        counts[JOB_DONE], counts[JOB_FAILED]);
	if (total_eps > 0)
		fprintf(out, "; %" PRId64 "/%" PRId64 " episodes (%.1f%%)", done_eps, total_eps,
		        100.0 * (double)done_eps / (double)total_eps);
	fputc('\n', out);
	if (n_res > 0) {
		fprintf(out, "backtest, out of sample (test days never trained on):\n");
		fprintf(out, "%-10s %5s %9s %9s %7s %7s %6s %6s\n", "TICKER", "DAYS", "RETURN",
		        "BUY&HOLD", "SHARPE", "MAX DD", "WIN", "TRADES");
		for (int i = 0; i < n_res; i++) {
			const StoreResult *x = &res[i];

			fprintf(out, "%-10s %5" PRId64 " %8.2f%% %8.2f%% %7.3f %6.2f%% %5.1f%% %6" PRId64 "\n",
			        x->ticker, x->test_days, 100 * x->total_return, 100 * x->buy_hold_return,
			        x->sharpe, 100 * x->max_drawdown, 100 * x->win_rate, x->trades);
		}
	}
}

int status_render(Store *s, FILE *out, const StatusOptions *opt)
{
	StatusOptions defaults = { 0 };
	StoreRunInfo run;
	JobList *jobs = NULL;
	int64_t counts[4] = { 0, 0, 0, 0 }, done_eps = 0, total_eps = 0;
	int have_run = 0, own_tx = 0, r, n_res = 0;
	StoreResult *res = NULL;

	if (!opt)
		opt = &defaults;
	r = store_begin(s);
	if (r == 0)
		own_tx = 1;
	else if (r != -EINVAL)  /* -EINVAL: the caller's transaction is open: use it */
		return r;
	if ((r = store_run_latest(s, &run)) < 0)
		goto out;
	have_run = r;
	if ((r = store_jobs_load(s, &jobs)) < 0)
		goto out;
	if ((r = store_results_latest(s, &res, &n_res)) < 0)
		goto out;
	for (int i = 0; i < jobs->n; i++) {
		const JobRow *j = &jobs->rows[i];
		counts[j->state]++;
		done_eps += j->done_episodes;
		total_eps += j->total_episodes;
	}
	int gone = supervisor_gone(&run, have_run);
	if (opt->json)
		render_json(out, s, &run, have_run, jobs, counts, done_eps, total_eps,
		            opt->now > 0 ? opt->now : clock_now(), res, n_res, gone);
	else
		render_text(out, s, &run, have_run, jobs, counts, done_eps, total_eps, opt, res, n_res,
		            gone);
	r = ferror(out) ? -EIO : 0;
out:
	if (own_tx)
		store_rollback(s);  /* a read: nothing to keep */
	store_jobs_free(jobs);
	free(res);
	return r;
}

int status_render_paths(const char *const *paths, int n, FILE *out,
                        const StatusOptions *opt)
{
	StatusOptions defaults = { 0 };
	int result = 0;

	if (!opt)
		opt = &defaults;
	if (opt->json && n > 1)
		fputc('[', out);
	for (int i = 0; i < n; i++) {
		char err[STORE_ERR_MAX];
		Store *s = NULL;
		int r = store_open(paths[i], 0, &s, err, sizeof err);

		if (i > 0)
			fputs(opt->json ? "," : "\n", out);
		if (r == 0) {
			r = status_render(s, out, opt);
			if (r < 0)
				snprintf(err, sizeof err, "%s", store_errmsg(s));
			store_close(s);
		}
		if (r < 0) {
			if (opt->json) {
				fputs("{\"db\":", out);
				json_str(out, paths[i]);
				fputs(",\"error\":", out);
				json_str(out, err);
				fputc('}', out);
			} else {
				fprintf(out, "%s\n", err);
			}
			if (result == 0)
				result = r;
		}
	}
	if (opt->json && n > 1)
		fputc(']', out);
	if (opt->json)
		fputc('\n', out);
	return ferror(out) ? -EIO : result;
}

static int usage(void)
{
	fprintf(stderr, "usage: tickervisor status [DB ...] [--json] [--watch]"
	        " [--interval SECONDS] [--no-color]\n"
	        "  DB defaults to out/tickervisor.db (OUT_DIR/tickervisor.db of a run)\n");
	return 64;
}

int status_main(int argc, char **argv)
{
	const char **paths = NULL;
	int n = 0, watch = 0, json = 0, no_color = 0, rc = 0;
	double interval = 2.0;
	StatusOptions opt;

	paths = calloc((size_t)(argc > 1 ? argc : 1), sizeof *paths);
	if (!paths) {
		fprintf(stderr, "tickervisor status: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--watch") == 0) {
			watch = 1;
		} else if (strcmp(argv[i], "--no-color") == 0) {
			no_color = 1;
		} else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			char *end;
			interval = strtod(argv[++i], &end);
			if (*end || !(interval > 0)) {
				fprintf(stderr, "tickervisor status: --interval '%s': not a positive number\n",
				        argv[i]);
				rc = usage();
				goto out;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "tickervisor status: unknown option '%s'\n", argv[i]);
			rc = usage();
			goto out;
		} else {
			paths[n++] = argv[i];
		}
	}
	/* `tickervisor run` keeps its database in OUT_DIR/tickervisor.db, and
	 * out_dir defaults to "out". */
	if (n == 0) {
		if (access("out/tickervisor.db", F_OK) != 0) {
			fprintf(stderr, "tickervisor status: no database given and out/tickervisor.db "
				"does not exist; name one: tickervisor status OUT_DIR/tickervisor.db\n");
			rc = 64;
			goto out;
		}
		paths[n++] = "out/tickervisor.db";
	}

	int tty = isatty(STDOUT_FILENO);
	memset(&opt, 0, sizeof opt);
	opt.json = json;
	opt.color = tty && !no_color && !json;
	opt.bars = tty && !json;
	opt.width = tty ? DEFAULT_WIDTH : 4096;  /* a pipe gets whole lines */
	if (tty) {
		struct winsize ws;
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
			opt.width = ws.ws_col;
	}
	for (;;) {
		if (watch && tty)
			fputs("\033[H\033[2J", stdout);
		int r = status_render_paths(paths, n, stdout, &opt);
		fflush(stdout);
		rc = r < 0 ? 1 : 0;
		if (!watch)
			break;
		struct timespec ts = { (time_t)interval,
		                       (long)((interval - (double)(time_t)interval) * 1e9) };
		nanosleep(&ts, NULL);
	}
out:
	free(paths);
	return rc;
}
