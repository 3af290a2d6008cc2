/* gpu.h and gpu_lstm.h for the worker: forwards every call to the CUDA
 * module, loaded on first use (gpu_module.h says why). Without a driver or
 * without the module, gpu_device_count() is 0 and everything else
 * -ENOTSUP, exactly like a build without CUDA. */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_module.h"

#ifndef TV_GPU_MODULE_DIR
#define TV_GPU_MODULE_DIR "/usr/local/lib/tickervisor"
#endif

static const GpuModule *mod;
static int tried;
static char why[512] = "no CUDA device: the GPU module was not loaded";

static int driver_present(void)
{
	return access("/proc/driver/nvidia/version", F_OK) == 0 ||
	       access("/dev/nvidiactl", F_OK) == 0;
}

static const GpuModule *try_path(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	GpuModuleFn fn;
	const GpuModule *m;

	if (!h) {
		snprintf(why, sizeof(why), "cannot load the GPU module: %s", dlerror());
		return NULL;
	}
	*(void **)&fn = dlsym(h, GPU_MODULE_SYMBOL);
	m = fn ? fn() : NULL;
	if (!m || m->version != GPU_MODULE_VERSION) {
		snprintf(why, sizeof(why), "%s: not a tickervisor GPU module of version %d",
			 path, GPU_MODULE_VERSION);
		dlclose(h);
		return NULL;
	}
	return m;
}

/* TV_GPU_MODULE, else beside the worker (the build tree keeps it in gpu/),
 * else the installed folder. */
static const GpuModule *load(void)
{
	const char *env = getenv("TV_GPU_MODULE");
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n;

	if (tried)
		return mod;
	tried = 1;
	if (env && *env)
		return mod = try_path(env);
	if (!driver_present())
		return NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(path, sizeof(path), "%s/gpu/%s", dirname(exe), GPU_MODULE_FILE);
		if (access(path, F_OK) == 0)
			return mod = try_path(path);
		snprintf(path, sizeof(path), "%s/%s", exe, GPU_MODULE_FILE);
		if (access(path, F_OK) == 0)
			return mod = try_path(path);
		/* Test programs elsewhere in the build tree. */
		snprintf(path, sizeof(path), "%s/../worker/gpu/%s", exe, GPU_MODULE_FILE);
		if (access(path, F_OK) == 0)
			return mod = try_path(path);
	}
	snprintf(path, sizeof(path), "%s/%s", TV_GPU_MODULE_DIR, GPU_MODULE_FILE);
	if (access(path, F_OK) == 0)
		return mod = try_path(path);
	snprintf(why, sizeof(why), "an NVIDIA driver is present but %s was not found "
		 "(this worker was built without CUDA?)", GPU_MODULE_FILE);
	return NULL;
}

#define FORWARD(call) do { const GpuModule *m_ = load(); if (!m_) return -ENOTSUP; return m_->call; } while (0)

int gpu_device_count(void)
{
	const GpuModule *m = load();

	return m ? m->device_count() : 0;
}

int gpu_device_name(int dev, char *buf, size_t len) { FORWARD(device_name(dev, buf, len)); }

int gpu_agent_new(GpuAgent **ret, const Mlp *online, const Mlp *target, const Adam *opt,
		  int batch, int buffer_capacity, int state_dim)
{
	FORWARD(agent_new(ret, online, target, opt, batch, buffer_capacity, state_dim));
}

int gpu_agent_push(GpuAgent *g, const float *s, int32_t a, float r, const float *s2, float done)
{
	FORWARD(agent_push(g, s, a, r, s2, done));
}

int gpu_agent_size(const GpuAgent *g) { FORWARD(agent_size(g)); }

int gpu_agent_train_step(GpuAgent *g, const int32_t *indices, float gamma, float grad_clip)
{
	FORWARD(agent_train_step(g, indices, gamma, grad_clip));
}

int gpu_agent_loss_sum(GpuAgent *g, double *ret_sum, int64_t *ret_steps, int reset)
{
	FORWARD(agent_loss_sum(g, ret_sum, ret_steps, reset));
}

int gpu_agent_q(GpuAgent *g, const float *state, float *ret_q) { FORWARD(agent_q(g, state, ret_q)); }
int gpu_agent_copy_target(GpuAgent *g) { FORWARD(agent_copy_target(g)); }

int gpu_agent_download(GpuAgent *g, Mlp *online, Mlp *target, Adam *opt)
{
	FORWARD(agent_download(g, online, target, opt));
}

int gpu_agent_bytes(const GpuAgent *g, int64_t *ret_replay, int64_t *ret_activations,
		    int64_t *ret_weights)
{
	FORWARD(agent_bytes(g, ret_replay, ret_activations, ret_weights));
}

void gpu_agent_free(GpuAgent *g)
{
	if (g && mod)
		mod->agent_free(g);
}

const char *gpu_last_error(void)
{
	return mod ? mod->last_error() : why;
}

int gpu_agent_debug_last(GpuAgent *g, float *ret_grads, float *ret_norm, float *ret_q_batch)
{
	FORWARD(agent_debug_last(g, ret_grads, ret_norm, ret_q_batch));
}

int gpu_lstm_new(GpuLstm **ret, int input, int hidden, int layers, int seq_len, int max_batch,
		 float lr, float beta1, float beta2, float eps)
{
	FORWARD(lstm_new(ret, input, hidden, layers, seq_len, max_batch, lr, beta1, beta2, eps));
}

int gpu_lstm_upload(GpuLstm *g, const float *params, const float *adam_m, const float *adam_v,
		    int64_t adam_t)
{
	FORWARD(lstm_upload(g, params, adam_m, adam_v, adam_t));
}

int gpu_lstm_download(GpuLstm *g, float *params, float *adam_m, float *adam_v, int64_t *ret_adam_t)
{
	FORWARD(lstm_download(g, params, adam_m, adam_v, ret_adam_t));
}

int gpu_lstm_forward(GpuLstm *g, const float *x, int batch, int train, float *ret_out)
{
	FORWARD(lstm_forward(g, x, batch, train, ret_out));
}

int gpu_lstm_mse_backward(GpuLstm *g, const float *target, double *ret_loss, float *ret_grads)
{
	FORWARD(lstm_mse_backward(g, target, ret_loss, ret_grads));
}

int gpu_lstm_adam_step(GpuLstm *g) { FORWARD(lstm_adam_step(g)); }

int gpu_lstm_bytes(const GpuLstm *g, int64_t *ret_reserve, int64_t *ret_workspace,
		   int64_t *ret_activations, int64_t *ret_weights)
{
	FORWARD(lstm_bytes(g, ret_reserve, ret_workspace, ret_activations, ret_weights));
}

void gpu_lstm_free(GpuLstm *g)
{
	if (g && mod)
		mod->lstm_free(g);
}

const char *gpu_lstm_last_error(void)
{
	return mod ? mod->lstm_last_error() : why;
}
