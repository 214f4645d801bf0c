"""Hostile input by class: each class has one mechanism and one table here.

Sizes that cannot fit: plateau.memory_estimate and runs.check_fits, applied on the way
in (runs.train, common.check_arms, bench.py's cases), refuse before any allocation."""
import os
import resource
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import common  # noqa: E402
import plateau  # noqa: E402
import runs  # noqa: E402


def run_limited(args, tmp_path, memory=2 * 2 ** 30, seconds=60):
    """A script run in a child limited to `memory` bytes of address space: a multi-GB
    allocation before the refusal would end in a MemoryError traceback, not one line."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args, "--out", str(tmp_path / "out")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=seconds, preexec_fn=limit)


TOO_BIG = [
    ("grok.py", "--d-model", "100000"),
    ("grok.py", "--batch-size", "100000000"),
    ("grok.py", "--heads", "4", "--layers", "100000"),
    ("grok.py", "--d-model", "65536", "--heads", "65536"),
    ("grok.py", "--seeds", "0-100000"),
    ("grok.py", "--seeds", "0-99999999999"),
    ("grok_multitask.py", "--p", "997", "--seeds", "0-2000"),
    ("grok_phase.py", "--seeds", "0-5000"),
    ("grok_optimizer.py", "--batch-size", "10000000"),
    ("task_diversity.py", "--eval-size", "100000000"),
    ("task_diversity.py", "--n", "1000000"),
    ("task_diversity.py", "--d-model", "200000"),
    ("transfer.py", "--batch-size", "100000000"),
    ("attention_map.py", "--seeds", "0-999999"),
] + [pytest.param(case, marks=pytest.mark.speed_path)  # bench.py times fastops, which a student copy leaves out
     for case in [("bench.py", "--cases", "grok:100000"), ("bench.py", "--cases", "mlp:1,mlp:10000"),
                  ("bench.py", "--cases", "sequence:200000")]]


@pytest.mark.parametrize("argv", TOO_BIG, ids=lambda v: " ".join(v))
def test_a_size_that_cannot_fit_is_one_line_within_seconds(argv, tmp_path):
    result = run_limited([os.path.join("experiments", argv[0]), *argv[1:]], tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "needs about" in lines[0] or "names more than" in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # not even an empty folder


def test_the_estimate_is_in_the_message_with_the_machine_memory():
    cfg = plateau.GrokConfig(seeds=(0, 1, 2))
    parts = plateau.memory_estimate(cfg)
    assert set(parts) == {"parameters", "data", "step", "evaluation"} and all(v > 0 for v in parts.values())
    runs.check_fits(parts, total=2 ** 40)  # fits a large machine
    with pytest.raises(runs.InputError, match=r"needs about .* GB .* this machine's 0\.0 GB"):
        runs.check_fits(parts, total=2 ** 20)


def test_library_callers_are_refused_in_runs_train(tmp_path):
    cfg = plateau.GrokConfig(d_model=65536, n_heads=1, steps=1)
    with pytest.raises(runs.InputError, match="needs about"):
        runs.train(cfg, out=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_the_estimate_grows_with_every_size_field():
    grok, seq = plateau.GrokConfig(), plateau.SequenceConfig()
    total = lambda cfg: sum(plateau.memory_estimate(cfg).values())
    for field, value in [("seeds", tuple(range(10))), ("batch_size", 4096), ("d_model", 512),
                         ("n_heads", 8), ("n_layers", 8), ("p", 997), ("dtype", "float64")]:
        assert total(plateau.dataclasses.replace(grok, **{field: value})) > total(grok), field
    for field, value in [("seeds", tuple(range(10))), ("batch_size", 4096), ("d_model", 512),
                         ("n", 64), ("eval_size", 4096)]:
        assert total(plateau.dataclasses.replace(seq, **{field: value})) > total(seq), field


def test_no_default_arm_of_any_script_is_refused_on_a_16_gb_machine(monkeypatch):
    """Every script's default arms (and --preset poster) fit 90% of 16 GB by the estimate."""
    import importlib
    seen = []

    class Stop(Exception):
        pass

    def estimate_only(arms, args, out=None):
        for name, cfg in arms.items():
            runs.check_fits(plateau.memory_estimate(cfg), what=name, total=16 * 2 ** 30)
            seen.append(name)
        raise Stop

    monkeypatch.setattr(common, "check_arms", estimate_only)
    for script in common.CLAIM_SCRIPTS:
        for extra in ([], ["--preset", "poster"]):
            if extra and script not in ("grok", "grok_weight_decay", "grok_multitask", "grok_init",
                                        "grok_optimizer", "grok_interventions"):
                continue
            with pytest.raises(Stop):
                importlib.import_module(script).main(extra + ["--out", os.devnull + "-never-written"])
    assert len(seen) > 20
    import bench
    for name, E in bench.parse_cases("mlp:1,grok:1,grok:4,sequence:1,sequence:4,grok:64,sequence:64"):
        for quick in (False, True):
            runs.check_fits(bench.case_memory(name, E, quick, "float64"), total=16 * 2 ** 30)


