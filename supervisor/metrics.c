/* The Prometheus textfile (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void label(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Counts per exit kind, every kind listed (0 until it happens). */
static int kind_cb(void *arg, const StoreValue *c, int n)
{
	int64_t *counts = arg;
	(void)n;
	for (int k = 0; k < EXIT_KIND_COUNT; k++)
		if (!strcmp(c[0].text, policy_exit_kind_name((ExitKind)k)))
			counts[k] = c[1].i;
	return 0;
}

static int num_cb(void *arg, const StoreValue *c, int n)
{
	(void)n;
	*(double *)arg = c[0].is_null ? 0 : c[0].num;
	return 0;
}

/* One per-ticker gauge family over every job. */
static void per_ticker(FILE *out, const JobList *jobs, const char *name, const char *type,
                       const char *help, int which)
{
	family(out, name, type, help);
	for (int i = 0; i < jobs->n; i++) {
		const JobRow *j = &jobs->rows[i];
		int running = j->state == JOB_RUNNING;
		double v = 0;
		switch (which) {
		case 0: v = (double)j->done_episodes; break;
		case 1: v = (double)j->total_episodes; break;
		case 2:
			v = j->total_episodes > 0 ? (double)j->done_episodes / (double)j->total_episodes :
			    j->state == JOB_DONE ? 1 : 0;
			if (v > 1)
				v = 1;
			break;
		case 3: v = running ? (double)j->cur_rss : 0; break;
		case 4: v = (double)j->peak_rss; break;
		case 5: v = running ? (double)j->cur_vram : 0; break;
		case 6: v = (double)j->attempts; break;
		}
		fprintf(out, "%s{ticker=", name);
		label(out, j->ticker);
		fprintf(out, "} %.17g\n", v);
	}
}

int metrics_render(Store *s, FILE *out, double now)
{
	StoreRunInfo run;
	JobList *jobs = NULL;
	int64_t counts[4] = { 0, 0, 0, 0 };
	double last_ok = 0;
	int r, have_run;

	if ((have_run = r = store_run_latest(s, &run)) < 0)
		return r;
	if ((r = store_jobs_load(s, &jobs)) < 0)
		return r;
	for (int i = 0; i < jobs->n; i++)
		counts[jobs->rows[i].state]++;
	family(out, "tickervisor_jobs", "gauge", "Jobs (one per ticker) in each state.");
	for (int k = 0; k < 4; k++)
		fprintf(out, "tickervisor_jobs{state=\"%s\"} %" PRId64 "\n",
		        store_job_state_name((JobState)k), counts[k]);
	per_ticker(out, jobs, "tickervisor_ticker_done_episodes", "gauge",
	           "Episodes trained so far for the ticker.", 0);
	per_ticker(out, jobs, "tickervisor_ticker_total_episodes", "gauge",
	           "Episodes the ticker trains in all (0 until its worker reported it).", 1);
	per_ticker(out, jobs, "tickervisor_ticker_progress_ratio", "gauge",
	           "Done episodes over total episodes, 0 to 1.", 2);
	per_ticker(out, jobs, "tickervisor_ticker_rss_bytes", "gauge",
	           "Private resident memory of the running worker (0 when not running).", 3);
	per_ticker(out, jobs, "tickervisor_ticker_peak_rss_bytes", "gauge",
	           "Peak private resident memory of the ticker's latest attempt.", 4);
	per_ticker(out, jobs, "tickervisor_ticker_vram_bytes", "gauge",
	           "Device memory of the running worker (0 when not running).", 5);
	per_ticker(out, jobs, "tickervisor_ticker_attempts_total", "counter",
	           "Attempts ever made for the ticker.", 6);
	family(out, "tickervisor_budget_rss_bytes", "gauge", "budget.rss of the run (0 = unlimited).");
	fprintf(out, "tickervisor_budget_rss_bytes %" PRIu64 "\n", have_run ? run.budget_rss : 0);
	family(out, "tickervisor_budget_vram_bytes", "gauge", "budget.vram of the run (0 = unlimited).");
	fprintf(out, "tickervisor_budget_vram_bytes %" PRIu64 "\n", have_run ? run.budget_vram : 0);
	family(out, "tickervisor_attempts_total", "counter", "Ended attempts by how they ended.");
	int64_t kinds[EXIT_KIND_COUNT] = { 0 };
	r = store_query(s, "SELECT exit_kind, count(*) FROM attempts WHERE exit_kind IS NOT NULL"
	                " GROUP BY exit_kind", NULL, 0, kind_cb, kinds);
	for (int k = 0; k < EXIT_KIND_COUNT; k++)
		fprintf(out, "tickervisor_attempts_total{exit_kind=\"%s\"} %" PRId64 "\n",
		        policy_exit_kind_name((ExitKind)k), kinds[k]);
	if (r == 0)
		r = store_query(s, "SELECT max(ended_at) FROM attempts WHERE exit_kind = 'done'",
		                NULL, 0, num_cb, &last_ok);
	store_jobs_free(jobs);
	if (r < 0)
		return r;
	family(out, "tickervisor_last_success_timestamp_seconds", "gauge",
	       "When the latest ticker finished (seconds since the epoch; 0 = none yet).");
	fprintf(out, "tickervisor_last_success_timestamp_seconds %.3f\n", last_ok);
	if (have_run) {
		family(out, "tickervisor_run_start_timestamp_seconds", "gauge",
		       "When the run started (seconds since the epoch).");
		fprintf(out, "tickervisor_run_start_timestamp_seconds %.3f\n", run.started_at);
		family(out, "tickervisor_run_duration_seconds", "gauge",
		       "How long the run has been going, or went.");
		fprintf(out, "tickervisor_run_duration_seconds %.3f\n",
		        (run.ended_at > 0 ? run.ended_at : now) - run.started_at);
		family(out, "tickervisor_run_info", "gauge", "The run's id, name and host (value 1).");
		fprintf(out, "tickervisor_run_info{run=\"%" PRId64 "\",name=", run.id);
		label(out, run.name);
		fputs(",host=", out);
		label(out, run.host);
		fputs("} 1\n", out);
		family(out, "tickervisor_run_running", "gauge", "1 while the run is going, 0 once it ended.");
		fprintf(out, "tickervisor_run_running %d\n", run.ended_at > 0 ? 0 : 1);
	}
	return ferror(out) ? -EIO : 0;
}

int metrics_write(Store *s, const char *path, char *err, size_t errlen)
{
	char tmp[4200];
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Same folder as path, so the rename is atomic. */
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return r;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", tmp, strerror(-r));
		return r;
	}
	r = metrics_render(s, f, (double)ts.tv_sec + ts.tv_nsec * 1e-9);
	int write_failed = ferror(f);
	if (r < 0 && write_failed)
		r = 0;  /* a failed write (a full disk) is named below, with its errno */
	else if (r < 0)
		snprintf(err, errlen, "%s", store_errmsg(s));
	errno = 0;
	if (fflush(f) != 0 || fsync(fd) != 0 || write_failed) {
		if (r == 0) {
			r = errno ? -errno : -EIO;
			snprintf(err, errlen, "%s: %s", tmp, strerror(-r));
		}
	}
	if (fclose(f) != 0 && r == 0) {
		r = -EIO;
		snprintf(err, errlen, "%s: write failed", tmp);
	}
	if (r == 0 && rename(tmp, path) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (r < 0)
		unlink(tmp);
	return r;
}
