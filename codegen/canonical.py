"""Kernel source with its local names canonicalized, so kernels that differ only in names share code.

``codegen.kernels`` names a kernel's pointers and strides after the graph's values (``ln_1_g``,
``ln_2_g``), so two LayerNorms of one model give two texts that compile to the same machine code.
The cache keys, compiles and stores the *canonical* text instead: the function's parameter and
every name it assigns (``name = ``, ``name += ``, ``for name in``) renamed ``v0``, ``v1``, ... in
order of first appearance.  Python makes a name assigned anywhere in a function local to all of
it, so renaming every occurrence keeps the meaning.  Lines and their order are kept, so line
numbers in numba's messages still point into the generated (readable) text.

Generated kernels are simple functions; text with anything a renaming by pattern could get wrong
(strings, keyword arguments, nested scopes, ``global``, imports, a name already spelled ``v<n>``)
is left as it is.  This is a few regular expressions (~0.1 ms a kernel): it runs for every
kernel a process uses, cached or not.

>>> print(canonical("def k(f):\\n    ln_1_g = ptr_float32(f[0])\\n    ln_1_g[0] = np.float32(1e5)\\n"), end="")
def k(v0):
    v1 = ptr_float32(v0[0])
    v1[0] = np.float32(1e5)
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["canonical"]

_DEF = re.compile(r"def ([A-Za-z_]\w*)\(([A-Za-z_]\w*)\):\n")
#: a name assigned or augmented at the start of a statement, or a ``for`` target
_BOUND = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*(?:[-+*/%&|^@]|//|\*\*|<<|>>)?=(?!=)"
                    r"|\bfor[ \t]+([A-Za-z_]\w*)[ \t]+in\b", re.MULTILINE)
#: what a renaming by pattern could get wrong
_UNSAFE = re.compile(r"""['"\\]|\.\s|\b(?:def|lambda|class|global|nonlocal|import|except|match|async|await|del)\b"""
                     r"""|:=|[(,][ \t]*[A-Za-z_]\w*[ \t]*=(?!=)|\bv\d+\b""")


#: an identifier that is not an attribute (nor part of a number: ``1e5``)
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


@lru_cache(maxsize=1024)
def canonical(text: str) -> str:
    """``text`` (one generated function) with the names it binds renamed ``v0``, ``v1``, ...

    Returns ``text`` unchanged when it is not a single one-parameter function or uses a construct
    the renaming does not handle.
    """
    head = _DEF.match(text)
    if head is None or _UNSAFE.search(text, head.end()) is not None:
        return text
    names = dict.fromkeys([head.group(2)] + [a or b for a, b in _BOUND.findall(text, head.end())])
    names.pop(head.group(1), None)  # never the function's own name
    mapping = {name: f"v{i}" for i, name in enumerate(names)}
    body = text[head.start(2):]
    return text[:head.start(2)] + _NAME.sub(lambda m: mapping.get(m.group(0), m.group(0)), body)
