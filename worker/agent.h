/* One chunk's Double-DQN agent: online and target networks, Adam, the
 * replay buffer and the batch scratch. Who owns what: the Agent owns every
 * buffer it points to; agent_free releases all of them.
 *
 * Memory by category (reported in heartbeats, see docs/protocol.md):
 *   replay      - buffer_size x (2 x 11 + 3) x 4 bytes, allocated up front
 *   activations - MlpWork of both networks + the batch gathered from the
 *                 replay buffer: linear in batch_size
 *   weights     - parameters, gradients, Adam moments of both networks */
#ifndef TV_AGENT_H
#define TV_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/rng.h"
#include "env.h"
#include "gpu/gpu.h"
#include "dqn.h"

typedef struct Replay {
	int32_t cap;
	int32_t n;        /* transitions held */
	int32_t head;     /* next slot written */
	float *s;         /* cap x ENV_STATE_DIM */
	float *s2;
	float *r;
	float *done;
	int32_t *a;
	uint8_t *mark;    /* cap bits: scratch for sampling without replacement */
	size_t bytes;
} Replay;

typedef struct Agent {
	Mlp online;
	Mlp target;
	Adam opt;
	MlpWork w_online;
	MlpWork w_target;
	Replay replay;
	int batch;
	float *bs, *bs2, *br, *bdone;  /* gathered batch */
	int32_t *ba;
	int32_t *idx;
	size_t batch_bytes;
	int64_t grad_steps;
	double epsilon;
	/* With the CUDA backend: the device copy of networks, optimiser and
	 * replay ring. The host Replay stays the source of truth for
	 * checkpoints; the host networks are refreshed by agent_sync_host.
	 * Device ring slot = (host slot - gpu_offset) mod cap. */
	GpuAgent *gpu;
	int32_t gpu_offset;
	int32_t *gpu_idx;
} Agent;

/* Builds a fresh agent for cfg (layer sizes 11-hidden...-3, Adam lr), with
 * weights drawn from rng. Returns 0 or -ENOMEM/-EINVAL. */
int agent_init(Agent *ag, const Config *cfg, Rng *rng);
/* Releases everything; accepts a zeroed Agent. */
void agent_free(Agent *ag);
/* Reallocates the batch-sized scratch for a new batch size (after a
 * halving, when resuming from a checkpoint). */
int agent_set_batch(Agent *ag, int batch);

/* Moves the agent's training to the GPU: uploads networks, optimiser and
 * the replay buffer's contents. Returns 0, -ENOMEM (device memory) or -EIO. */
int agent_attach_gpu(Agent *ag);
/* Brings the device's networks and optimiser back into the host structs
 * and adds the losses summed on the device since the last call to
 * *loss_sum. A no-op (0) on the CPU. */
int agent_sync_host(Agent *ag, double *loss_sum);
/* Stores a transition (host buffer, and the device ring when attached). */
int agent_remember(Agent *ag, const float *s, int32_t a, float r, const float *s2, float done);

void replay_push(Replay *rb, const float *s, int32_t a, float r, const float *s2, float done);
/* Draws n distinct indices in [0, rb->n) (Floyd's algorithm: O(n), order
 * deterministic for a given rng state). n <= rb->n. */
void replay_sample(Replay *rb, Rng *rng, int n, int32_t *ret_idx);

/* Greedy or epsilon-greedy action for observation s. */
int agent_act(Agent *ag, Rng *rng, const float *s, int explore);
/* Argmax of q (first maximum on ties). */
int agent_argmax(const float *q, int n);

/* One gradient step on a batch sampled from the replay buffer, then the
 * target copy every target_update_every steps. Writes the loss into
 * *ret_loss on the CPU; on the GPU the loss stays on the device until
 * agent_sync_host and *ret_loss is 0. Returns 0 or negative errno. */
int agent_learn(Agent *ag, Rng *rng, const Config *cfg, float *ret_loss);

/* The agent's state as one map (codec.h): both networks, Adam, the step
 * count, epsilon and the replay buffer's n transitions (docs/model-format.md).
 * Unpack wants an agent fresh from agent_init for the same configuration
 * (its weights are overwritten) and refuses a missing, mistyped, wrongly
 * sized or non-finite field, naming it. The GPU copy is not part of it:
 * agent_sync_host before packing, agent_attach_gpu after unpacking. */
void agent_pack(Enc *e, const Agent *ag);
int agent_unpack(const Dec *map, Agent *ag);

size_t agent_bytes_weights(const Agent *ag);
size_t agent_bytes_activations(const Agent *ag);
/* Device bytes (0 on the CPU). */
int64_t agent_bytes_device(const Agent *ag);

#endif
