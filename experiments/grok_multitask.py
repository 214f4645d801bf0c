"""Training several operations together groks division sooner.

Claim (poster): training all four operations at once reaches grokking ~18x
sooner than division alone. That 18x is in % of a training budget that grows
with the number of tasks (83.5% of 400,000 steps vs ~4.7% of 4 x 400,000; the
18x is approximate: 83.5 / 4.7 = 17.8), i.e. 334,000 -> ~75,200 raw steps:
~4.4x in steps.

Arms: division alone; division + each other op; all four (batch 512 drawn from
the union of the training halves, so division gets about 1/k of each batch).
We report division's grokked step three ways: raw steps, division examples
seen (steps x batch x division's share of the pool), and the poster's unit,
% of a budget of --steps per task. 3 seeds, at most 6,000 steps per arm (twice
division's grokking time alone): an arm that has not grokked division by then
is reported with its final accuracy.
Every knob of grok.py is a flag here too.

Run times: RESULTS.md ("Run times").
"""
import dataclasses

import common
import tasks


def division_share(ops, p):
    """Share of the training pool that is division (tables differ in size: b != 0)."""
    sizes = {op: tasks.table_size(op, p) for op in ops}
    return sizes["div"] / sum(sizes.values())


def units(arms, results, steps_budget):
    """Division's grokked step in raw steps, examples seen and % of the task-scaled budget."""
    rows = []
    for name, r in results.items():
        cfg, med = arms[name], r.summary["div"]["grokked_step"]["median"]
        share = division_share(cfg.ops, cfg.p)
        rows.append({"arm": name, "tasks": len(cfg.ops), "grokked_step": med,
                     "division_examples_seen": None if med is None else med * cfg.batch_size * share,
                     "percent_of_budget": None if med is None else 100 * med / (steps_budget * len(cfg.ops))})
    return rows


def claims(arms, results, rows):
    by = {r["arm"]: r for r in rows}
    one, four = by["div"], by["all-four"]
    ratio = lambda k: one[k] / four[k] if one[k] and four[k] else None
    steps_x, examples_x, budget_x = ratio("grokked_step"), ratio("division_examples_seen"), ratio("percent_of_budget")
    f = lambda x: "n/a" if x is None else f"{x:.2f}x"
    s4 = results["all-four"].summary["div"]
    return [common.claim(
        "multitask", "All four operations together grok division sooner",
        "18x in % of a task-scaled budget (83.5% -> ~4.7%); ~4.4x in raw steps (334,000 -> ~75,200)",
        common.setting(arms["div"]) + "; budget unit: --steps per task",
        f"division alone {common.fmt_steps(results['div'].summary['div']['grokked_step'])}, all four "
        f"{common.fmt_steps(s4['grokked_step'])} ({s4['n_grokked']}/{len(s4['members'])} seeds; final val acc "
        f"{common.fmt(s4['final_val_acc'], 3)}): {f(steps_x)} in raw steps, {f(examples_x)} in division examples "
        f"seen, {f(budget_x)} in % of budget",
        common.verdict(steps_x is not None and steps_x > 1, partly=budget_x is not None and budget_x > 1),
        "reproduced if sooner in raw steps (medians); partly if only in the poster's budget unit",
        note=pairs_note(by, results))]


def pairs_note(by, results):
    """What the two-operation arms did: which pair helps division, which never lets it grok."""
    parts = []
    alone = by["div"]["grokked_step"]
    for arm in ("div-add", "div-sub", "div-mul"):
        s, pair = results[arm].summary["div"], by[arm]["grokked_step"]
        text = f"{arm}: {s['n_grokked']}/{len(s['members'])} seeds grokked division"
        if pair:
            text += f" at {common.fmt_steps(s['grokked_step'])}"
            if alone:
                x = alone / pair
                text += f" ({x:.2f}x sooner in raw steps)" if x >= 1 else f" ({1 / x:.2f}x later in raw steps)"
        else:
            text += (f" (memorised step {common.fmt(s['memorized_step'])}, final val acc "
                     f"{common.fmt(s['final_val_acc'], 2)})")
        parts.append(text)
    return "Pairs: " + "; ".join(parts) + "."


def main(argv=None):
    p = common.grok_parser(__doc__, steps=6000)
    common.refuse(p, ["--ops"], "the arms are division alone, with each other op, and all four")
    args = common.parse(p, argv)
    out = common.out_folder(args, "grok_multitask")
    base = common.grok_config(args, argv, ops=("div",))
    arms = {"div": base}
    for other in ("add", "sub", "mul"):
        arms[f"div-{other}"] = dataclasses.replace(base, ops=("div", other))
    arms["all-four"] = dataclasses.replace(base, ops=("div", "add", "sub", "mul"))
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    rows = units(arms, results, base.steps)
    tables = common.grok_tables(arms, results, baseline="div", ops=["div"])
    headers = ["arm", "tasks", "grokked step", "division examples seen", "% of budget (steps x tasks)"]
    cells = [[r["arm"], r["tasks"], common.number(r["grokked_step"]), common.number(r["division_examples_seen"]),
              common.number(r["percent_of_budget"], 1)] for r in rows]
    common.print_table("division in three units (median over seeds)", headers, cells)
    tables["units"] = {"headers": headers, "rows": cells}
    common.save_table(out, {"script": "grok_multitask", "tables": tables, "units": rows,
                            "claims": claims(arms, results, rows), "arms": common.arm_records(arms, results)},
                      figures=[common.curves(results["all-four"])])
    return results


if __name__ == "__main__":
    common.main_guard(main)
