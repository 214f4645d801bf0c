"""Write RESULTS.md, the claims ledger, from the table.json files the experiment scripts wrote.

Each claim script judges its own claims and writes them as rows of its
table.json (the claim, the poster's figure in the poster's unit, our setting,
our figure, the verdict and the rule that decided it); this script only
assembles them, with each script's tables, the speed table of bench.py and the
figures (copied next to RESULTS.md, into results/). Re-running it on the same
runs gives the same file.

A loss-plateau script (task_diversity, transfer, attention_map) runs at two
presets: the poster's configuration (its default, under <root>/<script>) and
the faster reduction (under <root>/<script>-fast). The ledger shows both: the
reduction's claims follow the default's, marked "(fast preset)", and the
script's section ends with each verdict at both and the reason where they
differ (regime-bound, contradicted, ...; see `reason`).

It never replaces a ledger with one that has fewer claims: if a claim of the
existing RESULTS.md would be missing (its runs are not under --root), it stops
with an error naming them, unless --force.
"""
import json
import os
import re
import shutil

import common  # first: it puts the repository root on sys.path
import runs

SCRIPTS = ("grok", "grok_weight_decay", "grok_multitask", "grok_init", "grok_phase", "grok_optimizer",
           "grok_interventions", "task_diversity", "transfer", "attention_map")
TITLES = {"grok": "Grokking baseline", "grok_weight_decay": "Weight decay", "grok_multitask": "Multi-task (division)",
          "grok_init": "Initialization", "grok_phase": "Init scale x weight decay: where the init claims hold",
          "grok_optimizer": "Optimizer", "grok_interventions": "Interventions side by side (and Grokfast)",
          "task_diversity": "Task diversity (Table 1)", "transfer": "Transfer", "attention_map": "Attention on the separator"}
VARIANTS = {script: [common.sequence_folder(script, preset) for preset in common.SEQUENCE_PRESETS if preset != "poster"]
            for script in common.SEQUENCE_SCRIPTS}  # script -> the folders of its other presets
LEDGER = re.compile(r"<!-- ledger: (\{.*\}) -->")


SHAPES = {"table.json": ("claims", ("id",)), "reproduce_timings.json": ("invocations", ("seconds",)),
          "bench.json": ("rows", ("case", "E", "engine_ms", "matmul_bound_ms", "ratio"))}


def load(root, script, name="table.json"):
    """A script's JSON output, its shape checked (a damaged file is one error line), or None."""
    path = os.path.normpath(os.path.join(root, script, name))
    return runs.read_json(path, *SHAPES[name]) if os.path.exists(path) else None


def _cell(text):
    """A table cell: a | inside it (as in |ΔW|) would end the cell."""
    return str(text).replace("|", "\\|")


def markdown(headers, rows):
    lines = ["| " + " | ".join(map(_cell, headers)) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows] + [""]


def old_ledger(path):
    """The ledger comment of an existing RESULTS.md: {"claims": {id: script}, "figures": [...]}
    ({} if it has none, None if there is no file)."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        match = LEDGER.search(f.read())
    try:
        return json.loads(match.group(1)) if match else {}
    except json.JSONDecodeError as error:
        raise runs.InputError(f"{path}: its ledger comment is not valid JSON ({error}); fix or delete "
                              "that line") from None


def figure_name(script, path):
    parent = os.path.basename(os.path.dirname(path))
    return f"{script}_{'main' if parent == script else parent}_{os.path.basename(path)}"


def remove_stale_figures(figure_dir, before, shown):
    """results/ shows what this ledger shows: a figure the previous ledger listed and this one does
    not goes (only those: results/ may hold other files)."""
    for name in set(before) - set(shown):
        path = os.path.join(figure_dir, os.path.basename(name))
        if os.path.exists(path):
            os.remove(path)


RANK = {"not reproduced": 0, "partly": 1, "reproduced": 2}


def reason(default, fast):
    """Why a claim's verdict at the poster's configuration and at the faster reduction differ (or not)."""
    a, b = RANK.get(default), RANK.get(fast)
    if a is None or b is None:
        return "no verdict to compare"
    if a == b:
        return "contradicted: fails at both configurations" if a == 0 else f"unchanged: {default} at both"
    if a > b:
        return f"regime-bound: {default} at the poster's configuration, {fast} at ours"
    return f"reduction-bound: {fast} only at our reduction, {default} at the poster's configuration"


def variant_claims(folder, table):
    """A reduction's claims, renamed so the ledger tells them from the default's."""
    preset = folder.rsplit("-", 1)[1]
    return [{**row, "id": f"{row['id']}:{preset}", "claim": f"{row['claim']} ({preset} preset)"}
            for row in table.get("claims", [])]


def comparison(default, variants):
    """One row per claim: its verdict at the poster's configuration, at each reduction, and why."""
    rows = []
    for row in default.get("claims", []):
        others = [next((c for c in v.get("claims", []) if c["id"] == row["id"]), None) for v in variants]
        verdicts = [c["verdict"] if c else "not run" for c in others]
        rows.append([row["claim"], row["verdict"], *verdicts, "; ".join(reason(row["verdict"], v) for v in verdicts)])
    return rows


