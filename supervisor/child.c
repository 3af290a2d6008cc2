/* The attempt's life cycle as a table (see child.h). Pure: no I/O. */
#include "child.h"

#include <signal.h>
#include <string.h>

#include "common/exitcodes.h"

typedef struct ChildTransition {
	unsigned char next;   /* ChildState */
	unsigned char kill;   /* ChildKill set on the way (the first one wins) */
	unsigned short actions;
} ChildTransition;

#define T(next, kill, actions) { (next), (kill), (actions) }
#define KEEP(s) T(s, CK_NONE, 0)
/* The three events every live state treats alike: run.c's exit, end of
 * pipe and grace; child_step() adds CA_ARM_GRACE / CA_FINISH from the
 * exited/pipe_done facts. */
#define ENDINGS(s) \
	[CE_EXIT] = T(s, CK_NONE, CA_STOP_POLL), \
	[CE_PIPE_EOF] = T(s, CK_NONE, CA_STOP_READ), \
	[CE_GRACE] = T(s, CK_NONE, CA_SIGKILL | CA_STOP_READ)
#define PROTO_KILL T(CS_KILLED, CK_PROTOCOL, CA_PROTOCOL | CA_SIGKILL | CA_STOP_READ)

static const ChildTransition table[CS_COUNT][CE_COUNT] = {
	[CS_SPAWNED] = {
		[CE_HELLO] = T(CS_RUNNING, CK_NONE, CA_RECORD),
		[CE_FRAME] = PROTO_KILL,           /* (the guard makes these so) */
		[CE_RESULT] = PROTO_KILL,
		[CE_ERROR] = T(CS_SPAWNED, CK_NONE, CA_RECORD),
		[CE_BAD_FRAME] = PROTO_KILL,
		[CE_RSS_SOFT] = KEEP(CS_SPAWNED), /* no handler for SIGUSR1 before hello */
		[CE_RSS_OVER] = T(CS_KILLED, CK_BUDGET, CA_SIGKILL),
		[CE_VRAM_OVER] = T(CS_KILLED, CK_BUDGET, CA_SIGKILL),
		[CE_HANG_TICK] = T(CS_KILLED, CK_HANG, CA_SIGKILL),
		[CE_STOP] = T(CS_STOPPING, CK_NONE, CA_SIGTERM),
		[CE_ABORT] = T(CS_KILLED, CK_ABORT, CA_SIGKILL),
		ENDINGS(CS_SPAWNED),
	},
	[CS_RUNNING] = {
		[CE_HELLO] = PROTO_KILL,
		[CE_FRAME] = T(CS_RUNNING, CK_NONE, CA_RECORD),
		[CE_RESULT] = T(CS_DELIVERED, CK_NONE, CA_RECORD),
		[CE_ERROR] = T(CS_RUNNING, CK_NONE, CA_RECORD),
		[CE_BAD_FRAME] = PROTO_KILL,
		[CE_RSS_SOFT] = T(CS_RUNNING, CK_NONE, CA_SIGUSR1),
		[CE_RSS_OVER] = T(CS_KILLED, CK_BUDGET, CA_SIGKILL),
		[CE_VRAM_OVER] = T(CS_KILLED, CK_BUDGET, CA_SIGKILL),
		[CE_HANG_TICK] = T(CS_KILLED, CK_HANG, CA_SIGKILL),
		[CE_STOP] = T(CS_STOPPING, CK_NONE, CA_SIGTERM),
		[CE_ABORT] = T(CS_KILLED, CK_ABORT, CA_SIGKILL),
		ENDINGS(CS_RUNNING),
	},
	[CS_STOPPING] = {
		[CE_HELLO] = T(CS_STOPPING, CK_NONE, CA_RECORD),
		[CE_FRAME] = T(CS_STOPPING, CK_NONE, CA_RECORD), /* its last checkpoint */
		[CE_RESULT] = T(CS_DELIVERED, CK_NONE, CA_RECORD),
		[CE_ERROR] = T(CS_STOPPING, CK_NONE, CA_RECORD),
		[CE_BAD_FRAME] = PROTO_KILL,
		[CE_RSS_SOFT] = KEEP(CS_STOPPING),
		[CE_RSS_OVER] = T(CS_KILLED, CK_BUDGET, CA_SIGKILL),
		[CE_VRAM_OVER] = T(CS_KILLED, CK_BUDGET, CA_SIGKILL),
		[CE_HANG_TICK] = T(CS_KILLED, CK_HANG, CA_SIGKILL),
		[CE_STOP] = KEEP(CS_STOPPING),
		[CE_ABORT] = T(CS_KILLED, CK_ABORT, CA_SIGKILL),
		ENDINGS(CS_STOPPING),
	},
	/* The work is delivered: whatever it does now cannot undo that; if it
	 * hangs, misbehaves or the run stops, it is killed and stays done.
	 * Memory touched while it tears down is not held against the budget. */
	[CS_DELIVERED] = {
		[CE_HELLO] = T(CS_DELIVERED, CK_DELIVERED, CA_SIGKILL | CA_STOP_READ),
		[CE_FRAME] = KEEP(CS_DELIVERED),
		[CE_RESULT] = T(CS_DELIVERED, CK_DELIVERED, CA_SIGKILL | CA_STOP_READ),
		[CE_ERROR] = KEEP(CS_DELIVERED),
		[CE_BAD_FRAME] = T(CS_DELIVERED, CK_DELIVERED, CA_SIGKILL | CA_STOP_READ),
		[CE_RSS_SOFT] = KEEP(CS_DELIVERED),
		[CE_RSS_OVER] = KEEP(CS_DELIVERED),
		[CE_VRAM_OVER] = KEEP(CS_DELIVERED),
		[CE_HANG_TICK] = T(CS_DELIVERED, CK_DELIVERED, CA_SIGKILL),
		[CE_STOP] = T(CS_DELIVERED, CK_DELIVERED, CA_SIGKILL),
		[CE_ABORT] = T(CS_DELIVERED, CK_DELIVERED, CA_SIGKILL),
		ENDINGS(CS_DELIVERED),
	},
	/* SIGKILL sent: only the exit and the end of the pipe matter now. */
	[CS_KILLED] = {
		[CE_HELLO] = KEEP(CS_KILLED),
		[CE_FRAME] = KEEP(CS_KILLED),
		[CE_RESULT] = KEEP(CS_KILLED),
		[CE_ERROR] = KEEP(CS_KILLED),
		[CE_BAD_FRAME] = KEEP(CS_KILLED),
		[CE_RSS_SOFT] = KEEP(CS_KILLED),
		[CE_RSS_OVER] = KEEP(CS_KILLED),
		[CE_VRAM_OVER] = KEEP(CS_KILLED),
		[CE_HANG_TICK] = KEEP(CS_KILLED),
		[CE_STOP] = KEEP(CS_KILLED),
		[CE_ABORT] = KEEP(CS_KILLED),
		ENDINGS(CS_KILLED),
	},
	[CS_ENDED] = {
		[CE_HELLO] = KEEP(CS_ENDED), [CE_FRAME] = KEEP(CS_ENDED),
		[CE_RESULT] = KEEP(CS_ENDED), [CE_ERROR] = KEEP(CS_ENDED),
		[CE_BAD_FRAME] = KEEP(CS_ENDED), [CE_RSS_SOFT] = KEEP(CS_ENDED),
		[CE_RSS_OVER] = KEEP(CS_ENDED), [CE_VRAM_OVER] = KEEP(CS_ENDED),
		[CE_HANG_TICK] = KEEP(CS_ENDED), [CE_STOP] = KEEP(CS_ENDED),
		[CE_ABORT] = KEEP(CS_ENDED), [CE_EXIT] = KEEP(CS_ENDED),
		[CE_PIPE_EOF] = KEEP(CS_ENDED), [CE_GRACE] = KEEP(CS_ENDED),
	},
};

