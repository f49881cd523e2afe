# Shared by the claim scripts (scripts/claims/*.sh): source "$(dirname "$0")/lib.sh".
#
# Environment read by every claim script:
#   CLAIMS_OUT  where the runs go (default runs/claims); scripts that share models (1, 2, 4) find them there
#   DATASETS    "mnist fashion-mnist" (mnist: the embedded 5k sample unless the full set is installed)
#   SEEDS       "0 1 2" (training seeds)
#   MNIST_EPOCHS 30, FASHION_EPOCHS 10   epochs of the seed model 784-1000-800-400-10 per data set
#   PLOTS       where the PNGs go (default docs/claims)
#   TRAIN_ARGS  extra KEY=VALUE overrides for every training (e.g. "model.hidden=[32]" for a quick check)
#   SPARANA     the command (default sparana); PYTHON (default python3, needs sparana_cli importable)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CLAIMS_OUT=${CLAIMS_OUT:-runs/claims}
DATASETS=${DATASETS:-"mnist fashion-mnist"}
SEEDS=${SEEDS:-"0 1 2"}
PLOTS=${PLOTS:-docs/claims}
PYTHON=${PYTHON:-python3}
read -r -a sparana <<< "${SPARANA:-sparana}"
read -r -a train_args <<< "${TRAIN_ARGS:-}"
mkdir -p "$CLAIMS_OUT" "$PLOTS"

# epochs_of DATASET: the training epochs of the seed model on DATASET.
epochs_of() {
  case $1 in mnist) echo "${MNIST_EPOCHS:-30}" ;; *) echo "${FASHION_EPOCHS:-10}" ;; esac
}

# once RECORD COMMAND...: print the run folder that COMMAND (a sparana command with --json) wrote, running it
# only when RECORD (a file holding that folder) does not exist yet; so claim scripts share runs, and a
# batch that was stopped continues where it was.
once() {
  local record=$1 json
  shift
  if [ -s "$record" ] && [ -d "$(cat "$record")" ]; then cat "$record"; return; fi
  json=$("$@" --runs-dir "$CLAIMS_OUT/runs" --json) || exit 1
  mkdir -p "$(dirname "$record")"
  printf '%s\n' "$json" | json_fields run > "$record"
  cat "$record"
}

# seed_model DATASET lq|sce SEED: print the folder of the seed model (configs/lq-vs-sce.yaml, LQ or
# SCE) trained on DATASET with SEED, training it the first time; later calls (any claim script) reuse it.
seed_model() {
  local dataset=$1 model=$2 seed=$3 kind
  if [ "$model" = lq ]; then kind=(model.output=linear model.loss=quadratic)
  else kind=(model.output=softmax model.loss=cross_entropy); fi
  [ -s "$CLAIMS_OUT/models/$dataset-$model-seed$seed.run" ] || \
    echo "== training $model on $dataset, seed $seed ($(epochs_of "$dataset") epochs)" >&2
  once "$CLAIMS_OUT/models/$dataset-$model-seed$seed.run" "${sparana[@]}" train configs/lq-vs-sce.yaml \
    "data.name=$dataset" "train.epochs=$(epochs_of "$dataset")" "${kind[@]}" "seed=$seed" "name=$dataset-$model" \
    "${train_args[@]}"
}
