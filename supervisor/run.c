/* `tickervisor run`: the libuv loop that starts a fresh worker per attempt,
 * reads its reports, watches its memory and carries out the policy.
 *
 * Life of an attempt (a Child):
 *   spawn (uv_spawn, report pipe on fd 3) -> store_attempt_begin ->
 *   frames (hello, progress, heartbeat, checkpoint, result, error) and
 *   memory polls (RSS from /proc every poll_ms; SIGUSR1 once above the soft
 *   line, SIGKILL above the budget; SIGKILL when no frame came for
 *   hang_timeout) -> both the exit callback and the end of the pipe seen ->
 *   policy_classify + policy_decide -> store_attempt_end -> the Child's
 *   three handles are closed and it is freed in the last close callback.
 * A job (one per ticker) has at most one Child. The scheduler starts pending
 * jobs whose back-off has passed while placement gives a slot.
 *
 * Stopping (first SIGINT/SIGTERM): nothing new starts, each worker gets
 * SIGTERM (it checkpoints and exits 10), the loop waits for all of them,
 * flushes the store and returns 0. A second signal SIGKILLs every worker and
 * returns at once; the next run's store_recover() closes what was open. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/checksum.h"
#include "common/config.h"
#include "common/exitcodes.h"
#include "common/proto.h"
#include "placement.h"
#include "policy.h"
#include "run.h"
#include "shard.h"
#include "nvml.h"
#include "status.h"
#include "store.h"

/* Lines of recent events shown under the status view on a terminal. */
#define RUN_TTY_EVENTS 8
#define RUN_EVENT_LEN 200

typedef struct Sup Sup;
typedef struct Child Child;

/* One ticker of this run. Strings point into the JobList's arena (kept for
 * the whole run), except ckpt_path, owned here. */
typedef struct Job {
	int64_t id;
	const char *ticker;
	const char *data_path;
	const char *signals_path;
	char *ckpt_path;          /* last good checkpoint, NULL if none */
	uint32_t ckpt_checksum;
	JobState state;
	int batch_size;
	int charged;              /* charged attempts since the last (re)queue */
	int attempts;             /* attempts ever made (for the log) */
	int paused;               /* stopped by our stop: left for the next run */
	uint64_t not_before;      /* uv_now() ms before which it must not start */
	char *reason;             /* last failure reason, NULL if none */
	Child *child;             /* the running attempt, NULL if none */
} Job;

/* One attempt: a worker process, its report pipe and its poll timer. */
struct Child {
	Sup *sup;
	Job *job;
	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t poll;
	int handles_open;         /* handles not yet closed; freed at 0 */
	ProtoDecoder *dec;
	int64_t attempt_id;       /* 0 if store_attempt_begin failed */
	int pid;
	int gpu;                  /* PLACEMENT_CPU or a device id */
	int batch_size;
	uint64_t start_ms;        /* uv_now() at spawn */
	uint64_t start_ns;        /* uv_hrtime() just before uv_spawn (latency) */
	uint64_t last_frame_ms;   /* uv_now() of the last frame (or spawn) */
	uint64_t rss;             /* bytes, last /proc sample (private: read_rss) */
	uint64_t peak_rss;        /* bytes, max of the samples */
	uint64_t peak_vram;       /* bytes, from heartbeats */
	MsgHeartbeat hb;          /* the last heartbeat */
	int got_hello, got_result;
	int usr1_sent, term_sent;
	int killed_budget, killed_hang, protocol_error;
	int exited, pipe_done, finished;
	int64_t exit_status;
	int term_signal;
	char detail[POLICY_REASON_MAX]; /* why we killed it, or the worker's error */
};

struct Sup {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	uv_signal_t sig_more[3];  /* SIGHUP, SIGUSR1, SIGUSR2: see signal_cb */
	uv_timer_t sched_timer;   /* wakes the scheduler when a back-off ends */
	uv_timer_t flush_timer;   /* store_flush() and the terminal view, every second */
	uv_check_t commit_check;  /* commits the iteration's transaction (group commit) */
	int in_txn;               /* a store transaction is open in this iteration */
	int globals_closed;

	Config cfg;
	const RunOptions *opt;
	char config_abs[PATH_MAX];
	char worker[PATH_MAX];
	char out_dir[PATH_MAX];
	Store *store;
	int64_t run_id;
	JobList *list;
	Job *jobs;
	int n_jobs;

	int gpu_ids[PLACEMENT_MAX_GPUS];
	PlacementSlot slots[PLACEMENT_MAX_GPUS];
	int n_gpus;
	Nvml *nvml;               /* per-process device memory; NULL: workers' reports only */
	uint64_t nvml_at;         /* loop time of the last NVML refresh */
	int cpu_running;
	int n_children;
	int worker_log;           /* OUT/workers.log (O_APPEND), -1 if it cannot be opened */

	int stopping;             /* 1 after the first signal */
	int aborted;              /* 1 after the second */
	int fatal;                /* a store failure: stop, exit non-zero */
	int tty;
	char events[RUN_TTY_EVENTS][RUN_EVENT_LEN];
	int n_events;
	char readbuf[65536];
};

/* ---- logging ---- */

static void sup_log(Sup *sup, const Job *job, const Child *c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One line per event: time, ticker, attempt and pid when known, message.
 * On a terminal the line goes into the event list under the status view. */
static void sup_log(Sup *sup, const Job *job, const Child *c, const char *fmt, ...)
{
	char line[RUN_EVENT_LEN * 2];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof line - (size_t)n, ".%03ld",
		      ts.tv_nsec / 1000000);
	if (job)
		n += snprintf(line + n, sizeof line - (size_t)n, " %s", job->ticker);
	if (c)
		n += snprintf(line + n, sizeof line - (size_t)n, " attempt %d pid %d",
			      job ? job->attempts : 0, c->pid);
	if (n < (int)sizeof line - 2) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (sup->tty) {
		if (sup->n_events == RUN_TTY_EVENTS) {
			memmove(sup->events[0], sup->events[1],
				sizeof sup->events[0] * (RUN_TTY_EVENTS - 1));
			sup->n_events--;
		}
		snprintf(sup->events[sup->n_events++], RUN_EVENT_LEN, "%s", line);
	} else {
		fprintf(stdout, "%s\n", line);
		fflush(stdout);
	}
}

static const char *fmt_bytes(uint64_t b, char *buf, size_t len)
{
	return policy_format_bytes(b, buf, len);
}

/* ---- small helpers ---- */

/* Reads the private resident memory of pid from /proc/PID/statm:
 * resident - shared, i.e. RssAnon, the memory the worker itself allocated
 * and touched. File-backed pages (the text of OpenBLAS, the CUDA libraries:
 * 50-150 MiB, shared between workers, reclaimable, and varying by several
 * MiB from one start to the next) are not held against budget.rss.
 * Returns 0 and *ret_bytes, or a negative errno (the process is gone). */
