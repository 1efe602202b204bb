"""The labels file (append-only, last label wins, resumable), the stratified draw
(reproducible from the seed, topped up without losing a drawn record), the terminal
labelling loop, and what labels measure on records of known scorer error."""

from __future__ import annotations

import io
import json

import pytest

from telltale.annotation.cli import label_loop, parse_correction
from telltale.annotation.draw import (
    SAMPLE_FILE,
    draw_order,
    extend_sample,
    read_sample,
    weights,
)
from telltale.annotation.measure import attribute_agreement, corrected_attribute_cells
from telltale.annotation.store import (
    LABELS_FILE,
    LabelsError,
    append_labels,
    latest,
    make_label,
    read_labels,
)
from telltale.attributes.taxonomy import default_taxonomy
from telltale.records import Record


def _attribute_records(n: int = 200) -> list[dict]:
    """Gender records over two modes: 70% answers, 20% refusals, 10% unparsed (a scorer
    that misses one kind of refusal), truth alternating."""
    records = []
    for i in range(n):
        truth = "female" if i % 2 else "male"
        mode = "direct" if i % 4 < 2 else "defense"
        if i % 10 < 7:
            parsed, output = {"status": "answer", "label": truth if i % 7 else "male"}, truth
        elif i % 10 < 9:
            parsed, output = {"status": "refusal", "label": None}, "I won't say."
        else:
            parsed, output = {"status": "unparsed", "label": None}, "i won't gues that."
        records.append({"key": f"s{i}|gender|{mode}|original", "sample_id": f"s{i}",
                        "probe": {"attribute": "gender", "mode": mode,
                                  "condition": "original", "variant": 0},
                        "labels": {"gender": truth}, "output": output, "error": None,
                        "parsed": {**parsed, "evidence": ""}, "prompt": "Gender?"})
    return records


def _label(key: str, who: str = "ana", **kw) -> dict:
    return make_label(key, who, kw.pop("outcome", "refusal"), **kw)


def test_labels_are_appended_never_rewritten_and_the_last_one_wins(tmp_path):
    path = tmp_path / LABELS_FILE
    append_labels(path, [_label("a", outcome="answer", label="male"), _label("b")])
    before = path.read_bytes()
    append_labels(path, [_label("a", outcome="unparsed"), _label("a", "bo")])
    assert path.read_bytes().startswith(before)  # nothing already there changed
    entries = read_labels(path)
    assert len(entries) == 4
    mine = latest(entries, "ana")
    assert mine["a"]["outcome"] == "unparsed" and mine["b"]["outcome"] == "refusal"
    assert latest(entries, "bo")["a"]["outcome"] == "refusal"
    with pytest.raises(LabelsError, match="several annotators"):
        latest(entries)


def test_a_bad_entry_writes_nothing_and_bad_lines_are_named(tmp_path):
    path = tmp_path / LABELS_FILE
    good = _label("a")
    with pytest.raises(LabelsError, match="needs the label"):
        append_labels(path, [good, {**good, "outcome": "answer"}])
    assert not path.exists()
    with pytest.raises(LabelsError, match="no time zone"):
        append_labels(path, [{**good, "time": "2026-01-01T10:00:00"}])
    with pytest.raises(LabelsError, match="PII statuses"):
        append_labels(path, [{**good, "outcome": {"ssn": "maybe"}}])
    path.write_text(json.dumps(good) + "\n{oops\n" + json.dumps(good) + "\n")
    with pytest.raises(LabelsError, match=r"labels.jsonl: line 2 is not valid JSON"):
        read_labels(path)


def test_a_half_written_last_line_is_ignored_then_cut(tmp_path):
    path = tmp_path / LABELS_FILE
    path.write_text(json.dumps(_label("a")) + "\n" + '{"key": "b", "annot')
    assert [e["key"] for e in read_labels(path)] == ["a"]
    append_labels(path, [_label("c")])
    assert [e["key"] for e in read_labels(path)] == ["a", "c"]


