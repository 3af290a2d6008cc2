#include "checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t table[8][256];
static int table_ready;

/* Slicing-by-8 tables, built once; the worker is single-threaded when it
 * first calls this, and the tables are the same whoever builds them. */
static void build_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	table_ready = 1;
}

uint32_t checksum_crc32(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (!table_ready)
		build_table();
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		      table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

int checksum_file_trailer(const char *path, uint32_t *ret_crc)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint32_t crc = 0;
	unsigned char buf[65536], tail[5];
	int err = 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 5) {
		err = -EBADMSG;
		goto out;
	}
	off_t left = st.st_size - 5;
	while (left > 0) {
		ssize_t n = read(fd, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EBADMSG;
			goto out;
		}
		crc = checksum_crc32(crc, buf, (size_t)n);
		left -= n;
	}
	if (read(fd, tail, 5) != 5) {
		err = -EBADMSG;
		goto out;
	}
	uint32_t stored = (uint32_t)tail[1] << 24 | (uint32_t)tail[2] << 16 |
			  (uint32_t)tail[3] << 8 | tail[4];
	if (tail[0] != 0xce || stored != crc)
		err = -EBADMSG;
out:
	close(fd);
	if (err == 0)
		*ret_crc = crc;
	return err;
}
