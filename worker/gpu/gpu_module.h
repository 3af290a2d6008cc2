/* The CUDA backend as a loadable module. The worker never links CUDA: it
 * dlopens libtickervisor-gpu.so (built from dqn_cuda.cu, lstm_cudnn.cu and
 * gpu_module.c) only when a run may use a GPU and an NVIDIA driver is
 * present, so a CPU worker does not carry cudart/cuBLAS/cuDNN (over 100 MiB
 * of mapped libraries) in its RSS, and one worker binary runs on machines
 * with and without CUDA. gpu_loader.c implements gpu.h and gpu_lstm.h by
 * forwarding to the table below. */
#ifndef TV_GPU_MODULE_H
#define TV_GPU_MODULE_H

#include "gpu.h"
#include "gpu_lstm.h"

#define GPU_MODULE_VERSION 1
#define GPU_MODULE_SYMBOL "tv_gpu_module"
#define GPU_MODULE_FILE "libtickervisor-gpu.so"

typedef struct GpuModule {
	int version;
	int (*device_count)(void);
	int (*device_name)(int, char *, size_t);
	int (*agent_new)(GpuAgent **, const Mlp *, const Mlp *, const Adam *, int, int, int);
	int (*agent_push)(GpuAgent *, const float *, int32_t, float, const float *, float);
	int (*agent_size)(const GpuAgent *);
	int (*agent_train_step)(GpuAgent *, const int32_t *, float, float);
	int (*agent_loss_sum)(GpuAgent *, double *, int64_t *, int);
	int (*agent_q)(GpuAgent *, const float *, float *);
	int (*agent_copy_target)(GpuAgent *);
	int (*agent_download)(GpuAgent *, Mlp *, Mlp *, Adam *);
	int (*agent_bytes)(const GpuAgent *, int64_t *, int64_t *, int64_t *);
	void (*agent_free)(GpuAgent *);
	const char *(*last_error)(void);
	int (*agent_debug_last)(GpuAgent *, float *, float *, float *);
	int (*lstm_new)(GpuLstm **, int, int, int, int, int, float, float, float, float);
	int (*lstm_upload)(GpuLstm *, const float *, const float *, const float *, int64_t);
	int (*lstm_download)(GpuLstm *, float *, float *, float *, int64_t *);
	int (*lstm_forward)(GpuLstm *, const float *, int, int, float *);
	int (*lstm_mse_backward)(GpuLstm *, const float *, double *, float *);
	int (*lstm_adam_step)(GpuLstm *);
	int (*lstm_bytes)(const GpuLstm *, int64_t *, int64_t *, int64_t *, int64_t *);
	void (*lstm_free)(GpuLstm *);
	const char *(*lstm_last_error)(void);
} GpuModule;

typedef const GpuModule *(*GpuModuleFn)(void);

#endif
