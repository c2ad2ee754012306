"""Session-wide test configuration (applies to the tests and to the doctests in the packages).

Compiled kernels go to a fresh cache directory for the whole session (never the user's
``~/.cache``); kernels compiled by one test are reused by the next from memory.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def kernel_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Point ``TRACER_CACHE_DIR`` at a session temporary directory (restored afterwards)."""
    path = tmp_path_factory.mktemp("kernel-cache")
    old = os.environ.get("TRACER_CACHE_DIR")
    os.environ["TRACER_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TRACER_CACHE_DIR", None)
    else:
        os.environ["TRACER_CACHE_DIR"] = old
