/* `tickervisor run`: the libuv loop that starts a fresh worker per attempt,
 * reads its reports, watches its memory and carries out the policy.
 *
 * Life of an attempt (a Child): its states and what each event does are
 * the table in child.c; here every libuv callback becomes an event
 * (child_event) and the actions the table returns are carried out:
 *   spawn (uv_spawn in a new session, report pipe on fd 3; started inside
 *   its own cgroup where cgroup v2 is writable, cgroup.h) ->
 *   store_attempt_begin -> frames (checked: numbers in range, files inside
 *   out_dir with their checksum; rate-limited rows) and memory polls (the
 *   tree's private RSS every poll_ms) -> exit and end of pipe, or the grace
 *   timer after the exit -> child_outcome + policy_decide ->
 *   store_attempt_end -> the Child's four handles are closed and it is
 *   freed in the last close callback.
 * A job (one per ticker) has at most one Child. The scheduler starts pending
 * jobs whose back-off has passed while placement gives a slot.
 *
 * Stopping (first SIGINT/SIGTERM): nothing new starts, each worker's group
 * gets SIGTERM (it checkpoints and exits 10), the loop waits for all of
 * them, flushes the store and returns 0. A second signal SIGKILLs every
 * worker's group and returns at once; the next run kills the cgroups and
 * groups a dead supervisor left and store_recover() closes what was open. */
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
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/checksum.h"
#include "common/config.h"
#include "common/exitcodes.h"
#include "common/proto.h"
#include "cgroup.h"
#include "child.h"
#include "memplan.h"
#include "placement.h"
#include "policy.h"
#include "run.h"
#include "shard.h"
#include "nvml.h"
#include "metrics.h"
#include "runstate.h"
#include "status.h"
#include "store.h"

/* Progress, checkpoint and error frames recorded (database and log) per
 * ticker per second, at most; the latest of the rest is kept for later. */
#define RUN_ROWS_PER_S 200
/* After the worker exited, how long the report pipe may stay open (held by
 * a descendant) before the attempt ends anyway. */
#define RUN_GRACE_MS 1000

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
	int ckpt_unrecorded;      /* ckpt_path is the worker's file, the database has none */
	MsgCheckpoint ckpt_pos;   /* its recorded position (path and checksum unused) */
	JobState state;
	/* What the next attempt trains with (memplan.h): batch_size,
	 * buffer_size, chunk_length and the rung. The one copy of the batch
	 * size during a run: the store only persists it (attempt begin and
	 * end) and gives it back at the next run's start. */
	MemShape shape;
	int charged;              /* charged attempts since the last (re)queue */
	int attempts;             /* attempts ever made (for the log) */
	int paused;               /* stopped by our stop: left for the next run */
	int drop_ckpt;            /* done: its checkpoints go once "done" is committed */
	uint64_t not_before;      /* uv_now() ms before which it must not start */
	char *reason;             /* last failure reason, NULL if none */
	Child *child;             /* the running attempt, NULL if none */
} Job;

/* One attempt: a worker process (the leader of its own session and
 * process group), its report pipe, its poll timer and the grace timer that
 * ends the attempt when the worker exited but something else still holds
 * the pipe. Its life cycle is c->m (child.h); the rest are the facts the
 * actions need. */
struct Child {
	Sup *sup;
	Job *job;
	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t poll;
	uv_timer_t grace;
	int handles_open;         /* handles not yet closed; freed at 0 */
	ProtoDecoder *dec;
	ChildMachine m;
	int64_t attempt_id;       /* 0 if store_attempt_begin failed */
	int pid;                  /* also the process group id */
	int gpu;                  /* PLACEMENT_CPU or a device id */
	uint64_t start_ms;        /* uv_now() at spawn */
	uint64_t start_ns;        /* uv_hrtime() just before uv_spawn (latency) */
	uint64_t last_frame_ms;   /* uv_now() of the last frame (or spawn) */
	uint64_t peak_rss;        /* bytes, max of the tree's samples */
	uint64_t cur_rss;         /* bytes, the latest sample (admission) */
	uint64_t peak_vram;       /* bytes, from heartbeats and NVML */
	int64_t oom_at_start;     /* the OOM counter at spawn, -1 if unreadable */
	MsgHeartbeat hb;          /* the last heartbeat */
	int64_t exit_status;
	int term_signal;
	/* Rate limit of database rows and log lines (progress, checkpoint,
	 * error): RUN_ROWS_PER_S per second; the latest frame over the limit
	 * waits in pending_* and is recorded at the next second or the end. */
	uint64_t rate_sec;
	int rate_rows;
	int64_t frames_dropped;
	int has_pending_progress, has_pending_ckpt;
	MsgProgress pending_progress;
	MsgCheckpoint pending_ckpt;
	/* A model accepted unchecked (our own shortage of descriptors): checked
	 * at the worker's exit, before it counts as done. */
	int model_unchecked;
	char unchecked_model[PROTO_STR];
	uint32_t unchecked_checksum;
	char cgroup[PATH_MAX];    /* its cgroup v2 folder (cgroup.h), "" = none */
	char detail[POLICY_REASON_MAX]; /* why we ended it, or the worker's error */
	char start_note[POLICY_REASON_MAX]; /* why it started over, "" if it did not */
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
	char *frozen;             /* the run's configuration text, what every worker gets */
	size_t frozen_len;
	int out_lock;             /* flock'd OUT/.tickervisor.lock, -1 if none */
	uint64_t busy_log_ms;     /* loop time of the last "database locked" line */
	int wal_over;             /* the WAL is past budget.wal (warned) */
	int spawn_fails;          /* transient spawn failures in a row */
	char warn_signals[1200];  /* the run's warning about missing signals files, "" if none */
	char worker[PATH_MAX];
	char out_dir[PATH_MAX];
	/* The process trees (cgroup.h): the cgroup2 mount, our own cgroup's
	 * folder in it, this run's folder ("" = none: process groups and the
	 * subreaper alone), why there is none, and the attempt folders made
	 * so far. */
	char cg_root[PATH_MAX];
	char cg_own[PATH_MAX];
	char cg_run[PATH_MAX];
	char cg_why[PATH_MAX + 64];
	int cg_seq;
	char self_exe[PATH_MAX];  /* our own executable: the start in a cgroup */
	Store *store;
	int64_t run_id;
	JobList *list;
	Job *jobs;
	int n_jobs;

	int gpu_ids[PLACEMENT_MAX_GPUS];
	PlacementSlot slots[PLACEMENT_MAX_GPUS];
	int n_gpus;
	Nvml *nvml;               /* per-process device memory; NULL: workers' reports only */
	char nvml_err[256];       /* why nvml is NULL */
	uint64_t nvml_at;         /* loop time of the last NVML refresh */
	int cpu_running;
	int n_children;
	int worker_log;           /* OUT/workers.log (O_APPEND), -1 if it cannot be opened */
	char oom_path[PATH_MAX];  /* the OOM kill counter read for evidence ("" = none) */
	const char *oom_source;   /* which counter that is, for reasons */
	/* Memory (memplan.h): the ladder, its floors, the limit on workers at
	 * once after a kernel OOM kill (0 = none), what the scheduler waits
	 * for ("" = nothing). */
	MemLadder ladder;
	MemFloors floors;
	int budget_auto;              /* bit 0: budget.rss was auto, bit 1: budget.vram */
	char cgroup_dir[PATH_MAX];    /* memplan_find_cgroup(), "" = no limit */
	int workers_limit;
	char mem_plan[512];
	char mem_wait[POLICY_REASON_MAX];

	int stopping;             /* 1 after the first signal */
	int aborted;              /* 1 after the second */
	int fatal;                /* a store failure: stop, exit non-zero */
	int tty;
	uint64_t metrics_at;      /* loop time of the last metrics file */
	int metrics_warned;       /* its failure was logged once */
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
	char line[2 * PATH_MAX];  /* whole paths: a cut line would hide why */
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

/* Escapes what a worker sent before it reaches a terminal, the log or the
 * database: bytes outside printable ASCII become \\xNN. Returns out. */
static const char *esc(const char *in, char *out, size_t len)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < len; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
	}
	out[o < len ? o : len - 1] = '\0';
	return out;
}

/* One process of the host, as the tree walk needs it. */
typedef struct ProcEntry {
	int pid, ppid, pgid, sid;
} ProcEntry;

/* Reads every process's pid, parent, group and session from /proc.
 * Returns the count (*ret malloc'd) or a negative errno. */
static int proc_scan(ProcEntry **ret)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	ProcEntry *v = NULL;
	int n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t k = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (k <= 0)
			continue;
		buf[k] = '\0';
		/* "pid (comm) state ppid pgrp session ...": comm may hold spaces. */
		char *rp = strrchr(buf, ')');
		ProcEntry pe;
		char st;
		if (!rp || sscanf(rp + 1, " %c %d %d %d", &st, &pe.ppid, &pe.pgid, &pe.sid) != 4)
			continue;
		pe.pid = atoi(e->d_name);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			ProcEntry *nv = realloc(v, sizeof *v * (size_t)cap);
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = pe;
	}
	closedir(d);
	*ret = v;
	return n;
}

/* The private resident memory of a worker's whole tree: the worker, every
 * process of its group or session, and every descendant of those (one
 * that left with setsid included). Returns 0 and *ret_bytes, or -ESRCH
 * when the worker itself is gone. */
static int tree_rss(int pid, uint64_t *ret_bytes)
{
	uint64_t total = 0, b;
	int err = read_rss(pid, &b);
	if (err < 0)
		return -ESRCH;
	total = b;
	ProcEntry *v = NULL;
	int n = proc_scan(&v);
	if (n > 0) {
		char *in = calloc((size_t)n, 1);
		if (in) {
			for (int i = 0; i < n; i++)
				in[i] = v[i].pid != pid && (v[i].pgid == pid || v[i].sid == pid ||
							     v[i].ppid == pid);
			for (int changed = 1; changed;) {
				changed = 0;
				for (int i = 0; i < n; i++) {
					if (in[i] || v[i].pid == pid)
						continue;
					for (int j = 0; j < n; j++)
						if (in[j] && v[j].pid == v[i].ppid) {
							in[i] = 1;
							changed = 1;
							break;
						}
				}
			}
			for (int i = 0; i < n; i++)
				if (in[i] && read_rss(v[i].pid, &b) == 0)
					total += b;
			free(in);
		}
		free(v);
	}
	*ret_bytes = total;
	return 0;
}

/* The supervisor is a child subreaper: a worker's descendant whose parent
 * died comes back to it. Every child of ours that is not a running worker
 * is such an escapee: it is killed and reaped here (libuv reaps only the
 * workers it spawned). Returns how many were found. */
static int sweep_escapees(const int *workers, int n_workers)
{
	ProcEntry *v = NULL;
	int n = proc_scan(&v), found = 0;
	int self = (int)getpid();
	for (int i = 0; i < n; i++) {
		if (v[i].ppid != self)
			continue;
		int ours = 0;
		for (int k = 0; k < n_workers; k++)
			ours |= workers[k] == v[i].pid;
		if (ours)
			continue;
		found++;
		kill(v[i].pid, SIGKILL);
		waitpid(v[i].pid, NULL, WNOHANG);
	}
	free(v);
	return found;
}

/* The OOM kill counter that attributes a SIGKILL nobody here sent:
 * $TV_OOM_EVENTS (a file in memory.events format, for tests), else the
 * oom_kill line of our memory cgroup (v2 memory.events, v1
 * memory.oom_control; workers inherit our cgroup), else /proc/vmstat's
 * host-wide oom_kill. Sets sup->oom_path ("" when none is readable). */
static int64_t read_oom_counter(const char *path);

