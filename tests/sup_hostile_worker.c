/* A worker that misbehaves on purpose (issue 7), to check that the
 * supervisor stays correct and responsive. It speaks the report protocol
 * like tests/sup_fake_worker.c and trains nothing. Command line: the
 * worker's (--ticker T --out DIR --report-fd N; the rest is ignored).
 * HOSTILE_MODE picks the misbehaviour (after hello unless said otherwise):
 *   grandchild  a grandchild keeps the report pipe open and sleeps 120 s;
 *               the worker delivers its result and exits 0
 *   setsid      a child leaves with setsid() (pipe closed) and sleeps 120 s;
 *               the worker delivers its result and exits 0
 *   escape      a child (in the worker's group, pipe closed) forks a
 *               grandchild that leaves with setsid() and sleeps 120 s; the
 *               worker sends heartbeats for 120 s
 *   forkmem     two children touch HOSTILE_MB MiB each (default 100) and
 *               sleep; the worker itself stays small, sends heartbeats
 *   exit10      exits 10 (interrupted) though nobody asked
 *   exit0       exits 0 without a result
 *   resulthang  delivers its result, then sleeps 120 s without a frame
 *   flood       HOSTILE_SECONDS (default 3) of progress, checkpoint and
 *               error frames as fast as the pipe takes them, then a result
 *   outside     reports a model file outside out_dir (a valid one in /tmp)
 *   badsum      reports its model with a wrong checksum
 *   nomodel     reports a model file that does not exist
 *   ckptout     reports a checkpoint outside out_dir (a valid file in /tmp)
 *   ckptlink    reports OUT/T.ckpt, a symlink to a valid file outside out_dir,
 *               while a valid OUT/T.ckpt.prev is there
 *   bignum      reports progress with episode = 1e18
 *   badskip     says hello with skipped_rows = -3 (instead of its hello)
 *   ctrl        an error frame full of terminal escapes and newlines, exit 12
 *   hang        sends nothing after hello and sleeps 120 s
 *   tree        ignores SIGTERM, forks two children (same group, SIGTERM
 *               ignored too) that sleep 120 s, sends heartbeats for 120 s
 * HOSTILE_ONCE=FILE: misbehave only if FILE does not exist (and create it),
 * else behave: hello, result, exit 0.
 * HOSTILE_TICKER=T: only ticker T misbehaves; the others behave.
 * HOSTILE_PIDFILE=FILE: the process that left with setsid() (setsid,
 * escape) writes its pid there once it has; in mode setsid the worker
 * delivers its result only once the file is there (up to 10 s). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/exitcodes.h"
#include "common/proto.h"

static int fd = -1;

static void send_msg(const Msg *m)
{
	uint8_t buf[4096];
	int n = proto_encode(m, buf, sizeof buf);
	size_t off = 0;
	while (n > 0 && off < (size_t)n) {
		ssize_t w = write(fd, buf + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(TV_EXIT_INTERNAL);
		off += (size_t)w;
	}
}

/* TEXT plus the model-file trailer; returns the CRC. */
static uint32_t write_file(const char *path, const char *text)
{
	uint32_t crc = checksum_crc32(0, text, strlen(text));
	unsigned char tail[5] = { 0xce, (unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
				  (unsigned char)(crc >> 8), (unsigned char)crc };
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fwrite(tail, 1, sizeof tail, f);
		fclose(f);
	}
	return crc;
}

