"""tracer.script: ``raise``/``assert`` raised when the program runs, ``isinstance``, ``*args`` and
``**kwargs`` at calls, and errors reported where the refused construct is written.

Every model here is scripted with and without example inputs and compared with eager NumPy on
inputs that pass and inputs that raise: the interpreter gives eager's values bit for bit and
eager's exception type and message; the numba backend the same exceptions and values within rtol
1e-5.  The programs go through save and load, and once through a fresh process.
"""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import tracer
from tests.helpers import assert_same, line_of
from tests.script_error_models import Calls, Checked, EarlyExits, Helpers, Kinds, Layers, Modes, NotReady, literals
from tracer import nn

rng = np.random.default_rng(7)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# -- running and comparing -----------------------------------------------------------------------------
def outcome(fn, args):
    """``("ok", result)`` or ``("raised", type, message)`` of ``fn(*args)``."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", tracer.TracerWarning)
            return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return ("raised", type(exc), str(exc))


def assert_outcome(got, want, exact: bool) -> None:
    assert got[0] == want[0], (got, want)
    if want[0] == "raised":
        assert got[1:] == want[1:], (got, want)
        return
    g, w = (got[1], want[1]) if isinstance(want[1], tuple) else ((got[1],), (want[1],))
    assert len(g) == len(w)
    for a, b in zip(g, w):
        if exact:
            assert_same(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def check_everywhere(model, cases, example=None, *, bare=True, roundtrip=True):
    """Script ``model`` without example inputs (``bare``) and with ``example``; each program (and
    its saved and loaded copy) on both backends gives eager's outcome on every case."""
    eager = [outcome(model, c) for c in cases]
    for ex in ((None,) if bare else ()) + ((example,) if example is not None else ()):
        sm = tracer.script(model, ex)
        programs = [sm]
        if roundtrip:
            buf = io.BytesIO()
            tracer.save(sm, buf)
            buf.seek(0)
            loaded = tracer.load(buf)
            assert loaded.code == sm.code
            programs.append(loaded)
        for program in programs:
            for backend in ("interpreter", "numba"):
                program.set_backend(backend)
                for args, want in zip(cases, eager):
                    assert_outcome(outcome(program, args), want, exact=backend == "interpreter")
    return eager


# -- raise and assert ----------------------------------------------------------------------------------
def test_raise_and_assert_raise_when_the_program_runs_with_eagers_message():
    ok = f32(3, 4)
    cases = [(ok,), (f32(2, 5),), (np.full((2, 4), -1e3, np.float32),), (np.full((1, 4), 1e6, np.float32),)]
    eager = check_everywhere(Checked(), cases, example=(f32(2, 4),))
    assert [o[0] for o in eager] == ["ok", "raised", "raised", "raised"]
    assert eager[1][1:] == (ValueError, "expected 4 features, got 5")
    assert eager[2][1:] == (AssertionError, "input below -100")
    assert eager[3][1] is RuntimeError and "batch of 1 (max" in eager[3][2]


def test_the_error_names_the_users_line_and_the_program_keeps_it():
    sm = tracer.script(Checked()).set_backend("interpreter")
    assert "ops.raise_error(" in sm.code and "ops.check(" in sm.code
    models = sys.modules[Checked.__module__].__file__
    where = f"{models}:{line_of(models, 'RAISE_SHAPE')}"
    for program in (sm, tracer.load(io.BytesIO(_saved(sm)))):
        with pytest.raises(ValueError) as info:
            program(f32(2, 5))
        assert str(info.value) == "expected 4 features, got 5"  # exactly eager's message
        assert any(where in note for note in info.value.__notes__), info.value.__notes__


def _saved(sm) -> bytes:
    buf = io.BytesIO()
    tracer.save(sm, buf)
    return buf.getvalue()


def test_called_functions_loops_and_messages_computed_only_when_failing():
    cases = [(np.abs(f32(3, 4)) + 0.1, 2), (np.abs(f32(3, 4)) + 0.1, 4), (-np.abs(f32(3, 4)), 1),
             (np.full((6, 2), 1e4, np.float32), 1), (np.abs(f32(9, 2)) + 0.1, 7)]
    eager = check_everywhere(Helpers(), cases, example=(np.abs(f32(3, 4)) + 0.1, 2))
    assert [o[1] for o in eager[1:]] == [IndexError, ValueError, AssertionError, KeyError]
    assert eager[1][2] == "row 3 of 3" and eager[3][2] == "total 20000 too large for n=1"
    sm = tracer.script(Helpers())
    ops = _ops(sm.graph)
    assert ops.count("raise_error") == 4 and "check" not in ops, "the assert's message is computed in its if"


