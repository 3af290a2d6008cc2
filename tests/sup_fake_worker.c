/* A stand-in for tickervisor-worker that speaks the report protocol but
 * trains nothing: used by the supervisor benchmarks (spawn latency and
 * scheduling throughput with trivially small jobs) and to exercise the loop
 * without the real numerics.
 *
 * Command line: the worker's (--config F --set K=V --ticker T --data P
 * [--signals S] --out DIR [--resume CKPT] [--report-fd N]); unknown
 * options are ignored.  Behaviour, from the environment:
 *   FAKE_EPISODES=N   progress frames to send (default 0: hello + result)
 *   FAKE_SLEEP_MS=N   sleep after each episode (default 0)
 *   FAKE_ALLOC_MB=N   touch N MiB of memory before the episodes (default 0),
 *                     page by page, after FAKE_ALLOC_DELAY_MS (default 0)
 *   FAKE_MARK_BYTES=N while touching, write "mark TICKER SEC.NSEC" (CLOCK_REALTIME)
 *                     to stderr when N bytes are touched (budget benchmark)
 *   FAKE_HOLD_MS=N    after touching, sleep N ms before the episodes
 *   FAKE_FREE=1       then give that memory back (the RSS falls below the peak;
 *                     mapped and unmapped directly, as a sanitizer's allocator
 *                     keeps freed memory)
 * It sends hello, one heartbeat, the progress frames, a checkpoint frame
 * every FAKE_CKPT_EVERY episodes (default 0 = never), and a result frame,
 * writes DIR/TICKER.model (a few bytes and the model-file checksum trailer;
 * checkpoints likewise to DIR/TICKER.ckpt) and exits 0.
 * SIGTERM: exit 10 (interrupted) at the next episode boundary. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/exitcodes.h"
#include "common/proto.h"

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static int send_msg(int fd, const Msg *m)
{
	uint8_t buf[4096];
	int n = proto_encode(m, buf, sizeof buf);
	if (n < 0)
		return n;
	size_t off = 0;
	while (off < (size_t)n) {
		ssize_t w = write(fd, buf + off, (size_t)n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)w;
	}
	return 0;
}

/* Writes TEXT plus the model-file trailer (CRC-32 of what precedes it as
 * a msgpack uint32), as the real worker's files end. Returns the CRC. */
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

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : def;
}

int main(int argc, char **argv)
{
	const char *ticker = "X", *out = ".";
	int fd = -1;
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--ticker"))
			ticker = argv[++i];
		else if (!strcmp(argv[i], "--out"))
			out = argv[++i];
		else if (!strcmp(argv[i], "--report-fd"))
			fd = atoi(argv[++i]);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGTERM, on_term);
	long episodes = env_long("FAKE_EPISODES", 0);
	long sleep_ms = env_long("FAKE_SLEEP_MS", 0);
	long alloc_mb = env_long("FAKE_ALLOC_MB", 0);
	long ckpt_every = env_long("FAKE_CKPT_EVERY", 0);

	Msg m;
	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	m.u.hello.pid = getpid();
	snprintf(m.u.hello.ticker, sizeof m.u.hello.ticker, "%s", ticker);
	snprintf(m.u.hello.backend, sizeof m.u.hello.backend, "cpu");
	snprintf(m.u.hello.device, sizeof m.u.hello.device, "cpu");
	m.u.hello.batch_size = 1;
	m.u.hello.total_chunks = 1;
	m.u.hello.episodes_per_chunk = episodes;
	if (fd >= 0 && send_msg(fd, &m) < 0)
		return TV_EXIT_INTERNAL;

	char *mem = NULL;
	if (alloc_mb > 0) {
		long delay_ms = env_long("FAKE_ALLOC_DELAY_MS", 0);
		long mark = env_long("FAKE_MARK_BYTES", -1);
		long hold_ms = env_long("FAKE_HOLD_MS", 0);
		size_t len = (size_t)alloc_mb << 20;
		if (delay_ms > 0) {
			struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		int give_back = env_long("FAKE_FREE", 0) != 0;
		if (give_back) {
			mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mem == MAP_FAILED)
				return TV_EXIT_OVER_BUDGET;
		} else {
			mem = malloc(len);
			if (!mem)
				return TV_EXIT_OVER_BUDGET;
		}
		for (size_t off = 0; off < len; off += 4096) {
			mem[off] = 1;
			if (mark >= 0 && off + 4096 >= (size_t)mark && off < (size_t)mark) {
				struct timespec now;
				clock_gettime(CLOCK_REALTIME, &now);
				fprintf(stderr, "mark %s %lld.%09ld\n", ticker, (long long)now.tv_sec,
					now.tv_nsec);
				fflush(stderr);
			}
		}
		if (hold_ms > 0) {
			struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (give_back) {
			munmap(mem, len);
			mem = NULL;
		}
	}
	memset(&m, 0, sizeof m);
	m.type = MSG_HEARTBEAT;
	if (fd >= 0 && send_msg(fd, &m) < 0)
		return TV_EXIT_INTERNAL;

	for (long e = 1; e <= episodes; e++) {
		if (sleep_ms > 0) {
			struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		memset(&m, 0, sizeof m);
		m.type = MSG_PROGRESS;
		m.u.progress.chunk = 0;
		m.u.progress.episode = e;
		m.u.progress.done_episodes = e;
		m.u.progress.total_episodes = episodes;
		if (fd >= 0 && send_msg(fd, &m) < 0)
			return TV_EXIT_INTERNAL;
		if (got_term) {
			free(mem);
			return TV_EXIT_INTERRUPTED;
		}
		if (ckpt_every > 0 && e % ckpt_every == 0) {
			memset(&m, 0, sizeof m);
			m.type = MSG_CHECKPOINT;
			snprintf(m.u.checkpoint.path, sizeof m.u.checkpoint.path,
				 "%s/%s.ckpt", out, ticker);
			char text[64];
			snprintf(text, sizeof text, "fake checkpoint %ld\n", e);
			m.u.checkpoint.checksum = write_file(m.u.checkpoint.path, text);
			m.u.checkpoint.episode = e;
			m.u.checkpoint.done_episodes = e;
			if (fd >= 0 && send_msg(fd, &m) < 0)
				return TV_EXIT_INTERNAL;
		}
	}
	free(mem);

	char path[PROTO_STR];
	snprintf(path, sizeof path, "%s/%s.model", out, ticker);
	char text[PROTO_STR + 16];
	snprintf(text, sizeof text, "fake model %s\n", ticker);
	uint32_t crc = write_file(path, text);
	memset(&m, 0, sizeof m);
	m.type = MSG_RESULT;
	m.u.result.checksum = crc;
	snprintf(m.u.result.model_path, sizeof m.u.result.model_path, "%s", path);
	m.u.result.test_days = 1;
	if (fd >= 0 && send_msg(fd, &m) < 0)
		return TV_EXIT_INTERNAL;
	return TV_EXIT_DONE;
}
