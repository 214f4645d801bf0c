"""Run plumbing: run folders, checkpoints, interrupts, progress lines, figures.

`train(cfg, out=...)` drives the training loop of plateau.py (which does no
I/O) through its two hooks: before each step it writes a checkpoint when one is
due and honours Ctrl-C / SIGTERM; after each evaluation it appends to
history.csv and prints a progress line. The experiment scripts call it.
A run folder holds one run and says which:

    config.json      the run's config, with its run_id
    history.csv      one row per evaluation (step, member, task, split, metrics)
    checkpoint.npz   parameters, optimizer state, step, history and run_id in ONE
                     file, replaced atomically every `checkpoint_every` steps and
                     when the run is interrupted
    summary.json     written only when the run is finished (goal met or step
                     budget spent): its run_id, steps, config and per-task summary,
                     the size and checksum of history.csv and of the parameters, and
                     made_by (the commits that trained it; whether a smoke run)
    params.npz       the final parameters (with summary.json)
    curves.png       training curves (needs matplotlib)
    timing.json      how long the run took: one segment per process that trained it
                     (its wall seconds, steps, OpenBLAS threads, backend, host),
                     written with each checkpoint and at the end; report.py sums
                     these into RESULTS.md's run times. Time after the last
                     checkpoint of a process killed with -9 is not counted.

A fresh run never starts in a folder that holds another run's checkpoint or
summary (`RunFolder.begin` refuses; `overwrite=True` clears it first), and a
resume loads a checkpoint only if it was made by the same config. While a run
trains, it holds an operating-system lock on the folder's `run.lock`, so a
second process started on the same folder refuses instead of interleaving its
steps with the first one's. The kernel drops the lock when its process ends,
however it ends (kill -9 included); the file stays and names the last holder.

Every run file is read through `RunFolder` and checked once on its way in; a
damaged one is one InputError naming it and a remedy that works when followed
(delete the run folder). Every file is written under a temporary name and
renamed into place (`write_atomically`): a full disk or Ctrl-C leaves the old
file, never part of a new one. A resume never deletes a finished run.
"""
import contextlib
import csv
import functools
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile

import numpy as np

import analysis
import autograd as ag
import fastops
import plateau

RUN_RECORDS = ("config.json", "history.csv", "checkpoint.npz", "summary.json", "params.npz")  # a run is here
RUN_FILES = RUN_RECORDS + ("curves.png", "timing.json")


class InputError(ValueError):
    """A bad input: a flag, a file or a folder. The scripts print it as one `error:` line
    and exit 2; any other ValueError is a bug and keeps its traceback."""


def say(*text):
    """print, flushed at once, so progress shows up live in a log file too. A character the
    output cannot encode (an ASCII-only terminal: PYTHONIOENCODING=ascii) is escaped, and the line
    says so, rather than killing a finished run before its table is written."""
    print(_encodable(" ".join(map(str, text)), sys.stdout), flush=True)


