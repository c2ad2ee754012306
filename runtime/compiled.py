"""The numba backend: runs a graph as fused, compiled kernels between NumPy/BLAS calls.

:class:`NumbaExecutor` plans the graph once per input signature (dtypes and shapes of the
arguments; ``codegen.plan``), gets the plan's kernels from ``codegen.cache`` (memory, disk, or
numba) and runs the steps.  Per call it points the words of one int64 *frame* array at what the
kernels read (inputs, parameters, the per-thread arena, the output block), rewriting only the
words whose addresses changed since the thread's last call (``runtime.frame_words``), in a
generated straight-line Python function (``runtime.driver``) whose kernel calls are single
``ctypes`` calls that release the GIL.  A call with arrays or Python scalars as its arguments
finds its compiled signature in one dictionary lookup keyed by their dtypes and shapes.

Semantics are :class:`runtime.interpreter.Program`'s: the same argument binding and defaults,
results as NumPy arrays (0-d results of elementwise ops and reductions as NumPy scalars),
values within the SPEC's tolerances (see ``codegen.lowering``).  Ops without a lowering run on
their NumPy reference (one :class:`ir.TracerWarning` per op and process); the blocks of control
flow (``if``, ``loop``) are compiled like any graph, and the ops that only the interpreter knows
how to run (calls of Python methods) run through it.  Many threads may call one executor: plans are
shared, each thread has its own arena and frames.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from operator import is_, itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from codegen.cache import get_kernels
from codegen.plan import ABSOLUTE, ARENA, InterpStep, Plan, PlanOptions, plan_graph
from codegen.pool import get_pool
from ir import Graph, TensorType, TracerWarning, TracingError, Type, type_of
from ir.node import Node, Use

from .driver import _contiguous, build_driver, data_address
from .frame_words import BaseWords, base_words, set_base
from .interpreter import Program
from .progress import progress
from .signatures import _dynamic, _fast_key, _value_key, signature_key

__all__ = ["NumbaExecutor", "signature_key"]

_WARNED: set[str] = set()
_WARN_LOCK = threading.Lock()
_MAX_SIGNATURES = 32
if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                from concurrent.futures import ThreadPoolExecutor  # not at import: it imports logging

                _POOL = ThreadPoolExecutor(max_workers=max(1, threads - 1), thread_name_prefix="tracer-kernel")
    return _POOL


def _warn_fallback(ops: Sequence[str]) -> None:
    with _WARN_LOCK:
        new = [op for op in ops if op not in _WARNED]
        _WARNED.update(new)
    for op in new:
        warnings.warn(
            f"op {op!r} has no entry in the numba lowering table; the numba backend runs it on its NumPy "
            "reference (slower, and it splits fused kernels). Add a rule in codegen/lowering.py",
            TracerWarning, stacklevel=5,
        )


def _single_node_program(node: Node, n_inputs: int, n_outputs: int, multi: bool) -> Program:
    """A one-node graph run by the reference interpreter (control flow, ops without lowering)."""
    g = Graph(node.op)
    ins = [g.add(Node("input", kwargs=(("name", f"a{i}"), ("index", i)))) for i in range(n_inputs)]
    nid = g.add(node, [(i, 0) for i in ins])
    if multi:
        g.add(Node("output", (tuple(Use(k) for k in range(n_outputs)),)), [(nid, k) for k in range(n_outputs)])
    else:
        g.add(Node("output", (Use(0),)), [(nid, 0)])
    return Program(g)


class _Control:
    """``if``/``loop`` with their blocks compiled too (each block is a graph of its own; the
    semantics are those documented in ``ir.ops.control``)."""

    def __init__(self, node: Node, options: PlanOptions) -> None:
        self.op = node.op
        self.blocks = [NumbaExecutor(b, options) for b in node.blocks]
        self.n_carried = node.kwarg("n_carried", 0)

    def run(self, args: Sequence[Any], state: Mapping[str, Any]) -> Any:
        cond, *inputs = args
        if isinstance(args, list):
            args.clear()  # the driver's list: hold no value longer than needed
        if self.op == "if":
            return self.blocks[0 if cond else 1].run(inputs, state)
        body = self.blocks[0]
        carried, invariant = tuple(inputs[:self.n_carried]), tuple(inputs[self.n_carried:])
        del inputs
        while cond:
            cond, *new = body.run((*carried, *invariant), state)
            carried = tuple(new)
        return carried


_CONTROL = frozenset({"if", "loop"})


class _ThreadState:
    """One thread's arena and frames for one compiled signature, and what its frame words point at."""

    __slots__ = ("arena", "frames", "frame_addr", "last", "objects", "params", "param_values")

    def __init__(self, plan: Plan, table: list[BaseWords]) -> None:
        raw = np.empty(plan.arena_bytes + 64, np.uint8)
        start = (-raw.__array_interface__["data"][0]) % 64
        self.arena = raw[start:start + plan.arena_bytes]
        self.frames = plan.frame_const.copy()
        self.frame_addr = self.frames.__array_interface__["data"][0]
        # last[b]: the address base b's frame words were pointed at (None: not yet; runtime.frame_words)
        self.last: list = [None] * len(table)
        self.last[ABSOLUTE] = 0
        set_base(self.frames, self.last, table[ARENA], ARENA, self.arena.__array_interface__["data"][0])
        self.objects = [np.ndarray(shape, dtype, buffer=self.arena, offset=off, strides=strides)
                        for _, off, shape, dtype, strides in plan.arena_objects]
        self.params: list = [None] * len(plan.params)  # the parameter objects the frames point at
        self.param_values: tuple | None = None  # the same, when each is one (none was copied)


