/*
 * tracewriter.c — writes pagelab's binary trace format (tracebin.h,
 * docs/trace-format.md) and converts any source into it.
 *
 * Records are encoded into a fixed buffer and handed to zlib in large
 * chunks; a path ending in ".gz" is compressed, any other is written as is
 * (zlib's transparent "T" mode), so one code path serves both.
 *
 * Invariants:
 *   - prev_addr and prev_delta are those of the last record encoded, which
 *     is exactly the state the reader will have after decoding it;
 *   - once failed is set nothing more is written and the trailer is never
 *     written, so a reader rejects the partial file as truncated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "source_impl.h"
#include "tracebin.h"

#define TRACEWRITER_BUFSIZE 65536u

struct mm_trace_writer {
    gzFile gz;
    char *path;
    unsigned char buf[TRACEWRITER_BUFSIZE];
    size_t len;
    uint64_t prev_addr, prev_delta, count;
    int failed;
    char error[SOURCE_ERRLEN];
};

/* Records the first write error with zlib's or the system's reason. Never
 * fails. */
static void tracewriter_fail(mm_trace_writer *w, const char *what)
{
    int code = Z_OK;
    const char *msg;
    if (w->failed)
        return;
    msg = gzerror(w->gz, &code);
    snprintf(w->error, sizeof w->error, "%s: %s: %s", w->path, what,
             code == Z_ERRNO ? strerror(errno) : (msg && *msg ? msg :
                                                  "unknown zlib error"));
    w->failed = 1;
}

/* Hands the buffer to zlib. 0, or -1 with the writer failed. */
static int tracewriter_flush(mm_trace_writer *w)
{
    if (w->len == 0)
        return 0;
    if (gzwrite(w->gz, w->buf, (unsigned)w->len) != (int)w->len) {
        tracewriter_fail(w, "write failed");
        return -1;
    }
    w->len = 0;
    return 0;
}

/* Encodes v as LEB128 at p (at most 10 bytes); returns the length. Never
 * fails. */
