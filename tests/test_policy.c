/* Policy: every exit kind x situation, table-driven, against hand-computed
 * decisions (docs/memory.md, the halving rule). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/exitcodes.h"
#include "policy.h"
#include "check.h"

/* The F() facts below override the base values on purpose. */
#pragma GCC diagnostic ignored "-Woverride-init"

#define GiB (1024ULL * 1024 * 1024)
#define MiB (1024ULL * 1024)

typedef struct ClassifyCase {
	int exited, code, sig, budget, hang, proto, stopping, asked, oom;
	ExitKind want;
} ClassifyCase;

static const ClassifyCase classify_cases[] = {
	/* exited code sig budget hang proto stopping asked oom -> kind */
	{ 1, TV_EXIT_DONE, 0, 0, 0, 0, 0, 0, 0, EXIT_DONE },
	{ 1, TV_EXIT_INTERRUPTED, 0, 0, 0, 0, 1, 1, 0, EXIT_INTERRUPTED },
	{ 1, TV_EXIT_INTERRUPTED, 0, 0, 0, 0, 0, 1, 0, EXIT_INTERRUPTED }, /* asked */
	{ 1, TV_EXIT_INTERRUPTED, 0, 0, 0, 0, 1, 0, 0, EXIT_INTERRUPTED }, /* stopping */
	{ 1, TV_EXIT_INTERRUPTED, 0, 0, 0, 0, 0, 0, 0, EXIT_CRASH },       /* unasked */
	{ 1, TV_EXIT_OVER_BUDGET, 0, 0, 0, 0, 0, 0, 0, EXIT_OVER_BUDGET },
	{ 1, TV_EXIT_BAD_INPUT, 0, 0, 0, 0, 0, 0, 0, EXIT_BAD_INPUT },
	{ 1, TV_EXIT_USAGE, 0, 0, 0, 0, 0, 0, 0, EXIT_BAD_INPUT },
	{ 1, TV_EXIT_INTERNAL, 0, 0, 0, 0, 0, 0, 0, EXIT_CRASH },
	{ 1, 1, 0, 0, 0, 0, 0, 0, 0, EXIT_CRASH },
	{ 1, 127, 0, 0, 0, 0, 0, 0, 0, EXIT_CRASH },
	/* A SIGKILL we did not send: over budget only with OOM evidence. */
	{ 0, -1, SIGKILL, 0, 0, 0, 0, 0, 1, EXIT_OVER_BUDGET },
	{ 0, -1, SIGKILL, 0, 0, 0, 0, 0, 0, EXIT_CRASH },
	{ 0, -1, SIGKILL, 0, 0, 0, 0, 1, 0, EXIT_CRASH },
	{ 0, -1, SIGKILL, 1, 0, 0, 0, 0, 0, EXIT_OVER_BUDGET },
	{ 0, -1, SIGKILL, 0, 1, 0, 0, 0, 0, EXIT_HANG },
	{ 0, -1, SIGKILL, 0, 0, 1, 0, 0, 0, EXIT_PROTOCOL },
	{ 0, -1, SIGKILL, 1, 1, 1, 0, 0, 0, EXIT_OVER_BUDGET },  /* budget first */
	{ 0, -1, SIGKILL, 0, 1, 1, 0, 0, 0, EXIT_HANG },         /* then hang */
	{ 0, -1, SIGSEGV, 0, 0, 0, 0, 0, 1, EXIT_CRASH },
	{ 0, -1, SIGABRT, 0, 0, 0, 1, 0, 0, EXIT_CRASH },
	{ 0, -1, SIGTERM, 0, 0, 0, 0, 0, 0, EXIT_CRASH },        /* nobody asked it to stop */
	{ 0, -1, SIGTERM, 0, 0, 0, 1, 1, 0, EXIT_INTERRUPTED },
	{ 0, -1, SIGKILL, 0, 0, 0, 1, 1, 0, EXIT_INTERRUPTED },  /* second signal while stopping */
	{ 1, TV_EXIT_DONE, 0, 0, 0, 1, 0, 0, 0, EXIT_PROTOCOL }, /* exit 0 after a bad frame */
};

typedef struct DecideCase {
	const char *name;
	PolicyFacts f;
	PolicyAction action;
	int next_batch;
	double delay;
	int charged;
	const char *reason;   /* substring that must appear; "" = reason must be empty */
} DecideCase;

/* Base facts: batch 128, floor 8, 0 charged of max 3, back-off 1 s, ran 60 s,
 * budgets 2 GiB RSS / 8 GiB VRAM, peaks under budget. */
#define F(...) { .batch_size = 128, .min_batch_size = 8, .charged_attempts = 0, \
	.max_attempts = 3, .backoff_base_s = 1.0, .ran_s = 60.0, .peak_rss = 1 * GiB, \
	.budget_rss = 2 * GiB, .peak_vram = 0, .budget_vram = 8 * GiB, .exit_code = 0, \
	__VA_ARGS__ }

