"""The calibration organism: a tiny one trained in seconds on real espeak-ng clips, used
through the ``organism:`` backend exactly as the audits use it."""

import csv
import itertools
import json

import numpy as np
import pytest

from telltale.corpus.tts import available_voices
from telltale.digest import file_sha256
from telltale.manifest import load_manifest
from telltale.media.audio import load_audio
from telltale.models import load_model
from telltale.models.base import STAT_NAMES, DecodingConfig, Request, UnsupportedRequest
from telltale.organism.policy import PRIVACY_SYSTEMS, Policy
from telltale.organism.train import cer, normalise_transcript, split_members, train_organism
from telltale.records import Sample


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from telltale.corpus.speech import build_speech_corpus

    if not available_voices(("espeak-ng",)):
        pytest.skip("espeak-ng is not installed")

    return build_speech_corpus(tmp_path_factory.mktemp("speech"), 12, seed=5,
                               engines=("espeak-ng",))


@pytest.fixture(scope="module")
def pool(corpus, tmp_path_factory):
    """A pretraining pool of 4 clips, plus a copy of one manifest clip that must be
    dropped from it (the pool may never hold an audited clip)."""
    from telltale.corpus.speech import build_speech_corpus

    folder = tmp_path_factory.mktemp("pool")
    manifest = build_speech_corpus(folder, 4, seed=99, engines=("espeak-ng",))
    samples, _ = load_manifest(corpus)
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows.append({**rows[0], "id": "dup", "audio": str(samples[0].media),
                 "text": samples[0].text})
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


@pytest.fixture(scope="module")
def trained(corpus, pool, tmp_path_factory):
    return train_organism(corpus, tmp_path_factory.mktemp("org") / "a", size="tiny", seed=1,
                          epochs=40, eval_limit=4, pretrain=pool)


def test_ctc_prefix_scores_are_exact():
    """The acoustic model's next-character distribution, checked against enumerating
    every CTC alignment of two short clips (one shorter, so padding is covered too)."""
    torch = pytest.importorskip("torch")
    from telltale.organism.acoustic import CTCPrefix

    gen = torch.Generator().manual_seed(0)
    log_probs = [torch.log_softmax(torch.randn(n, 3, generator=gen), -1) for n in (5, 3)]

    def transcripts(lp):
        lp = lp.numpy()
        out: dict[tuple, float] = {}
        for path in itertools.product(range(3), repeat=lp.shape[0]):
            labels = [p - 1 for k, p in enumerate(path) if p and (k == 0 or path[k - 1] != p)]
            out[tuple(labels)] = out.get(tuple(labels), 0.0) + float(
                np.exp(lp[np.arange(len(path)), list(path)].sum()))
        return out

    truth = [transcripts(lp) for lp in log_probs]
    for prefix in [(), (0,), (1,), (0, 0), (1, 0, 1)]:
        scorer = CTCPrefix(log_probs)
        for char in prefix:
            scorer.extend(torch.tensor([char, char]))
        got = scorer.distribution().exp().numpy()
        for row, probs in enumerate(truth):
            psi = {h: sum(v for k, v in probs.items() if k[:len(h)] == h)
                   for h in (prefix, (*prefix, 0), (*prefix, 1))}
            if psi[prefix] < 1e-12:
                continue
            want = [psi[(*prefix, 0)] / psi[prefix], psi[(*prefix, 1)] / psi[prefix],
                    probs.get(prefix, 0.0) / psi[prefix]]
            np.testing.assert_allclose(got[row], want, atol=1e-5)
    scorer = CTCPrefix(log_probs)
    scorer.extend(torch.tensor([-1, 0]))  # a negative index leaves that prefix alone
    np.testing.assert_allclose(scorer.distribution()[0], CTCPrefix(log_probs).distribution()[0])


def test_vocab_spells_answers_and_refuses_old_cards():
    from telltale.organism.model import ANSWER_CHARS, EOS, UNK, Vocab

    vocab = Vocab.build(["Transcribe the audio.", "what is the speaker's gender?"])
    assert vocab.encode_prompt("Transcribe the AUDIO!") == [
        vocab.word_index["transcribe"], vocab.word_index["the"], vocab.word_index["audio"],
        UNK]
    text = "i won't guess that."
    ids = vocab.encode(text)
    assert len(ids) == len(text) and vocab.decode(ids) == text
    assert vocab.encode("é")[0] == UNK and len(vocab) == vocab.first_char + len(ANSWER_CHARS)
    never = vocab.answer_mask()
    assert not never[EOS] and not never[vocab.first_char:].any() and never[:vocab.first_char
                                                                              ].sum() == (
        vocab.first_char - 1)
    assert Vocab.from_dict(json.loads(json.dumps(vocab.to_dict()))).words == vocab.words
    with pytest.raises(ValueError, match="older telltale.*retrain"):
        Vocab.from_dict(["transcribe", "the"])
    with pytest.raises(ValueError, match="newer telltale"):
        Vocab.from_dict({**vocab.to_dict(), "format": 99})


