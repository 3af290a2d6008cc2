/* gpu_lstm.h on cuDNN's RNN API (v8 entry points, present in cuDNN 8.x
 * and 9.x). See gpu_lstm.h for the contract. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>
#include <cudnn.h>

#include "gpu_lstm.h"

static __thread char g_err[512];

/* Translates a CUDA status (once, here): out of memory -> -ENOMEM. */
static int cuda_fail(cudaError_t e, const char *what)
{
	snprintf(g_err, sizeof(g_err), "CUDA: %.200s: %.200s", what, cudaGetErrorString(e));
	(void)cudaGetLastError();
	return e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
}

static int cudnn_fail(cudnnStatus_t s, const char *what)
{
	snprintf(g_err, sizeof(g_err), "cuDNN: %.200s: %.200s", what, cudnnGetErrorString(s));
	return s == CUDNN_STATUS_ALLOC_FAILED ? -ENOMEM : -EIO;
}

#define CU(call)                                                                \
	do {                                                                    \
		cudaError_t e_ = (call);                                        \
		if (e_ != cudaSuccess) {                                        \
			r = cuda_fail(e_, #call);                               \
			goto out;                                               \
		}                                                               \
	} while (0)

#define DNN(call)                                                               \
	do {                                                                    \
		cudnnStatus_t s_ = (call);                                      \
		if (s_ != CUDNN_STATUS_SUCCESS) {                               \
			r = cudnn_fail(s_, #call);                              \
			goto out;                                               \
		}                                                               \
	} while (0)

struct GpuLstm {
	int F, H, L, T, max_batch, batch;
	int trained;                 /* the last forward was a training one */
	cudnnHandle_t dnn;
	cudaStream_t stream;
	cudnnRNNDescriptor_t rnn;
	cudnnDropoutDescriptor_t drop;
	cudnnRNNDataDescriptor_t x_desc, y_desc;
	cudnnTensorDescriptor_t h_desc, c_desc;
	size_t ws_bytes;             /* cuDNN weight space */
	size_t n_ws;                 /* its floats */
	size_t n_tot;                /* n_ws + H + 1 (the head) */
	size_t n_ours;               /* lstm_param_count */
	long *map;                   /* n_tot: our index of each device float, -1 = padding */
	size_t work_bytes, reserve_bytes;
	float *p, *g, *m, *v;        /* n_tot each: params, grads, Adam moments (device layout) */
	float *x, *dx, *y, *dy;      /* batch x T x F / H */
	float *out, *dout, *tgt, *err2;   /* batch x T */
	int32_t *seq;                /* device sequence lengths (all T) */
	int *seq_host;
	void *work, *reserve;
	float *stage;                /* host staging, n_tot floats */
	int64_t t;
	float lr, beta1, beta2, eps;
};

const char *gpu_lstm_last_error(void)
{
	return g_err;
}

/* ---- kernels --------------------------------------------------------------- */

__global__ void k_head_fwd(const float *y, const float *w, int rows, int H, float *out)
{
	int r = blockIdx.x * blockDim.x + threadIdx.x;

	if (r < rows) {
		float s = 0.0f;

		for (int j = 0; j < H; j++)
			s += w[j] * y[(size_t)r * H + j];
		out[r] = s + w[H];
	}
}

__global__ void k_mse(const float *out, const float *tgt, int rows, float inv_n, float *dout,
		      float *err2)
{
	int r = blockIdx.x * blockDim.x + threadIdx.x;

	if (r < rows) {
		float e = out[r] - tgt[r];

		err2[r] = e * e;
		dout[r] = 2.0f * e * inv_n;
	}
}

__global__ void k_head_dy(const float *dout, const float *w, int rows, int H, float *dy)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;

	if (i < (size_t)rows * H)
		dy[i] = dout[i / H] * w[i % H];
}

/* Block j < H: sum_r dout[r] y[r][j]; block H: sum_r dout[r]. Fixed
 * reduction order: the same bits every time. */
__global__ void k_head_dw(const float *dout, const float *y, int rows, int H, float *gw)
{
	__shared__ float part[256];
	int j = blockIdx.x;
	float s = 0.0f;

	for (int r = threadIdx.x; r < rows; r += blockDim.x)
		s += dout[r] * (j < H ? y[(size_t)r * H + j] : 1.0f);
	part[threadIdx.x] = s;
	__syncthreads();
	for (int k = blockDim.x / 2; k > 0; k >>= 1) {
		if ((int)threadIdx.x < k)
			part[threadIdx.x] += part[threadIdx.x + k];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		gw[j] = part[0];
}

/* PyTorch's Adam: p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps). */
__global__ void k_adam(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2,
		       float step, float sqrt_bc2, float eps)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n) {
		float gi = g[i];
		float mi = b1 * m[i] + (1.0f - b1) * gi;
		float vi = b2 * v[i] + (1.0f - b2) * gi * gi;

		m[i] = mi;
		v[i] = vi;
		p[i] -= step * mi / (sqrtf(vi) / sqrt_bc2 + eps);
	}
}

