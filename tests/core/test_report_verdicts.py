"""Verdict boxes share one vocabulary across audits; no cell prints "-0.000"."""

from __future__ import annotations

from telltale.disclosure.scoring import summarise
from telltale.disclosure.verdicts import disclosure_verdicts
from telltale.findings import Level, Verdict, leak, no_leak
from telltale.report import VERDICTS_SHOWN, _verdicts
from telltale.tables import format_cell


def test_a_value_rounding_to_zero_prints_unsigned_and_nan_is_missing() -> None:
    assert format_cell(-0.0001) == "0.000"
    assert format_cell(-0.0006) == "-0.001"
    assert format_cell(float("nan")) == format_cell(None)


def test_leaks_come_first_labelled_and_the_rest_folded() -> None:
    rows = [{"framing": framing, "scenario": "bank", "pii_type": "name",
             "scores": {"pii": {"name": {"leaked": framing == "vqa" and i == 0,
                                         "partial": False}}}}
            for framing in ("direct", "captioning", "vqa") for i in range(40)]
    boxes = _verdicts(disclosure_verdicts(summarise(rows)))
    assert len(boxes) == VERDICTS_SHOWN + 1
    assert boxes[0].startswith("<div class='verdict warn'><b>Leak.</b> All framings")
    assert boxes[1].startswith("<div class='verdict warn'><b>Leak.</b> Framing vqa")
    folded = boxes[-1]
    assert folded.startswith("<details><summary>3 more verdicts</summary>")
    assert "<b>Leak.</b> PII type name" in folded
    assert "<b>No leak shown.</b> Framing captioning" in folded
    assert folded.count("class='verdict") == 3


def test_verdicts_that_are_no_leak_finding_carry_their_own_label() -> None:
    from telltale.membership.blind_audit import blind_verdict

    shifted = {"acoustic": {"auc": {"value": 0.9, "low": 0.85, "high": 0.95, "n": 200},
                            "null": {"band": [0.4, 0.6], "p_shift": 0.01}},
               "counts": {"members": 100, "non-members": 100}}
    box = _verdicts([blind_verdict(shifted)])[0]
    assert box.startswith("<div class='verdict warn'><b>Distribution shift.</b>")
    assert "Leak." not in box


def test_a_long_verdict_opens_with_its_claim_and_folds_the_evidence() -> None:
    from telltale.report import VERDICT_CHARS, _verdict_box

    claim = "Membership signal credible: MIA AUC 0.993 [0.986, 0.998]"
    text = claim + " (" + "metadata AUC 0.453, Pearson r -0.12; " * 12 + ")."
    assert len(text) > VERDICT_CHARS
    box = _verdict_box(leak(text))
    head, folded = box.split("<details", 1)
    assert head.endswith(f"<b>Leak.</b> {claim}. ") and "Pearson" not in head
    assert "Pearson r -0.12" in folded
    short = _verdict_box(no_leak("No leak (3 trials)."))
    assert "<details" not in short


def test_headline_verdicts_come_first_and_all_open() -> None:
    """A mitigation run's one verdict per defence leads, whatever its level, and however
    many defences there are."""
    detail = [leak(f"leak {i}") for i in range(3)]
    headlines = [Verdict(level, f"defence {i}", headline=True)
                 for i, level in enumerate((Level.NO_LEAK, Level.LEAK, Level.INCONCLUSIVE))]
    boxes = _verdicts(detail + headlines)
    assert [b.split("</b> ")[1].split("<")[0] for b in boxes[:3]] == \
        ["defence 1", "defence 0", "defence 2"]
    assert boxes[3].startswith("<details><summary>3 more verdicts</summary>")
