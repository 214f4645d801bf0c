"""The CuPy code path, proven on CPU with the strict stand-in (tools/strict_cupy.py).

The stand-in checks API use, host/device transfers and host syncs, not CUDA and
not speed. On a machine with a GPU the `backend` fixture's "cupy" parameter runs
the real thing; these tests pin what a training step may cost a GPU:
at most one host sync and (grokking model) at most 400 kernel launches.
"""
import dataclasses

import numpy as np
import pytest

import autograd as ag
import fastops
import plateau
import runs
import strict_cupy
from conftest import standin_if

TINY_GROK = plateau.GrokConfig(p=7, d_model=8, n_heads=2, batch_size=16, steps=6, eval_every=3, checkpoint_every=0,
                               seeds=(0, 1))
TINY_SEQ = plateau.SequenceConfig(n=4, d_model=8, batch_size=12, eval_size=8, steps=6, eval_every=3,
                                  checkpoint_every=0, tasks=("mws", "mwp"), seeds=(0, 1))


def quiet(*args):
    pass


@pytest.mark.cupy
@pytest.mark.integration
@pytest.mark.parametrize("cfg", [TINY_GROK, TINY_SEQ], ids=["grok", "sequence"])
def test_float64_training_on_the_standin_equals_numpy(cfg):
    cfg = dataclasses.replace(cfg, dtype="float64")
    on_cpu = runs.train(cfg, log=quiet)
    with standin_if(True):
        on_standin = runs.train(dataclasses.replace(cfg, backend="cupy"), log=quiet)
    assert [r["step"] for r in on_cpu.history] == [r["step"] for r in on_standin.history]
    np.testing.assert_allclose([r["loss"] for r in on_standin.history], [r["loss"] for r in on_cpu.history],
                               rtol=1e-12)
    for name, value in on_cpu.params.items():
        # atol: b_K gets a zero gradient in exact arithmetic (softmax ignores a shift), so it holds rounding noise
        np.testing.assert_allclose(on_standin.params[name], value, rtol=1e-9, atol=1e-10, err_msg=name)


@pytest.mark.cupy
@pytest.mark.integration
@pytest.mark.parametrize("cfg", [TINY_GROK, TINY_SEQ], ids=["grok", "sequence"])
def test_float32_train_runs_on_the_standin_with_a_run_folder(cfg, tmp_path):
    with standin_if(True):
        result = runs.train(dataclasses.replace(cfg, backend="cupy", checkpoint_every=3), out=str(tmp_path),
                               log=quiet)
    assert result.steps == cfg.steps and (tmp_path / "summary.json").exists()
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in result.params.values())


def _step_counts(cfg, E, set_backend=True):
    """Host syncs and kernel launches of one training step (after a warm-up step), on the stand-in."""
    with standin_if(True):
        if set_backend:
            fastops.set_backend("cupy")
        cfg = dataclasses.replace(cfg, seeds=tuple(range(E)), backend="cupy")
        problem = plateau.make_problem(cfg)
        params = problem.init_params()
        optimizer = plateau.make_optimizer(cfg, list(params.values()))
        watch = plateau.NonFiniteWatch(cfg)
        plateau.train_step(problem, params, optimizer, 0, watch)
        with strict_cupy.counting(trace=True) as c:
            plateau.train_step(problem, params, optimizer, 1, watch)
    return c


@pytest.mark.speed_path
@pytest.mark.cupy
@pytest.mark.integration
@pytest.mark.parametrize("E", [1, 8])
@pytest.mark.parametrize("model", ["grok", "sequence"])
def test_a_training_step_syncs_at_most_once(model, E):
    cfg = plateau.GrokConfig(batch_size=16) if model == "grok" else plateau.SequenceConfig(batch_size=12)
    c = _step_counts(cfg, E)
    assert c.syncs <= 1, [e for e in c.events if e[0] == "sync"]


