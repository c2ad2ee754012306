"""Real PyTorch ``state_dict``s (converted with ``.numpy()``) load strictly into the matching
``tracer.nn`` architecture, and the outputs match PyTorch's: every SPEC layer, the containers, a
small ResNet-style model and a small transformer.  Eager, traced and scripted, the captured
modules loading the weights with ``ScriptModule.load_state_dict``, and after save/load."""

from __future__ import annotations

import numpy as np
import pytest

import tracer
from tracer import functional as F
from tracer import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def _close(got, ref) -> None:
    if isinstance(ref, tuple):
        assert isinstance(got, tuple) and len(got) == len(ref)
        for g, r in zip(got, ref):
            _close(g, r)
        return
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def _numpy_state(tm) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in tm.state_dict().items()}


def _torch_out(tm, inputs):
    with torch.no_grad():
        out = tm(*(torch.from_numpy(x) for x in inputs))
    if isinstance(out, tuple):
        return tuple(o.numpy() for o in out)
    return out.numpy()


def _check_everywhere(make, tm, inputs, tmp_path) -> None:
    """``make()`` builds the tracer twin of ``tm`` (an eval-mode torch module)."""
    state = _numpy_state(tm)
    expected = _torch_out(tm, inputs)
    m = make().eval()
    assert list(m.state_dict()) == list(state)  # the same keys in the same order
    assert m.load_state_dict(state) == ([], [])
    _close(m(*inputs), expected)
    for how in ("trace", "script"):
        fresh = make().eval()  # its own random weights, replaced below
        prefix = ""
        if how == "script" and type(fresh).__module__.startswith("tracer."):
            fresh, prefix = _Root(fresh), "inner."  # script compiles a root's forward from source
        sm = tracer.trace(fresh, inputs) if how == "trace" else tracer.script(fresh, inputs)
        sm.set_backend("interpreter")
        assert list(sm.state_dict()) == [prefix + k for k in state]
        state = {prefix + k: v for k, v in _numpy_state(tm).items()}
        assert sm.load_state_dict(state) == ([], [])
        _close(sm(*inputs), expected)
        path = tmp_path / f"{how}.pt"
        tracer.save(sm, path)
        loaded = tracer.load(path).set_backend("interpreter")
        _close(loaded(*inputs), expected)
        assert loaded.load_state_dict(state) == ([], [])


class _Root(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def _f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


class TorchStack(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = tnn.ModuleList([tnn.Linear(5, 5) for _ in range(3)])

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return x


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(5, 5) for _ in range(3)])

    def forward(self, x):
        for layer in self.layers:
            x = np.tanh(layer(x))
        return x


class TorchAttention(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = tnn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)


LAYERS = {
    "linear": (lambda: tnn.Linear(5, 3), lambda: nn.Linear(5, 3), [_f32(4, 5)]),
    "linear_no_bias": (lambda: tnn.Linear(5, 3, bias=False), lambda: nn.Linear(5, 3, bias=False), [_f32(4, 5)]),
    "conv2d": (lambda: tnn.Conv2d(3, 4, 3, stride=2, padding=1), lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1),
               [_f32(2, 3, 9, 9)]),
    "conv2d_groups_dilation": (
        lambda: tnn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False),
        lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False), [_f32(2, 4, 8, 8)]),
    "layer_norm": (lambda: tnn.LayerNorm(6), lambda: nn.LayerNorm(6), [_f32(3, 6)]),
    "layer_norm_2d": (lambda: tnn.LayerNorm((4, 6)), lambda: nn.LayerNorm((4, 6)), [_f32(2, 4, 6)]),
    "batch_norm": (lambda: tnn.BatchNorm2d(3), lambda: nn.BatchNorm2d(3), [_f32(2, 3, 5, 5)]),
    "embedding": (lambda: tnn.Embedding(10, 4), lambda: nn.Embedding(10, 4),
                  [np.array([[1, 9, 0], [4, 4, 2]], dtype=np.int64)]),
    "multihead_attention": (TorchAttention, Attention, [_f32(2, 5, 8)]),
    "sequential": (lambda: tnn.Sequential(tnn.Linear(5, 8), tnn.ReLU(), tnn.Linear(8, 3)),
                   lambda: nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)), [_f32(4, 5)]),
    "module_list": (TorchStack, Stack, [_f32(4, 5)]),
}


