"""Run every claim script at its default reduced scale, then write RESULTS.md.

Order: grok, task_diversity, grok_init, grok_weight_decay, transfer,
attention_map, grok_multitask, grok_optimizer, then bench and report.
Each script writes its run folders and table.json under --root/<script>;
experiments/report.py turns those into RESULTS.md and its figures.

Expected wall time: about 1 h 45 min on 2 CPU cores (numpy), measured stage by stage before the
engine got about a quarter faster (Nov 2026), so now probably less. On a GPU
(`--backend cupy`) it has not been measured here; the per-step figures of
experiments/bench.py are the guide. `--quick` runs the whole chain in
seconds as a smoke test (the results are meaningless).
"""
import importlib
import time

import common  # first: it puts the repository root on sys.path
import plateau

ORDER = ["grok", "task_diversity", "grok_init", "grok_weight_decay", "transfer", "attention_map",
         "grok_multitask", "grok_optimizer"]


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--root", default="runs", help="where the scripts write (default: runs)")
    p.add_argument("--only", default=",".join(ORDER), help="comma-separated scripts to run, in order")
    p.add_argument("--resume", action="store_true", help="pass --resume to every script")
    p.add_argument("--no-bench", action="store_true", help="skip experiments/bench.py")
    p.add_argument("--quick", action="store_true", help="smoke-run the whole chain in seconds")
    p.add_argument("--results", default="RESULTS.md", help="the report to write")
    args = p.parse_args(argv)
    timings = {}
    for name in args.only.split(","):
        flags = ["--out", f"{args.root}/{name}", "--backend", args.backend]
        flags += ["--quick"] * args.quick + ["--resume"] * args.resume
        start = time.perf_counter()
        plateau.say(f"\n######## {name} {' '.join(flags)}")
        importlib.import_module(name).main(flags)
        timings[name] = time.perf_counter() - start
        plateau.say(f"######## {name} took {plateau.format_seconds(timings[name]).strip()}")
    if not args.no_bench:
        importlib.import_module("bench").main(["--out", f"{args.root}/bench", "--backend", args.backend]
                                              + ["--quick"] * args.quick)
    common.save_table(args.root, "reproduce_timings.json", {"backend": args.backend, "seconds": timings})
    importlib.import_module("report").main(["--root", args.root, "--out", args.results])


if __name__ == "__main__":
    common.main_guard(main)
