"""The classical figures of a voice mitigation run, per version of every clip, from the
entries of ``classical.jsonl`` (:mod:`telltale.mitigate.audit`): speaker verification for
the three attackers of the VoicePrivacy Challenge (:mod:`telltale.mitigate.speaker`) and the
recogniser's WER with the held-out task language model and the generic one
(:mod:`telltale.mitigate.asr`), each against the undefended original on the same clips.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from telltale.findings import SummaryRow
from telltale.mitigate.asr import GENERIC_LM, HELDOUT_LM
from telltale.mitigate.speaker import (
    eer_estimate,
    semi_informed_trials,
    split_enrolment,
    trial_rows,
    trials,
)
from telltale.wer import wer_difference, wer_estimate, word_errors

ORIGINAL = "original"
#: every verification trial's score, one JSON line each, in the run directory
TRIALS_LOG = "verification_trials.jsonl"
#: the attackers, in the challenge's order, and the name each is shown under
ATTACKERS = {"ignorant": "EER, ignorant attacker",
             "lazy_informed": "EER, lazy-informed attacker",
             "semi_informed": "EER, semi-informed attacker (WCCN back-end on defended speech)"}
#: the WER figures and the language model each is decoded with
WERS = {"wer": HELDOUT_LM, "wer_generic": GENERIC_LM}


def classical_figures(entries: Iterable[Mapping[str, Any]], versions: Sequence[str],
                      seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """EER per attacker and WER per language model for every version, and every trial
    score (one row each, for the run's trial log).

    Returns
    -------
    figures : dict
        ``problems`` (clips that could not be embedded or decoded), ``lm`` (the language
        model of each WER figure), ``gendered`` (whether trials were scored within each
        gender) and per version ``eer_<attacker>`` (:func:`~telltale.mitigate.speaker.
        eer_estimate`), ``wer`` and ``wer_generic`` with their paired changes
        ``wer_change`` and ``wer_generic_change`` against the original.
    trial_log : list of dict
        One row per trial score: version, attacker, trial, enrolled speaker, gender,
        score, target.
    """
    embeddings: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    hypotheses: dict[str, dict[str, dict[str, str]]] = {key: defaultdict(dict) for key in WERS}
    speakers: dict[str, str] = {}
    genders: dict[str, str] = {}
    references: dict[str, str] = {}
    problems = []
    for e in entries:
        if e["error"]:
            problems.append(e["error"])
            continue
        embeddings[e["version"]][e["id"]] = np.asarray(e["embedding"], dtype=np.float32)
        hypotheses["wer"][e["version"]][e["id"]] = e["hypothesis"]
        if e.get("hypothesis_generic") is not None:  # runs before issue 24 lack it
            hypotheses["wer_generic"][e["version"]][e["id"]] = e["hypothesis_generic"]
        if e.get("speaker"):
            speakers[e["id"]] = e["speaker"]
        if e.get("gender"):
            genders[e["id"]] = e["gender"]
        references[e["id"]] = e.get("reference") or ""
    original = embeddings.get(ORIGINAL, {})
    known = {i: s for i, s in speakers.items() if i in original}
    gendered = bool(known) and all(i in genders for i in known)
    enrol, trial = split_enrolment(known, seed=seed)
    out: dict[str, Any] = {"problems": problems, "gendered": gendered,
                           "lm": {k: v for k, v in WERS.items() if hypotheses[k]}}
    log: list[dict[str, Any]] = []
    for version in versions:
        mine = embeddings.get(version, {})
        entry: dict[str, Any] = {}
        if known:
            results = _attacks(original, mine, enrol, trial, known,
                               genders if gendered else None, seed)
            for attacker, result in results.items():
                entry[f"eer_{attacker}"] = eer_estimate(result, seed=seed)
                log += trial_rows(result, version=version, attacker=attacker)
        else:
            entry["eer_problem"] = "the manifest has no speaker column"
        for key, by_version in hypotheses.items():
            if version in by_version:
                entry.update(_wer(key, by_version, version, references, seed))
        out[version] = entry
    return out, log


def _attacks(original: Mapping[str, np.ndarray], mine: Mapping[str, np.ndarray],
             enrol: list[str], trial: list[str], speakers: Mapping[str, str],
             genders: Mapping[str, str] | None, seed: int) -> dict[str, Any]:
    tested = {u: mine[u] for u in trial if u in mine}
    defended_enrol = {u: mine[u] for u in enrol if u in mine}
    out = {"ignorant": trials({u: original[u] for u in enrol if u in original}, tested,
                              speakers, genders),
           "lazy_informed": trials(defended_enrol, tested, speakers, genders)}
    # a half with fewer than three speakers to train a back-end on is left out
    out["semi_informed"] = semi_informed_trials(defended_enrol, tested, speakers, genders,
                                                seed=seed)
    return out


def _wer(key: str, by_version: Mapping[str, Mapping[str, str]], version: str,
         references: Mapping[str, str], seed: int) -> dict[str, Any]:
    base = {i: word_errors(references[i], h) for i, h in by_version.get(ORIGINAL, {}).items()}
    ids = sorted(set(by_version[version]) & set(base))
    errors = [word_errors(references[i], by_version[version][i])[0] for i in ids]
    lengths = [base[i][1] for i in ids]
    out = {key: {**wer_estimate(errors, lengths, seed=seed), "lm": WERS[key]}}
    if version != ORIGINAL:
        out[f"{key}_change"] = wer_difference([base[i][0] for i in ids], errors, lengths,
                                              seed=seed)
    return out


def classical_summary(figures: Mapping[str, Any], versions: Sequence[str],
                      label: Callable[[str], str]) -> list[SummaryRow]:
    """Headline rows: each attacker's EER and each WER (its language model named), per
    version (``label`` names a version)."""
    rows = []
    within = " (same-gender trials)" if figures.get("gendered") else ""
    for version in versions:
        entry = figures.get(version, {})
        for attacker, name in ATTACKERS.items():
            if f"eer_{attacker}" in entry:
                rows.append(SummaryRow.of(f"{name}{within}, {label(version)}",
                                          entry[f"eer_{attacker}"],
                                          "0.5 = the voice cannot be linked"))
        for key, lm in WERS.items():
            if key in entry:
                rows.append(SummaryRow.of(f"WER ({lm}), {label(version)}", entry[key]))
    return rows


def write_trials(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """The trial log (:data:`TRIALS_LOG`): one JSON line per trial score, rewritten whole."""
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path
