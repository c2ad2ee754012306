"""``codegen.gemm_f32``: the float32 matmul over a weight packed once, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from codegen import gemm_f32 as G
from tests.codegen.helpers import assert_within_spec


def _run(a: np.ndarray, packed: np.ndarray, k: int, c: np.ndarray, lo: int, hi: int) -> None:
    """``c[:, lo:hi] = a @ B[:, lo:hi]``; ``a`` and ``c`` may be row slices of larger arrays."""
    assert a.strides[1] == 4 and c.strides[1] == 4
    G.gemm_f32(a.ctypes.data, a.strides[0] // 4, packed.ctypes.data, k, c.ctypes.data, c.strides[0] // 4,
               a.shape[0], lo, hi)


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)


SHAPES = [  # m, k, n
    (64, 784, 1024), (64, 1024, 512), (1, 1, 1), (1, 37, 1), (1, 1, 33), (5, 1, 70), (3, 1100, 7), (13, 70, 95),
    (8, 512, 32), (9, 513, 31), (15, 1025, 65), (16, 2, 64), (7, 600, 100), (130, 257, 48),
]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matches_numpy_on_all_columns(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    _run(a, G.pack(b), k, c, 0, n)
    assert_within_spec(c, _reference(a, b), f"{m}x{k}x{n}")


@pytest.mark.parametrize("lo,hi", [(0, 50), (50, 100), (32, 64), (31, 33), (5, 6), (64, 101), (100, 101), (7, 7)])
def test_column_ranges_write_only_their_columns(lo, hi):
    m, k, n = 11, 300, 101
    rng = np.random.default_rng(lo * 7 + hi)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), -7.0, np.float32)
    _run(a, G.pack(b), k, c, lo, hi)
    want = np.full((m, n), -7.0, np.float32)
    want[:, lo:hi] = _reference(a, b)[:, lo:hi]
    np.testing.assert_array_equal(c[:, :lo], want[:, :lo])
    np.testing.assert_array_equal(c[:, hi:], want[:, hi:])
    assert_within_spec(c[:, lo:hi], want[:, lo:hi])


def test_leading_dimensions_of_a_and_c():
    m, k, n = 21, 700, 90
    rng = np.random.default_rng(3)
    big_a = rng.standard_normal((m, k + 45)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    big_c = np.full((m, n + 13), -3.0, np.float32)
    a, c = big_a[:, 5:5 + k], big_c[:, 13:]
    _run(a, G.pack(b), k, c, 0, n)
    assert_within_spec(c, _reference(a, b))
    np.testing.assert_array_equal(big_c[:, :13], -3.0)


def test_linear_packing_equals_packing_the_transpose():
    rng = np.random.default_rng(4)
    for n, k in ((1, 1), (31, 5), (32, 9), (33, 17), (100, 64)):
        w = rng.standard_normal((n, k)).astype(np.float32)
        packed = G.pack_linear(w)
        np.testing.assert_array_equal(packed, G.pack(np.ascontiguousarray(w.T)))
        assert packed.dtype == np.float32 and packed.size == G.packed_size(k, n)
        panels = packed.reshape(-1, k, G.NR)
        np.testing.assert_array_equal(panels.transpose(1, 0, 2).reshape(k, -1)[:, :n], w.T)
        assert not panels.transpose(1, 0, 2).reshape(k, -1)[:, n:].any()  # zero padding


def test_empty_k_stores_zeros_and_empty_ranges_write_nothing():
    a = np.ones((5, 0), np.float32)
    packed = G.pack(np.ones((0, 40), np.float32))
    c = np.full((5, 40), np.nan, np.float32)
    G.gemm_f32(a.ctypes.data, 0, packed.ctypes.data, 0, c.ctypes.data, 40, 5, 0, 40)
    np.testing.assert_array_equal(c, 0.0)
    c[:] = np.nan
    G.gemm_f32(a.ctypes.data, 0, packed.ctypes.data, 0, c.ctypes.data, 40, 5, 10, 10)
    G.gemm_f32(a.ctypes.data, 0, packed.ctypes.data, 0, c.ctypes.data, 40, 0, 0, 40)
    assert np.isnan(c).all()


def test_nan_and_infinities_propagate():
    m, k, n = 10, 600, 70  # two K blocks
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    a[1, 3] = np.nan  # row 1 all NaN
    a[2, 550] = np.inf  # row 2: +-inf by the sign of b[550]
    b[7, 5] = np.inf  # column 5: inf * a[:, 7]
    a[4, 7] = 0.0  # ... and 0 * inf = NaN in row 4
    b[100, 69] = -np.inf  # last column, in the padded panel
    a[9, 100] = np.nan
    c = np.zeros((m, n), np.float32)
    _run(a, G.pack(b), k, c, 0, n)
    with np.errstate(invalid="ignore", over="ignore"):
        want = _reference(a, b)
    assert np.isnan(want[1]).all() and np.isnan(want[4, 5])
    assert_within_spec(c, want)


def test_available_says_whether_the_cpu_has_avx512():
    import llvmlite.binding as llvm

    assert G.available() == ("+avx512f" in llvm.get_host_cpu_features().flatten())
