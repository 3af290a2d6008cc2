/* Unit tests of common/proto.c: round trips of every message type with
 * extreme values, the wire format against an independent hand encoder,
 * streams split at every position and at random, every class of malformed
 * frame, and 100,000 randomly mutated frames that must never crash or
 * leak (run under --setup=asan for the leak half). Exits 1 on failure. */
#include "common/proto.h"
#include "common/rng.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- an independent msgpack writer, for hand-made frames ---- */

typedef struct Buf {
	uint8_t b[4 + PROTO_MAX_FRAME + 4096];
	size_t n;
} Buf;

static void put(Buf *w, const void *p, size_t n)
{
	if (w->n + n > sizeof w->b) {
		fprintf(stderr, "test buffer overflow\n");
		exit(2);
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void put1(Buf *w, uint8_t c) { put(w, &c, 1); }

static void put_be(Buf *w, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		put1(w, (uint8_t)(v >> (8 * i)));
}

static void mp_uint(Buf *w, uint64_t v)
{
	if (v < 128) put1(w, (uint8_t)v);
	else if (v <= 0xff) { put1(w, 0xcc); put_be(w, v, 1); }
	else if (v <= 0xffff) { put1(w, 0xcd); put_be(w, v, 2); }
	else if (v <= 0xffffffffu) { put1(w, 0xce); put_be(w, v, 4); }
	else { put1(w, 0xcf); put_be(w, v, 8); }
}

static void mp_int(Buf *w, int64_t v)
{
	if (v >= 0) mp_uint(w, (uint64_t)v);
	else if (v >= -32) put1(w, (uint8_t)(int8_t)v);
	else if (v >= -128) { put1(w, 0xd0); put_be(w, (uint64_t)v, 1); }
	else if (v >= -32768) { put1(w, 0xd1); put_be(w, (uint64_t)v, 2); }
	else if (v >= INT32_MIN) { put1(w, 0xd2); put_be(w, (uint64_t)v, 4); }
	else { put1(w, 0xd3); put_be(w, (uint64_t)v, 8); }
}

static void mp_f64(Buf *w, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	put1(w, 0xcb);
	put_be(w, u, 8);
}

static void mp_f32(Buf *w, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put1(w, 0xca);
	put_be(w, u, 4);
}

static void mp_strn(Buf *w, const char *s, size_t n)
{
	if (n < 32) put1(w, (uint8_t)(0xa0 | n));
	else if (n <= 0xff) { put1(w, 0xd9); put_be(w, n, 1); }
	else if (n <= 0xffff) { put1(w, 0xda); put_be(w, n, 2); }
	else { put1(w, 0xdb); put_be(w, n, 4); }
	put(w, s, n);
}

static void mp_str(Buf *w, const char *s) { mp_strn(w, s, strlen(s)); }

static void mp_map(Buf *w, uint32_t n)
{
	if (n < 16) put1(w, (uint8_t)(0x80 | n));
	else if (n <= 0xffff) { put1(w, 0xde); put_be(w, n, 2); }
	else { put1(w, 0xdf); put_be(w, n, 4); }
}

static void mp_array(Buf *w, uint32_t n)
{
	if (n < 16) put1(w, (uint8_t)(0x90 | n));
	else if (n <= 0xffff) { put1(w, 0xdc); put_be(w, n, 2); }
	else { put1(w, 0xdd); put_be(w, n, 4); }
}

/* Starts a frame: 4 bytes of length filled in by frame_end. */
static void frame_begin(Buf *w) { w->n = 0; put_be(w, 0, 4); }

static void frame_end(Buf *w)
{
	uint64_t len = w->n - 4;
	for (int i = 0; i < 4; i++)
		w->b[i] = (uint8_t)(len >> (8 * (3 - i)));
}

/* ---- decoding helpers ---- */

/* Feeds n bytes at once and takes one message: returns next()'s result. */
static int decode_one(const uint8_t *p, size_t n, Msg *out, char *err, size_t errlen)
{
	ProtoDecoder *dec = proto_decoder_new();
	int r;

	if (!dec) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	err[0] = '\0';
	r = proto_decoder_feed(dec, p, n);
	if (r == 0)
		r = proto_decoder_next(dec, out, err, errlen);
	proto_decoder_free(dec);
	return r;
}

static void expect_error(const Buf *w, const char *want_substring, const char *what)
{
	Msg m;
	char err[256];
	int r = decode_one(w->b, w->n, &m, err, sizeof err);

	CHECK(r == -EPROTO, "%s: decoded with %d (%s)", what, r, err);
	CHECK(strstr(err, want_substring) != NULL, "%s: message '%s' lacks '%s'", what, err,
	      want_substring);
}

static bool msg_equal(const Msg *a, const Msg *b)
{
	/* Messages are built from memset-0 structs, so bytes compare (this
	 * also compares doubles by bits: -0.0 and NaN payloads included). */
	return memcmp(a, b, sizeof *a) == 0;
}

/* ---- message samples ---- */

static void fill_str(char *dst, size_t size, size_t len, Rng *rng)
{
	for (size_t i = 0; i < len && i < size - 1; i++)
		dst[i] = (char)(1 + rng_below(rng, 255)); /* any byte but NUL */
}

static int64_t extreme_i64(Rng *rng)
{
	static const int64_t v[] = { 0, 1, -1, 127, 128, -32, -33, 255, 256, -128, -129, 65535,
				     65536, -32768, -32769, INT32_MAX, (int64_t)INT32_MAX + 1,
				     INT32_MIN, (int64_t)INT32_MIN - 1, UINT32_MAX,
				     INT64_MAX, INT64_MIN };
	if (rng_below(rng, 3) == 0)
		return (int64_t)rng_next(rng);
	return v[rng_below(rng, sizeof v / sizeof v[0])];
}

static double extreme_f64(Rng *rng)
{
	const double v[] = { 0.0, -0.0, 1.0, -1.5, DBL_MAX, -DBL_MAX, DBL_MIN, 4.9e-324,
			     INFINITY, -INFINITY, NAN, 1e-300, 0.1 };
	if (rng_below(rng, 3) == 0) {
		uint64_t u = rng_next(rng);
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
	return v[rng_below(rng, sizeof v / sizeof v[0])];
}

/* A random valid message of type t; strings of random length up to their
 * field's limit, integers and doubles from the extremes. */
static void make_msg(Msg *m, MsgType t, Rng *rng)
{
	memset(m, 0, sizeof *m);
	m->type = t;
#define S(f) fill_str(f, sizeof f, rng_below(rng, 2) ? sizeof f - 1 : rng_below(rng, sizeof f), rng)
#define I(f) (f = extreme_i64(rng))
#define D(f) (f = extreme_f64(rng))
	switch (t) {
	case MSG_HELLO:
		I(m->u.hello.pid); S(m->u.hello.ticker); S(m->u.hello.backend); S(m->u.hello.device);
		I(m->u.hello.batch_size); I(m->u.hello.total_chunks); I(m->u.hello.episodes_per_chunk);
		I(m->u.hello.skipped_rows);
		break;
	case MSG_PROGRESS:
		I(m->u.progress.chunk); I(m->u.progress.episode); I(m->u.progress.step);
		I(m->u.progress.done_episodes); I(m->u.progress.total_episodes);
		D(m->u.progress.loss); D(m->u.progress.epsilon); D(m->u.progress.reward);
		break;
	case MSG_HEARTBEAT:
		I(m->u.heartbeat.rss_current); I(m->u.heartbeat.rss_peak);
		I(m->u.heartbeat.bytes_replay); I(m->u.heartbeat.bytes_activations);
		I(m->u.heartbeat.bytes_weights); I(m->u.heartbeat.bytes_device);
		I(m->u.heartbeat.peak_replay); I(m->u.heartbeat.peak_activations);
		I(m->u.heartbeat.peak_weights); I(m->u.heartbeat.peak_device);
		break;
	case MSG_CHECKPOINT:
		S(m->u.checkpoint.path); m->u.checkpoint.checksum = (uint32_t)rng_next(rng);
		I(m->u.checkpoint.chunk); I(m->u.checkpoint.episode); I(m->u.checkpoint.done_episodes);
		break;
	case MSG_RESULT:
		S(m->u.result.model_path);
		m->u.result.checksum = rng_below(rng, 2) ? UINT32_MAX : (uint32_t)rng_next(rng);
		D(m->u.result.total_return); D(m->u.result.sharpe); D(m->u.result.max_drawdown);
		D(m->u.result.volatility); D(m->u.result.win_rate); I(m->u.result.trades);
		D(m->u.result.buy_hold_return); I(m->u.result.test_days);
		I(m->u.result.actions[0]); I(m->u.result.actions[1]); I(m->u.result.actions[2]);
		break;
	case MSG_ERROR:
		I(m->u.error.code); S(m->u.error.message);
		break;
	}
#undef S
#undef I
#undef D
}

static int encode(const Msg *m, uint8_t *buf, size_t cap)
{
	int n = proto_encode(m, buf, cap);
	if (n < 0) {
		fprintf(stderr, "encode %s failed: %d\n", proto_type_name(m->type), n);
		exit(2);
	}
	return n;
}

/* ---- tests ---- */

static void test_names(void)
{
	CHECK(strcmp(proto_type_name(MSG_HELLO), "hello") == 0, "hello");
	CHECK(strcmp(proto_type_name(MSG_PROGRESS), "progress") == 0, "progress");
	CHECK(strcmp(proto_type_name(MSG_HEARTBEAT), "heartbeat") == 0, "heartbeat");
	CHECK(strcmp(proto_type_name(MSG_CHECKPOINT), "checkpoint") == 0, "checkpoint");
	CHECK(strcmp(proto_type_name(MSG_RESULT), "result") == 0, "result");
	CHECK(strcmp(proto_type_name(MSG_ERROR), "error") == 0, "error");
	CHECK(strcmp(proto_type_name((MsgType)0), "?") == 0, "0");
	CHECK(strcmp(proto_type_name((MsgType)99), "?") == 0, "99");
}

/* The encoder's bytes equal an independent hand encoding. */
static void test_wire_format(void)
{
	Msg m;
	Buf w;
	uint8_t buf[1024];
	int n;

	memset(&m, 0, sizeof m);
	m.type = MSG_CHECKPOINT;
	strcpy(m.u.checkpoint.path, "/out/MSFT.ckpt");
	m.u.checkpoint.checksum = 0xdeadbeef;
	m.u.checkpoint.chunk = 3;
	m.u.checkpoint.episode = -200;
	m.u.checkpoint.done_episodes = 70000;
	n = proto_encode(&m, buf, sizeof buf);

	frame_begin(&w);
	mp_map(&w, 7);
	mp_str(&w, "v"); mp_int(&w, PROTO_VERSION);
	mp_str(&w, "t"); mp_str(&w, "checkpoint");
	mp_str(&w, "path"); mp_str(&w, "/out/MSFT.ckpt");
	mp_str(&w, "checksum"); mp_uint(&w, 0xdeadbeef);
	mp_str(&w, "chunk"); mp_int(&w, 3);
	mp_str(&w, "episode"); mp_int(&w, -200);
	mp_str(&w, "done_episodes"); mp_int(&w, 70000);
	frame_end(&w);
	CHECK(n == (int)w.n && memcmp(buf, w.b, w.n) == 0, "checkpoint bytes differ (%d vs %zu)", n,
	      w.n);
	CHECK(buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == n - 4, "prefix");

	/* Too small a buffer: -ENOSPC for every size short of the frame. */
	for (int cap = 0; cap < n; cap++)
		CHECK(proto_encode(&m, buf, (size_t)cap) == -ENOSPC, "cap %d", cap);
	CHECK(proto_encode(&m, buf, (size_t)n) == n, "exact cap");
	m.type = (MsgType)0;
	CHECK(proto_encode(&m, buf, sizeof buf) == -EINVAL, "type 0");
	m.type = (MsgType)7;
	CHECK(proto_encode(&m, buf, sizeof buf) == -EINVAL, "type 7");
}

static void test_round_trip(void)
{
	Rng rng;
	uint8_t buf[4096];
	char err[256];

	rng_seed(&rng, 1);
	for (int it = 0; it < 3000; it++) {
		Msg m, back;
		MsgType t = (MsgType)(MSG_HELLO + it % 6);
		int n, r;
		make_msg(&m, t, &rng);
		n = encode(&m, buf, sizeof buf);
		r = decode_one(buf, (size_t)n, &back, err, sizeof err);
		CHECK(r == 1, "%s round trip: %d %s", proto_type_name(t), r, err);
		CHECK(r == 1 && msg_equal(&m, &back), "%s round trip changed the message",
		      proto_type_name(t));
		if (check_failures)
			return;
	}

	/* Strings longer than their field are cut, never overflow. */
	{
		Msg m, back;
		int n;
		memset(&m, 'x', sizeof m);
		m.type = MSG_HELLO;
		m.u.hello.pid = 7;
		m.u.hello.batch_size = m.u.hello.total_chunks = m.u.hello.episodes_per_chunk = 1;
		n = encode(&m, buf, sizeof buf);
		CHECK(decode_one(buf, (size_t)n, &back, err, sizeof err) == 1, "cut: %s", err);
		CHECK(strlen(back.u.hello.ticker) == sizeof back.u.hello.ticker - 1, "ticker %zu",
		      strlen(back.u.hello.ticker));
		CHECK(strlen(back.u.hello.backend) == sizeof back.u.hello.backend - 1, "backend");
		CHECK(strlen(back.u.hello.device) == sizeof back.u.hello.device - 1, "device");
	}
}

/* A stream of many frames decodes the same however it is split. */
static void test_splits(void)
{
	enum { N = 60 };
	static Msg msgs[N];
	static uint8_t stream[N * 1024];
	size_t len = 0;
	Rng rng;
	char err[256];

	rng_seed(&rng, 2);
	for (int i = 0; i < N; i++) {
		make_msg(&msgs[i], (MsgType)(MSG_HELLO + rng_below(&rng, 6)), &rng);
		len += (size_t)encode(&msgs[i], stream + len, sizeof stream - len);
	}

	for (int mode = 0; mode < 3 + 500; mode++) {
		ProtoDecoder *dec = proto_decoder_new();
		size_t pos = 0;
		int got = 0;
		bool bad = false;
		while (pos < len && !bad) {
			size_t piece;
			if (mode == 0)
				piece = 1;                       /* a byte at a time */
			else if (mode == 1)
				piece = len;                     /* everything at once */
			else if (mode == 2)
				piece = 4;                       /* prefix-sized pieces */
			else
				piece = 1 + rng_below(&rng, rng_below(&rng, 2) ? 8 : 3000);
			if (piece > len - pos)
				piece = len - pos;
			CHECK(proto_decoder_feed(dec, stream + pos, piece) == 0, "feed");
			pos += piece;
			for (;;) {
				Msg m;
				int r = proto_decoder_next(dec, &m, err, sizeof err);
				if (r == 0)
					break;
				if (r != 1 || got >= N || !msg_equal(&m, &msgs[got])) {
					CHECK(0, "mode %d: message %d: r=%d %s", mode, got, r, err);
					bad = true;
					break;
				}
				got++;
			}
		}
		CHECK(bad || got == N, "mode %d: %d of %d messages", mode, got, N);
		CHECK(proto_decoder_pending(dec) == 0, "mode %d: %zu bytes pending", mode,
		      proto_decoder_pending(dec));
		proto_decoder_free(dec);
		if (check_failures)
			return;
	}

	/* Splitting one frame at every position: nothing before the last byte. */
	{
		uint8_t buf[1024];
		Msg m, back;
		int n;
		make_msg(&m, MSG_RESULT, &rng);
		n = encode(&m, buf, sizeof buf);
		for (int cut = 0; cut <= n; cut++) {
			ProtoDecoder *dec = proto_decoder_new();
			int r1, r2;
			proto_decoder_feed(dec, buf, (size_t)cut);
			r1 = proto_decoder_next(dec, &back, err, sizeof err);
			CHECK(cut == n ? r1 == 1 : r1 == 0, "cut %d: first next %d", cut, r1);
			CHECK(cut == n || proto_decoder_pending(dec) == (size_t)cut, "cut %d pending %zu",
			      cut, proto_decoder_pending(dec));
			proto_decoder_feed(dec, buf + cut, (size_t)(n - cut));
			r2 = proto_decoder_next(dec, &back, err, sizeof err);
			CHECK(cut == n ? r2 == 0 : (r2 == 1 && msg_equal(&m, &back)), "cut %d: second %d",
			      cut, r2);
			proto_decoder_free(dec);
		}
	}
}

/* A valid hello with the given keys dropped / replaced: builds the map by
 * hand so each test changes one thing. */
typedef struct HelloSpec {
	const char *skip;        /* key to leave out */
	int64_t version;
	const char *type;
	bool pid_as_string;
	size_t ticker_len;
	bool extra_unknown;      /* add an unknown key (must be ignored) */
	const char *skipped;     /* "skipped_rows": NULL = absent (an older writer),
	                          * "3", "-1" as integers, "s" as a string */
} HelloSpec;

static void build_hello(Buf *w, const HelloSpec *s)
{
	static const char *const keys[] = { "v", "t", "pid", "ticker", "backend", "device",
					    "batch_size", "total_chunks", "episodes_per_chunk" };
	uint32_t n = 0;
	char ticker[300];

	for (size_t i = 0; i < 9; i++)
		n += !(s->skip && strcmp(s->skip, keys[i]) == 0);
	frame_begin(w);
	mp_map(w, n + (s->extra_unknown ? 1 : 0) + (s->skipped ? 1 : 0));
	if (s->skipped) {
		mp_str(w, "skipped_rows");
		if (!strcmp(s->skipped, "s"))
			mp_str(w, "3");
		else
			mp_int(w, atoll(s->skipped));
	}
	if (s->extra_unknown) {
		/* One value of every kind the skipper sizes by its header, so a
		 * length read one byte off misplaces every key after it. */
		static const uint8_t raw[] = {
			0xc7, 2, 5, 'a', 'b',             /* ext 8: length, type, data */
			0xc8, 0, 3, 5, 'a', 'b', 'c',     /* ext 16 */
			0xc9, 0, 0, 0, 1, 5, 'a',         /* ext 32 */
			0xd4, 5, 1, 0xd5, 5, 1, 2,        /* fixext 1, 2 */
			0xd6, 5, 1, 2, 3, 4,              /* fixext 4 */
			0xd7, 5, 1, 2, 3, 4, 5, 6, 7, 8,  /* fixext 8 */
			0xd8, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
			0xc4, 2, 'x', 'y', 0xc5, 0, 1, 'x', 0xc6, 0, 0, 0, 1, 'x', /* bin 8/16/32 */
			0xd9, 1, 'x', 0xda, 0, 1, 'x', 0xdb, 0, 0, 0, 1, 'x',     /* str 8/16/32 */
			0xca, 0, 0, 0, 0, 0xcc, 1, 0xcd, 0, 1, 0xd1, 0, 1,        /* f32, u8, u16, i16 */
			0xcf, 0, 0, 0, 0, 0, 0, 0, 1,                             /* u64 */
			0xdc, 0, 1, 0xc0, 0xde, 0, 1, 0xa1, 'k', 0xc3,            /* array 16, map 16 */
		};
		mp_str(w, "future_field");
		mp_array(w, 23); mp_str(w, "x"); mp_f64(w, 1.0);
		put(w, raw, sizeof raw);
	}
	memset(ticker, 'T', sizeof ticker);
	for (size_t i = 0; i < 9; i++) {
		const char *k = keys[i];
		if (s->skip && strcmp(s->skip, k) == 0)
			continue;
		mp_str(w, k);
		if (!strcmp(k, "v")) mp_int(w, s->version);
		else if (!strcmp(k, "t")) mp_str(w, s->type);
		else if (!strcmp(k, "pid")) { if (s->pid_as_string) mp_str(w, "123"); else mp_int(w, 123); }
		else if (!strcmp(k, "ticker")) mp_strn(w, ticker, s->ticker_len);
		else if (!strcmp(k, "backend")) mp_str(w, "cpu");
		else if (!strcmp(k, "device")) mp_str(w, "cpu");
		else mp_int(w, 64);
	}
	frame_end(w);
}

static HelloSpec good_hello(void)
{
	HelloSpec s = { NULL, PROTO_VERSION, "hello", false, 4, false, NULL };
	return s;
}

static void test_malformed(void)
{
	static Buf w;
	HelloSpec s;
	Msg m;
	char err[256];

	/* The hand-built hello is accepted (so the failures below are about
	 * the one thing each changes), also with an unknown extra key. */
	s = good_hello();
	build_hello(&w, &s);
	CHECK(decode_one(w.b, w.n, &m, err, sizeof err) == 1, "good hello: %s", err);
	CHECK(m.type == MSG_HELLO && m.u.hello.pid == 123 && strcmp(m.u.hello.ticker, "TTTT") == 0,
	      "good hello fields");
	/* skipped_rows is optional: a hello without it (an older worker)
	 * reads as 0 skipped; with it, the number sent, whatever its sign
	 * (the supervisor checks the range); never a string. */
	CHECK(m.u.hello.skipped_rows == 0, "hello without skipped_rows: %lld",
	      (long long)m.u.hello.skipped_rows);
	s.skipped = "3";
	build_hello(&w, &s);
	CHECK(decode_one(w.b, w.n, &m, err, sizeof err) == 1 && m.u.hello.skipped_rows == 3,
	      "hello with skipped_rows 3: %s %lld", err, (long long)m.u.hello.skipped_rows);
	s.skipped = "-1";
	build_hello(&w, &s);
	CHECK(decode_one(w.b, w.n, &m, err, sizeof err) == 1 && m.u.hello.skipped_rows == -1,
	      "hello with skipped_rows -1: %s %lld", err, (long long)m.u.hello.skipped_rows);
	s.skipped = "s";
	build_hello(&w, &s);
	expect_error(&w, "hello.skipped_rows: expected a 64-bit integer", "skipped_rows as a string");
	s = good_hello();
	s.extra_unknown = true;
	build_hello(&w, &s);
	CHECK(decode_one(w.b, w.n, &m, err, sizeof err) == 1, "unknown key not ignored: %s", err);
	CHECK(m.u.hello.pid == 123 && strcmp(m.u.hello.ticker, "TTTT") == 0 &&
	      m.u.hello.batch_size == 64, "fields after the unknown key");
	s = good_hello();
	s.ticker_len = 63;
	build_hello(&w, &s);
	CHECK(decode_one(w.b, w.n, &m, err, sizeof err) == 1, "63-byte ticker: %s", err);

	s = good_hello(); s.ticker_len = 64; build_hello(&w, &s);
	expect_error(&w, "hello.ticker: string of 64 bytes exceeds 63", "overlong string");
	s = good_hello(); s.ticker_len = 300; build_hello(&w, &s);
	expect_error(&w, "exceeds 63", "overlong str16");
	s = good_hello(); s.version = 2; build_hello(&w, &s);
	expect_error(&w, "protocol version 2, expected 1", "wrong version");
	s = good_hello(); s.version = -1; build_hello(&w, &s);
	expect_error(&w, "protocol version -1", "negative version");
	s = good_hello(); s.skip = "v"; build_hello(&w, &s);
	expect_error(&w, "missing key 'v'", "no version");
	s = good_hello(); s.skip = "t"; build_hello(&w, &s);
	expect_error(&w, "missing key 't'", "no type");
	s = good_hello(); s.type = "goodbye"; build_hello(&w, &s);
	expect_error(&w, "unknown message type 'goodbye'", "unknown type");
	s = good_hello(); s.type = "Hello"; build_hello(&w, &s);
	expect_error(&w, "unknown message type", "type names are exact");
	s = good_hello(); s.skip = "pid"; build_hello(&w, &s);
	expect_error(&w, "hello: missing key 'pid'", "missing field");
	s = good_hello(); s.skip = "episodes_per_chunk"; build_hello(&w, &s);
	expect_error(&w, "missing key 'episodes_per_chunk'", "missing last field");
	s = good_hello(); s.pid_as_string = true; build_hello(&w, &s);
	expect_error(&w, "hello.pid: expected a 64-bit integer", "string for int");

	/* Types of values, one field at a time on a progress message. */
	{
		static const struct { int variant; int ok; const char *err; } cases[] = {
			{ 0, 1, NULL },   /* float64 loss */
			{ 1, 1, NULL },   /* float32 loss */
			{ 2, 1, NULL },   /* positive int for a double */
			{ 3, 1, NULL },   /* negative int for a double */
			{ 4, 0, "progress.loss: expected a number" },      /* string */
			{ 5, 0, "progress.loss: expected a number" },      /* nil */
			{ 6, 0, "progress.chunk: expected a 64-bit integer" }, /* double for int */
			{ 7, 0, "progress.chunk: expected a 64-bit integer" }, /* uint64 > INT64_MAX */
			{ 8, 1, NULL },   /* INT64_MIN chunk */
			{ 9, 0, "duplicate key 'chunk'" },
			{ 10, 0, "map key 0 is not a string" },
			{ 11, 0, "progress.chunk: expected a 64-bit integer" }, /* bool */
		};
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			int v = cases[i].variant;
			frame_begin(&w);
			mp_map(&w, 10 + (v == 9) + (v == 10));
			if (v == 10) { mp_int(&w, 1); mp_int(&w, 2); }
			mp_str(&w, "v"); mp_int(&w, 1);
			mp_str(&w, "t"); mp_str(&w, "progress");
			mp_str(&w, "chunk");
			if (v == 6) mp_f64(&w, 1.0);
			else if (v == 7) mp_uint(&w, (uint64_t)INT64_MAX + 1);
			else if (v == 8) mp_int(&w, INT64_MIN);
			else if (v == 11) put1(&w, 0xc3);
			else mp_int(&w, 1);
			if (v == 9) { mp_str(&w, "chunk"); mp_int(&w, 2); }
			mp_str(&w, "episode"); mp_int(&w, 2);
			mp_str(&w, "step"); mp_int(&w, -3);
			mp_str(&w, "done_episodes"); mp_int(&w, 4);
			mp_str(&w, "total_episodes"); mp_int(&w, 5);
			mp_str(&w, "loss");
			if (v == 0) mp_f64(&w, 0.25);
			else if (v == 1) mp_f32(&w, 0.25f);
			else if (v == 2) mp_int(&w, 300);
			else if (v == 3) mp_int(&w, -300);
			else if (v == 4) mp_str(&w, "0.25");
			else if (v == 5) put1(&w, 0xc0);
			else mp_f64(&w, 0.25);
			mp_str(&w, "epsilon"); mp_f64(&w, 0.5);
			mp_str(&w, "reward"); mp_f32(&w, -1.5f);
			frame_end(&w);
			if (cases[i].ok) {
				int r = decode_one(w.b, w.n, &m, err, sizeof err);
				double want = v == 2 ? 300 : v == 3 ? -300 : 0.25;
				CHECK(r == 1, "variant %d: %s", v, err);
				CHECK(r != 1 || (m.u.progress.loss == want && m.u.progress.reward == -1.5 &&
						 m.u.progress.step == -3 &&
						 m.u.progress.chunk == (v == 8 ? INT64_MIN : 1)),
				      "variant %d values", v);
			} else {
				char what[32];
				snprintf(what, sizeof what, "variant %d", v);
				expect_error(&w, cases[i].err, what);
			}
		}
	}

	/* checksum is an unsigned 32-bit integer; actions exactly 3 ints. */
	{
		for (int v = 0; v < 6; v++) {
			frame_begin(&w);
			mp_map(&w, 7);
			mp_str(&w, "v"); mp_int(&w, 1);
			mp_str(&w, "t"); mp_str(&w, "checkpoint");
			mp_str(&w, "path"); mp_str(&w, "p");
			mp_str(&w, "checksum");
			if (v == 0) mp_uint(&w, UINT32_MAX);
			else if (v == 1) mp_uint(&w, (uint64_t)UINT32_MAX + 1);
			else if (v == 2) mp_int(&w, -1);
			else mp_uint(&w, 5);
			mp_str(&w, "chunk"); mp_int(&w, 0);
			mp_str(&w, "episode"); mp_int(&w, 0);
			mp_str(&w, "done_episodes");
			if (v == 3) mp_str(&w, "x"); else mp_int(&w, 0);
			frame_end(&w);
			if (v == 0) {
				CHECK(decode_one(w.b, w.n, &m, err, sizeof err) == 1 &&
				      m.u.checkpoint.checksum == UINT32_MAX, "checksum max: %s", err);
			} else if (v <= 2) {
				expect_error(&w, "checkpoint.checksum: expected an unsigned 32-bit integer",
					     "checksum range");
			} else if (v == 3) {
				expect_error(&w, "checkpoint.done_episodes", "done_episodes type");
			}
		}
		Msg r;
		uint8_t buf[1024];
		int n;
		memset(&r, 0, sizeof r);
		r.type = MSG_RESULT;
		n = encode(&r, buf, sizeof buf);
		/* The encoder writes "actions" as a fixarray 0x93; make it 0x92
		 * with one element fewer by rewriting the tail by hand. */
		memcpy(w.b, buf, (size_t)n);
		w.n = (size_t)n;
		CHECK(w.b[w.n - 4] == 0x93, "actions is the last key (0x%02x)", w.b[w.n - 4]);
		w.b[w.n - 4] = 0x92;
		w.n--;
		frame_end(&w);
		expect_error(&w, "result.actions: expected an array of 3 integers", "actions of 2");
	}

	/* Not a map; trailing bytes; truncated object; garbage; nesting. */
	frame_begin(&w); mp_array(&w, 2); mp_int(&w, 1); mp_int(&w, 2); frame_end(&w);
	expect_error(&w, "payload is not a msgpack map", "array payload");
	frame_begin(&w); mp_int(&w, 5); frame_end(&w);
	expect_error(&w, "payload is not a msgpack map", "int payload");
	s = good_hello(); build_hello(&w, &s); put1(&w, 0xc0); frame_end(&w);
	expect_error(&w, "trailing bytes", "trailing nil in the frame");
	s = good_hello(); build_hello(&w, &s); w.n -= 3; frame_end(&w);
	expect_error(&w, "truncated", "map cut short inside the frame");
	frame_begin(&w); put1(&w, 0xc1); frame_end(&w);
	expect_error(&w, "0xc1", "reserved byte");
	frame_begin(&w); put1(&w, 0xdd); put_be(&w, 0xffffffffu, 4); frame_end(&w);
	expect_error(&w, "truncated", "array32 of 4G elements in 5 bytes");
	frame_begin(&w); put1(&w, 0xdf); put_be(&w, 0xffffffffu, 4); put1(&w, 0xa1); put1(&w, 'v');
	frame_end(&w);
	expect_error(&w, "truncated", "map32 of 4G pairs");
	frame_begin(&w); put1(&w, 0xdb); put_be(&w, 0xfffffff0u, 4); frame_end(&w);
	expect_error(&w, "truncated", "str32 of 4 GiB");
	frame_begin(&w);
	for (int i = 0; i < 5000; i++) put1(&w, 0x91);
	put1(&w, 0x00);
	frame_end(&w);
	expect_error(&w, "nested too deeply", "5000 nested arrays");
	{
		Rng rng;
		rng_seed(&rng, 3);
		frame_begin(&w);
		for (int i = 0; i < 1000; i++) put1(&w, (uint8_t)rng_next(&rng));
		frame_end(&w);
		Msg mm;
		CHECK(decode_one(w.b, w.n, &mm, err, sizeof err) == -EPROTO, "random garbage decoded");
	}

	/* Frame sizes: empty, the largest allowed, one over, far over. */
	{
		uint8_t zero[4] = { 0, 0, 0, 0 };
		uint8_t over[4] = { 0, 1, 0, 1 };          /* 65537 */
		uint8_t huge[4] = { 0x7f, 0xff, 0xff, 0xff };
		ProtoDecoder *dec;
		Msg mm;

		CHECK(decode_one(zero, 4, &mm, err, sizeof err) == -EPROTO, "empty frame");
		CHECK(strcmp(err, "empty frame") == 0, "%s", err);
		/* The error comes from the 4-byte prefix alone: no payload read. */
		CHECK(decode_one(over, 4, &mm, err, sizeof err) == -EPROTO, "65537");
		CHECK(strcmp(err, "frame of 65537 bytes exceeds 65536") == 0, "%s", err);
		CHECK(decode_one(huge, 4, &mm, err, sizeof err) == -EPROTO, "2 GiB");
		CHECK(strcmp(err, "frame of 2147483647 bytes exceeds 65536") == 0, "%s", err);

		/* Exactly PROTO_MAX_FRAME: a hello padded by an unknown bin key. */
		s = good_hello();
		s.extra_unknown = false;
		build_hello(&w, &s);
		size_t base = w.n - 4;
		/* map header grows from fixmap 9 to fixmap 10 (same size); the
		 * pad is key "pad" (4 bytes) + bin32 header (5) + data. */
		size_t data = PROTO_MAX_FRAME - base - 4 - 5;
		w.b[4] = 0x80 | 10;
		mp_str(&w, "pad");
		put1(&w, 0xc6);
		put_be(&w, data, 4);
		for (size_t i = 0; i < data; i++)
			put1(&w, 0xab);
		frame_end(&w);
		CHECK(w.n - 4 == PROTO_MAX_FRAME, "padding math: %zu", w.n - 4);
		CHECK(decode_one(w.b, w.n, &mm, err, sizeof err) == 1, "max frame: %s", err);
		put1(&w, 0xc0); /* ... and one byte more (a trailing nil) */
		frame_end(&w);
		CHECK(decode_one(w.b, w.n, &mm, err, sizeof err) == -EPROTO, "max+1");
		CHECK(strcmp(err, "frame of 65537 bytes exceeds 65536") == 0, "%s", err);

		/* Truncated frame: pending > 0 and next() says "need more". */
		s = good_hello();
		build_hello(&w, &s);
		dec = proto_decoder_new();
		proto_decoder_feed(dec, w.b, w.n - 1);
		CHECK(proto_decoder_next(dec, &mm, err, sizeof err) == 0, "truncated frame decoded");
		CHECK(proto_decoder_pending(dec) == w.n - 1, "pending %zu", proto_decoder_pending(dec));
		proto_decoder_free(dec);
		proto_decoder_free(NULL);
	}

	/* After an error the stream stays broken, good frames or not. */
	{
		ProtoDecoder *dec = proto_decoder_new();
		uint8_t good[1024];
		Msg mm;
		int n;
		Rng rng;
		rng_seed(&rng, 4);
		make_msg(&mm, MSG_ERROR, &rng);
		n = encode(&mm, good, sizeof good);
		proto_decoder_feed(dec, good, (size_t)n);
		s = good_hello(); s.version = 9; build_hello(&w, &s);
		proto_decoder_feed(dec, w.b, w.n);
		proto_decoder_feed(dec, good, (size_t)n);
		CHECK(proto_decoder_next(dec, &mm, err, sizeof err) == 1, "first frame: %s", err);
		CHECK(proto_decoder_next(dec, &mm, err, sizeof err) == -EPROTO, "bad version");
		err[0] = '\0';
		CHECK(proto_decoder_next(dec, &mm, err, sizeof err) == -EPROTO, "sticky");
		CHECK(strstr(err, "protocol version 9") != NULL, "sticky message: %s", err);
		CHECK(proto_decoder_feed(dec, good, (size_t)n) == -EPROTO, "feed after error");
		CHECK(proto_decoder_next(dec, &mm, NULL, 0) == -EPROTO, "sticky, no err buffer");
		proto_decoder_free(dec);
	}
}

/* 100,000 mutated frames: never a crash, a decoded message is always
 * well-formed (known type, terminated strings) and re-encodes to a frame
 * that decodes to the same message. */
static void test_mutations(void)
{
	enum { SEEDS = 32 };
	static uint8_t seeds[SEEDS][1024];
	static int seed_len[SEEDS];
	static uint8_t buf[8192];
	Rng rng;
	char err[256];
	int decoded = 0, rejected = 0, incomplete = 0;

	rng_seed(&rng, 5);
	for (int i = 0; i < SEEDS; i++) {
		Msg m;
		make_msg(&m, (MsgType)(MSG_HELLO + i % 6), &rng);
		seed_len[i] = encode(&m, seeds[i], sizeof seeds[i]);
	}
	for (int it = 0; it < 100000; it++) {
		int s = (int)rng_below(&rng, SEEDS);
		size_t n = (size_t)seed_len[s];
		int muts = 1 + (int)rng_below(&rng, 4);
		ProtoDecoder *dec;

		memcpy(buf, seeds[s], n);
		for (int k = 0; k < muts; k++) {
			size_t at = rng_below(&rng, n);
			switch (rng_below(&rng, 7)) {
			case 0: /* flip a bit */
				buf[at] ^= (uint8_t)(1u << rng_below(&rng, 8));
				break;
			case 1: /* random byte */
				buf[at] = (uint8_t)rng_next(&rng);
				break;
			case 2: /* interesting byte */ {
				static const uint8_t v[] = { 0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
							     0xc0, 0xc1, 0xc4, 0xc6, 0xca, 0xcb, 0xcf,
							     0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
							     0xff };
				buf[at] = v[rng_below(&rng, sizeof v)];
				break;
			}
			case 3: /* delete bytes */ {
				size_t k2 = 1 + rng_below(&rng, 8);
				if (at + k2 > n)
					k2 = n - at;
				memmove(buf + at, buf + at + k2, n - at - k2);
				n -= k2;
				break;
			}
			case 4: /* insert random bytes */ {
				size_t k2 = 1 + rng_below(&rng, 8);
				if (n + k2 > sizeof buf)
					break;
				memmove(buf + at + k2, buf + at, n - at);
				for (size_t j = 0; j < k2; j++)
					buf[at + j] = (uint8_t)rng_next(&rng);
				n += k2;
				break;
			}
			case 5: /* fix up the length prefix to the new size */ {
				size_t len = n - 4;
				buf[0] = (uint8_t)(len >> 24); buf[1] = (uint8_t)(len >> 16);
				buf[2] = (uint8_t)(len >> 8); buf[3] = (uint8_t)len;
				break;
			}
			default: /* splice another seed's tail */ {
				int o = (int)rng_below(&rng, SEEDS);
				size_t from = rng_below(&rng, (uint64_t)seed_len[o]);
				size_t k2 = (size_t)seed_len[o] - from;
				if (at + k2 > sizeof buf)
					k2 = sizeof buf - at;
				memcpy(buf + at, seeds[o] + from, k2);
				n = at + k2;
				break;
			}
			}
			if (n < 1)
				n = 1;
		}
		/* Usually make the prefix honest, so the payload is parsed. */
		if (rng_below(&rng, 4) != 0 && n >= 4) {
			size_t len = n - 4;
			buf[0] = (uint8_t)(len >> 24); buf[1] = (uint8_t)(len >> 16);
			buf[2] = (uint8_t)(len >> 8); buf[3] = (uint8_t)len;
		}
		dec = proto_decoder_new();
		size_t pos = 0;
		int last = 0;
		while (pos < n) {
			size_t piece = 1 + rng_below(&rng, n - pos);
			int r = proto_decoder_feed(dec, buf + pos, piece);
			pos += piece;
			if (r < 0)
				break;
			for (;;) {
				Msg m, again;
				uint8_t re[4096];
				int rn;
				last = proto_decoder_next(dec, &m, err, sizeof err);
				if (last != 1)
					break;
				decoded++;
				/* Well-formed: known type, strings terminated. */
				CHECK(m.type >= MSG_HELLO && m.type <= MSG_ERROR, "type %d", (int)m.type);
				rn = proto_encode(&m, re, sizeof re);
				CHECK(rn > 0, "re-encode %d", rn);
				if (rn > 0) {
					CHECK(decode_one(re, (size_t)rn, &again, err, sizeof err) == 1 &&
					      msg_equal(&m, &again), "re-decode differs: %s", err);
				}
			}
			if (last < 0)
				break;
		}
		if (last < 0)
			rejected++;
		else if (proto_decoder_pending(dec) > 0)
			incomplete++;
		proto_decoder_free(dec);
		if (check_failures > 20)
			break;
	}
	printf("mutations: %d messages decoded, %d streams rejected, %d left incomplete\n", decoded,
	       rejected, incomplete);
	CHECK(rejected > 50000, "too few rejections (%d): the mutator is not biting", rejected);
	CHECK(decoded > 0, "no mutated frame decoded at all");
}

int main(void)
{
	test_names();
	test_wire_format();
	test_round_trip();
	test_splits();
	test_malformed();
	test_mutations();
	return check_done("proto");
}
