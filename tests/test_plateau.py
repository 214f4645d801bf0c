"""The models and the training loop: ensembles, exact resume, NaN stop, metrics."""
import dataclasses
import os

import numpy as np
import pytest

import analysis
import autograd as ag
import fastops
import plateau
import runs
import tasks

TINY_GROK = plateau.GrokConfig(p=7, d_model=8, n_heads=2, batch_size=16, steps=6, eval_every=3,
                               dtype="float64", checkpoint_every=0)
TINY_SEQ = plateau.SequenceConfig(n=4, d_model=8, batch_size=12, eval_size=8, steps=6, eval_every=3,
                                  dtype="float64", tasks=("mws", "mwp"), checkpoint_every=0)


def quiet(*args):
    pass


@pytest.mark.integration
@pytest.mark.parametrize("cfg", [TINY_GROK, dataclasses.replace(TINY_GROK, norm="pre", init="sparse"),
                                 TINY_SEQ, dataclasses.replace(TINY_SEQ, attention="softmax")],
                         ids=["grok-post", "grok-pre-sparse", "sequence-linear", "sequence-softmax"])
def test_ensemble_of_three_equals_three_single_runs(cfg):
    together = runs.train(dataclasses.replace(cfg, seeds=(0, 1, 2)), log=quiet)
    for e, seed in enumerate((0, 1, 2)):
        alone = runs.train(dataclasses.replace(cfg, seeds=(seed,)), log=quiet)
        mine = [r["loss"] for r in together.history if r["member"] == e]
        np.testing.assert_allclose(mine, [r["loss"] for r in alone.history], rtol=1e-10)
        for name, value in alone.params.items():
            np.testing.assert_allclose(together.params[name][e], value[0], rtol=1e-8, atol=1e-12)


@pytest.mark.integration
def test_last_position_shortcut_matches_the_full_forward():
    """The final block computes only the last position; the result is the same."""
    fastops.set_backend("numpy", "float64")
    cfg = dataclasses.replace(TINY_GROK, seeds=(0, 1))
    problem = plateau.ArithmeticProblem(cfg)
    params = problem.init_params()
    tokens = problem.data["div", "val"][0][:, :5]
    fast = plateau.grok_forward(params, tokens, cfg).data
    x = plateau.embed(params, tokens)
    for layer in range(cfg.n_layers):
        x = plateau.grok_block(params, x, layer, cfg, last_only=False)
    full = ag.linear(x[:, :, -1], params["W_U"], params["b_U"]).data
    np.testing.assert_allclose(fast, full, rtol=1e-12)


@pytest.mark.integration
@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_outputs_only_forward_gives_the_full_forward_loss_and_gradients(attention):
    """Training computes queries, MLP and read-out for the n output positions only;
    the loss and every gradient are those of the full forward pass."""
    fastops.set_backend("numpy", "float64")
    cfg = dataclasses.replace(TINY_SEQ, seeds=(0, 1), attention=attention)
    problem = plateau.SequenceProblem(cfg)
    grads = []
    for outputs_only in (False, True):
        params = problem.init_params()
        inputs, targets = tasks.next_token_pairs(problem.batch(3).reshape(-1, 2 * cfg.n + 1), cfg.n)
        inputs, targets = inputs.reshape(2, -1, 2 * cfg.n), targets.reshape(2, -1, 2 * cfg.n)
        logits, hidden, weights = plateau.sequence_forward(params, ag.Tensor(inputs), cfg, outputs_only)
        if outputs_only:
            targets = targets[:, :, -cfg.n:]
        loss = ag.cross_entropy(logits, targets, per_member=True)
        loss.sum().backward()
        grads.append((ag.to_numpy(loss), {k: ag.to_numpy(v.grad) for k, v in params.items()}))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12)
    for name, full in grads[0][1].items():
        np.testing.assert_allclose(grads[1][1][name], full, rtol=1e-9, atol=1e-14, err_msg=name)


