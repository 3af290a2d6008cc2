/* What a run checks once, when it starts, before any worker: the files each
 * ticker will read, the signals folder, and whether the database's jobs
 * were trained under the model-shaping configuration of this run.
 * Nothing here prints; messages go into the caller's buffers. */
#ifndef TV_RUNSTATE_H
#define TV_RUNSTATE_H

#include <stddef.h>

#include "common/config.h"
#include "store.h"

/* The reason prefix of a ticker failed by the input check at start. Such a
 * ticker is checked again by the next run and goes back to pending once
 * its file is fixed. */
#define RUNSTATE_INPUT_PREFIX "input check at start: "

/* Checks one input file as the worker will read it: it exists (following
 * symlinks; a loop is ELOOP), is a regular file (not a folder, FIFO, device
 * or socket; opened without blocking), is readable, is not over the
 * worker's CSV size limit (named), and its first line names a date and a
 * close column (prices) or a date column (signals, prices = 0). Returns 0,
 * or a negative errno with "PATH: why" in msg. */
int runstate_check_input(const char *path, int prices, char *msg, size_t len);

/* Input check of every ticker of this run (ids[0..n)) that is not done:
 * an unusable data or signals file fails the ticker now (store_job_mark,
 * reason RUNSTATE_INPUT_PREFIX + the message); a ticker failed by an
 * earlier run's check whose files are now fine goes back to pending.
 * Returns the number of tickers failed now (>= 0) or a store error;
 * report (may be NULL) gets one "TICKER: message" line per failure. */
int runstate_check_jobs(Store *s, const int64_t *ids, int n, char *report, size_t len);

/* The tickers whose signals file signals_dir lacks (signals_dir set):
 * count returned, their names comma-separated in list (cut at len). */
int runstate_missing_signals(const Config *cfg, char *const *names, int n, char *list,
			     size_t len);

/* Config drift: the jobs of this run (tickers names[0..n)) that have trained under a
 * recorded configuration whose model-shaping keys differ from now's.
 * A job never started (no attempt, no progress) does not count. Returns
 * how many differ (0 = none) and a message naming each ticker with its
 * keys and values (cut at len), or a negative errno (store error, or a
 * recorded configuration that does not parse: -EINVAL, named in msg). */
int runstate_drift(Store *s, const Config *now, char *const *names, int n, char *msg,
		   size_t len);

/* Records config_text as the configuration of every job of this run that
 * has none (new, or from a version 1 database), or of all of them when
 * all = 1 (--retrain). In one transaction. */
int runstate_record_config(Store *s, const char *config_text, const int64_t *ids, int n,
			   int all);

#endif
