"""The calls a generated kernel makes for its contractions (``codegen.kernels``): BLAS ``gemm``
per chunk (plain or swapped into scratch; a convolution's are ``codegen.kernel_convs``') and max
pooling's window loop.  A mixin of the kernel generator, which holds the spec and the emitted lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .kernel_convs import WINDOW as _WINDOW
from .kernel_convs import Convs

if TYPE_CHECKING:
    from .kernels import Gemm

__all__ = ["Calls", "SWAP_BLOCK", "pool_block"]

#: Columns of a swapped matmul (``Gemm.swap``) computed per BLAS call: its scratch holds this many
#: rows of the transposed result (measured: ``(256, 1024) @ (1024, 64)`` runs at 168 GFLOP/s, 512 rows
#: at 171).
SWAP_BLOCK = 256


def pool_block(spec: Gemm) -> int:
    """Windows per block of a max pooling's row (one 64-byte vector of outputs, one
    ``pool_max_*`` call), when the window is in the source and the input's rows are contiguous;
    else 0.  A row whose whole blocks may read and write past it (below ``x_lim`` and this chunk's
    last output) goes by whole blocks (the ``cnn``'s rows have 15 windows, fewer than one
    vector); else the border loop does the whole row.  What a block writes past the row lies in
    later windows of this chunk, which are written afterwards (the border's after the row's
    inside)."""
    consts = dict(spec.consts)
    if not all(k in consts for k in ("kh", "kw", "sw", "dil_h", "dil_w", "xs_w")):
        return 0
    return 64 // (4 if spec.dtype == "float32" else 8)


class Calls(Convs):
    """``_Gen``'s emitters for ``Gemm`` specs (``gemm``, ``pool``; ``conv`` from ``Convs``)."""

    def emit_x_limit(self, depth: int, v: dict[str, str], x_lim: str) -> None:
        """``x_lim``: one past the last element of input ``x`` this chunk's images may read (0 when a
        stride is negative: then no block may read past a row)."""
        self.emit(depth, f"{x_lim} = 0")
        self.emit(depth, f"if hi > lo and {v['xs_n']} >= 0 and {v['xs_c']} >= 0 and {v['xs_h']} >= 0:")
        self.emit(depth + 1, f"{x_lim} = (hi - 1) * {v['xs_n']} + ({v['c_in']} - 1) * {v['xs_c']} + "
                             f"({v['h']} - 1) * {v['xs_h']} + {v['w']}")

    def gemm_params(self, g: int, spec: Gemm, keys: tuple[str, ...]) -> dict[str, str]:
        """Read phase-1 parameters ``keys`` of BLAS/window op ``g`` from the frame into locals."""
        v = {}
        consts = dict(spec.consts)
        for key in keys:
            if key in consts:
                v[key] = str(consts[key])
                continue
            v[key] = self.ns.fresh(f"{spec.hint}_{key}")
            self.emit(1, f"{v[key]} = {self.slot(('gemm', g, key))}")
        return v

    def pool(self, g: int, spec: Gemm) -> None:
        """Phase 1 of a max pooling: per image of this chunk, NaN-propagating max over windows
        (windows start at -inf, as the reference's padding does).  Windows that lie inside the
        input (all but a border) take the max of their taps in registers: a vector of windows per
        ``pool_max_*`` call where ``pool_block`` allows (``codegen.mathlib_windows``), else the
        taps written out when the window size is a literal; the border checks every tap."""
        v = self.gemm_params(g, spec, _WINDOW)
        x, out = self.ns.fresh(f"{spec.hint}_xp"), self.ns.fresh(f"{spec.hint}_outp")
        self.emit(1, f"{x} = ptr_{spec.dtype}({v['x']})")
        self.emit(1, f"{out} = ptr_{spec.dtype}({v['out']})")
        n, c, oh, ow, i, j, hin, win, o, xb, acc, base, ow_a, ow_b, inside = (self.ns.fresh(h) for h in (
            "n", "c", "oh", "ow", "ki", "kj", "ih", "iw", "o", "xb", "acc", "xo", "ow_a", "ow_b", "inside"))
        consts = dict(spec.consts)
        # output columns whose whole window is inside the input: ow_a <= ow < ow_b
        self.emit(1, f"{ow_a} = min(({v['pl']} + {v['sw']} - 1) // {v['sw']}, {v['wo']})")
        self.emit(1, f"{ow_b} = min(max({ow_a}, ({v['w']} - 1 - ({v['kw']} - 1) * {v['dil_w']} + {v['pl']}) "
                     f"// {v['sw']} + 1), {v['wo']})")
        x_lim, out_lim = self.ns.fresh("x_lim"), self.ns.fresh("out_lim")
        taps = consts["kh"] * consts["kw"] if "kh" in consts and "kw" in consts else 0
        block = pool_block(spec) if 0 < taps <= 16 else 0
        if block:
            self.emit_x_limit(1, v, x_lim)
            self.emit(1, f"{out_lim} = hi * {v['c_in']} * {v['ho']} * {v['wo']}")
        self.emit(1, f"for {n} in range(lo, hi):")
        self.emit(2, f"for {c} in range({v['c_in']}):")
        self.emit(3, f"{xb} = {n} * {v['xs_n']} + {c} * {v['xs_c']}")
        self.emit(3, f"for {oh} in range({v['ho']}):")
        self.emit(4, f"{o} = (({n} * {v['c_in']} + {c}) * {v['ho']} + {oh}) * {v['wo']}")
        self.emit(4, f"{hin} = {oh} * {v['sh']} - {v['pt']}")
        self.emit(4, f"{inside} = {hin} >= 0 and {hin} + ({v['kh']} - 1) * {v['dil_h']} < {v['h']}")
        a, b = self.ns.fresh("ow_lo"), self.ns.fresh("ow_hi")
        self.emit(4, f"{a} = {ow_a} if {inside} else 0")
        self.emit(4, f"{b} = {ow_b} if {inside} else 0")
        if block:  # whole blocks of windows, the last of which may read and write past the row
            nb, blk = self.ns.fresh("nb"), self.ns.fresh("blk")
            kh, kw, sw, dh, dw = (consts[k] for k in ("kh", "kw", "sw", "dil_h", "dil_w"))
            self.emit(4, f"{nb} = ({b} - {a} + {block - 1}) // {block}")
            # the last block's last tap row, from its last window's first column: pool_max_* reads
            # sw vectors per tap from its first window, up to sw - 1 past its last window's tap
            corner = f"{xb} + ({hin} + {(kh - 1) * dh}) * {v['xs_h']} + ({a} + {nb} * {block} - 1) * {sw} - {v['pl']}"
            self.emit(4, f"if {o} + {a} + {nb} * {block} <= {out_lim} and {corner} + {(kw - 1) * dw + sw} <= {x_lim}:")
            self.emit(5, f"for {blk} in range({nb}):")  # one vector of windows per call (mathlib_windows)
            self.emit(6, f"{ow} = {a} + {blk} * {block}")
            self.emit(6, f"pool_max_{'f32' if spec.dtype == 'float32' else 'f64'}({out}, {o} + {ow}, {x}, {xb} + "
                         f"{hin} * {v['xs_h']} + {ow} * {sw} - {v['pl']}, {v['xs_h']}, {kh}, {kw}, {sw}, {dh}, {dw})")
            self.emit(4, "else:")  # (the chunk's last rows) the border loop below does the whole row
            self.emit(5, f"{b} = {a}")
        else:
            self.emit(4, f"for {ow} in range({a}, {b}):")
            self.emit(5, f"{base} = {xb} + {hin} * {v['xs_h']} + ({ow} * {v['sw']} - {v['pl']}) * {v['xs_w']}")
            if 0 < taps <= 16:  # the window's taps written out: the loop over columns vectorizes
                for t in range(taps):
                    ti, tj = divmod(t, consts["kw"])
                    value = f"{x}[{base} + {ti} * {v['dil_h']} * {v['xs_h']} + {tj} * {v['dil_w']} * {v['xs_w']}]"
                    self.emit(5, f"{acc} = {value}" if t == 0 else f"{acc} = maximum({acc}, {value})")
            else:
                self.emit(5, f"{acc} = np.{spec.dtype}(-np.inf)")
                self.emit(5, f"for {i} in range({v['kh']}):")
                self.emit(6, f"for {j} in range({v['kw']}):")
                self.emit(7, f"{acc} = maximum({acc}, {x}[{base} + {i} * {v['dil_h']} * {v['xs_h']} + "
                             f"{j} * {v['dil_w']} * {v['xs_w']}])")
            self.emit(5, f"{out}[{o} + {ow}] = {acc}")
        # the border, columns [0, a) then [b, wo) in one loop (written once: numba types it once),
        # every tap checked
        k = self.ns.fresh("k")
        self.emit(4, f"for {k} in range({a} + {v['wo']} - {b}):")
        self.emit(5, f"{ow} = {k} if {k} < {a} else {k} - {a} + {b}")
        self.emit(5, f"{acc} = np.{spec.dtype}(-np.inf)")
        self.emit(5, f"for {i} in range({v['kh']}):")
        self.emit(6, f"{base} = {hin} + {i} * {v['dil_h']}")
        self.emit(6, f"if 0 <= {base} < {v['h']}:")
        self.emit(7, f"for {j} in range({v['kw']}):")
        self.emit(8, f"{win} = {ow} * {v['sw']} - {v['pl']} + {j} * {v['dil_w']}")
        self.emit(8, f"if 0 <= {win} < {v['w']}:")
        self.emit(9, f"{acc} = maximum({acc}, {x}[{xb} + {base} * {v['xs_h']} + {win} * {v['xs_w']}])")
        self.emit(5, f"{out}[{o} + {ow}] = {acc}")

    def gemm(self, g: int, spec: Gemm) -> None:
        """Phase 1: ``C = A @ B`` through BLAS for this chunk's rows (or batch indices)."""
        item = 4 if spec.dtype == "float32" else 8
        call = f"gemm_{'f32' if spec.dtype == 'float32' else 'f64'}_{'ilp64' if spec.ilp64 else 'lp64'}"
        if spec.conv:
            self.conv(g, spec, call, item)
            return
        if spec.pool:
            self.pool(g, spec)
            return
        v = self.gemm_params(g, spec, ("fn", "ta", "tb", "m", "n", "k", "lda", "ldb", "ldc", "a_rs", "a", "b", "c"))
        strides: dict[str, list[str]] = {}
        for which, kinds in (("a", spec.a_batch), ("b", spec.b_batch), ("c", spec.c_batch)):
            strides[which] = []
            for d, kind in enumerate(kinds):
                if kind == "0":
                    strides[which].append("0")
                    continue
                name = self.ns.fresh(f"{spec.hint}_{which}_bs{d}")
                self.emit(1, f"{name} = {self.slot(('gemm_bs', g, which, d))}")
                strides[which].append(name)
        if spec.n_batch == 0 and (spec.own or spec.nn):
            # our own float32 gemm, the weight read in place: A @ W.T (codegen.mathlib_gemm) or A @ W
            # (codegen.mathlib_gemm_nn), for this chunk's columns C[:, lo:hi] or rows C[lo:hi]
            helper = "gemm_wt_f32" if spec.own else "gemm_nn_f32"
            ct = self.gemm_params(g, spec, ("ct",))["ct"]
            if spec.cols:
                self.emit(1, f"{helper}({v['a']}, {v['lda']}, {v['b']}, {v['ldb']}, {v['c']}, {v['ldc']}, "
                             f"{v['m']}, {v['k']}, lo, hi, {ct})")
            else:
                self.emit(1, f"{helper}({v['a']} + lo * {v['a_rs']} * 4, {v['lda']}, {v['b']}, {v['ldb']}, "
                             f"{v['c']} + lo * {v['ldc']} * 4, {v['ldc']}, hi - lo, {v['k']}, 0, {v['n']}, {ct})")
            return
        if spec.n_batch == 0 and spec.swap:
            w = self.gemm_params(g, spec, ("b_cs", "ct"))
            c0, c1 = (self.ns.fresh(h) for h in ("c0", "c1"))
            self.emit(1, f"for {c0} in range(lo, hi, {SWAP_BLOCK}):")
            self.emit(2, f"{c1} = min({c0} + {SWAP_BLOCK}, hi)")
            self.emit(2, f"{call}({v['fn']}, 223 - {v['tb']}, 223 - {v['ta']}, {c1} - {c0}, {v['m']}, {v['k']}, "
                         f"{v['b']} + {c0} * {w['b_cs']} * {item}, {v['ldb']}, {v['a']}, {v['lda']}, {w['ct']}, "
                         f"{v['m']})")
            # the block into place: tiles transposed in registers (mathlib.transpose_copy_*)
            self.emit(2, f"transpose_copy_{call[5:8]}({w['ct']}, {v['m']}, {v['c']} + {c0} * {item}, {v['ldc']}, "
                         f"{v['m']}, {c1} - {c0})")
            return
        if spec.n_batch == 0 and spec.cols:
            b_cs = self.gemm_params(g, spec, ("b_cs",))["b_cs"]
            self.emit(1, "if hi > lo:")
            self.emit(2, f"{call}({v['fn']}, {v['ta']}, {v['tb']}, {v['m']}, hi - lo, {v['k']}, "
                         f"{v['a']}, {v['lda']}, {v['b']} + lo * {b_cs} * {item}, {v['ldb']}, "
                         f"{v['c']} + lo * {item}, {v['ldc']})")
            return
        if spec.n_batch == 0:
            self.emit(1, "if hi > lo:")
            self.emit(2, f"{call}({v['fn']}, {v['ta']}, {v['tb']}, hi - lo, {v['n']}, {v['k']}, "
                         f"{v['a']} + lo * {v['a_rs']} * {item}, {v['lda']}, {v['b']}, {v['ldb']}, "
                         f"{v['c']} + lo * {v['ldc']} * {item}, {v['ldc']})")
            return
        extents = ["lo"]
        for d in range(1, spec.n_batch):
            e = self.ns.fresh(f"{spec.hint}_bn{d}")
            self.emit(1, f"{e} = {self.slot(('gemm_bn', g, d))}")
            extents.append(e)
        offs = {"a": "0", "b": "0", "c": "0"}
        depth = 1
        for d in range(spec.n_batch):
            idx = self.ns.fresh(f"{spec.hint}_i{d}")
            self.emit(depth, f"for {idx} in {'range(lo, hi)' if d == 0 else f'range({extents[d]})'}:")
            depth += 1
            for which in ("a", "b", "c"):
                s = strides[which][d]
                if s == "0":
                    continue
                name = self.ns.fresh(f"{spec.hint}_{which}_o{d}")
                base = offs[which]
                self.emit(depth, f"{name} = {idx} * {s}" if base == "0" else f"{name} = {base} + {idx} * {s}")
                offs[which] = name
        self.emit(depth, f"{call}({v['fn']}, {v['ta']}, {v['tb']}, {v['m']}, {v['n']}, {v['k']}, "
                         f"{v['a']} + {offs['a']} * {item}, {v['lda']}, {v['b']} + {offs['b']} * {item}, {v['ldb']}, "
                         f"{v['c']} + {offs['c']} * {item}, {v['ldc']})")
