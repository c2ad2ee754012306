"""Every registered op, driven from tests/op_table.py through trace -> interpreter, type rules and printing."""

from __future__ import annotations

import ast
import re
import warnings

import numpy as np
import pytest

import tracer
from ir import ScalarType, TensorType, verify
from ir.ops import OpKind, all_ops
from ir.passes import infer_types
from tests.op_table import ERRORS, SAMPLES, SCRIPT_SAMPLES, Sample

_BY_ID = {s.id: s for s in SAMPLES + SCRIPT_SAMPLES}
_SCRIPTED = {s.id for s in SCRIPT_SAMPLES}
#: Ops no program text can contain: they run Python that is not part of the program.
_NOT_IN_TABLE = {"python_call", "unused_call"}


def _trace(s: Sample) -> tracer.ScriptFunction:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if s.id in _SCRIPTED:
            return tracer.script(s.fn, s.inputs if s.examples else None)
        # bit-for-bit with eager is the interpreter's contract; numba runs this table in tests/codegen
        return tracer.trace(s.fn, s.inputs).set_backend("interpreter")


@pytest.fixture(scope="module")
def traced() -> dict[str, tracer.ScriptFunction]:
    return {}


def _get(traced: dict, s: Sample) -> tracer.ScriptFunction:
    if s.id not in traced:
        traced[s.id] = _trace(s)
    return traced[s.id]


def assert_same(got, want, where=""):
    """Bit-for-bit equality: same structure, types, shapes, dtypes and values (NaNs equal)."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, tuple) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
        return
    if isinstance(want, (np.ndarray, np.generic)):
        assert isinstance(got, (np.ndarray, np.generic)), f"{where}: {type(got)}"
        assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} != {want.dtype}"
        assert np.shape(got) == np.shape(want), f"{where}: shape {np.shape(got)} != {np.shape(want)}"
        assert np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"), where
    else:
        assert type(got) is type(want) and got == want, f"{where}: {got!r} != {want!r}"


def _all_ops(g) -> set[str]:
    ops = set()
    for _, n in g.nodes():
        ops.add(n.op)
        for b in n.blocks:
            ops |= _all_ops(b)
    return ops


def test_table_covers_every_registered_op():
    ops = {name for name, op in all_ops().items() if op.kind is not OpKind.GRAPH} - _NOT_IN_TABLE
    missing = ops - {s.op for s in SAMPLES + SCRIPT_SAMPLES}
    assert not missing, f"ops without a sample in tests/op_table.py: {sorted(missing)}"


@pytest.mark.parametrize("sample_id", list(_BY_ID))
def test_trace_matches_eager(sample_id, traced):
    s = _BY_ID[sample_id]
    sm = _get(traced, s)
    ops = _all_ops(sm.graph)
    assert s.op in ops, f"{s.op} not recorded; graph has {sorted(ops)}"
    verify(sm.graph)
    assert_same(sm(*s.inputs), s.fn(*s.inputs), sample_id)
    if s.other is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert_same(sm(*s.other), s.fn(*s.other), f"{sample_id} (other sizes)")


#: Samples whose result sizes depend on the data, so rules cannot know them (they say "?").
DATA_DEPENDENT = {"getitem-bool-mask"}


def _compatible(rule, actual, exact: bool) -> bool:
    if isinstance(actual, ScalarType):
        return isinstance(rule, ScalarType) and rule.kind == actual.kind
    if not isinstance(actual, TensorType):  # scripted programs can hold values of unknown type
        return rule == actual
    if exact:
        return rule == actual
    return (isinstance(rule, TensorType) and rule.dtype == actual.dtype
            and (rule.shape is None or all(r in (None, a) for r, a in zip(rule.shape, actual.shape))))


@pytest.mark.parametrize("sample_id", list(_BY_ID))
def test_type_rule_matches_recorded_types(sample_id, traced):
    """Re-deriving every type from the concrete input types gives exactly what running recorded."""
    g = _get(traced, _BY_ID[sample_id]).graph
    inferred = infer_types(g)
    exact = sample_id not in DATA_DEPENDENT
    for nid, node in g.nodes():
        for rule, actual in zip(inferred.node(nid).types, node.types):
            assert _compatible(rule, actual, exact), f"{node.op}: rule gives {rule}, running gave {actual}"


@pytest.mark.parametrize("sample_id", list(_BY_ID))
def test_type_rule_symbolic_batch_is_never_wrong(sample_id, traced):
    """With a symbolic first dim per input, every inferred dim is a symbol of the right size,
    unknown, or the true size: rules may know less, never something wrong."""
    g = _get(traced, _BY_ID[sample_id]).graph
    ins = [g.node(n).types[0] for n in g.input_nodes]
    sizes: dict[str, int] = {}
    sym_types = []
    for i, t in enumerate(ins):
        if isinstance(t, TensorType) and t.shape:
            sizes[f"B{i}"] = t.shape[0]
            t = TensorType(t.dtype, (f"B{i}", *t.shape[1:]))
        sym_types.append(t)
    inferred = infer_types(g, sym_types)
    for nid, node in g.nodes():
        for rule, actual in zip(inferred.node(nid).types, node.types):
            if not isinstance(rule, TensorType) or not isinstance(actual, TensorType):
                continue
            assert rule.dtype in (None, actual.dtype), f"{node.op}: dtype {rule} vs {actual}"
            if rule.shape is None:
                continue
            assert len(rule.shape) == len(actual.shape), f"{node.op}: {rule} vs {actual}"
            for r, a in zip(rule.shape, actual.shape):
                assert r is None or r == a or sizes.get(r) == a, f"{node.op}: {rule} vs {actual}"


@pytest.mark.parametrize("sample_id", list(_BY_ID))
def test_code_is_python_and_graph_text_has_types(sample_id, traced):
    sm = _get(traced, _BY_ID[sample_id])
    tree = ast.parse(sm.code)
    assert isinstance(tree.body[0], ast.FunctionDef) and tree.body[0].name == "forward"
    text = str(sm.graph)
    first_input = sm.graph.node(sm.graph.input_nodes[0]).types[0]
    assert f": {first_input}" in text


@pytest.mark.parametrize("case", ERRORS, ids=[e.id for e in ERRORS])
def test_error_inputs_raise_tracing_error_with_user_line(case):
    with pytest.raises((ValueError, TypeError, IndexError, np.exceptions.AxisError)):
        case.fn(*case.inputs)  # eager NumPy refuses too
    with pytest.raises(tracer.TracingError, match=case.match) as info:
        tracer.trace(case.fn, case.inputs)
    assert re.search(r"op_table\w*\.py:\d+", str(info.value)), "the message names the user's file and line"
