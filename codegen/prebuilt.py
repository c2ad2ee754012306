"""Large helpers compiled to machine code once per process and spliced into each kernel's object.

numba links every helper a kernel calls (``transpose_copy_f32``, ``pairwise_sum_f32``'s loop) into
the kernel's LLVM module, and our compile path (``codegen.compiler``) then optimized that module
and emitted it as one object: the helper was optimized and turned into machine code again for
every kernel that calls it.  For the 3,800-instruction ``transpose_copy_f32`` that was ~0.45 s of
optimization and ~0.5 s of code generation per kernel (the ``transformer4`` has four such kernels:
7.0 s of CPU for its 8 kernels before, 3.2-3.7 s now, compiled one after the other).

Here a helper library that large (:data:`MIN_INSTRUCTIONS`, far above what LLVM would inline) is
emitted once per process as assembly text (after the optimization it got inside kernels' modules
when it is small enough for that to be cheap: :data:`REOPTIMIZE_BELOW`), its local labels renamed
apart; each kernel's optimized module gets that text as module-level inline assembly (``module
asm``), which LLVM assembles into the kernel's object in milliseconds.  The object is what it was:
one relocatable file holding the kernel and the helper's code (a weak symbol, as when linked), so
the cache entry and its loaders (``codegen.elf``, MCJIT) are unchanged.  The kernel is optimized
seeing only the helper's declaration (it was never inlined); its code differs in a few
instructions, the results not at all (``tests/codegen/test_prebuilt.py``).  Small libraries
(numba's ``min`` and ``max``, its runtime's stubs) are still linked and optimized with the kernel,
so that they inline.

Anything unexpected (a helper that defines other global symbols, a name clash) makes
:func:`split_libraries` leave that library to the ordinary link.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, NamedTuple

__all__ = ["MIN_INSTRUCTIONS", "Prebuilt", "split_libraries", "attach", "build_ir"]

#: A linked library with a function of at least this many LLVM instructions is emitted once per
#: process (LLVM's inliner gives up on functions a fraction this size).
MIN_INSTRUCTIONS = 500
#: A helper smaller than this is optimized again by the passes that optimized it inside each
#: kernel's module, so that its code comes out as it did there (the pairwise sum: ~0.05 s, its
#: sums ~1% faster); a larger one is emitted as numba optimized it (``transpose_copy_f32``, 3,800
#: instructions: the second round cost 0.45 s per process, and its copies ran as fast without it).
REOPTIMIZE_BELOW = 2000


class Prebuilt(NamedTuple):
    """A helper library as assembly: its text, the symbols it defines and those it needs."""

    asm: str
    defines: frozenset[str]
    needs: tuple[str, ...]


_CACHE: dict[tuple[int, frozenset[str]], tuple[Any, Prebuilt | None]] = {}  # (library, kept) -> it
_TAGS = itertools.count()
#: a label the assembly defines at the start of a line (``name:``, ``"name":``)
_LABEL = re.compile(r'^(?:"([^"]+)"|([^\s:#"]+)):', re.MULTILINE)
#: directives that describe the whole file, not the helper (the kernel's own output has them)
_FILE_LEVEL = re.compile(r"^\s*\.(?:file|ident|addrsig|addrsig_sym)\b.*$|^\s*\.section\s+\"?\.note\.GNU-stack.*$",
                         re.MULTILINE)


def split_libraries(library: Any, module: Any) -> tuple[list[Any], list[Prebuilt]]:
    """The libraries numba's ``library`` links: those to link into ``module`` as usual, and the
    large ones as :class:`Prebuilt` assembly (built on first use, then reused)."""
    declared = {f.name for f in module.functions if f.is_declaration}
    libraries = list({id(lib): lib for lib in library._linking_libraries}.values())  # each once, in order
    link: list[Any] = []
    built: list[Prebuilt] = []
    for lib in libraries:
        mod = lib._get_module_for_linking()
        kept = frozenset(f.name for f in mod.functions if not f.is_declaration and f.name in declared)
        prebuilt = None
        size = _size(mod)
        if kept and size >= MIN_INSTRUCTIONS:
            key = (id(lib), kept)
            if key not in _CACHE:  # holding ``lib`` keeps its id unique
                _CACHE[key] = (lib, _build(mod, kept, _optimizer(lib) if size < REOPTIMIZE_BELOW else None))
            prebuilt = _CACHE[key][1]
        if prebuilt is None:
            link.append(lib)
        else:
            built.append(prebuilt)
    names = [n for p in built for n in p.defines]
    defined = {f.name for f in module.functions if not f.is_declaration}
    defined |= {g.name for g in module.global_variables if not g.is_declaration}
    if len(set(names)) != len(names) or defined.intersection(names):  # two copies of one symbol
        return libraries, []
    return link, built


def attach(module: Any, built: list[Prebuilt]) -> Any:
    """``module`` (optimized) with ``built``'s assembly added as module-level inline assembly."""
    if not built:
        return module
    import llvmlite.binding as llvm

    llvm.initialize_native_asmparser()
    lines = "\n".join(p.asm for p in built).splitlines()
    text = (f'target datalayout = "{module.data_layout}"\ntarget triple = "{module.triple}"\n'
            + "".join(f'module asm "{_escape(line)}"\n' for line in lines))
    module.link_in(llvm.parse_assembly(text))
    return module


