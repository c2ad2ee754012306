"""Op-table entries for NumPy functions outside the ufuncs: stacking, padding, tiling,
triangles, products, scans, sorting, linalg (decompositions and their primitives).

Each entry is one ``sample(...)`` (or ``error(...)``) call, as in :mod:`tests.op_table`.
"""

from __future__ import annotations

import numpy as np

from tests.op_table import b, error, f32, f64, i32, i64, sample  # noqa: F401

# -- stacking, splitting, padding, tiling, triangles, products (decompositions; ``op`` names the
# -- primitive each one records) ----------------------------------------------------------------------
sample("concatenate", lambda x, y: np.hstack([x, y]), f32(3, 2), f32(3, 4), other=(f32(5, 2), f32(5, 4)),
       id="hstack-0")
sample("concatenate", lambda x, y: np.hstack((x, y)), i32(4), f64(3), other=(i32(2), f64(6)), id="hstack-1d-promote")
sample("concatenate", lambda x: np.hstack([x, x], dtype=np.float64), f32(2, 3), other=(f32(4, 1),), id="hstack-dtype")
sample("concatenate", lambda x, y: np.vstack([x, y]), f32(4), f32(2, 4), other=(f32(7), f32(3, 7)), id="vstack-0")
sample("concatenate", lambda x, y: np.vstack((x, y)), b(2, 3), i64(1, 3), other=(b(1, 5), i64(3, 5)),
       id="vstack-bool-int")
sample("concatenate", lambda x, y: np.dstack([x, y]), f32(3, 2), f32(3, 2, 2), other=(f32(1, 5), f32(1, 5, 2)),
       id="dstack-0")
sample("concatenate", lambda x, y: np.column_stack([x, y]), f32(5), i32(5, 2), other=(f32(3), i32(3, 2)),
       id="column_stack-0")
sample("getitem", lambda x: tuple(np.array_split(x, 3)), f32(7, 2), other=(f32(11, 2),), id="array_split-0")
sample("getitem", lambda x: tuple(np.array_split(x, [1, 4], axis=-1)), i32(2, 6), other=(i32(3, 3),),
       id="array_split-indices")
sample("getitem", lambda x: np.array_split(x, 4, axis=1)[3], f64(2, 9), other=(f64(2, 4),), id="array_split-last")
sample("reshape", lambda x: np.atleast_1d(x.sum()) + np.atleast_1d(x), f32(3), other=(f32(5),), id="atleast_1d-0")
sample("getitem", lambda x: np.atleast_2d(x) * 2, i32(4), other=(i32(6),), id="atleast_2d-0")
sample("getitem", lambda x, y: np.atleast_3d(x, y)[1], f32(3), f32(2, 4), other=(f32(1), f32(5, 4)),
       id="atleast_3d-0")
sample("broadcast_to", lambda x, y: np.broadcast_arrays(x, y), f32(3, 1), i32(1, 4), other=(f32(5, 1), i32(1, 2)),
       id="broadcast_arrays-0")
sample("broadcast_to", lambda x, y: sum(np.broadcast_arrays(x, y, 1.5)), f32(4), f64(2, 4), other=(f32(3), f64(5, 3)),
       id="broadcast_arrays-three")
sample("broadcast_to", lambda x, y: np.meshgrid(x, y), f32(3), f64(4), other=(f32(5), f64(2)), id="meshgrid-0")
sample("broadcast_to", lambda x, y: np.meshgrid(x, y, indexing="ij"), i32(3), f32(2), other=(i32(1), f32(6)),
       id="meshgrid-ij")
sample("reshape", lambda x, y: tuple(np.meshgrid(x, y, sparse=True)), f32(3), f32(2), other=(f32(1), f32(4)),
       id="meshgrid-sparse")

sample("full", lambda x: np.pad(x, 1), f32(3, 4), other=(f32(5, 2),), id="pad-0")
sample("full", lambda x: np.pad(x, ((1, 2), (0, 3)), constant_values=((7, 8), (9, 1))), i32(2, 3),
       other=(i32(4, 1),), id="pad-constant-values")
sample("concatenate", lambda x: np.pad(x, (2, 1), "constant", constant_values=1.5), f64(4), other=(f64(1),),
       id="pad-constant-float")
