/* The status view (see status.h). Reads through the store's functions
 * only; never writes. */
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_WIDTH 100
#define BAR_WIDTH 20
/* A terminal that leaves the REASON column fewer columns than this gets
 * the reasons on lines of their own, indented by REASON_INDENT. */
#define REASON_MIN_COLS 30
#define REASON_INDENT 4

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

/* Issue 12: how the run chose its budget, what the scheduler waits for
 * (memory, or a slot), the limit after a kernel OOM kill, and the tickers
 * the memory ladder moved off its first rung. JSON: a "memory" member. */
static void put_line(FILE *out, const StatusOptions *opt, const char *text);

/* The memory plan, what the run waits for and the tickers off the first
 * rung. Returns the lines written (text). */
static int render_memory(FILE *out, Store *s, const StoreRunInfo *run, int have_run,
                         const JobList *jobs, const int64_t counts[4], int json,
                         const StatusOptions *opt)
{
	char line[1024];
	int lines = 0;
	char plan[512] = "", wait[512] = "";
	int limit = 0, n = 0;
	StoreShape *sh = NULL;
	if (have_run && store_run_memory_get(s, run->id, plan, sizeof plan, wait, sizeof wait, &limit) < 0)
		plan[0] = wait[0] = '\0';
	if (store_job_shapes(s, &sh, &n) < 0)
		n = 0;
	int live = have_run && run->ended_at <= 0;
	const char *slot = live && !wait[0] && counts[JOB_PENDING] > 0 ?
			   "waiting for a worker slot (run.parallel, workers_per_gpu) or a retry back-off" : "";
	if (json) {
		fputs(",\"memory\":{\"plan\":", out);
		json_str(out, plan);
		fputs(",\"waiting\":", out);
		json_str(out, live ? (wait[0] ? wait : slot) : "");
		fprintf(out, ",\"waiting_for_memory\":%s,\"workers_limit\":%d,\"rungs\":[",
		        live && wait[0] ? "true" : "false", limit);
	} else {
		if (plan[0]) {
			snprintf(line, sizeof line, "memory: %s", plan);
			put_line(out, opt, line);
			lines++;
		}
		if (live && (wait[0] || slot[0])) {
			snprintf(line, sizeof line, "pending: %s", wait[0] ? wait : slot);
			put_line(out, opt, line);
			lines++;
		}
		if (limit > 0) {
			snprintf(line, sizeof line, "memory: at most %d worker%s at once since a kernel OOM kill",
			         limit, limit == 1 ? "" : "s");
			put_line(out, opt, line);
			lines++;
		}
	}
	int k = 0;
	for (int i = 0; i < n; i++) {
		const char *ticker = "?";
		for (int j = 0; j < jobs->n; j++)
			if (jobs->rows[j].id == sh[i].job_id)
				ticker = jobs->rows[j].ticker;
		if (json) {
			fputs(k++ ? ",{\"ticker\":" : "{\"ticker\":", out);
			json_str(out, ticker);
			fputs(",\"rung\":", out);
			json_str(out, sh[i].rung);
			fprintf(out, ",\"buffer_size\":%d,\"chunk_length\":%d}", sh[i].buffer_size,
			        sh[i].chunk_length);
		} else {
			int ln = snprintf(line, sizeof line, "rung: %s on rung %s", ticker, sh[i].rung);
			if (sh[i].buffer_size > 0 && ln < (int)sizeof line)
				ln += snprintf(line + ln, sizeof line - (size_t)ln, ", buffer_size %d",
				               sh[i].buffer_size);
			if (sh[i].chunk_length > 0 && ln < (int)sizeof line)
				snprintf(line + ln, sizeof line - (size_t)ln, ", chunk_length %d",
				         sh[i].chunk_length);
			put_line(out, opt, line);
			lines++;
		}
	}
	if (json)
		fputs("]}", out);
	free(sh);
	return lines;
}

/* The members of a "totals" object, without its closing brace (one
 * database's, or the sum over several: docs/status-json.md). */
static void json_totals(FILE *out, const StatusTotals *t, int eta_known)
{
	fprintf(out, "{\"jobs\":%" PRId64 ",\"pending\":%" PRId64 ",\"running\":%" PRId64
	        ",\"done\":%" PRId64 ",\"failed\":%" PRId64 ",\"done_episodes\":%" PRId64
	        ",\"total_episodes\":%" PRId64 ",\"unsized\":%d,\"est_total_episodes\":",
	        t->counts[0] + t->counts[1] + t->counts[2] + t->counts[3], t->counts[JOB_PENDING],
	        t->counts[JOB_RUNNING], t->counts[JOB_DONE], t->counts[JOB_FAILED],
	        t->done_episodes, t->total_episodes, t->n_unknown);
	json_num(out, t->percent >= 0 ? t->est_total : NAN);
	fputs(",\"percent\":", out);
	json_num(out, t->percent >= 0 ? t->percent : NAN);
	fputs(",\"episodes_per_s\":", out);
	json_num(out, t->rate);
	fputs(",\"eta_s\":", out);
	json_num(out, eta_known && t->eta_s >= 0 ? t->eta_s : NAN);
}

