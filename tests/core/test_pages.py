"""The report, the sample browser and the comparison page in headless Debian chromium, on
small real runs (tests/fixture_runs.py): what each page lets a reader do, checked in the
DOM after the page's scripts ran."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from browser import cells, chromium, needs_chromium

from telltale.records import read_records

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def runs(fixture_runs):
    return fixture_runs


def _dom(page, fragment: str, profile) -> str:
    dom, console = chromium(f"{page.as_uri()}#{fragment}", profile, "--dump-dom")
    assert not console, console
    return dom


def _keys(dom: str) -> list[str]:
    return re.findall(r'<tr data-key="([^"]+)"', dom)


def test_the_membership_browser_filters_members_and_ranks_them_by_score(runs, tmp_path):
    run = runs["membership"]
    records = list(read_records(run / "records.jsonl"))
    members = [r for r in records if r.labels["member"] == 1]
    dom = _dom(run / "samples.html", "member=member&sort=score-high", tmp_path)
    assert f'data-shown="{len(members)}"' in dom
    keys = _keys(dom)
    assert set(keys) <= {r.key for r in members}
    scored = sorted((r for r in members if "mia_score" in r.scores),
                    key=lambda r: -r.scores["mia_score"])
    assert keys[:len(scored)] == [r.key for r in scored]  # highest score first
    originals = sum(r.probe["condition"] == "original" for r in records)
    best = max(r.scores["mia_score"] for r in records if "mia_score" in r.scores)
    first = cells(dom, keys[0])
    assert first[-1] == f"{best:.3f} (1 of {originals})"  # the score (rank) column
    assert "member" in first[3] and "transcript: the quick brown fox" in first[3]
    # the histogram counts the members shown, and no non-member
    assert f'data-members="{len(scored)}"' in dom and 'data-nonmembers="0"' in dom


def test_silence_and_noise_rows_play_what_the_model_heard(runs, tmp_path):
    run = runs["membership"]
    data = json.loads((run / "samples.js").read_text().partition("=")[2].rstrip(";\n"))
    for row in data["records"]:
        condition = row["probe"]["condition"]
        if condition == "original":
            assert row["media"].endswith(f"{row['sample']}.wav") and "media_note" not in row
        else:
            assert f"/heard/{condition}/" in row["media"]
            assert row["media_note"].startswith("what the model heard")
    dom = _dom(run / "samples.html", "condition=noise", tmp_path)
    assert "what the model heard: Gaussian noise" in dom


def test_a_linked_file_that_is_missing_is_said_on_the_page(runs, tmp_path, monkeypatch):
    import telltale.samples as samples
    from telltale.rundir import RunDir

    built = tmp_path / "built" / "membership"
    shutil.copytree(runs["membership"], built)
    monkeypatch.setattr(samples, "EMBED_TOTAL_BYTES", 0)  # every file linked, none embedded
    samples.write_samples(RunDir(built), jobs=1)
    # the run folder copied alone, elsewhere: its links to the manifest's clips lead
    # nowhere, its own re-created silence and noise files came with it
    copy = tmp_path / "elsewhere" / "deeper" / "membership"
    shutil.copytree(built, copy)
    dom = _dom(copy / "samples.html", "condition=original", tmp_path)
    assert dom.count("linked file missing: ../") == len(_keys(dom)) > 0
    dom = _dom(copy / "samples.html", "condition=silence", tmp_path)
    assert 'class="missing"' not in dom and "<audio" in dom


def test_the_attribute_browser_shows_truth_and_why_and_jumps_to_a_page(runs, tmp_path):
    run = runs["attributes"]
    records = list(read_records(run / "records.jsonl"))
    assert len(records) > 50
    dom = _dom(run / "samples.html", "page=2", tmp_path)
    assert 'data-page="2"' in dom
    assert _keys(dom) == [r.key for r in records[50:100]]
    unparsed = next(r for r in records if r.parsed.get("status") == "unparsed")
    dom = _dom(run / "samples.html", f"text={unparsed.sample_id}&outcome=unparsed", tmp_path)
    row = cells(dom, unparsed.key)
    attribute = unparsed.probe["attribute"]
    assert row[3] == f"{attribute}: {unparsed.labels[attribute]}"  # the truth column
    assert row[7] == f"unparsed {unparsed.parsed['evidence']}"  # the outcome and why


def test_report_figures_scale_to_the_page_and_name_their_interval(runs, tmp_path):
    report = runs["attributes"] / "report.html"
    widths = {}
    for window in (1400, 800):
        dom, console = chromium(report.as_uri(), tmp_path, "--dump-dom",
                                f"--window-size={window},1200")
        assert not console
        figures = re.findall(r"<figure class=\"fig\".*?</figure>", dom, re.S)
        assert len(figures) == 2  # gender and accent
        for figure in figures:
            natural = int(re.search(r'width="(\d+)"', figure).group(1))
            widths[window] = int(re.search(r'data-width="(\d+)"', figure).group(1))
            assert "error bars: 95% Wilson intervals" in figure
        assert natural == 960
    assert widths[1400] == 960  # the page is wider: its own size
    assert 600 < widths[800] < 800  # scaled to the page, and the caption says so
    assert f"shown at {widths[800]} px" in dom
    # a figure opens at its full size over the page (a click, or a link to it)
    dom, _ = chromium(f"{report.as_uri()}#zoom=figure-gender_accuracy_refusal", tmp_path,
                      "--dump-dom", "--window-size=800,1200")
    zoom = re.search(r'<div id="zoom"[^>]*class="open"[^>]*>(<img[^>]*>)</div>', dom)
    assert zoom and "width=" not in zoom.group(1) and 'alt="gender accuracy refusal"' in \
        zoom.group(1)


def test_compare_keys_columns_by_run_and_shows_seed_spread(runs, tmp_path, capsys):
    from telltale.cli import main

    first = runs["attributes"]
    other = tmp_path / "seed-1" / "attributes"
    shutil.copytree(first, other)
    info = json.loads((other / "run.json").read_text())
    info["config"]["seed"] = info["seed"] = 1
    (other / "run.json").write_text(json.dumps(info))
    assert main(["-q", "compare", str(first), str(other), "--out", str(tmp_path / "cmp")]) == 0
    page = tmp_path / "cmp" / "compare.html"
    dom, console = chromium(page.as_uri(), tmp_path, "--dump-dom")
    assert not console
    heads = re.findall(r"<th>([^<]*)</th>", dom)
    names = [f"{first.parent.name}/attributes", "seed-1/attributes"]
    assert heads.count(names[0]) == heads.count(names[1]) == 1  # one column per run
    assert "Spread over seeds" in dom and "SD over seeds" in heads
    info["config"]["silence_control"] = False
    (other / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    assert main(["compare", str(first), str(other), "--out", str(tmp_path / "cmp2")]) == 2
    assert "differ in --no-silence" in capsys.readouterr().err