# -- the hostile pass (issue 21, part B): what it found not handled, by class ------------------

import contextlib  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402

import analysis  # noqa: E402
import autograd as ag  # noqa: E402
import tasks  # noqa: E402


def main_of(script, argv):
    """(exit status, stderr lines) of a script's main, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = common.run_main(importlib.import_module(script).main, argv)
    return code, err.getvalue().strip().splitlines()


ONE_LINE_FLAGS = [  # flags out of range that used to run, overflow or be read another way
    ("grok", ["--steps", "9" * 400]),          # OverflowError in the progress line
    ("grok", ["--steps", str(10 ** 9 + 1)]),
    ("grok", ["--checkpoint-every", str(10 ** 12)]),
    ("grok", ["--seeds", "\u0663"]),           # an Arabic-Indic digit read as seed 3
    ("task_diversity", ["--k", "40"]),         # a window longer than the sequence: ran, judged nothing
    ("bench", ["--cases", "grok:\u0663"]),
    ("gpu_check", ["--stage", "bogus", "--standin"]),  # KeyError traceback
    ("grok", ["--steps", "\uff11\uff10"]),  # full-width digits, read by int() as 10
    ("grok", ["--steps", "1_0"]),            # read by int() as 10
    ("grok_phase", ["--scales", "\uff11"]),
    ("grok", ["--lr", "1_0e-3"]),
    ("bench", ["--cases", "mlp:1,mlp:1"]),   # timed the same case twice
    ("bench", ["--repeats", "1000000000000"]),  # ran on without end
    ("grok", ["--arm", "nope", "--list-arms"]),  # listed the arms, ignoring the unknown one
    ("transfer", ["--d-model", "1"]),          # a verdict built on NaN
    ("grok", ["--init", "scaled", "--init-scale", "1e308"]),  # overflowing weights, "lower the learning rate"
]


@pytest.mark.parametrize("script,argv", ONE_LINE_FLAGS, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_flag_out_of_range_is_one_error_line(script, argv, tmp_path):
    code, err = main_of(script, argv + ["--quick", "--out", str(tmp_path / "out")])
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err


@pytest.mark.integration
def test_a_diverging_run_is_one_line_without_numpy_warnings(tmp_path):
    """NumPy's overflow warnings used to come first; the NaN watch's line is the one the user sees."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "transfer.py"), "--quick", "--lr",
                             "1e6", "--out", str(tmp_path / "t")], capture_output=True, text=True, timeout=120)
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1 and err[0].startswith("error: loss became nan"), err


def _script(name, argv, env=None, stdout=subprocess.PIPE):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", f"{name}.py"), *argv], stdout=stdout,
                            stderr=subprocess.PIPE, text=True, timeout=120, env={**os.environ, **(env or {})})
    return result.returncode, result.stderr.strip().splitlines()


@pytest.mark.integration
def test_an_output_that_cannot_be_written_is_one_line(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        code, err = _script("grok", ["--quick", "--out", str(tmp_path / "g")], stdout=full)
    assert code == 1 and len(err) == 1 and "No space left" in err[0], err


@pytest.mark.integration
def test_a_bogus_matplotlib_backend_in_the_environment_still_draws(tmp_path):
    pytest.importorskip("matplotlib")
    code, err = _script("grok", ["--quick", "--out", str(tmp_path / "g")], env={"MPLBACKEND": "bogus"})
    assert code == 0 and (tmp_path / "g" / "grok" / "curves.png").exists(), err


def test_list_with_a_path_the_output_cannot_encode_is_one_line(tmp_path):
    code, err = _script("reproduce", ["--quick", "--list", "--root", str(tmp_path / "r \u00fc")],
                        env={"PYTHONIOENCODING": "ascii"})
    assert code == 2 and len(err) == 1 and "PYTHONIOENCODING=utf-8" in err[0], err


def test_ctrl_c_between_training_steps_says_how_to_continue(capsys):
    """Between two scripts of reproduce.py (no training run to save and say so): one line, exit 130."""
    with pytest.raises(SystemExit) as stop:
        common._stop_quietly(2, None)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 130 and len(err) == 1 and "--resume" in err[0], err


def test_sigterm_outside_a_training_step_says_how_to_continue():
    """SIGTERM between the last step and the figure (a scheduler's stop) was a silent death, exit -15."""
    code = ("import os, signal, sys; sys.path.insert(0, 'experiments'); import common\n"
            "common.main_guard(lambda argv: os.kill(os.getpid(), signal.SIGTERM))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 143 and len(err) == 1 and "SIGTERM" in err[0] and "--resume" in err[0], err


BENCH_COMPARE = ['{"rows": [{"case": "mlp", "E": 1, "ratio": 0, "engine_ms": 0}]}',   # ZeroDivisionError
                 '{"rows": [{"case": "mlp", "E": 1, "ratio": "x", "engine_ms": 1}]}',  # format error
                 '{"rows": [{"case": "mlp", "E": "1", "ratio": 1, "engine_ms": 1}]}',  # silently "not in that file"
                 '{"rows": [{"case": "mlp", "E": 1, "ratio": NaN, "engine_ms": 1}]}',  # +nan%
                 '{"rows": [{"case": 3, "E": 1, "ratio": 1, "engine_ms": -1}]}']


@pytest.mark.speed_path
@pytest.mark.parametrize("text", BENCH_COMPARE)
def test_a_damaged_bench_json_is_refused_before_any_work(text, tmp_path):
    path = tmp_path / "old.json"
    path.write_text(text)
    code, err = main_of("bench", ["--quick", "--cases", "mlp:1", "--compare", str(path), "--out", str(tmp_path / "b")])
    assert code == 2 and len(err) == 1 and str(path) in err[0], err
    assert not (tmp_path / "b" / "bench.json").exists()


def test_report_never_writes_a_ledger_of_no_claims(tmp_path):
    (tmp_path / "runs").mkdir()
    code, err = main_of("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md")])
    assert code == 2 and len(err) == 1 and "no claims" in err[0], err
    assert not (tmp_path / "R.md").exists()


