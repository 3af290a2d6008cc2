/* The supervisor's SQLite state (see store.h for the contract).
 * The only file that includes <sqlite3.h>: every SQLite result code is
 * translated here, once, into a negative errno plus a message that starts
 * with the database path. */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* From schema/embed.py: the migrations in order. */
extern const char *const schema_migrations[];
extern const int schema_count;

/* PRAGMA application_id of a tickervisor database: "TVSR". */
#define STORE_APP_ID 0x54565352
/* Milliseconds a statement waits for a lock before -EBUSY, until
 * store_set_busy_timeout() changes it (the loop sets 0). */
#define STORE_BUSY_MS 5000

/* Prepared statements, prepared on first use and kept for the connection. */
enum {
	Q_UPSERT,
	Q_JOB_STATE,
	Q_ATT_INSERT,
	Q_JOB_START,
	Q_ATT_GET,
	Q_ATT_CLOSE,
	Q_JOB_END,
	Q_CKPT_INSERT,
	Q_JOB_CKPT,
	Q_RESULT_INSERT,
	Q_JOB_MODEL,
	Q_LOSS_INSERT,
	Q_JOB_PROGRESS,
	Q_MEM_INSERT,
	Q_ATT_MEM,
	Q_COUNT,
};

static const char *const query_sql[Q_COUNT] = {
	[Q_UPSERT] =
		"INSERT INTO jobs(ticker, data_path, signals_path, batch_size, updated_at)"
		" VALUES(?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT(ticker) DO UPDATE SET data_path = excluded.data_path,"
		" signals_path = excluded.signals_path, updated_at = excluded.updated_at"
		" RETURNING id",
	[Q_JOB_STATE] =
		"SELECT j.state, coalesce(c.chunk, 0), coalesce(c.episode, 0),"
		" coalesce(c.done_episodes, 0)"
		" FROM jobs j LEFT JOIN checkpoints c ON c.id = j.ckpt_id WHERE j.id = ?1",
	[Q_ATT_INSERT] =
		"INSERT INTO attempts(job_id, run_id, pid, gpu, batch_size, started_at,"
		" start_episodes, id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_JOB_START] =
		"UPDATE jobs SET state = 'running', batch_size = ?2, attempts = attempts + 1,"
		" last_attempt_id = ?3, chunk = ?4, episode = ?5, done_episodes = ?6,"
		" updated_at = ?7 WHERE id = ?1",
	[Q_ATT_GET] =
		"SELECT job_id, ended_at IS NOT NULL, batch_size FROM attempts WHERE id = ?1",
	[Q_ATT_CLOSE] =
		"UPDATE attempts SET ended_at = ?2, exit_kind = ?3, exit_code = ?4,"
		" term_signal = ?5, peak_rss = max(peak_rss, ?6), peak_vram = max(peak_vram, ?7),"
		" charged = ?8, reason = ?9 WHERE id = ?1",
	[Q_JOB_END] =
		"UPDATE jobs SET state = ?2, batch_size = ?3, charged_attempts = charged_attempts + ?4,"
		" last_reason = CASE WHEN ?2 = 'done' THEN '' WHEN ?5 <> '' THEN ?5"
		" ELSE last_reason END,"
		" fit_batch_size = CASE WHEN ?2 = 'done' THEN ?6 ELSE fit_batch_size END,"
		" updated_at = ?7 WHERE id = ?1",
	[Q_CKPT_INSERT] =
		"INSERT INTO checkpoints(job_id, attempt_id, path, checksum, chunk, episode,"
		" done_episodes, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_JOB_CKPT] =
		"UPDATE jobs SET ckpt_id = ?2,"
		" chunk = CASE WHEN ?5 >= done_episodes THEN ?3 ELSE chunk END,"
		" episode = CASE WHEN ?5 >= done_episodes THEN ?4 ELSE episode END,"
		" done_episodes = max(done_episodes, ?5), updated_at = ?6 WHERE id = ?1",
	[Q_RESULT_INSERT] =
		"INSERT INTO results(job_id, attempt_id, created_at, model_path, model_checksum,"
		" total_return, sharpe, max_drawdown, volatility, win_rate, trades,"
		" buy_hold_return, test_days, actions_short, actions_hold, actions_long)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
	[Q_JOB_MODEL] =
		"UPDATE jobs SET model_path = ?2, updated_at = ?3 WHERE id = ?1",
	[Q_LOSS_INSERT] =
		"INSERT INTO loss_samples(attempt_id, t, chunk, episode, step, done_episodes,"
		" loss, epsilon, reward) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_JOB_PROGRESS] =
		"UPDATE jobs SET chunk = ?2, episode = ?3, done_episodes = ?4,"
		" total_episodes = CASE WHEN ?5 > 0 THEN ?5 ELSE total_episodes END,"
		" progress_at = ?6 WHERE id = ?1",
	[Q_MEM_INSERT] =
		"INSERT INTO mem_samples(attempt_id, t, rss, vram, bytes_replay,"
		" bytes_activations, bytes_weights, bytes_device)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_ATT_MEM] =
		"UPDATE attempts SET cur_rss = ?2, cur_vram = ?3, peak_rss = max(peak_rss, ?2),"
		" peak_vram = max(peak_vram, ?3) WHERE id = ?1",
};

typedef struct MemEntry {
	int64_t attempt_id;
	StoreSample s;
} MemEntry;

typedef struct LossEntry {
	int64_t job_id;
	int64_t attempt_id;
	double t;
	MsgProgress p;
} LossEntry;

/* A state change that could not commit because another program holds the
 * database's write lock: kept, in order, and applied by the next
 * store_flush() that gets the lock. */
typedef enum OpKind { OP_ATT_BEGIN, OP_ATT_END, OP_CKPT, OP_RESULT, OP_RUN_END, OP_NOTE,
		      OP_JOB_SHAPE, OP_ATT_SHAPE, OP_RUN_MEMORY, OP_ATT_CGROUP } OpKind;

typedef struct Op {
	struct Op *next;
	OpKind kind;
	int64_t job_id, attempt_id;
	int64_t run_id;           /* OP_RUN_END, OP_RUN_MEMORY */
	double t;                 /* when it happened (not when it committed) */
	int64_t pid;
	int gpu, batch;           /* OP_ATT_BEGIN */
	AttemptEnd end;           /* OP_ATT_END; end.reason points to text */
	MsgCheckpoint ckpt;       /* OP_CKPT */
	MsgResult res;            /* OP_RESULT */
	char *text;               /* reason, outcome, note or cgroup; OP_RUN_MEMORY: the plan, or
	                           * NULL to keep it (owned) */
	char *text2;              /* OP_RUN_MEMORY: what it waits for, or NULL (owned) */
	StoreShape shape;         /* OP_JOB_SHAPE; OP_ATT_SHAPE uses buffer/chunk */
	int restart;              /* OP_JOB_SHAPE: the job starts over */
	int workers_limit;        /* OP_RUN_MEMORY: -1 keeps it */
} Op;

struct Store {
	sqlite3 *db;
	char *path;
	int writer;
	int lock_fd;          /* flock'd PATH.lock of a writer, else -1 */
	int in_tx;            /* inside store_begin() */
	int64_t run_id;       /* the run store_run_begin() started, 0 if none */
	sqlite3_stmt *q[Q_COUNT];
	char *run_strings;    /* owned copies for store_run_latest() */
	int sql_busy;         /* the last fail() was SQLite's busy/locked */
	Op *ops, *ops_tail;   /* state changes waiting for the lock */
	int n_ops;
	double busy_since;    /* when the oldest waiting write first failed; 0 = none */
	int64_t next_attempt; /* the id the next attempt gets (0 = read it first) */
	dev_t dev;            /* the database file when opened (store_check_file) */
	ino_t ino;
	int file_lost;        /* the path no longer names it: nothing more is written */
	int n_mem, n_loss;
	MemEntry mem[STORE_BUFFER_MAX];
	LossEntry loss[STORE_BUFFER_MAX];
	char err[STORE_ERR_MAX];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_IOERR: return -EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return -EBADMSG;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_PERM:
	case SQLITE_AUTH: return -EACCES;
	case SQLITE_TOOBIG: return -E2BIG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
	case SQLITE_ERROR: return -EINVAL;
	default: return -EIO;
	}
}

