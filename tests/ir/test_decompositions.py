"""Each decomposition (a NumPy function written over registered ops) equals NumPy's own function
bit for bit on plain arrays, and the NumPy surface covers SPEC's list of functions.

No tracing here: the decompositions run eagerly on NumPy arrays, so these checks are fast and many.
Tracing them is covered by the op table (tests/op_table_numpy.py).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from ir.ops import decomposition_for, numpy_surface, op_for_numpy

rng = np.random.default_rng(7)

DTYPES = (np.float32, np.float64, np.int32, np.int64, np.bool_)


def arr(shape, dtype=np.float32):
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-9, 9, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def same(got, want):
    """Same structure, type, dtype, shape and bits (NaNs equal)."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, type(want)) and len(got) == len(want), (type(got), type(want))
        for g, w in zip(got, want):
            same(g, w)
        return
    if isinstance(want, (np.ndarray, np.generic)):
        assert isinstance(got, (np.ndarray, np.generic)), type(got)
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert np.shape(got) == np.shape(want), (np.shape(got), np.shape(want))
        assert np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"), (got, want)
        return
    if isinstance(want, float) and np.isnan(want):
        assert np.isnan(got)
        return
    assert type(got) is type(want) and got == want, (got, want)


def check(fn, *args, **kwargs):
    """The decomposition registered for ``fn`` gives what ``fn`` gives."""
    decomp = decomposition_for(fn)
    assert decomp is not None, f"np.{fn.__name__} has no decomposition"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = fn(*args, **kwargs)
        got = decomp(*args, **kwargs)
    same(got, want)


SHAPES = [(), (4,), (3, 4), (2, 3, 4), (1, 5), (5, 1), (0, 3)]


@pytest.mark.parametrize("fn", [np.atleast_1d, np.atleast_2d, np.atleast_3d])
def test_atleast(fn):
    for shape, dt in itertools.product(SHAPES, DTYPES):
        check(fn, arr(shape, dt))
    check(fn, arr((2,)), arr(()), arr((2, 3, 4, 1)))
    check(fn, 3.5)


@pytest.mark.parametrize("fn", [np.hstack, np.vstack, np.dstack, np.column_stack])
def test_stacks(fn):
    for shape, dt in itertools.product([(), (4,), (4, 1), (4, 3), (4, 3, 2)], DTYPES):
        if fn is np.hstack and shape == ():
            check(fn, [arr(shape, dt), arr(shape, dt), arr(shape, np.float32)])
            continue
        a, b = arr(shape, dt), arr(shape, np.int8)
        if fn is np.column_stack and len(shape) > 2:
            continue
        check(fn, [a, b])
        check(fn, (a,))
    check(fn, [arr((4,), np.int32), arr((4,), np.float32)])
    if fn in (np.hstack, np.vstack):
        check(fn, [arr((3,), np.int32), arr((3,), np.float64)], dtype=np.float32)
        check(fn, [arr((2, 3)), arr((2, 3))], dtype=np.float64, casting="safe")
        with pytest.raises(TypeError):
            decomposition_for(fn)([arr((2, 3)), arr((2, 3))], dtype=np.int32)


def test_array_split():
    for n, k, axis in itertools.product(range(0, 9), range(1, 6), (0, -1)):
        a = arr((n, 3) if axis == 0 else (2, n))
        check(np.array_split, a, k, axis=axis)
    for idx in ([1, 3], [0, 2, 2], [3, 1], [-2], [1, 10], ()):
        check(np.array_split, arr((6, 2)), idx)
        check(np.array_split, arr((2, 6)), idx, axis=1)
    check(np.array_split, arr((5,), np.int32), np.array([2, 4]))


def test_broadcast_arrays_and_meshgrid():
    for shapes in [[(3, 1), (1, 4)], [(4,), (3, 4)], [(2, 1, 3), (4, 1), ()], [(0, 1), (1, 3)], [(5,)]]:
        check(np.broadcast_arrays, *(arr(s, dt) for s, dt in zip(shapes, DTYPES)))
    for n in range(0, 4):
        xs = [arr((k + 1,), dt) for k, dt in zip(range(n), DTYPES)]
        for indexing, sparse, copy in itertools.product(("xy", "ij"), (False, True), (True, False)):
            check(np.meshgrid, *xs, indexing=indexing, sparse=sparse, copy=copy)
    check(np.meshgrid, arr((2, 2)), arr((3,)))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_pad(mode):
    widths = [0, 1, 2, (1, 2), ((0, 1), (2, 0)), ((3, 0),), [[1], [2]], (7, 9), np.array([2, 1])]
    for shape, dt, w in itertools.product([(1,), (3,), (4, 3), (2, 1), (3, 2, 2)], DTYPES, widths):
        try:
            np.pad(np.zeros(shape), w, mode=mode)
        except ValueError:
            continue
        check(np.pad, arr(shape, dt), w, mode=mode)
    if mode == "constant":
        check(np.pad, arr((3, 4)), ((1, 2), (3, 1)), constant_values=((1.5, -2), (7, 9)))
        check(np.pad, arr((3, 4), np.int32), 2, constant_values=2.7)
        check(np.pad, arr((3,), np.bool_), 1, mode="constant", constant_values=1)
        check(np.pad, arr((3, 4)), 1, "constant", constant_values=(-1, 1))
        check(np.pad, arr((0, 2)), 1)
    with pytest.raises(TypeError):
        decomposition_for(np.pad)(arr((3,)), 1.5, mode=mode)
    with pytest.raises(ValueError):
        decomposition_for(np.pad)(arr((3,)), -1, mode=mode)


