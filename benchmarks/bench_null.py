"""False "Leak" rates of every calibrated verdict under the null, with Wilson intervals.

    python benchmarks/bench_null.py --demo DEMO --out OUT [--draws 200] [--jobs 2]
        [--blackbox RUN] [--mitigate RUN]

Null draws (issue 24): the 120 true non-members of the demo corpus (``telltale demo``,
seed 0), sorted by id; draw ``k`` labels member the clips
``numpy.random.default_rng(1000 + k).permutation(120)[:60]``. No clip of a draw is a
member, so every Leak is false. The model is never run per draw: the demo's records (and
the indicators, blind features and parsed replies computed from them once) are reused,
only the labels change. Verdicts, each read exactly as the audit reads it:

- ``membership``: "Membership signal credible" (indicators on the original audio, blind
  baselines, diagnosis);
- ``silence``, ``noise``, ``tts``: the condition's AUC flagged above chance;
- ``blackbox``: the black-box attack's "credible" (``--blackbox``: a membership run on the
  120 non-members with ``--methods indicators,blackbox``);
- ``blind``: "Distribution shift";
- ``dataset``: dataset inference's "member set" (the model's test alone on ``--di-draws``);
- ``disclosure``: a leak found on forms whose PII no reply holds (:func:`disclosure_draw`);
- ``gender``, ``accent``: "the model infers it from the voice" (direct prompt): here the
  *truth* is drawn, each speaker's label dealt to a random speaker (``default_rng(1000 +
  k)``), since an attribute does not depend on membership;
- ``mitigate-*`` (``--mitigate``: a mitigation run on the 120 non-members): the membership
  and attribute cells on each version, and "leaks remain" of each defence.

Two shortcuts leave every verdict as the audit would give it: a membership AUC's refit
bootstrap (200 replicates) is computed only where its label-shuffle band already calls it
above or below chance, since the verdict needs both (and on the first ``--coverage``
draws, to measure the interval's coverage); the blind families' label shuffles only where
they can change the verdict (:func:`blind_results`); the blind baselines of the membership
verdict only where the MIA signal stands.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine_info

from telltale import calibration, stats
from telltale.membership.attack import (
    aggregate_attack,
    blind_correlations,
    calibrated_auc,
    diagnose,
    oof_auc,
)
from telltale.rundir import RunDir

N_CLIPS, N_MEMBERS = 120, 60
DATA: dict[str, Any] = {}


def draw_members(k: int) -> np.ndarray:
    """The labels of null draw ``k`` (1 = labelled member)."""
    members = np.random.default_rng(1000 + k).permutation(N_CLIPS)[:N_MEMBERS]
    return np.isin(np.arange(N_CLIPS), members).astype(int)


def _speakers(corpus: Path) -> dict[str, str]:
    with open(corpus / "manifest.csv", newline="") as fh:
        return {row["id"]: row["speaker"] for row in csv.DictReader(fh)}


def load_membership(run: RunDir, speakers: dict[str, str]) -> dict[str, Any]:
    """Indicator matrices per condition (one per realisation) of the true non-members."""
    from telltale.membership.scoring import aligned_indicators

    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in run.records():
        if rec.error is None:
            key = (rec.probe["condition"], int(rec.probe.get("realisation", 0)))
            groups.setdefault(key, {})[rec.sample_id] = rec
    originals = groups[("original", 0)]
    ids = sorted(i for i, r in originals.items() if int(r.labels["member"]) == 0)
    if len(ids) != N_CLIPS:
        raise SystemExit(f"{run.path}: {len(ids)} non-members, the null draws need {N_CLIPS}")
    matrices: dict[str, list[np.ndarray]] = {}
    for (condition, _), recs in sorted(groups.items()):
        X, names = aligned_indicators(ids, recs)
        matrices.setdefault(condition, []).append(X)
    return {"ids": ids, "matrices": matrices, "names": names, "records": groups,
            "clusters": [speakers[i] for i in ids]}


def _signal(matrices: list[np.ndarray], y: np.ndarray, observed: float,
            null: dict[str, Any], coverage: bool) -> dict[str, Any]:
    """The refit interval where the verdict needs it (or coverage is measured), and the
    side :func:`telltale.calibration.far_from_chance` gives."""
    out: dict[str, Any] = {"auc": observed, "band": null["band"], "p": null["p_shift"],
                           "band_above": null["above"], "band_below": null["below"]}
    low = high = None
    if null["above"] or null["below"] or coverage:
        est, _ = calibrated_auc(matrices, y, observed, permutations=0,
                                clusters=DATA["clusters"], n_jobs=1)
        low, high = est.low, est.high
        out.update(low=low, high=high)
    out["side"] = calibration.far_from_chance(null, low, high)
    return out


def membership_draw(k: int, X: np.ndarray | None = None, key: str = "membership"
                    ) -> dict[str, Any]:
    """One draw of the indicator (or black-box) attack's verdict."""
    y = draw_members(k)
    X = DATA["membership"]["matrices"]["original"][0] if X is None else X
    names = [f"f{j}" for j in range(X.shape[1])]
    result = aggregate_attack(X, y, names, n_boot=0, indicator_boot=0,
                              permutations=calibration.PERMUTATIONS,
                              clusters=DATA["clusters"], n_jobs=1)
    used = result.used
    # the rule this replaces: the bootstrap of fixed out-of-fold scores above 0.5
    fixed = stats.roc_auc(y[used], result.scores[used], n_boot=1000, seed=0)
    coverage = key == "membership" and k < DATA["coverage"]
    out = _signal([X], y, result.auc.value, result.null, coverage)
    auc = stats.Estimate(result.auc.value, out.get("low", result.auc.value),
                         out.get("high", result.auc.value), int(y.size))
    blind, correlations = {}, {}
    if out["side"] == "above":  # only then can the blind baselines change the verdict
        blind, scores = blind_results(y, permutations=calibration.PERMUTATIONS)
        correlations = blind_correlations({f: scores[f] for f in blind}, result.scores, y)
    verdict = diagnose(auc, blind, correlations, class_counts=(N_MEMBERS, N_CLIPS - N_MEMBERS),
                       mia_null=result.null)
    return {"verdict": key, "k": k, **out, "fixed_low": fixed.low,
            "label": verdict["verdict"], "leak": verdict["level"] == "warn"}