static void render_json(FILE *out, Store *s, const StoreRunInfo *run, int have_run,
                        const JobList *jobs, const StatusTotals *t, double now,
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
	fputs(",\"totals\":", out);
	json_totals(out, t, t->eta_s >= 0);
	fputs("},\"jobs\":[", out);
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
	fputc(']', out);
	render_memory(out, s, run, have_run, jobs, t->counts, 1, NULL);
	fputc('}', out);
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

void status_totals(const JobRow *rows, int n, double run_started, double now, StatusTotals *t)
{
	int64_t known = 0, todo_known = 0, done_in_run = 0;
	int n_known = 0;

	memset(t, 0, sizeof *t);
	t->percent = t->eta_s = -1;
	for (int i = 0; i < n; i++) {
		const JobRow *j = &rows[i];
		t->counts[j->state]++;
		t->done_episodes += j->done_episodes;
		t->total_episodes += j->total_episodes;
		/* A failed ticker is no longer work to do. */
		if (j->state == JOB_FAILED)
			continue;
		t->work_done += j->done_episodes;
		if (j->total_episodes > 0) {
			known += j->total_episodes;
			n_known++;
			if (j->state != JOB_DONE && j->total_episodes > j->done_episodes)
				todo_known += j->total_episodes - j->done_episodes;
		} else if (j->state != JOB_DONE) {
			t->n_unknown++;
		}
		if (run_started > 0 && j->attempt_started_at >= run_started &&
		    j->done_episodes > j->attempt_start_episodes)
			done_in_run += j->done_episodes - j->attempt_start_episodes;
		double eta = job_eta(j);
		if (eta >= 0) {
			double rate = (double)(j->done_episodes - j->attempt_start_episodes) /
				      (j->progress_at - j->attempt_started_at);
			t->rate += rate;
		}
	}
	/* The run's own pace, start-up and gaps between workers included,
	 * once it has one; before that, the running attempts' rates. */
	if (done_in_run > 0 && now > run_started)
		t->rate = (double)done_in_run / (now - run_started);
	if (n_known == 0)
		return;
	/* A ticker that has not reported its size yet is as big as the mean
	 * of those that have (the tickers of one run share their settings). */
	double mean = (double)known / n_known;
	t->est_total = (double)known + mean * t->n_unknown;
	t->percent = t->est_total > 0 ? 100.0 * (double)t->work_done / t->est_total : -1;
	if (t->percent > 100)
		t->percent = 100;
	double left = (double)todo_known + mean * t->n_unknown;
	if (left <= 0)
		t->eta_s = 0;
	else if (t->rate > 0)
		t->eta_s = left / t->rate;
}

/* The columns of one job row after its state, up to the ETA (no reason,
 * no newline). */
static void job_columns(const JobRow *j, const StoreRunInfo *run, int have_run,
                        int bars, int gone, char *line, size_t len)
{
	char prog[48], pcts[16], bar[BAR_WIDTH + 4], eta_s[24], b1[32], b2[32], b3[32];
	double pct = job_percent(j), eta = gone ? -1 : job_eta(j);

	if (j->total_episodes > 0)
		snprintf(prog, sizeof prog, "%" PRId64 "/%" PRId64, j->done_episodes,
		         j->total_episodes);
	else
		snprintf(prog, sizeof prog, "-");
	if (pct >= 0)
		snprintf(pcts, sizeof pcts, "%.1f%%", pct);
	else
		snprintf(pcts, sizeof pcts, "-");
	bar[0] = '\0';
	if (bars) {
		int fill = pct > 0 ? (int)(pct / 100.0 * BAR_WIDTH + 0.5) : 0;
		bar[0] = ' ';
		bar[1] = '[';
		for (int k = 0; k < BAR_WIDTH; k++)
			bar[2 + k] = k < fill ? '#' : '.';
		bar[2 + BAR_WIDTH] = ']';
		bar[3 + BAR_WIDTH] = '\0';
	}
	format_duration(eta, eta_s, sizeof eta_s);
	if (j->state == JOB_RUNNING && j->cur_rss)
		policy_format_bytes(j->cur_rss, b1, sizeof b1);
	else
		snprintf(b1, sizeof b1, "-");
	if (j->peak_rss)
		policy_format_bytes(j->peak_rss, b2, sizeof b2);
	else
		snprintf(b2, sizeof b2, "-");
	if (have_run && run->budget_rss && j->peak_rss)
		snprintf(b3, sizeof b3, "%.0f%%", 100.0 * (double)j->peak_rss / (double)run->budget_rss);
	else
		snprintf(b3, sizeof b3, "-");
	snprintf(line, len, " %3d %5d %9s %6s%s %10s %10s %4s %7s", j->attempts,
	         j->batch_size, prog, pcts, bar, b1, b2, b3, eta_s);
}

/* Rows first: running, then failed (most recent first), then pending and
 * done while they fit. Returns the number of indices written to order. */
static int row_order(const JobList *jobs, int *order)
{
	int n = 0;
	for (int i = 0; i < jobs->n; i++)
		if (jobs->rows[i].state == JOB_RUNNING)
			order[n++] = i;
	int first_failed = n;
	for (int i = 0; i < jobs->n; i++)
		if (jobs->rows[i].state == JOB_FAILED)
			order[n++] = i;
	/* Insertion sort of the failed by end time, newest first. */
	for (int a = first_failed + 1; a < n; a++) {
		int v = order[a], b = a;
		while (b > first_failed && jobs->rows[order[b - 1]].attempt_ended_at <
		                           jobs->rows[v].attempt_ended_at) {
			order[b] = order[b - 1];
			b--;
		}
		order[b] = v;
	}
	for (int i = 0; i < jobs->n; i++)
		if (jobs->rows[i].state == JOB_PENDING)
			order[n++] = i;
	for (int i = 0; i < jobs->n; i++)
		if (jobs->rows[i].state == JOB_DONE)
			order[n++] = i;
	return n;
}

/* The columns the view may use: opt->width, 100 when it is 0, no limit
 * when it is negative (a pipe). */
static int view_width(const StatusOptions *opt)
{
	return opt->width < 0 ? INT_MAX / 2 : opt->width > 0 ? opt->width : DEFAULT_WIDTH;
}

/* Writes one line cut at width columns (not counting colour codes in
 * head's state), ending it with "clear to end of line" on a live view. */
static void put_line(FILE *out, const StatusOptions *opt, const char *text)
{
	fprintf(out, "%.*s%s\n", view_width(opt), text, opt->live ? "\033[K" : "");
}

/* Bytes of s (UTF-8) that fill at most cols columns, one per character:
 * the piece ends at the last space within them when there is one and the
 * rest does not fit, else between two characters. *ret_next: where the
 * next piece starts (after that space). */
static size_t wrap_piece(const char *s, int cols, size_t *ret_next)
{
	size_t i = 0, space = 0;
	int c = 0;
	if (cols < 1)
		cols = 1;
	while (s[i]) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (c == cols)
				break;
			c++;
		}
		if (s[i] == ' ' && i > 0)
			space = i;
		i++;
	}
	if (!s[i] || space == 0 || s[i] == ' ') {
		*ret_next = i + (s[i] == ' ');
		return i;
	}
	*ret_next = space + 1;
	return space;
}

