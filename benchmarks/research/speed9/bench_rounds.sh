#!/bin/bash
# usage: bench_rounds.sh OUT ROUNDS THREADS  -- interleaved base / wt ctviewer bench
out=$1; rounds=$2; th=$3
: > $out
for r in $(seq $rounds); do
  for t in base wt; do
    d=/tmp/speed9/base; [ $t = wt ] && d=/work/wt/speed9
    line=$(cd $d && PYTHONPATH=$d OMP_NUM_THREADS=$th /work/main/.venv/bin/python -m ctviewer bench --threads $th --json 2>/dev/null | tr -d '\n')
    echo "{\"tree\": \"$t\", \"round\": $r, \"result\": $line}" >> $out
  done
done