static void find_oom_counter(char *path, size_t len, const char **source)
{
	const char *env = getenv("TV_OOM_EVENTS");
	if (env && *env) {
		snprintf(path, len, "%s", env);
		*source = "TV_OOM_EVENTS";
		return;
	}
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 64];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrl = c1 + 1, *cg = c2 + 1;
		if (!strcmp(line, "0") && !*ctrl)
			snprintf(path, len, "/sys/fs/cgroup%s%smemory.events", cg,
				 cg[strlen(cg) - 1] == '/' ? "" : "/"), *source = "cgroup memory.events";
		else if (strstr(ctrl, "memory"))
			snprintf(path, len, "/sys/fs/cgroup/memory%s%smemory.oom_control", cg,
				 cg[strlen(cg) - 1] == '/' ? "" : "/"), *source = "cgroup v1 memory.oom_control";
		else
			continue;
		if (read_oom_counter(path) >= 0)
			break;
		path[0] = '\0';
	}
	if (f)
		fclose(f);
	if (path[0])
		return;
	snprintf(path, len, "/proc/vmstat");
	*source = "/proc/vmstat";
	if (read_oom_counter(path) < 0)
		path[0] = '\0';
}

/* The "oom_kill N" line of such a file; -1 if there is none. */
static int64_t read_oom_counter(const char *path)
{
	if (!path[0])
		return -1;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[256];
	long long v = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "oom_kill %lld", &v) == 1)
			break;
	fclose(f);
	return v;
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
			{
				/* The names run.tickers would accept, no others. */
				char name[300], why[300];
				snprintf(name, sizeof name, "%.*s", (int)(len - 4), e->d_name);
				if (config_check_ticker(name, why, sizeof why) < 0) {
					rc = -EINVAL;
					snprintf(err, errlen, "run.data_dir '%s': file '%s': %s (rename it, or "
						 "list the tickers in run.tickers)", cfg->data_dir, e->d_name, why);
					closedir(d);
					goto out;
				}
			}
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
static void child_event(Child *c, ChildEvent ev, const Msg *m, const char *detail);

