"""The speed path of autograd.py, and the machinery the lesson leaves out.

autograd.py is written the way the maths reads. This module holds the same ops
rearranged to make fewer passes over memory, an optimizer over one flat buffer,
and what choosing a backend needs beyond `xp = numpy`:

  1. the seam: `set_backend(name, dtype, fast)`, which training calls in place of
     autograd.set_backend; with fast=True it puts the ops and optimizers of
     sections 3 and 4 in place of autograd's, each on the backends where it
     earns its place (TRICKS); with fast=False it puts autograd's own back. On
     CuPy it first checks that the GPU runs, on NumPy it tunes malloc;
  2. helpers, each with the plain expression it computes and why it is faster;
  3. the ops that use them: the same forward and backward as autograd's, with
     the helpers in place of the plain expressions (and every matrix product
     through `_mm`, so experiments/bench.py can record and time them);
  4. SGD and AdamW over one flat buffer, with per-member hyperparameters.

Training runs use this path (fastops.set_backend's default). tests/test_fastops.py
checks it against autograd's: bit for bit where the operations are the same,
within float32 rounding where they are reordered. On CuPy most helpers are
their plain expression (a GPU kernel already uses the whole card), and the ops
that save the GPU nothing are not swapped in at all.
README.md ("Speed") gives the measured gains, with the command that measures them.
Sections 3 and 4 solve the exercises of autograd.py over again, so they stand
between `# SOLVED:` and `# END SOLVED`: a student copy leaves them out and
trains on autograd.py's own ops (TEACHING.md, "The answer key").
"""
import ctypes
import functools
import math
import os

import numpy

import autograd as ag

xp = numpy  # the array module, set by use() together with autograd.xp

# Each trick of sections 3 and 4, and the backends that swap it in for autograd's own.
# A trick stays where it earns its place on a whole training step:
#  - on CuPy, where it saves the GPU work (kernel launches, host syncs of one
#    grokking step on the stand-in: tests/test_cupy_path.py checks this table), or
#    where it feeds bench.py's record of the matrix products (matmul, linear);
#  - on NumPy every trick stays. `bench.py --tricks` finds each alone worth 0.95-1.09x
#    of a step (RESULTS.md, "Speed"), but the ones that reorder a sum change the last
#    float32 bits, and every run in RESULTS.md was trained with them: without them no
#    ledger figure would re-run bit for bit. No run on a GPU is recorded yet, so there
#    the choice is free.
TRICKS = {
    "matmul": ("numpy", "cupy"),         # every product through _mm (bench.py's matmul bound)
    "linear": ("numpy", "cupy"),         # the same, for the ensemble linears
    "cross_entropy": ("numpy", "cupy"),  # GPU: no host sync (autograd's checks the targets on the host)
    "SGD": ("numpy", "cupy"),            # GPU: about a dozen kernels for all parameters, not per parameter
    "AdamW": ("numpy", "cupy"),          # the same
    "softmax": ("numpy",),               # GPU: the same launches as autograd's
    "log_softmax": ("numpy",),           # the same
    "layer_norm": ("numpy",),            # GPU: autograd's launches fewer kernels
    "gelu": ("numpy",),                  # GPU: the same launches as autograd's
}
SWAPPED = tuple(TRICKS)
_PLAIN = {name: getattr(ag, name) for name in SWAPPED}  # autograd's own, kept for fast=False


def swapped_on(backend):
    """The tricks that set_backend(backend) swaps in (see TRICKS)."""
    return tuple(op for op, backends in TRICKS.items() if backend in backends)

# ---------------------------------------------------------------------------
# 1. The seam.


def set_backend(name="numpy", dtype="float32", fast=True):
    """autograd.set_backend, for training: the array module for backend `name`, ready to
    run (CuPy once it has shown that it runs; on NumPy, malloc tuned), and this module's
    ops and optimizers in place of autograd's (fast=True) or autograd's own (fast=False)."""
    global xp
    if name == "numpy":
        keep_freed_memory()
    module = import_cupy() if name == "cupy" else numpy
    ag.set_backend(name, dtype, module=module)
    xp = ag.xp
    for op in SWAPPED:  # an op this file lacks (a student copy: see TEACHING.md) stays autograd's own
        swap = fast and op in swapped_on(name)
        setattr(ag, op, globals().get(op, _PLAIN[op]) if swap else _PLAIN[op])


