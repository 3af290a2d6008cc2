#include "modelio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/config.h"

/* ---- configuration text -------------------------------------------------- */

/* The keys a model or checkpoint embeds: the model-shaping ones of the
 * config's key table, and batch_size when with_batch (a checkpoint leaves
 * it out: a resume may use a halved batch). */
static int keep_key(const char *section, const char *key, int with_batch)
{
	char name[160];

	if (!strcmp(section, "rewts") && !strcmp(key, "batch_size"))
		return with_batch;
	snprintf(name, sizeof(name), "%s.%s", section, key);
	return config_key_is_model(name) == 1;
}

char *modelio_config_text(const Config *cfg, int with_batch)
{
	char *full = NULL, *out = NULL, *line, *save = NULL;
	size_t full_len = 0, n = 0;
	char section[64] = "";
	FILE *f = open_memstream(&full, &full_len);

	if (!f)
		return NULL;
	if (config_write(cfg, f) < 0) {
		fclose(f);
		free(full);
		return NULL;
	}
	fclose(f);
	out = malloc(full_len + 1);
	if (!out) {
		free(full);
		return NULL;
	}
	for (line = strtok_r(full, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[128];
		size_t k = 0;
		const char *p = line;

		if (line[0] == '[') {
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(line + 1, "]"), line + 1);
			if (!strcmp(section, "budget"))
				continue;
			n += (size_t)sprintf(out + n, "%s\n", line);
			continue;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#' || *p == ';')
			continue;
		while (p[k] && p[k] != '=' && p[k] != ' ' && k < sizeof(key) - 1) {
			key[k] = p[k];
			k++;
		}
		key[k] = '\0';
		if (keep_key(section, key, with_batch))
			n += (size_t)sprintf(out + n, "%s\n", line);
	}
	out[n] = '\0';
	free(full);
	return out;
}

/* ---- writing -------------------------------------------------------------- */

/* A packer that streams into a FILE and keeps the CRC of what it wrote. */
typedef struct Writer {
	FILE *f;
	uint32_t crc;
	int failed;
	msgpack_packer pk;
	const char *key;        /* the last key written */
	const char *nonfinite;  /* the key of the first non-finite value, or NULL */
} Writer;

static int writer_cb(void *data, const char *buf, size_t len)
{
	Writer *w = data;

	if (len && fwrite(buf, 1, len, w->f) != len) {
		w->failed = 1;
		return -1;
	}
	w->crc = checksum_crc32(w->crc, buf, len);
	return 0;
}

static void pk_str(Writer *w, const char *s)
{
	size_t n = strlen(s);

	w->key = s;
	msgpack_pack_str(&w->pk, n);
	msgpack_pack_str_body(&w->pk, s, n);
}

static void pk_bin(Writer *w, const void *p, size_t len)
{
	msgpack_pack_bin(&w->pk, len);
	msgpack_pack_bin_body(&w->pk, p, len);
}

static void pk_floats(Writer *w, const float *p, size_t n)
{
	for (size_t i = 0; i < n && !w->nonfinite; i++)
		if (!isfinite(p[i]))
			w->nonfinite = w->key;
	pk_bin(w, p, n * sizeof(float));
}

/* Every double of a file is finite; the one exception is an LSTM chunk's
 * best validation loss before its first epoch (+inf, pk_double_or_inf). */
static void pk_double(Writer *w, double v)
{
	if (!isfinite(v) && !w->nonfinite)
		w->nonfinite = w->key;
	msgpack_pack_double(&w->pk, v);
}

static void pk_double_or_inf(Writer *w, double v)
{
	if (isnan(v) || v == -INFINITY)
		pk_double(w, v);
	else
		msgpack_pack_double(&w->pk, v);
}

/* The trailing "crc32" entry (see modelio.h). */
static void pk_crc_trailer(Writer *w)
{
	unsigned char tail[5];
	uint32_t crc;

	pk_str(w, "crc32");
	crc = w->crc;
	tail[0] = 0xce;
	tail[1] = (unsigned char)(crc >> 24);
	tail[2] = (unsigned char)(crc >> 16);
	tail[3] = (unsigned char)(crc >> 8);
	tail[4] = (unsigned char)crc;
	if (fwrite(tail, 1, 5, w->f) != 5)
		w->failed = 1;
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		r = -errno;
	else if (fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

typedef void (*BodyFn)(Writer *w, const void *ctx);

/* Writes PATH atomically: PATH.tmp, fsync, [PATH -> PATH.prev], rename,
 * fsync of the folder. */
static int write_atomic(const char *path, int keep_prev, BodyFn body, const void *ctx,
			uint32_t *ret_crc, char *err, size_t errlen)
{
	char tmp[4096], prev[4096];
	Writer w;
	int r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(prev, sizeof(prev), "%s.prev", path);
	memset(&w, 0, sizeof(w));
	w.f = fopen(tmp, "wb");
	if (!w.f) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(-r));
		return r;
	}
	msgpack_packer_init(&w.pk, &w, writer_cb);
	body(&w, ctx);
	pk_crc_trailer(&w);
	if (w.nonfinite) {
		snprintf(err, errlen, "%s: not written: field '%s' holds a non-finite number",
			 path, w.nonfinite);
		fclose(w.f);
		unlink(tmp);
		return -ERANGE;
	}
	if (w.failed || fflush(w.f) != 0) {
		r = errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(-r));
		fclose(w.f);
		unlink(tmp);
		return r;
	}
	if (fsync(fileno(w.f)) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: fsync failed: %s", tmp, strerror(-r));
		fclose(w.f);
		unlink(tmp);
		return r;
	}
	if (fclose(w.f) != 0) {
		r = -errno;
		snprintf(err, errlen, "%s: close failed: %s", tmp, strerror(-r));
		unlink(tmp);
		return r;
	}
	if (keep_prev && access(path, F_OK) == 0 && rename(path, prev) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot keep the previous checkpoint: %s", path, strerror(-r));
		unlink(tmp);
		return r;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: rename failed: %s", path, strerror(-r));
		unlink(tmp);
		return r;
	}
	r = fsync_dir_of(path);
	if (r < 0) {
		snprintf(err, errlen, "%s: fsync of the folder failed: %s", path, strerror(-r));
		return r;
	}
	if (ret_crc)
		*ret_crc = w.crc;
	return 0;
}

/* ---- checkpoint ------------------------------------------------------------ */

typedef struct CkptCtx {
	const Trainer *tr;
	const char *ticker;
	const char *config_text;
} CkptCtx;

static void pk_header(Writer *w, const char *format, const char *ticker,
		      const char *config_text, uint32_t fingerprint)
{
	pk_str(w, "format");
	pk_str(w, format);
	pk_str(w, "version");
	msgpack_pack_int(&w->pk, MODEL_VERSION);
	pk_str(w, "ticker");
	pk_str(w, ticker);
	pk_str(w, "config");
	pk_str(w, config_text);
	pk_str(w, "data_fingerprint");
	msgpack_pack_uint32(&w->pk, fingerprint);
}

static void pk_layers(Writer *w, const Trainer *tr)
{
	pk_str(w, "layers");
	msgpack_pack_array(&w->pk, (size_t)tr->n_layers + 1);
	for (int l = 0; l <= tr->n_layers; l++)
		msgpack_pack_int(&w->pk, tr->sizes[l]);
}