static int read_rss(int pid, uint64_t *ret_bytes)
{
	char path[64], buf[128];
	snprintf(path, sizeof path, "/proc/%d/statm", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (err < 0)
		return err;
	buf[n] = '\0';
	unsigned long long size, resident, shared;
	if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
		return -EINVAL;
	uint64_t pages = resident > shared ? resident - shared : 0;
	*ret_bytes = pages * (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

/* Makes the kernel's OOM killer prefer this worker over the supervisor
 * (raising the score needs no privilege). */
static int set_oom_score(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/oom_score_adj", pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = write(fd, "1000", 4) == 4 ? 0 : -errno;
	close(fd);
	return err;
}

/* Counts the NVIDIA GPUs the driver lists (0 when there is no driver).
 * TV_FAULT_GPUS=N (tests) pretends the driver lists N. */
static int detect_gpus(void)
{
	const char *fake = getenv("TV_FAULT_GPUS");
	if (fake && *fake)
		return atoi(fake);
	DIR *d = opendir("/proc/driver/nvidia/gpus");
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The checksum of a model or checkpoint file as worker/modelio.h defines
 * it: the zlib CRC-32 of every byte before the trailing 5-byte msgpack
 * uint32 (0xce + 4 big-endian bytes), which must hold that same value.
 * Returns 0 and *ret_crc, -EBADMSG when the trailer disagrees, or a
 * negative errno. */
static int file_crc(const char *path, uint32_t *ret_crc)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint32_t crc = 0;
	unsigned char buf[65536], tail[5];
	int err = 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (st.st_size < 5) {
		err = -EBADMSG;
		goto out;
	}
	off_t left = st.st_size - 5;
	while (left > 0) {
		ssize_t n = read(fd, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EBADMSG;
			goto out;
		}
		crc = checksum_crc32(crc, buf, (size_t)n);
		left -= n;
	}
	if (read(fd, tail, 5) != 5) {
		err = -EBADMSG;
		goto out;
	}
	uint32_t stored = (uint32_t)tail[1] << 24 | (uint32_t)tail[2] << 16 |
			  (uint32_t)tail[3] << 8 | tail[4];
	if (tail[0] != 0xce || stored != crc)
		err = -EBADMSG;
out:
	close(fd);
	if (err == 0)
		*ret_crc = crc;
	return err;
}

/* mkdir -p. */
static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The worker binary: opt, $TV_WORKER, beside /proc/self/exe, or (in a build
 * tree) ../worker/ beside it. */
static int find_worker(const char *given, char *out, size_t len)
{
	const char *env = getenv("TV_WORKER");
	if (given && *given) {
		snprintf(out, len, "%s", given);
	} else if (env && *env) {
		snprintf(out, len, "%s", env);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n < 0)
			return -errno;
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		snprintf(out, len, "%s/tickervisor-worker", self);
		if (access(out, X_OK) < 0)
			snprintf(out, len, "%s/../worker/tickervisor-worker", self);
	}
	return access(out, X_OK) < 0 ? -errno : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The run's tickers: run.tickers, else every *.csv in data_dir (sorted).
 * Returns the count (>= 0) with *ret_names (each and the array malloc'd),
 * or a negative errno with a message in err. */
static int list_tickers(const Config *cfg, char ***ret_names, char *err, size_t errlen)
{
	char **names = NULL;
	int n = 0, cap = 0, rc = 0;
	if (cfg->tickers[0]) {
		char buf[sizeof cfg->tickers];
		snprintf(buf, sizeof buf, "%s", cfg->tickers);
		char *save = NULL;
		for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				char **nn = realloc(names, sizeof *names * (size_t)cap);
				if (!nn) {
					rc = -ENOMEM;
					goto out;
				}
				names = nn;
			}
			if (!(names[n] = strdup(t))) {
				rc = -ENOMEM;
				goto out;
			}
			n++;
		}
	} else {
		DIR *d = opendir(cfg->data_dir);
		if (!d) {
			rc = -errno;
			snprintf(err, errlen, "run.data_dir '%s': %s", cfg->data_dir, strerror(errno));
			goto out;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t len = strlen(e->d_name);
			if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".csv"))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				char **nn = realloc(names, sizeof *names * (size_t)cap);
				if (!nn) {
					closedir(d);
					rc = -ENOMEM;
					goto out;
				}
				names = nn;
			}
			if (!(names[n] = strndup(e->d_name, len - 4))) {
				closedir(d);
				rc = -ENOMEM;
				goto out;
			}
			n++;
		}
		closedir(d);
		qsort(names, (size_t)n, sizeof *names, cmp_str);
	}
	if (n == 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "no tickers: run.tickers is empty and run.data_dir '%s' has no *.csv",
			 cfg->data_dir);
	}
out:
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return rc;
	}
	*ret_names = names;
	return n;
}

/* Keeps in names[0..*n) only the tickers of this supervisor's shard
 * (shard.h: --shard, --shards, the scheduler's environment), freeing the
 * others, and writes the suffix of the shard's file names (empty when not
 * sharded), so that every shard can share out_dir. Returns 0, or -EINVAL
 * with the message printed. */
static int keep_shard(const RunOptions *opt, char **names, int *n, char *sfx, size_t sfxlen)
{
	char err[256];
	Shard shard;
	const ShardSource src = { opt->shard, opt->shards, getenv("SLURM_ARRAY_TASK_ID"),
				  getenv("SLURM_ARRAY_TASK_COUNT"), getenv("JOB_COMPLETION_INDEX") };
	if (shard_resolve(&src, &shard, err, sizeof err) < 0 ||
	    shard_suffix(&shard, sfx, sfxlen) < 0) {
		fprintf(stderr, "tickervisor: %s\n", err);
		return -EINVAL;
	}
	if (!shard.count)
		return 0;
	int kept = 0;
	for (int i = 0; i < *n; i++) {
		if (shard_has(&shard, names[i]))
			names[kept++] = names[i];
		else
			free(names[i]);
	}
	fprintf(stderr, "tickervisor: shard %d/%d: %d of the run's %d tickers\n", shard.index,
		shard.count, kept, *n);
	*n = kept;
	return 0;
}

/* ---- scheduling ---- */

static void schedule(Sup *sup);
static void sup_close_globals(Sup *sup);

static void fatal_store(Sup *sup, const Job *job, const char *what, int err)
{
	sup_log(sup, job, job ? job->child : NULL, "store error in %s: %s (%s)", what,
		store_errmsg(sup->store), strerror(-err));
	fprintf(stderr, "tickervisor: %s: %s\n", what, store_errmsg(sup->store));
	if (!sup->fatal) {
		sup->fatal = 1;
		if (!sup->stopping) {
			sup->stopping = 1;
			for (int i = 0; i < sup->n_jobs; i++) {
				Child *c = sup->jobs[i].child;
				if (c && !c->exited && !c->term_sent) {
					c->term_sent = 1;
					kill(c->pid, SIGTERM);
				}
			}
		}
	}
}

/* Group commit: the state changes of one loop iteration (several workers
 * may exit, report checkpoints or start in one) share one transaction, so
 * one fsync instead of one per change. Opened before the first store write
 * of the iteration, committed in the check phase right after the I/O
 * callbacks, before the loop waits again. Each change stays atomic (the
 * store nests its own transactions as savepoints inside). */
static void sup_txn(Sup *sup)
{
	if (sup->in_txn || sup->globals_closed)
		return;
	if (store_begin(sup->store) >= 0)
		sup->in_txn = 1;
}

static void sup_commit(Sup *sup)
{
	if (!sup->in_txn)
		return;
	sup->in_txn = 0;
	int err = store_commit(sup->store);
	if (err < 0)
		fatal_store(sup, NULL, "commit", err);
}

static void commit_cb(uv_check_t *h)
{
	sup_commit(h->data);
}

static void child_close_cb(uv_handle_t *h)
{
	Child *c = h->data;
	if (--c->handles_open == 0) {
		proto_decoder_free(c->dec);
		free(c);
	}
}

static void child_close_pipe(Child *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, child_close_cb);
}

/* Kills a child at once for a reason the policy will see. */
static void child_kill(Child *c)
{
	if (!c->exited)
		kill(c->pid, SIGKILL);
}