/* Sets the store's message: "PATH: " + the formatted text. */
__attribute__((format(printf, 2, 3)))
static void set_err(Store *s, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(s->err, sizeof s->err, "%s: ", s->path);
	if (n < 0 || (size_t)n >= sizeof s->err)
		return;
	va_start(ap, fmt);
	vsnprintf(s->err + n, sizeof s->err - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Translates a failed SQLite call: the message names the path, what we
 * were doing and SQLite's own words. Returns the negative errno. */
static int fail(Store *s, int rc, const char *what)
{
	const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	int e = map_rc(rc);
	if (e == 0)
		e = -EIO;
	s->sql_busy = e == -EBUSY;
	if ((rc & 0xff) == SQLITE_NOTADB)
		set_err(s, "not a tickervisor database (%s)", msg);
	else if ((rc & 0xff) == SQLITE_CORRUPT)
		set_err(s, "database disk image is malformed (%s)", what);
	else if (s->file_lost)
		set_err(s, "%s: not written: the database file was deleted, moved or replaced", what);
	else
		set_err(s, "%s: %s", what, msg);
	return e;
}

static int exec(Store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

/* The cached statement id, reset and unbound. NULL after fail(). */
static sqlite3_stmt *stmt(Store *s, int id, int *ret_err)
{
	if (!s->q[id]) {
		int rc = sqlite3_prepare_v3(s->db, query_sql[id], -1,
		                            SQLITE_PREPARE_PERSISTENT, &s->q[id], NULL);
		if (rc != SQLITE_OK) {
			*ret_err = fail(s, rc, "preparing a statement");
			return NULL;
		}
	}
	sqlite3_reset(s->q[id]);
	sqlite3_clear_bindings(s->q[id]);
	return s->q[id];
}

/* Steps a statement that returns no row (or whose rows are not wanted). */
static int step_done(Store *s, sqlite3_stmt *st, const char *what)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		int e = fail(s, rc, what);
		sqlite3_reset(st);
		return e;
	}
	sqlite3_reset(st);
	return 0;
}

/* Internal transactions are savepoints, so that they nest inside
 * store_begin()/store_commit(). */
static int tx_begin(Store *s)
{
	return exec(s, "SAVEPOINT tv", "starting a transaction");
}

static int tx_commit(Store *s)
{
	return exec(s, "RELEASE tv", "committing");
}

static void tx_abort(Store *s)
{
	sqlite3_exec(s->db, "ROLLBACK TO tv; RELEASE tv", NULL, NULL, NULL);
}

static const char *text_or_empty(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? (const char *)t : "";
}

const char *store_job_state_name(JobState state)
{
	switch (state) {
	case JOB_PENDING: return "pending";
	case JOB_RUNNING: return "running";
	case JOB_DONE: return "done";
	case JOB_FAILED: return "failed";
	}
	return "?";
}

static JobState parse_state(const char *t)
{
	if (strcmp(t, "running") == 0)
		return JOB_RUNNING;
	if (strcmp(t, "done") == 0)
		return JOB_DONE;
	if (strcmp(t, "failed") == 0)
		return JOB_FAILED;
	return JOB_PENDING;
}

const char *store_errmsg(const Store *s)
{
	return s ? s->err : "";
}

const char *store_path(const Store *s)
{
	return s->path;
}

int store_schema_version(void)
{
	return schema_count;
}

/* ---- Opening ---- */

int store_lock_file(const char *lock_path, const char *what, int *ret_fd, char *err,
		    size_t errlen)
{
	char buf[32];
	int fd, r = 0;

	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open the lock file %s: %s", lock_path, strerror(errno));
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK) {
			ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
			long pid = 0;
			buf[n > 0 ? n : 0] = '\0';
			pid = strtol(buf, NULL, 10);
			r = -EBUSY;
			if (pid > 0)
				snprintf(err, errlen, "another supervisor (pid %ld) is running on this %s",
					 pid, what);
			else
				snprintf(err, errlen, "another supervisor is running on this %s", what);
		} else {
			snprintf(err, errlen, "cannot lock %s: %s", lock_path, strerror(-r));
		}
		close(fd);
		return r;
	}
	/* Ours now: record the pid for the next one's message. */
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		r = -errno;
		snprintf(err, errlen, "cannot write the lock file %s: %s", lock_path, strerror(errno));
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* Takes the writer's lock on PATH.lock; the file then holds our pid. */
static int take_lock(Store *s)
{
	size_t len = strlen(s->path) + 6;
	char *lock_path = malloc(len);
	char msg[STORE_ERR_MAX];
	int r;

	if (!lock_path)
		return -ENOMEM;
	snprintf(lock_path, len, "%s.lock", s->path);
	r = store_lock_file(lock_path, "database", &s->lock_fd, msg, sizeof msg);
	if (r < 0)
		set_err(s, "%s", msg);
	free(lock_path);
	return r;
}

static int query_int(Store *s, const char *sql, int64_t *ret, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	int r = 0;

	if (rc != SQLITE_OK)
		return fail(s, rc, what);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*ret = 0;
	else
		r = fail(s, rc, what);
	sqlite3_finalize(st);
	return r;
}

/* Is this file ours, and at which version? Fresh (empty) files are ours. */
static int check_identity(Store *s, int64_t *ret_version)
{
	int64_t app = 0, version = 0, objects = 0;
	int r;

	if ((r = query_int(s, "PRAGMA application_id", &app, "reading the database header")) < 0)
		return r;
	if ((r = query_int(s, "PRAGMA user_version", &version, "reading the database header")) < 0)
		return r;
	if ((r = query_int(s, "SELECT count(*) FROM sqlite_master", &objects, "reading the database header")) < 0)
		return r;
	if (app != STORE_APP_ID && (app != 0 || version != 0 || objects != 0)) {
		set_err(s, "not a tickervisor database (application_id %" PRId64
		        ", %" PRId64 " schema objects)", app, objects);
		return -EBADMSG;
	}
	if (version > schema_count) {
		set_err(s, "schema version %" PRId64 " is newer than this tickervisor (%d);"
		        " use a newer binary", version, schema_count);
		return -EPROTO;
	}
	*ret_version = version;
	return 0;
}

static int migrate(Store *s)
{
	int64_t version = 0;
	char sql[96];
	int r;

	if ((r = exec(s, "BEGIN IMMEDIATE", "starting the migration")) < 0)
		return r;
	/* Read again inside the transaction: the version we act on. */
	if ((r = check_identity(s, &version)) < 0)
		goto fail;
	for (int64_t v = version; v < schema_count; v++) {
		char what[64];
		snprintf(what, sizeof what, "applying migration %" PRId64, v + 1);
		if ((r = exec(s, schema_migrations[v], what)) < 0)
			goto fail;
	}
	if (version < schema_count) {
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
		         schema_count, STORE_APP_ID);
		if ((r = exec(s, sql, "recording the schema version")) < 0)
			goto fail;
	}
	return exec(s, "COMMIT", "committing the migration");
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static void store_free(Store *s)
{
	if (!s)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	while (s->ops) {
		Op *op = s->ops;
		s->ops = op->next;
		free(op->text);
		free(op->text2);
		free(op);
	}
	if (s->db)
		sqlite3_close_v2(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);  /* releases the flock */
	free(s->run_strings);
	free(s->path);
	free(s);
}

int store_open(const char *path, int writer, Store **ret, char *err, size_t errlen)
{
	Store *s = NULL;
	int64_t version = 0;
	int r = 0, rc;
	struct stat stbuf;

	if (!path || !ret) {
		if (err && errlen)
			snprintf(err, errlen, "store_open: bad arguments");
		return -EINVAL;
	}
	s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(path))) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		free(s);
		return -ENOMEM;
	}
	s->lock_fd = -1;
	s->writer = writer ? 1 : 0;

	if (s->writer) {
		/* The lock comes before anything touches the database, so that
		 * a second supervisor changes nothing. */
		if ((r = take_lock(s)) < 0)
			goto out;
		rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		                     SQLITE_OPEN_NOMUTEX, NULL);
	} else {
		if (stat(path, &stbuf) < 0) {
			r = -errno;
			set_err(s, r == -ENOENT ? "no such database" : "%s", strerror(errno));
			goto out;
		}
		rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	}
	if (rc != SQLITE_OK) {
		r = fail(s, rc, "cannot open");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	r = check_identity(s, &version);
	if (r < 0 && !s->writer && (r == -ENOENT || r == -EROFS || r == -EACCES || r == -EIO)) {
		/* A WAL database in a folder we cannot write: SQLite cannot create
		 * the -shm file beside it. No writer can be running there either,
		 * so read the file as it is (immutable: no locks, no WAL). */
		size_t ul = 0;
		char *uri = malloc(3 * strlen(path) + 32);
		sqlite3_close_v2(s->db);
		s->db = NULL;
		if (uri) {
			ul = (size_t)sprintf(uri, "file:");
			for (const char *c = path; *c; c++)
				ul += (size_t)(strchr("%?#", *c) ? sprintf(uri + ul, "%%%02X", (unsigned char)*c)
							      : sprintf(uri + ul, "%c", *c));
			sprintf(uri + ul, "?immutable=1");
		}
		if (!uri) {
			set_err(s, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		rc = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_URI, NULL);
		free(uri);
		if (rc != SQLITE_OK) {
			r = fail(s, rc, "cannot open");
			goto out;
		}
		sqlite3_extended_result_codes(s->db, 1);
		r = check_identity(s, &version);
	}
	if (r < 0)
		goto out;
	if (stat(path, &stbuf) == 0) {
		s->dev = stbuf.st_dev;
		s->ino = stbuf.st_ino;
	}

	if (s->writer) {
		if ((r = exec(s, "PRAGMA journal_mode = WAL", "switching to WAL")) < 0)
			goto out;
		/* FULL: a commit that returned survives power loss; commits are
		 * few (state changes and one batch per second). */
		if ((r = exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
		              " PRAGMA cache_size = -2000; PRAGMA journal_size_limit = 67108864",
		              "setting pragmas")) < 0)
			goto out;
		if ((r = migrate(s)) < 0)
			goto out;
	} else {
		if (version != schema_count) {
			r = -EPROTO;
			set_err(s, "schema version %" PRId64 " but this tickervisor reads %d%s",
			        version, schema_count,
			        version < schema_count ? "; a supervisor upgrades it when it opens it" : "");
			goto out;
		}
		if ((r = exec(s, "PRAGMA query_only = 1; PRAGMA cache_size = -2000",
		              "setting pragmas")) < 0)
			goto out;
	}
	*ret = s;
	s = NULL;
out:
	if (s) {
		if (err && errlen)
			snprintf(err, errlen, "%s", s->err);
		store_free(s);
	}
	return r;
}

int store_close(Store *s)
{
	int r = 0;
	if (!s)
		return 0;
	if (s->writer) {
		if (s->in_tx)
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		s->in_tx = 0;
		r = store_flush(s);
		if (r == 0 && (s->n_ops || s->n_mem || s->n_loss)) {
			set_err(s, "database is locked by another program: %d state change%s and %d"
			        " samples could not be written", s->n_ops, s->n_ops == 1 ? "" : "s",
			        s->n_mem + s->n_loss);
			r = -EBUSY;
		}
	}
	store_free(s);
	return r;
}

