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
with an error naming them, unless --force. Smoke runs (--quick, as their run
folders record) never go into the committed RESULTS.md (nor through a link to
it), and into another ledger only with --force. Each claim names the commit(s)
its runs were trained at. The ledger and its figures are written under
temporary names and then moved into place: all of them, or nothing. A figure a
run could not draw (no matplotlib: null in its table.json) keeps the one the
earlier ledger showed, so results/ never loses a figure to a missing library.
"""
import contextlib
import glob
import json
import os
import re
import shutil

import common  # first: it puts the repository root on sys.path
import plateau
import runs

SCRIPTS = common.CLAIM_SCRIPTS
TITLES = {"grok_delay": "Our regime against the poster's: how the grokking delay scales",
          "grok": "Grokking baseline", "grok_weight_decay": "Weight decay", "grok_multitask": "Multi-task (division)",
          "grok_init": "Initialization", "grok_phase": "Init scale x weight decay: where the init claims hold",
          "grok_optimizer": "Optimizer", "grok_interventions": "Interventions side by side (and Grokfast)",
          "task_diversity": "Task diversity (Table 1)", "transfer": "Transfer", "attention_map": "Attention on the separator"}
VARIANTS = {script: [common.sequence_folder(script, preset) for preset in common.SEQUENCE_PRESETS if preset != "poster"]
            for script in common.SEQUENCE_SCRIPTS}  # script -> the folders of its other presets
CARRIED = "(Carried over from the previous ledger"  # the note on a section a report did not remake
FOLDERS = [f for script in SCRIPTS for f in [script] + VARIANTS.get(script, [])]  # scripts and their presets
LEDGER = re.compile(r"<!-- ledger: (\{.*\}) -->")


CLAIM_KEYS = ("id", "claim", "poster", "setting", "ours", "verdict", "rule")  # what a ledger row reads
SHAPES = {"table.json": ("claims", CLAIM_KEYS), "reproduce_timings.json": ("invocations", ("seconds",)),
          "bench.json": ("rows", ("case", "E", "engine_ms", "matmul_bound_ms", "ratio"))}


def load(root, script, name="table.json"):
    """A script's JSON output, its shape checked (a damaged file is one error line), or None."""
    path = os.path.normpath(os.path.join(root, script, name))
    if not os.path.exists(path):
        return None
    remedy = {"table.json": lambda: f"run {rerun(root, script)}",
              "bench.json": lambda: f"run `{bench_command(path, None)}` again",
              "reproduce_timings.json": lambda: "delete it (only run times are lost)"}[name]()
    value = runs.read_json(path, *SHAPES[name], remedy=remedy)
    if name == "table.json":
        check_table(value, path, script_and_preset(script)[0])
    return value


def check_table(table, path, script):
    """What a ledger reads of a table.json beyond its rows' keys: the script of its folder, at least
    one claim, each id once, each verdict one of common.VERDICTS, its arms by name, its figures a
    list, its quick flag a bool, and each of its tables headers (text) and rows as wide."""
    claims, tables = table["claims"], table.get("tables", {})
    shaped = lambda t: isinstance(t, dict) and isinstance(t.get("headers"), list) and isinstance(t.get("rows"), list) \
        and all(isinstance(h, str) for h in t["headers"]) and isinstance(t.get("title", ""), str) \
        and all(isinstance(r, list) and len(r) == len(t["headers"]) for r in t["rows"])
    ids = [c["id"] for c in claims]
    text_ids = all(isinstance(i, str) and i for i in ids)
    twice = sorted({i for i in ids if ids.count(i) > 1}) if text_ids else []
    if table.get("script") != script:  # no command mends that: the folder is another script's
        raise runs.InputError(f"{path} is the table of {table.get('script')!r}, not of {script}: move its folder "
                              f"to one named after its script, or run {script} into another --root")
    checks = [(not claims, "it has no claims"),
              (not text_ids, "a claim id is not text"),
              (twice, f"claim id {twice[0] if twice else ''!r} appears twice"),
              (any(c["verdict"] not in common.VERDICTS for c in claims),
               f"a verdict is not one of {', '.join(common.VERDICTS)}"),
              (not all(isinstance(c[k], str) for c in claims for k in CLAIM_KEYS), "a claim's field is not text"),
              (not isinstance(table.get("arms", {}), dict), "'arms' is not an object of arm names"),
              (not isinstance(table.get("figures", []), list), "'figures' is not a list"),
              (not isinstance(table.get("quick", False), bool), "'quick' is not true or false"),
              (not (isinstance(tables, dict) and all(map(shaped, tables.values()))),
               "'tables' is not an object of tables, each with text headers and rows as wide")]
    problem = next((what for bad, what in checks if bad), None)
    if problem:
        raise runs.InputError(f"{path} is damaged: {problem}; run {rerun(*os.path.split(os.path.dirname(path)))}")


