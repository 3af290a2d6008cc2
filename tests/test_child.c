/* The attempt life cycle (supervisor/child.c): every state with every
 * event against a matrix written out here by hand, the actions of the
 * cells that signal or finish, the ways an attempt ends (exit and end of
 * pipe in either order, the grace timer), and child_outcome()'s
 * attribution of how it ended. No libuv: the table alone. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "child.h"
#include "common/exitcodes.h"
#include "check.h"

/* A machine brought into state s by the events a real attempt sees. */
static ChildMachine in_state(ChildState s)
{
	ChildMachine m;
	child_init(&m);
	switch (s) {
	case CS_SPAWNED:
		break;
	case CS_RUNNING:
		child_step(&m, CE_HELLO);
		break;
	case CS_STOPPING:
		child_step(&m, CE_HELLO);
		child_step(&m, CE_STOP);
		break;
	case CS_DELIVERED:
		child_step(&m, CE_HELLO);
		child_step(&m, CE_RESULT);
		break;
	case CS_KILLED:
		child_step(&m, CE_HELLO);
		child_step(&m, CE_HANG_TICK);
		break;
	case CS_ENDED:
		child_step(&m, CE_HELLO);
		child_step(&m, CE_EXIT);
		child_step(&m, CE_PIPE_EOF);
		break;
	}
	return m;
}

#define S CS_SPAWNED
#define R CS_RUNNING
#define P CS_STOPPING
#define D CS_DELIVERED
#define K CS_KILLED
#define E CS_ENDED
/* want[state][event]: the state after one event (exit, end of pipe and
 * grace alone end nothing: the other half is still open). */
static const ChildState want[CS_COUNT][CE_COUNT] = {
	/*            hello frame result error bad soft over vram hang stop abort exit eof grace */
	[CS_SPAWNED]  = { R, K, K, S, K, S, K, K, K, P, K, S, S, S },
	[CS_RUNNING]  = { K, R, D, R, K, R, K, K, K, P, K, R, R, R },
	[CS_STOPPING] = { K, P, D, P, K, P, K, K, K, P, K, P, P, P },
	[CS_DELIVERED]= { D, D, D, D, D, D, D, D, D, D, D, D, D, D },
	[CS_KILLED]   = { K, K, K, K, K, K, K, K, K, K, K, K, K, K },
	[CS_ENDED]    = { E, E, E, E, E, E, E, E, E, E, E, E, E, E },
};

/* The signal each cell sends (0 none, else the CA_SIG* bit). */
static unsigned signal_of(unsigned a)
{
	return a & (CA_SIGUSR1 | CA_SIGTERM | CA_SIGKILL);
}

static const unsigned want_sig[CS_COUNT][CE_COUNT] = {
#define KL CA_SIGKILL
#define TM CA_SIGTERM
#define U1 CA_SIGUSR1
	/*            hello frame result error bad soft over vram hang stop abort exit eof grace */
	[CS_SPAWNED]  = { 0, KL, KL, 0, KL, 0, KL, KL, KL, TM, KL, 0, 0, 0 },
	[CS_RUNNING]  = { KL, 0, 0, 0, KL, U1, KL, KL, KL, TM, KL, 0, 0, 0 },
	[CS_STOPPING] = { KL, 0, 0, 0, KL, 0, KL, KL, KL, 0, KL, 0, 0, 0 },
	[CS_DELIVERED]= { KL, 0, KL, 0, KL, 0, 0, 0, KL, KL, KL, 0, 0, 0 },
	[CS_KILLED]   = { 0 },
	[CS_ENDED]    = { 0 },
};

/* Whether each cell records the frame (stores and logs it): every report
 * of a live attempt that has not delivered, the last checkpoint after a
 * SIGTERM included; nothing after delivery or a kill, nothing a protocol
 * kill refuses (a second hello: the stopping state here was reached after
 * one). */
