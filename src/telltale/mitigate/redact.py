"""Redaction of the PII on a form image, found by OCR alone, and how well it worked.

:func:`locate_pii` works as a deployed redactor must, from the pixels: OCR lines with their
boxes (:meth:`telltale.models.docassistant.OCR.lines`), then two kinds of rule:

- *values that name themselves*: an e-mail address, a US Social Security number or a US
  phone number anywhere on the page;
- *labelled fields*: a line that is a PII field label ("Full Name", "Date of Birth",
  "SSN / Taxpayer ID", "Street Address", "City, State, ZIP", ...) marks its value: the rest
  of the line after a colon ("Name: Ann Lee"), else the lines to its right on the same row
  up to the next label ("Phone Number:   (489) 344-1553"), else the lines below it in its
  column up to the next label or a gap (a boxed form's cell, or a table's column under its
  header).

Dates, names and addresses are found only through their labels: a date pattern alone
would black out the start date and the signature date as well.

:func:`coverage` and :func:`readable_share` measure the result against a rendered form's
ground truth (``truth["fields"]``: every printed value with its PII type and box), which the
redactor never sees.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: label words (letters only, lower case, as OCR may drop spaces) -> PII type; the first
#: match wins, so "email address" is an e-mail, not an address
LABELS: tuple[tuple[str, str], ...] = (
    ("email", "email"),
    ("socialsecurity", "ssn"), ("ssn", "ssn"), ("taxpayer", "ssn"),
    ("phone", "phone"), ("mobile", "phone"), ("cell", "phone"),
    ("dateofbirth", "dob"), ("birthdate", "dob"), ("dob", "dob"), ("born", "dob"),
    ("address", "address"), ("street", "address"),
    ("city", "locality"), ("town", "locality"), ("state", "locality"), ("zip", "locality"),
    ("postcode", "locality"), ("postalcode", "locality"),
    ("name", "name"), ("surname", "name"), ("forename", "name"),
    ("gender", "gender"), ("sex", "gender"),
)
#: abbreviations that are a label only on their own ("Tel:", "Mob.")
SHORT_LABELS = {"tel": "phone", "mob": "phone", "ph": "phone"}
#: the longest label, in letters: longer lines are sentences (an attestation, a footer)
MAX_LABEL_LETTERS = 40
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
SSN = re.compile(r"(?<!\d)\d{3}[- ]\d{2}[- ]\d{4}(?!\d)")
PHONE = re.compile(r"(?<!\d)(\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?!\d)")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class RedactionBox:
    """A region to redact: its pixel box, the OCR text in it and the rule that chose it."""

    box: Box
    text: str
    reason: str


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def label_type(text: str) -> str | None:
    """The PII type a field label names (None: not a PII label). A label is short and
    carries no digit or ``@``; ``Name: Ann Lee`` is judged on the part before the colon."""
    head = text.split(":", 1)[0]
    letters = _letters(head)
    if not letters or len(letters) > MAX_LABEL_LETTERS or re.search(r"[\d@]", head):
        return None
    if letters in SHORT_LABELS:
        return SHORT_LABELS[letters]
    return next((kind for word, kind in LABELS if word in letters), None)


def value_type(text: str) -> str | None:
    """The PII type of a value that names itself (e-mail, SSN, phone), else None."""
    if EMAIL.search(text):
        return "email"
    if SSN.search(text):
        return "ssn"
    if PHONE.search(text):
        return "phone"
    return None


def _same_row(a: Box, b: Box) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap > 0.5 * min(a[3] - a[1], b[3] - b[1])


def locate_pii(image: Any, engine: str = "rapidocr",
               lines: Sequence[tuple[str, Box]] | None = None) -> list[RedactionBox]:
    """The PII on a form image, as boxes to redact.

    Parameters
    ----------
    image : PIL.Image.Image
        The form.
    engine : str
        OCR engine (``rapidocr`` or ``tesseract``) when ``lines`` is not given.
    lines : sequence of (text, (x0, y0, x1, y1)), optional
        OCR lines already read from ``image``.

    Returns
    -------
    list of RedactionBox

    Raises
    ------
    ValueError
        When OCR finds no text in the image: nothing can be located, and a redaction that
        blacks out nothing must not pass for one that found nothing to black out.
    """
    if lines is None:
        from telltale.models.docassistant import OCR

        lines = OCR(engine).lines(image)
    lines = [(text, tuple(int(v) for v in box)) for text, box in lines if text.strip()]
    if not lines:
        raise ValueError(f"OCR ({engine}) found no text in the image "
                         f"({image.size[0]}x{image.size[1]} pixels)")
    kinds = [label_type(text) for text, _ in lines]
    is_label = [kind is not None and value_type(text) is None for kind, (text, _)
                in zip(kinds, lines, strict=True)]
    chosen: dict[int, RedactionBox] = {}
    for i, (text, box) in enumerate(lines):
        found = value_type(text)
        if found and not is_label[i]:
            chosen[i] = RedactionBox(box, text, f"{found} pattern")
        if not is_label[i]:
            continue
        head, colon, rest = text.partition(":")
        reason = f"value of the {kinds[i]} label {head.strip()!r}"
        if colon and rest.strip():  # "Name: Ann Lee" read as one line
            start = box[0] + round((box[2] - box[0]) * (len(head) + 1) / len(text))
            chosen[i] = RedactionBox((start, box[1], box[2], box[3]), rest.strip(), reason)
            continue
        right = _right_of(i, lines, is_label)
        below = _below(i, lines, is_label)
        # "Phone:   (489) ..." puts the value beside a label that ends in a colon; a boxed
        # cell or a table column puts it under a bare label
        values = right if (text.rstrip().endswith(":") and right) or not below else below
        for j in values:
            chosen.setdefault(j, RedactionBox(lines[j][1], lines[j][0], reason))
    return [chosen[i] for i in sorted(chosen)]


def _right_of(i: int, lines: Sequence[tuple[str, Box]], is_label: list[bool]) -> list[int]:
    """The lines right of label ``i`` on its row, up to the next PII label."""
    box = lines[i][1]
    right = sorted((j for j, (_, b) in enumerate(lines)
                    if j != i and b[0] >= box[2] - 2 and _same_row(box, b)),
                   key=lambda j: lines[j][1][0])
    out = []
    for j in right:
        if is_label[j]:
            break
        out.append(j)
    return out


def _rows_below(i: int, lines: Sequence[tuple[str, Box]]) -> list[list[int]]:
    """The lines under label ``i``'s column (left edges from the label's, less half a line
    height, to the next line on the label's row), grouped into rows, top first."""
    box = lines[i][1]
    neighbours = [b[0] for j, (_, b) in enumerate(lines)
                  if j != i and _same_row(box, b) and b[0] > box[0]]
    right_edge = min(neighbours, default=10 ** 9)
    tolerance = 0.5 * (box[3] - box[1])
    middle = (box[1] + box[3]) / 2
    below = sorted((j for j, (_, b) in enumerate(lines)
                    if b[1] > middle and not _same_row(box, b)
                    and box[0] - tolerance <= b[0] < right_edge),
                   key=lambda j: lines[j][1][1])
    rows: list[list[int]] = []
    for j in below:
        if rows and _same_row(lines[rows[-1][0]][1], lines[j][1]):
            rows[-1].append(j)
        else:
            rows.append([j])
    return rows


