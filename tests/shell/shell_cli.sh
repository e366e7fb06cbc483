#!/usr/bin/env bash
# The sqlite3 shell door: .load ./siamsql, import, embed, similarity, an
# update by SQL seen by the next statement, and errors that name the function.
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0
check() {  # check NAME WANT GOT
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); printf 'FAIL %s\n  got:  %s\n  want: %s\n' "$1" "$3" "$2"; fi
}
# A sanitizer build of siamsql.so needs its runtime loaded first into the shell.
asan=$(ldd ./siamsql.so | awk '/libasan|libubsan/ {print $3}' | tr '\n' ':')
[ -z "$asan" ] || export LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0
model=$(ls -d tests/fixtures/models/st_* 2>/dev/null | head -1)
db=$(mktemp -d)/shell.db
run() { sqlite3 -bail -batch "$db" ".load ./siamsql" "$@" 2>&1; }

check "load creates no tables" "0" "$(run "SELECT count(*) FROM sqlite_master;")"
n=$(run "SELECT siam_import('m', '$model');")
check "import returns tensor count" "$(run "SELECT count(*) FROM siam_tensor;")" "$n"
check "embedding is 4*dim bytes" "1" "$(run "SELECT length(siam_embed('m', 'hello world')) = 4 * siam_dim('m');")"
check "self-similarity is 1" "1" "$(run "SELECT round(siam_similarity('m', 'hello world', 'hello world'), 6);" | sed 's/\.0$//')"
before=$(run "SELECT hex(siam_embed('m', 'hello world'));")
run "UPDATE siam_tensor SET data = siam_pack(zeroblob(length(siam_unpack(data)))) WHERE model = 'm' AND name = 'embeddings.LayerNorm.bias';" >/dev/null
after=$(run "SELECT hex(siam_embed('m', 'hello world'));")
[ "$before" != "$after" ]; check "update seen by the next statement" 0 $?
check "error names the function" "Runtime error: siam_embed: no model named 'nope'" \
  "$(run "SELECT siam_embed('nope', 'x');" | head -1 | sed 's/^Error: stepping, /Runtime error: /; s/ (1)$//')"
rm -rf "$(dirname "$db")"
echo "shell_cli.sh: $pass passed, $fail failed"
[ $fail -eq 0 ]