/* Writes (print) or counts the lines of one job row: the ticker, the state
 * (coloured on a terminal), the columns, then the reason, whole: on the
 * row's line where it fits, else wrapped onto continuation lines
 * indented under the REASON column (by REASON_INDENT where that leaves
 * under REASON_MIN_COLS columns). Returns the lines. */
static int put_job_row(FILE *out, const StatusOptions *opt, const JobRow *j, const char *state,
                       const char *cols, int print)
{
	int width = view_width(opt);
	char head[96];
	int hn = snprintf(head, sizeof head, "%-8s %-7s", j->ticker, state);
	int at = hn + (int)strlen(cols) + 1;  /* the reason's column */
	const char *reason = j->last_reason, *eol = opt->live ? "\033[K" : "";
	int reason_cols = 0;
	for (const char *p = reason; *p; p++)
		reason_cols += ((unsigned char)*p & 0xc0) != 0x80;
	int indent = width - at >= REASON_MIN_COLS ? at : REASON_INDENT;
	int first = reason_cols == 0 || at + reason_cols <= width ? reason_cols :
	            indent == at ? width - at : 0;  /* columns of it on the row's line */
	size_t next = 0, len = first ? wrap_piece(reason, first, &next) : 0;
	int lines = 1;

	if (print) {
		/* The cut at the width does not count the colour codes. */
		int room = width - hn > 0 ? width - hn : 0;
		if (opt->color)
			fprintf(out, "%-8s %s%-7s\033[0m%.*s", j->ticker, state_color(j->state), state,
			        room, cols);
		else
			fprintf(out, "%.*s%.*s", width, head, room, cols);
		/* len > 0: the piece fits after the columns (at < width). */
		fprintf(out, "%s%.*s%s\n", len ? " " : "", (int)len, reason, eol);
	}
	for (const char *p = reason + next; *p; p += next, lines++) {
		len = wrap_piece(p, width - indent, &next);
		if (print)
			fprintf(out, "%*s%.*s%s\n", indent, "", (int)len, p, eol);
	}
	return lines;
}

