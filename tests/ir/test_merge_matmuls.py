"""``ir.passes.merge_sliced_matmuls``: products of one right operand with slices of one array
become one product and slices of it; where that would change what is computed, nothing merges."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracer
from ir import type_of, verify
from ir.passes import PASSES, cse, dce, infer_types, merge_sliced_matmuls, unroll_loops
from ir.passes.merge_matmuls import MAX_EXTRA
from runtime.interpreter import Program
from tests.codegen.helpers import assert_close
from tests.helpers import trace_loosely
from tests.script_models import ElmanRNN

rng = np.random.default_rng(5)


def arr(shape, dtype=np.float32):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return rng.integers(-5, 6, shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def merged(sm, *inputs):
    """The module's program, typed for ``inputs``, before and after the pass."""
    typed = infer_types(sm.graph, [type_of(a) for a in inputs])
    return typed, merge_sliced_matmuls(typed)


def products(g) -> list:
    return [n for _, n in g.nodes() if n.op in ("matmul", "dot")]


def check(sm, *inputs, n_products: int):
    """The pass leaves ``n_products`` products, verifies, and computes what eager does (floats
    within SPEC's bound: only the summation order of a product may change; integers exactly)."""
    typed, g = merged(sm, *inputs)
    verify(g)
    assert len(products(g)) == n_products, g
    got = Program(g).run(inputs, sm._flat_state())
    assert_close(got, Program(typed).run(inputs, sm._flat_state()))
    if n_products == len(products(typed)):
        assert g is typed, "nothing merged: the very graph comes back"
    return g


# -- what merges ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8])
def test_every_step_of_a_sequence_times_one_weight_is_one_product(dtype):
    w = arr((6, 5), dtype)
    sm = trace_loosely(lambda x: sum(x[:, t] @ w for t in range(4)), arr((3, 4, 6), dtype))
    g = check(sm, arr((3, 4, 6), dtype), n_products=1)
    (prod,) = products(g)
    assert str(prod.types[0]).endswith("[12, 5]"), "one 2-d product over all rows of the array"


@pytest.mark.parametrize("index", [
    lambda t: (t,),                          # the leading axis
    lambda t: (slice(None), slice(None), t),  # a middle axis of a 4-d array
    lambda t: (Ellipsis, t, slice(None)),     # through an ellipsis
    lambda t: (t - 3,),                       # negative ints
    lambda t: (slice(None), t, 1),            # two axes indexed, one of them the same for all
])
def test_ints_on_any_axis_but_the_contracted_one(index):
    x = arr((3, 3, 3, 4))
    w = arr((4, 2))
    sm = trace_loosely(lambda x: [x[index(t)] @ w for t in range(3)], x)
    check(sm, x, n_products=1)


@pytest.mark.parametrize("slices", [
    [slice(0, 2), slice(2, 5)],
    [slice(None, None, 2), slice(1, None, 2)],          # interleaved
    [slice(None, None, -1), slice(3, None, -2)],        # negative steps
    [slice(-3, None), slice(None, -3)],                  # negative bounds
    [slice(0, 3), slice(1, 4), slice(2, 5)],             # overlapping
    [slice(1, 3), slice(2, 4)],                          # a part of the axis: the product covers 1:4
    [slice(0, 100), slice(2, 3)],                        # bounds past the end
])
def test_slices_with_steps_bounds_and_overlaps(slices):
    x = arr((5, 2, 3))
    w = arr((3, 4))
    sm = trace_loosely(lambda x: [x[s] @ w for s in slices], x)
    check(sm, x, n_products=1)


def test_a_partly_covered_array_is_multiplied_over_the_slices_bounding_box_only():
    x = arr((2, 10, 3))
    w = arr((3, 4))
    sm = trace_loosely(lambda x: [x[:, t] @ w for t in (4, 5, 6)], x)
    g = check(sm, x, n_products=1)
    (prod,) = products(g)
    assert str(prod.types[0]) == "f32[6, 4]", "the rows of x[:, 4:7] only"


def test_dot_and_a_vector_right_operand():
    x = arr((4, 3, 5))
    w, v = arr((5, 2)), arr((5,))
    check(trace_loosely(lambda x: [np.dot(x[t], w) for t in range(4)], x), x, n_products=1)
    check(trace_loosely(lambda x: [x[t] @ v for t in range(4)], x), x, n_products=1)
    check(trace_loosely(lambda x: [x[:, t] @ v for t in range(3)], x), x, n_products=1)
    check(trace_loosely(lambda x: [x[t, 1] @ w for t in range(4)], x), x, n_products=1)  # 1-d slices


def test_dot_with_a_3d_right_operand_merges_on_any_leading_axis():
    x = arr((4, 3, 5))
    w = arr((2, 5, 6))
    check(trace_loosely(lambda x: [np.dot(x[t], w) for t in range(4)], x), x, n_products=1)


