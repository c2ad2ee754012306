"""Op-table entries for the list and dict ops (``ir/ops/lists.py``), scripted.

A list or dict becomes a value of the program when it grows in a loop that runs at run time, so
each sample builds one in ``for t in range(x.shape[0])`` (its ``other`` inputs change the trip
count).  Results are arrays, ints, bools and tuples, as the table's harnesses compare them.
"""

from __future__ import annotations

import numpy as np

from tests.op_table import SCRIPT_SAMPLES, Sample, f32


def _grow(x):
    outs = []
    for t in range(x.shape[0]):
        outs.append(x[t] * 2.0)
    return np.stack(outs), len(outs), outs[-1], np.concatenate(outs)


def _edit(x):
    outs = [x[0]]
    for t in range(x.shape[0]):
        outs.extend([x[t], x[t] + 1.0])
        outs.insert(0, x[t] * 3.0)
        outs[1] = outs[1] - 1.0
    last = outs.pop()
    return np.stack(outs), last


def _keyed(x):
    steps = {-1: x[0] * 0.0}
    for t in range(x.shape[0]):
        steps[t] = steps.get(t - 1, x[0]) + x[t]
    n = x.shape[0]
    copy = steps.copy()
    return (steps[n - 1], len(steps), (n - 1) in steps, len(list(copy.keys())), np.stack(list(steps.values())))


def _named(x):
    acc = {"sum": x[0] * 0.0, "max": x[0]}
    for t in range(x.shape[0]):
        acc["sum"] = acc["sum"] + x[t]
        acc["max"] = np.maximum(acc["max"], x[t])
    return acc["sum"], acc["max"]


def _argument(d):
    total = d["a"] * 0.0
    for _k, v in d.items():
        total = total + v
    return total, len(d)


_X, _OTHER = (f32(4, 3),), (f32(7, 3),)
for _op in ("list_new", "list_append", "list_len", "list_getitem", "list_stack", "list_concatenate"):
    SCRIPT_SAMPLES.append(Sample(_op, _grow, _X, other=_OTHER, id=f"{_op}-script"))
for _op in ("list_extend", "list_insert", "list_setitem", "list_pop"):
    SCRIPT_SAMPLES.append(Sample(_op, _edit, _X, other=_OTHER, id=f"{_op}-script"))
for _op in ("dict_setitem", "dict_get", "dict_contains", "dict_len", "dict_copy", "dict_keys", "dict_values"):
    SCRIPT_SAMPLES.append(Sample(_op, _keyed, _X, other=_OTHER, id=f"{_op}-script"))
for _op in ("dict_new", "dict_getitem"):
    SCRIPT_SAMPLES.append(Sample(_op, _named, _X, other=_OTHER, id=f"{_op}-script"))
SCRIPT_SAMPLES.append(Sample("dict_with_keys", _argument, ({"a": f32(3), "b": f32(3)},),
                             other=({"a": f32(3), "b": f32(3)},), id="dict_with_keys-script"))
