#include "agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int layer_sizes(const Config *cfg, int *sizes)
{
	int n = 0;

	sizes[n++] = ENV_STATE_DIM;
	for (int i = 0; i < cfg->n_hidden; i++)
		sizes[n++] = cfg->hidden[i];
	sizes[n++] = ENV_ACTIONS;
	return n - 1;
}

/* Writes one byte per page. Not memset: compilers turn malloc + memset(0)
 * into calloc, whose fresh pages stay untouched. */
static void touch_pages(void *p, size_t len)
{
	volatile unsigned char *b = p;

	for (size_t i = 0; i < len; i += 4096)
		b[i] = 0;
}

static int replay_init(Replay *rb, int cap)
{
	size_t c = (size_t)cap;

	memset(rb, 0, sizeof(*rb));
	rb->cap = cap;
	rb->s = malloc(c * ENV_STATE_DIM * sizeof(float));
	rb->s2 = malloc(c * ENV_STATE_DIM * sizeof(float));
	rb->r = malloc(c * sizeof(float));
	rb->done = malloc(c * sizeof(float));
	rb->a = malloc(c * sizeof(int32_t));
	rb->mark = calloc((c + 7) / 8, 1);
	if (!rb->s || !rb->s2 || !rb->r || !rb->done || !rb->a || !rb->mark)
		return -ENOMEM;
	rb->bytes = c * (2 * ENV_STATE_DIM + 3) * sizeof(float) + (c + 7) / 8;
	/* Touch every page now: the buffer's full cost shows in RSS from the
	 * first heartbeat, so a budget that cannot hold it fails in seconds,
	 * not hours later when the buffer fills. */
	touch_pages(rb->s, c * ENV_STATE_DIM * sizeof(float));
	touch_pages(rb->s2, c * ENV_STATE_DIM * sizeof(float));
	touch_pages(rb->r, c * sizeof(float));
	touch_pages(rb->done, c * sizeof(float));
	touch_pages(rb->a, c * sizeof(int32_t));
	return 0;
}

static void replay_free(Replay *rb)
{
	free(rb->s);
	free(rb->s2);
	free(rb->r);
	free(rb->done);
	free(rb->a);
	free(rb->mark);
	memset(rb, 0, sizeof(*rb));
}

void replay_push(Replay *rb, const float *s, int32_t a, float r, const float *s2, float done)
{
	size_t i = (size_t)rb->head;

	memcpy(rb->s + i * ENV_STATE_DIM, s, ENV_STATE_DIM * sizeof(float));
	memcpy(rb->s2 + i * ENV_STATE_DIM, s2, ENV_STATE_DIM * sizeof(float));
	rb->a[i] = a;
	rb->r[i] = r;
	rb->done[i] = done;
	rb->head = (rb->head + 1) % rb->cap;
	if (rb->n < rb->cap)
		rb->n++;
}

void replay_sample(Replay *rb, Rng *rng, int n, int32_t *ret_idx)
{
	uint32_t total = (uint32_t)rb->n;

	/* Floyd: for j in [total - n, total): pick t in [0, j]; take t unless
	 * already taken, else take j. Gives n distinct uniform indices. */
	for (int k = 0; k < n; k++) {
		uint32_t j = total - (uint32_t)n + (uint32_t)k;
		uint32_t t = (uint32_t)rng_below(rng, (uint64_t)j + 1);

		if (rb->mark[t >> 3] & (1u << (t & 7)))
			t = j;
		rb->mark[t >> 3] |= (uint8_t)(1u << (t & 7));
		ret_idx[k] = (int32_t)t;
	}
	for (int k = 0; k < n; k++)
		rb->mark[ret_idx[k] >> 3] = 0;
}

int agent_set_batch(Agent *ag, int batch)
{
	size_t b = (size_t)batch;
	int r;

	mlp_work_free(&ag->w_online);
	mlp_work_free(&ag->w_target);
	free(ag->bs);
	free(ag->bs2);
	free(ag->br);
	free(ag->bdone);
	free(ag->ba);
	free(ag->idx);
	ag->bs = ag->bs2 = ag->br = ag->bdone = NULL;
	ag->ba = ag->idx = NULL;
	ag->batch = batch;
	r = mlp_work_init(&ag->w_online, &ag->online, batch);
	if (r < 0)
		return r;
	r = mlp_work_init(&ag->w_target, &ag->target, batch);
	if (r < 0)
		return r;
	ag->bs = malloc(b * ENV_STATE_DIM * sizeof(float));
	ag->bs2 = malloc(b * ENV_STATE_DIM * sizeof(float));
	ag->br = malloc(b * sizeof(float));
	ag->bdone = malloc(b * sizeof(float));
	ag->ba = malloc(b * sizeof(int32_t));
	ag->idx = malloc(b * sizeof(int32_t));
	if (!ag->bs || !ag->bs2 || !ag->br || !ag->bdone || !ag->ba || !ag->idx)
		return -ENOMEM;
	ag->batch_bytes = b * (2 * ENV_STATE_DIM + 4) * sizeof(float);
	return 0;
}

