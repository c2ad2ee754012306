"""Item assignment and in-place operators with NumPy's semantics, in a program that never mutates.

``x[i] = v`` compiles to ``x = setitem(x, i, v)`` and ``x += y`` to ``x = assign(x, x + y)``
(``assign`` casts back to ``x``'s dtype under NumPy's ``same_kind`` rule).  What NumPy would make
visible elsewhere is followed by name, in the environment, so ``if`` joins and loops carry it
like any variable:

* every name bound to the same array (``y = x``) sees the new value;
* ``y = x[0, :]`` (basic indexing) records ``y`` as a view of ``x`` (the hidden ``y$view`` holds
  ``("x", index)``): writing into ``y`` writes into ``x``, and writing into ``x`` refreshes ``y``;
* an array argument is also bound to the hidden ``x$input``: when the function ends with it
  changed, the program copies the new value into the caller's array (``ops.writeback``), after
  its results are computed; in a called function, the caller's names are updated instead.

What cannot be followed is refused, naming the line: writing into a module's parameter, into a
reshaped or transposed view of a named array, or into an array some other way aliases.
"""

from __future__ import annotations

import ast
from typing import Any

from ..builder import Value
from ..ops import OpKind, get_op
from ..types import AnyType, TensorType
from .astwalk import statements, walk
from .expressions import _index_arg

__all__ = ["INPUT", "VIEW", "ambiguous", "mutates", "input_cell"]

INPUT = "$input"
VIEW = "$view"


def ambiguous(*records: Any) -> tuple[str, frozenset]:
    """The view record of a name that views another array after one branch of an ``if`` and not
    after the other (or another array): ``("?", the names it may view)``; writing through it, or
    into one of those names while it is alive, is refused."""
    bases: set[str] = set()
    for r in records:
        if r is not None:
            bases |= set(r[1]) if r[0] == "?" else {r[0]}
    return ("?", frozenset(bases))


def input_cell(name: str) -> str:
    """The hidden name that follows argument ``name``'s array."""
    return name + INPUT


def mutates(stmts: list[ast.stmt]) -> bool:
    """Whether ``stmts`` assign into an item or use an in-place operator (nested blocks included)."""
    for node in statements(stmts):  # these are statements: no need to look into expressions
        if isinstance(node, ast.AugAssign):
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Subscript) for target in targets for t in walk(target)):
                return True
    return False


def stored_names(stmts: list[ast.stmt]) -> set[str]:
    """Names put into a list by ``xs.append(name)``, ``xs.insert(i, name)`` or ``xs.extend([name])``."""
    names: set[str] = set()
    for s in stmts:
        for node in walk(s):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("append", "insert", "extend"):
                for a in node.args:
                    for n in walk(a):
                        if isinstance(n, ast.Name):
                            names.add(n.id)
    return names


def _is_array(v: Any) -> bool:
    return isinstance(v, Value) and isinstance(v.type, (TensorType, AnyType))


