/* Shards: the hash, --shard parsing, the scheduler's environment, the
 * file-name suffix. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shard.h"
#include "check.h"

/* The hash is an on-disk contract (a shard's database holds its
 * tickers): these values were computed independently (FNV-1a 64 in
 * Python) and must never change. */
static void test_hash(void)
{
	static const struct { const char *t; int n, want; } cases[] = {
		{ "GOOG", 4, 1 }, { "AAPL", 4, 3 }, { "MSFT", 4, 3 }, { "IBM", 4, 1 },
		{ "GOOG", 7, 2 }, { "IBM", 7, 0 }, { "A", 7, 3 }, { "A", 4, 0 },
		{ "GOOG", 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = shard_of(cases[i].t, cases[i].n);
		CHECK(got == cases[i].want, "shard_of(%s, %d) = %d, want %d", cases[i].t, cases[i].n,
		      got, cases[i].want);
	}
	/* Every name lands in exactly one shard, and the split is not
	 * degenerate: 1000 names over 8 shards, each shard 80..170. */
	int per[8] = { 0 };
	char name[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "T%04d", i);
		int in = 0;
		for (int k = 0; k < 8; k++) {
			Shard s = { k, 8 };
			if (shard_has(&s, name)) {
				in++;
				per[k]++;
			}
		}
		CHECK(in == 1, "%s is in %d shards", name, in);
	}
	for (int k = 0; k < 8; k++)
		CHECK(per[k] >= 80 && per[k] <= 170, "shard %d of 8 has %d of 1000", k, per[k]);
	Shard whole = { 0, 0 };
	CHECK(shard_has(&whole, "ANY"), "not sharded must hold every ticker");
}

