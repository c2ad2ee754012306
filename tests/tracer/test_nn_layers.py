"""``tracer.nn`` layers and ``tracer.functional`` against PyTorch with the same weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from tracer import functional as F
from tracer import nn
from tracer.nn import init

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

# PyTorch warns that it copies the input for "same" padding with an even kernel (a perf note).
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

TOL = {np.dtype(np.float32): (1e-5, 1e-6), np.dtype(np.float64): (1e-10, 1e-12)}
TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def t(x: Any) -> Any:
    return torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x


def assert_close(ours: Any, theirs: Any, dtype: Any = np.float32) -> None:
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert isinstance(ours, np.ndarray), type(ours)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    rtol, atol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True)


def randomize(theirs: Any, seed: int = 0, scale: float = 1.0) -> None:
    """Give every float parameter/buffer of a torch module values from U(-scale, scale) (variances
    from U(0.5, 2))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in theirs.state_dict().items():
            if not value.is_floating_point():
                continue
            lo, hi = (0.5, 2.0) if name.endswith("running_var") else (-scale, scale)
            value.copy_(torch.rand(value.shape, generator=g, dtype=value.dtype) * (hi - lo) + lo)


def copy_weights(ours: nn.Module, theirs: Any) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def state_layout(module: Any) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


@dataclass
class Case:
    """A layer built both ways; ``inputs`` are shapes of float inputs or a callable(rng, dtype)."""

    name: str
    ours: Callable[[Any], nn.Module]
    theirs: Callable[[], Any]
    inputs: list[Any] = field(default_factory=list)
    float64: bool = True


def _ids(rng: np.random.Generator, dtype: Any) -> tuple:
    return (rng.integers(0, 10, (3, 5)),)


