/* The memory plan: every rule of supervisor/memplan.h by value (auto
 * budget, reserve, admission, the OOM limit, the ladder, the parsers). */
#include <stdio.h>
#include <string.h>

#include "memplan.h"
#include "check.h"

#define GiB (1024ULL * 1024 * 1024)
#define MiB (1024ULL * 1024)

static void test_available_reserve(void)
{
	const char *which;
	MemFacts f = { .mem_available = 8 * GiB };
	CHECK(memplan_available(&f, &which) == 8 * GiB, "plain");
	CHECK(!strcmp(which, "MemAvailable"), "%s", which);
	/* A cgroup limit tighter than the host: limit - usage. */
	f = (MemFacts){ .mem_available = 8 * GiB, .cg_limit = 2 * GiB, .cg_usage = 512 * MiB };
	CHECK(memplan_available(&f, &which) == 1536 * MiB, "cgroup");
	CHECK(!strcmp(which, "cgroup limit - usage"), "%s", which);
	/* A loose cgroup limit does not raise it. */
	f = (MemFacts){ .mem_available = 1 * GiB, .cg_limit = 64 * GiB, .cg_usage = 0 };
	CHECK(memplan_available(&f, NULL) == 1 * GiB, "loose cgroup");
	/* Usage over the limit: nothing. */
	f = (MemFacts){ .mem_available = 1 * GiB, .cg_limit = 1 * GiB, .cg_usage = 2 * GiB };
	CHECK(memplan_available(&f, NULL) == 0, "usage over limit");
	f = (MemFacts){ 0 };
	CHECK(memplan_available(&f, &which) == 0 && !strcmp(which, "unknown"), "unknown");

	CHECK(memplan_reserve(10 * GiB) == 1 * GiB, "10%% of 10 GiB");
	CHECK(memplan_reserve(1 * GiB) == 256 * MiB, "floor 256 MiB");
	CHECK(memplan_reserve(0) == 256 * MiB, "floor at 0");
}

static void test_auto_budget(void)
{
	char why[256];
	/* 10 GiB available, reserve 1 GiB, 3 workers: 3 GiB each. */
	MemFacts f = { .mem_available = 10 * GiB };
	CHECK(memplan_auto_budget(&f, 3, why, sizeof why) == 3 * GiB, "%s", why);
	CHECK(strstr(why, "MemAvailable 10.0 GiB") && strstr(why, "reserve 1.0 GiB") &&
	      strstr(why, "3.0 GiB for 3 workers at once"), "%s", why);
	/* Inside a cgroup of 4 GiB with 1 GiB used: (3 GiB - 307.2 MiB) / 1. */
	f = (MemFacts){ .mem_available = 100 * GiB, .cg_limit = 4 * GiB, .cg_usage = 1 * GiB,
			.cg_source = "/x/memory.max" };
	uint64_t want = 3 * GiB - (uint64_t)(3.0 * GiB * 0.10);
	CHECK(memplan_auto_budget(&f, 1, why, sizeof why) == want, "%s", why);
	CHECK(strstr(why, "cgroup limit - usage 3.0 GiB") && strstr(why, "/x/memory.max 4.0 GiB") &&
	      strstr(why, "1 worker at once"), "%s", why);
	/* Unknown: no budget, said so. */
	f = (MemFacts){ 0 };
	CHECK(memplan_auto_budget(&f, 2, why, sizeof why) == 0, "unknown");
	CHECK(strstr(why, "unknown") != NULL, "%s", why);
	/* Below the reserve: half of each share, never 0. */
	f = (MemFacts){ .mem_available = 200 * MiB };
	CHECK(memplan_auto_budget(&f, 2, why, sizeof why) == 50 * MiB, "%s", why);
	/* workers < 1 counts as 1. */
	f = (MemFacts){ .mem_available = 10 * GiB };
	CHECK(memplan_auto_budget(&f, 0, why, sizeof why) == 9 * GiB, "%s", why);

}