static const unsigned char want_rec[CS_COUNT][CE_COUNT] = {
	/*            hello frame result error bad soft over vram hang stop abort exit eof grace */
	[CS_SPAWNED]  = { 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	[CS_RUNNING]  = { 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	[CS_STOPPING] = { 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	[CS_DELIVERED]= { 0 },
	[CS_KILLED]   = { 0 },
	[CS_ENDED]    = { 0 },
};

static void test_matrix(void)
{
	int cells = 0;
	for (int s = 0; s < CS_COUNT; s++)
		for (int e = 0; e < CE_COUNT; e++) {
			ChildMachine m = in_state((ChildState)s);
			CHECK(m.state == (ChildState)s, "setup of %s", child_state_name(s));
			unsigned a = child_step(&m, (ChildEvent)e);
			CHECK(m.state == want[s][e], "%s x %s -> %s, want %s", child_state_name(s),
			      child_event_name(e), child_state_name(m.state),
			      child_state_name(want[s][e]));
			CHECK(signal_of(a) == want_sig[s][e], "%s x %s: signals %#x, want %#x",
			      child_state_name(s), child_event_name(e), signal_of(a), want_sig[s][e]);
			CHECK(!!(a & CA_RECORD) == want_rec[s][e], "%s x %s: records %d, want %d",
			      child_state_name(s), child_event_name(e), !!(a & CA_RECORD), want_rec[s][e]);
			CHECK(!(a & CA_FINISH), "%s x %s finished alone", child_state_name(s),
			      child_event_name(e));
			if (s == CS_ENDED)
				CHECK(a == 0, "ended x %s gave actions %#x", child_event_name(e), a);
			cells++;
		}
	CHECK(cells == CS_COUNT * CE_COUNT, "cells %d", cells);
}

static void test_endings(void)
{
	/* exit then end of pipe: the grace timer is armed by the exit, the
	 * end of the pipe finishes. */
	ChildMachine m = in_state(CS_RUNNING);
	unsigned a = child_step(&m, CE_EXIT);
	CHECK((a & CA_ARM_GRACE) && (a & CA_STOP_POLL) && !(a & CA_FINISH), "exit: %#x", a);
	a = child_step(&m, CE_PIPE_EOF);
	CHECK((a & CA_FINISH) && m.state == CS_ENDED, "eof after exit: %#x", a);
	CHECK(child_step(&m, CE_GRACE) == 0, "grace after the end");
	CHECK(child_step(&m, CE_EXIT) == 0, "a second exit");

	/* end of pipe then exit: no grace. */
	m = in_state(CS_RUNNING);
	a = child_step(&m, CE_PIPE_EOF);
	CHECK(!(a & CA_FINISH) && (a & CA_STOP_READ), "eof: %#x", a);
	a = child_step(&m, CE_EXIT);
	CHECK((a & CA_FINISH) && !(a & CA_ARM_GRACE), "exit after eof: %#x", a);

	/* A grandchild holds the pipe: the grace timer kills the group and ends it. */
	m = in_state(CS_RUNNING);
	CHECK(child_step(&m, CE_GRACE) == 0, "grace before any exit does nothing");
	child_step(&m, CE_EXIT);
	a = child_step(&m, CE_GRACE);
	CHECK((a & CA_SIGKILL) && (a & CA_STOP_READ) && (a & CA_FINISH) && m.grace_expired,
	      "grace: %#x", a);
	CHECK(m.state == CS_ENDED, "grace ends: %s", child_state_name(m.state));

	/* A result read after the exit (it was still in the pipe) counts. */
	m = in_state(CS_RUNNING);
	child_step(&m, CE_EXIT);
	a = child_step(&m, CE_RESULT);
	CHECK((a & CA_RECORD) && m.got_result, "late result: %#x", a);
	a = child_step(&m, CE_PIPE_EOF);
	CHECK(a & CA_FINISH, "finish: %#x", a);

	/* A protocol kill stops reading: the pipe is done for the machine. */
	m = in_state(CS_RUNNING);
	a = child_step(&m, CE_BAD_FRAME);
	CHECK((a & CA_PROTOCOL) && (a & CA_STOP_READ) && m.kill == CK_PROTOCOL, "bad: %#x", a);
	a = child_step(&m, CE_EXIT);
	CHECK(a & CA_FINISH, "exit after protocol kill: %#x", a);
}

static void test_once(void)
{
	ChildMachine m = in_state(CS_RUNNING);
	CHECK(child_step(&m, CE_RSS_SOFT) & CA_SIGUSR1, "first soft line");
	CHECK(!(child_step(&m, CE_RSS_SOFT) & CA_SIGUSR1), "SIGUSR1 only once");
	CHECK(m.state == CS_RUNNING, "soft line kills nothing");
	CHECK(child_step(&m, CE_STOP) & CA_SIGTERM, "stop");
	CHECK(!(child_step(&m, CE_STOP) & CA_SIGTERM), "SIGTERM only once");
	/* The first kill reason wins. */
	child_step(&m, CE_RSS_OVER);
	child_step(&m, CE_HANG_TICK);
	CHECK(m.kill == CK_BUDGET, "kill %d", m.kill);
	/* Guards name what was wrong. */
	m = in_state(CS_RUNNING);
	child_step(&m, CE_HELLO);
	CHECK(m.why && strstr(m.why, "second hello"), "why: %s", m.why ? m.why : "(null)");
	m = in_state(CS_SPAWNED);
	child_step(&m, CE_FRAME);
	CHECK(m.why && strstr(m.why, "before hello"), "why: %s", m.why ? m.why : "(null)");
	/* An error frame may come instead of hello (bad input at start). */
	m = in_state(CS_SPAWNED);
	CHECK(child_step(&m, CE_ERROR) & CA_RECORD, "error before hello recorded");
	CHECK(m.kill == CK_NONE, "error before hello is no protocol error");
}

typedef struct OutcomeCase {
	const char *name;
	ChildState state;       /* where the attempt was */
	ChildEvent extra;       /* one more event before the end (CE_COUNT: none) */
	int exited, code, sig, stopping, oom;
	ExitKind want;
	int startup;            /* child_startup_failed() wanted */
} OutcomeCase;

static const OutcomeCase outcomes[] = {
	{ "clean", CS_DELIVERED, CE_COUNT, 1, 0, 0, 0, 0, EXIT_DONE, 0 },
	{ "result then crash at exit", CS_DELIVERED, CE_COUNT, 1, 13, 0, 0, 0, EXIT_DONE, 0 },
	{ "result then hang, killed", CS_DELIVERED, CE_HANG_TICK, 0, -1, SIGKILL, 0, 0, EXIT_DONE, 0 },
	{ "result then killed by someone", CS_DELIVERED, CE_COUNT, 0, -1, SIGKILL, 0, 0, EXIT_DONE, 0 },
	{ "exit 0 without result", CS_RUNNING, CE_COUNT, 1, 0, 0, 0, 0, EXIT_PROTOCOL, 0 },
	{ "exit 10 unasked", CS_RUNNING, CE_COUNT, 1, TV_EXIT_INTERRUPTED, 0, 0, 0, EXIT_CRASH, 0 },
	{ "exit 10 asked", CS_STOPPING, CE_COUNT, 1, TV_EXIT_INTERRUPTED, 0, 1, 0, EXIT_INTERRUPTED, 0 },
	{ "external SIGKILL, no evidence", CS_RUNNING, CE_COUNT, 0, -1, SIGKILL, 0, 0, EXIT_CRASH, 0 },
	{ "external SIGKILL, OOM evidence", CS_RUNNING, CE_COUNT, 0, -1, SIGKILL, 0, 1, EXIT_OVER_BUDGET, 0 },
	{ "our budget kill", CS_RUNNING, CE_RSS_OVER, 0, -1, SIGKILL, 0, 0, EXIT_OVER_BUDGET, 0 },
	{ "our vram kill", CS_RUNNING, CE_VRAM_OVER, 0, -1, SIGKILL, 0, 0, EXIT_OVER_BUDGET, 0 },
	{ "our hang kill", CS_RUNNING, CE_HANG_TICK, 0, -1, SIGKILL, 0, 0, EXIT_HANG, 0 },
	{ "protocol kill", CS_RUNNING, CE_BAD_FRAME, 0, -1, SIGKILL, 0, 0, EXIT_PROTOCOL, 0 },
	{ "protocol kill, exit 0", CS_RUNNING, CE_BAD_FRAME, 1, 0, 0, 0, 0, EXIT_PROTOCOL, 0 },
	{ "second signal", CS_STOPPING, CE_ABORT, 0, -1, SIGKILL, 1, 0, EXIT_INTERRUPTED, 0 },
	{ "worker's own OOM exit", CS_RUNNING, CE_COUNT, 1, TV_EXIT_OVER_BUDGET, 0, 0, 0, EXIT_OVER_BUDGET, 0 },
	{ "bad input", CS_SPAWNED, CE_ERROR, 1, TV_EXIT_BAD_INPUT, 0, 0, 0, EXIT_BAD_INPUT, 0 },
	{ "segfault", CS_RUNNING, CE_COUNT, 0, -1, SIGSEGV, 0, 1, EXIT_CRASH, 0 },
	/* Ended before its first frame, on its own: a startup failure, a
	 * charged crash whatever the code or signal says. */
	{ "startup: exit 1", CS_SPAWNED, CE_COUNT, 1, 1, 0, 0, 0, EXIT_CRASH, 1 },
	{ "startup: OpenBLAS's own SIGINT", CS_SPAWNED, CE_COUNT, 0, -1, SIGINT, 0, 0, EXIT_CRASH, 1 },
	{ "startup: exit 10 unasked", CS_SPAWNED, CE_COUNT, 1, TV_EXIT_INTERRUPTED, 0, 0, 0, EXIT_CRASH, 1 },
	{ "startup: exit 0, nothing sent", CS_SPAWNED, CE_COUNT, 1, 0, 0, 0, 0, EXIT_CRASH, 1 },
	{ "startup: SIGKILL, no evidence", CS_SPAWNED, CE_COUNT, 0, -1, SIGKILL, 0, 0, EXIT_CRASH, 1 },
	{ "startup: segfault", CS_SPAWNED, CE_COUNT, 0, -1, SIGSEGV, 0, 0, EXIT_CRASH, 1 },
	/* Before the first frame but not a startup failure: its own verdict,
	 * the kernel's OOM kill, our stop or kill. */
	{ "before hello: exit 11, no frame", CS_SPAWNED, CE_COUNT, 1, TV_EXIT_OVER_BUDGET, 0, 0, 0, EXIT_OVER_BUDGET, 0 },
	{ "before hello: exit 64, no frame", CS_SPAWNED, CE_COUNT, 1, TV_EXIT_USAGE, 0, 0, 0, EXIT_BAD_INPUT, 0 },
	{ "before hello: OOM kill", CS_SPAWNED, CE_COUNT, 0, -1, SIGKILL, 0, 1, EXIT_OVER_BUDGET, 0 },
	{ "before hello: error frame, exit 13", CS_SPAWNED, CE_ERROR, 1, TV_EXIT_INTERNAL, 0, 0, 0, EXIT_CRASH, 0 },
	{ "before hello: stopped", CS_SPAWNED, CE_STOP, 0, -1, SIGTERM, 1, 0, EXIT_INTERRUPTED, 0 },
	{ "before hello: stopped, exit 1", CS_SPAWNED, CE_STOP, 1, 1, 0, 1, 0, EXIT_CRASH, 0 },
	{ "before hello: our hang kill", CS_SPAWNED, CE_HANG_TICK, 0, -1, SIGKILL, 0, 0, EXIT_HANG, 0 },
	{ "before hello: our budget kill", CS_SPAWNED, CE_RSS_OVER, 0, -1, SIGKILL, 0, 0, EXIT_OVER_BUDGET, 0 },
	{ "after hello: exit 1", CS_RUNNING, CE_COUNT, 1, 1, 0, 0, 0, EXIT_CRASH, 0 },
	{ "after hello: SIGINT", CS_RUNNING, CE_COUNT, 0, -1, SIGINT, 0, 0, EXIT_CRASH, 0 },
};

static void test_outcomes(void)
{
	for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
		const OutcomeCase *o = &outcomes[i];
		ChildMachine m = in_state(o->state);
		if (o->extra != CE_COUNT)
			child_step(&m, o->extra);
		child_step(&m, CE_EXIT);
		child_step(&m, CE_PIPE_EOF);
		CHECK(m.state == CS_ENDED, "%s: not ended", o->name);
		ExitKind k = child_outcome(&m, o->exited, o->code, o->sig, o->stopping, o->oom);
		CHECK(k == o->want, "%s: %s, want %s", o->name, policy_exit_kind_name(k),
		      policy_exit_kind_name(o->want));
		CHECK(child_startup_failed(&m, k) == o->startup, "%s: startup failure %d, want %d",
		      o->name, child_startup_failed(&m, k), o->startup);
	}
}

int main(void)
{
	test_matrix();
	test_endings();
	test_once();
	test_outcomes();
	printf("child: %d states x %d events\n", CS_COUNT, CE_COUNT);
	return check_done("child");
}
