/* Shards: which part of a run's tickers one supervisor trains.
 *
 * A run split into N shards is N supervisors, each with its own database,
 * sharing one out_dir. A ticker belongs to shard shard_of(name, N): a hash
 * of its name alone, so adding, removing or reordering other tickers never
 * moves it, and every host computes the same answer. The shard comes from
 * `--shard I/N`, else from the scheduler's environment (a Slurm job array,
 * a Kubernetes Indexed Job). Pure: no I/O, the caller passes the
 * environment's values in. */
#ifndef TV_SHARD_H
#define TV_SHARD_H

#include <stddef.h>

/* More shards than this is a typo, not a cluster. */
#define SHARD_MAX 100000

typedef struct Shard {
	int index;  /* 0 <= index < count */
	int count;  /* 0: not sharded (the whole run); else 1..SHARD_MAX */
} Shard;

/* Where the shard may come from, in order of precedence. NULL or "" means
 * absent. */
typedef struct ShardSource {
	const char *flag;          /* --shard "I/N" */
	const char *count_flag;    /* --shards "N": the count for an index from
	                            * the environment (overrides the array's count) */
	const char *slurm_id;      /* $SLURM_ARRAY_TASK_ID */
	const char *slurm_count;   /* $SLURM_ARRAY_TASK_COUNT */
	const char *k8s_index;     /* $JOB_COMPLETION_INDEX (needs count_flag) */
} ShardSource;

/* The shard (0 .. n-1) of a ticker: FNV-1a (64 bit) of the name's bytes,
 * modulo n. n >= 1. This value is part of the on-disk contract: changing
 * the hash moves tickers between existing shard databases. */
int shard_of(const char *ticker, int n);

/* Parses "I/N" (decimal, 0 <= I < N <= SHARD_MAX, nothing else) into
 * *ret. Returns 0, or -EINVAL with a message in err. */
int shard_parse(const char *text, Shard *ret, char *err, size_t errlen);

/* Decides the shard: --shard, else SLURM_ARRAY_TASK_ID with --shards or
 * SLURM_ARRAY_TASK_COUNT, else JOB_COMPLETION_INDEX with --shards, else
 * not sharded (count 0). --shards without an index from any of them is
 * an error, as is a --shards that disagrees with --shard's N. Returns 0
 * and *ret, or -EINVAL with a message naming the flag or variable. */
int shard_resolve(const ShardSource *src, Shard *ret, char *err, size_t errlen);

/* The part of the run's file names that says which shard they belong to:
 * "" when not sharded, else ".shard-I-of-N" with I zero-padded to the
 * width of N-1 (so that `ls` lists shards in order). The database is then
 * OUT_DIR/tickervisor<suffix>.db. Returns 0, or -ENAMETOOLONG. */
int shard_suffix(const Shard *s, char *buf, size_t len);

/* 1 when the ticker is in this shard (always 1 when not sharded). */
int shard_has(const Shard *s, const char *ticker);

#endif
