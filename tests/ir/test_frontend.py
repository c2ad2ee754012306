"""The frontend's safety line: unsupported and hostile constructs, in user code and in program text."""

from __future__ import annotations

import importlib.util
import io
import textwrap

import numpy as np
import pytest

import tracer
from ir import ScriptError, TensorType
from ir.frontend import parse_program

# (id, body of `def f(x):`, words the message must contain)
HOSTILE = [
    ("lambda-varargs", "return (lambda *v: v)(x)", "a lambda with *args"),
    ("try", "try:\n    y = x\nexcept Exception:\n    y = x\nreturn y", "'try'"),
    ("with", "with open('f') as fh:\n    pass\nreturn x", "'with'"),
    ("generator-over-array", "return sum(v for v in x)", "for loop over an array"),
    ("setcomp", "return {v for v in range(3)}", "set comprehension"),
    ("global", "global G\nreturn x", "'global'"),
    ("raise-keywords", "raise ValueError(msg='no')", "keyword or * arguments"),
    ("star-args-unknown-length", "return np.add(*x)", "whose length is not known"),
    ("star-kwargs-not-a-dict", "return np.sum(x, **x)", "must come from a dict"),
    ("starred-index", "i = (0,)\nreturn x[*i]", "*args outside a call"),
    ("dunder-import", "return __import__('os').system('echo pwned')", "'__import__'"),
    ("open", "return open('/etc/passwd').read()", "'open'"),
    ("eval", "return eval('x')", "'eval'"),
    ("exec", "exec('y = 1')\nreturn x", "'exec'"),
    ("getattr", "return getattr(np, 'load')('w.npy')", "'getattr'"),
    ("dunder-attribute", "return x.__class__", "'__class__'"),
    ("dunder-chain", "return ().__class__.__bases__", "dunder attribute"),
    ("dict-list-key", "return {[1]: x}", "dict key of type list"),
    ("list-alias-append", "a = [x]\nb = a\nb.append(x)\nreturn a", "held in 2 places"),
    ("set", "return {1, 2}", "set"),
    ("nested-def", "def g(v):\n    return v\nreturn g(x)", "nested def"),
    ("class", "class K:\n    pass\nreturn x", "class definition"),
    ("import", "import os\nreturn x", "import"),
    ("del", "y = x\ndel y\nreturn x", "'del'"),
    ("raise-other-error", "raise ZeroDivisionError('no')", "raises only the built-in"),
    ("raise-bare", "raise", "bare raise"),
    ("raise-from", "raise ValueError('no') from KeyError('k')", "raise ... from"),
    ("yield", "yield x", "yield"),
    ("fstring", "s = f'{x}'\nreturn x", "f-string"),
    ("walrus", "return (y := x)", "walrus"),
    ("setitem-reshaped", "y = x.reshape(-1)\ny[0] = 1.0\nreturn x", "view of 'x' (reshape) that the program cannot"),
    ("setitem-tuple", "t = (x, x)\nt[0] = x\nreturn x", "item assignment into a tuple"),
    ("setattr", "x.k = 1\nreturn x", "assignment to an attribute"),
    ("return-in-loop", "for i in range(3):\n    return x\nreturn x", "return inside a loop"),
    ("for-over-array", "for v in x:\n    pass\nreturn x", "for loop over an array"),
    ("while-else", "while x.sum() > 0:\n    x = x - 1\nelse:\n    x = x\nreturn x", "while ... else"),
    ("numpy-fft", "return np.fft.fft(x)", "fft"),
    ("numpy-load", "return np.load('weights.npy')", "np.load"),
    ("numpy-internals", "return np.lib.stride_tricks.as_strided(x, (2,), (0,))", "as_strided"),
    ("print", "print(x)\nreturn x", "print()"),
    ("array-method", "x.tofile('out.bin')\nreturn x", "tofile"),
    ("match", "match x:\n    case _:\n        pass\nreturn x", "match"),
    ("huge-constant", "return x * (10 ** 10 ** 10)", "too large"),
]


def _user_function(tmp_path, body: str, name: str):
    path = tmp_path / f"user_{name.replace('-', '_')}.py"
    path.write_text("import numpy as np\nG = 1\n\n\ndef f(x):\n" + textwrap.indent(body, "    ") + "\n")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f, path