static void fatal_store(Sup *sup, const Job *job, const char *what, int err)
{
	sup_log(sup, job, job ? job->child : NULL, "store error in %s: %s (%s)", what,
		store_errmsg(sup->store), strerror(-err));
	if (!sup->fatal) {
		fprintf(stderr, "tickervisor: %s: %s\n", what, store_errmsg(sup->store));
		sup->fatal = 1;
		if (!sup->stopping) {
			sup->stopping = 1;
			for (int i = 0; i < sup->n_jobs; i++)
				if (sup->jobs[i].child)
					child_event(sup->jobs[i].child, CE_STOP, NULL, NULL);
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

static void child_finish(Child *c);
static void record_frame(Child *c, const Msg *m);
static void grace_cb(uv_timer_t *t);

/* Sends sig to the worker's whole process group. */
static void child_signal(Child *c, int sig)
{
	if (c->pid > 0)
		kill(-c->pid, sig);
}

/* The attempt's cgroup v2 folder (cgroup.h): made before the spawn; the
 * worker is started through cgroup_exec(), which joins it before the
 * worker's exec, so nothing the worker forks is ever outside it. Without
 * a folder the process group alone holds the tree. */
static void child_cgroup_make(Child *c)
{
	Sup *sup = c->sup;
	if (!sup->cg_run[0])
		return;
	snprintf(c->cgroup, sizeof c->cgroup, "%s/attempt-%d", sup->cg_run, ++sup->cg_seq);
	int err = cgroup_make(c->cgroup);
	if (err < 0) {
		sup_log(sup, c->job, NULL, "cannot create the cgroup %s: %s; this attempt's process "
			"group alone holds its tree", c->cgroup, strerror(-err));
		c->cgroup[0] = '\0';
	}
}

/* Kills what is left in the attempt's cgroup and removes it (waiting a
 * little for the killed to leave); what cannot be removed is left to the
 * next start, which finds it recorded. */
static void child_cgroup_end(Child *c)
{
	if (!c->cgroup[0])
		return;
	int r = cgroup_remove(c->cgroup, 200);
	if (r < 0 && r != -ENOENT)
		sup_log(c->sup, c->job, c, "cannot remove the cgroup %s: %s; the next run on this "
			"database removes it", c->cgroup, strerror(-r));
	c->cgroup[0] = '\0';
}

/* Feeds one event to the attempt's life cycle and carries out the actions.
 * detail: why (for our kills and protocol errors), kept when it is the
 * first reason; m: the frame, for CA_RECORD. */
static void child_event(Child *c, ChildEvent ev, const Msg *m, const char *detail)
{
	ChildKill kill_before = c->m.kill;
	unsigned a = child_step(&c->m, ev);
	/* Our reason for a kill replaces an earlier error frame's text. */
	if (c->m.kill != kill_before && c->m.kill != CK_DELIVERED && (c->m.why || detail))
		snprintf(c->detail, sizeof c->detail, "%s", c->m.why ? c->m.why : detail);
	if ((a & CA_RECORD) && m)
		record_frame(c, m);
	if (a & CA_PROTOCOL)
		sup_log(c->sup, c->job, c, "protocol error: %s; killing the worker", c->detail);
	else if (c->m.kill != kill_before && detail)
		sup_log(c->sup, c->job, c, "%s at batch %d: SIGKILL", detail, c->job->shape.batch_size);
	if (a & CA_SIGUSR1)
		kill(c->pid, SIGUSR1);    /* a request to the worker, not to its tree */
	if (a & CA_SIGTERM)
		child_signal(c, SIGTERM);
	if (a & CA_SIGKILL)
		child_signal(c, SIGKILL);
	if (a & CA_STOP_READ) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		if (!uv_is_closing((uv_handle_t *)&c->pipe))
			uv_close((uv_handle_t *)&c->pipe, child_close_cb);
	}
	if (a & CA_STOP_POLL)
		uv_timer_stop(&c->poll);
	if (a & CA_ARM_GRACE)
		uv_timer_start(&c->grace, grace_cb, RUN_GRACE_MS, 0);
	if (a & CA_FINISH)
		child_finish(c);
}

static const char *check_reported_file(Sup *sup, const char *what, const char *path,
				       uint32_t checksum, int is_ckpt, int *ret_stale,
				       int *ret_later, char *buf, size_t len);

/* Writes what waited for the rate limit (the latest progress and
 * checkpoint over it; the checkpoint is checked only now, so a flood costs
 * no file reads). */
static void flush_pending(Child *c)
{
	Sup *sup = c->sup;
	int err = 0;
	if (c->has_pending_progress && c->attempt_id > 0)
		err = store_progress(sup->store, c->job->id, c->attempt_id, &c->pending_progress);
	c->has_pending_progress = 0;
	if (err >= 0 && c->has_pending_ckpt) {
		Job *job = c->job;
		char why[POLICY_REASON_MAX];
		int stale = 0;
		int later = 0;
		c->has_pending_ckpt = 0;
		const char *bad = check_reported_file(sup, "checkpoint", c->pending_ckpt.path,
						      c->pending_ckpt.checksum, 1, &stale, &later,
						      why, sizeof why);
		if (later && c->m.state != CS_ENDED) {
			c->has_pending_ckpt = 1;   /* our shortage: checked at the next flush */
		} else if (later) {
			sup_log(sup, job, c, "last checkpoint frame not recorded: %s (the file stays for "
				"the next start)", why);
		} else if (bad && c->m.state != CS_ENDED) {
			child_event(c, CE_BAD_FRAME, NULL, bad);
		} else if (bad || stale) {
			sup_log(sup, job, c, "last checkpoint frame not recorded: %s",
				bad ? bad : "already replaced on disk");
		} else {
			sup_txn(sup);
			if (c->attempt_id > 0)
				err = store_checkpoint_add(sup->store, job->id, c->attempt_id, &c->pending_ckpt);
			if (err >= 0) {
				free(job->ckpt_path);
				job->ckpt_path = strdup(c->pending_ckpt.path);
				job->ckpt_unrecorded = 0;
				job->ckpt_checksum = c->pending_ckpt.checksum;
				job->ckpt_pos = c->pending_ckpt;
			}
		}
	}
	if (err < 0)
		fatal_store(sup, c->job, "flush of rate-limited frames", err);
	if (c->frames_dropped > 0) {
		sup_log(sup, c->job, c, "%lld frames over %d per second were not recorded one by one",
			(long long)c->frames_dropped, RUN_ROWS_PER_S);
		c->frames_dropped = 0;
	}
}

/* A done ticker's model is recorded: its checkpoint (and the one before
 * it) are no longer needed, unless run.keep_checkpoints = 1. Only once
 * "done" is in the database: while another program's lock keeps our
 * writes waiting, a crash would leave a ticker that is not done there and
 * has nothing to resume from. So: commit, and remove the files of every
 * done job once nothing waits (now, or at a later flush). */
static void remove_checkpoints(Sup *sup)
{
	char prev[PATH_MAX + 8];
	sup_commit(sup);
	if (store_pending_writes(sup->store) > 0)
		return;
	for (int i = 0; i < sup->n_jobs; i++) {
		Job *job = &sup->jobs[i];
		if (!job->drop_ckpt)
			continue;
		job->drop_ckpt = 0;
		if (!job->ckpt_path)
			continue;
		snprintf(prev, sizeof prev, "%s.prev", job->ckpt_path);
		int a = unlink(job->ckpt_path) == 0, b = unlink(prev) == 0;
		if (a || b)
			sup_log(sup, job, NULL, "checkpoint %s removed (run.keep_checkpoints = 1 keeps it)",
				job->ckpt_path);
	}
}

/* Removes OUT/TICKER.ckpt and its .prev (where the worker writes them):
 * a start from scratch must not find them again (unrecorded_checkpoint).
 * Returns how many were there. */
static int drop_checkpoint_files(const char *out_dir, const char *ticker)
{
	char path[PATH_MAX], prev[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/%s.ckpt", out_dir, ticker);
	snprintf(prev, sizeof prev, "%s.prev", path);
	return (unlink(path) == 0) + (unlink(prev) == 0);
}

/* ---- memory (the rules are memplan.c's; these carry them out) ---- */

/* budget.rss / budget.vram = auto -> numbers, the ladder and its floors;
 * n_tickers bounds the workers that run at once. Says what it chose. */
static void memory_plan(Sup *sup, int n_tickers)
{
	char why[400], src[PATH_MAX];
	memplan_ladder_parse(sup->cfg.ladder, &sup->ladder, why, sizeof why); /* config.c admits only valid ones */
	sup->floors = (MemFloors){ sup->cfg.min_batch_size, sup->cfg.min_buffer_size,
				   sup->cfg.min_chunk_length };
	int at_once = sup->n_gpus ? sup->n_gpus * sup->cfg.workers_per_gpu : sup->cfg.parallel;
	if (n_tickers > 0 && n_tickers < at_once)
		at_once = n_tickers;
	size_t n = 0;
	memplan_find_cgroup(sup->cgroup_dir, sizeof sup->cgroup_dir);
	if (sup->cfg.budget_rss == CONFIG_SIZE_AUTO) {
		MemFacts mf;
		memplan_read_facts(&mf, sup->cgroup_dir, src, sizeof src);
		sup->cfg.budget_rss = memplan_auto_budget(&mf, at_once, why, sizeof why);
		sup->budget_auto |= 1;
		n += (size_t)snprintf(sup->mem_plan + n, sizeof sup->mem_plan - n, "budget.rss %s", why);
	}
	if (sup->cfg.budget_vram == CONFIG_SIZE_AUTO && n < sizeof sup->mem_plan) {
		uint64_t bytes[PLACEMENT_MAX_GPUS];
		for (int i = 0; i < sup->n_gpus; i++)
			bytes[i] = sup->slots[i].vram_total;
		int per_device = sup->cfg.workers_per_gpu;
		if (n_tickers > 0 && n_tickers < per_device)
			per_device = n_tickers;
		sup->cfg.budget_vram = memplan_auto_vram(sup->gpu_ids, bytes, sup->n_gpus, per_device,
							 why, sizeof why);
		sup->budget_auto |= 2;
		n += (size_t)snprintf(sup->mem_plan + n, sizeof sup->mem_plan - n, "%sbudget.vram %s",
				      n ? "; " : "", why);
		if (sup->n_gpus && !sup->nvml && n < sizeof sup->mem_plan)
			snprintf(sup->mem_plan + n, sizeof sup->mem_plan - n, " (%s)", sup->nvml_err);
		else if (sup->n_gpus && !sup->cfg.budget_vram && n < sizeof sup->mem_plan)
			snprintf(sup->mem_plan + n, sizeof sup->mem_plan - n, " (NVML lists %d device%s)",
				 nvml_device_count(sup->nvml), nvml_device_count(sup->nvml) == 1 ? "" : "s");
	}
}

/* Records what the scheduler waits for ("" = nothing) when it changed. */
static void memory_wait(Sup *sup, const char *why)
{
	if (!strcmp(why, sup->mem_wait))
		return;
	if (why[0])
		sup_log(sup, NULL, NULL, "%s", why);
	else
		sup_log(sup, NULL, NULL, "memory holds the next worker again (was %s)", sup->mem_wait);
	snprintf(sup->mem_wait, sizeof sup->mem_wait, "%s", why);
	sup_txn(sup);
	int err = store_run_memory_set(sup->store, sup->run_id, NULL, why, -1);
	if (err < 0)
		fatal_store(sup, NULL, "store_run_memory_set", err);
}

/* May one more worker start, as far as memory goes? 1 yes; 0 no until a
 * worker ends (the limit after an OOM kill); -1 no until memory is freed
 * (the scheduler reads it again after MEMPLAN_RECHECK_MS). */
static int memory_admits(Sup *sup)
{
	char why[POLICY_REASON_MAX] = "";
	int ok = 1;
	if (sup->workers_limit && sup->n_children >= sup->workers_limit) {
		snprintf(why, sizeof why, "waiting for memory: at most %d worker%s at once since a kernel OOM kill",
			 sup->workers_limit, sup->workers_limit == 1 ? "" : "s");
		ok = 0;
	} else if (sup->cfg.budget_rss) {
		MemFacts mf;
		char src[PATH_MAX];
		uint64_t sum = 0;
		memplan_read_facts(&mf, sup->cgroup_dir, src, sizeof src);
		for (int i = 0; i < sup->n_jobs; i++)
			if (sup->jobs[i].child)
				sum += sup->jobs[i].child->cur_rss;
		if (!memplan_admit(memplan_available(&mf, NULL), sup->cfg.budget_rss, sup->n_children,
				   sum, why, sizeof why))
			ok = -1;
		else
			why[0] = '\0';
	}
	memory_wait(sup, why);
	return ok;
}

/* A kernel OOM kill: fewer workers at once for the rest of the run. */
static void memory_after_oom(Sup *sup, const Job *job)
{
	int at_once = sup->n_gpus ? sup->n_gpus * sup->cfg.workers_per_gpu : sup->cfg.parallel;
	int was = sup->workers_limit ? sup->workers_limit : at_once;
	sup->workers_limit = memplan_after_oom(was, sup->n_children);
	sup_log(sup, job, NULL, "killed by the kernel's OOM killer with %d worker%s running: at most %d "
		"at once for the rest of the run", sup->n_children, sup->n_children == 1 ? "" : "s",
		sup->workers_limit);
	sup_txn(sup);
	int err = store_run_memory_set(sup->store, sup->run_id, NULL, NULL, sup->workers_limit);
	if (err < 0)
		fatal_store(sup, job, "store_run_memory_set", err);
}

/* The ladder moved the job to a new shape: recorded, and it starts over. */
static void memory_reshape(Sup *sup, Job *job, const MemShape *next)
{
	job->shape = *next;
	StoreShape sh = { .job_id = job->id, .buffer_size = next->buffer_size,
			  .chunk_length = next->chunk_length };
	snprintf(sh.rung, sizeof sh.rung, "%s", memplan_rung_name(next->rung));
	sup_txn(sup);
	int err = store_job_shape_set(sup->store, &sh, 1);
	if (err < 0)
		fatal_store(sup, job, "store_job_shape_set", err);
	free(job->ckpt_path);
	job->ckpt_path = NULL;
	job->ckpt_unrecorded = 0;
	drop_checkpoint_files(sup->out_dir, job->ticker);
	sup_log(sup, job, NULL, "rung %s: buffer_size %d, chunk_length %d, batch_size %d; starting over "
		"(a checkpoint of another shape does not resume: removed)", sh.rung, next->buffer_size,
		next->chunk_length, job->shape.batch_size);
}

/* The model accepted unchecked, checked now: a bad file makes the attempt
 * a protocol error after all; still no descriptor: kept, and said so. */
static ExitKind check_unchecked_model(Child *c, ExitKind kind)
{
	char why[POLICY_REASON_MAX];
	int stale = 0, later = 0;
	const char *bad = check_reported_file(c->sup, "model", c->unchecked_model,
					      c->unchecked_checksum, 0, &stale, &later,
					      why, sizeof why);
	if (later)
		sup_log(c->sup, c->job, c, "%s at the exit either: kept unchecked", why);
	else if (!bad)
		sup_log(c->sup, c->job, c, "model checked at the exit: its checksum holds");
	if (!bad || kind != EXIT_DONE)
		return kind;
	snprintf(c->detail, sizeof c->detail, "%s", bad);
	return EXIT_PROTOCOL;
}

/* Both the exit and the end of the pipe were seen (or the grace ran out):
 * classify, decide, record, and let the job go on. */
static void child_finish(Child *c)
{
	Sup *sup = c->sup;
	Job *job = c->job;
	char b1[32], b2[32];

	/* Nothing of the attempt outlives it: its group (a grandchild holding
	 * the pipe), its cgroup (what left the group), and escapees that came
	 * back to us. */
	child_signal(c, SIGKILL);
	child_cgroup_end(c);
	flush_pending(c);

	int exited = c->term_signal == 0;
	int code = exited ? (int)c->exit_status : -1;
	int oom = 0;
	if (!exited && c->term_signal == SIGKILL && c->m.kill == CK_NONE && !sup->stopping) {
		/* A SIGKILL nobody here sent: the kernel's OOM killer only with
		 * evidence. */
		int64_t now_oom = read_oom_counter(sup->oom_path);
		oom = c->oom_at_start >= 0 && now_oom > c->oom_at_start;
		if (oom)
			snprintf(c->detail, sizeof c->detail, "%s oom_kill %lld -> %lld", sup->oom_source,
				 (long long)c->oom_at_start, (long long)now_oom);
		else if (sup->oom_path[0])
			snprintf(c->detail, sizeof c->detail, "SIGKILL not sent by the supervisor, "
				 "no OOM kill in %s (oom_kill %lld -> %lld)", sup->oom_source,
				 (long long)c->oom_at_start, (long long)now_oom);
		else
			snprintf(c->detail, sizeof c->detail, "SIGKILL not sent by the supervisor, "
				 "no OOM counter readable");
	}
	ExitKind kind = child_outcome(&c->m, exited, code, c->term_signal, sup->stopping, oom);
	if (c->model_unchecked)
		kind = check_unchecked_model(c, kind);
	int startup = child_startup_failed(&c->m, kind);
	/* Its stderr is not ours to read: say where it went. */
	if (startup && !c->detail[0])
		snprintf(c->detail, sizeof c->detail, "it sent nothing; its output is in %s",
			 sup->worker_log >= 0 ? "workers.log of run.out_dir" : "the supervisor's stderr");
	if (kind == EXIT_PROTOCOL && exited && code == TV_EXIT_DONE && !c->detail[0])
		snprintf(c->detail, sizeof c->detail, "worker exited 0 without a result frame");
	if (kind == EXIT_CRASH && exited && code == TV_EXIT_INTERRUPTED && !c->detail[0])
		snprintf(c->detail, sizeof c->detail, "exit 10 (interrupted) though nobody asked it to stop");
	if (kind == EXIT_DONE && c->m.kill == CK_DELIVERED)
		sup_log(sup, job, c, "result delivered, then it did not exit: killed, result kept");
	if (c->m.grace_expired)
		sup_log(sup, job, c, "the worker exited but its report pipe stayed open %d ms "
			"(a descendant holds it): its process group was killed", RUN_GRACE_MS);
	PolicyFacts f = {
		.kind = kind,
		.exit_code = code,
		.term_signal = c->term_signal,
		.batch_size = job->shape.batch_size,
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
		.startup = startup,
		.detail = c->detail[0] ? c->detail : NULL,
	};
	PolicyDecision d = policy_decide(&f);
	MemShape next;
	int reshaped = memplan_apply_ladder(&d, &f, &sup->ladder, &job->shape, &sup->floors, &next);
	if (oom)
		memory_after_oom(sup, job);

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
	int ran_batch = job->shape.batch_size;
	/* "Starting over" is never silent: the attempt's reason keeps it. */
	char reason[2 * POLICY_REASON_MAX];
	snprintf(reason, sizeof reason, "%s%s%s", d.reason, d.reason[0] && c->start_note[0] ? "; " : "",
		 c->start_note);
	if (c->attempt_id > 0) {
		AttemptEnd end = {
			.kind = kind,
			.exit_code = code,
			.term_signal = c->term_signal,
			.peak_rss = c->peak_rss,
			.peak_vram = c->peak_vram,
			.reason = reason,
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
	job->shape.batch_size = d.next_batch_size;
	if (reshaped)
		memory_reshape(sup, job, &next);
	job->charged += d.charged;
	if (d.reason[0]) {
		free(job->reason);
		job->reason = strdup(d.reason);
	}
	switch (d.action) {
	case POLICY_DONE:
		sup_log(sup, job, c, "%s: done at batch %d", how, ran_batch);
		if (!sup->cfg.keep_checkpoints) {
			job->drop_ckpt = 1;
			remove_checkpoints(sup);
		}
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
	placement_release(sup->slots, sup->n_gpus, c->gpu, sup->cfg.budget_vram, &sup->cpu_running);
	uv_close((uv_handle_t *)&c->proc, child_close_cb);
	uv_close((uv_handle_t *)&c->poll, child_close_cb);
	uv_close((uv_handle_t *)&c->grace, child_close_cb);
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, child_close_cb);
	schedule(sup);
}

/* 1 when the rate limit has room for one more row this second. */
static int rate_room(Child *c)
{
	uint64_t sec = uv_now(&c->sup->loop) / 1000;
	if (sec != c->rate_sec) {
		c->rate_sec = sec;
		c->rate_rows = 0;
	}
	return c->rate_rows < RUN_ROWS_PER_S;
}

/* Takes one row of the rate limit: 1, or 0 (counted as dropped). */
static int rate_ok(Child *c)
{
	if (!rate_room(c)) {
		c->frames_dropped++;
		return 0;
	}
	c->rate_rows++;
	return 1;
}

/* Carries out CA_RECORD for a frame the machine accepted. */
static void record_frame(Child *c, const Msg *m)
{
	Sup *sup = c->sup;
	Job *job = c->job;
	char e1[PROTO_STR * 4], e2[PROTO_STR * 4];
	int err = 0;
	switch (m->type) {
	case MSG_HELLO:
		sup_log(sup, job, c, "hello %s/%s batch %lld after %.2f ms",
			esc(m->u.hello.backend, e1, sizeof e1), esc(m->u.hello.device, e2, sizeof e2),
			(long long)m->u.hello.batch_size, (double)(uv_hrtime() - c->start_ns) / 1e6);
		if (m->u.hello.skipped_rows > 0)
			sup_log(sup, job, c, "%lld row%s with null prices skipped (missing days)",
				(long long)m->u.hello.skipped_rows, m->u.hello.skipped_rows == 1 ? "" : "s");
		break;
	case MSG_PROGRESS:
		if (!rate_ok(c)) {
			c->pending_progress = m->u.progress;
			c->has_pending_progress = 1;
			break;
		}
		c->has_pending_progress = 0;
		if (c->attempt_id > 0)
			err = store_progress(sup->store, job->id, c->attempt_id, &m->u.progress);
		break;
	case MSG_HEARTBEAT:
		c->hb = m->u.heartbeat;
		break;
	case MSG_CHECKPOINT:
		if (!rate_ok(c)) {
			c->pending_ckpt = m->u.checkpoint;
			c->has_pending_ckpt = 1;
			break;
		}
		c->has_pending_ckpt = 0;
		sup_txn(sup);
		if (c->attempt_id > 0)
			err = store_checkpoint_add(sup->store, job->id, c->attempt_id, &m->u.checkpoint);
		if (err >= 0) {
			free(job->ckpt_path);
			job->ckpt_path = strdup(m->u.checkpoint.path);
			job->ckpt_unrecorded = 0;
			job->ckpt_checksum = m->u.checkpoint.checksum;
			job->ckpt_pos = m->u.checkpoint;
			sup_log(sup, job, c, "checkpoint chunk %lld episode %lld (%lld episodes done)",
				(long long)m->u.checkpoint.chunk, (long long)m->u.checkpoint.episode,
				(long long)m->u.checkpoint.done_episodes);
		}
		break;
	case MSG_RESULT:
		sup_txn(sup);
		if (c->attempt_id > 0)
			err = store_result_add(sup->store, job->id, c->attempt_id, &m->u.result);
		sup_log(sup, job, c, "result %s sharpe %.3f return %.4f",
			esc(m->u.result.model_path, e1, sizeof e1), m->u.result.sharpe,
			m->u.result.total_return);
		break;
	case MSG_ERROR:
		esc(m->u.error.message, e1, sizeof e1);
		snprintf(c->detail, sizeof c->detail, "%s", e1);
		if (rate_ok(c))
			sup_log(sup, job, c, "worker error %lld: %s", (long long)m->u.error.code, e1);
		break;
	}
	if (err < 0)
		fatal_store(sup, job, proto_type_name(m->type), err);
}

/* A path the worker reports must name a regular file inside out_dir whose
 * trailer checksum is the one it reported. A checkpoint may already be
 * superseded when its frame is read (the worker renames it to PATH.prev
 * and writes the next one): then PATH.prev is the file, or, when even that
 * was replaced, *ret_stale says so and the frame is not recorded. Returns
 * NULL, or what is wrong (in buf). */
static int supervisor_short(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

/* Whether real (a resolved path) lies inside run.out_dir: the one rule for
 * the files a worker reports and the checkpoints it resumes from. */
static int in_out_dir(const Sup *sup, const char *real)
{
	size_t n = strlen(sup->out_dir);
	return !strncmp(real, sup->out_dir, n) && real[n] == '/';
}

static const char *check_reported_file(Sup *sup, const char *what, const char *path,
				       uint32_t checksum, int is_ckpt, int *ret_stale,
				       int *ret_later, char *buf, size_t len)
{
	char real[PATH_MAX], e1[PROTO_STR * 4], prev[PATH_MAX + 8];
	uint32_t crc = 0, pcrc = 0;
	*ret_stale = 0;
	*ret_later = 0;
	snprintf(prev, sizeof prev, "%s.prev", path);
	int have = realpath(path, real) != NULL;
	if (!have && is_ckpt && realpath(prev, real)) {
		have = 1;
		real[strlen(real) - 5] = '\0';   /* judge the name it was reported under */
	}
	if (!have && supervisor_short(-errno)) {
		*ret_later = 1;
		snprintf(buf, len, "%s '%s' not checked: the supervisor cannot resolve it (%s)", what,
			 esc(path, e1, sizeof e1), strerror(errno));
		return NULL;
	}
	if (!have) {
		snprintf(buf, len, "%s '%s': %s", what, esc(path, e1, sizeof e1), strerror(errno));
		return buf;
	}
	if (!in_out_dir(sup, real)) {
		snprintf(buf, len, "%s '%s' is outside run.out_dir", what, esc(path, e1, sizeof e1));
		return buf;
	}
	int err = checksum_file_trailer(real, &crc);
	if (err == 0 && crc == checksum)
		return NULL;
	if (supervisor_short(err)) {
		/* The supervisor's own shortage says nothing of the worker's file. */
		*ret_later = 1;
		snprintf(buf, len, "%s '%s' not checked: the supervisor cannot open it (%s)", what,
			 esc(path, e1, sizeof e1), strerror(-err));
		return NULL;
	}
	if (is_ckpt) {
		snprintf(prev, sizeof prev, "%s.prev", real);
		if (checksum_file_trailer(prev, &pcrc) == 0 && pcrc == checksum)
			return NULL;
		if (err == 0 || err == -ENOENT) {
			*ret_stale = 1;
			return NULL;
		}
	}
	if (err < 0)
		snprintf(buf, len, "%s '%s': %s", what, esc(path, e1, sizeof e1),
			 err == -EBADMSG ? "no valid checksum trailer" : strerror(-err));
	else
		snprintf(buf, len, "%s '%s': checksum %08x, the worker reported %08x", what,
			 esc(path, e1, sizeof e1), crc, checksum);
	return buf;
}

/* Range checks of the numbers a worker reports. Returns NULL or the
 * problem (in buf). */
static const char *check_numbers(const Msg *m, char *buf, size_t len)
{
	const int64_t big = INT32_MAX;
	const char *field = NULL;
	int64_t v = 0;
#define RANGE(x, lo, hi) do { if (!field && ((x) < (lo) || (x) > (hi))) { field = #x; v = (x); } } while (0)
	switch (m->type) {
	case MSG_HELLO:
		RANGE(m->u.hello.batch_size, 0, big);
		RANGE(m->u.hello.total_chunks, 0, PROTO_MAX_CHUNKS);
		RANGE(m->u.hello.episodes_per_chunk, 0, big);
		RANGE(m->u.hello.skipped_rows, 0, big);
		break;
	case MSG_PROGRESS:
		RANGE(m->u.progress.chunk, 0, PROTO_MAX_CHUNKS - 1);
		RANGE(m->u.progress.episode, 0, big);
		RANGE(m->u.progress.step, 0, INT64_MAX / 2);
		RANGE(m->u.progress.done_episodes, 0, big * PROTO_MAX_CHUNKS);
		RANGE(m->u.progress.total_episodes, 0, big * PROTO_MAX_CHUNKS);
		break;
	case MSG_CHECKPOINT:
		RANGE(m->u.checkpoint.chunk, 0, PROTO_MAX_CHUNKS);
		RANGE(m->u.checkpoint.episode, 0, big);
		RANGE(m->u.checkpoint.done_episodes, 0, big * PROTO_MAX_CHUNKS);
		break;
	case MSG_RESULT:
		RANGE(m->u.result.trades, 0, big);
		RANGE(m->u.result.test_days, 0, big);
		for (int i = 0; i < 3; i++)
			RANGE(m->u.result.actions[i], 0, big);
		break;
	default:
		break;
	}
#undef RANGE
	if (!field)
		return NULL;
	snprintf(buf, len, "%s frame: %s = %lld out of range", proto_type_name(m->type),
		 strchr(field, '.') ? strrchr(field, '.') + 1 : field, (long long)v);
	return buf;
}

static void check_vram(Sup *sup, Child *c, uint64_t bytes, const char *source);

/* A decoded frame: checked, then turned into its event. */
static void on_frame(Child *c, const Msg *m)
{
	Sup *sup = c->sup;
	char why[POLICY_REASON_MAX];
	c->last_frame_ms = uv_now(&sup->loop);
	int stale = 0, later = 0;
	const char *bad = check_numbers(m, why, sizeof why);
	if (!bad && m->type == MSG_CHECKPOINT && !rate_room(c) &&
	    (c->m.state == CS_RUNNING || c->m.state == CS_STOPPING)) {
		/* Over the rate limit: kept as the latest, checked when written. */
		c->pending_ckpt = m->u.checkpoint;
		c->has_pending_ckpt = 1;
		c->frames_dropped++;
		return;
	}
	if (!bad && m->type == MSG_CHECKPOINT)
		bad = check_reported_file(sup, "checkpoint", m->u.checkpoint.path,
					  m->u.checkpoint.checksum, 1, &stale, &later, why, sizeof why);
	if (!bad && m->type == MSG_RESULT && c->m.state != CS_DELIVERED)
		bad = check_reported_file(sup, "model", m->u.result.model_path,
					  m->u.result.checksum, 0, &stale, &later, why, sizeof why);
	if (later && m->type == MSG_CHECKPOINT) {
		/* Kept as the latest, like a frame over the rate limit. */
		sup_log(sup, c->job, c, "%s; checked again at the next flush", why);
		c->pending_ckpt = m->u.checkpoint;
		c->has_pending_ckpt = 1;
		return;
	}
	if (later) {   /* a model: checked in full (path and checksum) at the exit */
		sup_log(sup, c->job, c, "%s: accepted unchecked, not the worker's fault; checked at its exit", why);
		c->model_unchecked = 1;
		snprintf(c->unchecked_model, sizeof c->unchecked_model, "%s", m->u.result.model_path);
		c->unchecked_checksum = m->u.result.checksum;
	}
	if (bad) {
		child_event(c, CE_BAD_FRAME, m, bad);
		return;
	}
	if (stale) {
		/* Superseded twice before we read it: the next frame names the
		 * file that is there. */
		if (rate_ok(c))
			sup_log(sup, c->job, c, "checkpoint of episode %lld already replaced on disk: not recorded",
				(long long)m->u.checkpoint.done_episodes);
		return;
	}
	switch (m->type) {
	case MSG_HELLO:
		child_event(c, CE_HELLO, m, NULL);
		break;
	case MSG_RESULT:
		child_event(c, CE_RESULT, m, NULL);
		break;
	case MSG_ERROR:
		child_event(c, CE_ERROR, m, NULL);
		break;
	case MSG_HEARTBEAT: {
		child_event(c, CE_FRAME, m, NULL);
		/* The worker's rss_peak (VmHWM) counts file-backed pages too; the
		 * budget and peak_rss are private memory (tree_rss), so it is
		 * not mixed in. Its own device peak counts: a worker that was
		 * over the budget between two heartbeats was over the budget. */
		uint64_t dev = m->u.heartbeat.bytes_device > 0 ? (uint64_t)m->u.heartbeat.bytes_device : 0;
		uint64_t pdev = m->u.heartbeat.peak_device > 0 ? (uint64_t)m->u.heartbeat.peak_device : 0;
		if (c->m.got_hello && c->m.state != CS_DELIVERED)
			check_vram(sup, c, dev > pdev ? dev : pdev, "reported");
		break;
	}
	default:
		child_event(c, CE_FRAME, m, NULL);
		break;
	}
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
	if (nread > 0 && !c->m.pipe_done) {
		char msg[160] = "";
		if (proto_decoder_feed(c->dec, buf->base, (size_t)nread) < 0) {
			child_event(c, CE_BAD_FRAME, NULL, "stream already broken");
		} else {
			Msg m;
			int r;
			while (!c->m.pipe_done &&
			       (r = proto_decoder_next(c->dec, &m, msg, sizeof msg)) != 0) {
				if (r < 0) {
					child_event(c, CE_BAD_FRAME, NULL, msg[0] ? msg : "malformed frame");
					break;
				}
				on_frame(c, &m);
			}
		}
	}
	if (nread < 0 && !c->m.pipe_done) {
		if (nread != UV_EOF)
			sup_log(c->sup, c->job, c, "report pipe: %s", uv_strerror((int)nread));
		size_t pending = proto_decoder_pending(c->dec);
		if (nread == UV_EOF && pending > 0) {
			char msg[96];
			snprintf(msg, sizeof msg, "stream ended mid-frame (%zu bytes pending)", pending);
			child_event(c, CE_BAD_FRAME, NULL, msg);
		}
		child_event(c, CE_PIPE_EOF, NULL, NULL);
	}
}

static void exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
	Child *c = p->data;
	c->exit_status = exit_status;
	c->term_signal = term_signal;
	child_event(c, CE_EXIT, NULL, NULL);
}

static void grace_cb(uv_timer_t *t)
{
	child_event(t->data, CE_GRACE, NULL, NULL);
}

/* Holds a worker's device bytes (from NVML or its own heartbeat) against
 * budget.vram: over it, SIGKILL at once, like the RSS budget. */
static void check_vram(Sup *sup, Child *c, uint64_t bytes, const char *source)
{
	char b1[32], b2[32], why[POLICY_REASON_MAX];

	if (bytes > c->peak_vram)
		c->peak_vram = bytes;
	if (!sup->cfg.budget_vram || bytes <= sup->cfg.budget_vram)
		return;
	snprintf(why, sizeof why, "device memory %s (%s) over budget.vram %s",
		 fmt_bytes(bytes, b1, sizeof b1), source,
		 fmt_bytes(sup->cfg.budget_vram, b2, sizeof b2));
	child_event(c, CE_VRAM_OVER, NULL, why);
}

static void poll_cb(uv_timer_t *t)
{
	Child *c = t->data;
	Sup *sup = c->sup;
	char b1[32], b2[32], why[POLICY_REASON_MAX];
	if (c->m.exited || c->m.state == CS_ENDED)
		return;
	uint64_t now = uv_now(&sup->loop);
	uint64_t rss = 0;
	/* After the result frame the work is delivered and the worker is
	 * exiting: memory touched while its libraries tear down is neither
	 * sampled nor held against the budget. A zombie's statm reads 0. */
	if (c->m.state != CS_DELIVERED && c->m.state != CS_KILLED &&
	    tree_rss(c->pid, &rss) == 0 && rss > 0) {
		if (rss > c->peak_rss)
			c->peak_rss = rss;
		c->cur_rss = rss;
		/* Stored before the budget check: the sample that crosses the budget
		 * is the one a plot of the kill needs. */
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
		uint64_t budget = sup->cfg.budget_rss;
		if (budget && rss > budget) {
			snprintf(why, sizeof why, "rss %s over budget.rss %s",
				 fmt_bytes(rss, b1, sizeof b1), fmt_bytes(budget, b2, sizeof b2));
			child_event(c, CE_RSS_OVER, NULL, why);
			return;
		}
		if (budget && !c->m.usr1_sent && c->m.state == CS_RUNNING &&
		    (double)rss > sup->cfg.soft_fraction * (double)budget) {
			sup_log(sup, c->job, c, "rss %s above %.0f%% of budget.rss %s: SIGUSR1 (checkpoint now)",
				fmt_bytes(rss, b1, sizeof b1), sup->cfg.soft_fraction * 100.0,
				fmt_bytes(budget, b2, sizeof b2));
			child_event(c, CE_RSS_SOFT, NULL, NULL);
		}
	}
	/* NVML: one refresh per poll period for all workers, then a lookup. */
	if (sup->nvml && c->m.state != CS_DELIVERED && c->m.state != CS_KILLED) {
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
		if (c->m.state == CS_KILLED)
			return;
	}
	double hang_ms = sup->cfg.hang_timeout * 1000.0;
	if (hang_ms > 0 && (double)(now - c->last_frame_ms) > hang_ms && c->m.state != CS_KILLED) {
		snprintf(why, sizeof why, "no heartbeat for %g s", sup->cfg.hang_timeout);
		child_event(c, CE_HANG_TICK, NULL, why);
	}
}

/* The database has no checkpoint for job (it was lost or recreated, or
 * the row never committed) but the worker's own file may be there:
 * OUT/TICKER.ckpt, or its .prev, becomes the candidate that resume_path()
 * checks like a recorded one. The files of a start over from scratch
 * (--retrain, a new memory shape) are removed first, so what is found is
 * resumable or refused by the worker (another configuration or data). */
static void unrecorded_checkpoint(Sup *sup, Job *job)
{
	char path[PATH_MAX], prev[PATH_MAX + 8];
	if (job->ckpt_path)
		return;
	snprintf(path, sizeof path, "%s/%s.ckpt", sup->out_dir, job->ticker);
	snprintf(prev, sizeof prev, "%s.prev", path);
	if (access(path, F_OK) < 0 && access(prev, F_OK) < 0)
		return;
	if ((job->ckpt_path = strdup(path)))
		job->ckpt_unrecorded = 1;
}

/* A checkpoint file to resume from: 0 and its trailer's CRC, -EXDEV when
 * it leads outside run.out_dir (a symlink: refused like a reported one),
 * or the negative errno that makes it unusable. */
static int resume_candidate(const Sup *sup, const char *path, uint32_t *crc)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		return -errno;
	if (!in_out_dir(sup, real))
		return -EXDEV;
	return checksum_file_trailer(real, crc);
}

/* Picks the checkpoint to resume from: the recorded file if its own
 * checksum trailer holds, else its ".prev" (the worker renames the old one
 * there before writing the new one) if that holds; else none (start
 * over). The database may be behind the files (its commits failed while
 * the worker went on checkpointing): a file whose own CRC holds is the
 * newest durable state, and the worker checks its ticker, configuration
 * and data fingerprint before using it. A file that leads outside
 * run.out_dir is never one (check_reported_file refuses it in a frame).
 * note gets how the attempt starts (attempts.resume); *ret_crc the chosen
 * file's checksum. */
static const char *resume_path(Sup *sup, Job *job, char *buf, size_t len, char *note,
			       size_t note_len, uint32_t *ret_crc)
{
	note[0] = '\0';
	if (!job->ckpt_path || !job->ckpt_path[0])
		return NULL;
	uint32_t crc;
	const char *pick = NULL;
	int e1 = resume_candidate(sup, job->ckpt_path, &crc), e2 = 0;
	if (e1 == 0) {
		pick = job->ckpt_path;
	} else {
		snprintf(buf, len, "%s.prev", job->ckpt_path);
		if ((e2 = resume_candidate(sup, buf, &crc)) == 0)
			pick = buf;
	}
	char esc1[PROTO_STR * 4];
	if (!pick) {
		snprintf(note, note_len, "started over: checkpoint %s %s, and its .prev %s",
			 esc(job->ckpt_path, esc1, sizeof esc1),
			 e1 == -ENOENT ? "is missing" : e1 == -EXDEV ? "is outside run.out_dir" :
			 "is damaged (its own checksum fails)",
			 e2 == -ENOENT ? "is missing" : e2 == -EXDEV ? "is outside run.out_dir" :
			 "is damaged too");
		sup_log(sup, job, NULL, "%s", note);
		return NULL;
	}
	size_t n;
	if (job->ckpt_unrecorded)
		n = (size_t)snprintf(note, note_len, "resuming from %s (checksum %08x holds; the database had "
				     "recorded no checkpoint: corrected)", esc(pick, esc1, sizeof esc1), crc);
	else if (crc == job->ckpt_checksum)
		n = (size_t)snprintf(note, note_len, "resuming from %s", esc(pick, esc1, sizeof esc1));
	else
		n = (size_t)snprintf(note, note_len, "resuming from %s (checksum %08x holds; the database had "
				     "recorded %08x: corrected)", esc(pick, esc1, sizeof esc1), crc,
				     job->ckpt_checksum);
	if (e1 == -EXDEV && n < note_len)
		snprintf(note + n, note_len - n, "; checkpoint %s is outside run.out_dir: not used",
			 esc(job->ckpt_path, esc1, sizeof esc1));
	*ret_crc = crc;
	return pick;
}

/* Transient failures to start a worker: retried after a back-off. */
static int spawn_transient(int r)
{
	return r == UV_EAGAIN || r == UV_EMFILE || r == UV_ENFILE || r == UV_ENOMEM ||
	       r == UV_ENOBUFS || r == -ENOMEM;
}

/* Starts an attempt for job on device gpu. Returns 0, or a negative errno
 * (spawn failed; logged). */
static int spawn_child(Sup *sup, Job *job, int gpu)
{
	char bs[64], cuda_env[64], blas_env[64], prev[PATH_MAX + 8], note[PATH_MAX + 200];
	char mem_sets[4][64];
	int cfg_pipe[2] = { -1, -1 };
	uint32_t resume_crc = 0;
	/* Every --set pair, plus at most 30 fixed arguments and the NULL,
	 * after 3 slots for the start in a cgroup (cgroup_exec). */
	const char **argv = calloc(2 * (size_t)sup->opt->n_sets + 36, sizeof *argv);
	char **env = NULL;
	int argc = 3, rc = 0;
	Child *c = calloc(1, sizeof *c);
	if (!c || !argv) {
		free(c);
		free(argv);
		return -ENOMEM;
	}
	c->sup = sup;
	c->job = job;
	c->gpu = gpu;
	child_init(&c->m);
	c->dec = proto_decoder_new();
	if (!c->dec) {
		free(c);
		free(argv);
		return -ENOMEM;
	}

	/* The configuration frozen at the run's start (the --set overrides
	 * are in it), through a pipe on fd 4: the text fits the pipe's buffer
	 * (64 KiB), so it is written and closed before the worker starts. */
	if (pipe2(cfg_pipe, O_CLOEXEC) < 0) {
		rc = -errno;
		sup_log(sup, job, NULL, "cannot create the configuration pipe: %s", strerror(errno));
		proto_decoder_free(c->dec);
		free(c);
		free(argv);
		return rc;
	}
	if (write(cfg_pipe[1], sup->frozen, sup->frozen_len) != (ssize_t)sup->frozen_len) {
		rc = -errno;
		sup_log(sup, job, NULL, "cannot write the configuration pipe: %s", strerror(errno));
		close(cfg_pipe[0]);
		close(cfg_pipe[1]);
		proto_decoder_free(c->dec);
		free(c);
		free(argv);
		return rc;
	}
	close(cfg_pipe[1]);
	argv[argc++] = sup->worker;
	argv[argc++] = "--config";
	argv[argc++] = sup->config_abs;
	argv[argc++] = "--config-fd";
	argv[argc++] = "4";
	snprintf(bs, sizeof bs, "rewts.batch_size=%d", job->shape.batch_size);
	argv[argc++] = "--set";
	argv[argc++] = bs;
	/* auto is the one setting that falls back to the CPU (run_main refuses
	 * cuda without a GPU). */
	if (gpu == PLACEMENT_CPU && !strcmp(sup->cfg.device, "auto")) {
		argv[argc++] = "--set";
		argv[argc++] = "run.device=cpu";
	}
	/* The ladder's shape and the budgets auto chose (memplan.h). */
	int n_mem = 0;
	if (job->shape.buffer_size != sup->cfg.buffer_size)
		snprintf(mem_sets[n_mem++], sizeof mem_sets[0], "rewts.buffer_size=%d", job->shape.buffer_size);
	if (job->shape.chunk_length != sup->cfg.chunk_length)
		snprintf(mem_sets[n_mem++], sizeof mem_sets[0], "rewts.chunk_length=%d", job->shape.chunk_length);
	if (sup->budget_auto & 1)
		snprintf(mem_sets[n_mem++], sizeof mem_sets[0], "budget.rss=%llu",
			 (unsigned long long)sup->cfg.budget_rss);
	if (sup->budget_auto & 2)
		snprintf(mem_sets[n_mem++], sizeof mem_sets[0], "budget.vram=%llu",
			 (unsigned long long)sup->cfg.budget_vram);
	for (int i = 0; i < n_mem; i++) {
		argv[argc++] = "--set";
		argv[argc++] = mem_sets[i];
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
	unrecorded_checkpoint(sup, job);
	const char *resume = resume_path(sup, job, prev, sizeof prev, note, sizeof note, &resume_crc);
	/* A start over also goes into the attempt's end reason (child_finish). */
	if (!resume && note[0])
		snprintf(c->start_note, sizeof c->start_note, "%s", note);
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
	env = calloc((size_t)n_env + 3, sizeof *env);
	if (!env) {
		rc = -ENOMEM;
		goto out;
	}
	int k = 0;
	for (int i = 0; i < n_env; i++)
		if (strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21) &&
		    strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21))
			env[k++] = environ[i];
	/* OpenBLAS sizes its thread pool from this at load time, before the
	 * worker can call openblas_set_num_threads: without it, a worker under
	 * a process limit fails to create threads it never uses. */
	snprintf(blas_env, sizeof blas_env, "OPENBLAS_NUM_THREADS=%d", sup->cfg.threads);
	env[k++] = blas_env;
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

	uv_stdio_container_t stdio[5];
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
	stdio[4].flags = UV_INHERIT_FD;
	stdio[4].data.fd = cfg_pipe[0];

	uv_process_options_t po;
	memset(&po, 0, sizeof po);
	child_cgroup_make(c);
	if (c->cgroup[0]) {
		argv[0] = sup->self_exe;
		argv[1] = CGROUP_EXEC_ARG;
		argv[2] = c->cgroup;
		po.file = sup->self_exe;
		po.args = (char **)argv;
	} else {
		po.file = sup->worker;
		po.args = (char **)argv + 3;
	}
	po.env = env;
	po.exit_cb = exit_cb;
	po.stdio = stdio;
	po.stdio_count = 5;
	/* A new session: the worker leads its own process group, which gets
	 * every signal of ours, and a terminal's ^C does not reach it. */
	po.flags = UV_PROCESS_DETACHED;
	c->proc.data = c;
	uv_update_time(&sup->loop);
	c->start_ms = c->last_frame_ms = uv_now(&sup->loop);
	c->start_ns = uv_hrtime();
	int r = uv_spawn(&sup->loop, &c->proc, &po);
	close(cfg_pipe[0]);
	cfg_pipe[0] = -1;
	c->handles_open++;
	if (r < 0) {
		child_cgroup_end(c);
		sup_log(sup, job, NULL, "spawn %s failed: %s", sup->worker, uv_strerror(r));
		if (!spawn_transient(r))
			fprintf(stderr, "tickervisor: %s: spawn %s: %s\n", job->ticker, sup->worker,
				uv_strerror(r));
		uv_close((uv_handle_t *)&c->proc, child_close_cb);
		uv_close((uv_handle_t *)&c->pipe, child_close_cb);
		rc = r;
		goto out;
	}
	c->pid = c->proc.pid;
	c->oom_at_start = read_oom_counter(sup->oom_path);
	set_oom_score(c->pid);
	uv_timer_init(&sup->loop, &c->poll);
	c->poll.data = c;
	c->handles_open++;
	uv_timer_init(&sup->loop, &c->grace);
	c->grace.data = c;
	c->handles_open++;
	uv_timer_start(&c->poll, poll_cb, (uint64_t)sup->cfg.poll_ms, (uint64_t)sup->cfg.poll_ms);
	uv_read_start((uv_stream_t *)&c->pipe, pipe_alloc_cb, pipe_read_cb);

	job->child = c;
	job->attempts++;
	job->state = JOB_RUNNING;
	sup->n_children++;
	placement_take(sup->slots, sup->n_gpus, gpu, sup->cfg.budget_vram, &sup->cpu_running);
	sup_txn(sup);
	int err = store_attempt_begin(sup->store, job->id, c->pid, gpu, job->shape.batch_size,
				      &c->attempt_id);
	if (err < 0) {
		c->attempt_id = 0;
		fatal_store(sup, job, "store_attempt_begin", err);
	} else if ((err = store_attempt_shape(sup->store, c->attempt_id, job->shape.buffer_size,
					      job->shape.chunk_length)) < 0) {
		fatal_store(sup, job, "store_attempt_shape", err);
	} else if (c->cgroup[0] && (err = store_attempt_cgroup(sup->store, c->attempt_id, c->cgroup)) < 0) {
		fatal_store(sup, job, "store_attempt_cgroup", err);
	}
	char where[32];
	if (gpu == PLACEMENT_CPU)
		snprintf(where, sizeof where, "cpu");
	else
		snprintf(where, sizeof where, "gpu %d", gpu);
	sup_log(sup, job, c, "started batch %d on %s", job->shape.batch_size, where);
	if (note[0]) {
		sup_log(sup, job, c, "%s", note);
		if (c->attempt_id > 0 && (err = store_attempt_note(sup->store, c->attempt_id, note)) < 0)
			fatal_store(sup, job, "store_attempt_note", err);
	}
	if (resume && (resume_crc != job->ckpt_checksum || job->ckpt_unrecorded) && c->attempt_id > 0) {
		/* The database is corrected from the file: a checkpoint row of no
		 * attempt (none of ours reported it) with the file's checksum; its
		 * position is the last recorded one, a lower bound (only the worker
		 * reads the file's), until the worker's next checkpoint. */
		MsgCheckpoint ck = job->ckpt_pos;
		ck.checksum = resume_crc;
		snprintf(ck.path, sizeof ck.path, "%s", resume);
		if ((err = store_checkpoint_add(sup->store, job->id, 0, &ck)) < 0)
			fatal_store(sup, job, "store_checkpoint_add", err);
		job->ckpt_checksum = resume_crc;
		job->ckpt_unrecorded = 0;
	}
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
			int mem = memory_admits(sup);
			if (mem <= 0) {
				waiting = 1;
				if (mem < 0 && now + MEMPLAN_RECHECK_MS < wake)
					wake = now + MEMPLAN_RECHECK_MS;
				break;
			}
			int sr = spawn_child(sup, job, dev);
			/* Transient while other workers run (they free what is
			 * short); with none running, three tries, then it is not. */
			if (sr < 0 && spawn_transient(sr) && (sup->n_children > 0 || sup->spawn_fails < 3)) {
				/* Out of processes or descriptors for now: this ticker
				 * waits (doubling, capped) while the running workers
				 * go on; the pool is smaller until one can start. */
				double d = sup->cfg.backoff * (double)(1u << (sup->spawn_fails < 10 ? sup->spawn_fails : 10));
				if (d < 0.1)
					d = 0.1;
				if (d > POLICY_BACKOFF_MAX_S)
					d = POLICY_BACKOFF_MAX_S;
				sup->spawn_fails++;
				job->not_before = now + (uint64_t)(d * 1000.0);
				sup_log(sup, job, NULL, "cannot start a worker now (%s; %d running): retrying in %.1f s",
					uv_strerror(sr), sup->n_children, d);
				waiting = 1;
				if (job->not_before < wake)
					wake = job->not_before;
				break;
			}
			if (sr < 0) {
				/* A worker that cannot be started at all: stop the run. */
				fprintf(stderr, "tickervisor: cannot start the worker %s: %s; stopping the run\n",
					sup->worker, uv_strerror(sr));
				sup->fatal = 1;
				sup->stopping = 1;
				break;
			}
			sup->spawn_fails = 0;
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
	/* Redrawn in place, each line cleared to its end: no flicker. */
	StatusOptions so = { .json = 0, .width = width, .color = 1, .bars = 1, .now = 0, .live = 1 };
	fputs("\033[H", stdout);
	status_render(sup->store, stdout, &so);
	fputs("\033[K\n", stdout);
	for (int i = 0; i < sup->n_events; i++)
		fprintf(stdout, "%.*s\033[K\n", width > 0 ? width : RUN_EVENT_LEN, sup->events[i]);
	fputs("\033[J", stdout);
	fflush(stdout);
}

/* Pids of the running workers (for sweep_escapees). */
static int worker_pids(Sup *sup, int *pids, int cap)
{
	int n = 0;
	for (int i = 0; i < sup->n_jobs && n < cap; i++)
		if (sup->jobs[i].child && !sup->jobs[i].child->m.exited)
			pids[n++] = sup->jobs[i].child->pid;
	return n;
}

static void sweep(Sup *sup)
{
	int pids[256];
	int n = worker_pids(sup, pids, 256);
	int found = sweep_escapees(pids, n);
	if (found)
		sup_log(sup, NULL, NULL, "killed %d escaped descendant%s of workers", found,
			found == 1 ? "" : "s");
}

/* run.metrics_file: rewritten every 5 s and at the end (metrics.h). */
static void write_metrics(Sup *sup)
{
	char err[STORE_ERR_MAX + 64];
	if (!sup->cfg.metrics_file[0])
		return;
	sup_commit(sup);
	sup->metrics_at = uv_now(&sup->loop);
	if (metrics_write(sup->store, sup->cfg.metrics_file, err, sizeof err) < 0 &&
	    !sup->metrics_warned) {
		sup->metrics_warned = 1;
		sup_log(sup, NULL, NULL, "run.metrics_file not written: %s", err);
	}
}

/* Once a second: the database file is still ours, another program's lock
 * is waited out (up to run.db_lock_timeout), the WAL stays under
 * budget.wal. */
static void watch_store(Sup *sup)
{
	uint64_t now = uv_now(&sup->loop);
	char b1[32], b2[32];
	int err;

	/* Outside the iteration's transaction: a file that is gone gets its
	 * WAL written back before nothing more is written (store.h). */
	sup_commit(sup);
	if (!sup->fatal && (err = store_check_file(sup->store)) < 0) {
		fatal_store(sup, NULL, "database check", err);
		return;
	}
	double busy = store_busy_seconds(sup->store);
	if (busy > 0 && !sup->fatal) {
		if (busy > sup->cfg.db_lock_timeout) {
			sup_log(sup, NULL, NULL, "%s: locked by another program for %.0f s (run.db_lock_timeout "
				"%g s): stopping the workers; run again once the lock is released",
				store_path(sup->store), busy, sup->cfg.db_lock_timeout);
			fprintf(stderr, "tickervisor: %s: locked by another program for %.0f s: stopping\n",
				store_path(sup->store), busy);
			sup->fatal = 1;
			if (!sup->stopping) {
				sup->stopping = 1;
				for (int i = 0; i < sup->n_jobs; i++)
					if (sup->jobs[i].child)
						child_event(sup->jobs[i].child, CE_STOP, NULL, NULL);
			}
		} else if (!sup->busy_log_ms || now - sup->busy_log_ms >= 10000) {
			sup->busy_log_ms = now;
			sup_log(sup, NULL, NULL, "%s: locked by another program for %.0f s: %d state "
				"change%s kept, retried every second; workers go on",
				store_path(sup->store), busy, store_pending_writes(sup->store),
				store_pending_writes(sup->store) == 1 ? "" : "s");
		}
	} else if (sup->busy_log_ms && busy == 0) {
		sup->busy_log_ms = 0;
		sup_log(sup, NULL, NULL, "%s: the lock is released; every kept change is written",
			store_path(sup->store));
	}
	uint64_t wal = store_wal_bytes(sup->store);
	if (sup->cfg.budget_wal && wal > sup->cfg.budget_wal) {
		/* A reader's open transaction keeps SQLite from reusing the WAL:
		 * try to checkpoint it now (never waits), outside our own
		 * transaction. */
		sup_commit(sup);
		int cr = store_wal_checkpoint(sup->store);
		if (cr < 0 && !sup->wal_over) {
			char w[256], all[1600];
			sup->wal_over = 1;
			snprintf(w, sizeof w, "the WAL (%s-wal) is %s, past budget.wal %s: a reader holds "
				 "a transaction open; checkpointing as soon as it can",
				 store_path(sup->store), fmt_bytes(wal, b1, sizeof b1),
				 fmt_bytes(sup->cfg.budget_wal, b2, sizeof b2));
			sup_log(sup, NULL, NULL, "warning: %s", w);
			snprintf(all, sizeof all, "%s%s%s", sup->warn_signals,
				 sup->warn_signals[0] ? "\n" : "", w);
			if ((err = store_run_warn(sup->store, sup->run_id, all)) < 0)
				sup_log(sup, NULL, NULL, "cannot record the warning: %s",
					store_errmsg(sup->store));
		}
	}
	if (sup->wal_over && store_wal_bytes(sup->store) <= sup->cfg.budget_wal) {
		sup->wal_over = 0;
		sup_log(sup, NULL, NULL, "the WAL is checkpointed (%s)",
			fmt_bytes(store_wal_bytes(sup->store), b1, sizeof b1));
		store_run_warn(sup->store, sup->run_id, sup->warn_signals);
	}
}

static void flush_cb(uv_timer_t *t)
{
	Sup *sup = t->data;
	sup_txn(sup);
	for (int i = 0; i < sup->n_jobs; i++)
		if (sup->jobs[i].child)
			flush_pending(sup->jobs[i].child);
	sweep(sup);
	int err = store_flush(sup->store);
	if (err < 0)
		fatal_store(sup, NULL, "store_flush", err);
	if (uv_now(&sup->loop) - sup->metrics_at >= 5000)
		write_metrics(sup);
	watch_store(sup);
	remove_checkpoints(sup);
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
		for (int i = 0; i < sup->n_jobs; i++)
			if (sup->jobs[i].child)
				child_event(sup->jobs[i].child, CE_STOP, NULL, NULL);
		schedule(sup);
		return;
	}
	/* Second signal: kill everything and leave now. */
	sup->aborted = 1;
	sup_log(sup, NULL, NULL, "%s again: killing %d worker%s", strsignal(signum),
		sup->n_children, sup->n_children == 1 ? "" : "s");
	for (int i = 0; i < sup->n_jobs; i++)
		if (sup->jobs[i].child)
			child_event(sup->jobs[i].child, CE_ABORT, NULL, NULL);
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
		j->ckpt_pos.chunk = r->ckpt_chunk;
		j->ckpt_pos.episode = r->ckpt_episode;
		j->ckpt_pos.done_episodes = r->ckpt_done_episodes;
		j->state = r->state;
		j->charged = r->charged_attempts;
		j->attempts = r->attempts;
		j->reason = r->last_reason[0] ? strdup(r->last_reason) : NULL;
		/* The rung the ladder reached in an earlier run comes first. */
		j->shape = (MemShape){ r->batch_size > 0 ? r->batch_size : sup->cfg.batch_size,
				       sup->cfg.buffer_size, sup->cfg.chunk_length, RUNG_BATCH };
		StoreShape sh;
		if ((err = store_job_shape_get(sup->store, j->id, &sh)) < 0)
			return err;
		if (sh.buffer_size > 0 && sh.buffer_size < j->shape.buffer_size)
			j->shape.buffer_size = sh.buffer_size;
		if (sh.chunk_length > 0 && sh.chunk_length < j->shape.chunk_length)
			j->shape.chunk_length = sh.chunk_length;
		memplan_rung_parse(sh.rung, &j->shape.rung);
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
		if (rc >= 0)
			rc = store_commit(sup->store);
		else
			store_rollback(sup->store);
		/* From scratch: the old training's checkpoints are not found again. */
		for (int i = 0; rc >= 0 && i < list->n; i++)
			if (bsearch(&list->rows[i].id, ids, (size_t)n, sizeof *ids, cmp_i64))
				drop_checkpoint_files(sup->out_dir, list->rows[i].ticker);
		store_jobs_free(list);
		if (rc < 0) {
			fprintf(stderr, "tickervisor: retrain: %s\n", store_errmsg(sup->store));
			goto out;
		}
	}
	/* The configuration each job trains under, and the input files of
	 * every ticker checked now, not when its turn comes. */
	rc = runstate_record_config(sup->store, sup->frozen, ids, n, sup->opt->retrain);
	if (rc >= 0)
	{
		char report[1024];
		if (rc >= 0 && (rc = runstate_check_jobs(sup->store, ids, n, report, sizeof report)) == -EAGAIN) {
			fprintf(stderr, "tickervisor: cannot check the input files: %s\n", report);
			goto out;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
		goto out;
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

/* 1 if pid's command line has a "--report-fd" argument (a worker's). */
static int has_report_fd_arg(int pid)
{
	char path[64], buf[8192];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (!strcmp(buf + i, "--report-fd"))
			return 1;
	return 0;
}

/* Kills what a supervisor that died (SIGKILL, power) left running: each
 * open attempt's process group, when the last run was on this host (a
 * worker leads its own group, so its pid is the group id; a live group
 * keeps the id from being reused). Returns how many groups were found. */
static int kill_leftover_groups(Sup *sup, const char *host)
{
	StoreRunInfo last;
	if (store_run_latest(sup->store, &last) != 1 || !last.host || strcmp(last.host, host))
		return 0;
	JobList *list = NULL;
	if (store_jobs_load(sup->store, &list) < 0)
		return 0;
	ProcEntry *v = NULL;
	int np = proc_scan(&v), n = 0;
	for (int i = 0; i < list->n; i++) {
		const JobRow *r = &list->rows[i];
		if (r->attempt_id <= 0 || r->attempt_ended_at != 0 || r->pid <= 1 || r->pid == getpid())
			continue;
		/* The id may have been reused: only a group with a process that
		 * has a worker's command line (--report-fd) is one of ours. */
		int ours = 0;
		for (int k = 0; k < np && !ours; k++)
			if (v[k].pgid == r->pid)
				ours = has_report_fd_arg(v[k].pid);
		if (ours && kill(-(pid_t)r->pid, SIGKILL) == 0)
			n++;
	}
	free(v);
	store_jobs_free(list);
	return n;
}

/* Kills and removes what supervisors of earlier runs on this host left in
 * their cgroups (one died, or a folder could not be removed): every
 * recorded run folder that is still there, with any attempt folder in it,
 * recorded or not. A recorded path is acted on only when it names one of
 * ours under this host's cgroup2 mount. Returns the processes killed;
 * *ret_folders gets the run folders removed. */
static int kill_leftover_cgroups(Sup *sup, const char *host, int *ret_folders)
{
	char **paths = NULL;
	int n = 0, killed = 0;
	*ret_folders = 0;
	if (!sup->cg_root[0] || store_cgroups_of_host(sup->store, host, &paths, &n) < 0)
		return 0;
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (!cgroup_is_ours(sup->cg_root, paths[i]) || stat(paths[i], &st) < 0)
			continue;
		int r = cgroup_run_remove(paths[i], 1000);
		if (r < 0) {
			fprintf(stderr, "tickervisor: cannot remove the cgroup %s an earlier run left: %s\n",
				paths[i], strerror(-r));
			continue;
		}
		killed += r;
		(*ret_folders)++;
	}
	store_strings_free(paths, n);
	return killed;
}

/* The run's folder: recorded first (so that a supervisor killed right
 * after making it leaves nothing unrecorded), then made. */
static void cgroups_begin(Sup *sup)
{
	if (!sup->cg_own[0])
		return;
	if (cgroup_run_name(sup->cg_own, sup->cg_run, sizeof sup->cg_run) < 0) {
		snprintf(sup->cg_why, sizeof sup->cg_why, "the cgroup path under %s is too long",
			 sup->cg_own);
		sup->cg_run[0] = '\0';
		return;
	}
	int err = store_run_cgroup(sup->store, sup->run_id, sup->cg_run);
	if (err >= 0 && (err = cgroup_make(sup->cg_run)) < 0) {
		snprintf(sup->cg_why, sizeof sup->cg_why, "mkdir %s: %s", sup->cg_run, strerror(-err));
		store_run_cgroup(sup->store, sup->run_id, "");  /* none was made */
	} else if (err < 0) {
		snprintf(sup->cg_why, sizeof sup->cg_why, "%s", store_errmsg(sup->store));
	}
	if (err < 0)
		sup->cg_run[0] = '\0';
}

/* Removes the attempt folders of what is still running (after the second
 * signal) and the run's folder. */
static void cgroups_end(Sup *sup)
{
	for (int i = 0; i < sup->n_jobs; i++)
		if (sup->jobs[i].child)
			child_cgroup_end(sup->jobs[i].child);
	if (!sup->cg_run[0])
		return;
	int err = cgroup_run_remove(sup->cg_run, 1000);
	if (err < 0 && err != -ENOENT)
		fprintf(stderr, "tickervisor: cannot remove the cgroup %s: %s (the next run on this "
			"database removes it)\n", sup->cg_run, strerror(-err));
	sup->cg_run[0] = '\0';
}

/* The worker writes OUT/TICKER.ckpt.prev and friends, and every path
 * travels through the report protocol (PROTO_STR bytes): a run whose paths
 * would not fit is refused at the start, naming the key. */
static int check_path_lengths(const Sup *sup, char **names, int n, char *err, size_t errlen)
{
	static const char longest_suffix[] = ".ckpt.prev.tmp";
	size_t dir = strlen(sup->out_dir);
	for (int i = 0; i < n; i++) {
		size_t len = dir + 1 + strlen(names[i]) + sizeof longest_suffix - 1;
		if (len >= PROTO_STR) {
			snprintf(err, errlen, "run.out_dir '%s' (%zu characters) with ticker '%.64s' "
				 "makes worker paths of %zu bytes; at most %d fit: use a shorter "
				 "run.out_dir or ticker name", sup->out_dir, dir, names[i], len,
				 PROTO_STR - 1);
			return -ENAMETOOLONG;
		}
	}
	return 0;
}

int run_main(const RunOptions *opt)
{
	Sup *sup = calloc(1, sizeof *sup);
	char err[STORE_ERR_MAX + 256];
	char **names = NULL;
	int n_names = 0, rc = RUN_EXIT_OK, loop_ready = 0;
	if (!sup) {
		fprintf(stderr, "tickervisor: out of memory\n");
		return RUN_EXIT_USAGE;
	}
	sup->opt = opt;
	sup->worker_log = -1;
	sup->out_lock = -1;
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
	/* The run's configuration, fixed now: recorded, and what every
	 * worker of the run gets (never the file, which may change). */
	sup->frozen = config_write_text(&sup->cfg, &sup->frozen_len);
	if (!sup->frozen) {
		fprintf(stderr, "tickervisor: out of memory writing the configuration text\n");
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
	if (!strcmp(sup->cfg.device, "cuda") && sup->n_gpus == 0) {
		char where[CONFIG_PATH_MAX + 64];
		config_origin(&sup->cfg, "run.device", where, sizeof where);
		fprintf(stderr, "tickervisor: %s: key 'run.device' is cuda, but this run has no GPU "
			"(run.gpus = %s, %d detected); set run.device = auto to fall back to the CPU, "
			"or cpu\n", where, sup->cfg.gpus, detected);
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	{
		/* Descriptors: the database, its WAL, shm and locks, the loop's
		 * own, and a few per worker. libuv aborts (it cannot report it)
		 * when its signal pipe cannot be made, so the limit is checked
		 * before anything is opened, and raised to the hard limit if
		 * that is enough. */
		struct rlimit rl;
		rlim_t need = 32 + 6 * (rlim_t)(sup->cfg.parallel + sup->n_gpus * sup->cfg.workers_per_gpu);
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
			if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
				rl.rlim_cur = need;
				setrlimit(RLIMIT_NOFILE, &rl);
			} else {
				fprintf(stderr, "tickervisor: the open files limit (ulimit -n) is %llu; this run "
					"needs at least %llu (the database and its locks, the event loop, and 6 per "
					"worker at run.parallel %d); raise it, or lower run.parallel\n",
					(unsigned long long)rl.rlim_cur, (unsigned long long)need, sup->cfg.parallel);
				rc = RUN_EXIT_USAGE;
				goto out;
			}
		}
	}
	for (int i = 0; i < sup->n_gpus; i++)
		sup->slots[i] = (PlacementSlot){ .device = sup->gpu_ids[i] };
	if (sup->n_gpus > 0) {
		sup->nvml = nvml_open(sup->nvml_err, sizeof sup->nvml_err);
		if (sup->nvml)
			fprintf(stderr, "tickervisor: NVML: %d device(s); budget.vram is held against "
				"each worker's device memory as the driver counts it\n",
				nvml_device_count(sup->nvml));
		else
			fprintf(stderr, "tickervisor: %s; budget.vram uses the workers' own reports\n",
				sup->nvml_err);
		/* A slot's device number is the worker's CUDA_VISIBLE_DEVICES,
		 * taken as NVML's index (docs/memory.md: when the two orders
		 * agree). */
		uint64_t bytes[PLACEMENT_MAX_GPUS];
		for (int i = 0; i < sup->n_gpus; i++)
			bytes[i] = sup->slots[i].vram_total = nvml_device_total(sup->nvml, sup->slots[i].device);
		if (sup->cfg.budget_vram != CONFIG_SIZE_AUTO &&
		    !memplan_vram_fits(sup->gpu_ids, bytes, sup->n_gpus, sup->cfg.budget_vram, err, sizeof err)) {
			char where[CONFIG_PATH_MAX + 64];
			config_origin(&sup->cfg, "budget.vram", where, sizeof where);
			fprintf(stderr, "tickervisor: %s: %s\n", where, err);
			rc = RUN_EXIT_USAGE;
			goto out;
		}
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

	if (check_path_lengths(sup, names, n_names, err, sizeof err) < 0) {
		fprintf(stderr, "tickervisor: %s\n", err);
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	char missing[1024];
	int n_missing = runstate_missing_signals(&sup->cfg, names, n_names, missing, sizeof missing);
	if (n_missing && sup->cfg.signals_required) {
		fprintf(stderr, "tickervisor: run.signals_required: run.signals_dir '%s' has no signals "
			"file for %d ticker%s: %s\n", sup->cfg.signals_dir, n_missing,
			n_missing == 1 ? "" : "s", missing);
		rc = RUN_EXIT_USAGE;
		goto out;
	}
	/* out_dir is locked like the database: two supervisors (with two
	 * databases) must not write the same models and checkpoints. The
	 * shards of one run share out_dir (their tickers differ): one lock
	 * per shard. */
	{
		char lock[PATH_MAX + 32], why[PATH_MAX + 128];
		snprintf(lock, sizeof lock, "%s/.tickervisor%s.lock", sup->out_dir, shard_sfx);
		if (store_lock_file(lock, "output folder", &sup->out_lock, why, sizeof why) < 0) {
			fprintf(stderr, "tickervisor: run.out_dir %s: %s\n", sup->out_dir, why);
			rc = RUN_EXIT_STORE;
			goto out;
		}
	}
	/* Descendants of workers that escape their group come back to us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* ... and each attempt's tree is held by a cgroup of its own where
	 * cgroup v2 is writable. */
	size_t exe_len = sizeof sup->self_exe;
	int exe_r = 0;
	if (cgroup_find(sup->cg_root, sizeof sup->cg_root, sup->cg_own, sizeof sup->cg_own,
			sup->cg_why, sizeof sup->cg_why) == 0 &&
	    (exe_r = uv_exepath(sup->self_exe, &exe_len)) < 0) {
		snprintf(sup->cg_why, sizeof sup->cg_why, "our own executable: %s", uv_strerror(exe_r));
		sup->cg_own[0] = '\0';
	}
	find_oom_counter(sup->oom_path, sizeof sup->oom_path, &sup->oom_source);

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
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	int n_cg = 0, n_cg_procs = kill_leftover_cgroups(sup, host, &n_cg);
	if (n_cg)
		fprintf(stderr, "tickervisor: killed %d process%s left in the cgroups of %d earlier "
			"run%s\n", n_cg_procs, n_cg_procs == 1 ? "" : "es", n_cg, n_cg == 1 ? "" : "s");
	int n_left = kill_leftover_groups(sup, host);
	if (n_left)
		fprintf(stderr, "tickervisor: killed %d worker process group%s left by a supervisor "
			"that died\n", n_left, n_left == 1 ? "" : "s");
	int n_lost = 0;
	if (store_recover(sup->store, &n_lost) < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
		rc = RUN_EXIT_STORE;
		goto out;
	}
	{
		char *drift = malloc(16384);
		int nd = drift ? runstate_drift(sup->store, &sup->cfg, names, n_names, drift, 16384) :
			 -ENOMEM;
		if (nd < 0) {
			fprintf(stderr, "tickervisor: %s\n", drift && drift[0] ? drift : strerror(-nd));
			free(drift);
			rc = RUN_EXIT_STORE;
			goto out;
		}
		if (nd > 0 && !opt->retrain) {
			fprintf(stderr, "tickervisor: the model-shaping configuration differs from the one "
				"%d ticker%s trained under (recorded in %s):\n%s\n"
				"Nothing was started or changed. Either run again with --retrain to train "
				"%s afresh under this configuration, or restore the configuration.\n",
				nd, nd == 1 ? "" : "s", dbpath, drift, nd == 1 ? "it" : "them");
			free(drift);
			rc = RUN_EXIT_USAGE;
			goto out;
		}
		free(drift);
	}
	memory_plan(sup, n_names);
	StoreRunInfo info = {
		.host = host,
		.pid = getpid(),
		.name = sup->cfg.name,
		.config_text = sup->frozen,
		.budget_rss = sup->cfg.budget_rss,
		.budget_vram = sup->cfg.budget_vram,
	};
	if (store_run_begin(sup->store, &info, &sup->run_id) < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
		rc = RUN_EXIT_STORE;
		goto out;
	}
	cgroups_begin(sup);
	if (prepare_jobs(sup, names, n_names) < 0) {
		rc = RUN_EXIT_STORE;
		goto out;
	}
	for (int i = 0; i < sup->n_jobs; i++) {
		char w[1200];
		size_t used = strlen(sup->warn_signals);
		if (!sup->jobs[i].signals_path || !sup->jobs[i].signals_path[0] ||
		    !runstate_signals_outside(sup->jobs[i].signals_path, sup->jobs[i].data_path, w, sizeof w))
			continue;
		if (used + 2 < sizeof sup->warn_signals)
			snprintf(sup->warn_signals + used, sizeof sup->warn_signals - used, "%s%s",
				 used ? "\n" : "", w);
	}
	if (n_missing) {
		char w[1200];
		snprintf(w, sizeof w, "run.signals_dir %s has no signals file for %d ticker%s (they "
			 "train without signals): %s", sup->cfg.signals_dir, n_missing,
			 n_missing == 1 ? "" : "s", missing);
		size_t used = strlen(sup->warn_signals);
		if (used + 2 < sizeof sup->warn_signals)
			snprintf(sup->warn_signals + used, sizeof sup->warn_signals - used, "%s%s",
				 used ? "\n" : "", w);
	}
	/* The warnings about signals, for the log below and for status. */
	if (sup->warn_signals[0] && store_run_warn(sup->store, sup->run_id, sup->warn_signals) < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
		rc = RUN_EXIT_STORE;
		goto out;
	}
	if ((sup->mem_plan[0] || sup->ladder.n > 1) &&
	    store_run_memory_set(sup->store, sup->run_id, sup->mem_plan, "", -1) < 0) {
		fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
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
		for (const char *w = sup->warn_signals; *w;) {
			size_t wl = strcspn(w, "\n");
			sup_log(sup, NULL, NULL, "warning: %.*s", (int)wl, w);
			w += wl + (w[wl] == '\n');
		}
		for (int i = 0; i < sup->n_jobs; i++) {
			const char *why = sup->jobs[i].reason ? sup->jobs[i].reason : "";
			if (sup->jobs[i].state != JOB_FAILED)
				continue;
			if (!strncmp(why, RUNSTATE_INPUT_PREFIX, strlen(RUNSTATE_INPUT_PREFIX)))
				sup_log(sup, &sup->jobs[i], NULL, "failed: bad input: %s", why);
			else
				sup_log(sup, &sup->jobs[i], NULL, "failed in an earlier run (use --retry-failed): %s",
					why);
		}
		if (sup->cg_run[0])
			sup_log(sup, NULL, NULL, "process trees: a cgroup per attempt in %s, and "
				"process groups", sup->cg_run);
		else
			sup_log(sup, NULL, NULL, "process trees: process groups and the subreaper only "
				"(no cgroup v2: %s)", sup->cg_why);
		if (sup->mem_plan[0])
			sup_log(sup, NULL, NULL, "memory: %s", sup->mem_plan);
		if (sup->ladder.n > 1)
			sup_log(sup, NULL, NULL, "memory: budget.ladder %s (floors min_batch_size %d, "
				"min_buffer_size %d, min_chunk_length %d)", sup->cfg.ladder,
				sup->floors.min_batch_size, sup->floors.min_buffer_size,
				sup->floors.min_chunk_length);
		for (int i = 0; i < sup->n_jobs; i++)
			if (sup->jobs[i].shape.rung != RUNG_BATCH)
				sup_log(sup, &sup->jobs[i], NULL, "starts on rung %s of an earlier run: "
					"buffer_size %d, chunk_length %d",
					memplan_rung_name(sup->jobs[i].shape.rung),
					sup->jobs[i].shape.buffer_size, sup->jobs[i].shape.chunk_length);
	}

	/* The loop. Every init is checked: under a low descriptor limit
	 * (ulimit -n) they fail, and a handle used uninitialised aborts. */
	int ue = uv_loop_init(&sup->loop);
	if (ue < 0) {
		fprintf(stderr, "tickervisor: cannot start the event loop: %s\n", uv_strerror(ue));
		rc = RUN_EXIT_STORE;
		goto out;
	}
	loop_ready = 1;
	const char *what = "signal handler";
	if ((ue = uv_signal_init(&sup->loop, &sup->sigint)) < 0 ||
	    (ue = uv_signal_init(&sup->loop, &sup->sigterm)) < 0 ||
	    (ue = uv_signal_start(&sup->sigint, signal_cb, SIGINT)) < 0 ||
	    (ue = uv_signal_start(&sup->sigterm, signal_cb, SIGTERM)) < 0 ||
	    (what = "timer", (ue = uv_timer_init(&sup->loop, &sup->sched_timer))) < 0 ||
	    (ue = uv_timer_init(&sup->loop, &sup->flush_timer)) < 0 ||
	    (what = "check handle", (ue = uv_check_init(&sup->loop, &sup->commit_check))) < 0) {
		fprintf(stderr, "tickervisor: cannot set up the event loop's %s: %s%s\n", what,
			uv_strerror(ue), ue == UV_EMFILE || ue == UV_ENFILE ?
			" (raise the open files limit, ulimit -n)" : "");
		rc = RUN_EXIT_STORE;
		goto out;
	}
	sup->sigint.data = sup->sigterm.data = sup;
	static const int more[3] = { SIGHUP, SIGUSR1, SIGUSR2 };
	for (int i = 0; i < 3; i++) {
		if ((ue = uv_signal_init(&sup->loop, &sup->sig_more[i])) < 0 ||
		    (ue = uv_signal_start(&sup->sig_more[i], signal_cb, more[i])) < 0) {
			fprintf(stderr, "tickervisor: cannot set up the event loop's signal handler: %s\n",
				uv_strerror(ue));
			rc = RUN_EXIT_STORE;
			goto out;
		}
		sup->sig_more[i].data = sup;
	}
	sup->sched_timer.data = sup->flush_timer.data = sup;
	uv_timer_start(&sup->flush_timer, flush_cb, 1000, 1000);
	sup->commit_check.data = sup;
	uv_check_start(&sup->commit_check, commit_cb);
	/* From here on no store call waits for another program's lock. */
	store_set_busy_timeout(sup->store, 0);
	uv_update_time(&sup->loop);
	schedule(sup);
	uv_run(&sup->loop, UV_RUN_DEFAULT);
	sup_commit(sup);
	cgroups_end(sup);
	/* No descendant of a worker outlives the run. */
	for (int tries = 0; tries < 20 && sweep_escapees(NULL, 0) > 0; tries++)
		usleep(10000);
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
		if (sup->mem_wait[0])
			store_run_memory_set(sup->store, sup->run_id, NULL, "", -1);
		int flush_err = store_flush(sup->store);
		/* The workers are done; what the database still owes waits for
		 * another program's lock, up to run.db_lock_timeout. */
		if (flush_err >= 0 && (store_pending_writes(sup->store) > 0 ||
				       store_pending_rows(sup->store) > 0) &&
		    store_busy_seconds(sup->store) > 0 && !sup->fatal) {
			sup_log(sup, NULL, NULL, "%s: locked by another program: waiting up to %.0f s to "
				"write %d kept changes", store_path(sup->store),
				sup->cfg.db_lock_timeout - store_busy_seconds(sup->store),
				store_pending_writes(sup->store));
			while (flush_err >= 0 && store_pending_writes(sup->store) + store_pending_rows(sup->store) > 0 &&
			       store_busy_seconds(sup->store) <= sup->cfg.db_lock_timeout) {
				usleep(200000);
				flush_err = store_flush(sup->store);
			}
		}
		if (flush_err >= 0)
			remove_checkpoints(sup);  /* those whose "done" waited for the lock */
		const char *outcome = sup->fatal ? "error" : sup->stopping ? "stopped" :
				      n_failed ? "failed" : "finished";
		if (flush_err < 0 || store_run_end(sup->store, sup->run_id, outcome) < 0) {
			fprintf(stderr, "tickervisor: %s\n", store_errmsg(sup->store));
			sup->fatal = 1;
		}
		write_metrics(sup);
		if (store_pending_writes(sup->store) > 0) {
			fprintf(stderr, "tickervisor: %s: still locked by another program: %d state "
				"change%s not written (the next run recovers from the checkpoints)\n",
				store_path(sup->store), store_pending_writes(sup->store),
				store_pending_writes(sup->store) == 1 ? "" : "s");
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
	cgroups_end(sup);
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
	free(sup->frozen);
	if (sup->worker_log >= 0)
		close(sup->worker_log);
	if (sup->out_lock >= 0)
		close(sup->out_lock);
	free(sup);
	return rc;
}
