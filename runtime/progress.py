"""A one-line progress display for long work (loading a large archive, compiling many kernels).

It draws a single ``\\r``-updated line on standard error, and only when that is a terminal: in a
pipe, a log file, a test run or a worker process it writes nothing.  ``TRACER_PROGRESS=0`` turns
it off everywhere; ``TRACER_PROGRESS=1`` turns it on even when standard error is not a terminal.
Nothing is drawn for work that finishes within ``delay`` seconds, the line is redrawn at most
every ``interval`` seconds, and it is erased when the work ends, so a terminal is left as it was.
While one display is drawing, any other (nested, or in another thread) stays quiet.

>>> import io
>>> out = io.StringIO()
>>> with progress("loading model.pt", total=3, unit="tensors", stream=out, enabled=True, delay=0) as p:
...     for _ in range(3):
...         p.advance()
>>> out.getvalue().split("\\r")[1]
'loading model.pt: 1/3 tensors (33%)'
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["Progress", "progress", "enabled_for", "interrupt"]

_active_lock = threading.Lock()
_active: Progress | None = None  # the display currently owning the terminal line


def enabled_for(stream: Any) -> bool:
    """Whether progress is shown on ``stream``: ``TRACER_PROGRESS``, else whether it is a terminal.

    Parameters
    ----------
    stream : file-like
        Where the line would be drawn (normally ``sys.stderr``).

    Returns
    -------
    bool
        ``True`` for ``TRACER_PROGRESS=1``, ``False`` for ``TRACER_PROGRESS=0``, otherwise
        ``stream.isatty()`` (``False`` when the stream has no ``isatty`` or is closed).
    """
    setting = os.environ.get("TRACER_PROGRESS", "").strip().lower()
    if setting in ("0", "false", "no", "off"):
        return False
    if setting in ("1", "true", "yes", "on"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """Counts finished steps of one piece of work and draws them on a terminal line.

    Parameters
    ----------
    label : str
        What is being done (``"loading model.pt"``); the line starts with it.
    total : int, optional
        How many steps there are; without it the line shows a count only.  May be set later.
    unit : str
        What a step is (``"tensors"``, ``"kernels"``).
    stream : file-like, optional
        Where to draw; ``sys.stderr`` (looked up when the display starts) by default.
    enabled : bool, optional
        Force the display on or off; by default :func:`enabled_for` decides.
    delay : float
        Seconds of work before the line first appears.
    interval : float
        Least seconds between two redraws.

    Notes
    -----
    ``advance`` is cheap when nothing is drawn (a lock, a counter, a clock read) and safe to call
    from several threads.  The display finishes by itself when the count reaches ``total``;
    ``close`` (or leaving the ``with`` block) finishes it otherwise.
    """

    def __init__(self, label: str, total: int | None = None, *, unit: str = "", stream: TextIO | None = None,
                 enabled: bool | None = None, delay: float = 0.5, interval: float = 0.1) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.count = 0
        self._stream = stream if stream is not None else sys.stderr
        self._on = enabled_for(self._stream) if enabled is None else enabled
        self._delay = delay
        self._interval = interval
        self._start = time.monotonic()
        self._last = -1.0
        self._width = 0
        self._closed = False
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more finished steps (and redraw when it is time to)."""
        with self._lock:
            if self._closed:
                return
            self.count += n
            if not self._on:
                return
            now = time.monotonic()
            done = self.total is not None and self.count >= self.total
            if not done and now - self._start >= self._delay and now - self._last >= self._interval:
                self._draw(now)
        if done:
            self.close()

    def line(self) -> str:
        """The text of the line as it would be drawn now."""
        if self.total:
            text = f"{self.label}: {self.count}/{self.total}"
            text += f" {self.unit}" if self.unit else ""
            return text + f" ({100 * self.count // self.total}%)"
        return f"{self.label}: {self.count}" + (f" {self.unit}" if self.unit else "")

    def _draw(self, now: float) -> None:
        global _active
        with _active_lock:
            if _active is None:
                _active = self
            elif _active is not self:
                return
        text = self.line()
        pad = " " * max(0, self._width - len(text))
        self._write("\r" + text + pad)
        self._width = len(text)
        self._last = now

    def close(self) -> None:
        """Finish: erase the line if it was drawn.  Calling it again does nothing."""
        global _active
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with _active_lock:
                if _active is not self:
                    return
                _active = None
            self._write("\r" + " " * self._width + "\r")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must never fail the real work
            self._on = False


def interrupt() -> None:
    """Erase the line of the display that is drawing, if any (before printing an error over it).

    The interrupted display stays quiet from then on; closing it later writes nothing.
    """
    global _active
    with _active_lock:
        shown, _active = _active, None
    if shown is not None:
        shown._write("\r" + " " * shown._width + "\r")
        shown._on = False


def progress(label: str, total: int | None = None, *, unit: str = "", stream: TextIO | None = None,
             enabled: bool | None = None, delay: float = 0.5, interval: float = 0.1) -> Progress:
    """A :class:`Progress` display for ``label``; use it as a context manager.

    Parameters
    ----------
    label, total, unit, stream, enabled, delay, interval
        See :class:`Progress`.

    Returns
    -------
    Progress
        Call ``advance()`` after each step; the line is erased when the ``with`` block ends.

    Examples
    --------
    >>> with progress("compiling", total=2, unit="kernels") as p:  # quiet: not a terminal
    ...     p.advance(); p.advance()
    >>> p.count
    2
    """
    return Progress(label, total, unit=unit, stream=stream, enabled=enabled, delay=delay, interval=interval)
