"""The system TrueType fonts forms are printed in, and Pillow's default when one is missing."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from telltale.console import log

#: font name -> (regular file, bold file), looked up under FONT_DIRS
FONTS: dict[str, tuple[str, str]] = {
    "dejavu-sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "dejavu-serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    "dejavu-mono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    "liberation-sans": ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    "liberation-serif": ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf"),
    "liberation-mono": ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf"),
    "liberation-narrow": ("LiberationSansNarrow-Regular.ttf", "LiberationSansNarrow-Bold.ttf"),
}
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
             Path.home() / ".fonts", Path.home() / ".local/share/fonts")


@cache
def find_font_file(filename: str) -> Path | None:
    """The first file called ``filename`` under :data:`FONT_DIRS`, or None."""
    for root in FONT_DIRS:
        if root.is_dir():
            for hit in sorted(root.rglob(filename)):
                return hit
    return None


def available_fonts() -> list[str]:
    """Names in :data:`FONTS` whose regular face is installed."""
    return [name for name, (regular, _) in FONTS.items() if find_font_file(regular)]


@cache
def load_font(name: str, size: int, bold: bool = False):
    """Pillow font ``name`` at ``size`` (bold face if installed), or Pillow's default."""
    from PIL import ImageFont

    if name not in FONTS:
        raise ValueError(f"unknown font {name!r}; known: {', '.join(FONTS)}")
    regular, heavy = FONTS[name]
    path = find_font_file(heavy if bold else regular) or find_font_file(regular)
    if path is None:
        log.warning("font %s (%s) not found under %s; using Pillow's built-in default font, "
                    "so the render does not vary by font", name, regular,
                    ", ".join(map(str, FONT_DIRS)))
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size)


def font_note(name: str) -> str | None:
    """What the ground truth says when font ``name`` is not installed; None when it is."""
    if find_font_file(FONTS[name][0]) is None:
        return f"{FONTS[name][0]} not installed: Pillow's default font used instead"
    return None
