/* Worker -> supervisor report protocol (proto.h), on msgpack-c.
 *
 * One table per message type (fields[] below) drives both the encoder and
 * the decoder. The decoder treats every byte as hostile:
 * - the length prefix is checked before any payload byte is looked at;
 * - before msgpack-c sees a payload, scan_payload() walks its structure
 *   with an explicit count of outstanding objects and proves that it is
 *   exactly one complete object with every container's element count
 *   backed by real bytes. msgpack-c allocates each container's element
 *   array up front from the count in its header (a 5-byte array32 header
 *   could ask for 64 GiB); after the scan the total it allocates is bounded
 *   by a small multiple of the frame size;
 * - msgpack_unpack then decodes into a zone owned by the decoder, cleared
 *   after every frame. */
#include "proto.h"

#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum FieldKind { F_I64, F_F64, F_U32, F_STR, F_I64X3 } FieldKind;

typedef struct Field {
	const char *name;
	FieldKind kind;
	size_t offset;      /* within the message struct */
	size_t size;        /* sizeof the member (strings: the array) */
	bool optional;      /* may be absent (reads as 0): added within version 1 */
} Field;

#define PF(T, f, k) { #f, k, offsetof(T, f), sizeof(((T *)0)->f), false }
/* A field an older writer of the same version does not send. */
#define PF_OPT(T, f, k) { #f, k, offsetof(T, f), sizeof(((T *)0)->f), true }

static const Field hello_fields[] = {
	PF(MsgHello, pid, F_I64),
	PF(MsgHello, ticker, F_STR),
	PF(MsgHello, backend, F_STR),
	PF(MsgHello, device, F_STR),
	PF(MsgHello, batch_size, F_I64),
	PF(MsgHello, total_chunks, F_I64),
	PF(MsgHello, episodes_per_chunk, F_I64),
	PF_OPT(MsgHello, skipped_rows, F_I64),
};

static const Field progress_fields[] = {
	PF(MsgProgress, chunk, F_I64),
	PF(MsgProgress, episode, F_I64),
	PF(MsgProgress, step, F_I64),
	PF(MsgProgress, done_episodes, F_I64),
	PF(MsgProgress, total_episodes, F_I64),
	PF(MsgProgress, loss, F_F64),
	PF(MsgProgress, epsilon, F_F64),
	PF(MsgProgress, reward, F_F64),
};

static const Field heartbeat_fields[] = {
	PF(MsgHeartbeat, rss_current, F_I64),
	PF(MsgHeartbeat, rss_peak, F_I64),
	PF(MsgHeartbeat, bytes_replay, F_I64),
	PF(MsgHeartbeat, bytes_activations, F_I64),
	PF(MsgHeartbeat, bytes_weights, F_I64),
	PF(MsgHeartbeat, bytes_device, F_I64),
	PF(MsgHeartbeat, peak_replay, F_I64),
	PF(MsgHeartbeat, peak_activations, F_I64),
	PF(MsgHeartbeat, peak_weights, F_I64),
	PF(MsgHeartbeat, peak_device, F_I64),
};

static const Field checkpoint_fields[] = {
	PF(MsgCheckpoint, path, F_STR),
	PF(MsgCheckpoint, checksum, F_U32),
	PF(MsgCheckpoint, chunk, F_I64),
	PF(MsgCheckpoint, episode, F_I64),
	PF(MsgCheckpoint, done_episodes, F_I64),
};

static const Field result_fields[] = {
	PF(MsgResult, model_path, F_STR),
	PF(MsgResult, checksum, F_U32),
	PF(MsgResult, total_return, F_F64),
	PF(MsgResult, sharpe, F_F64),
	PF(MsgResult, max_drawdown, F_F64),
	PF(MsgResult, volatility, F_F64),
	PF(MsgResult, win_rate, F_F64),
	PF(MsgResult, trades, F_I64),
	PF(MsgResult, buy_hold_return, F_F64),
	PF(MsgResult, test_days, F_I64),
	PF(MsgResult, actions, F_I64X3),
};

static const Field error_fields[] = {
	PF(MsgError, code, F_I64),
	PF(MsgError, message, F_STR),
};

