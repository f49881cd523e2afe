#!/usr/bin/env bash
# Forget each class of one trained run in turn: one `sparana forget` child run per class, one CSV row each.
#
#   scripts/forget_each_class.sh RUN [OUT.csv] [-- EXTRA FORGET OPTIONS...]
#
#   scripts/forget_each_class.sh runs/mnist-20261121-153012 forget.csv
#   scripts/forget_each_class.sh runs/mnist-20261121-153012 full.csv -- --compare --evaluate full
#
# Environment (all optional):
#   CLASSES   "0 1 2 3 4 5 6 7 8 9"          RUNS_DIR  where the child runs go (default: the folder holding RUN)
#   SPARANA   the command to run (sparana)   PYTHON    a Python to read the JSON (python3)
# Columns: class, score, df_before, df_after, dr_before, dr_after, probe_recall, relearn_steps,
# weights_removed, removed_fraction (of the pruned layers), reached, seconds, run. The judged table
# of every class (the parent, the child and each comparator; see docs/forgetting.md, "Judging a forgetting") goes
# to OUT with -judged.csv for .csv, one row per class and method. Rows are appended as each run
# finishes; a failing run stops the script.
set -euo pipefail

usage_lines=16
source "$(dirname "$0")/lib.sh"
run_out_extra forget-each-class.csv "$@"
read -r -a sparana <<< "${SPARANA:-sparana}"
python=${PYTHON:-python3}
runs_dir=${RUNS_DIR:-$(dirname "$run")}
compare_out="${out%.csv}-judged.csv"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

rows_from_json='
import json, sys
d = json.load(sys.stdin)
out, compare_out = sys.argv[1], sys.argv[2]
with open(out, "a") as f:
    f.write(",".join(str(v) for v in (d["class"], d["score"], d["df_before"], d["df_after"], d["dr_before"],
                                     d["dr_after"], d["probe_recall"], d["relearn_steps"], sum(d["removed"]),
                                     d["removed_fraction"], d["reached"], d["seconds"], d["run"])) + "\n")
columns = ["df", "dr", "probe_recall", "relearn_df_10", "relearn_steps", "anamnesis", "mia", "weights_changed",
           "seconds"]
with open(compare_out, "a") as f:
    if f.tell() == 0:
        f.write(",".join(["class", "method", *columns]) + "\n")
    for r in d["judge"]:
        f.write(",".join(str(v) for v in (d["class"], r["method"], *(r.get(c, "") for c in columns))) + "\n")
'

[ -s "$out" ] || echo "class,score,df_before,df_after,dr_before,dr_after,probe_recall,relearn_steps,weights_removed,removed_fraction,reached,seconds,run" > "$out"
for class in ${CLASSES:-0 1 2 3 4 5 6 7 8 9}; do
  echo "forget class $class of $run ${extra[*]}" >&2
  if ! json=$("${sparana[@]}" forget --run "$run" --class "$class" "${extra[@]}" --runs-dir "$runs_dir" --json 2>"$log"); then
    cat "$log" >&2
    exit 1
  fi
  printf '%s\n' "$json" | "$python" -c "$rows_from_json" "$out" "$compare_out"
done
echo "wrote $out" >&2
