"""Time one training step (forward + backward + optimizer) and the bound set by its matmuls.

For each case we time the whole step of the engine (median over repeats, after
warm-up), then replay the very matrix products that step performed (shapes
recorded by fastops.matmul_log) on their own: no engine can be faster than
that on this machine (each product is timed on its own, hot in cache, and the
times summed). The two are timed in alternating rounds, and `engine /
matmul-bound` (the median of the per-round ratios) says how much the rest (the
elementwise work, the per-op Python) costs on top. To split that, the products
are also timed inside the step, and the Python overhead is the same step, same
ops, on tiny arrays (batch 1, width 4-8): what is left when arrays cost nothing.
The engine also hands some sums to BLAS as a product with a vector of ones
(fastops.sum_over); those are sums, not the model's products, and stay out
of the bound.

On a GPU (--backend cupy) every time is GPU time between two CUDA events,
read after the work: the step between events around it, the bound as all of
its products launched back to back between one pair of events (the fastest
of 3 such runs), the products in the step between events around each. The
GPU's name and the CuPy version are recorded in bench.json.

Cases: a matmul-heavy MLP; the grokking model at its default size (E=1 and
E=4 seeds in lockstep); the loss-plateau model at D=64, plateau.SequenceConfig's
default and --preset fast's width (E=1, E=4).
`--compare runs/bench/bench.json` (an earlier run) prints each case's change.

`--tricks` asks of each speed trick whether it earns its lines: for every case,
the whole step is timed with all of fastops.py's ops and optimizers, and with
each one alone put back to autograd.py's plain version (the tricks that
fastops.TRICKS swaps in on the backend), in alternating rounds; a trick's gain
is the step's time without it over the time with it, beside the lines it costs
(its function in fastops.py).
"""
import contextlib
import dataclasses
import inspect
import os
import platform
import time

import numpy as np

import common  # first: it puts the repository root on sys.path
import fastops
import plateau
import runs

ag = common.ag
CASES = ("mlp", "grok", "sequence")


# -- clocks: host time on a CPU, CUDA events on a GPU ------------------------------

def on_gpu():
    return ag.xp is not np


def timed(fn):
    """Seconds fn() takes: wall time on a CPU, GPU time between two events on a GPU."""
    if not on_gpu():
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    start, end = ag.xp.cuda.Event(), ag.xp.cuda.Event()
    start.record()
    fn()
    end.record()
    end.synchronize()
    return ag.xp.cuda.get_elapsed_time(start, end) / 1e3


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
    problem = plateau.make_problem(case_config(name, E, quick, tiny))
    return problem, problem.init_params()


def case_config(name, E, quick, tiny=False):
    """The config of a grok or sequence case."""
    sizes = TINY[name] if tiny else {}
    if name == "grok":
        return plateau.GrokConfig(seeds=tuple(range(E)), **{**(common.QUICK_GROK if quick else {}), **sizes})
    return plateau.SequenceConfig(seeds=tuple(range(E)), **{**(common.QUICK_SEQUENCE if quick else {}), **sizes})


def case_memory(name, E, quick, dtype):
    """A case's memory estimate (plateau.memory_estimate; for mlp: the float64 host copy of x,
    x and ~10 (N, 4D) activations and gradients in the dtype, the weights 5 times)."""
    if name != "mlp":  # a bench case takes training steps only: no evaluation
        parts = plateau.memory_estimate(dataclasses.replace(case_config(name, E, quick), dtype=dtype))
        return {k: v for k, v in parts.items() if k != "evaluation"}
    (N, D), b = (256, 32) if quick else (2048, 256), 8 if dtype == "float64" else 4
    return {"parameters": E * 8 * D * D * 5 * b, "data": E * N * D * (8 + b),
            "step": E * N * 4 * D * 10 * b}


def make_step(name, E, quick, tiny=False, optimizer="AdamW"):
    problem, params = make_case(name, E, quick, tiny)
    optimizer = (ag.AdamW(list(params.values()), lr=1e-4, betas=(0.9, 0.98)) if optimizer == "AdamW" else
                 ag.SGD(list(params.values()), lr=1e-2, momentum=0.9, weight_decay=1e-3))
    return lambda: plateau.train_step(problem, params, optimizer, 0)


