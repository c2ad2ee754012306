"""The numba lowering table: how each op becomes kernel code, or why it stays a NumPy call.

One entry per op, filled by ``@LOWER.register(...)`` right below the rule, keyed by op name.  An op
without an entry runs on its NumPy reference, with a one-time :class:`ir.TracerWarning` (see
``runtime.compiled``).  Entry kinds:

:class:`Scalar`
    Elementwise: ``emit(ctx, *args, **kwargs)`` has the op's signature, receives Python source
    text for each operand (already converted to the loop dtype, see ``loop``) and returns the
    expression for one element.  Fusable into kernels.
:class:`Reduce`
    A reduction over the trailing axes of its input; closes a fused chain (LayerNorm, softmax).
:class:`View`
    A movement op (transpose, reshape, basic slicing, ...): a strided view of its input, so
    kernels read through it and nothing is copied.  When the reference would copy, it runs.
:class:`Host`
    Runs the NumPy reference on purpose: BLAS matmuls (writing into a planned buffer through
    ``out=``), convolutions and pooling, creation, integer-array indexing, shape reads.

Numbers: kernels compute every op in the dtype NumPy 2 would (``node.types`` says which), so
integer and boolean results are exact and float arithmetic rounds as NumPy does; only the
transcendental functions (own float32 ``exp``/``tanh``/``erf``, libm elsewhere) differ, by an ulp or two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ir.ops import RuleTable, has_op

__all__ = ["LOWER", "Scalar", "Reduce", "View", "Host", "Interpreted", "Emit", "Operand", "literal", "literal_of",
           "NUMBA_DTYPES"]

#: Dtypes kernels handle (float16 and complex run on NumPy).
NUMBA_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                          "float32", "float64"})

LOWER = RuleTable("numba lowering")


@dataclass(frozen=True)
class Scalar:
    """An elementwise op.

    Attributes
    ----------
    emit : callable
        ``emit(ctx, *args, **kwargs) -> str``, the op's signature with source text for operands.
    loop : str
        How operands are converted before ``emit`` sees them: ``"out"`` (to the result dtype),
        ``"common"`` (to NumPy's common dtype of the operands: comparisons), ``"bool"``,
        ``"same"`` (unchanged) or ``"where"`` (condition to bool, the rest to the result dtype).
    fast : bool
        Uses one of our vectorized transcendentals for float32: worth a kernel even alone.
    accepts : callable or None
        ``accepts(ctx, *args, **kwargs) -> bool`` for cases the kernel cannot reproduce exactly
        (they run on NumPy instead), e.g. integer powers with a negative exponent.
    """

    emit: Callable[..., str]
    loop: str = "out"
    fast: bool | Callable[[Emit], bool] = False
    accepts: Callable[..., bool] | None = None


@dataclass(frozen=True)
class Reduce:
    """A reduction (``kind`` is the op name) that a kernel computes over trailing axes."""

    kind: str


@dataclass(frozen=True)
class View:
    """A movement op that returns a view of its first argument (else it runs on NumPy)."""


@dataclass(frozen=True)
class Host:
    """Runs the NumPy reference; ``out`` names the keyword that takes a preallocated result.

    ``kernel`` names how a kernel can do it instead, first thing before its loops (``"gemm"``:
    BLAS ``gemm``; ``"conv"``: im2col + ``gemm``; ``"pool"``: a window loop), so that the op's
    elementwise epilogue fuses after it; the op stays a NumPy call when its operands do not fit.
    """

    out: str | None = None
    why: str = field(default="", compare=False)
    kernel: str | None = None


@dataclass(frozen=True)
class Interpreted:
    """Runs through the reference interpreter: control flow (whose blocks it runs) and calls of
    Python methods.  Their blocks are not compiled yet."""

    why: str = field(default="", compare=False)


def literal(value: Any, dtype: str) -> str:
    """Source text of the Python scalar ``value`` converted to ``dtype`` (NumPy's conversion).

    >>> literal(0.5, "float32"), literal(3, "int8"), literal(float("inf"), "float64"), literal(2, "bool")
    ('np.float32(0.5)', 'np.int8(3)', 'np.float64(np.inf)', 'True')
    """
    if dtype == "bool":
        return "True" if bool(value) else "False"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float):
        if np.isnan(value):
            text = "np.nan"
        elif np.isinf(value):
            text = "np.inf" if value > 0 else "-np.inf"
        else:
            text = repr(value)
    else:
        text = repr(int(value))
    return f"np.{dtype}({text})"


class Operand(str):
    """Source text of one operand; ``literal`` is its Python value when it is a literal."""

    literal: Any = None

    @classmethod
    def of(cls, text: str, value: Any = None) -> Operand:
        op = cls(text)
        op.literal = value
        return op


def literal_of(operand: Any) -> Any:
    """The literal value behind an operand's text, ``None`` for a runtime value."""
    return getattr(operand, "literal", None)


class Emit:
    """What an ``emit`` rule knows: the loop dtype, the result dtype, and the node's literals.

    Attributes
    ----------
    dtype : str
        The dtype the operands were converted to (``"float32"``, ``"bool"``, ...).
    out : str
        The result dtype.
    kinds : tuple of str
        NumPy dtype kind of each value operand before conversion (``"f"``, ``"i"``, ...).
    """

    def __init__(self, dtype: str, out: str, kinds: tuple[str, ...] = ()) -> None:
        self.dtype = dtype
        self.out = out
        self.kinds = kinds

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith("float")

    @property
    def is_bool(self) -> bool:
        return self.dtype == "bool"

    @property
    def is_int(self) -> bool:
        return not (self.is_float or self.is_bool)

    @property
    def suffix(self) -> str:
        return "f32" if self.dtype == "float32" else "f64"

    def lit(self, value: Any) -> str:
        return literal(value, self.dtype)

    def cast(self, expr: str, dtype: str | None = None) -> str:
        dtype = dtype or self.dtype
        if dtype == "bool":
            return f"({expr} != 0)"
        return f"np.{dtype}({expr})"


def _reg(names: str, rule: Any) -> None:
    # ops still being added by other parts of the project may be missing: they fall back until then
    present = [n for n in names.split() if has_op(n)]
    if present:
        LOWER.register(*present)(rule)


# -- arithmetic -----------------------------------------------------------------------------------


def _add(c: Emit, x: str, y: str) -> str:
    return f"({x} or {y})" if c.is_bool else f"{x} + {y}"


def _mul(c: Emit, x: str, y: str) -> str:
    return f"({x} and {y})" if c.is_bool else f"{x} * {y}"


def _floordiv(c: Emit, x: str, y: str) -> str:
    return f"floordiv_{c.suffix}({x}, {y})" if c.is_float else f"floordiv_int({x}, {y})"


def _mod(c: Emit, x: str, y: str) -> str:
    return f"mod_{c.suffix}({x}, {y})" if c.is_float else f"mod_int({x}, {y})"


# NumPy's ``array ** scalar`` shortcuts (numpy/_core/src/multiarray/number.c, fast_scalar_power),
# and cubes as products (NumPy calls ``pow``: a scalar libm call in a kernel, ~15 ns, and not
# vectorized; ``x * x * x`` rounds twice, within 2 ulp of it: inside the SPEC's tolerance)
_FLOAT_POWERS = {2.0: "{x} * {x}", 0.5: "np.sqrt({x})", -1.0: "{one} / {x}", 1.0: "+{x}",
                 3.0: "{x} * {x} * {x}"}


def _pow(c: Emit, x: str, y: str) -> str:
    if c.is_float:
        exponent = literal_of(y)
        shortcut = _FLOAT_POWERS.get(exponent) if isinstance(exponent, (int, float)) else None
        if shortcut is not None:
            return shortcut.format(x=x, one=c.lit(1))
        return f"{x} ** {y}"
    if c.is_bool:
        return f"({x} or not {y})"
    return f"ipow({x}, {y})"


def _pow_accepts(c: Emit, x: str, y: str) -> bool:
    # integer powers only with a literal exponent >= 0 (NumPy raises for negative ones)
    exponent = literal_of(y)
    return c.is_float or c.is_bool or (isinstance(exponent, int) and exponent >= 0)


_reg("add", Scalar(_add))
_reg("sub", Scalar(lambda c, x, y: f"{x} - {y}"))
_reg("mul", Scalar(_mul))
_reg("truediv", Scalar(lambda c, x, y: f"{x} / {y}", accepts=lambda c, x, y: c.is_float))
_reg("floordiv", Scalar(_floordiv, accepts=lambda c, x, y: not c.is_bool))
_reg("mod", Scalar(_mod, accepts=lambda c, x, y: not c.is_bool))
_reg("pow", Scalar(_pow, accepts=_pow_accepts))


def _trunc_div(c: Emit, x: str, y: str) -> str:
    # integers: NumPy divides in float64 and truncates (the reference's formula)
    return f"{x} / {y}" if c.is_float else f"np.trunc(np.float64({x}) / np.float64({y}))"


_reg("trunc_div", Scalar(_trunc_div))


def _neg(c: Emit, x: str) -> str:
    return f"not {x}" if c.is_bool else f"-{x}"


_reg("neg", Scalar(_neg, accepts=lambda c, x: not c.is_bool))
_reg("pos", Scalar(lambda c, x: f"+{x}" if not c.is_bool else x))
_reg("copy", Scalar(lambda c, x: x))
_reg("invert", Scalar(lambda c, x: f"(not {x})" if c.is_bool else f"~{x}", accepts=lambda c, x: not c.is_float))
_reg("abs", Scalar(lambda c, x: x if c.is_bool else f"abs({x})"))

# -- comparisons and logic ------------------------------------------------------------------------

for _name, _sym in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
    _reg(_name, Scalar(lambda c, x, y, _sym=_sym: f"({x} {_sym} {y})", loop="common"))


def _bitwise(sym: str, word: str) -> Scalar:
    return Scalar(lambda c, x, y: f"({x} {word} {y})" if c.is_bool else f"({x} {sym} {y})",
                  accepts=lambda c, x, y: not c.is_float)


_reg("and_", _bitwise("&", "and"))
_reg("or_", _bitwise("|", "or"))
_reg("xor", _bitwise("^", "!="))
_reg("logical_and", Scalar(lambda c, x, y: f"({x} and {y})", loop="bool"))
_reg("logical_or", Scalar(lambda c, x, y: f"({x} or {y})", loop="bool"))
_reg("logical_xor", Scalar(lambda c, x, y: f"({x} != {y})", loop="bool"))
_reg("logical_not", Scalar(lambda c, x: f"(not {x})", loop="bool"))


def _minmax(helper: str, on_bool: str, on_int: str) -> Scalar:
    def emit(c: Emit, x: str, y: str) -> str:
        if c.is_bool:
            return f"({x} {on_bool} {y})"
        if c.is_int:
            return f"{on_int}({x}, {y})"
        return f"{helper}({x}, {y})"

    return Scalar(emit)


_reg("maximum", _minmax("maximum", "or", "max"))
_reg("minimum", _minmax("minimum", "and", "min"))
_reg("fmax", _minmax("fmax", "or", "max"))
_reg("fmin", _minmax("fmin", "and", "min"))


def _float_only(fn: str) -> Scalar:
    return Scalar(lambda c, *xs: f"np.{fn}({', '.join(xs)})", accepts=lambda c, *xs: c.is_float)


for _fn in ("arctan2", "hypot", "copysign"):
    _reg(_fn, _float_only(_fn))

# -- unary math -----------------------------------------------------------------------------------


def _fast_or_libm(fast: str | None, fn: str) -> Scalar:
    def emit(c: Emit, x: str) -> str:
        if fast is not None and c.dtype == "float32":
            return f"{fast}({x})"
        return f"np.{fn}({x})"

    return Scalar(emit, fast=(lambda c: c.dtype == "float32") if fast else False,
                  accepts=lambda c, x: c.is_float)


_reg("exp", _fast_or_libm("exp_f32", "exp"))
_reg("tanh", _fast_or_libm("tanh_f32", "tanh"))
for _fn in ("exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan", "arcsin", "arccos",
            "arctan", "sinh", "cosh", "arctanh"):
    _reg(_fn, _fast_or_libm(None, _fn))


def _erf(c: Emit, x: str) -> str:
    return f"erf_f32({x})" if c.dtype == "float32" else f"math.erf({x})"


_reg("erf", Scalar(_erf, fast=lambda c: c.dtype == "float32", accepts=lambda c, x: c.is_float))
_reg("square", Scalar(lambda c, x: f"({x} and {x})" if c.is_bool else f"{x} * {x}"))
_reg("reciprocal", Scalar(lambda c, x: f"{c.lit(1)} / {x}", accepts=lambda c, x: c.is_float))
_reg("sign", Scalar(lambda c, x: f"sign({x})", accepts=lambda c, x: not c.is_bool))


def _rounding(fn: str) -> Scalar:
    # NumPy 2 keeps integer inputs integer for these: then they are the identity
    return Scalar(lambda c, x: f"np.{fn}({x})" if c.is_float else x)


for _fn in ("floor", "ceil", "trunc", "rint"):
    _reg(_fn, _rounding(_fn))


def _classify(on_float: str, on_other: str) -> Scalar:
    return Scalar(lambda c, x: on_float.format(x=x) if c.is_float else on_other.format(x=x), loop="same")


_reg("isnan", _classify("({x} != {x})", "False"))
_reg("isinf", _classify("(abs({x}) == np.inf)", "False"))
_reg("isfinite", _classify("(abs({x}) < np.inf)", "True"))
_reg("signbit", _classify("(math.copysign(1.0, {x}) < 0)", "({x} < 0)"))

# -- selection and conversion ---------------------------------------------------------------------

_reg("where", Scalar(lambda c, cond, x, y: f"({x} if {cond} else {y})", loop="where"))


def _clip(c: Emit, a: str, a_min: str | None = None, a_max: str | None = None) -> str:
    lo, hi = ("maximum", "minimum") if c.is_float else ("max", "min")
    out = a
    if a_min is not None:
        out = f"{lo}({out}, {a_min})"
    if a_max is not None:
        out = f"{hi}({out}, {a_max})"
    return out


_reg("clip", Scalar(_clip, accepts=lambda c, *a, **k: not c.is_bool))


def _astype(c: Emit, a: str, dtype: Any) -> str:
    return c.cast(a, np.dtype(dtype).name)


_reg("astype", Scalar(_astype, loop="same"))

# -- reductions -----------------------------------------------------------------------------------

for _name in ("sum", "prod", "mean", "var", "std", "max", "min", "any", "all", "argmax", "argmin"):
    LOWER.register(_name)(Reduce(_name))

# -- views ----------------------------------------------------------------------------------------

_reg("reshape ravel transpose swapaxes moveaxis expand_dims squeeze broadcast_to split getitem", View())

# -- on NumPy on purpose --------------------------------------------------------------------------

_reg("matmul", Host(out="out", kernel="gemm", why="BLAS gemm (NumPy's OpenBLAS) in the kernel, else np.matmul"))
_reg("dot", Host(out="out", why="BLAS through NumPy"))
_reg("conv2d", Host(kernel="conv", why="im2col and BLAS gemm in the kernel, like the reference"))
_reg("max_pool2d", Host(kernel="pool", why="a window loop in the kernel"))
_reg("avg_pool2d", Host(why="NumPy window views (PyTorch's divisor rules)"))
_reg("concatenate stack take", Host(why="copies; NumPy does them at memory speed"))
_reg("repeat", Host(why="a copy whose size can depend on the data (array repeats); NumPy's np.repeat"))
_reg("einsum", Host(why="np.einsum: its own summation order (and BLAS through optimize=) is the reference"))
_reg("zeros ones full arange zeros_like ones_like full_like", Host(why="creation"))
_reg("dim size", Host(why="shape reads are Python ints"))
_reg("dropout", Host(why="draws from the package's random generator"))
_reg("to_int to_float to_bool not_ is_none", Host(why="Python scalar conversions"))
_reg("setitem", Host(why="a copy, then NumPy's assignment"))
_reg("assign", Host(why="an in-place operator's cast back into its array's dtype (np.copyto, same_kind)"))
_reg("writeback", Host(why="np.copyto into the caller's argument, after the program's results"))
_reg("ndim with_rank", Host(why="an argument's rank, read or checked when it was unknown while compiling"))
_reg("cast_scalar pymath", Host(why="Python and NumPy scalar constructors of sizes"))
_reg("guard", Host(why="a run-time check of a size baked in while tracing"))
_reg("if loop undefined python_call unused_call",
     Interpreted(why="control flow and Python calls: blocks run interpreted"))
_reg("list_new list_append list_extend list_getitem list_setitem list_insert list_pop list_len dict_new dict_setitem "
     "dict_getitem dict_get dict_contains dict_len dict_copy dict_keys dict_values dict_with_keys",
     Host(why="lists and dicts that grow when the program runs are Python objects"))
_reg("list_stack list_concatenate", Host(why="copies of a list of arrays; NumPy does them at memory speed"))
_reg("raise_error check", Host(why="raise/assert: raise the program's error, with its message, when reached"))


def out_kwarg(op: str) -> str | None:
    """The keyword through which op ``op``'s reference writes into a given array, if any."""
    rule = LOWER.get(op) if op in LOWER else None
    return rule.out if isinstance(rule, Host) else None


def check_table() -> list[str]:
    """Names of registered non-graph ops without an entry (the ones that fall back to NumPy)."""
    from ir.ops import OpKind, all_ops

    return sorted(name for name, op in all_ops().items() if op.kind is not OpKind.GRAPH and name not in LOWER)


# the other ufuncs, scans, sorting and np.linalg have their rules in their own file
from . import lowering_ufuncs  # noqa: E402,F401