#define NF(a) (sizeof a / sizeof a[0])

static const struct {
	const char *name;
	const Field *fields;
	size_t n;
} types[] = {
	[MSG_HELLO] = { "hello", hello_fields, NF(hello_fields) },
	[MSG_PROGRESS] = { "progress", progress_fields, NF(progress_fields) },
	[MSG_HEARTBEAT] = { "heartbeat", heartbeat_fields, NF(heartbeat_fields) },
	[MSG_CHECKPOINT] = { "checkpoint", checkpoint_fields, NF(checkpoint_fields) },
	[MSG_RESULT] = { "result", result_fields, NF(result_fields) },
	[MSG_ERROR] = { "error", error_fields, NF(error_fields) },
};

#define MAX_FIELDS 16

static bool type_valid(int t)
{
	return t >= MSG_HELLO && t <= MSG_ERROR;
}

const char *proto_type_name(MsgType type)
{
	return type_valid((int)type) ? types[type].name : "?";
}

/* ---- encoder ---- */

typedef struct Out {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
} Out;

static int out_write(void *data, const char *bytes, size_t len)
{
	Out *o = data;

	if (o->overflow || len > o->cap - o->len) {
		o->overflow = true;
		return -1;
	}
	memcpy(o->buf + o->len, bytes, len);
	o->len += len;
	return 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

int proto_encode(const Msg *msg, uint8_t *buf, size_t cap)
{
	msgpack_packer pk;
	Out o = { buf, cap, 4, false };
	const uint8_t *base;
	size_t payload;

	if (!msg || !type_valid((int)msg->type))
		return -EINVAL;
	if (cap < 4)
		return -ENOSPC;
	base = (const uint8_t *)&msg->u;
	msgpack_packer_init(&pk, &o, out_write);
	const MsgResult *res = msg->type == MSG_RESULT ? &msg->u.result : NULL;
	int curves = res && res->n_curve > 0, fits = res && res->n_fits > 0;
	if (res && (res->n_curve < 0 || res->n_curve > PROTO_MAX_CURVE || res->n_fits < 0 ||
	            res->n_fits > PROTO_MAX_FITS || res->n_models < 0 ||
	            (int64_t)res->n_fits * res->n_models > PROTO_MAX_WEIGHTS))
		return -EINVAL;
	msgpack_pack_map(&pk, (uint32_t)(2 + types[msg->type].n + 3 * curves + 3 * fits));
	pack_cstr(&pk, "v", 1);
	msgpack_pack_int64(&pk, PROTO_VERSION);
	pack_cstr(&pk, "t", 1);
	pack_cstr(&pk, types[msg->type].name, strlen(types[msg->type].name));
	for (size_t i = 0; i < types[msg->type].n; i++) {
		const Field *f = &types[msg->type].fields[i];
		const void *p = base + f->offset;
		pack_cstr(&pk, f->name, strlen(f->name));
		switch (f->kind) {
		case F_I64:
			msgpack_pack_int64(&pk, *(const int64_t *)p);
			break;
		case F_F64:
			msgpack_pack_double(&pk, *(const double *)p);
			break;
		case F_U32:
			msgpack_pack_uint32(&pk, *(const uint32_t *)p);
			break;
		case F_STR:
			/* Cut at the field size, leaving room for the NUL the
			 * decoder adds (so every encoded string decodes). */
			pack_cstr(&pk, p, strnlen(p, f->size - 1));
			break;
		case F_I64X3:
			msgpack_pack_array(&pk, 3);
			for (int j = 0; j < 3; j++)
				msgpack_pack_int64(&pk, ((const int64_t *)p)[j]);
			break;
		}
	}
	if (curves) {
		pack_cstr(&pk, "curve_step", 10);
		msgpack_pack_int64(&pk, res->curve_step);
		pack_cstr(&pk, "equity", 6);
		msgpack_pack_array(&pk, (size_t)res->n_curve);
		for (int j = 0; j < res->n_curve; j++)
			msgpack_pack_float(&pk, res->equity[j]);
		pack_cstr(&pk, "buy_hold", 8);
		msgpack_pack_array(&pk, (size_t)res->n_curve);
		for (int j = 0; j < res->n_curve; j++)
			msgpack_pack_float(&pk, res->buy_hold[j]);
	}
	if (fits) {
		pack_cstr(&pk, "n_models", 8);
		msgpack_pack_int64(&pk, res->n_models);
		pack_cstr(&pk, "fit_dates", 9);
		msgpack_pack_array(&pk, (size_t)res->n_fits);
		for (int j = 0; j < res->n_fits; j++)
			msgpack_pack_int64(&pk, res->fit_dates[j]);
		pack_cstr(&pk, "weights", 7);
		msgpack_pack_array(&pk, (size_t)res->n_fits * (size_t)res->n_models);
		for (int j = 0; j < res->n_fits * res->n_models; j++)
			msgpack_pack_float(&pk, res->weights[j]);
	}
	if (o.overflow)
		return -ENOSPC;
	payload = o.len - 4;
	if (payload > PROTO_MAX_FRAME)
		return -EINVAL; /* cannot happen: the curves' limits keep it under */
	buf[0] = (uint8_t)(payload >> 24);
	buf[1] = (uint8_t)(payload >> 16);
	buf[2] = (uint8_t)(payload >> 8);
	buf[3] = (uint8_t)payload;
	return (int)o.len;
}

/* ---- decoder ---- */

struct ProtoDecoder {
	uint8_t *buf;      /* pending bytes are buf[start, end) */
	size_t start, end, cap;
	bool broken;
	char why[160];     /* the error that broke the stream */
	msgpack_zone zone;
};

ProtoDecoder *proto_decoder_new(void)
{
	ProtoDecoder *dec = calloc(1, sizeof *dec);

	if (!dec)
		return NULL;
	dec->cap = 4 + PROTO_MAX_FRAME;
	dec->buf = malloc(dec->cap);
	if (!dec->buf || !msgpack_zone_init(&dec->zone, 4096)) {
		free(dec->buf);
		free(dec);
		return NULL;
	}
	return dec;
}

void proto_decoder_free(ProtoDecoder *dec)
{
	if (!dec)
		return;
	msgpack_zone_destroy(&dec->zone);
	free(dec->buf);
	free(dec);
}

size_t proto_decoder_pending(const ProtoDecoder *dec)
{
	return dec ? dec->end - dec->start : 0;
}

/* Appends bytes. The buffer keeps only the unconsumed tail: after next()
 * has returned 0 that is less than one frame. It grows beyond
 * 4 + PROTO_MAX_FRAME only for the length of one feed() that arrives
 * while a partial frame is pending, and is never asked to grow for a
 * frame whose length prefix is over the limit (that breaks the stream). */
int proto_decoder_feed(ProtoDecoder *dec, const void *data, size_t len)
{
	size_t pending;

	if (dec->broken)
		return -EPROTO;
	if (len == 0)
		return 0;
	pending = dec->end - dec->start;
	if (dec->start > 0) {
		memmove(dec->buf, dec->buf + dec->start, pending);
		dec->start = 0;
		dec->end = pending;
	}
	if (len > dec->cap - pending) {
		size_t ncap = pending + len;
		uint8_t *nb = realloc(dec->buf, ncap);
		if (!nb)
			return -ENOMEM;
		dec->buf = nb;
		dec->cap = ncap;
	}
	memcpy(dec->buf + dec->end, data, len);
	dec->end += len;
	return 0;
}

static int fail(ProtoDecoder *dec, char *err, size_t errlen, const char *f, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(ProtoDecoder *dec, char *err, size_t errlen, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(dec->why, sizeof dec->why, f, ap);
	va_end(ap);
	dec->broken = true;
	/* Drop what was buffered: nothing after a lie is read. */
	dec->start = dec->end = 0;
	if (dec->cap > 4 + PROTO_MAX_FRAME) {
		uint8_t *nb = realloc(dec->buf, 4 + PROTO_MAX_FRAME);
		if (nb) {
			dec->buf = nb;
			dec->cap = 4 + PROTO_MAX_FRAME;
		}
	}
	if (err && errlen)
		snprintf(err, errlen, "%s", dec->why);
	return -EPROTO;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Proves that p[0, len) is exactly one complete msgpack object. Returns 0,
 * or -1 with *ret_why set. Every object takes at least one byte, so a
 * container may not announce more elements than bytes remain. */
static int scan_payload(const uint8_t *p, size_t len, const char **ret_why)
{
	size_t pos = 0;
	uint64_t outstanding = 1;

	while (outstanding > 0) {
		uint64_t skip = 0, children = 0;
		uint8_t b;

		if (pos >= len) {
			*ret_why = "truncated msgpack object";
			return -1;
		}
		b = p[pos++];
		outstanding--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b <= 0x8f) {
			children = 2ull * (b & 0x0f);
		} else if (b <= 0x9f) {
			children = b & 0x0f;
		} else if (b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			int hdr;
			switch (b) {
			case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
			case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
				hdr = (b == 0xc4 || b == 0xd9) ? 1 : (b == 0xc5 || b == 0xda) ? 2 : 4;
				if (len - pos < (size_t)hdr)
					goto truncated;
				skip = be(p + pos, hdr);
				pos += (size_t)hdr;
				break;
			case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32 */
				hdr = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
				if (len - pos < (size_t)hdr)
					goto truncated;
				skip = be(p + pos, hdr) + 1;
				pos += (size_t)hdr;
				break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: case 0xdd: /* array 16/32 */
				hdr = b == 0xdc ? 2 : 4;
				if (len - pos < (size_t)hdr)
					goto truncated;
				children = be(p + pos, hdr);
				pos += (size_t)hdr;
				break;
			case 0xde: case 0xdf: /* map 16/32 */
				hdr = b == 0xde ? 2 : 4;
				if (len - pos < (size_t)hdr)
					goto truncated;
				children = 2 * be(p + pos, hdr);
				pos += (size_t)hdr;
				break;
			default: /* 0xc1: never used */
				*ret_why = "invalid msgpack byte 0xc1";
				return -1;
			}
		}
		if (skip > len - pos)
			goto truncated;
		pos += (size_t)skip;
		outstanding += children;
		if (outstanding > len - pos)
			goto truncated;
	}
	if (pos != len) {
		*ret_why = "trailing bytes after the message";
		return -1;
	}
	return 0;
truncated:
	*ret_why = "truncated msgpack object (a length or count exceeds the frame)";
	return -1;
}

static bool key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

/* Reads an int64: positive or negative msgpack integers in range. */
static int get_i64(const msgpack_object *o, int64_t *ret)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return -1;
		*ret = (int64_t)o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*ret = o->via.i64;
		return 0;
	}
	return -1;
}

