"""Load relocatable ELF objects (x86-64 Linux) into this process, without LLVM.

The kernel cache stores each kernel as the relocatable object LLVM emitted (``codegen.cache``).
Linking it with llvmlite's MCJIT costs importing ``llvmlite.binding`` (~30 ms) and an execution
engine per kernel; what it does for these objects is small: copy the sections the code needs
into memory, patch the relocations, look up the few symbols the object takes from the process.
:func:`load` does that in Python.

Layout: one anonymous mapping per object, so that every PC-relative reference inside the object
reaches.  Executable sections first (then jump stubs for calls to far symbols of the process),
read-only data next (then a GOT for ``GOTPCREL`` references), writable data and common symbols
last, each part starting on a page.  Once patched, the code becomes read+execute and the
read-only part read-only; nothing is ever writable and executable at once.  Unwind tables
(``.eh_frame``) and debug sections are not loaded: kernels never throw.

Every field read from the object is bounds-checked; a truncated or corrupt object raises
:class:`ElfError` (a ``RuntimeError``: the cache then rebuilds the entry) and never touches memory
outside the object.  A well-formed object this loader does not handle (a relocation type it does
not know, thread-local data, ...) raises :class:`Unsupported`; ``codegen.native`` then links it
with llvmlite as before.  Off x86-64 Linux (:func:`supported_host` false) nothing here is used.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
from collections.abc import Callable

from .elf_format import (
    _GOT_TYPES,
    _RELA,
    _SHF_ALLOC,
    _SHF_EXECINSTR,
    _SHF_TLS,
    _SHF_WRITE,
    _SHN_ABS,
    _SHN_COMMON,
    _SHN_LORESERVE,
    _SHN_UNDEF,
    _SHT_NOBITS,
    _SHT_PROGBITS,
    _SHT_REL,
    _SHT_RELA,
    _SHT_STRTAB,
    _SHT_SYMTAB,
    _SHT_X86_64_UNWIND,
    _STB_GLOBAL,
    _STB_WEAK,
    _STT_TLS,
    _SYM,
    RELOCATIONS,
    ElfError,
    Unsupported,
    _align,
    _Reader,
    _Section,
    _sections,
)

__all__ = ["ElfError", "Unsupported", "LoadedObject", "load", "supported_host", "RELOCATIONS"]


class LoadedObject:
    """An object in memory: its mapping and its defined global symbols' addresses."""

    __slots__ = ("base", "size", "symbols")

    def __init__(self, base: int, size: int, symbols: dict[str, int]) -> None:
        self.base, self.size, self.symbols = base, size, symbols

    def __repr__(self) -> str:
        return f"<LoadedObject {self.size} bytes at {self.base:#x}: {', '.join(self.symbols)}>"


PAGE = 4096
#: Larger objects are refused (kernels are a few KiB to a few hundred KiB).
MAX_IMAGE = 256 * 2**20
_STUB = 16  # jmp *0(%rip); .quad target; 2 bytes of padding

_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20
_LOCK = threading.Lock()
_LIBC = None


def supported_host() -> bool:
    """Whether this process can run objects this loader links: Linux on x86-64."""
    return sys.platform.startswith("linux") and os.uname().machine in ("x86_64", "amd64")


def _libc():
    global _LIBC
    if _LIBC is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long)
        libc.mprotect.restype = ctypes.c_int
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        libc.munmap.restype = ctypes.c_int
        libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        _LIBC = libc
    return _LIBC


