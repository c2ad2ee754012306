"""The zip container of an archive, read defensively: entry names as stored, no overlaps, sizes
and inflation bounded before anything is read (``docs/ARCHIVE.md``, "Loading")."""

from __future__ import annotations

import math
import mmap
import os
import re
import struct
import zipfile
import zlib
from typing import Any, BinaryIO

import numpy as np

from ir import SerializationError

from .format import (
    MAX_ENTRIES,
    MAX_INFLATE_RATIO,
    MAX_INFLATED_BYTES,
    MAX_NAME,
    RATIO_FREE,
    fail,
)

__all__ = ["Archive"]


# -- the container --------------------------------------------------------------------------------
class _Reader:
    """A file object with only ``read``/``readline``/``tell``/``seek``, as ``zipfile`` wants it."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def readline(self, n: int = -1) -> bytes:
        return self._f.readline(n)

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def seekable(self) -> bool:
        return True

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Archive:
    """A validated zip container: one root folder, safe names, known sizes."""

    def __init__(self, f: Any) -> None:
        self.mm: mmap.mmap | None = None
        self.owned: BinaryIO | None = None
        try:
            self._setup(f)
        except BaseException:
            self.close()  # else zipfile's __del__ complains about the closed file later
            raise

    def _setup(self, f: Any) -> None:
        if isinstance(f, (str, os.PathLike)):
            path = os.fspath(f)
            self.owned = self.fp = open(path, "rb")  # noqa: SIM115 - closed in close()
            self.size = os.fstat(self.fp.fileno()).st_size
            if self.size:
                self.mm = mmap.mmap(self.fp.fileno(), 0, access=mmap.ACCESS_COPY)
            self.where = path
        else:
            for attr in ("read", "seek", "tell"):
                if not hasattr(f, attr):
                    raise TypeError(f"f must be a path or a binary file object with read/readline/tell/seek, "
                                    f"got {type(f).__name__}")
            f = _Reader(f)
            self.fp = f
            start = f.tell()
            f.seek(0, os.SEEK_END)
            self.size = f.tell() - start
            f.seek(start)
            self.where = getattr(f, "name", "<file object>")
        self.inflated = 0
        try:
            endrec = zipfile._EndRecData(self.fp)  # type: ignore[attr-defined]
            if endrec is not None and endrec[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES:  # type: ignore[attr-defined]
                raise fail(f"{self.where} declares {endrec[zipfile._ECD_ENTRIES_TOTAL]} entries, more than the "  # type: ignore[attr-defined]
                           f"limit MAX_ENTRIES={MAX_ENTRIES}")
            self.fp.seek(0)
            self.zf = zipfile.ZipFile(self.fp)
            infos = self.zf.infolist()
        except SerializationError:
            self.close()
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
                NotImplementedError, UnicodeDecodeError, IndexError, OverflowError, MemoryError) as exc:
            self.close()
            raise fail(f"{self.where} is not a readable archive ({type(exc).__name__}: {exc})", exc) from None
        if len(infos) > MAX_ENTRIES:
            self.close()
            raise fail(f"{self.where} has {len(infos)} entries, more than the limit MAX_ENTRIES={MAX_ENTRIES}")
        self.entries: dict[str, zipfile.ZipInfo] = {}
        roots = set()
        for info in infos:
            name = info.filename
            parts = name.split("/")
            raw = info.orig_filename  # the name as stored: zipfile cuts it at a NUL
            if raw != name or _CONTROL.search(raw):
                self.close()
                raise fail(f"{self.where}: unsafe entry name {raw!r} (control characters)")
            if (not name or name.startswith("/") or "\\" in name or "\x00" in name or len(name) > 4 * MAX_NAME
                    or any(p in ("..", ".") for p in parts) or (len(parts) > 1 and ":" in parts[0])):
                raise fail(f"{self.where}: unsafe entry name {name!r}")
            if name in self.entries:
                raise fail(f"{self.where}: duplicate entry {name!r}")
            if info.flag_bits & 0x1:
                raise fail(f"{self.where}: entry {name!r} is encrypted")
            self.entries[name] = info
            roots.add(parts[0] if len(parts) > 1 else "")
        if len(roots) != 1 or "" in roots:
            self.close()
            raise fail(f"{self.where}: entries must all live in one root folder, found {sorted(roots)[:5]}")
        self.root = roots.pop()
        try:
            self._check_layout()
        except BaseException:
            self.close()
            raise

    def _check_layout(self) -> None:
        """Every entry's header and bytes inside the file, and no two entries sharing bytes."""
        spans = []
        for info in self.entries.values():
            start = info.header_offset
            end = self.data_offset(info) + info.compress_size
            if end > self.size:
                raise fail(f"{self.where}: entry {info.filename!r} runs past the end of the file")
            spans.append((start, end, info.filename))
        spans.sort()
        for (_, end, name), (start, _, other) in zip(spans, spans[1:]):
            if start < end:
                raise fail(f"{self.where}: entries {name!r} and {other!r} overlap")

    def close(self) -> None:
        zf = self.__dict__.get("zf")
        if zf is not None:
            zf.close()
        if self.owned is not None:
            self.owned.close()

    def name(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def has(self, rel: str) -> bool:
        return self.name(rel) in self.entries

    def read(self, rel: str, limit: int) -> bytes:
        info = self.entries.get(self.name(rel))
        if info is None:
            raise fail(f"{self.where}: missing entry {self.name(rel)!r}")
        if info.file_size > limit:
            raise fail(f"{self.where}: entry {info.filename!r} declares {info.file_size} bytes, more than the limit "
                       f"{limit}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise fail(f"{self.where}: entry {info.filename!r} uses unsupported compression {info.compress_type}")
        if self.inflated + info.file_size > MAX_INFLATED_BYTES:
            raise fail(f"{self.where}: entry {info.filename!r} would take the bytes inflated by this load past the "
                       f"limit MAX_INFLATED_BYTES={MAX_INFLATED_BYTES}")
        chunks = bytearray()
        try:
            with self.zf.open(info) as fh:
                while True:
                    chunk = fh.read(2**20)
                    if not chunk:
                        break
                    chunks += chunk
                    if len(chunks) > limit or len(chunks) > info.file_size:
                        break
                    if len(chunks) > RATIO_FREE and len(chunks) > MAX_INFLATE_RATIO * max(1, info.compress_size):
                        raise fail(f"{self.where}: entry {info.filename!r} inflates more than {MAX_INFLATE_RATIO}:1 "
                                   f"(the limit MAX_INFLATE_RATIO)")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, struct.error,
                NotImplementedError, OverflowError) as exc:
            raise fail(f"{self.where}: entry {info.filename!r} is corrupt ({exc})", exc) from None
        self.inflated += len(chunks)
        data = bytes(chunks)
        if len(data) > limit or len(data) != info.file_size:
            raise fail(f"{self.where}: entry {info.filename!r} does not have its declared size")
        return data

    def data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where the stored bytes of ``info`` start, from its local header (checked)."""
        header = info.header_offset
        if not 0 <= header <= self.size - 30:
            raise fail(f"{self.where}: entry {info.filename!r} has its header outside the file")
        raw = self._pread(header, 30)
        sig, _, _, _, _, _, _, _, _, name_len, extra_len = struct.unpack("<4sHHHHHIIIHH", raw)
        if sig != b"PK\x03\x04":
            raise fail(f"{self.where}: entry {info.filename!r} has a bad local header")
        if self._pread(header + 30, name_len) != info.orig_filename.encode("utf-8") and \
                self._pread(header + 30, name_len) != info.filename.encode("utf-8"):
            raise fail(f"{self.where}: entry {info.filename!r} local header names another entry")
        return header + 30 + name_len + extra_len

    def _pread(self, offset: int, n: int) -> bytes:
        if self.mm is not None:
            return bytes(self.mm[offset:offset + n])
        self.fp.seek(offset)
        return self.fp.read(n)

    def array(self, rel: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        info = self.entries.get(self.name(rel))
        if info is None:
            raise fail(f"{self.where}: missing array entry {self.name(rel)!r}")
        nbytes = dtype.itemsize * math.prod(shape)
        if info.compress_type != zipfile.ZIP_STORED:
            raise fail(f"{self.where}: array entry {info.filename!r} must be stored uncompressed")
        if info.file_size != nbytes or info.compress_size != nbytes:
            raise fail(f"{self.where}: array entry {info.filename!r} holds {info.file_size} bytes but its dtype "
                       f"{dtype} and shape {list(shape)} need {nbytes}")
        offset = self.data_offset(info)
        if offset + nbytes > self.size:
            raise fail(f"{self.where}: array entry {info.filename!r} runs past the end of the file")
        if self.mm is not None:  # map copy-on-write: nothing is read until it is used
            return np.ndarray(shape, dtype=dtype, buffer=self.mm, offset=offset)
        buf = bytearray(nbytes)
        self.fp.seek(offset)
        view = memoryview(buf)
        got = 0
        while got < nbytes:
            n = self.fp.readinto(view[got:]) if hasattr(self.fp, "readinto") else None
            if n is None:
                chunk = self.fp.read(nbytes - got)
                n = len(chunk)
                view[got:got + n] = chunk
            if not n:
                raise fail(f"{self.where}: array entry {info.filename!r} is truncated")
            got += n
        return np.frombuffer(buf, dtype=dtype).reshape(shape)


