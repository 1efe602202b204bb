"""Scoring a membership run from its records: each selected method's figures, summary rows
and verdict, with the blind baselines of phase 1 as context.

Records are grouped by their ``condition``: the media conditions of phases 2 and 3
(original, silence, noise, tts), the black-box draws (``draw``, one per sampled
transcription) and the reference model's transcriptions (``reference``). Everything here
reads the run directory alone, so ``telltale score`` recomputes it.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telltale.findings import Results, SummaryRow, Verdict, inconclusive
from telltale.membership.attack import auc_control
from telltale.membership.blind import chance_control
from telltale.membership.config import CONDITIONS, DRAW, REFERENCE, MembershipConfig
from telltale.membership.fidelity import fidelity_row, qualify, transcription_fidelity
from telltale.models.base import TokenStats
from telltale.records import Record
from telltale.rundir import RunDir
from telltale.tables import format_cell, format_estimate, format_p, write_table


def read_blind_scores(run: RunDir) -> dict[str, dict[str, float]]:
    """Out-of-fold blind score per family and sample id, from ``blind_scores.csv``."""
    path = run.path / "blind_scores.csv"
    if not path.exists():
        return {}
    out: dict[str, dict[str, float]] = defaultdict(dict)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for name, value in row.items():
                if name not in ("id", "member"):
                    out[name][row["id"]] = float(value)
    return dict(out)


def _tpr_row(metric: str, aggregated: dict[str, Any], y: np.ndarray,
             control: str | None = None) -> SummaryRow:
    """A headline row for the TPR at 1% FPR with its bootstrap interval, or "not
    estimable" with the number of non-members it would need."""
    negatives = int((1 - y).sum())
    interval = aggregated.get("tpr_at_1pct_fpr_interval") or (None, None)
    return SummaryRow(metric, aggregated["tpr_at_1pct_fpr"], interval[0], interval[1],
                      int(y.size), control or ("chance 0.01" if negatives >= 100 else
                                               f"not estimable: {negatives} non-members "
                                               "(needs 100)"))


@dataclass
class _Scoring:
    """The records of one run, aligned on the original clips, and what scoring produces."""

    run: RunDir
    config: MembershipConfig
    groups: dict[tuple[str, int], dict[str, Record]]
    ids: list[str]
    y: np.ndarray
    blind: dict[str, Any]
    results: dict[str, Any]
    summary: list[SummaryRow] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    #: how well the model transcribes (membership.fidelity); None without transcripts or
    #: when the manifest's transcripts are what is scored (--target reference)
    fidelity: dict[str, Any] | None = None

    @property
    def originals(self) -> dict[str, Record]:
        return self.groups[("original", 0)]

    def families(self) -> dict[str, Any]:
        """Phase-1 AUC per blind family that ran."""
        return {f: self.blind[f] for f in ("metadata", "text", "acoustic", "combined")
                if "auc" in self.blind.get(f, {})}

    def blind_scores(self) -> dict[str, np.ndarray]:
        """Phase-1 out-of-fold scores per family, aligned with ``ids``."""
        scores = read_blind_scores(self.run)
        return {f: np.array([scores[f].get(i, np.nan) for i in self.ids])
                for f in self.families() if f in scores}

    def clusters(self) -> list[str | None]:
        """Each clip's speaker, where the records carry one (folds and shuffles keep a
        speaker's clips together)."""
        return [self.originals[i].labels.get("speaker") for i in self.ids]

    def indicators(self, recs: dict[str, Record]) -> tuple[np.ndarray, list[str]]:
        """Indicator matrix aligned with ``ids`` (see :func:`aligned_indicators`)."""
        return aligned_indicators(self.ids, recs)


def aligned_indicators(ids: list[str], recs: dict[str, Record]
                       ) -> tuple[np.ndarray, list[str]]:
    """The indicator matrix of ``recs`` with one row per id of ``ids``, NaN rows where
    ``recs`` has no statistics for a clip; and the indicator names."""
    from telltale.membership.indicators import indicator_matrix

    present = [i for i in ids if i in recs and recs[i].token_stats is not None]
    X, names = indicator_matrix([(TokenStats.from_dict(recs[i].token_stats),
                                  recs[i].output or "") for i in present])
    full = np.full((len(ids), len(names)), np.nan)
    full[[ids.index(i) for i in present]] = X
    return full, names


