"""Item assignment and in-place operators on traced arrays, with NumPy's view semantics.

Programs never mutate arrays: ``x[i] = v`` records ``x = setitem(x, i, v)`` (JAX's
``x.at[i].set(v)``) and rebinds the traced value.  To keep NumPy's aliasing, every array proxy
that shares memory with another (``y = x[0]``, ``x.T``, ``x.reshape(...)``, decided by running the
op for real) remembers the :class:`Buffer` it views and the :class:`Step` s leading there from
the buffer's root value.  A write through any of them updates the buffer (writing back through
the inverse of each step), and every view re-derives itself from the buffer when next used.
What cannot be followed faithfully (writing through a view whose op has no inverse, into module
state, into a read-only array) is a :class:`tracer.TracingError` naming the user's line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ir.ops import OpDef, get_op

__all__ = ["Buffer", "Step", "join", "link_views", "write", "inplace"]

#: How "where the data comes from" combines: a result depends on its most varying argument.
ORIGIN_RANK = {"const": 0, "size": 1, "data": 2}


class Buffer:
    """The memory that array proxies view: its current root value and a version per write."""

    __slots__ = ("v", "value", "version", "origin", "state")

    def __init__(self, v: Any, value: Any, origin: str, state: str | None = None) -> None:
        self.v = v
        self.value = value
        self.version = 0
        self.origin = origin
        self.state = state  # qualified name when the buffer is a parameter or buffer of the module


@dataclass(frozen=True)
class Step:
    """``op(*args, **kwargs)`` with the parent at ``args[pos]``; ``out`` picks a multi-output result."""

    op: OpDef
    args: tuple
    kwargs: dict
    pos: int
    out: int | None = None

    def apply(self, tracer: Any, parent: Any) -> Any:
        if self.pos < 0:
            raise tracer.error(
                f"an array made by {self.op.spelling}() shares memory with an array written afterwards, and "
                "the tracer cannot follow that write into it; take a copy (.copy()) where it is made, or "
                "make it after the write"
            )
        args = (*self.args[:self.pos], parent, *self.args[self.pos + 1:])
        result = tracer.record_call(self.op, args, dict(self.kwargs))
        return result if self.out is None else result[self.out]


def root_of(proxy: Any) -> Buffer:
    """``proxy``'s buffer (a new one when the proxy owns fresh memory)."""
    if proxy._root is None:
        proxy._root = Buffer(proxy._v_, proxy._value_, proxy._origin)
        proxy._path = ()
        proxy._version = 0
    return proxy._root


def sync(proxy: Any) -> None:
    """Re-derive a view from its buffer after a write (recording the view's ops again)."""
    root = proxy._root
    tracer = proxy._tracer
    current = _detached(tracer, root)
    for step in proxy._path:
        current = step.apply(tracer, current)
    proxy._v_, proxy._value_, proxy._version = current._v_, current._value_, root.version
    proxy._origin = join(proxy._origin, current._origin)


def _detached(tracer: Any, root: Buffer) -> Any:
    from .proxy import Proxy

    p = Proxy(tracer, root.v, root.value)
    p._origin = root.origin
    return p


def join(*origins: str) -> str:
    return max(origins, key=ORIGIN_RANK.__getitem__) if origins else "const"


def link_views(tracer: Any, op: OpDef, args: tuple, kwargs: dict, outs: list) -> None:
    """Mark each result of ``op`` that shares memory with its first array argument as a view of it."""

    arrays = [a for a in _proxies((args, kwargs)) if isinstance(a._value_, np.ndarray)]
    for k, out in enumerate(outs):
        if not isinstance(out._value_, np.ndarray):
            continue
        shared = [a for a in arrays if np.may_share_memory(out._value_, a._value_)]
        if not shared:
            continue
        base = shared[0]
        # re-derivable when the memory is that of one top-level argument; else reading it after a
        # write to its base is refused (Step.apply), and so is writing through it (no inverse)
        pos = next((i for i, a in enumerate(args) if a is base), -1)
        if len(shared) > 1:
            pos = -1
        root = root_of(base)
        out._root = root
        out._path = (*base._path, Step(op, tuple(args), dict(kwargs), pos, k if op.multi_output else None))
        out._version = root.version


def _proxies(value: Any) -> list:
    from .proxy import Proxy

    if isinstance(value, Proxy):
        return [value]
    if isinstance(value, (tuple, list)):
        return [p for v in value for p in _proxies(v)]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _proxies(v)]
    return []


# -- writing back through a view: parent' from parent and child' ----------------------------------
def _inverse_getitem(tracer: Any, step: Step, parent: Any, child: Any) -> Any:
    return tracer.record_call(get_op("setitem"), (parent, step.args[1], child), {})


