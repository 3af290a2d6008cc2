/* A stand-in for libnvidia-ml.so.1, loaded by the supervisor through
 * TV_NVML_LIBRARY, so that tests reach the supervisor's NVML paths on a
 * machine without a GPU. It implements the functions supervisor/nvml.c
 * looks up, with NVIDIA's signatures:
 * - TV_FAKE_NVML_COUNT: the number of devices (default 1);
 * - TV_FAKE_NVML_TOTAL: each device's total memory in bytes, a comma list
 *   (device i gets entry i, or the last one; default 80 GiB);
 * - no device runs a compute process. */
#include <stdlib.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define FAKE_MAX 64

/* A device handle is the address of its entry here. */
static char devices[FAKE_MAX];

static unsigned int count(void)
{
	const char *v = getenv("TV_FAKE_NVML_COUNT");
	long n = v && *v ? strtol(v, NULL, 10) : 1;
	return n < 0 ? 0 : n > FAKE_MAX ? FAKE_MAX : (unsigned int)n;
}

static unsigned long long total(unsigned int index)
{
	const char *v = getenv("TV_FAKE_NVML_TOTAL");
	unsigned long long t = 80ull << 30;
	for (unsigned int i = 0; v && *v; i++) {
		char *end;
		t = strtoull(v, &end, 10);
		if (i == index || *end != ',')
			break;
		v = end + 1;
	}
	return t;
}

nvmlReturn_t nvmlInit_v2(void)
{
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
	return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
	return r == NVML_SUCCESS ? "Success" : "fake NVML error";
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *ret)
{
	*ret = count();
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *ret)
{
	if (index >= count())
		return NVML_ERROR_INVALID_ARGUMENT;
	*ret = (nvmlDevice_t)(void *)&devices[index];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, nvmlMemory_t *ret)
{
	const char *p = (const char *)(void *)dev;
	if (p < devices || p >= devices + count())
		return NVML_ERROR_INVALID_ARGUMENT;
	ret->total = total((unsigned int)(p - devices));
	ret->used = 0;
	ret->free = ret->total;
	return NVML_SUCCESS;
}

/* The v3 process record; none runs. */
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t dev, unsigned int *n, void *procs)
{
	(void)dev;
	(void)procs;
	*n = 0;
	return NVML_SUCCESS;
}
