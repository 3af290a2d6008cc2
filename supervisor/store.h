/* The supervisor's state in SQLite. Only this module includes <sqlite3.h>
 * (one owner per dependency: nothing else knows SQL).
 *
 * One database file per run directory (or per shard). The schema lives in
 * schema/NNN_*.sql, compiled in, applied in order by store_open() through
 * PRAGMA user_version; PRAGMA application_id marks the file as ours.
 * WAL mode: readers (status, report, a user's sqlite3) never block the
 * writer and the writer never blocks them.
 *
 * Writer and readers:
 * - The supervisor opens with writer=1. That takes an exclusive flock on
 *   "PATH.lock" (the file holds the owner's pid) BEFORE touching the
 *   database, so a second writer gets -EBUSY and changes nothing. The kernel
 *   drops the lock when the owner closes or dies (no stale locks).
 * - Everyone else opens with writer=0: a read-only connection, no lock,
 *   no migrations.
 *
 * Errors: every function returns >= 0 on success or a negative errno:
 *   -EBUSY    another supervisor holds the database (or SQLite busy timeout);
 *   -ENOENT   reader: no such database; or no such job/attempt id;
 *   -EBADMSG  not a tickervisor database, or the file is corrupt;
 *   -EPROTO   the database has a newer schema than this binary (refused),
 *             or (reader) an older one that no supervisor has migrated yet;
 *   -EROFS    a write through a read-only connection;
 *   -ENOMEM, -EIO, -ENOSPC, -EACCES, -EINVAL (misuse, constraint).
 * SQLite result codes are translated once, in store.c. The message of the
 * last failure, always starting with the database path ("run.db: another
 * supervisor (pid 123) is running on this database", "run.db: not a
 * tickervisor database", "run.db: database disk image is malformed"), is
 * in store_errmsg(); store_open() writes it into err instead.
 * Nothing here prints.
 *
 * Time: every timestamp is seconds since the Unix epoch as a double
 * (store functions read the clock themselves, except samples, whose t the
 * caller gives).
 *
 * Batching: store_progress() and store_sample() only buffer; store_flush()
 * writes the buffers in one transaction. Buffers are bounded
 * (STORE_BUFFER_MAX rows each): a call that fills one flushes first. The
 * state-changing calls (attempt begin/end, checkpoint, result, recover,
 * job retrain) flush the buffers before they change state, so samples
 * never land after the attempt they belong to was closed. store_close()
 * flushes too.
 *
 * Memory: a Store holds the two buffers (a few hundred KiB) and SQLite's
 * page cache (capped at 2 MiB); JobList rows are compact, their strings
 * live in one arena.
 *
 * Another program holding the write lock (a user's `BEGIN EXCLUSIVE` in the
 * sqlite3 shell): the state-changing writes (attempt begin/end,
 * checkpoint, result, run end, attempt note) that find the database
 * locked are kept in order, in memory, and applied by the next call that
 * gets the lock (store_flush() tries, and the loop calls it every second);
 * they return 0 meanwhile. Attempt ids are picked by the store (the only
 * writer), so a waiting attempt already has its id. The buffered progress
 * and samples wait behind them (and drop their oldest rows when full).
 * store_pending_writes() and store_busy_seconds() say how long it has
 * lasted; store_close() with writes still waiting is -EBUSY "PATH: database
 * is locked by another program: ...". With store_set_busy_timeout(s, 0)
 * no call ever waits for the lock.
 *
 * Threads: a Store is used by one thread at a time. */
#ifndef TV_STORE_H
#define TV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/proto.h"
#include "policy.h"

typedef struct Store Store;

/* Rows per batch buffer (samples, progress) before an automatic flush. */
#define STORE_BUFFER_MAX 1024
/* Size of the err buffer that always fits a store message. */
#define STORE_ERR_MAX 512

typedef enum JobState {
	JOB_PENDING = 0,   /* waiting for a worker (new, retry, paused, recovered) */
	JOB_RUNNING,       /* an attempt is open */
	JOB_DONE,          /* trained; never retrained unless store_job_retrain() */
	JOB_FAILED,        /* permanent failure (bad input, floor reached, max attempts) */
} JobState;

/* "pending", "running", "done", "failed" (the text in the jobs table). */
const char *store_job_state_name(JobState state);

