#!/usr/bin/env bash
# Every marked code block of README.md and docs/*.md, run as written
# (tests/docs/run_snippets.py says how blocks are marked).
set -u
cd "$(dirname "$0")/../.."
if ldd ./siamsql.so | grep -q libasan; then
  echo "docs.sh: 0 passed, 0 failed, 1 skipped (sanitizer build: the docs' commands load siamsql into uninstrumented programs)"
  exit 0
fi
exec /usr/bin/python3 tests/docs/run_snippets.py
