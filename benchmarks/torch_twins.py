"""The zoo's models in PyTorch (``torch.nn``), with the parameter names of ``benchmarks.zoo``'s.

``torch_twin(case)`` builds the twin of a zoo case and loads the case's weights into it: the
PyTorch eager, TorchScript, ``torch.compile`` and ONNX Runtime variants all run it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .gpt import torch_gpt

__all__ = ["torch_twin"]


def torch_twin(case: Any) -> Any:
    """The same model in PyTorch with the same weights (``None`` without torch)."""
    try:
        import torch
    except ImportError:
        return None
    tnn = torch.nn
    m = case.module

    class TMLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = tnn.Linear(m.fc1.in_features, m.fc1.out_features)
            self.fc2 = tnn.Linear(m.fc2.in_features, m.fc2.out_features)
            self.fc3 = tnn.Linear(m.fc3.in_features, m.fc3.out_features)

        def forward(self, x):
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    class TGeluLN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln = tnn.LayerNorm(m.ln.normalized_shape)

        def forward(self, x):
            return (x + tnn.functional.gelu(self.ln(x), approximate="tanh")) * 0.5

    class TCNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, m.conv1.out_channels, 3)
            self.conv2 = tnn.Conv2d(m.conv1.out_channels, m.conv2.out_channels, 3)
            self.fc = tnn.Linear(m.fc.in_features, m.fc.out_features)

        def forward(self, x):
            h = tnn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
            h = torch.relu(self.conv2(h))
            return self.fc(h.mean(dim=(2, 3)))

    class TEncoder(tnn.Module):
        def __init__(self, e):
            super().__init__()
            d = e.ln1.normalized_shape[0]
            self.attn = tnn.MultiheadAttention(d, e.attn.num_heads, batch_first=True)
            self.ln1 = tnn.LayerNorm(d)
            self.ln2 = tnn.LayerNorm(d)
            self.fc1 = tnn.Linear(d, e.fc1.out_features)
            self.fc2 = tnn.Linear(e.fc1.out_features, d)

        def forward(self, x):
            h = self.ln1(x)
            a, _ = self.attn(h, h, h, need_weights=False)
            x = x + a
            return x + self.fc2(tnn.functional.gelu(self.fc1(self.ln2(x))))

    class TRNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ih = tnn.Linear(m.ih.in_features, m.hidden)
            self.hh = tnn.Linear(m.hidden, m.hidden)
            self.hidden = m.hidden
            self.steps = m.steps

        def forward(self, x):
            h = torch.zeros(x.shape[0], self.hidden)
            for t in range(self.steps):
                h = torch.tanh(self.ih(x[:, t]) + self.hh(h))
            return h

    class TEncoderStack(tnn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = tnn.ModuleList([TEncoder(b) for b in m.blocks])

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x

    class TEltwise(tnn.Module):
        def forward(self, x):
            y = torch.tanh(x * 1.5 + 0.25) * x
            return torch.sqrt(torch.clamp(y, min=0.0) + 1.0) * 0.5

    if case.name == "gpt":
        return torch_gpt(m)
    if case.name == "transformer":
        twin = TEncoder(m)
    else:
        twin = {"mlp": TMLP, "gelu_ln": TGeluLN, "cnn": TCNN, "rnn": TRNN, "rnn_traced": TRNN,
                "transformer4": TEncoderStack, "eltwise": TEltwise}[case.name]()
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in m.state_dict().items()}
    twin.load_state_dict(state)
    return twin.eval()
