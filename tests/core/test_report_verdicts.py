"""Verdict boxes share one vocabulary across audits; no cell prints "-0.000"."""

from __future__ import annotations

from telltale.disclosure.scoring import summarise
from telltale.disclosure.verdicts import disclosure_verdicts
from telltale.findings import Level, Verdict, leak, no_leak
from telltale.report import VERDICTS_SHOWN, verdict_boxes
from telltale.tables import format_cell


def test_a_value_rounding_to_zero_prints_unsigned_and_nan_is_missing() -> None:
    assert format_cell(-0.0001) == "0.000"
    assert format_cell(-0.0006) == "-0.001"
    assert format_cell(float("nan")) == format_cell(None)


def test_every_leak_is_open_first_and_only_weaker_verdicts_are_folded() -> None:
    rows = [{"framing": framing, "scenario": "bank", "pii_type": "name",
             "scores": {"pii": {"name": {"leaked": framing == "vqa" and i == 0,
                                         "partial": False}}}}
            for framing in ("direct", "captioning", "vqa") for i in range(40)]
    boxes = verdict_boxes(disclosure_verdicts(summarise(rows)))
    # three leaks (pooled, the vqa framing, the name type): more than VERDICTS_SHOWN, all open
    assert len(boxes) == 4 and VERDICTS_SHOWN < 3
    assert boxes[0].startswith("<div class='verdict warn'><b>Leak.</b> All framings")
    assert boxes[1].startswith("<div class='verdict warn'><b>Leak.</b> Framing vqa")
    assert boxes[2].startswith("<div class='verdict warn'><b>Leak.</b> PII type name")
    folded = boxes[-1]
    assert folded.startswith("<details><summary>2 more verdicts (2 no leak shown)</summary>")
    assert "<b>No leak shown.</b> Framing captioning" in folded
    assert folded.count("class='verdict") == 2 and "Leak." not in folded


def test_cautions_stay_open_in_their_own_colour_before_inconclusive_ones() -> None:
    from telltale.findings import caution, inconclusive

    boxes = verdict_boxes([no_leak("a"), inconclusive("b"), caution("c"), no_leak("d"),
                           inconclusive("e")])
    assert boxes[0].startswith("<div class='verdict caution'><b>Caution.</b> c")
    assert boxes[1].startswith("<div class='verdict info'><b>Inconclusive.</b> b")
    assert boxes[2].startswith("<details><summary>3 more verdicts (1 inconclusive, 2 no "
                               "leak shown)")


def test_verdicts_that_are_no_leak_finding_carry_their_own_label() -> None:
    from telltale.membership.blind_audit import blind_verdict

    shifted = {"acoustic": {"auc": {"value": 0.9, "low": 0.85, "high": 0.95, "n": 200},
                            "null": {"band": [0.4, 0.6], "p_shift": 0.01}},
               "counts": {"members": 100, "non-members": 100}}
    box = verdict_boxes([blind_verdict(shifted)])[0]
    # the text opens with the label, which is then not printed twice
    assert box.startswith("<div class='verdict warn'>Distribution shift: the acoustic")
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
    detail = [leak(f"leak {i}") for i in range(3)] + [no_leak(f"none {i}") for i in range(2)]
    headlines = [Verdict(level, f"defence {i}", headline=True)
                 for i, level in enumerate((Level.NO_LEAK, Level.LEAK, Level.INCONCLUSIVE))]
    boxes = verdict_boxes(detail + headlines)
    assert [b.split("</b> ")[1].split("<")[0] for b in boxes[:6]] == \
        ["defence 1", "defence 2", "defence 0", "leak 0", "leak 1", "leak 2"]
    assert boxes[6].startswith("<details><summary>2 more verdicts (2 no leak shown)</summary>")


def test_a_verdict_that_opens_with_its_label_is_not_labelled_twice() -> None:
    from telltale.findings import inconclusive

    box, = verdict_boxes([inconclusive("Inconclusive: 6 members and 5 non-members.")])
    assert "Inconclusive: 6 members and 5 non-members." in box and "<b>" not in box
    box, = verdict_boxes([inconclusive("gender (direct): inconclusive - 3 replies.")])
    assert "<b>Inconclusive.</b> gender (direct): inconclusive - 3 replies." in box