/* Opens (creating it for a writer) the database at path.
 * writer=1: takes the lock (-EBUSY if held: "PATH: another supervisor
 * (pid N) is running on this database"), opens read-write, sets WAL,
 * synchronous=FULL, busy_timeout, and applies the missing migrations in one
 * transaction. A file that is not ours (another application's SQLite
 * database, or not SQLite at all) is -EBADMSG "PATH: not a tickervisor
 * database"; a newer schema is -EPROTO "PATH: schema version N is newer
 * than this tickervisor (M); use a newer binary".
 * writer=0: read-only, no lock, no migrations; the file must exist and be
 * at the current schema version.
 * err (errlen >= STORE_ERR_MAX recommended) gets the message on failure.
 * Returns 0 and *ret. */
int store_open(const char *path, int writer, Store **ret, char *err, size_t errlen);

/* Flushes the buffers (a writer's), closes the connection and releases the
 * lock. Accepts NULL. Returns 0 or the flush error (the store is freed
 * either way). */
int store_close(Store *s);

/* The last failure's message ("" if none). Valid until the next call. */
const char *store_errmsg(const Store *s);
/* The path given to store_open(). */
const char *store_path(const Store *s);
/* The schema version this binary writes (== number of migrations). */
int store_schema_version(void);

/* Explicit transaction around several calls (e.g. thousands of
 * store_job_upsert()): one commit, one fsync. Writer: BEGIN IMMEDIATE.
 * Reader: starts a read transaction and takes its snapshot now, so what
 * follows sees one consistent state (status uses this); a reader's open
 * read transaction never stalls the writer (WAL). Store functions called
 * inside nest as savepoints. store_rollback() undoes a writer's work.
 * Not nestable themselves: -EINVAL if already inside one. */
int store_begin(Store *s);
int store_commit(Store *s);
int store_rollback(Store *s);

/* ---- Runs ---- */

typedef struct StoreRunInfo {
	int64_t id;
	double started_at;
	double ended_at;          /* 0 while running */
	const char *host;         /* gethostname() of the supervisor */
	int64_t pid;              /* the supervisor's pid */
	const char *name;         /* run name from the config */
	const char *config_text;  /* the canonical INI text (config_write) */
	uint64_t budget_rss;      /* bytes, 0 = unlimited */
	uint64_t budget_vram;     /* bytes, 0 = unlimited */
	const char *outcome;      /* "" while running; "finished", "stopped", ... */
	const char *warnings;     /* store_run_warn() text, "" if none (read only) */
} StoreRunInfo;

/* Records the start of a run: name, config_text, host, pid, budgets from
 * *info (id, started_at, ended_at, outcome are ignored). Later attempts are
 * tied to this run. Returns 0 and *ret_run_id. */
int store_run_begin(Store *s, const StoreRunInfo *info, int64_t *ret_run_id);

/* Marks the run ended now with outcome ("finished", "stopped", ...). */
int store_run_end(Store *s, int64_t run_id, const char *outcome);

/* Replaces the run's warnings (runs.warnings, one per line, shown by
 * status): signals files missing, the WAL past its limit, ... */
int store_run_warn(Store *s, int64_t run_id, const char *warnings);

/* The latest run (highest id). Returns 1 and fills *ret_run (its strings
 * stay valid until the next call on s, or store_close), 0 if the database
 * has no run yet. */
int store_run_latest(Store *s, StoreRunInfo *ret_run);

/* ---- Jobs: one per ticker; they persist across runs on the same db ---- */

/* One job, compact: strings point into the JobList's arena. The attempt
 * fields describe the job's latest attempt (0 / "" when it has none). */
typedef struct JobRow {
	int64_t id;
	const char *ticker;
	const char *data_path;
	const char *signals_path;  /* "" = none */
	JobState state;
	int32_t batch_size;        /* the batch size the next (or running) attempt uses */
	int32_t fit_batch_size;    /* batch size of the attempt that finished; 0 if none */
	int32_t charged_attempts;  /* attempts charged since the last (re)queue */
	int32_t attempts;          /* all attempts ever made for this job */
	int32_t chunk;             /* progress: current chunk (0-based) */
	int32_t episode;           /* episodes done in that chunk */
	int64_t done_episodes;     /* over the whole ticker */
	int64_t total_episodes;    /* 0 until the worker reported it */
	double progress_at;        /* time of the last progress; 0 if none */
	const char *ckpt_path;     /* last good checkpoint, "" if none */
	uint32_t ckpt_checksum;
	int32_t ckpt_chunk, ckpt_episode; /* position the checkpoint resumes at */
	int64_t ckpt_done_episodes;
	const char *last_reason;   /* why the last attempt did not finish, "" if none */
	const char *model_path;    /* set by store_result_add(); "" if none */
	const char *config;        /* the canonical INI text the job's training
	                            * started under ("" if never recorded) */
	/* Latest attempt. */
	int64_t attempt_id;
	int64_t pid;
	int32_t gpu;               /* -1 = CPU */
	int32_t attempt_batch_size;
	double attempt_started_at;
	double attempt_ended_at;   /* 0 while open */
	int64_t attempt_start_episodes; /* done_episodes when it started (ETA) */
	const char *exit_kind;     /* policy_exit_kind_name() text, "" while open */
	uint64_t cur_rss, peak_rss;   /* bytes, from the latest flushed samples */
	uint64_t cur_vram, peak_vram;
} JobRow;

