"""Where the kernel cache lives (:func:`cache_root`) and its environment key: everything besides
a kernel's source that its machine code depends on (the cache's entry format, numba's and
llvmlite's versions, LLVM's version and its names for this CPU, Python's version, and a hash of
``codegen/mathlib*.py``, whose helpers every kernel inlines).  Read without importing numba or
llvmlite where a host stamp allows (:func:`_llvm_host`), so that a process whose kernels are all
cached needs neither.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["FORMAT", "cache_root", "environment_key", "sha256"]

try:  # CPython's own SHA-256 (3.11: ``_sha256``, 3.12+: ``_sha2``): ``hashlib`` loads OpenSSL, ~6 ms of a warm start
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other Pythons
    try:
        from _sha2 import sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256  # type: ignore[no-redef]

#: the kernel cache's entry format (part of the environment key)
FORMAT = 2

_HERE = Path(__file__).resolve().parent
_ENV_KEY: str | None = None
#: the helper library kernels inline (``codegen.mathlib`` and the modules it splits into)
_HELPER_FILES = ("mathlib.py", "mathlib_native.py", "mathlib_transpose.py", "mathlib_windows.py", "mathlib_gemm.py",
                 "mathlib_gemm_nn.py")


def _version(name: str) -> str:
    """``importlib.metadata.version(name)`` read from the ``<name>-<version>.dist-info`` folder
    beside the package, without importing ``importlib.metadata`` (15 ms: it imports ``email``)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        site = os.path.dirname(next(iter(spec.submodule_search_locations)))
        try:
            found = [f for f in os.listdir(site) if f.startswith(f"{name}-") and f.endswith(".dist-info")]
        except OSError:
            found = []
        if len(found) == 1:
            return found[0][len(name) + 1:-len(".dist-info")]
    from importlib.metadata import version

    return version(name)


def _versions() -> dict[str, str]:
    import platform

    return {
        "format": str(FORMAT),
        "numba": _version("numba"),
        "llvmlite": _version("llvmlite"),
        **_llvm_host(),
        "python": platform.python_version(),
        "mathlib": sha256(b"".join((_HERE / f).read_bytes() for f in _HELPER_FILES)).hexdigest(),
    }


def _llvm_host() -> dict[str, str]:
    """LLVM's version and its names for this CPU and its features (``llvm``, ``cpu``, ``features``).

    Asking LLVM means importing ``llvmlite.binding`` (~30 ms), which a process whose kernels are
    all cached needs for nothing else.  So the answer is kept in a stamp in the cache root,
    ``host-<hash>.json``, valid for the *signature* it records: the llvmlite library file (name,
    size, modification time: LLVM's version is compiled into it) and the CPU as the kernel
    describes it (``/proc/cpuinfo``'s vendor, family, model, stepping and feature flags: what LLVM's
    host detection reads through ``cpuid``).  Without a signature (no ``/proc/cpuinfo``), with the
    cache off or a stamp that does not match, LLVM is asked.
    """
    signature = _host_signature()
    root = cache_root()
    stamp = None
    if signature is not None and root is not None:
        digest = sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:16]
        stamp = root / f"host-{digest}.json"
        try:
            stored = json.loads(stamp.read_text())
        except (OSError, ValueError):
            stored = None
        if isinstance(stored, dict) and stored.get("signature") == signature:
            answer = {k: stored.get(k) for k in ("llvm", "cpu", "features")}
            if all(isinstance(v, str) for v in answer.values()):
                return answer
    import llvmlite.binding as llvm

    from .native import init_llvm

    init_llvm()
    answer = {"llvm": ".".join(map(str, llvm.llvm_version_info)), "cpu": llvm.get_host_cpu_name(),
              "features": llvm.get_host_cpu_features().flatten()}
    if stamp is not None:
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            _atomic_write(stamp, json.dumps({"signature": signature, **answer}, indent=1).encode())
        except OSError:
            pass  # LLVM is asked again next time
    return answer


#: /proc/cpuinfo fields that identify the CPU (x86, then Arm); frequencies and core numbers vary.
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags", "CPU implementer",
               "CPU architecture", "CPU variant", "CPU part", "CPU revision", "Features", "isa", "uarch")


def _host_signature() -> dict | None:
    """What LLVM's answers in :func:`_llvm_host` depend on, read without LLVM (``None``: unknown)."""
    import importlib.util

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            first = f.read(1 << 16).split("\n\n", 1)[0]  # the first processor's block
        spec = importlib.util.find_spec("llvmlite")
    except (OSError, ImportError, ValueError):
        return None
    cpu = {}
    for line in first.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in _CPU_FIELDS:
            cpu[key.strip()] = " ".join(value.split())
    if not ("flags" in cpu or "Features" in cpu) or spec is None or not spec.submodule_search_locations:
        return None
    binding = Path(next(iter(spec.submodule_search_locations))) / "binding"
    try:
        libraries = sorted((p.name, st.st_size, st.st_mtime_ns) for p in binding.iterdir()
                           if "llvmlite" in p.name and p.suffix in (".so", ".dylib", ".dll")
                           for st in (p.stat(),))
    except OSError:
        return None
    if not libraries:
        return None
    return {"machine": os.uname().machine, "cpu": cpu, "llvmlite": [list(x) for x in libraries]}


def environment_key() -> str:
    """Short hash of everything besides the source that compiled code depends on."""
    global _ENV_KEY
    if _ENV_KEY is None:
        material = json.dumps(_versions(), sort_keys=True)
        _ENV_KEY = sha256(material.encode()).hexdigest()[:16]
    return _ENV_KEY


def cache_root() -> Path | None:
    """The cache directory from ``TRACER_CACHE_DIR`` (``None`` when it is ``off``).

    Examples
    --------
    >>> import os
    >>> old = os.environ.get("TRACER_CACHE_DIR")
    >>> os.environ["TRACER_CACHE_DIR"] = "/tmp/kernels"
    >>> str(cache_root())
    '/tmp/kernels'
    >>> os.environ["TRACER_CACHE_DIR"] = "off"
    >>> cache_root() is None
    True
    >>> _ = os.environ.pop("TRACER_CACHE_DIR") if old is None else os.environ.update(TRACER_CACHE_DIR=old)
    """
    env = os.environ.get("TRACER_CACHE_DIR", "").strip()
    if env.lower() in ("off", "none", "0"):
        return None
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "numpy-tracer"


def _atomic_write(path: Path, data: bytes) -> None:
    import tempfile  # only when writing (a warm start writes nothing)

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