static void render_text(FILE *out, Store *s, const StoreRunInfo *run, int have_run,
                        const JobList *jobs, const StatusTotals *t,
                        const StatusOptions *opt, const StoreResult *res, int n_res,
                        int gone)
{
	int width = view_width(opt);
	int bars = opt->bars && width >= 110;
	char b1[32], b2[32], line[1024];
	int n;

	if (have_run) {
		char rest[256];
		format_time(run->started_at, b1, sizeof b1);
		n = snprintf(line, sizeof line, "%s: run %" PRId64 " '%s' on %s (pid %" PRId64 ")",
		             store_path(s), run->id, run->name, run->host[0] ? run->host : "?", run->pid);
		int rn = snprintf(rest, sizeof rest, "started %s, %s", b1,
		                  run->ended_at > 0 ? run->outcome :
		                  gone ? "not running: its supervisor is gone (run again to resume)" :
		                  "running");
		if (run->budget_rss && rn < (int)sizeof rest)
			rn += snprintf(rest + rn, sizeof rest - (size_t)rn, ", budget.rss %s",
			               policy_format_bytes(run->budget_rss, b2, sizeof b2));
		if (run->budget_vram && rn < (int)sizeof rest)
			snprintf(rest + rn, sizeof rest - (size_t)rn, ", budget.vram %s",
			         policy_format_bytes(run->budget_vram, b2, sizeof b2));
		/* One line if it fits, else the start and outcome on the next. */
		if (n + 2 + (int)strlen(rest) <= width) {
			snprintf(line + n, sizeof line - (size_t)n, ", %s", rest);
		} else {
			put_line(out, opt, line);
			snprintf(line, sizeof line, "  %s", rest);
		}
	} else {
		snprintf(line, sizeof line, "%s: no run yet", store_path(s));
	}
	put_line(out, opt, line);
	/* Lines above the table that the live view's row budget (status_main)
	 * does not count: the job rows give way to them. */
	int extra = 0;
	for (const char *w = have_run ? run->warnings : NULL; w && *w;) {
		size_t wl = strcspn(w, "\n");
		snprintf(line, sizeof line, "warning: %.*s", (int)wl, w);
		put_line(out, opt, line);
		extra++;
		w += wl + (w[wl] == '\n');
	}
	extra += render_memory(out, s, run, have_run, jobs, t->counts, 0, opt);

	n = snprintf(line, sizeof line, "%-9s%-7s %3s %5s %9s %6s%s %10s %10s %4s %7s", "TICKER",
	             "STATE", "ATT", "BATCH", "EPISODES", "%", bars ? "                       " : "",
	             "RSS", "PEAK", "%BUD", "ETA");
	/* The reasons go on lines of their own where their column would
	 * leave them under REASON_MIN_COLS (put_job_row): so does the heading. */
	if (width - (n + 1) >= REASON_MIN_COLS) {
		snprintf(line + n, sizeof line - (size_t)n, " REASON");
	} else {
		put_line(out, opt, line);
		snprintf(line, sizeof line, "%*sREASON", REASON_INDENT, "");
		extra++;
	}
	put_line(out, opt, line);

	int *order = malloc(sizeof *order * (size_t)(jobs->n ? jobs->n : 1));
	int n_order = order ? row_order(jobs, order) : 0;
	int max_rows = opt->max_rows > 0 ? opt->max_rows - extra : 0;
	if (opt->max_rows > 0 && max_rows < 1)
		max_rows = 1;
	/* Rows while their lines (a wrapped reason takes more than one) fit
	 * in max_rows, the first one always; then the count of the rest. */
	int limit = n_order, used = 0;
	int64_t hidden[4] = { 0, 0, 0, 0 };
	for (int k = 0; k < n_order; k++) {
		const JobRow *j = &jobs->rows[order[k]];
		char cols[160];
		const char *state = gone && j->state == JOB_RUNNING ? "lost" :
		                    store_job_state_name(j->state);
		job_columns(j, run, have_run, bars, gone, cols, sizeof cols);
		int lines = limit == n_order ? put_job_row(out, opt, j, state, cols, 0) : 0;
		if (limit == n_order && max_rows > 0 && k > 0 && lines > max_rows - used)
			limit = k;
		if (k >= limit) {
			hidden[j->state]++;
			continue;
		}
		used += lines;
		put_job_row(out, opt, j, state, cols, 1);
	}
	free(order);
	if (limit < n_order) {
		n = snprintf(line, sizeof line, "... %d more jobs:", n_order - limit);
		static const JobState st_order[4] = { JOB_RUNNING, JOB_FAILED, JOB_PENDING, JOB_DONE };
		for (int k = 0; k < 4; k++)
			if (hidden[st_order[k]] && n < (int)sizeof line)
				n += snprintf(line + n, sizeof line - (size_t)n, " %" PRId64 " %s",
				              hidden[st_order[k]], store_job_state_name(st_order[k]));
		put_line(out, opt, line);
	}
	n = snprintf(line, sizeof line, "total: %d jobs: %" PRId64 " running, %" PRId64
	             " pending, %" PRId64 " done, %" PRId64 " failed", jobs->n,
	             t->counts[JOB_RUNNING], t->counts[JOB_PENDING], t->counts[JOB_DONE],
	             t->counts[JOB_FAILED]);
	if (t->percent >= 0) {
		char prog[160];
		int pn = snprintf(prog, sizeof prog, "%" PRId64 "/%s%.0f episodes (%.1f%%)",
		                  t->work_done, t->n_unknown ? "~" : "", t->est_total, t->percent);
		format_duration(t->eta_s, b1, sizeof b1);
		if (t->counts[JOB_RUNNING] || t->counts[JOB_PENDING])
			snprintf(prog + pn, sizeof prog - (size_t)pn, "; ETA %s", b1);
		/* One line if it fits, else the progress on a line of its own. */
		if (n + 2 + (int)strlen(prog) <= width) {
			snprintf(line + n, sizeof line - (size_t)n, "; %s", prog);
		} else {
			put_line(out, opt, line);
			snprintf(line, sizeof line, "  %s", prog);
		}
	}
	put_line(out, opt, line);
	if (n_res > 0 && !opt->live) {
		put_line(out, opt, "backtest, out of sample (test days never trained on):");
		snprintf(line, sizeof line, "%-10s %5s %9s %9s %7s %7s %6s %6s", "TICKER", "DAYS",
		         "RETURN", "BUY&HOLD", "SHARPE", "MAX DD", "WIN", "TRADES");
		put_line(out, opt, line);
		for (int i = 0; i < n_res; i++) {
			const StoreResult *x = &res[i];

			snprintf(line, sizeof line, "%-10s %5" PRId64 " %8.2f%% %8.2f%% %7.3f %6.2f%% %5.1f%% %6" PRId64,
			         x->ticker, x->test_days, 100 * x->total_return, 100 * x->buy_hold_return,
			         x->sharpe, 100 * x->max_drawdown, 100 * x->win_rate, x->trades);
			put_line(out, opt, line);
		}
	} else if (n_res > 0) {
		snprintf(line, sizeof line, "%d backtest results: tickervisor status without --watch lists them",
		         n_res);
		put_line(out, opt, line);
	}
}