def complain(text):
    """One line on stderr that cannot fail: encoded as say() does, and skipped where stderr is
    closed (2>&-), so a bad flag still exits 2."""
    try:  # a path with a newline in it would split the line: it is written as \n
        print(_encodable(text.replace("\n", "\\n"), sys.stderr), file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def _encodable(line, stream):
    """The line as the stream can write it: a character it cannot encode is escaped (\\xfc) and the
    line says so, so a path or a printed command is never silently another one ('?')."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        line.encode(encoding)
        return line
    except UnicodeEncodeError:
        return (line.encode(encoding, "backslashreplace").decode(encoding)
                + " [\\x.. and \\u..: characters this output cannot show; PYTHONIOENCODING=utf-8 shows them]")
    except LookupError:  # an encoding Python does not know
        return line.encode("ascii", "backslashreplace").decode("ascii")


# ---------------------------------------------------------------------------
# Interrupts: SIGINT (Ctrl-C) and SIGTERM (a scheduler's or `timeout`'s stop)
# become a request that the training loop honours between two steps.

class Interrupted(Exception):
    """A run stopped on a signal after saving its checkpoint; the whole script stops too."""

    def __init__(self, signum, step, where, finished=False):
        self.signum, self.step, self.where = signum, step, where
        name = signal.Signals(signum).name
        if finished:
            message = (f"interrupted by {name} as {where or 'the run'} finished (step {step}); continue with "
                       "--resume (and without --overwrite)")
        else:
            saved = f"; checkpoint saved in {where}, continue with --resume (and without --overwrite)" if where else ""
            message = f"interrupted by {name} at step {step}{saved}"
        super().__init__(message)

    @property
    def exit_code(self):
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM, as shells report them


class StopOnSignal:
    """Within this block, SIGINT and SIGTERM only set `signum`; the loop checks it
    between steps, so a checkpoint is never written halfway through an update."""
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.signum, self.previous = None, {}
        for s in self.SIGNALS:
            try:
                self.previous[s] = signal.signal(s, self._request)
            except ValueError:  # not the main thread: leave the signals alone
                pass
        return self

    def _request(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def signals_deferred():
    """Within this block SIGINT and SIGTERM wait, and act as they would have once it ends: for
    work no exception may cut short (finishing a run: its summary, timing and figure), and for
    matplotlib, whose C imports and weakref callbacks turn an exception raised inside them into a
    traceback, or swallow it."""
    caught, previous = [], {}
    for s in StopOnSignal.SIGNALS:
        try:
            previous[s] = signal.signal(s, lambda signum, frame: caught.append(signum))
        except ValueError:  # not the main thread: leave the signals alone
            pass
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught and callable(previous.get(caught[0])):
            previous[caught[0]](caught[0], None)
        elif caught and previous.get(caught[0]) == signal.SIG_DFL:
            signal.raise_signal(caught[0])


def drawing(draw):
    """Mark a function that draws a figure: it runs with signals deferred (signals_deferred)."""
    def deferred(*args, **kwargs):
        with signals_deferred():
            return draw(*args, **kwargs)
    return functools.wraps(draw)(deferred)


# ---------------------------------------------------------------------------
# Progress lines.

class Clock:
    """Steps per second and time left, for the progress line."""

    def __init__(self, start, total):
        self.start, self.total, self.t0 = start, total, time.perf_counter()

    def line(self, step):
        elapsed = time.perf_counter() - self.t0
        rate = (step - self.start) / elapsed if elapsed > 0 and step > self.start else 0.0
        eta = (self.total - step) / rate if rate else float("nan")
        return f"step {step:>6}/{self.total}  {rate:6.1f} steps/s  ETA {format_seconds(eta)}"


def format_seconds(s):
    if not math.isfinite(s):
        return "   --"
    if s >= 3600:
        return f"{int(s // 3600):>2}h{int(s % 3600 // 60):02d}m"
    return f"{int(s // 60):>3}m{int(s % 60):02d}s"


# ---------------------------------------------------------------------------
# Files: JSON and CSV written atomically, read back with the file named on error.

def write_atomically(path, write):
    """Write `path` through `write(tmp)` into a temporary file next to it, then rename it over
    `path`: a reader sees the old file or the new one, never a part. If anything fails (a full
    disk, a read-only folder, Ctrl-C) the temporary file is removed and `path` is untouched; an
    OSError becomes one InputError line naming the file."""
    stem, ext = os.path.splitext(path)
    tmp = f"{stem}.tmp{ext}"  # keeps the extension: np.savez would add .npz to any other name
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(error, OSError):
            raise InputError(f"cannot write {path} ({error.strerror or error}); nothing was replaced") from None
        raise


def write_json(path, value):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, default=_json_default)
    write_atomically(path, write)


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x)} as JSON")


MAX_JSON_BYTES = 256 * 2 ** 20  # a JSON or CSV file of ours is far smaller (the largest: a few MB)


def check_plain_file(path, remedy="", limit=MAX_JSON_BYTES):
    """A run file is a regular file of a size ours have (`limit` bytes; None: any): a device, a
    pipe or a link to one (/dev/zero) would be read, or waited on, for ever. (Absent or a folder:
    the reader names it.)"""
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        raise InputError(f"{path} is not a regular file (a device or a pipe?){remedy}")
    if limit is not None and os.path.isfile(path) and os.path.getsize(path) > limit:
        raise InputError(f"{path} is {os.path.getsize(path):,} bytes, more than any file of ours "
                         f"({limit:,}){remedy}")


def read_json(path, rows=None, row_keys=(), remedy=""):
    """The JSON in `path`; a missing or damaged file is an InputError that names it (and
    `remedy`, what to do about it). With `rows`: the file must be an object whose `rows` entry
    is a list of objects, each with every key of `row_keys` (what a reader indexes)."""
    remedy = f"; {remedy}" if remedy else ""
    check_plain_file(path, remedy)
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist{remedy}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid JSON ({error}); it may be truncated{remedy}") from None
    except OSError as error:  # a folder where the file should be, unreadable, ...
        raise InputError(f"{path} cannot be read ({error.strerror}){remedy}") from None
    if rows is not None:
        items = value.get(rows) if isinstance(value, dict) else None
        if not isinstance(items, list) or not all(isinstance(r, dict) and set(row_keys) <= set(r) for r in items):
            raise InputError(f"{path} is not what this reads: it needs a list {rows!r} of entries with "
                             f"{', '.join(row_keys) or 'any keys'}{remedy}")
    return value


def read_history(path, remedy="delete the run folder to train it again"):
    """history.csv back as a list of dicts with numbers where numbers were; a missing or
    damaged file (a short row, bytes that are not text) is an InputError that names it."""
    check_plain_file(path, f"; {remedy}")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise InputError(f"{path} does not exist; {remedy}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path} is damaged ({type(error).__name__}); {remedy}") from None
    except OSError as error:
        raise InputError(f"{path} cannot be read ({error.strerror}); {remedy}") from None
    if any(None in row.values() or None in row for row in rows):
        raise InputError(f"{path} is damaged or truncated (a short row); {remedy}")
    return [{k: _number(v) for k, v in row.items()} for row in rows]


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load_npz(path, remedy="delete it to start that run again"):
    """Every array of an .npz file as a dict; a missing or damaged file is an InputError that names it."""
    check_plain_file(path, f"; {remedy}", limit=None)  # a pipe would be waited on for ever
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path} does not exist; {remedy}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as error:
        # NumPy reads a file that is no archive as a pickle and says to load it "unsafely":
        # advice never to follow for a run file, so that message is not passed on.
        why = "not a NumPy .npz archive" if "pickle" in str(error) else f"{type(error).__name__}: {error}"
        raise InputError(f"{path} is damaged or truncated ({why}); {remedy}") from None


def file_digest(path):
    """(size in bytes, SHA-256) of a file: summary.json records them for history.csv and
    params.npz, so a finished run whose files were cut short or edited is never reused."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return [os.path.getsize(path), h.hexdigest()]


def committed_files():
    """The real paths of the files this repository commits (git ls-files), read once; None where
    git or the repository's history is absent (an unpacked copy, a student copy)."""
    global _COMMITTED
    if _COMMITTED is None:
        root = os.path.dirname(os.path.abspath(__file__))
        try:
            done = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True, timeout=20)
            listed = done.stdout if done.returncode == 0 else b""
        except (OSError, subprocess.SubprocessError):
            listed = b""
        _COMMITTED = {os.path.realpath(os.path.join(root, os.fsdecode(name))) for name in listed.split(b"\0") if name}
    return _COMMITTED or None


_COMMITTED = None


def check_not_committed(path, flag, allowed=False):
    """An output path is never a committed file, a folder holding committed files (the repository
    itself, tests/, results/ ...), anything inside such a folder below the repository's root
    (results/new/), or git's own .git: nothing committed is overwritten or mixed with a run's
    files. `allowed`: the caller's one exception (the committed ledger, say). Where git cannot
    tell committed files from others (a copy without its history), an output path inside the
    repository lies under runs/: everything else there counts as committed."""
    files, root = committed_files(), os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    real = os.path.realpath(path)
    if allowed:
        return
    if files is None:
        if within(real, root) and not within(real, os.path.join(root, "runs")):
            raise InputError(f"{flag} {path} is inside this copy of the repository, which has no git history to "
                             "tell its committed files from others; write under runs/ or outside the repository")
        return
    below = [real] if not within(real, root) else \
        [real] + [a for a in _ancestors(real) if within(a, root) and a != root]  # results/new: results/
    if within(real, os.path.join(root, ".git")) or any(within(f, a) for a in below for f in files):
        what = "a committed file" if os.path.isfile(real) else "in the repository's committed files"
        raise InputError(f"{flag} {path} is {what}; write under runs/ or outside the repository")


def within(path, folder):
    """Whether a real path is `folder` or lies inside it."""
    return path == folder or path.startswith(folder + os.sep)


def _ancestors(path):
    while os.path.dirname(path) != path:
        path = os.path.dirname(path)
        yield path


