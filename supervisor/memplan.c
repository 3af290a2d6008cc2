/* The memory plan (memplan.h for the rules). Pure down to "reading the
 * machine". */
#include "memplan.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Anything this large in a cgroup limit file means "no limit" (v1 writes
 * PAGE_COUNTER_MAX pages, about 2^63). */
#define NO_LIMIT (1ull << 60)

uint64_t memplan_available(const MemFacts *f, const char **ret_which)
{
	uint64_t avail = f->mem_available;
	const char *which = "MemAvailable";
	if (f->cg_limit) {
		uint64_t room = f->cg_limit > f->cg_usage ? f->cg_limit - f->cg_usage : 0;
		if (!avail || room < avail) {
			avail = room;
			which = "cgroup limit - usage";
		}
	}
	if (ret_which)
		*ret_which = avail ? which : "unknown";
	return avail;
}

uint64_t memplan_reserve(uint64_t available)
{
	uint64_t r = (uint64_t)((double)available * MEMPLAN_RESERVE_SHARE);
	return r > MEMPLAN_RESERVE_MIN ? r : MEMPLAN_RESERVE_MIN;
}

uint64_t memplan_auto_budget(const MemFacts *f, int workers, char *why, size_t len)
{
	char b1[32], b2[32], b3[32], b4[32], b5[32];
	const char *which;
	uint64_t avail = memplan_available(f, &which);
	if (workers < 1)
		workers = 1;
	if (!avail) {
		snprintf(why, len, "auto: available memory unknown (no MemAvailable, no cgroup limit): no budget");
		return 0;
	}
	uint64_t reserve = memplan_reserve(avail);
	if (avail <= reserve) {
		/* Too little to split: each worker gets a share of what there is,
		 * and admission holds them back until more is free. */
		uint64_t b = avail / (uint64_t)workers / 2;
		snprintf(why, len, "auto: %s %s is below the reserve %s: %s per worker (half of its share)",
			 which, policy_format_bytes(avail, b1, sizeof b1),
			 policy_format_bytes(reserve, b2, sizeof b2), policy_format_bytes(b, b3, sizeof b3));
		return b ? b : 1;
	}
	uint64_t b = (avail - reserve) / (uint64_t)workers;
	int n = snprintf(why, len, "auto: %s %s", which, policy_format_bytes(avail, b1, sizeof b1));
	if (f->cg_limit && n >= 0 && (size_t)n < len)
		n += snprintf(why + n, len - (size_t)n, " (%s %s, usage %s; MemAvailable %s)",
			      f->cg_source && f->cg_source[0] ? f->cg_source : "cgroup limit",
			      policy_format_bytes(f->cg_limit, b2, sizeof b2),
			      policy_format_bytes(f->cg_usage, b3, sizeof b3),
			      f->mem_available ? policy_format_bytes(f->mem_available, b4, sizeof b4) : "unknown");
	if (n >= 0 && (size_t)n < len)
		snprintf(why + n, len - (size_t)n, " - reserve %s = %s for %d worker%s at once",
			 policy_format_bytes(reserve, b5, sizeof b5),
			 policy_format_bytes(b, b1, sizeof b1), workers, workers == 1 ? "" : "s");
	return b;
}

uint64_t memplan_auto_vram(const int *ids, const uint64_t *bytes, int n, int workers_per_device,
                           char *why, size_t len)
{
	char b1[32], b2[32], b3[32];
	uint64_t dev = 0;
	int smallest = 0;
	if (workers_per_device < 1)
		workers_per_device = 1;
	if (n < 1) {
		snprintf(why, len, "auto: no GPU in this run: no budget.vram");
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (!bytes[i]) {
			snprintf(why, len, "auto: no device memory size known for GPU %d: no budget.vram", ids[i]);
			return 0;
		}
		if (!dev || bytes[i] < dev) {
			dev = bytes[i];
			smallest = i;
		}
	}
	uint64_t reserve = memplan_reserve(dev);
	if (dev <= reserve) {
		snprintf(why, len, "auto: device memory %s of GPU %d is below the reserve: no budget.vram",
			 policy_format_bytes(dev, b1, sizeof b1), ids[smallest]);
		return 0;
	}
	uint64_t b = (dev - reserve) / (uint64_t)workers_per_device;
	char of[48] = "";
	if (n > 1)
		snprintf(of, sizeof of, ", the smallest of the run's %d", n);
	snprintf(why, len, "auto: device memory %s (GPU %d%s) - reserve %s = %s for %d worker%s per GPU",
		 policy_format_bytes(dev, b1, sizeof b1), ids[smallest], of,
		 policy_format_bytes(reserve, b2, sizeof b2), policy_format_bytes(b, b3, sizeof b3),
		 workers_per_device, workers_per_device == 1 ? "" : "s");
	return b;
}

