/* The cuDNN backend of the LSTM forecaster (worker/lstm.h): cuDNN's RNN
 * API (cudnnRNNForward, cudnnRNNBackwardData_v8, cudnnRNNBackwardWeights_v8)
 * for the LSTM stack, small kernels for the linear head, the MSE and Adam.
 *
 * Semantics are those of lstm.h in its parameter layout: upload and
 * download convert between that layout (PyTorch's, gates i, f, g, o) and
 * cuDNN's weight space (CUDNN_LSTM, CUDNN_UNIDIRECTIONAL,
 * CUDNN_LINEAR_INPUT, CUDNN_RNN_DOUBLE_BIAS, FP32 math with
 * CUDNN_FMA_MATH: no TF32, which CUDNN_DEFAULT_MATH would allow on
 * Ampere and later), so the CPU code can continue from,
 * checkpoint or store what the device trained. Results match the CPU
 * within rounding, not bit for bit.
 *
 * Memory: the cuDNN reserve space (training activations), its workspace,
 * and the input/output/gradient buffers are sized for max_batch sequences
 * of seq_len steps, so a halved batch_size really halves them.
 *
 * Errors: >= 0 on success or a negative errno: -ENOMEM when the device is
 * out of memory (the worker exits TV_EXIT_OVER_BUDGET), -EIO for any other
 * CUDA/cuDNN failure (the object is then unusable: free it), -EINVAL for
 * bad arguments, -ENOTSUP when the build has no CUDA/cuDNN. Only this
 * module includes CUDA/cuDNN headers; it never prints. One object uses the
 * current device and one stream; not thread-safe. */
#ifndef TV_GPU_LSTM_H
#define TV_GPU_LSTM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct GpuLstm GpuLstm;

/* Creates the cuDNN descriptors and device buffers for a model of this
 * shape, batches of up to max_batch sequences of exactly seq_len steps,
 * and Adam with these hyper-parameters. Parameters start at zero: upload
 * them before use. */
int gpu_lstm_new(GpuLstm **ret, int input, int hidden, int layers, int seq_len,
		 int max_batch, float lr, float beta1, float beta2, float eps);

/* Uploads parameters (lstm_param_count floats, lstm.h layout) and Adam's
 * state; m and v may be NULL (zeros). */
int gpu_lstm_upload(GpuLstm *g, const float *params, const float *adam_m,
		    const float *adam_v, int64_t adam_t);

/* Downloads parameters, Adam's moments and step count; any may be NULL. */
int gpu_lstm_download(GpuLstm *g, float *params, float *adam_m, float *adam_v,
		      int64_t *ret_adam_t);

/* Forward of batch (<= max_batch) sequences x (batch x seq_len x input,
 * batch-major as in lstm.h). train != 0 keeps the reserve space for a
 * backward. ret_out (batch x seq_len) may be NULL. */
int gpu_lstm_forward(GpuLstm *g, const float *x, int batch, int train, float *ret_out);

/* After a training forward: the MSE over every step against target
 * (batch x seq_len), its gradients (written, not accumulated) and, when
 * ret_grads is not NULL, a download of them in the lstm.h layout. */
int gpu_lstm_mse_backward(GpuLstm *g, const float *target, double *ret_loss,
			  float *ret_grads);

/* One Adam step (PyTorch's, bias-corrected) with the last gradients. */
int gpu_lstm_adam_step(GpuLstm *g);

/* Device bytes: the cuDNN reserve space and workspace (both for
 * max_batch), the other per-batch buffers (inputs, outputs, their
 * gradients), and parameters + gradients + Adam's moments. */
int gpu_lstm_bytes(const GpuLstm *g, int64_t *ret_reserve, int64_t *ret_workspace,
		   int64_t *ret_activations, int64_t *ret_weights);

void gpu_lstm_free(GpuLstm *g);      /* accepts NULL */

/* The last CUDA/cuDNN failure of this module in this thread; "" if none. */
const char *gpu_lstm_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
