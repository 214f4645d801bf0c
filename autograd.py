"""A tiny reverse-mode autograd engine over NumPy or CuPy arrays.

Read this file top to bottom:
  1. the backend: which array module does the work (`set_backend`, `xp`),
  2. `Tensor` and `backward()`: the graph, and how gradients flow back through it,
  3. the ops, each with its backward written right under its forward,
  4. the fused neural-net ops (softmax, cross-entropy, layer norm, GELU),
  5. the optimizers `SGD` and `AdamW` as PyTorch documents them, and Grokfast,
  6. `check_grad`, which checks every backward above against finite differences,
  7. the input checks the sections above call (read last).

Everything here is written the way the maths reads. Training runs swap in the
speed path of fastops.py (the same ops, rearranged to make fewer passes over
memory, and an optimizer over one flat buffer); tests/test_fastops.py checks
that the two agree. Gradients are plain arrays: the backward pass builds no
graph of its own, and once `backward()` has run, the graph it walked is freed.
"""
import contextlib
import math
import operator

import numpy

# ---------------------------------------------------------------------------
# 1. Backend: one module-level array module, reached as `autograd.xp`.
# Every op below looks `xp` up when it runs, so `set_backend` switches all of
# them at once. Code outside this file writes `autograd.xp`, never
# `from autograd import xp` (that would copy the module that was current then).

xp = numpy            # the array module: numpy or cupy
dtype = numpy.float32  # the floating dtype of every Tensor


class BackendError(RuntimeError):
    """The requested array backend cannot be used on this machine."""


def set_backend(name="numpy", dtype="float32", module=None):
    """Choose the array module ("numpy" or "cupy") and the float dtype of every Tensor.
    Training calls fastops.set_backend instead: it checks that a GPU runs, passes the
    module here, and puts the speed path's ops in place of the ones in this file."""
    global xp
    if dtype not in ("float32", "float64"):
        raise ValueError(f"unknown dtype {dtype!r}; choose 'float32' or 'float64'")
    if name not in ("numpy", "cupy"):
        raise ValueError(f"unknown backend {name!r}; choose 'numpy' or 'cupy'")
    if module is None and name == "cupy":
        try:
            import cupy as module
        except ImportError:
            raise BackendError("backend 'cupy' needs CuPy: if `python -c \"import cupy\"` fails, install "
                               "the wheel for your CUDA (pip install -e '.[gpu-cuda12]' or '.[gpu-cuda13]')") from None
    xp = module or numpy
    globals()["dtype"] = numpy.dtype(dtype).type


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
        check_flag("Tensor()", "requires_grad", requires_grad)
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, numpy.ndarray) and not isinstance(data, xp.ndarray):  # a copy to the GPU at every use
            raise TypeError("Tensor(): got a NumPy array while the backend is cupy; "
                            "move it first with autograd.from_numpy(x)")
        data = xp.asarray(data)
        if data.dtype.kind not in "biuf":  # strings, None, objects: no numbers to compute with
            raise TypeError(f"Tensor(): data must be numbers (bool, integer or float), got dtype {data.dtype}")
        if data.dtype.kind == "f" and data.dtype != dtype:
            data = data.astype(dtype)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None

    def backward(self, grad=None):
        """Add d(self)/d(leaf) to `.grad` of every leaf that requires grad, then free the graph."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() on a non-scalar tensor of shape {self.shape} "
                                   "needs a seed gradient: call .backward(grad) or reduce it first")
            grad = xp.ones_like(self.data)
        grad = xp.asarray(grad, dtype=self.data.dtype)
        if grad.shape != self.shape:  # never broadcast or reshaped: a mismatch is a bug in the caller
            raise ValueError(f"backward(): the seed gradient grad has shape {grad.shape}, "
                             f"the tensor {self.shape}; they must match")
        grads = {id(self): grad}  # id(tensor) -> d(self)/d(tensor)
        # EXERCISE backward: sort the graph so each node follows its parents (iteratively: graphs run 20,000 ops deep); from self back, hand each node's gradient to its parents via _parent_grads (sum repeats), add a leaf's to .grad, free each node (_parents = (), _backward = _released)
        order, visited, stack = [], set(), [(self, False)]
        while stack:                                    # topological order, iteratively
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents if p.requires_grad)
        for node in reversed(order):                    # self first, every node before its parents
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:                  # a leaf
                node.grad = g if node.grad is None else node.grad + g
                continue
            for parent, parent_grad in zip(node._parents, _parent_grads(node, g)):
                if parent_grad is not None and parent.requires_grad:
                    key = id(parent)
                    grads[key] = grads[key] + parent_grad if key in grads else parent_grad
            node._parents, node._backward = (), _released  # free the activations
        # END EXERCISE

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


def _parent_grads(node, g):
    """node._backward(g), checked: a tuple with one gradient (or None) per parent, each of its parent's shape."""
    grads = node._backward(g)
    op = lambda: node._backward.__qualname__.split(".")[0]  # the op's name, for the messages below
    if not isinstance(grads, tuple) or len(grads) != len(node._parents):
        got = f"a tuple of {len(grads)}" if isinstance(grads, tuple) else type(grads).__name__
        raise TypeError(f"the backward of {op()} returned {got}; it must return a tuple with one gradient "
                        f"(or None) per input, here {len(node._parents)}: e.g. (grad,) for one input")
    for k, (parent, grad) in enumerate(zip(node._parents, grads)):
        if grad is not None and getattr(grad, "shape", None) != parent.shape:
            raise ValueError(f"the backward of {op()} returned a gradient of shape {getattr(grad, 'shape', None)} "
                             f"for its input {k}, of shape {parent.shape}: each gradient has its input's shape")
    return grads


