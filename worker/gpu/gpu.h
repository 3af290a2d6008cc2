/* The CUDA backend of the DDQN step: the replay buffer, both networks, the
 * gradients and Adam's moments live on the device; a training step is one
 * CUDA Graph launch (gather, forwards, Double-DQN target and loss,
 * backward, global-norm clip, Adam) after one upload of the batch indices.
 *
 * Semantics are those of worker/dqn.h's dqn_train_step, in the same
 * parameter layout (one float array per network: W_l out x in row-major,
 * then b_l), so download() gives an Mlp/Adam the CPU code can continue
 * from, checkpoint or write as a model. Arithmetic is FP32 (no TF32): the
 * results match the CPU within rounding, not bit for bit.
 *
 * Errors: every function returns >= 0 on success or a negative errno:
 * -ENOMEM when the device (or pinned host memory) is out of memory - the
 * worker maps it to TV_EXIT_OVER_BUDGET -, -EIO for any other CUDA/cuBLAS
 * failure, -EINVAL for bad arguments, -ENOTSUP when the build has no CUDA.
 * After -EIO an agent is unusable and must be freed. Only this module
 * includes CUDA headers; it never prints. One agent uses one device (the
 * current one, i.e. CUDA_VISIBLE_DEVICES picks it) and one stream; it is
 * not thread-safe. */
#ifndef TV_GPU_H
#define TV_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "adam.h"
#include "mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 when the build has no CUDA, when there
 * is no driver (no libcuda) or no device. Never fails, never crashes. */
int gpu_device_count(void);

/* Writes the device's name (NUL-terminated, truncated to len) into buf. */
int gpu_device_name(int dev, char *buf, size_t len);

typedef struct GpuAgent GpuAgent;

/* Uploads copies of online, target (same shapes) and opt (its m, v, t and
 * hyper-parameters; opt->n == online->n_params) and allocates a replay ring
 * of buffer_capacity transitions of state_dim floats (state_dim must equal
 * online->sizes[0]) and the scratch for batches of exactly `batch` rows.
 * The host structures are not referenced afterwards. */
int gpu_agent_new(GpuAgent **ret, const Mlp *online, const Mlp *target,
		  const Adam *opt, int batch, int buffer_capacity, int state_dim);

/* Appends one transition to the device-resident ring (slot = count % cap,
 * overwriting the oldest when full). Pushes are staged on the host and
 * uploaded together before the next step that needs them. */
int gpu_agent_push(GpuAgent *g, const float *s, int32_t a, float r,
		   const float *s2, float done);

/* Transitions currently held (<= buffer_capacity). */
int gpu_agent_size(const GpuAgent *g);

/* One Double-DQN step on the ring slots indices[0..batch-1] (each in
 * [0, size)), chosen by the caller's RNG so that CPU and GPU runs draw the
 * same batches. Asynchronous: it returns once the step is queued; the next
 * call that reads results (loss_sum, q, download) waits for it. The loss is
 * accumulated on the device. Returns -EINVAL for an index out of range. */
int gpu_agent_train_step(GpuAgent *g, const int32_t *indices, float gamma,
			 float grad_clip);

/* Sum of the losses (each the batch mean, as dqn_train_step returns) and
 * the number of steps since the last reset; reset != 0 zeroes both. */
int gpu_agent_loss_sum(GpuAgent *g, double *ret_sum, int64_t *ret_steps,
		       int reset);

/* Q-values (sizes[L] floats) of the online network for one state. */
int gpu_agent_q(GpuAgent *g, const float *state, float *ret_q);

/* target <- online, on the device, in stream order. */
int gpu_agent_copy_target(GpuAgent *g);

/* Copies the online and target parameters and Adam's m, v and t back into
 * host structures of the shapes given to gpu_agent_new (any may be NULL).
 * online->grads receives the unclipped gradients of the last step. */
int gpu_agent_download(GpuAgent *g, Mlp *online, Mlp *target, Adam *opt);

/* Device bytes by category: the replay ring; per-batch activations,
 * their gradients and cuBLAS workspace; parameters of both networks,
 * gradients and Adam's moments. */
int gpu_agent_bytes(const GpuAgent *g, int64_t *ret_replay,
		    int64_t *ret_activations, int64_t *ret_weights);

void gpu_agent_free(GpuAgent *g);    /* accepts NULL */

/* A description of the last CUDA/cuBLAS failure in this thread (library,
 * error string, the call), for the caller's log line; "" if none. */
const char *gpu_last_error(void);

/* Debugging and tests: the unclipped gradients of the last step (n_params
 * floats, the Mlp layout), their global L2 norm before clipping, and the
 * online network's Q-values of the last batch's states s (batch x out). */
int gpu_agent_debug_last(GpuAgent *g, float *ret_grads, float *ret_norm,
			 float *ret_q_batch);

#ifdef __cplusplus
}
#endif

#endif
