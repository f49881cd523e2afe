"""Commands load the Numba kernels they use and no other: inference starts no Numba at all, forgetting loads one kernel."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.test_cli import trained_tiny_run

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent("""
    import json, sys
    from sparana_cli.cli import main
    code = main(sys.argv[1:], standalone_mode=False)
    loaded = {}
    if "sparana_cli.engine.kernels_cpu" in sys.modules:
        import numba
        kernels = sys.modules["sparana_cli.engine.kernels_cpu"]
        dispatchers = {name: getattr(obj, "__wrapped__", obj) for name, obj in vars(kernels).items()}  # see uninterrupted
        loaded = {name: len(obj.signatures) for name, obj in dispatchers.items()
                  if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.signatures}
    print(json.dumps({"code": code, "numba": "numba" in sys.modules, "kernels": loaded}))
""")


def kernels_loaded(*args) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert not report["code"], result.stderr  # None or 0: done
    return report


def test_forgetting_loads_only_the_forgetting_kernel_and_inference_no_numba(tmp_path):
    run = trained_tiny_run(tmp_path)
    runs_dir = tmp_path / "runs"
    quiet = ["--evaluate", "none", "--repair-steps", 0]
    stepwise = ["--rescore", "every_step", "--repair", "sgd"]  # the earlier default: the fused kernel every step
    forget = kernels_loaded("forget", "--class", 3, "--run", run, *quiet, *stepwise, "--runs-dir", runs_dir, "--json")
    assert forget["kernels"] == {"_taylor_margin": 1}  # one kernel, one signature
    repaired = kernels_loaded("forget", "--class", 3, "--run", run, "--evaluate", "none", *stepwise,
                              "--runs-dir", runs_dir, "--json")
    assert repaired["kernels"]["_taylor_margin"] == 1 and set(repaired["kernels"].values()) == {1}  # + a training step's
    for args in (["evaluate", run], ["prune", "--run", run, "--sparsity", 0.5],
                 ["forget", "--class", 3, "--run", run, "--evaluate", "none"],  # the default scores once, in NumPy
                 ["forget", "--class", 3, "--run", run, "--score", "diff", *quiet, *stepwise]):
        report = kernels_loaded(*args, "--runs-dir", runs_dir, "--json")
        assert not report["numba"], args
