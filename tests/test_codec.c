/* The codec (worker/codec.c) and every module's pack/unpack: each state is
 * populated, packed, unpacked into a fresh one and compared field by field
 * (memcmp of the arrays). Then each packed document is damaged, and the
 * module's unpack must refuse it naming the field: for every key path in
 * it, the entry dropped (a map cut short) and its value replaced by one of
 * another type; and the bytes cut short, which the decoder refuses before
 * any unpack runs. The damaged documents are built here with msgpack
 * directly, independently of the codec. */
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adam.h"
#include "agent.h"
#include "backtest.h"
#include "codec.h"
#include "common/rng.h"
#include "env.h"
#include "indicators.h"
#include "lstm_job.h"
#include "mlp.h"
#include "train.h"
#include "check.h"
#include "tiny_train_data.h"

/* ---- an encoder into memory ---- */

typedef struct Buf {
	unsigned char *p;
	size_t n, cap;
} Buf;

static int buf_sink(void *ctx, const void *data, size_t len)
{
	Buf *b = ctx;

	if (b->n + len > b->cap) {
		size_t cap = (b->n + len) * 2 + 64;
		unsigned char *p = realloc(b->p, cap);

		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, len);
	b->n += len;
	return 0;
}

/* ---- damaged documents (msgpack directly) ---- */

enum { DROP, RETYPE };

/* Packs o, with the entry at key path `target` dropped or retyped. */
static void repack(msgpack_packer *pk, const msgpack_object *o, const char *path,
		   const char *target, int mode)
{
	char sub[256];

	if (o->type == MSGPACK_OBJECT_MAP) {
		uint32_t n = o->via.map.size, keep = 0;

		for (uint32_t i = 0; i < n; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			snprintf(sub, sizeof(sub), "%s%s%.*s", path, path[0] ? "." : "",
				 (int)k->via.str.size, k->via.str.ptr);
			keep += !(mode == DROP && !strcmp(sub, target));
		}
		msgpack_pack_map(pk, keep);
		for (uint32_t i = 0; i < n; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			const msgpack_object *v = &o->via.map.ptr[i].val;

			snprintf(sub, sizeof(sub), "%s%s%.*s", path, path[0] ? "." : "",
				 (int)k->via.str.size, k->via.str.ptr);
			if (!strcmp(sub, target) && mode == DROP)
				continue;
			msgpack_pack_object(pk, *k);
			if (!strcmp(sub, target)) {
				/* Another type: a string, or an integer for a string. */
				if (v->type == MSGPACK_OBJECT_STR)
					msgpack_pack_int(pk, 7);
				else {
					msgpack_pack_str(pk, 1);
					msgpack_pack_str_body(pk, "x", 1);
				}
				continue;
			}
			repack(pk, v, sub, target, mode);
		}
		return;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		/* Elements keep their array's path (as the codec names them). */
		msgpack_pack_array(pk, o->via.array.size);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			repack(pk, &o->via.array.ptr[i], path, target, mode);
		return;
	}
	msgpack_pack_object(pk, *o);
}

/* Collects the distinct key paths of o into paths[]. */
static int collect(const msgpack_object *o, const char *path, char (*paths)[128], int n, int max)
{
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < o->via.array.size; i++)
			n = collect(&o->via.array.ptr[i], path, paths, n, max);
		return n;
	}
	if (o->type != MSGPACK_OBJECT_MAP)
		return n;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		char sub[128];
		int seen = 0;

		snprintf(sub, sizeof(sub), "%s%s%.*s", path, path[0] ? "." : "",
			 (int)k->via.str.size, k->via.str.ptr);
		for (int j = 0; j < n; j++)
			seen |= !strcmp(paths[j], sub);
		if (!seen && n < max)
			memcpy(paths[n++], sub, sizeof(sub));
		n = collect(&o->via.map.ptr[i].val, sub, paths, n, max);
	}
	return n;
}

/* Unpacks root into a fresh state of the module under test and frees it:
 * 0, or the unpack's negative errno. */
typedef int (*TryFn)(const Dec *root);

