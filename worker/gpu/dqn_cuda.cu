/* The CUDA implementation of gpu.h: cuBLAS SGEMM (FP32, no TF32) for the
 * matrix products, small fused kernels for the rest, the whole training
 * step captured once in a CUDA Graph.
 *
 * Step, for a batch of B ring slots (all buffers on the device):
 *   gather     : s -> X[0:B], s2 -> X[B:2B], a, r, done
 *   forward    : per layer one batched SGEMM over three slices
 *                (online on s, online on s2, target on s2) and one
 *                bias(+ReLU) kernel over all three
 *   loss       : one block: a* = argmax Q_on(s2), y, MSE, dQ, db of the last
 *                layer, the loss sum and Adam's step counter (deterministic)
 *   backward   : per layer dA (SGEMM), ReLU mask and db (one kernel,
 *                column sums in fixed order) on the critical path; the dW
 *                SGEMMs (into grads) on a parallel branch of the graph
 *   clip+adam  : per-block partial sums of squares, then one kernel that
 *                reduces them (fixed order), clips and applies Adam
 * Every reduction has a fixed order, so a run is reproducible bit for bit
 * on the same device and library versions. */
#include <cuda_runtime.h>
#include <cublas_v2.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

#define GPU_SLICES 3          /* online(s), online(s2), target(s2) */
#define NORM_BLOCKS 128
#define NORM_THREADS 256
#define LOSS_THREADS 512
#define PEND_ROWS 256         /* transitions staged on the host per upload */

/* Device scalars, one small struct so a single copy reads them all. */
struct DevScalars {
	double loss_sum;
	long long loss_steps;
	long long adam_t;
	float step_size;      /* lr / (1 - beta1^t) */
	float bc2_sqrt;       /* sqrt(1 - beta2^t) */
	float norm;           /* global gradient norm of the last step */
	float pad;
};

/* What is uploaded before each step, in one copy: indices, gamma, clip. */
struct StepArgs {
	float gamma;
	float clip;
	int32_t idx[1];       /* batch entries (allocated with the struct) */
};

struct GpuAgent {
	int n_layers;
	int sizes[MLP_MAX_LAYERS + 1];
	int max_width;
	size_t n_params;
	size_t off_w[MLP_MAX_LAYERS];
	size_t off_b[MLP_MAX_LAYERS];
	int batch, cap, dim, row;     /* row = floats per ring transition */
	float lr, beta1, beta2, eps;
	int64_t pushed;               /* transitions pushed in total */
	int64_t uploaded;             /* of which uploaded to the ring */
	int64_t steps;                /* steps launched */
	int64_t t0;                   /* Adam's t at creation */

	cudaStream_t stream;
	cublasHandle_t blas;
	/* The dW GEMMs run on a branch of the graph (captured on side/blas2,
	 * with its own workspace) beside the dA chain; TV_GPU_SERIAL=1 keeps
	 * them on the main stream. */
	cudaStream_t side;
	cublasHandle_t blas2;
	void *ws2;
	cudaEvent_t fork[MLP_MAX_LAYERS + 1];
	int n_fork;
	int serial;
	cudaGraphExec_t exec;
	cudaEvent_t ev_pend;          /* h_pend's last upload has run */
	cudaEvent_t ev_args;          /* h_args's last upload has run */
	int n_events;

	void *ws;                     /* cuBLAS workspace */
	size_t ws_bytes;
	float *params;                /* 2 x n_params: online, then target */
	float *grads, *m, *v;
	float *ring;                  /* cap x row */
	float *act[MLP_MAX_LAYERS + 1];/* act[0]: 2B x in; act[l]: 3B x sizes[l] */
	float *dz[MLP_MAX_LAYERS];     /* dL/dZ_l, B x sizes[l+1]: one per layer so
				       * the dW branch may read it while the
				       * main chain goes on */
	float *ga, *gr, *gdone;       /* gathered a (as float), r, done */
	float *partials;              /* NORM_BLOCKS */
	float *qstate, *qout;         /* single-state forward */
	const float **ptrs;           /* 3 x GPU_SLICES pointers per layer */
	struct DevScalars *scal;
	struct StepArgs *args;        /* device copy */
	size_t args_bytes;

	struct StepArgs *h_args;      /* pinned staging */
	float *h_pend;                /* pinned staging of pushes */
	float *h_q;                   /* pinned, max_width floats */
	int64_t bytes_replay, bytes_act, bytes_weights;
};

/* --- error translation: the only place CUDA/cuBLAS codes become errno --- */

/* The last failure, for the caller's log line (gpu_last_error). */
static __thread char last_error[256];

static int note(int r, const char *lib, const char *what, const char *call)
{
	snprintf(last_error, sizeof(last_error), "%s: %s in %s", lib, what, call);
	return r;
}

static int cuda_err_at(cudaError_t e, const char *call)
{
	if (e == cudaSuccess)
		return 0;
	(void)cudaGetLastError(); /* clear a non-sticky error */
	return note(e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO, "CUDA",
		    cudaGetErrorString(e), call);
}

