"""``python -m tracer``: the command line (see :mod:`tracer.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