sample("take", lambda x: np.pad(x, ((1, 1), (2, 0)), mode="edge"), f32(3, 4), other=(f32(1, 2),), id="pad-edge")
sample("take", lambda x: np.pad(x, 2, mode="reflect"), f32(4, 3), other=(f32(2, 6),), id="pad-reflect")
sample("take", lambda x: np.pad(x, (3, 1), mode="symmetric"), i64(4), other=(i64(2),), id="pad-symmetric")
sample("take", lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2)), mode="wrap"), b(2, 2, 3), other=(b(1, 2, 5),),
       id="pad-wrap")
sample("repeat", lambda x: np.repeat(x, 3, axis=1), f32(2, 3), other=(f32(4, 2),))
sample("repeat", lambda x: x.repeat(2), i32(2, 2), other=(i32(3, 1),), id="repeat-flat")
sample("repeat", lambda x, r: np.repeat(x, r, axis=0), f32(3, 2), i64(3, lo=0, hi=4),
       other=(f32(5, 2), i64(5, lo=0, hi=3)), id="repeat-array")
sample("broadcast_to", lambda x: np.tile(x, (2, 3)), f32(2, 3), other=(f32(4, 1),), id="tile-0")
sample("broadcast_to", lambda x: np.tile(x, 2), b(3), other=(b(1),), id="tile-int")
sample("broadcast_to", lambda x: np.tile(x, (2, 1, 1)), i32(2, 2), other=(i32(3, 2),), id="tile-prepend")
sample("getitem", lambda x: np.flip(x), f32(3, 4), other=(f32(2, 5),), id="flip-0")
sample("getitem", lambda x: np.flip(x, axis=-1), i32(2, 3), other=(i32(4, 1),), id="flip-axis")
sample("getitem", lambda x: np.fliplr(x) + np.flipud(x), f64(3, 3), other=(f64(2, 2),), id="fliplr-flipud")
sample("concatenate", lambda x: np.roll(x, 2, axis=1), f32(3, 5), other=(f32(2, 3),), id="roll-0")
sample("concatenate", lambda x: np.roll(x, -1), i32(2, 3), other=(i32(4, 1),), id="roll-flat")
sample("concatenate", lambda x: np.roll(x, (1, -2), axis=(0, -1)), b(3, 4), other=(b(2, 7),), id="roll-tuple")

sample("sub", lambda x: np.diff(x), f32(3, 5), other=(f32(2, 7),), id="diff-0")
sample("sub", lambda x: np.diff(x, n=2, axis=0), i32(5, 2), other=(i32(3, 2),), id="diff-n")
sample("concatenate", lambda x: np.diff(x, prepend=0.5, append=x[-1:]), f64(6), other=(f64(3),), id="diff-prepend")
sample("ne", lambda x: np.diff(x), b(6), other=(b(2),), id="diff-bool")
sample("getitem", lambda x, i: np.take_along_axis(x, i, axis=1), f32(3, 4), i64(3, 2, lo=0, hi=4),
       other=(f32(5, 4), i64(5, 2, lo=0, hi=4)), id="take_along_axis-0")
sample("getitem", lambda x: np.take_along_axis(x, np.argmax(x, axis=-1, keepdims=True), -1), f64(2, 3, 4),
       other=(f64(3, 1, 2),), id="take_along_axis-argmax")

sample("ge", lambda x: np.tri(x.shape[0]) * x, f32(4, 4), other=(f32(6, 6),), id="tri-0")
sample("ge", lambda x: np.tri(x.shape[0], x.shape[1], k=-1, dtype=bool) & x, b(3, 5), other=(b(4, 2),),
       id="tri-bool")
