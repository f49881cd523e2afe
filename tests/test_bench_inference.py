"""The inference benchmark runs and reports what it says (timings themselves are not tested)."""

from bench.inference import dead_unit_network, format_rows, inference_rows
from sparana_cli.analysis.shrink import shrink


def test_dead_unit_network_has_the_dead_units_it_claims():
    small = shrink(dead_unit_network(0.75))
    assert all(240 <= w <= 250 for w in small.sizes[1:-1])  # 250 left, a few more may die in the cascade


def test_inference_rows_smoke():
    rows = inference_rows(rows=32, repeats=1)
    assert {r["bench"] for r in rows} == {"shrink", "csr"}
    for r in rows:
        assert r["baseline_ms"] > 0 and r["candidate_ms"] > 0 and r["flop_reduction"] > 1
        assert abs(r["efficiency"] - r["speedup"] / r["flop_reduction"]) < 1e-9
    assert "speed-up" in format_rows(rows)
