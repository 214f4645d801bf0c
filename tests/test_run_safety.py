"""Nothing lost (issue 21), by class: every damaged run file is one line naming it and a way out
that works when followed; resume flags never delete a finished run; a link is never written
through; a full disk leaves no half-written file; report.py writes everything or nothing, never
smoke numbers into the committed ledger and never drops a figure it could not redraw; and every
command that --list prints runs as printed."""
import errno
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil

import numpy as np
import pytest

from test_experiments import ROOT, TINY_FLAGS, digest, run_main

import common  # noqa: E402  (test_experiments put experiments/ on sys.path)
import report  # noqa: E402
import runs  # noqa: E402

STEPS = ["--steps", "10"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A finished tiny grok run and one stopped at step 10 (checkpoint, no summary), made once."""
    base = tmp_path_factory.mktemp("pristine")
    assert run_main("grok", TINY_FLAGS + STEPS + ["--out", str(base / "finished")])[0] == 0
    assert run_main("grok", TINY_FLAGS + ["--steps", "20", "--checkpoint-every", "10",
                                          "--out", str(base / "stopped")])[0] == 0
    os.remove(base / "stopped" / "grok" / "summary.json")
    for name in ("params.npz", "curves.png"):
        if os.path.exists(base / "stopped" / "grok" / name):
            os.remove(base / "stopped" / "grok" / name)
    return base


def _npz(path, change):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(path, **arrays)


def _first_param(arrays, prefix=""):
    return next(k for k in sorted(arrays) if k.startswith(prefix) and k != "meta")


def _as_integers(prefix):
    def change(arrays):
        k = _first_param(arrays, prefix)
        arrays[k] = arrays[k].astype(np.int64)
    return change


def _with_nan(prefix):
    def change(arrays):
        k = _first_param(arrays, prefix)
        arrays[k] = arrays[k].copy()
        arrays[k].flat[0] = np.nan
    return change


def _drop_rows(path, n=2):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-n]))


def _old_summary_cut_history(folder):
    """A run finished before summaries kept checksums, whose history was then cut at a row boundary."""
    summary = json.loads((folder / "summary.json").read_text())
    del summary["files"]
    (folder / "summary.json").write_text(json.dumps(summary))
    _drop_rows(folder / "history.csv")


def _write(name, text):
    return lambda folder: (folder / name).write_text(text)


def _summary_folder(folder):
    os.remove(folder / "summary.json")
    os.mkdir(folder / "summary.json")


# (case, which pristine run, damage(folder), the file the error names, words in it)
def _edit_checkpoint_history(change):
    def edit(meta):
        change(meta["history"])
        return meta
    return lambda f: _npz(f / "checkpoint.npz", lambda a: a.update(
        meta=np.array(json.dumps(edit(json.loads(str(a["meta"])))))))


DAMAGED = [
    ("history cut at a row", "finished", lambda f: _drop_rows(f / "history.csv"), "history.csv", "checksum"),
    ("history cut mid-row", "finished", lambda f: (f / "history.csv").write_text(
        (f / "history.csv").read_text()[:-30]), "history.csv", "short row"),
    ("old summary, history cut", "finished", _old_summary_cut_history, "history.csv", "cut short"),
    ("history edited", "finished", lambda f: (f / "history.csv").write_text(
        (f / "history.csv").read_text().replace("div,val,", "div,val,9", 1)), "history.csv", "checksum"),
    ("params deleted", "finished", lambda f: os.remove(f / "params.npz"), "params.npz", "does not exist"),
    ("params truncated", "finished", lambda f: (f / "params.npz").write_bytes(
        (f / "params.npz").read_bytes()[:300]), "params.npz", "damaged"),
    ("params integers", "finished", lambda f: _npz(f / "params.npz", _as_integers("")), "params.npz", "int64"),
    ("params NaN", "finished", lambda f: _npz(f / "params.npz", _with_nan("")), "params.npz", "NaN"),
    ("summary []", "finished", _write("summary.json", "[]"), "summary.json", "not a finished run's summary"),
    ("summary {}", "finished", _write("summary.json", "{}"), "summary.json", "not a finished run's summary"),
    ("summary div:5", "finished", _write("summary.json", '{"div": 5}'), "summary.json", "not a finished run"),
    ("summary truncated", "finished", _write("summary.json", '{"steps": 10, "con'), "summary.json", "truncated"),
    ("summary a folder", "finished", _summary_folder, "summary.json", "cannot be read"),
    ("summary steps past the budget", "finished", lambda f: (f / "summary.json").write_text(json.dumps(
        dict(json.loads((f / "summary.json").read_text()), steps=11))), "summary.json", "past its own budget"),
    ("summary steps before the history's end", "finished", lambda f: (f / "summary.json").write_text(json.dumps(
        dict(json.loads((f / "summary.json").read_text()), steps=7))), "summary.json", "where its history ends"),
    ("checkpoint truncated", "stopped", lambda f: (f / "checkpoint.npz").write_bytes(
        (f / "checkpoint.npz").read_bytes()[:200]), "checkpoint.npz", "damaged"),
    ("checkpoint integers", "stopped", lambda f: _npz(f / "checkpoint.npz", _as_integers("param.")),
     "checkpoint.npz", "int64"),
    ("checkpoint NaN", "stopped", lambda f: _npz(f / "checkpoint.npz", _with_nan("param.")), "checkpoint.npz", "NaN"),
    ("checkpoint without meta", "stopped", lambda f: _npz(f / "checkpoint.npz", lambda a: a.pop("meta")),
     "checkpoint.npz", "not a checkpoint"),
    ("checkpoint optimizer state", "stopped", lambda f: _npz(f / "checkpoint.npz", lambda a: a.update(
        {"opt.steps": a["opt.steps"][:-1]})), "checkpoint.npz", "optimizer state does not fit"),
    ("checkpoint parameter reshaped", "stopped", lambda f: _npz(f / "checkpoint.npz", lambda a: a.update(
        {_first_param(a, "param."): np.zeros((2, 2), np.float32)})), "checkpoint.npz", "does not fit this model"),
    ("config truncated", "finished", _write("config.json", '{"kind": "gr'), "config.json", "truncated"),
    ("config []", "finished", _write("config.json", "[]"), "config.json", "not a valid config"),
    ("config edited", "finished", lambda f: (f / "config.json").write_text(
        (f / "config.json").read_text().replace('"d_model": 16', '"d_model": 32')), "config.json", "not the config"),
    ("config steps text", "finished", lambda f: (f / "config.json").write_text(
        re.sub(r'"steps": \d+', '"steps": "ten"', (f / "config.json").read_text())), "config.json", "not a valid"),
    ("checkpoint step past its budget", "stopped", lambda f: _npz(f / "checkpoint.npz", lambda a: a.update(
        meta=np.array(json.dumps(dict(json.loads(str(a["meta"])), step=1_000_000))))), "checkpoint.npz", "was edited"),
    ("config another run", "finished", lambda f: (f / "config.json").write_text(
        re.sub(r'"run_id": "\w+"', '"run_id": "x"', (f / "config.json").read_text())), "config.json", "not the config"),
    ("summary made_by text", "finished", lambda f: (f / "summary.json").write_text(json.dumps(
        dict(json.loads((f / "summary.json").read_text()), made_by="x"))), "summary.json", "not a finished run"),
    ("summary tasks list", "finished", lambda f: (f / "summary.json").write_text(json.dumps(
        dict(json.loads((f / "summary.json").read_text()), tasks=[]))), "summary.json", "not a finished run"),
    ("summary config steps -6", "finished", lambda f: (f / "summary.json").write_text(json.dumps(
        dict(json.loads((f / "summary.json").read_text()), config=dict(json.loads((f / "summary.json").read_text())[
            "config"], steps=-6)))), "summary.json", "not a valid config"),
    ("checkpoint history acc text", "stopped", _edit_checkpoint_history(lambda h: h[0].update(acc="NaNx")),
     "checkpoint.npz", "history row that is not this run's"),
    ("checkpoint history row of a step only", "stopped", _edit_checkpoint_history(lambda h: h.append({"step": 1})),
     "checkpoint.npz", "history row that is not this run's"),
    ("checkpoint history member 99", "stopped", _edit_checkpoint_history(lambda h: h[0].update(member=99)),
     "checkpoint.npz", "history row that is not this run's"),
    ("checkpoint history split of another problem", "stopped", _edit_checkpoint_history(
        lambda h: h[0].update(split="heldout")), "checkpoint.npz", "history row that is not this run's"),
    ("checkpoint history seed 77", "stopped", _edit_checkpoint_history(lambda h: h[0].update(seed=77)),
     "checkpoint.npz", "history row that is not this run's"),
    ("checkpoint history reversed", "stopped", _edit_checkpoint_history(lambda h: h.reverse()),
     "checkpoint.npz", "evaluation at step"),
    ("checkpoint history a row twice", "stopped", _edit_checkpoint_history(lambda h: h.append(dict(h[-1]))),
     "checkpoint.npz", "evaluation at step"),
    ("checkpoint history a row less", "stopped", _edit_checkpoint_history(lambda h: h.pop(0)),
     "checkpoint.npz", "evaluation at step"),
    ("history a link to /dev/zero", "finished", lambda f: (os.remove(f / "history.csv"),
                                                           os.symlink("/dev/zero", f / "history.csv")),
     "history.csv", "not a regular file"),
    ("timing binary", "finished", lambda f: (f / "timing.json").write_bytes(b"\x00\xff" * 9), "timing.json",
     "not valid JSON"),
    ("timing a device", "stopped", lambda f: (os.remove(f / "timing.json"), os.symlink("/dev/zero", f / "timing.json")),
     "timing.json", "not a regular file"),
]


@pytest.mark.integration
@pytest.mark.parametrize("case, which, damage, name, words", DAMAGED, ids=[c[0] for c in DAMAGED])
def test_a_damaged_run_file_is_one_line_and_its_remedy_works(case, which, damage, name, words, pristine, tmp_path):
    """Never reused, resumed or retrained silently: one error line naming the file; then the way
    out that the line gives, followed to the letter, works (issue 21: after deleting a damaged
    params.npz as told, a run was stuck)."""
    shutil.copytree(pristine / which, tmp_path / which)
    folder = tmp_path / which / "grok"
    damage(folder)
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)
              if name not in ("run.lock", "timing.json") and (folder / name).is_file()}
    steps = STEPS if which == "finished" else ["--steps", "20"]
    argv = TINY_FLAGS + steps + ["--out", str(tmp_path / which), "--resume"]
    code, out, err = run_main("grok", argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (code, err, out[-300:])
    assert words in err and (name is None or str(folder / name) in err), err
    assert "resuming" not in out and "reusing" not in out
    assert {name: (folder / name).read_bytes() for name in before} == before  # nothing changed on the way out
    if name == "timing.json":  # its own remedy: only the run times are lost
        assert "delete that file (only its run times are lost)" in err, err
        os.remove(folder / "timing.json")
        assert run_main("grok", argv)[0] == 0
        return
    remedy = re.search(r"delete the run folder (\S+) to train that run again", err)
    assert remedy and remedy.group(1) == str(folder), err
    shutil.rmtree(remedy.group(1))
    code, out, err = run_main("grok", argv)
    assert code == 0, err


def test_a_sweep_whose_members_may_diverge_keeps_nan_parameters(tmp_path):
    """finite_params=False (on_divergence="continue"): a diverged member's NaN is a result, not damage."""
    nan = {"W": np.array([[np.nan, 1.0]])}
    assert runs.RunFolder(str(tmp_path), (), {}, finite_params=False).check_params("params.npz", nan) is nan
    with pytest.raises(runs.InputError, match="NaN"):
        runs.RunFolder(str(tmp_path), (), {}).check_params("params.npz", nan)


# -- resume flags never delete a finished run -------------------------------------------------

@pytest.mark.integration
@pytest.mark.parametrize("argv, words", [
    (["--steps", "5", "--resume"], "give --steps 10 to reuse it"),       # fewer steps than it finished with
    (["--steps", "30", "--resume"], "kept no checkpoint"),               # more steps, nothing to continue from
    (["--steps", "10", "--resume", "--overwrite"], "contradict"),        # a contradiction
    (["--steps", "30", "--resume", "--overwrite"], "contradict"),
    (["--steps", "10"], "--resume"),                                     # a fresh run in its folder
], ids=["fewer steps", "more steps, no checkpoint", "resume+overwrite", "resume+overwrite, more", "fresh"])
def test_resume_flags_never_delete_a_finished_run(argv, words, pristine, tmp_path):
    shutil.copytree(pristine / "finished", tmp_path / "finished")
    before = digest(str(tmp_path / "finished" / "grok"))
    code, out, err = run_main("grok", TINY_FLAGS + argv + ["--out", str(tmp_path / "finished")], limit=30)
    assert code == 2 and err.count("\n") == 1 and words in err, (code, err)
    assert digest(str(tmp_path / "finished" / "grok")) == before


@pytest.mark.integration
def test_a_checkpoint_past_the_budget_says_how_to_resume_and_that_works(pristine, tmp_path):
    """The stopped run's checkpoint is at step 20 (its last): --steps 5 is refused, and the remedy it gives works."""
    shutil.copytree(pristine / "stopped", tmp_path / "s")
    flags = TINY_FLAGS + ["--checkpoint-every", "10", "--out", str(tmp_path / "s"), "--resume"]
    code, _, err = run_main("grok", flags + ["--steps", "5"])
    assert code == 2 and err.count("\n") == 1 and "resume it with --steps 20 or more" in err, err
    code, out, err = run_main("grok", flags + ["--steps", "20"])
    assert code == 0 and "resuming at step 20" in out, err


@pytest.mark.integration
def test_overwrite_alone_replaces_and_resume_continues_from_a_checkpoint(pristine, tmp_path):
    shutil.copytree(pristine / "finished", tmp_path / "a")
    code, _, err = run_main("grok", TINY_FLAGS + ["--steps", "5", "--overwrite", "--out", str(tmp_path / "a")])
    assert code == 0 and runs.read_json(str(tmp_path / "a" / "grok" / "summary.json"))["steps"] == 5, err
    flags = TINY_FLAGS + ["--checkpoint-every", "10", "--out", str(tmp_path / "b")]
    assert run_main("grok", flags + ["--steps", "20"])[0] == 0
    code, out, err = run_main("grok", flags + ["--steps", "30", "--resume"])
    assert code == 0 and "resuming at step 20" in out, err


# -- run times: timing.json, one segment per process that trained the run -------------------

@pytest.mark.integration
def test_timing_has_one_segment_per_process_and_a_fresh_run_starts_it_anew(pristine, tmp_path):
    shutil.copytree(pristine / "stopped", tmp_path / "b")
    folder = tmp_path / "b" / "grok"
    first = runs.read_timing(str(folder / "timing.json"))
    assert len(first) == 1 and first[0]["from_step"] == 0 and first[0]["seconds"] > 0
    code, out, err = run_main("grok", TINY_FLAGS + ["--steps", "30", "--resume", "--out", str(tmp_path / "b")])
    assert code == 0 and "resuming at step" in out, (err, out)
    segments = runs.read_timing(str(folder / "timing.json"))
    resumed_at = int(re.search(r"resuming at step (\d+)", out).group(1))
    assert segments[:1] == first and (segments[1]["from_step"], segments[1]["to_step"]) == (resumed_at, 30)
    code, _, err = run_main("grok", TINY_FLAGS + STEPS + ["--overwrite", "--out", str(tmp_path / "b")])
    assert code == 0, err
    assert [(s["from_step"], s["to_step"]) for s in runs.read_timing(str(folder / "timing.json"))] == [(0, 10)]


@pytest.mark.integration
@pytest.mark.parametrize("text", ['{"segments": [{"seconds": -1, "from_step": 0, "to_step": 1}]}',
                                  '{"segments": {}}', "[]", '{"segm'])
def test_a_damaged_timing_file_is_one_line_and_deleting_it_lets_the_run_resume(text, pristine, tmp_path):
    shutil.copytree(pristine / "stopped", tmp_path / "b")
    path = tmp_path / "b" / "grok" / "timing.json"
    path.write_text(text)
    argv = TINY_FLAGS + ["--steps", "20", "--resume", "--out", str(tmp_path / "b")]
    code, out, err = run_main("grok", argv)
    assert code == 2 and err.count("\n") == 1 and str(path) in err and "delete that file" in err, err
    os.remove(path)
    code, out, err = run_main("grok", argv)
    assert code == 0 and "resuming at step" in out, err
    assert [s["to_step"] for s in runs.read_timing(str(path))] == [20]


# -- links, full disks ---------------------------------------------------------------------

@pytest.mark.integration
def test_a_run_lock_that_is_a_link_is_never_written_through(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "out" / "grok").mkdir(parents=True)
    os.symlink(target, tmp_path / "out" / "grok" / "run.lock")
    code, _, err = run_main("grok", TINY_FLAGS + STEPS + ["--out", str(tmp_path / "out")])
    assert code == 2 and err.count("\n") == 1 and "symbolic link" in err
    assert target.read_text() == "keep me"


def _full_disk(real):
    def savez(path, *args, **kwargs):
        with open(path if str(path).endswith(".npz") else f"{path}.npz", "wb") as f:
            f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    return savez


@pytest.mark.integration
def test_a_full_disk_leaves_the_old_checkpoint_and_no_partial_file(pristine, tmp_path, monkeypatch):
    shutil.copytree(pristine / "stopped", tmp_path / "stopped")
    folder = tmp_path / "stopped" / "grok"
    before = (folder / "checkpoint.npz").read_bytes()
    monkeypatch.setattr(runs.np, "savez", _full_disk(np.savez))
    code, out, err = run_main("grok", TINY_FLAGS + ["--steps", "40", "--checkpoint-every", "10", "--resume",
                                                    "--out", str(tmp_path / "stopped")])
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err, err
    assert (folder / "checkpoint.npz").read_bytes() == before
    assert not [n for n in os.listdir(folder) if ".tmp" in n]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_write_atomically_writes_all_or_nothing(error, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")

    def write(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise error
    with pytest.raises(runs.InputError if isinstance(error, OSError) else KeyboardInterrupt):
        runs.write_atomically(str(path), write)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["summary.json"]


def _timed(folder, arm, segments, run_id="r"):
    (folder / arm).mkdir(parents=True, exist_ok=True)
    (folder / arm / "config.json").write_text(json.dumps({"run_id": "r"}))
    if segments is not None:
        (folder / arm / "timing.json").write_text(json.dumps({"run_id": run_id, "segments": segments}))


def test_report_run_times_come_from_the_arms_timing_then_reproduce_then_the_earlier_ledger(tmp_path):
    """Issue 21 item 12: every time in the ledger is one a run measured; none is typed by hand."""
    root = tmp_path / "runs"
    seg = lambda s, threads: {"seconds": s, "from_step": 0, "to_step": 10, "threads": threads, "host": "h"}
    _table(root, "grok", arms=("grok",))
    _timed(root / "grok", "grok", [seg(60, "1"), seg(30.5, "2")])             # two processes, one arm
    _table(root, "grok_init", arms=("a", "b"))                                 # one arm untimed, and
    _timed(root / "grok_init", "a", [seg(3600, None)])                         # reproduce.py timed it all
    _timed(root / "grok_init", "b", None)
    _table(root, "grok_multitask", arms=("a", "b", "c"))                       # only some arms timed
    _timed(root / "grok_multitask", "a", [seg(120, "1")])
    _timed(root / "grok_multitask", "b", None)
    _timed(root / "grok_multitask", "c", [seg(99999, "1")], run_id="another run's")
    _timed(root / "transfer", "x", [seg(5, "1")])  # an unfinished re-run: no table.json, so its rows are carried
    (root / "reproduce_timings.json").write_text(json.dumps({"invocations": [
        {"seconds": {"grok_init": 7200.0, "grok_phase": 125.0}}]}))
    earlier = ("### Run times (experiments/reproduce.py)\n\n| script | wall time |\n|---|---|\n"
               "| transfer | 3m25s |\n| grok | 9h00m |\n")
    out = tmp_path / "R.md"
    out.write_text('# old\n<!-- ledger: {"claims": {"grok-claim": "grok", "grok_init-claim": "grok_init", '
                   '"grok_multitask-claim": "grok_multitask"}} -->\n|---|---|---|---|---|---|---|\n'
                   + "| a | b | c | d | e | f | g |\n" * 3 + "\n" + earlier)
    code, _, err = run_main("report", ["--root", str(root), "--out", str(out), "--force"])
    assert code == 0, err
    text = out.read_text()
    section = text[text.index("### Run times"):]
    assert "| grok | 1m30s | 1 arm: their timing.json | 1, 2 | h |" in section          # arms' timing wins
    assert "| grok_init | 2h00m | reproduce_timings.json | — | — |" in section          # not an untimed arm's 0
    assert "| grok_multitask | 2m00s | 1 of its 3 arms (the others have no timing.json" in section  # c: not its run
    assert "| grok_phase | 2m05s | reproduce_timings.json | — | — |" in section
    assert "| transfer | 3m25s | reproduce_timings.json, carried over from the earlier ledger | — | — |" in section
    assert "9h00m" not in section                      # a measured row replaces the earlier ledger's
    code, _, err = run_main("report", ["--root", str(root), "--out", str(out), "--force"])
    assert code == 0 and out.read_text() == text       # the same runs give the same file


def test_a_carried_row_gets_its_reason_as_of_now_not_as_carried(tmp_path):
    """plateau re-run (reproduced) while plateau:fast is carried over: the fast row's reason is
    recomputed from both verdicts, never the carried 'fails at both' line."""
    root = tmp_path / "runs"
    _table(root, "task_diversity", arms=("mws",))
    table = json.loads((root / "task_diversity" / "table.json").read_text())
    table["claims"][0]["id"] = "plateau"
    (root / "task_diversity" / "table.json").write_text(json.dumps(table))
    out = tmp_path / "R.md"
    out.write_text('# old\n<!-- ledger: {"claims": {"plateau": "task_diversity", "plateau:fast": '
                   '"task_diversity-fast"}} -->\n|---|---|---|---|---|---|---|\n'
                   "| a | b | c | d | **not reproduced** | f | g |\n| a | b | c | d | **not reproduced** | f | g |\n\n"
                   "- **plateau:fast**: Its own note. Reason: contradicted: fails at both configurations.\n")
    code, _, err = run_main("report", ["--root", str(root), "--out", str(out), "--force"])
    assert code == 0, err
    note = next(line for line in out.read_text().splitlines() if line.startswith("- **plateau:fast**"))
    assert note == ("- **plateau:fast**: Its own note. Reason: regime-bound: reproduced at the poster's "
                    "configuration, not reproduced at ours."), note


@pytest.mark.parametrize("name, text", [
    ("timing.json", '{"segments": [{"seconds": "long", "from_step": 0, "to_step": 1}]}'),
    ("timing.json", '{"segments": [{"seconds": 1, "from_step": 0, "to_step": 1, "threads": 1}]}'),
    ("timing.json", '{"segments": [{"seconds": 1e400, "from_step": 0, "to_step": 1}]}'),
    ("timing.json", '{"segments": [{"seconds": 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000, "from_step": 0, "to_step": 1}]}'),
    ("../../reproduce_timings.json", '{"invocations": [{"seconds": [1]}]}'),
    ("../../reproduce_timings.json", '{"invocations": [{"seconds": {"grok": "abc"}}]}'),
    ("../../reproduce_timings.json", '{"invocations": [{"seconds": {"grok": -5}}]}')])
def test_report_a_damaged_timing_file_is_one_line_naming_it(name, text, tmp_path):
    root = tmp_path / "runs"
    _table(root, "grok", arms=("grok",))
    _timed(root / "grok", "grok", [])
    (root / "grok" / "grok" / name).write_text(text)
    code, _, err = run_main("report", ["--root", str(root), "--out", str(tmp_path / "R.md"), "--force"])
    assert code == 2 and err.count("\n") == 1 and os.path.basename(name) in err and "delete" in err, err


@pytest.mark.integration
def test_a_smoke_run_replacing_a_smoke_run_deletes_nothing_if_it_cannot_delete_everything(tmp_path):
    out = str(tmp_path / "g")
    assert run_main("grok", ["--quick", "--out", out])[0] == 0
    folder = tmp_path / "g" / "grok"
    os.remove(folder / "history.csv")
    os.mkdir(folder / "history.csv")
    before = {n: (folder / n).read_bytes() for n in os.listdir(folder) if (folder / n).is_file() and n != "run.lock"}
    code, _, err = run_main("grok", ["--quick", "--out", out])
    assert code == 2 and err.count("\n") == 1 and "history.csv is a folder" in err, err
    assert {n: (folder / n).read_bytes() for n in before} == before


@pytest.mark.integration
def test_a_folder_where_a_run_file_goes_is_one_line(tmp_path):
    os.makedirs(tmp_path / "out" / "grok" / "timing.json")
    code, _, err = run_main("grok", TINY_FLAGS + STEPS + ["--out", str(tmp_path / "out")])
    assert code == 2 and err.count("\n") == 1 and "timing.json is a folder" in err, err


# -- report.py: smoke numbers, links, folders, figures, all or nothing ---------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # how every PNG image starts: enough for report.py's check


def _table(root, script="grok", figures=(), arms=("grok",), quick=False, commit="abc1234"):
    """A table.json with one claim, and its arm folders' summary.json (what report.py reads)."""
    folder = root / script
    folder.mkdir(parents=True, exist_ok=True)
    claim = common.claim(f"{script}-claim", "a claim", "poster", "setting", "ours", "reproduced", "rule")
    (folder / "table.json").write_text(json.dumps({"script": script, "claims": [claim], "commit": "tablecommit",
                                                   "figures": list(figures), "arms": {a: {} for a in arms}}))
    for arm in arms:
        (folder / arm).mkdir(exist_ok=True)
        (folder / arm / "summary.json").write_text(json.dumps({"made_by": {"commits": [commit], "quick": quick}}))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A stand-in repository root with a committed RESULTS.md and results/, and a link to the ledger."""
    root = tmp_path / "repo"
    (root / "results").mkdir(parents=True)
    (root / "RESULTS.md").write_text('# old\n<!-- ledger: {"claims": {"grok-claim": "grok"}, '
                                     '"figures": ["grok_main_curves.png"]} -->\n')
    (root / "results" / "grok_main_curves.png").write_bytes(b"the committed figure")
    os.symlink(root / "RESULTS.md", tmp_path / "link.md")
    monkeypatch.setattr(common, "ROOT", str(root))
    return root


@pytest.mark.parametrize("out, force", [("repo/RESULTS.md", False), ("repo/RESULTS.md", True),
                                        ("link.md", False), ("link.md", True), ("elsewhere.md", False)])
def test_smoke_numbers_never_reach_the_committed_ledger(out, force, repo, tmp_path):
    _table(tmp_path / "runs", quick=True)
    before = digest(str(repo))
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / out)]
                            + ["--force"] * force)
    assert code == 2 and err.count("\n") == 1 and "smoke runs" in err, err
    assert digest(str(repo)) == before and not os.path.exists(tmp_path / "elsewhere.md")


def test_a_link_to_the_committed_ledger_is_refused_by_reproduce_quick(repo, tmp_path):
    code, _, err = run_main("reproduce", ["--quick", "--results", str(tmp_path / "link.md"),
                                          "--root", str(tmp_path / "q")])
    assert code == 2 and "--quick never writes the committed RESULTS.md" in err


@pytest.mark.parametrize("script, argv", [
    ("report", ["--out", "{repo}/other.md", "--force"]),  # a real run's ledger beside the committed one
    ("reproduce", ["--quick", "--results", "{repo}/x.md", "--only", "grok"]),  # a smoke ledger
    ("reproduce", ["--quick", "--results", "{repo}/results/../y.md", "--only", "grok"])])
def test_only_the_committed_ledger_writes_the_committed_figures(script, argv, repo, tmp_path):
    """A ledger's figures go into results/ beside it: beside RESULTS.md, that is the committed folder."""
    _table(tmp_path / "runs")
    before = digest(str(repo))
    argv = [a.replace("{repo}", str(repo)) for a in argv]
    code, _, err = run_main(script, argv + ["--root", str(tmp_path / "runs")], limit=10)
    assert code == 2 and err.count("\n") == 1 and "committed ledger's" in err, err
    assert digest(str(repo)) == before


@pytest.mark.speed_path  # bench.py times the speed path, which a student copy leaves out
def test_a_smoke_bench_never_replaces_a_real_one_nor_reaches_the_committed_ledger(repo, tmp_path):
    real = {"machine": {"backend": "numpy", "dtype": "float32", "cpu_count": 2}, "rows": []}
    (tmp_path / "runs" / "bench").mkdir(parents=True)
    (tmp_path / "runs" / "bench" / "bench.json").write_text(json.dumps(real))
    code, _, err = run_main("bench", ["--quick", "--out", str(tmp_path / "runs" / "bench"), "--cases", "mlp:1"])
    assert code == 2 and "real run's bench.json" in err, err
    assert json.loads((tmp_path / "runs" / "bench" / "bench.json").read_text()) == real
    (tmp_path / "runs" / "bench" / "bench.json").write_text(json.dumps({**real, "quick": True}))
    _table(tmp_path / "runs")
    before = digest(str(repo))
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(repo / "RESULTS.md")])
    assert code == 2 and "bench" in err and "smoke runs" in err, err
    assert digest(str(repo)) == before


def test_a_quick_root_at_the_repository_names_the_flag_given(repo):
    """--root . with --quick would put the smoke ledger on RESULTS.md: the remedy is another --root."""
    code, _, err = run_main("reproduce", ["--quick", "--root", str(repo), "--only", "grok"], limit=10)
    assert code == 2 and "give another --root" in err and "--results" not in err, err


def test_report_through_a_link_writes_its_target_and_names_each_claims_commit(repo, tmp_path):
    _table(tmp_path / "runs", commit="c0ffee1")
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "link.md")])
    assert code == 0, err
    assert os.path.islink(tmp_path / "link.md")
    text = (repo / "RESULTS.md").read_text()
    assert "| **reproduced** | rule | c0ffee1 |" in text