static void child_protocol_error(Child *c, const char *msg)
{
	if (c->protocol_error || c->killed_budget || c->killed_hang)
		return;
	c->protocol_error = 1;
	/* The policy's reason says "protocol error: " + detail. */
	snprintf(c->detail, sizeof c->detail, "%s", msg);
	sup_log(c->sup, c->job, c, "protocol error: %s; killing the worker", c->detail);
	child_kill(c);
}

/* Both the exit and the end of the pipe were seen: classify, decide,
 * record, and let the job go on. */
static void child_finish(Child *c)
{
	Sup *sup = c->sup;
	Job *job = c->job;
	char b1[32], b2[32];
	if (c->finished || !c->exited || !c->pipe_done)
		return;
	c->finished = 1;

	int exited = c->term_signal == 0;
	int code = exited ? (int)c->exit_status : -1;
	if (exited && code == TV_EXIT_DONE && !c->got_result && !c->protocol_error &&
	    !c->killed_budget && !c->killed_hang) {
		c->protocol_error = 1;
		snprintf(c->detail, sizeof c->detail,
			 "worker exited 0 without a result frame");
	}
	ExitKind kind = policy_classify(exited, code, c->term_signal, c->killed_budget,
					c->killed_hang, c->protocol_error, sup->stopping);
	PolicyFacts f = {
		.kind = kind,
		.exit_code = code,
		.term_signal = c->term_signal,
		.batch_size = c->batch_size,
		.min_batch_size = sup->cfg.min_batch_size,
		.charged_attempts = job->charged,
		.max_attempts = sup->cfg.max_attempts,
		.backoff_base_s = sup->cfg.backoff,
		.ran_s = (double)(uv_now(&sup->loop) - c->start_ms) / 1000.0,
		.peak_rss = c->peak_rss,
		.budget_rss = sup->cfg.budget_rss,
		.peak_vram = c->peak_vram,
		.budget_vram = sup->cfg.budget_vram,
		.stopping = sup->stopping,
		.detail = c->detail[0] ? c->detail : NULL,
	};
	PolicyDecision d = policy_decide(&f);

	/* One line for the exit and the decision: "exited over-budget (signal
	 * 9 Killed) peak 1.2 GiB: retry in 0.0 s at batch 32: <reason>". */
	char how[160];
	if (exited)
		snprintf(how, sizeof how, "exited %s (code %d) peak %s", policy_exit_kind_name(kind),
			 code, fmt_bytes(c->peak_rss, b1, sizeof b1));
	else
		snprintf(how, sizeof how, "exited %s (signal %d %s) peak %s",
			 policy_exit_kind_name(kind), c->term_signal, strsignal(c->term_signal),
			 fmt_bytes(c->peak_rss, b1, sizeof b1));

	JobState st = d.action == POLICY_DONE ? JOB_DONE :
		      d.action == POLICY_FAIL ? JOB_FAILED : JOB_PENDING;
	if (c->attempt_id > 0) {
		AttemptEnd end = {
			.kind = kind,
			.exit_code = code,
			.term_signal = c->term_signal,
			.peak_rss = c->peak_rss,
			.peak_vram = c->peak_vram,
			.reason = d.reason,
			.charged = d.charged,
			.new_state = st,
			.next_batch_size = d.next_batch_size,
		};
		sup_txn(sup);
		int err = store_attempt_end(sup->store, c->attempt_id, &end);
		if (err < 0)
			fatal_store(sup, job, "store_attempt_end", err);
	}
	job->state = st;
	job->batch_size = d.next_batch_size;
	job->charged += d.charged;
	if (d.reason[0]) {
		free(job->reason);
		job->reason = strdup(d.reason);
	}
	switch (d.action) {
	case POLICY_DONE:
		sup_log(sup, job, c, "%s: done at batch %d", how, c->batch_size);
		break;
	case POLICY_FAIL:
		sup_log(sup, job, c, "%s: failed: %s", how, d.reason);
		break;
	case POLICY_PAUSE:
		job->paused = 1;
		sup_log(sup, job, c, "%s: paused for the next run%s%s", how,
			d.reason[0] ? ": " : "", d.reason);
		break;
	case POLICY_RETRY:
		job->not_before = uv_now(&sup->loop) + (uint64_t)(d.delay_s * 1000.0 + 0.5);
		sup_log(sup, job, c, "%s: retry in %.1f s at batch %d%s%s (budget.rss %s)", how,
			d.delay_s, d.next_batch_size, d.reason[0] ? ": " : "", d.reason,
			sup->cfg.budget_rss ? fmt_bytes(sup->cfg.budget_rss, b2, sizeof b2) : "none");
		break;
	}

	/* Free the slot and the handles. */
	job->child = NULL;
	sup->n_children--;
	if (c->gpu == PLACEMENT_CPU) {
		sup->cpu_running--;
	} else {
		for (int i = 0; i < sup->n_gpus; i++)
			if (sup->slots[i].device == c->gpu) {
				sup->slots[i].running--;
				sup->slots[i].vram_committed -= sup->cfg.budget_vram;
			}
	}
	uv_close((uv_handle_t *)&c->proc, child_close_cb);
	uv_close((uv_handle_t *)&c->poll, child_close_cb);
	child_close_pipe(c);
	schedule(sup);
}

static void check_vram(Sup *sup, Child *c, uint64_t bytes, const char *source);

static void on_frame(Child *c, const Msg *m)
{
	Sup *sup = c->sup;
	Job *job = c->job;
	uint64_t now = uv_now(&sup->loop);
	c->last_frame_ms = now;
	/* hello comes first; an error may come instead (a worker that fails
	 * before it can say hello, e.g. on bad input). */
	if (!c->got_hello && m->type != MSG_HELLO && m->type != MSG_ERROR) {
		char msg[96];
		snprintf(msg, sizeof msg, "first frame is '%s', not 'hello'", proto_type_name(m->type));
		child_protocol_error(c, msg);
		return;
	}
	int err = 0;
	switch (m->type) {
	case MSG_HELLO:
		if (c->got_hello) {
			child_protocol_error(c, "a second hello");
			return;
		}
		c->got_hello = 1;
		sup_log(sup, job, c, "hello %s/%s batch %lld after %.2f ms", m->u.hello.backend,
			m->u.hello.device, (long long)m->u.hello.batch_size,
			(double)(uv_hrtime() - c->start_ns) / 1e6);
		break;
	case MSG_PROGRESS:
		if (c->attempt_id > 0)
			err = store_progress(sup->store, job->id, c->attempt_id, &m->u.progress);
		break;
	case MSG_HEARTBEAT: {
		/* The worker's rss_peak (VmHWM) counts file-backed pages too; the
		 * budget and peak_rss are private memory (read_rss), so it is
		 * not mixed in. */
		c->hb = m->u.heartbeat;
		uint64_t dev = m->u.heartbeat.bytes_device > 0 ? (uint64_t)m->u.heartbeat.bytes_device : 0;
		uint64_t pdev = m->u.heartbeat.peak_device > 0 ? (uint64_t)m->u.heartbeat.peak_device : 0;
		if (pdev > c->peak_vram)
			c->peak_vram = pdev;
		if (dev > c->peak_vram)
			c->peak_vram = dev;
		/* Its own peak counts too: a worker that was over the budget
		 * between two heartbeats was over the budget. */
		check_vram(sup, c, dev > pdev ? dev : pdev, "reported");
		break;
	}
	case MSG_CHECKPOINT:
		sup_txn(sup);
		if (c->attempt_id > 0)
			err = store_checkpoint_add(sup->store, job->id, c->attempt_id, &m->u.checkpoint);
		if (err >= 0) {
			free(job->ckpt_path);
			job->ckpt_path = strdup(m->u.checkpoint.path);
			job->ckpt_checksum = m->u.checkpoint.checksum;
			sup_log(sup, job, c, "checkpoint chunk %lld episode %lld (%lld episodes done)",
				(long long)m->u.checkpoint.chunk, (long long)m->u.checkpoint.episode,
				(long long)m->u.checkpoint.done_episodes);
		}
		break;
	case MSG_RESULT:
		c->got_result = 1;
		sup_txn(sup);
		if (c->attempt_id > 0)
			err = store_result_add(sup->store, job->id, c->attempt_id, &m->u.result);
		sup_log(sup, job, c, "result %s sharpe %.3f return %.4f", m->u.result.model_path,
			m->u.result.sharpe, m->u.result.total_return);
		break;
	case MSG_ERROR:
		snprintf(c->detail, sizeof c->detail, "%s", m->u.error.message);
		sup_log(sup, job, c, "worker error %lld: %s", (long long)m->u.error.code,
			m->u.error.message);
		break;
	}
	if (err < 0)
		fatal_store(sup, job, proto_type_name(m->type), err);
}

