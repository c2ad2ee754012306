"""Fast walks over ``ast`` trees for the frontend's checks of whole functions.

``ast.walk`` costs two Python generators per node (``iter_child_nodes``, ``iter_fields``); the
checks every compiled function goes through (unsupported constructs, nesting depth, whether it
assigns into items) walked each tree three times that way, a few milliseconds for a program of
a few hundred lines, on every load of an archive.  These walks visit the same nodes in the same
order with one loop.
"""

from __future__ import annotations

import ast

__all__ = ["walk", "deeper_than", "statements"]

_AST = ast.AST
_EXPR = ast.expr


def _children(node: ast.AST, out: list) -> None:
    """Append ``node``'s child nodes to ``out`` in ``ast.iter_child_nodes``'s order."""
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, _AST):
            out.append(value)
        elif isinstance(value, list):
            out.extend([item for item in value if isinstance(item, _AST)])


def walk(node: ast.AST) -> list[ast.AST]:
    """Every node under ``node`` (itself first), in ``ast.walk``'s order (breadth first), as a list.

    Examples
    --------
    >>> tree = ast.parse("y = f(x)[0]")
    >>> [type(n).__name__ for n in walk(tree)] == [type(n).__name__ for n in ast.walk(tree)]
    True
    """
    nodes = [node]
    for n in nodes:  # the list grows while it is read: breadth first, like ast.walk's deque
        for name in n._fields:
            value = getattr(n, name, None)
            if isinstance(value, _AST):
                nodes.append(value)
            elif isinstance(value, list):
                nodes.extend([item for item in value if isinstance(item, _AST)])
    return nodes


def deeper_than(tree: ast.AST, limit: int) -> bool:
    """Whether some node lies more than ``limit`` levels below ``tree`` (``tree`` is level 0).

    Examples
    --------
    >>> tree = ast.parse("x")  # Module > Expr > Name > Load
    >>> deeper_than(tree, 2), deeper_than(tree, 3)
    (True, False)
    """
    level = [tree]
    depth = 0
    while level:
        if depth > limit:
            return True
        below: list = []
        for node in level:
            _children(node, below)
        level = below
        depth += 1
    return False


def statements(stmts: list[ast.stmt]) -> list[ast.AST]:
    """The statements in ``stmts`` and in every block nested in them (``if``/loop bodies, nested
    ``def``, handlers), not looking into expressions: an expression never holds a statement.

    Every ``ast.stmt`` that :func:`walk` would find under ``stmts`` is here.
    """
    nodes: list = list(stmts)
    for n in nodes:
        for name in n._fields:
            value = getattr(n, name, None)
            if isinstance(value, list):
                nodes.extend([item for item in value if isinstance(item, _AST) and not isinstance(item, _EXPR)])
            elif isinstance(value, _AST) and not isinstance(value, _EXPR):
                nodes.append(value)
    return nodes