def test_pad_refuses_other_modes():
    with pytest.raises(ValueError, match="not supported"):
        decomposition_for(np.pad)(arr((3,)), 1, mode="median")
    with pytest.raises(ValueError, match="odd"):
        decomposition_for(np.pad)(arr((3,)), 1, mode="reflect", reflect_type="odd")


def test_flip_roll_tile():
    for shape, dt in itertools.product([(4,), (3, 4), (2, 3, 4), (0, 2)], DTYPES):
        a = arr(shape, dt)
        check(np.flip, a)
        check(np.flipud, a)
        for axis in range(-a.ndim, a.ndim):
            check(np.flip, a, axis)
        if a.ndim >= 2:
            check(np.fliplr, a)
            check(np.flip, a, (0, -1))
        for shift in (0, 1, -1, 3, 7, -13):
            check(np.roll, a, shift)
            for axis in range(-a.ndim, a.ndim):
                check(np.roll, a, shift, axis)
        if a.ndim >= 2:
            check(np.roll, a, (1, -2), (0, 1))
            check(np.roll, a, (1, 2), 0)
            check(np.roll, a, 2, (0, 1))
            check(np.roll, a, (1, 2), (1, 1))
        for reps in (1, 2, (2, 1), (1, 3), (2, 1, 2), 0, (1, 1, 1, 1)):
            check(np.tile, a, reps)
    check(np.flip, arr(()))
    check(np.tile, arr(()), 3)
    check(np.tile, arr(()), ())


def test_diff():
    for shape, dt in itertools.product([(5,), (3, 4), (2, 3, 4), (1,), (0,)], DTYPES):
        a = arr(shape, dt)
        for n in (0, 1, 2, 3):
            check(np.diff, a, n)
            check(np.diff, a, n, 0)
        check(np.diff, a, prepend=0)
        check(np.diff, a, append=arr(shape[:-1] + (2,), dt), prepend=1.5)
    with pytest.raises(ValueError):
        decomposition_for(np.diff)(arr(()))


def test_take_along_axis():
    for shape in [(5,), (3, 4), (2, 3, 4)]:
        a = arr(shape)
        for axis in range(-len(shape), len(shape)):
            ishape = list(shape)
            ishape[axis] = 6
            idx = rng.integers(-shape[axis], shape[axis], ishape)
            check(np.take_along_axis, a, idx, axis)
            check(np.take_along_axis, a, np.argsort(a, axis=axis), axis=axis)
    check(np.take_along_axis, arr((3, 4)), rng.integers(0, 12, (5,)), None)


def test_creation():
    for n, m, k, dt in itertools.product((0, 1, 3, 5), (None, 0, 2, 4), (-6, -1, 0, 1, 3), (float, np.int32, bool,
                                                                                            np.float32)):
        check(np.tri, n, m, k, dt)
        check(np.eye, n, m, k, dt)
    check(np.tri, 3)
    check(np.eye, 4, dtype=np.int64)
    check(np.identity, 3)
    check(np.identity, 2, dtype=bool)
    for shape, dt in itertools.product([(4,), (3, 4), (4, 3), (2, 3, 5), (0, 2)], DTYPES):
        a = arr(shape, dt)
        for k in (-2, -1, 0, 1, 4):
            check(np.tril, a, k)
            check(np.triu, a, k)
    assert decomposition_for(np.empty)((2, 3), np.int32).tolist() == [[0] * 3] * 2
    assert decomposition_for(np.empty_like)(arr((2,), np.float32)).dtype == np.float32
    assert decomposition_for(np.empty_like)(arr((2,)), dtype=np.int8, shape=(3, 1)).shape == (3, 1)


