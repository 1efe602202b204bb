"""The hf: backend on tiny random-weight checkpoints of the five supported architectures:
chat template, media features, generate, score, batching, statistics."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from telltale.models import UnsupportedRequest, load_model
from telltale.models.base import STAT_NAMES, DecodingConfig, Request

MEDIA = {"qwen2_audio": {"audio"}, "qwen2_5_omni": {"audio", "image"},
         "audioflamingo3": {"audio"}, "qwen2_vl": {"image"}, "llava": {"image"}}
PROMPTS = ["What is said?", "Transcribe the audio.", "Describe this.", "Who speaks?",
           "Is the speaker male or female?", "What accent is this?", "Summarise.", "Hi"]
# float32 with padding changes reduction orders in attention: differences ~1e-5
ATOL = 2e-4


def form_image(i: int) -> Image.Image:
    """A Pillow-drawn form of varying size with a name and a number printed on it."""
    img = Image.new("RGB", (60 + 17 * i, 40 + 11 * i), (250, 250, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle([2, 2, img.width - 3, img.height - 3], outline=(20, 20, 120), width=2)
    draw.text((5, 5), f"Name: Ann {i}", fill=(0, 0, 0))
    draw.text((5, 20), f"Tel {5550100 + i}", fill=(120, 0, 0))
    return img


def requests_for(family: str, clips: list[np.ndarray]) -> list[Request]:
    """Eight varied requests: prompts, system prompts, clip lengths, image sizes; the
    Omni model gets audio and images mixed in one list, and one request is text only."""
    reqs = []
    for i, prompt in enumerate(PROMPTS):
        system = "You are a careful assistant." if i % 3 == 0 else None
        use_audio = "audio" in MEDIA[family] and (i % 2 == 0 or "image" not in MEDIA[family])
        if i == 7:
            reqs.append(Request(prompt, system=system))
        elif use_audio:
            clip = clips[i % len(clips)]
            reqs.append(Request(prompt, system=system, audio=clip[: len(clip) - 1000 * i]))
        else:
            reqs.append(Request(prompt, system=system, image=form_image(i)))
    return reqs


def assert_sane(stats):
    v = stats.values
    assert set(v) == set(STAT_NAMES) and all(len(v[n]) == len(stats.tokens) for n in v)
    assert all(isinstance(t, str) and t for t in stats.tokens)
    assert np.all(np.isfinite(np.stack([v[n] for n in STAT_NAMES])))
    assert np.all(v["logprob"] <= 1e-6)
    assert np.all(v["entropy"] >= -1e-6)
    assert np.all(v["renyi_0_5"] + 1e-4 >= v["entropy"])
    assert np.all(v["entropy"] + 1e-4 >= v["renyi_2"])
    assert np.all(v["renyi_2"] + 1e-4 >= v["renyi_inf"])
    assert np.all(v["top1_prob"] + 1e-6 >= v["top2_prob"])
    assert np.all(v["logprob"] <= np.log(v["top1_prob"]) + 1e-4)


def assert_same_stats(a, b):
    assert a.tokens == b.tokens
    for name in STAT_NAMES:
        np.testing.assert_allclose(a.values[name], b.values[name], atol=ATOL, err_msg=name)


@pytest.mark.parametrize("family", list(MEDIA))
def test_full_path_generate_score_and_batch_invariance(family, tiny_models, speech_clips):
    model = load_model(f"hf:{tiny_models[family]}", batch_size=8)
    assert model.capabilities == {"generate", "score", "batch", "stats_on_generate",
                                  *MEDIA[family]}
    reqs = requests_for(family, speech_clips)
    decoding = DecodingConfig(max_new_tokens=6)

    batched = model.generate(reqs, decoding, with_stats=True)
    assert len(batched) == 8
    for gen in batched:
        assert gen.stats is not None and 0 < len(gen.stats) <= 6
        assert_sane(gen.stats)
    # the media reach the model: different inputs, different answers
    assert len({g.text for g in batched}) > 1

    # statistics gathered during generation equal a teacher-forced pass over the same
    # tokens, given as ids and, where the text tokenises back to them, as text
    ids = [model.tokenizer.convert_tokens_to_ids(g.stats.tokens) for g in batched]
    for gen, scored in zip(batched, model.score_token_ids(reqs, ids), strict=True):
        assert_same_stats(gen.stats, scored)
    by_text = model.score(reqs, [g.text for g in batched])
    round_trips = [i for i, s in enumerate(by_text) if s.tokens == batched[i].stats.tokens]
    assert len(round_trips) >= 6
    for i in round_trips:
        assert_same_stats(batched[i].stats, by_text[i])
        assert_sane(by_text[i])

    # batch size 1 and 8 give the same outputs and scores
    model.batch_size = 1
    single = model.generate(reqs, decoding, with_stats=True)
    assert [g.text for g in single] == [g.text for g in batched]
    for a, b in zip(single, batched, strict=True):
        assert_same_stats(a.stats, b.stats)
    texts = ["the speaker sounds male", "hello", "", "a form with a name and a phone",
             "female", "Who speaks ?", "7", "I cannot help with that request"]
    one = model.score(reqs, texts)
    model.batch_size = 8
    eight = model.score(reqs, texts)
    for a, b in zip(one, eight, strict=True):
        assert_same_stats(a, b)
    assert len(eight[2]) == 0 and [len(s) for i, s in enumerate(eight) if i != 2] == \
        [len(model.tokenizer(t, add_special_tokens=False)["input_ids"])
         for i, t in enumerate(texts) if i != 2]


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_vl"])
def test_media_change_the_scores(family, tiny_models, speech_clips):
    """The same prompt and continuation score differently with different media, so the
    features are spliced into the sequence rather than dropped."""
    model = load_model(f"hf:{tiny_models[family]}")
    if family == "qwen2_audio":
        a, b = (Request("Who speaks?", audio=clip) for clip in speech_clips[:2])
    else:
        a, b = (Request("Describe this.", image=form_image(i)) for i in (0, 5))
    sa, sb = model.score([a, b], ["the speaker sounds male"] * 2)
    assert not np.allclose(sa.values["logprob"], sb.values["logprob"], atol=1e-4)


def test_sampling_is_seeded_and_leaves_global_rng_alone(tiny_models, speech_clips):
    import torch

    model = load_model(f"hf:{tiny_models['qwen2_audio']}")
    req = [Request("What is said?", audio=speech_clips[0])]
    hot = DecodingConfig(max_new_tokens=8, temperature=5.0, seed=3)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = model.generate(req, hot)[0].text
    assert torch.rand(1) == before
    assert model.generate(req, hot)[0].text == first
    others = {model.generate(req, DecodingConfig(max_new_tokens=8, temperature=5.0,
                                                 seed=s))[0].text for s in range(4, 8)}
    assert len(others | {first}) > 1


def test_media_the_family_cannot_take_is_refused(tiny_models, speech_clips):
    vision = load_model(f"hf:{tiny_models['qwen2_vl']}")
    with pytest.raises(UnsupportedRequest, match="does not accept audio"):
        vision.generate([Request("what is said?", audio=speech_clips[0])])
    audio = load_model(f"hf:{tiny_models['qwen2_audio']}")
    with pytest.raises(UnsupportedRequest, match="does not accept image"):
        audio.score([Request("x", image=form_image(0))], ["y"])
    omni = load_model(f"hf:{tiny_models['qwen2_5_omni']}")
    with pytest.raises(UnsupportedRequest, match="both audio and an image"):
        omni.generate([Request("x", audio=speech_clips[0], image=form_image(0))])


def test_fingerprint_tracks_weights_dtype_and_files(tiny_models, tmp_path):
    from tiny import build_tiny

    path = tiny_models["qwen2_audio"]
    other = build_tiny("qwen2_audio", tmp_path / "reseeded", seed=1)
    a = load_model(f"hf:{path}")
    assert a.fingerprint == load_model(f"hf:{path}").fingerprint
    assert a.fingerprint != load_model(f"hf:{other}").fingerprint
    assert a.fingerprint != load_model(f"hf:{path}", dtype="bfloat16").fingerprint
    # a different chat template is a different model as far as answers go
    before = load_model(f"hf:{other}").fingerprint
    template = next(other.glob("chat_template.*"))
    template.write_text(template.read_text().replace("helpful", "careful"))
    assert load_model(f"hf:{other}").fingerprint != before


def test_clear_errors_for_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory"):
        load_model(f"hf:{tmp_path / 'missing'}")
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_model(f"hf:{tmp_path}")
    (tmp_path / "config.json").write_text('{"model_type": ')
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        load_model(f"hf:{tmp_path}")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="model_type 'bert' is not supported"):
        load_model(f"hf:{tmp_path}")
    with pytest.raises(ValueError, match="dtype 'int4'"):
        load_model(f"hf:{tmp_path}", dtype="int4")