def _with_nontrivial_state(tm, inputs):
    """Random parameters, and for batch norm running statistics from a few training steps."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        if any(isinstance(mod, tnn.BatchNorm2d) for mod in tm.modules()):
            tm.train()
            for seed in range(3):
                tm(torch.from_numpy(_f32(*inputs[0].shape, seed=seed + 1)))
    return tm.eval()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_pytorch_layer_state_dicts_load_strictly_and_match(name, tmp_path):
    make_torch, make, inputs = LAYERS[name]
    torch.manual_seed(0)
    tm = _with_nontrivial_state(make_torch(), inputs)
    _check_everywhere(make, tm, inputs, tmp_path)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_training_steps_match_pytorch(momentum):
    tm = tnn.BatchNorm2d(3, momentum=momentum).train()
    m = nn.BatchNorm2d(3, momentum=momentum).train()
    for seed in range(3):
        x = _f32(4, 3, 5, 5, seed=seed) * (seed + 1)
        _close(m(x), _torch_out(tm, [x]))
        for key, value in _numpy_state(tm).items():
            assert m.state_dict()[key].dtype == value.dtype
            np.testing.assert_allclose(m.state_dict()[key], value, rtol=1e-5, atol=1e-7)
    assert int(m.num_batches_tracked) == 3
    m.load_state_dict(_numpy_state(tm))
    x = _f32(2, 3, 5, 5, seed=9)
    _close(m.eval()(x), _torch_out(tm.eval(), [x]))


# -- whole models -----------------------------------------------------------------------------------
class TorchBasicBlock(tnn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class TorchResNet(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(8)
        self.layer1 = tnn.Sequential(TorchBasicBlock(8, 8, 1), TorchBasicBlock(8, 16, 2))
        self.fc = tnn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(self.layer1(x).mean(dim=(2, 3)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x
        if self.downsample is not None:
            identity = self.downsample(x)
        return F.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.fc(self.layer1(x).mean(axis=(2, 3)))


def test_a_resnet_style_model_loads_a_pytorch_state_dict(tmp_path):
    x = _f32(2, 3, 12, 12)
    tm = _with_nontrivial_state(TorchResNet(), [x])
    assert "layer1.1.downsample.1.num_batches_tracked" in tm.state_dict()
    _check_everywhere(ResNet, tm, [x], tmp_path)


class TorchTransformer(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos = tnn.Parameter(torch.zeros(1, 12, 16))
        self.embed = tnn.Embedding(50, 16)
        self.layers = tnn.ModuleList([
            tnn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, activation="gelu", batch_first=True)
            for _ in range(2)
        ])
        self.norm = tnn.LayerNorm(16)
        self.head = tnn.Linear(16, 50)

    def forward(self, ids):
        h = self.embed(ids) + self.pos[:, :ids.shape[1]]
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h))


class EncoderLayer(nn.Module):
    """``torch.nn.TransformerEncoderLayer(batch_first=True, activation="gelu")``'s structure."""

    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.linear1 = nn.Linear(d, ff)
        self.dropout = nn.Dropout(0.0)
        self.linear2 = nn.Linear(ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout1 = nn.Dropout(0.0)
        self.dropout2 = nn.Dropout(0.0)

    def forward(self, x):
        attended, _ = self.self_attn(x, x, x, need_weights=False)
        x = self.norm1(x + self.dropout1(attended))
        h = self.linear2(self.dropout(F.gelu(self.linear1(x))))
        return self.norm2(x + self.dropout2(h))


class Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos = np.zeros((1, 12, 16), np.float32)
        self.embed = nn.Embedding(50, 16)
        self.layers = nn.ModuleList([EncoderLayer(16, 4, 32) for _ in range(2)])
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 50)

    def forward(self, ids):
        h = self.embed(ids) + self.pos[:, :ids.shape[1]]
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h))


def test_a_transformer_loads_a_pytorch_state_dict(tmp_path):
    ids = np.random.default_rng(3).integers(0, 50, (2, 9)).astype(np.int64)
    tm = _with_nontrivial_state(TorchTransformer(), [ids])
    _check_everywhere(Transformer, tm, [ids], tmp_path)
