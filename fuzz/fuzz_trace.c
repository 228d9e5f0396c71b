/*
** fuzz_trace.c: libFuzzer target for the trace readers (make fuzz-trace).
**
** The input's first byte is a control byte: bit 0 writes the rest
** gzip-compressed instead of plain, bits 1-6 pick the first read's batch
** size. The rest is written to a file and opened in every format, and by
** detection. A reader that refuses the file, or stops inside it, must say
** why. A reader that accepts it must deliver only references of a known
** kind and a nonzero size; deliver the same references and the same error
** after a rewind, in other batch sizes; agree with mm_source_info and
** mm_source_next_use on what it read; and come back unchanged through the
** binary format. Any broken promise aborts, which libFuzzer reports as a
** crash.
*/
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static char dir[256], in_path[300], out_path[300];

static void cleanup(void) {
  remove(in_path);
  remove(out_path);
  rmdir(dir);
}

/* A private directory for the two files, made once per process under
** $TMPDIR (or /tmp) and removed at exit. */
static void paths(void) {
  const char *tmp = getenv("TMPDIR");
  if (in_path[0]) return;
  snprintf(dir, sizeof dir, "%s/pagelab-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  snprintf(in_path, sizeof in_path, "%s/in", dir);
  snprintf(out_path, sizeof out_path, "%s/out", dir);
  atexit(cleanup);
}

static void write_input(const uint8_t *d, size_t n, int gz) {
  if (gz) {
    gzFile f = gzopen(in_path, "wb");
    CHECK(f != NULL);
    CHECK(n == 0 || gzwrite(f, d, (unsigned)n) == (int)n);
    CHECK(gzclose(f) == Z_OK);
  } else {
    FILE *f = fopen(in_path, "wb");
    CHECK(f != NULL);
    CHECK(n == 0 || fwrite(d, 1, n, f) == n);
    CHECK(fclose(f) == 0);
  }
}

typedef struct refs {
  mm_ref *r;
  size_t n, cap;
  char err[512];                /* "" when the read reached the end */
} refs;

/* Reads s to its end or its error, batch references at a time. */
static void read_all(mm_source *s, size_t batch, refs *out) {
  mm_ref buf[4096];
  out->n = 0;
  out->err[0] = '\0';
  for (;;) {
    size_t got = mm_source_next(s, buf, batch);
    if (got == 0) break;
    CHECK(got <= batch);
    if (out->n + got > out->cap) {
      out->cap = (out->n + got) * 2;
      out->r = realloc(out->r, out->cap * sizeof *out->r);
      CHECK(out->r != NULL);
    }
    for (size_t i = 0; i < got; i++) {
      CHECK(buf[i].kind <= MM_REF_EXEC);
      CHECK(buf[i].size > 0);
    }
    memcpy(out->r + out->n, buf, got * sizeof *buf);
    out->n += got;
  }
  const char *e = mm_source_error(s);
  if (e) {
    CHECK(e[0] != '\0');
    snprintf(out->err, sizeof out->err, "%s", e);
    CHECK(mm_source_next(s, buf, batch) == 0);   /* the error stays */
    CHECK(mm_source_error(s) != NULL);
  }
}

static int same_refs(const refs *a, const refs *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++)
    if (a->r[i].addr != b->r[i].addr || a->r[i].size != b->r[i].size ||
        a->r[i].kind != b->r[i].kind)
      return 0;
  return 1;
}

/* The whole-source passes over a trace read without error: a. */
static void check_passes(mm_source *s, const refs *a) {
  char err[512];
  mm_trace_info info;
  CHECK(mm_source_rewind(s) == 0);
  CHECK(mm_source_info(s, 0, &info, err, sizeof err) == 0);
  CHECK(info.refs == a->n);
  CHECK(info.reads + info.writes + info.execs == a->n);
  uint64_t lo = UINT64_MAX, hi = 0, lines = 0;
  for (size_t i = 0; i < a->n; i++) {
    uint64_t end = a->r[i].addr + (a->r[i].size - 1);
    if (end < a->r[i].addr) end = UINT64_MAX;        /* the top of memory */
    if (a->r[i].addr < lo) lo = a->r[i].addr;
    if (end > hi) hi = end;
    lines += (end >> 6) - (a->r[i].addr >> 6) + 1;
  }
  if (a->n) CHECK(info.min_addr == lo && info.max_addr == hi);
  /* Each size halves the count at most, never raises it, and 512-byte
  ** pages hold 8 lines. */
  CHECK(info.lines_64 <= lines && (a->n == 0) == (info.lines_64 == 0));
  CHECK(info.distinct_pages[0] <= info.lines_64);
  CHECK(8 * info.distinct_pages[0] >= info.lines_64);
  for (unsigned k = 1; k < MM_INFO_PAGE_SIZES; k++)
    CHECK(info.distinct_pages[k] <= info.distinct_pages[k - 1] &&
          2 * info.distinct_pages[k] >= info.distinct_pages[k - 1]);

  uint32_t *next;
  size_t nn;
  CHECK(mm_source_next_use(s, 12, 0, &next, &nn, err, sizeof err) == 0);
  CHECK(nn == a->n);
  for (size_t i = 0; i < nn; i++) {
    if (next[i] == UINT32_MAX) continue;
    CHECK(next[i] > i && next[i] < nn);
    CHECK(a->r[next[i]].addr >> 12 == a->r[i].addr >> 12);
    for (size_t j = i + 1; j < next[i]; j++)
      CHECK(a->r[j].addr >> 12 != a->r[i].addr >> 12);
  }
  free(next);

  /* The binary format keeps every field: converted and read back, the
  ** same references. */
  uint64_t written;
  CHECK(mm_source_rewind(s) == 0);
  CHECK(mm_trace_convert(s, out_path, 0, &written, err, sizeof err) == 0);
  CHECK(written == a->n);
  mm_source *b = mm_trace_open(out_path, "binary", err, sizeof err);
  CHECK(b != NULL);
  refs back = { 0 };
  read_all(b, 4096, &back);
  CHECK(back.err[0] == '\0' && same_refs(a, &back));
  free(back.r);
  mm_source_close(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  paths();
  size_t batch = 1 + (size_t)((data[0] >> 1) & 63);
  write_input(data + 1, size - 1, data[0] & 1);
  for (int f = MM_TRACE_DETECT; f < MM_TRACE_FORMAT_COUNT; f++) {
    char err[512] = "";
    mm_trace_opts o = { (mm_trace_format)f, 0, 0, 0 };
    mm_source *s = mm_trace_open_ex(in_path, &o, err, sizeof err);
    if (!s) {
      CHECK(err[0] != '\0');
      continue;
    }
    CHECK(f == MM_TRACE_DETECT || mm_trace_format_of(s) == f);
    refs a = { 0 }, b = { 0 };
    read_all(s, batch, &a);
    CHECK(mm_source_rewind(s) == 0);
    read_all(s, 4096, &b);
    CHECK(same_refs(&a, &b) && strcmp(a.err, b.err) == 0);
    if (a.err[0] == '\0' && a.n <= 100000) check_passes(s, &a);
    free(a.r);
    free(b.r);
    mm_source_close(s);
  }
  return 0;
}
