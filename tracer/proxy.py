"""``Proxy``: the stand-in for an array (or a size) while ``forward`` is traced.

A proxy carries the real value it stands for, so tracing runs the model for real and records
each NumPy operation on the way (operators, ufuncs through ``__array_ufunc__``, NumPy functions
through ``__array_function__``, array methods, indexing, shape reads).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ir import TensorType, TracingError
from ir.ops import decomposition_for, get_op, op_for_method, op_for_numpy

from . import views

__all__ = ["Proxy"]


def _binary(name: str, reflected: bool = False):
    def method(self: Proxy, other: Any) -> Any:
        if name == "mul" and isinstance(other, (list, tuple, str)) and not isinstance(self._value, np.ndarray):
            return other * self.__index__()  # [0] * n: Python repeats the sequence (n is baked)
        args = (other, self) if reflected else (self, other)
        return self._tracer.record_call(get_op(name), args, {})

    method.__name__ = f"__{'r' if reflected else ''}{name.rstrip('_')}__"
    return method


def _unary(name: str):
    def method(self: Proxy) -> Any:
        return self._tracer.record_call(get_op(name), (self,), {})

    method.__name__ = f"__{name}__"
    return method


def _inplace(name: str):
    def method(self: Proxy, other: Any) -> Any:
        return views.inplace(self, name, other)

    method.__name__ = f"__i{name.rstrip('_')}__"
    return method


class Proxy:
    """A traced value.  Behaves like the ``np.ndarray`` (or Python ``int``) it stands for."""

    __slots__ = ("_tracer", "_v_", "_value_", "_shape", "_origin", "_root", "_path", "_version")
    __array_priority__ = 1000.0

    def __init__(self, tracer: Any, value: Any, concrete: Any = None) -> None:
        self._tracer = tracer
        self._v_ = value  # the ir.builder.Value it stands for
        self._value_ = concrete  # the real value (None when tracing abstractly, for tracer.script)
        self._shape: tuple | None = None
        self._origin = "data"  # what it is computed from: "data" (inputs, state), "size" or "const"
        self._root: views.Buffer | None = None  # the memory it views (see tracer.views), once shared
        self._path: tuple = ()
        self._version = 0

    @property
    def _v(self) -> Any:
        """The current ``ir.builder.Value`` (a view re-derives itself after a write to its base)."""
        if self._root is not None and self._version != self._root.version:
            views.sync(self)
        return self._v_

    @property
    def _value(self) -> Any:
        if self._root is not None and self._version != self._root.version:
            views.sync(self)
        return self._value_

    # -- NumPy protocols --------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from .ufuncs import array_ufunc  # ufunc calls, keywords and methods: tracer/ufuncs.py

        return array_ufunc(self._tracer, ufunc, method, inputs, kwargs)

    # ndarray's divmod/<</>> are ufuncs (x.sort() sorts in place, which programs cannot record)
    def __divmod__(self, other: Any) -> Any:
        if not isinstance(self._v.type, TensorType):  # a traced size: Python's divmod of ints
            return self // other, self % other
        return np.divmod(self, other)

    def __rdivmod__(self, other: Any) -> Any:
        if not isinstance(self._v.type, TensorType):
            return other // self, other % self
        return np.divmod(other, self)

    def __lshift__(self, other: Any) -> Any:
        return np.left_shift(self, other)

    def __rlshift__(self, other: Any) -> Any:
        return np.left_shift(other, self)

    def __rshift__(self, other: Any) -> Any:
        return np.right_shift(self, other)

    def __rrshift__(self, other: Any) -> Any:
        return np.right_shift(other, self)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        special = _SPECIAL_FUNCTIONS.get(func)
        if special is not None:
            return special(*args, **kwargs)
        op = op_for_numpy(func)
        if op is not None:
            return self._tracer.record_call(op, args, kwargs)
        decomposition = decomposition_for(func)
        if decomposition is not None:  # NumPy written over registered ops: records those
            return decomposition(*args, **kwargs)
        raise self._tracer.unsupported(func)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._tracer.concrete and self._value is not None and self._origin == "const":  # exact
            value = np.asarray(self._value)
            return value if dtype is None else value.astype(dtype)
        raise self._tracer.error(
            "a traced value was converted to a concrete np.ndarray, which would bake it into the program. "
            "This happens when a plain NumPy array (not a parameter or buffer, nor made in forward) is "
            "indexed with a traced value or has one written into it: make that array a parameter or "
            "a buffer (self.register_buffer(name, array)), or create it in forward (np.zeros(...)); "
            "and when a NumPy function that does not dispatch gets a traced array: keep it as an array "
            "expression (x.astype(...), x.copy())"
        )

    # -- static facts ------------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self._tracer.static_dtype(self)

    @property
    def ndim(self) -> int:
        return self._tracer.static_rank(self)

    @property
    def shape(self) -> tuple:
        """Sizes as traced ints: ``x.reshape(x.shape[0], -1)`` follows the input's batch size."""
        if self._shape is None:
            dim = get_op("dim")
            self._shape = tuple(self._tracer.record_call(dim, (self, i), {}) for i in range(self.ndim))
        return self._shape

    @property
    def size(self) -> Any:
        return self._tracer.record_call(get_op("size"), (self,), {})

    @property
    def T(self) -> Any:
        return self._tracer.record_call(get_op("transpose"), (self,), {})

    # -- methods with their own argument conventions -----------------------------------------------
    def reshape(self, *shape: Any, order: str = "C") -> Any:
        if order != "C":
            raise self._tracer.error("reshape(order=...) other than 'C' is not supported in traced code")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return self._tracer.record_call(get_op("reshape"), (self, tuple(shape)), {})

    def transpose(self, *axes: Any) -> Any:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return self._tracer.record_call(get_op("transpose"), (self, tuple(axes) if axes else None), {})

    def astype(self, dtype: Any, copy: bool = True) -> Any:
        return self._tracer.record_call(get_op("astype"), (self, dtype), {})

    def copy(self, order: str = "C") -> Proxy:
        """A new array: the same value in the program, but writes to either stay apart."""
        out = Proxy(self._tracer, self._v, self._value)
        out._origin = self._origin
        return out

    def flatten(self, order: str = "C") -> Proxy:
        """A copy, as NumPy's ``flatten`` always is (``ravel`` may be a view)."""
        if order != "C":
            raise self._tracer.error("flatten(order=...) other than 'C' is not supported in traced code")
        return self.ravel().copy()

    # -- methods that write into the array (NumPy's in-place methods) -------------------------------
    def fill(self, value: Any) -> None:
        views.write(self, Ellipsis, value, what="x.fill(v)")

    def sort(self, *args: Any, **kwargs: Any) -> None:
        raise self._tracer.error("x.sort() sorts x in place, which traced code does not record; "
                                 "write x = np.sort(x) (same arguments) instead")

    def item(self, *args: Any) -> Any:
        return self._tracer.bake(self, "item()", lambda v: v.item(*args) if args else _item(v))

    def tolist(self) -> Any:
        return self._tracer.bake(self, "tolist()", lambda v: np.asarray(v).tolist())

    def __getattr__(self, name: str) -> Any:
        op = op_for_method(name)
        if op is None or name.startswith("__"):
            raise AttributeError(
                f"traced arrays have no method {name!r} in this tracer; supported methods map to "
                "registered ops (see ir.ops.all_ops())"
            )
        tracer = self._tracer

        def method(*args: Any, **kwargs: Any) -> Any:
            return tracer.record_call(op, (self, *args), kwargs)

        return method

    # -- indexing ----------------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Any:
        return self._tracer.record_call(get_op("getitem"), (self, _index_arg(index)), {})

    def __setitem__(self, index: Any, value: Any) -> None:
        views.write(self, index, value)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        n = self._tracer.bake(self.shape[0], "iteration over an array", int)  # a size: guarded
        return (self[i] for i in range(n))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self._tracer.bake(self.shape[0], "len()", int)  # a size: guarded

    # -- conversions to Python scalars bake the value in -------------------------------------------
    def __bool__(self) -> bool:
        return self._tracer.bake(self, "bool()", bool)

    def __int__(self) -> int:
        return self._tracer.bake(self, "int()", int)

    def __float__(self) -> float:
        return self._tracer.bake(self, "float()", float)

    def __index__(self) -> int:
        return self._tracer.bake(self, "an index", lambda v: int(np.asarray(v).__index__()))

    def __complex__(self) -> complex:
        return self._tracer.bake(self, "complex()", complex)

    def __hash__(self) -> int:
        from .patches import _PACKAGE_DIRS

        if not self._tracer.concrete or sys._getframe(1).f_code.co_filename.startswith(_PACKAGE_DIRS):
            return object.__hash__(self)  # our own caches key on identity; user dicts key on the value
        if isinstance(self._value, np.ndarray):
            raise TypeError("unhashable type: 'numpy.ndarray'")
        return hash(self._tracer.bake(self, "hash() (a dict key or set member)", lambda v: v))

    def __repr__(self) -> str:
        return f"Proxy({self._v.type})"

    __add__, __radd__ = _binary("add"), _binary("add", True)
    __sub__, __rsub__ = _binary("sub"), _binary("sub", True)
    __mul__, __rmul__ = _binary("mul"), _binary("mul", True)
    __truediv__, __rtruediv__ = _binary("truediv"), _binary("truediv", True)
    __floordiv__, __rfloordiv__ = _binary("floordiv"), _binary("floordiv", True)
    __mod__, __rmod__ = _binary("mod"), _binary("mod", True)
    __pow__, __rpow__ = _binary("pow"), _binary("pow", True)
    __matmul__, __rmatmul__ = _binary("matmul"), _binary("matmul", True)
    __and__, __rand__ = _binary("and_"), _binary("and_", True)
    __or__, __ror__ = _binary("or_"), _binary("or_", True)
    __xor__, __rxor__ = _binary("xor"), _binary("xor", True)
    __eq__, __ne__ = _binary("eq"), _binary("ne")  # type: ignore[assignment]
    __lt__, __le__ = _binary("lt"), _binary("le")
    __gt__, __ge__ = _binary("gt"), _binary("ge")
    __neg__, __pos__ = _unary("neg"), _unary("pos")
    __invert__, __abs__ = _unary("invert"), _unary("abs")
    # in-place operators write into the array, as NumPy's do (see tracer.views.inplace)
    __iadd__, __isub__, __imul__ = _inplace("add"), _inplace("sub"), _inplace("mul")
    __itruediv__, __ifloordiv__, __imod__ = _inplace("truediv"), _inplace("floordiv"), _inplace("mod")
    __ipow__, __imatmul__ = _inplace("pow"), _inplace("matmul")
    __iand__, __ior__, __ixor__ = _inplace("and_"), _inplace("or_"), _inplace("xor")