static int get_f64(const msgpack_object *o, double *ret)
{
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*ret = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*ret = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*ret = (double)o->via.i64;
		return 0;
	default:
		return -1;
	}
}

/* A numbers array of at most max into out (as float); returns its length
 * or -1. */
static int get_f32_array(const msgpack_object *o, float *out, int max)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > (uint32_t)max)
		return -1;
	for (uint32_t j = 0; j < o->via.array.size; j++) {
		double d;
		if (get_f64(&o->via.array.ptr[j], &d) < 0)
			return -1;
		out[j] = (float)d;
	}
	return (int)o->via.array.size;
}

/* The result's optional curve keys. Returns 1 if key is one of them (and
 * stores it), 0 if not, -1 with why on a bad value. */
static int result_extra(const msgpack_object *key, const msgpack_object *val, MsgResult *r,
                        int *n_buy_hold, int *n_weights, char *why, size_t whylen)
{
	int64_t v;
	int n;

	if (key_is(key, "curve_step") || key_is(key, "n_models")) {
		int step = key_is(key, "curve_step");
		if (get_i64(val, &v) < 0 || v < 1 || v > (step ? 1000000 : PROTO_MAX_WEIGHTS)) {
			snprintf(why, whylen, "result.%s: expected an integer in [1, %d]",
			         step ? "curve_step" : "n_models", step ? 1000000 : PROTO_MAX_WEIGHTS);
			return -1;
		}
		if (step)
			r->curve_step = (int32_t)v;
		else
			r->n_models = (int32_t)v;
		return 1;
	}
	if (key_is(key, "equity") || key_is(key, "buy_hold")) {
		int eq = key_is(key, "equity");
		if ((n = get_f32_array(val, eq ? r->equity : r->buy_hold, PROTO_MAX_CURVE)) < 0) {
			snprintf(why, whylen, "result.%s: expected an array of at most %d numbers",
			         eq ? "equity" : "buy_hold", PROTO_MAX_CURVE);
			return -1;
		}
		if (eq)
			r->n_curve = n;
		else
			*n_buy_hold = n;
		return 1;
	}
	if (key_is(key, "fit_dates")) {
		if (val->type != MSGPACK_OBJECT_ARRAY || val->via.array.size > PROTO_MAX_FITS) {
			snprintf(why, whylen, "result.fit_dates: expected an array of at most %d integers",
			         PROTO_MAX_FITS);
			return -1;
		}
		for (uint32_t j = 0; j < val->via.array.size; j++) {
			if (get_i64(&val->via.array.ptr[j], &v) < 0 || v < 0 || v > INT32_MAX) {
				snprintf(why, whylen, "result.fit_dates: expected yyyymmdd integers");
				return -1;
			}
			r->fit_dates[j] = (int32_t)v;
		}
		r->n_fits = (int32_t)val->via.array.size;
		return 1;
	}
	if (key_is(key, "weights")) {
		if ((n = get_f32_array(val, r->weights, PROTO_MAX_WEIGHTS)) < 0) {
			snprintf(why, whylen, "result.weights: expected an array of at most %d numbers",
			         PROTO_MAX_WEIGHTS);
			return -1;
		}
		*n_weights = n;
		return 1;
	}
	return 0;
}

