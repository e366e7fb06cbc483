#!/usr/bin/env bash
# make bench: builds siamsql.so, then runs bench/bench.py with Debian's Python
# (it has PyTorch 1.13; the python3 first on PATH may not).  Extra arguments
# go to bench.py, e.g. bash bench/run.sh --shapes minilm --texts 512.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
out=bench/.cache/last-bench.txt
mkdir -p bench/.cache
"$PY" bench/bench.py "$@" | tee "$out"
# The chart needs gnuplot (Debian: gnuplot-nox); without it, say so and go on.
if command -v gnuplot >/dev/null; then bash bench/chart.sh "$out" bench/throughput.png
else echo "bench: gnuplot not installed, no chart (apt-get install gnuplot-nox)"; fi
