#!/usr/bin/env bash
# Train SPEC once per seed and hidden-layer shape; one CSV row per run on stdout.
#   scripts/sweep-seeds-hidden.sh configs/mnist.yaml "1 2 3" "[300,100] [1000,800,400]" > results.csv
# The same sweep with sparana's own runner (and workers, or a Dask cluster):
#   sparana sweep configs/mnist.yaml seed=1..3 model.hidden=[300,100],[1000,800,400]
# Set SPARANA to another launcher if needed (e.g. SPARANA="python -m sparana_cli"); extra
# arguments after the third are passed to every run (e.g. train.epochs=5 --runs-dir DIR).
set -uo pipefail
spec=${1:?usage: $0 SPEC "SEEDS" "HIDDEN..." [KEY=VALUE|--runs-dir DIR]...}
seeds=${2:-"1 2 3"}
shapes=${3:-"[300,100]"}
shift $(( $# < 3 ? $# : 3 ))
read -r -a sparana <<< "${SPARANA:-sparana}"
source "$(dirname "$0")/lib.sh"

echo "seed,hidden,status,test_accuracy,seconds,run"
train_grid "$spec" seed "$seeds" model.hidden "$shapes" "test_accuracy seconds run" "$@"
