"""Every command the README shows names things that exist: scripts, flags, extras, markers.
(The long commands themselves run in CI through their --quick modes: test_experiments.py.)"""
import configparser
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()
COMMANDS = [line.strip() for block in re.findall(r"```bash\n(.*?)```", README, re.S)
            for part in block.splitlines() for line in part.split("&&") if line.strip()]
CFG = configparser.ConfigParser()
CFG.read(os.path.join(ROOT, "setup.cfg"))
MARKERS = {line.split(":")[0].strip() for line in CFG["tool:pytest"]["markers"].strip().splitlines()}


def test_readme_has_the_setup_commands():
    assert COMMANDS[:3] == ['pip install -e ".[test]"', "pytest", "python experiments/grok.py"]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_names_things_that_exist(command):
    words = shlex.split(command)
    if words[0] == "cd":
        return
    if words[:3] == ["pip", "install", "-e"]:
        extra = re.match(r"\.\[(\w+)\]", words[3]).group(1)
        assert extra in CFG["options.extras_require"]
    elif words[0] == "pytest":
        if "-m" in words:
            assert words[words.index("-m") + 1] in MARKERS
    elif words[:2] == ["python", "-c"]:
        compile(words[2], "<README>", "exec")  # a one-liner: it must at least be valid Python
    elif words[0] == "python":
        script = os.path.join(ROOT, words[1])
        assert os.path.exists(script), words[1]
        if words[1].startswith("experiments/"):
            help_text = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True,
                                       cwd=ROOT, timeout=60).stdout
            for flag in (w for w in words[2:] if w.startswith("--")):
                assert flag in help_text, f"{words[1]} has no flag {flag}"
    else:
        pytest.fail(f"the README shows a command this test does not know: {command}")


def test_every_script_and_marker_the_readme_names_exists():
    for script in set(re.findall(r"`(experiments/\w+\.py)`", README)):
        assert os.path.exists(os.path.join(ROOT, script)), script
    for marker in re.findall(r"`pytest -m (\w+)`", README):
        assert marker in MARKERS, marker


def test_every_committed_figure_says_in_words_what_it_draws():
    """RESULTS.md's alt text had been 'script: file name' only."""
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import report
    if not os.path.isdir(os.path.join(ROOT, "results")):
        pytest.skip("no results/ here (a student copy)")
    names = [n for n in os.listdir(os.path.join(ROOT, "results")) if n.endswith(".png")]
    assert names and all(report.alt_text("s", n) != f"s: {n}" for n in names), names