def check_ledger_place(path, root, flag):
    """A ledger is never written where the scripts write their runs: the root itself, or a folder
    of a script, bench or logs under it (it would replace a run's table.json, say). And only the
    committed RESULTS.md puts its figures into the committed results/ (a ledger's figures go into
    results/ beside it): another ledger there, or inside results/, would mix with the committed figures."""
    inside = os.path.relpath(os.path.realpath(path), os.path.realpath(root)).split(os.sep)[0]
    if inside in (".", *FOLDERS, "bench", "logs"):
        where = "is the --root folder" if inside == "." else f"is inside {os.path.join(root, inside)}"
        raise runs.InputError(f"{flag} {path} {where}, where the scripts write their runs; give a file outside it")
    figures = os.path.join(os.path.dirname(os.path.realpath(path)), "results")
    committed = os.path.realpath(os.path.join(common.ROOT, "results"))
    if not is_committed_ledger(path) and runs.within(os.path.realpath(figures), committed):  # beside it, or in it
        raise runs.InputError(f"{flag} {path} would put its figures into {committed}, the committed "
                              "ledger's; give a file in another folder")


def script_and_preset(folder):
    """A folder under --root as (its script, the preset of a reduction's folder or '')."""
    script, _, preset = folder.partition("-")
    return script, preset


# Said after a command rebuilt for runs that did not record their flags (made before made_by did).
UNRECORDED = (" (add any flags those runs were trained with beyond these: no readable file of theirs records "
              "them, as runs from before flags were recorded do not; a readable config.json holds every setting)")


def rerun(root, folder):
    """The command that remakes a script's folder under --root, as its runs record it: their
    script and the flags of the command that trained them (made_by in an arm's config.json, or in
    its summary.json where config.json is the damaged file), with --out that folder and
    --resume (finished arms are reused). For runs from before flags were recorded: the folder's
    script, --preset for a reduction's folder, --quick where they were smoke runs, and a word that
    any other flags that trained them must be added (nothing recorded them)."""
    script, preset = script_and_preset(folder)
    words, unrecorded = ["--preset", preset] * bool(preset), True  # until a file is found that records them
    arms = glob.glob(os.path.join(root, folder, "*", ""))
    with contextlib.suppress(runs.InputError, AttributeError, TypeError):  # the arms its table names, where it is readable
        named = runs.read_json(os.path.join(root, folder, "table.json")).get("arms") or {}
        arms = [a for a in arms if os.path.basename(os.path.dirname(a)) in named] or arms
    # The newest arm first: an arm left from earlier flags, or reused from an earlier command, has older files.
    arms.sort(key=lambda a: max((os.path.getmtime(os.path.join(a, n)) for n in ("config.json", "summary.json")
                                 if os.path.isfile(os.path.join(a, n))), default=0), reverse=True)
    for config in [os.path.join(a, n) for n in ("config.json", "summary.json") for a in arms]:  # a damaged one: the other
        if not os.path.exists(config):
            continue
        with contextlib.suppress(runs.InputError, AttributeError, TypeError):
            made = runs.read_json(config).get("made_by", {})
            if isinstance(made.get("flags"), list) and all(isinstance(w, str) for w in made["flags"]):
                script, words, unrecorded = made.get("script") or script, made["flags"], False
                break
            words += ["--quick"] * (made.get("quick") is True and "--quick" not in words)
    line = common.shell_line(["python", common.script_path(script), *words, "--out", os.path.join(root, folder),
                              "--resume"])
    return f"`{line}`" + (UNRECORDED if unrecorded else "")


def reproduce_command(args, *words, resume=False):
    """The chain that makes a ledger's runs: reproduce.py into its --root, writing its --out (with
    `words` after, --resume before)."""
    return common.shell_line(["python", common.script_path("reproduce"), *["--resume"] * resume, "--root", args.root,
                              "--results", args.out, *words])


def is_committed_ledger(path):
    """Whether `path` is (or links to) the committed RESULTS.md: real paths are compared."""
    return os.path.realpath(path) == os.path.realpath(os.path.join(common.ROOT, "RESULTS.md"))


def made_by(root, script, table):
    """(commits, smoke) of a script's runs, as its run folders recorded them (summary.json's
    made_by); the table's own commit for runs made before run folders recorded it."""
    commits, smoke = [], table.get("quick") is True
    for arm in table.get("arms", {}):
        path = os.path.join(root, script, arm, "summary.json")
        if not os.path.isfile(path):  # then nothing tells whether it was a smoke run: never guess
            raise runs.InputError(f"{os.path.join(root, script, 'table.json')} names arm {arm!r}, whose run "
                                  f"{path} is missing or not a file: run {rerun(root, script)}")
        summary = runs.read_json(path, remedy=f"delete the run folder {os.path.dirname(path)}, then run "
                                              f"{rerun(root, script)} to train it again")
        record = summary.get("made_by") if isinstance(summary, dict) else None
        if isinstance(record, dict):
            commits += [c for c in record.get("commits", []) if isinstance(c, str) and c not in commits]
            smoke = smoke or bool(record.get("quick"))
    return commits or [str(table.get("commit", "unknown"))], smoke


