#!/usr/bin/env bash
# Train SPEC once per learning rate (and optimizer); one CSV row per run on stdout.
#   scripts/sweep-learning-rates.sh configs/mnist.yaml "1e-4 3e-4 1e-3" "adam sgd" > lr.csv
# The same with sparana's runner: sparana sweep configs/mnist.yaml train.lr=1e-4,3e-4,1e-3 train.optimizer=adam,sgd
set -uo pipefail
spec=${1:?usage: $0 SPEC "RATES" "OPTIMIZERS" [KEY=VALUE|--runs-dir DIR]...}
rates=${2:-"1e-4 1e-3"}
optimizers=${3:-"adam"}
shift $(( $# < 3 ? $# : 3 ))
read -r -a sparana <<< "${SPARANA:-sparana}"
source "$(dirname "$0")/lib.sh"

echo "lr,optimizer,status,test_accuracy,train_loss,run"
train_grid "$spec" train.lr "$rates" train.optimizer "$optimizers" "test_accuracy train_loss run" "$@"