static int blas_err_at(cublasStatus_t s, const char *call)
{
	if (s == CUBLAS_STATUS_SUCCESS)
		return 0;
	return note(s == CUBLAS_STATUS_ALLOC_FAILED ? -ENOMEM : -EIO, "cuBLAS",
		    cublasGetStatusString(s), call);
}

#define cuda_err(e) cuda_err_at((e), #e)
#define CU(call) do { r = cuda_err_at((call), #call); if (r < 0) goto out; } while (0)
#define BL(call) do { r = blas_err_at((call), #call); if (r < 0) goto out; } while (0)

extern "C" const char *gpu_last_error(void)
{
	return last_error;
}

/* --- kernels --- */

/* Copies the batch's transitions out of the ring. Ring row layout:
 * s (dim), s2 (dim), r, done, a (stored as a float, exact for small ints). */
__global__ void k_gather(const float *__restrict__ ring, int row, int dim,
			 const StepArgs *__restrict__ args, int B,
			 float *__restrict__ x, float *__restrict__ ga,
			 float *__restrict__ gr, float *__restrict__ gdone)
{
	int i = blockIdx.x;
	const float *src = ring + (size_t)args->idx[i] * row;

	for (int k = threadIdx.x; k < dim; k += blockDim.x) {
		x[(size_t)i * dim + k] = src[k];
		x[(size_t)(B + i) * dim + k] = src[dim + k];
	}
	if (threadIdx.x == 0) {
		gr[i] = src[2 * dim];
		gdone[i] = src[2 * dim + 1];
		ga[i] = src[2 * dim + 2];
	}
}

/* z += bias (of the slice's network), then ReLU unless last. z is
 * 3B x n row-major; slices 0 and 1 use the online bias, 2 the target's. */
__global__ void k_bias_act(float *__restrict__ z, int B, int n,
			   const float *__restrict__ b_on,
			   const float *__restrict__ b_tg, int relu)
{
	size_t total = (size_t)GPU_SLICES * B * n;
	size_t per = (size_t)B * n;

	for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total;
	     e += (size_t)gridDim.x * blockDim.x) {
		int j = (int)(e % n);
		float bias = e < 2 * per ? b_on[j] : b_tg[j];
		float val = z[e] + bias;

		z[e] = relu && val < 0.0f ? 0.0f : val;
	}
}

/* Block-wide sum in a fixed order (tree over shared memory); blockDim.x is
 * a power of two <= 1024. Every thread gets the result. */
__device__ float block_sum(float x, float *sh)
{
	sh[threadIdx.x] = x;
	__syncthreads();
	for (int s = blockDim.x / 2; s > 0; s >>= 1) {
		if ((int)threadIdx.x < s)
			sh[threadIdx.x] += sh[threadIdx.x + s];
		__syncthreads();
	}
	float r = sh[0];
	__syncthreads();
	return r;
}

/* One block. q = 3B x out (slices as above). Writes dz (B x out) =
 * d loss / d Q_online(s), db of the last layer, accumulates the loss and
 * advances Adam's step and its bias corrections. */
__global__ void k_loss(const float *__restrict__ q, int B, int out,
		       const float *__restrict__ ga, const float *__restrict__ gr,
		       const float *__restrict__ gdone,
		       const StepArgs *__restrict__ args,
		       float *__restrict__ dz, float *__restrict__ db,
		       DevScalars *scal, double beta1, double beta2, double lr)
{
	__shared__ float sh[LOSS_THREADS];
	const float *q_s = q;
	const float *q_on2 = q + (size_t)B * out;
	const float *q_tg2 = q + (size_t)2 * B * out;
	float gamma = args->gamma;
	float sq = 0.0f;

	for (int i = threadIdx.x; i < B; i += blockDim.x) {
		int best = 0;
		for (int j = 1; j < out; j++)
			if (q_on2[(size_t)i * out + j] > q_on2[(size_t)i * out + best])
				best = j;
		float y = gr[i] + gamma * q_tg2[(size_t)i * out + best] * (1.0f - gdone[i]);
		int a = (int)ga[i];
		float diff = q_s[(size_t)i * out + a] - y;

		sq += diff * diff;
		for (int j = 0; j < out; j++)
			dz[(size_t)i * out + j] = j == a ? 2.0f * diff / (float)B : 0.0f;
	}
	float loss = block_sum(sq, sh) / (float)B;
	__syncthreads(); /* dz written by other threads is read below */
	for (int j = 0; j < out; j++) {
		float part = 0.0f;

		for (int i = threadIdx.x; i < B; i += blockDim.x)
			part += dz[(size_t)i * out + j];
		part = block_sum(part, sh);
		if (threadIdx.x == 0)
			db[j] = part;
	}
	if (threadIdx.x == 0) {
		long long t = scal->adam_t + 1;

		scal->loss_sum += (double)loss;
		scal->loss_steps += 1;
		scal->adam_t = t;
		scal->step_size = (float)(lr / (1.0 - pow(beta1, (double)t)));
		scal->bc2_sqrt = (float)sqrt(1.0 - pow(beta2, (double)t));
	}
}