def _item(value: Any) -> Any:
    return value.item() if isinstance(value, (np.ndarray, np.generic)) else value


def _index_arg(index: Any) -> Any:
    """An index as a template-friendly value: lists become integer arrays, like NumPy reads them."""
    if isinstance(index, list):
        if any(isinstance(i, Proxy) for i in index):
            raise TracingError("an index list containing traced values is not supported; build the index "
                               "array with np.stack([...]) or np.arange")
        return np.asarray(index)
    from .patches import TracedRange

    if isinstance(index, TracedRange):
        return index.arange()  # range(n) of a traced size: the integers np.arange(n) gives
    if isinstance(index, range):
        return np.arange(index.start, index.stop, index.step)
    if isinstance(index, tuple):
        return tuple(_index_arg(i) for i in index)
    return index


def _shape(a: Any) -> tuple:
    return a.shape if isinstance(a, Proxy) else np.shape(a)


def _ndim(a: Any) -> int:
    return a.ndim if isinstance(a, Proxy) else np.ndim(a)


def _size(a: Any, axis: int | None = None) -> Any:
    if axis is not None:
        return _shape(a)[axis]
    return a.size if isinstance(a, Proxy) else np.size(a)


def _copy(a: Any, *args: Any, **kwargs: Any) -> Any:
    return a.copy() if isinstance(a, Proxy) else np.copy(a, *args, **kwargs)


_SPECIAL_FUNCTIONS = {np.shape: _shape, np.ndim: _ndim, np.size: _size, np.copy: _copy}
