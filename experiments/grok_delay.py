"""How the grokking delay scales with learning rate x weight decay, and what that says of the poster's regime.

Question: our grokking runs use weight decay 1 and grok in a few thousand steps;
the poster used 1e-3 and grokked at ~334,000. Under weight decay the delay is
expected to follow (Omnigrok, Liu et al. 2022; arXiv 2605.18845 for AdamW)

    T_grok - T_mem  =  ln(V_mem / V*) / (2 kappa eta lambda)

where V = ||theta||^2 is the squared parameter norm (history.csv logs it at every
evaluation), V_mem its value at memorisation, V* the value of V at which the model
generalises, eta the learning rate, lambda the weight decay and kappa the share
of the decay's pull that the gradient leaves in place. AdamW shrinks every
weight by (1 - eta lambda) per step, so V alone would fall as exp(-2 eta lambda t).

Arms (division mod 97, AdamW betas 0.9/0.98, post-LN; width --d-model 64 and
batch --batch-size 256 to afford long runs; seeds --seeds, each setting x seed
one ensemble member):
  ladder-fast   lr x wd = 1e-3 x 1, 1e-3 x 0.3, 3e-3 x 0.1, 3e-4 x 1  (--fast-steps)
  ladder-slow   lr x wd = 1e-3 x 0.1, 2e-3 x 0.05                   (--steps)
  vmem          lr 1e-3, wd 1e-3 (the poster's): V at memorisation only (--vmem-steps)
  width128      the poster's width and batch (128, 512), lr 1e-3, wd 1 and 1e-3 (--vmem-steps + 1,000)
  rung-*        the interventions on the rung lr 1e-3 x --rung-weight-decay, where the
                baseline's delay is many times its memorisation step (--rung-steps):
                rung-adamw (baseline, small init, sparse init, Grokfast), rung-four-tasks
                (all four operations, balanced batches), rung-sgd (momentum --sgd-momentum,
                lr --sgd-lr, coupled L2 at the same contraction rate as the baseline and at
                five times it: the poster's SGD/AdamW lr ratio, which is its contraction
                ratio at one decay and no momentum, neither of which the poster states).
The law is fitted on the lr 1e-3 cells of the ladder (kappa, V*) and tested on
the cells with another lr at the same or another product: if it predicts them,
the product eta x lambda is what sets the delay. The fit then predicts the
poster's delay (eta lambda = 1e-6) from V_mem measured at wd 1e-3.

Contraction rate per step: AdamW lr x wd; SGD with coupled L2 and momentum mu
lr x wd / (1 - mu) (the heavy-ball steady state).
Memorised / grokked = first evaluation with train / val accuracy >= 95%.

Run times: RESULTS.md ("Run times").
"""
import dataclasses
import math
import os
import re

import numpy as np

import common
import analysis
import plateau
import runs

FAST = ((1e-3, 1.0), (1e-3, 0.3), (3e-3, 0.1), (3e-4, 1.0))
SLOW = ((1e-3, 0.1), (2e-3, 0.05))
FIT_LR = 1e-3                      # the law is fitted on these cells, tested on the others
POSTER_RATE = 1e-3 * 1e-3          # the poster's lr x wd
POSTER_MEM, POSTER_GROK = 800, 334_000   # ~0.2% and 83.5% of 400,000 steps
POSTER_DELAY = POSTER_GROK - POSTER_MEM
INTERVENTIONS = ("baseline", "small init", "sparse init", "Grokfast")


# ---------------------------------------------------------------------------
# Per member: the steps and norms the law needs, and the regime-free measures.

def rate(cfg):
    """Weight-decay contraction per step: lr x wd (AdamW), lr x wd / (1 - momentum) (SGD), to 12
    significant digits, so cells of one product group together (0.003 x 0.1 is 0.00030000000000000003
    in floating point, not the 0.0003 of 0.001 x 0.3: it had been left out of the slow end's exponent)."""
    r = cfg.lr * cfg.weight_decay / (1 - cfg.momentum) if cfg.optimizer == "sgd" else cfg.lr * cfg.weight_decay
    return float(f"{r:.12g}")


def member_record(history, e, cfg, op="div"):
    """One member's memorised and grokked steps and delay (analysis.grok_member), V there, and the
    regime-free measures: the peak train-val accuracy gap, whether train reached 95% before val
    passed 50%, and collapses of val accuracy below 50% after grokking."""
    m = plateau.member_config(cfg, e)
    steps = analysis.grok_member(cfg, history, e, op)
    mem, grok = steps["memorized_step"], steps["grokked_step"]
    train, val = analysis.rows_of(history, e, op, "train"), analysis.rows_of(history, e, op, "val")
    norm2 = {r["step"]: r["norm2"] for r in train}  # V at each evaluation
    rise = analysis.first_step(history, e, op, "val", lambda r: r["acc"] >= 0.5)
    after = [r["acc"] for r in val if grok is not None and r["step"] >= grok]
    return dict(seed=cfg.seeds[e], lr=m.lr, weight_decay=m.weight_decay, rate=rate(m),
                memorized_step=mem, grokked_step=grok, delay=steps["delay"],
                v0=train[0]["norm2"], v_mem=norm2.get(mem), v_grok=norm2.get(grok),
                kappa=own_kappa(mem, grok, norm2, rate(m)),
                v_final=train[-1]["norm2"], peak_gap=max(r["gap"] for r in train),
                memorised_first=mem is not None and (rise is None or mem < rise),
                collapses_after_grok=analysis.collapses(after, cfg.threshold) if after else 0,
                final_val_acc=steps["final_val_acc"], steps=val[-1]["step"])


def own_kappa(mem, grok, norm2, rate_):
    """The member's own kappa: the share of the weight decay's pull on V = ||theta||^2 that its norm
    showed between memorising (step mem) and grokking (step grok), ln(V_mem / V_grok) / (2 rate delay);
    None if it did not grok after memorising."""
    if mem is None or grok is None or grok <= mem:
        return None
    return math.log(norm2[mem] / norm2[grok]) / (2 * rate_ * (grok - mem))


def records(result, cfg, op="div"):
    return [member_record(result.history, e, cfg, op) for e in range(len(cfg.seeds))]


