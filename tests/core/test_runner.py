"""The Audit interface and the one runner, on a minimal example audit.

``EchoAudit`` is what a new audit needs: a config, the probes, a scorer, and one registry
entry. ``ScriptedModel`` stands in for a backend here because these tests need failures on
demand (a batch that raises, a backend without statistics on generate); every real backend
is exercised by the backend contract suite and the end-to-end tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from telltale import audit as audit_module
from telltale.audit import Audit, Job, Prepared, from_run
from telltale.config import AuditConfig, ConfigError, RunOptions, option, require
from telltale.findings import Results, SummaryRow
from telltale.models.base import STAT_NAMES, BaseModel, Generation, TokenStats
from telltale.probes import Probe
from telltale.records import Record, Sample
from telltale.rundir import RunDir
from telltale.runner import run_audit, score_run
from telltale.scorers import Scorer, per_record


def _stats(text: str) -> TokenStats:
    tokens = text.split() or [""]
    return TokenStats(tokens, {n: np.full(len(tokens), -1.0) for n in STAT_NAMES})


class ScriptedModel(BaseModel):
    """Echoes each prompt; a batch holding a prompt in ``poison`` raises as a whole, and a
    request alone with it raises too (so exactly that probe fails)."""

    name = "scripted"

    def __init__(self, poison=(), stats_on_generate=True):
        self.poison = set(poison)
        self.fingerprint = "scripted"
        self.capabilities = frozenset({"generate", "score", "audio", "batch"}
                                      | ({"stats_on_generate"} if stats_on_generate else set()))
        self.batches: list[int] = []
        self.scored = 0

    def generate(self, requests, decoding=None, with_stats=False):
        self.batches.append(len(requests))
        if any(r.text in self.poison for r in requests):
            raise RuntimeError("the device fell over")
        return [Generation(r.text.upper(), _stats(r.text) if with_stats else None)
                for r in requests]

    def score(self, requests, continuations):
        self.scored += len(requests)
        return [_stats(c) for c in continuations]


@dataclass(frozen=True)
class EchoConfig(AuditConfig):
    texts: tuple[str, ...] = option(("one", "two", "three"), "texts to repeat")
    audio: Path | None = option(None, "the clip every probe carries")
    condition: str = option("original", "media condition")
    with_stats: bool = option(False, "ask for token statistics")

    def validate(self) -> None:
        super().validate()
        require(len(self.texts) >= 1, "texts", "give at least one text")


class EchoAudit(Audit):
    """Asks the model to repeat each text; scores the share repeated (case-insensitive)."""

    name = "echo"
    config_class = EchoConfig
    summary = "does the model repeat what it is told?"

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        self._samples = [Sample(id=f"s{i}", media=self.config.audio, kind="audio", text=t)
                         for i, t in enumerate(self.config.texts)]
        return Prepared()

    def jobs(self, run: RunDir) -> list[Job]:
        probes = [Probe(key=s.id, sample=s, text=s.text, condition=self.config.condition,
                        truth={"expected": s.text}) for s in self._samples]
        return [Job(probes, "echo", with_stats=self.config.with_stats)]

    def scorer(self, run: RunDir, judge: Any = None) -> Scorer:
        def score_one(rec: Record) -> None:
            rec.scores = {"echoed": rec.output.lower() == rec.labels["expected"]}
        return per_record(score_one)

    def metrics(self, run: RunDir, records: list[Record]) -> Results:
        hits = sum(r.scores["echoed"] for r in records)
        return Results([SummaryRow("echoed", hits / max(len(records), 1), n=len(records))])


@pytest.fixture
def echo(monkeypatch, tmp_path):
    """The example audit registered the way every audit is: one entry in AUDITS, and a
    model spec resolved by the runner (here patched to the scripted model)."""
    monkeypatch.setitem(audit_module.AUDITS, "echo", f"{__name__}:EchoAudit")
    models: dict[str, ScriptedModel] = {}

    def load(options):
        models["last"] = MODELS[options.model]
        return models["last"]

    monkeypatch.setattr("telltale.runner.open_model", load)
    audio = tmp_path / "clip.wav"
    sf.write(audio, np.random.default_rng(0).normal(0, 0.1, 8000).astype("float32"), 16000)
    return audio, models


MODELS: dict[str, ScriptedModel] = {}


def _options(tmp_path, spec="openai:scripted@http://127.0.0.1:9/v1", **kw) -> RunOptions:
    return RunOptions(out=tmp_path / "run", model=spec, batch_size=4, no_cache=True, **kw)


def test_a_new_audit_is_one_class_and_one_registry_entry(echo, tmp_path):
    audio, _ = echo
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = ScriptedModel()
    outcome = run_audit(EchoAudit(EchoConfig(audio=audio)), _options(tmp_path))
    assert outcome.status == 0 and outcome.counts == {"done": 3, "skipped": 0, "errors": 0}
    run = RunDir(tmp_path / "run")
    assert run.read_results()["summary"][0]["value"] == 1.0
    assert (run.path / "report.html").exists()
    # the run directory alone rebuilds the audit with its config, and re-scores it
    rebuilt = from_run(run)
    assert isinstance(rebuilt, EchoAudit) and rebuilt.config == EchoConfig(audio=audio)
    assert score_run(run)["summary"] == run.read_results()["summary"]


def test_a_failing_batch_is_retried_one_by_one_and_a_resume_redoes_only_errors(echo,
                                                                               tmp_path):
    audio, _ = echo
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = model = ScriptedModel(poison={"two"})
    outcome = run_audit(EchoAudit(EchoConfig(audio=audio)), _options(tmp_path))
    assert model.batches == [3, 1, 1, 1]  # the batch of three, then each alone
    records = RunDir(tmp_path / "run").records()
    assert [r.error is not None for r in records] == [False, True, False]
    assert "the device fell over" in records[1].error
    assert outcome.counts == {"done": 2, "skipped": 0, "errors": 1} and outcome.status == 0

    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = healed = ScriptedModel()
    again = run_audit(EchoAudit(EchoConfig(audio=audio)), _options(tmp_path))
    assert healed.batches == [1] and again.counts == {"done": 1, "skipped": 2, "errors": 0}
    records = RunDir(tmp_path / "run").records()
    assert len(records) == 3 and all(r.error is None for r in records)


def test_a_run_where_every_probe_fails_exits_non_zero(echo, tmp_path):
    audio, _ = echo
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = ScriptedModel(poison={"one", "two", "three"})
    outcome = run_audit(EchoAudit(EchoConfig(audio=audio)), _options(tmp_path))
    assert outcome.status == 1 and "FAILED" in outcome.line


def test_media_that_fails_at_run_time_becomes_an_error_record(echo, tmp_path):
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = ScriptedModel()
    outcome = run_audit(EchoAudit(EchoConfig(audio=tmp_path / "gone.wav")), _options(tmp_path))
    records = RunDir(tmp_path / "run").records()
    assert outcome.counts["errors"] == 3 and all("gone.wav" in r.error for r in records)


def test_statistics_come_from_a_second_pass_when_generate_cannot_give_them(echo, tmp_path):
    audio, _ = echo
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = model = ScriptedModel(stats_on_generate=False)
    run_audit(EchoAudit(EchoConfig(audio=audio, with_stats=True)), _options(tmp_path))
    records = RunDir(tmp_path / "run").records()
    assert model.scored == 3
    assert [r.token_stats["tokens"] for r in records] == [["ONE"], ["TWO"], ["THREE"]]


def test_the_seed_reaches_the_noise_condition(echo, tmp_path):
    audio, _ = echo
    hashes = []
    for seed in (0, 7):
        MODELS["openai:scripted@http://127.0.0.1:9/v1"] = ScriptedModel()
        options = RunOptions(out=tmp_path / f"seed{seed}", model="openai:scripted@http://127.0.0.1:9/v1",
                             no_cache=True)
        run_audit(EchoAudit(EchoConfig(audio=audio, condition="noise", seed=seed)), options)
        hashes.append([r.media_sha256 for r in RunDir(options.out).records()])
    assert hashes[0][0] != hashes[1][0]


def test_a_resume_with_another_config_is_refused_before_anything_runs(echo, tmp_path):
    audio, _ = echo
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = ScriptedModel()
    run_audit(EchoAudit(EchoConfig(audio=audio)), _options(tmp_path))
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = model = ScriptedModel()
    with pytest.raises(ValueError, match="other --texts"):
        run_audit(EchoAudit(EchoConfig(audio=audio, texts=("four",))), _options(tmp_path))
    assert model.batches == []


def test_configs_validate_themselves_naming_the_option():
    from telltale.attributes.audit import AttributesConfig
    from telltale.disclosure.audit import DisclosureConfig
    from telltale.membership.audit import MembershipConfig

    cases = [
        (lambda: MembershipConfig(data=Path("m.csv"), conditions=("original", "echo")),
         "--conditions: unknown 'echo'"),
        (lambda: MembershipConfig(data=Path("m.csv"), conditions=("silence",)),
         "--conditions: must include original"),
        (lambda: AttributesConfig(data=Path("m.csv"), modes=("direct", "direct")),
         "--modes: 'direct' given twice"),
        (lambda: DisclosureConfig(forms=0), "--forms: must be at least 1"),
        (lambda: MembershipConfig(data=Path("m.csv"), limit=0), "--limit: must be a positive"),
        (lambda: RunOptions(out=Path("x"), batch_size=0), "--batch-size: must be at least 1"),
        (lambda: RunOptions(out=Path("x"), judge="llm"), "cannot read model spec 'llm'"),
    ]
    for build, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            build()


def test_the_cli_refuses_bad_options_before_loading_a_model_or_writing(tmp_path, capsys):
    from telltale.cli import main

    out = tmp_path / "never"
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    # the model directory holds no model: a check that came after loading would report that
    for argv, message in (
            (["--batch-size", "0"], "--batch-size: must be at least 1"),
            (["--conditions", "original,loud"], "--conditions: unknown 'loud'"),
            (["--limit", "1"], "need at least two members and two non-members within --limit")):
        status = main(["membership", "--model", f"organism:{empty}", "--data",
                       str(_tiny_manifest(tmp_path)), "--out", str(out), *argv])
        assert status == 2 and message in capsys.readouterr().err
        assert not out.exists()
    status = main(["membership", "--model", "organism:/nowhere", "--data",
                   str(_tiny_manifest(tmp_path)), "--out", str(out)])
    assert status == 2 and "no model directory at /nowhere" in capsys.readouterr().err


def test_an_audit_refuses_a_judge_it_cannot_use(echo, tmp_path):
    audio, _ = echo
    MODELS["openai:scripted@http://127.0.0.1:9/v1"] = ScriptedModel()
    with pytest.raises(ConfigError, match="--judge: the echo audit scores with rules only"):
        run_audit(EchoAudit(EchoConfig(audio=audio)),
                  _options(tmp_path, judge="openai:m@http://127.0.0.1:9/v1"))
    assert not (tmp_path / "run").exists()


def _tiny_manifest(tmp_path: Path) -> Path:
    rows = ["id,audio,text,member"]
    for i in range(4):
        clip = tmp_path / f"c{i}.wav"
        sf.write(clip, np.random.default_rng(i).normal(0, 0.1, 8000).astype("float32"), 16000)
        rows.append(f"c{i},{clip.name},hello {i},{i % 2}")
    path = tmp_path / "m.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_progress_lines_when_stderr_is_not_a_terminal(caplog):
    from telltale import console

    console.configure()
    console.log.propagate = True  # let caplog see the records
    with caplog.at_level("INFO", logger="telltale"):
        assert list(console.progress(range(5), total=5, desc="probes", every=0.0)) == [
            0, 1, 2, 3, 4]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("probes: 1/5 (20%)") and lines[-1].startswith("probes: 5/5")
    assert "left" in lines[0] and "left" not in lines[-1]
    assert console.progress_line("x", 10, 100, 5.0) == "x: 10/100 (10%), 2.00/s, about 45 s left"


def test_a_probe_scores_the_output_another_probe_recorded(echo, tmp_path):
    """A reference model scores the target's own transcription: the probe names the
    target's probe (``continuation_of``) and is scored on what that one recorded; a
    missing or failed source is an error record naming it."""
    from telltale.dispatch import run_probes

    audio, _ = echo
    run = RunDir(tmp_path / "run")
    run.create()
    model = ScriptedModel(poison={"boom"})
    samples = [Sample(id=f"s{i}", media=audio, kind="audio", text=t)
               for i, t in enumerate(("one two", "boom"))]
    run_probes(run, [Probe(key=s.id, sample=s, text=s.text) for s in samples], model)
    second = [Probe(key=f"{s.id}|ref", sample=s, text=s.text, continuation_of=s.id)
              for s in samples]
    second.append(Probe(key="s9|ref", sample=samples[0], text="x", continuation_of="s9"))
    counts = run_probes(run, second, model)
    records = {r.key: r for r in run.records()}
    assert records["s0|ref"].output == "ONE TWO" and records["s0|ref"].token_stats
    assert model.scored == 1 and counts == {"done": 1, "skipped": 0, "errors": 2, "pending": 0}
    # the runner drops error records once per run, before the first job: within the run
    # the failed source is still there, and named as what it is
    assert "(s1) is an error record" in records["s1|ref"].error
    assert "(s9) is no record" in records["s9|ref"].error
