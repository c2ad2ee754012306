"""Compile generated kernel source to a relocatable object with numba (the only numba user).

numba compiles the kernel as a C-callable ``cfunc`` taking one ``int64*`` (its frame).  We keep
the machine code, not numba's dispatcher: the object is cached on disk and loaded with llvmlite
alone (``codegen.native``), so a process whose kernels are all cached never imports numba (whose
import and first use cost ~0.8 s here).

Kernels never raise and never allocate: they run as plain C functions, with the GIL released.
"""

from __future__ import annotations

import linecache
import threading
import warnings

__all__ = ["compile_object", "register_source", "COMPILE_LOCK"]

#: numba's compiler is not reentrant across threads; one kernel compiles at a time.
COMPILE_LOCK = threading.RLock()


def register_source(filename: str, text: str) -> None:
    """Make ``text`` visible to ``linecache`` (tracebacks, ``inspect``, numba's error messages)."""
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)


def compile_object(text: str, name: str, filename: str) -> tuple[bytes, str, tuple[str, ...]]:
    """Compile function ``name`` defined in ``text``.

    Returns the ELF object bytes, the entry symbol and the external symbols the object uses.

    Raises ``RuntimeError`` naming the kernel file when numba rejects the source.
    """
    import llvmlite.binding as llvm
    import numba
    from numba import types
    from numba.core.errors import NumbaWarning

    from . import mathlib

    register_source(filename, text)
    namespace = dict(mathlib.NAMESPACE)
    exec(compile(text, filename, "exec"), namespace)  # our own generated source, never archive content
    fn = namespace[name]
    with COMPILE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaWarning)
        try:
            cf = numba.cfunc(types.void(types.CPointer(types.int64)), error_model="numpy")(fn)
        except Exception as exc:  # numba's TypingError etc.: a bug in our code generator
            raise RuntimeError(f"numba could not compile kernel {name} ({filename}): {exc}") from exc
        ir_text = cf.inspect_llvm()
        module = llvm.parse_assembly(ir_text)
        module.verify()
        obj = _target_machine().emit_object(module)
        externals = tuple(sorted(f.name for f in module.functions
                                 if f.is_declaration and not f.name.startswith("llvm.")))
        externals += tuple(sorted(g.name for g in module.global_variables if g.is_declaration))
    return obj, cf.native_name, externals


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