def _cell(text):
    """A table cell: a | inside it (as in |ΔW|) would end the cell."""
    return str(text).replace("|", "\\|")


def markdown(headers, rows):
    lines = ["| " + " | ".join(map(_cell, headers)) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows] + [""]


def old_ledger(path, flag="--out"):
    """The ledger comment of an existing RESULTS.md: {"claims": {id: script}, "figures": [...]}
    (None if there is no file; a file without one is refused, as is a ledger whose figures'
    folder, results/ beside it, is a file)."""
    figure_dir = os.path.join(os.path.dirname(os.path.realpath(path)), "results")
    if os.path.lexists(figure_dir) and not os.path.isdir(figure_dir):
        raise runs.InputError(f"{flag} {path}: its figures go into {figure_dir}, which is a file, not a folder; "
                              f"give another {flag}")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            match = LEDGER.search(f.read())
    except UnicodeDecodeError:
        match = None
    if not match:  # a file of the user's (a figure, a test, notes) is never replaced by a ledger
        raise runs.InputError(f"{path} exists and is no ledger that report.py wrote (it has no ledger comment); "
                              f"give another {flag}, or delete that file first")
    try:
        return json.loads(match.group(1))
    except json.JSONDecodeError as error:
        raise runs.InputError(f"{path}: its ledger comment is not valid JSON ({error}); fix that line, or delete "
                              "the file (a ledger without its comment is refused as no ledger), or give another "
                              f"{flag}") from None


