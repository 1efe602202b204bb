from telltale.corpus.speech import build_speech_corpus, make_sentences
from telltale.manifest import load_manifest


def test_small_corpus_is_labelled_loadable_and_deterministic(tmp_path):
    manifest = build_speech_corpus(tmp_path / "a", 8, seed=3)
    samples, problems = load_manifest(manifest, require=("audio", "text"),
                                      labels={"gender": ["male", "female"]})
    assert not problems and len(samples) == 8
    assert {s.labels["gender"] for s in samples} == {"male", "female"}
    assert all(s.extra["accent"] and s.extra["engine"] and s.extra["voice"] for s in samples)
    again = build_speech_corpus(tmp_path / "b", 8, seed=3)
    assert (manifest.read_text().replace(str(tmp_path / "a"), "") ==
            again.read_text().replace(str(tmp_path / "b"), ""))
    other = build_speech_corpus(tmp_path / "c", 8, seed=4)
    assert [s.text for s in load_manifest(other)[0]] != [s.text for s in samples]


def test_sentences_are_distinct_and_sized():
    sentences = make_sentences(200, seed=0)
    assert len(set(sentences)) == 200
    assert all(6 <= len(s.split()) <= 16 for s in sentences)
