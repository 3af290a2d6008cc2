/* Device memory per process through NVML, loaded at run time
 * (dlopen("libnvidia-ml.so.1")): the supervisor has no link-time
 * dependency on the NVIDIA driver and runs the same on machines without
 * one. When NVML is absent the supervisor uses the workers' own reports
 * (heartbeat bytes_device). Only this module knows NVML. */
#ifndef TV_NVML_H
#define TV_NVML_H

#include <stdint.h>
#include <sys/types.h>

typedef struct Nvml Nvml;

/* Loads and initialises NVML. Returns NULL (and a reason in err, if given)
 * when the library or a usable driver is missing. TV_NVML_LIBRARY
 * overrides the library name (tests). */
Nvml *nvml_open(char *err, size_t errlen);
void nvml_close(Nvml *nv);            /* accepts NULL */

int nvml_device_count(const Nvml *nv);

/* Total memory of device index in bytes (nvmlDeviceGetMemoryInfo), 0 when
 * unknown. Devices are numbered in the order nvml_open found them: NVML's
 * own index order (PCI bus order), leaving out any the driver gave no
 * handle for. */
uint64_t nvml_device_total(const Nvml *nv, int index);

/* Refreshes the per-process table of every device (one NVML call per
 * device); call once per poll, then look processes up. */
int nvml_refresh(Nvml *nv);

/* Device bytes used by pid on all devices at the last refresh; 0 if the
 * process holds none. */
int64_t nvml_process_bytes(const Nvml *nv, pid_t pid);

#endif