static void pipe_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	Child *c = h->data;
	(void)suggested;
	buf->base = c->sup->readbuf;
	buf->len = sizeof c->sup->readbuf;
}

static void pipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	Child *c = s->data;
	if (nread > 0 && !c->protocol_error) {
		char msg[160] = "";
		if (proto_decoder_feed(c->dec, buf->base, (size_t)nread) < 0) {
			child_protocol_error(c, "stream already broken");
		} else {
			Msg m;
			int r;
			while (!c->protocol_error &&
			       (r = proto_decoder_next(c->dec, &m, msg, sizeof msg)) != 0) {
				if (r < 0) {
					child_protocol_error(c, msg[0] ? msg : "malformed frame");
					break;
				}
				on_frame(c, &m);
			}
		}
	}
	if (nread < 0 || c->protocol_error) {
		if (nread < 0 && nread != UV_EOF)
			sup_log(c->sup, c->job, c, "report pipe: %s", uv_strerror((int)nread));
		size_t pending = proto_decoder_pending(c->dec);
		if (nread == UV_EOF && pending > 0) {
			char msg[96];
			snprintf(msg, sizeof msg, "stream ended mid-frame (%zu bytes pending)", pending);
			child_protocol_error(c, msg);
		}
		uv_read_stop(s);
		c->pipe_done = 1;
		child_close_pipe(c);
		child_finish(c);
	}
}

static void exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
	Child *c = p->data;
	c->exited = 1;
	c->exit_status = exit_status;
	c->term_signal = term_signal;
	uv_timer_stop(&c->poll);
	child_finish(c);
}

/* Holds a worker's device bytes (from NVML or its own heartbeat) against
 * budget.vram: over it, SIGKILL at once, like the RSS budget. */
static void check_vram(Sup *sup, Child *c, uint64_t bytes, const char *source)
{
	char b1[32], b2[32];

	if (bytes > c->peak_vram)
		c->peak_vram = bytes;
	if (!sup->cfg.budget_vram || bytes <= sup->cfg.budget_vram || c->killed_budget ||
	    c->exited || c->got_result)
		return;
	c->killed_budget = 1;
	snprintf(c->detail, sizeof c->detail, "device memory %s (%s) over budget.vram %s",
		 fmt_bytes(bytes, b1, sizeof b1), source,
		 fmt_bytes(sup->cfg.budget_vram, b2, sizeof b2));
	sup_log(sup, c->job, c, "%s at batch %d: SIGKILL", c->detail, c->batch_size);
	child_kill(c);
}

static void poll_cb(uv_timer_t *t)
{
	Child *c = t->data;
	Sup *sup = c->sup;
	char b1[32], b2[32];
	if (c->exited)
		return;
	uint64_t now = uv_now(&sup->loop);
	uint64_t rss = 0;
	/* After the result frame the work is delivered and the worker is
	 * exiting: memory touched while its libraries tear down is neither
	 * sampled nor held against the budget. A zombie's statm reads 0. */
	if (!c->got_result && read_rss(c->pid, &rss) == 0 && rss > 0) {
		c->rss = rss;
		if (rss > c->peak_rss)
			c->peak_rss = rss;
		uint64_t budget = sup->cfg.budget_rss;
		if (budget && rss > budget && !c->killed_budget) {
			c->killed_budget = 1;
			snprintf(c->detail, sizeof c->detail, "rss %s over budget.rss %s",
				 fmt_bytes(rss, b1, sizeof b1), fmt_bytes(budget, b2, sizeof b2));
			sup_log(sup, c->job, c, "%s at batch %d: SIGKILL", c->detail, c->batch_size);
			child_kill(c);
			return;
		}
		/* SIGUSR1 only after hello: before it the worker may not have
		 * installed its handler yet, and the signal would kill it. */
		if (budget && c->got_hello && !c->usr1_sent &&
		    (double)rss > sup->cfg.soft_fraction * (double)budget) {
			c->usr1_sent = 1;
			sup_log(sup, c->job, c, "rss %s above %.0f%% of budget.rss %s: SIGUSR1 (checkpoint now)",
				fmt_bytes(rss, b1, sizeof b1), sup->cfg.soft_fraction * 100.0,
				fmt_bytes(budget, b2, sizeof b2));
			kill(c->pid, SIGUSR1);
		}
		if (c->attempt_id > 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			StoreSample smp = {
				.t = (double)ts.tv_sec + ts.tv_nsec * 1e-9,
				.rss = rss,
				.vram = c->hb.bytes_device > 0 ? (uint64_t)c->hb.bytes_device : 0,
				.bytes_replay = (uint64_t)(c->hb.bytes_replay > 0 ? c->hb.bytes_replay : 0),
				.bytes_activations = (uint64_t)(c->hb.bytes_activations > 0 ? c->hb.bytes_activations : 0),
				.bytes_weights = (uint64_t)(c->hb.bytes_weights > 0 ? c->hb.bytes_weights : 0),
				.bytes_device = (uint64_t)(c->hb.bytes_device > 0 ? c->hb.bytes_device : 0),
			};
			int err = store_sample(sup->store, c->attempt_id, &smp);
			if (err < 0)
				fatal_store(sup, c->job, "store_sample", err);
		}
	}
	/* NVML: one refresh per poll period for all workers, then a lookup. */
	if (sup->nvml && !c->got_result && !c->killed_budget) {
		if (now - sup->nvml_at >= (uint64_t)sup->cfg.poll_ms || sup->nvml_at == 0) {
			if (nvml_refresh(sup->nvml) < 0) {
				sup_log(sup, NULL, NULL, "NVML stopped answering: using the workers' own reports");
				nvml_close(sup->nvml);
				sup->nvml = NULL;
			}
			sup->nvml_at = now;
		}
		if (sup->nvml)
			check_vram(sup, c, (uint64_t)nvml_process_bytes(sup->nvml, c->pid), "NVML");
		if (c->killed_budget)
			return;
	}
	double hang_ms = sup->cfg.hang_timeout * 1000.0;
	if (hang_ms > 0 && (double)(now - c->last_frame_ms) > hang_ms && !c->killed_hang &&
	    !c->killed_budget) {
		c->killed_hang = 1;
		snprintf(c->detail, sizeof c->detail, "no heartbeat for %g s", sup->cfg.hang_timeout);
		sup_log(sup, c->job, c, "hung: %s: SIGKILL", c->detail);
		child_kill(c);
	}
}

/* Picks the checkpoint to resume from: the recorded one if its checksum
 * matches; else its ".prev" (the worker renames the old one there before
 * the new one is recorded) if that matches; else none (start over). */