def _parallel(fn: Any, frame_addr: int, offsets: tuple[int, ...]) -> None:
    """Run a kernel's chunks where there is no native pool (``codegen.pool``): all but the first on
    Python threads, the first here (ctypes drops the GIL)."""
    pool = _pool(len(offsets))
    futures = [pool.submit(fn, frame_addr + off) for off in offsets[1:]]
    fn(frame_addr + offsets[0])
    for f in futures:
        f.result()


class _Compiled:
    """A plan with its kernels loaded and its driver generated, ready to run."""

    def __init__(self, plan: Plan, options: PlanOptions) -> None:
        self.plan = plan
        self.options = options
        with progress(f"compiling {plan.graph.name}()", total=len(plan.kernels), unit="kernels") as shown:
            self.kernels = get_kernels([(k.text, k.name) for k in plan.kernels], shown.advance)
        programs: dict[int, Any] = {}
        for i, step in enumerate(plan.steps):
            if isinstance(step, InterpStep):
                node = step.node
                if node.op in _CONTROL and node.blocks:
                    programs[i] = _Control(node, options)
                else:
                    programs[i] = _single_node_program(node, len(step.ins), len(step.outs),
                                                       len(step.outs) > 1 or _multi(node))
        self.programs = programs
        self.local = threading.local()
        self.param_cache: list[tuple[Any, np.ndarray, int] | None] = [None] * len(plan.params)
        # what kernels were compiled to read from each parameter (its buffer's size and layout)
        types = {n.kwarg("name"): n.types[0] for _, n in plan.graph.nodes() if n.op == "param" and n.types}
        self.param_specs = [(t.dtype.newbyteorder("="), tuple(t.shape))
                            if isinstance(t, TensorType) and t.is_concrete and t.dtype is not None else None
                            for t in (types.get(name) for _, name, _ in plan.params)]
        split = any(len(step.frames) > 1 for step in plan.kernel_steps)
        self.pool = get_pool(options.threads) if split else None
        self.param_slots = [(name, base) for _, name, base in plan.params]
        names = [name for name, _ in self.param_slots]
        self.param_getter: Callable[[Any], tuple] = (itemgetter(*names) if len(names) > 1 else
                                                     (lambda state, name=names[0] if names else "": (state[name],)))
        self.table = base_words(plan)
        self.driver = build_driver(plan, self.kernels, programs, _parallel, self.load_params, plan.graph.name,
                                   self.pool, self.table)

    def state(self) -> _ThreadState:
        ts = getattr(self.local, "ts", None)
        if ts is None:
            ts = self.local.ts = _ThreadState(self.plan, self.table)
        return ts

    def load_params(self, state: Mapping[str, Any], ts: _ThreadState, keep: list) -> Sequence[Any]:
        """The plan's parameters from ``state``, in order.  The frame words kernels read them
        through are rewritten only for parameters that are not the same objects as in this thread's
        last call (a parameter updated in place keeps its buffer); when all are (and none needed a
        copy, which is made anew each call), the lookups are all this does."""
        seen = ts.param_values
        if seen is not None:
            try:
                values = self.param_getter(state)
            except KeyError:
                pass  # the loop below names the missing parameter
            else:
                if all(map(is_, values, seen)):
                    return values
        out = []
        last = ts.params
        for k, (name, base) in enumerate(self.param_slots):
            try:
                value = state[name]
            except KeyError:
                raise TracingError(f"parameter {name!r} used by {self.plan.graph.name}() is missing from the "
                                   "module") from None
            if value is not last[k]:
                if base is not None:
                    set_base(ts.frames, ts.last, self.table[base], base, self.param_address(k, name, value, keep))
                    hit = self.param_cache[k]
                    last[k] = value if hit is not None and hit[0] is value else None  # copies: per call
                else:
                    last[k] = value
            out.append(value)
        ts.param_values = tuple(out) if all(map(is_, out, last)) else None
        return out

    def param_address(self, k: int, name: str, value: Any, keep: list) -> int:
        """Address of parameter ``k``'s data (cached while the same array object is passed).

        Only an array that kernels can read in place is cached: a copy (of a non-contiguous or
        misaligned parameter, or of a NumPy scalar) is made for this call and held in ``keep``,
        the call's list of what its frames point into, so that it lives while kernels read it and
        never goes stale when the parameter is updated in place.
        """
        hit = self.param_cache[k]
        if hit is not None and hit[0] is value:
            return hit[2]
        arr = _contiguous(value)
        spec = self.param_specs[k]
        if spec is not None and (arr.dtype != spec[0] or arr.shape != spec[1]):
            raise RuntimeError(
                f"parameter {name!r} is {arr.dtype}{list(arr.shape)} but {self.plan.graph.name}() was compiled for "
                f"{spec[0]}{list(spec[1])}; assign arrays of the captured shape and dtype (or load_state_dict)")
        ptr = data_address(arr)
        if arr is value:
            self.param_cache[k] = (value, arr, ptr)
        else:
            keep.append(arr)
        return ptr

    def run(self, values: list[Any], state: Mapping[str, Any]) -> Any:
        ts = getattr(self.local, "ts", None)
        if ts is None:
            ts = self.state()
        return self.driver(values, state, ts)


