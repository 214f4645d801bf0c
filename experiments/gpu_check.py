"""The prepared device check: everything worth measuring on a GPU, inside a time budget.

Run from the repository root on a machine with an NVIDIA GPU and CuPy (it
installs nothing and needs no network):

    PYTHONPATH=. python experiments/gpu_check.py --out runs/gpu_check --budget 540

Stages, highest value first; each runs in its own process under its own time
limit (never past what is left of --budget), so a hang or a crash costs one
stage, and every stage writes its one file as soon as it ends:

  versions     Python, NumPy, CuPy, CUDA, the GPU's name and memory   versions.json
  equivalence  NumPy vs CuPy in float64, both models, same seeds:      equivalence.json
               the largest difference in the history and the parameters
  steptime     ms per training step at E = 1, 8, 64, both models,      steptime.json
               GPU time between CUDA events (experiments/bench.py),
               and the matmul bound
  counts       kernel launches and host syncs per training step,        counts.json
               counted on the CPU stand-in (tools/strict_cupy.py): a
               property of the code path, not of the GPU
  tests        the cupy-marked tests on the real GPU                    tests.txt
  grok         experiments/grok.py --backend cupy, 3 seeds, against      grok.txt, grok_table.json
               the grokking baseline in RESULTS.md
  (always)     what each stage did, and how long it took                summary.md

At most 8 files, all in --out. A folder that holds an earlier check's files is
refused unless --overwrite, which removes them first (results/gpu_check/ holds
the committed GPU check). The exit status is 0 only if every stage that was
asked for is done; otherwise 1, after one line naming the stages that failed, timed out or were
skipped. `--standin` is the dry run the test suite does on CPU: every stage on
the stand-in, tiny sizes.
"""
import contextlib
import importlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import common  # first: it puts the repository root on sys.path
import fastops
import runs

TOOLS = os.path.join(common.ROOT, "tools")
STAGES = [  # (name, its own time limit in seconds, the least time worth starting it with)
    ("versions", 60, 10), ("equivalence", 150, 30), ("steptime", 180, 40), ("counts", 60, 15),
    ("tests", 150, 30), ("grok", 300, 60)]
STAGE_OF = "PLATEAU_GPU_CHECK_STAGE_OF"  # set for the stages gpu_check.py starts: the folder it checked
FILES = ("versions.json", "equivalence.json", "steptime.json", "counts.json", "tests.txt", "grok.txt",
         "grok_table.json", "summary.md")  # every file a check may write


def use_backend(standin):
    """The CuPy backend, real or (dry run) the stand-in."""
    if standin:
        sys.path.insert(0, TOOLS)
        importlib.import_module("strict_cupy").install()
    fastops.set_backend("cupy")
    return common.ag.xp


def stage_versions(out, standin):
    cupy = use_backend(standin)
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    info = {"python": platform.python_version(), "numpy": __import__("numpy").__version__,
            "cupy": cupy.__version__, "gpu": name.decode() if isinstance(name, bytes) else str(name),
            "gpu_memory_gib": round(props.get("totalGlobalMem", 0) / 2 ** 30, 1),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(), "standin": standin}
    runs.write_json(os.path.join(out, "versions.json"), info)
    return f"{info['gpu']}, CuPy {info['cupy']}, CUDA runtime {info['cuda_runtime']}"


def _equivalence_configs(standin):
    import plateau
    steps = 8 if standin else 150
    grok = plateau.GrokConfig(p=23, d_model=32, n_heads=2, batch_size=64, steps=steps, eval_every=steps // 4,
                              seeds=(0, 1), dtype="float64", checkpoint_every=0)
    seq = plateau.SequenceConfig(n=6, d_model=16, batch_size=24, eval_size=32, steps=steps, eval_every=steps // 4,
                                 seeds=(0, 1), tasks=("mws", "mwp"), dtype="float64", checkpoint_every=0)
    return {"grok": grok, "sequence": seq}


def stage_equivalence(out, standin, tolerance=1e-7):
    """Both backends train the same runs in float64: the history (losses, accuracies) may differ by at
    most `tolerance`, each parameter by at most 1e3 x tolerance of its largest value (summation
    orders differ between NumPy and CuPy, and the differences grow over the steps)."""
    import numpy as np
    import plateau
    quiet = lambda *a: None
    report = {"tolerance": tolerance, "models": {}}
    for name, cfg in _equivalence_configs(standin).items():
        cpu = runs.train(cfg, log=quiet)
        use_backend(standin)
        gpu = runs.train(common.dataclasses.replace(cfg, backend="cupy"), log=quiet)
        history = max(abs(a[k] - b[k]) for a, b in zip(cpu.history, gpu.history) for k in ("loss", "acc"))
        # per parameter, the largest difference over its largest value, or absolute where that is below 1
        # (b_K's gradient is 0 in exact arithmetic, so it holds ~1e-13 of rounding noise on both)
        params = max(float(np.max(np.abs(cpu.params[k] - gpu.params[k])) / max(np.max(np.abs(cpu.params[k])), 1.0))
                     for k in cpu.params)
        report["models"][name] = {"steps": cfg.steps, "members": len(cfg.seeds), "history_max_abs_diff": history,
                                  "params_max_rel_diff": params,
                                  "equal_within_tolerance": history <= tolerance and params <= 1e3 * tolerance}
    runs.write_json(os.path.join(out, "equivalence.json"), report)
    return "; ".join(f"{k}: history differs by at most {v['history_max_abs_diff']:.1e}, parameters by "
                     f"{v['params_max_rel_diff']:.1e} (of each parameter's largest value, or absolute below 1)" for k, v in report["models"].items())