/* status_render(), and *ret_running (may be NULL) = 1 while the latest run
 * has not ended (or no run has started yet). */
static int render_one(Store *s, FILE *out, const StatusOptions *opt, int *ret_running,
                      StatusTotals *ret_totals)
{
	StatusOptions defaults = { 0 };
	StoreRunInfo run;
	JobList *jobs = NULL;
	StatusTotals t;
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
	double now = opt->now > 0 ? opt->now : clock_now();
	status_totals(jobs->rows, jobs->n, have_run ? run.started_at : 0, now, &t);
	int gone = supervisor_gone(&run, have_run);
	if (gone)
		t.eta_s = -1;
	if (opt->json)
		render_json(out, s, &run, have_run, jobs, &t, now, res, n_res, gone);
	else
		render_text(out, s, &run, have_run, jobs, &t, opt, res, n_res, gone);
	if (ret_totals)
		*ret_totals = t;
	if (ret_running)
		*ret_running = !have_run || run.ended_at <= 0;
	r = ferror(out) ? -EIO : 0;
out:
	if (own_tx)
		store_rollback(s);  /* a read: nothing to keep */
	store_jobs_free(jobs);
	free(res);
	return r;
}

int status_render(Store *s, FILE *out, const StatusOptions *opt)
{
	return render_one(s, out, opt, NULL, NULL);
}

/* status_render_paths(), and *ret_live = how many databases have a run
 * still going. */