static void pk_env(Writer *w, const EnvState *e)
{
	msgpack_pack_map(&w->pk, 12);
	pk_str(w, "t"); msgpack_pack_int32(&w->pk, e->t);
	pk_str(w, "end"); msgpack_pack_int32(&w->pk, e->end);
	pk_str(w, "position"); msgpack_pack_int32(&w->pk, e->position);
	pk_str(w, "prev_action"); msgpack_pack_int32(&w->pk, e->prev_action);
	pk_str(w, "n_ret"); msgpack_pack_int32(&w->pk, e->n_ret);
	pk_str(w, "ret_head"); msgpack_pack_int32(&w->pk, e->ret_head);
	pk_str(w, "trades"); msgpack_pack_int64(&w->pk, e->trades);
	pk_str(w, "cash"); pk_double(w, e->cash);
	pk_str(w, "shares"); pk_double(w, e->shares);
	pk_str(w, "value"); pk_double(w, e->value);
	pk_str(w, "peak"); pk_double(w, e->peak);
	pk_str(w, "ret_hist");
	msgpack_pack_array(&w->pk, ENV_HIST);
	for (int i = 0; i < ENV_HIST; i++)
		pk_double(w, e->ret_hist[i]);
}

static void pk_agent(Writer *w, const Agent *ag)
{
	const Replay *rb = &ag->replay;
	size_t n = (size_t)rb->n;

	msgpack_pack_map(&w->pk, 14);
	pk_str(w, "online"); pk_floats(w, ag->online.params, ag->online.n_params);
	pk_str(w, "target"); pk_floats(w, ag->target.params, ag->target.n_params);
	pk_str(w, "adam_m"); pk_floats(w, ag->opt.m, ag->opt.n);
	pk_str(w, "adam_v"); pk_floats(w, ag->opt.v, ag->opt.n);
	pk_str(w, "adam_t"); msgpack_pack_int64(&w->pk, ag->opt.t);
	pk_str(w, "grad_steps"); msgpack_pack_int64(&w->pk, ag->grad_steps);
	pk_str(w, "epsilon"); pk_double(w, ag->epsilon);
	pk_str(w, "replay_n"); msgpack_pack_int32(&w->pk, rb->n);
	pk_str(w, "replay_head"); msgpack_pack_int32(&w->pk, rb->head);
	pk_str(w, "replay_s"); pk_floats(w, rb->s, n * ENV_STATE_DIM);
	pk_str(w, "replay_s2"); pk_floats(w, rb->s2, n * ENV_STATE_DIM);
	pk_str(w, "replay_a"); pk_bin(w, rb->a, n * sizeof(int32_t));
	pk_str(w, "replay_r"); pk_floats(w, rb->r, n);
	pk_str(w, "replay_done"); pk_floats(w, rb->done, n);
}

static void ckpt_body(Writer *w, const void *vctx)
{
	const CkptCtx *c = vctx;
	const Trainer *tr = c->tr;
	const TrainPos *p = &tr->pos;
	int n_chunks = tr->data->n_chunks;

	/* 5 header entries, layers, batch_size, pos, runs, chunks, and the
	 * crc32 trailer. */
	msgpack_pack_map(&w->pk, 11);
	pk_header(w, CHECKPOINT_FORMAT, c->ticker, c->config_text, tr->data->fingerprint);
	pk_layers(w, tr);
	pk_str(w, "batch_size");
	msgpack_pack_int(&w->pk, tr->cfg->batch_size);

	pk_str(w, "pos");
	msgpack_pack_map(&w->pk, 5);
	pk_str(w, "chunk"); msgpack_pack_int32(&w->pk, p->chunk);
	pk_str(w, "n_active"); msgpack_pack_int32(&w->pk, p->n_active);
	pk_str(w, "episode"); msgpack_pack_int32(&w->pk, p->episode);
	pk_str(w, "in_episode"); msgpack_pack_int32(&w->pk, p->in_episode);
	pk_str(w, "done_episodes"); msgpack_pack_int64(&w->pk, p->done_episodes);

	/* The chunks of the wave in progress, each with everything it needs
	 * to continue alone. */
	pk_str(w, "runs");
	msgpack_pack_array(&w->pk, (size_t)p->n_active);
	for (int i = 0; i < p->n_active; i++) {
		const ChunkRun *cr = &tr->run[i];

		msgpack_pack_map(&w->pk, 7);
		pk_str(w, "chunk"); msgpack_pack_int32(&w->pk, cr->chunk);
		pk_str(w, "ep_steps"); msgpack_pack_int64(&w->pk, cr->ep_steps);
		pk_str(w, "ep_loss"); pk_double(w, cr->ep_loss);
		pk_str(w, "ep_reward"); pk_double(w, cr->ep_reward);
		pk_str(w, "env"); pk_env(w, &cr->env);
		pk_str(w, "rng");
		msgpack_pack_array(&w->pk, 4);
		for (int k = 0; k < 4; k++)
			msgpack_pack_uint64(&w->pk, cr->rng.s[k]);
		pk_str(w, "agent"); pk_agent(w, &cr->agent);
	}

	pk_str(w, "chunks");
	msgpack_pack_array(&w->pk, (size_t)n_chunks);
	for (int ci = 0; ci < n_chunks; ci++) {
		if (tr->chunk_params[ci])
			pk_floats(w, tr->chunk_params[ci], tr->n_params);
		else
			msgpack_pack_nil(&w->pk);
	}
}

int modelio_write_checkpoint(const Trainer *tr, const char *ticker, const char *path,
			     uint32_t *ret_crc, char *err, size_t errlen)
{
	CkptCtx c = { tr, ticker, NULL };
	char *text = modelio_config_text(tr->cfg, 0);
	int r;

	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c.config_text = text;
	r = write_atomic(path, 1, ckpt_body, &c, ret_crc, err, errlen);
	free(text);
	return r;
}

/* ---- reading --------------------------------------------------------------- */

typedef struct Reader {
	const char *path;
	char *err;
	size_t errlen;
	void *map;
	size_t len;
	msgpack_unpacked un;
	int have_un;
} Reader;

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
 * allocates for more objects than the file could hold. Returns 0 when b
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