@pytest.mark.parametrize("argv", [[], ["a", "b"], ["--bogus"]])
def test_student_copy_with_no_or_two_destinations_or_an_unknown_option_is_one_line(argv):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_student_copy.py"), *argv],
                            capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and not result.stdout
    assert "inside the repository" not in lines[0]  # an option is not a destination


def _tensor():
    return ag.Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)


LIBRARY_CALLS = {  # odd inputs to library functions: a ValueError that names them, never a silent result
    "config_from_dict without kind": lambda: plateau.config_from_dict({}),
    "config_from_dict of a bogus kind": lambda: plateau.config_from_dict({"kind": "bogus"}),
    "config_from_dict of a list": lambda: plateau.config_from_dict([]),
    "SequenceConfig k > n": lambda: plateau.check_config(plateau.SequenceConfig(k=50)),
    "GrokConfig steps 10**10": lambda: plateau.check_config(plateau.GrokConfig(steps=10 ** 10)),
    "summarize an empty grok history": lambda: analysis.summarize(plateau.GrokConfig(), []),
    "summarize an empty sequence history": lambda: analysis.summarize(plateau.SequenceConfig(), []),
    "sequence_batch n=0": lambda: tasks.sequence_batch("mws", 4, np.random.default_rng(0), n=0),
    "sequence_batch k > n": lambda: tasks.sequence_batch("mws", 4, np.random.default_rng(0), n=2, k=3),
    "sequence_batch p=1.5": lambda: tasks.sequence_batch("mws", 4, np.random.default_rng(0), p=1.5),
    "sequence_batch batch -1": lambda: tasks.sequence_batch("mws", -1, np.random.default_rng(0)),
    "split_batch 0 for one task": lambda: tasks.split_batch(0, ("mws",)),
    "split_batch of no tasks": lambda: tasks.split_batch(4, ()),
    "sequence_vocab_size p=0": lambda: tasks.sequence_vocab_size(0),
    "SGD lr nan": lambda: ag.SGD([_tensor()], lr=float("nan")),
    "SGD lr -1": lambda: ag.SGD([_tensor()], lr=-1),
    "SGD momentum -3": lambda: ag.SGD([_tensor()], lr=0.1, momentum=-3),
    "SGD dampening 2": lambda: ag.SGD([_tensor()], lr=0.1, momentum=0.5, dampening=2),
    "AdamW weight decay -1": lambda: ag.AdamW([_tensor()], lr=1e-3, weight_decay=-1),
    "AdamW betas (2, 5)": lambda: ag.AdamW([_tensor()], lr=1e-3, betas=(2, 5)),
    "AdamW beta2 1": lambda: ag.AdamW([_tensor()], lr=1e-3, betas=(0.9, 1.0)),
    "AdamW eps inf": lambda: ag.AdamW([_tensor()], lr=1e-3, eps=float("inf")),
    "AdamW lr per member with a NaN": lambda: ag.AdamW([_tensor()], lr=np.array([1e-3, np.nan])),
    "AdamW lr a string": lambda: ag.AdamW([_tensor()], lr="fast"),
    "AdamW grokfast lambda -2": lambda: ag.AdamW([_tensor()], lr=1e-3, grokfast_lambda=-2),
    "softmax over an axis it lacks": lambda: ag.softmax(_tensor(), axis=5),
    "check_grad with no float input": lambda: ag.check_grad(lambda: _tensor()),
    "check_grad with integer inputs only": lambda: ag.check_grad(lambda x: ag.Tensor(x * 1.0).sum(), np.arange(3)),
}


@pytest.mark.parametrize("call", LIBRARY_CALLS.values(), ids=LIBRARY_CALLS.keys())
def test_an_odd_library_call_is_a_value_error_naming_it(call):
    with pytest.raises(ValueError):
        call()


