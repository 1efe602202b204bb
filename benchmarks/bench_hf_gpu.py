"""Throughput of the hf: backend on a Qwen2-Audio built on the device, and the batch-size
effect on scores in bfloat16.

Usage::

    python benchmarks/bench_hf_gpu.py [--size 7b|small|tiny] [--batch-sizes 1,8,64]
                                      [--rounds 2] [--trials 3] [--new-tokens 48]
                                      [--clip-seconds 5] [--threads N]
                                      [--effect-dtype bfloat16]
                                      [--device auto] [--dtype bfloat16] [--json out.json]

The model is never downloaded: a checkpoint directory holding only the config, a
word-level tokenizer covering the whole vocabulary, the Whisper feature extractor and a
chat template is written to a temporary folder, and random weights of that shape are
built directly on the device and handed to :class:`telltale.models.hf.HFModel`. ``7b``
is the shape of Qwen2-Audio-7B (a Whisper-large-v3 encoder: 32 layers, width 1280; a
7B language model: 32 layers, width 4096, vocabulary 156,032); ``small`` is a shape a CPU
runs in minutes; ``tiny`` runs on a CPU in seconds (the test suite runs it).

For each batch size, ``rounds`` batches of 5 s clips (different noise, different
prompts) go through the backend, after one warm-up batch; each route is timed
``trials`` times, interleaved, and the median counts (CPU seconds of the process on a
CPU, wall seconds on a GPU). Reported, as samples per
second: ``generate``; ``generate`` with statistics; ``generate`` then ``score`` of the
generated text (the two-pass route of backends without statistics on generate); and the
ratio of generate with statistics to plain generate.

The batch-size effect: the same requests and continuations scored at batch 1 and at
batch 8, in bfloat16 unless ``--effect-dtype`` says otherwise; reported are the largest
absolute per-token log-probability difference and the largest difference in a sample's
mean negative log-likelihood.
Random weights give near-uniform distributions, so these figures show the numerical
effect of batching (padding, kernel choice by shape), not its size on a trained model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine_info

from telltale.models.base import DecodingConfig, Request

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"encoder": dict(d_model=32, encoder_layers=1, encoder_attention_heads=2,
                             encoder_ffn_dim=64),
             "text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2),
             "vocab": 4096},
    "small": {"encoder": dict(d_model=256, encoder_layers=4, encoder_attention_heads=4,
                              encoder_ffn_dim=1024),
              "text": dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=4,
                           num_attention_heads=8, num_key_value_heads=8),
              "vocab": 32000},
    # Qwen2-Audio-7B: Whisper-large-v3 encoder and a Qwen-7B language model
    "7b": {"encoder": dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20,
                           encoder_ffn_dim=5120),
           "text": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=32),
           "vocab": 156032},
}

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>",
            "<|audio_eos|>"]
TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
PROMPTS = ["What is said?", "Transcribe the audio.", "Who speaks?", "Is the speaker male?",
           "What accent is this?", "Summarise the call.", "Any names mentioned?", "Describe"]


def write_checkpoint(folder: Path, size: str) -> Path:
    """Config, tokenizer and processor of the ``size`` shape; no weight files."""
    import transformers as tf
    from tokenizers import Tokenizer, models, pre_tokenizers

    shape = SIZES[size]
    words = [w for p in PROMPTS for w in p.replace("?", " ?").replace(".", " .").split()]
    words += ["system", "user", "assistant", "Audio", "1", ":", "?", "."]
    vocab: dict[str, int] = {}
    for token in [*SPECIALS, "[UNK]", *words]:
        vocab.setdefault(token, len(vocab))
    while len(vocab) < shape["vocab"]:  # the model's whole vocabulary decodes to words
        vocab[f"w{len(vocab)}"] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = tf.PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>",
                                           pad_token="<|endoftext|>", unk_token="[UNK]",
                                           clean_up_tokenization_spaces=False)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS})
    features = tf.WhisperFeatureExtractor(feature_size=128, sampling_rate=16000,
                                          hop_length=160, chunk_length=30, n_fft=400)
    tf.Qwen2AudioProcessor(features, tokenizer, chat_template=TEMPLATE).save_pretrained(folder)
    config = tf.Qwen2AudioConfig(
        audio_config={**shape["encoder"], "num_mel_bins": 128, "max_source_positions": 1500},
        text_config={**shape["text"], "vocab_size": shape["vocab"],
                     "max_position_embeddings": 8192, "tie_word_embeddings": False,
                     "pad_token_id": vocab["<|endoftext|>"]},
        audio_token_index=vocab["<|AUDIO|>"])
    config.save_pretrained(folder)
    tf.GenerationConfig(eos_token_id=vocab["<|im_end|>"],
                        pad_token_id=vocab["<|endoftext|>"]).save_pretrained(folder)
    return folder


def build_model(folder: Path, device: str, dtype: str, batch_size: int, seed: int) -> Any:
    """Random weights of the checkpoint's shape, built on ``device`` in ``dtype``."""
    import torch
    import transformers as tf

    from telltale.models.hf import HFModel

    config = tf.AutoConfig.from_pretrained(folder, local_files_only=True)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):
            weights = tf.Qwen2AudioForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    return HFModel(folder, dtype=dtype, device=device, batch_size=batch_size, weights=weights)


