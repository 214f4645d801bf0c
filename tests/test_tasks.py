"""The data: each docstring's worked example (run as a doctest), table sizes, splits, sequence layout."""
import doctest

import numpy as np
import pytest

import tasks

EXERCISE_OF = {"modular_table": "modular_division", "moving_window_sum": "moving_window_sum"}
DOCTESTS = [t for t in doctest.DocTestFinder().find(tasks) if t.examples]


@pytest.mark.parametrize("test", [pytest.param(t, id=t.name.split(".")[-1],
                                               marks=[getattr(pytest.mark, EXERCISE_OF[t.name.split(".")[-1]])]
                                               if t.name.split(".")[-1] in EXERCISE_OF else [])
                                  for t in DOCTESTS])
def test_docstring_example(test):
    """The worked example in each task's docstring is what the code computes."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_every_task_has_a_worked_example():
    names = {t.name.split(".")[-1] for t in DOCTESTS}
    assert {"modular_table", "arithmetic_sequences", *(f.__name__ for f in tasks.SEQUENCE_TASKS.values())} <= names


@pytest.mark.modular_division
def test_division_example_from_the_docstring():
    a, b, c = tasks.modular_table("div", 5)
    assert int(c[(a == 3) & (b == 2)][0]) == 4  # 2·4 = 8 ≡ 3 (mod 5)


@pytest.mark.parametrize("op, check", [("add", lambda a, b, c, p: (a + b - c) % p == 0),
                                       ("sub", lambda a, b, c, p: (a - b - c) % p == 0),
                                       ("mul", lambda a, b, c, p: (a * b - c) % p == 0),
                                       pytest.param("div", lambda a, b, c, p: (c * b - a) % p == 0,
                                                    marks=pytest.mark.modular_division)])
def test_every_table_entry_is_right(op, check):
    a, b, c = tasks.modular_table(op, 7)
    assert check(a, b, c, 7).all()
    assert len(c) == (7 * 6 if op == "div" else 49)


def test_division_needs_a_prime():
    with pytest.raises(ValueError, match="prime"):
        tasks.modular_table("div", 10)


def test_unknown_operation_is_named():
    with pytest.raises(ValueError, match="'pow'"):
        tasks.arithmetic_split(["pow"], 7)


def test_sequences_read_a_op_b_equals():
    inputs, targets = tasks.arithmetic_sequences("sub", 5)
    row = inputs[(inputs[:, 0] == 1) & (inputs[:, 2] == 3)][0]
    assert list(row) == [1, 5 + 1, 3, 5 + 4] and tasks.arithmetic_vocab_size(5) == 10
    assert targets[(inputs[:, 0] == 1) & (inputs[:, 2] == 3)][0] == 3  # 1 - 3 ≡ 3 (mod 5)


@pytest.mark.modular_division
def test_each_op_is_split_on_its_own_and_seeded():
    one = tasks.arithmetic_split(["add", "div"], 7, 0.5, seed=1)
    two = tasks.arithmetic_split(["add", "div"], 7, 0.5, seed=1)
    np.testing.assert_array_equal(one["div"]["train"][0], two["div"]["train"][0])
    assert len(one["add"]["train"][1]) + len(one["add"]["val"][1]) == 49
    assert len(one["div"]["train"][1]) == 21
    train = {tuple(r) for r in one["add"]["train"][0]}
    assert not train & {tuple(r) for r in one["add"]["val"][0]}


@pytest.mark.parametrize("task, expected", [pytest.param("mws", [5, 14, 8], marks=pytest.mark.moving_window_sum),
                                            ("mwp", [5, 11, 8]),
                                            ("mwd", [5, 13, 10]), ("prefix", [5, 14, 13])])
def test_sequence_task_docstring_examples(task, expected):
    assert list(tasks.SEQUENCE_TASKS[task](np.array([5, 9, 16]), p=17, k=2)) == expected


@pytest.mark.moving_window_sum
def test_window_three_sum():
    assert list(tasks.moving_window_sum(np.array([1, 2, 3, 4]), p=17, k=3)) == [1, 3, 6, 9]
    assert list(tasks.moving_window_sum(np.array([[16, 16]]), p=17, k=2)[0]) == [16, 15]


def test_window_three_product():
    assert list(tasks.moving_window_product(np.array([1, 2, 3, 4]), p=17, k=3)) == [1, 2, 6, 24 % 17]


def test_sequence_layout_and_separators():
    seqs = tasks.sequence_batch("prefix", 4, np.random.default_rng(0))
    assert seqs.shape == (4, 33)
    assert (seqs[:, 16] == 20).all() and ((seqs[:, :16] >= 1) & (seqs[:, :16] <= 16)).all()
    assert [tasks.separator_token(t) for t in ("mws", "mwd", "mwp", "prefix")] == [17, 18, 19, 20]
    inputs, targets = tasks.next_token_pairs(seqs)
    assert inputs.shape == (4, 32) and (targets[:, :16] == -1).all()
    np.testing.assert_array_equal(targets[:, 16:], seqs[:, 17:])


def test_mixed_batch_split():
    assert tasks.split_batch(128, ["mws", "mwp", "mwd"]) == {"mws": 43, "mwp": 43, "mwd": 42}


def test_unknown_sequence_task():
    with pytest.raises(ValueError, match="'mwx'"):
        tasks.sequence_batch("mwx", 2, np.random.default_rng(0))


@pytest.mark.parametrize("ops", [pytest.param(ops, marks=[pytest.mark.modular_division] if "div" in ops else [])
                                 for ops in (["add", "div"], ["div", "mul"], ["sub", "add", "mul", "div"],
                                             ["mul", "sub"])])
@pytest.mark.parametrize("seed", [0, [3, 1]])
def test_each_operations_split_depends_on_that_operation_and_the_seed_only(ops, seed):
    """An op trained beside others gets exactly the split it gets alone (issue 21: one generator
    shared across ops gave division another split under --ops add,div than under --ops div)."""
    together = tasks.arithmetic_split(ops, 11, seed=seed)
    for op in ops:
        alone = tasks.arithmetic_split([op], 11, seed=seed)[op]
        for split in ("train", "val"):
            assert all(np.array_equal(a, b) for a, b in zip(together[op][split], alone[split]))


@pytest.mark.parametrize("dest, words", [
    ("", "DEST is empty"), ("{tmp}/exists", "already exists"), ("{root}/student", "inside the repository"),
    ("{root}", "already exists"), ("{tmp}/afile/x", "not a writable folder"), ("{tmp}/missing/x", "not a writable folder"),
    ("/proc/x", "cannot")])
def test_student_copy_refuses_a_bad_destination_with_one_line(dest, words, tmp_path):
    """make_student_copy.py: a DEST it cannot use is one `error:` line and exit 2, and nothing is copied
    (a DEST inside the repository once recursed into itself)."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    (tmp_path / "exists").mkdir()
    (tmp_path / "afile").write_text("x")
    dest = dest.replace("{tmp}", str(tmp_path)).replace("{root}", root)
    out = subprocess.run([sys.executable, os.path.join(root, "tools", "make_student_copy.py"), dest],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    assert words in out.stderr and not os.path.exists(os.path.join(root, "student"))
