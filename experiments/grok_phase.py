"""Where the poster's init claims hold: a map over init scale x weight decay.

Claim (poster): small init (scale 0.01) cuts the train-to-val delay "~100x"
(the poster's words; its figures, ~1,050 steps against ~333,000, give ~300x),
and sparse init likewise. This map varies the init's scale only (sparse init
is grok_init.py's). Omnigrok (Liu, Michaud & Tegmark, 2022) showed that the
initial weight norm and the weight decay together decide whether and when a
model groks; the poster's claim is one point of that map. Here is the map.

One ensemble: every init scale of --scales x every weight decay of
--weight-decays x every seed, trained in lockstep (division mod 97, AdamW).
Init scale s multiplies PyTorch's default init of the layers --init-scope
names (the poster's scope: the nn.Linear layers, weights and biases), as
Omnigrok scales the initial weights: s = 1 is grok.py's baseline init, s = 0.01
is about the size of the poster's small init (Xavier-normal x 0.01). For each
cell: the memorised step (train accuracy >= 95%), the grokked step (validation
accuracy >= 95%), the delay between them and the final train and validation
accuracy, medians over seeds. A heatmap of each.

Reduced scale: width 64 (not 128), batch 256, 4,000 steps, evaluations every
100 steps, so that 50 members (5 scales x 5 weight decays x 2 seeds) fit one
ensemble on a CPU. At that size the baseline cell (scale 1, wd 1) groks soon
after it memorises, and its validation accuracy passes 50% before training
reaches 95% (grok_delay.py's ladder, same model: "memorised first" 0/3): the
memorise-first phase the init claims remove is weak in that cell, clear only at
smaller weight decay (RESULTS.md has the map's figures and the ladder's).

Run times: RESULTS.md ("Run times").
"""
import os

import numpy as np

import common
import analysis
import plateau
import runs

KEYS = ("memorized_step", "grokked_step", "delay", "final_val_acc", "final_train_acc")


def cell_table(scales, decays, groups):
    """groups[i * len(decays) + j] is the cell (scales[i], decays[j])."""
    return {(s, w): groups[i * len(decays) + j] for i, s in enumerate(scales) for j, w in enumerate(decays)}


def claims(scales, decays, cells, cfg):
    """Per weight decay: does shrinking the init cut the delay (>= 3x vs scale 1) and still generalize?"""
    big = max(scales)
    holds = []
    for w in decays:
        base = cells[big, w]
        for s in sorted(scales):
            if s == big:
                continue
            c = cells[s, w]
            grokked = analysis.most_grokked(c)
            d, d0 = c["delay"]["median"], base["delay"]["median"]
            cut = grokked and d is not None and d <= analysis.later(d0) / 3
            if cut:
                holds.append((s, w, c, base))
    small = min(scales)
    at_small = [w for s, w, *_ in holds if s == small]
    decayed = {w for w in decays if w > 0}
    # No evidence is no verdict: one scale has nothing to compare, no decay > 0 no cell to judge.
    judged = len(scales) > 1 and bool(decayed)
    unjudged = ("" if judged else "No verdict: the claim compares a smaller init scale with the largest at a "
                "weight decay > 0, and this map has " + ("one scale only. " if len(scales) == 1 else
                                                         "no weight decay > 0. "))
    return [common.claim(
        "phase-small-init", "Small init cuts the train-to-val delay (where, over init scale x weight decay)",
        "delay ~1,050 steps with scale 0.01 (wd 1e-3) vs ~333,000 for the default init",
        f"scales {', '.join(f'{s:g}' for s in scales)} x wd {', '.join(f'{w:g}' for w in decays)} "
        f"({len(cfg.seeds) // len(cells)} seeds each); " + common.setting(cfg),
        summary(scales, decays, cells, holds),
        common.verdict(decayed <= set(at_small), partly=bool(holds)) if judged else "see note",
        f"per cell: most seeds grok, and the delay is <= 1/3 of scale {big:g}'s at the same wd (a delay is known to "
        f"+-{cfg.eval_every} steps; never = later than any); reproduced if "
        f"scale {small:g} does so at every wd > 0, partly if some smaller scale does somewhere",
        note=unjudged + fell_back(cells, cfg.threshold) + "Every cell's figures are in the map's table below.")]


