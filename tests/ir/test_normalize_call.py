"""``normalize_call`` gives what binding to the op's signature gives, with its fast path for calls
of exactly the required positional arguments and the path through ``inspect`` alike."""

from __future__ import annotations

import inspect

import pytest

from ir.ops import all_ops, normalize_call, registry


def _slow(op, args, kwargs):
    saved = registry._required_positional
    registry._required_positional = lambda sig: -1  # always bind through inspect
    try:
        return normalize_call(op, args, kwargs)
    finally:
        registry._required_positional = saved


def _outcome(fn, *a):
    try:
        return fn(*a)
    except TypeError:
        return TypeError


def test_every_registered_op_normalizes_positional_calls_as_binding_does():
    checked = fast = 0
    for op in all_ops().values():
        if op.signature is None:
            continue
        n_params = len(op.signature.parameters)
        for k in range(n_params + 2):
            args = tuple(f"a{i}" for i in range(k))
            assert _outcome(normalize_call, op, args, {}) == _outcome(_slow, op, args, {}), (op.name, k)
            checked += 1
            fast += k == registry._required_positional(op.signature)
    assert checked and fast  # the fast path was taken


@pytest.mark.parametrize("source, args, kwargs", [
    ("def f(a, b, c=1): ...", ("x", "y"), {}),
    ("def f(a, b, c=1): ...", ("x", "y", 1), {}),
    ("def f(a, b, c=1): ...", ("x", "y", 2), {}),
    ("def f(a, b, c=1): ...", ("x",), {}),
    ("def f(a, /, b, *, c): ...", ("x", "y"), {}),
    ("def f(a, /, b, *, c=3): ...", ("x", "y"), {}),
    ("def f(a, *rest, key=None): ...", ("x",), {}),
    ("def f(a, *rest, key=None): ...", ("x", "y"), {}),
    ("def f(a, **kw): ...", ("x",), {}),
    ("def f(a, b=2, *rest): ...", ("x",), {}),
    ("def f(*xs): ...", (), {}),
    ("def f(a, b): ...", ("x",), {"b": "y"}),
])
def test_signatures_of_every_shape(source, args, kwargs):
    ns: dict = {}
    exec(source, ns)  # a test's own literal source
    sig = inspect.signature(ns["f"])

    class Op:  # what normalize_call reads of an OpDef
        signature = sig

    assert _outcome(normalize_call, Op, args, kwargs) == _outcome(_slow, Op, args, kwargs)