static void test_auto_vram(void)
{
	char why[256];
	int ids[3] = { 0, 1, 2 }, two[2] = { 2, 5 };
	uint64_t bytes[3] = { 80 * GiB, 80 * GiB, 80 * GiB };
	/* (80 GiB - 10%) / 2 workers per device. */
	CHECK(memplan_auto_vram(ids, bytes, 3, 2, why, sizeof why) == 36 * GiB, "%s", why);
	CHECK(!strcmp(why, "auto: device memory 80.0 GiB (GPU 0, the smallest of the run's 3) - reserve "
		      "8.0 GiB = 36.0 GiB for 2 workers per GPU"), "%s", why);
	CHECK(memplan_auto_vram(ids, bytes, 1, 1, why, sizeof why) == 72 * GiB, "%s", why);
	CHECK(!strcmp(why, "auto: device memory 80.0 GiB (GPU 0) - reserve 8.0 GiB = 72.0 GiB for 1 worker "
		      "per GPU"), "%s", why);
	/* The smallest device sets it, named by its own number. */
	uint64_t mixed[2] = { 80 * GiB, 40 * GiB };
	CHECK(memplan_auto_vram(two, mixed, 2, 2, why, sizeof why) == 18 * GiB, "%s", why);
	CHECK(strstr(why, "device memory 40.0 GiB (GPU 5, the smallest of the run's 2)"), "%s", why);
	CHECK(memplan_auto_vram(ids, (uint64_t[]){ 10 * GiB }, 1, 3, why, sizeof why) == 3 * GiB, "%s", why);
	/* The reserve is at least 256 MiB: a 2 GiB device keeps 256, not 204.8. */
	CHECK(memplan_auto_vram(ids, (uint64_t[]){ 2 * GiB }, 1, 1, why, sizeof why) == 2 * GiB - 256 * MiB,
	      "%s", why);
	/* workers < 1 counts as 1. */
	CHECK(memplan_auto_vram(ids, bytes, 1, 0, why, sizeof why) == 72 * GiB, "%s", why);
	/* One device of unknown size: no budget (the others' could be too big for it). */
	uint64_t unknown[3] = { 80 * GiB, 0, 80 * GiB };
	CHECK(memplan_auto_vram(ids, unknown, 3, 2, why, sizeof why) == 0 &&
	      !strcmp(why, "auto: no device memory size known for GPU 1: no budget.vram"), "%s", why);
	/* Below the reserve; no GPU at all. */
	CHECK(memplan_auto_vram(ids, (uint64_t[]){ 200 * MiB }, 1, 1, why, sizeof why) == 0 &&
	      strstr(why, "device memory 200.0 MiB of GPU 0 is below the reserve"), "%s", why);
	CHECK(memplan_auto_vram(ids, bytes, 0, 2, why, sizeof why) == 0 && strstr(why, "no GPU in this run"),
	      "%s", why);
	/* A numeric budget must fit each device of known size. */
	CHECK(memplan_vram_fits(two, mixed, 2, 40 * GiB, why, sizeof why) == 1, "exactly 40 GiB");
	CHECK(memplan_vram_fits(two, mixed, 2, 40 * GiB + 1, why, sizeof why) == 0 &&
	      !strcmp(why, "budget.vram 40.0 GiB is more than GPU 5's memory 40.0 GiB: no worker could start "
		      "there (lower it, or use auto)"), "%s", why);
	CHECK(memplan_vram_fits(ids, unknown, 3, 100 * GiB, why, sizeof why) == 0 && strstr(why, "GPU 0's"),
	      "%s", why);
	uint64_t none[2] = { 0, 0 };
	CHECK(memplan_vram_fits(two, none, 2, 100 * GiB, why, sizeof why) == 1, "sizes unknown: nothing to hold");
}

static void test_admit(void)
{
	char why[256];
	/* 9 GiB available. */
	CHECK(memplan_admit(9 * GiB, 3 * GiB, 0, 0, why, sizeof why) == 1, "%s", why);
	/* Two running at 1 GiB each may grow 4 GiB more: 3 + 4 = 7 <= 9. */
	CHECK(memplan_admit(9 * GiB, 3 * GiB, 2, 2 * GiB, why, sizeof why) == 1, "%s", why);
	/* Three running at 0.5 GiB each may grow 7.5 more: 10.5 > 9: wait. */
	CHECK(memplan_admit(9 * GiB, 3 * GiB, 3, 3 * GiB / 2, why, sizeof why) == 0, "%s", why);
	CHECK(strstr(why, "waiting for memory: available 9.0 GiB does not hold budget.rss 3.0 GiB") &&
	      strstr(why, "plus 7.5 GiB the 3 running may still grow"), "%s", why);
	/* Exactly enough. */
	CHECK(memplan_admit(9 * GiB, 9 * GiB, 0, 0, why, sizeof why) == 1, "%s", why);
	CHECK(memplan_admit(9 * GiB, 9 * GiB + 1, 0, 0, why, sizeof why) == 0, "%s", why);
	/* Running workers above their budget do not count negative. */
	CHECK(memplan_admit(2 * GiB, 1 * GiB, 1, 5 * GiB, why, sizeof why) == 1, "%s", why);
	/* An auto budget for 2 workers admits the second one after the first
	 * used 1 GiB of it, though available fell by that much: the reserve
	 * the budget left out is not held again. */
	MemFacts mf = { .mem_available = 10 * GiB };
	uint64_t b = memplan_auto_budget(&mf, 2, why, sizeof why);
	CHECK(memplan_admit(10 * GiB, b, 0, 0, why, sizeof why) == 1, "%s", why);
	CHECK(memplan_admit(9 * GiB, b, 1, 1 * GiB, why, sizeof why) == 1, "%s", why);
	CHECK(memplan_admit(9 * GiB - 1, b * 2, 1, 1 * GiB, why, sizeof why) == 0, "%s", why);
	/* No budget, unknown memory: nothing to hold. */
	CHECK(memplan_admit(1 * MiB, 0, 5, 0, why, sizeof why) == 1, "%s", why);
	CHECK(memplan_admit(0, 1 * GiB, 5, 0, why, sizeof why) == 1, "%s", why);
}

