"""The frontend: Python-syntax source (an ``ast`` tree) -> graphs.

``tracer.script`` hands it the user's source with a resolver for the user's objects; the archive
loader hands it stored program text with :class:`ProgramResolver`, which admits only registered
ops and the module's own state.
"""

from .compiler import OPS, Compiler, Resolver, Source, annotation_type
from .program import ProgramResolver, parse_method, parse_program

__all__ = ["OPS", "Compiler", "ProgramResolver", "Resolver", "Source", "annotation_type", "parse_method",
           "parse_program"]
