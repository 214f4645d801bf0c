"""Weight decay is what makes the model generalize: with vs without it.

Claim (poster): without weight decay the model memorizes the training set but
never generalizes.

Arms: the reduced-scale baseline (division mod 97, AdamW, weight decay 1.0, or
--weight-decay) against the same run with weight decay 0; 3 seeds each, 4,000
steps at most. Every other knob of grok.py is a flag here too.

The no-decay arm runs all its steps. Run times: RESULTS.md ("Run times").
"""
import dataclasses

import common


def claims(arms, results):
    decayed, none = (results[k].summary["div"] for k in arms)
    name = next(iter(arms))
    seeds = len(none["members"])
    return [common.claim(
        "weight-decay", "Without weight decay the model memorizes but never generalizes",
        "never (within 400,000 steps)", common.setting(arms["wd=0"]),
        f"wd=0: memorised {common.fmt(none['memorized_step'])}, grokked {none['n_grokked']}/{seeds}, final val acc "
        f"{common.fmt(none['final_val_acc'], 3)}; {name}: grokked {decayed['n_grokked']}/{seeds} at "
        f"{common.fmt_steps(decayed['grokked_step'])}",
        common.verdict(none["n_grokked"] == 0 and decayed["n_grokked"] > 0),
        "no wd=0 seed groks, and some decayed seed does")]


def main(argv=None):
    p = common.grok_parser(__doc__, steps=4000)
    common.division_only(p)
    args = common.parse(p, argv)
    out = common.out_folder(args, "grok_weight_decay")
    base = common.grok_config(args, argv)
    if base.weight_decay == 0:
        raise common.runs.InputError("--weight-decay 0 would compare the no-decay arm with itself; give a decay > 0")
    arms = {f"wd={base.weight_decay:g}": base, "wd=0": dataclasses.replace(base, weight_decay=0.0)}
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    tables = common.grok_tables(arms, results, baseline=f"wd={base.weight_decay:g}")
    common.save_table(out, {"script": "grok_weight_decay", "tables": tables, "claims": claims(arms, results),
                            "arms": common.arm_records(arms, results)},
                      figures=[common.curves(results["wd=0"])])
    return results


if __name__ == "__main__":
    common.main_guard(main)
