#!/usr/bin/env bash
# merge.sh — shards run by GNU parallel, joined by pagelab merge (TAP).
# tests/run puts build/<mode> first on PATH and exports PAGELAB_BUILD.
set -u
. "$(dirname "$0")/lib/tap.sh"
# everything a run is, without its run_id (which differs between files)
dump() {
  q "$1" "SELECT run_key, experiment, status, seed, repetition, params_json, coalesce(error, '')
            FROM run ORDER BY run_key;
          SELECT r.run_key, m.key, m.value FROM metric m JOIN run r USING (run_id) ORDER BY 1, 2;
          SELECT r.run_key, s.key, s.step, s.value FROM series s JOIN run r USING (run_id) ORDER BY 1, 2, 3;
          SELECT r.run_key, p.key, p.value, p.value_num FROM param p JOIN run r USING (run_id) ORDER BY 1, 2;
          SELECT r.run_key, s.label, w.view, w.row_no, w.row_json
            FROM snapshot_rows w JOIN snapshot s USING (snapshot_id) JOIN run r ON r.run_id = s.run_id
           ORDER BY 1, 2, 3, 4"
}

cat >grid.lua <<'EOF'
local pagelab = require "pagelab"
return {
  name = "grid",
  description = "A small deterministic simulation per point",
  params = { ws = { 32, "working-set maximum" }, alpha = { 0.8, "zipf exponent" } },
  run = function(p, rec)
    if os.getenv("GRID_FAIL") == tostring(p.ws) then error("failing on purpose at ws " .. p.ws) end
    local sys <close> = pagelab.system{ ram = "2MiB", seed = p.seed }
    local proc = sys:process{ name = "app", ws_max = p.ws }
    local a = proc:alloc(nil, "512KiB", "reserve|commit", "readwrite")
    rec:sample(sys, 2000)
    local st = proc:run(pagelab.workload.zipf{ base = a, size = "512KiB", alpha = p.alpha,
                                               seed = p.seed }, 10000)
    rec:metric("faults", st.faults)
    rec:metric("soft", st.soft_faults)
    rec:snapshot("end", "mine", { { ws = p.ws, faults = st.faults } })
  end,
}
EOF
SWEEP=(sweep grid.lua -p ws=16..128*2 -p alpha=0.6,0.9 --repeat 2)    # 16 runs

# --------------------------------------------- shards with GNU parallel
parallel --will-cite -j3 "$PL" "${SWEEP[@]}" --shard {}/3 --db shard{}.db ::: 0 1 2 >par.out 2>&1
rc=$?
same "three shards run under GNU parallel" "$rc" 0
same "the shards split the runs" "$(for i in 0 1 2; do q shard$i.db "SELECT count(*) FROM run"; done | tr '\n' ' ')" "6 5 5 "
pl "${SWEEP[@]}" --db whole.db
check "the same sweep unsharded" 0 "16 ok, 0 failed"
pl merge merged.db shard0.db shard1.db shard2.db
check "merge creates OUT and joins the shards" 0 "^merged.db: 16 runs \(16 added, 0 replaced, 0 already there\)$"
same "merged shards equal the unsharded sweep (keys, seeds, metrics, series, snapshots)" \
  "$(dump merged.db | md5sum)" "$(dump whole.db | md5sum)"
same "every run_key once" "$(q merged.db "SELECT count(*), count(DISTINCT run_key) FROM run")" "16|16"
before=$(dump merged.db | md5sum)
pl merge merged.db shard2.db shard0.db shard1.db
check "merging again adds nothing" 0 "^merged.db: 16 runs \(0 added, 0 replaced, 16 already there\)$"
same "merging twice changes nothing" "$(dump merged.db | md5sum)" "$before"
pl merge merged.db whole.db
check "merging an equal database adds nothing" 0 "0 added, 0 replaced, 16 already there"

# ----------------------------------------------- failed, then ok
GRID_FAIL=32 "$PL" "${SWEEP[@]}" --db failing.db >/dev/null 2>&1
same "a sweep with failures" "$(q failing.db "SELECT count(*) FROM run WHERE status = 'failed'")" 4
pl merge mixed.db failing.db
check "merging failed runs" 0 "16 added"
pl merge mixed.db whole.db
check "an ok run replaces a failed one" 0 "0 runs added, 4 replaced \(failed -> ok\), 12 already"
same "after the merge every run is ok" "$(q mixed.db "SELECT group_concat(DISTINCT status) FROM run")" ok
same "the replaced runs have their metrics" "$(dump mixed.db | md5sum)" "$(dump whole.db | md5sum)"
pl merge mixed.db failing.db
check "a failed run never replaces an ok one" 0 "0 added, 0 replaced, 16 already there"
same "so merging the failures again changes nothing" "$(dump mixed.db | md5sum)" "$(dump whole.db | md5sum)"

# --------------------------------------------------------- refusals
printf 'this is no database, no, not at all\n' >junk.db
sqlite3 other.db "CREATE TABLE t(x); INSERT INTO t VALUES (1)"
cp shard0.db newer.db
sqlite3 newer.db "UPDATE meta SET value = '99' WHERE key = 'schema_version'"
pl merge new.db shard0.db junk.db
check "refuses a file that is not SQLite" 1 "" "'junk.db' is not a SQLite database"
[ ! -e new.db ] && ok "a refused merge writes nothing" || not_ok "a refused merge writes nothing"
pl merge new.db other.db
check "refuses a SQLite file that is no pagelab database" 1 "" "'other.db' is a SQLite database but not a pagelab results database"
pl merge new.db newer.db
check "refuses a database from a newer schema" 1 "" "'newer.db' has results schema version 99, newer than this pagelab understands"
pl merge new.db missing.db
check "a missing input is a usage error" 2 "" "no such database 'missing.db'"
pl merge merged.db ./merged.db
check "OUT cannot be an input" 2 "" "is the output database"
pl merge merged.db
check "merge needs inputs" 2 "" "merge needs an output database and at least one input"

# ------------------------------------------- a schema 1 input (old snapshots)
cp shard1.db old.db
sqlite3 old.db "DROP VIEW snapshot_rows; DROP TABLE snapshot_row; DROP TABLE snapshot;
  CREATE TABLE snapshot(run_id INTEGER NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
                        label TEXT NOT NULL, view TEXT NOT NULL, row_json TEXT NOT NULL);
  INSERT INTO snapshot SELECT run_id, 'old', 'mine', '{\"v\":' || run_id || '}' FROM run;
  UPDATE meta SET value = '1' WHERE key = 'schema_version'"
pl merge from_old.db old.db
check "merges a schema 1 database" 0 "5 added"
same "its snapshots become snapshot rows" "$(q from_old.db "SELECT count(*) FROM snapshot_rows WHERE label = 'old' AND view = 'mine'")" 5
pl show old.db --run 1 vmmap
check "show explains what to do with a schema 1 database" 1 "" "schema version 1, whose snapshots show cannot read: merge it"
same "show leaves the old database as it is" "$(q old.db "SELECT value FROM meta WHERE key = 'schema_version'")" 1

echo "1..$n"
