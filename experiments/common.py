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
import math
import os
import re
import shlex
import signal
import sys


def _stop_quietly(signum, frame):
    """Ctrl-C or SIGTERM outside a training step (a training run saves its checkpoint and says so itself):
    one line, and the exit status a shell reports, with no KeyboardInterrupt traceback. Every
    file is written aside and renamed into place, so nothing is left half-written."""
    runs.complain(f"stopped by {signal.Signals(signum).name}; {STOP_ADVICE}")
    raise SystemExit(128 + signum)


# What a stopped script says to do next; a script without --resume sets its own (bench.py, say).
STOP_ADVICE = "run the same command with --resume, and without --overwrite, to continue (finished arms are kept)"


def _stop_now(signum, frame):
    os._exit(128 + signum)  # while importing: an exception raised inside NumPy's C import becomes an ImportError


if os.path.dirname(os.path.abspath(getattr(sys.modules["__main__"], "__file__", None) or ".")) == \
        os.path.dirname(os.path.abspath(__file__)):  # run as a script: Ctrl-C from here on exits 130 quietly
    signal.signal(signal.SIGINT, _stop_now)  # nothing is written before main_guard runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python experiments/x.py` works from the repo root without installing

import numpy as np  # noqa: E402  (after the Ctrl-C handler: its import takes a while)

import analysis  # noqa: E402
import autograd as ag  # noqa: E402
import fastops  # noqa: E402
import plateau  # noqa: E402
import runs  # noqa: E402

say = runs.say

# The claim scripts, in the order reproduce.py runs them and RESULTS.md shows them (written once here).
CLAIM_SCRIPTS = ("grok_delay", "grok", "grok_weight_decay", "grok_multitask", "grok_init", "grok_phase",
                 "grok_optimizer", "grok_interventions", "task_diversity", "transfer", "attention_map")

# ---------------------------------------------------------------------------
# Flags. Every value is checked by its type function (one line on error), and
# every config by plateau.check_config, whose field names map to flags here.

