#!/usr/bin/env bash
# cli.sh — the pagelab command line, end to end (TAP: "ok - " / "not ok - ").
# tests/run puts build/<mode> first on PATH and exports PAGELAB_BUILD.
set -u
. "$(dirname "$0")/lib/tap.sh"

# sql DB QUERY: the single value a query returns (csv, no header)
sql() { "$PL" query "$1" "$2" --csv | sed -n '2p' | tr -d '\r'; }

cat >tiny.lua <<'EOF'
return {
  name = "tiny",
  description = "A fast experiment for the CLI tests",
  params = {
    n      = { 10, "how many", },
    alpha  = { 0.5, "a float" },
    mode   = { "fast", "how to run", choices = { "fast", "slow", "fail" } },
    verbose = { false, "a flag" },
  },
  run = function(p, rec)
    if p.mode == "fail" then
      rec:metric("before_failure", 1)
      error("asked to fail")
    end
    rec:metric("twice_n", p.n * 2)
    rec:metric("alpha", p.alpha)
    rec:metric("seed", p.seed)
    rec:metric("verbose", p.verbose and 1 or 0)
    for i = 1, 3 do rec:series("curve", i, i * p.alpha) end
  end,
}
EOF

# ---------------------------------------------------------------- run
pl run tiny.lua
check "run with defaults" 0 "tiny: run 1 ok" ""
[ -f results/tiny.db ] && ok "run: default database results/NAME.db" || not_ok "run: default database results/NAME.db"
check "run prints the metrics" 0 "twice_n +20"

pl run tiny.lua -p n=21 -p alpha=0.25 -p verbose=yes --seed 7 --db my.db
check "run with -p, --seed and --db" 0 "twice_n +42"
[ "$(sql my.db "SELECT value FROM metric WHERE key = 'seed'")" = 7 ] \
  && ok "--seed reaches p.seed" || not_ok "--seed reaches p.seed"
[ "$(sql my.db "SELECT params_json FROM run")" = '"{""alpha"":0.25,""mode"":""fast"",""n"":21,""verbose"":true}"' ] \
  && ok "run records the resolved params" || not_ok "run records the resolved params" "$(sql my.db "SELECT params_json FROM run")"

pl run tiny.lua --db=my.db -pn=21 -palpha=0.25 -pverbose=on --seed=7
check "attached option values" 0
[ "$(sql my.db "SELECT count(*) FROM run")" = 1 ] \
  && ok "the same point again replaces its run" || not_ok "the same point again replaces its run"

pl run tiny.lua -p mode=fail --db my.db
check "a failing run exits 1" 1 "" "run failed: .*asked to fail"
[ "$(sql my.db "SELECT status || '|' || (error LIKE '%asked to fail%') FROM run WHERE params_json LIKE '%fail%'")" = "failed|1" ] \
  && ok "a failing run is recorded as failed" || not_ok "a failing run is recorded as failed"
[ "$(sql my.db "SELECT count(*) FROM metric m JOIN run r USING (run_id) WHERE r.status = 'failed'")" = 1 ] \
  && ok "a failing run keeps its metrics" || not_ok "a failing run keeps its metrics"

# ------------------------------------------------------- usage errors
pl run tiny.lua -p foo=1
check "unknown parameter" 2 "" "unknown parameter 'foo' \(known: alpha, mode, n, verbose\)"
pl run tiny.lua -p n=abc
check "bad integer value" 2 "" "parameter n expects an integer, got 'abc'"
pl run tiny.lua -p n=1.5
check "non-integral integer value" 2 "" "parameter n expects an integer, got '1.5'"
pl run tiny.lua -p alpha=x
check "bad number value" 2 "" "parameter alpha expects a number, got 'x'"
pl run tiny.lua -p verbose=maybe
check "bad boolean value" 2 "" "parameter verbose expects a boolean, got 'maybe'"
pl run tiny.lua -p mode=medium
check "value outside the choices" 2 "" "parameter mode must be one of fast, slow, fail, got 'medium'"
pl run tiny.lua -p n
check "-p without =" 2 "" "-p expects key=value, got 'n'"
pl run tiny.lua --bogus
check "bad option" 2 "" "unknown option '--bogus'"
pl run tiny.lua --db
check "option without its value" 2 "" "option '--db' needs a value"
pl run tiny.lua --seed x
check "bad seed" 2 "" "--seed expects an integer"
pl run
check "run without a file" 2 "" "run needs an experiment file"
pl run missing.lua
check "missing experiment file" 2 "" "cannot open experiment 'missing.lua'"
printf 'return { name = "broken" }\n' >broken.lua
pl run broken.lua
check "malformed experiment" 2 "" "broken.lua: run must be a function"
printf 'return {\n' >syntax.lua
pl run syntax.lua
check "experiment with a syntax error" 2 "" "syntax.lua"
pl frobnicate
check "unknown subcommand" 2 "" "unknown command 'frobnicate'"
grep -q "pagelab --help" err && ok "usage errors give a hint" || not_ok "usage errors give a hint"
[ "$(wc -l <err)" -eq 2 ] && ok "usage errors are two lines" || not_ok "usage errors are two lines" "$(cat err)"
pl run tiny.lua --db "$work/tiny.lua/x.db"
check "unwritable database path" 1 "" "tiny.lua/x.db"