def _size(mod: Any) -> int:
    """Instructions in the largest function ``mod`` defines."""
    return max((sum(1 for b in f.blocks for _ in b.instructions) for f in mod.functions if not f.is_declaration),
               default=0)


def _build(shared: Any, kept: frozenset[str], optimize: Any = None) -> Prebuilt | None:
    """Emit the functions ``kept`` of helper module ``shared`` (and what they use) as assembly."""
    import llvmlite.binding as llvm

    from .compiler import _target_machine

    mod = shared.clone()
    for f in mod.functions:  # a weak symbol as when linked, but one global DCE keeps
        if not f.is_declaration:
            f.linkage = "weak_odr" if f.name in kept else "internal"
    for g in mod.global_variables:
        if not g.is_declaration:
            g.linkage = "internal"
    tm = _target_machine()
    pm = llvm.create_new_module_pass_manager()
    pm.add_global_dead_code_eliminate_pass()
    pm.run(mod, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options()))
    if optimize is not None:
        optimize(mod)
    return _emit(tm, mod, kept)


def build_ir(text: str, kept: frozenset[str]) -> Prebuilt | None:
    """Functions ``kept`` of LLVM IR ``text`` (``codegen.mathlib_native``), optimized for this
    machine (LLVM's ``O3``) and emitted as assembly."""
    import llvmlite.binding as llvm

    from .compiler import _target_machine

    tm = _target_machine()
    mod = llvm.parse_assembly(f'target triple = "{llvm.get_process_triple()}"\n' + text)
    mod.data_layout = str(tm.target_data)
    mod.verify()
    builder = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    builder.getModulePassManager().run(mod, builder)
    return _emit(tm, mod, kept)


def _emit(tm: Any, mod: Any, kept: frozenset[str]) -> Prebuilt | None:
    asm = tm.emit_assembly(mod)
    asm = _FILE_LEVEL.sub("", asm)
    asm = re.sub(r"\.L(?=[\w.$])", f".Lprebuilt{next(_TAGS)}_", asm)  # temporary labels, apart per helper
    defines = frozenset(a or b for a, b in _LABEL.findall(asm)) - {""}
    defines = frozenset(n for n in defines if not n.startswith(".L"))
    if defines != kept:  # other global or local symbols: they could clash in the kernel's object
        return None
    needs = tuple(sorted({f.name for f in mod.functions if f.is_declaration and not f.name.startswith("llvm.")}
                         | {g.name for g in mod.global_variables if g.is_declaration}))
    return Prebuilt(asm, defines, needs)


def _escape(line: str) -> str:
    """``line`` as the body of an LLVM IR string (``\\XX`` for quotes, backslashes, tabs and
    anything else outside printable ASCII)."""
    return "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:02X}" for b in line.encode())


def _optimizer(lib: Any) -> Any:
    """What numba's ``_optimize_final_module`` runs on a kernel's module (its "cheap" module passes,
    then the full ones), as a function of a module: the helper's code comes out as it did when
    it was optimized again inside each kernel's module."""
    codegen = lib._codegen

    def optimize(mod: Any) -> None:
        pm, pb = codegen._module_pass_manager(loop_vectorize=codegen._loopvect, slp_vectorize=False,
                                              opt=codegen._opt_level, cost="cheap")
        pm.run(mod, pb)
        pm, pb = codegen._module_pass_manager()
        pm.run(mod, pb)

    return optimize
