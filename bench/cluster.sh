#!/usr/bin/env bash
# make bench-cluster: embed-and-store through a three-node siamsql cluster on
# loopback against the same statements on a local SQLite file, storing
# vectors computed elsewhere (no embedding), and failover time.
#
#   bash bench/cluster.sh [--passages 1000] [--chunk 250] [--runs 3]
#
# Both sides run the same SQL in one connection each (the cluster's through
# siamsql-client -f, the local one through the sqlite3 shell), so each loads
# the model once.  Failover: from kill -9 of the leader to the first write
# that commits through a client given all three addresses; the node is then
# restarted before the next run.  Medians of --runs.  CLUSTER_LATENCY and
# SIAMSQL_THREADS are passed to the nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
. cluster/lib.sh

N=1000 CHUNK=250 RUNS=3
while [ $# -gt 0 ]; do
  case $1 in
    --passages) N=$2; shift 2 ;;
    --chunk) CHUNK=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: bench/cluster.sh [--passages N] [--chunk N] [--runs N]" >&2; exit 2 ;;
  esac
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# timed_ms CMD...: runs CMD (output discarded), prints its wall time in ms.
timed_ms() {
  local t0
  t0=$(now_ms)
  "$@" > /dev/null
  echo $(($(now_ms) - t0))
}
per_s() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.1f", n * 1000 / ms }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cluster_init
make_inputs "$N"
embed_sql "$N" "$CHUNK" > "$WORK/embed.sql"
local_sql < "$WORK/embed.sql"
{
  echo "BEGIN;"
  sqlite3 "$WORK/local.db" "SELECT 'INSERT INTO bulk(id, embedding) VALUES (' || id || ', X''' || hex(embedding) || ''');' FROM emb ORDER BY id"
  echo "COMMIT;"
} > "$WORK/vectors.sql"
cluster_start
sql_file "$WORK/model.sql"
sql_file "$WORK/passages.sql"

local_embed=() cluster_embed=() local_store=() cluster_store=() failover=()
for run in $(seq "$RUNS"); do
  local_sql "DELETE FROM emb"
  sql "DELETE FROM emb"
  local_embed+=("$(timed_ms local_sql < "$WORK/embed.sql")")
  cluster_embed+=("$(timed_ms sql_file "$WORK/embed.sql")")
  local_sql "DELETE FROM bulk"
  sql "DELETE FROM bulk"
  local_store+=("$(timed_ms local_sql < "$WORK/vectors.sql")")
  cluster_store+=("$(timed_ms sql_file "$WORK/vectors.sql")")
  [ "$(sql "SELECT count(*) FROM emb") $(sql "SELECT count(*) FROM bulk")" = "$N $N" ] || {
    echo "bench-cluster: run $run stored the wrong number of rows" >&2; exit 1; }

  leader=$(leader_id)
  t0=$(now_ms)
  node_kill9 "$leader"
  sql "INSERT INTO bulk(id, embedding) VALUES (-$run, x'00')"
  failover+=("$(($(now_ms) - t0))")
  node_start "$leader"
  retry_for 60 three_voters
done

le=$(printf '%s\n' "${local_embed[@]}" | median)
ce=$(printf '%s\n' "${cluster_embed[@]}" | median)
ls=$(printf '%s\n' "${local_store[@]}" | median)
cs=$(printf '%s\n' "${cluster_store[@]}" | median)
fo=$(printf '%s\n' "${failover[@]}" | median)
echo "bench-cluster: $N passages of demo/data, $CHUNK a statement, default model; medians of $RUNS runs"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; SIAMSQL_THREADS=${SIAMSQL_THREADS:-unset (all cores)};" \
     "node latency ${CLUSTER_LATENCY:-default (500ms)}"
printf '%-44s %10s %10s %8s\n' "" "local" "cluster" "ratio"
printf '%-44s %10s %10s %8s\n' "embed and store (siam_embed_each), ms" "$le" "$ce" "$(ratio "$ce" "$le")"
printf '%-44s %10s %10s %8s\n' "  passages/s" "$(per_s "$N" "$le")" "$(per_s "$N" "$ce")" "$(ratio "$le" "$ce")"
printf '%-44s %10s %10s %8s\n' "store precomputed vectors (one transaction), ms" "$ls" "$cs" "$(ratio "$cs" "$ls")"
printf '%-44s %10s %10s %8s\n' "  vectors/s" "$(per_s "$N" "$ls")" "$(per_s "$N" "$cs")" "$(ratio "$ls" "$cs")"
printf '%-44s %10s %10s\n' "failover: kill -9 to next committed write, ms" "" "$fo"
echo "runs (ms): local embed ${local_embed[*]}; cluster embed ${cluster_embed[*]};" \
     "local store ${local_store[*]}; cluster store ${cluster_store[*]}; failover ${failover[*]}"