@pytest.mark.parametrize("script, argv", [
    ("report", ["--out", "{tmp}"]), ("report", ["--out", ""]),
    ("reproduce", ["--results", "{tmp}", "--only", "grok"]), ("reproduce", ["--results", "{tmp}/no/x.md"]),
    ("reproduce", ["--results", "{tmp}/runs", "--only", "grok", "--quick"]),  # becomes the root folder
    ("reproduce", ["--results", "{tmp}/runs/grok/R.md", "--only", "grok", "--quick"]),  # a folder grok writes
    ("report", ["--out", "{tmp}/runs/grok/table.json", "--force"]),  # would replace a run's table with Markdown
])
def test_an_output_path_that_cannot_be_a_file_is_refused_before_any_work(script, argv, tmp_path):
    (tmp_path / "no").write_text("a file where a folder should be")
    (tmp_path / "runs").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    root = ["--root", str(tmp_path / "runs")]
    code, out, err = run_main(script, argv + root, limit=10)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --"), (code, err)
    assert "######## grok" not in out


def test_report_without_matplotlib_keeps_every_committed_figure(repo, tmp_path):
    """A run that could not draw its figure (null in table.json) keeps the one the ledger showed."""
    _table(tmp_path / "runs", figures=[None])
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(repo / "RESULTS.md")])
    assert code == 0, err
    assert (repo / "results" / "grok_main_curves.png").read_bytes() == b"the committed figure"
    assert "](results/grok_main_curves.png)" in (repo / "RESULTS.md").read_text()


