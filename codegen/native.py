"""Load compiled kernel objects into this process with llvmlite's MCJIT, without numba.

Each object gets its own small execution engine (kernels carry private copies of the helpers
they inline, so their symbols may repeat).  The result is a ``ctypes`` function of one pointer
(the kernel's frame); calling it releases the GIL.
"""

from __future__ import annotations

import ctypes
import threading

__all__ = ["init_llvm", "load_object", "Kernel"]

_LOCK = threading.Lock()
_INIT = False
_ENGINES: list = []  # engines own the code; they live as long as the process
_SHIMS: list = []

#: numba runtime symbols that compiled cfuncs reference on their (never taken) error paths.
_NUMBA_RUNTIME = ("NRT_MemInfo_call_dtor", "NRT_Free", "numba_gil_ensure", "numba_gil_release", "numba_do_raise",
                  "numba_runtime_build_excinfo_struct", "numba_unpickle")

_KERNEL_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def init_llvm() -> None:
    """Initialise LLVM's native target once (idempotent, thread-safe)."""
    global _INIT
    if _INIT:
        return
    with _LOCK:
        if _INIT:
            return
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _INIT = True


def _shim_symbols(names: tuple[str, ...] = ()) -> None:
    """Give numba-runtime symbols an address when numba is not loaded.  They sit on error paths
    that kernels never take (kernels neither raise nor allocate); an unresolved symbol, though,
    would leave the object unlinked."""
    import llvmlite.binding as llvm

    for name in (*_NUMBA_RUNTIME, *names):
        if llvm.address_of_symbol(name) is None:
            shim = ctypes.CFUNCTYPE(None)(_unexpected(name))
            _SHIMS.append(shim)
            llvm.add_symbol(name, ctypes.cast(shim, ctypes.c_void_p).value)


def _unexpected(name: str):
    def fail() -> None:  # pragma: no cover - would mean a kernel tried to raise or allocate
        raise SystemError(f"compiled kernel called numba runtime function {name}")

    return fail


_PROCESS = ctypes.CDLL(None)


def _export_process_symbol(name: str) -> None:
    """Tell LLVM the address of ``name`` in this process (libc, libm, Python's C API)."""
    import llvmlite.binding as llvm

    try:
        fn = getattr(_PROCESS, name)
    except AttributeError:
        return
    address = ctypes.cast(fn, ctypes.c_void_p).value
    if address:
        llvm.add_symbol(name, address)


class Kernel:
    """A loaded kernel: ``kernel(frame_address)`` runs it."""

    __slots__ = ("name", "address", "fn")

    def __init__(self, name: str, address: int) -> None:
        self.name = name
        self.address = address
        self.fn = _KERNEL_TYPE(address)

    def __call__(self, frame_address: int) -> None:
        self.fn(frame_address)

    def __repr__(self) -> str:
        return f"<Kernel {self.name} at {self.address:#x}>"


def load_object(obj: bytes, symbol: str, name: str, externals: tuple[str, ...] = ()) -> Kernel:
    """Link object code ``obj`` into the process and return its function ``symbol``.

    ``externals`` are the symbols the object needs from outside; those this process cannot
    resolve (numba's runtime when numba is not imported) get a trap stub.  Raises ``RuntimeError``
    when the object cannot be linked (a corrupt cache entry, say).
    """
    init_llvm()
    import llvmlite.binding as llvm

    with _LOCK:
        _shim_symbols(tuple(e for e in externals if e.startswith(("NRT_", "numba_"))))
        for e in externals:
            if llvm.address_of_symbol(e) is None:
                _export_process_symbol(e)
        missing = [e for e in externals if llvm.address_of_symbol(e) is None]
        if missing:
            raise RuntimeError(f"compiled kernel {name} needs symbols this process lacks: {', '.join(missing)}")
        target = llvm.Target.from_default_triple()
        tm = target.create_target_machine(codemodel="jitdefault")
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
        try:
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            address = engine.get_function_address(symbol)
        except Exception as exc:
            raise RuntimeError(f"cannot link compiled kernel {name}: {exc}") from exc
        if not address:
            raise RuntimeError(f"compiled kernel {name} has no symbol {symbol!r}")
        _ENGINES.append(engine)
    return Kernel(name, address)