def by_cell(recs):
    """Members grouped by (lr, wd), in order of first appearance."""
    cells = {}
    for r in recs:
        cells.setdefault((r["lr"], r["weight_decay"]), []).append(r)
    return cells


# ---------------------------------------------------------------------------
# The law: fit kappa and V* on some members, predict the delay of others.

def fit(members):
    """The norm law from the members that grokked after memorising: V* = geometric mean of their V at
    grokking, kappa = the median of their own kappas. It fits if V at grokking and kappa each vary by
    at most 2x (a threshold norm and a rate, as the law assumes). None if no member grokked."""
    done = [m for m in members if m["delay"] and m["v_mem"] and m["v_grok"] and m["kappa"] is not None]
    if not done:
        return None
    v_grok, kappas = [m["v_grok"] for m in done], [m["kappa"] for m in done]
    v_star = float(np.exp(np.mean(np.log(v_grok))))
    fits = max(v_grok) <= 2 * min(v_grok) and min(kappas) > 0 and max(kappas) <= 2 * min(kappas)
    return dict(v_star=v_star, v_star_min=min(v_grok), v_star_max=max(v_grok), kappa=float(np.median(kappas)),
                kappa_min=min(kappas), kappa_max=max(kappas), n=len(done), fits=bool(fits))


def fit_product(members):
    """The delay as a power of the contraction rate alone, delay = A rate^-beta, fitted by least
    squares on log(median delay per rate) over the rates whose members mostly grokked; None with
    fewer than two such rates. Returns {"A", "beta", "rates"}."""
    cells = {}
    for m in members:
        cells.setdefault(m["rate"], []).append(m)
    points = [(r, float(np.median([m["delay"] for m in ms if m["delay"]]))) for r, ms in cells.items()
              if sum(m["delay"] is not None for m in ms) * 2 > len(ms)]
    if len({r for r, _ in points}) < 2:
        return None
    x, y = np.log([r for r, _ in points]), np.log([d for _, d in points])
    slope, intercept = np.polyfit(x, y, 1)
    return dict(A=float(np.exp(intercept)), beta=float(-slope), rates=sorted(r for r, _ in points))


def local_exponent(members):
    """The delay's exponent between the two slowest contraction rates at which members grokked,
    from every cell (fitted and held out): beta in delay ~ rate^-beta, with the median delay of the
    members that grokked at each rate. Members that had not grokked by the budget would have longer
    delays, so at the slowest rate this median, the exponent and an extrapolation with it are lower
    bounds. None with fewer than two such rates. Returns {"beta", "rates", "delays"}."""
    delays = {}
    for m in members:
        if m["delay"]:
            delays.setdefault(m["rate"], []).append(m["delay"])
    rates = sorted(delays)[:2]
    if len(rates) < 2:
        return None
    slow, fast = (float(np.median(delays[r])) for r in rates)
    return dict(beta=math.log(slow / fast) / math.log(rates[1] / rates[0]), rates=rates, delays=[slow, fast])


def local_delay(local, rate_):
    """The slowest rate's median delay, extrapolated to `rate_` with the local exponent."""
    return None if local is None else local["delays"][0] * (local["rates"][0] / rate_) ** local["beta"]


def product_delay(law, rate_):
    return None if law is None else law["A"] * rate_ ** -law["beta"]


def product_errors(law, members):
    """Per held-out member that grokked after memorising: (the product law's delay / its delay) - 1."""
    return [product_delay(law, m["rate"]) / m["delay"] - 1 for m in members if law and m["delay"]]


def predict(law, v_mem, rate_):
    """The law's delay (steps) for a member that memorised at norm v_mem; None if v_mem <= V*
    (then the law expects no delay at all: the model is already small enough) or kappa <= 0."""
    if law is None or not v_mem or v_mem <= law["v_star"] or law["kappa"] <= 0:
        return None
    return math.log(v_mem / law["v_star"]) / (2 * law["kappa"] * rate_)


def predict_interval(law, v_mems, rate_):
    """(low, central, high): the median V_mem with the median kappa and V*, and the extremes
    that the members' spread of kappa, V* and V_mem allow."""
    v_mems = [v for v in v_mems if v]
    if law is None or not v_mems:
        return None
    central = predict(law, float(np.median(v_mems)), rate_)
    low = _delay(min(v_mems), law["v_star_max"], law["kappa_max"], rate_)
    high = _delay(max(v_mems), law["v_star_min"], law["kappa_min"], rate_)
    return low, central, high


def _delay(v_mem, v_star, kappa, rate_):
    return math.log(v_mem / v_star) / (2 * kappa * rate_) if v_mem > v_star and kappa > 0 else None


def held_out_errors(law, members):
    """Per held-out member that grokked: (predicted delay / measured delay) - 1."""
    out = []
    for m in members:
        p = predict(law, m["v_mem"], m["rate"])
        if m["delay"] and p:
            out.append(p / m["delay"] - 1)
    return out


# ---------------------------------------------------------------------------
# Tables.

def cell_row(name, members, law=None):
    stat = lambda key: analysis.member_stats(members, (key,))[key]
    grokked = sum(m["grokked_step"] is not None for m in members)
    pred = [predict(law, m["v_mem"], m["rate"]) for m in members] if law else []
    pred = [p for p in pred if p]
    return [name, f"{members[0]['rate']:.2g}", f"{grokked}/{len(members)}", common.fmt(stat("memorized_step")),
            common.fmt(stat("grokked_step")), common.fmt(stat("delay")),
            f"{np.median([m['v_mem'] for m in members if m['v_mem']]):.0f}" if any(m["v_mem"] for m in members)
            else "—",
            f"{np.median(pred):,.0f}" if pred else "—",
            f"{np.median([m['peak_gap'] for m in members]):.2f}",
            f"{sum(m['memorised_first'] for m in members)}/{len(members)}",
            str(sum(m["collapses_after_grok"] for m in members))]


HEADERS = ["cell", "contraction per step (lr x wd; SGD: / (1 - momentum))", "grokked", "memorised step", "grokked step", "delay", "V_mem",
           "law's delay", "peak train-val gap", "memorised first", "collapses after grokking"]


