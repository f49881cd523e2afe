"""Lottery tickets: rewind points kept by training, rewinding, shrinking masks, the controls, the experiment command."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sparana_cli.analysis.tickets import layer_rates, next_masks, random_masks_like, reinitialised, rewound
from sparana_cli.cli import main
from sparana_cli.engine.backend import CPU
from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.phases.ticket import summarize, ticket
from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.store import runs
from sparana_cli.store.rewind import read_rewind, rewind_target
from sparana_cli.store.ticketfiles import read_tickets
from sparana_cli.ui import Console
from tests.conftest import tiny_spec

# tiny data: 240 training images in batches of 32, 8 steps an epoch


def test_a_train_run_keeps_the_initial_weights_and_those_at_step_k(idx_folder, tmp_path):
    spec = spec_from_mapping(tiny_spec(idx_folder, train={"rewind_step": 8, "epochs": 2}), "s")
    run = train(spec, root=tmp_path / "a", console=Console(json_mode=True))["run"]
    one_epoch = train(spec_from_mapping(tiny_spec(idx_folder, train={"epochs": 1}), "s"), root=tmp_path / "b",
                      console=Console(json_mode=True))["run"]
    points = read_rewind(run)
    assert (points["init"][0], points["step"][0]) == (0, 8)
    fresh = Network.xavier([36, 24, 16, 10], seed=spec.seed)
    assert all(np.array_equal(a, b) for a, b in zip(points["init"][1].weights, fresh.weights))
    after = runs.load_model(one_epoch)[0]  # step 8 ends epoch 1: the weights a 1-epoch run finishes with
    assert all(np.array_equal(a, b) for a, b in zip(points["step"][1].weights + points["step"][1].biases,
                                                   after.weights + after.biases))
    assert (Path(run) / "rewind.h5").is_file() and rewind_target(points)[0] == 8


def test_a_rewind_step_past_the_run_is_refused_before_a_folder_exists(idx_folder, tmp_path):
    spec = spec_from_mapping(tiny_spec(idx_folder, train={"rewind_step": 25}), "s")  # 3 epochs: 24 steps
    with pytest.raises(UserError, match="train.rewind_step"):
        train(spec, root=tmp_path / "runs", console=Console(json_mode=True))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _trained_like(seed=0):
    return Network.xavier([20, 12, 6], seed=seed, stream="other")


def test_rewinding_restores_exactly_the_stored_values_under_the_mask():
    target = Network.xavier([20, 12, 6], seed=1)
    trained = _trained_like()
    masks = next_masks([np.abs(w) for w in trained.weights], trained.masks, layer_rates(2, 0.4, None))
    net = rewound(target, masks)
    for w, t, m in zip(net.weights, target.weights, masks):
        assert np.array_equal(w[m], t[m]) and not np.any(w[~m])
    assert all(np.array_equal(b, t) for b, t in zip(net.biases, target.biases))
    assert all(np.array_equal(a, b) for a, b in zip(net.masks, masks))


def test_a_round_prunes_the_rate_of_the_survivors_by_the_score_and_the_output_layer_at_half():
    trained = _trained_like()
    rates = layer_rates(2, 0.4, None)
    assert rates == [0.4, 0.2]
    masks = next_masks([np.abs(w) for w in trained.weights], trained.masks, rates)
    assert [int(m.sum()) for m in masks] == [240 - 96, 72 - 14]
    gone = trained.masks[0] & ~masks[0]
    assert np.abs(trained.weights[0][gone]).max() <= np.abs(trained.weights[0][masks[0]]).min()
    again = next_masks([np.abs(w) for w in trained.weights], masks, rates)
    assert all(not np.any(b & ~a) for a, b in zip(masks, again))  # only shrinks
    assert [int(m.sum()) for m in again] == [144 - 58, 58 - 12]


def test_a_round_at_a_rate_near_one_leaves_each_layer_its_best_weight():
    scores = [np.arange(12.0).reshape(3, 4), np.array([[5.0, 1.0], [3.0, 2.0]])]
    masks = [np.ones((3, 4), bool), np.array([[False, True], [False, False]])]  # the second layer: one survivor
    out = next_masks(scores, masks, [0.99, 0.99])  # round(0.99 x 12) = 12 would empty the first layer
    assert np.flatnonzero(out[0]).tolist() == [11]
    np.testing.assert_array_equal(out[1], masks[1])


def test_random_masks_keep_each_layers_count_for_a_network_of_one_layer():
    mask = np.zeros((6, 4), bool)
    mask[:, 1] = True
    (drawn,) = random_masks_like([mask], seed=3, round_=2)
    assert drawn.shape == (6, 4) and int(drawn.sum()) == 6
    assert not np.array_equal(drawn, random_masks_like([mask], seed=3, round_=3)[0])


def test_reinit_keeps_the_mask_and_draws_fresh_weights():
    target = Network.xavier([20, 12, 6], seed=1)
    masks = next_masks([np.abs(w) for w in _trained_like().weights], target.masks, [0.5, 0.25])
    fresh = reinitialised(target, masks, bias=0.1, seed=1, round_=1, backend=CPU)
    assert all(np.array_equal(a, b) for a, b in zip(fresh.masks, masks))
    for w, t, m in zip(fresh.weights, target.weights, masks):
        assert not np.any(w[~m]) and not np.any(w[m] == t[m])
    other_round = reinitialised(target, masks, bias=0.1, seed=1, round_=2, backend=CPU)
    assert not np.array_equal(other_round.weights[0], fresh.weights[0])


def test_the_random_control_keeps_each_layers_count_with_another_mask():
    masks = next_masks([np.abs(w) for w in _trained_like().weights], [np.ones((20, 12), bool), np.ones((12, 6), bool)],
                       [0.5, 0.25])
    random = random_masks_like(masks, seed=0, round_=1)
    assert [int(m.sum()) for m in random] == [int(m.sum()) for m in masks]
    assert not np.array_equal(random[0], masks[0])


def test_an_experiment_writes_rounds_with_lineage_shrinking_masks_and_its_table(idx_folder, tmp_path):
    spec = spec_from_mapping(tiny_spec(idx_folder, train={"rewind_step": 4, "epochs": 2},
                                       ticket={"rounds": 2, "rate": 0.5, "eval_every": 4}), "s")
    summary = ticket(spec, root=tmp_path, console=Console(json_mode=True))
    home = Path(summary["run"])
    rows = read_tickets(home)
    assert [(r["variant"], r["round"]) for r in rows] == [
        ("dense", 0), ("ticket", 1), ("reinit", 1), ("random", 1), ("ticket", 2), ("reinit", 2), ("random", 2)]
    target = rewind_target(read_rewind(home))[1]
    nets = {(r["variant"], r["round"]): runs.load_model(r["run"]) for r in rows}
    t1, t2 = nets[("ticket", 1)][0], nets[("ticket", 2)][0]
    assert all(not np.any(b & ~a) for a, b in zip(t1.masks, t2.masks))  # a round's mask only shrinks
    assert all(np.array_equal(a, b) for a, b in zip(nets[("reinit", 2)][0].masks, t2.masks))
    assert [int(m.sum()) for m in nets[("random", 2)][0].masks] == [int(m.sum()) for m in t2.masks]
    assert nets[("ticket", 1)][1]["parent"] == str(home)
    assert nets[("ticket", 2)][1]["parent"] == rows[1]["run"] == nets[("reinit", 2)][1]["parent"]
    assert rows[4]["remaining"] < rows[1]["remaining"] < 1.0
    assert all(r["early_stop_step"] % 4 == 0 for r in rows)
    assert (home / "tickets.png").is_file() and target.sizes == t1.sizes
    points = summarize(rows)
    assert {(p["variant"], p["round"]) for p in points} >= {("ticket", 0), ("reinit", 0), ("random", 2)}


def test_tickets_run_through_a_sweep_and_average_over_seeds(spec_file, runs_dir, tmp_path):
    runner = CliRunner()
    done = runner.invoke(main, ["sweep", str(spec_file), "seed=1,2", "ticket.rounds=1", "ticket.controls=[reinit]",
                                "train.epochs=1", "--command", "ticket", "--runs-dir", str(runs_dir), "--json"])
    assert done.exit_code == 0, done.output
    folder = json.loads(done.stdout)["run"]
    done = runner.invoke(main, ["ticket", "--summarize", folder, "--out", str(tmp_path / "sum"), "--json"])
    assert done.exit_code == 0, done.output
    points = json.loads(done.stdout)["points"]
    assert {(p["variant"], p["round"], p["n"]) for p in points} == {("ticket", 0, 2), ("ticket", 1, 2),
                                                                     ("reinit", 0, 2), ("reinit", 1, 2)}
    assert (tmp_path / "sum" / "tickets.png").is_file()


def test_a_dynamic_sparse_spec_is_refused_by_ticket(idx_folder, tmp_path):
    spec = spec_from_mapping(tiny_spec(idx_folder, train={"sparse": {"method": "rigl"}}), "s")
    with pytest.raises(UserError, match="train.sparse.method"):
        ticket(spec, root=tmp_path, console=Console(json_mode=True))


def test_rewind_points_round_trip_and_a_file_that_lies_is_refused_naming_the_group(tmp_path):
    import h5py

    from sparana_cli.store.rewind import write_rewind_point

    init, later = Network.xavier([6, 4, 3], seed=1), Network.xavier([6, 4, 3], seed=2)
    write_rewind_point(tmp_path, "init", 0, init)
    path = write_rewind_point(tmp_path, "step", 5, later)
    points = read_rewind(tmp_path)
    assert sorted(points) == ["init", "step"] and points["init"][0] == 0 and rewind_target(points)[0] == 5
    assert all(np.array_equal(a, b) for a, b in zip(rewind_target(points)[1].weights, later.weights))
    write_rewind_point(tmp_path, "init", 0, later)  # replacing one point keeps the other
    assert read_rewind(tmp_path)["step"][0] == 5
    with h5py.File(path, "a") as f:
        del f["step"].attrs["step"]
    with pytest.raises(UserError, match=r"/step needs a step attribute >= 0"):
        read_rewind(tmp_path)
    with h5py.File(path, "a") as f:
        f["step"].attrs["step"] = -1
    with pytest.raises(UserError, match=r"/step needs a step attribute >= 0"):
        read_rewind(tmp_path)
    with h5py.File(path, "a") as f:
        f["step"].attrs["step"] = 5
        f.create_group("later")
    with pytest.raises(UserError) as refused:
        read_rewind(tmp_path)
    assert str(refused.value) == f"{path}: unknown group /later (expected init, step)"


def test_a_tickets_table_that_cannot_be_read_or_lies_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "tickets.csv"
    with pytest.raises(UserError) as refused:
        read_tickets(tmp_path)
    assert str(refused.value) == f"{path}: cannot read (No such file or directory)"
    path.write_text("criterion,variant\nmagnitude,ticket\n")
    with pytest.raises(UserError) as refused:
        read_tickets(tmp_path)
    assert str(refused.value) == (f"{path}: not a tickets table (expected columns criterion, variant, round, remaining, "
                                  "test_accuracy, best_val_accuracy, early_stop_step, seed, run)")


def test_a_sweep_names_only_its_completed_ticket_experiments(tmp_path):
    from sparana_cli.store.ticketfiles import experiment_folders

    def experiment(name, table=True):
        folder = tmp_path / name
        folder.mkdir()
        if table:
            (folder / "tickets.csv").write_text("criterion\n")
        return folder

    done, failed, plain = experiment("done"), experiment("failed"), experiment("plain", table=False)
    assert experiment_folders(done) == [done]
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    with pytest.raises(UserError) as refused:
        experiment_folders(sweep)
    assert str(refused.value) == f"{sweep}: neither a ticket experiment (tickets.csv) nor a sweep folder (sweep.csv)"
    (sweep / "sweep.csv").write_text(f"status,run\ncompleted,{plain}\nfailed,{failed}\ncompleted,\n")
    with pytest.raises(UserError) as refused:
        experiment_folders(sweep)
    assert str(refused.value) == f"{sweep}: its sweep has no completed ticket experiment"
    (sweep / "sweep.csv").write_text(f"status,run\ncompleted,{done}\nfailed,{failed}\ncompleted,{plain}\ncompleted,\n")
    assert experiment_folders(sweep) == [done]


def test_the_run_folders_page_names_every_file_group_and_attribute_a_ticket_experiment_writes(idx_folder, tmp_path):
    import h5py

    spec = spec_from_mapping(tiny_spec(idx_folder, train={"rewind_step": 4, "epochs": 1},
                                       ticket={"rounds": 1, "controls": ["reinit"]}), "s")
    summary = ticket(spec, root=tmp_path, console=Console(json_mode=True))
    page = (Path(__file__).resolve().parent.parent / "docs" / "run-folders.md").read_text()
    names = set()
    for row in summary["rows"]:
        names |= {p.name for p in Path(row["run"]).iterdir()}
        with h5py.File(Path(row["run"]) / "metrics.h5") as f:
            names |= {f"/ticket/{key}" for key in f["ticket"]} | set(f["ticket"].attrs)
    with h5py.File(Path(summary["run"]) / "rewind.h5") as f:
        names |= {f"/{point}/layers" for point in f} | {key for point in f for key in f[point].attrs}
    assert {"rewind.h5", "tickets.csv", "tickets.png", "/step/layers", "/ticket/eval_step"} <= names
    assert sorted(n for n in names if n not in page) == []


@pytest.mark.parametrize("k", [2, 12])  # the run is stopped after step 5: k before the stop, and k after the resume
def test_a_resumed_run_keeps_the_rewind_points_of_an_uninterrupted_one(k, idx_folder, tmp_path):
    from sparana_cli.errors import Interrupted
    from tests.test_resume import stop_after

    spec = spec_from_mapping(tiny_spec(idx_folder, train={"rewind_step": k}), "s")
    whole = train(spec, root=tmp_path / "whole", console=Console(json_mode=True))["run"]
    with pytest.raises(Interrupted) as info:
        train(spec, root=tmp_path / "cut", console=Console(json_mode=True), stop=stop_after(5))
    folder = Path(info.value.summary["run"])
    kept = read_rewind(folder)  # what the interrupted run had captured
    assert kept["init"][0] == 0 and (kept["step"][0] == k if k <= 5 else "step" not in kept)
    resumed = train(None, root=tmp_path / "cut", console=Console(json_mode=True), resume=folder.name)["run"]
    a, b = read_rewind(whole), read_rewind(resumed)
    assert sorted(a) == sorted(b) == ["init", "step"] and a["step"][0] == b["step"][0] == k
    for name in a:
        for x, y in zip(a[name][1].weights + a[name][1].biases, b[name][1].weights + b[name][1].biases, strict=True):
            assert x.tobytes() == y.tobytes()