def check_writable_folder(path, flag="--out", create=False, committed_ok=False):
    """Check that `path` is a folder we can write into, or one we can create there, and no folder
    of committed files; raise an InputError naming the flag if not. Creates nothing unless
    `create`: a command that stops before any work (--list-arms, a bad flag, no CuPy) leaves no
    empty folder behind."""
    if not path:
        raise InputError(f"{flag} is empty; give a folder")
    check_not_committed(path, flag, committed_ok)
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"{flag} {path} is a file, not a folder")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise InputError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path} is not a writable folder (permission denied on {existing})")
    if create:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:
            raise InputError(f"{flag} {path} is not a writable folder ({error.strerror})") from None


def check_writable_file(path, flag, committed_ok=False):
    """Check, before any work, that `path` can be written as a file: not a folder, not a committed
    file (unless committed_ok), in a folder that exists (or can be made) and is writable. Creates nothing."""
    if not path:
        raise InputError(f"{flag} is empty; give a file name")
    check_not_committed(path, flag, committed_ok)
    if os.path.isdir(path):
        raise InputError(f"{flag} {path} is a folder, not a file")
    if os.path.exists(path) and not os.path.isfile(path):
        raise InputError(f"{flag} {path} is not a regular file (a device or a pipe?); give a file")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise InputError(f"{flag} {path} is not writable (permission denied)")
    check_writable_folder(os.path.dirname(os.path.abspath(path)), f"{flag} {path}: its folder",
                          committed_ok=True)  # a new file beside them


# ---------------------------------------------------------------------------
# Run folders.

# What made the runs this process trains: the code's commit and whether they are smoke runs
# (--quick). The scripts fill it in (experiments/common.py); every run folder records it in
# config.json, its checkpoint and summary.json, and report.py reads it there, to name the commit
# behind each claim and to keep smoke numbers out of the committed ledger.
MADE_BY = {"commit": "unknown", "quick": False, "script": None, "flags": None}


# The files that mark a folder as bench.py's or gpu_check.py's (a claim script's: table.json, run folders).
OWN_FILES = {"bench": ("bench.json",), "gpu_check": ("versions.json", "equivalence.json", "steptime.json",
                                                     "counts.json", "tests.txt", "grok.txt", "grok_table.json",
                                                     "summary.md")}


SCRIPT_MARK = "script.txt"  # a script's folder: the name of the script it belongs to (claim_folder)


def check_one_script(out, script):
    """A script's folder holds that script's runs alone: refused if its script.txt, its table.json,
    or an arm's config.json or summary.json, names another script (a second script there would mix
    their runs and replace the first one's table); and refused if it is no script's folder but a
    run folder (it holds a run's files) or a folder of scripts' folders (reproduce.py's --root)."""
    field = lambda value, key: value.get(key) if isinstance(value, dict) else None
    arms = [arm.path for arm in (os.scandir(out) if os.path.isdir(out) else ()) if arm.is_dir()]
    run_file = _first_held(out, RUN_RECORDS)
    if run_file:
        raise InputError(f"{out} is a run folder (it holds {run_file}), not a script's folder; give {script} "
                         "another --out")
    if any(os.path.lexists(os.path.join(arm, "table.json")) for arm in arms):
        raise InputError(f"{out} holds scripts' folders (one with a table.json), as reproduce.py's --root does; "
                         f"give {script} a folder of its own, such as {os.path.join(out, script)}")
    mark = os.path.join(out, SCRIPT_MARK)
    found = [read_script_mark(mark)] if os.path.lexists(mark) else []
    files = [os.path.join(out, "table.json")] + [os.path.join(arm, name) for arm in arms
                                                 for name in ("config.json", "summary.json")]
    for path in filter(os.path.isfile, files):
        with contextlib.suppress(InputError):  # a damaged file is for its reader to name, later
            value = read_json(path)
            found.append(field(value, "script") if path == files[0] else field(field(value, "made_by"), "script"))
    found += [owner for owner, names in OWN_FILES.items() if any(os.path.lexists(os.path.join(out, n)) for n in names)]
    others = sorted({str(s) for s in found if s not in (None, script)})
    if others:
        raise InputError(f"{out} holds the runs of {', '.join(others)}; give {script} another --out")


def _first_held(folder, names):
    """The first of these file names that `folder` holds (as anything: a file, a link, a folder), or None."""
    return next((n for n in names if os.path.lexists(os.path.join(folder, n))), None)


def read_script_mark(mark):
    """The script name a script.txt holds; a mark that is no regular file holding one name is damaged."""
    text = _read_text(mark) if os.path.isfile(mark) and os.path.getsize(mark) < 1000 else None
    if not (text and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text.strip())):
        raise InputError(f"{mark} is damaged (not a file holding one script's name); write into it the name of the "
                         "script whose folder this is (the one whose table.json and arms it holds), or delete it")
    return text.strip()


def claim_folder(out, script):
    """Mark `out` as `script`'s folder, once, before its first run starts, then check it again. The
    mark is written aside and linked into place (os.link fails if the name exists): of two scripts
    started on one folder at once the second finds the first one's mark, and no process, however it
    is stopped, leaves an empty mark."""
    os.makedirs(out, exist_ok=True)
    mark, tmp = os.path.join(out, SCRIPT_MARK), os.path.join(out, f".{SCRIPT_MARK}.{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(script + "\n")
        os.link(tmp, mark)
    except FileExistsError:
        pass
    except OSError as error:
        raise InputError(f"cannot write {mark} ({error.strerror})") from None
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)
    check_one_script(out, script)


def check_runs_root(root, flag):
    """A folder of scripts' folders (reproduce.py's --root) is no script's or run's folder itself."""
    held = _first_held(root, RUN_RECORDS + ("table.json", SCRIPT_MARK))
    if held:
        raise InputError(f"{flag} {root} is a script's or a run's folder (it holds {held}), not a folder of "
                         f"scripts' folders; give another {flag}")


