/* CRC-32 (IEEE 802.3, the same as zlib.crc32 and Python's zlib.crc32) of byte buffers: the checksum of model files,
 * checkpoints and anything else written to disk and verified on read. */
#ifndef TV_CHECKSUM_H
#define TV_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0. */
uint32_t checksum_crc32(uint32_t crc, const void *data, size_t len);

#endif
