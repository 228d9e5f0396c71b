#!/usr/bin/env bash
# sweep_speedup.sh — how much -j 2 buys: wall time of one 16-point sweep
# (experiments/sweep_policies.lua, ~0.5-1 s a point, so that process start
# and SQLite do not dominate) with -j 1 and with -j 2, and their ratio.
# Target on a 2-core machine: ratio <= 0.55. A benchmark, not a test: other
# load on the machine shows in the numbers (the load average is printed).
#
#   bench/sweep_speedup.sh [BUILD_DIR]      default build/release (make)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
O=${1:-build/release}
PL=$top/$O/pagelab
[ -x "$PL" ] || { echo "sweep_speedup: no $PL (run make first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work

SWEEP=(sweep "$top/experiments/sweep_policies.lua"
       -p ws_max=256KiB,512KiB,1MiB,2MiB -p policy=aging,fifo,clock,lru -p refs=8000000)

run() {   # run JOBS → "wall user sys" seconds (the workers included)
  local TIMEFORMAT='%R %U %S'
  { time "$PL" "${SWEEP[@]}" -j "$1" --db "$work/j$1.db" >"$work/j$1.out" 2>&1 \
      || { cat "$work/j$1.out" >&2; exit 1; }; } 2>&1
}

echo "sweep_speedup: 16 points of sweep_policies, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
read -r t1 u1 s1 <<<"$(run 1)"
read -r t2 u2 s2 <<<"$(run 2)"
per_run() { sqlite3 "$work/j$1.db" "SELECT printf('%.2f', avg((julianday(finished_at) - julianday(started_at)) * 86400)) FROM run"; }
same=$( [ "$(sqlite3 "$work/j1.db" "SELECT run_key, key, value FROM run JOIN metric USING (run_id) ORDER BY 1, 2" | md5sum)" = \
          "$(sqlite3 "$work/j2.db" "SELECT run_key, key, value FROM run JOIN metric USING (run_id) ORDER BY 1, 2" | md5sum)" ] \
        && echo "identical" || echo "DIFFERENT")
# a point that takes longer under -j 2 than under -j 1 means the cores were
# busy with something else: the ratio then measures the machine, not pagelab;
# equal CPU seconds for -j 1 and -j 2 show that parallelism itself costs nothing
printf '  -j 1  %6.2f s wall  %6.2f s CPU   (%s s a point)\n' "$t1" "$(echo "$u1 + $s1" | bc -l)" "$(per_run 1)"
printf '  -j 2  %6.2f s wall  %6.2f s CPU   (%s s a point; results %s)\n' "$t2" "$(echo "$u2 + $s2" | bc -l)" "$(per_run 2)" "$same"
printf '  ratio %6.3f    (target <= 0.55 on 2 cores)\n' "$(echo "$t2 / $t1" | bc -l)"
