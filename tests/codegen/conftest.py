"""The codegen tests are about the numba backend: they run it whatever ``TRACER_BACKEND`` says."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def numba_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACER_BACKEND", raising=False)