static int try_buf(TryFn try, const void *p, size_t n, char *err, size_t errlen)
{
	DecDoc *doc;
	Dec root;
	int r = dec_open(&doc, &root, p, n, "test.bin", "test document", err, errlen);

	if (r < 0)
		return r;
	r = try(&root);
	if (r == 0 && dec_failed(&root))
		r = -EINVAL;
	dec_close(doc);
	return r;
}

/* The refusals of one module's unpack, on document b. Paths outside
 * `prefix` (when not NULL) are not the module's to read. */
static void check_refusals(const char *what, const Buf *b, TryFn try, const char *prefix)
{
	static char paths[512][128];
	msgpack_unpacked un;
	size_t off = 0;
	char err[1024];
	int n, r;

	r = try_buf(try, b->p, b->n, err, sizeof(err));
	CHECK(r == 0, "%s: the intact document is refused: %s", what, err);
	/* Cut short: the decoder refuses it before the unpack. */
	for (size_t cut = 1; cut < b->n; cut += 1 + b->n / 7) {
		r = try_buf(try, b->p, cut, err, sizeof(err));
		CHECK(r == -EINVAL && strstr(err, "test.bin: corrupt test document"),
		      "%s cut to %zu bytes: r=%d %s", what, cut, r, err);
	}
	msgpack_unpacked_init(&un);
	if (msgpack_unpack_next(&un, (const char *)b->p, b->n, &off) != MSGPACK_UNPACK_SUCCESS) {
		CHECK(0, "%s: not msgpack", what);
		return;
	}
	n = collect(&un.data, "", paths, 0, 512);
	CHECK(n > 0, "%s: no fields", what);
	for (int i = 0; i < n; i++) {
		char want[160];

		if (prefix && strncmp(paths[i], prefix, strlen(prefix)))
			continue;
		snprintf(want, sizeof(want), "field '%s'", paths[i]);
		for (int mode = DROP; mode <= RETYPE; mode++) {
			msgpack_sbuffer sb;
			msgpack_packer pk;

			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			repack(&pk, &un.data, "", paths[i], mode);
			err[0] = '\0';
			r = try_buf(try, sb.data, sb.size, err, sizeof(err));
			CHECK(r == -EINVAL && strstr(err, "test.bin: ") && strstr(err, want),
			      "%s with '%s' %s: r=%d, err '%s'", what, paths[i],
			      mode == DROP ? "dropped" : "of another type", r, err);
			msgpack_sbuffer_destroy(&sb);
		}
	}
	msgpack_unpacked_destroy(&un);
}

/* ---- fixtures ---- */

static Config cfg;
static TrainData td;

static void setup(void)
{
	tiny_train_data(&cfg, &td, "codec.csv");
}

static void fill(float *p, size_t n, Rng *rng)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(rng_uniform(rng) * 2 - 1);
}

/* Decodes b and runs fn on its root (the round trips). */
static int open_buf(const Buf *b, DecDoc **doc, Dec *root, char *err, size_t errlen)
{
	return dec_open(doc, root, b->p, b->n, "test.bin", "test document", err, errlen);
}

#define SAME(what, a, b, n) CHECK(!memcmp((a), (b), (n)), "%s differs after the round trip", what)

/* ---- the codec itself ---- */

