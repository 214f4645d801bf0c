"""Write RESULTS.md, the claims ledger, from the table.json files the experiment scripts wrote.

Each claim script judges its own claims and writes them as rows of its
table.json (the claim, the poster's figure in the poster's unit, our setting,
our figure, the verdict and the rule that decided it); this script only
assembles them, with each script's tables, the speed table of bench.py and the
figures (copied next to RESULTS.md, into results/). Re-running it on the same
runs gives the same file.

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

SCRIPTS = common.CLAIM_SCRIPTS
TITLES = {"grok_delay": "Our regime against the poster's: how the grokking delay scales",
          "grok": "Grokking baseline", "grok_weight_decay": "Weight decay", "grok_multitask": "Multi-task (division)",
          "grok_init": "Initialization", "grok_phase": "Init scale x weight decay: where the init claims hold",
          "grok_optimizer": "Optimizer", "grok_interventions": "Interventions side by side (and Grokfast)",
          "task_diversity": "Task diversity (Table 1)", "transfer": "Transfer", "attention_map": "Attention on the separator"}
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


def previous_ledger(path, ledger):
    """What an existing RESULTS.md shows per script, so that a script whose runs are not under --root
    keeps its rows, notes and section as they were: {script: {"rows", "notes", "section"}}, plus the
    "Run times" and "Speed" sections under those names. Rows are matched to claim ids by their order
    in the ledger comment (the order the rows were written in)."""
    if not ledger or not ledger.get("claims"):
        return {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if "|---|---|---|---|---|---|" not in lines:
        return {}  # nothing to carry over: a claim that would go missing is refused below
    start = lines.index("|---|---|---|---|---|---|") + 1
    rows = []
    while start < len(lines) and lines[start].startswith("| "):
        rows.append(lines[start])
        start += 1
    ids = list(ledger["claims"])
    if len(rows) != len(ids):
        return {}  # rows and ids do not match: carry nothing rather than the wrong rows
    out = {}
    for cid, row in zip(ids, rows):
        entry = out.setdefault(ledger["claims"][cid], {"rows": [], "notes": [], "section": []})
        entry["rows"].append(row)
        entry["notes"] += [line for line in lines if line.startswith(f"- **{cid}**: ")]
    sections, current = {}, None
    for line in lines[start:]:
        if line.startswith("### "):
            current = line[4:].split(" (experiments/")[0]
            sections[current] = []
        if current is not None:
            sections[current].append(line)
    for script, entry in out.items():
        entry["section"] = sections.get(TITLES.get(script), [])
    for name in ("Run times", "Speed"):
        if name in sections:
            out[name] = {"section": sections[name]}
    return out


def reason_line(claim, reasons):
    """The reason another script (grok_delay's slow rung) gives for a claim that did not reproduce."""
    text = reasons.get(claim["id"])
    return f"Reason: {text}." if text and claim["verdict"] != "reproduced" else ""


def carried_figures(section):
    """The figures (results/NAME) a carried-over section shows."""
    return [m for line in section for m in re.findall(r"\]\(results/([^)]+)\)", line)]


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


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--root", default="runs", help="the folder the scripts wrote into (default: runs)")
    p.add_argument("--out", default="RESULTS.md", help="the ledger to write (default: RESULTS.md)")
    p.add_argument("--force", action="store_true", help="replace the ledger even if claims would go missing")
    args = p.parse_args(argv)
    if not os.path.isdir(args.root):
        raise runs.InputError(f"--root {args.root} is not a folder of runs; run experiments/reproduce.py first")
    tables = {script: load(args.root, script) for script in SCRIPTS}
    claims = [(script, row) for script in SCRIPTS if tables[script] for row in tables[script].get("claims", [])]
    new_ids = {row["id"]: script for script, row in claims}
    before_ledger = old_ledger(args.out)
    before = None if before_ledger is None else before_ledger.get("claims", {})
    # A script whose runs are not under --root keeps what the existing ledger shows of it (unless --force).
    previous = {} if args.force else previous_ledger(args.out, before_ledger)
    carried = [script for script in SCRIPTS if not tables[script] and script in previous]
    for script in carried:
        new_ids.update({cid: s for cid, s in before.items() if s == script})
    new_ids = {cid: new_ids[cid] for script in SCRIPTS for cid in list(new_ids) if new_ids[cid] == script}
    missing = sorted(set(before or {}) - set(new_ids))
    if missing and not args.force:
        scripts = sorted({before[c] for c in missing})
        raise runs.InputError(f"{args.out} has {len(missing)} claim(s) this report would drop ({', '.join(missing)}): "
                         f"no table.json of {', '.join(scripts)} under {args.root}/; run those scripts (or "
                         f"experiments/reproduce.py) first, or pass --force to replace the ledger anyway")
    if before is not None and not new_ids and not args.force:
        raise runs.InputError(f"no claims under {args.root}/, and {args.out} exists; run experiments/reproduce.py first")
    commits = sorted({t.get("commit", "unknown") for t in tables.values() if t}
                     | set((before_ledger or {}).get("commits", []) if carried else []))
    figure_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "results")
    lines = ["# Results: the claims ledger", "",  # the ledger comment goes here once the figures are known
             f"Generated by `python experiments/report.py` from the runs under `{args.root}/` (made by "
             f"`python experiments/reproduce.py`) at commit {', '.join(commits)}. Steps are optimizer updates; "
             "figures are median [min–max] over seeds. Memorised = first evaluation with train accuracy >= 95%, "
             "grokked = first with validation accuracy >= 95%. Each verdict follows the rule beside it, which "
             "the script that ran the experiment applies.", "",
             "| claim | poster (its unit) | our setting | ours | verdict | rule |", "|---|---|---|---|---|---|"]
    reasons = {cid: text for t in tables.values() if t for cid, text in (t.get("reasons") or {}).items()}
    notes = []
    for script in SCRIPTS:
        if script in carried:
            lines += previous[script]["rows"]
            notes += previous[script]["notes"]
            for cid, row in zip([c for c, s in before.items() if s == script], previous[script]["rows"]):
                reason = reason_line({"id": cid, "verdict": "reproduced" if "| **reproduced** |" in row else ""},
                                     reasons)
                mine = [i for i, n in enumerate(notes) if n.startswith(f"- **{cid}**: ")]
                if reason and mine and "Reason: " not in notes[mine[0]]:
                    notes[mine[0]] += " " + reason
                elif reason and not mine:
                    notes.append(f"- **{cid}**: {reason}")
            continue
        for c in (tables[script] or {}).get("claims", []):
            lines.append("| " + " | ".join(_cell(x) for x in (c["claim"], c["poster"], c["setting"], c["ours"],
                                                              f"**{c['verdict']}**", c["rule"])) + " |")
            note = " ".join(x for x in (c.get("note"), reason_line(c, reasons)) if x)
            notes += [f"- **{c['id']}**: {note}"] if note else []
    lines += (["", "Notes:", ""] + notes) if notes else []
    copied = []
    for script in SCRIPTS:
        t = tables[script]
        if script in carried:
            section = previous[script]["section"]
            lines += section[:1] + ["", f"(Carried over from the previous ledger: the runs of {script}.py are "
                                        f"not under `{args.root}/`.)"] + section[1:]
            copied += carried_figures(section)
            continue
        lines.append(f"\n### {TITLES[script]}\n")
        if not t:
            lines.append(f"Not run for this ledger: `python experiments/reproduce.py --resume --only {script}` "
                         "adds it.\n")
            continue
        for name, table in (t.get("tables") or {}).items():
            lines += markdown(table["headers"], table["rows"])
        for path in t.get("figures", []):
            src = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(common.ROOT, path)
            name = figure_name(script, path)
            if os.path.exists(src):
                os.makedirs(figure_dir, exist_ok=True)
                shutil.copyfile(src, os.path.join(figure_dir, name))
            elif not os.path.exists(os.path.join(figure_dir, name)):
                continue  # no figure made (no matplotlib) and none from an earlier report: keep the old one
            lines += [f"![{script}: {os.path.basename(path)}](results/{name})", ""]
            copied.append(name)
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
    elif "Run times" in previous:
        lines += previous["Run times"]["section"]
    bench = load(args.root, "bench", "bench.json")
    if bench:
        lines += speed_section(bench)
    elif "Speed" in previous:
        lines += previous["Speed"]["section"]
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    except OSError as error:
        raise runs.InputError(f"cannot write {args.out} ({error.strerror})") from None
    remove_stale_figures(figure_dir, (before_ledger or {}).get("figures", []), copied)
    common.say(f"wrote {args.out} ({len(new_ids)} claims ({len(new_ids) - len(claims)} carried over), {len(copied)} figures in {figure_dir})")


if __name__ == "__main__":
    common.main_guard(main)
