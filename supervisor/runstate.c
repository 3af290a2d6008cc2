/* Checks at the start of a run (see runstate.h). */
#include "runstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/csv.h"

/* Does the header line (NUL-terminated) have a column named want? Fields
 * are trimmed of spaces, tabs and one pair of double quotes, as csv.h says. */
static int header_has(const char *line, const char *want)
{
	const char *p = line;

	for (;;) {
		size_t n = strcspn(p, ",");
		const char *a = p, *b = p + n;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if (b - a >= 2 && *a == '"' && b[-1] == '"') {
			a++;
			b--;
		}
		if ((size_t)(b - a) == strlen(want) && strncasecmp(a, want, strlen(want)) == 0)
			return 1;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

int runstate_check_input(const char *path, int prices, char *msg, size_t len)
{
	struct stat st;
	char buf[4096];
	ssize_t got;
	int fd, r = 0;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(msg, len, "%s: %s", path, r == -ELOOP ? "too many levels of symbolic links "
			 "(a symlink loop)" : strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(msg, len, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		snprintf(msg, len, "%s: is a folder, not a CSV file", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(msg, len, "%s: not a regular file (%s)", path,
			 S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device" :
			 S_ISBLK(st.st_mode) ? "a block device" : S_ISSOCK(st.st_mode) ? "a socket" :
			 "not a plain file");
		goto out;
	}
	if (st.st_size > (off_t)CSV_MAX_BYTES) {
		r = -EFBIG;
		snprintf(msg, len, "%s: %lld bytes, over the limit of %u MiB for a CSV file", path,
			 (long long)st.st_size, CSV_MAX_BYTES >> 20);
		goto out;
	}
	got = read(fd, buf, sizeof buf - 1);
	if (got < 0) {
		r = -errno;
		snprintf(msg, len, "%s: %s", path, strerror(-r));
		goto out;
	}
	buf[got] = '\0';
	if (memchr(buf, '\0', (size_t)got)) {
		r = -EINVAL;
		snprintf(msg, len, "%s: not a text file (NUL byte in the first %zd bytes)", path, got);
		goto out;
	}
	{
		char *line = buf;
		if (memcmp(line, "\xEF\xBB\xBF", 3) == 0)
			line += 3;
		line[strcspn(line, "\n")] = '\0';
		if (!*line) {
			r = -EINVAL;
			snprintf(msg, len, "%s:1: empty file or empty header line", path);
		} else if (!header_has(line, "date")) {
			r = -EINVAL;
			snprintf(msg, len, "%s:1: header: missing column 'date'", path);
		} else if (prices && !header_has(line, "close")) {
			r = -EINVAL;
			snprintf(msg, len, "%s:1: header: missing column 'close'", path);
		}
	}
out:
	close(fd);
	return r;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* ids sorted, for is_member (the caller's array is left as it is). */
static int64_t *sorted(const int64_t *ids, int n)
{
	int64_t *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
	if (c && n > 0) {
		memcpy(c, ids, (size_t)n * sizeof *c);
		qsort(c, (size_t)n, sizeof *c, cmp_i64);
	}
	return c;
}

static int is_member(int64_t id, const int64_t *sorted_ids, int n)
{
	return bsearch(&id, sorted_ids, (size_t)n, sizeof id, cmp_i64) != NULL;
}

static void append(char *buf, size_t len, const char *sep, const char *text)
{
	size_t used;

	if (!buf || !len)
		return;
	used = strlen(buf);
	if (used + 1 < len)
		snprintf(buf + used, len - used, "%s%s", used ? sep : "", text);
}

int runstate_check_jobs(Store *s, const int64_t *ids, int n, char *report, size_t len)
{
	JobList *l = NULL;
	int r, failed = 0;
	size_t plen = strlen(RUNSTATE_INPUT_PREFIX);
	int64_t *sids = sorted(ids, n);

	if (report && len)
		report[0] = '\0';
	if (!sids)
		return -ENOMEM;
	if ((r = store_jobs_load(s, &l)) < 0) {
		free(sids);
		return r;
	}
	ids = sids;
	for (int i = 0; i < l->n && r >= 0; i++) {
		const JobRow *j = &l->rows[i];
		char msg[1024], line[1400], reason[1100];
		int bad;

		if (!is_member(j->id, ids, n) || j->state == JOB_DONE || j->state == JOB_RUNNING)
			continue;
		bad = runstate_check_input(j->data_path, 1, msg, sizeof msg) < 0;
		if (!bad && j->signals_path[0])
			bad = runstate_check_input(j->signals_path, 0, msg, sizeof msg) < 0;
		if (bad) {
			snprintf(reason, sizeof reason, "%s%s", RUNSTATE_INPUT_PREFIX, msg);
			r = store_job_mark(s, j->id, JOB_FAILED, reason);
			snprintf(line, sizeof line, "%s: %s", j->ticker, msg);
			append(report, len, "\n", line);
			failed++;
		} else if (j->state == JOB_FAILED && strncmp(j->last_reason, RUNSTATE_INPUT_PREFIX, plen) == 0) {
			r = store_job_mark(s, j->id, JOB_PENDING, "");
		}
	}
	store_jobs_free(l);
	free(sids);
	return r < 0 ? r : failed;
}

int runstate_missing_signals(const Config *cfg, char *const *names, int n, char *list, size_t len)
{
	int missing = 0;

	if (list && len)
		list[0] = '\0';
	if (!cfg->signals_dir[0])
		return 0;
	for (int i = 0; i < n; i++) {
		char path[CONFIG_PATH_MAX + 300];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s.csv", cfg->signals_dir, names[i]);
		if (stat(path, &st) == 0)
			continue;
		missing++;
		append(list, len, ",", names[i]);
	}
	return missing;
}

/* A job that has trained (or started to): anything to drift from. */
static int has_trained(const JobRow *j)
{
	return j->state == JOB_DONE || j->attempts > 0 || j->done_episodes > 0 || j->ckpt_path[0];
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int runstate_drift(Store *s, const Config *now, char *const *names, int n, char *msg, size_t len)
{
	JobList *l = NULL;
	Config *was = malloc(sizeof *was);
	char **sids = malloc((size_t)(n > 0 ? n : 1) * sizeof *sids);
	int r, drifted = 0;

	if (msg && len)
		msg[0] = '\0';
	if (!was || !sids) {
		free(was);
		free(sids);
		return -ENOMEM;
	}
	memcpy(sids, names, (size_t)n * sizeof *sids);
	qsort(sids, (size_t)n, sizeof *sids, cmp_name);
	if ((r = store_jobs_load(s, &l)) < 0) {
		free(was);
		free(sids);
		snprintf(msg, len, "%s", store_errmsg(s));
		return r;
	}
	for (int i = 0; i < l->n; i++) {
		const JobRow *j = &l->rows[i];
		char name[128], err[512], diff[2048], line[2300];

		if (!bsearch(&j->ticker, sids, (size_t)n, sizeof *sids, cmp_name) || !j->config[0] ||
		    !has_trained(j))
			continue;
		snprintf(name, sizeof name, "%s: the configuration recorded for %s", store_path(s),
			 j->ticker);
		config_defaults(was);
		if (config_load_text(was, j->config, strlen(j->config), name, err, sizeof err) < 0) {
			snprintf(msg, len, "%s", err);
			r = -EINVAL;
			goto out;
		}
		if (config_model_diff(was, now, diff, sizeof diff) == 0)
			continue;
		drifted++;
		snprintf(line, sizeof line, "%s (%s): %s", j->ticker, store_job_state_name(j->state), diff);
		append(msg, len, "\n", line);
	}
	r = drifted;
out:
	store_jobs_free(l);
	free(was);
	free(sids);
	return r;
}

int runstate_record_config(Store *s, const char *config_text, const int64_t *ids, int n, int all)
{
	JobList *l = NULL;
	int64_t *sids = sorted(ids, n);
	int r;

	if (!sids)
		return -ENOMEM;
	if ((r = store_jobs_load(s, &l)) < 0 || (r = store_begin(s)) < 0) {
		store_jobs_free(l);
		free(sids);
		return r;
	}
	for (int i = 0; i < l->n && r >= 0; i++) {
		const JobRow *j = &l->rows[i];
		/* A job that has not trained yet takes this run's configuration. */
		if (is_member(j->id, sids, n) && (all || !j->config[0] || !has_trained(j)))
			r = store_job_set_config(s, j->id, config_text);
	}
	store_jobs_free(l);
	free(sids);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	return store_commit(s);
}