sample("where", lambda x: np.tril(x), f32(3, 4), other=(f32(5, 2),), id="tril-0")
sample("where", lambda x: np.triu(x, 1), i32(2, 4, 4), other=(i32(1, 3, 3),), id="triu-0")
sample("eq", lambda x: x @ np.eye(x.shape[-1], dtype=x.dtype), f32(3, 4), other=(f32(2, 6),), id="eye-0")
sample("eq", lambda x: np.eye(x.shape[0], x.shape[1], k=1) + x, f64(3, 4), other=(f64(5, 2),), id="eye-k")
sample("eq", lambda x: np.identity(len(x), dtype=np.int32) * x, i32(3, 3), other=(i32(2, 2),), id="identity-0")
sample("zeros", lambda x: np.empty((x.shape[0], 2)) * 0 + x[:, :1], f32(3, 2), other=(f32(5, 2),), id="empty-0")
sample("zeros_like", lambda x: np.empty_like(x) + x, i32(2, 3), other=(i32(4, 1),), id="empty_like-0")
sample("arange", lambda x: np.linspace(0, 1, x.shape[-1]) * x, f32(2, 5), other=(f32(2, 9),), id="linspace-0")
sample("arange", lambda x: np.linspace(-2, 3, x.shape[0], endpoint=False, dtype=np.float32) + x, f32(4),
       other=(f32(1),), id="linspace-no-endpoint")
sample("add", lambda x: np.linspace(x[0], x[1], 7, retstep=True), f32(2, 3), other=(f32(2, 1),),
       id="linspace-arrays-retstep")
sample("floor", lambda x: np.linspace(1, x.shape[0], 4, dtype=np.int32), f32(9), other=(f32(5),),
       id="linspace-int")

sample("mul", lambda x, y: np.outer(x, y), f32(3), f32(4), other=(f32(2), f32(5)), id="outer-0")
sample("mul", lambda x, y: np.outer(x, y), i32(2, 2), b(3), other=(i32(1, 3), b(2)), id="outer-ravel")
sample("dot", lambda x, y: np.inner(x, y), f32(3, 4), f32(5, 4), other=(f32(1, 4), f32(2, 4)), id="inner-0")
sample("dot", lambda x, y: np.inner(x, y), i32(4), i32(4), other=(i32(7), i32(7)), id="inner-1d-int")
sample("dot", lambda x, y: np.vdot(x, y), f32(3, 4), f32(12), other=(f32(2, 3), f32(6)), id="vdot-0")
sample("dot", lambda x, y: np.tensordot(x, y, axes=2), f32(3, 4, 5), f32(4, 5, 2), other=(f32(6, 4, 5), f32(4, 5, 3)),
       id="tensordot-0")
sample("dot", lambda x, y: np.tensordot(x, y, axes=([0, 2], [1, 0])), f64(3, 2, 4), f64(4, 3, 5),
       other=(f64(1, 3, 2), f64(2, 1, 4)), id="tensordot-pairs")
sample("einsum", lambda x, y: np.einsum("bij,bjk->bik", x, y), f32(2, 3, 4), f32(2, 4, 5),
       other=(f32(3, 2, 4), f32(3, 4, 1)))
sample("einsum", lambda x: np.einsum("ii", x), f64(3, 3), other=(f64(5, 5),), id="einsum-trace")
sample("einsum", lambda x, y: np.einsum("...i,i", x, y), i32(2, 3, 4), i32(4), other=(i32(1, 4), i32(4)),
       id="einsum-ellipsis")
sample("einsum", lambda x, y: np.einsum("ij,kj", x, y), f32(2, 3), f64(4, 3), other=(f32(5, 2), f64(1, 2)),
       id="einsum-implicit")

sample("le", lambda x, y: np.isclose(x, y), f32(3, 4), f32(4), other=(f32(5, 4), f32(4)), id="isclose-0")
sample("le", lambda x: np.isclose(x, 0.5, rtol=0.1, atol=0.3, equal_nan=True), f64(5), other=(f64(2),),
       id="isclose-scalar")
sample("le", lambda x, y: np.isclose(x, y), i32(4), i32(4), other=(i32(2), i32(2)), id="isclose-int")
sample("all", lambda x, y: np.where(np.allclose(x, y), x, -x), f32(3), f32(3), other=(f32(4), f32(4)),
       id="allclose-0")
sample("all", lambda x: np.where(np.allclose(x, x + 1e-9), x, -x), f64(2, 2), other=(f64(3, 1),), id="allclose-true")

# two equal computations merged by CSE: the consumer reads one value once (round trip keeps it)
sample("concatenate", lambda x: np.concatenate([x.astype(np.float64), x.astype(np.float64)]), f32(2, 3),
       other=(f32(4, 3),), id="concatenate-cse-merged-inputs")
