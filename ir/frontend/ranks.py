"""Arrays whose rank is unknown when compiling (scripted without example inputs).

``B, T, D = x.shape`` fixes ``x``'s rank at 3: ``x`` becomes ``ops.with_rank(x, 3)``, which
checks it when the program runs, and every name bound to ``x`` holds the checked value, so later
code knows three dimensions (``x.shape[-1]``, ``x.reshape(B, T, 4, -1)``).  ``x.ndim`` is read
when the program runs (``ops.ndim``).  A library layer that needs a rank (``Conv2d``:
``input_rank = 4``) fixes it the same way before its code runs.
"""

from __future__ import annotations

import ast
from typing import Any

from ..builder import Value
from ..ops import get_op
from ..types import TensorType

__all__ = ["unknown_rank"]


def unknown_rank(v: Any) -> bool:
    """Whether ``v`` is an array value whose rank is not known."""
    return isinstance(v, Value) and isinstance(v.type, TensorType) and v.type.shape is None


class _Ranks:
    """Fixing unknown ranks; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    def fix_rank(self, v: Value, rank: int, node: ast.AST | None) -> Value:
        """``v`` checked to have ``rank`` dimensions; names bound to ``v`` now hold the checked value."""
        loc = self.loc(node)
        checked = self.emit(get_op("with_rank"), (v, rank), {"where": str(loc) if loc else ""}, node)
        for frame in self.frames:
            for k, value in list(frame.env.items()):
                if value is v:
                    frame.env[k] = checked
        return checked

    def unpack_shape(self, e: ast.Attribute, n: int, node: ast.AST) -> Any:
        """``... = x.shape`` unpacked into ``n`` names: the sizes (the rank fixed at ``n`` if unknown)."""
        shape = self.expr_lazy(e)
        value = getattr(shape, "value", None)
        if unknown_rank(value):
            return self.attribute(self.fix_rank(value, n, node), "shape", e).dims()
        return shape.dims() if hasattr(shape, "dims") else shape

    def run_time_ndim(self, v: Value, node: ast.AST) -> Value:
        """``x.ndim`` of an array whose rank is unknown: read when the program runs."""
        return self.emit(get_op("ndim"), (v,), {}, node)