def _below(i: int, lines: Sequence[tuple[str, Box]], is_label: list[bool]) -> list[int]:
    """The value lines under label ``i``: the first row under it (a form's cell), or, when
    the label heads a table (two or more PII labels on its row, no PII label in the two
    rows under it, and those rows at the header's pitch), every row down to a label or a
    gap of more than two row pitches."""
    rows = _rows_below(i, lines)
    if not rows or any(is_label[j] for j in rows[0]):
        return []
    box = lines[i][1]
    header = sum(is_label[j] for j, (_, b) in enumerate(lines) if _same_row(box, b))
    pitch = lines[rows[0][0]][1][1] - box[1]
    # a table's rows follow its header at one pitch; a form's next row of labels sits
    # further below a value than the value below its label
    table = (header >= 2 and len(rows) >= 2 and not any(is_label[j] for j in rows[1])
             and abs(lines[rows[1][0]][1][1] - lines[rows[0][0]][1][1] - pitch)
             <= 0.15 * pitch)
    if not table:
        return rows[0]
    out = list(rows[0])
    for previous, row in itertools.pairwise(rows):
        if any(is_label[j] for j in row) or \
                lines[row[0]][1][1] - lines[previous[0]][1][1] > 2 * max(pitch, 1):
            break
        out += row
    return out


