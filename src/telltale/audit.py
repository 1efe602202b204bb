"""The Audit interface every audit implements, and the registry that names them.

An audit is four things (the split inspect_ai makes between task, eval and score, and the
validate-before-fit habit of scikit-learn):

- a frozen :class:`AuditConfig` that validates itself when it is built: its fields are the
  options that define the run's protocol, so a resume may not change any of them;
- :meth:`Audit.prepare`: load and check the data before anything is written or loaded
  (a refused run leaves no directory), and :meth:`Audit.setup`: the model-free work that
  writes into the run (phase-1 baselines, defended media, people, adapters) once the
  model has opened;
- :meth:`Audit.jobs`: the probes to ask a model, in one or more :class:`Job`;
- :meth:`Audit.score`: metrics from the run directory alone (``records.jsonl`` and the files
  ``setup`` wrote), with a named scorer, so ``telltale score`` re-scores any run.

:mod:`telltale.runner` drives every audit the same way for the CLI, the demo and the
library API. A new audit is one package with a subclass of :class:`Audit` and one entry in
:data:`AUDITS`.
"""

from __future__ import annotations

import dataclasses
import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from telltale.models.base import DecodingConfig, TargetModel
    from telltale.probes import Probe
    from telltale.rundir import RunDir

#: audit name (as written in run.json) -> "module:Class" of its :class:`Audit`
AUDITS: dict[str, str] = {
    "attributes": "telltale.attributes.audit:AttributesAudit",
    "blind": "telltale.membership.blind_audit:BlindAudit",
    "membership": "telltale.membership.audit:MembershipAudit",
    "disclosure": "telltale.disclosure.audit:DisclosureAudit",
    "retention": "telltale.retention.audit:RetentionAudit",
    "mitigate": "telltale.mitigate.audit:MitigateAudit",
    "redaction": "telltale.mitigate.redaction_audit:RedactionAudit",
}

RULES = "rules"
#: longest clip an audio audit accepts unless told otherwise: Qwen2-Audio reads 30 s,
#: the calibration organism about 40 s, Audio Flamingo 3 up to 10 minutes
MAX_AUDIO_SECONDS = 60.0


class ConfigError(ValueError):
    """An option value the audit cannot run with; the message names the option."""


def option_name(name: str) -> str:
    """A config field as its command-line flag (``max_new_tokens`` -> ``--max-new-tokens``)."""
    return "--" + name.replace("_", "-")


def require(condition: bool, option: str, message: str) -> None:
    """Raise :class:`ConfigError` naming ``option`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{option_name(option)}: {message}")


def require_choices(values: Sequence[str], known: Iterable[str], option: str,
                    *, allow_empty: bool = False) -> None:
    """Every item of a list option must be one of ``known``."""
    known = tuple(known)
    unknown = [v for v in values if v not in known]
    require(not unknown, option, f"unknown {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(known)}")
    require(allow_empty or bool(values), option, f"give at least one of {', '.join(known)}")


@dataclass(frozen=True)
class AuditConfig:
    """The options that define an audit's protocol (the base every audit config extends).

    Subclasses add fields and extend :meth:`validate`; building a config validates it, so a
    bad value fails before a file is written or a model loaded. The fields are exactly what
    a resume must keep: :meth:`RunDir.check_config` compares them with ``run.json``.
    """

    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        require(isinstance(self.seed, int), "seed", f"must be an integer, got {self.seed!r}")
        require(self.limit is None or self.limit >= 1, "limit",
                f"must be a positive number of samples, got {self.limit}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-able values (paths as strings, tuples as lists)."""
        from telltale.records import json_safe

        return json_safe(dataclasses.asdict(self))


@dataclass(frozen=True)
class ClipsConfig(AuditConfig):
    """The base of audits over a manifest of clips: the manifest, whether bad rows are
    dropped or stop the run, and the longest clip accepted."""

    data: Path | None = None
    skip_bad_rows: bool = False
    max_audio_seconds: float = MAX_AUDIO_SECONDS

    def validate(self) -> None:
        super().validate()
        require(self.data is not None, "data", f"the {self.audit_name()} audit needs a manifest")
        require(self.max_audio_seconds > 0, "max_audio_seconds",
                f"must be positive, got {self.max_audio_seconds}")

    def audit_name(self) -> str:
        return type(self).__name__.removesuffix("Config").lower()


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out, as opposed to what it measures: these may differ on a
    resume (another batch size, cache or judge gives the same protocol)."""

    out: Path
    model: str | None = None
    batch_size: int = 8
    cache: Path | None = None
    no_cache: bool = False
    jobs: int = 2
    scorer: str = RULES
    max_failure_share: float = 0.5
    #: ``openai:`` endpoints only (a ``,name=value`` option in the spec wins over these)
    timeout: float | None = None
    retries: int | None = None
    concurrency: int | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size",
                f"must be at least 1, got {self.batch_size}")
        require(self.jobs >= 0, "jobs", f"must be 0 (every core) or more, got {self.jobs}")
        require(0.0 <= self.max_failure_share <= 1.0, "max_failure_share",
                f"must be a share between 0 and 1, got {self.max_failure_share}")
        require(self.timeout is None or self.timeout > 0, "timeout",
                f"must be a positive number of seconds, got {self.timeout}")
        require(self.retries is None or self.retries >= 0, "retries",
                f"must be 0 or more, got {self.retries}")
        require(self.concurrency is None or self.concurrency >= 1, "concurrency",
                f"must be at least 1, got {self.concurrency}")
        if self.model is not None:
            from telltale.models import check_spec

            check_spec(self.model)  # ModelSpecError (a ValueError) names the problem
        judge = parse_scorer(self.scorer)[1]
        if self.endpoint_options():
            specs = [s for s in (self.model, judge) if s]
            require(any(s.startswith("openai:") for s in specs), "timeout/retries/concurrency",
                    "apply to openai: endpoints only, and neither the model nor the judge "
                    "is one")

    def endpoint_options(self) -> dict[str, float | int]:
        """The ``openai:`` backend options given, under the backend's own names."""
        given = {"timeout": self.timeout, "max_retries": self.retries,
                 "concurrency": self.concurrency}
        return {name: value for name, value in given.items() if value is not None}


