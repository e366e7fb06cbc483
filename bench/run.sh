#!/usr/bin/env bash
# make bench: builds siamsql.so, then runs bench/bench.py with Debian's Python
# (it has PyTorch 1.13; the python3 first on PATH may not).  Extra arguments
# go to bench.py, e.g. bash bench/run.sh --shapes minilm --texts 512.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" bench/bench.py "$@"