static int reader_open(Reader *rd, const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;
	int fd;
	uint32_t crc, stored;
	const unsigned char *b;
	size_t off = 0;

	memset(rd, 0, sizeof(*rd));
	rd->path = path;
	rd->err = err;
	rd->errlen = errlen;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;

		snprintf(err, errlen, "%s: cannot open %s: %s", path, what, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || st.st_size < 16) {
		close(fd);
		snprintf(err, errlen, "%s: not a %s (file too short)", path, what);
		return -EINVAL;
	}
	rd->len = (size_t)st.st_size;
	rd->map = mmap(NULL, rd->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (rd->map == MAP_FAILED) {
		int r = -errno;

		rd->map = NULL;
		snprintf(err, errlen, "%s: cannot map %s: %s", path, what, strerror(-r));
		return r;
	}
	b = rd->map;
	if (b[rd->len - 5] != 0xce) {
		snprintf(err, errlen, "%s: corrupt %s: no checksum trailer", path, what);
		return -EINVAL;
	}
	stored = (uint32_t)b[rd->len - 4] << 24 | (uint32_t)b[rd->len - 3] << 16 |
		 (uint32_t)b[rd->len - 2] << 8 | (uint32_t)b[rd->len - 1];
	crc = checksum_crc32(0, b, rd->len - 5);
	if (crc != stored) {
		snprintf(err, errlen, "%s: corrupt %s: checksum mismatch (stored %08x, computed %08x)",
			 path, what, stored, crc);
		return -EINVAL;
	}
	if (msgpack_bounded(b, rd->len) < 0) {
		snprintf(err, errlen, "%s: corrupt %s: a length or count runs past the end of the file",
			 path, what);
		return -EINVAL;
	}
	msgpack_unpacked_init(&rd->un);
	rd->have_un = 1;
	if (msgpack_unpack_next(&rd->un, rd->map, rd->len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != rd->len || rd->un.data.type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "%s: corrupt %s: not a msgpack map", path, what);
		return -EINVAL;
	}
	return 0;
}

static void reader_close(Reader *rd)
{
	if (rd->have_un)
		msgpack_unpacked_destroy(&rd->un);
	if (rd->map)
		munmap(rd->map, rd->len);
	memset(rd, 0, sizeof(*rd));
}

static const msgpack_object *field(Reader *rd, const msgpack_object *map, const char *key,
				   msgpack_object_type type, const char *where)
{
	size_t klen = strlen(key);

	if (map && map->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < map->via.map.size; i++) {
			const msgpack_object *k = &map->via.map.ptr[i].key;
			const msgpack_object *v = &map->via.map.ptr[i].val;

			if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != klen ||
			    memcmp(k->via.str.ptr, key, klen))
				continue;
			if (v->type == type ||
			    (type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			     v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) ||
			    (type == MSGPACK_OBJECT_FLOAT64 && v->type == MSGPACK_OBJECT_FLOAT32))
				return v;
			break;
		}
	}
	if (!rd->err[0])
		snprintf(rd->err, rd->errlen, "%s: field '%s%s%s' missing or of the wrong type",
			 rd->path, where, where[0] ? "." : "", key);
	return NULL;
}

static int64_t get_int(Reader *rd, const msgpack_object *map, const char *key, const char *where)
{
	const msgpack_object *v = field(rd, map, key, MSGPACK_OBJECT_POSITIVE_INTEGER, where);

	if (!v)
		return 0;
	return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)v->via.u64 : v->via.i64;
}

static uint64_t get_u64(Reader *rd, const msgpack_object *map, const char *key, const char *where)
{
	const msgpack_object *v = field(rd, map, key, MSGPACK_OBJECT_POSITIVE_INTEGER, where);

	return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

/* Notes the first non-finite number read (a file never holds one, so
 * this is a damaged or forged file, even with a valid checksum). */
static void not_finite(Reader *rd, const char *where, const char *key)
{
	if (!rd->err[0])
		snprintf(rd->err, rd->errlen, "%s: field '%s%s%s' holds a non-finite number",
			 rd->path, where, where[0] ? "." : "", key);
}

static double get_double_or_inf(Reader *rd, const msgpack_object *map, const char *key,
				const char *where)
{
	const msgpack_object *v = field(rd, map, key, MSGPACK_OBJECT_FLOAT64, where);

	if (v && (isnan(v->via.f64) || v->via.f64 == -INFINITY))
		not_finite(rd, where, key);
	return v ? v->via.f64 : 0.0;
}

static double get_double(Reader *rd, const msgpack_object *map, const char *key, const char *where)
{
	double v = get_double_or_inf(rd, map, key, where);

	if (v == INFINITY)
		not_finite(rd, where, key);
	return v;
}

/* Checks n floats just read from field key. */
static int check_floats(Reader *rd, const float *p, size_t n, const char *where, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(p[i])) {
			not_finite(rd, where, key);
			return -EINVAL;
		}
	return 0;
}

/* Copies a bin field of exactly len bytes into dst. */
static int get_bin(Reader *rd, const msgpack_object *map, const char *key, const char *where,
		   void *dst, size_t len)
{
	const msgpack_object *v = field(rd, map, key, MSGPACK_OBJECT_BIN, where);

	if (!v)
		return -EINVAL;
	if (v->via.bin.size != len) {
		if (!rd->err[0])
			snprintf(rd->err, rd->errlen, "%s: field '%s.%s' has %u bytes, expected %zu",
				 rd->path, where, key, v->via.bin.size, len);
		return -EINVAL;
	}
	if (len)
		memcpy(dst, v->via.bin.ptr, len);
	return 0;
}

/* get_bin of len / 4 floats, all finite. */
static int get_floats(Reader *rd, const msgpack_object *map, const char *key, const char *where,
		      float *dst, size_t len)
{
	if (get_bin(rd, map, key, where, dst, len) < 0)
		return -EINVAL;
	return check_floats(rd, dst, len / sizeof(float), where, key);
}

/* Compares the stored configuration with ours; names the first difference. */
static int check_config(Reader *rd, const msgpack_object *stored, const char *ours)
{
	const char *s, *o = ours;
	size_t n;

	if (!stored || stored->type != MSGPACK_OBJECT_STR)
		return -EINVAL;
	s = stored->via.str.ptr;
	n = stored->via.str.size;
	if (strlen(ours) == n && !memcmp(s, ours, n))
		return 0;
	/* Walk line by line to name the first differing one. */
	{
		size_t i = 0;

		while (i < n && *o) {
			size_t a = 0, b = strcspn(o, "\n");

			while (i + a < n && s[i + a] != '\n')
				a++;
			if (a != b || memcmp(s + i, o, a)) {
				snprintf(rd->err, rd->errlen,
					 "%s: checkpoint was written with another configuration: "
					 "it has '%.*s', the config gives '%.*s'",
					 rd->path, (int)a, s + i, (int)b, o);
				return -EINVAL;
			}
			i += a + 1;
			o += b + (o[b] == '\n');
		}
		snprintf(rd->err, rd->errlen, "%s: checkpoint was written with another configuration",
			 rd->path);
	}
	return -EINVAL;
}

static int check_header(Reader *rd, const char *format, const char *ticker)
{
	const msgpack_object *root = &rd->un.data;
	const msgpack_object *f = field(rd, root, "format", MSGPACK_OBJECT_STR, "");
	const msgpack_object *t;

	if (!f || f->via.str.size != strlen(format) || memcmp(f->via.str.ptr, format, f->via.str.size)) {
		rd->err[0] = '\0';
		snprintf(rd->err, rd->errlen, "%s: not a %s file", rd->path, format);
		return -EINVAL;
	}
	if (get_int(rd, root, "version", "") != MODEL_VERSION) {
		rd->err[0] = '\0';
		snprintf(rd->err, rd->errlen, "%s: unsupported %s version (this build reads %d)",
			 rd->path, format, MODEL_VERSION);
		return -EINVAL;
	}
	t = field(rd, root, "ticker", MSGPACK_OBJECT_STR, "");
	if (!t)
		return -EINVAL;
	if (ticker && (t->via.str.size != strlen(ticker) ||
		       memcmp(t->via.str.ptr, ticker, t->via.str.size))) {
		snprintf(rd->err, rd->errlen, "%s: checkpoint belongs to ticker '%.*s', not '%s'",
			 rd->path, (int)t->via.str.size, t->via.str.ptr, ticker);
		return -EINVAL;
	}
	return 0;
}

