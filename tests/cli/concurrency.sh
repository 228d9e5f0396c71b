#!/usr/bin/env bash
# concurrency.sh — several writers on one results database at once (TAP).
#
#   1. two `pagelab sweep -j 2` of 20 points each, started together on one
#      database: both exit 0, all 40 runs are there with status ok, and no
#      output mentions "database is locked" (or "busy");
#   2. two shell loops of 20 `pagelab run` each, on one database: the same;
#   3. 25 pairs of `pagelab run` that create one new database at once;
#   4. the databases pass PRAGMA integrity_check afterwards.
# The experiment writes metrics and a series every run, so the writers
# contend for the file rather than for the CPU.
# tests/run puts build/<mode> first on PATH and exports PAGELAB_BUILD.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
PL=${PAGELAB_BUILD:-$top/build/debug}/pagelab
[ -x "$PL" ] || PL=$(command -v pagelab)
PL=$(cd "$(dirname "$PL")" && pwd)/$(basename "$PL")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export TMPDIR="$work"
n=0
ok()     { n=$((n + 1)); echo "ok - $1"; }
not_ok() { n=$((n + 1)); echo "not ok - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
q() { sqlite3 "$1" "$2"; }

cat >busy.lua <<'EOF'
return {
  name = "busy",
  description = "a short run that writes many rows",
  params = { n = { 1, "point" } },
  run = function(p, rec)
    for i = 1, 40 do rec:metric("m" .. i, p.n * i) end
    for i = 1, 200 do rec:series("s", i, p.n + i) end
  end,
}
EOF

locked() { grep -il 'database is locked\|database table is locked\|SQLITE_BUSY' "$@" 2>/dev/null; }

# 1. two sweeps at once
"$PL" sweep busy.lua -p n=1..20 -j 2 --db sweeps.db >s1.out 2>&1 &
p1=$!
"$PL" sweep busy.lua -p n=21..40 -j 2 --db sweeps.db >s2.out 2>&1 &
p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
if [ "$rc1" = 0 ] && [ "$rc2" = 0 ]; then ok "two concurrent sweeps both exit 0"
else not_ok "two concurrent sweeps both exit 0" "exit $rc1 and $rc2" \
  "sweep 1: $(tail -c 400 s1.out)" "sweep 2: $(tail -c 400 s2.out)"; fi
got=$(q sweeps.db "SELECT count(*) FROM run WHERE status = 'ok'")
pts=$(q sweeps.db "SELECT count(DISTINCT json_extract(params_json, '\$.n')) FROM run")
if [ "$got" = 40 ] && [ "$pts" = 40 ]; then ok "two concurrent sweeps record all 40 runs"
else not_ok "two concurrent sweeps record all 40 runs" "ok runs: $got, points: $pts" \
  "$(q sweeps.db "SELECT run_id, status, error FROM run WHERE status <> 'ok'" | head -5)"; fi
m=$(q sweeps.db "SELECT count(*) FROM metric"); s=$(q sweeps.db "SELECT count(*) FROM series")
if [ "$m" = 1600 ] && [ "$s" = 8000 ]; then ok "every metric and series point of both sweeps is there"
else not_ok "every metric and series point of both sweeps is there" "metrics $m (1600), points $s (8000)"; fi
if f=$(locked s1.out s2.out); then not_ok "no 'database is locked' from the sweeps" "$f: $(grep -i locked $f | head -3)"
else ok "no 'database is locked' from the sweeps"; fi

# 2. two loops of pagelab run at once
loop() {   # loop FIRST: 20 runs
  local i rc=0
  for i in $(seq "$1" $(($1 + 19))); do
    "$PL" run busy.lua -p n="$i" --db runs.db -q || rc=1
  done
  return $rc
}
loop 1 >l1.out 2>&1 &
p1=$!
loop 21 >l2.out 2>&1 &
p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
if [ "$rc1" = 0 ] && [ "$rc2" = 0 ]; then ok "two concurrent run loops: every run exits 0"
else not_ok "two concurrent run loops: every run exits 0" "loop exits $rc1 and $rc2" \
  "loop 1: $(tail -c 400 l1.out)" "loop 2: $(tail -c 400 l2.out)"; fi
got=$(q runs.db "SELECT count(*) FROM run WHERE status = 'ok'")
if [ "$got" = 40 ]; then ok "two concurrent run loops record all 40 runs"
else not_ok "two concurrent run loops record all 40 runs" "ok runs: $got"; fi
if f=$(locked l1.out l2.out); then not_ok "no 'database is locked' from the run loops" "$f: $(grep -i locked $f | head -3)"
else ok "no 'database is locked' from the run loops"; fi

# 3. the race to create a database: pairs of runs on a file that does not
# exist yet (the window is small: the sanitize build, slower to start,
# meets it in most attempts, the debug build in about 1 of 200 pairs)
fails=0
for i in $(seq 1 25); do
  rm -f new.db new.db-wal new.db-shm
  "$PL" run busy.lua -p n=1 --db new.db -q >c1.out 2>&1 &
  p1=$!
  "$PL" run busy.lua -p n=2 --db new.db -q >c2.out 2>&1 &
  p2=$!
  wait $p1 || fails=$((fails + 1))
  wait $p2 || fails=$((fails + 1))
  [ "$fails" -gt 0 ] && break
done
if [ "$fails" = 0 ]; then ok "25 pairs of runs creating one new database at once all succeed"
else not_ok "25 pairs of runs creating one new database at once all succeed" \
  "pair $i: $(cat c1.out c2.out | head -3)"; fi

# 4. the file is sound
for db in sweeps.db runs.db; do
  r=$(q $db "PRAGMA integrity_check")
  if [ "$r" = ok ]; then ok "$db passes integrity_check"; else not_ok "$db passes integrity_check" "$r"; fi
done

echo "1..$n"
