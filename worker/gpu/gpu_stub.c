/* gpu.h for builds without CUDA: no devices, every agent call -ENOTSUP.
 * The worker then trains on the CPU. */
#include <errno.h>

#include "gpu.h"

int gpu_device_count(void)
{
	return 0;
}

int gpu_device_name(int dev, char *buf, size_t len)
{
	return -ENOTSUP;
}

int gpu_agent_new(GpuAgent **ret, const Mlp *online, const Mlp *target,
		  const Adam *opt, int batch, int buffer_capacity, int state_dim)
{
	return -ENOTSUP;
}

int gpu_agent_push(GpuAgent *g, const float *s, int32_t a, float r,
		   const float *s2, float done)
{
	return -ENOTSUP;
}

int gpu_agent_size(const GpuAgent *g)
{
	return 0;
}

int gpu_agent_train_step(GpuAgent *g, const int32_t *indices, float gamma,
			 float grad_clip)
{
	return -ENOTSUP;
}

int gpu_agent_loss_sum(GpuAgent *g, double *ret_sum, int64_t *ret_steps,
		       int reset)
{
	return -ENOTSUP;
}

int gpu_agent_q(GpuAgent *g, const float *state, float *ret_q)
{
	return -ENOTSUP;
}

int gpu_agent_copy_target(GpuAgent *g)
{
	return -ENOTSUP;
}

int gpu_agent_download(GpuAgent *g, Mlp *online, Mlp *target, Adam *opt)
{
	return -ENOTSUP;
}

int gpu_agent_bytes(const GpuAgent *g, int64_t *ret_replay,
		    int64_t *ret_activations, int64_t *ret_weights)
{
	return -ENOTSUP;
}

void gpu_agent_free(GpuAgent *g)
{
}

int gpu_agent_debug_last(GpuAgent *g, float *ret_grads, float *ret_norm,
			 float *ret_q_batch)
{
	return -ENOTSUP;
}

const char *gpu_last_error(void)
{
	return "";
}