static const char *resume_path(Sup *sup, Job *job, char *buf, size_t len)
{
	if (!job->ckpt_path || !job->ckpt_path[0])
		return NULL;
	uint32_t crc;
	if (file_crc(job->ckpt_path, &crc) == 0 && crc == job->ckpt_checksum)
		return job->ckpt_path;
	snprintf(buf, len, "%s.prev", job->ckpt_path);
	if (file_crc(buf, &crc) == 0 && crc == job->ckpt_checksum)
		return buf;
	sup_log(sup, job, NULL, "checkpoint %s does not match its recorded checksum %08x: starting over",
		job->ckpt_path, job->ckpt_checksum);
	return NULL;
}

/* Starts an attempt for job on device gpu. Returns 0, or a negative errno
 * (spawn failed; logged). */
static int spawn_child(Sup *sup, Job *job, int gpu)
{
	char bs[64], cuda_env[64], prev[PATH_MAX + 8];
	/* Every --set pair, plus at most 22 fixed arguments and the NULL. */
	const char **argv = calloc(2 * (size_t)sup->opt->n_sets + 24, sizeof *argv);
	char **env = NULL;
	int argc = 0, rc = 0;
	Child *c = calloc(1, sizeof *c);
	if (!c || !argv) {
		free(c);
		free(argv);
		return -ENOMEM;
	}
	c->sup = sup;
	c->job = job;
	c->gpu = gpu;
	c->batch_size = job->batch_size;
	c->dec = proto_decoder_new();
	if (!c->dec) {
		free(c);
		free(argv);
		return -ENOMEM;
	}

	argv[argc++] = sup->worker;
	argv[argc++] = "--config";
	argv[argc++] = sup->config_abs;
	for (int i = 0; i < sup->opt->n_sets; i++) {
		argv[argc++] = "--set";
		argv[argc++] = sup->opt->sets[i];
	}
	snprintf(bs, sizeof bs, "rewts.batch_size=%d", job->batch_size);
	argv[argc++] = "--set";
	argv[argc++] = bs;
	if (gpu == PLACEMENT_CPU) {
		argv[argc++] = "--set";
		argv[argc++] = "run.device=cpu";
	}
	argv[argc++] = "--ticker";
	argv[argc++] = job->ticker;
	argv[argc++] = "--data";
	argv[argc++] = job->data_path;
	if (job->signals_path && job->signals_path[0]) {
		argv[argc++] = "--signals";
		argv[argc++] = job->signals_path;
	}
	argv[argc++] = "--out";
	argv[argc++] = sup->out_dir;
	const char *resume = resume_path(sup, job, prev, sizeof prev);
	if (resume) {
		argv[argc++] = "--resume";
		argv[argc++] = resume;
	}
	argv[argc++] = "--report-fd";
	argv[argc++] = "3";
	argv[argc] = NULL;

	/* The environment, with CUDA_VISIBLE_DEVICES naming the one device
	 * (empty: no GPU at all for a CPU worker). */
	extern char **environ;
	int n_env = 0;
	while (environ[n_env])
		n_env++;
	env = calloc((size_t)n_env + 2, sizeof *env);
	if (!env) {
		rc = -ENOMEM;
		goto out;
	}
	int k = 0;
	for (int i = 0; i < n_env; i++)
		if (strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21))
			env[k++] = environ[i];
	if (gpu == PLACEMENT_CPU)
		snprintf(cuda_env, sizeof cuda_env, "CUDA_VISIBLE_DEVICES=");
	else
		snprintf(cuda_env, sizeof cuda_env, "CUDA_VISIBLE_DEVICES=%d", gpu);
	env[k++] = cuda_env;
	env[k] = NULL;

	/* Worker stdout/stderr go to OUT/workers.log, one file opened once for
	 * the run (the worker names its pid and ticker in what it prints):
	 * creating a file per ticker cost more than the rest of a trivial
	 * job's bookkeeping on ext4. */
	int logfd = sup->worker_log;

	uv_stdio_container_t stdio[4];
	stdio[0].flags = UV_IGNORE;
	if (logfd >= 0) {
		stdio[1].flags = UV_INHERIT_FD;
		stdio[1].data.fd = logfd;
		stdio[2].flags = UV_INHERIT_FD;
		stdio[2].data.fd = logfd;
	} else {
		stdio[1].flags = UV_INHERIT_FD;
		stdio[1].data.fd = 1;
		stdio[2].flags = UV_INHERIT_FD;
		stdio[2].data.fd = 2;
	}
	uv_pipe_init(&sup->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->handles_open++;
	stdio[3].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[3].data.stream = (uv_stream_t *)&c->pipe;

	uv_process_options_t po;
	memset(&po, 0, sizeof po);
	po.file = sup->worker;
	po.args = (char **)argv;
	po.env = env;
	po.exit_cb = exit_cb;
	po.stdio = stdio;
	po.stdio_count = 4;
	c->proc.data = c;
	uv_update_time(&sup->loop);
	c->start_ms = c->last_frame_ms = uv_now(&sup->loop);
	c->start_ns = uv_hrtime();
	int r = uv_spawn(&sup->loop, &c->proc, &po);
	c->handles_open++;
	if (r < 0) {
		sup_log(sup, job, NULL, "spawn %s failed: %s", sup->worker, uv_strerror(r));
		fprintf(stderr, "tickervisor: %s: spawn %s: %s\n", job->ticker, sup->worker,
			uv_strerror(r));
		uv_close((uv_handle_t *)&c->proc, child_close_cb);
		uv_close((uv_handle_t *)&c->pipe, child_close_cb);
		rc = r;
		goto out;
	}
	c->pid = c->proc.pid;
	set_oom_score(c->pid);
	uv_timer_init(&sup->loop, &c->poll);
	c->poll.data = c;
	c->handles_open++;
	uv_timer_start(&c->poll, poll_cb, (uint64_t)sup->cfg.poll_ms, (uint64_t)sup->cfg.poll_ms);
	uv_read_start((uv_stream_t *)&c->pipe, pipe_alloc_cb, pipe_read_cb);

	job->child = c;
	job->attempts++;
	job->state = JOB_RUNNING;
	sup->n_children++;
	if (gpu == PLACEMENT_CPU) {
		sup->cpu_running++;
	} else {
		for (int i = 0; i < sup->n_gpus; i++)
			if (sup->slots[i].device == gpu) {
				sup->slots[i].running++;
				sup->slots[i].vram_committed += sup->cfg.budget_vram;
			}
	}
	sup_txn(sup);
	int err = store_attempt_begin(sup->store, job->id, c->pid, gpu, job->batch_size,
				      &c->attempt_id);
	if (err < 0) {
		c->attempt_id = 0;
		fatal_store(sup, job, "store_attempt_begin", err);
	}
	char where[32];
	if (gpu == PLACEMENT_CPU)
		snprintf(where, sizeof where, "cpu");
	else
		snprintf(where, sizeof where, "gpu %d", gpu);
	sup_log(sup, job, c, "started batch %d on %s", job->batch_size, where);
	if (resume)
		sup_log(sup, job, c, "resuming from %s", resume);
	c = NULL;
out:
	free(env);
	free(argv);
	if (c && rc < 0 && c->handles_open == 0) {
		proto_decoder_free(c->dec);
		free(c);
	}
	return rc;
}

static void sched_timer_cb(uv_timer_t *t)
{
	schedule(t->data);
}

/* Starts what can start; arms the timer for the earliest back-off; ends the
 * loop (closes the global handles) when nothing is left to do. */