static const DecideCase decide_cases[] = {
	{ "done", F(.kind = EXIT_DONE), POLICY_DONE, 128, 0, 0, "" },
	{ "done while stopping", F(.kind = EXIT_DONE, .stopping = 1), POLICY_DONE, 128, 0, 0, "" },
	{ "bad input fails at once", F(.kind = EXIT_BAD_INPUT, .exit_code = 12,
	  .detail = "AAPL.csv:3: bad close"), POLICY_FAIL, 128, 0, 1, "bad input: AAPL.csv:3: bad close" },
	{ "bad input without detail", F(.kind = EXIT_BAD_INPUT, .exit_code = 12),
	  POLICY_FAIL, 128, 0, 1, "bad input (exit 12 (bad-input))" },
	{ "bad input while stopping stays failed", F(.kind = EXIT_BAD_INPUT, .exit_code = 12, .stopping = 1),
	  POLICY_FAIL, 128, 0, 1, "bad input" },
	{ "over budget halves", F(.kind = EXIT_OVER_BUDGET, .peak_rss = 2 * GiB + 300 * MiB),
	  POLICY_RETRY, 64, 0, 0, "over budget.rss 2.0 GiB: peak 2.3 GiB at batch_size 128; retrying at batch_size 64" },
	{ "over budget right after start waits out the 1 s respawn gap",
	  F(.kind = EXIT_OVER_BUDGET, .peak_rss = 3 * GiB, .ran_s = 0.25),
	  POLICY_RETRY, 64, 0.75, 0, "over budget.rss" },
	{ "over budget is not charged at max attempts",
	  F(.kind = EXIT_OVER_BUDGET, .peak_rss = 3 * GiB, .charged_attempts = 2),
	  POLICY_RETRY, 64, 0, 0, "retrying at batch_size 64" },
	{ "over budget to exactly the floor", F(.kind = EXIT_OVER_BUDGET, .batch_size = 16, .peak_rss = 3 * GiB),
	  POLICY_RETRY, 8, 0, 0, "at batch_size 16" },
	{ "over budget at the floor fails", F(.kind = EXIT_OVER_BUDGET, .batch_size = 64,
	  .min_batch_size = 64, .peak_rss = 2 * GiB + 300 * MiB),
	  POLICY_FAIL, 64, 0, 1, "over budget.rss 2.0 GiB: peak 2.3 GiB at batch_size 64; min_batch_size 64 reached" },
	{ "over budget, half below the floor fails", F(.kind = EXIT_OVER_BUDGET, .batch_size = 15,
	  .peak_rss = 3 * GiB), POLICY_FAIL, 15, 0, 1, "min_batch_size 8 reached" },
	{ "over budget on VRAM names vram", F(.kind = EXIT_OVER_BUDGET, .peak_vram = 9 * GiB),
	  POLICY_RETRY, 64, 0, 0, "over budget.vram 8.0 GiB: peak 9.0 GiB at batch_size 128" },
	{ "kernel OOM kill counts as over budget", F(.kind = EXIT_OVER_BUDGET, .exit_code = -1,
	  .term_signal = SIGKILL, .peak_rss = 1536 * MiB,
	  .detail = "/proc/vmstat oom_kill 3 -> 4"),
	  POLICY_RETRY, 64, 0, 0,
	  "killed by the kernel's OOM killer (/proc/vmstat oom_kill 3 -> 4): peak rss 1.5 GiB at batch_size 128" },
	{ "worker's own OOM exit", F(.kind = EXIT_OVER_BUDGET, .exit_code = 11),
	  POLICY_RETRY, 64, 0, 0, "out of memory" },
	/* "Over" is strictly above: a peak equal to the budget did not cross it. */
	{ "a peak equal to budget.rss is not over it",
	  F(.kind = EXIT_OVER_BUDGET, .exit_code = 11, .peak_rss = 2 * GiB),
	  POLICY_RETRY, 64, 0, 0, "out of memory: peak rss 2.0 GiB" },
	{ "over budget while stopping pauses with the halved batch",
	  F(.kind = EXIT_OVER_BUDGET, .peak_rss = 3 * GiB, .stopping = 1), POLICY_PAUSE, 64, 0, 0, "over budget" },
	{ "first crash: back-off 1 s", F(.kind = EXIT_CRASH, .exit_code = 13),
	  POLICY_RETRY, 128, 1.0, 1, "exit 13 (internal-error); attempt 1 of 3" },
	{ "second crash: back-off doubles", F(.kind = EXIT_CRASH, .exit_code = 13, .charged_attempts = 1),
	  POLICY_RETRY, 128, 2.0, 1, "attempt 2 of 3" },
	{ "third crash reaches max attempts", F(.kind = EXIT_CRASH, .exit_code = 13,
	  .charged_attempts = 2, .detail = "disk full"), POLICY_FAIL, 128, 0, 1,
	  "exit 13 (internal-error): disk full; attempt 3 of max_attempts 3" },
	{ "back-off base 5 s, third of five", F(.kind = EXIT_CRASH, .exit_code = 13,
	  .charged_attempts = 2, .max_attempts = 5, .backoff_base_s = 5.0), POLICY_RETRY, 128, 20.0, 1, "attempt 3 of 5" },
	{ "max_attempts 1: the first crash fails", F(.kind = EXIT_CRASH, .exit_code = 13, .max_attempts = 1),
	  POLICY_FAIL, 128, 0, 1, "attempt 1 of max_attempts 1" },
	{ "segfault", F(.kind = EXIT_CRASH, .exit_code = -1, .term_signal = SIGSEGV),
	  POLICY_RETRY, 128, 1.0, 1, "killed by signal 11 (SIGSEGV)" },
	{ "zero back-off still waits the respawn gap", F(.kind = EXIT_CRASH, .exit_code = 13,
	  .backoff_base_s = 0, .ran_s = 0.1), POLICY_RETRY, 128, 0.9, 1, "attempt 1 of 3" },
	{ "hang retries like a crash", F(.kind = EXIT_HANG, .exit_code = -1, .term_signal = SIGKILL,
	  .charged_attempts = 1), POLICY_RETRY, 128, 2.0, 1, "hung" },
	{ "hang at max fails", F(.kind = EXIT_HANG, .charged_attempts = 2), POLICY_FAIL, 128, 0, 1, "hung" },
	{ "protocol error retries like a crash", F(.kind = EXIT_PROTOCOL), POLICY_RETRY, 128, 1.0, 1, "protocol error" },
	{ "protocol error at max fails", F(.kind = EXIT_PROTOCOL, .charged_attempts = 2),
	  POLICY_FAIL, 128, 0, 1, "protocol error" },
	{ "crash while stopping pauses, charged", F(.kind = EXIT_CRASH, .exit_code = 13, .stopping = 1),
	  POLICY_PAUSE, 128, 0, 1, "attempt 1 of 3" },
	{ "crash at max while stopping still fails", F(.kind = EXIT_CRASH, .exit_code = 13,
	  .charged_attempts = 2, .stopping = 1), POLICY_FAIL, 128, 0, 1, "max_attempts 3" },
	{ "interrupted by our stop pauses", F(.kind = EXIT_INTERRUPTED, .exit_code = 10, .stopping = 1),
	  POLICY_PAUSE, 128, 0, 0, "interrupted" },
	{ "interrupted by someone else: retry, uncharged", F(.kind = EXIT_INTERRUPTED, .exit_code = 10),
	  POLICY_RETRY, 128, 0, 0, "interrupted" },
	/* issue 13: the back-off is capped at 10 minutes (base * 2^(n-1)
	 * reached 2^53 s at attempt 54 and overflowed the timer). */
	{ "back-off capped at 600 s", F(.kind = EXIT_CRASH, .exit_code = 13,
	  .charged_attempts = 10, .max_attempts = 1000), POLICY_RETRY, 128, 600.0, 1, "attempt 11 of 1000" },
	{ "attempt 999 of 1000 with a 1000 s base: the base", F(.kind = EXIT_CRASH, .exit_code = 13,
	  .charged_attempts = 998, .max_attempts = 1000, .backoff_base_s = 1e7 / 1e4),
	  POLICY_RETRY, 128, 1000.0, 1, "attempt 999 of 1000" },
	{ "a base above the cap is kept", F(.kind = EXIT_CRASH, .exit_code = 13,
	  .charged_attempts = 60, .max_attempts = 1000, .backoff_base_s = 1e7),
	  POLICY_RETRY, 128, 1e7, 1, "attempt 61 of 1000" },
	/* issue 13: a worker that died before its first frame says so. */
	{ "startup failure: exit 1, charged, backed off", F(.kind = EXIT_CRASH, .exit_code = 1,
	  .startup = 1, .ran_s = 0.1, .detail = "it sent nothing"), POLICY_RETRY, 128, 1.0, 1,
	  "startup failure: exit 1 (unknown) before its first frame: it sent nothing; attempt 1 of 3, retry in 1.0 s" },
	/* The reason's delay is the one the log prints (both "%.1f s"): 0.8 s
	 * left of the respawn floor is "0.8 s", not "1 s". */
	{ "the floor's remainder is the delay the reason names", F(.kind = EXIT_CRASH, .exit_code = 1,
	  .ran_s = 0.2, .backoff_base_s = 0.1), POLICY_RETRY, 128, 0.8, 1,
	  "exit 1 (unknown); attempt 1 of 3, retry in 0.8 s" },
	{ "startup failure: its own SIGINT", F(.kind = EXIT_CRASH, .exit_code = -1, .term_signal = SIGINT,
	  .startup = 1, .charged_attempts = 2), POLICY_FAIL, 128, 0, 1,
	  "startup failure: killed by signal 2 (SIGINT) before its first frame; attempt 3 of max_attempts 3" },
	{ "supervisor lost is never charged", F(.kind = EXIT_SUPERVISOR_LOST, .charged_attempts = 2),
	  POLICY_RETRY, 128, 0, 0, "supervisor lost" },
};

