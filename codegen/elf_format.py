"""The ELF format as ``codegen.elf`` reads it: headers, section headers, string tables, the
relocation types it links, and the errors it raises; every read bounds-checked (:class:`_Reader`).
"""

from __future__ import annotations

import struct

__all__ = ["ElfError", "Unsupported", "RELOCATIONS"]


class ElfError(RuntimeError):
    """The object is malformed: truncated, corrupt, or not an x86-64 relocatable object."""


class Unsupported(Exception):
    """The object is well formed but uses something this loader does not handle."""


_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")

_ET_REL, _EM_X86_64 = 1, 62
_SHT_NULL, _SHT_PROGBITS, _SHT_SYMTAB, _SHT_STRTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL = 0, 1, 2, 3, 4, 8, 9
_SHT_X86_64_UNWIND = 0x70000001
_SHF_WRITE, _SHF_ALLOC, _SHF_EXECINSTR, _SHF_TLS = 0x1, 0x2, 0x4, 0x400
_SHN_UNDEF, _SHN_LORESERVE, _SHN_ABS, _SHN_COMMON = 0, 0xFF00, 0xFFF1, 0xFFF2
_STB_LOCAL, _STB_GLOBAL, _STB_WEAK = 0, 1, 2
_STT_SECTION, _STT_FILE, _STT_TLS = 3, 4, 6

#: x86-64 relocation types handled (psABI numbers): name, width in bytes.
RELOCATIONS = {0: ("NONE", 0), 1: ("64", 8), 2: ("PC32", 4), 4: ("PLT32", 4), 9: ("GOTPCREL", 4),
               10: ("32", 4), 11: ("32S", 4), 24: ("PC64", 8), 41: ("GOTPCRELX", 4), 42: ("REX_GOTPCRELX", 4)}
_GOT_TYPES = (9, 41, 42)


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & -alignment


class _Section:
    """One section header (``place``: its offset in the image, -1 when it is not loaded)."""

    __slots__ = ("index", "name", "type", "flags", "offset", "size", "link", "info", "align", "entsize", "place")

    def __init__(self, index: int, name: str, type: int, flags: int, offset: int, size: int, link: int, info: int,
                 align: int, entsize: int) -> None:
        self.index, self.name, self.type, self.flags, self.offset, self.size = index, name, type, flags, offset, size
        self.link, self.info, self.align, self.entsize, self.place = link, info, align, entsize, -1


class _Reader:
    """Bounds-checked views of the object's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def unpack(self, fmt: struct.Struct, offset: int) -> tuple:
        if offset < 0 or offset + fmt.size > len(self.data):
            raise ElfError(f"truncated object: {fmt.size} bytes at offset {offset} of {len(self.data)}")
        return fmt.unpack_from(self.data, offset)

    def span(self, offset: int, size: int, what: str) -> None:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise ElfError(f"truncated object: {what} spans bytes {offset}..{offset + size} of {len(self.data)}")

    def string(self, table: _Section, offset: int) -> str:
        if not 0 <= offset < table.size:
            raise ElfError(f"string offset {offset} outside its table ({table.size} bytes)")
        end = self.data.find(b"\0", table.offset + offset, table.offset + table.size)
        if end < 0:
            raise ElfError("unterminated string in a string table")
        try:
            return self.data[table.offset + offset:end].decode("ascii")
        except UnicodeDecodeError:
            raise ElfError("a symbol or section name is not ASCII") from None


def _sections(r: _Reader) -> list[_Section]:
    """The section headers, checked: every section with contents lies inside the object."""
    ident, e_type, machine, _version, _entry, _phoff, shoff, _flags, ehsize, _phentsize, _phnum, shentsize, shnum, \
        shstrndx = r.unpack(_EHDR, 0)
    if ident[:4] != b"\x7fELF":
        raise ElfError("not an ELF object")
    if ident[4] != 2 or ident[5] != 1 or e_type != _ET_REL or machine != _EM_X86_64:
        raise ElfError("not a 64-bit little-endian x86-64 relocatable object")
    if ehsize != _EHDR.size or shentsize != _SHDR.size:
        raise ElfError("unexpected ELF header or section header size")
    if shnum == 0 or shstrndx >= shnum:
        raise Unsupported("extended section numbering")
    r.span(shoff, shnum * _SHDR.size, "the section headers")
    sections = []
    name_offsets = []
    for i in range(shnum):
        name, typ, flags, _addr, offset, size, link, info, align, entsize = r.unpack(_SHDR, shoff + i * _SHDR.size)
        if typ != _SHT_NOBITS and typ != _SHT_NULL:
            r.span(offset, size, f"section {i}")
        if align > 1 and align & (align - 1):
            raise ElfError(f"section {i} has alignment {align}, not a power of two")
        sections.append(_Section(i, "", typ, flags, offset, size, link, info, max(align, 1), entsize))
        name_offsets.append(name)
    names = sections[shstrndx]
    if names.type != _SHT_STRTAB:
        raise ElfError("the section name table is not a string table")
    for s, offset in zip(sections[1:], name_offsets[1:]):
        s.name = r.string(names, offset)
    return sections
