"""The IR node payload and the argument templates it carries.

An operation is recorded the way it was called: ``op(*args, **kwargs)``.  ``args`` and ``kwargs``
are *templates*: nested tuples of Python literals in which every runtime value is replaced by a
:class:`Use` placeholder naming the incoming graph edge that carries it.  Slices are stored as
:class:`Slice` so that templates stay hashable (``slice`` is not hashable on Python 3.11).

Templates hold only: ``None``, ``bool``, ``int``, ``float``, ``str``, ``Ellipsis``, ``np.dtype``,
``tuple``, :class:`Slice` and :class:`Use`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .types import Type

__all__ = ["Use", "Slice", "SourceLoc", "Node", "map_template", "iter_uses", "LITERAL_TYPES"]


@dataclass(frozen=True, slots=True)
class Use:
    """Placeholder for the ``index``-th input value of a node."""

    index: int


@dataclass(frozen=True, slots=True)
class Slice:
    """A hashable ``slice``; its bounds may be :class:`Use` placeholders."""

    start: Any = None
    stop: Any = None
    step: Any = None


@dataclass(frozen=True, slots=True)
class SourceLoc:
    """Where in the user's source an operation came from."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


LITERAL_TYPES = (type(None), bool, int, float, str, type(Ellipsis), np.dtype)


@dataclass(frozen=True, slots=True)
class Node:
    """Payload of one IR operation, stored under the ``"node"`` key of a networkx node.

    Attributes
    ----------
    op : str
        Registered operator name (see :mod:`ir.ops`).
    args, kwargs : template
        The call, with runtime values replaced by :class:`Use` placeholders.
        ``kwargs`` is a tuple of ``(name, template)`` pairs in a fixed order.
    types : tuple of Type
        One type per output (most ops have one output).
    scope : str
        Qualified path of the module that issued the operation (``""`` for the root).
        Like ``loc`` it is provenance, not semantics: it does not take part in comparisons.
    loc : SourceLoc or None
        The user's file and line.
    blocks : tuple of Graph
        Sub-graphs of control-flow ops (``if``: then, else; ``loop``: body).
    hints : tuple of str
        Preferred printed names of the outputs (the user's variable names); cosmetic only.
    """

    op: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    types: tuple[Type, ...] = ()
    scope: str = field(default="", compare=False)
    loc: SourceLoc | None = field(default=None, compare=False)
    blocks: tuple = field(default=(), compare=False)
    hints: tuple[str, ...] = field(default=(), compare=False)

    @property
    def kwargs_dict(self) -> dict[str, Any]:
        return dict(self.kwargs)

    def kwarg(self, name: str, default: Any = None) -> Any:
        for key, value in self.kwargs:
            if key == name:
                return value
        return default

    @property
    def num_outputs(self) -> int:
        return len(self.types)


def map_template(template: Any, fn: Callable[[Use], Any], slice_type: Callable = slice) -> Any:
    """Rebuild ``template`` with every :class:`Use` replaced by ``fn(use)``.

    :class:`Slice` becomes ``slice_type(start, stop, step)`` (a real ``slice`` by default).
    """
    if isinstance(template, Use):
        return fn(template)
    if isinstance(template, tuple):
        return tuple(map_template(t, fn, slice_type) for t in template)
    if isinstance(template, Slice):
        return slice_type(
            map_template(template.start, fn, slice_type),
            map_template(template.stop, fn, slice_type),
            map_template(template.step, fn, slice_type),
        )
    return template


def iter_uses(template: Any) -> Iterator[Use]:
    """Every :class:`Use` in ``template``, in order."""
    if isinstance(template, Use):
        yield template
    elif isinstance(template, tuple):
        for t in template:
            yield from iter_uses(t)
    elif isinstance(template, Slice):
        yield from iter_uses(template.start)
        yield from iter_uses(template.stop)
        yield from iter_uses(template.step)