def _saved_state(**changes):
    """An AdamW state_dict for one (2, 3) parameter, with some entries replaced."""
    return {**ag.AdamW([_tensor()]).state_dict(), **changes}


def _p_twice():
    p = _tensor()
    return ag.SGD([p, p], lr=0.1)


NAMED_REFUSALS = {  # the second hostile pass: (call, the name its ValueError or TypeError must say)
    "moving_window_sum k=0": (lambda: tasks.moving_window_sum(np.arange(1, 5), k=0), "k must"),
    "moving_window_sum k=-1": (lambda: tasks.moving_window_sum(np.arange(1, 5), k=-1), "k must"),
    "moving_window_sum p=0": (lambda: tasks.moving_window_sum(np.arange(1, 5), p=0), "p must"),
    "prefix_sum p=0": (lambda: tasks.prefix_sum(np.arange(1, 5), p=0), "p must"),
    "moving_window_sum of floats": (lambda: tasks.moving_window_sum(np.ones(4)), "x must"),
    "moving_window_product k > n": (lambda: tasks.moving_window_product(np.arange(1, 5), k=10), "k=10"),
    "arithmetic_split with an empty train split": (lambda: tasks.arithmetic_split(("add",), 5, frac_train=1e-9),
                                                   "frac_train"),
    "sequence_batch rng None": (lambda: tasks.sequence_batch("mws", 4, None), "rng"),
    "sequence_batch rng 0": (lambda: tasks.sequence_batch("mws", 4, 0), "rng"),
    "next_token_pairs of another n": (lambda: tasks.next_token_pairs(np.ones((2, 5), int), n=16), "sequences"),
    "next_token_pairs of one sequence": (lambda: tasks.next_token_pairs(np.ones(33, int), n=16), "sequences"),
    "split_batch of a string": (lambda: tasks.split_batch(4, "mws"), "tasks"),
    "separator_token of a bogus task": (lambda: tasks.separator_token("bogus"), "bogus.*mws"),
    "Tensor of a string": (lambda: ag.Tensor("abc"), "data"),
    "Tensor of None": (lambda: ag.Tensor(None), "data"),
    "Tensor of objects": (lambda: ag.Tensor(np.array([1.0, "a"], dtype=object)), "data"),
    "cross_entropy target -2": (lambda: ag.cross_entropy(_tensor(), np.array([0, -2])), "target is -2"),
    "masked_fill with a float mask": (lambda: ag.masked_fill(_tensor(), np.ones((2, 3)), 0.0), "mask"),
    "layer_norm eps -1": (lambda: ag.layer_norm(_tensor(), _tensor(), _tensor(), eps=-1), "eps"),
    "layer_norm eps nan": (lambda: ag.layer_norm(_tensor(), _tensor(), _tensor(), eps=float("nan")), "eps"),
    "backward seed of another shape": (lambda: (_tensor() * 2).backward(np.ones((3, 2))), "seed gradient"),
    "SGD of one Tensor": (lambda: ag.SGD(_tensor(), lr=0.1), "params"),
    "SGD of an array": (lambda: ag.SGD([np.ones(3)], lr=0.1), "params"),
    "SGD of one parameter twice": (_p_twice, "more than once"),
    "SGD foo=1": (lambda: ag.SGD([_tensor()], lr=0.1, foo=1), "foo"),
    "AdamW amsgrad": (lambda: ag.AdamW([_tensor()], amsgrad=True), "amsgrad"),
    "AdamW three betas": (lambda: ag.AdamW([_tensor()], betas=(0.9, 0.99, 0.5)), "betas"),
    "SGD lr 1j": (lambda: ag.SGD([_tensor()], lr=1j), "lr"),
    "SGD grokfast alpha 1": (lambda: ag.SGD([_tensor()], lr=0.1, grokfast_alpha=1.0, grokfast_lambda=2.0),
                             "grokfast_alpha"),
    "load_state_dict negative steps": (lambda: ag.AdamW([_tensor()]).load_state_dict(
        _saved_state(steps=np.array([-1]))), "steps"),
    "load_state_dict NaN state": (lambda: ag.AdamW([_tensor()]).load_state_dict(
        _saved_state(**{"state.exp_avg": np.full(6, np.nan)})), "exp_avg"),
    "load_state_dict string state": (lambda: ag.AdamW([_tensor()]).load_state_dict(
        _saved_state(**{"state.exp_avg": np.array(["a"] * 6)})), "exp_avg"),
    "check_grad eps nan": (lambda: ag.check_grad(lambda a: a * 2, np.ones(3), eps=float("nan")), "eps"),
    "check_grad eps 0": (lambda: ag.check_grad(lambda a: a * 2, np.ones(3), eps=0), "eps"),
    "check_grad rtol -1": (lambda: ag.check_grad(lambda a: a * 2, np.ones(3), rtol=-1), "rtol"),
    "check_grad of an empty input": (lambda: ag.check_grad(lambda a: a * 2, np.ones(0)), "non-empty"),
    "SGD nesterov 'yes'": (lambda: ag.SGD([_tensor()], lr=0.1, momentum=0.9, nesterov="yes"), "nesterov"),
}


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
@pytest.mark.parametrize("call, name", NAMED_REFUSALS.values(), ids=NAMED_REFUSALS.keys())
def test_an_odd_library_call_names_what_is_wrong(call, name, fast):
    """autograd.py's ops and optimizers and fastops.py's (fast) refuse alike."""
    import fastops
    fastops.set_backend("numpy", "float32", fast=fast)
    with pytest.raises((ValueError, TypeError), match=name):
        call()


