"""A tiny reverse-mode autograd engine over NumPy or CuPy arrays.

Read this file top to bottom:
  1. the backend (which array module does the work),
  2. `Tensor` and `backward()` (the graph and how gradients flow through it),
  3. the ops, each with its backward written right under its forward,
  4. the fused neural-net ops (softmax, cross-entropy, layer norm, GELU),
  5. the optimizers `SGD` and `AdamW`, following PyTorch's documented rules,
  6. `check_grad`, which checks every backward above against finite differences.

Gradients are plain arrays: the backward pass builds no graph of its own, and
once `backward()` has run, the graph it walked is freed.
"""
import contextlib
import ctypes
import functools
import math
import os

import numpy

# ---------------------------------------------------------------------------
# 1. Backend: one module-level array module, reached as `autograd.xp`.
# Every op below looks `xp` up at call time, so `set_backend` switches all of
# them at once. Code outside this file must write `autograd.xp`, never
# `from autograd import xp` (that would copy the module that was current then).

xp = numpy            # the array module: numpy or cupy
dtype = numpy.float32  # the floating dtype of every Tensor


class BackendError(RuntimeError):
    """The requested array backend cannot be used on this machine."""


def set_backend(name="numpy", dtype="float32"):
    """Choose the array module ("numpy" or "cupy") and the float dtype."""
    global xp
    if dtype not in ("float32", "float64"):
        raise ValueError(f"unknown dtype {dtype!r}; choose 'float32' or 'float64'")
    if name == "numpy":
        module = numpy
        _keep_freed_memory()
    elif name == "cupy":
        module = _import_cupy()
    else:
        raise ValueError(f"unknown backend {name!r}; choose 'numpy' or 'cupy'")
    xp = module
    globals()["dtype"] = numpy.dtype(dtype).type


