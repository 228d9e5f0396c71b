/*
** bench_policies.c — references per second of the whole simulator under
** each replacement policy, and the host memory it takes.
**
** Two workloads, each replayed through mm_run with the full bookkeeping
** (PTEs, PFN lists, standby/modified, page file, the manager once per
** simulated second):
**   zipf     a process with a hard working-set maximum of 65,536 pages
**            over a committed 4 GiB region (1M pages), 10M references of
**            zipf(0.9) with 30% writes, on x64 with 4 KiB pages, 512 MiB
**            of RAM and an 8 GiB page file, 10^6 references per simulated
**            second;
**   all-hit  the same system, a loop over 64 pages: after the first 64
**            faults every reference is a hit (the hit path alone).
** Each measurement is the best of BENCH_ROUNDS runs on a fresh system and
** a rewound source, the rounds taken in turn over the policies; the clock
** runs around mm_run only (for opt its next-use pre-pass is inside mm_run
** and counts).
**
** Build (the Makefile's `make bench` does the same):
**   make lib && gcc -O2 -DNDEBUG -std=c11 -D_GNU_SOURCE -Icore \
**     bench/bench_policies.c build/release/libpagelab.a -lz -lm
** Usage: bench_policies [refs] [policy...]   (defaults: 10M; the targets)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"        /* structure sizes for the memory figures */

#define BENCH_ROUNDS 5
#define BENCH_REFS   10000000ull
#define BENCH_RAM    (512ull << 20)
#define BENCH_PF     (8ull << 30)
#define BENCH_REGION (4ull << 30)
#define BENCH_WSMAX  65536u
#define BENCH_RPS    1000000ull
#define BENCH_LOOP_PAGES 64u

/* Host bytes a policy keeps per working-set slot (see each policy's
** header comment; docs/policies.md). */
typedef struct bench_policy {
  const char *name;
  unsigned slot_bytes;
  double target_mrefs;       /* zipf target, M refs/s */
  uint64_t tau;              /* wsclock's window (0: the policy default) */
  bool load_referenced;
} bench_policy;

/* wsclock gets τ = 0.1 simulated second and load_referenced = false: with
** the defaults (τ = 3 s, 3M references; loads stamped again by the first
** sweep) the whole hard-limited set stays inside the window, and every
** fault sweeps all 65,536 pages before falling back to the oldest —
** correct, and hopelessly slow (docs/policies.md). */
static const bench_policy policies[] = {
  { "fifo", 8, 30, 0, true },   { "lru", 8, 30, 0, true },
  { "clock", 8, 30, 0, true },  { "aging", 1, 30, 0, true },
  { "opt", 16, 15, 0, true },   { "random", 8, 0, 0, true },
  { "wsclock", 16, 0, BENCH_RPS / 10, false },
};
#define NPOLICIES (sizeof policies / sizeof *policies)
#define NTARGETS 5           /* the first five are the brief's targets */
#define LOOP_TARGET_MREFS 100.0

typedef struct bench_result {
  double secs;               /* best time of mm_run */
  mm_run_result res;
  mm_pstats ps;
  mm_sstats ss;
} bench_result;

static double now_secs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_policies: %s: %s\n", what, why);
  exit(1);
}

/* One fresh system and process; runs src for refs references. */
static void run_once(const bench_policy *bp, mm_source *src, uint64_t refs,
                     bench_result *out) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = BENCH_RAM;
  cfg.pagefile = BENCH_PF;
  cfg.page_size = 4096;
  cfg.tune.refs_per_second = BENCH_RPS;
  cfg.policy.name = bp->name;
  cfg.policy.tau = bp->tau;
  cfg.policy.load_referenced = bp->load_referenced;
  mm_system *sys = NULL;
  char err[256];
  if (mm_system_create(&cfg, &sys, err, sizeof err) != MM_STATUS_SUCCESS)
    die("mm_system_create", err);
  mm_process_config pc = { "bench", 0, BENCH_WSMAX, true, false };
  mm_pid pid;
  if (mm_process_create(sys, &pc, &pid) != MM_STATUS_SUCCESS)
    die("mm_process_create", mm_last_error(sys));
  uint64_t base = MM_WORKLOAD_DEFAULT_BASE, size = BENCH_REGION;
  if (mm_allocate(sys, pid, &base, &size, MM_MEM_RESERVE | MM_MEM_COMMIT,
                  MM_PAGE_READWRITE) != MM_STATUS_SUCCESS)
    die("mm_allocate", mm_last_error(sys));
  if (mm_source_rewind(src) != 0) die("rewind", mm_source_error(src));
  mm_run_opts opt = { refs, false, true };
  mm_run_result res;
  double t0 = now_secs();
  mm_status st = mm_run(sys, pid, src, &opt, &res);
  double t = now_secs() - t0;
  if (st != MM_STATUS_SUCCESS) die("mm_run", mm_last_error(sys));
  if (out->secs == 0 || t < out->secs) out->secs = t;
  out->res = res;
  mm_process_stats(sys, pid, &out->ps);
  mm_system_stats(sys, &out->ss);
  mm_system_destroy(sys);
}

