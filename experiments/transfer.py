"""Pretraining on prefix sum removes the loss plateau of the moving-window sum.

Claim (poster): pretraining on one task and fine-tuning on another eliminates
the loss plateau entirely (Figure 2: prefix sum -> MWS); fine-tuning mostly
shifts the bias terms of the attention (its website: the Q/K/V weights stay,
the biases move).

Arms: MWS from scratch; prefix sum (pretraining, to convergence); prefix ->
MWS (fine-tuning from the pretrained weights with a fresh Adam); and the
same for MWP: from scratch, and MWS -> MWP. We compare plateau lengths and
samples to converge, and report for each fine-tuning, per parameter, the
relative change |W_after - W_before| / |W_before| (median over seeds),
weights and biases separately. A fine-tuning arm starts from its parent arm's
finished run (with --arm, the parent must be finished first).

Width and learning rate: `--preset poster` (the default: D=256, Adam lr 1e-4,
taken as the poster's) or `--preset fast` (D=64, lr 1e-3; writes under
runs/transfer-fast); batch 128, as task_diversity.py explains.

Run times: RESULTS.md ("Run times").
"""
import os

import numpy as np

import common
import analysis
import plateau
import runs

GROUPS = [("embeddings", ("W_E", "W_pos")), ("attention Q/K/V weights", ("W_Q", "W_K", "W_V")),
          ("attention Q/K/V biases", ("b_Q", "b_K", "b_V")), ("attention output weight", ("W_O",)),
          ("attention output bias", ("b_O",)), ("MLP weights", ("W_in", "W_out")),
          ("MLP biases", ("b_in", "b_out")), ("LayerNorm weights", ("ln1.w", "ln2.w", "ln_f.w")),
          ("LayerNorm biases", ("ln1.b", "ln2.b", "ln_f.b")), ("read-out", ("W_U",))]
PARENT = {"prefix-to-mws": "prefix-pretrain", "mws-to-mwp": "mws-scratch"}


def relative_change(before, after):
    """Per parameter: median over members of |after - before| / |before| (Frobenius)."""
    out = {}
    for name in before:
        b, a = before[name], after[name]
        norms = [np.linalg.norm(a[e] - b[e]) / max(np.linalg.norm(b[e]), 1e-12) for e in range(b.shape[0])]
        out[name] = float(np.median(norms))
    return out


def grouped(change):
    return {group: float(np.mean([change[n] for n in names])) for group, names in GROUPS}


