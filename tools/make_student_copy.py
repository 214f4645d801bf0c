"""Write a student copy of the repository: every exercise's solution replaced.

In the source, each exercise is a region

    # EXERCISE <name>: <one-line hint>
    ...solution...
    # END EXERCISE

The copy keeps the two marker lines and puts in between, at the same indent,
    raise NotImplementedError("Exercise <name>: <hint>")
so everything else still imports and runs. fastops.py, the speed path, holds the
same backwards and updates rearranged; the copy leaves out each of its regions

    # SOLVED: ...
    ...
    # END SOLVED

so the copy trains on autograd.py's own ops (the student's) and holds no solution
(TEACHING.md: "The answer key"). Grade one exercise with
`pytest -m <name with _ for ->` (e.g. `pytest -m gelu_backward`); the tests
marked `integration` are skipped until no exercise is left unsolved.

Usage: python tools/make_student_copy.py DEST   (DEST must not exist yet and must lie outside the repository)
"""
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("autograd.py", "tasks.py", "plateau.py")
START = re.compile(r"^(\s*)# EXERCISE ([a-z0-9-]+): (.*)$")
END = re.compile(r"^\s*# END EXERCISE\s*$")
SOLVED = re.compile(r"^# SOLVED: .*?^# END SOLVED\n", re.M | re.S)
LEFT_OUT = "# (a solved region, left out of the student copy: this copy trains on autograd.py's ops)\n"
SKIP = {".git", "runs", "__pycache__", ".pytest_cache", "build", "dist", "results"}


def find_exercises(text):
    """[(name, hint, first line, last line)] of the marked regions of one source file."""
    found, open_at = [], None
    for i, line in enumerate(text.splitlines()):
        start = START.match(line)
        if start:
            if open_at:
                raise ValueError(f"exercise {start.group(2)} starts inside {open_at[1]}")
            open_at = (i, start.group(2), start.group(3), start.group(1))
        elif END.match(line):
            if not open_at:
                raise ValueError(f"line {i + 1}: END EXERCISE without a start")
            found.append((open_at[1], open_at[2], open_at[0], i, open_at[3]))
            open_at = None
    if open_at:
        raise ValueError(f"exercise {open_at[1]} is never closed")
    return found


def strip_solutions(text, keep=()):
    """The text with each exercise's body (but those named in `keep`) replaced by raise NotImplementedError."""
    lines = text.splitlines()
    for name, hint, first, last, indent in reversed(find_exercises(text)):
        if name in keep:
            continue
        message = f"Exercise {name}: {hint}".replace("\\", "\\\\").replace('"', '\\"')
        lines[first + 1:last] = [f'{indent}raise NotImplementedError("{message}")']
    return "\n".join(lines) + "\n"


def all_exercises(root=ROOT):
    return [e[0] for f in SOURCES for e in find_exercises(open(os.path.join(root, f)).read())]


def unsolved(root=ROOT):
    """Names of the exercises whose region still raises NotImplementedError."""
    pattern = re.compile(r'raise NotImplementedError\("Exercise ([a-z0-9-]+):')
    return [m.group(1) for f in SOURCES for m in pattern.finditer(open(os.path.join(root, f)).read())]


class DestinationError(ValueError):
    """A DEST that cannot take the copy: printed as one `error:` line, exit status 2."""


def check_destination(dest, root=ROOT):
    """DEST must be a new folder, outside the repository, in a folder we can write."""
    example = os.path.relpath(os.path.join(os.path.dirname(os.path.realpath(root)), "student-plateau"))
    if not dest:
        raise DestinationError(f"DEST is empty; give a new folder, e.g. {example}")
    if os.path.lexists(dest):
        raise DestinationError(f"{dest} already exists; choose a new folder")
    real, repo = os.path.realpath(dest), os.path.realpath(root)
    if os.path.commonpath([real, repo]) == repo:
        raise DestinationError(f"{dest} lies inside the repository; choose a folder outside it, e.g. {example}")
    parent = os.path.dirname(real)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise DestinationError(f"cannot create {dest}: {parent} is not a writable folder")


def make_student_copy(dest, root=ROOT, keep=()):
    """Copy the repository to `dest` with every exercise unsolved, except those named in `keep`."""
    check_destination(dest, root)
    shutil.copytree(root, dest, ignore=lambda folder, names: [n for n in names if n in SKIP
                                                              or n.endswith(".egg-info")])
    for name in SOURCES:
        path = os.path.join(dest, name)
        with open(path) as f:
            text = strip_solutions(f.read(), keep)
        with open(path, "w") as f:
            f.write(text)
    path = os.path.join(dest, "fastops.py")
    with open(path) as f:
        text = SOLVED.sub(LEFT_OUT, f.read())
    with open(path, "w") as f:
        f.write(text)
    return all_exercises(root)


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    if len(sys.argv) == 2 and sys.argv[1].startswith("-"):
        print(f"error: unknown option {sys.argv[1]}: python tools/make_student_copy.py DEST "
              "(the one option is --help)", file=sys.stderr)
        sys.exit(2)
    if len(sys.argv) != 2:  # a bad input is one line, as everywhere else
        print(f"error: give one DEST (got {len(sys.argv) - 1}): python tools/make_student_copy.py DEST "
              "(DEST must not exist yet and must lie outside the repository; --help says more)", file=sys.stderr)
        sys.exit(2)
    try:
        names = make_student_copy(sys.argv[1])
    except (DestinationError, OSError) as error:  # OSError: the disk filled, a folder vanished meanwhile
        print(f"error: {error if isinstance(error, DestinationError) else f'cannot write {sys.argv[1]} ({error})'}",
              file=sys.stderr)
        sys.exit(2)
    print(f"wrote {sys.argv[1]} with {len(names)} exercises: {', '.join(names)}")
