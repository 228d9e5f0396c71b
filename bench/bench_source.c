/*
 * bench_source.c — references per second delivered by the reference
 * sources: every workload generator (batched, 4096 refs per call), and the
 * trace readers on files written for the purpose (text, text.gz, binary,
 * binary.gz) and on the public traces when ../shared/traces (or
 * $PAGELAB_TRACES) holds them. A benchmark, not a test: it prints numbers
 * and never fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "mm.h"

#define BENCH_BATCH 4096

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads n refs (or to the end when n is 0); refs per second. */
static double bench_drain(mm_source *s, uint64_t n, uint64_t *got)
{
    static mm_ref buf[BENCH_BATCH];
    uint64_t total = 0, sink = 0;
    double t0 = bench_now();
    for (;;) {
        size_t want = BENCH_BATCH, k;
        if (n && n - total < want)
            want = (size_t)(n - total);
        if (want == 0)
            break;
        k = mm_source_next(s, buf, want);
        if (k == 0)
            break;
        sink += buf[k - 1].addr;
        total += k;
    }
    *got = total + (sink & 0);   /* keeps the loop from being elided */
    return (double)total / (bench_now() - t0);
}

static void bench_generators(void)
{
    int k;
    printf("workload generators (size 4 GiB, writes 0.3, batches of %d)\n",
           BENCH_BATCH);
    for (k = 0; k < MM_WORKLOAD_KIND_COUNT; k++) {
        mm_workload_cfg c;
        char err[256];
        double best = 0;
        int rep;
        uint64_t got;
        mm_source *s;
        mm_workload_cfg_init(&c, (mm_workload_kind)k);
        c.size = UINT64_C(1) << 32;
        c.writes = 0.3;
        c.alpha = 0.9;
        c.stride = 64;
        s = mm_workload_new(&c, err, sizeof err);
        if (s == NULL) {
            printf("  %-10s %s\n", mm_workload_kind_name((mm_workload_kind)k),
                   err);
            continue;
        }
        for (rep = 0; rep < 3; rep++) {
            double r = bench_drain(s, 50000000, &got);
            best = r > best ? r : best;
        }
        printf("  %-10s %8.1f M refs/s\n",
               mm_workload_kind_name((mm_workload_kind)k), best / 1e6);
        mm_source_close(s);
    }
}

static void bench_file(const char *label, const char *path)
{
    char err[512];
    uint64_t got = 0;
    double r;
    mm_source *s = mm_trace_open(path, NULL, err, sizeof err);
    if (s == NULL) {
        printf("  %-28s %s\n", label, err);
        return;
    }
    r = bench_drain(s, 0, &got);
    printf("  %-28s %8.1f M refs/s  (%llu refs)%s%s\n", label, r / 1e6,
           (unsigned long long)got, mm_source_error(s) ? "  error: " : "",
           mm_source_error(s) ? mm_source_error(s) : "");
    mm_source_close(s);
}

/* A zipf workload written as a text trace, plain and gzip. */
static int bench_write_text(const char *path, int gz, uint64_t n)
{
    static mm_ref buf[BENCH_BATCH];
    static const char kinds[] = "RWX";
    mm_workload_cfg c;
    char err[256], line[64];
    mm_source *s;
    gzFile g;
    uint64_t done = 0;
    mm_workload_cfg_init(&c, MM_WORKLOAD_ZIPF);
    c.size = UINT64_C(1) << 30;
    c.writes = 0.3;
    s = mm_workload_new(&c, err, sizeof err);
    g = gzopen(path, gz ? "wb6" : "wbT");
    if (s == NULL || g == NULL) {
        mm_source_close(s);
        if (g)
            gzclose(g);
        return -1;
    }
    while (done < n) {
        size_t k = mm_source_next(s, buf, BENCH_BATCH), i;
        for (i = 0; i < k; i++) {
            int len = snprintf(line, sizeof line, "%c %llx %u\n",
                               kinds[buf[i].kind],
                               (unsigned long long)buf[i].addr, buf[i].size);
            gzwrite(g, line, (unsigned)len);
        }
        done += k;
    }
    mm_source_close(s);
    return gzclose(g) == Z_OK ? 0 : -1;
}

static void bench_readers(void)
{
    static const char *const real[][2] = {
        { "lirs/sprite.trace.gz", "blocks.gz (sprite)" },
        { "oltp/trace-oltp.trc.bin.gz", "blocks32be.gz (oltp)" },
        { "spec2000/mcf.trace.gz", "spec.gz (mcf)" },
    };
    const char *dir = getenv("PAGELAB_TRACES");
    char tmp[] = "/tmp/pagelab-bench-XXXXXX", path[4][300], err[256];
    const uint64_t n = 5000000;
    uint64_t w;
    size_t i;
    printf("\ntrace readers (whole file, batches of %d)\n", BENCH_BATCH);
    if (mkdtemp(tmp) == NULL) {
        printf("  cannot create a temporary directory\n");
        return;
    }
    snprintf(path[0], sizeof path[0], "%s/zipf.txt", tmp);
    snprintf(path[1], sizeof path[1], "%s/zipf.txt.gz", tmp);
    snprintf(path[2], sizeof path[2], "%s/zipf.pltrace", tmp);
    snprintf(path[3], sizeof path[3], "%s/zipf.pltrace.gz", tmp);
    if (bench_write_text(path[0], 0, n) == 0 &&
        bench_write_text(path[1], 1, n) == 0) {
        mm_source *s = mm_trace_open(path[0], "text", err, sizeof err);
        if (s && mm_trace_convert(s, path[2], 0, &w, err, sizeof err) == 0 &&
            mm_source_rewind(s) == 0 &&
            mm_trace_convert(s, path[3], 0, &w, err, sizeof err) == 0) {
            bench_file("text (zipf, 5M)", path[0]);
            bench_file("text.gz (zipf, 5M)", path[1]);
            bench_file("binary (zipf, 5M)", path[2]);
            bench_file("binary.gz (zipf, 5M)", path[3]);
        } else {
            printf("  %s\n", err);
        }
        mm_source_close(s);
    }
    for (i = 0; i < 4; i++)
        remove(path[i]);
    rmdir(tmp);
    for (i = 0; i < sizeof real / sizeof real[0]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir && *dir ? dir : "../shared/traces",
                 real[i][0]);
        if (access(p, R_OK) == 0)
            bench_file(real[i][1], p);
    }
}

int main(void)
{
    bench_generators();
    bench_readers();
    return 0;
}
