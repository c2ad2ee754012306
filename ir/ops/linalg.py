"""Matrix products: ``matmul dot einsum``, and ``outer inner vdot tensordot`` written over them."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ..types import TensorType
from .arraylike import asarray
from .registry import OpKind, defdecomp, defop
from .rules import broadcast_shapes


def _matmul_rule(a, b):
    if not (isinstance(a, TensorType) and isinstance(b, TensorType)):
        raise TypeError("matmul needs two arrays")
    dtype = None
    if a.dtype is not None and b.dtype is not None:
        dtype = np.result_type(np.matmul(np.ones((1, 1), a.dtype), np.ones((1, 1), b.dtype)))
    if a.shape is None or b.shape is None:
        return TensorType(dtype, None)
    sa, sb = list(a.shape), list(b.shape)
    if not sa or not sb:
        raise ValueError("matmul does not accept 0-d arrays")
    squeeze_a, squeeze_b = len(sa) == 1, len(sb) == 1
    if squeeze_a:
        sa = [1, *sa]
    if squeeze_b:
        sb = [*sb, 1]
    k1, k2 = sa[-1], sb[-2]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        raise ValueError(f"matmul: inner dimensions differ ({k1} vs {k2})")
    batch = broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
    shape = [*batch, sa[-2], sb[-1]]
    if squeeze_a:
        del shape[-2]
    if squeeze_b:
        del shape[-1]
    return TensorType(dtype, tuple(shape))


@defop("matmul", OpKind.LINALG, infer=_matmul_rule, numpy=np.matmul, spelling="infix:@")
def matmul(a, b):
    """``a @ b`` with NumPy's batching rules."""
    return operator.matmul(a, b)


def _dot_rule(a, b):
    if not (isinstance(a, TensorType) and isinstance(b, TensorType)):
        raise TypeError("dot needs two arrays")
    dtype = None
    if a.dtype is not None and b.dtype is not None:
        dtype = np.result_type(np.dot(np.ones(1, a.dtype), np.ones(1, b.dtype)))
    if a.shape is None or b.shape is None:
        return TensorType(dtype, None)
    if not a.shape or not b.shape:
        return TensorType(dtype, broadcast_shapes(a.shape, b.shape))
    k2 = b.shape[0] if len(b.shape) == 1 else b.shape[-2]
    k1 = a.shape[-1]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        raise ValueError(f"dot: shapes {a} and {b} not aligned ({k1} vs {k2})")
    tail = () if len(b.shape) == 1 else (*b.shape[:-2], b.shape[-1])
    return TensorType(dtype, (*a.shape[:-1], *tail))


@defop("dot", OpKind.LINALG, infer=_dot_rule, numpy=np.dot, methods="dot")
def dot(a, b):
    """``np.dot(a, b)``."""
    return np.dot(a, b)


