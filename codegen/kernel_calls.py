"""The calls a generated kernel makes for its contractions (``codegen.kernels``): BLAS ``gemm``
per chunk (plain, swapped into scratch, or over im2col columns of a convolution) and max pooling's
window loop.  A mixin of the kernel generator, which holds the spec and the emitted lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernels import Gemm

__all__ = ["Calls", "SWAP_BLOCK", "IM2COL_SLACK", "im2col_block", "pool_block"]

#: Columns of a swapped matmul (``Gemm.swap``) computed per BLAS call: its scratch holds this many
#: rows of the transposed result (measured: ``(256, 1024) @ (1024, 64)`` runs at 168 GFLOP/s, 512 rows
#: at 171).
SWAP_BLOCK = 256

#: Elements of slack after each row of a convolution's im2col columns, which the row's last vector
#: copy may write (``Calls.im2col_rows``: up to one 64-byte vector less one element).
IM2COL_SLACK = 16

#: Frame parameters of a window op (convolution, pooling) over an ``(N, C, H, W)`` input ``x``.
_WINDOW = ("c_in", "h", "w", "kh", "kw", "sh", "sw", "dil_h", "dil_w", "pt", "pl", "ho", "wo",
           "x", "xs_n", "xs_c", "xs_h", "xs_w", "out")


def im2col_block(spec: Gemm) -> int:
    """Elements per vector copy of a convolution's im2col rows (one 64-byte vector;
    ``Calls.im2col_rows``), or 0 where rows are not contiguous runs of the input (a column stride
    or input stride other than 1)."""
    consts = dict(spec.consts)
    if consts.get("sw") != 1 or consts.get("xs_w") != 1:
        return 0
    return 64 // (4 if spec.dtype == "float32" else 8)


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


class Calls:
    """``_Gen``'s emitters for ``Gemm`` specs (``gemm``, ``conv``, ``pool``)."""

    def conv(self, g: int, spec: Gemm, call: str, item: int) -> None:
        """Phase 1 of a convolution: per image of this chunk, im2col, ``gemm``, bias (the
        reference's sequence, ``ir.ops``: one ``gemm`` per image, then ``+= bias``; on our own
        single-threaded BLAS its sums differ within SPEC's bound, on NumPy's it gives NumPy's bits,
        ``codegen.plan``'s ``blas_for``)."""
        keys = ("fn", *_WINDOW, "o", "weight", "cols", "img", "ldc") + (("bias", "bs") if spec.bias else ()) \
            + (("nn_off",) if spec.nn else ()) + (("pitch", "wide_off") if spec.taps else ())
        v = self.gemm_params(g, spec, keys)
        if spec.taps:
            self.conv_taps(spec, v, item)
            return
        x = self.ns.fresh(f"{spec.hint}_xp")
        cols = self.ns.fresh(f"{spec.hint}_colsp")
        out = self.ns.fresh(f"{spec.hint}_outp")
        self.emit(1, f"{x} = ptr_{spec.dtype}({v['x']})")
        self.emit(1, f"{cols} = ptr_{spec.dtype}({v['cols']})")
        self.emit(1, f"{out} = ptr_{spec.dtype}({v['out']})")
        if spec.bias:
            bias = self.ns.fresh(f"{spec.hint}_biasp")
            self.emit(1, f"{bias} = ptr_{spec.dtype}({v['bias']})")
        ckk, hw = self.ns.fresh("ckk"), self.ns.fresh("hw")
        self.emit(1, f"{ckk} = {v['c_in']} * {v['kh']} * {v['kw']}")
        self.emit(1, f"{hw} = {v['ho']} * {v['wo']}")
        n, n1 = self.ns.fresh("n"), self.ns.fresh("n1")
        block = im2col_block(spec)
        x_lim = self.ns.fresh("x_lim")
        if block:
            self.emit_x_limit(1, v, x_lim)
        # the result is stored (O, N, H*W) (ldc = N*H*W, an image img = H*W further) or in C order
        # (ldc = H*W, img = O*H*W); either way one image is one (O x H*W) matrix
        self.emit(1, f"for {n} in range(lo, hi):")
        self.emit(2, f"{n1} = {n} + 1")
        if block:
            self.im2col_rows(spec, v, n, cols, x, hw, block, x_lim)
        else:
            self.im2col(spec, v, n, cols, x, hw)
        ld = v["ldc"]
        ldb = f"{hw} + {block}" if block else hw  # (blocked im2col rows: see ``im2col_rows``)
        if spec.nn:  # our own gemm (codegen.mathlib_gemm_nn), its strip's copy after the columns
            self.emit(2, f"gemm_nn_f32({v['weight']}, {ckk}, {v['cols']}, {ldb}, {v['out']} + {n} * {v['img']} * "
                         f"{item}, {ld}, {v['o']}, {ckk}, 0, {hw}, {v['cols']} + {v['nn_off']})")
        else:
            self.emit(2, f"{call}({v['fn']}, 111, 111, {v['o']}, {hw}, {ckk}, {v['weight']}, {ckk}, {v['cols']}, "
                         f"{ldb}, {v['out']} + {n} * {v['img']} * {item}, {ld})")
        if spec.bias:
            self.add_bias(v, n, out, bias, hw)
        self.images = (n, n1)

    def conv_taps(self, spec: Gemm, v: dict[str, str], item: int) -> None:
        """Phase 1 of a convolution that reads its input in place (``Gemm.taps``,
        ``codegen.mathlib_gemm_nn.conv_taps``): the taps' offsets into this chunk's scratch once,
        then per image ``gemm_taps_f32``: ``"rows"``, once per output row, stored in place (the
        result's address moved back so that wide column ``oh * xs_h + ow`` lands on output ``oh *
        wo + ow``), then the bias added; ``"wide"``, once into the wide result in scratch (rows
        ``pitch`` floats apart), whose outputs are copied into place with the bias added (the
        reference's order either way: the product, then ``+= bias``)."""
        taps, out = self.ns.fresh(f"{spec.hint}_taps"), self.ns.fresh(f"{spec.hint}_outp")
        ckk, n, n1, r, c, i, j, oh, xn = (self.ns.fresh(h) for h in
                                          ("ckk", "n", "n1", "r", "c", "ki", "kj", "oh", "xn"))
        ho, wo, xs_h = v["ho"], v["wo"], v["xs_h"]
        self.emit(1, f"{taps} = ptr_int64({v['cols']})")
        self.emit(1, f"{out} = ptr_{spec.dtype}({v['out']})")
        bias = self.ns.fresh(f"{spec.hint}_biasp") if spec.bias else ""
        if spec.bias:
            self.emit(1, f"{bias} = ptr_{spec.dtype}({v['bias']})")
        self.emit(1, f"{ckk} = {v['c_in']} * {v['kh']} * {v['kw']}")
        self.emit(1, f"{r} = 0")
        self.emit(1, f"for {c} in range({v['c_in']}):")
        self.emit(2, f"for {i} in range({v['kh']}):")
        self.emit(3, f"for {j} in range({v['kw']}):")
        self.emit(4, f"{taps}[{r}] = {c} * {v['xs_c']} + {i} * {v['dil_h']} * {xs_h} + {j} * {v['dil_w']}")
        self.emit(4, f"{r} += 1")
        self.emit(1, f"for {n} in range(lo, hi):")
        self.emit(2, f"{n1} = {n} + 1")
        self.emit(2, f"{xn} = {v['x']} + {n} * {v['xs_n']} * {item}")
        common = f"{v['weight']}, {ckk}, {xn}, {v['cols']}"
        pack = f"{v['cols']} + {v['nn_off']}"
        if spec.taps == "rows":
            self.emit(2, f"for {oh} in range({ho}):")
            self.emit(3, f"gemm_taps_f32({common}, {v['out']} + ({n} * {v['img']} + {oh} * ({wo} - {xs_h})) * {item}, "
                         f"{v['ldc']}, {v['o']}, {ckk}, {oh} * {xs_h}, {oh} * {xs_h} + {wo}, {pack})")
            if spec.bias:
                self.add_bias(v, n, out, bias, f"{ho} * {wo}")
        else:
            wide = self.ns.fresh(f"{spec.hint}_widep")
            o, ow, bo, src, dst = (self.ns.fresh(h) for h in ("o", "ow", "bo", "src", "dst"))
            self.emit(2, f"{wide} = ptr_{spec.dtype}({v['cols']} + {v['wide_off']})")
            self.emit(2, f"gemm_taps_f32({common}, {v['cols']} + {v['wide_off']}, {v['pitch']}, {v['o']}, {ckk}, 0, "
                         f"({ho} - 1) * {xs_h} + {wo}, {pack})")
            self.emit(2, f"for {o} in range({v['o']}):")
            if spec.bias:
                self.emit(3, f"{bo} = {bias}[{o} * {v['bs']}]")
            self.emit(3, f"{src} = {o} * {v['pitch']}")
            self.emit(3, f"{dst} = {o} * {v['ldc']} + {n} * {v['img']}")
            self.emit(3, f"for {oh} in range({ho}):")
            self.emit(4, f"for {ow} in range({wo}):")
            self.emit(5, f"{out}[{dst} + {ow}] = {wide}[{src} + {ow}]" + (f" + {bo}" if spec.bias else ""))
            self.emit(4, f"{src} += {xs_h}")
            self.emit(4, f"{dst} += {wo}")
        self.images = (n, n1)

    def add_bias(self, v: dict[str, str], n: str, out: str, bias: str, hw: str) -> None:
        """``out[o, n] += bias[o]`` over image ``n``'s ``hw`` outputs of every channel ``o``."""
        o, q, base, bo = (self.ns.fresh(h) for h in ("o", "q", "ob", "bo"))
        self.emit(2, f"for {o} in range({v['o']}):")
        self.emit(3, f"{bo} = {bias}[{o} * {v['bs']}]")
        self.emit(3, f"{base} = {o} * {v['ldc']} + {n} * {v['img']}")
        self.emit(3, f"for {q} in range({hw}):")
        self.emit(4, f"{out}[{base} + {q}] = {out}[{base} + {q}] + {bo}")

    def im2col(self, spec: Gemm, v: dict[str, str], n: str, cols: str, x: str, hw: str) -> None:
        """Image ``n``'s im2col columns, element by element (any stride, dilation and padding)."""
        c, i, j, r, ho, wo, hin, row, xo, lo_w, hi_w, shift = (self.ns.fresh(h) for h in (
            "c", "ki", "kj", "r", "oh", "ow", "ih", "row", "xo", "ow_lo", "ow_hi", "iw0"))
        zero = f"np.{spec.dtype}(0)"
        self.emit(2, f"{r} = 0")
        self.emit(2, f"for {c} in range({v['c_in']}):")
        self.emit(3, f"for {i} in range({v['kh']}):")
        self.emit(4, f"for {j} in range({v['kw']}):")
        self.emit(5, f"{shift} = {j} * {v['dil_w']} - {v['pl']}")
        self.emit(5, f"{lo_w} = min(max(0, (-{shift} + {v['sw']} - 1) // {v['sw']}), {v['wo']})")
        self.emit(5, f"{hi_w} = min(max({lo_w}, ({v['w']} - {shift} + {v['sw']} - 1) // {v['sw']}), {v['wo']})")
        self.emit(5, f"for {ho} in range({v['ho']}):")
        self.emit(6, f"{hin} = {ho} * {v['sh']} + {i} * {v['dil_h']} - {v['pt']}")
        self.emit(6, f"{row} = {r} * {hw} + {ho} * {v['wo']}")
        self.emit(6, f"if {hin} < 0 or {hin} >= {v['h']}:")
        self.emit(7, f"for {wo} in range({v['wo']}):")
        self.emit(8, f"{cols}[{row} + {wo}] = {zero}")
        self.emit(6, "else:")
        self.emit(7, f"{xo} = {n} * {v['xs_n']} + {c} * {v['xs_c']} + {hin} * {v['xs_h']} + {shift} * {v['xs_w']}")
        self.emit(7, f"for {wo} in range({lo_w}):")
        self.emit(8, f"{cols}[{row} + {wo}] = {zero}")
        self.emit(7, f"for {wo} in range({lo_w}, {hi_w}):")
        self.emit(8, f"{cols}[{row} + {wo}] = {x}[{xo} + {wo} * {v['sw']} * {v['xs_w']}]")
        self.emit(7, f"for {wo} in range({hi_w}, {v['wo']}):")
        self.emit(8, f"{cols}[{row} + {wo}] = {zero}")
        self.emit(5, f"{r} += 1")

    def im2col_rows(self, spec: Gemm, v: dict[str, str], n: str, cols: str, x: str, hw: str, block: int,
                    x_lim: str) -> None:
        """Image ``n``'s im2col columns where each row is a contiguous run of the input (column
        stride 1, unit input stride), the columns' rows ``hw + block`` elements apart.  Per
        ``(channel, kernel row, kernel column)`` each output row is one ``row_copy_*`` call
        (``codegen.mathlib_windows``: the input's run in whole vectors of ``block`` elements, zeros
        where the window lies outside it).  A row's last vector may read and write up to
        ``block - 1`` elements past the row: it reads only below ``x_lim`` (an output row that would
        read further is copied element by element), and what it writes past the row lies in the
        next row, written afterwards, or in the ``block`` elements after the last, which the
        ``gemm`` never reads.  Rows above and below the input are zeroed in one run each, those
        below after the copies."""
        c, i, j, oh, row, xo, ih0, oh_a, oh_b, rb, reach, shift, lo, hi, hwp = (self.ns.fresh(h) for h in (
            "c", "ki", "kj", "oh", "row", "xo", "ih0", "oh_a", "oh_b", "rb", "reach", "iw", "lo_w", "hi_w", "hwp"))
        copy = f"row_copy_{'f32' if spec.dtype == 'float32' else 'f64'}"
        sh, wo = v["sh"], v["wo"]
        self.emit(2, f"{hwp} = {hw} + {block}")
        self.emit(2, f"for {c} in range({v['c_in']}):")
        self.emit(3, f"for {i} in range({v['kh']}):")
        self.emit(4, f"{ih0} = {i} * {v['dil_h']} - {v['pt']}")  # output rows oh_a <= oh < oh_b read the input
        self.emit(4, f"{oh_a} = min(max(0, (-{ih0} + {sh} - 1) // {sh}), {v['ho']})")
        self.emit(4, f"{oh_b} = min(max({oh_a}, ({v['h']} - {ih0} + {sh} - 1) // {sh}), {v['ho']})")
        self.emit(4, f"for {j} in range({v['kw']}):")  # kernel column j reads x[xo + ow] for lo <= ow < hi
        self.emit(5, f"{rb} = (({c} * {v['kh']} + {i}) * {v['kw']} + {j}) * {hwp}")
        self.emit(5, f"{shift} = {j} * {v['dil_w']} - {v['pl']}")
        self.emit(5, f"{lo} = min(max(0, -{shift}), {wo})")
        self.emit(5, f"{hi} = min(max({lo}, {v['w']} - {shift}), {wo})")
        self.emit(5, f"{reach} = {lo} + ({hi} - {lo} + {block - 1}) // {block} * {block}")
        self.emit(5, f"{copy}({cols}, {rb}, {x}, 0, 0, 0, {oh_a} * {wo}, False)")
        self.emit(5, f"{xo} = {n} * {v['xs_n']} + {c} * {v['xs_c']} + ({oh_a} * {sh} + {ih0}) * {v['xs_h']} + {shift}")
        self.emit(5, f"{row} = {rb} + {oh_a} * {wo}")
        self.emit(5, f"for {oh} in range({oh_a}, {oh_b}):")
        self.emit(6, f"{copy}({cols}, {row}, {x}, {xo}, {lo}, {hi}, {wo}, {xo} + {reach} <= {x_lim})")
        self.emit(6, f"{xo} += {sh} * {v['xs_h']}")
        self.emit(6, f"{row} += {wo}")
        self.emit(5, f"{copy}({cols}, {rb} + {oh_b} * {wo}, {x}, 0, 0, 0, {hw} - {oh_b} * {wo}, False)")

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
