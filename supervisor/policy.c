/* The restart policy (see policy.h for the rules). Pure: no I/O, no clock. */
#include "policy.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/exitcodes.h"

static const char *const kind_names[EXIT_KIND_COUNT] = {
	[EXIT_DONE] = "done",
	[EXIT_INTERRUPTED] = "interrupted",
	[EXIT_OVER_BUDGET] = "over-budget",
	[EXIT_BAD_INPUT] = "bad-input",
	[EXIT_CRASH] = "crash",
	[EXIT_HANG] = "hang",
	[EXIT_PROTOCOL] = "protocol-error",
	[EXIT_SUPERVISOR_LOST] = "supervisor-lost",
};

const char *policy_exit_kind_name(ExitKind kind)
{
	if ((int)kind < 0 || (int)kind >= EXIT_KIND_COUNT)
		return "?";
	return kind_names[kind];
}

int policy_exit_kind_parse(const char *name, ExitKind *ret_kind)
{
	if (!name)
		return -EINVAL;
	for (int i = 0; i < EXIT_KIND_COUNT; i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*ret_kind = (ExitKind)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *policy_action_name(PolicyAction action)
{
	switch (action) {
	case POLICY_DONE: return "done";
	case POLICY_RETRY: return "retry";
	case POLICY_FAIL: return "fail";
	case POLICY_PAUSE: return "pause";
	}
	return "?";
}

ExitKind policy_classify(int exited, int exit_code, int term_signal,
                         int killed_by_us_for_budget, int killed_by_us_for_hang,
                         int protocol_error, int stopping, int asked_to_stop,
                         int oom_evidence)
{
	if (killed_by_us_for_budget)
		return EXIT_OVER_BUDGET;
	if (killed_by_us_for_hang)
		return EXIT_HANG;
	if (protocol_error)
		return EXIT_PROTOCOL;
	if (exited) {
		switch (exit_code) {
		case TV_EXIT_DONE: return EXIT_DONE;
		case TV_EXIT_INTERRUPTED:
			return asked_to_stop || stopping ? EXIT_INTERRUPTED : EXIT_CRASH;
		case TV_EXIT_OVER_BUDGET: return EXIT_OVER_BUDGET;
		case TV_EXIT_BAD_INPUT:
		case TV_EXIT_USAGE: return EXIT_BAD_INPUT;
		default: return EXIT_CRASH;
		}
	}
	if (stopping && (term_signal == SIGTERM || term_signal == SIGINT ||
	                 term_signal == SIGKILL))
		return EXIT_INTERRUPTED;
	/* A SIGKILL nobody here sent: the kernel's OOM killer only when its
	 * counter says so; an operator's kill -9 is a crash. */
	if (term_signal == SIGKILL && oom_evidence)
		return EXIT_OVER_BUDGET;
	return EXIT_CRASH;
}

char *policy_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	double v = (double)bytes / 1024.0;
	int u = 0;
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

/* What ended the attempt, for a crash reason: "exit 13", "signal 11 (SIGSEGV)". */
static void describe_end(const PolicyFacts *f, char *buf, size_t len)
{
	if (f->term_signal > 0) {
		const char *abbrev = sigabbrev_np(f->term_signal);
		snprintf(buf, len, "killed by signal %d (SIG%s)", f->term_signal,
		         abbrev ? abbrev : "?");
	} else {
		snprintf(buf, len, "exit %d (%s)", f->exit_code, tv_exit_name(f->exit_code));
	}
}

/* "over budget.rss 2.0 GiB: peak 2.3 GiB at batch_size 64" - which budget
 * was crossed; the worker's own out-of-memory exit when neither was. */
static int over_budget_text(const PolicyFacts *f, char *buf, size_t len)
{
	char b1[32], b2[32];
	if (f->budget_rss && f->peak_rss > f->budget_rss)
		return snprintf(buf, len, "over budget.rss %s: peak %s at batch_size %d",
		                policy_format_bytes(f->budget_rss, b1, sizeof b1),
		                policy_format_bytes(f->peak_rss, b2, sizeof b2), f->batch_size);
	if (f->budget_vram && f->peak_vram > f->budget_vram)
		return snprintf(buf, len, "over budget.vram %s: peak %s at batch_size %d",
		                policy_format_bytes(f->budget_vram, b1, sizeof b1),
		                policy_format_bytes(f->peak_vram, b2, sizeof b2), f->batch_size);
	if (f->term_signal == SIGKILL)
		return snprintf(buf, len, "killed by the kernel's OOM killer (%s): "
		                "peak rss %s at batch_size %d",
		                f->detail && f->detail[0] ? f->detail : "no evidence given",
		                policy_format_bytes(f->peak_rss, b1, sizeof b1), f->batch_size);
	return snprintf(buf, len, "out of memory: peak rss %s, peak vram %s at batch_size %d",
	                policy_format_bytes(f->peak_rss, b1, sizeof b1),
	                policy_format_bytes(f->peak_vram, b2, sizeof b2), f->batch_size);
}

/* At least POLICY_MIN_RESPAWN_S between two starts of the same ticker. */
static double respawn_floor(const PolicyFacts *f, double delay)
{
	double floor_s = POLICY_MIN_RESPAWN_S - (f->ran_s > 0 ? f->ran_s : 0);
	return delay > floor_s ? delay : (floor_s > 0 ? floor_s : 0);
}

PolicyDecision policy_decide(const PolicyFacts *f)
{
	PolicyDecision d;
	char what[160];

	assert(f);
	assert(f->batch_size >= 1 && f->min_batch_size >= 1 && f->max_attempts >= 1);
	memset(&d, 0, sizeof d);
	d.next_batch_size = f->batch_size;

	switch (f->kind) {
	case EXIT_DONE:
		d.action = POLICY_DONE;
		return d;

	case EXIT_BAD_INPUT:
		d.action = POLICY_FAIL;
		d.charged = 1;
		describe_end(f, what, sizeof what);
		if (f->detail && f->detail[0])
			snprintf(d.reason, sizeof d.reason, "bad input: %s", f->detail);
		else
			snprintf(d.reason, sizeof d.reason, "bad input (%s)", what);
		return d;

	case EXIT_OVER_BUDGET: {
		int half = f->batch_size / 2;
		over_budget_text(f, what, sizeof what);
		if (half < f->min_batch_size) {
			d.action = POLICY_FAIL;
			d.charged = 1;
			snprintf(d.reason, sizeof d.reason, "%s; min_batch_size %d reached",
			         what, f->min_batch_size);
			return d;
		}
		d.action = POLICY_RETRY;
		d.next_batch_size = half;
		d.delay_s = respawn_floor(f, 0.0);
		snprintf(d.reason, sizeof d.reason, "%s; retrying at batch_size %d", what, half);
		break;
	}

	case EXIT_CRASH:
	case EXIT_HANG:
	case EXIT_PROTOCOL: {
		int n = f->charged_attempts + 1;
		d.charged = 1;
		if (f->kind == EXIT_HANG)
			snprintf(what, sizeof what, "hung (no heartbeat), killed");
		else if (f->kind == EXIT_PROTOCOL)
			snprintf(what, sizeof what, "protocol error");
		else
			describe_end(f, what, sizeof what);
		if (f->startup && f->kind == EXIT_CRASH) {
			char end[128];
			snprintf(end, sizeof end, "%s", what);
			snprintf(what, sizeof what, "startup failure: %s before its first frame", end);
		}
		if (n >= f->max_attempts) {
			d.action = POLICY_FAIL;
			snprintf(d.reason, sizeof d.reason, "%s%s%s; attempt %d of max_attempts %d",
			         what, f->detail && f->detail[0] ? ": " : "",
			         f->detail ? f->detail : "", n, f->max_attempts);
			return d;
		}
		d.action = POLICY_RETRY;
		/* Doubling, capped: 2^(n-1) seconds overflow the loop's
		 * millisecond timer past n ~ 54 (max_attempts goes to 1000). */
		double cap = f->backoff_base_s > POLICY_BACKOFF_MAX_S ? f->backoff_base_s :
			     POLICY_BACKOFF_MAX_S;
		double backoff = f->backoff_base_s * ldexp(1.0, n - 1 < 1000 ? n - 1 : 1000);
		d.delay_s = respawn_floor(f, backoff < cap ? backoff : cap);
		snprintf(d.reason, sizeof d.reason, "%s%s%s; attempt %d of %d, retry in %.1f s",
		         what, f->detail && f->detail[0] ? ": " : "",
		         f->detail ? f->detail : "", n, f->max_attempts, d.delay_s);
		break;
	}

	case EXIT_INTERRUPTED:
		d.action = POLICY_RETRY;
		d.delay_s = respawn_floor(f, 0.0);
		snprintf(d.reason, sizeof d.reason, "interrupted");
		break;

	case EXIT_SUPERVISOR_LOST:
	default:
		d.action = POLICY_RETRY;
		d.delay_s = respawn_floor(f, 0.0);
		snprintf(d.reason, sizeof d.reason, "supervisor lost");
		break;
	}

	/* Only retries reach here. */
	if (f->stopping) {
		d.action = POLICY_PAUSE;
		d.delay_s = 0;
	}
	return d;
}