@functools.cache  # once per process
def _keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it.

    Every NumPy array is a malloc. By default glibc gives big freed blocks back
    to the operating system, so each training step gets its ~10 MB of
    activations as fresh pages and pays a page fault per 4 KB (measured: ~2,200
    faults, 4.5 ms of a 30 ms grokking step). Frameworks keep a memory pool for
    this reason (CuPy has one on the GPU); here we get one by asking malloc to
    serve blocks up to 32 MB (its maximum) from its heap and never to trim it.
    Elsewhere than glibc (macOS, musl) this does nothing.
    """
    try:
        os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36" on glibc, an error elsewhere
    except (AttributeError, ValueError, OSError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's <malloc.h>
    libc = ctypes.CDLL(None)
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    libc.mallopt(M_TRIM_THRESHOLD, 2 ** 30)


def _import_cupy():
    try:
        import cupy
    except ImportError:
        raise BackendError("backend 'cupy' needs CuPy: pip install -e '.[gpu]' "
                           "(or cupy-cuda11x / cupy-cuda13x to match your CUDA)") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CUDA driver missing or broken
        count = 0
    if count == 0:
        raise BackendError("backend 'cupy': CuPy is installed but no CUDA GPU is visible; "
                           "use --backend numpy")
    return cupy


def to_numpy(x):
    """A NumPy copy of a Tensor or array, whatever the backend (for metrics, saving)."""
    if isinstance(x, Tensor):
        x = x.data
    return x.get() if hasattr(x, "get") and not isinstance(x, numpy.ndarray) else numpy.array(x)


def from_numpy(x):
    """Copy a host array (or list) to the current backend; floats take the backend dtype."""
    x = numpy.asarray(x)
    if x.dtype.kind == "f":
        x = x.astype(dtype, copy=False)
    return xp.array(x)


# ---------------------------------------------------------------------------
# 2. Tensor and backward.
# A Tensor made by an op remembers its parents and a closure `_backward` that
# maps the gradient of the output to the gradients of the parents (a tuple,
# None where a parent needs none). Only ops with a parent that requires grad
# record anything, and nothing is recorded inside `no_grad()`.

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside this block ops record no graph (evaluation, optimizer steps)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def _released(grad):
    raise RuntimeError("backward() through a graph that was already freed; "
                       "recompute the forward pass to differentiate again")


class Tensor:
    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward")
    __array_ufunc__ = None    # numpy_array + tensor calls Tensor.__radd__
    __array_priority__ = 100

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, numpy.ndarray) and xp is not numpy:
            raise TypeError("Tensor(): got a NumPy array while the backend is cupy; "
                            "move it first with autograd.from_numpy(x)")
        data = xp.asarray(data)
        if data.dtype.kind == "f" and data.dtype != dtype:
            data = data.astype(dtype)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = ()
        self._backward = None

    # -- small conveniences ------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)

    def __repr__(self):
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, requires_grad={self.requires_grad})"

    def __len__(self):
        return len(self.data)

    def item(self):
        return self.data.item()

    def detach(self):
        """The same data, cut off from the graph."""
        return Tensor(self.data)

    def numpy(self):
        return to_numpy(self.data)

    # -- backward ------------------------------------------------------------
    def backward(self, grad=None):
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() on a non-scalar tensor of shape {self.shape} "
                                   "needs a seed gradient: call .backward(grad) or reduce it first")
            grad = xp.ones_like(self.data)
        grads = {id(self): xp.asarray(grad, dtype=self.data.dtype)}
        owned = set()  # keys whose gradient is a sum we allocated, safe to add into
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:  # a leaf: keep its gradient (a copy, unless it is our own sum)
                if node.grad is not None:
                    node.grad = node.grad + g
                else:
                    node.grad = g if id(node) in owned else g.copy()
                continue
            for parent, parent_grad in zip(node._parents, node._backward(g)):
                if parent_grad is None or not parent.requires_grad:
                    continue
                key = id(parent)  # a tensor used twice sums its gradients
                if key not in grads:
                    grads[key] = parent_grad   # may be shared with another node: never write into it
                elif key in owned:
                    grads[key] += parent_grad
                else:
                    grads[key] = grads[key] + parent_grad
                    owned.add(key)
            node._parents, node._backward = (), _released  # free the activations


def _topological_order(root):
    """Nodes that `root` depends on, each after all of its parents (iterative DFS)."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node._parents if p.requires_grad and id(p) not in visited)
    return order


def _result(data, parents, backward):
    """Wrap an op's output; record the graph only if some parent needs a gradient."""
    out = Tensor.__new__(Tensor)
    out.data, out.grad = data, None
    if _grad_enabled and any(p.requires_grad for p in parents):
        out.requires_grad, out._parents, out._backward = True, parents, backward
    else:
        out.requires_grad, out._parents, out._backward = False, (), None
    return out