int store_begin(Store *s)
{
	int r;
	if (s->in_tx) {
		set_err(s, "store_begin: already inside a transaction");
		return -EINVAL;
	}
	if (s->writer) {
		r = exec(s, "BEGIN IMMEDIATE", "starting a transaction");
	} else {
		/* A read transaction starts at its first read: take the snapshot now. */
		r = exec(s, "BEGIN; SELECT count(*) FROM sqlite_master", "starting a read");
		if (r < 0)
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (r == 0)
		s->in_tx = 1;
	return r;
}

int store_commit(Store *s)
{
	int r;
	if (!s->in_tx) {
		set_err(s, "store_commit: no transaction");
		return -EINVAL;
	}
	r = exec(s, "COMMIT", "committing");
	if (r < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_tx = 0;
	return r;
}

int store_rollback(Store *s)
{
	if (!s->in_tx) {
		set_err(s, "store_rollback: no transaction");
		return -EINVAL;
	}
	s->in_tx = 0;
	return exec(s, "ROLLBACK", "rolling back");
}

/* ---- Runs ---- */

int store_run_begin(Store *s, const StoreRunInfo *info, int64_t *ret_run_id)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(s->db,
		"INSERT INTO runs(started_at, host, pid, name, config, budget_rss, budget_vram)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "recording the run");
	sqlite3_bind_double(st, 1, now_s());
	sqlite3_bind_text(st, 2, info->host ? info->host : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, info->pid);
	sqlite3_bind_text(st, 4, info->name ? info->name : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, info->config_text ? info->config_text : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, (int64_t)info->budget_rss);
	sqlite3_bind_int64(st, 7, (int64_t)info->budget_vram);
	if ((r = step_done(s, st, "recording the run")) == 0) {
		s->run_id = sqlite3_last_insert_rowid(s->db);
		if (ret_run_id)
			*ret_run_id = s->run_id;
	}
	sqlite3_finalize(st);
	return r;
}

static int apply_run_end(Store *s, const Op *op)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(s->db, "UPDATE runs SET ended_at = ?2, outcome = ?3 WHERE id = ?1",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "ending the run");
	sqlite3_bind_int64(st, 1, op->run_id);
	sqlite3_bind_double(st, 2, op->t);
	sqlite3_bind_text(st, 3, op->text ? op->text : "", -1, SQLITE_TRANSIENT);
	r = step_done(s, st, "ending the run");
	if (r == 0 && sqlite3_changes(s->db) == 0) {
		set_err(s, "no run %" PRId64, op->run_id);
		r = -ENOENT;
	}
	sqlite3_finalize(st);
	return r;
}

static Op *op_new(Store *s, OpKind kind, const char *text);
static int submit(Store *s, Op *op);
static int apply_job_shape(Store *s, const Op *op);
static int apply_attempt_shape(Store *s, const Op *op);
static int apply_attempt_cgroup(Store *s, const Op *op);
static int apply_run_memory(Store *s, const Op *op);

int store_run_end(Store *s, int64_t run_id, const char *outcome)
{
	Op *op;
	int r;

	if ((r = store_flush(s)) < 0)
		return r;
	if (!(op = op_new(s, OP_RUN_END, outcome)))
		return -ENOMEM;
	op->run_id = run_id;
	return submit(s, op);
}

int store_run_warn(Store *s, int64_t run_id, const char *warnings)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(s->db, "UPDATE runs SET warnings = ?2 WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "recording the run's warnings");
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, warnings ? warnings : "", -1, SQLITE_TRANSIENT);
	r = step_done(s, st, "recording the run's warnings");
	sqlite3_finalize(st);
	return r;
}

int store_run_latest(Store *s, StoreRunInfo *ret_run)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(s->db,
		"SELECT id, started_at, coalesce(ended_at, 0), host, pid, name, config,"
		" budget_rss, budget_vram, outcome, warnings FROM runs ORDER BY id DESC LIMIT 1",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "reading the run");
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = 0;
	} else if (rc != SQLITE_ROW) {
		r = fail(s, rc, "reading the run");
	} else {
		const char *host = text_or_empty(st, 3), *name = text_or_empty(st, 5);
		const char *config = text_or_empty(st, 6), *outcome = text_or_empty(st, 9);
		const char *warn = text_or_empty(st, 10);
		size_t lh = strlen(host) + 1, ln = strlen(name) + 1;
		size_t lc = strlen(config) + 1, lo = strlen(outcome) + 1, lw = strlen(warn) + 1;
		char *buf = malloc(lh + ln + lc + lo + lw);
		if (!buf) {
			set_err(s, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		free(s->run_strings);
		s->run_strings = buf;
		memcpy(buf, host, lh);
		memcpy(buf + lh, name, ln);
		memcpy(buf + lh + ln, config, lc);
		memcpy(buf + lh + ln + lc, outcome, lo);
		memcpy(buf + lh + ln + lc + lo, warn, lw);
		memset(ret_run, 0, sizeof *ret_run);
		ret_run->id = sqlite3_column_int64(st, 0);
		ret_run->started_at = sqlite3_column_double(st, 1);
		ret_run->ended_at = sqlite3_column_double(st, 2);
		ret_run->host = buf;
		ret_run->pid = sqlite3_column_int64(st, 4);
		ret_run->name = buf + lh;
		ret_run->config_text = buf + lh + ln;
		ret_run->budget_rss = (uint64_t)sqlite3_column_int64(st, 7);
		ret_run->budget_vram = (uint64_t)sqlite3_column_int64(st, 8);
		ret_run->outcome = buf + lh + ln + lc;
		ret_run->warnings = buf + lh + ln + lc + lo;
		r = 1;
	}
out:
	sqlite3_finalize(st);
	return r;
}

/* ---- Jobs ---- */

static int upsert_one(Store *s, const char *ticker, const char *data_path,
                      const char *signals_path, int initial_batch, double t,
                      int64_t *ret_id)
{
	sqlite3_stmt *st;
	int r = 0, rc;

	if (!ticker || !ticker[0] || !data_path || initial_batch < 1) {
		set_err(s, "job upsert: bad arguments (ticker '%s', batch %d)",
		        ticker ? ticker : "(null)", initial_batch);
		return -EINVAL;
	}
	if (!(st = stmt(s, Q_UPSERT, &r)))
		return r;
	sqlite3_bind_text(st, 1, ticker, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, data_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, signals_path ? signals_path : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, initial_batch);
	sqlite3_bind_double(st, 5, t);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = fail(s, rc, "adding a job");
		sqlite3_reset(st);
		return r;
	}
	if (ret_id)
		*ret_id = sqlite3_column_int64(st, 0);
	return step_done(s, st, "adding a job");
}

int store_job_upsert(Store *s, const char *ticker, const char *data_path,
                     const char *signals_path, int initial_batch, int64_t *ret_job_id)
{
	int64_t id = 0;
	int r = upsert_one(s, ticker, data_path, signals_path, initial_batch, now_s(), &id);
	if (r == 0 && ret_job_id)
		*ret_job_id = id;
	return r;
}

int store_job_upsert_many(Store *s, const JobSpec *specs, int n, int64_t *ret_ids)
{
	double t = now_s();
	int r;

	if (n < 0 || (n > 0 && !specs))
		return -EINVAL;
	if ((r = tx_begin(s)) < 0)
		return r;
	for (int i = 0; i < n; i++) {
		int64_t id = 0;
		r = upsert_one(s, specs[i].ticker, specs[i].data_path, specs[i].signals_path,
		               specs[i].initial_batch, t, &id);
		if (r < 0)
			goto fail;
		if (ret_ids)
			ret_ids[i] = id;
	}
	if ((r = tx_commit(s)) < 0)
		goto fail;
	return 0;
fail:
	tx_abort(s);
	return r;
}

/* Appends a string to the list's arena; returns its offset. The rows hold
 * offsets while the arena may still move and get pointers at the end. */
static int arena_add(JobList *l, size_t *cap, const char *text, size_t *ret_off)
{
	size_t len = strlen(text) + 1;
	if (l->arena_len + len > *cap) {
		size_t ncap = *cap ? *cap * 2 : 4096;
		while (ncap < l->arena_len + len)
			ncap *= 2;
		char *a = realloc(l->arena, ncap);
		if (!a)
			return -ENOMEM;
		l->arena = a;
		*cap = ncap;
	}
	memcpy(l->arena + l->arena_len, text, len);
	*ret_off = l->arena_len;
	l->arena_len += len;
	return 0;
}

#define JOB_COLUMNS \
	"SELECT j.id, j.ticker, j.data_path, j.signals_path, j.state, j.batch_size," \
	" j.fit_batch_size, j.charged_attempts, j.attempts, j.chunk, j.episode," \
	" j.done_episodes, j.total_episodes, j.progress_at," \
	" coalesce(c.path, ''), coalesce(c.checksum, 0), coalesce(c.chunk, 0)," \
	" coalesce(c.episode, 0), coalesce(c.done_episodes, 0)," \
	" j.last_reason, j.model_path," \
	" coalesce(a.id, 0), coalesce(a.pid, 0), coalesce(a.gpu, -1)," \
	" coalesce(a.batch_size, 0), coalesce(a.started_at, 0), coalesce(a.ended_at, 0)," \
	" coalesce(a.start_episodes, 0), coalesce(a.exit_kind, '')," \
	" coalesce(a.cur_rss, 0), coalesce(a.peak_rss, 0)," \
	" coalesce(a.cur_vram, 0), coalesce(a.peak_vram, 0), j.config" \
	" FROM jobs j LEFT JOIN checkpoints c ON c.id = j.ckpt_id" \
	" LEFT JOIN attempts a ON a.id = j.last_attempt_id"

/* String columns of a row, and where each lands in JobRow. */
enum { STR_TICKER, STR_DATA, STR_SIGNALS, STR_CKPT, STR_REASON, STR_MODEL, STR_KIND,
       STR_CONFIG, STR_N };
static const int str_col[STR_N] = { 1, 2, 3, 14, 19, 20, 28, 33 };

static const char **row_str(JobRow *row, int which)
{
	switch (which) {
	case STR_TICKER: return &row->ticker;
	case STR_DATA: return &row->data_path;
	case STR_SIGNALS: return &row->signals_path;
	case STR_CKPT: return &row->ckpt_path;
	case STR_REASON: return &row->last_reason;
	case STR_MODEL: return &row->model_path;
	case STR_CONFIG: return &row->config;
	default: return &row->exit_kind;
	}
}