def test_a_batched_right_operand_lets_only_the_rows_merge():
    x = arr((2, 8, 3))
    w = arr((2, 3, 4))
    check(trace_loosely(lambda x: [x[:, 0:4] @ w, x[:, 4:8] @ w], x), x, n_products=1)
    check(trace_loosely(lambda x: [x[..., 0:4, :] @ w, x[..., 4:, :] @ w], x), x, n_products=1)
    # cutting the batch axis (it broadcasts against W's) or dropping the row axis: no merging
    check(trace_loosely(lambda x: [x[0] @ w, x[1] @ w], x), x, n_products=2)
    x4 = arr((2, 8, 3))
    check(trace_loosely(lambda x: [x[:, t:t + 1] @ w for t in range(8)], x4), x4, n_products=1)
    check(trace_loosely(lambda x: [x[:, t] @ w for t in range(8)], x4), x4, n_products=8)


def test_the_scripted_rnn_unrolled_has_one_input_projection():
    sm = tracer.script(ElmanRNN(4, 8), (arr((2, 5, 4)),)).set_backend("interpreter")
    x = arr((3, 6, 4))
    typed = infer_types(sm.graph, [type_of(x)])
    g = dce(cse(unroll_loops(typed)))
    assert len(products(g)) == 12
    out = merge_sliced_matmuls(g)
    verify(out)
    assert len(products(out)) == 7, "one input projection and the six hidden-state products"
    assert_close(Program(out).run((x,), sm._flat_state()), sm(x))


def test_groups_inside_a_loop_body_merge_there():
    w = arr((3, 2))

    def f(x, n: int):
        h = np.zeros(2, np.float32)
        for _ in range(n):
            h = h + x[0] @ w + x[1] @ w
        return h

    sm = tracer.script(f, (arr((2, 3)), 3)).set_backend("interpreter")
    x = arr((2, 3))
    typed = infer_types(sm.graph, [type_of(x), type_of(3)])
    g = merge_sliced_matmuls(typed)
    verify(g)
    (loop,) = [n for _, n in g.nodes() if n.op == "loop"]
    assert len(products(loop.blocks[0])) == 1
    assert_close(Program(g).run((x, 4), sm._flat_state()), sm(x, 4))


# -- what must not merge --------------------------------------------------------------------------
def test_different_weights_do_not_merge():
    x = arr((2, 4, 3))
    w1, w2 = arr((3, 4)), arr((3, 4))
    check(trace_loosely(lambda x: [x[:, 0] @ w1, x[:, 1] @ w1, x[:, 2] @ w2, x[:, 3] @ w2], x), x, n_products=2)
    check(trace_loosely(lambda x: [x[:, 0] @ w1, x[:, 1] @ w2], x), x, n_products=2)


def test_left_operands_that_are_not_slices_of_one_array_do_not_merge():
    x, y = arr((2, 3)), arr((2, 3))
    w = arr((3, 4))
    check(trace_loosely(lambda x, y: [x @ w, y @ w], x, y), x, y, n_products=2)
    check(trace_loosely(lambda x, y: [(x * 2)[0] @ w, x[1] @ w], x, y), x, y, n_products=2)
    check(trace_loosely(lambda x, y: [x[0] @ w, y[1] @ w], x, y), x, y, n_products=2)
    check(trace_loosely(lambda x, y: [x[0] @ w, (x[1] + 1) @ w], x, y), x, y, n_products=2)


def test_a_shared_left_operand_with_sliced_right_operands_does_not_merge():
    w = arr((4, 3))
    x = arr((2, 3, 5))
    check(trace_loosely(lambda x: [w @ x[0], w @ x[1]], x), x, n_products=2)


def test_slices_of_an_array_changed_in_between_do_not_merge():
    w = arr((3, 4))

    def f(x):
        a = x[0] @ w
        x[1] = x[1] * 2.0  # x is another value from here on
        b = x[1] @ w
        x += 1.0
        return a + b + x[2] @ w

    sm = tracer.script(f, (arr((3, 3)),)).set_backend("interpreter")
    x = arr((3, 3))
    typed = infer_types(sm.graph, [type_of(x)])
    g = merge_sliced_matmuls(typed)
    assert g is typed and len(products(g)) == 3
    assert_close(Program(g).run((x.copy(),), {}), f(x.copy()))


def test_a_cut_contracted_axis_does_not_merge():
    x = arr((2, 4, 6))
    w = arr((3, 5))
    check(trace_loosely(lambda x: [x[:, 0, 0:3] @ w, x[:, 1, 3:6] @ w], x), x, n_products=2)
    check(trace_loosely(lambda x: [x[:, 0, :3] @ w, x[:, 1, :3] @ w], x), x, n_products=2)


def test_indices_known_only_at_run_time_or_with_new_axes_do_not_merge():
    w = arr((3, 4))

    def f(x, t: int):
        return x[:, t] @ w + x[:, t + 1] @ w

    sm = tracer.script(f, (arr((2, 4, 3)), 1)).set_backend("interpreter")
    x = arr((2, 4, 3))
    typed = infer_types(sm.graph, [type_of(x), type_of(1)])
    assert merge_sliced_matmuls(typed) is typed
    x = arr((4, 3))
    check(trace_loosely(lambda x: [x[None, 0] @ w, x[None, 1] @ w], x), x, n_products=2)
    check(trace_loosely(lambda x: [x[[0, 1]] @ w, x[[2, 3]] @ w], x), x, n_products=2)