static void schedule(Sup *sup)
{
	if (sup->globals_closed)
		return;
	uint64_t now = uv_now(&sup->loop);
	uint64_t wake = UINT64_MAX;
	int waiting = 0;
	if (!sup->stopping) {
		for (int i = 0; i < sup->n_jobs; i++) {
			Job *job = &sup->jobs[i];
			if (job->state != JOB_PENDING || job->child || job->paused)
				continue;
			if (job->not_before > now) {
				waiting = 1;
				if (job->not_before < wake)
					wake = job->not_before;
				continue;
			}
			int dev;
			if (placement_pick(sup->slots, sup->n_gpus, sup->cfg.workers_per_gpu,
					   sup->cfg.budget_vram, sup->cpu_running, sup->cfg.parallel,
					   &dev) < 0) {
				waiting = 1;
				break;
			}
			if (spawn_child(sup, job, dev) < 0) {
				/* A worker that cannot be started at all: stop the run. */
				sup->fatal = 1;
				sup->stopping = 1;
				break;
			}
			if (sup->stopping)
				break;
		}
	}
	if (!sup->stopping && waiting && wake != UINT64_MAX)
		uv_timer_start(&sup->sched_timer, sched_timer_cb, wake - now, 0);
	if (sup->n_children == 0 && (sup->stopping || !waiting))
		sup_close_globals(sup);
}

/* ---- signals, timers, the terminal ---- */

static void render_tty(Sup *sup)
{
	struct winsize ws;
	int width = 100;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		width = ws.ws_col;
	StatusOptions so = { .json = 0, .width = width, .color = 1, .bars = 1, .now = 0 };
	fputs("\033[H\033[J", stdout);
	status_render(sup->store, stdout, &so);
	fputc('\n', stdout);
	for (int i = 0; i < sup->n_events; i++)
		fprintf(stdout, "%.*s\n", width > 0 ? width : RUN_EVENT_LEN, sup->events[i]);
	fflush(stdout);
}

static void flush_cb(uv_timer_t *t)
{
	Sup *sup = t->data;
	sup_txn(sup);
	int err = store_flush(sup->store);
	if (err < 0)
		fatal_store(sup, NULL, "store_flush", err);
	if (sup->tty) {
		/* status_render() takes its own read snapshot (store_begin), which
		 * cannot nest inside the iteration's open transaction. */
		sup_commit(sup);
		render_tty(sup);
	}
}

/* SIGINT, SIGTERM and SIGHUP (the terminal closed) stop the run; a second
 * one kills. SIGUSR1 (Slurm's warning before the time limit or a
 * preemption) stops it too, but never kills: the workers must have time to
 * write their checkpoints. SIGUSR2 is logged and ignored (its default
 * action would end the supervisor and orphan the workers). */
static void signal_cb(uv_signal_t *h, int signum)
{
	Sup *sup = h->data;
	if (signum == SIGUSR2 || (signum == SIGUSR1 && sup->stopping)) {
		sup_log(sup, NULL, NULL, "%s: ignored%s", strsignal(signum),
			sup->stopping ? " (already stopping)" : "");
		return;
	}
	if (!sup->stopping) {
		sup->stopping = 1;
		uv_timer_stop(&sup->sched_timer);
		sup_log(sup, NULL, NULL, "%s: stopping; %d worker%s asked to checkpoint and exit (%s)",
			strsignal(signum), sup->n_children, sup->n_children == 1 ? "" : "s",
			signum == SIGUSR1 ? "SIGINT/SIGTERM to kill" : "again to kill");
		for (int i = 0; i < sup->n_jobs; i++) {
			Child *c = sup->jobs[i].child;
			if (c && !c->exited && !c->term_sent) {
				c->term_sent = 1;
				kill(c->pid, SIGTERM);
			}
		}
		schedule(sup);
		return;
	}
	/* Second signal: kill everything and leave now. */
	sup->aborted = 1;
	sup_log(sup, NULL, NULL, "%s again: killing %d worker%s", strsignal(signum),
		sup->n_children, sup->n_children == 1 ? "" : "s");
	for (int i = 0; i < sup->n_jobs; i++) {
		Child *c = sup->jobs[i].child;
		if (c && !c->exited)
			kill(c->pid, SIGKILL);
	}
	uv_stop(&sup->loop);
}

static void global_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void sup_close_globals(Sup *sup)
{
	if (sup->globals_closed)
		return;
	sup->globals_closed = 1;
	uv_close((uv_handle_t *)&sup->sigint, global_close_cb);
	uv_close((uv_handle_t *)&sup->sigterm, global_close_cb);
	for (int i = 0; i < 3; i++)
		uv_close((uv_handle_t *)&sup->sig_more[i], global_close_cb);
	uv_close((uv_handle_t *)&sup->sched_timer, global_close_cb);
	uv_close((uv_handle_t *)&sup->flush_timer, global_close_cb);
	uv_close((uv_handle_t *)&sup->commit_check, global_close_cb);
}

/* Closes whatever is still open after an abort. */
static void close_walk_cb(uv_handle_t *h, void *arg)
{
	Sup *sup = arg;
	if (uv_is_closing(h))
		return;
	if (h == (uv_handle_t *)&sup->sigint || h == (uv_handle_t *)&sup->sigterm ||
	    h == (uv_handle_t *)&sup->sched_timer || h == (uv_handle_t *)&sup->flush_timer ||
	    h == (uv_handle_t *)&sup->commit_check ||
	    h == (uv_handle_t *)&sup->sig_more[0] || h == (uv_handle_t *)&sup->sig_more[1] ||
	    h == (uv_handle_t *)&sup->sig_more[2]) {
		uv_close(h, global_close_cb);
		return;
	}
	uv_close(h, child_close_cb);
}

/* ---- the run ---- */

/* Loads the run's jobs from the store into sup->jobs (only the tickers
 * of this run, whose ids are in ids[0..n), sorted). */
static int load_jobs(Sup *sup, int64_t *ids, int n)
{
	int err = store_jobs_load(sup->store, &sup->list);
	if (err < 0)
		return err;
	qsort(ids, (size_t)n, sizeof *ids, cmp_i64);
	sup->jobs = calloc((size_t)n, sizeof *sup->jobs);
	if (!sup->jobs)
		return -ENOMEM;
	sup->n_jobs = 0;
	for (int i = 0; i < sup->list->n; i++) {
		const JobRow *r = &sup->list->rows[i];
		if (!bsearch(&r->id, ids, (size_t)n, sizeof *ids, cmp_i64))
			continue;
		Job *j = &sup->jobs[sup->n_jobs++];
		j->id = r->id;
		j->ticker = r->ticker;
		j->data_path = r->data_path;
		j->signals_path = r->signals_path;
		j->ckpt_path = r->ckpt_path[0] ? strdup(r->ckpt_path) : NULL;
		j->ckpt_checksum = r->ckpt_checksum;
		j->state = r->state;
		j->batch_size = r->batch_size > 0 ? r->batch_size : sup->cfg.batch_size;
		j->charged = r->charged_attempts;
		j->attempts = r->attempts;
		j->reason = r->last_reason[0] ? strdup(r->last_reason) : NULL;
	}
	return 0;
}

static void free_jobs(Sup *sup)
{
	for (int i = 0; i < sup->n_jobs; i++) {
		free(sup->jobs[i].ckpt_path);
		free(sup->jobs[i].reason);
	}
	free(sup->jobs);
	sup->jobs = NULL;
	sup->n_jobs = 0;
	store_jobs_free(sup->list);
	sup->list = NULL;
}

/* Registers the tickers as jobs; applies --retrain / --retry-failed.
 * Returns 0 or a negative errno (message printed). */