def _edit_table(change):
    def damage(root):
        path = root / "grok" / "table.json"
        table = json.loads(path.read_text())
        change(table, root)
        path.write_text(json.dumps(table))
    return damage


# (case, damage(runs root), words of the one error line): table.json and what it names, checked on the way in
DAMAGED_TABLES = [
    ("no claims", _edit_table(lambda t, r: t.update(claims=[])), "it has no claims"),
    ("a verdict 3", _edit_table(lambda t, r: t["claims"][0].update(verdict=3)), "a verdict is not one of"),
    ("ours NaN", _edit_table(lambda t, r: t["claims"][0].update(ours=float("nan"))), "a claim's field is not text"),
    ("an id twice", _edit_table(lambda t, r: t["claims"].append(dict(t["claims"][0]))), "appears twice"),
    ("arms a list", _edit_table(lambda t, r: t.update(arms=["grok"])), "'arms' is not an object"),
    ("quick text", _edit_table(lambda t, r: t.update(quick="no")), "'quick' is not true or false"),
    ("an arm without summary", lambda r: os.remove(r / "grok" / "grok" / "summary.json"), "is missing"),
    ("an arm unknown", _edit_table(lambda t, r: t.update(arms={"nope": {}})), "is missing"),
    ("a figure outside", _edit_table(lambda t, r: t.update(figures=["/etc/passwd"])), "is not a .png"),
    ("a figure elsewhere", _edit_table(lambda t, r: t.update(figures=["/etc/x/curves.png"])), "is not in"),
    ("an arm's config []", lambda r: (r / "grok" / "grok" / "config.json").write_text("[]"), "not a run's config"),
    ("an arm's config a dangling link", lambda r: os.symlink(r / "nowhere", r / "grok" / "grok" / "config.json"),
     "does not exist"),
    ("an arm's config a folder", lambda r: os.mkdir(r / "grok" / "grok" / "config.json"), "cannot be read"),
    ("another script's table", _edit_table(lambda t, r: t.update(script="grok_weight_decay")),
     "is the table of 'grok_weight_decay', not of grok"),
    ("tables a list", _edit_table(lambda t, r: t.update(tables=[1, 2])), "'tables' is not an object of tables"),
    ("a row wider than its headers", _edit_table(lambda t, r: t.update(tables={"x": {"headers": ["a"], "rows": [[1, 2]]}})),
     "rows as wide"),
    ("a claim of another script too", lambda r: _table(r, "grok_init", arms=("a",)) or _edit_table(
        lambda t, r: t["claims"].append(dict(t["claims"][0], id="grok_init-claim")))(r), "a claim belongs to one script"),
    ("a figure linked elsewhere", lambda r: _edit_table(lambda t, r: t.update(
        figures=[str(r / "grok" / "grok" / "curves.png")]))(r) or os.symlink("/etc/passwd", r / "grok" / "grok" / "curves.png"),
     "not a figure a run drew"),
    ("a figure of one byte", lambda r: _edit_table(lambda t, r: t.update(
        figures=[str(r / "grok" / "grok" / "curves.png")]))(r) or (r / "grok" / "grok" / "curves.png").write_bytes(b"x"),
     "not a figure a run drew"),
]