def import_cupy():
    """CuPy, once it has shown that it can launch a kernel, multiply and copy back."""
    try:
        import cupy
    except ImportError:
        raise ag.BackendError("backend 'cupy' needs CuPy: if `python -c \"import cupy\"` fails, install the "
                              "wheel for your CUDA (pip install -e '.[gpu-cuda12]' or '.[gpu-cuda13]')") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CUDA driver missing or broken
        count = 0
    if count == 0:
        raise ag.BackendError("backend 'cupy': CuPy is installed but no CUDA GPU is visible; "
                              "use --backend numpy")
    try:  # a broken CUDA install (no NVRTC, no cuBLAS) fails here, not deep inside a training run
        x = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
        product = ((x * 2 + 1) @ x.T).get()  # [[1,3,5],[7,9,11]] @ [[0,3],[1,4],[2,5]]
        if product[0, 0] != 13 or product[1, 1] != 112:
            raise RuntimeError(f"a 2x3 test product came out wrong: {product.tolist()}")
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ag.BackendError(f"backend 'cupy': CuPy sees a GPU but cannot run on it "
                              f"({type(error).__name__}: {reason}); check the CUDA install or use "
                              "--backend numpy") from None
    return cupy


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


# -- the matmul counter: every product of this path goes through _mm, so
# experiments/bench.py can record the shapes of one training step's products
# and time them alone (the bound no engine can beat on this machine).

matmul_log = None  # a list to record (shape, shape) pairs into, or None


def _mm(x, y):
    if matmul_log is not None:
        matmul_log.append((x.shape, y.shape))
    return x @ y


# ---------------------------------------------------------------------------
# 2. Helpers. Each changes no result beyond float rounding.

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

    x̂ is built in one buffer (x - μ, then scaled in place)."""
    centred = x - mean_along(x)
    rstd = 1 / xp.sqrt(mean_along(centred, times=centred) + eps)
    centred *= rstd
    return centred, rstd


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
    """(x·(1 + t)/2, t) with t = tanh(c·(x + 0.044715·x³)), as autograd.gelu's docstring says.

    Every term is built in place in two buffers instead of a fresh array per
    term: on the MLP's activations most of the time is memory traffic."""
    t = x * x
    t *= ag.GELU_C * 0.044715
    t += ag.GELU_C
    t *= x                          # u = c·(x + 0.044715·x³)
    xp.tanh(t, out=t)               # t = tanh(u)
    out = t + 1
    out *= x
    out *= 0.5                      # x·(1 + t)/2
    return out, t


# ---------------------------------------------------------------------------
# 3. The ops of autograd.py that these helpers speed up. Each is autograd's
# op with the helpers in place of the plain expressions; see autograd.py for
# what each computes and why.

# SOLVED: the exercises' backwards, rearranged (a student copy leaves this out: see TEACHING.md)
def matmul(a, b):
    a, b = ag._lift(a), ag._lift(b)
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
        grad_a = ag.unbroadcast(_mm(g, b.data.swapaxes(-1, -2)), a.shape) if a.requires_grad else None
        grad_b = ag.unbroadcast(_mm(a.data.swapaxes(-1, -2), g), b.shape) if b.requires_grad else None
        return grad_a, grad_b
    return ag._result(out, (a, b), backward)


def linear(x, weight, bias=None):
    ag.check_linear(x, weight, bias)
    E, I, O = x.shape[0], x.shape[-1], weight.shape[-1]
    rows = x.data.reshape(E, -1, I)                     # (E, N, I)
    out = _mm(rows, weight.data)                        # (E, N, O)
    if bias is not None:
        out += bias.data                                # in place: out is our own
    parents = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g = g.reshape(E, -1, O)                         # (E, N, O)
        grads = (_mm(g, weight.data.swapaxes(1, 2)).reshape(x.shape) if x.requires_grad else None,
                 _mm(rows.swapaxes(1, 2), g) if weight.requires_grad else None)
        if bias is None:
            return grads
        return grads + (sum_over(g, (1,)).reshape(bias.shape) if bias.requires_grad else None,)
    return ag._result(out.reshape(x.shape[:-1] + (O,)), parents, backward)


def softmax(a, axis=-1):
    ag.check_axes("softmax", axis, a.ndim, one=True)  # as autograd.softmax (not an IndexError deep inside)
    e = xp.exp(a.data - max_along(a.data, axis))
    out = e / sum_along(e, axis)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)
    return ag._result(out, (a,), backward)