static int prepare_jobs(Sup *sup, char **names, int n)
{
	int rc = 0;
	JobSpec *specs = calloc((size_t)n, sizeof *specs);
	char **paths = calloc((size_t)n * 2, sizeof *paths);
	int64_t *ids = calloc((size_t)n, sizeof *ids);
	if (!specs || !paths || !ids) {
		rc = -ENOMEM;
		fprintf(stderr, "tickervisor: out of memory\n");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (asprintf(&paths[2 * i], "%s/%s.csv", sup->cfg.data_dir, names[i]) < 0) {
			paths[2 * i] = NULL;
			rc = -ENOMEM;
			goto out;
		}
		if (sup->cfg.signals_dir[0]) {
			if (asprintf(&paths[2 * i + 1], "%s/%s.csv", sup->cfg.signals_dir, names[i]) < 0) {
				paths[2 * i + 1] = NULL;
				rc = -ENOMEM;
				goto out;
			}
			if (access(paths[2 * i + 1], R_OK) < 0) {
				free(paths[2 * i + 1]);
				paths[2 * i + 1] = NULL;
			}
		}
		specs[i].ticker = names[i];
		specs[i].data_path = paths[2 * i];
		specs[i].signals_path = paths[2 * i + 1];
		specs[i].initial_batch = sup->cfg.batch_size;
	}
	rc = store_job_upsert_many(sup->store, specs, n, ids);
	if (rc < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
		goto out;
	}
	if (sup->opt->retry_failed) {
		int nreq = 0;
		rc = store_jobs_requeue_failed(sup->store, &nreq);
		if (rc < 0) {
			fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
			goto out;
		}
	}
	if (sup->opt->retrain) {
		JobList *list = NULL;
		rc = store_jobs_load(sup->store, &list);
		if (rc < 0) {
			fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
			goto out;
		}
		qsort(ids, (size_t)n, sizeof *ids, cmp_i64);
		rc = store_begin(sup->store);
		for (int i = 0; rc >= 0 && i < list->n; i++) {
			const JobRow *r = &list->rows[i];
			if (!bsearch(&r->id, ids, (size_t)n, sizeof *ids, cmp_i64))
				continue;
			/* Start where the batch size fit last time, else the config's. */
			int b = r->fit_batch_size > 0 ? r->fit_batch_size : sup->cfg.batch_size;
			rc = store_job_retrain(sup->store, r->id, b);
		}
		store_jobs_free(list);
		if (rc >= 0)
			rc = store_commit(sup->store);
		else
			store_rollback(sup->store);
		if (rc < 0) {
			fprintf(stderr, "tickervisor: retrain: %s\n", store_errmsg(sup->store));
			goto out;
		}
	}
	rc = load_jobs(sup, ids, n);
	if (rc < 0)
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
out:
	if (paths)
		for (int i = 0; i < 2 * n; i++)
			free(paths[i]);
	free(paths);
	free(specs);
	free(ids);
	return rc;
}

int run_parse_args(int argc, char **argv, RunOptions *ret_opt,
                   const char **sets_buf, int sets_cap, char *err, size_t errlen)
{
	RunOptions o;
	memset(&o, 0, sizeof o);
	o.sets = sets_buf;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--db") || !strcmp(a, "--set") || !strcmp(a, "--worker") ||
		    !strcmp(a, "--shard") || !strcmp(a, "--shards")) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "%s needs a value", a);
				return -EINVAL;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--db")) {
				o.db_path = v;
			} else if (!strcmp(a, "--worker")) {
				o.worker_path = v;
			} else if (!strcmp(a, "--shard")) {
				o.shard = v;
			} else if (!strcmp(a, "--shards")) {
				o.shards = v;
			} else {
				if (o.n_sets >= sets_cap) {
					snprintf(err, errlen, "too many --set (at most %d)", sets_cap);
					return -EINVAL;
				}
				sets_buf[o.n_sets++] = v;
			}
		} else if (!strncmp(a, "--db=", 5)) {
			o.db_path = a + 5;
		} else if (!strncmp(a, "--shard=", 8)) {
			o.shard = a + 8;
		} else if (!strncmp(a, "--shards=", 9)) {
			o.shards = a + 9;
		} else if (!strcmp(a, "--retrain")) {
			o.retrain = 1;
		} else if (!strcmp(a, "--retry-failed")) {
			o.retry_failed = 1;
		} else if (a[0] == '-' && a[1]) {
			snprintf(err, errlen, "unknown option '%s'", a);
			return -EINVAL;
		} else if (!o.config_path) {
			o.config_path = a;
		} else {
			snprintf(err, errlen, "unexpected argument '%s'", a);
			return -EINVAL;
		}
	}
	if (!o.config_path) {
		snprintf(err, errlen, "missing CONFIG");
		return -EINVAL;
	}
	*ret_opt = o;
	return 0;
}

