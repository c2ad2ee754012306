"""Reading and changing lists and dicts: indexing, ``in``, item assignment, operators, and the one
rule every change follows.

A change (``d[k] = v``, ``l.append(v)``) builds a new container and rebinds the one name, or the one
container, that holds the old one (:meth:`_ContainerItems.mutate`); when a container read from a
run-time container changes (``d[k].append(v)``), it is written back (``dict_setitem``).  Python's
aliasing is refused where it would show: a container held in two places, or also by the calling
function.  An array that changes in place is replaced in the tuples, lists and dicts holding it.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..builder import Value
from ..ops import get_op
from ..types import AnyType, TensorType
from .container_values import (
    PyDict,
    PyList,
    _contains_value,
    _holds,
    _holds_containers,
    _kind,
    _replace_item,
    _substitute,
    is_container,
    is_dict,
    is_list,
    is_runtime,
    keys_of,
)
from .transforms import RESULT


class _ContainerItems:
    """Indexing and changing containers; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    # -- dicts whose keys a value's type knows ------------------------------------------------------
    def keyed(self, v: Any, node: ast.AST | None) -> tuple[Any, list | None]:
        """``(v, its keys)`` when they are known while compiling.  The program relies on them from
        here on, so a dict argument (whose keys came from example inputs) is checked to have them
        when the program runs (``dict_with_keys``), and its names hold the checked value."""
        keys = keys_of(v)
        if keys is None or not isinstance(v, Value):
            return v, keys
        b = v.builder
        if b.parent is None and b.graph.node(v.ref[0]).op == "input":
            loc = self.loc(node)
            checked = self.emit(get_op("dict_with_keys"), (v, tuple(keys)), {"where": str(loc) if loc else ""}, node)
            for frame in self.frames:
                for name, value in list(frame.env.items()):
                    if value is v:
                        frame.env[name] = checked
            v = checked
        return v, keys

    def dict_view(self, v: Any, node: ast.AST | None) -> Any:
        """A dict value whose keys are known as a static dict of its entries (``dict_getitem``)."""
        if not isinstance(v, Value):
            return v
        v, keys = self.keyed(v, node)
        if keys is None:
            return v
        return PyDict((k, self.emit(get_op("dict_getitem"), (v, k), {}, node)) for k in keys)

    # -- values of the program ---------------------------------------------------------------------
    def container_value(self, v: Any, node: ast.AST | None) -> Value:
        """A list or dict as one IR value (``list_new``/``dict_new`` of its items)."""
        if isinstance(v, Value):
            return v
        if isinstance(v, PyList):
            return self.emit(get_op("list_new"), tuple(self._plain(x, node) for x in v), {}, node)
        if isinstance(v, PyDict):
            values = tuple(self._plain(x, node) for x in v.values())
            return self.emit(get_op("dict_new"), (tuple(v), values), {}, node)
        raise TypeError(f"not a container: {v!r}")

    def dict_set(self, d: Any, key: Any, value: Any, node: ast.AST) -> Any:
        """``d`` with ``d[key] = value`` (a new dict)."""
        if isinstance(d, Value):
            d, _ = self.keyed(d, node)  # the new dict's keys derive from these
        if isinstance(d, PyDict) and not isinstance(key, Value):
            self.budget.spend_work(len(d), node)
            items = dict(d)
            items[key] = value
            return PyDict(items)
        d = self.container_value(d, node)
        return self.emit(get_op("dict_setitem"), (d, key, self._plain(value, node)), {}, node)

    def _plain(self, v: Any, node: ast.AST | None) -> Any:
        """``v`` as an item of a run-time container (static containers in it become values)."""
        if isinstance(v, (PyList, PyDict)):
            return self.container_value(v, node)
        if isinstance(v, tuple):
            return tuple(self._plain(x, node) for x in v)
        if isinstance(v, Value):
            self._stored()[id(v)] = v
        return v

    def _stored(self) -> dict:
        """The arrays put into run-time lists and dicts (by id), which can no longer be followed."""
        stored = self.__dict__.get("_stored_values")
        if stored is None:
            stored = self.__dict__["_stored_values"] = {}
        return stored

    def replace_in_containers(self, old: Value, new: Value, node: ast.AST) -> None:
        """An array changed in place (``h[0] = 1``, ``h += 1``): the tuples, lists and dicts that hold
        it hold the new value, as in Python.  One put into a list or dict built when the program
        runs cannot be followed there, so that is refused."""
        if id(old) in self._stored() and self._stored()[id(old)] is old:
            raise self.error(node, "writing into an array that a list or dict built when the program runs holds",
                             "put a copy into it (outs.append(h.copy())), or write into a copy of the array")
        env = self.frame.env
        for name, v in list(env.items()):
            if isinstance(v, (tuple, PyList, PyDict)) and _holds(v, old):
                env[name] = _substitute(v, old, new)

    # -- indexing ----------------------------------------------------------------------------------
    def container_getitem(self, obj: Any, index: Any, e: ast.AST) -> Any:
        """``obj[index]`` for a list or dict."""
        if is_dict(obj):
            if isinstance(index, slice):
                raise self.error(e, "slicing a dict")
            key = self.dict_key(index, e)
            keys = keys_of(obj)
            if keys is not None and not isinstance(key, Value) and key not in keys:
                raise self.error(e, f"the dict has no key {key!r}; its keys are {keys[:20]}",
                                 "use d.get(key, default), or test 'key in d' first")
            if isinstance(obj, PyDict) and not isinstance(key, Value):
                return obj[key]
            d = self.container_value(obj, e)
            return self._remember(self.emit(get_op("dict_getitem"), (d, key), {}, e), d, key)
        if isinstance(obj, PyList) and not _contains_value(index):
            try:
                item = obj[index]
            except (IndexError, TypeError) as exc:
                raise self.error(e, f"bad index into a list: {exc}") from None
            return PyList(item) if isinstance(index, slice) else item
        if isinstance(index, Value) and not (hasattr(index.type, "kind") and index.type.kind in ("int", "bool")):
            raise self.error(e, f"a list index of type {index.type}", "index lists with ints or slices")
        lst = self.container_value(obj, e)
        return self._remember(self.emit(get_op("list_getitem"), (lst, index), {}, e), lst, index)

    def list_index(self, index: PyList, node: ast.AST) -> Any:
        """``x[[0, 2]]``: a list used as an index is an integer (or boolean) array, as in NumPy."""
        def plain(v: Any) -> Any:
            if isinstance(v, PyList):
                return [plain(x) for x in v]
            if isinstance(v, (bool, int, float, np.generic)):
                return v
            raise self.error(node, "a list index holding values computed at run time",
                             "index with an array: x[np.stack([i, j])]")
        return self.constant(np.asarray(plain(index)), node)

    def container_contains(self, key: Any, obj: Any, negate: bool, e: ast.AST) -> Any:
        """``key in obj`` (``not in`` when ``negate``) for a list or dict."""
        if is_dict(obj):
            key = self.dict_key(key, e)
            obj, keys = self.keyed(obj, e)
            if keys is not None and not isinstance(key, Value):
                value: Any = key in keys
            else:
                value = self.emit(get_op("dict_contains"), (self.container_value(obj, e), key), {}, e)
        elif isinstance(obj, PyList) and not _contains_value(obj) and not _contains_value(key):
            value = key in obj
        else:
            raise self.error(e, "'in' on a list of values computed at run time", "compare the items with ==")
        return self.unary(ast.Not, value, e) if negate else value

    def _remember(self, item: Any, parent: Value, key: Any) -> Any:
        """Note where a container read from a run-time container came from, for ``x[k].append(v)``."""
        if is_runtime(item):
            self._container_origins()[id(item)] = (item, parent, key)
        return item

    def _container_origins(self) -> dict:
        origins = self.__dict__.get("_origins")
        if origins is None:
            origins = self.__dict__["_origins"] = {}
        return origins

    def container_setitem(self, obj: Any, index: Any, value: Any, node: ast.AST) -> Any:
        """``obj`` with ``obj[index] = value`` (a new container)."""
        if is_dict(obj):
            return self.dict_set(obj, self.dict_key(index, node), value, node)
        if isinstance(obj, PyList) and not _contains_value(index):
            items = list(obj)
            try:
                if isinstance(index, slice):
                    items[index] = self.iterate(value, node)
                else:
                    items[index] = value
            except (IndexError, TypeError, ValueError) as exc:
                raise self.error(node, f"bad list assignment: {exc}") from None
            self.budget.spend_work(len(items), node)
            return PyList(items)
        if isinstance(index, slice):
            raise self.error(node, "slice assignment into a list whose length is known only when the program runs",
                             "build a new list")
        lst = self.container_value(obj, node)
        return self.emit(get_op("list_setitem"), (lst, index, self._plain(value, node)), {}, node)

    def peek_container(self, target: ast.expr) -> Any:
        """``(value, parent, key)`` of ``target`` when it is a name or an item (``P[k]``, ``P[k][j]``)
        of a list or dict, ``parent[key]`` being where the value is held (``parent`` None for a
        name); None otherwise (nothing is compiled then)."""
        if isinstance(target, ast.Name):
            v = self.frame.env.get(target.id)
            return (v, None, None) if is_container(v) else None
        if isinstance(target, ast.Subscript):
            outer = self.peek_container(target.value)
            if outer is not None and is_container(outer[0]):
                key = self._index(target.slice)
                return self.container_getitem(outer[0], key, target), outer[0], key
        return None

    def assign_container_item(self, target: ast.Subscript, value: Any, node: ast.AST) -> bool:
        """``d[k] = v`` / ``l[i] = v`` into a list or dict, and ``d[k][i] = v`` into an array a list
        or dict holds; False when ``target`` is not about a list or dict."""
        found = self.peek_container(target.value)
        if found is None:
            return False
        obj, parent, key = found
        index = self._index(target.slice)
        if is_container(obj):
            self.mutate(obj, self.container_setitem(obj, index, value, node), node)
            return True
        self._check_array_item(obj, node)
        new = self.emit(get_op("setitem"), (obj, index, value), {}, node)
        self.replace(obj, new, node)  # names bound to the same array see the change (mutation.py)
        self.mutate(parent, self.container_setitem(parent, key, new, node), node)
        return True

    def _check_array_item(self, obj: Any, node: ast.AST) -> None:
        if not (isinstance(obj, Value) and isinstance(obj.type, (TensorType, AnyType))):
            raise self.error(node, f"item assignment into a {type(obj).__name__} held in a list or dict",
                             "assign into arrays, lists and dicts")

    def augmented_container(self, s: ast.AugAssign) -> bool:
        """``l += [...]`` (extends ``l``), ``d |= {...}``, ``c[k] op= v`` and ``c[k][i] op= v``; False
        when ``s`` is not about a list or dict."""
        if isinstance(s.target, ast.Name):
            obj = self.frame.env.get(s.target.id)
            if not is_container(obj):
                return False
            other = self.expr(s.value)
            if is_list(obj) and isinstance(s.op, ast.Add):
                self.mutate(obj, self.list_extend(obj, other, s), s)
            elif is_dict(obj) and isinstance(s.op, ast.BitOr):
                self.mutate(obj, self.dict_update(obj, other, s), s)
            else:
                raise self.error(s, f"operator {type(s.op).__name__}= on a {'list' if is_list(obj) else 'dict'}")
            return True
        if not isinstance(s.target, ast.Subscript):
            return False
        found = self.peek_container(s.target.value)
        if found is None:
            return False
        obj, parent, key = found
        index = self._index(s.target.slice)
        if not is_container(obj):  # d[k][i] += v: into an array the dict holds
            self._check_array_item(obj, s)
            item = self.emit(get_op("getitem"), (obj, index), {}, s)
            result = self.emit(get_op("assign"), (item, self.binop(type(s.op), item, self.expr(s.value), s)), {}, s)
            new = self.emit(get_op("setitem"), (obj, index, result), {}, s)
            self.replace(obj, new, s)
            self.mutate(parent, self.container_setitem(parent, key, new, s), s)
            return True
        item = self.container_getitem(obj, index, s)
        result = self.binop(type(s.op), item, self.expr(s.value), s)
        if isinstance(item, Value) and isinstance(item.type, TensorType):  # an array changes in place
            result = self.emit(get_op("assign"), (item, result), {}, s)
            self.replace(item, result, s)
        self.mutate(obj, self.container_setitem(obj, index, result, s), s)
        return True

    def container_binop(self, kind: type, a: Any, b: Any, e: ast.AST) -> Any:
        """``l1 + l2`` (a new list), ``l * n`` for a constant ``n``, ``d1 | d2`` (a new dict)."""
        if kind is ast.Add and is_list(a) and is_list(b):
            return self.list_extend(a, b, e)
        if kind is ast.Mult and (isinstance(a, PyList) or isinstance(b, PyList)):
            lst, n = (a, b) if isinstance(a, PyList) else (b, a)
            if isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)):
                self.budget.check_length(len(lst) * max(int(n), 0), e)
                return PyList(list(lst) * int(n))
            raise self.error(e, "repeating a list a number of times known only when the program runs",
                             "build it with a loop, or use np.full / np.tile")
        if kind is ast.BitOr and is_dict(a) and is_dict(b):
            return self.dict_update(a, b, e)
        what = {ast.Add: "+", ast.Mult: "*", ast.BitOr: "|"}.get(kind, kind.__name__)
        raise self.error(e, f"operator {what} between a {_kind(a)} and a {_kind(b)}",
                         "lists support l1 + l2 and l * n, dicts d1 | d2; arrays of them: np.stack(l)")

    # -- changing a container: rebinding its one holder ------------------------------------------
    def mutate(self, old: Any, new: Any, node: ast.AST) -> None:
        """``old`` (a list or dict) changed into ``new``: rebind the one name or container that holds
        it.  Refused when more than one does (Python would change it for all of them)."""
        holders = self._holders(old, node)
        if not holders:
            origin = self._container_origins().get(id(old))
            if origin is not None and origin[0] is old:  # read from a run-time container: write it back
                _, parent, key = origin
                self.mutate(parent, self.container_setitem(parent, key, new, node), node)
            return  # a temporary (``[a].append(b)``): nobody sees the change
        kind, where = holders[0]
        if kind == "name":
            self.frame.env[where] = new
        else:
            self.mutate(where, _replace_item(where, old, new), node)

    def _holders(self, old: Any, node: ast.AST) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        described: list[str] = []

        def visit(v: Any, holder: tuple[str, Any], label: str) -> None:
            if v is old:
                found.append(holder)
                described.append(label)
                return
            if isinstance(v, (PyList, PyDict)) and v.nested:
                for x in (v.values() if isinstance(v, PyDict) else v):
                    visit(x, ("item", v), f"an item of {label}")
            elif isinstance(v, tuple) and _holds_containers(v):
                for x in v:
                    visit(x, ("item", v), f"an item of {label}")

        for depth, frame in enumerate(reversed(self.frames)):
            for name, v in frame.env.items():
                if name == RESULT:
                    continue
                before = len(found)
                visit(v, ("name", name), repr(name) if "$" not in name else "a hidden variable")
                if depth and len(found) > before:
                    raise self.error(node, f"changing a list or dict that the calling function also holds "
                                     f"({described[-1]} in {frame.source.qualname})",
                                     "return the new list or dict from the function and assign it in the caller")
        if len(found) > 1:
            raise self.error(node, f"changing a list or dict that is held in {len(found)} places "
                             f"({', '.join(described[:3])}); Python would change it for all of them",
                             "keep one name for it, or copy it first (b = list(a), d2 = dict(d))")
        return found
