"""Item assignment, in-place operators and views on traced arrays follow NumPy (tracer.views)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import tracer
from tests.helpers import assert_same, line_of, trace_quiet
from tracer import nn

rng = np.random.default_rng(7)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)








def _check(fn, inputs, other):
    """Traced equals eager bit for bit at the traced sizes, at other sizes, and after save/load."""
    sm = trace_quiet(fn, *inputs)
    for ins in (inputs, other):
        assert_same(sm(*(a.copy() for a in ins)), fn(*(a.copy() for a in ins)))
    buf = io.BytesIO()
    tracer.save(sm, buf)
    buf.seek(0)
    loaded = tracer.load(buf).set_backend("interpreter")
    assert_same(loaded(*(a.copy() for a in other)), fn(*(a.copy() for a in other)))
    return sm


def test_rope_writes_into_strided_slices_of_an_empty_like():
    def rope(x):
        x = np.asarray(x, dtype=np.float32)
        out = np.empty_like(x)
        out[..., 0::2] = x[..., 0::2] * 0.6 - x[..., 1::2] * 0.8
        out[..., 1::2] = x[..., 1::2] * 0.6 + x[..., 0::2] * 0.8
        return out

    sm = _check(rope, (f32(2, 4, 8),), (f32(1, 6, 8),))
    assert "ops.setitem(" in sm.code


def test_one_hot_into_np_zeros_follows_the_index_input():
    def one_hot(idx):
        n = len(idx)
        z = np.zeros((n, 5))
        z[np.arange(n), idx] = 1
        return z

    _check(one_hot, (np.array([1, 4, 0]),), (np.array([2, 2, 3, 1, 0, 4]),))

    def one_hot_fixed(idx):  # constant sizes: the index is still the program's input, never baked
        z = np.zeros((3, 5), dtype=np.float32)
        z[np.arange(3), idx] = 1
        return z

    _check(one_hot_fixed, (np.array([1, 4, 0]),), (np.array([3, 3, 2]),))


def test_arrays_made_in_forward_accept_traced_writes_and_keep_constant_sizes():
    def f(x):
        z = np.full((2, 3), 0.5, dtype=np.float32)
        o = np.ones_like(z)
        e = np.zeros_like(np.empty((4,)))
        z[0] = x[0, :3]
        o[:, 1] += x[1, :2]
        e[1:] = x.sum()
        return z * len(z), o, e

    sm = _check(f, (f32(3, 4),), (f32(5, 3),))
    assert "CONSTANTS" not in sm.code, "made by creation ops in the program, not stored"


def test_in_place_operators_write_into_the_array_and_its_views():
    def f(x, y):
        x = x.copy()
        alias, view = x, x[1:]
        x += y
        x *= 2
        x[0] /= 4
        return alias, view, x

    _check(f, (f32(4, 3), f32(3)), (f32(6, 3), f32(3)))


def test_in_place_casting_and_shape_rules_are_numpys():
    def int_div(x):
        y = x.astype(np.int32)
        y /= 2  # NumPy: cannot cast float64 to int32 with same_kind
        return y

    with pytest.raises(TypeError):
        int_div(f32(3))
    with pytest.raises(tracer.TracingError, match="same_kind"):
        tracer.trace(int_div, (f32(3),))

    def widen(x, y):
        x = x.copy()
        x += y  # (3, 1) += (3, 4): NumPy refuses
        return x

    with pytest.raises(ValueError):
        widen(f32(3, 1), f32(3, 4))
    with pytest.raises(tracer.TracingError, match="shape"):
        tracer.trace(widen, (f32(3, 1), f32(3, 4)))


def test_views_see_writes_to_their_base_and_writes_through_views_reach_it():
    def f(x):
        x = x.copy()
        row, t, flat, moved = x[0], x.T, x.reshape(-1), np.moveaxis(x[None], 0, -1)
        x[0, 1] = 5
        x[1][2] = -1
        v = x[:, :2]
        v[...] = 0
        t[-1] = 7
        flat[3] = 9
        np.swapaxes(x, 0, 1)[0, -1] = 3
        moved[..., 0][1, 0] = 8
        return x, row, t, flat, v, moved

    _check(f, (f32(3, 4),), (f32(5, 4),))


def test_copies_are_independent():
    def f(x):
        a = x.copy()
        b = np.array(x)
        c = np.copy(x)
        d = np.ascontiguousarray(x.T)  # x.T is not contiguous: NumPy copies
        a[0] = 1
        b[1] = 2
        c[:, 0] = 3
        d[0] = 4
        return x, a, b, c, d

    _check(f, (f32(3, 3),), (f32(4, 3),))


def test_asarray_and_friends_return_the_traced_array():
    def f(x):
        x = np.asarray(x)
        same = np.asarray(x) is x and np.asanyarray(x) is x and np.ascontiguousarray(x) is x
        h = np.asarray(x, dtype=np.float64)
        y = np.array([x[0], x[1]])
        x[0] = 0  # asarray(x) is x, so the write is seen through every name
        return x, h, y, np.float32(same)

    sm = _check(f, (f32(3, 2),), (f32(4, 2),))
    assert sm(f32(3, 2))[3] == 1


def test_writes_into_module_state_are_refused_with_the_line():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = f32(3)

        def forward(self, x):
            self.w[0] = x[0]  # STATE-WRITE
            return x + self.w

    with pytest.raises(tracer.TracingError, match="parameter or buffer 'w'") as info:
        tracer.trace(M(), (f32(3),))
    assert f"test_item_assignment.py:{line_of(__file__, 'STATE-WRITE')}" in str(info.value)
    assert "copy()" in str(info.value)


def test_what_cannot_be_followed_is_refused_with_the_line():
    def through_split(x):
        a, b = np.split(x, 2)
        a[0] = 1  # SPLIT-WRITE
        return x

    with pytest.raises(tracer.TracingError, match="np.split") as info:
        tracer.trace(through_split, (f32(4, 2),))
    assert f"test_item_assignment.py:{line_of(__file__, 'SPLIT-WRITE')}" in str(info.value)

    def read_only(x):
        y = np.broadcast_to(x, (3, 2))
        y[0] = 1
        return y

    with pytest.raises(tracer.TracingError, match="read-only"):
        tracer.trace(read_only, (f32(2),))

    def numpy_scalar(x):
        s = x.sum()
        s[()] = 1
        return s

    with pytest.raises(TypeError, match="does not support item assignment"):
        tracer.trace(numpy_scalar, (f32(2),))


def test_plain_arrays_indexed_or_written_with_traced_values_say_to_make_them_buffers():
    table = f32(10, 2)

    def f(ids):
        return table[ids]

    with pytest.raises(tracer.TracingError, match="parameter or a buffer"):
        tracer.trace(f, (np.array([1, 2]),))


def test_numpy_types_keep_working_inside_traced_code():
    def f(x):
        assert isinstance(np.float32(2), np.float32) and issubclass(np.float32, np.floating)
        ok = x.dtype == np.float32 and np.dtype(np.float32) == x.dtype and np.issubdtype(x.dtype, np.floating)
        z = np.zeros(3, dtype=np.float32)
        eps = np.float32(1e-5)
        assert isinstance(eps, np.float32) and not isinstance(1.0, np.float32)
        return x.astype(np.float64) + eps + ok, z.dtype == np.float32

    sm = trace_quiet(f, f32(2, 3))
    got, flag = sm(f32(2, 3))
    assert got.dtype == np.float64 and flag


@pytest.mark.parametrize("const", [np.float16(1.5), np.float32(1e-5), np.float64(0.1), np.int8(-3), np.int16(7),
                                   np.int32(-9), np.int64(2**40), np.uint8(200), np.bool_(True)],
                         ids=lambda c: type(c).__name__)
def test_numpy_scalar_constants_of_every_dtype_are_embedded(const):
    def f(x):
        return x * const, np.asarray(const) + x.astype(const.dtype)

    _check(f, (f32(3),), (f32(5),))


def test_in_place_methods_and_flatten_copies():
    def f(x):
        x = x.copy()
        row, flat, rav = x[0], x.flatten(), x.ravel()
        x[:, 1:] = np.sort(x[:, 1:], axis=0)
        x[1].fill(2.5)
        flat[0] = 100  # a copy: x does not see it
        rav[1] = -100  # a view: x sees it
        return x, row, flat, rav

    _check(f, (f32(3, 4),), (f32(5, 4),))


def test_a_view_read_after_its_base_changed_is_data_not_a_constant():
    def f(x):
        z = np.zeros((3, 2), np.float32)
        v = z[0]
        z[0] = x[0]
        return z + 1 if v.sum() > 0 else z - 1  # BRANCH-LINE: v holds x's data now

    with pytest.warns(tracer.TracerWarning, match="bool") as record:
        tracer.trace(f, (np.ones((3, 2), np.float32),))
    assert record[0].lineno == line_of(__file__, "BRANCH-LINE")


def test_views_made_by_keyword_or_by_decompositions_follow_writes():
    def by_keyword(x):
        x = x.copy()
        m = np.moveaxis(x, source=0, destination=-1)
        t = np.transpose(x, axes=(1, 0, 2))
        m[0, 0, 1] = 3
        t[1] = 4
        return x, m, t

    _check(by_keyword, (f32(2, 3, 4),), (f32(5, 3, 4),))

    def broadcast(x, y):
        y = y.copy()
        a, b = np.broadcast_arrays(x, y)
        y[0] = 5  # b views y: NumPy's b sees this write
        return a, b + 0

    _check(broadcast, (f32(3, 2), f32(2)), (f32(5, 2), f32(2)))
