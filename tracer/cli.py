"""The command line: ``python -m tracer inspect|run|graph FILE``.

* ``inspect FILE`` - what an archive holds, from its metadata only: format version, methods and
  their signatures, parameters and buffers (shape, dtype, device, size), stored example input
  types, ops with their versions, extra files (``--json`` for a machine-readable form).
* ``run FILE --input x.npy [--input y.npy ...] [--output out.npy]`` - load the module and run a
  method on arrays saved with ``np.save``; several outputs go to one ``.npz``.  Without
  ``--output`` it prints each output's type and a few of its values.
* ``graph FILE --format text|dot|svg [--output F]`` - the program as the typed IR listing, as
  Graphviz DOT, or drawn as SVG by Graphviz's ``dot``.

Bad arguments and bad files end with one line on standard error and a non-zero exit status
(2 for usage, 1 for everything else); never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import textwrap
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from ir import Graph, TracerError
from ir.types import ScalarType, TensorType, type_of
from runtime.archive import ArchiveInfo, inspect, load
from runtime.backends import backend_names
from runtime.module import ScriptModule
from runtime.progress import interrupt

from .dot import GraphvizNotFound, render, to_dot

__all__ = ["main", "build_parser", "format_info", "summarize"]

PROG = "python -m tracer"


class CommandError(Exception):
    """A failure to report as one line (``exit_code``: 2 for usage errors, 1 otherwise)."""

    def __init__(self, message: str, exit_code: int = 1, command: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.command = command


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (argparse prints usage and exits)."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see: {self.prog} --help)", exit_code=2,
                           command=self.prog.replace(PROG, "tracer", 1))


# -- helpers ----------------------------------------------------------------------------------------
def _size(nbytes: float) -> str:
    """``1.5 KiB``-style size."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    i = 0
    while nbytes >= 1024 and i < len(units) - 1:
        nbytes /= 1024
        i += 1
    return f"{nbytes:.0f} B" if i == 0 else f"{nbytes:.1f} {units[i]}"


def _archive_path(path: str) -> str:
    if not os.path.exists(path):
        raise CommandError(f"no such file: {path}")
    if os.path.isdir(path):
        raise CommandError(f"{path} is a directory, not an archive")
    return path


def _load(path: str, map_location: str | None = None) -> ScriptModule:
    return load(_archive_path(path), map_location=map_location)


def _method(module: ScriptModule, name: str) -> Graph:
    graphs = module.graphs
    if name not in graphs:
        raise CommandError(f"the module has no method {name!r}; it has {', '.join(graphs)}")
    return graphs[name]


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def escape(text: str) -> str:
    r"""``text`` safe for a terminal: every character that is not printable (escape sequences,
    other control characters, bidirectional overrides), except newlines, written as an escape.

    >>> escape("w\x1b[2J")
    'w\\x1b[2J'
    """
    return "".join(c if c.isprintable() or c == "\n" else _escaped(c) for c in str(text))