class RunFolder:
    """One run's folder (see the module docstring for what it holds).

    config is the run's config as a dict; `resumable` names the keys a resume may
    change (the step budget, say): two configs that differ only there are one run.
    finite_params=False: the run may keep NaN parameters (a sweep whose diverged
    members go on); otherwise a file holding them is damaged.

    Every run file is read through this class, and each is checked on its way in (its
    shape, its numbers, and for a finished run its size and checksum as summary.json
    recorded them): a file that fails is one InputError naming it and the way out,
    `self.remedy`, which always works when followed."""
    CHECKPOINT = "checkpoint.npz"

    def __init__(self, path, fields, config, resumable=(), finite_params=True):
        self.path, self.fields, self.config, self.resumable = path, fields, config, set(resumable) | {"run_id"}
        self.finite_params = finite_params
        self.timing, self.segment, self.t0 = [], None, None  # this run's timing.json (begin() fills them)
        check_writable_folder(path, "the run folder", create=True)  # an arm's, below --out
        self.remedy = f"delete the run folder {path} to train that run again"

    def describe_differences(self, other):
        return ", ".join(f"{k}={other.get(k)!r} there, {self.config.get(k)!r} here" for k in self.differences(other))

    def differences(self, other):
        """The keys, outside `resumable`, on which another config dict differs from this run's."""
        return sorted(k for k in set(other) | set(self.config)
                      if k not in self.resumable and other.get(k) != self.config.get(k))

    def file(self, name):
        return os.path.join(self.path, name)

    @contextlib.contextmanager
    def lock(self):
        """Hold an operating-system lock on run.lock while this process uses the folder;
        refuse if another process holds it. The kernel drops the lock when its process
        ends, however it ends (kill -9 included), so a lock is never left behind; the
        file itself stays, holding the last holder's process id and host for messages.
        A run.lock that is a link is refused, never followed: its target is not ours to write."""
        path = self.file(LOCK)
        if os.path.islink(path):
            raise InputError(f"{path} is a symbolic link, not a lock file this code made; delete the link "
                             "(its target is left alone) and run again")
        if os.path.lexists(path) and not os.path.isfile(path):
            raise InputError(f"{path} is not a regular file (a pipe, a device or a folder?), not a lock file this "
                             "code made; delete it and run again")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as error:
            raise InputError(f"cannot open {path} ({error.strerror}); delete it and run again") from None
        try:
            if not _try_lock(fd):
                holder = (_read_text(path) or "").strip() or "another process"
                pid, _, host = holder.partition(" ")
                who = f"process {pid} on {host}" if pid.isdigit() and host else holder[:60]
                raise InputError(f"{self.path} is in use by {who}; wait for that run to end, or stop it")
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}".encode())
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    @staticmethod
    def holds_finished(path):
        """Whether the folder at `path` holds a finished run (of whatever config)."""
        return os.path.exists(os.path.join(path, "summary.json"))

    def holds(self):
        """What this folder holds of a run: 'finished', 'checkpoint' or None."""
        if os.path.exists(self.file("summary.json")):
            return "finished"
        if os.path.exists(self.file(self.CHECKPOINT)):
            return "checkpoint"
        return None

    def holds_smoke_run(self):
        """Whether the run this folder holds was a smoke run (--quick), as its config.json records."""
        try:
            config = read_json(self.file("config.json"))
        except InputError:  # damaged or missing: not known to be a smoke run
            return False
        made_by = config.get("made_by") if isinstance(config, dict) else None
        return isinstance(made_by, dict) and made_by.get("quick") is True

    # -- reading run files: each checked once, here, on its way in ---------------------------

    def damaged(self, name, what):
        return InputError(f"{self.file(name)} {what}; {self.remedy}")

    def read_summary(self):
        """summary.json: an object with the run's steps, config and run_id."""
        s = read_json(self.file("summary.json"), remedy=self.remedy)
        if not (isinstance(s, dict) and _whole(s.get("steps")) and isinstance(s.get("config"), dict)
                and isinstance(s.get("run_id"), str) and isinstance(s.get("files", {}), dict)
                and isinstance(s.get("tasks", {}), dict) and _is_made_by(s.get("made_by", {}))):
            raise self.damaged("summary.json", "is not a finished run's summary (it needs steps, config and run_id; "
                                               "tasks and made_by, where present, as this version writes them)")
        self.check_config("summary.json", s["config"])
        if s["steps"] > s["config"]["steps"]:
            raise self.damaged("summary.json", f"says the run finished at step {s['steps']}, past its own budget of "
                                               f"{s['config']['steps']}: it was edited")
        return s

    def check_config(self, name, config):
        """A config dict that a file holds is one plateau accepts: each field of the right kind and range."""
        fields = _config_fields(config)
        try:
            plateau.check_config(plateau.config_from_dict(fields))
        except (plateau.ConfigError, ValueError, TypeError) as error:
            raise self.damaged(name, f"is not a valid config ({error})") from None
        return fields

    def check_companions(self, summary):
        """config.json and timing.json beside a finished run: each must be the file of that run
        (its run_id, its config), or one line names it. Read on reuse, so nothing damaged is kept."""
        config = read_json(self.file("config.json"), remedy=self.remedy)
        fields = self.check_config("config.json", config)
        if not (config.get("run_id") == summary["run_id"] and not self.differences(fields)
                and _is_made_by(config.get("made_by", {}))):
            raise self.damaged("config.json", "is not the config of the run summary.json records (its run_id or "
                                              "config differs, or it was edited)")
        read_timing(self.file("timing.json"), summary["run_id"], "delete that file (only its run times are lost)")

    def check_params(self, name, arrays):
        """Parameters are floating-point numbers, finite unless this run lets members diverge."""
        for key, a in arrays.items():
            if a.dtype.kind != "f":
                raise self.damaged(name, f"is damaged: parameter {key} holds {a.dtype} numbers, not floats")
            if self.finite_params and not np.isfinite(a).all():
                raise self.damaged(name, f"is damaged: parameter {key} holds NaN or infinite values "
                                         "(a run that stops on divergence never saves them)")
        return arrays

    def read_history(self):
        return self.check_history(read_history(self.file("history.csv"), self.remedy), "history.csv")

    def check_history(self, rows, name, config=None):
        """History rows as a run writes them: this problem's fields (where the folder was opened with
        them), a whole step >= 0, a member of the run's E with its seed, one of its tasks and splits,
        and numbers (NaN allowed) for the rest; each evaluation's rows once, in step order. The run:
        `config` (a checkpoint's own, checked before it is compared with this one's), else this folder's."""
        config = self.config if config is None else config
        seeds, tasks = list(config.get("seeds", ())), set(config.get("ops") or config.get("tasks") or ())
        splits = set(plateau.SPLITS.get(config.get("kind"), ()))
        real = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
        for row in rows:
            bad = not isinstance(row, dict) or not (set(row) == set(self.fields) if self.fields else
                                                    {"step", "member", "task", "split"} <= set(row)) or not (
                _whole(row["step"]) and _whole(row["member"]) and row["member"] < len(seeds)
                and row.get("seed", seeds[row["member"]]) == seeds[row["member"]]
                and (row["task"] in tasks or not tasks) and (row["split"] in splits or not splits)
                and all(real(v) for k, v in row.items() if k not in ("task", "split")))
            if bad:
                raise self.damaged(name, f"has a history row that is not this run's ({str(row):.120}): it was edited")
        # Each evaluation, in order of its step, is one row per member, task and split, each once.
        every = sorted((e, t, s) for e in range(len(seeds)) for t in tasks for s in splits)
        evaluations, last = {}, None  # step -> its rows' (member, task, split), in one pass (runs have thousands)
        for row in rows:
            step = row["step"]
            if step != last and (step in evaluations or last is not None and step < last):
                evaluations[step] = [None]  # a step that comes back, or out of order
            evaluations.setdefault(step, []).append((row["member"], row["task"], row["split"]))
            last = step
        for step, at in evaluations.items():
            if None in at or every and sorted(at) != every:
                raise self.damaged(name, f"has an evaluation at step {step} that is not this run's (rows missing, "
                                         "repeated or out of order): it was edited")
        return rows

    def finished_result(self):
        """(params, history, summary, steps) if this folder holds a finished run of this config.

        A run that met its goal at step s before its budget counts as finished for
        any budget >= s: more budget would have stopped it at the same step.
        Its history and parameters must be the files it finished with (summary.json
        records their size and checksum): a file cut short or edited is refused."""
        if self.holds() != "finished":
            return None
        summary = self.read_summary()
        if self.differences(summary["config"]):
            return None
        done, budget, wanted = summary["steps"], summary["config"].get("steps"), self.config.get("steps")
        if not (wanted == budget or _whole(budget) and done < budget and wanted >= done):
            return None
        self.check_companions(summary)
        params = self.check_params("params.npz", load_npz(self.file("params.npz"), self.remedy))
        history = self.read_history()
        recorded = summary.get("files")
        if recorded is not None:
            for name, digest in (("history.csv", file_digest(self.file("history.csv"))),
                                 ("params.npz", arrays_digest(params))):
                if recorded.get(name) != digest:
                    raise self.damaged(name, "is not the file this run finished with (its size or checksum "
                                             "differs from summary.json's: cut short or edited)")
        elif not history or history[-1].get("step") != done:  # a run finished before checksums were kept
            raise self.damaged("history.csv", f"ends before step {done}, where the run finished: it was cut short")
        if history and history[-1]["step"] != done:  # the history is the one it finished with: summary.json is not
            raise self.damaged("summary.json", f"says the run finished at step {done}, where its history ends at "
                                               f"step {history[-1]['step']}: it was edited")
        return params, history, summary, done

    def read_checkpoint(self):
        """checkpoint.npz as {step, run_id, config, history, commits, arrays}; refused if damaged."""
        path = self.file(self.CHECKPOINT)
        arrays = load_npz(path, self.remedy)
        try:
            meta = json.loads(str(arrays.pop("meta")))
        except (KeyError, json.JSONDecodeError):
            meta = None
        if not (isinstance(meta, dict) and _whole(meta.get("step")) and isinstance(meta.get("run_id"), str)
                and isinstance(meta.get("config"), dict) and isinstance(meta.get("history"), list)):
            raise self.damaged(self.CHECKPOINT, "is not a checkpoint of this version of plateau")
        budget, last = meta["config"].get("steps"), [r.get("step") for r in meta["history"] if isinstance(r, dict)]
        if not (_whole(budget) and meta["step"] <= budget and all(_whole(s) and s <= meta["step"] for s in last)):
            raise self.damaged(self.CHECKPOINT, f"says it is at step {meta['step']}, past its own budget or before "
                                                "its history's last step: it was edited")
        self.check_params(self.CHECKPOINT, {k: v for k, v in arrays.items() if k.startswith("param.")})
        self.check_config(self.CHECKPOINT, meta["config"])
        self.check_history(meta["history"], self.CHECKPOINT, meta["config"])  # its own run's: seeds may differ here
        return {**meta, "arrays": arrays}

    # -- starting, saving and finishing --------------------------------------------------------

    def begin(self, resume, overwrite, load=None):
        """Start a fresh run, or load this config's checkpoint: returns None or the checkpoint dict.

        Never deletes a finished run unless `overwrite` (alone) asks for it: a resume that
        cannot reuse or continue it is refused with one line naming what would. `load(checkpoint)`
        puts the checkpoint into the caller's training state (it may refuse it): the folder
        changes only after every file of the run it continues has been read and accepted."""
        check_resume_flags(resume, overwrite)
        held = self.holds()
        if held == "finished" and not resume and MADE_BY["quick"] and self.holds_smoke_run():
            overwrite = True  # a smoke run starts afresh over an earlier finished smoke run, never over a real
            # one, nor over a stopped one whose checkpoint a --quick run with long flags may have taken hours to make
        if held and not (resume or overwrite):
            what = "a finished run" if held == "finished" else "an unfinished run with a checkpoint"
            other = self.recorded_differences()
            if other:  # then --resume cannot continue it either: say so, not "--resume"
                raise InputError(f"{self.path} already holds {what} of another config ({other}); choose another "
                                 "--out, or give the flags that made it (--overwrite replaces it)")
            raise InputError(f"{self.path} already holds {what}: continue it with --resume, "
                             "or choose another --out (--overwrite replaces it)")
        if resume and held == "finished":
            self._refuse_to_drop(self.read_summary())
        if resume and held:
            checkpoint = self.load_checkpoint()
            if checkpoint["step"] > self.config["steps"]:
                raise InputError(f"cannot resume {self.path} with --steps {self.config['steps']}: its checkpoint "
                                 f"is at step {checkpoint['step']} already; resume it with --steps "
                                 f"{checkpoint['step']} or more, or choose another --out (--overwrite without --resume replaces it)")
            timing = read_timing(self.file("timing.json"), checkpoint["run_id"],
                                 "delete that file (only its run times are lost) and resume")
            if load:
                load(checkpoint)
            self._remove("summary.json", "params.npz", "curves.png")  # no longer finished
            self.run_id = checkpoint["run_id"]
            self.made_by = _made_by(checkpoint.get("made_by"))
            write_json(self.file("config.json"), {**self.config, "run_id": self.run_id, "made_by": self.made_by})
            self.write_history(checkpoint["history"])
            self._start_timing(checkpoint["step"], timing)
            return checkpoint
        self._remove(*RUN_FILES)
        self.run_id, self.made_by = uuid.uuid4().hex, _made_by(None)
        write_json(self.file("config.json"), {**self.config, "run_id": self.run_id, "made_by": self.made_by})
        self.write_history([])
        self._start_timing(0, [])
        return None

    def recorded_differences(self):
        """How the config that config.json records differs from this run's ('' if it does not, or if
        config.json cannot be read: then the reader that needs it names it)."""
        with contextlib.suppress(InputError):
            recorded = read_json(self.file("config.json"))
            fields = _config_fields(recorded)
            if isinstance(recorded, dict) and self.differences(fields):
                return self.describe_differences(fields)
        return ""

    def _start_timing(self, step, earlier):
        """Open this process's timing segment (see timing.json in the module docstring)."""
        self.timing, self.t0 = earlier, time.perf_counter()
        self.segment = {"from_step": step, "to_step": step, "seconds": 0.0,
                        "threads": os.environ.get("OPENBLAS_NUM_THREADS"), "backend": self.config.get("backend"),
                        "host": socket.gethostname()}

    def _record_time(self, step):
        self.segment.update(to_step=step, seconds=round(time.perf_counter() - self.t0, 3))
        write_json(self.file("timing.json"), {"run_id": self.run_id, "segments": self.timing + [self.segment]})

    def _refuse_to_drop(self, summary):
        """A resume found a finished run that finished_result could not reuse: continue it from its
        checkpoint if that only adds steps; otherwise refuse (one line), and never delete it."""
        if self.differences(summary["config"]):
            raise InputError(f"cannot resume {self.path}: it holds a finished run of another config "
                             f"({self.describe_differences(summary['config'])}); use another --out "
                             "(--overwrite without --resume replaces it)")
        done, wanted = summary["steps"], self.config["steps"]
        if wanted < done:
            raise InputError(f"cannot resume {self.path} with --steps {wanted}: it holds this config's run, "
                             f"finished at step {done}; give --steps {summary['config'].get('steps')} to reuse it, "
                             "or another --out (--overwrite without --resume replaces it)")
        if not os.path.exists(self.file(self.CHECKPOINT)):
            raise InputError(f"cannot continue {self.path} to {wanted} steps: its run finished at step {done} and "
                             "kept no checkpoint to continue from; give --steps "
                             f"{summary['config'].get('steps')} to reuse it, or another --out "
                             "(--overwrite without --resume trains it again)")

    def _remove(self, *names):
        """Delete these run files: all of them or, if one is a folder, none (checked first)."""
        for name in names:
            if os.path.isdir(self.file(name)) and not os.path.islink(self.file(name)):
                raise InputError(f"{self.file(name)} is a folder where a run file goes; {self.remedy}")
        for name in names:
            if os.path.lexists(self.file(name)):
                os.remove(self.file(name))

    def append(self, rows):
        try:
            with open(self.file("history.csv"), "a", newline="") as f:
                csv.DictWriter(f, self.fields, extrasaction="ignore").writerows(rows)
        except OSError as error:
            raise InputError(f"cannot write {self.file('history.csv')} ({error.strerror}); its checkpoint "
                             "is kept: free the space and continue with --resume") from None

    def write_history(self, history):
        def write(tmp):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, self.fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(history)
        write_atomically(self.file("history.csv"), write)

    def save_checkpoint(self, step, arrays, history):
        """Parameters (named param.*), optimizer state and the run's step, history and identity,
        in one file written next to the old one and then renamed over it (never half-written;
        a full disk leaves the old checkpoint and no temporary file)."""
        meta = json.dumps({"step": step, "run_id": self.run_id, "config": self.config, "history": history,
                           "made_by": self.made_by}, default=_json_default)
        write_atomically(self.file(self.CHECKPOINT), lambda tmp: np.savez(tmp, meta=np.array(meta), **arrays))
        self._record_time(step)

    def load_checkpoint(self):
        """The checkpoint as {step, run_id, config, history, arrays}, if it belongs to this config."""
        checkpoint = self.read_checkpoint()
        if self.differences(checkpoint["config"]):
            raise InputError(f"cannot resume {self.path}: its checkpoint was made by another config "
                             f"({self.describe_differences(checkpoint['config'])}); resume it with that config's "
                             "flags, or choose another --out (--overwrite without --resume replaces it)")
        return checkpoint

    def finish(self, summary, params):
        """Mark the run finished: the final parameters, then summary.json (written last), which
        records the size and checksum of history.csv and the parameters, and what made the run."""
        write_atomically(self.file("params.npz"), lambda tmp: np.savez(tmp, **params))
        files = {"history.csv": file_digest(self.file("history.csv")), "params.npz": arrays_digest(params)}
        write_json(self.file("summary.json"), {**summary, "run_id": self.run_id, "config": self.config,
                                               "files": files, "made_by": self.made_by})
        self._record_time(summary["steps"])


