"""Analysis half of the planner: types, known scalars, what each node becomes, view geometry.

See ``codegen.plan`` for the whole picture.  Nothing here imports numba.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ir import Graph, ScalarType, Type
from ir.node import Node, Slice, Use, iter_uses, map_template
from ir.ops import OpKind, get_op
from ir.passes import infer_types
from ir.passes.fold_sizes import creates_arrays
from ir.passes.fold_sizes import fold_sizes as fold_known_sizes

from .contractions import Contractions, _Unknown
from .fusion import Candidate
from .layout import Layout, blas_matrix, c_strides, dtype_name, tensor_of
from .lowering import LOWER, NUMBA_DTYPES, Emit, Host, Interpreted, Operand, Reduce, Scalar, View

__all__ = ["Analysis", "Layout", "GRAPH_OPS", "c_strides", "tensor_of", "blas_matrix", "dtype_name"]


GRAPH_OPS = frozenset({"input", "param", "constant", "output"})
_PY_EXAMPLE = {"int": 3, "float": 1.5, "bool": True}


class Analysis(Contractions):
    def __init__(self, graph: Graph, input_types: Sequence[Type], fold_sizes: bool = False) -> None:
        self.g = infer_types(graph, list(input_types))
        if fold_sizes and creates_arrays(self.g):  # arrays made from sizes alone (a causal mask): once, here
            self.g = fold_known_sizes(self.g)
        self.source_graph = graph
        self.input_types = tuple(input_types)
        self.order = self.g.order()
        # the values each node reads, in placeholder order (``Graph.inputs`` sorts them every call)
        reads = {nid: self.g.inputs(nid) for nid in self.order}
        self.inputs: Callable[[int], list[tuple[int, int]]] = reads.__getitem__
        self.static: dict[tuple[int, int], Any] = {}
        self.scalar_kind: dict[tuple[int, int], str] = {}
        self.layout: dict[tuple[int, int], Layout] = {}
        self.fallbacks: list[str] = []
        self.interpreted: list[str] = []
        self._zero_d: dict[int, bool] | None = None
        self.scalar_inputs: frozenset[int] = frozenset()  # 0-d inputs passed as NumPy scalars

    # -- values -----------------------------------------------------------------------------------
    def vtype(self, ref: tuple[int, int]) -> Any:
        return self.g.value_type(ref)

    def n_out(self, nid: int) -> int:
        node = self.g.node(nid)
        return max(1, node.num_outputs) if get_op(node.op).multi_output else 1

    def fold_scalars(self) -> None:
        """Known Python scalars: literals, sizes, and pure scalar arithmetic on them."""
        for nid in self.order:
            node = self.g.node(nid)
            ref = (nid, 0)
            t = node.types[0] if node.types else None
            if node.op == "constant" and node.kwarg("name") is None:
                self.static[ref] = node.kwarg("value")
                continue
            if node.op == "input" and isinstance(t, ScalarType):
                self.scalar_kind[ref] = t.kind
                continue
            if node.op in GRAPH_OPS or not isinstance(t, ScalarType) or node.blocks:
                continue
            self.scalar_kind[ref] = t.kind
            if t.kind == "int" and isinstance(t.value, int) and not isinstance(t.value, bool):
                self.static[ref] = t.value  # a size the type rules already know
                continue
            op = get_op(node.op)
            inputs = self.inputs(nid)
            if not op.pure or op.multi_output or not all(r in self.static for r in inputs):
                continue
            fetch = [self.static[r] for r in inputs].__getitem__
            try:
                value = op.impl(*map_template(node.args, lambda u, f=fetch: f(u.index)),
                                **dict(map_template(node.kwargs, lambda u, f=fetch: f(u.index))))
            except Exception:
                continue
            if isinstance(value, (bool, int, float)):
                self.static[ref] = value

    def static_arg(self, template: Any, nid: int) -> Any:
        """``template`` with Uses replaced by known values (``_Unknown`` if one is not known)."""
        refs = self.inputs(nid)

        def fetch(u: Use) -> Any:
            ref = refs[u.index]
            if ref not in self.static:
                raise _Unknown
            return self.static[ref]

        return map_template(template, fetch)

    def zero_d_is_scalar(self, nid: int) -> bool:
        """Whether the reference interpreter has a NumPy scalar, not a 0-d array, as node ``nid``'s
        0-d result: ufuncs and reductions give scalars, ``np.where`` a 0-d array, ``astype`` and
        ``.T`` whatever their operand is.  Found by running the references on 0-d stand-ins in
        program order (0-d parameters are arrays; 0-d inputs as ``scalar_inputs`` says)."""
        if self._zero_d is None:
            from .zero_d import zero_d_scalars  # it reads this class's tables

            self._zero_d = zero_d_scalars(self)
        return self._zero_d.get(nid, True)

    # -- classification ---------------------------------------------------------------------------
    def classify(self) -> None:
        self.candidates: dict[int, Candidate] = {}
        self.kinfo: dict[int, dict] = {}
        self.kind: dict[int, str] = {}
        for nid in self.order:
            node = self.g.node(nid)
            if node.op in GRAPH_OPS:
                self.kind[nid] = node.op
                continue
            if (nid, 0) in self.static:
                self.kind[nid] = "static"
                continue
            op = get_op(node.op)
            rule = LOWER.get(node.op) if node.op in LOWER else None
            if rule is None or isinstance(rule, Interpreted) or node.blocks \
                    or op.kind in (getattr(OpKind, "CONTROL", None), getattr(OpKind, "CALL", None)):
                self.kind[nid] = "interp"
                (self.fallbacks if rule is None else self.interpreted).append(node.op)
                continue
            if isinstance(rule, View) and nid in self.views:
                self.kind[nid] = "view"  # NumPy returns a view: kernels read through its layout
                continue
            info = None
            if isinstance(rule, Scalar):
                info = self.elementwise(nid, node, rule)
            elif isinstance(rule, Reduce):
                info = self.reduction(nid, node, rule)
            elif isinstance(rule, Host) and rule.kernel is not None:
                info = getattr(self, rule.kernel)(nid, node)
            if info is not None:
                self.candidates[nid], self.kinfo[nid] = info
                self.kind[nid] = "candidate"
                continue
            self.kind[nid] = "host"

    def layouts(self) -> None:
        """Memory layout of every array value: views get their geometry from NumPy; every other
        array a kernel can read is C-contiguous (inputs and parameters are made so, buffers are
        allocated so, NumPy results are made so before kernels read them)."""
        self.views: set[int] = set()
        for nid in self.order:
            node = self.g.node(nid)
            if node.op == "output" or node.blocks:
                continue
            rule = LOWER.get(node.op) if node.op in LOWER else None
            if isinstance(rule, View):
                lays = self.view_layout(nid, node)
                if lays is not None:
                    for k, lay in enumerate(lays):
                        self.layout[(nid, k)] = lay
                    self.views.add(nid)
                    continue
            for k, t in enumerate(node.types):
                tt = tensor_of(t)
                if tt is not None and (nid, k) not in self.static:
                    shape = tuple(tt.shape)  # type: ignore[arg-type]
                    self.layout[(nid, k)] = Layout((nid, k), 0, shape, c_strides(shape, tt.dtype.itemsize), tt.dtype)

    def operand_info(self, nid: int, node: Node) -> list[tuple[str, Any]] | None:
        """Per Use: ("tensor", TensorType) | ("scalar", kind); ``None`` if a kernel cannot read it."""
        out = []
        for ref in self.inputs(nid):
            t = self.vtype(ref)
            tt = tensor_of(t)
            if tt is not None and dtype_name(tt.dtype) in NUMBA_DTYPES:
                out.append(("tensor", tt))
            elif ref in self.static and isinstance(self.static[ref], (bool, int, float)):
                out.append(("static", self.static[ref]))
            elif ref in self.scalar_kind and self.scalar_kind[ref] in ("int", "float", "bool"):
                out.append(("scalar", self.scalar_kind[ref]))
            else:
                return None
        return out

    def elementwise(self, nid: int, node: Node, rule: Scalar) -> tuple[Candidate, dict] | None:
        out_t = tensor_of(node.types[0]) if len(node.types) == 1 else None
        if out_t is None or dtype_name(out_t.dtype) not in NUMBA_DTYPES:
            return None
        ops = self.operand_info(nid, node)
        if ops is None or not any(k == "tensor" for k, _ in ops):
            return None
        if not _flat_template(node.args) or not _flat_template(tuple(v for _, v in node.kwargs)):
            return None
        examples = []
        kinds = []
        for kind, v in ops:
            if kind == "tensor":
                examples.append(np.ones(1, v.dtype))
                kinds.append(v.dtype.kind)
            elif kind == "static":
                examples.append(v)
                kinds.append("p")
            else:
                examples.append(_PY_EXAMPLE[v])
                kinds.append("p")
        for lit in _literals(node):
            examples.append(lit)
        out = dtype_name(out_t.dtype)
        if rule.loop == "common":
            try:
                loop = np.result_type(*examples).name
            except (TypeError, ValueError, OverflowError):
                return None
        elif rule.loop == "bool":
            loop = "bool"
        elif rule.loop == "same":
            first = next(v for k, v in ops if k == "tensor")
            loop = dtype_name(first.dtype)
        else:
            loop = out
        if loop not in NUMBA_DTYPES:
            return None
        # literal and known Python ints must fit the loop dtype (NumPy raises otherwise)
        targets = ["bool"] if rule.loop == "bool" else [loop]
        values = [v for k, v in ops if k == "static"] + list(_literals(node))
        if rule.loop not in ("same",) and not all(_fits(v, t) for v in values for t in targets):
            return None
        ctx = Emit(loop, out, tuple(kinds))
        if rule.accepts is not None:
            fake = self.fake_operands(node, nid)
            if not rule.accepts(ctx, *fake[0], **fake[1]):
                return None
        fast = rule.fast(ctx) if callable(rule.fast) else bool(rule.fast)
        cand = Candidate(nid, "elementwise", tuple(out_t.shape), fast=fast)  # type: ignore[arg-type]
        return cand, {"loop": loop, "out": out, "kinds": tuple(kinds)}

    def fake_operands(self, node: Node, nid: int) -> tuple[list, dict]:
        """Operands as ``Operand`` text with literal values, for ``accepts`` rules."""
        refs = self.inputs(nid)

        def conv(t: Any) -> Any:
            if isinstance(t, Use):
                ref = refs[t.index]
                return Operand.of("v", self.static.get(ref))
            if isinstance(t, (bool, int, float)):
                return Operand.of(repr(t), t)
            return t

        return [conv(a) for a in node.args], {k: conv(v) for k, v in node.kwargs}

    def reduction(self, nid: int, node: Node, rule: Reduce) -> tuple[Candidate, dict] | None:
        out_t = tensor_of(node.types[0]) if len(node.types) == 1 else None
        if out_t is None or dtype_name(out_t.dtype) not in NUMBA_DTYPES:
            return None
        if not node.args or not isinstance(node.args[0], Use):
            return None
        src = self.inputs(nid)[node.args[0].index]
        in_t = tensor_of(self.vtype(src))
        if in_t is None or dtype_name(in_t.dtype) not in NUMBA_DTYPES:
            return None
        try:
            kw = self.static_arg(node.kwargs, nid)
            extra = self.static_arg(node.args[1:], nid)
        except _Unknown:
            return None
        kwargs = dict(kw)
        names = list(get_op(node.op).signature.parameters)[1:]  # type: ignore[union-attr]
        kwargs.update(dict(zip(names, extra)))
        rank = len(in_t.shape)  # type: ignore[arg-type]
        axis = kwargs.get("axis")
        if axis is None:
            axes = tuple(range(rank))
        else:
            try:
                axes = tuple(sorted({a % rank for a in (axis if isinstance(axis, tuple) else (axis,))})) if rank else ()
            except TypeError:
                return None
        k = len(axes)
        if k == 0:
            return None
        keepdims = bool(kwargs.get("keepdims", False))
        count = int(math.prod(in_t.shape[a] for a in axes))  # type: ignore[misc]
        if count == 0 and node.op in ("max", "min", "argmax", "argmin"):
            return None  # NumPy raises: let it
        if node.op in ("argmax", "argmin") and k > 1 and axis is not None:
            return None
        ddof = kwargs.get("ddof", 0)
        if not isinstance(ddof, int) or isinstance(ddof, bool):
            return None
        if node.op in ("var", "std", "mean") and not dtype_name(out_t.dtype).startswith("float"):
            return None
        cand = Candidate(nid, "reduce", tuple(out_t.shape), tuple(in_t.shape), axes, keepdims)  # type: ignore[arg-type]
        return cand, {"out": dtype_name(out_t.dtype), "ddof": ddof, "src": src, "count": count}

    # -- views ------------------------------------------------------------------------------------
    def view_layout(self, nid: int, node: Node) -> list[Layout] | None:
        """Geometry of a movement op's result(s) when NumPy would return views."""
        refs = self.inputs(nid)
        if not node.args or not isinstance(node.args[0], Use):
            return None
        base = self.layout.get(refs[node.args[0].index])
        if base is None or any(isinstance(u, Use) and u.index != node.args[0].index
                               and not isinstance(self.vtype(refs[u.index]), ScalarType)
                               for u in iter_uses((node.args[1:], node.kwargs))):
            return None
        try:
            rest = self.static_arg(node.args[1:], nid)
            kwargs = dict(self.static_arg(node.kwargs, nid))
        except _Unknown:
            return None
        owner = np.zeros(1, base.dtype)
        fake = as_strided(owner, shape=base.shape, strides=base.strides, writeable=False)
        start = fake.__array_interface__["data"][0]
        try:
            if node.op == "reshape":
                results = [np.reshape(fake, rest[0], copy=False)]
            elif node.op == "ravel":
                results = [np.reshape(fake, -1, copy=False)]
            elif node.op == "getitem":
                if any(isinstance(i, (tuple, list)) for i in (rest[0] if isinstance(rest[0], tuple) else (rest[0],))):
                    return None
                results = [fake[rest[0]]]
            else:
                out = get_op(node.op).impl(fake, *rest, **kwargs)
                results = list(out) if get_op(node.op).multi_output else [out]
        except (ValueError, TypeError, IndexError):
            return None
        layouts = []
        for r, t in zip(results, node.types):
            if not isinstance(r, np.ndarray) or tensor_of(t) is None or r.shape != tuple(t.shape) or r.dtype != t.dtype:
                return None
            if not np.shares_memory(r, fake) and r.size > 0:
                return None  # a copy
            offset = r.__array_interface__["data"][0] - start
            layouts.append(Layout(base.root, base.offset + offset, r.shape, r.strides, r.dtype))
        return layouts


def _flat_template(template: Any) -> bool:
    """Elementwise templates hold Uses and literals only (no slices or nested tuples)."""
    for t in template:
        if isinstance(t, (tuple, Slice)):
            return False
    return True


def _literals(node: Node) -> list[Any]:
    out = []
    for t in (*node.args, *(v for _, v in node.kwargs)):
        if isinstance(t, (bool, int, float)) and not isinstance(t, Use):
            out.append(t)
    return out


def _fits(value: Any, dtype: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    if dtype.startswith("float") or dtype == "bool":
        return True
    info = np.iinfo(dtype)
    return info.min <= value <= info.max
