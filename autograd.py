"""A tiny reverse-mode autograd engine over NumPy or CuPy arrays.

Read this file top to bottom:
  1. the backend (which array module does the work),
  2. `Tensor` and `backward()` (the graph and how gradients flow through it),
  3. the ops, each with its backward written right under its forward,
  4. the fused neural-net ops (softmax, cross-entropy, layer norm, GELU),
  5. the optimizers `SGD` and `AdamW`, following PyTorch's documented rules,
  6. `check_grad`, which checks every backward above against finite differences,
  7. speed: the few helpers that make NumPy faster, each with its plain meaning.

Sections 1-6 are written the way the maths reads. Where they need a sum or a
max along an axis they call a helper of section 7 by name (`sum_along`,
`max_along`, `sum_over`); each helper's docstring gives the plain expression it
computes, and the tests check that they agree.

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
        keep_freed_memory()
    elif name == "cupy":
        module = _import_cupy()
    else:
        raise ValueError(f"unknown backend {name!r}; choose 'numpy' or 'cupy'")
    xp = module
    globals()["dtype"] = numpy.dtype(dtype).type


def _import_cupy():
    """CuPy, once it has shown that it can launch a kernel, multiply and copy back."""
    try:
        import cupy
    except ImportError:
        raise BackendError("backend 'cupy' needs CuPy: if `python -c \"import cupy\"` fails, install the "
                           "wheel for your CUDA (pip install -e '.[gpu-cuda12]' or '.[gpu-cuda13]')") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CUDA driver missing or broken
        count = 0
    if count == 0:
        raise BackendError("backend 'cupy': CuPy is installed but no CUDA GPU is visible; "
                           "use --backend numpy")
    try:  # a broken CUDA install (no NVRTC, no cuBLAS) fails here, not deep inside a training run
        x = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
        product = ((x * 2 + 1) @ x.T).get()  # [[1,3,5],[7,9,11]] @ [[0,3],[1,4],[2,5]]
        if product[0, 0] != 13 or product[1, 1] != 112:
            raise RuntimeError(f"a 2x3 test product came out wrong: {product.tolist()}")
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise BackendError(f"backend 'cupy': CuPy sees a GPU but cannot run on it "
                           f"({type(error).__name__}: {reason}); check the CUDA install or use "
                           "--backend numpy") from None
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
    """An array (`.data`, on the current backend) plus what reverse mode needs.

    A leaf made by the user (`Tensor(x, requires_grad=True)`) collects its
    gradient in `.grad`, a plain array of the same shape, when `backward()` runs.
    A tensor made by an op also keeps `_parents` (the tensors it was computed
    from) and `_backward` (a closure: output gradient -> parent gradients).
    Floating data always takes the backend dtype (`autograd.dtype`).
    """
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


def unbroadcast(grad, shape):
    """Adjoint of broadcasting: sum `grad` back down to `shape`."""
    if grad.shape == shape:
        return grad
    # EXERCISE unbroadcast: sum over the leading axes broadcasting added, and over the axes that were 1
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes).reshape(shape)
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
    return _result(xp.maximum(a.data, 0), (a,), lambda g: (g * (a.data > 0),))


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
        return (_expand(g, a.shape, axis, keepdims) * share.astype(g.dtype),)
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
    """Elementwise `a` where `condition` is true, else `b` (condition is a constant,
    a Tensor or an array on the host or the backend)."""
    a, b = _lift(a), _lift(b)
    condition = condition.data if isinstance(condition, Tensor) else condition
    if isinstance(condition, numpy.ndarray) and xp is not numpy:
        condition = xp.asarray(condition)  # a host mask goes to the GPU once, here

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


def _mm(x, y):
    if matmul_log is not None:
        matmul_log.append((x.shape, y.shape))
    return x @ y


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
        grad_a = unbroadcast(_mm(g, b.data.swapaxes(-1, -2)), a.shape) if a.requires_grad else None
        grad_b = unbroadcast(_mm(a.data.swapaxes(-1, -2), g), b.shape) if b.requires_grad else None
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
        if bias is None:
            return grads
        return grads + (sum_over(g, (1,)).reshape(bias.shape) if bias.requires_grad else None,)
    return _result(out.reshape(x.shape[:-1] + (O,)), parents, backward)


# ---------------------------------------------------------------------------
# 4. Fused neural-net ops: one node each, with the backward worked out by hand
# (cheaper and more stable than composing the primitives above).

def softmax(a, axis=-1):
    e = xp.exp(a.data - max_along(a.data, axis))    # max-subtracted: no overflow
    out = e / sum_along(e, axis)

    def backward(g):
        # EXERCISE softmax-backward: with y = softmax(x), dL/dx = y * (g - sum(g * y)) along the axis
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)
        # END EXERCISE
    return _result(out, (a,), backward)


def _log_softmax(x, axis=-1):
    """x - logsumexp(x) along an axis, max-subtracted so nothing overflows (an array)."""
    shifted = x - max_along(x, axis)
    return shifted - xp.log(sum_along(xp.exp(shifted), axis))


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
    members would scale each member's gradient by 1/E). On NumPy a batch whose
    every target is ignored is an error; on a GPU that check would stall every
    step, so the mean comes out NaN there and training's NaN check reports it.
    """
    targets = targets.data if isinstance(targets, Tensor) else targets
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: targets of shape {targets.shape} do not match "
                         f"logits of shape {logits.shape} (expected {logits.shape[:-1]})")
    valid = targets >= 0
    reduce_axes = tuple(range(1, targets.ndim)) if per_member else None
    count = valid.sum(axis=reduce_axes).astype(logits.dtype)
    if xp is numpy and (count == 0).any():
        raise ValueError("cross_entropy: every target is ignored (< 0); nothing to average")
    log_probs = _log_softmax(logits.data)                          # (..., V)
    target_hot = xp.arange(logits.shape[-1]) == targets[..., None]  # (..., V); all False if ignored
    picked = sum_along(log_probs, times=target_hot)[..., 0]         # (...) log p[target]
    out = -picked.sum(axis=reduce_axes) / count

    def backward(g):
        # EXERCISE cross-entropy-backward: dL/dlogits = (softmax - onehot(target)) * g / count, 0 where ignored
        scale = (g / count).reshape(g.shape + (1,) * (targets.ndim - g.ndim + 1))
        return ((xp.exp(log_probs) * valid[..., None] - target_hot) * scale,)
        # END EXERCISE
    return _result(out.astype(logits.dtype), (logits,), backward)


