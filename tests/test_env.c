/* The environment's reward on scripted action sequences, against values
 * worked out by hand (see the comments) and against the three rules of the
 * users' original written out on the whole value history; the CRC-32
 * against zlib's. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/config.h"
#include "env.h"
#include "indicators.h"
#include "check.h"

/* The only test that compares doubles by name, so it stays here. */
#define CHECK_NEAR(what, got, want) do { \
	double g_ = (got), w_ = (want); \
	CHECK(fabs(g_ - w_) <= 1e-9 * (1 + fabs(w_)), "%s: got %.12g, want %.12g", what, g_, w_); \
} while (0)

/* The reward rules written out directly on the whole value history, as the
 * original computes them (env.h): V[0] the initial balance, V[t] after
 * step t, act[t] the action of step t (act[0] unused). */
static double pstd(const double *x, int n)
{
	double m = 0, v = 0;

	for (int i = 0; i < n; i++)
		m += x[i];
	m /= n;
	for (int i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m);
	return sqrt(v / n);
}

static double ref_reward(const double *V, const int *act, int t, const EnvParams *p)
{
	double r = V[t] / V[t - 1] - 1;

	if (t >= 21) {
		double x[19];

		for (int k = 0; k < 19; k++)
			x[k] = V[t - 19 + k] / V[t - 20 + k] - 1;
		r -= p->vol_penalty * pstd(x, 19);
	}
	if (t >= 2) {
		double peak = V[1], dd;

		for (int k = 2; k < t; k++)
			peak = V[k] > peak ? V[k] : peak;
		dd = (peak - V[t]) / peak;
		if (dd > p->dd_threshold)
			r -= p->dd_penalty * dd;
	}
	if (act[t] != (t == 1 ? ENV_HOLD : act[t - 1]))
		r -= p->change_penalty;
	return r;
}

static void scripted(void)
{
	Config cfg;
	EnvParams p;
	EnvState e;
	double close[] = { 100, 110, 99, 99 };
	float feat[4 * IND_FEATURES], obs[ENV_STATE_DIM];
	int done;
	double r, peak, v2, v3;

	config_defaults(&cfg);
	env_params_from_config(&p, &cfg);
	for (int i = 0; i < 4 * IND_FEATURES; i++)
		feat[i] = (float)i;
	env_reset(&e, &p, 0, 3, close);

	/* LONG at 100: floor(0.95 * 10000 / 100) = 95 shares, cash 10000 -
	 * 95 * 100 * 1.0015 = 485.75; at 110 the value is 10935.75. The first
	 * action is not HOLD: minus 0.0005; no drawdown on step 1. */
	r = env_step(&e, &p, close, ENV_LONG, &done);
	CHECK_NEAR("step 1 reward", r, 10935.75 / 10000 - 1 - 0.0005);
	CHECK_NEAR("step 1 shares", e.shares, 95);
	CHECK_NEAR("step 1 cash", e.cash, 485.75);
	if (done || e.position != 1 || e.trades != 1) {
		CHECK_FAILED("step 1 state: done %d position %d trades %lld", done, e.position,
			     (long long)e.trades);
	}
	env_observe(&e, &p, feat, obs);
	CHECK_NEAR("obs feature copied", obs[0], IND_FEATURES * 1.0);
	CHECK_NEAR("obs value ratio", obs[IND_FEATURES], (float)(10935.75 / 10000));
	CHECK_NEAR("obs position", obs[IND_FEATURES + 1], 1.0);

	/* HOLD: 99 * 95 + 485.75 = 9890.75; drawdown from V_1 = 10935.75 is
	 * 9.56% > 5%: minus 5 x drawdown; action changed LONG -> HOLD: minus
	 * 0.0005. */
	peak = 10935.75;
	v2 = 9890.75;
	r = env_step(&e, &p, close, ENV_HOLD, &done);
	CHECK_NEAR("step 2 reward", r, v2 / peak - 1 - 5 * (peak - v2) / peak - 0.0005);

	/* SHORT at 99: cash 485.75 + 95 * 99 * 0.9985; last day: done. */
	v3 = 485.75 + 95 * 99 * 0.9985;
	r = env_step(&e, &p, close, ENV_SHORT, &done);
	CHECK_NEAR("step 3 reward", r, v3 / v2 - 1 - 5 * (peak - v3) / peak - 0.0005);
	if (!done || e.position != 0 || e.trades != 2) {
		CHECK_FAILED("step 3 state: done %d position %d trades %lld", done, e.position,
			     (long long)e.trades);
	}
}

