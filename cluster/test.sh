#!/usr/bin/env bash
# make test-cluster: three siamsql nodes on loopback, checked against a local
# SQLite database that goes through the same statements.
#
#   the default model goes in as SQL (siam_dump) through a client; 1,000
#   passages are embedded by siam_embed_each and stored; siam_nearest and
#   siam_pairs answer; the leader is killed (-9) and a new one serves the same
#   model (embeddings bit-identical) and the same rows (count and checksum);
#   an UPDATE of a weight through the new leader is seen by the next
#   statement; the killed node restarts, catches up and, made leader, gives
#   the same checksums; a leader killed in the middle of a bulk
#   siam_embed_each insert leaves that insert wholly there or wholly absent;
#   a connection's vector snapshot and model cache follow another
#   connection's commits (cluster/cachecheck).
#
# Prints one line a check and "N passed, M failed".  Every node is stopped at
# the end, even on failure (cluster/lib.sh).  Run from the repository root
# after `make cluster`.
set -uo pipefail
cd "$(dirname "$0")/.."
. cluster/lib.sh

passed=0 failed=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); echo "ok - $what"; else failed=$((failed + 1)); echo "FAIL - $what"; fi
}
same() { [ "$1" = "$2" ] || { printf '  got:      %.200s\n  expected: %.200s\n' "$1" "$2"; return 1; }; }
differ() { [ "$1" != "$2" ]; }
one_of() { local v=$1; shift; for x in "$@"; do [ "$v" = "$x" ] && return 0; done; echo "  got: $v"; return 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

rows_checksum() { "$@" "SELECT id, hex(embedding) FROM $TABLE ORDER BY id" | sha256sum | cut -d' ' -f1; }
PROBES=("library to read zip archives" "Ruby module for reading and writing zip files" "a fast web server")
probe_hexes() { for p in "${PROBES[@]}"; do "$@" "SELECT hex(siam_embed('default', '$p'))"; done | sha256sum | cut -d' ' -f1; }
NEAREST="SELECT printf('%d %.6f', rowid, score) FROM siam_nearest('emb', 'embedding', (SELECT embedding FROM emb WHERE id = 17), 5)"
PAIRS="SELECT printf('%d %d %.6f', rowid_a, rowid_b, score) FROM siam_pairs('emb', 'embedding', 0.9) ORDER BY 1"
N=1000

BULK_SQL="INSERT INTO bulk(id, embedding) SELECT id, embedding FROM siam_embed_each('default', 'SELECT id, body FROM passages');"
UPDATE_SQL="CREATE TABLE probe(step INTEGER PRIMARY KEY, e BLOB);
INSERT INTO probe VALUES (1, siam_embed('default', 'a fast web server'));
UPDATE siam_tensor SET data = siam_pack(zeroblob(length(siam_unpack(data)))) WHERE model = 'default' AND name = 'head.0.bias';
INSERT INTO probe VALUES (2, siam_embed('default', 'a fast web server'));"

build_reference() {
  make_inputs "$N"
  embed_sql "$N" 250 > "$WORK/embed.sql"
  echo "$BULK_SQL" > "$WORK/bulk.sql"
  echo "$UPDATE_SQL" > "$WORK/update.sql"
  local_sql < "$WORK/embed.sql"
}

cluster_init
for tool in sqlite3 dqlite "$BIN/siamsql-node" "$BIN/siamsql-client" "$BIN/siamsql-cachecheck"; do
  command -v "$tool" > /dev/null || { echo "test-cluster: $tool is missing (make cluster)"; exit 1; }
done
start_ms=$(now_ms)
build_reference
cluster_start || exit 1
echo "# three nodes on $(all_addrs), leader $(leader_id)"

# ---- the model, as SQL, through a client --------------------------------------
check "the default model goes in as SQL through a client (siam_dump replayed)" sql_file "$WORK/model.sql"
check "the cluster holds the same tensors and config" \
  same "$(sql "SELECT count(*), siam_config('default') FROM siam_tensor")" \
       "$(local_sql "SELECT count(*), siam_config('default') FROM siam_tensor")"
expected_probes=$(probe_hexes local_sql)
check "embeddings on the leader are bit-identical to a local database's" same "$(probe_hexes sql)" "$expected_probes"
check "the dqlite shell answers siamsql's functions too" \
  same "$(dqlite -s "$(all_addrs)" "$DB" "SELECT siam_similarity('default', '${PROBES[0]}', '${PROBES[1]}')")" \
       "$(sql "SELECT siam_similarity('default', '${PROBES[0]}', '${PROBES[1]}')")"

check "a query's error reaches the client with its text" \
  same "$(sql "SELECT siam_embed('nope', 'a')" 2>&1)" "siamsql-client: siam_embed: no model named 'nope'"
check "siam_import, which writes from a SELECT, refuses on a node and names siam_dump" \
  grep -q "^siamsql-client: siam_import: not available on a dqlite node .*siam_dump" \
  <<< "$(sql "SELECT siam_import('x', 'models/default')" 2>&1)"

# ---- 1,000 passages embedded and stored ---------------------------------------
check "$N passages stored" sql_file "$WORK/passages.sql"
t0=$(now_ms)
check "$N passages embedded by siam_embed_each and stored (250 a statement)" sql_file "$WORK/embed.sql"
echo "# embed and store: $(($(now_ms) - t0)) ms through the cluster"
TABLE=emb
expected_rows=$(rows_checksum local_sql)
check "$N embeddings stored" same "$(sql "SELECT count(*) FROM emb")" "$N"
check "stored embeddings equal the local database's (checksum)" same "$(rows_checksum sql)" "$expected_rows"
check "siam_nearest answers as locally (top 5 of passage 17, itself first)" \
  same "$(sql "$NEAREST")" "$(local_sql "$NEAREST")"
check "siam_nearest ranks the query's own passage first" same "$(sql "$NEAREST" | head -1 | cut -d' ' -f1)" 17
pairs=$(sql "$PAIRS")
check "siam_pairs answers as locally ($(echo "$pairs" | grep -c .) pairs at 0.9)" same "$pairs" "$(local_sql "$PAIRS")"

# ---- kill -9 the leader --------------------------------------------------------
first=$(leader_id)
kill_ms=$(now_ms)
node_kill9 "$first"
rows_after=$(sql "SELECT count(*) FROM emb")
echo "# killed leader $first; the next statement answered after $(($(now_ms) - kill_ms)) ms"
second=$(leader_id)
check "a new leader is elected among the others ($second)" one_of "$second" $(seq 3 | grep -vx "$first")
check "the new leader has the same rows (count)" same "$rows_after" "$N"
check "the new leader has the same rows (checksum)" same "$(rows_checksum sql)" "$expected_rows"
check "the new leader serves the same model (embeddings bit-identical)" same "$(probe_hexes sql)" "$expected_probes"

# ---- a model update by UPDATE, seen by the next statement ---------------------
local_sql < "$WORK/update.sql"
check "an UPDATE of a weight through the new leader (one connection)" sql_file "$WORK/update.sql"
PROBE_TABLE="SELECT step, hex(e) FROM probe ORDER BY step"
check "the statement after the UPDATE sees the new weights (as locally)" \
  same "$(sql "$PROBE_TABLE")" "$(local_sql "$PROBE_TABLE")"
check "and they differ from before" \
  differ "$(sql "SELECT e FROM probe WHERE step = 1")" "$(sql "SELECT e FROM probe WHERE step = 2")"
updated_probes=$(probe_hexes local_sql)
check "a new connection sees the update too" same "$(probe_hexes sql)" "$updated_probes"

# ---- the killed node restarts and catches up ---------------------------------
node_start "$first"
check "the killed node restarts and rejoins as a voter" retry_for 60 three_voters
check "leadership moves to the restarted node" retry_for 60 client --transfer "$first"
check "the restarted node leads" same "$(leader_id)" "$first"
check "the restarted node has the same rows (checksum)" same "$(rows_checksum sql)" "$expected_rows"
check "the restarted node has the updated model" same "$(probe_hexes sql)" "$updated_probes"

# ---- the leader killed in the middle of a bulk siam_embed_each insert ---------
t0=$(now_ms)
local_sql < "$WORK/bulk.sql"
bulk_ms=$(($(now_ms) - t0))
TABLE=bulk
expected_bulk=$(rows_checksum local_sql)
third=$(leader_id)
client -f "$WORK/bulk.sql" "$DB" > "$WORK/bulk.out" 2>&1 &
bulk_client=$!
sleep "$(awk -v ms="$bulk_ms" 'BEGIN { printf "%.2f", ms * 0.4 / 1000 }')"
node_kill9 "$third"
wait "$bulk_client"
bulk_rc=$?
echo "# bulk insert of $N rows (${bulk_ms} ms locally): leader $third killed at 40%; the client said: $(cat "$WORK/bulk.out")"
check "the kill landed during the insert (the client lost its leader)" differ "$bulk_rc" 0
bulk_rows=$(sql "SELECT count(*) FROM bulk")
check "the insert is wholly there or wholly absent on the new leader ($bulk_rows rows)" one_of "$bulk_rows" 0 "$N"
if [ "$bulk_rows" = "$N" ]; then
  check "and, being there, equals the local insert" same "$(rows_checksum sql)" "$expected_bulk"
fi
check "the model still gives the same embeddings" same "$(probe_hexes sql)" "$updated_probes"
TABLE=emb
check "the earlier rows are intact" same "$(rows_checksum sql)" "$expected_rows"
node_start "$third"
check "the node killed last rejoins" retry_for 60 three_voters

# ---- two connections open on the leader: caches follow commits --------------
# (last: it changes a weight that the checks above compare)
"$BIN/siamsql-cachecheck" -s "$(all_addrs)" "$DB" > "$WORK/cachecheck.out" 2>&1
cachecheck_rc=$?
while read -r result line; do
  check "${line#- }" [ "$result" = ok ]
done < "$WORK/cachecheck.out"
check "siamsql-cachecheck exits 0" [ "$cachecheck_rc" = 0 ]

echo "# $(($(now_ms) - start_ms)) ms in all"
echo "test-cluster: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