def cell_name(s, w):
    return f"scale {s:g} wd {w:g}"


def fell_back(cells, threshold):
    """Cells where a seed that grokked ended below the grokking threshold (it lost what it had)."""
    cases = [f"{cell_name(s, w)} (seed {m['seed']}: grokked at {m['grokked_step']}, final val "
             f"{m['final_val_acc']:.2f})" for (s, w), c in cells.items() for m in c["members"]
             if m["grokked_step"] is not None and m["final_val_acc"] < threshold]
    return (f"Grokked, then fell back below {threshold:.0%} val by the end: {'; '.join(cases)}. "
            if cases else "")


def summary(scales, decays, cells, holds):
    """The map in words: where the delay was cut, where anything grokked, how init moves memorisation,
    and the cells that learn without memorising first (train and val rising together)."""
    big, small, w0 = max(scales), min(scales), min(decays)
    grokked = [f"{cell_name(s, w)} ({c['n_grokked']}/{len(c['members'])}, delay {common.fmt(c['delay'])})"
               for (s, w), c in cells.items() if c["n_grokked"]]
    together = [f"{cell_name(s, w)} (train {common.fmt(c['final_train_acc'], 2)}, "
                f"val {common.fmt(c['final_val_acc'], 2)})"
                for (s, w), c in cells.items()
                if all(m["memorized_step"] is None for m in c["members"]) and c["final_val_acc"]["median"] >= 0.2
                and c["final_train_acc"]["median"] - c["final_val_acc"]["median"] <= 0.25]
    parts = [f"delay cut >= 3x with most seeds grokking at: "
             f"{'; '.join(cell_name(s, w) for s, w, *_ in holds) or 'no cell'}",
             f"any seed grokked at: {'; '.join(grokked) or 'no cell'}",
             f"at wd {w0:g} the memorised step was {common.fmt(cells[big, w0]['memorized_step'])} at scale {big:g} "
             f"and {common.fmt(cells[small, w0]['memorized_step'])} at scale {small:g}"]
    if together:
        parts.append("no seed memorised, train and val rising together (no memorise-first phase, but no grokking "
                     "within the budget): " + "; ".join(together))
    return ". ".join(parts)


@runs.drawing
def heatmaps(scales, decays, cells, cfg, path, ensemble=None):
    """One heat map per measure, three to a row, each cell labelled with its median over seeds (and,
    for the grokked step and the delay, how many seeds grokked where any did: a median of 'never'
    would hide one)."""
    plt = runs.pyplot()
    if plt is None:
        return None
    panels = [("memorized_step", "memorised step (k/N: seeds that did, where some did not)"),
              ("grokked_step", "grokked step (k/N: seeds that grokked)"), ("delay", "delay (steps; k/N as at left)"),
              ("final_train_acc", "final train accuracy"), ("final_val_acc", "final val accuracy")]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.6))
    axes[1, 2].axis("off")
    for ax, (key, title) in zip(axes.flat, panels):
        grid = np.array([[np.nan if cells[s, w][key]["median"] is None else cells[s, w][key]["median"]
                          for w in decays] for s in scales], dtype=float)
        ax.imshow(grid, cmap="viridis" if key.endswith("acc") else "viridis_r", aspect="auto")
        for i in range(len(scales)):
            for j in range(len(decays)):
                v, cell = grid[i, j], cells[scales[i], decays[j]]
                label = "never" if np.isnan(v) else (f"{v:.2f}" if key.endswith("acc") else f"{v:.0f}")
                if key in ("grokked_step", "delay") and cell["n_grokked"]:  # a cell's median hides a minority
                    label += f"\n{cell['n_grokked']}/{len(cell['members'])} seeds"
                memorised = sum(m.get("memorized_step") is not None for m in cell["members"])
                if key == "memorized_step" and 0 < memorised < len(cell["members"]):
                    label += f"\n{memorised}/{len(cell['members'])} seeds"
                ax.text(j, i, label, ha="center", va="center", fontsize=9, color="0.3" if np.isnan(v) else "black",
                        bbox=dict(facecolor="white", alpha=0.6, lw=0) if not np.isnan(v) else None)
        ax.set_xticks(range(len(decays)), [f"{w:g}" for w in decays])
        ax.set_yticks(range(len(scales)), [f"{s:g}" for s in scales])
        ax.set_xlabel("weight decay")
        ax.set_ylabel("init scale")
        ax.set_title(title, fontsize=11)
    fig.suptitle(f"grok_phase: division mod {cfg.p}, init scale x weight decay; median over {len(cfg.seeds)} seeds "
                 f"per cell; steps are optimizer updates, 'never' = not within {cfg.steps:,}\n"
                 f"{plateau.describe(cfg if ensemble is None else ensemble, init=True)}", fontsize=11)
    return runs.save_figure(fig, path, dpi=70)