def membership_metrics(run: RunDir, config: MembershipConfig,
                       records: list[Record]) -> Results:
    """Every figure of the selected methods from the scored records (and phase 1 files);
    each original record gets its per-clip scores (indicators, attack scores)."""
    groups: dict[tuple[str, int], dict[str, Record]] = defaultdict(dict)
    for rec in records:
        key = (rec.probe["condition"], int(rec.probe.get("realisation", 0)))
        groups[key][rec.sample_id] = rec
    originals = groups.get(("original", 0), {})
    if not originals:
        raise ValueError(f"{run.path}: no successful original-condition records to score")
    ids = sorted(originals)
    blind = run.read_json("blind.json") if (run.path / "blind.json").exists() else {}
    s = _Scoring(run, config, groups, ids,
                 np.array([int(originals[i].labels["member"]) for i in ids]), blind,
                 {"blind": blind})
    if config.target == "self":
        _transcription_fidelity(s)
    features = None
    if "indicators" in config.methods:
        features = _indicator_attack(s)
    if "blackbox" in config.methods:
        blackbox = _blackbox_attack(s)
        features = blackbox if features is None else features
    if "dataset" in config.methods:
        _dataset_inference(s, features)
    if "reference" in config.methods:
        _reference_calibration(s, features)
    if s.fidelity is not None:  # after the attacks' rows, which it qualifies
        s.summary.append(fidelity_row(s.fidelity, "own transcription WER against the manifest"))
    y = s.y
    s.results["counts"] = {"samples": len(ids), "members": int(y.sum()),
                           "non-members": int((1 - y).sum())}
    return Results(s.summary, s.verdicts, s.results)


def _transcription_fidelity(s: _Scoring) -> None:
    """The WER of the model's own transcriptions against the manifest's transcripts (the
    records carry them): the premise of every attack on the own transcription."""
    fidelity = transcription_fidelity([s.originals[i].output for i in s.ids],
                                      [s.originals[i].labels.get("transcript") or ""
                                       for i in s.ids], s.y.tolist(), seed=s.config.seed)
    if fidelity is not None:
        s.fidelity = s.results["transcription"] = fidelity


def _indicator_attack(s: _Scoring) -> np.ndarray:
    """Phases 2 and 3: the indicator vector aggregated by logistic regression, its
    diagnosis against the blind baselines, and each media condition scored the same way."""
    from telltale.membership.attack import analyse
    from telltale.membership.disentangle import (
        calibrate_conditions,
        condition_control,
        disentangle,
        write_membership_tables,
    )
    from telltale.membership.indicators import indicator_basis

    run, ids, y, originals = s.run, s.ids, s.y, s.originals
    with_stats = [i for i in ids if originals[i].token_stats is not None]
    if not with_stats:
        raise ValueError(f"{run.path}: no original-condition record holds token statistics")
    if all(len(originals[i].token_stats.get("tokens", [])) == 0 for i in with_stats):
        raise ValueError(f"{run.path}: the model returned an empty transcription for every "
                         "sample, so there is nothing to score; check the prompt and model")
    X, names = s.indicators(originals)
    basis = indicator_basis([TokenStats.from_dict(originals[i].token_stats)
                             for i in with_stats])
    families = s.families()
    phase2, mia = analyse(X, y, names, blind_aucs=families, blind_scores=s.blind_scores(),
                          folds=s.config.folds, seed=s.config.seed, figures=run.figures,
                          permutations=s.config.permutations, clusters=s.clusters())
    for row, sample_id in enumerate(ids):
        originals[sample_id].scores = {
            "indicators": dict(zip(names, X[row].tolist(), strict=True)),
            "mia_score": None if np.isnan(mia[row]) else float(mia[row])}

    # phase 3: each condition's records scored by the same out-of-fold attack
    condition_scores: dict[str, list[np.ndarray]] = {"original": [mia]}
    matrices: dict[str, list[np.ndarray]] = {}
    for (condition, _k), recs in sorted(s.groups.items()):
        if condition == "original" or condition not in CONDITIONS:
            continue
        Xc, _ = s.indicators(recs)
        present = ~np.all(np.isnan(Xc), axis=1)
        if np.bincount(y[present], minlength=2).min() < 2:
            continue
        _, scores = analyse(Xc, y, names, folds=s.config.folds, seed=s.config.seed, n_boot=0,
                            indicator_boot=0, clusters=s.clusters())
        condition_scores.setdefault(condition, []).append(scores)
        matrices.setdefault(condition, []).append(Xc)
    disentangled = calibrate_conditions(
        disentangle(y, {c: np.vstack(v) for c, v in condition_scores.items()}, n_boot=0),
        matrices, y, phase2["attack"]["aggregated"], s.config.folds, s.config.seed,
        s.config.permutations, s.clusters()) if len(condition_scores) > 1 else {}

    verdict = qualify(phase2["diagnosis"], s.fidelity)
    if not basis["exact"]:
        # statistics from top-k log-probabilities: say which indicators are only bounded
        verdict["text"] += (
            f" The indicators rest on top-{basis['top_k']} log-probabilities: "
            f"{len(basis['bounded'])} of {len(names)} ({', '.join(sorted(basis['bounded']))}) "
            f"are approximate, bounded by a tail mass of "
            f"{format_cell(basis['tail_mass']['mean'])} on average (max "
            f"{format_cell(basis['tail_mass']['max'])}).")
    mia_auc = phase2["attack"]["aggregated"]["auc"]
    s.results.update(attack=phase2["attack"], correlation=phase2["correlation"],
                     indicator_basis=basis, diagnosis=verdict, disentanglement=disentangled)
    s.verdicts.append(Verdict.from_dict(verdict))
    s.summary += [SummaryRow.of(f"MIA AUC (aggregated LR over {len(names)} indicators)",
                                mia_auc, auc_control(phase2["attack"]["aggregated"])),
                  _tpr_row("TPR at 1% FPR", phase2["attack"]["aggregated"], y)]
    for family, values in families.items():
        s.summary.append(SummaryRow.of(f"blind AUC ({family})", values["auc"],
                                       chance_control(values)))
    for condition, values in disentangled.items():
        if condition == "original":
            continue
        if values.get("realisations", 1) > 1:
            # one figure per condition: the mean AUC over the voices, as the index shows it
            s.summary.append(SummaryRow(
                f"MIA AUC under {condition} ({values['realisations']} voices)",
                values["auc_mean"], sd=values["auc_sd"], n=values["auc"]["n"],
                control=f"{condition_control(values, mia_auc)}; the voice-averaged score "
                        f"gives {format_estimate(values['auc'])}"))
        else:
            s.summary.append(SummaryRow.of(f"MIA AUC under {condition}", values["auc"],
                                           condition_control(values, mia_auc)))
    label = str(run.read_run_json().get("data") or "data")
    write_membership_tables(
        run.tables, {label: {"mia_auc": mia_auc, "blind": families,
                             "correlation": phase2["correlation"],
                             "verdict": Verdict.from_dict(verdict).name}},
        {label: disentangled} if disentangled else None)
    return X


