/* The store: migrations, the writer lock (also across a dead process),
 * identity and corruption errors, one-transaction state changes (with
 * fault injection through SQLite triggers), recovery, batching, readers
 * that never stall the writer, 10,000 jobs, and the status view (text and
 * JSON, parsed back by python3).
 *
 * Independent checks go through a raw sqlite3 connection of the test's own,
 * never through the store's read functions alone. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "status.h"
#include "store.h"
#include "check.h"

static char dir[256];

/* Fatal: the rest of a test would only cascade. */

#define GiB (1024ULL * 1024 * 1024)
#define MiB (1024ULL * 1024)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void db_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static Store *open_writer(const char *path)
{
	char err[STORE_ERR_MAX] = "";
	Store *s = NULL;
	int r = store_open(path, 1, &s, err, sizeof err);
	REQUIRE(r == 0 && s, "open writer %s: %d %s", path, r, err);
	return s;
}

static Store *open_reader(const char *path)
{
	char err[STORE_ERR_MAX] = "";
	Store *s = NULL;
	int r = store_open(path, 0, &s, err, sizeof err);
	REQUIRE(r == 0 && s, "open reader %s: %d %s", path, r, err);
	return s;
}

/* The test's own connection (read-write, no lock: fault injection). */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
	        SQLITE_OK, "raw open %s", path);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -12345;
	REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
	        sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void raw_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st = NULL;
	buf[0] = '\0';
	REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
	        sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	REQUIRE(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
	        msg ? msg : "?");
}

static int64_t rows(Store *s, const char *table)
{
	int64_t n = -1;
	int r = store_count_rows(s, table, &n);
	REQUIRE(r == 0, "count %s: %s", table, store_errmsg(s));
	return n;
}

static int64_t add_job(Store *s, const char *ticker, int batch)
{
	char data[128];
	int64_t id = 0;
	snprintf(data, sizeof data, "/data/%s.csv", ticker);
	int r = store_job_upsert(s, ticker, data, NULL, batch, &id);
	REQUIRE(r == 0 && id > 0, "upsert %s: %s", ticker, store_errmsg(s));
	return id;
}

static JobRow *find_job(JobList *l, const char *ticker)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->rows[i].ticker, ticker) == 0)
			return &l->rows[i];
	return NULL;
}

static void test_migrations(void)
{
	char path[300], text[64];
	db_path(path, sizeof path, "mig.db");

	Store *s = open_writer(path);
	CHECK(store_schema_version() >= 1, "schema version %d", store_schema_version());
	const char *tables[] = { "runs", "jobs", "attempts", "checkpoints", "mem_samples",
	                         "loss_samples", "results" };
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		CHECK(rows(s, tables[i]) == 0, "%s not empty", tables[i]);
	add_job(s, "AAA", 64);
	store_close(s);

	sqlite3 *db = raw_open(path);
	CHECK(raw_int(db, "PRAGMA user_version") == store_schema_version(), "user_version %" PRId64,
	      raw_int(db, "PRAGMA user_version"));
	raw_text(db, "PRAGMA journal_mode", text, sizeof text);
	CHECK(strcmp(text, "wal") == 0, "journal_mode %s", text);
	int64_t objects = raw_int(db, "SELECT count(*) FROM sqlite_master");
	sqlite3_close(db);

	/* Reopening applies nothing twice and keeps the data. */
	s = open_writer(path);
	CHECK(rows(s, "jobs") == 1, "job lost on reopen");
	store_close(s);
	db = raw_open(path);
	CHECK(raw_int(db, "PRAGMA user_version") == store_schema_version(), "version moved");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master") == objects, "schema objects changed");
	sqlite3_close(db);

	/* A reader sees it too. */
	s = open_reader(path);
	CHECK(rows(s, "jobs") == 1, "reader sees no job");
	CHECK(store_job_upsert(s, "BBB", "/x", NULL, 8, NULL) < 0, "reader wrote");
	store_close(s);
}

static void test_identity_errors(void)
{
	char path[300], err[STORE_ERR_MAX];
	Store *s = NULL;
	int r;

	/* Missing file, reader. */
	db_path(path, sizeof path, "missing.db");
	r = store_open(path, 0, &s, err, sizeof err);
	CHECK(r == -ENOENT && !s, "missing: %d %s", r, err);
	CHECK(strstr(err, path) && strstr(err, "no such database"), "%s", err);

	/* Another application's SQLite database. */
	db_path(path, sizeof path, "other.db");
	sqlite3 *db = raw_open(path);
	raw_exec(db, "CREATE TABLE foo(x); INSERT INTO foo VALUES(1)");
	sqlite3_close(db);
	r = store_open(path, 1, &s, err, sizeof err);
	CHECK(r == -EBADMSG && !s, "other app: %d %s", r, err);
	CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, ": not a tickervisor database"),
	      "%s", err);
	db = raw_open(path);
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master") == 1, "other app's db was changed");
	sqlite3_close(db);
	r = store_open(path, 0, &s, err, sizeof err);
	CHECK(r == -EBADMSG, "other app, reader: %d %s", r, err);

	/* Not SQLite at all. */
	db_path(path, sizeof path, "garbage.db");
	FILE *f = fopen(path, "wb");
	REQUIRE(f, "create %s", path);
	for (int i = 0; i < 8192; i++)
		fputc((i * 7919 + 13) & 0xff, f);
	fclose(f);
	r = store_open(path, 1, &s, err, sizeof err);
	CHECK(r == -EBADMSG && !s, "garbage: %d %s", r, err);
	CHECK(strstr(err, "not a tickervisor database"), "%s", err);

	/* Newer schema: refused, and left as it was. */
	db_path(path, sizeof path, "newer.db");
	s = open_writer(path);
	store_close(s);
	db = raw_open(path);
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", store_schema_version() + 1);
	raw_exec(db, sql);
	sqlite3_close(db);
	s = NULL;
	r = store_open(path, 1, &s, err, sizeof err);
	CHECK(r == -EPROTO && !s, "newer: %d %s", r, err);
	CHECK(strstr(err, "newer than this tickervisor"), "%s", err);
	r = store_open(path, 0, &s, err, sizeof err);
	CHECK(r == -EPROTO, "newer, reader: %d %s", r, err);
	db = raw_open(path);
	CHECK(raw_int(db, "PRAGMA user_version") == store_schema_version() + 1, "version changed");
	sqlite3_close(db);

	/* Corrupt: a valid store whose schema page is overwritten after the header. */
	db_path(path, sizeof path, "corrupt.db");
	s = open_writer(path);
	for (int i = 0; i < 200; i++) {
		char t[16];
		snprintf(t, sizeof t, "T%03d", i);
		add_job(s, t, 32);
	}
	store_close(s);  /* the last connection: the WAL is checkpointed into the file */
	int fd = open(path, O_WRONLY);
	REQUIRE(fd >= 0, "open %s", path);
	char junk[900];
	memset(junk, 0xA5, sizeof junk);
	REQUIRE(pwrite(fd, junk, sizeof junk, 100) == (ssize_t)sizeof junk, "pwrite");
	close(fd);
	s = NULL;
	r = store_open(path, 1, &s, err, sizeof err);
	if (r == 0) {
		/* Opening read only the header; the first real read must fail clearly. */
		JobList *l = NULL;
		r = store_jobs_load(s, &l);
		snprintf(err, sizeof err, "%s", store_errmsg(s));
		store_jobs_free(l);
		store_close(s);
	}
	CHECK(r == -EBADMSG, "corrupt: %d %s", r, err);
	CHECK(strstr(err, path) && strstr(err, "database disk image is malformed"), "%s", err);
}

