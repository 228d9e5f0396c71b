/*
 * trace.c — streaming trace readers (docs/trace-format.md).
 *
 * A trace is read through zlib's gzread, which reads gzip and plain files
 * alike, into one fixed buffer: memory is constant whatever the file size.
 * Text formats are parsed line by line straight from the buffer; binary
 * formats byte by byte. Every malformed input becomes an error naming the
 * file, the line (text) or byte offset (binary) and what was wrong; a gzip
 * stream or binary trace that stops early is an error, never a silent end.
 *
 * Invariants:
 *   - buf[pos..len) holds the unread bytes; consumed is the stream offset of
 *     buf[0], so the offset of the next unread byte is consumed + pos;
 *   - line is the number of the last line handed to a parser (1-based);
 *   - has_pending holds at most one reference that did not fit in the
 *     caller's batch (the store half of a lackey 'M' line);
 *   - binary: prev_addr and prev_delta are those of the last record
 *     decoded, records counts records since the header.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "source_impl.h"
#include "tracebin.h"

/* Read buffer: also the longest accepted text line. 64 KiB amortises the
 * gzread call and is far longer than any real trace line. */
#define TRACE_BUFSIZE 65536u
/* zlib's own input buffer; larger than its 8 KiB default for throughput. */
#define TRACE_GZBUFSIZE (128u * 1024u)
/* Detection looks at this many non-blank lines at most. */
#define TRACE_SNIFF_LINES 32
/* ... within this many leading bytes. */
#define TRACE_SNIFF_BYTES 8192u
/* Longest token quoted back in an error message. */
#define TRACE_QUOTE_MAX 40

static const char *const trace_names[MM_TRACE_FORMAT_COUNT] = {
    "detect", "text", "lackey", "blocks", "blocks32be", "spec", "binary",
};

typedef struct trace {
    mm_source base;
    gzFile gz;
    char *path;
    mm_trace_format format;
    uint64_t block_size;
    uint64_t block_base;
    unsigned char *buf;       /* TRACE_BUFSIZE bytes */
    size_t pos, len;
    int eof;                  /* gzread has nothing more */
    uint64_t consumed;
    uint64_t line;
    mm_ref pending;
    int has_pending;
    /* binary */
    uint64_t prev_addr, prev_delta, records;
    int done;                 /* trailer read and checked */
} trace;

/* ---- names -------------------------------------------------------------- */

/* Format name, NULL for an unknown value. Never fails. */
const char *mm_trace_format_name(mm_trace_format f)
{
    if ((unsigned)f >= MM_TRACE_FORMAT_COUNT)
        return NULL;
    return trace_names[f];
}

/* Format named name, or -1. Never fails. */
int mm_trace_format_parse(const char *name)
{
    int i;
    if (name == NULL)
        return -1;
    for (i = 0; i < MM_TRACE_FORMAT_COUNT; i++)
        if (strcmp(name, trace_names[i]) == 0)
            return i;
    return -1;
}

/* ---- buffer ------------------------------------------------------------- */

/* Records a read failure: a truncated gzip stream, a corrupt one, or an
 * I/O error. Never fails. */
static void trace_read_failed(trace *t)
{
    int code = Z_OK;
    const char *msg = gzerror(t->gz, &code);
    unsigned long long at = (unsigned long long)(t->consumed + t->len);
    if (code == Z_BUF_ERROR)
        source_fail(&t->base,
                    "%s: the gzip data is truncated (it ends after %llu "
                    "uncompressed bytes)", t->path, at);
    else if (code == Z_ERRNO)
        source_fail(&t->base, "%s: read error after %llu bytes: %s", t->path,
                    at, strerror(errno));
    else
        source_fail(&t->base, "%s: corrupt gzip data after %llu bytes: %s",
                    t->path, at, msg && *msg ? msg : "unknown zlib error");
}

/* Moves the unread bytes to the front and reads more. Returns the number of
 * bytes added, 0 at the end of the stream (eof set), or -1 after
 * source_fail. */
static int trace_fill(trace *t)
{
    int n;
    int code = Z_OK;
    if (t->eof)
        return 0;
    if (t->pos > 0) {
        memmove(t->buf, t->buf + t->pos, t->len - t->pos);
        t->consumed += t->pos;
        t->len -= t->pos;
        t->pos = 0;
    }
    if (t->len == TRACE_BUFSIZE)
        return 0;   /* full: the caller handles it */
    n = gzread(t->gz, t->buf + t->len, (unsigned)(TRACE_BUFSIZE - t->len));
    if (n < 0) {
        trace_read_failed(t);
        return -1;
    }
    if (n == 0) {
        /* gzread returns 0 for a truncated stream too; only gzerror tells */
        gzerror(t->gz, &code);
        if (code != Z_OK) {
            trace_read_failed(t);
            return -1;
        }
        t->eof = 1;
    }
    t->len += (size_t)n;
    return n;
}

/* Next line without its '\n' (and '\r'). Returns 1 with *line and *len, 0 at
 * the end, -1 after source_fail (line too long, read error). */
