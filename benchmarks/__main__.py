"""``python -m benchmarks [--quick] [--tiny] [--only gpt,eltwise] [--peers jax,onnxruntime] [--busy]``
(``--help`` lists every option)."""

from .run import main

main()