class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag prints only `error: ...` (no usage block) and exits 2."""

    def error(self, message):
        raise UsageError(message)

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        runs.check_resume_flags(getattr(parsed, "resume", False), getattr(parsed, "overwrite", False))
        for name in PATH_FLAGS:  # '' would silently mean the default folder (or the current one)
            if getattr(parsed, name, None) == "":
                raise UsageError(f"--{name} is empty; give a path, or leave the flag out for its default")
        return parsed


class UsageError(runs.InputError):
    pass


PATH_FLAGS = ("out", "root", "results", "compare")  # every flag that names a file or folder


def help_parser(doc):
    """A Parser whose --help prints `doc` (a script's docstring) as written."""
    first, _, rest = (doc or "").strip().partition("\n")  # None under python -OO, which drops docstrings
    # No abbreviated flags: --quick and --preset give way only to flags written out in full.
    return Parser(description=first, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter,
                  allow_abbrev=False)


def as_number(kind, text):
    """kind(text) (int or float) for text in plain ASCII: Python also reads '１０' (full-width digits)
    and '1_0' as 10, which a flag should not."""
    if not text.isascii() or "_" in text:
        raise ValueError(text)
    return kind(text)


def number_flag(kind, test, what):
    """A flag's type function: text read as `kind`, finite, and passing `test` (else `what` it must be)."""
    def parse(text):
        try:
            value = as_number(kind, text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value):  # inf, nan, 1e309 (which parses as inf)
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    parse.__name__ = what
    return parse


positive_int = number_flag(int, lambda v: v >= 1, "a whole number >= 1")
positive_float = number_flag(float, lambda v: v > 0, "a number > 0")
nonneg_float = number_flag(float, lambda v: v >= 0, "a number >= 0")
unit_half_open = number_flag(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


MAX_SEEDS = 1_000_000   # far more members than any machine's memory fits (runs.check_fits)


def seed_list(text):
    """Seeds: '0,3,7' (these three), '0-4' (0 to 4), '7' (seed 7 alone), or a mix: '0-2,9'."""
    seeds = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of seeds; write e.g. 0,3,7 or 0-4 or 7")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last - first + len(seeds) >= MAX_SEEDS:  # never build a list that cannot be trained
            raise argparse.ArgumentTypeError(f"{text!r} names more than {MAX_SEEDS:,} seeds")
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
            raise argparse.ArgumentTypeError(f"{text!r} names {'an' if what[0] in 'aeiou' else 'a'} {what} twice")
        return names
    parse.__name__ = f"list of {what}s"
    return parse


def float_list(test=lambda v: True, what="a number"):
    def parse(text):
        try:
            values = tuple(as_number(float, v.strip()) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
        if not all(math.isfinite(v) for v in values):  # inf, nan, 1e309 (which parses as inf)
            raise argparse.ArgumentTypeError(f"{text!r} holds a number that is not finite")
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


def parser(doc, steps, config, seeds=(0, 1, 2)):
    """The shared flags of every claim script (`config`: GrokConfig or SequenceConfig, whose
    defaults --help shows); `doc` becomes its --help text."""
    p = help_parser(doc)
    g = p.add_argument_group("run")
    train = plateau.TrainConfig
    add_knob(g, train, "backend")
    add_knob(g, train, "dtype")
    add_knob(g, train, "seeds", default=tuple(seeds),
             help=f"seeds, trained together as one ensemble: e.g. 0,3,7 or 0-4 or 7 (default: {format_seeds(seeds)})")
    add_knob(g, train, "steps", default=steps, help=f"training steps per arm, at most (default: {steps})")
    add_knob(g, train, "eval_every", default=None,
             help=f"steps between evaluations (default: {config.eval_every})")
    add_knob(g, train, "checkpoint_every", default=None,
             help=f"steps between checkpoints, 0: only when interrupted (default: {config.checkpoint_every})")
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
                   help="a smoke run: tiny model, few steps (checks the plumbing, not the claim); "
                        "explicit flags still win")
    return p


def shell_line(words):
    """A command as one line a shell runs as it reads: each word quoted where it needs it
    (a path with a space or a `;` stays one word)."""
    return " ".join(shlex.quote(w) for w in words)


def rerun_command(script, argv, drop=(), add=()):
    """The shell command that runs experiments/<script>.py again with the flags it was given
    (argv), less the flags in `drop` (each a flag without a value), plus the words of `add` (a flag
    already kept is not written twice; adding --resume drops --overwrite, which contradicts it)."""
    argv = sys.argv[1:] if argv is None else argv
    drop = set(drop) | ({"--overwrite"} if "--resume" in add else set())
    words = [a for a in argv if a.split("=", 1)[0] not in drop]
    return shell_line(["python", script_path(script), *words,
                       *[a for a in add if not (a.startswith("--") and a in words)]])


def script_path(script):
    """experiments/<script>.py as a command run from here reaches it (from the repository root:
    experiments/<script>.py)."""
    return os.path.relpath(os.path.join(ROOT, "experiments", f"{script}.py"))


def explicit_flags(argv):
    """The long flags written on the command line (to let them win over --quick and presets)."""
    argv = sys.argv[1:] if argv is None else argv
    return {a.split("=", 1)[0] for a in argv if a.startswith("--")}


# Config field -> the flag that sets it (error messages name the flag), read from the declarations.
FLAG_OF = {f.name: f.metadata["flag"] for cls in (plateau.GrokConfig, plateau.SequenceConfig)
           for f in plateau.dataclasses.fields(cls) if f.metadata["flag"]} | {"betas": "--beta2"}


def dest(name):
    """The argparse attribute of config field `name`'s flag (--heads -> heads)."""
    return FLAG_OF[name][2:].replace("-", "_")


def shown(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) \
        else str(value)


def add_knob(group, cls, name, **options):
    """Add config field `name`'s flag, built from its declaration in plateau.py: its values
    (how the text is read and checked), its meaning and its default. A flag and the check
    on its field therefore cannot disagree. `options` override argparse's (a default, say)."""
    field = cls.__dataclass_fields__[name]
    meta, values = field.metadata, field.metadata["values"]
    default = options.get("default", field.default)  # a script may change it later (set_defaults): argparse
    kwargs = dict(default=field.default,              # then prints the one it uses, as %(default)s
                  help=f"{meta['help']} (default: {shown(default) if isinstance(default, tuple) else '%(default)s'})")
    kind = values.kind
    if kind == "seeds":
        kwargs["type"] = seed_list
    elif isinstance(kind, tuple) and kind[0] == "names":
        kwargs["type"] = name_list(kind[2], kind[1].rstrip("s"))
        kwargs["help"] = f"{meta['help']}, comma-separated, of {', '.join(kind[2])} {kwargs['help'][len(meta['help']) + 1:]}"
    elif isinstance(kind, tuple):
        kwargs["choices"] = list(kind)
    else:
        kwargs["type"] = read_as(values)
    group.add_argument(meta["flag"], **{**kwargs, **options})


def read_as(values):
    """A flag's type function from a field's declared values: one clear message when the text
    is not a value of that kind (inf and nan are not finite numbers) or out of range."""
    def read(text):
        try:
            value = as_number(values.kind, text) if values.kind in (int, float) else values.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {values.what}") from None
        if not values.ok(value):
            raise argparse.ArgumentTypeError(f"{text} is not {values.what}")
        return value
    read.__name__ = values.what
    return read


def fields_from(args, cls, names):
    """Config fields named `names`, read from the flags built by add_knob."""
    return {name: getattr(args, dest(name)) for name in names}


def reject(argv, flags, why):
    """Refuse flags that would have no effect in this script (written explicitly)."""
    given = explicit_flags(argv) & set(flags)
    if given:
        raise runs.InputError(f"{', '.join(sorted(given))} has no effect here: {why}")


def refuse(p, flags, why):
    """Declare flags this script does not honour: --help leaves them out, and parse() refuses them
    with `why`, so a script's help shows only the flags it honours."""
    for action in p._actions:
        if set(action.option_strings) & set(flags):
            action.help = argparse.SUPPRESS
        elif "--preset" in flags and action.help:  # what a refused preset would set is no default here
            action.help = re.sub(r"; [\d,]+ with --preset poster", "", action.help)
    p.refused = getattr(p, "refused", []) + [(tuple(flags), why)]


def division_only(p):
    """A claim about division alone: --ops is refused, and with it --batch-mix, which acts only where
    several operations are trained (neither shows in --help)."""
    refuse(p, ["--ops", "--batch-mix"], "this claim is about division (use grok.py for other operations)")


def grokfast_members(p, lam=2.0):
    """A script whose arms hold Grokfast members beside their baselines: --grokfast-lambda sets
    theirs (default `lam`, Lee et al.'s), and 0 is refused by parse(), since it would make those
    members copies of their baselines."""
    p.set_defaults(grokfast_lambda=lam)
    for action in p._actions:
        if action.dest == "grokfast_lambda":
            action.help = "the Grokfast members' amplification lambda (Lee et al. 2024: 2), > 0 (default: %(default)s)"
    p.checks = getattr(p, "checks", []) + [_grokfast_above_zero]


def _grokfast_above_zero(args):
    if args.grokfast_lambda == 0:
        raise runs.InputError("--grokfast-lambda 0 would make the Grokfast members their baselines; give a lambda > 0")


def show_defaults(p, *names):
    """Write into --help the value a script sets for these flags (set_defaults), which the shared
    flags' help cannot know."""
    for action in p._actions:
        if action.dest in names:
            default = f"(default: {p.get_default(action.dest):g})"
            help_text = re.sub(r"\s*\(default: .*\)$", "", action.help or "")  # the default ends every help
            action.help = f"{help_text} {default}".strip()


def parse(p, argv):
    """p.parse_args(argv), then refuse the flags declared with refuse() that argv writes out, and
    run the script's own checks of the values together (p.checks: grokfast_members, say);
    args.given holds the flags written out (check_arms refuses those no arm uses)."""
    args = p.parse_args(argv)
    for flags, why in getattr(p, "refused", []):
        reject(argv, flags, why)
    for check in getattr(p, "checks", []):
        check(args)
    args.given, args.argv = explicit_flags(argv), list(sys.argv[1:] if argv is None else argv)
    return args


def run_flags(argv):
    """The flags that define a script's runs: its command line less where it writes (--out), which
    arm (--arm), and what to do with runs already there (--resume, --overwrite, --list-arms)."""
    words, skip = [], False
    for word in argv:
        name = word.split("=", 1)[0]
        if skip or name in ("--resume", "--overwrite", "--list-arms"):
            skip = False
        elif name in ("--out", "--arm"):
            skip = "=" not in word  # its value is the next word
        else:
            words.append(word)
    return words


def _values(value):
    """A field's values: one, or one per member."""
    return value if isinstance(value, (tuple, list)) else (value,)


def _any_of(value, names):
    """Whether a field (one value, or one per member) takes any of these values."""
    return any(v in names for v in _values(value))


# A flag that only acts where its arm's config allows it: (flag, whether it acts on a config,
# what it needs). Written out but acting on no arm, it is refused rather than silently ignored.
INERT_UNLESS = [
    ("--init-scale", lambda c: _any_of(c.init, ("small", "scaled")), "--init small or scaled"),
    ("--sparsity", lambda c: _any_of(c.init, ("sparse",)), "--init sparse"),
    ("--init-scope", lambda c: _any_of(c.init, ("small", "sparse", "scaled")), "--init small, sparse or scaled"),
    ("--beta2", lambda c: c.optimizer == "adamw", "AdamW (--optimizer adamw)"),
    ("--grokfast-alpha", lambda c: any(v > 0 for v in _values(c.grokfast_lambda)), "a --grokfast-lambda above 0"),
    ("--batch-mix", lambda c: len(c.ops) > 1, "several --ops"),
    ("--momentum", lambda c: c.optimizer == "sgd", "SGD (--optimizer sgd)"),
]


def check_flags_act(arms, args):
    """Every flag in INERT_UNLESS that was written out acts on at least one grokking arm."""
    grok = [cfg for cfg in arms.values() if isinstance(cfg, plateau.GrokConfig)]
    for flag, acts, needs in INERT_UNLESS:
        if grok and flag in getattr(args, "given", ()) and not any(map(acts, grok)):
            raise runs.InputError(f"{flag} has no effect on any arm here: it needs {needs}")


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
    name = script
    script = sequence_folder(script, getattr(args, "preset", None) or "poster") \
        if script in SEQUENCE_SCRIPTS else script
    out = args.out or os.path.join("runs", "quick", script) if args.quick else args.out or os.path.join("runs", script)
    runs.check_writable_folder(out)  # creates nothing: the run folders are made when an arm starts
    runs.check_one_script(out, name)
    runs.MADE_BY.update(commit=git_commit(), quick=bool(args.quick), script=name,  # recorded in every run folder
                        flags=run_flags(getattr(args, "argv", [])))
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


GROK_KNOBS = ("ops", "p", "frac_train", "optimizer", "lr", "momentum", "weight_decay", "grokfast_lambda",
              "grokfast_alpha", "batch_size", "init", "init_scale", "sparsity", "init_scope", "norm", "batch_mix",
              "d_model", "n_heads", "n_layers", "threshold", "patience")


def add_grok_flags(p):
    d = plateau.GrokConfig()
    g = p.add_argument_group("model, data and optimizer")
    g.add_argument("--preset", choices=["poster"], default=None,
                   help="poster: the poster's own regime (weight decay 1e-3, 400,000 steps, evaluate every "
                        "1,000, checkpoint every 10,000); a GPU job, see README; explicit flags still win")
    for name in GROK_KNOBS:
        add_knob(g, plateau.GrokConfig, name)
    g.add_argument("--beta2", type=read_as(plateau.number(0, 1, high_open=True)), default=d.betas[1],
                   help=f"AdamW's beta2 (beta1 is {d.betas[0]:g}) (default: {d.betas[1]:g})")
    return p


def grok_parser(doc, steps, seeds=(0, 1, 2)):
    p = add_grok_flags(parser(doc, steps=steps, config=plateau.GrokConfig, seeds=seeds))
    for action in p._actions:  # --preset poster sets these too
        if action.dest in ("eval_every", "checkpoint_every"):
            action.help = action.help[:-1] + f"; {POSTER_PRESET[action.dest]:,} with --preset poster)"
    return p


def grok_config(args, argv, **overrides):
    """The GrokConfig the flags describe (with --preset and --quick applied where no flag was written)."""
    given = explicit_flags(argv)
    fields = dict(fields_from(args, plateau.GrokConfig, GROK_KNOBS),
                  betas=(plateau.GrokConfig.betas[0], args.beta2), **shared(args))
    if args.preset == "poster":
        acts = {k: v for k, v in POSTER_PRESET.items() if FLAG_OF[k] not in given and k not in overrides}
        if all(fields[k] == v for k, v in acts.items()):  # like a flag that acts on no arm: refused, not ignored
            raise runs.InputError("--preset poster has no effect here: what it sets ("
                                  + ", ".join(FLAG_OF[k] for k in POSTER_PRESET if fields[k] != POSTER_PRESET[k])
                                  + ") is given by flags or set by the script")
        fields.update(acts)
    fields.update(quick_fields(args, QUICK_GROK, argv))
    fields.update(overrides)
    return plateau.GrokConfig(**fields)


# ---------------------------------------------------------------------------
# The loss-plateau arm's knobs, shared by task_diversity.py, transfer.py and attention_map.py.

SEQUENCE_KNOBS = ("d_model", "lr", "batch_size", "attention", "threshold", "eval_size", "n", "k", "p", "patience")

# The two configurations of the loss-plateau arm, declared once: the setting taken as the poster's (the default)
# and the faster reduction the ledger used before (it also keeps the plateau, measured). A script
# run with --preset fast writes under runs/<script>-fast, and RESULTS.md shows both side by side.
SEQUENCE_PRESETS = {"poster": dict(d_model=256, lr=1e-4, steps=2000), "fast": dict(d_model=64, lr=1e-3, steps=4000)}
SEQUENCE_SCRIPTS = ("task_diversity", "transfer", "attention_map")


def sequence_folder(script, preset):
    """A sequence script's folder under runs/ for a preset: runs/<script> for the default."""
    return script if preset == "poster" else f"{script}-{preset}"


def add_sequence_flags(p):
    g = p.add_argument_group("model, data and optimizer")
    g.add_argument("--preset", choices=list(SEQUENCE_PRESETS), default="poster",
                   help="width and learning rate: " + "; ".join(
                       f"{k}: D={v['d_model']}, Adam lr {v['lr']:g}, at most {v['steps']} steps"
                       for k, v in SEQUENCE_PRESETS.items())
                   + " (default: poster, the width and lr taken as the poster's, which its text does not state (see "
                     "task_diversity.py --help); fast writes under "
                     "runs/<script>-fast); "
                     "--d-model, --lr and --steps written out still win")
    for name in SEQUENCE_KNOBS:
        if name in ("d_model", "lr"):  # the preset's, unless written out
            meaning = plateau.SequenceConfig.__dataclass_fields__[name].metadata["help"]
            add_knob(g, plateau.SequenceConfig, name, default=None, help=f"{meaning} {preset_defaults(name)}")
        else:
            add_knob(g, plateau.SequenceConfig, name)
    return p


def sequence_parser(doc):
    p = add_sequence_flags(parser(doc, steps=None, config=plateau.SequenceConfig))
    steps = next(a for a in p._actions if a.dest == "steps")
    steps.help = f"training steps per arm {preset_defaults('steps')}"
    return p


def preset_defaults(name):
    """'(default: 256 with --preset poster, 64 with --preset fast)' for a field the presets set."""
    return "(default: " + ", ".join(f"{v[name]:g} with --preset {k}" for k, v in SEQUENCE_PRESETS.items()) + ")"


def sequence_config(args, argv, tasks, **overrides):
    preset = SEQUENCE_PRESETS[args.preset]
    fields = dict(fields_from(args, plateau.SequenceConfig, SEQUENCE_KNOBS), **shared(args))
    for name in ("d_model", "lr", "steps"):  # the preset's, unless written out
        fields[name] = preset[name] if getattr(args, name) is None else getattr(args, name)
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


def memory_remedy(cfg):
    """The flags that shrink an arm of this kind (for the line that refuses one too big to fit)."""
    sizes = ("--batch-size, --d-model, --layers or --heads" if isinstance(cfg, plateau.GrokConfig)
             else "--batch-size, --d-model, --eval-size or --n")
    return f"lower --seeds (a grid's members are its settings x seeds), {sizes}"


def check_arms(arms, args, out=None):
    """Every arm's name is a shell-safe folder name and every config is in range (before any work);
    then, with `out`, mark it as this script's folder (runs.claim_folder): work starts."""
    if args.arm is not None and args.arm not in arms:
        raise runs.InputError(f"--arm {args.arm!r} is not an arm of this script; choose from {', '.join(arms)}")
    check_flags_act(arms, args)
    if getattr(args, "list_arms", False):
        for name in arms:
            print(name)
        raise ArmsListed()
    for name, cfg in arms.items():
        if not ARM_NAME.fullmatch(name):
            raise runs.InputError(f"arm name {name!r}: use letters, digits, '-', '_', '.', '=' only")
        plateau.check_config(cfg)
        runs.check_fits(plateau.memory_estimate(cfg), what=f"arm {name}", remedy=memory_remedy(cfg))
    for backend, dtype in sorted({(cfg.backend, cfg.dtype) for cfg in arms.values()}):
        fastops.set_backend(backend, dtype)  # no CuPy: one line now, before any header or folder
    if out is not None:
        runs.claim_folder(out, runs.MADE_BY["script"])


def run_arms(arms, out, args, log=say, **train_kwargs):
    """Train each arm (name -> config) into out/<name>; return name -> Result.
    With --arm, train that arm only (the script then writes no table)."""
    check_arms(arms, args, out)
    results = {}
    for name, cfg in arms.items():
        if args.arm is not None and name != args.arm:
            continue
        log(f"== {name}: {len(cfg.seeds)} member(s), up to {cfg.steps} steps on {cfg.backend}")
        try:
            results[name] = runs.train(cfg, out=os.path.join(out, name), resume=args.resume,
                                          overwrite=args.overwrite, log=log, **train_kwargs)
        except runs.InputError as error:
            raise runs.InputError(f"{error}{one_arm_remedy(name, args, error) if len(arms) > 1 else ''}") from None
    return results


def without_flag(words, flag):
    """A command line's words less one flag and its value (`--arm x` or `--arm=x`)."""
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == flag:
            skip = True
        elif not word.startswith(flag + "="):
            out.append(word)
    return out


def one_arm_remedy(name, args, error):
    """What to add to a refusal of one arm's folder where several arms ran: the command that retrains
    that arm alone. Arms trained apart with --arm under different --steps would otherwise send each
    other's user back and forth (each one's "give --steps N" refuses the other)."""
    if args.arm is not None or "--overwrite" not in str(error):
        return ""
    command = rerun_command(runs.MADE_BY["script"], args.argv, drop=("--resume", "--overwrite"),
                            add=("--arm", name, "--overwrite"))
    return f"; or retrain this arm alone with this command's flags: `{command}`"


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


def fmt_steps(stat):
    """fmt(stat) and the unit: '3100 [3000–3200] steps', or 'never …' alone for a median never reached."""
    text = fmt(stat)
    return text if text.startswith("never") else f"{text} steps"


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


VERDICTS = ("reproduced", "partly", "not reproduced", "see note")  # the last: no verdict yet, the note says why


def verdict(condition, partly=False):
    return "reproduced" if condition else ("partly" if partly else "not reproduced")


def git_commit():
    """The commit the code runs from ('+changes' if tracked code differs from it), or 'unknown'.
    Only Python files count: an edited README does not change a result. Read once, when the process
    first asks, so a commit made while a long run goes on is not credited with its results."""
    global _COMMIT
    if _COMMIT is None:
        _COMMIT = _read_git_commit()
        runs.MADE_BY["commit"] = _COMMIT
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
    """Write out/table.json and end the run with where everything is (or how to get figures),
    then the verdict of each claim. A figure that could not be drawn (no matplotlib) stays in
    table.json's figures as null, so report.py keeps the one an earlier ledger showed."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "table.json")
    runs.write_json(path, {**payload, "commit": git_commit(), "quick": bool(runs.MADE_BY["quick"]),
                           "figures": [f or None for f in figures]})
    say(f"\nwrote {path}")
    made = [f for f in figures if f]
    if made:
        say("figures: " + ", ".join(made))
    if len(made) < len(figures):
        say(runs.figures_missing())
    for c in payload.get("claims", []):
        say(verdict_line(c))
    return path


def verdict_line(c):
    """One claim's verdict, as a script ends: `verdict <id>: <verdict>: <ours>`, and below it,
    indented, the claim's note where it has one (why it did not reproduce)."""
    note = f"\n  {c['note']}" if c.get("note") else ""
    return f"verdict {c['id']}: {c['verdict']}: {c['ours']}{note}"


def grok_rows(results, op="div", baseline=None):
    """The grokking table: arm, seeds, grokked step, memorised step, delay, final val acc, speed-up."""
    base = results[baseline].summary[op]["grokked_step"]["median"] if baseline else None
    rows = []
    for name, r in results.items():
        s = r.summary[op]
        g = s["grokked_step"]["median"]
        speedup = f"{base / g:.2f}x" if base and g and analysis.most_grokked(s) else "—"
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
    return plateau.describe(cfg)


# ---------------------------------------------------------------------------
# Running a script: errors as one line, interrupts as the shell's exit status.

def run_main(main, argv=None):
    """Run main(argv); return the exit status (0, 2 on bad input, 130/143 when interrupted).
    NumPy's floating-point warnings stay quiet: a loss that overflows is the NaN watch's one line."""
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            main(argv)
        return 0
    except ArmsListed:
        return 0
    except plateau.ConfigError as error:
        runs.complain(f"error: {FLAG_OF.get(error.field, error.field)}: {error.message}")
    except (runs.InputError, ag.BackendError, plateau.TrainingDiverged) as error:  # any other error is a bug
        runs.complain(f"error: {error}")
    except runs.Interrupted as stop:
        runs.complain(f"stopped: {stop}")
        return stop.exit_code
    except BrokenPipeError:  # output piped into a reader that stopped early (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:  # the machine refused a file or the output: a full disk, stdout on /dev/full
        runs.complain(f"error: {error.filename or 'the output'}: {error.strerror or error}")
        return 1
    except NotImplementedError as error:  # a student copy: an exercise the script needs is not solved yet
        name = re.match(r"Exercise ([a-z0-9-]+):", str(error))
        if not name:
            raise
        runs.complain(f"error: exercise {name[1]} is not solved yet (this is a student copy); solve it, then "
                      f"grade it with `pytest -m {name[1].replace('-', '_')}` (TEACHING.md lists them all)")
        return 1
    return 2


def main_guard(main):
    for signum in (signal.SIGINT, signal.SIGTERM):  # imports done; a training step installs its own
        if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL, _stop_now):
            signal.signal(signum, _stop_quietly)
    git_commit()  # the code this process runs is the code at its start
    code = run_main(main)
    for signum in (signal.SIGINT, signal.SIGTERM):  # the work is done: a signal now must not turn it into a failure
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)
