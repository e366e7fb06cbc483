# cluster/lib.sh — a three-node siamsql cluster on loopback, for scripts.
# Sourced (from the repository root) by cluster/test.sh and bench/cluster.sh:
#
#   . cluster/lib.sh
#   cluster_init            # work directory, three free ports, stop-everything trap
#   cluster_start           # node 1 forms the cluster, 2 and 3 join; waits for three voters
#   sql "SELECT siam_dim('default')"; sql_file model.sql; id=$(leader_id)
#   node_kill9 "$id"; node_start "$id"
#
#   make_inputs 1000        $WORK/local.db and the SQL that gives the cluster the same
#   embed_sql 1000 250      model and passages; the statements that embed them
#
# Every node started here is stopped when the script exits, however it exits
# (the EXIT trap; INT, TERM and HUP exit through it).  CLUSTER_LATENCY, when
# set, is passed to every node as --latency.

BIN=${BIN:-build/cluster}
EXT=${EXT:-./siamsql.so}
DB=${DB:-siamtest}
declare -a PORT=() PID=()

# Three ports nothing listens on, chosen by the kernel.
free_ports() {
  /usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

cluster_init() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/siamsql-cluster.XXXXXX")
  read -r PORT[1] PORT[2] PORT[3] < <(free_ports)
  trap cluster_stop EXIT
  trap 'exit 130' INT TERM HUP
}

node_addr() { echo "127.0.0.1:${PORT[$1]}"; }
all_addrs() { echo "$(node_addr 1),$(node_addr 2),$(node_addr 3)"; }

# node_start ID: starts (or restarts, same directory) node ID in the background.
node_start() {
  local id=$1 join=()
  [ "$id" = 1 ] || join=(--join "$(node_addr 1),$(node_addr 2),$(node_addr 3)")
  "$BIN/siamsql-node" --id "$id" --address "$(node_addr "$id")" --dir "$WORK/node$id" --extension "$EXT" \
    ${CLUSTER_LATENCY:+--latency "$CLUSTER_LATENCY"} "${join[@]}" >> "$WORK/node$id.log" 2>&1 &
  PID[$id]=$!
}

node_kill9() {
  kill -9 "${PID[$1]}" 2>/dev/null || true
  wait "${PID[$1]}" 2>/dev/null || true
  PID[$1]=
}

# Polls "$@" once every 0.2 s until it succeeds; fails after $1 seconds.
retry_for() {
  local seconds=$1 deadline
  shift
  deadline=$(($(date +%s) + seconds))
  until "$@" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

client() { "$BIN/siamsql-client" -s "$(all_addrs)" --timeout "${CLIENT_TIMEOUT:-60s}" "$@"; }
sql() { client "$DB" "$1"; }
sql_file() { client -f "$1" "$DB"; }
leader_id() { client --leader | cut -d' ' -f1; }
voters() { client --cluster | grep -c ' voter$'; }
three_voters() { [ "$(voters)" = 3 ]; }

cluster_start() {
  node_start 1
  node_start 2
  node_start 3
  retry_for 60 three_voters || { echo "the cluster did not form; logs in $WORK" >&2; return 1; }
}

# Stops every node still running (TERM, then KILL after 5 s) and removes the
# work directory unless KEEP_CLUSTER is set.
cluster_stop() {
  local id pid
  for id in 1 2 3; do
    pid=${PID[$id]:-}
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  for id in 1 2 3; do
    pid=${PID[$id]:-}
    [ -n "$pid" ] || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP_CLUSTER:-}" ]; then echo "cluster files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}

# ---- the same model and passages for the cluster and a local database ---------

local_sql() { sqlite3 -bail -cmd '.load ./siamsql' "$WORK/local.db" "$@"; }

# make_inputs N: $WORK/local.db holds the default model (siam_import), the
# first N passages of demo/data/passages.tsv as passages(id 1..N, body) and
# empty emb and bulk tables (id, embedding); $WORK/model.sql is its
# siam_dump, $WORK/passages.sql the tables and passages, for a client.
make_inputs() {
  sqlite3 -bail "$WORK/local.db" > /dev/null <<EOF
.load ./siamsql
SELECT siam_import('default', 'models/default');
CREATE TABLE src(package TEXT, source TEXT, synopsis TEXT, body TEXT);
.mode ascii
.separator "\t" "\n"
.import demo/data/passages.tsv src
CREATE TABLE passages(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE emb(id INTEGER PRIMARY KEY, embedding BLOB NOT NULL);
CREATE TABLE bulk(id INTEGER PRIMARY KEY, embedding BLOB NOT NULL);
INSERT INTO passages(id, body)
  SELECT row_number() OVER (ORDER BY rowid), body FROM src WHERE package <> 'package' ORDER BY rowid LIMIT $1;
DROP TABLE src;
EOF
  local_sql "SELECT siam_dump('default')" > "$WORK/model.sql"
  {
    echo "BEGIN;"
    sqlite3 "$WORK/local.db" ".schema passages" ".schema emb" ".schema bulk"
    sqlite3 "$WORK/local.db" ".mode insert passages" "SELECT id, body FROM passages ORDER BY id"
    echo "COMMIT;"
  } > "$WORK/passages.sql"
}

# embed_sql N CHUNK: the statements that embed passages 1..N into emb by
# siam_embed_each, CHUNK passages a statement (each must end well within the
# election timeout: a statement holds the leader's event loop).
embed_sql() {
  local a
  for ((a = 1; a <= $1; a += $2)); do
    echo "INSERT INTO emb(id, embedding) SELECT id, embedding FROM siam_embed_each('default', 'SELECT id, body FROM passages WHERE id BETWEEN $a AND $((a + $2 - 1))');"
  done
}
