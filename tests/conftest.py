"""Shared fixtures: a `backend` fixture over numpy, the strict CuPy stand-in and real CuPy.

"standin" runs the engine's CuPy code path on CPU, on tools/strict_cupy.py (a
NumPy-backed imitation of CuPy 14.x that checks API use, transfers and host
syncs; not CUDA, not speed), so every commit's CI exercises it. "cupy" is the
real CuPy on a real GPU, skipped where there is none. Both carry the `cupy` marker.
The fixture runs autograd.py's own ops (the lesson, and the exercises);
tests/test_fastops.py checks the speed path against them.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tools")]  # the project, and the stand-in and student-copy tools

import autograd as ag  # noqa: E402
import fastops  # noqa: E402
import strict_cupy  # noqa: E402
from make_student_copy import unsolved  # noqa: E402


def _cupy_missing_reason():
    try:
        fastops.set_backend("cupy")
    except ag.BackendError as error:
        return str(error)
    finally:
        fastops.set_backend("numpy")
    return None


CUPY_SKIP = _cupy_missing_reason()


@pytest.fixture(params=["numpy", pytest.param("standin", marks=pytest.mark.cupy),
                        pytest.param("cupy", marks=pytest.mark.cupy)])
def backend(request):
    """Run the test once per backend, in float64, on autograd.py's own ops; restore numpy/float32 after."""
    if request.param == "cupy" and CUPY_SKIP:
        pytest.skip(CUPY_SKIP)
    with standin_if(request.param == "standin"):
        fastops.set_backend("numpy" if request.param == "numpy" else "cupy", "float64", fast=False)
        yield request.param
        fastops.set_backend("numpy", "float32")


class standin_if:
    """Install the CuPy stand-in for the duration of a block, if asked to."""

    def __init__(self, wanted):
        self.wanted = wanted

    def __enter__(self):
        if self.wanted:
            strict_cupy.install()
            strict_cupy.reset()

    def __exit__(self, *exc):
        if self.wanted:
            fastops.set_backend("numpy", "float32")
            strict_cupy.uninstall()


def on_device(backend):
    """Whether a backend fixture value runs the CuPy code path."""
    return backend in ("standin", "cupy")


@pytest.fixture(autouse=True)
def _restore_backend():
    yield
    fastops.set_backend("numpy", "float32")


UNSOLVED = unsolved()
SPEED_PATH = hasattr(fastops, "softmax")  # a student copy leaves fastops.py's solved ops out


def pytest_collection_modifyitems(config, items):
    """In a student copy, the whole-model tests wait until every exercise is solved, and each
    test runs once, on NumPy: the same test on the CuPy stand-in (and on a GPU) comes back then.
    Tests of the speed path (marker speed_path) are skipped there: the copy has none."""
    if not SPEED_PATH:
        no_speed_path = pytest.mark.skip(reason="a student copy has no speed path (fastops.py's solved ops)")
        for item in items:
            if "speed_path" in item.keywords:
                item.add_marker(no_speed_path)
    if not UNSOLVED:
        return
    skip = pytest.mark.skip(reason=f"solve every exercise first; still open: {', '.join(UNSOLVED)}")
    on_numpy = []
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)
        backend = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        if backend in (None, "numpy"):
            on_numpy.append(item)
    kept = set(on_numpy)
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = on_numpy