static int render_paths(const char *const *paths, int n, FILE *out,
                        const StatusOptions *opt, int *ret_live)
{
	StatusOptions defaults = { 0 };
	StatusTotals sum;
	int result = 0, live = 0, n_read = 0, sum_eta_known = 1;

	memset(&sum, 0, sizeof sum);
	sum.percent = -1;
	if (!opt)
		opt = &defaults;
	if (opt->json && n > 1)
		fputs("{\"databases\":[", out);
	for (int i = 0; i < n; i++) {
		char err[STORE_ERR_MAX];
		Store *s = NULL;
		int r = store_open(paths[i], 0, &s, err, sizeof err);

		if (i > 0)
			fputs(opt->json ? "," : "\n", out);
		if (r == 0) {
			int running = 0;
			StatusTotals t;
			r = render_one(s, out, opt, &running, &t);
			live += running;
			if (r == 0) {
				status_totals_add(&sum, &t);
				sum_eta_known &= t.eta_s >= 0;
				n_read++;
			}
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
	if (opt->json && n > 1) {
		/* The totals over the databases read, as the text's last line. */
		fputs("],\"totals\":", out);
		json_totals(out, &sum, sum_eta_known && n_read > 0);
		fprintf(out, ",\"databases\":%d,\"databases_read\":%d}}", n, n_read);
	}
	if (opt->json)
		fputc('\n', out);
	if (!opt->json && n > 1) {
		/* The shards of one run: the totals over every database. */
		char line[512], b1[32];
		int k = snprintf(line, sizeof line, "all %d databases (%d read): %" PRId64 " jobs: %"
		                 PRId64 " running, %" PRId64 " pending, %" PRId64 " done, %" PRId64
		                 " failed", n, n_read, sum.counts[0] + sum.counts[1] + sum.counts[2] +
		                 sum.counts[3], sum.counts[JOB_RUNNING], sum.counts[JOB_PENDING],
		                 sum.counts[JOB_DONE], sum.counts[JOB_FAILED]);
		if (sum.percent >= 0 && k < (int)sizeof line) {
			k += snprintf(line + k, sizeof line - (size_t)k, "; %" PRId64 "/%s%.0f episodes (%.1f%%)",
			              sum.work_done, sum.n_unknown ? "~" : "", sum.est_total, sum.percent);
			if ((sum.counts[JOB_RUNNING] || sum.counts[JOB_PENDING]) && sum_eta_known &&
			    sum.eta_s >= 0 && k < (int)sizeof line) {
				format_duration(sum.eta_s, b1, sizeof b1);
				snprintf(line + k, sizeof line - (size_t)k, "; ETA %s", b1);
			}
		}
		fputc('\n', out);
		put_line(out, opt, line);
	}
	if (ret_live)
		*ret_live = live;
	return ferror(out) ? -EIO : result;
}

int status_render_paths(const char *const *paths, int n, FILE *out,
                        const StatusOptions *opt)
{
	return render_paths(paths, n, out, opt, NULL);
}


void status_totals_add(StatusTotals *sum, const StatusTotals *t)
{
	for (int k = 0; k < 4; k++)
		sum->counts[k] += t->counts[k];
	sum->done_episodes += t->done_episodes;
	sum->total_episodes += t->total_episodes;
	sum->work_done += t->work_done;
	sum->n_unknown += t->n_unknown;
	sum->rate += t->rate;
	if (t->percent >= 0)
		sum->est_total += t->est_total;
	sum->percent = sum->est_total > 0 ? 100.0 * (double)sum->work_done / sum->est_total : -1;
	if (sum->percent > 100)
		sum->percent = 100;
	/* Shards run side by side: the run ends with its slowest shard. */
	if (t->eta_s > sum->eta_s)
		sum->eta_s = t->eta_s;
}

/* ---- One earlier run (status --run N) and the list of runs (runs) ---- */

static void print_run_line(FILE *out, const StoreRun *r)
{
	char b1[32], b2[32], b3[32];
	format_time(r->started_at, b1, sizeof b1);
	format_duration(r->ended_at > 0 ? r->ended_at - r->started_at : -1, b2, sizeof b2);
	fprintf(out, "%4" PRId64 "  %-19s %8s %-9s %-14s %5" PRId64 " %7" PRId64 " %7" PRId64,
	        r->id, b1, b2, r->ended_at > 0 ? r->outcome : "running", r->name, r->tickers,
	        r->attempts, r->results);
	if (r->results)
		fprintf(out, " %8.2f%% %7.3f", 100 * r->mean_return, r->mean_sharpe);
	else
		fprintf(out, " %9s %7s", "-", "-");
	fprintf(out, "  %s\n", r->budget_rss ? policy_format_bytes(r->budget_rss, b3, sizeof b3) : "-");
}

static const char RUNS_HEADER[] =
	"  ID  STARTED             DURATION OUTCOME   NAME           TICKERS ATTEMPTS RESULTS  MEAN RET  SHARPE  BUDGET.RSS\n";

/* `runs DB...`: every run of each database; config: its INI text too. */
static int list_runs(const char *path, FILE *out, int with_config)
{
	char err[STORE_ERR_MAX];
	Store *s = NULL;
	StoreRun *runs = NULL;
	int n = 0;
	int r = store_open(path, 0, &s, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "tickervisor runs: %s\n", err);
		return r;
	}
	r = store_runs_list(s, 0, &runs, &n);
	if (r < 0) {
		fprintf(stderr, "tickervisor runs: %s\n", store_errmsg(s));
	} else {
		fprintf(out, "%s: %d run%s\n", path, n, n == 1 ? "" : "s");
		fputs(RUNS_HEADER, out);
		for (int i = 0; i < n; i++) {
			print_run_line(out, &runs[i]);
			if (with_config) {
				fputs("      config:\n", out);
				for (const char *p = runs[i].config; *p;) {
					const char *e = strchr(p, '\n');
					int len = e ? (int)(e - p) : (int)strlen(p);
					fprintf(out, "        %.*s\n", len, p);
					p += len + (e ? 1 : 0);
				}
			}
		}
	}
	store_runs_free(runs, n);
	store_close(s);
	return r;
}

typedef struct RunJobsCtx {
	FILE *out;
	uint64_t budget;
	int n;
} RunJobsCtx;

static int run_job_cb(void *arg, const StoreValue *c, int n)
{
	RunJobsCtx *x = arg;
	char b1[32], b2[32], b3[16];
	(void)n;
	format_duration(c[4].num > 0 ? c[4].num : -1, b1, sizeof b1);
	if (c[5].i > 0)
		policy_format_bytes((uint64_t)c[5].i, b2, sizeof b2);
	else
		snprintf(b2, sizeof b2, "-");
	if (x->budget && c[5].i > 0)
		snprintf(b3, sizeof b3, "%.0f%%", 100.0 * (double)c[5].i / (double)x->budget);
	else
		snprintf(b3, sizeof b3, "-");
	fprintf(x->out, "%-9s%-15s %3" PRId64 " %5" PRId64 " %10s %4s %8s", c[0].text,
	        c[1].is_null ? "running" : c[1].text, c[2].i, c[3].i, b2, b3, b1);
	if (!c[6].is_null)
		fprintf(x->out, " %8.2f%% %8.2f%% %7.3f", 100 * c[6].num, 100 * c[7].num, c[8].num);
	fputc('\n', x->out);
	x->n++;
	return 0;
}

/* `status --run N`: run N of one database, each ticker's last attempt in it
 * and the backtest recorded by it. */
static int show_run(const char *path, int64_t run_id, FILE *out)
{
	char err[STORE_ERR_MAX];
	Store *s = NULL;
	StoreRun *runs = NULL;
	int n = 0;
	int r = store_open(path, 0, &s, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "tickervisor status: %s\n", err);
		return r;
	}
	r = store_runs_list(s, run_id, &runs, &n);
	if (r == 0 && n == 0) {
		fprintf(stderr, "tickervisor status: %s: no run %" PRId64 " (tickervisor runs %s lists them)\n",
		        path, run_id, path);
		r = -ENOENT;
	} else if (r < 0) {
		fprintf(stderr, "tickervisor status: %s\n", store_errmsg(s));
	} else {
		fprintf(out, "%s: run %" PRId64 "\n", path, run_id);
		fputs(RUNS_HEADER, out);
		print_run_line(out, &runs[0]);
		fprintf(out, "%-9s%-15s %3s %5s %10s %4s %8s %9s %9s %7s\n", "TICKER", "LAST EXIT",
		        "ATT", "BATCH", "PEAK", "%BUD", "TIME", "RETURN", "BUY&HOLD", "SHARPE");
		RunJobsCtx x = { out, runs[0].budget_rss, 0 };
		r = store_query(s,
			"SELECT j.ticker, a.exit_kind,"
			" (SELECT count(*) FROM attempts b WHERE b.job_id = j.id AND b.run_id = ?1),"
			" a.batch_size, coalesce(a.ended_at, 0) - a.started_at,"
			" (SELECT max(b.peak_rss) FROM attempts b WHERE b.job_id = j.id AND b.run_id = ?1),"
			" x.total_return, x.buy_hold_return, x.sharpe"
			" FROM jobs j JOIN attempts a ON a.id = (SELECT max(b.id) FROM attempts b"
			"   WHERE b.job_id = j.id AND b.run_id = ?1)"
			" LEFT JOIN results x ON x.id = (SELECT max(y.id) FROM results y"
			"   JOIN attempts b ON b.id = y.attempt_id WHERE y.job_id = j.id AND b.run_id = ?1)"
			" ORDER BY j.ticker", &run_id, 1, run_job_cb, &x);
		if (r < 0)
			fprintf(stderr, "tickervisor status: %s\n", store_errmsg(s));
		else if (x.n == 0)
			fputs("(no attempts in this run)\n", out);
	}
	store_runs_free(runs, n);
	store_close(s);
	return r;
}

