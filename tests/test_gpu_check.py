"""experiments/gpu_check.py's bookkeeping: no stale files, and a stage not done is an exit status, not only
a line in summary.md. (Its dry run of every stage on the stand-in is in test_experiments.py.)"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gpu_check(*args):
    return subprocess.run([sys.executable, "experiments/gpu_check.py", "--standin", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_skipped_stage_exits_1_and_names_it(tmp_path):
    (tmp_path / "grok.txt").write_text("from an earlier check")
    (tmp_path / "notes.txt").write_text("the user's own")
    done = gpu_check("--only", "versions", "--budget", "5", "--out", str(tmp_path), "--overwrite")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: not done: versions (skipped)")
    assert "versions: skipped" in done.stdout
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "summary.md"]  # the stale grok.txt is gone, not counted


def test_a_stage_done_exits_0_and_lists_what_it_wrote(tmp_path):
    done = gpu_check("--only", "versions", "--budget", "60", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith(": versions.json, summary.md")


def test_an_earlier_check_is_kept_unless_overwrite(tmp_path):
    """results/gpu_check/ holds the committed H200 check: a dry run into it had deleted six of its files."""
    (tmp_path / "versions.json").write_text('{"gpu": "NVIDIA H200"}')
    done = gpu_check("--only", "versions", "--budget", "60", "--out", str(tmp_path))
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "--overwrite" in err[0] and "versions.json" in err[0], err
    assert (tmp_path / "versions.json").read_text() == '{"gpu": "NVIDIA H200"}'


def test_without_cupy_the_gpu_check_is_one_line_and_leaves_no_folder(tmp_path):
    """It had run every stage, each failing on the missing CuPy, and printed two error lines."""
    if subprocess.run([sys.executable, "-c", "import cupy"], capture_output=True).returncode == 0:
        pytest.skip("CuPy is here")
    done = subprocess.run([sys.executable, "experiments/gpu_check.py", "--out", str(tmp_path / "g"), "--budget", "60"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "CuPy" in done.stderr, done.stderr
    assert not os.path.exists(tmp_path / "g")