def _escaped(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else (f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")


# -- inspect --------------------------------------------------------------------------------------
def format_info(info: ArchiveInfo, name: str = "archive") -> str:
    """The human-readable report of ``python -m tracer inspect``.

    Parameters
    ----------
    info : ArchiveInfo
        What :func:`tracer.inspect` returned.
    name : str
        How to call the archive in the first line (its path).

    Returns
    -------
    str
        Several lines, ending with a newline.

    Examples
    --------
    >>> info = ArchiveInfo(version=1, extra_files=[], parameters={"w": ((2, 3), "float32", "cpu")},
    ...                    methods=["forward"], stored_inputs={"forward": ["f32[4, 2]"]}, ops={"matmul": 1},
    ...                    size_bytes=2048, signatures={"forward": [("x", "f32[4, 2]")]})
    >>> print(format_info(info, "m.pt"), end="")
    m.pt: numpy-tracer archive, format version 1, a module, 2.0 KiB
    methods:
      forward(x: f32[4, 2])
    parameters and buffers: 1 array, 6 values, 24 B
      w  f32[2, 3]  24 B  cpu
    stored inputs:
      forward: f32[4, 2]
    ops: 1
      matmul v1
    extra files: none
    """
    lines = [f"{name}: numpy-tracer archive, format version {info.version}, a {info.kind}, {_size(info.size_bytes)}"
             + (f" (written by {info.producer})" if info.producer else "")]
    lines.append("methods:")
    for method in info.methods:
        args = ", ".join(f"{arg}: {t}" for arg, t in info.signatures.get(method, []))
        lines.append(f"  {method}({args})")
    total_values = sum(math.prod(shape) for shape, _, _ in info.parameters.values())
    total_bytes = sum(math.prod(shape) * np.dtype(dt).itemsize for shape, dt, _ in info.parameters.values())
    n = len(info.parameters)
    lines.append(f"parameters and buffers: {n} array{'' if n == 1 else 's'}, {total_values:,} values, "
                 f"{_size(total_bytes)}")
    rows = [(q, str(TensorType.of(dt, shape)), _size(math.prod(shape) * np.dtype(dt).itemsize), dev)
            for q, (shape, dt, dev) in info.parameters.items()]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    for q, t, size, dev in rows:
        lines.append(f"  {q:<{widths[0]}}  {t:<{widths[1]}}  {size:>{widths[2]}}  {dev}")
    lines.append("stored inputs:" + ("" if info.stored_inputs else " none (_restore_shapes=True has nothing to "
                                                                  "retrace with)"))
    for method, types in info.stored_inputs.items():
        lines.append(f"  {method}: {', '.join(types) if types else '(no arguments)'}")
    ops = ", ".join(f"{op} v{v}" for op, v in sorted(info.ops.items()))
    lines.append(f"ops: {len(info.ops)}")
    lines += textwrap.wrap(ops, width=100, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)
    lines.append(f"extra files: {', '.join(info.extra_files) if info.extra_files else 'none'}")
    return "\n".join(lines) + "\n"


def _cmd_inspect(args: argparse.Namespace) -> int:
    info = inspect(_archive_path(args.file))
    if args.json:
        print(json.dumps(dataclasses.asdict(info), indent=2))
    else:
        sys.stdout.write(escape(format_info(info, args.file)))
    return 0


# -- run ------------------------------------------------------------------------------------------
def _read_input(path: str, declared: Any) -> Any:
    if not os.path.isfile(path):
        raise CommandError(f"no such input file: {path}")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            if magic[:4] == b"PK\x03\x04":
                raise CommandError(f"input {path} is an .npz archive; give each argument as its own .npy (np.save)")
            if magic != b"\x93NUMPY":
                raise CommandError(f"input {path} is not a .npy file; write each argument with np.save")
            f.seek(0)
            value = np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CommandError(f"cannot read input {path} as a .npy array: {_one_line(exc)}") from None
    if isinstance(declared, ScalarType) and value.ndim == 0:
        return value.item()  # an `n: int` argument given as np.save(path, 3)
    return value


def _flatten(value: Any, name: str) -> list[tuple[str, Any]]:
    if isinstance(value, (tuple, list)):
        out: list[tuple[str, Any]] = []
        for i, v in enumerate(value):
            out += _flatten(v, f"{name}_{i}" if name else f"out{i}")
        return out
    return [(name or "out0", value)]


def summarize(name: str, value: Any, count: int = 6) -> str:
    """One line about an output: its type, its first values and, for numbers, min/max/mean.

    >>> summarize("out0", np.arange(4, dtype=np.float32))
    'out0: f32[4] = [0. 1. 2. 3.]  min 0  max 3  mean 1.5'
    """
    if not isinstance(value, np.ndarray):
        return f"{name}: {type_of(value)} = {value!r}"
    flat = value.reshape(-1)
    head = np.array2string(flat[:count], precision=4, separator=" ", threshold=count + 1, max_line_width=10**6)
    if flat.size > count:
        head = head[:-1] + " ...]"
    text = f"{name}: {type_of(value)} = {head}"
    if flat.size and value.dtype.kind in "iuf":
        stats = (flat.min(), flat.max(), flat.mean(dtype=np.float64))
        text += "  min {:.5g}  max {:.5g}  mean {:.5g}".format(*(float(s) for s in stats))
    return text


def _write_outputs(path: str, outputs: list[tuple[str, Any]]) -> None:
    arrays = {k: np.asarray(v) for k, v in outputs}
    try:
        with open(path, "wb") as f:
            if path.endswith(".npz"):
                np.savez(f, **arrays)
            else:
                np.save(f, arrays[outputs[0][0]], allow_pickle=False)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    what = ", ".join(f"{k} {type_of(v)}" for k, v in arrays.items())
    print(f"wrote {path}: {what}")


def _cmd_run(args: argparse.Namespace) -> int:
    module = _load(args.file, args.map_location)
    if args.backend:
        module.set_backend(args.backend)
    graph = _method(module, args.method)
    params = [graph.node(n) for n in graph.input_nodes]
    required = [p for p in params if "default" not in p.kwargs_dict]
    given = args.input
    if not len(required) <= len(given) <= len(params):
        wanted = str(len(params)) if len(required) == len(params) else f"{len(required)} to {len(params)}"
        signature = ", ".join(f"{p.kwarg('name')}: {p.types[0] if p.types else '?'}" for p in params)
        raise CommandError(f"{args.method}({signature}) takes {wanted} input{'' if wanted == '1' else 's'}, "
                           f"got {len(given)} (one --input per argument, in order)")
    several = isinstance(graph.node(graph.output_node).args[0], tuple)
    if args.output and several and not args.output.endswith(".npz"):
        raise CommandError(f"{args.method} returns several outputs; give --output a name ending in .npz")
    values = [_read_input(path, p.types[0] if p.types else None) for path, p in zip(given, params)]
    try:
        result = module.run_method(args.method, *values)
    except (TracerError, MemoryError):
        raise
    except Exception as exc:  # the program's own error (a shape mismatch, ...): report it in one line
        raise CommandError(f"running {args.method} on the given inputs failed: {type(exc).__name__}: "
                           f"{_one_line(exc)}") from None
    outputs = _flatten(result, "")
    if args.output:
        _write_outputs(args.output, outputs)
    else:
        for name, value in outputs:
            print(summarize(name, value))
    return 0


# -- graph ----------------------------------------------------------------------------------------
def _cmd_graph(args: argparse.Namespace) -> int:
    module = _load(args.file, "cpu")  # nothing runs: arrays stay on the CPU whatever they were saved on
    graph = _method(module, args.method)
    if args.format == "text":
        data = (str(graph) + "\n").encode("utf-8")
    elif args.format == "dot":
        data = to_dot(graph).encode("utf-8")
    else:
        data = render(to_dot(graph), "svg")
    if args.output:
        try:
            with open(args.output, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


# -- the parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tracer`` argument parser (sub-commands ``inspect``, ``run``, ``graph``)."""
    parser = _Parser(prog=PROG, description="Look inside, run and draw archives saved by tracer.save.",
                     epilog=f"'{PROG} COMMAND --help' describes each command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("inspect", help="what an archive holds (reads only its metadata)",
                       description="Print an archive's format version, methods and their signatures, parameters "
                                   "and buffers (shape, dtype, device, size), stored example input types, ops "
                                   "with their versions and extra files.  Nothing is loaded or run.")
    p.add_argument("file", metavar="FILE", help="an archive written by tracer.save")
    p.add_argument("--json", action="store_true", help="print the same information as JSON")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("run", help="run a saved module on .npy inputs",
                       description="Load FILE and run a method on arrays saved with np.save, one --input per "
                                   "argument, in order (a 0-d array for an int/float/bool argument).  Without "
                                   "--output, print each output's type, first values, min, max and mean.",
                       epilog=f"example: {PROG} run model.pt --input x.npy --output y.npy")
    p.add_argument("file", metavar="FILE", help="an archive written by tracer.save")
    p.add_argument("--input", "-i", metavar="NPY", action="append", required=True,
                   help="a .npy file for the next argument (repeat for several arguments)")
    p.add_argument("--output", "-o", metavar="PATH",
                   help="write the result: one output as .npy, several (or any PATH ending in .npz) as .npz "
                        "with arrays out0, out1, ...")
    p.add_argument("--method", default="forward", help="the method to run (default: forward)")
    p.add_argument("--backend", choices=backend_names(),
                   help="run on this backend (default: TRACER_BACKEND, else numba when installed)")
    p.add_argument("--map-location", metavar="DEVICE",
                   help="load the arrays onto DEVICE ('cpu', 'cuda:0') instead of where they were saved")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("graph", help="show or draw the program (text, Graphviz DOT, SVG)",
                       description="Print a method's program: 'text' is the typed IR listing (str(module.graph)), "
                                   "'dot' Graphviz DOT (ops as nodes, values as edges labelled with their types, "
                                   "control-flow blocks as clusters), 'svg' that graph drawn by Graphviz's `dot` "
                                   "(sudo apt-get install graphviz).",
                       epilog=f"example: {PROG} graph model.pt --format svg --output model.svg")
    p.add_argument("file", metavar="FILE", help="an archive written by tracer.save")
    p.add_argument("--format", "-f", choices=("text", "dot", "svg"), default="text",
                   help="output format (default: text)")
    p.add_argument("--output", "-o", metavar="PATH", help="write to PATH instead of standard output")
    p.add_argument("--method", default="forward", help="the method to show (default: forward)")
    p.set_defaults(func=_cmd_graph)
    return parser


def _warning_line(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    interrupt()
    sys.stderr.write(escape(f"tracer: warning: {category.__name__}: {_one_line(message)}") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default); returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``python -m tracer``.

    Returns
    -------
    int
        0 on success, 1 when the command failed, 2 for bad arguments.  Errors are printed as one
        line on standard error; ``TRACER_DEBUG=1`` re-raises unexpected ones with their traceback.

    Examples
    --------
    >>> main(["inspect", "no-such-model.pt"])  # stderr: tracer inspect: error: no such file: no-such-model.pt
    1
    """
    parser = build_parser()
    name = "tracer"
    try:
        args = parser.parse_args(argv)
        name = f"tracer {args.command}"
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            return args.func(args)
    except CommandError as exc:
        return _fail(exc.command or name, str(exc), exc.exit_code)
    except GraphvizNotFound as exc:
        return _fail(name, str(exc), 1)
    except (TracerError, OSError, ValueError, RuntimeError, MemoryError) as exc:
        return _fail(name, _one_line(exc) or type(exc).__name__, 1)
    except BrokenPipeError:  # `python -m tracer graph m.pt | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        interrupt()
        return 130
    except Exception as exc:
        if os.environ.get("TRACER_DEBUG", "") not in ("", "0"):
            raise
        return _fail(name, f"unexpected {type(exc).__name__}: {_one_line(exc)} (TRACER_DEBUG=1 shows the traceback)", 1)


def _fail(name: str, message: str, code: int) -> int:
    interrupt()
    sys.stdout.flush()
    sys.stderr.write(escape(f"{name}: error: {_one_line(message)}") + "\n")
    return code