@pytest.mark.parametrize("f, inputs", [
    (lambda a: (a - 5).log(), np.ones(3)),                                  # a NaN output
    (lambda a: ag._result(a.data ** 2, (a,), lambda g: (g * np.inf,)), np.ones(3)),  # an infinite backward
], ids=["nan-output", "inf-gradient"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_check_grad_fails_where_anything_is_not_finite(f, inputs):
    with pytest.raises(AssertionError, match="NaN or infinite|not finite"):
        ag.check_grad(f, inputs)


def test_what_the_second_pass_keeps_working():
    """NumPy integers in a config (written as plain ints), -1 targets, a NaN state where a sweep lets
    members diverge, and a list of betas: as before."""
    cfg = plateau.GrokConfig(p=np.int64(97), seeds=(np.int64(0), 1), d_model=np.int32(64))
    plateau.check_config(cfg)
    text = json.dumps(plateau.config_to_dict(cfg))
    assert plateau.config_from_dict(json.loads(text)) == cfg and '"p": 97' in text
    assert tasks.moving_window_product([5, 9, 16], p=np.int64(17), k=np.int64(2)).tolist() == [5, 11, 8]
    ag.cross_entropy(ag.Tensor(np.zeros((2, 3))), np.array([0, -1]))
    ag.AdamW([_tensor()], betas=[0.9, 0.98]).load_state_dict(
        _saved_state(**{"state.exp_avg": np.full(6, np.nan)}), finite=False)


def test_optimizers_keep_every_value_pytorch_accepts():
    for make in (lambda: ag.SGD([_tensor()], lr=0, momentum=0.9, dampening=1, weight_decay=0),
                 lambda: ag.AdamW([_tensor()], lr=0, betas=(0, 0), eps=0, weight_decay=0),
                 lambda: ag.AdamW([_tensor()], lr=np.array([0.0, 1e-3]))):
        make()


# -- remedies followed literally (issue 21, part C) --------------------------------------------

def test_reproduce_list_with_resume_prints_arm_lines_that_resume(tmp_path):
    """`reproduce.py --resume --list` printed arm lines without --resume: followed after an
    interruption, each refused its own half-finished arm."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = common.run_main(importlib.import_module("reproduce").main,
                               ["--resume", "--quick", "--only", "grok,transfer", "--list", "--root", str(tmp_path)])
    arms = [line for line in out.getvalue().splitlines() if "--arm" in line]
    assert code == 0 and arms and all(line.split()[-1] == "--resume" or " --resume" in line for line in arms)


def test_a_file_that_is_no_npz_archive_never_suggests_loading_it_unsafely(tmp_path):
    path = tmp_path / "params.npz"
    path.write_text("junk")
    with pytest.raises(runs.InputError) as error:
        runs.load_npz(str(path))
    assert "allow_pickle" not in str(error.value) and "not a NumPy .npz archive" in str(error.value)


# -- library calls the review named: one clear error, never a silent number ----------------------

@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
def test_cross_entropy_refuses_float_targets_and_classes_that_do_not_exist(fast):
    import autograd as ag
    import fastops
    fastops.set_backend("numpy", "float64", fast=fast)
    try:
        logits = ag.Tensor(np.zeros((2, 3)), requires_grad=True)
        with pytest.raises(TypeError, match="integer class ids"):
            ag.cross_entropy(logits, np.array([0.5, 1.0]))
        with pytest.raises(ValueError, match="3 classes"):
            ag.cross_entropy(logits, np.array([0, 5]))
    finally:
        fastops.set_backend("numpy", "float32")


def test_check_grad_names_a_function_that_returns_no_tensor():
    import autograd as ag
    with pytest.raises(TypeError, match="must return a Tensor"):
        ag.check_grad(lambda x: 3.0, np.ones(3))


@pytest.mark.parametrize("p", [11.5, 0, True, "7"])
def test_a_modulus_that_is_not_a_whole_number_is_refused(p):
    import tasks
    with pytest.raises((ValueError, TypeError), match="modulus"):
        tasks.modular_table("add", p)


@pytest.mark.parametrize("cfg", [plateau.GrokConfig(), plateau.GrokConfig(norm="pre", n_layers=3, p=11),
                                 plateau.SequenceConfig(), plateau.SequenceConfig(d_model=256, n=8)],
                         ids=["grok", "grok-pre", "sequence", "sequence-wide"])
def test_the_memory_estimate_counts_the_parameters_init_makes(cfg):
    """parameter_count is a formula (a huge config must not be built to be sized): it must equal the
    size of what init makes."""
    import numpy as np
    init = plateau.init_grok_member if isinstance(cfg, plateau.GrokConfig) else plateau.init_sequence_member
    made = sum(w.size for w in init(cfg, np.random.default_rng(0)).values())
    assert plateau.parameter_count(cfg) == made


# -- the third pass: library calls with a bad argument, by class --------------------------------
# Each class is one table: the call, and the argument its one error must name (with the op's name
# where the op has one). Never NumPy's own message, a silent result or a MemoryError.

def _t(*shape):
    return ag.Tensor(np.ones(shape, dtype=np.float32), requires_grad=True)


SHAPES_THAT_DO_NOT_FIT = {  # each a ValueError naming the op and the argument (NumPy's message before)
    "where with a condition of another shape": (lambda: ag.where(np.ones(5, bool), _t(2, 3), _t(2, 3)),
                                                "where: condition of shape"),
    "linear bias (1, 1, 5) for 2 members": (lambda: ag.linear(_t(2, 3, 4), _t(2, 4, 5), _t(1, 1, 5)), "linear: bias"),
    "linear bias of another width": (lambda: ag.linear(_t(2, 3, 4), _t(2, 4, 5), _t(2, 1, 4)), "linear: bias"),
    "layer_norm weight (4,) on (2, 3)": (lambda: ag.layer_norm(_t(2, 3), _t(4), _t(3)), "layer_norm: weight"),
    "layer_norm bias with more axes": (lambda: ag.layer_norm(_t(2, 3), _t(3), _t(1, 2, 3)), "layer_norm: bias"),
    "masked_fill mask (4,) on (2, 3)": (lambda: ag.masked_fill(_t(2, 3), np.ones(4, bool), 0.0), "masked_fill: mask"),
    "masked_fill mask larger than the input": (lambda: ag.masked_fill(_t(2, 3), np.ones((2, 2, 3), bool), 0.0),
                                               "masked_fill: mask"),
    "transpose a repeated axis": (lambda: ag.transpose(_t(2, 3), 0, 0), "transpose: axes"),
    "transpose too few axes": (lambda: ag.transpose(_t(2, 3), 0), "transpose: axes"),
    "transpose too many axes": (lambda: ag.transpose(_t(2, 3), 0, 1, 2), "transpose: axes"),
    "transpose an axis it lacks": (lambda: _t(2, 3).transpose(2, 0), "transpose: axes"),
    "softmax along axis 1.5": (lambda: ag.softmax(_t(2, 3), axis=1.5), "softmax: axis"),
    "softmax along an axis it lacks": (lambda: ag.softmax(_t(2, 3), axis=2), "softmax: axis"),
    "log_softmax along every axis": (lambda: ag.log_softmax(_t(2, 3), axis=None), "log_softmax: axis"),
    "sum along one axis twice": (lambda: ag.sum(_t(2, 3), axis=(0, 0)), "sum: axis"),
    "mean along a named axis": (lambda: ag.mean(_t(2, 3), axis="rows"), "mean: axis"),
    "max along an axis it lacks": (lambda: _t(2, 3).max(axis=-3), "max: axis"),
}


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
@pytest.mark.parametrize("call, name", SHAPES_THAT_DO_NOT_FIT.values(), ids=SHAPES_THAT_DO_NOT_FIT.keys())
def test_a_shape_that_does_not_fit_is_one_value_error_naming_the_op_and_argument(call, name, fast):
    import fastops
    fastops.set_backend("numpy", "float32", fast=fast)
    try:
        with pytest.raises(ValueError, match=name):
            call()
    finally:
        fastops.set_backend("numpy", "float32")


WRONG_KINDS = {  # a value of the wrong kind, accepted silently or misread before: each a TypeError naming it
    "masked_fill value 'x'": (lambda: ag.masked_fill(_t(2), np.ones(2, bool), "x"), "masked_fill: value"),
    "check_config of a dict": (lambda: plateau.check_config({"lr": 1}), "check_config takes a GrokConfig"),
    "Tensor requires_grad 'yes'": (lambda: ag.Tensor(np.ones(3), requires_grad="yes"), r"Tensor\(\): requires_grad"),
    "Tensor requires_grad 1": (lambda: ag.Tensor(np.ones(3), requires_grad=1), r"Tensor\(\): requires_grad"),
    "where with a float condition": (lambda: ag.where(np.ones(3), _t(3), _t(3)), "where: condition"),
    "where with an integer condition": (lambda: ag.where(np.arange(3), _t(3), _t(3)), "where: condition"),
    "next_token_pairs of floats": (lambda: tasks.next_token_pairs(np.ones((2, 33))), "sequences"),
    "arithmetic_split of a lone string": (lambda: tasks.arithmetic_split("add", 7), "ops must be a list"),
    "arithmetic_split of a lone 'div'": (lambda: tasks.arithmetic_split("div", 7), "ops must be a list"),
}


@pytest.mark.parametrize("call, name", WRONG_KINDS.values(), ids=WRONG_KINDS.keys())
def test_a_value_of_the_wrong_kind_is_one_type_error_naming_it(call, name):
    with pytest.raises(TypeError, match=name):
        call()


OUT_OF_RANGE = {  # values out of range, each a ValueError naming the argument (silent, or another error, before)
    "an operation twice": (lambda: tasks.arithmetic_split(("add", "add"), 7), "names an operation twice"),
    **{f"{task} of {bad}": (lambda task=task, bad=bad: tasks.SEQUENCE_TASKS[task](np.array([1, bad]), p=17),
                            r"x must hold numbers mod p=17")
       for task in tasks.SEQUENCE_TASK_NAMES for bad in (17, -1)},
    "arithmetic_vocab_size 0": (lambda: tasks.arithmetic_vocab_size(0), "modulus p"),
    "table_size div mod 8": (lambda: tasks.table_size("div", 8), "prime modulus"),
    "arithmetic_split seed -1": (lambda: tasks.arithmetic_split(["add"], 7, seed=-1), "seed"),
    "arithmetic_split seed [1, -1]": (lambda: tasks.arithmetic_split(["add"], 7, seed=[1, -1]), "seed"),
    "arithmetic_split seed 1.5": (lambda: tasks.arithmetic_split(["add"], 7, seed=1.5), "seed"),
}


@pytest.mark.parametrize("call, name", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_a_value_out_of_range_is_one_value_error_naming_it(call, name):
    with pytest.raises(ValueError, match=name):
        call()


TABLES_THAT_CANNOT_FIT = {  # a MemoryError after allocating gigabytes before (7 TiB for the first)
    "modular_table add mod 10**6": lambda: tasks.modular_table("add", 10 ** 6),
    "arithmetic_split of four mod 10**5": lambda: tasks.arithmetic_split(list(tasks.OPERATIONS), 10 ** 5),
    "modular_table div mod 10**18 (no prime test first)": lambda: tasks.modular_table("div", 10 ** 18),
}


@pytest.mark.parametrize("call", TABLES_THAT_CANNOT_FIT.values(), ids=TABLES_THAT_CANNOT_FIT.keys())
def test_a_table_that_cannot_fit_is_refused_with_the_estimate_before_any_allocation(call):
    with pytest.raises(ValueError, match=r"the modulus p=\d+ needs [\d,]+ table rows, about [\d,]+ GiB"):
        call()


def test_the_mean_of_nothing_is_nan_as_in_numpy_and_pytorch():
    """It was a ZeroDivisionError; NumPy gives NaN (with a warning), PyTorch NaN, and so does mean now."""
    import warnings
    for shape, axis in [((0,), None), ((3, 0), 1), ((0, 3), 1), ((0, 3), 0)]:
        got = ag.to_numpy(ag.mean(ag.Tensor(np.ones(shape, dtype=np.float32)), axis=axis))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = np.ones(shape, dtype=np.float32).mean(axis=axis)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.float32


@pytest.mark.parametrize("field, value", [("threshold", np.float32(0.9)), ("lr", np.float64(1e-3)),
                                          ("frac_train", np.float16(0.5)), ("betas", (np.float32(0.9), 0.98)),
                                          ("weight_decay", np.int64(1)), ("lr", (np.float32(1e-3), 1e-3))])
def test_a_numpy_scalar_is_a_number_wherever_a_config_takes_one(field, value):
    seeds = (0, 1) if field == "lr" and isinstance(value, tuple) else (0,)
    cfg = plateau.GrokConfig(seeds=seeds, **{field: value})
    plateau.check_config(cfg)
    json.dumps(plateau.config_to_dict(cfg))  # saved as plain numbers


@pytest.mark.parametrize("value", [np.bool_(True), np.float32("nan"), np.float64("inf"), True])
def test_a_numpy_bool_or_a_non_finite_scalar_is_still_no_number(value):
    with pytest.raises(plateau.ConfigError, match="threshold"):
        plateau.check_config(plateau.GrokConfig(threshold=value))


def test_what_the_third_pass_keeps_working():
    """Negative axes, broadcasting masks and parameters, a NumPy bool flag, a list seed (as plateau passes
    it), residue 0 in a sequence, and momentum beyond 1 for SGD (PyTorch accepts it): as before."""
    x = np.arange(6.0).reshape(2, 3)
    assert ag.check_grad(lambda a: a.transpose(-1, 0), x)
    assert ag.transpose(ag.Tensor(x), -1, 0).shape == (3, 2)
    scores = ag.Tensor(np.zeros((2, 1, 4, 4)))
    filled = ag.masked_fill(scores, np.triu(np.ones((4, 4), bool), 1), -np.inf)
    assert np.isinf(ag.to_numpy(filled)).sum() == 2 * 6
    assert ag.where(True, _t(3), 0.0).shape == (3,)
    assert ag.layer_norm(_t(2, 5, 3), _t(2, 1, 3), _t(3)).shape == (2, 5, 3)
    assert ag.Tensor(np.ones(2), requires_grad=np.bool_(True)).requires_grad is True
    assert tasks.arithmetic_split(["add"], 7, seed=[3, 1])["add"]["train"][0].shape == (24, 4)
    assert tasks.arithmetic_split(("add",), np.int64(7), seed=np.int64(3))["add"]["val"][0].shape == (25, 4)
    assert tasks.moving_window_product(np.array([0, 16, 3]), p=17).tolist() == [0, 0, 48 % 17]
    ag.SGD([_t(2)], lr=0.1, momentum=1.5)
    ag.SGD([_t(2)], lr=0.1, momentum=np.float32(0.9), nesterov=True)


@pytest.mark.parametrize("script, argv, flag", [
    ("grok", ["--batch-mix", "balanced"], "--batch-mix"),          # one operation: nothing to balance
    ("grok", ["--grokfast-alpha", "0.5"], "--grokfast-alpha"),      # Grokfast off (lambda 0)
    ("grok", ["--beta2", "0.5", "--optimizer", "sgd", "--weight-decay", "0.001"], "--beta2"),  # AdamW's
    ("grok", ["--init-scope", "all"], "--init-scope"),              # the default init has no scope
    ("grok", ["--init-scale", "0.5"], "--init-scale"),
    ("grok_weight_decay", ["--sparsity", "0.5"], "--sparsity"),
])
def test_a_flag_that_acts_on_no_arm_is_refused(script, argv, flag, tmp_path):
    """Accepted silently before: the run was the one without the flag, though the user asked for it."""
    code, err = _script(script, ["--quick", "--out", str(tmp_path / "o"), *argv])
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {flag} has no effect on any arm here"), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("script, argv", [
    ("grok_init", ["--init-scale", "0.5", "--init-scope", "all", "--list-arms"]),  # its small arm uses them
    ("grok_multitask", ["--batch-mix", "balanced", "--list-arms"]),                 # its pairs mix operations
    ("grok", ["--grokfast-lambda", "2", "--grokfast-alpha", "0.5", "--list-arms"]),
])
def test_a_flag_that_acts_on_some_arm_is_taken(script, argv, tmp_path):
    code, err = _script(script, ["--quick", "--out", str(tmp_path / "o"), *argv])
    assert code == 0, err


def test_grokfast_lambda_0_is_refused_where_it_would_make_members_their_own_baseline(tmp_path):
    code, err = _script("grok_interventions", ["--quick", "--grokfast-lambda", "0", "--out", str(tmp_path / "o")])
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --grokfast-lambda 0"), err


def test_a_line_the_output_cannot_encode_is_escaped_and_says_so_never_a_question_mark(tmp_path):
    """'/tmp/ü gd' printed as '/tmp/? gd' in a command that, run as printed, wrote elsewhere."""
    code, err = _script("grok_delay", ["--quick", "--finished-only", "--out", str(tmp_path / "\u00fc gd")],
                        env={"PYTHONIOENCODING": "ascii"})
    assert code == 2 and len(err) == 1 and "?" not in err[0] and "\\xfc gd" in err[0], err
    assert "PYTHONIOENCODING=utf-8 shows them" in err[0]


def test_a_signal_while_a_figure_is_drawn_waits_for_it_then_acts(monkeypatch):
    """A SIGTERM inside matplotlib's first import had ended in an ImportError traceback and exit 1."""
    import signal
    import runs
    heard = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))
    try:
        @runs.drawing
        def draw():
            os.kill(os.getpid(), signal.SIGTERM)
            done = heard == []  # not yet: the drawing finishes first
            return done
        assert draw() is True and heard == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_every_function_that_draws_defers_signals():
    """Each function that calls pyplot() to draw is marked @runs.drawing: but pyplot and save_figure
    themselves, plot_history's helpers (it is marked) and grok_delay's report, which only asks whether
    matplotlib is there, after plot_law drew."""
    import ast
    import glob
    exempt = {"pyplot", "save_figure", "plot_grok", "plot_curves (runs.py)", "report (grok_delay.py)"}
    for path in [os.path.join(ROOT, "runs.py")] + sorted(glob.glob(os.path.join(ROOT, "experiments", "*.py"))):
        for node in ast.walk(ast.parse(open(path).read())):
            if not isinstance(node, ast.FunctionDef):
                continue
            calls = {getattr(c.func, "attr", getattr(c.func, "id", None)) for c in ast.walk(node) if isinstance(c, ast.Call)}
            name = node.name if node.name in ("pyplot", "save_figure", "plot_grok") else \
                f"{node.name} ({os.path.basename(path)})"
            if "pyplot" in calls and name not in exempt:
                assert {ast.unparse(d) for d in node.decorator_list} & {"drawing", "runs.drawing"}, \
                    f"{path}: {node.name} draws without @drawing"