def _inverse_reshape(tracer: Any, step: Step, parent: Any, child: Any) -> Any:
    return tracer.record_call(get_op("reshape"), (child, parent.shape), {})


def _arguments(step: Step) -> dict:
    """The step's arguments by parameter name (NumPy functions take some by keyword)."""
    return step.op.signature.bind(*step.args, **step.kwargs).arguments


def _inverse_transpose(tracer: Any, step: Step, parent: Any, child: Any) -> Any:
    axes = _arguments(step).get("axes")
    inverse = None if axes is None or axes == () else tuple(int(i) for i in np.argsort([a % parent.ndim for a in axes]))
    return tracer.record_call(get_op("transpose"), (child, inverse), {})


def _inverse_swapaxes(tracer: Any, step: Step, parent: Any, child: Any) -> Any:
    bound = list(_arguments(step).values())
    return tracer.record_call(get_op("swapaxes"), (child, *bound[1:]), {})


def _inverse_moveaxis(tracer: Any, step: Step, parent: Any, child: Any) -> Any:
    _, source, destination = _arguments(step).values()
    return tracer.record_call(get_op("moveaxis"), (child, destination, source), {})


INVERSES = {
    "getitem": _inverse_getitem,
    "reshape": _inverse_reshape,
    "ravel": _inverse_reshape,
    "expand_dims": _inverse_reshape,
    "squeeze": _inverse_reshape,
    "transpose": _inverse_transpose,
    "swapaxes": _inverse_swapaxes,
    "moveaxis": _inverse_moveaxis,
}


def write(proxy: Any, index: Any, value: Any, what: str = "x[...] = v") -> None:
    """``proxy[index] = value`` with NumPy's semantics: every name and view of the memory sees it."""
    from .proxy import _index_arg

    tracer = proxy._tracer
    if not tracer.concrete:
        raise tracer.error(f"item assignment ({what}) in library code called from tracer.script; build the "
                           "result with np.where or np.concatenate instead")
    current = proxy._value  # syncs the view first
    if not isinstance(current, np.ndarray):
        raise TypeError(f"'{type(current).__name__}' object does not support item assignment")
    if not current.flags.writeable:
        raise tracer.error(f"{what} writes into a read-only view (np.broadcast_to, ...), which NumPy refuses "
                           "too; take a copy first: y = x.copy()")
    root = root_of(proxy)
    if root.state is not None:
        raise tracer.error(
            f"{what} writes into the module's parameter or buffer {root.state!r}; a traced program cannot "
            "change module state. Write into a copy (w = self.weight.copy()), or change it outside forward"
        )
    for step in proxy._path:
        if step.op.name not in INVERSES or step.pos < 0:
            raise tracer.error(
                f"{what} writes through a view made by {step.op.spelling}(), which the tracer cannot follow "
                "back to its base; write into the base array with an index instead, or take a copy "
                "(.copy()) if the base should not change"
            )
    new = tracer.record_call(get_op("setitem"), (proxy, _index_arg(index), value), {})
    # the parents along the path, as they are now; then write back from the leaf to the root
    parents = [_detached(tracer, root)]
    for step in proxy._path[:-1]:
        parents.append(step.apply(tracer, parents[-1]))
    child = new
    for step, parent in zip(reversed(proxy._path), reversed(parents)):
        child = INVERSES[step.op.name](tracer, step, parent, child)
    root.v, root.value, root.version = child._v_, child._value_, root.version + 1
    root.origin = join(root.origin, child._origin)
    proxy._v_, proxy._value_, proxy._version = new._v_, new._value_, root.version
    proxy._origin = join(proxy._origin, new._origin)


def inplace(proxy: Any, name: str, other: Any) -> Any:
    """``proxy <op>= other``: NumPy writes the result into ``proxy`` (casting ``same_kind``)."""
    result = proxy._tracer.record_call(get_op(name), (proxy, other), {})
    current = proxy._value_
    if not isinstance(current, np.ndarray) or not proxy._tracer.concrete:
        return result  # Python ints and NumPy scalars are immutable: the name is rebound, as in NumPy
    got = np.result_type(result._value_)
    if not np.can_cast(got, current.dtype, "same_kind"):
        raise proxy._tracer.error(
            f"in-place {name}: cannot cast the result from {got} to {current.dtype} with casting rule "
            "'same_kind' (NumPy refuses too); write x = x <op> y to get a new array"
        )
    if np.shape(result._value_) != current.shape:
        raise proxy._tracer.error(
            f"in-place {name}: the result has shape {np.shape(result._value_)} but the array has shape "
            f"{current.shape} (NumPy refuses too); write x = x <op> y to get a new array"
        )
    write(proxy, Ellipsis, result, what=f"in-place {name}")
    return proxy