static int read_env(Reader *rd, const msgpack_object *env, EnvState *e, const char *where)
{
	const msgpack_object *h;

	memset(e, 0, sizeof(*e));
	e->t = (int32_t)get_int(rd, env, "t", where);
	e->end = (int32_t)get_int(rd, env, "end", where);
	e->position = (int32_t)get_int(rd, env, "position", where);
	e->prev_action = (int32_t)get_int(rd, env, "prev_action", where);
	e->n_ret = (int32_t)get_int(rd, env, "n_ret", where);
	e->ret_head = (int32_t)get_int(rd, env, "ret_head", where);
	e->trades = get_int(rd, env, "trades", where);
	e->cash = get_double(rd, env, "cash", where);
	e->shares = get_double(rd, env, "shares", where);
	e->value = get_double(rd, env, "value", where);
	e->peak = get_double(rd, env, "peak", where);
	h = field(rd, env, "ret_hist", MSGPACK_OBJECT_ARRAY, where);
	if (!h || h->via.array.size != ENV_HIST)
		return -EINVAL;
	for (int i = 0; i < ENV_HIST; i++) {
		const msgpack_object *v = &h->via.array.ptr[i];

		if (v->type != MSGPACK_OBJECT_FLOAT64 && v->type != MSGPACK_OBJECT_FLOAT32)
			return -EINVAL;
		e->ret_hist[i] = v->via.f64;
		if (!isfinite(e->ret_hist[i])) {
			not_finite(rd, where, "ret_hist");
			return -EINVAL;
		}
	}
	return 0;
}

/* Restores one chunk's agent into cr (already holding its chunk and rng).
 * Returns 0, -ENOMEM or -EINVAL. */
static int read_agent(Reader *rd, const msgpack_object *agent, Trainer *tr, ChunkRun *cr)
{
	Agent *ag = &cr->agent;
	Rng scratch = cr->rng;
	int32_t rn, rh;
	size_t n;
	int r;

	if (!agent || agent->type != MSGPACK_OBJECT_MAP)
		return -EINVAL;
	/* agent_init draws initial weights from a generator: give it a
	 * scratch copy, since every weight is overwritten below. */
	r = agent_init(ag, tr->cfg, &scratch);
	if (r < 0)
		return r;
	rn = (int32_t)get_int(rd, agent, "replay_n", "runs.agent");
	rh = (int32_t)get_int(rd, agent, "replay_head", "runs.agent");
	if (rn < 0 || rn > ag->replay.cap || rh < 0 || rh >= ag->replay.cap)
		return -EINVAL;
	n = (size_t)rn;
	ag->replay.n = rn;
	ag->replay.head = rh;
	if (get_floats(rd, agent, "online", "runs.agent", ag->online.params, ag->online.n_params * 4) ||
	    get_floats(rd, agent, "target", "runs.agent", ag->target.params, ag->target.n_params * 4) ||
	    get_floats(rd, agent, "adam_m", "runs.agent", ag->opt.m, ag->opt.n * 4) ||
	    get_floats(rd, agent, "adam_v", "runs.agent", ag->opt.v, ag->opt.n * 4) ||
	    get_floats(rd, agent, "replay_s", "runs.agent", ag->replay.s, n * ENV_STATE_DIM * 4) ||
	    get_floats(rd, agent, "replay_s2", "runs.agent", ag->replay.s2, n * ENV_STATE_DIM * 4) ||
	    get_bin(rd, agent, "replay_a", "runs.agent", ag->replay.a, n * 4) ||
	    get_floats(rd, agent, "replay_r", "runs.agent", ag->replay.r, n * 4) ||
	    get_floats(rd, agent, "replay_done", "runs.agent", ag->replay.done, n * 4))
		return -EINVAL;
	ag->opt.t = get_int(rd, agent, "adam_t", "runs.agent");
	ag->grad_steps = get_int(rd, agent, "grad_steps", "runs.agent");
	ag->epsilon = get_double(rd, agent, "epsilon", "runs.agent");
	cr->last_epsilon = ag->epsilon;
	for (size_t i = 0; i < n; i++)
		if (ag->replay.a[i] < 0 || ag->replay.a[i] >= ENV_ACTIONS)
			return -EINVAL;
	return 0;
}

