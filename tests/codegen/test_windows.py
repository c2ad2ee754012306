"""Convolutions and max pooling in kernels: the vector-block paths (``codegen.kernel_convs``'
``im2col_rows`` and ``codegen.kernel_calls``' ``pool_block``) against the reference, over the
geometries the matchers accept.

Those paths copy rows and take window maxima in whole 64-byte vectors whose last one may reach
past a row; these tests cover the corners of that: rows shorter and longer than a vector, exactly
one, padding on either side, dilation, batch 1, float64, both thread splits, inputs that are views
(positive and negative strides), and an input that ends right before an unreadable page (a fresh
process: a read past the array would crash it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from codegen.plan import PlanOptions
from tests.codegen.helpers import FORCED, assert_close, run_both, trace_quietly
from tracer import functional as F

rng = np.random.default_rng(31)

#: the default plan, one thread per kernel, and every kernel split over the threads
OPTIONS = (PlanOptions(), FORCED, PlanOptions(parallel_work=1))


def arr(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def check(fn, inputs: tuple, options: tuple = OPTIONS) -> str:
    """Run ``fn`` on the numba backend under each of ``options`` against the interpreter; returns
    the kernels' source of the last plan."""
    sm = trace_quietly(fn, inputs)
    for opt in options:
        got, want, ex = run_both(sm, inputs, opt)
        assert_close(got, want)
        got_again, _, _ = run_both(sm, inputs, opt)  # a second call on the same arena
        assert_close(got_again, want)
    return "\n".join(k.text for k in ex.plan(inputs).kernels)


@pytest.mark.parametrize("width", [3, 13, 16, 17, 30])
@pytest.mark.parametrize("batch", [1, 3])
def test_stride_one_convolutions_over_row_widths(width, batch):
    # output rows of width-2 columns: under one vector, exactly one, one and a bit, several
    def f(x, w, b):
        return np.maximum(F.conv2d(x, w, b), 0.0)

    text = check(f, (arr(batch, 3, 7, width), arr(5, 3, 3, 3), arr(5)))
    assert "hwp" in text and "x_lim" in text  # the blocked im2col ran


@pytest.mark.parametrize("kwargs", [
    dict(padding=1), dict(padding=2), dict(padding=((0, 1), (2, 0))), dict(padding=((1, 0), (0, 3))),
    dict(dilation=2), dict(dilation=(1, 3), padding=2), dict(stride=(2, 1), padding=1), dict(padding="same"),
])
def test_stride_one_convolutions_with_padding_and_dilation(kwargs):
    x, w, b = arr(2, 4, 9, 19), arr(6, 4, 3, 3), arr(6)
    check(lambda x, w, b: F.conv2d(x, w, b, **kwargs) * 0.5, (x, w, b))


@pytest.mark.parametrize("kernel", [(1, 1), (2, 5), (5, 2), (3, 8), (1, 9), (2, 21)])
def test_kernel_shapes(kernel):
    # every kernel width copies rows in blocks (the kernel's columns are a loop, not written out);
    # 21 columns: one output column per row
    x, w = arr(2, 3, 12, 21), arr(4, 3, *kernel)
    text = check(lambda x, w: F.conv2d(x, w) + 1.0, (x, w))
    assert "hwp" in text and "row_copy_f32" in text


@pytest.mark.parametrize("stride", [(1, 2), (2, 3)])
def test_column_strides_copy_element_by_element(stride):
    # rows that are not contiguous runs of the input: the element-wise im2col
    x, w, b = arr(2, 3, 12, 21), arr(4, 3, 3, 3), arr(4)
    text = check(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=1) + 1.0, (x, w, b))
    assert "hwp" not in text and "row_copy" not in text


def test_float64_convolutions_and_pooling():
    x, w, b = arr(2, 3, 11, 14, dtype=np.float64), arr(4, 3, 3, 3, dtype=np.float64), arr(4, dtype=np.float64)

    def f(x, w, b):
        h = np.maximum(F.conv2d(x, w, b, padding=1), 0.0)
        return F.max_pool2d(h, 2), h.mean(axis=(2, 3))

    check(f, (x, w, b))