def stage_steptime(out, standin):
    use_backend(standin)
    bench = importlib.import_module("bench")
    cases = [("grok", 1), ("sequence", 1)] if standin else [(n, E) for n in ("grok", "sequence") for E in (1, 8, 64)]
    rows = [bench.bench(name, E, 2 if standin else 10, quick=standin) for name, E in cases]
    runs.write_json(os.path.join(out, "steptime.json"), {"timing": "GPU time between CUDA events", "rows": rows})
    return "; ".join(f"{r['case']} E={r['E']} {r['engine_ms']:.2f} ms (bound {r['matmul_bound_ms']:.2f})" for r in rows)


def stage_counts(out, standin):
    sys.path.insert(0, TOOLS)
    strict_cupy = importlib.import_module("strict_cupy")
    strict_cupy.install()
    import plateau
    fastops.set_backend("cupy")
    rows = []
    for kind, E in (("grok", 1), ("grok", 8), ("sequence", 1), ("sequence", 8)):
        make = plateau.GrokConfig if kind == "grok" else plateau.SequenceConfig
        cfg = make(seeds=tuple(range(E)), batch_size=24)
        problem = plateau.make_problem(cfg)
        params = problem.init_params()
        optimizer = plateau.make_optimizer(cfg, list(params.values()))
        watch = plateau.NonFiniteWatch(cfg)
        plateau.train_step(problem, params, optimizer, 0, watch)
        with strict_cupy.counting() as c:
            plateau.train_step(problem, params, optimizer, 1, watch)
        rows.append({"model": kind, "E": E, "launches": c.launches, "syncs": c.syncs, "uploads": c.uploads})
    runs.write_json(os.path.join(out, "counts.json"), {"counted_on": "the CPU stand-in (tools/strict_cupy.py)",
                                                      "per_training_step": rows})
    return "; ".join(f"{r['model']} E={r['E']}: {r['launches']} launches, {r['syncs']} syncs" for r in rows)


def stage_tests(out, standin):
    if not standin:
        use_backend(False)  # no usable GPU: this stage fails with that reason, not with "N skipped"
    selection = ["-m", "cupy", "-k", "standin and gradient" if standin else "not standin"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
                          cwd=common.ROOT, capture_output=True, text=True)
    with open(os.path.join(out, "tests.txt"), "w") as f:
        f.write(done.stdout[-200_000:] + done.stderr[-20_000:])
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode not in (0, 5):
        raise RuntimeError(f"pytest exit {done.returncode}: {last}")
    if done.returncode == 5 or "passed" not in last:
        raise RuntimeError(f"no test ran: {last}")
    return last


def results_md_baseline():
    """The grokking baseline's 'ours' cell of the committed RESULTS.md, or None."""
    path = os.path.join(common.ROOT, "RESULTS.md")
    if not os.path.exists(path):
        return None
    for line in open(path):
        if line.startswith("| Memorize early"):
            return [c.strip() for c in line.split(" | ")][3]
    return None


def stage_grok(out, standin):
    with tempfile.TemporaryDirectory() as folder:
        use_backend(standin)
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            importlib.import_module("grok").main(["--backend", "cupy", "--out", folder, "--seeds", "0-2"]
                                                 + ["--quick"] * standin)
        with open(os.path.join(out, "grok.txt"), "w") as f:
            f.write(log.getvalue()[-100_000:] + f"\nRESULTS.md (CPU): {results_md_baseline()}\n")
        table = runs.read_json(os.path.join(folder, "table.json"))
        runs.write_json(os.path.join(out, "grok_table.json"), table)
    return f"GPU: {table['claims'][0]['ours']}; RESULTS.md (CPU): {results_md_baseline()}"


