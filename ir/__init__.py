"""The graph IR: typed values, an op registry, a networkx graph, passes and printers.

``ir`` imports nothing from ``tracer``, ``codegen`` or ``runtime``.
"""

from . import ops
from .builder import Builder, Value
from .errors import (
    DeviceError,
    GuardError,
    ScriptError,
    SerializationError,
    TracerError,
    TracerWarning,
    TracingCheckError,
    TracingError,
    VerificationError,
)
from .graph import Graph, ValueRef, structurally_equal
from .node import Node, Slice, SourceLoc, Use, iter_uses, map_template
from .passes import PASSES, run_passes
from .printer import Namespace, format_graph, print_code
from .types import (
    AnyType,
    DictType,
    Dim,
    ListType,
    ScalarType,
    TensorType,
    TupleType,
    Type,
    join,
    parse_dtype,
    short_name,
    type_of,
)
from .verify import verify

__all__ = [
    "AnyType",
    "Builder",
    "DeviceError",
    "GuardError",
    "Dim",
    "DictType",
    "Graph",
    "ListType",
    "Namespace",
    "Node",
    "PASSES",
    "ScalarType",
    "ScriptError",
    "SerializationError",
    "Slice",
    "SourceLoc",
    "TensorType",
    "TracerError",
    "TracerWarning",
    "TracingCheckError",
    "TracingError",
    "TupleType",
    "Type",
    "Use",
    "Value",
    "ValueRef",
    "VerificationError",
    "format_graph",
    "iter_uses",
    "join",
    "map_template",
    "ops",
    "parse_dtype",
    "print_code",
    "run_passes",
    "short_name",
    "structurally_equal",
    "type_of",
    "verify",
]
