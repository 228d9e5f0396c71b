/*
 * source_impl.h — internal: how a concrete source plugs into mm_source.
 *
 * Each kind of source (workload.c, trace.c) embeds struct mm_source as its
 * first member and points it at one static const ops table; source.c does
 * the bookkeeping common to all (position, error, batching).
 */
#ifndef MM_SOURCE_IMPL_H
#define MM_SOURCE_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

#define SOURCE_ERRLEN 512

typedef struct source_ops {
    const char *type;   /* "workload" or "trace" */
    int endless;        /* 1: next never returns 0 */
    /* Fills up to max refs (max > 0). On error calls source_fail and returns
     * the refs produced before the error. */
    size_t (*next)(mm_source *s, mm_ref *buf, size_t max);
    /* Back to the first reference; 0, or -1 after source_fail. */
    int (*rewind)(mm_source *s);
    /* Frees everything including s. */
    void (*destroy)(mm_source *s);
    /* One-line description into buf (len > 0). */
    void (*describe)(const mm_source *s, char *buf, size_t len);
} source_ops;

struct mm_source {
    const source_ops *ops;
    uint64_t position;          /* refs delivered since start/rewind */
    int failed;                 /* error[] holds a message */
    char error[SOURCE_ERRLEN];
};

/* Sets up the common part. Never fails. */
void source_init(mm_source *s, const source_ops *ops);

/* Records an error (printf-style). The first error wins until a rewind.
 * Never fails. */
void source_fail(mm_source *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Formats a message into a caller's (err, errlen) buffer; err may be NULL
 * or errlen 0, in which case nothing is written. Never fails. */
void source_errf(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The kind of source: "workload" or "trace". Never fails. */
const char *source_type(const mm_source *s);

#endif /* MM_SOURCE_IMPL_H */
