"""strict_cupy: a strict, NumPy-backed stand-in for CuPy 14.x, for CI without a GPU.

It checks API use, host/device transfers and host syncs. It is not CUDA, and
it says nothing about speed.

What it checks: that code written for CuPy uses CuPy's API as CuPy 14.x has it
(names and keyword arguments, from tools/cupy_api.json), never mixes host
(NumPy) and device arrays the way CuPy refuses to, and it counts the host/device
transfers and host synchronisations the code would cause, plus an approximate
count of kernel launches.

What it does NOT check: anything about CUDA or the GPU (there is none: every
"device" array is a NumPy array on the CPU and every "kernel" is a NumPy call),
and nothing about speed. Results are NumPy's, bit for bit, for the same NumPy
operation; they are not CuPy's GPU results (CuPy sums in a different order).

Use:

    import strict_cupy
    cupy = strict_cupy.install()        # sys.modules["cupy"] is now the stand-in
    ...                                  # `import cupy` anywhere gets it
    strict_cupy.uninstall()              # restores what was there before
    with strict_cupy.installed() as cupy: ...

    strict_cupy.reset()                  # zero the counters
    with strict_cupy.counting() as c:    # c.syncs / c.uploads / c.launches / c.waits
        step()                           # hold the deltas once the block ends

The counters (`strict_cupy.counts`):
  syncs     device->host copies, each a host synchronisation in CuPy: .get(),
            cupy.asnumpy, .item(), .tolist(), bool()/int()/float()/complex() of
            an array, repr/str/format (CuPy prints via .get()), and the hidden
            ones CuPy does too: boolean-mask indexing, nonzero/argwhere/
            flatnonzero, where(cond) with one argument, ndarray.fill(device
            scalar), put(mode='raise').
  uploads   host->device copies: cupy.array/asarray/asanyarray of host data with
            at least one dimension, ndarray.set(), and the implicit uploads CuPy
            does for list/NumPy indices and advanced-index assignment of host
            values, and the pointer tables of a single-kernel concatenate.
            (A 0-d host value becomes a fill kernel in CuPy, so it counts as a
            launch, not an upload.)
  launches  an APPROXIMATION of the kernels (and device memset/memcpy) CuPy
            enqueues: 1 per ufunc call or operator, reduction (sum, max, mean,
            argmax, ...; var 2, std 3, ptp 3), matmul/dot/tensordot, einsum (1
            per operand pair), copy/astype/ascontiguousarray that copies, fill,
            zeros/ones/full (1), eye (2), arange/linspace (1), basic-index
            assignment (1), advanced indexing (as CuPy's take/scatter paths: a
            fill of the flat index, 1 per index array, 1 for the take/scatter;
            masks add a scan), concatenate (one copy per non-empty input, or a
            single kernel for more than 8 same-dtype inputs, as CuPy does);
            0 for empty/empty_like and views (reshape of a contiguous array,
            transpose, swapaxes, basic slicing, broadcast_to, expand_dims,
            squeeze, diagonal, T). 0 when the output is empty, as CuPy skips
            those launches. Real CuPy may launch more (CUB, cuBLAS internals,
            copies of non-contiguous inputs); treat this as a regression signal,
            not a profile.
  waits     explicit synchronize() calls (Device, Stream, Event,
            runtime.deviceSynchronize); not counted in syncs.

Strictness (TypeError unless said otherwise):
  * a NumPy array given to a stand-in function, ufunc or operator raises with
    CuPy's message "Unsupported type <class 'numpy.ndarray'>"; only the upload
    paths take host data: array, asarray, asanyarray, ndarray.set, and (as in
    CuPy, counted as uploads) indices and advanced-index assigned values.
    Python scalars and NumPy scalars (numpy.generic) are scalars, as in CuPy.
  * NumPy functions and ufuncs given a stand-in array raise (np.exp(dev),
    np.concatenate([dev]), np_array + dev). Real CuPy would dispatch NumPy
    functions to CuPy through __array_ufunc__/__array_function__; the stand-in
    refuses so that code calls the array module (xp.exp) explicitly. The one
    exception is what CuPy allows through NumPy's operators: a NumPy scalar
    operand (np.float32(2) * dev, np.float64(1) < dev).
  * implicit conversion to host raises: np.asarray(dev), np.array(dev) and
    anything that calls __array__ get CuPy's message.
  * reductions and single-element indexing give 0-d stand-in arrays.
  * a name CuPy 14.x lacks raises AttributeError; a name CuPy has that the
    stand-in does not implement raises NotInStandIn (a NotImplementedError, so
    that hasattr() does not silently take another branch); an unknown keyword
    raises TypeError, as CuPy does.
  * dtypes CuPy cannot hold (object, str, datetime, longdouble, ...) raise
    ValueError("Unsupported dtype ...").
  * floating-point warnings are silenced (a GPU does not warn).
Dtype promotion is NumPy 2's (NEP 50: Python scalars are weak), which is what
CuPy 14 implements (cupy/_core/_kernel.pyx, `weak_t`).

Where the stand-in knowingly differs from CuPy (stricter, or unknowable here):
  * NumPy functions on device arrays raise (CuPy dispatches them to CuPy).
  * CuPy functions that CuPy implements by duck typing (cupy.sum(np_array)
    works in CuPy and returns a NumPy value) raise for NumPy arrays; so do
    atleast_1d/2d/3d and einsum, which CuPy would upload silently.
  * Out-of-bounds integer indices raise IndexError (CuPy wraps them around);
    duplicate indices in an advanced assignment keep NumPy's last value (CuPy:
    undefined).
  * *_like functions take a NumPy prototype, as CuPy does (only its shape and
    dtype are read, nothing moves).
  * int()/float() of a one-element array with ndim > 0 does what NumPy does on
    the .get() copy, as CuPy (NumPy 2.4: TypeError).
  * cupy.cuda: one device (id 0), compute_capability "80", runtime and driver
    versions 0, getDeviceProperties(0)["name"] is bytes naming the stand-in;
    streams and events are synchronous; Event.record() reads
    time.perf_counter(), so get_elapsed_time and cupyx.profiler.benchmark's
    gpu_times are host times.
  * Kernel launches are an approximation (see above).

Public API of this module (not of the cupy stand-in):
  install() -> the cupy module; uninstall(); installed() (context manager).
      Entries replaced: sys.modules["cupy"], ["cupy.cuda"], ["cupy.cuda.runtime"],
      ["cupy.linalg"], ["cupyx"], ["cupyx.profiler"] (see MODULES).
  cupy, cupyx        the stand-in module objects (usable without install()).
  counts             a Counts: .syncs .uploads .launches .waits, .as_dict().
  reset()            zero counts.
  counting(trace=False)  context manager yielding a Counts of the deltas
                     (filled when the block ends; .events with trace=True).
  NotInStandIn       raised for CuPy names the stand-in does not implement.
  API, CUPY_VERSION, STANDIN_VERSION, MODULES.
"""
import builtins
import contextlib
import functools
import json
import math
import operator
import os
import sys
import time
import types
import warnings
import weakref

import numpy as _np

if _np.lib.NumpyVersion(_np.__version__) < "2.1.0":
    # NEP 50 promotion (what CuPy 14 implements) and reshape(copy=) need NumPy >= 2.1.
    raise ImportError(f"strict_cupy needs NumPy >= 2.1, found {_np.__version__}")

__all__ = ["install", "uninstall", "installed", "counts", "reset", "counting", "Counts",
           "NotInStandIn", "cupy", "cupyx", "API", "CUPY_VERSION", "STANDIN_VERSION"]

# ---------------------------------------------------------------------------
# The API list this stand-in may expose (tools/cupy_api.json).

API_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_api.json")
with open(API_PATH, encoding="utf-8") as _f:
    API = json.load(_f)
CUPY_VERSION = API["cupy_version"]
STANDIN_VERSION = CUPY_VERSION + "+strict.standin"  # PEP 440 local version: parses
STANDIN_DEVICE_NAME = b"strict_cupy stand-in (NumPy on the CPU; not a GPU)"


class NotInStandIn(NotImplementedError):
    """CuPy has this name, but the strict stand-in does not implement it."""


def _not_in_standin(qualname):
    return NotInStandIn(
        f"{qualname} exists in CuPy {CUPY_VERSION} but the strict_cupy stand-in does not "
        "implement it; add it to tools/strict_cupy.py (names are checked against "
        "tools/cupy_api.json)")


# ---------------------------------------------------------------------------
# Counters


class Counts:
    """Counts of what CuPy would do: syncs, uploads, launches (approximate), waits."""

    __slots__ = ("syncs", "uploads", "launches", "waits", "events")

    def __init__(self):
        self.syncs = self.uploads = self.launches = self.waits = 0
        self.events = None

    def as_dict(self):
        return {"syncs": self.syncs, "uploads": self.uploads, "launches": self.launches,
                "waits": self.waits}

    def __repr__(self):
        return "Counts(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


counts = Counts()
_tracers = []  # event lists of counting(trace=True) blocks


def reset():
    """Zero the module-level counters."""
    counts.syncs = counts.uploads = counts.launches = counts.waits = 0


@contextlib.contextmanager
def counting(trace=False):
    """Yield a Counts that holds the deltas of the block once it ends.

    With trace=True, `.events` is a list of (kind, what) in order, to find
    where a sync or upload comes from.
    """
    delta = Counts()
    start = (counts.syncs, counts.uploads, counts.launches, counts.waits)
    if trace:
        delta.events = []
        _tracers.append(delta.events)
    try:
        yield delta
    finally:
        if trace:
            _tracers.remove(delta.events)
        delta.syncs = counts.syncs - start[0]
        delta.uploads = counts.uploads - start[1]
        delta.launches = counts.launches - start[2]
        delta.waits = counts.waits - start[3]


def _event(kind, what, n):
    for events in _tracers:
        events.append((kind, what) if n == 1 else (kind, f"{what} x{n}"))


def _sync(what):
    counts.syncs += 1
    if _tracers:
        _event("sync", what, 1)


def _upload(what):
    counts.uploads += 1
    if _tracers:
        _event("upload", what, 1)


def _launch(what, n=1):
    if n:
        counts.launches += n
        if _tracers:
            _event("launch", what, n)


def _wait(what):
    counts.waits += 1
    if _tracers:
        _event("wait", what, 1)


# ---------------------------------------------------------------------------
# Memory accounting for MemoryPool.used_bytes (CuPy rounds blocks to 512 B)

_pool = {"used": 0}
_live = {}  # id(weakref to a NumPy buffer) -> (that weakref, bytes)


def _free(ref):
    entry = _live.pop(id(ref), None)
    if entry is not None:
        _pool["used"] -= entry[1]


