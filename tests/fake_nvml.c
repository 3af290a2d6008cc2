/* A stand-in for libnvidia-ml.so.1, loaded by the supervisor through
 * TV_NVML_LIBRARY, so that tests reach the supervisor's NVML paths on a
 * machine without a GPU. It implements the functions supervisor/nvml.c
 * looks up, with NVIDIA's signatures:
 * - TV_FAKE_NVML_COUNT: the number of devices (default 1);
 * - TV_FAKE_NVML_TOTAL: each device's total memory in bytes, a comma list
 *   (device i gets entry i, or the last one; default 80 GiB);
 * - compute processes: none, unless TV_FAKE_NVML_PROC_USED=BYTES: then
 *   every descendant of the calling process (the supervisor) whose
 *   environment holds CUDA_VISIBLE_DEVICES=i runs on device i, using BYTES
 *   times N when the variable is BYTES/batch and the process's command
 *   line holds rewts.batch_size=N (device memory that grows with the
 *   batch, as activations do), else BYTES; TV_FAKE_NVML_PROC_USED=na lists
 *   them with NVML_VALUE_NOT_AVAILABLE (what drivers report where they
 *   cannot count a process's memory). A descendant's pid is the one
 *   the supervisor spawned: `tickervisor __cgroup-exec` execs the worker
 *   in place, and its environment and arguments are the worker's;
 * - TV_FAKE_NVML_OTHER=BYTES: each device also lists, first, a process
 *   that is not the supervisor's (pid 1: another user's job on a shared
 *   GPU) using BYTES. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;

/* NVIDIA's v2/v3 process record. */
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} nvmlProcessInfo_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)
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

/* The parent of pid from /proc/PID/stat, or -1. The command name may
 * hold spaces and parentheses: the fields follow its last ')'. */
static long parent_of(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	long ppid;
	char state;
	return p && sscanf(p + 1, " %c %ld", &state, &ppid) == 2 ? ppid : -1;
}

static int descends_from(long pid, long root)
{
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		pid = parent_of(pid);
		if (pid == root)
			return 1;
	}
	return 0;
}

/* /proc/PID/FILE (NUL-separated strings) into buf; its length, or -1. */
static long read_strings(long pid, const char *file, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/%s", pid, file);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return (long)n;
}

/* The value of the string starting with prefix, or NULL. */
static const char *find_string(const char *buf, long n, const char *prefix)
{
	size_t k = strlen(prefix);
	for (long i = 0; i < n; i += (long)strlen(buf + i) + 1)
		if (!strncmp(buf + i, prefix, k))
			return buf + i + k;
	return NULL;
}

/* The device memory pid uses on device index: 0 if it runs none there. */
static unsigned long long proc_used(long pid, unsigned int index, const char *spec)
{
	static char buf[1 << 16];
	char *end;
	unsigned long long bytes = strtoull(spec, &end, 10);
	long n = read_strings(pid, "environ", buf, sizeof buf);
	const char *dev = n > 0 ? find_string(buf, n, "CUDA_VISIBLE_DEVICES=") : NULL;
	if (!dev || !*dev || strtoul(dev, NULL, 10) != index)
		return 0;
	if (!strcmp(spec, "na"))
		return NVML_VALUE_NOT_AVAILABLE;
	if (strcmp(end, "/batch"))
		return bytes;
	n = read_strings(pid, "cmdline", buf, sizeof buf);
	const char *batch = n > 0 ? find_string(buf, n, "rewts.batch_size=") : NULL;
	return batch ? bytes * strtoull(batch, NULL, 10) : 0;
}

/* The processes of TV_FAKE_NVML_PROC_USED on dev (see the top). */
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t dev, unsigned int *n,
						     nvmlProcessInfo_t *procs)
{
	const char *p = (const char *)(void *)dev;
	const char *spec = getenv("TV_FAKE_NVML_PROC_USED");
	unsigned int found = 0;
	if (p < devices || p >= devices + count())
		return NVML_ERROR_INVALID_ARGUMENT;
	const char *other = getenv("TV_FAKE_NVML_OTHER");
	if (other && *other) {
		if (found < *n)
			procs[found] = (nvmlProcessInfo_t){ .pid = 1,
							    .usedGpuMemory = strtoull(other, NULL, 10) };
		found++;
	}
	DIR *d = spec && *spec ? opendir("/proc") : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || !descends_from(pid, (long)getpid()))
			continue;
		unsigned long long used = proc_used(pid, (unsigned int)(p - devices), spec);
		if (!used)
			continue;
		if (found < *n)
			procs[found] = (nvmlProcessInfo_t){ .pid = (unsigned int)pid, .usedGpuMemory = used };
		found++;
	}
	if (d)
		closedir(d);
	nvmlReturn_t r = found > *n ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
	*n = found;
	return r;
}
