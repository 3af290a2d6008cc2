#include "codec.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoder ---- */

static int enc_write(void *data, const char *buf, size_t len)
{
	Enc *e = data;

	if (e->sink(e->ctx, buf, len) < 0) {
		e->failed = 1;
		return -1;
	}
	return 0;
}

/* msgpack's packer holds nothing but the sink, so each call makes one. */
#define PK(e) msgpack_packer pk = { (e), enc_write }

void enc_init(Enc *e, EncSink sink, void *ctx)
{
	memset(e, 0, sizeof(*e));
	e->sink = sink;
	e->ctx = ctx;
}

void enc_map(Enc *e, size_t n_entries)
{
	PK(e);
	msgpack_pack_map(&pk, n_entries);
}

void enc_array(Enc *e, size_t n)
{
	PK(e);
	msgpack_pack_array(&pk, n);
}

void enc_str(Enc *e, const char *s)
{
	size_t n = strlen(s);
	PK(e);

	msgpack_pack_str(&pk, n);
	msgpack_pack_str_body(&pk, s, n);
}

void enc_key(Enc *e, const char *key)
{
	e->key = key;
	enc_str(e, key);
}

void enc_int(Enc *e, int64_t v)
{
	PK(e);
	msgpack_pack_int64(&pk, v);
}

void enc_uint(Enc *e, uint64_t v)
{
	PK(e);
	msgpack_pack_uint64(&pk, v);
}

void enc_nil(Enc *e)
{
	PK(e);
	msgpack_pack_nil(&pk);
}

static void note_nonfinite(Enc *e)
{
	if (!e->nonfinite)
		e->nonfinite = e->key ? e->key : "";
}

void enc_double(Enc *e, double v)
{
	PK(e);
	if (!isfinite(v))
		note_nonfinite(e);
	msgpack_pack_double(&pk, v);
}

void enc_double_or_inf(Enc *e, double v)
{
	PK(e);
	if (isnan(v) || v == -INFINITY)
		note_nonfinite(e);
	msgpack_pack_double(&pk, v);
}

void enc_bin(Enc *e, const void *p, size_t len)
{
	PK(e);
	msgpack_pack_bin(&pk, len);
	msgpack_pack_bin_body(&pk, p, len);
}

void enc_floats(Enc *e, const float *p, size_t n)
{
	for (size_t i = 0; i < n && !e->nonfinite; i++)
		if (!isfinite(p[i]))
			note_nonfinite(e);
	enc_bin(e, p, n * sizeof(float));
}

void enc_u64s(Enc *e, const uint64_t *p, size_t n)
{
	enc_array(e, n);
	for (size_t i = 0; i < n; i++)
		enc_uint(e, p[i]);
}

/* ---- decoder ---- */

struct DecDoc {
	const char *name;
	const char *what;
	char *err;
	size_t errlen;
	msgpack_unpacked un;
};

/* Big-endian unsigned of k bytes. */
static uint64_t be(const unsigned char *p, int k)
{
	uint64_t v = 0;

	for (int i = 0; i < k; i++)
		v = v << 8 | p[i];
	return v;
}

/* Walks the msgpack encoding of b[0, len) without building it: every
 * length and every container's element count must fit in the bytes that
 * remain (an element takes at least one byte), so the unpacker never
 * allocates for more objects than the input could hold. Returns 0 when b
 * is exactly one well-formed object, -1 otherwise. */
static int msgpack_bounded(const unsigned char *b, size_t len)
{
	size_t pos = 0;
	uint64_t need = 1;     /* objects still to read */

	while (need > 0) {
		unsigned c;
		uint64_t skip = 0, more = 0;

		if (pos >= len)
			return -1;
		c = b[pos++];
		need--;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
			skip = 0;
		else if (c <= 0x8f)
			more = 2 * (uint64_t)(c & 0x0f);
		else if (c <= 0x9f)
			more = c & 0x0f;
		else if (c <= 0xbf)
			skip = c & 0x1f;
		else if (c == 0xc1)
			return -1;
		else {
			/* c4..df: a length or count of k bytes, then the body. */
			static const signed char lenbytes[] = {
				1, 2, 4,          /* c4-c6 bin */
				1, 2, 4,          /* c7-c9 ext (+1 type byte) */
				-4, -8,           /* ca-cb float */
				-1, -2, -4, -8,   /* cc-cf uint */
				-1, -2, -4, -8,   /* d0-d3 int */
				-2, -3, -5, -9, -17, /* d4-d8 fixext (type + data) */
				1, 2, 4,          /* d9-db str */
				2, 4,             /* dc-dd array */
				2, 4,             /* de-df map */
			};
			int k = lenbytes[c - 0xc4];
			uint64_t n;

			if (k < 0) {
				skip = (uint64_t)-k;
			} else {
				if (len - pos < (size_t)k)
					return -1;
				n = be(b + pos, k);
				pos += (size_t)k;
				if (c >= 0xdc)
					more = c >= 0xde ? 2 * n : n;
				else
					skip = n + (c >= 0xc7 && c <= 0xc9);
			}
		}
		if (skip > len - pos)
			return -1;
		pos += (size_t)skip;
		need += more;
		if (need > len - pos)
			return -1;
	}
	return pos == len ? 0 : -1;
}

