"""``python -m benchmarks [--quick] [--tiny] [--only mlp,gelu_ln] [--no-torch]``."""

from .run import main

main()