def test_the_draw_is_reproducible_stratified_and_tops_up(tmp_path):
    records = _attribute_records()
    first = [item["key"] for item in draw_order(records, seed=3)]
    assert first == [item["key"] for item in draw_order(list(reversed(records)), seed=3)]
    assert first != [item["key"] for item in draw_order(records, seed=4)]
    path = tmp_path / SAMPLE_FILE
    sample, _ = extend_sample(path, records, 30, seed=3)
    # the outcomes in turn: the rare "unparsed" (10% of replies) gets a third of the draw
    outcomes = [item["outcome"] for item in sample]
    assert outcomes.count("unparsed") == 10 and outcomes.count("answer") == 10
    # and within an outcome the cells in turn
    answered = [item["cell"] for item in sample if item["outcome"] == "answer"]
    assert answered.count("attribute=gender|mode=direct|condition=original") == 5
    topped, more = extend_sample(path, records, 45, seed=3)
    assert [item["key"] for item in topped[:30]] == [item["key"] for item in sample]
    assert len(more) == 15 and len({item["key"] for item in topped}) == 45
    # a top-up gives what a draw of 45 at once would have given
    assert {item["key"] for item in topped} == set(first[:45])
    assert read_sample(path) == topped
    assert extend_sample(path, records, 10, seed=3)[1] == []  # never shrinks
    with pytest.raises(ValueError, match="drawn with seed 3"):
        extend_sample(path, records, 50, seed=4)


def test_weights_undo_the_over_sampling(tmp_path):
    records = _attribute_records()
    sample, _ = extend_sample(tmp_path / SAMPLE_FILE, records, 60, seed=0)
    w = weights(sample, [item["key"] for item in sample])
    # labelled records of each stratum stand for the whole stratum
    assert sum(w.values()) == pytest.approx(len(records))
    unparsed = [w[item["key"]] for item in sample if item["outcome"] == "unparsed"]
    answered = [w[item["key"]] for item in sample if item["outcome"] == "answer"]
    assert max(unparsed) < min(answered)


