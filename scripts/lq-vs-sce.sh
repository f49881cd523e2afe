#!/usr/bin/env bash
# LQ vs SCE under adversarial attack. For each seed, train an LQ model (linear output, quadratic
# cost) and an SCE model (softmax output, cross-entropy) of the same size from configs/lq-vs-sce.yaml,
# attack both at every eps of its attack section, and write one table: $OUT/lq-vs-sce.csv and a
# markdown table on stdout. The attacks: FGSM and PGD raising each model's own training loss, and
# PGD raising softmax cross-entropy of the outputs (the same objective for both models).
#
#   scripts/lq-vs-sce.sh [KEY=VALUE]...      overrides for both models, e.g.
#   scripts/lq-vs-sce.sh data.name=fashion-mnist train.epochs=10
#
# Environment: SEEDS (default "0 1 2"); ATTACKS (METHOD[:LOSS] items, default
# "fgsm pgd pgd:cross_entropy"); OUT (runs and table, default runs/lq-vs-sce-<time>);
# SPARANA (the command, default "sparana"); PYTHON (default "python3", needs sparana_cli importable).
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"0 1 2"}
ATTACKS=${ATTACKS:-"fgsm pgd pgd:cross_entropy"}
OUT=${OUT:-runs/lq-vs-sce-$(date +%Y%m%d-%H%M%S)}
SPARANA=${SPARANA:-sparana}
PYTHON=${PYTHON:-python3}
run_of() { "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["run"])'; }

for seed in $SEEDS; do
  for model in lq sce; do
    if [ "$model" = lq ]; then kind=(model.output=linear model.loss=quadratic)
    else kind=(model.output=softmax model.loss=cross_entropy); fi
    echo "== seed $seed: training $model" >&2
    run=$($SPARANA train configs/lq-vs-sce.yaml "$@" "${kind[@]}" "seed=$seed" "name=lq-vs-sce-$model" \
          --runs-dir "$OUT" --json | run_of)
    for attack in $ATTACKS; do
      method=${attack%%:*} loss=model
      [ "$attack" = "$method" ] || loss=${attack#*:}
      # an SCE model's own loss is cross-entropy: that attack is the one above (the table reuses it)
      if [ "$model" = sce ] && [ "$loss" = cross_entropy ]; then continue; fi
      echo "== seed $seed: $method ($loss loss) on $model" >&2
      $SPARANA attack "$run" --method "$method" --loss "$loss" --runs-dir "$OUT" --json | run_of >/dev/null
    done
  done
done

"$PYTHON" scripts/lq_vs_sce_table.py "$OUT"