@pytest.mark.parametrize("case, damage, words", DAMAGED_TABLES, ids=[c[0] for c in DAMAGED_TABLES])
def test_a_damaged_table_is_one_line_and_nothing_is_written(case, damage, words, tmp_path):
    _table(tmp_path / "runs")
    damage(tmp_path / "runs")
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md"), "--force"])
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "R.md").exists() and not (tmp_path / "results").exists()


def test_a_table_made_by_a_smoke_run_says_so_itself(repo, tmp_path):
    """Even with its arms' summaries silent, table.json's own quick flag keeps smoke numbers out."""
    _table(tmp_path / "runs", quick=False)
    path = tmp_path / "runs" / "grok" / "table.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), quick=True)))
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(repo / "RESULTS.md")])
    assert code == 2 and "smoke runs" in err, err


def test_a_moved_runs_folder_keeps_its_figures(tmp_path):
    """table.json recorded the figure where the run was made; report.py finds it in the table's folder."""
    _table(tmp_path / "runs", figures=["/somewhere/else/runs/grok/grok/curves.png"])
    (tmp_path / "runs" / "grok" / "grok" / "curves.png").write_bytes(PNG)
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md"), "--force"])
    assert code == 0 and (tmp_path / "results" / "grok_main_curves.png").read_bytes() == PNG, err


@pytest.mark.integration
def test_a_script_without_matplotlib_records_the_figure_it_could_not_draw(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "pyplot", lambda: None)
    code, out, err = run_main("grok", TINY_FLAGS + STEPS + ["--out", str(tmp_path)])
    assert code == 0 and runs.FIGURES_NEED in out, err
    assert runs.read_json(str(tmp_path / "table.json"))["figures"] == [None]


def test_report_writes_everything_or_nothing(repo, tmp_path, monkeypatch):
    """A figure that cannot be copied (results/ read-only, a full disk): RESULTS.md and results/
    stay as they were, and no temporary file is left."""
    figure = tmp_path / "runs" / "grok" / "grok" / "curves.png"
    _table(tmp_path / "runs", figures=[str(figure)])
    figure.write_bytes(PNG + b"a new figure")
    before = digest(str(repo))
    report = importlib.import_module("report")

    def copy(src, dst):
        with open(dst, "wb") as f:
            f.write(b"half")
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(report.shutil, "copyfile", copy)
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(repo / "RESULTS.md")])
    assert code == 2 and err.count("\n") == 1 and "nothing was written" in err, err
    assert digest(str(repo)) == before


# -- commands that --list prints run as printed ---------------------------------------------

@pytest.mark.integration
def test_every_listed_command_runs_as_printed(tmp_path):
    """Quick and a root with a space and a `;`: each wave-1, wave-2 and last line, split as a shell
    splits it, runs and exits 0, and the last one writes the smoke ledger under the root."""
    root = tmp_path / "a root; touch x"
    code, out, _ = run_main("reproduce", ["--quick", "--list", "--no-bench", "--only", "grok,transfer",
                                          "--root", str(root)])
    assert code == 0 and not os.path.exists(root)  # listing creates nothing
    commands = [shlex.split(line) for line in out.splitlines() if line.startswith("python")]
    assert all("--quick" in words for words in commands)
    for words in commands:
        code, _, err = run_main(os.path.basename(words[1])[:-3], words[2:])
        assert code == 0, (words, err)
    assert (root / "RESULTS.md").exists() and not os.path.exists(tmp_path / "x")


# -- reproduce.py --jobs N: arms side by side, one OpenBLAS thread each ------------------------

def _run_files(root):
    """{arm folder: digest of its history.csv and params.npz} under a root of runs."""
    out = {}
    for folder, _, files in os.walk(root):
        if "summary.json" in files and "logs" not in folder:
            out[os.path.relpath(folder, root)] = [open(os.path.join(folder, name), "rb").read()
                                                  for name in ("history.csv", "params.npz")]
    return out


@pytest.mark.integration
def test_jobs_trains_every_arm_side_by_side_to_the_same_numbers(tmp_path):
    flags = ["--quick", "--no-bench", "--only", "grok,transfer"]
    code, out, err = run_main("reproduce", flags + ["--jobs", "2", "--root", str(tmp_path / "two")])
    assert code == 0, err
    assert "[11/11 done]" in out and (tmp_path / "two" / "RESULTS.md").exists()
    assert (tmp_path / "two" / "logs" / "transfer" / "prefix-to-mws.log").exists()
    segments = runs.read_timing(str(tmp_path / "two" / "grok" / "grok" / "timing.json"))
    assert [s["threads"] for s in segments] == ["1"]       # each arm on one OpenBLAS thread
    assert run_main("reproduce", flags + ["--root", str(tmp_path / "one")])[0] == 0
    side_by_side = _run_files(tmp_path / "two")
    assert len(side_by_side) == 11 and side_by_side == _run_files(tmp_path / "one")


@pytest.mark.parametrize("argv, words", [(["--jobs", "0"], "--jobs"), (["--jobs", "100000"], "core(s)"), (["--jobs", "2", "--list"], "--list")])
def test_jobs_out_of_range_is_one_line_before_any_work(argv, words, tmp_path):
    code, _, err = run_main("reproduce", ["--quick", "--root", str(tmp_path / "r")] + argv)
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not os.path.exists(tmp_path / "r" / "grok")


@pytest.mark.integration
def test_jobs_a_failing_arm_is_named_and_the_others_are_kept(tmp_path):
    root = tmp_path / "r"
    (root / "grok" / "grok").mkdir(parents=True)
    (root / "grok" / "grok" / "summary.json").write_text("[]")  # a damaged run: that arm exits 2
    code, out, err = run_main("reproduce", ["--quick", "--no-bench", "--only", "grok,grok_weight_decay",
                                            "--jobs", "2", "--root", str(root), "--resume"])
    assert code == 2 and err.count("\n") == 1, err
    assert "1 arm(s) failed: grok grok (exit 2; see" in err and "grok.log" in err
    assert "summary.json" in (root / "logs" / "grok" / "grok.log").read_text()
    assert not (root / "RESULTS.md").exists()
    assert (root / "grok_weight_decay" / "wd=1" / "summary.json").exists()  # the arm beside it finished