void child_init(ChildMachine *m)
{
	memset(m, 0, sizeof *m);
	m->state = CS_SPAWNED;
}

ChildState child_next_state(ChildState s, ChildEvent ev)
{
	if ((unsigned)s >= CS_COUNT || (unsigned)ev >= CE_COUNT)
		return s;
	return (ChildState)table[s][ev].next;
}

unsigned child_step(ChildMachine *m, ChildEvent ev)
{
	if (m->state == CS_ENDED || (unsigned)ev >= CE_COUNT)
		return 0;
	/* Guards: the protocol's order, and events that already happened. */
	if (ev == CE_HELLO && m->got_hello) {
		ev = CE_BAD_FRAME;
		m->why = "a second hello";
	} else if ((ev == CE_FRAME || ev == CE_RESULT) && !m->got_hello) {
		ev = CE_BAD_FRAME;
		m->why = "a frame before hello";
	}
	if ((ev == CE_EXIT && m->exited) || (ev == CE_PIPE_EOF && m->pipe_done) ||
	    (ev == CE_GRACE && (!m->exited || m->pipe_done)))
		return 0;

	const ChildTransition *t = &table[m->state][ev];
	unsigned a = t->actions;
	if (m->kill == CK_NONE)
		m->kill = (ChildKill)t->kill;
	if (a & CA_RECORD) {
		if (ev == CE_HELLO)
			m->got_hello = 1;
		if (ev == CE_RESULT)
			m->got_result = 1;
		if (ev == CE_ERROR)
			m->got_error = 1;
	}
	if (a & CA_SIGUSR1) {
		if (m->usr1_sent)
			a &= ~(unsigned)CA_SIGUSR1;
		m->usr1_sent = 1;
	}
	if (a & CA_SIGTERM) {
		if (m->term_sent)
			a &= ~(unsigned)CA_SIGTERM;
		m->term_sent = 1;
	}
	if (ev == CE_EXIT) {
		m->exited = 1;
		if (!m->pipe_done)
			a |= CA_ARM_GRACE;
	}
	if (a & CA_STOP_READ)
		m->pipe_done = 1;
	if (ev == CE_GRACE)
		m->grace_expired = 1;
	m->state = (ChildState)t->next;
	if (m->exited && m->pipe_done) {
		a |= CA_FINISH;
		m->state = CS_ENDED;
	}
	return a;
}

