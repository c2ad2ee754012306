"""``ir.passes.merge_split_products``: products of one left operand by the pieces of one split
weight (attention's query, key and value projections) become one product, its split bias added
once, and column slices of it; where that would change what is computed, nothing merges."""

from __future__ import annotations

import numpy as np
import pytest

from ir import type_of, verify
from ir.passes import PASSES, merge_split_products
from ir.passes.merge_split_products import has_split_products
from runtime.interpreter import Program
from tests.codegen.helpers import assert_close
from tests.helpers import trace_loosely
from tracer import nn

rng = np.random.default_rng(11)


def arr(shape, dtype=np.float32):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return rng.integers(-5, 6, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


class Pieces(nn.Module):
    """``fn(self, x)`` as a module, so that ``w`` and ``b`` are parameters (not folded)."""

    def __init__(self, fn, w, b=None):
        super().__init__()
        self.fn, self.w = fn, w
        if b is not None:
            self.b = b

    def forward(self, x):
        return self.fn(self, x)


def ops(g) -> list[str]:
    return [n.op for _, n in g.nodes()]


def check(sm, *inputs, n_products: int, n_adds: int | None = None):
    """The pass leaves ``n_products`` products (and ``n_adds`` adds), verifies, and computes what
    the program computed before (floats within SPEC's bound, integers exactly)."""
    from ir.passes import infer_types

    typed = infer_types(sm.graph, [type_of(a) for a in inputs])
    g = merge_split_products(typed)
    verify(g)
    assert ops(g).count("matmul") == n_products, g
    if n_adds is not None:
        assert ops(g).count("add") == n_adds, g
    assert_close(Program(g).run(inputs, sm._flat_state()), Program(typed).run(inputs, sm._flat_state()))
    if n_products == ops(typed).count("matmul"):
        assert g is typed, "nothing merged: the very graph comes back"
    return g


# -- what merges ----------------------------------------------------------------------------------
def test_multihead_attention_projects_query_key_and_value_in_one_product():
    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(16, 4)

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    model = SelfAttention()
    model.mha.in_proj_bias[...] = arr(48)
    x = arr((2, 5, 16))
    sm = trace_loosely(model, x)
    assert has_split_products(sm.graph)
    # in: one (x @ W.T + b); attention: scores and weights @ v; out_proj
    g = check(sm, x, n_products=4)
    whole = [n for _, n in g.nodes() if n.op == "matmul" and n.types[0].shape == (2, 5, 48)]
    assert len(whole) == 1
    assert "split" not in ops(g), "the split weight and bias are read whole"
    assert_close(Program(g).run((x,), sm._flat_state()), model(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_pieces_without_bias_and_uneven_sections(dtype):
    def f(self, x):
        a, b, c = np.split(self.w, [2, 7])
        return (x @ a.T).sum(-1) + (x @ b.T).sum(-1) + (x @ c.T).max(-1)

    sm = trace_loosely(Pieces(f, arr((9, 4), dtype)), arr((3, 4), dtype))
    g = check(sm, arr((3, 4), dtype), n_products=1)
    assert ops(g).count("getitem") == 3


def test_column_pieces_of_a_weight_split_along_its_second_axis():
    def f(self, x):
        a, b = np.split(self.w, 2, axis=1)
        bias_a, bias_b = np.split(self.b, 2)
        return (x @ a + bias_a) * (bias_b + x @ b)  # the bias once after, once before

    sm = trace_loosely(Pieces(f, arr((4, 6)), arr(6)), arr((2, 3, 4)))
    # the two adds put the bias on different sides: the product merges, the adds stay
    check(sm, arr((2, 3, 4)), n_products=1, n_adds=2)

    def g(self, x):
        a, b = np.split(self.w, 2, axis=-1)
        bias_a, bias_b = np.split(self.b, 2)
        return (bias_a + x @ a) * (bias_b + x @ b)

    sm = trace_loosely(Pieces(g, arr((4, 6)), arr(6)), arr((2, 3, 4)))
    check(sm, arr((2, 3, 4)), n_products=1, n_adds=1)


# -- what does not ----------------------------------------------------------------------------------
def test_products_of_different_left_operands_or_of_some_pieces_stay():
    def two_inputs(self, x):
        a, b = np.split(self.w, 2)
        return x @ a.T, (x * 2.0) @ b.T

    sm = trace_loosely(Pieces(two_inputs, arr((6, 4))), arr((3, 4)))
    check(sm, arr((3, 4)), n_products=2)

    def some_pieces(self, x):
        a, b, _ = np.split(self.w, 3)
        return x @ a.T + x @ b.T  # the third piece is never multiplied: the whole product would be

    sm = trace_loosely(Pieces(some_pieces, arr((6, 4))), arr((3, 4)))
    check(sm, arr((3, 4)), n_products=2)

    def twice(self, x):
        a, b = np.split(self.w, 2)
        return (x @ a.T) @ (x @ b.T).T @ (x @ a.T)

    sm = trace_loosely(Pieces(twice, arr((6, 4))), arr((3, 4)))
    g = check(sm, arr((3, 4)), n_products=3)  # cse shares x @ a.T: pieces 0 and 1 merge
    assert sum(1 for _, n in g.nodes() if n.op == "matmul" and n.types[0].shape == (3, 6)) == 1


def test_an_empty_piece_or_mismatched_bias_pieces():
    def empty(self, x):
        a, b, c = np.split(self.w, [3, 3])  # b is empty
        return (x @ a.T).sum() + (x @ b.T).sum() + (x @ c.T).sum()

    sm = trace_loosely(Pieces(empty, arr((6, 4))), arr((3, 4)))
    check(sm, arr((3, 4)), n_products=3)

    def crossed(self, x):
        a, b = np.split(self.w, 2)
        ba, bb = np.split(self.b, 2)
        return (x @ a.T + bb) * (x @ b.T + ba)  # each piece gets the other's bias

    sm = trace_loosely(Pieces(crossed, arr((6, 4)), arr(3 * 2)), arr((3, 4)))
    check(sm, arr((3, 4)), n_products=1, n_adds=2)


def test_a_float32_product_reaching_float64_keeps_its_own_product():
    def f(self, x):
        a, b = np.split(self.w, 2)
        return (x @ a.T).astype(np.float64) + (x @ b.T)

    sm = trace_loosely(Pieces(f, arr((6, 4))), arr((3, 4)))
    check(sm, arr((3, 4)), n_products=2)


def test_the_pass_is_registered_and_needs_no_types_to_say_no():
    assert PASSES["merge_split_products"] is merge_split_products
    sm = trace_loosely(lambda x: x @ x.T, arr((3, 4)))
    assert not has_split_products(sm.graph)
