"""The autograder's own check: a student copy fails exactly the exercise tests."""
import configparser
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import make_student_copy as msc

ROOT = msc.ROOT
MARKERS = [name.replace("-", "_") for name in msc.all_exercises()]


def test_every_exercise_is_a_declared_marker_with_tests():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    declared = {line.split(":")[0].strip() for line in cfg["tool:pytest"]["markers"].strip().splitlines()}
    tests = "".join(open(os.path.join(ROOT, "tests", f)).read() for f in os.listdir(os.path.join(ROOT, "tests"))
                    if f.startswith("test_") and f.endswith(".py"))
    assert 8 <= len(MARKERS) <= 12
    for marker in MARKERS:
        assert marker in declared, f"{marker} is not declared in setup.cfg"
        assert f"mark.{marker}" in tests or f"'{marker}'" in tests or f'"{marker}"' in tests, f"no test for {marker}"


def grading_command():
    """The one command of TEACHING.md that grades a whole copy, as a list of arguments."""
    text = open(os.path.join(ROOT, "TEACHING.md")).read()
    return shlex.split(re.search(r"^pytest .*--junitxml=grades.xml$", text, re.M).group(0))


def test_teaching_page_orders_every_exercise_and_grades_them_all():
    text = open(os.path.join(ROOT, "TEACHING.md")).read()
    rows = re.findall(r"^\| (\d+) \| ([a-z-]+) \| .* \| (\d) \|$", text, re.M)
    assert [int(n) for n, _, _ in rows] == list(range(1, len(MARKERS) + 1))
    assert sorted(name for _, name, _ in rows) == sorted(msc.all_exercises())
    assert f"{sum(int(p) for _, _, p in rows)} points in all" in text
    command = grading_command()
    marked = command[command.index("-m") + 1].split(" or ")
    assert sorted(marked) == sorted(MARKERS)
    assert "(TEACHING.md)" in open(os.path.join(ROOT, "README.md")).read()


@pytest.mark.speed_path  # the repository's own fastops.py is the one with solved regions
def test_student_copy_holds_no_solved_speed_path_and_trains_on_the_students_ops(tmp_path):
    copy = str(tmp_path / "student")
    msc.make_student_copy(copy)
    fast = open(os.path.join(copy, "fastops.py")).read()
    assert "\n# SOLVED:" not in fast and "def softmax" not in fast and "def _update" not in fast
    assert "# SOLVED:" in open(os.path.join(ROOT, "fastops.py")).read()
    check = subprocess.run([sys.executable, "-c", "import autograd as ag, fastops; ag.set_backend('numpy'); "
                            "print(sorted({getattr(ag, op).__module__ for op in fastops.SWAPPED}))"],
                           cwd=copy, capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "['autograd']", check.stderr
    # a script that needs an unsolved exercise ends in one line naming it and how to grade it, no traceback
    run = subprocess.run([sys.executable, "experiments/grok.py", "--quick", "--out", str(tmp_path / "run")],
                         cwd=copy, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.count("\n") == 1, run.stderr
    assert re.match(r"error: exercise [a-z0-9-]+ is not solved yet .*`pytest -m [a-z0-9_]+`", run.stderr), run.stderr


def test_stripping_keeps_the_markers_and_raises():
    text = "def f(x):\n    # EXERCISE demo: add one\n    return x + 1\n    # END EXERCISE\n"
    out = msc.strip_solutions(text)
    assert 'raise NotImplementedError("Exercise demo: add one")' in out and "return x + 1" not in out
    namespace = {}
    exec(out, namespace)
    with pytest.raises(NotImplementedError, match="demo"):
        namespace["f"](1)


def _pytest(copy, *args):
    env = dict(os.environ, PYTHONPATH=copy)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.integration
def test_student_copy_fails_exactly_the_exercise_markers(tmp_path):
    copy = str(tmp_path / "student")
    msc.make_student_copy(copy)
    assert sorted(msc.unsolved(copy)) == sorted(msc.all_exercises())
    any_exercise = " or ".join(MARKERS)
    rest = _pytest(copy, "-m", f"not ({any_exercise})")
    assert rest.returncode == 0, rest.stdout[-3000:]
    graded = _pytest(copy, *grading_command()[3:])  # TEACHING.md's command, as a teacher runs it
    cases = ET.parse(os.path.join(copy, "grades.xml")).getroot().iter("testcase")
    outcomes = {c.get("classname") + "::" + c.get("name"):
                ("failed" if c.find("failure") is not None or c.find("error") is not None
                 else "skipped" if c.find("skipped") is not None else "passed") for c in cases}
    assert outcomes and graded.returncode == 1
    passed = [name for name, outcome in outcomes.items() if outcome == "passed"]
    assert not passed, f"exercise tests that pass without the solution: {passed}"
    assert sum(o == "failed" for o in outcomes.values()) >= len(MARKERS)


@pytest.mark.integration
def test_each_exercise_passes_alone_once_solved(tmp_path):
    """A student who solves one exercise, and no other, sees its marker's tests pass."""
    failures = []
    for name in msc.all_exercises():
        copy = str(tmp_path / name)
        msc.make_student_copy(copy, keep=(name,))
        assert name not in msc.unsolved(copy) and len(msc.unsolved(copy)) == len(MARKERS) - 1
        marker = name.replace("-", "_")
        report = str(tmp_path / f"{name}.xml")
        out = _pytest(copy, "-m", marker, f"--junitxml={report}", "-x")
        cases = list(ET.parse(report).getroot().iter("testcase"))
        ran = [c for c in cases if c.find("skipped") is None]
        if out.returncode != 0 or not ran:
            failures.append(f"{name}: exit {out.returncode}, {len(ran)} tests ran\n{out.stdout[-1500:]}")
    assert not failures, "\n".join(failures)