int memplan_vram_fits(const int *ids, const uint64_t *bytes, int n, uint64_t budget,
                      char *why, size_t len)
{
	char b1[32], b2[32];
	for (int i = 0; i < n; i++)
		if (bytes[i] && budget > bytes[i]) {
			snprintf(why, len, "budget.vram %s is more than GPU %d's memory %s: no worker could "
				 "start there (lower it, or use auto)", policy_format_bytes(budget, b1, sizeof b1),
				 ids[i], policy_format_bytes(bytes[i], b2, sizeof b2));
			return 0;
		}
	return 1;
}

int memplan_admit(uint64_t available, uint64_t budget, int running, uint64_t running_rss,
                  char *why, size_t len)
{
	char b1[32], b2[32], b3[32];
	if (!budget || !available) {
		snprintf(why, len, "%s", !budget ? "no budget to hold" : "available memory unknown");
		return 1;
	}
	/* What the running workers may still grow to, plus the new one. */
	uint64_t committed = budget * (uint64_t)(running > 0 ? running : 0);
	uint64_t growth = committed > running_rss ? committed - running_rss : 0;
	uint64_t need = budget + growth;
	if (available >= need) {
		snprintf(why, len, "available %s holds %s", policy_format_bytes(available, b1, sizeof b1),
			 policy_format_bytes(need, b2, sizeof b2));
		return 1;
	}
	snprintf(why, len, "waiting for memory: available %s does not hold budget.rss %s",
		 policy_format_bytes(available, b1, sizeof b1), policy_format_bytes(budget, b3, sizeof b3));
	if (growth) {
		size_t n = strlen(why);
		snprintf(why + n, len > n ? len - n : 0, " plus %s the %d running may still grow",
			 policy_format_bytes(growth, b1, sizeof b1), running);
	}
	return 0;
}

int memplan_after_oom(int limit, int running)
{
	int n = running < limit ? running : limit;
	return n - 1 >= 1 ? n - 1 : 1;
}

/* ---- the ladder ---- */

static const char *const rung_names[MEMPLAN_MAX_RUNGS] = { "batch", "buffer", "chunk" };

const char *memplan_rung_name(MemRung r)
{
	return (int)r >= 0 && (int)r < MEMPLAN_MAX_RUNGS ? rung_names[r] : "?";
}

int memplan_rung_parse(const char *name, MemRung *ret)
{
	for (int i = 0; i < MEMPLAN_MAX_RUNGS; i++)
		if (!strcmp(name, rung_names[i])) {
			*ret = (MemRung)i;
			return 0;
		}
	return -EINVAL;
}

int memplan_ladder_parse(const char *text, MemLadder *ret, char *why, size_t len)
{
	MemLadder l = { 0 };
	char buf[128], *save = NULL;
	if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf) {
		snprintf(why, len, "too long");
		return -EINVAL;
	}
	for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		MemRung r;
		if (memplan_rung_parse(t, &r) < 0) {
			snprintf(why, len, "'%s' is not a rung (batch, buffer, chunk)", t);
			return -EINVAL;
		}
		for (int i = 0; i < l.n; i++)
			if (l.rungs[i] == r) {
				snprintf(why, len, "rung '%s' listed twice", t);
				return -EINVAL;
			}
		if (l.n == 0 && r != RUNG_BATCH) {
			snprintf(why, len, "must start with batch (batch_size is always halved first)");
			return -EINVAL;
		}
		l.rungs[l.n++] = r;
	}
	if (l.n == 0) {
		snprintf(why, len, "empty (expected e.g. batch or batch,buffer,chunk)");
		return -EINVAL;
	}
	*ret = l;
	return 0;
}

/* The halved value of the rung, or 0 when it is at its floor. */
static int halve(MemRung r, const MemShape *s, const MemFloors *fl)
{
	int v, floor_v;
	if (r == RUNG_BUFFER) {
		v = s->buffer_size;
		floor_v = fl->min_buffer_size > s->batch_size ? fl->min_buffer_size : s->batch_size;
	} else if (r == RUNG_CHUNK) {
		v = s->chunk_length;
		floor_v = fl->min_chunk_length > 2 ? fl->min_chunk_length : 2;
	} else {
		return 0;
	}
	return v / 2 >= floor_v ? v / 2 : 0;
}

