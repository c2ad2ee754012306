"""The BLAS that NumPy itself uses, for calling ``gemm`` from inside compiled kernels.

NumPy's wheels bundle OpenBLAS (``numpy.libs/libscipy_openblas64_*.so`` on Linux) and export its
CBLAS functions.  A kernel that fuses a matmul with its epilogue calls ``cblas_sgemm`` /
``cblas_dgemm`` through a function pointer taken from its frame, so the matmul, the bias and the
activation are one native call (and rows can be split over threads, each running a
``gemm`` on its half).  When no such library is found, matmuls stay ``np.matmul`` calls.

Nothing here imports numba.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from dataclasses import dataclass

__all__ = ["Blas", "find_blas", "warm_up", "CBLAS_ROW_MAJOR", "CBLAS_NO_TRANS", "CBLAS_TRANS"]

CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112

_LOCK = threading.Lock()
_FOUND: list = []


@dataclass(frozen=True)
class Blas:
    """Addresses of a CBLAS library's ``gemm`` functions in this process.

    ``ilp64`` says whether its integers are 64-bit (OpenBLAS built with ``INTERFACE64``).
    Kernels call ``gemm`` once per matmul and let OpenBLAS share the work out over its own
    threads (after :func:`warm_up`, that beats splitting rows over two calling threads).
    (Lowering OpenBLAS's thread count around calls, with ``openblas_set_num_threads_local``,
    resizes its thread pool each time: much slower.)
    """

    path: str
    sgemm: int
    dgemm: int
    ilp64: bool

    def address(self, dtype: str) -> int:
        return self.sgemm if dtype == "float32" else self.dgemm


_CANDIDATES = (  # (sgemm, dgemm, 64-bit integers)
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
    ("cblas_sgemm64_", "cblas_dgemm64_", True),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False),
    ("cblas_sgemm", "cblas_dgemm", False),
)


def _numpy_blas_paths() -> list[str]:
    import numpy as np

    root = os.path.dirname(os.path.dirname(np.__file__))
    out = []
    for pattern in ("numpy.libs/*openblas*.so*", "numpy/.dylibs/*openblas*", "numpy.libs/*openblas*.dll"):
        out.extend(sorted(glob.glob(os.path.join(root, pattern))))
    return out


def find_blas() -> Blas | None:
    """NumPy's bundled CBLAS, or ``None`` (then matmuls run as ``np.matmul``).

    ``TRACER_KERNEL_BLAS=0`` turns calling BLAS from kernels off.
    """
    if os.environ.get("TRACER_KERNEL_BLAS", "1").strip() in ("0", "off", "no"):
        return None
    with _LOCK:
        if not _FOUND:
            _FOUND.append(_search())
            if _FOUND[0] is not None:
                warm_up()
    return _FOUND[0]


def warm_up() -> None:
    """One ``sgemm`` with 256 rows, once per process (about 4 ms here).

    Measured on the development machine (OpenBLAS 0.3.31 bundled with NumPy 2.4): until the
    process has run an ``sgemm`` with a few hundred rows, a ``(64, 1024) @ (1024, 1024)`` sgemm
    takes 2.9 ms; afterwards 2.0 ms, for the rest of the process (4.9 ms and 3.7 ms with one
    OpenBLAS thread).  We did not find the cause inside OpenBLAS; the effect is reproducible with
    ``python -m benchmarks.blas_warmup``.  NumPy calls in the same process get faster too, so
    ``python -m benchmarks`` warms BLAS up before timing any variant.
    """
    import numpy as np

    a = np.ones((256, 256), np.float32)
    b = np.ones((256, 1024), np.float32)
    np.matmul(a, b)


def _search() -> Blas | None:
    for path in _numpy_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s, d, ilp64 in _CANDIDATES:
            if hasattr(lib, s) and hasattr(lib, d):
                return Blas(path, _address(getattr(lib, s)), _address(getattr(lib, d)), ilp64)
    return None


def _address(fn: ctypes._CFuncPtr) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value or 0
