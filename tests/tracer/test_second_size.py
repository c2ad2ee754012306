"""No traced program returns a wrong result silently at another size.

Every op-table sample is traced at its own inputs and run again with each array input doubled
along its first axis (the batch grows): the program must give eager's result there, bit for bit
on the interpreter, or raise ``GuardError`` because a size was baked while tracing.  Samples
whose eager code refuses the doubled inputs (shapes that must agree with a fixed size) are not
a second size of the same program and are left out.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracer
from tests.helpers import assert_same, eager
from tests.op_table import SAMPLES


def _doubled(inputs: tuple) -> tuple:
    return tuple(np.concatenate([a, a]) if isinstance(a, np.ndarray) and a.ndim else a for a in inputs)


@pytest.mark.parametrize("s", SAMPLES, ids=[s.id for s in SAMPLES])
def test_a_second_size_gives_eager_or_guard_error(s):
    if s.id.startswith("empty"):
        pytest.skip("np.empty's contents are undefined: nothing to compare")
    other = _doubled(s.inputs)
    if all(o is i for o, i in zip(other, s.inputs)):
        pytest.skip("no array input to grow")
    try:
        want = eager(s.fn, other)
    except Exception:  # noqa: BLE001 - eager refuses these sizes: not a second size of this program
        pytest.skip("eager NumPy refuses the doubled inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracer.TracerWarning)
        sm = tracer.trace(s.fn, s.inputs).set_backend("interpreter")
    try:
        with np.errstate(all="ignore"):
            got = sm(*other)
    except tracer.GuardError:
        return
    assert_same(got, want)
