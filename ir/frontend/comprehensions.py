"""Comprehensions, and ``for`` loops over lists and dicts.

``[f(v) for v in xs if c(v)]`` compiles as the loop Python runs for it::

    comp$ = []
    for v in xs:
        if c(v):
            comp$.append(f(v))

(a dict comprehension assigns ``comp$[k] = v``; a generator expression is a list comprehension
whose list is consumed at once), with the comprehension's variables local to it.  So an iterable
known while compiling (a tuple, a list, ``range`` of constants, ``zip``/``enumerate`` of them, a
ModuleList) is unrolled into a list of known length, and ``range(n)`` of a size known only when the
program runs becomes a ``loop`` that builds a run-time list.

A ``for`` loop over a run-time list runs ``for i$ in range(len(l)): v = l[i$]; ...``.
"""

from __future__ import annotations

import ast
from typing import Any

from ..builder import Value
from ..ops import get_op
from ..types import TupleType
from .container_calls import MUTATORS
from .container_values import is_container, is_dict, is_list, is_runtime, static_items


def _located(node: ast.AST, like: ast.AST) -> ast.AST:
    for n in ast.walk(node):
        if not hasattr(n, "lineno") or getattr(n, "lineno", None) is None:
            ast.copy_location(n, like)
    return node


def _bound_names(target: ast.expr) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