/* dz = da * (act > 0) in place (the ReLU of the layer below) and db = column
 * sums of dz. Block (32, 8): 32 columns, 8 row lanes summed in fixed order. */
__global__ void k_relu_bgrad(float *__restrict__ d, const float *__restrict__ act,
			     int B, int n, float *__restrict__ db)
{
	__shared__ float sh[8][33];
	int col = blockIdx.x * 32 + threadIdx.x;
	float acc = 0.0f;

	if (col < n) {
		for (int i = threadIdx.y; i < B; i += 8) {
			size_t e = (size_t)i * n + col;
			float v = act[e] > 0.0f ? d[e] : 0.0f;

			d[e] = v;
			acc += v;
		}
	}
	sh[threadIdx.y][threadIdx.x] = acc;
	__syncthreads();
	if (threadIdx.y == 0 && col < n) {
		float s = 0.0f;

		for (int y = 0; y < 8; y++)
			s += sh[y][threadIdx.x];
		db[col] = s;
	}
}

__global__ void k_sumsq(const float *__restrict__ g, size_t n,
			float *__restrict__ partials)
{
	__shared__ float sh[NORM_THREADS];
	float acc = 0.0f;

	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		acc += g[i] * g[i];
	acc = block_sum(acc, sh);
	if (threadIdx.x == 0)
		partials[blockIdx.x] = acc;
}

/* Global-norm clip (PyTorch's clip_grad_norm_: coef = clip / (norm + 1e-6),
 * applied when < 1) fused with PyTorch's Adam (bias-corrected, no weight
 * decay). The gradients stay unclipped in memory (for debugging). */
__global__ void k_adam(float *__restrict__ p, const float *__restrict__ g,
		       float *__restrict__ m, float *__restrict__ v, size_t n,
		       const float *__restrict__ partials, int n_partials,
		       DevScalars *scal, const StepArgs *__restrict__ args,
		       float beta1, float beta2, float omb1, float omb2, float eps)
{
	__shared__ float s_coef;

	if (threadIdx.x == 0) {
		double ss = 0.0;

		for (int i = 0; i < n_partials; i++)
			ss += partials[i];
		float norm = (float)sqrt(ss);
		float coef = args->clip / (norm + 1e-6f);

		s_coef = coef < 1.0f ? coef : 1.0f;
		if (blockIdx.x == 0)
			scal->norm = norm;
	}
	__syncthreads();
	float coef = s_coef;
	float step_size = scal->step_size;
	float bc2s = scal->bc2_sqrt;

	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		float gi = g[i] * coef;
		float mi = m[i] * beta1 + gi * omb1;
		float vi = v[i] * beta2 + (gi * gi) * omb2;

		m[i] = mi;
		v[i] = vi;
		p[i] = p[i] - step_size * (mi / (sqrtf(vi) / bc2s + eps));
	}
}

/* Online forward of one state in one block: warp per output, lanes over the
 * inputs (coalesced reads of W's rows), activations in shared memory. */
__global__ void k_forward1(const float *__restrict__ params, int n_layers,
			   const float *__restrict__ x,
			   float *__restrict__ out, int4 s03, int4 s46,
			   int max_width)
{
	extern __shared__ float sh[];
	float *a = sh, *b = sh + max_width;
	int sizes[MLP_MAX_LAYERS + 1] = { s03.x, s03.y, s03.z, s03.w, s46.x, s46.y, s46.z };
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	int nwarps = blockDim.x / 32;
	const float *w = params;

	for (int k = threadIdx.x; k < sizes[0]; k += blockDim.x)
		a[k] = x[k];
	__syncthreads();
	for (int l = 0; l < n_layers; l++) {
		int in = sizes[l], o = sizes[l + 1];
		const float *bias = w + (size_t)o * in;

		for (int j = warp; j < o; j += nwarps) {
			float acc = 0.0f;

#pragma unroll 4
			for (int k = lane; k < in; k += 32)
				acc += w[(size_t)j * in + k] * a[k];
			for (int off = 16; off > 0; off >>= 1)
				acc += __shfl_down_sync(0xffffffffu, acc, off);
			if (lane == 0) {
				acc += bias[j];
				b[j] = l + 1 < n_layers && acc < 0.0f ? 0.0f : acc;
			}
		}
		__syncthreads();
		float *t = a; a = b; b = t;
		w = bias + o;
	}
	for (int k = threadIdx.x; k < sizes[n_layers]; k += blockDim.x)
		out[k] = a[k];
}

/* --- host side --- */

static int grid_for(size_t n, int threads, int cap)
{
	size_t g = (n + threads - 1) / threads;

	return (int)(g < (size_t)cap ? (g ? g : 1) : (size_t)cap);
}

extern "C" int gpu_device_count(void)
{
	int n = 0;

	if (cudaGetDeviceCount(&n) != cudaSuccess) {
		(void)cudaGetLastError();
		return 0;
	}
	return n;
}

