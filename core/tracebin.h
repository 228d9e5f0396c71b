/*
 * tracebin.h — internal: the layout of pagelab's binary trace format, shared
 * by its reader (trace.c) and writer (tracewriter.c). docs/trace-format.md
 * describes it byte by byte.
 *
 *   header  16 bytes: magic (8) "\x89PLT\r\n\x1a\n", version (u16 LE) = 1,
 *           flags (u16 LE) = 0, reserved (u32 LE) = 0
 *   record  head byte, then the address delta (zigzag LEB128 varint) unless
 *           the head says "same delta", then the size (LEB128) when the size
 *           code is 15
 *   trailer 0x03, the record count (LEB128), end of file
 *
 * Head byte: bits 0-1 kind (0 read, 1 write, 2 exec, 3 only in 0x03 = end),
 * bits 2-5 size code (c < 15: size 2^c; 15: explicit), bit 6 same delta as
 * the previous record (the first record's "previous" is address 0, delta
 * 0), bit 7 reserved (0).
 */
#ifndef MM_TRACEBIN_H
#define MM_TRACEBIN_H

#include <stdint.h>

/* The PNG trick: a high byte catches 7-bit transfers, CR LF catches newline
 * conversion, ^Z stops a DOS "type". */
static const unsigned char tracebin_magic[8] = {
    0x89, 'P', 'L', 'T', '\r', '\n', 0x1a, '\n',
};

#define TRACEBIN_MAGIC_SIZE 8u
#define TRACEBIN_HEADER_SIZE 16u
#define TRACEBIN_VERSION 1u

#define TRACEBIN_KIND_MASK 0x03u
#define TRACEBIN_KIND_RESERVED 0x03u
#define TRACEBIN_SIZE_SHIFT 2
#define TRACEBIN_SIZE_MASK 0x0fu
#define TRACEBIN_SIZE_EXPLICIT 15u
#define TRACEBIN_SAME_DELTA 0x40u
#define TRACEBIN_RESERVED_BIT 0x80u
#define TRACEBIN_END 0x03u

/* Longest record: head, 10-byte delta, 5-byte size. */
#define TRACEBIN_MAX_RECORD 16u

/* Signed delta to an unsigned varint value: small magnitudes stay small. */
static inline uint64_t tracebin_zigzag(uint64_t delta)
{
    return (delta << 1) ^ (0 - (delta >> 63));
}

static inline uint64_t tracebin_unzigzag(uint64_t v)
{
    return (v >> 1) ^ (0 - (v & 1));
}

#endif /* MM_TRACEBIN_H */
