"""``ir.passes.copy_shared_transposes``: a ``W.T`` shared by small products is read through one
contiguous copy; values stay bit for bit, and only the uses that qualify move."""

from __future__ import annotations

import numpy as np
import pytest

import tracer
from ir import type_of, verify
from ir.passes import PASSES, copy_shared_transposes, cse, dce, infer_types, unroll_loops
from ir.passes.transposed_weights import MAX_BYTES, MAX_ROWS
from runtime.interpreter import Program
from tests.helpers import trace_loosely
from tests.script_models import ElmanRNN
from tracer import nn

rng = np.random.default_rng(9)


def arr(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


class Shared(nn.Module):
    """``uses`` products by one linear layer's weight, one per row block of the input."""

    def __init__(self, d_in: int, d_out: int, uses: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)
        self.uses = uses

    def forward(self, x):
        return tuple(x[k] @ self.lin.weight.T for k in range(self.uses))


def rewritten(sm, *inputs):
    typed = infer_types(sm.graph, [type_of(a) for a in inputs])
    g = copy_shared_transposes(typed)
    verify(g)
    got, want = Program(g).run(inputs, sm._flat_state()), Program(typed).run(inputs, sm._flat_state())
    for a, b in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        np.testing.assert_array_equal(a, b)
    return typed, g


def copied_uses(g) -> int:
    """Products whose right operand is a ``copy``."""
    return sum(1 for nid, n in g.nodes() if n.op in ("matmul", "dot") and g.node(g.inputs(nid)[1][0]).op == "copy")


def test_the_unrolled_rnn_reads_its_weights_through_copies():
    sm = tracer.script(ElmanRNN(8, 16), (arr(2, 5, 8),)).set_backend("interpreter")
    x = arr(4, 12, 8)
    g = dce(cse(unroll_loops(infer_types(sm.graph, [type_of(x)]))))
    out = copy_shared_transposes(g)
    verify(out)
    assert [n.op for _, n in out.nodes()].count("copy") == 2, "one copy per weight, made once"
    assert copied_uses(out) == 24
    np.testing.assert_array_equal(Program(out).run((x,), sm._flat_state()), sm(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [2, 16, MAX_ROWS - 1])
def test_small_products_sharing_a_transpose_are_rewritten(rows, dtype):
    uses = max(3, -(-16 // rows))  # rows adding up to twice the weight's 8
    x = arr(uses, rows, 8, dtype=dtype)
    m = Shared(8, 4, uses)
    m.lin.weight = m.lin.weight.astype(dtype)
    sm = trace_loosely(m, x)
    _, g = rewritten(sm, x)
    assert copied_uses(g) == uses


def test_what_is_left_alone():
    # one use; one row (gemv); too many rows; rows adding up to less than twice the weight's
    for d_in, uses, rows in ((8, 1, 16), (8, 3, 1), (8, 3, MAX_ROWS), (64, 3, 16)):
        x = arr(uses, rows, d_in)
        typed, g = rewritten(trace_loosely(Shared(d_in, 4, uses), x), x)
        assert g is typed, (d_in, uses, rows)
    # a weight over MAX_BYTES
    n = int(np.sqrt(MAX_BYTES // 4)) + 8
    x = arr(2, 200, n)
    typed, g = rewritten(trace_loosely(Shared(n, n, 2), x), x)
    assert g is typed


def test_integer_products_and_3d_transposes_are_left_alone():
    w = np.arange(12, dtype=np.int64).reshape(3, 4)

    def ints(x):
        return x[0] @ np.transpose(w + 0), x[1] @ np.transpose(w + 0)

    x = np.ones((2, 8, 4), np.int64)
    typed, g = rewritten(trace_loosely(ints, x), x)
    assert g is typed
    w3 = arr(2, 3, 4)

    def batched(x):
        t = np.transpose(w3 * 1.0, (0, 2, 1))
        return x[0] @ t, x[1] @ t

    x = arr(2, 8, 4)
    typed, g = rewritten(trace_loosely(batched, x), x)
    assert g is typed


def test_only_right_operands_that_qualify_move():
    m = Shared(8, 4, 3)

    def f(x, y):
        wt = m.lin.weight.T * 1.0  # not a transpose node: nothing to copy
        return x[0] @ wt, x[1] @ wt

    x, y = arr(3, 16, 8), arr(4, 16)
    typed, g = rewritten(trace_loosely(f, x, y), x, y)
    assert g is typed

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, x):
            wt = self.lin.weight.T
            return x[0] @ wt, x[1] @ wt, x[2] @ wt, wt @ x[0].T, wt + 1.0, x[3, 0] @ wt

    x = arr(4, 16, 8)
    _, g = rewritten(trace_loosely(Mixed(), x), x)
    assert copied_uses(g) == 3, "the left operand, the add and the one-row product keep the view"
    (t,) = [nid for nid, n in g.nodes() if n.op == "transpose" and g.node(g.inputs(nid)[0][0]).op == "param"]
    assert sorted(g.node(u).op for u in g.users(t)) == ["add", "copy", "matmul", "matmul"]


def test_a_float32_product_reaching_float64_keeps_the_view():
    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 4)

        def forward(self, x):
            wt = self.lin.weight.T
            return (x[0] @ wt).astype(np.float64), (x[1] @ wt).astype(np.float64), x[2] @ wt

    x = arr(3, 16, 8)
    typed, g = rewritten(trace_loosely(Wide(), x), x)
    assert g is typed, "two of three uses reach float64: one use left, not worth a copy"


def test_registered():
    assert PASSES["copy_shared_transposes"] is copy_shared_transposes
