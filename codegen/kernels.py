"""Python source of one fused kernel (a numba ``cfunc`` taking one pointer to its frame).

A kernel loops over a *domain*: ``outer`` dimensions, then ``inner`` ones that reductions fold
(none for a purely elementwise kernel).  Every array it touches is a :class:`Mem`: a typed pointer
plus one element stride per loop dimension (0 where it broadcasts), read from the frame.  The
frame is an int64 array the executor fills once per call (``frame`` below lists its slots), so
one compiled kernel serves every size and stride; only what the code depends on structurally is
in the source: loop depth, dtypes, which innermost strides are 0 or 1 (so LLVM vectorizes), and
the computation.  Identical structure gives identical text, which is how kernels are shared.

A kernel with reductions runs, per outer index ("row"), one pass over the inner dimensions per
reduction level: LayerNorm is mean, then centered squares and their mean, then the normalized
output; softmax is max, then exponentials (kept in a per-row scratch buffer) and their sum, then
the quotient.  Float sums use NumPy's pairwise order (``mathlib.pairwise_sum_*``).

Example of generated source (``x - x.max(axis=-1, keepdims=True)`` over ``f32[R, N]`` rows)::

    def sub_max_r1c1(f):
        lo = f[0]
        hi = f[1]
        n_i0 = f[2]
        x = ptr_float32(f[3])
        ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ir.printer import RESERVED, Namespace

from .kernel_calls import SWAP_BLOCK, Calls
from .lowering import LOWER, NUMBA_DTYPES, Emit, Operand, Scalar, literal

__all__ = ["Mem", "KNode", "Gemm", "KernelSpec", "KernelSource", "generate", "FrameSlot", "HELPERS", "SWAP_BLOCK"]

#: Frame slot kinds: ("lo",) ("hi",) ("outer", d) ("inner", d) ("count",) ("ptr", m) ("stride", m, d)
#: ("scalar", s) ("scratch", k)
FrameSlot = tuple

_RESERVED = frozenset({"f", "np", "math", "lo", "hi", "range", "abs", "min", "max"})

@dataclass(frozen=True)
class Mem:
    """An array the kernel reads or writes.

    ``strides`` has one entry per loop dimension (outer then inner): ``"0"`` (broadcast),
    ``"1"`` (contiguous; only for the innermost dimension) or ``"s"`` (read from the frame).
    """

    dtype: str
    strides: tuple[str, ...]
    hint: str = "a"


@dataclass(frozen=True)
class KNode:
    """One operation of the kernel.

    ``args``/``kwargs`` mirror the IR node's template with operands replaced by references:
    ``("mem", i)`` (load from :class:`Mem` ``i``), ``("node", j)`` (result of ``nodes[j]``),
    ``("scalar", s)`` (a runtime Python scalar from the frame), ``("lit", value)``.
    ``role`` is ``"full"`` (one value per domain element), ``"row"`` (one per outer index) or
    ``"reduce"``.  ``stores`` lists the mems that receive the result.
    """

    op: str
    role: str
    args: tuple
    kwargs: tuple = ()
    out: str = "float32"
    loop: str = "float32"
    kinds: tuple[str, ...] = ()
    stores: tuple[int, ...] = ()
    ddof: int = 0
    hint: str = ""


@dataclass(frozen=True)
class Gemm:
    """A matmul the kernel does first, through BLAS: ``C = A @ B`` over ``n_batch`` batch axes.

    Without batch axes the kernel's row range ``lo:hi`` selects rows of A and C; with them it
    selects indices of the first batch axis.  ``*_batch`` are the batch strides' kinds ("0"/"s").
    """

    dtype: str
    ilp64: bool
    n_batch: int = 0
    a_batch: tuple[str, ...] = ()
    b_batch: tuple[str, ...] = ()
    c_batch: tuple[str, ...] = ()
    hint: str = "matmul"
    conv: bool = False  # a conv2d: per image, im2col into scratch, gemm with the weights, add bias
    bias: bool = False
    pool: bool = False  # a max_pool2d: per image, the largest value of each window (no BLAS)
    #: the kernel's chunks are column blocks ``lo:hi`` of the result (all rows), not row blocks
    cols: bool = False
    #: (with ``cols``) each chunk computes its block transposed, ``C[:, lo:hi].T = op(B)[:, lo:hi].T
    #: @ op(A).T``, into scratch, and copies it into place
    swap: bool = False
    #: each chunk computes its block (columns with ``cols``, else rows) of ``A @ W.T`` by
    #: ``codegen.mathlib_gemm`` (``W`` a ``Linear`` weight, read in place), not by BLAS
    own: bool = False
    #: (not ``swap``) each chunk computes its block, ``C[:, lo:hi] = A @ W[:, lo:hi]`` (with ``cols``)
    #: or ``C[lo:hi] = A[lo:hi] @ W``, by ``codegen.mathlib_gemm_nn`` (``W`` row-major, read in
    #: place), not by BLAS
    nn: bool = False
    #: (a ``conv`` with ``nn``) each image's product reads the input in place (``gemm_taps_f32``):
    #: ``"rows"``, one product per output row, or ``"wide"``, one into a wide result in scratch
    #: whose outputs are copied into place (``codegen.mathlib_gemm_nn.conv_taps``); ``""``: im2col
    taps: str = ""
    #: (with ``taps``) each image is first copied into a zero-bordered buffer in scratch (padding, or
    #: rows that are not contiguous runs: ``codegen.mathlib_gemm_nn.taps_copy``)
    copy: bool = False
    #: window parameters written into the source as literals instead of read from the frame: the
    #: op's geometry (kernel size, stride, dilation, padding) and a unit innermost input stride,
    #: so im2col and pooling rows go by whole vectors (``row_copy_*``, ``pool_max_*``)
    consts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class KernelSpec:
    """Everything the source depends on."""

    n_outer: int
    n_inner: int
    mems: tuple[Mem, ...]
    scalars: tuple[str, ...]  # "int" | "float" | "bool"
    nodes: tuple[KNode, ...]
    name: str = "kernel"
    gemms: tuple[Gemm, ...] = ()


@dataclass(frozen=True)
class KernelSource:
    """Generated text, the function's name and the frame layout it reads."""

    name: str
    text: str
    frame: tuple[FrameSlot, ...]
    scratch: tuple[str, ...] = field(default=())  # dtype of each per-row scratch buffer


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def _expensive(node: KNode) -> bool:
    rule = LOWER.get(node.op) if node.op in LOWER else None
    if not isinstance(rule, Scalar):
        return False
    fast = rule.fast(Emit(node.loop, node.out)) if callable(rule.fast) else rule.fast
    return bool(fast) or node.op in {"exp", "tanh", "erf", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin",
                                     "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arctanh",
                                     "arctan2", "hypot", "pow", "floordiv", "mod"}