/* Rule 1, volatility: long from the start on a zig-zag series (no
 * drawdown or change terms), steps 1..20 pay no volatility penalty; step
 * t >= 21 pays 2 x the population std of r_{t-19}..r_{t-1}, without r_t. */
static void volatility(void)
{
	Config cfg;
	EnvParams p;
	EnvState e;
	double close[40], V[40];
	int done;

	config_defaults(&cfg);
	cfg.dd_penalty = 0;
	cfg.change_penalty = 0;
	env_params_from_config(&p, &cfg);
	for (int i = 0; i < 40; i++)
		close[i] = 100 + (i % 2 ? 3 : -2) + 0.1 * i * i;
	env_reset(&e, &p, 0, 39, close);
	V[0] = e.value;
	for (int t = 1; t <= 30; t++) {
		double r = env_step(&e, &p, close, t == 1 ? ENV_LONG : ENV_HOLD, &done);
		double want;

		V[t] = e.value;
		want = V[t] / V[t - 1] - 1;
		if (t >= 21) {
			double x[19];

			for (int k = 0; k < 19; k++)
				x[k] = V[t - 19 + k] / V[t - 20 + k] - 1;
			want -= 2 * pstd(x, 19);
		}
		CHECK_NEAR(t <= 20 ? "no volatility penalty before step 21" :
				     "volatility penalty over the 19 previous returns", r, want);
	}
}

/* Rule 2, drawdown: the peak is the max of the past values, never the
 * initial balance, and a drawdown up to the threshold costs nothing. */
static void drawdown(void)
{
	Config cfg;
	EnvParams p;
	EnvState e;
	/* V_1 = 485.75 + 95 * 93 = 9320.75 is 6.8% under V_0: no penalty on
	 * step 1 (no past values). V_2 = 9510.75: above the peak V_1. V_3 =
	 * 485.75 + 95 * 92 = 9225.75: 3.0% under V_2, within the 5% threshold.
	 * V_4 = 485.75 + 95 * 88 = 8845.75: 6.99% under V_2 (not 11.5% under
	 * V_0): minus 5 x 0.0699. */
	double close[] = { 100, 93, 95, 92, 88, 88 };
	double V1 = 9320.75, V2 = 9510.75, V3 = 9225.75, V4 = 8845.75;
	int done;
	double r;

	config_defaults(&cfg);
	cfg.change_penalty = 0;
	env_params_from_config(&p, &cfg);
	env_reset(&e, &p, 0, 5, close);
	r = env_step(&e, &p, close, ENV_LONG, &done);
	CHECK_NEAR("drawdown: none on step 1 (V_0 is not a past value)", r, V1 / 10000 - 1);
	r = env_step(&e, &p, close, ENV_HOLD, &done);
	CHECK_NEAR("drawdown: none above the peak", r, V2 / V1 - 1);
	r = env_step(&e, &p, close, ENV_HOLD, &done);
	CHECK_NEAR("drawdown: 3% is within the threshold", r, V3 / V2 - 1);
	r = env_step(&e, &p, close, ENV_HOLD, &done);
	CHECK_NEAR("drawdown: peak = max(V_1, V_2, V_3)", r, V4 / V3 - 1 - 5 * (V2 - V4) / V2);

	/* A drawdown exactly at the threshold costs nothing either (the rule
	 * is dd > threshold): step 3 again with the threshold set to its 3.0%,
	 * computed as the environment does, (peak - value) / peak. */
	env_reset(&e, &p, 0, 5, close);
	env_step(&e, &p, close, ENV_LONG, &done);
	env_step(&e, &p, close, ENV_HOLD, &done);
	p.dd_threshold = (e.peak - (e.cash + e.shares * close[3])) / e.peak;
	CHECK(fabs(p.dd_threshold - (V2 - V3) / V2) < 1e-12, "fixture: dd %.17g", p.dd_threshold);
	r = env_step(&e, &p, close, ENV_HOLD, &done);
	CHECK_NEAR("drawdown: exactly at the threshold", r, V3 / V2 - 1);
}

