"""The BLAS that kernels call: a private, single-threaded instance of NumPy's OpenBLAS.

NumPy's wheels bundle OpenBLAS (``numpy.libs/libscipy_openblas64_*.so`` on Linux) and export its
CBLAS functions.  A kernel that fuses a matmul with its epilogue calls ``cblas_sgemm`` /
``cblas_dgemm`` through a function pointer taken from its frame, so the matmul, the bias and the
activation are one native call.

On Linux (glibc) we load a second copy of that library with ``dlmopen`` into a namespace of its
own, whose C library gets an environment of its own: its globals are its own, so it runs on one
thread (``OPENBLAS_NUM_THREADS=1`` in that environment only) while NumPy's copy keeps its threads
and settings, untouched, and the process's environment stays as it is.  Kernels then decide how
work splits over the cores (``codegen.pool``: rows or columns of a matmul, images of a
convolution, each part one single-threaded ``gemm``), instead of letting OpenBLAS's spinning
threads fight ours.  The ``OPENBLAS_*`` variables of the process are NumPy's copy's settings and
do not reach ours: it runs the kernels OpenBLAS picks for the CPU, or those ``TRACER_BLAS_CORETYPE``
names.  (The development machine's environment sets ``OPENBLAS_CORETYPE=Haswell``, AVX2, for
NumPy; ours picks ``SkylakeX``, AVX-512: one thread, ``(64, 784) @ (784, 1024)`` sgemm 89 against
131 GFLOP/s; ``python -m benchmarks.blas_cores``.)

Where ``dlmopen`` is missing (macOS, Windows, musl) kernels call NumPy's own instance, one call per
matmul, and let OpenBLAS use its threads.  When no BLAS is found, matmuls stay ``np.matmul`` calls.

Nothing here imports numba.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading
from dataclasses import dataclass

__all__ = ["Blas", "find_blas", "numpy_blas", "warm_up", "wait_warm_up", "CBLAS_ROW_MAJOR", "CBLAS_NO_TRANS",
           "CBLAS_TRANS"]

CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112

_LOCK = threading.Lock()
_FOUND: list = []
_NUMPY: list = []
_WARMING: list[threading.Thread] = []  # the warm-up thread find_blas started
_KEEP: list = []  # what the private namespace's environment points into: lives as long as the process

_RTLD_NOW, _LM_ID_NEWLM, _RTLD_DI_LMID = 2, -1, 1


@dataclass(frozen=True)
class Blas:
    """Addresses of a CBLAS library's ``gemm`` functions in this process.

    ``ilp64`` says whether its integers are 64-bit (OpenBLAS built with ``INTERFACE64``).
    ``private``: our own single-threaded copy (kernels split matmuls over ``codegen.pool``'s
    threads); otherwise NumPy's, called once per matmul, with its own threads.  ``core``: the
    OpenBLAS kernel family in use.
    """

    path: str
    sgemm: int
    dgemm: int
    ilp64: bool
    private: bool = False
    core: str = ""

    def address(self, dtype: str) -> int:
        return self.sgemm if dtype == "float32" else self.dgemm


_CANDIDATES = (  # (sgemm, dgemm, 64-bit integers)
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
    ("cblas_sgemm64_", "cblas_dgemm64_", True),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False),
    ("cblas_sgemm", "cblas_dgemm", False),
)
_PREFIXES = ("scipy_openblas_", "openblas_")
_SUFFIXES = ("64_", "")


def _numpy_blas_paths() -> list[str]:
    import numpy as np

    root = os.path.dirname(os.path.dirname(np.__file__))
    out = []
    for pattern in ("numpy.libs/*openblas*.so*", "numpy/.dylibs/*openblas*", "numpy.libs/*openblas*.dll"):
        out.extend(sorted(glob.glob(os.path.join(root, pattern))))
    return out


def find_blas() -> Blas | None:
    """The CBLAS kernels call (see the module docstring), or ``None`` (then matmuls run as
    ``np.matmul``).

    ``TRACER_KERNEL_BLAS=0`` turns calling BLAS from kernels off; ``TRACER_KERNEL_BLAS=numpy`` calls
    NumPy's own instance (with its threads) instead of the private one.
    """
    setting = os.environ.get("TRACER_KERNEL_BLAS", "1").strip().lower()
    if setting in ("0", "off", "no"):
        return None
    with _LOCK:
        if not _FOUND:
            _FOUND.append(_search(private=setting != "numpy"))
            if _FOUND[0] is not None and not _FOUND[0].private:  # kernels call NumPy's own instance
                _start_warm_up()
    return _FOUND[0]


def _start_warm_up() -> None:
    """:func:`warm_up` on a thread of its own, once kernels are handed NumPy's own OpenBLAS
    (``find_blas`` without the private copy, or :func:`numpy_blas`): it runs in that OpenBLAS
    (which releases the GIL) on the other core while the planner goes on (in a new process the
    first ``sgemm`` also starts NumPy's OpenBLAS threads: 2-20 ms here that no longer delay the
    first output).  :func:`wait_warm_up` waits for it (before forking).

    Kernels that call only the private copy do not warm NumPy's up: it does nothing for the
    private copy, and the threads it starts spin on the other core for about 0.1 s afterwards,
    where our own pool's worker runs the first calls' chunks (a new process's first
    ``transformer4`` call took 23-42 ms with it, 13-22 ms without)."""
    thread = threading.Thread(target=warm_up, name="tracer-blas-warm-up", daemon=True)
    _WARMING.append(thread)
    thread.start()


def wait_warm_up() -> None:
    """Return once the warm-up :func:`find_blas` started (if any) is over: a process must not
    fork while one of its threads is inside OpenBLAS (``codegen.cache`` waits before
    ``codegen.parallel`` forks its compile workers)."""
    for thread in list(_WARMING):
        thread.join()


def numpy_blas() -> Blas | None:
    """NumPy's own OpenBLAS (its threads, its settings): for calls that must give NumPy's bits
    (``codegen.plan``), or ``None`` when kernels call no BLAS."""
    blas = find_blas()
    if blas is None or not blas.private:
        return blas
    with _LOCK:
        if not _NUMPY:
            _NUMPY.append(_search(private=False))
            if _NUMPY[0] is not None:
                _start_warm_up()
    return _NUMPY[0]


def warm_up() -> None:
    """One ``sgemm`` with 256 rows in NumPy's OpenBLAS, once per process (about 4 ms).

    Measured on the first development machine (OpenBLAS 0.3.31 bundled with NumPy 2.4): until the
    process has run an ``sgemm`` with a few hundred rows, a ``(64, 1024) @ (1024, 1024)`` sgemm
    takes 2.9 ms; afterwards 2.0 ms, for the rest of the process (4.9 ms and 3.7 ms with one
    OpenBLAS thread).  We did not find the cause inside OpenBLAS; the effect is reproducible with
    ``python -m benchmarks.blas_warmup``.  NumPy calls in the same process get faster too, so
    ``python -m benchmarks`` warms BLAS up before timing any variant.  On the AVX-512 benchmark
    machine the effect is absent (0.67 ms before and after, three processes).
    """
    import numpy as np

    a = np.ones((256, 256), np.float32)
    b = np.ones((256, 1024), np.float32)
    np.matmul(a, b)


def _search(private: bool = True) -> Blas | None:
    for path in _numpy_blas_paths():
        if private:
            found = _private(path)
            if found is not None:
                return found
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s, d, ilp64 in _CANDIDATES:
            if hasattr(lib, s) and hasattr(lib, d):
                return Blas(path, _address(getattr(lib, s)), _address(getattr(lib, d)), ilp64,
                            core=_corename(lambda name, lib=lib: _address(getattr(lib, name, None))))
    return None


def _address(fn: ctypes._CFuncPtr | None) -> int:
    return (ctypes.cast(fn, ctypes.c_void_p).value or 0) if fn is not None else 0


def _openblas_function(lookup, what: str) -> int:
    """Address of OpenBLAS's ``openblas_<what>`` under any of its symbol spellings (0: none)."""
    for prefix in _PREFIXES:
        for suffix in _SUFFIXES:
            address = lookup(f"{prefix}{what}{suffix}")
            if address:
                return address
    return 0