static size_t tracewriter_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* Creates the file and writes the header; NULL + message on error. */
mm_trace_writer *mm_trace_writer_open(const char *path, char *err,
                                      size_t errlen)
{
    mm_trace_writer *w;
    size_t plen;
    const char *mode;
    if (path == NULL) {
        source_errf(err, errlen, "trace writer: no path given");
        return NULL;
    }
    plen = strlen(path);
    w = calloc(1, sizeof *w);
    if (w == NULL || (w->path = malloc(plen + 1)) == NULL) {
        free(w);
        source_errf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    memcpy(w->path, path, plen + 1);
    /* gzip level 6 is zlib's default trade-off; "T" writes plain bytes */
    mode = plen > 3 && strcmp(path + plen - 3, ".gz") == 0 ? "wb6" : "wbT";
    errno = 0;
    w->gz = gzopen(path, mode);
    if (w->gz == NULL) {
        source_errf(err, errlen, "cannot create %s: %s", path,
                    errno ? strerror(errno) : "out of memory");
        free(w->path);
        free(w);
        return NULL;
    }
    memcpy(w->buf, tracebin_magic, TRACEBIN_MAGIC_SIZE);
    w->buf[8] = TRACEBIN_VERSION & 0xff;
    w->buf[9] = TRACEBIN_VERSION >> 8;
    memset(w->buf + 10, 0, TRACEBIN_HEADER_SIZE - 10);
    w->len = TRACEBIN_HEADER_SIZE;
    return w;
}

/* Appends n references. 0, or -1 with the writer failed. */
int mm_trace_writer_put(mm_trace_writer *w, const mm_ref *refs, size_t n)
{
    size_t i;
    if (w->failed)
        return -1;
    for (i = 0; i < n; i++) {
        const mm_ref *r = &refs[i];
        uint64_t delta = r->addr - w->prev_addr;
        unsigned head, code;
        unsigned char *p;
        if (r->kind > MM_REF_EXEC) {
            snprintf(w->error, sizeof w->error, "%s: reference %llu has kind "
                     "%u (expected 0 read, 1 write or 2 exec)", w->path,
                     (unsigned long long)(w->count + 1), (unsigned)r->kind);
            w->failed = 1;
            return -1;
        }
        if (w->len > TRACEWRITER_BUFSIZE - TRACEBIN_MAX_RECORD &&
            tracewriter_flush(w) != 0)
            return -1;
        p = w->buf + w->len;
        /* sizes that are powers of two up to 16 KiB fit in the head */
        if (r->size != 0 && (r->size & (r->size - 1)) == 0 &&
            r->size < (UINT32_C(1) << TRACEBIN_SIZE_EXPLICIT)) {
            code = 0;
            while ((UINT32_C(1) << code) != r->size)
                code++;
        } else {
            code = TRACEBIN_SIZE_EXPLICIT;
        }
        head = r->kind | code << TRACEBIN_SIZE_SHIFT;
        if (delta == w->prev_delta)
            head |= TRACEBIN_SAME_DELTA;
        *p++ = (unsigned char)head;
        if (delta != w->prev_delta)
            p += tracewriter_varint(p, tracebin_zigzag(delta));
        if (code == TRACEBIN_SIZE_EXPLICIT)
            p += tracewriter_varint(p, r->size);
        w->len = (size_t)(p - w->buf);
        w->prev_addr = r->addr;
        w->prev_delta = delta;
        w->count++;
    }
    return 0;
}

/* First error, or NULL. Never fails. */
const char *mm_trace_writer_error(const mm_trace_writer *w)
{
    return w->failed ? w->error : NULL;
}

/* References written. Never fails. */
uint64_t mm_trace_writer_count(const mm_trace_writer *w)
{
    return w->count;
}

/* Trailer, close, free. 0, or -1 with the first error in err. */
int mm_trace_writer_close(mm_trace_writer *w, char *err, size_t errlen)
{
    int rc;
    if (w == NULL)
        return 0;
    if (!w->failed) {
        if (w->len > TRACEWRITER_BUFSIZE - TRACEBIN_MAX_RECORD)
            tracewriter_flush(w);
        if (!w->failed) {
            w->buf[w->len++] = TRACEBIN_END;
            w->len += tracewriter_varint(w->buf + w->len, w->count);
            tracewriter_flush(w);
        }
    }
    errno = 0;
    rc = gzclose(w->gz);
    if (rc != Z_OK && !w->failed) {
        snprintf(w->error, sizeof w->error, "%s: closing failed: %s",
                 w->path, rc == Z_ERRNO && errno ? strerror(errno)
                                                 : "zlib error");
        w->failed = 1;
    }
    rc = w->failed ? -1 : 0;
    if (rc != 0)
        source_errf(err, errlen, "%s", w->error);
    free(w->path);
    free(w);
    return rc;
}

/* Copies a source into a binary trace file; -1 + message on error. */
int mm_trace_convert(mm_source *src, const char *out_path, uint64_t limit,
                     uint64_t *written, char *err, size_t errlen)
{
    mm_ref batch[4096];
    mm_trace_writer *w;
    uint64_t total = 0;
    const char *serr;
    if (written)
        *written = 0;
    if (mm_source_endless(src) && limit == 0) {
        source_errf(err, errlen, "convert: a workload never ends; give a "
                    "limit");
        return -1;
    }
    w = mm_trace_writer_open(out_path, err, errlen);
    if (w == NULL)
        return -1;
    for (;;) {
        size_t want = sizeof batch / sizeof batch[0], got;
        if (limit && limit - total < want)
            want = (size_t)(limit - total);
        if (want == 0)
            break;
        got = mm_source_next(src, batch, want);
        if (got == 0)
            break;
        if (mm_trace_writer_put(w, batch, got) != 0)
            break;
        total += got;
    }
    serr = mm_source_error(src);
    if (serr != NULL) {
        source_errf(err, errlen, "%s", serr);
        mm_trace_writer_close(w, NULL, 0);
        remove(out_path);
        return -1;
    }
    if (mm_trace_writer_close(w, err, errlen) != 0) {
        remove(out_path);
        return -1;
    }
    if (written)
        *written = total;
    return 0;
}
