#!/usr/bin/env bash
# Runs every phase 3 times per configuration, one process at a time; appends RESULT lines to
# results.log. Usage: ./run.sh 1000000 200000
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/storebench-target}/release/storebench}
DATA=${DATA:-$HOME/.cache/storebench-data}
LOG=${LOG:-results.log}
REPS=3
PHASES="open scan lookup-sorted lookup-random commit commit-scattered reader"
# configuration name, backend, extra flags
CONFIGS=(
  "redb|redb|"
  "redb-single|redb-single|"
  "sqlite-full|sqlite|--sync full"
  "sqlite-normal|sqlite|--sync normal"
  "lmdb|lmdb|"
  "lmdb-nora|lmdb-nora|"
)
for docs in "$@"; do
  for cfg in "${CONFIGS[@]}"; do
    IFS='|' read -r name backend extra <<<"$cfg"
    dir="$DATA/$name-$docs"
    run() { "$BIN" --backend "$backend" --docs "$docs" --dir "$dir" $extra --phase "$1" | grep '^RESULT' | sed "s/^RESULT/RESULT config=$name/" >>"$LOG"; }
    for _ in $(seq $REPS); do run load; done
    echo "RESULT config=$name docs=$docs phase=Du du_kb=$(du -sk "$dir" | cut -f1)" >>"$LOG"
    for phase in $PHASES; do
      for _ in $(seq $REPS); do run "$phase"; done
    done
    echo "RESULT config=$name docs=$docs phase=DuAfterCommits du_kb=$(du -sk "$dir" | cut -f1)" >>"$LOG"
    echo "done $name $docs $(date +%T)"
  done
done
