"""The speed path (fastops.py) against the lesson (autograd.py): each helper against
its plain expression, each swapped op against autograd's own (bit for bit where
the operations are the same, within float32 rounding where they are reordered),
the flat-buffer optimizer against the per-parameter one, and whole training steps."""
import dataclasses

import numpy as np
import pytest

import autograd as ag
import fastops
import plateau
from test_autograd import OPS

pytestmark = pytest.mark.speed_path  # a student copy has no speed path: skipped there
rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


@pytest.fixture(params=["numpy", pytest.param("standin", marks=pytest.mark.cupy)])
def fast(request):
    """The fast path, in float64, on NumPy and on the CuPy stand-in."""
    from conftest import standin_if
    with standin_if(request.param == "standin"):
        fastops.set_backend("numpy" if request.param == "numpy" else "cupy", "float64")
        yield request.param


def test_set_backend_swaps_the_ops_and_back():
    fastops.set_backend("numpy")
    assert all(getattr(ag, name) is getattr(fastops, name) for name in fastops.SWAPPED)
    fastops.set_backend("numpy", fast=False)
    assert all(getattr(ag, name).__module__ == "autograd" for name in fastops.SWAPPED)


# -- helpers against their plain expressions ------------------------------------------
@pytest.mark.parametrize("shape, axes", [
    ((4, 5, 6), (1,)), ((4, 5, 6), (0, 1)), ((4, 5, 6), (1, 2)), ((4, 5, 6), (0,)), ((4, 5, 6), (2,)),
    ((3, 4, 5, 6), (1, 2)), ((50, 3, 2), (1,)), ((4, 5, 6), (0, 2)), ((4, 5, 6), ()), ((0, 5, 6), (1,)),
    ((4, 5, 6), (0, 1, 2))])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_sum_over_axes_matches_numpy(fast, shape, axes, layout):
    """sum_over (a product with ones over a run of axes) is ndarray.sum, whatever the case."""
    x = randn(*shape)
    if layout == "transposed":
        x = np.ascontiguousarray(x.swapaxes(0, -1)).swapaxes(0, -1)
    on = ag.from_numpy(x)
    if layout == "transposed":
        on = on.swapaxes(0, -1).copy().swapaxes(0, -1)  # same layout on the backend
    np.testing.assert_allclose(ag.to_numpy(fastops.sum_over(on, axes)), x.sum(axis=axes), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, axis", [((7, 5), -1), ((7, 5), 0), ((3, 4, 6), 1), ((50, 3), -1), ((2, 9), -1)])
def test_sum_along_and_max_along_match_numpy(fast, shape, axis):
    """sum_along and max_along are x.sum / x.max(axis, keepdims=True)."""
    x, times = randn(*shape), randn(*shape)
    on, on_times = ag.from_numpy(x), ag.from_numpy(times)
    np.testing.assert_allclose(ag.to_numpy(fastops.sum_along(on, axis)), x.sum(axis, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(ag.to_numpy(fastops.sum_along(on, axis, times=on_times)),
                               (x * times).sum(axis, keepdims=True), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(ag.to_numpy(fastops.max_along(on, axis)), x.max(axis, keepdims=True))


def test_normalize_is_x_hat_and_one_over_sigma(fast):
    x = randn(3, 4, 6)
    x_hat, rstd = fastops.normalize(ag.from_numpy(x), 1e-5)
    sigma = np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ag.to_numpy(rstd), 1 / sigma, rtol=1e-12)
    np.testing.assert_allclose(ag.to_numpy(x_hat), (x - x.mean(-1, keepdims=True)) / sigma, rtol=1e-10, atol=1e-12)


def test_gelu_forward_is_the_plain_formula(fast):
    """gelu_forward computes x·(1 + t)/2 and t = tanh(c·(x + 0.044715·x³))."""
    x = randn(4, 7) * 3
    out, t = fastops.gelu_forward(ag.from_numpy(x))
    plain_t = np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))
    np.testing.assert_allclose(ag.to_numpy(t), plain_t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ag.to_numpy(out), 0.5 * x * (1 + plain_t), rtol=1e-12, atol=1e-15)


# -- the swapped ops: gradients, and the same numbers as autograd's own ------------------
SWAPPED_OPS = [op for op in OPS if any(word in op[0] for word in
                                       ("matmul", "linear", "softmax", "cross_entropy", "layer_norm", "gelu",
                                        "embedding", "attention"))]


@pytest.mark.integration  # the fast ops call unbroadcast, an exercise
@pytest.mark.parametrize("fn, inputs, wrt", [pytest.param(f, i, rest[0] if rest else None, id=n)
                                             for n, ex, f, i, *rest in SWAPPED_OPS])
def test_fast_op_gradient_matches_finite_differences(fast, fn, inputs, wrt):
    assert ag.check_grad(fn, *[ag.from_numpy(x) if isinstance(x, np.ndarray) else x for x in inputs], wrt=wrt)


def _forward_and_gradients(fn, inputs, fast_path):
    """fn's output and its inputs' gradients (seeded with a fixed projection), in float32."""
    fastops.set_backend("numpy", "float32", fast=fast_path)
    tensors = [ag.Tensor(x.astype(np.float32), requires_grad=True) if isinstance(x, np.ndarray) and x.dtype.kind == "f"
               else x for x in inputs]  # integer inputs (targets, ids) stay integers
    out = fn(*tensors)
    out.backward(np.random.default_rng(1).standard_normal(out.shape).astype(np.float32))
    return [out.data] + [t.grad for t in tensors if isinstance(t, ag.Tensor) and t.requires_grad]


SAME_OPERATIONS = {"matmul-2d", "matmul-ensemble", "matmul-shared-weight", "matmul-batch-broadcast",
                   "matmul-head-split", "linear-no-bias", "embedding"}


@pytest.mark.integration  # autograd's own ops hold the exercises
@pytest.mark.parametrize("name, fn, inputs", [pytest.param(n, f, i, id=n) for n, ex, f, i, *rest in SWAPPED_OPS])
def test_fast_op_gives_autograds_numbers(name, fn, inputs):
    """Bit for bit where the fast op performs the same operations; else within float32 rounding."""
    plain, quick = _forward_and_gradients(fn, inputs, False), _forward_and_gradients(fn, inputs, True)
    for a, b in zip(plain, quick):
        if name in SAME_OPERATIONS:
            np.testing.assert_array_equal(b, a)
        else:
            np.testing.assert_allclose(b, a, rtol=2e-6, atol=2e-6)


# -- the flat-buffer optimizer against autograd's per-parameter one ----------------------
OPTIMIZERS = [
    ("AdamW", dict(lr=0.1, betas=(0.9, 0.98), weight_decay=0.5)),
    ("AdamW", dict(lr=np.array([1e-3, 1e-2]), weight_decay=np.array([1.0, 0.0]), grokfast_lambda=np.array([0.0, 2.0]))),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, grokfast_lambda=5.0, grokfast_alpha=0.8)),
    ("SGD", dict(lr=np.array([0.1, 0.05]), momentum=np.array([0.0, 0.9]), weight_decay=np.array([0.01, 0.0]))),
]