@pytest.mark.integration
def test_resumed_run_ends_with_the_same_parameters(tmp_path):
    cfg = dataclasses.replace(TINY_GROK, steps=8, eval_every=2, checkpoint_every=3, seeds=(0, 1))
    straight = runs.train(cfg, out=str(tmp_path / "a"), log=quiet)
    runs.train(dataclasses.replace(cfg, steps=5), out=str(tmp_path / "b"), log=quiet)
    resumed = runs.train(cfg, out=str(tmp_path / "b"), resume=True, log=quiet)
    for name, value in straight.params.items():
        np.testing.assert_array_equal(resumed.params[name], value)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]


@pytest.mark.integration
def test_resume_refuses_a_different_config(tmp_path):
    runs.train(dataclasses.replace(TINY_GROK, checkpoint_every=2), out=str(tmp_path), log=quiet)
    with pytest.raises(ValueError, match="weight_decay"):
        runs.train(dataclasses.replace(TINY_GROK, weight_decay=0.5), out=str(tmp_path),
                      resume=True, log=quiet)


@pytest.mark.integration
def test_run_folder_contents(tmp_path):
    runs.train(TINY_SEQ, out=str(tmp_path), log=quiet)
    for name in ("config.json", "history.csv", "summary.json", "params.npz"):
        assert os.path.exists(tmp_path / name)
    rows = runs.read_history(str(tmp_path / "history.csv"))
    assert {r["task"] for r in rows} == {"mws", "mwp"} and rows[-1]["step"] == 6
    assert plateau.config_from_dict(runs.read_json(str(tmp_path / "config.json"))) == TINY_SEQ


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_with_the_step():
    cfg = dataclasses.replace(TINY_GROK, lr=1e30, optimizer="sgd", weight_decay=0.0)
    with pytest.raises(plateau.TrainingDiverged, match=r"(at|by) step \d+ \(member 0, seed 0\)"):
        runs.train(dataclasses.replace(cfg, steps=50), log=quiet)


@pytest.mark.integration
def test_per_member_learning_rates():
    cfg = dataclasses.replace(TINY_GROK, seeds=(0, 0), lr=[1e-3, 0.0], weight_decay=[1.0, 0.0])
    result = runs.train(cfg, log=quiet)
    fresh = plateau.ArithmeticProblem(cfg).init_params()
    np.testing.assert_array_equal(result.params["W_U"][1], ag.to_numpy(fresh["W_U"].data[1]))
    assert not np.array_equal(result.params["W_U"][0], ag.to_numpy(fresh["W_U"].data[0]))


@pytest.mark.integration
@pytest.mark.parametrize("cfg", [
    dataclasses.replace(TINY_GROK, seeds=(0, 1, 0), init=("default", "small", "sparse"), init_scale=(0.01, 0.1, 0.01),
                        sparsity=(0.9, 0.9, 0.5), init_scope=("linear", "all", "all"), lr=(1e-3, 3e-3, 2e-3),
                        weight_decay=(1.0, 0.0, 0.1), grokfast_lambda=(0.0, 2.0, 5.0)),
    dataclasses.replace(TINY_GROK, seeds=(2, 2, 3), optimizer="sgd", lr=(0.05, 0.01, 0.02), momentum=(0.0, 0.9, 0.5),
                        weight_decay=(1e-3, 0.0, 1e-2)),
    dataclasses.replace(TINY_SEQ, seeds=(0, 1), lr=(1e-3, 3e-3), weight_decay=(0.0, 0.1), grokfast_lambda=(2.0, 0.0))],
    ids=["grok-adamw-init-grid", "grok-sgd-grid", "sequence"])