def _released(grad):
    raise RuntimeError("backward() through a graph that was already freed; "
                       "recompute the forward pass to differentiate again")


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
    axis = check_axes("sum", axis, a.ndim)

    def backward(g):
        return (xp.broadcast_to(_expand(g, a.shape, axis, keepdims), a.shape),)
    return _result(a.data.sum(axis=axis, keepdims=keepdims), (a,), backward)


def mean(a, axis=None, keepdims=False):
    total = sum(a, check_axes("mean", axis, a.ndim), keepdims)
    return mul(total, total.data.size / a.data.size if a.data.size else math.nan)  # of nothing: NaN, as NumPy


def max(a, axis=None, keepdims=False):  # noqa: A001
    axis = check_axes("max", axis, a.ndim)
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
    axes = check_permutation("transpose", axes, a.ndim) if axes else tuple(reversed(range(a.ndim)))
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
    condition = xp.asarray(condition.data if isinstance(condition, Tensor) else condition)
    check_boolean("where", "condition", condition)
    check_together("where", condition=condition, a=a, b=b)

    def backward(g):
        zero = xp.zeros((), dtype=g.dtype)
        return (unbroadcast(xp.where(condition, g, zero), a.shape) if a.requires_grad else None,
                unbroadcast(xp.where(condition, zero, g), b.shape) if b.requires_grad else None)
    return _result(xp.where(condition, a.data, b.data), (a, b), backward)


def masked_fill(a, mask, value):
    """`a` with `value` wherever `mask` is true (e.g. -inf above a causal diagonal)."""
    check_boolean("masked_fill", "mask", mask)
    check_real("masked_fill", "value", value)
    check_broadcasts("masked_fill", a.shape, mask=mask)
    return where(mask, value, a)


# -- matmul ----------------------------------------------------------------------

def matmul(a, b):
    """a @ b over the last two axes, broadcasting any leading (batch) axes."""
    a, b = _lift(a), _lift(b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul needs at least 2-D operands, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul shape mismatch: {a.shape} @ {b.shape} "
                         f"(inner sizes {a.shape[-1]} and {b.shape[-2]} differ)")
    try:
        out = a.data @ b.data
    except ValueError:
        raise ValueError(f"matmul batch axes do not broadcast: {a.shape} @ {b.shape}") from None

    def backward(g):
        # EXERCISE matmul-backward: each gradient is a product of G with the other operand, transposed so the shapes fit (check them on paper); then unbroadcast each to its input's shape
        grad_a = unbroadcast(g @ b.data.swapaxes(-1, -2), a.shape) if a.requires_grad else None
        grad_b = unbroadcast(a.data.swapaxes(-1, -2) @ g, b.shape) if b.requires_grad else None
        return grad_a, grad_b
        # END EXERCISE
    return _result(out, (a, b), backward)


