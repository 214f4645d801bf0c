"""Time one training step (forward + backward + optimizer) and the bound set by its matmuls.

For each case we time the whole step of the engine (median over repeats, after
warm-up), then replay the very matrix products that step performed (shapes
recorded by autograd.matmul_log) on their own: no engine can be faster than
that on this machine (each product is timed on its own, hot in cache, and the
medians summed). `engine / matmul-bound` says how much the rest (the
elementwise work, the per-op Python) costs on top. The Python overhead is the
same step, same ops, on tiny arrays (batch 1, width 4-8): what is left when the
arrays cost nothing.

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


def median_time(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


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


def step_time(name, E, repeats, quick, tiny=False):
    problem, params = make_case(name, E, quick, tiny)
    optimizer = ag.AdamW(list(params.values()), lr=1e-4, betas=(0.9, 0.98))
    step = lambda: plateau.train_step(problem, params, optimizer, 0)
    return median_time(step, repeats), step


def matmul_time(shape_a, shape_b, repeats):
    """One product on its own, operands hot in cache: the most favourable case for it."""
    rng = np.random.default_rng(0)
    x, y = ag.from_numpy(rng.standard_normal(shape_a)), ag.from_numpy(rng.standard_normal(shape_b))
    return median_time(lambda: x @ y, repeats)


def bench(name, E, repeats, quick):
    engine, step = step_time(name, E, repeats, quick)
    overhead, _ = step_time(name, E, 5 * repeats, quick, tiny=True)
    ag.matmul_log = []
    step()
    shapes, ag.matmul_log = ag.matmul_log, None
    bound = sum(matmul_time(a, b, repeats) for a, b in shapes)
    flops = sum(2 * np.prod(np.broadcast_shapes(a[:-2], b[:-2])) * a[-2] * a[-1] * b[-1] for a, b in shapes)
    return {"case": name, "E": E, "engine_ms": 1e3 * engine, "matmul_bound_ms": 1e3 * bound,
            "ratio": engine / bound, "overhead_ms": 1e3 * overhead, "matmuls": len(shapes), "gflop": flops / 1e9,
            "matmul_gflops": flops / bound / 1e9}


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
        ag.set_backend(args.backend, args.dtype)
        rows.append(bench(name, int(E), repeats, args.quick))
        r = rows[-1]
        plateau.say(f"{name:<9} E={r['E']}  engine {r['engine_ms']:8.2f} ms/step  matmuls alone "
                    f"{r['matmul_bound_ms']:8.2f} ms ({r['matmuls']} products, {r['matmul_gflops']:.0f} GFLOP/s)"
                    f"  engine / matmul-bound {r['ratio']:.2f}  (Python overhead {r['overhead_ms']:.2f} ms)")
    machine = {"backend": args.backend, "dtype": args.dtype, "cpu_count": os.cpu_count(),
               "processor": platform.processor() or platform.machine(), "numpy": np.__version__}
    common.save_table(args.out, "bench.json", {"machine": machine, "repeats": repeats, "rows": rows})
    return rows


if __name__ == "__main__":
    common.main_guard(main)