def previous_ledger(path, ledger):
    """What an existing RESULTS.md shows per script, so that a script whose runs are not under --root
    keeps its rows, notes and section as they were: {script: {"rows", "notes", "section"}}, plus the
    "Run times" and "Speed" sections under those names. Rows are matched to claim ids by their order
    in the ledger comment (the order the rows were written in)."""
    if not ledger or not ledger.get("claims"):
        return {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    rulers = [i for i, line in enumerate(lines) if line.startswith("|---|---|---|---|---|---|")]
    if not rulers:
        return {}  # nothing to carry over: a claim that would go missing is refused below
    start = rulers[0] + 1
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
            current = line[4:].split(" (experiments/")[0].strip()
            sections[current] = []
        if current is not None and not line.startswith(CARRIED):  # the note is written afresh each time
            sections[current].append(line)
    for name, section in sections.items():  # no blank lines at the end: each report adds its own
        while section and not section[-1].strip():
            section.pop()
    for script, entry in out.items():
        entry["section"] = sections.get(TITLES.get(script), [])
    for name in ("Run times", "Speed"):
        if name in sections:
            out[name] = {"section": sections[name]}
    if "## Our regime against the poster's" in lines:  # the opening section, up to the claims table
        first = lines.index("## Our regime against the poster's")
        out["regime"] = {"section": lines[first:rulers[0] - 1]}
    return out


def reason_line(claim, reasons):
    """The reason another script (grok_delay's slow rung) gives for a claim that did not reproduce."""
    text = reasons.get(claim["id"])
    return f"Reason: {text}." if text and claim["verdict"] != "reproduced" else ""


def carried_figures(section):
    """The figures (results/NAME) a carried-over section shows."""
    return [m for line in section for m in re.findall(r"\]\(results/([^)]+)\)", line)]


# What each kind of figure draws, for its alt text in the ledger (a reader who cannot see it, or
# whose page failed to load it, still learns what it shows). Keyed by the file name a script gives it.
FIGURE_SHOWS = {
    "curves.png": "training (dotted) and validation (solid) accuracy against the step, a colour per seed or "
                  "setting; circles mark memorised steps, stars grokked steps",
    "delay_law.png": "the grokking delay against 1/(lr x weight decay), log-log, a point per seed, with the laws "
                     "fitted to them and their predictions at the poster's weight decay",
    "phase.png": "heat maps over init scale x weight decay of the memorised step, grokked step, delay and final "
                 "accuracies, medians over seeds",
    "loss_vs_samples.png": "held-out loss against each task's sequences seen, alone and mixed: the median over "
                           "seeds, the band their range",
    "finetune_vs_scratch.png": "held-out loss of fine-tuned and from-scratch runs against the step, a line per seed",
    "attention_maps.png": "mean |attention| of one seed, query position against key position, a panel per task; "
                          "the separator's share, which the verdict reads, is in the table above, and the brightest "
                          "cells need not be its column",
}


def alt_text(script, name):
    """'<script>: <file>: what it shows' (see FIGURE_SHOWS; the file name alone for another kind)."""
    shows = next((what for kind, what in FIGURE_SHOWS.items() if name.endswith("_" + kind)), None)
    return f"{script}: {name}" + (f": {shows}" if shows else "")


def figure_name(script, path):
    parent = os.path.basename(os.path.dirname(path))
    return f"{script}_{'main' if parent == script else parent}_{os.path.basename(path)}"


def figure_source(root, script, path):
    """Where a figure that table.json names is now: a .png in the table's own folder or one of its
    arms' folders, wherever the runs were made (a moved runs/ keeps its figures); None if absent.
    Nothing outside that folder is ever copied into results/."""
    if not isinstance(path, str) or not path.endswith(".png"):
        raise runs.InputError(f"{os.path.join(root, script, 'table.json')} is damaged: its figure {path!r} is not "
                              f"a .png file; run {rerun(root, script)}")
    base, parent, name = os.path.join(root, script), os.path.basename(os.path.dirname(path)), os.path.basename(path)
    arm = os.path.join(base, parent)
    place = os.path.join(arm, name) if os.path.isdir(arm) else os.path.join(base, name)  # an arm's, or the table's own
    found = [place] if os.path.isfile(place) else []
    if found and (os.path.islink(found[0]) or not is_png(found[0])):
        raise runs.InputError(f"{found[0]} is not a figure a run drew (a link, or not a PNG image); delete it "
                              f"and run {rerun(root, script)} to draw it")
    return found[0] if found else None


def is_png(path):
    """Whether a file starts as every PNG image does (its 8-byte signature and an IHDR chunk)."""
    with open(path, "rb") as f:
        return f.read(16) == b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def script_of(name):
    """The script a results/ figure name belongs to (the longest script name it starts with)."""
    return max((s for s in FOLDERS if name.startswith(s + "_")), key=len, default=None)


def stage(writes):
    """Write every output under a temporary name next to it, then move each into place: all of
    them, or (on any error: a read-only folder, a full disk) none, the temporary files removed.
    `writes` is [(path, write(tmp))]."""
    done = []
    try:
        for path, write in writes:
            stem, ext = os.path.splitext(path)
            tmp = f"{stem}.tmp{ext}"
            done.append((tmp, path))
            write(tmp)
    except OSError as error:
        for tmp, _ in done:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        raise runs.InputError(f"cannot write {done[-1][1]} ({error.strerror or error}); nothing was written") from None
    for tmp, path in done:
        os.replace(tmp, path)


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


def preset_reasons(verdict_of):
    """{claim id: reason} for a loss-plateau claim judged at the poster's configuration and at a
    reduction (ids `x` and `x:<preset>`): why it did or did not hold, the same line for both rows."""
    out = {}
    for cid, verdict in verdict_of.items():
        for preset in [p for p in common.SEQUENCE_PRESETS if p != "poster"]:
            other = verdict_of.get(f"{cid}:{preset}")
            if ":" in cid or other is None:
                continue
            out[cid] = out[f"{cid}:{preset}"] = (
                "contradicted in part: partly at both configurations, so not an effect of our reduction"
                if verdict == other == "partly" else reason(verdict, other))
    return out


def variant_claims(folder, table):
    """A reduction's claims, renamed so the ledger tells them from the default's."""
    preset = script_and_preset(folder)[1]
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


def tricks_table(bench, path):
    """What each speed trick gains on a whole step (bench.py --tricks): one row per trick, one
    column per case; a damaged entry is one error line naming the file."""
    rows = bench.get("tricks") or []
    positive = plateau.number(0, low_open=True).ok  # a finite number > 0, as a config field's is checked
    good = lambda r: (isinstance(r, dict) and isinstance(r.get("op"), str) and isinstance(r.get("case"), str)
                      and all(positive(r.get(k)) for k in ("E", "lines", "gain")))
    if not isinstance(rows, list) or not all(map(good, rows)):
        raise runs.InputError(f"{path} is damaged: each 'tricks' entry needs op, case, E, lines and a positive gain; "
                              f"run `{bench_command(path, bench, '--tricks')}` again")
    if not rows:
        return []
    cases = list(dict.fromkeys(f"{r['case']} E={r['E']}" for r in rows))
    gain = {(r["op"], f"{r['case']} E={r['E']}"): r["gain"] for r in rows}
    ops = list(dict.fromkeys(r["op"] for r in rows))
    lines = {r["op"]: r["lines"] for r in rows}
    return ["Each speed trick's gain on a whole step (`python experiments/bench.py --tricks`): the step's time "
            "with that one op or optimizer put back to autograd.py's plain version, over its time with every "
            "fast one (> 1: the trick saves time; the SGD trick on a step that trains with SGD, the others "
            "with AdamW), beside the lines it costs in fastops.py.\n"] + markdown(
        ["trick", "lines"] + cases, [[op, lines[op]] + [f"{gain[op, c]:.2f}" if (op, c) in gain else "—"
                                                        for c in cases] for op in ops])


def check_bench(bench, path):
    """bench.json's machine and rows, as speed_section reads them; anything else is one line naming it."""
    m = bench.get("machine")
    number = plateau.number(0).ok  # a finite number >= 0
    problems = []
    if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in ("backend", "dtype")) or \
            not isinstance(m.get("cpu_count"), (int, type(None))):
        problems.append("'machine' needs backend and dtype (text) and cpu_count")
    if not isinstance(bench.get("quick", False), bool):
        problems.append("'quick' is not true or false")
    for r in bench["rows"]:
        if not (isinstance(r["case"], str) and number(r["E"]) and
                all(number(r[k]) for k in ("engine_ms", "matmul_bound_ms", "ratio")) and
                all(r.get(k) is None or number(r[k]) for k in ("matmuls_in_step_ms", "overhead_ms"))):
            problems.append(f"row {r!r:.80} needs a case name and numbers >= 0")
            break
    if problems:
        raise runs.InputError(f"{path} is damaged: {'; '.join(problems)}; run `{bench_command(path, bench)}` again")