def linear(x, weight, bias=None):
    """x @ weight + bias for an ensemble: x (E, ..., I), weight (E, I, O), bias (E, 1, O).

    The middle axes of x fold into one, so each member is one big matrix product
    and the weight gradient needs no sum over a broadcast batch axis.
    """
    check_linear(x, weight, bias)
    E, I, O = x.shape[0], x.shape[-1], weight.shape[-1]
    rows = x.data.reshape(E, -1, I)                     # (E, N, I)
    out = rows @ weight.data                            # (E, N, O)
    if bias is not None:
        out = out + bias.data
    parents = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g = g.reshape(E, -1, O)                         # (E, N, O)
        grads = ((g @ weight.data.swapaxes(1, 2)).reshape(x.shape) if x.requires_grad else None,
                 rows.swapaxes(1, 2) @ g if weight.requires_grad else None)
        if bias is None:
            return grads
        return grads + (g.sum(axis=1, keepdims=True) if bias.requires_grad else None,)
    return _result(out.reshape(x.shape[:-1] + (O,)), parents, backward)


# ---------------------------------------------------------------------------
# 4. Fused neural-net ops: one node each, with the backward worked out by hand
# (cheaper and more stable than composing the primitives above).

def softmax(a, axis=-1):
    check_axes("softmax", axis, a.ndim, one=True)
    e = xp.exp(a.data - a.data.max(axis=axis, keepdims=True))    # max-subtracted: no overflow
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g):
        # EXERCISE softmax-backward: the Jacobian of y = softmax(x) along the axis is diag(y) - y yᵀ; apply it to g without building it (y is saved)
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)
        # END EXERCISE
    return _result(out, (a,), backward)


