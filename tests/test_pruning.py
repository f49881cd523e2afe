"""Choosing weights to remove: exact counts, scopes on hand-checkable matrices, ties, schedules."""

import numpy as np
import pytest

from sparana_cli.analysis.pruning import (
    chosen_matrices,
    keep_highest,
    lowest,
    remove_count,
    remove_to_sparsity,
    step_counts,
    target_sparsities,
    zeros_for,
)
from sparana_cli.errors import UserError

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


def test_lowest_matches_a_stable_sort_for_every_count():
    values = np.random.default_rng(0).random(500)
    rank = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    for k in range(501):
        np.testing.assert_array_equal(lowest(values, k), rank < k, err_msg=f"k={k}")


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


@pytest.mark.parametrize("scope", ["row", "column"])
def test_row_and_column_scope_take_the_highest_and_any_count_from_none_to_all(scope):
    axis = 1 if scope == "row" else 0
    (top,) = remove_count([SCORES], [MASK], 4, scope=scope, highest=True)
    # the highest live weight of each row (0.9, 0.8, 1.0) then the highest second: row 1's 0.7
    # of each column (0.6, 0.8, 0.9, 1.0)
    assert picked(top) == ([0.7, 0.8, 0.9, 1.0] if scope == "row" else [0.6, 0.8, 0.9, 1.0])
    assert top.sum(axis=axis).max() - top.sum(axis=axis).min() <= 1
    (none,) = remove_count([SCORES], [MASK], 0, scope=scope)
    (every,) = remove_count([SCORES], [MASK], int(MASK.sum()), scope=scope)
    assert not none.any()
    np.testing.assert_array_equal(every, MASK)


def test_sparsity_by_layer_ranks_the_whole_matrix_and_every_matrix_gets_its_own():
    first = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    second = np.array([[0.9, 0.05], [0.3, 0.2]])
    a, b = remove_to_sparsity([first, second], [np.ones((2, 4), bool), np.ones((2, 2), bool)], [0.5, 0.75])
    np.testing.assert_array_equal(a, [[True] * 4, [False] * 4])  # the lowest four, all in row 0
    assert sorted(second[b]) == [0.05, 0.2, 0.3]


def test_sparsity_per_row_leaves_rows_already_there_alone():
    (rows,) = remove_to_sparsity([SCORES], [MASK], 0.25, scope="row")  # 1 of 4 zero: rows 1 and 2 already are
    assert picked(rows) == [0.1]


def test_global_scope_ranks_across_layers():
    other = np.array([[0.15, 0.01], [0.95, 0.25]])
    masks = [MASK, np.ones((2, 2), bool)]
    first, second = remove_count([SCORES, other], masks, 4, scope="global")
    assert picked(first) == [0.1, 0.2] and sorted(other[second]) == [0.01, 0.15]
    # sparsity over the pool of 16 weights, 2 already gone: 0.5 -> 8 zero -> 6 more
    first, second = remove_to_sparsity([SCORES, other], masks, 0.5, scope="global")
    assert int(first.sum() + second.sum()) == 6
    assert picked(first) == [0.1, 0.2, 0.3] and sorted(other[second]) == [0.01, 0.15, 0.25]
    first, second = remove_to_sparsity([SCORES, other], masks, [0.5], scope="global")  # one sparsity: the pool's
    assert int(first.sum() + second.sum()) == 6
    first, second = remove_to_sparsity([SCORES, other], masks, 0.1, scope="global")  # 2 of 16 gone already
    assert not first.any() and not second.any()
    third = np.array([[0.02, 0.5]])
    first, second, last = remove_count([SCORES, other, third], masks + [np.ones((1, 2), bool)], 3, scope="global")
    assert picked(first) == [0.1] and list(other[second]) == [0.01] and list(last[0]) == [True, False]


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
    sparse = np.zeros((5, 4), bool)
    sparse[0, :2] = True  # 90% gone: past the target already
    each = target_sparsities([mask, sparse], 0.5, 2)
    assert [[round(t, 4) for t in step] for step in each] == [[0.26, 0.9], [0.5, 0.9]]
    pooled = target_sparsities([mask, sparse], 0.5, 2, pooled=True)  # the pool: (2 + 18) of 120 gone
    np.testing.assert_allclose(pooled, [[1 / 3, 1 / 3], [0.5, 0.5]])  # halfway from 1/6 to 1/2, then there


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


def test_keep_highest_keeps_exactly_the_highest_scores():
    scores = np.array([[0.3, 0.9, 0.1], [0.7, 0.2, 0.8]])
    np.testing.assert_array_equal(keep_highest(scores, 2), [[False, True, False], [False, False, True]])
    assert not keep_highest(scores, 0).any() and keep_highest(scores, 6).all()


def test_chosen_matrices_checks_sorts_and_defaults():
    assert chosen_matrices(None, 4, [0, 1, 2], "prune.layers") == [0, 1, 2]
    assert chosen_matrices([3, 0, 3], 4, [0], "prune.layers") == [0, 3]  # matrices 0..3 of a 4-matrix network
    with pytest.raises(UserError, match=r"prune\.layers.*no layer 4.*0\.\.3"):
        chosen_matrices([1, 4], 4, [0], "prune.layers")
