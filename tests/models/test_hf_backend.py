"""The hf: backend on tiny random-weight checkpoints of real transformers architectures."""

import numpy as np
import pytest
from PIL import Image

from telltale.models import UnsupportedRequest, load_model
from telltale.models.base import STAT_NAMES, DecodingConfig, Request

AUDIO_FAMILIES = ("qwen2_audio", "audioflamingo3")
IMAGE_FAMILIES = ("llava",)


def requests_for(family, speech_clips):
    prompts = ["What is said?", "Transcribe the audio.", "Describe this.", "Who speaks?",
               "Is the speaker male or female?", "What accent is this?", "Summarise.", "Hi"]
    reqs = []
    for i, prompt in enumerate(prompts):
        system = "You are a careful assistant." if i % 3 == 0 else None
        if family in AUDIO_FAMILIES:
            reqs.append(Request(prompt, system=system, audio=speech_clips[i % len(speech_clips)]))
        else:
            pixels = (np.random.default_rng(i).random((30 + 9 * i, 64, 3)) * 255).astype("uint8")
            reqs.append(Request(prompt, system=system, image=Image.fromarray(pixels)))
    return reqs


def assert_sane(stats):
    v = stats.values
    assert set(v) == set(STAT_NAMES) and all(len(v[n]) == len(stats.tokens) for n in v)
    assert np.all(v["logprob"] <= 1e-6)
    assert np.all(v["entropy"] >= -1e-6)
    assert np.all(v["renyi_0_5"] + 1e-4 >= v["entropy"])
    assert np.all(v["entropy"] + 1e-4 >= v["renyi_2"])
    assert np.all(v["renyi_2"] + 1e-4 >= v["renyi_inf"])
    assert np.all(v["top1_prob"] + 1e-6 >= v["top2_prob"])


@pytest.mark.parametrize("family", AUDIO_FAMILIES + IMAGE_FAMILIES)
def test_full_path_generate_score_and_batch_invariance(family, tiny_models, speech_clips):
    model = load_model(f"hf:{tiny_models[family]}", batch_size=8)
    assert {"generate", "score", "batch", "stats_on_generate"} <= model.capabilities
    reqs = requests_for(family, speech_clips)
    decoding = DecodingConfig(max_new_tokens=6)

    batched = model.generate(reqs, decoding, with_stats=True)
    assert len(batched) == 8 and all(g.stats is not None for g in batched)
    for gen in batched:
        assert_sane(gen.stats)

    # statistics gathered during generation equal a teacher-forced pass over the same tokens
    ids = [model.tokenizer.convert_tokens_to_ids(g.stats.tokens) for g in batched]
    for gen, scored in zip(batched, model.score_token_ids(reqs, ids), strict=True):
        for name in STAT_NAMES:
            np.testing.assert_allclose(gen.stats.values[name], scored.values[name], atol=2e-4)

    # batch size 1 and 8 give the same outputs and scores
    model.batch_size = 1
    single = model.generate(reqs, decoding, with_stats=True)
    assert [g.text for g in single] == [g.text for g in batched]
    texts = ["the speaker sounds male", "hello world", "", "a form with a name"] * 2
    one = model.score(reqs, texts)
    model.batch_size = 8
    eight = model.score(reqs, texts)
    for a, b in zip(one, eight, strict=True):
        assert a.tokens == b.tokens
        for name in STAT_NAMES:
            np.testing.assert_allclose(a.values[name], b.values[name], atol=2e-4)
    assert len(eight[2]) == 0 and len(eight[0]) > 0


def test_media_the_family_cannot_take_is_refused(tiny_models, speech_clips):
    vision = load_model(f"hf:{tiny_models['llava']}")
    with pytest.raises(UnsupportedRequest, match="does not accept audio"):
        vision.generate([Request("what is said?", audio=speech_clips[0])])
    audio = load_model(f"hf:{tiny_models['qwen2_audio']}")
    with pytest.raises(UnsupportedRequest, match="does not accept image"):
        audio.score([Request("x", image=Image.new("RGB", (8, 8)))], ["y"])


def test_fingerprint_tracks_weights(tiny_models, tmp_path):
    from tiny import build_tiny

    other = build_tiny("qwen2_audio", tmp_path / "reseeded", seed=1)
    a = load_model(f"hf:{tiny_models['qwen2_audio']}")
    b = load_model(f"hf:{other}")
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint == load_model(f"hf:{tiny_models['qwen2_audio']}").fingerprint


def test_clear_errors_for_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_model(f"hf:{tmp_path}")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="model_type 'bert' is not supported"):
        load_model(f"hf:{tmp_path}")
