/* The LSTM forecaster of model = lstm (docs/training-job.md, "The LSTM kind"),
 * on the CPU with OpenBLAS sgemm: a stack of LSTM layers with a linear
 * head H -> 1 on every time step, trained with MSE at every step. This is
 * the reference the cuDNN path (gpu/gpu_lstm.h) is tested against.
 *
 * Parameters, one float array (PyTorch's nn.LSTM + nn.Linear(H, 1), gate
 * order i, f, g, o), for layer l with in_l = input (l = 0) or hidden:
 *   W_ih[l]  4H x in_l  row-major (rows: the i, f, g, o blocks of H rows)
 *   W_hh[l]  4H x H     row-major
 *   b_ih[l]  4H
 *   b_hh[l]  4H
 * then the head: w_out (H), b_out (1). Grads and Adam's moments share the
 * layout. The cell:
 *   [i f g o] = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = sigmoid
 *   for i, f, o and tanh for g; c_t = f c_{t-1} + i g; h_t = o tanh(c_t);
 *   h_0 = c_0 = 0; y_t = w_out . h_t(last layer) + b_out.
 *
 * Sequences are batch-major: x is batch x seq_len x input, outputs and
 * targets batch x seq_len (row b holds one window's steps in time order).
 *
 * Determinism: single-threaded OpenBLAS gives the same bits for the same
 * inputs; nothing reads clocks or global state. Nothing here prints. */
#ifndef TV_LSTM_H
#define TV_LSTM_H

#include <stddef.h>

#include "common/rng.h"

typedef struct Lstm {
	int input;        /* features per time step */
	int hidden;       /* H */
	int layers;
	size_t n_params;
	float *params;
	float *grads;
} Lstm;

/* Scratch of one forward/backward for up to max_batch sequences of exactly
 * seq_len steps (time-major inside). Its bytes scale with max_batch x
 * seq_len: they are the "activations" of the memory report. */
typedef struct LstmWork {
	int max_batch;
	int seq_len;
	int batch;        /* rows of the last forward */
	int layers;
	size_t bytes;
	float *x;         /* seq_len x batch x input: the input, time-major */
	float **gates;    /* per layer: seq_len x batch x 4H, after the activations */
	float **c;        /* per layer: (seq_len + 1) x batch x H, slot 0 = c_0 = 0 */
	float **h;        /* per layer: (seq_len + 1) x batch x H, slot 0 = h_0 = 0 */
	float **tc;       /* per layer: seq_len x batch x H, tanh(c_t) */
	float *out;       /* batch x seq_len: the head's outputs, batch-major */
	float *dy;        /* seq_len x batch: d loss / d out, time-major */
	float *dgates;    /* seq_len x batch x 4H */
	float *dh_seq;    /* seq_len x batch x H: d loss / d h_t of the current layer */
	float *dh;        /* batch x H */
	float *dc;        /* batch x H */
} LstmWork;

/* Number of floats of a model of this shape. */
size_t lstm_param_count(int input, int hidden, int layers);

/* Offsets (in floats) of layer l's W_ih, W_hh, b_ih, b_hh, and of the head
 * (layer == layers: w_out, then b_out). */
size_t lstm_offset(int input, int hidden, int layers, int layer);

/* Allocates params and grads and initialises every parameter (head too)
 * like PyTorch: U(-1/sqrt(H), 1/sqrt(H)), drawn from rng in layout order.
 * Returns 0, -EINVAL for a bad shape or -ENOMEM. */
int lstm_init(Lstm *m, int input, int hidden, int layers, Rng *rng);
void lstm_free(Lstm *m);             /* accepts a zeroed Lstm */

int lstm_work_init(LstmWork *w, const Lstm *m, int max_batch, int seq_len);
void lstm_work_free(LstmWork *w);    /* accepts a zeroed LstmWork */

/* Forward of batch (<= max_batch) sequences; returns w->out (batch x
 * seq_len). params may be any array of the model's layout (m->params
 * when NULL), so a stored chunk model runs without a copy. */
const float *lstm_forward(const Lstm *m, const float *params, LstmWork *w,
			  const float *x, int batch);

/* Backward through the last forward on w from dout (batch x seq_len,
 * d loss / d out); writes (does not accumulate) m->grads. */
void lstm_backward(Lstm *m, LstmWork *w, const float *dout);

/* MSE over every step of the last forward: mean over batch x seq_len of
 * (out - target)^2. With grads != 0 it also runs the backward (m->grads
 * written). Returns the loss (computed in double). */
double lstm_mse(Lstm *m, LstmWork *w, const float *target, int grads);

#endif