static void test_oom(void)
{
	CHECK(memplan_after_oom(4, 4) == 3, "4 running");
	CHECK(memplan_after_oom(8, 3) == 2, "limit above the running ones");
	CHECK(memplan_after_oom(2, 5) == 1, "limit below");
	CHECK(memplan_after_oom(1, 1) == 1, "never below 1");
	CHECK(memplan_after_oom(3, 0) == 1, "none running");
}

static void test_ladder_parse(void)
{
	MemLadder l;
	char why[128];
	CHECK(memplan_ladder_parse("batch", &l, why, sizeof why) == 0 && l.n == 1 &&
	      l.rungs[0] == RUNG_BATCH, "batch");
	CHECK(memplan_ladder_parse("batch, buffer,chunk", &l, why, sizeof why) == 0 && l.n == 3 &&
	      l.rungs[1] == RUNG_BUFFER && l.rungs[2] == RUNG_CHUNK, "three");
	CHECK(memplan_ladder_parse("batch,chunk", &l, why, sizeof why) == 0 && l.n == 2 &&
	      l.rungs[1] == RUNG_CHUNK, "skip buffer");
	CHECK(memplan_ladder_parse("buffer", &l, why, sizeof why) < 0 && strstr(why, "start with batch"), "%s", why);
	CHECK(memplan_ladder_parse("batch,buffer,buffer", &l, why, sizeof why) < 0 && strstr(why, "twice"), "%s", why);
	CHECK(memplan_ladder_parse("batch,ram", &l, why, sizeof why) < 0 && strstr(why, "'ram'"), "%s", why);
	CHECK(memplan_ladder_parse("", &l, why, sizeof why) < 0 && strstr(why, "empty"), "%s", why);
	MemRung r;
	CHECK(memplan_rung_parse("chunk", &r) == 0 && r == RUNG_CHUNK, "parse");
	CHECK(memplan_rung_parse("x", &r) < 0, "bad");
	CHECK(!strcmp(memplan_rung_name(RUNG_BUFFER), "buffer") && !strcmp(memplan_rung_name((MemRung)7), "?"), "names");
}

/* The decision policy_decide gives an over-budget attempt at the floor. */
static PolicyDecision floor_fail(const PolicyFacts *f)
{
	return policy_decide(f);
}

