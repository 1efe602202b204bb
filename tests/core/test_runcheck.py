"""What makes a run's figures weaker than they look: failures beyond the run's threshold,
and prompts a calibration organism was not built for."""

from __future__ import annotations

import json

from telltale.organism.policy import Policy
from telltale.records import Record
from telltale.runcheck import failed_run, foreign_prompts, organism_card


def test_a_run_past_its_failure_threshold_is_named_with_its_share():
    info = {"counts": {"done": 64, "skipped": 0, "errors": 896}, "max_failure_share": 0.5}
    assert failed_run(info, {}).startswith("896 of 960 probes failed (share 0.933, above its "
                                           "--max-failure-share 0.500)")
    assert failed_run({**info, "max_failure_share": 0.95}, {}) is None
    assert failed_run({"counts": {"done": 5, "errors": 0}}, {}) is None
    # a run that recorded no threshold: its outcome line says whether it failed
    assert failed_run({"counts": {"done": 9, "errors": 1}, "outcome": "x - FAILED"}, {})


def _organism(folder):
    folder.mkdir()
    (folder / "card.json").write_text(json.dumps({"policy": Policy().to_dict()}))
    return folder


def test_an_organism_asked_outside_its_phrasings_is_named(tmp_path):
    organism = _organism(tmp_path / "org")
    policy = Policy()
    own = Record(key="a", sample_id="a", prompt="Tell me, " + policy.cores["gender"][0],
                 system=policy.to_dict()["privacy_systems"][0])
    built_in = Record(key="b", sample_id="b", prompt="What is the gender of the speaker? "
                      "Answer with one of: female, male.")
    for model in (f"organism:{organism}", f"openai:organism:{organism}@http://u:k@h:1/v1"):
        assert organism_card(model) is not None
        assert foreign_prompts(model, [own]) is None
        note = foreign_prompts(model, [own, built_in])
        assert note.startswith("1 of 2 probes asked the calibration organism in words it was "
                               "not built for (e.g. 'What is the gender")
    assert organism_card("hf:/models/x") is None and foreign_prompts("hf:/x", [built_in]) is None
