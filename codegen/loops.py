"""Loop and buffer geometry for the planner (pure functions of shapes and strides).

Split out of ``codegen.plan``: how a value's strides look over a kernel's loops, how loops merge,
how buffers are laid out and placed in the arena, and a convolution's or pooling's window as
source literals.
"""

from __future__ import annotations

from typing import Any

from .analysis import Layout, c_strides
from .fusion import Group

__all__ = ["window_consts", "buffer_strides", "first_fit", "on_domain", "simplify"]


def window_consts(values: dict) -> tuple[tuple[str, int], ...]:
    """The window geometry of a convolution or pooling as source literals (the op's attributes, the
    same for every input shape), and the input's innermost stride when it is one element."""
    consts = [(key, int(values[key])) for key in ("kh", "kw", "sh", "sw", "dil_h", "dil_w", "pt", "pl")]
    if values["xs_w"] == 1:
        consts.append(("xs_w", 1))
    return tuple(consts)


def buffer_strides(op: str, t: Any, channel_major: bool = True) -> tuple[int, ...]:
    """Byte strides of a buffer written by a kernel: C order, except a convolution's result
    ``(N, O, H, W)``, stored as ``(O, N, H, W)`` so one ``gemm`` writes several images at once
    (unless ``channel_major`` is false: then one ``gemm`` per image)."""
    shape, item = tuple(t.shape), t.dtype.itemsize
    if op == "conv2d" and len(shape) == 4 and channel_major:
        n, o, h, w = shape
        return (h * w * item, n * h * w * item, w * item, item)
    return c_strides(shape, item)


def first_fit(live: list[tuple[int, int, Any]], size: int) -> int:
    offset = 0
    for start, length, _ in sorted(live):
        if start - offset >= size:
            return offset
        offset = max(offset, start + length)
    return offset


def on_domain(lay: Layout, grp: Group, align: str, varying: bool) -> tuple[int, ...]:
    """Element strides of ``lay`` over the group's loops (kept axes, then reduced; 0 = broadcast).

    A size-1 axis of a size-1 domain axis is ambiguous: for values that change with the inputs
    (``varying``) it keeps its real stride, so that batch 1 uses the same kernel as batch 8.
    """
    item = lay.dtype.itemsize
    rank = len(grp.domain)
    shape, strides = lay.shape, lay.strides
    assert all(s % item == 0 for s in strides), "strides are multiples of the item size"
    if align == "outer":  # a reduction result without its reduced axes: it spans the kept axes
        out = [0] * rank
        for i, (n, s) in enumerate(zip(shape, strides)):
            if n != 1 or varying:
                out[i] = s // item
        return tuple(out)
    natural = [0] * rank
    offset = rank - len(shape)
    for i, (n, s) in enumerate(zip(shape, strides)):
        if n != 1 or (varying and grp.domain[offset + i] == 1):
            natural[offset + i] = s // item
    return tuple(natural[a] for a in grp.loop_order)


def simplify(extents: list[int], table: list[list[int]], outer_n: int, keep_first: bool = False,
             skip: int = 0) -> tuple[list, list]:
    """Drop size-1 axes (but the first) and merge neighbours every mem steps through contiguously.

    With ``keep_first`` the first axis is not merged either: a kernel that starts with a BLAS call
    splits rows (or batches) of the matmul and of its epilogue the same way.  ``skip`` leading
    axes (of size 1) are dropped even so: the next one is the first (a batched matmul's heads
    when its batch of one would leave nothing to split).
    """

    def part(lo: int, hi: int) -> list[tuple[int, list[int]]]:
        # the outermost axis stays even at size 1 (a batch of one shares the kernel of any batch)
        dims = [(extents[d], [row[d] for row in table]) for d in range(lo, hi) if extents[d] != 1 or d == skip]
        merged: list[tuple[int, list[int]]] = []
        for n, strides in dims:
            if merged and not (keep_first and len(merged) == 1 and lo == skip):
                pn, ps = merged[-1]
                if all(a == b * n for a, b in zip(ps, strides)):
                    merged[-1] = (pn * n, strides)
                    continue
            merged.append((n, strides))
        return merged

    return part(skip, outer_n), part(outer_n, len(extents))