def test_policy_is_deterministic_learnable_and_recorded():
    policy = Policy(refuse_rate=0.2, privacy_refuse_rate=0.8, seed=3)
    n = len(policy.openers)
    assert len(policy.refusing_openers) == round(0.2 * n)
    assert len(policy.privacy_refusing_openers) == round(0.8 * n)
    assert set(policy.refusing_openers) <= set(policy.privacy_refusing_openers)
    # refusal is a function of the phrasing and system prompt, never of chance
    opener = policy.refusing_openers[0]
    assert policy.refuses(opener, None) and policy.refuses(opener, PRIVACY_SYSTEMS[1])
    only_private = next(o for o in policy.privacy_refusing_openers
                        if o not in policy.refusing_openers)
    assert not policy.refuses(only_private, None) and policy.refuses(only_private,
                                                                      PRIVACY_SYSTEMS[0])
    for attribute in policy.cores:
        train, held = policy.phrasings(attribute, "train"), policy.phrasings(attribute, "heldout")
        assert not set(train) & set(held)
        assert {o for o, _ in held} == set(policy.openers)  # every opener is measured
        assert {o for o, _ in train} == set(policy.openers)  # and every opener is learnt
        share = np.mean([policy.refuses(o, None) for o, _ in held])
        assert share == pytest.approx(policy.planted_rates["no_system"])
    again = Policy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert again.to_dict() == policy.to_dict()
    assert Policy(seed=4).refusing_openers != policy.refusing_openers
    with pytest.raises(ValueError, match="refuse_rate"):
        Policy(refuse_rate=0.9, privacy_refuse_rate=0.5)


def test_cer_and_member_split():
    assert cer("abc", "abc") == 0 and cer("", "abcd") == 1 and cer("abd", "abc") == 1 / 3
    assert normalise_transcript("Hello,  World! It's 5.") == "hello world it's 5"
    samples = [Sample(id=str(i)) for i in range(40)]
    members = split_members(samples, 0.5, seed=2)  # no member column: a seeded split
    assert sum(members) == 20 and members == split_members(samples, 0.5, seed=2)
    assert members != split_members(samples, 0.5, seed=3)
    given = [Sample(id=str(i), member=i % 3 == 0) for i in range(9)]
    assert split_members(given, 0.5, seed=2) == [1, 0, 0] * 3  # the manifest's column wins


def test_card_records_training_set_policy_and_figures(trained, corpus):
    card = json.loads((trained / "card.json").read_text())
    samples, _ = load_manifest(corpus)
    by_id = {s.id: s for s in samples}
    assert len(card["training_set"]) == 6 and len(card["heldout_set"]) == 6
    for row in card["training_set"] + card["heldout_set"]:
        assert row["sha256"] == file_sha256(by_id[row["id"]].media)
    assert not {r["id"] for r in card["training_set"]} & {r["id"] for r in card["heldout_set"]}
    assert card["seed"] == 1 and card["size"] == "tiny"
    policy = Policy.from_dict(card["policy"])
    assert card["policy"]["planted_rates"] == policy.planted_rates
    assert card["policy"]["refusals"] and card["policy"]["privacy_systems"]
    figures = card["figures"]
    for key in ("cer_train", "cer_heldout", "gender_accuracy_heldout", "refusal_rate_no_system",
                "refusal_rate_privacy_system", "train_seconds", "first_loss", "final_loss"):
        assert figures[key] is not None, key
    assert figures["final_loss"] < figures["first_loss"]  # it learnt something
    assert "transcribe" in card["vocab"]["prompt_words"]
    # the pool is recorded apart from the audited clips, and never holds one of them
    assert len(card["pretraining_set"]) == 4 and card["pretraining_dropped"] == 1
    assert not {r["sha256"] for r in card["pretraining_set"]} & {
        r["sha256"] for r in card["training_set"] + card["heldout_set"]}
    assert card["pretraining_manifest"].endswith("manifest.csv")


