"""Image loading for vision models."""

from __future__ import annotations

from pathlib import Path

from telltale.media.errors import MediaError


def load_image(path: str | Path):
    """Open an image file as an RGB ``PIL.Image.Image``, fully decoded.

    Raises
    ------
    MediaError
        If the file is missing, empty or not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty")
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(path, f"cannot decode image ({exc})") from None