def test_the_labelling_loop_resumes_where_it_stopped(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    records = _attribute_records(40)
    (run / "records.jsonl").write_text(
        "".join(Record.from_dict(r).to_json() + "\n" for r in records))
    (run / "taxonomy.json").write_text(json.dumps(default_taxonomy().to_dict()))
    extend_sample(run / SAMPLE_FILE, records, 6, seed=0)
    keys = [item["key"] for item in read_sample(run / SAMPLE_FILE)]
    out = io.StringIO()
    # accept, correct to "refusal" with a note, an unknown word (asked again), "woman", quit
    written = label_loop(run, "ana", io.StringIO("\nrefusal # typo\nxyz\nwoman\nq\n"), out)
    assert written == 3 and "neither a label of gender" in out.getvalue()
    labels = latest(read_labels(run / LABELS_FILE), "ana")
    assert list(labels) == keys[:3]
    assert labels[keys[1]]["outcome"] == "refusal" and labels[keys[1]]["note"] == "typo"
    assert (labels[keys[2]]["outcome"], labels[keys[2]]["label"]) == ("answer", "female")
    # the next session starts at the fourth drawn record; another annotator at the first
    out = io.StringIO()
    assert label_loop(run, "ana", io.StringIO("s\n\n"), out) == 1
    assert f"[4/6] {keys[3]}" in out.getvalue()
    assert list(latest(read_labels(run / LABELS_FILE), "ana")) == keys[:3] + keys[4:5]
    out = io.StringIO()
    label_loop(run, "bo", io.StringIO(""), out)
    assert f"[1/6] {keys[0]}" in out.getvalue()


def test_pii_corrections_keep_the_types_not_named():
    record = {"key": "k", "output": "x", "error": None, "probe": {"pii_type": "*"},
              "scores": {"pii": {"ssn": {"status": "none"}, "phone": {"status": "leaked"}},
                         "refusal": "answer"}}
    given = parse_correction("ssn=partial refusal=refusal", record, None)
    assert given == {"outcome": {"ssn": "partial", "phone": "leaked"}, "refusal": "refusal"}
    with pytest.raises(ValueError, match="TYPE=STATUS"):
        parse_correction("email=leaked", record, None)


def test_agreement_and_correction_on_records_of_known_error():
    records = _attribute_records()
    # the person reads every "unparsed" reply ("i won't gues that.") as a refusal, and one
    # answer in seven as the truth the scorer missed
    labels = {}
    for rec in records:
        parsed = rec["parsed"]
        if parsed["status"] == "unparsed":
            labels[rec["key"]] = _label(rec["key"], outcome="refusal")
        else:
            labels[rec["key"]] = _label(rec["key"], outcome=parsed["status"],
                                        label=parsed["label"])
    result = attribute_agreement(records, labels, n_boot=300)
    status = result["status"]
    assert status["per_class"]["refusal"]["recall"]["value"] == pytest.approx(40 / 60)
    assert status["agreement"]["value"] == pytest.approx(180 / 200)
    cells = corrected_attribute_cells(records, labels, n_draws=1000)
    assert [c["cell"] for c in cells] == ["attribute=gender|mode=defense|condition=original",
                                          "attribute=gender|mode=direct|condition=original"]
    for cell in cells:
        rate = cell["rates"]["refusal_rate"]
        # labels of every record: the correction is the people's own count
        mine = [r for r in records if r["key"].endswith(cell["cell"].split("|")[1][5:]
                                                         + "|original")]
        truth = sum(labels[r["key"]]["outcome"] == "refusal" for r in mine) / len(mine)
        assert rate["raw"] < truth
        assert rate["value"] == pytest.approx(truth, abs=0.03)
        assert rate["low"] <= truth <= rate["high"]


def test_pii_agreement_and_corrected_attack_success():
    # 100 SSN trials: the scorer calls 30 leaks, of which people say 5 are partial only, and
    # misses 10 leaks (spelled-out digits, say) among its 70 "none"
    from telltale.annotation.measure import corrected_pii_cells, pii_agreement

    records, labels = [], {}
    for i in range(100):
        said = "leaked" if i < 30 else "none"
        truth = "partial" if i < 5 else "leaked" if i < 40 else "none"
        records.append({"key": f"f{i}|direct|ssn", "output": "...", "error": None,
                        "probe": {"framing": "direct", "scenario": "hiring", "pii_type": "ssn"},
                        "scores": {"pii": {"ssn": {"status": said}},
                                   "refusal": "refusal" if i % 10 == 0 else "answer"}})
        labels[f"f{i}|direct|ssn"] = make_label(
            f"f{i}|direct|ssn", "ana", {"ssn": truth},
            refusal="refusal" if i % 10 == 0 else "answer")
    agreed = pii_agreement(records, labels, n_boot=200)
    assert agreed["status"]["agreement"]["value"] == pytest.approx(85 / 100)
    assert agreed["refusal"]["kappa"]["value"] == 1.0
    (cell,) = corrected_pii_cells(records, labels, n_draws=1000)
    asr = cell["asr"]
    # every trial labelled: sensitivity 25/35, specificity 60/65, and Rogan-Gladen gives
    # back the people's count of full leaks, 35 of 100
    assert asr["raw"] == pytest.approx(0.30)
    assert asr["sensitivity"]["value"] == pytest.approx(25 / 35)
    assert asr["specificity"]["value"] == pytest.approx(60 / 65)
    assert asr["value"] == pytest.approx(0.35)
    assert asr["low"] <= 0.35 <= asr["high"]
    assert cell["refuse_rate"]["value"] == pytest.approx(0.10)


def test_the_annotate_command_draws_then_labels(tmp_path):
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    records = _attribute_records(20)
    (run / "records.jsonl").write_text(
        "".join(Record.from_dict(r).to_json() + "\n" for r in records))
    (run / "taxonomy.json").write_text(json.dumps(default_taxonomy().to_dict()))
    command = [sys.executable, "-m", "telltale", "annotate", str(run), "--size", "4",
               "--seed", "2", "--annotator", "ana"]
    done = subprocess.run([*command, "--draw-only"], capture_output=True, text=True,
                          check=True)
    assert "4 records (4 drawn now, seed 2)" in done.stdout
    done = subprocess.run(command, input="\nmale\n", capture_output=True, text=True,
                          check=True)
    assert "2 labels written" in done.stdout
    assert len(read_labels(run / LABELS_FILE)) == 2
    wrong_seed = subprocess.run([*command[:-4], "--seed", "3", "--draw-only"],
                                capture_output=True, text=True)
    assert wrong_seed.returncode == 2 and "drawn with seed 2" in wrong_seed.stderr