extern "C" int gpu_device_name(int dev, char *buf, size_t len)
{
	cudaDeviceProp prop;
	int r;

	if (!buf || len == 0 || dev < 0 || dev >= gpu_device_count())
		return -EINVAL;
	r = cuda_err(cudaGetDeviceProperties(&prop, dev));
	if (r < 0)
		return r;
	strncpy(buf, prop.name, len - 1);
	buf[len - 1] = '\0';
	return 0;
}

static int dev_alloc(void *p, size_t bytes, int64_t *category)
{
	int r = cuda_err(cudaMalloc((void **)p, bytes));

	if (r == 0) {
		*category += (int64_t)bytes;
		r = cuda_err(cudaMemset(*(void **)p, 0, bytes));
	}
	return r;
}

/* Records the whole step into g->exec. Nothing runs during capture. */
static int capture_step(GpuAgent *g)
{
	const int B = g->batch, L = g->n_layers, out = g->sizes[L];
	const float one = 1.0f, zero = 0.0f;
	cudaGraph_t graph = NULL;
	int r = 0, capturing = 0;
	float *tg = g->params + g->n_params;

	CU(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal));
	capturing = 1;
	k_gather<<<B, 32, 0, g->stream>>>(g->ring, g->row, g->dim, g->args, B,
					  g->act[0], g->ga, g->gr, g->gdone);
	for (int l = 0; l < L; l++) {
		int in = g->sizes[l], o = g->sizes[l + 1];
		const float **p = g->ptrs + (size_t)l * 3 * GPU_SLICES;

		/* Z^T (o x B, col-major) = W (o x in: stored row-major, so
		 * op T of the col-major in x o) * A^T (in x B). */
		BL(cublasSgemmBatched(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, o, B, in,
				      &one, p, in, p + GPU_SLICES, in, &zero,
				      (float *const *)(p + 2 * GPU_SLICES), o, GPU_SLICES));
		size_t n = (size_t)GPU_SLICES * B * o;
		k_bias_act<<<grid_for(n, 256, 1024), 256, 0, g->stream>>>(
			g->act[l + 1], B, o, g->params + g->off_b[l],
			tg + g->off_b[l], l + 1 < L);
	}
	k_loss<<<1, LOSS_THREADS, 0, g->stream>>>(
		g->act[L], B, out, g->ga, g->gr, g->gdone, g->args, g->dz[L - 1],
		g->grads + g->off_b[L - 1], g->scal, (double)g->beta1,
		(double)g->beta2, (double)g->lr);
	for (int l = L - 1; l >= 0; l--) {
		int in = g->sizes[l], o = g->sizes[l + 1];
		float *dz = g->dz[l];
		cublasHandle_t hw = g->serial ? g->blas : g->blas2;

		if (!g->serial) {
			/* Fork: the dW GEMM of this layer needs only dz_l. */
			CU(cudaEventRecord(g->fork[l], g->stream));
			CU(cudaStreamWaitEvent(g->side, g->fork[l], 0));
		}
		/* dW^T (in x o, col-major) = A^T (in x B) * dZ (B x o). */
		BL(cublasSgemm(hw, CUBLAS_OP_N, CUBLAS_OP_T, in, o, B, &one,
			       g->act[l], in, dz, o, &zero,
			       g->grads + g->off_w[l], in));
		if (l == 0)
			break;
		/* dA^T (in x B) = W^T (in x o) * dZ^T (o x B). */
		BL(cublasSgemm(g->blas, CUBLAS_OP_N, CUBLAS_OP_N, in, B, o, &one,
			       g->params + g->off_w[l], in, dz, o, &zero,
			       g->dz[l - 1], in));
		dim3 blk(32, 8);
		k_relu_bgrad<<<(in + 31) / 32, blk, 0, g->stream>>>(
			g->dz[l - 1], g->act[l], B, in, g->grads + g->off_b[l - 1]);
	}
	if (!g->serial) {
		/* Join the branch before the gradients are read. */
		CU(cudaEventRecord(g->fork[L], g->side));
		CU(cudaStreamWaitEvent(g->stream, g->fork[L], 0));
	}
	k_sumsq<<<NORM_BLOCKS, NORM_THREADS, 0, g->stream>>>(g->grads, g->n_params,
							      g->partials);
	k_adam<<<grid_for(g->n_params, 256, 512), 256, 0, g->stream>>>(
		g->params, g->grads, g->m, g->v, g->n_params, g->partials,
		NORM_BLOCKS, g->scal, g->args, g->beta1, g->beta2,
		(float)(1.0 - (double)g->beta1), (float)(1.0 - (double)g->beta2), g->eps);
	CU(cudaGetLastError());
	capturing = 0;
	CU(cudaStreamEndCapture(g->stream, &graph));
	CU(cudaGraphInstantiate(&g->exec, graph, 0));
