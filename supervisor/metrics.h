/* The Prometheus textfile of a run (run.metrics_file), in the text
 * exposition format for node_exporter's textfile collector:
 *
 *   tickervisor_jobs{state}                      gauge   jobs per state
 *   tickervisor_ticker_done_episodes{ticker}     gauge
 *   tickervisor_ticker_total_episodes{ticker}    gauge   0 until reported
 *   tickervisor_ticker_progress_ratio{ticker}    gauge   done / total, 0..1
 *   tickervisor_ticker_rss_bytes{ticker}         gauge   current, running tickers
 *   tickervisor_ticker_peak_rss_bytes{ticker}    gauge   latest attempt's peak
 *   tickervisor_ticker_vram_bytes{ticker}        gauge   current, running tickers
 *   tickervisor_ticker_attempts_total{ticker}    counter every attempt ever made
 *   tickervisor_budget_rss_bytes                 gauge   0 = unlimited
 *   tickervisor_budget_vram_bytes                gauge   0 = unlimited
 *   tickervisor_attempts_total{exit_kind}        counter ended attempts by exit kind
 *   tickervisor_last_success_timestamp_seconds   gauge   end of the latest done attempt
 *   tickervisor_run_start_timestamp_seconds      gauge
 *   tickervisor_run_duration_seconds             gauge   so far, or until it ended
 *   tickervisor_run_info{run,name,host}          gauge   always 1
 *   tickervisor_run_running                      gauge   1 until the run ends
 *
 * Label values are escaped (backslash, double quote, newline). The file is
 * written to PATH.tmp.PID in the same folder, fsynced and renamed over
 * PATH, so a collector never reads half a file. */
#ifndef TV_METRICS_H
#define TV_METRICS_H

#include <stdio.h>

#include "store.h"

/* Writes the exposition text of the store's latest run to out (pure
 * formatting of what the store holds; now = the clock in seconds). */
int metrics_render(Store *s, FILE *out, double now);

/* metrics_render() into path, atomically. Returns 0 or a negative errno
 * with a message naming the file in err. */
int metrics_write(Store *s, const char *path, char *err, size_t errlen);

#endif
