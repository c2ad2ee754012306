"""Values computed from parameters alone are computed once and kept across calls (prepacked).

A contiguous copy of a transposed weight (``ir.passes.copy_shared_transposes``), or weights
concatenated for one product, depend on parameters and constants only.  Made once per call, such
a value costs its time and its memory on every call (the zoo's ``rnn``: ``W.T`` of a (128, 128)
weight, 64 KiB and about 6 us per call, beside NumPy eager's 42 KB peak).  The weights of a
loaded model rarely change, so the planner marks such values *prepacked*
(:func:`mark_prepacked`): each is one NumPy call in the driver, whose result
``runtime.prepacked.Prepacked`` keeps, shared by all threads, while the parameters it was
computed from are the same objects holding the same bytes.  So, like ONNX Runtime's prepacked
weights, it is memory held by the loaded module (once), not by each call.

Parameters may still change: assigned anew (another object), or updated in place (the same
object, other bytes; a training step).  Each call compares every such parameter with a copy of
the bytes it had (``memcmp``, about 1 us for 64 KiB): any difference recomputes the value, so a
result never depends on stale weights.  The kept value is read-only, so nothing can write into
it by mistake.

What qualifies: a node whose operation makes a new array (``PREPACK_OPS``), whose inputs are
parameters, constants or views of them (transposes, reshapes), and whose result is not returned
(a returned array must be the caller's own, fresh on every call).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PREPACK_OPS", "mark_prepacked", "prepack_roots"]

#: Operations that make a new array from their operands only (no randomness, no state).
PREPACK_OPS = frozenset({"copy", "ascontiguousarray", "concatenate", "stack"})


def mark_prepacked(build: Any) -> set[int]:
    """Nodes of ``build`` (a ``codegen.plan`` build, classified) whose values are prepacked.

    They become NumPy calls (kind ``host``) instead of kernel candidates; ``prepack_roots``
    later names the parameters each depends on.  Values that are returned are left alone."""
    g = build.g
    fixed: set[int] = set()  # parameters, constants, static values and views of them
    marked: set[int] = set()
    returned = {ref[0] for ref in g.inputs(g.output_node)}
    for nid in build.order:
        node = g.node(nid)
        kind = build.kind[nid]
        if kind in ("param", "constant", "static"):
            fixed.add(nid)
            continue
        ins = g.inputs(nid)
        if not ins or any(src not in fixed for src, _ in ins):
            continue
        if kind == "view":
            fixed.add(nid)
        elif node.op in PREPACK_OPS and len(node.types) == 1 and nid not in returned \
                and kind in ("candidate", "host") and getattr(node.types[0], "is_concrete", False):
            build.kind[nid] = "host"
            build.candidates.pop(nid, None)
            marked.add(nid)
            fixed.add(nid)
    return marked


def prepack_roots(build: Any, nid: int) -> tuple[int, ...]:
    """Env slots of the parameters prepacked node ``nid`` is computed from (constants and static
    values never change, so only parameters are checked)."""
    g = build.g
    roots: list[int] = []
    stack = [nid]
    seen = set()
    while stack:
        n = stack.pop()
        for src, out in g.inputs(n):
            if src in seen:
                continue
            seen.add(src)
            if g.node(src).op == "param":
                roots.append(build.slot((src, out)))
            else:
                stack.append(src)
    return tuple(sorted(set(roots)))
