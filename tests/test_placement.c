/* Placement: parsing the gpus setting and picking a device. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "placement.h"
#include "check.h"

#define GiB (1024ULL * 1024 * 1024)

typedef struct ParseCase {
	const char *spec;
	int detected;
	int want_rc;
	int want_n;
	int want[8];
	const char *msg;  /* substring of the error message */
} ParseCase;

static const ParseCase parse_cases[] = {
	{ "none", 4, 0, 0, { 0 }, NULL },
	{ " none ", 0, 0, 0, { 0 }, NULL },
	{ "auto", 3, 0, 3, { 0, 1, 2 }, NULL },
	{ "auto", 0, 0, 0, { 0 }, NULL },
	{ "0", 1, 0, 1, { 0 }, NULL },
	{ "0,2", 3, 0, 2, { 0, 2 }, NULL },
	{ " 1 , 0 ", 2, 0, 2, { 1, 0 }, NULL },
	{ "3,1,2,0", 4, 0, 4, { 3, 1, 2, 0 }, NULL },
	{ "", 2, -EINVAL, 0, { 0 }, "empty" },
	{ "  ", 2, -EINVAL, 0, { 0 }, "empty" },
	{ "0,x", 2, -EINVAL, 0, { 0 }, "'x' is not a GPU id" },
	{ "gpu0", 2, -EINVAL, 0, { 0 }, "'gpu0' is not a GPU id" },
	{ "-1", 2, -EINVAL, 0, { 0 }, "'-1' is not a GPU id" },
	{ "1.5", 2, -EINVAL, 0, { 0 }, "not a GPU id" },
	{ "0,,1", 2, -EINVAL, 0, { 0 }, "empty entry" },
	{ "0,", 2, -EINVAL, 0, { 0 }, "empty entry" },
	{ "3", 2, -EINVAL, 0, { 0 }, "GPU 3 out of range (2 detected)" },
	{ "0", 0, -EINVAL, 0, { 0 }, "GPU 0 out of range (0 detected" },
	{ "1,1", 2, -EINVAL, 0, { 0 }, "GPU 1 listed twice" },
	{ "0, 1 ,0", 2, -EINVAL, 0, { 0 }, "GPU 0 listed twice" },
	{ "99999999999999999999", 2, -EINVAL, 0, { 0 }, "not a GPU id" },
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const ParseCase *c = &parse_cases[i];
		int ids[8] = { -7, -7, -7, -7, -7, -7, -7, -7 }, n = -5;
		char err[256] = "";
		int rc = placement_parse(c->spec, c->detected, ids, 8, &n, err, sizeof err);
		CHECK(rc == c->want_rc, "'%s' (%d detected): rc %d, want %d (%s)", c->spec,
		      c->detected, rc, c->want_rc, err);
		if (rc == 0 && c->want_rc == 0) {
			CHECK(n == c->want_n, "'%s': n %d, want %d", c->spec, n, c->want_n);
			for (int k = 0; k < n && k < 8; k++)
				CHECK(ids[k] == c->want[k], "'%s': id[%d] %d, want %d", c->spec, k,
				      ids[k], c->want[k]);
		}
		if (c->msg) {
			CHECK(strstr(err, c->msg) != NULL, "'%s': message '%s' lacks '%s'",
			      c->spec, err, c->msg);
			CHECK(strstr(err, "gpus") != NULL, "'%s': message '%s' does not name the setting",
			      c->spec, err);
			CHECK(n == -5, "'%s': ret_n written on failure", c->spec);
		}
	}
	/* More ids than room. */
	int ids[2], n = -5;
	char err[256] = "";
	CHECK(placement_parse("0,1,2", 4, ids, 2, &n, err, sizeof err) == -EINVAL && n == -5,
	      "overflow accepted: %s", err);
	CHECK(placement_parse("auto", 4, ids, 2, &n, err, sizeof err) == -EINVAL, "auto overflow");
}

static int pick(const PlacementSlot *slots, int n, int wpg, unsigned long long budget)
{
	int dev = -99;
	int rc = placement_pick(slots, n, wpg, budget, 0, 1, &dev);
	return rc < 0 ? rc : dev;
}

