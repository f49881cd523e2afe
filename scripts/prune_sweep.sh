#!/usr/bin/env bash
# Sweep sparsity x method on one trained run: one `sparana prune` child run per pair, one CSV row each.
#
#   scripts/prune_sweep.sh RUN [OUT.csv] [-- EXTRA PRUNE OPTIONS...]
#
#   scripts/prune_sweep.sh runs/mnist-20261121-153012 oneshot.csv
#   scripts/prune_sweep.sh runs/mnist-20261121-153012 tuned.csv -- --steps 5 --finetune-epochs 1
#
# Environment (all optional):
#   SPARSITIES  "0.5 0.8 0.9 0.95 0.98"     METHODS  "maav magnitude random"
#   RUNS_DIR    where the child runs go (default: the folder holding RUN)
#   SPARANA     the command to run          (default: sparana)
#   PYTHON      a Python to read the JSON   (default: python3)
# Columns: method, sparsity, steps, finetune_epochs, scope, accuracy_before, accuracy_after,
# nonzero weights, live parameters after unit removal, child run. Rows are appended as each run
# finishes, so an interrupted sweep keeps what it measured; a failing run stops the sweep.
set -euo pipefail

usage_lines=16
source "$(dirname "$0")/lib.sh"
run_out_extra prune-sweep.csv "$@"
read -r -a sparana <<< "${SPARANA:-sparana}"
python=${PYTHON:-python3}
runs_dir=${RUNS_DIR:-$(dirname "$run")}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

row_from_json='
import json, sys
d = json.load(sys.stdin)
s = d["settings"]
nonzero = sum(r["nonzero"] for r in d["layers"])
print(",".join(str(v) for v in (s["method"], s["sparsity"], s["steps"], s["finetune_epochs"], s["scope"],
                                 d["accuracy_before"], d["accuracy_after"], nonzero,
                                 d["steps"][-1]["live_parameters"], d["run"])))
'

[ -s "$out" ] || echo "method,sparsity,steps,finetune_epochs,scope,accuracy_before,accuracy_after,nonzero,live_parameters,run" > "$out"
for method in ${METHODS:-maav magnitude random}; do
  for sparsity in ${SPARSITIES:-0.5 0.8 0.9 0.95 0.98}; do
    echo "prune $run: $method to $sparsity ${extra[*]}" >&2
    if ! json=$("${sparana[@]}" prune --run "$run" --method "$method" --sparsity "$sparsity" "${extra[@]}" \
                --runs-dir "$runs_dir" --json 2>"$log"); then
      cat "$log" >&2
      exit 1
    fi
    printf '%s\n' "$json" | "$python" -c "$row_from_json" >> "$out"
  done
done
echo "wrote $out" >&2
