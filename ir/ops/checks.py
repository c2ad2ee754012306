"""The program's own errors: ``raise`` and ``assert`` in scripted code, raised when the program runs.

``raise_error(*args, kind=..., message=None, where=...)`` raises the built-in exception ``kind``
when it is reached; ``check(cond, *args, ...)`` raises it when ``cond`` is false (an ``assert``).
The exception is built like the user's: ``kind(*args)`` when ``message`` is ``None``, else
``kind(message.format(*args))``: ``message`` is an f-string turned into a template whose fields
``{0}``, ``{1!r}``, ``{2:.3f}`` are the values computed when the program runs.  ``where`` (the
user's ``file:line``) is attached as a note (``BaseException.add_note``), so ``str(error)`` is
exactly what eager Python gives.

Only a closed set of exception types can be named (:data:`EXCEPTIONS`), and templates are
checked field by field (:func:`check_template`): program text comes from archives, and
``str.format`` could otherwise read attributes (``{0.__class__}``) or build huge strings
(``{0:999999999}``).
"""

from __future__ import annotations

import re
import string

from ..types import ScalarType
from .registry import OpKind, defop

# Like ``guard`` (ops/scalar.py), these are Python-scalar ops: ELEMENTWISE, run on the host.

__all__ = ["EXCEPTIONS", "FORMAT_SPEC", "check_template", "make_error"]

#: The exception types a program may raise, by name (the name is what program text stores).
EXCEPTIONS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (ValueError, RuntimeError, TypeError, IndexError, KeyError, AssertionError, NotImplementedError)
}

#: A format spec of one template field: ``[[fill]align][sign][#][0][width][,|_][.precision][type]``,
#: widths and precisions of at most three digits.
FORMAT_SPEC = re.compile(r"(?:[^{}]?[<>=^])?[+\- ]?#?0?\d{0,3}[,_]?(?:\.\d{1,3})?[bcdeEfFgGnosxX%]?\Z")
MAX_FIELDS = 64


def check_template(message: object, n_args: int) -> None:
    """Refuse a ``message`` that is not ``None`` or a safe template over ``n_args`` values.

    >>> check_template("got {0} of {1!r}, {0:>8.3f}", 2)
    >>> check_template("{0.__class__}", 1)
    Traceback (most recent call last):
    ...
    ValueError: message field '0.__class__' is not a value index below 1
    """
    if message is None:
        return
    if not isinstance(message, str):
        raise ValueError(f"message must be a str or None, got {type(message).__name__}")
    try:
        fields = list(string.Formatter().parse(message))
    except ValueError as exc:
        raise ValueError(f"message {message[:60]!r} is not a valid template: {exc}") from None
    if len(fields) > MAX_FIELDS + 1:
        raise ValueError(f"message has more than {MAX_FIELDS} fields")
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if not (name.isdigit() and name.isascii() and int(name) < n_args):
            raise ValueError(f"message field {name!r} is not a value index below {n_args}")
        if conversion not in (None, "r", "s", "a"):
            raise ValueError(f"message field {name!r} has conversion {conversion!r}")
        if spec and not FORMAT_SPEC.match(spec):
            raise ValueError(f"message field {name!r} has format spec {spec!r}; use one like '>8.3f'")


def _check_kind(kind: object) -> type[Exception]:
    cls = EXCEPTIONS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"kind {str(kind)[:40]!r} is not one of {', '.join(EXCEPTIONS)}")
    return cls


def make_error(kind: str, args: tuple, message: str | None, where: str) -> Exception:
    """The exception ``raise_error``/``check`` raise: ``kind(*args)`` or ``kind(message.format(*args))``."""
    cls = _check_kind(kind)
    check_template(message, len(args))
    error = cls(*args) if message is None else cls(message.format(*args))
    if where:
        error.add_note(f"raised by the program at {where}")
    return error


def _raise_rule(*args, kind, message=None, where=""):
    _check_kind(kind)
    check_template(message, len(args))
    if not isinstance(where, str):
        raise ValueError("where must be a str")
    return ScalarType("none")


def _check_rule(cond, *args, kind="AssertionError", message=None, where=""):
    return _raise_rule(*args, kind=kind, message=message, where=where)


@defop("raise_error", OpKind.ELEMENTWISE, infer=_raise_rule, pure=False)
def raise_error(*args, kind, message=None, where=""):
    """``raise kind(*args)`` (or ``kind(message.format(*args))``): a ``raise`` statement reached
    when the program runs.  ``kind`` is one of :data:`EXCEPTIONS`."""
    raise make_error(kind, args, message, where)


@defop("check", OpKind.ELEMENTWISE, infer=_check_rule, pure=False)
def check(cond, *args, kind="AssertionError", message=None, where=""):
    """``assert cond, message``: raise like :func:`raise_error` when ``not cond``."""
    if not cond:
        raise make_error(kind, args, message, where)
    return None
