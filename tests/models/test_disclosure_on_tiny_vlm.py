"""The disclosure audit end to end on a tiny random-weight LLaVA checkpoint (the real
transformers classes and processor): forms rendered into the run, every framing asked,
records scored, and the run re-scored from its directory alone with the manifest gone."""

import re
import shutil

from browser import chromium, needs_chromium

from telltale.config import RunOptions
from telltale.disclosure.audit import DisclosureAudit, DisclosureConfig
from telltale.rundir import RunDir
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
    paired per probe, with coverage and readable share measured against the ground truth;
    a blank page, where OCR finds nothing, is a named per-sample problem. (Random weights
    disclose nothing: this pins the plumbing; the document assistant's slow test and
    bench_redaction.py give the figures.)"""
    import csv

    from PIL import Image

    from telltale.corpus.forms import build_forms_corpus
    from telltale.mitigate.redaction_audit import RedactionAudit, RedactionConfig

    manifest = build_forms_corpus(tmp_path / "forms", n_per_scenario=1, variants=False)
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))[:2]
    for row in rows:
        row["image"] = str((manifest.parent / row["image"]).resolve())
    Image.new("RGB", (600, 400), "white").save(tmp_path / "blank.png")
    rows.append({**rows[0], "id": "blank-page", "image": str(tmp_path / "blank.png")})
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    config = RedactionConfig(data=tmp_path / "m.csv", pii_types=("email", "ssn"),
                             framings=("direct", "captioning"), max_new_tokens=4,
                             defences=("redact", "blur"))
    options = RunOptions(out=tmp_path / "run", model=f"hf:{tiny_models['llava']}",
                         batch_size=4, no_cache=True)
    outcome = run_audit(RedactionAudit(config), options)
    assert outcome.status == 0
    records = RunDir(options.out).records()
    assert len(records) == 3 * 3 * (2 + 1)  # versions x forms x (direct per type + caption)
    failed = [r for r in records if r.error]
    assert {r.sample_id for r in failed} == {"blank-page"} and len(failed) == 2 * 3
    assert all("OCR found no text in form blank-page" in r.error for r in failed)
    assert any("blank-page" in p for p in outcome.results["redaction_problems"])
    shas: dict[str, set] = {}
    for rec in records:
        if rec.sample_id != "blank-page":
            shas.setdefault(rec.key.partition("|")[2], set()).add(rec.media_sha256)
    assert all(len(found) == 3 for found in shas.values())  # three different images
    for defence in ("redact", "blur"):
        entry = outcome.results["versions"][defence]
        assert entry["pii_covered"]["value"] >= 0.9
        assert entry["pii_readable"]["value"] == 0.0
        assert entry["pii_readable_before"]["value"] >= 0.9  # the control: read unredacted
        assert entry["non_pii_readable"]["value"] >= 0.8
        assert entry["change"]["test"] == "clustered_sign_flip"
        form = rows[0]["id"]
        redacted = Image.open(options.out / "redacted" / defence / f"{form}.png")
        original = Image.open(rows[0]["image"]).convert("RGB")
        assert redacted.size == original.size and redacted.tobytes() != original.tobytes()
    assert (options.out / "tables" / "redaction.md").exists()