int dec_open(DecDoc **ret, Dec *root, const void *buf, size_t len, const char *name,
	     const char *what, char *err, size_t errlen)
{
	DecDoc *doc;
	size_t off = 0;

	*ret = NULL;
	memset(root, 0, sizeof(*root));
	if (msgpack_bounded(buf, len) < 0) {
		snprintf(err, errlen, "%s: corrupt %s: a length or count runs past the end of the file",
			 name, what);
		return -EINVAL;
	}
	doc = calloc(1, sizeof(*doc));
	if (!doc) {
		snprintf(err, errlen, "%s: out of memory decoding the %s", name, what);
		return -ENOMEM;
	}
	doc->name = name;
	doc->what = what;
	doc->err = err;
	doc->errlen = errlen;
	msgpack_unpacked_init(&doc->un);
	if (msgpack_unpack_next(&doc->un, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || doc->un.data.type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "%s: corrupt %s: not a msgpack map", name, what);
		dec_close(doc);
		return -EINVAL;
	}
	err[0] = '\0';
	root->doc = doc;
	root->obj = &doc->un.data;
	*ret = doc;
	return 0;
}

void dec_close(DecDoc *doc)
{
	if (!doc)
		return;
	msgpack_unpacked_destroy(&doc->un);
	free(doc);
}

static const msgpack_object *obj(const Dec *v)
{
	return v->obj;
}

static void set_path(Dec *child, const Dec *parent, const char *key)
{
	if (parent->path[0])
		snprintf(child->path, sizeof(child->path), "%s.%s", parent->path, key);
	else
		snprintf(child->path, sizeof(child->path), "%s", key);
}

Dec dec_key(const Dec *map, const char *key)
{
	const msgpack_object *m = obj(map);
	size_t klen = strlen(key);
	Dec v;

	v.doc = map->doc;
	v.obj = NULL;
	set_path(&v, map, key);
	if (!m || m->type != MSGPACK_OBJECT_MAP)
		return v;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    !memcmp(k->via.str.ptr, key, klen)) {
			v.obj = &m->via.map.ptr[i].val;
			break;
		}
	}
	return v;
}

int dec_has(const Dec *map, const char *key)
{
	return dec_key(map, key).obj != NULL;
}

Dec dec_at(const Dec *array, size_t i)
{
	const msgpack_object *a = obj(array);
	Dec v = *array;

	v.obj = a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size ?
		&a->via.array.ptr[i] : NULL;
	return v;
}

/* ---- errors ---- */

static int verror(const Dec *v, int replace, const char *fmt, va_list ap)
{
	DecDoc *d = v->doc;
	int n;

	if (!d || (d->err[0] && !replace))
		return -EINVAL;
	n = snprintf(d->err, d->errlen, "%s: ", d->name);
	if (n >= 0 && (size_t)n < d->errlen)
		vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
	return -EINVAL;
}

