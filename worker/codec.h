/* The codec every module packs and unpacks its state with (model files and
 * checkpoints, docs/model-format.md). Only this module and common/proto.c
 * know msgpack.
 *
 * Encoder: writes msgpack to a sink as it goes (no buffering), so the
 * framing (modelio.c) can checksum every byte and append its own trailer.
 * Integers take msgpack's smallest encoding, doubles are float64, float
 * arrays are bin of little-endian float32. A non-finite double or float
 * is still written, but the first one is noted with the key it came under
 * (enc_nonfinite), so that the framing refuses to keep such a file.
 *
 * Decoder: a bounded view of one msgpack document in memory. Every length
 * and element count is checked against the bytes that remain before the
 * document is decoded (a 5-byte array header cannot make it allocate
 * gigabytes). A Dec is one value in it and the path of keys that leads
 * there ("runs.agent.online"; array elements keep their array's path).
 * Getters are typed and exact: a missing key, a value of another type, a
 * bin of another size or a non-finite number records the first error of
 * the document, naming the document and the field, and returns 0. An
 * unpack function reads all its fields, then checks dec_failed once. */
#ifndef TV_CODEC_H
#define TV_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* ---- encoder ---- */

/* Receives the encoded bytes; returns 0, or -1 to fail the encoder. */
typedef int (*EncSink)(void *ctx, const void *buf, size_t len);

typedef struct Enc {
	EncSink sink;
	void *ctx;
	int failed;             /* a sink call failed */
	const char *key;        /* the last key written */
	const char *nonfinite;  /* the key of the first non-finite number, or NULL */
} Enc;

void enc_init(Enc *e, EncSink sink, void *ctx);
void enc_map(Enc *e, size_t n_entries);
void enc_array(Enc *e, size_t n);
void enc_key(Enc *e, const char *key);
void enc_str(Enc *e, const char *s);
void enc_int(Enc *e, int64_t v);
void enc_uint(Enc *e, uint64_t v);
void enc_nil(Enc *e);
void enc_double(Enc *e, double v);
/* A double that may be +inf (an LSTM chunk's best loss before its first
 * epoch); NaN and -inf are noted like enc_double's. */
void enc_double_or_inf(Enc *e, double v);
void enc_floats(Enc *e, const float *p, size_t n);
void enc_bin(Enc *e, const void *p, size_t len);
/* An array of n uint64 (a generator's state). */
void enc_u64s(Enc *e, const uint64_t *p, size_t n);

/* ---- decoder ---- */

typedef struct DecDoc DecDoc;

typedef struct Dec {
	DecDoc *doc;
	const void *obj;        /* the value, NULL when missing */
	char path[96];
} Dec;

/* Decodes buf[0, len) (which must be exactly one msgpack map) into *ret and
 * sets *root to it. name (the file) prefixes every message; what ("model",
 * "checkpoint") says what the bytes should be. Errors go to err (which
 * also receives the document's later errors, until dec_close): -EINVAL or
 * -ENOMEM. The document points into buf: keep buf until dec_close. */
int dec_open(DecDoc **ret, Dec *root, const void *buf, size_t len, const char *name,
	     const char *what, char *err, size_t errlen);
void dec_close(DecDoc *doc);

/* The value of key in map (obj NULL when map is no map or has no key). */
Dec dec_key(const Dec *map, const char *key);
int dec_has(const Dec *map, const char *key);
/* Element i of an array (i < dec_as_array's count). */
Dec dec_at(const Dec *array, size_t i);

/* Typed getters of a value (see the header comment for errors). */
int64_t dec_as_int(const Dec *v);
uint64_t dec_as_u64(const Dec *v);
double dec_as_double(const Dec *v);             /* finite */
double dec_as_double_or_inf(const Dec *v);      /* finite or +inf */
int dec_as_floats(const Dec *v, float *dst, size_t n);   /* exactly n, all finite */
int dec_as_bin(const Dec *v, void *dst, size_t len);     /* exactly len bytes */
int dec_as_str(const Dec *v, const char **ret, size_t *ret_len);
long dec_as_array(const Dec *v);                /* its count, or -1 */
int dec_as_map(const Dec *v);                   /* 0 when a map, else -1 */
int dec_is_nil(const Dec *v);

/* The same, by key of a map. */
int64_t dec_int(const Dec *map, const char *key);
uint64_t dec_u64(const Dec *map, const char *key);
double dec_double(const Dec *map, const char *key);
double dec_double_or_inf(const Dec *map, const char *key);
int dec_floats(const Dec *map, const char *key, float *dst, size_t n);
int dec_bin(const Dec *map, const char *key, void *dst, size_t len);
int dec_str(const Dec *map, const char *key, const char **ret, size_t *ret_len);
/* 1 when key holds the string s, 0 otherwise (no error recorded). */
int dec_str_is(const Dec *map, const char *key, const char *s);
Dec dec_map(const Dec *map, const char *key);   /* a map, else an error */
Dec dec_array(const Dec *map, const char *key, long *ret_n);   /* *ret_n -1 on error */
/* An array of exactly n uint64. */
int dec_u64s(const Dec *map, const char *key, uint64_t *dst, size_t n);

/* Errors. dec_invalid records "NAME: field 'PATH.key' WHY" (key NULL:
 * the value's own path), dec_fail "NAME: MESSAGE"; both only when no error
 * is recorded yet, and return -EINVAL. dec_fail_now replaces any earlier
 * error (a reason that explains the others, such as another format). */
int dec_invalid(const Dec *v, const char *key, const char *why);
int dec_fail(const Dec *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dec_fail_now(const Dec *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dec_failed(const Dec *v);
const char *dec_name(const Dec *v);

#endif
