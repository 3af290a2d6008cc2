/* The status view: what `tickervisor status` shows, read from one or more
 * databases through read-only connections (it never blocks a run).
 *
 * Per ticker: state, attempt number, batch size, progress (chunk/episode,
 * done of total episodes and a percentage; a progress bar on a terminal),
 * current and peak RSS against the budget, the last failure reason and an
 * ETA from the progress rate of the running attempt. Then totals for the
 * run: jobs per state, overall progress.
 *
 * JSON (--json) is one object per database:
 *   {"db": PATH, "schema": N,
 *    "run": {"id":..,"name":..,"host":..,"pid":..,"started_at":..,
 *            "ended_at":..,"outcome":..,"budget_rss":..,"budget_vram":..} | null,
 *    "totals": {"jobs":N,"pending":N,"running":N,"done":N,"failed":N,
 *               "done_episodes":N,"total_episodes":N},
 *    "jobs": [{"ticker":..,"state":..,"attempt":N,"batch_size":N,
 *              "fit_batch_size":N,"chunk":N,"episode":N,"done_episodes":N,
 *              "total_episodes":N,"percent":X|null,"pid":N|null,"gpu":N|null,
 *              "rss":N,"peak_rss":N,"vram":N,"peak_vram":N,
 *              "eta_s":X|null,"last_reason":S,"model_path":S}, ...]}
 * (sizes in bytes, times in seconds since the epoch). Several databases:
 * a JSON array of such objects. */
#ifndef TV_STATUS_H
#define TV_STATUS_H

#include <stdio.h>

#include "store.h"

/* Counts summed over several databases (the shards of one run). */
typedef struct StatusTotals {
	int dbs, jobs;
	long long state[4];      /* by JobState */
	long long done_episodes, total_episodes;
} StatusTotals;

typedef struct StatusOptions {
	int json;      /* 1: JSON object instead of the table */
	int width;     /* terminal columns for the table (<= 0: 100) */
	int color;     /* 1: ANSI colours for states */
	int bars;      /* 1: a progress bar column (on a terminal) */
	double now;    /* seconds since the epoch; 0 = the clock (the ETA itself is
	                * remaining episodes / the attempt's progress rate) */
	int max_rows;  /* table only: at most this many job rows, running first,
	                * then failed, pending, done, and a "... N more jobs" line;
	                * 0 = every job. JSON always lists every job. */
	StatusTotals *sum; /* non-NULL: status_render adds this database's counts */
} StatusOptions;

/* Writes the status of one open store (reader or writer) to out, inside one
 * read snapshot. Returns 0, a store error (message in store_errmsg()), or
 * -EIO if writing to out failed. */
int status_render(Store *s, FILE *out, const StatusOptions *opt);

/* Opens each database read-only and renders it (a JSON array when
 * opt->json and n > 1; a blank line between tables; after several tables
 * one line "all N databases: ..." with the totals over all of them, e.g.
 * the shards of one run). A database that cannot
 * be opened gets its message (one line) instead of its table, in JSON
 * {"db": PATH, "error": MSG}, and the call returns its error after rendering
 * the others. */
int status_render_paths(const char *const *paths, int n, FILE *out,
                        const StatusOptions *opt);

/* The `tickervisor status` command: argv[0] is "status"; then
 * [DB ...] [--json] [--watch] [--interval SECONDS] [--no-color].
 * No DB: "run.db". --watch redraws every interval (default 2 s) until
 * SIGINT; colours and bars only when stdout is a terminal. Prints errors to
 * stderr. Returns the process exit status: 0 ok, 1 a database could not be
 * read, 64 usage. */
int status_main(int argc, char **argv);

#endif
