"""The planner's analysis of contractions (``codegen.analysis``): which ``conv2d``, ``max_pool2d``
and ``matmul`` nodes kernels run through BLAS or a window loop, and with what geometry.
"""

from __future__ import annotations

from typing import Any

from ir.node import Node, Use

from .fusion import Candidate
from .layout import blas_matrix, c_strides, dtype_name, tensor_of

__all__ = ["Contractions"]


class _Unknown(Exception):
    """A value the planner needs is not known while planning (``Analysis.static_arg``)."""


class Contractions:
    """``Analysis``'s matchers for the nodes kernels compute by BLAS calls or window loops; each
    returns the fusion candidate and its kernel parameters, or ``None`` (a NumPy call instead)."""

    def conv(self, nid: int, node: Node) -> tuple[Candidate, dict] | None:
        """A 4-d, ``groups=1`` ``conv2d`` kernels run as im2col + BLAS ``gemm`` + bias (exactly
        the reference's sequence of operations, per image)."""
        from .blas import find_blas

        blas = find_blas()
        out_t = tensor_of(node.types[0]) if len(node.types) == 1 else None
        if blas is None or out_t is None or out_t.dtype.name not in ("float32", "float64") or len(out_t.shape) != 4:
            return None
        refs = self.inputs(nid)
        if len(node.args) < 2 or node.args[:2] != (Use(0), Use(1)):
            return None
        names = ["bias", "stride", "padding", "dilation", "groups"]
        call = dict(zip(names, node.args[2:]))
        call.update(dict(node.kwargs))
        bias = call.pop("bias", None)
        try:
            kwargs = {k: self.static_arg(v, nid) for k, v in call.items()}
        except _Unknown:
            return None
        if isinstance(bias, Use):
            bias_ref = refs[bias.index]
        elif bias is None:
            bias_ref = None
        else:
            return None
        x, w = (self.layout.get(r) for r in refs[:2])
        b = self.layout.get(bias_ref) if bias_ref is not None else None
        if x is None or w is None or (bias_ref is not None and b is None):
            return None
        if any(lay.dtype != out_t.dtype for lay in (x, w, *([b] if b else []))) or len(x.shape) != 4 \
                or len(w.shape) != 4:
            return None
        if w.strides != c_strides(w.shape, w.dtype.itemsize) or (b is not None and len(b.shape) != 1):
            return None
        geometry = _conv_geometry(x, w, kwargs)
        if geometry is None or w.shape[1] != x.shape[1]:
            return None
        if out_t.shape[1] == 1 or out_t.shape[2] * out_t.shape[3] == 1:
            return None  # one output channel or pixel: the reference's matmul runs gemv, not gemm
        cand = Candidate(nid, "gemm", tuple(out_t.shape))  # type: ignore[arg-type]
        return cand, {"out": dtype_name(out_t.dtype), "ilp64": blas.ilp64, "conv": geometry, "x": refs[0], "w": refs[1],
                      "bias": bias_ref}

    def pool(self, nid: int, node: Node) -> tuple[Candidate, dict] | None:
        """A 4-d float ``max_pool2d``: a loop over windows before the kernel's elementwise part."""
        from ir.ops.nn import _pool_params

        out_t = tensor_of(node.types[0]) if len(node.types) == 1 else None
        if out_t is None or dtype_name(out_t.dtype) not in ("float32", "float64") or len(out_t.shape) != 4:
            return None
        refs = self.inputs(nid)
        if not node.args or node.args[0] != Use(0):
            return None
        try:
            rest = self.static_arg(node.args[1:], nid)
            kwargs = dict(self.static_arg(node.kwargs, nid))
            call = dict(zip(["kernel_size", "stride", "padding", "dilation", "ceil_mode"], rest))
            call.update(kwargs)
            k, st, p, d = _pool_params(call["kernel_size"], call["stride"], call.get("padding", (0, 0)),
                                       call.get("dilation", (1, 1)), "max_pool2d")
        except (_Unknown, KeyError, TypeError, ValueError):
            return None
        x = self.layout.get(refs[0])
        if x is None or x.dtype != out_t.dtype or len(x.shape) != 4:
            return None
        cand = Candidate(nid, "gemm", tuple(out_t.shape))  # type: ignore[arg-type]
        return cand, {"out": dtype_name(out_t.dtype), "pool": {"k": k, "s": st, "p": p, "d": d}, "x": refs[0]}

    def gemm(self, nid: int, node: Node) -> tuple[Candidate, dict] | None:
        """A matmul that kernels can run through BLAS: two float arrays of the result's dtype,
        at least 2-d, whose matrices are row- or column-major (maybe transposed views)."""
        from .blas import find_blas

        blas = find_blas()
        out_t = tensor_of(node.types[0]) if len(node.types) == 1 else None
        if blas is None or out_t is None or dtype_name(out_t.dtype) not in ("float32", "float64") or node.kwargs:
            return None
        refs = self.inputs(nid)
        if len(refs) != 2 or node.args != (Use(0), Use(1)):
            return None
        lays = [self.layout.get(r) for r in refs]
        if any(lay is None or lay.dtype != out_t.dtype or len(lay.shape) < 2 for lay in lays):
            return None
        (a, b) = lays
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        if min(m, k, n) < 1 or b.shape[-2] != k:
            return None
        if m == 1 or n == 1 or (a.root == b.root and a.offset == b.offset):
            # NumPy's matmul calls gemv (a vector operand), dot, or syrk (``x @ x.T``) there, whose
            # sums differ from gemm's beyond the tolerance: np.matmul itself runs it (a host step)
            return None
        ma, mb = blas_matrix(a), blas_matrix(b)
        if ma is None or mb is None:
            return None
        cand = Candidate(nid, "gemm", tuple(out_t.shape))  # type: ignore[arg-type]
        return cand, {"out": dtype_name(out_t.dtype), "ilp64": blas.ilp64, "refs": refs}


def _conv_geometry(x: Any, w: Any, kwargs: dict) -> dict | None:
    """Strides, dilations and paddings of a ``conv2d`` call the kernels handle (groups=1)."""
    from ir.ops.nn import _conv_padding, _pair

    try:
        stride = _pair(kwargs.get("stride", (1, 1)), "stride")
        dilation = _pair(kwargs.get("dilation", (1, 1)), "dilation")
        if kwargs.get("groups", 1) != 1:
            return None
        pads = _conv_padding(kwargs.get("padding", (0, 0)), (w.shape[2], w.shape[3]), dilation, stride)
    except (TypeError, ValueError):
        return None
    if pads is None or min(stride) < 1 or min(dilation) < 1:
        return None
    return {"stride": stride, "dilation": dilation, "pads": pads}
