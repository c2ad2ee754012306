"""The Python function that runs one plan: straight-line code between kernel calls.

For a :class:`codegen.plan.Plan` we generate (and ``linecache``-register) a function such as::

    def run_forward(values, state, ts):
        frames = ts.frames
        last = ts.last
        F = ts.frame_addr
        keep = []
        x = values[0]
        if type(x) is np_ndarray and x.flags.carray and x.dtype.isnative:
            q = addr(x)
        else:
            ...  # a contiguous copy, held in ``keep``
        if q != last[3]:  # the frame words that point into x, rewritten only when x moved
            last[3] = None
            frames[17] = q + 0
            last[3] = q
        fc1_weight, fc1_bias = load_params(state, ts, keep)
        transpose = _H0(fc1_weight)
        matmul = _H1(x, transpose, out=objects[0])
        _K0(F + 0)
        ...
        return add_1

so a call costs the NumPy and kernel calls themselves plus a few attribute loads, instead of
re-reading the step list and rebuilding argument templates every time (``runtime.frame_words``
says which frame words a call rewrites).  The source is ours (generated from the plan), never
archive content.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from codegen.plan import ABSOLUTE, ARENA, OUTBLOCK, HostStep, InterpStep, KernelStep, Plan
from codegen.sources import register_source
from ir.node import Slice, Use
from ir.ops import get_op
from ir.printer import RESERVED, Namespace

from .frame_words import BaseWords, base_words, update_source
from .prepacked import Prepacked

__all__ = ["build_driver", "data_address"]

_COUNTER = iter(range(1 << 62))
_COUNTER_LOCK = threading.Lock()


def _slow_address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def _make_address() -> Callable[[np.ndarray], int]:
    # ``__array_interface__`` builds a dict (3-4 us); the data pointer is the first field after the
    # object header of NumPy's array struct (public ABI), so read it there when that checks out
    offset = object.__basicsize__
    read = ctypes.c_void_p.from_address

    def fast(arr: np.ndarray) -> int:
        return read(id(arr) + offset).value or 0

    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    probes = [base, base[1:, 2:], base.T, np.zeros(0), np.array(1.0)]
    try:
        ok = type(base) is np.ndarray and all(fast(p) == _slow_address(p) for p in probes if p.size)
    except Exception:  # pragma: no cover - another interpreter or array layout
        ok = False
    return fast if ok else _slow_address


#: ``data_address(arr)``: the address of ``arr``'s first element (an ``np.ndarray``, held alive by the caller).
data_address = _make_address()


def _contiguous(value: Any) -> np.ndarray:
    """``value`` as an aligned C-contiguous array in native byte order, as kernels read it (0-d
    stays 0-d, unlike ``np.ascontiguousarray``)."""
    if type(value) is np.ndarray and value.flags.carray and value.dtype.isnative:
        return value  # the common case, without np.asarray's call (read-only arrays take the long way)
    arr = np.asarray(value)
    if not arr.dtype.isnative:  # ``>f4`` data (from a file) has the dtype name kernels compile for
        return arr.astype(arr.dtype.newbyteorder("="), order="C")
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = np.array(arr, order="C", copy=True)
    return arr


def _float_bits(value: Any) -> int:
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


def _scalar(value: Any) -> Any:
    """0-d arrays that NumPy would have returned as scalars (ufuncs, reductions)."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


