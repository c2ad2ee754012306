"""Round trip for every program in the test suite: parse(print(g)) equals g, and prints the same text."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracer
from ir import print_code, structurally_equal, type_of
from ir.frontend import parse_program
from runtime.interpreter import run_graph
from tests.op_table import SAMPLES, SCRIPT_SAMPLES
from tests.script_models import CASES, EXAMPLES


def _programs():
    for s in SAMPLES:
        yield f"trace:{s.id}", (lambda s=s: tracer.trace(s.fn, s.inputs)), s.inputs
    for s in SCRIPT_SAMPLES:
        yield f"script:{s.id}", (lambda s=s: tracer.script(s.fn, s.inputs)), s.inputs
    for name, make, inputs in CASES:
        yield f"script:{name}", (lambda make=make, name=name: tracer.script(make(), EXAMPLES.get(name))), inputs[0]
    from tests.e2e.test_models import CNN, EncoderBlock, MHABlock

    for cls, shape in ((CNN, (2, 3, 12, 12)), (EncoderBlock, (2, 5, 32)), (MHABlock, (2, 5, 32))):
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        yield f"trace:{cls.__name__}", (lambda cls=cls, x=x: tracer.trace(cls().eval(), (x,))), (x,)


PROGRAMS = list(_programs())


@pytest.mark.parametrize("name, make, inputs", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_round_trip(name, make, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracer.TracerWarning)
        sm = make()
    state = {k: type_of(v) for k, v in sm.state_dict().items()}
    for method, g in sm.graphs.items():
        text = print_code(g)
        ins = [g.node(n).types[0] for n in g.input_nodes]
        g2 = parse_program(text, state, _all_tensors(g), {method: ins})[method]
        assert print_code(g2) == text
        assert structurally_equal(g, g2), f"{name}.{method} changed:\n{text}"
    g2 = parse_program(sm.code, state, _all_tensors(sm.graph), {})["forward"]  # without input types too
    got = run_graph(g2, inputs, sm.state_dict())
    want = sm.set_backend("interpreter")(*inputs)  # bit-for-bit: both on the interpreter
    for a, b in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        np.testing.assert_array_equal(a, b)


def _all_tensors(g) -> dict:
    out = dict(g.tensors)
    for _, n in g.nodes():
        for b in n.blocks:
            out.update(_all_tensors(b))
    return out