static void test_ladder(void)
{
	MemLadder all, batch_only;
	char why[128];
	memplan_ladder_parse("batch,buffer,chunk", &all, why, sizeof why);
	memplan_ladder_parse("batch", &batch_only, why, sizeof why);
	MemFloors fl = { .min_batch_size = 8, .min_buffer_size = 1000, .min_chunk_length = 100 };
	PolicyFacts f = {
		.kind = EXIT_OVER_BUDGET, .exit_code = -1, .term_signal = 9, .batch_size = 8,
		.min_batch_size = 8, .max_attempts = 3, .ran_s = 0.25, .peak_rss = 300 * MiB,
		.budget_rss = 200 * MiB,
	};
	MemShape cur = { .batch_size = 8, .buffer_size = 5000, .chunk_length = 400, .rung = RUNG_BATCH }, next;

	/* Batch only: the failure stays. */
	PolicyDecision d = floor_fail(&f);
	CHECK(d.action == POLICY_FAIL, "policy fails at the floor");
	CHECK(memplan_apply_ladder(&d, &f, &batch_only, &cur, &fl, &next) == 0, "batch only");
	CHECK(d.action == POLICY_FAIL && next.buffer_size == 5000, "unchanged");

	/* Buffer rung: 5000 -> 2500, a retry, not charged, after the respawn floor. */
	d = floor_fail(&f);
	CHECK(memplan_apply_ladder(&d, &f, &all, &cur, &fl, &next) == 1, "buffer rung");
	CHECK(d.action == POLICY_RETRY && d.charged == 0 && d.next_batch_size == 8, "retry");
	CHECK(d.delay_s > 0.74 && d.delay_s < 0.76, "delay %g", d.delay_s);
	CHECK(next.buffer_size == 2500 && next.chunk_length == 400 && next.rung == RUNG_BUFFER, "shape");
	CHECK(strstr(d.reason, "min_batch_size 8 reached; rung buffer: buffer_size 5000 -> 2500"), "%s", d.reason);

	/* 1999 -> 999 is below the floor 1000: the chunk rung is next. */
	cur.buffer_size = 1999;
	d = floor_fail(&f);
	CHECK(memplan_apply_ladder(&d, &f, &all, &cur, &fl, &next) == 1, "chunk rung");
	CHECK(next.buffer_size == 1999 && next.chunk_length == 200 && next.rung == RUNG_CHUNK, "shape %d %d",
	      next.buffer_size, next.chunk_length);
	CHECK(strstr(d.reason, "rung chunk: chunk_length 400 -> 200"), "%s", d.reason);

	/* The buffer never goes below batch_size, whatever min_buffer_size. */
	MemFloors low = { 8, 1, 100 };
	MemShape big = { .batch_size = 64, .buffer_size = 100, .chunk_length = 150 };
	f.batch_size = 64;
	f.min_batch_size = 64;
	d = floor_fail(&f);
	CHECK(memplan_apply_ladder(&d, &f, &all, &big, &low, &next) == 0, "buffer 50 < batch 64, chunk 75 < 100");
	CHECK(d.action == POLICY_FAIL, "failed");
	CHECK(strstr(d.reason, "rung buffer: buffer_size 100 at its floor 64") &&
	      strstr(d.reason, "rung chunk: chunk_length 150 at its floor 100"), "%s", d.reason);

	/* While stopping the retry is a pause. */
	f.batch_size = 8;
	f.min_batch_size = 8;
	f.stopping = 1;
	cur.buffer_size = 5000;
	d = floor_fail(&f);
	CHECK(memplan_apply_ladder(&d, &f, &all, &cur, &fl, &next) == 1 && d.action == POLICY_PAUSE &&
	      d.delay_s == 0, "pause");
	f.stopping = 0;

	/* Not over budget, or not failed: untouched. */
	f.kind = EXIT_CRASH;
	d = floor_fail(&f);
	PolicyDecision before = d;
	CHECK(memplan_apply_ladder(&d, &f, &all, &cur, &fl, &next) == 0 &&
	      !memcmp(&d, &before, sizeof d), "crash untouched");
	f.kind = EXIT_OVER_BUDGET;
	f.batch_size = 32;
	d = floor_fail(&f);
	CHECK(d.action == POLICY_RETRY && d.next_batch_size == 16, "batch halving first");
	CHECK(memplan_apply_ladder(&d, &f, &all, &cur, &fl, &next) == 0 && d.next_batch_size == 16,
	      "halving untouched");
}

static void test_parsers(void)
{
	CHECK(memplan_parse_meminfo("MemTotal: 16 kB\nMemFree: 1 kB\nMemAvailable:   2048 kB\n") ==
	      2048 * 1024ULL, "meminfo");
	CHECK(memplan_parse_meminfo("MemTotal: 16 kB\n") == 0, "no MemAvailable");
	CHECK(memplan_parse_cgroup_bytes("max\n") == 0, "max");
	CHECK(memplan_parse_cgroup_bytes("1073741824\n") == GiB, "bytes");
	CHECK(memplan_parse_cgroup_bytes("9223372036854771712\n") == 0, "v1 no limit");
	CHECK(memplan_parse_cgroup_bytes("") == 0 && memplan_parse_cgroup_bytes("x") == 0, "junk");
}

int main(void)
{
	test_available_reserve();
	test_auto_budget();
	test_auto_vram();
	test_admit();
	test_oom();
	test_ladder_parse();
	test_ladder();
	test_parsers();
	return check_done("memplan");
}
