"""The audio tower's output for a clip, computed once and reused by every training stage.

The tower (Whisper's encoder) stays frozen, so what it makes of a clip never changes; the
stages train only what comes after it. Qwen2-Audio runs the tower on the whole 30 s window
of log-mel frames (3000) and masks the padded positions as attention keys. A clip of ``L``
real frames gives ``N = (L - 1) // 2 + 1`` valid positions after the strided convolution
and ``(N - 2) // 2 + 1`` audio tokens after the pooling. Valid position ``j`` sees mel frames
``2j - 2`` to ``2j + 2`` through the two convolutions (kernel 3, the second with stride 2),
and attention never reaches a masked position, so the first ``2N + 1`` frames of the padded
window already give every valid output: :func:`tower_features` runs the tower on them
alone, a tenth of the work for a 3 s clip. ``tests/audiolm`` checks it against the model's
own forward pass.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np


def tower_features(model: Any, processor: Any, audio: np.ndarray) -> Any:
    """What the audio tower passes to the projector for one 16 kHz clip: a (tokens, d_model)
    float32 tensor, one row per ``<|AUDIO|>`` token the processor puts in the prompt."""
    import torch

    tower = model.model.audio_tower
    extracted = processor.feature_extractor(
        [audio], sampling_rate=16000, padding="max_length", return_attention_mask=True,
        return_tensors="pt")
    frames = int(extracted["attention_mask"].sum())
    valid = (frames - 1) // 2 + 1
    tokens = (valid - 2) // 2 + 1
    mel = extracted["input_features"][:, :, :2 * valid + 1]
    with torch.no_grad():
        hidden = torch.nn.functional.gelu(tower.conv1(mel))
        hidden = torch.nn.functional.gelu(tower.conv2(hidden)).permute(0, 2, 1)
        length = hidden.shape[1]
        hidden = hidden + tower.embed_positions.weight[:length]
        keys = torch.zeros(1, 1, length, length)
        keys[..., valid:] = float("-inf")
        for layer in tower.layers:
            hidden = layer(hidden, keys)
        pooled = tower.avg_pooler(hidden.permute(0, 2, 1)).permute(0, 2, 1)
        return tower.layer_norm(pooled)[0, :tokens].contiguous()


class FeatureStore:
    """Tower outputs on disk, one file per clip content (sha256 of the audio samples and
    the encoder's identity), written atomically so a killed build keeps what it finished."""

    def __init__(self, folder: Path, encoder_id: str):
        self.folder = folder
        self.encoder_id = encoder_id
        folder.mkdir(parents=True, exist_ok=True)

    def key(self, audio: np.ndarray) -> str:
        digest = hashlib.sha256(self.encoder_id.encode())
        digest.update(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
        return digest.hexdigest()

    def get(self, model: Any, processor: Any, audio: np.ndarray) -> Any:
        import torch

        path = self.folder / f"{self.key(audio)}.npy"
        if path.exists():
            return torch.from_numpy(np.load(path))
        features = tower_features(model, processor, audio)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, features.numpy())
        partial.replace(path)
        return features