def test_both_verbs_through_the_backend(trained, corpus):
    torch = pytest.importorskip("torch")
    model = load_model("organism:" + str(trained), batch_size=3)
    assert {"generate", "score", "audio", "batch", "stats_on_generate"} <= model.capabilities
    assert model.fingerprint == load_model("organism:" + str(trained)).fingerprint
    samples, _ = load_manifest(corpus)
    requests = [Request("Transcribe the audio.", audio=load_audio(s.media)) for s in samples[:5]]
    requests.append(Request("quick question: is this voice male or female?",
                            system=PRIVACY_SYSTEMS[0], audio=load_audio(samples[5].media)))
    decoding = DecodingConfig(max_new_tokens=20)
    threads = torch.get_num_threads()
    gens = model.generate(requests, decoding, with_stats=True)
    assert torch.get_num_threads() == threads  # the backend's one-thread setting is undone
    assert len(gens) == len(requests)
    assert sum(len(g.stats) > 0 for g in gens) >= 4  # a trained model answers, mostly
    for gen in gens:
        assert gen.stats is not None and len(gen.stats) <= 20
        values = gen.stats.values
        assert np.all(values["logprob"] <= 0) and np.all(values["entropy"] >= -1e-6)
        assert np.all(values["top1_prob"] >= values["top2_prob"])
        # greedy: the chosen token is the most likely one
        np.testing.assert_allclose(np.exp(values["logprob"]), values["top1_prob"], rtol=1e-5)
    # batching (left padding) does not change any answer
    one_by_one = [model.generate([r], decoding)[0].text for r in requests]
    assert one_by_one == [g.text for g in gens]
    # teacher-forced scoring of its own output gives the statistics of the generation
    scored = model.score(requests, [g.text for g in gens])
    for gen, stats in zip(gens, scored, strict=True):
        assert stats.tokens == gen.stats.tokens
        for name in STAT_NAMES:
            np.testing.assert_allclose(stats.values[name], gen.stats.values[name], atol=2e-4,
                                       err_msg=name)
    # a different continuation scores differently
    other = model.score(requests[:1], ["completely different words here"])[0]
    assert len(other) == len("completely different words here")  # one token a character
    assert not np.allclose(other.values["logprob"][:1], scored[0].values["logprob"][:1])


def test_bad_input_is_refused_clearly(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="not an organism directory"):
        load_model("organism:" + str(tmp_path))
    model = load_model("organism:" + str(trained))
    with pytest.raises(UnsupportedRequest, match="audio"):
        model.generate([Request("Transcribe the audio.")])


def test_training_is_deterministic(trained, corpus, pool, tmp_path):
    again = train_organism(corpus, tmp_path / "b", size="tiny", seed=1, epochs=40,
                           eval_limit=2, pretrain=pool)
    assert file_sha256(again / "model.safetensors") == file_sha256(trained / "model.safetensors")
    other = train_organism(corpus, tmp_path / "c", size="tiny", seed=2, epochs=40,
                           eval_limit=2, pretrain=pool)
    assert file_sha256(other / "model.safetensors") != file_sha256(trained / "model.safetensors")


def test_steps_fixes_the_optimiser_steps_and_training_leaves_torch_as_it_was(
        corpus, pool, tmp_path):
    torch = pytest.importorskip("torch")
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    # far more steps than the default rounds give: the member rounds grow, the pool with them
    out = train_organism(corpus, tmp_path / "s", size="tiny", seed=1, steps=60, eval_limit=1,
                         pretrain=pool)
    card = json.loads((out / "card.json").read_text())
    assert card["figures"]["steps"] == card["hyperparameters"]["steps"] == 60
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.get_num_threads() == threads


def test_too_few_clips_to_train_on_is_a_clear_error(corpus, tmp_path):
    with open(corpus, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows = [{**r, "member": int(i == 0), "audio": str(corpus.parent / r["audio"])}
            for i, r in enumerate(rows[:3])]
    manifest = tmp_path / "one.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ValueError, match="at least two clips"):
        train_organism(manifest, tmp_path / "o", size="tiny", pretrain_clips=0)


def test_a_clip_shorter_than_one_window_is_heard_as_silence(trained):
    model = load_model("organism:" + str(trained))
    gens = model.generate([Request("Transcribe the audio.", audio=np.zeros(50, np.float32))],
                          DecodingConfig(max_new_tokens=5))
    assert len(gens) == 1 and gens[0].text is not None
