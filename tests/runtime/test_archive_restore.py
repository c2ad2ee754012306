"""tracer.load(..., _restore_shapes=True): what fails where (the archive's fault or the backend's)."""

from __future__ import annotations

import numpy as np
import pytest

import tracer
from tests.script_models import Block, f32

X = f32(4, 16)


@pytest.fixture()
def block():
    m = Block().eval()
    return m, tracer.trace(m, (X,))


def test_restore_shapes_reports_a_backend_failure_as_itself(tmp_path, block, monkeypatch):
    """A compile failure while restoring shapes is the backend's, not the archive's: it is raised
    as itself, not as "not a valid archive"; stored inputs that contradict the program still are."""
    from runtime.compiled import NumbaExecutor

    _, sm = block
    sm.save(tmp_path / "m.pt")

    def broken(self, types):
        raise RuntimeError("compiler bug")

    monkeypatch.setattr(NumbaExecutor, "prepare", broken)
    with pytest.raises(RuntimeError, match="compiler bug") as info:
        tracer.load(tmp_path / "m.pt", _restore_shapes=True)
    assert not isinstance(info.value, tracer.SerializationError)
    monkeypatch.undo()
    assert np.allclose(tracer.load(tmp_path / "m.pt", _restore_shapes=True)(X), sm(X))

    import ir.passes

    def contradicts(graph, types):
        raise ValueError("shapes do not match")

    monkeypatch.setattr(ir.passes, "infer_types", contradicts)
    with pytest.raises(tracer.SerializationError, match="not a valid archive"):
        tracer.load(tmp_path / "m.pt", _restore_shapes=True)