class _Literals:
    """Non-trivial literals referenced by name from generated code."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def ref(self, value: Any) -> str:
        # exact types: NumPy scalars subclass some of these (np.float64 is a float) and print as
        # ``np.float64(1.5)``, a name the driver does not have; they are referenced by name
        if value is None or type(value) in (bool, int, str) or value is Ellipsis:
            return repr(value) if value is not Ellipsis else "..."
        if type(value) is float and np.isfinite(value):
            return repr(value)
        name = f"_L{len(self.values)}"
        self.values[name] = value
        return name


#: Names the driver itself uses (locals and globals), which values' names must avoid.
_DRIVER_NAMES = frozenset({
    "values", "state", "ts", "last", "frames", "F", "objects", "keep", "a", "q", "raw", "p", "start", "args",
    "np_add", "addr", "np_empty", "np_uint8", "np_ndarray", "contiguous",
    "float_bits", "scalar", "publish", "load_params", "parallel", "slice", "pool_run", "POOL",
})


#: A split kernel wakes sleeping native workers when its estimated work (ns) is at least this: a
#: wake-up costs the caller 10-40 us here and the worker may arrive much later, so smaller kernels
#: run all their chunks on the calling thread unless a worker is already spinning.
WAKE_WORK = 100_000


def build_driver(plan: Plan, kernels: list, programs: dict[int, Any], parallel: Callable[..., None],
                 load_params: Callable[[Any, Any, list], Any], graph_name: str,
                 pool: Any = None, table: list[BaseWords] | None = None) -> Callable[..., Any]:
    """Generate and compile the driver of ``plan`` (see the module docstring).

    ``load_params(state, ts, keep)`` returns the plan's parameters in order and points the frame
    words of those kernels read at them (``runtime.frame_words``).  Split kernels run their chunks
    through ``pool`` (a ``codegen.pool.Pool``: one native call that shares them with its workers), or
    ``parallel(kernel, frame_address, offsets)`` without one.  ``table`` is
    ``frame_words.base_words(plan)``; the driver reads ``ts.frames``, ``ts.last`` (see there),
    ``ts.frame_addr`` and ``ts.objects``.
    """
    table = base_words(plan) if table is None else table
    covered = {ABSOLUTE, ARENA, OUTBLOCK} | {b for _, b in plan.inputs} | {b for *_, b in plan.params} | \
        {pub[1] for step in plan.steps for pub in getattr(step, "publish", ())}
    unset = sorted({int(b) for b in plan.frame_base} - covered)
    if unset:  # our invariant: every base a kernel reads is set by the call
        raise AssertionError(f"{graph_name}(): frame bases {unset} are never set by the driver")
    ns = Namespace(RESERVED | _DRIVER_NAMES)  # generated globals start with "_" and a letter: never a hint
    lit = _Literals()
    names: dict[int, str] = {}

    def var(slot: int, hint: str = "v") -> str:
        if slot not in names:
            names[slot] = ns.fresh(hint)
        return names[slot]

    hints = _slot_hints(plan)
    for slot, hint in hints.items():
        var(slot, hint)
    extra: dict[str, Any] = {}
    lines = ["frames = ts.frames", "last = ts.last", "F = ts.frame_addr", "keep = []"]
    if plan.arena_objects:
        lines.append("objects = ts.objects")
    for (slot, base), i in zip(plan.inputs, range(len(plan.inputs))):
        x = var(slot)
        lines.append(f"{x} = values[{i}]")
        if base is not None:  # kernels read it: its address, of a contiguous copy if need be
            lines.append(f"if type({x}) is np_ndarray and {x}.flags.carray and {x}.dtype.isnative:")
            lines.append(f"    q = addr({x})")
            lines += ["else:", f"    a = contiguous({x})", "    keep.append(a)", "    q = addr(a)"]
            lines += update_source(base, "q", table[base], extra)
    if plan.params:  # one call: looks every parameter up and points the frames at those that changed
        names_ = ", ".join(var(slot) for slot, _, _ in plan.params)
        lines.append(f"{names_}{',' if len(plan.params) == 1 else ''} = load_params(state, ts, keep)")
    for slot, value in plan.statics:
        lines.append(f"{var(slot)} = {lit.ref(value)}")
    for k, (slot, *_rest) in enumerate(plan.arena_objects):
        lines.append(f"{var(slot)} = objects[{k}]")
    # a scalar kernels read from their frames is written there once it exists: inputs and statics
    # here, a scalar a NumPy step computes (``n * 2``, ``n`` an int argument) right after that step
    computed = {s for step in plan.steps if not isinstance(step, KernelStep) for s in step.outs}
    patches: dict[int, list[str]] = {}
    for word, slot, kind in plan.scalar_patches:
        line = f"frames[{word}] = {'float_bits' if kind == 'float' else 'int'}({var(slot)})"
        if slot in computed:
            patches.setdefault(slot, []).append(line)
        else:
            lines.append(line)
    dead_after = _dead_after(plan)
    # the output block is allocated right before the first step that writes into it (as eager NumPy
    # allocates a result when it computes it), and the frame words that point into it are set then
    first_out = _first_outblock_step(plan) if plan.outblock_bytes else -1

    def allocate_outblock() -> None:
        lines.append(f"raw = np_empty({plan.outblock_bytes + 64}, np_uint8)")
        lines.append("p = addr(raw)")
        lines.append("start = -p % 64")
        lines.append("q = p + start")
        lines.extend(update_source(OUTBLOCK, "q", table[OUTBLOCK], extra))
        for slot, off, shape, dtype, strides in plan.outblock_objects:  # positional: keywords cost ~0.8 us
            lines.append(f"{var(slot)} = np_ndarray({shape!r}, {lit.ref(dtype)}, raw, start + {off}, {strides!r})")

    for i, step in enumerate(plan.steps):
        if i == first_out:
            allocate_outblock()
        if isinstance(step, KernelStep):
            k = f"_K{step.kernel}"
            extra[k] = kernels[step.kernel].fn
            if len(step.frames) == 1:
                lines.append(f"{k}(F + {8 * step.frames[0]})  # {step.name}")
            elif pool is not None:
                offsets = np.array([8 * w for w in step.frames], np.int64)
                extra[f"_O{i}"] = offsets  # the driver's globals keep it alive
                lines.append(f"pool_run(POOL, {kernels[step.kernel].address}, F, {offsets.ctypes.data}, "
                             f"{len(offsets)}, {int(step.work >= WAKE_WORK)})  # {step.name}")
            else:
                lines.append(f"parallel({k}, F, {tuple(8 * w for w in step.frames)!r})  # {step.name}")
            if dead_after.get(i):
                lines.append(f"del {', '.join(var(s) for s in dead_after[i])}")
            continue
        outs = ", ".join(var(s) for s in step.outs) + ("," if len(step.outs) == 1 and _multi(step) else "")
        ins = [f"scalar({var(s)})" if s in plan.scalar_slots else var(s) for s in step.ins]
        if isinstance(step, HostStep):
            h = f"_H{i}"
            extra[h] = step.fn
            args = [_render(a, ins, lit) for a in step.args]
            kwargs = [f"{key}={_render(v, ins, lit)}" for key, v in step.kwargs]
            if step.out_kw is not None:
                kwargs.append(f"{step.out_kw}={var(step.out_slot)}")
            if step.prepacked is not None:  # kept across calls while its parameters are unchanged
                pp = f"_PP{i}"
                extra[pp] = Prepacked()
                roots = "".join(f"{var(s)}, " for s in step.prepacked)
                lines.append(f"{outs} = {pp}(({roots}), {', '.join([h] + args + kwargs)})  # {step.op} (prepacked)")
            else:
                lines.append(f"{outs} = {h}({', '.join(args + kwargs)})  # {step.op}")
        else:
            p = f"_P{i}"
            extra[p] = programs[i].run
            dying = [var(s) for s in dead_after.get(i, ()) if s in step.ins]
            if dying:  # a loop may run long: let it drop what nothing after it reads (it empties the list)
                lines.append(f"args = [{', '.join(ins)}]")
                lines.append(f"del {', '.join(dying)}")
                lines.append(f"{outs} = {p}(args, state)  # {step.node.op}")
            else:
                lines.append(f"{outs} = {p}(({', '.join(ins)}{',' if len(ins) == 1 else ''}), state)  "
                             f"# {step.node.op}")
        op = step.op if isinstance(step, HostStep) else step.node.op
        for j, (slot, base, dtype, shape, _words) in enumerate(step.publish):
            extra[f"_D{i}_{j}"] = (dtype, shape)
            lines.append(f"q = publish({var(slot)}, _D{i}_{j}, keep, {op!r})")
            lines.extend(update_source(base, "q", table[base], extra))
        for slot in step.outs:
            lines.extend(patches.get(slot, ()))
        dying = [var(s) for s in dead_after.get(i, ()) if isinstance(step, HostStep) or s not in step.ins]
        if dying:
            lines.append(f"del {', '.join(dying)}")
    if plan.outblock_bytes and first_out < 0:
        allocate_outblock()
    template, slots, scalarize = plan.output
    outs = [f"scalar({var(s)})" if sc else var(s) for s, sc in zip(slots, scalarize)]
    lines.append(f"return {_render(template, outs, lit)}")
    fn_name = ns.fresh(f"run_{graph_name}")
    text = f"def {fn_name}(values, state, ts):\n" + "\n".join("    " + line for line in lines) + "\n"
    with _COUNTER_LOCK:
        filename = f"<driver {graph_name} #{next(_COUNTER)}>"
    register_source(filename, text)

    def publish(value: Any, spec: tuple, keep: list, op: str) -> int:
        """The address kernels read ``value`` at (a NumPy call's result), checked against its type rule."""
        arr = _contiguous(value)
        if arr is not value:  # a copy: the call holds it (the value itself lives until its last reader)
            keep.append(arr)
        dtype, shape = spec
        if arr.dtype != dtype or arr.shape != shape:
            raise RuntimeError(
                f"{op} returned {arr.dtype}{list(arr.shape)} where its type rule promised {dtype}{list(shape)}; "
                "the numba backend cannot run this program (use sm.set_backend('interpreter'))")
        return data_address(arr)

    namespace = {
        "np_add": np.add, "addr": data_address,
        "np_empty": np.empty, "np_uint8": np.uint8, "np_ndarray": np.ndarray, "contiguous": _contiguous,
        "float_bits": _float_bits, "scalar": _scalar, "publish": publish, "load_params": load_params,
        "parallel": parallel, "slice": slice,
        "pool_run": pool.run if pool is not None else None, "POOL": pool.address if pool is not None else 0,
        **lit.values, **extra,
    }
    exec(compile(text, filename, "exec"), namespace)  # generated from our own plan
    fn = namespace[fn_name]
    fn.source = text  # type: ignore[attr-defined]
    return fn


def _dead_after(plan: Plan) -> dict[int, list[int]]:
    """Step index -> slots made by NumPy calls that nothing after that step reads (the driver
    drops its references there, as eager NumPy would; kernels' values live in the arena).  A
    kernel reads such an array through its frames (``KernelStep.reads``)."""
    made: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, step in enumerate(plan.steps):
        if isinstance(step, KernelStep):
            for s in step.reads:
                last[s] = i
            continue
        for s in step.ins:
            last[s] = i
        for s in step.outs:
            made[s] = i
    keep = set(plan.output[1]) | {obj[0] for obj in plan.arena_objects} | {obj[0] for obj in plan.outblock_objects}
    dead: dict[int, list[int]] = {}
    for s, i in made.items():
        if s not in keep:
            dead.setdefault(max(i, last.get(s, i)), []).append(s)
    return {i: sorted(v) for i, v in dead.items()}


def _first_outblock_step(plan: Plan) -> int:
    """The first step that writes into (or reads) the call's output block."""
    slots = {obj[0] for obj in plan.outblock_objects}
    for i, step in enumerate(plan.steps):
        if isinstance(step, KernelStep):
            size = len(plan.kernels[step.kernel].frame)
            if any((plan.frame_base[start:start + size] == OUTBLOCK).any() for start in step.frames):
                return i
        elif (isinstance(step, HostStep) and step.out_slot in slots) or slots.intersection(step.ins):
            return i
    return 0 if plan.steps else -1


def _multi(step: Any) -> bool:
    if isinstance(step, InterpStep):  # an `if` with no outputs (its branches only raise) returns ()
        return len(step.outs) > 1 or (get_op(step.node.op).multi_output and step.node.num_outputs > 0)
    return step.multi


def _render(template: Any, values: list[str], lit: _Literals) -> str:
    """Python source of an argument template: Uses become variable names."""
    if isinstance(template, Use):
        return values[template.index]
    if isinstance(template, tuple):
        inner = ", ".join(_render(t, values, lit) for t in template)
        return f"({inner},)" if len(template) == 1 else f"({inner})"
    if isinstance(template, Slice):
        return f"slice({_render(template.start, values, lit)}, {_render(template.stop, values, lit)}, " \
               f"{_render(template.step, values, lit)})"
    return lit.ref(template)


def _slot_hints(plan: Plan) -> dict[int, str]:
    """Readable variable names: the graph's own value names."""
    return dict(plan.slot_names)