/* ---- setup ----------------------------------------------------------------- */

static int set_batch(GpuLstm *g, int batch)
{
	int dims[3] = { g->L, batch, g->H }, strides[3] = { batch * g->H, g->H, 1 };
	int r = 0;

	DNN(cudnnSetRNNDataDescriptor(g->x_desc, CUDNN_DATA_FLOAT,
				      CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, g->T, batch, g->F,
				      g->seq_host, NULL));
	DNN(cudnnSetRNNDataDescriptor(g->y_desc, CUDNN_DATA_FLOAT,
				      CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, g->T, batch, g->H,
				      g->seq_host, NULL));
	DNN(cudnnSetTensorNdDescriptor(g->h_desc, CUDNN_DATA_FLOAT, 3, dims, strides));
	DNN(cudnnSetTensorNdDescriptor(g->c_desc, CUDNN_DATA_FLOAT, 3, dims, strides));
	g->batch = batch;
out:
	return r;
}

/* Our offset of cuDNN's (layer, linLayerID) matrix or bias (lstm.h layout:
 * W_ih, W_hh, b_ih, b_hh per layer; cuDNN IDs 0-3 are the input-side gates
 * i, f, g, o and 4-7 the recurrent ones, the same order). */
static size_t our_offset(const GpuLstm *g, int layer, int id, int bias)
{
	size_t off = 0, H = (size_t)g->H, G = 4 * H;

	for (int l = 0; l < layer; l++) {
		size_t in = l == 0 ? (size_t)g->F : H;

		off += G * in + G * H + 2 * G;
	}
	{
		size_t in = layer == 0 ? (size_t)g->F : H;
		int k = id % 4, rec = id >= 4;

		if (!bias)
			return off + (rec ? G * in : 0) + (size_t)k * H * (rec ? H : in);
		return off + G * in + G * H + (rec ? G : 0) + (size_t)k * H;
	}
}

static size_t desc_count(cudnnTensorDescriptor_t d)
{
	cudnnDataType_t t;
	int nd = 0, dims[8], strides[8];
	size_t n = 1;

	if (cudnnGetTensorNdDescriptor(d, 8, &t, &nd, dims, strides) != CUDNN_STATUS_SUCCESS)
		return 0;
	for (int i = 0; i < nd; i++)
		n *= (size_t)dims[i];
	return n;
}

