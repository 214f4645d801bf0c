"""Tests of tools/strict_cupy.py, the strict NumPy-backed CuPy stand-in (no GPU needed).

The stand-in checks API use, host/device transfers and host syncs of code
written for CuPy 14.x; it is not CUDA and says nothing about speed.
"""
import importlib
import inspect
import json
import os
import pickle
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

if np.lib.NumpyVersion(np.__version__) < "2.1.0":
    pytest.skip("strict_cupy needs NumPy >= 2.1", allow_module_level=True)

import strict_cupy as sc  # noqa: E402

cp = sc.cupy
API = sc.API


@pytest.fixture(autouse=True)
def _zero_counts():
    sc.reset()
    yield


# ---------------------------------------------------------------------------
# install / uninstall


def test_install_and_uninstall_restore_sys_modules():
    sentinel = object()
    before = {name: sys.modules.get(name, sentinel) for name in sc.MODULES}
    mod = sc.install()
    try:
        assert mod is cp
        assert importlib.import_module("cupy") is cp
        import cupy
        import cupy.linalg
        from cupy.cuda import runtime
        from cupyx.profiler import benchmark
        assert cupy is cp and cupy.linalg.norm is cp.linalg.norm
        assert runtime.getDeviceCount() == 1
        assert callable(benchmark)
        with sc.installed() as inner:  # nests
            assert inner is cp
        assert sys.modules["cupy"] is cp
    finally:
        sc.uninstall()
    after = {name: sys.modules.get(name, sentinel) for name in sc.MODULES}
    assert after == before


def test_the_engine_smoke_test_runs():
    # what fastops.import_cupy checks: device count, a kernel, a product, a copy back
    assert cp.cuda.runtime.getDeviceCount() == 1
    x = cp.arange(6, dtype=cp.float32).reshape(2, 3)
    product = ((x * 2 + 1) @ x.T).get()
    assert isinstance(product, np.ndarray)
    assert product.tolist() == [[13.0, 40.0], [31.0, 112.0]]


def test_it_says_what_it_is():
    assert "stand-in" in cp.__version__ or "standin" in cp.__version__
    assert cp.__version__.startswith(API["cupy_version"])
    name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    assert isinstance(name, bytes) and b"stand-in" in name and b"not a GPU" in name
    for text in (sc.__doc__, cp.__doc__):
        assert "not CUDA" in text and "speed" in text


# ---------------------------------------------------------------------------
# strictness: mixing, implicit host conversion, API names and keywords


def test_mixing_numpy_into_device_ops_raises():
    dev = cp.ones(3)
    host = np.ones(3)
    for call in (lambda: dev + host, lambda: host + dev, lambda: cp.add(dev, host),
                 lambda: cp.exp(host), lambda: dev * host, lambda: dev < host,
                 lambda: cp.concatenate([dev, host]), lambda: cp.where(dev > 0, host, 0.0),
                 lambda: cp.matmul(dev, host), lambda: dev.dot(host),
                 lambda: cp.sum(host), lambda: cp.ascontiguousarray(host)):
        with pytest.raises(TypeError):
            call()
    with pytest.raises(TypeError, match=r"Unsupported type <class 'numpy.ndarray'>"):
        cp.add(dev, host)
    with pytest.raises(TypeError, match=r"Unsupported type <class 'numpy.ndarray'>"):
        host + dev


def test_numpy_functions_on_device_arrays_raise():
    dev = cp.ones((2, 2))
    for call in (lambda: np.exp(dev), lambda: np.concatenate([dev, dev]), lambda: np.sum(dev),
                 lambda: np.asarray(dev), lambda: np.array(dev), lambda: np.array([dev, 1.0]),
                 lambda: np.matmul(dev, dev)):
        with pytest.raises(TypeError):
            call()
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(dev)


def test_scalars_mix_as_in_cupy():
    dev = cp.arange(3, dtype=cp.float32)
    for r in (dev * 2, 2 * dev, dev + np.float32(1), np.float32(2) * dev, dev ** 2, 1 - dev,
              np.float64(1) < dev, dev / 2.0):
        assert isinstance(r, cp.ndarray)
    assert (dev * 2).dtype == np.float32          # Python scalars are weak (NEP 50)
    assert (dev * np.float64(2)).dtype == np.float64  # NumPy scalars are not
    assert (cp.arange(3) / 2).dtype == np.float64