def bench_command(path, bench, *flags):
    """The command that writes bench.json at `path` afresh (a smoke bench again where it was one)."""
    quick = ["--quick"] * (isinstance(bench, dict) and bench.get("quick") is True)
    return common.shell_line(["python", common.script_path("bench"), *quick, "--out", os.path.dirname(path), *flags])


def speed_section(bench, path="bench.json"):
    check_bench(bench, path)
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
                             for r in bench["rows"]]) + tricks_table(bench, path)


def main(argv=None):
    p = common.help_parser(__doc__)
    p.add_argument("--root", default="runs", help="the folder the scripts wrote into (default: runs)")
    p.add_argument("--out", default="RESULTS.md", help="the ledger to write (default: RESULTS.md)")
    p.add_argument("--force", action="store_true", help="replace the ledger even if claims would go missing, and write smoke runs' numbers into "
                        "a ledger other than the committed RESULTS.md (never into it)")
    args = p.parse_args(argv)
    if os.path.lexists(args.root) and not os.path.isdir(args.root):
        raise runs.InputError(f"--root {args.root} is a file, not a folder of runs; give another --root")
    if not os.path.isdir(args.root):
        raise runs.InputError(f"--root {args.root} is not a folder of runs; run `{reproduce_command(args)}` first")
    runs.check_writable_file(args.out, "--out", committed_ok=is_committed_ledger(args.out))
    check_ledger_place(args.out, args.root, "--out")
    out = os.path.realpath(args.out)  # a link to a ledger: write its target, keep the link
    tables = {folder: load(args.root, folder) for folder in FOLDERS}
    load(args.root, ".", "reproduce_timings.json")  # every input checked first
    bench = load(args.root, "bench", "bench.json")
    if bench:
        check_bench(bench, os.path.join(args.root, "bench", "bench.json"))
    origin = {folder: made_by(args.root, folder, t) for folder, t in tables.items() if t}
    smoke = sorted(folder for folder, (_, quick) in origin.items() if quick) + ["bench"] * bool(bench and bench.get("quick"))
    if smoke and is_committed_ledger(out):
        raise runs.InputError(f"the runs of {', '.join(smoke)} under {args.root}/ are smoke runs (--quick): their "
                              f"numbers never go into the committed RESULTS.md (--force or not); give another --out")
    if smoke and not args.force:
        raise runs.InputError(f"the runs of {', '.join(smoke)} under {args.root}/ are smoke runs (--quick) and "
                              f"their numbers mean nothing; pass --force to write them into {args.out} anyway")
    claims = [(folder, row) for folder in FOLDERS if tables[folder]
              for row in (tables[folder]["claims"] if folder in SCRIPTS else variant_claims(folder, tables[folder]))]
    twice = sorted({row["id"] for _, row in claims if [r["id"] for _, r in claims].count(row["id"]) > 1})
    if twice:
        owners = [folder for folder, row in claims if row["id"] == twice[0]]
        raise runs.InputError(f"claim {twice[0]!r} is in the table.json of {' and of '.join(owners)} under "
                              f"{args.root}/: a claim belongs to one script; run "
                              + " and ".join(f"{rerun(args.root, folder)}" for folder in owners))
    new_ids = {row["id"]: script for script, row in claims}
    before_ledger = old_ledger(out)
    before = None if before_ledger is None else before_ledger.get("claims", {})
    # A script whose runs are not under --root keeps what the existing ledger shows of it.
    previous = previous_ledger(out, before_ledger)
    carried = [folder for folder in FOLDERS if not tables[folder] and folder in previous]
    for folder in carried:
        new_ids.update({cid: s for cid, s in before.items() if s == folder})
    new_ids = {cid: new_ids[cid] for folder in FOLDERS for cid in list(new_ids) if new_ids[cid] == folder}
    missing = sorted(set(before or {}) - set(new_ids))
    if missing and not args.force:
        scripts = sorted({before[c] for c in missing})
        raise runs.InputError(f"{args.out} has {len(missing)} claim(s) this report would drop ({', '.join(missing)}): "
                              f"no table.json of {', '.join(scripts)} under {args.root}/; run those scripts (or "
                              f"experiments/reproduce.py) first, or pass --force to replace the ledger anyway")
    if not new_ids and not args.force:  # a ledger of no claims is never written unasked
        raise runs.InputError(f"no claims under {args.root}/ (no <script>/table.json there)"
                              f"{f', and {args.out} exists' if before is not None else ''}; "
                              f"run `{reproduce_command(args)}` first")
    commits = sorted({c for script in origin for c in origin[script][0]}
                     | set((before_ledger or {}).get("commits", []) if carried else []))
    figure_dir = os.path.join(os.path.dirname(out), "results")
    lines = ["# Results: the claims ledger", "",  # the ledger comment goes here once the figures are known
             f"Generated by `python experiments/report.py` from the runs under `{args.root}/` (made by "
             f"`python experiments/reproduce.py`) at commit {', '.join(commits)}; each claim names the commit(s) "
             "its runs were trained at. Steps are optimizer updates; "
             "figures are median [min–max] over seeds. Memorised = first evaluation with train accuracy >= 95%, "
             "grokked = first with validation accuracy >= 95%. Each verdict follows the rule beside it, which "
             "the script that ran the experiment applies.", ""]
    regime = (tables.get("grok_delay") or {}).get("regime")
    if regime:
        lines += ["## Our regime against the poster's", ""] + [" ".join(regime), ""]
    elif previous.get("regime"):
        lines += previous["regime"]["section"]
    lines += ["| claim | poster (its unit) | our setting | ours | verdict | rule | commit |",
             "|---|---|---|---|---|---|---|"]
    reasons = {cid: text for t in tables.values() if t for cid, text in (t.get("reasons") or {}).items()}
    verdict_of = {row["id"]: row["verdict"] for _, row in claims}
    for folder in carried:
        for cid, row in zip([c for c, s in before.items() if s == folder], previous[folder]["rows"]):
            found = re.search(r"\| \*\*(.+?)\*\* \|", row)
            verdict_of[cid] = found.group(1) if found else None
    reasons.update({cid: text for cid, text in preset_reasons(verdict_of).items() if cid not in reasons})
    notes = []
    for script in FOLDERS:
        if script in carried:
            carried_rows = [row if row.count(" | ") >= 6 else row + " (carried over) |"
                            for row in previous[script]["rows"]]
            lines += carried_rows
            notes += previous[script]["notes"]
            for cid in [c for c, s in before.items() if s == script]:  # its reason as of now, not as carried
                reason = reason_line({"id": cid, "verdict": verdict_of.get(cid) or ""}, reasons)
                head = f"- **{cid}**: "
                mine = [i for i, n in enumerate(notes) if n.startswith(head)]
                text = re.sub(r"\s*Reason: .*$", "", notes[mine[0]][len(head):]) if mine else ""
                text = " ".join(x for x in (text, reason) if x)
                if mine and text:
                    notes[mine[0]] = head + text
                elif mine:
                    del notes[mine[0]]
                elif text:
                    notes.append(head + text)
            continue
        mine = [c for f, c in claims if f == script]
        for c in mine:
            lines.append("| " + " | ".join(_cell(x) for x in (c["claim"], c["poster"], c["setting"], c["ours"],
                                                              f"**{c['verdict']}**", c["rule"],
                                                              ", ".join(origin[script][0]))) + " |")
            note = " ".join(x for x in (c.get("note"), reason_line(c, reasons)) if x)
            notes += [f"- **{c['id']}**: {note}"] if note else []
    lines += (["", "Notes:", ""] + notes) if notes else []
    figure_lines, copies, shown = figures(args.root, tables, figure_dir, (before_ledger or {}).get("figures", []))
    adds = lambda script: reproduce_command(args, *["--quick"] * bool(smoke), "--only", script, resume=True)
    for script in SCRIPTS:
        t = tables[script]
        if script in carried:
            section = previous[script]["section"]  # its variants' subsections (####) come with it
            body = section[1:]
            while body and not body[0].strip():  # the blank line the note stood after
                body = body[1:]
            lines += section[:1] + ["", f"{CARRIED}: the runs of {script}.py are not under `{args.root}/`.)", ""] \
                + body + [""]
            shown += [n for n in carried_figures(section) if n not in shown]
            continue
        lines.append(f"\n### {TITLES[script]}\n")
        lines += folder_body(script, script, t, figure_lines, adds)
        variants = [tables[f] or {} for f in VARIANTS.get(script, [])]
        if not t and not any(variants):
            continue  # a script not run at any preset has no subsections to show

        for folder, v in zip(VARIANTS.get(script, []), variants):
            preset = common.SEQUENCE_PRESETS[script_and_preset(folder)[1]]
            lines.append(f"#### {folder}: the faster reduction (D={preset['d_model']}, Adam lr {preset['lr']:g})\n")
            lines += folder_body(script, folder, v, figure_lines, adds)
        if variants and t:  # both presets' verdicts side by side (the poster's configuration ran)
            lines.append("Each verdict at the poster's configuration and at the reduction: regime-bound = holds at "
                         "the poster's configuration, not at ours; contradicted = fails at both.\n")
            lines += markdown(["claim", "poster's configuration"] + VARIANTS[script] + ["reason"],
                              comparison(t, variants))
    lines[2:2] = [f"<!-- ledger: {json.dumps({'claims': new_ids, 'commits': commits, 'figures': shown})} -->", ""]
    lines += timing_section(args.root, previous.get("Run times", {}).get("section", []))
    if bench:
        lines += speed_section(bench, os.path.join(args.root, "bench", "bench.json"))
    elif "Speed" in previous:
        lines += previous["Speed"]["section"]
    own = {os.path.basename(n) for n in (before_ledger or {}).get("figures", [])}  # what this ledger put there before
    foreign = [dst for _, dst in copies if os.path.lexists(dst) and os.path.basename(dst) not in own]
    if foreign:  # a user's file, or another ledger's figure of the same name in a shared results/
        raise runs.InputError(f"{foreign[0]} is not a figure of {args.out} (its ledger comment does not list it), "
                              "and this report would replace it; move it, or give --out in a folder of its own")
    stale = [os.path.join(figure_dir, os.path.basename(n)) for n in own - set(shown)]
    stale = [path for path in stale if os.path.exists(path)]
    nearest = figure_dir  # the folder that exists and would hold the figures (or their new folder)
    while not os.path.isdir(nearest):
        nearest = os.path.dirname(os.path.abspath(nearest))
    if (copies or stale) and not os.access(nearest, os.W_OK | os.X_OK):
        raise runs.InputError(f"cannot write {figure_dir} (permission denied); nothing was written")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)  # checked writable on the way in
    if copies:
        os.makedirs(figure_dir, exist_ok=True)

    def write_ledger(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    stage([(dst, lambda tmp, src=src: shutil.copyfile(src, tmp)) for src, dst in copies] + [(out, write_ledger)])
    for path in stale:  # results/ shows what this ledger shows (only those: it may hold other files)
        os.remove(path)
    common.say(f"wrote {args.out} ({len(new_ids)} claims, {len(new_ids) - len(claims)} of them carried over; "
               f"{len(shown)} figures in {figure_dir})")


def folder_body(script, folder, table, figure_lines, adds):
    """The ledger lines of one folder's run (a script, or one of its presets): its tables and figures,
    or how to add it (`adds(script)`: the command that runs it into this ledger's --root and ledger)."""
    if not table:
        return [f"Not run for this ledger: `{adds(script)}` adds it.\n"]
    lines = []
    for name, t in (table.get("tables") or {}).items():
        title = t.get("title")
        lines += ([f"*{title}*", ""] if isinstance(title, str) and title else []) + markdown(t["headers"], t["rows"])
    return lines + figure_lines[folder]


def figures(root, tables, figure_dir, before):
    """Per script, the ledger lines of its figures; the copies to make, (source, results/ name); the
    names shown. A figure a run could not draw (null in table.json: no matplotlib) keeps the one the
    earlier ledger showed, so a report on a machine without matplotlib never loses a figure."""
    lines, copies, shown = {}, [], []
    for script in FOLDERS:
        t, lines[script] = tables[script], []
        if not t:
            continue
        names = []
        for path in t.get("figures", []):
            if path is None:
                names += [n for n in before if script_of(n) == script and n not in names
                          and os.path.exists(os.path.join(figure_dir, n))]
                continue
            src, name = figure_source(root, script, path), figure_name(script, path)
            if src:
                copies.append((src, os.path.join(figure_dir, name)))
            else:  # drawn once, gone now: an earlier report's copy would be another run's figure
                raise runs.InputError(f"{os.path.join(root, script, 'table.json')} names the figure {path}, which "
                                      f"is not in {os.path.join(root, script)}: run {rerun(root, script)} "
                                      "to draw it")
            names.append(name)
        for name in names:
            lines[script] += [f"![{alt_text(script, name)}](results/{name})", ""]
        shown += names
    return lines, copies, shown


def arm_timings(root, folder):
    """{arm: its timing.json segments} for the run folders under root/folder whose timing.json
    belongs to the run the folder holds (the same run_id as its config.json), and how many arm
    folders there are in all: those its table.json names where it has one (an arm of earlier flags
    left beside them is no part of the table's time)."""
    base = os.path.join(root, folder)
    arms = sorted(a for a in os.listdir(base) if os.path.lexists(os.path.join(base, a, "config.json"))) \
        if os.path.isdir(base) else []
    table = load(root, folder)
    if table and isinstance(table.get("arms"), dict):
        arms = [a for a in arms if a in table["arms"]]
    timed = {}
    for arm in arms:
        path = os.path.join(base, arm, "config.json")
        remedy = f"delete the run folder {os.path.join(base, arm)}, then run {rerun(root, folder)} to train it again"
        config = runs.read_json(path, remedy=remedy)
        run_id = config.get("run_id") if isinstance(config, dict) else None
        if not isinstance(run_id, str):  # then no timing.json can be told to be this run's
            raise runs.InputError(f"{path} is not a run's config (it has no run_id); {remedy}")
        segments = runs.read_timing(os.path.join(base, arm, "timing.json"), run_id)
        if segments:
            timed[arm] = segments
    return timed, len(arms)


def chained_timings(root):
    """{script folder: seconds} summed over reproduce.py's invocations (reproduce_timings.json)."""
    timings = load(root, ".", "reproduce_timings.json") or {"invocations": []}
    total = {}
    for invocation in timings["invocations"]:
        seconds = invocation["seconds"]
        if not (isinstance(seconds, dict) and all(map(runs.is_seconds, seconds.values()))):
            raise runs.InputError(f"{os.path.join(root, 'reproduce_timings.json')} is damaged: 'seconds' must map "
                                  "scripts to seconds from 0 to 1e9; delete it (only run times are lost)")
        for script, s in seconds.items():
            total[script] = total.get(script, 0.0) + s
    return total


def earlier_rows(section):
    """{script folder: its cells} from the Run times table of an earlier ledger."""
    rows = {}
    for line in section:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in FOLDERS:
            rows[cells[0]] = cells
    return rows


def threads_of(segments):
    """The OpenBLAS thread counts the segments ran under, as one word ('1', '1, 2', 'default')."""
    return ", ".join(sorted({s.get("threads") or "default" for s in segments}))


def timing_section(root, previous):
    """RESULTS.md's run times, one row per script folder, from the best source it has: the
    arms' own timing.json files when every arm has one (each process that trained an arm times
    it, so arms run by hand or by `reproduce.py --jobs` count too), else reproduce.py's
    reproduce_timings.json, else the arms that are timed, else the earlier ledger's row."""
    chained, earlier = chained_timings(root), earlier_rows(previous)
    rows = []
    for folder in FOLDERS:
        timed, arms = arm_timings(root, folder)
        if not os.path.isfile(os.path.join(root, folder, "table.json")):
            timed = {}  # its rows are carried over: so is its time (an unfinished re-run's arms are not it)
        segments = [s for arm in timed.values() for s in arm]
        every_arm = f"{len(timed)} arm" + ("s" if len(timed) > 1 else "")
        some_arms = f"{len(timed)} of its {arms} arms (the others have no timing.json: trained before arms were timed)"
        if timed and (len(timed) == arms or folder not in chained):
            rows.append([folder, runs.format_seconds(sum(s["seconds"] for s in segments)).strip(),
                         f"{every_arm if len(timed) == arms else some_arms}: their timing.json",
                         threads_of(segments), ", ".join(sorted({str(s.get("host")) for s in segments}))])
        elif folder in chained:
            rows.append([folder, runs.format_seconds(chained[folder]).strip(), "reproduce_timings.json", "—", "—"])
        elif folder in earlier:
            cells = earlier[folder]
            if len(cells) < 5:  # an older ledger's row: the script and its time only
                cells = [cells[0], cells[1], "reproduce_timings.json", "—", "—"]
            source = cells[2] if "carried over" in cells[2] else f"{cells[2]}, carried over from the earlier ledger"
            rows.append([folder, cells[1], source, cells[3], cells[4]])
    if not rows:
        return []
    return ["\n### Run times\n",
            "Time per script: the sum of its arms' own wall times (each arm summed over the processes that "
            "trained it, as its run folder's timing.json records; arms run side by side each count in full, "
            "so this is compute time, not the time to wait; process start-up is not counted), or, for runs "
            "made before arms were timed, the script's wall time as reproduce.py recorded it then "
            f"({root}/reproduce_timings.json, which it no longer writes). OpenBLAS threads: what each process "
            "ran under (default: all cores). Written by report.py from those files.\n"] + markdown(
        ["script", "time", "measured from", "OpenBLAS threads", "host"], rows)


if __name__ == "__main__":
    common.STOP_ADVICE = "run the same command again"
    common.main_guard(main)
