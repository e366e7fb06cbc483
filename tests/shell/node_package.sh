#!/usr/bin/env bash
# The npm package (node/): npm pack, then the tarball installed into a
# temporary project beside better-sqlite3@12 (tests/packages/test_node.js).
# better-sqlite3 is installed once into tests/cache/node (shared with
# doors.sh; built from source where no prebuilt binary can be fetched, about
# a minute) and copied into each temporary project.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/npm.sh
if ldd ./siamsql.so | grep -q libasan; then
  echo "node_package.sh: 0 passed, 0 failed, 1 skipped (sanitizer build: node is not instrumented)"
  exit 0
fi
command -v npm >/dev/null || { echo "FAIL npm is not installed (make deps installs it)"; exit 1; }
if [ ! -d tests/cache/node/node_modules/better-sqlite3 ]; then
  if ! npm_reachable; then
    echo "node_package.sh: 0 passed, 0 failed, 1 skipped (npm cannot reach its registry to install better-sqlite3@12)"
    exit 0
  fi
  npm_install tests/cache/node better-sqlite3@12 || exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1"; fi
}
if ! (cd node && npm pack --pack-destination "$tmp") > "$tmp/pack.log" 2>&1; then
  echo "FAIL npm pack in node/:"; tail -20 "$tmp/pack.log" | sed 's/^/  | /'; exit 1
fi
tarball=$(ls "$tmp"/siamsql-*.tgz)
listing=$(tar tzf "$tarball")
for f in index.cjs index.mjs index.d.ts siamsql.so models/default/config.json package.json; do
  check "the tarball holds $f" grep -qx "package/$f" <<<"$listing"
done
check "the tarball holds no build script" test -z "$(grep 'package/scripts/' <<<"$listing")"

mkdir "$tmp/app"
cp -r tests/cache/node/package.json tests/cache/node/package-lock.json tests/cache/node/node_modules "$tmp/app/"
npm_install "$tmp/app" --prefer-offline "$tarball" || exit 1
rc=0
# Copied in: require() resolves from the script's own folder.
cp tests/packages/test_node.js "$tmp/app/"
(cd "$tmp/app" && node test_node.js) || rc=1
echo "node_package.sh: $pass passed, $fail failed"
[ $fail -eq 0 ] && exit $rc
