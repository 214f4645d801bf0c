"""Mixing sequence tasks shortens the loss plateau of each (the poster's Table 1).

Claim (poster): a 1-layer linear-attention transformer trained online needs
fewer samples to converge on each task when tasks are mixed. Table 1, samples
to converge (sequences of that task seen, 128 per step split across tasks):
single MWS/MWP/MWD 16256/93568/34560; two tasks 13600/24096/19680 (each the
mean over the two pairings that contain the task); three 10542/13288/10794;
average speed-up (mean over tasks of 1 - mixed/single) 44.55% and 63.23%.

Arms: MWS, MWP, MWD alone; each pair; all three. Converged = first evaluation
(every 10 steps) at which the task's held-out token accuracy reaches
--threshold (1.0); samples = that task's sequences per step x steps. Width
D=64 and Adam lr 1e-3 by default (the poster's code: D=256, lr 1e-4:
`--d-model 256 --lr 1e-4`). 3 seeds per arm, trained together.

Run times: RESULTS.md ("Run times") and README.md.
"""
import itertools
import os

import numpy as np

import common
import analysis
import plateau
import runs

TASKS = ("mws", "mwp", "mwd")
POSTER = {1: {"mws": 16256, "mwp": 93568, "mwd": 34560},
          2: {"mws": 13600, "mwp": 24096, "mwd": 19680},
          3: {"mws": 10542, "mwp": 13288, "mwd": 10794}}
POSTER_SPEEDUP = {2: 44.55, 3: 63.23}


def arms_for(args, argv):
    combos = [c for r in (1, 2, 3) for c in itertools.combinations(TASKS, r)]
    return {"-".join(c): common.sequence_config(args, argv, c) for c in combos}


def table_one(results):
    """Samples to converge per task and number of tasks: medians over seeds, then the
    mean over the arms with that many tasks that contain the task (the poster's rule).
    min/max span every seed of those arms; None where a seed never converged."""
    table = {}
    for size in (1, 2, 3):
        for task in TASKS:
            stats = [r.summary[task]["samples_to_converge"] for name, r in results.items()
                     if task in name.split("-") and len(name.split("-")) == size]
            medians, maxes = [s["median"] for s in stats], [s["max"] for s in stats]
            table.setdefault(size, {})[task] = {
                "median": None if None in medians else float(np.mean(medians)),
                "min": None if None in [s["min"] for s in stats] else min(s["min"] for s in stats),
                "max": None if None in maxes else max(maxes)}
    for size in (2, 3):
        gains = [1 - table[size][t]["median"] / table[1][t]["median"] for t in TASKS
                 if table[size][t]["median"] and table[1][t]["median"]]
        table[size]["speedup"] = 100 * float(np.mean(gains)) if len(gains) == len(TASKS) else None
    return table