def test_name_cupy_lacks_is_attribute_error_and_unimplemented_name_is_loud():
    with pytest.raises(AttributeError):
        cp.no_such_function  # noqa: B018
    with pytest.raises(AttributeError):
        cp.ones(2).no_such_method  # noqa: B018
    assert not hasattr(cp, "asnumpy_please")
    assert "fft" in API["modules"]  # CuPy has it, the stand-in does not implement it
    with pytest.raises(sc.NotInStandIn):
        cp.fft  # noqa: B018
    with pytest.raises(sc.NotInStandIn):
        cp.ones(2).flat  # noqa: B018


def test_unknown_keyword_raises_type_error():
    x = cp.ones((2, 3))
    with pytest.raises(TypeError, match="Wrong arguments"):
        cp.exp(x, where=x > 0)  # CuPy 14 ufuncs take out, dtype, casting only
    with pytest.raises(TypeError):
        x.sum(axis=0, initial=0.0)
    with pytest.raises(TypeError):
        cp.zeros(3, like=x)
    with pytest.raises(TypeError, match="Did not understand"):
        cp.einsum("ij->i", x, out=cp.empty(2))
    assert API["ufunc_keywords"] == ["out", "dtype", "casting"]


def test_exposed_names_and_signatures_follow_the_api_list():
    sc._check_against_api()  # every exposed name is in cupy_api.json
    checked = 0
    for modname, mod in sc.MODULES.items():
        sec = API if modname == "cupy" else API["submodules"][modname]
        for name, obj in vars(mod).items():
            if name.startswith("_") or name not in sec["functions"]:
                continue
            spec = sec["functions"][name]
            if spec == "ufunc":
                assert isinstance(obj, cp.ufunc), name
            else:
                assert _render(inspect.signature(obj)) == spec, f"{modname}.{name}"
                _check_defaults(obj, sec.get("defaults", {}).get(name, {}), f"{modname}.{name}")
            checked += 1
        for name, np_name in sec.get("numpy_borrowed", {}).items():
            if name in vars(mod):
                assert vars(mod)[name] is _numpy_attr(np_name), name
    assert checked > 150
    for name, spec in API["ndarray_methods"].items():
        fn = cp.ndarray.__dict__.get(name)
        if fn is None:
            continue
        assert _render(inspect.signature(fn), drop_self=True) == spec, f"ndarray.{name}"
        _check_defaults(fn, API["ndarray_method_defaults"].get(name, {}), f"ndarray.{name}")
    for key, cls in (("cupy.cuda.Device", cp.cuda.Device), ("cupy.cuda.Event", cp.cuda.Event),
                     ("cupy.cuda.Stream", cp.cuda.Stream),
                     ("cupy.cuda.MemoryPool", cp.cuda.MemoryPool),
                     ("cupy.ndarray.flags (cupy._core.flags.Flags)", type(cp.ones(1).flags)),
                     ("cupyx.profiler._time._PerfCaseResult", sc._PerfCaseResult),
                     ("ufunc", cp.ufunc)):
        spec = API["ufunc_class"] if key == "ufunc" else API["classes"][key]
        for name, fn in vars(cls).items():
            if name.startswith("_") and name not in ("__init__", "__enter__", "__exit__"):
                continue
            if key == "ufunc" and name == "__init__":
                continue  # CuPy builds its ufuncs internally
            if callable(fn) and not isinstance(fn, type):
                assert name in spec["methods"], f"{key}.{name}"
                assert _render(inspect.signature(fn), drop_self=True) == spec["methods"][name]
            else:
                assert name in spec["attributes"] or name in spec["methods"], f"{key}.{name}"


def _numpy_attr(dotted):
    obj = np
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _render(sig, drop_self=False):
    params = list(sig.parameters.values())[1 if drop_self else 0:]
    out, star, posonly = [], False, False
    for p in params:
        if p.kind is p.POSITIONAL_ONLY:
            out.append(p.name)
            posonly = True
            continue
        if posonly:
            out.append("/")
            posonly = False
        if p.kind is p.VAR_POSITIONAL:
            out.append("*" + p.name)
            star = True
        elif p.kind is p.KEYWORD_ONLY:
            if not star:
                out.append("*")
                star = True
            out.append(p.name)
        elif p.kind is p.VAR_KEYWORD:
            out.append("**" + p.name)
        else:
            out.append(p.name)
    if posonly:
        out.append("/")
    return out


