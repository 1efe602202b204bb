"""Form redaction: PII located by real OCR (RapidOCR) on rendered forms, measured against the
ground truth; label and value rules on lines written the way real forms print them."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pytest
from PIL import Image

from telltale.corpus.forms import render_form
from telltale.corpus.identities import make_identities
from telltale.mitigate.redact import (
    RedactionBox,
    coverage,
    label_kind,
    locate_pii,
    pattern_kind,
    readable_share,
    redact,
)
from telltale.models.docassistant import OCR, OcrLine

TODAY = dt.date(2026, 12, 5)
# every scenario, every layout; the forms print their own dates, so "today" is fixed
CLEAN_FORMS = (("hiring", "boxed"), ("verification", "inline"), ("finance", "columns"),
               ("open_context", "inline"))


@pytest.fixture(scope="module")
def ocr() -> OCR:
    pytest.importorskip("rapidocr_onnxruntime")
    return OCR("rapidocr")  # caches every image's lines for the whole module


@pytest.fixture(scope="module")
def people():
    return make_identities(12, seed=5)


def _form(people, scenario: str, layout: str, variant: str = "clean", seed: int = 1):
    who = people[4:9] if scenario == "open_context" else people[seed % 4]
    return render_form(scenario, who, layout=layout, variant=variant, seed=seed)


@pytest.fixture(scope="module")
def clean_results(ocr, people):
    out = []
    for seed, (scenario, layout) in enumerate(CLEAN_FORMS):
        image, truth = _form(people, scenario, layout, seed=seed)
        boxes = locate_pii(image, ocr=ocr, today=TODAY)
        redacted = redact(image, boxes)
        out.append({"scenario": scenario, "truth": truth, "image": image, "boxes": boxes,
                    "coverage": coverage(boxes, truth),
                    "before": readable_share(image, truth, ocr),
                    "after": readable_share(redacted, truth, ocr)})
    return out


def test_clean_forms_pii_covered_little_else(clean_results):
    for r in clean_results:
        cov = r["coverage"]
        assert cov["n_pii"] >= 5, r["scenario"]
        # measured 1.0 on every clean form of every scenario (benchmarks/bench_redaction.py)
        assert cov["mean_covered"] >= 0.9, (r["scenario"], cov["fields"])
        assert cov["fully_covered"].value >= 0.85, r["scenario"]
        if cov["n_non_pii"]:  # the tables record no non-PII cells
            assert cov["over_redacted_share"] <= 0.1, r["scenario"]
    reasons = {b.reason for r in clean_results for b in r["boxes"]}
    # both routes fire: labels (names, gender) and shapes (emails, SSNs)
    assert {"label:name", "pattern:email", "pattern:ssn"} <= reasons


def test_clean_forms_readable_before_and_after(clean_results):
    for r in clean_results:
        # OCR reads the form before redaction, so the after figures mean something
        assert r["before"]["pii"].value >= 0.8, (r["scenario"], r["before"]["unread"])
        assert r["after"]["pii"].value <= 0.1, (r["scenario"], r["after"])
        if r["before"]["non_pii"].n:
            assert r["after"]["non_pii"].value >= 0.8 * r["before"]["non_pii"].value, \
                (r["scenario"], r["after"]["unread"])
    assert r["after"]["pii"].low <= r["after"]["pii"].value <= r["after"]["pii"].high


def test_photo_variant(ocr, people):
    image, truth = _form(people, "finance", "inline", variant="photo", seed=7)
    boxes = locate_pii(image, ocr=ocr, today=TODAY)
    cov = coverage(boxes, truth)
    after = readable_share(redact(image, boxes), truth, ocr)
    # photo figures vary more (warp, blur, noise): looser than the clean forms
    assert cov["mean_covered"] >= 0.75, cov["fields"]
    assert after["pii"].value <= 0.25, after


def test_blur_and_box_both_hide_pii_from_ocr(clean_results, ocr):
    r = clean_results[0]
    blurred = readable_share(redact(r["image"], r["boxes"], style="blur"), r["truth"], ocr)
    assert r["after"]["pii"].value <= 0.1
    assert blurred["pii"].value <= 0.1, blurred["unread"]
    assert blurred["non_pii"].value >= 0.8 * r["before"]["non_pii"].value


def test_blank_image_is_a_named_problem(ocr):
    with pytest.raises(ValueError, match="OCR found no text in blank.png"):
        locate_pii(Image.new("RGB", (400, 300), "white"), ocr=ocr, source="blank.png")


def _intake_form():
    """A patient intake sheet drawn here, unlike telltale's forms: labels in a bold face,
    other wording, values after the label, a two-column table of contacts underneath."""
    from PIL import ImageDraw

    from telltale.corpus.fonts import load_font

    image = Image.new("RGB", (900, 560), "white")
    draw = ImageDraw.Draw(image)
    label_font, value_font = load_font("dejavu-sans", 18, bold=True), load_font("dejavu-sans", 20)
    fields = []
    rows = (("Patient:", "Rosa Delgado", "name"), ("Birthdate:", "July 9, 1975", "dob"),
            ("Home phone:", "(303) 555-0144", "phone"), ("Mailing address:", "88 Cedar Lane",
                                                         "address"),
            ("", "Boulder, CO 80302", "locality"), ("Reason for visit:", "Annual checkup", None),
            ("Appointment date:", "03/12/2027", None))
    y = 30
    for label, value, kind in rows:
        draw.text((30, y), label, font=label_font, fill="black")
        box = draw.textbbox((260, y), value, font=value_font)
        draw.text((260, y), value, font=value_font, fill="black")
        fields.append({"label": label, "value": value, "pii_type": kind, "box": list(box)})
        y += 42
    y += 20
    draw.text((30, y), "Emergency contact", font=label_font, fill="black")
    draw.text((460, y), "Relationship", font=label_font, fill="black")
    for name, relation in (("Tomas Delgado", "Spouse"), ("Ana Ruiz", "Sister")):
        y += 40
        box = draw.textbbox((30, y), name, font=value_font)
        draw.text((30, y), name, font=value_font, fill="black")
        fields.append({"label": "Emergency contact", "value": name, "pii_type": "name",
                       "box": list(box)})
        draw.text((460, y), relation, font=value_font, fill="black")
    return image, {"size": list(image.size), "fields": fields}


def test_a_form_drawn_otherwise(ocr):
    image, truth = _intake_form()
    boxes = locate_pii(image, ocr=ocr, today=TODAY)
    cov = coverage(boxes, truth)
    after = readable_share(redact(image, boxes), truth, ocr)
    assert cov["fully_covered"].value == 1.0, cov["fields"]
    assert cov["over_redacted_share"] == 0.0
    assert after["pii"].value == 0.0 and after["non_pii"].value == 1.0, after
    # the relationship column is no PII: its header is no PII label
    assert not any(b.text in ("Spouse", "Sister") for b in boxes)


@pytest.mark.parametrize("label, kind", [
    ("Full Name", "name"), ("NAME OF APPLICANT", "name"), ("Applicant", "name"),
    ("Last Name (Family Name)", "name"), ("First name:", "name"), ("Middle Initial", "name"),
    ("Patient Name", "name"), ("Emergency Contact", "name"), ("Team Contact List", None),
    ("Date of Birth (mm/dd/yyyy)", "dob"), ("DOB", "dob"),
    ("Birthdate", "dob"), ("Dateof Birth", "dob"), ("SSN", "ssn"), ("SSN/TaxpayerID", "ssn"),
    ("U.S. Social Security Number", "ssn"), ("Passport No.", "ssn"),
    ("Home Phone", "phone"), ("Telephone:", "phone"), ("Mobile", "phone"),
    ("Cell #", "phone"), ("Employee's E-mail Address", "email"), ("EmallAddress", "email"),
    ("Email", "email"), ("Mailing Address", "address"), ("Street", "address"),
    ("Address (Street Number and Name)", "address"), ("Apt. Number", "address"),
    ("City, State, ZIP", "locality"), ("ZIPCode", "locality"), ("State", "locality"),
    ("City or Town", "locality"), ("Postal Code", "locality"), ("Sex", "gender"),
    ("Gender", "gender"),
    ("Company Name", None), ("Employer", None), ("Empioyer", None), ("Position", None),
    ("Available Start Date", None), ("Desired Salary", None), ("Applicant Information", None),
    ("Account Type", None), ("Department", None),
])
def test_label_kinds(label, kind):
    assert label_kind(label) == kind


@pytest.mark.parametrize("value, kind", [
    ("jane.doe@example.org", "email"), ("J_Doe+work@mail.co.uk", "email"),
    ("123-45-6789", "ssn"), ("123 45 6789", "ssn"),
    ("(212) 555-0187", "phone"), ("212.555.0187", "phone"), ("+1 212 555 0187", "phone"),
    ("+12125550187", "phone"), ("212-555-0187", "phone"),
    ("1600 Pennsylvania Avenue NW", "address"), ("42 Elm St. Apt 3", "address"),
    ("05755RojasBrooks", "address"),
    ("Springfield, IL 62704", "locality"), ("Johnsonmouth,WA26287", "locality"),
    ("St. Louis, MO 63101-1234", "locality"),
    ("Mechanical engineer", None), ("$66,000", None), ("01 Feb 2027", None), ("11", None),
    ("Checking", None), ("3 years", None),
])
def test_value_shapes(value, kind):
    assert pattern_kind(value) == kind


def _lines(*rows: tuple[int, int, int, int, str]) -> list[OcrLine]:
    return [OcrLine((x0, y0, x1, y1), text, 1.0) for x0, y0, x1, y1, text in rows]


def _found(lines: list[OcrLine]) -> dict[str, str]:
    return {b.text: b.reason for b in locate_pii(None, lines, today=TODAY)}


def test_label_to_the_left_and_in_the_same_line():
    found = _found(_lines(
        (40, 100, 140, 120, "Name:"), (200, 98, 380, 122, "Maria Cross"),
        (40, 140, 260, 160, "Date of birth: 03/14/1969"),
        (40, 180, 180, 200, "Start date:"), (200, 178, 330, 202, "03/14/1999"),
        (40, 220, 140, 240, "Sex:"), (200, 218, 280, 242, "Female"),
        (300, 218, 360, 242, "Male"),
        (40, 260, 160, 280, "Occupation:"), (200, 258, 330, 282, "Nurse"),
    ))
    assert found.pop("Maria Cross") == "label:name"
    assert found.pop(" 03/14/1969") == "label:dob"
    assert found == {"Female": "label:gender", "Male": "label:gender"}


def test_label_above_and_table_header():
    found = _found(_lines(
        # a boxed form: labels above their values
        (50, 100, 150, 118, "Full Name"), (400, 100, 520, 118, "Position"),
        (52, 122, 230, 148, "Leslie Anderson"), (402, 122, 560, 148, "Pilot"),
        # a table: header, then rows
        (100, 300, 160, 322, "Name"), (400, 300, 460, 322, "Email"),
        (700, 300, 780, 322, "Shift"),
        (40, 340, 52, 362, "1"), (100, 340, 260, 364, "Brooke Martinez"),
        (400, 340, 700, 364, "brooke@example.com"), (700, 340, 790, 364, "Morning"),
        (40, 382, 52, 404, "2"), (100, 382, 240, 406, "William Evans"),
        (400, 382, 690, 406, "wevans@example.com"), (700, 382, 790, 406, "Evening"),
        (40, 424, 52, 446, "3"), (100, 424, 230, 448, "Ana Ruiz"),
        (700, 424, 790, 448, "Morning"),
    ))
    assert found == {"Leslie Anderson": "label:name", "Brooke Martinez": "label:name",
                     "William Evans": "label:name", "Ana Ruiz": "label:name",
                     "brooke@example.com": "pattern:email",
                     "wevans@example.com": "pattern:email"}


def test_unlabelled_old_date_is_birth_like():
    found = _found(_lines((40, 100, 200, 120, "Born"), (40, 200, 200, 222, "July 4, 1980"),
                          (40, 300, 200, 322, "2026-11-30")))
    assert found == {"July 4, 1980": "pattern:dob"}


def test_no_text_names_the_source():
    with pytest.raises(ValueError, match="OCR found no text in form-7.png"):
        locate_pii(None, [OcrLine((0, 0, 5, 5), "  ", 0.1)], source="form-7.png")


def test_redact_styles_and_coverage_arithmetic():
    image = Image.new("RGB", (100, 60), "white")
    for x in range(10, 50, 4):  # black stripes to blur
        image.paste((0, 0, 0), (x, 10, x + 2, 30))
    boxes = [RedactionBox((10, 10, 50, 30), "x", "label:name")]
    black = np.asarray(redact(image, boxes, style="box", pad=0))
    assert (black[10:30, 10:50] == 0).all() and (black[40:, :] == 255).all()
    blurred = np.asarray(redact(image, boxes, style="blur", pad=0)).astype(int)
    assert blurred[10:30, 10:50].std() < np.asarray(image)[10:30, 10:50].std() / 3
    assert (blurred[40:, :] == 255).all()
    with pytest.raises(ValueError, match="unknown redaction style"):
        redact(image, boxes, style="pixelate")
    truth = {"size": [100, 60], "fields": [
        {"label": "Name", "pii_type": "name", "box": [10, 10, 50, 30]},
        {"label": "SSN", "pii_type": "ssn", "box": [30, 10, 70, 30]},
        {"label": "Job", "pii_type": None, "box": [40, 10, 60, 30]}]}
    cov = coverage(boxes, truth, pad=0)
    assert [f["covered"] for f in cov["fields"]] == [1.0, 0.5]
    assert cov["mean_covered"] == 0.75
    assert cov["fully_covered"].value == 0.5 and cov["fully_covered"].n == 2
    assert cov["over_redacted_share"] == 0.5
    assert cov["per_type"]["ssn"]["mean_covered"] == 0.5


def test_readable_share_matching():
    truth = {"fields": [
        {"value": "NV", "pii_type": "locality"}, {"value": "CO", "pii_type": "locality"},
        {"value": "05755 Rojas Brooks", "pii_type": "address"},
        {"value": "Pilot", "pii_type": None}, {"value": "", "pii_type": None},
        {"value": "Yes", "pii_type": None}]}
    lines = _lines((0, 0, 9, 9, "Section 1. Employee"), (0, 20, 9, 29, "State: NV"),
                   (0, 40, 9, 49, "05755RojasBrooks"), (0, 60, 9, 69, "PILOT."),
                   (0, 80, 9, 89, "YesNo"))
    got = readable_share(None, truth, lines)
    # "CO" inside "Section" is no reading of the state; merged words still count
    assert got["read"]["pii"] == ["NV", "05755 Rojas Brooks"]
    assert got["unread"]["pii"] == ["CO"]
    assert (got["pii"].n, got["non_pii"].n, got["non_pii"].value) == (3, 2, 1.0)


@pytest.mark.skipif(not shutil.which("tesseract"), reason="tesseract is not installed")
def test_tesseract_lines_locate_pii_too(people):
    image, truth = _form(people, "hiring", "inline", seed=3)
    tesseract = OCR("tesseract")
    cov = coverage(locate_pii(image, ocr=tesseract, today=TODAY), truth)
    assert all(line.box[2] > line.box[0] for line in tesseract.lines(image))
    assert cov["mean_covered"] >= 0.9, cov["fields"]


def test_tilted_page_pairs_label_and_value():
    """A page photographed 5 degrees askew: the value sits a line lower than its label."""
    angle = np.radians(5)

    def tilted(x0, y0, x1, y1, text):
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        quad = tuple((x * np.cos(angle) - y * np.sin(angle), x * np.sin(angle) + y * np.cos(angle))
                     for x, y in corners)
        xs, ys = [p[0] for p in quad], [p[1] for p in quad]
        return OcrLine((int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1), text,
                       1.0, quad)

    lines = [tilted(40, 100, 200, 122, "Applicant Name:"), tilted(400, 98, 600, 124, "Ana Ruiz"),
             tilted(40, 140, 200, 162, "Occupation:"), tilted(400, 138, 600, 164, "Welder"),
             tilted(40, 180, 500, 202, "Please print clearly in black ink")]
    found = locate_pii(None, lines, today=TODAY)
    assert [(b.text, b.reason) for b in found] == [("Ana Ruiz", "label:name")]
    assert found[0].box == lines[1].box  # the box to paint is the one in the image