@pytest.mark.parametrize("case_id, body, words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_user_code_construct_is_a_script_error_naming_it_and_the_line(tmp_path, case_id, body, words):
    fn, path = _user_function(tmp_path, body, case_id)
    with pytest.raises(ScriptError) as info:
        tracer.script(fn)
    message = str(info.value)
    assert words in message, message
    assert f"{path}:" in message, "names the file and line"
    first_bad = message.split("\n")
    assert len(first_bad) >= 2 and first_bad[1].strip(), "shows the offending line's text"
    assert first_bad[1].strip() in path.read_text(), message


@pytest.mark.parametrize("case_id, body, words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_program_text_construct_is_refused_without_running_anything(case_id, body, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "def forward(self, x):\n" + textwrap.indent(body, "    ") + "\n"
    with pytest.raises(ScriptError) as info:
        parse_program(text, {"w": TensorType.of("float32", (3,))})
    assert "<program>" in str(info.value)
    assert list(tmp_path.iterdir()) == [], "nothing was written or run"


@pytest.mark.parametrize(
    "text, words",
    [
        ("import os\n", "only method definitions"),
        ("x = 1\n", "only method definitions"),
        ("def forward(self, x):\n    return x\ndef forward(self, x):\n    return x\n", "defined twice"),
        ("def forward(x):\n    return x\n", "self first"),
        ("def forward(self, x: int):\n    return x\n", "annotations"),
        ("def forward(self, x):\n    return self.secret\n", "no parameter or submodule"),
        ("def forward(self, x):\n    return CONSTANTS.c9\n", "unknown constant"),
        ("def forward(self, x):\n    return self.__dict__\n", "dunder"),
        ("def forward(self, x):\n    return ops.frobnicate(x)\n", "unknown op"),
        ("def forward(self, x):\n    return np.__builtins__\n", "dunder"),
        ("def forward(self, x)\n    return x\n", "not valid Python"),
        ("def forward(self, x):\n    return " + "(" * 300 + "x" + ")" * 300 + "\n", "nest"),
        ("\x00", "not valid Python"),
    ],
)
def test_malformed_or_hostile_program_text(text, words):
    with pytest.raises(ScriptError, match=words):
        parse_program(text, {"w": TensorType.of("float32", (3,))})


def test_program_text_reads_state_constants_and_registered_ops():
    text = (
        "def forward(self, x, k=2):\n"
        "    h = ops.erf(x) * self.enc.layers[1].w + CONSTANTS.c0\n"
        "    return np.sum(h, axis=-1, keepdims=True) * k\n"
    )
    graphs = parse_program(text, {"enc.layers.1.w": TensorType.of("float32", (3,))},
                           {"c0": np.ones(3, np.float32)})
    from runtime.interpreter import run_graph

    out = run_graph(graphs["forward"], [np.zeros((2, 3), np.float32)], {"enc.layers.1.w": np.ones(3, np.float32)})
    np.testing.assert_array_equal(out, np.full((2, 1), 6.0, np.float32))


def _ops_in(graph) -> list[str]:
    ops = []
    for _, node in graph.nodes():
        ops.append(node.op)
        for block in node.blocks:
            ops += _ops_in(block)
    return ops


def _returning_ifs(n: int) -> str:
    # each `if` may return from inside a branch that may also fall through: lifting the rest into
    # both branches would compile it 2**n times
    return "".join(f"if x.sum() > {i}:\n    x = x + 1\n    if x.sum() > 100:\n        return x\n" for i in range(n)) \
        + "y = x * 2\nreturn y"


def test_early_returns_compile_every_statement_once(tmp_path):
    fn, _ = _user_function(tmp_path, _returning_ifs(30), "returning_ifs")
    sm = tracer.script(fn)
    ops = _ops_in(sm.graph)
    assert ops.count("add") == 30 and ops.count("mul") == 1, "one copy of each statement"
    for v in (-1.0, 0.5, 3.0, 60.0):
        x = np.full(3, v, np.float32)
        for backend in ("interpreter", "numba"):
            np.testing.assert_array_equal(sm.set_backend(backend)(x), fn(x))


def test_early_returns_nesting_past_what_the_text_can_indent_is_refused(tmp_path):
    fn, path = _user_function(tmp_path, _returning_ifs(120), "too_deep")
    with pytest.raises(ScriptError, match=r"nest more than 80 deep") as info:
        tracer.script(fn)
    assert str(path) in str(info.value) and "return once" in str(info.value)


def test_branches_returning_different_structures_are_refused_with_one_exit(tmp_path):
    body = "if x.sum() > 0:\n    if x.max() > 1:\n        return x, x\n    x = x + 1\nreturn x"
    fn, _ = _user_function(tmp_path, body, "structures")
    with pytest.raises(ScriptError, match="different structures"):
        tracer.script(fn)


def test_the_deepest_nesting_script_accepts_saves_and_loads(tmp_path):
    depth = 80  # MAX_BLOCK_DEPTH: the printed program must read back under the loader's limits
    body = "".join("    " * i + f"if x.sum() > {i}:\n" for i in range(depth)) + "    " * depth \
        + "x = x[0:2, ::2] * 2.0 + np.maximum(x[0:2, ::2], 1.0)\nreturn x"
    fn, _ = _user_function(tmp_path, body, "deepest")
    sm = tracer.script(fn, (np.ones((4, 4), np.float32),)).set_backend("interpreter")
    buf = io.BytesIO()
    sm.save(buf)
    loaded = tracer.load(io.BytesIO(buf.getvalue()))
    x = np.full((4, 4), 100.0, np.float32)
    np.testing.assert_array_equal(loaded.set_backend("interpreter")(x), fn(x))
