"""What a plan is: the planner's options, its steps and the :class:`Plan` itself.

Split out of ``codegen.plan`` (which builds plans; see its docstring for the whole picture).
``runtime.compiled`` and ``runtime.driver`` run these; every name here is also importable from
``codegen.plan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ir import Graph, Type
from ir.node import Node

from .kernels import KernelSource

__all__ = ["PlanOptions", "Plan", "KernelStep", "HostStep", "InterpStep", "ABSOLUTE", "ARENA", "OUTBLOCK",
           "align_up", "hint_of"]

#: Frame bases: word values are absolute, or offsets into the thread's arena or the call's output
#: block; bases 3 and up are per-call pointers (inputs, parameters, arrays NumPy calls return).
ABSOLUTE, ARENA, OUTBLOCK = 0, 1, 2
_ALIGN = 64


@dataclass(frozen=True)
class PlanOptions:
    """Knobs of the planner (defaults measured on the 2-core development machine).

    Attributes
    ----------
    fuse : bool
        Group operations into kernels (``False``: one kernel per operation).
    force_kernels : bool
        Compile every operation that has a lowering, however small (tests use it so that every
        op runs through numba), and fold nothing from sizes (else ``ir.passes.fold_sizes``
        computes arrays made from sizes alone, a causal mask, when the plan is made).
    min_elements : int
        A lone cheap operation on fewer elements runs on NumPy: a kernel call costs the same.
    threads : int
        Split a kernel's outermost loop (rows, images, or a matmul's columns) over this many
        threads...
    parallel_work : int or None
        ...when its estimated single-thread time in nanoseconds exceeds this.  ``None``: 20 us
        where ``codegen.pool``'s native workers run the chunks (a hand-off costs about a
        microsecond while they spin), 400 us where Python threads do (tens of microseconds).
    unroll : int
        Loops whose trip count is known from constants and input shapes, up to this many
        iterations, are planned as straight-line code (``ir.passes.unroll_loops``); 0 keeps
        every loop a loop (its body compiled, the loop itself run from Python).
    merge : bool
        Products of one right operand with slices of one array become one product and slices
        of it (``ir.passes.merge_sliced_matmuls``: an RNN's input projection leaves its loop).
        Off by default: the merged product stays alive for the whole call (the zoo's ``rnn``:
        0.5 MiB of workspace against NumPy eager's 42 KB peak) for about 5% of its time at
        batch 16 (batch 1: 205 -> 126 us).
    copy_transposes : bool
        A ``W.T`` shared by small products is read through one contiguous copy (kept while
        ``W`` is unchanged: ``prepack``), so that they run ``A @ B`` instead of the swapped
        product (``ir.passes.copy_shared_transposes``).
    prepack : bool
        Values computed from parameters alone (that copy, weights concatenated) are computed
        once and kept while the parameters hold the same bytes (``codegen.prepack``), instead of
        once per call.
    merge_splits : bool
        Products of one left operand by the pieces of one split weight (attention's query, key
        and value projections from ``in_proj_weight``) become one product by the whole weight,
        its bias added once, and column slices of it (``ir.passes.merge_split_products``).
    own_gemm : bool
        A float32 product of few rows by a ``Linear`` weight, computed transposed in column
        blocks (``Gemm.swap``), runs on our own AVX-512 ``gemm`` (``codegen.mathlib_gemm``: the weight
        read in place) instead of OpenBLAS and a transposing copy, where LLVM targets AVX-512F;
        and a float32 ``A @ W`` with ``W`` stored input-major (``x @ w + b``) on
        ``codegen.mathlib_gemm_nn`` instead of OpenBLAS.
    """

    fuse: bool = True
    force_kernels: bool = False
    min_elements: int = 1 << 14
    threads: int = 2
    parallel_work: int | None = None
    unroll: int = 256
    merge: bool = False
    copy_transposes: bool = True
    prepack: bool = True
    merge_splits: bool = True
    own_gemm: bool = True


@dataclass
class KernelStep:
    """Run kernel ``kernel`` once per chunk; ``frames`` are word offsets into the frame array."""

    kernel: int
    frames: list[int]
    name: str
    work: int
    blas: bool = False  # starts with BLAS calls (each chunk calls gemm for its rows)
    reads: tuple[int, ...] = ()  # env slots of arrays NumPy calls made that its frames point into


@dataclass
class HostStep:
    """``outs = fn(*args, **kwargs)`` on Python objects; ``out_kw`` passes a planned buffer."""

    fn: Any
    args: tuple
    kwargs: tuple
    ins: tuple[int, ...]  # env slot of each Use
    outs: tuple[int, ...]  # env slot of each output (several for multi-output ops)
    multi: bool
    op: str
    out_kw: str | None = None
    out_slot: int | None = None
    publish: tuple = ()  # (env slot, base index, dtype, shape, frame words): arrays kernels read later
    prepacked: tuple[int, ...] | None = None  # env slots of the parameters a kept value depends on


@dataclass
class InterpStep:
    """Run one node through the reference interpreter (control flow, ops without a lowering)."""

    node: Node
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    publish: tuple = ()


@dataclass
class Plan:
    """A program planned for one input signature (see the module docstring)."""

    graph: Graph
    input_types: tuple[Type, ...]
    n_slots: int
    inputs: list[tuple[int, int | None]]  # (env slot, base index or None) per graph input
    params: list[tuple[int, str, int | None]]  # (env slot, qualified name, base index or None)
    statics: list[tuple[int, Any]]
    steps: list[Any]
    output: tuple[Any, tuple[int, ...], tuple[bool, ...]]  # template, env slots, "0-d: as a scalar"
    kernels: list[KernelSource]
    frame_const: np.ndarray
    frame_base: np.ndarray
    scalar_patches: list[tuple[int, int, str]]  # (frame word, env slot, kind) per dynamic scalar
    n_bases: int
    arena_bytes: int
    scratch_offset: int
    scratch_bytes: int  # per chunk
    outblock_bytes: int
    arena_objects: list[tuple[int, int, tuple, np.dtype, tuple]]  # (slot, offset, shape, dtype, strides)
    outblock_objects: list[tuple[int, int, tuple, np.dtype, tuple]]
    fallbacks: tuple[str, ...] = ()
    interpreted: tuple[str, ...] = ()
    owned: list = field(default_factory=list)  # arrays whose addresses the frames hold
    kernel_ops: frozenset[str] = frozenset()  # ops computed inside kernels
    slot_names: dict[int, str] = field(default_factory=dict)  # readable names for the driver
    scalar_slots: frozenset[int] = frozenset()  # 0-d kernel results that NumPy calls see as scalars

    def describe(self) -> str:
        """The step list, one line per step (for people and tests)."""
        lines = []
        for s in self.steps:
            if isinstance(s, KernelStep):
                lines.append(f"kernel {s.name}" + (f" ({len(s.frames)} threads)" if len(s.frames) > 1 else ""))
            elif isinstance(s, HostStep):
                lines.append(f"numpy {s.op}" + (" (into buffer)" if s.out_kw else "")
                             + (" (prepacked)" if s.prepacked is not None else ""))
            else:
                lines.append(f"interpreter {s.node.op}")
        return "\n".join(lines)

    @property
    def kernel_steps(self) -> list[KernelStep]:
        return [s for s in self.steps if isinstance(s, KernelStep)]



def align_up(n: int) -> int:
    """``n`` bytes rounded up to a whole number of cache lines (buffers start on one)."""
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def hint_of(node: Node) -> str:
    """A readable name for ``node``'s value (kernel and driver variable names)."""
    if node.op in ("input", "param"):
        return node.kwarg("name").split(".")[-1]
    if node.hints:
        return node.hints[0]
    return node.op

