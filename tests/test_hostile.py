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
    ("bench.py", "--cases", "grok:100000"),
    ("bench.py", "--cases", "mlp:1,mlp:10000"),
    ("bench.py", "--cases", "sequence:200000"),
]


@pytest.mark.parametrize("argv", TOO_BIG, ids=" ".join)
def test_a_size_that_cannot_fit_is_one_line_within_seconds(argv, tmp_path):
    result = run_limited([os.path.join("experiments", argv[0]), *argv[1:]], tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "needs about" in lines[0] or "names more than" in lines[0], lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


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

    def estimate_only(arms, args):
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
