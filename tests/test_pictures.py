"""Pictures that answer the design question: widths to scale with a colour bar, loads, targets, legends."""

from __future__ import annotations

import numpy as np

from fem_mnn.viz.geometry import plot_geometry
from fem_mnn.viz.training import lattice_figure, training_curves_figure


def test_geometry_png_colours_by_width_and_marks_the_task(paper, tmp_path, monkeypatch):
    import matplotlib.figure

    seen = {}
    real = matplotlib.figure.Figure.savefig

    def keep(fig, *a, **k):  # look at the figure before it is written
        seen["fig"] = fig
        return real(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    d = paper.with_widths(np.linspace(1.5, 2.5, paper.n_bonds))
    f = np.zeros((1, d.n_nodes, 2))
    f[0, 10] = (0.0, -0.1)
    t = np.full((1, d.n_nodes, 2), np.nan)
    t[0, 12, 1] = -0.5
    path = plot_geometry(d, tmp_path / "geometry.png", loads=f, targets=t)
    assert path.stat().st_size > 10_000
    fig = seen["fig"]
    ax, cbar = fig.axes
    assert cbar.get_ylabel() == "bond width (mm)"
    colours = {tuple(p.get_facecolor()) for p in ax.patches if type(p).__name__ == "Polygon"}
    assert len(colours) == d.n_bonds  # one colour per distinct width, not per id modulo a palette
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["clamped node", "load", "target (mm)"]
    assert any("uy -0.5" in t.get_text() for t in ax.texts) and any("0.1 N" in t.get_text() for t in ax.texts)


def test_training_lattice_has_a_legend(paper):
    f = np.zeros((paper.n_nodes, 2))
    f[10] = (0.0, -0.1)
    fig = lattice_figure(paper, loads=f, outputs=[(12, 1)])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["fixed node", "load", "output (x/y)"]


class _Result:
    def series(self, key):
        return {"loss": np.array([1.0, 0.5]), "train_u_12y": np.array([-0.3, -0.45])}[key]


def test_behaviour_training_plot_shows_outputs_against_targets():
    fig = training_curves_figure([("behaviour", _Result())], outputs=[("train_u_12y", -0.5, "u_12y")])
    ax = fig.axes[-1]
    assert len(fig.axes) == 2 and ax.get_ylabel() == "output displacement (mm)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["u_12y (final -0.45)", "u_12y target -0.5"]