static void test_codec(void)
{
	Buf b = { 0 };
	Enc e;
	DecDoc *doc;
	Dec root, a;
	char err[512];
	float f[3] = { 1.5f, -2.0f, 3.25f }, g[3];
	uint64_t u[2] = { UINT64_MAX, 3 }, w[2];
	const char *s;
	size_t n;
	long k;

	enc_init(&e, buf_sink, &b);
	enc_map(&e, 8);
	enc_key(&e, "i"); enc_int(&e, -123456789012LL);
	enc_key(&e, "u"); enc_uint(&e, 4000000000u);
	enc_key(&e, "d"); enc_double(&e, 0.1);
	enc_key(&e, "inf"); enc_double_or_inf(&e, INFINITY);
	enc_key(&e, "f"); enc_floats(&e, f, 3);
	enc_key(&e, "s"); enc_str(&e, "hello");
	enc_key(&e, "u64s"); enc_u64s(&e, u, 2);
	enc_key(&e, "nil"); enc_nil(&e);
	CHECK(!e.failed && !e.nonfinite, "encoder state");
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "decode: %s", err);
	CHECK(dec_int(&root, "i") == -123456789012LL, "int");
	CHECK(dec_u64(&root, "u") == 4000000000u, "uint");
	CHECK(dec_double(&root, "d") == 0.1, "double");
	CHECK(dec_double_or_inf(&root, "inf") == INFINITY, "+inf where allowed");
	CHECK(dec_floats(&root, "f", g, 3) == 0 && !memcmp(f, g, sizeof(f)), "floats");
	CHECK(dec_str(&root, "s", &s, &n) == 0 && n == 5 && !memcmp(s, "hello", 5), "str");
	CHECK(dec_str_is(&root, "s", "hello") && !dec_str_is(&root, "s", "hell"), "str_is");
	CHECK(dec_u64s(&root, "u64s", w, 2) == 0 && !memcmp(u, w, sizeof(u)), "u64s");
	a = dec_key(&root, "nil");
	CHECK(dec_is_nil(&a) && dec_has(&root, "nil") && !dec_has(&root, "none"), "nil, has");
	CHECK(!dec_failed(&root), "no error so far: %s", err);
	/* The first error is kept, naming the field. */
	CHECK(dec_double(&root, "inf") == 0 && strstr(err, "test.bin: field 'inf' holds a non-finite number"),
	      "+inf refused where finite: %s", err);
	dec_int(&root, "s");
	CHECK(strstr(err, "'inf'") != NULL, "first error kept: %s", err);
	dec_close(doc);
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "decode again");
	CHECK(dec_floats(&root, "f", g, 2) < 0 && strstr(err, "field 'f' has 12 bytes, expected 8"),
	      "a float array of another size: %s", err);
	dec_close(doc);
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "decode again");
	a = dec_array(&root, "s", &k);
	CHECK(k == -1 && strstr(err, "field 's' missing or of the wrong type"), "wrong type: %s", err);
	dec_close(doc);

	/* A non-finite number is noted with its key. */
	b.n = 0;
	enc_init(&e, buf_sink, &b);
	enc_map(&e, 2);
	enc_key(&e, "ok"); enc_double(&e, 1);
	enc_key(&e, "bad"); enc_double(&e, NAN);
	CHECK(e.nonfinite && !strcmp(e.nonfinite, "bad"), "non-finite noted");
	/* A 5-byte array header asking for 2^32 - 1 elements. */
	{
		static const unsigned char huge[] = { 0x81, 0xa1, 'a', 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 };

		CHECK(dec_open(&doc, &root, huge, sizeof(huge), "h.bin", "model", err, sizeof(err)) == -EINVAL &&
		      strstr(err, "h.bin: corrupt model: a length or count runs past the end"),
		      "huge count: %s", err);
	}
	free(b.p);
}

/* ---- env ---- */

static int try_env(const Dec *root)
{
	EnvState s;

	return env_unpack(root, &s);
}