def main(argv=None):
    p = common.grok_parser(__doc__, steps=4000, seeds=(0, 1))
    p.add_argument("--scales", type=common.float_list(lambda v: 0 < v <= 100, "a scale in (0, 100] (--init scaled's "
                                                      "range: beyond, float32 weights overflow)"),
                   default=(1.0, 0.3, 0.1, 0.03, 0.01), help="init scales (default: 1,0.3,0.1,0.03,0.01)")
    p.add_argument("--weight-decays", type=common.float_list(lambda v: v >= 0, "a weight decay >= 0"),
                   default=(0.0, 0.01, 0.1, 0.3, 1.0), help="weight decays (default: 0,0.01,0.1,0.3,1)")
    p.set_defaults(d_model=64, batch_size=256, eval_every=100, checkpoint_every=500)
    common.division_only(p)
    common.refuse(p, ["--init", "--init-scale", "--sparsity", "--weight-decay"], "the map's cells take their init "
                  "scale and weight decay from --scales and --weight-decays (init: PyTorch's x the scale)")
    common.refuse(p, ["--preset"], "the map is its own reduced regime (its weight decays come from --weight-decays)")
    common.show_defaults(p, "d_model", "batch_size", "eval_every", "checkpoint_every")
    args = common.parse(p, argv)
    out = common.out_folder(args, "grok_phase")
    base = common.grok_config(args, argv, init="scaled")
    settings = [dict(init_scale=s, weight_decay=w) for s in args.scales for w in args.weight_decays]
    arms = {"map": common.grid(base, settings, base.seeds)}
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    groups = analysis.per_setting(results["map"].summary["div"], len(base.seeds), KEYS)
    cells = cell_table(args.scales, args.weight_decays, groups)
    headers = ["init scale", "weight decay", "grokked", "memorised step", "grokked step", "delay", "final train acc",
               "final val acc"]
    rows = [[f"{s:g}", f"{w:g}", f"{c['n_grokked']}/{len(c['members'])}", common.fmt(c["memorized_step"]),
             common.fmt(c["grokked_step"]), common.fmt(c["delay"]), common.fmt(c["final_train_acc"], 3),
             common.fmt(c["final_val_acc"], 3)]
            for (s, w), c in cells.items()]
    common.print_table(f"init scale x weight decay, division mod {base.p}: median [min–max] over "
                       f"{len(base.seeds)} seeds per cell", headers, rows)
    figure = heatmaps(args.scales, args.weight_decays, cells, base, os.path.join(out, "phase.png"), arms["map"])
    common.save_table(out, {"script": "grok_phase", "tables": {"map": {"headers": headers, "rows": rows}},
                            "scales": args.scales, "weight_decays": args.weight_decays, "cells": groups,
                            "claims": claims(args.scales, args.weight_decays, cells, arms["map"]),
                            "arms": common.arm_records(arms, results)}, figures=[figure])
    return results


if __name__ == "__main__":
    common.main_guard(main)