CASES = [
    Case("linear", lambda d: nn.Linear(16, 8, dtype=d), lambda: tnn.Linear(16, 8), [(4, 16), (2, 3, 16), (16,)]),
    Case("linear_nobias", lambda d: nn.Linear(16, 8, bias=False, dtype=d), lambda: tnn.Linear(16, 8, bias=False),
         [(5, 16)]),
    Case("conv", lambda d: nn.Conv2d(3, 6, 3, dtype=d), lambda: tnn.Conv2d(3, 6, 3), [(2, 3, 9, 10), (3, 7, 7)]),
    Case("conv_strided_padded", lambda d: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dtype=d),
         lambda: tnn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2)), [(2, 4, 11, 8)]),
    Case("conv_groups_dilation", lambda d: nn.Conv2d(6, 4, 3, padding=2, dilation=2, groups=2, bias=False, dtype=d),
         lambda: tnn.Conv2d(6, 4, 3, padding=2, dilation=2, groups=2, bias=False), [(2, 6, 10, 9)]),
    Case("conv_depthwise", lambda d: nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4, dtype=d),
         lambda: tnn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4), [(1, 4, 9, 9)]),
    Case("conv_same_even", lambda d: nn.Conv2d(3, 5, (4, 3), padding="same", dilation=(1, 2), dtype=d),
         lambda: tnn.Conv2d(3, 5, (4, 3), padding="same", dilation=(1, 2)), [(2, 3, 8, 7)]),
    Case("conv_valid_1x1", lambda d: nn.Conv2d(5, 2, 1, padding="valid", dtype=d),
         lambda: tnn.Conv2d(5, 2, 1, padding="valid"), [(3, 5, 4, 4)]),
    Case("relu", lambda d: nn.ReLU(), lambda: tnn.ReLU(), [(4, 7)]),
    Case("gelu", lambda d: nn.GELU(), lambda: tnn.GELU(), [(64, 33)]),
    Case("gelu_tanh", lambda d: nn.GELU("tanh"), lambda: tnn.GELU("tanh"), [(64, 33)]),
    Case("sigmoid", lambda d: nn.Sigmoid(), lambda: tnn.Sigmoid(), [(8, 9)]),
    Case("tanh", lambda d: nn.Tanh(), lambda: tnn.Tanh(), [(8, 9)]),
    Case("softmax_last", lambda d: nn.Softmax(dim=-1), lambda: tnn.Softmax(dim=-1), [(4, 10), (2, 3, 5)]),
    Case("softmax_0", lambda d: nn.Softmax(dim=0), lambda: tnn.Softmax(dim=0), [(4, 10)]),
    Case("layernorm", lambda d: nn.LayerNorm(16, dtype=d), lambda: tnn.LayerNorm(16), [(4, 16), (2, 3, 16)]),
    Case("layernorm_2d", lambda d: nn.LayerNorm((3, 8), eps=1e-3, dtype=d), lambda: tnn.LayerNorm((3, 8), eps=1e-3),
         [(2, 3, 8)]),
    Case("layernorm_plain", lambda d: nn.LayerNorm(8, elementwise_affine=False, dtype=d),
         lambda: tnn.LayerNorm(8, elementwise_affine=False), [(5, 8)]),
    Case("layernorm_nobias", lambda d: nn.LayerNorm(8, bias=False, dtype=d), lambda: tnn.LayerNorm(8, bias=False),
         [(5, 8)]),
    Case("batchnorm_eval", lambda d: nn.BatchNorm2d(3, dtype=d), lambda: tnn.BatchNorm2d(3), [(2, 3, 5, 4)]),
    Case("batchnorm_eval_noaffine", lambda d: nn.BatchNorm2d(3, affine=False, dtype=d),
         lambda: tnn.BatchNorm2d(3, affine=False), [(2, 3, 5, 4)]),
    Case("batchnorm_nobias", lambda d: nn.BatchNorm2d(3, dtype=d, bias=False), lambda: tnn.BatchNorm2d(3, bias=False),
         [(2, 3, 5, 4)]),
    Case("batchnorm_untracked", lambda d: nn.BatchNorm2d(3, track_running_stats=False, dtype=d),
         lambda: tnn.BatchNorm2d(3, track_running_stats=False), [(4, 3, 5, 4)]),
    Case("embedding", lambda d: nn.Embedding(10, 4, dtype=d), lambda: tnn.Embedding(10, 4), [_ids]),
    Case("embedding_padding", lambda d: nn.Embedding(10, 4, padding_idx=-1, dtype=d),
         lambda: tnn.Embedding(10, 4, padding_idx=-1), [_ids]),
    Case("dropout_eval", lambda d: nn.Dropout(0.3), lambda: tnn.Dropout(0.3), [(4, 5)]),
    Case("flatten", lambda d: nn.Flatten(), lambda: tnn.Flatten(), [(2, 3, 4, 5), (2, 3)]),
    Case("flatten_mid", lambda d: nn.Flatten(1, 2), lambda: tnn.Flatten(1, 2), [(2, 3, 4, 5)]),
    Case("flatten_all", lambda d: nn.Flatten(0, -1), lambda: tnn.Flatten(0, -1), [(2, 3, 4)]),
    Case("maxpool", lambda d: nn.MaxPool2d(2), lambda: tnn.MaxPool2d(2), [(2, 3, 8, 7), (3, 6, 6)]),
    Case("maxpool_pad_dil_ceil", lambda d: nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
         lambda: tnn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True), [(2, 2, 11, 10)]),
    Case("avgpool", lambda d: nn.AvgPool2d(2), lambda: tnn.AvgPool2d(2), [(2, 3, 8, 7)]),
    Case("avgpool_pad_ceil", lambda d: nn.AvgPool2d((3, 2), stride=2, padding=1, ceil_mode=True),
         lambda: tnn.AvgPool2d((3, 2), stride=2, padding=1, ceil_mode=True), [(2, 2, 8, 9)]),
    Case("avgpool_exclude_pad", lambda d: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
         lambda: tnn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), [(2, 2, 7, 8)]),
    Case("avgpool_divisor", lambda d: nn.AvgPool2d(2, divisor_override=3), lambda: tnn.AvgPool2d(2, divisor_override=3),
         [(1, 2, 6, 6)]),
    Case("identity", lambda d: nn.Identity(3, x=1), lambda: tnn.Identity(3, x=1), [(2, 3)]),
    Case("sequential_cnn",
         lambda d: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, dtype=d), nn.BatchNorm2d(4, dtype=d), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5, dtype=d), nn.Softmax(-1)),
         lambda: tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2),
                                tnn.Flatten(), tnn.Linear(64, 5), tnn.Softmax(-1)),
         [(2, 3, 8, 8), (5, 3, 8, 8)]),
]