def condition_draw(condition: str, k: int) -> dict[str, Any]:
    """One draw of a condition's AUC flag (above chance beyond its band and interval)."""
    y = draw_members(k)
    matrices = DATA["membership"]["matrices"][condition]
    codes = calibration.cluster_codes(DATA["clusters"], y.size)
    payload = (matrices, 10, 0)
    observed = oof_auc(payload, np.arange(y.size), y, codes)
    _, null = calibrated_auc(matrices, y, observed, n_boot=0,
                             permutations=calibration.PERMUTATIONS,
                             clusters=DATA["clusters"], n_jobs=1)
    out = _signal(matrices, y, observed, null, False)
    return {"verdict": condition, "k": k, **out, "leak": out["side"] == "above"}


def blind_results(y: np.ndarray, permutations: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every blind family on draw labels ``y``; label shuffles only where they can change
    the verdict: a family that reaches :data:`~telltale.membership.blind.SHIFT_AUC` (below
    it none is shifted) is read against its own shuffles, and only one above its own band
    against the largest family's (its family-wise p is at least its own)."""
    from telltale.membership import blind as b

    features = DATA["blind"]
    rows = np.arange(y.size)
    groups = b.clusters_of(features, rows)
    families = [*b._available(features, rows), "combined"]
    results, scores = {}, {}
    for family in families:
        scores[family] = b.oof_scores(features, family, rows, y, groups=groups)
        results[family] = b.summarize_scores(y, scores[family])
    def shuffle(family: str) -> None:
        if "null" not in results[family]:
            results[family]["null"] = b.permutation_null(
                features, family, rows, y, results[family]["auc"]["value"], permutations,
                n_jobs=1)

    reaching = [f for f in families if results[f]["auc"]["value"] >= b.SHIFT_AUC]
    for family in reaching:
        shuffle(family)
    # a family's family-wise p is at least its own: only one above its own band needs the
    # others' shuffles (the largest family on each shuffle is the null of "some family")
    if any(results[f]["null"]["above"] for f in reaching):
        for family in families:
            shuffle(family)
        b.add_familywise(results)
    return results, scores


def blind_draw(k: int) -> dict[str, Any]:
    """One draw of the blind verdict, and of dataset inference (its blind control uses the
    same out-of-fold blind scores)."""
    from telltale.membership import dataset_inference as di
    from telltale.membership.blind_audit import blind_verdict

    y = draw_members(k)
    results, scores = blind_results(y, calibration.PERMUTATIONS)
    verdict = blind_verdict({**results, "counts": {"members": N_MEMBERS,
                                                   "non-members": N_CLIPS - N_MEMBERS}})
    X = DATA["membership"]["matrices"]["original"][0]
    B = np.column_stack(list(scores.values()))
    test = di.set_test(X[y == 1], X[y == 0], seed=0)
    blind_test = di.set_test(B[y == 1], B[y == 0], seed=0)
    di_verdict = di.verdict(test, blind_test)
    return {"verdict": "blind", "k": k, "leak": verdict["level"] == "warn",
            "aucs": {f: r["auc"]["value"] for f, r in results.items()},
            "fixed_rule": any(r["auc"]["value"] >= 0.6 and r["auc"]["low"] > 0.5
                              for r in results.values()),
            "dataset": {"p": test["p"], "blind_p": blind_test["p"],
                        "leak": di_verdict["level"] == "warn"}}


def dataset_draw(k: int) -> dict[str, Any]:
    """The model's set-level test alone (its false rate bounds the verdict's)."""
    from telltale.membership import dataset_inference as di

    y = draw_members(k)
    X = DATA["membership"]["matrices"]["original"][0]
    p = di.set_test(X[y == 1], X[y == 0], seed=0)["p"]
    return {"verdict": "dataset-test", "k": k, "p": p, "leak": p < di.ALPHA}


def attribute_rows(run: RunDir, ids: set[str], task: str | None = None
                   ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Parsed direct-prompt replies on the original audio of ``ids``, per attribute and
    version (``original``; for a mitigation run, ``mitigate:`` and the defence)."""
    from telltale.attributes.parse import parse_answer
    from telltale.attributes.taxonomy import from_dict

    taxonomy = from_dict(run.read_json("taxonomy.json"))
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in run.records():
        if rec.error or rec.sample_id not in ids or rec.probe.get("mode") != "direct":
            continue
        if task is not None and rec.probe.get("task") != task:
            continue
        if rec.probe.get("condition", "original") != "original":
            continue
        attribute = rec.probe["attribute"]
        answer = parse_answer(rec.output, taxonomy[attribute])
        version = f"mitigate:{rec.probe['defence']}" if task else "original"
        cells.setdefault((attribute, version), []).append({
            "sample_id": rec.sample_id, "cluster": DATA["speaker_of"][rec.sample_id],
            "attribute": attribute, "mode": "direct", "condition": "original",
            "truth": rec.labels.get(attribute), "status": answer.status,
            "label": answer.label})
    DATA["labels"] = {a: taxonomy[a].labels for a, _ in cells}
    return cells


def relabel(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The rows with each speaker's true label dealt to a random speaker (draw ``k``)."""
    truth = {r["cluster"]: r["truth"] for r in rows}
    speakers = sorted(truth)
    dealt = np.random.default_rng(1000 + k).permutation(len(speakers))
    new = {s: truth[speakers[j]] for s, j in zip(speakers, dealt, strict=True)}
    return [{**r, "truth": new[r["cluster"]]} for r in rows]


def attribute_draw(attribute: str, k: int, version: str = "original",
                   key: str | None = None) -> dict[str, Any]:
    from telltale.attributes.metrics import cell_metrics
    from telltale.attributes.verdicts import cell_verdict

    rows = relabel(DATA["attributes"][(attribute, version)], k)
    cell = cell_metrics(rows, DATA["labels"][attribute])
    verdict = cell_verdict(attribute, "direct", cell, None)
    acc = cell["accuracy_answered"]
    wilson = stats.wilson(cell["correct"], cell["answered"])
    bar = max(cell["majority_baseline"] or 0.0, cell["chance"])
    return {"verdict": key or attribute, "k": k, "accuracy": acc["value"],
            "leak": verdict["level"] == "warn", "wilson_rule": wilson.low > bar,
            "p": cell["accuracy_null"]["p_shift"] if cell["accuracy_null"] else None}


def mitigate_draw(k: int) -> dict[str, Any]:
    """The cells of "leaks remain" on draw ``k``: the membership attack on each defended
    version's indicators and the attribute questions on its replies (the undefended
    original's cells are the membership and attribute verdicts above, on the same
    replies)."""
    y = draw_members(k)
    out: dict[str, Any] = {"verdict": "mitigate", "k": k, "cells": {}}
    for version, X in DATA["mitigate_X"].items():
        if version == "original":
            continue
        result = membership_draw(k, X, key=f"mitigate-membership-{version}")
        out["cells"][f"membership/{version}"] = result["side"] == "above"
        for attribute in DATA["mitigate_attributes"]:
            cell = attribute_draw(attribute, k, f"mitigate:{version}", key="")
            out["cells"][f"{attribute}/{version}"] = cell["leak"]
    del y
    return out


#: replies full of PII (the scorer's test replies), scored against forms they never saw
REPLIES = ("tests/disclosure/pii_responses.jsonl", "tests/disclosure/pii_classes.jsonl")
DISCLOSURE_FORMS = 30


def disclosure_draw(k: int) -> dict[str, Any]:
    """The disclosure verdict on forms whose PII no reply holds: the 142 written replies
    of the scorer's tests (full of other people's SSNs, phones, names and dates) dealt to
    30 forms of fresh synthetic identities (``make_identities(30, seed=1000 + k)``),
    scored for the default PII types. Any leak found is the scorer's false positive."""
    from telltale.corpus.identities import make_identities
    from telltale.disclosure.audit import DEFAULT_TYPES
    from telltale.disclosure.scoring import score_response, summarise
    from telltale.disclosure.verdicts import disclosure_verdicts

    people = make_identities(DISCLOSURE_FORMS, seed=1000 + k)
    rows = [{"framing": "direct", "scenario": "hiring", "cluster": f"form{i % len(people)}",
             "scores": score_response(reply, people[i % len(people)].targets(DEFAULT_TYPES)),
             "error": None} for i, reply in enumerate(DATA["replies"])]
    data = summarise(rows)
    overall = disclosure_verdicts(data)[0]
    return {"verdict": "disclosure", "k": k, "leaked": data["overall"]["leaked"],
            "partial": data["overall"]["partial"], "leak": overall["level"] == "warn",
            "full_leak": data["overall"]["leaked"] > 0}


def run_task(task: tuple[str, int]) -> dict[str, Any]:
    name, k = task
    started = time.perf_counter()
    if name in ("membership", "blackbox"):
        result = membership_draw(k, DATA["blackbox_X"] if name == "blackbox" else None, name)
    elif name in ("silence", "noise", "tts"):
        result = condition_draw(name, k)
    elif name == "blind":
        result = blind_draw(k)
    elif name == "dataset-test":
        result = dataset_draw(k)
    elif name == "mitigate":
        result = mitigate_draw(k)
    elif name == "disclosure":
        result = disclosure_draw(k)
    else:
        result = attribute_draw(name, k)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


#: one-sided nominal level of each verdict's false Leak
NOMINAL = {"membership": 0.05, "silence": 0.05, "noise": 0.05, "tts": 0.05, "blackbox": 0.05,
           "blind": 0.05, "dataset": 0.01, "dataset-test": 0.01, "gender": 0.05,
           "accent": 0.05}


def rate(hits: int, n: int, nominal: float) -> dict[str, Any]:
    est = stats.wilson(hits, n)
    return {"hits": hits, "draws": n, "rate": est.value, "low": est.low, "high": est.high,
            "nominal": nominal, "at_or_below_nominal": bool(est.value <= nominal),
            "upper_below_twice_nominal": bool(est.high < 2 * nominal)}


def summarise(draws: list[dict[str, Any]]) -> dict[str, Any]:
    """False-Leak rate per verdict, and beside it what the replaced rules gave."""
    by: dict[str, list[dict[str, Any]]] = {}
    for d in draws:
        by.setdefault(d["verdict"], []).append(d)
    out: dict[str, Any] = {}
    for name, rows in sorted(by.items()):
        if name == "mitigate":
            cells = sorted(rows[0]["cells"])
            for cell in cells:
                out[f"mitigate {cell}"] = rate(sum(r["cells"][cell] for r in rows), len(rows),
                                               0.05)
            versions = sorted({c.split("/")[1] for c in cells} - {"original"})
            for version in versions:
                mine = [c for c in cells if c.endswith("/" + version)]
                out[f"mitigate leaks remain ({version}, any of {len(mine)})"] = rate(
                    sum(any(r["cells"][c] for c in mine) for r in rows), len(rows), 0.05)
            continue
        entry = rate(sum(r["leak"] for r in rows), len(rows), NOMINAL.get(name, 0.05))
        if "fixed_low" in rows[0]:  # membership-like: the rule replaced, and the band alone
            entry["old_rule_fixed_bootstrap"] = rate(sum(r["fixed_low"] > 0.5 for r in rows),
                                                     len(rows), 0.025)
            entry["band_alone"] = rate(sum(r["band_above"] for r in rows), len(rows), 0.05)
        if name in ("membership", "blackbox", "silence", "noise", "tts"):
            entry["below_flag"] = rate(sum(r.get("side") == "below" for r in rows), len(rows),
                                       0.05)
            entry["auc_mean"] = float(np.mean([r["auc"] for r in rows]))
            entry["auc_sd"] = float(np.std([r["auc"] for r in rows], ddof=1))
        if name == "blind":
            entry["old_rule_fixed_bootstrap"] = rate(sum(r["fixed_rule"] for r in rows),
                                                     len(rows), 0.05)
            out["dataset"] = rate(sum(r["dataset"]["leak"] for r in rows), len(rows), 0.01)
        if name == "disclosure":
            entry["full_leak"] = rate(sum(r["full_leak"] for r in rows), len(rows), 0.05)
        if name in ("gender", "accent"):
            entry["old_rule_wilson"] = rate(sum(r["wilson_rule"] for r in rows), len(rows),
                                            0.025)
        out[name] = entry
    coverage = [r for r in by.get("membership", []) if "low" in r and "high" in r
                and r["k"] < DATA.get("coverage", 0)]
    if coverage:
        out["membership refit interval"] = {
            "draws": len(coverage),
            "above_0.5": rate(sum(r["low"] > 0.5 for r in coverage), len(coverage), 0.025),
            "below_0.5": rate(sum(r["high"] < 0.5 for r in coverage), len(coverage), 0.025)}
    return out


def load(args: argparse.Namespace) -> None:
    """Everything the draws read, once, into :data:`DATA` (inherited by forked workers)."""
    import pickle

    from telltale.manifest import load_manifest
    from telltale.membership.blackbox import feature_matrix
    from telltale.membership.blind import extract_features

    speakers = _speakers(args.demo / "corpus")
    DATA["speaker_of"] = speakers
    membership = load_membership(RunDir(args.demo / "membership"), speakers)
    DATA.update(membership=membership, clusters=membership["clusters"],
                coverage=args.coverage)
    ids = membership["ids"]
    cache = args.out / "blind_features.pkl"
    if cache.exists():
        DATA["blind"] = pickle.loads(cache.read_bytes())
    else:
        samples, _ = load_manifest(args.demo / "corpus" / "membership.csv",
                                   require=("audio", "member"))
        chosen = sorted((s for s in samples if s.id in set(ids)), key=lambda s: s.id)
        DATA["blind"] = extract_features(chosen, n_jobs=args.jobs)
        cache.write_bytes(pickle.dumps(DATA["blind"]))
    DATA["attributes"] = attribute_rows(RunDir(args.demo / "attributes"), set(ids))
    root = Path(__file__).resolve().parent.parent
    DATA["replies"] = [json.loads(line)["response"] for name in REPLIES
                       for line in (root / name).read_text().splitlines() if line.strip()]
    if args.blackbox:
        recs = {r.sample_id: r for r in RunDir(args.blackbox).records()
                if r.probe["condition"] == "original" and r.error is None}
        DATA["blackbox_X"] = feature_matrix([recs[i].scores.get("blackbox", {})
                                             for i in ids])[0]
    if args.mitigate:
        from telltale.membership.scoring import aligned_indicators

        run = RunDir(args.mitigate)
        by_version: dict[str, dict[str, Any]] = {}
        for rec in run.records():
            if rec.error is None and rec.probe.get("task") == "membership":
                by_version.setdefault(rec.probe["defence"], {})[rec.sample_id] = rec
        DATA["mitigate_X"] = {v: aligned_indicators(ids, recs)[0]
                              for v, recs in sorted(by_version.items())}
        cells = attribute_rows(run, set(ids), task="attributes")
        DATA["attributes"].update({(a, v): rows for (a, v), rows in cells.items()})
        DATA["mitigate_attributes"] = sorted({a for a, _ in cells})


def tasks(args: argparse.Namespace) -> list[tuple[str, int]]:
    conditions = [c for c in ("silence", "noise", "tts")
                  if c in DATA["membership"]["matrices"] and c in args.verdicts]
    names = [v for v in ("membership", "blind", "gender", "accent", "disclosure")
             if v in args.verdicts]
    names += conditions
    names += ["blackbox"] if args.blackbox and "blackbox" in args.verdicts else []
    names += ["mitigate"] if args.mitigate and "mitigate" in args.verdicts else []
    out = [(name, k) for k in range(args.draws) for name in names]
    if "dataset" in args.verdicts:
        out += [("dataset-test", k) for k in range(args.di_draws)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, required=True, help="a telltale demo output")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--di-draws", type=int, default=2000,
                        help="draws of dataset inference's model test alone (cheap)")
    parser.add_argument("--coverage", type=int, default=50,
                        help="draws whose membership refit interval is always computed")
    parser.add_argument("--blackbox", type=Path, help="membership run with the black-box "
                                                      "method on the 120 non-members")
    parser.add_argument("--mitigate", type=Path, help="mitigation run on the 120 non-members")
    parser.add_argument("--verdicts", default="membership,silence,noise,blind,dataset,"
                                              "gender,accent,blackbox,mitigate,disclosure",
                        help="add tts for the resynthesised condition (three attacks a draw)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    args.verdicts = set(args.verdicts.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    started = time.perf_counter()
    load(args)
    log = args.out / "draws.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    seen = {(d["verdict"], d["k"]) for d in done}
    todo = [t for t in tasks(args) if t not in seen]
    print(f"{len(todo)} draws to do ({len(done)} already in {log})", flush=True)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), open(log, "a") as fh, \
            ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for i, result in enumerate(pool.map(run_task, todo, chunksize=4)):
            fh.write(json.dumps(result) + "\n")
            fh.flush()
            done.append(result)
            if i % 50 == 0:
                print(f"{i + 1}/{len(todo)} ({time.perf_counter() - started:.0f} s)",
                      flush=True)
    seconds = time.perf_counter() - started
    figures = summarise(done)
    report = {"machine": machine, "seconds_this_run": round(seconds, 1),
              "draw_seconds": round(sum(d["seconds"] for d in done), 1),
              "draws": args.draws, "permutations": calibration.PERMUTATIONS,
              "refit_boot": calibration.REFIT_BOOT, "figures": figures}
    (args.out / "null.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'verdict':<44} {'false Leak':>10} {'Wilson 95%':>16} {'nominal':>8}")
    for name, f in figures.items():
        if "hits" in f:
            ok = f["at_or_below_nominal"] and f["upper_below_twice_nominal"]
            print(f"{name:<44} {f['hits']:>4}/{f['draws']:<5} [{f['low']:.3f}, "
                  f"{f['high']:.3f}]   {f['nominal']:.3f}  {'ok' if ok else 'NOT CALIBRATED'}")
    print(f"{seconds:.0f} s on {args.jobs} processes (sum over draws "
          f"{report['draw_seconds']} s; load {machine['load_average']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
