"""Every intervention side by side, on the same seeds and budget, and Grokfast beyond the poster.

The poster's interventions (small init, sparse init, four tasks, SGD) side by
side, tabulated here and judged in grok_init.py, grok_multitask.py and
grok_optimizer.py. The one claim judged here, beyond the poster: Grokfast (Lee
et al. 2024: amplify the slow, EMA-filtered part of the gradient,
g <- g + lambda * ema, ema <- alpha * ema + (1 - alpha) * g) makes grokking
come sooner (its authors report up to ~50x fewer steps).

Arms, all division mod 97 at grok.py's reduced scale, seeds --seeds, at most
--steps steps:
  "adamw": one ensemble whose members are the baseline (PyTorch init), small
           init (--init-scale), sparse init (--sparsity) and Grokfast
           (--grokfast-alpha, --grokfast-lambda, default 0.98 and 2), x seeds;
  "sgd":   SGD, --sgd-lr, --sgd-momentum, coupled L2 --sgd-weight-decay;
  "four-tasks": the baseline trained on all four operations (division's
           numbers reported);
  "grokfast-lee": Grokfast in the regime nearest its authors' (github.com/ironjr/grokfast,
           main.py: pre-LayerNorm decoder, Adam with L2 0.005, alpha 0.98, lambda 2,
           batch 512, lr 1e-3, betas 0.9/0.98), beside its own baseline (lambda 0):
           pre-LN, AdamW with decay --lee-weight-decay (0.005). Still not theirs:
           ReLU not GELU, decoupled decay not L2, no 10-step warm-up, division not
           multiplication.

Run times: RESULTS.md ("Run times").
"""
import dataclasses

import common
import analysis

KEYS = ("memorized_step", "grokked_step", "delay", "final_val_acc", "collapses")
MEMBERS = ["baseline", "small init", "sparse init", "Grokfast"]


def lee_members(wd):
    """The grokfast-lee arm's two settings, as the table names them."""
    return [f"pre-LN, wd {wd:g}", f"pre-LN, wd {wd:g}, Grokfast"]


def rows_for(groups, base_of):
    """The table; each row's speed-up is against its own baseline (base_of: row name -> baseline's name)."""
    headers = ["intervention", "grokked", "memorised step", "grokked step", "delay", "final val acc", "collapses",
               "speed-up (grokked step, against its baseline)"]
    rows = []
    for name, g in groups.items():
        b, step = groups[base_of(name)]["grokked_step"]["median"], g["grokked_step"]["median"]
        speed = f"{b / step:.2f}x" if b and step and analysis.most_grokked(g) else "—"
        rows.append([name, f"{g['n_grokked']}/{len(g['members'])}", common.fmt(g["memorized_step"]),
                     common.fmt(g["grokked_step"]), common.fmt(g["delay"]), common.fmt(g["final_val_acc"], 3),
                     common.fmt(g["collapses"]), speed])
    return headers, rows


def sooner(base, fast, steps):
    """(Grokfast grokked in at most half its baseline's steps, Grokfast grokked sooner), by the
    medians, each only when most of Grokfast's seeds grokked. A baseline that never grokked took
    more than `steps`: then half means Grokfast within steps / 2."""
    b, f = analysis.later(base["grokked_step"]["median"]), analysis.later(fast["grokked_step"]["median"])
    most = analysis.most_grokked(fast)
    return most and 2 * f <= min(b, steps), most and f < b


def grokked_text(base, fast):
    b, f = analysis.later(base["grokked_step"]["median"]), analysis.later(fast["grokked_step"]["median"])
    text = (f"baseline {common.fmt(base['grokked_step'])} ({base['n_grokked']}/{len(base['members'])}), "
            f"Grokfast {common.fmt(fast['grokked_step'])} ({fast['n_grokked']}/{len(fast['members'])})")
    return text + (f": {b / f:.2f}x sooner" if f < b < float("inf") else "")


def claims(groups, cfg, lee_wd):
    """Judged in the regime nearest Lee et al.'s; the poster's regime (post-LN, wd 1) is reported beside it."""
    lee_base, lee_fast = (groups[name] for name in lee_members(lee_wd))
    halved, earlier = sooner(lee_base, lee_fast, cfg.steps)
    _, earlier_poster = sooner(groups["baseline"], groups["Grokfast"], cfg.steps)
    return [common.claim(
        "grokfast", "Beyond the poster: Grokfast-EMA makes grokking come sooner",
        "not in the poster (Lee et al. 2024, pre-LN: 95% val at 910 steps with Grokfast and Adam with L2 0.005, "
        "at 39,890 with plain Adam and no decay)",
        f"alpha {cfg.grokfast_alpha:g}, lambda {cfg.grokfast_lambda:g}; AdamW lr {cfg.lr:g}; "
        f"{len(cfg.seeds)} seeds, at most {cfg.steps:,} steps",
        f"grokked step, pre-LN and wd {lee_wd:g} (nearest Lee et al.): {grokked_text(lee_base, lee_fast)}; "
        f"post-LN and wd {cfg.weight_decay:g} (the poster's model): "
        f"{grokked_text(groups['baseline'], groups['Grokfast'])}",
        common.verdict(halved, partly=earlier or earlier_poster),
        f"pre-LN, wd {lee_wd:g}: Grokfast's median grokked step <= half its baseline's (within half the budget if the "
        "baseline never grokked; most seeds); "
        "partly if only sooner there, or sooner in the poster's regime")]