def test_mixed_ensemble_equals_its_members_trained_alone(cfg):
    """Per-member settings (init kind, scale, sparsity, scope, lr, weight decay, momentum,
    Grokfast, seed): one ensemble run equals each member's own run."""
    together = runs.train(cfg, log=quiet)
    for e in range(len(cfg.seeds)):
        alone = runs.train(dataclasses.replace(plateau.member_config(cfg, e), seeds=(cfg.seeds[e],)), log=quiet)
        mine = [r["loss"] for r in together.history if r["member"] == e]
        np.testing.assert_allclose(mine, [r["loss"] for r in alone.history], rtol=1e-10)
        for name, value in alone.params.items():
            np.testing.assert_allclose(together.params[name][e], value[0], rtol=1e-8, atol=1e-12, err_msg=name)


BAD_CONFIGS = [  # (config change, the field the error names)
    (dict(seeds=()), "seeds"), (dict(seeds=(-1,)), "seeds"), (dict(steps=0), "steps"), (dict(eval_every=0), "eval_every"),
    (dict(patience=0), "patience"), (dict(batch_size=0), "batch_size"), (dict(checkpoint_every=-1), "checkpoint_every"),
    (dict(threshold=1.5), "threshold"), (dict(threshold=0), "threshold"), (dict(optimizer="adam"), "optimizer"),
    (dict(lr=-1e-3), "lr"), (dict(weight_decay=-1.0), "weight_decay"), (dict(betas=(0.9, 1.0)), "betas"),
    (dict(momentum=0.9), "momentum"), (dict(optimizer="sgd", momentum=1.0), "momentum"),
    (dict(grokfast_lambda=-1.0), "grokfast_lambda"), (dict(grokfast_alpha=1.0), "grokfast_alpha"),
    (dict(lr=(1e-3, 1e-3)), "lr"), (dict(backend="torch"), "backend"), (dict(dtype="float16"), "dtype"),
    (dict(ops=()), "ops"), (dict(ops=("div", "div")), "ops"), (dict(ops=("pow",)), "ops"), (dict(p=1), "p"),
    (dict(p=12), "p"), (dict(p=5000), "p"), (dict(frac_train=1.0), "frac_train"), (dict(frac_train=0.001), "frac_train"),
    (dict(d_model=0), "d_model"), (dict(n_heads=3), "n_heads"), (dict(n_layers=0), "n_layers"), (dict(norm="mid"), "norm"),
    (dict(init="tiny"), "init"), (dict(init_scope="some"), "init_scope"), (dict(init="small", init_scale=0.0), "init_scale"),
    (dict(sparsity=1.0), "sparsity"),
]
BAD_SEQUENCE = [(dict(tasks=()), "tasks"), (dict(tasks=("mws", "mws")), "tasks"), (dict(tasks=("mwx",)), "tasks"),
                (dict(n=0), "n"), (dict(k=0), "k"), (dict(eval_size=0), "eval_size"), (dict(p=1), "p"),
                (dict(tasks=("mws", "mwp"), batch_size=1), "batch_size"), (dict(attention="local"), "attention")]


@pytest.mark.parametrize("base, change, field", [(TINY_GROK, c, f) for c, f in BAD_CONFIGS] +
                         [(TINY_SEQ, c, f) for c, f in BAD_SEQUENCE],
                         ids=[f"grok-{f}-{i}" for i, (c, f) in enumerate(BAD_CONFIGS)] +
                             [f"sequence-{f}-{i}" for i, (c, f) in enumerate(BAD_SEQUENCE)])
def test_config_out_of_range_names_its_field(base, change, field):
    with pytest.raises(plateau.ConfigError) as error:
        plateau.check_config(dataclasses.replace(base, **change))
    assert error.value.field == field


def test_collapses_count_falls_after_memorising():
    assert analysis.collapses([0.1, 0.96, 0.99, 0.2, 0.1, 0.97, 0.3, 0.98], 0.95) == 2
    assert analysis.collapses([0.1, 0.4, 0.2], 0.95) == 0
    assert analysis.collapses([0.96, 0.7, 0.96], 0.95) == 0  # a dip above 50% is not a collapse