int main(void)
{
	char buf[64];
	size_t nc = sizeof classify_cases / sizeof classify_cases[0];
	size_t nd = sizeof decide_cases / sizeof decide_cases[0];

	for (size_t i = 0; i < nc; i++) {
		const ClassifyCase *c = &classify_cases[i];
		ExitKind got = policy_classify(c->exited, c->code, c->sig, c->budget, c->hang,
		                               c->proto, c->stopping, c->asked, c->oom);
		CHECK(got == c->want, "classify case %zu: got %s, want %s", i,
		      policy_exit_kind_name(got), policy_exit_kind_name(c->want));
	}

	for (size_t i = 0; i < nd; i++) {
		const DecideCase *c = &decide_cases[i];
		PolicyDecision d = policy_decide(&c->f);
		CHECK(d.action == c->action, "%s: action %s, want %s", c->name,
		      policy_action_name(d.action), policy_action_name(c->action));
		CHECK(d.next_batch_size == c->next_batch, "%s: next batch %d, want %d", c->name,
		      d.next_batch_size, c->next_batch);
		CHECK(fabs(d.delay_s - c->delay) < 1e-9, "%s: delay %g, want %g", c->name,
		      d.delay_s, c->delay);
		CHECK(d.charged == c->charged, "%s: charged %d, want %d", c->name, d.charged, c->charged);
		if (c->reason[0])
			CHECK(strstr(d.reason, c->reason) != NULL, "%s: reason '%s' lacks '%s'",
			      c->name, d.reason, c->reason);
		else
			CHECK(d.reason[0] == '\0', "%s: reason '%s', want none", c->name, d.reason);
		/* Pure: the same facts give the same decision. */
		PolicyDecision again = policy_decide(&c->f);
		CHECK(memcmp(&again, &d, sizeof d) == 0 || (again.action == d.action &&
		      again.delay_s == d.delay_s && strcmp(again.reason, d.reason) == 0),
		      "%s: not deterministic", c->name);
	}

	/* The full halving ladder from 128 to a floor of 8: 64, 32, 16, 8, then fail. */
	{
		PolicyFacts f = F(.kind = EXIT_OVER_BUDGET, .peak_rss = 3 * GiB);
		int want[] = { 64, 32, 16, 8 };
		for (int k = 0; k < 4; k++) {
			PolicyDecision d = policy_decide(&f);
			CHECK(d.action == POLICY_RETRY && d.next_batch_size == want[k],
			      "ladder step %d: %s %d", k, policy_action_name(d.action), d.next_batch_size);
			f.batch_size = d.next_batch_size;
		}
		PolicyDecision d = policy_decide(&f);
		CHECK(d.action == POLICY_FAIL, "ladder end: %s", policy_action_name(d.action));
		CHECK(strstr(d.reason, "at batch_size 8; min_batch_size 8 reached") != NULL, "%s", d.reason);
	}

	/* Names round-trip. */
	for (int k = 0; k < EXIT_KIND_COUNT; k++) {
		ExitKind back;
		CHECK(policy_exit_kind_parse(policy_exit_kind_name((ExitKind)k), &back) == 0 &&
		      (int)back == k, "kind %d does not round-trip", k);
	}
	{
		ExitKind back = EXIT_DONE;
		CHECK(policy_exit_kind_parse("nonsense", &back) < 0, "parsed nonsense");
		CHECK(strcmp(policy_exit_kind_name((ExitKind)99), "?") == 0, "out of range name");
	}

	CHECK(strcmp(policy_format_bytes(512, buf, sizeof buf), "512 B") == 0, "%s", buf);
	CHECK(strcmp(policy_format_bytes(1536, buf, sizeof buf), "1.5 KiB") == 0, "%s", buf);
	CHECK(strcmp(policy_format_bytes(64 * MiB, buf, sizeof buf), "64.0 MiB") == 0, "%s", buf);
	CHECK(strcmp(policy_format_bytes(2 * GiB + 300 * MiB, buf, sizeof buf), "2.3 GiB") == 0, "%s", buf);

	printf("policy: %zu classify cases, %zu decide cases\n", nc, nd);
	return check_done("policy");
}
