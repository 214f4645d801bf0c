"""The environment a script runs in, one class of hostile cases in one table: an ASCII-only stdout,
a closed stderr, Ctrl-C while the script is still starting, and empty path flags. Each ends as the
command-line contract says (experiments/common.py): a finished run keeps its table, a bad input is
exit status 2, an interrupt is 130 with no traceback."""
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def run(command, env=None, interrupt_after=None):
    """(exit status, stdout, stderr) of a shell command run from the repository root."""
    p = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env={**ENV, **(env or {})}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        while not imports_numpy(p.pid) and p.poll() is None:  # a loaded machine: still starting Python
            time.sleep(0.005)
        p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def imports_numpy(pid):
    """Whether the script got as far as importing NumPy, which common.py imports just after it
    installs its SIGINT handler (Linux: /proc; elsewhere assume so). Before that, Python itself is
    still starting, and no script can catch a Ctrl-C there."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "numpy" in f.read()
    except OSError:
        return True


CASES = [  # (id, command with {tmp}, environment, interrupt after (s), exit status, file that must exist)
    ("ascii-stdout", "exec python experiments/grok.py --quick --out {tmp}/a", {"PYTHONIOENCODING": "ascii"},
     None, 0, "a/table.json"),
    ("ascii-stdout-sequence", "exec python experiments/task_diversity.py --quick --out {tmp}/s",
     {"PYTHONIOENCODING": "ascii"}, None, 0, "s/table.json"),
    ("stderr-closed-bad-flag", "exec python experiments/grok.py --steps x 2>&-", {}, None, 2, None),
    ("stderr-closed-bad-config", "exec python experiments/grok.py --quick --p 4 --out {tmp}/c 2>&-", {}, None, 2, None),
    ("ctrl-c-at-0.1s", "exec python experiments/grok.py --quick --out {tmp}/i1", {}, 0.1, 130, None),
    ("ctrl-c-at-0.2s", "exec python experiments/grok_optimizer.py --quick --out {tmp}/i2", {}, 0.2, 130, None),
    ("ctrl-c-at-0.3s", "exec python experiments/reproduce.py --quick --root {tmp}/i3", {}, 0.3, 130, None),
] + [(f"empty-{flag}-{script}", f"exec python experiments/{script}.py {flag} ''", {}, None, 2, None)
     for script, flag in (("grok", "--out"), ("task_diversity", "--out"), ("bench", "--out"), ("bench", "--compare"),
                          ("report", "--out"), ("report", "--root"), ("reproduce", "--root"),
                          ("reproduce", "--results"), ("gpu_check", "--out"))]


TRAINS = {"ascii-stdout", "ascii-stdout-sequence", "ctrl-c-at-0.2s", "ctrl-c-at-0.3s"}  # may train (or reach an
# unsolved exercise before its Ctrl-C: grok_optimizer builds the division table within 0.2 s on a quiet machine):
# integration (a student copy waits)


@pytest.mark.parametrize("command, env, interrupt_after, status, made", [
    pytest.param(*c[1:], id=c[0], marks=[pytest.mark.integration] if c[0] in TRAINS else []) for c in CASES])
def test_environment(command, env, interrupt_after, status, made, tmp_path):
    code, out, err = run(command.format(tmp=tmp_path), env, interrupt_after)
    assert code == status, (out[-1500:], err[-1500:])
    assert "Traceback" not in err, err[-1500:]
    if made:
        assert (tmp_path / made).exists()
    if status == 2 and "2>&-" not in command:
        assert err.startswith("error: ") and err.count("\n") == 1, err