def test_small_and_sparse_init_touch_the_linear_layers_only_by_default():
    rng = lambda: np.random.default_rng(0)
    default = plateau.init_grok_member(TINY_GROK, rng())
    small = plateau.init_grok_member(dataclasses.replace(TINY_GROK, init="small"), rng())
    sparse = plateau.init_grok_member(dataclasses.replace(TINY_GROK, init="sparse", d_model=64), rng())
    assert np.abs(small["blocks.0.W_in"]).max() < 0.05 and np.abs(small["W_E"]).max() > 0.5
    assert np.abs(small["blocks.0.W_Q"]).max() > 0.05
    zeros = (sparse["blocks.0.W_in"] == 0).mean()
    assert 0.85 < zeros < 0.95 and (sparse["blocks.0.W_Q"] != 0).all()
    everywhere = plateau.init_grok_member(dataclasses.replace(TINY_GROK, init="small", init_scope="all"), rng())
    assert np.abs(everywhere["W_E"]).max() < 0.05
    assert default["blocks.0.b_O"].any() == False  # noqa: E712 (MultiheadAttention zeroes it)


def test_plateau_diagnostics_on_a_known_case():
    """Identical hidden states everywhere: collapse 1; constant guesses: repetition 1."""
    fastops.set_backend("numpy", "float64")
    E, B, n, V, D = 1, 2, 4, 5, 3
    logits = ag.Tensor(np.tile(np.eye(V)[2], (E, B, 2 * n, 1)))
    hidden = ag.Tensor(np.ones((E, B, 2 * n, D)))
    targets = np.full((E, B, 2 * n), -1)
    targets[..., n:] = 2
    m = plateau.output_metrics(logits, hidden, targets, n)
    assert m["acc"][0] == 1.0 and m["repetition"][0] == 1.0 and m["collapse"][0] == pytest.approx(1.0)


@pytest.mark.integration
def test_bad_optimizer_name():
    with pytest.raises(plateau.ConfigError, match="one of adamw, sgd"):
        runs.train(dataclasses.replace(TINY_GROK, optimizer="adam"), log=quiet)


@pytest.mark.linear_attention
def test_linear_attention_against_a_loop():
    """A[i, j] = q_i·k_j/√D for j <= i and 0 after; y_i = Σ_j A[i, j] v_j."""
    fastops.set_backend("numpy", "float64")
    cfg = dataclasses.replace(TINY_SEQ, seeds=(0,))
    raw = plateau.init_sequence_member(cfg, np.random.default_rng(0))
    raw.update({k: np.random.default_rng(1).standard_normal(v.shape) for k, v in raw.items() if k.startswith("b_")})
    params = {k: ag.Tensor(v[None]) for k, v in raw.items()}
    h = np.random.default_rng(2).standard_normal((1, 2, 5, cfg.d_model))
    y, weights = plateau.single_head_attention(params, ag.Tensor(h), "linear")
    q, k, v = (h[0] @ raw[f"W_{n}"] + raw[f"b_{n}"] for n in "QKV")
    for b in range(2):
        for i in range(5):
            expect = [q[b, i] @ k[b, j] / np.sqrt(cfg.d_model) if j <= i else 0.0 for j in range(5)]
            np.testing.assert_allclose(weights.data[0, b, i], expect, rtol=1e-10, atol=1e-12)
            out = sum(expect[j] * v[b, j] for j in range(5)) @ raw["W_O"] + raw["b_O"][0]
            np.testing.assert_allclose(y.data[0, b, i], out, rtol=1e-10)


