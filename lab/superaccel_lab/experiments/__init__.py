"""The paper's figures, one small module each, run by :mod:`superaccel_lab.experiments.figure`."""

from __future__ import annotations

import importlib

FIGURE_NAMES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8")


def get_figure(name: str):
    """The :class:`~superaccel_lab.experiments.figure.Figure` called ``name`` (e.g. "fig1")."""
    if name not in FIGURE_NAMES:
        raise ValueError(f"Invalid figure: {name!r} (choose from {', '.join(FIGURE_NAMES)})")
    return importlib.import_module(f"{__name__}.{name}").FIGURE
