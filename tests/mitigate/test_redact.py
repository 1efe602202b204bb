"""Form redaction found by OCR alone (RapidOCR, real), measured against rendered forms'
ground truth; label and value rules on the ways real forms print them."""

import pytest
from PIL import Image

from telltale.corpus.forms import render_form
from telltale.corpus.identities import make_identities
from telltale.mitigate.redact import (
    coverage,
    label_type,
    locate_pii,
    readable_share,
    redact,
    value_type,
)
from telltale.models.docassistant import OCR

# field labels as real forms print them (bank, HR, medical, government, web forms)
LABELS = {
    "Full Name": "name", "Name:": "name", "Name of Applicant": "name", "Surname": "name",
    "Given name(s)": "name", "Forename": "name", "LAST NAME": "name",
    "Patient Name": "name", "Account Holder Name": "name", "First Name (Given Name)": "name",
    "Date of Birth": "dob", "DOB:": "dob", "D.O.B.": "dob", "Birth date": "dob",
    "Date of birth (DD/MM/YYYY)": "dob", "Born": "dob",
    "Social Security Number": "ssn", "SSN": "ssn", "SSN / Taxpayer ID": "ssn",
    "Social Security No.": "ssn", "U.S. Social Security Number": "ssn",
    "Phone Number": "phone", "Tel:": "phone", "Mobile": "phone", "Telephone (home)": "phone",
    "Cell phone": "phone", "Mob.": "phone", "Daytime phone": "phone",
    "Email Address": "email", "E-mail:": "email", "Employee's E-mail Address": "email",
    "Home Address": "address", "Street Address": "address", "Mailing address": "address",
    "Address (Street Number and Name)": "address", "Residential Address": "address",
    "City, State, ZIP": "locality", "City or Town": "locality", "ZIP Code": "locality",
    "Postal code": "locality", "State": "locality", "Postcode": "locality",
    "Gender": "gender", "Sex": "gender",
}
NOT_LABELS = [
    "Position Applied For", "Available Start Date", "Desired Salary", "Most Recent Employer",
    "Occupation", "Account Type", "Initial Deposit", "Years There", "Signature of Employee",
    "EMPLOYMENT APPLICATION", "Applicant Information", "Today's Date: 02/15/2026",
    "I certify that the information in this application is true and complete.",
    "Section 1. Employee Information and Attestation", "Reference No. 4471",
]
VALUES = {
    "jane.doe@example.com": "email", "J_DOE+work@mail.co.uk": "email",
    "634-33-8726": "ssn", "634 33 8726": "ssn",
    "(489) 344-1553": "phone", "489.344.1553": "phone", "+1 415 738 5664": "phone",
    "415-738-5664": "phone", "+14157385664": "phone",
}
NOT_VALUES = ["December 30, 2006", "$86,000", "2027-01-20", "Order 1234567", "12/03/1991",
              "Peter Fisher", "8764 Howard Forge"]


@pytest.mark.parametrize("text, kind", LABELS.items())
def test_pii_labels(text, kind):
    assert label_type(text) == kind


@pytest.mark.parametrize("text", NOT_LABELS)
def test_other_lines_are_no_pii_labels(text):
    assert label_type(text) is None


@pytest.mark.parametrize("text, kind", VALUES.items())
def test_values_that_name_themselves(text, kind):
    assert value_type(text) == kind


@pytest.mark.parametrize("text", NOT_VALUES)
def test_other_values_need_their_label(text):
    assert value_type(text) is None


def test_an_inline_value_in_the_same_line_is_cut_after_the_colon():
    lines = [("Name: Ann Lee", (10, 10, 140, 30)), ("Occupation: Editor", (10, 40, 190, 60))]
    boxes = locate_pii(Image.new("RGB", (200, 80), "white"), lines=lines)
    assert [(b.text, b.box[0] > 10) for b in boxes] == [("Ann Lee", True)]


@pytest.fixture(scope="module")
def forms():
    people = make_identities(12, 3)
    return [render_form("hiring", people[0], layout="inline", seed=1),
            render_form("verification", people[1], layout="boxed", seed=2),
            render_form("finance", people[2], layout="columns", seed=3),
            render_form("open_context", people[3:8], layout="boxed", seed=4)]


@pytest.fixture(scope="module")
def ocr():
    return OCR("rapidocr")


def test_redaction_covers_the_pii_and_leaves_the_rest_readable(forms, ocr):
    totals = dict.fromkeys(("pii", "covered", "non_pii", "over", "readable", "fields",
                            "pii_left"), 0)
    for image, truth in forms:
        boxes = locate_pii(image, lines=ocr.lines(image))
        measured = coverage(boxes, truth)
        read = readable_share(redact(image, boxes), truth, ocr)
        totals["pii"] += measured["pii_fields"]
        totals["covered"] += measured["fully_covered"]
        totals["non_pii"] += measured["non_pii_fields"]
        totals["over"] += measured["over_redacted"]
        totals["readable"] += read["non_pii_readable"]
        totals["fields"] += read["non_pii_fields"]
        totals["pii_left"] += read["pii_readable"]
        # before redaction OCR reads the PII (the measure can see a leak)
        assert readable_share(image, truth, ocr)["pii_readable"] >= read["pii_fields"] - 1
    assert totals["covered"] / totals["pii"] >= 0.95
    assert totals["over"] <= 1 and totals["readable"] / totals["fields"] >= 0.8
    assert totals["pii_left"] == 0


def test_blur_hides_the_pii_from_ocr_too(forms, ocr):
    image, truth = forms[0]
    boxes = locate_pii(image, lines=ocr.lines(image))
    blurred = redact(image, boxes, style="blur")
    assert readable_share(blurred, truth, ocr)["pii_readable"] == 0
    assert blurred.size == image.size and blurred.tobytes() != image.tobytes()


def test_an_image_where_ocr_finds_nothing_is_a_named_problem():
    with pytest.raises(ValueError, match="OCR .rapidocr. found no text in the image"):
        locate_pii(Image.new("RGB", (300, 200), "white"))
