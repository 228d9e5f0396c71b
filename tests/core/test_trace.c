/*
 * test_trace.c — trace readers, detection, the binary writer, conversion,
 * info and the next-use pass; small files written into a mkdtemp directory,
 * plus the public reference traces when they are present.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "source.h"

static char tmpdir[64];

/* ---- helpers ---------------------------------------------------------- */

static const char *tpath(const char *name)
{
    static char buf[4][256];
    static int turn;
    char *p = buf[turn++ & 3];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(tpath(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *name, const void *data, size_t len)
{
    gzFile g = gzopen(tpath(name), "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
}

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

/* Writes name and name.gz with the same text. */
static void write_both(const char *name, const char *text)
{
    char gz[128];
    write_file(name, text, strlen(text));
    snprintf(gz, sizeof gz, "%s.gz", name);
    write_gz(gz, text, strlen(text));
}

/* Reads a whole source (batches of max) into a malloc'ed array. */
static mm_ref *read_all(mm_source *s, size_t max, size_t *n)
{
    size_t cap = 1024, got = 0, k;
    mm_ref *r = malloc(cap * sizeof *r);
    assert_non_null(r);
    for (;;) {
        if (got + max > cap) {
            cap = (got + max) * 2;
            r = realloc(r, cap * sizeof *r);
            assert_non_null(r);
        }
        k = mm_source_next(s, r + got, max);
        if (k == 0)
            break;
        got += k;
    }
    *n = got;
    return r;
}

static mm_source *open_ok(const char *path, const char *format)
{
    char err[512] = "";
    mm_source *s = mm_trace_open(path, format, err, sizeof err);
    if (s == NULL)
        fail_msg("open %s: %s", path, err);
    return s;
}

static void expect_refs(mm_source *s, const mm_ref *want, size_t n)
{
    size_t got, i;
    mm_ref *r = read_all(s, 1, &got);   /* batches of one: pending refs */
    if (mm_source_error(s))
        fail_msg("%s", mm_source_error(s));
    assert_int_equal(got, n);
    for (i = 0; i < n; i++) {
        if (r[i].addr != want[i].addr || r[i].size != want[i].size ||
            r[i].kind != want[i].kind)
            fail_msg("ref %zu: got %llx/%u/%u want %llx/%u/%u", i,
                     (unsigned long long)r[i].addr, r[i].size, r[i].kind,
                     (unsigned long long)want[i].addr, want[i].size,
                     want[i].kind);
    }
    free(r);
}

/* Opens with format (NULL = detect), plain and gzip, and compares. */
static void check_format(const char *name, const char *format,
                         const char *text, const mm_ref *want, size_t n,
                         const char *want_format)
{
    char gz[128];
    mm_source *s;
    int pass;
    write_both(name, text);
    snprintf(gz, sizeof gz, "%s.gz", name);
    for (pass = 0; pass < 4; pass++) {
        const char *p = tpath(pass & 1 ? gz : name);
        s = open_ok(p, pass & 2 ? NULL : format);
        assert_string_equal(
            mm_trace_format_name((mm_trace_format)mm_trace_format_of(s)),
            want_format);
        expect_refs(s, want, n);
        assert_false(mm_source_endless(s));
        assert_int_equal(mm_source_position(s), n);
        assert_int_equal(mm_source_rewind(s), 0);  /* and again */
        expect_refs(s, want, n);
        mm_source_close(s);
    }
}

/* The error of opening or of reading to the end; fails if there is none. */
static void expect_error(const char *path, const char *format,
                         const char *word1, const char *word2)
{
    char err[512] = "";
    mm_source *s = mm_trace_open(path, format, err, sizeof err);
    const char *msg = err;
    if (s != NULL) {
        size_t n;
        free(read_all(s, 100, &n));
        msg = mm_source_error(s);
        if (msg == NULL)
            fail_msg("%s read %zu refs without error", path, n);
        assert_int_equal(mm_source_next(s, (mm_ref[1]){ { 0, 0, 0 } }, 1), 0);
    }
    if (strstr(msg, word1) == NULL || (word2 && strstr(msg, word2) == NULL))
        fail_msg("error '%s' lacks '%s' / '%s'", msg, word1,
                 word2 ? word2 : "");
    mm_source_close(s);
}

/* ---- fixtures ----------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/pagelab-test-trace-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    (void)state;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            unlink(tpath(e->d_name));
    closedir(d);
    rmdir(tmpdir);
    return 0;
}

/* ---- formats ------------------------------------------------------------ */

static void test_text_format(void **state)
{
    static const mm_ref want[] = {
        { 0x1000, 1, MM_REF_READ },
        { 0x7fff0000, 8, MM_REF_WRITE },
        { 0xdeadbeef, 4, MM_REF_EXEC },
        { 0x10, 1, MM_REF_READ },
        { 0xffffffffffffffffull, 2, MM_REF_WRITE },
        { 0x20, 1, MM_REF_READ },
    };
    (void)state;
    check_format("t.txt", "text",
                 "# a comment\n"
                 "R 1000\n"
                 "\n"
                 "W 0x7fff0000 8\n"
                 "  X   DEADBEEF 4   # trailing comment\r\n"
                 "r 0x10\n"
                 "w ffffffffffffffff 0x2\n"
                 "R 20 0\n",                 /* size 0 reads as 1 */
                 want, 6, "text");
}

static void test_lackey_format(void **state)
{
    static const mm_ref want[] = {
        { 0x0400d7d4, 3, MM_REF_EXEC },
        { 0x7ff0001b8, 8, MM_REF_WRITE },
        { 0x04016c70, 8, MM_REF_READ },
        { 0x0421e048, 4, MM_REF_READ },    /* M = load ... */
        { 0x0421e048, 4, MM_REF_WRITE },   /* ... then store */
        { 0x0400d7d7, 5, MM_REF_EXEC },
    };
    (void)state;
    check_format("l.txt", "lackey",
                 "==12345== Lackey, an example Valgrind tool\n"
                 "==12345== Command: ./a.out\n"
                 "==12345== \n"
                 "I  0400d7d4,3\n"
                 " S 7ff0001b8,8\n"
                 " L 04016c70,8\n"
                 " M 0421e048,4\n"
                 "I  0400d7d7,5\n"
                 "==12345== \n",
                 want, 6, "lackey");
}

static void test_blocks_format(void **state)
{
    static const mm_ref want[] = {
        { MM_TRACE_DEFAULT_BLOCK_BASE + 0, 1, MM_REF_READ },
        { MM_TRACE_DEFAULT_BLOCK_BASE + 5 * 4096, 1, MM_REF_READ },
        { MM_TRACE_DEFAULT_BLOCK_BASE + 123456789ull * 4096, 1, MM_REF_READ },
        { MM_TRACE_DEFAULT_BLOCK_BASE + 5 * 4096, 1, MM_REF_READ },
    };
    /* block_size and the base of block 0 are parameters */
    mm_trace_opts o = { MM_TRACE_BLOCKS, 512, 0, 1 };
    char err[256];
    mm_source *s;
    mm_ref r[4];
    (void)state;
    check_format("b.txt", "blocks", "0\n5\n*\n  123456789  \n\n5\n", want, 4,
                 "blocks");
    /* block_size is a parameter */
    s = mm_trace_open_ex(tpath("b.txt"), &o, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(mm_source_next(s, r, 4), 4);
    assert_int_equal(r[1].addr, 5 * 512);
    mm_source_close(s);
}

static void test_spec_format(void **state)
{
    static const mm_ref want[] = {
        { 0x1fffff50, 1, MM_REF_WRITE },
        { 0x1fffff58, 1, MM_REF_READ },
        { 0x1fffff88, 6, MM_REF_READ },
        { 0x3004d960, 1, MM_REF_WRITE },   /* size 0 reads as 1 */
    };
    (void)state;
    check_format("s.txt", "spec",
                 "s 0x1fffff50 1\nl 0x1fffff58 1\nl 0x1fffff88 6\n"
                 "s 0x3004d960 0",                   /* no final newline */
                 want, 4, "spec");
}

static void test_blocks32be_format(void **state)
{
    static const unsigned char data[] = {
        0, 0, 0, 1, 0, 0, 0, 2, 0x7f, 0xff, 0xff, 0xff, 0, 1, 0, 0,
    };
    mm_ref want[4] = {
        { MM_TRACE_DEFAULT_BLOCK_BASE + 4096, 1, MM_REF_READ },
        { MM_TRACE_DEFAULT_BLOCK_BASE + 8192, 1, MM_REF_READ },
        { MM_TRACE_DEFAULT_BLOCK_BASE + 0x7fffffffull * 4096, 1, MM_REF_READ },
        { MM_TRACE_DEFAULT_BLOCK_BASE + 65536ull * 4096, 1, MM_REF_READ },
    };
    int pass;
    (void)state;
    write_file("be.bin", data, sizeof data);
    write_gz("be.bin.gz", data, sizeof data);
    for (pass = 0; pass < 4; pass++) {
        mm_source *s = open_ok(tpath(pass & 1 ? "be.bin.gz" : "be.bin"),
                               pass & 2 ? NULL : "blocks32be");
        assert_int_equal(mm_trace_format_of(s), MM_TRACE_BLOCKS32BE);
        expect_refs(s, want, 4);
        mm_source_close(s);
    }
}

/* Everything the encoder distinguishes: repeated deltas, negative and huge
 * jumps, every size code, explicit sizes, all three kinds. */
static mm_ref *varied_refs(size_t n)
{
    mm_ref *r = malloc(n * sizeof *r);
    uint64_t x = 12345;
    size_t i;
    assert_non_null(r);
    for (i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        switch (i % 7) {
        case 0: r[i].addr = i * 64; break;                 /* strided run */
        case 1: r[i].addr = r[i - 1].addr + 64; break;
        case 2: r[i].addr = x; break;                       /* anywhere */
        case 3: r[i].addr = r[i - 1].addr - 4096; break;    /* backwards */
        case 4: r[i].addr = UINT64_MAX - (x & 0xffff); break;
        case 5: r[i].addr = 0; break;
        default: r[i].addr = x >> 20; break;
        }
        r[i].size = i % 5 == 0 ? (uint32_t)(x >> 40) : 1u << (i % 16);
        r[i].kind = (uint8_t)(i % 3);
    }
    r[1].size = 0;          /* the writer keeps it; the reader reads 1 */
    r[2].size = UINT32_MAX;
    return r;
}

static void test_binary_round_trip(void **state)
{
    const size_t n = 100000;
    mm_ref *want = varied_refs(n);
    static const char *const names[] = { "v.pltrace", "v.pltrace.gz" };
    int f, pass;
    (void)state;
    for (f = 0; f < 2; f++) {
        char err[256] = "";
        mm_trace_writer *w = mm_trace_writer_open(tpath(names[f]), err,
                                                  sizeof err);
        assert_non_null(w);
        want[1].size = 0;
        assert_int_equal(mm_trace_writer_put(w, want, 1), 0);
        assert_int_equal(mm_trace_writer_put(w, want + 1, n - 1), 0);
        assert_null(mm_trace_writer_error(w));
        assert_int_equal(mm_trace_writer_count(w), n);
        assert_int_equal(mm_trace_writer_close(w, err, sizeof err), 0);
        want[1].size = 1;
        for (pass = 0; pass < 2; pass++) {
            mm_source *s = open_ok(tpath(names[f]), pass ? "binary" : NULL);
            assert_int_equal(mm_trace_format_of(s), MM_TRACE_BINARY);
            expect_refs(s, want, n);
            mm_source_close(s);
        }
    }
    free(want);
}

static void test_sequential_binary_is_compact(void **state)
{
    mm_workload_cfg c;
    char err[256];
    mm_source *s;
    struct stat st;
    uint64_t written = 0;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_SEQUENTIAL);
    c.size = 1 << 30;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(mm_trace_convert(s, tpath("seq.pltrace"), 100000,
                                      &written, err, sizeof err), 0);
    assert_int_equal(written, 100000);
    assert_int_equal(stat(tpath("seq.pltrace"), &st), 0);
    /* one head byte per reference, plus header, first delta, trailer */
    assert_true(st.st_size < 100000 + 40);
    mm_source_close(s);
}

static void test_empty_binary_trace_is_valid(void **state)
{
    char err[256];
    mm_trace_writer *w = mm_trace_writer_open(tpath("e.pltrace"), err,
                                              sizeof err);
    mm_source *s;
    mm_ref r;
    (void)state;
    assert_non_null(w);
    assert_int_equal(mm_trace_writer_close(w, err, sizeof err), 0);
    s = open_ok(tpath("e.pltrace"), NULL);
    assert_int_equal(mm_source_next(s, &r, 1), 0);
    assert_null(mm_source_error(s));
    mm_source_close(s);
}

/* An explicit size of 0 reads as 1, as in the text formats: a read of
 * 0x1000 (head 0x3c: read, size code 15; delta 0x2000 zigzagged; size 0),
 * then the end marker and the count. */
static void test_binary_size_zero_reads_as_one(void **state)
{
    static const unsigned char t[] = {
        0x89, 'P', 'L', 'T', '\r', '\n', 0x1a, '\n', 1, 0, 0, 0, 0, 0, 0, 0,
        0x3c, 0x80, 0x40, 0x00, 0x03, 0x01,
    };
    mm_source *s;
    mm_ref r;
    (void)state;
    write_file("z.pltrace", t, sizeof t);
    s = open_ok(tpath("z.pltrace"), "binary");
    assert_int_equal(mm_source_next(s, &r, 1), 1);
    assert_int_equal(r.addr, 0x1000);
    assert_int_equal(r.size, 1);
    assert_int_equal(r.kind, MM_REF_READ);
    assert_int_equal(mm_source_next(s, &r, 1), 0);
    assert_null(mm_source_error(s));
    mm_source_close(s);
}

/* ---- detection ----------------------------------------------------------- */

static void test_detection_refuses_what_it_cannot_tell(void **state)
{
    (void)state;
    write_text("empty", "");
    expect_error(tpath("empty"), NULL, "empty", "cannot tell");
    write_text("blank", "\n\n   \n");
    expect_error(tpath("blank"), NULL, "cannot tell", NULL);
    write_both("mixed", "R 1000\nl 0x1000 4\n");
    expect_error(tpath("mixed"), NULL, "cannot tell", "line 2");
    expect_error(tpath("mixed.gz"), NULL, "cannot tell", "mixed.gz");
    write_file("bin", "\xff\xfe\x00\x01\x80\x00\x00\x00", 8);
    expect_error(tpath("bin"), NULL, "cannot tell", "binary");
}

/* ---- bad input ------------------------------------------------------------ */

static void test_garbage_is_an_error_naming_file_and_line(void **state)
{
    (void)state;
    write_text("g1", "R 1000\nW 2000 4\nhello world\n");
    expect_error(tpath("g1"), "text", "line 3", "expected R, W or X");
    expect_error(tpath("g1"), "text", tpath("g1"), NULL);
    write_text("g2", "R 1000\nR zz12\n");
    expect_error(tpath("g2"), "text", "line 2", "bad hex address 'zz12'");
    write_text("g3", "R 1000 4 junk\n");
    expect_error(tpath("g3"), "text", "line 1", "unexpected 'junk'");
    write_text("g4", "R 1000 -4\n");
    expect_error(tpath("g4"), "text", "line 1", "size");
    write_text("g5", "R 12345678901234567\n");
    expect_error(tpath("g5"), "text", "line 1", "64 bits");
    write_text("g6", "1\n2\n-3\n");
    expect_error(tpath("g6"), "blocks", "line 3", "negative");
    write_text("g7", "1\n2x\n");
    expect_error(tpath("g7"), "blocks", "line 2", "bad block number");
    write_text("g8", "I  0400d7d4\n");
    expect_error(tpath("g8"), "lackey", "line 1", "','");
    write_text("g9", "l 0x10\n");
    expect_error(tpath("g9"), "spec", "line 1", "missing size");
    write_text("g10", "R 10 99999999999\n");
    expect_error(tpath("g10"), "text", "line 1", "size");
    write_text("g11", "R10\n");
    expect_error(tpath("g11"), "text", "line 1", "space");
}

static void test_overlong_line_is_an_error(void **state)
{
    size_t n = 70000;
    char *big = malloc(n + 8);
    (void)state;
    assert_non_null(big);
    memcpy(big, "R 10\nR ", 7);
    memset(big + 7, '1', n);
    big[n + 7] = '\n';
    write_file("long", big, n + 8);
    expect_error(tpath("long"), "text", "line 2", "longer than");
    free(big);
}

static void test_truncated_gzip_is_an_error(void **state)
{
    char *text = malloc(400000), *gz;
    size_t i, len = 0;
    FILE *f;
    long size;
    (void)state;
    assert_non_null(text);
    for (i = 0; i < 20000; i++)
        len += (size_t)sprintf(text + len, "R %zx 8\n", i * 4097);
    write_gz("big.gz", text, len);
    f = fopen(tpath("big.gz"), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    gz = malloc((size_t)size);
    assert_non_null(gz);
    assert_int_equal(fread(gz, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    write_file("cut.gz", gz, (size_t)size / 2);
    expect_error(tpath("cut.gz"), "text", "truncated", "cut.gz");
    expect_error(tpath("cut.gz"), NULL, "truncated", NULL);
    write_file("cut2.gz", gz, (size_t)size - 4);   /* only the trailer */
    expect_error(tpath("cut2.gz"), "text", "truncated", NULL);
    gz[size / 2] ^= 0x55;                            /* corrupt data */
    write_file("bad.gz", gz, (size_t)size);
    expect_error(tpath("bad.gz"), "text", "gzip", NULL);
    free(gz);
    free(text);
}

static void test_bad_binary_input_is_an_error(void **state)
{
    const size_t n = 1000;
    mm_ref *refs = varied_refs(n);
    char err[256];
    mm_trace_writer *w = mm_trace_writer_open(tpath("ok.pltrace"), err,
                                              sizeof err);
    unsigned char *buf;
    FILE *f;
    long size;
    (void)state;
    assert_non_null(w);
    assert_int_equal(mm_trace_writer_put(w, refs, n), 0);
    assert_int_equal(mm_trace_writer_close(w, err, sizeof err), 0);
    f = fopen(tpath("ok.pltrace"), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size + 4);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);

    write_file("t1", buf, (size_t)size - 3);          /* cut in the body */
    expect_error(tpath("t1"), NULL, "truncated", "byte");
    write_file("t2", buf, 10);                        /* inside the header */
    expect_error(tpath("t2"), "binary", "truncated", "header");
    write_file("t3", buf, 16);                        /* header only */
    expect_error(tpath("t3"), "binary", "truncated", "end marker");
    buf[size] = 0;                                    /* after the trailer */
    write_file("t4", buf, (size_t)size + 1);
    expect_error(tpath("t4"), "binary", "after the end marker", NULL);
    buf[size - 1] ^= 1;                               /* wrong count */
    write_file("t5", buf, (size_t)size);
    expect_error(tpath("t5"), "binary", "trailer says", NULL);
    buf[size - 1] ^= 1;
    buf[8] = 9;                                       /* version */
    write_file("t6", buf, (size_t)size);
    expect_error(tpath("t6"), "binary", "version 9", NULL);
    buf[8] = 1;
    buf[16] = 0x80;                                   /* reserved head bit */
    write_file("t7", buf, (size_t)size);
    expect_error(tpath("t7"), "binary", "byte 16", "head byte 0x80");
    buf[16] = 0x07;                                   /* kind 3, not end */
    write_file("t8", buf, (size_t)size);
    expect_error(tpath("t8"), "binary", "head byte 0x07", NULL);
    write_text("t9", "R 10\nW 20\n");             /* wrong magic */
    expect_error(tpath("t9"), "binary", "magic", NULL);
    write_text("t10", "");
    expect_error(tpath("t10"), "binary", "empty", NULL);
    free(buf);
    free(refs);
}

static void test_bad_blocks32be_is_an_error(void **state)
{
    static const unsigned char neg[] = { 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe };
    static const unsigned char odd[] = { 0, 0, 0, 1, 0, 0 };
    (void)state;
    write_file("neg", neg, sizeof neg);
    expect_error(tpath("neg"), "blocks32be", "negative block number -2",
                 "byte 4");
    write_file("odd", odd, sizeof odd);
    expect_error(tpath("odd"), "blocks32be", "truncated", "byte 4");
}

static void test_opening_errors(void **state)
{
    char err[256] = "";
    (void)state;
    assert_null(mm_trace_open(tpath("missing"), NULL, err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, "missing"));
    assert_non_null(strstr(err, "No such file"));
    write_text("x", "R 1\n");
    assert_null(mm_trace_open(tpath("x"), "csv", err, sizeof err));
    assert_non_null(strstr(err, "unknown trace format 'csv'"));
    assert_null(mm_trace_open(NULL, NULL, NULL, 0));
    assert_null(mm_trace_open(tmpdir, "text", err, sizeof err)); /* a dir */
    assert_int_equal(mm_trace_format_parse("detect"), MM_TRACE_DETECT);
    assert_int_equal(mm_trace_format_parse("blocks32be"),
                     MM_TRACE_BLOCKS32BE);
    assert_int_equal(mm_trace_format_parse("nope"), -1);
    assert_null(mm_trace_format_name(MM_TRACE_FORMAT_COUNT));
}

static void test_writer_errors(void **state)
{
    char err[256] = "";
    mm_trace_writer *w;
    mm_ref bad = { 0x1000, 4, 7 };
    mm_workload_cfg c;
    mm_source *s;
    (void)state;
    assert_null(mm_trace_writer_open("/nonexistent-dir/x.pltrace", err,
                                     sizeof err));
    assert_non_null(strstr(err, "cannot create"));
    assert_non_null(strstr(err, "/nonexistent-dir/x.pltrace"));
    w = mm_trace_writer_open(tpath("k.pltrace"), err, sizeof err);
    assert_non_null(w);
    assert_int_equal(mm_trace_writer_put(w, &bad, 1), -1);
    assert_non_null(strstr(mm_trace_writer_error(w), "kind 7"));
    assert_int_equal(mm_trace_writer_close(w, err, sizeof err), -1);
    assert_non_null(strstr(err, "kind 7"));
    /* a failed file has no trailer: readers refuse it */
    expect_error(tpath("k.pltrace"), "binary", "k.pltrace", NULL);
    /* converting an endless source needs a limit */
    mm_workload_cfg_init(&c, MM_WORKLOAD_UNIFORM);
    c.size = 1 << 20;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(mm_trace_convert(s, tpath("u.pltrace"), 0, NULL, err,
                                      sizeof err), -1);
    assert_non_null(strstr(err, "limit"));
    mm_source_close(s);
}

/* A reader error during convert leaves no output file behind. */
static void test_convert_stops_at_bad_input(void **state)
{
    char err[256] = "";
    mm_source *s;
    uint64_t n = 99;
    (void)state;
    write_text("c1", "R 10\nR 20\nR zz\n");
    s = open_ok(tpath("c1"), "text");
    assert_int_equal(mm_trace_convert(s, tpath("c1.pltrace"), 0, &n, err,
                                      sizeof err), -1);
    assert_non_null(strstr(err, "line 3"));
    assert_int_equal(n, 0);
    assert_int_not_equal(access(tpath("c1.pltrace"), F_OK), 0);
    mm_source_close(s);
}

/* ---- info and next-use ---------------------------------------------------- */

static void test_info_counts(void **state)
{
    char err[256];
    mm_trace_info in;
    mm_source *s;
    size_t got;
    (void)state;
    write_text("i1",
               "R 1000 4\n"
               "W 1004 4\n"           /* same 64-byte line */
               "X 1ffe 4\n"           /* straddles 4 KiB (and 512 B) pages */
               "R 100000 8\n"
               "R 1000 1\n");
    s = open_ok(tpath("i1"), "text");
    assert_int_equal(mm_source_info(s, 0, &in, err, sizeof err), 0);
    assert_int_equal(in.refs, 5);
    assert_int_equal(in.reads, 3);
    assert_int_equal(in.writes, 1);
    assert_int_equal(in.execs, 1);
    assert_int_equal(in.lines_64, 4);      /* 0x1000, 0x1fc0, 0x2000, ... */
    assert_int_equal(in.distinct_pages[0], 4);    /* 512 B */
    assert_int_equal(in.distinct_pages[3], 3);    /* 4 KiB: 1, 2, 0x100 */
    assert_int_equal(in.distinct_pages[12], 1);   /* 2 MiB */
    assert_int_equal(in.min_addr, 0x1000);
    assert_int_equal(in.max_addr, 0x100007);
    /* put back: a second pass sees the same */
    assert_int_equal(mm_source_position(s), 0);
    assert_int_equal(mm_source_info(s, 2, &in, err, sizeof err), 0);
    assert_int_equal(in.refs, 2);
    assert_int_equal(in.lines_64, 1);
    /* from position 3, the rest: two references */
    free(read_all(s, 3, &got));
    assert_int_equal(mm_source_rewind(s), 0);
    {
        mm_ref r3[3];
        assert_int_equal(mm_source_next(s, r3, 3), 3);
    }
    assert_int_equal(mm_source_info(s, 0, &in, err, sizeof err), 0);
    assert_int_equal(in.refs, 2);
    assert_int_equal(in.min_addr, 0x1000);
    assert_int_equal(in.max_addr, 0x100007);
    assert_int_equal(mm_source_position(s), 3);
    mm_source_close(s);
}

/* Accesses of any size, wide ones (kept as ranges) mixed with narrow ones
 * (kept line by line) that they overlap, against counts made byte map by
 * byte map over a 1 MiB region. */
static void test_info_wide_accesses(void **state)
{
    enum { REGION = 1 << 20, LINES = REGION >> 6, NREF = 400 };
    static unsigned char line[LINES];
    static char text[NREF * 40];
    const uint64_t base = 0x10000000;
    uint32_t x = 12345;
    size_t len = 0;
    char err[256];
    mm_trace_info in;
    mm_source *s;
    (void)state;
    memset(line, 0, sizeof line);
    for (int i = 0; i < NREF; i++) {
        uint32_t off, size;
        x = x * 1103515245u + 12345u;
        off = (x >> 8) % REGION;
        x = x * 1103515245u + 12345u;
        switch ((x >> 16) % 4) {
        case 0: size = 1 + (x >> 20) % 64; break;           /* narrow */
        case 1: size = 4096 + (x >> 8) % 65536; break;      /* wide */
        case 2: size = 64 * 64 + 1; break;   /* 65 or 66 lines: wide */
        default: size = 64 * 64; break;      /* 64 or 65: either side */
        }
        if (off + size > REGION)
            size = REGION - off;
        for (uint32_t l = off >> 6; l <= (off + size - 1) >> 6; l++)
            line[l] = 1;
        len += (size_t)snprintf(text + len, sizeof text - len, "R %llx %u\n",
                                (unsigned long long)(base + off), size);
    }
    write_text("wide", text);
    s = open_ok(tpath("wide"), "text");
    assert_int_equal(mm_source_info(s, 0, &in, err, sizeof err), 0);
    assert_int_equal(in.refs, NREF);
    for (int k = -1; k < MM_INFO_PAGE_SIZES; k++) {
        /* k = -1: lines; else pages of 512 << k bytes, line >> (3 + k) */
        unsigned sh = k < 0 ? 0 : 3 + (unsigned)k;
        uint64_t want = 0, last = UINT64_MAX;
        for (uint32_t l = 0; l < LINES; l++)
            if (line[l] && (l >> sh) != last) {
                want++;
                last = l >> sh;
            }
        assert_int_equal(k < 0 ? in.lines_64 : in.distinct_pages[k], want);
    }
    mm_source_close(s);

    /* Two 4 GiB accesses, a narrow one inside the first, and one that wraps
     * at the top of memory: counted from their ranges, in no time. */
    write_text("huge", "R 1000 0xffffffff\n"
                       "W 200000000 0xfffffff0\n"
                       "R 2000 4\n"
                       "R ffffffffffffffc0 0x100\n");
    s = open_ok(tpath("huge"), "text");
    assert_int_equal(mm_source_info(s, 0, &in, err, sizeof err), 0);
    assert_int_equal(in.lines_64, (UINT64_C(1) << 27) + 1);
    assert_int_equal(in.distinct_pages[3], (UINT64_C(1) << 21) + 1);
    assert_int_equal(in.distinct_pages[12], 2049 + 2048 + 1);
    assert_int_equal(in.max_addr, UINT64_MAX);
    mm_source_close(s);
}

static void test_next_use_on_a_hand_made_sequence(void **state)
{
    /* pages: A B A C B A D (4 KiB pages) */
    static const uint32_t want[] = { 2, 4, 5, UINT32_MAX, UINT32_MAX,
                                     UINT32_MAX, UINT32_MAX };
    char err[256];
    uint32_t *next = NULL;
    size_t n = 0, i;
    mm_source *s;
    mm_ref r;
    (void)state;
    write_text("nu", "R a000\nR b000\nW a008\nR c000\nR bfff\nR a800\n"
                     "R d000\n");
    s = open_ok(tpath("nu"), "text");
    assert_int_equal(mm_source_next_use(s, 12, 0, &next, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 7);
    for (i = 0; i < n; i++)
        assert_int_equal(next[i], want[i]);
    free(next);
    /* the source is back where it was: the first reference comes again */
    assert_int_equal(mm_source_position(s), 0);
    assert_int_equal(mm_source_next(s, &r, 1), 1);
    assert_int_equal(r.addr, 0xa000);
    /* from position 1 with a limit of 4: b000 a008 c000 bfff -> 3, none
     * (a800 lies beyond the limit), none, none */
    assert_int_equal(mm_source_next_use(s, 12, 4, &next, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 4);
    assert_int_equal(next[0], 3);
    assert_int_equal(next[1], UINT32_MAX);
    assert_int_equal(next[3], UINT32_MAX);
    free(next);
    assert_int_equal(mm_source_position(s), 1);
    assert_int_equal(mm_source_next(s, &r, 1), 1);
    assert_int_equal(r.addr, 0xb000);
    assert_int_equal(mm_source_next_use(s, 64, 0, &next, &n, err, sizeof err),
                     -1);
    assert_null(next);
    assert_int_equal(mm_source_next_use(s, 12, 5000000000ull, &next, &n, err,
                                        sizeof err), -1);
    assert_non_null(strstr(err, "4000000000"));
    mm_source_close(s);
}

static void test_next_use_and_info_on_workloads(void **state)
{
    mm_workload_cfg c;
    char err[256];
    uint32_t *next;
    size_t n, i;
    mm_trace_info in;
    mm_source *s;
    (void)state;
    mm_workload_cfg_init(&c, MM_WORKLOAD_LOOP);
    c.size = 10 * 4096;
    s = mm_workload_new(&c, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(mm_source_next_use(s, 12, 0, &next, &n, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "limit"));
    assert_int_equal(mm_source_next_use(s, 12, 35, &next, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 35);
    for (i = 0; i < 25; i++)
        assert_int_equal(next[i], i + 10);    /* a loop comes back in 10 */
    for (i = 25; i < 35; i++)
        assert_int_equal(next[i], UINT32_MAX);
    free(next);
    assert_int_equal(mm_source_info(s, 0, &in, err, sizeof err), -1);
    assert_int_equal(mm_source_info(s, 1000, &in, err, sizeof err), 0);
    assert_int_equal(in.distinct_pages[3], 10);
    assert_int_equal(in.refs, 1000);
    mm_source_close(s);
}

static void test_errors_reach_info_and_next_use(void **state)
{
    char err[256] = "";
    mm_trace_info in;
    uint32_t *next;
    size_t n;
    mm_source *s;
    (void)state;
    write_text("e1", "R 10\nR 20\nbad\n");
    s = open_ok(tpath("e1"), "text");
    assert_int_equal(mm_source_info(s, 0, &in, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 3"));
    err[0] = '\0';
    assert_int_equal(mm_source_next_use(s, 12, 0, &next, &n, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "line 3"));
    assert_null(next);
    assert_int_equal(n, 0);
    mm_source_close(s);
}

/* ---- fuzzing -------------------------------------------------------------- */

/* Mutates valid files of every format (flipped bytes, cut tails, inserted
 * junk) and reads each with every format and with detection: whatever the
 * input, the reader either delivers references or names an error; it never
 * crashes (run under ASan in `make sanitize`). */
static void test_mutated_inputs_never_crash(void **state)
{
    static const char *const seeds[] = {
        "R 1000 8\nW 0x2000\n# c\nX 3000 4\n",
        "==1== x\nI  0400d7d4,3\n M 0421e048,4\n L 04016c70,8\n",
        "1\n2\n*\n3\n",
        "l 0x1fffff58 1\ns 0x1fffff50 0\n",
    };
    static const char *const formats[] = {
        NULL, "text", "lackey", "blocks", "blocks32be", "spec", "binary",
    };
    const size_t nrefs = 200;
    mm_ref *refs = varied_refs(nrefs);
    unsigned char *bin, *buf;
    uint64_t x = 99;
    size_t binlen, iter, f;
    long size;
    char err[256];
    FILE *fp;
    mm_trace_writer *w = mm_trace_writer_open(tpath("fz.pltrace"), err,
                                              sizeof err);
    (void)state;
    assert_non_null(w);
    assert_int_equal(mm_trace_writer_put(w, refs, nrefs), 0);
    assert_int_equal(mm_trace_writer_close(w, err, sizeof err), 0);
    fp = fopen(tpath("fz.pltrace"), "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    rewind(fp);
    binlen = (size_t)size;
    bin = malloc(binlen);
    buf = malloc(binlen + 64);
    assert_non_null(bin);
    assert_non_null(buf);
    assert_int_equal(fread(bin, 1, binlen, fp), binlen);
    fclose(fp);
    for (iter = 0; iter < 600; iter++) {
        size_t len, i, nmut;
        const unsigned char *src;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        if (iter % 5 == 4) {
            src = bin;
            len = binlen;
        } else {
            src = (const unsigned char *)seeds[iter % 5 % 4];
            len = strlen((const char *)src);
        }
        memcpy(buf, src, len);
        nmut = 1 + (x >> 60);
        for (i = 0; i < nmut; i++) {
            uint64_t r = (x >> (i * 5 % 64)) ^ (x * (i + 1));
            size_t at = (size_t)(r % len);
            switch ((r >> 20) % 3) {
            case 0: buf[at] ^= (unsigned char)(1u << ((r >> 8) % 8)); break;
            case 1: buf[at] = (unsigned char)(r >> 32); break;
            default: len = at + 1; break;   /* cut the tail */
            }
        }
        write_file("fz", buf, len);
        if (iter % 3 == 0)
            write_gz("fz", buf, len);
        for (f = 0; f < sizeof formats / sizeof formats[0]; f++) {
            mm_source *s = mm_trace_open(tpath("fz"), formats[f], err,
                                         sizeof err);
            size_t n;
            if (s == NULL) {
                assert_true(strlen(err) > 0);
                continue;
            }
            free(read_all(s, 7, &n));
            if (mm_source_error(s))
                assert_non_null(strstr(mm_source_error(s), "fz"));
            mm_source_close(s);
        }
    }
    free(bin);
    free(buf);
    free(refs);
}

/* ---- the public reference traces ------------------------------------------ */

static const char *traces_dir(void)
{
    const char *d = getenv("PAGELAB_TRACES");
    return d && *d ? d : "../shared/traces";
}

static const char *real_trace(const char *rel)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", traces_dir(), rel);
    if (access(buf, R_OK) != 0)
        return NULL;
    return buf;
}

/* Round-trips a trace through the binary format and compares. */
static void check_round_trip(mm_source *s, const char *name)
{
    char err[512] = "";
    uint64_t written = 0;
    mm_source *b;
    size_t na, nb, i;
    mm_ref *ra, *rb;
    assert_int_equal(mm_source_rewind(s), 0);
    if (mm_trace_convert(s, tpath(name), 0, &written, err, sizeof err) != 0)
        fail_msg("convert: %s", err);
    assert_int_equal(mm_source_rewind(s), 0);
    b = open_ok(tpath(name), NULL);
    ra = read_all(s, 4096, &na);
    rb = read_all(b, 1000, &nb);
    assert_null(mm_source_error(s));
    assert_null(mm_source_error(b));
    assert_int_equal(na, nb);
    assert_int_equal(na, written);
    for (i = 0; i < na; i++)
        if (ra[i].addr != rb[i].addr || ra[i].size != rb[i].size ||
            ra[i].kind != rb[i].kind)
            fail_msg("%s: ref %zu differs", name, i);
    free(ra);
    free(rb);
    mm_source_close(b);
}

static void check_real(const char *rel, const char *fmt, uint64_t refs,
                       uint64_t distinct_4k)
{
    const char *p = real_trace(rel);
    char err[512] = "";
    mm_trace_info in;
    mm_source *s;
    if (p == NULL)
        skip();
    s = open_ok(p, NULL);
    assert_string_equal(
        mm_trace_format_name((mm_trace_format)mm_trace_format_of(s)), fmt);
    if (mm_source_info(s, 0, &in, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (in.refs != refs || (distinct_4k && in.distinct_pages[3] !=
                            distinct_4k))
        fail_msg("%s: %llu refs, %llu distinct 4 KiB pages", rel,
                 (unsigned long long)in.refs,
                 (unsigned long long)in.distinct_pages[3]);
    check_round_trip(s, "real.pltrace.gz");
    mm_source_close(s);
}

static void test_real_lirs_cpp(void **state)
{
    (void)state;
    check_real("lirs/cpp.trace.gz", "blocks", 9047, 1223);
}

/* 2_pools has 100,002 lines of which two are '*' checkpoints: 100,000
 * references to 9,939 blocks (the README's 100,002 / 9,940 count the
 * checkpoint lines as if they were a block). */
static void test_real_lirs_2_pools(void **state)
{
    (void)state;
    check_real("lirs/2_pools.trace.gz", "blocks", 100000, 9939);
}

static void test_real_oltp(void **state)
{
    (void)state;
    check_real("oltp/trace-oltp.trc.bin.gz", "blocks32be", 914145, 186880);
}

static void test_real_spec2000_gcc(void **state)
{
    (void)state;
    check_real("spec2000/gcc.trace.gz", "spec", 515683, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_lackey_format),
        cmocka_unit_test(test_blocks_format),
        cmocka_unit_test(test_spec_format),
        cmocka_unit_test(test_blocks32be_format),
        cmocka_unit_test(test_binary_round_trip),
        cmocka_unit_test(test_sequential_binary_is_compact),
        cmocka_unit_test(test_empty_binary_trace_is_valid),
        cmocka_unit_test(test_binary_size_zero_reads_as_one),
        cmocka_unit_test(test_detection_refuses_what_it_cannot_tell),
        cmocka_unit_test(test_garbage_is_an_error_naming_file_and_line),
        cmocka_unit_test(test_overlong_line_is_an_error),
        cmocka_unit_test(test_truncated_gzip_is_an_error),
        cmocka_unit_test(test_bad_binary_input_is_an_error),
        cmocka_unit_test(test_bad_blocks32be_is_an_error),
        cmocka_unit_test(test_opening_errors),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_convert_stops_at_bad_input),
        cmocka_unit_test(test_info_counts),
        cmocka_unit_test(test_info_wide_accesses),
        cmocka_unit_test(test_next_use_on_a_hand_made_sequence),
        cmocka_unit_test(test_next_use_and_info_on_workloads),
        cmocka_unit_test(test_errors_reach_info_and_next_use),
        cmocka_unit_test(test_mutated_inputs_never_crash),
        cmocka_unit_test(test_real_lirs_cpp),
        cmocka_unit_test(test_real_lirs_2_pools),
        cmocka_unit_test(test_real_oltp),
        cmocka_unit_test(test_real_spec2000_gcc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