/* The optional curves come whole or not at all. */
static int result_extra_check(MsgResult *r, int seen_step, int n_buy_hold, int seen_bh,
                              int n_weights, int seen_w, char *why, size_t whylen)
{
	int curve = r->n_curve > 0 || seen_bh || seen_step;
	if (curve && (r->n_curve == 0 || r->n_curve != n_buy_hold || r->curve_step < 1)) {
		snprintf(why, whylen, "result: equity (%d), buy_hold (%d) and curve_step must come "
		         "together, equally long and not empty", r->n_curve, n_buy_hold);
		return -1;
	}
	int fits = r->n_fits > 0 || seen_w || r->n_models > 0;
	if (fits && (r->n_fits == 0 || r->n_models < 1 ||
	             (int64_t)r->n_fits * r->n_models != n_weights)) {
		snprintf(why, whylen, "result: weights (%d) must be fit_dates (%d) x n_models (%d)",
		         n_weights, r->n_fits, r->n_models);
		return -1;
	}
	return 0;
}

/* Fills *msg from the decoded map; returns 0 or -1 with why filled. */
static int interpret(const msgpack_object *root, Msg *msg, char *why, size_t whylen)
{
	const msgpack_object_kv *kv;
	const msgpack_object *v = NULL, *t = NULL;
	const Field *fields;
	size_t nfields, n;
	int type = 0, n_buy_hold = 0, n_weights = 0;
	unsigned extra_seen = 0;  /* the result's optional keys seen, one bit each */
	bool seen[MAX_FIELDS] = { false };
	uint8_t *base;

	if (root->type != MSGPACK_OBJECT_MAP) {
		snprintf(why, whylen, "payload is not a msgpack map");
		return -1;
	}
	kv = root->via.map.ptr;
	n = root->via.map.size;
	for (size_t i = 0; i < n; i++) {
		if (kv[i].key.type != MSGPACK_OBJECT_STR) {
			snprintf(why, whylen, "map key %zu is not a string", i);
			return -1;
		}
		if (key_is(&kv[i].key, "v")) {
			if (v) {
				snprintf(why, whylen, "duplicate key 'v'");
				return -1;
			}
			v = &kv[i].val;
		} else if (key_is(&kv[i].key, "t")) {
			if (t) {
				snprintf(why, whylen, "duplicate key 't'");
				return -1;
			}
			t = &kv[i].val;
		}
	}
	if (!v) {
		snprintf(why, whylen, "missing key 'v' (protocol version)");
		return -1;
	}
	{
		int64_t ver;
		if (get_i64(v, &ver) < 0) {
			snprintf(why, whylen, "key 'v': expected an integer");
			return -1;
		}
		if (ver != PROTO_VERSION) {
			snprintf(why, whylen, "protocol version %lld, expected %d", (long long)ver,
				 PROTO_VERSION);
			return -1;
		}
	}
	if (!t) {
		snprintf(why, whylen, "missing key 't' (message type)");
		return -1;
	}
	if (t->type != MSGPACK_OBJECT_STR) {
		snprintf(why, whylen, "key 't': expected a string");
		return -1;
	}
	for (int i = MSG_HELLO; i <= MSG_ERROR; i++)
		if (key_is(t, types[i].name))
			type = i;
	if (!type) {
		char name[40];
		size_t l = t->via.str.size < 32 ? t->via.str.size : 32;
		/* Printable copy of what the peer sent, for the message. */
		for (size_t i = 0; i < l; i++) {
			char c = t->via.str.ptr[i];
			name[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
		}
		name[l] = '\0';
		snprintf(why, whylen, "unknown message type '%s%s'", name,
			 t->via.str.size > 32 ? "..." : "");
		return -1;
	}

	memset(msg, 0, sizeof *msg);
	msg->type = (MsgType)type;
	base = (uint8_t *)&msg->u;
	fields = types[type].fields;
	nfields = types[type].n;
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *val = &kv[i].val;
		size_t fi;
		void *p;

		for (fi = 0; fi < nfields; fi++)
			if (key_is(&kv[i].key, fields[fi].name))
				break;
		if (fi == nfields && type == MSG_RESULT) {
			int e = result_extra(&kv[i].key, val, &msg->u.result, &n_buy_hold, &n_weights,
			                     why, whylen);
			if (e < 0)
				return -1;
			if (e > 0) {
				/* Each optional key at most once. */
				unsigned bit = key_is(&kv[i].key, "curve_step") ? 1u :
				               key_is(&kv[i].key, "equity") ? 2u :
				               key_is(&kv[i].key, "buy_hold") ? 4u :
				               key_is(&kv[i].key, "n_models") ? 8u :
				               key_is(&kv[i].key, "fit_dates") ? 16u : 32u;
				if (extra_seen & bit) {
					snprintf(why, whylen, "duplicate key '%.*s'",
					         (int)kv[i].key.via.str.size, kv[i].key.via.str.ptr);
					return -1;
				}
				extra_seen |= bit;
			}
			continue;
		}
		if (fi == nfields)
			continue; /* "v", "t" or an unknown extra key: ignored */
		if (seen[fi]) {
			snprintf(why, whylen, "duplicate key '%s'", fields[fi].name);
			return -1;
		}
		seen[fi] = true;
		p = base + fields[fi].offset;
		switch (fields[fi].kind) {
		case F_I64:
			if (get_i64(val, p) < 0) {
				snprintf(why, whylen, "%s.%s: expected a 64-bit integer",
					 types[type].name, fields[fi].name);
				return -1;
			}
			break;
		case F_F64:
			if (get_f64(val, p) < 0) {
				snprintf(why, whylen, "%s.%s: expected a number", types[type].name,
					 fields[fi].name);
				return -1;
			}
			break;
		case F_U32:
			if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER || val->via.u64 > UINT32_MAX) {
				snprintf(why, whylen, "%s.%s: expected an unsigned 32-bit integer",
					 types[type].name, fields[fi].name);
				return -1;
			}
			*(uint32_t *)p = (uint32_t)val->via.u64;
			break;
		case F_STR:
			if (val->type != MSGPACK_OBJECT_STR) {
				snprintf(why, whylen, "%s.%s: expected a string", types[type].name,
					 fields[fi].name);
				return -1;
			}
			if (val->via.str.size >= fields[fi].size) {
				snprintf(why, whylen, "%s.%s: string of %u bytes exceeds %zu",
					 types[type].name, fields[fi].name, val->via.str.size,
					 fields[fi].size - 1);
				return -1;
			}
			if (memchr(val->via.str.ptr, '\0', val->via.str.size)) {
				snprintf(why, whylen, "%s.%s: string contains a NUL byte",
					 types[type].name, fields[fi].name);
				return -1;
			}
			memcpy(p, val->via.str.ptr, val->via.str.size);
			((char *)p)[val->via.str.size] = '\0';
			break;
		case F_I64X3:
			if (val->type != MSGPACK_OBJECT_ARRAY || val->via.array.size != 3) {
				snprintf(why, whylen, "%s.%s: expected an array of 3 integers",
					 types[type].name, fields[fi].name);
				return -1;
			}
			for (int j = 0; j < 3; j++) {
				if (get_i64(&val->via.array.ptr[j], (int64_t *)p + j) < 0) {
					snprintf(why, whylen, "%s.%s: expected an array of 3 integers",
						 types[type].name, fields[fi].name);
					return -1;
				}
			}
			break;
		}
	}
	for (size_t fi = 0; fi < nfields; fi++) {
		if (!seen[fi] && !fields[fi].optional) {
			snprintf(why, whylen, "%s: missing key '%s'", types[type].name, fields[fi].name);
			return -1;
		}
	}
	if (type == MSG_RESULT)
		return result_extra_check(&msg->u.result, (extra_seen & 1u) != 0, n_buy_hold,
		                          (extra_seen & 4u) != 0, n_weights, (extra_seen & 32u) != 0,
		                          why, whylen);
	return 0;
}

