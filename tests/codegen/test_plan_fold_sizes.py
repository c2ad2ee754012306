"""Plans fold what their input types determine (``ir.passes.fold_sizes``): a GPT-2 port's causal
mask is made once, when planned, and each input length gets its own."""

from __future__ import annotations

import numpy as np

from codegen.plan import HostStep, PlanOptions
from tests.codegen.helpers import assert_close, run_both, trace_quietly
from tracer import nn


class Attention(nn.Module):
    def __init__(self, d=32, layers=2):
        super().__init__()
        rng = np.random.default_rng(0)
        self.ws = [(rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32) for _ in range(layers)]
        for i, w in enumerate(self.ws):
            setattr(self, f"w{i}", w)

    def forward(self, x):
        for i in range(len(self.ws)):
            mask = (1.0 - np.tri(x.shape[0], dtype=x.dtype)) * -1e10
            scores = (x @ getattr(self, f"w{i}")) @ x.T / np.sqrt(x.shape[-1]) + mask
            e = np.exp(scores - scores.max(axis=-1, keepdims=True))
            x = x + (e / e.sum(axis=-1, keepdims=True)) @ x
        return x


def test_the_mask_is_no_step_of_the_plan_and_each_length_gets_its_own():
    m = Attention()
    x16 = np.random.default_rng(1).standard_normal((16, 32)).astype(np.float32)
    sm = trace_quietly(m, (x16,))
    for n in (16, 24, 9):
        x = np.random.default_rng(n).standard_normal((n, 32)).astype(np.float32)
        got, want, ex = run_both(sm, (x,), PlanOptions())
        assert_close(got, want, f"length {n}")
        assert_close(got, m(x), f"length {n} against eager")
        steps = ex.compiled((x,)).plan.steps
        assert not [s for s in steps if isinstance(s, HostStep) and s.op in ("arange", "sub", "getitem")], n