typedef struct JobList {
	int n;
	JobRow *rows;       /* ordered by ticker */
	/* private: the arena */
	char *arena;
	size_t arena_len;
} JobList;

/* Adds the job for ticker, or updates its data/signals paths if it exists,
 * keeping its state, batch size and progress (a finished ticker stays done,
 * a batch size that fit stays). A new job is pending with
 * batch_size = initial_batch. Use inside store_begin/store_commit for many.
 * Returns 0 and *ret_job_id (may be NULL). */
int store_job_upsert(Store *s, const char *ticker, const char *data_path,
                     const char *signals_path, int initial_batch, int64_t *ret_job_id);

/* One job to upsert in store_job_upsert_many(). */
typedef struct JobSpec {
	const char *ticker;
	const char *data_path;
	const char *signals_path;  /* NULL or "" = none */
	int initial_batch;
} JobSpec;

/* store_job_upsert() for n jobs in one transaction (all or nothing).
 * ret_ids (may be NULL) gets the n job ids in the same order. */
int store_job_upsert_many(Store *s, const JobSpec *specs, int n, int64_t *ret_ids);

/* Loads every job with one query. *ret is freed with store_jobs_free().
 * Readers may call it. */
int store_jobs_load(Store *s, JobList **ret);
/* Loads one job (a list of one). -ENOENT if there is no such job. */
int store_job_get(Store *s, int64_t job_id, JobList **ret);
void store_jobs_free(JobList *list);  /* accepts NULL */

/* Counts jobs per state into ret_counts[JOB_FAILED + 1]. */
int store_jobs_count(Store *s, int64_t ret_counts[4]);

/* Trains the ticker again from scratch: pending, progress and checkpoint
 * cleared, charged_attempts 0, fit_batch_size kept, batch_size =
 * initial_batch if > 0 (else kept). -EBUSY if the job is running. */
int store_job_retrain(Store *s, int64_t job_id, int initial_batch);

/* Records the configuration (canonical INI text) the job's training starts
 * under: when it is new, retrained, or has none recorded. */
int store_job_set_config(Store *s, int64_t job_id, const char *config_text);

/* Sets a job that is not running to pending or failed with reason as its
 * last_reason, keeping its progress and checkpoint (the input check at
 * start fails a ticker whose file is unusable, and lets it go again once
 * the file is fixed). -ENOENT if no such job or it is running. */
int store_job_mark(Store *s, int64_t job_id, JobState state, const char *reason);

/* Puts every failed job back to pending with charged_attempts 0, keeping its
 * checkpoint and batch size (for a run started with "retry failed").
 * Returns 0 and *ret_n (may be NULL). */
int store_jobs_requeue_failed(Store *s, int *ret_n);

/* ---- Attempts ---- */

/* Opens an attempt for job_id (which must not be running: -EBUSY) under the
 * current run: records pid, gpu (-1 = CPU), batch_size, the start time and
 * the job's done_episodes; the job becomes running with this batch size.
 * Returns 0 and *ret_attempt_id. */
int store_attempt_begin(Store *s, int64_t job_id, int64_t pid, int gpu,
                        int batch_size, int64_t *ret_attempt_id);

/* Records how the attempt started (attempts.resume): "resumed from PATH",
 * "started over: REASON", ... */
int store_attempt_note(Store *s, int64_t attempt_id, const char *note);

/* How an attempt ended and what the policy decided. */
typedef struct AttemptEnd {
	ExitKind kind;
	int exit_code;            /* -1 if signalled */
	int term_signal;          /* 0 if exited */
	uint64_t peak_rss;        /* bytes; the larger of this and the samples' peak is kept */
	uint64_t peak_vram;
	const char *reason;       /* NULL or "" for none; cut at POLICY_REASON_MAX */
	int charged;              /* 1: charged_attempts += 1 */
	JobState new_state;       /* JOB_PENDING (retry/pause), JOB_DONE or JOB_FAILED */
	int next_batch_size;      /* the job's batch size from now on (> 0) */
} AttemptEnd;