@pytest.mark.integration  # autograd's optimizers hold the exercises
@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIMIZERS)])
def test_flat_buffer_optimizer_gives_autograds_numbers_bit_for_bit(name, kwargs):
    """The same operations in the same order: float32 parameters and state equal bit for bit,
    and the state dicts (checkpoints) have the same entries and move between the two."""
    fastops.set_backend("numpy", "float32")
    starts = [randn(2, 3), randn(2, 1, 4), randn(2, 5)]
    grads = [[randn(*x.shape).astype(np.float32) for x in starts] for _ in range(4)]
    results = []
    for cls in (getattr(ag, name), getattr(fastops, name)):
        ps = [ag.Tensor(x, requires_grad=True) for x in starts]
        opt = cls(ps, **kwargs)
        for step_grads in grads[:3]:
            for p, g in zip(ps, step_grads):
                p.grad = g
            opt.step()
        results.append(([p.data.copy() for p in ps], opt.state_dict(), opt))
    (plain, plain_state, plain_opt), (quick, quick_state, quick_opt) = results
    for a, b in zip(plain, quick):
        np.testing.assert_array_equal(b, a)
    assert set(plain_state) == set(quick_state)
    for key in plain_state:
        np.testing.assert_array_equal(quick_state[key], plain_state[key], err_msg=key)
    quick_opt.load_state_dict(plain_state)  # a checkpoint of one path resumes on the other
    plain_opt.load_state_dict(quick_state)
    for opt in (plain_opt, quick_opt):
        for p, g in zip(opt.params, grads[3]):
            p.grad = g
        opt.step()
    for a, b in zip(plain_opt.params, quick_opt.params):
        np.testing.assert_array_equal(b.data, a.data)


