#!/usr/bin/env bash
# The portable dense kernel (GCC vectors, for CPUs without AVX-512) through
# the encoder tests and the PyTorch reference models: on an AVX-512 machine
# the rest of the suite runs the AVX-512 kernel, so this is what checks the
# other one.  Its summary lines are added up by tests/run.sh.
set -u
cd "$(dirname "$0")/../.."
export SIAMSQL_KERNEL=portable
rc=0
for t in tests/test_encoder tests/sql_reference; do
  [ -x "$t" ] || { echo "portable_kernel: $t not built: 0 passed, 1 failed"; rc=1; continue; }
  out=$("$t" 2>&1) || rc=1
  printf '%s\n' "$out" | grep -E 'passed|FAIL' | sed 's/^/portable kernel: /'
done
exit $rc
