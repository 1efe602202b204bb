import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from telltale.cache import CachedModel, ResponseCache, cache_key
from telltale.models.base import (
    STAT_NAMES,
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
)


class CountingModel(BaseModel):
    """A deterministic in-test backend: answers depend on the prompt and on its own name,
    so a cache mix-up between two models would be visible in the answers. It stands in
    for a real backend because these tests are about the cache, not the model."""

    name = "counting"
    capabilities = frozenset({"generate", "score", "audio"})

    def __init__(self, tag: str, fail: bool = False):
        self.fingerprint = self.make_fingerprint(tag=tag)
        self.tag, self.fail, self.calls = tag, fail, 0

    def generate(self, requests, decoding=None, with_stats=False):
        self.calls += len(requests)
        if self.fail:
            raise ConnectionError("server unavailable")
        return [Generation(f"{self.tag}:{r.text}") for r in requests]

    def score(self, requests, continuations):
        self.calls += len(requests)
        return [TokenStats(tokens=list(c), values={n: np.full(len(c), -1.0) for n in STAT_NAMES})
                for c in continuations]


def test_two_models_never_share_an_entry(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    a, b = CachedModel(CountingModel("A"), cache), CachedModel(CountingModel("B"), cache)
    req = [Request("what is said?")]
    assert a.generate(req)[0].text == "A:what is said?"
    assert b.generate(req)[0].text == "B:what is said?"
    assert a.generate(req)[0].text == "A:what is said?"
    assert (a.model.calls, b.model.calls) == (1, 1)
    assert len(cache) == 2


def test_key_covers_media_prompt_and_decoding():
    base = Request("q", audio=np.zeros(10, np.float32))
    other_audio = Request("q", audio=np.ones(10, np.float32))
    keys = {cache_key("m", "generate", base, {"t": 0}),
            cache_key("m", "generate", other_audio, {"t": 0}),
            cache_key("m", "generate", Request("q2", audio=np.zeros(10, np.float32)), {"t": 0}),
            cache_key("m", "generate", Request("q", system="s", audio=np.zeros(10, np.float32)),
                      {"t": 0}),
            cache_key("m", "generate", base, {"t": 1}),
            cache_key("m", "score", base, {"t": 0})}
    assert len(keys) == 6


def test_errors_and_sampling_are_never_cached(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    failing = CachedModel(CountingModel("A", fail=True), cache)
    with pytest.raises(ConnectionError):
        failing.generate([Request("x")])
    assert len(cache) == 0
    sampled = CachedModel(CountingModel("A"), cache)
    sampled.generate([Request("x")], DecodingConfig(temperature=0.7))
    assert len(cache) == 0


def test_scores_round_trip_and_wal_mode(tmp_path):
    path = tmp_path / "c.sqlite"
    model = CachedModel(CountingModel("A"), ResponseCache(path))
    first = model.score([Request("p")], ["abc"])[0]
    again = CachedModel(CountingModel("A"), ResponseCache(path))
    second = again.score([Request("p")], ["abc"])[0]
    assert again.model.calls == 0 and second.tokens == first.tokens
    assert np.array_equal(second.values["logprob"], first.values["logprob"])
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def _filled(path, n=3000):
    cache = ResponseCache(path)
    for i in range(n):
        cache.put(f"k{i}", {"text": "x" * 200})
    cache._close()
    return path.stat().st_size


@pytest.mark.parametrize("damage", ["truncated", "not a database", "damaged page"])
def test_an_unreadable_cache_is_named_set_aside_and_started_again(tmp_path, caplog, damage):
    path = tmp_path / "responses.sqlite"
    size = _filled(path)
    if damage == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    elif damage == "not a database":
        path.write_bytes(b"telltale" * 1000)
    else:  # the schema page reads, an index page further on does not
        with open(path, "r+b") as fh:
            fh.seek(size // 2)
            fh.write(np.random.default_rng(0).bytes(size // 4))
    cache = ResponseCache(path)
    stored = [cache.get(f"k{i}") for i in range(3000)]  # a damaged page shows on a read
    assert None in stored
    model = CachedModel(CountingModel("A"), cache)
    answers = [model.generate([Request(f"q{i}")])[0].text for i in range(20)]
    assert answers == [f"A:q{i}" for i in range(20)]
    err = caplog.text
    assert f"the response cache {path} could not be read" in err
    named = re.findall(r"set aside as (\S+) and a new one started", err)
    aside = set(tmp_path.glob("responses.sqlite.corrupt-*"))  # with their -wal and -shm
    assert named and {Path(n) for n in named} <= aside
    again = CachedModel(CountingModel("A"), ResponseCache(path))
    assert again.generate([Request("q19")])[0].text == "A:q19" and again.model.calls == 0


def test_a_cache_that_cannot_be_opened_is_bypassed_with_a_warning(tmp_path, caplog):
    (tmp_path / "folder.sqlite").mkdir()
    (tmp_path / "file").write_text("not a folder\n")
    for path in (tmp_path / "folder.sqlite", tmp_path / "file" / "c.sqlite"):
        model = CachedModel(CountingModel("A"), ResponseCache(path))
        assert model.generate([Request("x")])[0].text == "A:x"
        assert model.generate([Request("x")])[0].text == "A:x" and model.model.calls == 2
        assert f"the response cache {path} cannot be used" in caplog.text
        assert "--no-cache" in caplog.text
        caplog.clear()


def test_the_runner_opens_a_model_through_a_corrupt_cache(tmp_path, monkeypatch, caplog):
    from telltale.config import RunOptions
    from telltale.runner import open_model

    monkeypatch.setattr("telltale.models.load_model",
                        lambda spec, batch_size=None, **kw: CountingModel("A"))
    (tmp_path / "c.sqlite").write_bytes(b"\x00" * 4096)
    model = open_model(RunOptions(out=tmp_path / "run", model="openai:m@http://h:1/v1",
                                  cache=tmp_path / "c.sqlite"))
    assert model.generate([Request("x")])[0].text == "A:x"
    assert "could not be read" in caplog.text
