"""Names a program may give its methods and state: never one that Python protocols look up.

A loaded module answers attribute lookups for its methods, parameters, buffers, constants and
submodules, so a file that names a method ``__deepcopy__`` (or ``__reduce_ex__``,
``_repr_html_``, ...) would take over ``copy.deepcopy(module)`` or IPython's display.  Such
names are refused when saving and when loading.
"""

from __future__ import annotations

from ..errors import ScriptError

__all__ = ["is_protocol_name", "check_member_name"]

#: Single-underscore names that libraries look up on objects as hooks.
_HOOK_PREFIXES = ("_repr_", "_ipython_", "_array_", "_sa_", "_pytest", "_fields", "_asdict")


def is_protocol_name(name: str) -> bool:
    """Whether ``name`` could clash with a Python or library protocol (dunders, hooks).

    >>> is_protocol_name("__deepcopy__"), is_protocol_name("_repr_html_"), is_protocol_name("forward")
    (True, True, False)
    """
    return name.startswith("__") or name.endswith("__") or name.startswith(_HOOK_PREFIXES)


def check_member_name(name: str, what: str) -> str:
    """``name``, or a ScriptError saying that ``what`` may not be called that."""
    if is_protocol_name(name):
        raise ScriptError(f"{what} name {name!r} is reserved for Python protocols (dunder and hook names "
                          "such as __deepcopy__ or _repr_html_); rename it")
    return name
