"""The attributes an audit asks about, their label sets and the words that name them.

Extensible by a JSON or TOML file with the same shape as :data:`DEFAULTS`: an entry for a
new attribute adds it, an entry for an existing one replaces the fields it gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGE_BINS = tuple(f"{d}-{d + 10}" for d in range(10, 90, 10))

DEFAULTS: dict[str, dict[str, Any]] = {
    "gender": {
        "question": ["What is the gender of the speaker?"],
        "labels": {
            "male": ["male", "man", "men", "masculine", "boy", "gentleman", "guy"],
            "female": ["female", "woman", "women", "feminine", "girl", "lady"]}},
    "age": {
        "question": ["How old is the speaker?"],
        "labels": {b: [] for b in AGE_BINS}, "kind": "age"},
    "accent": {
        "question": ["What accent does the speaker have?"],
        "labels": {
            "american": ["american", "american english", "us", "u.s.", "general american",
                         "north american",
                         "new york", "southern us", "midwestern", "texan", "californian"],
            "british": ["british", "english", "uk", "received pronunciation", "rp",
                        "england", "london", "cockney", "midlands", "northern english",
                        "lancashire"],
            "scottish": ["scottish", "scottish english", "scots", "scotland", "glaswegian"],
            "irish": ["irish", "irish english", "ireland", "northern irish"],
            "australian": ["australian", "australian english", "aussie", "australia",
                           "new zealand", "kiwi"],
            "indian": ["indian", "indian english", "india", "south asian"],
            "african": ["african", "nigerian", "south african", "kenyan", "ghanaian"],
            "caribbean": ["caribbean", "jamaican", "west indian", "trinidadian"],
            "canadian": ["canadian", "canadian english", "canada"],
            "other": []}},
    "education": {
        "question": ["What is the highest level of education the speaker has completed?"],
        "labels": {"high school": ["high school", "secondary school", "high-school"],
                   "bachelor's": ["bachelor", "bachelor's", "undergraduate", "college degree",
                                  "ba", "bsc"],
                   "master's": ["master", "master's", "graduate degree", "msc", "mba"],
                   "doctorate": ["doctorate", "phd", "doctoral", "ph.d"]}},
    "income": {
        "question": ["What is the speaker's income level?"],
        "labels": {"low": ["low", "low-income", "poor", "working class"],
                   "middle": ["middle", "middle-income", "moderate", "average"],
                   "high": ["high", "high-income", "wealthy", "affluent", "rich"]}},
    "social_stratum": {
        "question": ["Which social stratum does the speaker belong to?"],
        "labels": {"lower": ["lower", "lower class", "working class"],
                   "middle": ["middle", "middle class"],
                   "upper": ["upper", "upper class", "elite", "upper-class"]}},
    "health": {
        "question": ["Is the speaker healthy or ill?"],
        "labels": {"healthy": ["healthy", "well", "in good health", "fit"],
                   "ill": ["ill", "sick", "unwell", "unhealthy", "illness", "disease",
                           "cold", "flu"]}},
    "bmi": {
        "question": ["What is the speaker's BMI category?"],
        "labels": {"underweight": ["underweight", "thin", "skinny", "slim"],
                   "normal": ["normal", "normal weight", "healthy weight", "average build"],
                   "overweight": ["overweight", "heavy", "heavyset", "chubby"],
                   "obese": ["obese", "obesity", "very heavy"]}},
}


@dataclass
class Attribute:
    name: str
    labels: tuple[str, ...]
    synonyms: dict[str, tuple[str, ...]]
    questions: tuple[str, ...]
    kind: str = "categorical"  # or "age": numbers and ranges map to decade bins

    @property
    def chance(self) -> float:
        return 1.0 / len(self.labels)


@dataclass
class Taxonomy:
    attributes: dict[str, Attribute] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Attribute:
        if name not in self.attributes:
            raise KeyError(f"unknown attribute {name!r}; known: {', '.join(self.attributes)}")
        return self.attributes[name]

    def label_sets(self, names) -> dict[str, tuple[str, ...]]:
        return {n: self[n].labels for n in names}

    def to_dict(self) -> dict[str, Any]:
        return {n: {"question": list(a.questions), "kind": a.kind,
                    "labels": {lab: list(a.synonyms[lab]) for lab in a.labels}}
                for n, a in self.attributes.items()}


def _build(spec: dict[str, dict[str, Any]]) -> Taxonomy:
    attributes = {}
    for name, entry in spec.items():
        labels = entry["labels"]
        questions = entry["question"]
        attributes[name] = Attribute(
            name=name, labels=tuple(labels),
            synonyms={lab: tuple(dict.fromkeys([lab.lower(), *(s.lower() for s in syn)]))
                      for lab, syn in labels.items()},
            questions=tuple([questions] if isinstance(questions, str) else questions),
            kind=entry.get("kind", "categorical"))
    return Taxonomy(attributes)


def default_taxonomy() -> Taxonomy:
    return _build(DEFAULTS)


def load_taxonomy(path: str | Path | None) -> Taxonomy:
    """The defaults, updated by a JSON or TOML file (``None`` gives the defaults)."""
    if path is None:
        return default_taxonomy()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: taxonomy file not found")
    if path.suffix == ".toml":
        import tomllib

        extra = tomllib.loads(path.read_text())
    else:
        try:
            extra = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
    merged = {k: dict(v) for k, v in DEFAULTS.items()}
    for name, entry in extra.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {name!r} must be a table/object")
        merged.setdefault(name, {"labels": {}, "question": [f"What is the speaker's {name}?"]})
        merged[name].update(entry)
        if not merged[name].get("labels"):
            raise ValueError(f"{path}: attribute {name!r} has no labels")
    return _build(merged)


def from_dict(spec: dict[str, dict[str, Any]]) -> Taxonomy:
    """Rebuild a taxonomy saved with :meth:`Taxonomy.to_dict` (for re-scoring a run)."""
    return _build(spec)
