#!/usr/bin/env bash
# Claim 1: LQ models (linear output, quadratic cost) are about 0.5 pt more accurate than SCE models
# (softmax, cross-entropy) on MNIST and Fashion-MNIST. Trains the seed model 784-1000-800-400-10 both
# ways for every seed and data set (configs/lq-vs-sce.yaml, same optimiser, learning rate and epochs),
# prints the test-accuracy table (mean ± std over seeds, and the paired LQ − SCE difference) and
# writes $PLOTS/claim1-accuracy.png.
#
#   scripts/claims/claim1_accuracy.sh          (environment: see scripts/claims/lib.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/claims/lib.sh

for dataset in $DATASETS; do
  for seed in $SEEDS; do
    for model in lq sce; do seed_model "$dataset" "$model" "$seed" > /dev/null; done
  done
done
"$PYTHON" scripts/claims/accuracy_table.py "$CLAIMS_OUT/runs" "$PLOTS/claim1-accuracy.png"