int modelio_read_checkpoint(Trainer *tr, const char *ticker, const char *path,
			    char *err, size_t errlen)
{
	const TrainData *d = tr->data;
	Reader rd;
	const msgpack_object *root, *pos, *runs, *chunks, *layers;
	char *ours = NULL;
	TrainPos p;
	int r;

	err[0] = '\0';
	r = reader_open(&rd, path, "checkpoint", err, errlen);
	if (r < 0)
		goto out;
	r = -EINVAL;
	root = &rd.un.data;
	if (check_header(&rd, CHECKPOINT_FORMAT, ticker) < 0)
		goto out;
	ours = modelio_config_text(tr->cfg, 0);
	if (!ours) {
		r = -ENOMEM;
		goto out;
	}
	if (check_config(&rd, field(&rd, root, "config", MSGPACK_OBJECT_STR, ""), ours) < 0)
		goto out;
	if ((uint32_t)get_u64(&rd, root, "data_fingerprint", "") != d->fingerprint) {
		if (!err[0])
			snprintf(err, errlen, "%s: checkpoint was made from other price data "
				 "than the file given now", path);
		goto out;
	}
	layers = field(&rd, root, "layers", MSGPACK_OBJECT_ARRAY, "");
	if (!layers || (int)layers->via.array.size != tr->n_layers + 1)
		goto bad;

	pos = field(&rd, root, "pos", MSGPACK_OBJECT_MAP, "");
	memset(&p, 0, sizeof(p));
	p.chunk = (int32_t)get_int(&rd, pos, "chunk", "pos");
	p.n_active = (int32_t)get_int(&rd, pos, "n_active", "pos");
	p.episode = (int32_t)get_int(&rd, pos, "episode", "pos");
	p.in_episode = (int32_t)get_int(&rd, pos, "in_episode", "pos");
	p.done_episodes = get_int(&rd, pos, "done_episodes", "pos");
	if (err[0])
		goto out;
	if (p.chunk < 0 || p.chunk > d->n_chunks || p.n_active < 0 || p.n_active > TRAIN_MAX_WAVE ||
	    p.chunk + p.n_active > d->n_chunks || p.episode < 0 ||
	    p.episode >= tr->cfg->episodes_per_chunk || p.done_episodes < 0 ||
	    (p.n_active == 0 && (p.episode != 0 || p.in_episode)))
		goto bad;

	chunks = field(&rd, root, "chunks", MSGPACK_OBJECT_ARRAY, "");
	if (!chunks || (int)chunks->via.array.size != d->n_chunks)
		goto bad;
	for (int c = 0; c < d->n_chunks; c++) {
		const msgpack_object *v = &chunks->via.array.ptr[c];

		if (v->type == MSGPACK_OBJECT_NIL) {
			if (c < p.chunk)
				goto bad;
			continue;
		}
		if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != tr->n_params * sizeof(float))
			goto bad;
		tr->chunk_params[c] = malloc(tr->n_params * sizeof(float));
		if (!tr->chunk_params[c]) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(tr->chunk_params[c], v->via.bin.ptr, v->via.bin.size);
		if (check_floats(&rd, tr->chunk_params[c], tr->n_params, "", "chunks") < 0)
			goto bad;
	}

	runs = field(&rd, root, "runs", MSGPACK_OBJECT_ARRAY, "");
	if (!runs || (int)runs->via.array.size != p.n_active)
		goto bad;
	for (int i = 0; i < p.n_active; i++) {
		const msgpack_object *m = &runs->via.array.ptr[i];
		const msgpack_object *rng, *env;
		ChunkRun *cr = &tr->run[i];

		if (m->type != MSGPACK_OBJECT_MAP)
			goto bad;
		cr->chunk = (int32_t)get_int(&rd, m, "chunk", "runs");
		cr->ep_steps = get_int(&rd, m, "ep_steps", "runs");
		cr->ep_loss = get_double(&rd, m, "ep_loss", "runs");
		cr->ep_reward = get_double(&rd, m, "ep_reward", "runs");
		if (err[0])
			goto out;
		if (cr->chunk != p.chunk + i)
			goto bad;
		rng = field(&rd, m, "rng", MSGPACK_OBJECT_ARRAY, "runs");
		if (!rng || rng->via.array.size != 4)
			goto bad;
		for (int k = 0; k < 4; k++) {
			if (rng->via.array.ptr[k].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				goto bad;
			cr->rng.s[k] = rng->via.array.ptr[k].via.u64;
		}
		env = field(&rd, m, "env", MSGPACK_OBJECT_MAP, "runs");
		if (!env || read_env(&rd, env, &cr->env, "runs.env") < 0 || err[0])
			goto bad;
		if (cr->env.n_ret < 0 || cr->env.n_ret > ENV_HIST || cr->env.ret_head < 0 ||
		    cr->env.ret_head >= ENV_HIST || cr->env.t < 0 || cr->env.t >= d->n_rows ||
		    cr->env.end < cr->env.t || cr->env.end >= d->n_rows)
			goto bad;
		r = read_agent(&rd, field(&rd, m, "agent", MSGPACK_OBJECT_MAP, "runs"), tr, cr);
		if (r == -ENOMEM)
			goto out;
		if (r < 0)
			goto bad;
		r = -EINVAL;
	}
	if (err[0])
		goto out;
	tr->pos = p;
	r = 0;
	goto out;
bad:
	if (!err[0])
		snprintf(err, errlen, "%s: corrupt checkpoint: inconsistent fields", path);
	r = -EINVAL;
out:
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s: cannot read checkpoint", path);
	free(ours);
	reader_close(&rd);
	return r;
}

/* ---- model file ----------------------------------------------------------- */

/* What differs between the model files of the two kinds. */
typedef struct ModelSpec {
	const char *ticker;
	const Config *cfg;
	const TrainData *data;
	const char *kind;                              /* "ddqn" | "lstm" */
	void (*shape)(Writer *, const void *);         /* writes the kind's shape entry */
	const void *shape_ctx;
	float *const *nets;                            /* n_chunks networks */
	size_t net_floats;
	const Backtest *bt;
	const char *config_text;                       /* filled by write_model */
} ModelSpec;

/* A model file of either kind (a write_atomic body): header, model_kind,
 * the kind's shape, period, chunks, networks, weight_history, metrics,
 * equity; write_atomic adds the crc32 trailer. */
static void pk_model(Writer *w, const void *vspec)
{
	const ModelSpec *sp = vspec;
	const TrainData *d = sp->data;
	const Backtest *bt = sp->bt;
	const Metrics *m = &bt->m;

	msgpack_pack_map(&w->pk, 14);
	pk_header(w, MODEL_FORMAT, sp->ticker, sp->config_text, d->fingerprint);
	pk_str(w, "model_kind");
	pk_str(w, sp->kind);
	sp->shape(w, sp->shape_ctx);
	pk_str(w, "period");
	msgpack_pack_map(&w->pk, 4);
	pk_str(w, "first_date"); msgpack_pack_int32(&w->pk, d->date[0]);
	pk_str(w, "test_start_date"); msgpack_pack_int32(&w->pk, d->date[d->test_start]);
	pk_str(w, "last_date"); msgpack_pack_int32(&w->pk, d->date[d->n_rows - 1]);
	pk_str(w, "rows"); msgpack_pack_int32(&w->pk, d->n_rows);

	pk_str(w, "chunks");
	msgpack_pack_array(&w->pk, (size_t)d->n_chunks);
	for (int ci = 0; ci < d->n_chunks; ci++) {
		int s = ci * d->chunk_length, e = s + d->chunk_length - 1;

		msgpack_pack_map(&w->pk, 4);
		pk_str(w, "start_date"); msgpack_pack_int32(&w->pk, d->date[s]);
		pk_str(w, "end_date"); msgpack_pack_int32(&w->pk, d->date[e]);
		pk_str(w, "start_row"); msgpack_pack_int32(&w->pk, s);
		pk_str(w, "end_row"); msgpack_pack_int32(&w->pk, e);
	}
	pk_str(w, "networks");
	msgpack_pack_array(&w->pk, (size_t)d->n_chunks);
	for (int ci = 0; ci < d->n_chunks; ci++)
		pk_floats(w, sp->nets[ci], sp->net_floats);

	pk_str(w, "weight_history");
	msgpack_pack_array(&w->pk, (size_t)bt->n_fits);
	for (int f = 0; f < bt->n_fits; f++) {
		msgpack_pack_array(&w->pk, 2);
		msgpack_pack_int32(&w->pk, bt->fit_date[f]);
		msgpack_pack_array(&w->pk, (size_t)bt->n_models);
		for (int j = 0; j < bt->n_models; j++)
			pk_double(w, bt->weights[(size_t)f * bt->n_models + j]);
	}
	pk_str(w, "metrics");
	msgpack_pack_map(&w->pk, 9);
	pk_str(w, "total_return"); pk_double(w, m->total_return);
	pk_str(w, "sharpe"); pk_double(w, m->sharpe);
	pk_str(w, "max_drawdown"); pk_double(w, m->max_drawdown);
	pk_str(w, "volatility"); pk_double(w, m->volatility);
	pk_str(w, "win_rate"); pk_double(w, m->win_rate);
	pk_str(w, "buy_hold_return"); pk_double(w, m->buy_hold_return);
	pk_str(w, "trades"); msgpack_pack_int64(&w->pk, m->trades);
	pk_str(w, "test_days"); msgpack_pack_int64(&w->pk, m->test_days);
	pk_str(w, "actions");
	msgpack_pack_array(&w->pk, ENV_ACTIONS);
	for (int a = 0; a < ENV_ACTIONS; a++)
		msgpack_pack_int64(&w->pk, m->actions[a]);
	pk_str(w, "equity");
	pk_bin(w, bt->values, (size_t)bt->n_values * sizeof(double));
}

static void pk_layers_shape(Writer *w, const void *tr)
{
	pk_layers(w, tr);
}

