#!/usr/bin/env bash
# Claim 2: LQ models are harder to fool with adversarial noise than SCE models. For every data set and
# seed, attacks the LQ and SCE seed models of claim 1 (trained here if missing) on ATTACK_SAMPLES test
# images at eps 0.05, 0.1, 0.2 with:
#   - FGSM on each model's own loss (the attack the claim was made with);
#   - PGD on one common objective, softmax cross-entropy of the outputs, at each of PGD_STEPS steps
#     (a gradient that the quadratic cost cannot weaken; more steps: a stronger attack);
#   - a transfer attack: PGD (the last of PGD_STEPS, cross-entropy) crafted on the SCE model and
#     evaluated on the LQ model, and the reverse (no gradient of the attacked model at all).
# Prints the table (mean ± std over seeds) and writes $PLOTS/claim2-attacks.png.
#
#   scripts/claims/claim2_attacks.sh     (environment: see scripts/claims/lib.sh; ATTACK_SAMPLES 1000,
#                                         PGD_STEPS "5 20")
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/claims/lib.sh
ATTACK_SAMPLES=${ATTACK_SAMPLES:-1000}
PGD_STEPS=${PGD_STEPS:-"5 20"}
transfer_steps=${PGD_STEPS##* }

# attack RUN [OPTION...]: one `sparana attack` child run of RUN into the claims' runs folder.
attack() {
  local run=$1
  shift
  echo "== attack $(basename "$run") $*" >&2
  "${sparana[@]}" attack "$run" --samples "$ATTACK_SAMPLES" "$@" --runs-dir "$CLAIMS_OUT/runs" --json > /dev/null
}

for dataset in $DATASETS; do
  for seed in $SEEDS; do
    lq=$(seed_model "$dataset" lq "$seed")
    sce=$(seed_model "$dataset" sce "$seed")
    done_mark="$CLAIMS_OUT/models/$dataset-seed$seed.attacked"
    [ -e "$done_mark" ] && continue  # attacked by an earlier call
    for run in "$lq" "$sce"; do
      attack "$run" --method fgsm --loss model
      for steps in $PGD_STEPS; do attack "$run" --method pgd --loss cross_entropy --steps "$steps"; done
    done
    attack "$lq" --method pgd --loss cross_entropy --steps "$transfer_steps" --craft-on "$sce"
    attack "$sce" --method pgd --loss cross_entropy --steps "$transfer_steps" --craft-on "$lq"
    touch "$done_mark"
  done
done
"$PYTHON" scripts/claims/attack_table.py "$CLAIMS_OUT/runs" "$PLOTS/claim2-attacks.png"
