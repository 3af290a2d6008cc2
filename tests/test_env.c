/* The environment's reward on scripted action sequences, against values
 * worked out by hand (see the comments), and the CRC-32 against zlib's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/checksum.h"
#include "common/config.h"
#include "env.h"
#include "indicators.h"

static int fails;

#define CHECK_NEAR(what, got, want)                                                    \
	do {                                                                           \
		double g_ = (got), w_ = (want);                                        \
		if (!(fabs(g_ - w_) <= 1e-9 * (1 + fabs(w_)))) {                       \
			printf("FAIL %s: got %.12g, want %.12g (line %d)\n", what, g_, w_, __LINE__); \
			fails++;                                                       \
		}                                                                      \
	} while (0)

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
	 * 95 * 100 * 1.0015 = 485.75; at 110 the value is 10935.75. First
	 * action: no change penalty; no drawdown. */
	r = env_step(&e, &p, close, ENV_LONG, &done);
	CHECK_NEAR("step 1 reward", r, 10935.75 / 10000 - 1);
	CHECK_NEAR("step 1 shares", e.shares, 95);
	CHECK_NEAR("step 1 cash", e.cash, 485.75);
	if (done || e.position != 1 || e.trades != 1) {
		printf("FAIL step 1 state: done %d position %d trades %lld\n", done, e.position,
		       (long long)e.trades);
		fails++;
	}
	env_observe(&e, &p, feat, obs);
	CHECK_NEAR("obs feature copied", obs[0], IND_FEATURES * 1.0);
	CHECK_NEAR("obs value ratio", obs[IND_FEATURES], (float)(10935.75 / 10000));
	CHECK_NEAR("obs position", obs[IND_FEATURES + 1], 1.0);

	/* HOLD: 99 * 95 + 485.75 = 9890.75; drawdown from 10935.75 is 9.56% >
	 * 5%: minus 5 x drawdown; action changed LONG -> HOLD: minus 0.0005. */
	peak = 10935.75;
	v2 = 9890.75;
	r = env_step(&e, &p, close, ENV_HOLD, &done);
	CHECK_NEAR("step 2 reward", r, v2 / peak - 1 - 5 * (peak - v2) / peak - 0.0005);

	/* SHORT at 99: cash 485.75 + 95 * 99 * 0.9985; last day: done. */
	v3 = 485.75 + 95 * 99 * 0.9985;
	r = env_step(&e, &p, close, ENV_SHORT, &done);
	CHECK_NEAR("step 3 reward", r, v3 / v2 - 1 - 5 * (peak - v3) / peak - 0.0005);
	if (!done || e.position != 0 || e.trades != 2) {
		printf("FAIL step 3 state: done %d position %d trades %lld\n", done, e.position,
		       (long long)e.trades);
		fails++;
	}
}

/* Volatility penalty: flat for 25 days on a zig-zag series gives returns of
 * 0 (no penalty); long from the start, the 20th return onwards pays
 * 2 x population std of the latest 19 returns. */
static void volatility(void)
{
	Config cfg;
	EnvParams p;
	EnvState e;
	double close[40], rets[40], value = 0;
	int done, n = 0;

	config_defaults(&cfg);
	cfg.dd_penalty = 0; /* isolate the volatility term */
	env_params_from_config(&p, &cfg);
	for (int i = 0; i < 40; i++)
		close[i] = 100 + (i % 2 ? 3 : -2) + 0.1 * i;
	env_reset(&e, &p, 0, 39, close);
	for (int t = 0; t < 30; t++) {
		double r = env_step(&e, &p, close, t == 0 ? ENV_LONG : ENV_HOLD, &done);
		double simple = e.value / (t == 0 ? 10000.0 : value) - 1;
		double want = simple;

		rets[n++] = simple;
		if (n >= 20) {
			double m = 0, var = 0;

			for (int k = n - 19; k < n; k++)
				m += rets[k];
			m /= 19;
			for (int k = n - 19; k < n; k++)
				var += (rets[k] - m) * (rets[k] - m);
			want -= 2 * sqrt(var / 19);
		}
		if (t == 1)
			want -= 0.0005; /* LONG -> HOLD */
		CHECK_NEAR("volatility-penalised reward", r, want);
		value = e.value;
	}
}

static void crc(void)
{
	/* The standard check value of CRC-32 (zlib) for "123456789". */
	unsigned got = checksum_crc32(0, "123456789", 9);
	unsigned split = checksum_crc32(checksum_crc32(0, "1234", 4), "56789", 5);
	static char big[1000];

	if (got != 0xcbf43926u || split != got) {
		printf("FAIL crc32: %08x / %08x, want cbf43926\n", got, split);
		fails++;
	}
	for (int i = 0; i < 1000; i++)
		big[i] = (char)(i * 7);
	/* Value from python3 -c 'import zlib; print(hex(zlib.crc32(bytes((i*7)&255 for i in range(1000)))))' */
	if (checksum_crc32(0, big, 1000) != 0x114ad5ffu) {
		printf("FAIL crc32 of 1000 bytes: %08x\n", checksum_crc32(0, big, 1000));
		fails++;
	}
}

int main(void)
{
	scripted();
	volatility();
	crc();
	printf("%s\n", fails ? "FAILED" : "env and crc tests passed");
	return fails ? 1 : 0;
}
