/* Placement (see placement.h). Pure: no I/O. */
#include "placement.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies [b, e) without surrounding blanks into buf. */
static void trim_copy(const char *b, const char *e, char *buf, size_t len)
{
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	size_t n = (size_t)(e - b);
	if (n >= len)
		n = len - 1;
	memcpy(buf, b, n);
	buf[n] = '\0';
}

int placement_parse(const char *spec, int detected, int *ret_ids, int cap,
                    int *ret_n, char *err, size_t errlen)
{
	char whole[64], item[32];
	int ids[PLACEMENT_MAX_GPUS];
	int n = 0;

	if (!spec || detected < 0 || cap < 0 || (cap > 0 && !ret_ids)) {
		snprintf(err, errlen, "gpus: bad arguments");
		return -EINVAL;
	}
	trim_copy(spec, spec + strlen(spec), whole, sizeof whole);
	if (whole[0] == '\0') {
		snprintf(err, errlen, "gpus = '%s': empty (use none, auto or a list like 0,1)", spec);
		return -EINVAL;
	}
	if (strcmp(whole, "none") == 0) {
		*ret_n = 0;
		return 0;
	}
	if (strcmp(whole, "auto") == 0) {
		int m = detected;
		if (m > cap || m > PLACEMENT_MAX_GPUS) {
			snprintf(err, errlen, "gpus = 'auto': %d GPUs detected, at most %d supported",
			         detected, cap < PLACEMENT_MAX_GPUS ? cap : PLACEMENT_MAX_GPUS);
			return -EINVAL;
		}
		for (int i = 0; i < m; i++)
			ret_ids[i] = i;
		*ret_n = m;
		return 0;
	}

	const char *p = spec;
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		char *stop;
		long v;

		trim_copy(p, end, item, sizeof item);
		if (item[0] == '\0') {
			snprintf(err, errlen, "gpus = '%s': empty entry in the list", spec);
			return -EINVAL;
		}
		errno = 0;
		v = strtol(item, &stop, 10);
		if (*stop != '\0' || errno || !isdigit((unsigned char)item[0])) {
			snprintf(err, errlen, "gpus = '%s': '%s' is not a GPU id "
			         "(use none, auto or a list like 0,1)", spec, item);
			return -EINVAL;
		}
		if (v >= detected) {
			snprintf(err, errlen, "gpus = '%s': GPU %ld out of range (%d detected%s)",
			         spec, v, detected, detected > 0 ? "" : ": use none");
			return -EINVAL;
		}
		for (int i = 0; i < n; i++) {
			if (ids[i] == v) {
				snprintf(err, errlen, "gpus = '%s': GPU %ld listed twice", spec, v);
				return -EINVAL;
			}
		}
		if (n >= cap || n >= PLACEMENT_MAX_GPUS) {
			snprintf(err, errlen, "gpus = '%s': more than %d GPUs", spec,
			         cap < PLACEMENT_MAX_GPUS ? cap : PLACEMENT_MAX_GPUS);
			return -EINVAL;
		}
		ids[n++] = (int)v;
		if (!comma)
			break;
		p = comma + 1;
	}
	memcpy(ret_ids, ids, (size_t)n * sizeof ids[0]);
	*ret_n = n;
	return 0;
}

int placement_pick(const PlacementSlot *slots, int n_slots, int workers_per_gpu,
                   uint64_t budget_vram, int cpu_running, int parallel,
                   int *ret_device)
{
	int best = -1;
	long double best_free = 0;

	if (n_slots < 0 || (n_slots > 0 && !slots))
		return -EINVAL;
	if (n_slots == 0) {
		if (parallel < 1)
			return -EINVAL;
		if (cpu_running >= parallel)
			return -EAGAIN;
		*ret_device = PLACEMENT_CPU;
		return 0;
	}
	if (workers_per_gpu < 1)
		return -EINVAL;

	for (int i = 0; i < n_slots; i++) {
		const PlacementSlot *sl = &slots[i];
		long double cap, free_b;
		int known;

		if (sl->running >= workers_per_gpu)
			continue;
		if (sl->vram_total) {
			cap = (long double)sl->vram_total;
			known = 1;
		} else if (budget_vram) {
			cap = (long double)workers_per_gpu * (long double)budget_vram;
			known = 1;
		} else {
			cap = 0;
			known = 0;
		}
		free_b = known ? cap - (long double)sl->vram_committed : 0;
		if (known && budget_vram && free_b < (long double)budget_vram)
			continue;
		if (best < 0 || free_b > best_free ||
		    (free_b == best_free && sl->running < slots[best].running)) {
			best = i;
			best_free = free_b;
		}
	}
	if (best < 0)
		return -EAGAIN;
	*ret_device = slots[best].device;
	return 0;
}

void placement_take(PlacementSlot *slots, int n_slots, int device, uint64_t budget_vram,
                    int *cpu_running)
{
	if (device == PLACEMENT_CPU) {
		(*cpu_running)++;
		return;
	}
	for (int i = 0; i < n_slots; i++)
		if (slots[i].device == device) {
			slots[i].running++;
			slots[i].vram_committed += budget_vram;
		}
}

void placement_release(PlacementSlot *slots, int n_slots, int device, uint64_t budget_vram,
                       int *cpu_running)
{
	if (device == PLACEMENT_CPU) {
		if (*cpu_running > 0)
			(*cpu_running)--;
		return;
	}
	for (int i = 0; i < n_slots; i++)
		if (slots[i].device == device) {
			if (slots[i].running > 0)
				slots[i].running--;
			slots[i].vram_committed -= slots[i].vram_committed >= budget_vram ?
						   budget_vram : slots[i].vram_committed;
		}
}