USABLE_MEMORY = 0.9   # the share of the machine's memory a run may plan to use


def machine_memory():
    """This machine's total memory in bytes (os.sysconf, else /proc/meminfo), or None."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def gigabytes(n):
    return f"{n / 2 ** 30:,.1f} GB"


def check_fits(parts, what="this config", remedy="use fewer seeds or a smaller batch_size, d_model, n_layers, "
               "n_heads, eval_size or n", total=None):
    """Refuse, with one line giving the estimate and the machine's memory, what cannot fit:
    parts is a dict of byte counts ('step' and 'evaluation', if both, never at once), e.g.
    plateau.memory_estimate(cfg). Checked before any allocation."""
    total = machine_memory() if total is None else total
    if total is None:
        return
    need = sum(v for k, v in parts.items() if k not in ("step", "evaluation")) + \
        max(parts.get("step", 0), parts.get("evaluation", 0))
    if need > USABLE_MEMORY * total:
        detail = ", ".join(f"{k} {gigabytes(v)}" for k, v in parts.items())
        raise InputError(f"{what} needs about {gigabytes(need)} of memory ({detail}), more than "
                         f"{USABLE_MEMORY:.0%} of this machine's {gigabytes(total)}; {remedy}")


def check_resume_flags(resume, overwrite):
    """--resume keeps a run, --overwrite replaces it: both at once is refused, never guessed."""
    if resume and overwrite:
        raise InputError("--resume and --overwrite contradict each other: --resume continues or reuses "
                         "a run, --overwrite replaces it; give one of them")


def read_timing(path, run_id=None, remedy="delete that file (only its run times are lost)"):
    """timing.json's segments (see the module docstring); [] if it is absent or belongs to
    another run (`run_id`). A file of the wrong shape is one InputError naming it."""
    if not os.path.exists(path):
        return []
    timing = read_json(path, "segments", ("seconds", "from_step", "to_step"), remedy)
    for segment in timing["segments"]:
        if not (is_seconds(segment["seconds"]) and _whole(segment["from_step"]) and _whole(segment["to_step"])
                and isinstance(segment.get("threads"), (str, type(None)))):
            raise InputError(f"{path} is damaged: each segment needs seconds from 0 to 1e9, whole steps and "
                             f"threads as text or null; {remedy}")
    return timing["segments"] if run_id is None or timing.get("run_id") == run_id else []


def is_seconds(x):
    """A recorded time: a plain number of seconds from 0 to 1e9 (a huge int never overflows here)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1e9