out:
	if (capturing) {
		cudaGraph_t junk = NULL;

		(void)cudaStreamEndCapture(g->stream, &junk);
		if (junk)
			cudaGraphDestroy(junk);
		(void)cudaGetLastError();
	}
	if (graph)
		cudaGraphDestroy(graph);
	return r;
}

extern "C" int gpu_agent_new(GpuAgent **ret, const Mlp *online, const Mlp *target,
			     const Adam *opt, int batch, int buffer_capacity,
			     int state_dim)
{
	GpuAgent *g = NULL;
	int r = 0, L;
	size_t off = 0;
	const float **hp = NULL;

	if (!ret || !online || !target || !opt || batch <= 0 || buffer_capacity < batch)
		return -EINVAL;
	L = online->n_layers;
	if (L < 1 || L > MLP_MAX_LAYERS || target->n_layers != L ||
	    online->n_params != target->n_params || opt->n != online->n_params ||
	    state_dim != online->sizes[0] || !online->params || !target->params ||
	    (opt->t > 0 && (!opt->m || !opt->v)))
		return -EINVAL;
	if (gpu_device_count() == 0)
		return -ENOTSUP;
	g = (GpuAgent *)calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->n_layers = L;
	for (int l = 0; l <= L; l++) {
		if (online->sizes[l] <= 0 || online->sizes[l] != target->sizes[l]) {
			r = -EINVAL;
			goto out;
		}
		g->sizes[l] = online->sizes[l];
		if (g->sizes[l] > g->max_width)
			g->max_width = g->sizes[l];
	}
	for (int l = 0; l < L; l++) {
		g->off_w[l] = off;
		off += (size_t)g->sizes[l + 1] * g->sizes[l];
		g->off_b[l] = off;
		off += (size_t)g->sizes[l + 1];
	}
	if (off != online->n_params || g->sizes[L] > LOSS_THREADS) {
		r = -EINVAL;
		goto out;
	}
	g->n_params = off;
	g->batch = batch;
	g->cap = buffer_capacity;
	g->dim = state_dim;
	g->row = 2 * state_dim + 3;
	g->lr = opt->lr;
	g->beta1 = opt->beta1;
	g->beta2 = opt->beta2;
	g->eps = opt->eps;
	g->t0 = opt->t;

	CU(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
	CU(cudaEventCreateWithFlags(&g->ev_pend, cudaEventDisableTiming));
	g->n_events = 1;
	CU(cudaEventCreateWithFlags(&g->ev_args, cudaEventDisableTiming));
	g->n_events = 2;
	BL(cublasCreate(&g->blas));
	BL(cublasSetStream(g->blas, g->stream));
	BL(cublasSetPointerMode(g->blas, CUBLAS_POINTER_MODE_HOST));
	/* FP32 throughout (no TF32): TF32 has a 10-bit mantissa. Also, with
	 * TF32 the batched forward GEMM failed on an H200 with "misaligned
	 * address" (bench/RESULTS.md): probably because the target network
	 * starts n_params floats after the online one (4-byte aligned only),
	 * while TF32 kernels assume 16-byte aligned matrices in pointer arrays
	 * they cannot inspect. Pad that offset before ever enabling TF32. */
	BL(cublasSetMathMode(g->blas, CUBLAS_DEFAULT_MATH));
	/* A user workspace so that graph capture never allocates (cuBLAS
	 * recommends 32 MiB on Hopper; our GEMMs are small). */
	g->ws_bytes = (size_t)4 << 20;
	CU(cudaMalloc(&g->ws, g->ws_bytes));
	g->bytes_act += (int64_t)g->ws_bytes;
	BL(cublasSetWorkspace(g->blas, g->ws, g->ws_bytes));
	{
		const char *serial = getenv("TV_GPU_SERIAL");

		g->serial = serial && strcmp(serial, "1") == 0;
	}
	if (!g->serial) {
		CU(cudaStreamCreateWithFlags(&g->side, cudaStreamNonBlocking));
		for (int l = 0; l <= L; l++) {
			CU(cudaEventCreateWithFlags(&g->fork[l], cudaEventDisableTiming));
			g->n_fork = l + 1;
		}
		BL(cublasCreate(&g->blas2));
		BL(cublasSetStream(g->blas2, g->side));
		BL(cublasSetPointerMode(g->blas2, CUBLAS_POINTER_MODE_HOST));
		BL(cublasSetMathMode(g->blas2, CUBLAS_DEFAULT_MATH));
		CU(cudaMalloc(&g->ws2, g->ws_bytes));
		g->bytes_act += (int64_t)g->ws_bytes;
		BL(cublasSetWorkspace(g->blas2, g->ws2, g->ws_bytes));
	}

	{
		size_t np = g->n_params * sizeof(float);

		r = dev_alloc(&g->params, 2 * np, &g->bytes_weights);
		if (r == 0) r = dev_alloc(&g->grads, np, &g->bytes_weights);
		if (r == 0) r = dev_alloc(&g->m, np, &g->bytes_weights);
		if (r == 0) r = dev_alloc(&g->v, np, &g->bytes_weights);
		if (r == 0) r = dev_alloc(&g->ring, (size_t)g->cap * g->row * sizeof(float),
					  &g->bytes_replay);
		if (r == 0) r = dev_alloc(&g->act[0], (size_t)2 * batch * state_dim * sizeof(float),
					  &g->bytes_act);
		for (int l = 1; l <= L && r == 0; l++)
			r = dev_alloc(&g->act[l], (size_t)GPU_SLICES * batch * g->sizes[l] *
				      sizeof(float), &g->bytes_act);
		for (int l = 0; l < L && r == 0; l++)
			r = dev_alloc(&g->dz[l], (size_t)batch * g->sizes[l + 1] * sizeof(float),
				      &g->bytes_act);
		if (r == 0) r = dev_alloc(&g->ga, (size_t)batch * sizeof(float), &g->bytes_act);
		if (r == 0) r = dev_alloc(&g->gr, (size_t)batch * sizeof(float), &g->bytes_act);
		if (r == 0) r = dev_alloc(&g->gdone, (size_t)batch * sizeof(float), &g->bytes_act);
		if (r == 0) r = dev_alloc(&g->partials, NORM_BLOCKS * sizeof(float), &g->bytes_act);
		if (r == 0) r = dev_alloc(&g->qstate, (size_t)2 * g->max_width * sizeof(float),
					  &g->bytes_act);
		g->args_bytes = sizeof(StepArgs) + (size_t)batch * sizeof(int32_t);
		if (r == 0) r = dev_alloc(&g->args, g->args_bytes, &g->bytes_act);
		if (r == 0) r = dev_alloc(&g->scal, sizeof(DevScalars), &g->bytes_act);
		if (r == 0) r = dev_alloc(&g->ptrs, (size_t)L * 3 * GPU_SLICES * sizeof(float *),
					  &g->bytes_act);
		if (r < 0)
			goto out;
		g->qout = g->qstate + g->max_width;
	}
	CU(cudaMallocHost(&g->h_args, g->args_bytes));
	CU(cudaMallocHost(&g->h_pend, (size_t)PEND_ROWS * g->row * sizeof(float)));
	CU(cudaMallocHost(&g->h_q, (size_t)(2 * g->max_width + 4) * sizeof(float)));

	/* Pointer arrays of the batched forward GEMMs: per layer A[3] (weights),
	 * B[3] (inputs), C[3] (outputs). */
	hp = (const float **)calloc((size_t)L * 3 * GPU_SLICES, sizeof(*hp));
	if (!hp) {
		r = -ENOMEM;
		goto out;
	}
	for (int l = 0; l < L; l++) {
		const float **p = hp + (size_t)l * 3 * GPU_SLICES;
		size_t in_rows = (size_t)batch * g->sizes[l];
		size_t out_rows = (size_t)batch * g->sizes[l + 1];

		p[0] = g->params + g->off_w[l];
		p[1] = g->params + g->off_w[l];
		p[2] = g->params + g->n_params + g->off_w[l];
		p[3] = g->act[l];
		p[4] = g->act[l] + in_rows;
		/* Layer 0's input has two slices: the target reads s2 too. */
		p[5] = l == 0 ? g->act[0] + in_rows : g->act[l] + 2 * in_rows;
		p[6] = g->act[l + 1];
		p[7] = g->act[l + 1] + out_rows;
		p[8] = g->act[l + 1] + 2 * out_rows;
	}
	CU(cudaMemcpy(g->ptrs, hp, (size_t)L * 3 * GPU_SLICES * sizeof(*hp),
		      cudaMemcpyHostToDevice));
	{
		size_t np = g->n_params * sizeof(float);
		DevScalars s;

		memset(&s, 0, sizeof(s));
		s.adam_t = (long long)opt->t;
		CU(cudaMemcpy(g->params, online->params, np, cudaMemcpyHostToDevice));
		CU(cudaMemcpy(g->params + g->n_params, target->params, np,
			      cudaMemcpyHostToDevice));
		if (opt->m && opt->v) {
			CU(cudaMemcpy(g->m, opt->m, np, cudaMemcpyHostToDevice));
			CU(cudaMemcpy(g->v, opt->v, np, cudaMemcpyHostToDevice));
		}
		CU(cudaMemcpy(g->scal, &s, sizeof(s), cudaMemcpyHostToDevice));
	}
	r = capture_step(g);
	if (r < 0)
		goto out;
	CU(cudaDeviceSynchronize());
	*ret = g;
	g = NULL;
out:
	free(hp);
	gpu_agent_free(g);
	return r;
}

extern "C" void gpu_agent_free(GpuAgent *g)
{
	if (!g)
		return;
	if (g->stream)
		(void)cudaStreamSynchronize(g->stream);
	if (g->exec)
		cudaGraphExecDestroy(g->exec);
	if (g->blas)
		cublasDestroy(g->blas);
	if (g->blas2)
		cublasDestroy(g->blas2);
	cudaFree(g->ws);
	cudaFree(g->ws2);
	for (int l = 0; l < g->n_fork; l++)
		cudaEventDestroy(g->fork[l]);
	if (g->side)
		cudaStreamDestroy(g->side);
	cudaFree(g->params);
	cudaFree(g->grads);
	cudaFree(g->m);
	cudaFree(g->v);
	cudaFree(g->ring);
	for (int l = 0; l <= MLP_MAX_LAYERS; l++)
		cudaFree(g->act[l]);
	for (int l = 0; l < MLP_MAX_LAYERS; l++)
		cudaFree(g->dz[l]);
	cudaFree(g->ga);
	cudaFree(g->gr);
	cudaFree(g->gdone);
	cudaFree(g->partials);
	cudaFree(g->qstate);
	cudaFree(g->args);
	cudaFree(g->scal);
	cudaFree((void *)g->ptrs);
	cudaFreeHost(g->h_args);
	cudaFreeHost(g->h_pend);
	cudaFreeHost(g->h_q);
	if (g->n_events > 0)
		cudaEventDestroy(g->ev_pend);
	if (g->n_events > 1)
		cudaEventDestroy(g->ev_args);
	if (g->stream)
		cudaStreamDestroy(g->stream);
	(void)cudaGetLastError();
	free(g);
}

extern "C" int gpu_agent_size(const GpuAgent *g)
{
	return g->pushed < g->cap ? (int)g->pushed : g->cap;
}

/* Uploads the staged pushes (rows uploaded .. pushed-1, at the start of
 * h_pend) to their ring slots in stream order and marks h_pend busy until
 * the copy has run (ev_pend). */
static int upload_pending(GpuAgent *g)
{
	int64_t n = g->pushed - g->uploaded;
	int64_t first = g->uploaded % g->cap;
	int64_t k = n < g->cap - first ? n : g->cap - first;
	size_t rowb = (size_t)g->row * sizeof(float);
	int r = 0;

	if (n <= 0)
		return 0;
	CU(cudaMemcpyAsync(g->ring + first * g->row, g->h_pend, (size_t)k * rowb,
			   cudaMemcpyHostToDevice, g->stream));
	if (n > k)
		CU(cudaMemcpyAsync(g->ring, g->h_pend + (size_t)k * g->row,
				   (size_t)(n - k) * rowb, cudaMemcpyHostToDevice,
				   g->stream));
	CU(cudaEventRecord(g->ev_pend, g->stream));
	g->uploaded = g->pushed;
out:
	return r;
}

extern "C" int gpu_agent_push(GpuAgent *g, const float *s, int32_t a, float r,
			      const float *s2, float done)
{
	int64_t limit, pend;
	float *row;
	int e;

	if (!g || !s || !s2)
		return -EINVAL;
	limit = g->cap < PEND_ROWS ? g->cap : PEND_ROWS;
	if (g->pushed - g->uploaded == limit) {
		e = upload_pending(g);
		if (e < 0)
			return e;
	}
	pend = g->pushed - g->uploaded;
	if (pend == 0) {
		/* h_pend may still be the source of an upload in flight. */
		e = cuda_err(cudaEventSynchronize(g->ev_pend));
		if (e < 0)
			return e;
	}
	row = g->h_pend + (size_t)pend * g->row;
	memcpy(row, s, (size_t)g->dim * sizeof(float));
	memcpy(row + g->dim, s2, (size_t)g->dim * sizeof(float));
	row[2 * g->dim] = r;
	row[2 * g->dim + 1] = done;
	row[2 * g->dim + 2] = (float)a;
	g->pushed++;
	return 0;
}

extern "C" int gpu_agent_train_step(GpuAgent *g, const int32_t *indices,
				    float gamma, float grad_clip)
{
	int size, r = 0;

	if (!g || !indices)
		return -EINVAL;
	size = gpu_agent_size(g);
	for (int i = 0; i < g->batch; i++)
		if (indices[i] < 0 || indices[i] >= size)
			return -EINVAL;
	r = upload_pending(g);
	if (r < 0)
		return r;
	/* h_args may still be the source of the previous step's upload. */
	CU(cudaEventSynchronize(g->ev_args));
	g->h_args->gamma = gamma;
	g->h_args->clip = grad_clip;
	memcpy(g->h_args->idx, indices, (size_t)g->batch * sizeof(int32_t));
	CU(cudaMemcpyAsync(g->args, g->h_args, g->args_bytes, cudaMemcpyHostToDevice,
			   g->stream));
	CU(cudaEventRecord(g->ev_args, g->stream));
	CU(cudaGraphLaunch(g->exec, g->stream));
	g->steps++;
out:
	return r;
}

extern "C" int gpu_agent_loss_sum(GpuAgent *g, double *ret_sum, int64_t *ret_steps,
				  int reset)
{
	int r = 0;

	if (!g)
		return -EINVAL;
	CU(cudaMemcpyAsync(g->h_q, g->scal, 2 * sizeof(double), cudaMemcpyDeviceToHost,
			   g->stream));
	if (reset)
		CU(cudaMemsetAsync(g->scal, 0, 2 * sizeof(double), g->stream));
	CU(cudaStreamSynchronize(g->stream));
	{
		DevScalars s;

		memcpy(&s, g->h_q, 2 * sizeof(double));
		if (ret_sum)
			*ret_sum = s.loss_sum;
		if (ret_steps)
			*ret_steps = (int64_t)s.loss_steps;
	}
out:
	return r;
}

static int forward1(GpuAgent *g, const float *state, float *ret_q)
{
	int r = 0, L = g->n_layers;
	int4 s03, s46;
	int sz[MLP_MAX_LAYERS + 1] = { 0 };

	for (int l = 0; l <= L; l++)
		sz[l] = g->sizes[l];
	s03 = make_int4(sz[0], sz[1], sz[2], sz[3]);
	s46 = make_int4(sz[4], sz[5], sz[6], 0);
	memcpy(g->h_q, state, (size_t)g->dim * sizeof(float));
	CU(cudaMemcpyAsync(g->qstate, g->h_q, (size_t)g->dim * sizeof(float),
			   cudaMemcpyHostToDevice, g->stream));
	k_forward1<<<1, 1024, (size_t)2 * g->max_width * sizeof(float), g->stream>>>(
		g->params, L, g->qstate, g->qout, s03, s46, g->max_width);
	CU(cudaGetLastError());
	CU(cudaMemcpyAsync(g->h_q, g->qout, (size_t)g->sizes[L] * sizeof(float),
			   cudaMemcpyDeviceToHost, g->stream));
	CU(cudaStreamSynchronize(g->stream));
	memcpy(ret_q, g->h_q, (size_t)g->sizes[L] * sizeof(float));
out:
	return r;
}

extern "C" int gpu_agent_q(GpuAgent *g, const float *state, float *ret_q)
{
	if (!g || !state || !ret_q)
		return -EINVAL;
	return forward1(g, state, ret_q);
}

extern "C" int gpu_agent_copy_target(GpuAgent *g)
{
	if (!g)
		return -EINVAL;
	return cuda_err(cudaMemcpyAsync(g->params + g->n_params, g->params,
					g->n_params * sizeof(float),
					cudaMemcpyDeviceToDevice, g->stream));
}

extern "C" int gpu_agent_download(GpuAgent *g, Mlp *online, Mlp *target, Adam *opt)
{
	size_t np;
	int r = 0;

	if (!g)
		return -EINVAL;
	np = g->n_params * sizeof(float);
	if ((online && online->n_params != g->n_params) ||
	    (target && target->n_params != g->n_params) ||
	    (opt && opt->n != g->n_params))
		return -EINVAL;
	CU(cudaStreamSynchronize(g->stream));
	if (online) {
		CU(cudaMemcpy(online->params, g->params, np, cudaMemcpyDeviceToHost));
		if (online->grads)
			CU(cudaMemcpy(online->grads, g->grads, np, cudaMemcpyDeviceToHost));
	}
	if (target)
		CU(cudaMemcpy(target->params, g->params + g->n_params, np,
			      cudaMemcpyDeviceToHost));
	if (opt) {
		DevScalars s;

		if (!opt->m || !opt->v) {
			r = -EINVAL;
			goto out;
		}
		CU(cudaMemcpy(&s, g->scal, sizeof(s), cudaMemcpyDeviceToHost));
		CU(cudaMemcpy(opt->m, g->m, np, cudaMemcpyDeviceToHost));
		CU(cudaMemcpy(opt->v, g->v, np, cudaMemcpyDeviceToHost));
		opt->t = (int64_t)s.adam_t;
	}
out:
	return r;
}

extern "C" int gpu_agent_bytes(const GpuAgent *g, int64_t *ret_replay,
			       int64_t *ret_activations, int64_t *ret_weights)
{
	if (!g)
		return -EINVAL;
	if (ret_replay)
		*ret_replay = g->bytes_replay;
	if (ret_activations)
		*ret_activations = g->bytes_act;
	if (ret_weights)
		*ret_weights = g->bytes_weights;
	return 0;
}

extern "C" int gpu_agent_debug_last(GpuAgent *g, float *ret_grads, float *ret_norm,
				    float *ret_q_batch)
{
	int r = 0;

	if (!g)
		return -EINVAL;
	CU(cudaStreamSynchronize(g->stream));
	if (ret_grads)
		CU(cudaMemcpy(ret_grads, g->grads, g->n_params * sizeof(float),
			      cudaMemcpyDeviceToHost));
	if (ret_norm) {
		DevScalars s;

		CU(cudaMemcpy(&s, g->scal, sizeof(s), cudaMemcpyDeviceToHost));
		*ret_norm = s.norm;
	}
	if (ret_q_batch)
		CU(cudaMemcpy(ret_q_batch, g->act[g->n_layers],
			      (size_t)g->batch * g->sizes[g->n_layers] * sizeof(float),
			      cudaMemcpyDeviceToHost));
out:
	return r;
}