def load(obj: bytes, resolve: Callable[[str], int | None]) -> LoadedObject:
    """Link relocatable object ``obj`` into this process; returns where its global symbols are.

    ``resolve(name)`` gives the address of a symbol the object takes from the process (``None``:
    none).  Raises :class:`ElfError` for a malformed object, :class:`Unsupported` for one this
    loader does not handle, and ``RuntimeError`` when a symbol cannot be resolved.

    Examples
    --------
    >>> try:
    ...     load(b"not an object", lambda name: None)
    ... except ElfError as exc:
    ...     print(exc)
    truncated object: 64 bytes at offset 0 of 13
    """
    if not isinstance(obj, (bytes, bytearray, memoryview)):
        raise TypeError("load() takes the object's bytes")
    r = _Reader(bytes(obj))
    try:
        return _load(r, resolve)
    except (struct.error, IndexError, KeyError, TypeError, OverflowError, ValueError) as exc:  # any slip of the checks
        raise ElfError(f"malformed object: {exc}") from None


def _load(r: _Reader, resolve: Callable[[str], int | None]) -> LoadedObject:
    sections = _sections(r)
    symtabs = [s for s in sections if s.type == _SHT_SYMTAB]
    if len(symtabs) != 1:
        raise ElfError(f"{len(symtabs)} symbol tables (expected one)")
    symtab = symtabs[0]
    if symtab.entsize != _SYM.size or symtab.size % _SYM.size or not 0 < symtab.link < len(sections) \
            or sections[symtab.link].type != _SHT_STRTAB:
        raise ElfError("malformed symbol table")
    strtab = sections[symtab.link]

    # -- which sections load, and where ---------------------------------------------------------------
    loaded = []
    for s in sections:
        if not s.flags & _SHF_ALLOC or s.size == 0:
            continue
        if s.type == _SHT_X86_64_UNWIND or s.name == ".eh_frame":
            continue  # unwind tables: kernels never throw, and nothing registers them
        if s.flags & _SHF_TLS:
            raise Unsupported(f"thread-local section {s.name}")
        if s.type not in (_SHT_PROGBITS, _SHT_NOBITS) and s.type < 0x60000000:
            if s.type in (_SHT_RELA, _SHT_REL, _SHT_SYMTAB, _SHT_STRTAB):
                raise ElfError(f"section {s.name} of type {s.type} marked to be loaded")
        if s.align > PAGE:
            raise Unsupported(f"section {s.name} aligned to {s.align} bytes")
        loaded.append(s)

    # -- relocations: validate, and count what needs stubs and GOT slots ------------------------------
    n_sym = symtab.size // _SYM.size
    symbols = [r.unpack(_SYM, symtab.offset + i * _SYM.size) for i in range(n_sym)]
    relocations: list[tuple[_Section, list[tuple[int, int, int, int]]]] = []
    stub_syms: set[int] = set()
    got_syms: set[int] = set()
    for s in sections:
        if s.type == _SHT_REL and 0 < s.info < len(sections) and sections[s.info] in loaded:
            raise Unsupported("REL relocations (without addends)")
        if s.type != _SHT_RELA:
            continue
        if not 0 < s.info < len(sections):
            raise ElfError(f"relocation section {s.name} applies to section {s.info}, which does not exist")
        target = sections[s.info]
        if target not in loaded:
            continue  # relocations of unwind tables or debug sections
        if s.link != symtab.index:
            raise ElfError(f"relocation section {s.name} does not use the symbol table")
        if s.entsize != _RELA.size or s.size % _RELA.size:
            raise ElfError(f"malformed relocation section {s.name}")
        entries = []
        for offset, info, addend in _RELA.iter_unpack(r.data[s.offset:s.offset + s.size]):
            kind, sym = info & 0xFFFFFFFF, info >> 32
            if kind not in RELOCATIONS:
                raise Unsupported(f"relocation type {kind} in {s.name}")
            width = RELOCATIONS[kind][1]
            if sym >= n_sym:
                raise ElfError(f"relocation in {s.name} names symbol {sym} of {n_sym}")
            if offset + width > target.size:
                raise ElfError(f"relocation in {s.name} at offset {offset} outside {target.name} ({target.size} bytes)")
            if target.type == _SHT_NOBITS and kind:
                raise ElfError(f"relocation in {s.name} patches {target.name}, which has no contents")
            if kind in _GOT_TYPES:
                got_syms.add(sym)
            elif kind == 4 and symbols[sym][3] == _SHN_UNDEF and sym:
                stub_syms.add(sym)
            entries.append((offset, kind, sym, addend))
        relocations.append((target, entries))

    # -- layout: code and stubs | read-only data and GOT | writable data and commons ------------------
    size = 0
    parts = []
    for flags in ("x", "r", "w"):
        start = size = _align(size, PAGE)
        for s in loaded:
            kind = "x" if s.flags & _SHF_EXECINSTR else "w" if s.flags & _SHF_WRITE else "r"
            if kind == flags:
                size = _align(size, s.align)
                s.place = size
                size += s.size
        if flags == "x":
            size = stubs = _align(size, _STUB)
            size += _STUB * len(stub_syms)
        elif flags == "r":
            size = got = _align(size, 8)
            size += 8 * len(got_syms)
        else:
            commons: dict[int, int] = {}
            for i, (_name, _info, _other, shndx, value, sym_size) in enumerate(symbols):
                if shndx == _SHN_COMMON:
                    align = max(value, 1)
                    if align & (align - 1) or align > PAGE:
                        raise ElfError(f"common symbol {i} aligned to {value}")
                    size = _align(size, align)
                    commons[i] = size
                    size += sym_size
                    if size > MAX_IMAGE:
                        break
        parts.append((start, size))
        if size > MAX_IMAGE:
            raise ElfError(f"the object needs more than {MAX_IMAGE} bytes of memory")
    total = _align(max(size, 1), PAGE)
    image = bytearray(total)
    for s in loaded:
        if s.type != _SHT_NOBITS:
            image[s.place:s.place + s.size] = r.data[s.offset:s.offset + s.size]

    libc = _libc()
    base = libc.mmap(None, total, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
    if base is None or base == ctypes.c_void_p(-1).value:  # MCJIT may still find memory (or fail cleanly)
        raise Unsupported(f"cannot map {total} bytes for an object: {os.strerror(ctypes.get_errno())}")
    try:
        address = _Symbols(r, sections, strtab, symbols, base, commons, resolve)
        stub_at = {sym: base + stubs + _STUB * i for i, sym in enumerate(sorted(stub_syms))}
        for sym, at in stub_at.items():
            struct.pack_into("<2sIQ", image, at - base, b"\xff\x25", 0, address(sym))  # jmp *0(%rip)
        got_at = {sym: base + got + 8 * i for i, sym in enumerate(sorted(got_syms))}
        for sym, at in got_at.items():
            struct.pack_into("<Q", image, at - base, address(sym))
        for target, entries in relocations:
            _relocate(image, base, target, entries, address, stub_at, got_at)
        exported = address.exported()
        ctypes.memmove(base, (ctypes.c_char * total).from_buffer(image), total)
        for (start, end), prot in zip(parts, (_PROT_READ | _PROT_EXEC, _PROT_READ)):
            length = _align(end, PAGE) - start
            if length and libc.mprotect(base + start, length, prot) != 0:
                # a policy against executable memory, say: MCJIT's to try (or to fail cleanly)
                raise Unsupported(f"mprotect failed: {os.strerror(ctypes.get_errno())}")
    except BaseException:
        libc.munmap(base, total)
        raise
    return LoadedObject(base, total, exported)


class _Symbols:
    """Symbol index -> address, resolved once each."""

    def __init__(self, r: _Reader, sections: list[_Section], strtab: _Section, symbols: list[tuple], base: int,
                 commons: dict[int, int], resolve: Callable[[str], int | None]) -> None:
        self.r, self.sections, self.strtab, self.symbols = r, sections, strtab, symbols
        self.base, self.commons, self.resolve = base, commons, resolve
        self.cache: dict[int, int] = {}

    def name(self, i: int) -> str:
        return self.r.string(self.strtab, self.symbols[i][0])

    def __call__(self, i: int) -> int:
        found = self.cache.get(i)
        if found is None:
            found = self.cache[i] = self._address(i)
        return found

    def _address(self, i: int) -> int:
        _name, info, _other, shndx, value, _size = self.symbols[i]
        if info & 0xF == _STT_TLS:
            raise Unsupported("thread-local symbol")
        if shndx == _SHN_UNDEF:
            if i == 0:
                return 0
            name = self.name(i)
            address = self.resolve(name)
            if address is None:
                if info >> 4 == _STB_WEAK:
                    return 0
                raise RuntimeError(f"the object needs symbol {name!r}, which this process lacks")
            return address
        if shndx == _SHN_ABS:
            return value
        if shndx == _SHN_COMMON:
            return self.base + self.commons[i]
        if shndx >= _SHN_LORESERVE:
            raise Unsupported(f"symbol {i} in reserved section {shndx:#x}")
        if shndx >= len(self.sections):
            raise ElfError(f"symbol {i} in section {shndx}, which does not exist")
        s = self.sections[shndx]
        if s.place < 0:
            raise ElfError(f"a loaded section refers to symbol {i} in {s.name}, which is not loaded")
        if value > s.size:
            raise ElfError(f"symbol {i} lies outside its section {s.name}")
        return self.base + s.place + value

    def exported(self) -> dict[str, int]:
        """Defined global and weak symbols (functions and data) by name."""
        out = {}
        for i, (_name, info, _other, shndx, _value, _size) in enumerate(self.symbols):
            if info >> 4 in (_STB_GLOBAL, _STB_WEAK) and shndx != _SHN_UNDEF and info & 0xF != _STT_TLS:
                if shndx < len(self.sections) and self.sections[shndx].place < 0:
                    continue  # defined in a section that is not loaded
                out[self.name(i)] = self(i)
        return out


def _relocate(image: bytearray, base: int, target: _Section, entries: list, address: _Symbols,
              stub_at: dict[int, int], got_at: dict[int, int]) -> None:
    """Patch ``target``'s relocations into ``image`` (``target`` lies at ``base + target.place``)."""
    section = base + target.place
    pack = struct.pack_into
    for offset, kind, sym, addend in entries:
        if kind == 0:
            continue
        at = target.place + offset
        place = section + offset
        if kind == 1:  # S + A
            pack("<Q", image, at, (address(sym) + addend) & 0xFFFFFFFFFFFFFFFF)
        elif kind == 24:  # S + A - P
            pack("<Q", image, at, (address(sym) + addend - place) & 0xFFFFFFFFFFFFFFFF)
        elif kind in (2, 4):  # S + A - P (PLT32 through a stub when S is far)
            value = address(sym) + addend - place
            if not -2**31 <= value < 2**31 and sym in stub_at:
                value = stub_at[sym] + addend - place
            if not -2**31 <= value < 2**31:
                raise Unsupported(f"a 32-bit PC-relative reference to {address.name(sym)!r} does not reach")
            pack("<i", image, at, value)
        elif kind in _GOT_TYPES:  # G + GOT + A - P
            value = got_at[sym] + addend - place
            if not -2**31 <= value < 2**31:
                raise ElfError("a GOT reference does not reach")  # the GOT lies in the same mapping
            pack("<i", image, at, value)
        elif kind == 10:  # S + A, zero-extended
            value = address(sym) + addend
            if not 0 <= value < 2**32:
                raise Unsupported(f"a 32-bit absolute reference to {address.name(sym)!r} does not reach")
            pack("<I", image, at, value)
        elif kind == 11:  # S + A, sign-extended
            value = address(sym) + addend
            if not -2**31 <= value < 2**31:
                raise Unsupported(f"a 32-bit absolute reference to {address.name(sym)!r} does not reach")
            pack("<i", image, at, value)
