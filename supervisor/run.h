/* `tickervisor run`: the supervisor's event loop.
 *
 * One libuv loop owns every child process, its report pipe (fd 3, decoded
 * with ProtoDecoder), a memory poll timer per child, the retry timer, the
 * store flush timer and the SIGINT/SIGTERM watchers. The loop carries out
 * what policy_decide() says and records everything through the store; it
 * never decides a restart itself.
 *
 * This is top-level code: it logs (one line per event, with ticker and
 * pid) to stdout, or redraws the status view there when stdout is a
 * terminal. Errors that stop the run go to stderr. */
#ifndef TV_RUN_H
#define TV_RUN_H

#include <stddef.h>

/* Process exit codes of `tickervisor run`. */
enum {
	RUN_EXIT_OK = 0,       /* every ticker done (of this shard), or stopped cleanly by a
	                        * signal (SIGINT, SIGTERM, SIGHUP, SIGUSR1) */
	RUN_EXIT_FAILED = 1,   /* at least one ticker failed (summary on stdout) */
	RUN_EXIT_USAGE = 2,    /* bad command line or configuration: nothing started */
	RUN_EXIT_STORE = 3,    /* database busy (another supervisor) or unusable */
	RUN_EXIT_ABORTED = 130 /* a second signal: workers killed, exited at once */
};

typedef struct RunOptions {
	const char *config_path;       /* the INI file (required) */
	const char *db_path;           /* NULL: <out_dir>/tickervisor.db */
	const char *const *sets;       /* "section.key=value" overrides, in order */
	int n_sets;
	int retrain;                   /* 1: train done tickers again from scratch */
	int retry_failed;              /* 1: give failed tickers a new set of attempts */
	const char *worker_path;       /* NULL: $TV_WORKER, else beside this binary */
	const char *shard;             /* --shard "I/N", NULL: from the environment (shard.h) */
	const char *shards;            /* --shards "N": the count for an index from the environment */
} RunOptions;

/* Runs every ticker of the configuration to done or failed (or until a
 * signal stops the run) and returns one of the RUN_EXIT_* codes. The same
 * call on the same database resumes: done tickers are skipped (unless
 * retrain), unfinished ones continue from their last good checkpoint. */
int run_main(const RunOptions *opt);

#endif
