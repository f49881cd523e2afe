#!/usr/bin/env bash
# CPU seconds of whole processes, one BLAS thread each: `sparana forget --class K --evaluate none` per class
# against `sparana train SPEC`, for a machine too loaded for paired wall-clock timings (`python -m bench --only
# commands` is the wall-clock measurement). One thread each keeps OpenBLAS from spinning on a busy machine.
#
#   scripts/forget_vs_train_cpu.sh PARENT_RUN SPEC OUT.csv [-- EXTRA FORGET OPTIONS...]
#
#   scripts/forget_vs_train_cpu.sh runs/fashion-mnist-20261205-083244 configs/fashion-mnist.yaml fm-cpu.csv
#
# Environment (optional): CLASSES ("0 1 2 3 4 5 6 7 8 9"), RUNS_DIR (where the runs go; default a temporary
# folder), SPARANA (the command, default sparana). Columns: command, class, cpu_s (user + sys), wall_s.
set -euo pipefail
if [ $# -lt 3 ]; then sed -n '2,12p' "$0" >&2; exit 2; fi
parent=$1 spec=$2 out=$3; shift 3
[ "${1:-}" = "--" ] && shift
read -r -a sparana <<< "${SPARANA:-sparana}"
runs_dir=${RUNS_DIR:-$(mktemp -d)}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
times=$(mktemp)
trap 'rm -f "$times"' EXIT
cpu() { /usr/bin/time -f "%U %S %e" -o "$times" "$@" > /dev/null 2>&1; awk '{printf "%.3f,%.3f", $1 + $2, $3}' "$times"; }
[ -s "$out" ] || echo "command,class,cpu_s,wall_s" > "$out"
for class in ${CLASSES:-0 1 2 3 4 5 6 7 8 9}; do
  echo "forget,$class,$(cpu "${sparana[@]}" forget --class "$class" --run "$parent" --evaluate none "$@" --runs-dir "$runs_dir")" >> "$out"
done
echo "train,-,$(cpu "${sparana[@]}" train "$spec" --runs-dir "$runs_dir")" >> "$out"
echo "wrote $out" >&2