def _ops(graph) -> list[str]:
    out = []
    for _, n in graph.nodes():
        out.append(n.op)
        for b in n.blocks:
            out += _ops(b)
    return out


@pytest.mark.parametrize("mode, raises", [("sum", False), ("mean", False), ("max", True)])
def test_static_conditions_decide_while_compiling_and_raise_when_run(mode, raises):
    x = f32(3, 2)
    sm = tracer.script(Modes(mode))  # compiles even when the assertion always fails, like TorchScript
    assert ("raise_error" in _ops(sm.graph)) == raises
    assert "check" not in _ops(sm.graph), "a static condition needs no check"
    check_everywhere(Modes(mode), [(x,)], example=(x,))
    if raises:
        with pytest.raises(AssertionError) as info:
            sm(x)
        assert str(info.value) == "unknown mode 'max'"


def test_a_check_in_a_loop_over_modules():
    cases = [(f32(2, 3),), (np.full((2, 3), 1e3, np.float32),)]
    eager = check_everywhere(Layers(), cases, example=cases[0])
    assert eager[1][1:] == (RuntimeError, "layer 0 gives values above 50")
    assert _ops(tracer.script(Layers()).graph).count("raise_error") == 3


def test_a_method_that_always_raises_compiles_and_raises():
    check_everywhere(NotReady(), [(f32(2),)], example=(f32(2),))


def test_raises_next_to_early_returns():
    cases = [(np.full(3, 0.5, np.float32),), (np.full(3, 2.0, np.float32),), (np.full(3, -4.0, np.float32),),
             (np.array([5.0, -1.0, 0.0], np.float32),)]
    eager = check_everywhere(EarlyExits(), cases, example=cases[0])
    assert [o[0] for o in eager] == ["ok", "ok", "ok", "raised"]


def test_raise_in_a_loop_of_a_scripted_function():
    def first_negative(x):
        i = 0
        while i < x.shape[0]:
            if x[i] < 0:
                return i
            i += 1
        raise ValueError("no negative element")

    # a return inside a loop stays refused; the same search written with a flag raises at the end
    with pytest.raises(tracer.ScriptError, match="return inside a loop"):
        tracer.script(first_negative)

    def first_negative_flag(x):
        found = -1
        i = 0
        while i < x.shape[0] and found < 0:
            if x[i] < 0:
                found = i
            i += 1
        if found < 0:
            raise ValueError("no negative element")
        return found

    check_everywhere(first_negative_flag, [(np.array([1.0, -2.0], np.float32),), (np.ones(3, np.float32),)],
                     example=(np.ones(2, np.float32),))


