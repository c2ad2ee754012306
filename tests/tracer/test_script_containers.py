"""tracer.script with lists, dicts and comprehensions.

Lists and dicts the compiler can count (literals, comprehensions over static iterables, appends in
straight-line code or in loops over tuples and ModuleLists) stay Python containers while compiling;
ones that grow in a loop that runs at run time are values of the program (``ops.list_append``).
Every case runs scripted with and without example inputs, on the interpreter (bit for bit with
eager) and the numba backend (within SPEC's tolerance), and after save/load.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import tracer
from ir import verify
from tests.e2e.test_archive_e2e import run_fresh
from tracer import nn

rng = np.random.default_rng(12)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# -- the programs -------------------------------------------------------------------------------------
def literals(x, y):
    xs = [x, x * 2.0, y]
    d = {"a": x, "b": y, 3: x - y}
    return (xs[0] + xs[-1] * len(xs), np.stack(xs), np.concatenate(xs[1:]), d["a"] * d[3], len(d), "b" in d,
            4 not in d, x[[0, 2]], xs == [x, xs[1], y])


def lists_into_numpy(x):
    n, d = x.shape
    a = x.reshape([-1, 3])
    parts = np.split(x, [1], axis=1)
    return (a.transpose([1, 0]), np.hstack([x, x]), np.vstack([x, x]), parts[1], np.pad(x, [(1, 1), (0, 0)]),
            np.tile(x, [2, 1]), np.zeros([2, 3]) + 1.0, np.concatenate([x, x], axis=1), x[:, [0, 2]])


def list_methods(x):
    xs = [x]
    for k in (1.0, 2.0, 3.0):
        xs.append(x * k)
    xs.extend([x + 1.0, x - 1.0])
    xs += [x * 0.5]
    xs.insert(1, -x)
    last = xs.pop()
    mid = xs.pop(2)
    ys = xs.copy()
    ys.reverse()
    ys[0] = ys[0] * 10.0
    zs = [x] * 2 + ys[:1]
    n = [1, 2, 3, 2].count(2) + [4, 5, 6].index(5)
    return np.stack(xs), np.stack(ys), last, mid, n, len(xs), np.stack(zs)


def starred(x):
    xs = [x, x * 2.0, x * 3.0]
    first, *rest = xs
    *init, last = (x, x + 1.0)
    ys = [*rest, first, *init]
    outs = []
    for t in range(x.shape[0]):
        outs.append(x[t])
    return np.stack(ys), len((*xs, last)), last, np.stack([*outs, x[0]])


def dict_methods(x):
    d = {"a": x, "b": x * 2.0}
    d["c"] = d["a"] + d["b"]
    d.update({"e": x * 3.0})
    d.setdefault("a", x * 100.0)
    f = d.setdefault("f", x)
    e = d.pop("e")
    total = x * 0.0
    for _k, v in d.items():
        total = total + v
    vals = list(d.values())
    merged = {**d, "g": e}
    both = dict(d) | {"h": x}
    return (total, np.stack(vals), d.get("zz", x) + d.get("a"), tuple(d.keys()), len(merged), f,
            dict(a=x)["a"], len(both))


def comprehensions(x):
    ys = [x * i for i in range(4)]
    evens = [y for i, y in enumerate(ys) if i % 2 == 0]
    pairs = [a + b for a in ys[:2] for b in ys[2:]]
    sq = {i: y * y for i, y in zip(range(3), ys)}
    total = sum(y.sum() for y in ys)
    sizes = tuple(y.shape[0] for y in ys)
    return np.stack(evens), np.stack(pairs), sq[2], total, sizes, len(sq)


def runtime_comprehension(x):
    n = x.shape[0]
    rows = [x[i] * 2.0 for i in range(n)]
    pos = [x[i] for i in range(n) if x[i].sum() > 0]
    return np.stack(rows), len(pos), np.concatenate(pos + [x[0]])


def rnn_outputs(x, w):
    """The issue's RNN: the outputs of every step, over a sequence whose length is known when it runs."""
    h = np.zeros((x.shape[0], w.shape[1]), dtype=np.float32)
    outs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ w + h * 0.5)
        outs.append(h)
    return np.stack(outs, axis=1)


def runtime_list_ops(x):
    n, _ = x.shape
    outs = []
    for t in range(n):
        outs.append(x[t] * t)
    last = outs[-1]
    rest = outs[1:]
    acc = x[0] * 0.0
    for o in outs:
        acc = acc + o
    both = outs + [x[0]]
    copy = list(outs)
    copy.append(x[0])
    tail = copy.pop()
    return (len(outs), last, np.stack(rest), acc, np.concatenate(both), np.hstack(outs), np.vstack(outs),
            len(copy), tail, outs[n - 1])