int agent_init(Agent *ag, const Config *cfg, Rng *rng)
{
	int sizes[MLP_MAX_LAYERS + 1];
	int n_layers = layer_sizes(cfg, sizes);
	int r;

	memset(ag, 0, sizeof(*ag));
	r = mlp_init(&ag->online, sizes, n_layers, rng);
	if (r < 0)
		return r;
	r = mlp_init(&ag->target, sizes, n_layers, rng);
	if (r < 0)
		return r;
	mlp_copy_params(&ag->target, &ag->online);
	r = adam_init(&ag->opt, ag->online.n_params, (float)cfg->learning_rate,
		      0.9f, 0.999f, 1e-8f);
	if (r < 0)
		return r;
	r = replay_init(&ag->replay, cfg->buffer_size);
	if (r < 0)
		return r;
	ag->epsilon = cfg->epsilon_start;
	return agent_set_batch(ag, cfg->batch_size);
}

void agent_free(Agent *ag)
{
	gpu_agent_free(ag->gpu);
	free(ag->gpu_idx);
	mlp_free(&ag->online);
	mlp_free(&ag->target);
	adam_free(&ag->opt);
	mlp_work_free(&ag->w_online);
	mlp_work_free(&ag->w_target);
	replay_free(&ag->replay);
	free(ag->bs);
	free(ag->bs2);
	free(ag->br);
	free(ag->bdone);
	free(ag->ba);
	free(ag->idx);
	memset(ag, 0, sizeof(*ag));
}

int agent_argmax(const float *q, int n)
{
	int best = 0;

	for (int i = 1; i < n; i++)
		if (q[i] > q[best])
			best = i;
	return best;
}

int agent_act(Agent *ag, Rng *rng, const float *s, int explore)
{
	float q[ENV_ACTIONS];

	if (explore && rng_uniform(rng) < ag->epsilon)
		return (int)rng_below(rng, ENV_ACTIONS);
	if (ag->gpu) {
		/* A device failure here shows again at the next step, which
		 * reports it; act greedily on HOLD meanwhile. */
		if (gpu_agent_q(ag->gpu, s, q) < 0)
			return ENV_HOLD;
		return agent_argmax(q, ENV_ACTIONS);
	}
	return agent_argmax(mlp_forward(&ag->online, &ag->w_online, s, 1), ENV_ACTIONS);
}

