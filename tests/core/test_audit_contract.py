"""The audit contract, checked on every registered audit (in the spirit of scikit-learn's
``check_estimator``): whatever an audit measures, the runner's bookkeeping holds for it.

- the errors of an earlier job survive the later jobs of the same run, and every failed
  probe is in the results and the report;
- ``telltale score`` works from the run directory alone, with the manifest and every
  protocol file (taxonomy, prompts, framings) moved away;
- a resume with a changed protocol option is refused before the model is asked anything;
- a model that cannot be reached leaves no run directory;
- every verdict and headline row is typed (:mod:`telltale.findings`);
- an audit's ``--help`` offers exactly the options it uses, each with a help text.

``ScriptedModel`` stands in for the target because the contract needs failures on demand
and no weights: it answers every generation with a fixed plausible reply (with token
statistics) and fails, alone or in a batch, every request identical to the first one it
was ever sent. Every real backend is exercised by the backend contract suite and the
end-to-end tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from telltale.audit import AUDITS, audit_class, from_run
from telltale.commands import MODEL_FIELDS, commands, run_fields
from telltale.config import RunOptions
from telltale.findings import Level, Results, SummaryRow, Verdict
from telltale.models.base import STAT_NAMES, BaseModel, Generation, TokenStats
from telltale.records import read_records
from telltale.rundir import RunDir
from telltale.runner import run_audit, score_run

SCRIPTED = "docassistant:rapidocr"  # a spec every audit accepts; opened as ScriptedModel
DEAD = "openai:nobody@http://127.0.0.1:9/v1"


def _stats(text: str) -> TokenStats:
    tokens = text.split() or [""]
    rng = np.random.default_rng(len(text))
    return TokenStats(tokens, {n: rng.normal(-1.0, 0.3, len(tokens)) for n in STAT_NAMES})


class ScriptedModel(BaseModel):
    """Fixed replies with statistics; the first request ever seen fails whenever it is
    asked again, alone or in a batch (so exactly one probe of the first job fails)."""

    name = "scripted"
    fingerprint = "scripted-contract"
    capabilities = frozenset({"generate", "score", "audio", "image", "batch",
                              "stats_on_generate"})

    def __init__(self) -> None:
        self.poison: tuple[str, str | None] | None = None
        self.asked = 0

    def _check(self, requests) -> None:
        keys = [(r.text, r.media_sha256()) for r in requests]
        if self.poison is None and keys:
            self.poison = keys[0]
        self.asked += len(requests)
        if self.poison in keys:
            raise RuntimeError("the scripted device fell over")

    def generate(self, requests, decoding=None, with_stats=False):
        self._check(requests)
        reply = "The speaker sounds male, probably in their thirties, with a British accent."
        return [Generation(reply, _stats(reply) if with_stats else None) for _ in requests]

    def score(self, requests, continuations):
        self._check(requests)
        return [_stats(c) for c in continuations]


def _clips(folder: Path, n: int = 12) -> Path:
    """A clips manifest: tones of several pitches, speakers, members and labels."""
    folder.mkdir(parents=True)
    rows = ["id,audio,text,member,speaker,gender,accent,dataset"]
    for i in range(n):
        t = np.arange(int(0.8 * 16000)) / 16000
        wave = 0.2 * np.sin(2 * np.pi * (140 + 25 * i) * t) * (1 + 0.3 * np.sin(7 * t))
        sf.write(folder / f"c{i}.wav", wave.astype("float32"), 16000)
        rows.append(f"c{i},c{i}.wav,the quick brown fox number {i},{i % 2},s{i % 4},"
                    f"{'male' if i % 2 else 'female'},{'british' if i % 3 else 'american'},"
                    f"set{i % 2}")
    (folder / "clips.csv").write_text("\n".join(rows) + "\n")
    return folder / "clips.csv"


def _prompts(folder: Path) -> Path:
    path = folder / "prompts.json"
    path.write_text(json.dumps({"brief": {"user": "In one word: {question} ({labels})"}}))
    return path


def _framings(folder: Path) -> Path:
    path = folder / "framings.json"
    path.write_text(json.dumps({"framings": {"terse": {
        "system": None, "user": "{context} Read out the {pii_label} of {subject}."}}}))
    return path


def _case(name: str, folder: Path) -> dict[str, Any]:
    """The config of each registered audit on small real data, with its protocol files
    (which the contract moves away before re-scoring)."""
    files = folder / "protocol"
    files.mkdir(parents=True)
    if name == "attributes":
        return {"data": _clips(folder / "data"), "attributes": ("gender", "accent"),
                "modes": ("direct", "brief"), "prompts": _prompts(files), "max_new_tokens": 8}
    if name == "blind":
        return {"data": _clips(folder / "data"), "folds": 2, "permutations": 0,
                "families": ("metadata", "text")}
    if name == "membership":
        return {"data": _clips(folder / "data"), "folds": 2, "permutations": 0,
                "conditions": ("original", "silence"), "methods": ("indicators", "blackbox"),
                "samples": 2, "max_new_tokens": 8}
    if name == "disclosure":
        return {"forms": 1, "photo_variants": False, "framings": ("direct", "terse"),
                "pii_types": ("email", "ssn"), "framing_file": _framings(files),
                "max_new_tokens": 8}
    if name == "retention":
        return {"memory": 2, "control": 1, "forms": 1, "variants": ("base",),
                "framings": ("direct",), "pii_types": ("email",), "utility": 2,
                "max_new_tokens": 8}
    if name == "mitigate":
        return {"data": _clips(folder / "data"), "defences": ("mcadams:0.8",),
                "attributes": ("gender",), "modes": ("direct", "brief"),
                "prompts": _prompts(files), "classical": False, "folds": 2,
                "max_new_tokens": 8}
    if name == "redaction":
        return {"forms": 1, "limit": 1, "photo_variants": False, "framings": ("direct",),
                "pii_types": ("email",), "defences": ("redact",), "max_new_tokens": 8}
    raise AssertionError(f"the contract suite has no case for the audit {name!r}: add one")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict[str, Any]:
    """Each audit run once with the scripted model: name -> (audit, options, outcome,
    folder); shared by the contract checks."""
    import telltale.runner as runner

    real_open = runner.open_model
    models: list[ScriptedModel] = []

    def open_model(options, spec=None, **backend):
        if (spec or options.model) == SCRIPTED:
            models.append(ScriptedModel())
            return models[-1]
        return real_open(options, spec, **backend)

    runner.open_model = open_model
    runs: dict[str, Any] = {"models": models}
    try:
        for name in AUDITS:
            folder = tmp_path_factory.mktemp(name)
            cls = audit_class(name)
            audit = cls(cls.config_class(**_case(name, folder)))
            options = RunOptions(out=folder / "run", model=SCRIPTED if cls.uses_model else None,
                                 no_cache=True, batch_size=4, jobs=1, max_failure_share=0.9)
            runs[name] = (audit, options, run_audit(audit, options), folder)
    finally:
        runner.open_model = real_open
    return runs


def test_every_registered_audit_has_a_contract_case(tmp_path):
    for name in AUDITS:
        _case(name, tmp_path / name)


@pytest.mark.parametrize("name", list(AUDITS))
def test_errors_of_every_job_survive_the_run(finished, name):
    audit, options, outcome, _ = finished[name]
    if not audit.uses_model:
        pytest.skip("asks no model")
    first_job = audit.jobs(RunDir(options.out))[0]
    records = list(read_records(options.out / "records.jsonl"))
    failed = [r for r in records if r.error]
    # the poisoned request is the first probe of the first job (asked again by later jobs
    # that repeat it, such as black-box draws, which fail too)
    assert first_job.probes[0].key in {r.key for r in failed}
    assert all("scripted device fell over" in r.error for r in failed)
    assert outcome.counts["errors"] == len(failed)
    results = RunDir(options.out).read_results()
    assert sorted(e["key"] for e in results["errors"]) == sorted(r.key for r in failed)
    assert results["counts"]["errors"] == len(failed)
    report = (options.out / "report.html").read_text()
    failed_text = f"{len(failed)} probe{'' if len(failed) == 1 else 's'} failed"
    assert failed_text in report and failed[0].sample_id in report


@pytest.mark.parametrize("name", list(AUDITS))
def test_score_reads_only_the_run_directory(finished, name, tmp_path):
    audit, options, _, folder = finished[name]
    before = RunDir(options.out).read_results()
    moved = tmp_path / "moved"
    moved.mkdir()
    for sub in ("data", "protocol"):
        if (folder / sub).exists():
            shutil.move(str(folder / sub), str(moved / sub))
    try:
        rebuilt = from_run(RunDir(options.out))
        assert rebuilt.config == audit.config
        again = score_run(RunDir(options.out))
    finally:
        for sub in ("data", "protocol"):
            if (moved / sub).exists():
                shutil.move(str(moved / sub), str(folder / sub))
    assert again["summary"] == before["summary"]
    assert again["verdicts"] == before["verdicts"]


@pytest.mark.parametrize("name", list(AUDITS))
def test_a_resume_with_another_protocol_option_is_refused(finished, name):
    audit, options, _, _ = finished[name]
    models = finished["models"]
    asked = [m.asked for m in models]
    changed = dataclasses.replace(audit.config, seed=audit.config.seed + 1)
    with pytest.raises(ValueError, match="other --seed"):
        run_audit(type(audit)(changed), options)
    assert [m.asked for m in models] == asked


@pytest.mark.parametrize("name", [n for n in AUDITS if audit_class(n).uses_model])
def test_a_dead_model_leaves_no_run_directory(finished, name, tmp_path):
    from telltale.models.base import BackendError

    audit, _, _, _ = finished[name]
    out = tmp_path / "never"
    with pytest.raises((BackendError, ValueError)):
        run_audit(audit, RunOptions(out=out, model=DEAD, no_cache=True, retries=0,
                                    timeout=2))
    assert not out.exists()


@pytest.mark.parametrize("name", list(AUDITS))
def test_verdicts_and_headline_rows_are_typed(finished, name):
    audit, options, _, _ = finished[name]
    run = RunDir(options.out)
    ok = [r for r in run.records() if r.error is None]
    scorer = audit.scorer(run, None)
    if scorer is not None:
        scorer(ok)
    found = audit.metrics(run, ok)
    assert isinstance(found, Results) and found.summary and found.verdicts
    assert all(isinstance(row, SummaryRow) for row in found.summary)
    assert all(isinstance(v, Verdict) and isinstance(v.level, Level) for v in found.verdicts)
    written = run.read_results()
    assert [Verdict.from_dict(v) for v in written["verdicts"]] == found.verdicts
    assert [SummaryRow.from_dict(r) for r in written["summary"]] == found.summary


def test_membership_checks_that_the_model_transcribes(finished):
    # the scripted model describes the speaker when asked to transcribe: the run measures
    # that against the manifest's transcripts, which the records carry
    _, options, _, _ = finished["membership"]
    written = RunDir(options.out).read_results()
    fidelity = written["transcription"]
    assert not fidelity["transcribes"] and fidelity["wer"]["value"] > 0.9
    assert fidelity["most_repeated"]["text"].startswith("the speaker sounds male")
    row = next(r for r in written["summary"] if r["metric"].startswith("own transcription"))
    assert row["value"] == fidelity["wer"]["value"] and row["low"] is not None
    # the mitigation audit's membership cells score own transcriptions too
    _, options, _, _ = finished["mitigate"]
    written = RunDir(options.out).read_results()
    cells = {v: c for v, c in written["membership"].items() if isinstance(c, dict)}
    assert cells and all(not c["transcription"]["transcribes"] for c in cells.values())
    assert any(r["metric"].startswith("own transcription WER, ") for r in written["summary"])


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings if s.startswith("--")}


def test_help_offers_exactly_the_options_each_audit_uses():
    from telltale.cli import build_parser

    sub = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction)).choices
    run_flags = {f.name: f.metadata.get("flag") or "--" + f.name.replace("_", "-")
                 for f in dataclasses.fields(RunOptions)}
    for command, audits in commands().items():
        flags = _flags(sub[command]) - {"--help", "--quiet", "--verbose"}
        expected = set()
        for cls in audits:
            expected |= {f.metadata.get("flag") or "--" + f.name.replace("_", "-")
                         for f in dataclasses.fields(cls.config_class)
                         if f.metadata.get("cli", True)}
            expected |= {run_flags[n] for n in run_fields(cls)}
        assert flags == expected, command
        for action in sub[command]._actions:
            if action.option_strings and action.dest not in ("help", "quiet", "verbose"):
                assert action.help and action.help.strip(), (command, action.dest)
    assert not _flags(sub["blind"]) & {run_flags[n] for n in MODEL_FIELDS}
    assert "--judge" in _flags(sub["attributes"]) and "--judge" not in _flags(sub["disclosure"])


def test_a_shared_command_refuses_the_options_of_the_audit_it_does_not_run(tmp_path, capsys):
    from telltale.cli import main

    data = _clips(tmp_path / "data")
    status = main(["mitigate", "--model", SCRIPTED, "--data", str(data), "--out",
                   str(tmp_path / "run"), "--defences", "mcadams", "--framings", "direct"])
    assert status == 2
    assert "--framings: applies to the redaction audit" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    status = main(["mitigate", "--model", SCRIPTED, "--out", str(tmp_path / "run"),
                   "--defences", "redact", "--no-classical"])
    assert status == 2
    assert "--no-classical: applies to the mitigate audit" in capsys.readouterr().err


class ScriptedJudge(BaseModel):
    """A judge that names the first label it is offered; counts what it is asked."""

    name = "judge"
    fingerprint = "scripted-judge"
    capabilities = frozenset({"generate", "batch"})

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.asked = 0

    def generate(self, requests, decoding=None, with_stats=False):
        self.asked += len(requests)
        return [Generation(r.text.split("\n- ")[1].split("\n")[0], None) for r in requests]


def test_the_judge_is_opened_like_any_model_cached_and_with_endpoint_options(
        finished, tmp_path, monkeypatch):
    _, options, _, _ = finished["attributes"]
    opened: list[tuple[str, ScriptedJudge]] = []

    def load_model(spec, batch_size=None, **backend):
        opened.append((spec, ScriptedJudge(**backend)))
        return opened[-1][1]

    monkeypatch.setattr("telltale.models.load_model", load_model)
    judge = "openai:judge@http://127.0.0.1:9/v1"
    scoring = RunOptions(out=options.out, judge=judge, cache=tmp_path / "cache.sqlite",
                         timeout=3, retries=1)
    first = score_run(RunDir(options.out), options=scoring)
    spec, model = opened[-1]
    assert spec == judge and model.options == {"timeout": 3, "max_retries": 1}
    assert model.asked > 0 and first["scorer"] == f"judge:{judge}"
    assert first["judge_fingerprint"] == "scripted-judge"
    assert {r.parsed["parser"] for r in RunDir(options.out).records() if r.parsed} == {"judge"}
    again = score_run(RunDir(options.out), options=scoring)
    assert opened[-1][1].asked == 0  # every reply answered from the response cache
    assert again["summary"] == first["summary"]
    score_run(RunDir(options.out))  # back to the rules for the other checks


@pytest.mark.parametrize("name", [n for n in AUDITS if audit_class(n).uses_model])
def test_a_resume_after_a_media_file_changed_is_refused_naming_it(finished, name):
    audit, options, _, _ = finished[name]
    models = finished["models"]
    asked = [m.asked for m in models]
    record = next(r for r in RunDir(options.out).records()
                  if r.media_file_sha256 and r.error is None)  # failures are asked again
    media = Path(record.media)
    kept = media.read_bytes()
    try:
        media.write_bytes(kept[:-64] + bytes(64))  # rewritten in place, same size
        with pytest.raises(ValueError, match=r"1 media files changed since their probes "
                                             rf"were asked \(\d+ records\): {media}"):
            run_audit(audit, options)
    finally:
        media.write_bytes(kept)
    assert [m.asked for m in models] == asked


@pytest.mark.parametrize("name", [n for n in AUDITS if audit_class(n).uses_model])
def test_a_run_two_writers_filled_scores_as_one_writers(finished, name, tmp_path):
    _, options, _, _ = finished[name]
    before = RunDir(options.out).read_results()
    copy = tmp_path / "run"
    shutil.copytree(options.out, copy)
    lines = (copy / "records.jsonl").read_text().splitlines()
    again = [json.loads(line) for line in lines]
    for i, rec in enumerate(again):  # the other writer's answers: other text, or failures
        rec["output"], rec["error"] = (rec["output"][::-1], None) if i % 2 else (None, "lost")
    (copy / "records.jsonl").write_text("\n".join(lines + [json.dumps(r) for r in again])
                                        + "\n")
    rescored = score_run(RunDir(copy))
    assert rescored["summary"] == before["summary"]
    assert rescored["verdicts"] == before["verdicts"]
    assert rescored["counts"] == before["counts"]


@pytest.mark.parametrize("name", [n for n in AUDITS if audit_class(n).uses_model])
def test_a_model_without_what_the_jobs_need_is_refused_before_setup(finished, name, tmp_path,
                                                                     monkeypatch):
    """A text-only endpoint (generation, no statistics or scoring) against an audit that
    needs them: refused as soon as it opens, before the audit's slow setup (phase-1
    baselines, defences, fine-tuning) and leaving no run directory."""
    from telltale.models.base import UnsupportedRequest

    audit, options, _, _ = finished[name]
    needs = audit.needs()
    if not needs:
        pytest.skip(f"the {name} audit needs only generated text")

    class TextOnly(ScriptedModel):
        capabilities = frozenset({"generate", "audio", "image", "batch"})

    monkeypatch.setattr("telltale.runner.open_model", lambda o, spec=None, **kw: TextOnly())
    monkeypatch.setattr(type(audit), "setup", lambda *a: pytest.fail("setup ran"))
    out = tmp_path / "never"
    with pytest.raises(UnsupportedRequest, match=re.escape(next(iter(needs.values())))):
        run_audit(audit, dataclasses.replace(options, out=out))
    assert not out.exists()
