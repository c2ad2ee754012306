"""Load compiled kernel objects into this process, without numba.

On x86-64 Linux the object is linked by :mod:`codegen.elf` (our own loader: no LLVM at all, so a
process whose kernels are all cached imports neither numba nor llvmlite); elsewhere, or for an
object that loader does not handle, by llvmlite's MCJIT, one small execution engine per object
(kernels carry private copies of the helpers they inline, so their symbols may repeat).  The
result is a ``ctypes`` function of one pointer (the kernel's frame); calling it releases the GIL.

:func:`load_ir` does the same for the little LLVM IR the backend writes by hand
(``codegen.pool``'s worker loop): compiled once, cached on disk beside the kernels.
"""

from __future__ import annotations

import ctypes
import threading

__all__ = ["init_llvm", "load_object", "load_ir", "Kernel"]

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


def _process_symbol(name: str) -> int | None:
    """The address of ``name`` for :mod:`codegen.elf`: this process's (libc, libm, Python's C API),
    else a trap stub for numba's runtime functions (kernels reference them on error paths they
    never take), else ``None``."""
    found = _ADDRESSES.get(name)
    if found is None:
        try:
            found = ctypes.cast(getattr(_PROCESS, name), ctypes.c_void_p).value
        except AttributeError:
            found = None
        if not found and name.startswith(("NRT_", "numba_")):
            shim = ctypes.CFUNCTYPE(None)(_unexpected(name))
            _SHIMS.append(shim)
            found = ctypes.cast(shim, ctypes.c_void_p).value
        if not found:
            return None
        _ADDRESSES[name] = found
    return found


_ADDRESSES: dict[str, int] = {}
_OBJECTS: list = []  # codegen.elf's mappings (never unmapped: kernels live as long as the process)


def _link(obj: bytes, symbols: tuple[str, ...], name: str, externals: tuple[str, ...], loader: str) -> list[int]:
    """The addresses of ``symbols`` once ``obj`` is linked into the process (see :func:`load_object`)."""
    if loader not in ("auto", "elf", "mcjit"):
        raise ValueError(f"unknown loader {loader!r}")
    if loader != "mcjit" and _elf_host():
        from . import elf

        try:
            with _LOCK:
                loaded = elf.load(obj, _process_symbol)
        except elf.Unsupported as exc:
            if loader == "elf":
                raise RuntimeError(f"cannot link compiled kernel {name}: {exc}") from exc
        except RuntimeError as exc:  # ElfError (malformed) or a missing symbol
            raise RuntimeError(f"cannot link compiled kernel {name}: {exc}") from exc
        else:
            _OBJECTS.append(loaded)
            addresses = [loaded.symbols.get(s, 0) for s in symbols]
            for s, address in zip(symbols, addresses):
                if not address:
                    raise RuntimeError(f"compiled kernel {name} has no symbol {s!r}")
            return addresses
    elif loader == "elf":
        raise RuntimeError("codegen.elf links objects on x86-64 Linux only")
    return _link_mcjit(obj, symbols, name, externals)


def _elf_host() -> bool:
    global _ELF_HOST
    if _ELF_HOST is None:
        from .elf import supported_host

        _ELF_HOST = supported_host()
    return _ELF_HOST


_ELF_HOST: bool | None = None


def _link_mcjit(obj: bytes, symbols: tuple[str, ...], name: str, externals: tuple[str, ...]) -> list[int]:
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
            addresses = [engine.get_function_address(s) for s in symbols]
        except Exception as exc:
            raise RuntimeError(f"cannot link compiled kernel {name}: {exc}") from exc
        for s, address in zip(symbols, addresses):
            if not address:
                raise RuntimeError(f"compiled kernel {name} has no symbol {s!r}")
        _ENGINES.append(engine)
    return addresses


#: How :func:`load_object` links objects by default: ``"auto"`` (:mod:`codegen.elf` where it
#: applies, else llvmlite's MCJIT), ``"elf"`` (ours only) or ``"mcjit"`` (llvmlite's only).
LOADER = "auto"


def load_object(obj: bytes, symbol: str, name: str, externals: tuple[str, ...] = (), *,
                loader: str | None = None) -> Kernel:
    """Link object code ``obj`` into the process and return its function ``symbol``.

    ``externals`` are the symbols the object needs from outside; those this process cannot
    resolve (numba's runtime when numba is not imported) get a trap stub.  ``loader`` overrides
    :data:`LOADER` (tests compare the two).  Raises ``RuntimeError`` when the object cannot be
    linked (a corrupt cache entry, say).
    """
    return Kernel(name, _link(obj, (symbol,), name, tuple(externals), loader or LOADER)[0])


def load_ir(text: str, symbols: tuple[str, ...], name: str, opt: int = 2) -> list[int]:
    """Compile LLVM IR ``text`` for this machine and link it; the addresses of ``symbols``.

    The object is cached on disk (``<kernel cache>/support/<name>-<hash>.o`` and its manifest, a
    subfolder: kernel entries stay one per kernel), so a later process links it without LLVM.
    Functions it declares are looked up in this process (libc's ``syscall``, say).
    """
    import json

    from .cache import _atomic_write, cache_dir
    from .environment import sha256

    digest = sha256(text.encode()).hexdigest()
    directory = cache_dir()
    path = None if directory is None else directory / "support" / f"{name}-{digest[:32]}"
    if path is not None:
        try:
            manifest = json.loads(path.with_suffix(".json").read_text())
            obj = path.with_suffix(".o").read_bytes()
        except (OSError, ValueError):
            pass
        else:
            externals = manifest.get("externals") if isinstance(manifest, dict) else None
            if manifest.get("source_sha256") == digest and manifest.get("object_sha256") == \
                    sha256(obj).hexdigest() and isinstance(externals, list) \
                    and all(isinstance(e, str) for e in externals):
                try:
                    return _link(obj, symbols, name, tuple(externals), "auto")
                except RuntimeError:
                    pass  # rebuilt below
    obj, externals = _emit_ir(text, opt)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _atomic_write(path.with_suffix(".o"), obj)
            manifest = {"name": name, "source_sha256": digest, "object_sha256": sha256(obj).hexdigest(),
                        "externals": list(externals)}
            _atomic_write(path.with_suffix(".json"), json.dumps(manifest, indent=1).encode())
        except OSError:
            pass  # a read-only or full disk only costs a compile next time
    return _link(obj, symbols, name, externals, "auto")


def _emit_ir(text: str, opt: int) -> tuple[bytes, tuple[str, ...]]:
    """Relocatable object code for IR ``text`` (generic CPU of this architecture) and the
    functions it declares."""
    init_llvm()
    import llvmlite.binding as llvm

    module = llvm.parse_assembly(text)
    module.verify()
    target = llvm.Target.from_default_triple()
    tm = target.create_target_machine(opt=opt, codemodel="jitdefault")
    externals = tuple(sorted(f.name for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")))
    return tm.emit_object(module), externals