int agent_attach_gpu(Agent *ag)
{
	Replay *rb = &ag->replay;
	int r;

	r = gpu_agent_new(&ag->gpu, &ag->online, &ag->target, &ag->opt, ag->batch, rb->cap,
			  ENV_STATE_DIM);
	if (r < 0)
		return r;
	ag->gpu_idx = malloc((size_t)ag->batch * sizeof(int32_t));
	if (!ag->gpu_idx)
		return -ENOMEM;
	/* Replay the host ring into the device ring oldest-first, so the
	 * device's next write slot lines up with the host's head. */
	ag->gpu_offset = rb->n == rb->cap ? rb->head : 0;
	for (int32_t k = 0; k < rb->n; k++) {
		size_t i = (size_t)((ag->gpu_offset + k) % rb->cap);

		r = gpu_agent_push(ag->gpu, rb->s + i * ENV_STATE_DIM, rb->a[i], rb->r[i],
				   rb->s2 + i * ENV_STATE_DIM, rb->done[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int agent_sync_host(Agent *ag, double *loss_sum)
{
	double sum = 0;
	int64_t steps = 0;
	int r;

	if (!ag->gpu)
		return 0;
	r = gpu_agent_download(ag->gpu, &ag->online, &ag->target, &ag->opt);
	if (r < 0)
		return r;
	r = gpu_agent_loss_sum(ag->gpu, &sum, &steps, 1);
	if (r < 0)
		return r;
	*loss_sum += sum;
	return 0;
}

int agent_remember(Agent *ag, const float *s, int32_t a, float r, const float *s2, float done)
{
	replay_push(&ag->replay, s, a, r, s2, done);
	if (ag->gpu)
		return gpu_agent_push(ag->gpu, s, a, r, s2, done);
	return 0;
}

int64_t agent_bytes_device(const Agent *ag)
{
	int64_t a = 0, b = 0, c = 0;

	if (!ag->gpu || gpu_agent_bytes(ag->gpu, &a, &b, &c) < 0)
		return 0;
	return a + b + c;
}

int agent_learn(Agent *ag, Rng *rng, const Config *cfg, float *ret_loss)
{
	Replay *rb = &ag->replay;
	DqnBatch b;
	int r;

	replay_sample(rb, rng, ag->batch, ag->idx);
	if (ag->gpu) {
		for (int k = 0; k < ag->batch; k++)
			ag->gpu_idx[k] = (ag->idx[k] - ag->gpu_offset + rb->cap) % rb->cap;
		r = gpu_agent_train_step(ag->gpu, ag->gpu_idx, (float)cfg->gamma,
					 (float)cfg->grad_clip);
		if (r < 0)
			return r;
		ag->opt.t++;
		ag->grad_steps++;
		if (ag->grad_steps % cfg->target_update_every == 0) {
			r = gpu_agent_copy_target(ag->gpu);
			if (r < 0)
				return r;
		}
		*ret_loss = 0;
		return 0;
	}
	for (int k = 0; k < ag->batch; k++) {
		size_t i = (size_t)ag->idx[k];

		memcpy(ag->bs + (size_t)k * ENV_STATE_DIM, rb->s + i * ENV_STATE_DIM,
		       ENV_STATE_DIM * sizeof(float));
		memcpy(ag->bs2 + (size_t)k * ENV_STATE_DIM, rb->s2 + i * ENV_STATE_DIM,
		       ENV_STATE_DIM * sizeof(float));
		ag->ba[k] = rb->a[i];
		ag->br[k] = rb->r[i];
		ag->bdone[k] = rb->done[i];
	}
	b.n = ag->batch;
	b.s = ag->bs;
	b.a = ag->ba;
	b.r = ag->br;
	b.s2 = ag->bs2;
	b.done = ag->bdone;
	*ret_loss = dqn_train_step(&ag->online, &ag->target, &ag->opt, &ag->w_online,
				   &ag->w_target, &b, (float)cfg->gamma, (float)cfg->grad_clip);
	ag->grad_steps++;
	if (ag->grad_steps % cfg->target_update_every == 0)
		mlp_copy_params(&ag->target, &ag->online);
	return 0;
}

size_t agent_bytes_weights(const Agent *ag)
{
	return mlp_bytes(&ag->online) + mlp_bytes(&ag->target) +
	       2 * ag->opt.n * sizeof(float);
}

size_t agent_bytes_activations(const Agent *ag)
{
	return ag->w_online.bytes + ag->w_target.bytes + ag->batch_bytes;
}

/* Entries of agent_pack's map besides the networks and Adam. */
#define AGENT_PACK_ENTRIES (2 + ADAM_PACK_ENTRIES + 2 + 7)

void agent_pack(Enc *e, const Agent *ag)
{
	const Replay *rb = &ag->replay;
	size_t n = (size_t)rb->n;

	enc_map(e, AGENT_PACK_ENTRIES);
	enc_key(e, "online"); mlp_pack(e, &ag->online);
	enc_key(e, "target"); mlp_pack(e, &ag->target);
	adam_pack(e, &ag->opt);
	enc_key(e, "grad_steps"); enc_int(e, ag->grad_steps);
	enc_key(e, "epsilon"); enc_double(e, ag->epsilon);
	enc_key(e, "replay_n"); enc_int(e, rb->n);
	enc_key(e, "replay_head"); enc_int(e, rb->head);
	enc_key(e, "replay_s"); enc_floats(e, rb->s, n * ENV_STATE_DIM);
	enc_key(e, "replay_s2"); enc_floats(e, rb->s2, n * ENV_STATE_DIM);
	enc_key(e, "replay_a"); enc_bin(e, rb->a, n * sizeof(int32_t));
	enc_key(e, "replay_r"); enc_floats(e, rb->r, n);
	enc_key(e, "replay_done"); enc_floats(e, rb->done, n);
}

int agent_unpack(const Dec *map, Agent *ag)
{
	Replay *rb = &ag->replay;
	Dec v;
	int64_t rn, rh;
	size_t n;

	if (dec_as_map(map) < 0)
		return -EINVAL;
	rn = dec_int(map, "replay_n");
	rh = dec_int(map, "replay_head");
	if (dec_failed(map))
		return -EINVAL;
	if (rn < 0 || rn > rb->cap)
		return dec_invalid(map, "replay_n", "exceeds the replay buffer (rewts.buffer_size)");
	if (rh < 0 || rh >= rb->cap)
		return dec_invalid(map, "replay_head", "is outside the replay buffer");
	n = (size_t)rn;
	v = dec_key(map, "online");
	mlp_unpack(&v, &ag->online);
	v = dec_key(map, "target");
	mlp_unpack(&v, &ag->target);
	adam_unpack(map, &ag->opt);
	ag->grad_steps = dec_int(map, "grad_steps");
	ag->epsilon = dec_double(map, "epsilon");
	dec_floats(map, "replay_s", rb->s, n * ENV_STATE_DIM);
	dec_floats(map, "replay_s2", rb->s2, n * ENV_STATE_DIM);
	dec_bin(map, "replay_a", rb->a, n * sizeof(int32_t));
	dec_floats(map, "replay_r", rb->r, n);
	dec_floats(map, "replay_done", rb->done, n);
	if (dec_failed(map))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (rb->a[i] < 0 || rb->a[i] >= ENV_ACTIONS)
			return dec_invalid(map, "replay_a", "holds an action out of range");
	if (ag->grad_steps < 0)
		return dec_invalid(map, "grad_steps", "is negative");
	rb->n = (int32_t)rn;
	rb->head = (int32_t)rh;
	return 0;
}