/* Writes spec as a model file at path (write_atomic). */
static int write_model(ModelSpec *spec, const char *path, uint32_t *ret_crc, char *err,
		       size_t errlen)
{
	char *text = modelio_config_text(spec->cfg, 1);
	int r;

	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	spec->config_text = text;
	r = write_atomic(path, 0, pk_model, spec, ret_crc, err, errlen);
	free(text);
	return r;
}

int modelio_write_model(const Trainer *tr, const char *ticker, const Backtest *bt,
			const char *path, uint32_t *ret_crc, char *err, size_t errlen)
{
	ModelSpec spec = { ticker, tr->cfg, tr->data, "ddqn", pk_layers_shape, tr,
			   tr->chunk_params, tr->n_params, bt, NULL };

	return write_model(&spec, path, ret_crc, err, errlen);
}

static int model_is_lstm(Reader *rd);
static int read_lstm_model(Reader *rd, ModelFile *m);

int modelio_read_model(ModelFile *ret, const char *path, char *err, size_t errlen)
{
	Reader rd;
	ModelFile m;
	const msgpack_object *root, *layers, *nets, *metrics, *cfgtext, *ticker, *acts;
	size_t n_params = 0;
	int r;

	memset(&m, 0, sizeof(m));
	err[0] = '\0';
	r = reader_open(&rd, path, "model", err, errlen);
	if (r < 0)
		goto out;
	r = -EINVAL;
	root = &rd.un.data;
	if (check_header(&rd, MODEL_FORMAT, NULL) < 0)
		goto out;
	snprintf(m.model_kind, sizeof(m.model_kind), "ddqn");
	r = model_is_lstm(&rd);
	if (r < 0)
		goto out;
	if (r) {
		r = -EINVAL;
		ticker = field(&rd, root, "ticker", MSGPACK_OBJECT_STR, "");
		cfgtext = field(&rd, root, "config", MSGPACK_OBJECT_STR, "");
		if (!ticker || !cfgtext)
			goto out;
		snprintf(m.ticker, sizeof(m.ticker), "%.*s", (int)ticker->via.str.size, ticker->via.str.ptr);
		m.config_text = strndup(cfgtext->via.str.ptr, cfgtext->via.str.size);
		m.fingerprint = (uint32_t)get_u64(&rd, root, "data_fingerprint", "");
		if (!m.config_text) {
			r = -ENOMEM;
			goto out;
		}
		r = read_lstm_model(&rd, &m);
		if (r == -EINVAL)
			goto bad;
		if (r < 0)
			goto out;
		*ret = m;
		memset(&m, 0, sizeof(m));
		goto out;
	}
	r = -EINVAL;
	ticker = field(&rd, root, "ticker", MSGPACK_OBJECT_STR, "");
	cfgtext = field(&rd, root, "config", MSGPACK_OBJECT_STR, "");
	layers = field(&rd, root, "layers", MSGPACK_OBJECT_ARRAY, "");
	nets = field(&rd, root, "networks", MSGPACK_OBJECT_ARRAY, "");
	metrics = field(&rd, root, "metrics", MSGPACK_OBJECT_MAP, "");
	if (!ticker || !cfgtext || !layers || !nets || !metrics)
		goto out;
	snprintf(m.ticker, sizeof(m.ticker), "%.*s", (int)ticker->via.str.size, ticker->via.str.ptr);
	m.config_text = strndup(cfgtext->via.str.ptr, cfgtext->via.str.size);
	m.fingerprint = (uint32_t)get_u64(&rd, root, "data_fingerprint", "");
	if (!m.config_text) {
		r = -ENOMEM;
		goto out;
	}
	if (layers->via.array.size < 2 || layers->via.array.size > NN_MAX_LAYERS + 1)
		goto bad;
	m.n_layers = (int)layers->via.array.size - 1;
	for (int l = 0; l <= m.n_layers; l++) {
		const msgpack_object *v = &layers->via.array.ptr[l];

		if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < 1 || v->via.u64 > 65536)
			goto bad;
		m.sizes[l] = (int)v->via.u64;
	}
	for (int l = 0; l < m.n_layers; l++)
		n_params += (size_t)m.sizes[l + 1] * (size_t)(m.sizes[l] + 1);
	m.n_chunks = (int)nets->via.array.size;
	if (m.n_chunks < 1)
		goto bad;
	m.params = calloc((size_t)m.n_chunks, sizeof(float *));
	if (!m.params) {
		r = -ENOMEM;
		goto out;
	}
	for (int c = 0; c < m.n_chunks; c++) {
		const msgpack_object *v = &nets->via.array.ptr[c];

		if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != n_params * sizeof(float))
			goto bad;
		m.params[c] = malloc(n_params * sizeof(float));
		if (!m.params[c]) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(m.params[c], v->via.bin.ptr, v->via.bin.size);
		if (check_floats(&rd, m.params[c], n_params, "", "networks") < 0)
			goto bad;
	}
	m.metrics.total_return = get_double(&rd, metrics, "total_return", "metrics");
	m.metrics.sharpe = get_double(&rd, metrics, "sharpe", "metrics");
	m.metrics.max_drawdown = get_double(&rd, metrics, "max_drawdown", "metrics");
	m.metrics.volatility = get_double(&rd, metrics, "volatility", "metrics");
	m.metrics.win_rate = get_double(&rd, metrics, "win_rate", "metrics");
	m.metrics.buy_hold_return = get_double(&rd, metrics, "buy_hold_return", "metrics");
	m.metrics.trades = get_int(&rd, metrics, "trades", "metrics");
	m.metrics.test_days = get_int(&rd, metrics, "test_days", "metrics");
	acts = field(&rd, metrics, "actions", MSGPACK_OBJECT_ARRAY, "metrics");
	if (!acts || acts->via.array.size != ENV_ACTIONS)
		goto bad;
	for (int a = 0; a < ENV_ACTIONS; a++)
		m.metrics.actions[a] = (int64_t)acts->via.array.ptr[a].via.u64;
	if (err[0])
		goto out;
	*ret = m;
	memset(&m, 0, sizeof(m));
	r = 0;
	goto out;
bad:
	if (!err[0])
		snprintf(err, errlen, "%s: corrupt model file: inconsistent fields", path);
	r = -EINVAL;
out:
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s: cannot read model file", path);
	model_file_free(&m);
	reader_close(&rd);
	return r;
}

void model_file_free(ModelFile *m)
{
	if (!m)
		return;
	if (m->params)
		for (int c = 0; c < m->n_chunks; c++)
			free(m->params[c]);
	free(m->params);
	free(m->config_text);
	memset(m, 0, sizeof(*m));
}

/* ---- LSTM job (model = lstm) ----------------------------------------------- */

/* The "lstm" shape map of LSTM checkpoints and model files. */
static void pk_lstm_shape(Writer *w, const LstmJob *j)
{
	pk_str(w, "lstm");
	msgpack_pack_map(&w->pk, 5);
	pk_str(w, "input"); msgpack_pack_int(&w->pk, j->input);
	pk_str(w, "hidden"); msgpack_pack_int(&w->pk, j->hidden);
	pk_str(w, "layers"); msgpack_pack_int(&w->pk, j->layers);
	pk_str(w, "window"); msgpack_pack_int(&w->pk, j->window);
	pk_str(w, "target_scale"); pk_double(w, LSTM_TARGET_SCALE);
}