static mm_source *workload(mm_workload_kind kind, uint64_t size) {
  mm_workload_cfg wc;
  mm_workload_cfg_init(&wc, kind);
  wc.size = size;
  wc.page_size = 4096;
  if (kind == MM_WORKLOAD_ZIPF) {
    wc.alpha = 0.9;
    wc.writes = 0.3;
  }
  char err[256];
  mm_source *s = mm_workload_new(&wc, err, sizeof err);
  if (!s) die("mm_workload_new", err);
  return s;
}

static const bench_policy *policy_named(const char *name) {
  for (size_t i = 0; i < NPOLICIES; i++)
    if (strcmp(policies[i].name, name) == 0) return &policies[i];
  return NULL;
}

/* Host memory, from the structure sizes:
**   per simulated frame   sizeof(mm_pfn)
**   per working-set slot  sizeof(mm_wsle) + the policy's slot bytes
**   per touched page      (page tables + the leaf cache) / touched
**                         pages, where a leaf table is sizeof(mm_leaf) +
**                         E × 8-byte PTEs, E = 512 entries (leaves under
**                         views add E × 4 bytes of slots; the replay has
**                         none), the few directories above are counted
**                         as leaves (an upper bound: a directory is E × 8
**                         bytes), and the leaf cache at its largest,
**                         PT_LC_MAX entries. */
static void memory_report(const bench_result *r, const bench_policy *bp) {
  const double E = 512.0;
  double leaf = (double)sizeof(mm_leaf) + E * sizeof(mm_pte);
  uint64_t touched = r->res.outcome[MM_DEMAND_ZERO];  /* first touches */
  double pt = (double)r->ps.page_table_pages * leaf +
              (double)PT_LC_MAX * sizeof(mm_leaf_ref);
  double slot = (double)sizeof(mm_wsle) + bp->slot_bytes;
  printf("    memory: %zu B/frame (PFN); %.0f B/ws slot (wsle %zu + %s %u); "
         "page tables %.1f B/touched page (%llu tables, %llu pages)\n",
         sizeof(mm_pfn), slot, sizeof(mm_wsle), bp->name, bp->slot_bytes,
         touched ? pt / (double)touched : 0.0,
         (unsigned long long)r->ps.page_table_pages,
         (unsigned long long)touched);
  /* The whole simulated machine per frame: PFN entry + one slot per
  ** frame (the working set cannot hold more pages than there are). */
  printf("    budget: %.0f B per simulated frame (PFN + ws slot) of 64\n",
         (double)sizeof(mm_pfn) + slot);
}

