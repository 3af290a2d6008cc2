/* The status view: what `tickervisor status` shows, read from one or more
 * databases through read-only connections (it never blocks a run).
 *
 * Per ticker: state, attempt number, batch size, progress (done of total
 * episodes and a percentage; a progress bar on a terminal of 110 columns),
 * current and peak RSS against the budget, an ETA from the progress rate
 * of the running attempt and the last failure reason, always whole: where
 * it does not fit on the row's line it is wrapped onto continuation lines,
 * indented under the REASON column, or by 4 when that column is too far
 * right (an 80-column terminal). Then totals for the
 * run: jobs per state, overall progress and ETA (status_totals()). Rows:
 * running first, then failed (most recent first), pending, done.
 *
 * JSON (--json), for one database:
 *   {"db": PATH, "schema": N,
 *    "run": {"id":..,"name":..,"host":..,"pid":..,"started_at":..,
 *            "ended_at":..,"outcome":..,"budget_rss":..,"budget_vram":..} | null,
 *    "totals": {"jobs":N,"pending":N,"running":N,"done":N,"failed":N,
 *               "done_episodes":N,"total_episodes":N,"unsized":N,
 *               "est_total_episodes":X|null,"percent":X|null,
 *               "episodes_per_s":X,"eta_s":X|null},
 *    "jobs": [{"ticker":..,"state":..,"attempt":N,"batch_size":N,
 *              "fit_batch_size":N,"chunk":N,"episode":N,"done_episodes":N,
 *              "total_episodes":N,"percent":X|null,"pid":N|null,"gpu":N|null,
 *              "rss":N,"peak_rss":N,"vram":N,"peak_vram":N,
 *              "eta_s":X|null,"last_reason":S,"model_path":S}, ...]}
 * (sizes in bytes, times in seconds since the epoch). Several databases:
 * {"databases": [such objects], "totals": {the totals' members over them,
 * "databases": N, "databases_read": M}} (docs/status-json.md). */
#ifndef TV_STATUS_H
#define TV_STATUS_H

#include <stdio.h>

#include "store.h"

typedef struct StatusOptions {
	int json;      /* 1: JSON object instead of the table */
	int width;     /* terminal columns for the table (0: 100; < 0: no limit,
	                * as into a pipe) */
	int color;     /* 1: ANSI colours for states */
	int bars;      /* 1: a progress bar column (on a terminal) */
	double now;    /* seconds since the epoch; 0 = the clock (the ETA itself is
	                * remaining episodes / the attempt's progress rate) */
	int max_rows;  /* table only: at most this many job rows, and a
	                * "... N more jobs: N pending N done" line for the rest;
	                * 0 = every job. JSON always lists every job. */
	int live;      /* 1: a redrawn view: every line ends with "clear to end of
	                * line" and the backtest table is left out */
} StatusOptions;

/* Run-wide totals of a job list (pure; status_totals() has no I/O). */
typedef struct StatusTotals {
	int64_t counts[4];        /* jobs per JobState */
	int64_t done_episodes;    /* over every job */
	int64_t total_episodes;   /* reported totals, over every job */
	/* The work: every job that has not failed. */
	int64_t work_done;        /* episodes done */
	int n_unknown;            /* unfinished jobs that have not reported their size */
	double est_total;         /* reported totals + n_unknown * their mean */
	double percent;           /* work_done / est_total, -1 when no size is known */
	double rate;              /* episodes per second: those done by attempts of
	                           * this run over the time since it started; until
	                           * there are any, the running attempts' rates summed */
	double eta_s;             /* episodes left / rate; 0 when nothing is left;
	                           * -1 when unknown (no size or no rate yet) */
} StatusTotals;

/* run_started: the latest run's start (0 if none); now: the clock. */
void status_totals(const JobRow *rows, int n, double run_started, double now,
                   StatusTotals *ret);
/* Adds one shard's totals to a run's (*sum zeroed, percent -1, to start):
 * counts, episodes and rates add up, the ETA is the slowest shard's. */
void status_totals_add(StatusTotals *sum, const StatusTotals *t);

/* Writes the status of one open store (reader or writer) to out, inside one
 * read snapshot. Returns 0, a store error (message in store_errmsg()), or
 * -EIO if writing to out failed. */
int status_render(Store *s, FILE *out, const StatusOptions *opt);

/* Opens each database read-only and renders it (in JSON, for n > 1, an
 * object with the array and the totals; a blank line between tables; after several tables
 * one line "all N databases: ..." with the totals over all of them, e.g.
 * the shards of one run). A database that cannot
 * be opened gets its message (one line) instead of its table, in JSON
 * {"db": PATH, "error": MSG}, and the call returns its error after rendering
 * the others. */
int status_render_paths(const char *const *paths, int n, FILE *out,
                        const StatusOptions *opt);

/* The `tickervisor status` command: argv[0] is "status"; then
 * [DB ...] [--json] [--watch] [--interval SECONDS] [--no-color] [--run N]
 * [--help] [--version]. No DB: "out/tickervisor.db". --watch redraws every
 * interval (default 2 s) and on SIGWINCH, in place (cursor home, each line
 * cleared to its end), until the latest run of every database has ended;
 * colours and bars only when stdout is a terminal. --run N: run N of one
 * database. Prints errors to stderr. Returns the process exit status: 0 ok,
 * 1 a database could not be read, 64 usage. */
int status_main(int argc, char **argv);

/* The `tickervisor runs DB... [--config]` command: argv[0] is "runs". */
int status_runs_main(int argc, char **argv);

#endif
