#!/usr/bin/env bash
# Python and Node doors (tests/doors/). Node's better-sqlite3@12 is installed
# from npm into tests/cache/node on first run (built from source when no
# prebuilt binary can be fetched: about a minute; shared with node_package.sh).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/npm.sh
model=$(ls -d tests/fixtures/models/st_* | head -1)
ext=$PWD/siamsql
rc=0
if ldd ./siamsql.so | grep -q libasan; then
  echo "doors.sh: 0 passed, 0 failed, 2 skipped (sanitizer build: python3 and node are not instrumented)"
  exit 0
fi
/usr/bin/python3 tests/doors/door.py "$ext" "$model" || rc=1
if ! command -v node >/dev/null; then
  echo "FAIL node is not installed (make deps installs it)"; exit 1
fi
if [ ! -d tests/cache/node/node_modules/better-sqlite3 ]; then
  npm_install tests/cache/node better-sqlite3@12 || exit 1
fi
NODE_PATH=tests/cache/node/node_modules node tests/doors/door.js "$ext.so" "$model" || rc=1
exit $rc
