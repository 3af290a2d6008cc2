#include "nvml.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The few NVML declarations we use, from NVIDIA's public API (nvml.h):
 * the v2/v3 process record is {pid, usedGpuMemory, gpuInstanceId,
 * computeInstanceId}. */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} NvmlProcess;
typedef struct {
	unsigned long long total, free, used;
} NvmlMemory;

#define NVML_SUCCESS 0
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)
#define NVML_MAX_DEVICES 64
#define NVML_MAX_PROCS 1024

struct Nvml {
	void *lib;
	nvmlReturn_t (*shutdown)(void);
	nvmlReturn_t (*get_procs)(nvmlDevice_t, unsigned int *, NvmlProcess *);
	const char *(*error_string)(nvmlReturn_t);
	nvmlReturn_t (*get_memory)(nvmlDevice_t, NvmlMemory *);   /* NULL: not in this library */
	int n_devices;
	nvmlDevice_t devices[NVML_MAX_DEVICES];
	int n_procs;
	NvmlProcess procs[NVML_MAX_PROCS];
};

Nvml *nvml_open(char *err, size_t errlen)
{
	const char *name = getenv("TV_NVML_LIBRARY");
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*count)(unsigned int *);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
	unsigned int n = 0;
	Nvml *nv = calloc(1, sizeof(*nv));

	if (!nv) {
		if (err)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	nv->lib = dlopen(name && *name ? name : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!nv->lib) {
		if (err)
			snprintf(err, errlen, "NVML not available: %s", dlerror());
		free(nv);
		return NULL;
	}
	*(void **)&init = dlsym(nv->lib, "nvmlInit_v2");
	*(void **)&count = dlsym(nv->lib, "nvmlDeviceGetCount_v2");
	*(void **)&handle = dlsym(nv->lib, "nvmlDeviceGetHandleByIndex_v2");
	*(void **)&nv->shutdown = dlsym(nv->lib, "nvmlShutdown");
	*(void **)&nv->error_string = dlsym(nv->lib, "nvmlErrorString");
	*(void **)&nv->get_procs = dlsym(nv->lib, "nvmlDeviceGetComputeRunningProcesses_v3");
	if (!nv->get_procs)
		*(void **)&nv->get_procs = dlsym(nv->lib, "nvmlDeviceGetComputeRunningProcesses_v2");
	*(void **)&nv->get_memory = dlsym(nv->lib, "nvmlDeviceGetMemoryInfo");
	if (!init || !count || !handle || !nv->shutdown || !nv->get_procs) {
		if (err)
			snprintf(err, errlen, "NVML library lacks the v2/v3 functions tickervisor needs");
		dlclose(nv->lib);
		free(nv);
		return NULL;
	}
	if (init() != NVML_SUCCESS) {
		if (err)
			snprintf(err, errlen, "NVML present but no driver answered (nvmlInit failed)");
		dlclose(nv->lib);
		free(nv);
		return NULL;
	}
	if (count(&n) != NVML_SUCCESS)
		n = 0;
	for (unsigned int i = 0; i < n && nv->n_devices < NVML_MAX_DEVICES; i++)
		if (handle(i, &nv->devices[nv->n_devices]) == NVML_SUCCESS)
			nv->n_devices++;
	return nv;
}

void nvml_close(Nvml *nv)
{
	if (!nv)
		return;
	nv->shutdown();
	dlclose(nv->lib);
	free(nv);
}

int nvml_device_count(const Nvml *nv)
{
	return nv ? nv->n_devices : 0;
}

uint64_t nvml_device_total(const Nvml *nv, int index)
{
	NvmlMemory m;

	if (!nv || !nv->get_memory || index < 0 || index >= nv->n_devices ||
	    nv->get_memory(nv->devices[index], &m) != NVML_SUCCESS)
		return 0;
	return (uint64_t)m.total;
}

int nvml_refresh(Nvml *nv)
{
	nv->n_procs = 0;
	for (int d = 0; d < nv->n_devices; d++) {
		unsigned int room = (unsigned int)(NVML_MAX_PROCS - nv->n_procs);
		nvmlReturn_t r;

		if (room == 0)
			break;
		r = nv->get_procs(nv->devices[d], &room, nv->procs + nv->n_procs);
		if (r == NVML_SUCCESS)
			nv->n_procs += (int)room;
		else if (r != NVML_ERROR_INSUFFICIENT_SIZE)
			return -EIO;
	}
	return 0;
}

int64_t nvml_process_bytes(const Nvml *nv, pid_t pid)
{
	int64_t sum = 0;

	for (int i = 0; nv && i < nv->n_procs; i++)
		if ((pid_t)nv->procs[i].pid == pid &&
		    nv->procs[i].usedGpuMemory != NVML_VALUE_NOT_AVAILABLE)
			sum += (int64_t)nv->procs[i].usedGpuMemory;
	return sum;
}
