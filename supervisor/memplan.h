/* Memory plan: how much memory each worker may use and when one may start.
 * Pure functions (facts in, decision out) except the two memplan_read_*
 * functions at the end, which only read the machine's files.
 *
 * The rules (docs/memory.md):
 * - Available memory: MemAvailable, or less when the supervisor runs in a
 *   memory cgroup with a limit (v2 memory.max, v1 memory.limit_in_bytes):
 *   then the limit minus the cgroup's usage, if that is smaller.
 * - Reserve: kept free for the supervisor, the page cache and the rest of
 *   the host: MEMPLAN_RESERVE_SHARE of the available memory, at least
 *   MEMPLAN_RESERVE_MIN.
 * - budget.rss = auto: (available - reserve) / the workers that run at
 *   once; budget.vram = auto: (the smallest device's memory - its reserve)
 *   / the workers per device.
 * - Admission: one more worker starts only while the available memory
 *   holds its budget plus what the running workers may still grow to
 *   (their budget minus their current memory). The reserve is not held
 *   again here: an auto budget already left it out, and it is the slack
 *   that lets the last of those workers start while other programs move
 *   a little memory.
 * - After a kernel OOM kill, at most (the workers then running - 1) run at
 *   once for the rest of the run, never fewer than 1.
 * - The ladder: when batch_size is at min_batch_size and the attempt is
 *   still over budget, the next rung of budget.ladder with room is halved:
 *   buffer_size (floor min_buffer_size, and never below batch_size), then
 *   chunk_length (floor min_chunk_length). With no rung left the ticker
 *   fails with a reason naming the rungs and their floors. */
#ifndef TV_MEMPLAN_H
#define TV_MEMPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define MEMPLAN_RESERVE_MIN (256ull << 20)
#define MEMPLAN_RESERVE_SHARE 0.10
/* How often a scheduler waiting for memory reads it again. */
#define MEMPLAN_RECHECK_MS 500

/* What the machine says. 0 = unknown or no limit. */
typedef struct MemFacts {
	uint64_t mem_available;   /* /proc/meminfo MemAvailable, bytes */
	uint64_t cg_limit;        /* the cgroup's limit, bytes; 0 = none */
	uint64_t cg_usage;        /* the cgroup's usage, bytes */
	const char *cg_source;    /* which cgroup file, for messages ("" = none) */
} MemFacts;

/* The memory workers may use now: the smaller of MemAvailable and the
 * cgroup's headroom (limit - usage); 0 when neither is known. *ret_which
 * (may be NULL) says which one it was. */
uint64_t memplan_available(const MemFacts *f, const char **ret_which);

/* The reserve kept back from available memory. */
uint64_t memplan_reserve(uint64_t available);

/* budget.rss = auto: (available - reserve) / workers. Returns the budget
 * (0 when available is unknown: no budget) and a sentence for the log and
 * status in why, e.g. "auto: MemAvailable 7.6 GiB - reserve 778.5 MiB = 6.8
 * GiB for 2 workers at once". workers >= 1. */
uint64_t memplan_auto_budget(const MemFacts *f, int workers, char *why, size_t len);

/* budget.vram = auto: (smallest device memory - reserve) / workers per
 * device, over the n devices the run places workers on (ids[i] is device
 * i's number, bytes[i] its memory, 0 = unknown). 0 with why when a
 * device's memory is unknown (a budget from the others could be too big
 * for it) or below the reserve. workers_per_device >= 1. */
uint64_t memplan_auto_vram(const int *ids, const uint64_t *bytes, int n, int workers_per_device,
                           char *why, size_t len);

/* Whether one worker's budget.vram (a number, not auto) fits on every
 * device of the run whose memory is known (placement counts that memory
 * as the device's capacity, so a budget over it would never start a
 * worker). Returns 1, or 0 with why naming the first device it does not
 * fit. */
int memplan_vram_fits(const int *ids, const uint64_t *bytes, int n, uint64_t budget,
                      char *why, size_t len);

/* The admission rule. running_rss: the sum of the running workers' current
 * memory. Returns 1 (start it) or 0 (wait, why says for what). Always 1
 * when budget is 0 or available is unknown (there is nothing to hold). */
int memplan_admit(uint64_t available, uint64_t budget, int running, uint64_t running_rss,
                  char *why, size_t len);

/* After a kernel OOM kill with `running` workers running (the killed one
 * included): the new limit on workers at once, from the current one. */
int memplan_after_oom(int limit, int running);

/* ---- the ladder ---- */

typedef enum MemRung { RUNG_BATCH = 0, RUNG_BUFFER, RUNG_CHUNK } MemRung;
#define MEMPLAN_MAX_RUNGS 3

typedef struct MemLadder {
	int n;
	MemRung rungs[MEMPLAN_MAX_RUNGS];
} MemLadder;

/* "batch", "buffer", "chunk"; "?" out of range. */
const char *memplan_rung_name(MemRung r);
/* Parses such a name. Returns 0 and *ret, or -EINVAL. */
int memplan_rung_parse(const char *name, MemRung *ret);

/* Parses budget.ladder: a comma list starting with batch, each rung at
 * most once ("batch", "batch,buffer", "batch,buffer,chunk", "batch,chunk").
 * Returns 0, or -EINVAL with why. */
int memplan_ladder_parse(const char *text, MemLadder *ret, char *why, size_t len);

/* What a ticker trains with. */
typedef struct MemShape {
	int batch_size, buffer_size, chunk_length;
	MemRung rung;             /* the last rung that changed it */
} MemShape;

typedef struct MemFloors {
	int min_batch_size, min_buffer_size, min_chunk_length;
} MemFloors;

/* The ladder after policy_decide: when the decision fails an over-budget
 * attempt at min_batch_size (f->kind EXIT_OVER_BUDGET, d->action
 * POLICY_FAIL) and a later rung has room, *d becomes a retry (not charged;
 * a pause while stopping) and *next the halved shape; otherwise *d keeps
 * its failure with the exhausted rungs and floors added to its reason and
 * *next = *cur. Returns 1 when the shape changed (the ticker starts over:
 * a checkpoint of another buffer_size or chunk_length does not resume). */
int memplan_apply_ladder(PolicyDecision *d, const PolicyFacts *f, const MemLadder *ladder,
                         const MemShape *cur, const MemFloors *floors, MemShape *next);

/* ---- reading the machine (I/O) ---- */

/* The folder of this process's memory cgroup that holds a limit (v2
 * memory.max, v1 memory.limit_in_bytes), walking up from
 * /proc/self/cgroup to the mount point; $TICKERVISOR_CGROUP_DIR instead
 * when set (tests). "" when no cgroup limits memory. Called once at the
 * start of a run: the walk costs ~200 us, a start must not pay it. */
void memplan_find_cgroup(char *dir, size_t len);

/* Fills *f from /proc/meminfo (or $TICKERVISOR_MEMINFO, read again each
 * time so that tests can change it) and cgroup_dir's limit and usage
 * files (memory.max + memory.current, or memory.limit_in_bytes +
 * memory.usage_in_bytes; "" = none). source_buf keeps the limit file's
 * path. Unreadable files leave their fields 0. */
void memplan_read_facts(MemFacts *f, const char *cgroup_dir, char *source_buf, size_t len);

/* The parsers memplan_read_facts uses, pure: "MemAvailable: N kB" of a
 * meminfo text (0 if absent); a cgroup limit file's text ("max", or a
 * byte count; >= 2^60 counts as no limit) -> bytes or 0. */
uint64_t memplan_parse_meminfo(const char *text);
uint64_t memplan_parse_cgroup_bytes(const char *text);

#endif