@pytest.mark.parametrize("view", ["channels", "rows", "flipped_rows", "flipped_columns"])
def test_convolutions_and_pooling_of_views(view):
    # inputs read through their strides: every other channel (positive strides), rows upside down
    # (a negative row stride: no vector may read past a row), columns reversed (no blocks at all)
    base = arr(3, 6, 10, 18)
    take = {"channels": lambda x: x[:, ::2], "rows": lambda x: x[:, :3, 1:],
            "flipped_rows": lambda x: x[:, :3, ::-1], "flipped_columns": lambda x: x[:, :3, :, ::-1]}[view]
    w = arr(4, 3, 3, 3)

    def f(x, w):
        v = take(x)
        return F.conv2d(v, w, padding=1), F.max_pool2d(v, 2), F.max_pool2d(v, 3, 1, padding=1)

    check(f, (base, w))


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2), dict(kernel_size=2, stride=1), dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=2, dilation=2),
    dict(kernel_size=(1, 4), stride=(1, 3)), dict(kernel_size=5, stride=1, padding=2),
])
@pytest.mark.parametrize("width", [7, 15, 33])
def test_max_pooling_over_row_widths(kwargs, width):
    x = arr(2, 5, 9, width)
    x[1, 2, 4, width // 2] = np.nan  # NaN propagates as in NumPy
    x[0, 1, 2, :3] = -np.inf
    sm = trace_quietly(lambda x: F.max_pool2d(x, **kwargs) * 1.0, (x,))
    for opt in OPTIONS:
        got, want, _ = run_both(sm, (x,), opt)
        np.testing.assert_array_equal(got, want)  # a max is exact: bit for bit


def test_max_pooling_of_a_batch_of_one_split_over_channels_rows():
    # the cnn's geometry at batch 1: one image, so one chunk; its last row has no row after it
    x, w, b = arr(1, 3, 32, 32), arr(16, 3, 3, 3), arr(16)

    def f(x, w, b):
        return F.max_pool2d(np.maximum(F.conv2d(x, w, b), 0.0), 2)

    text = check(f, (x, w, b))
    assert "pool_max_f32" in text  # whole blocks of windows (mathlib_windows)


def test_the_cnn_pipeline_matches_at_odd_sizes():
    # conv, relu, pool, conv, relu, global mean, linear: the zoo cnn's kernels at other sizes
    def f(x, w1, b1, w2, b2, fc):
        h = F.max_pool2d(np.maximum(F.conv2d(x, w1, b1), 0.0), 2)
        return np.maximum(F.conv2d(h, w2, b2), 0.0).mean(axis=(2, 3)) @ fc

    for n, size in ((1, 32), (5, 29), (2, 18), (3, 45)):
        check(f, (arr(n, 3, size, size), arr(16, 3, 3, 3), arr(16), arr(32, 16, 3, 3), arr(32), arr(32, 10)))


def test_grouped_convolutions_stay_correct():
    # the matcher takes groups=1 only; a grouped convolution runs on its reference
    x, w = arr(2, 4, 9, 9), arr(6, 2, 3, 3)
    check(lambda x, w: F.conv2d(x, w, groups=2) + 1.0, (x, w), (PlanOptions(),))


_GUARD_SCRIPT = """
import ctypes, mmap, warnings
import numpy as np
import tracer
from tests.codegen.helpers import FORCED, assert_close, run_both, trace_quietly
from codegen.plan import PlanOptions
from tracer import functional as F

page = mmap.PAGESIZE
def guarded(shape, dtype):
    # an array whose last byte is the last one before a page that cannot be read
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    pages = -(-nbytes // page) + 1
    mm = mmap.mmap(-1, pages * page)
    buf = np.frombuffer(mm, np.uint8)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(buf.ctypes.data + (pages - 1) * page, page, 0) == 0
    start = (pages - 1) * page - nbytes
    return np.ndarray(shape, dtype, buffer=mm, offset=start), mm

rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    for shape in ((1, 3, 9, 13), (2, 3, 8, 30), (3, 2, 5, 16)):
        x, mm = guarded(shape, dtype)
        x[...] = rng.standard_normal(shape)
        for filters in (4, 16):  # im2col; 16: float32 reads the input by taps (codegen.mathlib_gemm_nn)
            w = rng.standard_normal((filters, shape[1], 3, 3)).astype(dtype)
            def f(x, w):
                return F.conv2d(x, w), F.conv2d(x, w, padding=1), F.max_pool2d(x, 2), F.max_pool2d(x, 3, 1, padding=1)
            sm = trace_quietly(f, (x, w))
            for opt in (PlanOptions(), FORCED, PlanOptions(parallel_work=1)):
                got, want, _ = run_both(sm, (x, w), opt)
                assert_close(got, want)
print("ok")
"""


def test_no_read_past_an_input_that_ends_before_an_unreadable_page():
    # a fresh process: reading one element past the input would end it with SIGSEGV
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_GUARD_SCRIPT)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), (proc.returncode, proc.stdout, proc.stderr)