def _log_softmax(x, axis=-1):
    shifted = x - max_along(x, axis)
    return shifted - xp.log(sum_along(xp.exp(shifted), axis))


def log_softmax(a, axis=-1):
    ag.check_axes("log_softmax", axis, a.ndim, one=True)
    out = _log_softmax(a.data, axis)

    def backward(g):
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)
    return ag._result(out, (a,), backward)


def cross_entropy(logits, targets, per_member=False):
    """As autograd.cross_entropy; on NumPy a batch whose every target is ignored
    is an error (on a GPU that check would stall every step: NaN there)."""
    targets = ag.check_targets(logits, targets, classes_too=xp is numpy)  # on a GPU that read would stall the step
    valid = targets >= 0
    reduce_axes = tuple(range(1, targets.ndim)) if per_member else None
    count = valid.sum(axis=reduce_axes).astype(logits.dtype)
    if xp is numpy and (count == 0).any():
        raise ValueError("cross_entropy: every target is ignored (-1); nothing to average")
    log_probs = _log_softmax(logits.data)                          # (..., V)
    target_hot = xp.arange(logits.shape[-1]) == targets[..., None]  # (..., V)
    picked = sum_along(log_probs, times=target_hot)[..., 0]         # (...) log p[target]
    out = -picked.sum(axis=reduce_axes) / count

    def backward(g):
        scale = (g / count).reshape(g.shape + (1,) * (targets.ndim - g.ndim + 1))
        return ((xp.exp(log_probs) * valid[..., None] - target_hot) * scale,)
    return ag._result(out.astype(logits.dtype), (logits,), backward)


def layer_norm(x, weight, bias, eps=1e-5):
    ag.check_positive("layer_norm", "eps", eps)
    ag.check_broadcasts("layer_norm", x.shape, weight=weight, bias=bias)
    x_hat, rstd = normalize(x.data, eps)                        # x̂ and 1/σ, per row
    out = x_hat * weight.data + bias.data

    def backward(g):
        grad_x = None
        if x.requires_grad:
            g_hat = g * weight.data
            grad_x = (g_hat - mean_along(g_hat) - x_hat * mean_along(g_hat, times=x_hat)) * rstd
        return (grad_x,
                ag.unbroadcast(g * x_hat, weight.shape) if weight.requires_grad else None,
                ag.unbroadcast(g, bias.shape) if bias.requires_grad else None)
    return ag._result(out, (x, weight, bias), backward)


def gelu(a):
    x = a.data
    out, t = gelu_forward(x)

    def backward(g):
        du = ag.GELU_C * (1 + 3 * 0.044715 * x * x)
        return (g * 0.5 * (1 + t + x * (1 - t * t) * du),)
    return ag._result(out, (a,), backward)
# END SOLVED


# ---------------------------------------------------------------------------
# 4. Optimizers over one flat buffer.
#
# All parameters live in one flat buffer: each parameter's `.data` becomes a
# view of its stretch of it, and the update is one formula over whole arrays
# (on a GPU a dozen kernels for the whole model, not a dozen per parameter).
# A per-member hyperparameter becomes one value per element of the buffer.
# SGD and AdamW below take autograd's classes for their checks and names and
# this FlatBuffer for the storage: SGD -> autograd.SGD -> FlatBuffer -> autograd.Optimizer.