def recorded_products(step):
    """The (shape, shape) of every matrix product one step performs."""
    fastops.matmul_log = []
    step()
    shapes, fastops.matmul_log = fastops.matmul_log, None
    return shapes


def product_bound(shapes):
    """A function giving the bound: every product of the step alone, hot, summed.
    On a CPU each product is the fastest of 3 back-to-back calls; on a GPU all of
    them run back to back between two events (the fastest of 3 such runs)."""
    rng = np.random.default_rng(0)
    pairs = [(ag.from_numpy(rng.standard_normal(a)), ag.from_numpy(rng.standard_normal(b))) for a, b in shapes]
    if on_gpu():
        def all_products():
            for x, y in pairs:
                x @ y
        return lambda: min(timed(all_products) for _ in range(3))
    return lambda: sum(min(timed(lambda: x @ y) for _ in range(3)) for x, y in pairs)


def products_in_step(step, repeats):
    """Median time a step spends inside its own products, operands as the step
    leaves them (often cold in cache): the engine's time minus this is the rest."""
    plain, spent, totals = fastops._mm, [0.0], []

    def timed_mm(x, y):
        out = [None]

        def product():
            out[0] = plain(x, y)
        spent[0] += timed(product)
        return out[0]
    fastops._mm = timed_mm
    try:
        for _ in range(repeats):
            spent[0] = 0.0
            step()
            totals.append(spent[0])
    finally:
        fastops._mm = plain
    return float(np.median(totals))


def bench(name, E, repeats, quick):
    """Engine step and matmul bound, timed in alternating rounds so that both see the
    same state of the machine (a shared machine drifts by 10% from minute to minute)."""
    step = make_step(name, E, quick)
    shapes = recorded_products(step)
    bound_once = product_bound(shapes)
    for _ in range(3):  # warm-up
        step()
    engine, bound = [], []
    for _ in range(repeats):
        engine.append(timed(step))
        bound.append(bound_once())
    in_step = products_in_step(step, repeats)
    overhead = median_time(make_step(name, E, quick, tiny=True), 5 * repeats)
    engine_ms, bound_ms = 1e3 * float(np.median(engine)), 1e3 * float(np.median(bound))
    flops = sum(2 * np.prod(np.broadcast_shapes(a[:-2], b[:-2])) * a[-2] * a[-1] * b[-1] for a, b in shapes)
    return {"case": name, "E": E, "engine_ms": engine_ms, "matmul_bound_ms": bound_ms,
            "ratio": float(np.median(np.array(engine) / np.array(bound))), "overhead_ms": 1e3 * overhead,
            "matmuls_in_step_ms": 1e3 * in_step,
            "matmuls": len(shapes), "gflop": flops / 1e9, "matmul_gflops": flops / bound_ms / 1e6}


@contextlib.contextmanager
def plain(op):
    """Within the block, autograd's plain `op` in place of fastops' (None: every op fast)."""
    fast = getattr(ag, op) if op else None
    if op:
        setattr(ag, op, fastops._PLAIN[op])
    try:
        yield
    finally:
        if op:
            setattr(ag, op, fast)


def trick_lines(op):
    """The lines a trick costs: its op or optimizer in fastops.py (the helpers it shares are not counted)."""
    return len(inspect.getsource(getattr(fastops, op)).splitlines())


def tricks(name, E, repeats, quick):
    """For one case: each fast op's gain on a whole step (time with it plain / time with all fast).
    Steps train with AdamW; the SGD trick is timed on a step that trains with SGD."""
    ops = [op for op in fastops.swapped_on("cupy" if on_gpu() else "numpy") if hasattr(fastops, op)]
    variants = [(None, "AdamW"), (None, "SGD")] + [(op, "SGD" if op == "SGD" else "AdamW") for op in ops]
    steps = {}
    for op, optimizer in variants:
        with plain(op):  # the optimizer is made inside: a plain AdamW variant gets autograd's
            steps[op, optimizer] = make_step(name, E, quick, optimizer=optimizer)
            for _ in range(3):
                steps[op, optimizer]()
    times = {v: [] for v in variants}
    for r in range(repeats):  # alternating rounds, each starting one variant later: no variant always goes first
        for op, optimizer in variants[r % len(variants):] + variants[:r % len(variants)]:
            with plain(op):
                times[op, optimizer].append(timed(steps[op, optimizer]))
    median_ms = {v: 1e3 * float(np.median(t)) for v, t in times.items()}
    return [{"case": name, "E": E, "op": op, "lines": trick_lines(op), "fast_ms": median_ms[None, optimizer],
             "plain_ms": median_ms[op, optimizer], "gain": median_ms[op, optimizer] / median_ms[None, optimizer]}
            for op, optimizer in variants[2:]]