def _basic(index: Any) -> bool:
    """Whether NumPy indexes with ``index`` by a view (no integer or boolean arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if isinstance(p, Value):
            if isinstance(p.type, TensorType) and p.type.shape != ():
                return False
        elif isinstance(p, (list, tuple)):
            return False
    return True


def _checked(v: Value, original: Value) -> bool:
    """Whether ``v`` is ``original`` with its rank checked (``ops.with_rank``, ranks.py): the same array."""
    ref = v.ref
    graph = v.builder.graph
    while v.builder is original.builder and graph.node(ref[0]).op == "with_rank":
        ref = graph.inputs(ref[0])[0]
        if ref == original.ref:
            return True
    return False


class _Mutation:
    """Item assignment and in-place operators; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    # -- statements -------------------------------------------------------------------------------
    def assign_item(self, target: ast.Subscript, value: Any, node: ast.AST) -> None:
        """``target[...] = value``."""
        current = self._mutable(target.value, node)
        index = self._index(target.slice)
        new = self.emit(get_op("setitem"), (current, _index_arg(index), value), {}, node)
        self.replace(current, new, node)

    def augmented(self, s: ast.AugAssign) -> None:
        """``x op= y`` and ``x[i] op= y``."""
        if isinstance(s.target, ast.Subscript):
            current = self._mutable(s.target.value, s)
            index = _index_arg(self._index(s.target.slice))
            item = self.emit(get_op("getitem"), (current, index), {}, s)
            result = self.binop(type(s.op), item, self.expr(s.value), s)
            item = self.emit(get_op("assign"), (item, result), {}, s)
            self.replace(current, self.emit(get_op("setitem"), (current, index, item), {}, s), s)
            return
        if isinstance(s.target, ast.Attribute):
            raise self.error(s, "augmented assignment to an attribute",
                             "modules cannot be changed while running; use a local variable")
        current = self.name(s.target)
        result = self.binop(type(s.op), current, self.expr(s.value), s)
        if not (isinstance(current, Value) and isinstance(current.type, TensorType)):
            self.assign(s.target, result, s)  # numbers are immutable: x += 1 rebinds x
            return
        self._check_mutable(current, s)
        self._check_not_stored(s.target, s)
        self.replace(current, self.emit(get_op("assign"), (current, result), {}, s), s)

    def _check_not_stored(self, target: ast.expr, node: ast.AST) -> None:
        """Refuse writing into an array that a loop also puts into a list: in NumPy every item would
        be that one array (``outs.append(h)`` then ``h += x`` on the next pass); the program keeps
        each pass's value."""
        root = target
        while isinstance(root, ast.Subscript):
            root = root.value
        if not isinstance(root, ast.Name):
            return
        for body in getattr(self, "_loop_bodies", ()):
            if root.id in stored_names(body):
                raise self.error(node, f"writing into {root.id!r}, which this loop also puts into a list: in NumPy "
                                 "every item would be that one array", f"put a copy into the list "
                                 f"(.append({root.id}.copy())), or assign a new array ({root.id} = {root.id} + ...)")

    def _mutable(self, target: ast.expr, node: ast.AST) -> Value:
        if isinstance(target, ast.Attribute):
            raise self.error(node, "assignment into a module's array",
                             "modules cannot be changed while running; copy it first (w = self.w.copy())")
        current = self.expr(target)
        if not _is_array(current):
            raise self.error(node, f"item assignment into a {type(current).__name__}",
                             "assign into arrays (x[i] = v) or build a new tuple")
        self._check_not_stored(target, node)
        if isinstance(target, ast.Name):
            self._check_mutable(current, node)
        return current

    def _check_mutable(self, v: Value, node: ast.AST) -> None:
        """Refuse writing into ``v`` where NumPy would change an array the program cannot follow."""
        graph = v.builder.graph
        producer = graph.node(v.ref[0])
        if producer.op == "param":
            raise self.error(node, f"assignment into the module's array {producer.kwarg('name')!r}",
                             "modules cannot be changed while running; copy it first (w = self.w.copy())")
        if get_op(producer.op).kind is OpKind.MOVEMENT or producer.op == "getitem":
            sources = graph.inputs(v.ref[0])
            env = self.frame.env
            named = [k for k, value in env.items() if not k.endswith(VIEW) and isinstance(value, Value)
                     and sources and value.builder is v.builder and value.ref == sources[0]]
            view_of = [k for k, value in env.items() if value is v and k + VIEW in env]
            if named and not view_of:
                raise self.error(node, f"assignment into a view of {named[0]!r} ({producer.op}) that the program "
                                 "cannot follow",
                                 f"write into {named[0]!r} itself with an index, or copy the view first (.copy())")

    # -- following the change ---------------------------------------------------------------------
    def replace(self, old: Value, new: Value, node: ast.AST, done: frozenset = frozenset()) -> None:
        """``old`` was changed into ``new``: rebind every name holding it, write through views to
        their base, and refresh the views of what changed."""
        env = self.frame.env
        names = [k for k, v in env.items() if v is old and not k.endswith(VIEW)]
        for k in names:
            env[k] = new
        self.replace_in_containers(old, new, node)  # tuples, lists and dicts holding it (containers.py)
        done = done | set(names)
        for k in names:  # a view: write into its base
            meta = env.get(k + VIEW)
            if meta is not None and meta[0] == "?":
                raise self.error(node, f"assignment into {k!r}, which views another array after one branch of an if "
                                 "and not after the other", f"copy it where it is made ({k} = ....copy())")
            if meta is None or meta[0] in done:
                continue
            base = env.get(meta[0])
            if isinstance(base, Value):
                self.replace(base, self.emit(get_op("setitem"), (base, meta[1], new), {}, node), node, done)
        for key, meta in list(env.items()):  # views of what changed see the new contents
            if key.endswith(VIEW) and meta[0] == "?" and meta[1] & set(names) and isinstance(
                    env.get(key[: -len(VIEW)]), Value):
                view = key[: -len(VIEW)]
                raise self.error(node, f"assignment into {sorted(meta[1] & set(names))[0]!r} while {view!r} may "
                                 "or may not view it (it does after one branch of an if)",
                                 f"copy {view!r} where it is made ({view} = ....copy())")
            if key.endswith(VIEW) and meta[0] in names:
                view = key[: -len(VIEW)]
                if view not in done and isinstance(env.get(view), Value):
                    fresh = self.emit(get_op("getitem"), (new, meta[1]), {}, node)
                    stale = env[view]
                    for k, v in list(env.items()):
                        if v is stale:
                            env[k] = fresh

    def note_binding(self, name: str, value: Any, expr: ast.expr | None) -> None:
        """``name = expr`` was bound to ``value``: record or forget that it views another name."""
        env = self.frame.env
        env.pop(name + VIEW, None)
        # only a name once recorded as a base can be one now (every other view record's base is
        # "?", ``ambiguous``): skip the scan of the whole environment for every other binding
        if name in self._view_bases:
            for key, meta in list(env.items()):
                if key.endswith(VIEW) and meta[0] == name:
                    del env[key]  # the base is another array now
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name) and isinstance(value, Value):
            base = env.get(expr.value.id)
            last = getattr(self, "_last_index", None)
            if isinstance(base, Value) and last is not None and last[0] is value and _basic(last[1]) \
                    and expr.value.id != name:
                env[name + VIEW] = (expr.value.id, last[1])
                self._view_bases.add(expr.value.id)

    def mutation_carried(self, body: list[ast.stmt], env: dict) -> list[str]:
        """Names a loop whose ``body`` mutates arrays must carry besides those it assigns: every name
        bound to an array (aliases, views' bases and argument cells change with it)."""
        if not mutates(body):
            return []
        return [k for k, v in env.items() if _is_array(v) and not k.endswith(VIEW)]

    def writebacks(self, inputs: dict[str, Value], result: Any, node: ast.AST) -> None:
        """Copy changed arguments into the caller's arrays once ``result`` is computed."""
        refs: list[Value] = []
        self._template(result, refs, node, materialize=False)
        for name, original in inputs.items():
            final = self.frame.env.get(input_cell(name))
            if isinstance(final, Value) and final is not original and not _checked(final, original):
                self.emit(get_op("writeback"), (original, final, *refs), {}, node)