def _multi(node: Node) -> bool:
    from ir.ops import get_op

    return get_op(node.op).multi_output


class NumbaExecutor:
    """Runs ``graph`` with compiled kernels (the ``"numba"`` backend).

    Parameters
    ----------
    graph : ir.Graph
    options : codegen.plan.PlanOptions, optional

    Examples
    --------
    >>> import numpy as np, tracer
    >>> sf = tracer.trace(lambda x: np.tanh(x * 2.0 + 1.0), np.ones((4, 3), np.float32))
    >>> ex = NumbaExecutor(sf.graph)
    >>> np.allclose(ex.run((np.zeros((2, 3), np.float32),), {}), np.tanh(1.0))
    True
    """

    def __init__(self, graph: Graph, options: PlanOptions | None = None) -> None:
        self.graph = graph
        self.options = options or PlanOptions()
        self._program = Program(graph)
        self._compiled: OrderedDict[tuple, _Compiled | Program] = OrderedDict()
        # ``_fast_key`` of the arguments (only the dtype and shape of a single array) -> the compiled
        # form's ``run``: calls that pass every input skip binding and ``_value_key``
        self._n_inputs = len(self._program.inputs)
        self._fast: dict[tuple, Callable[..., Any]] = {}
        self._fast1: dict[tuple, Callable[..., Any]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    # -- building ---------------------------------------------------------------------------------
    def prepare(self, input_types: Sequence[Type]) -> None:
        """Plan and compile (or load from the cache) for these concrete input types now, so that
        the first call with such inputs compiles nothing."""
        given = list(input_types)
        keys = list(signature_key([_dynamic(t) for t in given]))
        types = [_dynamic(t) for t in given]
        # arguments left out take their defaults, as in ``run`` (a scripted ``scale: float = 2.0``)
        for _, _name, default, has_default in self._program.inputs[len(given):]:
            if not has_default:
                break
            keys.append(_value_key(default))
            types.append(_dynamic(type_of(default)))
        self._get(tuple(keys), tuple(types))

    def compiled(self, args: Sequence[Any]) -> _Compiled | Program:
        """The compiled form used for ``args`` (building it if needed); for inspection and tests."""
        values = self._program.bind(args)
        return self._get(tuple(_value_key(v) for v in values), tuple(_dynamic(type_of(v)) for v in values))

    def _get(self, key: tuple, types: tuple) -> _Compiled | Program:
        hit = self._compiled.get(key)
        if hit is not None:
            return hit
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._compiled.get(key)
            if hit is not None:
                return hit
            built = self._build(types, frozenset(i for i, k in enumerate(key) if isinstance(k, tuple) and len(k) == 3))
            with self._lock:
                self._compiled[key] = built
                while len(self._compiled) > _MAX_SIGNATURES:
                    self._compiled.popitem(last=False)
                    self._fast.clear()  # they may hold what was dropped
                    self._fast1.clear()
            return built

    def _build(self, types: tuple, scalar_inputs: frozenset[int] = frozenset()) -> _Compiled | Program:
        try:
            plan = plan_graph(self.graph, types, self.options, scalar_inputs=scalar_inputs)
        except Exception as exc:  # a planner bug must not stop a program that the interpreter runs
            warnings.warn(f"numba backend could not plan {self.graph.name}() for {', '.join(map(str, types))}: "
                          f"{type(exc).__name__}: {exc}; running it on the interpreter", TracerWarning, stacklevel=4)
            return self._program
        if plan.fallbacks:
            _warn_fallback(plan.fallbacks)
        return _Compiled(plan, self.options)

    # -- running ----------------------------------------------------------------------------------
    def run(self, args: Sequence[Any], state: Mapping[str, Any]) -> Any:
        """Run with positional ``args`` and parameter values ``state`` (qualified name -> array)."""
        if len(args) == 1:
            a = args[0]
            if type(a) is np.ndarray:
                hit = self._fast1.get((a.dtype, a.shape))
                if hit is not None:
                    return hit(args, state)
        fast = _fast_key(args) if len(args) == self._n_inputs else None
        if fast is not None:
            hit = self._fast.get(fast)
            if hit is not None:
                return hit(args, state)
        values = self._program.bind(args)
        key = tuple(_value_key(v) for v in values)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._get(key, tuple(_dynamic(type_of(v)) for v in values))
        if fast is not None:  # every input given, each an array or a Python scalar
            table = self._fast1 if len(fast) == 1 and type(args[0]) is np.ndarray else self._fast
            if len(table) >= 2 * _MAX_SIGNATURES:
                table.clear()
            table[fast[0] if table is self._fast1 else fast] = compiled.run
        return compiled.run(values, state)

    def workspace_bytes(self) -> int:
        """Bytes of the per-thread arenas one thread holds for the signatures seen so far,
        control-flow blocks included (the memory reused across calls)."""
        total = 0
        for compiled in list(self._compiled.values()):
            if isinstance(compiled, _Compiled):
                total += compiled.plan.arena_bytes
                for program in compiled.programs.values():
                    if isinstance(program, _Control):
                        total += sum(block.workspace_bytes() for block in program.blocks)
        return total

    def plan(self, args: Sequence[Any]) -> Plan | None:
        """The plan used for ``args`` (``None`` when they run on the interpreter)."""
        compiled = self.compiled(args)
        return compiled.plan if isinstance(compiled, _Compiled) else None