def _counts_with(op, use_fast, optimizer="adamw"):
    """Launches and syncs of one grokking step on the stand-in, with `op` fastops' (use_fast)
    or autograd's own, every other op as fastops.set_backend("cupy") leaves it."""
    with standin_if(True):
        fastops.set_backend("cupy")
        setattr(ag, op, getattr(fastops, op) if use_fast else fastops._PLAIN[op])
        try:
            c = _step_counts(plateau.GrokConfig(batch_size=16, optimizer=optimizer), 1, set_backend=False)
        finally:
            fastops.set_backend("cupy")
    return c.launches, c.syncs


@pytest.mark.speed_path
@pytest.mark.cupy
@pytest.mark.integration
@pytest.mark.parametrize("op", [op for op in fastops.SWAPPED if op not in ("matmul", "linear")])
def test_a_trick_is_swapped_in_on_a_gpu_only_where_it_saves_launches_or_syncs(op):
    """Issue 20: fastops.TRICKS, checked. matmul and linear are swapped in everywhere for
    bench.py's record of the products, not for the GPU's sake."""
    optimizer = "sgd" if op == "SGD" else "adamw"
    (fast_launches, fast_syncs), (plain_launches, plain_syncs) = (_counts_with(op, True, optimizer),
                                                                  _counts_with(op, False, optimizer))
    saves = fast_launches < plain_launches or fast_syncs < plain_syncs
    assert saves == (op in fastops.swapped_on("cupy")), (fast_launches, fast_syncs, plain_launches, plain_syncs)


@pytest.mark.speed_path
@pytest.mark.cupy
@pytest.mark.integration
@pytest.mark.parametrize("E", [1, 8])
def test_a_grokking_step_launches_at_most_400_kernels(E):
    """The default grokking model (2 blocks, 4 heads); the count does not grow with E."""
    c = _step_counts(plateau.GrokConfig(batch_size=16), E)
    assert c.launches <= 400, c.launches


@pytest.mark.speed_path
@pytest.mark.cupy
def test_the_optimizer_updates_the_whole_buffer_in_a_few_kernels():
    """On a GPU, all 36 parameters of the grokking model in one stretch: a dozen kernels, not a dozen per parameter."""
    with standin_if(True):
        fastops.set_backend("cupy")
        cfg = plateau.GrokConfig(batch_size=16, backend="cupy")
        params = plateau.stack_members([plateau.init_grok_member(cfg, np.random.default_rng(0))])
        optimizer = plateau.make_optimizer(cfg, list(params.values()))
        for p in params.values():
            p.grad = ag.xp.ones_like(p.data)
        with strict_cupy.counting() as c:
            optimizer.step()
    assert len(params) == 36 and c.launches <= 20 and c.syncs == 0


def test_import_cupy_turns_a_broken_gpu_into_one_backend_error(monkeypatch):
    """CuPy imports and sees a device, but its first kernel fails (no NVRTC, say)."""
    with standin_if(True):
        cupy = strict_cupy.cupy
        monkeypatch.setattr(cupy, "arange", lambda *a, **k: (_ for _ in ()).throw(
            RuntimeError("CUDA_ERROR_FILE_NOT_FOUND: libnvrtc.so.13 not found\nmore detail")))
        with pytest.raises(ag.BackendError, match="cannot run on it .RuntimeError: CUDA_ERROR_FILE_NOT_FOUND"):
            fastops.set_backend("cupy")
        monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", lambda: 0)
        with pytest.raises(ag.BackendError, match="no CUDA GPU is visible"):
            fastops.set_backend("cupy")


def test_a_numpy_array_given_to_a_tensor_on_the_gpu_backend_is_refused():
    """No silent host-to-device copy at every use: Tensor() names the fix (autograd.from_numpy)."""
    with standin_if(True):
        fastops.set_backend("cupy", "float32")
        try:
            with pytest.raises(TypeError, match="from_numpy"):
                ag.Tensor(np.zeros(3))
            assert ag.Tensor(ag.from_numpy(np.zeros(3))).data.shape == (3,)
        finally:
            fastops.set_backend("numpy", "float32")
    assert ag.Tensor(np.zeros(3)).data.shape == (3,)  # on NumPy a NumPy array is the backend's own