/* Rule 3, change penalty: the action before step 1 counts as HOLD. */
static void change(void)
{
	Config cfg;
	EnvParams p;
	EnvState e;
	double close[] = { 100, 100, 100, 100 };
	int first[] = { ENV_HOLD, ENV_SHORT, ENV_LONG };
	double want[] = { 0, -0.0005, -0.0015 }; /* LONG also pays the cost: 95 * 100 * 0.0015 */
	int done;

	config_defaults(&cfg);
	env_params_from_config(&p, &cfg);
	for (int i = 0; i < 3; i++) {
		double r;

		env_reset(&e, &p, 0, 3, close);
		r = env_step(&e, &p, close, first[i], &done);
		CHECK_NEAR("change penalty on step 1 unless HOLD", r,
			   i == 2 ? (10000 - 95 * 100 * 0.0015) / 10000 - 1 - 0.0005 : want[i]);
		r = env_step(&e, &p, close, first[i], &done);
		CHECK_NEAR("no change penalty when repeated", r, 0);
	}
}

/* All three rules at once: random actions on a random walk, step by step
 * against ref_reward over the whole value history. */
static void random_walk(void)
{
	enum { N = 300 };
	Config cfg;
	EnvParams p;
	EnvState e;
	static double close[N + 1], V[N + 1];
	static int act[N + 1];
	uint32_t s = 12345;
	int done;

	config_defaults(&cfg);
	env_params_from_config(&p, &cfg);
	close[0] = 100;
	for (int i = 1; i <= N; i++) {
		s = s * 1664525u + 1013904223u;
		close[i] = close[i - 1] * (1 + 0.04 * ((double)(s >> 8) / (1 << 24) - 0.5));
	}
	env_reset(&e, &p, 0, N, close);
	V[0] = e.value;
	for (int t = 1; t <= N; t++) {
		double r;

		s = s * 1664525u + 1013904223u;
		act[t] = (int)((s >> 16) % 3);
		r = env_step(&e, &p, close, act[t], &done);
		V[t] = e.value;
		CHECK_NEAR("reward equals the original's rules", r, ref_reward(V, act, t, &p));
	}
}

static void crc(void)
{
	/* The standard check value of CRC-32 (zlib) for "123456789". */
	unsigned got = checksum_crc32(0, "123456789", 9);
	unsigned split = checksum_crc32(checksum_crc32(0, "1234", 4), "56789", 5);
	static char big[1000];

	if (got != 0xcbf43926u || split != got) {
		CHECK_FAILED("crc32: %08x / %08x, want cbf43926", got, split);
	}
	for (int i = 0; i < 1000; i++)
		big[i] = (char)(i * 7);
	/* Value from python3 -c 'import zlib; print(hex(zlib.crc32(bytes((i*7)&255 for i in range(1000)))))' */
	if (checksum_crc32(0, big, 1000) != 0x114ad5ffu) {
		CHECK_FAILED("crc32 of 1000 bytes: %08x", checksum_crc32(0, big, 1000));
	}
}

/* The file trailer: 0xce and the big-endian CRC-32 of every byte before it. */
static int write_trailed(const char *path, const char *data, uint8_t marker, uint32_t crc)
{
	FILE *f = fopen(path, "wb");
	uint8_t t[5] = { marker, (uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
			 (uint8_t)crc };
	if (!f)
		return -1;
	fwrite(data, 1, strlen(data), f);
	fwrite(t, 1, sizeof t, f);
	return fclose(f);
}

static void trailer(void)
{
	char path[] = "/tmp/test_env_trailer.XXXXXX";
	const char *data = "the bytes of a model file";
	uint32_t want = checksum_crc32(0, data, strlen(data)), got = 0;
	int fd = mkstemp(path);

	CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	close(fd);
	CHECK(write_trailed(path, data, 0xce, want) == 0, "write");
	CHECK(checksum_file_trailer(path, &got) == 0 && got == want, "good trailer: %08x", got);
	write_trailed(path, data, 0xcf, want);  /* right CRC, not a msgpack uint32 */
	CHECK(checksum_file_trailer(path, &got) == -EBADMSG, "trailer marker 0xcf accepted");
	write_trailed(path, data, 0xce, want ^ 1);
	CHECK(checksum_file_trailer(path, &got) == -EBADMSG, "wrong CRC accepted");
	write_trailed(path, "", 0xce, 0);  /* 5 bytes: the trailer of nothing */
	CHECK(checksum_file_trailer(path, &got) == 0 && got == 0, "empty body: %08x", got);
	FILE *f = fopen(path, "wb");
	fwrite("\xce\0\0\0", 1, 4, f);
	fclose(f);
	CHECK(checksum_file_trailer(path, &got) == -EBADMSG, "4-byte file accepted");
	unlink(path);
	CHECK(checksum_file_trailer(path, &got) == -ENOENT, "missing file");
}

int main(void)
{
	scripted();
	volatility();
	drawdown();
	change();
	random_walk();
	crc();
	trailer();
	return check_done("env");
}