def _log_softmax(x, axis=-1):
    """x - logsumexp(x) along an axis, max-subtracted so nothing overflows (an array)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax(a, axis=-1):
    check_axes("log_softmax", axis, a.ndim, one=True)
    out = _log_softmax(a.data, axis)

    def backward(g):
        # y = x - logsumexp(x): dL/dx = g - softmax(x) * sum(g)
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)
    return _result(out, (a,), backward)


def check_targets(logits, targets, classes_too=True):
    """The targets as an array, once they are integer class ids of the logits' shape less its last
    axis; with classes_too, each is a class the logits have or -1, ignored (reading them costs a sync
    on a GPU)."""
    targets = targets.data if isinstance(targets, Tensor) else targets
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class ids, got dtype {targets.dtype}")
    if classes_too and targets.size:
        low, high = int(targets.min()), int(targets.max())
        if low < -1 or high >= logits.shape[-1]:  # a class that does not exist (only -1 means ignored)
            raise ValueError(f"cross_entropy: a target is {low if low < -1 else high}, but the logits have "
                             f"{logits.shape[-1]} classes (and -1 marks a target to ignore)")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: targets of shape {targets.shape} do not match "
                         f"logits of shape {logits.shape} (expected {logits.shape[:-1]})")
    return targets


def cross_entropy(logits, targets, per_member=False):
    """Mean of -log softmax(logits)[target] over the targets that are >= 0.

    logits: (..., V); targets: integer array of shape (...), entries -1 ignored.
    per_member=True keeps the leading (ensemble) axis: the result has shape (E,),
    each member's own mean. Training sums those E losses before backward, so
    every member receives exactly the gradient of its own mean loss (a mean over
    members would scale each member's gradient by 1/E). A member whose every
    target is ignored has no mean: its loss is NaN.
    """
    targets = check_targets(logits, targets)
    valid = targets >= 0                                           # (...)
    reduce_axes = tuple(range(1, targets.ndim)) if per_member else None
    count = valid.sum(axis=reduce_axes).astype(logits.dtype)       # targets per mean
    log_probs = _log_softmax(logits.data)                          # (..., V)
    target_hot = xp.arange(logits.shape[-1]) == targets[..., None]  # (..., V); all False if ignored
    picked = (log_probs * target_hot).sum(axis=-1)                 # (...) log p[target]
    out = -picked.sum(axis=reduce_axes) / count

    def backward(g):
        # EXERCISE cross-entropy-backward: differentiate -log softmax(x)[target] by hand (it is a difference of two distributions), scale by g over the mean's count, and give ignored targets (-1) no gradient
        scale = (g / count).reshape(g.shape + (1,) * (targets.ndim - g.ndim + 1))
        return ((xp.exp(log_probs) * valid[..., None] - target_hot) * scale,)
        # END EXERCISE
    return _result(out.astype(logits.dtype), (logits,), backward)



def layer_norm(x, weight, bias, eps=1e-5):
    """Normalise the last axis to mean 0 and variance 1, then scale and shift:
    out = x̂·w + b with x̂ = (x - μ)/σ, σ = √(var + eps)."""
    check_positive("layer_norm", "eps", eps)
    check_broadcasts("layer_norm", x.shape, weight=weight, bias=bias)
    centred = x.data - x.data.mean(axis=-1, keepdims=True)                       # x - μ
    rstd = 1 / xp.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)  # 1/σ, per row
    x_hat = centred * rstd
    out = x_hat * weight.data + bias.data

    def backward(g):
        grad_x = None
        if x.requires_grad:
            # EXERCISE layer-norm-backward: start from ĝ = g·w; μ and σ depend on every x of the row, so dL/dx has three terms (through x, μ and σ) that simplify with x̂ (saved, like 1/σ)
            g_hat = g * weight.data
            grad_x = (g_hat - g_hat.mean(axis=-1, keepdims=True)
                      - x_hat * (g_hat * x_hat).mean(axis=-1, keepdims=True)) * rstd
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
    t = xp.tanh(GELU_C * (x + 0.044715 * x * x * x))
    out = 0.5 * x * (1 + t)

    def backward(g):
        # EXERCISE gelu-backward: differentiate x(1+t)/2 with t = tanh(c(x + 0.044715x³)); t is saved
        du = GELU_C * (1 + 3 * 0.044715 * x * x)                # du/dx
        return (g * 0.5 * (1 + t + x * (1 - t * t) * du),)     # d/dx [x(1+t)/2], tanh' = 1 - t²
        # END EXERCISE
    return _result(out, (a,), backward)


def one_hot(ids, num_classes):
    """Constant (..., V) one-hot rows; `one_hot(ids, V) @ W` is an embedding lookup.
    Ids in host memory are checked here; ids already on a GPU are not (reading
    them back would stall the step), so callers check ids where they make them."""
    check_count("one_hot", "num_classes", num_classes)
    ids = ids.data if isinstance(ids, Tensor) else ids
    if isinstance(ids, numpy.ndarray) and ids.size and ids.dtype.kind in "iu" \
            and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(f"one_hot: ids must lie in [0, {num_classes}), got {int(ids.min())}..{int(ids.max())}")
    ids = xp.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs integer ids, got dtype {ids.dtype}")
    return Tensor(xp.eye(num_classes, dtype=dtype)[ids])  # row i of the identity is one_hot(i)


# -- operators and methods on Tensor ------------------------------------------------
# Looked up by name when called, so set_backend's swap reaches `a @ b` too.

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
Tensor.__matmul__ = lambda self, other: matmul(self, other)
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
# 5. Optimizers, as PyTorch documents them (torch.optim.SGD, torch.optim.AdamW):
# `update` applies the formula to one parameter. A hyperparameter may be a
# number or a 1-D array of length E, applied per ensemble member (the leading
# axis of every parameter), so E models in lockstep can use E learning rates.
# Grokfast (Lee et al. 2024), if asked for, filters the gradient first.

class StateDictError(ValueError):
    """A saved optimizer state that does not fit this optimizer (another model's, or damaged)."""


class Optimizer:
    """What SGD and AdamW share: the parameters, a step count and a state per
    parameter, the hyperparameters, the Grokfast filter and saving."""
    state_names = ()

    def __init__(self, params, grokfast_alpha=0.98, grokfast_lambda=None, **hyper):
        self.params = check_params(params)
        self.hyper = self._checked_hyper(hyper, grokfast_alpha, grokfast_lambda)
        self.steps = [0] * len(self.params)
        names = self.state_names + (("grokfast_ema",) if grokfast_lambda is not None else ())
        self.state = [{name: xp.zeros_like(p.data) for name in names} for p in self.params]

    def _checked_hyper(self, hyper, grokfast_alpha, grokfast_lambda):
        """Each hyperparameter checked (Grokfast's alpha even when Grokfast is off), as a dict."""
        _check_hyper("grokfast_alpha", grokfast_alpha, self.params)
        if grokfast_lambda is not None:
            hyper.update(grokfast_alpha=grokfast_alpha, grokfast_lambda=grokfast_lambda)
        return {name: _check_hyper(name, value, self.params) for name, value in hyper.items()}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient (as in PyTorch, one without is left alone)."""
        with no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                self.steps[i] += 1
                hyper = {name: _per_member(value, p) for name, value in self.hyper.items()}
                g = p.grad
                if "grokfast_ema" in self.state[i]:
                    g = grokfast(g, self.state[i], self.steps[i],
                                 hyper.pop("grokfast_alpha"), hyper.pop("grokfast_lambda"))
                self.update(p, g, self.state[i], self.steps[i], **hyper)

    def state_dict(self):
        """Flat dict of NumPy arrays (saves with numpy.savez, allow_pickle=False); each
        state is every parameter's, flattened and joined in parameter order."""
        out = {"steps": numpy.array(self.steps, dtype=numpy.int64)}
        out.update({f"hyper.{k}": numpy.asarray(v) for k, v in self.hyper.items()})
        for name in self.state[0]:
            out[f"state.{name}"] = numpy.concatenate([to_numpy(s[name]).reshape(-1) for s in self.state])
        return out

    def load_state_dict(self, saved, finite=True):
        """Resume from state_dict()'s entries; finite=False lets a state hold NaN (a sweep's diverged member)."""
        check_state_dict(saved, self.hyper, tuple(self.state[0]), self.params, finite)
        sizes = [p.data.size for p in self.params]
        self.steps = [int(s) for s in saved["steps"]]
        self.hyper = {k: _check_hyper(k, saved[f"hyper.{k}"], self.params) for k in self.hyper}
        for name in self.state[0]:
            pieces = numpy.split(saved[f"state.{name}"], numpy.cumsum(sizes)[:-1])
            for s, p, piece in zip(self.state, self.params, pieces):
                s[name] = from_numpy(piece.reshape(p.shape))




# Each hyperparameter's range, as PyTorch checks it (NaN and infinity never pass), and
# those whose upper end is open (a beta or Grokfast's alpha of 1 would never forget).
HYPER_RANGES = {"lr": (0, None), "weight_decay": (0, None), "momentum": (0, None), "dampening": (0, 1),
                "beta1": (0, 1), "beta2": (0, 1), "eps": (0, None), "grokfast_alpha": (0, 1),
                "grokfast_lambda": (0, None)}
OPEN_ABOVE = ("beta1", "beta2", "grokfast_alpha")


def _check_hyper(name, value, params):
    """A real number, or a 1-D array with one value per member (the leading axis of every parameter),
    finite and in its HYPER_RANGES range."""
    try:
        array = to_numpy(value)
    except (TypeError, ValueError):  # a ragged list
        array = None
    if array is None or array.dtype.kind not in "iuf":  # a bool, a complex number, a string: no rate
        raise ValueError(f"hyperparameter {name} must be a real number or a 1-D array (one per member), "
                         f"got {value!r}")
    array = array.astype(float)
    low, high = HYPER_RANGES[name]
    below = high is None or ((array < high) if name in OPEN_ABOVE else (array <= high)).all()
    if not (numpy.isfinite(array).all() and (array >= low).all() and below):
        where = f">= {low}" if high is None else f"in [{low}, {high}{')' if name in OPEN_ABOVE else ']'}"
        raise ValueError(f"hyperparameter {name} must be finite and {where}, got {value!r}")
    if numpy.ndim(value) == 0:
        return float(value)
    value = array
    if value.ndim != 1:
        raise ValueError(f"hyperparameter {name} must be a number or a 1-D array (one per member)")
    for i, p in enumerate(params):
        if p.ndim == 0 or p.shape[0] != value.shape[0]:
            raise ValueError(f"hyperparameter {name} has {value.shape[0]} values (one per member) "
                             f"but parameter {i} has shape {p.shape}: the leading axis must match")
    return value


def _per_member(value, p):
    """A number as it is; per-member values (E,) as (E, 1, ...), to broadcast over parameter p."""
    return value if isinstance(value, float) else from_numpy(value).reshape((-1,) + (1,) * (p.ndim - 1))


def grokfast(g, state, step, alpha, lamb):
    """Grokfast-EMA (Lee et al. 2024): amplify the slow part of the gradient.
    ema ← α·ema + (1-α)·g (ema = g on the first step); the update uses g + λ·ema."""
    state["grokfast_ema"] = g if step == 1 else alpha * state["grokfast_ema"] + (1 - alpha) * g
    return g + lamb * state["grokfast_ema"]


class SGD(Optimizer):
    """g ← ∇ + wd·p (coupled L2); b ← μ·b + (1-τ)·g (b = g on the first step);
    g ← g + μ·b if nesterov else b; p ← p - lr·g. (τ: dampening)"""
    state_names = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False,
                 grokfast_alpha=0.98, grokfast_lambda=None):
        check_flag("SGD", "nesterov", nesterov)
        if nesterov and (numpy.ndim(momentum) != 0 or momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs a positive scalar momentum and zero dampening")
        if dampening != 0 and numpy.ndim(momentum) != 0:
            raise ValueError("per-member momentum needs zero dampening (a member with momentum 0 then "
                             "gets plain SGD, as PyTorch gives it)")
        super().__init__(params, grokfast_alpha, grokfast_lambda, lr=lr, momentum=momentum,
                         weight_decay=weight_decay, dampening=dampening)
        self.nesterov = nesterov

    def update(self, p, g, state, step, lr, momentum, dampening, weight_decay):
        # EXERCISE sgd-update: the docstring's four lines (decay, momentum buffer with dampening, nesterov, step) for p.data; settings may be per-member arrays, so apply every line (μ = 0 gives b = g)
        g = g + weight_decay * p.data
        if step == 1:
            b = g
        else:
            b = momentum * state["momentum_buffer"] + (1 - dampening) * g
        state["momentum_buffer"] = b
        g = g + momentum * b if self.nesterov else b
        p.data = p.data - lr * g
        # END EXERCISE


class AdamW(Optimizer):
    """p ← p·(1 - lr·wd) (decoupled decay); m ← β₁m + (1-β₁)g; v ← β₂v + (1-β₂)g²;
    p ← p - lr·m̂/(√v̂ + ε) with m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ)."""
    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 grokfast_alpha=0.98, grokfast_lambda=None):
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        super().__init__(params, grokfast_alpha, grokfast_lambda, lr=lr, beta1=betas[0], beta2=betas[1],
                         eps=eps, weight_decay=weight_decay)

    def update(self, p, g, state, step, lr, beta1, beta2, eps, weight_decay):
        # EXERCISE adamw-update: decay p.data by lr·wd first, then the bias-corrected Adam step (docstring); m, v live in state
        p.data = p.data * (1 - lr * weight_decay)
        m = state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
        v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** step)
        v_hat = v / (1 - beta2 ** step)
        p.data = p.data - lr * m_hat / (xp.sqrt(v_hat) + eps)
        # END EXERCISE


