"""NumPy's pairwise summation for generated kernels (``np.add.reduce``'s order, bit for bit).

Part of the helper library every kernel may call (``codegen.mathlib.NAMESPACE``); its text is
hashed into the kernel cache's environment key with ``mathlib.py``'s.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numba import njit, types
from numba.core.extending import intrinsic

__all__ = ["compile_helpers", "pairwise_sum_f32", "pairwise_sum_f64"]


# -- NumPy's pairwise summation -------------------------------------------------------------------


def _local_array(nbtype: types.Type, length: int):
    """An intrinsic returning a pointer to ``length`` elements on the calling function's stack."""

    @intrinsic
    def local(typingctx):
        sig = types.CPointer(nbtype)()

        def codegen(context, builder, signature, args):
            from numba.core import cgutils

            ty = context.get_data_type(nbtype)
            return cgutils.alloca_once(builder, ty, size=length)

        return sig, codegen

    return local


_STACK_DEPTH = 64  # NumPy's recursion halves n each level: depth <= log2(n / 128) + 1
_local_f64 = _local_array(types.float64, _STACK_DEPTH)
_local_i64 = _local_array(types.int64, 3 * _STACK_DEPTH)


def _make_pairwise(acc_type):
    @njit(inline="always")
    def leaf(p, start, n, stride):
        if n < 8:
            res = acc_type(0.0)
            for i in range(n):
                res += acc_type(p[start + i * stride])
            return res
        r0 = acc_type(p[start])
        r1 = acc_type(p[start + stride])
        r2 = acc_type(p[start + 2 * stride])
        r3 = acc_type(p[start + 3 * stride])
        r4 = acc_type(p[start + 4 * stride])
        r5 = acc_type(p[start + 5 * stride])
        r6 = acc_type(p[start + 6 * stride])
        r7 = acc_type(p[start + 7 * stride])
        m = n - n % 8
        i = 8
        while i < m:
            j = start + i * stride
            r0 += acc_type(p[j])
            r1 += acc_type(p[j + stride])
            r2 += acc_type(p[j + 2 * stride])
            r3 += acc_type(p[j + 3 * stride])
            r4 += acc_type(p[j + 4 * stride])
            r5 += acc_type(p[j + 5 * stride])
            r6 += acc_type(p[j + 6 * stride])
            r7 += acc_type(p[j + 7 * stride])
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += acc_type(p[start + i * stride])
            i += 1
        return res

    @njit
    def pairwise(p, start, n, stride):
        """Sum of ``p[start + i * stride]`` for ``i < n`` in NumPy's pairwise order.

        NumPy recurses: blocks of at most 128 are summed with 8 accumulators, longer runs are
        split at ``n2 = n // 2 - (n // 2) % 8``.  Here the recursion runs on an explicit stack
        (compiled kernels are loaded without numba's runtime, which recursion would need).
        """
        if n <= 128:
            return leaf(p, start, n, stride)
        left = _local_f64()  # left half's sum of each pending task
        task = _local_i64()  # (start, n, state) of each pending task; state 0 new, 1 left done
        sp = 0
        task[0] = start
        task[1] = n
        task[2] = 0
        sp = 1
        result = acc_type(0.0)
        while sp > 0:
            t = 3 * (sp - 1)
            s = task[t]
            m = task[t + 1]
            if m <= 128 or task[t + 2] == 2:
                if m <= 128:
                    value = leaf(p, s, m, stride)
                else:
                    value = acc_type(left[sp - 1])
                sp -= 1
                # hand the value to the parent task
                while True:
                    if sp == 0:
                        result = value
                        break
                    u = 3 * (sp - 1)
                    if task[u + 2] == 0:
                        left[sp - 1] = value
                        task[u + 2] = 1
                        m2 = task[u + 1] // 2
                        m2 -= m2 % 8
                        task[3 * sp] = task[u] + m2 * stride
                        task[3 * sp + 1] = task[u + 1] - m2
                        task[3 * sp + 2] = 0
                        sp += 1
                        break
                    value = acc_type(left[sp - 1]) + value  # right half done: combine
                    sp -= 1
                continue
            # expand: push the left half first
            m2 = m // 2
            m2 -= m2 % 8
            task[3 * sp] = s
            task[3 * sp + 1] = m2
            task[3 * sp + 2] = 0
            sp += 1
        return result

    @njit(inline="always")
    def pairwise_sum(p, start, n, stride):
        """``pairwise`` with an int64 start and count: numba compiles a function once per argument
        types, and a literal (``0``) is its own type, so without this each literal spelling of a
        call would compile ``pairwise`` again (~0.4 s each).  A literal stride (``1``) is kept: LLVM
        vectorizes the contiguous sum it gives."""
        return pairwise(p, np.int64(start), np.int64(n), stride)

    return pairwise_sum, pairwise


pairwise_sum_f32, _pairwise_f32 = _make_pairwise(np.float32)
pairwise_sum_f64, _pairwise_f64 = _make_pairwise(np.float64)


def compile_helpers(texts: Iterable[str], min_users: int = 1) -> None:
    """Compile the helpers that at least ``min_users`` of kernel sources ``texts`` call, for the
    argument types kernels pass.

    A kernel's first call of a helper compiles it (``pairwise_sum_*``: ~0.4 s); doing that once
    before forking compiler processes (``codegen.parallel``) spares each process doing it again.
    (The inlined helpers, ``exp_f32`` and the like, are retyped in every kernel anyway: compiling
    them beforehand was measured to save nothing.)
    """
    texts = list(texts)
    i64 = types.int64
    for name, fn, dtype in (("pairwise_sum_f32(", _pairwise_f32, types.float32),
                            ("pairwise_sum_f64(", _pairwise_f64, types.float64)):
        if sum(name in text for text in texts) >= min_users:  # the contiguous sums: a literal stride of 1
            fn.compile((types.CPointer(dtype), i64, i64, types.literal(1)))