class _Comprehensions:
    """List, dict and generator comprehensions and loops over containers; mixed into the compiler."""

    def _hidden(self, stem: str) -> str:
        n = self.__dict__.get("_hidden_count", 0) + 1
        self.__dict__["_hidden_count"] = n
        return f"{stem}${n}"

    def _e_ListComp(self, e: ast.ListComp) -> Any:
        return self._comprehension(e, e.generators, ast.List(elts=[], ctx=ast.Load()),
                                   lambda name: ast.Expr(ast.Call(
                                       ast.Attribute(ast.Name(name, ast.Load()), "append", ast.Load()), [e.elt], [])))

    def _e_GeneratorExp(self, e: ast.GeneratorExp) -> Any:
        return self._e_ListComp(e)  # consumed at once by the call it is passed to

    def _e_DictComp(self, e: ast.DictComp) -> Any:
        return self._comprehension(e, e.generators, ast.Dict(keys=[], values=[]),
                                   lambda name: ast.Assign(
                                       [ast.Subscript(ast.Name(name, ast.Load()), e.key, ast.Store())], e.value))

    def _comprehension(self, e: ast.expr, generators: list[ast.comprehension], empty: ast.expr, add: Any) -> Any:
        for g in generators:
            if g.is_async:
                raise self.error(e, "unsupported construct 'async comprehension'", "models are synchronous")
        name = self._hidden("comp")
        env = self.frame.env
        local = [n for g in generators for n in _bound_names(g.target)]
        saved = {n: env[n] for n in local if n in env}
        saved_dropped = {n: self.frame.dropped[n] for n in local if n in self.frame.dropped}
        hidden: list[str] = []
        body: list[ast.stmt] = [add(name)]
        for g in reversed(generators):
            for cond in reversed(g.ifs):
                body = [ast.If(test=cond, body=body, orelse=[])]
            body = [ast.For(target=g.target, iter=g.iter, body=body, orelse=[])]
        first = body[0]
        try:
            # the first iterable is evaluated where the comprehension is, the rest inside it, where
            # its variables are its own (an outer variable of the same name is neither read nor carried)
            first.iter = self._evaluated_iter(first.iter, hidden)
            for n in local:
                env.pop(n, None)
            self.block([_located(s, e) for s in (ast.Assign([ast.Name(name, ast.Store())], empty), first)])
            return self.frame.env.pop(name)
        finally:
            env = self.frame.env
            for n in hidden:
                env.pop(n, None)
            for n in local:
                env.pop(n, None)
                self.frame.dropped.pop(n, None)
            env.update(saved)
            self.frame.dropped.update(saved_dropped)

    def _evaluated_iter(self, it: ast.expr, hidden: list[str]) -> ast.expr:
        """``it`` compiled now, bound to a hidden name; ``range`` of constants becomes its tuple, so
        that it is unrolled like any static iterable."""
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and not it.keywords \
                and self.name(it.func) is range:
            args = [self.expr(a) for a in it.args]
            names = []
            for a in args:
                n = self._hidden("arg")
                self.frame.env[n] = a
                hidden.append(n)
                names.append(ast.Name(n, ast.Load()))
            if not any(isinstance(a, Value) for a in args):
                it = ast.Call(ast.Name("range", ast.Load()), names, [])
                n = self._hidden("iter")
                self.frame.env[n] = self.call(range, args, {}, it)  # a tuple (budgeted)
                hidden.append(n)
                return ast.Name(n, ast.Load())
            return ast.Call(it.func, names, [])
        n = self._hidden("iter")
        self.frame.env[n] = self.expr(it)
        hidden.append(n)
        return ast.Name(n, ast.Load())

    # -- for loops over containers ---------------------------------------------------------------------
    def for_items(self, s: ast.For, seq: Any) -> Any:
        """What ``for ... in seq`` visits: a static list's items, a dict's keys, a tuple value's items;
        None when ``seq`` is a list or dict known only when the program runs, whose loop this compiles
        (``for i$ in range(len(l)): target = l[i$]; ...``).  Anything else is returned unchanged."""
        if isinstance(seq, Value) and isinstance(seq.type, TupleType):
            return tuple(self.unpack(seq, len(seq.type.elements), s))
        keys = self.static_iterable(seq, s) if is_dict(seq) else None
        if keys is not None:  # a dict whose keys are known
            return tuple(keys)
        if not is_runtime(seq):
            items = static_items(seq) if not isinstance(seq, (tuple, list, range)) else None
            return tuple(items) if items is not None else seq
        if is_dict(seq):
            seq = self.call_method_of(seq, "keys", s)
        name, index = self._hidden("iter"), self._hidden("i")
        env = self.frame.env
        env[name] = seq
        first = ast.Assign([s.target], ast.Subscript(ast.Name(name, ast.Load()), ast.Name(index, ast.Load()),
                                                     ast.Load()))
        loop = ast.For(target=ast.Name(index, ast.Store()), iter=s.iter, body=[_located(first, s), *s.body],
                       orelse=[])
        ast.copy_location(loop, s)
        try:
            self._for_range(loop, [self.container_len(seq, s)])
        finally:
            self.frame.env.pop(name, None)
            self.frame.env.pop(index, None)
        return None

    def containers_changed(self, body: list[ast.stmt], env: dict) -> list[str]:
        """Names of lists and dicts that ``body`` changes (``l.append(v)``, ``d[k] = v``, ``l += ...``,
        also through ``d[k].append(v)``): a loop carries them."""
        names: list[str] = []

        def root(node: ast.expr) -> str | None:
            while isinstance(node, ast.Subscript):
                node = node.value
            return node.id if isinstance(node, ast.Name) else None

        for stmt in body:
            for node in ast.walk(stmt):
                found = None
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
                    found = root(node.func.value)
                elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        for sub in ast.walk(t):
                            if isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Store):
                                n = root(sub)
                                if n is not None and is_container(env.get(n)) and n not in names:
                                    names.append(n)
                    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                        found = node.target.id
                if found is not None and is_container(env.get(found)) and found not in names:
                    names.append(found)
        return names

    def call_method_of(self, obj: Any, name: str, node: ast.AST) -> Any:
        return self.container_method(self.container_attribute(obj, name, node), [], {}, node)

    def container_len(self, obj: Any, node: ast.AST) -> Any:
        """``len(obj)`` of a list or dict."""
        if not is_runtime(obj):
            return len(obj)
        keys = self.static_iterable(obj, node) if not is_list(obj) else None
        if keys is not None:
            return len(keys)
        return self.emit(get_op("list_len" if is_list(obj) else "dict_len"), (obj,), {}, node)

