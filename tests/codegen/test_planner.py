"""The planner's own bookkeeping (``codegen.plan`` and its parts): what it reuses within one plan."""

from __future__ import annotations

import numpy as np

import codegen.frames as frames
import tracer
from codegen import plan as plan_module
from codegen.frames import Frames
from codegen.kernels import KernelSpec, KNode, Mem, generate
from codegen.plan import plan_graph
from ir import type_of
from tracer import nn

STEPS = 12


class _Cell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ih = nn.Linear(8, 16)
        self.hh = nn.Linear(16, 16)

    def forward(self, x):
        h = np.zeros((x.shape[0], 16), np.float32)
        for t in range(STEPS):
            h = np.tanh(self.ih(x[:, t]) + self.hh(h))
        return h


def test_identical_kernels_are_generated_once_per_plan(monkeypatch):
    x = np.random.default_rng(0).standard_normal((4, 12, 8)).astype(np.float32)
    cell = _Cell()
    sm = tracer.trace(cell, x)
    calls = []

    def counting(spec):
        calls.append(spec)
        return generate(spec)

    monkeypatch.setattr(frames, "generate", counting)
    plan = plan_graph(sm.graph, [type_of(x)])
    assert len(plan.kernel_steps) >= 12
    assert len(calls) == len(set(calls)) == len(plan.kernels)
    np.testing.assert_allclose(sm(x), cell(x), rtol=1e-5, atol=1e-6)


def test_specs_equal_but_for_the_type_of_a_literal_get_their_own_source():
    def spec(value):
        node = KNode("add", "full", (("mem", 0), ("lit", value)), stores=(1,), out="float64", loop="float64")
        return KernelSpec(1, 0, (Mem("float64", ("1",), "x"), Mem("float64", ("1",), "out")), (), (node,), "k")

    holder = type("Holder", (), {"sources": {}})()
    int_one, float_one, true = spec(1), spec(1.0), spec(True)
    assert int_one == float_one == true  # dataclass equality: 1 == 1.0 == True
    for s in (int_one, float_one, true, int_one):
        assert Frames.source_of(holder, s) == generate(s)
    assert len(holder.sources) == 3


def test_plan_module_keeps_every_public_name():
    for name in plan_module.__all__:
        assert hasattr(plan_module, name), name


def test_tensor_of_agrees_with_is_concrete():
    from codegen.layout import tensor_of
    from ir import ScalarType, TensorType

    f32 = np.dtype(np.float32)
    for t in (TensorType(f32, (2, 3)), TensorType(f32, ()), TensorType(f32, None), TensorType(None, (2,)),
              TensorType(f32, ("B", 3)), TensorType(f32, (None, 3)), ScalarType("int"), None):
        assert (tensor_of(t) is not None) == (isinstance(t, TensorType) and t.is_concrete), t
        assert tensor_of(t) is None or tensor_of(t) is t


class _Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2048, 32)
        self.fc2 = nn.Linear(32, 512)

    def forward(self, x):
        y = np.tanh(x * 2.0)  # (64, 2048) in the arena, dead once fc1 has read it...
        return self.fc2(self.fc1(y)).sum(axis=1)  # ...while fc2's column blocks need scratch


def test_kernel_scratch_goes_where_no_value_is_live():
    """A transposed matmul block's scratch (``Gemm.swap``) reuses arena memory of values that are
    dead during that kernel instead of growing the arena past them."""
    from codegen.blas import find_blas

    x = np.random.default_rng(1).standard_normal((64, 2048)).astype(np.float32)
    model = _Stack()
    sm = tracer.trace(model, x)
    plan = plan_graph(sm.graph, [type_of(x)])
    blas = find_blas()
    if blas is None or not blas.private:
        return  # no column-split matmuls (no private BLAS): nothing to place
    assert plan.scratch_bytes, plan.describe()
    assert plan.arena_bytes == plan.scratch_offset, plan.describe()  # within the values' own memory
    np.testing.assert_allclose(sm(x), model(x), rtol=1e-4, atol=1e-3)
