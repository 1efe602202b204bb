from __future__ import annotations

from pathlib import Path


class MediaError(ValueError):
    """A media file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")