static int load_jobs(Store *s, const char *sql, int64_t job_id, JobList **ret)
{
	sqlite3_stmt *st = NULL;
	JobList *l = calloc(1, sizeof *l);
	size_t cap_rows = 0, cap_arena = 0;
	/* Arena offsets per row and string, kept apart until the arena stops moving. */
	size_t *offs = NULL;
	int rc, r = 0;

	if (!l) {
		set_err(s, "out of memory");
		return -ENOMEM;
	}
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = fail(s, rc, "loading jobs");
		goto out;
	}
	if (job_id)
		sqlite3_bind_int64(st, 1, job_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((size_t)l->n == cap_rows) {
			size_t ncap = cap_rows ? cap_rows * 2 : 64;
			JobRow *rows = realloc(l->rows, ncap * sizeof *rows);
			size_t *noffs = rows ? realloc(offs, ncap * STR_N * sizeof *offs) : NULL;
			if (rows)
				l->rows = rows;
			if (!rows || !noffs) {
				set_err(s, "out of memory loading jobs");
				r = -ENOMEM;
				goto out;
			}
			offs = noffs;
			cap_rows = ncap;
		}
		JobRow *row = &l->rows[l->n];
		memset(row, 0, sizeof *row);
		for (int k = 0; k < STR_N; k++) {
			if (arena_add(l, &cap_arena, text_or_empty(st, str_col[k]),
			              &offs[(size_t)l->n * STR_N + (size_t)k]) < 0) {
				set_err(s, "out of memory loading jobs");
				r = -ENOMEM;
				goto out;
			}
		}
		row->id = sqlite3_column_int64(st, 0);
		row->state = parse_state(text_or_empty(st, 4));
		row->batch_size = sqlite3_column_int(st, 5);
		row->fit_batch_size = sqlite3_column_int(st, 6);
		row->charged_attempts = sqlite3_column_int(st, 7);
		row->attempts = sqlite3_column_int(st, 8);
		row->chunk = sqlite3_column_int(st, 9);
		row->episode = sqlite3_column_int(st, 10);
		row->done_episodes = sqlite3_column_int64(st, 11);
		row->total_episodes = sqlite3_column_int64(st, 12);
		row->progress_at = sqlite3_column_double(st, 13);
		row->ckpt_checksum = (uint32_t)sqlite3_column_int64(st, 15);
		row->ckpt_chunk = sqlite3_column_int(st, 16);
		row->ckpt_episode = sqlite3_column_int(st, 17);
		row->ckpt_done_episodes = sqlite3_column_int64(st, 18);
		row->attempt_id = sqlite3_column_int64(st, 21);
		row->pid = sqlite3_column_int64(st, 22);
		row->gpu = sqlite3_column_int(st, 23);
		row->attempt_batch_size = sqlite3_column_int(st, 24);
		row->attempt_started_at = sqlite3_column_double(st, 25);
		row->attempt_ended_at = sqlite3_column_double(st, 26);
		row->attempt_start_episodes = sqlite3_column_int64(st, 27);
		row->cur_rss = (uint64_t)sqlite3_column_int64(st, 29);
		row->peak_rss = (uint64_t)sqlite3_column_int64(st, 30);
		row->cur_vram = (uint64_t)sqlite3_column_int64(st, 31);
		row->peak_vram = (uint64_t)sqlite3_column_int64(st, 32);
		l->n++;
	}
	if (rc != SQLITE_DONE) {
		r = fail(s, rc, "loading jobs");
		goto out;
	}
	if (job_id && l->n == 0) {
		set_err(s, "no job %" PRId64, job_id);
		r = -ENOENT;
		goto out;
	}
	for (int i = 0; i < l->n; i++)
		for (int k = 0; k < STR_N; k++)
			*row_str(&l->rows[i], k) = l->arena + offs[(size_t)i * STR_N + (size_t)k];
	*ret = l;
	l = NULL;
out:
	sqlite3_finalize(st);
	free(offs);
	store_jobs_free(l);
	return r;
}

int store_jobs_load(Store *s, JobList **ret)
{
	return load_jobs(s, JOB_COLUMNS " ORDER BY j.ticker", 0, ret);
}

int store_job_get(Store *s, int64_t job_id, JobList **ret)
{
	if (job_id <= 0) {
		set_err(s, "no job %" PRId64, job_id);
		return -ENOENT;
	}
	return load_jobs(s, JOB_COLUMNS " WHERE j.id = ?1", job_id, ret);
}

void store_jobs_free(JobList *list)
{
	if (!list)
		return;
	free(list->rows);
	free(list->arena);
	free(list);
}

int store_jobs_count(Store *s, int64_t ret_counts[4])
{
	sqlite3_stmt *st = NULL;
	int64_t counts[4] = { 0, 0, 0, 0 };
	int rc, r = 0;

	rc = sqlite3_prepare_v2(s->db, "SELECT state, count(*) FROM jobs GROUP BY state",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "counting jobs");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		counts[parse_state(text_or_empty(st, 0))] += sqlite3_column_int64(st, 1);
	if (rc != SQLITE_DONE)
		r = fail(s, rc, "counting jobs");
	else
		memcpy(ret_counts, counts, sizeof counts);
	sqlite3_finalize(st);
	return r;
}

/* Reads a job's state (and its checkpoint position). -ENOENT if none. */
static int job_state(Store *s, int64_t job_id, JobState *ret_state, int *ret_chunk,
                     int *ret_episode, int64_t *ret_done)
{
	sqlite3_stmt *st;
	int r = 0, rc;

	if (!(st = stmt(s, Q_JOB_STATE, &r)))
		return r;
	sqlite3_bind_int64(st, 1, job_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		set_err(s, "no job %" PRId64, job_id);
		r = -ENOENT;
	} else if (rc != SQLITE_ROW) {
		r = fail(s, rc, "reading a job");
	} else {
		*ret_state = parse_state(text_or_empty(st, 0));
		if (ret_chunk)
			*ret_chunk = sqlite3_column_int(st, 1);
		if (ret_episode)
			*ret_episode = sqlite3_column_int(st, 2);
		if (ret_done)
			*ret_done = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	return r;
}

/* Runs a one-off write statement with one int64 and one int parameter. */
static int exec_job(Store *s, const char *sql, int64_t job_id, int arg, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), r;
	if (rc != SQLITE_OK)
		return fail(s, rc, what);
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_int(st, 2, arg);
	sqlite3_bind_double(st, 3, now_s());
	r = step_done(s, st, what);
	sqlite3_finalize(st);
	return r;
}

int store_job_retrain(Store *s, int64_t job_id, int initial_batch)
{
	JobState state;
	int r;

	if ((r = store_flush(s)) < 0)
		return r;
	if ((r = tx_begin(s)) < 0)
		return r;
	if ((r = job_state(s, job_id, &state, NULL, NULL, NULL)) < 0)
		goto fail;
	if (state == JOB_RUNNING) {
		set_err(s, "job %" PRId64 " is running; stop it before retraining", job_id);
		r = -EBUSY;
		goto fail;
	}
	r = exec_job(s, "UPDATE jobs SET state = 'pending', chunk = 0, episode = 0,"
	             " done_episodes = 0, progress_at = 0, ckpt_id = NULL, charged_attempts = 0,"
	             " last_reason = '', model_path = '',"
	             " batch_size = CASE WHEN ?2 > 0 THEN ?2 ELSE batch_size END,"
	             " updated_at = ?3 WHERE id = ?1", job_id, initial_batch, "retraining a job");
	if (r < 0 || (r = tx_commit(s)) < 0)
		goto fail;
	return 0;
fail:
	tx_abort(s);
	return r;
}

int store_job_set_config(Store *s, int64_t job_id, const char *config_text)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(s->db, "UPDATE jobs SET config = ?2 WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "recording a job's configuration");
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_text(st, 2, config_text ? config_text : "", -1, SQLITE_TRANSIENT);
	r = step_done(s, st, "recording a job's configuration");
	if (r == 0 && sqlite3_changes(s->db) == 0) {
		set_err(s, "no job %" PRId64, job_id);
		r = -ENOENT;
	}
	sqlite3_finalize(st);
	return r;
}

int store_job_mark(Store *s, int64_t job_id, JobState state, const char *reason)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (state == JOB_RUNNING || state == JOB_DONE) {
		set_err(s, "job %" PRId64 ": store_job_mark to %s", job_id, store_job_state_name(state));
		return -EINVAL;
	}
	rc = sqlite3_prepare_v2(s->db, "UPDATE jobs SET state = ?2, last_reason = ?3, updated_at = ?4"
	                        " WHERE id = ?1 AND state <> 'running'", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "marking a job");
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_text(st, 2, store_job_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, reason ? reason : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 4, now_s());
	r = step_done(s, st, "marking a job");
	if (r == 0 && sqlite3_changes(s->db) == 0) {
		set_err(s, "no job %" PRId64 " that is not running", job_id);
		r = -ENOENT;
	}
	sqlite3_finalize(st);
	return r;
}

int store_jobs_requeue_failed(Store *s, int *ret_n)
{
	int r = exec_job(s, "UPDATE jobs SET state = 'pending', charged_attempts = 0,"
	                 " updated_at = ?3 WHERE state = 'failed'",
	                 0, 0, "requeueing failed jobs");
	if (r == 0 && ret_n)
		*ret_n = sqlite3_changes(s->db);
	return r;
}

/* ---- Attempts ---- */