# --------------------------------------------------------------- help
pl help tiny.lua
check "help names the experiment" 0 "tiny — A fast experiment"
check "help lists params with default and type" 0 "n +10 +integer +how many"
check "help lists choices" 0 "mode +fast +string +how to run \(one of: fast, slow, fail\)"
pl help
check "help without arguments lists commands" 0 "run +run an experiment"
pl --help
check "--help" 0 "commands:"
pl help query
check "help COMMAND" 0 "usage: pagelab query"
pl help missing.lua
check "help on a missing file" 2 "" "cannot open experiment"
pl --version
check "--version" 0 "^pagelab [0-9]"

# -------------------------------------------------------------- query
pl query my.db "SELECT key, value FROM metric WHERE key IN ('alpha', 'twice_n') ORDER BY key"
check "query prints an aligned table" 0 "^key +value$"
check "query table rows" 0 "^twice_n +42$"
pl query my.db "SELECT 1 AS a, 'x,y' AS b, NULL AS c" --csv
[ "$rc" = 0 ] && [ "$(tr -d '\r' <out)" = "$(printf 'a,b,c\n1,"x,y",')" ] \
  && ok "query --csv" || not_ok "query --csv" "$(cat out)"
pl query my.db "SELECT 1 AS a, 'q\"t' AS b, NULL AS c, 2.5 AS d" --json
[ "$rc" = 0 ] && [ "$(cat out)" = "$(printf '[\n{"a":1,"b":"q\\"t","c":null,"d":2.5}\n]')" ] \
  && ok "query --json" || not_ok "query --json" "$(cat out)"
pl query my.db "SELECT * FROM run_summary" --json
check "query the run_summary view" 0 '"metrics_json"'
pl query my.db "SELECT param, param_value, metric, value FROM param_metric WHERE param = 'n' AND metric = 'twice_n'"
check "query the param_metric view" 0 "n +21 +twice_n +42"
pl query my.db "SELEKT"
check "query with bad SQL" 1 "" "syntax error"
pl query nothere.db "SELECT 1"
check "query on a missing database" 2 "" "no such database 'nothere.db'"
[ ! -e nothere.db ] && ok "query does not create a database" || not_ok "query does not create a database"
pl query my.db "SELECT 1" --csv --json
check "query --csv --json together" 2 "" "choose one of --csv and --json"
pl query my.db
check "query without SQL" 2 "" "query needs a database file and one SQL text"
printf 'not a database at all, not at all, not at all\n' >junk.db
pl query junk.db "SELECT 1"
check "query on a file that is not SQLite" 1 "" "not a SQLite database"

# -------------------------------------------------------------- trace
cat >small.trace <<'EOF'
R 10000000
W 10000008
R 10001000
X 10002000
W 10001010
R 10000000
EOF
pl trace info small.trace
check "trace info: format" 0 "format +text"
check "trace info: references" 0 "references +6"
check "trace info: writes" 0 "writes +2"
check "trace info: distinct 4 KiB pages" 0 "distinct 4 KiB pages +3"
pl trace convert small.trace small.bin
check "trace convert" 0 "6 references written to small.bin"
pl trace info small.bin
check "trace info on the converted file" 0 "format +binary"
check "the converted trace keeps its references" 0 "references +6"
pl trace convert small.trace small2.bin --limit 4
check "trace convert --limit" 0 "4 references written"
pl trace info missing.trace
check "trace info on a missing file" 2 "" "no such trace 'missing.trace'"
pl trace frob
check "unknown trace command" 2 "" "unknown trace command 'frob'"
pl trace info
check "trace info without a file" 2 "" "wrong number of arguments"

# ----------------------------------------------------- scripts and REPL
printf 'local pagelab = require "pagelab"\nprint(type(pagelab.system), type(pagelab.results), ...)\n' >s.lua
pl s.lua a b
check "pagelab FILE.lua runs a script with arguments" 0 "^function	table	a	b$"
printf 'error("script failed")\n' >bad.lua
pl bad.lua
check "a failing script exits 1" 1 "" "script failed"
printf 'x = 6 * 7\nx\nfor i = 1, 2 do\nprint("i" .. i)\nend\n' | "$PL" >out 2>err; rc=$?
check "REPL evaluates expressions" 0 "42"
check "REPL continues incomplete statements" 0 "i2"

# -------------------------------------------- a real experiment, tiny
exp="$top/experiments/ws_limits.lua"
pl run "$exp" -p refs=20000 --db real.db
check "ws_limits runs with tiny parameters" 0 "hard_faults"
[ "$(sql real.db "SELECT count(*) FROM series WHERE key LIKE 'sys.%'")" -gt 0 ] \
  && ok "ws_limits samples system series" || not_ok "ws_limits samples system series"

echo "1..$n"