def layer_norm(x, weight, bias, eps=1e-5):
    """Normalise the last axis to mean 0 and variance 1, then scale and shift:
    out = x̂·w + b with x̂ = (x - μ)/σ, σ = √(var + eps)."""
    x_hat, rstd = normalize(x.data, eps)                        # x̂ and 1/σ, per row
    out = x_hat * weight.data + bias.data

    def backward(g):
        grad_x = None
        if x.requires_grad:
            # EXERCISE layer-norm-backward: with x̂ = (x - μ)/σ and ĝ = g·w, dL/dx = (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ
            g_hat = g * weight.data
            grad_x = (g_hat - mean_along(g_hat) - x_hat * mean_along(g_hat, times=x_hat)) * rstd
            # END EXERCISE
        return (grad_x,
                unbroadcast(g * x_hat, weight.shape) if weight.requires_grad else None,
                unbroadcast(g, bias.shape) if bias.requires_grad else None)
    return _result(out, (x, weight, bias), backward)


GELU_C = math.sqrt(2.0 / math.pi)


def gelu(a):
    """GELU, tanh approximation (GPT-2; PyTorch's gelu(approximate="tanh")):
    x·(1 + t)/2 with t = tanh(u), u = c·(x + 0.044715·x³), c = √(2/π)."""
    x = a.data
    out, t = gelu_forward(x)

    def backward(g):
        # EXERCISE gelu-backward: differentiate x(1+t)/2 with t = tanh(c(x + 0.044715x³)); t is saved
        du = GELU_C * (1 + 3 * 0.044715 * x * x)                # du/dx
        return (g * 0.5 * (1 + t + x * (1 - t * t) * du),)     # d/dx [x(1+t)/2], tanh' = 1 - t²
        # END EXERCISE
    return _result(out, (a,), backward)


def one_hot(ids, num_classes):
    """Constant (..., V) one-hot rows; `one_hot(ids, V) @ W` is an embedding lookup.
    On NumPy the ids are checked; on a GPU that check would stall the step, so
    the callers check the ids where they make them, on the host."""
    ids = ids.data if isinstance(ids, Tensor) else xp.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs integer ids, got dtype {ids.dtype}")
    if xp is numpy and ids.size and (ids.min() < 0 or ids.max() >= num_classes):
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
#
# All parameters live in one flat buffer: each parameter's `.data` becomes a
# view of its stretch of it, and the update is one formula over whole arrays
# (on a GPU a dozen kernels for the whole model, not a dozen per parameter).
#
# A hyperparameter may be a number or a 1-D array of length E: the array is
# applied per ensemble member (the leading axis of every parameter), so E
# models in lockstep can use E learning rates or weight decays. Grokfast
# (Lee et al. 2024), if asked for, filters the gradient before the update.

