#!/usr/bin/env bash
# Python and Node doors (tests/doors/). Node's better-sqlite3@12 is installed
# from npm into tests/doors/node_modules on first run (built from source
# when no prebuilt binary can be fetched: about a minute).
set -u
cd "$(dirname "$0")/../.."
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
if [ ! -d tests/doors/node_modules/better-sqlite3 ]; then
  (cd tests/doors && npm install --no-audit --no-fund --silent better-sqlite3@12 >/dev/null 2>&1) ||
    { echo "FAIL npm install better-sqlite3@12 failed"; exit 1; }
fi
node tests/doors/door.js "$ext.so" "$model" || rc=1
exit $rc