static int trace_getline(trace *t, const char **line, size_t *len)
{
    for (;;) {
        const unsigned char *start = t->buf + t->pos;
        size_t avail = t->len - t->pos;
        const unsigned char *nl = memchr(start, '\n', avail);
        size_t n;
        if (nl != NULL || (t->eof && avail > 0)) {
            n = nl ? (size_t)(nl - start) : avail;
            t->pos += nl ? n + 1 : n;
            t->line++;
            if (n > 0 && start[n - 1] == '\r')
                n--;
            *line = (const char *)start;
            *len = n;
            return 1;
        }
        if (t->eof)
            return 0;
        if (t->pos == 0 && t->len == TRACE_BUFSIZE) {
            source_fail(&t->base, "%s, line %llu: line longer than %u bytes",
                        t->path, (unsigned long long)t->line + 1,
                        TRACE_BUFSIZE);
            return -1;
        }
        if (trace_fill(t) < 0)
            return -1;
    }
}

/* ---- text parsing helpers ----------------------------------------------- */

typedef struct trace_cursor {
    const char *p, *end;
} trace_cursor;

/* Blank characters inside a line (not the newline). Never fails. */
static int trace_isspace(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Moves c past blanks. Never fails. */
static void trace_skip_space(trace_cursor *c)
{
    while (c->p < c->end && trace_isspace((unsigned char)*c->p))
        c->p++;
}

/* At the end of the meaningful part of a line (end or '#' when allowed).
 * Never fails. */
static int trace_at_end(const trace_cursor *c, int comments)
{
    return c->p == c->end || (comments && *c->p == '#');
}

/* Hex digit values plus one (0: not a hex digit): a table lookup is the
 * single hottest operation when parsing address traces. */
static const unsigned char trace_hexdigit[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Value of a hex digit, or -1. Never fails. */
static inline int trace_hexval(int ch)
{
    return (int)trace_hexdigit[ch & 0xff] - 1;
}

/* Copies the token at c (up to whitespace or ',') quoted into why.
 * Never fails. */
static void trace_quote(const trace_cursor *c, char *out, size_t outlen)
{
    const char *q = c->p;
    size_t n = 0;
    while (q + n < c->end && !trace_isspace((unsigned char)q[n]) &&
           q[n] != ',' && n < TRACE_QUOTE_MAX)
        n++;
    if (n == 0)
        snprintf(out, outlen, "%s", c->p == c->end ? "end of line" :
                                                     "nothing");
    else
        snprintf(out, outlen, "'%.*s'", (int)n, q);
}

/* A token ends at the line end, whitespace, or one of the stop chars.
 * Never fails. */
static int trace_token_end(const trace_cursor *c, const char *stops)
{
    return c->p == c->end || trace_isspace((unsigned char)*c->p) ||
           (*c->p != '\0' && strchr(stops, *c->p) != NULL);
}

/* Parses a hex number (optional 0x) ending at whitespace, a stop char or
 * the line end. Returns 0, or -1 with a reason in why. */
static int trace_hex(trace_cursor *c, const char *stops, const char *what,
                     uint64_t *out, char *why, size_t whylen)
{
    trace_cursor start = *c;
    uint64_t v = 0;
    int digits = 0, d;
    char tok[TRACE_QUOTE_MAX + 8];
    if (c->end - c->p >= 2 && c->p[0] == '0' && (c->p[1] == 'x' ||
                                                 c->p[1] == 'X'))
        c->p += 2;
    while (c->p < c->end && (d = trace_hexval((unsigned char)*c->p)) >= 0) {
        if (v >> 60) {
            trace_quote(&start, tok, sizeof tok);
            snprintf(why, whylen, "%s %s does not fit in 64 bits", what, tok);
            return -1;
        }
        v = (v << 4) | (uint64_t)d;
        digits++;
        c->p++;
    }
    if (digits == 0 || !trace_token_end(c, stops)) {
        trace_quote(&start, tok, sizeof tok);
        snprintf(why, whylen, "bad hex %s %s", what, tok);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a decimal number (or 0x hex) ending at whitespace, a stop char or
 * the line end. Returns 0, or -1 with a reason in why. */
static int trace_dec(trace_cursor *c, const char *stops, const char *what,
                     uint64_t *out, char *why, size_t whylen)
{
    trace_cursor start = *c;
    uint64_t v = 0;
    int digits = 0;
    char tok[TRACE_QUOTE_MAX + 8];
    if (c->end - c->p > 2 && c->p[0] == '0' && (c->p[1] == 'x' ||
                                                c->p[1] == 'X'))
        return trace_hex(c, stops, what, out, why, whylen);
    if (c->p < c->end && *c->p == '-') {
        trace_quote(&start, tok, sizeof tok);
        snprintf(why, whylen, "negative %s %s", what, tok);
        return -1;
    }
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        uint64_t dv = (uint64_t)(*c->p - '0');
        if (v > (UINT64_MAX - dv) / 10) {
            trace_quote(&start, tok, sizeof tok);
            snprintf(why, whylen, "%s %s does not fit in 64 bits", what, tok);
            return -1;
        }
        v = v * 10 + dv;
        digits++;
        c->p++;
    }
    if (digits == 0 || !trace_token_end(c, stops)) {
        trace_quote(&start, tok, sizeof tok);
        snprintf(why, whylen, "bad %s %s", what, tok);
        return -1;
    }
    *out = v;
    return 0;
}

/* An access size: decimal (or 0x hex) up to UINT32_MAX. 0 is read as 1:
 * the SPEC2000 address traces carry 0 on ~40% of their lines, and every
 * access touches at least its first byte.
 * Returns 0, or -1 with a reason in why. */
static int trace_size(trace_cursor *c, const char *stops, uint32_t *out,
                      char *why, size_t whylen)
{
    trace_cursor start = *c;
    uint64_t v;
    char tok[TRACE_QUOTE_MAX + 8];
    if (trace_dec(c, stops, "size", &v, why, whylen) != 0)
        return -1;
    if (v > UINT32_MAX) {
        trace_quote(&start, tok, sizeof tok);
        snprintf(why, whylen, "size %s is larger than 4294967295", tok);
        return -1;
    }
    *out = v == 0 ? 1 : (uint32_t)v;
    return 0;
}

/* Text that should not be there after the last field.
 * Returns 0, or -1 with a reason in why. */
static int trace_expect_end(trace_cursor *c, int comments, const char *after,
                            char *why, size_t whylen)
{
    char tok[TRACE_QUOTE_MAX + 8];
    trace_skip_space(c);
    if (trace_at_end(c, comments))
        return 0;
    trace_quote(c, tok, sizeof tok);
    snprintf(why, whylen, "unexpected %s after the %s", tok, after);
    return -1;
}

/* ---- line formats --------------------------------------------------------
 * Each parser turns one line into 0, 1 or 2 references (*n), or returns -1
 * with the reason in why. They read the trace only for block_size. */

/* text: "R|W|X hexaddr [size]", '#' comments, blank lines.
 * Returns 0, or -1 with a reason in why. */
static int trace_parse_text(const trace *t, trace_cursor *c, mm_ref *out,
                            int *n, char *why, size_t whylen)
{
    char tok[TRACE_QUOTE_MAX + 8];
    uint8_t kind;
    (void)t;
    *n = 0;
    trace_skip_space(c);
    if (trace_at_end(c, 1))
        return 0;
    switch (*c->p) {
    case 'R': case 'r': kind = MM_REF_READ; break;
    case 'W': case 'w': kind = MM_REF_WRITE; break;
    case 'X': case 'x': kind = MM_REF_EXEC; break;
    default:
        trace_quote(c, tok, sizeof tok);
        snprintf(why, whylen, "expected R, W or X, found %s", tok);
        return -1;
    }
    c->p++;
    if (c->p == c->end || !trace_isspace((unsigned char)*c->p)) {
        c->p--;
        trace_quote(c, tok, sizeof tok);
        snprintf(why, whylen, "expected R, W or X and a space, found %s", tok);
        return -1;
    }
    trace_skip_space(c);
    if (trace_hex(c, "#", "address", &out[0].addr, why, whylen) != 0)
        return -1;
    trace_skip_space(c);
    out[0].size = 1;
    if (!trace_at_end(c, 1) &&
        trace_size(c, "#", &out[0].size, why, whylen) != 0)
        return -1;
    if (trace_expect_end(c, 1, "size", why, whylen) != 0)
        return -1;
    out[0].kind = kind;
    *n = 1;
    return 0;
}

/* lackey: "I  addr,size", " L addr,size", " S ...", " M ..." (load then
 * store); "==pid==" lines are valgrind's messages.
 * Returns 0, or -1 with a reason in why. */
static int trace_parse_lackey(const trace *t, trace_cursor *c, mm_ref *out,
                              int *n, char *why, size_t whylen)
{
    char tok[TRACE_QUOTE_MAX + 8];
    uint8_t kind;
    int modify = 0;
    uint64_t addr;
    uint32_t size;
    (void)t;
    *n = 0;
    if (c->end - c->p >= 2 && c->p[0] == '=' && c->p[1] == '=')
        return 0;
    trace_skip_space(c);
    if (trace_at_end(c, 0))
        return 0;
    switch (*c->p) {
    case 'I': kind = MM_REF_EXEC; break;
    case 'L': kind = MM_REF_READ; break;
    case 'S': kind = MM_REF_WRITE; break;
    case 'M': kind = MM_REF_READ; modify = 1; break;
    default:
        trace_quote(c, tok, sizeof tok);
        snprintf(why, whylen, "expected I, L, S or M, found %s", tok);
        return -1;
    }
    c->p++;
    if (c->p == c->end || !trace_isspace((unsigned char)*c->p)) {
        c->p--;
        trace_quote(c, tok, sizeof tok);
        snprintf(why, whylen, "expected I, L, S or M and a space, found %s",
                 tok);
        return -1;
    }
    trace_skip_space(c);
    if (trace_hex(c, ",", "address", &addr, why, whylen) != 0)
        return -1;
    if (c->p == c->end || *c->p != ',') {
        trace_quote(c, tok, sizeof tok);
        snprintf(why, whylen, "expected ',' and a size after the address, "
                 "found %s", tok);
        return -1;
    }
    c->p++;
    if (trace_size(c, "", &size, why, whylen) != 0)
        return -1;
    if (trace_expect_end(c, 0, "size", why, whylen) != 0)
        return -1;
    out[0].addr = addr;
    out[0].size = size;
    out[0].kind = kind;
    *n = 1;
    if (modify) {
        out[1] = out[0];
        out[1].kind = MM_REF_WRITE;
        *n = 2;
    }
    return 0;
}

/* blocks: one decimal block number per line; lines with '*' are skipped.
 * Returns 0, or -1 with a reason in why. */
static int trace_parse_blocks(const trace *t, trace_cursor *c, mm_ref *out,
                              int *n, char *why, size_t whylen)
{
    trace_cursor start;
    uint64_t b;
    char tok[TRACE_QUOTE_MAX + 8];
    *n = 0;
    if (memchr(c->p, '*', (size_t)(c->end - c->p)) != NULL)
        return 0;   /* a checkpoint mark in the LIRS traces */
    trace_skip_space(c);
    if (trace_at_end(c, 0))
        return 0;
    start = *c;
    if (trace_dec(c, "", "block number", &b, why, whylen) != 0)
        return -1;
    if (b > (UINT64_MAX - t->block_base) / t->block_size) {
        trace_quote(&start, tok, sizeof tok);
        snprintf(why, whylen, "block number %s times block size %llu does "
                 "not fit in 64 bits", tok,
                 (unsigned long long)t->block_size);
        return -1;
    }
    if (trace_expect_end(c, 0, "block number", why, whylen) != 0)
        return -1;
    out[0].addr = t->block_base + b * t->block_size;
    out[0].size = 1;
    out[0].kind = MM_REF_READ;
    *n = 1;
    return 0;
}

/* spec: "l|s 0xaddr size". Returns 0, or -1 with a reason in why. */
static int trace_parse_spec(const trace *t, trace_cursor *c, mm_ref *out,
                            int *n, char *why, size_t whylen)
{
    char tok[TRACE_QUOTE_MAX + 8];
    uint8_t kind;
    (void)t;
    *n = 0;
    trace_skip_space(c);
    if (trace_at_end(c, 0))
        return 0;
    if (*c->p == 'l' || *c->p == 'L')
        kind = MM_REF_READ;
    else if (*c->p == 's' || *c->p == 'S')
        kind = MM_REF_WRITE;
    else {
        trace_quote(c, tok, sizeof tok);
        snprintf(why, whylen, "expected l or s, found %s", tok);
        return -1;
    }
    c->p++;
    if (c->p == c->end || !trace_isspace((unsigned char)*c->p)) {
        c->p--;
        trace_quote(c, tok, sizeof tok);
        snprintf(why, whylen, "expected l or s and a space, found %s", tok);
        return -1;
    }
    trace_skip_space(c);
    if (trace_hex(c, "", "address", &out[0].addr, why, whylen) != 0)
        return -1;
    trace_skip_space(c);
    if (trace_at_end(c, 0)) {
        snprintf(why, whylen, "missing size after the address");
        return -1;
    }
    if (trace_size(c, "", &out[0].size, why, whylen) != 0)
        return -1;
    if (trace_expect_end(c, 0, "size", why, whylen) != 0)
        return -1;
    out[0].kind = kind;
    *n = 1;
    return 0;
}

/* One line in format f. Returns 0, or -1 with a reason in why. */
static int trace_parse_line(const trace *t, mm_trace_format f, const char *line,
                            size_t len, mm_ref *out, int *n, char *why,
                            size_t whylen)
{
    trace_cursor c;
    c.p = line;
    c.end = line + len;
    switch (f) {
    case MM_TRACE_TEXT:
        return trace_parse_text(t, &c, out, n, why, whylen);
    case MM_TRACE_LACKEY:
        return trace_parse_lackey(t, &c, out, n, why, whylen);
    case MM_TRACE_BLOCKS:
        return trace_parse_blocks(t, &c, out, n, why, whylen);
    case MM_TRACE_SPEC:
        return trace_parse_spec(t, &c, out, n, why, whylen);
    default:
        assert(!"not a line format");
        *n = 0;
        return -1;
    }
}

/* Text formats: parses lines until max refs. On error calls source_fail and
 * returns the refs parsed before the bad line. */
static size_t trace_next_lines(trace *t, mm_ref *buf, size_t max)
{
    size_t n = 0;
    char why[200];
    if (t->has_pending) {
        buf[n++] = t->pending;
        t->has_pending = 0;
    }
    while (n < max) {
        const char *line;
        size_t len;
        mm_ref tmp[2];
        int k, i;
        if (trace_getline(t, &line, &len) <= 0)
            break;
        if (trace_parse_line(t, t->format, line, len, tmp, &k, why,
                             sizeof why) != 0) {
            source_fail(&t->base, "%s, line %llu: %s", t->path,
                        (unsigned long long)t->line, why);
            break;
        }
        for (i = 0; i < k; i++) {
            if (n < max) {
                buf[n++] = tmp[i];
            } else {
                t->pending = tmp[i];
                t->has_pending = 1;
            }
        }
    }
    return n;
}

/* ---- blocks32be --------------------------------------------------------- */

/* blocks32be: four bytes per ref. On error calls source_fail and returns
 * the refs read before the bad word. */
static size_t trace_next_be32(trace *t, mm_ref *buf, size_t max)
{
    size_t n = 0;
    while (n < max) {
        const unsigned char *p;
        uint32_t u;
        int32_t b;
        if (t->len - t->pos < 4) {
            if (trace_fill(t) < 0)
                break;
            if (t->len - t->pos < 4) {
                if (t->eof && t->len > t->pos)
                    source_fail(&t->base,
                                "%s, byte %llu: truncated: %u trailing bytes "
                                "do not make a 4-byte block number",
                                t->path,
                                (unsigned long long)(t->consumed + t->pos),
                                (unsigned)(t->len - t->pos));
                break;
            }
        }
        p = t->buf + t->pos;
        u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
            (uint32_t)p[2] << 8 | (uint32_t)p[3];
        if (u & UINT32_C(0x80000000)) {
            b = (int32_t)(u - UINT32_C(0x80000000)) - INT32_MAX - 1;
            source_fail(&t->base,
                        "%s, byte %llu: negative block number %ld",
                        t->path, (unsigned long long)(t->consumed + t->pos),
                        (long)b);
            break;
        }
        t->pos += 4;
        if ((uint64_t)u > (UINT64_MAX - t->block_base) / t->block_size) {
            source_fail(&t->base, "%s, byte %llu: block number %lu times "
                        "block size %llu does not fit in 64 bits", t->path,
                        (unsigned long long)(t->consumed + t->pos - 4),
                        (unsigned long)u, (unsigned long long)t->block_size);
            break;
        }
        buf[n].addr = t->block_base + (uint64_t)u * t->block_size;
        buf[n].size = 1;
        buf[n].kind = MM_REF_READ;
        n++;
    }
    return n;
}

/* ---- binary ------------------------------------------------------------- */

/* Makes at least want bytes available unless the stream ends first.
 * Returns the bytes available, or -1 after source_fail. */
static long trace_want(trace *t, size_t want)
{
    while (t->len - t->pos < want && !t->eof)
        if (trace_fill(t) < 0)
            return -1;
    return (long)(t->len - t->pos);
}

/* Decodes the varint at p, when it is at most 8 bytes long and 8 bytes
 * are readable there: one load, and the 7-bit groups packed without a
 * branch. Returns its length, or 0 (longer: the caller goes the slow
 * way). Little-endian hosts only (trace_fast_ok). */
static inline unsigned varint8(const unsigned char *p, uint64_t *out)
{
    uint64_t x, stop;
    unsigned nb;
    memcpy(&x, p, 8);
    stop = ~x & UINT64_C(0x8080808080808080);
    if (stop == 0)
        return 0;
    nb = ((unsigned)__builtin_ctzll(stop) >> 3) + 1;
    x &= ~UINT64_C(0) >> (64 - 8 * nb);
    /* pack the groups in three rounds: 7-bit pairs into 14 bits per
     * 16-bit lane (the continuation bits drop out), then 28 per 32, then
     * 56 */
    x = (x & UINT64_C(0x007f007f007f007f)) |
        ((x & UINT64_C(0x7f007f007f007f00)) >> 1);
    x = (x & UINT64_C(0x00003fff00003fff)) |
        ((x & UINT64_C(0x3fff00003fff0000)) >> 2);
    *out = (x & UINT64_C(0x000000000fffffff)) |
           ((x & UINT64_C(0x0fffffff00000000)) >> 4);
    return nb;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define trace_fast_ok 1
#else
#define trace_fast_ok 0
#endif

/* Reads a LEB128 varint byte by byte, refilling as it goes: the general
 * case of trace_varint. Returns 0, or -1 after source_fail. */
static int trace_varint_slow(trace *t, uint64_t *out, const char *what)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint64_t at = t->consumed + t->pos;
    for (;;) {
        unsigned b;
        if (t->pos == t->len) {
            long av = trace_want(t, 1);
            if (av < 0)
                return -1;
            if (av == 0) {
                source_fail(&t->base, "%s, byte %llu: truncated: the file "
                            "ends inside the %s of record %llu", t->path,
                            (unsigned long long)(t->consumed + t->pos), what,
                            (unsigned long long)t->records + 1);
                return -1;
            }
        }
        b = t->buf[t->pos++];
        if (shift == 63 && b > 1) {
            source_fail(&t->base, "%s, byte %llu: the %s varint does not fit "
                        "in 64 bits", t->path, (unsigned long long)at, what);
            return -1;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
    }
    *out = v;
    return 0;
}

/* Reads a LEB128 varint. Returns 0, or -1 after source_fail. The common
 * case, a short varint wholly in the buffer, is decoded here without a
 * refill check per byte; anything else (the buffer's end, a varint too
 * long for 64 bits) goes the slow way, which also words the errors. */
static inline int trace_varint(trace *t, uint64_t *out, const char *what)
{
    if (trace_fast_ok && t->len - t->pos >= 8) {
        unsigned nb = varint8(t->buf + t->pos, out);
        if (nb != 0) {
            t->pos += nb;
            return 0;
        }
    }
    return trace_varint_slow(t, out, what);
}

/* Reads and checks the 16-byte header. 0, or -1 after source_fail. */
static int trace_bin_header(trace *t)
{
    const unsigned char *h;
    unsigned version, flags;
    unsigned long reserved;
    long av = trace_want(t, TRACEBIN_HEADER_SIZE);
    if (av < 0)
        return -1;
    h = t->buf + t->pos;
    if ((size_t)av < TRACEBIN_MAGIC_SIZE ||
        memcmp(h, tracebin_magic, TRACEBIN_MAGIC_SIZE) != 0) {
        if (av == 0)
            source_fail(&t->base, "%s: empty file: no binary trace header",
                        t->path);
        else
            source_fail(&t->base, "%s, byte 0: wrong magic: not a pagelab "
                        "binary trace", t->path);
        return -1;
    }
    if ((size_t)av < TRACEBIN_HEADER_SIZE) {
        source_fail(&t->base, "%s, byte %ld: truncated: the file ends inside "
                    "the %u-byte header", t->path, av, TRACEBIN_HEADER_SIZE);
        return -1;
    }
    version = (unsigned)h[8] | (unsigned)h[9] << 8;
    flags = (unsigned)h[10] | (unsigned)h[11] << 8;
    reserved = (unsigned long)h[12] | (unsigned long)h[13] << 8 |
               (unsigned long)h[14] << 16 | (unsigned long)h[15] << 24;
    if (version != TRACEBIN_VERSION) {
        source_fail(&t->base, "%s, byte 8: unsupported binary trace version "
                    "%u (this reader knows version %u)", t->path, version,
                    TRACEBIN_VERSION);
        return -1;
    }
    if (flags != 0 || reserved != 0) {
        source_fail(&t->base, "%s, byte 10: unknown header flags 0x%x / "
                    "reserved 0x%lx (must be 0)", t->path, flags, reserved);
        return -1;
    }
    t->pos += TRACEBIN_HEADER_SIZE;
    return 0;
}

/* The trailer: the record count, then the end of the file.
 * Returns 0, or -1 after source_fail. */
static int trace_bin_trailer(trace *t, uint64_t at)
{
    uint64_t count;
    long av;
    if (trace_varint(t, &count, "trailer count") != 0)
        return -1;
    if (count != t->records) {
        source_fail(&t->base, "%s, byte %llu: the trailer says %llu "
                    "references but %llu were read", t->path,
                    (unsigned long long)at, (unsigned long long)count,
                    (unsigned long long)t->records);
        return -1;
    }
    av = trace_want(t, 1);
    if (av < 0)
        return -1;
    if (av > 0) {
        source_fail(&t->base, "%s, byte %llu: unexpected data after the end "
                    "marker", t->path,
                    (unsigned long long)(t->consumed + t->pos));
        return -1;
    }
    t->done = 1;
    return 0;
}

/* The common records, while 9 bytes (a head and an 8-byte varint) are in
 * the buffer: a head of a reference with an implicit size and a delta
 * of at most 8 bytes, or the same delta again. The state lives in locals
 * (the buffer is bytes, which may alias anything) and is written back at
 * the end. Stops before anything else, which trace_next_bin's general
 * step handles. Returns the refs decoded into buf. */
static size_t trace_bin_fast(trace *t, mm_ref *buf, size_t max)
{
    const unsigned char *p = t->buf + t->pos, *end = t->buf + t->len;
    uint64_t addr = t->prev_addr, delta = t->prev_delta, v;
    size_t n = 0;
    while (n < max && end - p >= 9) {
        unsigned head = p[0], code, nb = 0;
        if ((head & TRACEBIN_KIND_MASK) == TRACEBIN_KIND_RESERVED ||
            (head & TRACEBIN_RESERVED_BIT))
            break;                       /* the end marker, or an error */
        code = (head >> TRACEBIN_SIZE_SHIFT) & TRACEBIN_SIZE_MASK;
        if (code == TRACEBIN_SIZE_EXPLICIT)
            break;
        if (!(head & TRACEBIN_SAME_DELTA)) {
            nb = varint8(p + 1, &v);
            if (nb == 0)
                break;
            delta = tracebin_unzigzag(v);
        }
        addr += delta;
        buf[n].addr = addr;
        buf[n].size = UINT32_C(1) << code;
        buf[n].kind = (uint8_t)(head & TRACEBIN_KIND_MASK);
        n++;
        p += 1 + nb;
    }
    t->pos = (size_t)(p - t->buf);
    t->prev_addr = addr;
    t->prev_delta = delta;
    t->records += n;
    return n;
}

/* binary: decodes records until max refs or the end marker, the common
 * ones through trace_bin_fast. On error calls source_fail and returns the
 * refs decoded before it. */
static size_t trace_next_bin(trace *t, mm_ref *buf, size_t max)
{
    size_t n = 0;
    while (n < max && !t->done) {
        unsigned head, code;
        if (trace_fast_ok) {
            n += trace_bin_fast(t, buf + n, max - n);
            if (n == max)
                break;
        }
        uint64_t at = t->consumed + t->pos, v;
        if (t->pos == t->len) {
            long av = trace_want(t, 1);
            if (av < 0)
                break;
            if (av == 0) {
                source_fail(&t->base, "%s, byte %llu: truncated: the file "
                            "ends without the end marker (after %llu "
                            "references)", t->path, (unsigned long long)at,
                            (unsigned long long)t->records);
                break;
            }
        }
        head = t->buf[t->pos++];
        if (head == TRACEBIN_END) {
            trace_bin_trailer(t, at);
            break;
        }
        if ((head & TRACEBIN_KIND_MASK) == TRACEBIN_KIND_RESERVED ||
            (head & TRACEBIN_RESERVED_BIT)) {
            source_fail(&t->base, "%s, byte %llu: bad record head byte 0x%02x",
                        t->path, (unsigned long long)at, head);
            break;
        }
        if (!(head & TRACEBIN_SAME_DELTA)) {
            if (trace_varint(t, &v, "address delta") != 0)
                break;
            t->prev_delta = tracebin_unzigzag(v);
        }
        code = (head >> TRACEBIN_SIZE_SHIFT) & TRACEBIN_SIZE_MASK;
        if (code == TRACEBIN_SIZE_EXPLICIT) {
            if (trace_varint(t, &v, "size") != 0)
                break;
            if (v > UINT32_MAX) {
                source_fail(&t->base, "%s, byte %llu: size %llu does not fit "
                            "in 32 bits", t->path, (unsigned long long)at,
                            (unsigned long long)v);
                break;
            }
            buf[n].size = v ? (uint32_t)v : 1;   /* as text formats do */
        } else {
            buf[n].size = UINT32_C(1) << code;
        }
        t->prev_addr += t->prev_delta;
        buf[n].addr = t->prev_addr;
        buf[n].kind = (uint8_t)(head & TRACEBIN_KIND_MASK);
        t->records++;
        n++;
    }
    return n;
}

/* ---- the source --------------------------------------------------------- */

/* Dispatches on the format. On error calls source_fail and returns the refs
 * read before it. */
static size_t trace_next(mm_source *s, mm_ref *buf, size_t max)
{
    trace *t = (trace *)s;
    switch (t->format) {
    case MM_TRACE_BLOCKS32BE:
        return trace_next_be32(t, buf, max);
    case MM_TRACE_BINARY:
        return trace_next_bin(t, buf, max);
    default:
        return trace_next_lines(t, buf, max);
    }
}

/* Resets the parser state and reads the start of the stream.
 * Returns 0, or -1 after source_fail. */
static int trace_start(trace *t)
{
    t->pos = t->len = 0;
    t->eof = 0;
    t->consumed = 0;
    t->line = 0;
    t->has_pending = 0;
    t->prev_addr = t->prev_delta = t->records = 0;
    t->done = 0;
    return trace_fill(t) < 0 ? -1 : 0;
}

/* Seeks back to byte 0 and parses the header again. Returns 0, or -1 after
 * source_fail (the file cannot be re-read). */
static int trace_rewind(mm_source *s)
{
    trace *t = (trace *)s;
    if (gzrewind(t->gz) != 0) {
        source_fail(s, "%s: cannot rewind: %s", t->path, strerror(errno));
        return -1;
    }
    if (trace_start(t) != 0)
        return -1;
    if (t->format == MM_TRACE_BINARY && trace_bin_header(t) != 0)
        return -1;
    return 0;
}

/* Closes the file and frees the trace. Never fails. */
static void trace_destroy(mm_source *s)
{
    trace *t = (trace *)s;
    if (t->gz != NULL)
        gzclose(t->gz);
    free(t->buf);
    free(t->path);
    free(t);
}

/* One line: format, block size, path. Never fails. */
static void trace_describe(const mm_source *s, char *buf, size_t len)
{
    const trace *t = (const trace *)s;
    if (t->format == MM_TRACE_BLOCKS || t->format == MM_TRACE_BLOCKS32BE)
        snprintf(buf, len, "trace %s block_size=%llu '%s'",
                 trace_names[t->format], (unsigned long long)t->block_size,
                 t->path);
    else
        snprintf(buf, len, "trace %s '%s'", trace_names[t->format], t->path);
}

static const source_ops trace_ops = {
    "trace", 0, trace_next, trace_rewind, trace_destroy, trace_describe,
};

/* Format of an open trace, -1 for other sources. Never fails. */
int mm_trace_format_of(const mm_source *s)
{
    if (s == NULL || s->ops != &trace_ops)
        return -1;
    return (int)((const trace *)s)->format;
}

/* ---- detection ---------------------------------------------------------- */

/* Bytes a text trace may contain. Never fails. */
static int trace_is_text_byte(unsigned c)
{
    return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r' ||
           c == '\f' || c == '\v';
}

/* Lists the formats set in mask into out ("text, spec"). Never fails. */
static void trace_list(unsigned mask, char *out, size_t outlen)
{
    int f;
    size_t used = 0;
    out[0] = '\0';
    for (f = MM_TRACE_TEXT; f < MM_TRACE_FORMAT_COUNT; f++) {
        if (mask & (1u << f)) {
            int w = snprintf(out + used, outlen - used, "%s%s",
                             used ? ", " : "", trace_names[f]);
            if (w < 0 || (size_t)w >= outlen - used)
                break;
            used += (size_t)w;
        }
    }
}

/* Picks the format from the buffered start of the stream (buf[0..len),
 * nothing consumed). Returns the format, or -1 with a message in err. */
static int trace_detect(const trace *t, char *err, size_t errlen)
{
    static const mm_trace_format line_formats[] = {
        MM_TRACE_TEXT, MM_TRACE_LACKEY, MM_TRACE_BLOCKS, MM_TRACE_SPEC,
    };
    const unsigned all = 1u << MM_TRACE_TEXT | 1u << MM_TRACE_LACKEY |
                         1u << MM_TRACE_BLOCKS | 1u << MM_TRACE_SPEC;
    size_t sniff = t->len < TRACE_SNIFF_BYTES ? t->len : TRACE_SNIFF_BYTES;
    size_t i, pos = 0;
    unsigned mask = all;
    int lines = 0, lineno = 0;
    char names[80], why[200];
    if (t->len == 0) {
        source_errf(err, errlen, "%s is empty: cannot tell its format",
                    t->path);
        return -1;
    }
    if (t->len >= 4 && memcmp(t->buf, tracebin_magic, 4) == 0)
        return MM_TRACE_BINARY;
    for (i = 0; i < sniff; i++)
        if (!trace_is_text_byte(t->buf[i]))
            break;
    if (i < sniff) {
        /* Binary content. Big-endian int32 block numbers are non-negative,
         * so every word's top bit is clear; pagelab's binary has a magic. */
        size_t words = sniff / 4;
        for (i = 0; i < words; i++)
            if (t->buf[4 * i] & 0x80)
                break;
        if (words > 0 && i == words)
            return MM_TRACE_BLOCKS32BE;
        source_errf(err, errlen, "cannot tell the format of %s: binary data "
                    "that is neither a pagelab binary trace (no magic) nor "
                    "big-endian int32 block numbers (negative values); give "
                    "the format", t->path);
        return -1;
    }
    /* Text: keep the formats whose parser accepts every sampled line. */
    while (pos < sniff && lines < TRACE_SNIFF_LINES) {
        const unsigned char *start = t->buf + pos;
        const unsigned char *nl = memchr(start, '\n', t->len - pos);
        size_t len, k;
        unsigned fits = 0;
        mm_ref tmp[2];
        int n;
        if (nl == NULL && !t->eof)
            break;   /* an incomplete last line says nothing */
        len = nl ? (size_t)(nl - start) : t->len - pos;
        pos += nl ? len + 1 : len;
        lineno++;
        if (len > 0 && start[len - 1] == '\r')
            len--;
        for (k = 0; k < len && trace_isspace(start[k]); k++)
            ;
        if (k == len)
            continue;   /* blank: every format accepts it */
        lines++;
        for (k = 0; k < sizeof line_formats / sizeof line_formats[0]; k++)
            if (trace_parse_line(t, line_formats[k], (const char *)start, len,
                                 tmp, &n, why, sizeof why) == 0)
                fits |= 1u << line_formats[k];
        if ((mask & fits) == 0) {
            trace_list(mask, names, sizeof names);
            source_errf(err, errlen, "cannot tell the format of %s: line %d "
                        "'%.*s' fits none of %s; give the format", t->path,
                        lineno, (int)(len < 60 ? len : 60), (const char *)start,
                        names);
            return -1;
        }
        mask &= fits;
    }
    if (lines == 0) {
        source_errf(err, errlen, "cannot tell the format of %s: no "
                    "reference in its first lines; give the format", t->path);
        return -1;
    }
    for (i = 0; i < MM_TRACE_FORMAT_COUNT; i++)
        if (mask == 1u << i)
            return (int)i;
    trace_list(mask, names, sizeof names);
    source_errf(err, errlen, "cannot tell the format of %s: it could be %s; "
                "give the format", t->path, names);
    return -1;
}

/* ---- opening ------------------------------------------------------------ */

/* Opens a trace by format name. On error returns NULL with a message. */
mm_source *mm_trace_open(const char *path, const char *format, char *err,
                         size_t errlen)
{
    mm_trace_opts o;
    int f = MM_TRACE_DETECT;
    if (format != NULL) {
        f = mm_trace_format_parse(format);
        if (f < 0) {
            source_errf(err, errlen, "unknown trace format '%s' (known: text, "
                        "lackey, blocks, blocks32be, spec, binary, detect)",
                        format);
            return NULL;
        }
    }
    o.format = (mm_trace_format)f;
    o.block_size = 0;
    o.has_block_base = 0;
    o.block_base = 0;
    return mm_trace_open_ex(path, &o, err, errlen);
}

/* Opens a trace with options. On error returns NULL with a message. */
mm_source *mm_trace_open_ex(const char *path, const mm_trace_opts *opts,
                            char *err, size_t errlen)
{
    trace *t;
    mm_trace_format f = opts ? opts->format : MM_TRACE_DETECT;
    uint64_t bs = opts && opts->block_size ? opts->block_size
                                           : MM_TRACE_DEFAULT_BLOCK_SIZE;
    if (path == NULL) {
        source_errf(err, errlen, "trace: no path given");
        return NULL;
    }
    if ((unsigned)f >= MM_TRACE_FORMAT_COUNT) {
        source_errf(err, errlen, "%s: unknown trace format %d", path, (int)f);
        return NULL;
    }
    t = calloc(1, sizeof *t);
    if (t == NULL) {
        source_errf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    source_init(&t->base, &trace_ops);
    t->block_size = bs;
    t->block_base = opts && opts->has_block_base ? opts->block_base
                                                 : MM_TRACE_DEFAULT_BLOCK_BASE;
    t->path = malloc(strlen(path) + 1);
    t->buf = malloc(TRACE_BUFSIZE);
    if (t->path == NULL || t->buf == NULL) {
        source_errf(err, errlen, "%s: out of memory", path);
        trace_destroy(&t->base);
        return NULL;
    }
    strcpy(t->path, path);
    errno = 0;
    t->gz = gzopen(path, "rb");
    if (t->gz == NULL) {
        source_errf(err, errlen, "cannot open %s: %s", path,
                    errno ? strerror(errno) : "out of memory");
        trace_destroy(&t->base);
        return NULL;
    }
    gzbuffer(t->gz, TRACE_GZBUFSIZE);
    if (trace_start(t) != 0) {
        source_errf(err, errlen, "%s", t->base.error);
        trace_destroy(&t->base);
        return NULL;
    }
    if (f == MM_TRACE_DETECT) {
        int d = trace_detect(t, err, errlen);
        if (d < 0) {
            trace_destroy(&t->base);
            return NULL;
        }
        f = (mm_trace_format)d;
    }
    t->format = f;
    if (f == MM_TRACE_BINARY && trace_bin_header(t) != 0) {
        source_errf(err, errlen, "%s", t->base.error);
        trace_destroy(&t->base);
        return NULL;
    }
    return &t->base;
}
