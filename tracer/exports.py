"""Methods marked ``@tracer.export``: compiled by ``script`` and kept by ``trace``, on every module.

The root's exported methods become methods of the root ScriptModule.  A submodule's become
methods of its own ScriptModule (``sm.encoder.embed_tokens(ids)``): they are compiled with the
submodule as ``self``, so their parameter names are relative to it and the submodule runs them on
its own state (and keeps them when it is saved or used inside another module).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator

from ir import Graph
from runtime.module import ScriptModule

from .decorators import marker
from .nn.module import Module

__all__ = ["attach_exports", "exported_names", "unused_names"]


def _marked(cls: type, kind: str) -> Iterator[str]:
    for name in dir(cls):
        attr = inspect.getattr_static(cls, name, None)
        if name != "forward" and inspect.isfunction(attr) and marker(attr) == kind:
            yield name


def exported_names(cls: type) -> list[str]:
    """Names of the methods of ``cls`` marked ``@tracer.export`` (``forward`` aside), sorted."""
    return list(_marked(cls, "export"))


def unused_names(cls: type) -> set[str]:
    """Names of the methods of ``cls`` marked ``@tracer.unused``."""
    return set(_marked(cls, "unused"))


def attach_exports(sm: ScriptModule, root: Module, *, include_root: bool) -> None:
    """Compile the exported methods of ``root``'s submodules (and of ``root`` itself when
    ``include_root``) into the matching modules of ``sm``, the tree ``build_module`` made of it.

    Raises ``tracer.ScriptError`` when an exported method does not compile.
    """
    from .script import _compile_method, _Context  # script imports trace, which imports this

    targets = dict(sm.named_modules())
    for path, mod in root.named_modules():
        target = targets.get(path)
        if isinstance(mod, ScriptModule) or target is None or (path == "" and not include_root):
            continue
        target.__dict__["_unused_methods"] |= unused_names(type(mod))
        names = exported_names(type(mod))
        if not names:
            continue
        ctx = _Context(mod)
        graphs = {name: _compile_method(ctx, inspect.getattr_static(type(mod), name), mod, None, name)
                  for name in names}
        graphs = _disjoint_constants(graphs, target.__dict__["_methods"].values())
        target.__dict__["_methods"].update(graphs)
        target.__dict__["_python_methods"].update(ctx.python_methods)
        target.__dict__["_programs"].clear()
        target.__dict__["_flags"].clear()


# -- constant tables --------------------------------------------------------------------------------
def _constant_names(g: Graph) -> set[str]:
    names = set(g.tensors)
    for _, node in g.nodes():
        for b in node.blocks:
            names |= _constant_names(b)
    return names


def _disjoint_constants(graphs: dict[str, Graph], others: object) -> dict[str, Graph]:
    """``graphs`` with their named constants renamed away from those of the graphs ``others``:
    a module's methods share one table of named constants in the archive (a traced ``forward``
    and the scripted exports name theirs independently)."""
    taken: set[str] = set()
    for g in others:  # type: ignore[attr-defined]
        taken |= _constant_names(g)
    ours: set[str] = set()
    for g in graphs.values():
        ours |= _constant_names(g)
    clash = sorted(ours & taken)
    if not clash:
        return graphs
    used = taken | ours
    mapping = {}
    for name in clash:
        fresh = name
        while fresh in used:
            fresh += "_"
        used.add(fresh)
        mapping[name] = fresh
    return {k: _rename(g, mapping) for k, g in graphs.items()}


def _rename(g: Graph, mapping: dict[str, str]) -> Graph:
    out = g.copy()
    out.tensors = {mapping.get(k, k): v for k, v in g.tensors.items()}
    for nid, node in g.nodes():
        new = node
        if node.blocks:
            new = dataclasses.replace(new, blocks=tuple(_rename(b, mapping) for b in node.blocks))
        if node.op == "constant" and node.kwarg("name") in mapping:
            kwargs = tuple((k, mapping[v] if k == "name" else v) for k, v in node.kwargs)
            new = dataclasses.replace(new, kwargs=kwargs)
        if new is not node:
            out.set_node(nid, new)
    return out
