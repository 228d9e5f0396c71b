#!/bin/sh
# Installs the Debian packages pagelab needs, or says exactly what to run.
# Usage: scripts/deps.sh [build|test]   ("test" adds the test-only packages)
set -u
need="liblua5.4-dev lua5.4 libsqlite3-dev sqlite3 pkg-config zlib1g-dev make gcc"
if [ "${1:-build}" = test ]; then
  need="$need libcmocka-dev lua-busted gnuplot-nox parallel mingw-w64 binutils-mingw-w64-x86-64 clang valgrind"
fi
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "pagelab: installing missing packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
    echo "pagelab: apt-get install failed for:$missing" >&2; exit 1; }
  exit 0
fi
echo "pagelab: missing Debian packages. Run this, then try again:" >&2
echo "  sudo apt-get install -y$missing" >&2
exit 1