int proto_decoder_next(ProtoDecoder *dec, Msg *ret_msg, char *err, size_t errlen)
{
	const uint8_t *frame;
	const char *scan_why = NULL;
	char why[160];
	uint64_t len;
	size_t off = 0;
	msgpack_object root;
	msgpack_unpack_return ur;
	Msg msg;
	int r;

	if (dec->broken) {
		if (err && errlen)
			snprintf(err, errlen, "%s", dec->why);
		return -EPROTO;
	}
	if (dec->end - dec->start < 4)
		return 0;
	frame = dec->buf + dec->start;
	len = be(frame, 4);
	if (len > PROTO_MAX_FRAME)
		return fail(dec, err, errlen, "frame of %llu bytes exceeds %d",
			    (unsigned long long)len, PROTO_MAX_FRAME);
	if (len == 0)
		return fail(dec, err, errlen, "empty frame");
	if (dec->end - dec->start - 4 < len)
		return 0;
	frame += 4;
	if (scan_payload(frame, (size_t)len, &scan_why) < 0)
		return fail(dec, err, errlen, "%s", scan_why);
	ur = msgpack_unpack((const char *)frame, (size_t)len, &off, &dec->zone, &root);
	if (ur != MSGPACK_UNPACK_SUCCESS) {
		msgpack_zone_clear(&dec->zone);
		if (ur == MSGPACK_UNPACK_EXTRA_BYTES)
			return fail(dec, err, errlen, "trailing bytes after the message");
		/* The scan proved the structure complete and its allocations
		 * bounded, so what msgpack-c still refuses is nesting deeper
		 * than its parser stack (it reports that as NOMEM too). */
		return fail(dec, err, errlen, "msgpack nested too deeply (or out of memory)");
	}
	r = interpret(&root, &msg, why, sizeof why);
	msgpack_zone_clear(&dec->zone);
	if (r < 0)
		return fail(dec, err, errlen, "%s", why);
	dec->start += 4 + (size_t)len;
	if (dec->start == dec->end) {
		dec->start = dec->end = 0;
		if (dec->cap > 4 + PROTO_MAX_FRAME) {
			/* A large feed() is drained: give the extra back. */
			uint8_t *nb = realloc(dec->buf, 4 + PROTO_MAX_FRAME);
			if (nb) {
				dec->buf = nb;
				dec->cap = 4 + PROTO_MAX_FRAME;
			}
		}
	}
	*ret_msg = msg;
	return 1;
}