# -- einsum: a primitive whose reference is NumPy's (its summation order is NumPy's own) ----------
def _einsum_parse(subscripts: str, ranks: list[int]) -> tuple[list[str], str]:
    """Input label lists (``...`` expanded to upper-case labels) and the output labels."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(ranks)} operands")
    n_ell = max((r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t), default=0)
    ell = "".join(chr(ord("A") + i) for i in range(n_ell))
    labels = []
    for t, r in zip(terms, ranks):
        if "..." in t:
            k = r - len(t.replace("...", ""))
            t = t.replace("...", ell[n_ell - k:] if k else "")
        if len(t) != r or not all(c.isalpha() for c in t):
            raise ValueError(f"einsum: subscripts {subscripts!r} do not fit an operand of rank {r}")
        labels.append(t)
    if arrow:
        out = output.replace("...", ell)
    else:
        counts = {c: sum(t.count(c) for t in labels) for t in labels for c in t}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return labels, out


def _einsum_rule(subscripts, *operands, dtype=None, optimize=False):
    if not isinstance(subscripts, str):
        raise TypeError("einsum needs the subscripts as a string literal first")
    if not all(isinstance(t, TensorType) for t in operands):
        raise TypeError("einsum needs array operands")
    dts = [t.dtype for t in operands]
    out_dtype = np.dtype(dtype) if dtype is not None else (None if None in dts else np.result_type(*dts))
    if any(t.shape is None for t in operands):
        return TensorType(out_dtype, None)
    labels, out = _einsum_parse(subscripts, [len(t.shape) for t in operands])
    sizes: dict[str, list] = {}
    for t, lab in zip(operands, labels):
        for c, d in zip(lab, t.shape):
            sizes.setdefault(c, []).append(d)
    shape = []
    for c in out:
        if c not in sizes:
            raise ValueError(f"einsum: output subscript {c!r} does not appear in the inputs")
        dims = sizes[c]
        ints = {d for d in dims if isinstance(d, int) and d != 1}
        if len(ints) > 1:
            raise ValueError(f"einsum: operands disagree on the size of {c!r}: {sorted(ints)}")
        shape.append(broadcast_shapes(*((d,) for d in dims))[0])
    return TensorType(out_dtype, tuple(shape))


@defop("einsum", OpKind.LINALG, infer=_einsum_rule, numpy=np.einsum)
def einsum(subscripts, *operands, dtype=None, optimize=False):
    """``np.einsum(subscripts, *operands, dtype=..., optimize=...)`` (subscripts as a string)."""
    return np.einsum(subscripts, *operands, dtype=dtype, optimize=optimize)


# -- decompositions: NumPy's Python-level products, written over dot/matmul -----------------------
@defdecomp(np.outer)
def outer(a: Any, b: Any, out: Any = None) -> Any:
    """``np.outer(a, b)``: ``a.ravel()[:, None] * b.ravel()[None, :]``."""
    if out is not None:
        raise TypeError("np.outer(..., out=...) is not supported in traced programs")
    return asarray(a).reshape(-1)[:, None] * asarray(b).reshape(-1)[None, :]


@defdecomp(np.inner)
def inner(a: Any, b: Any, /) -> Any:
    """``np.inner(a, b)``: what NumPy runs, ``np.dot(a, b)`` with ``b``'s last two axes swapped."""
    b = asarray(b)
    return np.dot(a, np.swapaxes(b, -1, -2) if b.ndim > 1 else b)


@defdecomp(np.vdot)
def vdot(a: Any, b: Any, /) -> Any:
    """``np.vdot(a, b)`` of real arrays: ``np.dot`` of the flattened arrays, as NumPy runs it."""
    a, b = asarray(a), asarray(b)
    if a.dtype.kind == "c" or b.dtype.kind == "c":
        raise TypeError("np.vdot of complex arrays is not supported in traced programs")
    return np.dot(a.reshape(-1), b.reshape(-1))


@defdecomp(np.tensordot)
def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """``np.tensordot(a, b, axes)``: NumPy's own Python code, a transpose and reshape of each
    operand and one ``np.dot``."""
    if isinstance(axes, (list, tuple)):
        axes_a, axes_b = axes
    else:
        axes_a, axes_b = list(range(-axes, 0)), list(range(axes))
    axes_a = list(axes_a) if isinstance(axes_a, (list, tuple)) else [axes_a]
    axes_b = list(axes_b) if isinstance(axes_b, (list, tuple)) else [axes_b]
    a, b = asarray(a), asarray(b)
    as_, bs = a.shape, b.shape
    nda, ndb = a.ndim, b.ndim
    if len(axes_a) != len(axes_b):
        raise ValueError("shape-mismatch for sum")
    for k in range(len(axes_a)):
        da, db = as_[axes_a[k]], bs[axes_b[k]]
        if isinstance(da, int) and isinstance(db, int) and da != db:
            raise ValueError("shape-mismatch for sum")
        axes_a[k] %= nda
        axes_b[k] %= ndb
    notin_a = [k for k in range(nda) if k not in axes_a]
    notin_b = [k for k in range(ndb) if k not in axes_b]
    n2 = math.prod(as_[ax] for ax in axes_a)
    at = a.transpose(notin_a + axes_a).reshape(math.prod(as_[ax] for ax in notin_a), n2)
    bt = b.transpose(axes_b + notin_b).reshape(n2, math.prod(bs[ax] for ax in notin_b))
    res = np.dot(at, bt)
    return res.reshape(tuple(as_[ax] for ax in notin_a) + tuple(bs[ax] for ax in notin_b))
