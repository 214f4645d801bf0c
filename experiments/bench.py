"""Time one training step (forward + backward + optimizer) and the bound set by its matmuls.

For each case we time the whole step of the engine (median over repeats, after
warm-up), then replay the very matrix products that step performed (shapes
recorded by autograd.matmul_log) on their own: no engine can be faster than
that on this machine (each product is timed on its own, hot in cache, and the
times summed). The two are timed in alternating rounds, and `engine /
matmul-bound` (the median of the per-round ratios) says how much the rest (the
elementwise work, the per-op Python) costs on top. To split that, the products
are also timed inside the step, and the Python overhead is the same step, same
ops, on tiny arrays (batch 1, width 4-8): what is left when arrays cost nothing.
The engine also hands some sums to BLAS as a product with a vector of ones
(autograd.sum_over); those are sums, not the model's products, and stay out
of the bound.

Cases: a matmul-heavy MLP; the grokking model at its default size (E=1 and
E=4 seeds in lockstep); the loss-plateau model at its default width (E=1, E=4).
Run time: about a minute on 2 CPU cores. `--backend cupy` times the GPU.
"""
import os
import platform
import time

import numpy as np

import common  # first: it puts the repository root on sys.path
import plateau

ag = common.ag


def sync():
    if ag.xp is not np:
        ag.xp.cuda.Device().synchronize()


