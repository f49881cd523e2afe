#!/usr/bin/env bash
# Claim 4: a class is forgotten once 6,500-7,000 weights per middle layer (the 1000x800 and 800x400
# matrices of 784-1000-800-400-10) are gone. For every data set, seed and class, forgets the class from the
# LQ seed model of claim 1 (trained here if missing) with each METHOD:
#   seed     the seed's own method: sparana forget --score diff --step 100 --overshoot 1
#   default  sparana forget with the default settings
# (both with --evaluate none: the judged figures are in docs/forgetting.md), prints the weights
# removed per layer with Df and Dr (mean ± std over seeds) and writes $PLOTS/claim4-forget.png.
#
#   scripts/claims/claim4_forget.sh [seed] [default]     (no argument: both; environment: scripts/claims/lib.sh,
#                                                          CLASSES_MNIST, default 0..9, CLASSES_FASHION, "1 6")
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/claims/lib.sh
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(seed default)

for method in "${methods[@]}"; do
  case $method in
    seed) options=(--score diff --step 100 --overshoot 1) ;;
    default) options=() ;;
    *) echo "error: unknown method $method (seed or default)" >&2; exit 2 ;;
  esac
  for dataset in $DATASETS; do
    case $dataset in
      mnist) classes=${CLASSES_MNIST:-"0 1 2 3 4 5 6 7 8 9"} ;;
      *) classes=${CLASSES_FASHION:-"1 6"} ;;
    esac
    for seed in $SEEDS; do
      lq=$(seed_model "$dataset" lq "$seed")
      for class in $classes; do
        record="$CLAIMS_OUT/models/$dataset-lq-seed$seed-forget-$method-class$class.run"
        [ -s "$record" ] || echo "== forget class $class of $(basename "$lq"): $method ${options[*]}" >&2
        once "$record" "${sparana[@]}" forget --run "$lq" --class "$class" "${options[@]}" --evaluate none > /dev/null
      done
    done
  done
done
"$PYTHON" scripts/claims/forget_table.py "$CLAIMS_OUT/runs" "$PLOTS/claim4-forget.png"
