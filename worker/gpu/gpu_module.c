/* The entry point of libtickervisor-gpu.so (see gpu_module.h). */
#include "gpu_module.h"

const GpuModule *tv_gpu_module(void);

const GpuModule *tv_gpu_module(void)
{
	static const GpuModule table = {
		GPU_MODULE_VERSION,
		gpu_device_count, gpu_device_name,
		gpu_agent_new, gpu_agent_push, gpu_agent_size, gpu_agent_train_step,
		gpu_agent_loss_sum, gpu_agent_q, gpu_agent_copy_target, gpu_agent_download,
		gpu_agent_bytes, gpu_agent_free, gpu_last_error, gpu_agent_debug_last,
		gpu_lstm_new, gpu_lstm_upload, gpu_lstm_download, gpu_lstm_forward,
		gpu_lstm_mse_backward, gpu_lstm_adam_step, gpu_lstm_bytes, gpu_lstm_free,
		gpu_lstm_last_error,
	};

	return &table;
}