def _corename(lookup) -> str:
    address = _openblas_function(lookup, "get_corename")
    if not address:
        return ""
    name = ctypes.CFUNCTYPE(ctypes.c_char_p)(address)()
    return (name or b"").decode("ascii", "replace")


def _coretype() -> str | None:
    """The ``OPENBLAS_CORETYPE`` of the private copy (``None``: OpenBLAS's choice for the CPU)."""
    forced = os.environ.get("TRACER_BLAS_CORETYPE", "").strip()
    return forced if forced and forced.lower() != "default" else None


def _private(path: str) -> Blas | None:
    """A single-threaded copy of the OpenBLAS at ``path`` in a ``dlmopen`` namespace of its own."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        dlmopen, dlsym, dlinfo = libc.dlmopen, libc.dlsym, libc.dlinfo
    except (OSError, AttributeError):
        return None
    dlmopen.restype, dlmopen.argtypes = ctypes.c_void_p, [ctypes.c_long, ctypes.c_char_p, ctypes.c_int]
    dlsym.restype, dlsym.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]
    dlinfo.restype, dlinfo.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    core = _coretype()
    # the namespace's own C library first, with an environment of its own: OpenBLAS reads its
    # settings from getenv() while it loads; the process's environment stays as it is
    handle_c = dlmopen(_LM_ID_NEWLM, b"libc.so.6", _RTLD_NOW)
    if not handle_c:
        return None
    lmid = ctypes.c_long()
    environ = dlsym(handle_c, b"environ")
    if dlinfo(handle_c, _RTLD_DI_LMID, ctypes.byref(lmid)) != 0 or not environ:
        return None
    entries = [b"OPENBLAS_NUM_THREADS=1"] + ([f"OPENBLAS_CORETYPE={core}".encode()] if core else [])
    env = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    _KEEP.append(env)
    ctypes.c_void_p.from_address(environ).value = ctypes.cast(env, ctypes.c_void_p).value
    handle = dlmopen(lmid.value, os.fsencode(path), _RTLD_NOW)
    if not handle:
        return None

    def lookup(name: str) -> int:
        return dlsym(handle, name.encode()) or 0

    set_threads = _openblas_function(lookup, "set_num_threads")
    if set_threads:
        ctypes.CFUNCTYPE(None, ctypes.c_int)(set_threads)(1)
    get_threads = _openblas_function(lookup, "get_num_threads")
    if get_threads and ctypes.CFUNCTYPE(ctypes.c_int)(get_threads)() != 1:
        return None
    for s, d, ilp64 in _CANDIDATES:
        sgemm, dgemm = lookup(s), lookup(d)
        if sgemm and dgemm:
            return Blas(path, sgemm, dgemm, ilp64, private=True, core=_corename(lookup))
    return None
