"""Redaction of the PII on form images, located by OCR, and how well it worked.

:func:`locate_pii` reads the image with the project's OCR (:class:`telltale.models.
docassistant.OCR`) and decides per line of text whether it is PII: by its own shape (an
email, a phone number, an SSN, a street address, a "City, ST 12345" line, a date that can be
a birth date) or by the field label printed before it: to its left on the same row
("Name: ..."), above it in the same column (boxed and two-column forms), or as the header
of its table column (a value several rows under a "Name" header inherits it). It never sees
the ground truth. :func:`redact` paints black boxes or a strong blur over what it found;
:func:`coverage` and :func:`readable_share` measure the result against the form's ground
truth (:func:`telltale.corpus.forms.render_form`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from telltale.models.docassistant import OCR, OcrLine
from telltale.stats import wilson

#: a field counts as covered when this share of its box lies under the redaction
FULLY_COVERED = 0.95
#: a date whose year lies at least this many years back can be a birth date
ADULT_YEARS = 14

# Field labels, matched on the label's words in lower case joined by single spaces, checked
# in this order (an "E-mail Address" is an email label before it is an address label). The
# phrases follow what US forms print (job applications, the I-9, bank account forms, contact
# tables), telltale's own forms among them. ``ssn`` stands for any national identity number
# (passport, driver's licence, alien registration).
PII_LABELS: tuple[tuple[str, str], ...] = (
    ("email", r"\be ?mail\b"),
    ("ssn", r"\b(ssn|social security|taxpayer id|tin|itin|national id|passport|"
            r"driver s licen[cs]e|alien registration|uscis)\b"),
    ("dob", r"\b(birth|birth ?date|birthday|dob|born)\b"),
    ("phone", r"\b(tele?phone|phone|mobile|cell|fax|tel)\b"),
    ("address", r"\b(address|street|residence|apt|apartment)\b"),
    ("locality", r"^(city|state|zip|zip code|postal code|postcode|town|county|province)\b|"
                 r"\bcity or town\b|\bcity state\b|\bstate zip\b"),
    ("gender", r"^(gender|sex)\b"),
    ("name", r"^(applicant|employee|customer|patient|member|contact|person|surname|"
             r"forename|given names?)$|"
             r"(?<!company )(?<!business )(?<!employer )(?<!bank )(?<!user )(?<!file )"
             r"(?<!product )(?<!school )(?<!project )(?<!event )(?<!team )\bname\b|"
             r"\b(first|last|middle|maiden) name\b|\bmiddle initial\b|"
             r"\b(emergency )?contact( person)?$"),
)
#: labels and headings of fields that are not PII: a value under one of them is not PII by
#: its label (they also stop a table column's label from reaching further down)
OTHER_LABELS = (r"\b(position|salary|employer|occupation|job|title|department|company|"
                r"organi[sz]ation|signature|date|type|deposit|amount|balance|years?|months?|"
                r"hours|rate|reference|notes?|comments?|section|information|attestation|"
                r"details|education|school|degree|applied|available|desired|registered|"
                r"shift|since|status|citizenship|authori[sz]ed|account|holder)\b")
#: words of the labels above and near misses, to mend one OCR slip ("Emall Address", "Adress")
LABEL_WORDS = ("email", "mail", "social", "security", "taxpayer", "passport", "birth",
               "birthday", "telephone", "phone", "mobile", "address", "street", "residence",
               "city", "state", "gender", "name", "applicant", "employee", "surname",
               # near misses of the words above that are labels of their own
               "employer", "position", "occupation", "signature", "company", "account")
_MONTHS = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"^(?:\d{1,2}[/.-]\d{1,2}[/.-](?P<y1>\d{4})"
    r"|(?P<y2>\d{4})[/.-]\d{1,2}[/.-]\d{1,2}"
    rf"|\d{{1,2}}\s*{_MONTHS}\s*,?\s*(?P<y3>\d{{4}})"
    rf"|{_MONTHS}\s*\d{{1,2}}\s*,?\s*(?P<y4>\d{{4}}))$", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_SSN = re.compile(r"^\d{3}([- ])\d{2}\1\d{4}$")  # grouped: nine bare digits say nothing
_PHONE_CHARS = re.compile(r"^[\d\s().+-]+$")
_STREET = re.compile(r"^\d{1,6}\s*[A-Za-z][A-Za-z.'-]*(\s*[A-Za-z0-9.#'-]+)+$")
_LOCALITY = re.compile(r"^[A-Za-z][A-Za-z .'-]*,\s*[A-Z]{2}\s*\d{5}(-\d{4})?$")


@dataclass(frozen=True)
class RedactionBox:
    """One stretch of an image to redact.

    Attributes
    ----------
    box : tuple of int
        Pixel box (x0, y0, x1, y1), x1 and y1 exclusive.
    text : str
        What OCR read there.
    reason : str
        The rule that fired: ``pattern:<kind>`` (the text's own shape) or
        ``label:<kind>`` (the field label; ``<kind>`` is the PII kind, e.g. ``name``).
    """

    box: tuple[int, int, int, int]
    text: str
    reason: str


@dataclass
class _Segment:
    """A line of OCR text, or the label or value part of a "Label: value" line: ``box`` on
    the page turned upright (for finding rows and columns), ``image_box`` in the image."""

    box: tuple[float, float, float, float]
    image_box: tuple[int, int, int, int]
    text: str
    label_kind: str | None = None  # set on labels: the PII kind, "" for a non-PII label
    left_label: _Segment | None = None  # the label printed before it on the same line

    @property
    def is_label(self) -> bool:
        return self.label_kind is not None

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def label_words(text: str) -> str:
    """A label's words in lower case joined by single spaces, camel-case merges split
    ("SSN/TaxpayerID" -> "ssn taxpayer id") and one-letter OCR slips mended."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|"
                    r"(?<=\d)(?=[A-Za-z])", " ", text)
    words = re.findall(r"[a-z0-9]+", spaced.lower())
    return " ".join(_mend(w) for w in words)


