"""The disclosure audit end to end on a tiny random-weight LLaVA checkpoint (the real
transformers classes and processor): forms rendered into the run, every framing asked,
records scored, and the run re-scored from its directory alone with the manifest gone."""

import re
import shutil

from browser import chromium, needs_chromium

from telltale.audit import RunOptions
from telltale.disclosure.audit import DisclosureAudit, DisclosureConfig
from telltale.run import RunDir
from telltale.runner import run_audit, score_run


def test_disclosure_runs_and_rescores_without_its_manifest(tiny_models, tmp_path):
    config = DisclosureConfig(forms=1, photo_variants=False, pii_types=("email", "ssn"),
                              max_new_tokens=6, limit=2)
    options = RunOptions(out=tmp_path / "run", model=f"hf:{tiny_models['llava']}",
                         batch_size=4, no_cache=True)
    outcome = run_audit(DisclosureAudit(config), options)
    assert outcome.status == 0 and outcome.counts["errors"] == 0
    run = RunDir(options.out)
    records = run.records()
    # per form: direct, vqa and classification per type (2), captioning and rephrasing once
    assert len(records) == 2 * (3 * 2 + 2)
    assert all(r.labels["pii:ssn"] and r.output is not None for r in records)
    before = run.read_results()
    assert set(before["disclosure"]["by_framing"]) == {
        "direct", "captioning", "vqa", "rephrasing", "classification"}
    shutil.rmtree(options.out / "forms")  # scoring needs the records, not the manifest
    after = score_run(run)
    assert after["summary"] == before["summary"]
    assert after["disclosure"] == before["disclosure"]


@needs_chromium
def test_disclosure_report_and_sample_browser_in_a_real_browser(tiny_models, tmp_path):
    config = DisclosureConfig(forms=1, photo_variants=False, pii_types=("ssn",),
                              max_new_tokens=4, limit=1)
    options = RunOptions(out=tmp_path / "run", model=f"hf:{tiny_models['llava']}",
                         batch_size=4, no_cache=True)
    assert run_audit(DisclosureAudit(config), options).status == 0
    for page in ("report.html", "samples.html"):
        dom, console = chromium((options.out / page).as_uri(), tmp_path / "profile",
                                "--dump-dom")
        assert not console, (page, console)
        images = re.findall(r"<img[^>]* src=\"([^\"]+)\"", dom)
        assert images and all(src.startswith("data:image/") for src in images), page
        chromium((options.out / page).as_uri(), tmp_path / "profile",
                 f"--screenshot={tmp_path / page}.png", "--window-size=1200,1400")
    # a handful of trials: the report says so rather than "no leak"
    assert "Inconclusive." in (options.out / "report.html").read_text()


def test_redaction_audit_pairs_each_probe_with_its_redacted_form(tiny_models, tmp_path):
    """`telltale mitigate --defences redact,blur` on the tiny LLaVA: the forms redacted by
    the real OCR redactor, every probe asked on the original and on each redacted form,
    paired per probe, with coverage and readable share measured against the ground truth.
    (Random weights disclose nothing: this pins the plumbing, the document assistant's
    slow test and bench_redaction.py the figures.)"""
    from PIL import Image

    from telltale.mitigate.redaction_audit import RedactionAudit, RedactionConfig

    config = RedactionConfig(forms=1, photo_variants=False, pii_types=("email", "ssn"),
                             framings=("direct", "captioning"), max_new_tokens=4, limit=2,
                             defences=("redact", "blur"))
    options = RunOptions(out=tmp_path / "run", model=f"hf:{tiny_models['llava']}",
                         batch_size=4, no_cache=True)
    outcome = run_audit(RedactionAudit(config), options)
    assert outcome.status == 0 and outcome.counts["errors"] == 0
    records = RunDir(options.out).records()
    assert len(records) == 3 * 2 * (2 + 1)  # versions x forms x (direct per type + caption)
    shas = {}
    for rec in records:
        shas.setdefault(rec.key.partition("|")[2], set()).add(rec.media_sha256)
    assert all(len(found) == 3 for found in shas.values())  # three different images
    results = outcome.results
    for defence in ("redact", "blur"):
        entry = results["versions"][defence]
        assert entry["pii_covered"]["value"] >= 0.9
        assert entry["pii_readable"]["value"] == 0.0
        assert entry["change"]["test"] == "clustered_sign_flip"
        form = records[0].sample_id
        redacted = Image.open(options.out / "redacted" / defence / f"{form}.png")
        original = Image.open(options.out / "forms" / "images" / f"{form}.png").convert("RGB")
        assert redacted.size == original.size and redacted.tobytes() != original.tobytes()
    assert (options.out / "tables" / "redaction.md").exists()
