"""OTB-style success and precision plots (matplotlib with the Agg backend, imported lazily)."""

from __future__ import annotations

import os

import numpy as np

from .metrics import ERROR_THRESHOLDS, OVERLAP_THRESHOLDS, PRECISION_PX

# Colours / line styles cycling like the OTB toolkit's plotDrawStyle10.
_STYLES = [((1, 0, 0), "-"), ((0, 0.7, 0), "--"), ((0, 0, 1), ":"), ((0, 0, 0), "-"), ((1, 0, 1), "--"),
           ((0, 0.75, 0.75), ":"), ((0.5, 0.5, 0.5), "-"), ((136 / 255, 0, 21 / 255), "--"),
           ((1, 127 / 255, 39 / 255), ":"), ((0, 162 / 255, 232 / 255), "-"), ((163 / 255, 73 / 255, 164 / 255), "--")]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _plot(curves: dict[str, np.ndarray], scores: dict[str, float], x: np.ndarray, path: str, title: str,
          xlabel: str, ylabel: str, legend_loc: str) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=100)
    order = sorted(curves, key=lambda name: -scores[name])
    for i, name in enumerate(order):
        color, style = _STYLES[i % len(_STYLES)]
        style = style if i < len(_STYLES) else "-."
        ax.plot(x, curves[name], color=color, linestyle=style, linewidth=2 if i < 3 else 1.5,
                label=f"{name} [{scores[name]:.3f}]")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, linestyle=":", alpha=0.6)
    ax.legend(loc=legend_loc, fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def plot_success(curves: dict[str, np.ndarray], aucs: dict[str, float], path: str,
                 title: str = "Success plots of OPE") -> str:
    """Success rate vs overlap threshold, one line per tracker, legend ``name [AUC]`` sorted by AUC."""
    return _plot(curves, aucs, OVERLAP_THRESHOLDS, path, title, "Overlap threshold", "Success rate", "lower left")


def plot_precision(curves: dict[str, np.ndarray], path: str, title: str = "Precision plots of OPE") -> str:
    """Precision vs location error threshold, legend ``name [precision at 20 px]`` sorted by it."""
    scores = {k: float(v[PRECISION_PX]) for k, v in curves.items()}
    return _plot(curves, scores, ERROR_THRESHOLDS, path, title, "Location error threshold", "Precision",
                 "lower right")
