"""The membership audit: blind baselines, the indicator-vector attack and modality
disentanglement, following Lee et al., 2026 ("Membership Inference Attacks against Large
Audio Language Models").

Phase 2 is the two-stage protocol: the model transcribes each clip greedily and its own
output is scored as pseudo ground truth; the per-token statistics come from the same pass
when the backend can (``stats_on_generate``), otherwise from a second scoring pass. The
statistics are stored in the records, so ``telltale score`` recomputes every indicator.
"""

from __future__ import annotations

import csv
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from telltale.audit import (
    RULES,
    Audit,
    ClipsConfig,
    Job,
    Prepared,
    RunOptions,
    require,
    require_choices,
)
from telltale.membership.blind import PERMUTATIONS, chance_control
from telltale.membership.blind_audit import FAMILIES, load_members, run_baselines
from telltale.models.base import TokenStats
from telltale.run import Probe, RunDir

DEFAULT_PROMPT = "Transcribe the audio."
CONDITIONS = ("original", "silence", "noise", "tts")
TARGETS = ("self", "reference")


@dataclass(frozen=True)
class MembershipConfig(ClipsConfig):
    """Phases 1-3 of the membership protocol (Lee et al., 2026)."""

    conditions: tuple[str, ...] = ("original", "silence", "noise")
    tts_k: int = 3
    prompt: str = DEFAULT_PROMPT
    target: str = "self"
    max_new_tokens: int = 96
    folds: int = 10
    baselines: bool = True
    permutations: int = PERMUTATIONS

    def validate(self) -> None:
        super().validate()
        require_choices(self.conditions, CONDITIONS, "conditions")
        require("original" in self.conditions, "conditions", "must include original")
        require(self.tts_k >= 1, "tts_k", f"must be at least 1, got {self.tts_k}")
        require(self.target in TARGETS, "target", f"choose from {', '.join(TARGETS)}")
        require(self.max_new_tokens >= 1, "max_new_tokens",
                f"must be at least 1, got {self.max_new_tokens}")
        require(self.folds >= 2, "folds", f"must be at least 2, got {self.folds}")
        require(self.permutations >= 0, "permutations",
                f"must be 0 (none) or more, got {self.permutations}")


def build_probes(samples, conditions: list[str], prompt: str, tts_k: int, seed: int,
                 target: str = "self"):
    """Probes per sample and condition. ``target`` "self" is the two-stage protocol (the
    model's own greedy transcription is scored); "reference" scores the manifest's
    transcript instead, the white-box setting where the training text is known."""
    probes = []
    for sample in samples:
        continuation = sample.text or "" if target == "reference" else None
        for condition in conditions:
            if condition == "tts":
                for k in range(tts_k):
                    probes.append(Probe(
                        key=f"{sample.id}|tts|{k}", sample=sample, text=prompt,
                        meta={"condition": "tts", "realisation": k},
                        transform=_tts_transform(seed, k), continuation=continuation))
            else:
                probes.append(Probe(key=f"{sample.id}|{condition}", sample=sample, text=prompt,
                                    condition=condition, meta={"realisation": 0},
                                    continuation=continuation))
    return probes


def _tts_transform(seed: int, k: int):
    """The transcript spoken again by a different TTS voice (seeded per sample)."""
    def transform(sample):
        from telltale.corpus.tts import resynthesize

        if not sample.text:
            raise ValueError(f"sample {sample.id} has no transcript to resynthesise")
        key = zlib.crc32(f"{seed}|{k}|{sample.id}".encode())
        audio, _ = resynthesize(sample.text, sample.extra.get("voice"), seed=key)
        return audio
    return transform


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


