/* The restart policy: pure functions, no I/O (facts in, decision out; tested
 * alone in tests/test_policy.c).
 *
 * policy_classify() turns how a worker ended into an ExitKind;
 * policy_decide() turns an ExitKind plus the facts about the job into a
 * decision: done, retry (with which batch size, after how long, charged or
 * not), fail (with a reason for the user) or pause (left for the next run).
 *
 * The rules (docs/supervisor-lifecycle.md and docs/memory.md tell the rest):
 * - done -> POLICY_DONE.
 * - bad input -> POLICY_FAIL at once, never retried.
 * - over budget (worker exit 11, killed by us over budget, or a SIGKILL we
 *   did not send with evidence of the kernel's OOM killer) -> POLICY_RETRY at
 *   batch_size/2, not charged; if batch_size/2 < min_batch_size ->
 *   POLICY_FAIL with a reason naming the budget, the peak and the batch size.
 * - crash, hang, protocol error -> charged; POLICY_RETRY after
 *   backoff_base_s * 2^(n-1) seconds (n = charged attempts including this
 *   one) while n < max_attempts, else POLICY_FAIL.
 * - interrupted (exit 10) and supervisor-lost -> not charged; POLICY_RETRY.
 * - while stopping, every POLICY_RETRY becomes POLICY_PAUSE (the job is left
 *   pending for the next run); POLICY_DONE and POLICY_FAIL stay.
 * - every retry waits at least POLICY_MIN_RESPAWN_S after the previous start
 *   of the same ticker (as s6-supervise does): delay_s >= min_respawn - ran_s.
 */
#ifndef TV_POLICY_H
#define TV_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* Seconds between two starts of the same ticker, at least. */
#define POLICY_MIN_RESPAWN_S 1.0
/* Size of PolicyDecision.reason, and the longest reason the store keeps. */
#define POLICY_REASON_MAX 256

typedef enum ExitKind {
	EXIT_DONE = 0,
	EXIT_INTERRUPTED,
	EXIT_OVER_BUDGET,
	EXIT_BAD_INPUT,
	EXIT_CRASH,
	EXIT_HANG,
	EXIT_PROTOCOL,
	EXIT_SUPERVISOR_LOST,
} ExitKind;

#define EXIT_KIND_COUNT (EXIT_SUPERVISOR_LOST + 1)

typedef enum PolicyAction {
	POLICY_DONE = 0,  /* finished: the job is done */
	POLICY_RETRY,     /* start again after delay_s with next_batch_size */
	POLICY_FAIL,      /* permanent: the job is failed with reason */
	POLICY_PAUSE,     /* stopping: leave the job pending for the next run */
} PolicyAction;

/* Stable names stored in the database and shown by status:
 * "done", "interrupted", "over-budget", "bad-input", "crash", "hang",
 * "protocol-error", "supervisor-lost". "?" for an out-of-range value. */
const char *policy_exit_kind_name(ExitKind kind);
/* Parses such a name back. Returns 0 and *ret_kind, or -EINVAL. */
int policy_exit_kind_parse(const char *name, ExitKind *ret_kind);
/* "done", "retry", "fail", "pause". */
const char *policy_action_name(PolicyAction action);

/* How a worker ended, as the loop saw it.
 * exited: 1 if it exited (exit_code valid), 0 if a signal ended it
 * (term_signal valid). The killed_* flags say the loop itself sent the
 * SIGKILL for that reason; protocol_error: the loop ended it for a bad frame;
 * stopping: the supervisor was shutting down (it sent SIGTERM).
 * Precedence: budget kill > hang kill > protocol error > exit status/signal.
 * Exit codes (common/exitcodes.h): 0 done, 10 interrupted - but only when
 * asked (asked_to_stop: we sent SIGTERM; or stopping), unasked it is a
 * crash -, 11 over budget, 12 and 64 bad input, 13 and anything else crash.
 * Signals: SIGTERM/SIGINT/SIGKILL while stopping -> interrupted; a SIGKILL
 * we did not send -> over budget only with oom_evidence (the kernel's OOM
 * killer was seen to kill during the attempt), else crash; any other
 * signal -> crash. */
ExitKind policy_classify(int exited, int exit_code, int term_signal,
                         int killed_by_us_for_budget, int killed_by_us_for_hang,
                         int protocol_error, int stopping, int asked_to_stop,
                         int oom_evidence);

typedef struct PolicyFacts {
	ExitKind kind;
	int exit_code;            /* for the reason text; -1 if signalled */
	int term_signal;          /* for the reason text; 0 if exited */
	int batch_size;           /* the batch size this attempt ran with */
	int min_batch_size;       /* floor of the halving rule, >= 1 */
	int charged_attempts;     /* charged attempts before this one */
	int max_attempts;         /* >= 1 */
	double backoff_base_s;    /* first crash retry delay, seconds */
	double ran_s;             /* seconds this attempt ran (start -> exit) */
	uint64_t peak_rss;        /* bytes, peak seen by the loop */
	uint64_t budget_rss;      /* bytes, 0 = unlimited */
	uint64_t peak_vram;       /* bytes */
	uint64_t budget_vram;     /* bytes, 0 = unlimited */
	int stopping;             /* the supervisor is shutting down */
	int startup;              /* a crash before its first frame (child_startup_failed):
	                           * the reason says "startup failure" */
	const char *detail;       /* the worker's error message, the evidence for an
	                           * OOM kill, or why we ended it; NULL if none */
} PolicyFacts;

/* Longest crash back-off, seconds (unless run.backoff itself is longer). */
#define POLICY_BACKOFF_MAX_S 600.0

typedef struct PolicyDecision {
	PolicyAction action;
	int next_batch_size;      /* batch size for the next attempt (== batch_size unless halved) */
	double delay_s;           /* wait before the next start (POLICY_RETRY), >= 0 */
	int charged;              /* 1 if this attempt counts against max_attempts */
	char reason[POLICY_REASON_MAX]; /* "" for done; else a sentence for the user, e.g.
	                           * "over budget.rss 2.0 GiB: peak 2.3 GiB at batch_size 64;
	                           * min_batch_size 64 reached" */
} PolicyDecision;

/* Decides what follows an attempt. Pure: same facts, same decision.
 * f must be valid (asserted: batch_size >= 1, min_batch_size >= 1,
 * max_attempts >= 1). Never fails. */
PolicyDecision policy_decide(const PolicyFacts *f);

/* Writes a byte count for humans: "512 B", "64.0 KiB", "2.3 GiB".
 * Returns buf. */
char *policy_format_bytes(uint64_t bytes, char *buf, size_t len);

#endif