/* The index map between cuDNN's weight space and our layout. */
static int build_map(GpuLstm *g)
{
	cudnnTensorDescriptor_t md = NULL, bd = NULL;
	size_t mapped = 0;
	int r = 0;

	DNN(cudnnCreateTensorDescriptor(&md));
	DNN(cudnnCreateTensorDescriptor(&bd));
	for (size_t i = 0; i < g->n_tot; i++)
		g->map[i] = -1;
	for (int l = 0; l < g->L; l++) {
		size_t in = l == 0 ? (size_t)g->F : (size_t)g->H;

		for (int id = 0; id < 8; id++) {
			void *ma = NULL, *ba = NULL;
			size_t mo, bo, mn, bn;

			DNN(cudnnGetRNNWeightParams(g->dnn, g->rnn, l, g->ws_bytes, g->p, id, md, &ma,
						    bd, &ba));
			if (!ma || !ba) {
				snprintf(g_err, sizeof(g_err), "cuDNN: no weights for layer %d id %d", l, id);
				r = -EIO;
				goto out;
			}
			mn = desc_count(md);
			bn = desc_count(bd);
			if (mn != (size_t)g->H * (id < 4 ? in : (size_t)g->H) || bn != (size_t)g->H) {
				snprintf(g_err, sizeof(g_err), "cuDNN: layer %d id %d has %zu weights and "
					 "%zu biases, expected %zu and %d", l, id, mn, bn,
					 (size_t)g->H * (id < 4 ? in : (size_t)g->H), g->H);
				r = -EIO;
				goto out;
			}
			mo = (size_t)((char *)ma - (char *)g->p) / sizeof(float);
			bo = (size_t)((char *)ba - (char *)g->p) / sizeof(float);
			if (mo + mn > g->n_ws || bo + bn > g->n_ws) {
				snprintf(g_err, sizeof(g_err), "cuDNN: weight params outside the weight space");
				r = -EIO;
				goto out;
			}
			/* Row-major H x in, like ours (PyTorch views these same buffers). */
			for (size_t k = 0; k < mn; k++)
				g->map[mo + k] = (long)(our_offset(g, l, id, 0) + k);
			for (size_t k = 0; k < bn; k++)
				g->map[bo + k] = (long)(our_offset(g, l, id, 1) + k);
			mapped += mn + bn;
		}
	}
	for (int k = 0; k <= g->H; k++)
		g->map[g->n_ws + k] = (long)(g->n_ours - (size_t)g->H - 1 + k);
	mapped += (size_t)g->H + 1;
	if (mapped != g->n_ours) {
		snprintf(g_err, sizeof(g_err), "cuDNN: mapped %zu of %zu parameters", mapped, g->n_ours);
		r = -EIO;
	}
out:
	if (md)
		cudnnDestroyTensorDescriptor(md);
	if (bd)
		cudnnDestroyTensorDescriptor(bd);
	return r;
}