def score_records(run: RunDir, folds: int, seed: int) -> dict[str, Any]:
    """Every phase 2 and 3 figure from the stored records (and the phase 1 files)."""
    from telltale.membership.attack import analyse
    from telltale.membership.disentangle import disentangle, write_membership_tables
    from telltale.membership.indicators import indicator_basis, indicator_matrix

    info = run.read_run_json()
    records = run.records()
    ok = [r for r in records if r.error is None and r.token_stats is not None]
    errors = [{"sample_id": r.sample_id, "error": r.error} for r in records if r.error]
    groups: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    for rec in ok:
        groups[(rec.probe["condition"], int(rec.probe.get("realisation", 0)))][rec.sample_id] = rec
    blind = run.read_json("blind.json") if (run.path / "blind.json").exists() else {}
    results: dict[str, Any] = {"blind": blind, "errors": errors}
    originals = groups.get(("original", 0), {})
    if not originals:
        raise ValueError(f"{run.path}: no successful original-condition records to score")
    ids = sorted(originals)
    y = np.array([int(originals[i].labels["member"]) for i in ids])
    if all(len(originals[i].token_stats.get("tokens", [])) == 0 for i in ids):
        raise ValueError(f"{run.path}: the model returned an empty transcription for every "
                         "sample, so there is nothing to score; check the prompt and model")

    def indicators(recs: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
        """Indicator matrix aligned with ``ids`` (NaN rows for samples missing in recs)."""
        present = [i for i in ids if i in recs]
        X, names = indicator_matrix([(TokenStats.from_dict(recs[i].token_stats),
                                      recs[i].output or "") for i in present])
        full = np.full((len(ids), len(names)), np.nan)
        full[[ids.index(i) for i in present]] = X
        return full, names

    X, names = indicators(originals)
    basis = indicator_basis([TokenStats.from_dict(originals[i].token_stats) for i in ids])
    blind_scores = read_blind_scores(run)
    families = {f: blind[f] for f in ("metadata", "text", "acoustic", "combined")
                if "auc" in blind.get(f, {})}
    aligned = {f: np.array([blind_scores[f].get(i, np.nan) for i in ids])
               for f in families if f in blind_scores}
    phase2, mia = analyse(X, y, names, blind_aucs=families, blind_scores=aligned, folds=folds,
                          seed=seed, figures=run.figures)
    for row, sample_id in enumerate(ids):
        originals[sample_id].scores = {
            "indicators": dict(zip(names, X[row].tolist(), strict=True)),
            "mia_score": None if np.isnan(mia[row]) else float(mia[row])}

    # phase 3: each condition's records scored by the same out-of-fold attack
    condition_scores: dict[str, list[np.ndarray]] = {"original": [mia]}
    for (condition, _k), recs in sorted(groups.items()):
        if condition == "original":
            continue
        Xc, _ = indicators(recs)
        present = ~np.all(np.isnan(Xc), axis=1)
        if np.bincount(y[present], minlength=2).min() < 2:
            continue
        _, scores = analyse(Xc, y, names, folds=folds, seed=seed, n_boot=0, indicator_boot=0)
        condition_scores.setdefault(condition, []).append(scores)
    disentangled = disentangle(y, {c: np.vstack(v) for c, v in condition_scores.items()},
                               seed=seed) if len(condition_scores) > 1 else {}

    verdict = phase2["diagnosis"]
    if not basis["exact"]:
        # statistics from top-k log-probabilities: say which indicators are only bounded
        verdict["text"] += (
            f" The indicators rest on top-{basis['top_k']} log-probabilities: "
            f"{len(basis['bounded'])} of {len(names)} ({', '.join(sorted(basis['bounded']))}) "
            f"are approximate, bounded by a tail mass of {basis['tail_mass']['mean']:.2f} on "
            f"average (max {basis['tail_mass']['max']:.2f}).")
    mia_auc = phase2["attack"]["aggregated"]["auc"]
    results.update(attack=phase2["attack"], correlation=phase2["correlation"],
                   indicator_basis=basis,
                   diagnosis=verdict, disentanglement=disentangled,
                   verdicts=[{"level": verdict["level"], "text": verdict["text"]}])
    results["counts"] = {"samples": len(ids), "members": int(y.sum()),
                         "non-members": int((1 - y).sum()), "records": len(records),
                         "errors": len(errors)}
    summary = [{"metric": f"MIA AUC (aggregated LR over {len(names)} indicators)",
                **_ci(mia_auc), "control": "chance 0.5"},
               {"metric": "TPR at 1% FPR",
                "value": phase2["attack"]["aggregated"]["tpr_at_1pct_fpr"],
                "n": int(y.size), "control": "chance 0.01" if int((1 - y).sum()) >= 100 else
                f"not estimable: {int((1 - y).sum())} non-members (needs 100)"}]
    for family, values in families.items():
        summary.append({"metric": f"blind AUC ({family})", **_ci(values["auc"]),
                        "control": chance_control(values)})
    for condition, values in disentangled.items():
        if condition != "original":
            summary.append({"metric": f"MIA AUC under {condition}", **_ci(values["auc"]),
                            "control": f"original {mia_auc['value']:.3f}"})
    results["summary"] = summary
    label = str(info.get("data") or "data")
    write_membership_tables(
        run.tables, {label: {"mia_auc": mia_auc, "blind": families,
                             "correlation": phase2["correlation"],
                             "verdict": verdict["verdict"]}},
        {label: disentangled} if disentangled else None)
    run.rewrite_records(records)
    return results


def _ci(est: dict[str, Any]) -> dict[str, Any]:
    return {"value": est["value"], "low": est["low"], "high": est["high"], "n": est["n"]}


class MembershipAudit(Audit):
    """Blind baselines, the indicator-vector attack and modality disentanglement."""

    name = "membership"
    config_class = MembershipConfig

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        config = self.config
        samples, problems = load_members(config.data, config.skip_bad_rows, config.limit,
                                         config.max_audio_seconds)
        if config.target == "reference" and not all(s.text for s in samples):
            raise ValueError(f"{config.data}: --target reference needs a transcript in every "
                             "row")
        if config.baselines:
            families = FAMILIES if all(s.text for s in samples) else ("metadata", "acoustic")
            run_baselines(run, samples, families, config.folds, config.seed, options.jobs,
                          config.permutations)
        self._samples = samples
        return Prepared(config.data, problems)

    def jobs(self, run: RunDir) -> list[Job]:
        from telltale.models.base import DecodingConfig

        config = self.config
        probes = build_probes(self._samples, list(config.conditions), config.prompt,
                              config.tts_k, config.seed, config.target)
        return [Job(probes, "membership probes",
                    DecodingConfig(max_new_tokens=config.max_new_tokens), with_stats=True)]

    def score(self, run: RunDir, scorer: str = RULES) -> dict[str, Any]:
        return score_records(run, self.config.folds, self.config.seed)