def _lift(x):
    """Python numbers and arrays become constant Tensors so they mix with Tensors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float)):  # a number takes the Tensor dtype, never upcasts it
        return Tensor(xp.asarray(x, dtype=dtype))
    return Tensor(x)


def _sum_over(x, axes):
    """x.sum(axis=axes), faster when the axes are one run of a contiguous array.

    Folded to (before, run, after), the sum over the run is a product with a
    vector of ones: BLAS streams it on every core, 2-3x faster than
    ndarray.sum, which uses one (a bias gradient over 2,048 rows of 128: 0.012
    against 0.037 ms). It is a sum, not one of the model's products, so it
    bypasses _mm and experiments/bench.py leaves it out of the matmul bound.
    CuPy keeps its own sum (a GPU reduction already uses the whole card)."""
    runs = axes and axes == tuple(range(axes[0], axes[-1] + 1))
    if xp is not numpy or not runs or x.dtype.kind != "f" or not x.flags.c_contiguous or not x.size:
        return x.sum(axis=axes)
    before, after = x.shape[:axes[0]], x.shape[axes[-1] + 1:]
    B, A = math.prod(before), math.prod(after)
    if B > A > 1:  # many small products: numpy would loop over them one by one
        return x.sum(axis=axes)
    ones = xp.ones(x.size // (A * B), dtype=x.dtype)
    if A == 1:
        return (x.reshape(B, -1) @ ones).reshape(before)
    return (ones @ x.reshape(B, -1, A)).reshape(before + after)


def unbroadcast(grad, shape):
    """Adjoint of broadcasting: sum `grad` back down to `shape`."""
    if grad.shape == shape:
        return grad
    # EXERCISE unbroadcast: sum over the leading axes broadcasting added, and over the axes that were 1
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return _sum_over(grad, axes).reshape(shape)
    # END EXERCISE


# ---------------------------------------------------------------------------
# 3. Ops. Each forward computes `data`; the closure under it returns the
# gradient for each parent. Derived ops (a - b, a / b, mean) reuse primitives.

def add(a, b):
    a, b = _lift(a), _lift(b)

    def backward(g):
        return (unbroadcast(g, a.shape) if a.requires_grad else None,
                unbroadcast(g, b.shape) if b.requires_grad else None)
    return _result(a.data + b.data, (a, b), backward)


def mul(a, b):
    a, b = _lift(a), _lift(b)

    def backward(g):
        return (unbroadcast(g * b.data, a.shape) if a.requires_grad else None,
                unbroadcast(g * a.data, b.shape) if b.requires_grad else None)
    return _result(a.data * b.data, (a, b), backward)


def neg(a):
    return _result(-a.data, (a,), lambda g: (-g,))


def power(a, exponent):
    """a ** exponent for a Python number exponent."""
    if not isinstance(exponent, (int, float)):
        raise TypeError("only a Python number can be an exponent")

    def backward(g):
        return (g * exponent * a.data ** (exponent - 1),)
    return _result(a.data ** exponent, (a,), backward)


def sub(a, b):
    return add(a, neg(_lift(b)))


def div(a, b):
    return mul(a, power(_lift(b), -1))


def exp(a):
    out = xp.exp(a.data)
    return _result(out, (a,), lambda g: (g * out,))


def log(a):
    return _result(xp.log(a.data), (a,), lambda g: (g / a.data,))


def tanh(a):
    out = xp.tanh(a.data)
    return _result(out, (a,), lambda g: (g * (1 - out * out),))


def relu(a):
    positive = a.data > 0
    return _result(a.data * positive, (a,), lambda g: (g * positive,))


# -- reductions --------------------------------------------------------------

def _expand(g, shape, axis, keepdims):
    """Give a reduced gradient back its reduced axes, ready to broadcast."""
    if axis is None:
        return g.reshape((1,) * len(shape))
    if not keepdims:
        g = xp.expand_dims(g, axis)
    return g


def sum(a, axis=None, keepdims=False):  # noqa: A001 (shadows builtin on purpose: a.sum())
    def backward(g):
        return (xp.broadcast_to(_expand(g, a.shape, axis, keepdims), a.shape),)
    return _result(a.data.sum(axis=axis, keepdims=keepdims), (a,), backward)


def mean(a, axis=None, keepdims=False):
    total = sum(a, axis, keepdims)
    return mul(total, total.data.size / a.data.size)


def max(a, axis=None, keepdims=False):  # noqa: A001
    out = a.data.max(axis=axis, keepdims=keepdims)

    def backward(g):
        # Ties share the gradient equally (the subgradient PyTorch's amax uses).
        winners = a.data == _expand(out, a.shape, axis, keepdims)
        share = winners / winners.sum(axis=axis, keepdims=True)
        return (_expand(g, a.shape, axis, keepdims) * share,)
    return _result(out, (a,), backward)


# -- shape ops -------------------------------------------------------------------

def reshape(a, *shape):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return _result(a.data.reshape(shape), (a,), lambda g: (g.reshape(a.shape),))


def transpose(a, *axes):
    """Permute axes (all reversed when none are given), like numpy.transpose."""
    axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    axes = tuple(axes) if axes else tuple(reversed(range(a.ndim)))
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))  # undoes the permutation
    return _result(a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),))


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice, type(None))) or p is Ellipsis for p in parts)


def getitem(a, index):
    """Basic slicing only (ints, slices, None, ...): the result is a view."""
    if not _is_basic_index(index):
        raise TypeError("Tensor indexing supports basic slicing only (ints, slices, None, ...); "
                        "for a lookup table use one_hot(ids, V) @ W")

    def backward(g):
        full = xp.zeros_like(a.data)
        full[index] = g
        return (full,)
    return _result(a.data[index], (a,), backward)


def where(condition, a, b):
    """Elementwise `a` where `condition` is true, else `b` (condition is a constant)."""
    a, b = _lift(a), _lift(b)
    condition = condition.data if isinstance(condition, Tensor) else condition

    def backward(g):
        zero = xp.zeros((), dtype=g.dtype)
        return (unbroadcast(xp.where(condition, g, zero), a.shape) if a.requires_grad else None,
                unbroadcast(xp.where(condition, zero, g), b.shape) if b.requires_grad else None)
    return _result(xp.where(condition, a.data, b.data), (a, b), backward)


def masked_fill(a, mask, value):
    """`a` with `value` wherever `mask` is true (e.g. -inf above a causal diagonal)."""
    return where(mask, value, a)


# -- matmul ----------------------------------------------------------------------
# Every matrix product goes through _mm, so experiments/bench.py can record the
# shapes of one training step's products and time them alone (the bound no
# engine can beat on this machine).

matmul_log = None  # a list to record (shape, shape) pairs into, or None


def _mm(x, y, like=None):
    """x @ y. Given `like`, an array of the same shape as the product, the product
    takes like's memory layout: a gradient laid out as the value it belongs to
    (e.g. a head-split view) keeps the reshapes after it views instead of copies.
    NumPy only: on CuPy a copy costs little and the plain product is the tested path."""
    if matmul_log is not None:
        matmul_log.append((x.shape, y.shape))
    if like is None or xp is not numpy or like.flags.c_contiguous or x.shape[:-2] != y.shape[:-2] \
            or like.shape != x.shape[:-1] + y.shape[-1:]:
        return x @ y
    return xp.matmul(x, y, out=xp.empty_like(like))


def matmul(a, b):
    """a @ b over the last two axes, broadcasting any leading (batch) axes."""
    a, b = _lift(a), _lift(b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul needs at least 2-D operands, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul shape mismatch: {a.shape} @ {b.shape} "
                         f"(inner sizes {a.shape[-1]} and {b.shape[-2]} differ)")
    try:
        out = _mm(a.data, b.data)
    except ValueError:
        raise ValueError(f"matmul batch axes do not broadcast: {a.shape} @ {b.shape}") from None

    def backward(g):
        # EXERCISE matmul-backward: dL/dA = G Bᵀ, dL/dB = Aᵀ G, then unbroadcast each to its input's shape
        grad_a = unbroadcast(_mm(g, b.data.swapaxes(-1, -2), like=a.data), a.shape) if a.requires_grad else None
        grad_b = None
        if b.requires_grad:
            if b.ndim == 2:  # a shared weight: fold every batch row into one product
                grad_b = _mm(a.data.reshape(-1, a.shape[-1]).T, g.reshape(-1, g.shape[-1]))
            else:
                grad_b = unbroadcast(_mm(a.data.swapaxes(-1, -2), g, like=b.data), b.shape)
        return grad_a, grad_b
        # END EXERCISE
    return _result(out, (a, b), backward)


def linear(x, weight, bias=None):
    """x @ weight + bias for an ensemble: x (E, ..., I), weight (E, I, O), bias (E, 1, O).

    The middle axes of x fold into one, so each member is one big matrix product
    and the weight gradient needs no sum over a broadcast batch axis.
    """
    E, I, O = x.shape[0], x.shape[-1], weight.shape[-1]
    if weight.shape[:2] != (E, I):
        raise ValueError(f"linear: x {x.shape} does not fit weight {weight.shape} (expected ({E}, {I}, O))")
    rows = x.data.reshape(E, -1, I)                     # (E, N, I)
    out = _mm(rows, weight.data)                        # (E, N, O)
    if bias is not None:
        out += bias.data
    parents = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g = g.reshape(E, -1, O)                         # (E, N, O)
        grads = (_mm(g, weight.data.swapaxes(1, 2)).reshape(x.shape) if x.requires_grad else None,
                 _mm(rows.swapaxes(1, 2), g) if weight.requires_grad else None)
        return grads if bias is None else grads + (unbroadcast(g, bias.shape),)
    return _result(out.reshape(x.shape[:-1] + (O,)), parents, backward)


# ---------------------------------------------------------------------------
# 4. Fused neural-net ops: one node each, with the backward worked out by hand
# (cheaper and more stable than composing the primitives above).

def _sum_along(x, axis=-1, times=None):
    """Σ of x (or of x·times) over one axis, kept as a size-1 axis.

    Over the last axis on NumPy this is einsum: it runs ~4x faster than
    ndarray.sum over many short rows (2,048 rows of 128: 0.016 vs 0.06 ms)
    and never builds the product x·times in memory. CuPy keeps its own sum."""
    if xp is numpy and axis in (-1, x.ndim - 1):
        total = xp.einsum("...i->...", x) if times is None else xp.einsum("...i,...i->...", x, times)
        return total[..., None]
    return (x if times is None else x * times).sum(axis=axis, keepdims=True)


def _max_along(x, axis=-1):
    """max of x over one axis, kept as a size-1 axis.

    NumPy reduces a short last axis one row at a time: the attention scores'
    8,192 rows of 4 take 0.25 ms. Moved to the front and made contiguous, the
    same max is 3 elementwise maxima of whole slices: 0.015 ms (4,096 rows of
    21 logits: 0.14 -> 0.035 ms). When the rows are fewer than their length,
    and on CuPy, the plain reduction is the one to use."""
    n = x.shape[axis]
    if xp is not numpy or n * n > x.size:
        return x.max(axis=axis, keepdims=True)
    front = xp.ascontiguousarray(xp.moveaxis(x, axis, 0))
    return xp.expand_dims(front.max(axis=0), axis)


def softmax(a, axis=-1):
    out = xp.exp(a.data - _max_along(a.data, axis))  # max-subtracted: no overflow
    out /= _sum_along(out, axis)

    def backward(g):
        # EXERCISE softmax-backward: with y = softmax(x), dL/dx = y * (g - sum(g * y)) along the axis
        return (out * (g - _sum_along(g, axis, times=out)),)
        # END EXERCISE
    return _result(out, (a,), backward)


def _log_softmax(x, axis=-1):
    """x - logsumexp(x) along an axis, max-subtracted so nothing overflows (an array)."""
    out = x - _max_along(x, axis)
    out -= xp.log(_sum_along(xp.exp(out), axis))
    return out


def log_softmax(a, axis=-1):
    out = _log_softmax(a.data, axis)

    def backward(g):
        # y = x - logsumexp(x): dL/dx = g - softmax(x) * sum(g)
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)
    return _result(out, (a,), backward)


def cross_entropy(logits, targets, per_member=False):
    """Mean of -log softmax(logits)[target] over the targets that are >= 0.

    logits: (..., V); targets: integer array of shape (...), entries < 0 ignored.
    per_member=True keeps the leading (ensemble) axis: the result has shape (E,),
    each member's own mean. Training sums those E losses before backward, so
    every member receives exactly the gradient of its own mean loss (a mean over
    members would scale each member's gradient by 1/E).
    """
    targets = targets.data if isinstance(targets, Tensor) else targets
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: targets of shape {targets.shape} do not match "
                         f"logits of shape {logits.shape} (expected {logits.shape[:-1]})")
    valid = targets >= 0
    reduce_axes = tuple(range(1, targets.ndim)) if per_member else None
    count = valid.sum(axis=reduce_axes).astype(logits.dtype)
    if int(count.min()) == 0:
        raise ValueError("cross_entropy: every target is ignored (< 0); nothing to average")
    log_probs = _log_softmax(logits.data)                          # (..., V)
    target_hot = xp.arange(logits.shape[-1]) == targets[..., None]  # (..., V); all False if ignored
    picked = _sum_along(log_probs, times=target_hot)[..., 0]        # (...)
    out = -picked.sum(axis=reduce_axes) / count

    def backward(g):
        # EXERCISE cross-entropy-backward: dL/dlogits = (softmax - onehot(target)) * g / count, 0 where ignored
        scale = (g / count).reshape(g.shape + (1,) * (targets.ndim - g.ndim + 1))
        return ((xp.exp(log_probs) * valid[..., None] - target_hot) * scale,)
        # END EXERCISE
    return _result(out.astype(logits.dtype), (logits,), backward)


def layer_norm(x, weight, bias, eps=1e-5):
    """Normalise the last axis to mean 0, variance 1, then scale and shift."""
    D = x.shape[-1]
    x_hat = x.data - _sum_along(x.data) / D                     # centred
    rstd = 1.0 / xp.sqrt(_sum_along(x_hat, times=x_hat) / D + eps)
    x_hat *= rstd                                               # x̂ = (x - μ)/σ
    out = x_hat * weight.data
    out += bias.data

    def backward(g):
        # EXERCISE layer-norm-backward: with x̂ = (x - μ)/σ and ĝ = g·w, dL/dx = (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ
        g_hat = g * weight.data
        grad_x = x_hat * (_sum_along(g_hat, times=x_hat) / D)
        grad_x -= g_hat
        grad_x += _sum_along(g_hat) / D
        grad_x *= -rstd                                         # (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ
        return (grad_x,
                unbroadcast(g * x_hat, weight.shape) if weight.requires_grad else None,
                unbroadcast(g, bias.shape) if bias.requires_grad else None)
        # END EXERCISE
    return _result(out, (x, weight, bias), backward)


GELU_C = math.sqrt(2.0 / math.pi)


def gelu(a):
    """GELU, tanh approximation (GPT-2; PyTorch's gelu(approximate="tanh")):
    x·(1 + t)/2 with t = tanh(u), u = c·(x + 0.044715·x³), c = √(2/π).

    Both directions work in place in one or two buffers: on the (E, B, T, 4D)
    activations that is 3x faster than a fresh temporary for every term."""
    x = a.data
    t = x * x
    t *= GELU_C * 0.044715
    t += GELU_C
    t *= x                                  # u = c·(x + 0.044715·x³)
    xp.tanh(t, out=t)                       # t = tanh(u), kept for backward
    out = t * 0.5
    out += 0.5
    out *= x                                # x·(1 + t)/2

    def backward(g):
        # EXERCISE gelu-backward: differentiate x(1+t)/2 with t = tanh(c(x + 0.044715x³)); t is saved
        # d/dx [x(1+t)/2] = (1 + t + x·(1 - t²)·du/dx) / 2, with du/dx = c(1 + 3·0.044715 x²)
        sech2 = t * t
        xp.subtract(1, sech2, out=sech2)    # 1 - t² = tanh'(u)
        grad = x * x
        grad *= 3 * 0.044715 * GELU_C
        grad += GELU_C                      # du/dx
        grad *= sech2
        grad *= x
        grad += t
        grad += 1
        grad *= g
        grad *= 0.5
        return (grad,)
        # END EXERCISE
    return _result(out, (a,), backward)


def one_hot(ids, num_classes):
    """Constant (..., V) one-hot rows; `one_hot(ids, V) @ W` is an embedding lookup."""
    ids = ids.data if isinstance(ids, Tensor) else xp.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs integer ids, got dtype {ids.dtype}")
    if bool(((ids < 0) | (ids >= num_classes)).any()):
        raise ValueError(f"one_hot: ids must lie in [0, {num_classes}), got {int(ids.min())}..{int(ids.max())}")
    return Tensor(xp.eye(num_classes, dtype=dtype)[ids])  # row i of the identity is one_hot(i)


# -- operators and methods on Tensor ------------------------------------------------

Tensor.__add__ = add
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = sub
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = mul
Tensor.__rmul__ = lambda self, other: mul(other, self)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = lambda self, other: div(other, self)
Tensor.__neg__ = neg
Tensor.__pow__ = power
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__getitem__ = getitem
Tensor.sum = sum
Tensor.mean = mean
Tensor.max = max
Tensor.reshape = reshape
Tensor.transpose = transpose
Tensor.exp = exp
Tensor.log = log
Tensor.tanh = tanh
Tensor.relu = relu
Tensor.T = property(lambda self: transpose(self))


# ---------------------------------------------------------------------------
# 5. Optimizers, as PyTorch documents them (torch.optim.SGD, torch.optim.AdamW).
# A hyperparameter may be a number or a 1-D array of length E: the array is
# applied per ensemble member (the leading axis of every parameter), so E
# models in lockstep can use E learning rates or weight decays.

class Optimizer:
    hyper_names = ()

    def __init__(self, params, **hyper):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.hyper = {name: self._check_hyper(name, value) for name, value in hyper.items()}
        self.steps = [0] * len(self.params)
        self.state = [{} for _ in self.params]

    def _check_hyper(self, name, value):
        if isinstance(value, (int, float)):
            return float(value)
        value = from_numpy(to_numpy(value))
        if value.ndim != 1:
            raise ValueError(f"hyperparameter {name} must be a number or a 1-D array (one per member)")
        for i, p in enumerate(self.params):
            if p.ndim == 0 or p.shape[0] != value.shape[0]:
                raise ValueError(f"hyperparameter {name} has {value.shape[0]} values (one per member) "
                                 f"but parameter {i} has shape {p.shape}: the leading axis must match")
        return value

    def _for(self, name, p):
        """The hyperparameter `name`, shaped to broadcast against parameter p."""
        value = self.hyper[name]
        if isinstance(value, float):
            return value
        return value.reshape(value.shape + (1,) * (p.ndim - 1))

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with no_grad():
            shaped = {}  # the hyperparameters shaped for each parameter rank, once per step
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                if p.ndim not in shaped:
                    shaped[p.ndim] = {name: self._for(name, p) for name in self.hyper}
                self.steps[i] += 1
                self._update(p, shaped[p.ndim], self.state[i], self.steps[i])

    def state_dict(self):
        """Flat dict of NumPy arrays (saves with numpy.savez, allow_pickle=False)."""
        out = {"steps": numpy.array(self.steps, dtype=numpy.int64)}
        out.update({f"hyper.{k}": numpy.asarray(to_numpy(v)) for k, v in self.hyper.items()})
        for i, state in enumerate(self.state):
            out.update({f"state.{i}.{k}": to_numpy(v) for k, v in state.items()})
        return out

    def load_state_dict(self, saved):
        self.steps = [int(s) for s in saved["steps"]]
        for name in self.hyper:
            value = saved[f"hyper.{name}"]
            self.hyper[name] = float(value) if numpy.ndim(value) == 0 else from_numpy(value)
        self.state = [{} for _ in self.params]
        for key, value in saved.items():
            if key.startswith("state."):
                _, i, name = key.split(".", 2)
                self.state[int(i)][name] = from_numpy(value)


class SGD(Optimizer):
    """g ← ∇ + wd·p (coupled L2); b ← μ·b + (1-τ)·g (b = g on the first step);
    g ← g + μ·b if nesterov else b; p ← p - lr·g."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        if nesterov and (not isinstance(momentum, (int, float)) or momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs a positive scalar momentum and zero dampening")
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         dampening=dampening)
        self.nesterov = nesterov

    def _update(self, p, h, state, step):
        # EXERCISE sgd-update: add wd·p to the gradient, keep a momentum buffer (= g on the first step), p -= lr·g
        g = p.grad
        if not _is_zero(h["weight_decay"]):
            g = g + h["weight_decay"] * p.data
        if not _is_zero(h["momentum"]):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= h["momentum"]
                buf += (1 - h["dampening"]) * g
            buf = state["momentum_buffer"]
            g = g + h["momentum"] * buf if self.nesterov else buf
        p.data -= h["lr"] * g
        # END EXERCISE


