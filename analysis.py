"""Reading a training history: when each member memorised, grokked or converged, and
medians over members and over the settings of a grid.

A history is a list of rows, one per (step, member, task, split) evaluation, as
plateau.train returns it and history.csv stores it. Nothing here trains or
writes files; the training loop (plateau.py), the run folders (runs.py) and the
experiment scripts read their tables from here.

One convention runs through every figure: a member that never reached a goal
within its step budget has the step None, and None counts as *later than any
step* (`later`): a median or a maximum that falls on such a member is None too,
printed "never".
"""
import math

import numpy as np

import tasks


def later(step):
    """A step for comparisons: None (never reached within the budget) is later than any step."""
    return math.inf if step is None else step


def median_range(values):
    """(median, min, max) over members, where None (never reached) counts as later than
    any step: a median or max that falls on such a member is None too."""
    if not len(values):
        return None, None, None  # no members: nothing reached
    steps = np.array([later(v) for v in values], dtype=float)
    finite = lambda x: None if not np.isfinite(x) else float(x)
    return finite(np.median(steps)), finite(steps.min()), finite(steps.max())


def member_stats(members, keys):
    """{key: {"median", "min", "max"}} over the members' summaries."""
    return {key: dict(zip(("median", "min", "max"), median_range([m[key] for m in members]))) for key in keys}


def group_stats(members, keys):
    """One group of members (an arm, a grid cell): {members, n_grokked, key: {median, min, max}}."""
    return {"members": members, "n_grokked": sum(m["grokked_step"] is not None for m in members),
            **member_stats(members, keys)}


def most_grokked(group):
    """Whether most of a group's members grokked (more than half: its median grokked step is a step)."""
    return group["n_grokked"] * 2 > len(group["members"])


def per_setting(summary, n_seeds, keys):
    """A grid run's per-member summary grouped by setting (member m has setting m // n_seeds):
    [group_stats of each setting's members]."""
    members = summary["members"]
    return [group_stats(members[i:i + n_seeds], keys) for i in range(0, len(members), n_seeds)]


def rows_of(history, member, task, split):
    return [r for r in history if r["member"] == member and r["task"] == task and r["split"] == split]


def first_step(history, member, task, split, test):
    """The first evaluated step at which `test(row)` holds, or None."""
    return next((r["step"] for r in rows_of(history, member, task, split) if test(r)), None)


def collapses(train_acc, threshold):
    """How often training accuracy fell below 50% after having reached `threshold`
    (memorised): one count per fall, however long it stayed down."""
    count, up = 0, False
    for acc in train_acc:
        if acc >= threshold:
            up = True
        elif up and acc < 0.5:
            count, up = count + 1, False
    return count


def goal_held(history, cfg, task_names, split):
    """Whether every member's last `patience` evaluations of every task reached the threshold."""
    need = cfg.patience
    return all(len(rows := rows_of(history, e, task, split)) >= need and
               all(r["acc"] >= cfg.threshold for r in rows[-need:])
               for e in range(len(cfg.seeds)) for task in task_names)


# ---------------------------------------------------------------------------
# Grokking: memorised (train accuracy >= threshold), grokked (validation), the delay between.

def grok_member(cfg, history, e, op):
    reach = lambda split: first_step(history, e, op, split, lambda r: r["acc"] >= cfg.threshold)
    memorized, grokked = reach("train"), reach("val")
    val_rows, train_rows = rows_of(history, e, op, "val"), rows_of(history, e, op, "train")
    val = [r["acc"] for r in val_rows]
    if not val or not train_rows:
        raise ValueError(f"the history has no {op} rows for member {e}: nothing to summarize")
    after = [r["acc"] for r in val_rows if grokked is not None and r["step"] >= grokked]
    return dict(seed=cfg.seeds[e], memorized_step=memorized, grokked_step=grokked,
                delay=None if memorized is None or grokked is None else grokked - memorized,
                final_val_acc=val[-1], best_val_acc=max(val), final_train_acc=train_rows[-1]["acc"],
                stability=min(after[-cfg.patience:]) if after else None,
                collapses=collapses([r["acc"] for r in train_rows], cfg.threshold),
                diverged_step=first_step(history, e, op, "train", lambda r: not math.isfinite(r["loss"])))


def grok_summary(cfg, history):
    out = {}
    for op in cfg.ops:
        members = [grok_member(cfg, history, e, op) for e in range(len(cfg.seeds))]
        out[op] = group_stats(members, ("memorized_step", "grokked_step", "delay", "final_val_acc", "collapses"))
    return out


# ---------------------------------------------------------------------------
# Loss plateau: converged (held-out token accuracy >= threshold) and the plateau's length.

def sequence_member(cfg, history, e, task, per_step):
    rows = rows_of(history, e, task, "heldout")
    if not rows:
        raise ValueError(f"the history has no {task} rows for member {e}: nothing to summarize")
    converged = first_step(history, e, task, "heldout", lambda r: r["acc"] >= cfg.threshold)
    start, final = rows[0]["loss"], min(r["loss"] for r in rows)
    # Plateau length: steps until the loss first falls below halfway from start to best
    # (None, like converged, for a member that never left the plateau).
    level = final + 0.5 * (start - final)
    plateau = None if converged is None else first_step(history, e, task, "heldout", lambda r: r["loss"] < level)
    return dict(seed=cfg.seeds[e], converged_step=converged,
                samples_to_converge=None if converged is None else converged * per_step,
                plateau_step=plateau, final_loss=rows[-1]["loss"], final_acc=rows[-1]["acc"])


def sequence_summary(cfg, history):
    counts = tasks.split_batch(cfg.batch_size, cfg.tasks)  # sequences of each task per step
    out = {}
    for task in cfg.tasks:
        members = [sequence_member(cfg, history, e, task, counts[task]) for e in range(len(cfg.seeds))]
        out[task] = {"members": members, "sequences_per_step": counts[task],
                     "n_converged": sum(m["converged_step"] is not None for m in members),
                     **member_stats(members, ("converged_step", "samples_to_converge", "plateau_step", "final_acc"))}
    return out


def summarize(cfg, history):
    """Per task: each member's figures and their median [min, max] (see grok_member, sequence_member)."""
    return grok_summary(cfg, history) if hasattr(cfg, "ops") else sequence_summary(cfg, history)


def progress(cfg, rows):
    """One evaluation's medians over members, for the progress line."""
    med = lambda key, task, split: np.median([r[key] for r in rows if r["task"] == task and r["split"] == split])
    if hasattr(cfg, "ops"):
        return "  ".join(f"{op} train {med('acc', op, 'train'):.2f} val {med('acc', op, 'val'):.2f}"
                         for op in cfg.ops)
    return "  ".join(f"{t} loss {med('loss', t, 'heldout'):.3f} acc {med('acc', t, 'heldout'):.3f}"
                     for t in cfg.tasks)