def _blackbox_attack(s: _Scoring) -> np.ndarray:
    """SaMIA-style features from the sampled transcriptions, aggregated and diagnosed like
    the indicators."""
    from telltale.membership.attack import analyse
    from telltale.membership.blackbox import clip_features, feature_matrix

    draws = sorted(k for c, k in s.groups if c == DRAW)
    rows = []
    for sample_id in s.ids:
        got = [s.groups[(DRAW, k)][sample_id] for k in draws
               if sample_id in s.groups[(DRAW, k)]]
        greedy = s.originals[sample_id]
        features = (clip_features([r.output or "" for r in got], greedy.output,
                                  got[0].labels.get("transcript")) if len(got) >= 2 else {})
        rows.append(features)
        greedy.scores = {**greedy.scores, "blackbox": features}
    X, names = feature_matrix(rows)
    if not names:
        raise ValueError(f"{s.run.path}: no clip has two successful black-box draws to compare")
    phase, scores = analyse(X, s.y, names, blind_aucs=s.families(),
                            blind_scores=s.blind_scores(), folds=s.config.folds,
                            seed=s.config.seed, indicator_boot=200,
                            permutations=s.config.permutations, clusters=s.clusters())
    auc = phase["attack"]["aggregated"]["auc"]
    k = s.config.samples
    s.results["blackbox"] = {
        "attack": phase["attack"], "diagnosis": phase["diagnosis"], "samples": k,
        "temperature": s.config.temperature,
        # the greedy transcription is shared with the indicator attack, which needs one
        # generation with statistics (and one scoring call where the backend cannot do both)
        "model_calls_per_clip": {"blackbox": k + 1, "indicators": "1 (2 without statistics "
                                                                  "on generate)"}}
    for row, sample_id in enumerate(s.ids):
        s.originals[sample_id].scores["blackbox_score"] = (
            None if np.isnan(scores[row]) else float(scores[row]))
    s.summary += [SummaryRow.of(f"black-box MIA AUC ({k} samples at "
                                f"T={s.config.temperature:g}, {len(names)} features)", auc,
                                f"{auc_control(phase['attack']['aggregated'])}; {k + 1} model "
                                "calls per clip"),
                  _tpr_row("black-box TPR at 1% FPR", phase["attack"]["aggregated"], s.y)]
    qualified = qualify(phase["diagnosis"], s.fidelity)
    s.verdicts.append(Verdict(qualified["level"], "Black-box (sampled transcriptions): "
                              + qualified["text"]))
    return X


