"""The frame words that hold addresses, kept current per thread by rewriting only what moved.

Each frame word a kernel reads is ``plan.frame_const[w] + base`` where ``plan.frame_base[w]``
names the base: ``ABSOLUTE`` (0: the constant alone), the thread's ``ARENA``, the call's
``OUTBLOCK``, or the data address of an input, a parameter or an array a NumPy call made and the
driver publishes.  A thread's frames are kept from call to call together with the value each base
had when its words were written (``last[b]``); a call rewrites the words of a base only when its
address differs from that value.  So the arena's words are written once per thread, a parameter's
when another array object is passed (``_Compiled.load_params``), an input's when it is another
buffer, and the output block's (a word or two) every call, instead of recomputing every word of
the frames each call (a ``take`` and an ``add`` over all of them, 1.3-5 us for 22-2370 words).

While a base's words are being rewritten ``last[b]`` is ``None``, so that a call interrupted there
(``KeyboardInterrupt``) leaves the next call to rewrite them all rather than to trust half of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from codegen.plan import ABSOLUTE, Plan

__all__ = ["BaseWords", "base_words", "update_source", "set_base", "SCALAR_WORDS"]

#: Bases with at most this many words are rewritten word by word (a scalar store costs ~0.05 us);
#: more take one NumPy call (~0.7 us through a strided view, ~1.5 us through an index array).
SCALAR_WORDS = 4


@dataclass(frozen=True)
class BaseWords:
    """The frame words of one base: their indices and constants, and how to rewrite them."""

    words: np.ndarray  # int64 indices into the frames, increasing
    consts: np.ndarray  # int64: frame_const[words]
    pairs: tuple[tuple[int, int], ...]  # (word, const) as Python ints, for the word-by-word case
    step: slice | None  # a slice of the frames holding exactly ``words`` (an arithmetic progression)


def base_words(plan: Plan) -> list[BaseWords]:
    """The frame words of each base of ``plan`` (index = base)."""
    order = np.argsort(plan.frame_base, kind="stable")
    bases = plan.frame_base[order]
    table = []
    for b in range(max(plan.n_bases, 3)):
        lo, hi = np.searchsorted(bases, b, "left"), np.searchsorted(bases, b, "right")
        words = np.sort(order[lo:hi]).astype(np.int64)
        consts = plan.frame_const[words].astype(np.int64)
        step = None
        if len(words) > SCALAR_WORDS:
            gaps = np.diff(words)
            if (gaps == gaps[0]).all():
                step = slice(int(words[0]), int(words[-1]) + 1, int(gaps[0]))
        pairs = tuple(zip(words.tolist(), consts.tolist())) if len(words) <= SCALAR_WORDS else ()
        table.append(BaseWords(words, consts, pairs, step))
    return table


def update_source(b: int, value: str, entry: BaseWords, extra: dict[str, Any]) -> list[str]:
    """Driver lines that point base ``b``'s words at address ``value`` (a local holding an int)
    unless they already do; the driver's locals ``frames`` and ``last`` are the thread's."""
    if b == ABSOLUTE or not len(entry.words):
        return []
    if entry.pairs:
        body = [f"frames[{w}] = {value} + {c}" for w, c in entry.pairs]
    else:
        extra[f"_C{b}"] = entry.consts
        if entry.step is not None:
            s = entry.step
            body = [f"np_add(_C{b}, {value}, frames[{s.start}:{s.stop}:{s.step}])"]
        else:
            extra[f"_W{b}"] = entry.words
            body = [f"frames[_W{b}] = _C{b} + {value}"]
    return [f"if {value} != last[{b}]:", f"    last[{b}] = None"] + [f"    {line}" for line in body] + \
           [f"    last[{b}] = {value}"]


def set_base(frames: np.ndarray, last: list, entry: BaseWords, b: int, value: int) -> None:
    """Point base ``b``'s words at ``value`` (as :func:`update_source`'s lines do), outside the driver."""
    if last[b] == value:
        return
    last[b] = None
    if entry.pairs:
        for w, c in entry.pairs:
            frames[w] = value + c
    elif len(entry.words):
        frames[entry.words] = entry.consts + value
    last[b] = value