def _whole(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_made_by(record):
    """A made_by record as this version writes it ({} for a run from before it was kept)."""
    return isinstance(record, dict) and (not record or isinstance(record.get("commits"), list) and all(
        isinstance(c, str) for c in record["commits"]) and isinstance(record.get("quick"), bool))


def _config_fields(config):
    """A config dict as a file records it, less what is no config field (run_id, made_by); {} if no dict."""
    return {k: v for k, v in config.items() if k not in ("run_id", "made_by")} if isinstance(config, dict) else {}


def _made_by(earlier):
    """What made a run: every commit that trained part of it, in order, whether it is a smoke run,
    the script, and the flags of the last command that trained it (common.run_flags)."""
    earlier = earlier if isinstance(earlier, dict) else {}
    commits = [c for c in earlier.get("commits", []) if isinstance(c, str)]
    if not commits or commits[-1] != MADE_BY["commit"]:
        commits.append(MADE_BY["commit"])
    return {"commits": commits, "quick": bool(earlier.get("quick")) or bool(MADE_BY["quick"]),
            "script": earlier.get("script") or MADE_BY["script"],
            "flags": MADE_BY["flags"] if MADE_BY["flags"] is not None else earlier.get("flags")}


def arrays_digest(arrays):
    """A SHA-256 of named arrays (names, dtypes, shapes and bytes): the same numbers give the same
    digest, whatever zip timestamps an .npz file carries."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


LOCK = "run.lock"


def _try_lock(fd):
    """Take an exclusive lock on the open file `fd` without waiting: True if we got it.
    flock on Linux and macOS (also across machines on NFS); msvcrt on Windows."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):  # gone, or locked against reading (Windows)
        return None


def clear_folder(path):
    """Delete a folder of run folders (smoke runs start from nothing each time)."""
    if os.path.isdir(path):
        shutil.rmtree(path)


# ---------------------------------------------------------------------------
# Training into a run folder: plateau.train, driven through its hooks.

def train(cfg, out=None, resume=False, overwrite=False, init_params=None, log=say, reuse_only=None):
    """Train with plateau.train; with `out`, in a run folder: return a plateau.Result.

    out: a run folder (see the module docstring). resume: continue from its checkpoint
    (or reuse it if the run is finished). overwrite: replace a run the folder already
    holds. init_params: NumPy arrays (E, ...) to start from instead of a fresh init
    (fine-tuning). reuse_only: the flag that forbids training (a finished run is reused
    as it is, or refused, never continued). On SIGINT or SIGTERM the loop finishes its
    step, saves a checkpoint and raises Interrupted; the run is finished only when it met
    its goal or its budget.
    """
    plateau.check_config(cfg)
    check_fits(plateau.memory_estimate(cfg))
    check_resume_flags(resume, overwrite)
    fastops.set_backend(cfg.backend, cfg.dtype)
    problem = plateau.make_problem(cfg)
    run = RunFolder(out, problem.fields, plateau.config_to_dict(cfg), plateau.RESUMABLE,
                    finite_params=cfg.on_divergence == "stop") if out else None
    with run.lock() if run else contextlib.nullcontext():  # no other process uses this folder meanwhile
        if run and resume and (done := run.finished_result()):
            params, history, _, steps = done
            log(f"{out}: already finished at step {steps}; reusing it")
            if not os.path.exists(run.file("curves.png")):  # trained without matplotlib, say: draw it now
                plot_history(history, cfg, run.file("curves.png"))
            return plateau.Result(params, history, analysis.summarize(cfg, history), steps, out)
        if reuse_only:
            raise InputError(f"{out} holds no finished run that these flags reuse as it is (they ask for a longer "
                             f"budget or another config) and {reuse_only} trains nothing; give the flags it was "
                             f"trained with, or train it without {reuse_only}")
        state = start_state(cfg, problem, init_params)
        load = lambda checkpoint: load_checkpoint(checkpoint, state, run.remedy, run.file(run.CHECKPOINT))
        checkpoint = run.begin(resume, overwrite, load) if run else None
        if checkpoint:
            log(f"{out}: resuming at step {state.step}")
        first, clock = state.step, Clock(state.step, cfg.steps)

        def before_step(state):
            due = cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0
            if run and state.step > first and due:
                save_checkpoint(run, state)
            if stop.signum:
                if run:
                    save_checkpoint(run, state)
                raise Interrupted(stop.signum, state.step, out)

        def after_eval(state, rows):
            if run:
                run.append(rows)
            log(clock.line(state.step) + "  " + analysis.progress(cfg, rows))

        with StopOnSignal() as stop:
            result = plateau.train(cfg, state, problem, before_step=before_step, after_eval=after_eval)
        result.out = out
        if run:
            with signals_deferred():  # a finished run is whole: summary, timing and figure, or not finished
                run.finish({"steps": result.steps, "tasks": result.summary}, result.params)
                plot_history(result.history, cfg, run.file("curves.png"))
        if stop.signum:  # a signal during the last evaluation: this run is finished, the script stops
            raise Interrupted(stop.signum, result.steps, out, finished=True)
        return result


def start_state(cfg, problem, init_params):
    try:
        return plateau.start(cfg, problem, init_params)
    except plateau.ParameterMismatch as error:
        raise InputError(f"the parameters to start from do not fit this model ({error})") from None


def save_checkpoint(run, state):
    state.watch.check(state.step)  # never save a diverged state
    arrays = {f"param.{k}": ag.to_numpy(v.data) for k, v in state.params.items()}
    arrays.update({f"opt.{k}": v for k, v in state.optimizer.state_dict().items()})
    run.save_checkpoint(state.step, arrays, state.history)


def load_checkpoint(checkpoint, state, remedy="delete the checkpoint to start that run again", path="its checkpoint"):
    """Put a checkpoint's parameters, optimizer state, step and history into `state`."""
    arrays = checkpoint["arrays"]
    try:
        plateau.load_params(state.params, {k[6:]: v for k, v in arrays.items() if k.startswith("param.")})
        state.optimizer.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt.")},
                                        finite=state.watch.stop)  # a sweep may hold a diverged member
    except plateau.ParameterMismatch as error:
        raise InputError(f"{path} does not fit this model ({error}); {remedy}") from None
    except ag.StateDictError as error:  # a checkpoint edited or made by other code: a bad file
        raise InputError(f"{path}: its optimizer state does not fit this model ({error}); {remedy}") from None
    state.step, state.history = checkpoint["step"], checkpoint["history"]