typedef struct LstmCkptCtx {
	const LstmJob *j;
	const char *ticker;
	const char *config_text;
} LstmCkptCtx;

static void lstm_ckpt_body(Writer *w, const void *vctx)
{
	const LstmCkptCtx *c = vctx;
	const LstmJob *j = c->j;
	const LstmPos *p = &j->pos;
	int n_chunks = j->data->n_chunks;

	/* 5 header entries, model_kind, lstm, batch_size, pos, rng, net,
	 * chunks, and the crc32 trailer. */
	msgpack_pack_map(&w->pk, 13);
	pk_header(w, CHECKPOINT_FORMAT, c->ticker, c->config_text, j->data->fingerprint);
	pk_str(w, "model_kind");
	pk_str(w, "lstm");
	pk_lstm_shape(w, j);
	pk_str(w, "batch_size");
	msgpack_pack_int(&w->pk, j->cfg->batch_size);
	pk_str(w, "pos");
	msgpack_pack_map(&w->pk, 5);
	pk_str(w, "chunk"); msgpack_pack_int32(&w->pk, p->chunk);
	pk_str(w, "epoch"); msgpack_pack_int32(&w->pk, p->epoch);
	pk_str(w, "done_episodes"); msgpack_pack_int64(&w->pk, p->done_episodes);
	pk_str(w, "bad_epochs"); msgpack_pack_int32(&w->pk, p->bad_epochs);
	pk_str(w, "best_val"); pk_double_or_inf(w, p->best_val);
	pk_str(w, "rng");
	msgpack_pack_array(&w->pk, 4);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&w->pk, j->rng.s[i]);
	pk_str(w, "net");
	if (!j->net_ready) {
		msgpack_pack_nil(&w->pk);
	} else {
		msgpack_pack_map(&w->pk, 5);
		pk_str(w, "params"); pk_floats(w, j->net.params, j->n_params);
		pk_str(w, "best"); pk_floats(w, j->best, j->n_params);
		pk_str(w, "adam_m"); pk_floats(w, j->opt.m, j->opt.n);
		pk_str(w, "adam_v"); pk_floats(w, j->opt.v, j->opt.n);
		pk_str(w, "adam_t"); msgpack_pack_int64(&w->pk, j->opt.t);
	}
	pk_str(w, "chunks");
	msgpack_pack_array(&w->pk, (size_t)n_chunks);
	for (int ci = 0; ci < n_chunks; ci++) {
		if (j->chunk_models[ci])
			pk_floats(w, j->chunk_models[ci], j->n_model);
		else
			msgpack_pack_nil(&w->pk);
	}
}

int modelio_write_lstm_checkpoint(const LstmJob *j, const char *ticker, const char *path,
				  uint32_t *ret_crc, char *err, size_t errlen)
{
	LstmCkptCtx c = { j, ticker, NULL };
	char *text = modelio_config_text(j->cfg, 0);
	int r;

	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c.config_text = text;
	r = write_atomic(path, 1, lstm_ckpt_body, &c, ret_crc, err, errlen);
	free(text);
	return r;
}

/* Checks model_kind == "lstm" and the shape map against the job's. */
static int check_lstm_shape(Reader *rd, const LstmJob *j, const char *what)
{
	const msgpack_object *root = &rd->un.data;
	const msgpack_object *k = field(rd, root, "model_kind", MSGPACK_OBJECT_STR, "");
	const msgpack_object *s;

	if (!k || k->via.str.size != 4 || memcmp(k->via.str.ptr, "lstm", 4)) {
		rd->err[0] = '\0';
		snprintf(rd->err, rd->errlen, "%s: not an LSTM %s", rd->path, what);
		return -EINVAL;
	}
	s = field(rd, root, "lstm", MSGPACK_OBJECT_MAP, "");
	if (!s)
		return -EINVAL;
	if (get_int(rd, s, "input", "lstm") != j->input || get_int(rd, s, "hidden", "lstm") != j->hidden ||
	    get_int(rd, s, "layers", "lstm") != j->layers || get_int(rd, s, "window", "lstm") != j->window) {
		if (!rd->err[0])
			snprintf(rd->err, rd->errlen, "%s: %s of another LSTM shape", rd->path, what);
		return -EINVAL;
	}
	return 0;
}

int modelio_read_lstm_checkpoint(LstmJob *j, const char *ticker, const char *path,
				 char *err, size_t errlen)
{
	Reader rd;
	const msgpack_object *root, *pos, *rng, *net = NULL, *chunks;
	char *ours = NULL;
	LstmPos p;
	Rng g;
	int r;

	err[0] = '\0';
	r = reader_open(&rd, path, "checkpoint", err, errlen);
	if (r < 0)
		goto out;
	r = -EINVAL;
	root = &rd.un.data;
	if (check_header(&rd, CHECKPOINT_FORMAT, ticker) < 0)
		goto out;
	ours = modelio_config_text(j->cfg, 0);
	if (!ours) {
		r = -ENOMEM;
		goto out;
	}
	if (check_config(&rd, field(&rd, root, "config", MSGPACK_OBJECT_STR, ""), ours) < 0)
		goto out;
	if ((uint32_t)get_u64(&rd, root, "data_fingerprint", "") != j->data->fingerprint) {
		if (!err[0])
			snprintf(err, errlen, "%s: checkpoint was made from other price data "
				 "than the file given now", path);
		goto out;
	}
	if (check_lstm_shape(&rd, j, "checkpoint") < 0)
		goto out;
	pos = field(&rd, root, "pos", MSGPACK_OBJECT_MAP, "");
	memset(&p, 0, sizeof(p));
	p.chunk = (int32_t)get_int(&rd, pos, "chunk", "pos");
	p.epoch = (int32_t)get_int(&rd, pos, "epoch", "pos");
	p.done_episodes = get_int(&rd, pos, "done_episodes", "pos");
	p.bad_epochs = (int32_t)get_int(&rd, pos, "bad_epochs", "pos");
	p.best_val = get_double_or_inf(&rd, pos, "best_val", "pos");
	rng = field(&rd, root, "rng", MSGPACK_OBJECT_ARRAY, "");
	chunks = field(&rd, root, "chunks", MSGPACK_OBJECT_ARRAY, "");
	if (err[0])
		goto out;
	if (p.chunk < 0 || p.chunk > j->data->n_chunks || p.epoch < 0 ||
	    p.epoch >= j->cfg->lstm_epochs || p.bad_epochs < 0 || p.done_episodes < 0)
		goto bad;
	if (!rng || rng->via.array.size != 4)
		goto bad;
	for (int i = 0; i < 4; i++) {
		if (rng->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			goto bad;
		g.s[i] = rng->via.array.ptr[i].via.u64;
	}
	if (!chunks || (int)chunks->via.array.size != j->data->n_chunks)
		goto bad;
	for (int c = 0; c < j->data->n_chunks; c++) {
		const msgpack_object *v = &chunks->via.array.ptr[c];

		if (v->type == MSGPACK_OBJECT_NIL) {
			if (c < p.chunk)
				goto bad;
			continue;
		}
		if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != j->n_model * sizeof(float) ||
		    c >= p.chunk)
			goto bad;
		j->chunk_models[c] = malloc(j->n_model * sizeof(float));
		if (!j->chunk_models[c]) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(j->chunk_models[c], v->via.bin.ptr, v->via.bin.size);
		if (check_floats(&rd, j->chunk_models[c], j->n_model, "", "chunks") < 0)
			goto bad;
	}
	for (uint32_t i = 0; i < root->via.map.size; i++) {
		const msgpack_object *k = &root->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 3 &&
		    !memcmp(k->via.str.ptr, "net", 3))
			net = &root->via.map.ptr[i].val;
	}
	if (!net)
		goto bad;
	j->pos = p;
	j->rng = g;
	if (net->type != MSGPACK_OBJECT_NIL) {
		if (net->type != MSGPACK_OBJECT_MAP || p.chunk >= j->data->n_chunks)
			goto bad;
		r = lstm_job_start_chunk(j, 0);
		if (r < 0)
			goto out;
		r = -EINVAL;
		if (get_floats(&rd, net, "params", "net", j->net.params, j->n_params * 4) ||
		    get_floats(&rd, net, "best", "net", j->best, j->n_params * 4) ||
		    get_floats(&rd, net, "adam_m", "net", j->opt.m, j->opt.n * 4) ||
		    get_floats(&rd, net, "adam_v", "net", j->opt.v, j->opt.n * 4))
			goto out;
		j->opt.t = get_int(&rd, net, "adam_t", "net");
	} else if (p.epoch != 0) {
		goto bad;
	}
	if (err[0])
		goto out;
	r = 0;
	goto out;