def speed_section(bench):
    m = bench["machine"]
    where = f"{m.get('gpu') or m.get('processor')}, {m['backend']} {m.get('cupy') or m.get('numpy')}"
    lines = ["\n### Speed (experiments/bench.py)\n",
             f"{where}, {m['dtype']}, {m['cpu_count']} cores; medians over repeats; the bound is the same step's "
             "matrix products timed alone, hot in cache; 'products in the step' is the time the step itself spent "
             "in them; the Python overhead is the same step on tiny arrays.\n"]
    return lines + markdown(["case", "E", "engine ms/step", "matmul-bound ms", "engine / bound",
                             "products in the step ms", "Python overhead ms"],
                            [[r["case"], r["E"], f"{r['engine_ms']:.1f}", f"{r['matmul_bound_ms']:.1f}",
                              f"{r['ratio']:.2f}"] + [f"{r[k]:.2f}" if r.get(k) is not None else "—"
                                                      for k in ("matmuls_in_step_ms", "overhead_ms")]
                             for r in bench["rows"]])


def section(lines, folder, t, figure_dir):
    """Append one script's tables and figures (copied into figure_dir) to lines; return the figures' names."""
    copied = []
    for name, table in (t.get("tables") or {}).items():
        lines += markdown(table["headers"], table["rows"])
    for path in t.get("figures", []):
        src = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(common.ROOT, path)
        name = figure_name(folder, path)
        if os.path.exists(src):
            os.makedirs(figure_dir, exist_ok=True)
            shutil.copyfile(src, os.path.join(figure_dir, name))
        elif not os.path.exists(os.path.join(figure_dir, name)):
            continue  # no figure made (no matplotlib) and none from an earlier report: keep the old one
        lines += [f"![{folder}: {os.path.basename(path)}](results/{name})", ""]
        copied.append(name)
    return copied


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--root", default="runs", help="the folder the scripts wrote into (default: runs)")
    p.add_argument("--out", default="RESULTS.md", help="the ledger to write (default: RESULTS.md)")
    p.add_argument("--force", action="store_true", help="replace the ledger even if claims would go missing")
    args = p.parse_args(argv)
    if not os.path.isdir(args.root):
        raise runs.InputError(f"--root {args.root} is not a folder of runs; run experiments/reproduce.py first")
    folders = [f for script in SCRIPTS for f in [script] + VARIANTS.get(script, [])]
    tables = {folder: load(args.root, folder) for folder in folders}
    claims = [(folder, row) for folder in folders if tables[folder]
              for row in (tables[folder].get("claims", []) if folder in SCRIPTS
                          else variant_claims(folder, tables[folder]))]
    new_ids = {row["id"]: script for script, row in claims}
    before_ledger = old_ledger(args.out)
    before = None if before_ledger is None else before_ledger.get("claims", {})
    missing = sorted(set(before or {}) - set(new_ids))
    if missing and not args.force:
        scripts = sorted({before[c] for c in missing})
        raise runs.InputError(f"{args.out} has {len(missing)} claim(s) this report would drop ({', '.join(missing)}): "
                         f"no table.json of {', '.join(scripts)} under {args.root}/; run those scripts (or "
                         f"experiments/reproduce.py) first, or pass --force to replace the ledger anyway")
    if before is not None and not new_ids and not args.force:
        raise runs.InputError(f"no claims under {args.root}/, and {args.out} exists; run experiments/reproduce.py first")
    commits = sorted({t.get("commit", "unknown") for t in tables.values() if t})
    figure_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "results")
    lines = ["# Results: the claims ledger", "",  # the ledger comment goes here once the figures are known
             f"Generated by `python experiments/report.py` from the runs under `{args.root}/` (made by "
             f"`python experiments/reproduce.py`) at commit {', '.join(commits)}. Steps are optimizer updates; "
             "figures are median [min–max] over seeds. Memorised = first evaluation with train accuracy >= 95%, "
             "grokked = first with validation accuracy >= 95%. Each verdict follows the rule beside it, which "
             "the script that ran the experiment applies.", "",
             "| claim | poster (its unit) | our setting | ours | verdict | rule |", "|---|---|---|---|---|---|"]
    for _, c in claims:
        lines.append("| " + " | ".join(_cell(x) for x in (c["claim"], c["poster"], c["setting"], c["ours"],
                                                          f"**{c['verdict']}**", c["rule"])) + " |")
    notes = [f"- **{c['id']}**: {c['note']}" for _, c in claims if c.get("note")]
    lines += (["", "Notes:", ""] + notes) if notes else []
    copied = []
    for script in SCRIPTS:
        t = tables[script]
        lines.append(f"\n### {TITLES[script]}\n")
        if not t:
            lines.append(f"Not run for this ledger: `python experiments/reproduce.py --resume --only {script}` "
                         "adds it.\n")
            continue
        copied += section(lines, script, t, figure_dir)
        variants = [tables[f] or {} for f in VARIANTS.get(script, [])]
        for folder, v in zip(VARIANTS.get(script, []), variants):
            preset = common.SEQUENCE_PRESETS[folder.rsplit("-", 1)[1]]
            lines.append(f"#### {folder}: the faster reduction (D={preset['d_model']}, Adam lr {preset['lr']:g})\n")
            if v:
                copied += section(lines, folder, v, figure_dir)
            else:
                lines.append(f"Not run for this ledger: `python experiments/reproduce.py --resume --only {script}` "
                             "adds it.\n")
        if variants:
            lines.append("Each verdict at the poster's configuration and at the reduction: regime-bound = holds at "
                         "the poster's configuration, not at ours; contradicted = fails at both.\n")
            lines += markdown(["claim", "poster's configuration"] + VARIANTS[script] + ["reason"],
                              comparison(t, variants))
    lines[2:2] = [f"<!-- ledger: {json.dumps({'claims': new_ids, 'commits': commits, 'figures': copied})} -->", ""]
    timings = load(args.root, ".", "reproduce_timings.json")
    if timings:
        total = {}
        for invocation in timings["invocations"]:
            for script, seconds in invocation["seconds"].items():
                total[script] = total.get(script, 0.0) + seconds
        lines += ["\n### Run times (experiments/reproduce.py)\n",
                  "Wall time per script on this machine, summed over every reproduce.py invocation recorded in "
                  f"{args.root}/reproduce_timings.json (a script stopped and resumed adds up; arms run "
                  "one by one from `reproduce.py --list` are not timed).\n"] + markdown(["script", "wall time"],
                                                   [[k, runs.format_seconds(v).strip()] for k, v in total.items()])
    bench = load(args.root, "bench", "bench.json")
    if bench:
        lines += speed_section(bench)
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    except OSError as error:
        raise runs.InputError(f"cannot write {args.out} ({error.strerror})") from None
    remove_stale_figures(figure_dir, (before_ledger or {}).get("figures", []), copied)
    common.say(f"wrote {args.out} ({len(claims)} claims, {len(copied)} figures in {figure_dir})")


if __name__ == "__main__":
    common.main_guard(main)
