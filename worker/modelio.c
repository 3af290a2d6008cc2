#include "modelio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/config.h"
#include "lstm_job.h"
#include "train.h"

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

/* The encoder's sink: a FILE, and the CRC of what went into it. */
typedef struct Writer {
	FILE *f;
	uint32_t crc;
	int failed;
	Enc enc;
} Writer;

static int writer_sink(void *data, const void *buf, size_t len)
{
	Writer *w = data;

	if (len && fwrite(buf, 1, len, w->f) != len) {
		w->failed = 1;
		return -1;
	}
	w->crc = checksum_crc32(w->crc, buf, len);
	return 0;
}

/* The trailing "crc32" entry (see modelio.h): its tag and value bypass the
 * encoder, since they are not part of the checksum. */
static void write_crc_trailer(Writer *w)
{
	unsigned char tail[5];
	uint32_t crc;

	enc_key(&w->enc, "crc32");
	crc = w->crc;
	tail[0] = 0xce;
	tail[1] = (unsigned char)(crc >> 24);
	tail[2] = (unsigned char)(crc >> 16);
	tail[3] = (unsigned char)(crc >> 8);
	tail[4] = (unsigned char)crc;
	if (fwrite(tail, 1, 5, w->f) != 5)
		w->failed = 1;
}

/* What a file holds besides the framing. */
typedef struct Body {
	const char *format;            /* MODEL_FORMAT | CHECKPOINT_FORMAT */
	const ModelioFile *file;
	const char *config_text;
	size_t entries;                /* written by pack */
	ModelioPack pack;
	const void *state;
} Body;

