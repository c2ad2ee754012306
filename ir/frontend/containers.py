"""Containers: tuples, lists and dicts in programs, unpacking them, and joining them after an ``if``.

While compiling, a tuple is a Python tuple of values.  A list or dict the compiler can count is a
:class:`~.container_values.PyList`/``PyDict`` of values: literals, comprehensions over static
iterables, ``append``/``d[k] = v`` in straight-line code and in loops it unrolls.  A list that grows
in a loop that runs at run time (or a dict that gains keys there) becomes one IR value of type
:class:`~ir.types.ListType`/:class:`~ir.types.DictType`, made and read by the ops of
:mod:`ir.ops.lists`: a loop carries it like any variable, and an ``if`` whose branches leave lists
of different lengths joins two such values (:meth:`_Containers.join_parts`).

Containers are never changed in place: a change builds a new container and rebinds its one holder
(:mod:`.container_items`), so an ``if`` branch cannot leak a change into the other one, and joins
and loops see an ordinary assignment.  Methods, builtins and NumPy functions of containers are in
:mod:`.container_calls`; comprehensions and loops over run-time lists in :mod:`.comprehensions`.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..builder import Value
from ..ops import get_op
from ..types import TensorType, TupleType
from .comprehensions import _Comprehensions
from .container_calls import _ContainerCalls
from .container_items import _ContainerItems
from .container_values import (  # noqa: F401 (the helpers other rooms import from here)
    PyDict,
    PyList,
    _contains_value,
    _flatten,
    _holds_containers,
    _kind,
    _unflatten,
    is_container,
    is_dict,
    is_list,
    is_runtime,
    keys_of,
    static_items,
)


class _Containers(_ContainerItems, _ContainerCalls, _Comprehensions):
    """Tuples, lists and dicts; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    # -- literals ---------------------------------------------------------------------------------
    def _e_Tuple(self, e: ast.Tuple) -> Any:
        return tuple(self._elements(e.elts))

    def _e_List(self, e: ast.List) -> Any:
        if any(isinstance(x, ast.Starred) for x in e.elts):
            parts = [self.expr(x.value) if isinstance(x, ast.Starred) else PyList([self.expr(x)]) for x in e.elts]
            if any(is_runtime(p) for p in parts):  # [*outs, y] of a list built when the program runs
                result = parts[0] if is_list(parts[0]) else PyList(self.iterate(parts[0], e))
                for p in parts[1:]:
                    result = self.list_extend(result, p, e)
                return result
        return PyList(self._elements(e.elts))

    def _elements(self, elts: list[ast.expr]) -> list[Any]:
        """The items of a literal, ``*xs`` spread (xs known while compiling)."""
        items: list[Any] = []
        for x in elts:
            if isinstance(x, ast.Starred):
                items.extend(self.iterate(self.expr(x.value), x))
            else:
                items.append(self.expr(x))
        self.budget.check_length(len(items), elts[0] if elts else None)
        return items

    def _e_Dict(self, e: ast.Dict) -> Any:
        result: Any = PyDict()
        for k_node, v_node in zip(e.keys, e.values):
            if k_node is None:  # {**other}
                other = self.dict_view(self.expr(v_node), e)
                if not isinstance(other, PyDict):
                    raise self.error(e, "'**' of a dict whose keys are known only when the program runs",
                                     "pass example_inputs, or add the entries one by one")
                for k, v in other.items():
                    result = self.dict_set(result, k, v, e)
                continue
            key = self.dict_key(self.expr(k_node), k_node)
            result = self.dict_set(result, key, self.expr(v_node), e)
        return result

    def dict_key(self, key: Any, node: ast.AST) -> Any:
        """A key a program's dict can have: a str or int, constant or computed at run time."""
        if isinstance(key, Value):
            t = key.type
            if not (hasattr(t, "kind") and t.kind == "int"):
                raise self.error(node, f"a dict key of type {t}", "use str or int keys")
            return key
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
            raise self.error(node, f"a dict key of type {_kind(key)}", "use str or int keys")
        return int(key) if not isinstance(key, str) else key

    # -- unpacking ---------------------------------------------------------------------------------
    def unpack_targets(self, value: Any, targets: list[ast.expr], node: ast.AST) -> list[Any]:
        """The values ``a, b = value`` binds, one per target; a starred target (``first, *rest``)
        gets a list of the rest, as in Python."""
        stars = [i for i, t in enumerate(targets) if isinstance(t, ast.Starred)]
        if not stars:
            return self.unpack(value, len(targets), node)
        if len(stars) > 1:
            raise self.error(node, "multiple starred expressions in an assignment")
        items = self.static_iterable(value, node)
        if items is None:
            raise self.error(node, "starred unpacking of a value whose length is known only when the program runs",
                             "index it instead")
        i, after = stars[0], len(targets) - stars[0] - 1
        if len(items) < len(targets) - 1:
            raise self.error(node, f"not enough values to unpack (expected at least {len(targets) - 1}, "
                             f"got {len(items)})")
        return [*items[:i], PyList(items[i:len(items) - after]), *items[len(items) - after:]]

    def unpack(self, value: Any, n: int, node: ast.AST) -> list[Any]:
        if isinstance(value, (PyList, PyDict)):
            value = tuple(static_items(value) or ())
        if isinstance(value, (tuple, list)):
            if len(value) != n:
                raise self.error(node, f"cannot unpack {len(value)} values into {n} names")
            return list(value)
        if is_runtime(value):
            raise self.error(node, "unpacking a list or dict whose length is known only when the program runs",
                             "index it (x = l[0]) or build it with a length known while compiling")
        if isinstance(value, Value) and isinstance(value.type, TupleType):
            if len(value.type.elements) != n:
                raise self.error(node, f"cannot unpack {len(value.type.elements)} values into {n} names")
            return [self.emit(get_op("getitem"), (value, i), {}, node) for i in range(n)]
        if isinstance(value, Value) and isinstance(value.type, TensorType) and value.type.shape:
            size = value.type.shape[0]
            if size == n:
                return [self.emit(get_op("getitem"), (value, i), {}, node) for i in range(n)]
        raise self.error(node, f"cannot unpack this value into {n} names", "unpack tuples or x.shape")

    # -- joining the two branches of an if ----------------------------------------------------------
    def join_parts(self, s: ast.AST, names: list[str], env_then: dict, env_else: dict, b_then: Any,
                   b_else: Any) -> tuple[list, list, list, Any]:
        """The leaves of the variables ``names`` after each branch, their hints, and how to rebuild
        the variables from the ``if``'s outputs.  Tuples, lists and dicts that keep their structure
        are joined item by item; a list whose length differs between the branches (a dict whose keys
        differ) becomes a run-time list (dict) in both."""
        then_vals: list[Any] = []
        else_vals: list[Any] = []
        hints: list[str] = []
        memo: dict[tuple[int, int], int] = {}
        plan = []
        for name in names:
            start = len(then_vals)
            shape = self._pair(s, name, env_then[name], env_else[name], then_vals, else_vals, memo,
                               (b_then, b_else))
            hints += [name] * (len(then_vals) - start)
            plan.append(shape)

        def rebuild(outs: list[Any]) -> list[Any]:
            it = iter(outs)
            built: dict[int, Any] = {}

            def build(sh: Any) -> Any:
                kind = sh[0]
                if kind == "leaf":
                    return next(it)
                if kind == "same":
                    return sh[1]
                if kind == "ref":
                    return built[sh[1]]
                parts = [build(x) for x in sh[-1]]
                if kind == "tuple":
                    return tuple(parts)
                out = PyList(parts) if kind == "list" else PyDict(zip(sh[2], parts))
                built[sh[1]] = out
                return out

            return [build(sh) for sh in plan]

        return then_vals, else_vals, hints, rebuild

    def _pair(self, s: ast.AST, name: str, a: Any, b: Any, then_vals: list, else_vals: list, memo: dict,
              builders: tuple) -> Any:
        if a is b:
            return ("same", a)
        if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
            return ("tuple", tuple(self._pair(s, name, x, y, then_vals, else_vals, memo, builders)
                                   for x, y in zip(a, b)))
        same_list = isinstance(a, PyList) and isinstance(b, PyList) and len(a) == len(b)
        same_dict = isinstance(a, PyDict) and isinstance(b, PyDict) and list(a) == list(b)
        if same_list or same_dict:
            key = (id(a), id(b))
            if key in memo:
                return ("ref", memo[key])
            memo[key] = len(memo)
            xs, ys = (a, b) if same_list else (a.values(), b.values())
            parts = tuple(self._pair(s, name, x, y, then_vals, else_vals, memo, builders) for x, y in zip(xs, ys))
            return ("list", memo[key], parts) if same_list else ("dict", memo[key], tuple(a), parts)
        if (is_list(a) and is_list(b)) or (is_dict(a) and is_dict(b)):
            a, b = (self._in_builder(bld, lambda v=v: self.container_value(v, s)) for bld, v in zip(builders, (a, b)))
        elif _holds_containers(a) or _holds_containers(b) or isinstance(a, tuple) or isinstance(b, tuple):
            raise self.error(s, f"{name!r} has a different structure after each branch of the if",
                             "give it the same kind of value (and tuples the same length) in both branches")
        then_vals.append(a)
        else_vals.append(b)
        return ("leaf",)

    def _in_builder(self, builder: Any, fn: Any) -> Any:
        saved = self.builder
        self.builder = builder
        try:
            return fn()
        finally:
            self.builder = saved