@drawing
def plot_history(history, cfg, path):
    """Grokking: see plot_grok. Sequence: loss, accuracy, repetition and collapse vs step, per task."""
    if isinstance(cfg, plateau.GrokConfig):
        return plot_grok(history, cfg, path)
    rows = lambda e, t, s: analysis.rows_of(history, e, t, s)
    return plot_curves(rows, len(cfg.seeds), cfg.tasks,
                       [("loss", "held-out loss"), ("acc", "token accuracy"), ("repetition", "repetition"),
                        ("collapse", "collapse")], [("heldout", "-")], path, title=figure_title(path, cfg))


def figure_title(path, cfg):
    """'<script>/<arm>: seeds ...' from the run folder the figure goes into (and the
    script that trained it where --out gave its folder another name: 'grok (v12)/grok'), and
    below it the setting, budget included (plateau.describe)."""
    folder, arm = os.path.normpath(os.path.abspath(path)).split(os.sep)[-3:-1]
    script = MADE_BY["script"]
    where = f"{folder}/{arm}" if not script or folder.startswith(script) else f"{script} ({folder})/{arm}"
    return (f"{where}: seeds {', '.join(map(str, sorted(set(cfg.seeds))))}\n"
            f"{plateau.describe(cfg, init=True)}")


def member_labels(cfg):
    """Each member's setting as a legend names it: the per-member fields that differ between members
    ('lr 0.005, momentum 0.9'), or 'seed s' where every member has the same setting."""
    E = len(cfg.seeds)
    varying = [name for name in plateau.PER_MEMBER if isinstance(getattr(cfg, name, None), (tuple, list))
               and len(set(getattr(cfg, name))) > 1]
    show = lambda v: f"{v:g}" if isinstance(v, float) else str(v)
    if not varying:
        return [f"seed {s}" for s in cfg.seeds]
    return [", ".join(f"{name.replace('_', ' ')} {show(getattr(cfg, name)[e])}" for name in varying)
            for e in range(E)]