def _check_defaults(fn, defaults, where):
    import ast
    sig = inspect.signature(fn)
    for name, text in defaults.items():
        try:
            expected = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            expected = {"float": float, "int": int}.get(text, inspect.Parameter.empty)
            if expected is inspect.Parameter.empty:
                continue
        assert sig.parameters[name].default == expected, f"{where}({name}={text})"


# ---------------------------------------------------------------------------
# semantics: 0-d results, values equal NumPy's


def test_reductions_and_element_indexing_give_0d_device_arrays():
    x = cp.arange(6.0).reshape(2, 3)
    for r in (x.sum(), x.max(), x.mean(), x.argmax(), cp.sum(x), x.any(), x[1, 2], x[0][1],
              cp.linalg.norm(x), x.std()):
        assert isinstance(r, cp.ndarray) and r.shape == (), r
    view = x[1, 2]
    view[...] = 50.0  # a 0-d view, as in CuPy
    assert x[1, 2].item() == 50.0


def test_results_equal_numpy_bit_for_bit():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float32)
    da, db = cp.asarray(a), cp.asarray(b)
    pairs = [
        (cp.exp(da).get(), np.exp(a)), (cp.tanh(da).get(), np.tanh(a)),
        ((da @ db).get(), a @ b), (cp.matmul(da, db).get(), np.matmul(a, b)),
        (cp.einsum("ij,jk->ik", da, db).get(), np.einsum("ij,jk->ik", a, b)),
        (da.sum(axis=1).get(), a.sum(axis=1)), (da.mean().get(), a.mean()),
        (cp.sqrt(cp.abs(da)).get(), np.sqrt(np.abs(a))), ((da ** 2).get(), a ** 2),
        (cp.linalg.norm(da, axis=-1, keepdims=True).get(),
         np.linalg.norm(a, axis=-1, keepdims=True)),
        (cp.maximum(da, 0).get(), np.maximum(a, 0)), (da.var(axis=0).get(), a.var(axis=0)),
        ((da / 3).get(), a / 3), (cp.log(cp.abs(da) + 1).get(), np.log(np.abs(a) + 1)),
    ]
    for got, want in pairs:
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_matmul_einsum_take_along_axis_concatenate_out_and_where():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4))
    b = rng.standard_normal((2, 4, 5))
    da, db = cp.array(a), cp.array(b)
    np.testing.assert_array_equal((da @ db).get(), a @ b)
    np.testing.assert_array_equal(cp.einsum("bij,bjk->bik", da, db).get(),
                                  np.einsum("bij,bjk->bik", a, b))
    idx = rng.integers(0, 4, size=(2, 3, 2))
    got = cp.take_along_axis(da, cp.asarray(idx), axis=2)
    np.testing.assert_array_equal(got.get(), np.take_along_axis(a, idx, axis=2))
    out = cp.empty((4, 3, 4))
    r = cp.concatenate([da, da], axis=0, out=out)
    assert r is out
    np.testing.assert_array_equal(out.get(), np.concatenate([a, a], axis=0))
    cond = da > 0
    assert cond.dtype == np.bool_ and isinstance(cond, cp.ndarray)
    np.testing.assert_array_equal(cp.where(cond, da, 0.0).get(), np.where(a > 0, a, 0.0))
    with pytest.raises(TypeError):
        cp.concatenate([da, da], out=np.empty((4, 3, 4)))


# ---------------------------------------------------------------------------
# counters


def test_get_item_bool_and_friends_count_one_sync_each():
    x = cp.arange(4.0)
    s = x.sum()
    with sc.counting() as c:
        x.get()
        s.item()
        bool(s)
        float(s)
        int(s)
        x.tolist()
        cp.asnumpy(x)
    assert c.syncs == 7 and c.uploads == 0
    with sc.counting() as c:
        y = x * 2
        y = y.reshape(2, 2).T
        y.sum(axis=0)
    assert c.syncs == 0


