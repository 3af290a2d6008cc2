/* The checks of the unit tests (tests/test_*.c), one copy for all of them.
 *
 * CHECK(cond, fmt, ...) counts a check; when cond is false it counts a
 * failure and prints "FAIL file:line: cond: message" on stderr, and the
 * test goes on, so one run shows every failed check. The message's
 * arguments are evaluated only then (they may rely on cond being false).
 * REQUIRE is the fatal one, for a step the rest of the test cannot do
 * without: it exits 1 at once. check_done prints the summary line and
 * gives main its exit status. A test may read check_failures (to stop a
 * loop that would only repeat a failure) and count a failure found other
 * than by a condition with CHECK_FAILED. */
#ifndef TV_TESTS_CHECK_H
#define TV_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_count, check_failures;

/* cond is NULL for CHECK_FAILED. */
__attribute__((format(printf, 4, 5)))
static inline void check_failed(const char *file, int line, const char *cond,
				const char *fmt, ...)
{
	va_list ap;

	check_failures++;
	if (cond)
		fprintf(stderr, "FAIL %s:%d: %s: ", file, line, cond);
	else
		fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) do { \
	check_count++; \
	if (!(cond)) \
		check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__); \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	CHECK(strcmp(g_, w_) == 0, "\n   got  '%s'\n   want '%s'", g_, w_); \
} while (0)

/* A failure with no condition of its own (a set-up step failed). */
#define CHECK_FAILED(...) check_failed(__FILE__, __LINE__, NULL, __VA_ARGS__)

#define REQUIRE(cond, ...) do { \
	check_count++; \
	if (!(cond)) { \
		check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__); \
		fprintf(stderr, "required check failed: stopping\n"); \
		exit(1); \
	} \
} while (0)

/* "NAME: N checks, M failed" (on stderr when M > 0); 1 when M > 0, else 0. */
static inline int check_done(const char *name)
{
	fprintf(check_failures ? stderr : stdout, "%s: %d checks, %d failed\n", name,
		check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