MAX_REPEATS = 10_000  # timed steps per case: a median needs far fewer


def parse_cases(text):
    """'grok:1,sequence:4' -> [('grok', 1), ('sequence', 4)], every name and E checked."""
    cases = []
    for item in text.split(","):
        name, _, E = item.partition(":")
        if name not in CASES:
            raise common.argparse.ArgumentTypeError(f"unknown bench case {name!r}; choose from {', '.join(CASES)}")
        if not (E.isascii() and E.isdigit()) or int(E) < 1:
            raise common.argparse.ArgumentTypeError(f"{item!r}: write name:E with E a whole number >= 1")
        cases.append((name, int(E)))
    if len(set(cases)) < len(cases):
        raise common.argparse.ArgumentTypeError(f"{text!r} names a case twice")
    return cases


def machine(args):
    out = {"backend": args.backend, "dtype": args.dtype, "cpu_count": os.cpu_count(),
           "processor": platform.processor() or platform.machine(), "numpy": np.__version__}
    if on_gpu():
        name = ag.xp.cuda.runtime.getDeviceProperties(0)["name"]
        out.update(gpu=name.decode() if isinstance(name, bytes) else str(name), cupy=ag.xp.__version__)
    return out


def read_compare_file(path):
    """An earlier bench.json's rows, read before this run writes its own (which may be the same
    file): each row's case a name, E a whole number, ratio and engine_ms positive finite numbers
    (what compare divides by); anything else is one line naming it."""
    rows = runs.read_json(path, "rows", ("case", "E", "ratio", "engine_ms"))["rows"]
    for row in rows:
        numbers = [row["ratio"], row["engine_ms"]]
        if not (isinstance(row["case"], str) and isinstance(row["E"], int) and not isinstance(row["E"], bool)
                and all(map(plateau.number(0, low_open=True).ok, numbers))):
            raise runs.InputError(f"{path} is not a bench.json: row {row!r:.120} needs a case name, a whole E "
                                  "and positive finite ratio and engine_ms")
    return rows


def compare(rows, earlier, path):
    """Print each case's ratio and time against an earlier bench.json's rows."""
    before = {(r["case"], r["E"]): r for r in earlier}
    common.say(f"\nagainst {path}:")
    for r in rows:
        old = before.get((r["case"], r["E"]))
        if old is None:
            common.say(f"{r['case']:<9} E={r['E']}  not in that file")
            continue
        common.say(f"{r['case']:<9} E={r['E']}  engine / bound {old['ratio']:.2f} -> {r['ratio']:.2f} "
                   f"({100 * (r['ratio'] / old['ratio'] - 1):+.0f}%), engine {old['engine_ms']:.1f} -> "
                   f"{r['engine_ms']:.1f} ms ({100 * (r['engine_ms'] / old['engine_ms'] - 1):+.0f}%)")