def test_hidden_syncs_are_counted():
    x = cp.arange(6.0)
    with sc.counting() as c:
        x[x > 2]  # the size of a masked result needs the count of True: a sync in CuPy
    assert c.syncs == 1
    with sc.counting() as c:
        cp.nonzero(x)
        cp.where(x > 1)
    assert c.syncs == 2


def test_uploads_are_counted():
    with sc.counting() as c:
        a = cp.asarray(np.ones((2, 3)))
        cp.array([1.0, 2.0])
        a.set(np.zeros((2, 3)))
        cp.asarray(a)  # already on the device: nothing
        a[[0, 1]]      # a list index is uploaded, as CuPy does
    assert c.uploads == 4 and c.syncs == 0
    with sc.counting() as c:
        cp.asarray(3.0)  # a 0-d host value becomes a fill kernel in CuPy, not a copy
    assert c.uploads == 0 and c.launches == 1


def test_launches_counted_for_elementwise_ops_not_for_views():
    x = cp.ones((4, 6))
    with sc.counting() as c:
        y = x + 1
    assert c.launches == 1
    with sc.counting() as c:
        y.reshape(2, 12)
        y.T
        y.transpose(1, 0)
        y[1:3, ::2]
        cp.expand_dims(y, 0)
        cp.broadcast_to(y[0], (3, 6))
        y.swapaxes(0, 1)
        cp.empty((3, 3))
        cp.empty_like(y)
    assert c.launches == 0
    with sc.counting() as c:
        y.T.reshape(24)  # not contiguous: a copy
        y.T.copy()
        cp.zeros(3)
        cp.exp(y, out=y)
        y.sum()
    assert c.launches == 5


def test_concatenate_launches_mirror_cupy():
    parts = [cp.ones((2, 3)) for _ in range(3)]
    with sc.counting() as c:
        cp.concatenate(parts)
    assert c.launches == 3 and c.uploads == 0  # one copy kernel per input
    many = [cp.ones((2, 3)) for _ in range(10)]
    with sc.counting() as c:
        cp.concatenate(many)
    assert c.launches == 1 and c.uploads == 1  # one kernel after uploading a pointer table


def test_counting_traces_and_reset():
    with sc.counting(trace=True) as c:
        cp.ones(3).get()
    assert c.events == [("launch", "ones (fill)"), ("sync", "get")]
    assert sc.counts.syncs >= 1
    sc.reset()
    assert sc.counts.as_dict() == {"syncs": 0, "uploads": 0, "launches": 0, "waits": 0}


# ---------------------------------------------------------------------------
# cuda and cupyx pieces


def test_cuda_device_events_streams_and_memory_pool():
    dev = cp.cuda.Device(0)
    assert dev.id == 0 and isinstance(dev.compute_capability, str)
    with sc.counting() as c:
        dev.synchronize()
        cp.cuda.Stream.null.synchronize()
    assert c.waits == 2 and c.syncs == 0
    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    end.record()
    end.synchronize()
    assert cp.cuda.get_elapsed_time(start, end) >= 0.0
    with pytest.raises(Exception):
        cp.cuda.Device(1)
    pool = cp.get_default_memory_pool()
    before = pool.used_bytes()
    keep = cp.empty(1000)
    assert pool.used_bytes() >= before + 8000
    del keep
    pool.free_all_blocks()
    assert pool.used_bytes() == before


def test_benchmark_returns_cpu_and_gpu_times():
    x = cp.ones(10)
    res = sc.cupyx.profiler.benchmark(lambda: x + 1, n_repeat=3, n_warmup=1)
    assert res.cpu_times.shape == (3,) and res.gpu_times.shape == (1, 3)
    assert (res.gpu_times >= 0).all() and "GPU-0" in str(res)


def test_pickle_round_trip_and_repr_count_syncs():
    x = cp.arange(3.0)
    with sc.counting() as c:
        y = pickle.loads(pickle.dumps(x))
        repr(x)
    assert c.syncs == 2 and c.uploads == 1
    np.testing.assert_array_equal(y.get(), [0.0, 1.0, 2.0])


def test_no_floating_point_warnings_and_bool_of_empty_warns():
    x = cp.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cp.log(x)
        x / 0.0
    with pytest.warns(DeprecationWarning):
        assert not bool(cp.empty(0))
    with pytest.raises(ValueError):
        bool(cp.ones(2))
