"""One runner for every audit: the CLI, ``telltale demo`` and the library API call it.

``run_audit`` checks the options, opens the run directory, checks a resume against what it
holds, prepares the audit, opens the model, asks every job's probes, scores, writes the
report and returns an :class:`Outcome` whose exit code a script can trust. ``score_run``
re-scores any run from its directory alone. The bookkeeping is done here once per run for
every audit: error records of an earlier attempt are dropped (and retried) once, before the
first job; records are loaded once to score, parsed by the audit's per-record scorer and
written back once; errors and counts are added to the results the same way for all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telltale.audit import STATISTICS, Audit, from_run, require_capability
from telltale.config import ConfigError, RunOptions, config_flags, parse_scorer
from telltale.console import log
from telltale.credentials import redact_urls
from telltale.dispatch import run_probes
from telltale.models.base import TargetModel
from telltale.probes import MediaLoader
from telltale.records import Record
from telltale.rundir import RunDir


@dataclass
class Outcome:
    """How a run ended: probe counts and the exit status they imply.

    A run with probes to ask fails (status 1) when none succeeded, or when the share of
    failed probes exceeds ``RunOptions.max_failure_share``."""

    results: dict[str, Any]
    counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "skipped": 0,
                                                            "errors": 0})
    status: int = 0

    @property
    def line(self) -> str:
        c = self.counts
        asked = c["done"] + c["skipped"] + c["errors"]
        dropped = len(self.results.get("manifest_problems", []))
        text = (f"{self.results.get('audit')}: {asked} probes, {c['done']} done now, "
                f"{c['skipped']} already recorded, {c['errors']} failed")
        if dropped:
            text += f"; {dropped} manifest rows dropped"
        if c.get("pending"):
            text += f"; {c['pending']} requests waiting in batch files"
        return text + ("" if self.status == 0 else " - FAILED")


def open_model(options: RunOptions, spec: str | None = None, **backend: Any) -> TargetModel:
    """The model ``spec`` (default: the run's) names, wrapped in the response cache unless
    ``no_cache``; ``backend`` options go to the backend (e.g. a LoRA adapter). Judges and
    reference models are opened here too, so they get the same cache and endpoint
    options."""
    from telltale.cache import CachedModel, ResponseCache, default_cache_path
    from telltale.models import load_model

    spec = spec or options.model
    log.info("loading model %s", redact_urls(spec))
    if spec.startswith("openai:"):
        backend = {**options.endpoint_options(), **backend}
    model = load_model(spec, batch_size=options.batch_size, **backend)
    if options.no_cache:
        return model
    return CachedModel(model, ResponseCache(options.cache or default_cache_path()))


def check_options(audit: Audit, options: RunOptions) -> None:
    """Refuse options the audit cannot run with, before anything is read or written."""
    _check_scorer(audit, options)
    RunDir(options.out).check_writable()
    if audit.uses_model:
        if options.model is None:
            raise ConfigError(f"--model: the {audit.name} audit needs a model")
        audit.check_model(options.model)


def run_audit(audit: Audit, options: RunOptions) -> Outcome:
    """Run ``audit`` into ``options.out`` (resuming what is there) and score it.

    The run directory has one writer: this process holds its lock from the first look at
    an existing directory (or from its creation) to the end.

    Raises
    ------
    ConfigError
        An option the audit cannot use (raised before any file is written).
    ValueError
        A resume with another audit, config, model, data or media than the directory
        holds; a run directory another process is writing (:class:`RunInUse`).
    """
    check_options(audit, options)
    run = RunDir(options.out)
    try:
        return _run(audit, options, run)
    finally:
        run.unlock()


def _run(audit: Audit, options: RunOptions, run: RunDir) -> Outcome:
    run.lock()
    run.check_config(audit.name, audit.config.to_dict(), config_flags(type(audit.config)))
    run.check_media()
    # prepare checks the data before it writes anything: a refused run leaves no directory
    prepared = audit.prepare(run, options)
    model = open_model(options) if audit.uses_model else None
    if model is not None:  # refused here, a model the jobs cannot use leaves nothing behind
        audit.admit(model)
    run.start(audit.name, audit.config.to_dict(), seed=audit.config.seed,
              model=redact_urls(options.model) if options.model else None,
              model_fingerprint=model.fingerprint if model is not None else None,
              fingerprint_aliases=getattr(model, "fingerprint_aliases", ()),
              data=prepared.data, manifest_problems=prepared.problems)
    for problem in prepared.problems:
        log.warning("skipped %s", problem)
    audit.setup(run, options)
    counts = _ask(audit, run, model, options)
    pending = counts.pop("pending")
    if pending:  # scored once the batch files are answered (telltale batch read)
        return Outcome({"audit": audit.name}, {**counts, "pending": pending})
    results = score_run(run, audit, options)
    asked = sum(counts.values())
    failed = counts["errors"] > 0 and (
        counts["done"] + counts["skipped"] == 0
        or counts["errors"] / asked > options.max_failure_share)
    outcome = Outcome(results, counts, status=1 if failed else 0)
    run.finish(counts=counts, outcome=outcome.line,
               max_failure_share=options.max_failure_share)
    from telltale.report import write_report

    write_report(run.path)
    return outcome


def _ask(audit: Audit, run: RunDir, model: TargetModel | None,
         options: RunOptions) -> dict[str, int]:
    """Every job's probes not yet recorded. The failures of an earlier attempt are dropped
    once, here, so that they are asked again; the failures of this attempt are kept, job
    after job, for the report. ``pending`` counts requests written to batch files and not
    answered yet."""
    run.drop_errors()
    done = run.done_keys()
    counts = {"done": 0, "skipped": 0, "errors": 0, "pending": 0}
    loader = MediaLoader(seed=audit.config.seed)
    variants: dict[str | None, Any] = {None: model}
    for job in audit.jobs(run):
        if job.variant not in variants:
            if all(p.key in done for p in job.probes):  # no need to load that model
                counts["skipped"] += len(job.probes)
                continue
            variants[job.variant] = audit.open_variant(job.variant, model, run, options)
        if job.with_stats:
            require_capability(variants[job.variant], STATISTICS, job.desc)
        got = run_probes(run, job.probes, variants[job.variant], done=done,
                         decoding=job.decoding, with_stats=job.with_stats,
                         batch_size=options.batch_size, loader=loader, desc=job.desc)
        counts = {k: counts[k] + got.get(k, 0) for k in counts}
    return counts


def score_run(run: RunDir, audit: Audit | None = None,
              options: RunOptions | None = None) -> dict[str, Any]:
    """Score a run from its directory alone and write ``results.json``.

    The records are loaded once; those that did not fail go through the audit's per-record
    scorer (a judge named in ``options`` is opened like any model: cached, with the
    endpoint options), the audit's metrics see them, and they are written back once; the
    errors and counts are added here. The run is locked meanwhile (one writer per run)."""
    with run.locked():
        return _score(run, audit, options)


def _score(run: RunDir, audit: Audit | None, options: RunOptions | None) -> dict[str, Any]:
    audit = audit or from_run(run)
    options = options or RunOptions(out=run.path)
    _check_scorer(audit, options)
    records = run.records()
    ok = [r for r in records if r.error is None]
    judge = open_model(options, spec=options.judge) if options.judge else None
    scorer = audit.scorer(run, judge)
    if scorer is not None:
        scorer(ok)
    found = audit.metrics(run, ok)  # may add per-record scores too (an attack's score)
    if any(r.parsed_by for r in ok) or (run.path / "labels.jsonl").exists():
        # human labels in the run: the scorer's agreement with them, and the headline
        # rates and verdicts corrected for its error; two kept parses: their agreement
        from telltale.annotation.correct import carry_in

        found = carry_in(audit.name, run, ok, found)
    if records:
        run.rewrite_records(records)
    results: dict[str, Any] = {"audit": audit.name, "scorer": options.scorer,
                               **found.to_dict()}
    if judge is not None:
        results["judge_fingerprint"] = judge.fingerprint
    # errors of the records, and of model-free work an audit reports (features of a clip)
    results["errors"] = [*errors_of(records), *found.details.get("errors", [])]
    results["counts"] = {"records": len(records), "errors": len(results["errors"]),
                         "samples": len({r.sample_id for r in records}),
                         **found.details.get("counts", {})}
    results["manifest_problems"] = run.read_run_json().get("manifest_problems", [])
    run.write_results(results)
    return results


def _check_scorer(audit: Audit, options: RunOptions) -> None:
    kind, _ = parse_scorer(options.scorer)
    if kind not in audit.scorers:
        raise ConfigError(f"--judge: the {audit.name} audit scores with "
                          f"{', '.join(audit.scorers)} only")


def errors_of(records: list[Record]) -> list[dict[str, Any]]:
    """The failed records as the report lists them."""
    return [{"key": r.key, "sample_id": r.sample_id, "error": r.error}
            for r in records if r.error]


def print_summary(outcome_or_results: Outcome | dict[str, Any], run: RunDir) -> None:
    """The headline rows, the verdicts and where the results are, on stdout."""
    from telltale.findings import SummaryRow, Verdict
    from telltale.tables import format_estimate

    outcome = outcome_or_results if isinstance(outcome_or_results, Outcome) else None
    results = outcome.results if outcome else outcome_or_results
    for row in map(SummaryRow.from_dict, results.get("summary", [])):
        control = f"  ({row.control})" if row.control else ""
        print(f"{row.metric}: {format_estimate(row.to_dict())}{control}")
    for verdict in map(Verdict.from_dict, results.get("verdicts", [])):
        print(f"{verdict.name}: {verdict.text}")
    if outcome is not None:
        print(outcome.line)
    if run.results_path.exists():
        print(f"results: {run.results_path}\nreport:  {run.path / 'report.html'}")
