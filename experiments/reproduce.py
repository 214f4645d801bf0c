"""Run every claim script with its default flags, then bench.py and report.py (RESULTS.md).

Order (with `--only`, the order given): grok_delay, grok, grok_weight_decay,
grok_multitask, grok_init, grok_phase, grok_optimizer, grok_interventions,
task_diversity, transfer, attention_map, each of the last three twice (at
the setting taken as the poster's, then with --preset fast under
<root>/<script>-fast);
then bench and report. Each script writes its run folders and table.json
under --root/<script>; experiments/report.py turns those into RESULTS.md and
its figures (results/). Ctrl-C or SIGTERM stops the whole chain after saving
the running arm's checkpoint; `--resume` continues where it stopped and reuses
every finished arm.

Side by side on one machine: `--jobs N` trains N arms at once, each in its own
process on one OpenBLAS thread (logs under <root>/logs/), wave by wave, then
runs the chain below with --resume, which reuses them all.

Spread over machines: `--list` prints one shell command per arm (each writes
its own run folder), in waves: wave 1 can run all at once (a SLURM job array,
GNU parallel), wave 2 after it, then one `reproduce.py --resume` that reuses
every finished arm and writes the tables and RESULTS.md. README shows a SLURM
example.

`--quick` runs the whole chain on tiny models as a smoke test (the results are
meaningless); it writes under runs/quick/ and never touches RESULTS.md or results/.
Run times: RESULTS.md ("Run times", written from the run folders' timings).
"""
import common  # first: it puts the repository root on sys.path (and makes an early Ctrl-C quiet)

import contextlib
import importlib
import io
import os
import signal
import subprocess
import sys
import time

import report
import runs

ORDER = list(common.CLAIM_SCRIPTS)


def variants(script):
    """(folder, flags) of each run of a script: one, or one per preset for a loss-plateau script."""
    if script not in common.SEQUENCE_SCRIPTS:
        return [(script, [])]
    return [(common.sequence_folder(script, p), ["--preset", p]) for p in common.SEQUENCE_PRESETS]


def arm_names(script, flags):
    """The arm names a script would train with these flags (it stops before any work)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = common.run_main(importlib.import_module(script).main, ["--list-arms"] + flags)
    if code:
        raise runs.InputError(f"{script}.py did not list its arms (see the error above)")
    return buffer.getvalue().split()


def arm_commands(args, flags_for):
    """{wave: [(folder, arm, words)]}: one command per arm, as a list of words. Wave 1 can all run
    at once; wave 2 (fine-tuning arms) starts from wave-1 arms' finished runs."""
    waves = {1: [], 2: []}
    for script in args.only:
        parents = getattr(importlib.import_module(script), "PARENT", {})
        for folder, extra in variants(script):
            for arm in arm_names(script, flags_for(folder) + extra):
                words = (["python", common.script_path(script), "--arm", arm] + flags_for(folder) + extra
                         + ["--resume"] * args.resume + ["--overwrite"] * (args.overwrite and not args.resume))
                waves[2 if arm in parents else 1].append((folder, arm, words))
    return waves


def print_commands(args, flags_for):
    """One shell command per arm, and the last one, each runnable exactly as printed (words
    shell-quoted: a --root with a space or a `;` stays one word)."""
    line = common.shell_line
    waves = arm_commands(args, flags_for)
    text = ["# wave 1: every line on its own (one SLURM array task, one GNU parallel job, one machine...)"]
    text += [line(words) for _, _, words in waves[1]]
    if waves[2]:
        text += ["# wave 2: after wave 1 (these start from a wave-1 arm's finished run)"]
        text += [line(words) for _, _, words in waves[2]]
    text += ["# last: tables, bench and RESULTS.md, reusing every finished arm",
             line(["python", common.script_path("reproduce"), "--resume", "--root", args.root, "--only", ",".join(args.only),
                   "--backend", args.backend] + ["--quick"] * args.quick + ["--no-bench"] * args.no_bench
                  + (["--results", args.results] if args.results else []))]
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:  # a command with a character the output cannot show would not run as printed
        "\n".join(text).encode(encoding)
    except UnicodeEncodeError:
        raise runs.InputError(f"a path in these commands cannot be written in this output's encoding ({encoding}); "
                              "set PYTHONIOENCODING=utf-8 or choose a plain --root") from None
    print("\n".join(text))


