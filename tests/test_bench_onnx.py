"""The onnxruntime benchmark runs and reports what it says (timings themselves are not tested)."""

import pytest

from bench.onnx_runtime import format_cases, onnx_cases, onnx_rows


def test_onnx_cases_time_both_graphs_and_agree_on_outputs():
    pytest.importorskip("onnxruntime", reason="onnxruntime (the test and onnx extras) is not installed")
    cases = onnx_cases(rows=16, repeats=1)
    assert [c["case"] for c in cases] == ["50% of units dead", "75% of units dead", "90% of units dead"]
    for c in cases:
        assert c["dense_ms"] > 0 and c["shrunk_ms"] > 0 and c["flop_reduction"] > 1
        assert c["max_abs_difference"] < 1e-4  # the shrunk graph computes the dense one's outputs
    assert "ORT shrunk ms" in format_cases(cases)
    assert all(r["row"].startswith("ONNX shrunk vs dense") for r in onnx_rows(rows=16, repeats=1))


def test_widened_networks_give_the_shrunk_networks_outputs():
    import numpy as np

    from bench.inference import dead_unit_network
    from bench.onnx_runtime import widened
    from sparana_cli.analysis.shrink import shrink

    dense = dead_unit_network(0.5)
    small = shrink(dense)
    wide = widened(small, dense.sizes)
    x = np.random.default_rng(0).random((8, 784), dtype=np.float32)
    assert wide.sizes == dense.sizes and np.abs(wide.predict(x) - small.predict(x)).max() < 1e-5