def _inputs(case: Case, dtype: Any) -> list[tuple]:
    rng = np.random.default_rng(42)
    out = []
    for spec in case.inputs:
        if callable(spec):
            out.append(spec(rng, dtype))
        else:
            out.append((rng.standard_normal(spec).astype(dtype),))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_layer_matches_torch(case: Case, dtype: Any) -> None:
    torch.manual_seed(0)
    theirs = case.theirs().to(TORCH_DTYPE[np.dtype(dtype)]).eval()
    randomize(theirs)
    ours = case.ours(dtype).eval()
    assert state_layout(ours) == state_layout(theirs)
    copy_weights(ours, theirs)
    for args in _inputs(case, dtype):
        with torch.no_grad():
            expected = theirs(*(t(a) for a in args))
        assert_close(ours(*args), expected, dtype)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_repr_matches_torch(case: Case) -> None:
    assert repr(case.ours(None)) == repr(case.theirs()).replace("NonDynamicallyQuantizableLinear", "Linear")


def test_parameters_default_to_float32_and_match_torch_names() -> None:
    pairs = [
        (nn.MultiheadAttention(16, 4), tnn.MultiheadAttention(16, 4, batch_first=True)),
        (nn.MultiheadAttention(16, 4, bias=False), tnn.MultiheadAttention(16, 4, bias=False, batch_first=True)),
        (nn.MultiheadAttention(16, 2, kdim=6, vdim=10), tnn.MultiheadAttention(16, 2, kdim=6, vdim=10)),
        (nn.BatchNorm2d(5), tnn.BatchNorm2d(5)),
        (nn.Conv2d(4, 8, (3, 5), groups=2), tnn.Conv2d(4, 8, (3, 5), groups=2)),
        (nn.Embedding(7, 3), tnn.Embedding(7, 3)),
    ]
    for ours, theirs in pairs:
        assert state_layout(ours) == state_layout(theirs)
        for k, v in ours.state_dict().items():
            assert v.dtype == (np.int64 if k.endswith("num_batches_tracked") else np.float32), k
    bn = nn.BatchNorm2d(2).state_dict()
    assert bn["num_batches_tracked"].shape == () and int(bn["num_batches_tracked"]) == 0


# -- training mode --------------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_training_updates_running_stats_like_torch(momentum: float | None) -> None:
    theirs = tnn.BatchNorm2d(3, momentum=momentum)
    randomize(theirs)
    ours = nn.BatchNorm2d(3, momentum=momentum)
    copy_weights(ours, theirs)
    rng = np.random.default_rng(0)
    for step in range(3):
        x = (rng.standard_normal((4, 3, 5, 6)) * (step + 1) + step).astype(np.float32)
        with torch.no_grad():
            expected = theirs(t(x))
        assert_close(ours(x), expected)
        for name in ("running_mean", "running_var"):
            assert_close(ours.state_dict()[name], theirs.state_dict()[name])
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == step + 1
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    with torch.no_grad():
        assert_close(ours(x), theirs(t(x)))
    assert int(ours.num_batches_tracked) == 3


def test_batchnorm_training_rejects_single_value_per_channel() -> None:
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm2d(3)(np.ones((1, 3, 1, 1), np.float32))
    with pytest.raises(ValueError, match="4D input"):
        nn.BatchNorm2d(3)(np.ones((2, 3, 4), np.float32))


