"""scripts/gpu-check.sh on a machine without a GPU: one clear line, exit status 1, nothing installed."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_refuses_in_one_line_without_a_gpu(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\necho 'No devices were found'\nexit 6\n")  # what it says with no GPU
    (fake / "nvidia-smi").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "VENV": str(tmp_path / "venv")}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), str(tmp_path / "out.md")], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "gpu-check: no NVIDIA GPU on this machine (nvidia-smi is missing or lists none); run it where one is"]
    assert not (tmp_path / "venv").exists() and not (tmp_path / "out.md").exists()


def test_gpu_check_runs_every_test_file_with_gpu_cases():
    """Each test file whose tests take the `gpu`, `backend` or `xp` fixture (a case on the device) runs on the real GPU too."""
    import re

    script = (ROOT / "scripts" / "gpu-check.sh").read_text()
    pytest_line = script[script.index("SPARANA_TEST_GPU=real python -m pytest"):].split("| tee")[0]
    named = set(re.findall(r"tests/\w+\.py", pytest_line))
    with_gpu_cases = {f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py")
                      if re.search(r"def test_\w+\([^)]*\b(gpu|backend|xp)\b", p.read_text())}
    assert "tests/test_gpu_commands.py" in with_gpu_cases
    assert with_gpu_cases <= named, f"not run by gpu-check.sh: {sorted(with_gpu_cases - named)}"
