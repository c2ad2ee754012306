"""Canonical local names in kernel source (``codegen.canonical``): kernels differing only in names share code."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.cache import STATS, get_kernels
from codegen.canonical import canonical


def _layer(name: str) -> str:
    return (f"def k_scale(f):\n    lo = f[0]\n    hi = f[1]\n    {name}_g = ptr_float32(f[2])\n"
            f"    {name}_out = ptr_float32(f[3])\n    for i0 in range(lo, hi):\n"
            f"        mul = np.float32({name}_g[i0] * np.float32(2.5e0))\n        {name}_out[i0] = mul\n"
            f"        hi += 0\n")


def test_names_become_canonical_and_lines_stay():
    a, b = canonical(_layer("ln_1")), canonical(_layer("ln_2"))
    assert a == b and "ln_1" not in a
    assert a.count("\n") == _layer("ln_1").count("\n")
    assert "def k_scale(v0):" in a and "v6 = np.float32(v3[v5] * np.float32(2.5e0))" in a
    assert "for v5 in range(v1, v2):" in a and "v2 += 0" in a


def test_kernels_that_differ_in_names_only_share_one_compile(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    before = STATS.compiled
    first, second = get_kernels([(_layer("enc_7"), "k_scale"), (_layer("dec_7"), "k_scale")])
    assert first is second and STATS.compiled - before == 1
    x = np.arange(5, dtype=np.float32)
    out = np.zeros_like(x)
    frame = np.array([0, 5, x.ctypes.data, out.ctypes.data], np.int64)
    second(frame.ctypes.data)
    np.testing.assert_array_equal(out, x * np.float32(2.5))


@pytest.mark.parametrize("text", [
    "def k(f):\n    x = f[0]\n    f[1] = 'x'\n",  # a string
    "def k(f):\n    x = f[0]\n    f[1] = g(x=x)\n",  # a keyword argument
    "def k(f):\n    x = f[0]\n    f[1] = (lambda y: y)(x)\n",  # a nested scope
    "def k(f):\n    global x\n    x = f[0]\n",
    "def k(f):\n    v1 = f[0]\n    x = v1\n",  # a canonical name in use
    "def k(f, g):\n    x = f[0]\n",  # not one parameter
    "x = 1\n",
])
def test_what_a_pattern_could_get_wrong_is_left_alone(text):
    assert canonical(text) == text


def test_attributes_and_numbers_are_not_names():
    text = "def k(f):\n    e5 = f[0]\n    float32 = np.float32(1e5)\n    f[1] = e5 + float32\n"
    assert canonical(text) == "def k(v0):\n    v1 = v0[0]\n    v2 = np.float32(1e5)\n    v0[1] = v1 + v2\n"