def test_slices_spread_too_thinly_do_not_merge():
    x = arr((2, 16, 3))
    w = arr((3, 4))
    check(trace_loosely(lambda x: [x[:, 0] @ w, x[:, 15] @ w], x), x, n_products=2)
    x = arr((2, 5, 3))
    check(trace_loosely(lambda x: [x[:, 0] @ w, x[:, 2] @ w, x[:, 4] @ w], x), x, n_products=3)  # 5 rows for 3
    sm = trace_loosely(lambda x: [x[:, 0] @ w, x[:, 2] @ w, x[:, 4] @ w], x)
    typed, _ = merged(sm, x)
    assert len(products(merge_sliced_matmuls(typed, max_extra=1.0))) == 1, "max_extra sets the limit"


def test_a_float32_product_that_reaches_float64_keeps_its_own_call():
    x = arr((3, 4, 5))
    w = arr((5, 2))
    check(trace_loosely(lambda x: [(x[:, t] @ w).astype(np.float64) for t in range(4)], x), x, n_products=4)
    check(trace_loosely(lambda x: [x[:, t] @ w * np.float64(2.0) for t in range(4)], x), x, n_products=4)
    # float64 products themselves are merged
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    check(trace_loosely(lambda x: [x[:, t] @ w64 for t in range(4)], x64), x64, n_products=1)


def test_unknown_shapes_are_left_alone():
    x = arr((2, 4, 3))
    w = arr((3, 4))
    sm = trace_loosely(lambda x: [x[:, 0] @ w, x[:, 1] @ w], x)
    g = infer_types(sm.graph, [tracer_type("float32", (None, 4, 3))])
    assert merge_sliced_matmuls(g) is g


def tracer_type(dtype, shape):
    from ir.types import TensorType

    return TensorType.of(dtype, shape)


def test_registered_and_pure():
    assert PASSES["merge_sliced_matmuls"] is merge_sliced_matmuls
    x = arr((2, 4, 3))
    w = arr((3, 4))
    sm = trace_loosely(lambda x: [x[:, t] @ w for t in range(4)], x)
    typed = infer_types(sm.graph, [type_of(x)])
    before = [(nid, n) for nid, n in typed.nodes()]
    merge_sliced_matmuls(typed)
    assert [(nid, n) for nid, n in typed.nodes()] == before


# -- random groups ----------------------------------------------------------------------------------
def _random_item(n: int, r: np.random.Generator):
    if r.random() < 0.4:
        return int(r.integers(-n, n))
    start = int(r.integers(-n - 1, n + 1)) if r.random() < 0.7 else None
    stop = int(r.integers(-n - 1, n + 2)) if r.random() < 0.7 else None
    step = int(r.choice([1, 1, 2, 3, -1, -2])) if r.random() < 0.6 else None
    return slice(start, stop, step)


def _rows(shape, items) -> int:
    """Rows (positions over the non-contracted axes) an index selects."""
    return math.prod(1 if isinstance(i, int) else len(range(*i.indices(n))) for i, n in zip(items, shape))


@pytest.mark.parametrize("seed", range(60))
def test_random_groups_merge_exactly_when_the_bounding_box_is_small_enough(seed):
    r = np.random.default_rng(seed)
    ndim = int(r.integers(2, 5))
    shape = tuple(int(r.integers(1, 5)) for _ in range(ndim - 1)) + (3,)
    dtype = [np.float32, np.float64, np.int64][seed % 3]
    x = arr(shape, dtype)
    w = arr((3, 2), dtype) if r.random() < 0.8 else arr((3,), dtype)
    indices, seen = [], set()
    for _ in range(int(r.integers(3, 6))):
        items = tuple(_random_item(n, r) for n in shape[:-1])
        if not _rows(shape, items) or repr(items) in seen:
            continue  # empty, or drawn before (equal slices are one value after cse)
        if len(w.shape) == 1 and all(isinstance(i, int) for i in items):
            continue  # a vector times a vector: a scalar, not a slice of anything
        seen.add(repr(items))
        indices.append(items)
    if not indices:  # nothing usable drawn: one whole-array product (alone: nothing merges)
        indices = [tuple(slice(None) for _ in shape[:-1])]
    sm = trace_loosely(lambda x: [x[i] @ w for i in indices], x)
    typed, g = merged(sm, x)
    verify(g)
    got = Program(g).run((x,), {})
    assert_close(got, [x[i] @ w for i in indices])
    work = sum(_rows(shape, i) for i in indices)
    lo_hi = []
    for k, n in enumerate(shape[:-1]):
        pos = [p for i in indices for p in ([i[k] % n] if isinstance(i[k], int) else range(*i[k].indices(n)))]
        lo_hi.append(max(pos) + 1 - min(pos))
    expect = 1 if len(indices) > 1 and math.prod(lo_hi) <= (1 + MAX_EXTRA) * work else len(indices)
    assert len(products(g)) == expect