/* Closes an open attempt and updates its job, in one transaction: exit
 * kind/code/signal, peaks, reason, end time; the job's state, batch size,
 * charged_attempts, last_reason (set when reason is not empty; cleared when
 * new_state is JOB_DONE); when new_state is JOB_DONE, fit_batch_size = the
 * attempt's batch size. -ENOENT if no such attempt, -EINVAL if it is
 * already closed. */
int store_attempt_end(Store *s, int64_t attempt_id, const AttemptEnd *end);

/* ---- Checkpoints, results, progress, samples ---- */

/* Records a checkpoint the worker wrote and verified, in one transaction:
 * a checkpoints row, the job's last good checkpoint (path, checksum,
 * position) and its progress (chunk, episode, done_episodes). */
int store_checkpoint_add(Store *s, int64_t job_id, int64_t attempt_id,
                         const MsgCheckpoint *c);

/* Records the backtest result (every metric and the action counts) and the
 * job's model_path, in one transaction. */
int store_result_add(Store *s, int64_t job_id, int64_t attempt_id, const MsgResult *r);

/* Buffers a progress report: a loss sample for the attempt and the job's
 * latest progress (chunk, episode, done/total episodes). Written by
 * store_flush(). */
int store_progress(Store *s, int64_t job_id, int64_t attempt_id, const MsgProgress *p);

/* One memory sample of an attempt. */
typedef struct StoreSample {
	double t;                 /* seconds since the epoch */
	uint64_t rss;             /* bytes, measured by the supervisor (/proc) */
	uint64_t vram;            /* bytes (NVML or the worker's accounting) */
	uint64_t bytes_replay;    /* the worker's own accounting (last heartbeat) */
	uint64_t bytes_activations;
	uint64_t bytes_weights;
	uint64_t bytes_device;
} StoreSample;

/* Buffers a memory sample; on flush the attempt's current and peak
 * RSS/VRAM are updated too (status shows them). */
int store_sample(Store *s, int64_t attempt_id, const StoreSample *sample);

/* Writes the buffered progress and samples in one transaction. Cheap when
 * the buffers are empty. On failure the buffers are kept for the next try
 * (and the oldest rows dropped if they would overflow). */
int store_flush(Store *s);
/* Rows waiting in the buffers (for tests and the loop's own accounting). */
int store_pending_rows(const Store *s);

/* Closes attempts left open by a supervisor that died: each gets exit kind
 * "supervisor-lost", not charged, reason "supervisor lost", end time now;
 * their jobs go back to pending (keeping their checkpoint and batch size).
 * Call once after store_open(writer=1) and before starting workers.
 * Returns 0 and *ret_n_lost (may be NULL). */
int store_recover(Store *s, int *ret_n_lost);

/* ---- Reading history (status, report, tests) ---- */

/* Counts rows of a table: "runs", "jobs", "attempts", "checkpoints",
 * "mem_samples", "loss_samples", "results". -EINVAL for another name. */
int store_count_rows(Store *s, const char *table, int64_t *ret_n);

/* The latest backtest result of every job that has one (out of sample;
 * see worker/backtest.h), ordered by ticker. *ret is malloc'd (free()). */
typedef struct StoreResult {
	char ticker[64];
	double total_return;
	double buy_hold_return;
	double sharpe;
	double max_drawdown;
	double win_rate;
	int64_t trades;
	int64_t test_days;
} StoreResult;

int store_results_latest(Store *s, StoreResult **ret, int *ret_n);

/* Every run of the database in id order, or only run run_id (> 0): the
 * runs table with, per run, what its attempts did. Read by the report,
 * `runs` and `status --run`. *ret is malloc'd: store_runs_free(). */
typedef struct StoreRun {
	int64_t id;
	double started_at;
	double ended_at;             /* 0 while running */
	const char *name, *host;     /* these four in one allocation per run */
	const char *outcome;         /* "" while running */
	const char *config;          /* the canonical INI text */
	int64_t pid;                 /* the supervisor's */
	uint64_t budget_rss, budget_vram;  /* bytes, 0 = unlimited */
	int64_t attempts;            /* attempts started in this run */
	int64_t tickers;             /* the jobs they were of */
	int64_t results;             /* results recorded by them */
	double mean_return, mean_sharpe;   /* over those results; 0 without */
} StoreRun;

int store_runs_list(Store *s, int64_t run_id, StoreRun **ret, int *ret_n);
void store_runs_free(StoreRun *runs, int n);  /* accepts NULL */

/* ---- The run's files ---- */

/* Takes an exclusive flock on lock_path (created; it then holds our pid)
 * for the process's lifetime (*ret_fd, close to release). Held by another:
 * -EBUSY "another supervisor (pid N) is running on this WHAT". */
