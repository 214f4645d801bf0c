"""Every kind of figure, drawn from a --quick run and read back from matplotlib (skipped without it):
a colour and a legend entry per setting, a title, a linear step axis with memorised and grokked
markers, and an attention map that names its seed and clips its colour scale."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import common  # noqa: E402
import plateau  # noqa: E402
import runs  # noqa: E402

pytest.importorskip("matplotlib")


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved meanwhile, as {file name: what it showed}, read just before it is saved."""
    seen = {}
    save = runs.save_figure

    def record(fig, path, *args, **kwargs):
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        seen[os.path.relpath(path, os.path.dirname(os.path.dirname(path)))] = dict(
            suptitle=fig._suptitle.get_text() if fig._suptitle else "",
            titles=[ax.get_title() for ax in axes], xscale=[ax.get_xscale() for ax in axes],
            legend=[t.get_text() for legend in fig.legends + [ax.get_legend() for ax in axes if ax.get_legend()]
                    for t in legend.get_texts()],
            colors={tuple(line.get_color()) if not isinstance(line.get_color(), str) else line.get_color()
                    for ax in axes for line in ax.lines
                    if len(line.get_xdata()) > 1 and line.get_gid() != "threshold"},
            markers=[(line.get_marker(), float(line.get_xdata()[0])) for ax in axes for line in ax.lines
                     if len(line.get_xdata()) == 1],
            colorbars=[ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"],
            images=[(im.get_clim(), im.get_array().max()) for ax in axes for im in ax.images],
            size=fig.get_size_inches() * kwargs.get("dpi", args[0] if args else 80))
        result = save(fig, path, *args, **kwargs)
        assert os.path.getsize(path) < 200_000, f"{path} is too large for the repository"
        return result

    monkeypatch.setattr(runs, "save_figure", record)
    return seen


@pytest.mark.integration  # trains (a quick run)
@pytest.mark.parametrize("script, figure, settings", [
    ("grok_optimizer", "sgd/curves.png", [f"lr {lr:g}, momentum {m:g}" for lr in (0.005, 0.01, 0.02, 0.05, 0.1)
                                          for m in (0, 0.9)]),
    ("grok_interventions", "adamw/curves.png", ["grokfast lambda 0, init default", "grokfast lambda 0, init small",
                                                "grokfast lambda 0, init sparse", "grokfast lambda 2, init default"]),
    ("grok", "grok/curves.png", ["seed 0", "seed 1", "seed 2"]),
])
def test_grok_curves_tell_every_setting_apart(script, figure, settings, drawn, tmp_path):
    common.run_main(__import__(script).main, ["--quick", "--out", str(tmp_path / script)])
    seen = drawn[figure]
    assert seen["legend"][:len(settings)] == settings  # one legend entry per setting, named
    assert len(seen["colors"]) == len(settings)  # and one colour each
    assert seen["suptitle"].startswith(f"{script}/{figure.split('/')[0]}")
    assert "at most " in seen["suptitle"].split("\n")[1]  # the setting and budget, under the folder
    assert seen["xscale"] == ["linear"] and seen["size"][0] >= 700


def test_grok_curves_mark_memorised_and_grokked_steps(drawn, tmp_path):
    """Member 0 memorises at step 20 and groks at 60; member 1 memorises at 40 and never groks."""
    cfg = plateau.GrokConfig(seeds=(0, 1), p=11, ops=("div",))
    acc = {(0, "train"): [0.1, 0.96, 1, 1, 1], (0, "val"): [0, 0.1, 0.5, 0.97, 1],
           (1, "train"): [0.1, 0.5, 0.99, 1, 1], (1, "val"): [0, 0, 0, 0.1, 0.2]}
    history = [dict(step=20 * i, member=e, task="div", split=split, loss=1.0, acc=a)
               for (e, split), values in acc.items() for i, a in enumerate(values)]
    (tmp_path / "grok").mkdir()
    runs.plot_history(history, cfg, str(tmp_path / "grok" / "curves.png"))
    assert sorted(drawn["grok/curves.png"]["markers"]) == [("*", 60.0), ("o", 20.0), ("o", 40.0)]


@pytest.mark.integration  # trains (a quick run)
def test_attention_map_names_its_seed_and_clips_one_bright_cell(drawn, tmp_path):
    code = common.run_main(__import__("attention_map").main, ["--quick", "--seeds", "4,5", "--out", str(tmp_path / "a")])
    assert code == 0
    seen = drawn["a/attention_maps.png"]
    assert all("seed 4" in title for title in seen["titles"]) and len(seen["titles"]) == 3
    assert all(vmax <= brightest for (_, vmax), brightest in seen["images"])
    assert len(seen["colorbars"]) == 3 and all("clipped" in label for label in seen["colorbars"])


def test_attention_map_colour_scale_ignores_one_bright_cell(drawn, tmp_path):
    import numpy as np
    import attention_map
    m = np.tril(np.full((1, 8, 8), 0.01))
    m[0, 7, 7] = 100.0  # one bright cell
    (tmp_path / "a").mkdir()
    attention_map.plot({"mws": m}, 4, 3, str(tmp_path / "a" / "map.png"), "a title")
    (low, high), _ = drawn["a/map.png"]["images"][0]
    assert high == pytest.approx(0.01) and drawn["a/map.png"]["titles"] == ["MWS: mean |A|, seed 3"]


def test_four_operations_draw_a_grid_two_panels_wide(monkeypatch, tmp_path):
    """One row of four 7.5-inch panels was 2,925 px wide: unreadable once a page scales it down."""
    grids = []
    save = runs.save_figure
    monkeypatch.setattr(runs, "save_figure", lambda fig, path, *a, **k: (
        grids.append(sorted(ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes)), save(fig, path, *a, **k))[1])
    ops = ("div", "add", "sub", "mul")
    cfg = plateau.GrokConfig(seeds=(0,), p=11, ops=ops)
    history = [dict(step=20 * i, member=0, task=op, split=split, loss=1.0, acc=i / 4)
               for op in ops for split in ("train", "val") for i in range(5)]
    (tmp_path / "grok").mkdir()
    runs.plot_history(history, cfg, str(tmp_path / "grok" / "curves.png"))
    assert grids == [[(2, 2)] * 4]


def test_a_figure_is_written_aside_then_renamed(tmp_path):
    """A savefig that fails half-way (a full disk, Ctrl-C) leaves the earlier figure whole, and no part file."""
    import matplotlib.figure
    path = tmp_path / "curves.png"
    path.write_bytes(b"the earlier figure")

    class Broken(matplotlib.figure.Figure):
        def savefig(self, fname, **kwargs):
            open(fname, "wb").write(b"half a ")
            raise OSError(28, "No space left on device")
    with pytest.raises(runs.InputError, match="No space left"):
        runs.save_figure(Broken(), str(path))
    assert path.read_bytes() == b"the earlier figure" and os.listdir(tmp_path) == ["curves.png"]


@pytest.mark.integration  # trains (a quick run)
def test_reusing_a_finished_run_draws_its_missing_figure(tmp_path):
    """A run trained without matplotlib gets its figure from --resume once matplotlib is there."""
    out = tmp_path / "g"
    assert common.run_main(__import__("grok").main, ["--quick", "--out", str(out)]) == 0
    figure = out / "grok" / "curves.png"
    drawn = figure.read_bytes()
    figure.unlink()
    assert common.run_main(__import__("grok").main, ["--quick", "--out", str(out), "--resume"]) == 0
    assert figure.read_bytes() == drawn


@pytest.mark.integration  # trains (a quick run)
def test_the_phase_map_names_its_problem_seeds_and_budget(drawn, tmp_path):
    assert common.run_main(__import__("grok_phase").main, ["--quick", "--out", str(tmp_path / "p")]) == 0
    seen = drawn["p/phase.png"]
    assert seen["suptitle"].startswith("grok_phase: division mod 11") and "median over 2 seeds" in seen["suptitle"]
    assert [t.split(" (")[0] for t in seen["titles"] if t] == ["memorised step", "grokked step", "delay",
                                                 "final train accuracy", "final val accuracy"]


@pytest.mark.integration  # trains (a quick run)
def test_a_figure_names_its_script_whatever_the_out_folder(drawn, tmp_path):
    assert common.run_main(__import__("grok").main, ["--quick", "--out", str(tmp_path / "v12")]) == 0
    assert drawn["grok/curves.png"]["suptitle"].startswith("grok (v12)/grok: seeds 0, 1, 2\n")


def test_the_delay_law_shows_fitted_points_over_held_out_ones_and_never_grokked_seeds(drawn, tmp_path):
    """Fitted and held-out cells at one 1/(lr wd) had hidden the fitted points under white-faced rings,
    and seeds that never grokked were left out of the picture."""
    import grok_delay
    member = lambda lr, wd, mem, delay, steps=1000: dict(lr=lr, rate=lr * wd, memorized_step=mem, delay=delay,
                                                         steps=steps)
    ladder = [member(1e-3, 0.3, 100, 500), member(3e-3, 0.1, 100, 520), member(1e-3, 0.1, 100, None),
              member(1e-3, 1.0, 100, 50)]
    product = grok_delay.fit_product([m for m in ladder if m["lr"] == grok_delay.FIT_LR and m["delay"]])
    local = grok_delay.local_exponent(ladder)
    (tmp_path / "d").mkdir()
    grok_delay.plot_law(ladder, product, 1e9, str(tmp_path / "d" / "law.png"), None, local)
    seen = drawn["d/law.png"]
    assert ("^", 1 / 1e-4) in seen["markers"]  # the never-grokked seed, at the least delay it can have
    assert any("the verdict's" in t for t in seen["legend"]) and any("never grokked" in t for t in seen["legend"])


def test_the_phase_map_says_how_many_seeds_grokked_where_any_did(monkeypatch, tmp_path):
    import grok_phase
    texts = []
    save = runs.save_figure
    monkeypatch.setattr(runs, "save_figure", lambda fig, path, *a, **k: (
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts), save(fig, path, *a, **k))[1])
    cells = {(s, w): dict(members=[{}, {}], n_grokked=int(s == 1 and w == 1),
                          **{k: dict(median=None) for k in grok_phase.KEYS}) for s in (0.1, 1) for w in (0, 1)}
    grok_phase.heatmaps([0.1, 1], [0, 1], cells, plateau.GrokConfig(seeds=(0, 1)), str(tmp_path / "phase.png"))
    assert texts.count("never\n1/2 seeds") == 2  # the grokked step's and the delay's cell: a median hides it
    assert not any("0/2" in t for t in texts)  # where none grokked, 'never' says it all


@pytest.mark.integration  # trains (a quick run)
def test_task_diversity_gives_each_arm_one_colour_in_every_panel(monkeypatch, tmp_path):
    colours = {}
    save = runs.save_figure

    def record(fig, path, *a, **k):
        for line in [line for ax in fig.axes for line in ax.lines] if path.endswith("loss_vs_samples.png") else []:
            colours.setdefault(line.get_label(), set()).add(line.get_color())
        return save(fig, path, *a, **k)
    monkeypatch.setattr(runs, "save_figure", record)
    assert common.run_main(__import__("task_diversity").main, ["--quick", "--out", str(tmp_path / "t")]) == 0
    arms = {k: v for k, v in colours.items() if not k.startswith("_")}
    assert "mws-mwp-mwd" in arms and all(len(c) == 1 for c in arms.values()), arms
    assert len({next(iter(c)) for c in arms.values()}) == len(arms)  # and no two arms share one
