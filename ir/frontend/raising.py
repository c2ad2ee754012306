"""``raise`` and ``assert``: errors the program raises when it runs, and their messages.

``raise E(msg)`` compiles to ``ops.raise_error`` and ends its path like a ``return``: the
transforms treat both as exits (:data:`~ir.frontend.transforms.EXITS`), nothing after it is
compiled, and an ``if`` whose branch raised joins only what the other branch leaves (the raising
branch passes ``ops.undefined()`` on, :meth:`_Raising.join_raised`).  ``assert cond, msg``
compiles to ``ops.check`` when its message is static, else to an ``if`` whose failing branch
raises, so that the message is computed only when the assertion fails, as in Python.  A condition
known while compiling decides then: a true ``assert`` compiles to nothing; a false one, like a
``raise`` that is always reached, still raises only when the program runs (as in TorchScript).
A path that always raises gives ``None`` as its value (a function that always raises returns
``None`` to its caller, whose rest is not compiled).

Only the built-in exceptions of :data:`ir.ops.checks.EXCEPTIONS` may be raised, with no
argument, static arguments, values computed at run time, or one f-string.  The static parts of an
f-string are formatted while compiling; its values computed at run time become the op's arguments
and the fields of a template (``'expected {0} features, got {1!r}'``), formatted only when the
error is raised, as the backend holds them (a size is a Python ``int``, a reduction a NumPy scalar,
as in eager NumPy).  Outside messages an f-string must be static: strings are not run-time values
in programs.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..builder import Builder, Value
from ..ops import get_op
from ..ops.checks import EXCEPTIONS, FORMAT_SPEC
from .containers import _contains_value, _flatten, _unflatten
from .values import _is_literal


class _Raised:
    def __repr__(self) -> str:
        return "<raised>"


#: What a block that always raises gives as its value (``block`` returns ``(True, RAISED)``).
RAISED: Any = _Raised()

_CONVERSIONS = {-1: None, 115: "s", 114: "r", 97: "a"}


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _formattable(v: Any) -> bool:
    if isinstance(v, tuple):
        return all(_formattable(x) for x in v)
    return _is_literal(v) or isinstance(v, (np.generic, np.dtype))


class _Raising:
    """``raise``, ``assert`` and f-strings; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    #: Whether the path being compiled has already raised (what follows is dead); blocks reset it.
    _raised = False

    # -- statements ---------------------------------------------------------------------------------
    def raise_stmt(self, s: ast.Raise) -> None:
        if s.exc is None:
            raise self.error(s, "unsupported construct 'bare raise'",
                             "errors cannot be caught in a program, so there is none to raise again; "
                             "raise ValueError('...') with a message")
        if s.cause is not None and not (isinstance(s.cause, ast.Constant) and s.cause.value is None):
            raise self.error(s, "unsupported construct 'raise ... from ...'", "raise the error alone, or 'from None'")
        kind, arg_nodes = self._exception(s.exc)
        args, message = self._error_args(arg_nodes, s)
        self._emit_error("raise_error", (), kind, args, message, s)

    def assert_stmt(self, s: ast.Assert) -> None:
        cond = self.condition(s.test)
        msg_nodes = [s.msg] if s.msg is not None else []
        if not isinstance(cond, Value):
            if not cond:  # always fails: it raises when the program runs
                args, message = self._error_args(msg_nodes, s)
                self._emit_error("raise_error", (), "AssertionError", args, message, s)
            return

        def failing() -> tuple[list, Any, bool]:
            args, message = self._error_args(msg_nodes, s)
            if not _contains_value(args):
                return args, message, False
            self._emit_error("raise_error", (), "AssertionError", args, message, s)
            return args, message, True

        b_fail, _, (args, message, raised) = self._in_block(failing, node=s)
        if not raised:  # a static message: one op
            self._emit_error("check", (cond,), "AssertionError", args, message, s, ends_path=False)
            return
        b_ok, _, _ = self._in_block(lambda: None, node=s)
        self._region_if(s, cond, b_ok, b_fail, [], [], [])

    def _emit_error(self, op: str, lead: tuple, kind: str, args: list, message: str | None, s: ast.AST,
                    ends_path: bool = True) -> None:
        kwargs: dict[str, Any] = {"kind": kind, "where": self._where(s)}
        if message is not None:
            kwargs["message"] = message
        self.emit(get_op(op), (*lead, *args), kwargs, s)
        if ends_path:
            self._raised = True

    def _where(self, node: ast.AST) -> str:
        loc = self.loc(node)
        src = self.frame.source
        return f"{loc.file}:{loc.line} in {src.qualname}" if loc is not None else src.qualname

    def _exception(self, e: ast.expr) -> tuple[str, list[ast.expr]]:
        """The exception type ``raise e`` names, and the nodes of its arguments."""
        arg_nodes: list[ast.expr] = []
        target = e
        if isinstance(e, ast.Call):
            if e.keywords or any(isinstance(a, ast.Starred) for a in e.args):
                raise self.error(e, "keyword or * arguments to an exception", "pass the message positionally")
            target, arg_nodes = e.func, list(e.args)
        cls = self.expr(target)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise self.error(e, f"raising a {type(cls).__name__}", "raise ValueError('...') or another built-in error")
        if EXCEPTIONS.get(cls.__name__) is not cls:
            base = next((c for c in cls.__mro__ if EXCEPTIONS.get(c.__name__) is c), None)
            fix = f"raise {base.__name__}(...) instead" if base is not None else \
                f"raise one of {', '.join(EXCEPTIONS)}"
            raise self.error(e, f"raising {cls.__qualname__}: a program raises only the built-in "
                             f"{', '.join(EXCEPTIONS)}", fix)
        return cls.__name__, arg_nodes

    def _error_args(self, nodes: list[ast.expr], s: ast.AST) -> tuple[list, str | None]:
        """An exception's arguments: ``(args, None)`` to build ``kind(*args)``, or
        ``(values, template)`` for an f-string with values computed at run time."""
        if len(nodes) == 1 and isinstance(nodes[0], ast.JoinedStr):
            text, template, values = self.fstring(nodes[0])
            return (values, template) if values else ([text], None)
        args = [self.expr(n) for n in nodes]
        for a, n in zip(args, nodes):
            if not (_contains_value(a) or _formattable(a)):
                raise self.error(n, f"an exception argument that is a {type(a).__name__}",
                                 "pass a message string (an f-string may format values)")
        return args, None

    # -- joins --------------------------------------------------------------------------------------
    def join_raised(self, s: ast.If, cond: Value, branches: list, returns: bool) -> tuple[bool, Any] | None:
        """Before an ``if`` joins its branches ``[(builder, env, (returned, value)), ...]``: when both
        raised, emit the ``if`` and end the path (returns ``(True, RAISED)``); when one raised, make
        it pass on what the other leaves (its result when the ``if`` ``returns``, else its
        variables) as ``ops.undefined()`` (returns None)."""
        raised = [value is RAISED for _, _, (_, value) in branches]
        if all(raised):
            (b_then, _, _), (b_else, _, _) = branches
            self._region_if(s, cond, b_then, b_else, [], [], [])
            self._raised = True
            return True, RAISED
        if any(raised):
            i = raised.index(True)
            b, _, _ = branches[i]
            _, other_env, (other_returned, other_value) = branches[1 - i]
            env = self.frame.env
            like = dict(other_env)
            if not returns:
                like = {name: v if env.get(name, RAISED) is v else self._unreachable(b, v, s)
                        for name, v in other_env.items()}
                for name, v in env.items():  # dropped by the other branch: dropped after the if too
                    like.setdefault(name, v)
            value = self._unreachable(b, other_value, s) if returns else None
            branches[i] = (b, like, (other_returned, value))
        return None

    def _unreachable(self, b: Builder, like: Any, node: ast.AST) -> Any:
        """``like`` with each IR value replaced by ``ops.undefined()`` in block ``b``."""
        leaves, shape = _flatten(like)
        if not any(isinstance(v, Value) for v in leaves):
            return like
        saved = self.builder
        self.builder = b
        try:
            return _unflatten(shape, [self.emit(get_op("undefined"), (), {}, node) if isinstance(v, Value) else v
                                      for v in leaves])
        finally:
            self.builder = saved

    # -- f-strings ----------------------------------------------------------------------------------
    def _e_JoinedStr(self, e: ast.JoinedStr) -> Any:
        text, _, values = self.fstring(e)
        if values:
            raise self.error(e, "unsupported construct 'f-string of a value computed at run time'",
                             "strings are not values in programs; such an f-string can only be the message "
                             "of raise or assert")
        return text

    def fstring(self, e: ast.JoinedStr) -> tuple[str, str, list]:
        """``(text, template, values)``: the formatted text when every part is static (``values``
        empty), else the template whose fields ``{i}`` format ``values[i]`` when the program runs."""
        text: list[str] = []
        template: list[str] = []
        values: list[Any] = []
        for part in e.values:
            if isinstance(part, ast.Constant):
                text.append(str(part.value))
                template.append(_escape(str(part.value)))
                continue
            if not isinstance(part, ast.FormattedValue):
                raise self.unsupported(part)
            value = self.expr(part.value)
            conversion = _CONVERSIONS.get(part.conversion)
            spec = ""
            if part.format_spec is not None:
                spec, _, spec_values = self.fstring(part.format_spec)
                if spec_values:
                    raise self.error(part, "a format spec computed at run time", "write the spec as a constant")
            if spec and not FORMAT_SPEC.match(spec):
                raise self.error(part, f"format spec {spec!r} in an f-string",
                                 "use a spec like '>8.3f' (widths and precisions of at most three digits)")
            if _contains_value(value):
                field = str(len(values)) + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                template.append("{" + field + "}")
                values.append(value)
                continue
            if not _formattable(value):
                raise self.error(part, f"an f-string of a {type(value).__name__}",
                                 "format numbers, strings, dtypes and tuples of them")
            shown = {None: lambda v: v, "s": str, "r": repr, "a": ascii}[conversion](value)
            try:
                formatted = format(shown, spec)
            except (ValueError, TypeError) as exc:
                raise self.error(part, f"f-string formatting fails: {exc}") from None
            text.append(formatted)
            template.append(_escape(formatted))
        return "".join(text), "".join(template), values
