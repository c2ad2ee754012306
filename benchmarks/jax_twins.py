"""The zoo's models in ``jax.numpy`` (convolutions and pooling from ``jax.lax``), for ``jax.jit``.

``jax_model(name, config)`` returns ``f(params, x)`` where ``params`` maps the zoo module's
``state_dict()`` names to arrays and ``config`` holds what is not a weight (heads, steps); it is
written as a JAX user writes the model, and ``jax.jit`` compiles it whole.  This module imports
neither ``tracer`` nor torch, so a new process can time JAX's own start (``benchmarks.latency``).

:func:`limit_threads` limits JAX's threads; it must run before the first ``import jax``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["jax_model", "jax_config", "jax_input", "limit_threads", "XLA_THREAD_FLAGS"]

#: XLA:CPU without Eigen's own thread pool, and at most two threads for one operation.
XLA_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"


def limit_threads(threads: int = 2, env: dict | None = None) -> None:
    """Limit XLA:CPU to ``threads`` threads in ``env`` (``os.environ`` by default).

    Adds :data:`XLA_THREAD_FLAGS` to ``XLA_FLAGS`` (the setting JAX's issues #743 and #1539
    give), and sets ``NPROC``, which XLA's CPU client reads for the size of its thread pool.
    With jaxlib 0.10.2 on 2 cores, ``NPROC=1`` starts 2 threads fewer and took a matmul loop's
    CPU time over wall time from 1.9 to 1.0 (one quiet moment); the flags leave the pool's size.
    """
    env = os.environ if env is None else env
    flags = XLA_THREAD_FLAGS.format(threads=threads)
    if flags not in env.get("XLA_FLAGS", ""):
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    env["NPROC"] = str(threads)


def jax_model(name: str, config: dict[str, Any]) -> Callable[[dict, Any], Any]:
    import jax
    import jax.numpy as jnp
    from jax import lax

    def linear(p, prefix, x):
        return x @ p[prefix + ".weight"].T + p[prefix + ".bias"]

    def layer_norm(x, g, b, eps=1e-5):
        mu = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + eps) * g + b

    def mlp(p, x):
        h = jax.nn.relu(linear(p, "fc1", x))
        return linear(p, "fc3", jax.nn.relu(linear(p, "fc2", h)))

    def gelu_ln(p, x):
        return (x + jax.nn.gelu(layer_norm(x, p["ln.weight"], p["ln.bias"]), approximate=True)) * 0.5

    def conv(p, prefix, x):
        y = lax.conv_general_dilated(x, p[prefix + ".weight"], (1, 1), "VALID",
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + p[prefix + ".bias"][None, :, None, None]

    def cnn(p, x):
        h = jax.nn.relu(conv(p, "conv1", x))
        h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = jax.nn.relu(conv(p, "conv2", h))
        return linear(p, "fc", h.mean(axis=(2, 3)))

    def encoder(p, x, pre=""):
        b, t, d = x.shape
        heads = config["heads"]
        h = layer_norm(x, p[pre + "ln1.weight"], p[pre + "ln1.bias"])
        qkv = h @ p[pre + "attn.in_proj_weight"].T + p[pre + "attn.in_proj_bias"]
        q, k, v = (a.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3) for a in jnp.split(qkv, 3, axis=-1))
        w = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(jnp.float32(d // heads)), axis=-1)
        a = (w @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        x = x + linear(p, pre + "attn.out_proj", a)
        h = layer_norm(x, p[pre + "ln2.weight"], p[pre + "ln2.bias"])
        return x + linear(p, pre + "fc2", jax.nn.gelu(linear(p, pre + "fc1", h), approximate=False))

    def transformer4(p, x):
        for i in range(config["layers"]):
            x = encoder(p, x, f"blocks.{i}.")
        return x

    def rnn(p, x):
        h = jnp.zeros((x.shape[0], p["hh.weight"].shape[0]), x.dtype)
        for t in range(config["steps"]):
            h = jnp.tanh(linear(p, "ih", x[:, t]) + linear(p, "hh", h))
        return h

    def eltwise(p, x):
        y = jnp.tanh(x * 1.5 + 0.25) * x
        return jnp.sqrt(jnp.maximum(y, 0.0) + 1.0) * 0.5

    def gpt(p, ids):
        n, heads = ids.shape[0], config["heads"]
        x = p["wte"][ids] + p["wpe"][jnp.arange(n)]
        mask = (1.0 - jnp.tri(n, dtype=x.dtype)) * -1e10
        for i in range(config["layers"]):
            b = f"blocks.{i}."
            h = layer_norm(x, p[b + "ln_1_g"], p[b + "ln_1_b"])
            q, k, v = (jnp.stack(jnp.split(a, heads, axis=-1))
                       for a in jnp.split(h @ p[b + "attn_w"] + p[b + "attn_b"], 3, axis=-1))
            w = jax.nn.softmax(q @ k.transpose(0, 2, 1) / jnp.sqrt(jnp.float32(q.shape[-1])) + mask, axis=-1)
            a = jnp.concatenate(list(w @ v), axis=-1)
            x = x + a @ p[b + "attn_proj_w"] + p[b + "attn_proj_b"]
            h = layer_norm(x, p[b + "ln_2_g"], p[b + "ln_2_b"])
            h = jax.nn.gelu(h @ p[b + "fc_w"] + p[b + "fc_b"], approximate=True)
            x = x + h @ p[b + "proj_w"] + p[b + "proj_b"]
        return layer_norm(x, p["ln_f_g"], p["ln_f_b"]) @ p["wte"].T

    models = {"mlp": mlp, "gelu_ln": gelu_ln, "cnn": cnn, "transformer": encoder, "rnn": rnn, "rnn_traced": rnn,
              "transformer4": transformer4, "eltwise": eltwise, "gpt": gpt}
    return models[name]


def jax_config(module: Any) -> dict[str, Any]:
    """What ``jax_model`` needs besides the weights, read from a zoo module."""
    if hasattr(module, "n_head"):
        return {"heads": module.n_head, "layers": len(module.blocks)}
    if hasattr(module, "blocks"):
        return {"heads": module.blocks[0].attn.num_heads, "layers": len(module.blocks)}
    if hasattr(module, "attn"):
        return {"heads": module.attn.num_heads}
    if hasattr(module, "steps"):
        return {"steps": module.steps}
    return {}


def jax_input(x: Any) -> Any:
    """``x`` as JAX holds it: int64 ids become int32 (JAX's default without ``jax_enable_x64``)."""
    import numpy as np

    return x.astype(np.int32) if x.dtype == np.int64 else x
