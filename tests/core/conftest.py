"""Real media files made for the core tests: tones, speech-like signals, images."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image


def tone(seconds: float, rate: int, freq: float = 220.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


@pytest.fixture()
def media_dir(tmp_path: Path) -> Path:
    sf.write(tmp_path / "a.wav", tone(1.0, 16000), 16000)
    sf.write(tmp_path / "b.flac", tone(0.5, 44100, channels=2), 44100)
    sf.write(tmp_path / "c.ogg", tone(0.7, 22050), 22050, format="OGG", subtype="VORBIS")
    Image.new("RGB", (32, 24), (200, 10, 10)).save(tmp_path / "d.png")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio\n")
    return tmp_path