@pytest.mark.integration
def test_jobs_with_a_relative_root_trains_there_once(tmp_path, monkeypatch):
    """The arm processes read a relative --root as this process does (from here, not the repository)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main("reproduce", ["--quick", "--no-bench", "--only", "grok", "--jobs", "2", "--root", "rel"])
    assert code == 0, err
    assert (tmp_path / "rel" / "grok" / "grok" / "summary.json").exists() and not os.path.exists(
        os.path.join(ROOT, "rel"))
    assert "already finished at step" in out  # the chain reused the arm it had trained side by side


@pytest.mark.parametrize("blocker", ["logs", "logs/grok"])
def test_jobs_a_log_that_cannot_be_written_is_one_line_before_any_arm_starts(blocker, tmp_path):
    root = tmp_path / "r"
    (root / blocker).parent.mkdir(parents=True, exist_ok=True)
    (root / blocker).write_text("a file where a folder goes")
    code, out, err = run_main("reproduce", ["--quick", "--no-bench", "--only", "grok", "--jobs", "2",
                                            "--root", str(root)])
    assert code == 2 and err.count("\n") == 1 and "logs" in err and "Traceback" not in err, err
    assert not (root / "grok").exists() and "started" not in out


@pytest.mark.parametrize("sent, received", [("SIGINT", "SIGINT"), ("SIGTERM", "SIGTERM"), ("SIGHUP", "SIGTERM")])
def test_jobs_a_signal_reaches_every_running_arm_and_stops_the_chain(sent, received, tmp_path, monkeypatch):
    """SIGINT (or SIGTERM) to reproduce.py: every arm it started gets the same signal (there, a
    run saves its checkpoint and exits 130/143), no new arm starts, and it exits as interrupted."""
    import signal
    import threading
    reproduce = importlib.import_module("reproduce")
    marker = tmp_path / "got"
    child = ("import signal, sys, time\n"
             "def stop(n, f):\n"
             "    open(sys.argv[1] + '-' + sys.argv[2], 'w').write(str(n)); sys.exit(128 + n)\n"
             "signal.signal(signal.SIGINT, stop); signal.signal(signal.SIGTERM, stop)\n"
             "open(sys.argv[1] + '-' + sys.argv[2] + '-up', 'w').close()\n"
             "time.sleep(60)\n")
    script = tmp_path / "arm.py"
    script.write_text(child)
    arms = [("f", f"arm{i}", ["python", str(script), str(marker), str(i)]) for i in range(3)]
    monkeypatch.setattr(reproduce, "arm_commands", lambda args, flags_for: {1: arms, 2: []})
    args = type("Args", (), {"jobs": 2, "root": str(tmp_path / "root")})()

    def interrupt():
        while len(list(tmp_path.glob("got-*-up"))) < 2:
            threading.Event().wait(0.05)
        os.kill(os.getpid(), getattr(signal, sent))
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(runs.Interrupted) as stopped:
        reproduce.run_side_by_side(args, None)
    assert stopped.value.exit_code == 128 + getattr(signal, sent)
    assert "continue with the same command and --resume" in str(stopped.value)
    assert sorted(p.name for p in tmp_path.glob("got-?")) == ["got-0", "got-1"]   # both running arms told
    assert (tmp_path / "got-0").read_text() == str(int(getattr(signal, received)))
    assert not (tmp_path / "got-2-up").exists()                                     # the third never started


@pytest.mark.parametrize("script, argv", [("grok", ["--list-arms"]), ("task_diversity", ["--list-arms"]),
                                          ("reproduce", ["--list", "--only", "grok"]),
                                          ("grok", ["--backend", "cupy", "--quick"])])
def test_listing_or_a_missing_backend_creates_no_folder(script, argv, tmp_path):
    out = tmp_path / "nothing" / "here"
    code, stdout, err = run_main(script, argv + (["--root"] if script == "reproduce" else ["--out"]) + [str(out)],
                                 limit=20)
    if "--backend" in argv:
        if code == 0:
            pytest.skip("CuPy and a GPU are present here")
        assert code == 2 and stdout == "" and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "nothing")


@pytest.mark.integration  # trains (two quick runs)
def test_a_folder_holds_the_runs_of_one_script(tmp_path):
    """grok_weight_decay into grok's folder had replaced grok's table.json and mixed their runs."""
    assert run_main("grok", ["--quick", "--out", str(tmp_path)])[0] == 0
    before = digest(str(tmp_path))
    code, _, err = run_main("grok_weight_decay", ["--quick", "--out", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "holds the runs of grok;" in err, err
    assert digest(str(tmp_path)) == before
    os.remove(tmp_path / "table.json")  # the arm folders' config.json name their script too
    code, _, err = run_main("grok_weight_decay", ["--quick", "--out", str(tmp_path)])
    assert code == 2 and "holds the runs of grok;" in err, err


def _follow(err):
    """Run the command an error line quotes in backquotes, split as a shell splits it."""
    words = shlex.split(re.search(r"`([^`]+)`", err).group(1))
    return run_main(os.path.basename(words[1])[:-3], words[2:])


@pytest.mark.integration  # trains (quick runs)
@pytest.mark.parametrize("case, damage", [
    ("table.json damaged", lambda g: (g / "table.json").write_text(
        json.dumps(dict(json.loads((g / "table.json").read_text()), tables=[1, 2])))),
    pytest.param("figure gone", lambda g: os.remove(g / "grok" / "curves.png"), marks=pytest.mark.skipif(
        importlib.util.find_spec("matplotlib") is None, reason="no figure without matplotlib")),
    ("table.json cut short", lambda g: (g / "table.json").write_text((g / "table.json").read_text()[:100])),
    ("an arm's config cut short", lambda g: (g / "grok" / "config.json").write_text("{")),  # flags: in summary.json
    ("an arm's summary cut short", lambda g: (g / "grok" / "summary.json").write_text('{"a')),
    ("an arm's config without run_id", lambda g: (g / "grok" / "config.json").write_text(json.dumps(
        {k: v for k, v in json.loads((g / "grok" / "config.json").read_text()).items() if k != "run_id"}))),
])
@pytest.mark.parametrize("flags", [["--quick"], ["--steps", "10", "--eval-every", "5", "--d-model", "16", "--heads",
                                                "2", "--p", "11", "--batch-size", "8", "--seeds", "0"]])
def test_every_remedy_report_prints_works_as_printed(case, damage, flags, tmp_path):
    """The report's way out names the exact command (the flags the runs were trained with, its
    --out and --resume), and following it, after deleting the run folder where it says so, makes
    the report work."""
    root = tmp_path / "a root"
    assert run_main("grok", flags + ["--out", str(root / "grok")])[0] == 0
    damage(root / "grok")
    report = ["--root", str(root), "--out", str(tmp_path / "R.md"), "--force"]
    code, _, err = run_main("report", report)
    assert code == 2 and err.count("\n") == 1 and " ".join(flags) in err and "--resume" in err, err
    delete = re.search(r"delete the run folder (.+?), then", err)
    if delete:
        shutil.rmtree(delete.group(1))
    assert _follow(err)[0] == 0
    code, _, err = run_main("report", report)
    assert code == 0, err


@pytest.mark.integration  # trains (quick runs)
def test_grok_delay_finished_only_refuses_flags_that_train_and_its_command_runs(tmp_path):
    out = str(tmp_path / "d")
    code, _, err = run_main("grok_delay", ["--quick", "--out", out, "--finished-only", "--overwrite"])
    assert code == 2 and "--finished-only trains nothing and --overwrite trains" in err, err
    code, _, err = run_main("grok_delay", ["--quick", "--out", out, "--finished-only", "--arm", "vmem"])
    assert code == 2 and "--finished-only trains nothing and --arm trains" in err, err
    code, _, err = run_main("grok_delay", ["--quick", "--out", out, "--finished-only"])
    assert code == 2 and "--finished-only" not in re.search(r"`([^`]+)`", err).group(1), err
    assert _follow(err)[0] == 0  # the printed command trains every arm
    code, _, err = run_main("grok_delay", ["--quick", "--out", out, "--sgd-lr", "1e-320"])
    assert code == 2 and err.startswith("error: --sgd-lr") and "give a larger --sgd-lr" in err, err


@pytest.mark.integration  # trains (quick runs)
def test_arms_trained_apart_under_other_steps_get_a_way_out_that_ends_the_back_and_forth(tmp_path):
    """Arm wd=0 finished at 6 steps without a checkpoint, wd=1 at 9: each "give --steps N" refused
    the other; the refusal now also prints the command that retrains the one arm, which works."""
    flags = ["--quick", "--out", str(tmp_path)]
    assert run_main("grok_weight_decay", flags + ["--arm", "wd=0", "--steps", "6"])[0] == 0
    assert run_main("grok_weight_decay", flags + ["--arm", "wd=1", "--steps", "9"])[0] == 0
    code, _, err = run_main("grok_weight_decay", flags + ["--steps", "6", "--resume"])
    assert code == 2 and err.count("\n") == 1 and "retrain this arm alone" in err, err
    assert _follow(err)[0] == 0
    assert run_main("grok_weight_decay", flags + ["--steps", "6", "--resume"])[0] == 0
    assert os.path.exists(tmp_path / "table.json")


def test_a_command_rebuilt_for_runs_without_recorded_flags_says_so(tmp_path):
    (tmp_path / "grok" / "grok").mkdir(parents=True)
    (tmp_path / "grok" / "grok" / "config.json").write_text(json.dumps({"made_by": {"commit": "abc"}}))
    line = report.rerun(str(tmp_path), "grok")
    assert line.startswith("`python ") and line.endswith(report.UNRECORDED), line
    (tmp_path / "grok" / "grok" / "config.json").write_text(json.dumps({"made_by": {"flags": ["--quick"]}}))
    assert report.rerun(str(tmp_path), "grok").endswith("--quick --out " + str(tmp_path / "grok") + " --resume`")


def test_a_resume_command_drops_overwrite():
    assert common.rerun_command("grok", ["--overwrite", "--quick"], add=["--resume"]) == \
        "python experiments/grok.py --quick --resume"


# -- nothing committed is overwritten: one check on every output path ---------------------------

COMMITTED_TARGETS = [  # each writes into committed files (or mixes with them) unless refused
    ("report", ["--out", "tests/test_tasks.py", "--force"]),            # a test file replaced by a ledger
    ("report", ["--out", "results/gpu_check/summary.md", "--force"]),   # the committed GPU summary
    ("report", ["--out", "results/grok_main_curves.png", "--force"]),   # a figure (was a UnicodeDecodeError)
    ("report", ["--out", "results/x.md", "--force"]),                   # figures into results/results/
    ("reproduce", ["--quick", "--root", "results", "--only", "grok", "--no-bench"]),
    ("reproduce", ["--quick", "--results", "results/x.md", "--only", "grok", "--no-bench"]),
    ("grok", ["--quick", "--out", "results/gpu_check"]),
    ("bench", ["--quick", "--out", "results/gpu_check", "--cases", "mlp:1"]),
    ("gpu_check", ["--standin", "--stage", "versions", "--out", "results/gpu_check"]),  # its internal flag
    ("gpu_check", ["--standin", "--only", "versions", "--out", "tests"]),
    ("gpu_check", ["--standin", "--only", "versions", "--overwrite", "--out", "results/gpu_check"]),  # a real check
    ("gpu_check", ["--standin", "--only", "versions", "--overwrite", "--out", "."]),  # --overwrite: of a check only
    ("grok", ["--quick", "--out", "results/newsub"]),  # a new folder among the committed figures
    ("grok", ["--quick", "--out", "tests/newsub"]),
    ("grok", ["--quick", "--out", ".git/x"]),
]


@pytest.mark.parametrize("git", [True, False], ids=["git", "no git"])
@pytest.mark.parametrize("script, argv", COMMITTED_TARGETS, ids=[" ".join(a[:2]) for _, a in COMMITTED_TARGETS])
def test_no_output_path_reaches_committed_files(script, argv, git, tmp_path, monkeypatch):
    """In a git checkout by git's list; in a copy without git history (no list) by a rule: an output
    path inside the repository lies under runs/."""
    if git and runs.committed_files() is None:
        pytest.skip("not a git checkout: nothing here is committed")
    if not git:
        monkeypatch.setattr(runs, "_COMMITTED", set())  # what committed_files reads where git lists nothing
    _table(tmp_path / "runs", quick=True)
    monkeypatch.chdir(ROOT)
    before = digest(os.path.join(ROOT, "results")), digest(os.path.join(ROOT, "tests"))
    argv = argv + (["--root", str(tmp_path / "runs")] if script == "report" else [])
    code, _, err = run_main(script, argv, limit=20)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert (digest(os.path.join(ROOT, "results")), digest(os.path.join(ROOT, "tests"))) == before
    assert not os.path.exists(os.path.join(ROOT, "results", "x.md"))


def test_without_git_an_output_inside_the_repository_lies_under_runs(monkeypatch):
    monkeypatch.setattr(runs, "_COMMITTED", set())
    assert runs.committed_files() is None
    for ok in ("runs/x", os.path.join(ROOT, "runs", "grok"), "/tmp/elsewhere"):
        runs.check_not_committed(ok, "--out")
    runs.check_not_committed(os.path.join(ROOT, "RESULTS.md"), "--out", allowed=True)  # the caller's exception
    for refused in (ROOT, os.path.join(ROOT, "results"), os.path.join(ROOT, "tests", "new"), os.path.join(ROOT, "x")):
        with pytest.raises(runs.InputError, match="no git history"):
            runs.check_not_committed(refused, "--out")


def test_a_file_that_is_no_ledger_is_never_replaced_by_one(tmp_path):
    (tmp_path / "notes.md").write_text("my own notes")
    _table(tmp_path / "runs")
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "notes.md")])
    assert code == 2 and "is no ledger that report.py wrote" in err, err
    assert (tmp_path / "notes.md").read_text() == "my own notes"



@pytest.mark.speed_path  # bench.py times the speed path, which a student copy leaves out
@pytest.mark.parametrize("earlier, refused", [("[1, 2]", True), ('{"quick": "yes", "rows": []}', True),
                                              ('{"quick": true, "rows": []}', False)])
def test_a_smoke_bench_replaces_only_a_bench_json_that_says_it_was_one(earlier, refused, tmp_path):
    (tmp_path / "bench.json").write_text(earlier)
    code, _, err = run_main("bench", ["--quick", "--out", str(tmp_path), "--cases", "mlp:1", "--repeats", "1"])
    assert (code, "real run's bench.json" in err) == ((2, True) if refused else (0, False)), err


@pytest.mark.integration  # trains (a quick run)
def test_a_folder_whose_arms_summaries_name_another_script_is_refused(tmp_path):
    """Even with table.json gone and config.json's script removed, summary.json still names it."""
    T = ["--steps", "10", "--eval-every", "5", "--d-model", "16", "--heads", "2", "--p", "11", "--batch-size", "8",
         "--seeds", "0"]
    assert run_main("grok", T + ["--out", str(tmp_path)])[0] == 0
    os.remove(tmp_path / "table.json")
    config = json.loads((tmp_path / "grok" / "config.json").read_text())
    del config["made_by"]["script"]
    (tmp_path / "grok" / "config.json").write_text(json.dumps(config))
    code, _, err = run_main("grok_weight_decay", T + ["--out", str(tmp_path)])
    assert code == 2 and "holds the runs of grok;" in err, err


