#!/usr/bin/env bash
# The GPU path, checked on a machine with one NVIDIA GPU and nothing else prepared: install the [gpu]
# extra (CuPy, numba-cuda) with the benchmark's PyTorch (the CUDA build from PyPI) into a fresh virtual
# environment, run the GPU tests on real CuPy (the same kernel, training and whole-command tests CI runs
# on the CuPy stand-in of tests/fakecupy, here with SPARANA_TEST_GPU=real), then the GPU rows of the
# benchmark, and write one table.
#
#   scripts/gpu-check.sh [OUT.md]          (default: gpu-check.md in the repository root)
#
# Environment (optional): VENV  the virtual environment to create or reuse (default: .venv-gpu)
#                         REPEATS  benchmark rounds (default: 3)
# Exit status: 0 done; 1 no GPU here (one line says so, nothing is installed); 2 a GPU test failed or
# was skipped; anything else: the install or the benchmark failed (their output says why).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check.md}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "gpu-check: no NVIDIA GPU on this machine (nvidia-smi is missing or lists none); run it where one is" >&2
  exit 1
fi

started=$(date +%s)
venv=${VENV:-.venv-gpu}
python3 -m venv "$venv"
. "$venv/bin/activate"
echo "gpu-check: installing .[gpu,bench,test] into $venv" >&2
pip install -q '.[gpu,bench,test]'

echo "gpu-check: GPU tests" >&2
tests_log=$(mktemp)
set +e
SPARANA_TEST_GPU=real python -m pytest -q -rs tests/test_kernels.py tests/test_training.py tests/test_subset_training.py \
  tests/test_gpu_commands.py tests/test_cuda_sddmm.py tests/test_backend.py tests/test_checkpoint.py tests/test_runs_model_unit.py \
  | tee "$tests_log" >&2
tests_status=${PIPESTATUS[0]}
set -e
if grep -q "SPARANA_TEST_GPU=real: device: gpu, but no usable GPU" "$tests_log"; then
  echo "gpu-check: CuPy found no usable GPU although nvidia-smi lists one (driver or CUDA 12 runtime?); GPU tests failed" >&2
  exit 2
fi
if [ "$tests_status" -ne 0 ]; then
  echo "gpu-check: GPU tests failed (above)" >&2
  exit 2
fi

echo "gpu-check: GPU benchmark rows" >&2
table=$(python -m bench --only gpu --repeats "${REPEATS:-3}")

{
  echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python -c 'import cupy, numba, torch; print(f"CuPy {cupy.__version__}, Numba {numba.__version__}, PyTorch {torch.__version__} (CUDA {torch.version.cuda})")'
  echo "tests: $(tail -n 1 "$tests_log")"
  echo
  echo "$table"
  echo "whole check: $(( $(date +%s) - started )) s"
  echo '```'
} > "$out"
cat "$out"
