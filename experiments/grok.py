"""Grokking on modular arithmetic: one configuration, every knob a flag.

Claim (poster): a 2-layer transformer (d_model 128, 4 heads, ReLU) trained with
AdamW on a op b (mod 97), half the table for training, reaches ~100% training
accuracy early and generalizes (>= 95% validation accuracy) much later.

Reduced scale (the default): division mod 97, AdamW lr 1e-3, betas 0.9/0.98,
weight decay 1.0 (Power et al.'s value; the poster's 1e-3 needs its 400,000
steps: `--preset poster`, a GPU job), batch 512, post-LN, 3 seeds trained
together as one ensemble, at most 6,000 steps; the run stops once every seed
has held >= 95% validation accuracy for 3 evaluations.
Memorised = first evaluation with train accuracy >= 95%; grokked = first
evaluation with validation accuracy >= 95% (--threshold sets both).

Run times: RESULTS.md ("Run times").
"""
import common


def claims(cfg, result):
    s = result.summary["div"] if "div" in result.summary else next(iter(result.summary.values()))
    mem, grok = s["memorized_step"]["median"], s["grokked_step"]["median"]
    return [common.claim(
        "grok-baseline", f"Memorize early, generalize late ({'/'.join(cfg.ops)} mod {cfg.p})",
        "train ~100% at 0.2% of 400,000 steps (~800 steps); val >= 95% at 83.5% (334,000 steps)",
        common.setting(cfg),
        f"memorised at {common.fmt_steps(s['memorized_step'])}, grokked at {common.fmt_steps(s['grokked_step'])} "
        f"({s['n_grokked']}/{len(s['members'])} seeds)",
        common.verdict(mem is not None and grok is not None and grok >= 2 * mem),
        "grokked step >= 2x memorised step (medians over seeds)")]


def main(argv=None):
    args = common.parse(common.grok_parser(__doc__, steps=6000), argv)
    out = common.out_folder(args, "grok")
    arms = {"grok": common.grok_config(args, argv)}
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    tables = common.grok_tables(arms, results)
    common.save_table(out, {"script": "grok", "tables": tables, "claims": claims(arms["grok"], results["grok"]),
                            "arms": common.arm_records(arms, results)},
                      figures=[common.curves(results["grok"])])
    return results


if __name__ == "__main__":
    common.main_guard(main)