def test_parameters_become_views_of_one_flat_buffer():
    a, b = ag.Tensor(np.ones((2, 3)), requires_grad=True), ag.Tensor(np.zeros(4), requires_grad=True)
    opt = fastops.AdamW([a, b])
    assert opt.flat.shape == (10,)
    opt.flat[...] = np.arange(10)
    np.testing.assert_array_equal(a.data, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(b.data, [6, 7, 8, 9])


def test_replaced_parameter_data_goes_back_into_the_buffer():
    """Loading a checkpoint assigns p.data; the next step updates the new values, in the buffer."""
    p = ag.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = fastops.SGD([p], lr=0.5)
    p.data = np.array([3.0, 4.0], dtype=np.float32)
    p.grad = np.array([1.0, 1.0], dtype=np.float32)
    opt.step()
    np.testing.assert_allclose(p.data, [2.5, 3.5])
    assert p.data is opt.views[0]


def test_whole_buffer_update_equals_the_per_parameter_update(fast, monkeypatch):
    """update_parts picks the stretches updated together; the result does not depend on it."""
    starts, grads = [randn(2, 3), randn(4), randn(2, 1, 5)], [randn(2, 3), randn(4), randn(2, 1, 5)]
    results = []
    for whole in (False, True):
        if whole:
            monkeypatch.setattr(fastops, "update_parts",
                                lambda opt, ready: [(slice(0, opt.flat.size), opt.steps[0])])
        ps = [ag.Tensor(ag.from_numpy(x), requires_grad=True) for x in starts]
        opt = fastops.AdamW(ps, lr=0.1, weight_decay=0.5, grokfast_lambda=2.0)
        for _ in range(3):
            for p, g in zip(ps, grads):
                p.grad = ag.from_numpy(g)
            opt.step()
        results.append([ag.to_numpy(p.data) for p in ps])
    for split, whole in zip(*results):
        np.testing.assert_allclose(split, whole, rtol=1e-12)


# -- whole training steps ----------------------------------------------------------------
TINY = {"grok": plateau.GrokConfig(p=7, d_model=8, n_heads=2, batch_size=16, seeds=(0, 1), dtype="float64"),
        "sequence": plateau.SequenceConfig(n=4, d_model=8, batch_size=12, eval_size=8, tasks=("mws", "mwp"),
                                           seeds=(0, 1), dtype="float64")}


@pytest.mark.integration
@pytest.mark.parametrize("model", ["grok", "sequence"])
def test_training_steps_agree_on_both_paths(model):
    """Five steps of each model in float64: the fast and the plain path agree to rounding."""
    results = []
    for fast_path in (False, True):
        cfg = TINY[model]
        fastops.set_backend("numpy", "float64", fast=fast_path)
        problem = plateau.make_problem(cfg)
        params = problem.init_params()
        optimizer = plateau.make_optimizer(cfg, list(params.values()))
        for step in range(5):
            plateau.train_step(problem, params, optimizer, step)
        results.append({k: ag.to_numpy(v.data) for k, v in params.items()})
    for name in results[0]:
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_tiny_configs_are_valid():
    for cfg in TINY.values():
        plateau.check_config(dataclasses.replace(cfg))
