"""What every experiment script shares: flags and their checks, running arms, tables, ledger rows.

Each claim script states one claim of the poster, builds one config per arm and
calls `run_arms`; each arm trains an ensemble (one member per seed, or one per
setting) into its own run folder under --out, and the script prints one table
and saves table.json, whose "claims" rows experiments/report.py puts in RESULTS.md.

Command-line contract (every script):
  - every flag is checked before any work: a bad value ends the script with one
    line `error: ...` on stderr and exit status 2;
  - Ctrl-C (SIGINT) or SIGTERM: the running arm saves a checkpoint, no later arm
    starts, no table is written, exit status 130 / 143; `--resume` continues;
  - `--quick` writes under runs/quick/, never over real runs or RESULTS.md.
"""
import argparse
import dataclasses
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python experiments/x.py` works from the repo root without installing

import autograd as ag  # noqa: E402
import plateau  # noqa: E402
import runs  # noqa: E402

say = runs.say

# ---------------------------------------------------------------------------
# Flags. Every value is checked by its type function (one line on error), and
# every config by plateau.check_config, whose field names map to flags here.

class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag prints only `error: ...` (no usage block) and exits 2."""

    def error(self, message):
        raise UsageError(message)


class UsageError(runs.InputError):
    pass


def help_parser(doc):
    """A Parser whose --help prints `doc` (a script's docstring) as written."""
    first, _, rest = doc.strip().partition("\n")
    # No abbreviated flags: --quick and --preset give way only to flags written out in full.
    return Parser(description=first, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter,
                  allow_abbrev=False)


def _number(kind, test, what):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    parse.__name__ = what
    return parse


positive_int = _number(int, lambda v: v >= 1, "a whole number >= 1")
nonneg_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
positive_float = _number(float, lambda v: v > 0, "a number > 0")
nonneg_float = _number(float, lambda v: v >= 0, "a number >= 0")
unit_open = _number(float, lambda v: 0 < v < 1, "a number strictly between 0 and 1")
unit_half_open = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
unit_closed_above = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def seed_list(text):
    """Seeds: '0,3,7' (these three), '0-4' (0 to 4), '7' (seed 7 alone), or a mix: '0-2,9'."""
    seeds = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of seeds; write e.g. 0,3,7 or 0-4 or 7")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        seeds += range(first, last + 1)
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} names a seed twice")
    return tuple(seeds)


def name_list(choices, what):
    """A comma-separated list of distinct names, each one of `choices`."""
    def parse(text):
        names = tuple(n.strip() for n in text.split(","))
        for n in names:
            if n not in choices:
                raise argparse.ArgumentTypeError(f"unknown {what} {n!r}; choose from {', '.join(choices)}")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"{text!r} names a {what} twice")
        return names
    parse.__name__ = f"list of {what}s"
    return parse


def float_list(test=lambda v: True, what="a number"):
    def parse(text):
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
        bad = [v for v in values if not test(v)]
        if bad:
            raise argparse.ArgumentTypeError(f"{bad[0]:g} is not {what}")
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{text!r} names a value twice")
        return values
    parse.__name__ = "list of numbers"
    return parse


def format_seeds(seeds):
    return ",".join(map(str, seeds)) if len(seeds) < 3 or list(seeds) != list(range(seeds[0], seeds[-1] + 1)) \
        else f"{seeds[0]}-{seeds[-1]}"


def parser(doc, steps, seeds=(0, 1, 2)):
    """The shared flags of every claim script; `doc` becomes its --help text."""
    p = help_parser(doc)
    g = p.add_argument_group("run")
    g.add_argument("--backend", default="numpy", choices=["numpy", "cupy"],
                   help="array backend: numpy (CPU) or cupy (GPU) (default: numpy)")
    g.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    g.add_argument("--seeds", type=seed_list, default=tuple(seeds),
                   help=f"seeds, trained together as one ensemble: e.g. 0,3,7 or 0-4 or 7 "
                        f"(default: {format_seeds(seeds)})")
    g.add_argument("--steps", type=positive_int, default=steps, help=f"training steps per arm (default: {steps})")
    g.add_argument("--eval-every", type=positive_int, default=None,
                   help="steps between evaluations (default: the config's)")
    g.add_argument("--checkpoint-every", type=nonneg_int, default=None,
                   help="steps between checkpoints, 0: only when interrupted (default: the config's)")
    g.add_argument("--out", default=None, help="folder for the run folders and table.json "
                                               "(default: runs/<script name>, or runs/quick/<script name> with --quick)")
    g.add_argument("--resume", action="store_true",
                   help="continue each arm from its checkpoint, or reuse it if finished")
    g.add_argument("--overwrite", action="store_true",
                   help="replace runs the arm folders already hold (default: refuse to)")
    g.add_argument("--arm", default=None,
                   help="train this one arm only (to spread arms over machines; see reproduce.py --list)")
    g.add_argument("--list-arms", action="store_true", help="print the arm names, one per line, and exit")
    g.add_argument("--quick", action="store_true",
                   help="a seconds-long smoke run: tiny model, few steps (checks the plumbing, not the claim); "
                        "explicit flags still win")
    return p


def explicit_flags(argv):
    """The long flags written on the command line (to let them win over --quick and presets)."""
    argv = sys.argv[1:] if argv is None else argv
    return {a.split("=", 1)[0] for a in argv if a.startswith("--")}


# Config field -> the flag that sets it (error messages name the flag).
FLAG_OF = {"seeds": "--seeds", "steps": "--steps", "eval_every": "--eval-every", "patience": "--patience",
           "threshold": "--threshold", "optimizer": "--optimizer", "lr": "--lr", "betas": "--beta2",
           "weight_decay": "--weight-decay", "momentum": "--momentum", "grokfast_lambda": "--grokfast-lambda",
           "grokfast_alpha": "--grokfast-alpha", "batch_size": "--batch-size",
           "checkpoint_every": "--checkpoint-every", "backend": "--backend", "dtype": "--dtype", "ops": "--ops",
           "p": "--p", "frac_train": "--frac-train", "d_model": "--d-model", "n_heads": "--heads",
           "n_layers": "--layers", "norm": "--norm", "batch_mix": "--batch-mix", "init": "--init", "init_scale": "--init-scale",
           "sparsity": "--sparsity", "init_scope": "--init-scope", "tasks": "--tasks", "n": "--n", "k": "--k",
           "attention": "--attention", "eval_size": "--eval-size"}


def reject(argv, flags, why):
    """Refuse flags that would have no effect in this script (written explicitly)."""
    given = explicit_flags(argv) & set(flags)
    if given:
        raise runs.InputError(f"{', '.join(sorted(given))} has no effect here: {why}")


def shared(args):
    """Config fields every arm takes from the shared flags."""
    fields = dict(seeds=args.seeds, steps=args.steps, backend=args.backend, dtype=args.dtype)
    for name in ("eval_every", "checkpoint_every"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    return fields


def out_folder(args, script):
    """Where a script writes: --out, or runs/<script> (runs/quick/<script> for a smoke run);
    a sequence script's --preset fast writes to runs/<script>-fast."""
    script = sequence_folder(script, getattr(args, "preset", None) or "poster") \
        if script in SEQUENCE_SCRIPTS else script
    out = args.out or os.path.join("runs", "quick", script) if args.quick else args.out or os.path.join("runs", script)
    runs.check_writable_folder(out)
    return out


QUICK_GROK = dict(p=11, d_model=16, n_heads=2, steps=6, eval_every=3, batch_size=32)
QUICK_SEQUENCE = dict(n=4, d_model=8, steps=6, eval_every=3, eval_size=8, batch_size=12)
FLAG_OF_QUICK = {"steps": "--steps", "eval_every": "--eval-every", "p": "--p", "d_model": "--d-model",
                 "n_heads": "--heads", "batch_size": "--batch-size", "n": "--n", "eval_size": "--eval-size"}


def quick_fields(args, sizes, argv):
    """The --quick sizes, except where a flag was written explicitly (explicit flags win)."""
    if not args.quick:
        return {}
    given = explicit_flags(argv)
    return {k: v for k, v in sizes.items() if FLAG_OF_QUICK[k] not in given}


# ---------------------------------------------------------------------------
# The grokking arm's knobs, shared by every grok_*.py script.

POSTER_PRESET = dict(weight_decay=1e-3, steps=400_000, eval_every=1000, checkpoint_every=10_000,
                     init_scale=0.01, sparsity=0.9, init_scope="linear")


def add_grok_flags(p):
    d = plateau.GrokConfig()  # the flags' defaults are the config's
    g = p.add_argument_group("model, data and optimizer")
    g.add_argument("--preset", choices=["poster"], default=None,
                   help="poster: the poster's own regime (weight decay 1e-3, 400,000 steps, evaluate every "
                        "1,000, checkpoint every 10,000); a GPU job, see README; explicit flags still win")
    g.add_argument("--ops", type=name_list(plateau.tasks.OPERATIONS, "operation"), default=d.ops,
                   help=f"comma-separated operations: add,sub,mul,div (default: {','.join(d.ops)})")
    g.add_argument("--p", type=positive_int, default=d.p, help="the modulus (prime when div is used)")
    g.add_argument("--frac-train", type=unit_open, default=d.frac_train, help="share of each table used for training")
    g.add_argument("--optimizer", default=d.optimizer, choices=["adamw", "sgd"])
    g.add_argument("--lr", type=positive_float, default=d.lr)
    g.add_argument("--momentum", type=unit_half_open, default=d.momentum, help="SGD momentum (SGD only)")
    g.add_argument("--beta2", type=unit_half_open, default=d.betas[1], help=f"AdamW's beta2 (beta1 is {d.betas[0]:g})")
    g.add_argument("--weight-decay", type=nonneg_float, default=d.weight_decay)
    g.add_argument("--grokfast-lambda", type=nonneg_float, default=d.grokfast_lambda,
                   help="Grokfast-EMA amplification (Lee et al. 2024; 0: off, their default: 2)")
    g.add_argument("--grokfast-alpha", type=unit_half_open, default=d.grokfast_alpha, help="Grokfast-EMA decay")
    g.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    g.add_argument("--init", default=d.init, choices=["default", "small", "sparse", "scaled"],
                   help="default: PyTorch's; small: Xavier-normal x --init-scale; sparse: Xavier, --sparsity zeroed; "
                        "scaled: PyTorch's x --init-scale")
    g.add_argument("--init-scale", type=positive_float, default=d.init_scale, help="small init: Xavier-normal times this")
    g.add_argument("--sparsity", type=unit_half_open, default=d.sparsity, help="sparse init: share of weights zeroed")
    g.add_argument("--init-scope", default=d.init_scope, choices=["linear", "all"],
                   help="linear: MLP, attention output, read-out (the poster's code); all: every weight")
    g.add_argument("--norm", default=d.norm, choices=["post", "pre"])
    g.add_argument("--batch-mix", default=d.batch_mix, choices=["pool", "balanced"],
                   help="several --ops: pool (draw from every op's training half pooled) or balanced "
                        "(an equal share of each batch per op, as the poster's code) (default: pool)")
    g.add_argument("--d-model", type=positive_int, default=d.d_model)
    g.add_argument("--heads", type=positive_int, default=d.n_heads)
    g.add_argument("--layers", type=positive_int, default=d.n_layers)
    g.add_argument("--threshold", type=unit_closed_above, default=d.threshold,
                   help="accuracy that counts as memorised (train) and grokked (validation) (default: 0.95)")
    g.add_argument("--patience", type=positive_int, default=d.patience,
                   help="evaluations at the threshold before an arm stops")
    return p


def grok_parser(doc, steps, seeds=(0, 1, 2)):
    return add_grok_flags(parser(doc, steps=steps, seeds=seeds))


def grok_config(args, argv, **overrides):
    """The GrokConfig the flags describe (with --preset and --quick applied where no flag was written)."""
    given = explicit_flags(argv)
    fields = dict(ops=args.ops, p=args.p, frac_train=args.frac_train, optimizer=args.optimizer, lr=args.lr,
                  momentum=args.momentum, betas=(plateau.GrokConfig.betas[0], args.beta2),
                  weight_decay=args.weight_decay, grokfast_lambda=args.grokfast_lambda,
                  grokfast_alpha=args.grokfast_alpha, batch_size=args.batch_size, init=args.init,
                  init_scale=args.init_scale, sparsity=args.sparsity, init_scope=args.init_scope, norm=args.norm,
                  batch_mix=args.batch_mix,
                  d_model=args.d_model, n_heads=args.heads, n_layers=args.layers, threshold=args.threshold,
                  patience=args.patience, **shared(args))
    if args.preset == "poster":
        fields.update({k: v for k, v in POSTER_PRESET.items() if FLAG_OF[k] not in given})
    fields.update(quick_fields(args, QUICK_GROK, argv))
    fields.update(overrides)
    return plateau.GrokConfig(**fields)


# ---------------------------------------------------------------------------
# The loss-plateau arm's knobs, shared by task_diversity.py, transfer.py and attention_map.py.

# The two configurations of the loss-plateau arm, declared once: the poster's code (the default)
# and the faster reduction the ledger used before (it also keeps the plateau, measured). A script
# run with --preset fast writes under runs/<script>-fast, and RESULTS.md shows both side by side.
SEQUENCE_PRESETS = {"poster": dict(d_model=256, lr=1e-4, steps=2000), "fast": dict(d_model=64, lr=1e-3, steps=4000)}
SEQUENCE_SCRIPTS = ("task_diversity", "transfer", "attention_map")


def sequence_folder(script, preset):
    """A sequence script's folder under runs/ for a preset: runs/<script> for the default."""
    return script if preset == "poster" else f"{script}-{preset}"


def add_sequence_flags(p):
    d = plateau.SequenceConfig()  # the flags' defaults are the config's
    g = p.add_argument_group("model, data and optimizer")
    g.add_argument("--preset", choices=list(SEQUENCE_PRESETS), default="poster",
                   help="width and learning rate: " + "; ".join(
                       f"{k}: D={v['d_model']}, Adam lr {v['lr']:g}, at most {v['steps']} steps"
                       for k, v in SEQUENCE_PRESETS.items())
                   + " (default: poster, the poster's code; fast writes under runs/<script>-fast); "
                     "--d-model, --lr and --steps written out still win")
    g.add_argument("--d-model", type=positive_int, default=None, help="width D (default: the preset's)")
    g.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default: the preset's)")
    g.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help="sequences per step, split across the tasks (the poster's Table 1 runs: 128)")
    g.add_argument("--attention", default=d.attention, choices=["linear", "softmax"])
    g.add_argument("--threshold", type=unit_closed_above, default=d.threshold,
                   help=f"held-out token accuracy that counts as converged (default: {d.threshold:g})")
    g.add_argument("--eval-size", type=positive_int, default=d.eval_size, help="held-out sequences per task")
    g.add_argument("--n", type=positive_int, default=d.n, help="inputs per sequence")
    g.add_argument("--k", type=positive_int, default=d.k, help="window")
    g.add_argument("--p", type=positive_int, default=d.p, help="modulus")
    g.add_argument("--patience", type=positive_int, default=d.patience,
                   help="evaluations at the threshold before an arm stops")
    return p


def sequence_parser(doc):
    p = add_sequence_flags(parser(doc, steps=None))
    steps = next(a for a in p._actions if a.dest == "steps")
    steps.help = "training steps per arm (default: the preset's)"
    return p


def sequence_config(args, argv, tasks, **overrides):
    preset = SEQUENCE_PRESETS[args.preset]
    fields = dict(d_model=args.d_model or preset["d_model"], lr=args.lr or preset["lr"],
                  batch_size=args.batch_size, attention=args.attention,
                  threshold=args.threshold, eval_size=args.eval_size, n=args.n, k=args.k, p=args.p,
                  patience=args.patience, **shared(args))
    fields["steps"] = args.steps or preset["steps"]
    fields.update(quick_fields(args, QUICK_SEQUENCE, argv))
    fields.update(overrides)
    return plateau.SequenceConfig(tasks=tuple(tasks), **fields)


def sequence_setting(cfg):
    """A short description of a loss-plateau config for the ledger."""
    return (f"D={cfg.d_model}, Adam lr {cfg.lr:g}, batch {cfg.batch_size}, converged = held-out token acc "
            f">= {cfg.threshold:g}, {len(cfg.seeds)} seeds, at most {cfg.steps:,} steps")


# ---------------------------------------------------------------------------
# Arms.

ARM_NAME = re.compile(r"[A-Za-z0-9._=-]+")


class ArmsListed(Exception):
    """--list-arms: the script printed its arm names and stops before any work."""


def check_arms(arms, args):
    """Every arm's name is a shell-safe folder name and every config is in range (before any work)."""
    if getattr(args, "list_arms", False):
        for name in arms:
            print(name)
        raise ArmsListed()
    for name, cfg in arms.items():
        if not ARM_NAME.fullmatch(name):
            raise runs.InputError(f"arm name {name!r}: use letters, digits, '-', '_', '.', '=' only")
        plateau.check_config(cfg)
    if args.arm is not None and args.arm not in arms:
        raise runs.InputError(f"--arm {args.arm!r} is not an arm of this script; choose from {', '.join(arms)}")


def run_arms(arms, out, args, log=say, **train_kwargs):
    """Train each arm (name -> config) into out/<name>; return name -> Result.
    With --arm, train that arm only (the script then writes no table)."""
    check_arms(arms, args)
    results = {}
    for name, cfg in arms.items():
        if args.arm is not None and name != args.arm:
            continue
        log(f"== {name}: {len(cfg.seeds)} member(s), up to {cfg.steps} steps on {cfg.backend}")
        results[name] = plateau.train(cfg, out=os.path.join(out, name), resume=args.resume,
                                      overwrite=overwrite(args), log=log, **train_kwargs)
    return results


def overwrite(args):
    """--overwrite, or a smoke run in its own default folder (runs/quick/...), which starts afresh."""
    return args.overwrite or (args.quick and args.out is None and not args.resume)


def only_one_arm(args, out):
    """After run_arms with --arm: say what happened and that the table needs every arm."""
    if args.arm is None:
        return False
    say(f"trained arm {args.arm} into {os.path.join(out, args.arm)}; run the script again without "
        "--arm, with --resume, once every arm is done, to write its table")
    return True


def curves(result):
    """The run's curves.png, or None where matplotlib was missing."""
    path = result.out and os.path.join(result.out, "curves.png")
    return path if path and os.path.exists(path) else None


def grid(base, settings, seeds):
    """One ensemble config whose members are every setting x every seed: member m has
    setting m // len(seeds) (a dict of per-member fields) and seed seeds[m % len(seeds)]."""
    fields = {k: tuple(s[k] for s in settings for _ in seeds) for k in settings[0]}
    return dataclasses.replace(base, seeds=tuple(seeds) * len(settings), **fields)


def later(step):
    """A median step for comparisons: None (never reached within the budget) is later than any step."""
    return float("inf") if step is None else step


def per_setting(summary, n_seeds, keys):
    """A grid run's per-member summary grouped by setting: [{key: {median, min, max}, n_grokked, members}]."""
    members = summary["members"]
    groups = [members[i:i + n_seeds] for i in range(0, len(members), n_seeds)]
    return [{"members": g, "n_grokked": sum(m["grokked_step"] is not None for m in g),
             **plateau.member_stats(g, keys)} for g in groups]


def arm_records(arms, results):
    """What table.json keeps of each arm: its config, summary and steps done."""
    return {k: {"config": plateau.config_to_dict(arms[k]), "summary": r.summary, "steps": r.steps}
            for k, r in results.items()}


# ---------------------------------------------------------------------------
# Tables and ledger rows.

def fmt(stat, digits=0):
    """'median [min–max]' from a {'median','min','max'} dict; 'never' for a member (or
    a median) that never reached the goal within the budget."""
    f = (lambda v: "never" if v is None else f"{v:.{digits}f}")
    if stat is None or stat.get("min") is None:
        return "never"
    if stat["min"] == stat["max"]:
        return f(stat["median"])
    return f"{f(stat['median'])} [{f(stat['min'])}–{f(stat['max'])}]"


def number(x, digits=0):
    """x with thousands separators, or 'never' for a goal never reached."""
    return "never" if x is None else f"{x:,.{digits}f}"


def print_table(title, headers, rows, log=say):
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))
    log(f"\n{title}")
    log(line(headers))
    log(line("-" * w for w in widths))
    for r in rows:
        log(line(r))


def claim(cid, text, poster, setting, ours, verdict, rule, note=""):
    """One row of the claims ledger, as the script that ran the experiment judges it."""
    return dict(id=cid, claim=text, poster=poster, setting=setting, ours=ours, verdict=verdict, rule=rule, note=note)


def verdict(condition, partly=False):
    return "reproduced" if condition else ("partly" if partly else "not reproduced")


def git_commit():
    """The commit the code runs from ('+changes' if tracked code differs from it), or 'unknown'.
    Only Python files count: an edited README does not change a result. Read once, when the process
    first asks, so a commit made while a long run goes on is not credited with its results."""
    global _COMMIT
    if _COMMIT is None:
        _COMMIT = _read_git_commit()
    return _COMMIT


_COMMIT = None


def _read_git_commit():
    import subprocess
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                                "--", "*.py"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+changes" if dirty else "")) if head else "unknown"


def save_table(out, payload, figures=()):
    """Write out/table.json and end the run with where everything is (or how to get figures)."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "table.json")
    runs.write_json(path, {**payload, "commit": git_commit(), "figures": [f for f in figures if f]})
    say(f"\nwrote {path}")
    made = [f for f in figures if f]
    if made:
        say("figures: " + ", ".join(made))
    elif figures:
        say(runs.FIGURES_NEED)
    return path


def grok_rows(results, op="div", baseline=None):
    """The grokking table: arm, seeds, grokked step, memorised step, delay, final val acc, speed-up."""
    base = results[baseline].summary[op]["grokked_step"]["median"] if baseline else None
    rows = []
    for name, r in results.items():
        s = r.summary[op]
        g = s["grokked_step"]["median"]
        speedup = f"{base / g:.2f}x" if base and g and s["n_grokked"] * 2 > len(s["members"]) else "—"
        rows.append([name, f"{s['n_grokked']}/{len(s['members'])}", fmt(s["grokked_step"]),
                     fmt(s["memorized_step"]), fmt(s["delay"]), fmt(s["final_val_acc"], 3), speedup])
    return ["arm", "grokked", "grokked step", "memorised step", "delay", "final val acc",
            "speed-up"], rows


def grok_tables(arms, results, baseline=None, ops=None):
    """Print one grokking table per op and return them for table.json."""
    first = next(iter(arms.values()))
    tables = {}
    for op in ops or first.ops:
        headers, rows = grok_rows({k: r for k, r in results.items() if op in arms[k].ops}, op, baseline)
        print_table(f"{op} (mod {first.p}): steps are optimizer updates; median [min–max] over seeds; "
                    f"memorised / grokked = train / val accuracy >= {first.threshold:.0%}", headers, rows)
        tables[op] = {"headers": headers, "rows": rows}
    return tables


def setting(cfg):
    """A short description of a grokking config for the ledger."""
    show = lambda v: "per member" if isinstance(v, (tuple, list)) else f"{v:g}"
    opt = f"AdamW lr {show(cfg.lr)}" if cfg.optimizer == "adamw" else \
        f"SGD lr {show(cfg.lr)} momentum {show(cfg.momentum)}"
    extra = f", Grokfast λ {show(cfg.grokfast_lambda)}" if cfg.grokfast_lambda != 0 else ""
    return (f"{opt}, wd {show(cfg.weight_decay)}{extra}, {cfg.norm}-LN, D={cfg.d_model}, p={cfg.p}, "
            f"batch {cfg.batch_size}, {len(cfg.seeds)} members, at most {cfg.steps:,} steps")


# ---------------------------------------------------------------------------
# Running a script: errors as one line, interrupts as the shell's exit status.

def run_main(main, argv=None):
    """Run main(argv); return the exit status (0, 2 on bad input, 130/143 when interrupted)."""
    try:
        main(argv)
        return 0
    except ArmsListed:
        return 0
    except plateau.ConfigError as error:
        print(f"error: {FLAG_OF.get(error.field, error.field)}: {error.message}", file=sys.stderr)
    except (runs.InputError, ag.BackendError, plateau.TrainingDiverged) as error:  # any other error is a bug
        print(f"error: {error}", file=sys.stderr)
    except runs.Interrupted as stop:
        print(f"stopped: {stop}", file=sys.stderr)
        return stop.exit_code
    except BrokenPipeError:  # output piped into a reader that stopped early (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 2


def main_guard(main):
    git_commit()  # the code this process runs is the code at its start
    sys.exit(run_main(main))
