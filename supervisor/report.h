/* `tickervisor report DB... -o FILE.html [--csv DIR]`: one self-contained
 * HTML page (inline CSS and SVG, a small inline script that only sorts the
 * table; nothing is fetched) over one or more databases (shards of one run
 * make one report), and the same tables as CSV files.
 *
 * The page: the runs and their configuration; a table of every ticker
 * (state, attempts, batch size that fit, peak RSS against the budget, time
 * trained, out-of-sample return, Sharpe and drawdown against buy-and-hold);
 * per ticker, memory over time for every attempt with the budget line and
 * each kill and batch halving marked, loss and episode reward per episode,
 * and, where the database holds them, the out-of-sample equity curve against
 * buy-and-hold and the ensemble weights over time.
 *
 * Long series are cut to at most ReportOptions.max_points points per line
 * by buckets: memory keeps each bucket's maximum (a peak and the sample
 * that crossed the budget always survive), loss and reward each bucket's
 * mean. The page says so. Reads through read-only connections only. */
#ifndef TV_REPORT_H
#define TV_REPORT_H

#include <stdio.h>

typedef struct ReportOptions {
	int max_points;     /* per line (>= 16); 0 = 300 */
	double now;         /* "generated at" (seconds since the epoch); 0 = the clock */
} ReportOptions;

/* Writes the HTML page for the databases to out. Returns 0, or a negative
 * errno with a message (naming the database) in err. */
int report_html(const char *const *paths, int n, FILE *out, const ReportOptions *opt,
                char *err, size_t errlen);

/* Writes DIR/runs.csv, DIR/tickers.csv and DIR/attempts.csv (DIR is
 * created if missing). Returns 0 or a negative errno with err. */
int report_csv(const char *const *paths, int n, const char *dir, char *err, size_t errlen);

/* The command: argv[0] is "report". Returns the exit status (0, 1 an
 * error reading or writing, 64 usage). */
int report_main(int argc, char **argv);

#endif