int store_lock_file(const char *lock_path, const char *what, int *ret_fd, char *err,
		    size_t errlen);

/* Is the file at the path still the database this store opened? -ENOENT
 * (deleted or moved) or -ESTALE (replaced by another file), with the
 * message naming the path. Then the WAL (PATH-wal, which would otherwise
 * be read as part of whatever file takes the path next) is written into
 * the file this store holds and emptied, and every later write fails
 * ("not written") or, for samples and kept changes, is dropped. Call it
 * outside store_begin(). */
int store_check_file(Store *s);

/* Size of the database's WAL file (0 if none). */
uint64_t store_wal_bytes(const Store *s);
/* Checkpoints the WAL and truncates it, without waiting: -EBUSY while a
 * reader's transaction still needs it. */
int store_wal_checkpoint(Store *s);

/* Milliseconds a statement waits for another program's lock (default
 * 5000, the loop sets 0 so that it never blocks). */
int store_set_busy_timeout(Store *s, int ms);
/* State changes waiting for the lock. */
int store_pending_writes(const Store *s);
/* Seconds since the oldest waiting write first found the database locked
 * (0 when nothing waits). */
double store_busy_seconds(const Store *s);

/* ---- Reading with the caller's own SQL (report, status --run, runs) ---- */

/* One value of a row given to a StoreRowFn. num and i hold the column as
 * a number (0 for NULL and text); text is set for text columns only ("" for
 * the others, which are not converted: reading millions of samples stays
 * cheap) and valid only during the callback. */
typedef enum StoreValueType { STORE_NULL, STORE_INT, STORE_REAL, STORE_TEXT } StoreValueType;

typedef struct StoreValue {
	StoreValueType type;
	int is_null;              /* type == STORE_NULL */
	double num;
	int64_t i;
	const char *text;
} StoreValue;

/* Called once per row; a non-zero return stops the query and is returned
 * by store_query(). */
typedef int (*StoreRowFn)(void *arg, const StoreValue *cols, int n_cols);

/* Runs one read-only statement (a SELECT) with the integer parameters
 * params[0..n_params-1] bound to ?1.., calling fn for each row. Returns 0,
 * fn's non-zero return, or a store error (-EINVAL for a statement that
 * writes). */
int store_query(Store *s, const char *sql, const int64_t *params, int n_params,
                StoreRowFn fn, void *arg);
/* ---- Memory (issue 12, schema/004_memory.sql) ---- */

/* The ladder rung of a job and the shape it trains with there; 0 sizes =
 * the configuration's. rung: "batch", "buffer" or "chunk". */
typedef struct StoreShape {
	int64_t job_id;
	char rung[16];
	int32_t buffer_size;
	int32_t chunk_length;
} StoreShape;

/* Reads one job's shape. Returns 0 and *ret. */
int store_job_shape_get(Store *s, int64_t job_id, StoreShape *ret);
/* Sets it. restart: drop the checkpoint and the progress too (a
 * checkpoint of another buffer_size or chunk_length does not resume). */
int store_job_shape_set(Store *s, const StoreShape *shape, int restart);
/* The shapes of every job off the first rung (status). *ret malloc'd. */
int store_job_shapes(Store *s, StoreShape **ret, int *ret_n);
/* The buffer_size and chunk_length an attempt trains with. */
int store_attempt_shape(Store *s, int64_t attempt_id, int buffer_size, int chunk_length);

/* What a run decided about memory: plan (how the budget was chosen, a
 * sentence; NULL keeps it), wait ("" = not waiting; NULL keeps it), and
 * workers_limit (after a kernel OOM kill; < 0 keeps it). */
int store_run_memory_set(Store *s, int64_t run_id, const char *plan, const char *wait,
                         int workers_limit);
/* Reads them back (plan and wait into the buffers). */
int store_run_memory_get(Store *s, int64_t run_id, char *plan, size_t plan_len,
                         char *wait, size_t wait_len, int *ret_workers_limit);

/* ---- Process trees (issue 7, schema/005_cgroup.sql) ---- */

/* The cgroup v2 folder of the run (written at once, before the folder is
 * made) and of an attempt (cgroup.h). */
int store_run_cgroup(Store *s, int64_t run_id, const char *path);
int store_attempt_cgroup(Store *s, int64_t attempt_id, const char *path);
/* The run folders recorded by runs on host (the next start kills and
 * removes those still there). *ret: n malloc'd strings, freed with
 * store_strings_free. */
int store_cgroups_of_host(Store *s, const char *host, char ***ret, int *ret_n);
void store_strings_free(char **v, int n);

#endif
