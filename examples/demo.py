"""Demo: write a NumPy model, trace it, look at the program, save it, load it, run it compiled."""

import tempfile
import time
from pathlib import Path

import numpy as np

import tracer
from tracer import functional as F
from tracer import nn


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)
        self.scale = 0.5  # a plain Python constant attribute

    def forward(self, x):
        h = F.gelu(self.fc(self.ln(x)))
        return x + self.scale * self.proj(h)


def main() -> None:
    m = Block(64).eval()
    x = np.random.default_rng(0).standard_normal((8, 64), dtype=np.float32)
    sm = tracer.trace(m, (x,))
    print("== the captured program (ScriptModule.code) ==")
    print(sm.code)
    print("== the typed IR (str(sm.graph)) ==")
    print(sm.graph)
    x3 = np.random.default_rng(1).standard_normal((3, 64), dtype=np.float32)
    out = sm(x3)
    # the interpreter equals eager bit for bit; compiled (numba) code is within rtol 1e-5
    np.testing.assert_allclose(out, m(x3), rtol=1e-5, atol=1e-6)
    diff = float(np.abs(out - m(x3)).max())
    print(f"ran at batch 3: output {out.shape} {out.dtype}, largest difference from eager {diff:.1e}")
    print(f"backend: {sm.backend}; parameters: {sum(p.size for p in sm.parameters())}")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "block.pt"
        tracer.save(sm, path)
        t = time.perf_counter()
        loaded = tracer.load(path, _restore_shapes=True)  # no Block class needed; kernels compiled or cached
        took = time.perf_counter() - t
        np.testing.assert_allclose(loaded(x), m(x), rtol=1e-5, atol=1e-6)
        print(f"saved {path.stat().st_size} bytes; loaded (and compiled for the stored inputs) in {took:.2f} s; "
              f"loaded(x) matches eager")


if __name__ == "__main__":
    main()