static void test_env(void)
{
	EnvState a, b2;
	Buf b = { 0 };
	Enc e;
	DecDoc *doc;
	Dec root;
	char err[512];

	memset(&a, 0, sizeof(a));
	a.t = 17; a.end = 99; a.position = 1; a.prev_action = ENV_LONG;
	a.n_ret = 12; a.ret_head = 12; a.trades = 5;
	a.cash = 1234.5; a.shares = 7; a.value = 10007.25; a.peak = 10100.125;
	for (int i = 0; i < ENV_HIST; i++)
		a.ret_hist[i] = i < 12 ? 0.001 * (i + 1) * (i % 2 ? -1 : 1) : 0;
	enc_init(&e, buf_sink, &b);
	env_pack(&e, &a);
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "env decode: %s", err);
	memset(&b2, 0xff, sizeof(b2));
	CHECK(env_unpack(&root, &b2) == 0, "env unpack: %s", err);
	CHECK(b2.t == a.t && b2.end == a.end && b2.position == a.position &&
	      b2.prev_action == a.prev_action && b2.n_ret == a.n_ret && b2.ret_head == a.ret_head &&
	      b2.trades == a.trades && b2.cash == a.cash && b2.shares == a.shares &&
	      b2.value == a.value && b2.peak == a.peak, "env scalar fields");
	SAME("env ret_hist", a.ret_hist, b2.ret_hist, sizeof(a.ret_hist));
	dec_close(doc);
	check_refusals("env", &b, try_env, NULL);

	/* Counters out of range and a non-finite value, named. */
	a.n_ret = ENV_HIST + 1;
	b.n = 0;
	enc_init(&e, buf_sink, &b);
	env_pack(&e, &a);
	CHECK(try_buf(try_env, b.p, b.n, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "field 'n_ret' out of range"), "env n_ret out of range: %s", err);
	a.n_ret = 3;
	a.cash = NAN;
	b.n = 0;
	enc_init(&e, buf_sink, &b);
	env_pack(&e, &a);
	CHECK(e.nonfinite && !strcmp(e.nonfinite, "cash"), "env NaN noted on packing");
	CHECK(try_buf(try_env, b.p, b.n, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "field 'cash' holds a non-finite number"), "env NaN cash: %s", err);
	free(b.p);
}

/* ---- mlp and adam ---- */

static const int mlp_sizes[] = { ENV_STATE_DIM, 5, 4, ENV_ACTIONS };

static int try_mlp(const Dec *root)
{
	Mlp m;
	Rng rng;
	Dec v = dec_key(root, "net");
	int r;

	rng_seed(&rng, 9);
	if (mlp_init(&m, mlp_sizes, 3, &rng) < 0)
		abort();
	r = mlp_unpack(&v, &m);
	mlp_free(&m);
	return r;
}

static int try_adam(const Dec *root)
{
	Adam a;
	int r;

	if (adam_init(&a, 50, 1e-3f, 0.9f, 0.999f, 1e-8f) < 0)
		abort();
	r = adam_unpack(root, &a);
	adam_free(&a);
	return r;
}

static void test_mlp_adam(void)
{
	Mlp a, m2;
	Adam o, o2;
	Rng rng;
	Buf b = { 0 };
	Enc e;
	DecDoc *doc;
	Dec root, v;
	char err[512];

	rng_seed(&rng, 3);
	CHECK(mlp_init(&a, mlp_sizes, 3, &rng) == 0 && mlp_init(&m2, mlp_sizes, 3, &rng) == 0, "mlp init");
	CHECK(memcmp(a.params, m2.params, a.n_params * sizeof(float)), "two draws differ");
	enc_init(&e, buf_sink, &b);
	enc_map(&e, 1);
	enc_key(&e, "net");
	mlp_pack(&e, &a);
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "mlp decode");
	v = dec_key(&root, "net");
	CHECK(mlp_unpack(&v, &m2) == 0, "mlp unpack: %s", err);
	SAME("mlp params", a.params, m2.params, a.n_params * sizeof(float));
	dec_close(doc);
	check_refusals("mlp", &b, try_mlp, NULL);
	mlp_free(&a);
	mlp_free(&m2);

	CHECK(adam_init(&o, 50, 1e-3f, 0.9f, 0.999f, 1e-8f) == 0 &&
	      adam_init(&o2, 50, 1e-3f, 0.9f, 0.999f, 1e-8f) == 0, "adam init");
	fill(o.m, o.n, &rng);
	fill(o.v, o.n, &rng);
	o.t = 1234;
	b.n = 0;
	enc_init(&e, buf_sink, &b);
	enc_map(&e, ADAM_PACK_ENTRIES);
	adam_pack(&e, &o);
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "adam decode");
	CHECK(adam_unpack(&root, &o2) == 0, "adam unpack: %s", err);
	CHECK(o2.t == 1234, "adam t");
	SAME("adam m", o.m, o2.m, o.n * sizeof(float));
	SAME("adam v", o.v, o2.v, o.n * sizeof(float));
	dec_close(doc);
	check_refusals("adam", &b, try_adam, NULL);
	adam_free(&o);
	adam_free(&o2);
	free(b.p);
}

