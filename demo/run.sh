#!/usr/bin/env bash
# make demo: import the shipped model into a new database, load a few
# thousand real passages, and run the headline SQL.
set -euo pipefail
cd "$(dirname "$0")/.."
db=demo/demo.db
rm -f "$db"
start=$(date +%s%N)
sqlite3 -bail "$db" < demo/demo.sql
printf "\n(demo database: %s; %s ms after the build)\n" "$db" $(( ($(date +%s%N) - start) / 1000000 ))