@pytest.mark.parametrize("body, words", [
    ("raise Custom('no')", "raise ValueError(...) instead"),
    ("raise ZeroDivisionError('no')", "raises only the built-in"),
    ("raise x", "raising a"),
    ("raise ValueError(f'{x:{k}}')", "format spec computed at run time"),
    ("raise ValueError(f'{x.sum():9999d}')", "format spec"),
    ("s = f'{x.sum()}'\n    return x", "f-string of a value computed at run time"),
])
def test_refused_raises_name_the_construct_and_the_fix(tmp_path, body, words):
    path = tmp_path / "refused_raise.py"
    path.write_text("import numpy as np\nfrom tests.script_error_models import Custom\n\n\n"
                    f"def f(x, k: int = 3):\n    {body}\n")
    spec = importlib.util.spec_from_file_location("refused_raise", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(tracer.ScriptError, match=r"(?s)" + words.replace("(", r"\(").replace(")", r"\)")) as info:
        tracer.script(module.f)
    assert f"{path}:6" in str(info.value)


def test_program_text_refuses_unknown_kinds_and_unsafe_templates():
    from ir.frontend import parse_program
    from runtime.interpreter import run_graph

    for call, words in [("ops.raise_error(kind='SystemExit')", "kind"),
                        ("ops.raise_error(1, kind='ValueError', message='{0.__class__}')", "value index"),
                        ("ops.raise_error(1, kind='ValueError', message='{0:99999999}')", "format spec"),
                        ("ops.check(True, kind='ValueError', message='{1}')", "value index")]:
        with pytest.raises(tracer.ScriptError, match=words):
            parse_program(f"def forward(self, x):\n    r = {call}\n    return x\n", {})
    # a value of unknown type: the template is checked again before it is ever formatted
    text = ("def forward(self, x):\n    r = ops.raise_error(x, kind='ValueError', message='{0.__class__}')\n"
            "    return x\n")
    graph = parse_program(text, {})["forward"]
    with pytest.raises(ValueError, match="not a value index"):
        run_graph(graph, [f32(2)])


# -- isinstance ----------------------------------------------------------------------------------------
def test_isinstance_of_static_values_and_of_typed_values():
    x = f32(3, 4)
    check_everywhere(Kinds(), [(x,), (x, f32(3, 4)), (x, None, 5)], example=(x,))
    check_everywhere(Kinds(scale="none"), [(x,)])
    sm = tracer.script(Kinds())
    assert "isinstance" not in sm.code, "decided while compiling"


@pytest.mark.parametrize("body, words", [
    ("return x if isinstance(m, np.ndarray) else x * 2.0", "test 'x is None'"),
    ("return x if isinstance(x.sum(), np.ndarray) else x", "may be a ndarray or float32"),
    ("return x if isinstance(t, tuple) else x", "may be a tuple or list"),
    ("return x if isinstance(x, 'ndarray') else x", "isinstance() against"),
])
def test_isinstance_that_cannot_be_decided_is_a_clear_error(tmp_path, body, words):
    path = tmp_path / "kinds_refused.py"
    path.write_text("import numpy as np\nfrom typing import Optional\n\n\n"
                    "def f(x, m: Optional[np.ndarray] = None, t: tuple[int, int] = (1, 2)):\n"
                    f"    {body}\n")
    spec = importlib.util.spec_from_file_location("kinds_refused", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(tracer.ScriptError, match=words.replace("(", r"\(").replace(")", r"\)")) as info:
        tracer.script(module.f, (f32(2, 3),))
    assert f"{path}:6" in str(info.value)


# -- *args and **kwargs ----------------------------------------------------------------------------------
def test_star_args_and_kwargs_at_calls_of_known_functions():
    x = f32(3, 4)
    check_everywhere(Calls(), [(x,), (f32(5, 4),)], example=(x,))
    sm = tracer.script(Calls())
    assert "self.fc.weight" in sm.code and "np.maximum" in sm.code


def test_star_args_and_kwargs_of_list_and_dict_literals():
    x = f32(3)
    check_everywhere(literals, [(x,), (f32(5),)], example=(x,))


def test_star_args_of_a_tuple_argument_and_an_array_of_known_length():
    def f(pair: tuple[np.ndarray, np.ndarray], x):
        return np.add(*pair) + np.subtract(*x)

    # x's length is known from the example inputs only
    check_everywhere(f, [((f32(3), f32(3)), f32(2, 3))], example=((f32(3), f32(3)), f32(2, 3)), bare=False)


def test_binding_errors_are_pythons():
    def takes_two(a, b, *, c=1):
        return a + b * c

    def too_many(x):
        return takes_two(x, x, x)

    def unknown_keyword(x):
        return takes_two(x, x, d=2)

    def twice(x):
        return takes_two(x, *(x,), b=x)

    for fn, words in [(too_many, "takes 2 positional arguments but 3 were given"),
                      (unknown_keyword, "unexpected keyword argument 'd'"),
                      (twice, "multiple values for argument 'b'")]:
        with pytest.raises(tracer.ScriptError, match=words):
            tracer.script(fn, (f32(2),))


def test_a_compiled_method_signature_stays_plain():
    class Star(nn.Module):
        def forward(self, *xs):
            return xs[0]

    with pytest.raises(tracer.ScriptError, match=r"\*args/\*\*kwargs' in the signature of a compiled method"):
        tracer.script(Star())


# -- errors at the line where the construct is written --------------------------------------------------
HELPER = '''\
import numpy as np


def helper(x):
    y = x * 2.0  # HELPER_OK
    with open("weights.bin") as fh:  # HELPER_BAD
        pass
    return y


def fft_helper(x):
    return np.fft.fft(x)  # FFT_BAD


def fine(x):
    return np.exp(x) + 1.0  # FINE_EXP
'''

MODEL = '''\
import numpy as np
from tracer import nn
from {helpers} import helper, fft_helper, fine


class Sub(nn.Module):
    def forward(self, x):
        y = x + 1.0
        del y  # SUB_BAD
        return y


class Model(nn.Module):
    def __init__(self, which):
        super().__init__()
        self.which = which
        self.sub = Sub()

    def method(self, x):
        try:  # METHOD_BAD
            y = x
        except ValueError:
            y = x
        return y

    def forward(self, x):
        if self.which == "helper":
            return helper(x)
        if self.which == "sub":
            return self.sub(x)
        if self.which == "method":
            return self.method(x)
        if self.which == "fft":
            return fft_helper(x)
        return fine(x) * 2.0  # FORWARD_MUL
'''


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    name = f"helpers_{os.getpid()}_{id(tmp_path)}"
    (tmp_path / f"{name}.py").write_text(HELPER)
    (tmp_path / "user_model.py").write_text(MODEL.format(helpers=name))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("user_model", tmp_path / "user_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, str(tmp_path / f"{name}.py"), str(tmp_path / "user_model.py")
    sys.modules.pop(name, None)


@pytest.mark.parametrize("which, file, marker, words", [
    ("helper", "helpers", "HELPER_BAD", "'with'"),
    ("sub", "model", "SUB_BAD", "'del'"),
    ("method", "model", "METHOD_BAD", "'try'"),
    ("fft", "helpers", "FFT_BAD", "fft"),
])
def test_a_construct_refused_in_a_called_function_is_reported_at_its_own_line(user_files, which, file, marker, words):
    module, helpers_path, model_path = user_files
    path = helpers_path if file == "helpers" else model_path
    with pytest.raises(tracer.ScriptError) as info:
        tracer.script(module.Model(which))
    message = str(info.value)
    assert words in message
    assert f"{path}:{line_of(path, marker)}" in message, message
    assert marker in message, "quotes the construct's own line"
    assert "self.which" not in message and "def forward" not in message, message


def test_nodes_of_called_functions_record_their_own_file_and_line(user_files):
    module, helpers_path, model_path = user_files
    sm = tracer.script(module.Model("fine"))
    locs = {n.op: str(n.loc) for _, n in sm.graph.nodes() if n.loc is not None}
    assert locs["exp"] == f"{helpers_path}:{line_of(helpers_path, 'FINE_EXP')}"
    assert locs["mul"] == f"{model_path}:{line_of(model_path, 'FORWARD_MUL')}"


# -- a fresh process --------------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    import tracer
    m = tracer.load(sys.argv[1], _restore_shapes=True)
    for backend in ("interpreter", "numba"):
        m.set_backend(backend)
        print(backend, "ok", float(np.asarray(m(np.ones((2, 4), np.float32))).sum()))
        for bad in (np.ones((2, 5), np.float32), np.full((2, 4), -1e3, np.float32)):
            try:
                m(bad)
            except Exception as e:
                print(backend, type(e).__name__, str(e), "|", " ".join(getattr(e, "__notes__", [])))
    assert not any(name.startswith("tests") for name in sys.modules), "the model's code was imported"
    """
)


@pytest.mark.slow
def test_saved_checks_raise_in_a_fresh_process(tmp_path):
    model = Checked()
    sm = tracer.script(model, (f32(2, 4),))
    path = tmp_path / "checked.pt"
    sm.save(path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    want = float(np.asarray(model(np.ones((2, 4), np.float32))).sum())
    for backend in ("interpreter", "numba"):
        ok, shape_error, value_error = [line for line in lines if line.startswith(backend)]
        assert abs(float(ok.split()[-1]) - want) <= 1e-5 * max(1.0, abs(want))
        assert shape_error.startswith(f"{backend} ValueError expected 4 features, got 5 |")
        assert f"{sys.modules[Checked.__module__].__file__}:" in shape_error, "the note names the user's line"
        assert value_error.startswith(f"{backend} AssertionError input below -100 |")