/* ---- agent ---- */

static int try_agent(const Dec *root)
{
	Agent ag;
	Rng rng;
	int r;

	rng_seed(&rng, 11);
	if (agent_init(&ag, &cfg, &rng) < 0)
		abort();
	r = agent_unpack(root, &ag);
	agent_free(&ag);
	return r;
}

static void test_agent(void)
{
	Agent a, a2;
	Rng rng;
	Buf b = { 0 };
	Enc e;
	DecDoc *doc;
	Dec root;
	char err[512];
	float s[ENV_STATE_DIM], s2[ENV_STATE_DIM];
	size_t n;

	rng_seed(&rng, 5);
	CHECK(agent_init(&a, &cfg, &rng) == 0, "agent init");
	for (int i = 0; i < 40; i++) {
		fill(s, ENV_STATE_DIM, &rng);
		fill(s2, ENV_STATE_DIM, &rng);
		replay_push(&a.replay, s, i % ENV_ACTIONS, (float)i / 7, s2, (float)(i % 5 == 0));
	}
	fill(a.online.params, a.online.n_params, &rng);
	fill(a.opt.m, a.opt.n, &rng);
	fill(a.opt.v, a.opt.n, &rng);
	a.opt.t = 77;
	a.grad_steps = 78;
	a.epsilon = 0.4375;
	enc_init(&e, buf_sink, &b);
	agent_pack(&e, &a);
	CHECK(!e.nonfinite, "agent packs finite");
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "agent decode");
	CHECK(agent_init(&a2, &cfg, &rng) == 0, "agent init 2");
	CHECK(agent_unpack(&root, &a2) == 0, "agent unpack: %s", err);
	n = (size_t)a.replay.n;
	CHECK(a2.replay.n == 40 && a2.replay.head == a.replay.head, "replay n and head");
	CHECK(a2.opt.t == 77 && a2.grad_steps == 78 && a2.epsilon == 0.4375, "agent scalars");
	SAME("online", a.online.params, a2.online.params, a.online.n_params * sizeof(float));
	SAME("target", a.target.params, a2.target.params, a.target.n_params * sizeof(float));
	SAME("adam m", a.opt.m, a2.opt.m, a.opt.n * sizeof(float));
	SAME("adam v", a.opt.v, a2.opt.v, a.opt.n * sizeof(float));
	SAME("replay s", a.replay.s, a2.replay.s, n * ENV_STATE_DIM * sizeof(float));
	SAME("replay s2", a.replay.s2, a2.replay.s2, n * ENV_STATE_DIM * sizeof(float));
	SAME("replay a", a.replay.a, a2.replay.a, n * sizeof(int32_t));
	SAME("replay r", a.replay.r, a2.replay.r, n * sizeof(float));
	SAME("replay done", a.replay.done, a2.replay.done, n * sizeof(float));
	dec_close(doc);
	agent_free(&a2);
	check_refusals("agent", &b, try_agent, NULL);

	/* More transitions than the buffer holds; an action out of range. */
	a.replay.a[3] = ENV_ACTIONS;
	b.n = 0;
	enc_init(&e, buf_sink, &b);
	agent_pack(&e, &a);
	CHECK(try_buf(try_agent, b.p, b.n, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "field 'replay_a' holds an action out of range"), "bad action: %s", err);
	a.replay.a[3] = 0;
	a.online.params[2] = NAN;
	b.n = 0;
	enc_init(&e, buf_sink, &b);
	agent_pack(&e, &a);
	CHECK(e.nonfinite && !strcmp(e.nonfinite, "online"), "agent NaN noted");
	CHECK(try_buf(try_agent, b.p, b.n, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "field 'online' holds a non-finite number"), "NaN weight: %s", err);
	agent_free(&a);
	free(b.p);
}

