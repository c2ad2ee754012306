"""The ``nn`` ops: ``erf`` accuracy, ``conv2d``/pooling values and type rules, ``dropout``."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ir.ops import OpKind, get_op
from ir.ops.nn import GENERATOR, reseed
from ir.types import ScalarType, TensorType, type_of

erf = get_op("erf")
conv2d = get_op("conv2d")
max_pool2d = get_op("max_pool2d")
avg_pool2d = get_op("avg_pool2d")
dropout = get_op("dropout")

_math_erf = np.vectorize(math.erf, otypes=[np.float64])


def _grid() -> np.ndarray:
    tiny = np.geomspace(1e-300, 1e-3, 2000)
    return np.concatenate([np.linspace(-7.0, 7.0, 280_001), tiny, -tiny, [0.0, -0.0, 1.75, 2.0, 6.0, 1e300]])


# -- erf ------------------------------------------------------------------------------------------


def test_erf_float64_against_math_erf() -> None:
    x = _grid()
    got, ref = erf.impl(x), _math_erf(x)
    assert got.dtype == np.float64
    assert np.abs(got - ref).max() <= 1e-15
    nz = ref != 0
    assert (np.abs(got - ref)[nz] / np.abs(ref[nz])).max() <= 2e-15  # relative too, down to 1e-300
    np.testing.assert_array_equal(erf.impl(-x), -got)  # odd


def test_erf_float32_is_correctly_rounded_almost_everywhere() -> None:
    x = _grid()
    x = x[np.abs(x) < 1e30].astype(np.float32)
    got = erf.impl(x)
    assert got.dtype == np.float32
    ref = _math_erf(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    err = np.abs(got.astype(np.float64) - ref) / np.where(ulp > 0, ulp, np.finfo(np.float32).smallest_subnormal)
    assert err.max() <= 0.5 + 1e-3  # within half an ulp up to the float64 evaluation error
    assert np.mean(got == ref.astype(np.float32)) > 0.9999


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_erf_property_float64(x: float) -> None:
    assert abs(erf.impl(np.array([x]))[0] - math.erf(x)) <= 1e-15


def test_erf_special_values_and_dtypes() -> None:
    out = erf.impl(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0]))
    assert out[:2].tolist() == [1.0, -1.0] and np.isnan(out[2])
    assert np.signbit(out[4]) and not np.signbit(out[3])
    assert erf.impl(np.array([np.nan, np.inf], np.float32)).dtype == np.float32
    assert erf.impl(np.arange(3)).dtype == np.float64
    assert erf.impl(np.array([True])).dtype == np.float64
    assert erf.impl(np.ones(2, np.float16)).dtype == np.float16
    assert erf.impl(np.ones((0, 3), np.float32)).shape == (0, 3)
    assert erf.impl(np.ones((3, 4)).T).shape == (4, 3)
    assert isinstance(erf.impl(0.5), float) and erf.impl(0.5) == pytest.approx(math.erf(0.5), abs=1e-16)
    assert isinstance(erf.impl(np.float32(0.5)), np.float32)
    with pytest.raises(TypeError):
        erf.impl(np.ones(2, complex))


@pytest.mark.parametrize("value", [np.ones((2, 3), np.float32), np.ones(4), np.arange(3), np.ones(2, np.float16)])
def test_erf_rule_matches_result(value: np.ndarray) -> None:
    assert erf.infer(type_of(value)) == type_of(erf.impl(value))
    assert erf.infer(TensorType.of("float32", ("B", None))) == TensorType.of("float32", ("B", None))
    assert erf.infer(ScalarType("float")) == ScalarType("float")
    assert erf.kind is OpKind.ELEMENTWISE and erf.spelling == "ops.erf"


# -- conv2d ---------------------------------------------------------------------------------------


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), np.float64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for oc, i, j in product(range(o), range(ho), range(wo)):
        g = oc // og
        patch = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
        out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3)) + (0 if b is None else b[oc])
    return out


CONV_CONFIGS = [
    # x shape, weight shape, stride, padding, dilation, groups
    ((2, 3, 7, 8), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 4, 9, 7), (6, 2, 3, 2), (2, 1), (1, 2), (1, 1), 2),
    ((2, 6, 10, 9), (6, 1, 3, 3), (1, 2), (2, 1), (2, 2), 6),
    ((1, 2, 5, 5), (3, 2, 1, 1), (3, 3), (0, 0), (1, 1), 1),
    ((3, 4, 6, 11), (2, 4, 4, 5), (1, 3), (3, 0), (1, 2), 1),
]


@pytest.mark.parametrize("cfg", CONV_CONFIGS)
def test_conv2d_matches_naive_loops_and_rule(cfg) -> None:
    xs, ws, stride, padding, dilation, groups = cfg
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    out = conv2d.impl(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, stride, padding, dilation, groups), rtol=1e-5, atol=1e-5)
    assert conv2d.infer(type_of(x), type_of(w), type_of(b), stride, padding, dilation, groups) == type_of(out)
    out64 = conv2d.impl(x.astype(np.float64), w.astype(np.float64), None, stride, padding, dilation, groups)
    np.testing.assert_allclose(out64, naive_conv2d(x, w, None, stride, padding, dilation, groups), rtol=1e-12,
                               atol=1e-12)
    assert conv2d.infer(type_of(x[0]), type_of(w), None, stride, padding, dilation, groups) == type_of(
        conv2d.impl(x[0], w, None, stride, padding, dilation, groups))


def test_conv2d_same_valid_and_asymmetric_padding() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 4, 3))
    same = conv2d.impl(x, w, padding="same", dilation=(1, 2))
    assert same.shape == (2, 4, 6, 7)
    # even kernel: total padding 3 rows -> 1 on top, 2 at the bottom (PyTorch's choice)
    explicit = conv2d.impl(x, w, padding=((1, 2), (2, 2)), dilation=(1, 2))
    np.testing.assert_array_equal(same, explicit)
    np.testing.assert_array_equal(conv2d.impl(x, w, padding="valid"), conv2d.impl(x, w))
    sym = TensorType.of("float64", ("B", 3, "H", "W"))
    assert conv2d.infer(sym, type_of(w), padding="same") == TensorType.of("float64", ("B", 4, "H", "W"))


def test_conv2d_rule_symbolic_and_unknown_dims() -> None:
    w = TensorType.of("float32", (16, 3, 3, 3))
    f32 = "float32"
    rule = conv2d.infer
    assert rule(TensorType.of(f32, ("B", 3, 32, 32)), w) == TensorType.of(f32, ("B", 16, 30, 30))
    assert rule(TensorType.of(f32, ("B", 3, 32, 32)), w, None, (2, 2), (1, 1)) == TensorType.of(f32, ("B", 16, 16, 16))
    assert rule(TensorType.of(f32, (None, 3, "H", 9)), w) == TensorType.of(f32, (None, 16, None, 7))
    assert rule(TensorType.of(f32, None), w) == TensorType.of(f32, None)
    assert rule(TensorType.of(f32, (3, 10, 10)), w) == TensorType.of(f32, (16, 8, 8))
    mixed = rule(TensorType.of("float64", (1, 3, 5, 5)), w, TensorType.of(f32, (16,)))
    assert mixed == TensorType.of("float64", (1, 16, 3, 3))
    grouped = TensorType.of(f32, (8, 2, 3, 3))
    assert rule(TensorType.of(f32, ("N", 4, 9, 9)), grouped, None, (1, 1), (2, 2), (2, 2), 2) == TensorType.of(
        f32, ("N", 8, 9, 9))


@pytest.mark.parametrize("args,match", [
    (((1, 5, 8, 8), (4, 3, 3, 3), {}), "channels"),
    (((1, 4, 8, 8), (6, 2, 3, 3), {"groups": 4}), "groups|channels|divisible"),
    (((1, 3, 2, 2), (4, 3, 3, 3), {}), "too small"),
    (((1, 3, 8, 8), (4, 3, 3, 3), {"stride": (2, 2), "padding": "same"}), "strided"),
    (((1, 3, 8, 8), (4, 3, 3, 3), {"padding": "full"}), "padding"),
    (((1, 3, 8, 8), (4, 3, 3, 3), {"stride": (0, 1)}), "positive"),
])
def test_conv2d_errors_in_rule_and_reference(args, match) -> None:
    xs, ws, kwargs = args
    with pytest.raises(ValueError, match=match):
        conv2d.infer(TensorType.of("float32", xs), TensorType.of("float32", ws), **kwargs)
    with pytest.raises(ValueError, match=match):
        conv2d.impl(np.zeros(xs, np.float32), np.zeros(ws, np.float32), **kwargs)


# -- pooling --------------------------------------------------------------------------------------


def naive_pool(x, k, s, p, d, ceil_mode, kind, count_include_pad=True, divisor=None):
    h, w = x.shape[-2:]

    def out_size(n, kk, ss, pp, dd):
        o = (n + 2 * pp - dd * (kk - 1) - 1 + (ss - 1 if ceil_mode else 0)) // ss + 1
        return o - 1 if ceil_mode and (o - 1) * ss >= n + pp else o

    ho, wo = out_size(h, k[0], s[0], p[0], d[0]), out_size(w, k[1], s[1], p[1], d[1])
    out = np.zeros((*x.shape[:-2], ho, wo))
    for i, j in product(range(ho), range(wo)):
        rows = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
        cols = [j * s[1] - p[1] + c * d[1] for c in range(k[1])]
        inside = [(r, c) for r in rows for c in cols if 0 <= r < h and 0 <= c < w]
        vals = np.stack([x[..., r, c] for r, c in inside], -1)
        if kind == "max":
            out[..., i, j] = vals.max(-1)
        else:
            rs, cs = i * s[0] - p[0], j * s[1] - p[1]
            pool = (min(rs + k[0], h + p[0]) - rs) * (min(cs + k[1], w + p[1]) - cs)
            div = divisor or (pool if count_include_pad else len(inside))
            out[..., i, j] = vals.sum(-1) / div
    return out


POOL_CONFIGS = [
    # x shape, kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 2, 9, 7), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 1, 10, 11), (3, 2), (2, 3), (1, 1), (2, 1), True),
    ((3, 7, 6), (2, 3), (1, 2), (1, 1), (1, 2), False),
    ((1, 1, 5, 5), (4, 4), (3, 3), (2, 2), (1, 1), True),
]


@pytest.mark.parametrize("cfg", POOL_CONFIGS)
def test_max_pool2d_matches_naive_and_rule(cfg) -> None:
    xs, k, s, p, d, ceil_mode = cfg
    x = np.random.default_rng(2).standard_normal(xs).astype(np.float32)
    out = max_pool2d.impl(x, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(out, naive_pool(x, k, s, p, d, ceil_mode, "max").astype(np.float32))
    assert max_pool2d.infer(type_of(x), k, s, p, d, ceil_mode) == type_of(out)
    xi = np.random.default_rng(3).integers(-100, 100, xs).astype(np.int32)
    outi = max_pool2d.impl(xi, k, s, p, d, ceil_mode)
    assert outi.dtype == np.int32 and max_pool2d.infer(type_of(xi), k, s, p, d, ceil_mode) == type_of(outi)


@pytest.mark.parametrize("cfg", POOL_CONFIGS)
@pytest.mark.parametrize("count_include_pad,divisor", [(True, None), (False, None), (True, 5)])
def test_avg_pool2d_matches_naive_and_rule(cfg, count_include_pad, divisor) -> None:
    xs, k, s, p, _, ceil_mode = cfg
    x = np.random.default_rng(4).standard_normal(xs)
    out = avg_pool2d.impl(x, k, s, p, ceil_mode, count_include_pad, divisor)
    ref = naive_pool(x, k, s, p, (1, 1), ceil_mode, "avg", count_include_pad, divisor)
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-14)
    assert avg_pool2d.infer(type_of(x), k, s, p, ceil_mode, count_include_pad, divisor) == type_of(out)
    out32 = avg_pool2d.impl(x.astype(np.float32), k, s, p, ceil_mode, count_include_pad, divisor)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref, rtol=1e-5, atol=1e-6)


def test_avg_pool2d_integers_truncate_like_torch() -> None:
    x = np.arange(-8, 8).reshape(1, 1, 4, 4)
    out = avg_pool2d.impl(x, (2, 2), (2, 2))
    assert out.dtype == x.dtype
    assert out.tolist() == [[[[-5, -3], [2, 4]]]]  # -5.5 -> -5 and 2.5 -> 2


def test_pool_rules_with_symbolic_dims_and_errors() -> None:
    t = TensorType.of("float32", ("B", 16, 32, "W"))
    assert max_pool2d.infer(t, (2, 2), (2, 2)) == TensorType.of("float32", ("B", 16, 16, None))
    assert avg_pool2d.infer(t, (3, 3), (2, 2), (1, 1), True) == TensorType.of("float32", ("B", 16, 17, None))
    assert avg_pool2d.infer(t, (3, 3), (2, 2), (1, 1)) == TensorType.of("float32", ("B", 16, 16, None))
    assert max_pool2d.infer(TensorType.of("float32", None), (2, 2), (2, 2)) == TensorType.of("float32", None)
    with pytest.raises(ValueError, match="half the kernel"):
        max_pool2d.infer(t, (3, 3), (1, 1), (2, 2))
    with pytest.raises(ValueError, match="half the kernel"):
        avg_pool2d.impl(np.zeros((1, 1, 4, 4)), (2, 2), (1, 1), (2, 0))
    with pytest.raises(ValueError, match="too small"):
        max_pool2d.impl(np.zeros((1, 1, 2, 2)), (3, 3), (1, 1))
    with pytest.raises(ValueError, match="or 4-d"):
        max_pool2d.infer(TensorType.of("float32", (4, 4)), (2, 2), (2, 2))
    with pytest.raises(TypeError):
        avg_pool2d.infer(TensorType.of("bool", (1, 1, 4, 4)), (2, 2), (2, 2))


def test_max_pool2d_propagates_nan_and_pads_with_minus_inf() -> None:
    x = -np.ones((1, 1, 3, 3), np.float32)
    x[0, 0, 0, 0] = np.nan
    out = max_pool2d.impl(x, (2, 2), (2, 2), (1, 1))
    assert np.isnan(out[0, 0, 0, 0]) and (out[0, 0].ravel()[1:] == -1).all()


# -- dropout --------------------------------------------------------------------------------------


def test_dropout_mask_scale_and_determinism() -> None:
    x = np.full((400, 250), 2.0, np.float32)
    reseed(11)
    y = dropout.impl(x, 0.4)
    assert y.dtype == np.float32
    kept = y != 0
    assert abs(kept.mean() - 0.6) < 0.01
    np.testing.assert_array_equal(y[kept], np.float32(2.0 / 0.6))
    reseed(11)
    np.testing.assert_array_equal(dropout.impl(x, 0.4), y)
    assert dropout.impl(x, 0.4, training=False) is x and dropout.impl(x, 0.0) is x
    assert not dropout.impl(x, 1.0).any()
    assert not dropout.pure
    assert dropout.infer(TensorType.of("float32", ("B", 3)), 0.4) == TensorType.of("float32", ("B", 3))
    with pytest.raises(ValueError):
        dropout.impl(x, 1.5)
    with pytest.raises(TypeError):
        dropout.impl(np.ones(3, np.int64), 0.5)
    with pytest.raises(TypeError):
        dropout.infer(TensorType.of("int64", (3,)), 0.5)
    assert GENERATOR is get_op("dropout").impl.__globals__["GENERATOR"]
