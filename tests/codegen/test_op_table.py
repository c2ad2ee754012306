"""Every op-table sample (tests/op_table.py) through the numba backend, every op compiled.

Each sample is planned with ``force_kernels`` so that even a lone small op becomes a kernel: the
op's lowering rule is what runs.  Results equal the interpreter's within the SPEC tolerances
(integers and bools exactly), at the traced sizes and at the sample's other sizes.
"""

from __future__ import annotations

import pytest

from codegen.lowering import LOWER, Reduce, Scalar
from ir import TensorType
from ir.ops import OpKind, all_ops
from tests.codegen.helpers import assert_close, run_both, trace_quietly
from tests.op_table import SAMPLES

_BY_ID = {s.id: s for s in SAMPLES}

#: Samples whose op deliberately stays on NumPy under the numba backend, and why.
ON_NUMPY = {
    "pow-int32": "integer power with an array exponent: NumPy raises for negative exponents, kernels cannot raise",
    "fmod-int": "integer fmod: C remainder with NumPy's zero-divisor and INT_MIN % -1 cases; float fmod is a kernel",
}


def test_every_registered_op_has_a_lowering_rule():
    ops = {name for name, op in all_ops().items() if op.kind is not OpKind.GRAPH}
    missing = sorted(ops - {name for name in ops if name in LOWER})
    assert not missing, f"ops without an entry in codegen/lowering.py: {missing}"


@pytest.mark.parametrize("sample_id", list(_BY_ID))
def test_sample_runs_through_numba(sample_id):
    s = _BY_ID[sample_id]
    sm = trace_quietly(s.fn, s.inputs)
    got, want, ex = run_both(sm, s.inputs)
    assert_close(got, want, sample_id)
    plan = ex.plan(s.inputs)
    assert plan is not None
    tensor_op = any(n.op == s.op and isinstance(n.types[0], TensorType) for _, n in sm.graph.nodes() if n.types)
    if isinstance(LOWER.get(s.op), (Scalar, Reduce)) and tensor_op and sample_id not in ON_NUMPY:
        assert s.op in plan.kernel_ops, f"{s.op} did not run in a kernel:\n{plan.describe()}"
    if s.other is not None:
        got, want, _ = run_both(sm, s.other)
        assert_close(got, want, f"{sample_id} (other sizes)")
