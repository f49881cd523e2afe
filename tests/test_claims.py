"""scripts/claims: the claim tables and plots on small synthetic input, and one claim script end to end."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "claims"))

import accuracy_table  # noqa: E402
import attack_table  # noqa: E402
import claim_tables  # noqa: E402
import forget_table  # noqa: E402
import shrink_table  # noqa: E402


def test_cell_is_mean_and_sample_std():
    assert claim_tables.cell([0.9, 0.92, 0.94]) == "92.00 ± 2.00"
    assert claim_tables.cell([3, 5], 1, 0) == "4 ± 1"
    assert claim_tables.cell([0.5]) == "50.00" and claim_tables.cell([]) == "–"


def test_png_is_kept_under_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(claim_tables, "PNG_LIMIT", 30_000)
    fig, (ax,) = claim_tables.figure(1)
    ax.imshow(np.random.default_rng(0).random((200, 200)))  # noise compresses badly
    path = claim_tables.save_png(fig, tmp_path / "noise.png", dpi=200)
    assert 0 < path.stat().st_size < 30_000


def test_accuracy_table_pairs_lq_and_sce_by_seed(tmp_path):
    found = {"MNIST sample (5k)": {"LQ": {0: 0.95, 1: 0.94, 2: 0.96}, "SCE": {0: 0.94, 1: 0.95, 2: 0.94}}}
    row = accuracy_table.table(found).splitlines()[-1]
    assert row == "| MNIST sample (5k) | 3 | 95.00 ± 1.00 | 94.33 ± 0.58 | 0.67 ± 1.53 | 2/3 |"
    accuracy_table.plot(found, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


def test_attacks_are_named_the_same_for_both_models():
    lq = {"method": "fgsm", "attack_loss": "quadratic", "loss": "quadratic", "steps": 10, "crafted_on": ""}
    sce = {**lq, "attack_loss": "cross_entropy", "loss": "cross_entropy"}
    assert attack_table.attack_label(lq) == attack_table.attack_label(sce) == "FGSM, own loss"
    pgd = {**lq, "method": "pgd", "attack_loss": "cross_entropy", "steps": 20}
    assert attack_table.attack_label(pgd) == "PGD-20, CE"
    assert attack_table.attack_label({**pgd, "crafted_on": "/runs/sce"}) == "transfer PGD-20, CE"
    assert attack_table.attack_label({**lq, "crafted_on": "/runs/sce"}) == "transfer FGSM, quadratic"


def test_attack_table_rows(tmp_path):
    record = {0: ([0.1, 0.2], [0.5, 0.2], [0.9, 0.95], 0.9), 1: ([0.1, 0.2], [0.7, 0.4], [0.8, 0.85], 0.92)}
    weaker = {s: (e, [a + 0.1 for a in acc], auc, clean) for s, (e, acc, auc, clean) in record.items()}
    found = {("Fashion-MNIST", "FGSM, own loss"): {"LQ": weaker, "SCE": record},
             ("Fashion-MNIST", "transfer PGD-20, CE"): {"LQ": record, "SCE": record}}
    lines = attack_table.table(found).splitlines()
    assert "| Fashion-MNIST | FGSM, own loss | 0 | 2 | 91.00 ± 1.41 | 91.00 ± 1.41 | 0.00 ± 0.00 |  |  |" in lines
    assert "| Fashion-MNIST | FGSM, own loss | 0.1 | 2 | 70.00 ± 14.14 | 60.00 ± 14.14 | 10.00 ± 0.00 | 0.850 ± 0.071 " \
           "| 0.850 ± 0.071 |" in lines
    assert lines[-1].startswith("| Fashion-MNIST | transfer PGD-20, CE | 0.2 | 2 |")  # transfers come last
    attack_table.plot(found, tmp_path / "b.png")


def test_shrink_table_compares_the_first_layer_with_the_others(tmp_path):
    steps = np.linspace(0, 1, 5)[:, None]
    even = {"widths": 1000 - 600 * steps * np.ones((1, 3)), "live": np.linspace(3e6, 1e5, 5), "accuracy": np.full(5, 0.9)}
    uneven = {**even, "widths": np.hstack([np.full((5, 1), 1000.0), 1000 - 800 * steps, 1000 - 800 * steps])}
    found = {"MNIST sample (5k)": {0: even, 1: even}, "Fashion-MNIST": {0: uneven, 1: uneven}}
    lines = shrink_table.table(found).splitlines()
    final = {line.split(" | ")[0][2:]: line for line in lines if "| 4/4 |" in line}
    assert "| 400 ± 0 | 400 ± 0 | 400 ± 0 | 1.00 ± 0.00 |" in final["MNIST sample (5k)"]
    assert "| 1000 ± 0 | 200 ± 0 | 200 ± 0 | 5.00 ± 0.00 |" in final["Fashion-MNIST"]
    shrink_table.plot(found, tmp_path / "c.png")


def test_forget_table_names_the_seed_method_and_averages_classes_per_seed(tmp_path):
    seed_method = SimpleNamespace(score="diff", step=100, overshoot=1.0, repair_steps=100)
    assert forget_table.method_label(seed_method) == "seed's (diff, step 100, overshoot 1)"
    assert forget_table.method_label(SimpleNamespace(score="probe", step=None, overshoot=4.0, repair_steps=100)) == \
        "probe, overshoot 4, repair 100"

    def record(l1, l2, df=0.0):
        return {"first": np.array([0, l1, l2, 0.0]), "removed": np.array([0, 4 * l1, 4 * l2, 0.0]), "df_before": 0.9,
                "df_first": 0.0, "df": df, "dr_before": 0.9, "dr": 0.88, "stop": "target", "rounds": 1}

    by_class = {3: {0: record(6000, 6000), 1: record(8000, 7000)}, 5: {0: record(7000, 7000), 1: record(9000, 9000, 0.02)}}
    assert forget_table.per_seed(by_class, lambda r: r["first"][1]) == [6500, 8500]
    key = ("seed's (diff, step 100, overshoot 1)", "Fashion-MNIST")
    sizes = [784000, 800000, 320000, 4000]
    line = forget_table.summary({key: by_class}, {key: {"sizes": sizes, "commits": {"abc1234"}}}).splitlines()[-1]
    assert "| 2 × 2 | 7500 ± 1414 (0.94 ± 0.18 %) | 7250 ± 1061 (2.27 ± 0.33 %) | 0 ± 0 / 30000 ± 5657 / 29000 ± 4243 |" \
        in line
    assert "| 90.0 ± 0.0 → 0.0 ± 0.0 → 0.5 ± 0.7 | 90.0 ± 0.0 → 88.0 ± 0.0 | target 4 | 1.0 ± 0.0 | abc1234 |" in line
    per_class = forget_table.per_class({key: by_class}).splitlines()
    assert per_class[-1].endswith("| 5 | 2 | 8000 ± 1414 | 8000 ± 1414 | 0.0 ± 0.0 | 1.0 ± 1.4 | 88.0 ± 0.0 |")
    forget_table.plot({key: by_class}, tmp_path / "d.png")


def test_claim_script_end_to_end_on_a_tiny_model(tmp_path):
    """Claim 2's script over real sparana commands (a 16-unit model, one epoch, one seed): its table and its PNG."""
    env = {**os.environ, "CLAIMS_OUT": str(tmp_path / "out"), "PLOTS": str(tmp_path / "plots"), "DATASETS": "mnist",
           "SEEDS": "0", "MNIST_EPOCHS": "1", "TRAIN_ARGS": "model.hidden=[16]", "ATTACK_SAMPLES": "40",
           "PGD_STEPS": "2", "SPARANA": f"{sys.executable} -m sparana_cli", "PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "claims" / "claim2_attacks.sh")], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "| MNIST sample (5k) | FGSM, own loss | 0 | 1 |" in done.stdout
    assert "| transfer PGD-2, CE | 0.2 | 1 |" in done.stdout and "| PGD-2, CE | 0.05 | 1 |" in done.stdout
    png = tmp_path / "plots" / "claim2-attacks.png"
    assert 0 < png.stat().st_size < 200_000
    # claim 1's table counts the seed models only, not another LQ model trained into the same folder
    runs_dir = tmp_path / "out" / "runs"
    before = accuracy_table.collect(runs_dir)
    other = subprocess.run([sys.executable, "-m", "sparana_cli", "train", str(ROOT / "configs" / "lq-vs-sce.yaml"),
                            "model.hidden=[8]", "train.epochs=1", "seed=0", "name=mnist-shrink", "--runs-dir",
                            str(runs_dir)], capture_output=True, text=True, env=env)
    assert other.returncode == 0, other.stderr
    assert accuracy_table.collect(runs_dir) == before and set(before["MNIST sample (5k)"]) == {"LQ", "SCE"}