def _is_smoke(bench_json):
    """Whether a bench.json says it was a smoke run (true, exactly: anything else counts as real)."""
    return isinstance(bench_json, dict) and bench_json.get("quick") is True


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"],
                   help="the array backend to time (default: %(default)s)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="the float type of every array (default: %(default)s)")
    repeats = common.number_flag(int, lambda v: 1 <= v <= MAX_REPEATS, f"a whole number in [1, {MAX_REPEATS:,}]")
    p.add_argument("--repeats", type=repeats, default=15,
                   help="timed steps per case, the median reported (default: %(default)s; 2 with --quick)")
    p.add_argument("--cases", type=parse_cases, default=parse_cases("mlp:1,grok:1,grok:4,sequence:1,sequence:4"),
                   help="comma-separated name:E pairs, names from mlp, grok, sequence "
                        "(default: mlp:1,grok:1,grok:4,sequence:1,sequence:4)")
    p.add_argument("--compare", default=None, help="an earlier bench.json: print each case's change against it")
    p.add_argument("--out", default=None, help="folder for bench.json (default: runs/bench, runs/quick/bench with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes, 2 repeats unless --repeats is given: a smoke run")
    p.add_argument("--tricks", action="store_true",
                   help="also time each case with each fast op put back to autograd's plain one: what each "
                        "speed trick gains on a whole step, beside the lines it costs")
    args = p.parse_args(argv)
    if not hasattr(fastops, "matmul"):
        raise runs.InputError("bench.py times the speed path (fastops.py), which a student copy leaves out; "
                              "time it in the full repository")
    earlier = read_compare_file(args.compare) if args.compare else None  # read before any work
    for name, E in args.cases:  # every case checked before any work, the folder too
        runs.check_fits(case_memory(name, E, args.quick, args.dtype), what=f"bench case {name}:{E}",
                        remedy="choose a smaller E")
    out = args.out or os.path.join("runs", "quick" if args.quick else "", "bench")
    runs.check_writable_folder(out, create=True)
    runs.check_one_script(out, "bench")
    check_earlier(out, args.quick)
    return run(args, argv, out, earlier)


def check_earlier(out, quick):
    """A smoke bench (--quick) never replaces a real run's bench.json in `out` (reproduce.py asks this
    before it trains anything)."""
    earlier_bench = os.path.join(out, "bench.json")
    remedy = "delete it (a bench.json is only bench.py's output) or give another --out"
    if quick and os.path.isfile(earlier_bench) and not _is_smoke(runs.read_json(earlier_bench, remedy=remedy)):
        raise runs.InputError(f"{out} holds a real run's bench.json, which a smoke run (--quick) never replaces; "
                              "give another --out")


def run(args, argv, out, earlier=None):
    """Time every case of args.cases and write bench.json (and --tricks) into `out`; print each case's
    change against `earlier`, the --compare file's rows read before any work."""
    fastops.set_backend(args.backend, args.dtype)
    repeats = 2 if args.quick and "--repeats" not in common.explicit_flags(argv) else args.repeats
    rows = []
    for name, E in args.cases:
        rows.append(bench(name, E, repeats, args.quick))
        r = rows[-1]
        common.say(f"{name:<9} E={r['E']}  engine {r['engine_ms']:7.2f} ms/step  matmuls alone "
                   f"{r['matmul_bound_ms']:7.2f} ms ({r['matmuls']} products, {r['matmul_gflops']:.0f} GFLOP/s)"
                   f"  engine / matmul-bound {r['ratio']:.2f}\n{'':<14}of the step: products "
                   f"{r['matmuls_in_step_ms']:.2f} ms, the rest {r['engine_ms'] - r['matmuls_in_step_ms']:.2f} ms "
                   f"(per-op Python overhead {r['overhead_ms']:.2f} ms, elementwise work the remainder)")
    gains = [row for name, E in args.cases for row in tricks(name, E, repeats, args.quick)] if args.tricks else []
    for g in gains:
        common.say(f"{g['case']:<9} E={g['E']}  without fast {g['op']:<13} {g['plain_ms']:7.2f} ms/step against "
                   f"{g['fast_ms']:7.2f}: gain {g['gain']:.2f}x for {g['lines']} lines")
    path = os.path.join(out, "bench.json")
    runs.write_json(path, {"machine": machine(args), "repeats": repeats, "quick": args.quick,
                           "commit": common.git_commit(), "rows": rows,
                           **({"tricks": gains} if gains else {})})
    common.say(f"wrote {path}")
    if args.compare:  # read before the run, so --compare may name the bench.json this run replaces
        compare(rows, earlier, args.compare)
    return rows


if __name__ == "__main__":
    common.STOP_ADVICE = "run the same command again"
    common.main_guard(main)
