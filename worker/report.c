#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double report_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void report_rss(int64_t *ret_current, int64_t *ret_peak)
{
	long pages = 0, resident = 0;
	char line[256];
	FILE *f;
	int64_t cur = 0, peak = 0;

	f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) == 2)
			cur = (int64_t)resident * sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	f = fopen("/proc/self/status", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			long kb;

			if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
				peak = (int64_t)kb * 1024;
		}
		fclose(f);
	}
	*ret_current = cur;
	*ret_peak = peak > cur ? peak : cur;
}

void report_init(Reporter *rp, int fd, const char *ticker, double interval)
{
	memset(rp, 0, sizeof(*rp));
	rp->fd = fd;
	snprintf(rp->ticker, sizeof(rp->ticker), "%s", ticker);
	rp->interval = interval;
	rp->last_beat = report_now();
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void print_line(const Reporter *rp, const Msg *m)
{
	const char *t = rp->ticker;

	switch (m->type) {
	case MSG_HELLO:
		fprintf(stderr, "%s: pid %lld, %s on %s, batch_size %lld, %lld chunks x %lld episodes\n",
			t, (long long)m->u.hello.pid, m->u.hello.backend, m->u.hello.device,
			(long long)m->u.hello.batch_size, (long long)m->u.hello.total_chunks,
			(long long)m->u.hello.episodes_per_chunk);
		break;
	case MSG_PROGRESS:
		fprintf(stderr, "%s: chunk %lld episode %lld (%lld/%lld) loss %.6g epsilon %.4f reward %.5g\n",
			t, (long long)m->u.progress.chunk + 1, (long long)m->u.progress.episode,
			(long long)m->u.progress.done_episodes, (long long)m->u.progress.total_episodes,
			m->u.progress.loss, m->u.progress.epsilon, m->u.progress.reward);
		break;
	case MSG_HEARTBEAT:
		break;
	case MSG_CHECKPOINT:
		fprintf(stderr, "%s: checkpoint %s (crc32 %08x) at chunk %lld episode %lld\n",
			t, m->u.checkpoint.path, m->u.checkpoint.checksum,
			(long long)m->u.checkpoint.chunk + 1, (long long)m->u.checkpoint.episode);
		break;
	case MSG_RESULT:
		fprintf(stderr, "%s: model %s; test %lld days: return %.4f (buy and hold %.4f), "
			"sharpe %.3f, max drawdown %.4f, trades %lld\n",
			t, m->u.result.model_path, (long long)m->u.result.test_days,
			m->u.result.total_return, m->u.result.buy_hold_return, m->u.result.sharpe,
			m->u.result.max_drawdown, (long long)m->u.result.trades);
		break;
	case MSG_ERROR:
		fprintf(stderr, "%s: error: %s\n", t, m->u.error.message);
		break;
	}
}

int report_send(Reporter *rp, const Msg *msg)
{
	uint8_t buf[PROTO_MAX_FRAME + 4];
	int n, r;

	if (rp->fd < 0) {
		print_line(rp, msg);
		return 0;
	}
	if (rp->broken)
		return -EPIPE;
	n = proto_encode(msg, buf, sizeof(buf));
	if (n < 0)
		return n;
	r = write_all(rp->fd, buf, (size_t)n);
	if (r < 0)
		rp->broken = 1;
	return r;
}

void report_memory(Reporter *rp, int64_t replay, int64_t activations, int64_t weights,
		   int64_t device)
{
	MsgHeartbeat *h = &rp->hb;

	h->bytes_replay = replay;
	h->bytes_activations = activations;
	h->bytes_weights = weights;
	h->bytes_device = device;
	if (replay > h->peak_replay)
		h->peak_replay = replay;
	if (activations > h->peak_activations)
		h->peak_activations = activations;
	if (weights > h->peak_weights)
		h->peak_weights = weights;
	if (device > h->peak_device)
		h->peak_device = device;
}

void report_heartbeat(Reporter *rp, int force)
{
	double now = report_now();
	Msg m;

	if (!force && now - rp->last_beat < rp->interval)
		return;
	rp->last_beat = now;
	report_rss(&rp->hb.rss_current, &rp->hb.rss_peak);
	if (rp->fd < 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = MSG_HEARTBEAT;
	m.u.heartbeat = rp->hb;
	report_send(rp, &m);
}