@runs.drawing
def plot_curves(results, path, preset, cfg):
    """Held-out loss of each seed, from scratch and fine-tuned, on a log axis (a fine-tuned run
    starts high, and a linear axis would flatten its late, low plateau), a circle where each seed
    converged (held-out token accuracy reached --threshold)."""
    plt = runs.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (task, pairs) in zip(axes, [("mws", ("mws-scratch", "prefix-to-mws")),
                                        ("mwp", ("mwp-scratch", "mws-to-mwp"))]):
        for name in pairs:
            members = range(len(results[name].summary[task]["members"]))
            for e in members:
                rows = analysis.rows_of(results[name].history, e, task, "heldout")
                color = "C0" if "scratch" in name else "C1"
                ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], color=color, lw=1)
                done = results[name].summary[task]["members"][e]["converged_step"]
                if done is not None:
                    ax.plot(done, next(r["loss"] for r in rows if r["step"] == done), "o", color=color, ms=6,
                            mec="black", mew=0.5, zorder=3)
        ax.set_yscale("log")
        ax.set_title(f"{task.upper()}: {pairs[0]} vs {pairs[1]}")
        ax.set_xlabel("step")
        ax.set_ylabel("held-out loss (log)")
    seeds = len(results["mws-scratch"].summary["mws"]["members"])
    handles = [plt.Line2D([], [], color="C0", label=f"from scratch ({seeds} seeds, a line each)"),
               plt.Line2D([], [], color="C1", label="fine-tuned from the pretrained model"),
               plt.Line2D([], [], color="grey", marker="o", mec="black", mew=0.5, ls="",
                          label="converged (held-out accuracy reached)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)  # below: no curve hidden
    fig.suptitle(f"transfer (--preset {preset}): held-out loss; fine-tuned runs start from the pretrained model\n"
                 f"{plateau.describe(cfg)}", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return runs.save_figure(fig, path, dpi=80, layout=False)


def _le(ours, theirs, factor):
    """Whether the median `ours` is at most factor x the median `theirs` (both reached)."""
    return ours["median"] is not None and theirs["median"] is not None and ours["median"] <= factor * theirs["median"]


def claims(results, change_rows, cfg):
    scratch, tuned = results["mws-scratch"].summary["mws"], results["prefix-to-mws"].summary["mws"]
    mwp, mwp_tuned = results["mwp-scratch"].summary["mwp"], results["mws-to-mwp"].summary["mwp"]
    change = {row[0]: float(row[1]) for row in change_rows}
    top = max(change, key=change.get)
    return [common.claim(
        "transfer", "Prefix-sum pretraining removes the MWS plateau", "no observable stall (Figure 2)",
        f"prefix sum to convergence, then MWS with a fresh Adam; {common.sequence_setting(cfg)}",
        f"MWS from scratch: plateau {common.fmt(scratch['plateau_step'])}, converged "
        f"{common.fmt_steps(scratch['converged_step'])}; fine-tuned: plateau {common.fmt(tuned['plateau_step'])}, "
        f"converged {common.fmt_steps(tuned['converged_step'])}",
        common.verdict(_le(tuned["plateau_step"], scratch["plateau_step"], 0.2)
                       and _le(tuned["converged_step"], scratch["converged_step"], 1.0),
                       partly=_le(tuned["plateau_step"], scratch["plateau_step"], 0.2)),
        "the fine-tuned plateau is <= 1/5 of scratch's and it converges no later; partly if only the plateau goes",
        note=f"MWS -> MWP converged at {common.fmt_steps(mwp_tuned['converged_step'])}, MWP from scratch at "
             f"{common.fmt(mwp['converged_step'])}."),
        common.claim(
        "finetune-biases", "Fine-tuning mostly moves the attention biases",
        "qualitative; the website: Q/K/V weights stay, biases move",
        f"prefix -> MWS; D={cfg.d_model}, Adam lr {cfg.lr:g}",
        f"|ΔW|/|W|: Q/K/V biases {change['attention Q/K/V biases']:.3f} vs Q/K/V weights "
        f"{change['attention Q/K/V weights']:.3f}; largest: {top} ({change[top]:.3f})",
        common.verdict(top.startswith("attention") and "bias" in top,
                       partly=change["attention Q/K/V biases"] > change["attention Q/K/V weights"]),
        "an attention-bias group moves most; partly if Q/K/V biases move more than Q/K/V weights",
        note="Relative change flatters biases, whose norms start small.")]


def main(argv=None):
    args = common.parse(common.sequence_parser(__doc__), argv)
    out = common.out_folder(args, "transfer")
    task = lambda *t: common.sequence_config(args, argv, t)
    arms = {"mws-scratch": task("mws"), "prefix-pretrain": task("prefix"), "prefix-to-mws": task("mws"),
            "mwp-scratch": task("mwp"), "mws-to-mwp": task("mwp")}
    common.check_arms(arms, args, out)
    results = {}

    def run(name):
        if name not in results:
            start = None
            if name in PARENT:
                parent = os.path.join(out, PARENT[name])
                if args.arm == name and not (runs.RunFolder.holds_finished(parent) and runs.RunFolder(
                        parent, (), plateau.config_to_dict(arms[PARENT[name]]), plateau.RESUMABLE).finished_result()):
                    first = common.rerun_command("transfer", common.without_flag(args.argv, "--arm"),
                                                 drop=("--resume", "--overwrite"), add=("--arm", PARENT[name]))
                    raise runs.InputError(f"arm {name} starts from arm {PARENT[name]}, which is not finished with "
                                          f"these flags in {parent}; train it first: `{first}` (add --resume to "
                                          "continue its checkpoint, or --overwrite to replace a run of other flags)")
                start = run(PARENT[name]).params
            resume = args.resume or (args.arm is not None and name != args.arm)  # a parent is only reused
            common.say(f"== {name}: {len(arms[name].seeds)} seed(s), up to {arms[name].steps} steps")
            try:
                results[name] = runs.train(arms[name], out=os.path.join(out, name), resume=resume,
                                              overwrite=args.overwrite and not resume, init_params=start)
            except runs.InputError as error:  # as common.run_arms says it: the command that retrains this arm alone
                raise runs.InputError(f"{error}{common.one_arm_remedy(name, args, error)}") from None
        return results[name]
    for name in arms if args.arm is None else [args.arm]:
        run(name)
    if common.only_one_arm(args, out):
        return results
    changes = {"prefix-to-mws": relative_change(results["prefix-pretrain"].params, results["prefix-to-mws"].params),
               "mws-to-mwp": relative_change(results["mws-scratch"].params, results["mws-to-mwp"].params)}
    rows = []
    for name, r in results.items():
        t = next(iter(r.summary))
        s = r.summary[t]
        rows.append([name, t, f"{s['n_converged']}/{len(s['members'])}", common.fmt(s["plateau_step"]),
                     common.fmt(s["converged_step"]), common.fmt(s["samples_to_converge"])])
    headers = ["arm", "task", "converged", "plateau step", "converged step", "samples"]
    common.print_table("plateau and convergence (median [min–max] over seeds)", headers, rows)
    by_group = {k: grouped(v) for k, v in changes.items()}
    change_rows = [[g] + [f"{by_group[k][g]:.3f}" for k in changes] for g, _ in GROUPS]
    change_headers = ["parameter group"] + list(changes)
    common.print_table("relative change |ΔW|/|W| during fine-tuning (median over seeds, mean over a group)",
                       change_headers, change_rows)
    figure = plot_curves(results, os.path.join(out, "finetune_vs_scratch.png"), args.preset, arms["mws-scratch"])
    common.save_table(out, {
        "script": "transfer", "tables": {"arms": {"headers": headers, "rows": rows},
                                         "changes": {"headers": change_headers, "rows": change_rows}},
        "changes": changes, "claims": claims(results, change_rows, arms["mws-scratch"]), "preset": args.preset,
        "arms": common.arm_records(arms, results)}, figures=[figure])
    return results


if __name__ == "__main__":
    common.main_guard(main)
