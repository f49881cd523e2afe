"""Choosing weights to remove: exact counts, scopes on hand-checkable matrices, ties, schedules."""

import numpy as np
import pytest

from sparana_cli.analysis.pruning import (
    lowest,
    remove_count,
    remove_to_sparsity,
    step_counts,
    target_sparsities,
    zeros_for,
)

# scores of a 3x4 layer; X marks a weight already pruned (mask False)
SCORES = np.array([[0.5, 0.1, 0.9, 0.3],
                   [0.2, 0.8, 0.4, 0.7],
                   [0.6, 0.05, 0.35, 1.0]])
MASK = np.array([[True, True, True, True],
                 [True, True, False, True],   # 0.4 is already gone
                 [True, False, True, True]])  # 0.05 is already gone


def picked(chosen):
    return sorted(float(v) for v in SCORES[chosen])


def test_lowest_is_exact_and_breaks_ties_by_index():
    values = np.array([3.0, 1.0, 2.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(lowest(values, 3), [False, True, False, True, False, True])
    assert lowest(values, 0).sum() == 0 and lowest(values, 6).all()
    with pytest.raises(ValueError):
        lowest(values, 7)


def test_layer_scope_takes_the_lowest_live_weights():
    (chosen,) = remove_count([SCORES], [MASK], 3)
    assert picked(chosen) == [0.1, 0.2, 0.3]  # 0.05 is not live, so it is not counted
    assert not (chosen & ~MASK).any()
    (top,) = remove_count([SCORES], [MASK], 2, highest=True)
    assert picked(top) == [0.9, 1.0]


def test_row_scope_spreads_the_count_over_rows():
    (chosen,) = remove_count([SCORES], [MASK], 4, scope="row")
    # one per row first (0.1, 0.2, 0.35), then the lowest second-round candidate: row 0's 0.3
    assert picked(chosen) == [0.1, 0.2, 0.3, 0.35]
    np.testing.assert_array_equal(chosen.sum(axis=1), [2, 1, 1])


def test_column_scope_spreads_the_count_over_columns():
    (chosen,) = remove_count([SCORES], [MASK], 5, scope="column")
    # lowest live per column: 0.2, 0.1, 0.35 (0.4 is gone), 0.3; then the lowest second: 0.5 (column 0)
    assert picked(chosen) == [0.1, 0.2, 0.3, 0.35, 0.5]
    np.testing.assert_array_equal(chosen.sum(axis=0), [2, 1, 1, 1])


def test_row_scope_skips_exhausted_rows():
    mask = np.array([[True, False, False, False], [True, True, True, True], [True, True, True, True]])
    (chosen,) = remove_count([SCORES], [mask], 6, scope="row")
    np.testing.assert_array_equal(chosen.sum(axis=1), [1, 2, 3])


def test_sparsity_per_row_and_column_counts_earlier_pruning():
    (rows,) = remove_to_sparsity([SCORES], [MASK], 0.5, scope="row")  # 2 of 4 zero in every row
    np.testing.assert_array_equal((~MASK | rows).sum(axis=1), [2, 2, 2])
    assert picked(rows) == [0.1, 0.2, 0.3, 0.35]
    (cols,) = remove_to_sparsity([SCORES], [MASK], 0.6, scope="column")  # 2 of 3 zero in every column
    np.testing.assert_array_equal((~MASK | cols).sum(axis=0), [2, 2, 2, 2])
    assert picked(cols) == [0.1, 0.2, 0.3, 0.35, 0.5, 0.7]


def test_global_scope_ranks_across_layers():
    other = np.array([[0.15, 0.01], [0.95, 0.25]])
    masks = [MASK, np.ones((2, 2), bool)]
    first, second = remove_count([SCORES, other], masks, 4, scope="global")
    assert picked(first) == [0.1, 0.2] and sorted(other[second]) == [0.01, 0.15]
    # sparsity over the pool of 16 weights, 2 already gone: 0.5 -> 8 zero -> 6 more
    first, second = remove_to_sparsity([SCORES, other], masks, 0.5, scope="global")
    assert int(first.sum() + second.sum()) == 6


@pytest.mark.parametrize("scope", ["layer", "row", "column"])
def test_exact_counts_on_a_large_layer(scope):
    rng = np.random.default_rng(0)
    scores = rng.random((300, 200)).astype(np.float32)
    scores[:, :50] = 0.5  # many ties
    mask = rng.random(scores.shape) > 0.2
    (chosen,) = remove_count([scores], [mask], 12345, scope=scope)
    assert int(chosen.sum()) == 12345 and not (chosen & ~mask).any()
    (chosen,) = remove_to_sparsity([scores], [mask], 0.9, scope="layer")
    assert int((~mask | chosen).sum()) == zeros_for(0.9, scores.size)


def test_sparsity_already_reached_removes_nothing():
    (chosen,) = remove_to_sparsity([SCORES], [MASK], 0.1)
    assert not chosen.any()


def test_schedules_add_up():
    assert step_counts(10, 3) == [3, 3, 4] and sum(step_counts(7, 7)) == 7
    mask = np.ones((10, 10), bool)
    mask[0, :20 // 10] = False  # 2% already gone
    targets = target_sparsities([mask], 0.5, 4)
    assert [round(t[0], 4) for t in targets] == [0.14, 0.26, 0.38, 0.5]


def test_equal_scores_are_taken_in_index_order():
    """With heavy ties, the selection is exactly the live weights ordered by (score, index): reproducible by rule."""
    rng = np.random.default_rng(3)
    scores = np.round(rng.random((50, 40)), 1)  # heavy ties
    mask = rng.random(scores.shape) > 0.3
    removed = remove_count([scores], [mask], 333, scope="layer")[0]
    live = np.flatnonzero(mask)
    expected = np.zeros(scores.size, bool)
    expected[live[np.argsort(scores.reshape(-1)[live], kind="stable")[:333]]] = True
    np.testing.assert_array_equal(removed.reshape(-1), expected)
    for scope, axis in (("row", 1), ("column", 0)):
        removed = remove_count([scores], [mask], 333, scope=scope)[0]
        assert removed.sum() == 333 and not (removed & ~mask).any()
        for line in range(scores.shape[1 - axis]):  # within a row (column), a tie never skips a lower index
            s, r, m = (a.take(line, axis=1 - axis) for a in (scores, removed, mask))
            for value in np.unique(s[r]):
                tied = np.flatnonzero(m & (s == value))
                taken = np.flatnonzero(r & (s == value))
                np.testing.assert_array_equal(taken, tied[:len(taken)])
