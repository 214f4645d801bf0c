"""What every experiment script shares: the flags, running a set of arms, tables.

Each script states one claim of the poster, builds one config per arm, and
calls `run_arms`; each arm trains an ensemble (one member per seed) into its
own run folder under --out, and the script prints and saves one table.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python experiments/x.py` works from the repo root without installing

import autograd as ag  # noqa: E402
import plateau  # noqa: E402


def help_parser(doc):
    """An ArgumentParser whose --help prints `doc` (a script's docstring) as written."""
    first, _, rest = doc.strip().partition("\n")
    return argparse.ArgumentParser(description=first, epilog=rest,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def parser(doc, steps, seeds=3, eval_every=None):
    """The shared flags of every claim script; `doc` becomes its --help text."""
    p = help_parser(doc)
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"],
                   help="array backend: numpy (CPU) or cupy (GPU) (default: numpy)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seeds", type=seed_list, default=tuple(range(seeds)),
                   help=f"how many seeds (trained together as one ensemble), or a list like 0,3,7 "
                        f"(default: {seeds})")
    p.add_argument("--steps", type=int, default=steps, help=f"training steps per arm (default: {steps})")
    p.add_argument("--eval-every", type=int, default=eval_every,
                   help="steps between evaluations (default: the config's)")
    p.add_argument("--out", default=None, help="folder for the run folders and table "
                                               "(default: runs/<script name>)")
    p.add_argument("--resume", action="store_true", help="continue each arm from its last checkpoint")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long smoke run: tiny model, few steps (checks the plumbing, not the claim)")
    return p


def seed_list(text):
    if "," in text:
        return tuple(int(s) for s in text.split(","))
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return tuple(range(count))


def shared(args, script):
    """Config fields every arm takes from the shared flags."""
    out = args.out or os.path.join("runs", script)
    fields = dict(seeds=args.seeds, steps=args.steps, backend=args.backend, dtype=args.dtype)
    if args.eval_every:
        fields["eval_every"] = args.eval_every
    return out, fields


QUICK_GROK = dict(p=11, d_model=16, n_heads=2, steps=6, eval_every=3, batch_size=32)
QUICK_SEQUENCE = dict(n=4, d_model=8, steps=6, eval_every=3, eval_size=8, batch_size=12)


def run_arms(arms, out, resume=False, log=plateau.say, **train_kwargs):
    """Train each arm (name -> config) into out/<name>; return name -> Result."""
    results = {}
    for name, cfg in arms.items():
        log(f"== {name}: {len(cfg.seeds)} seed(s), up to {cfg.steps} steps on {cfg.backend}")
        results[name] = plateau.train(cfg, out=os.path.join(out, name), resume=resume, log=log,
                                      **train_kwargs)
    return results


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


def arm_records(arms, results):
    """What table.json keeps of each arm: its config, summary and steps done."""
    return {k: {"config": plateau.config_to_dict(arms[k]), "summary": r.summary, "steps": r.steps}
            for k, r in results.items()}


def print_table(title, headers, rows, log=plateau.say):
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))
    log(f"\n{title}")
    log(line(headers))
    log(line("-" * w for w in widths))
    for r in rows:
        log(line(r))


def save_table(out, name, payload):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    plateau.write_json(path, payload)
    return path


def grok_rows(results, op="div", baseline=None):
    """The grokking table: arm, seeds, grokked step, delay, final val acc, speed-up."""
    base = results[baseline].summary[op]["grokked_step"]["median"] if baseline else None
    rows = []
    for name, r in results.items():
        s = r.summary[op]
        g = s["grokked_step"]["median"]
        speedup = f"{base / g:.2f}x" if base and g and s["n_grokked"] * 2 > len(s["members"]) else "—"
        rows.append([name, f"{s['n_grokked']}/{len(s['members'])}", fmt(s["grokked_step"]),
                     fmt(s["memorized_step"]), fmt(s["delay"]), fmt(s["final_val_acc"], 3), speedup])
    return ["arm", "grokked", "grokked_step", "memorized_step", "delay", "final val acc",
            "speed-up"], rows


def main_guard(main):
    """Run main(); bad input or a diverged run ends with one clear error line."""
    try:
        main()
    except (ValueError, ag.BackendError, plateau.TrainingDiverged) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # output piped into a reader that stopped early (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


# ---------------------------------------------------------------------------
# The loss-plateau arm's knobs, shared by task_diversity.py, transfer.py and attention_map.py.

def add_sequence_flags(p):
    d = plateau.SequenceConfig()  # the flags' defaults are the config's
    g = p.add_argument_group("model, data and optimizer")
    g.add_argument("--d-model", type=int, default=d.d_model, help="width D (the paper: 256)")
    g.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (the poster's code: 1e-4)")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="sequences per step, split across the tasks (the poster's Table 1 runs: 128)")
    g.add_argument("--attention", default=d.attention, choices=["linear", "softmax"])
    g.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"held-out token accuracy that counts as converged (default: {d.threshold:g})")
    g.add_argument("--eval-size", type=int, default=d.eval_size, help="held-out sequences per task")
    g.add_argument("--n", type=int, default=d.n, help="inputs per sequence")
    g.add_argument("--k", type=int, default=d.k, help="window")
    g.add_argument("--p", type=int, default=d.p, help="modulus")
    g.add_argument("--patience", type=int, default=d.patience, help="evaluations at the threshold before stopping")
    g.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    return p


def sequence_args(doc, script, argv, steps=4000):
    """Parse the shared and sequence flags of a loss-plateau script: (args, out folder, shared fields)."""
    args = add_sequence_flags(parser(doc, steps=steps)).parse_args(argv)
    return (args,) + shared(args, script)


def sequence_config(args, tasks, **shared):
    fields = dict(d_model=args.d_model, lr=args.lr, batch_size=args.batch_size, attention=args.attention,
                  threshold=args.threshold, eval_size=args.eval_size, n=args.n, k=args.k, p=args.p,
                  patience=args.patience, checkpoint_every=args.checkpoint_every)
    fields.update(shared)
    if args.quick:
        fields.update(QUICK_SEQUENCE)
    return plateau.SequenceConfig(tasks=tuple(tasks), **fields)
