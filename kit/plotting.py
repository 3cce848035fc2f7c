"""What every plot function of the kit shares (seaborn style: ``ax=None`` draws on a new figure)."""
from __future__ import annotations


def axes_for(ax=None, width: float = 8.0, height: float = 4.5):
    """``ax`` itself, or the Axes of a new ``width`` × ``height`` inch figure when it is None."""
    if ax is None:
        import matplotlib.pyplot as plt  # on first use: importing the kit does not import matplotlib

        _, ax = plt.subplots(figsize=(width, height))
    return ax