class Float64Trap(np.ndarray):
    """An ndarray that records every ufunc that has a float64 operand or result
    (a NumPy float64 scalar against a float32 array makes the whole pass float64)."""
    seen = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = lambda a: a.view(np.ndarray) if isinstance(a, Float64Trap) else a
        inputs = [plain(a) for a in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(plain(o) for o in kwargs["out"])
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if any(getattr(a, "dtype", None) == np.float64 for a in inputs + [result]):
            Float64Trap.seen.append(ufunc.__name__)
        return result.view(Float64Trap) if isinstance(result, np.ndarray) and result.ndim else result


@pytest.mark.integration
@pytest.mark.parametrize("cfg", [TINY_GROK, TINY_SEQ], ids=["grok", "sequence"])
def test_float32_training_computes_nothing_in_float64(cfg):
    """Speed: a float32 step stays float32 all the way, optimizer included (per-member lr, Grokfast)."""
    fastops.set_backend("numpy", "float32")
    problem = plateau.make_problem(dataclasses.replace(cfg, dtype="float32", seeds=(0, 1)))
    params = problem.init_params()
    optimizer = ag.AdamW(list(params.values()), lr=np.array([1e-3, 1e-2]), weight_decay=1.0,
                         grokfast_lambda=np.array([0.0, 2.0]))
    trap = lambda a: a.view(Float64Trap)
    optimizer.flat, optimizer.grad = trap(optimizer.flat), trap(optimizer.grad)
    optimizer.state = {k: trap(v) for k, v in optimizer.state.items()}
    optimizer.per_element = {k: v if isinstance(v, float) else trap(v) for k, v in optimizer.per_element.items()}
    optimizer.views = [optimizer.flat[a:b].reshape(p.shape) for p, a, b in optimizer._stretches()]
    for p, view in zip(params.values(), optimizer.views):
        p.data = view
    Float64Trap.seen = []
    for step in range(2):
        plateau.train_step(problem, params, optimizer, step)
    assert all(isinstance(p.data, Float64Trap) for p in params.values())  # the trap stayed on
    assert Float64Trap.seen == []


# -- what the delay law reads: norms and the train-val gap (issue 19) ---------------------------

@pytest.mark.integration
def test_history_logs_the_squared_norms_and_the_gap(tmp_path):
    """norm2 is the squared norm of every parameter, the groups add up to it, gap = train - val
    accuracy; and a resumed run logs the very same numbers (they are part of history.csv)."""
    cfg = dataclasses.replace(TINY_GROK, seeds=(0, 1), steps=6, eval_every=3, checkpoint_every=3)
    result = runs.train(cfg, out=str(tmp_path / "a"), log=quiet)
    last = [r for r in result.history if r["step"] == result.steps]
    for e in range(2):
        rows = [r for r in last if r["member"] == e]
        expected = sum(float((value[e].astype(np.float64) ** 2).sum()) for value in result.params.values())
        for r in rows:
            assert r["norm2"] == pytest.approx(expected, rel=1e-12)
            assert r["norm2"] == pytest.approx(sum(r[f"norm2_{g}"] for g in plateau.NORM_GROUPS), rel=1e-12)
        train, val = (next(r for r in rows if r["split"] == s) for s in ("train", "val"))
        assert train["gap"] == val["gap"] == pytest.approx(train["acc"] - val["acc"])
    assert {plateau.norm_group(n) for n in result.params} == set(plateau.NORM_GROUPS)
    runs.train(dataclasses.replace(cfg, steps=3), out=str(tmp_path / "b"), log=quiet)
    runs.train(cfg, out=str(tmp_path / "b"), resume=True, log=quiet)
    assert (tmp_path / "a" / "history.csv").read_bytes() == (tmp_path / "b" / "history.csv").read_bytes()


@pytest.mark.integration
def test_balanced_batches_give_each_operation_its_share():
    cfg = dataclasses.replace(TINY_GROK, ops=("div", "add", "mul"), batch_size=32, batch_mix="balanced")
    problem = plateau.ArithmeticProblem(cfg)
    sizes = [problem.data[op, "train"][1].shape[1] for op in cfg.ops]
    picks = problem._picks(np.random.default_rng(0))
    edges = np.cumsum([0] + sizes)
    counts = [int(((picks >= a) & (picks < b)).sum()) for a, b in zip(edges[:-1], edges[1:])]
    assert counts == [11, 11, 10]
    pooled = plateau.ArithmeticProblem(dataclasses.replace(cfg, batch_mix="pool"))
    assert pooled._picks(np.random.default_rng(0)).shape == (32,)
    with pytest.raises(plateau.ConfigError, match="batch_mix"):
        plateau.check_config(dataclasses.replace(cfg, batch_mix="even"))


# -- each config field declared once: its check in the library and on the command line ----------

BAD_FIELDS = [("steps", "10"), ("steps", 2.5), ("steps", True), ("seeds", 3), ("seeds", ()), ("seeds", (0, -1)),
              ("p", 11.5), ("ops", "div"), ("ops", ("div", "div")), ("ops", ("pow",)), ("eval_every", 2.5),
              ("lr", float("inf")), ("lr", -1.0), ("lr", "0.1"), ("weight_decay", float("nan")),
              ("betas", (2, 5)), ("betas", (0.9,)), ("momentum", -3.0), ("init", "tiny"), ("init_scale", 0.0),
              ("sparsity", 1.0), ("frac_train", 1.0), ("grokfast_alpha", 1.0), ("threshold", 0.0),
              ("backend", "torch"), ("lr", (1e-3, 1e-3)), ("batch_mix", "even"), ("n_heads", 0)]


@pytest.mark.parametrize("field, value", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_a_bad_config_field_is_named(field, value):
    """GrokConfig(steps='10'), ops='div' (letters) or lr=inf: a ConfigError naming the field, never a
    TypeError from deep inside, never accepted."""
    with pytest.raises(plateau.ConfigError) as error:
        plateau.check_config(dataclasses.replace(TINY_GROK, **{field: value}))
    assert error.value.field == field


def test_sequence_fields_are_checked_from_their_declarations():
    for field, value in [("tasks", "mws"), ("tasks", ("mwx",)), ("n", 1), ("k", 0), ("attention", "local")]:
        with pytest.raises(plateau.ConfigError, match=f"^{field}: "):
            plateau.check_config(dataclasses.replace(TINY_SEQ, **{field: value}))


def test_every_flag_and_its_field_accept_the_same_values():
    """Each flag is built from its field's declaration, so the command line and check_config agree
    on every value: the boundaries, just past them, and non-finite numbers."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"))
    import common
    probes = ["-1", "0", "0.5", "1", "2", "2.5", "1000", "1001", "inf", "nan", "1e309"]
    parsers = {plateau.GrokConfig: common.grok_parser("x\n", 10), plateau.SequenceConfig: common.sequence_parser("x\n")}
    checked = 0
    for cls, parser in parsers.items():
        for field in dataclasses.fields(cls):
            values, flag = field.metadata["values"], field.metadata["flag"]
            if values.kind not in (int, float) or flag not in parser._option_string_actions:
                continue  # not a number, or no flag of that parser
            for text in probes:
                try:
                    parser.parse_args([flag, text])
                    cli_ok = True
                except common.UsageError:
                    cli_ok = False
                try:
                    library_ok = values.ok(values.kind(text))
                except ValueError:
                    library_ok = False
                assert cli_ok == library_ok, (cls.__name__, flag, text)
                checked += 1
    assert checked > 150


def test_momentum_with_adamw_is_refused_per_member_too():
    for momentum, stray in ((0.5, 0.5), ((0.0, 0.9), 0.9)):
        cfg = plateau.GrokConfig(seeds=(0, 1), momentum=momentum)
        with pytest.raises(plateau.ConfigError, match=f"has no effect with AdamW \\(got {stray}\\)"):
            plateau.check_config(cfg)
    plateau.check_config(plateau.GrokConfig(seeds=(0, 1), momentum=(0.0, 0.9), optimizer="sgd"))
    plateau.check_config(plateau.GrokConfig(seeds=(0, 1), momentum=(0.0, 0.0)))
