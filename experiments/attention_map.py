"""After multi-task training, attention concentrates on the task's separator token.

Claim (poster): the model learns a structured attention map, concentrating on
the task-specific separator token.

We train MWS + MWP + MWD together (as in task_diversity.py's three-task arm)
until every task converges, then average |A|, the attention map's absolute
values (linear attention: A = mask * QK^T/sqrt(D), no softmax, so weights can
be negative), over a held-out batch of each task: mean |A|. For each output
position i we report the separator's share of that mass, mean |A|[i, sep] /
sum_j mean |A|[i, j], against the share 1/(i+1) uniform attention would give it.

Width and learning rate: `--preset poster` (the default: D=256, Adam lr 1e-4,
taken as the poster's) or `--preset fast` (D=64, lr 1e-3; writes under
runs/attention_map-fast).

Run times: RESULTS.md ("Run times").
"""
import os

import numpy as np

import common
import fastops
import plateau
import runs

ag = common.ag
TASKS = ("mws", "mwp", "mwd")


def attention_maps(result, cfg):
    """Per task: the mean |A| over the held-out batch, (E, T, T), as NumPy."""
    fastops.set_backend(cfg.backend, cfg.dtype)
    problem = plateau.SequenceProblem(cfg)
    params = {k: ag.Tensor(ag.from_numpy(v)) for k, v in result.params.items()}
    maps = {}
    with ag.no_grad():
        for task, (inputs, _) in problem.heldout.items():
            _, _, weights = plateau.sequence_forward(params, inputs, cfg)
            maps[task] = ag.to_numpy(ag.xp.abs(weights.data).mean(axis=1))
    return maps


def separator_share(maps, n):
    """Per task: (E, n) share of each output query's |attention| on the separator."""
    out = {}
    for task, m in maps.items():
        rows = m[:, n:, :]                                     # queries at SEP, y_1..y_{n-1}
        out[task] = rows[:, :, n] / rows.sum(axis=-1)          # key n is the separator
    return out


@runs.drawing
def plot(maps, n, seed, path, title, clip=98):
    """The first member's mean |A| per task; its colour scale stops at the `clip` percentile of
    the map's unmasked cells, so one bright cell does not wash out the separator's column."""
    plt = runs.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, len(maps), figsize=(4.4 * len(maps), 3.8))
    for ax, (task, m) in zip(np.atleast_1d(axes), maps.items()):
        causal = m[0][np.tril_indices(len(m[0]))]  # the cells the mask lets through
        image = ax.imshow(m[0], cmap="viridis", vmin=0, vmax=float(np.percentile(causal, clip, method="lower")))
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, extend="max",
                     label=f"mean |A| (top {100 - clip}% of cells clipped)")
        ax.set_title(f"{task.upper()}: mean |A|, seed {seed}")
        ax.set_xlabel(f"key position (separator at {n})")
        ax.set_ylabel("query position")
    fig.suptitle(title, fontsize=10)
    return runs.save_figure(fig, path, dpi=70)


def claims(shares, uniform, cfg):
    means = {t: float(np.median(s.mean(axis=1))) for t, s in shares.items()}
    u = float(uniform.mean())
    return [common.claim(
        "attention", "Attention concentrates on the task's separator token", "qualitative (attention map figure)",
        f"MWS+MWP+MWD trained together, mean |A| over {cfg.eval_size} held-out sequences; "
        f"{common.sequence_setting(cfg)}",
        "separator share of |attention| over output queries (median over seeds): "
        + ", ".join(f"{t} {v:.3f}" for t, v in means.items()) + f" (uniform: {u:.3f})",
        common.verdict(all(v > 2 * u for v in means.values()), partly=all(v > u for v in means.values())),
        "share > 2x uniform for every task; partly if only > uniform")]


def main(argv=None):
    args = common.parse(common.sequence_parser(__doc__), argv)
    out = common.out_folder(args, "attention_map")
    arms = {"mws-mwp-mwd": common.sequence_config(args, argv, TASKS)}
    results = common.run_arms(arms, out, args)
    if common.only_one_arm(args, out):
        return results
    result, cfg = results["mws-mwp-mwd"], arms["mws-mwp-mwd"]
    maps = attention_maps(result, cfg)
    shares = separator_share(maps, cfg.n)
    uniform = 1.0 / (np.arange(cfg.n, 2 * cfg.n) + 1)
    rows = [[t, f"{np.median(s.mean(axis=1)):.3f}", f"{uniform.mean():.3f}",
             f"{np.median(s[:, 0]):.3f}", f"{np.median(s[:, -1]):.3f}"] for t, s in shares.items()]
    headers = ["task", "mean share", "uniform would be", "at SEP itself", "at the last output"]
    common.print_table("separator's share of |attention| over output queries (median over seeds)", headers, rows)
    figure = plot(maps, cfg.n, cfg.seeds[0], os.path.join(out, "attention_maps.png"),
                  f"attention_map (--preset {args.preset}): one model trained on MWS+MWP+MWD, seed {cfg.seeds[0]} (one of "
                  f"{len(cfg.seeds)}); the table's shares are medians over all seeds\n{plateau.describe(cfg)}")
    common.save_table(out, {
        "script": "attention_map", "tables": {"shares": {"headers": headers, "rows": rows}},
        "shares": {t: s.tolist() for t, s in shares.items()}, "uniform": uniform.tolist(),
        "claims": claims(shares, uniform, cfg), "preset": args.preset,
        "arms": common.arm_records(arms, results)}, figures=[figure])
    return results


if __name__ == "__main__":
    common.main_guard(main)