static void test_lock(void)
{
	char path[300], err[STORE_ERR_MAX], want[64];
	struct stat before, after;
	Store *a, *b = NULL;
	int r;

	db_path(path, sizeof path, "lock.db");
	a = open_writer(path);
	add_job(a, "AAA", 64);
	REQUIRE(stat(path, &before) == 0, "stat");

	r = store_open(path, 1, &b, err, sizeof err);
	CHECK(r == -EBUSY && !b, "second writer: %d %s", r, err);
	snprintf(want, sizeof want, "another supervisor (pid %ld) is running", (long)getpid());
	CHECK(strstr(err, path) && strstr(err, want), "message '%s' lacks '%s'", err, want);
	REQUIRE(stat(path, &after) == 0, "stat");
	CHECK(before.st_size == after.st_size && before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
	      before.st_mtim.tv_nsec == after.st_mtim.tv_nsec, "the second writer touched the file");

	/* Readers take no lock. */
	Store *rd = open_reader(path);
	CHECK(rows(rd, "jobs") == 1, "reader during a run");
	store_close(rd);

	store_close(a);
	b = open_writer(path);  /* released on close */
	CHECK(rows(b, "jobs") == 1, "data after handover");
	store_close(b);

	/* A writer that dies without closing: the kernel drops the lock. */
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		char e[STORE_ERR_MAX];
		Store *c = NULL;
		if (store_open(path, 1, &c, e, sizeof e) < 0)
			_exit(2);
		int64_t id;
		if (store_job_upsert(c, "CHILD", "/c.csv", NULL, 16, &id) < 0)
			_exit(3);
		_exit(0);  /* no store_close */
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	b = NULL;
	r = store_open(path, 1, &b, err, sizeof err);
	CHECK(r == 0, "after the child exited: %d %s", r, err);
	if (r == 0) {
		CHECK(rows(b, "jobs") == 2, "the child's committed job is there");
		store_close(b);
	}

	/* A writer that is alive holds it (its pid in the message); SIGKILL frees it. */
	int go[2];
	REQUIRE(pipe(go) == 0, "pipe");
	pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		char e[STORE_ERR_MAX];
		Store *c = NULL;
		close(go[0]);
		char ok = store_open(path, 1, &c, e, sizeof e) == 0 ? 'y' : 'n';
		if (write(go[1], &ok, 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(go[1]);
	char ok = 0;
	REQUIRE(read(go[0], &ok, 1) == 1 && ok == 'y', "child could not open");
	close(go[0]);
	b = NULL;
	r = store_open(path, 1, &b, err, sizeof err);
	snprintf(want, sizeof want, "(pid %ld)", (long)pid);
	CHECK(r == -EBUSY && strstr(err, want), "live child: %d %s", r, err);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	b = NULL;
	r = store_open(path, 1, &b, err, sizeof err);
	CHECK(r == 0, "after SIGKILL: %d %s", r, err);
	store_close(b);
}

/* An attempt's batch_size is at least 1: a job whose floor is
 * min_batch_size = 1 runs at 1; 0 is refused with a message, and no row. */
static void test_attempt_batch_size(void)
{
	char path[300];
	db_path(path, sizeof path, "batch1.db");
	Store *s = open_writer(path);
	StoreRunInfo info = { .host = "h1", .pid = 42, .name = "b1", .budget_rss = 2 * GiB };
	REQUIRE(store_run_begin(s, &info, NULL) == 0, "%s", store_errmsg(s));
	int64_t job = add_job(s, "ONE", 1), att = 0;
	CHECK(store_attempt_begin(s, job, 7, -1, 0, &att) == -EINVAL &&
	      strstr(store_errmsg(s), "batch_size 0"), "batch_size 0: %s", store_errmsg(s));
	CHECK(store_attempt_begin(s, job, 7, -1, 1, &att) == 0 && att > 0,
	      "batch_size 1: %s", store_errmsg(s));
	store_close(s);
	sqlite3 *db = raw_open(path);
	CHECK(raw_int(db, "SELECT count(*) FROM attempts") == 1, "one attempt row");
	CHECK(raw_int(db, "SELECT batch_size FROM attempts") == 1, "its batch_size");
	sqlite3_close(db);
}

static void test_lifecycle(void)
{
	char path[300], text[256];
	JobList *l = NULL;
	int64_t att, att2;
	int r;

	db_path(path, sizeof path, "life.db");
	Store *s = open_writer(path);
	StoreRunInfo info = { .host = "h1", .pid = 42, .name = "r1", .config_text = "[run]\n",
	                      .budget_rss = 2 * GiB };
	int64_t run_id = 0;
	REQUIRE(store_run_begin(s, &info, &run_id) == 0 && run_id > 0, "%s", store_errmsg(s));
	int64_t job = add_job(s, "AAPL", 128);

	REQUIRE(store_attempt_begin(s, job, 1001, 0, 128, &att) == 0, "%s", store_errmsg(s));
	CHECK(store_attempt_begin(s, job, 1002, 0, 128, &att2) == -EBUSY, "two open attempts");
	REQUIRE(store_job_get(s, job, &l) == 0 && l->n == 1, "%s", store_errmsg(s));
	CHECK(l->rows[0].state == JOB_RUNNING && l->rows[0].attempts == 1 &&
	      l->rows[0].pid == 1001 && l->rows[0].gpu == 0, "after begin: state %d attempts %d",
	      l->rows[0].state, l->rows[0].attempts);
	store_jobs_free(l);

	/* Over budget: retry at 64, not charged. */
	AttemptEnd e1 = { .kind = EXIT_OVER_BUDGET, .exit_code = -1, .term_signal = 9,
	                  .peak_rss = 3 * GiB, .reason = "over budget.rss 2.0 GiB: peak 3.0 GiB",
	                  .charged = 0, .new_state = JOB_PENDING, .next_batch_size = 64 };
	REQUIRE(store_attempt_end(s, att, &e1) == 0, "%s", store_errmsg(s));
	CHECK(store_attempt_end(s, att, &e1) == -EINVAL, "closed twice");
	CHECK(store_attempt_end(s, 999999, &e1) == -ENOENT, "unknown attempt");
	REQUIRE(store_job_get(s, job, &l) == 0, "%s", store_errmsg(s));
	CHECK(l->rows[0].state == JOB_PENDING && l->rows[0].batch_size == 64 &&
	      l->rows[0].charged_attempts == 0 && l->rows[0].fit_batch_size == 0 &&
	      strcmp(l->rows[0].last_reason, e1.reason) == 0 &&
	      strcmp(l->rows[0].exit_kind, "over-budget") == 0 && l->rows[0].peak_rss == 3 * GiB,
	      "after over budget: state %d batch %d reason '%s' kind '%s'", l->rows[0].state,
	      l->rows[0].batch_size, l->rows[0].last_reason, l->rows[0].exit_kind);
	store_jobs_free(l);

	/* A crash (charged), then a checkpoint, then done at 64. */
	REQUIRE(store_attempt_begin(s, job, 1003, -1, 64, &att2) == 0, "%s", store_errmsg(s));
	AttemptEnd e2 = { .kind = EXIT_CRASH, .exit_code = 13, .reason = "exit 13", .charged = 1,
	                  .new_state = JOB_PENDING, .next_batch_size = 64 };
	REQUIRE(store_attempt_end(s, att2, &e2) == 0, "%s", store_errmsg(s));
	REQUIRE(store_attempt_begin(s, job, 1004, -1, 64, &att2) == 0, "%s", store_errmsg(s));
	MsgCheckpoint c = { .checksum = 0xDEADBEEF, .chunk = 1, .episode = 20, .done_episodes = 120 };
	snprintf(c.path, sizeof c.path, "/out/AAPL.ckpt.2");
	REQUIRE(store_checkpoint_add(s, job, att2, &c) == 0, "%s", store_errmsg(s));
	MsgResult res = { .checksum = 77, .total_return = 0.125, .sharpe = 1.5, .max_drawdown = 0.2,
	                  .volatility = 0.3, .win_rate = 0.55, .trades = 12, .buy_hold_return = 0.1,
	                  .test_days = 300, .actions = { 10, 250, 40 } };
	snprintf(res.model_path, sizeof res.model_path, "/out/AAPL.model");
	REQUIRE(store_result_add(s, job, att2, &res) == 0, "%s", store_errmsg(s));
	AttemptEnd e3 = { .kind = EXIT_DONE, .exit_code = 0, .new_state = JOB_DONE,
	                  .next_batch_size = 64 };
	REQUIRE(store_attempt_end(s, att2, &e3) == 0, "%s", store_errmsg(s));
	REQUIRE(store_run_end(s, run_id, "finished") == 0, "%s", store_errmsg(s));

	REQUIRE(store_job_get(s, job, &l) == 0, "%s", store_errmsg(s));
	JobRow *j = &l->rows[0];
	CHECK(j->state == JOB_DONE && j->fit_batch_size == 64 && j->charged_attempts == 1 &&
	      j->attempts == 3 && j->last_reason[0] == '\0' && j->ckpt_checksum == 0xDEADBEEF &&
	      strcmp(j->ckpt_path, "/out/AAPL.ckpt.2") == 0 && j->ckpt_done_episodes == 120 &&
	      strcmp(j->model_path, "/out/AAPL.model") == 0,
	      "done: state %d fit %d charged %d attempts %d reason '%s' ckpt '%s'", j->state,
	      j->fit_batch_size, j->charged_attempts, j->attempts, j->last_reason, j->ckpt_path);
	store_jobs_free(l);

	/* A later run keeps a finished ticker done and its batch size that fit. */
	int64_t again = 0;
	REQUIRE(store_job_upsert(s, "AAPL", "/new/AAPL.csv", "/sig/AAPL.csv", 128, &again) == 0, "%s", store_errmsg(s));
	CHECK(again == job, "upsert gave a new id");
	REQUIRE(store_job_get(s, job, &l) == 0, "%s", store_errmsg(s));
	CHECK(l->rows[0].state == JOB_DONE && l->rows[0].batch_size == 64 &&
	      strcmp(l->rows[0].data_path, "/new/AAPL.csv") == 0 &&
	      strcmp(l->rows[0].signals_path, "/sig/AAPL.csv") == 0, "upsert changed state");
	store_jobs_free(l);

	/* Retraining clears progress and checkpoint, keeps what fit. */
	REQUIRE(store_job_retrain(s, job, 0) == 0, "%s", store_errmsg(s));
	REQUIRE(store_job_get(s, job, &l) == 0, "%s", store_errmsg(s));
	CHECK(l->rows[0].state == JOB_PENDING && l->rows[0].ckpt_path[0] == '\0' &&
	      l->rows[0].done_episodes == 0 && l->rows[0].fit_batch_size == 64 &&
	      l->rows[0].batch_size == 64 && l->rows[0].charged_attempts == 0, "retrain");
	store_jobs_free(l);
	CHECK(store_job_retrain(s, 424242, 0) == -ENOENT, "retrain unknown");

	/* Failed jobs can be requeued. */
	int64_t fj = add_job(s, "FAIL", 8);
	REQUIRE(store_attempt_begin(s, fj, 1, -1, 8, &att) == 0, "%s", store_errmsg(s));
	AttemptEnd ef = { .kind = EXIT_BAD_INPUT, .exit_code = 12, .reason = "bad input: x",
	                  .charged = 1, .new_state = JOB_FAILED, .next_batch_size = 8 };
	REQUIRE(store_attempt_end(s, att, &ef) == 0, "%s", store_errmsg(s));
	int n = -1;
	REQUIRE(store_jobs_requeue_failed(s, &n) == 0 && n == 1, "requeue: %d", n);
	store_close(s);

	/* Independently: the rows as stored. */
	sqlite3 *db = raw_open(path);
	CHECK(raw_int(db, "SELECT count(*) FROM attempts WHERE job_id = 1 AND ended_at IS NOT NULL") == 3,
	      "closed attempts");
	CHECK(raw_int(db, "SELECT sum(charged) FROM attempts WHERE job_id = 1") == 1, "charged");
	CHECK(raw_int(db, "SELECT count(*) FROM attempts WHERE run_id = 1") == 4, "attempts of run 1");
	raw_text(db, "SELECT exit_kind FROM attempts ORDER BY id LIMIT 1", text, sizeof text);
	CHECK(strcmp(text, "over-budget") == 0, "%s", text);
	CHECK(raw_int(db, "SELECT checksum FROM checkpoints") == 0xDEADBEEF, "checksum unsigned");
	CHECK(raw_int(db, "SELECT trades * 1000 + actions_short * 100 + actions_long FROM results") ==
	      12 * 1000 + 10 * 100 + 40, "result counts");
	CHECK(raw_int(db, "SELECT round(sharpe * 1000) FROM results") == 1500, "sharpe");
	raw_text(db, "SELECT outcome FROM runs", text, sizeof text);
	CHECK(strcmp(text, "finished") == 0, "run outcome %s", text);
	sqlite3_close(db);
	(void)r;
}

/* store_runs_list: every run with what its attempts did, or one run; a
 * name longer than any fixed buffer comes back whole. */
static void test_runs_list(void)
{
	char path[300], name[400];
	int64_t r1 = 0, r2 = 0, att;

	db_path(path, sizeof path, "runs.db");
	Store *s = open_writer(path);
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	StoreRunInfo i1 = { .host = "h1", .pid = 7, .name = "first", .config_text = "[run]\nname = first\n",
	                    .budget_rss = 2 * GiB };
	REQUIRE(store_run_begin(s, &i1, &r1) == 0, "%s", store_errmsg(s));
	int64_t a = add_job(s, "AAA", 64), b = add_job(s, "BBB", 64);
	MsgResult res = { .checksum = 1, .total_return = 0.25, .sharpe = 1.0, .test_days = 10 };
	snprintf(res.model_path, sizeof res.model_path, "/out/m");
	AttemptEnd done = { .kind = EXIT_DONE, .new_state = JOB_DONE, .next_batch_size = 64 };
	AttemptEnd crash = { .kind = EXIT_CRASH, .exit_code = 13, .reason = "x", .charged = 1,
	                     .new_state = JOB_PENDING, .next_batch_size = 64 };
	REQUIRE(store_attempt_begin(s, a, 1, -1, 64, &att) == 0, "%s", store_errmsg(s));
	REQUIRE(store_attempt_end(s, att, &crash) == 0, "%s", store_errmsg(s));
	REQUIRE(store_attempt_begin(s, a, 2, -1, 64, &att) == 0, "%s", store_errmsg(s));
	REQUIRE(store_result_add(s, a, att, &res) == 0, "%s", store_errmsg(s));
	REQUIRE(store_attempt_end(s, att, &done) == 0, "%s", store_errmsg(s));
	REQUIRE(store_run_end(s, r1, "stopped") == 0, "%s", store_errmsg(s));
	StoreRunInfo i2 = { .host = "h2", .pid = 8, .name = name, .config_text = "[run]\n" };
	REQUIRE(store_run_begin(s, &i2, &r2) == 0 && r2 > r1, "%s", store_errmsg(s));
	REQUIRE(store_attempt_begin(s, b, 3, -1, 64, &att) == 0, "%s", store_errmsg(s));
	res.total_return = 0.75;
	res.sharpe = 3.0;
	REQUIRE(store_result_add(s, b, att, &res) == 0, "%s", store_errmsg(s));
	REQUIRE(store_attempt_end(s, att, &done) == 0, "%s", store_errmsg(s));
	store_close(s);

	s = open_reader(path);
	StoreRun *v = NULL;
	int n = -1;
	REQUIRE(store_runs_list(s, 0, &v, &n) == 0 && n == 2, "all runs: %d %s", n, store_errmsg(s));
	CHECK(v[0].id == r1 && strcmp(v[0].name, "first") == 0 && strcmp(v[0].host, "h1") == 0 &&
	      v[0].pid == 7 && strcmp(v[0].outcome, "stopped") == 0 && v[0].ended_at >= v[0].started_at &&
	      v[0].started_at > 0 && strcmp(v[0].config, "[run]\nname = first\n") == 0 &&
	      v[0].budget_rss == 2 * GiB && v[0].budget_vram == 0,
	      "run 1: '%s' '%s' '%s' '%s'", v[0].name, v[0].host, v[0].outcome, v[0].config);
	CHECK(v[0].attempts == 2 && v[0].tickers == 1 && v[0].results == 1 &&
	      v[0].mean_return == 0.25 && v[0].mean_sharpe == 1.0,
	      "run 1 counts: %" PRId64 " %" PRId64 " %" PRId64 " %g", v[0].attempts, v[0].tickers,
	      v[0].results, v[0].mean_return);
	CHECK(v[1].id == r2 && strcmp(v[1].name, name) == 0 && v[1].ended_at == 0 &&
	      v[1].outcome[0] == '\0' && v[1].attempts == 1 && v[1].tickers == 1 &&
	      v[1].results == 1 && v[1].mean_return == 0.75, "run 2: %zu-byte name, ended %g",
	      strlen(v[1].name), v[1].ended_at);
	store_runs_free(v, n);
	REQUIRE(store_runs_list(s, r2, &v, &n) == 0 && n == 1, "run 2 alone: %d", n);
	CHECK(v[0].id == r2 && v[0].mean_sharpe == 3.0, "run 2 alone: id %" PRId64, v[0].id);
	store_runs_free(v, n);
	REQUIRE(store_runs_list(s, 99, &v, &n) == 0 && n == 0 && v == NULL, "no run 99: %d", n);
	store_close(s);
}

/* A failure in the job update must undo the checkpoint row and the
 * attempt's close: the triggers make the second statement fail. */
static void test_one_transaction(void)
{
	char path[300];
	JobList *l = NULL;
	int64_t att;

	db_path(path, sizeof path, "tx.db");
	Store *s = open_writer(path);
	int64_t job = add_job(s, "TX", 64);
	REQUIRE(store_attempt_begin(s, job, 7, -1, 64, &att) == 0, "%s", store_errmsg(s));

	sqlite3 *db = raw_open(path);
	raw_exec(db, "CREATE TRIGGER inject_ckpt BEFORE UPDATE OF ckpt_id ON jobs"
	             " BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
	MsgCheckpoint c = { .checksum = 5, .chunk = 0, .episode = 10, .done_episodes = 10 };
	snprintf(c.path, sizeof c.path, "/out/TX.ckpt");
	int r = store_checkpoint_add(s, job, att, &c);
	CHECK(r < 0, "injected fault ignored");
	CHECK(strstr(store_errmsg(s), path) && strstr(store_errmsg(s), "injected fault"), "%s",
	      store_errmsg(s));
	CHECK(raw_int(db, "SELECT count(*) FROM checkpoints") == 0, "checkpoint row without its job");
	raw_exec(db, "DROP TRIGGER inject_ckpt");
	REQUIRE(store_checkpoint_add(s, job, att, &c) == 0, "%s", store_errmsg(s));
	CHECK(raw_int(db, "SELECT count(*) FROM checkpoints") == 1, "checkpoint");
	CHECK(raw_int(db, "SELECT c.episode FROM jobs j JOIN checkpoints c ON c.id = j.ckpt_id") == 10,
	      "job points at its checkpoint");

	raw_exec(db, "CREATE TRIGGER inject_end BEFORE UPDATE OF state ON jobs"
	             " BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
	AttemptEnd e = { .kind = EXIT_DONE, .new_state = JOB_DONE, .next_batch_size = 64 };
	CHECK(store_attempt_end(s, att, &e) < 0, "injected fault ignored");
	CHECK(raw_int(db, "SELECT count(*) FROM attempts WHERE ended_at IS NULL") == 1,
	      "attempt closed though its job was not updated");
	raw_exec(db, "DROP TRIGGER inject_end");
	REQUIRE(store_attempt_end(s, att, &e) == 0, "%s", store_errmsg(s));
	REQUIRE(store_job_get(s, job, &l) == 0, "%s", store_errmsg(s));
	CHECK(l->rows[0].state == JOB_DONE && l->rows[0].fit_batch_size == 64, "after retry");
	store_jobs_free(l);

	/* An explicit transaction rolls back as a whole. */
	REQUIRE(store_begin(s) == 0, "%s", store_errmsg(s));
	CHECK(store_begin(s) == -EINVAL, "nested begin");
	add_job(s, "GONE1", 8);
	add_job(s, "GONE2", 8);
	REQUIRE(store_rollback(s) == 0, "%s", store_errmsg(s));
	CHECK(raw_int(db, "SELECT count(*) FROM jobs") == 1, "rollback kept jobs");
	sqlite3_close(db);
	store_close(s);
}

static void test_recover(void)
{
	char path[300], text[64];
	db_path(path, sizeof path, "recover.db");
	int64_t att;

	/* A supervisor that dies with two attempts open. */
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		char e[STORE_ERR_MAX];
		Store *c = NULL;
		int64_t a, id;
		if (store_open(path, 1, &c, e, sizeof e) < 0)
			_exit(2);
		StoreRunInfo info = { .host = "h", .pid = getpid(), .name = "dies" };
		if (store_run_begin(c, &info, NULL) < 0)
			_exit(3);
		const char *t[3] = { "R1", "R2", "R3" };
		for (int i = 0; i < 3; i++) {
			if (store_job_upsert(c, t[i], "/d", NULL, 32, &id) < 0)
				_exit(4);
			if (i < 2 && store_attempt_begin(c, id, 500 + i, -1, 32, &a) < 0)
				_exit(5);
			if (i == 0) {
				MsgCheckpoint k = { .chunk = 2, .episode = 5, .done_episodes = 205 };
				snprintf(k.path, sizeof k.path, "/ck");
				if (store_checkpoint_add(c, id, a, &k) < 0)
					_exit(6);
			}
		}
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

	Store *s = open_writer(path);
	StoreRunInfo info = { .host = "h", .pid = getpid(), .name = "next" };
	REQUIRE(store_run_begin(s, &info, NULL) == 0, "%s", store_errmsg(s));
	int n = -1;
	REQUIRE(store_recover(s, &n) == 0, "%s", store_errmsg(s));
	CHECK(n == 2, "lost %d, want 2", n);
	JobList *l = NULL;
	REQUIRE(store_jobs_load(s, &l) == 0, "%s", store_errmsg(s));
	for (int i = 0; i < l->n; i++) {
		JobRow *j = &l->rows[i];
		CHECK(j->state == JOB_PENDING && j->charged_attempts == 0 && j->batch_size == 32,
		      "%s: state %d charged %d", j->ticker, j->state, j->charged_attempts);
	}
	JobRow *r1 = find_job(l, "R1");
	CHECK(r1 && strcmp(r1->ckpt_path, "/ck") == 0 && r1->ckpt_done_episodes == 205 &&
	      strcmp(r1->exit_kind, "supervisor-lost") == 0, "R1 kept its checkpoint");
	store_jobs_free(l);
	n = -1;
	REQUIRE(store_recover(s, &n) == 0 && n == 0, "second recover found %d", n);

	/* The next attempt of R1 resumes at its checkpoint. */
	REQUIRE(store_jobs_load(s, &l) == 0, "%s", store_errmsg(s));
	r1 = find_job(l, "R1");
	REQUIRE(r1, "R1");
	REQUIRE(store_attempt_begin(s, r1->id, 600, -1, 32, &att) == 0, "%s", store_errmsg(s));
	int64_t r1id = r1->id;
	store_jobs_free(l);
	REQUIRE(store_job_get(s, r1id, &l) == 0, "%s", store_errmsg(s));
	CHECK(l->rows[0].done_episodes == 205 && l->rows[0].attempt_start_episodes == 205 &&
	      l->rows[0].chunk == 2, "resume position %" PRId64, l->rows[0].done_episodes);
	store_jobs_free(l);
	store_close(s);

	sqlite3 *db = raw_open(path);
	CHECK(raw_int(db, "SELECT count(*) FROM attempts WHERE exit_kind = 'supervisor-lost'"
	                  " AND charged = 0 AND ended_at IS NOT NULL") == 2, "lost attempts");
	raw_text(db, "SELECT outcome FROM runs WHERE id = 1", text, sizeof text);
	CHECK(strcmp(text, "supervisor-lost") == 0, "dead run outcome '%s'", text);
	raw_text(db, "SELECT outcome FROM runs WHERE id = 2", text, sizeof text);
	CHECK(strcmp(text, "") == 0, "current run touched: '%s'", text);
	sqlite3_close(db);
}

static void test_batching(void)
{
	char path[300];
	int64_t att;
	db_path(path, sizeof path, "batch.db");
	Store *s = open_writer(path);
	int64_t job = add_job(s, "B", 64);
	REQUIRE(store_attempt_begin(s, job, 1, -1, 64, &att) == 0, "%s", store_errmsg(s));
	sqlite3 *db = raw_open(path);

	uint64_t peak = 0, last = 0;
	for (int i = 0; i < 10; i++) {
		StoreSample sm = { .t = 1000 + i, .rss = (uint64_t)(100 + (i * 37) % 11) * MiB,
		                   .vram = (uint64_t)i * MiB, .bytes_replay = 5, .bytes_activations = 6,
		                   .bytes_weights = 7, .bytes_device = 8 };
		if (sm.rss > peak)
			peak = sm.rss;
		last = sm.rss;
		REQUIRE(store_sample(s, att, &sm) == 0, "%s", store_errmsg(s));
		/* 4 episodes per chunk: episode 10 is chunk 2's second. */
		MsgProgress p = { .chunk = i / 4, .episode = i % 4 + 1, .done_episodes = i + 1,
		                  .total_episodes = 200, .loss = 0.5 / (i + 1) };
		REQUIRE(store_progress(s, job, att, &p) == 0, "%s", store_errmsg(s));
	}
	CHECK(store_pending_rows(s) == 20, "pending %d", store_pending_rows(s));
	CHECK(raw_int(db, "SELECT count(*) FROM mem_samples") == 0, "written before flush");
	CHECK(raw_int(db, "SELECT done_episodes FROM jobs") == 0, "progress before flush");
	REQUIRE(store_flush(s) == 0, "%s", store_errmsg(s));
	CHECK(store_pending_rows(s) == 0, "pending after flush %d", store_pending_rows(s));
	CHECK(raw_int(db, "SELECT count(*) FROM mem_samples") == 10, "mem rows");
	CHECK(raw_int(db, "SELECT count(*) FROM loss_samples") == 10, "loss rows");
	CHECK(raw_int(db, "SELECT done_episodes * 1000 + total_episodes FROM jobs") == 10 * 1000 + 200,
	      "job progress");
	CHECK((uint64_t)raw_int(db, "SELECT peak_rss FROM attempts") == peak, "peak");
	CHECK((uint64_t)raw_int(db, "SELECT cur_rss FROM attempts") == last, "current");
	CHECK(raw_int(db, "SELECT sum(bytes_replay + bytes_activations + bytes_weights + bytes_device)"
	                  " FROM mem_samples") == 10 * 26, "categories");

	/* A progress frame without a size (total 0: the worker did not say)
	 * leaves the recorded total alone. */
	MsgProgress nosize = { .chunk = 2, .episode = 2, .done_episodes = 10, .total_episodes = 0 };
	REQUIRE(store_progress(s, job, att, &nosize) == 0, "%s", store_errmsg(s));
	REQUIRE(store_flush(s) == 0, "%s", store_errmsg(s));
	CHECK(raw_int(db, "SELECT total_episodes FROM jobs") == 200, "total after a frame without one: %lld",
	      (long long)raw_int(db, "SELECT total_episodes FROM jobs"));

	/* A checkpoint older than the progress already recorded (taken at
	 * episode 8, the end of chunk 1; progress said chunk 2 episode 2, 10
	 * done): the checkpoint is the job's, and its progress - chunk,
	 * episode, done - does not go back. */
	MsgCheckpoint old = { .checksum = 5, .chunk = 1, .episode = 4, .done_episodes = 8 };
	snprintf(old.path, sizeof old.path, "/out/X.ckpt");
	REQUIRE(store_checkpoint_add(s, job, att, &old) == 0, "%s", store_errmsg(s));
	REQUIRE(store_flush(s) == 0, "%s", store_errmsg(s));
	CHECK(raw_int(db, "SELECT chunk * 10000 + done_episodes * 100 + episode FROM jobs") ==
	      2 * 10000 + 10 * 100 + 2, "progress after an older checkpoint: %lld",
	      (long long)raw_int(db, "SELECT chunk * 10000 + done_episodes * 100 + episode FROM jobs"));
	CHECK(raw_int(db, "SELECT c.done_episodes FROM jobs j JOIN checkpoints c ON c.id = j.ckpt_id") == 8,
	      "the job's checkpoint");

	/* The buffer is bounded: more than STORE_BUFFER_MAX samples flush by themselves. */
	int total = STORE_BUFFER_MAX + 37;
	for (int i = 0; i < total; i++) {
		StoreSample sm = { .t = 2000 + i, .rss = MiB };
		REQUIRE(store_sample(s, att, &sm) == 0, "%s", store_errmsg(s));
		CHECK(store_pending_rows(s) <= STORE_BUFFER_MAX, "buffer grew to %d",
		      store_pending_rows(s));
	}
	CHECK(raw_int(db, "SELECT count(*) FROM mem_samples") + store_pending_rows(s) == 10 + total,
	      "rows lost: %" PRId64 " + %d", raw_int(db, "SELECT count(*) FROM mem_samples"),
	      store_pending_rows(s));

	/* A flush that fails keeps the rows; a full buffer then drops the oldest. */
	REQUIRE(store_flush(s) == 0, "%s", store_errmsg(s));
	raw_exec(db, "CREATE TRIGGER inject_mem BEFORE INSERT ON mem_samples"
	             " BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
	StoreSample one = { .t = 5000, .rss = MiB };
	REQUIRE(store_sample(s, att, &one) == 0, "%s", store_errmsg(s));
	CHECK(store_flush(s) < 0, "flush ignored the fault");
	CHECK(store_pending_rows(s) == 1, "failed flush lost rows: %d", store_pending_rows(s));
	int errors = 0;
	for (int i = 1; i < STORE_BUFFER_MAX + 10; i++) {
		StoreSample sm = { .t = 5000 + i, .rss = MiB };
		if (store_sample(s, att, &sm) < 0)
			errors++;
	}
	CHECK(store_pending_rows(s) == STORE_BUFFER_MAX, "bounded while failing: %d",
	      store_pending_rows(s));
	CHECK(errors == 10, "each overflow reports the flush error: %d", errors);
	raw_exec(db, "DROP TRIGGER inject_mem");
	int64_t before = raw_int(db, "SELECT count(*) FROM mem_samples");
	REQUIRE(store_flush(s) == 0, "%s", store_errmsg(s));
	CHECK(raw_int(db, "SELECT count(*) FROM mem_samples") - before == STORE_BUFFER_MAX, "kept rows");
	CHECK(raw_int(db, "SELECT min(t) FROM mem_samples WHERE t >= 5000") == 5010,
	      "the oldest were dropped, not the newest");

	/* Ending an attempt writes its samples first. */
	StoreSample fin = { .t = 9000, .rss = 4 * GiB };
	REQUIRE(store_sample(s, att, &fin) == 0, "%s", store_errmsg(s));
	AttemptEnd e = { .kind = EXIT_OVER_BUDGET, .new_state = JOB_PENDING, .next_batch_size = 32 };
	REQUIRE(store_attempt_end(s, att, &e) == 0, "%s", store_errmsg(s));
	CHECK(raw_int(db, "SELECT count(*) FROM mem_samples WHERE t = 9000") == 1, "sample lost");
	CHECK((uint64_t)raw_int(db, "SELECT peak_rss FROM attempts") == 4 * GiB, "peak from samples");
	sqlite3_close(db);
	store_close(s);
}

/* A reader holding a read transaction open must not stall the writer. */
static void test_reader_never_blocks(void)
{
	char path[300];
	db_path(path, sizeof path, "readers.db");
	Store *w = open_writer(path);
	add_job(w, "A", 8);
	add_job(w, "B", 8);
	add_job(w, "C", 8);

	Store *r = open_reader(path);
	REQUIRE(store_begin(r) == 0, "%s", store_errmsg(r));
	JobList *l = NULL;
	REQUIRE(store_jobs_load(r, &l) == 0 && l->n == 3, "reader load");
	store_jobs_free(l);

	double worst = 0, t0 = now_s();
	for (int i = 0; i < 100; i++) {
		char t[16];
		snprintf(t, sizeof t, "N%03d", i);
		double a = now_s();
		add_job(w, t, 8);  /* each its own transaction with fsync */
		double d = now_s() - a;
		if (d > worst)
			worst = d;
	}
	double total = now_s() - t0;
	printf("100 writer commits beside an open read transaction: %.3f s (slowest %.1f ms)\n",
	       total, worst * 1e3);
	/* The busy timeout is 5 s: a blocked writer would take that long. */
	CHECK(worst < 1.0, "a write waited %.3f s for the reader", worst);
	CHECK(rows(r, "jobs") == 3, "the reader's snapshot moved");
	REQUIRE(store_commit(r) == 0, "%s", store_errmsg(r));
	CHECK(rows(r, "jobs") == 103, "reader after its transaction: %" PRId64, rows(r, "jobs"));
	store_close(r);
	store_close(w);
}

static long rss_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return v;
}

static void test_many_jobs(void)
{
	enum { N = 10000 };
	char path[300];
	db_path(path, sizeof path, "many.db");
	Store *s = open_writer(path);
	JobSpec *specs = calloc(N, sizeof *specs);
	char (*names)[16] = calloc(N, sizeof *names);
	char (*paths)[40] = calloc(N, sizeof *paths);
	int64_t *ids = calloc(N, sizeof *ids);
	REQUIRE(specs && names && paths && ids, "calloc");
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "TK%05d", i);
		snprintf(paths[i], sizeof paths[i], "/data/prices/TK%05d.csv", i);
		specs[i] = (JobSpec){ names[i], paths[i], NULL, 128 };
	}
	long rss0 = rss_kib("VmRSS:");
	double t0 = now_s();
	REQUIRE(store_job_upsert_many(s, specs, N, ids) == 0, "%s", store_errmsg(s));
	double t_upsert = now_s() - t0;
	t0 = now_s();
	REQUIRE(store_job_upsert_many(s, specs, N, NULL) == 0, "%s", store_errmsg(s));
	double t_again = now_s() - t0;
	JobList *l = NULL;
	t0 = now_s();
	REQUIRE(store_jobs_load(s, &l) == 0, "%s", store_errmsg(s));
	double t_load = now_s() - t0;
	long rss1 = rss_kib("VmRSS:");
	CHECK(l->n == N, "loaded %d", l->n);
	int ordered = 1, ids_ok = 1;
	for (int i = 0; i < l->n; i++) {
		if (strcmp(l->rows[i].ticker, names[i]) != 0 || strcmp(l->rows[i].data_path, paths[i]) != 0)
			ordered = 0;
		if (l->rows[i].id != ids[i] || l->rows[i].batch_size != 128)
			ids_ok = 0;
	}
	CHECK(ordered, "rows out of order or strings wrong");
	CHECK(ids_ok, "ids or batch sizes wrong");
	size_t bytes = (size_t)l->n * sizeof(JobRow) + l->arena_len;
	printf("10000 jobs: upsert %.3f s, re-upsert %.3f s, load %.3f s; JobRow %zu B,"
	       " list %.2f MiB; RSS %ld -> %ld KiB (peak %ld KiB)\n",
	       t_upsert, t_again, t_load, sizeof(JobRow), (double)bytes / (double)MiB, rss0, rss1,
	       rss_kib("VmHWM:"));
	CHECK(bytes < 4 * MiB, "job list takes %zu bytes", bytes);
	/* Generous bounds: one transaction makes this about a second at most
	 * even under sanitizers, but its fsync on a disk shared with other
	 * loads has taken 10 s (a 2-core machine running several suites). */
	CHECK(t_upsert < 30.0 && t_load < 15.0, "too slow: upsert %.2f s load %.2f s", t_upsert, t_load);
	int64_t counts[4];
	REQUIRE(store_jobs_count(s, counts) == 0, "%s", store_errmsg(s));
	CHECK(counts[JOB_PENDING] == N && counts[JOB_DONE] == 0, "counts");
	store_jobs_free(l);
	free(specs);
	free(names);
	free(paths);
	free(ids);

	/* All or nothing: a bad spec in the middle undoes the whole batch. */
	JobSpec bad[3] = { { "NEW1", "/a", NULL, 8 }, { "", "/b", NULL, 8 }, { "NEW3", "/c", NULL, 8 } };
	CHECK(store_job_upsert_many(s, bad, 3, NULL) == -EINVAL, "bad spec accepted");
	CHECK(rows(s, "jobs") == N, "partial batch kept");
	store_close(s);
}

/* Reads a whole stream written with open_memstream. */
static void test_status(void)
{
	char path[300], json_path[300], cmd[4096];
	db_path(path, sizeof path, "status.db");
	db_path(json_path, sizeof json_path, "status.json");
	Store *s = open_writer(path);
	StoreRunInfo info = { .host = "box", .pid = 99, .name = "nightly",
	                      .budget_rss = 2 * GiB, .budget_vram = 0 };
	REQUIRE(store_run_begin(s, &info, NULL) == 0, "%s", store_errmsg(s));
	int64_t a = add_job(s, "AAA", 128), b = add_job(s, "BBB", 64), c = add_job(s, "CCC", 8);
	int64_t att;

	/* AAA: running, 50 of 200 episodes, 1 GiB now, 1.5 GiB peak. */
	REQUIRE(store_attempt_begin(s, a, 4242, -1, 128, &att) == 0, "%s", store_errmsg(s));
	StoreSample sm = { .t = 1, .rss = 1536 * MiB };
	store_sample(s, att, &sm);
	sm.rss = 1 * GiB;
	store_sample(s, att, &sm);
	struct timespec pause_ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&pause_ts, NULL);  /* a progress rate needs time to pass */
	MsgProgress p = { .chunk = 0, .episode = 50, .done_episodes = 50, .total_episodes = 200 };
	store_progress(s, a, att, &p);
	/* BBB: done. */
	REQUIRE(store_attempt_begin(s, b, 1, -1, 64, &att) == 0, "%s", store_errmsg(s));
	MsgProgress pb = { .chunk = 1, .episode = 100, .done_episodes = 200, .total_episodes = 200 };
	store_progress(s, b, att, &pb);
	AttemptEnd eb = { .kind = EXIT_DONE, .new_state = JOB_DONE, .next_batch_size = 64 };
	REQUIRE(store_attempt_end(s, att, &eb) == 0, "%s", store_errmsg(s));
	/* CCC: failed with a reason that needs JSON escaping. */
	REQUIRE(store_attempt_begin(s, c, 2, -1, 8, &att) == 0, "%s", store_errmsg(s));
	AttemptEnd ec = { .kind = EXIT_OVER_BUDGET, .charged = 1, .new_state = JOB_FAILED,
	                  .next_batch_size = 8,
	                  .reason = "over budget.rss 2.0 GiB: peak 2.3 GiB at batch_size 8; "
	                            "min_batch_size 8 reached \"q\"\\" };
	REQUIRE(store_attempt_end(s, att, &ec) == 0, "%s", store_errmsg(s));
	REQUIRE(store_flush(s) == 0, "%s", store_errmsg(s));

	/* Text, through a reader while the writer is open. */
	Store *r = open_reader(path);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	StatusOptions opt = { .json = 0, .width = 200, .color = 0, .bars = 1 };
	REQUIRE(status_render(r, out, &opt) == 0, "%s", store_errmsg(r));
	fclose(out);
	printf("%s", text);
	CHECK(strstr(text, "run 1 'nightly' on box (pid 99)"), "run line");
	CHECK(strstr(text, "budget.rss 2.0 GiB"), "budget");
	const char *line_a = strstr(text, "\nAAA");
	CHECK(line_a && strstr(line_a, "running") && strstr(line_a, "50/200") &&
	      strstr(line_a, "25.0%") && strstr(line_a, "[#####...............]") &&
	      strstr(line_a, "1.0 GiB") && strstr(line_a, "1.5 GiB") && strstr(line_a, "75%"),
	      "AAA line");
	const char *line_c = strstr(text, "\nCCC");
	CHECK(line_c && strstr(line_c, "failed") && strstr(line_c, "min_batch_size 8 reached"),
	      "CCC line");
	CHECK(strstr(text, "total: 3 jobs: 1 running, 0 pending, 1 done, 1 failed; "
	                   "250/400 episodes (62.5%)"), "totals");
	free(text);

	/* Narrow terminal: no line longer than the width. */
	text = NULL;
	out = open_memstream(&text, &len);
	opt.width = 60;
	opt.bars = 0;
	REQUIRE(status_render(r, out, &opt) == 0, "%s", store_errmsg(r));
	fclose(out);
	int longest = 0, cur = 0, header_done = 0;
	for (const char *q = text; *q; q++) {
		if (*q == '\n') {
			if (header_done && strncmp(q - cur, "total", 5) != 0 && cur > longest)
				longest = cur;
			header_done = 1;
			cur = 0;
		} else {
			cur++;
		}
	}
	CHECK(longest <= 60, "table line of %d columns at width 60", longest);
	free(text);

	/* max_rows: running and failed first, then a count of the rest. */
	text = NULL;
	out = open_memstream(&text, &len);
	StatusOptions few = { .width = 200, .max_rows = 2 };
	REQUIRE(status_render(r, out, &few) == 0, "%s", store_errmsg(r));
	fclose(out);
	const char *pa = strstr(text, "\nAAA"), *pc = strstr(text, "\nCCC");
	CHECK(pa && pc && pa < pc && !strstr(text, "\nBBB") && strstr(text, "... 1 more jobs"),
	      "max_rows 2:\n%s", text);
	free(text);

	/* At 80 columns CCC's reason takes two lines of its own, and the
	 * heading's REASON one: max_rows counts lines, not rows. 4 = the
	 * heading's line + AAA + 2: CCC's 3 lines do not fit. */
	for (int m = 4; m <= 5; m++) {
		text = NULL;
		out = open_memstream(&text, &len);
		StatusOptions narrow = { .width = 80, .max_rows = m };
		REQUIRE(status_render(r, out, &narrow) == 0, "%s", store_errmsg(r));
		fclose(out);
		const char *ra = strstr(text, "\nAAA"), *rc = strstr(text, "\nCCC");
		if (m == 4)
			CHECK(ra && !rc && strstr(text, "\n... 2 more jobs: 1 failed 1 done\n"),
			      "max_rows 4 at 80 columns:\n%s", text);
		else
			CHECK(ra && rc && strstr(rc, "\n    over budget.rss 2.0 GiB") &&
			      strstr(text, "\n... 1 more jobs: 1 done\n"), "max_rows 5 at 80 columns:\n%s", text);
		free(text);
	}
	store_close(r);

	/* JSON, for two databases (one missing), parsed back by python3. */
	char missing[300];
	db_path(missing, sizeof missing, "nope.db");
	const char *paths[2] = { path, missing };
	out = fopen(json_path, "w");
	REQUIRE(out, "fopen");
	StatusOptions jopt = { .json = 1 };
	int rc = status_render_paths(paths, 2, out, &jopt);
	fclose(out);
	CHECK(rc == -ENOENT, "missing db: rc %d", rc);
	REQUIRE(snprintf(cmd, sizeof cmd,
	         "python3 -c '"
	         "import json, sys\n"
	         "d = json.load(open(sys.argv[1]))\n"
	         "assert isinstance(d, dict) and len(d[\"databases\"]) == 2, d\n"
	         "a, m = d[\"databases\"]\n"
	         "s = d[\"totals\"]\n"
	         "assert (s[\"databases\"], s[\"databases_read\"]) == (2, 1), s\n"
	         "assert {k: v for k, v in s.items() if not k.startswith(\"databases\")} == a[\"totals\"], (s, a[\"totals\"])\n"
	         "assert \"no such database\" in m[\"error\"], m\n"
	         "assert a[\"run\"][\"name\"] == \"nightly\" and a[\"run\"][\"budget_rss\"] == 2 << 30\n"
	         "t = a[\"totals\"]\n"
	         "assert (t[\"jobs\"], t[\"running\"], t[\"done\"], t[\"failed\"], t[\"pending\"]) == (3, 1, 1, 1, 0), t\n"
	         "assert (t[\"done_episodes\"], t[\"total_episodes\"]) == (250, 400), t\n"
	         "j = {x[\"ticker\"]: x for x in a[\"jobs\"]}\n"
	         "A, B, C = j[\"AAA\"], j[\"BBB\"], j[\"CCC\"]\n"
	         "assert A[\"state\"] == \"running\" and A[\"percent\"] == 25.0 and A[\"pid\"] == 4242, A\n"
	         "assert A[\"rss\"] == 1 << 30 and A[\"peak_rss\"] == 1536 << 20, A\n"
	         "assert A[\"eta_s\"] is not None and A[\"eta_s\"] > 0, A\n"
	         "assert B[\"state\"] == \"done\" and B[\"fit_batch_size\"] == 64 and B[\"eta_s\"] is None, B\n"
	         "assert B[\"pid\"] is None and B[\"rss\"] == 0, B\n"
	         "assert C[\"state\"] == \"failed\" and C[\"last_reason\"].endswith(\"reached \\\"q\\\"\\\\\"), C\n"
	         "' '%s'", json_path) < (int)sizeof cmd, "the check's command line is cut");
	int py = system(cmd);
	if (WIFEXITED(py) && WEXITSTATUS(py) == 127) {
		printf("python3 not found: JSON not parsed back\n");
	} else {
		CHECK(WIFEXITED(py) && WEXITSTATUS(py) == 0, "python3 rejected %s (status %d)",
		      json_path, py);
	}
	store_close(s);
}

/* Another program holds the write lock (a sqlite3 shell's BEGIN EXCLUSIVE):
 * with busy timeout 0 no call waits; state changes are kept in order and
 * applied once the lock is free; closing with changes waiting says so. */
static void test_locked_by_another(void)
{
	char path[300], text[512];
	int64_t att = 0, att2 = 0;
	double t0;

	db_path(path, sizeof path, "locked.db");
	Store *s = open_writer(path);
	StoreRunInfo info = { .host = "h", .pid = 1, .name = "r", .config_text = "" };
	int64_t run_id = 0;
	REQUIRE(store_run_begin(s, &info, &run_id) == 0, "%s", store_errmsg(s));
	int64_t job = add_job(s, "AAPL", 64);
	REQUIRE(store_job_set_config(s, job, "[rewts]\nhidden = 16,16\n") == 0, "%s", store_errmsg(s));
	REQUIRE(store_set_busy_timeout(s, 0) == 0, "%s", store_errmsg(s));

	sqlite3 *other = raw_open(path);
	raw_exec(other, "BEGIN EXCLUSIVE");
	t0 = now_s();
	REQUIRE(store_attempt_begin(s, job, 77, -1, 64, &att) == 0, "begin while locked: %s",
	        store_errmsg(s));
	CHECK(att > 0, "attempt id %" PRId64, att);
	MsgProgress p = { .chunk = 0, .episode = 1, .done_episodes = 1, .total_episodes = 8 };
	CHECK(store_progress(s, job, att, &p) == 0, "progress");
	MsgCheckpoint c = { .checksum = 0x1234, .chunk = 0, .episode = 2, .done_episodes = 2 };
	snprintf(c.path, sizeof c.path, "/o/AAPL.ckpt");
	CHECK(store_checkpoint_add(s, job, att, &c) == 0, "checkpoint while locked: %s", store_errmsg(s));
	CHECK(store_attempt_note(s, att, "resumed from /o/AAPL.ckpt") == 0, "note");
	AttemptEnd e = { .kind = EXIT_CRASH, .exit_code = 13, .reason = "exit 13", .charged = 1,
	                 .new_state = JOB_PENDING, .next_batch_size = 64 };
	CHECK(store_attempt_end(s, att, &e) == 0, "end while locked: %s", store_errmsg(s));
	CHECK(store_flush(s) == 0, "flush while locked: %s", store_errmsg(s));
	CHECK(now_s() - t0 < 0.5, "calls waited %.2f s for the lock", now_s() - t0);
	CHECK(store_pending_writes(s) == 4, "pending %d", store_pending_writes(s));
	CHECK(store_busy_seconds(s) > 0, "busy seconds");
	CHECK(raw_int(other, "SELECT count(*) FROM attempts") == 0, "applied through the lock");
	raw_exec(other, "COMMIT");

	CHECK(store_flush(s) == 0, "flush: %s", store_errmsg(s));
	CHECK(store_pending_writes(s) == 0 && store_busy_seconds(s) == 0, "still pending %d",
	      store_pending_writes(s));
	CHECK(raw_int(other, "SELECT count(*) FROM attempts WHERE ended_at IS NOT NULL AND charged = 1"
	              " AND exit_code = 13 AND pid = 77") == 1, "attempt not closed");
	raw_text(other, "SELECT resume FROM attempts", text, sizeof text);
	CHECK(strcmp(text, "resumed from /o/AAPL.ckpt") == 0, "note '%s'", text);
	CHECK(raw_int(other, "SELECT j.charged_attempts * 1000 + c.checksum FROM jobs j JOIN checkpoints c"
	              " ON c.id = j.ckpt_id") == 1000 + 0x1234, "checkpoint not recorded");
	CHECK(raw_int(other, "SELECT count(*) FROM loss_samples") == 1, "progress sample lost");
	raw_text(other, "SELECT config FROM jobs", text, sizeof text);
	CHECK(strcmp(text, "[rewts]\nhidden = 16,16\n") == 0, "job config '%s'", text);

	/* The next attempt gets the next id; a lock held at close: -EBUSY. */
	raw_exec(other, "BEGIN EXCLUSIVE");
	REQUIRE(store_attempt_begin(s, job, 78, -1, 64, &att2) == 0, "%s", store_errmsg(s));
	CHECK(att2 == att + 1, "ids %" PRId64 " then %" PRId64, att, att2);
	CHECK(store_close(s) == -EBUSY, "close with a write waiting");
	raw_exec(other, "COMMIT");
	sqlite3_close(other);

	/* The file deleted or replaced under a writer. */
	s = open_writer(path);
	CHECK(store_check_file(s) == 0, "fresh: %s", store_errmsg(s));
	char moved[320];
	snprintf(moved, sizeof moved, "%s.moved", path);
	REQUIRE(rename(path, moved) == 0, "rename");
	CHECK(store_check_file(s) == -ENOENT && strstr(store_errmsg(s), path) &&
	      strstr(store_errmsg(s), "deleted or moved"), "deleted: %s", store_errmsg(s));
	FILE *f = fopen(path, "w");
	REQUIRE(f, "create");
	fclose(f);
	CHECK(store_check_file(s) == -ESTALE && strstr(store_errmsg(s), "replaced"), "replaced: %s",
	      store_errmsg(s));
	store_close(s);
}

/* The cgroup folders of runs (issue 7): recorded per run, read back per
 * host, and an attempt's recorded beside it. */
static void test_cgroups(void)
{
	char path[300];
	char **v = NULL;
	int n = -1;
	int64_t r1 = 0, r2 = 0, r3 = 0, att = 0;

	db_path(path, sizeof path, "cgroup.db");
	Store *s = open_writer(path);
	StoreRunInfo h1 = { .host = "h1", .pid = 42, .name = "r", .config_text = "" };
	StoreRunInfo h2 = { .host = "h2", .pid = 43, .name = "r", .config_text = "" };
	REQUIRE(store_run_begin(s, &h1, &r1) == 0, "%s", store_errmsg(s));
	REQUIRE(store_run_cgroup(s, r1, "/cg/tickervisor-42-1") == 0, "%s", store_errmsg(s));
	REQUIRE(store_run_begin(s, &h2, &r2) == 0, "%s", store_errmsg(s));
	REQUIRE(store_run_cgroup(s, r2, "/cg/tickervisor-43-1") == 0, "%s", store_errmsg(s));
	REQUIRE(store_run_begin(s, &h1, &r3) == 0, "%s", store_errmsg(s));  /* none recorded */
	int64_t job = add_job(s, "AAPL", 32);
	REQUIRE(store_attempt_begin(s, job, 1001, -1, 32, &att) == 0, "%s", store_errmsg(s));
	REQUIRE(store_attempt_cgroup(s, att, "/cg/tickervisor-42-1/attempt-1") == 0, "%s", store_errmsg(s));
	REQUIRE(store_flush(s) == 0, "%s", store_errmsg(s));

	CHECK(store_cgroups_of_host(s, "h1", &v, &n) == 0 && n == 1 && !strcmp(v[0], "/cg/tickervisor-42-1"),
	      "h1: %d paths, first %s", n, n > 0 ? v[0] : "-");
	store_strings_free(v, n);
	CHECK(store_cgroups_of_host(s, "h3", &v, &n) == 0 && n == 0 && !v, "h3: %d paths", n);
	store_strings_free(v, n);
	sqlite3 *db = NULL;
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open %s", path);
	CHECK(raw_int(db, "SELECT count(*) FROM attempts WHERE cgroup = '/cg/tickervisor-42-1/attempt-1'") == 1,
	      "the attempt's cgroup is not recorded");
	sqlite3_close(db);
	store_close(s);
}

/* store_job_mark: pending or failed with a reason, and nothing else - done
 * comes only with a result, running only with an attempt. */
static void test_job_mark(void)
{
	char path[300], text[64];
	db_path(path, sizeof path, "mark.db");
	Store *s = open_writer(path);
	int64_t job = add_job(s, "MARK", 8);
	sqlite3 *db = raw_open(path);

	CHECK(store_job_mark(s, job, JOB_FAILED, "bad file") == 0, "to failed: %s", store_errmsg(s));
	raw_text(db, "SELECT state || ':' || last_reason FROM jobs", text, sizeof text);
	CHECK(strcmp(text, "failed:bad file") == 0, "after failed: '%s'", text);
	for (int k = 0; k < 2; k++) {
		JobState bad = k ? JOB_RUNNING : JOB_DONE;
		CHECK(store_job_mark(s, job, bad, "") == -EINVAL &&
		      strstr(store_errmsg(s), store_job_state_name(bad)), "to %s: %s",
		      store_job_state_name(bad), store_errmsg(s));
		raw_text(db, "SELECT state || ':' || last_reason FROM jobs", text, sizeof text);
		CHECK(strcmp(text, "failed:bad file") == 0, "after a refused %s: '%s'",
		      store_job_state_name(bad), text);
	}
	CHECK(store_job_mark(s, job, JOB_PENDING, "") == 0, "to pending: %s", store_errmsg(s));
	raw_text(db, "SELECT state || ':' || last_reason FROM jobs", text, sizeof text);
	CHECK(strcmp(text, "pending:") == 0, "after pending: '%s'", text);
	CHECK(store_job_mark(s, job + 1, JOB_PENDING, "") == -ENOENT, "no such job");
	sqlite3_close(db);
	store_close(s);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/test_store.XXXXXX", base && base[0] ? base : "/tmp");
	REQUIRE(mkdtemp(dir), "mkdtemp");

	test_migrations();
	test_identity_errors();
	test_lock();
	test_lifecycle();
	test_runs_list();
	test_attempt_batch_size();
	test_job_mark();
	test_one_transaction();
	test_recover();
	test_batching();
	test_reader_never_blocks();
	test_many_jobs();
	test_status();
	test_locked_by_another();
	test_cgroups();

	if (check_failures) {
		fprintf(stderr, "files kept in %s\n", dir);
		return check_done("store");
	}
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done("store");
}
