"""One runner for every audit: the CLI, ``telltale demo`` and the library API call it.

``run_audit`` opens the run directory, checks a resume against what it holds, prepares the
audit, opens the model, asks every job's probes, scores, writes the report and returns an
:class:`Outcome` whose exit code a script can trust. ``score_run`` re-scores any run from
its directory alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telltale.audit import (
    RULES,
    Audit,
    ConfigError,
    Job,
    RunOptions,
    from_run,
    parse_scorer,
)
from telltale.console import log
from telltale.credentials import redact_urls
from telltale.models.base import UnsupportedRequest
from telltale.probes import MediaLoader, run_probes
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


def open_model(options: RunOptions, spec: str | None = None, **backend: Any):
    """The model ``spec`` (default: the run's) names, wrapped in the response cache unless
    ``no_cache``; ``backend`` options go to the backend (e.g. a LoRA adapter)."""
    from telltale.cache import CachedModel, ResponseCache
    from telltale.models import load_model
    from telltale.options import default_cache_path

    spec = spec or options.model
    log.info("loading model %s", redact_urls(spec))
    if spec.startswith("openai:"):
        backend = {**options.endpoint_options(), **backend}
    model = load_model(spec, batch_size=options.batch_size, **backend)
    if options.no_cache:
        return model
    return CachedModel(model, ResponseCache(options.cache or default_cache_path()))


def run_audit(audit: Audit, options: RunOptions) -> Outcome:
    """Run ``audit`` into ``options.out`` (resuming what is there) and score it.

    Raises
    ------
    ConfigError
        An option the audit cannot use (raised before any file is written).
    ValueError
        A resume with another audit, config, model or data than the directory holds.
    """
    _check_scorer(audit, options.scorer)
    if audit.uses_model:
        if options.model is None:
            raise ConfigError(f"--model: the {audit.name} audit needs a model")
        audit.check_model(options.model)
    run = RunDir(options.out)
    run.check_config(audit.name, audit.config.to_dict())
    # prepare checks the data before it writes anything: a refused run leaves no directory
    prepared = audit.prepare(run, options)
    model = open_model(options) if audit.uses_model else None
    run.start(audit.name, audit.config.to_dict(), seed=audit.config.seed,
              model=redact_urls(options.model) if options.model else None,
              model_fingerprint=model.fingerprint if model is not None else None,
              fingerprint_aliases=getattr(model, "fingerprint_aliases", ()),
              data=prepared.data, manifest_problems=prepared.problems)
    for problem in prepared.problems:
        log.warning("skipped %s", problem)
    audit.setup(run, options)
    counts = {"done": 0, "skipped": 0, "errors": 0}
    pending = 0
    loader = MediaLoader(seed=audit.config.seed)
    variants: dict[str | None, Any] = {None: model}
    for job in audit.jobs(run):
        if job.variant not in variants:
            done = run.done_keys()
            if all(p.key in done for p in job.probes):  # no need to load that model
                counts["skipped"] += len(job.probes)
                continue
            variants[job.variant] = audit.open_variant(job.variant, model, run, options)
        if job.with_stats and "stats_on_generate" not in variants[job.variant].capabilities:
            _require_statistics(variants[job.variant], job)
        got = run_probes(run, job.probes, variants[job.variant], decoding=job.decoding,
                         with_stats=job.with_stats, batch_size=options.batch_size,
                         loader=loader, desc=job.desc)
        counts = {k: counts[k] + got[k] for k in counts}
        pending += got.get("pending", 0)
    if pending:  # scored once the batch files are answered (telltale batch read)
        return Outcome({"audit": audit.name}, {**counts, "pending": pending})
    results = score_run(run, audit, options.scorer)
    asked = sum(counts.values())
    failed = counts["errors"] > 0 and (
        counts["done"] + counts["skipped"] == 0
        or counts["errors"] / asked > options.max_failure_share)
    outcome = Outcome(results, counts, status=1 if failed else 0)
    run.finish(counts=counts, outcome=outcome.line)
    from telltale.report import write_report

    write_report(run.path)
    return outcome


def _require_statistics(model: Any, job: Job) -> None:
    """Stop before the first probe of a job that needs per-token statistics from a model
    that can neither return them with its text nor score a continuation (a closed API):
    every probe would fail the same way."""
    try:
        model.require("score")
    except UnsupportedRequest as exc:
        raise UnsupportedRequest(f"{job.desc} need per-token statistics (log-probabilities), "
                                 f"which this model does not return: {exc}") from None


def score_run(run: RunDir, audit: Audit | None = None, scorer: str = RULES) -> dict[str, Any]:
    """Score a run from its directory alone and write ``results.json``."""
    audit = audit or from_run(run)
    _check_scorer(audit, scorer)
    results = audit.score(run, scorer)
    results["audit"] = audit.name
    results["scorer"] = scorer
    results["manifest_problems"] = run.read_run_json().get("manifest_problems", [])
    run.write_results(results)
    return results


def _check_scorer(audit: Audit, scorer: str) -> None:
    kind, _ = parse_scorer(scorer)
    if kind not in audit.scorers:
        raise ConfigError(f"--judge: the {audit.name} audit scores with "
                          f"{', '.join(audit.scorers)} only")


def print_summary(outcome_or_results: Outcome | dict[str, Any], run: RunDir) -> None:
    """The headline rows, the verdicts and where the results are, on stdout."""
    outcome = outcome_or_results if isinstance(outcome_or_results, Outcome) else None
    results = outcome.results if outcome else outcome_or_results
    from telltale.tables import format_estimate

    for row in results.get("summary", []):
        text = format_estimate(row)
        control = f"  ({row['control']})" if row.get("control") else ""
        print(f"{row['metric']}: {text}{control}")
    for verdict in results.get("verdicts", []):
        print(verdict["text"])
    if outcome is not None:
        print(outcome.line)
    if run.results_path.exists():
        print(f"results: {run.results_path}\nreport:  {run.path / 'report.html'}")