def claims(cfg, results, table):
    setting = (f"D={cfg.d_model}, Adam lr {cfg.lr:g}, batch {cfg.batch_size}, converged = held-out token acc "
               f">= {cfg.threshold:g}, {len(cfg.seeds)} seeds, at most {cfg.steps:,} steps")
    mws = results["mws"].summary["mws"]
    plateau_step, converged = mws["plateau_step"]["median"], mws["converged_step"]["median"]
    rows = [common.claim(
        "plateau", "Single-task MWS sits on a loss plateau, then drops suddenly", "qualitative (Figure 1)", setting,
        f"plateau (loss halfway down) at {common.fmt(mws['plateau_step'])} steps, converged at "
        f"{common.fmt(mws['converged_step'])} steps",
        common.verdict(plateau_step is not None and converged is not None
                       and converged - plateau_step <= 0.5 * plateau_step),
        "the drop from halfway down to converged takes <= half as long as the plateau"),
        common.claim(
        "table1-single", "Single-task samples to converge (MWS/MWP/MWD)",
        "16256/93568/34560 sequences of the task (128 per step)", setting,
        "/".join(common.number(table[1][t]["median"]) for t in TASKS) + " sequences (median over seeds)",
        "see note", "no verdict: absolute numbers depend on width, learning rate and criterion",
        note="The poster's ordering is MWS < MWD < MWP; ours is "
             + " < ".join(t.upper() for t in sorted(TASKS, key=lambda t: table[1][t]["median"] or float("inf"))) + ".")]
    for size in (2, 3):
        ours = table[size].get("speedup")
        each = [table[size][t]["median"] is not None and table[1][t]["median"] is not None
                and table[size][t]["median"] < table[1][t]["median"] for t in TASKS]
        slower = [t.upper() for t, ok in zip(TASKS, each) if not ok]
        rows.append(common.claim(
            f"table1-{size}", f"Mixing {size} tasks cuts the samples each task needs",
            f"avg speed-up {POSTER_SPEEDUP[size]}% ({'/'.join(str(POSTER[size][t]) for t in TASKS)} sequences)", setting,
            f"avg speed-up {'n/a' if ours is None else f'{ours:.1f}%'} "
            f"({'/'.join(common.number(table[size][t]['median']) for t in TASKS)} sequences)",
            common.verdict(all(each), partly=ours is not None and ours > 0),
            "every task needs fewer samples mixed; partly if only on average",
            note=f"Not faster mixed: {', '.join(slower)}." if slower else ""))
    return rows


def plot_losses(results, arms, path):
    """Held-out loss of each task against that task's samples seen: alone vs mixed."""
    plt = runs.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, task in zip(axes, TASKS):
        for name, r in results.items():
            if task not in name.split("-"):
                continue
            per_step = r.summary[task]["sequences_per_step"]
            rows = analysis.rows_of(r.history, 0, task, "heldout")
            ax.plot([x["step"] * per_step for x in rows], [x["loss"] for x in rows],
                    lw=2 if name == task else 1, label=name)
        ax.set_title(task.upper())
        ax.set_xlabel(f"{task.upper()} sequences seen (seed {arms[task].seeds[0]})")
        ax.set_ylabel("held-out loss")
        ax.legend(fontsize=7)
    return runs.save_figure(fig, path, dpi=80)


def main(argv=None):
    args = common.sequence_parser(__doc__).parse_args(argv)
    out = common.out_folder(args, "task_diversity")
    arms = arms_for(args, argv)
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    table = table_one(results)
    rows = []
    for size in (1, 2, 3):
        speed = table[size].get("speedup")
        rows.append([f"{size} ours"] + [common.fmt(table[size][t]) for t in TASKS]
                    + ["N/A" if size == 1 else ("—" if speed is None else f"{speed:.1f}%")])
        rows.append([f"{size} poster"] + [str(POSTER[size][t]) for t in TASKS]
                    + ["N/A" if size == 1 else f"{POSTER_SPEEDUP[size]}%"])
    headers = ["tasks", "MWS", "MWP", "MWD", "avg speed-up"]
    common.print_table("Table 1: sequences of the task seen before held-out accuracy reached "
                       f"{args.threshold:g} (median over {len(args.seeds)} seeds [min–max])", headers, rows)
    plat = [[name] + [common.fmt(r.summary[t]["plateau_step"]) if t in r.summary else "" for t in TASKS]
            for name, r in results.items()]
    common.print_table("plateau length: steps until the held-out loss fell halfway from start to best",
                       ["arm", "MWS", "MWP", "MWD"], plat)
    figure = plot_losses(results, arms, os.path.join(out, "loss_vs_samples.png"))
    common.save_table(out, {
        "script": "task_diversity", "table1": table, "poster": POSTER, "poster_speedup": POSTER_SPEEDUP,
        "tables": {"table1": {"headers": headers, "rows": rows},
                   "plateau": {"headers": ["arm (plateau step)", "MWS", "MWP", "MWD"], "rows": plat}},
        "claims": claims(arms["mws"], results, table), "arms": common.arm_records(arms, results)}, figures=[figure])
    return results


if __name__ == "__main__":
    common.main_guard(main)
