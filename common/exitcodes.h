/* Exit codes of tickervisor-worker: the contract between worker and supervisor.
 * The supervisor's policy (supervisor/policy.c) decides what to do from these
 * alone; a worker must never exit with any other code on purpose. */
#ifndef TV_EXITCODES_H
#define TV_EXITCODES_H

enum {
	/* The ticker is trained, the model is written, the result frame was sent. */
	TV_EXIT_DONE = 0,
	/* Stopped on SIGTERM after writing a checkpoint; resume from it. */
	TV_EXIT_INTERRUPTED = 10,
	/* Out of memory (malloc/cudaMalloc failed) or over its own budget:
	 * the supervisor halves batch_size and resumes from the last checkpoint. */
	TV_EXIT_OVER_BUDGET = 11,
	/* Bad input (CSV, config, checkpoint): permanent, never retried. */
	TV_EXIT_BAD_INPUT = 12,
	/* A bug or an environment failure (disk, I/O): retried with back-off. */
	TV_EXIT_INTERNAL = 13,
	/* Wrong command line usage (by hand); also permanent. */
	TV_EXIT_USAGE = 64,
};

/* Returns a short stable name for an exit code ("done", "bad-input", ...). */
static inline const char *tv_exit_name(int code)
{
	switch (code) {
	case TV_EXIT_DONE: return "done";
	case TV_EXIT_INTERRUPTED: return "interrupted";
	case TV_EXIT_OVER_BUDGET: return "over-budget";
	case TV_EXIT_BAD_INPUT: return "bad-input";
	case TV_EXIT_INTERNAL: return "internal-error";
	case TV_EXIT_USAGE: return "usage";
	default: return "unknown";
	}
}

#endif
