"""``lambda`` and ``map``: what picoGPT writes (``list(map(lambda x: np.split(x, n, axis=-1), qkv))``).

A ``lambda`` is a function known while compiling; calling it compiles its body where it is
called (like a called ``def``), with the names of the function that made it as they are at the
call.  ``map(f, *seqs)`` over sequences known while compiling is the tuple of the calls.
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["Lambda", "call_lambda", "static_map"]


class Lambda:
    """A ``lambda`` expression and the frame it was made in."""

    def __init__(self, node: ast.Lambda, frame: Any) -> None:
        self.node, self.frame = node, frame

    def __repr__(self) -> str:
        return f"<lambda at line {self.node.lineno}>"


def call_lambda(c: Any, fn: Lambda, args: list, kwargs: dict, e: ast.AST) -> Any:
    """``fn(*args, **kwargs)``: the body compiled with the parameters bound."""
    a = fn.node.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise c.error(fn.node, "a lambda with *args, **kwargs or keyword-only parameters",
                      "define it with def")
    params = [p.arg for p in a.args]
    defaults = dict(zip(params[::-1], a.defaults[::-1]))
    if len(args) > len(params):
        raise c.error(e, f"the lambda takes {len(params)} arguments but {len(args)} were given")
    env = dict(fn.frame.env)
    bound = dict(zip(params, args))
    for k, v in kwargs.items():
        if k not in params or k in bound:
            raise c.error(e, f"the lambda got an unexpected or repeated argument {k!r}")
        bound[k] = v
    if len(c.frames) >= c.MAX_DEPTH:
        raise c.error(e, "calls nest too deeply (recursion is not supported)", "rewrite the recursion as a loop")
    c.frames.append(type(fn.frame)(fn.frame.source, env))
    try:
        for p in params:
            if p not in bound:
                if p not in defaults:
                    raise c.error(e, f"the lambda is missing argument {p!r}")
                bound[p] = c.expr(defaults[p])
        env.update(bound)
        return c.expr(fn.node.body)
    finally:
        c.frames.pop()


def static_map(c: Any, args: list, kwargs: dict, e: ast.AST) -> Any:
    """``map(f, *seqs)`` over sequences known while compiling."""
    if kwargs or len(args) < 2:
        raise c.error(e, "map() takes a function and at least one sequence")
    fn, seqs = args[0], args[1:]
    if not all(isinstance(s, (tuple, list)) for s in seqs):
        raise c.error(e, "map() over a sequence whose length is not known while compiling",
                      "loop with for and append to a list")
    for s in seqs:
        c.budget.check_length(len(s), e)
    return tuple(c.call(fn, list(items), {}, e) for items in zip(*seqs))