def cell_name(lr, wd):
    return f"lr {lr:g}, wd {wd:g}"


@runs.drawing
def plot_law(ladder, product, product_poster, path, wide_poster=None, local=None, setting=""):
    """Delay against 1/(lr wd), log-log: each member (fitted cells filled, held-out cells as larger
    open rings, so a fitted point at the same place still shows), members that memorised and never
    grokked as a triangle at the least delay they can have (the budget less their memorised step),
    the product law fitted on lr 1e-3 and extrapolated, and the poster's point beside the
    predictions: the slowest rungs' exponent (the verdict's), the product law's, and the norm law's at
    the poster's width when it has one."""
    plt = runs.pyplot()
    if plt is None or not any(m["delay"] for m in ladder):
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5.4))
    for m in sorted(ladder, key=lambda m: m["lr"] == FIT_LR):  # held-out first: the fitted are drawn on top
        fitted = m["lr"] == FIT_LR
        if m["delay"]:
            ax.plot(1 / m["rate"], m["delay"], "o", ms=5 if fitted else 9, mfc="C0" if fitted else "none", mec="C0",
                    zorder=3 if fitted else 2)
        elif m["memorized_step"] is not None:  # never grokked: its delay is longer than what the budget left
            ax.plot(1 / m["rate"], m["steps"] - m["memorized_step"], "^", ms=8, mfc="none", mec="black", zorder=4)
    if product:  # solid over the rates it was fitted on, dashed where it extrapolates
        inside = np.logspace(math.log10(1 / max(product["rates"])), math.log10(1 / min(product["rates"])), 20)
        beyond = np.logspace(math.log10(1 / min(product["rates"])), 6.2, 40)
        ax.plot(inside, [product_delay(product, 1 / x) for x in inside], "-", color="C0",
                label=f"product law: delay = A (lr wd)^-{product['beta']:.2f}, fitted on the lr 1e-3 cells where "
                      "most seeds grokked")
        ax.plot(beyond, [product_delay(product, 1 / x) for x in beyond], ":", color="C0",
                label="product law, extrapolated")
    if local:
        ax.plot([1 / local["rates"][0], 1 / POSTER_RATE], [local["delays"][0], local_delay(local, POSTER_RATE)],
                "--", color="C2", label=f"slowest rungs' exponent {local['beta']:.2f}, extrapolated (a lower bound)")
        ax.plot(1 / POSTER_RATE, local_delay(local, POSTER_RATE), "^", ms=9, color="C2",
                label=f"its prediction (the verdict's): >= {local_delay(local, POSTER_RATE):,.0f}")
    ax.plot(1 / POSTER_RATE, POSTER_DELAY, "*", ms=14, color="C3", label=f"poster (wd 1e-3): ~{POSTER_DELAY:,}")
    if product_poster:
        ax.plot(1 / POSTER_RATE, product_poster, "s", color="C1",
                label=f"product law's prediction{'' if local else ' (the verdict’s)'}: {product_poster:,.0f}")
    if wide_poster and wide_poster[1]:
        ax.plot(1 / POSTER_RATE, wide_poster[1], "D", color="C4",
                label=f"norm law at width 128, from V at memorisation: {wide_poster[1]:,.0f}")
    ax.plot([], [], "o", ms=5, mfc="C0", mec="C0", label="lr 1e-3 cells, one point per seed")
    ax.plot([], [], "o", ms=9, mfc="none", mec="C0", label="held-out cells (other lr)")
    ax.plot([], [], "^", ms=8, mfc="none", mec="black",
            label="never grokked (any cell): budget - memorised step (its delay is longer)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("1 / (lr x weight decay)")
    ax.set_ylabel("delay: grokked step - memorised step (steps)")
    ax.set_title("Grokking delay against 1 / (lr x weight decay), extrapolated to the poster's lr x wd = 1e-6\n"
                 f"(division mod 97, {setting})".replace("; ", ";\n"), fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return runs.save_figure(fig, path, dpi=90)


# ---------------------------------------------------------------------------
# Verdicts, each with its reason when a claim did not reproduce:
#   budget-bound  the law puts grokking after the budget (from the arm's own V_mem);
#   regime-bound  it holds on one rung and not on another (here: on the slow rung, not at wd 1);
#   contradicted  it fails where the law says it should have shown.

def group_stats(members):
    """analysis.group_stats, with n (seeds) and n_first (memorised before validation passed 50%)."""
    stats = analysis.group_stats(members, ("memorized_step", "grokked_step", "delay", "peak_gap"))
    return dict(stats, n=len(members), n_first=sum(m["memorised_first"] for m in members))


def why_not(group, base, law, budget):
    """The reason an arm did not grok (most seeds) within `budget` steps.

    Contradicted if the baseline did (most seeds), within the same budget: the arm was
    then later, not sooner, and a longer run cannot change that. Otherwise budget-bound
    (neither grokked in time), with the norm law's forecast from each seed's own V_mem
    where that law fits; contradicted if the law expected grokking within the budget."""
    members = group["members"]
    never_memorised = all(m["memorized_step"] is None for m in members)
    if analysis.most_grokked(base):
        what = "no seed memorised" if never_memorised else \
            f"{len(members) - group['n_grokked']}/{len(members)} seeds had not grokked"
        return (f"contradicted: later, not sooner, in raw steps: {what} within {budget:,} steps, while the baseline "
                f"grokked {base['n_grokked']}/{len(base['members'])} at {common.fmt(base['grokked_step'])}")
    if never_memorised:
        return "budget-bound: no seed memorised within the budget, so the law's clock never started"
    if law is None or not law["fits"]:
        return ("budget-bound: neither it nor the baseline grokked within the budget (the norm law, "
                "which would say when, does not fit at this width)")
    ends = []
    for m in members:
        p = predict(law, m["v_mem"], m["rate"])
        ends.append(None if m["memorized_step"] is None or p is None else m["memorized_step"] + p)
    late = [e for e in ends if e is None or e > budget]
    if len(late) * 2 >= len(ends):
        shown = [f"{e:,.0f}" for e in ends if e is not None]
        return (f"budget-bound: from its own V_mem the law puts grokking at "
                f"{', '.join(shown) if shown else 'no finite step'}, past the budget of {budget:,}")
    return "contradicted: the law, from its own V_mem, expected grokking within the budget"


def intervention_claims(groups, law, budget, rung_wd):
    """One row per intervention on the slow rung, against that rung's baseline (same seeds, budget)."""
    base = group_stats(groups["baseline"])
    b = analysis.later(base["grokked_step"]["median"])
    rows, reasons = [], {}
    for name, members in groups.items():
        if name == "baseline":
            continue
        g = group_stats(members)
        most = analysis.most_grokked(g)
        f = analysis.later(g["grokked_step"]["median"])
        halved, sooner = most and 2 * f <= min(b, budget), most and f < b
        verdict = common.verdict(halved, partly=sooner)
        if verdict == "reproduced":
            reason = ""
        elif sooner:
            reason = "sooner, but by less than 2x"
        elif most:
            reason = "contradicted: it grokked, no sooner than the baseline"
        else:
            reason = why_not(g, base, law, budget)
        ours = (f"grokked {g['n_grokked']}/{g['n']} at {common.fmt(g['grokked_step'])} (baseline "
                f"{base['n_grokked']}/{base['n']} at {common.fmt(base['grokked_step'])}); memorised at "
                f"{common.fmt(g['memorized_step'])}; peak train-val gap {common.fmt(g['peak_gap'], 2)}; "
                f"memorised before val passed 50%: {g['n_first']}/{g['n']}")
        rows.append(common.claim(
            "rung-" + re.sub(r"[^a-z0-9]+", "-", name.split(" (")[0].lower()).strip("-"), f"{name} groks sooner than the baseline (slow rung)",
            POSTER_CLAIMS.get(name.split(",")[0], ""),
            f"lr 1e-3 x wd {rung_wd:g} (delay >> memorisation), width 64, batch 256, at most {budget:,} steps",
            ours, verdict, "median grokked step <= half the baseline's (most seeds; a baseline that never "
                           "grokked took more than the budget); partly if only sooner", note=reason))
        reasons[name] = (verdict, reason)
    same, five = groups.get("SGD, same contraction"), groups.get("SGD, 5x contraction (poster's ratio)")
    if same and five:
        rows.append(sgd_contraction_claim(base, group_stats(same), group_stats(five), budget, rung_wd))
    return rows, reasons


def sgd_contraction_claim(base, same, five, budget, rung_wd):
    """Which explains the poster's SGD speed-up: SGD itself (then SGD groks sooner even at AdamW's
    contraction rate) or the 5x contraction its lr/wd pair gave it (then only the 5x cell does)."""
    def speedup(group):
        """The baseline's median grokked step over the group's (inf: only the group grokked), or
        None if most of the group's seeds did not grok."""
        if not analysis.most_grokked(group):
            return None
        return analysis.later(base["grokked_step"]["median"]) / group["grokked_step"]["median"]
    s_same, s_five = speedup(same), speedup(five)
    base_grokked = analysis.most_grokked(base)
    if s_same is not None and s_same >= 2:
        verdict, reason = "not reproduced", ("contradicted: SGD groks >= 2x sooner at AdamW's own contraction "
                                             "rate, so SGD itself is faster here")
    elif s_five is not None and s_five >= 2:
        verdict, reason = "reproduced", ""
    elif s_five is not None and s_five > 1:
        verdict, reason = "partly", "SGD at 5x the contraction groks sooner, by less than 2x"
    elif s_five is not None:
        verdict, reason = "not reproduced", "contradicted: SGD at 5x the contraction grokked no sooner than AdamW"
    elif five["memorized_step"]["median"] is None:
        verdict, reason = "not reproduced", (f"budget-bound: SGD at 5x the contraction had not even memorised "
                                             f"within {budget:,} steps (most seeds), so the law's clock never "
                                             "started and this rung cannot tell the two apart")
    elif base_grokked:
        verdict, reason = "not reproduced", (f"contradicted: SGD at 5x the contraction memorised but did not grok "
                                             f"within {budget:,} steps (most seeds), though AdamW did")
    else:
        verdict, reason = "not reproduced", (f"budget-bound: neither SGD at 5x the contraction nor AdamW grokked "
                                             f"within {budget:,} steps (most seeds)")

    def shown(group, s):
        told = f"grokked {group['n_grokked']}/{group['n']} at {common.fmt(group['grokked_step'])}"
        return told + (f" ({s:.2g}x the baseline's speed)" if s and math.isfinite(s) else "")
    return common.claim(
        "rung-sgd-contraction", "The poster's SGD speed-up comes from its 5x weight-decay contraction, not SGD itself",
        "SGD lr 0.005 against AdamW lr 1e-3, wd 1e-3: ~8x sooner (it states no SGD momentum or decay; at the same "
        "decay and no momentum, SGD's contraction lr x wd is 5x AdamW's)", f"lr 1e-3 x wd {rung_wd:g} rung, SGD momentum 0.9 with coupled L2, width 64, batch 256, "
        f"at most {budget:,} steps", f"SGD at AdamW's contraction: {shown(same, s_same)}; at 5x: "
        f"{shown(five, s_five)}; AdamW baseline {base['n_grokked']}/{base['n']} at {common.fmt(base['grokked_step'])}",
        verdict, "the 5x cell groks >= 2x sooner than the baseline and the same-contraction cell does not "
                 "(medians, most seeds grokking); partly if the 5x cell is sooner by less", note=reason)


POSTER_CLAIMS = {"small init": "delay ~1,050 steps vs ~333,000 (~100x); ended at 73.75% val acc",
                 "sparse init": "delay ~1,050 steps vs ~333,000 (~100x)",
                 "Grokfast": "not in the poster (Lee et al. 2024: up to ~50x)",
                 "four tasks": "~18x in % of a task-scaled budget; 4.4x in raw steps",
                 "SGD": "SGD lr 0.005: ~41,500 steps vs AdamW 334,000 (~8x)"}
# Rows of the ledger (other scripts, at wd 1 or wd 0) that the slow rung speaks to: claim id ->
# (the same intervention on the rung, the weight decay of that row).
LEDGER_ROWS = {"init-small": ("small init", "1"), "init-sparse": ("sparse init", "1"),
               "phase-small-init": ("small init", "1"), "init-small-wd=0": ("small init", "0"),
               "init-sparse-wd=0": ("sparse init", "0"), "init-small-all-wd=0": ("small init", "0"),
               "multitask": ("four tasks", "1"), "sgd": ("SGD, 5x contraction (poster's ratio)", "1"),
               "grokfast": ("Grokfast", "1")}


def ledger_reasons(reasons):
    """For those rows: a one-line reason, from what the same intervention did on the slow rung
    (regime-bound if it reproduced there; else the rung's own verdict and reason)."""
    out = {}
    for cid, (name, wd) in LEDGER_ROWS.items():
        if name not in reasons:
            continue
        verdict, reason = reasons[name]
        out[cid] = (f"regime-bound: at wd {wd} it did not show; on the slow rung (grok_delay) it did"
                    if verdict == "reproduced" else f"on the slow rung (grok_delay) too: {verdict}"
                    + (f"; {reason}" if reason else ""))
    return out


def law_claims(law, errors, product, product_errs, held, predictions, setting, missing=()):
    """Three rows: the norm law, the product law (the held-out cells' test of 'lr x wd sets the
    delay'), and the prediction of the poster's delay."""
    def median_abs(errs):
        return float(np.median(np.abs(errs))) if errs else None
    med, pmed = median_abs(errors), median_abs(product_errs)
    all_grokked = all(m["delay"] for m in held)
    spread = ("" if law is None else
              f"V at grokking {law['v_star_min']:.0f}–{law['v_star_max']:.0f}, own kappa "
              f"{law['kappa_min']:.3f}–{law['kappa_max']:.3f}")
    rows = [common.claim(
        "delay-law", "Beyond the poster: the delay is ln(V_mem/V*) / (2 kappa lr wd), V the squared parameter norm",
        "not in the poster (Omnigrok, Liu et al. 2022; arXiv 2605.18845 for AdamW)", setting,
        "no fit (no fitted cell grokked)" if law is None else
        f"fitted on lr 1e-3: {spread}; held-out cells (other lr): median |error| "
        + ("n/a" if med is None else f"{med:.0%} over {len(errors)} members"),
        common.verdict(law is not None and law["fits"] and med is not None and med <= 0.25,
                       partly=law is not None and law["fits"]),
        "one threshold V* and one kappa (each within 2x over the fitted members), and the held-out delays "
        "within 25% (median |error|); partly if only the first",
        note="budget-bound: no fitted cell grokked within its budget." if law is None else "" if law["fits"] else
        "contradicted: the model groks at very different norms and its norm shrinks at different rates "
        "(post-LN: the weights before each LayerNorm can shrink without changing the function), so no one "
        "V* and kappa describe it."),
        common.claim(
        "delay-product", "Beyond the poster: the product lr x wd sets the delay (delay = A (lr wd)^-beta)",
        "not in the poster (arXiv 2603.13331: the delay scales inversely with lr and wd)", setting,
        "no fit (fewer than two lr 1e-3 cells grokked)" if product is None else
        f"beta {product['beta']:.2f} over lr x wd {', '.join(f'{r:.0e}' for r in product['rates'])}; held-out "
        f"cells: median |error| " + ("n/a" if pmed is None else f"{pmed:.0%} over {len(product_errs)} members")
        + ("" if all_grokked else "; some held-out member never grokked"),
        common.verdict(pmed is not None and pmed <= 0.25 and all_grokked, partly=pmed is not None and pmed <= 0.5),
        "fitted on lr 1e-3, the power law predicts the held-out cells (other lr) within 25% (median |error|, "
        "every member grokked); partly within 50%",
        note="" if pmed is not None and pmed <= 0.25 and all_grokked else
        "budget-bound: too few cells grokked to fit." if product is None else
        "contradicted: the held-out cells grokked at other delays than the power law fitted on lr 1e-3 predicts "
        "(its exponent, set by the fast rates, overshoots the slow end, where the delay grows about as "
        "1/(lr wd); and a small lr at the same product memorises late, then groks sooner)."
        if pmed is not None and pmed > 0.25 else
        "budget-bound: a held-out member did not grok within its budget.")]
    if {"ladder-fast", "ladder-slow"} & set(missing):
        for row in rows:
            row["note"] = (row["note"] + " " if row["note"] else "") + "Not final: the ladder arms " + \
                ", ".join(sorted({"ladder-fast", "ladder-slow"} & set(missing))) + " have not finished."
    norm_pred, product_pred, local_pred = predictions
    mid = local_pred or product_pred  # the slow end's own exponent where the ladder has one
    shown = [f"the slowest rungs' exponent at least {local_pred:,.0f} steps" if local_pred else None,
             f"the product law fitted on lr 1e-3 {product_pred:,.0f}" if product_pred else None,
             f"the norm law {norm_pred[1]:,.0f}" + ("" if not law or law["fits"] else " (a law that does not fit)")
             if norm_pred and norm_pred[1] else None]
    shown = [s for s in shown if s]
    rows.append(common.claim(
        "delay-poster-regime", "From our runs, the delay's scaling predicts the poster's delay at wd 1e-3",
        f"~{POSTER_DELAY:,} steps (grokked 334,000, memorised ~800; width 128)", setting + "; V_mem at wd 1e-3",
        "at lr x wd = 1e-6: " + "; ".join(shown) if shown else "no prediction: too few rungs grokked to fit a scaling",
        common.verdict(mid is not None and 0.5 <= POSTER_DELAY / mid <= 2,
                       partly=mid is not None and 0.2 <= POSTER_DELAY / mid <= 5),
        "the prediction from the slowest rungs' exponent (else the product law) within 2x of the poster's delay; "
        "partly within 5x",
        note="" if mid is None or 0.5 <= POSTER_DELAY / mid <= 2 else
        f"regime-bound: extrapolated 100x beyond our slowest rung, our scaling puts the poster's delay at "
        f"{mid / POSTER_DELAY:.3g}x what it measured (at least: the exponent is a lower bound), as does the norm law "
        "at the poster's width: grokking at wd 1e-3 in the poster's model is not our wd-1 grokking slowed down"))
    if "vmem" in missing or {"ladder-fast", "ladder-slow"} & set(missing):
        rows[2].update(verdict="see note", note="No verdict yet: the arms it needs (vmem and the ladder) have "
                                                "not all finished.")
    return rows


def arms_for(args, argv):
    base = common.grok_config(args, argv, optimizer="adamw", momentum=0.0, init="default", grokfast_lambda=0.0)
    cells = lambda pairs: [dict(lr=lr, weight_decay=wd) for lr, wd in pairs]
    rung_wd = args.rung_weight_decay
    sgd_same = dict(lr=args.sgd_lr, weight_decay=FIT_LR * rung_wd * (1 - args.sgd_momentum) / args.sgd_lr)
    sgd_five = dict(lr=args.sgd_lr, weight_decay=5 * sgd_same["weight_decay"])
    if not math.isfinite(sgd_five["weight_decay"]):  # the SGD decay is derived: name the flags it comes from
        raise runs.InputError(f"--sgd-lr {args.sgd_lr:g} is so small that the SGD rung's weight decay, "
                              f"{FIT_LR:g} x {rung_wd:g} x (1 - momentum) / lr x 5, is not finite; give a larger --sgd-lr")
    explicit = common.explicit_flags(argv)

    def steps(n, flag):
        """An arm's budget: its own flag's; with --quick the quick budget, unless that flag was given."""
        return n if not args.quick or flag in explicit else common.QUICK_GROK["steps"]
    rung = dataclasses.replace(base, lr=FIT_LR, weight_decay=rung_wd, steps=steps(args.rung_steps, "--rung-steps"))
    wide = dataclasses.replace(base, d_model=128, batch_size=512,
                               steps=steps(args.vmem_steps + 1000, "--vmem-steps"))
    if args.quick:
        wide = dataclasses.replace(wide, d_model=base.d_model, batch_size=base.batch_size)
    return {
        "ladder-fast": common.grid(dataclasses.replace(base, steps=steps(args.fast_steps, "--fast-steps")), cells(FAST),
                                   base.seeds),
        "ladder-slow": common.grid(base, cells(SLOW), base.seeds),
        "vmem": dataclasses.replace(base, lr=FIT_LR, weight_decay=POSTER_RATE / FIT_LR,
                                    steps=steps(args.vmem_steps, "--vmem-steps")),
        "width128": common.grid(wide, cells(((FIT_LR, 1.0), (FIT_LR, POSTER_RATE / FIT_LR))), base.seeds),
        "rung-adamw": common.grid(rung, [dict(init="default", grokfast_lambda=0.0), dict(init="small", grokfast_lambda=0.0),
                                         dict(init="sparse", grokfast_lambda=0.0),
                                         dict(init="default", grokfast_lambda=args.grokfast_lambda)], base.seeds),
        "rung-four-tasks": dataclasses.replace(rung, ops=("div", "add", "sub", "mul"), batch_mix="balanced"),
        "rung-sgd": common.grid(dataclasses.replace(rung, optimizer="sgd", momentum=args.sgd_momentum,
                                                    on_divergence="continue"), [sgd_same, sgd_five], base.seeds),
    }


def build_parser():
    p = common.grok_parser(__doc__, steps=30_000)  # ladder-slow: the budget RESULTS.md was made with
    p.set_defaults(d_model=64, batch_size=256)
    common.grokfast_members(p)
    next(a for a in p._actions if a.dest == "steps").help = "budget of ladder-slow (default: %(default)s)"
    p.add_argument("--fast-steps", type=common.positive_int, default=15_000,
                   help="budget of ladder-fast (default: %(default)s)")
    p.add_argument("--vmem-steps", type=common.positive_int, default=3_000,
                   help="budget of vmem; width128 gets 1,000 more (default: %(default)s)")
    p.add_argument("--rung-steps", type=common.positive_int, default=15_000,
                   help="budget of the rung-* arms (default: %(default)s)")
    p.add_argument("--rung-weight-decay", type=common.positive_float, default=0.3,
                   help="AdamW weight decay of the rung the interventions run on, at lr 1e-3 (default: %(default)s)")
    p.add_argument("--sgd-lr", type=common.positive_float, default=0.005,
                   help="SGD lr on the rung (default: %(default)s, the poster's)")
    p.add_argument("--sgd-momentum", type=common.unit_half_open, default=0.9, help="SGD momentum (default: %(default)s)")
    p.add_argument("--finished-only", action="store_true",
                   help="train nothing: write the tables from the arms already finished under --out and say "
                        "which are missing (a study spread over sittings)")
    common.refuse(p, ["--ops", "--batch-mix", "--optimizer", "--init", "--lr", "--weight-decay", "--momentum", "--preset"],
                  "the arms set these (see --help)")
    return p


def main(argv=None):
    args = common.parse(build_parser(), argv)
    out = common.out_folder(args, "grok_delay")
    arms = arms_for(args, argv)
    args.resume_command = common.rerun_command("grok_delay", argv, drop={"--finished-only"}, add=["--resume"])
    if args.finished_only:
        for flag in ("arm", "overwrite"):  # --finished-only trains nothing: a flag that trains contradicts it
            if getattr(args, flag):
                raise runs.InputError(f"--finished-only trains nothing and --{flag} trains; give one of them")
        common.check_arms(arms, args)
        done = {k: cfg for k, cfg in arms.items() if runs.RunFolder.holds_finished(os.path.join(out, k))}
        if not done:
            raise runs.InputError(f"--finished-only: no arm under {out} has finished yet, so there is nothing to "
                                  f"tabulate; train them with `{args.resume_command}`")
        args.resume = True
        results = common.run_arms(done, out, args, reuse_only="--finished-only")
    else:
        results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    return report(arms, results, out, args)


def rung_sentence(groups, rung_wd):
    """One sentence: how far the slow rung's baseline is from memorisation, and what each intervention did."""
    stats = {name: group_stats(ms) for name, ms in groups.items()}
    base = stats["baseline"]
    mem, delay = base["memorized_step"]["median"], base["delay"]["median"]
    ratio = f", a delay {delay / mem:.1f}x its memorisation step" if mem and delay else ""
    done = lambda g: (f"grokked {g['n_grokked']}/{g['n']}" + (f" at {common.fmt(g['grokked_step'])}"
                                                             if g["n_grokked"] else "")
                      + ("" if g["memorized_step"]["median"] is not None else ", most seeds never memorised"))
    return (f"On the slow rung lr 1e-3 x wd {rung_wd:g}, the baseline grokked at {common.fmt(base['grokked_step'])}"
            f"{ratio}; there " + "; ".join(f"{name}: {done(g)}" for name, g in stats.items() if name != "baseline")
            + ".")


def regime_summary(law, errors, poster, recs, missing, product=None, product_errs=(), product_poster=None,
                   wide=(None, None), groups=None, rung_wd=None, resume_command=None):
    """The paragraph RESULTS.md opens with: our regime against the poster's, the laws, the prediction."""
    ladder = recs["ladder-fast"] + recs["ladder-slow"]
    said = []
    for (lr, wd), ms in sorted(by_cell(ladder).items(), key=lambda kv: -kv[0][0] * kv[0][1]):
        s = analysis.member_stats(ms, ("memorized_step", "delay"))
        said.append(f"lr {lr:g} x wd {wd:g}: memorised {common.fmt(s['memorized_step'])}, delay "
                    f"{common.fmt(s['delay'])}")
    text = [f"The poster trained at weight decay 1e-3 for 400,000 steps: memorised at ~{POSTER_MEM} steps, "
            f"grokked at ~{POSTER_GROK:,}, a delay ~{POSTER_DELAY // POSTER_MEM}x its memorisation step. This "
            "ledger's grokking claims run at weight decay 1 (memorised ~500, grokked ~3,100 at width 128: a delay "
            "~5x), where a claim of the form 'X groks N times sooner' has little room to show. grok_delay.py "
            "measures how the delay grows as lr x wd falls (width 64, batch 256, 3 seeds; steps are optimizer "
            "updates, median [min–max]): " + "; ".join(said) + "."]
    if product:
        text.append(f"Fitted on the lr 1e-3 cells, delay = A (lr wd)^-{product['beta']:.2f}"
                    + (f"; it predicts the held-out cells (other lr) with a median error of "
                       f"{np.median(product_errs):+.0%}" if product_errs else "") + ".")
    local = local_exponent(ladder)
    if local and product and local["rates"][0] < min(product["rates"]):
        text.append(f"Below the fitted rates the delay grows more slowly: from lr x wd {local['rates'][1]:.0e} to "
                    f"{local['rates'][0]:.0e} the median delay of the members that grokked went from "
                    f"{local['delays'][1]:,.0f} to {local['delays'][0]:,.0f} steps, an exponent of "
                    f"{local['beta']:.2f} (a lower bound: members still memorised at the budget would grok later); "
                    f"extrapolated with it, the poster's rate gives at least {local_delay(local, POSTER_RATE):,.0f} "
                    f"steps, {local_delay(local, POSTER_RATE) / POSTER_DELAY:.0f}x the poster's.")
    if law:
        text.append("The norm law ln(V_mem/V*) / (2 kappa lr wd) " + (
            "fits: one V* and one kappa describe the fitted cells." if law["fits"] else
            f"does not fit: the model groks at norms from {law['v_star_min']:.0f} to {law['v_star_max']:.0f} and "
            f"its own kappa ranges {law['kappa_min']:.3f}–{law['kappa_max']:.3f} (post-LN weights can shrink "
            "without changing the function)."))
    if product_poster:
        text.append(f"Extrapolated to the poster's lr x wd = 1e-6, the product law gives a delay of "
                    f"{product_poster:,.0f} steps, against the poster's ~{POSTER_DELAY:,}"
                    + (f"; the norm law gives {poster[1]:,.0f}" if poster and poster[1] else "") + ".")
    wide_law, wide_poster = wide
    if wide_law and wide_poster and wide_poster[1]:
        text.append(f"At the poster's width and batch (128, 512) the wd-1 cell memorises and groks as the ledger's "
                    f"baseline, and there the norm law does describe it (V at grokking {wide_law['v_star_min']:.0f}–"
                    f"{wide_law['v_star_max']:.0f}, kappa {wide_law['kappa_min']:.2f}–{wide_law['kappa_max']:.2f}); "
                    f"from V at memorisation at wd 1e-3 it predicts a delay of {wide_poster[1]:,.0f} "
                    f"[{(wide_poster[0] or 0):,.0f}–{(wide_poster[2] or 0):,.0f}] steps, "
                    f"{wide_poster[1] / POSTER_DELAY:.0f}x the poster's.")
    if (groups or {}).get("baseline"):
        text.append(rung_sentence(groups, rung_wd))
    if missing:
        text.append(f"Arms not finished yet: {', '.join(missing)} (they resume with `{resume_command}`).")
    return text


def report(arms, results, out, args):
    recs = {name: records(results[name], cfg) if name in results else [] for name, cfg in arms.items()}
    missing = [name for name in arms if name not in results]
    ladder = recs["ladder-fast"] + recs["ladder-slow"]
    law = fit([m for m in ladder if m["lr"] == FIT_LR])
    held = [m for m in ladder if m["lr"] != FIT_LR]
    errors = held_out_errors(law, held)
    poster = predict_interval(law, [m["v_mem"] for m in recs["vmem"]], POSTER_RATE)
    product = fit_product([m for m in ladder if m["lr"] == FIT_LR])
    product_errs = product_errors(product, held)
    product_poster = product_delay(product, POSTER_RATE)
    local = local_exponent(ladder)
    wide = recs["width128"]
    wide_law = fit([m for m in wide if m["weight_decay"] == 1.0])
    wide_poster = predict_interval(wide_law, [m["v_mem"] for m in wide if m["weight_decay"] != 1.0], POSTER_RATE)

    ladder_rows = [cell_row(cell_name(*k) + (" (fit)" if k[0] == FIT_LR else " (held out)"), ms, law)
                   for k, ms in sorted(by_cell(ladder).items(), key=lambda kv: -kv[0][0] * kv[0][1])]
    common.print_table("ladder: division mod 97, median over seeds; V = squared parameter norm", HEADERS, ladder_rows)
    n = len(args.seeds)
    groups = {}
    for name, member_recs in (("rung-adamw", recs["rung-adamw"]),):
        for i, label in enumerate(INTERVENTIONS):
            groups[label] = member_recs[i * n:(i + 1) * n]
    groups["four tasks"] = recs["rung-four-tasks"]
    groups["SGD, same contraction"] = recs["rung-sgd"][:n]
    groups["SGD, 5x contraction (poster's ratio)"] = recs["rung-sgd"][n:]
    groups = {label: ms for label, ms in groups.items() if ms}  # arms not run yet have no members
    rung_rows = [cell_row(label, ms, law) for label, ms in groups.items()]
    common.print_table(f"interventions on the rung lr 1e-3 x wd {args.rung_weight_decay:g}", HEADERS, rung_rows)
    end = lambda v: "unbounded" if v is None else f"{v:,.0f}"  # a kappa <= 0 allows any delay
    fmt_pred = lambda t: "—" if not t or not t[1] else f"{t[1]:,.0f} [{end(t[0])}–{end(t[2])}]"
    law_rows = [
        ["kappa (median [min–max] over fitted members)",
         "—" if not law else f"{law['kappa']:.3f} [{law['kappa_min']:.3f}–{law['kappa_max']:.3f}]"],
        ["V* (geometric mean [min–max] of V at grokking)",
         "—" if not law else f"{law['v_star']:.0f} [{law['v_star_min']:.0f}–{law['v_star_max']:.0f}]"],
        ["held-out error (predicted/measured - 1): median, worst",
         "—" if not errors else f"{np.median(errors):+.0%}, {max(errors, key=abs):+.0%} ({len(errors)} members)"],
        ["norm law fits (one V* and one kappa, each within 2x)", "—" if not law else "yes" if law["fits"] else "no"],
        ["product law: beta in delay = A (lr wd)^-beta", "—" if not product else f"{product['beta']:.2f}"],
        ["product law, held-out error: median, worst", "—" if not product_errs else
         f"{np.median(product_errs):+.0%}, {max(product_errs, key=abs):+.0%} ({len(product_errs)} members)"],
        ["product law's delay at lr x wd = 1e-6", "—" if not product_poster else f"{product_poster:,.0f}"],
        ["local exponent between the two slowest rates with a grokked member (a lower bound)",
         "—" if not local else f"{local['beta']:.2f} (lr x wd {local['rates'][1]:.0e} -> {local['rates'][0]:.0e}: "
                               f"delay {local['delays'][1]:,.0f} -> {local['delays'][0]:,.0f})"],
        ["its delay at lr x wd = 1e-6 (at least)", "—" if not local else f"{local_delay(local, POSTER_RATE):,.0f}"],
        ["V_mem at wd 1e-3 (median [min–max])", common.fmt(analysis.member_stats(recs["vmem"], ("v_mem",))["v_mem"])],
        ["norm law's delay at lr x wd = 1e-6 (width 64)", fmt_pred(poster)],
        ["norm law's delay at lr x wd = 1e-6 (width 128, fitted on its wd 1 cell)", fmt_pred(wide_poster)],
        ["poster's delay (wd 1e-3, width 128)", f"~{POSTER_DELAY:,} (memorised ~{POSTER_MEM}, grokked ~{POSTER_GROK:,})"]]
    if missing:
        law_rows.append(["arms not finished yet (not in these tables)", ", ".join(missing)])
    common.print_table("the law T_grok - T_mem = ln(V_mem/V*) / (2 kappa lr wd)", ["quantity", "value"], law_rows)
    setting = (f"division mod 97, width {arms['ladder-fast'].d_model}, batch {arms['ladder-fast'].batch_size}, "
               f"AdamW, lr x wd cells {', '.join(cell_name(*k) for k in by_cell(ladder))}, "
               f"{len(args.seeds)} seeds each")
    rows, reasons = (intervention_claims(groups, law, arms["rung-adamw"].steps, args.rung_weight_decay)
                     if "baseline" in groups else ([], {}))
    claim_rows = law_claims(law, errors, product, product_errs, held,
                            (poster, product_poster, local_delay(local, POSTER_RATE)), setting, missing) + rows
    regime = regime_summary(law, errors, poster, recs, missing, product, product_errs, product_poster,
                            (wide_law, wide_poster), groups, args.rung_weight_decay, args.resume_command)
    fast, slow = arms["ladder-fast"], arms["ladder-slow"]
    figure = plot_law(ladder, product, product_poster, os.path.join(out, "delay_law.png"), wide_poster, local,
                      f"width {fast.d_model}, batch {fast.batch_size}, AdamW, {len(args.seeds)} seeds per cell; "
                      f"budgets {fast.steps:,} steps (lr x wd >= {min(lr * wd for lr, wd in FAST):.0e}) and {slow.steps:,} "
                      f"(lr x wd = {max(lr * wd for lr, wd in SLOW):.0e})")
    common.save_table(out, {
        "script": "grok_delay", "law": law, "width128_law": wide_law, "held_out_errors": errors,
        "product_law": product, "product_held_out_errors": product_errs, "product_poster_prediction": product_poster,
        "local_exponent": local,
        "poster_prediction": poster, "width128_poster_prediction": wide_poster, "records": recs,
        "tables": {"ladder": {"title": "The ladder: division mod 97, median over seeds; V = squared parameter norm",
                              "headers": HEADERS, "rows": ladder_rows},
                   **({"interventions": {"title": f"The interventions on the slow rung, lr 1e-3 x wd "
                                                  f"{args.rung_weight_decay:g}", "headers": HEADERS,
                                         "rows": rung_rows}} if rung_rows else {}),
                   "law": {"title": "The laws, fitted on the lr 1e-3 cells, and their predictions for the "
                                    "poster's lr x wd = 1e-6", "headers": ["quantity", "value"], "rows": law_rows}},
        "claims": claim_rows, "reasons": ledger_reasons(reasons), "missing_arms": missing, "regime": regime,
        "arms": common.arm_records(arms, results)}, figures=[figure] if figure or runs.pyplot() is None else [])
    return results


if __name__ == "__main__":
    common.main_guard(main)