extern "C" int gpu_lstm_new(GpuLstm **ret, int input, int hidden, int layers, int seq_len,
			    int max_batch, float lr, float beta1, float beta2, float eps)
{
	GpuLstm *g;
	size_t B, T, n4;
	int r = 0;

	if (input < 1 || hidden < 1 || layers < 1 || seq_len < 1 || max_batch < 1)
		return -EINVAL;
	g = (GpuLstm *)calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->F = input;
	g->H = hidden;
	g->L = layers;
	g->T = seq_len;
	g->max_batch = max_batch;
	g->lr = lr;
	g->beta1 = beta1;
	g->beta2 = beta2;
	g->eps = eps;
	B = (size_t)max_batch;
	T = (size_t)seq_len;
	g->seq_host = (int *)malloc(B * sizeof(int));
	if (!g->seq_host) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < B; i++)
		g->seq_host[i] = seq_len;
	CU(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
	DNN(cudnnCreate(&g->dnn));
	DNN(cudnnSetStream(g->dnn, g->stream));
	DNN(cudnnCreateDropoutDescriptor(&g->drop));
	/* No dropout: cuDNN accepts no state buffer then (PyTorch does the same). */
	DNN(cudnnSetDropoutDescriptor(g->drop, g->dnn, 0.0f, NULL, 0, 0));
	DNN(cudnnCreateRNNDescriptor(&g->rnn));
	/* FP32 without tensor ops: CUDNN_DEFAULT_MATH lets cuDNN use TF32 on
	 * Ampere and later (10-bit mantissa: ~1e-3 errors), so this asks for
	 * CUDNN_FMA_MATH, as PyTorch does for float RNNs with TF32 off.
	 * Padded I/O is what permits the batch-major unpacked layout (every
	 * sequence has the full length, so nothing is padded in fact). */
	DNN(cudnnSetRNNDescriptor_v8(g->rnn, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM,
				     CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT,
				     CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_FMA_MATH, input,
				     hidden, hidden, layers, g->drop, CUDNN_RNN_PADDED_IO_ENABLED));
	DNN(cudnnCreateRNNDataDescriptor(&g->x_desc));
	DNN(cudnnCreateRNNDataDescriptor(&g->y_desc));
	DNN(cudnnCreateTensorDescriptor(&g->h_desc));
	DNN(cudnnCreateTensorDescriptor(&g->c_desc));
	r = set_batch(g, max_batch);
	if (r < 0)
		goto out;
	DNN(cudnnGetRNNWeightSpaceSize(g->dnn, g->rnn, &g->ws_bytes));
	DNN(cudnnGetRNNTempSpaceSizes(g->dnn, g->rnn, CUDNN_FWD_MODE_TRAINING, g->x_desc,
				      &g->work_bytes, &g->reserve_bytes));
	g->n_ws = g->ws_bytes / sizeof(float);
	g->n_tot = g->n_ws + (size_t)hidden + 1;
	{
		size_t G = 4 * (size_t)hidden, n = 0;

		for (int l = 0; l < layers; l++)
			n += G * (size_t)(l == 0 ? input : hidden) + G * hidden + 2 * G;
		g->n_ours = n + (size_t)hidden + 1;
	}
	n4 = g->n_tot * sizeof(float);
	CU(cudaMalloc(&g->p, n4));
	CU(cudaMalloc(&g->g, n4));
	CU(cudaMalloc(&g->m, n4));
	CU(cudaMalloc(&g->v, n4));
	CU(cudaMemset(g->p, 0, n4));
	CU(cudaMemset(g->g, 0, n4));
	CU(cudaMemset(g->m, 0, n4));
	CU(cudaMemset(g->v, 0, n4));
	CU(cudaMalloc(&g->x, B * T * input * sizeof(float)));
	CU(cudaMalloc(&g->dx, B * T * input * sizeof(float)));
	CU(cudaMalloc(&g->y, B * T * hidden * sizeof(float)));
	CU(cudaMalloc(&g->dy, B * T * hidden * sizeof(float)));
	CU(cudaMalloc(&g->out, B * T * sizeof(float)));
	CU(cudaMalloc(&g->dout, B * T * sizeof(float)));
	CU(cudaMalloc(&g->tgt, B * T * sizeof(float)));
	CU(cudaMalloc(&g->err2, B * T * sizeof(float)));
	CU(cudaMalloc(&g->seq, B * sizeof(int32_t)));
	CU(cudaMemcpy(g->seq, g->seq_host, B * sizeof(int32_t), cudaMemcpyHostToDevice));
	if (g->work_bytes)
		CU(cudaMalloc(&g->work, g->work_bytes));
	if (g->reserve_bytes)
		CU(cudaMalloc(&g->reserve, g->reserve_bytes));
	g->map = (long *)malloc(g->n_tot * sizeof(long));
	g->stage = (float *)malloc(n4);
	if (!g->map || !g->stage) {
		r = -ENOMEM;
		goto out;
	}
	r = build_map(g);
out:
	if (r < 0) {
		gpu_lstm_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

extern "C" void gpu_lstm_free(GpuLstm *g)
{
	if (!g)
		return;
	if (g->stream)
		cudaStreamSynchronize(g->stream);
	cudaFree(g->p);
	cudaFree(g->g);
	cudaFree(g->m);
	cudaFree(g->v);
	cudaFree(g->x);
	cudaFree(g->dx);
	cudaFree(g->y);
	cudaFree(g->dy);
	cudaFree(g->out);
	cudaFree(g->dout);
	cudaFree(g->tgt);
	cudaFree(g->err2);
	cudaFree(g->seq);
	cudaFree(g->work);
	cudaFree(g->reserve);
	if (g->x_desc)
		cudnnDestroyRNNDataDescriptor(g->x_desc);
	if (g->y_desc)
		cudnnDestroyRNNDataDescriptor(g->y_desc);
	if (g->h_desc)
		cudnnDestroyTensorDescriptor(g->h_desc);
	if (g->c_desc)
		cudnnDestroyTensorDescriptor(g->c_desc);
	if (g->rnn)
		cudnnDestroyRNNDescriptor(g->rnn);
	if (g->drop)
		cudnnDestroyDropoutDescriptor(g->drop);
	if (g->dnn)
		cudnnDestroy(g->dnn);
	if (g->stream)
		cudaStreamDestroy(g->stream);
	free(g->map);
	free(g->stage);
	free(g->seq_host);
	free(g);
}

/* ---- transfers ------------------------------------------------------------- */

static int upload_one(GpuLstm *g, float *dev, const float *ours)
{
	int r = 0;

	for (size_t i = 0; i < g->n_tot; i++)
		g->stage[i] = g->map[i] >= 0 && ours ? ours[g->map[i]] : 0.0f;
	CU(cudaMemcpy(dev, g->stage, g->n_tot * sizeof(float), cudaMemcpyHostToDevice));
out:
	return r;
}

static int download_one(GpuLstm *g, const float *dev, float *ours)
{
	int r = 0;

	CU(cudaStreamSynchronize(g->stream));
	CU(cudaMemcpy(g->stage, dev, g->n_tot * sizeof(float), cudaMemcpyDeviceToHost));
	for (size_t i = 0; i < g->n_tot; i++)
		if (g->map[i] >= 0)
			ours[g->map[i]] = g->stage[i];
out:
	return r;
}

extern "C" int gpu_lstm_upload(GpuLstm *g, const float *params, const float *adam_m,
			       const float *adam_v, int64_t adam_t)
{
	int r;

	if (!g || !params)
		return -EINVAL;
	r = cudaStreamSynchronize(g->stream) == cudaSuccess ? 0 : cuda_fail(cudaGetLastError(), "sync");
	if (r >= 0)
		r = upload_one(g, g->p, params);
	if (r >= 0)
		r = upload_one(g, g->m, adam_m);
	if (r >= 0)
		r = upload_one(g, g->v, adam_v);
	g->t = adam_t;
	return r;
}

extern "C" int gpu_lstm_download(GpuLstm *g, float *params, float *adam_m, float *adam_v,
				 int64_t *ret_adam_t)
{
	int r = 0;

	if (!g)
		return -EINVAL;
	if (params)
		r = download_one(g, g->p, params);
	if (r >= 0 && adam_m)
		r = download_one(g, g->m, adam_m);
	if (r >= 0 && adam_v)
		r = download_one(g, g->v, adam_v);
	if (r >= 0 && ret_adam_t)
		*ret_adam_t = g->t;
	return r;
}

/* ---- training -------------------------------------------------------------- */

extern "C" int gpu_lstm_forward(GpuLstm *g, const float *x, int batch, int train, float *ret_out)
{
	size_t rows, ws = 0, rs = 0;
	int r = 0;

	if (!g || !x || batch < 1 || batch > g->max_batch)
		return -EINVAL;
	rows = (size_t)batch * g->T;
	r = set_batch(g, batch);
	if (r < 0)
		return r;
	DNN(cudnnGetRNNTempSpaceSizes(g->dnn, g->rnn, train ? CUDNN_FWD_MODE_TRAINING :
				      CUDNN_FWD_MODE_INFERENCE, g->x_desc, &ws, &rs));
	if (ws > g->work_bytes || (train && rs > g->reserve_bytes)) {
		snprintf(g_err, sizeof(g_err), "cuDNN wants %zu/%zu bytes of workspace/reserve for "
			 "batch %d, more than the %zu/%zu allocated for %d", ws, rs, batch,
			 g->work_bytes, g->reserve_bytes, g->max_batch);
		return -EIO;
	}
	CU(cudaMemcpyAsync(g->x, x, rows * g->F * sizeof(float), cudaMemcpyHostToDevice, g->stream));
	DNN(cudnnRNNForward(g->dnn, g->rnn, train ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE,
			    g->seq, g->x_desc, g->x, g->y_desc, g->y, g->h_desc, NULL, NULL,
			    g->c_desc, NULL, NULL, g->ws_bytes, g->p, g->work_bytes, g->work,
			    train ? g->reserve_bytes : 0, train ? g->reserve : NULL));
	k_head_fwd<<<(unsigned)((rows + 255) / 256), 256, 0, g->stream>>>(g->y, g->p + g->n_ws,
									   (int)rows, g->H, g->out);
	CU(cudaGetLastError());
	g->trained = train != 0;
	if (ret_out) {
		CU(cudaMemcpyAsync(ret_out, g->out, rows * sizeof(float), cudaMemcpyDeviceToHost,
				   g->stream));
		CU(cudaStreamSynchronize(g->stream));
	}
out:
	return r;
}

extern "C" int gpu_lstm_mse_backward(GpuLstm *g, const float *target, double *ret_loss,
				     float *ret_grads)
{
	size_t rows;
	unsigned nb;
	int r = 0;

	if (!g || !target || !g->trained)
		return -EINVAL;
	rows = (size_t)g->batch * g->T;
	nb = (unsigned)((rows + 255) / 256);
	CU(cudaMemcpyAsync(g->tgt, target, rows * sizeof(float), cudaMemcpyHostToDevice, g->stream));
	k_mse<<<nb, 256, 0, g->stream>>>(g->out, g->tgt, (int)rows, (float)(1.0 / (double)rows),
					 g->dout, g->err2);
	k_head_dw<<<(unsigned)g->H + 1, 256, 0, g->stream>>>(g->dout, g->y, (int)rows, g->H,
							      g->g + g->n_ws);
	k_head_dy<<<(unsigned)((rows * g->H + 255) / 256), 256, 0, g->stream>>>(
		g->dout, g->p + g->n_ws, (int)rows, g->H, g->dy);
	CU(cudaGetLastError());
	DNN(cudnnRNNBackwardData_v8(g->dnn, g->rnn, g->seq, g->y_desc, g->y, g->dy, g->x_desc, g->dx,
				    g->h_desc, NULL, NULL, NULL, g->c_desc, NULL, NULL, NULL,
				    g->ws_bytes, g->p, g->work_bytes, g->work, g->reserve_bytes,
				    g->reserve));
	/* ADD mode on zeroed gradients = the gradients of this batch. */
	CU(cudaMemsetAsync(g->g, 0, g->ws_bytes, g->stream));
	DNN(cudnnRNNBackwardWeights_v8(g->dnn, g->rnn, CUDNN_WGRAD_MODE_ADD, g->seq, g->x_desc, g->x,
				       g->h_desc, NULL, g->y_desc, g->y, g->ws_bytes, g->g,
				       g->work_bytes, g->work, g->reserve_bytes, g->reserve));
	if (ret_loss) {
		double s = 0;

		CU(cudaMemcpyAsync(g->stage, g->err2, rows * sizeof(float), cudaMemcpyDeviceToHost,
				   g->stream));
		CU(cudaStreamSynchronize(g->stream));
		for (size_t i = 0; i < rows; i++)
			s += g->stage[i];
		*ret_loss = s / (double)rows;
	}
	if (ret_grads) {
		r = download_one(g, g->g, ret_grads);
		if (r < 0)
			goto out;
	}
out:
	return r;
}

extern "C" int gpu_lstm_adam_step(GpuLstm *g)
{
	double bc1, bc2;
	int r = 0;

	if (!g)
		return -EINVAL;
	g->t++;
	bc1 = 1.0 - pow((double)g->beta1, (double)g->t);
	bc2 = 1.0 - pow((double)g->beta2, (double)g->t);
	k_adam<<<(unsigned)((g->n_tot + 255) / 256), 256, 0, g->stream>>>(
		g->p, g->g, g->m, g->v, g->n_tot, g->beta1, g->beta2, (float)(g->lr / bc1),
		(float)sqrt(bc2), g->eps);
	CU(cudaGetLastError());
out:
	return r;
}

extern "C" int gpu_lstm_bytes(const GpuLstm *g, int64_t *ret_reserve, int64_t *ret_workspace,
			      int64_t *ret_activations, int64_t *ret_weights)
{
	size_t B, T;

	if (!g)
		return -EINVAL;
	B = (size_t)g->max_batch;
	T = (size_t)g->T;
	*ret_reserve = (int64_t)g->reserve_bytes;
	*ret_workspace = (int64_t)g->work_bytes;
	*ret_activations = (int64_t)((2 * B * T * g->F + 2 * B * T * g->H + 4 * B * T) * sizeof(float) +
				     B * sizeof(int32_t));
	*ret_weights = (int64_t)(4 * g->n_tot * sizeof(float));
	return 0;
}
