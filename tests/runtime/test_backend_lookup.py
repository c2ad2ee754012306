"""A backend's required module is looked for on ``sys.path`` until found, then remembered."""

from __future__ import annotations

import importlib.util

from runtime import backends


def test_a_found_module_is_not_searched_for_again(monkeypatch):
    calls = []
    real = importlib.util.find_spec

    def find_spec(name, *args):
        calls.append(name)
        return real(name, *args) if name != "no_such_module_for_tracer" else None

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(backends, "_FOUND", set())
    monkeypatch.setitem(backends._REGISTRY, "needs_json", ("runtime.interpreter:Program", "json"))
    monkeypatch.setitem(backends._REGISTRY, "needs_nothing_there", ("runtime.interpreter:Program",
                                                                    "no_such_module_for_tracer"))
    assert backends._available("needs_json") and backends._available("needs_json")
    assert calls == ["json"]
    assert not backends._available("needs_nothing_there") and not backends._available("needs_nothing_there")
    assert calls == ["json", "no_such_module_for_tracer", "no_such_module_for_tracer"], "a miss is looked up again"