int memplan_apply_ladder(PolicyDecision *d, const PolicyFacts *f, const MemLadder *ladder,
                         const MemShape *cur, const MemFloors *floors, MemShape *next)
{
	*next = *cur;
	if (f->kind != EXIT_OVER_BUDGET || d->action != POLICY_FAIL)
		return 0;
	for (int i = 0; i < ladder->n; i++) {
		MemRung r = ladder->rungs[i];
		int v = halve(r, cur, floors);
		if (!v)
			continue;
		char what[POLICY_REASON_MAX];
		snprintf(what, sizeof what, "%s", d->reason);
		if (r == RUNG_BUFFER) {
			next->buffer_size = v;
			snprintf(d->reason, sizeof d->reason, "%s; rung buffer: buffer_size %d -> %d",
				 what, cur->buffer_size, v);
		} else {
			next->chunk_length = v;
			snprintf(d->reason, sizeof d->reason, "%s; rung chunk: chunk_length %d -> %d",
				 what, cur->chunk_length, v);
		}
		next->rung = r;
		d->action = f->stopping ? POLICY_PAUSE : POLICY_RETRY;
		d->charged = 0;
		d->next_batch_size = cur->batch_size;
		double floor_s = POLICY_MIN_RESPAWN_S - (f->ran_s > 0 ? f->ran_s : 0);
		d->delay_s = f->stopping || floor_s < 0 ? 0 : floor_s;
		return 1;
	}
	if (ladder->n > 1) {
		/* Every rung is at its floor: say so in the failure. */
		size_t n = strlen(d->reason);
		for (int i = 1; i < ladder->n && n < sizeof d->reason; i++) {
			if (ladder->rungs[i] == RUNG_BUFFER)
				snprintf(d->reason + n, sizeof d->reason - n, "; rung buffer: buffer_size %d at its floor %d",
					 cur->buffer_size, floors->min_buffer_size > cur->batch_size ?
					 floors->min_buffer_size : cur->batch_size);
			else if (ladder->rungs[i] == RUNG_CHUNK)
				snprintf(d->reason + n, sizeof d->reason - n, "; rung chunk: chunk_length %d at its floor %d",
					 cur->chunk_length, floors->min_chunk_length);
			n = strlen(d->reason);
		}
	}
	return 0;
}

/* ---- reading the machine ---- */

uint64_t memplan_parse_meminfo(const char *text)
{
	const char *p = strstr(text, "MemAvailable:");
	if (!p)
		return 0;
	unsigned long long kb;
	if (sscanf(p + 13, " %llu", &kb) != 1)
		return 0;
	return (uint64_t)kb * 1024;
}

uint64_t memplan_parse_cgroup_bytes(const char *text)
{
	while (*text == ' ' || *text == '\t')
		text++;
	if (!strncmp(text, "max", 3))
		return 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || v >= NO_LIMIT)
		return 0;
	return (uint64_t)v;
}

/* Reads a small file into buf. Returns 0 or -1. */
static int slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n ? 0 : -1;
}

/* Reads the limit and usage files of one cgroup folder: v2 names first,
 * then v1. Returns 1 when a limit was found. */
static int read_cgroup_dir(const char *dir, MemFacts *f, char *source, size_t len)
{
	static const char *const names[2][2] = {
		{ "memory.max", "memory.current" },
		{ "memory.limit_in_bytes", "memory.usage_in_bytes" },
	};
	char path[PATH_MAX + 32], buf[256];
	for (int v = 0; v < 2; v++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[v][0]);
		if (slurp(path, buf, sizeof buf) < 0)
			continue;
		uint64_t lim = memplan_parse_cgroup_bytes(buf);
		if (!lim)
			return 0;   /* readable, no limit */
		f->cg_limit = lim;
		snprintf(source, len, "%s", path);
		f->cg_source = source;
		snprintf(path, sizeof path, "%s/%s", dir, names[v][1]);
		if (slurp(path, buf, sizeof buf) == 0)
			f->cg_usage = memplan_parse_cgroup_bytes(buf);
		return 1;
	}
	return 0;
}

void memplan_find_cgroup(char *dir, size_t len)
{
	MemFacts f;
	char source[PATH_MAX + 32];
	dir[0] = '\0';
	const char *env = getenv("TICKERVISOR_CGROUP_DIR");
	if (env && *env) {
		snprintf(dir, len, "%s", env);
		return;
	}
	FILE *cg = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 64], path[PATH_MAX + 64];
	while (cg && fgets(line, sizeof line, cg)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrl = c1 + 1, *rel = c2 + 1;
		if (!strcmp(line, "0") && !*ctrl)
			snprintf(path, sizeof path, "/sys/fs/cgroup%s", rel);
		else if (strstr(ctrl, "memory"))
			snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s", rel);
		else
			continue;
		/* The tightest limit may be set on a parent (a Slurm job's
		 * cgroup above the step's): walk up to the mount point. */
		size_t root = strlen(*ctrl ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup");
		for (;;) {
			memset(&f, 0, sizeof f);
			if (read_cgroup_dir(path, &f, source, sizeof source)) {
				snprintf(dir, len, "%s", path);
				fclose(cg);
				return;
			}
			char *slash = strrchr(path, '/');
			if (!slash || (size_t)(slash - path) < root)
				break;
			*slash = '\0';
		}
	}
	if (cg)
		fclose(cg);
}

void memplan_read_facts(MemFacts *f, const char *cgroup_dir, char *source, size_t len)
{
	char buf[8192];
	memset(f, 0, sizeof *f);
	source[0] = '\0';
	f->cg_source = source;
	const char *mi = getenv("TICKERVISOR_MEMINFO");
	if (slurp(mi && *mi ? mi : "/proc/meminfo", buf, sizeof buf) == 0)
		f->mem_available = memplan_parse_meminfo(buf);
	if (cgroup_dir && cgroup_dir[0])
		read_cgroup_dir(cgroup_dir, f, source, len);
}