static int apply_attempt_begin(Store *s, const Op *op)
{
	sqlite3_stmt *st;
	JobState state;
	int chunk = 0, episode = 0;
	int64_t done = 0, job_id = op->job_id;
	int r;

	if ((r = tx_begin(s)) < 0)
		return r;
	if ((r = job_state(s, job_id, &state, &chunk, &episode, &done)) < 0)
		goto fail;
	if (state == JOB_RUNNING) {
		set_err(s, "job %" PRId64 " already has an open attempt", job_id);
		r = -EBUSY;
		goto fail;
	}
	if (!(st = stmt(s, Q_ATT_INSERT, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, job_id);
	if (s->run_id)
		sqlite3_bind_int64(st, 2, s->run_id);
	sqlite3_bind_int64(st, 3, op->pid);
	sqlite3_bind_int(st, 4, op->gpu < 0 ? -1 : op->gpu);
	sqlite3_bind_int(st, 5, op->batch);
	sqlite3_bind_double(st, 6, op->t);
	sqlite3_bind_int64(st, 7, done);
	sqlite3_bind_int64(st, 8, op->attempt_id);
	if ((r = step_done(s, st, "recording an attempt")) < 0)
		goto fail;
	/* The attempt resumes from the last good checkpoint: progress starts there. */
	if (!(st = stmt(s, Q_JOB_START, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_int(st, 2, op->batch);
	sqlite3_bind_int64(st, 3, op->attempt_id);
	sqlite3_bind_int(st, 4, chunk);
	sqlite3_bind_int(st, 5, episode);
	sqlite3_bind_int64(st, 6, done);
	sqlite3_bind_double(st, 7, op->t);
	if ((r = step_done(s, st, "starting a job")) < 0)
		goto fail;
	if ((r = tx_commit(s)) < 0)
		goto fail;
	return 0;
fail:
	tx_abort(s);
	return r;
}

int store_attempt_begin(Store *s, int64_t job_id, int64_t pid, int gpu,
                        int batch_size, int64_t *ret_attempt_id)
{
	Op *op;
	int r;

	if (batch_size < 1) {
		set_err(s, "attempt of job %" PRId64 ": batch_size %d", job_id, batch_size);
		return -EINVAL;
	}
	/* The store picks the id (it is the only writer), so an attempt whose
	 * row waits for the lock already has the id its later changes name. */
	if (!s->next_attempt) {
		int64_t max = 0;
		if ((r = query_int(s, "SELECT coalesce(max(id), 0) FROM attempts", &max,
				   "reading attempt ids")) < 0)
			return r;
		s->next_attempt = max + 1;
	}
	if ((r = store_flush(s)) < 0)
		return r;
	if (!(op = op_new(s, OP_ATT_BEGIN, NULL)))
		return -ENOMEM;
	int64_t id = s->next_attempt;
	op->job_id = job_id;
	op->attempt_id = id;
	op->pid = pid;
	op->gpu = gpu;
	op->batch = batch_size;
	if ((r = submit(s, op)) < 0)
		return r;
	s->next_attempt = id + 1;
	if (ret_attempt_id)
		*ret_attempt_id = id;
	return 0;
}

int store_attempt_note(Store *s, int64_t attempt_id, const char *note)
{
	Op *op = op_new(s, OP_NOTE, note);

	if (!op)
		return -ENOMEM;
	op->attempt_id = attempt_id;
	return submit(s, op);
}

/* sql: "UPDATE table SET column = ?2 WHERE id = ?1"; text NULL is "". */
static int set_text(Store *s, const char *sql, int64_t id, const char *text, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), r;

	if (rc != SQLITE_OK)
		return fail(s, rc, what);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, text ? text : "", -1, SQLITE_TRANSIENT);
	r = step_done(s, st, what);
	sqlite3_finalize(st);
	return r;
}

static int apply_note(Store *s, const Op *op)
{
	return set_text(s, "UPDATE attempts SET resume = ?2 WHERE id = ?1", op->attempt_id, op->text,
			"recording how an attempt started");
}

int store_attempt_end(Store *s, int64_t attempt_id, const AttemptEnd *end)
{
	char reason[POLICY_REASON_MAX];
	Op *op;
	int r;

	if (!end || end->new_state == JOB_RUNNING || (int)end->new_state < 0 ||
	    end->new_state > JOB_FAILED || end->next_batch_size < 1) {
		set_err(s, "attempt %" PRId64 ": bad end (state or batch size)", attempt_id);
		return -EINVAL;
	}
	snprintf(reason, sizeof reason, "%s", end->reason ? end->reason : "");
	if ((r = store_flush(s)) < 0)
		return r;
	if (!(op = op_new(s, OP_ATT_END, reason)))
		return -ENOMEM;
	op->attempt_id = attempt_id;
	op->end = *end;
	op->end.reason = NULL;
	return submit(s, op);
}

static int apply_attempt_end(Store *s, const Op *op)
{
	sqlite3_stmt *st;
	int64_t job_id, attempt_id = op->attempt_id;
	const AttemptEnd *end = &op->end;
	const char *reason = op->text ? op->text : "";
	int closed, batch;
	int r = 0, rc;

	if ((r = tx_begin(s)) < 0)
		return r;
	if (!(st = stmt(s, Q_ATT_GET, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, attempt_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		set_err(s, "no attempt %" PRId64, attempt_id);
		r = -ENOENT;
		sqlite3_reset(st);
		goto fail;
	} else if (rc != SQLITE_ROW) {
		r = fail(s, rc, "reading an attempt");
		sqlite3_reset(st);
		goto fail;
	}
	job_id = sqlite3_column_int64(st, 0);
	closed = sqlite3_column_int(st, 1);
	batch = sqlite3_column_int(st, 2);
	sqlite3_reset(st);
	if (closed) {
		set_err(s, "attempt %" PRId64 " is already closed", attempt_id);
		r = -EINVAL;
		goto fail;
	}
	double t = op->t;
	if (!(st = stmt(s, Q_ATT_CLOSE, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, attempt_id);
	sqlite3_bind_double(st, 2, t);
	sqlite3_bind_text(st, 3, policy_exit_kind_name(end->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, end->exit_code);
	sqlite3_bind_int(st, 5, end->term_signal);
	sqlite3_bind_int64(st, 6, (int64_t)end->peak_rss);
	sqlite3_bind_int64(st, 7, (int64_t)end->peak_vram);
	sqlite3_bind_int(st, 8, end->charged ? 1 : 0);
	sqlite3_bind_text(st, 9, reason, -1, SQLITE_STATIC);
	if ((r = step_done(s, st, "closing an attempt")) < 0)
		goto fail;
	if (!(st = stmt(s, Q_JOB_END, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_text(st, 2, store_job_state_name(end->new_state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, end->next_batch_size);
	sqlite3_bind_int(st, 4, end->charged ? 1 : 0);
	sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, batch);
	sqlite3_bind_double(st, 7, t);
	if ((r = step_done(s, st, "updating a job")) < 0)
		goto fail;
	if ((r = tx_commit(s)) < 0)
		goto fail;
	return 0;
fail:
	tx_abort(s);
	return r;
}

/* ---- Checkpoints, results ---- */

int store_checkpoint_add(Store *s, int64_t job_id, int64_t attempt_id,
                         const MsgCheckpoint *c)
{
	Op *op;
	int r;

	if ((r = store_flush(s)) < 0)
		return r;
	if (!(op = op_new(s, OP_CKPT, NULL)))
		return -ENOMEM;
	op->job_id = job_id;
	op->attempt_id = attempt_id;
	op->ckpt = *c;
	return submit(s, op);
}

static int apply_checkpoint(Store *s, const Op *op)
{
	sqlite3_stmt *st;
	JobState state;
	const MsgCheckpoint *c = &op->ckpt;
	int64_t job_id = op->job_id, attempt_id = op->attempt_id;
	double t = op->t;
	int64_t ckpt_id;
	int r;

	if ((r = tx_begin(s)) < 0)
		return r;
	if ((r = job_state(s, job_id, &state, NULL, NULL, NULL)) < 0)
		goto fail;
	if (!(st = stmt(s, Q_CKPT_INSERT, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, job_id);
	if (attempt_id > 0)
		sqlite3_bind_int64(st, 2, attempt_id);
	sqlite3_bind_text(st, 3, c->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)c->checksum);
	sqlite3_bind_int64(st, 5, c->chunk);
	sqlite3_bind_int64(st, 6, c->episode);
	sqlite3_bind_int64(st, 7, c->done_episodes);
	sqlite3_bind_double(st, 8, t);
	if ((r = step_done(s, st, "recording a checkpoint")) < 0)
		goto fail;
	ckpt_id = sqlite3_last_insert_rowid(s->db);
	if (!(st = stmt(s, Q_JOB_CKPT, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_int64(st, 2, ckpt_id);
	sqlite3_bind_int64(st, 3, c->chunk);
	sqlite3_bind_int64(st, 4, c->episode);
	sqlite3_bind_int64(st, 5, c->done_episodes);
	sqlite3_bind_double(st, 6, t);
	if ((r = step_done(s, st, "recording a checkpoint")) < 0)
		goto fail;
	if ((r = tx_commit(s)) < 0)
		goto fail;
	return 0;
fail:
	tx_abort(s);
	return r;
}

/* The result's optional curves (schema/003_report.sql), inside the
 * caller's transaction. */
static int result_curves_add(Store *s, int64_t result_id, const MsgResult *res)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	if (res->n_curve > 0) {
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO result_curve(result_id, day, equity, buy_hold)"
		                        " VALUES(?1, ?2, ?3, ?4)", -1, &st, NULL);
		if (rc != SQLITE_OK)
			return fail(s, rc, "recording a result's curve");
		for (int k = 0; k < res->n_curve && r == 0; k++) {
			sqlite3_bind_int64(st, 1, result_id);
			sqlite3_bind_int64(st, 2, (int64_t)k * res->curve_step);
			sqlite3_bind_double(st, 3, res->equity[k]);
			sqlite3_bind_double(st, 4, res->buy_hold[k]);
			r = step_done(s, st, "recording a result's curve");
			sqlite3_reset(st);
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (r == 0 && res->n_fits > 0) {
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO result_weights(result_id, fit, date, model, weight)"
		                        " VALUES(?1, ?2, ?3, ?4, ?5)", -1, &st, NULL);
		if (rc != SQLITE_OK)
			return fail(s, rc, "recording a result's weights");
		for (int f = 0; f < res->n_fits && r == 0; f++)
			for (int m = 0; m < res->n_models && r == 0; m++) {
				sqlite3_bind_int64(st, 1, result_id);
				sqlite3_bind_int64(st, 2, f);
				sqlite3_bind_int64(st, 3, res->fit_dates[f]);
				sqlite3_bind_int64(st, 4, m);
				sqlite3_bind_double(st, 5, res->weights[f * res->n_models + m]);
				r = step_done(s, st, "recording a result's weights");
				sqlite3_reset(st);
			}
		sqlite3_finalize(st);
	}
	return r;
}

int store_result_add(Store *s, int64_t job_id, int64_t attempt_id, const MsgResult *res)
{
	Op *op;
	int r;

	if ((r = store_flush(s)) < 0)
		return r;
	if (!(op = op_new(s, OP_RESULT, NULL)))
		return -ENOMEM;
	op->job_id = job_id;
	op->attempt_id = attempt_id;
	op->res = *res;
	return submit(s, op);
}

static int apply_result(Store *s, const Op *op)
{
	sqlite3_stmt *st;
	JobState state;
	const MsgResult *res = &op->res;
	int64_t job_id = op->job_id, attempt_id = op->attempt_id;
	double t = op->t;
	int r;

	if ((r = tx_begin(s)) < 0)
		return r;
	if ((r = job_state(s, job_id, &state, NULL, NULL, NULL)) < 0)
		goto fail;
	if (!(st = stmt(s, Q_RESULT_INSERT, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, job_id);
	if (attempt_id > 0)
		sqlite3_bind_int64(st, 2, attempt_id);
	sqlite3_bind_double(st, 3, t);
	sqlite3_bind_text(st, 4, res->model_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)res->checksum);
	sqlite3_bind_double(st, 6, res->total_return);
	sqlite3_bind_double(st, 7, res->sharpe);
	sqlite3_bind_double(st, 8, res->max_drawdown);
	sqlite3_bind_double(st, 9, res->volatility);
	sqlite3_bind_double(st, 10, res->win_rate);
	sqlite3_bind_int64(st, 11, res->trades);
	sqlite3_bind_double(st, 12, res->buy_hold_return);
	sqlite3_bind_int64(st, 13, res->test_days);
	sqlite3_bind_int64(st, 14, res->actions[0]);
	sqlite3_bind_int64(st, 15, res->actions[1]);
	sqlite3_bind_int64(st, 16, res->actions[2]);
	if ((r = step_done(s, st, "recording a result")) < 0)
		goto fail;
	if ((r = result_curves_add(s, sqlite3_last_insert_rowid(s->db), res)) < 0)
		goto fail;
	if (!(st = stmt(s, Q_JOB_MODEL, &r)))
		goto fail;
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_text(st, 2, res->model_path, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, t);
	if ((r = step_done(s, st, "recording a result")) < 0)
		goto fail;
	if ((r = tx_commit(s)) < 0)
		goto fail;
	return 0;
fail:
	tx_abort(s);
	return r;
}

/* ---- Batched progress and samples ---- */

int store_pending_rows(const Store *s)
{
	return s->n_mem + s->n_loss;
}

/* Makes room for one more row in a full buffer: flush, or (if the flush
 * failed) drop the oldest row. Returns the flush result. */
static int make_room(Store *s, int *n, void *buf, size_t size)
{
	int r = store_flush(s);
	if (*n == STORE_BUFFER_MAX) {
		memmove(buf, (char *)buf + size, (size_t)(STORE_BUFFER_MAX - 1) * size);
		(*n)--;
	}
	return r;
}

int store_progress(Store *s, int64_t job_id, int64_t attempt_id, const MsgProgress *p)
{
	int r = 0;
	if (!s->writer) {
		set_err(s, "read-only connection");
		return -EROFS;
	}
	if (s->n_loss == STORE_BUFFER_MAX)
		r = make_room(s, &s->n_loss, s->loss, sizeof s->loss[0]);
	LossEntry *e = &s->loss[s->n_loss++];
	e->job_id = job_id;
	e->attempt_id = attempt_id;
	e->t = now_s();
	e->p = *p;
	return r;
}

int store_sample(Store *s, int64_t attempt_id, const StoreSample *sample)
{
	int r = 0;
	if (!s->writer) {
		set_err(s, "read-only connection");
		return -EROFS;
	}
	if (s->n_mem == STORE_BUFFER_MAX)
		r = make_room(s, &s->n_mem, s->mem, sizeof s->mem[0]);
	MemEntry *e = &s->mem[s->n_mem++];
	e->attempt_id = attempt_id;
	e->s = *sample;
	return r;
}

/* ---- Writes that wait for the lock ---- */

static Op *op_new(Store *s, OpKind kind, const char *text)
{
	Op *op = calloc(1, sizeof *op);

	if (op && text && !(op->text = strdup(text))) {
		free(op);
		op = NULL;
	}
	if (!op) {
		set_err(s, "out of memory");
		return NULL;
	}
	op->kind = kind;
	op->t = now_s();
	return op;
}

static int apply(Store *s, const Op *op)
{
	s->sql_busy = 0;
	switch (op->kind) {
	case OP_ATT_BEGIN: return apply_attempt_begin(s, op);
	case OP_ATT_END: return apply_attempt_end(s, op);
	case OP_CKPT: return apply_checkpoint(s, op);
	case OP_RESULT: return apply_result(s, op);
	case OP_RUN_END: return apply_run_end(s, op);
	case OP_NOTE: return apply_note(s, op);
	case OP_JOB_SHAPE: return apply_job_shape(s, op);
	case OP_ATT_SHAPE: return apply_attempt_shape(s, op);
	case OP_RUN_MEMORY: return apply_run_memory(s, op);
	case OP_ATT_CGROUP: return apply_attempt_cgroup(s, op);
	}
	return -EINVAL;
}

static int is_lock_busy(const Store *s, int r)
{
	return r == -EBUSY && s->sql_busy;
}

/* Applies op now, or (another program holds the lock, or older changes
 * still wait) queues it. Takes op. */
static int submit(Store *s, Op *op)
{
	int r;

	if (!s->writer) {
		free(op->text);
		free(op->text2);
		free(op);
		set_err(s, "read-only connection");
		return -EROFS;
	}
	if (!s->ops) {
		r = apply(s, op);
		if (!is_lock_busy(s, r)) {
			free(op->text);
			free(op->text2);
			free(op);
			return r;
		}
		if (!s->busy_since)
			s->busy_since = now_s();
	}
	if (s->ops_tail)
		s->ops_tail->next = op;
	else
		s->ops = op;
	s->ops_tail = op;
	s->n_ops++;
	return 0;
}

/* Applies the waiting changes in order while the lock can be had. Returns
 * 0 (all applied, or the rest still waits) or the error of one that
 * failed for another reason (it is dropped). */
static int drain(Store *s)
{
	while (s->ops) {
		Op *op = s->ops;
		int r = apply(s, op);
		if (is_lock_busy(s, r))
			return 0;
		s->ops = op->next;
		if (!s->ops)
			s->ops_tail = NULL;
		s->n_ops--;
		free(op->text);
		free(op->text2);
		free(op);
		if (r < 0)
			return r;
	}
	return 0;
}

int store_set_busy_timeout(Store *s, int ms)
{
	int rc = sqlite3_busy_timeout(s->db, ms < 0 ? 0 : ms);
	return rc == SQLITE_OK ? 0 : fail(s, rc, "setting the busy timeout");
}

int store_pending_writes(const Store *s)
{
	return s->n_ops;
}

double store_busy_seconds(const Store *s)
{
	return s->busy_since > 0 ? now_s() - s->busy_since : 0;
}

int store_flush(Store *s)
{
	sqlite3_stmt *st;
	int r;

	if (!s->writer)
		return 0;
	if (s->file_lost) {
		s->n_mem = s->n_loss = 0;   /* detach_lost_file(): not for another file */
		return 0;
	}
	if ((r = drain(s)) < 0)
		return r;
	if (s->ops)
		return 0;   /* the buffers come after the changes still waiting */
	if (s->n_mem == 0 && s->n_loss == 0) {
		s->busy_since = 0;
		return 0;
	}
	s->sql_busy = 0;
	if ((r = tx_begin(s)) < 0) {
		if (is_lock_busy(s, r)) {
			if (!s->busy_since)
				s->busy_since = now_s();
			return 0;
		}
		return r;
	}
	for (int i = 0; i < s->n_loss; i++) {
		const LossEntry *e = &s->loss[i];
		if (!(st = stmt(s, Q_LOSS_INSERT, &r)))
			goto fail;
		sqlite3_bind_int64(st, 1, e->attempt_id);
		sqlite3_bind_double(st, 2, e->t);
		sqlite3_bind_int64(st, 3, e->p.chunk);
		sqlite3_bind_int64(st, 4, e->p.episode);
		sqlite3_bind_int64(st, 5, e->p.step);
		sqlite3_bind_int64(st, 6, e->p.done_episodes);
		sqlite3_bind_double(st, 7, e->p.loss);
		sqlite3_bind_double(st, 8, e->p.epsilon);
		sqlite3_bind_double(st, 9, e->p.reward);
		if ((r = step_done(s, st, "writing loss samples")) < 0)
			goto fail;
		if (!(st = stmt(s, Q_JOB_PROGRESS, &r)))
			goto fail;
		sqlite3_bind_int64(st, 1, e->job_id);
		sqlite3_bind_int64(st, 2, e->p.chunk);
		sqlite3_bind_int64(st, 3, e->p.episode);
		sqlite3_bind_int64(st, 4, e->p.done_episodes);
		sqlite3_bind_int64(st, 5, e->p.total_episodes);
		sqlite3_bind_double(st, 6, e->t);
		if ((r = step_done(s, st, "writing progress")) < 0)
			goto fail;
	}
	for (int i = 0; i < s->n_mem; i++) {
		const MemEntry *e = &s->mem[i];
		if (!(st = stmt(s, Q_MEM_INSERT, &r)))
			goto fail;
		sqlite3_bind_int64(st, 1, e->attempt_id);
		sqlite3_bind_double(st, 2, e->s.t);
		sqlite3_bind_int64(st, 3, (int64_t)e->s.rss);
		sqlite3_bind_int64(st, 4, (int64_t)e->s.vram);
		sqlite3_bind_int64(st, 5, (int64_t)e->s.bytes_replay);
		sqlite3_bind_int64(st, 6, (int64_t)e->s.bytes_activations);
		sqlite3_bind_int64(st, 7, (int64_t)e->s.bytes_weights);
		sqlite3_bind_int64(st, 8, (int64_t)e->s.bytes_device);
		if ((r = step_done(s, st, "writing memory samples")) < 0)
			goto fail;
		if (!(st = stmt(s, Q_ATT_MEM, &r)))
			goto fail;
		sqlite3_bind_int64(st, 1, e->attempt_id);
		sqlite3_bind_int64(st, 2, (int64_t)e->s.rss);
		sqlite3_bind_int64(st, 3, (int64_t)e->s.vram);
		if ((r = step_done(s, st, "writing memory samples")) < 0)
			goto fail;
	}
	if ((r = tx_commit(s)) < 0)
		goto fail;
	s->n_mem = 0;
	s->n_loss = 0;
	s->busy_since = 0;
	return 0;
fail:
	tx_abort(s);
	if (is_lock_busy(s, r)) {
		/* Kept for the next flush. */
		if (!s->busy_since)
			s->busy_since = now_s();
		return 0;
	}
	return r;
}

/* ---- Recovery ---- */

int store_recover(Store *s, int *ret_n_lost)
{
	sqlite3_stmt *st = NULL;
	double t = now_s();
	int n = 0, r, rc;

	if ((r = store_flush(s)) < 0)
		return r;
	if ((r = tx_begin(s)) < 0)
		return r;
	rc = sqlite3_prepare_v2(s->db,
		"UPDATE attempts SET ended_at = ?1, exit_kind = ?2, charged = 0,"
		" reason = 'supervisor lost' WHERE ended_at IS NULL", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = fail(s, rc, "recovering attempts");
		goto fail;
	}
	sqlite3_bind_double(st, 1, t);
	sqlite3_bind_text(st, 2, policy_exit_kind_name(EXIT_SUPERVISOR_LOST), -1, SQLITE_STATIC);
	if ((r = step_done(s, st, "recovering attempts")) < 0)
		goto fail;
	n = sqlite3_changes(s->db);
	sqlite3_finalize(st);
	st = NULL;
	rc = sqlite3_prepare_v2(s->db,
		"UPDATE jobs SET state = 'pending', updated_at = ?1 WHERE state = 'running';"
		, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = fail(s, rc, "recovering jobs");
		goto fail;
	}
	sqlite3_bind_double(st, 1, t);
	if ((r = step_done(s, st, "recovering jobs")) < 0)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	rc = sqlite3_prepare_v2(s->db,
		"UPDATE runs SET ended_at = ?1, outcome = 'supervisor-lost'"
		" WHERE ended_at IS NULL AND id <> ?2", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = fail(s, rc, "recovering runs");
		goto fail;
	}
	sqlite3_bind_double(st, 1, t);
	sqlite3_bind_int64(st, 2, s->run_id);
	if ((r = step_done(s, st, "recovering runs")) < 0)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if ((r = tx_commit(s)) < 0)
		goto fail;
	if (ret_n_lost)
		*ret_n_lost = n;
	return 0;
fail:
	sqlite3_finalize(st);
	tx_abort(s);
	return r;
}

int store_count_rows(Store *s, const char *table, int64_t *ret_n)
{
	static const char *const tables[] = {
		"runs", "jobs", "attempts", "checkpoints", "mem_samples", "loss_samples", "results",
	};
	char sql[64];

	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		if (table && strcmp(table, tables[i]) == 0) {
			snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
			return query_int(s, sql, ret_n, "counting rows");
		}
	}
	set_err(s, "no table '%s'", table ? table : "(null)");
	return -EINVAL;
}

int store_results_latest(Store *s, StoreResult **ret, int *ret_n)
{
	sqlite3_stmt *st = NULL;
	StoreResult *rows = NULL;
	int n = 0, cap = 0, rc, r = 0;

	rc = sqlite3_prepare_v2(s->db,
		"SELECT j.ticker, r.total_return, r.buy_hold_return, r.sharpe, r.max_drawdown, "
		"r.win_rate, r.trades, r.test_days FROM results r JOIN jobs j ON j.id = r.job_id "
		"WHERE r.id IN (SELECT max(id) FROM results GROUP BY job_id) ORDER BY j.ticker",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "reading results");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		StoreResult *x;

		if (n == cap) {
			StoreResult *grown = realloc(rows, (size_t)(cap ? 2 * cap : 16) * sizeof(*rows));

			if (!grown) {
				r = -ENOMEM;
				set_err(s, "out of memory reading results");
				goto out;
			}
			rows = grown;
			cap = cap ? 2 * cap : 16;
		}
		x = &rows[n++];
		memset(x, 0, sizeof(*x));
		snprintf(x->ticker, sizeof(x->ticker), "%s", text_or_empty(st, 0));
		x->total_return = sqlite3_column_double(st, 1);
		x->buy_hold_return = sqlite3_column_double(st, 2);
		x->sharpe = sqlite3_column_double(st, 3);
		x->max_drawdown = sqlite3_column_double(st, 4);
		x->win_rate = sqlite3_column_double(st, 5);
		x->trades = sqlite3_column_int64(st, 6);
		x->test_days = sqlite3_column_int64(st, 7);
	}
	if (rc != SQLITE_DONE) {
		r = fail(s, rc, "reading results");
		goto out;
	}
	*ret = rows;
	*ret_n = n;
	rows = NULL;
out:
	free(rows);
	sqlite3_finalize(st);
	return r;
}

int store_runs_list(Store *s, int64_t run_id, StoreRun **ret, int *ret_n)
{
	sqlite3_stmt *st = NULL;
	StoreRun *rows = NULL;
	int n = 0, cap = 0, rc, r;

	*ret = NULL;
	*ret_n = 0;
	rc = sqlite3_prepare_v2(s->db, "SELECT r.id, r.started_at, coalesce(r.ended_at, 0), r.name, r.host,"
		" r.outcome, r.config, r.pid, r.budget_rss, r.budget_vram,"
		" (SELECT count(*) FROM attempts a WHERE a.run_id = r.id),"
		" (SELECT count(DISTINCT a.job_id) FROM attempts a WHERE a.run_id = r.id),"
		" (SELECT count(*) FROM results x JOIN attempts a ON a.id = x.attempt_id WHERE a.run_id = r.id),"
		" (SELECT avg(x.total_return) FROM results x JOIN attempts a ON a.id = x.attempt_id"
		"   WHERE a.run_id = r.id),"
		" (SELECT avg(x.sharpe) FROM results x JOIN attempts a ON a.id = x.attempt_id"
		"   WHERE a.run_id = r.id)"
		" FROM runs r WHERE ?1 <= 0 OR r.id = ?1 ORDER BY r.id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "reading the runs");
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			StoreRun *grown = realloc(rows, sizeof *rows * (size_t)(cap ? 2 * cap : 8));
			if (!grown)
				goto nomem;
			rows = grown;
			cap = cap ? 2 * cap : 8;
		}
		const char *text[4] = { text_or_empty(st, 3), text_or_empty(st, 4),
		                        text_or_empty(st, 5), text_or_empty(st, 6) };
		size_t len[4], total = 0;
		for (int k = 0; k < 4; k++)
			total += len[k] = strlen(text[k]) + 1;
		char *buf = malloc(total);
		if (!buf)
			goto nomem;
		StoreRun *x = &rows[n++];
		memset(x, 0, sizeof *x);
		const char **dst[4] = { &x->name, &x->host, &x->outcome, &x->config };
		for (int k = 0; k < 4; k++) {
			memcpy(buf, text[k], len[k]);
			*dst[k] = buf;
			buf += len[k];
		}
		x->id = sqlite3_column_int64(st, 0);
		x->started_at = sqlite3_column_double(st, 1);
		x->ended_at = sqlite3_column_double(st, 2);
		x->pid = sqlite3_column_int64(st, 7);
		x->budget_rss = (uint64_t)sqlite3_column_int64(st, 8);
		x->budget_vram = (uint64_t)sqlite3_column_int64(st, 9);
		x->attempts = sqlite3_column_int64(st, 10);
		x->tickers = sqlite3_column_int64(st, 11);
		x->results = sqlite3_column_int64(st, 12);
		x->mean_return = sqlite3_column_double(st, 13);
		x->mean_sharpe = sqlite3_column_double(st, 14);
	}
	r = rc == SQLITE_DONE ? 0 : fail(s, rc, "reading the runs");
	sqlite3_finalize(st);
	if (r < 0) {
		store_runs_free(rows, n);
		return r;
	}
	*ret = rows;
	*ret_n = n;
	return 0;
nomem:
	sqlite3_finalize(st);
	store_runs_free(rows, n);
	set_err(s, "out of memory reading the runs");
	return -ENOMEM;
}

void store_runs_free(StoreRun *runs, int n)
{
	for (int i = 0; runs && i < n; i++)
		free((char *)runs[i].name);  /* the block holding the four strings */
	free(runs);
}

/* ---- The database file itself ---- */

/* The path no longer names the file we opened. SQLite's WAL goes by the
 * path's name (PATH-wal), and SQLite does not checkpoint a moved file when
 * it closes: what the WAL holds would be read as the newest state of
 * whatever file takes the path next (a replacement, or the next run's
 * fresh database), and that file would be overwritten or corrupted. So:
 * the WAL goes into our own file now (the inode the connection holds) and
 * is emptied, and nothing more is written (query_only; kept changes and
 * samples are dropped). Called outside a transaction. */
static void detach_lost_file(Store *s)
{
	if (s->file_lost || !s->writer)
		return;
	if (s->in_tx) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		s->in_tx = 0;
	}
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_exec(s->db, "PRAGMA query_only = 1", NULL, NULL, NULL);
	s->file_lost = 1;
	while (s->ops) {
		Op *op = s->ops;
		s->ops = op->next;
		free(op->text);
		free(op->text2);
		free(op);
	}
	s->ops_tail = NULL;
	s->n_ops = 0;
	s->n_mem = s->n_loss = 0;
	s->busy_since = 0;
}

int store_check_file(Store *s)
{
	struct stat st;

	if (stat(s->path, &st) < 0) {
		int e = errno;
		detach_lost_file(s);
		set_err(s, "the database file is gone (%s): it was deleted or moved while the"
		        " supervisor ran; nothing more is written to it", strerror(e));
		return e == ENOENT ? -ENOENT : -e;
	}
	if (st.st_dev != s->dev || st.st_ino != s->ino) {
		detach_lost_file(s);
		set_err(s, "the database file was replaced by another file while the supervisor"
		        " ran; nothing more is written to either");
		return -ESTALE;
	}
	return 0;
}

uint64_t store_wal_bytes(const Store *s)
{
	struct stat st;
	char *wal = malloc(strlen(s->path) + 5);
	uint64_t n = 0;

	if (!wal)
		return 0;
	sprintf(wal, "%s-wal", s->path);
	if (stat(wal, &st) == 0)
		n = (uint64_t)st.st_size;
	free(wal);
	return n;
}

int store_wal_checkpoint(Store *s)
{
	int log = 0, done = 0, rc;

	if (!s->writer || s->in_tx)
		return -EINVAL;
	s->sql_busy = 0;
	rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	if (rc == SQLITE_OK)
		return 0;
	return fail(s, rc, "checkpointing the WAL");
}

int store_query(Store *s, const char *sql, const int64_t *params, int n_params,
                StoreRowFn fn, void *arg)
{
	sqlite3_stmt *st = NULL;
	StoreValue vals[64];
	int rc, r = 0;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "reading");
	if (!sqlite3_stmt_readonly(st) || sqlite3_column_count(st) > 64) {
		sqlite3_finalize(st);
		set_err(s, "store_query: not a read-only statement of at most 64 columns");
		return -EINVAL;
	}
	for (int k = 0; k < n_params; k++)
		sqlite3_bind_int64(st, k + 1, params[k]);
	int n = sqlite3_column_count(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int k = 0; k < n; k++) {
			int t = sqlite3_column_type(st, k);
			vals[k].type = t == SQLITE_NULL ? STORE_NULL : t == SQLITE_INTEGER ? STORE_INT :
			               t == SQLITE_FLOAT ? STORE_REAL : STORE_TEXT;
			vals[k].is_null = t == SQLITE_NULL;
			vals[k].num = t == SQLITE_INTEGER || t == SQLITE_FLOAT ? sqlite3_column_double(st, k) : 0;
			vals[k].i = t == SQLITE_INTEGER || t == SQLITE_FLOAT ? sqlite3_column_int64(st, k) : 0;
			vals[k].text = t == SQLITE_TEXT || t == SQLITE_BLOB ? text_or_empty(st, k) : "";
		}
		if ((r = fn(arg, vals, n)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = fail(s, rc, "reading");
	sqlite3_finalize(st);
	return r;
}

/* ---- Memory (issue 12) ---- */

static int prep(Store *s, const char *sql, sqlite3_stmt **st, const char *what)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

int store_job_shape_get(Store *s, int64_t job_id, StoreShape *ret)
{
	sqlite3_stmt *st = NULL;
	int r = prep(s, "SELECT rung, rung_buffer_size, rung_chunk_length FROM jobs WHERE id = ?1",
	             &st, "reading a job's rung");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, job_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(ret, 0, sizeof *ret);
		ret->job_id = job_id;
		snprintf(ret->rung, sizeof ret->rung, "%s", text_or_empty(st, 0));
		ret->buffer_size = sqlite3_column_int(st, 1);
		ret->chunk_length = sqlite3_column_int(st, 2);
		r = 0;
	} else if (rc == SQLITE_DONE) {
		set_err(s, "no job %" PRId64, job_id);
		r = -ENOENT;
	} else {
		r = fail(s, rc, "reading a job's rung");
	}
	sqlite3_finalize(st);
	return r;
}

int store_job_shape_set(Store *s, const StoreShape *shape, int restart)
{
	Op *op = op_new(s, OP_JOB_SHAPE, NULL);
	if (!op)
		return -ENOMEM;
	op->shape = *shape;
	op->restart = restart;
	return submit(s, op);
}

static int apply_job_shape(Store *s, const Op *op)
{
	const StoreShape *shape = &op->shape;
	int restart = op->restart;
	sqlite3_stmt *st = NULL;
	int r = prep(s, restart ?
	             "UPDATE jobs SET rung = ?2, rung_buffer_size = ?3, rung_chunk_length = ?4,"
	             " ckpt_id = NULL, chunk = 0, episode = 0, done_episodes = 0, updated_at = ?5"
	             " WHERE id = ?1" :
	             "UPDATE jobs SET rung = ?2, rung_buffer_size = ?3, rung_chunk_length = ?4,"
	             " updated_at = ?5 WHERE id = ?1", &st, "setting a job's rung");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, shape->job_id);
	sqlite3_bind_text(st, 2, shape->rung, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, shape->buffer_size);
	sqlite3_bind_int(st, 4, shape->chunk_length);
	sqlite3_bind_double(st, 5, op->t);
	r = step_done(s, st, "setting a job's rung");
	sqlite3_finalize(st);
	return r;
}

int store_job_shapes(Store *s, StoreShape **ret, int *ret_n)
{
	sqlite3_stmt *st = NULL;
	StoreShape *v = NULL;
	int n = 0, cap = 0, rc;
	*ret = NULL;
	*ret_n = 0;
	int r = prep(s, "SELECT id, rung, rung_buffer_size, rung_chunk_length FROM jobs"
	             " WHERE rung != 'batch' ORDER BY id", &st, "reading the rungs");
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			StoreShape *nv = realloc(v, sizeof *v * (size_t)cap);
			if (!nv) {
				free(v);
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			v = nv;
		}
		memset(&v[n], 0, sizeof v[n]);
		v[n].job_id = sqlite3_column_int64(st, 0);
		snprintf(v[n].rung, sizeof v[n].rung, "%s", text_or_empty(st, 1));
		v[n].buffer_size = sqlite3_column_int(st, 2);
		v[n].chunk_length = sqlite3_column_int(st, 3);
		n++;
	}
	r = rc == SQLITE_DONE ? 0 : fail(s, rc, "reading the rungs");
	sqlite3_finalize(st);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_attempt_shape(Store *s, int64_t attempt_id, int buffer_size, int chunk_length)
{
	Op *op = op_new(s, OP_ATT_SHAPE, NULL);
	if (!op)
		return -ENOMEM;
	op->attempt_id = attempt_id;
	op->shape.buffer_size = buffer_size;
	op->shape.chunk_length = chunk_length;
	return submit(s, op);
}

static int apply_attempt_shape(Store *s, const Op *op)
{
	int64_t attempt_id = op->attempt_id;
	int buffer_size = op->shape.buffer_size, chunk_length = op->shape.chunk_length;
	sqlite3_stmt *st = NULL;
	int r = prep(s, "UPDATE attempts SET buffer_size = ?2, chunk_length = ?3 WHERE id = ?1",
	             &st, "recording an attempt's shape");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, attempt_id);
	sqlite3_bind_int(st, 2, buffer_size);
	sqlite3_bind_int(st, 3, chunk_length);
	r = step_done(s, st, "recording an attempt's shape");
	sqlite3_finalize(st);
	return r;
}

int store_run_memory_set(Store *s, int64_t run_id, const char *plan, const char *wait,
                         int workers_limit)
{
	Op *op = op_new(s, OP_RUN_MEMORY, plan);
	if (!op)
		return -ENOMEM;
	if (wait && !(op->text2 = strdup(wait))) {
		free(op->text);
		free(op);
		set_err(s, "out of memory");
		return -ENOMEM;
	}
	op->run_id = run_id;
	op->workers_limit = workers_limit;
	return submit(s, op);
}

static int apply_run_memory(Store *s, const Op *op)
{
	int64_t run_id = op->run_id;
	const char *plan = op->text, *wait = op->text2;
	int workers_limit = op->workers_limit;
	sqlite3_stmt *st = NULL;
	int r = prep(s, "UPDATE runs SET memory_plan = coalesce(?2, memory_plan),"
	             " memory_wait = coalesce(?3, memory_wait),"
	             " workers_limit = CASE WHEN ?4 >= 0 THEN ?4 ELSE workers_limit END WHERE id = ?1",
	             &st, "recording the memory plan");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, run_id);
	if (plan)
		sqlite3_bind_text(st, 2, plan, -1, SQLITE_TRANSIENT);
	if (wait)
		sqlite3_bind_text(st, 3, wait, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, workers_limit);
	r = step_done(s, st, "recording the memory plan");
	sqlite3_finalize(st);
	return r;
}

int store_run_memory_get(Store *s, int64_t run_id, char *plan, size_t plan_len,
                         char *wait, size_t wait_len, int *ret_workers_limit)
{
	sqlite3_stmt *st = NULL;
	int r = prep(s, "SELECT memory_plan, memory_wait, workers_limit FROM runs WHERE id = ?1",
	             &st, "reading the memory plan");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, run_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(plan, plan_len, "%s", text_or_empty(st, 0));
		snprintf(wait, wait_len, "%s", text_or_empty(st, 1));
		*ret_workers_limit = sqlite3_column_int(st, 2);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : fail(s, rc, "reading the memory plan");
	}
	sqlite3_finalize(st);
	return r;
}

/* ---- Process trees (issue 7, schema/005_cgroup.sql) ---- */

int store_attempt_cgroup(Store *s, int64_t attempt_id, const char *path)
{
	Op *op = op_new(s, OP_ATT_CGROUP, path);
	if (!op)
		return -ENOMEM;
	op->attempt_id = attempt_id;
	return submit(s, op);
}

static int apply_attempt_cgroup(Store *s, const Op *op)
{
	return set_text(s, "UPDATE attempts SET cgroup = ?2 WHERE id = ?1", op->attempt_id, op->text,
			"recording an attempt's cgroup");
}

int store_run_cgroup(Store *s, int64_t run_id, const char *path)
{
	return set_text(s, "UPDATE runs SET cgroup = ?2 WHERE id = ?1", run_id, path,
			"recording the run's cgroup");
}

int store_cgroups_of_host(Store *s, const char *host, char ***ret, int *ret_n)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	int n = 0, cap = 0, rc;
	*ret = NULL;
	*ret_n = 0;
	int r = prep(s, "SELECT cgroup FROM runs WHERE cgroup != '' AND host = ?1 ORDER BY id", &st,
	             "reading the runs' cgroups");
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			char **nv = realloc(v, sizeof *v * (size_t)cap);
			if (!nv)
				break;
			v = nv;
		}
		if (!(v[n] = strdup(text_or_empty(st, 0))))
			break;
		n++;
	}
	r = rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? (set_err(s, "out of memory"), -ENOMEM) :
	    fail(s, rc, "reading the runs' cgroups");
	sqlite3_finalize(st);
	if (r < 0) {
		store_strings_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void store_strings_free(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