@pytest.mark.parametrize("script, argv, words", [
    ("grok", ["--momentum", "0"], "--momentum has no effect on any arm here"),
    ("grok_init", ["--alt-weight-decay", "1"], "--alt-weight-decay 1 is the main arms' --weight-decay"),
    ("grok_phase", ["--scales", "1e3"], "error: argument --scales: 1000 is not a scale in (0, 100]"),
    ("grok", ["--preset", "poster", "--weight-decay", "1", "--steps", "9", "--eval-every", "3",
              "--checkpoint-every", "3"], "--preset poster has no effect here"),  # every field it sets is given
])
def test_a_flag_whose_value_changes_nothing_or_is_out_of_its_range_names_itself(script, argv, words, tmp_path):
    code, _, err = run_main(script, ["--quick", "--out", str(tmp_path / "o"), *argv])
    assert code == 2 and words in err, err


def test_a_stopped_script_without_resume_does_not_advise_it():
    code = ("import os, signal, sys; sys.path.insert(0, 'experiments'); import common\n"
            "common.STOP_ADVICE = 'run the same command again'\n"
            "common.main_guard(lambda argv: os.kill(os.getpid(), signal.SIGTERM))")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 143 and "--resume" not in done.stderr and "run the same command again" in done.stderr
    for script in ("bench", "gpu_check", "report"):
        assert "common.STOP_ADVICE = " in open(os.path.join(ROOT, "experiments", f"{script}.py")).read()


def test_gpu_check_overwrite_removes_nothing_when_a_name_is_a_folder(tmp_path):
    for name in ("versions.json", "grok.txt"):
        (tmp_path / name).write_text("earlier")
    (tmp_path / "summary.md").mkdir()
    code, _, err = run_main("gpu_check", ["--standin", "--only", "versions", "--overwrite", "--out", str(tmp_path)])
    assert code == 2 and "holds a folder named summary.md" in err, err
    assert sorted(os.listdir(tmp_path)) == ["grok.txt", "summary.md", "versions.json"]


def test_run_flags_keep_what_defines_the_runs():
    assert common.run_flags(["--arm", "a", "--out=x", "--quick", "--resume", "--steps", "5", "--overwrite",
                             "--out", "y", "--arm=b", "--lr", "0.1"]) == ["--quick", "--steps", "5", "--lr", "0.1"]



@pytest.mark.parametrize("first, second", [
    (("grok", ["--quick", "--list-arms"]), ("bench", ["--quick", "--cases", "mlp:1", "--repeats", "1"])),
    (("bench", ["--quick", "--cases", "mlp:1", "--repeats", "1"]), ("grok", ["--quick"])),
    (("gpu_check", ["--standin", "--only", "versions"]), ("grok", ["--quick"])),
    (("bench", ["--quick", "--cases", "mlp:1", "--repeats", "1"]),
     ("gpu_check", ["--standin", "--only", "versions", "--overwrite"])),
])
@pytest.mark.speed_path  # bench.py needs the speed path
def test_bench_gpu_check_and_claim_scripts_never_share_a_folder(first, second, tmp_path):
    if first[0] == "grok":  # a claim script's folder: its table.json names it
        (tmp_path / "table.json").write_text(json.dumps({"script": "grok", "claims": []}))
    else:
        assert run_main(first[0], first[1] + ["--out", str(tmp_path)], limit=60)[0] == 0
    before = digest(str(tmp_path))
    code, _, err = run_main(second[0], second[1] + ["--out", str(tmp_path)], limit=20)
    assert code == 2 and "holds the runs of" in err, err
    assert digest(str(tmp_path)) == before


def test_a_figure_gone_is_never_replaced_by_an_earlier_reports_copy(tmp_path):
    """The copy in results/ was another run's figure: report.py said '1 figures' and showed it."""
    figure = tmp_path / "runs" / "grok" / "grok" / "curves.png"
    _table(tmp_path / "runs", figures=[str(figure)])
    figure.write_bytes(PNG + b"the first run's")
    assert run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md")])[0] == 0
    figure.unlink()
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md")])
    assert code == 2 and "to draw it" in err, err


def test_history_steps_that_come_back_or_go_back_are_refused(tmp_path):
    folder = runs.RunFolder(str(tmp_path), (), {"kind": "grok", "seeds": [0], "ops": ["div"]})
    row = lambda step, split: dict(step=step, member=0, seed=0, task="div", split=split, loss=1.0, acc=0.5)
    good = [row(0, "train"), row(0, "val"), row(100, "train"), row(100, "val")]
    assert folder.check_history(good, "x") == good
    for bad in (good + [row(0, "train")], good[2:] + good[:2], good[:1] + good[2:] + good[1:2]):
        with pytest.raises(runs.InputError, match="evaluation at step"):
            folder.check_history(bad, "x")