static const char *const state_names[CS_COUNT] = {
	"spawned", "running", "stopping", "delivered", "killed", "ended",
};
static const char *const event_names[CE_COUNT] = {
	"hello", "frame", "result", "error", "bad-frame", "rss-soft", "rss-over",
	"vram-over", "hang-tick", "stop", "abort", "exit", "pipe-eof", "grace",
};

const char *child_state_name(ChildState s)
{
	return (unsigned)s < CS_COUNT ? state_names[s] : "?";
}

const char *child_event_name(ChildEvent ev)
{
	return (unsigned)ev < CE_COUNT ? event_names[ev] : "?";
}

ExitKind child_outcome(const ChildMachine *m, int exited, int exit_code, int term_signal,
                       int stopping, int oom_evidence)
{
	if (m->got_result)
		return EXIT_DONE;
	int no_result = exited && exit_code == TV_EXIT_DONE;
	ExitKind k = policy_classify(exited, exit_code, term_signal, m->kill == CK_BUDGET,
	                             m->kill == CK_HANG, m->kill == CK_PROTOCOL || no_result,
	                             stopping || m->kill == CK_ABORT, m->term_sent, oom_evidence);
	return child_startup_failed(m, k) ? EXIT_CRASH : k;
}

int child_startup_failed(const ChildMachine *m, ExitKind kind)
{
	return !m->got_hello && !m->got_error && m->kill == CK_NONE && !m->term_sent &&
	       (kind == EXIT_CRASH || kind == EXIT_PROTOCOL);
}