# ---------------------------------------------------------------------------
# --jobs N: independent arms side by side, each in its own process on one OpenBLAS thread.
# On 2 cores, two one-thread processes trained 1.9x the member-steps per second of one
# two-thread process (NumPy's small matrix products barely use a second thread), so a
# machine's cores are best spent one arm each. Each process writes only its own run folder.

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, a scheduler, a closed terminal


def usable_cores():
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ArmsStopped(runs.Interrupted):
    """A signal stopped the arms running side by side; each saved its checkpoint."""

    def __init__(self, signum):
        super().__init__(signum, step=None, where=None)
        self.args = (f"interrupted by {signal.Signals(signum).name}: every running arm saved its checkpoint; "
                     "continue with the same command and --resume (without --overwrite)",)


class Arm:
    """One arm's process: its command, its log file, and when it started."""

    def __init__(self, folder, name, words, log):
        self.folder, self.name, self.words, self.log = folder, name, words, log
        self.process, self.began = None, None

    def start(self):
        """Run the arm's command in this folder (relative paths mean what they mean to us), with
        the script's absolute path, on one OpenBLAS thread, in a session of its own so that a
        signal reaches it only through us; its output is appended to its log."""
        words = [sys.executable, os.path.abspath(self.words[1])] + self.words[2:]
        with open(self.log, "a") as f:  # the process keeps its own copy of the descriptor
            f.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')}: {common.shell_line(self.words)}\n")
            f.flush()
            self.process = subprocess.Popen(words, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, **ONE_THREAD})
        self.began = time.perf_counter()

    def done(self):
        return self.process.poll() is not None

    def stop(self, signum):
        """Ask the arm to save its checkpoint and stop (SIGINT stays SIGINT, others become SIGTERM)."""
        if not self.done():
            self.process.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)


def log_path(root, folder, arm):
    return os.path.join(root, "logs", folder, f"{arm}.log")


def check_logs(args, arms):
    """Every arm's log folder can be made and its log written: checked before any arm starts."""
    for folder, arm, _ in arms:
        path = log_path(args.root, folder, arm)
        runs.check_writable_folder(os.path.dirname(path), "--root (its logs/ folder)", create=True)
        if os.path.isdir(path):
            raise runs.InputError(f"{path} is a folder where an arm's log file goes; move it away")


