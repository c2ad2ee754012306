"""The rest of NumPy's ufuncs, and the generic ops behind their ``reduce`` and ``accumulate``.

Every ufunc NumPy defines traces to an op whose reference is the ufunc itself: the common ones
live in :mod:`ir.ops.elementwise`, the others are one row of a table below.  ``ufunc.reduce`` and
``ufunc.accumulate`` trace to the reduction or scan that NumPy itself runs for them
(``np.add.reduce`` is ``np.sum``), see :data:`REDUCE_AS` and :data:`ACCUMULATE_AS`; any other
ufunc's method is the generic :func:`ufunc_reduce` / :func:`ufunc_accumulate` op carrying the
ufunc's name, whose reference is the NumPy method.  ``ufunc.outer`` needs no op: tracing writes
it as NumPy does, ``ufunc(a[..., None, ...], b)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..types import TensorType
from .reduce import _reduced_shape
from .registry import OpKind, defop
from .rules import (
    broadcast_shapes,
    dtype_by_example,
    elementwise_rule,
    example_of,
    normalize_axis,
    scalar_by_example,
)

__all__ = ["ACCUMULATE_AS", "NO_INITIAL", "REDUCE_AS", "UNSUPPORTED_UFUNCS", "loop_dtypes", "method_op",
           "ufunc_by_name"]

E = OpKind.ELEMENTWISE


def _present(*names: str) -> list[np.ufunc]:
    # ufuncs added by later NumPy releases (bitwise_count: 2.0, matvec/vecmat: 2.2) only where they exist
    return [getattr(np, n) for n in names if isinstance(getattr(np, n, None), np.ufunc)]


_UNARY = _present(
    "arcsinh", "arccosh", "cbrt", "fabs", "conjugate", "deg2rad", "rad2deg", "degrees", "radians", "spacing",
    "bitwise_count",
)
_BINARY = _present(
    "logaddexp", "logaddexp2", "heaviside", "float_power", "fmod", "gcd", "lcm", "left_shift", "right_shift",
    "ldexp", "nextafter",
)
#: Ufuncs with two outputs: one op each with two results.
_TWO_OUTPUTS = _present("divmod", "modf", "frexp")
#: Generalized ufuncs over the last axes (NumPy's core signatures), with their shape rules below.
_GUFUNCS = _present("vecdot", "matvec", "vecmat")

#: Ufuncs traced programs cannot hold, and why (tracing them is a TracingError saying so).
UNSUPPORTED_UFUNCS = {
    "isnat": "np.isnat works only on datetime64/timedelta64 arrays, which traced programs do not hold",
}


def _impl(fn: Callable[..., Any], nin: int) -> Callable[..., Any]:
    if nin == 1:
        def impl(x):
            return fn(x)
    else:
        def impl(x, y):
            return fn(x, y)
    impl.__name__ = fn.__name__
    impl.__doc__ = f"``np.{fn.__name__}`` elementwise{' with broadcasting' if nin > 1 else ''}."
    return impl


for _uf in (*_UNARY, *_BINARY):
    defop(_uf.__name__, E, infer=elementwise_rule(_uf), numpy=_uf)(_impl(_uf, _uf.nin))


def _two_outputs_rule(uf: np.ufunc) -> Callable[..., tuple]:
    def rule(*args: Any) -> tuple:
        if not any(isinstance(a, TensorType) for a in args):
            return tuple(scalar_by_example(lambda *xs, i=i: uf(*xs)[i], *args) for i in range(uf.nout))
        shape = broadcast_shapes(*(a.shape if isinstance(a, TensorType) else () for a in args))
        return tuple(TensorType(dtype_by_example(lambda *xs, i=i: uf(*xs)[i], *args), shape)
                     for i in range(uf.nout))

    return rule


def _two(*args: Any, **kwargs: Any) -> int:
    return 2


for _uf in _TWO_OUTPUTS:
    defop(_uf.__name__, E, infer=_two_outputs_rule(_uf), numpy=_uf, multi_output=True, count=_two)(
        _impl(_uf, _uf.nin))


# -- generalized ufuncs: (n),(n)->() ; (m,n),(n)->(m) ; (n),(n,m)->(m) -------------------------------

def _core(name: str, a: TensorType, b: TensorType) -> tuple[tuple, tuple, tuple]:
    """Loop dims of ``a`` and ``b`` and the core output dims, checking the contracted sizes."""
    na, nb = {"vecdot": (1, 1), "matvec": (2, 1), "vecmat": (1, 2)}[name]
    if len(a.shape) < na or len(b.shape) < nb:
        raise ValueError(f"{name}: operands need at least {na} and {nb} dimensions, got {a} and {b}")
    ka = a.shape[-1]
    kb = b.shape[-1] if nb == 1 else b.shape[-2]
    if isinstance(ka, int) and isinstance(kb, int) and ka != kb:
        raise ValueError(f"{name}: contracted sizes differ ({ka} vs {kb})")
    out = {"vecdot": (), "matvec": (a.shape[-2],) if na == 2 else (), "vecmat": (b.shape[-1],)}[name]
    return a.shape[: len(a.shape) - na], b.shape[: len(b.shape) - nb], out


def _gufunc_rule(uf: np.ufunc) -> Callable[..., TensorType]:
    def rule(x, y):
        if not (isinstance(x, TensorType) and isinstance(y, TensorType)):
            raise TypeError(f"{uf.__name__} needs two arrays")
        dtype = None
        if x.dtype is not None and y.dtype is not None:
            shape_x = (2, 2) if uf.__name__ == "matvec" else (2,)
            shape_y = (2, 2) if uf.__name__ == "vecmat" else (2,)
            dtype = np.result_type(uf(np.ones(shape_x, x.dtype), np.ones(shape_y, y.dtype)))
        if x.shape is None or y.shape is None:
            return TensorType(dtype, None)
        loop_x, loop_y, core = _core(uf.__name__, x, y)
        return TensorType(dtype, (*broadcast_shapes(loop_x, loop_y), *core))

    return rule


for _uf in _GUFUNCS:
    defop(_uf.__name__, OpKind.LINALG, infer=_gufunc_rule(_uf), numpy=_uf)(_impl(_uf, 2))


# -- ufunc.reduce and ufunc.accumulate ------------------------------------------------------------

#: ``ufunc.reduce`` that is exactly a registered reduction (NumPy's np.sum *is* np.add.reduce):
#: ufunc name -> (op, whether the op takes ``dtype=``).
REDUCE_AS = {"add": ("sum", True), "multiply": ("prod", True), "maximum": ("max", False),
             "minimum": ("min", False), "logical_and": ("all", False), "logical_or": ("any", False)}
#: ``ufunc.accumulate`` that is exactly a registered scan (np.cumsum runs np.add.accumulate).
ACCUMULATE_AS = {"add": "cumsum", "multiply": "cumprod"}

_BINARY_UFUNCS = {f.__name__: f for f in vars(np).values()
                  if isinstance(f, np.ufunc) and f.nin == 2 and f.nout == 1 and f.signature is None}


def ufunc_by_name(name: Any) -> np.ufunc:
    """The binary ufunc ``np.<name>`` for the generic reduce/accumulate ops; ``ValueError`` otherwise
    (programs read from archives name only NumPy's binary ufuncs here)."""
    uf = _BINARY_UFUNCS.get(name) if isinstance(name, str) else None
    if uf is None:
        raise ValueError(f"{name!r} is not a binary NumPy ufunc with a reduce/accumulate method")
    return uf


def _method_kwargs(dtype: Any, keepdims: bool = False, initial: Any = None) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if dtype is not None:
        kw["dtype"] = dtype
    if keepdims:
        kw["keepdims"] = True
    if initial is not None:
        kw["initial"] = initial
    return kw


def _ufunc_reduce_rule(array, ufunc, axis=0, dtype=None, keepdims=False, initial=None):
    uf = ufunc_by_name(ufunc)
    if not isinstance(array, TensorType):
        raise TypeError(f"np.{ufunc}.reduce needs an array argument")
    init = example_of(initial) if initial is not None else None
    out = dtype_by_example(lambda x: uf.reduce(x, axis=0, **_method_kwargs(dtype, False, init)), array)
    return TensorType(out, _reduced_shape(array, axis, keepdims))


@defop("ufunc_reduce", OpKind.REDUCE, infer=_ufunc_reduce_rule)
def ufunc_reduce(array, ufunc, axis=0, dtype=None, keepdims=False, initial=None):
    """``np.<ufunc>.reduce(array, axis, dtype, keepdims=keepdims, initial=initial)``, ``ufunc`` a
    binary ufunc's name; ``initial=None`` leaves it out (NumPy's default)."""
    return ufunc_by_name(ufunc).reduce(array, axis=axis, **_method_kwargs(dtype, keepdims, initial))


def _ufunc_accumulate_rule(array, ufunc, axis=0, dtype=None):
    uf = ufunc_by_name(ufunc)
    if not isinstance(array, TensorType):
        raise TypeError(f"np.{ufunc}.accumulate needs an array argument")
    out = dtype_by_example(lambda x: uf.accumulate(x, axis=0, **_method_kwargs(dtype)), array)
    if array.shape is not None and axis is not None:
        normalize_axis(axis, len(array.shape))
    return TensorType(out, array.shape)


@defop("ufunc_accumulate", OpKind.REDUCE, infer=_ufunc_accumulate_rule)
def ufunc_accumulate(array, ufunc, axis=0, dtype=None):
    """``np.<ufunc>.accumulate(array, axis, dtype)``, ``ufunc`` a binary ufunc's name."""
    return ufunc_by_name(ufunc).accumulate(array, axis=axis, **_method_kwargs(dtype))


# -- how a ufunc call with keywords, or a ufunc method, is recorded (shared by tracer and frontend) ----

#: ``initial=`` left out (NumPy's default: the ufunc's identity, or the first element).
NO_INITIAL: Any = type("NoInitial", (), {"__repr__": lambda self: "<no initial>"})()


def loop_dtypes(ufunc: np.ufunc, operands: tuple, dtype: Any = None, signature: Any = None,
                casting: str = "same_kind") -> tuple[np.dtype, ...]:
    """The dtypes of the loop NumPy runs for ``ufunc(*operands, dtype=, signature=, casting=)``:
    the inputs' (which NumPy casts the operands to, as ``astype`` does) then the outputs'.

    ``operands`` holds a dtype per array operand and ``int``/``float``/``complex`` for Python
    scalars.  Raises ``TypeError`` as NumPy does (no such loop, or a cast ``casting`` forbids).

    >>> loop_dtypes(np.add, (np.dtype("int32"), float), dtype=np.float32)
    (dtype('float32'), dtype('float32'), dtype('float32'))
    """
    if dtype is not None and signature is not None:
        raise TypeError("cannot specify both 'signature' and 'dtype'")
    if signature is not None:
        if not isinstance(signature, (tuple, list)):
            raise TypeError("give signature= as a tuple of dtypes (or None)")
        sig = tuple(None if s is None else np.dtype(s) for s in signature)
    else:
        sig = (None,) * ufunc.nin + ((None if dtype is None else np.dtype(dtype)),) * ufunc.nout
    return ufunc.resolve_dtypes((*operands, *(None,) * ufunc.nout), signature=sig, casting=casting)


def method_op(ufunc: np.ufunc, method: str, axis: Any = 0, dtype: Any = None, keepdims: bool = False,
              initial: Any = NO_INITIAL) -> tuple[str, tuple, dict[str, Any]]:
    """How ``ufunc.<method>(array, axis, dtype, keepdims, initial)`` is recorded: ``(op name, the
    arguments after the array, keywords)``, for ``method`` ``"reduce"`` or ``"accumulate"``.

    >>> method_op(np.add, "reduce", axis=1)
    ('sum', (), {'axis': 1, 'keepdims': False})
    >>> method_op(np.logaddexp, "accumulate")
    ('ufunc_accumulate', ('logaddexp',), {'axis': 0})
    """
    name = ufunc.__name__
    ufunc_by_name(name)
    dtype_kw = {} if dtype is None else {"dtype": np.dtype(dtype)}
    if isinstance(axis, list):
        axis = tuple(axis)
    if method == "accumulate":
        if keepdims or initial is not NO_INITIAL:
            raise TypeError("accumulate takes no keepdims= or initial=")
        if name in ACCUMULATE_AS:
            return ACCUMULATE_AS[name], (), {"axis": axis, **dtype_kw}
        return "ufunc_accumulate", (name,), {"axis": axis, **dtype_kw}
    if method != "reduce":
        raise ValueError(f"np.{name}.{method} has no traced form")
    as_op = REDUCE_AS.get(name)
    if as_op is not None and initial is NO_INITIAL and (dtype is None or as_op[1]):
        return as_op[0], (), {"axis": axis, "keepdims": keepdims, **dtype_kw}
    if initial is None:
        raise ValueError("initial=None (no identity: reduce from the first element) is not supported; leave "
                         "initial out or give a value")
    extra = {} if initial is NO_INITIAL else {"initial": initial}
    return "ufunc_reduce", (name,), {"axis": axis, "keepdims": keepdims, **dtype_kw, **extra}