def _mend(word: str) -> str:
    """A label word OCR misread by one letter ("emall") as the word it is ("email"); a
    substitution only, so that real words ("start" beside "state") stay what they are."""
    if len(word) < 5 or word in LABEL_WORDS:
        return word
    for known in LABEL_WORDS:
        if len(known) == len(word) and sum(a != b for a, b in zip(known, word, strict=True)) == 1:
            return known
    return word


def label_kind(text: str) -> str | None:
    """The PII kind a field label asks for ("Date of Birth" -> ``dob``), None if none."""
    words = label_words(text)
    for kind, pattern in PII_LABELS:
        if re.search(pattern, words):
            return kind
    return None


def _looks_like_label(text: str) -> bool:
    """A line printed as a field label or heading rather than a value: words ending in ':'
    or '?', or a few words without digits naming a PII field (:data:`PII_LABELS`) or a
    common other field or heading (:data:`OTHER_LABELS`)."""
    stripped = text.strip()
    if "@" in stripped or re.search(r"\d{3}", stripped):
        return False
    if stripped.endswith((":", "?")):
        return True
    if re.search(r"\d", stripped) or len(label_words(stripped).split()) > 7:
        return False
    return label_kind(stripped) is not None or bool(re.search(OTHER_LABELS,
                                                              label_words(stripped)))


def pattern_kind(text: str) -> str | None:
    """The PII kind a value shows by its own shape, whatever its label; None if none.

    Dates are left out (:func:`_birth_like_date` decides them with the label)."""
    value = text.strip()
    if _EMAIL.search(value):
        return "email"
    digits = re.sub(r"\D", "", value)
    if _SSN.match(value):
        return "ssn"
    if _PHONE_CHARS.match(value) and (len(digits) == 10 or
                                       (len(digits) == 11 and digits.startswith("1"))):
        return "phone"
    if _LOCALITY.match(value):
        return "locality"
    # a house number and two words or more (OCR may merge them: "05755RojasBrooks")
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]{2,}", value)
    if _STREET.match(value) and not _DATE.match(value) and len(words) >= 2:
        return "address"
    return None