class AdamW(Optimizer):
    """p ← p·(1 - lr·wd) (decoupled decay); m ← β₁m + (1-β₁)g; v ← β₂v + (1-β₂)g²;
    p ← p - lr·m̂/(√v̂ + ε) with m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                         weight_decay=weight_decay)

    def _update(self, p, h, state, step):
        # EXERCISE adamw-update: decay p by lr·wd first, then the bias-corrected Adam step (see the docstring)
        g = p.grad
        if "exp_avg" not in state:
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        p.data *= 1 - h["lr"] * h["weight_decay"]
        # Every term is built in place in one scratch buffer, as PyTorch does: a
        # fresh temporary per term made the optimizer a fifth slower.
        scratch = g - m
        scratch *= 1 - h["beta1"]
        m += scratch                                # m + (1-β₁)(g - m) = β₁m + (1-β₁)g
        xp.multiply(g, g, out=scratch)
        scratch *= 1 - h["beta2"]
        v *= h["beta2"]
        v += scratch                                # β₂v + (1-β₂)g²
        bias_correction1 = 1 - h["beta1"] ** step
        bias_correction2 = 1 - h["beta2"] ** step
        update = xp.sqrt(v, out=scratch)            # p -= lr/bc1 · m / (√v/√bc2 + ε)
        update /= bias_correction2 ** 0.5           # a Python float: np.sqrt's float64 scalar made this pass float64
        update += h["eps"]
        xp.divide(m, update, out=update)
        update *= h["lr"] / bias_correction1
        p.data -= update
        # END EXERCISE


def _is_zero(value):
    return isinstance(value, float) and value == 0.0


# ---------------------------------------------------------------------------
# 6. Gradient check: central differences in float64 against a random
# projection of the output. (A plain .sum() hides bugs: softmax rows always
# sum to 1, so its gradient through .sum() is zero whatever backward says.)

def check_grad(f, *inputs, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Raise AssertionError if backward of f(*inputs) disagrees with finite differences.

    Floating inputs are differentiated; integer inputs (targets, ids) pass through.
    Runs in float64 on the current backend whatever the backend dtype is.
    """
    global dtype
    saved_dtype, dtype = dtype, numpy.float64
    try:
        rng = numpy.random.default_rng(seed)
        tensors = [Tensor(from_numpy(to_numpy(x)), requires_grad=to_numpy(x).dtype.kind == "f")
                   for x in inputs]
        out = f(*tensors)
        projection = from_numpy(rng.standard_normal(out.shape))
        sum(out * projection).backward()
        for k, t in enumerate(tensors):
            if t.requires_grad:
                _compare(f, tensors, k, projection, eps, rtol, atol)
        return True
    finally:
        dtype = saved_dtype


def _compare(f, tensors, k, projection, eps, rtol, atol):
    t = tensors[k]
    analytic = to_numpy(t.grad) if t.grad is not None else numpy.zeros(t.shape)
    numeric = numpy.zeros(t.shape)
    flat = t.data.reshape(-1)  # a view: perturb in place
    with no_grad():
        for i in range(flat.size):
            original = flat[i].item()
            flat[i] = original + eps
            up = float((f(*tensors).data * projection).sum())
            flat[i] = original - eps
            down = float((f(*tensors).data * projection).sum())
            flat[i] = original
            numeric.reshape(-1)[i] = (up - down) / (2 * eps)
    error = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
    if (error > 0).any():
        worst = numpy.unravel_index(numpy.argmax(error), error.shape)
        raise AssertionError(f"gradient of input {k} wrong at {worst}: backward gave "
                             f"{analytic[worst]:.8g}, finite differences {numeric[worst]:.8g}")