def _pairwise(node: KNode) -> bool:
    """Whether a reduction sums floats in NumPy's pairwise order."""
    return node.op in ("sum", "mean", "var", "std") and _is_float(node.out)


class _Gen(Calls):
    def __init__(self, spec: KernelSpec) -> None:
        self.spec = spec
        self.ns = Namespace(RESERVED | _RESERVED | _namespace_names())
        self.frame: list[FrameSlot] = []
        self.lines: list[str] = []
        self.scratch: list[str] = []
        self.rank = spec.n_outer + spec.n_inner

    # -- frame ------------------------------------------------------------------------------------
    def slot(self, what: FrameSlot) -> str:
        self.frame.append(what)
        return f"f[{len(self.frame) - 1}]"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    # -- structure --------------------------------------------------------------------------------
    def phases(self) -> tuple[list[int], list[int]]:
        """Pass in which each node is computed, and pass from which its value is available."""
        phase: list[int] = []
        avail: list[int] = []
        for node in self.spec.nodes:
            p = 0
            for ref in _refs(node):
                if ref[0] == "node":
                    p = max(p, avail[ref[1]] if self.spec.nodes[ref[1]].role != "full" else phase[ref[1]])
            phase.append(p)
            if node.role == "reduce":
                avail.append(p + (2 if node.op in ("var", "std") else 1))
            else:
                avail.append(p)
        return phase, avail

    def generate(self) -> KernelSource:
        spec = self.spec
        name = self.ns.fresh(spec.name)
        self.emit(0, f"def {name}(f):")
        self.emit(1, f"lo = {self.slot(('lo',))}")
        self.emit(1, f"hi = {self.slot(('hi',))}")
        # chunks are ranges lo:hi of the first loop, or with a column split of the second
        cols = bool(spec.gemms) and spec.gemms[0].cols
        split = 1 if cols else 0
        outer = [self.ns.fresh(f"n_o{d}") for d in range(spec.n_outer)]
        for d in range(spec.n_outer):
            if d != split:
                self.emit(1, f"{outer[d]} = {self.slot(('outer', d))}")
        inner = [self.ns.fresh(f"n_i{d}") for d in range(spec.n_inner)]
        for d in range(spec.n_inner):
            self.emit(1, f"{inner[d]} = {self.slot(('inner', d))}")
        self.count = None
        if spec.n_inner and any(n.role == "reduce" for n in spec.nodes):
            self.count = self.ns.fresh("count")
            self.emit(1, f"{self.count} = {self.slot(('count',))}")
        self.mem_names: list[str] = []
        self.strides: list[list[str | None]] = []
        for i, mem in enumerate(spec.mems):
            ptr = self.ns.fresh(mem.hint)
            self.mem_names.append(ptr)
            self.emit(1, f"{ptr} = ptr_{mem.dtype}({self.slot(('ptr', i))})")
            row: list[str | None] = []
            for d, kind in enumerate(mem.strides):
                if kind == "s":
                    s = self.ns.fresh(f"{ptr}_s{d}")
                    self.emit(1, f"{s} = {self.slot(('stride', i, d))}")
                    row.append(s)
                else:
                    row.append(kind)
            self.strides.append(row)
        self.scalar_names = []
        for s, kind in enumerate(spec.scalars):
            v = self.ns.fresh(f"s{s}")
            raw = self.slot(("scalar", s))
            value = {"float": f"bits_to_f64({raw})", "bool": f"({raw} != 0)"}.get(kind, raw)
            self.emit(1, f"{v} = {value}")
            self.scalar_names.append(v)
        self.phase, self.avail = self.phases()
        self.values: dict[int, str] = {}
        self.plan_scratch()
        self.images: tuple[str, str] | None = None
        for g, gemm in enumerate(spec.gemms):
            self.gemm(g, gemm)
        if not spec.nodes:
            text = "\n".join(self.lines) + "\n"
            return KernelSource(name, text, tuple(self.frame), tuple(self.scratch))
        # the loop nest over the outer dimensions; after a lone convolution, inside its loop over
        # images, so the epilogue reads each image's result while it is still in cache
        # (a chunk's rows lo..hi are its images lo..hi: row n only reads image n)
        nested = self.images if len(spec.gemms) == 1 else None
        index = [self.ns.fresh(f"i{d}") for d in range(spec.n_outer)]
        offsets = {i: "0" for i in range(len(spec.mems))}
        depth = 2 if nested else 1
        for d in range(spec.n_outer):
            first = f"range({nested[0]}, {nested[1]})" if nested else "range(lo, hi)"
            bound = first if d == split else f"range({outer[d]})"
            self.emit(depth, f"for {index[d]} in {bound}:")
            depth += 1
            if spec.n_inner == 0 and d == spec.n_outer - 1:
                break  # the innermost outer loop is the element loop of an elementwise kernel
            offsets = self.advance(depth, offsets, d, index[d])
        if spec.n_inner == 0:
            self.element_body(depth, offsets, index[-1], spec.n_outer - 1)
        else:
            self.row_body(depth, offsets, inner)
        text = "\n".join(self.lines) + "\n"
        return KernelSource(name, text, tuple(self.frame), tuple(self.scratch))

    def advance(self, depth: int, offsets: dict[int, str], d: int, idx: str) -> dict[int, str]:
        """Offsets of every mem after fixing loop index ``d``."""
        new = dict(offsets)
        for i in range(len(self.spec.mems)):
            s = self.strides[i][d]
            if s == "0":
                continue
            term = idx if s == "1" else f"{idx} * {s}"
            name = self.ns.fresh(f"{self.mem_names[i]}_o{d}")
            base = offsets[i]
            self.emit(depth, f"{name} = {term}" if base == "0" else f"{name} = {base} + {term}")
            new[i] = name
        return new

    # -- elementwise kernels ----------------------------------------------------------------------
    def element_body(self, depth: int, offsets: dict[int, str], idx: str, d: int) -> None:
        addr = {i: self.address(offsets[i], i, d, idx) for i in range(len(self.spec.mems))}
        for j, node in enumerate(self.spec.nodes):
            self.compute(depth, j, node, lambda i: self.load(i, addr[i]))
            for m in node.stores:
                self.store(depth, m, addr[m], self.values[j])

    def address(self, base: str, i: int, d: int, idx: str) -> str:
        s = self.strides[i][d]
        if s == "0":
            return base
        term = idx if s == "1" else f"{idx} * {s}"
        return term if base == "0" else f"{base} + {term}"

    def load(self, i: int, addr: str) -> str:
        text = f"{self.mem_names[i]}[{addr}]"
        return f"({text} != 0)" if self.spec.mems[i].dtype == "bool" else text

    def store(self, depth: int, i: int, addr: str, value: str) -> None:
        dtype = self.spec.mems[i].dtype
        conv = f"np.uint8({value})" if dtype == "bool" else f"np.{dtype}({value})"
        self.emit(depth, f"{self.mem_names[i]}[{addr}] = {conv}")

    # -- one operation ----------------------------------------------------------------------------
    def operand(self, ref: Any, load: Any) -> tuple[str, Any, str | None]:
        """(source text, literal value or None, dtype name or Python kind) of a reference."""
        kind = ref[0]
        if kind == "node":
            return self.values[ref[1]], None, self.spec.nodes[ref[1]].out
        if kind == "mem":
            return load(ref[1]), None, self.spec.mems[ref[1]].dtype
        if kind == "scalar":
            return self.scalar_names[ref[1]], None, self.spec.scalars[ref[1]]
        if kind == "lit":
            return repr(ref[1]), ref[1], None
        raise AssertionError(ref)

    def convert(self, text: str, value: Any, source: str | None, target: str) -> Operand:
        if value is not None or source is None:
            return Operand.of(literal(value, target), value)
        if source == target:
            return Operand.of(text)
        if target == "bool":
            return Operand.of(f"({text} != 0)")
        return Operand.of(f"np.{target}({text})")

    def compute(self, depth: int, j: int, node: KNode, load: Any) -> None:
        rule = LOWER.get(node.op)
        assert isinstance(rule, Scalar), node.op
        conv = []
        for k, a in enumerate(node.args):
            conv.append(self.arg(a, node, k, rule, load))
        kwargs = {key: self.arg(v, node, len(conv), rule, load) for key, v in node.kwargs}
        expr = rule.emit(Emit(node.loop, node.out, node.kinds), *conv, **kwargs)
        var = self.ns.fresh(node.hint or node.op)
        out = node.out
        if out == "bool":
            self.emit(depth, f"{var} = bool({expr})")
        else:
            self.emit(depth, f"{var} = np.{out}({expr})")
        self.values[j] = var

    def arg(self, a: Any, node: KNode, position: int, rule: Scalar, load: Any) -> Any:
        if not (isinstance(a, tuple) and a and a[0] in ("node", "mem", "scalar", "lit")):
            return a  # None, dtype and other static arguments
        text, value, source = self.operand(a, load)
        loop = rule.loop
        if loop == "same":
            target = source if source not in (None, "int", "float", "bool") else node.loop
        elif loop == "where":
            target = "bool" if position == 0 else node.loop
        elif loop == "bool":
            target = "bool"
        else:
            target = node.loop
        if source in ("int", "float"):
            source = {"int": "int64", "float": "float64"}[source]
        return self.convert(text, value, source, target)

    # -- kernels with reductions ------------------------------------------------------------------
    def plan_scratch(self) -> None:
        """Which full nodes are kept per row in scratch, and where pairwise sums read from."""
        spec = self.spec
        self.stored: dict[int, int] = {}  # node -> scratch buffer
        self.sum_source: dict[int, tuple[str, int]] = {}  # reduce node -> ("node"|"mem", index)
        if spec.n_inner == 0:
            return
        needed_later: set[int] = set()
        for j, node in enumerate(spec.nodes):
            for ref in _refs(node):
                if ref[0] == "node" and spec.nodes[ref[1]].role == "full":
                    p_use = self.phase[j] + (1 if node.op in ("var", "std") else 0)
                    if p_use > self.phase[ref[1]]:
                        needed_later.add(ref[1])
        for j in sorted(needed_later):
            if _expensive(spec.nodes[j]):
                self.stored[j] = self.new_scratch(spec.nodes[j].out)
        for j, node in enumerate(spec.nodes):
            if node.role != "reduce" or not _pairwise(node):
                continue
            src = node.args[0]
            if src[0] == "mem" and spec.mems[src[1]].dtype == node.out and spec.n_inner == 1:
                self.sum_source[j] = ("mem", src[1])
            elif src[0] == "node" and src[1] in self.stored and spec.nodes[src[1]].out == node.out:
                self.sum_source[j] = ("scratch", self.stored[src[1]])
            else:
                self.sum_source[j] = ("scratch", self.new_scratch(node.out))
        for j, node in enumerate(spec.nodes):
            if node.op in ("var", "std") and _is_float(node.out):
                self.sum_source[(j, "sq")] = ("scratch", self.new_scratch(node.out))

    def new_scratch(self, dtype: str) -> int:
        self.scratch.append(dtype)
        return len(self.scratch) - 1

    def row_body(self, depth: int, offsets: dict[int, str], inner: list[str]) -> None:
        spec = self.spec
        n_passes = 1 + max((self.phase[j] + (1 if n.op in ("var", "std") else 0)
                            for j, n in enumerate(spec.nodes) if n.role != "row"), default=0)
        self.scratch_names = []
        for k, dtype in enumerate(self.scratch):
            name = self.ns.fresh(f"scratch{k}")
            self.lines.insert(self.first_body_line(), f"    {name} = ptr_{dtype}({self.slot(('scratch', k))})")
            self.scratch_names.append(name)
        done: set[int] = set()
        self.row_offsets = offsets
        for p in range(n_passes):
            self.row_nodes(depth, p, done)
            self.inner_pass(depth, p, offsets, inner)
            self.finish_reductions(depth, p, done)
        self.row_nodes(depth, n_passes, done)

    def first_body_line(self) -> int:
        for k, line in enumerate(self.lines):
            if line.lstrip().startswith("for "):
                return k
        return len(self.lines)

    def row_nodes(self, depth: int, p: int, done: set[int]) -> None:
        """Row-level operations whose inputs are available before pass ``p``."""
        for j, node in enumerate(self.spec.nodes):
            if node.role != "row" or j in done or self.avail[j] > p:
                continue
            if any(r[0] == "node" and r[1] not in self.values for r in _refs(node)):
                continue
            self.compute(depth, j, node, lambda i: self.load(i, self.row_offsets[i]))
            for m in node.stores:
                self.store(depth, m, self.row_offsets[m], self.values[j])
            done.add(j)

    def inner_pass(self, depth: int, p: int, offsets: dict[int, str], inner: list[str]) -> None:
        """Pass ``p`` over the inner dimensions of one row."""
        spec = self.spec
        roots: list[Any] = []  # what this pass must compute
        stream: list[int] = []  # reductions updated per element (or storing their operand)
        second: list[int] = []  # var/std: squared deviations from the mean found in pass p - 1
        for j, node in enumerate(spec.nodes):
            src = node.args[0] if node.role == "reduce" else None
            if node.role == "reduce" and self.phase[j] == p:
                source = self.sum_source.get(j)
                if source is None or (source[0] == "scratch" and not self.reads_stored(src, source[1])):
                    roots.append(src)
                    stream.append(j)
                elif source[0] == "scratch":
                    roots.append(src)
            if node.role == "reduce" and node.op in ("var", "std") and self.phase[j] + 1 == p:
                roots.append(src)
                second.append(j)
            if node.role == "full" and self.phase[j] == p and (node.stores or j in self.stored):
                roots.append(("node", j))
        need, loads = self.closure(roots, p)
        if not need and not loads and not stream and not second:
            return
        for j in stream:
            self.init_stream(depth, j)
        saved = dict(self.values)
        row_idx = self.ns.fresh("e")
        self.emit(depth, f"{row_idx} = 0")
        idx = [self.ns.fresh(f"j{d}") for d in range(spec.n_inner)]
        offs = offsets
        dd = depth
        for d in range(spec.n_inner):
            self.emit(dd, f"for {idx[d]} in range({inner[d]}):")
            dd += 1
            if d < spec.n_inner - 1:
                offs = self.advance(dd, offs, spec.n_outer + d, idx[d])
        last = spec.n_outer + spec.n_inner - 1
        addr = {i: self.address(offs[i], i, last, idx[-1]) for i in range(len(spec.mems))}
        load = lambda i: self.load(i, addr[i])  # noqa: E731
        for j in sorted(loads):
            self.values[j] = f"{self.scratch_names[self.stored[j]]}[{row_idx}]"
        for j in sorted(need):
            node = spec.nodes[j]
            self.compute(dd, j, node, load)
            if self.phase[j] == p:
                if j in self.stored:
                    self.emit(dd, f"{self.scratch_names[self.stored[j]]}[{row_idx}] = {self.values[j]}")
                for m in node.stores:
                    self.store(dd, m, addr[m], self.values[j])
        for j in stream:
            self.update_stream(dd, j, load, row_idx)
        for j in second:
            node = spec.nodes[j]
            text, value, source = self.operand(node.args[0], load)
            v = self.convert(text, value, source, node.out)
            dev = self.ns.fresh("dev")
            self.emit(dd, f"{dev} = {v} - {self.values[(j, 'mean')]}")
            self.emit(dd, f"{self.scratch_names[self.sum_source[(j, 'sq')][1]]}[{row_idx}] = {dev} * {dev}")
        self.emit(dd, f"{row_idx} += 1")
        for key in [k for k in self.values if isinstance(k, int) and k not in saved]:
            del self.values[key]
        self.values.update(saved)

    def reads_stored(self, src: Any, k: int) -> bool:
        return src[0] == "node" and self.stored.get(src[1]) == k

    def closure(self, roots: list[Any], p: int) -> tuple[set[int], set[int]]:
        """Full nodes to compute in pass ``p`` for ``roots``, and stored ones to load instead."""
        need: set[int] = set()
        loads: set[int] = set()
        stack = list(roots)
        while stack:
            r = stack.pop()
            if r[0] != "node":
                continue
            j = r[1]
            node = self.spec.nodes[j]
            if node.role != "full" or j in need or j in loads:
                continue
            if j in self.stored and self.phase[j] < p:
                loads.add(j)
                continue
            need.add(j)
            stack.extend(_refs(node))
        return need, loads

    def init_stream(self, depth: int, j: int) -> None:
        node = self.spec.nodes[j]
        acc = self.ns.fresh(f"acc_{node.op}")
        self.values[(j, "acc")] = acc
        out = node.out
        if j in self.sum_source:
            return  # pairwise: values go to scratch, summed after the pass
        if node.op in ("sum", "mean"):
            self.emit(depth, f"{acc} = np.{out}(0)")
        elif node.op == "prod":
            self.emit(depth, f"{acc} = np.{out}(1)")
        elif node.op in ("max", "argmax"):
            src_dtype = self.src_dtype(node)
            self.emit(depth, f"{acc} = {_lowest(src_dtype)}")
        elif node.op in ("min", "argmin"):
            src_dtype = self.src_dtype(node)
            self.emit(depth, f"{acc} = {_highest(src_dtype)}")
        if node.op in ("max", "min") and _is_float(self.src_dtype(node)):
            # NaN wins: tracked in a flag, so the comparison is a select, not a branch (2x faster)
            flag = self.values[(j, "nan")] = self.ns.fresh(f"nan_{node.op}")
            self.emit(depth, f"{flag} = False")
        elif node.op == "any":
            self.emit(depth, f"{acc} = False")
        elif node.op == "all":
            self.emit(depth, f"{acc} = True")
        if node.op in ("argmax", "argmin"):
            where = self.ns.fresh(f"at_{node.op}")
            self.values[(j, "at")] = where
            self.emit(depth, f"{where} = 0")

    def src_dtype(self, node: KNode) -> str:
        src = node.args[0]
        if src[0] == "node":
            return self.spec.nodes[src[1]].out
        return self.spec.mems[src[1]].dtype

    def update_stream(self, depth: int, j: int, load: Any, row_idx: str) -> None:
        node = self.spec.nodes[j]
        text, value, source = self.operand(node.args[0], load)
        if j in self.sum_source:
            kind, k = self.sum_source[j]
            v = self.convert(text, value, source, node.out)
            self.emit(depth, f"{self.scratch_names[k]}[{row_idx}] = {v}")
            return
        acc = self.values[(j, "acc")]
        op = node.op
        if op in ("sum", "mean"):
            v = self.convert(text, value, source, node.out)
            self.emit(depth, f"{acc} = np.{node.out}({acc} + {v})" if node.out != "bool" else f"{acc} = {acc} or {v}")
        elif op == "prod":
            v = self.convert(text, value, source, node.out)
            self.emit(depth, f"{acc} = np.{node.out}({acc} * {v})" if node.out != "bool" else f"{acc} = {acc} and {v}")
        elif op in ("max", "min"):
            cmp = ">" if op == "max" else "<"
            v = self.ns.fresh("v")
            self.emit(depth, f"{v} = {text}")
            if (j, "nan") in self.values:  # NaNs: the flag decides, so the max or min vectorizes
                flag = self.values[(j, "nan")]
                self.emit(depth, f"{acc} = {op}_nonnan({acc}, {v})")
                self.emit(depth, f"{flag} = {flag} | ({v} != {v})")
            else:
                self.emit(depth, f"{acc} = {v} if {v} {cmp} {acc} else {acc}")
        elif op in ("argmax", "argmin"):
            cmp = ">" if op == "argmax" else "<"
            v = self.ns.fresh("v")
            self.emit(depth, f"{v} = {text}")
            cond = f"{v} {cmp} {acc}"
            if _is_float(source or ""):
                cond = f"{cond} or ({v} != {v} and {acc} == {acc})"
            self.emit(depth, f"if {cond}:")
            self.emit(depth + 1, f"{acc} = {v}")
            self.emit(depth + 1, f"{self.values[(j, 'at')]} = {row_idx}")
        elif op == "any":
            self.emit(depth, f"{acc} = {acc} or ({text} != 0)")
        elif op == "all":
            self.emit(depth, f"{acc} = {acc} and ({text} != 0)")

    def finish_reductions(self, depth: int, p: int, done: set[int]) -> None:
        spec = self.spec
        for j, node in enumerate(spec.nodes):
            if node.role != "reduce":
                continue
            if self.phase[j] == p:
                self.reduce_value(depth, j, node)
                if node.op not in ("var", "std"):
                    self.finish(depth, j, node, done)
            elif node.op in ("var", "std") and self.phase[j] + 1 == p:
                self.finish_var(depth, j, node)
                self.finish(depth, j, node, done)

    def pairwise_sum(self, j: Any, dtype: str, node: KNode) -> str:
        kind, k = self.sum_source[j]
        fn = "pairwise_sum_f32" if dtype == "float32" else "pairwise_sum_f64"
        if kind == "mem":
            stride = self.strides[k][-1]
            step = "1" if stride == "1" else ("0" if stride == "0" else stride)
            return f"{fn}({self.mem_names[k]}, {self.row_offsets[k]}, {self.count}, {step})"
        return f"{fn}({self.scratch_names[k]}, 0, {self.count}, 1)"

    def reduce_value(self, depth: int, j: int, node: KNode) -> None:
        """The reduction's value (for var/std: the mean) after its pass."""
        out = node.out
        name = self.ns.fresh(node.hint or node.op)
        if j in self.sum_source:
            total = self.pairwise_sum(j, out, node)
            if node.op == "sum":
                self.emit(depth, f"{name} = {total}")
            else:  # mean, and the mean inside var/std: NumPy divides by an intp count in float64
                self.emit(depth, f"{name} = np.{out}(np.float64({total}) / np.float64({self.count}))")
            if node.op in ("var", "std"):
                self.values[(j, "mean")] = name
                return
            self.values[j] = name
            return
        acc = self.values[(j, "acc")]
        if node.op == "mean":
            self.emit(depth, f"{name} = np.{out}(np.float64({acc}) / np.float64({self.count}))")
        elif node.op in ("argmax", "argmin"):
            self.emit(depth, f"{name} = np.{out}({self.values[(j, 'at')]})")
        elif (j, "nan") in self.values:
            self.emit(depth, f"{name} = np.{out}(np.nan) if {self.values[(j, 'nan')]} else np.{out}({acc})")
        elif out == "bool":
            self.emit(depth, f"{name} = bool({acc})")
        else:
            self.emit(depth, f"{name} = np.{out}({acc})")
        self.values[j] = name

    def finish_var(self, depth: int, j: int, node: KNode) -> None:
        out = node.out
        total = self.pairwise_sum((j, "sq"), out, node)
        name = self.ns.fresh(node.hint or node.op)
        dof = f"max({self.count} - {node.ddof}, 0)"
        self.emit(depth, f"{name} = np.{out}(np.float64({total}) / np.float64({dof}))")
        if node.op == "std":
            self.emit(depth, f"{name} = np.sqrt({name})")
        self.values[j] = name

    def finish(self, depth: int, j: int, node: KNode, done: set[int]) -> None:
        for m in node.stores:
            self.store(depth, m, self.row_offsets[m], self.values[j])
        done.add(j)