def branches(x):
    xs = [x]
    if x.sum() > 0:
        xs.append(x * 2.0)
    ys = [x, x]
    if x.max() > 0.5:
        ys[0] = x * 3.0
    d = {"a": x}
    if x.min() < 0:
        d["a"] = -x
    else:
        d["a"] = x + 1.0
    return np.stack(xs), len(xs), np.stack(ys), d["a"]


def runtime_dicts(x, ids):
    hs = {}
    hs[-1] = x[0] * 0.0
    for t in range(ids.shape[0]):
        hs[t] = np.tanh(hs[t - 1] + x[ids[t]])
    return hs[ids.shape[0] - 1], len(hs), 0 in hs, hs.get(100, x[0])


def nested(x):
    d = {"h": [], "c": {"n": 0}}
    for scale in (1.0, 2.0):
        d["h"].append(x * scale)
    d["c"]["n"] += 1
    acc = {"outs": []}
    for t in range(x.shape[0]):
        acc["outs"].append(x[t])
    grid = [[x, x], [x * 2.0]]
    grid[1].append(x * 3.0)
    return np.stack(d["h"]), d["c"]["n"], np.stack(acc["outs"]), np.stack(grid[1])


def dict_argument(d: dict[str, np.ndarray], scale: float = 2.0):
    total = d["a"] * scale
    for _k, v in d.items():
        total = total + v.sum()
    return total, len(d), "b" in d, d.get("c", d["a"])


def dict_argument_any_keys(d: dict[str, np.ndarray]):
    return d["a"] + d.get("b", 0.0), len(d), "b" in d, np.stack(list(d.values()))


def list_argument(xs: list[np.ndarray]):
    outs = [v * 2.0 for v in xs]
    return np.stack(outs), len(xs), xs[-1]


def zip_and_isinstance(xs: list, x):
    pairs = [a * b for a, b in zip(xs, xs)]
    outs = []
    for t in range(x.shape[0]):
        outs.append(x[t])
    doubled = [o * 2.0 for o in outs]
    d = {}
    for t in range(x.shape[0]):
        d[t] = x[t]
    total = x[0] * 0.0
    for v in d.values():
        total = total + v
    return np.stack(pairs), np.stack(doubled), total, isinstance(outs, list), isinstance(d, dict)


def returns_containers(x):
    return [x, x * 2.0], {"a": x, "n": [x + 1.0]}


