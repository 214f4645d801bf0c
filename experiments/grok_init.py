"""Small and sparse initialization remove the memorize-first phase.

Claim (poster): sparse init (90% of weights zeroed) and small init (scale 0.01)
both prevent early memorization; generalization comes ~1,050 steps after
memorization instead of hundreds of thousands (the ~1,050 is the gap between
train and val accuracy reaching 95%, not the step of generalization; small
init ended at only 73.75% val accuracy in the poster).

Arms: default (PyTorch) init vs small vs sparse, all with the same weight
decay (--weight-decay; small/sparse touch the poster's scope, the nn.Linear
layers, unless --init-scope all). Also small and sparse with weight decay
--alt-weight-decay, since a shrunk model under strong decay may not learn at all,
and small init on every weight and embedding (scope "all") with that decay
(these three are left out where --weight-decay is already that decay, and the
last where --init-scope is already all).
Where these claims hold across init scales and weight decays: grok_phase.py.
The budget (4,000 steps) is grok_interventions.py's, so the two scripts count
the seeds that grokked within the same number of steps.

Run times: RESULTS.md ("Run times").
"""
import dataclasses

import common
import analysis


def claims(arms, results):
    rows = []
    base = results["default"].summary["div"]
    for name, r in results.items():
        scheme = name.split("-")[0]
        if scheme not in ("small", "sparse"):
            continue
        s, cfg = r.summary["div"], arms[name]
        d, n, seeds = s["delay"]["median"], s["n_grokked"], len(s["members"])
        ok = n * 2 > seeds and d is not None and d <= analysis.later(base["delay"]["median"]) / 3
        rows.append(common.claim(
            f"init-{name}", f"{scheme.capitalize()} init removes the memorize-first delay",
            "delay (train 95% -> val 95%) ~1,050 steps, vs ~333,000 for the baseline"
            + ("; small init ended at 73.75% val acc" if scheme == "small" else ""),
            f"{name}: " + (f"scale {cfg.init_scale:g}" if scheme == "small" else f"sparsity {cfg.sparsity:g}")
            + f", scope {cfg.init_scope}; " + common.setting(cfg),
            f"grokked {n}/{seeds}, delay {common.fmt_steps(s['delay'])} (default init: {common.fmt(base['delay'])}), "
            f"memorised at {common.fmt(s['memorized_step'])}, final val acc {common.fmt(s['final_val_acc'], 3)}",
            common.verdict(ok), "most seeds grok, with a delay <= 1/3 of default init's"))
    return rows


def main(argv=None):
    p = common.grok_parser(__doc__, steps=4000)  # grok_interventions' budget: their small-init counts agree
    p.add_argument("--alt-weight-decay", type=common.nonneg_float, default=0.0,
                   help="weight decay of the second small/sparse arms (default: 0)")
    common.division_only(p)
    common.refuse(p, ["--init"], "the arms are default, small and sparse init")
    args = common.parse(p, argv)
    out = common.out_folder(args, "grok_init")
    base = common.grok_config(args, argv, init="default")
    alt = args.alt_weight_decay
    if alt == base.weight_decay and "--alt-weight-decay" in args.given:  # its arms would be the main ones
        raise common.runs.InputError(f"--alt-weight-decay {alt:g} is the main arms' --weight-decay; give another "
                                     "decay, or leave it out")
    arms = {"default": base,
            "small": dataclasses.replace(base, init="small"),
            "sparse": dataclasses.replace(base, init="sparse")}
    if alt != base.weight_decay:
        arms.update({f"small-wd={alt:g}": dataclasses.replace(base, init="small", weight_decay=alt),
                     f"sparse-wd={alt:g}": dataclasses.replace(base, init="sparse", weight_decay=alt)})
        if base.init_scope != "all":  # else small-wd= is this arm already
            arms[f"small-all-wd={alt:g}"] = dataclasses.replace(base, init="small", init_scope="all", weight_decay=alt)
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    tables = common.grok_tables(arms, results, baseline="default")
    common.save_table(out, {"script": "grok_init", "tables": tables, "claims": claims(arms, results),
                            "arms": common.arm_records(arms, results)},
                      figures=[common.curves(results[k]) for k in ("small", "sparse")])
    return results


if __name__ == "__main__":
    common.main_guard(main)
