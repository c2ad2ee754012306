"""Lexicographical topological order of a DAG given as adjacency dicts, without networkx.

The same order as ``networkx.lexicographical_topological_sort``: among the nodes whose producers
have all been emitted, the one with the smallest ``key`` comes next (ties: the earlier in the
adjacency's iteration order).  Written out here so that the load path does not import networkx
(0.1 s) for a twenty-line algorithm.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["lexicographical_topological_sort", "partial_order"]

H = TypeVar("H", bound=Hashable)


def lexicographical_topological_sort(succ: Mapping[H, Iterable[H]], key: Callable[[H], Any] | None = None) -> list[H]:
    """Every node of ``succ`` (node -> its successors, once each or once per edge;
    every node a key),
    producers before consumers, smallest ``key`` first.

    Raises ``networkx.NetworkXUnfeasible`` (as networkx's own sort does) when there is a cycle.

    Examples
    --------
    >>> lexicographical_topological_sort({3: [1], 2: [1], 1: []})
    [2, 3, 1]
    >>> lexicographical_topological_sort({"b": ["a"], "a": [], "c": []}, key=len)
    ['b', 'a', 'c']
    """
    out = partial_order(succ, key)
    if len(out) != len(succ):
        import networkx as nx  # only on this failure path: the error networkx's sort raises

        raise nx.NetworkXUnfeasible("Graph contains a cycle or graph changed during iteration")
    return out


def partial_order(succ: Mapping[H, Iterable[H]], key: Callable[[H], Any] | None = None) -> list[H]:
    """The order of :func:`lexicographical_topological_sort` as far as it goes: all of ``succ``'s
    nodes for a DAG, fewer (none of those on or after a cycle) otherwise."""
    indegree: dict[H, int] = dict.fromkeys(succ, 0)
    for children in succ.values():
        for child in children:
            indegree[child] += 1
    position = {n: i for i, n in enumerate(succ)}
    if key is None:
        ready = [(n, position[n], n) for n, d in indegree.items() if d == 0]
    else:
        ready = [(key(n), position[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    out: list[H] = []
    while ready:
        node = heapq.heappop(ready)[2]
        out.append(node)
        for child in succ[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, (child if key is None else key(child), position[child], child))
    return out
