/* Placement: which device a new worker goes to. Pure functions, no I/O.
 *
 * `gpus = none | auto | 0,1,...` is parsed against the number of GPUs the
 * loop detected; each worker then sees one device (CUDA_VISIBLE_DEVICES).
 * A new worker goes to the device with the most VRAM budget free that still
 * has a worker slot (workers_per_gpu). With no GPU in use, workers train on
 * the CPU and `parallel` bounds how many run at once. */
#ifndef TV_PLACEMENT_H
#define TV_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

/* Most devices one supervisor places on. */
#define PLACEMENT_MAX_GPUS 64
/* The device id placement_pick() returns for "train on the CPU". */
#define PLACEMENT_CPU (-1)

/* Parses the gpus setting. detected: GPUs found (>= 0).
 * - "none" -> 0 ids (CPU mode).
 * - "auto" -> 0 .. detected-1 (0 ids, i.e. CPU mode, if none detected).
 * - "0,2"  -> those ids, in the order given; spaces around ids are allowed.
 * Errors are -EINVAL with a message in err naming the setting, e.g.
 * "gpus = '0,x': 'x' is not a GPU id", "gpus = '3': GPU 3 out of range
 * (2 detected)", "gpus = '1,1': GPU 1 listed twice", "gpus = '': empty".
 * ret_ids has room for cap ids (more ids than cap is -EINVAL too).
 * Returns 0 and writes ret_ids[0..*ret_n) on success. */
int placement_parse(const char *spec, int detected, int *ret_ids, int cap,
                    int *ret_n, char *err, size_t errlen);

/* What the loop knows about one device right now. */
typedef struct PlacementSlot {
	int device;              /* CUDA device id */
	int running;             /* workers running on it */
	uint64_t vram_committed; /* sum of the VRAM budgets of those workers, bytes */
	uint64_t vram_total;     /* device memory in bytes, 0 if unknown */
} PlacementSlot;

/* Picks where the next worker goes.
 * GPU mode (n_slots > 0): among devices with running < workers_per_gpu and,
 * when the free budget is known, room for budget_vram, the one with the most
 * VRAM free; free = vram_total - vram_committed when vram_total is known,
 * else workers_per_gpu * budget_vram - vram_committed (budget_vram 0 =
 * unknown: all equal). Ties go to the fewest running workers, then to the
 * first in slots[]. cpu_running and parallel are ignored.
 * CPU mode (n_slots == 0): PLACEMENT_CPU while cpu_running < parallel.
 * Returns 0 and *ret_device, or -EAGAIN when no slot is free (try again
 * when a worker exits), -EINVAL for bad arguments (workers_per_gpu < 1 in
 * GPU mode, parallel < 1 in CPU mode, n_slots < 0). */
int placement_pick(const PlacementSlot *slots, int n_slots, int workers_per_gpu,
                   uint64_t budget_vram, int cpu_running, int parallel,
                   int *ret_device);

/* The slot accounting of a worker placed on device (PLACEMENT_CPU or a
 * slots[] device): take when it starts, release when it has ended. A GPU
 * worker counts in its slot's running and commits budget_vram there; a
 * CPU worker counts in *cpu_running. An unknown device changes nothing. */
void placement_take(PlacementSlot *slots, int n_slots, int device, uint64_t budget_vram,
                    int *cpu_running);
void placement_release(PlacementSlot *slots, int n_slots, int device, uint64_t budget_vram,
                       int *cpu_running);

#endif
