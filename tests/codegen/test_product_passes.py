"""The numba backend plans products of one weight with slices of one array as one product
(``ir.passes.merge_sliced_matmuls``: an RNN's input projection leaves its loop), reads a
``W.T`` that many small products share through one contiguous copy
(``ir.passes.copy_shared_transposes``), and multiplies by a split weight's pieces in one product
(``ir.passes.merge_split_products``: attention's query, key and value projections).  Results
stay within SPEC's bound of eager NumPy; the interpreter never runs these passes (bit-equal to
eager)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

import tracer
from codegen.plan import PlanOptions
from tests.codegen.helpers import FORCED, assert_close, run_both, trace_quietly
from tests.script_models import ElmanRNN

rng = np.random.default_rng(17)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def products(graph) -> list[str]:
    """The product nodes of a planned graph, as their result types."""
    return [str(n.types[0]) for _, n in graph.nodes() if n.op in ("matmul", "dot")]


def test_the_scripted_rnn_multiplies_its_whole_input_once():
    model = ElmanRNN(6, 16)
    sm = tracer.script(model, (f32(2, 5, 6),))
    x = f32(4, 9, 6)
    for options in (PlanOptions(merge=True), replace(FORCED, merge=True)):
        got, want, ex = run_both(sm, (x,), options)
        assert_close(got, want)
        assert_close(got, model(x))
        assert products(ex.compiled((x,)).plan.graph).count("f32[36, 16]") == 1
        assert len(products(ex.compiled((x,)).plan.graph)) == 1 + 9
    _, _, ex = run_both(sm, (x,), PlanOptions())
    assert len(products(ex.compiled((x,)).plan.graph)) == 2 * 9, "by default one product per step"
    assert "f32[36, 16]" not in products(ex.compiled((x,)).plan.graph)


def test_the_rnn_steps_read_copied_weights():
    model = ElmanRNN(6, 16)
    sm = tracer.script(model, (f32(2, 5, 6),))
    x = f32(4, 9, 6)
    for options, copies in ((PlanOptions(merge=True), 1), (PlanOptions(), 2), (PlanOptions(copy_transposes=False), 0)):
        got, want, ex = run_both(sm, (x,), options)
        assert_close(got, want)
        graph = ex.compiled((x,)).plan.graph
        assert [n.op for _, n in graph.nodes()].count("copy") == copies, options
    for _ in range(2):
        assert_close(sm(x), model(x))


def test_the_traced_rnn_too_and_the_interpreter_stays_bit_equal_to_eager():
    model = ElmanRNN(6, 16)
    x = f32(3, 7, 6)
    sm = trace_quietly(model, (x,))
    np.testing.assert_array_equal(sm.set_backend("interpreter")(x), model(x))
    sm.set_backend("numba")
    for _ in range(2):
        assert_close(sm(x), model(x))
    got, want, ex = run_both(sm, (x,), PlanOptions(merge=True))
    assert_close(got, want)
    assert "f32[21, 16]" in products(ex.compiled((x,)).plan.graph)


def test_partly_covered_batched_and_strided_groups_run_within_spec():
    w, w2, w3, wb = f32(5, 8), f32(5, 8), f32(5, 8), f32(3, 5, 4)

    def f(x):
        a = x[:, 2] @ w + x[:, 3] @ w + x[:, 4] @ w       # a bounding box inside the array
        y = x[0] * 2.0
        b = y[0:4] @ wb + y[4:8] @ wb                     # batched weight: rows only
        c = x[:, ::2, :] @ w2 - x[:, 1::2, :] @ w2        # interleaved
        d = x[:, ::-1] @ w3                                # alone: nothing to merge
        return a, b, c, d

    x = f32(3, 8, 5)
    sm = trace_quietly(f, (x,))
    for options in (PlanOptions(merge=True), replace(FORCED, merge=True)):
        got, want, ex = run_both(sm, (x,), options)
        assert_close(got, want)
        assert len(products(ex.compiled((x,)).plan.graph)) == 4


def test_a_float32_product_reaching_float64_keeps_numpys_bits():
    w = f32(6, 4)

    def f(x):
        return sum((x[:, t] @ w).astype(np.float64) for t in range(5))

    x = f32(3, 5, 6)
    sm = trace_quietly(f, (x,))
    got, want, ex = run_both(sm, (x,), PlanOptions(merge=True))
    assert_close(got, want)  # float64: rtol 1e-12
    assert len(products(ex.compiled((x,)).plan.graph)) == 5


def test_attention_projects_query_key_and_value_in_one_kernel():
    from benchmarks.zoo import Encoder

    model = Encoder(32, 4, 64)
    model.attn.in_proj_bias[...] = f32(96)
    x = f32(3, 10, 32)
    sm = trace_quietly(model, (x,))
    kernels = {}
    for options in (PlanOptions(), FORCED, PlanOptions(merge_splits=False)):
        got, want, ex = run_both(sm, (x,), options)
        assert_close(got, want)
        assert_close(got, model(x))
        plan = ex.compiled((x,)).plan
        kernels[options.merge_splits] = [s.name for s in plan.steps if hasattr(s, "kernel")]
        if options.merge_splits:
            assert "f32[3, 10, 96]" in products(plan.graph)
    # the three projections (matmul + bias) were three kernels, now one
    assert kernels[False].count("k_matmul_add") == kernels[True].count("k_matmul_add") + 2
    for _ in range(2):
        assert_close(sm.set_backend("numba")(x), model(x))


def test_fresh_processes_cold_and_warm_cache(tmp_path):
    """A new process compiles the rewritten plan (cold cache), another loads its kernels from
    disk (warm cache): both within SPEC's bound of eager."""
    import os
    import pathlib
    import subprocess
    import sys

    code = (
        "import numpy as np, tracer\n"
        "from tests.codegen.helpers import assert_close\n"
        "from tests.script_models import ElmanRNN\n"
        "m = ElmanRNN(6, 16)\n"
        "x = np.random.default_rng(0).standard_normal((4, 9, 6)).astype(np.float32)\n"
        "sm = tracer.script(m, (x,))\n"
        "assert sm.backend == 'numba'\n"
        "assert_close(sm(x), m(x))\n"
        "g = sm._program('forward').compiled((x,)).plan.graph\n"
        "assert [n.op for _, n in g.nodes()].count('copy') == 2\n"
        "from benchmarks.zoo import Encoder\n"
        "e = Encoder(32, 4, 64)\n"
        "y = x[:3, :, :4].repeat(8, axis=-1)\n"
        "se = tracer.trace(e, (y,))\n"
        "assert_close(se(y), e(y))\n"
        "g = se._program('forward').compiled((y,)).plan.graph\n"
        "assert [str(n.types[0]) for _, n in g.nodes() if n.op == 'matmul'].count('f32[3, 9, 96]') == 1\n"
    )
    env = {**os.environ, "TRACER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TRACER_BACKEND", None)
    root = pathlib.Path(__file__).resolve().parents[2]
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)
    assert any((tmp_path / "cache").rglob("*.o")), "the first process filled the cache"