static void test_pick(void)
{
	int dev = -99;

	/* CPU mode: bounded by parallel. */
	CHECK(placement_pick(NULL, 0, 1, 0, 0, 2, &dev) == 0 && dev == PLACEMENT_CPU, "cpu 0/2");
	dev = -99;
	CHECK(placement_pick(NULL, 0, 1, 0, 1, 2, &dev) == 0 && dev == PLACEMENT_CPU, "cpu 1/2");
	dev = -99;
	CHECK(placement_pick(NULL, 0, 1, 0, 2, 2, &dev) == -EAGAIN && dev == -99, "cpu full");
	CHECK(placement_pick(NULL, 0, 1, 0, 0, 0, &dev) == -EINVAL, "parallel 0");

	/* Several GPUs, budget known from workers_per_gpu x budget: most free wins. */
	PlacementSlot s3[3] = {
		{ 0, 1, 4 * GiB, 0 }, { 1, 0, 0, 0 }, { 2, 1, 4 * GiB, 0 },
	};
	CHECK(pick(s3, 3, 2, 4 * GiB) == 1, "emptiest GPU: got %d", pick(s3, 3, 2, 4 * GiB));
	s3[1].running = 1;
	s3[1].vram_committed = 4 * GiB;
	CHECK(pick(s3, 3, 2, 4 * GiB) == 0, "tie goes to the first: got %d", pick(s3, 3, 2, 4 * GiB));
	s3[0].running = 2;
	s3[0].vram_committed = 8 * GiB;
	CHECK(pick(s3, 3, 2, 4 * GiB) == 1, "full GPU skipped: got %d", pick(s3, 3, 2, 4 * GiB));
	s3[1].running = 2;
	s3[2].running = 2;
	CHECK(pick(s3, 3, 2, 4 * GiB) == -EAGAIN, "all full");
	CHECK(pick(s3, 3, 0, 4 * GiB) == -EINVAL, "workers_per_gpu 0");

	/* Device memory known: free = total - committed; a device without room
	 * for one more budget is skipped even with a worker slot. */
	PlacementSlot mem[2] = { { 4, 1, 75 * GiB, 80 * GiB }, { 7, 1, 10 * GiB, 40 * GiB } };
	CHECK(pick(mem, 2, 4, 10 * GiB) == 7, "most free bytes (30 GiB on 7 vs 5 GiB on 4): got %d",
	      pick(mem, 2, 4, 10 * GiB));
	mem[1].vram_committed = 35 * GiB;
	CHECK(pick(mem, 2, 4, 10 * GiB) == -EAGAIN, "no device has 10 GiB free");
	mem[0].vram_committed = 0;
	CHECK(pick(mem, 2, 4, 10 * GiB) == 4, "device ids are returned, not indexes");

	/* No budget: fewest workers wins. */
	PlacementSlot nb[3] = { { 0, 2, 0, 0 }, { 1, 1, 0, 0 }, { 2, 1, 0, 0 } };
	CHECK(pick(nb, 3, 3, 0) == 1, "fewest running: got %d", pick(nb, 3, 3, 0));

	/* Filling 3 GPUs x 2 slots one worker at a time spreads them: 0,1,2,0,1,2,
	 * then no slot. */
	PlacementSlot fill[3] = { { 0, 0, 0, 0 }, { 1, 0, 0, 0 }, { 2, 0, 0, 0 } };
	int order[6], want[6] = { 0, 1, 2, 0, 1, 2 };
	for (int k = 0; k < 6; k++) {
		order[k] = pick(fill, 3, 2, 3 * GiB);
		CHECK(order[k] == want[k], "fill step %d: got %d, want %d", k, order[k], want[k]);
		if (order[k] >= 0) {
			fill[order[k]].running++;
			fill[order[k]].vram_committed += 3 * GiB;
		}
	}
	CHECK(pick(fill, 3, 2, 3 * GiB) == -EAGAIN, "7th worker placed");
	/* One exits: its GPU is the only choice. */
	fill[2].running--;
	fill[2].vram_committed -= 3 * GiB;
	CHECK(pick(fill, 3, 2, 3 * GiB) == 2, "freed slot: got %d", pick(fill, 3, 2, 3 * GiB));
}

/* Slot accounting (issue 7): take on start, release on end, by value. */
static void test_take_release(void)
{
	PlacementSlot s[2] = { { .device = 0 }, { .device = 3 } };
	int cpu = 0;
	placement_take(s, 2, 3, 2 * GiB, &cpu);
	placement_take(s, 2, 3, 2 * GiB, &cpu);
	placement_take(s, 2, PLACEMENT_CPU, 2 * GiB, &cpu);
	CHECK(s[1].running == 2 && s[1].vram_committed == 4 * GiB, "take: %d %llu", s[1].running,
	      (unsigned long long)s[1].vram_committed);
	CHECK(s[0].running == 0 && s[0].vram_committed == 0 && cpu == 1, "others untouched");
	placement_release(s, 2, 3, 2 * GiB, &cpu);
	placement_release(s, 2, PLACEMENT_CPU, 2 * GiB, &cpu);
	CHECK(s[1].running == 1 && s[1].vram_committed == 2 * GiB && cpu == 0, "release");
	placement_release(s, 2, PLACEMENT_CPU, 2 * GiB, &cpu);
	placement_release(s, 2, 3, 2 * GiB, &cpu);
	placement_release(s, 2, 3, 2 * GiB, &cpu);
	CHECK(s[1].running == 0 && s[1].vram_committed == 0 && cpu == 0, "never below zero");
	placement_take(s, 2, 7, 2 * GiB, &cpu);
	CHECK(s[0].running + s[1].running == 0 && cpu == 0, "unknown device changes nothing");
}

int main(void)
{
	test_parse();
	test_pick();
	test_take_release();
	return check_done("placement");
}