bad:
	if (!err[0])
		snprintf(err, errlen, "%s: corrupt checkpoint: inconsistent fields", path);
	r = -EINVAL;
out:
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s: cannot read checkpoint", path);
	free(ours);
	reader_close(&rd);
	return r;
}

static void pk_lstm_shape_cb(Writer *w, const void *j)
{
	pk_lstm_shape(w, j);
}

int modelio_write_lstm_model(const LstmJob *j, const char *ticker, const Backtest *bt,
			     const char *path, uint32_t *ret_crc, char *err, size_t errlen)
{
	ModelSpec spec = { ticker, j->cfg, j->data, "lstm", pk_lstm_shape_cb, j,
			   j->chunk_models, j->n_model, bt, NULL };

	return write_model(&spec, path, ret_crc, err, errlen);
}

/* The LSTM part of modelio_read_model: shape, networks, metrics. */
static int read_lstm_model(Reader *rd, ModelFile *m)
{
	const msgpack_object *root = &rd->un.data;
	const msgpack_object *s, *nets, *metrics, *acts;
	size_t n_floats;

	snprintf(m->model_kind, sizeof(m->model_kind), "lstm");
	s = field(rd, root, "lstm", MSGPACK_OBJECT_MAP, "");
	nets = field(rd, root, "networks", MSGPACK_OBJECT_ARRAY, "");
	metrics = field(rd, root, "metrics", MSGPACK_OBJECT_MAP, "");
	if (!s || !nets || !metrics)
		return -EINVAL;
	m->lstm_input = (int)get_int(rd, s, "input", "lstm");
	m->lstm_hidden = (int)get_int(rd, s, "hidden", "lstm");
	m->lstm_layers = (int)get_int(rd, s, "layers", "lstm");
	m->lstm_window = (int)get_int(rd, s, "window", "lstm");
	if (rd->err[0])
		return -EINVAL;
	if (m->lstm_input != LSTM_JOB_INPUTS || m->lstm_hidden < 1 || m->lstm_hidden > 65536 ||
	    m->lstm_layers < 1 || m->lstm_layers > 64 || m->lstm_window < 1)
		return -EINVAL;
	n_floats = lstm_param_count(m->lstm_input, m->lstm_hidden, m->lstm_layers) +
		   2 * (size_t)m->lstm_input;
	m->n_chunks = (int)nets->via.array.size;
	if (m->n_chunks < 1)
		return -EINVAL;
	m->params = calloc((size_t)m->n_chunks, sizeof(float *));
	if (!m->params)
		return -ENOMEM;
	for (int c = 0; c < m->n_chunks; c++) {
		const msgpack_object *v = &nets->via.array.ptr[c];

		if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != n_floats * sizeof(float))
			return -EINVAL;
		m->params[c] = malloc(n_floats * sizeof(float));
		if (!m->params[c])
			return -ENOMEM;
		memcpy(m->params[c], v->via.bin.ptr, v->via.bin.size);
		if (check_floats(rd, m->params[c], n_floats, "", "chunks") < 0)
			return -EINVAL;
	}
	m->metrics.total_return = get_double(rd, metrics, "total_return", "metrics");
	m->metrics.sharpe = get_double(rd, metrics, "sharpe", "metrics");
	m->metrics.max_drawdown = get_double(rd, metrics, "max_drawdown", "metrics");
	m->metrics.volatility = get_double(rd, metrics, "volatility", "metrics");
	m->metrics.win_rate = get_double(rd, metrics, "win_rate", "metrics");
	m->metrics.buy_hold_return = get_double(rd, metrics, "buy_hold_return", "metrics");
	m->metrics.trades = get_int(rd, metrics, "trades", "metrics");
	m->metrics.test_days = get_int(rd, metrics, "test_days", "metrics");
	acts = field(rd, metrics, "actions", MSGPACK_OBJECT_ARRAY, "metrics");
	if (!acts || acts->via.array.size != ENV_ACTIONS)
		return -EINVAL;
	for (int a = 0; a < ENV_ACTIONS; a++)
		m->metrics.actions[a] = (int64_t)acts->via.array.ptr[a].via.u64;
	return rd->err[0] ? -EINVAL : 0;
}

/* 1 when the model file's model_kind is "lstm" (DDQN files say "ddqn"). */
/* 1 for model_kind "lstm", 0 for "ddqn" or no model_kind (the first
 * files), -EINVAL with the message for any other kind. */
static int model_is_lstm(Reader *rd)
{
	const msgpack_object *root = &rd->un.data;

	for (uint32_t i = 0; i < root->via.map.size; i++) {
		const msgpack_object *k = &root->via.map.ptr[i].key;
		const msgpack_object *v = &root->via.map.ptr[i].val;

		if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != 10 ||
		    memcmp(k->via.str.ptr, "model_kind", 10))
			continue;
		if (v->type == MSGPACK_OBJECT_STR && v->via.str.size == 4 &&
		    !memcmp(v->via.str.ptr, "lstm", 4))
			return 1;
		if (v->type == MSGPACK_OBJECT_STR && v->via.str.size == 4 &&
		    !memcmp(v->via.str.ptr, "ddqn", 4))
			return 0;
		if (v->type == MSGPACK_OBJECT_STR)
			snprintf(rd->err, rd->errlen, "%s: model_kind '%.*s' is not one this worker "
				 "reads (ddqn, lstm)", rd->path, (int)(v->via.str.size > 32 ? 32 :
				 v->via.str.size), v->via.str.ptr);
		else
			snprintf(rd->err, rd->errlen, "%s: field 'model_kind' of the wrong type", rd->path);
		return -EINVAL;
	}
	return 0;
}