def test_the_committed_gpu_check_is_the_only_committed_folder_overwrite_may_replace(tmp_path, monkeypatch):
    """A folder of check-named files elsewhere among committed files is no licence; nor is a missing CuPy."""
    if runs.committed_files() is None:
        pytest.skip("not a git checkout")
    import fastops
    try:
        fastops.set_backend("cupy")
        pytest.skip("CuPy is here: the check would run (and replace the committed one, as --overwrite asks)")
    except fastops.ag.BackendError:
        pass
    finally:
        fastops.set_backend("numpy")
    monkeypatch.chdir(ROOT)
    before = digest(os.path.join(ROOT, "results"))
    code, _, err = run_main("gpu_check", ["--only", "versions", "--overwrite", "--out", "results/gpu_check"])
    assert code == 2 and "CuPy" in err, err  # refused before anything is removed
    assert digest(os.path.join(ROOT, "results")) == before
    code, _, err = run_main("gpu_check", ["--standin", "--only", "versions", "--overwrite", "--out",
                                          "results/gpu_check"])
    assert code == 2 and "never writes there" in err, err
    os.makedirs(tmp_path / "x")
    (tmp_path / "x" / "versions.json").write_text("{}")
    code, _, err = run_main("gpu_check", ["--standin", "--only", "versions", "--overwrite", "--out", "tests"])
    assert code == 2 and "committed files" in err, err
    assert digest(os.path.join(ROOT, "results")) == before


def test_a_folder_of_gpu_checks_summary_alone_is_gpu_checks(tmp_path):
    (tmp_path / "summary.md").write_text("# gpu_check")
    code, _, err = run_main("grok", ["--quick", "--list-arms", "--out", str(tmp_path)])
    assert code == 2 and "holds the runs of gpu_check" in err, err


