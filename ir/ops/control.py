"""Control flow: ``if`` and ``loop``, ops that own sub-graphs (``Node.blocks``).

``if(cond, *inputs)`` has two blocks (then, else).  Each block has one ``input`` node per entry
of ``inputs`` and returns a tuple with one value per output of the ``if``.

``loop(cond, *inputs, n_carried=k)`` is ``while cond: ...``.  ``inputs`` are the ``k`` carried
values' initial values followed by loop-invariant values.  Its one block (the body) has one input
per entry of ``inputs`` and returns ``(cond, *carried)``: whether to run again, and the next
carried values.  The loop's outputs are the final carried values.

Their types come from their blocks (see ``ir.passes.infer``), and the interpreter runs their
blocks itself; the references below only document the semantics.
"""

from __future__ import annotations

from ..types import NeverType
from .registry import OpKind, defop

CONTROL = OpKind.CONTROL


@defop("if", CONTROL, multi_output=True, pure=False, spelling="control")
def if_(cond, *inputs):
    """Run block 0 when ``bool(cond)`` is true, else block 1, on ``inputs``; return its results."""
    raise RuntimeError("'if' is run by the executor, which owns its blocks")


@defop("loop", CONTROL, multi_output=True, pure=False, spelling="control")
def loop(cond, *inputs, n_carried=0):
    """While ``bool(cond)``: ``cond, *carried = body(*carried, *invariants)``; return ``carried``."""
    raise RuntimeError("'loop' is run by the executor, which owns its block")


def _never():
    return NeverType()


@defop("undefined", OpKind.CREATION, infer=_never, pure=False)
def undefined():
    """The result of a function that has not returned yet: what the branch of an ``if`` that falls
    through passes on in the place of the value the other branch returned.  The flag that says
    whether the function has returned guards every read, so it is never used; its type joins with
    any type as that type (:class:`ir.types.NeverType`)."""
    return None


#: How many blocks each control op has.
N_BLOCKS = {"if": 2, "loop": 1}
