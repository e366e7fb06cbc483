#!/usr/bin/env bash
# Draws bench/throughput.png (sentences/s per engine and model shape) from the
# text `make bench` prints.  Usage: bash bench/chart.sh BENCH_OUTPUT [PNG]
set -euo pipefail
in=$1 out=${2:-$(dirname "$0")/throughput.png}
data=$(mktemp)
# Rows of the result tables: "   <engine name>   <sent/s> ..." under "== <shape>:".
awk '/^== / { shape = $2; sub(":", "", shape) }
     /^   (siamsql|PyTorch)/ && $0 ~ /[0-9]/ {
       n = split($0, f, /  +/); name = f[2]; sub(/ \(.*$/, "", name)   # columns: "", name, sent/s, ...
       if (n >= 3 && f[3] + 0 > 0) print shape "\t" name "\t" f[3]
     }' "$in" > "$data"
[ -s "$data" ] || { echo "chart.sh: no result rows in $in" >&2; exit 1; }
# One block per engine, one column per shape: gnuplot's clustered histogram.
shapes=$(cut -f1 "$data" | awk '!seen[$0]++' | tr '\n' ' ')
table=$(mktemp)
{ printf 'engine'; for s in $shapes; do printf '\t%s' "$s"; done; printf '\n'
  cut -f2 "$data" | awk '!seen[$0]++' | while IFS= read -r e; do
    printf '"%s"' "$e"
    for s in $shapes; do
      v=$(awk -F'\t' -v s="$s" -v e="$e" '$1 == s && $2 == e { print $3 }' "$data")
      printf '\t%s' "${v:-0}"
    done; printf '\n'
  done; } > "$table"
ncol=$(echo $shapes | wc -w)
cpu=$(sed -n 's/^bench: CPU //p' "$in" | head -1)
gnuplot <<GP
set terminal pngcairo size 900,480 font ",11"
set output "$out"
set title "Sentences per second, same model and texts (higher is better; 2 cores${cpu:+, $cpu})"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set ylabel "sentences/s (log scale)"
set key top right
set xtics rotate by -15
plot for [c=2:$((ncol + 1))] "$table" using c:xtic(1) title columnheader(c)
GP
rm -f "$data" "$table"
echo "chart.sh: wrote $out"