class StateDictError(ValueError):
    """A saved optimizer state that does not fit this optimizer (another model's, or damaged)."""


class Optimizer:
    hyper_names = ()
    state_names = ()

    def __init__(self, params, grokfast_alpha=0.98, grokfast_lambda=None, **hyper):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        sizes = [p.data.size for p in self.params]
        self.offsets = [0]
        for n in sizes:
            self.offsets.append(self.offsets[-1] + n)
        self.flat = xp.concatenate([p.data.reshape(-1) for p in self.params])   # (N,) every parameter
        self.views = [self.flat[a:b].reshape(p.shape) for p, a, b in self._stretches()]
        for p, view in zip(self.params, self.views):
            p.data = view
        self.grad = xp.zeros_like(self.flat)                                      # (N,) their gradients
        if grokfast_lambda is not None:
            hyper.update(grokfast_alpha=grokfast_alpha, grokfast_lambda=grokfast_lambda)
        self.values = {name: self._check_hyper(name, value) for name, value in hyper.items()}
        self.hyper = {name: self._per_element(value) for name, value in self.values.items()}
        self.steps = [0] * len(self.params)
        names = self.state_names + (("grokfast_ema",) if grokfast_lambda is not None else ())
        self.state = {name: xp.zeros_like(self.flat) for name in names}

    def _stretches(self):
        return [(p, self.offsets[i], self.offsets[i + 1]) for i, p in enumerate(self.params)]

    def _check_hyper(self, name, value):
        if isinstance(value, (int, float)):
            return float(value)
        value = numpy.asarray(to_numpy(value), dtype=float)
        if value.ndim != 1:
            raise ValueError(f"hyperparameter {name} must be a number or a 1-D array (one per member)")
        for i, p in enumerate(self.params):
            if p.ndim == 0 or p.shape[0] != value.shape[0]:
                raise ValueError(f"hyperparameter {name} has {value.shape[0]} values (one per member) "
                                 f"but parameter {i} has shape {p.shape}: the leading axis must match")
        return value

    def _per_element(self, value):
        """A number stays a number; per-member values become one value per element of the buffer."""
        if isinstance(value, float):
            return value
        return from_numpy(numpy.concatenate([numpy.repeat(value, p.data.size // len(value))
                                             for p in self.params]))

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with no_grad():
            self._adopt_replaced_data()
            ready = [i for i, p in enumerate(self.params) if p.grad is not None]
            if len(ready) == len(self.params):
                xp.concatenate([p.grad.reshape(-1) for p in self.params], out=self.grad)
            for i in ready:
                self.steps[i] += 1
                if len(ready) < len(self.params):
                    self.grad[self.offsets[i]:self.offsets[i + 1]] = self.params[i].grad.reshape(-1)
            for part, step in update_parts(self, ready):
                h = {name: v if isinstance(v, float) else v[part] for name, v in self.hyper.items()}
                state = {name: s[part] for name, s in self.state.items()}
                g = self.grad[part]
                if "grokfast_ema" in state:
                    g = self._grokfast(g, state["grokfast_ema"], h, step)
                self._update(self.flat[part], g, state, h, step)

    def _grokfast(self, g, ema, h, step):
        """Grokfast-EMA: ema ← α·ema + (1-α)·g (ema = g on the first step); g ← g + λ·ema."""
        if step == 1:
            ema[...] = g
        else:
            ema *= h["grokfast_alpha"]
            ema += (1 - h["grokfast_alpha"]) * g
        return g + h["grokfast_lambda"] * ema

    def _adopt_replaced_data(self):
        """A parameter whose .data was replaced (a checkpoint loaded) goes back into the buffer."""
        for i, p in enumerate(self.params):
            if p.data is not self.views[i]:
                self.views[i][...] = p.data
                p.data = self.views[i]

    def state_dict(self):
        """Flat dict of NumPy arrays (saves with numpy.savez, allow_pickle=False)."""
        out = {"steps": numpy.array(self.steps, dtype=numpy.int64)}
        out.update({f"hyper.{k}": numpy.asarray(v) for k, v in self.values.items()})
        out.update({f"state.{k}": to_numpy(v) for k, v in self.state.items()})
        return out

    def load_state_dict(self, saved):
        expected = {"steps"} | {f"hyper.{k}" for k in self.values} | {f"state.{k}" for k in self.state}
        if set(saved) != expected:
            raise StateDictError(f"optimizer state has entries {sorted(saved)}, expected {sorted(expected)}")
        if numpy.ndim(saved["steps"]) != 1 or len(saved["steps"]) != len(self.params):
            raise StateDictError(f"optimizer state is for {numpy.size(saved['steps'])} parameters, "
                                 f"not {len(self.params)}")
        for name in self.state:
            if numpy.shape(saved[f"state.{name}"]) != self.flat.shape:
                raise StateDictError(f"optimizer state {name} holds {numpy.size(saved[f'state.{name}'])} values, "
                                 f"this model has {self.flat.size}")
        self.steps = [int(s) for s in saved["steps"]]
        for name in self.values:
            value = saved[f"hyper.{name}"]
            self.values[name] = float(value) if numpy.ndim(value) == 0 else self._check_hyper(name, value)
            self.hyper[name] = self._per_element(self.values[name])
        for name in self.state:
            self.state[name] = from_numpy(saved[f"state.{name}"])


class SGD(Optimizer):
    """g ← ∇ + wd·p (coupled L2); b ← μ·b + (1-τ)·g (b = g on the first step);
    g ← g + μ·b if nesterov else b; p ← p - lr·g."""
    state_names = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False, **options):
        if nesterov and (not isinstance(momentum, (int, float)) or momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs a positive scalar momentum and zero dampening")
        if dampening != 0 and not isinstance(momentum, (int, float)):
            raise ValueError("per-member momentum needs zero dampening (a member with momentum 0 then "
                             "gets plain SGD, as PyTorch gives it)")
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         dampening=dampening, **options)
        self.nesterov = nesterov

    def _update(self, p, g, state, h, step):
        # EXERCISE sgd-update: add wd·p to the gradient, keep a momentum buffer (= g on the first step), p -= lr·g
        if not _is_zero(h["weight_decay"]):
            g = g + h["weight_decay"] * p
        if not _is_zero(h["momentum"]):
            buf = state["momentum_buffer"]
            if step == 1:
                buf[...] = g
            else:
                buf *= h["momentum"]
                buf += (1 - h["dampening"]) * g
            g = g + h["momentum"] * buf if self.nesterov else buf
        p -= h["lr"] * g
        # END EXERCISE


