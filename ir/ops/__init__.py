"""The op registry and every registered op (importing this package registers them all)."""

from . import (  # noqa: F401
    calls,
    control,
    creation,
    elementwise,
    graphops,
    index,
    linalg,
    movement,
    nn,
    reduce,
    scalar,
    shape,
)
from .registry import (
    MissingRuleError,
    OpDef,
    OpKind,
    RuleTable,
    all_ops,
    decomposition_for,
    defdecomp,
    defop,
    get_op,
    has_op,
    normalize_call,
    numpy_surface,
    op_for_method,
    op_for_numpy,
)

__all__ = [
    "MissingRuleError",
    "OpDef",
    "OpKind",
    "RuleTable",
    "all_ops",
    "decomposition_for",
    "defdecomp",
    "defop",
    "get_op",
    "has_op",
    "normalize_call",
    "op_for_method",
    "op_for_numpy",
    "numpy_surface",
]