/* ---- trainer (chunk runs, finished chunks) ---- */

/* Stops after the first episode of the second chunk: chunk 0 finished,
 * chunk 1 in progress. */
static int stop_in_chunk_1(void *ctx, Trainer *tr)
{
	(void)ctx;
	return tr->pos.done_episodes == cfg.episodes_per_chunk + 1;
}

static int try_trainer(const Dec *root)
{
	Trainer tr;
	int r;

	if (trainer_init(&tr, &cfg, &td) < 0)
		abort();
	r = trainer_unpack(root, &tr);
	trainer_free(&tr);
	return r;
}

static void test_trainer(void)
{
	Trainer a, t2;
	TrainHooks th = { .episode = stop_in_chunk_1 };
	Buf b = { 0 };
	Enc e;
	DecDoc *doc;
	Dec root;
	char err[512];

	CHECK(trainer_init(&a, &cfg, &td) == 0 && trainer_run(&a, &th) == 1, "train to chunk 1");
	CHECK(a.pos.chunk == 1 && a.pos.n_active == 1 && a.chunk_params[0] && !a.chunk_params[1],
	      "stopped inside chunk 1");
	enc_init(&e, buf_sink, &b);
	enc_map(&e, TRAINER_PACK_ENTRIES);
	trainer_pack(&e, &a);
	CHECK(!e.nonfinite && !e.failed, "trainer packs");
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "trainer decode");
	CHECK(trainer_init(&t2, &cfg, &td) == 0, "trainer init 2");
	CHECK(trainer_unpack(&root, &t2) == 0, "trainer unpack: %s", err);
	CHECK(!memcmp(&a.pos, &t2.pos, sizeof(a.pos)), "pos");
	SAME("chunk 0 model", a.chunk_params[0], t2.chunk_params[0], a.n_params * sizeof(float));
	for (int c = 1; c < td.n_chunks; c++)
		CHECK(!t2.chunk_params[c], "chunk %d has no model yet", c);
	for (int i = 0; i < a.pos.n_active; i++) {
		const ChunkRun *x = &a.run[i], *y = &t2.run[i];

		CHECK(x->chunk == y->chunk && x->ep_steps == y->ep_steps && x->ep_loss == y->ep_loss &&
		      x->ep_reward == y->ep_reward && x->last_epsilon == y->last_epsilon, "run scalars");
		SAME("run env", &x->env, &y->env, sizeof(x->env));
		SAME("run rng", &x->rng, &y->rng, sizeof(x->rng));
		SAME("run online", x->agent.online.params, y->agent.online.params,
		     x->agent.online.n_params * sizeof(float));
		SAME("run replay s", x->agent.replay.s, y->agent.replay.s,
		     (size_t)x->agent.replay.n * ENV_STATE_DIM * sizeof(float));
		CHECK(x->agent.replay.n == y->agent.replay.n && x->agent.grad_steps == y->agent.grad_steps,
		      "run agent counters");
	}
	dec_close(doc);
	trainer_free(&t2);
	check_refusals("trainer", &b, try_trainer, NULL);
	trainer_free(&a);
	free(b.p);
}

/* ---- LSTM job ---- */

static int stop_in_lstm_chunk_1(void *ctx, LstmJob *j, double tl, double vl)
{
	(void)ctx;
	(void)tl;
	(void)vl;
	return j->pos.done_episodes == cfg.lstm_epochs + 1;
}

static int try_lstm(const Dec *root)
{
	LstmJob j;
	char err[256];
	int r;

	if (lstm_job_init(&j, &cfg, &td, err, sizeof(err)) < 0)
		abort();
	r = lstm_job_unpack(root, &j);
	lstm_job_free(&j);
	return r;
}

