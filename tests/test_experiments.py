"""Every experiment script: a --quick smoke run, its --help, and one-line errors."""
import importlib
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

CLAIM_SCRIPTS = ["grok", "grok_weight_decay", "grok_multitask", "grok_init", "grok_optimizer",
                 "task_diversity", "transfer", "attention_map"]


def run_script(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.integration
@pytest.mark.parametrize("script", CLAIM_SCRIPTS)
def test_quick_mode_runs_and_writes_its_table(script, tmp_path):
    module = importlib.import_module(script)
    module.main(["--quick", "--out", str(tmp_path)])
    assert os.path.exists(tmp_path / "table.json")


@pytest.mark.integration
def test_bench_quick(tmp_path):
    rows = importlib.import_module("bench").main(["--quick", "--out", str(tmp_path), "--cases", "mlp:1,grok:2"])
    assert [r["case"] for r in rows] == ["mlp", "grok"] and all(r["ratio"] > 0 for r in rows)
    assert all(0 < r["overhead_ms"] for r in rows)


@pytest.mark.integration
def test_reproduce_quick_writes_the_ledger(tmp_path):
    results = tmp_path / "RESULTS.md"
    importlib.import_module("reproduce").main(["--quick", "--root", str(tmp_path / "runs"),
                                               "--results", str(results), "--only", "grok,transfer"])
    text = results.read_text()
    assert "| claim |" in text and "Prefix-sum pretraining" in text and "Memorize early" in text


@pytest.mark.integration
def test_resume_flag_continues_a_run(tmp_path):
    grok = importlib.import_module("grok")
    first = grok.main(["--quick", "--out", str(tmp_path), "--checkpoint-every", "2"])["grok"]
    again = grok.main(["--quick", "--out", str(tmp_path), "--checkpoint-every", "2", "--resume"])["grok"]
    assert again.summary == first.summary


@pytest.mark.parametrize("script", CLAIM_SCRIPTS + ["bench", "reproduce", "report"])
def test_help_explains(script):
    out = run_script(f"experiments/{script}.py", "--help")
    assert out.returncode == 0 and "usage:" in out.stdout and len(out.stdout) > 300


@pytest.mark.parametrize("args, message", [
    (["experiments/grok.py", "--ops", "pow", "--quick"], "unknown operation 'pow'"),
    (["experiments/grok.py", "--p", "12", "--steps", "1"], "needs a prime modulus"),
    (["experiments/task_diversity.py", "--backend", "cupy", "--quick"], "cupy"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    out = run_script(*args, "--out", str(tmp_path))
    if "cupy" in args and out.returncode == 0:
        pytest.skip("CuPy and a GPU are present here")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and message in out.stderr and out.stderr.startswith("error:")