int run_main(const RunOptions *opt)
{
	Sup *sup = calloc(1, sizeof *sup);
	char err[STORE_ERR_MAX + 256];
	char **names = NULL;
	int n_names = 0, rc = RUN_EXIT_OK, loop_ready = 0;
	char *config_text = NULL;
	size_t config_len = 0;
	if (!sup) {
		fprintf(stderr, "tickervisor: out of memory\n");
		return RUN_EXIT_USAGE;
	}
	sup->opt = opt;
	sup->worker_log = -1;
	signal(SIGPIPE, SIG_IGN);
	/* Each attempt allocates and frees a decoder buffer (64 KiB) and
	 * more: without this, glibc gives the heap top back with brk and
	 * takes it again for every worker (a TLB flush each time). */
	mallopt(M_TRIM_THRESHOLD, 16 << 20);

	/* Configuration: everything is checked before anything is created. */
	config_defaults(&sup->cfg);
	err[0] = '\0';
	if (config_load(&sup->cfg, opt->config_path, err, sizeof err) < 0) {
		fprintf(stderr, "tickervisor: %s\n", err);
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	for (int i = 0; i < opt->n_sets; i++)
		if (config_set(&sup->cfg, opt->sets[i], err, sizeof err) < 0) {
			fprintf(stderr, "tickervisor: %s\n", err);
			rc = RUN_EXIT_USAGE;
			goto out;
		}
	if (config_validate(&sup->cfg, err, sizeof err) < 0) {
		fprintf(stderr, "tickervisor: %s\n", err);
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	if (!realpath(opt->config_path, sup->config_abs)) {
		fprintf(stderr, "tickervisor: %s: %s\n", opt->config_path, strerror(errno));
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	int detected = detect_gpus();
	if (placement_parse_visible(sup->cfg.gpus, detected, getenv("CUDA_VISIBLE_DEVICES"),
				    sup->gpu_ids, PLACEMENT_MAX_GPUS, &sup->n_gpus, err, sizeof err) < 0) {
		fprintf(stderr, "tickervisor: %s: %s\n", opt->config_path, err);
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	for (int i = 0; i < sup->n_gpus; i++)
		sup->slots[i] = (PlacementSlot){ .device = sup->gpu_ids[i] };
	if (sup->n_gpus > 0) {
		char why[256];

		sup->nvml = nvml_open(why, sizeof why);
		if (sup->nvml)
			fprintf(stderr, "tickervisor: NVML: %d device(s); budget.vram is held against "
				"each worker's device memory as the driver counts it\n",
				nvml_device_count(sup->nvml));
		else
			fprintf(stderr, "tickervisor: %s; budget.vram uses the workers' own reports\n", why);
	}
	if (find_worker(opt->worker_path, sup->worker, sizeof sup->worker) < 0) {
		fprintf(stderr, "tickervisor: worker binary '%s': %s (set TV_WORKER)\n",
			sup->worker, strerror(errno));
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	n_names = list_tickers(&sup->cfg, &names, err, sizeof err);
	if (n_names < 0) {
		fprintf(stderr, "tickervisor: %s: %s\n", opt->config_path, err);
		n_names = 0;
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	char shard_sfx[64];
	if (keep_shard(opt, names, &n_names, shard_sfx, sizeof shard_sfx) < 0) {
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	if (n_names == 0)
		goto out;  /* none of the run's tickers is in this shard: it is done */
	int e = mkdir_p(sup->cfg.out_dir);
	if (e < 0 || !realpath(sup->cfg.out_dir, sup->out_dir)) {
		fprintf(stderr, "tickervisor: run.out_dir '%s': %s\n", sup->cfg.out_dir,
			strerror(e < 0 ? -e : errno));
		rc = RUN_EXIT_USAGE;
		goto out;
	}

	/* The database: one writer. */
	char logpath[PATH_MAX + 64];
	snprintf(logpath, sizeof logpath, "%s/workers%s.log", sup->out_dir, shard_sfx);
	char dbpath[PATH_MAX + 64];
	if (opt->db_path)
		snprintf(dbpath, sizeof dbpath, "%s", opt->db_path);
	else
		snprintf(dbpath, sizeof dbpath, "%s/tickervisor%s.db", sup->out_dir, shard_sfx);
	if (store_open(dbpath, 1, &sup->store, err, sizeof err) < 0) {
		fprintf(stderr, "tickervisor: %s\n", err);
		rc = RUN_EXIT_STORE;
		goto out;
	}
	int n_lost = 0;
	if (store_recover(sup->store, &n_lost) < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
		rc = RUN_EXIT_STORE;
		goto out;
	}
	FILE *mf = open_memstream(&config_text, &config_len);
	if (!mf || config_write(&sup->cfg, mf) < 0 || fclose(mf) != 0) {
		fprintf(stderr, "tickervisor: cannot write the configuration text\n");
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	StoreRunInfo info = {
		.host = host,
		.pid = getpid(),
		.name = sup->cfg.name,
		.config_text = config_text,
		.budget_rss = sup->cfg.budget_rss,
		.budget_vram = sup->cfg.budget_vram,
	};
	if (store_run_begin(sup->store, &info, &sup->run_id) < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
		rc = RUN_EXIT_STORE;
		goto out;
	}
	if (prepare_jobs(sup, names, n_names) < 0) {
		rc = RUN_EXIT_STORE;
		goto out;
	}
	sup->worker_log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);

	sup->tty = isatty(STDOUT_FILENO);
	{
		char b1[32];
		int n_done = 0;
		for (int i = 0; i < sup->n_jobs; i++)
			n_done += sup->jobs[i].state == JOB_DONE;
		sup_log(sup, NULL, NULL, "run %lld: %d tickers (%d already done), parallel %d, %s, "
			"budget.rss %s, db %s%s", (long long)sup->run_id, sup->n_jobs, n_done,
			sup->cfg.parallel, sup->n_gpus ? "gpus" : "cpu",
			sup->cfg.budget_rss ? fmt_bytes(sup->cfg.budget_rss, b1, sizeof b1) : "none",
			dbpath, n_lost ? " (recovered attempts of a lost supervisor)" : "");
		for (int i = 0; i < sup->n_jobs; i++)
			if (sup->jobs[i].state == JOB_FAILED)
				sup_log(sup, &sup->jobs[i], NULL, "failed in an earlier run (use --retry-failed): %s",
					sup->jobs[i].reason ? sup->jobs[i].reason : "");
	}

	/* The loop. */
	if (uv_loop_init(&sup->loop) < 0) {
		rc = RUN_EXIT_STORE;
		goto out;
	}
	loop_ready = 1;
	uv_signal_init(&sup->loop, &sup->sigint);
	uv_signal_init(&sup->loop, &sup->sigterm);
	sup->sigint.data = sup->sigterm.data = sup;
	uv_signal_start(&sup->sigint, signal_cb, SIGINT);
	uv_signal_start(&sup->sigterm, signal_cb, SIGTERM);
	static const int more[3] = { SIGHUP, SIGUSR1, SIGUSR2 };
	for (int i = 0; i < 3; i++) {
		uv_signal_init(&sup->loop, &sup->sig_more[i]);
		sup->sig_more[i].data = sup;
		uv_signal_start(&sup->sig_more[i], signal_cb, more[i]);
	}
	uv_timer_init(&sup->loop, &sup->sched_timer);
	uv_timer_init(&sup->loop, &sup->flush_timer);
	sup->sched_timer.data = sup->flush_timer.data = sup;
	uv_timer_start(&sup->flush_timer, flush_cb, 1000, 1000);
	uv_check_init(&sup->loop, &sup->commit_check);
	sup->commit_check.data = sup;
	uv_check_start(&sup->commit_check, commit_cb);
	uv_update_time(&sup->loop);
	schedule(sup);
	uv_run(&sup->loop, UV_RUN_DEFAULT);
	sup_commit(sup);
	if (sup->aborted) {
		/* Children were SIGKILLed: stop watching them and leave. */
		uv_walk(&sup->loop, close_walk_cb, sup);
		uv_run(&sup->loop, UV_RUN_DEFAULT);
		for (int i = 0; i < sup->n_jobs; i++)
			sup->jobs[i].child = NULL;
		rc = RUN_EXIT_ABORTED;
		goto out;
	}
	if (sup->tty)
		render_tty(sup);

	/* Summary. */
	{
		int n_done = 0, n_failed = 0, n_left = 0;
		for (int i = 0; i < sup->n_jobs; i++) {
			n_done += sup->jobs[i].state == JOB_DONE;
			n_failed += sup->jobs[i].state == JOB_FAILED;
			n_left += sup->jobs[i].state == JOB_PENDING || sup->jobs[i].state == JOB_RUNNING;
		}
		int flush_err = store_flush(sup->store);
		const char *outcome = sup->fatal ? "error" : sup->stopping ? "stopped" :
				      n_failed ? "failed" : "finished";
		if (flush_err < 0 || store_run_end(sup->store, sup->run_id, outcome) < 0) {
			fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
			sup->fatal = 1;
		}
		printf("run %lld %s: %d done, %d failed, %d not finished%s\n", (long long)sup->run_id,
		       outcome, n_done, n_failed, n_left,
		       sup->stopping && !sup->fatal ? " (run again to resume)" : "");
		for (int i = 0; i < sup->n_jobs; i++)
			if (sup->jobs[i].state == JOB_FAILED)
				printf("  FAILED %s: %s\n", sup->jobs[i].ticker,
				       sup->jobs[i].reason ? sup->jobs[i].reason : "(no reason)");
		fflush(stdout);
		if (sup->fatal)
			rc = RUN_EXIT_STORE;
		else if (n_failed)
			rc = RUN_EXIT_FAILED;
		else if (!sup->stopping && n_left)
			rc = RUN_EXIT_FAILED;
		else
			rc = RUN_EXIT_OK;
	}
out:
	if (loop_ready) {
		uv_walk(&sup->loop, close_walk_cb, sup);
		uv_run(&sup->loop, UV_RUN_DEFAULT);
		uv_loop_close(&sup->loop);
	}
	nvml_close(sup->nvml);
	if (store_close(sup->store) < 0 && rc == RUN_EXIT_OK)
		rc = RUN_EXIT_STORE;
	free_jobs(sup);
	for (int i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	free(config_text);
	if (sup->worker_log >= 0)
		close(sup->worker_log);
	free(sup);
	return rc;
}