class FlatBuffer(ag.Optimizer):
    def __init__(self, params, grokfast_alpha=0.98, grokfast_lambda=None, **hyper):
        self.params = ag.check_params(params)
        sizes = [p.data.size for p in self.params]
        self.offsets = [0]
        for n in sizes:
            self.offsets.append(self.offsets[-1] + n)
        self.flat = xp.concatenate([p.data.reshape(-1) for p in self.params])   # (N,) every parameter
        self.views = [self.flat[a:b].reshape(p.shape) for p, a, b in self._stretches()]
        for p, view in zip(self.params, self.views):
            p.data = view
        self.grad = xp.zeros_like(self.flat)                                      # (N,) their gradients
        self.hyper = self._checked_hyper(hyper, grokfast_alpha, grokfast_lambda)
        self.per_element = {name: self._per_element(value) for name, value in self.hyper.items()}
        self.steps = [0] * len(self.params)
        names = self.state_names + (("grokfast_ema",) if grokfast_lambda is not None else ())
        self.state = {name: xp.zeros_like(self.flat) for name in names}

    def _stretches(self):
        return [(p, self.offsets[i], self.offsets[i + 1]) for i, p in enumerate(self.params)]

    def _per_element(self, value):
        """A number stays a number; per-member values become one value per element of the buffer."""
        if isinstance(value, float):
            return value
        return ag.from_numpy(numpy.concatenate([numpy.repeat(value, p.data.size // len(value))
                                                for p in self.params]))

    def step(self):
        with ag.no_grad():
            self._adopt_replaced_data()
            ready = [i for i, p in enumerate(self.params) if p.grad is not None]
            if len(ready) == len(self.params):
                xp.concatenate([p.grad.reshape(-1) for p in self.params], out=self.grad)
            for i in ready:
                self.steps[i] += 1
                if len(ready) < len(self.params):
                    self.grad[self.offsets[i]:self.offsets[i + 1]] = self.params[i].grad.reshape(-1)
            for part, step in update_parts(self, ready):
                hyper = {name: v if isinstance(v, float) else v[part] for name, v in self.per_element.items()}
                state = {name: s[part] for name, s in self.state.items()}
                g = self.grad[part]
                if "grokfast_ema" in state:
                    g = self._grokfast(g, state["grokfast_ema"], hyper, step)
                self._update(self.flat[part], g, state, hyper, step)

    def _grokfast(self, g, ema, hyper, step):
        """autograd.grokfast, in place."""
        if step == 1:
            ema[...] = g
        else:
            ema *= hyper["grokfast_alpha"]
            ema += (1 - hyper["grokfast_alpha"]) * g
        return g + hyper["grokfast_lambda"] * ema

    def _adopt_replaced_data(self):
        """A parameter whose .data was replaced (a checkpoint loaded) goes back into the buffer."""
        for i, p in enumerate(self.params):
            if p.data is not self.views[i]:
                self.views[i][...] = p.data
                p.data = self.views[i]

    def state_dict(self):
        """The same entries as autograd.Optimizer.state_dict (checkpoints move between the two)."""
        out = {"steps": numpy.array(self.steps, dtype=numpy.int64)}
        out.update({f"hyper.{k}": numpy.asarray(v) for k, v in self.hyper.items()})
        out.update({f"state.{k}": ag.to_numpy(v) for k, v in self.state.items()})
        return out

    def load_state_dict(self, saved, finite=True):
        ag.check_state_dict(saved, self.hyper, tuple(self.state), self.params, finite)
        self.steps = [int(s) for s in saved["steps"]]
        for name in self.hyper:
            self.hyper[name] = ag._check_hyper(name, saved[f"hyper.{name}"], self.params)
            self.per_element[name] = self._per_element(self.hyper[name])
        for name in self.state:
            self.state[name] = ag.from_numpy(saved[f"state.{name}"])


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


def _is_zero(value):
    return isinstance(value, float) and value == 0.0


# SOLVED: the optimizer exercises' updates (a student copy leaves this out: see TEACHING.md)
class SGD(ag.SGD, FlatBuffer):
    """autograd.SGD, in place over a stretch of the flat buffer."""

    def _update(self, p, g, state, hyper, step):
        if not _is_zero(hyper["weight_decay"]):
            g = g + hyper["weight_decay"] * p
        if not _is_zero(hyper["momentum"]):
            buf = state["momentum_buffer"]
            if step == 1:
                buf[...] = g
            else:
                buf *= hyper["momentum"]
                buf += (1 - hyper["dampening"]) * g
            g = g + hyper["momentum"] * buf if self.nesterov else buf
        p -= hyper["lr"] * g


class AdamW(ag.AdamW, FlatBuffer):
    """autograd.AdamW, in place over a stretch of the flat buffer."""

    def _update(self, p, g, state, hyper, step):
        m, v = state["exp_avg"], state["exp_avg_sq"]
        p *= 1 - hyper["lr"] * hyper["weight_decay"]
        m *= hyper["beta1"]
        m += (1 - hyper["beta1"]) * g
        v *= hyper["beta2"]
        v += (1 - hyper["beta2"]) * g * g
        m_hat = m / (1 - hyper["beta1"] ** step)
        v_hat = v / (1 - hyper["beta2"] ** step)
        p -= hyper["lr"] * m_hat / (xp.sqrt(v_hat) + hyper["eps"])
# END SOLVED
