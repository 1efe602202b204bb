"""The backend contract: one set of checks every backend behind ``TargetModel`` passes, in
the spirit of scikit-learn's ``check_estimator``.

Backends: the hf: families on their tiny checkpoints, openai: against ``telltale serve``
(a real HTTP server in a subprocess, serving the tiny Qwen2-Audio), a tiny organism
trained for a few steps, and the document assistant (SmolLM2 and a real OCR engine; slow).
Checks: both verbs, batch = unbatched, statistics on generate = score of the same text,
refusal of what a backend does not declare, fingerprint stability.

A new backend joins the contract by adding one entry to :data:`BACKENDS` and one branch
to :func:`open_backend`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from test_hf_backend import assert_same_stats, assert_sane, form_image
from tiny import FAMILIES

from telltale.models import UnsupportedRequest, load_model
from telltale.models.base import CAPABILITIES, DecodingConfig, Request, TargetModel

DECODING = DecodingConfig(max_new_tokens=5)
BACKENDS = [*(f"hf:{family}" for family in FAMILIES), "openai", "organism",
            pytest.param("docassistant", marks=pytest.mark.slow)]


@dataclass
class Subject:
    """A backend under test, the requests it is checked on and how to vary it."""

    name: str
    model: TargetModel
    requests: list[Request]
    #: sets how many requests go through at once (batch size, or concurrent HTTP calls)
    set_batch: Callable[[int], None]
    #: opens the same backend again, from scratch
    reopen: Callable[[], TargetModel]


def media_requests(capabilities: frozenset[str], clips: list[np.ndarray]) -> list[Request]:
    """Four requests with the media the backend accepts (audio where it takes audio,
    both kinds alternating where it takes both), prompts and system prompts varied.
    Every request carries media, since an audio model may need audio in every request
    (the organism does); text-only requests are covered per backend."""
    reqs = []
    for i, prompt in enumerate(["What is said?", "Describe this.", "Who speaks?", "Hi"]):
        system = "Be brief." if i % 2 else None
        audio = "audio" in capabilities and (i % 2 == 0 or "image" not in capabilities)
        if audio:
            reqs.append(Request(prompt, system=system, audio=clips[i % len(clips)]))
        elif "image" in capabilities:
            reqs.append(Request(prompt, system=system, image=form_image(i)))
        else:
            reqs.append(Request(prompt, system=system))
    return reqs


def _set(model: object, attribute: str) -> Callable[[int], None]:
    return lambda n: setattr(model, attribute, n)


@pytest.fixture(scope="module")
def organism_dir(tmp_path_factory):
    """A tiny organism trained for four optimiser steps on six espeak-ng clips: untrained
    enough to answer at random, real enough to go through the organism: backend."""
    from telltale.corpus.speech import build_speech_corpus
    from telltale.corpus.tts import available_voices
    from telltale.organism.train import train_organism

    if not available_voices(("espeak-ng",)):
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("contract-organism")
    manifest = build_speech_corpus(root / "speech", 6, seed=3, engines=("espeak-ng",))
    return train_organism(manifest, root / "organism", size="tiny", seed=0, steps=4,
                          eval_limit=1, pretrain_clips=0)


@pytest.fixture(scope="module")
def served_audio(tiny_models):
    """``telltale serve`` on the tiny Qwen2-Audio, in a subprocess on 127.0.0.1."""
    from test_openai_backend import start_server

    proc, url = start_server(["telltale", "-q", "serve", f"hf:{tiny_models['qwen2_audio']}"])
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def open_backend(name: str, request: pytest.FixtureRequest) -> Subject:
    clips = request.getfixturevalue("speech_clips")
    if name.startswith("hf:"):
        spec = f"hf:{request.getfixturevalue('tiny_models')[name[3:]]}"
        model = load_model(spec, batch_size=4)
        return Subject(name, model, media_requests(model.capabilities, clips),
                       _set(model, "batch_size"), lambda: load_model(spec))
    if name == "openai":
        from telltale.models.openai_api import OpenAIModel

        url = request.getfixturevalue("served_audio")
        from test_openai_backend import served_id

        served = served_id(url)  # the client checks the server lists the model it names
        model = OpenAIModel(served, url, concurrency=4)
        return Subject(name, model, media_requests(model.capabilities, clips),
                       _set(model, "concurrency"), lambda: OpenAIModel(served, url))
    if name == "organism":
        spec = f"organism:{request.getfixturevalue('organism_dir')}"
        model = load_model(spec, batch_size=4)
        return Subject(name, model, media_requests(model.capabilities, clips),
                       _set(model, "batch_size"), lambda: load_model(spec))
    if name == "docassistant":
        model = load_model("docassistant:tesseract", batch_size=4)
        return Subject(name, model, media_requests(model.capabilities, clips),
                       _set(model, "batch_size"),
                       lambda: load_model("docassistant:tesseract"))
    raise ValueError(f"no backend named {name!r} in the contract")


@pytest.fixture(scope="module", params=BACKENDS)
def subject(request) -> Subject:
    return open_backend(request.param, request)


def test_both_verbs(subject):
    model, reqs = subject.model, subject.requests
    assert {"generate", "score"} <= model.capabilities <= CAPABILITIES
    generations = model.generate(reqs, DECODING)
    assert len(generations) == len(reqs)
    assert all(isinstance(g.text, str) and g.stats is None for g in generations)
    continuations = [g.text for g in generations[:-1]] + [""]
    scores = model.score(reqs, continuations)
    assert len(scores) == len(reqs) and len(scores[-1]) == 0
    assert any(len(s) for s in scores), "no continuation was scored at all"
    for stats in scores:
        assert_sane(stats)


def test_batch_equals_unbatched(subject):
    model, reqs = subject.model, subject.requests
    with_stats = "stats_on_generate" in model.capabilities
    subject.set_batch(4)
    together = model.generate(reqs, DECODING, with_stats=with_stats)
    continuations = [g.text for g in together]
    scored_together = model.score(reqs, continuations)
    subject.set_batch(1)
    try:
        alone = model.generate(reqs, DECODING, with_stats=with_stats)
        scored_alone = model.score(reqs, continuations)
    finally:
        subject.set_batch(4)
    assert [g.text for g in alone] == continuations
    for a, b in zip(alone, together, strict=True):
        if with_stats:
            assert_same_stats(a.stats, b.stats)
    for a, b in zip(scored_alone, scored_together, strict=True):
        assert_same_stats(a, b)


def test_stats_on_generate_equal_score_of_the_same_text(subject):
    model, reqs = subject.model, subject.requests
    if "stats_on_generate" not in model.capabilities:
        with pytest.raises(UnsupportedRequest, match="stats_on_generate"):
            model.generate(reqs, DECODING, with_stats=True)
        return
    generations = model.generate(reqs, DECODING, with_stats=True)
    scores = model.score(reqs, [g.text for g in generations])
    # a text compared only where it tokenises back to the tokens that produced it
    same_tokens = [i for i, g in enumerate(generations) if g.stats.tokens == scores[i].tokens]
    assert len(same_tokens) >= len(reqs) // 2, "generated text rarely re-tokenises the same"
    for i in same_tokens:
        assert_sane(generations[i].stats)
        assert_same_stats(generations[i].stats, scores[i])


def test_undeclared_capabilities_are_refused_clearly(subject, speech_clips):
    model = subject.model
    offered = {"audio": Request("What is said?", audio=speech_clips[0]),
               "image": Request("Describe this.", image=form_image(0))}
    refused = [kind for kind in offered if kind not in model.capabilities]
    for kind in refused:
        for verb in (lambda r: model.generate(r, DECODING), lambda r: model.score(r, ["x"])):
            with pytest.raises(UnsupportedRequest, match=f"does not accept {kind} input"):
                verb([offered[kind]])
    # what is declared is accepted
    for kind in set(offered) - set(refused):
        assert len(model.score([offered[kind]], ["yes"])) == 1


def test_fingerprint_is_stable(subject):
    model = subject.model
    before = model.fingerprint
    assert isinstance(before, str) and len(before) >= 16
    model.generate(subject.requests[:1], DECODING)
    subject.set_batch(2)
    try:
        assert model.fingerprint == before, "the batch size is not part of the model's identity"
    finally:
        subject.set_batch(4)
    again = subject.reopen()
    assert again.fingerprint == before