/* ---- The commands ---- */

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static void status_usage(FILE *f)
{
	fputs("usage: tickervisor status [DB ...] [--json] [--watch] [--interval SECONDS]\n"
	      "                          [--no-color] [--run N]\n"
	      "  The jobs of the latest run of each database (default out/tickervisor.db):\n"
	      "  running first, then the recently failed, then the rest; totals and ETA.\n"
	      "  --watch         redraw every --interval seconds (default 2) until the run ends\n"
	      "  --json          JSON: one database's object; for several, their objects and\n"
	      "                  the totals over them (docs/status-json.md)\n"
	      "  --run N         an earlier run N of one database (tickervisor runs DB lists them)\n"
	      "  --no-color      no ANSI colours\n"
	      "  -h, --help      this help;  -V, --version  the version\n", f);
}

/* The terminal's size, or 0s when stdout is not one. */
static void term_size(int *cols, int *rows)
{
	struct winsize ws;
	*cols = *rows = 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

int status_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ "no-color", no_argument, NULL, 'C' },
		{ "interval", required_argument, NULL, 'i' },
		{ "run", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *paths_default[1] = { "out/tickervisor.db" };
	const char *const *paths;
	int n, watch = 0, json = 0, no_color = 0, c;
	int64_t run_id = 0;
	double interval = 2.0;
	char *end;
	StatusOptions opt;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hV", longs, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'w': watch = 1; break;
		case 'C': no_color = 1; break;
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval > 0) || interval > 86400) {
				fprintf(stderr, "tickervisor status: --interval '%s': not a number of seconds in (0, 86400]\n",
				        optarg);
				status_usage(stderr);
				return 64;
			}
			break;
		case 'r':
			run_id = strtoll(optarg, &end, 10);
			if (*end || run_id <= 0) {
				fprintf(stderr, "tickervisor status: --run '%s': not a run id (a positive integer)\n",
				        optarg);
				return 64;
			}
			break;
		case 'h': status_usage(stdout); return 0;
		case 'V': printf("tickervisor %s\n", TV_VERSION); return 0;
		default:
			if (optopt)
				fprintf(stderr, "tickervisor status: option '-%c' is unknown or needs a value\n", optopt);
			else
				fprintf(stderr, "tickervisor status: option '%s' is unknown or needs a value\n",
				        argv[optind - 1]);
			status_usage(stderr);
			return 64;
		}
	}
	paths = (const char *const *)argv + optind;
	n = argc - optind;
	/* `tickervisor run` keeps its database in OUT_DIR/tickervisor.db, and
	 * out_dir defaults to "out". */
	if (n == 0) {
		if (access(paths_default[0], F_OK) != 0) {
			fprintf(stderr, "tickervisor status: no database given and out/tickervisor.db "
				"does not exist; name one: tickervisor status OUT_DIR/tickervisor.db\n");
			return 64;
		}
		paths = paths_default;
		n = 1;
	}
	if (run_id > 0) {
		if (n != 1 || watch || json) {
			fprintf(stderr, "tickervisor status: --run takes one database, without --watch or --json\n");
			return 64;
		}
		return show_run(paths[0], run_id, stdout) < 0 ? 1 : 0;
	}

	int tty = isatty(STDOUT_FILENO), cols, rows;
	memset(&opt, 0, sizeof opt);
	opt.json = json;
	opt.color = tty && !no_color && !json;
	opt.bars = tty && !json;
	opt.live = watch && tty && !json;
	if (watch && tty) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_winch;  /* no SA_RESTART: the sleep ends at once */
		sigaction(SIGWINCH, &sa, NULL);
		fputs("\033[?25l\033[2J", stdout);  /* hide the cursor, clear once */
	}
	int rc = 0;
	for (;;) {
		int live = 0;
		winch = 0;
		term_size(&cols, &rows);
		opt.width = tty ? (cols > 0 ? cols : DEFAULT_WIDTH) : -1;  /* a pipe gets whole lines */
		/* Per database: two run lines, the header, the summary line, two
		 * totals lines, a blank; the rest of the screen is job rows. */
		opt.max_rows = 0;
		if (opt.live && rows > 0) {
			opt.max_rows = (rows - 1) / n - 7;
			if (opt.max_rows < 1)
				opt.max_rows = 1;
		}
		if (opt.live)
			fputs("\033[H", stdout);
		int r = render_paths(paths, n, stdout, &opt, &live);
		if (opt.live)
			fputs("\033[J", stdout);  /* what the last frame had below */
		fflush(stdout);
		rc = r < 0 ? 1 : 0;
		if (!watch || (live == 0 && r == 0))
			break;
		struct timespec ts = { (time_t)interval,
		                       (long)((interval - (double)(time_t)interval) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !winch)
			;
	}
	if (watch && tty)
		fputs("\033[?25h", stdout);
	fflush(stdout);
	return rc;
}

int status_runs_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "config", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, with_config = 0, rc = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "chV", longs, NULL)) != -1) {
		switch (c) {
		case 'c': with_config = 1; break;
		case 'h':
			fputs("usage: tickervisor runs DB ... [--config]\n"
			      "  Every run recorded in each database: when, how long, outcome, tickers,\n"
			      "  attempts, results (mean out-of-sample return and Sharpe), budget;\n"
			      "  --config prints each run's configuration too.\n"
			      "  tickervisor status --run N DB shows one of them.\n", stdout);
			return 0;
		case 'V': printf("tickervisor %s\n", TV_VERSION); return 0;
		default:
			fprintf(stderr, "tickervisor runs: option '%s' is unknown\n", argv[optind - 1]);
			fputs("usage: tickervisor runs DB ... [--config]\n", stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		fputs("tickervisor runs: no database given\nusage: tickervisor runs DB ... [--config]\n", stderr);
		return 64;
	}
	for (int i = optind; i < argc; i++) {
		if (i > optind)
			fputc('\n', stdout);
		if (list_runs(argv[i], stdout, with_config) < 0)
			rc = 1;
	}
	return rc;
}
