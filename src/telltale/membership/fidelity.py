"""Does the model transcribe? The premise of the two-stage attack, measured on the run.

The default membership attack scores the model's token statistics on its own greedy
transcription (the two-stage protocol of Lee et al., 2026): the pseudo ground truth stands
for the clip only if it is the clip's words. A model asked "Transcribe the audio." that
describes the speaker, refuses, or answers every clip with one memorised sentence is
scored on text that is not the clip's, and finding no signal in it then says nothing about
what the model memorised. Where the manifest has the transcripts, the premise is checked
here: the word error rate of the own transcriptions (overall, and for members and
non-members apart) and the transcription most often repeated. A model that does not
transcribe turns the run's "no signal" verdicts into inconclusive ones that say why and
name the white-box alternative (``--target reference``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from telltale.findings import SummaryRow
from telltale.membership.blackbox import words
from telltale.tables import format_estimate
from telltale.wer import wer_estimate, word_errors

#: corpus WER above which the own transcriptions are not taken for the clips' words: more
#: than half the reference words wrong is no transcription an attack can stand on
FIDELITY_WER = 0.5


def transcription_fidelity(outputs: Sequence[str | None], transcripts: Sequence[str],
                           members: Sequence[int], seed: int = 0) -> dict[str, Any] | None:
    """WER of the model's transcriptions against the manifest's transcripts.

    Parameters
    ----------
    outputs : the model's greedy transcriptions (None or "" where it said nothing).
    transcripts : the manifest's transcripts, aligned with ``outputs``; clips without one
        are left out.
    members : 1 for a member clip, 0 for a non-member, aligned with ``outputs``.
    seed : seeds the bootstrap intervals.

    Returns
    -------
    dict or None
        None when no clip has a transcript. Else ``wer``, ``wer_members`` and
        ``wer_nonmembers`` (corpus WER with a bootstrap interval over clips, as
        :func:`telltale.wer.wer_estimate`), ``clips``, ``most_repeated`` (the most frequent
        normalised transcription and how many clips got it) and ``transcribes`` (the
        corpus WER is at most :data:`FIDELITY_WER`).
    """
    rows = [(" ".join(words(o)), t, m) for o, t, m in zip(outputs, transcripts, members,
                                                          strict=True) if (t or "").strip()]
    if not rows:
        return None
    errors = [word_errors(t, hyp) for hyp, t, _ in rows]

    def estimate(wanted: set[int]) -> dict[str, Any]:
        picked = [e for e, (_, _, m) in zip(errors, rows, strict=True) if m in wanted]
        out = wer_estimate([e for e, _ in picked], [n for _, n in picked], seed=seed)
        # no clip of the class: not estimable, as every page prints it
        return out if not math.isnan(out["value"]) else {"value": None, "n": out["n"]}

    overall = estimate({0, 1})
    said = Counter(hyp for hyp, _, _ in rows if hyp)
    text, count = said.most_common(1)[0] if said else ("", 0)
    return {"wer": overall, "wer_members": estimate({1}), "wer_nonmembers": estimate({0}),
            "clips": len(rows), "empty": sum(1 for hyp, _, _ in rows if not hyp),
            "most_repeated": {"text": text, "count": count},
            "transcribes": overall["value"] is not None and overall["value"] <= FIDELITY_WER}


def describe(fidelity: Mapping[str, Any]) -> str:
    """One clause: the WER with its interval, members against non-members, and the most
    repeated transcription where several clips share it."""
    text = (f"WER {format_estimate(fidelity['wer'])} against the manifest's transcripts on "
            f"{fidelity['clips']} clips, members {format_estimate(fidelity['wer_members'])}"
            f" and non-members {format_estimate(fidelity['wer_nonmembers'])}")
    repeated = fidelity["most_repeated"]
    if repeated["count"] >= 3:
        text += f"; {repeated['count']} clips got the same transcription \"{repeated['text']}\""
    if fidelity["empty"]:
        text += f"; {fidelity['empty']} got none"
    return text


def qualify(verdict: Mapping[str, Any], fidelity: Mapping[str, Any] | None) -> dict[str, Any]:
    """``verdict`` (a verdict dict of the attack, the black-box attack or dataset inference)
    as it stands, or, when it finds no signal ("ok") in transcriptions that are not the
    clips' words, inconclusive with the reason before its own text."""
    if fidelity is None or fidelity["transcribes"] or verdict.get("level") != "ok":
        return dict(verdict)
    return {**verdict, "verdict": "inconclusive", "level": "info", "text": (
        "Inconclusive: the model does not transcribe these clips; its own transcriptions "
        "have " + describe(fidelity) + ". Their statistics are not those of the clips' "
        "words, so finding no signal in them does not show that the model memorised "
        "nothing; --target reference scores the manifest's transcripts instead. As scored: "
        + verdict["text"])}


def fidelity_row(fidelity: Mapping[str, Any], metric: str) -> SummaryRow:
    """The headline row of :func:`transcription_fidelity`: the WER, members against
    non-members, and the threshold the attack assumes."""
    wer = fidelity["wer"]
    return SummaryRow(metric, wer["value"], wer.get("low"), wer.get("high"), fidelity["clips"],
                      f"members {format_estimate(fidelity['wer_members'])}, non-members "
                      f"{format_estimate(fidelity['wer_nonmembers'])}; the attack on the own "
                      f"transcription assumes WER <= {FIDELITY_WER}")
