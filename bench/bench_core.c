/*
** bench_core.c — simulated references per second for the core's two
** extremes: a loop that always hits (the hot path alone) and a loop that
** faults on nearly every reference (demand-zero, trimming at a hard
** working-set maximum, soft faults back, the modified writer, page-file
** reads). A benchmark, not a test: it prints numbers and never fails.
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mm.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static mm_system *make(uint64_t ram, uint64_t pf) {
  mm_config cfg;
  mm_config_default(&cfg, MM_ARCH_X64);
  cfg.ram = ram;
  cfg.pagefile = pf;
  cfg.tune.refs_per_second = 1000000;
  mm_system *sys;
  char err[200];
  if (mm_system_create(&cfg, &sys, err, sizeof err)) {
    fprintf(stderr, "bench: %s\n", err);
    exit(1);
  }
  return sys;
}

/* Best of three runs of n references from a fresh workload. */
static double run(const char *name, mm_workload_kind kind, uint64_t size,
                  uint32_t ws_max, bool hard, double writes, uint64_t n,
                  uint64_t ram) {
  double best = 0;
  mm_run_result rr = { 0, { 0 } };
  for (int rep = 0; rep < 3; rep++) {
    mm_system *sys = make(ram, 8ull << 30);
    mm_process_config pc = { name, 1, ws_max, hard, false };
    mm_pid p;
    mm_process_create(sys, &pc, &p);
    uint64_t base = 0x10000000, sz = size;
    mm_allocate(sys, p, &base, &sz, MM_MEM_RESERVE | MM_MEM_COMMIT,
                MM_PAGE_READWRITE);
    mm_workload_cfg wc;
    mm_workload_cfg_init(&wc, kind);
    wc.base = base;
    wc.size = size;
    wc.writes = writes;
    char err[200];
    mm_source *src = mm_workload_new(&wc, err, sizeof err);
    if (!src) { fprintf(stderr, "bench: %s\n", err); exit(1); }
    mm_run_opts ro = { n, false, true };
    double t0 = now();
    mm_status st = mm_run(sys, p, src, &ro, &rr);
    double t = now() - t0;
    if (st) {
      fprintf(stderr, "bench: %s\n", mm_last_error(sys));
      exit(1);
    }
    if (n / t > best) best = n / t;
    mm_source_close(src);
    mm_system_destroy(sys);
  }
  printf("%-34s %8.1f M refs/s   hit %5.1f%%  dz %llu soft %llu hard %llu\n",
         name, best / 1e6, 100.0 * rr.outcome[MM_HIT] / rr.refs,
         (unsigned long long)rr.outcome[MM_DEMAND_ZERO],
         (unsigned long long)rr.outcome[MM_SOFT],
         (unsigned long long)rr.outcome[MM_HARD]);
  return best;
}

int main(void) {
  printf("pagelab core benchmark (x64, 4 KiB pages, policy aging)\n");
  run("hit-only loop (64 pages)", MM_WORKLOAD_LOOP, 64 * 4096, 345, false,
      0.0, 20000000, 256ull << 20);
  run("fault-heavy loop (4096 pages, ws 1024)", MM_WORKLOAD_LOOP,
      4096 * 4096, 1024, true, 0.3, 5000000, 256ull << 20);
  run("fault-heavy, memory-bound (16 MiB RAM)", MM_WORKLOAD_UNIFORM,
      64ull << 20, 100000, false, 0.3, 5000000, 16ull << 20);
  return 0;
}
