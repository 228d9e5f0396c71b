/*
 * source.c — the mm_source interface: dispatch and common bookkeeping.
 *
 * Invariants:
 *   - position counts exactly the references returned by mm_source_next
 *     since the source was created or last rewound successfully;
 *   - once failed is set, mm_source_next returns 0 without calling the
 *     concrete source again, until a successful rewind clears it.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "source_impl.h"

/* Sets up the common part. Never fails. */
void source_init(mm_source *s, const source_ops *ops)
{
    assert(s != NULL && ops != NULL);
    s->ops = ops;
    s->position = 0;
    s->failed = 0;
    s->error[0] = '\0';
}

/* Records the first error since the last rewind. Never fails. */
void source_fail(mm_source *s, const char *fmt, ...)
{
    va_list ap;
    if (s->failed)
        return;   /* the first error is the one that explains the rest */
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    s->failed = 1;
}

/* Formats into a caller's buffer when there is one. Never fails. */
void source_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "workload" or "trace". Never fails. */
const char *source_type(const mm_source *s)
{
    return s->ops->type;
}

/* Fills buf with up to max refs; 0 = end or error. */
size_t mm_source_next(mm_source *s, mm_ref *buf, size_t max)
{
    size_t n;
    assert(s != NULL);
    if (s->failed || max == 0)
        return 0;
    assert(buf != NULL);
    n = s->ops->next(s, buf, max);
    assert(n <= max);
    s->position += n;
    return n;
}

/* NULL or the error sentence. Never fails. */
const char *mm_source_error(const mm_source *s)
{
    return s->failed ? s->error : NULL;
}

/* Restarts the sequence; 0, or -1 with the error set. */
int mm_source_rewind(mm_source *s)
{
    char saved[SOURCE_ERRLEN];
    int failed = s->failed;
    memcpy(saved, s->error, sizeof saved);
    s->failed = 0;
    s->error[0] = '\0';
    if (s->ops->rewind(s) != 0) {
        if (!s->failed) {   /* a rewind that fails must say why */
            if (failed)
                memcpy(s->error, saved, sizeof saved);
            else
                snprintf(s->error, sizeof s->error, "cannot rewind the source");
            s->failed = 1;
        }
        return -1;
    }
    s->position = 0;
    return 0;
}

/* Frees the source. NULL is ignored. Never fails. */
void mm_source_close(mm_source *s)
{
    if (s != NULL)
        s->ops->destroy(s);
}

/* Refs delivered since start or rewind. Never fails. */
uint64_t mm_source_position(const mm_source *s)
{
    return s->position;
}

/* 1 for endless generators. Never fails. */
int mm_source_endless(const mm_source *s)
{
    return s->ops->endless;
}

/* One-line description. Never fails. */
const char *mm_source_describe(const mm_source *s, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return buf;
    buf[0] = '\0';
    s->ops->describe(s, buf, len);
    return buf;
}
