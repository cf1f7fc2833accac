"""Figure plumbing for the fit plots: matplotlib's object API only (Figure + the Agg canvas), so
importing or plotting never touches pyplot's global state or the caller's backend."""

import pathlib

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

PARAMS_LABELS = {"total": "total", "nonembed": "non-embedding"}


def new_figure(width: float = 7, height: float = 4.5, ncols: int = 1):
    """A Figure with `ncols` axes side by side, rendered by Agg (files only)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def save(fig: Figure, out, name: str) -> list[str]:
    """Write out/name.png and out/name.svg; returns their paths."""
    paths = []
    for ext in ("png", "svg"):
        path = pathlib.Path(out) / f"{name}.{ext}"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(str(path))
    return paths


def colours(values, cmap: str = "viridis") -> dict:
    """A colour per distinct value, in order along the colour map."""
    distinct = np.unique(values)
    colour_map = matplotlib.colormaps[cmap]
    return {v: colour_map(i / max(len(distinct) - 1, 1)) for i, v in enumerate(distinct)}


def flops_label(convention: str) -> str:
    """Axis label naming the FLOPs convention (6N: the table's flops column, 6·N·D by default)."""
    return f"training compute C (FLOPs, {convention} convention)"


def params_label(convention: str = "total") -> str:
    """Axis label naming the parameter count used."""
    return f"parameters N ({PARAMS_LABELS[convention]})"


def log_loss_axis(ax) -> None:
    """Log-scaled loss axis labelled with plain numbers (a loss spans well under a decade)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.set_ylabel("loss")
