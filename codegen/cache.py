"""Compiled kernels: in memory for the process, and on disk across processes.

A kernel is identified by the SHA-256 of its generated source (which spells out dtypes, loop
structure and computation) with its local names made canonical (``codegen.canonical``: kernels
that differ only in names share one entry) together with an *environment key*: this cache format, the numba,
llvmlite and LLVM versions, Python's version, the CPU name and features, and a hash of the helper
library (``codegen/mathlib*.py``) whose code every kernel inlines.  Entries live in
``$TRACER_CACHE_DIR/kernels-<environment key>/`` (default ``~/.cache/numpy-tracer``, or under
``$XDG_CACHE_HOME``); each is three files written atomically (temporary file, then rename):

``<hash>.py``
    the canonical source that was compiled, for people;
``<hash>.o``
    the relocatable machine code;
``<hash>.json``
    the manifest: symbol name, kernel name, the object's SHA-256 and the key material.

An entry whose manifest is missing, unreadable, for another key, or whose object does not match
its checksum (or that ``codegen.native`` cannot link) is ignored and rebuilt.  The LLVM part of
the key is read from a stamp, ``host-<hash>.json`` in the cache root, so that a warm process
never imports llvmlite (:func:`_llvm_host`).  The cache holds machine code that this process will run,
so the directory is created private (mode 0700); nothing in it is ever read from an archive.
Set ``TRACER_CACHE_DIR=off`` to keep compiled code in memory only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .environment import FORMAT, _atomic_write, cache_root, environment_key, sha256
from .native import Kernel, load_object

__all__ = ["cache_root", "cache_dir", "environment_key", "get_kernel", "get_kernels", "kernel_key", "CacheStats",
           "STATS", "clear_memory"]

@dataclass
class CacheStats:
    """Counters since process start (tests and benchmarks read them)."""

    compiled: int = 0
    loaded: int = 0
    memory_hits: int = 0
    rebuilt: int = 0
    compiled_in_workers: int = 0  # of ``compiled``: by ``codegen.parallel``'s worker processes


STATS = CacheStats()
_MEMORY: dict[str, Kernel] = {}
_LOCK = threading.Lock()
_KEY_LOCKS: dict[str, threading.Lock] = {}


def cache_dir() -> Path | None:
    root = cache_root()
    return None if root is None else root / f"kernels-{environment_key()}"


def kernel_key(text: str) -> str:
    return sha256(text.encode()).hexdigest()[:32]


def clear_memory() -> None:
    """Forget the kernels loaded in this process (tests use it to exercise the disk cache)."""
    with _LOCK:
        _MEMORY.clear()


def get_kernel(text: str, name: str) -> Kernel:
    r"""The loaded kernel for generated source ``text`` defining function ``name``.

    From memory, else from the disk cache, else compiled with numba and stored.  Sources that
    differ only in local names (``codegen.canonical``) share one kernel.

    Parameters
    ----------
    text : str
        Source from :func:`codegen.kernels.generate`: a function of one ``int64*`` frame.
    name : str
        The function's name.

    Returns
    -------
    codegen.native.Kernel
        ``kernel(frame_address)`` runs it.

    Examples
    --------
    >>> import numpy as np
    >>> k = get_kernel("def k_fill(f):\n    x = ptr_float32(f[0])\n    x[f[1]] = np.float32(7)\n", "k_fill")
    >>> a = np.zeros(3, np.float32); frame = np.array([a.ctypes.data, 2], np.int64)
    >>> k(frame.ctypes.data); a
    array([0., 0., 7.], dtype=float32)
    """
    return get_kernels([(text, name)])[0]


def get_kernels(sources: Sequence[tuple[str, str]], advance: Callable[[], object] | None = None) -> list[Kernel]:
    """The loaded kernels for ``(text, name)`` pairs, as :func:`get_kernel` gives them one by one.

    Kernels in memory or on disk are loaded first; when two or more remain to be compiled they
    are compiled concurrently, by this process and forked worker processes
    (:mod:`codegen.parallel`), and whatever that does not deliver is compiled here one by one
    (raising the compiler's error for a kernel numba rejects).  ``advance()`` is called once per
    source as its kernel becomes ready (a progress display's counter).
    """
    from .canonical import canonical

    tick = advance if advance is not None else (lambda: None)
    kernels: list[Kernel | None] = [None] * len(sources)
    wanted: dict[str, list[int]] = {}  # key -> positions still without a kernel
    jobs: dict[str, tuple[str, str, str]] = {}  # key -> (canonical text, name, readable text)
    for i, (text, name) in enumerate(sources):
        canon = canonical(text)
        key = kernel_key(canon)
        kernel = _MEMORY.get(key)
        if kernel is not None:
            STATS.memory_hits += 1
            kernels[i] = kernel
            tick()
            continue
        if key in wanted:
            STATS.memory_hits += 1
        wanted.setdefault(key, []).append(i)
        jobs.setdefault(key, (canon, name, text))

    def place(key: str, kernel: Kernel) -> None:
        _MEMORY[key] = kernel
        for i in wanted.pop(key):
            kernels[i] = kernel
            tick()

    disk = True
    if len(jobs) > 1:
        _build_many(jobs, place)
        disk = False  # what is left is not on disk (or not usable there)
    for key, (canon, name, text) in jobs.items():
        if key in wanted:
            place(key, _get_one(key, canon, name, text, disk))
    return kernels  # type: ignore[return-value]


def _get_one(key: str, canon: str, name: str, text: str, disk: bool = True) -> Kernel:
    """One kernel from memory, disk (unless ``disk`` is false: already looked there) or numba, built
    once however many threads want it."""
    with _LOCK:
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        kernel = _MEMORY.get(key)
        if kernel is not None:
            STATS.memory_hits += 1
            return kernel
        kernel = _load_or_build(key, canon, name, text, disk)
        _MEMORY[key] = kernel
        return kernel


def _build_many(jobs: dict[str, tuple[str, str, str]], place: Callable[[str, Kernel], None]) -> None:
    """Load what the disk cache has of ``jobs``, compile the rest in parallel (``codegen.parallel``)
    and ``place`` each kernel obtained; the ones left are for the caller to build one by one."""
    directory = cache_dir()
    missing = []
    for key, (canon, name, text) in jobs.items():
        kernel = _MEMORY.get(key)
        if kernel is None and directory is not None:
            kernel = _load_entry(directory, key, canon, name, text)
        if kernel is not None:
            place(key, kernel)
        else:
            missing.append(key)
    if len(missing) < 2:
        return
    from .parallel import compile_parallel
    from .sources import register_source

    specs = [(jobs[key][0], jobs[key][1], _filename(directory, key, jobs[key][1])) for key in missing]
    from .blas import wait_warm_up

    wait_warm_up()  # compile_parallel forks: no thread of ours may be inside OpenBLAS then

    def deliver(i: int, result: tuple[bytes, str, tuple[str, ...]]) -> bool:
        key = missing[i]
        canon, name, text = jobs[key]
        obj, symbol, externals = result
        try:
            kernel = load_object(obj, symbol, name, externals)
        except RuntimeError:
            return False  # compiled again by the caller, which reports the error
        register_source(specs[i][2], text)
        STATS.compiled += 1
        if directory is not None:
            _write_entry(directory, key, canon, obj, symbol, name, externals)
        place(key, kernel)
        return True

    try:
        STATS.compiled_in_workers += compile_parallel(specs, deliver).by_workers
    except OSError:  # no pipes or processes to be had: the caller compiles what is left
        pass


def _filename(directory: Path | None, key: str, name: str) -> str:
    return f"<kernel {name} {key[:12]}>" if directory is None else str(directory / f"{key}.py")


def _load_entry(directory: Path, key: str, canon: str, name: str, text: str) -> Kernel | None:
    """The kernel stored under ``key``, or ``None`` (nothing usable there)."""
    from .sources import register_source

    found = _read_entry(directory, key, canon)
    if found is None:
        return None
    obj, symbol, externals = found
    try:
        kernel = load_object(obj, symbol, name, externals)
    except RuntimeError:
        STATS.rebuilt += 1
        return None
    register_source(_filename(directory, key, name), text)
    STATS.loaded += 1
    return kernel


def _load_or_build(key: str, canon: str, name: str, text: str, disk: bool = True) -> Kernel:
    """Load ``key`` from disk (when ``disk``) or compile ``canon`` (``text`` with canonical names;
    ``text`` is what ``linecache`` shows for it: the same lines, readable names) and store it."""
    directory = cache_dir()
    filename = _filename(directory, key, name)
    if directory is not None and disk:
        kernel = _load_entry(directory, key, canon, name, text)
        if kernel is not None:
            return kernel
    from .compiler import compile_object  # compiling only: a process loading from disk never imports it
    from .sources import register_source

    obj, symbol, externals = compile_object(canon, name, filename)
    register_source(filename, text)
    STATS.compiled += 1
    if directory is not None:
        _write_entry(directory, key, canon, obj, symbol, name, externals)
    return load_object(obj, symbol, name, externals)


def _manifest(key: str, text: str, obj: bytes, symbol: str, name: str, externals: tuple[str, ...]) -> dict:
    return {
        "format": FORMAT, "environment": environment_key(), "key": key, "name": name, "symbol": symbol,
        "externals": list(externals),
        "source_sha256": sha256(text.encode()).hexdigest(),
        "object_sha256": sha256(obj).hexdigest(),
    }


def _read_entry(directory: Path, key: str, text: str) -> tuple[bytes, str, tuple[str, ...]] | None:
    try:
        manifest = json.loads((directory / f"{key}.json").read_text())
        obj = (directory / f"{key}.o").read_bytes()
    except (OSError, ValueError):
        return None
    expected = {"format": FORMAT, "environment": environment_key(), "key": key,
                "source_sha256": sha256(text.encode()).hexdigest()}
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
        STATS.rebuilt += 1
        return None
    externals = manifest.get("externals")
    valid_externals = isinstance(externals, list) and all(isinstance(e, str) for e in externals)
    if manifest.get("object_sha256") != sha256(obj).hexdigest() or not isinstance(manifest.get("symbol"), str) \
            or not valid_externals:
        STATS.rebuilt += 1
        return None
    return obj, manifest["symbol"], tuple(externals)


def _write_entry(directory: Path, key: str, text: str, obj: bytes, symbol: str, name: str,
                 externals: tuple[str, ...]) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _atomic_write(directory / f"{key}.py", text.encode())
        _atomic_write(directory / f"{key}.o", obj)
        manifest = _manifest(key, text, obj, symbol, name, externals)
        _atomic_write(directory / f"{key}.json", json.dumps(manifest, indent=1).encode())
    except OSError:
        pass  # a read-only or full disk only costs a recompile next time