def main(argv=None):
    p = common.grok_parser(__doc__, steps=4000)
    p.add_argument("--sgd-lr", type=common.positive_float, default=0.05, help="SGD learning rate (default: 0.05, not the poster's 0.005: grok_optimizer.py sweeps "
                        "0.005 to 0.1, and grok_delay.py runs the poster's on its slow rung)")
    p.add_argument("--sgd-momentum", type=common.unit_half_open, default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--sgd-weight-decay", type=common.nonneg_float, default=1e-3,
                   help="SGD's coupled L2 weight decay (default: 1e-3)")
    p.add_argument("--lee-weight-decay", type=common.nonneg_float, default=0.005,
                   help="AdamW decay of the grokfast-lee arm, whose members are pre-LN with Grokfast "
                        "lambda 0 and --grokfast-lambda (default: 0.005, Lee et al.'s L2)")
    common.grokfast_members(p)
    helps = {"lr": "the AdamW arms' learning rate; the SGD arm's is --sgd-lr (default: %(default)s)",
             "weight_decay": "the AdamW arms' decoupled weight decay (not grokfast-lee's: --lee-weight-decay); "
                             "the SGD arm's is --sgd-weight-decay (default: %(default)s)"}
    for action in p._actions:  # the shared --lr and --weight-decay mean this here
        action.help = helps.get(action.dest, action.help)
    common.refuse(p, ["--optimizer", "--momentum", "--init", "--ops"], "every intervention is an arm; "
                  "set --sgd-lr, --sgd-momentum, --sgd-weight-decay, --init-scale, --sparsity, --grokfast-*")
    args = common.parse(p, argv)
    out = common.out_folder(args, "grok_interventions")
    base = common.grok_config(args, argv, init="default", grokfast_lambda=0.0, optimizer="adamw", momentum=0.0)
    settings = [dict(init="default", grokfast_lambda=0.0), dict(init="small", grokfast_lambda=0.0),
                dict(init="sparse", grokfast_lambda=0.0), dict(init="default", grokfast_lambda=args.grokfast_lambda)]
    arms = {"adamw": common.grid(base, settings, base.seeds),
            "sgd": dataclasses.replace(base, optimizer="sgd", lr=args.sgd_lr, momentum=args.sgd_momentum,
                                       weight_decay=args.sgd_weight_decay, on_divergence="continue"),
            "four-tasks": dataclasses.replace(base, ops=("div", "add", "sub", "mul")),
            "grokfast-lee": common.grid(dataclasses.replace(base, norm="pre", weight_decay=args.lee_weight_decay),
                                        [dict(grokfast_lambda=0.0), dict(grokfast_lambda=args.grokfast_lambda)],
                                        base.seeds)}
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    n = len(base.seeds)
    groups = dict(zip(MEMBERS, analysis.per_setting(results["adamw"].summary["div"], n, KEYS)))
    for name, arm in (("SGD", "sgd"), ("four tasks", "four-tasks")):
        groups[name] = analysis.per_setting(results[arm].summary["div"], n, KEYS)[0]
    lee = lee_members(args.lee_weight_decay)
    groups.update(zip(lee, analysis.per_setting(results["grokfast-lee"].summary["div"], n, KEYS)))
    headers, rows = rows_for(groups, lambda name: lee[0] if name in lee else "baseline")
    common.print_table(f"division mod {base.p}, seeds {common.format_seeds(base.seeds)}, at most {base.steps:,} "
                       "steps: median [min–max] over seeds", headers, rows)
    common.save_table(out, {"script": "grok_interventions", "tables": {"interventions": {"headers": headers, "rows": rows}},
                            "groups": groups, "claims": claims(groups, dataclasses.replace(
                                base, grokfast_lambda=args.grokfast_lambda), args.lee_weight_decay),
                            "arms": common.arm_records(arms, results)},
                      figures=[common.curves(results["adamw"]), common.curves(results["grokfast-lee"])])
    return results


if __name__ == "__main__":
    common.main_guard(main)
