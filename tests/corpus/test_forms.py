"""Form rendering: every scenario, layout and variant; true ground truth (OCR-checked)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from telltale.corpus.forms import (
    LAYOUTS,
    SCENARIOS,
    VARIANTS,
    available_fonts,
    build_forms_corpus,
    render_form,
)
from telltale.corpus.identities import Identity, make_identities
from telltale.manifest import load_manifest

PEOPLE = make_identities(12, seed=21)


def _who(scenario: str):
    return PEOPLE[4:10] if scenario == "open_context" else PEOPLE[SCENARIOS.index(scenario)]


def _check_truth(image, truth, scenario: str) -> None:
    w, h = image.size
    assert truth["size"] == [w, h]
    pii_fields = [f for f in truth["fields"] if f["pii_type"]]
    assert pii_fields
    for f in truth["fields"]:
        x0, y0, x1, y1 = f["box"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (f, image.size)
        assert len(f["quad"]) == 4
    values = truth["values"]
    for f in pii_fields:
        assert f["identity"] in values
    people = [_who(scenario)] if scenario != "open_context" else _who(scenario)
    printed = {(f["identity"], f["pii_type"]): f["value"] for f in pii_fields}
    for p in people:
        assert printed[(p.id, "email")] == p.email
        assert values[p.id]["ssn"] == p.ssn
    if scenario != "open_context":
        p = people[0]
        assert printed[(p.id, "ssn")] == p.ssn
        assert re.sub(r"\D", "", printed[(p.id, "phone")]).endswith(re.sub(r"\D", "", p.phone))
        assert printed[(p.id, "address")] == p.street


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_layout_and_variant_renders(scenario):
    fonts = available_fonts()
    assert fonts, "no DejaVu or Liberation font found under /usr/share/fonts"
    for i, variant in enumerate(VARIANTS):
        layout = LAYOUTS[i % len(LAYOUTS)]
        image, truth = render_form(scenario, _who(scenario), layout, fonts[i % len(fonts)],
                                   variant, seed=i)
        assert image.mode == "RGB"
        assert truth["variant"] == variant and truth["layout"] == layout
        assert truth["font_note"] is None
        _check_truth(image, truth, scenario)
        if variant in ("jpeg", "photo"):
            assert 10 <= truth["variant_params"]["jpeg_quality"] <= 80


def test_boxes_cover_ink_after_warps():
    """Each box must hold dark text pixels in the final image, so warped boxes moved along
    with the pixels (a box left at the flat position would land off the text)."""
    for variant in ("clean", "perspective", "rotation", "photo"):
        image, truth = render_form("finance", PEOPLE[0], "boxed", "dejavu-sans", variant, 3)
        gray = np.asarray(image.convert("L"), dtype=float)
        for f in truth["fields"]:
            if not f["pii_type"]:
                continue
            x0, y0, x1, y1 = f["box"]
            patch = gray[y0:y1, x0:x1]
            assert (patch < 110).mean() > 0.03, (variant, f["label"])


def test_same_seed_same_pixels_and_variants_differ():
    a, ta = render_form("hiring", PEOPLE[0], "inline", "liberation-serif", "photo", 9)
    b, tb = render_form("hiring", PEOPLE[0], "inline", "liberation-serif", "photo", 9)
    assert ta == tb and np.array_equal(np.asarray(a), np.asarray(b))
    c, _ = render_form("hiring", PEOPLE[0], "inline", "liberation-serif", "photo", 10)
    assert np.asarray(a).shape != np.asarray(c).shape or not np.array_equal(np.asarray(a),
                                                                              np.asarray(c))
    clean, _ = render_form("hiring", PEOPLE[0], "inline", "liberation-serif", "clean", 9)
    noisy, _ = render_form("hiring", PEOPLE[0], "inline", "liberation-serif", "noise", 9)
    diff = np.abs(np.asarray(clean, float) - np.asarray(noisy, float))
    assert 3 < diff.mean() < 40


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown scenario"):
        render_form("medical", PEOPLE[0])
    with pytest.raises(ValueError, match="one person"):
        render_form("hiring", PEOPLE[:2])
    with pytest.raises(ValueError, match="unknown variant"):
        render_form("hiring", PEOPLE[0], variant="sepia")
    with pytest.raises(ValueError, match="unknown font"):
        render_form("hiring", PEOPLE[0], font="comic-sans")


def _ocr(image: Image.Image, tmp_path: Path, psm: str) -> str:
    path = tmp_path / "ocr.png"
    image.save(path)
    out = subprocess.run(["tesseract", str(path), "stdout", "--psm", psm],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr not installed")
@pytest.mark.parametrize("scenario", ["hiring", "open_context"])
def test_printed_values_are_legible_where_the_truth_says(scenario, tmp_path):
    """OCR each PII box of the clean render on its own: the text read there must be the
    value the ground truth records, which proves both the value and its box."""
    image, truth = render_form(scenario, _who(scenario), "boxed", "dejavu-sans", "clean", 4)
    checked = 0
    for f in truth["fields"]:
        if f["pii_type"] not in ("name", "email", "phone", "ssn", "address", "dob"):
            continue
        x0, y0, x1, y1 = f["box"]
        crop = image.crop((x0 - 6, y0 - 6, x1 + 6, y1 + 6))
        # upscaled single-line crops are what tesseract reads best
        crop = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.LANCZOS)
        read = _ocr(crop, tmp_path, "7")
        assert _squash(f["value"]) == _squash(read), (f["label"], f["value"], read)
        checked += 1
    assert checked >= (6 if scenario == "hiring" else 12)
    page = _squash(_ocr(image, tmp_path, "4"))
    person = truth["identity_ids"][0]
    assert _squash(truth["values"][person]["email"]) in page


def test_corpus_manifest(tmp_path):
    manifest = build_forms_corpus(tmp_path / "forms", n_per_scenario=2, seed=1)
    samples, problems = load_manifest(manifest, require=("image", "dataset"))
    assert not problems
    assert len(samples) == 2 * 2 * len(SCENARIOS)
    assert {s.dataset for s in samples} == set(SCENARIOS)
    variants = {s.extra["variant"] for s in samples}
    assert variants == set(VARIANTS)  # 8 forms cycle through all 7 photo-like variants
    for s in samples:
        truth = json.loads(s.extra["pii"])
        assert json.loads(s.extra["identity_ids"]) == truth["identity_ids"]
        with Image.open(s.media) as img:
            assert list(img.size) == truth["size"]
        if truth["variant_params"].get("jpeg_quality"):
            assert s.media.suffix == ".jpg"
        for person in truth["values"].values():
            assert person["ssn"] not in (s.text or "") and person["email"] not in (s.text or "")
    # one person per individual form and no person twice across forms
    seen = [i for s in samples if s.extra["variant"] == "clean"
            for i in json.loads(s.extra["identity_ids"])]
    assert len(seen) == len(set(seen))
    identities = (tmp_path / "forms" / "identities.jsonl").read_text().splitlines()
    assert len(identities) == len(seen)
    # a written file is exactly what render_form gives for the recorded arguments
    people = {p.id: p for p in map(Identity.from_dict, map(json.loads, identities))}
    for s in samples:
        truth = json.loads(s.extra["pii"])
        if truth["variant"] in ("clean", "jpeg", "photo"):
            who = [people[i] for i in truth["identity_ids"]]
            image, again_truth = render_form(truth["scenario"], who, truth["layout"],
                                             truth["font"], truth["variant"], truth["seed"])
            assert again_truth == truth
            with Image.open(s.media) as img:
                assert np.array_equal(np.asarray(img.convert("RGB")), np.asarray(image))
    again = build_forms_corpus(tmp_path / "again", n_per_scenario=2, seed=1)
    assert manifest.read_text().replace("/forms/", "/") == again.read_text().replace(
        "/again/", "/")


def test_render_uses_given_identities_for_probe_forms(tmp_path):
    people = make_identities(3 + 8, seed=99, prefix="probe")
    with pytest.raises(ValueError, match="identities needed"):
        build_forms_corpus(tmp_path, n_per_scenario=1, identities=people[:3])
    manifest = build_forms_corpus(tmp_path, n_per_scenario=1, identities=people,
                                  variants=False)
    samples, _ = load_manifest(manifest)
    ids = {i for s in samples for i in json.loads(s.extra["identity_ids"])}
    assert ids <= {p.id for p in people}