def test_a_figure_beside_the_arms_is_no_arms_figure(tmp_path):
    figure = tmp_path / "runs" / "grok" / "grok" / "curves.png"
    _table(tmp_path / "runs", figures=[str(figure)])
    (tmp_path / "runs" / "grok" / "curves.png").write_bytes(PNG + b"planted")
    code, _, err = run_main("report", ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md")])
    assert code == 2 and "to draw it" in err, err


def test_a_standin_dry_run_never_replaces_a_real_gpu_check_anywhere(tmp_path):
    (tmp_path / "versions.json").write_text(json.dumps({"standin": False, "gpu": "H200"}))
    code, _, err = run_main("gpu_check", ["--standin", "--only", "versions", "--overwrite", "--out", str(tmp_path)])
    assert code == 2 and "holds a check made on a real GPU" in err, err
    assert json.loads((tmp_path / "versions.json").read_text())["gpu"] == "H200"


@pytest.mark.integration  # the pristine runs train
@pytest.mark.parametrize("change", [["--seeds", "0,1,2"], ["--ops", "mul"]])
def test_a_resume_under_other_flags_names_them_and_never_calls_the_checkpoint_edited(change, pristine, tmp_path):
    """Its history was checked against the new flags' seeds and ops before the configs were compared:
    'it was edited; delete the run folder' would have thrown a good checkpoint away."""
    shutil.copytree(pristine / "stopped", tmp_path / "s")
    code, _, err = run_main("grok", TINY_FLAGS + ["--steps", "20", "--checkpoint-every", "10", "--out",
                                                  str(tmp_path / "s"), "--resume", *change])
    assert code == 2 and "made by another config" in err and "edited" not in err, err
    assert os.path.exists(tmp_path / "s" / "grok" / "checkpoint.npz")


@pytest.mark.speed_path  # bench.py needs the speed path
def test_report_remedies_for_bench_root_and_ledger_run_as_printed(tmp_path):
    """'run experiments/bench.py again' named neither python nor --out; 'run experiments/reproduce.py
    first' nor --root; 'fix or delete that line' led, deleted, to a refusal of the file."""
    root = tmp_path / "r"
    _table(root, quick=True)
    assert run_main("bench", ["--quick", "--out", str(root / "bench"), "--cases", "mlp:1", "--repeats", "1"])[0] == 0
    bench = json.loads((root / "bench" / "bench.json").read_text())
    (root / "bench" / "bench.json").write_text(json.dumps(dict(bench, machine=5)))
    report = ["--root", str(root), "--out", str(tmp_path / "R.md"), "--force"]
    code, _, err = run_main("report", report)
    assert code == 2 and f"--out {root / 'bench'}" in err and "--quick" in err, err
    assert _follow(err)[0] == 0
    assert run_main("report", report)[0] == 0
    text = (tmp_path / "R.md").read_text()
    (tmp_path / "R.md").write_text(text.replace("<!-- ledger: {", "<!-- ledger: {,"))
    code, _, err = run_main("report", report)
    assert code == 2 and "delete the file" in err, err
    os.remove(tmp_path / "R.md")  # as it says
    assert run_main("report", report)[0] == 0
    code, _, err = run_main("report", ["--root", str(tmp_path / "none"), "--out", str(tmp_path / "R2.md")])
    assert code == 2 and f"python experiments/reproduce.py --root {tmp_path / 'none'}" in err, err


@pytest.mark.integration  # the pristine runs train
@pytest.mark.parametrize("name", ["params.npz", "run.lock"])
def test_a_pipe_where_a_run_file_goes_is_one_line_never_a_hang(name, pristine, tmp_path):
    """np.load waited for ever on a FIFO params.npz; a FIFO run.lock failed in ftruncate, exit 1."""
    shutil.copytree(pristine / "finished", tmp_path / "f")
    os.remove(tmp_path / "f" / "grok" / name)
    os.mkfifo(tmp_path / "f" / "grok" / name)
    code, _, err = run_main("grok", TINY_FLAGS + STEPS + ["--out", str(tmp_path / "f"), "--resume"], limit=20)
    assert code == 2 and err.count("\n") == 1 and "not a regular file" in err and name in err, err


@pytest.mark.integration  # trains (a quick arm)
def test_grok_delay_finished_only_never_continues_a_finished_arm(tmp_path):
    out = str(tmp_path / "d")
    assert run_main("grok_delay", ["--quick", "--out", out, "--arm", "vmem", "--checkpoint-every", "3"])[0] == 0
    before = digest(os.path.join(out, "vmem"))
    code, _, err = run_main("grok_delay", ["--quick", "--out", out, "--finished-only", "--checkpoint-every", "3",
                                           "--vmem-steps", "12"])
    assert code == 2 and "--finished-only trains nothing" in err, err
    assert digest(os.path.join(out, "vmem")) == before


@pytest.mark.integration  # trains (quick runs)
def test_run_times_count_the_arms_of_the_table_not_those_of_earlier_flags(tmp_path):
    root = tmp_path / "r"
    assert run_main("grok_weight_decay", ["--quick", "--out", str(root / "grok_weight_decay")])[0] == 0
    assert run_main("grok_weight_decay", ["--quick", "--out", str(root / "grok_weight_decay"), "--weight-decay",
                                          "0.5", "--resume"])[0] == 0  # wd=1 stays beside wd=0.5 and wd=0
    assert run_main("report", ["--root", str(root), "--out", str(tmp_path / "R.md"), "--force"])[0] == 0
    row = next(line for line in (tmp_path / "R.md").read_text().splitlines() if line.startswith("| grok_weight_decay |"))
    assert "| 2 arms: their timing.json |" in row, row


# -- the second hostile pass (issue 21): each case as it was found -------------------------------

def test_a_command_rebuilt_where_no_file_records_the_flags_says_so(tmp_path):
    (tmp_path / "grok" / "grok").mkdir(parents=True)
    for name in ("config.json", "summary.json"):
        (tmp_path / "grok" / "grok" / name).write_text("x")  # both damaged: nothing records the flags
    assert report.rerun(str(tmp_path), "grok").endswith(report.UNRECORDED)


@pytest.mark.integration  # trains (a quick run)
def test_a_ledger_names_the_command_that_adds_a_script_to_it_not_to_the_committed_one(tmp_path):
    root, ledger = tmp_path / "r", tmp_path / "r.md"
    assert run_main("reproduce", ["--quick", "--only", "grok", "--root", str(root), "--results", str(ledger),
                                  "--no-bench"])[0] == 0
    line = next(x for x in ledger.read_text().splitlines() if x.startswith("Not run for this ledger"))
    assert f"--root {root} --results {ledger} --quick --only grok_delay" in line, line


@pytest.mark.parametrize("damage", ["[1", '{"rows": 5}'])
def test_a_bench_json_damaged_at_any_level_names_the_command_that_remakes_it(damage, tmp_path):
    _table(tmp_path / "r", quick=True)
    (tmp_path / "r" / "bench").mkdir()
    (tmp_path / "r" / "bench" / "bench.json").write_text(damage)
    code, _, err = run_main("report", ["--root", str(tmp_path / "r"), "--out", str(tmp_path / "R.md"), "--force"])
    assert code == 2 and f"python experiments/bench.py --out {tmp_path / 'r' / 'bench'}" in err, err


def test_output_files_that_are_no_regular_file_are_refused(tmp_path):
    _table(tmp_path / "r", quick=True)
    code, _, err = run_main("report", ["--root", str(tmp_path / "r"), "--out", "/dev/null", "--force"])
    assert code == 2 and "not a regular file" in err and "delete" not in err, err


@pytest.mark.parametrize("make, words", [
    (lambda t: (t / "notes.md").write_text("mine"), "give another --results"),
    (lambda t: (t / "results").write_text("x"), "which is a file, not a folder"),
])
def test_reproduce_refuses_a_results_it_cannot_write_before_any_training(make, words, tmp_path):
    make(tmp_path)
    code, _, err = run_main("reproduce", ["--quick", "--only", "grok", "--root", str(tmp_path / "root"),
                                          "--results", str(tmp_path / "notes.md"), "--no-bench"])
    assert code == 2 and words in err and "--results" in err, err
    assert not os.path.exists(tmp_path / "root" / "grok")  # nothing trained


def test_a_ledger_never_replaces_a_figure_it_did_not_write(tmp_path):
    """A user's file in results/ beside the ledger, or another ledger's figure of the same name."""
    _table(tmp_path / "r", quick=True, figures=["grok/curves.png"])
    (tmp_path / "r" / "grok" / "grok" / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR drawn")
    (tmp_path / "M" / "results").mkdir(parents=True)
    (tmp_path / "M" / "results" / "grok_main_curves.png").write_bytes(b"mine")
    code, _, err = run_main("report", ["--root", str(tmp_path / "r"), "--out", str(tmp_path / "M" / "a.md"), "--force"])
    assert code == 2 and "is not a figure of" in err, err
    assert (tmp_path / "M" / "results" / "grok_main_curves.png").read_bytes() == b"mine"
    assert not os.path.exists(tmp_path / "M" / "a.md")


def test_reproduce_root_is_no_scripts_or_runs_folder(tmp_path):
    _table(tmp_path / "r")
    for root, held in ((tmp_path / "r" / "grok", "table.json"), (tmp_path / "r" / "grok" / "grok", "summary.json")):
        code, _, err = run_main("reproduce", ["--quick", "--only", "grok", "--root", str(root), "--no-bench",
                                              "--results", str(tmp_path / "x.md")])
        assert code == 2 and err.startswith(f"error: --root {root} is a script's or a run's folder") and held in err


@pytest.mark.parametrize("mark", ["", "grok\ngrok_init\n", None])
def test_a_damaged_script_mark_is_refused_never_read_as_no_owner(mark, tmp_path):
    if mark is None:
        (tmp_path / "script.txt").mkdir()
    else:
        (tmp_path / "script.txt").write_text(mark)
    code, _, err = run_main("grok", ["--quick", "--out", str(tmp_path)])
    assert code == 2 and "script.txt is damaged" in err and err.count("\n") == 1, err


def test_the_script_mark_is_written_whole_or_not_at_all(tmp_path):
    runs.claim_folder(str(tmp_path / "o"), "grok")
    runs.claim_folder(str(tmp_path / "o"), "grok")  # a second arm of the same script: fine
    assert os.listdir(tmp_path / "o") == ["script.txt"] and (tmp_path / "o" / "script.txt").read_text() == "grok\n"
    with pytest.raises(runs.InputError, match="holds the runs of grok"):
        runs.claim_folder(str(tmp_path / "o"), "grok_init")


@pytest.mark.integration  # trains (quick runs)
def test_a_smoke_run_never_replaces_a_stopped_smoke_run_with_a_checkpoint(pristine, tmp_path):
    shutil.copytree(pristine / "stopped", tmp_path / "s")
    config = json.loads((tmp_path / "s" / "grok" / "config.json").read_text())
    config["made_by"]["quick"] = True  # as a long --quick run with flags written out would be
    (tmp_path / "s" / "grok" / "config.json").write_text(json.dumps(config))
    code, _, err = run_main("grok", ["--quick", "--out", str(tmp_path / "s")])
    assert code == 2 and "unfinished run with a checkpoint" in err, err
    assert os.path.exists(tmp_path / "s" / "grok" / "checkpoint.npz")


def test_an_error_about_a_path_with_a_newline_stays_one_line(tmp_path):
    (tmp_path / "a\nb").write_text("a file where a folder goes")
    code, _, err = run_main("grok", ["--quick", "--out", str(tmp_path / "a\nb")])
    assert code == 2 and err.count("\n") == 1 and "a\\nb is a file" in err, err


def test_help_works_without_docstrings_and_a_late_signal_changes_no_exit_status():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-OO", "experiments/grok.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "--steps" in done.stdout, done.stderr
    code = ("import atexit, os, signal, sys; sys.path.insert(0, 'experiments'); import common\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))\n"  # a SIGTERM once the work is done
            "common.main_guard(lambda argv: None)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "stopped" not in done.stderr, (done.returncode, done.stderr)


# -- the third pass (issue 21) ------------------------------------------------------------------

@pytest.mark.integration  # trains (tiny runs)
def test_a_rebuilt_command_takes_the_flags_of_the_newest_arm_not_a_leftover(tmp_path):
    T = ["--p", "11", "--d-model", "16", "--heads", "2", "--steps", "6", "--eval-every", "3", "--batch-size", "32"]
    out = tmp_path / "r" / "grok_weight_decay"
    assert run_main("grok_weight_decay", T + ["--weight-decay", "0.5", "--out", str(out)])[0] == 0
    assert run_main("grok_weight_decay", T + ["--out", str(out), "--resume"])[0] == 0  # wd=1 and wd=0; wd=0.5 left
    (out / "table.json").write_text("{")
    code, _, err = run_main("report", ["--root", str(tmp_path / "r"), "--out", str(tmp_path / "R.md"), "--force"])
    assert code == 2 and "--weight-decay" not in err and "--steps 6" in err, err


@pytest.mark.speed_path  # bench.py needs the speed path
def test_reproduce_finds_a_real_bench_json_its_smoke_bench_would_refuse_before_training(tmp_path):
    (tmp_path / "r" / "bench").mkdir(parents=True)
    (tmp_path / "r" / "bench" / "bench.json").write_text(json.dumps({"quick": False, "rows": []}))
    code, _, err = run_main("reproduce", ["--quick", "--only", "grok", "--root", str(tmp_path / "r"),
                                          "--results", str(tmp_path / "x.md")])
    assert code == 2 and "--no-bench" in err and not os.path.exists(tmp_path / "r" / "grok"), err
    (tmp_path / "r" / "bench" / "bench.json").write_text("{")
    code, _, err = run_main("bench", ["--quick", "--out", str(tmp_path / "r" / "bench")])
    assert code == 2 and "delete it" in err, err


@pytest.mark.integration  # trains (tiny runs)
def test_transfer_prints_the_command_that_retrains_one_arm_alone(tmp_path):
    Q = ["--n", "4", "--d-model", "8", "--steps", "6", "--eval-every", "3", "--eval-size", "8", "--batch-size", "12"]
    out = str(tmp_path / "t")
    assert run_main("transfer", Q + ["--out", out])[0] == 0
    assert run_main("transfer", Q[:4] + ["--steps", "9"] + Q[6:] + ["--out", out, "--arm", "mws-scratch",
                                                                    "--overwrite"])[0] == 0
    code, _, err = run_main("transfer", Q + ["--out", out, "--resume"])
    assert code == 2 and "retrain this arm alone" in err, err
    assert _follow(err)[0] == 0 and run_main("transfer", Q + ["--out", out, "--resume"])[0] == 0


def test_make_student_copy_suggests_a_folder_outside_the_repository(tmp_path, monkeypatch):
    sys_path = os.path.join(ROOT, "tools")
    import sys
    sys.path.insert(0, sys_path)
    import make_student_copy
    monkeypatch.chdir(os.path.join(ROOT, "tools"))
    with pytest.raises(make_student_copy.DestinationError) as refused:
        make_student_copy.check_destination("../student-plateau")
    suggested = str(refused.value).rsplit("e.g. ", 1)[1]
    assert os.path.commonpath([os.path.realpath(suggested), ROOT]) != ROOT, suggested


def test_a_check_with_no_stage_on_a_gpu_never_writes_the_committed_check(monkeypatch):
    monkeypatch.chdir(ROOT)
    before = digest(os.path.join(ROOT, "results"))
    code, _, err = run_main("gpu_check", ["--out", "results/gpu_check", "--only", "counts", "--overwrite"])
    assert code == 2 and "never writes there" in err, err
    assert digest(os.path.join(ROOT, "results")) == before


def test_report_root_remedies_name_the_ledger_and_a_file_root_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_main("report", ["--root", str(tmp_path / "afile"), "--out", str(tmp_path / "x.md")])
    assert code == 2 and "is a file, not a folder of runs" in err, err
    code, _, err = run_main("report", ["--root", str(tmp_path / "none"), "--out", str(tmp_path / "x.md")])
    assert code == 2 and f"--root {tmp_path / 'none'} --results {tmp_path / 'x.md'}" in err, err


def test_a_root_of_slashes_is_the_file_systems_root_never_runs(capsys):
    """reproduce.py had turned --root / into runs/ without a word (fourth pass)."""
    code, out, err = run_main("reproduce", ["--list", "--quick", "--root", "/", "--only", "grok"])
    assert code == 0 and "--out /grok" in out and "runs/" not in out, (out, err)


def test_advice_after_a_stop_never_pairs_resume_with_overwrite():
    """'continue with --resume', added to a command that had --overwrite, was refused as a contradiction (fifth pass)."""
    import signal
    for stop in (runs.Interrupted(signal.SIGINT, 10, "o/a"), runs.Interrupted(signal.SIGTERM, 10, "o/a", finished=True)):
        assert "without --overwrite" in str(stop)
    assert "without --overwrite" in common.STOP_ADVICE


def test_a_presets_section_shows_even_where_the_poster_configuration_did_not_run(tmp_path):
    """transfer-fast alone: its tables had been dropped from the ledger, its claims kept (fifth pass)."""
    _table(tmp_path / "r", script="transfer-fast", arms=("mws-scratch",), quick=True)
    table = json.loads((tmp_path / "r" / "transfer-fast" / "table.json").read_text())
    table.update(script="transfer", tables={"t": {"headers": ["arm"], "rows": [["mws-scratch"]]}})
    (tmp_path / "r" / "transfer-fast" / "table.json").write_text(json.dumps(table))
    assert run_main("report", ["--root", str(tmp_path / "r"), "--out", str(tmp_path / "R.md"), "--force"])[0] == 0
    text = (tmp_path / "R.md").read_text()
    assert "#### transfer-fast" in text and "| mws-scratch |" in text, text


def test_a_fresh_run_over_another_configs_run_never_advises_resume(pristine, tmp_path):
    """'continue it with --resume' over a run of other flags led to 'a finished run of another config' (sixth pass)."""
    shutil.copytree(pristine / "finished", tmp_path / "f")
    code, _, err = run_main("grok", TINY_FLAGS[:-2] + ["--seeds", "0,1"] + STEPS + ["--out", str(tmp_path / "f")])
    assert code == 2 and "of another config (seeds=[0] there, [0, 1] here)" in err and "--resume" not in err, err


test_a_fresh_run_over_another_configs_run_never_advises_resume = pytest.mark.integration(
    test_a_fresh_run_over_another_configs_run_never_advises_resume)  # the pristine runs train