static void test_parse(void)
{
	static const struct { const char *text; int rc, i, n; const char *msg; } cases[] = {
		{ "0/1", 0, 0, 1, NULL },
		{ "3/4", 0, 3, 4, NULL },
		{ "0/100000", 0, 0, 100000, NULL },
		{ "4/4", -EINVAL, 0, 0, "not below the count 4" },
		{ "0/0", -EINVAL, 0, 0, "must be 1..100000" },
		{ "0/100001", -EINVAL, 0, 0, "must be 1..100000" },
		{ "-1/4", -EINVAL, 0, 0, "want I/N" },
		{ "1/-4", -EINVAL, 0, 0, "want I/N" },
		{ "1", -EINVAL, 0, 0, "want I/N" },
		{ "1/", -EINVAL, 0, 0, "want I/N" },
		{ "/4", -EINVAL, 0, 0, "want I/N" },
		{ "1/4x", -EINVAL, 0, 0, "want I/N" },
		{ " 1/4", -EINVAL, 0, 0, "want I/N" },
		{ "1/ 4", -EINVAL, 0, 0, "want I/N" },
		{ "1/99999999999", -EINVAL, 0, 0, "want I/N" },
		/* Nine digits are still a number: the error is the range, not the form. */
		{ "1/999999999", -EINVAL, 0, 0, "must be 1..100000" },
		{ "999999999/4", -EINVAL, 0, 0, "not below the count 4" },
		{ "1/9999999999", -EINVAL, 0, 0, "want I/N" },
		{ "", -EINVAL, 0, 0, "want I/N" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Shard s = { -7, -7 };
		char err[256] = "";
		int rc = shard_parse(cases[i].text, &s, err, sizeof err);
		CHECK(rc == cases[i].rc, "'%s': rc %d, want %d (%s)", cases[i].text, rc, cases[i].rc, err);
		if (rc == 0)
			CHECK(s.index == cases[i].i && s.count == cases[i].n, "'%s': got %d/%d",
			      cases[i].text, s.index, s.count);
		else
			CHECK(s.index == -7 && strstr(err, cases[i].msg) && strstr(err, "--shard"),
			      "'%s': out written or message '%s' lacks '%s'", cases[i].text, err,
			      cases[i].msg);
	}
}

static void test_resolve(void)
{
	static const struct {
		ShardSource src;
		int rc, i, n;
		const char *msg;
	} cases[] = {
		/* Nothing: the whole run. */
		{ { NULL, NULL, NULL, NULL, NULL }, 0, 0, 0, NULL },
		{ { "", "", "", "", "" }, 0, 0, 0, NULL },
		/* The flag wins over the environment. */
		{ { "1/3", NULL, "5", "8", "2" }, 0, 1, 3, NULL },
		{ { "1/3", "3", NULL, NULL, NULL }, 0, 1, 3, NULL },
		{ { "1/3", "4", NULL, NULL, NULL }, -EINVAL, 0, 0, "disagree" },
		/* Slurm array. */
		{ { NULL, NULL, "5", "8", NULL }, 0, 5, 8, NULL },
		{ { NULL, NULL, "0", "1", "3" }, 0, 0, 1, NULL },
		{ { NULL, NULL, "8", "8", NULL }, -EINVAL, 0, 0, "--array=0-7" },
		{ { NULL, NULL, "3", NULL, NULL }, -EINVAL, 0, 0, "SLURM_ARRAY_TASK_COUNT" },
		{ { NULL, NULL, "x", "8", NULL }, -EINVAL, 0, 0, "SLURM_ARRAY_TASK_ID='x'" },
		{ { NULL, NULL, "1", "0", NULL }, -EINVAL, 0, 0, "SLURM_ARRAY_TASK_COUNT" },
		/* A resubmitted subset (--array=5,7) keeps the run's count. */
		{ { NULL, "8", "7", "2", NULL }, 0, 7, 8, NULL },
		{ { NULL, "8", "9", "2", NULL }, -EINVAL, 0, 0, "not below the count 8" },
		/* Kubernetes Indexed Job. */
		{ { NULL, "4", NULL, NULL, "3" }, 0, 3, 4, NULL },
		{ { NULL, NULL, NULL, NULL, "3" }, -EINVAL, 0, 0, "needs the shard count" },
		{ { NULL, "4", NULL, NULL, "4" }, -EINVAL, 0, 0, "JOB_COMPLETION_INDEX" },
		{ { NULL, "4", NULL, NULL, "-1" }, -EINVAL, 0, 0, "JOB_COMPLETION_INDEX='-1'" },
		/* A count alone says nothing about which shard. */
		{ { NULL, "4", NULL, NULL, NULL }, -EINVAL, 0, 0, "without a shard index" },
		{ { NULL, "zero", NULL, NULL, "1" }, -EINVAL, 0, 0, "--shards 'zero'" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Shard s = { -7, -7 };
		char err[256] = "";
		int rc = shard_resolve(&cases[i].src, &s, err, sizeof err);
		CHECK(rc == cases[i].rc, "case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
		if (rc == 0)
			CHECK(s.index == cases[i].i && s.count == cases[i].n, "case %zu: got %d/%d", i,
			      s.index, s.count);
		else
			CHECK(s.index == -7 && strstr(err, cases[i].msg),
			      "case %zu: out written or message '%s' lacks '%s'", i, err, cases[i].msg);
	}
}

static void test_suffix(void)
{
	static const struct { int i, n; const char *want; } cases[] = {
		{ 0, 0, "" }, { 0, 1, ".shard-0-of-1" }, { 3, 8, ".shard-3-of-8" },
		{ 3, 16, ".shard-03-of-16" }, { 10, 11, ".shard-10-of-11" },
		{ 7, 1000, ".shard-007-of-1000" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Shard s = { cases[i].i, cases[i].n };
		char buf[64];
		CHECK(shard_suffix(&s, buf, sizeof buf) == 0 && !strcmp(buf, cases[i].want),
		      "%d/%d: '%s', want '%s'", cases[i].i, cases[i].n, buf, cases[i].want);
	}
	Shard s = { 3, 16 };
	char small[8];
	CHECK(shard_suffix(&s, small, sizeof small) == -ENAMETOOLONG, "no truncation error");
}

int main(void)
{
	test_hash();
	test_parse();
	test_resolve();
	test_suffix();
	return check_done("shard");
}
