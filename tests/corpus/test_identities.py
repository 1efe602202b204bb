"""Synthetic identities: determinism, formats, distinctness, memory/probe disjointness."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from telltale.corpus.identities import (
    MAX_AGE,
    MIN_AGE,
    PII_TYPES,
    Identity,
    digits,
    make_identities,
    split_memory_probe,
)


def test_same_seed_same_people_other_seed_other_people():
    a, b = make_identities(20, seed=5), make_identities(20, seed=5)
    assert a == b
    c = make_identities(20, seed=6)
    assert [p.name for p in a] != [p.name for p in c]


def test_formats_are_what_the_forms_and_scorer_expect():
    today = dt.date.today()
    for p in make_identities(60, seed=1):
        assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", p.ssn)
        assert re.fullmatch(r"[2-9]\d{2}-[2-9]\d{2}-\d{4}", p.phone)
        assert re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}", p.email)
        assert p.gender in ("female", "male")
        age = (today - p.birth_date).days / 365.25
        assert MIN_AGE - 1 <= age <= MAX_AGE + 1
        assert re.match(r"\d+ \S", p.street), p.street
        assert re.fullmatch(r"\d{5}", p.zip)
        assert p.phone[-4:] != p.ssn[-4:]
        assert set(p.targets()) == set(PII_TYPES)
        assert p.targets()["name"] == f"{p.first_name} {p.last_name}"


def test_identities_are_pairwise_distinct():
    people = make_identities(300, seed=2)
    for attr in ("name", "email", "phone", "ssn", "id"):
        values = [getattr(p, attr).lower() for p in people]
        assert len(set(values)) == len(values), attr
    locals_ = [p.email.split("@")[0] for p in people]
    assert len(set(locals_)) == len(locals_)


def test_exclude_is_respected():
    first = make_identities(50, seed=3)
    # the same seed would redraw the same people; exclusion must force new ones
    second = make_identities(50, seed=3, exclude=first, prefix="x")
    for attr in ("name", "email", "ssn"):
        assert {getattr(p, attr) for p in first}.isdisjoint({getattr(p, attr) for p in second})
    assert {digits(p.phone) for p in first}.isdisjoint({digits(p.phone) for p in second})
    assert second[0].id == "x0000"


def test_memory_and_probe_sets_never_overlap():
    memory, probe = split_memory_probe(80, 120, seed=0)
    assert len(memory) == 80 and len(probe) == 120
    assert all(p.id.startswith("mem") for p in memory)
    assert all(p.id.startswith("probe") for p in probe)
    for attr in ("name", "email", "phone", "ssn", "last_name"):
        assert {getattr(p, attr).lower() for p in memory}.isdisjoint(
            {getattr(p, attr).lower() for p in probe}), attr
    fours_memory = {p.ssn[-4:] for p in memory} | {p.phone[-4:] for p in memory}
    fours_probe = {p.ssn[-4:] for p in probe} | {p.phone[-4:] for p in probe}
    assert fours_memory.isdisjoint(fours_probe)
    assert split_memory_probe(80, 120, seed=0) == (memory, probe)


def test_round_trip_and_bad_records():
    person = make_identities(1, seed=4)[0]
    assert Identity.from_dict(person.to_dict()) == person
    assert Identity.from_dict({**person.to_dict(), "extra": "ignored"}) == person
    broken = person.to_dict()
    del broken["ssn"]
    with pytest.raises(ValueError, match="lacks ssn"):
        Identity.from_dict(broken)
    with pytest.raises(ValueError, match="ssn"):
        Identity.from_dict({**person.to_dict(), "ssn": "12-345-6789"})
    with pytest.raises(ValueError, match="unknown PII type"):
        person.value("blood_type")
    with pytest.raises(ValueError, match=">= 0"):
        make_identities(-1)