int main(int argc, char **argv) {
  uint64_t refs = BENCH_REFS;
  int first = 1;
  setvbuf(stdout, NULL, _IOLBF, 0);    /* progress shows through a pipe */
  if (argc > 1 && strtoull(argv[1], NULL, 10) > 0) {
    refs = strtoull(argv[1], NULL, 10);
    first = 2;
  }
  const bench_policy *run[NPOLICIES];
  size_t nrun = 0;
  for (int i = first; i < argc; i++) {
    const bench_policy *bp = policy_named(argv[i]);
    if (!bp) die(argv[i], "unknown policy (fifo lru clock aging opt random "
                 "wsclock)");
    run[nrun++] = bp;
  }
  if (nrun == 0)
    for (size_t i = 0; i < NTARGETS; i++) run[nrun++] = &policies[i];

  /* The zipf references are generated once into a binary trace, which
  ** every run replays: what is timed is the simulator, not the sampler
  ** (a zipf draw costs a log and an exp). */
  mm_source *gen = workload(MM_WORKLOAD_ZIPF, BENCH_REGION);
  char dir[256], tpath[300], terr[256];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/pagelab-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) die("mkdtemp", dir);
  snprintf(tpath, sizeof tpath, "%s/zipf.trace", dir);
  if (mm_trace_convert(gen, tpath, refs, NULL, terr, sizeof terr) != 0)
    die("writing the zipf trace", terr);
  mm_source_close(gen);
  mm_source *zipf = mm_trace_open(tpath, "binary", terr, sizeof terr);
  if (!zipf) die("opening the zipf trace", terr);
  mm_source *loop = workload(MM_WORKLOAD_LOOP,
                             (uint64_t)BENCH_LOOP_PAGES * 4096);
  printf("bench_policies: x64 4 KiB pages, %llu MiB RAM, %llu GiB page "
         "file, hard ws max %u pages, %llu refs, best of %d\n",
         (unsigned long long)(BENCH_RAM >> 20),
         (unsigned long long)(BENCH_PF >> 30), BENCH_WSMAX,
         (unsigned long long)refs, BENCH_ROUNDS);
  printf("memory formulas: per frame = sizeof(mm_pfn); per ws slot = "
         "sizeof(mm_wsle) + policy bytes; per touched page = (page-table "
         "tables x (sizeof(mm_leaf) + 512 x 8 B PTE) + the leaf cache at "
         "its largest) / demand-zero faults (directories counted as "
         "leaves)\n");
  /* The rounds go round the policies (fifo, lru, ..., fifo, lru, ...),
  ** so that a busy minute on this shared machine falls on all of them
  ** alike rather than on whichever was running. */
  bench_result zr[NPOLICIES] = { { 0 } }, lr[NPOLICIES] = { { 0 } };
  for (int k = 0; k < BENCH_ROUNDS; k++) {
    printf("%sround %d of %d", k ? ", " : "\n", k + 1, BENCH_ROUNDS);
    fflush(stdout);
    for (size_t i = 0; i < nrun; i++) {
      run_once(run[i], zipf, refs, &zr[i]);
      run_once(run[i], loop, refs, &lr[i]);
    }
  }
  printf("\n");
  int missed = 0;
  for (size_t i = 0; i < nrun; i++) {
    const bench_policy *bp = run[i];
    const bench_result z = zr[i], l = lr[i];
    double zm = (double)z.res.refs / z.secs / 1e6;
    double lm = (double)l.res.refs / l.secs / 1e6;
    bool zok = zm >= bp->target_mrefs, lok = lm >= LOOP_TARGET_MREFS;
    if (!zok || !lok) missed++;
    printf("\n%-8s zipf    %7.1f M refs/s%s  (%.3f s)\n", bp->name, zm,
           bp->target_mrefs == 0 ? "" : zok ? "  [target met]"
                                              : "  [TARGET MISSED]", z.secs);
    printf("    faults: %llu of %llu refs = %.2f%% (demand-zero %llu, soft "
           "%llu, hard %llu); replaced %llu, trimmed %llu; page-file "
           "writes %llu, reads %llu\n",
           (unsigned long long)(z.res.refs - z.res.outcome[MM_HIT]),
           (unsigned long long)z.res.refs,
           100.0 * (double)(z.res.refs - z.res.outcome[MM_HIT]) /
               (double)z.res.refs,
           (unsigned long long)z.res.outcome[MM_DEMAND_ZERO],
           (unsigned long long)z.res.outcome[MM_SOFT],
           (unsigned long long)z.res.outcome[MM_HARD],
           (unsigned long long)z.ps.replaced, (unsigned long long)z.ps.trimmed,
           (unsigned long long)z.ss.pagefile_writes,
           (unsigned long long)z.ss.pagefile_reads);
    memory_report(&z, bp);
    printf("%-8s all-hit %7.1f M refs/s%s  (%.3f s, %llu faults)\n",
           bp->name, lm, lok ? "  [target met]" : "  [TARGET MISSED]",
           l.secs, (unsigned long long)(l.res.refs - l.res.outcome[MM_HIT]));
  }
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    printf("\npeak host RSS %.0f MiB (largest system, plus opt's next-use "
           "array of 4 B per reference)\n", (double)ru.ru_maxrss / 1024.0);
  printf("%d of %zu policies missed a target\n", missed, nrun);
  mm_source_close(zipf);
  mm_source_close(loop);
  remove(tpath);
  rmdir(dir);
  return 0;                  /* numbers, never a pass/fail (Makefile) */
}