def plot_grok(history, cfg, path):
    """Train (dotted) and validation (solid) accuracy against the step on a linear axis, one panel
    per operation (two to a row), one colour per setting (or per seed) named in the legend; a circle marks each
    member's memorised step, a star its grokked step, so the delay between them reads off the axis."""
    plt = pyplot()
    if plt is None:
        return None
    labels = member_labels(cfg)
    settings = list(dict.fromkeys(labels))  # in member order
    colors = plt.get_cmap("tab10" if len(settings) <= 10 else "tab20").colors
    color = {label: colors[i % len(colors)] for i, label in enumerate(settings)}
    summary = analysis.grok_summary(cfg, history)
    cols, rows = min(len(cfg.ops), 2), -(-len(cfg.ops) // 2)  # a row, or a grid two panels wide
    width, height = (7.5, 4.6) if rows == 1 else (6.0, 3.6)  # a grid's panels smaller: a figure under 200 KB
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 2.5, height * rows), squeeze=False)
    for ax, op in zip(axes.flat, cfg.ops):
        for e, label in enumerate(labels):
            c = color[label]
            for split, style in (("train", ":"), ("val", "-")):
                rows = analysis.rows_of(history, e, op, split)
                ax.plot([r["step"] for r in rows], [r["acc"] for r in rows], style, color=c, lw=1.2)
            m = summary[op]["members"][e]
            for key, marker in (("memorized_step", "o"), ("grokked_step", "*")):
                if m[key] is not None:
                    ax.plot(m[key], cfg.threshold, marker, color=c, ms=7 if marker == "o" else 11, mec="black",
                            mew=0.5, zorder=3)
        ax.axhline(cfg.threshold, color="grey", lw=0.5, gid="threshold")
        ax.set_title(f"{op} mod {cfg.p}")
        ax.set_xlabel("step (optimizer updates)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
    handles = [plt.Line2D([], [], color=color[s], lw=2, label=s) for s in settings]
    handles += [plt.Line2D([], [], color="black", ls=":", label="train"),
                plt.Line2D([], [], color="black", ls="-", label="validation"),
                plt.Line2D([], [], color="grey", marker="o", ls="", label=f"memorised (train >= {cfg.threshold:.0%})"),
                plt.Line2D([], [], color="grey", marker="*", ms=10, ls="",
                           label=f"grokked (val >= {cfg.threshold:.0%})")]
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    fig.suptitle(figure_title(path, cfg), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 2.4 / fig.get_figwidth(), 1))
    return save_figure(fig, path, dpi=90, layout=False)


# ---------------------------------------------------------------------------
# Figures (matplotlib is optional: without it, runs simply skip them).

FIGURES_NEED = "figures need matplotlib: pip install matplotlib (or pip install -e \".[plot]\")"


def pyplot():
    """matplotlib.pyplot drawing into files (Agg), or None where matplotlib is missing or cannot
    start (then figures_missing() says why)."""
    global _PYPLOT_PROBLEM
    os.environ.pop("MPLBACKEND", None)  # files only: Agg, whatever backend the environment names
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        _PYPLOT_PROBLEM = FIGURES_NEED
    except Exception as error:  # installed but broken (a bad matplotlibrc, say)
        _PYPLOT_PROBLEM = f"figures were not drawn: matplotlib could not start ({str(error).splitlines()[0]:.200})"
    return None


_PYPLOT_PROBLEM = FIGURES_NEED


def figures_missing():
    """Why a figure was not drawn: matplotlib missing, or the reason it could not start."""
    return _PYPLOT_PROBLEM


def save_figure(fig, path, dpi=80, layout=True):
    """Write a figure as a small PNG (aside, then renamed: never half a file) and free it."""
    if layout:
        fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    fig.clf()
    pyplot().close(fig)
    return path


def plot_curves(rows_of, members, task_names, panels, splits, path, log_x=False, title=None):
    """One panel per metric, one line per (task, member, split), from history rows.

    rows_of(member, task, split) gives the rows to plot; panels is [(key, label)];
    splits is [(split, line style)]."""
    plt = pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, label) in zip(axes[0], panels):
        for t, task in enumerate(task_names):
            for e in range(members):
                for split, style in splits:
                    rows = rows_of(e, task, split)
                    ax.plot([max(r["step"], 1) for r in rows], [r[key] for r in rows], style,
                            color=colors[t % len(colors)], lw=1, label=f"{task} {split}" if e == 0 else None)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        if log_x:
            ax.set_xscale("log")
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=90)
