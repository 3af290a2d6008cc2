/* Issue 10: the result frame's optional curves (equity, buy-and-hold,
 * ensemble weights) round-trip by value, stay optional (a frame without
 * them decodes with none), come whole or not at all, and respect their
 * limits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "check.h"

static Msg msg, back;
static uint8_t buf[4 + PROTO_MAX_FRAME];

static void base_result(void)
{
	memset(&msg, 0, sizeof msg);
	msg.type = MSG_RESULT;
	snprintf(msg.u.result.model_path, sizeof msg.u.result.model_path, "/m/X.model");
	msg.u.result.checksum = 7;
	msg.u.result.test_days = 3;
}

/* Decodes len bytes of buf; returns what proto_decoder_next returned. */
static int decode(int len, char *err, size_t errlen)
{
	ProtoDecoder *d = proto_decoder_new();
	proto_decoder_feed(d, buf, (size_t)len);
	int r = proto_decoder_next(d, &back, err, errlen);
	proto_decoder_free(d);
	return r;
}

/* Renames one key in an encoded frame (same length), so the frame lacks it. */
static void rename_key(int len, const char *from, const char *to)
{
	size_t n = strlen(from);
	/* The key as msgpack packs it: a fixstr header, then the bytes. */
	for (int i = 0; i + 1 + (int)n <= len; i++)
		if (buf[i] == (0xa0 | n) && !memcmp(buf + i + 1, from, n)) {
			memcpy(buf + i + 1, to, n);
			return;
		}
	CHECK(0, "key %s not in the frame", from);
}

int main(void)
{
	char err[200];
	int len, r;

	/* Without curves: as before. */
	base_result();
	len = proto_encode(&msg, buf, sizeof buf);
	CHECK(len > 0, "encode %d", len);
	r = decode(len, err, sizeof err);
	CHECK(r == 1 && back.u.result.n_curve == 0 && back.u.result.n_fits == 0, "plain: %d %s", r, err);

	/* With curves, at the limits: the largest frame still fits. */
	base_result();
	MsgResult *x = &msg.u.result;
	x->n_curve = PROTO_MAX_CURVE;
	x->curve_step = 2;
	for (int k = 0; k < x->n_curve; k++) {
		x->equity[k] = 1.0f + 0.001f * (float)k;
		x->buy_hold[k] = 1.0f - 0.0001f * (float)k;
	}
	x->n_fits = PROTO_MAX_WEIGHTS / 8;
	x->n_models = 8;
	for (int f = 0; f < x->n_fits; f++) {
		x->fit_dates[f] = 20200101 + f;
		for (int m = 0; m < 8; m++)
			x->weights[f * 8 + m] = (float)(m + 1) / 36.0f;
	}
	len = proto_encode(&msg, buf, sizeof buf);
	CHECK(len > 0 && len <= 4 + PROTO_MAX_FRAME, "encode with curves: %d", len);
	r = decode(len, err, sizeof err);
	CHECK(r == 1, "decode with curves: %d %s", r, err);
	const MsgResult *y = &back.u.result;
	CHECK(y->n_curve == PROTO_MAX_CURVE && y->curve_step == 2 &&
	      !memcmp(y->equity, x->equity, sizeof x->equity) &&
	      !memcmp(y->buy_hold, x->buy_hold, sizeof x->buy_hold), "curve round trip");
	CHECK(y->n_fits == x->n_fits && y->n_models == 8 &&
	      !memcmp(y->fit_dates, x->fit_dates, sizeof(int32_t) * (size_t)x->n_fits) &&
	      !memcmp(y->weights, x->weights, sizeof(float) * (size_t)(x->n_fits * 8)), "weights round trip");
	CHECK(y->checksum == 7 && y->test_days == 3 && !strcmp(y->model_path, "/m/X.model"), "fixed fields");

	/* Over the limits: refused by the encoder. */
	x->n_curve = PROTO_MAX_CURVE + 1;
	CHECK(proto_encode(&msg, buf, sizeof buf) == -EINVAL, "n_curve over the limit");
	x->n_curve = 4;
	x->n_fits = PROTO_MAX_FITS + 1;
	CHECK(proto_encode(&msg, buf, sizeof buf) == -EINVAL, "n_fits over the limit");
	x->n_fits = 200;
	x->n_models = 11;  /* 2200 weights */
	CHECK(proto_encode(&msg, buf, sizeof buf) == -EINVAL, "weights over the limit");

	/* Parts missing: refused by the decoder, with the reason. */
	x->n_fits = 3;
	x->n_models = 2;
	static const char *const cut[][3] = {
		{ "buy_hold", "buy_hXld", "equity (4), buy_hold (0)" },
		{ "curve_step", "curve_stXp", "curve_step must come together" },
		{ "weights", "weighXs", "weights (0) must be fit_dates (3) x n_models (2)" },
		{ "n_models", "n_modeXs", "n_models (0)" },
	};
	for (int i = 0; i < 4; i++) {
		len = proto_encode(&msg, buf, sizeof buf);
		rename_key(len, cut[i][0], cut[i][1]);
		r = decode(len, err, sizeof err);
		CHECK(r == -EPROTO && strstr(err, cut[i][2]), "without %s: %d '%s'", cut[i][0], r, err);
	}
	/* A negative fit date is no yyyymmdd date: refused by the decoder. */
	x->fit_dates[1] = -20200102;
	len = proto_encode(&msg, buf, sizeof buf);
	CHECK(len > 0, "encode with a negative fit date: %d", len);
	r = decode(len, err, sizeof err);
	CHECK(r == -EPROTO && strstr(err, "result.fit_dates: expected yyyymmdd integers"),
	      "a negative fit date: %d '%s'", r, err);
	x->fit_dates[1] = 20200102;
	return check_done("proto_curves");
}