def _dataset_inference(s: _Scoring, features: np.ndarray) -> None:
    """The set-level test on the members (the suspect set) against the non-members, the
    same test on the blind scores, p against set size and the rate under the null."""
    from telltale.membership import dataset_inference as di

    seed, y = s.config.seed, s.y
    usable = ~np.all(np.isnan(features), axis=1)
    X, yu = features[usable], y[usable]
    if np.bincount(yu, minlength=2).min() < 4:
        verdict = inconclusive("Dataset inference: inconclusive - fewer than 4 clips in a set.")
        s.results["dataset_inference"] = {"verdict": {"verdict": "inconclusive",
                                                      **verdict.to_dict()}}
        s.verdicts.append(verdict)
        return
    test = di.set_test(X[yu == 1], X[yu == 0], seed=seed)
    blind_columns = [v[usable] for v in s.blind_scores().values()]
    blind = None
    if blind_columns:
        B = np.column_stack(blind_columns)
        blind = di.set_test(B[yu == 1], B[yu == 0], seed=seed)
    smallest = int(np.bincount(yu, minlength=2).min())
    sizes = sorted({m for m in (4, 8, 16, 32, 64, 128, 256, 512) if m < smallest}
                   | {smallest})
    curve = di.p_by_size(X, yu, sizes, seed=seed)
    null = di.null_rate(X, yu, draws=100, seed=seed)
    verdict = qualify(di.verdict(test, blind), s.fidelity)
    reached = next((c["size"] for c in curve if c["median_p"] < di.ALPHA), None)
    s.results["dataset_inference"] = {"test": test, "blind_test": blind, "p_by_size": curve,
                                      "null": null, "verdict": verdict,
                                      "smallest_size_below_alpha": reached}
    write_table(s.run.tables, "dataset_inference_by_size",
                [{"suspect set": c["size"], "median p": f"{c['median_p']:.3g}",
                  "share p < 0.01": c["share_below_alpha"], "draws": c["draws"]}
                 for c in curve],
                ["suspect set", "median p", "share p < 0.01", "draws"],
                "Dataset inference: p against the size of the suspect set (members against as "
                "many non-members)")
    rate = null.get("rate")
    s.summary.append(SummaryRow(
        "dataset inference p (members as the suspect set)", test["p"], kind="p",
        n=test["n_suspect"] + test["n_reference"],
        control=(f"blind p = {format_p(blind['p'])}; " if blind else "no blind control; ")
        + (f"false-positive rate on non-member halves {format_estimate(rate)} "
           f"over {null['draws']} draws (nominal 0.05)"
           if rate else null["note"])))
    s.verdicts.append(Verdict.from_dict(verdict))


def _reference_calibration(s: _Scoring, features: np.ndarray) -> None:
    """The indicator attack with and without the reference model's indicators subtracted."""
    from telltale.membership.indicators import indicator_names
    from telltale.membership.reference import calibrated_attack

    reference = s.groups.get((REFERENCE, 0), {})
    X_ref, _ = s.indicators(reference)
    if np.all(np.isnan(X_ref)):
        raise ValueError(f"{s.run.path}: the reference model gave no statistics to calibrate "
                         "with")
    names = indicator_names()
    out = calibrated_attack(features, X_ref, s.y, names, folds=s.config.folds,
                            seed=s.config.seed, permutations=s.config.permutations,
                            clusters=s.clusters())
    scores = out.pop("scores")
    for row, sample_id in enumerate(s.ids):
        s.originals[sample_id].scores["calibrated_score"] = (
            None if np.isnan(scores[row]) else float(scores[row]))
    s.results["reference"] = {**out, "model": s.run.read_run_json()["config"].get(
        "reference_model")}
    before, after = out["uncalibrated"], out["calibrated"]
    s.summary += [
        SummaryRow.of("MIA AUC calibrated by the reference model (same text)", after["auc"],
                      f"uncalibrated {format_cell(before['auc']['value'])}; "
                      f"{auc_control(after)}"),
        _tpr_row("TPR at 1% FPR calibrated by the reference model", after, s.y,
                 f"uncalibrated {format_estimate(_tpr_row('', before, s.y).to_dict())}"
                 if before["tpr_at_1pct_fpr"] is not None else None)]
