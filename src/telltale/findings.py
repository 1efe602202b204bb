"""What an audit reports, typed once for every audit: verdicts and headline rows.

A :class:`Verdict` is a plain-language conclusion with one of four levels, the same words
and colours on every page (:data:`LEVEL_NAMES`): a **leak** found, **no leak shown**,
**inconclusive** (the sample cannot support a conclusion), or a **caution** about the
evidence itself (replies that could not be parsed, silence scoring above real audio, a
shift between members and non-members). A :class:`SummaryRow` is one headline figure with
its interval and its control. Both are written to ``results.json`` as plain dicts
(:meth:`Verdict.to_dict`, :meth:`SummaryRow.to_dict`) and read back with ``from_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    """How a verdict reads; the value is what ``results.json`` stores."""

    LEAK = "warn"
    NO_LEAK = "ok"
    INCONCLUSIVE = "info"
    CAUTION = "caution"


#: the name each level is shown under, on every page
LEVEL_NAMES = {Level.LEAK: "Leak", Level.NO_LEAK: "No leak shown",
               Level.INCONCLUSIVE: "Inconclusive", Level.CAUTION: "Caution"}


@dataclass(frozen=True)
class Verdict:
    """One conclusion of an audit.

    ``text`` opens with what it is about and the claim (``"gender (direct): the model
    infers it from the voice"``) and goes on with the evidence, after a dash. ``label``
    names a verdict that is not a leak finding under its own word ("Distribution shift",
    "Utility") instead of the level's; ``headline`` verdicts lead the report and stay
    open (one per defence of a mitigation run).
    """

    level: Level
    text: str
    label: str | None = None
    headline: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", Level(self.level))

    @property
    def name(self) -> str:
        """The word the report shows before the text."""
        return self.label or LEVEL_NAMES[self.level]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"level": self.level.value, "text": self.text}
        if self.label:
            out["label"] = self.label
        if self.headline:
            out["headline"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        level = data.get("level", Level.INCONCLUSIVE)
        # runs written before the caution level stored it as a labelled warning
        if level == Level.LEAK and data.get("label") == "Caution":
            return cls(Level.CAUTION, data["text"], None, bool(data.get("headline")))
        return cls(Level(level), data["text"], data.get("label"), bool(data.get("headline")))


def leak(text: str, **kwargs: Any) -> Verdict:
    return Verdict(Level.LEAK, text, **kwargs)


def no_leak(text: str, **kwargs: Any) -> Verdict:
    return Verdict(Level.NO_LEAK, text, **kwargs)


def inconclusive(text: str, **kwargs: Any) -> Verdict:
    return Verdict(Level.INCONCLUSIVE, text, **kwargs)


def caution(text: str, **kwargs: Any) -> Verdict:
    return Verdict(Level.CAUTION, text, **kwargs)


@dataclass(frozen=True)
class SummaryRow:
    """One headline figure: a rate, AUC or difference with its interval and its control.

    ``value`` None is a figure that could not be estimated (``n`` says on how many);
    ``kind`` "p" marks a p-value (printed to three significant digits); ``sd`` is the
    spread of a mean over realisations, shown where there is no interval.
    """

    metric: str
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    control: str | None = None
    kind: str | None = None
    sd: float | None = None

    def __post_init__(self) -> None:
        # NaN (an interval that could not be estimated) is written to results.json as null:
        # one value for "missing", so a row read back equals the row written
        for name in ("value", "low", "high", "sd"):
            value = getattr(self, name)
            if isinstance(value, float) and math.isnan(value):
                object.__setattr__(self, name, None)

    @classmethod
    def of(cls, metric: str, estimate: Mapping[str, Any], control: str | None = None,
           **kwargs: Any) -> SummaryRow:
        """A row from an estimate dict (``value``, ``low``, ``high``, ``n``)."""
        return cls(metric, estimate.get("value"), estimate.get("low"), estimate.get("high"),
                   estimate.get("n"), control, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "value": self.value, "low": self.low,
                               "high": self.high, "n": self.n, "control": self.control}
        if self.kind:
            out["kind"] = self.kind
        if self.sd is not None:
            out["sd"] = self.sd
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SummaryRow:
        return cls(data["metric"], data.get("value"), data.get("low"), data.get("high"),
                   data.get("n"), data.get("control"), data.get("kind"), data.get("sd"))


@dataclass
class Results:
    """What an audit's metrics found: headline rows, verdicts, and the audit's own figures
    (``details``, written into ``results.json`` under their names: per-cell metrics,
    tests, tables' data)."""

    summary: list[SummaryRow] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.details, "summary": [row.to_dict() for row in self.summary],
                "verdicts": [verdict.to_dict() for verdict in self.verdicts]}
