"""Shared plotting steps of the experiment figures (matplotlib, Agg backend)."""

from __future__ import annotations


def subplots(*args, **kwargs):
    """``plt.subplots`` on the non-interactive Agg backend (experiments run headless)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def finish_figure(fig, axes, path, *, xlabel: str | None = None, legend_size: int = 7) -> None:
    """Shared last step of the plots: x label, grid and legend on every axis (an axis whose legend
    was already placed keeps it), save at 120 dpi, close."""
    import matplotlib.pyplot as plt

    for a in axes:
        if xlabel is not None:
            a.set_xlabel(xlabel)
        a.grid(True, which="both", alpha=0.3)
        if a.get_legend() is None:
            a.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