def test_linspace():
    cases = [(0, 1), (0.0, 1.0), (-3, 7), (2.5, -1.25), (1, 1), (0, 1e-320), (np.float32(0), np.float32(3)),
             (0, np.float32(2)), (np.int32(1), 9), (arr((3,)), arr((3,))), (arr((2, 1)), 5),
             (0, arr((4,), np.float64)), (np.int64(3), arr((2,), np.int32)), (arr((2,), np.float32), 0.1)]
    for (start, stop), num, endpoint in itertools.product(cases, (0, 1, 2, 3, 7, 50), (True, False)):
        check(np.linspace, start, stop, num, endpoint=endpoint)
        check(np.linspace, start, stop, num, endpoint, True)
    for dtype in (np.int32, np.float32, int, np.int8):
        check(np.linspace, -2.5, 9, 7, dtype=dtype)
    check(np.linspace, arr((2, 3)), 4, 5, axis=1)
    check(np.linspace, arr((2, 3)), 4, 5, axis=-1)


def test_products():
    for (sa, sb), dt in itertools.product([((4,), (4,)), ((3, 4), (4,)), ((3, 4), (5, 4)), ((2, 3, 4), (5, 4)),
                                           ((), (3,)), ((3, 4), (2, 5, 4))], DTYPES):
        a, b = arr(sa, dt), arr(sb, dt)
        check(np.inner, a, b)
        check(np.outer, a, b)
        check(np.inner, a, arr(sb, np.float32))
    for dt in DTYPES:
        check(np.vdot, arr((3, 4), dt), arr((12,), dt))
        check(np.vdot, arr((5,), dt), arr((5,), np.float64))
        check(np.vdot, arr((300,), dt), arr((300,), dt))
    for sa, sb, axes in [((3, 4, 5), (4, 5, 2), 2), ((3, 4), (4, 5), 1), ((2, 3), (4,), 0),
                         ((3, 4, 5), (5, 3, 2), ([0, 2], [1, 0])), ((4, 3), (4, 2), (0, 0)),
                         ((2, 3, 4), (4, 3, 2), ((-1, -2), (0, 1))), ((6, 7), (6, 7), 2)]:
        for dt in DTYPES:
            check(np.tensordot, arr(sa, dt), arr(sb, dt), axes)
    with pytest.raises(ValueError):
        decomposition_for(np.tensordot)(arr((3, 4)), arr((5, 2)), 1)


def test_isclose_allclose():
    special = np.array([0.0, 1.0, np.nan, np.inf, -np.inf, 1e-9, -0.0, 1.00001], np.float64)
    for x, y in [(special[:, None], special[None, :]), (arr((3, 4)), arr((4,))), (arr((5,), np.int32), 3),
                 (arr((3,), np.float32), arr((3,), np.float32) * 1.000001), (2, arr((3,), np.float32)),
                 (arr((3,), np.bool_), arr((3,), np.bool_)), (1.0, 1.0 + 1e-9), (3, 3)]:
        for rtol, atol, equal_nan in [(1e-5, 1e-8, False), (0.0, 0.5, True), (1e-3, 0.0, False)]:
            check(np.isclose, x, y, rtol, atol, equal_nan)
            check(np.allclose, x, y, rtol=rtol, atol=atol, equal_nan=equal_nan)


#: SPEC's list of NumPy functions ("The user's side"), with the ufunc helper's share marked.
SPEC_FUNCTIONS = """hstack vstack dstack column_stack concatenate stack split array_split pad repeat tile flip roll
tri triu tril eye identity outer inner dot vdot tensordot einsum matmul cumsum cumprod diff sort argsort take
take_along_axis where clip round logaddexp logaddexp2 isclose allclose heaviside maximum minimum linalg.norm
linalg.inv linalg.solve linalg.det empty empty_like zeros ones full arange linspace meshgrid broadcast_arrays
atleast_1d atleast_2d squeeze expand_dims moveaxis swapaxes ravel sign abs""".split()
#: Owned by the ufunc/scan/sort/linalg work (checked here only once they are registered).
OTHER_OWNER = {"cumsum", "cumprod", "sort", "argsort", "round", "logaddexp", "logaddexp2", "heaviside",
               "linalg.norm", "linalg.inv", "linalg.solve", "linalg.det"}


def test_numpy_surface_covers_spec():
    surface = numpy_surface()
    names = {"abs": "absolute"}
    missing = [n for n in SPEC_FUNCTIONS if n not in OTHER_OWNER and names.get(n, n) not in surface]
    assert not missing, f"SPEC functions without an op or a decomposition: {missing}"
    for name in ("atleast_3d", "fliplr", "flipud"):
        assert name in surface


def test_decompositions_are_not_ops():
    """A NumPy function is either an op's alias or a decomposition, never both."""
    for name, fn in numpy_surface().items():
        assert (op_for_numpy(fn) is None) != (decomposition_for(fn) is None), name
