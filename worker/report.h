/* The worker's voice: frames on the report fd (common/proto.h) when the
 * supervisor gave one, readable lines on stderr otherwise. Also the
 * worker's memory accounting (current and peak bytes by category, RSS from
 * /proc/self). A write error on the fd (the supervisor is gone) marks the
 * reporter broken; the worker then keeps going to its next checkpoint and
 * its parent-death signal ends it. */
#ifndef TV_REPORT_H
#define TV_REPORT_H

#include <stdint.h>

#include "common/proto.h"

typedef struct Reporter {
	int fd;              /* -1: human-readable lines on stderr */
	int broken;
	char ticker[64];
	double interval;     /* seconds between heartbeats */
	double last_beat;
	MsgHeartbeat hb;     /* current and peak bytes */
} Reporter;

void report_init(Reporter *rp, int fd, const char *ticker, double interval);

/* Sends one message (frame or line). Returns 0 or negative errno. */
int report_send(Reporter *rp, const Msg *msg);

/* Updates the accounting (current bytes; peaks follow). */
void report_memory(Reporter *rp, int64_t replay, int64_t activations, int64_t weights,
		   int64_t device);

/* Sends a heartbeat when one is due (or always with force). Cheap when not
 * due: one clock read. */
void report_heartbeat(Reporter *rp, int force);

/* Seconds on the monotonic clock. */
double report_now(void);

/* Current and peak resident set of this process, in bytes. */
void report_rss(int64_t *ret_current, int64_t *ret_peak);

#endif