def timed(fn):
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def median_time(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    return float(np.median([timed(fn) for _ in range(repeats)]))


class MLPCase:
    """x (E, 2048, 256) -> linear 1024 -> GELU -> linear 256 -> cross-entropy on 256 classes."""

    def __init__(self, E=1, N=2048, D=256):
        rng = np.random.default_rng(0)
        t = lambda *shape: ag.Tensor(ag.from_numpy(rng.standard_normal(shape) * 0.05), requires_grad=True)
        self.params = {"W_in": t(E, D, 4 * D), "b_in": t(E, 1, 4 * D), "W_out": t(E, 4 * D, D), "b_out": t(E, 1, D)}
        self.x = ag.Tensor(ag.from_numpy(rng.standard_normal((E, N, D))))
        self.y = ag.from_numpy(rng.integers(0, D, (E, N)))

    def loss(self, params, step):
        h = ag.gelu(ag.linear(self.x, params["W_in"], params["b_in"]))
        return ag.cross_entropy(ag.linear(h, params["W_out"], params["b_out"]), self.y, per_member=True)


TINY = {"mlp": dict(N=1, D=4), "grok": dict(batch_size=1, d_model=8), "sequence": dict(batch_size=1, d_model=4)}


def make_case(name, E, quick, tiny=False):
    """The case at its real size, its --quick size, or tiny: the same graph of ops
    on arrays so small that the time left is the per-op Python overhead."""
    sizes = TINY[name] if tiny else {}
    if name == "mlp":
        case = MLPCase(E, **(sizes or dict(N=256 if quick else 2048, D=32 if quick else 256)))
        return case, case.params
    if name == "grok":
        cfg = plateau.GrokConfig(seeds=tuple(range(E)), **{**(common.QUICK_GROK if quick else {}), **sizes})
    else:
        cfg = plateau.SequenceConfig(seeds=tuple(range(E)), **{**(common.QUICK_SEQUENCE if quick else {}), **sizes})
    problem = plateau.make_problem(cfg)
    return problem, problem.init_params()


def make_step(name, E, quick, tiny=False):
    problem, params = make_case(name, E, quick, tiny)
    optimizer = ag.AdamW(list(params.values()), lr=1e-4, betas=(0.9, 0.98))
    return lambda: plateau.train_step(problem, params, optimizer, 0)


def recorded_products(step):
    """The (shape, shape) of every matrix product one step performs."""
    ag.matmul_log = []
    step()
    shapes, ag.matmul_log = ag.matmul_log, None
    return shapes


def hot_product(shape_a, shape_b):
    """A function that times one product on its own, hot in cache (the fastest of 3
    back-to-back calls): the most favourable case for it."""
    rng = np.random.default_rng(0)
    x, y = ag.from_numpy(rng.standard_normal(shape_a)), ag.from_numpy(rng.standard_normal(shape_b))
    return lambda: min(timed(lambda: x @ y) for _ in range(3))


def products_in_step(step, repeats):
    """Median time a step spends inside its own products, operands as the step
    leaves them (often cold in cache): the engine's time minus this is the rest."""
    plain, spent, totals = ag._mm, [0.0], []

    def timed_mm(x, y):
        start = time.perf_counter()
        out = plain(x, y)
        sync()
        spent[0] += time.perf_counter() - start
        return out
    ag._mm = timed_mm
    try:
        for _ in range(repeats):
            spent[0] = 0.0
            step()
            totals.append(spent[0])
    finally:
        ag._mm = plain
    return float(np.median(totals))


def bench(name, E, repeats, quick):
    """Engine step and matmul bound, timed in alternating rounds so that both see the
    same state of the machine (a shared machine drifts by 10% from minute to minute)."""
    step = make_step(name, E, quick)
    shapes = recorded_products(step)
    products = [hot_product(a, b) for a, b in shapes]
    for _ in range(3):  # warm-up
        step()
    engine, bound = [], []
    for _ in range(repeats):
        engine.append(timed(step))
        bound.append(sum(product() for product in products))
    in_step = products_in_step(step, repeats)
    overhead = median_time(make_step(name, E, quick, tiny=True), 5 * repeats)
    engine_ms, bound_ms = 1e3 * float(np.median(engine)), 1e3 * float(np.median(bound))
    flops = sum(2 * np.prod(np.broadcast_shapes(a[:-2], b[:-2])) * a[-2] * a[-1] * b[-1] for a, b in shapes)
    return {"case": name, "E": E, "engine_ms": engine_ms, "matmul_bound_ms": bound_ms,
            "ratio": float(np.median(np.array(engine) / np.array(bound))), "overhead_ms": 1e3 * overhead,
            "matmuls_in_step_ms": 1e3 * in_step,
            "matmuls": len(shapes), "gflop": flops / 1e9, "matmul_gflops": flops / bound_ms / 1e6}


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=15, help="timed steps per case (median reported)")
    p.add_argument("--cases", default="mlp:1,grok:1,grok:4,sequence:1,sequence:4",
                   help="comma-separated name:E pairs (names: mlp, grok, sequence)")
    p.add_argument("--out", default=os.path.join("runs", "bench"), help="folder for bench.json")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats: a smoke run")
    args = p.parse_args(argv)
    ag.set_backend(args.backend, args.dtype)
    repeats = 2 if args.quick else args.repeats
    rows = []
    for item in args.cases.split(","):
        name, E = item.split(":")
        if name not in ("mlp", "grok", "sequence"):
            raise ValueError(f"unknown bench case {name!r}; choose mlp, grok or sequence")
        rows.append(bench(name, int(E), repeats, args.quick))
        r = rows[-1]
        plateau.say(f"{name:<9} E={r['E']}  engine {r['engine_ms']:7.2f} ms/step  matmuls alone "
                    f"{r['matmul_bound_ms']:7.2f} ms ({r['matmuls']} products, {r['matmul_gflops']:.0f} GFLOP/s)"
                    f"  engine / matmul-bound {r['ratio']:.2f}\n{'':<14}of the step: products "
                    f"{r['matmuls_in_step_ms']:.2f} ms, the rest {r['engine_ms'] - r['matmuls_in_step_ms']:.2f} ms "
                    f"(per-op Python overhead {r['overhead_ms']:.2f} ms, elementwise work the remainder)")
    machine = {"backend": args.backend, "dtype": args.dtype, "cpu_count": os.cpu_count(),
               "processor": platform.processor() or platform.machine(), "numpy": np.__version__}
    common.save_table(args.out, "bench.json", {"machine": machine, "repeats": repeats, "rows": rows})
    return rows


if __name__ == "__main__":
    common.main_guard(main)
