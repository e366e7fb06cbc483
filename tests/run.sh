#!/usr/bin/env bash
# Runs each test program and the SQL shell tests; prints one summary line.
# Usage: tests/run.sh BIN...   (from the repository root)
set -u
pass=0 fail=0 broken=()
run_one() {
  local out rc
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E 'FAIL|passed|ERROR|runtime error|Sanitizer' | head -40
  local line p f
  # A program may print several summary lines (one per sub-suite): add them up.
  local lines
  lines=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed')
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$lines" | awk '{s += $1} END {print s + 0}')
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$lines" | awk '{s += $1} END {print s + 0}')
  [ -n "$lines" ] || { p=0; f=1; }
  if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  [ $rc -eq 0 ] || broken+=("$*")
}
for t in "$@"; do run_one "./$t"; done
for s in tests/shell/*.sh; do [ -f "$s" ] && run_one bash "$s"; done
[ ${#broken[@]} -eq 0 ] || printf 'failing: %s\n' "${broken[@]}"
echo "${pass} passed, ${fail} failed"
[ "$fail" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
