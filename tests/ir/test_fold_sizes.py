"""``ir.passes.fold_sizes``: what a plan's input types determine (a causal mask) is computed once."""

from __future__ import annotations

import numpy as np
import pytest

from ir import TensorType, type_of
from ir.passes import infer_types, run_passes
from ir.passes.fold import MAX_FOLDED_ELEMENTS
from ir.passes.fold_sizes import creates_arrays, fold_sizes
from tests.ir.test_passes import _run, ops, raw_graph


def masked(x):
    # the NumPy ports of GPT-2: a causal mask from the sequence's length, in every layer
    for _ in range(3):
        mask = (1.0 - np.tri(x.shape[0], dtype=x.dtype)) * -1e10
        x = np.maximum(x @ x.T + mask, 0.0)[:, : x.shape[1]] * 0.01 + x
    return x + np.arange(x.shape[1])


def test_the_mask_is_folded_for_known_sizes_and_computed_the_same():
    x = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    g = run_passes(raw_graph(masked, x))
    assert creates_arrays(g)
    typed = infer_types(g, [type_of(x)])
    out = fold_sizes(typed)
    assert ops(typed).count("arange") == 4 and "arange" not in ops(out)  # np.tri is made of one
    assert not {"dim", "ge", "astype", "sub"} & set(ops(out))  # the sizes and the mask's making are gone
    tables = [out.tensors[n.kwarg("name")] for _, n in out.nodes() if n.op == "constant" and n.kwarg("name")]
    assert sorted(t.shape for t in tables) == [(16,), (16, 16)]  # one mask for the three layers
    np.testing.assert_array_equal(_run(out, x), masked(x))
    assert ops(typed).count("arange") == 4  # pure: the typed graph is unchanged


def test_larger_results_stay_computed_once():
    n = 80  # an 80 x 80 mask: over the folding bound
    assert n * n > MAX_FOLDED_ELEMENTS
    x = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    g = run_passes(raw_graph(masked, x))
    out = fold_sizes(infer_types(g, [type_of(x)]))
    assert ops(out).count("ge") == 1 and ops(out).count("matmul") == 3  # one mask for the three layers
    np.testing.assert_array_equal(_run(out, x), masked(x))


def test_unknown_sizes_are_left_alone():
    x = np.ones((16, 16), np.float32)
    g = run_passes(raw_graph(masked, x))
    typed = infer_types(g, [TensorType.of("float32", ("B", "B"))])
    assert fold_sizes(typed) is typed
    assert not creates_arrays(run_passes(raw_graph(lambda x: x * 2.0, x)))


def test_a_computation_that_raises_is_left_to_raise_when_the_program_runs():
    def f(x):
        return x[:10] + np.ones(x.shape[0] - 20)  # with 4 elements a negative size: NumPy raises

    x = np.ones(4, np.float32)
    g = raw_graph(f, np.ones(30, np.float32))
    out = fold_sizes(infer_types(g, [type_of(x)]))
    assert "ones" in ops(out)
    with pytest.raises(ValueError):
        _run(out, x)
