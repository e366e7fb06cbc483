#!/usr/bin/env bash
# The Python package (python/): pip installs it offline into a fresh venv
# (Debian's python3-venv, pip, setuptools and wheel), with siamsql.so and the
# default model bundled, and tests/packages/test_python.py uses it through
# sqlite3 and APSW; then built without the bundle, pointed at a
# `make install DESTDIR=...` tree; and a tree without siamsql.so is refused.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
if ldd ./siamsql.so | grep -q libasan; then
  echo "python_package.sh: 0 passed, 0 failed, 1 skipped (sanitizer build: python3 is not instrumented)"
  exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 rc=0
pip_install() {  # pip_install VENV LOG ARGS...: a venv that sees Debian's apsw and wheel, then pip install
  local venv=$1 log=$2; shift 2
  /usr/bin/python3 -m venv --system-site-packages "$venv" &&
    "$venv/bin/pip" install --no-index --no-build-isolation "$@" > "$log" 2>&1
}
# Tests run from $tmp: in the tree, `import siamsql` would find ./siamsql.so.
run_tests() { (cd "$tmp" && "$1/bin/python" "$root/tests/packages/test_python.py" "${@:2}") || rc=1; }

if pip_install "$tmp/bundled" "$tmp/pip.log" ./python; then
  run_tests "$tmp/bundled" BUNDLED
else
  echo "FAIL pip install ./python:"; tail -20 "$tmp/pip.log" | sed 's/^/  | /'; rc=1
fi

make -s install DESTDIR="$tmp/dest" >/dev/null
if SIAMSQL_BUNDLE=0 pip_install "$tmp/plain" "$tmp/pip-plain.log" ./python; then
  run_tests "$tmp/plain" INSTALLED "$tmp/dest"
else
  echo "FAIL SIAMSQL_BUNDLE=0 pip install ./python:"; tail -20 "$tmp/pip-plain.log" | sed 's/^/  | /'; rc=1
fi

# A copy of python/ in a tree where siamsql.so was never built.
mkdir -p "$tmp/unbuilt/models" && cp -r python "$tmp/unbuilt/" && cp -r models/default "$tmp/unbuilt/models/"
rm -rf "$tmp/unbuilt/python/build"
if pip_install "$tmp/refused" "$tmp/pip-refused.log" "$tmp/unbuilt/python"; then
  fail=$((fail + 1)); echo "FAIL pip install from a tree without siamsql.so succeeded"
elif grep -q "siamsql.so is missing: run \`make\`" "$tmp/pip-refused.log"; then
  pass=$((pass + 1))
else
  fail=$((fail + 1)); echo "FAIL pip install from a tree without siamsql.so: no clear message:"
  tail -8 "$tmp/pip-refused.log" | sed 's/^/  | /'
fi
echo "python_package.sh: $pass passed, $fail failed"
[ $fail -eq 0 ] && exit $rc
