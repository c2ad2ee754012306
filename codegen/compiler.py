"""Compile generated kernel source to a relocatable object with numba (the only numba user).

numba compiles the kernel as a C-callable ``cfunc`` taking one ``int64*`` (its frame).  We keep
the machine code, not numba's dispatcher: the object is cached on disk and loaded with llvmlite
alone (``codegen.native``), so a process whose kernels are all cached never imports numba (whose
import and first use cost ~0.8 s here).

numba's own ``cfunc`` would also generate machine code in its JIT (MCJIT), which we never run:
instead the compiled library's module is linked with the helpers it calls, optimized by numba's
module passes (what numba's finalization does) and emitted once, as an object (about a quarter
of a kernel's compile time saved).  Large helpers (``transpose_copy_f32``, the pairwise sum) are
not linked and optimized again for every kernel: ``codegen.prebuilt`` emits each once per process
as assembly, which LLVM assembles into the kernel's object.  Where numba's internals differ (another numba), the public
``cfunc`` path is used.

Kernels never raise and never allocate: they run as plain C functions, with the GIL released.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from typing import Any

from .prebuilt import Prebuilt, attach, split_libraries
from .sources import register_source

__all__ = ["compile_object", "register_source", "warm_up", "COMPILE_LOCK"]

#: numba's compiler is not reentrant across threads; one kernel compiles at a time.
COMPILE_LOCK = threading.RLock()


def compile_object(text: str, name: str, filename: str) -> tuple[bytes, str, tuple[str, ...]]:
    """Compile function ``name`` defined in ``text``.

    Returns the ELF object bytes, the entry symbol and the external symbols the object uses.

    Raises ``RuntimeError`` naming the kernel file when numba rejects the source.
    """
    from numba.core.errors import NumbaWarning

    from . import mathlib

    register_source(filename, text)
    namespace = dict(mathlib.NAMESPACE)
    exec(compile(text, filename, "exec"), namespace)  # our own generated source, never archive content
    fn = namespace[name]
    with COMPILE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaWarning)
        try:
            (module, symbol), built = _compile_module(fn)
        except Exception as exc:  # numba's TypingError etc.: a bug in our code generator
            raise RuntimeError(f"numba could not compile kernel {name} ({filename}): {exc}") from exc
        obj = _target_machine().emit_object(module)
        inside = {s for p in built for s in p.defines}  # declared here, defined by the assembly
        functions = {f.name for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")}
        externals = tuple(sorted(functions.union(*(p.needs for p in built)) - inside))
        externals += tuple(sorted(g.name for g in module.global_variables if g.is_declaration and g.name not in inside))
    return obj, symbol, externals


def warm_up(texts: Iterable[str] = ()) -> None:
    """Import numba and set up its compiler (typing and target contexts: ~0.4 s of a first compile)
    by compiling a one-line kernel, and compile the helpers that two or more of kernel sources
    ``texts`` call (``mathlib.compile_helpers``), so that processes forked afterwards start ready.
    (A helper only one kernel calls is left to the process that compiles that kernel.)"""
    from . import mathlib

    compile_object("def k_warm_up(f):\n    f[0] = f[1]\n", "k_warm_up", "<warm-up kernel>")
    with COMPILE_LOCK:
        mathlib.compile_helpers(texts, min_users=2)


_SIGNATURE: Any = None


def _compile_module(fn: Any) -> tuple[tuple[Any, str], list[Prebuilt]]:
    """numba-compile ``fn`` as a ``void(int64*)`` cfunc: its optimized LLVM module and entry symbol,
    and the large helpers whose machine code the module carries as inline assembly
    (``codegen.prebuilt``)."""
    global _SIGNATURE
    from numba.core import sigutils, types
    from numba.core.ccallback import CFunc
    from numba.core.compiler_lock import global_compiler_lock

    from . import mathlib_native

    if _SIGNATURE is None:
        _SIGNATURE = sigutils.normalize_signature(types.void(types.CPointer(types.int64)))
    with global_compiler_lock:
        cf = CFunc(fn, _SIGNATURE, {}, {"error_model": "numpy"})
        try:
            cres = cf._compile_uncached()
            library = cres.library
            module = library._final_module
            link, built = split_libraries(library, module)
            built += mathlib_native.prebuilt_for({f.name for f in module.functions if f.is_declaration})
            linked = [lib._get_module_for_linking() for lib in link]
            symbol = cres.fndesc.llvm_cfunc_wrapper_name
            optimize = library._optimize_final_module
        except AttributeError:  # another numba's internals: let numba finalize (and JIT) it
            module, symbol = _compile_module_public(fn)
            built = mathlib_native.prebuilt_for({f.name for f in module.functions if f.is_declaration})
            return (attach(module, built), symbol), built
        for mod in linked:
            module.link_in(mod, preserve=True)
        optimize()  # the kernel and its small helpers; the large ones are machine code already
        module = library._final_module  # optimizing may replace it
        module.verify()
        unlinked = [f.name for f in module.functions if f.is_declaration and f.name.startswith("_ZN5numba")]
        if unlinked:
            raise AssertionError(f"symbols not linked: {unlinked}")
        attach(module, built)
    return (module, symbol), built


def _compile_module_public(fn: Any) -> tuple[Any, str]:
    """``_compile_module`` through numba's public ``cfunc`` (which also JIT-compiles the code)."""
    import llvmlite.binding as llvm
    import numba
    from numba import types

    from .mathlib_native import export_symbols

    export_symbols()  # numba's JIT links the cfunc: the IR helpers it calls need addresses
    cf = numba.cfunc(types.void(types.CPointer(types.int64)), error_model="numpy")(fn)
    module = llvm.parse_assembly(cf.inspect_llvm())
    module.verify()
    return module, cf.native_name


_TM = None


def _target_machine():
    """A target machine for this CPU, configured like numba's JIT (so code matches numba's)."""
    global _TM
    if _TM is None:
        import llvmlite.binding as llvm

        from .native import init_llvm

        init_llvm()
        target = llvm.Target.from_default_triple()
        _TM = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=3, reloc="default", codemodel="jitdefault",
        )
    return _TM
