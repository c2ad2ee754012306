"""Graph -> Graph passes.  Each is pure (it copies), has a name, and is listed in :data:`PASSES`.

>>> for name in sorted(PASSES): print(name)
copy_shared_transposes
cse
dce
fold
infer_types
merge_sliced_matmuls
merge_split_products
unroll_loops
"""

from __future__ import annotations

from collections.abc import Callable

from ..graph import Graph
from ..verify import verify
from .cse import cse
from .dce import dce
from .fold import fold
from .infer import infer_types
from .merge_matmuls import merge_sliced_matmuls
from .merge_split_products import merge_split_products
from .transposed_weights import copy_shared_transposes
from .unroll import unroll_loops

__all__ = ["PASSES", "DEFAULT_PIPELINE", "copy_shared_transposes", "cse", "dce", "fold", "infer_types",
           "merge_sliced_matmuls", "merge_split_products", "run_passes", "unroll_loops"]

PASSES: dict[str, Callable[[Graph], Graph]] = {
    "copy_shared_transposes": copy_shared_transposes,
    "dce": dce,
    "cse": cse,
    "fold": fold,
    "infer_types": infer_types,
    "merge_sliced_matmuls": merge_sliced_matmuls,
    "merge_split_products": merge_split_products,
    "unroll_loops": unroll_loops,
}

#: What ``tracer.trace`` runs after recording.
DEFAULT_PIPELINE = ("fold", "cse", "dce")


def run_passes(graph: Graph, names: tuple[str, ...] = DEFAULT_PIPELINE, check: bool = False) -> Graph:
    """Run the named passes in order; with ``check`` verify the graph after each one."""
    for name in names:
        graph = PASSES[name](graph)
        if check:
            verify(graph)
    return graph
