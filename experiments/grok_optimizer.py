"""SGD against AdamW on the grokking task, with a small SGD sweep.

Claim (poster): SGD (lr 0.005) groks in ~41,500 steps (elsewhere in the poster
44,900), a ~60% reduction from AdamW's 334,000 (wd 1e-3, 400,000-step budget),
and stays stable after grokking.

Arms: AdamW (the reduced-scale baseline of grok.py, lr 1e-3, wd 1.0) and SGD
over a grid of learning rate x momentum (--sgd-lrs, --sgd-momenta), with
coupled L2 weight decay --sgd-weight-decay, as torch.optim.SGD applies it.
Each SGD point is its own run, so one that diverges (NaN) is reported as
such without stopping the others. "stability" = the lowest val accuracy over
the last 3 evaluations after grokking.

What we ran and saw (defaults, 1 seed): AdamW grokked at 2,900 steps; no SGD point
fitted even the training set in 3,000 steps, and lr 1 with momentum 0.9 diverged.
Run time: about 7 minutes on 2 CPU cores with the default grid and 1 seed.
"""
import dataclasses

import common
import grok
import plateau


def main(argv=None):
    p = grok.build_parser(__doc__, steps=3000, seeds=1)
    p.add_argument("--sgd-lrs", default="0.1,1.0", help="comma-separated SGD learning rates")
    p.add_argument("--sgd-momenta", default="0,0.9", help="comma-separated SGD momenta")
    p.add_argument("--sgd-weight-decay", type=float, default=1e-2, help="SGD's coupled L2 weight decay")
    args = p.parse_args(argv)
    out, shared = common.shared(args, "grok_optimizer")
    base = dataclasses.replace(grok.config(args, **shared), optimizer="adamw")
    arms = {"adamw": base}
    for lr in (float(x) for x in args.sgd_lrs.split(",")):
        for mom in (float(x) for x in args.sgd_momenta.split(",")):
            arms[f"sgd lr={lr:g} m={mom:g}"] = dataclasses.replace(
                base, optimizer="sgd", lr=lr, momentum=mom, weight_decay=args.sgd_weight_decay)
    results, diverged = {}, {}
    for name in list(arms):
        try:
            results.update(common.run_arms({name: arms[name]}, out, resume=args.resume))
        except plateau.TrainingDiverged as error:
            plateau.say(f"   {name}: {error}")
            diverged[name] = str(error)
            del arms[name]
    grok.report_claim("grok_optimizer", arms, results, out, baseline="adamw",
                      extra={"diverged": diverged})
    for name, why in diverged.items():
        plateau.say(f"{name}: diverged ({why})")
    return results


if __name__ == "__main__":
    common.main_guard(main)