def requests(n: int, clip_seconds: float, seed: int) -> list[Request]:
    """``n`` requests of ``clip_seconds`` of low-level noise each, prompts in turn."""
    rng = np.random.default_rng(seed)
    samples = int(clip_seconds * 16000)
    return [Request(PROMPTS[i % len(PROMPTS)],
                    audio=(0.05 * rng.standard_normal(samples)).astype(np.float32))
            for i in range(n)]


def throughput(model: Any, batch: int, rounds: int, trials: int, clip_seconds: float,
               new_tokens: int) -> dict[str, Any]:
    """Samples per second of the three routes at one batch size, after a warm-up.

    The two generate routes are timed ``trials`` times in alternating order (plain first
    in even trials, with statistics first in odd ones), then the scoring pass; each figure
    is the median trial. On a CPU the clock is this process's CPU time, so that load from
    other processes on the machine does not count; on a GPU it is wall time."""
    model.batch_size = batch
    decoding = DecodingConfig(max_new_tokens=new_tokens)
    model.generate(requests(batch, clip_seconds, seed=99), decoding, with_stats=True)
    reqs = requests(batch * rounds, clip_seconds, seed=batch)
    clock = time.perf_counter if model.device.startswith("cuda") else time.process_time
    seconds: dict[str, list[float]] = {"plain": [], "stats": [], "score": []}
    generated: dict[str, list[str]] = {}

    def timed(route: str, run: Any, *args: Any, **kwargs: Any) -> Any:
        _sync(model.device)
        start = clock()
        out = run(*args, **kwargs)
        _sync(model.device)
        seconds[route].append(clock() - start)
        return out

    for trial in range(trials):
        for route in ("plain", "stats") if trial % 2 == 0 else ("stats", "plain"):
            out = timed(route, model.generate, reqs, decoding, with_stats=route == "stats")
            generated[route] = [g.text for g in out]
        timed("score", model.score, reqs, generated["plain"])
    plain_s, stats_s, score_s = (float(np.median(seconds[k])) for k in ("plain", "stats",
                                                                         "score"))
    return {"batch_size": batch, "samples": len(reqs), "trials": trials,
            "clock": "wall" if clock is time.perf_counter else "process cpu",
            "generate_per_s": round(len(reqs) / plain_s, 3),
            "generate_stats_per_s": round(len(reqs) / stats_s, 3),
            "generate_then_score_per_s": round(len(reqs) / (plain_s + score_s), 3),
            "stats_over_plain_time": round(stats_s / plain_s, 3),
            "same_text_with_stats": generated["plain"] == generated["stats"],
            "mean_new_tokens": round(float(np.mean([
                len(model.tokenizer(text)["input_ids"]) for text in generated["plain"]])), 1)}


def batch_effect(model: Any, clip_seconds: float, new_tokens: int) -> dict[str, float]:
    """Scores of eight requests at batch 1 against batch 8, in the model's dtype."""
    reqs = requests(8, clip_seconds, seed=7)
    model.batch_size = 8
    texts = [g.text for g in model.generate(reqs, DecodingConfig(max_new_tokens=new_tokens))]
    eight = model.score(reqs, texts)
    model.batch_size = 1
    one = model.score(reqs, texts)
    token_diff = max(float(np.max(np.abs(a.values["logprob"] - b.values["logprob"])))
                     for a, b in zip(one, eight, strict=True) if len(a))
    nll_diff = max(abs(float(np.mean(a.values["logprob"]) - np.mean(b.values["logprob"])))
                   for a, b in zip(one, eight, strict=True) if len(a))
    return {"max_abs_token_logprob_diff": token_diff, "max_abs_mean_nll_diff": nll_diff,
            "tokens_scored": int(sum(len(s) for s in one))}


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="7b", choices=tuple(SIZES))
    parser.add_argument("--batch-sizes", default="1,8,64",
                        help="comma-separated batch sizes to time")
    parser.add_argument("--rounds", type=int, default=2, help="timed batches per batch size")
    parser.add_argument("--trials", type=int, default=3,
                        help="times each route is timed; the median is reported")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads on CPU (default: torch's choice)")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"),
                        help="weights for the throughput figures")
    parser.add_argument("--effect-dtype", default="bfloat16", choices=("bfloat16", "float32"),
                        help="weights for the batch-size effect on scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    import torch

    batches = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if not batches or min(batches) < 1 or args.rounds < 1 or args.trials < 1:
        parser.error("--batch-sizes needs positive integers, --rounds and --trials at "
                     "least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    result: dict[str, Any] = {"size": args.size, "device": device, "dtype": args.dtype,
                              "new_tokens": args.new_tokens, "clip_seconds": args.clip_seconds,
                              "threads": torch.get_num_threads(),
                              "machine": machine_info()}
    if device.startswith("cuda"):
        result["gpu"] = torch.cuda.get_device_name(torch.device(device))
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_checkpoint(Path(tmp), args.size)
        model = build_model(folder, device, args.dtype, max(batches), args.seed)
        result["parameters"] = sum(p.numel() for p in model.lm.parameters())
        result["throughput"] = []
        for batch in batches:
            result["throughput"].append(throughput(model, batch, args.rounds, args.trials,
                                                   args.clip_seconds, args.new_tokens))
            print(json.dumps(result["throughput"][-1]), flush=True)
        if args.effect_dtype != args.dtype:
            del model
            model = build_model(folder, device, args.effect_dtype, 8, args.seed)
        result["batch_effect"] = {"dtype": args.effect_dtype,
                                  **batch_effect(model, args.clip_seconds, args.new_tokens)}
    print(json.dumps(result["batch_effect"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
