"""runtime.progress: a \\r-updated line on a terminal, nothing anywhere else; and the loader's use of it."""

from __future__ import annotations

import io

import numpy as np
import pytest

import runtime.archive.reader as reader
import tracer
from runtime import progress as progress_module
from runtime.progress import Progress, enabled_for, interrupt, progress
from tests.script_models import f32
from tracer import nn


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _frames(text: str) -> list[str]:
    """What the terminal showed, frame by frame (erasures are blank frames)."""
    return [f for f in text.split("\r") if f]


def test_draws_counts_on_one_line_and_erases_it_at_the_end():
    out = _Tty()
    with progress("loading m.pt", total=4, unit="tensors", stream=out, delay=0, interval=0) as p:
        for _ in range(3):
            p.advance()
    frames = _frames(out.getvalue())
    assert frames[:3] == ["loading m.pt: 1/4 tensors (25%)", "loading m.pt: 2/4 tensors (50%)",
                          "loading m.pt: 3/4 tensors (75%)"]
    assert frames[-1].strip() == "" and len(frames[-1]) == len(frames[2])
    assert "\n" not in out.getvalue()


def test_reaching_the_total_finishes_without_close_and_no_total_shows_a_count():
    out = _Tty()
    p = Progress("compiling", total=2, unit="kernels", stream=out, delay=0, interval=0)
    p.advance()
    p.advance()
    assert out.getvalue().endswith("\r" + " " * len("compiling: 1/2 kernels (50%)") + "\r")
    p.close()  # nothing more
    assert out.getvalue().count("\r") == 3
    assert Progress("compiling", unit="kernels").line() == "compiling: 0 kernels"


def test_quiet_when_not_a_terminal_when_turned_off_and_for_quick_work(monkeypatch):
    monkeypatch.delenv("TRACER_PROGRESS", raising=False)
    not_tty = io.StringIO()
    with progress("x", total=3, stream=not_tty, delay=0, interval=0) as p:
        p.advance()
    assert not_tty.getvalue() == "" and p.count == 1
    monkeypatch.setenv("TRACER_PROGRESS", "0")
    tty = _Tty()
    assert not enabled_for(tty)
    with progress("x", total=3, stream=tty, delay=0, interval=0) as p:
        p.advance()
    assert tty.getvalue() == ""
    monkeypatch.setenv("TRACER_PROGRESS", "1")
    assert enabled_for(io.StringIO())
    monkeypatch.delenv("TRACER_PROGRESS")
    with progress("x", total=3, stream=tty, delay=60) as p:  # finished before the line was due
        p.advance()
    assert tty.getvalue() == ""


def test_one_display_at_a_time_and_interrupt_erases_it():
    out = _Tty()
    with progress("outer", total=5, stream=out, delay=0, interval=0) as outer:
        outer.advance()
        with progress("inner", total=5, stream=out, delay=0, interval=0) as inner:
            inner.advance()
        outer.advance()
        assert "inner" not in out.getvalue()
        interrupt()  # before an error message is printed
        assert out.getvalue().endswith("\r" + " " * len("outer: 2/5 (40%)") + "\r")
        outer.advance()
        written = out.getvalue()
    assert out.getvalue() == written and progress_module._active is None


def test_a_broken_stream_never_fails_the_work():
    class Broken(_Tty):
        def write(self, text: str) -> int:
            raise OSError("gone")

    with progress("x", total=2, stream=Broken(), delay=0, interval=0) as p:
        p.advance()
        p.advance()
    assert p.count == 2


class _Three(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2)

    def forward(self, x):
        return self.b(self.a(x))


def test_loading_an_archive_counts_every_tensor(tmp_path, monkeypatch):
    shown: list[Progress] = []
    out = _Tty()

    def recording(label, total=None, **kwargs):
        p = Progress(label, total, unit=kwargs.get("unit", ""), stream=out, enabled=True, delay=0, interval=0)
        shown.append(p)
        return p

    sm = tracer.trace(_Three().eval(), (f32(3, 4),), check_trace=False)
    sm.save(tmp_path / "m.pt")
    monkeypatch.setattr(reader, "progress", recording)
    loaded = tracer.load(tmp_path / "m.pt")
    (p,) = shown
    assert p.label == f"loading {tmp_path / 'm.pt'}" and p.unit == "tensors"
    assert p.total == p.count == 5  # 4 parameters and the stored example input
    assert _frames(out.getvalue())[0] == f"loading {tmp_path / 'm.pt'}: 1/5 tensors (20%)"
    assert _frames(out.getvalue())[-1].strip() == ""  # erased once every tensor was in
    np.testing.assert_array_equal(loaded.a.weight, sm.a.weight)


@pytest.mark.parametrize("value", ["0", "off"])
def test_environment_turns_it_off(monkeypatch, value):
    monkeypatch.setenv("TRACER_PROGRESS", value)
    assert not enabled_for(_Tty())