class Stack(nn.Module):
    """A ModuleList comprehension, outputs collected layer by layer, a dict result."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

    def forward(self, x):
        feats = [layer(x) for layer in self.layers]
        outs = []
        h = x
        for layer in self.layers:
            h = np.tanh(layer(h))
            outs.append(h)
        return {"feats": np.stack(feats), "last": outs[-1], "all": outs}


W = f32(3, 5)
IDS = np.array([2, 0, 1, 2], dtype=np.int64)

# name -> (function or module factory, argument tuples; the first is the example input)
CASES = {
    "literals": (lambda: literals, [(f32(3), f32(3)), (f32(5), f32(5))]),
    "lists_into_numpy": (lambda: lists_into_numpy, [(f32(2, 3),), (f32(5, 3),)]),
    "list_methods": (lambda: list_methods, [(f32(3),), (f32(2),)]),
    "starred": (lambda: starred, [(f32(3),), (f32(5),)]),
    "dict_methods": (lambda: dict_methods, [(f32(3),), (f32(4),)]),
    "comprehensions": (lambda: comprehensions, [(f32(3),), (f32(6),)]),
    "runtime_comprehension": (lambda: runtime_comprehension, [(f32(4, 3),), (f32(7, 3),)]),
    "rnn_outputs": (lambda: rnn_outputs, [(f32(2, 6, 3), W), (f32(3, 11, 3), W)]),
    "runtime_list_ops": (lambda: runtime_list_ops, [(f32(4, 3),), (f32(6, 3),)]),
    "branches": (lambda: branches, [(np.abs(f32(3)) + 0.6,), (-np.abs(f32(3)),), (np.full(3, 0.1, np.float32),)]),
    "runtime_dicts": (lambda: runtime_dicts, [(f32(3, 4), IDS), (f32(3, 4), IDS[:2])]),
    "nested": (lambda: nested, [(f32(3, 2),), (f32(5, 2),)]),
    "dict_argument_any_keys": (lambda: dict_argument_any_keys,
                               [({"a": f32(3), "b": f32(3)},), ({"a": f32(3)},)]),
    "list_argument": (lambda: list_argument, [([f32(3), f32(3)],), ([f32(3), f32(3), f32(3)],)]),
    "zip_and_isinstance": (lambda: zip_and_isinstance, [([f32(3), f32(3)], f32(4, 3)), ([f32(3), f32(3)], f32(2, 3))]),
    "returns_containers": (lambda: returns_containers, [(f32(3),), (f32(2),)]),
    "stack_module": (lambda: Stack().eval(), [(f32(2, 4),), (f32(5, 4),)]),
}
#: Cases whose other inputs have sizes or keys the example inputs do not fit (run on the first only).
_SIZES_DIFFER = {"list_argument", "dict_argument_any_keys"}
#: Cases that need example inputs (``zip`` over a list argument needs its length; ``np.pad`` a dtype).
_EXAMPLES_ONLY = {"zip_and_isinstance", "lists_into_numpy"}


def assert_same(got, want, exact=True):
    """``got`` equals ``want``: containers item by item, arrays bit for bit (or within SPEC's tolerance)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (got, want)
        for k in want:
            assert_same(got[k], want[k], exact)
        return
    if isinstance(want, (tuple, list)):
        assert isinstance(got, type(want)) and len(got) == len(want), (type(got), got, want)
        for g, w in zip(got, want):
            assert_same(g, w, exact)
        return
    if isinstance(want, (bool, int, float, str)) and not isinstance(want, np.generic):
        assert got == want and type(got) is type(want), (got, want)
        return
    g, w = np.asarray(got), np.asarray(want)
    assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
    if exact:
        np.testing.assert_array_equal(g, w)
    else:
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def _eager(obj, args):
    return obj(*args)


def _script(obj, example):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallbacks, no baked sizes
        return tracer.script(obj, example)


def _variants(name):
    make, inputs = CASES[name]
    obj = make()
    if name not in _EXAMPLES_ONLY:
        yield "no-examples", obj, _script(obj, None), inputs
    if name not in _SIZES_DIFFER:
        yield "examples", obj, _script(obj, inputs[0]), inputs
    else:
        yield "examples", obj, _script(obj, inputs[0]), inputs[:1]


@pytest.mark.parametrize("name", list(CASES))
def test_interpreter_equals_eager_bit_for_bit(name):
    for _, obj, sm, inputs in _variants(name):
        for g in sm.graphs.values():
            verify(g)
        sm.set_backend("interpreter")
        for args in inputs:
            assert_same(sm(*args), _eager(obj, args))


@pytest.mark.parametrize("name", list(CASES))
def test_numba_backend_within_tolerance(name):
    for _, obj, sm, inputs in _variants(name):
        sm.set_backend("numba")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # every list op has a lowering entry: no fallback warning
            for args in inputs:
                assert_same(sm(*args), _eager(obj, args), exact=False)


@pytest.mark.parametrize("name", list(CASES))
def test_save_load_round_trip(name):
    for _, obj, sm, inputs in _variants(name):
        buf = io.BytesIO()
        tracer.save(sm, buf)
        buf.seek(0)
        loaded = tracer.load(buf, _restore_shapes=bool(sm.example_inputs)).set_backend("interpreter")
        assert loaded.code == sm.code
        for args in inputs:
            assert_same(loaded(*args), _eager(obj, args))


def test_static_containers_leave_no_list_ops():
    for name in ("literals", "list_methods", "dict_methods", "comprehensions", "nested"):
        code = _script(CASES[name][0](), None).code
        if name == "nested":  # the one list grown in a run-time loop
            assert code.count("ops.list_append") == 1 and "ops.dict_" in code
            continue
        assert "ops.list_" not in code and "ops.dict_" not in code, code


def test_rnn_outputs_grow_one_list_in_the_loop_at_two_lengths():
    sm = _script(rnn_outputs, (f32(2, 6, 3), W)).set_backend("interpreter")
    assert "ops.list_append(outs" in sm.code and "ops.list_stack(outs, axis=1)" in sm.code
    assert [n.op for _, n in sm.graph.nodes()].count("loop") == 1
    for t in (1, 6, 13):
        x = f32(2, t, 3)
        np.testing.assert_array_equal(sm(x, W), rnn_outputs(x, W))
    loop = next(n for _, n in sm.graph.nodes() if n.op == "loop")
    assert "list[f32[2, 5]]" in [str(t) for t in loop.types], "the carried list keeps its element type"


@pytest.mark.slow
def test_rnn_outputs_load_in_a_fresh_process(tmp_path):
    sm = _script(rnn_outputs, (f32(2, 6, 3), W))
    x = f32(3, 9, 3)
    (got,) = run_fresh(tmp_path, sm, (x, W))
    np.testing.assert_allclose(got, rnn_outputs(x, W), rtol=1e-5, atol=1e-6)


def test_dict_argument_keys_from_example_inputs():
    d = {"a": f32(3), "b": f32(3)}
    sm = _script(dict_argument, (d,)).set_backend("interpreter")
    assert_same(sm(d), dict_argument(d))
    assert_same(sm(d, 0.5), dict_argument(d, 0.5))
    assert "ops.dict_with_keys(d, ('a', 'b')" in sm.code, "the keys the program relies on are checked"
    with pytest.raises(tracer.GuardError, match=r"keys \['a', 'b'\].*keys \['a'\]"):
        sm({"a": d["a"]})
    buf = io.BytesIO()
    tracer.save(sm, buf)
    buf.seek(0)
    loaded = tracer.load(buf, _restore_shapes=True)
    assert_same(loaded.example_inputs["forward"][0], d)
    assert_same(loaded(d), dict_argument(d), exact=False)
    with pytest.raises(tracer.ScriptError, match="items\\(\\) of a dict whose keys are known only when"):
        tracer.script(dict_argument)  # without example inputs the keys are not known


def test_list_and_dict_types_print_and_parse_back():
    from ir.types import DictType, ListType, TensorType, parse_type

    for t in (ListType(TensorType.of("float32", ("B", 8))), DictType("int", TensorType.of("float64", (16, 1))),
              DictType.of([("a", TensorType.of("float32", (3,))), (2, ListType(TensorType.of("int64", None)))])):
        assert parse_type(str(t)) == t
    assert str(ListType(TensorType.of("float32", ("B", 8)))) == "list[f32[B, 8]]"


# -- what stays refused ------------------------------------------------------------------------------------
def alias_append(x):
    a = [x]
    b = a
    b.append(x)
    return a


def _push(lst, v):
    lst.append(v)


def callee_appends(x):
    outs = [x]
    _push(outs, x * 2.0)
    return outs


def zip_runtime(x):
    outs = []
    for t in range(x.shape[0]):
        outs.append(x[t])
    return [a + b for a, b in zip(outs, outs)]


def unpack_runtime(x):
    outs = []
    for t in range(x.shape[0]):
        outs.append(x[t])
    a, b = outs
    return a + b


def sum_runtime(x):
    outs = []
    for t in range(x.shape[0]):
        outs.append(x[t])
    return np.sum(outs)


def missing_key(x):
    d = {"a": x}
    return d["zz"]


def tuple_key(x):
    return {(1, 2): x}


def set_literal(x):
    return {1, 2}


def set_comprehension(x):
    return {v for v in range(3)}


def repeat_runtime(x):
    return [x] * x.shape[0]


def write_into_listed_array(x):
    outs = []
    for t in range(x.shape[0]):
        h = x[t] * 1.0
        outs.append(h)
        h[0] = 1.0
    return np.stack(outs)


REFUSED = [
    (alias_append, None, "held in 2 places", "b.append(x)"),
    (callee_appends, None, "the calling function also holds", "lst.append(v)"),
    (zip_runtime, None, "iterating a list or dict whose length is known only when the program runs", "zip(outs"),
    (unpack_runtime, None, "unpacking a list or dict whose length is known only when", "a, b = outs"),
    (sum_runtime, None, "np.sum() of a list whose length is known only when the program runs", "np.sum(outs)"),
    (missing_key, None, "has no key 'zz'", 'd["zz"]'),
    (tuple_key, None, "dict key of type tuple", "(1, 2): x"),
    (set_literal, None, "unsupported construct 'set'", "{1, 2}"),
    (set_comprehension, None, "unsupported construct 'set comprehension'", "{v for v in range(3)}"),
    (repeat_runtime, None, "repeating a list a number of times known only when the program runs", "[x] * x"),
    (write_into_listed_array, None, "which this loop also puts into a list",
     "h[0] = 1.0"),
]


@pytest.mark.parametrize("fn, example, words, line", REFUSED, ids=[r[0].__name__ for r in REFUSED])
def test_refused_with_the_construct_file_line_and_fix(fn, example, words, line):
    with pytest.raises(tracer.ScriptError) as info:
        tracer.script(fn, example)
    message = str(info.value)
    assert words in message, message
    assert f"{__file__}:" in message, message
    assert line in message.split("\n")[1], message
    assert len(message.split("\n")) >= 3, "says what to write instead"