def parse_scorer(name: str) -> tuple[str, str | None]:
    """``rules`` or ``judge:<model spec>``, as (kind, judge spec)."""
    if name == RULES:
        return RULES, None
    kind, _, spec = name.partition(":")
    if kind != "judge" or not spec:
        raise ConfigError(f"--scorer: {name!r} is neither 'rules' nor 'judge:<model spec>'")
    return "judge", spec


@dataclass
class Job:
    """Probes asked of one model in one way.

    ``variant`` None means the target model as the user named it; any other value is opened
    by :meth:`Audit.open_variant` (e.g. a fine-tuned adapter of the target).
    """

    probes: list[Probe]
    desc: str = "probes"
    decoding: DecodingConfig | None = None
    with_stats: bool = False
    variant: str | None = None


@dataclass
class Prepared:
    """What :meth:`Audit.prepare` found: the data file the run is tied to (its hash goes in
    run.json), and the manifest rows left out, each as a reason naming the row."""

    data: Path | None = None
    problems: list[str] = field(default_factory=list)


class Audit(ABC):
    """Base class of every audit (see the module docstring)."""

    #: the name in run.json, the CLI command and the registry
    name: ClassVar[str]
    config_class: ClassVar[type[AuditConfig]]
    #: False for audits that never query a model (the blind baselines)
    uses_model: ClassVar[bool] = True
    #: scorer kinds :meth:`score` accepts ("rules", "judge")
    scorers: ClassVar[tuple[str, ...]] = (RULES,)

    def __init__(self, config: AuditConfig):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}")
        self.config = config

    def check_model(self, spec: str) -> None:
        """Refuse a model spec this audit cannot use, before anything is loaded (by
        default every spec is accepted)."""
        return None

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        """Load and check the data (and generate it where the audit makes its own, such
        as rendered forms); runs before the model is loaded. Anything slow or written only
        for the jobs belongs in :meth:`setup`."""
        return Prepared()

    def setup(self, run: RunDir, options: RunOptions) -> None:
        """Write what the jobs and scoring need into ``run`` (files of the resolved
        protocol, baselines, defended media, adapters): model-free work, often slow, run
        once the model has opened and ``run.json`` is written, so that a bad model spec or
        a dead endpoint stops the run before any of it. On a resume it re-uses what is
        there. By default nothing."""
        return None

    def jobs(self, run: RunDir) -> list[Job]:
        """The probes to ask, built from what :meth:`prepare` found and :meth:`setup`
        wrote."""
        return []

    def open_variant(self, variant: str, model: TargetModel, run: RunDir,
                     options: RunOptions) -> TargetModel:
        raise ConfigError(f"the {self.name} audit has no model variant {variant!r}")

    @abstractmethod
    def score(self, run: RunDir, scorer: str = RULES) -> dict[str, Any]:
        """Metrics from the run directory alone; writes records, tables and figures and
        returns the results (``summary``: headline rows with intervals, ``verdicts``,
        ``counts``), which the runner writes to ``results.json``."""


def audit_class(name: str) -> type[Audit]:
    """The :class:`Audit` registered under ``name``."""
    if name not in AUDITS:
        raise ConfigError(f"unknown audit {name!r}; known: {', '.join(AUDITS)}")
    module, _, cls = AUDITS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def from_run(run: RunDir) -> Audit:
    """The audit a run directory holds, with the config recorded in its run.json."""
    info = run.read_run_json()
    if not info:
        raise FileNotFoundError(f"{run.path}: no run.json; is this a telltale run directory?")
    cls = audit_class(str(info.get("audit")))
    names = {f.name: f for f in dataclasses.fields(cls.config_class)}
    recorded = info.get("config", {})
    values = {k: _from_json(v, names[k].type) for k, v in recorded.items() if k in names}
    return cls(cls.config_class(**values))


def _from_json(value: Any, annotation: Any) -> Any:
    """Undo :meth:`AuditConfig.to_dict` for the types configs use (lists back to tuples,
    path strings back to paths)."""
    text = str(annotation)
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, str) and "Path" in text:
        return Path(value)
    return value
