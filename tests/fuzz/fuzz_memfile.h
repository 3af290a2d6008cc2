/* The worker's readers take a path; the fuzzers hand them the input as an
 * in-memory file (memfd) under /proc/self/fd, so no disk is touched. */
#ifndef TV_FUZZ_MEMFILE_H
#define TV_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes data into a fresh memfd and its path into path; returns the fd
 * (close it after use) or aborts - a harness that cannot run must not pass. */
static int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t len)
{
	int fd = memfd_create("fuzz", 0);
	size_t off = 0;

	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
