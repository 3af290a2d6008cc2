/* Shards: see shard.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shard.h"

int shard_of(const char *ticker, int n)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a offset basis */
	for (const unsigned char *p = (const unsigned char *)ticker; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;         /* FNV prime */
	}
	return (int)(h % (uint64_t)n);
}

/* A decimal number of at most 9 digits (no sign, no spaces) ending at
 * *end. Returns 0 and *ret, or -EINVAL. */
static int parse_uint(const char *s, const char **end, int *ret)
{
	int v = 0, digits = 0;
	while (*s >= '0' && *s <= '9') {
		if (++digits > 9)
			return -EINVAL;
		v = v * 10 + (*s - '0');
		s++;
	}
	if (digits == 0)
		return -EINVAL;
	*end = s;
	*ret = v;
	return 0;
}

/* A whole string that is one number. */
static int parse_whole(const char *s, int *ret)
{
	const char *end;
	int v;
	if (parse_uint(s, &end, &v) < 0 || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int check_count(const char *what, int count, char *err, size_t errlen)
{
	if (count < 1 || count > SHARD_MAX) {
		snprintf(err, errlen, "%s: the shard count must be 1..%d, not %d", what, SHARD_MAX,
			 count);
		return -EINVAL;
	}
	return 0;
}

static int check_index(const char *what, int index, int count, char *err, size_t errlen)
{
	if (index >= count) {
		snprintf(err, errlen, "%s: shard index %d is not below the count %d (shards are 0..%d)",
			 what, index, count, count - 1);
		return -EINVAL;
	}
	return 0;
}

int shard_parse(const char *text, Shard *ret, char *err, size_t errlen)
{
	const char *p;
	int i, n;
	if (parse_uint(text, &p, &i) < 0 || *p != '/' || parse_whole(p + 1, &n) < 0) {
		snprintf(err, errlen, "--shard '%s': want I/N, e.g. 0/4 (shard I of N, 0 <= I < N)",
			 text);
		return -EINVAL;
	}
	if (check_count("--shard", n, err, errlen) < 0 ||
	    check_index("--shard", i, n, err, errlen) < 0)
		return -EINVAL;
	ret->index = i;
	ret->count = n;
	return 0;
}

static int given(const char *s)
{
	return s && *s;
}

/* "NAME=VALUE" must be a number: *ret, or -EINVAL with a message. */
static int parse_env(const char *name, const char *value, int *ret, char *err, size_t errlen)
{
	if (parse_whole(value, ret) < 0) {
		snprintf(err, errlen, "%s='%s': not a shard number", name, value);
		return -EINVAL;
	}
	return 0;
}

int shard_resolve(const ShardSource *src, Shard *ret, char *err, size_t errlen)
{
	Shard s = { 0, 0 };
	int count = 0;
	if (given(src->count_flag)) {
		if (parse_whole(src->count_flag, &count) < 0) {
			snprintf(err, errlen, "--shards '%s': not a number", src->count_flag);
			return -EINVAL;
		}
		if (check_count("--shards", count, err, errlen) < 0)
			return -EINVAL;
	}
	if (given(src->flag)) {
		if (shard_parse(src->flag, &s, err, errlen) < 0)
			return -EINVAL;
		if (count && count != s.count) {
			snprintf(err, errlen, "--shard %s and --shards %d disagree on the count",
				 src->flag, count);
			return -EINVAL;
		}
	} else if (given(src->slurm_id)) {
		if (parse_env("SLURM_ARRAY_TASK_ID", src->slurm_id, &s.index, err, errlen) < 0)
			return -EINVAL;
		const char *what = "--shards";
		if (!count) {
			what = "SLURM_ARRAY_TASK_COUNT";
			if (!given(src->slurm_count)) {
				snprintf(err, errlen, "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT "
					 "is not: give the count with --shards N");
				return -EINVAL;
			}
			if (parse_env(what, src->slurm_count, &count, err, errlen) < 0 ||
			    check_count(what, count, err, errlen) < 0)
				return -EINVAL;
		}
		s.count = count;
		if (check_index("SLURM_ARRAY_TASK_ID", s.index, count, err, errlen) < 0) {
			/* The usual cause: an array that does not start at 0. */
			size_t n = strlen(err);
			snprintf(err + n, errlen > n ? errlen - n : 0,
				 "; submit with --array=0-%d, or give the count with --shards N (%s)",
				 count - 1, what);
			return -EINVAL;
		}
	} else if (given(src->k8s_index)) {
		if (parse_env("JOB_COMPLETION_INDEX", src->k8s_index, &s.index, err, errlen) < 0)
			return -EINVAL;
		if (!count) {
			snprintf(err, errlen, "JOB_COMPLETION_INDEX=%s needs the shard count: --shards N "
				 "(the Job's completions)", src->k8s_index);
			return -EINVAL;
		}
		s.count = count;
		if (check_index("JOB_COMPLETION_INDEX", s.index, count, err, errlen) < 0)
			return -EINVAL;
	} else if (count) {
		snprintf(err, errlen, "--shards %d without a shard index: give --shard I/%d, or run "
			 "it in a Slurm job array or a Kubernetes Indexed Job", count, count);
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

int shard_suffix(const Shard *s, char *buf, size_t len)
{
	int n;
	if (s->count == 0) {
		n = snprintf(buf, len, "%s", "");
	} else {
		int width = snprintf(NULL, 0, "%d", s->count - 1);
		n = snprintf(buf, len, ".shard-%0*d-of-%d", width, s->index, s->count);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int shard_has(const Shard *s, const char *ticker)
{
	return s->count == 0 || shard_of(ticker, s->count) == s->index;
}