int dec_fail(const Dec *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(v, 0, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int dec_fail_now(const Dec *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(v, 1, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int dec_invalid(const Dec *v, const char *key, const char *why)
{
	if (key) {
		Dec c = dec_key(v, key);

		return dec_fail(v, "field '%s' %s", c.path, why);
	}
	return dec_fail(v, "field '%s' %s", v->path, why);
}

int dec_failed(const Dec *v)
{
	return !v->doc || v->doc->err[0] != '\0';
}

const char *dec_name(const Dec *v)
{
	return v->doc ? v->doc->name : "";
}

static int wrong(const Dec *v)
{
	return dec_invalid(v, NULL, "missing or of the wrong type");
}

static int not_finite(const Dec *v)
{
	return dec_invalid(v, NULL, "holds a non-finite number");
}

/* ---- typed getters ---- */

int64_t dec_as_int(const Dec *v)
{
	const msgpack_object *o = obj(v);

	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		return (int64_t)o->via.u64;
	if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return o->via.i64;
	wrong(v);
	return 0;
}

uint64_t dec_as_u64(const Dec *v)
{
	const msgpack_object *o = obj(v);

	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->via.u64;
	wrong(v);
	return 0;
}

double dec_as_double_or_inf(const Dec *v)
{
	const msgpack_object *o = obj(v);

	if (!o || (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32)) {
		wrong(v);
		return 0.0;
	}
	if (isnan(o->via.f64) || o->via.f64 == -INFINITY) {
		not_finite(v);
		return 0.0;
	}
	return o->via.f64;
}

double dec_as_double(const Dec *v)
{
	double x = dec_as_double_or_inf(v);

	if (x == INFINITY) {
		not_finite(v);
		return 0.0;
	}
	return x;
}

int dec_as_bin(const Dec *v, void *dst, size_t len)
{
	const msgpack_object *o = obj(v);

	if (!o || o->type != MSGPACK_OBJECT_BIN)
		return wrong(v);
	if (o->via.bin.size != len) {
		char why[96];

		snprintf(why, sizeof(why), "has %u bytes, expected %zu", o->via.bin.size, len);
		return dec_invalid(v, NULL, why);
	}
	if (len)
		memcpy(dst, o->via.bin.ptr, len);
	return 0;
}

int dec_as_floats(const Dec *v, float *dst, size_t n)
{
	if (dec_as_bin(v, dst, n * sizeof(float)) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(dst[i]))
			return not_finite(v);
	return 0;
}

int dec_as_str(const Dec *v, const char **ret, size_t *ret_len)
{
	const msgpack_object *o = obj(v);

	*ret = "";
	*ret_len = 0;
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return wrong(v);
	*ret = o->via.str.ptr;
	*ret_len = o->via.str.size;
	return 0;
}

long dec_as_array(const Dec *v)
{
	const msgpack_object *o = obj(v);

	if (!o || o->type != MSGPACK_OBJECT_ARRAY) {
		wrong(v);
		return -1;
	}
	return (long)o->via.array.size;
}

int dec_as_map(const Dec *v)
{
	const msgpack_object *o = obj(v);

	return o && o->type == MSGPACK_OBJECT_MAP ? 0 : wrong(v);
}

int dec_is_nil(const Dec *v)
{
	const msgpack_object *o = obj(v);

	return o && o->type == MSGPACK_OBJECT_NIL;
}

/* ---- by key ---- */

int64_t dec_int(const Dec *map, const char *key)
{
	Dec v = dec_key(map, key);

	return dec_as_int(&v);
}

uint64_t dec_u64(const Dec *map, const char *key)
{
	Dec v = dec_key(map, key);

	return dec_as_u64(&v);
}

double dec_double(const Dec *map, const char *key)
{
	Dec v = dec_key(map, key);

	return dec_as_double(&v);
}

double dec_double_or_inf(const Dec *map, const char *key)
{
	Dec v = dec_key(map, key);

	return dec_as_double_or_inf(&v);
}

int dec_floats(const Dec *map, const char *key, float *dst, size_t n)
{
	Dec v = dec_key(map, key);

	return dec_as_floats(&v, dst, n);
}

int dec_bin(const Dec *map, const char *key, void *dst, size_t len)
{
	Dec v = dec_key(map, key);

	return dec_as_bin(&v, dst, len);
}

int dec_str(const Dec *map, const char *key, const char **ret, size_t *ret_len)
{
	Dec v = dec_key(map, key);

	return dec_as_str(&v, ret, ret_len);
}

int dec_str_is(const Dec *map, const char *key, const char *s)
{
	Dec v = dec_key(map, key);
	const msgpack_object *o = obj(&v);

	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       !memcmp(o->via.str.ptr, s, o->via.str.size);
}

Dec dec_map(const Dec *map, const char *key)
{
	Dec v = dec_key(map, key);

	if (dec_as_map(&v) < 0)
		v.obj = NULL;
	return v;
}

Dec dec_array(const Dec *map, const char *key, long *ret_n)
{
	Dec v = dec_key(map, key);

	*ret_n = dec_as_array(&v);
	if (*ret_n < 0)
		v.obj = NULL;
	return v;
}

int dec_u64s(const Dec *map, const char *key, uint64_t *dst, size_t n)
{
	long k;
	Dec a = dec_array(map, key, &k);

	if (k < 0)
		return -EINVAL;
	if ((size_t)k != n) {
		char why[64];

		snprintf(why, sizeof(why), "has %ld elements, expected %zu", k, n);
		return dec_invalid(&a, NULL, why);
	}
	for (size_t i = 0; i < n; i++) {
		Dec e = dec_at(&a, i);

		dst[i] = dec_as_u64(&e);
	}
	return dec_failed(map) ? -EINVAL : 0;
}