def run_stage(name, out, standin):
    """Run one stage in this process (the parent gives each its own); print its one-line result."""
    print(json.dumps({"stage": name, "result": globals()[f"stage_{name}"](out, standin)}))


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--out", default=os.path.join("runs", "gpu_check"),
                   help="the folder for the (at most 8) files (default: runs/gpu_check)")
    p.add_argument("--budget", type=common.positive_int, default=540, help="seconds in all (default: 540)")
    p.add_argument("--only", type=common.name_list([s for s, *_ in STAGES], "stage"), default=None,
                   help="comma-separated stages to run (default: all, in order)")
    p.add_argument("--standin", action="store_true", help="dry run on the CPU stand-in, tiny sizes (the tests use it)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier check's files in --out")
    p.add_argument("--stage", default=None, choices=[s for s, *_ in STAGES], help=common.argparse.SUPPRESS)  # internal: run one stage here
    args = p.parse_args(argv)
    if args.stage:  # a stage this script started, into the folder it checked (never a user's own call)
        if os.environ.get(STAGE_OF) != args.out:
            raise runs.InputError("--stage is gpu_check.py's own, for the stages it starts; run it without --stage")
        return run_stage(args.stage, args.out, args.standin)
    on_gpu = not args.standin and bool(set(args.only or [s for s, *_ in STAGES]) - {"counts"})
    if on_gpu:
        use_backend(False)  # no CuPy or no GPU: one line now, before any folder or stage (counts uses the stand-in)
        fastops.set_backend("numpy")
    committed_check = os.path.realpath(args.out) == os.path.realpath(os.path.join(common.ROOT, "results", "gpu_check"))
    if committed_check and not on_gpu:  # the committed check's folder is for a real GPU's check only
        raise runs.InputError(f"--out {args.out} is the committed GPU check's folder; a run with no stage on a GPU "
                              "(--standin, or --only counts) never writes there: give another --out")
    runs.check_writable_folder(args.out, create=True, committed_ok=args.overwrite and committed_check)
    runs.check_one_script(args.out, "gpu_check")
    earlier = [name for name in FILES if os.path.lexists(os.path.join(args.out, name))]
    earlier_versions = {}
    with contextlib.suppress(runs.InputError):  # a damaged earlier check is no real one to keep
        earlier_versions = runs.read_json(os.path.join(args.out, "versions.json")) if "versions.json" in earlier else {}
    if args.standin and isinstance(earlier_versions, dict) and earlier_versions.get("standin") is False:
        raise runs.InputError(f"{args.out} holds a check made on a real GPU; a --standin dry run never replaces "
                              "it (--overwrite or not): give another --out")
    if earlier and not args.overwrite:
        raise runs.InputError(f"{args.out} holds an earlier check ({', '.join(earlier)}); give another --out, "
                              "or --overwrite to replace it")
    folders = [name for name in earlier if os.path.isdir(os.path.join(args.out, name))
               and not os.path.islink(os.path.join(args.out, name))]
    if folders:  # checked before anything is removed: never half an earlier check
        raise runs.InputError(f"{args.out} holds a folder named {folders[0]}, where the check writes a file; "
                              "move it or give another --out")
    for name in earlier:  # an earlier check's files would read as this one's
        os.remove(os.path.join(args.out, name))
    start, lines, not_done = time.perf_counter(), [], []
    for name, limit, least in STAGES:
        if args.only and name not in args.only:
            continue
        left = args.budget - (time.perf_counter() - start) - 5  # 5 s kept for summary.md
        if left < least:
            lines.append(f"| {name} | skipped | — | {left:.0f} s were left, it needs {least} |")
            common.say(f"{name}: skipped: {left:.0f} s were left, it needs {least}")
            not_done.append(f"{name} (skipped)")
            continue
        t0 = time.perf_counter()
        command = [sys.executable, os.path.abspath(__file__), "--stage", name, "--out", args.out] \
            + ["--standin"] * args.standin
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=min(limit, left),
                                  env={**os.environ, "PYTHONPATH": common.ROOT, "PYTHONUNBUFFERED": "1",
                                       STAGE_OF: args.out})
            found = re.findall(r'^\{"stage".*\}$', done.stdout, re.M)
            if done.returncode == 0 and found:
                status, detail = "done", json.loads(found[-1])["result"]
            else:
                status, detail = f"failed (exit {done.returncode})", (done.stderr.strip().splitlines() or ["?"])[-1]
        except subprocess.TimeoutExpired:
            status, detail = "timed out", f"stopped after {min(limit, left):.0f} s"
        seconds = time.perf_counter() - t0
        if status != "done":
            not_done.append(f"{name} ({status})")
        lines.append(f"| {name} | {status} | {seconds:.0f} s | {str(detail).replace('|', '/')} |")
        common.say(f"{name}: {status} in {seconds:.0f} s: {detail}")
        write_summary(args, lines, time.perf_counter() - start)
    write_summary(args, lines, time.perf_counter() - start)
    written = [name for name in FILES if os.path.isfile(os.path.join(args.out, name))]
    common.say(f"wrote {args.out}/: {', '.join(written)}")
    if not_done:
        print(f"error: not done: {', '.join(not_done)}; see {os.path.join(args.out, 'summary.md')}", file=sys.stderr)
        raise SystemExit(1)


def write_summary(args, lines, seconds):
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(f"# gpu_check{' (dry run on the CPU stand-in)' if args.standin else ''}\n\n"
                f"{seconds:.0f} s of a {args.budget} s budget.\n\n| stage | status | time | result |\n"
                "|---|---|---|---|\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    common.STOP_ADVICE = "the stages done are in summary.md; run it again with --overwrite"
    common.main_guard(main)