static void test_lstm_job(void)
{
	LstmJob a, j2;
	LstmHooks lh = { .epoch = stop_in_lstm_chunk_1 };
	Buf b = { 0 };
	Enc e;
	DecDoc *doc;
	Dec root;
	char err[512];

	CHECK(lstm_job_init(&a, &cfg, &td, err, sizeof(err)) == 0 && lstm_job_run(&a, &lh) == 1,
	      "LSTM to chunk 1: %s", err);
	CHECK(a.pos.chunk == 1 && a.net_ready && a.chunk_models[0] && !a.chunk_models[1],
	      "stopped inside chunk 1");
	enc_init(&e, buf_sink, &b);
	enc_map(&e, LSTM_JOB_PACK_ENTRIES);
	lstm_job_pack(&e, &a);
	CHECK(!e.nonfinite && !e.failed, "LSTM job packs");
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "LSTM decode");
	CHECK(lstm_job_init(&j2, &cfg, &td, err, sizeof(err)) == 0, "LSTM init 2");
	CHECK(lstm_job_unpack(&root, &j2) == 0, "LSTM unpack: %s", err);
	CHECK(!memcmp(&a.pos, &j2.pos, sizeof(a.pos)) && !memcmp(&a.rng, &j2.rng, sizeof(a.rng)),
	      "LSTM pos and rng");
	CHECK(j2.net_ready && j2.opt.t == a.opt.t, "LSTM net restored");
	SAME("LSTM params", a.net.params, j2.net.params, a.n_params * sizeof(float));
	SAME("LSTM best", a.best, j2.best, a.n_params * sizeof(float));
	SAME("LSTM adam m", a.opt.m, j2.opt.m, a.opt.n * sizeof(float));
	SAME("LSTM adam v", a.opt.v, j2.opt.v, a.opt.n * sizeof(float));
	SAME("LSTM chunk 0 model", a.chunk_models[0], j2.chunk_models[0], a.n_model * sizeof(float));
	CHECK(!j2.chunk_models[1], "LSTM chunk 1 has no model yet");
	dec_close(doc);
	lstm_job_free(&j2);
	check_refusals("lstm_job", &b, try_lstm, NULL);
	lstm_job_free(&a);
	free(b.p);
}

/* ---- backtest metrics ---- */

static int try_metrics(const Dec *root)
{
	Metrics m;

	return backtest_unpack_metrics(root, &m);
}

static void test_backtest(void)
{
	Backtest bt;
	Metrics m2;
	int32_t fit_date[2] = { 20200102, 20200301 };
	double weights[4] = { 0.25, 0.75, 1, 0 }, values[3] = { 10000, 10010.5, 9990.25 };
	Buf b = { 0 };
	Enc e;
	DecDoc *doc;
	Dec root;
	char err[512];

	memset(&bt, 0, sizeof(bt));
	bt.m.total_return = 0.125; bt.m.sharpe = 1.5; bt.m.max_drawdown = 0.0625;
	bt.m.volatility = 0.2; bt.m.win_rate = 0.55; bt.m.buy_hold_return = -0.03125;
	bt.m.trades = 9; bt.m.test_days = 2;
	bt.m.actions[0] = 1; bt.m.actions[1] = 0; bt.m.actions[2] = 1;
	bt.n_models = 2; bt.n_fits = 2; bt.fit_date = fit_date; bt.weights = weights;
	bt.n_values = 3; bt.values = values;
	enc_init(&e, buf_sink, &b);
	enc_map(&e, BACKTEST_PACK_ENTRIES);
	backtest_pack(&e, &bt);
	CHECK(open_buf(&b, &doc, &root, err, sizeof(err)) == 0, "backtest decode");
	memset(&m2, 0xff, sizeof(m2));
	CHECK(backtest_unpack_metrics(&root, &m2) == 0, "metrics unpack: %s", err);
	CHECK(!memcmp(&bt.m, &m2, sizeof(m2)), "metrics differ after the round trip");
	dec_close(doc);
	/* The weight history and equity are written for readers of the file
	 * (docs/model-format.md); the worker reads the metrics back. */
	check_refusals("metrics", &b, try_metrics, "metrics");
	free(b.p);
}

int main(void)
{
	setup();
	test_codec();
	test_env();
	test_mlp_adam();
	test_agent();
	test_trainer();
	test_lstm_job();
	test_backtest();
	train_data_free(&td);
	return check_done("codec");
}