def test_dropout_train_and_eval() -> None:
    m = nn.Dropout(0.25)
    x = np.ones((200, 100), np.float32)
    init.manual_seed(3)
    y = m(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    kept = y != 0
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs(1 - kept.mean() - 0.25) < 0.01
    init.manual_seed(3)
    np.testing.assert_array_equal(m(x), y)  # same seed, same mask
    assert not np.array_equal(m(x), y)  # the stream moves on
    assert m.eval()(x) is x
    assert not m.training and m.train().training
    assert np.array_equal(nn.Dropout(0.0)(x), x)
    assert not nn.Dropout(1.0)(x).any()
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_train_eval_propagate() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm2d(2)))
    assert all(mod.training for mod in m.modules())
    m.eval()
    assert not any(mod.training for mod in m.modules())


# -- initialisation -------------------------------------------------------------------------------


def test_linear_and_conv_init_statistics() -> None:
    init.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    assert np.abs(lin.weight).max() <= bound and np.abs(lin.bias).max() <= bound
    assert abs(lin.weight.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(lin.weight.mean()) < 0.01 * bound
    conv = nn.Conv2d(8, 64, 5, groups=2)
    cbound = 1 / math.sqrt(4 * 25)
    assert np.abs(conv.weight).max() <= cbound and np.abs(conv.bias).max() <= cbound
    assert abs(conv.weight.std() - cbound / math.sqrt(3)) < 0.03 * cbound
    theirs = tnn.Linear(400, 300)
    assert abs(theirs.weight.std().item() - lin.weight.std()) < 0.01 * bound


def test_other_init_statistics() -> None:
    init.manual_seed(0)
    emb = nn.Embedding(1000, 64, padding_idx=3)
    assert abs(emb.weight.mean()) < 0.01 and abs(emb.weight.std() - 1) < 0.01
    assert not emb.weight[3].any()
    ln = nn.LayerNorm(7)
    np.testing.assert_array_equal(ln.weight, np.ones(7, np.float32))
    np.testing.assert_array_equal(ln.bias, np.zeros(7, np.float32))
    bn = nn.BatchNorm2d(4)
    assert (bn.running_var == 1).all() and not bn.running_mean.any()
    mha = nn.MultiheadAttention(64, 8)
    xb = math.sqrt(6 / (64 + 3 * 64))
    assert np.abs(mha.in_proj_weight).max() <= xb
    assert abs(mha.in_proj_weight.std() - xb / math.sqrt(3)) < 0.03 * xb
    assert not mha.in_proj_bias.any() and not mha.out_proj.bias.any()
    assert np.abs(mha.out_proj.weight).max() <= 1 / math.sqrt(64)


def test_manual_seed_reproduces_and_varies() -> None:
    init.manual_seed(5)
    a = nn.Linear(8, 8).weight.copy()
    init.manual_seed(5)
    b = nn.Linear(8, 8).weight.copy()
    init.manual_seed(6)
    c = nn.Linear(8, 8).weight.copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(
        tnn.init.calculate_gain("leaky_relu", math.sqrt(5)))
    with pytest.raises(ValueError):
        init.manual_seed(-1)


# -- state dicts ----------------------------------------------------------------------------------


def test_load_state_dict_strict_and_shape_errors() -> None:
    ours = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    theirs = tnn.Sequential(tnn.Linear(4, 3), tnn.LayerNorm(3))
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    missing = dict(sd)
    del missing["1.bias"]
    with pytest.raises(KeyError, match=r"1\.bias"):
        ours.load_state_dict(missing)
    with pytest.raises(KeyError, match="extra"):
        ours.load_state_dict({**sd, "extra": np.zeros(1)})
    result = ours.load_state_dict({**missing, "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["1.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(ours[0].weight, sd["0.weight"])
    with pytest.raises(ValueError, match="shape"):
        ours.load_state_dict({**sd, "0.weight": np.zeros((3, 5), np.float32)})


def test_containers_behave_like_torch() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and seq[1] is list(seq)[1]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    seq.append(nn.Sigmoid())
    assert [k for k, _ in seq.named_children()] == ["0", "1", "2", "3"]
    del seq[1]
    assert [type(m).__name__ for m in seq] == ["Linear", "Linear", "Sigmoid"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(IndexError):
        seq[3]
    named = nn.Sequential({"enc": nn.Linear(2, 2), "act": nn.Tanh()})
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]

    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.extend([nn.ReLU(), nn.Linear(2, 4)])
    ml.append(nn.Tanh())
    ml.insert(1, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Linear", "Identity", "ReLU", "Linear", "Tanh"]
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert len(ml[1:3]) == 2 and ml[-1] is ml[4]
    with pytest.raises(TypeError):
        ml.append(np.zeros(2))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(3, 3), nn.GELU()) for _ in range(2)])

        def forward(self, x: np.ndarray) -> np.ndarray:
            for block in self.blocks:
                x = block(x)
            return x

    class TNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = tnn.ModuleList([tnn.Sequential(tnn.Linear(3, 3), tnn.GELU()) for _ in range(2)])

        def forward(self, x: Any) -> Any:
            for block in self.blocks:
                x = block(x)
            return x

    ours, theirs = Net(), TNet()
    assert state_layout(ours) == state_layout(theirs)
    copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    with torch.no_grad():
        assert_close(ours(x), theirs(t(x)))


# -- multi-head attention -------------------------------------------------------------------------

E, H, B, L, S = 16, 4, 2, 5, 7


def _mha_masks(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    if kind == "none":
        return {}
    if kind == "bool_attn":
        m = rng.random((L, S)) < 0.3
        m[:, 0] = False  # every query keeps one key
        return {"attn_mask": m}
    if kind == "float_attn":
        return {"attn_mask": rng.standard_normal((L, S)).astype(np.float32)}
    if kind == "per_head_attn":
        m = rng.random((B * H, L, S)) < 0.3
        m[..., 1] = False
        return {"attn_mask": m}
    if kind == "key_padding":
        m = np.zeros((B, S), bool)
        m[0, -3:] = True
        return {"key_padding_mask": m}
    if kind == "both":
        kpm = np.zeros((B, S), bool)
        kpm[1, :2] = True
        return {"key_padding_mask": kpm, "attn_mask": rng.standard_normal((L, S)).astype(np.float32)}
    raise AssertionError(kind)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")
@pytest.mark.parametrize("masks", ["none", "bool_attn", "float_attn", "per_head_attn", "key_padding", "both"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_multihead_attention_matches_torch(masks: str, need_weights: bool, average: bool) -> None:
    torch.manual_seed(1)
    theirs = tnn.MultiheadAttention(E, H, batch_first=True).eval()
    randomize(theirs, scale=0.3)
    ours = nn.MultiheadAttention(E, H).eval()
    copy_weights(ours, theirs)
    rng = np.random.default_rng(2)
    q = rng.standard_normal((B, L, E)).astype(np.float32)
    kv = rng.standard_normal((B, S, E)).astype(np.float32)
    kw = _mha_masks(masks, rng)
    out, weights = ours(q, kv, kv, need_weights=need_weights, average_attn_weights=average, **kw)
    with torch.no_grad():
        t_out, t_weights = theirs(t(q), t(kv), t(kv), need_weights=need_weights, average_attn_weights=average,
                                  **{k: t(v) for k, v in kw.items()})
    assert_close(out, t_out)
    if need_weights:
        assert weights.shape == ((B, L, S) if average else (B, H, L, S))
        assert_close(weights, t_weights)
    else:
        assert weights is None and t_weights is None


@pytest.mark.parametrize("variant", ["self_f64", "no_bias", "kdim_vdim", "seq_first", "unbatched"])
def test_multihead_attention_variants(variant: str) -> None:
    torch.manual_seed(3)
    rng = np.random.default_rng(4)
    dtype = np.float64 if variant == "self_f64" else np.float32
    kwargs: dict[str, Any] = {}
    kdim = vdim = E
    if variant == "no_bias":
        kwargs["bias"] = False
    if variant == "kdim_vdim":
        kdim, vdim = 6, 10
        kwargs.update(kdim=kdim, vdim=vdim)
    batch_first = variant != "seq_first"
    theirs = tnn.MultiheadAttention(E, H, batch_first=batch_first, **kwargs).to(TORCH_DTYPE[np.dtype(dtype)]).eval()
    randomize(theirs, scale=0.3)
    ours = nn.MultiheadAttention(E, H, batch_first=batch_first, dtype=dtype, **kwargs).eval()
    assert state_layout(ours) == state_layout(theirs)
    copy_weights(ours, theirs)
    lead = {"unbatched": (), "seq_first": None}.get(variant, (B,))
    if lead is None:
        q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((L, B, E), (S, B, kdim), (S, B, vdim)))
    else:
        q, k, v = (rng.standard_normal((*lead, n, d)).astype(dtype) for n, d in ((L, E), (S, kdim), (S, vdim)))
    if variant == "self_f64":
        k = v = q
    out, weights = ours(q, k, v)
    with torch.no_grad():
        t_out, t_weights = theirs(t(q), t(k), t(v))
    assert_close(out, t_out, dtype)
    assert_close(weights, t_weights, dtype)


def test_multihead_attention_dropout_and_errors() -> None:
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    _, w_train = m(x, x, x, average_attn_weights=False)
    assert ((w_train == 0) | (w_train > 0)).all() and (w_train == 0).any()
    _, w_eval = m.eval()(x, x, x, average_attn_weights=False)
    np.testing.assert_allclose(w_eval.sum(-1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="is_causal"):
        m(x, x, x, is_causal=True)


# -- functional -----------------------------------------------------------------------------------

RNG = np.random.default_rng(7)


def rand(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


FUNCTIONAL = [
    ("linear", lambda f, x, w, b: f.linear(x, w, b), lambda: (rand(3, 5), rand(4, 5), rand(4))),
    ("linear_nobias", lambda f, x, w: f.linear(x, w), lambda: (rand(2, 3, 5), rand(4, 5))),
    ("relu", lambda f, x: f.relu(x), lambda: (rand(4, 6),)),
    ("gelu", lambda f, x: f.gelu(x), lambda: (rand(1000) * 3,)),
    ("gelu_tanh", lambda f, x: f.gelu(x, approximate="tanh"), lambda: (rand(1000) * 3,)),
    ("sigmoid", lambda f, x: f.sigmoid(x), lambda: (rand(1000) * 30,)),
    ("tanh", lambda f, x: f.tanh(x), lambda: (rand(100) * 5,)),
    ("softmax", lambda f, x: f.softmax(x, dim=1), lambda: (rand(3, 6, 2) * 10,)),
    ("log_softmax", lambda f, x: f.log_softmax(x, dim=-1), lambda: (rand(3, 6) * 10,)),
    ("layer_norm", lambda f, x, w, b: f.layer_norm(x, (2, 6), w, b, eps=1e-6),
     lambda: (rand(3, 2, 6) + 3, rand(2, 6), rand(2, 6))),
    ("batch_norm_eval", lambda f, x, m, v, w, b: f.batch_norm(x, m, v, w, b),
     lambda: (rand(4, 3, 5), rand(3), np.abs(rand(3)) + 0.5, rand(3), rand(3))),
    ("batch_norm_train_noaffine", lambda f, x: f.batch_norm(x, None, None, training=True),
     lambda: (rand(4, 3, 2, 2),)),
    ("conv2d", lambda f, x, w, b: f.conv2d(x, w, b, stride=2, padding=(1, 2), dilation=(2, 1), groups=2),
     lambda: (rand(2, 4, 9, 8), rand(6, 2, 3, 3), rand(6))),
    ("conv2d_same", lambda f, x, w: f.conv2d(x, w, padding="same"), lambda: (rand(1, 2, 5, 6), rand(3, 2, 2, 4))),
    ("max_pool2d", lambda f, x: f.max_pool2d(x, (3, 2), stride=(2, 1), padding=1, ceil_mode=True),
     lambda: (rand(2, 3, 9, 7),)),
    ("avg_pool2d", lambda f, x: f.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
     lambda: (rand(2, 3, 8, 8),)),
    ("embedding", lambda f, i, w: f.embedding(i, w), lambda: (RNG.integers(0, 6, (2, 3)), rand(6, 4))),
    ("dropout_eval", lambda f, x: f.dropout(x, 0.4, training=False), lambda: (rand(3, 3),)),
    ("sdpa", lambda f, q, k, v: f.scaled_dot_product_attention(q, k, v),
     lambda: (rand(2, 3, 5, 8), rand(2, 3, 7, 8), rand(2, 3, 7, 4))),
    ("sdpa_causal_scale", lambda f, q, k, v: f.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
     lambda: (rand(2, 6, 8), rand(2, 6, 8), rand(2, 6, 8))),
    ("sdpa_float_mask", lambda f, q, k, v, m: f.scaled_dot_product_attention(q, k, v, attn_mask=m),
     lambda: (rand(2, 4, 8), rand(2, 5, 8), rand(2, 5, 3), rand(4, 5))),
    ("sdpa_gqa", lambda f, q, k, v: f.scaled_dot_product_attention(q, k, v, enable_gqa=True),
     lambda: (rand(2, 6, 4, 8), rand(2, 2, 5, 8), rand(2, 2, 5, 8))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,call,make", FUNCTIONAL, ids=[f[0] for f in FUNCTIONAL])
def test_functional_matches_torch(name: str, call: Callable, make: Callable, dtype: Any) -> None:
    args = tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in make())
    with torch.no_grad():
        expected = call(TF, *(t(a) for a in args))
    assert_close(call(F, *args), expected, dtype)


def test_sdpa_bool_mask_and_fully_masked_rows() -> None:
    q, k, v = rand(2, 4, 8), rand(2, 5, 8), rand(2, 5, 3)
    mask = RNG.random((2, 4, 5)) < 0.5
    mask[0, 1] = False  # query 1 of batch 0 may attend to nothing: PyTorch gives zeros
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with torch.no_grad():
        expected = TF.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=t(mask))
    assert_close(out, expected)
    assert not out[0, 1].any()
    with pytest.raises(ValueError):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=True)


def test_functional_training_and_numerics_edges() -> None:
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    x = rand(6, 3, 4)
    t_rm, t_rv = t(rm.copy()), t(rv.copy())
    y = F.batch_norm(x, rm, rv, training=True, momentum=0.2)
    expected = TF.batch_norm(t(x), t_rm, t_rv, training=True, momentum=0.2)
    assert_close(y, expected)
    assert_close(rm, t_rm)
    assert_close(rv, t_rv)
    # softmax of huge values stays finite, log_softmax of -inf rows like torch
    big = np.array([[1e4, 0.0, -1e4]], np.float32)
    assert_close(F.softmax(big, -1), TF.softmax(t(big), -1))
    assert_close(F.log_softmax(big, -1), TF.log_softmax(t(big), -1))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        assert F.softmax(np.zeros((2, 4), np.float32)).sum(axis=1).tolist() == [1.0, 1.0]
    assert np.isnan(F.relu(np.array([np.nan, -1.0], np.float32))).tolist() == [True, False]
    assert F.sigmoid(np.array([-1000.0, 1000.0], np.float32)).tolist() == [0.0, 1.0]
    assert F.gelu(np.array([-30.0, 30.0], np.float32)).tolist() == [-0.0, 30.0]
    with pytest.raises(TypeError):
        F.embedding(np.array([0.5]), rand(3, 2))
    with pytest.raises(ValueError):
        F.gelu(x, approximate="fast")
