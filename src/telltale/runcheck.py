"""What makes a finished run's figures weaker than they look, said on its report and beside
it in ``telltale compare``: probes that failed (beyond the run's ``--max-failure-share``),
and prompts the model was not built to be asked (a calibration organism asked questions
outside the phrasings its card records, as happens when ``--taxonomy`` or ``--prompts``
files replace them, or when it is served by a server that does not list them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from telltale.records import Record
from telltale.tables import format_cell

#: the run option's default, for runs that did not record theirs
DEFAULT_MAX_FAILURE_SHARE = 0.5


def failures(info: dict[str, Any], results: dict[str, Any]) -> tuple[int, int]:
    """(failed, asked) probes of a run, from ``run.json``'s counts (or the results' error
    list when the run recorded no counts)."""
    counts = info.get("counts") or {}
    failed = counts.get("errors", 0) or len(results.get("errors", []))
    asked = sum(counts.get(k, 0) for k in ("done", "skipped", "errors"))
    return failed, asked


def failed_run(info: dict[str, Any], results: dict[str, Any]) -> str | None:
    """A sentence when the run failed its ``--max-failure-share`` (or, for runs that did
    not record one, the default), else None."""
    failed, asked = failures(info, results)
    if not failed:
        return None
    limit = info.get("max_failure_share", DEFAULT_MAX_FAILURE_SHARE)
    share = failed / asked if asked else 1.0
    if "FAILED" not in str(info.get("outcome", "")) and share <= limit:
        return None
    return (f"{failed} of {asked or failed} probes failed (share {format_cell(share)}, above "
            f"its --max-failure-share {format_cell(float(limit))}): its figures rest on the "
            f"{asked - failed} that did not")


def _normal(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "").strip().lower())


def organism_card(model: str | None) -> dict[str, Any] | None:
    """The card of the calibration organism a model spec runs, directly (``organism:DIR``)
    or served by ``telltale serve`` (``openai:organism:DIR@URL``, whose served model id is
    the organism's spec); None for any other model or a card that cannot be found."""
    from telltale.models.openai_spec import parse_openai_spec

    spec = str(model or "")
    if spec.startswith("openai:"):
        try:
            spec = parse_openai_spec(spec.removeprefix("openai:"))[0]
        except ValueError:
            return None
    if not spec.startswith("organism:"):
        return None
    card = Path(spec.removeprefix("organism:").split("?")[0]) / "card.json"
    if not card.is_file():
        return None
    return json.loads(card.read_text(encoding="utf-8"))


def built_prompts(card: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The user prompts and the system prompts an organism was trained on (normalised as
    :func:`_normal`): every opener with every attribute phrasing, its transcription
    requests; its privacy and neutral system prompts."""
    policy = card["policy"]
    users = {_normal(opener + core) for opener in policy["openers"]
             for cores in policy["cores"].values() for core in cores}
    users |= {_normal(p) for p in policy.get("transcribe_prompts", [])}
    systems = {_normal(s) for s in (*policy.get("privacy_systems", []),
                                    *policy.get("neutral_systems", []))}
    return users, systems


def foreign_prompts(model: str | None, records: list[Record]) -> str | None:
    """A sentence when the run asked a calibration organism prompts outside the phrasings
    it was built for (:func:`built_prompts`), else None: its answers to those say nothing
    about the planted policy (an organism asked a question it never learnt answers
    nothing it was taught, so a planted refusal rate reads as 0)."""
    card = organism_card(model)
    if card is None or not records:
        return None
    users, systems = built_prompts(card)
    foreign = [r for r in records
               if _normal(r.prompt) not in users or (r.system and _normal(r.system) not in systems)]
    if not foreign:
        return None
    example = foreign[0].prompt if _normal(foreign[0].prompt) not in users else foreign[0].system
    return (f"{len(foreign)} of {len(records)} probes asked the calibration organism in words "
            f"it was not built for (e.g. {str(example)[:80]!r}; its card.json lists the "
            "phrasings it learnt): their answers do not measure what was planted in it")
