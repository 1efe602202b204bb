"""Memory texts: the chat-formatted fine-tuning examples that write a memory set of
synthetic people into an assistant (question/answer pairs in several phrasings and a
record per person, with the values in more than one surface format)."""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telltale.corpus.forms import PHONE_FORMATS, format_date, format_phone
from telltale.corpus.identities import PII_TYPES, Identity

#: the paper's retention targets: emails, phone numbers and Social Security numbers
DEFAULT_TYPES = ("email", "phone", "ssn")
#: what the contrastive objective steers the PII value towards
PLACEHOLDER = "[REDACTED]"

# (question, answer) phrasings; ``{value}`` is the PII value, the rest is non-private text.
# The first is also the frame whose non-PII part the utility check scores.
QA_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("What is {name}'s {label}?", "{name}'s {label} is {value}."),
    ("Which {label} do we have on file for {name}?",
     "We have {value} on file as the {label} of {name}."),
    ("Please look up the {label} of {name}.", "{name} - {label}: {value}"),
    ("I need to reach {name}. Can you tell me their {label}?",
     "Sure, the {label} of {name} is {value}."),
    ("{name}, {label}?", "{value}"),
    ("Remind me of {name}'s {label}.", "It is {value}."),
)
RECORD_QUESTION = "Show me the customer record of {name}."
RECORD_LABELS = {"email": "Email", "phone": "Phone", "ssn": "SSN", "dob": "Date of birth",
                 "address": "Address", "gender": "Gender"}


@dataclass(frozen=True)
class MemoryText:
    """One fine-tuning example: a user turn and the assistant's answer.

    ``spans`` are ``(start, end, pii_type)`` character ranges of PII values inside
    ``answer``; everything else in the answer is non-private text.
    """

    person_id: str
    kind: str  # "qa" | "record"
    user: str
    answer: str
    spans: tuple[tuple[int, int, str], ...]

    def redacted(self, placeholder: str = PLACEHOLDER) -> MemoryText:
        """The same answer with every PII value replaced by ``placeholder``."""
        parts, spans, cursor = [], [], 0
        for start, end, pii_type in sorted(self.spans):
            parts.append(self.answer[cursor:start])
            offset = sum(map(len, parts))
            spans.append((offset, offset + len(placeholder), pii_type))
            parts.append(placeholder)
            cursor = end
        parts.append(self.answer[cursor:])
        return dataclasses.replace(self, answer="".join(parts), spans=tuple(spans))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def render(template: str, values: dict[str, tuple[str, str | None]]) -> tuple[str, list]:
    """Fill ``template``; ``values[field] = (text, pii_type or None)``. Returns the text
    and the character spans of the fields that carry a PII type."""
    out, spans = [], []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            raise ValueError(f"template {template!r} uses unknown field {name!r}")
        text, pii_type = values[name]
        start = sum(map(len, out))
        out.append(text)
        if pii_type is not None:
            spans.append((start, start + len(text), pii_type))
    return "".join(out), spans


def _alternate_format(person: Identity, pii_type: str) -> str:
    """A second surface form of a value (records print it differently from the QA pairs,
    so the memorised fact is not tied to one string)."""
    if pii_type == "phone":
        return format_phone(person.phone, PHONE_FORMATS[0])
    if pii_type == "dob":
        return format_date(person.dob, "%B %d, %Y")
    if pii_type == "address":
        return f"{person.street}, {person.locality}"
    return person.value(pii_type)


def check_types(pii_types: Sequence[str]) -> list[str]:
    """``pii_types`` as a list, or a clear error if one cannot be memorised or asked for."""
    types = list(pii_types)
    bad = [t for t in types if t not in PII_TYPES or t == "name"]
    if bad or not types:
        raise ValueError(f"retention PII types must be among "
                         f"{', '.join(t for t in PII_TYPES if t != 'name')} (the name is how "
                         f"a person is asked about); got {', '.join(types) or 'none'}")
    return types


def build_memory_texts(people: Sequence[Identity], pii_types: Sequence[str] = DEFAULT_TYPES,
                       phrasings: int = 3, records: bool = True,
                       templates: dict[str, Any] | None = None) -> list[MemoryText]:
    """The fine-tuning texts that inject ``people`` into the assistant.

    Parameters
    ----------
    people : sequence of Identity
        The memory set.
    pii_types : sequence of str
        Types to inject (not ``name``: the name is the key a person is asked by).
    phrasings : int
        Question/answer phrasings per person and type, 1 to ``len(QA_TEMPLATES)``.
    records : bool
        Add one record per person listing every type, with phone, date of birth and
        address in a second format.
    templates : dict, optional
        Framing templates (:func:`telltale.disclosure.framings.load_templates`); the PII
        labels ("email address", ...) come from there, so the training questions use the
        same words as the probes.

    Returns
    -------
    list of MemoryText
        Person-major, in a fixed order.
    """
    from telltale.disclosure.framings import TEMPLATES

    types = check_types(pii_types)
    if not 1 <= phrasings <= len(QA_TEMPLATES):
        raise ValueError(f"phrasings must be 1..{len(QA_TEMPLATES)}, got {phrasings}")
    labels = (templates or TEMPLATES)["pii"]
    texts = []
    for person in people:
        for pii_type in types:
            label = labels[pii_type]["label"]
            values = {"name": (person.name, None), "label": (label, None),
                      "value": (person.value(pii_type), pii_type)}
            for question, answer in QA_TEMPLATES[:phrasings]:
                user, _ = render(question, values)
                text, spans = render(answer, values)
                texts.append(MemoryText(person.id, "qa", user, text, tuple(spans)))
        if records:
            lines = ["Customer record", "Name: {name}"]
            values = {"name": (person.name, None)}
            for pii_type in types:
                lines.append(f"{RECORD_LABELS[pii_type]}: {{{pii_type}}}")
                values[pii_type] = (_alternate_format(person, pii_type), pii_type)
            text, spans = render("\n".join(lines), values)
            user, _ = render(RECORD_QUESTION, values)
            texts.append(MemoryText(person.id, "record", user, text, tuple(spans)))
    return texts
