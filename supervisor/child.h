/* The life cycle of one attempt (a worker process and its report pipe) as
 * data: a table of state x event -> next state + actions. Pure: no I/O, no
 * clock, no libuv. The loop (run.c) turns its callbacks into ChildEvents,
 * calls child_step() and carries out the actions it returns, in the order
 * of the ChildAction bits below.
 *
 * States (what the loop is waiting for):
 *   SPAWNED   started, no hello yet (only hello or error may come)
 *   RUNNING   hello seen; training
 *   STOPPING  we asked it to checkpoint and exit (SIGTERM to its group)
 *   DELIVERED its result frame arrived; it only has to exit
 *   KILLED    we sent SIGKILL for a reason (budget, hang, protocol)
 *   ENDED     process exited and the pipe is done: finished (terminal)
 * Whether the process has exited and whether the pipe has ended are two
 * facts beside the state (they arrive in either order); the attempt ENDs
 * when both are true, or at the grace timer after the exit when something
 * else (a grandchild) still holds the pipe.
 *
 * child_outcome() then says how the attempt ended (ExitKind) from the
 * facts gathered on the way; policy_decide() says what follows. */
#ifndef TV_CHILD_H
#define TV_CHILD_H

#include <stdint.h>

#include "policy.h"

typedef enum ChildState {
	CS_SPAWNED = 0,
	CS_RUNNING,
	CS_STOPPING,
	CS_DELIVERED,
	CS_KILLED,
	CS_ENDED,
} ChildState;
#define CS_COUNT (CS_ENDED + 1)

typedef enum ChildEvent {
	CE_HELLO = 0,   /* a hello frame */
	CE_FRAME,       /* progress, heartbeat or checkpoint (already validated) */
	CE_RESULT,      /* a result frame whose model file checked out */
	CE_ERROR,       /* the worker's error frame (it is about to exit) */
	CE_BAD_FRAME,   /* undecodable, out of range, or a path/checksum that lies */
	CE_RSS_SOFT,    /* the tree's memory above the soft line */
	CE_RSS_OVER,    /* the tree's memory above budget.rss */
	CE_VRAM_OVER,   /* device memory above budget.vram */
	CE_HANG_TICK,   /* no frame for hang_timeout */
	CE_STOP,        /* the supervisor is stopping (first signal, store failure) */
	CE_ABORT,       /* second signal: kill now */
	CE_EXIT,        /* the worker process exited (libuv exit callback) */
	CE_PIPE_EOF,    /* the report pipe ended (or failed) */
	CE_GRACE,       /* the grace timer after the exit ran out */
} ChildEvent;
#define CE_COUNT (CE_GRACE + 1)

/* Actions, as bits; run.c carries them out in this order. */
enum {
	CA_RECORD      = 1 << 0,  /* store/log the frame that caused the event */
	CA_PROTOCOL    = 1 << 1,  /* log the protocol error (detail is the loop's) */
	CA_SIGUSR1     = 1 << 2,  /* SIGUSR1 to the worker: checkpoint now */
	CA_SIGTERM     = 1 << 3,  /* SIGTERM to the group: checkpoint and exit */
	CA_SIGKILL     = 1 << 4,  /* SIGKILL to the whole group */
	CA_STOP_READ   = 1 << 5,  /* stop reading the pipe (and close it) */
	CA_STOP_POLL   = 1 << 6,  /* stop the memory/hang poll */
	CA_ARM_GRACE   = 1 << 7,  /* start the grace timer (exit seen, pipe still open) */
	CA_FINISH      = 1 << 8,  /* classify, decide, record; free the slot */
};

/* Why we killed it (the first reason wins). */
typedef enum ChildKill {
	CK_NONE = 0,
	CK_BUDGET,      /* rss or vram over budget */
	CK_HANG,        /* no frame for hang_timeout */
	CK_PROTOCOL,    /* a bad frame */
	CK_DELIVERED,   /* it hung or misbehaved after delivering its result */
	CK_ABORT,       /* second signal */
} ChildKill;

typedef struct ChildMachine {
	ChildState state;
	ChildKill kill;
	int got_hello, got_result;
	int got_error;            /* an error frame came (the worker said why it ends) */
	int usr1_sent, term_sent;
	int exited, pipe_done;
	int grace_expired;        /* ended by the grace timer, pipe still held */
	const char *why;          /* set when a guard turned an event into a bad
	                           * frame ("a second hello"), else NULL */
} ChildMachine;

/* A fresh machine (state SPAWNED). */
void child_init(ChildMachine *m);

/* Feeds one event; returns the CA_* actions to carry out. Never fails:
 * an event that means nothing in a state returns 0 and changes nothing.
 * Once ENDED, every event returns 0. */
unsigned child_step(ChildMachine *m, ChildEvent ev);

/* The table's entry, without the facts (for tests and documentation). */
ChildState child_next_state(ChildState s, ChildEvent ev);

const char *child_state_name(ChildState s);
const char *child_event_name(ChildEvent ev);

/* How the attempt ended. exited/exit_code/term_signal: as the exit
 * callback gave them; stopping: the supervisor asked it to stop;
 * oom_evidence: the kernel's OOM killer was seen to kill in the attempt's
 * memory cgroup (or on the host) while it ran.
 * - a result delivered (and not a protocol error) -> done, whatever came
 *   after it;
 * - our kills: budget -> over-budget, hang -> hang, protocol -> protocol;
 * - exit 0 without a result -> protocol error (before any frame: a
 *   startup failure, a crash - child_startup_failed());
 * - exit 10 (interrupted) only counts as interrupted when we asked (SIGTERM
 *   sent or stopping); unasked it is a crash;
 * - a SIGKILL we did not send -> over-budget with OOM evidence, else crash
 *   (while stopping: interrupted);
 * - the rest as policy_classify(). */
ExitKind child_outcome(const ChildMachine *m, int exited, int exit_code, int term_signal,
                       int stopping, int oom_evidence);

/* 1 when the attempt, whose outcome child_outcome() gave as kind, is a
 * worker's own startup failure: it ended before its first frame (no hello,
 * no error frame) without our asking (no kill, no SIGTERM), and its end
 * says nothing of its own (a crash, or exit 0 with nothing sent): a
 * missing library, a wrapper's exit 1, OpenBLAS raising SIGINT on itself
 * when it cannot create its threads. It is a charged crash (child_outcome
 * gives EXIT_CRASH); the reason says "startup failure". The worker's own
 * verdicts (exit 11, 12, 64) and the kernel's OOM kill keep their kinds. */
int child_startup_failed(const ChildMachine *m, ExitKind kind);

#endif