def _birth_like_date(text: str, today: dt.date | None = None) -> bool:
    """A printed date whose year lies at least :data:`ADULT_YEARS` years back."""
    match = _DATE.match(text.strip())
    if not match:
        return False
    year = next(int(v) for k, v in match.groupdict().items() if k.startswith("y") and v)
    return year <= (today or dt.date.today()).year - ADULT_YEARS


def _skew(lines: Sequence[OcrLine]) -> float:
    """The page's tilt in radians: the median slope of the top edges of the lines at least
    three times as wide as high (short ones give noisy slopes); 0 without quadrilaterals."""
    slopes = [math.atan2(q[1][1] - q[0][1], q[1][0] - q[0][0]) for line in lines
              if (q := line.quad) and line.box[2] - line.box[0] > 3 * (line.box[3] - line.box[1])]
    return float(np.median(slopes)) if slopes else 0.0


def _turned(points: Sequence[Sequence[float]], angle: float) -> tuple[float, ...]:
    """The axis-aligned box of ``points`` turned by ``-angle`` about the origin."""
    cos, sin = math.cos(angle), math.sin(angle)
    xs = [x * cos + y * sin for x, y in points]
    ys = [y * cos - x * sin for x, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def _corners(box: Sequence[float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _segments(lines: Sequence[OcrLine]) -> list[_Segment]:
    """Lines on the page turned upright, split at the colon of "Label: value"; labels
    marked with their PII kind."""
    angle = _skew(lines)
    out: list[_Segment] = []
    for line in lines:
        upright = _turned(line.quad or _corners(line.box), angle)
        head, colon, tail = line.text.partition(":")
        if colon and tail.strip() and re.search(r"[A-Za-z]", head) and \
                not re.search(r"\d", head) and len(head.split()) <= 7:
            # the value's share of the box by its share of the characters; the cut falls
            # before the colon, so a wide first letter of the value is not left out
            x0, y0, x1, y1 = upright
            cut = x0 + (x1 - x0) * len(head) / len(line.text)
            parts = []
            for part in ((x0, y0, cut, y1), (cut, y0, x1, y1)):
                back = _turned(_corners(part), -angle)
                parts.append((part, (math.floor(back[0]), math.floor(back[1]),
                                     math.ceil(back[2]), math.ceil(back[3]))))
            label = _Segment(*parts[0], head + colon, label_kind(head) or "")
            out.append(label)
            out.append(_Segment(*parts[1], tail, left_label=label))
            continue
        kind = (label_kind(line.text) or "") if _looks_like_label(line.text) else None
        out.append(_Segment(upright, line.box, line.text, kind))
    return out


def _same_row(a: _Segment, b: _Segment) -> bool:
    """Two lines on one row: they share 30 % of the lower one's height (a photographed page
    sits tilted, so a label and its value 300 px apart drift a third of a line apart)."""
    overlap = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
    return overlap >= 0.3 * min(a.height, b.height)


def _left_of(a: _Segment, b: _Segment) -> bool:
    """``a`` lies before ``b`` on a row: OCR boxes of neighbours may overlap a little (a
    tick-box square read with the option before it), so ``a``'s middle decides."""
    return (a.box[0] + a.box[2]) / 2 < b.box[0]


def _label_of(seg: _Segment, segs: list[_Segment], memo: dict[int, _Segment | None]
              ) -> _Segment | None:
    """The label a value belongs to: the nearest label to its left on its row (through other
    values of the row, e.g. tick-box options), else the label above it in its column
    (:func:`_label_above`), else the label of the value right before it on its row."""
    if id(seg) in memo:
        return memo[id(seg)]
    memo[id(seg)] = None  # guards against cycles
    found = seg.left_label
    cursor = seg
    while found is None:
        left = [s for s in segs if s is not cursor and _same_row(s, cursor)
                and _left_of(s, cursor)]
        if not left:
            break
        cursor = max(left, key=lambda s: s.box[2])
        if cursor.is_label:
            found = cursor
        elif cursor.left_label is not None:
            found = cursor.left_label
    if found is None:
        found = _label_above(seg, segs, memo)
    if found is None:
        # a value right after another on its row (a tick-box option, a word OCR split off)
        # belongs to the same field
        left = [s for s in segs if s is not seg and _same_row(s, seg) and not s.is_label
                and _left_of(s, seg) and seg.box[0] - s.box[2] <= 1.5 * seg.height]
        if left:
            found = _label_of(max(left, key=lambda s: s.box[2]), segs, memo)
    memo[id(seg)] = found
    return found


def _label_above(seg: _Segment, segs: list[_Segment], memo: dict[int, _Segment | None]
                 ) -> _Segment | None:
    """The label above a value in its column: the nearest line above it (within two line
    heights) that overlaps it horizontally, or, when that is a value, that value's own
    column label (so table cells inherit their header)."""
    width = seg.box[2] - seg.box[0]
    above = [s for s in segs if s.box[3] <= seg.box[1] + 0.3 * seg.height
             and seg.box[1] - s.box[3] <= 2.0 * max(seg.height, s.height)
             and min(s.box[2], seg.box[2]) - max(s.box[0], seg.box[0])
             >= 0.3 * min(width, s.box[2] - s.box[0])]
    if not above:
        return None
    nearest = max(above, key=lambda s: s.box[3])
    return nearest if nearest.is_label else _column_label(nearest, segs, memo)


def _column_label(seg: _Segment, segs: list[_Segment], memo: dict[int, _Segment | None]
                  ) -> _Segment | None:
    """A value's label, kept only when it came from above (a column header or label): a
    label found to the left belongs to that row alone."""
    label = _label_of(seg, segs, memo)
    if label is None or (_same_row(label, seg) and _left_of(label, seg)):
        return None
    return label


def locate_pii(image: Any, ocr_lines: Sequence[OcrLine] | None = None,
               engine: str = "rapidocr", ocr: OCR | None = None,
               today: dt.date | None = None, source: str = "image") -> list[RedactionBox]:
    """Find the PII printed on a form image.

    Parameters
    ----------
    image : PIL.Image.Image
        The form (clean render or photo).
    ocr_lines : sequence of OcrLine, optional
        The lines OCR read on ``image``; read with ``ocr`` (or a new :class:`OCR` of
        ``engine``) when None.
    engine : {"rapidocr", "tesseract"}
        OCR engine when neither ``ocr_lines`` nor ``ocr`` is given.
    ocr : OCR, optional
        A (caching) OCR reader to use.
    today : datetime.date, optional
        Reference date for "can be a birth date" (today when None).
    source : str
        What the image is (a file name, a sample id), for the error message.

    Returns
    -------
    list of RedactionBox
        One per OCR line, or value part of a "Label: value" line, judged PII: by its shape
        (``pattern:email|phone|ssn|address|locality``), by its label (``label:<kind>``, the
        kinds of :data:`PII_LABELS`), or an unlabelled date at least
        :data:`ADULT_YEARS` years back (``pattern:dob``). Labels themselves are kept.

    Raises
    ------
    ValueError
        "OCR found no text in <source>" when OCR reads nothing (a blank or unreadable
        image): there is nothing to locate the PII by.
    """
    if ocr_lines is None:
        ocr_lines = (ocr or OCR(engine)).lines(image)
    lines = [line for line in ocr_lines if line.text.strip()]
    if not lines:
        raise ValueError(f"OCR found no text in {source}: cannot locate PII to redact")
    segs = _segments(lines)
    memo: dict[int, _Segment | None] = {}
    found: list[RedactionBox] = []
    for seg in segs:
        if seg.is_label or not seg.text.strip():
            continue
        label = _label_of(seg, segs, memo)
        kind = label.label_kind if label is not None else None
        by_shape = pattern_kind(seg.text)
        if by_shape:
            reason = f"pattern:{by_shape}"
        elif kind:
            reason = f"label:{kind}"
        elif kind is None and _birth_like_date(seg.text, today):
            reason = "pattern:dob"
        else:
            continue
        found.append(RedactionBox(seg.image_box, seg.text, reason))
    return found


def _padded(box: Sequence[int], pad: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (max(0, x0 - pad), max(0, y0 - pad), min(size[0], x1 + pad), min(size[1], y1 + pad))


def redact(image: Any, boxes: Sequence[RedactionBox], style: str = "box", pad: int = 2,
           blur_radius: float = 12.0) -> Any:
    """A copy of ``image`` with every box painted black (``box``) or blurred (``blur``).

    Parameters
    ----------
    image : PIL.Image.Image
    boxes : sequence of RedactionBox
    style : {"box", "blur"}
    pad : int
        Pixels added on every side of each box.
    blur_radius : float
        Gaussian radius in pixels for ``blur``; the default smears 20-30 px text into
        an unreadable smudge.

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    from PIL import ImageDraw, ImageFilter

    if style not in ("box", "blur"):
        raise ValueError(f"unknown redaction style {style!r}; choose 'box' or 'blur'")
    out = image.convert("RGB")  # always a copy
    draw = ImageDraw.Draw(out)
    for item in boxes:
        area = _padded(item.box, pad, out.size)
        if area[2] <= area[0] or area[3] <= area[1]:
            continue
        if style == "box":
            draw.rectangle((area[0], area[1], area[2] - 1, area[3] - 1), fill=(0, 0, 0))
        else:
            patch = out.crop(area).filter(ImageFilter.GaussianBlur(blur_radius))
            out.paste(patch, area[:2])
    return out


def _mask(boxes: Sequence[RedactionBox], pad: int, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), bool)
    for item in boxes:
        x0, y0, x1, y1 = _padded(item.box, pad, size)
        mask[y0:y1, x0:x1] = True
    return mask


def coverage(boxes: Sequence[RedactionBox], truth: dict[str, Any], pad: int = 2
             ) -> dict[str, Any]:
    """How much of the form's PII the redaction covered, and how much else it hid.

    Parameters
    ----------
    boxes : sequence of RedactionBox
        What :func:`locate_pii` found (padded by ``pad`` as :func:`redact` paints them).
    truth : dict
        The form's ground truth (:func:`telltale.corpus.forms.render_form`): ``size`` and
        ``fields``, each with ``pii_type`` (None for non-PII) and ``box``.
    pad : int
        The padding :func:`redact` used.

    Returns
    -------
    dict
        ``fields``: per PII field its ``label``, ``pii_type`` and ``covered`` share of its box
        area; ``n_pii``, ``fully_covered`` (fields with share >= :data:`FULLY_COVERED`, a
        Wilson :class:`~telltale.stats.Estimate`), ``mean_covered`` (mean share),
        ``per_type`` ({pii_type: {"n", "mean_covered", "fully_covered"}}), and for the
        non-PII fields ``non_pii_fields`` (``label`` and ``covered`` share of each),
        ``n_non_pii``, ``over_redacted_share`` (their total box area under
        the redaction over their total area) and ``over_redacted_fields`` (fields with
        more than half their area hidden, a Wilson estimate).
    """
    size = tuple(truth["size"])
    mask = _mask(boxes, pad, size)  # type: ignore[arg-type]

    def share(box: Sequence[float]) -> tuple[float, int]:
        x0, y0, x1, y1 = (round(v) for v in box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(size[0], x1), min(size[1], y1)
        area = max(0, x1 - x0) * max(0, y1 - y0)
        return (float(mask[y0:y1, x0:x1].mean()) if area else 0.0), area

    pii, other_hidden, other_area, other_fields = [], 0.0, 0, []
    for f in truth["fields"]:
        covered, area = share(f["box"])
        if f["pii_type"]:
            pii.append({"label": f["label"], "pii_type": f["pii_type"], "covered": covered})
        else:
            other_hidden += covered * area
            other_area += area
            other_fields.append({"label": f["label"], "covered": covered})
    per_type: dict[str, dict[str, Any]] = {}
    for kind in sorted({p["pii_type"] for p in pii}):
        shares = [p["covered"] for p in pii if p["pii_type"] == kind]
        per_type[kind] = {"n": len(shares), "mean_covered": float(np.mean(shares)),
                          "fully_covered": wilson(sum(s >= FULLY_COVERED for s in shares),
                                                  len(shares))}
    shares = [p["covered"] for p in pii]
    return {
        "fields": pii, "n_pii": len(pii),
        "fully_covered": wilson(sum(s >= FULLY_COVERED for s in shares), len(shares)),
        "mean_covered": float(np.mean(shares)) if shares else float("nan"),
        "per_type": per_type,
        "non_pii_fields": other_fields, "n_non_pii": len(other_fields),
        "over_redacted_share": other_hidden / other_area if other_area else float("nan"),
        "over_redacted_fields": wilson(sum(f["covered"] > 0.5 for f in other_fields),
                                       len(other_fields)),
    }


def normalise(text: str) -> str:
    """Lower case, letters and digits only: OCR drops and adds spaces and punctuation."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def readable_share(image: Any, truth: dict[str, Any], ocr: OCR | Sequence[OcrLine]
                   ) -> dict[str, Any]:
    """Which printed field values OCR still reads on a (redacted) form image.

    A field is readable when its normalised value (:func:`normalise`) occurs inside the
    normalised text of one OCR line (OCR drops spaces: "05755RojasBrooks"); a value of up to
    3 characters ("NV", "6") has to be a word of its own. A tick-box field's value is the
    ticked option's text, which the form prints whichever option is ticked.

    Parameters
    ----------
    image : PIL.Image.Image
        The form as the reader sees it (redacted or not).
    truth : dict
        The form's ground truth (``fields`` with ``value`` and ``pii_type``).
    ocr : OCR or sequence of OcrLine
        An OCR reader, or the lines it already read on ``image``.

    Returns
    -------
    dict
        ``non_pii`` (share of non-PII fields readable: the utility kept) and ``pii`` (share
        of PII fields readable: the leak left), each a Wilson
        :class:`~telltale.stats.Estimate` over the fields with a printed value, and
        ``read`` and ``unread`` ({"non_pii": [...], "pii": [...]}: which values were read,
        which not; ``read["pii"]`` is the leak itself).
    """
    lines = ocr.lines(image) if isinstance(ocr, OCR) else list(ocr)
    texts = [normalise(line.text) for line in lines]
    # a value of 3 characters or fewer ("NV", "6") would be found inside many other words
    # ("Section"), so it has to be a word of its own (camel-case merges split: "YesNo")
    words = {w for line in lines for w in label_words(line.text).split()}
    counts = {"non_pii": [0, 0], "pii": [0, 0]}
    read: dict[str, list[str]] = {"non_pii": [], "pii": []}
    unread: dict[str, list[str]] = {"non_pii": [], "pii": []}
    for f in truth["fields"]:
        value = normalise(f["value"])
        if not value:
            continue
        group = "pii" if f["pii_type"] else "non_pii"
        counts[group][1] += 1
        if value in words if len(value) <= 3 else any(value in text for text in texts):
            counts[group][0] += 1
            read[group].append(f["value"])
        else:
            unread[group].append(f["value"])
    return {"non_pii": wilson(*counts["non_pii"]), "pii": wilson(*counts["pii"]),
            "read": read, "unread": unread}
