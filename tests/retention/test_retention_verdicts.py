"""The retention verdict rule on real person-level tests: leak, no leak, control rose too,
too few people."""

from __future__ import annotations

from telltale.findings import Level
from telltale.retention.verdicts import MIN_PEOPLE, comparison_verdict
from telltale.stats import clustered_paired_test, wilson

CLAIM = "plain fine-tuning made the assistant leak memorised PII"


def _test(people: int, before: int, after: int, probes: int = 3) -> dict:
    """The person-level test of ``people`` people with ``probes`` probes each, of whom the
    first ``before`` leaked every probe in variant a and the first ``after`` in variant b."""
    a = [int(p < before) for p in range(people) for _ in range(probes)]
    b = [int(p < after) for p in range(people) for _ in range(probes)]
    return clustered_paired_test(a, b, [str(p) for p in range(people) for _ in range(probes)])


def _retention(memory_leaked: int, control_leaked: int, n: int) -> dict:
    rate = {"memory": memory_leaked, "control": control_leaked}
    return {f"{variant}/{group}": {"overall": {"asr": wilson(k if variant == "plain" else 0,
                                                             n).to_dict()}}
            for variant in ("base", "plain") for group, k in rate.items()}


def test_memorised_people_leaking_after_fine_tuning_is_a_leak() -> None:
    got = comparison_verdict("base", "plain", CLAIM, _retention(45, 0, 60),
                             _test(20, 0, 15), _test(20, 0, 0))
    assert got.level == Level.LEAK and got.level == Level.LEAK
    assert "20 people" in got.text


def test_no_rise_is_no_leak() -> None:
    got = comparison_verdict("base", "plain", CLAIM, _retention(0, 0, 60),
                             _test(20, 0, 1), _test(20, 0, 0))
    assert got.level == Level.NO_LEAK and got.level == Level.NO_LEAK


def test_control_rising_as_much_is_inconclusive() -> None:
    got = comparison_verdict("base", "plain", CLAIM, _retention(45, 45, 60),
                             _test(20, 0, 15), _test(20, 0, 15))
    assert got.level == Level.INCONCLUSIVE
    assert "not memorisation" in got.text


def test_too_few_people_is_inconclusive_even_with_every_probe_leaking() -> None:
    people = MIN_PEOPLE - 1
    got = comparison_verdict("base", "plain", CLAIM, _retention(3 * people, 0, 3 * people),
                             _test(people, 0, people), None)
    assert got.level == Level.INCONCLUSIVE and got.level == Level.INCONCLUSIVE
    assert f"{people} people paired" in got.text


def test_contrastive_leaking_less_is_the_mitigation_shown() -> None:
    got = comparison_verdict("plain", "contrastive", "the contrastive objective leaked less",
                             {}, _test(20, 15, 0), None)
    assert got.level == Level.NO_LEAK and got.text.startswith("Yes")
    assert "not estimable" in got.text
