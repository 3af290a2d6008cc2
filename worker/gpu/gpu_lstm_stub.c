/* gpu_lstm.h for builds without CUDA/cuDNN: every call -ENOTSUP. */
#include <errno.h>

#include "gpu_lstm.h"

int gpu_lstm_new(GpuLstm **ret, int input, int hidden, int layers, int seq_len,
		 int max_batch, float lr, float beta1, float beta2, float eps)
{
	return -ENOTSUP;
}

int gpu_lstm_upload(GpuLstm *g, const float *params, const float *adam_m,
		    const float *adam_v, int64_t adam_t)
{
	return -ENOTSUP;
}

int gpu_lstm_download(GpuLstm *g, float *params, float *adam_m, float *adam_v,
		      int64_t *ret_adam_t)
{
	return -ENOTSUP;
}

int gpu_lstm_forward(GpuLstm *g, const float *x, int batch, int train, float *ret_out)
{
	return -ENOTSUP;
}

int gpu_lstm_mse_backward(GpuLstm *g, const float *target, double *ret_loss,
			  float *ret_grads)
{
	return -ENOTSUP;
}

int gpu_lstm_adam_step(GpuLstm *g)
{
	return -ENOTSUP;
}

int gpu_lstm_bytes(const GpuLstm *g, int64_t *ret_reserve, int64_t *ret_workspace,
		   int64_t *ret_activations, int64_t *ret_weights)
{
	return -ENOTSUP;
}

void gpu_lstm_free(GpuLstm *g)
{
}

const char *gpu_lstm_last_error(void)
{
	return "this build has no CUDA/cuDNN";
}
