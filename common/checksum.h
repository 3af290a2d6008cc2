/* CRC-32 (IEEE 802.3, the same as zlib.crc32 and Python's zlib.crc32) of byte buffers: the checksum of model files,
 * checkpoints and anything else written to disk and verified on read. */
#ifndef TV_CHECKSUM_H
#define TV_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0. */
uint32_t checksum_crc32(uint32_t crc, const void *data, size_t len);

/* Checks a file that ends in the model-file trailer: the CRC-32 of every
 * byte before the last 5, stored there as a msgpack uint32 (0xce + 4
 * big-endian bytes). Returns 0 and *ret_crc, -EBADMSG when the trailer is
 * missing or disagrees, or a negative errno from open/read. */
int checksum_file_trailer(const char *path, uint32_t *ret_crc);

#endif