def run_side_by_side(args, flags_for):
    """Train every arm of args.only, args.jobs processes at a time, wave by wave (see arm_commands).
    A stop signal reaches every running arm, which saves its checkpoint, and stops the chain; an
    arm that fails stops new ones from starting. However this function ends, no arm outlives it."""
    waves = arm_commands(args, flags_for)
    check_logs(args, waves[1] + waves[2])
    total, finished, failed, running = sum(map(len, waves.values())), 0, [], []
    stop = {"signum": None}
    previous = {s: signal.signal(s, lambda signum, frame: stop.update(signum=signum)) for s in STOP_SIGNALS}
    try:
        for wave in (1, 2):
            queue = [Arm(folder, arm, words, log_path(args.root, folder, arm)) for folder, arm, words in waves[wave]]
            while running or (queue and not failed and not stop["signum"]):
                while queue and len(running) < args.jobs and not failed and not stop["signum"]:
                    arm = queue.pop(0)
                    arm.start()
                    running.append(arm)
                    common.say(f"[{finished}/{total} done] started {arm.folder} {arm.name} (log: {arm.log})")
                for arm in [a for a in running if a.done()]:
                    running.remove(arm)
                    took = runs.format_seconds(time.perf_counter() - arm.began).strip()
                    if arm.process.returncode == 0:
                        finished += 1
                        common.say(f"[{finished}/{total} done] {arm.folder} {arm.name} finished in {took}")
                    elif not stop["signum"]:
                        failed.append(f"{arm.folder} {arm.name} (exit {arm.process.returncode}; see {arm.log})")
                for arm in running:
                    if stop["signum"]:
                        arm.stop(stop["signum"])
                time.sleep(0.2)
    finally:  # an error of ours, or a second signal: stop the arms still running and wait for them
        for arm in running:
            arm.stop(signal.SIGTERM)
        for arm in running:
            arm.process.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stop["signum"]:
        raise ArmsStopped(stop["signum"])
    if failed:
        raise runs.InputError(f"{len(failed)} arm(s) failed: {', '.join(failed)}; every arm that finished is "
                              "kept: fix the cause and run the same command with --resume")


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"],
                   help="the array backend every script trains on (default: %(default)s)")
    p.add_argument("--root", default=None, help="where the scripts write (default: runs, or runs/quick with --quick)")
    p.add_argument("--only", type=common.name_list(ORDER, "script"), default=tuple(ORDER),
                   help="comma-separated scripts to run, in order (default: all)")
    p.add_argument("--resume", action="store_true", help="pass --resume to every script")
    p.add_argument("--overwrite", action="store_true", help="pass --overwrite to every script")
    p.add_argument("--no-bench", action="store_true", help="skip experiments/bench.py")
    p.add_argument("--quick", action="store_true",
                   help="smoke-run the whole chain (tiny models, few steps), under runs/quick/")
    p.add_argument("--list", action="store_true", help="print one shell command per arm, and exit")
    p.add_argument("--jobs", type=common.positive_int, default=1,
                   help="train this many arms at once, each in its own process on one OpenBLAS thread, then "
                        "reuse them all for the tables; at most the number of cores (default: 1, one arm after "
                        "another in this process)")
    p.add_argument("--results", default=None, help="the ledger to write (default: RESULTS.md, or "
                                                   "<root>/RESULTS.md with --quick)")
    args = p.parse_args(argv)
    args.root = args.root or os.path.join("runs", "quick" if args.quick else "")
    args.root = args.root.rstrip("/") or "/"  # a root of slashes only is the file system's root, never runs/
    results = args.results or (os.path.join(args.root, "RESULTS.md") if args.quick else "RESULTS.md")
    if args.quick and report.is_committed_ledger(results):  # real paths: a link to it is caught too
        raise runs.InputError(f"--quick never writes the committed RESULTS.md (here {results}); "
                              + ("give --results another file" if args.results else "give another --root"))
    runs.check_writable_folder(args.root, "--root")
    runs.check_runs_root(args.root, "--root")
    runs.check_writable_file(results, "--results", committed_ok=report.is_committed_ledger(results))  # before hours of training
    report.check_ledger_place(results, args.root, "--results")
    report.old_ledger(results, "--results")  # no file of the user's, no damaged ledger: found before any training
    if not args.no_bench:  # nor a real bench.json that a smoke chain's bench would refuse to replace
        try:
            importlib.import_module("bench").check_earlier(os.path.join(args.root, "bench"), args.quick)
        except runs.InputError as error:
            raise runs.InputError(f"{error}; or give --no-bench, or another --root") from None
    flags_for = lambda script: (["--out", os.path.join(args.root, script), "--backend", args.backend]
                                + ["--quick"] * args.quick)
    if args.list:
        if args.jobs != 1:
            raise runs.InputError("--jobs has no effect with --list: each printed line trains one arm")
        return print_commands(args, flags_for)
    cores = usable_cores()
    if args.jobs > cores:
        raise runs.InputError(f"--jobs {args.jobs}: this process may use {cores} core(s); give at most {cores}")
    if args.jobs > 1:
        run_side_by_side(args, flags_for)
        args.resume, args.overwrite = True, False  # the chain below reuses every arm just trained
    # Import every script now: the code that runs is the code at the commit this process records.
    modules = {name: importlib.import_module(name) for name in (*args.only, "bench", "report")}
    for script in args.only:
        for name, extra in variants(script):
            flags = (flags_for(name) + extra + ["--resume"] * args.resume
                     + ["--overwrite"] * (args.overwrite and not args.resume))
            start = time.perf_counter()  # each arm records its own time (timing.json); this is the wait
            common.say(f"\n######## {script} {' '.join(flags)}")
            modules[script].main(flags)
            common.say(f"######## {name} took {runs.format_seconds(time.perf_counter() - start).strip()}")
    if not args.no_bench:
        modules["bench"].main(["--out", os.path.join(args.root, "bench"), "--backend", args.backend]
                                              + ["--quick"] * args.quick)
    modules["report"].main(["--root", args.root, "--out", results]
                                           + ["--force"] * args.quick)


if __name__ == "__main__":
    common.main_guard(main)