def redact(image: Any, boxes: Sequence[RedactionBox], style: str = "box",
           pad: int = 2) -> Any:
    """A copy of ``image`` with every box blacked out (``box``) or blurred (``blur``, a
    Gaussian blur whose radius is the box's height, which leaves no stroke readable)."""
    from PIL import ImageDraw, ImageFilter

    if style not in ("box", "blur"):
        raise ValueError(f"unknown redaction style {style!r}; choose box or blur")
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    for region in boxes:
        x0, y0, x1, y1 = region.box
        area = (max(0, x0 - pad), max(0, y0 - pad), min(out.width, x1 + pad),
                min(out.height, y1 + pad))
        if area[2] <= area[0] or area[3] <= area[1]:
            continue
        if style == "box":
            draw.rectangle(area, fill=(0, 0, 0))
        else:
            patch = out.crop(area).filter(ImageFilter.GaussianBlur(max(4, y1 - y0)))
            out.paste(patch, area[:2])
    return out


def _mask(boxes: Sequence[RedactionBox], size: tuple[int, int], pad: int = 2) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), dtype=bool)
    for region in boxes:
        x0, y0, x1, y1 = region.box
        mask[max(0, y0 - pad):max(0, y1 + pad), max(0, x0 - pad):max(0, x1 + pad)] = True
    return mask


def coverage(boxes: Sequence[RedactionBox], truth: dict[str, Any],
             full: float = 0.95) -> dict[str, Any]:
    """How much of each ground-truth field the redaction covered.

    Returns
    -------
    dict
        ``pii_fields`` and ``fully_covered`` (PII fields with at least ``full`` of their box
        covered), ``mean_covered`` (mean covered share over PII fields), ``by_type``
        (``{pii_type: [covered, fields]}``), and for the non-PII fields
        ``non_pii_fields`` and ``over_redacted`` (those more than half covered).
    """
    mask = _mask(boxes, tuple(truth["size"]))
    out: dict[str, Any] = {"pii_fields": 0, "fully_covered": 0, "non_pii_fields": 0,
                           "over_redacted": 0, "by_type": {}}
    shares = []
    for field in truth["fields"]:
        x0, y0, x1, y1 = field["box"]
        if x1 <= x0 or y1 <= y0:
            continue
        share = float(mask[y0:y1, x0:x1].mean())
        if field["pii_type"]:
            shares.append(share)
            out["pii_fields"] += 1
            out["fully_covered"] += share >= full
            tally = out["by_type"].setdefault(field["pii_type"], [0, 0])
            tally[0] += share >= full
            tally[1] += 1
        else:
            out["non_pii_fields"] += 1
            out["over_redacted"] += share > 0.5
    out["mean_covered"] = float(np.mean(shares)) if shares else float("nan")
    return out


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def readable_share(image: Any, truth: dict[str, Any], ocr: Any) -> dict[str, Any]:
    """Which ground-truth field values OCR still reads on ``image`` (a value counts as read
    when its letters and digits appear in the page's, spacing and punctuation aside; values
    of fewer than 3 such characters, which would match anywhere, are not counted).

    Returns
    -------
    dict
        ``non_pii_fields``, ``non_pii_readable`` (the utility left), ``pii_fields`` and
        ``pii_readable`` (the PII left), and ``skipped_short``.
    """
    page = _squash(ocr(image))
    out = {"non_pii_fields": 0, "non_pii_readable": 0, "pii_fields": 0, "pii_readable": 0,
           "skipped_short": 0}
    for field in truth["fields"]:
        value = _squash(str(field.get("value") or ""))
        if len(value) < 3:
            out["skipped_short"] += 1
            continue
        kind = "pii" if field["pii_type"] else "non_pii"
        out[f"{kind}_fields"] += 1
        out[f"{kind}_readable"] += value in page
    return out