# ---------------------------------------------------------------------------
# 6. Gradient check: central differences in float64 against a random
# projection of the output. (A plain .sum() hides bugs: softmax rows always
# sum to 1, so its gradient through .sum() is zero whatever backward says.)

def check_grad(f, *inputs, wrt=None, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Raise AssertionError if backward of f(*inputs) disagrees with finite differences.

    Floating inputs are differentiated (or only those whose positions `wrt`
    lists; the others are constants); integer inputs (targets, ids) pass through.
    Runs in float64 on the current backend whatever the backend dtype is. A NaN or infinite
    output or gradient is a failure too (every comparison with NaN is false: it would pass).
    """
    for name, value in (("eps", eps), ("rtol", rtol), ("atol", atol)):
        check_positive("check_grad", name, value, zero_too=name != "eps")
    global dtype
    saved_dtype, dtype = dtype, numpy.float64
    try:
        rng = numpy.random.default_rng(seed)
        tensors = [Tensor(from_numpy(to_numpy(x)), requires_grad=to_numpy(x).dtype.kind == "f"
                          and (wrt is None or k in wrt)) for k, x in enumerate(inputs)]
        if not any(t.requires_grad and t.data.size for t in tensors):
            raise ValueError("check_grad: no floating-point input to differentiate (give f at least one "
                             "non-empty float array, and list it in wrt if wrt is given)")
        out = f(*tensors)
        if not isinstance(out, Tensor):
            raise TypeError(f"check_grad: f must return a Tensor (built from its inputs), got {type(out).__name__}")
        if not numpy.isfinite(to_numpy(out.data)).all():
            raise AssertionError("check_grad: f's output is NaN or infinite at these inputs; "
                                 "choose inputs inside its domain")
        projection = from_numpy(rng.standard_normal(out.shape))
        grads = {}
        _every_path(out, projection, grads)
        for k, t in enumerate(tensors):
            if t.requires_grad:
                _compare(f, tensors, k, grads.get(id(t)), projection, eps, rtol, atol)
        return True
    finally:
        dtype = saved_dtype


def _every_path(node, g, grads):
    """The chain rule summed over every path from the output to each leaf, one path at a
    time: exponential in general, fine for the small functions check_grad is given, and
    independent of backward() (so each op's backward can be checked on its own)."""
    if node._backward is None:
        grads[id(node)] = grads[id(node)] + g if id(node) in grads else g
        return
    for parent, parent_grad in zip(node._parents, _parent_grads(node, g)):
        if parent_grad is not None and parent.requires_grad:
            _every_path(parent, parent_grad, grads)


def _compare(f, tensors, k, analytic, projection, eps, rtol, atol):
    t = tensors[k]
    analytic = to_numpy(analytic) if analytic is not None else numpy.zeros(t.shape)
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
    if not (numpy.isfinite(numeric) & numpy.isfinite(analytic)).all():
        at = numpy.unravel_index(numpy.argmin(numpy.isfinite(numeric) & numpy.isfinite(analytic)), t.shape)
        raise AssertionError(f"gradient of input {k} is not finite at {at}: backward gave {analytic[at]:.8g}, "
                             f"finite differences {numeric[at]:.8g} (an input at the edge of f's domain?)")
    error = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
    if (error > 0).any():
        worst = numpy.unravel_index(numpy.argmax(error), error.shape)
        raise AssertionError(f"gradient of input {k} wrong at {worst}: backward gave "
                             f"{analytic[worst]:.8g}, finite differences {numeric[worst]:.8g}")


# ---------------------------------------------------------------------------
# 7. Input checks, read last: what the sections above refuse on the way in, each
# named after what it checks, so that a wrong argument is one clear error that
# names it (as PyTorch's own checks do) rather than a wrong number later.

def check_positive(what, name, value, zero_too=False):
    """A finite real number > 0 (>= 0 with zero_too), else an error that names it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, numpy.integer, numpy.floating)):
        raise TypeError(f"{what}: {name} must be a real number, got {value!r}")
    if not (math.isfinite(value) and (value >= 0 if zero_too else value > 0)):
        raise ValueError(f"{what}: {name} must be finite and {'>=' if zero_too else '>'} 0, got {value!r}")


def check_count(what, name, value):
    """A whole number >= 1 (a size or a count), else an error that names it."""
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)):
        raise TypeError(f"{what}: {name} must be a whole number, got {value!r}")
    if value < 1:
        raise ValueError(f"{what}: {name} must be >= 1, got {value!r}")


def check_params(params):
    """The parameters as a list of distinct Tensors (a lone Tensor is not a list of them: as PyTorch)."""
    if isinstance(params, Tensor) or not hasattr(params, "__iter__"):
        raise TypeError(f"params argument given to the optimizer should be an iterable of Tensors, "
                        f"got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is a {type(p).__name__}")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("some parameters appear more than once in params; give each once")
    return params


def check_state_dict(saved, hyper, state_names, params, finite=True):
    """A saved state that fits these parameters: the same entries, a step count >= 0 per parameter,
    and each state a float array with one value per parameter element (finite unless not finite)."""
    expected = {"steps"} | {f"hyper.{k}" for k in hyper} | {f"state.{k}" for k in state_names}
    if set(saved) != expected:
        raise StateDictError(f"optimizer state has entries {sorted(saved)}, expected {sorted(expected)}")
    steps, size = numpy.asarray(saved["steps"]), int(numpy.sum([p.data.size for p in params]))
    if steps.ndim != 1 or len(steps) != len(params):
        raise StateDictError(f"optimizer state is for {steps.size} parameters, not {len(params)}")
    if steps.dtype.kind not in "iu" or (steps < 0).any():
        raise StateDictError(f"optimizer state steps must be whole numbers >= 0, got {steps.tolist()}")
    for name in state_names:
        state = numpy.asarray(saved[f"state.{name}"])
        if state.shape != (size,):
            raise StateDictError(f"optimizer state {name} holds {state.size} values, this model has {size}")
        if state.dtype.kind != "f" or (finite and not numpy.isfinite(state).all()):
            raise StateDictError(f"optimizer state {name} must hold finite floats, got dtype {state.dtype}"
                                 + (" with NaN or infinite values" if state.dtype.kind == "f" else ""))


def check_flag(what, name, value):
    """True or False (a NumPy bool too); a string such as 'yes' or a number is refused, as PyTorch does."""
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{what}: {name} must be True or False, got {value!r}")


def check_boolean(what, name, array):
    """An array (or Tensor, list, constant) of dtype bool: a float mask of 0.5 is no yes or no (as PyTorch).
    Only the dtype is read, never the values (free on a GPU)."""
    dtype = array.dtype if hasattr(array, "dtype") else numpy.asarray(array).dtype
    if dtype != bool:
        raise TypeError(f"{what}: {name} must be boolean, got dtype {dtype}")


def check_broadcasts(what, shape, **others):
    """Each named array (Tensor, array, list or constant) broadcasts to `shape` without growing it
    (the op's output has `shape`): it has no more axes, and each of its axes, matched from the
    right, is 1 or the same size. Only shapes are read (a device array's .shape, never numpy.shape)."""
    for name, array in others.items():
        other = array.shape if hasattr(array, "shape") else numpy.shape(array)
        fits = len(other) <= len(shape)
        for n, m in zip(other, shape[len(shape) - len(other):] if fits else ()):
            fits = fits and (n == m or n == 1)
        if not fits:
            raise ValueError(f"{what}: {name} of shape {tuple(other)} does not broadcast to the input's "
                             f"shape {tuple(shape)}")


def check_together(what, **arrays):
    """Arrays (Tensors, arrays) whose shapes broadcast together, else one error naming each shape."""
    shapes = {name: tuple(a.shape) for name, a in arrays.items()}
    try:
        numpy.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError(f"{what}: " + ", ".join(f"{n} of shape {s}" for n, s in shapes.items())
                         + " do not broadcast together") from None


def check_real(what, name, value):
    """A real number (a Python or NumPy int or float, never a bool or a string)."""
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, (int, float, numpy.integer, numpy.floating)):
        raise TypeError(f"{what}: {name} must be a real number, got {value!r}")


def check_permutation(what, given, ndim):
    """The axes given as a tuple of 0..ndim-1, each once (negative ones counted from the end, as NumPy)."""
    try:
        axes = tuple(k % ndim if -ndim <= k < ndim else ndim for k in map(operator.index, given))
    except TypeError:  # an axis that is no whole number
        axes = None
    if axes is None or sorted(axes) != list(range(ndim)):
        raise ValueError(f"{what}: axes must be a permutation of 0..{ndim - 1} (each axis once), "
                         f"got {tuple(given)}")
    return axes


def check_axes(what, axis, ndim, one=False):
    """None (every axis; not where `one`), one axis or a tuple of distinct ones, each a whole number
    in -ndim..ndim-1 (negative ones counted from the end, as NumPy); returned as given (a list as a tuple)."""
    if axis is None and not one:
        return None
    try:
        given = [operator.index(k) for k in (axis if isinstance(axis, (tuple, list)) and not one else (axis,))]
    except TypeError:  # an axis that is no whole number (None included, where `one`)
        given = None
    if given is None or not all(-ndim <= k < ndim for k in given) or len({k % ndim for k in given}) < len(given):
        raise ValueError(f"{what}: axis must be {'a whole number' if one else 'None, a whole number or a tuple of them'}"
                         f" in -{ndim}..{ndim - 1}{'' if one else ' (each once)'}, got {axis!r}")
    return tuple(axis) if isinstance(axis, list) else axis


def check_linear(x, weight, bias):
    """x (E, ..., I), weight (E, I, O) and bias None or (E, 1, O): the shapes linear's docstring says."""
    E, I, O = x.shape[0], x.shape[-1], weight.shape[-1]
    if weight.ndim != 3 or weight.shape[:2] != (E, I):
        raise ValueError(f"linear: x {x.shape} does not fit weight {weight.shape} (expected ({E}, {I}, O))")
    if bias is not None and bias.shape != (E, 1, O):
        raise ValueError(f"linear: bias of shape {bias.shape} does not fit the output: expected ({E}, 1, {O}) "
                         f"for x {x.shape} and weight {weight.shape}")
