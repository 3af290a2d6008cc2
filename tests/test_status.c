/* Issue 10/14: status_totals(), the run-wide progress and ETA of the live
 * view, by value on hand-made job rows. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "status.h"
#include "check.h"

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-9 * (fabs(b) > 1 ? fabs(b) : 1);
}

static JobRow row(JobState st, int64_t done, int64_t total, double started, double at,
                  int64_t start_eps)
{
	JobRow j;
	memset(&j, 0, sizeof j);
	j.ticker = "X";
	j.last_reason = j.model_path = j.ckpt_path = j.exit_kind = "";
	j.state = st;
	j.done_episodes = done;
	j.total_episodes = total;
	j.attempt_started_at = started;
	j.progress_at = at;
	j.attempt_start_episodes = start_eps;
	return j;
}

int main(void)
{
	StatusTotals t;

	/* One running ticker (10 of 40 episodes in its first 10 s), one done
	 * (40 of 40) before this run, two not started, one failed. The run
	 * started at t = 1000; now is 1010. */
	JobRow rows[5] = {
		row(JOB_RUNNING, 10, 40, 1000, 1010, 0),
		row(JOB_DONE, 40, 40, 900, 950, 0),
		row(JOB_PENDING, 0, 0, 0, 0, 0),
		row(JOB_PENDING, 0, 0, 0, 0, 0),
		row(JOB_FAILED, 7, 0, 990, 995, 0),
	};
	status_totals(rows, 5, 1000, 1010, &t);
	CHECK(t.counts[JOB_RUNNING] == 1 && t.counts[JOB_DONE] == 1 && t.counts[JOB_PENDING] == 2 &&
	      t.counts[JOB_FAILED] == 1, "counts");
	CHECK(t.done_episodes == 57 && t.total_episodes == 80, "raw %lld/%lld",
	      (long long)t.done_episodes, (long long)t.total_episodes);
	/* The unstarted two count as 40 each (the mean of the known sizes),
	 * not as zero: 50 of 160, not 50 of 80. The failed one is no work. */
	CHECK(t.n_unknown == 2 && near(t.est_total, 160), "est_total %g unknown %d", t.est_total, t.n_unknown);
	CHECK(t.work_done == 50 && near(t.percent, 31.25), "percent %g", t.percent);
	/* This run did 10 episodes in 10 s: 1 episode/s; 30 + 80 are left. */
	CHECK(near(t.rate, 1.0), "rate %g", t.rate);
	CHECK(near(t.eta_s, 110), "eta %g", t.eta_s);

	/* Before this run's first progress: the running attempt's own rate
	 * (done in an earlier run does not count as this run's pace). */
	JobRow r2[2] = {
		row(JOB_RUNNING, 30, 60, 2000, 2010, 20),   /* 10 episodes in 10 s */
		row(JOB_RUNNING, 12, 60, 2000, 2004, 0),    /* 12 in 4 s: 3/s */
	};
	status_totals(r2, 2, 2100, 2100, &t);
	CHECK(near(t.rate, 4.0), "running rates summed: %g", t.rate);
	CHECK(near(t.eta_s, (30 + 48) / 4.0), "eta %g", t.eta_s);
	/* A resumed run (the attempts started after the run did) counts only
	 * what it did itself: 10 + 12 episodes over 20 s. */
	status_totals(r2, 2, 1990, 2010, &t);
	CHECK(near(t.rate, 22.0 / 20.0), "run rate %g", t.rate);

	/* No rate yet: no ETA; no size yet: no percent either. */
	JobRow r3[2] = { row(JOB_RUNNING, 0, 50, 10, 0, 0), row(JOB_PENDING, 0, 0, 0, 0, 0) };
	status_totals(r3, 2, 10, 11, &t);
	CHECK(t.eta_s == -1 && near(t.percent, 0) && near(t.est_total, 100), "no rate: eta %g", t.eta_s);
	JobRow r4[1] = { row(JOB_PENDING, 0, 0, 0, 0, 0) };
	status_totals(r4, 1, 10, 11, &t);
	CHECK(t.percent == -1 && t.eta_s == -1, "no size: %g %g", t.percent, t.eta_s);
	/* Everything done: ETA 0 and 100%. */
	JobRow r5[2] = { row(JOB_DONE, 50, 50, 1, 2, 0), row(JOB_DONE, 50, 50, 1, 2, 0) };
	status_totals(r5, 2, 1, 3, &t);
	CHECK(t.eta_s == 0 && near(t.percent, 100), "done: %g %g", t.eta_s, t.percent);
	/* A done ticker whose recorded progress stops short of its size (45
	 * of 50: the result came before the last progress row) leaves no
	 * work: ETA 0, not unknown for want of a rate. */
	JobRow r6[2] = { row(JOB_DONE, 45, 50, 1, 2, 0), row(JOB_DONE, 50, 50, 1, 2, 0) };
	status_totals(r6, 2, 1, 3, &t);
	CHECK(t.eta_s == 0, "done, progress short: eta %g", t.eta_s);
	/* A done ticker that never reported its size (a worker without
	 * progress frames) is not a ticker of unknown size still to come: it
	 * adds nothing to the estimated total. */
	JobRow r7[2] = { row(JOB_DONE, 0, 0, 1, 2, 0), row(JOB_RUNNING, 50, 100, 1, 2, 0) };
	status_totals(r7, 2, 1, 3, &t);
	CHECK(t.n_unknown == 0 && near(t.est_total, 100), "done, no size: %d unknown, est_total %g",
	      t.n_unknown, t.est_total);

	return check_done("status");
}
