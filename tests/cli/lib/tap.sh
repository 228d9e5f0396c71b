# tap.sh — what every tests/cli/*.sh script shares: find the pagelab
# executable, work in a fresh temporary directory, and report in TAP
# ("ok - name" / "not ok - name" with "#" lines of detail).
# tests/run puts build/<mode> first on PATH and exports PAGELAB_BUILD.
# Source it from a script: . "$(dirname "$0")/lib/tap.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
PL=${PAGELAB_BUILD:-$top/build/debug}/pagelab
[ -x "$PL" ] || PL=$(command -v pagelab)
PL=$(cd "$(dirname "$PL")" && pwd)/$(basename "$PL")    # we cd below
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export TMPDIR="$work"              # sweeps' spool directories land here too
n=0

ok()     { n=$((n + 1)); echo "ok - $1"; }
not_ok() { n=$((n + 1)); echo "not ok - $1"; shift; for l in "$@"; do echo "#   $l"; done; }

# pl ARGS...: runs pagelab, keeping stdout, stderr and the exit status
pl() { "$PL" "$@" >out 2>err; rc=$?; }

# check NAME RC [STDOUT_REGEX [STDERR_REGEX]]: after pl
check() {
  local name=$1 want=$2 outre=${3:-} errre=${4:-}
  if [ "$rc" != "$want" ]; then
    not_ok "$name" "exit $rc, expected $want" "stdout: $(head -c 600 out)" "stderr: $(head -c 600 err)"
  elif [ -n "$outre" ] && ! grep -Eq -- "$outre" out; then
    not_ok "$name" "stdout does not match /$outre/" "stdout: $(head -c 800 out)"
  elif [ -n "$errre" ] && ! grep -Eq -- "$errre" err; then
    not_ok "$name" "stderr does not match /$errre/" "stderr: $(head -c 800 err)"
  else
    ok "$name"
  fi
}

# same NAME GOT WANT
same() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi; }
q() { sqlite3 "$1" "$2"; }