/* The root map: the 5 header entries, the body's, the crc32 trailer. */
static void write_body(Writer *w, const Body *b)
{
	Enc *e = &w->enc;

	enc_map(e, 5 + b->entries + 1);
	enc_key(e, "format");
	enc_str(e, b->format);
	enc_key(e, "version");
	enc_int(e, MODEL_VERSION);
	enc_key(e, "ticker");
	enc_str(e, b->file->ticker);
	enc_key(e, "config");
	enc_str(e, b->config_text);
	enc_key(e, "data_fingerprint");
	enc_uint(e, b->file->data->fingerprint);
	b->pack(e, b->state);
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

/* Writes PATH atomically: PATH.tmp, fsync, [PATH -> PATH.prev], rename,
 * fsync of the folder. */
static int write_atomic(const char *path, int keep_prev, const Body *body,
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
	enc_init(&w.enc, writer_sink, &w);
	write_body(&w, body);
	write_crc_trailer(&w);
	if (w.enc.nonfinite) {
		snprintf(err, errlen, "%s: not written: field '%s' holds a non-finite number",
			 path, w.enc.nonfinite);
		fclose(w.f);
		unlink(tmp);
		return -ERANGE;
	}
	if (w.failed || w.enc.failed || fflush(w.f) != 0) {
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

/* Writes body at file->path with the configuration text of
 * modelio_config_text(cfg, with_batch). */
static int write_file(const char *format, const ModelioFile *file, int with_batch, size_t entries,
		      ModelioPack pack, const void *state, uint32_t *ret_crc, char *err,
		      size_t errlen)
{
	Body b = { format, file, NULL, entries, pack, state };
	char *text = modelio_config_text(file->cfg, with_batch);
	int r;

	if (!text) {
		snprintf(err, errlen, "%s: out of memory", file->path);
		return -ENOMEM;
	}
	b.config_text = text;
	r = write_atomic(file->path, !strcmp(format, CHECKPOINT_FORMAT), &b, ret_crc, err, errlen);
	free(text);
	return r;
}

int modelio_write_checkpoint(const ModelioFile *file, size_t entries, ModelioPack pack,
			     const void *state, uint32_t *ret_crc, char *err, size_t errlen)
{
	return write_file(CHECKPOINT_FORMAT, file, 0, entries, pack, state, ret_crc, err, errlen);
}

/* A model file's body: model_kind, the kind's shape, the data's period and
 * chunks, the networks, the backtest. */
typedef struct ModelBody {
	const ModelioFile *file;
	const ModelioModel *model;
	const Backtest *bt;
} ModelBody;

#define MODEL_BODY_ENTRIES (2 + TRAIN_DATA_PACK_ENTRIES + 1 + BACKTEST_PACK_ENTRIES)

static void pack_model(Enc *e, const void *vbody)
{
	const ModelBody *b = vbody;
	const TrainData *d = b->file->data;

	enc_key(e, "model_kind");
	enc_str(e, b->model->kind);
	b->model->shape(e, b->model->state);
	train_data_pack(e, d);
	enc_key(e, "networks");
	enc_array(e, (size_t)d->n_chunks);
	for (int c = 0; c < d->n_chunks; c++)
		enc_floats(e, b->model->nets[c], b->model->net_floats);
	backtest_pack(e, b->bt);
}

int modelio_write_model(const ModelioFile *file, const ModelioModel *model, const Backtest *bt,
			uint32_t *ret_crc, char *err, size_t errlen)
{
	ModelBody b = { file, model, bt };

	return write_file(MODEL_FORMAT, file, 1, MODEL_BODY_ENTRIES, pack_model, &b, ret_crc, err,
			  errlen);
}

/* ---- reading --------------------------------------------------------------- */

typedef struct Reader {
	void *map;
	size_t len;
	DecDoc *doc;
	Dec root;
} Reader;

/* Maps path, checks the CRC trailer and decodes it (codec.h bounds every
 * length by the bytes that remain). */
static int reader_open(Reader *rd, const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;
	int fd;
	uint32_t crc, stored;
	const unsigned char *b;

	memset(rd, 0, sizeof(*rd));
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
	return dec_open(&rd->doc, &rd->root, rd->map, rd->len, path, what, err, errlen);
}

static void reader_close(Reader *rd)
{
	dec_close(rd->doc);
	if (rd->map)
		munmap(rd->map, rd->len);
	memset(rd, 0, sizeof(*rd));
}

/* format and version; the ticker when ticker is not NULL. */
static int check_header(const Dec *root, const char *format, const char *ticker)
{
	const char *t;
	size_t n;

	if (!dec_str_is(root, "format", format))
		return dec_fail_now(root, "not a %s file", format);
	if (dec_int(root, "version") != MODEL_VERSION)
		return dec_fail_now(root, "unsupported %s version (this build reads %d)", format,
				    MODEL_VERSION);
	if (dec_str(root, "ticker", &t, &n) < 0)
		return -EINVAL;
	if (ticker && (n != strlen(ticker) || memcmp(t, ticker, n)))
		return dec_fail(root, "checkpoint belongs to ticker '%.*s', not '%s'", (int)n, t,
				ticker);
	return 0;
}

/* Compares the stored configuration with ours; names the first difference. */
static int check_config(const Dec *root, const char *ours)
{
	const char *s, *o = ours;
	size_t n, i = 0;

	if (dec_str(root, "config", &s, &n) < 0)
		return -EINVAL;
	if (strlen(ours) == n && !memcmp(s, ours, n))
		return 0;
	/* Walk line by line to name the first differing one. */
	while (i < n && *o) {
		size_t a = 0, b = strcspn(o, "\n");

		while (i + a < n && s[i + a] != '\n')
			a++;
		if (a != b || memcmp(s + i, o, a))
			return dec_fail(root, "checkpoint was written with another configuration: "
					"it has '%.*s', the config gives '%.*s'",
					(int)a, s + i, (int)b, o);
		i += a + 1;
		o += b + (o[b] == '\n');
	}
	return dec_fail(root, "checkpoint was written with another configuration");
}

int modelio_read_checkpoint(const ModelioFile *file, ModelioUnpack unpack, void *state,
			    char *err, size_t errlen)
{
	Reader rd;
	char *ours = NULL;
	int r;

	err[0] = '\0';
	r = reader_open(&rd, file->path, "checkpoint", err, errlen);
	if (r < 0)
		goto out;
	r = -EINVAL;
	if (check_header(&rd.root, CHECKPOINT_FORMAT, file->ticker) < 0)
		goto out;
	ours = modelio_config_text(file->cfg, 0);
	if (!ours) {
		r = -ENOMEM;
		goto out;
	}
	if (check_config(&rd.root, ours) < 0)
		goto out;
	if ((uint32_t)dec_u64(&rd.root, "data_fingerprint") != file->data->fingerprint) {
		dec_fail(&rd.root, "checkpoint was made from other price data than the file given now");
		goto out;
	}
	r = unpack(&rd.root, state);
	if (r == 0 && dec_failed(&rd.root))
		r = -EINVAL;
out:
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s: cannot read checkpoint", file->path);
	free(ours);
	reader_close(&rd);
	return r;
}

/* 1 for model_kind "lstm", 0 for "ddqn" or no model_kind (the first
 * files), -EINVAL with the message for any other kind. */
static int model_is_lstm(const Dec *root)
{
	const char *k;
	size_t n;

	if (!dec_has(root, "model_kind") || dec_str_is(root, "model_kind", "ddqn"))
		return 0;
	if (dec_str_is(root, "model_kind", "lstm"))
		return 1;
	if (dec_str(root, "model_kind", &k, &n) < 0)
		return -EINVAL;
	return dec_fail(root, "model_kind '%.*s' is not one this worker reads (ddqn, lstm)",
			(int)(n > 32 ? 32 : n), k);
}

/* The kind's shape: ret->n_layers/sizes or the lstm_* fields, and the
 * floats of one chunk model. */
static int read_shape(const Dec *root, ModelFile *m, size_t *ret_floats)
{
	LstmShape k;
	int r;

	if (!strcmp(m->model_kind, "lstm")) {
		r = lstm_job_unpack_shape(root, &k, ret_floats);
		if (r < 0)
			return r;
		m->lstm_input = k.input;
		m->lstm_hidden = k.hidden;
		m->lstm_layers = k.layers;
		m->lstm_window = k.window;
		return 0;
	}
	r = trainer_unpack_shape(root, m->sizes);
	if (r < 0)
		return r;
	m->n_layers = r;
	*ret_floats = 0;
	for (int l = 0; l < m->n_layers; l++)
		*ret_floats += (size_t)m->sizes[l + 1] * (size_t)(m->sizes[l] + 1);
	return 0;
}

static int read_networks(const Dec *root, ModelFile *m, size_t n_floats)
{
	long n;
	Dec nets = dec_array(root, "networks", &n);

	if (n < 0)
		return -EINVAL;
	if (n < 1)
		return dec_invalid(&nets, NULL, "is empty");
	m->params = calloc((size_t)n, sizeof(float *));
	if (!m->params)
		return -ENOMEM;
	m->n_chunks = (int)n;
	for (long c = 0; c < n; c++) {
		Dec v = dec_at(&nets, (size_t)c);

		m->params[c] = malloc(n_floats * sizeof(float));
		if (!m->params[c])
			return -ENOMEM;
		if (dec_as_floats(&v, m->params[c], n_floats) < 0)
			return -EINVAL;
	}
	return 0;
}

int modelio_read_model(ModelFile *ret, const char *path, char *err, size_t errlen)
{
	Reader rd;
	ModelFile m;
	const char *s;
	size_t n, n_floats = 0;
	int r;

	memset(&m, 0, sizeof(m));
	err[0] = '\0';
	r = reader_open(&rd, path, "model", err, errlen);
	if (r < 0)
		goto out;
	r = -EINVAL;
	if (check_header(&rd.root, MODEL_FORMAT, NULL) < 0)
		goto out;
	r = model_is_lstm(&rd.root);
	if (r < 0)
		goto out;
	snprintf(m.model_kind, sizeof(m.model_kind), "%s", r ? "lstm" : "ddqn");
	r = -EINVAL;
	if (dec_str(&rd.root, "ticker", &s, &n) < 0)
		goto out;
	snprintf(m.ticker, sizeof(m.ticker), "%.*s", (int)n, s);
	if (dec_str(&rd.root, "config", &s, &n) < 0)
		goto out;
	m.fingerprint = (uint32_t)dec_u64(&rd.root, "data_fingerprint");
	m.config_text = strndup(s, n);
	if (!m.config_text) {
		r = -ENOMEM;
		goto out;
	}
	r = read_shape(&rd.root, &m, &n_floats);
	if (r == 0)
		r = read_networks(&rd.root, &m, n_floats);
	if (r == 0)
		r = backtest_unpack_metrics(&rd.root, &m.metrics);
	if (r == 0 && dec_failed(&rd.root))
		r = -EINVAL;
	if (r == 0) {
		*ret = m;
		memset(&m, 0, sizeof(m));
	}
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