class AdamW(Optimizer):
    """p ← p·(1 - lr·wd) (decoupled decay); m ← β₁m + (1-β₁)g; v ← β₂v + (1-β₂)g²;
    p ← p - lr·m̂/(√v̂ + ε) with m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ)."""
    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **options):
        super().__init__(params, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                         weight_decay=weight_decay, **options)

    def _update(self, p, g, state, h, step):
        # EXERCISE adamw-update: decay p by lr·wd first, then the bias-corrected Adam step (see the docstring)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        p *= 1 - h["lr"] * h["weight_decay"]
        m *= h["beta1"]
        m += (1 - h["beta1"]) * g
        v *= h["beta2"]
        v += (1 - h["beta2"]) * g * g
        m_hat = m / (1 - h["beta1"] ** step)
        v_hat = v / (1 - h["beta2"] ** step)
        p -= h["lr"] * m_hat / (xp.sqrt(v_hat) + h["eps"])
        # END EXERCISE


def _is_zero(value):
    return isinstance(value, float) and value == 0.0


# ---------------------------------------------------------------------------
# 6. Gradient check: central differences in float64 against a random
# projection of the output. (A plain .sum() hides bugs: softmax rows always
# sum to 1, so its gradient through .sum() is zero whatever backward says.)

def check_grad(f, *inputs, wrt=None, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Raise AssertionError if backward of f(*inputs) disagrees with finite differences.

    Floating inputs are differentiated (or only those whose positions `wrt`
    lists; the others are constants); integer inputs (targets, ids) pass through.
    Runs in float64 on the current backend whatever the backend dtype is.
    """
    global dtype
    saved_dtype, dtype = dtype, numpy.float64
    try:
        rng = numpy.random.default_rng(seed)
        tensors = [Tensor(from_numpy(to_numpy(x)), requires_grad=to_numpy(x).dtype.kind == "f"
                          and (wrt is None or k in wrt)) for k, x in enumerate(inputs)]
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


# ---------------------------------------------------------------------------
# 7. Speed. Everything above calls these helpers by name; each says what it
# computes in plain NumPy and why its way is faster. They change no result
# beyond float rounding, and tests/test_autograd.py checks each against its
# plain expression. On CuPy each one is that plain expression: a GPU kernel
# already uses the whole card, and the plain path is the one tested there.
# README.md ("Speed") gives the measured gains, with the command that measures them.

def sum_along(x, axis=-1, times=None):
    """(x * times).sum(axis, keepdims=True), or x.sum(axis, keepdims=True).

    NumPy sums many short rows one row at a time; over the last axis einsum runs
    through them in one loop, and it never builds the product x·times in memory."""
    if xp is numpy and axis in (-1, x.ndim - 1):
        total = xp.einsum("...i->...", x) if times is None else xp.einsum("...i,...i->...", x, times)
        return total[..., None]
    return (x if times is None else x * times).sum(axis=axis, keepdims=True)


def mean_along(x, times=None):
    """(x * times).mean(axis=-1, keepdims=True), or x.mean(axis=-1, keepdims=True): sum_along / n."""
    return sum_along(x, times=times) / x.shape[-1]


def normalize(x, eps):
    """(x̂, 1/σ) with x̂ = (x - μ)/σ, σ = √(var + eps), μ and var over the last axis.

    On NumPy x̂ is built in one buffer (x - μ, then scaled in place)."""
    centred = x - mean_along(x)
    rstd = 1 / xp.sqrt(mean_along(centred, times=centred) + eps)
    if xp is numpy:
        centred *= rstd
        return centred, rstd
    return centred * rstd, rstd


def max_along(x, axis=-1):
    """x.max(axis, keepdims=True).

    NumPy reduces a short last axis one row at a time (attention scores: rows of
    4 keys). Moved to the front and made contiguous, the max over n keys is n-1
    elementwise maxima of whole slices. When there are fewer rows than keys the
    plain reduction is the faster one."""
    n = x.shape[axis]
    if xp is not numpy or n * n > x.size:
        return x.max(axis=axis, keepdims=True)
    front = xp.ascontiguousarray(xp.moveaxis(x, axis, 0))
    return xp.expand_dims(front.max(axis=0), axis)


def sum_over(x, axes):
    """x.sum(axis=axes) for a run of neighbouring axes (a bias gradient: the rows).

    Folded to (before, run, after), the sum over the run is a product with a
    vector of ones, which BLAS streams on every core; ndarray.sum uses one. It
    is a sum, not one of the model's products, so it bypasses _mm and
    experiments/bench.py leaves it out of the matmul bound."""
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


def gelu_forward(x):
    """(x·(1 + t)/2, t) with t = tanh(c·(x + 0.044715·x³)), as gelu's docstring says.

    On NumPy every term is built in place in two buffers instead of a fresh
    array per term: on the MLP's activations most of the time is memory traffic."""
    if xp is not numpy:
        t = xp.tanh(GELU_C * (x + 0.044715 * x * x * x))
        return 0.5 * x * (1 + t), t
    t = x * x
    t *= GELU_C * 0.044715
    t += GELU_C
    t *= x                          # u = c·(x + 0.044715·x³)
    xp.tanh(t, out=t)               # t = tanh(u)
    out = t + 1
    out *= x
    out *= 0.5                      # x·(1 + t)/2
    return out, t


def update_parts(optimizer, ready):
    """The stretches of the flat buffer that one optimizer step updates, each with
    its step count: [(slice, step)].

    On a GPU, the whole buffer at once (a dozen kernels for the whole model) when
    every parameter has a gradient and the same step count. On a CPU each
    parameter on its own: one parameter's stretch fits in the cache, so the
    dozen passes of the update read it from there, not from memory."""
    if xp is not numpy and len(ready) == len(optimizer.params) and len(set(optimizer.steps)) == 1:
        return [(slice(0, optimizer.flat.size), optimizer.steps[0])]
    return [(slice(optimizer.offsets[i], optimizer.offsets[i + 1]), optimizer.steps[i]) for i in ready]


@functools.cache  # once per process
def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it.

    Every NumPy array is a malloc. By default glibc gives big freed blocks back
    to the operating system, so each training step gets its activations as
    fresh pages and pays a page fault per 4 KB. Frameworks keep a memory pool
    for this reason (CuPy has one on the GPU); here we get one by asking malloc
    to serve blocks up to 32 MB (its maximum) from its heap and never to trim
    it. Elsewhere than glibc (macOS, musl) this does nothing."""
    try:
        os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36" on glibc, an error elsewhere
    except (AttributeError, ValueError, OSError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's <malloc.h>
    libc = ctypes.CDLL(None)
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    libc.mallopt(M_TRIM_THRESHOLD, 2 ** 30)
