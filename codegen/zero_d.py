"""Whether the reference interpreter holds a NumPy scalar or a 0-d array for each 0-d value.

NumPy's ufuncs and reductions give scalars, ``np.where`` gives a 0-d array, ``astype`` and ``.T``
keep what their operand is; the compiled program must return the same kind.  Found by running
the op references on 0-d stand-ins in program order (0-d parameters are arrays; 0-d inputs are
scalars when :attr:`codegen.analysis.Analysis.scalar_inputs` says so).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ir import ScalarType
from ir.node import Node, Use, map_template
from ir.ops import get_op

from .analysis import _PY_EXAMPLE, Analysis, _Unknown, tensor_of
from .lowering import LOWER, Reduce

__all__ = ["zero_d_scalars"]


def zero_d_scalars(a: Analysis) -> dict[int, bool]:
    """Node id -> whether its 0-d result is a NumPy scalar (only nodes with a 0-d result)."""
    out: dict[int, bool] = {}
    for nid in a.order:
        node = a.g.node(nid)
        t = tensor_of(node.types[0]) if node.types else None
        if t is None or t.shape != ():
            continue
        if node.op == "input":
            out[nid] = node.kwarg("index") in a.scalar_inputs
        elif node.op == "param":
            out[nid] = False
        elif node.op == "constant":
            name = node.kwarg("name")
            out[nid] = not isinstance(a.g.tensors[name] if name is not None else None, np.ndarray)
        elif isinstance(LOWER.get(node.op) if node.op in LOWER else None, Reduce):
            out[nid] = True
        else:
            out[nid] = _by_example(a, nid, node, out)
    return out


def _by_example(a: Analysis, nid: int, node: Node, known: dict[int, bool]) -> bool:
    refs = a.g.inputs(nid)

    def stand_in(u: Use) -> Any:
        ref = refs[u.index]
        if ref in a.static:
            return a.static[ref]
        t = a.vtype(ref)
        tt = tensor_of(t)
        if tt is not None and tt.shape == ():
            one = np.ones((), tt.dtype)
            return one[()] if known.get(ref[0], True) else one
        if isinstance(t, ScalarType) and t.kind in _PY_EXAMPLE:
            return _PY_EXAMPLE[t.kind]
        raise _Unknown

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = get_op(node.op).impl(*map_template(node.args, stand_in), **dict(map_template(node.kwargs, stand_in)))
    except Exception:  # an operand not known here: what NumPy's ufuncs do
        return True
    if isinstance(out, (tuple, list)):
        out = out[0] if out else None
    return not isinstance(out, np.ndarray)
