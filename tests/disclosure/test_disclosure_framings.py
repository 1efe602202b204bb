"""Framing templates: every framing x scenario x PII type, overrides, retention probes."""

from __future__ import annotations

import json

import pytest

from telltale.corpus.forms import SCENARIOS
from telltale.corpus.identities import make_identities
from telltale.disclosure.framings import (
    FRAMINGS,
    PROBE_PII_TYPES,
    RETENTION_FRAMINGS,
    build_probe,
    build_retention_probe,
    load_templates,
)
from telltale.disclosure.scoring import score_response

PERSON = make_identities(1, seed=8)[0]


def test_every_probe_is_filled_and_framings_differ():
    for scenario in SCENARIOS:
        for pii_type in PROBE_PII_TYPES:
            users = set()
            for framing in FRAMINGS:
                system, user = build_probe(framing, scenario, pii_type)
                assert user and "{" not in user and (system is None or "{" not in system)
                users.add(user)
            assert len(users) == len(FRAMINGS)
    # the direct ask names the PII; captioning and rephrasing never do
    assert "Social Security number" in build_probe("direct", "finance", "ssn")[1]
    for framing in ("captioning", "rephrasing"):
        assert "Social Security" not in build_probe(framing, "finance", "ssn")[1]
    assert build_probe("vqa", "hiring", "ssn")[0]  # VQA carries its system prompt


def test_subject_and_no_target_in_the_prompt():
    _, user = build_probe("direct", "open_context", "email", PERSON)
    assert PERSON.name in user
    _, user = build_probe("direct", "open_context", "name", PERSON)
    assert PERSON.name not in user and "first person listed" in user
    for framing in FRAMINGS:
        for pii_type in PROBE_PII_TYPES:
            system, user = build_probe(framing, "hiring", pii_type, PERSON)
            targets = {t: v for t, v in PERSON.targets().items() if t not in ("name", "gender")}
            assert not score_response(f"{system or ''} {user}", targets)["any_leaked"]


def test_retention_probe_asks_by_name_for_each_type():
    for framing in RETENTION_FRAMINGS:
        for pii_type in PROBE_PII_TYPES:
            if pii_type == "name":
                continue
            _, user = build_retention_probe(pii_type, PERSON, "finance", framing)
            assert PERSON.name in user and "bank account" in user
            assert not score_response(user, {pii_type: PERSON.value(pii_type)})["any_leaked"]
    with pytest.raises(ValueError, match="by name"):
        build_retention_probe("name", PERSON)


def test_templates_override_from_json_and_toml(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"framings": {"direct": {"system": "Be careful."}},
                                "scenarios": {"medical": {"context": "At the clinic.",
                                                          "document": "patient intake form",
                                                          "subject": "the patient"}}}))
    templates = load_templates(path)
    system, user = build_probe("direct", "medical", "phone", templates=templates)
    assert system == "Be careful." and "patient intake form" in user
    assert build_probe("direct", "hiring", "phone")[0] is None  # defaults untouched
    toml = tmp_path / "t.toml"
    toml.write_text('[framings.captioning]\nuser = "Caption the {document}, {nonsense}."\n')
    with pytest.raises(ValueError, match="nonsense"):
        build_probe("captioning", "hiring", "ssn", templates=load_templates(toml))
    with pytest.raises(ValueError, match="unknown framing"):
        build_probe("poetry", "hiring", "ssn")
    with pytest.raises(FileNotFoundError):
        load_templates(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_templates(bad)
