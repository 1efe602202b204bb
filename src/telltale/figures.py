"""Figures as every report shows them: one resolution, and a caption that travels in the
PNG itself and names what the error bars are.

A figure is drawn by its audit with matplotlib (:func:`pyplot`) and saved with
:func:`save_figure`; the report (:mod:`telltale.report`) reads the caption back with
:func:`figure_caption`, so a figure copied out of the run keeps its explanation, and a
figure without one is visible as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: dots per inch of every saved figure: a 8-inch-wide figure is 960 px, the report's width
DPI = 120
#: the PNG text key the caption is stored under (a standard PNG keyword)
CAPTION_KEY = "Description"
#: the interval every rate and share is drawn with, as captions name it
WILSON = "95% Wilson intervals"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, caption: str) -> Path:
    """Save ``fig`` as a PNG at :data:`DPI` with ``caption`` in its metadata, and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        The PNG to write (its folder is created).
    caption : str
        What the figure shows and what its error bars or bands are ("error bars: 95%
        Wilson intervals"); the report prints it under the figure.

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={CAPTION_KEY: caption})
    pyplot().close(fig)
    return path


def figure_caption(path: str | Path) -> str | None:
    """The caption :func:`save_figure` stored in a PNG, or None."""
    from PIL import Image

    with Image.open(path) as image:
        return getattr(image, "text", {}).get(CAPTION_KEY)