static void result(const char *path, uint32_t crc)
{
	Msg m;
	memset(&m, 0, sizeof m);
	m.type = MSG_RESULT;
	snprintf(m.u.result.model_path, sizeof m.u.result.model_path, "%s", path);
	m.u.result.checksum = crc;
	m.u.result.test_days = 1;
	send_msg(&m);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* After setsid(): the pid into $HOSTILE_PIDFILE (written whole, then
 * renamed, so a reader never sees half of it). */
static void write_pidfile(void)
{
	const char *path = getenv("HOSTILE_PIDFILE");
	if (!path || !*path)
		return;
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void heartbeats(int n)
{
	Msg m;
	for (int k = 0; k < n; k++) {
		memset(&m, 0, sizeof m);
		m.type = MSG_HEARTBEAT;
		send_msg(&m);
		sleep_s(0.1);
	}
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : def;
}

int main(int argc, char **argv)
{
	const char *ticker = "X", *out = ".";
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--ticker"))
			ticker = argv[++i];
		else if (!strcmp(argv[i], "--out"))
			out = argv[++i];
		else if (!strcmp(argv[i], "--report-fd"))
			fd = atoi(argv[++i]);
	}
	signal(SIGUSR1, SIG_IGN);   /* "checkpoint now": nothing to checkpoint */
	const char *mode = getenv("HOSTILE_MODE");
	const char *once = getenv("HOSTILE_ONCE");
	const char *only = getenv("HOSTILE_TICKER");  /* the one ticker that misbehaves */
	if (!mode || (only && *only && strcmp(only, ticker)))
		mode = "";
	if (once && *once) {
		int o = open(once, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (o < 0)
			mode = "";
		else
			close(o);
	}
	char model[PROTO_STR], text[PROTO_STR + 32];
	snprintf(model, sizeof model, "%s/%s.model", out, ticker);
	snprintf(text, sizeof text, "hostile model %s\n", ticker);

	Msg m;
	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	m.u.hello.pid = getpid();
	snprintf(m.u.hello.ticker, sizeof m.u.hello.ticker, "%s", ticker);
	snprintf(m.u.hello.backend, sizeof m.u.hello.backend, "cpu");
	snprintf(m.u.hello.device, sizeof m.u.hello.device, "cpu");
	m.u.hello.batch_size = 1;
	m.u.hello.total_chunks = 1;
	m.u.hello.episodes_per_chunk = 1;
	if (!strcmp(mode, "badskip"))
		m.u.hello.skipped_rows = -3;
	send_msg(&m);

	if (!strcmp(mode, "grandchild")) {
		pid_t p = fork();
		if (p == 0) {
			if (fork() == 0) {   /* the grandchild: keeps fd open */
				sleep_s(120);
				_exit(0);
			}
			_exit(0);
		}
	} else if (!strcmp(mode, "setsid")) {
		if (fork() == 0) {
			close(fd);
			setsid();
			write_pidfile();
			sleep_s(120);
			_exit(0);
		}
		const char *pf = getenv("HOSTILE_PIDFILE");
		for (int k = 0; pf && *pf && k < 1000 && access(pf, F_OK) != 0; k++)
			sleep_s(0.01);
	} else if (!strcmp(mode, "escape")) {
		if (fork() == 0) {
			close(fd);
			if (fork() == 0) {   /* the grandchild: a session of its own */
				setsid();
				write_pidfile();
				sleep_s(120);
				_exit(0);
			}
			sleep_s(120);
			_exit(0);
		}
		heartbeats(1200);
	} else if (!strcmp(mode, "forkmem")) {
		long mb = env_long("HOSTILE_MB", 100);
		for (int k = 0; k < 2; k++)
			if (fork() == 0) {
				close(fd);
				size_t len = (size_t)mb << 20;
				char *mem = malloc(len);
				for (size_t off = 0; mem && off < len; off += 4096)
					mem[off] = 1;
				sleep_s(120);
				_exit(0);
			}
		for (int k = 0; k < 600; k++) {   /* 60 s of heartbeats */
			memset(&m, 0, sizeof m);
			m.type = MSG_HEARTBEAT;
			send_msg(&m);
			sleep_s(0.1);
		}
	} else if (!strcmp(mode, "exit10")) {
		sleep_s(0.2);
		return TV_EXIT_INTERRUPTED;
	} else if (!strcmp(mode, "exit0")) {
		return TV_EXIT_DONE;
	} else if (!strcmp(mode, "resulthang")) {
		result(model, write_file(model, text));
		sleep_s(120);
		return 0;
	} else if (!strcmp(mode, "flood")) {
		double secs = (double)env_long("HOSTILE_SECONDS", 3);
		struct timespec t0, now;
		char ckpt[PROTO_STR];
		snprintf(ckpt, sizeof ckpt, "%s/%s.ckpt", out, ticker);
		uint32_t ccrc = write_file(ckpt, "hostile checkpoint\n");
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 1;; i++) {
			memset(&m, 0, sizeof m);
			m.type = MSG_PROGRESS;
			m.u.progress.episode = i % 1000;
			m.u.progress.done_episodes = i % 1000;
			m.u.progress.total_episodes = 1000;
			send_msg(&m);
			memset(&m, 0, sizeof m);
			m.type = MSG_CHECKPOINT;
			snprintf(m.u.checkpoint.path, sizeof m.u.checkpoint.path, "%s", ckpt);
			m.u.checkpoint.checksum = ccrc;
			m.u.checkpoint.done_episodes = i % 1000;
			send_msg(&m);
			memset(&m, 0, sizeof m);
			m.type = MSG_ERROR;
			m.u.error.code = 0;
			snprintf(m.u.error.message, sizeof m.u.error.message, "flood %ld", i);
			send_msg(&m);
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) * 1e-9 > secs)
				break;
		}
	} else if (!strcmp(mode, "outside")) {
		char path[PROTO_STR];
		snprintf(path, sizeof path, "%s/../outside-%s.model", out, ticker);
		result(path, write_file(path, text));
		return 0;
	} else if (!strcmp(mode, "nomodel")) {
		result(model, 0x12345678u);
		return 0;
	} else if (!strcmp(mode, "ckptout")) {
		char path[PROTO_STR];
		snprintf(path, sizeof path, "%s/../outside-%s.ckpt", out, ticker);
		memset(&m, 0, sizeof m);
		m.type = MSG_CHECKPOINT;
		snprintf(m.u.checkpoint.path, sizeof m.u.checkpoint.path, "%s", path);
		m.u.checkpoint.checksum = write_file(path, "hostile checkpoint\n");
		m.u.checkpoint.done_episodes = 1;
		send_msg(&m);
		sleep_s(5);
	} else if (!strcmp(mode, "ckptlink")) {
		char target[PROTO_STR], prev[PROTO_STR + 8];
		snprintf(target, sizeof target, "%s/../outside-%s.ckpt", out, ticker);
		snprintf(prev, sizeof prev, "%s/%s.ckpt.prev", out, ticker);
		write_file(prev, "hostile checkpoint inside\n");
		memset(&m, 0, sizeof m);
		m.type = MSG_CHECKPOINT;
		snprintf(m.u.checkpoint.path, sizeof m.u.checkpoint.path, "%s/%s.ckpt", out, ticker);
		m.u.checkpoint.checksum = write_file(target, "hostile checkpoint outside\n");
		m.u.checkpoint.done_episodes = 1;
		unlink(m.u.checkpoint.path);
		if (symlink(target, m.u.checkpoint.path) < 0)
			return TV_EXIT_INTERNAL;
		send_msg(&m);
		sleep_s(5);
	} else if (!strcmp(mode, "badsum")) {
		result(model, write_file(model, text) ^ 1u);
		return 0;
	} else if (!strcmp(mode, "bignum")) {
		memset(&m, 0, sizeof m);
		m.type = MSG_PROGRESS;
		m.u.progress.episode = 1000000000000000000LL;
		m.u.progress.done_episodes = 1;
		m.u.progress.total_episodes = 1;
		send_msg(&m);
		sleep_s(5);
	} else if (!strcmp(mode, "hang")) {
		sleep_s(120);
	} else if (!strcmp(mode, "tree")) {
		signal(SIGTERM, SIG_IGN);
		for (int k = 0; k < 2; k++)
			if (fork() == 0) {
				close(fd);
				sleep_s(120);
				_exit(0);
			}
		for (int k = 0; k < 1200; k++) {
			memset(&m, 0, sizeof m);
			m.type = MSG_HEARTBEAT;
			send_msg(&m);
			sleep_s(0.1);
		}
	} else if (!strcmp(mode, "ctrl")) {
		memset(&m, 0, sizeof m);
		m.type = MSG_ERROR;
		m.u.error.code = TV_EXIT_BAD_INPUT;
		snprintf(m.u.error.message, sizeof m.u.error.message,
			 "\033[2J\033[31mred\nFAKE 2026-01-01 line\rback\a");
		send_msg(&m);
		return TV_EXIT_BAD_INPUT;
	}
	result(model, write_file(model, text));
	return TV_EXIT_DONE;
}
