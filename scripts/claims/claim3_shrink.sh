#!/usr/bin/env bash
# Claim 3: iterated MAAV pruning with dead-unit removal shrinks the three hidden layers of a
# 784-1000-1000-1000-10 model evenly on MNIST, while on Fashion-MNIST the first layer barely shrinks.
# For every data set and seed: trains configs/shrink.yaml (SHRINK_EPOCHS_MNIST 30, SHRINK_EPOCHS_FASHION 3
# epochs), then `sparana prune` with its prune section (MAAV per layer to 98% sparsity, output layer
# included, one fine-tuning epoch after each step, dead units removed) in SHRINK_STEPS steps (default 16;
# the spec says 49). Prints the widths table (mean ± std over seeds) and writes $PLOTS/claim3-widths.png.
#
#   scripts/claims/claim3_shrink.sh      (environment: see scripts/claims/lib.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/claims/lib.sh
SHRINK_STEPS=${SHRINK_STEPS:-16}

for dataset in $DATASETS; do
  case $dataset in mnist) epochs=${SHRINK_EPOCHS_MNIST:-30} ;; *) epochs=${SHRINK_EPOCHS_FASHION:-3} ;; esac
  for seed in $SEEDS; do
    [ -s "$CLAIMS_OUT/models/$dataset-shrink-seed$seed.run" ] || echo "== training 1000-1000-1000 on $dataset, seed $seed" >&2
    run=$(once "$CLAIMS_OUT/models/$dataset-shrink-seed$seed.run" "${sparana[@]}" train configs/shrink.yaml \
          "data.name=$dataset" "train.epochs=$epochs" "seed=$seed" "name=$dataset-shrink" "${train_args[@]}")
    [ -s "$CLAIMS_OUT/models/$dataset-shrink-seed$seed.pruned" ] || echo "== pruning it in $SHRINK_STEPS steps" >&2
    once "$CLAIMS_OUT/models/$dataset-shrink-seed$seed.pruned" "${sparana[@]}" prune --run "$run" --steps "$SHRINK_STEPS" \
      > /dev/null
  done
done
"$PYTHON" scripts/claims/shrink_table.py "$CLAIMS_OUT/runs" "$PLOTS/claim3-widths.png"
