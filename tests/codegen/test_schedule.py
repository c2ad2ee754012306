"""Planning which compile process compiles which kernel (``codegen.schedule``)."""

from __future__ import annotations

import pytest

from codegen import schedule
from codegen.schedule import HELPERS, estimate, helpers_of, plan

TC = "transpose_copy_f32("
PS = "pairwise_sum_f32("


def _kernel(chars: int, *helpers: str) -> str:
    return "".join(helpers) + "x" * chars


def _all_once(s: schedule.Schedule, n: int) -> None:
    placed = [i for own in s.own for i in own] + s.shared
    assert sorted(placed) == list(range(n)), s


def test_kernels_calling_a_costly_helper_go_to_one_process():
    texts = [_kernel(900, TC)] * 4 + [_kernel(1500, PS)] * 2 + [_kernel(600)] * 2
    s = plan(texts, 2)
    _all_once(s, len(texts))
    assert s.before_fork == ()
    assert sorted(map(sorted, s.own)) == [[0, 1, 2, 3], [4, 5]]
    assert s.shared == [6, 7]


def test_a_helper_every_process_needs_is_compiled_before_forking():
    texts = [_kernel(2500, PS)] * 6
    s = plan(texts, 2)
    _all_once(s, len(texts))
    assert s.before_fork == (PS,) and s.own == [[], []]
    assert s.finish == pytest.approx(HELPERS[PS] + 3 * estimate(texts[0]) + len(texts) * schedule.PER_DELIVERY)


def test_largest_first_and_no_helpers_means_one_shared_queue():
    texts = [_kernel(n) for n in (300, 2000, 900)]
    s = plan(texts, 3)
    assert s.own == [[], [], []] and s.shared == [1, 2, 0] and s.before_fork == ()


def test_many_helpers_or_processes_fall_back_to_compiling_them_where_needed(monkeypatch):
    monkeypatch.setattr(schedule, "MAX_PLACEMENTS", 1)
    texts = [_kernel(900, TC), _kernel(900, PS), _kernel(300)]
    s = plan(texts, 4)
    _all_once(s, len(texts))
    assert s.before_fork == () and s.shared == [2]


def test_helpers_of_reads_the_calls():
    assert helpers_of(f"a = {PS}x, 0, n, 1)\n{TC}a, b, c, d, e, f)") == {PS, TC}
    assert helpers_of("x = y + 1") == frozenset()


def test_every_helper_has_a_warm_up_kernel_that_compiles():
    from codegen.compiler import compile_object

    assert set(schedule.WARM_UP) == set(HELPERS)
    for helper, (text, name) in schedule.WARM_UP.items():
        assert helper in text
        obj, symbol, _ = compile_object(text, name, f"<{name}>")
        assert obj and symbol