def _refs(node: KNode) -> list[Any]:
    out = []
    for a in (*node.args, *(v for _, v in node.kwargs)):
        if isinstance(a, tuple) and a and a[0] in ("node", "mem", "scalar", "lit"):
            out.append(a)
    return out


def _lowest(dtype: str) -> str:
    if _is_float(dtype):
        return f"np.{dtype}(-np.inf)"
    if dtype == "bool":
        return "False"
    return f"np.{dtype}({int(np.iinfo(dtype).min)})"


def _highest(dtype: str) -> str:
    if _is_float(dtype):
        return f"np.{dtype}(np.inf)"
    if dtype == "bool":
        return "True"
    return f"np.{dtype}({int(np.iinfo(dtype).max)})"


#: Names that generated source may use besides ``np`` and ``math`` (``mathlib.NAMESPACE`` has them).
HELPERS = frozenset({
    "exp_f32", "tanh_f32", "erf_f32", "floordiv_f32", "mod_f32", "floordiv_f64", "mod_f64", "floordiv_int", "mod_int",
    "ipow", "pool_max_f32", "pool_max_f64", "gemm_wt_f32", "gemm_nn_f32", "gemm_taps_f32", "maximum", "minimum",
    "fmax", "fmin", "sign",
    "pairwise_sum_f32", "pairwise_sum_f64", "bits_to_f64", "transpose_copy_f32", "transpose_copy_f64", "row_copy_f32",
    "row_copy_f64", "max_nonnan", "min_nonnan", *(f"ptr_{name}" for name in NUMBA_DTYPES),
    *(f"gemm_{t}_{abi}" for t in ("f32", "f64") for abi in ("ilp64", "lp64")),
})


def _namespace_names() -> frozenset[str]:
    return HELPERS


def generate(spec: KernelSpec) -> KernelSource:
    """The Python source of ``spec`` (see the module docstring).

    Examples
    --------
    >>> relu = KNode("maximum", "full", (("mem", 0), ("lit", 0.0)), stores=(1,))
    >>> spec = KernelSpec(1, 0, (Mem("float32", ("1",), "x"), Mem("float32", ("1",), "out")), (), (relu,), "k_relu")
    >>> print(generate(spec).text)
    def k_relu(f):
        lo = f[0]
        hi = f[1]
        x = ptr_float32(f[2])
        out = ptr_float32(f[3])
        for i0 in range(lo, hi):
            maximum_1 = np.float32(maximum(x[i0], np.float32(0.0)))
            out[i0] = np.float32(maximum_1)
    <BLANKLINE>
    """
    return _Gen(spec).generate()