def _track(a):
    """Account a freshly allocated NumPy buffer as device memory in use."""
    n = -(-a.nbytes // 512) * 512
    if n:
        owner = a
        while isinstance(owner.base, _np.ndarray):
            owner = owner.base
        _pool["used"] += n
        ref = weakref.ref(owner, _free)
        _live[id(ref)] = (ref, n)


# ---------------------------------------------------------------------------
# Helpers: dtypes, operands, wrapping

_PY_SCALARS = frozenset((bool, int, float, complex))
_errstate = functools.partial(_np.errstate, all="ignore")


def _dtype(dtype):
    """numpy.dtype of a dtype argument, refusing what CuPy cannot hold."""
    dt = _np.dtype(dtype)
    _check_dtype(dt)
    return dt


def _check_dtype(dt):
    if dt.kind not in "biufc" or (dt.kind == "f" and dt.itemsize > 8) or (
            dt.kind == "c" and dt.itemsize > 16):
        raise ValueError(f"Unsupported dtype {dt}")
    if not dt.isnative:
        raise ValueError(f"Unsupported dtype {dt} with big-endian byte-order")


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def _operand(x):
    """A kernel operand: a stand-in array's data, or a scalar (as CuPy's CScalar)."""
    if isinstance(x, ndarray):
        return x._a
    if type(x) in _PY_SCALARS:
        return x
    if isinstance(x, _np.generic):
        if x.dtype.kind not in "biufc":
            raise _unsupported(x)
        return x
    raise _unsupported(x)


def _typed(x, name, allow_none=False):
    """A Cython-typed `_ndarray_base name` argument."""
    if isinstance(x, ndarray) or (allow_none and x is None):
        return x
    raise TypeError(f"Argument '{name}' has incorrect type (expected "
                    f"cupy._core.core._ndarray_base, got {type(x).__name__})")


def _need(x, what="a"):
    """A stand-in array where CuPy would use the argument as a cupy.ndarray."""
    if isinstance(x, ndarray):
        return x
    raise _unsupported(x)


def _out(out, name="out"):
    if out is None:
        return None
    if isinstance(out, ndarray):
        return out._a
    raise _unsupported(out)


_new = object.__new__


def _wrap(a):
    """A stand-in array over a freshly allocated NumPy array (or scalar)."""
    if not isinstance(a, _np.ndarray):
        a = _np.asarray(a)
    r = _new(ndarray)
    r._a = a
    r._base = None
    _track(a)
    return r


def _view(a, parent):
    """A stand-in array that is a view of `parent` (no allocation, no launch)."""
    r = _new(ndarray)
    r._a = a
    r._base = parent._base if parent._base is not None else parent
    return r


def _result(a, parent, what):
    """Wrap `a`, computed from parent: a view if it shares memory, else a copy (1 launch)."""
    if _np.may_share_memory(a, parent._a):
        return _view(a, parent)
    if a.size:
        _launch(what)
    return _wrap(a)


def _shape_arg(shape):
    if isinstance(shape, (list, tuple)):
        return tuple(operator.index(s) for s in shape)
    return (operator.index(shape),)


# ---------------------------------------------------------------------------
# ndarray


_API_NDARRAY = set(API["ndarray_methods"]) | set(API["ndarray_attributes"]) | set(
    API["ndarray_special_methods"])


def _binop(name):
    uf_name = name

    def op(self, other):
        if isinstance(other, ndarray):
            return _UFUNCS[uf_name](self, other)
        if _should_use_rop(self, other):
            return NotImplemented
        return _UFUNCS[uf_name](self, other)

    def rop(self, other):
        return _UFUNCS[uf_name](other, self)

    def iop(self, other):
        return _UFUNCS[uf_name](self, other, self)

    return op, rop, iop


_MISSING = object()


def _should_use_rop(x, y):
    # cupy/_core/core.pyx `_should_use_rop`: NEP 13, then __array_priority__.
    y_ufunc = getattr(y, "__array_ufunc__", _MISSING)
    if y_ufunc is not _MISSING:
        return y_ufunc is None
    return getattr(x, "__array_priority__", 0) < getattr(y, "__array_priority__", 0)


class _Flags:
    """cupy.ndarray.flags (cupy/_core/flags.pyx)."""

    __slots__ = ("_c", "_f", "_own")

    def __init__(self, c_contiguous, f_contiguous, owndata):
        self._c, self._f, self._own = c_contiguous, f_contiguous, owndata

    c_contiguous = property(lambda self: self._c)
    f_contiguous = property(lambda self: self._f)
    owndata = property(lambda self: self._own)
    fnc = property(lambda self: self._f and not self._c)
    forc = property(lambda self: self._f or self._c)

    def __getitem__(self, name):
        if name == "C_CONTIGUOUS":
            return self._c
        if name == "F_CONTIGUOUS":
            return self._f
        if name == "OWNDATA":
            return self._own
        raise KeyError("%s is not defined for cupy.ndarray.flags" % name)

    def __repr__(self):
        return "\n".join(f"  {n} : {self[n]}" for n in ("C_CONTIGUOUS", "F_CONTIGUOUS", "OWNDATA"))


class ndarray:
    """Stand-in for cupy.ndarray: wraps (does not subclass) a NumPy array.

    Not a GPU array: the data is a NumPy array on the CPU. See the module
    docstring of strict_cupy for what is checked and counted.
    """

    __slots__ = ("_a", "_base", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, *args, **kwargs):
        # cupy.ndarray(shape, dtype=float, memptr=None, strides=None, order='C')
        def _init(shape, dtype=float, memptr=None, strides=None, order="C"):
            if memptr is not None or strides is not None:
                raise _not_in_standin("cupy.ndarray(memptr=..., strides=...)")
            a = _np.empty(_shape_arg(shape), _dtype(dtype), order="C" if order is None else order)
            self._a = a
            self._base = None
            _track(a)
        _init(*args, **kwargs)

    def __getattr__(self, name):
        if name in _API_NDARRAY:
            raise _not_in_standin(f"cupy.ndarray.{name}")
        raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}'")

    # -- attributes ------------------------------------------------------------
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, newshape):
        try:
            self._a = _np.reshape(self._a, newshape, copy=False)
        except ValueError:
            raise AttributeError(
                "Incompatible shape for in-place modification. "
                "Use `.reshape()` to make a copy with the desired shape.") from None

    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    base = property(lambda self: self._base)

    @property
    def flags(self):
        f = self._a.flags
        return _Flags(f.c_contiguous, f.f_contiguous, self._base is None)

    @property
    def T(self):
        if self._a.ndim < 2:
            return self
        return _view(self._a.T, self)

    @property
    def mT(self):
        if self._a.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return self.swapaxes(-1, -2)

    @property
    def device(self):
        return _cuda_Device(0)

    @property
    def real(self):
        if self._a.dtype.kind == "c":
            return _view(self._a.real, self)
        return self

    @real.setter
    def real(self, value):
        _elementwise_copy(value, self.real)

    @property
    def imag(self):
        if self._a.dtype.kind == "c":
            return _view(self._a.imag, self)
        r = _wrap(_np.zeros_like(self._a))
        _launch("imag (zeros)")
        return r

    @imag.setter
    def imag(self, value):
        if self._a.dtype.kind != "c":
            raise TypeError("cupy.ndarray does not have imaginary part to set")
        _elementwise_copy(value, _view(self._a.imag, self))

    # -- host <-> device ---------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        """Copy to host (one sync; one launch first if a contiguous copy is needed)."""
        a = self._a
        if out is not None:
            if not isinstance(out, _np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained fromcupy.ndarray")
            if a.dtype != out.dtype:
                raise TypeError(f"{out.dtype} array cannot be obtained from {a.dtype} array")
            if a.shape != out.shape:
                raise ValueError(f"Shape mismatch. Expected shape: {a.shape}, "
                                 f"actual shape: {out.shape}")
            if not (out.flags.c_contiguous and a.flags.c_contiguous
                    or out.flags.f_contiguous and a.flags.f_contiguous):
                if not (out.flags.c_contiguous or out.flags.f_contiguous):
                    raise RuntimeError("`out` cannot be specified when copying to "
                                       "non-contiguous ndarray")
                _launch("get: contiguous copy")
            _sync("get")
            _np.copyto(out, a)
            return out
        if a.size == 0:
            return _np.ndarray(a.shape, dtype=a.dtype)
        order = order.upper()
        if order == "A":
            order = "F" if a.flags.f_contiguous else "C"
        if order not in ("C", "F"):
            raise ValueError(f"unsupported order: {order}")
        if not (order == "C" and a.flags.c_contiguous or order == "F" and a.flags.f_contiguous):
            _launch("get: contiguous copy")
        _sync("get")
        return _np.array(a, order=order, copy=True)

    def set(self, arr, stream=None):
        """Copy a host array into this array (one upload)."""
        if not isinstance(arr, _np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self._a.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self._a.dtype} array")
        if self._a.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self._a.shape}, new shape: {arr.shape}")
        if not (self._a.flags.c_contiguous or self._a.flags.f_contiguous):
            raise RuntimeError("Cannot set to non-contiguous array")
        _upload("set")
        _np.copyto(self._a, arr)

    def item(self):
        if self._a.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.get().item()

    def tolist(self):
        return self.get().tolist()

    def tobytes(self, order="C"):
        return self.get().tobytes(order)

    def __bool__(self):
        size = self._a.size
        if size == 0:
            warnings.warn("The truth value of an empty array is ambiguous. Returning False, "
                          "but in future this will result in an error. Use `array.size > 0` "
                          "to check that an array is not empty.", DeprecationWarning,
                          stacklevel=2)
            return False
        if size == 1:
            return bool(self.get())
        raise ValueError("The truth value of an array with more than one element is "
                         "ambiguous. Use a.any() or a.all()")

    def __int__(self):
        return int(self.get())

    def __float__(self):
        return float(self.get())

    def __complex__(self):
        return complex(self.get())

    def __bytes__(self):
        return bytes(self.get())

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __format__(self, format_spec):
        return format(self.get(), format_spec)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # What real CuPy lets through NumPy's operators: a NumPy scalar with a
        # cupy array (np.float32(2) * dev; NumPy turns the scalar of a
        # comparison into a 0-d array, which CuPy takes back with .item()).
        if (method == "__call__" and not kwargs and len(inputs) == 2
                and ufunc in _NP_OPERATOR_UFUNCS):
            a, b = inputs
            if isinstance(b, ndarray) and not isinstance(a, ndarray):
                a, b, swap = b, a, True
            else:
                swap = False
            if isinstance(a, ndarray) and not isinstance(b, ndarray):
                if isinstance(b, _np.ndarray) and b.ndim == 0 and ufunc in _NP_COMPARISONS:
                    b = b.item()
                if isinstance(b, _np.generic) or type(b) in _PY_SCALARS:
                    uf = _UFUNCS[_NP_OPERATOR_UFUNCS[ufunc]]
                    return uf(b, a) if swap else uf(a, b)
        for x in inputs + tuple(kwargs.get("out", ())):
            if isinstance(x, _np.ndarray):
                raise _unsupported(x)
        raise TypeError(
            f"numpy.{ufunc.__name__} ({method}) was called on a cupy array: the strict_cupy "
            f"stand-in refuses NumPy functions on device arrays; call cupy.{ufunc.__name__} "
            "(the array module, e.g. autograd.xp) instead. (Real CuPy would dispatch this "
            "call through __array_ufunc__.)")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(
            f"numpy.{func.__name__}() was called with a cupy array: the strict_cupy stand-in "
            f"refuses NumPy functions on device arrays; call cupy.{func.__name__} (the array "
            "module, e.g. autograd.xp) instead, and .get() for an explicit host copy. (Real "
            "CuPy would dispatch this call through __array_function__.)")

    @classmethod
    def __class_getitem__(cls, item):
        item1, item2 = item
        return types.GenericAlias(ndarray, (item1, item2))

    def __reduce__(self):
        return _array_from_pickle, (self.get(order="A"),)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    # -- container ---------------------------------------------------------------
    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return self._a.shape[0]

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    def __getitem__(self, slices):
        return _getitem(self, slices)

    def __setitem__(self, slices, value):
        _setitem(self, slices, value)

    # -- conversion and copies ---------------------------------------------------
    def _astype(self, dtype, order="K", copy=True):
        dt = _dtype(dtype)
        a = self._a
        if order is None:
            order = "K"
        order = order.upper()
        if dt == a.dtype and not copy and (
                order == "K" or order == "A" and (a.flags.c_contiguous or a.flags.f_contiguous)
                or order == "C" and a.flags.c_contiguous or order == "F" and a.flags.f_contiguous):
            return self
        if copy is not None and not copy:
            raise ValueError("Unable to avoid copy while creating an array as requested.")
        with _errstate():
            r = a.astype(dt, order=order, copy=True)
        if r.size:
            _launch("astype/copy")
        return _wrap(r)

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if casting is not None:
            raise TypeError("casting is not supported yet")
        if subok is not None:
            raise TypeError("subok is not supported yet")
        return self._astype(dtype, order, True if copy else None)

    def copy(self, order="C"):
        return self._astype(self._a.dtype, order, True)

    def view(self, dtype=None, type=None):
        if dtype is not None and isinstance(dtype, builtins.type) and issubclass(dtype, ndarray):
            type, dtype = dtype, None
        if type is not None and not (isinstance(type, builtins.type) and issubclass(type, ndarray)):
            raise ValueError("Type must be a sub-type of ndarray type")
        if dtype is None:
            return _view(self._a.view(), self)
        return _view(self._a.view(_dtype(dtype)), self)

    def fill(self, value):
        if isinstance(value, ndarray):
            if value.shape != ():
                raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
            value = value._astype(self._a.dtype, copy=None)
            # CuPy evaluates `value == 0 and ...` on the device array: a sync.
            _launch("fill: value == 0")
            _sync("fill(device scalar): value == 0 check")
            v = value._a[()]
        else:
            v = _np.asarray(value, dtype=self._a.dtype)
            if v.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            v = v[()]
        self._a.fill(v)
        if self._a.size:
            _launch("fill")

    # -- shape -------------------------------------------------------------------
    def reshape(self, *shape, order="C", copy=None):
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        if copy:
            r = _np.reshape(self._a, shape, order=order, copy=True)
            if r.size:
                _launch("reshape copy")
            return _wrap(r)
        r = _np.reshape(self._a, shape, order=order, copy=copy)
        return _result(r, self, "reshape copy")

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (list, tuple))):
            axes = axes[0]
        return _view(self._a.transpose(*(() if not axes else (axes,))), self)

    def swapaxes(self, axis1, axis2):
        return _view(self._a.swapaxes(axis1, axis2), self)

    def flatten(self, order="C"):
        r = self._a.flatten(order)
        if r.size:
            _launch("flatten")
        return _wrap(r)

    def ravel(self, order="C"):
        return _result(self._a.ravel(order), self, "ravel copy")

    def squeeze(self, axis=None):
        return _view(self._a.squeeze(axis), self)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _view(_diagonal_view(self._a, offset, axis1, axis2), self)

    # -- selection -----------------------------------------------------------------
    def take(self, indices, axis=None, out=None):
        return _take(self, indices, axis, out)

    def put(self, indices, values, mode="wrap"):
        if mode not in ("raise", "wrap", "clip"):
            raise ValueError("clipmode not understood")
        idx = indices._a if isinstance(indices, ndarray) else _host_to_device(indices)._a
        vals = values._a if isinstance(values, ndarray) else _host_to_device(
            values, self._a.dtype)._a
        if vals.size == 0:
            return
        if mode == "raise":
            _launch("put: error flag (zeros)")
        _np.put(self._a, idx.ravel(), vals, mode=mode)
        _launch("put")
        if mode == "raise":
            _sync("put(mode='raise'): error check")

    def repeat(self, repeats, axis=None):
        # cupy/_core/_routines_manipulation.pyx _repeat
        if isinstance(repeats, _np.ndarray):
            raise TypeError("'repeats' does not accept numpy.ndarray; "
                            "convert with cupy.array() first")
        reps = None
        if isinstance(repeats, ndarray):
            reps = repeats._astype(_np.intp, copy=None)
        else:
            try:
                repeats = operator.index(repeats)
            except TypeError:
                if not isinstance(repeats, (list, tuple)):
                    raise ValueError(f"'repeats' should be int or sequence: {repeats}") from None
                reps = _host_to_device(repeats, _np.intp)
        if reps is not None:
            if reps._a.ndim > 1:
                raise ValueError("object too deep for desired array")
            if reps._a.size == 1:
                repeats = reps.item()  # a sync in CuPy too
            else:
                _launch("repeat: cumsum of repeats")
                _sync("repeat: total size")
                repeats = reps._a
        r = _np.repeat(self._a, repeats, axis)
        if r.size:
            _launch("repeat")
        return _wrap(r)

    def nonzero(self):
        if self._a.ndim == 0:
            raise ValueError("Calling nonzero on 0d arrays is not allowed. "
                             "Use cp.atleast_1d(scalar).nonzero() instead.")
        return tuple(_view(c, idx) for idx in (_argwhere(self),) for c in
                     (idx._a[:, i] for i in range(self._a.ndim)))

    def sort(self, axis=-1, kind=None):
        _check_kind_sort(kind)
        if self._a.ndim == 0:
            raise _np.exceptions.AxisError("Sorting arrays with the rank of zero is not "
                                           "supported")
        self._a.sort(axis=axis, kind="stable")
        _launch("sort")

    def argsort(self, axis=-1, kind=None):
        _check_kind_sort(kind)
        r = _np.argsort(self._a, axis=axis, kind="stable")
        _launch("argsort")
        return _wrap(r)

    def searchsorted(self, v, side="left", sorter=None):
        return searchsorted(self, v, side, sorter)

    def clip(self, min=None, max=None, out=None):
        if min is None and max is None:
            raise ValueError("array_clip: must set either max or min")
        lo = None if min is None else _operand(min)
        hi = None if max is None else _operand(max)
        o = _out(out)
        with _errstate():
            r = _np.clip(self._a, lo, hi, out=o)
        if r.size:
            _launch("clip")
        return out if out is not None else _wrap(r)

    def round(self, decimals=0, out=None):
        return _round(self, decimals, out)

    def conj(self):
        return _UFUNCS["conjugate"](self) if self._a.dtype.kind == "c" else self

    def conjugate(self):
        return self.conj()

    def dot(self, b, out=None):
        _typed(b, "b")
        _typed(out, "out", allow_none=True)
        return _matmul_like("dot", _np.dot, self, b, out)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        return self.diagonal(offset, axis1, axis2).sum(-1, dtype, out, False)

    # -- reductions ----------------------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return _reduce("sum", _np.sum, self, out, axis=axis, dtype=_rdtype(dtype),
                       keepdims=keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=None):
        return _reduce("prod", _np.prod, self, out, axis=axis, dtype=_rdtype(dtype),
                       keepdims=bool(keepdims))

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return _reduce("mean", _np.mean, self, out, axis=axis, dtype=_rdtype(dtype),
                       keepdims=keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return _reduce("var", _np.var, self, out, 2, axis=axis, dtype=_rdtype(dtype),
                       ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return _reduce("std", _np.std, self, out, 3, axis=axis, dtype=_rdtype(dtype),
                       ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return _reduce("max", _np.max, self, out, axis=axis, keepdims=keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return _reduce("min", _np.min, self, out, axis=axis, keepdims=keepdims)

    def ptp(self, axis=None, out=None, keepdims=False):
        return _reduce("ptp", _np.ptp, self, out, 3, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, out=None, dtype=None, keepdims=False):
        return _argminmax(_np.argmax, self, axis, out, dtype, keepdims)

    def argmin(self, axis=None, out=None, dtype=None, keepdims=False):
        return _argminmax(_np.argmin, self, axis, out, dtype, keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        return _reduce("all", _np.all, self, out, axis=axis, keepdims=keepdims)

    def any(self, axis=None, out=None, keepdims=False):
        return _reduce("any", _np.any, self, out, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        return _reduce("cumsum", _np.cumsum, self, out, axis=axis, dtype=_rdtype(dtype))

    def cumprod(self, axis=None, dtype=None, out=None):
        return _reduce("cumprod", _np.cumprod, self, out, axis=axis, dtype=_rdtype(dtype))

    # -- operators -----------------------------------------------------------------
    __add__, __radd__, __iadd__ = _binop("add")
    __sub__, __rsub__, __isub__ = _binop("subtract")
    __mul__, __rmul__, __imul__ = _binop("multiply")
    __truediv__, __rtruediv__, __itruediv__ = _binop("true_divide")
    __floordiv__, __rfloordiv__, __ifloordiv__ = _binop("floor_divide")
    __mod__, __rmod__, __imod__ = _binop("remainder")
    __lshift__, __rlshift__, __ilshift__ = _binop("left_shift")
    __rshift__, __rrshift__, __irshift__ = _binop("right_shift")
    __and__, __rand__, __iand__ = _binop("bitwise_and")
    __or__, __ror__, __ior__ = _binop("bitwise_or")
    __xor__, __rxor__, __ixor__ = _binop("bitwise_xor")
    __divmod__, __rdivmod__, _ = _binop("divmod")
    _, __rpow__, __ipow__ = _binop("power")
    del _

    def __pow__(self, y, modulo=None):
        # cupy/_core/core.pyx __pow__: fast paths for common powers.
        fast, fast_dtype = None, None
        kind = self._a.dtype.kind
        if type(y) is int:
            if y == 2:
                fast = "square"
                if kind not in "ifc":
                    fast_dtype = _np.result_type(self._a.dtype, y)
        elif type(y) is float:
            fast = {0.5: "sqrt", 2.0: "square", -1.0: "reciprocal"}.get(y)
            if fast is not None and kind not in "fc":
                fast_dtype = _np.result_type(self._a.dtype, y)
        if fast is not None:
            return _UFUNCS[fast](self, dtype=fast_dtype)
        if isinstance(y, ndarray):
            return _UFUNCS["power"](self, y)
        if _should_use_rop(self, y):
            return NotImplemented
        return _UFUNCS["power"](self, y)

    def __matmul__(self, y):
        if isinstance(y, ndarray):
            return _matmul(self, y)
        if _should_use_rop(self, y):
            return NotImplemented
        return _matmul(self, y)

    def __rmatmul__(self, y):
        return _matmul(y, self)

    def __neg__(self):
        return _UFUNCS["negative"](self)

    def __pos__(self):
        if self._a.dtype == _np.bool_:
            warnings.warn("Applying '+' to a non-numerical array is ill-defined. Returning a "
                          "copy, but in the future this will error.", DeprecationWarning,
                          stacklevel=2)
            return self.copy()
        return _UFUNCS["positive"](self)

    def __abs__(self):
        return _UFUNCS["absolute"](self)

    def __invert__(self):
        return _UFUNCS["invert"](self)

    def _cmp(self, other, name):
        if isinstance(other, ndarray):
            return _UFUNCS[name](self, other)
        if _should_use_rop(self, other):
            return NotImplemented
        if isinstance(other, _np.ndarray) and other.ndim == 0:
            other = other.item()
        if name in ("equal", "not_equal") and (
                other is None or type(other).__eq__ is object.__eq__):
            r = _wrap((_np.zeros if name == "equal" else _np.ones)(self._a.shape, _np.bool_))
            if r.size:
                _launch("zeros/ones (comparison with an object)")
            return r
        return _UFUNCS[name](self, other)

    def __lt__(self, other):
        return self._cmp(other, "less")

    def __le__(self, other):
        return self._cmp(other, "less_equal")

    def __eq__(self, other):
        return self._cmp(other, "equal")

    def __ne__(self, other):
        return self._cmp(other, "not_equal")

    def __gt__(self, other):
        return self._cmp(other, "greater")

    def __ge__(self, other):
        return self._cmp(other, "greater_equal")


ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"


def _elementwise_copy(value, target):
    """CuPy's elementwise_copy(value, target): a scalar or device array, broadcast."""
    v = _operand(value)
    with _errstate():
        _np.copyto(target._a, v, casting="unsafe")
    if target._a.size:
        _launch("elementwise copy")


def _array_from_pickle(host):
    return array(host)


def _check_kind_sort(kind):
    if kind is not None and kind != "stable":
        raise NotImplementedError("kind other than 'stable' is not supported")


def _rdtype(dtype):
    return None if dtype is None else _dtype(dtype)


def _reduce(what, fn, x, out, launches=1, **kw):
    o = _out(out)
    with _errstate():
        r = fn(x._a, out=o, **kw)
    _launch(what, launches)
    if out is not None:
        return out
    return _wrap(r)


def _argminmax(fn, x, axis, out, dtype, keepdims):
    a = x._a
    if isinstance(axis, tuple):
        # CuPy accepts a tuple of axes (flat index within them); NumPy does not.
        axes = [ax % a.ndim for ax in axis]
        rest = [i for i in range(a.ndim) if i not in axes]
        moved = a.transpose(rest + axes)
        a = moved.reshape(moved.shape[:len(rest)] + (-1,))
        r = fn(a, axis=-1)
        if keepdims:
            shape = list(x._a.shape)
            for ax in axes:
                shape[ax] = 1
            r = r.reshape(shape)
    else:
        r = fn(a, axis=axis, keepdims=keepdims)
    if dtype is not None:
        r = _np.asarray(r).astype(_dtype(dtype))
    _launch("argmax/argmin")
    if out is not None:
        _out(out)[...] = r
        return out
    return _wrap(r)


def _diagonal_view(a, offset, axis1, axis2):
    # A writable view, as cupy/_core/_routines_indexing.pyx `_diagonal` builds it.
    ndim = a.ndim
    if not (-ndim <= axis1 < ndim and -ndim <= axis2 < ndim):
        raise _np.exceptions.AxisError(
            f"axis1(={axis1}) and axis2(={axis2}) must be within range (ndim={ndim})")
    axis1 %= ndim
    axis2 %= ndim
    tr = [i for i in range(ndim) if i not in (axis1, axis2)]
    if offset >= 0:
        a = a.transpose(tr + [axis1, axis2])
    else:
        a = a.transpose(tr + [axis2, axis1])
        offset = -offset
    diag_size = builtins.max(0, builtins.min(a.shape[-2], a.shape[-1] - offset))
    a = a[..., :diag_size, offset:offset + diag_size]
    return _np.lib.stride_tricks.as_strided(
        a, a.shape[:-2] + (diag_size,), a.strides[:-2] + (a.strides[-1] + a.strides[-2],))


# ---------------------------------------------------------------------------
# Indexing (cupy/_core/_routines_indexing.pyx)


def _prepare_index(slices):
    """NumPy index for a stand-in index; host arrays/lists are uploaded as CuPy does."""
    items = list(slices) if isinstance(slices, tuple) else [slices]
    arrays = []
    for i, s in enumerate(items):
        if s is None or s is Ellipsis or isinstance(s, slice):
            continue
        if isinstance(s, ndarray):
            if s._a.dtype.kind not in "biu":
                raise IndexError("arrays used as indices must be of integer or boolean type. "
                                 f"(actual: {s._a.dtype.type})")
            items[i] = s._a
            arrays.append(s._a)
            continue
        if not isinstance(s, (list, tuple)) and _np.isscalar(s) and not isinstance(
                s, (bool, _np.bool_)):
            continue  # an integer: basic indexing
        fix_empty = isinstance(s, (list, tuple))
        dev = _to_device_index(s)
        if fix_empty and dev._a.size == 0:
            dev = _wrap(dev._a.astype(_np.int32))
        if dev._a.dtype.kind not in "biu":
            raise IndexError("arrays used as indices must be of integer or boolean type. "
                             f"(actual: {dev._a.dtype.type})")
        items[i] = dev._a
        arrays.append(dev._a)
    if not any(s is Ellipsis for s in items):
        items.append(Ellipsis)  # keeps a full integer index a 0-d view, as CuPy
    return tuple(items), arrays


def _to_device_index(s):
    return _array(s, None, None, "K", False, 0, False)


def _adv_counts(x, arrays, out_size, what):
    """Launches/syncs of CuPy's advanced indexing paths (take, mask, multiple)."""
    if len(arrays) == 1:
        s = arrays[0]
        if s.dtype.kind == "b":
            if s.size == 0:
                return
            covers = s.ndim == x._a.ndim
            _launch(f"{what}: mask scan", 1 if covers else 2)
            _sync(f"{what}: boolean mask (count of True)")
            if out_size:
                _launch(f"{what}: mask kernel")
            return
        if out_size:
            _launch(f"{what}: take/scatter")
        return
    _launch(f"{what}: index fill")
    for s in arrays:
        if s.dtype.kind == "b":
            _launch(f"{what}: argwhere", 2)
            _sync(f"{what}: boolean array index (argwhere)")
            _launch(f"{what}: index prepare", s.ndim)
        else:
            _launch(f"{what}: index prepare")
    if out_size:
        _launch(f"{what}: take/scatter")


def _getitem(x, slices):
    key, arrays = _prepare_index(slices)
    r = x._a[key]
    if not arrays:
        return _view(r, x)
    if _np.may_share_memory(r, x._a):
        r = r.copy()  # CuPy's take always copies
    _adv_counts(x, arrays, r.size, "getitem")
    return _wrap(r)


def _setitem(x, slices, value):
    key, arrays = _prepare_index(slices)
    a = x._a
    if not arrays:
        if isinstance(value, ndarray):
            target = a[key]
            if value._a is a or (target.shape == value._a.shape and target.strides ==
                                 value._a.strides and _same_data(target, value._a)):
                return
            with _errstate():
                a[key] = value._a
            if target.size:
                _launch("setitem copy")
            return
        v = _np.asarray(value, dtype=a.dtype) if not isinstance(value, _np.ndarray) else value
        if v.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        a[key] = v[()]
        if a[key].size:
            _launch("setitem fill")
        return
    if isinstance(value, ndarray):
        v = value._astype(a.dtype, copy=None)._a
    else:
        v = _host_to_device(value, a.dtype)._a
    with _errstate():
        a[key] = v
    _adv_counts(x, arrays, 1, "setitem")


def _same_data(a, b):
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _take(x, indices, axis, out):
    a = x._a
    if isinstance(indices, ndarray):
        idx = indices._a
    elif _np.isscalar(indices):
        idx = indices
    else:
        idx = _host_to_device(indices, int)._a
    o = _out(out)
    if o is not None and o.dtype != a.dtype:
        raise TypeError("Output dtype mismatch")
    r = _np.take(a, idx, axis=axis, out=o)
    if r.size:
        _launch("take")
    return out if out is not None else _wrap(r)


def _argwhere(x):
    a = x._a
    if a.size:
        if a.dtype != _np.bool_:
            _launch("argwhere: != 0")
        _launch("argwhere: scan")
        _sync("nonzero/argwhere: count of nonzero")
    r = _np.argwhere(a)
    if r.size:
        _launch("argwhere: nonzero kernel")
    return _wrap(r)


# ---------------------------------------------------------------------------
# Creation


def _host_to_device(obj, dtype=None):
    """CuPy's core.array on host data: one upload (a 0-d value is a fill kernel)."""
    if isinstance(obj, ndarray):
        return obj
    a = _np.array(obj, dtype=dtype, copy=None)
    return _upload_host(a, "array/asarray of host data")


def _upload_host(a, what, order="C"):
    if a.dtype.kind in "biufc" and not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    _check_dtype(a.dtype)
    r = _np.array(a, copy=True, order=order)
    if r.ndim == 0:
        _launch("fill (0-d host value)")
    else:
        _upload(what)
    return _wrap(r)


def _nested_kind(obj):
    """(shape, kind) if obj is a nested sequence of arrays all of one kind, as CuPy."""
    if isinstance(obj, (ndarray, _np.ndarray)):
        return obj.shape, type(obj), obj.dtype
    if isinstance(obj, (list, tuple)):
        if not obj:
            return None
        first = _nested_kind(obj[0])
        if first is None:
            return None
        for elem in obj[1:]:
            other = _nested_kind(elem)
            if other is None or other[0] != first[0] or other[1] is not first[1]:
                return None
            first = first[0], first[1], _np.promote_types(first[2], other[2])
        return (len(obj),) + first[0], first[1], first[2]
    return None


def _flatten_device(obj, out):
    if isinstance(obj, (list, tuple)):
        for elem in obj:
            _flatten_device(elem, out)
    else:
        out.append(obj if obj._a.ndim else _view(obj._a.reshape(1), obj))


def _array(obj, dtype, copy, order, subok, ndmin, blocking):
    if subok:
        raise NotImplementedError
    if order is None:
        order = "K"
    if isinstance(obj, ndarray):
        a = obj._astype(obj._a.dtype if dtype is None else dtype, order, copy)
        if ndmin > a._a.ndim:
            if a is obj:
                a = a.view()
            a.shape = (1,) * (ndmin - a._a.ndim) + a._a.shape
        return a
    info = _nested_kind(obj) if isinstance(obj, (list, tuple)) else None
    if info is not None and info[1] is ndarray:
        flat = []
        _flatten_device(obj, flat)
        res = _concatenate(flat, 0, None, None, "same_kind").reshape(info[0])
        res = res._astype(info[2] if dtype is None else dtype,
                          "F" if order in ("F", "f") else "C", None)
        if ndmin > res._a.ndim:
            res = res.reshape((1,) * (ndmin - res._a.ndim) + res._a.shape)
        if blocking:
            _wait("array(blocking=True)")
        return res
    # Host data (numpy.array raises CuPy's TypeError if a stand-in array is nested in it).
    host = _np.array(obj, dtype=None if dtype is None else _dtype(dtype), copy=None, ndmin=ndmin)
    out_order = "C"
    if order in ("F", "f") or (order.upper() in ("K", "A") and host.flags.fnc):
        out_order = "F"
    r = _upload_host(host, "array/asarray of host data", out_order)
    if blocking:
        _wait("array(blocking=True)")
    return r


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    return _array(obj, dtype, copy, order, subok, ndmin, blocking)


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    return _array(a, dtype, copy, order, False, 0, blocking)


def asanyarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    return _array(a, dtype, copy, order, False, 0, blocking)


def ascontiguousarray(a, dtype=None):
    _typed(a, "a")
    dt = a._a.dtype if dtype is None else _dtype(dtype)
    if dt == a._a.dtype and a._a.flags.c_contiguous:
        return a
    r = _np.ascontiguousarray(a._a, dtype=dt)
    if r.size:
        _launch("ascontiguousarray")
    return _wrap(r)


def asfortranarray(a, dtype=None):
    _typed(a, "a")
    dt = a._a.dtype if dtype is None else _dtype(dtype)
    if dt == a._a.dtype and a._a.flags.f_contiguous:
        return a
    r = _np.asfortranarray(a._a, dtype=dt)
    if r.size:
        _launch("asfortranarray")
    return _wrap(r)


def copy(a, order="K"):
    return _need(a).copy(order=order)


def astype(x, dtype, /, *, copy=True):
    return _need(x).astype(dtype, copy=copy)


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    temp = _np.asarray(a, order=order)
    if out is not None:
        out[...] = temp
        return out
    return temp


def _empty(shape, dtype, order):
    return _np.empty(_shape_arg(shape), _dtype(dtype), order="C" if order is None else order)


def empty(shape, dtype=float, order="C"):
    return _wrap(_empty(shape, dtype, order))


def zeros(shape, dtype=float, order="C"):
    r = _wrap(_np.zeros(_shape_arg(shape), _dtype(dtype), order=order))
    if r.size:
        _launch("zeros (memset)")
    return r


def ones(shape, dtype=float, order="C"):
    r = _wrap(_np.ones(_shape_arg(shape), _dtype(dtype), order=order))
    if r.size:
        _launch("ones (fill)")
    return r


def full(shape, fill_value, dtype=None, order="C"):
    if dtype is None:
        dtype = fill_value._a.dtype if isinstance(fill_value, ndarray) else _np.array(
            _operand(fill_value)).dtype
    r = empty(shape, dtype, order)
    copyto(r, fill_value, casting="unsafe")
    return r


def _like(prototype, dtype, order, subok, shape, what):
    if subok is not None:
        raise TypeError("subok is not supported yet")
    # CuPy only reads shape/dtype/layout of the prototype (no transfer), so a
    # NumPy prototype works there too.
    if not isinstance(prototype, (ndarray, _np.ndarray)):
        raise AttributeError(f"'{type(prototype).__name__}' object has no attribute 'dtype'")
    proto = prototype._a if isinstance(prototype, ndarray) else prototype
    dt = proto.dtype if dtype is None else _dtype(dtype)
    if isinstance(shape, int):
        shape = (shape,)
    r = _np.empty_like(proto, dtype=dt, order=order, shape=shape)
    _check_dtype(r.dtype)
    return r


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    return _wrap(_like(prototype, dtype, order, subok, shape, "empty_like"))


def zeros_like(a, dtype=None, order="K", subok=None, shape=None):
    r = _like(a, dtype, order, subok, shape, "zeros_like")
    r[...] = 0
    if r.size:
        _launch("zeros_like (memset)")
    return _wrap(r)


def ones_like(a, dtype=None, order="K", subok=None, shape=None):
    r = _like(a, dtype, order, subok, shape, "ones_like")
    r[...] = 1
    if r.size:
        _launch("ones_like (fill)")
    return _wrap(r)


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    r = _wrap(_like(a, dtype, order, subok, shape, "full_like"))
    copyto(r, fill_value, casting="unsafe")
    return r


def eye(N, M=None, k=0, dtype=float, order="C"):
    if M is None:
        M = N
    r = zeros((N, M), dtype=dtype, order=order)
    if not (k <= -N or k >= M):
        r.diagonal(k).fill(1)
    return r


def identity(n, dtype=float):
    return eye(n, dtype=dtype)


def arange(start, stop=None, step=1, dtype=None):
    for v in (start, stop, step):
        if isinstance(v, (ndarray, _np.ndarray)):
            raise _unsupported(v)
    r = _np.arange(start, stop, step, dtype=_rdtype(dtype)) if stop is not None else \
        _np.arange(start, step=step, dtype=_rdtype(dtype))
    _check_dtype(r.dtype)
    if r.size:
        _launch("arange")
    return _wrap(r)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    for v in (start, stop):
        if isinstance(v, _np.ndarray):
            raise _unsupported(v)
    s = _operand(start) if isinstance(start, ndarray) else start
    e = _operand(stop) if isinstance(stop, ndarray) else stop
    r = _np.linspace(s, e, num, endpoint, retstep, _rdtype(dtype), axis)
    arr = r[0] if retstep else r
    _check_dtype(arr.dtype)
    if arr.size:
        _launch("linspace")
    out = _wrap(arr)
    return (out, r[1]) if retstep else out


# ---------------------------------------------------------------------------
# ufuncs

_COMPARISONS = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")


class ufunc:
    """Stand-in for cupy.ufunc: computes with the NumPy ufunc (or function) of that name.

    Takes CuPy's keywords only: out, dtype, casting (and the private _where).
    """

    def __init__(self, name, impl, nin, nout, scatter=None, doc=""):
        self.name = self.__name__ = "cupy_" + name
        self.nin, self.nout, self.nargs = nin, nout, nin + nout
        self._impl = impl
        self._scatter = scatter
        self.__doc__ = doc or f"Stand-in for cupy.{name} (computes numpy.{name}; see strict_cupy)."

    def __repr__(self):
        return f"<ufunc '{self.name}'>"

    def __getattr__(self, name):
        if name in API["ufunc_class"]["methods"] or name in API["ufunc_class"]["attributes"]:
            raise _not_in_standin(f"cupy.ufunc.{name}")
        raise AttributeError(f"'cupy.ufunc' object has no attribute '{name}'")

    @property
    def types(self):
        np_uf = self._impl if isinstance(self._impl, _np.ufunc) else None
        if np_uf is None:
            return []
        ok = set("?bBhHiIlLqQefdFD")
        return [t for t in np_uf.types if set(t.replace("->", "")) <= ok]

    def __call__(self, *args, **kwargs):
        out = kwargs.pop("out", None)
        where = kwargs.pop("_where", None)
        dtype = kwargs.pop("dtype", None)
        casting = kwargs.pop("casting", "same_kind")
        if kwargs:
            raise TypeError("Wrong arguments %s" % kwargs)
        n = len(args)
        if not (self.nin <= n <= self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either "
                            f"{self.nin} or {self.nargs} (with outputs), but given {n}.")
        ins = [_operand(x) for x in args[:self.nin]]
        outs = list(args[self.nin:])
        if out is not None:
            if outs:
                raise ValueError("Cannot specify 'out' as both a positional and keyword argument")
            if isinstance(out, tuple):
                if len(out) != self.nout:
                    raise ValueError("The 'out' tuple must have exactly one entry per ufunc output")
                outs = list(out)
            else:
                if self.nout != 1:
                    raise ValueError("'out' must be a tuple of arrays")
                outs = [out]
        np_outs = []
        for o in outs:
            if o is None:
                np_outs.append(None)
            elif isinstance(o, ndarray):
                np_outs.append(o._a)
            else:
                raise _unsupported(o)
        kw = {"casting": casting}
        if dtype is not None:
            kw["dtype"] = _dtype(dtype)
        if where is not None:
            w = _operand(where)
            if isinstance(w, _np.ndarray) and w.dtype != _np.bool_:
                raise TypeError(f"Cannot cast array data from {w.dtype!r} to "
                                f"{_np.dtype(bool)!r} according to the rule 'safe'")
            kw["where"] = w if isinstance(w, _np.ndarray) else bool(w)
        if any(o is not None for o in np_outs):
            kw["out"] = tuple(np_outs) if self.nout > 1 else np_outs[0]
        with _errstate():
            res = self._impl(*ins, **kw)
        results = res if self.nout > 1 else (res,)
        wrapped = []
        for i, r in enumerate(results):
            if i < len(outs) and outs[i] is not None:
                wrapped.append(outs[i])
            else:
                r = _np.asarray(r)
                _check_dtype(r.dtype)
                wrapped.append(_wrap(r))
        if wrapped[0]._a.size:
            _launch(self.name)
        return tuple(wrapped) if self.nout > 1 else wrapped[0]

    def outer(self, A, B, **kwargs):
        A, B = _need(A), _need(B)
        a_nd, b_nd = A.ndim, B.ndim
        return self(A.reshape(A.shape + (1,) * b_nd), B.reshape((1,) * a_nd + B.shape), **kwargs)

    def at(self, a, indices, b=None):
        if self._scatter is None:
            raise NotImplementedError(f"`{self.name}.at` is not supported yet")
        _setitem_scatter(self, _need(a), indices, b)

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False):
        if self.name == "cupy_add":
            return _need(array).sum(axis, dtype, out, keepdims)
        if self.name == "cupy_multiply":
            return _need(array).prod(axis, dtype, out, keepdims)
        raise NotImplementedError(f"`{self.name}.reduce` is not supported yet")

    def accumulate(self, array, axis=0, dtype=None, out=None):
        if self.name == "cupy_add":
            return _need(array).cumsum(axis, dtype, out)
        if self.name == "cupy_multiply":
            return _need(array).cumprod(axis, dtype, out)
        raise NotImplementedError(f"`{self.name}.accumulate` is not supported yet")

    def reduceat(self, array, indices, axis=0, dtype=None, out=None):
        if self.name != "cupy_add":
            raise NotImplementedError(f"`{self.name}.reduceat` is not supported yet")
        x = _need(array)
        idx = indices._a if isinstance(indices, ndarray) else _host_to_device(indices)._a
        r = _np.add.reduceat(x._a, idx, axis=axis, dtype=_rdtype(dtype), out=_out(out))
        _launch("reduceat")
        return out if out is not None else _wrap(r)


ufunc.__module__ = "cupy"


def _setitem_scatter(uf, a, indices, b):
    key, arrays = _prepare_index(indices)
    v = b._a if isinstance(b, ndarray) else (_host_to_device(b, a._a.dtype)._a
                                              if b is not None else None)
    np_uf = uf._impl
    with _errstate():
        if uf.nin == 1:
            np_uf.at(a._a, key)
        else:
            np_uf.at(a._a, key, v)
    if arrays:
        _adv_counts(a, arrays, 1, f"{uf.name}.at")
    else:
        _launch(f"{uf.name}.at")


def _non_ufunc(fn, nin=1):
    """A NumPy function used as a CuPy ufunc (cupy.fix, i0, sinc are ufuncs in CuPy)."""
    def impl(*ins, out=None, dtype=None, casting="same_kind", where=True):
        if dtype is not None:
            ins = [_np.asarray(x).astype(dtype) for x in ins]
        r = _np.asarray(fn(*ins))
        if out is not None:
            _np.copyto(out, r, casting=casting, where=where)
            return out
        return r
    return impl


# Which CuPy ufunc names map to which NumPy ufunc (same name in NumPy 2), and
# which are CuPy ufuncs but NumPy plain functions.
_NON_UFUNC_IMPL = {"fix": _np.fix, "i0": _np.i0, "sinc": _np.sinc}
_SCATTER = {"add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"}

_UFUNCS = {}
for _name, _kind in API["functions"].items():
    if _kind != "ufunc":
        continue
    _np_obj = getattr(_np, _name, None)
    if isinstance(_np_obj, _np.ufunc):
        _canon = _np_obj.__name__
        if _canon not in _UFUNCS:
            _UFUNCS[_canon] = ufunc(_canon, _np_obj, _np_obj.nin, _np_obj.nout,
                                    scatter=_canon if _canon in _SCATTER else None)
        _UFUNCS[_name] = _UFUNCS[_canon]
    elif _name in _NON_UFUNC_IMPL:
        _UFUNCS[_name] = ufunc(_name, _non_ufunc(_NON_UFUNC_IMPL[_name]), 1, 1)
for _name in ("add", "subtract", "multiply", "true_divide", "floor_divide", "remainder",
              "power", "left_shift", "right_shift", "bitwise_and", "bitwise_or",
              "bitwise_xor", "divmod", "negative", "positive", "absolute", "invert",
              "square", "sqrt", "reciprocal", "conjugate") + _COMPARISONS:
    assert _name in _UFUNCS, _name  # operators need these
del _name, _kind, _np_obj

# NumPy ufuncs NumPy's operators call (for the NumPy-scalar exception above).
_NP_OPERATOR_UFUNCS = {getattr(_np, n): n for n in (
    "add", "subtract", "multiply", "true_divide", "floor_divide", "remainder", "power",
    "left_shift", "right_shift", "bitwise_and", "bitwise_or", "bitwise_xor",
    "divmod") + _COMPARISONS}
_NP_COMPARISONS = {getattr(_np, n) for n in _COMPARISONS}


def _round(a, decimals, out):
    o = _out(out)
    with _errstate():
        r = _np.round(_need(a)._a, decimals, out=o)
    if r.size:
        _launch("round")
    return out if out is not None else _wrap(r)


# ---------------------------------------------------------------------------
# Linear algebra


def _matmul_like(what, fn, a, b, out, **kw):
    o = _out(out)
    with _errstate():
        r = fn(a._a, b._a, out=o, **kw) if o is not None else fn(a._a, b._a, **kw)
    r = _np.asarray(r)
    if r.size:
        _launch(what)
    return out if out is not None else _wrap(r)


def _matmul(a, b, out=None, **kw):
    _typed(a, "a")
    _typed(b, "b")
    _typed(out, "out", allow_none=True)
    return _matmul_like("matmul", _np.matmul, a, b, out, **kw)


def matmul(*args, axes=None, axis=None, keepdims=False, casting="same_kind", dtype=None,
           signature=None, order="K", out=None):
    if len(args) == 3 and out is None:
        *args, out = args
    if len(args) != 2:
        raise TypeError(f"Wrong number of arguments for matmul: {len(args)}")
    kw = {}
    for k, v, d in (("axes", axes, None), ("axis", axis, None), ("keepdims", keepdims, False),
                    ("casting", casting, "same_kind"), ("dtype", dtype, None),
                    ("signature", signature, None), ("order", order, "K")):
        if v != d:
            kw[k] = v if k != "dtype" else _dtype(v)
    return _matmul(args[0], args[1], out, **kw)


def dot(a, b, out=None):
    return _need(a).dot(b, out)


def vdot(a, b):
    return _matmul_like("vdot", _np.vdot, _need(a), _need(b), None)


def inner(a, b):
    a, b = _operand(a), _operand(b)
    r = _np.asarray(_np.inner(a, b))
    _launch("inner")
    return _wrap(r)


def outer(a, b, out=None):
    return _matmul_like("outer", _np.outer, _need(a), _need(b), out)


def tensordot(a, b, axes=2):
    r = _np.asarray(_np.tensordot(_need(a)._a, _need(b)._a, axes))
    if r.size:
        _launch("tensordot")
    return _wrap(r)


def einsum(*operands, **kwargs):
    dtype = kwargs.pop("dtype", None)
    optimize = kwargs.pop("optimize", False)
    if kwargs:
        raise TypeError("Did not understand the following kwargs: %s" % list(kwargs.keys()))
    if operands and isinstance(operands[0], str):
        arrays = operands[1:]
        np_ops = [operands[0]] + [_operand(x) for x in arrays]
    else:  # einsum(op0, sublist0, op1, sublist1, ..., [sublistout])
        arrays = [x for x in operands if not isinstance(x, (list, tuple))]
        np_ops = [x if isinstance(x, (list, tuple)) else _operand(x) for x in operands]
    with _errstate():
        r = _np.asarray(_np.einsum(*np_ops, dtype=_rdtype(dtype), optimize=optimize))
    for x in arrays:  # einsum may return a view (e.g. "ij->ji"), as CuPy does
        if isinstance(x, ndarray) and _np.may_share_memory(r, x._a):
            return _view(r, x)
    if r.size:
        _launch("einsum", builtins.max(1, len(arrays) - 1))
    return _wrap(r)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return _need(a).trace(offset, axis1, axis2, dtype, out)


def _norm(x, ord=None, axis=None, keepdims=False):
    x = _need(x)
    if not issubclass(x._a.dtype.type, _np.inexact):
        x = x.astype(float)
    with _errstate():
        r = _np.asarray(_np.linalg.norm(x._a, ord=ord, axis=axis, keepdims=keepdims))
    if axis is None and (ord is None or (x.ndim == 1 and ord == 2)
                         or (x.ndim == 2 and ord in ("f", "fro"))):
        _launch("norm (multiply, sum, sqrt)", 3)
    elif ord is None or ord == 2:
        _launch("norm (ord-2 reduction)")
    else:
        _launch("norm", 2)
    return _wrap(r)


# ---------------------------------------------------------------------------
# Reductions and statistics (module functions)


def _cupy_sum(a, axis=None, dtype=None, out=None, keepdims=False):
    return _need(a).sum(axis, dtype, out, keepdims)


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    return _need(a).prod(axis, dtype, out, keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    return _need(a).mean(axis, dtype, out, keepdims)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return _need(a).var(axis, dtype, out, ddof, keepdims)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return _need(a).std(axis, dtype, out, ddof, keepdims)


def amax(a, axis=None, out=None, keepdims=False):
    return _need(a).max(axis, out, keepdims)


def amin(a, axis=None, out=None, keepdims=False):
    return _need(a).min(axis, out, keepdims)


def ptp(a, axis=None, out=None, keepdims=False):
    return _need(a).ptp(axis, out, keepdims)


def argmax(a, axis=None, dtype=None, out=None, keepdims=False):
    return _need(a).argmax(axis, out, dtype, keepdims)


def argmin(a, axis=None, dtype=None, out=None, keepdims=False):
    return _need(a).argmin(axis, out, dtype, keepdims)


def _cupy_all(a, axis=None, out=None, keepdims=False):
    return _need(a).all(axis, out, keepdims)


def _cupy_any(a, axis=None, out=None, keepdims=False):
    return _need(a).any(axis, out, keepdims)


def cumsum(a, axis=None, dtype=None, out=None):
    return _need(a).cumsum(axis, dtype, out)


def cumprod(a, axis=None, dtype=None, out=None):
    return _need(a).cumprod(axis, dtype, out)


def nansum(a, axis=None, dtype=None, out=None, keepdims=False):
    return _reduce("nansum", _np.nansum, _need(a), out, axis=axis, dtype=_rdtype(dtype),
                   keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False):
    return _reduce("nanmean (sum, count)", _np.nanmean, _need(a), out, 2, axis=axis,
                   dtype=_rdtype(dtype), keepdims=keepdims)


def _nan_minmax(fn, what, a, axis, out, keepdims):
    # cupy/_statistics/order.py: reduce, then `if isnan(res).any():` -- a sync.
    res = _reduce(what, fn, _need(a), out, axis=axis, keepdims=keepdims)
    _launch(f"{what}: isnan(res).any()", 2)
    _sync(f"{what}: all-NaN check")
    return res


def nanmax(a, axis=None, out=None, keepdims=False):
    return _nan_minmax(_np.nanmax, "nanmax", a, axis, out, keepdims)


def nanmin(a, axis=None, out=None, keepdims=False):
    return _nan_minmax(_np.nanmin, "nanmin", a, axis, out, keepdims)


def count_nonzero(a, axis=None):
    r = _np.asarray(_np.count_nonzero(_need(a)._a, axis=axis))
    _launch("count_nonzero")
    return _wrap(r)


# ---------------------------------------------------------------------------
# Manipulation


def reshape(a, newshape, order="C", *, copy=None):
    return _need(a).reshape(newshape, order=order, copy=copy)


def ravel(a, order="C"):
    return _need(a).ravel(order)


def transpose(a, axes=None):
    return _need(a).transpose(axes)


def swapaxes(a, axis1, axis2):
    return _need(a).swapaxes(axis1, axis2)


def moveaxis(a, source, destination):
    _typed(a, "a")
    return _view(_np.moveaxis(a._a, source, destination), a)


def rollaxis(a, axis, start=0):
    _typed(a, "a")
    return _view(_np.rollaxis(a._a, axis, start), a)


def expand_dims(a, axis):
    return _view(_np.expand_dims(_need(a)._a, axis), a)


def squeeze(a, axis=None):
    return _need(a).squeeze(axis)


def broadcast_to(array, shape):
    _typed(array, "array")
    return _view(_np.broadcast_to(array._a, shape), array)


def broadcast_arrays(*args):
    arrs = [_need(x) for x in args]
    return [_view(r, x) for r, x in zip(_np.broadcast_arrays(*[x._a for x in arrs]), arrs)]


def _atleast(fn, arys):
    # CuPy runs cupy.asarray on each; the stand-in takes scalars (a fill launch)
    # but refuses host arrays (they would be an implicit upload).
    res = []
    for x in arys:
        if not isinstance(x, ndarray):
            _operand(x)
            x = asarray(x)
        res.append(_view(fn(x._a), x))
    return res[0] if len(res) == 1 else res


def atleast_1d(*arys):
    return _atleast(_np.atleast_1d, arys)


def atleast_2d(*arys):
    return _atleast(_np.atleast_2d, arys)


def atleast_3d(*arys):
    return _atleast(_np.atleast_3d, arys)


def _concatenate(arrays, axis, out, dtype, casting):
    # cupy/_core/_routines_manipulation.pyx concatenate_method / _concatenate
    for o in arrays:
        if isinstance(o, ndarray):
            continue
        _operand(o)  # NumPy arrays and other objects: "Unsupported type"
        raise TypeError("Only cupy arrays can be concatenated")
    if len(arrays) == 0:
        raise ValueError("Cannot concatenate from empty tuple")
    for o in arrays:
        if o._a.ndim == 0:
            raise TypeError("zero-dimensional arrays cannot be concatenated")
    if out is not None and dtype is not None:
        raise TypeError("concatenate() only takes `out` or `dtype` as an argument, but both "
                        "were provided.")
    _typed(out, "out", allow_none=True)
    if out is None and dtype is None:
        dts = {x._a.dtype for x in arrays}
        dtype = functools.reduce(_np.promote_types, dts) if len(dts) > 1 else arrays[0]._a.dtype
    dt = out._a.dtype if out is not None else _dtype(dtype)
    r = _np.concatenate([x._a for x in arrays], axis=axis, out=_out(out), dtype=None if
                        out is not None else dt, casting=casting)
    # Launches as CuPy: one kernel for > 8 same-dtype small inputs (after uploading
    # pointer tables), else one elementwise copy per non-empty input.
    ax = axis % r.ndim
    total = builtins.sum(x._a.size for x in arrays) * dt.itemsize
    if len(arrays) > 8 and builtins.all(x._a.dtype == dt for x in arrays) and \
            total < 2 * 1024 * 1024 * len(arrays):
        axis_size = r.shape[ax] // len(arrays)
        same = builtins.all(x._a.flags.c_contiguous and x._a.shape[ax] == axis_size
                            for x in arrays)
        for _ in range(1 if same else 3):
            _upload("concatenate: pointer table")
        _launch("concatenate (single kernel)")
    else:
        _launch("concatenate (copy per input)", builtins.sum(1 for x in arrays if x._a.size))
    return out if out is not None else _wrap(r)


def concatenate(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if axis is None:
        tup = [_need(m).ravel() for m in tup]
        axis = 0
    return _concatenate(list(tup), axis, out, dtype, casting)


def stack(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return concatenate([expand_dims(x, axis) for x in tup], axis, out, dtype=dtype,
                       casting=casting)


def hstack(tup, *, dtype=None, casting="same_kind"):
    arrs = [atleast_1d(a) for a in tup]
    axis = 0 if arrs[0].ndim == 1 else 1
    return concatenate(arrs, axis, dtype=dtype, casting=casting)


def vstack(tup, *, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(m) for m in tup], 0, dtype=dtype, casting=casting)


def split(ary, indices_or_sections, axis=0):
    _need(ary)
    return [_view(p, ary) for p in _np.split(ary._a, indices_or_sections, axis)]


def array_split(ary, indices_or_sections, axis=0):
    _typed(ary, "ary")
    return [_view(p, ary) for p in _np.array_split(ary._a, indices_or_sections, axis)]


def take(a, indices, axis=None, out=None):
    return _need(a).take(indices, axis, out)


def take_along_axis(a, indices, axis):
    # cupy/_indexing/indexing.py: a[tuple(fancy_index)] built from aranges.
    a = _need(a)
    indices = _need(indices)
    if indices._a.dtype.kind not in ("i", "u"):
        raise IndexError("`indices` must be an integer array")
    if axis is None:
        a = a.ravel()
        axis = 0
    ndim = a.ndim
    axis = _np.lib.array_utils.normalize_axis_index(axis, ndim)
    if ndim != indices.ndim:
        raise ValueError("`indices` and `a` must have the same number of dimensions")
    fancy_index = []
    for i, n in enumerate(a.shape):
        if i == axis:
            fancy_index.append(indices)
        else:
            ind_shape = (1,) * i + (-1,) + (1,) * (ndim - i - 1)
            fancy_index.append(arange(n).reshape(ind_shape))
    return a[tuple(fancy_index)]


def repeat(a, repeats, axis=None):
    return _need(a).repeat(repeats, axis)


def tile(A, reps):
    r = _np.tile(_need(A)._a, reps)
    if r.size:
        _launch("tile")
    return _wrap(r)


def copyto(dst, src, casting="same_kind", where=None):
    # cupy/_manipulation/basic.py copyto: the same casting checks and messages.
    _need(dst)
    if type(src) in _PY_SCALARS:
        _np.copyto(_np.empty((), dtype=dst._a.dtype), src, casting=casting)
        s = src
    elif isinstance(src, _np.ndarray):
        if src.size != 1:
            raise ValueError("non-scalar numpy.ndarray cannot be used for copyto")
        if not _np.can_cast(src, dst._a.dtype, casting):
            raise TypeError("Cannot cast %s to %s in %s casting mode"
                            % (src.dtype, dst._a.dtype, casting))
        s = src.squeeze()[()]
    elif isinstance(src, ndarray):
        if not _np.can_cast(src._a.dtype, dst._a.dtype, casting):
            raise TypeError("Cannot cast %s to %s in %s casting mode"
                            % (src._a.dtype, dst._a.dtype, casting))
        s = src._a
    else:
        s = _operand(src)  # NumPy scalars; anything else: "Unsupported type"
        if not _np.can_cast(s, dst._a.dtype, casting):
            raise TypeError("Cannot cast %s to %s in %s casting mode"
                            % (s, dst._a.dtype, casting))
    w = None if where is None else _need(where)._a
    with _errstate():
        _np.copyto(dst._a, s, casting="unsafe", where=True if w is None else w)
    if dst._a.size:
        _launch("copyto")


def flip(a, axis=None):
    return _view(_np.flip(_need(a)._a, axis), a)


def fliplr(a):
    return _view(_np.fliplr(_need(a)._a), a)


def flipud(a):
    return _view(_np.flipud(_need(a)._a), a)


def roll(a, shift, axis=None):
    r = _np.roll(_need(a)._a, shift, axis)
    if r.size:
        _launch("roll")
    return _wrap(r)


def where(condition, x=None, y=None):
    missing = (x is None, y is None).count(True)
    if missing == 1:
        raise ValueError("Must provide both 'x' and 'y' or neither.")
    condition = _need(condition)
    if missing == 2:
        return nonzero(condition)
    cond = condition._astype(_np.bool_, copy=None)
    xs, ys = _operand(x), _operand(y)
    r = _np.where(cond._a, xs, ys)
    _check_dtype(r.dtype)
    if r.size:
        _launch("where")
    return _wrap(r)


def clip(a, a_min, a_max, out=None):
    return _need(a).clip(a_min, a_max, out)


def nonzero(a):
    return _need(a).nonzero()


def argwhere(a):
    return _argwhere(_need(a))


def flatnonzero(a):
    return _argwhere(_need(a).ravel()).ravel()


def sort(a, axis=-1, kind=None):
    a = _need(a)
    if axis is None:
        ret = a.flatten()
        axis = -1
    else:
        ret = a.copy()
    ret.sort(axis=axis, kind=kind)
    return ret


def argsort(a, axis=-1, kind=None):
    return _need(a).argsort(axis, kind)


def searchsorted(a, v, side="left", sorter=None):
    a = _need(a)
    vv = _operand(v)
    srt = None if sorter is None else _need(sorter)._a
    r = _np.asarray(_np.searchsorted(a._a, vv, side=side, sorter=srt))
    _launch("searchsorted")
    return _wrap(r)


def diagonal(a, offset=0, axis1=0, axis2=1):
    return _need(a).diagonal(offset, axis1, axis2)


def diag(v, k=0):
    v = _need(v)
    if v.ndim == 1:
        r = _np.diag(v._a, k)
        if r.size:
            _launch("diag (zeros, set diagonal)", 2)
        return _wrap(r)
    if v.ndim == 2:
        return v.diagonal(k).copy()
    raise ValueError("Input must be 1- or 2-d.")


def matrix_transpose(x, /):
    x = _need(x)
    if x.ndim < 2:
        raise ValueError(f"Input array must be at least 2-dimensional, but it is {x.ndim}")
    return x.swapaxes(-1, -2)


def common_type(*arrays):
    if len(arrays) == 0:
        return _np.float16
    dtypes = []
    for a in arrays:
        if a.dtype.kind == "b":
            raise TypeError("can't get common type for non-numeric array")
        dtypes.append(_np.dtype("float64") if a.dtype.kind in "iu" else a.dtype)
    return functools.reduce(_np.promote_types, dtypes).type


def tril(m, k=0):
    r = _np.tril(_need(m)._a, k)
    if r.size:
        _launch("tril")
    return _wrap(r)


def triu(m, k=0):
    r = _np.triu(_need(m)._a, k)
    if r.size:
        _launch("triu")
    return _wrap(r)


def isclose(a, b, rtol=1.e-5, atol=1.e-8, equal_nan=False):
    a_, b_ = _operand(a), _operand(b)
    with _errstate():
        r = _np.asarray(_np.isclose(a_, b_, rtol, atol, equal_nan))
    if r.size:
        _launch("isclose")
    return _wrap(r)


def allclose(a, b, rtol=1.e-5, atol=1.e-8, equal_nan=False):
    return isclose(a, b, rtol, atol, equal_nan).all()


def array_equal(a1, a2, equal_nan=False):
    a1, a2 = _need(a1), _need(a2)
    if a1.shape != a2.shape:
        return array(False)
    with _errstate():
        r = _np.asarray(_np.array_equal(a1._a, a2._a, equal_nan=equal_nan))
    _launch("array_equal", 2)
    return _wrap(r)


def around(a, decimals=0, out=None):
    return _round(a, decimals, out)


def _cupy_round(a, decimals=0, out=None):
    return _round(a, decimals, out)


def real(val):
    return _need(val).real


def imag(val):
    return _need(val).imag


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = _need(x)
    with _errstate():
        r = _np.nan_to_num(x._a, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    if r.size:
        _launch("nan_to_num")
    return x if not copy else _wrap(r)


def fill_diagonal(a, val, wrap=False):
    a = _need(a)
    v = val._a if isinstance(val, ndarray) else _operand(val) if not isinstance(
        val, (list, tuple)) else _host_to_device(val)._a
    _np.fill_diagonal(a._a, v, wrap)
    _launch("fill_diagonal")


def may_share_memory(a, b, max_work=None):
    return _np.may_share_memory(_need(a)._a, _need(b)._a, max_work=max_work)


def shares_memory(a, b, max_work=None):
    return _np.shares_memory(_need(a)._a, _need(b)._a, max_work=max_work)


def result_type(*arrays_and_dtypes):
    return _np.result_type(*[a._a.dtype if isinstance(a, ndarray) else a
                             for a in arrays_and_dtypes])


def can_cast(from_, to, casting="safe"):
    from_ = from_._a.dtype if isinstance(from_, ndarray) else from_
    return _np.can_cast(from_, to, casting=casting)


def isscalar(element):
    return _np.isscalar(element)


def ndim(a):
    try:
        return a.ndim
    except AttributeError:
        return _np.ndim(a)


def shape(a):
    if isinstance(a, ndarray):
        return a.shape
    return _np.shape(a)


def size(a, axis=None):
    _typed(a, "a")
    if axis is None:
        return a.size
    if not -a.ndim <= axis < a.ndim:
        raise IndexError("index out of range")
    return a.shape[axis]


def get_array_module(*args):
    for arg in args:
        if isinstance(arg, ndarray):
            return cupy
    return _np


def is_available():
    return True


# ---------------------------------------------------------------------------
# cupy.cuda (devices, streams, events, memory pool) -- nothing here touches a GPU.


class _StrictClass:
    """Base of the cuda stand-in classes: CuPy names not implemented raise NotInStandIn."""

    _api_key = None

    def __getattr__(self, name):
        spec = API["classes"].get(self._api_key, {})
        if name in spec.get("methods", {}) or name in spec.get("attributes", ()):
            raise _not_in_standin(f"{self._api_key}.{name}")
        raise AttributeError(f"'{self._api_key}' object has no attribute '{name}'")


class CUDARuntimeError(RuntimeError):
    def __init__(self, status):
        self.status = status
        super().__init__(f"cudaErrorInvalidDevice: invalid device ordinal (strict_cupy "
                         f"stand-in has only device 0; status {status})")


def _check_device(device):
    device = 0 if device is None else int(device)
    if device != 0:
        raise CUDARuntimeError(101)
    return device


class _cuda_Device(_StrictClass):
    """cupy.cuda.Device stand-in: device 0, the only one."""

    _api_key = "cupy.cuda.Device"

    def __init__(self, device=None):
        if isinstance(device, _cuda_Device):
            device = device.id
        self.id = _check_device(device)

    def __int__(self):
        return self.id

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass

    def __repr__(self):
        return f"<CUDA Device {self.id}>"

    def __eq__(self, other):
        return isinstance(other, _cuda_Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def use(self):
        pass

    def synchronize(self):
        _wait("Device.synchronize")

    @property
    def compute_capability(self):
        return "80"


_cuda_Device.__name__ = _cuda_Device.__qualname__ = "Device"


class _cuda_Event(_StrictClass):
    """cupy.cuda.Event stand-in: record() takes time.perf_counter()."""

    _api_key = "cupy.cuda.Event"

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        if interprocess and not disable_timing:
            raise ValueError("Timing must be disabled for interprocess events")
        self.ptr = 0
        self._t = None
        self._timing = not disable_timing

    @property
    def done(self):
        return True

    def record(self, stream=None):
        self._t = time.perf_counter()

    def synchronize(self):
        _wait("Event.synchronize")


_cuda_Event.__name__ = _cuda_Event.__qualname__ = "Event"


def _get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events (time.perf_counter on the host)."""
    if start_event._t is None or end_event._t is None:
        raise CUDARuntimeError(400)  # cudaErrorInvalidResourceHandle
    if not (start_event._timing and end_event._timing):
        raise CUDARuntimeError(600)
    return (end_event._t - start_event._t) * 1e3


class _cuda_Stream(_StrictClass):
    """cupy.cuda.Stream stand-in: everything is already synchronous."""

    _api_key = "cupy.cuda.Stream"
    null = None
    ptds = None

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.ptr = 0
        self.device_id = -1 if (null or ptds) else 0
        self._non_blocking = non_blocking
        self._priority = 0 if priority is None else priority

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass

    def __repr__(self):
        return f"<Stream {self.ptr} (device {self.device_id})>"

    done = property(lambda self: True)
    is_non_blocking = property(lambda self: self._non_blocking)
    priority = property(lambda self: self._priority)

    def use(self):
        return self

    def synchronize(self):
        _wait("Stream.synchronize")

    def record(self, event=None):
        if event is None:
            event = _cuda_Event()
        event.record(self)
        return event

    def wait_event(self, event):
        pass


_cuda_Stream.__name__ = _cuda_Stream.__qualname__ = "Stream"
_cuda_Stream.null = _cuda_Stream(null=True)
_cuda_Stream.ptds = _cuda_Stream(ptds=True)


def _get_current_stream(device_id=-1):
    return _cuda_Stream.null


class _cuda_MemoryPool(_StrictClass):
    """cupy.cuda.MemoryPool stand-in: used_bytes() = live stand-in arrays (512 B blocks)."""

    _api_key = "cupy.cuda.MemoryPool"

    def __init__(self, allocator=None):
        self._limit = 0

    def used_bytes(self):
        return _pool["used"]

    def free_bytes(self):
        return 0

    def total_bytes(self):
        return _pool["used"]

    def n_free_blocks(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def free_all_free(self):
        pass

    def set_limit(self, size=None, fraction=None):
        if size is not None and fraction is not None:
            raise ValueError("size and fraction cannot be specified at the same time")
        self._limit = 0 if size is None else int(size)

    def get_limit(self):
        return self._limit


_cuda_MemoryPool.__name__ = _cuda_MemoryPool.__qualname__ = "MemoryPool"
_DEFAULT_POOL = _cuda_MemoryPool()


def get_default_memory_pool():
    return _DEFAULT_POOL


def get_default_pinned_memory_pool():
    raise _not_in_standin("cupy.get_default_pinned_memory_pool")


# cupy.cuda.runtime (cupy_backends/cuda/api/runtime.pyx)

def _rt_getDeviceCount():
    return 1


def _rt_getDevice():
    return 0


def _rt_setDevice(device):
    _check_device(device)


def _rt_getDeviceProperties(device):
    _check_device(device)
    # A few of the keys CuPy's getDeviceProperties returns; 'name' says what this is.
    return {"name": STANDIN_DEVICE_NAME, "totalGlobalMem": 0, "major": 8, "minor": 0,
            "multiProcessorCount": 1, "warpSize": 32, "maxThreadsPerBlock": 1024}


def _rt_runtimeGetVersion():
    return 0  # no CUDA runtime


def _rt_driverGetVersion():
    return 0  # no CUDA driver


def _rt_deviceSynchronize():
    _wait("runtime.deviceSynchronize")


# cupyx.profiler.benchmark (cupyx/profiler/_time.py)

class _PerfCaseResult(_StrictClass):
    """Timing results: cpu_times (n_repeat,), gpu_times (n_devices, n_repeat), seconds.

    In the stand-in "GPU" time is host time between two Event.record() calls.
    """

    _api_key = "cupyx.profiler._time._PerfCaseResult"

    def __init__(self, name, ts, devices):
        assert ts.ndim == 2 and ts.shape[0] == len(devices) + 1 and ts.shape[1] > 0
        self.name = name
        self._ts = ts
        self._devices = devices

    @property
    def cpu_times(self):
        return self._ts[0]

    @property
    def gpu_times(self):
        return self._ts[1:]

    @staticmethod
    def _to_str_per_item(device_name, t):
        t_us = t * 1e6
        s = "    {}: {:9.03f} us".format(device_name, t_us.mean())
        if t.size > 1:
            s += "   +/- {:6.03f} (min: {:9.03f} / max: {:9.03f}) us".format(
                t_us.std(), t_us.min(), t_us.max())
        return s

    def to_str(self, show_gpu=False):
        results = [self._to_str_per_item("CPU", self._ts[0])]
        if show_gpu:
            for i, d in enumerate(self._devices):
                results.append(self._to_str_per_item(f"GPU-{d}", self._ts[1 + i]))
        return "{:<20s}:{}".format(self.name, " ".join(results))

    def __str__(self):
        return self.to_str(show_gpu=True)

    __repr__ = __str__


def benchmark(func, args=(), kwargs={}, n_repeat=10000, *, name=None, n_warmup=10,
              max_duration=math.inf, devices=None):
    """cupyx.profiler.benchmark stand-in: same arguments, same result object."""
    if name is None:
        name = func.__name__
    if devices is None:
        devices = (0,)
    if not callable(func):
        raise ValueError("`func` should be a callable object.")
    if not isinstance(args, tuple):
        raise ValueError("`args` should be of tuple type.")
    if not isinstance(kwargs, dict):
        raise ValueError("`kwargs` should be of dict type.")
    if not isinstance(n_repeat, int):
        raise ValueError("`n_repeat` should be an integer.")
    if not isinstance(name, str):
        raise ValueError("`name` should be a string.")
    if not isinstance(n_warmup, int):
        raise ValueError("`n_warmup` should be an integer.")
    if not _np.isreal(max_duration):
        raise ValueError("`max_duration` should be given in seconds")
    if not isinstance(devices, tuple):
        raise ValueError("`devices` should be of tuple type")
    for d in devices:
        _check_device(d)
    events_1 = [_cuda_Event() for _ in devices]
    events_2 = [_cuda_Event() for _ in devices]
    for _ in range(n_warmup):
        func(*args, **kwargs)
    for ev in events_1:
        ev.record()
        ev.synchronize()
    cpu_times, gpu_times = [], [[] for _ in devices]
    duration = 0
    for _ in range(n_repeat):
        for ev in events_1:
            ev.record()
        t1 = time.perf_counter()
        func(*args, **kwargs)
        t2 = time.perf_counter()
        cpu_times.append(t2 - t1)
        for ev in events_2:
            ev.record()
        for ev in events_2:
            ev.synchronize()
        for i, (ev1, ev2) in enumerate(zip(events_1, events_2)):
            gpu_times[i].append(_get_elapsed_time(ev1, ev2) * 1e-3)
        duration += time.perf_counter() - t1
        if duration > max_duration:
            break
    ts = _np.asarray([cpu_times] + gpu_times, dtype=_np.float64)
    return _PerfCaseResult(name, ts, devices=devices)


# ---------------------------------------------------------------------------
# Module objects: cupy, cupy.cuda, cupy.cuda.runtime, cupy.linalg, cupyx, cupyx.profiler


class _StrictModule(types.ModuleType):
    """A module exposing only names of the API list; CuPy names not implemented raise."""

    def __init__(self, name, doc, api_section):
        super().__init__(name, doc)
        self.__dict__["_api_section"] = api_section

    def __getattr__(self, name):
        sec = self.__dict__["_api_section"]
        if not name.startswith("__") and builtins.any(
                name in sec.get(k, ()) for k in ("functions", "numpy_borrowed", "modules",
                                                 "classes", "classes_in_namespace", "objects")):
            raise _not_in_standin(f"{self.__name__}.{name}")
        raise AttributeError(f"module '{self.__name__}' has no attribute '{name}'")

    def __dir__(self):
        return sorted(k for k in self.__dict__ if not k.startswith("_api"))

    def __repr__(self):
        return f"<module '{self.__name__}' (strict_cupy stand-in, NumPy on CPU) from {__file__!r}>"


_DOC = ("Strict NumPy-backed stand-in for CuPy {v} (strict_cupy): checks API use, host/device "
        "transfers and host syncs; not CUDA, not speed.").format(v=CUPY_VERSION)


def _resolve_numpy(dotted):
    obj = _np
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _make_modules():
    top = API
    cupy_mod = _StrictModule("cupy", _DOC, top)
    cuda_mod = _StrictModule("cupy.cuda", _DOC, top["submodules"]["cupy.cuda"])
    runtime_mod = _StrictModule("cupy.cuda.runtime", _DOC, top["submodules"]["cupy.cuda.runtime"])
    linalg_mod = _StrictModule("cupy.linalg", _DOC, top["submodules"]["cupy.linalg"])
    cupyx_mod = _StrictModule("cupyx", _DOC, top["submodules"]["cupyx"])
    profiler_mod = _StrictModule("cupyx.profiler", _DOC, top["submodules"]["cupyx.profiler"])

    g = globals()
    names = {}
    # numpy-borrowed names are the very NumPy objects in CuPy too.
    for name, np_name in top["numpy_borrowed"].items():
        try:
            names[name] = _resolve_numpy(np_name)
        except AttributeError:
            pass
    names.update(_UFUNCS)
    for name in ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray",
                 "copy", "astype", "asnumpy", "empty", "empty_like", "zeros", "zeros_like",
                 "ones", "ones_like", "full", "full_like", "eye", "identity", "arange",
                 "linspace", "matmul", "dot", "vdot", "inner", "outer", "tensordot", "einsum",
                 "trace", "prod", "mean", "var", "std", "amax", "amin", "ptp",
                 "argmax", "argmin", "cumsum", "cumprod", "count_nonzero",
                 "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "rollaxis",
                 "expand_dims", "squeeze", "broadcast_to", "broadcast_arrays", "atleast_1d",
                 "atleast_2d", "atleast_3d", "concatenate", "stack", "hstack", "vstack",
                 "split", "array_split", "take", "take_along_axis", "repeat", "tile",
                 "copyto", "flip", "fliplr", "flipud", "roll", "where", "clip", "nonzero",
                 "argwhere", "flatnonzero", "sort", "argsort", "searchsorted", "diagonal",
                 "tril", "triu", "diag", "matrix_transpose", "common_type", "nansum",
                 "nanmean", "nanmax", "nanmin", "isclose", "allclose", "array_equal", "around",
                 "real", "imag", "nan_to_num", "fill_diagonal", "may_share_memory",
                 "shares_memory", "result_type", "can_cast", "isscalar", "ndim", "shape",
                 "size", "get_array_module", "is_available", "get_default_memory_pool",
                 "get_default_pinned_memory_pool", "ndarray", "ufunc"):
        names[name] = g[name]
    for name in ("sum", "all", "any", "round"):  # not module globals: they would shadow builtins
        fn = g["_cupy_" + name]
        fn.__name__ = fn.__qualname__ = name
        names[name] = fn
    names.update({"max": amax, "min": amin, "concat": concatenate, "permute_dims": transpose,
                  "round_": around})
    del names["get_default_pinned_memory_pool"]
    names.update({"cuda": cuda_mod, "linalg": linalg_mod, "__version__": STANDIN_VERSION,
                  "__file__": __file__})
    cupy_mod.__dict__.update(names)

    cuda_mod.__dict__.update({
        "runtime": runtime_mod, "Device": _cuda_Device, "Event": _cuda_Event,
        "Stream": _cuda_Stream, "MemoryPool": _cuda_MemoryPool,
        "get_elapsed_time": _get_elapsed_time, "get_current_stream": _get_current_stream,
        "get_device_id": lambda: 0, "is_available": is_available, "__file__": __file__})
    cuda_mod.get_device_id.__name__ = "get_device_id"
    runtime_mod.__dict__.update({
        "getDeviceCount": _rt_getDeviceCount, "getDevice": _rt_getDevice,
        "setDevice": _rt_setDevice, "getDeviceProperties": _rt_getDeviceProperties,
        "runtimeGetVersion": _rt_runtimeGetVersion, "driverGetVersion": _rt_driverGetVersion,
        "deviceSynchronize": _rt_deviceSynchronize, "CUDARuntimeError": CUDARuntimeError,
        "is_hip": False, "__file__": __file__})
    for k, v in list(runtime_mod.__dict__.items()):
        if k.startswith("_rt_") or (callable(v) and getattr(v, "__name__", "").startswith("_rt_")):
            v.__name__ = k
    linalg_mod.__dict__.update({"norm": _norm, "matmul": matmul, "__file__": __file__})
    _norm.__name__ = "norm"
    profiler_mod.__dict__.update({"benchmark": benchmark, "__file__": __file__})
    cupyx_mod.__dict__.update({"profiler": profiler_mod, "__file__": __file__})
    return {"cupy": cupy_mod, "cupy.cuda": cuda_mod, "cupy.cuda.runtime": runtime_mod,
            "cupy.linalg": linalg_mod, "cupyx": cupyx_mod, "cupyx.profiler": profiler_mod}


MODULES = _make_modules()
cupy = MODULES["cupy"]
cupyx = MODULES["cupyx"]


def _exposed_names():
    """{module name: public names it exposes} (for the check against the API list)."""
    out = {}
    for modname, mod in MODULES.items():
        out[modname] = sorted(k for k in mod.__dict__ if not k.startswith("_"))
    return out


def _check_against_api():
    """Every exposed name must be in cupy_api.json (raises RuntimeError if not)."""
    bad = []
    for modname, names in _exposed_names().items():
        sec = API if modname == "cupy" else API["submodules"][modname]
        known = set()
        for key in ("functions", "numpy_borrowed", "modules", "classes", "classes_in_namespace",
                    "objects"):
            known |= set(sec.get(key, ()))
        known |= {k.rsplit(".", 1)[1] for k in API["submodules"]
                  if "." in k and k.rsplit(".", 1)[0] == modname}
        bad += [f"{modname}.{n}" for n in names if n not in known]
    for name in dir(ndarray):
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        if name.startswith("__") and name in object.__dict__ and name not in _API_NDARRAY:
            continue  # inherited from object
        if name in ("__slots__", "__module__", "__dict__", "__weakref__", "__doc__",
                    "__getattr__", "__init__", "__hash__", "__qualname__"):
            continue
        if name not in _API_NDARRAY:
            bad.append(f"cupy.ndarray.{name}")
    if bad:
        raise RuntimeError("strict_cupy exposes names CuPy %s lacks (tools/cupy_api.json): %s"
                           % (CUPY_VERSION, ", ".join(bad)))


_check_against_api()


# ---------------------------------------------------------------------------
# install / uninstall

_saved_stack = []
_ABSENT = object()


def install():
    """Put the stand-in in sys.modules["cupy"] (and cupy.cuda, cupy.cuda.runtime,
    cupy.linalg, cupyx, cupyx.profiler); return the cupy module. Nests with uninstall()."""
    _saved_stack.append({name: sys.modules.get(name, _ABSENT) for name in MODULES})
    sys.modules.update(MODULES)
    return cupy


def uninstall():
    """Restore the sys.modules entries that install() replaced."""
    if not _saved_stack:
        return
    saved = _saved_stack.pop()
    for name, mod in saved.items():
        if mod is _ABSENT:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = mod


@contextlib.contextmanager
def installed():
    """with installed() as cupy: ...  (install() then uninstall())."""
    mod = install()
    try:
        yield mod
    finally:
        uninstall()
