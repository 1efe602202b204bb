"""Media I/O: audio and images, their hashes, and the media conditions of a probe."""

from telltale.media.errors import MediaError

__all__ = ["MediaError"]
