"""The calls a generated kernel makes for its convolutions (``codegen.kernels``): per image of the
chunk, im2col columns and a ``gemm`` (BLAS or ``codegen.mathlib_gemm_nn``), or the input read by
taps (``gemm_taps_f32``: in place, or from a zero-bordered copy), then the bias.  A mixin of
``codegen.kernel_calls.Calls``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernels import Gemm

__all__ = ["Convs", "IM2COL_SLACK", "WINDOW", "im2col_block"]

#: Elements of slack after each row of a convolution's im2col columns, which the row's last vector
#: copy may write (``Convs.im2col_rows``: up to one 64-byte vector less one element).
IM2COL_SLACK = 16

#: Frame parameters of a window op (convolution, pooling) over an ``(N, C, H, W)`` input ``x``.
WINDOW = ("c_in", "h", "w", "kh", "kw", "sh", "sw", "dil_h", "dil_w", "pt", "pl", "ho", "wo",
          "x", "xs_n", "xs_c", "xs_h", "xs_w", "out")


def im2col_block(spec: Gemm) -> int:
    """Elements per vector copy of a convolution's im2col rows (one 64-byte vector;
    ``Convs.im2col_rows``), or 0 where rows are not contiguous runs of the input (a column stride
    or input stride other than 1)."""
    consts = dict(spec.consts)
    if consts.get("sw") != 1 or consts.get("xs_w") != 1:
        return 0
    return 64 // (4 if spec.dtype == "float32" else 8)


class Convs:
    """``Calls``' emitters for convolutions (``conv``)."""

    def conv(self, g: int, spec: Gemm, call: str, item: int) -> None:
        """Phase 1 of a convolution: per image of this chunk, im2col, ``gemm``, bias (the
        reference's sequence, ``ir.ops``: one ``gemm`` per image, then ``+= bias``; on our own
        single-threaded BLAS its sums differ within SPEC's bound, on NumPy's it gives NumPy's bits,
        ``codegen.plan``'s ``blas_for``)."""
        keys = ("fn", *WINDOW, "o", "weight", "cols", "img", "ldc") + (("bias", "bs") if spec.bias else ()) \
            + (("nn_off",) if spec.nn else ()) + (("pitch", "wide_off") if spec.taps == "wide" else ()) \
            + (("hp", "wp", "pad_off") if spec.copy else ())
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
        """Phase 1 of a convolution that reads its input by taps, no im2col (``Gemm.taps``,
        ``codegen.mathlib_gemm_nn.conv_taps``): the taps' offsets into this chunk's scratch once,
        then per image ``gemm_taps_f32``: ``"rows"``, once per output row, stored in place (the
        result's address moved back so that wide column ``oh * xs_h + ow`` lands on output ``oh *
        wo + ow``), then the bias added; ``"wide"``, once into the wide result in scratch (rows
        ``pitch`` floats apart), whose outputs are copied into place with the bias added (the
        reference's order either way: the product, then ``+= bias``).  With ``Gemm.copy``, the taps
        read a zero-bordered copy of each image in scratch (rows ``wp`` floats), whose borders are
        zeroed once per chunk and whose inside each image overwrites."""
        taps, out = self.ns.fresh(f"{spec.hint}_taps"), self.ns.fresh(f"{spec.hint}_outp")
        ckk, n, n1, oh, xn = (self.ns.fresh(h) for h in ("ckk", "n", "n1", "oh", "xn"))
        ho, wo, xs_h = v["ho"], v["wo"], v["xs_h"]
        xs_c = v["xs_c"]
        if spec.copy:
            xs_h, xs_c = v["wp"], f"{v['hp']} * {v['wp']}"
        self.emit(1, f"{taps} = ptr_int64({v['cols']})")
        self.emit(1, f"{out} = ptr_{spec.dtype}({v['out']})")
        bias = self.ns.fresh(f"{spec.hint}_biasp") if spec.bias else ""
        if spec.bias:
            self.emit(1, f"{bias} = ptr_{spec.dtype}({v['bias']})")
        self.emit(1, f"{ckk} = {v['c_in']} * {v['kh']} * {v['kw']}")
        self.tap_offsets(v, taps, xs_c, xs_h)
        if spec.copy:
            padded = self.ns.fresh(f"{spec.hint}_padp")
            self.emit(1, f"{padded} = ptr_{spec.dtype}({v['cols']} + {v['pad_off']})")
            self.zero_borders(spec, v, padded)
        self.emit(1, f"for {n} in range(lo, hi):")
        self.emit(2, f"{n1} = {n} + 1")
        if spec.copy:
            self.copy_inside(spec, v, n, padded)
            self.emit(2, f"{xn} = {v['cols']} + {v['pad_off']}")
        else:
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

    def tap_offsets(self, v: dict[str, str], taps: str, xs_c: str, xs_h: str) -> None:
        """``taps[(c * kh + i) * kw + j]``: where tap ``(c, i, j)``'s run starts in an image (elements;
        channels ``xs_c`` and rows ``xs_h`` apart)."""
        r, c, i, j = (self.ns.fresh(h) for h in ("r", "c", "ki", "kj"))
        self.emit(1, f"{r} = 0")
        self.emit(1, f"for {c} in range({v['c_in']}):")
        self.emit(2, f"for {i} in range({v['kh']}):")
        self.emit(3, f"for {j} in range({v['kw']}):")
        self.emit(4, f"{taps}[{r}] = {c} * ({xs_c}) + {i} * {v['dil_h']} * {xs_h} + {j} * {v['dil_w']}")
        self.emit(4, f"{r} += 1")

    def zero_borders(self, spec: Gemm, v: dict[str, str], padded: str) -> None:
        """The zero-bordered buffer, all zeros (its inside is each image's, copied per image)."""
        q = self.ns.fresh("q")
        self.emit(1, f"for {q} in range({v['c_in']} * {v['hp']} * {v['wp']}):")
        self.emit(2, f"{padded}[{q}] = np.{spec.dtype}(0)")

    def copy_inside(self, spec: Gemm, v: dict[str, str], n: str, padded: str) -> None:
        """Image ``n`` into the inside of the zero-bordered buffer (any strides)."""
        x, c, i, j, src, dst = (self.ns.fresh(h) for h in (f"{spec.hint}_xp", "c", "ih", "iw", "src", "dst"))
        self.emit(2, f"{x} = ptr_{spec.dtype}({v['x']})")
        self.emit(2, f"for {c} in range({v['c_in']}):")
        self.emit(3, f"for {i} in range({v['h']}):")
        self.emit(4, f"{src} = {n} * {v['xs_n']} + {c} * {v['xs_c']} + {i} * {v['xs_h']}")
        self.emit(4, f"{dst} = ({c} * {v['hp']} + {i} + {v['pt']}) * {v['wp']} + {v['pl']}")
        self.emit(4, f"for {j} in range({v['w']}):")
        self.emit(5, f"{padded}[{dst} + {j}] = {x}[{src} + {j} * {v['xs_w']}]")

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

