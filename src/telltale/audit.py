"""The Audit interface every audit implements, and the registry that names them.

An audit is a few small things (the split inspect_ai makes between task, solver, scorer
and metrics, and the validate-before-fit habit of scikit-learn):

- a frozen :class:`~telltale.config.AuditConfig` that validates its values when it is built
  (no I/O): its fields are the options that define the run's protocol, so a resume may not
  change any of them, and the command line is generated from them;
- :meth:`Audit.prepare`: resolve the files the options name and load and check the data
  before anything is written or loaded (a refused run leaves no directory), and
  :meth:`Audit.setup`: the model-free work that writes into the run (the resolved protocol
  files, phase-1 baselines, defended media, people, adapters) once the model has opened;
- :meth:`Audit.jobs`: the probes to ask a model, in one or more :class:`Job`;
- :meth:`Audit.scorer`: a per-record scorer (:mod:`telltale.scorers`) that parses each
  stored reply, usable alone and by composite audits; and :meth:`Audit.metrics`: figures,
  typed verdicts and headline rows (:mod:`telltale.findings`) over the scored records,
  from the run directory alone, so ``telltale score`` re-scores any run.

:mod:`telltale.runner` drives every audit the same way for the CLI, the demo and the
library API: it loads, counts, rewrites and drops error records, opens the model and the
judge. A new audit is one package with a subclass of :class:`Audit` and one entry in
:data:`AUDITS`; its command is generated from its config (:mod:`telltale.arguments`).
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from telltale.config import RULES, AuditConfig, ConfigError

if TYPE_CHECKING:
    from telltale.config import RunOptions
    from telltale.findings import Results
    from telltale.models.base import DecodingConfig, TargetModel
    from telltale.probes import Probe
    from telltale.records import Record, Sample
    from telltale.rundir import RunDir
    from telltale.scorers import Scorer

#: what :meth:`Audit.needs` may name besides a backend's capabilities: per-token
#: statistics, which a backend returns with the generated text or by scoring it afterwards
STATISTICS = "statistics"

#: audit name (as written in run.json) -> "module:Class" of its :class:`Audit`; the order
#: is the order of the commands in ``telltale --help``
AUDITS: dict[str, str] = {
    "attributes": "telltale.attributes.audit:AttributesAudit",
    "membership": "telltale.membership.audit:MembershipAudit",
    "blind": "telltale.membership.blind_audit:BlindAudit",
    "disclosure": "telltale.disclosure.audit:DisclosureAudit",
    "retention": "telltale.retention.audit:RetentionAudit",
    "mitigate": "telltale.mitigate.audit:MitigateAudit",
    "redaction": "telltale.mitigate.redaction_audit:RedactionAudit",
}


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

    #: the name in run.json and the registry
    name: ClassVar[str]
    config_class: ClassVar[type[AuditConfig]]
    #: the command that runs it, when several audits share one (``mitigate`` runs the voice
    #: and the form mitigation audits; :meth:`claims` tells which); None: its own name
    command: ClassVar[str | None] = None
    #: one line for ``telltale --help``, and the longer text of the command's ``--help``
    summary: ClassVar[str] = ""
    description: ClassVar[str | None] = None
    #: the title of the options only this audit takes, in a shared command's --help
    options_title: ClassVar[str | None] = None
    #: False for audits that never query a model (the blind baselines)
    uses_model: ClassVar[bool] = True
    #: True for audits with model-free work spread over processes (``--jobs``)
    uses_jobs: ClassVar[bool] = False
    #: scorer kinds :meth:`scorer` accepts ("rules", "judge")
    scorers: ClassVar[tuple[str, ...]] = (RULES,)

    def __init__(self, config: AuditConfig):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}")
        self.config = config

    @classmethod
    def claims(cls, values: Mapping[str, Any]) -> bool:
        """Whether this audit is the one a shared command runs, given the option values the
        user gave (by field name); raise :class:`ConfigError` for values that fit none."""
        return True

    def check_model(self, spec: str) -> None:
        """Refuse a model spec this audit cannot use, before anything is loaded (by
        default every spec is accepted)."""
        return None

    def needs(self) -> dict[str, str]:
        """What the jobs ask of the target model beyond text, as capability (one of
        :data:`telltale.models.base.CAPABILITIES`, or :data:`STATISTICS`) -> the probes
        that need it, in words; by default nothing."""
        return {}

    def admit(self, model: TargetModel) -> None:
        """Check the target model once it has opened, before ``run.json``, :meth:`setup`
        or any probe: refuse a model without what :meth:`needs` names, so that a run it
        cannot serve stops at once and leaves nothing behind. An audit that asks a model
        the way the model says it must be asked (a calibration organism's card) learns it
        here too.

        Raises
        ------
        telltale.models.base.UnsupportedRequest
            Naming the probes and what the model lacks.
        """
        for capability, what in self.needs().items():
            require_capability(model, capability, what)

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        """Resolve the files the options name and load and check the data (and generate it
        where the audit makes its own, such as rendered forms, in memory); runs before the
        model is loaded and writes nothing. Anything slow or written only for the jobs
        belongs in :meth:`setup`."""
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

    def media_probe(self, record: Record, sample: Sample) -> Probe | None:
        """The probe ``record`` was asked with, rebuilt for ``sample``, where what the model
        got is no file of its own (silence or noise of the clip's length): the sample
        browser re-creates that media through :class:`telltale.probes.MediaLoader`, as the
        probes made it. None where the record's media file is what the model got."""
        from telltale.media.conditions import CONDITIONS
        from telltale.probes import Probe

        condition = record.probe.get("condition", "original")
        if condition == "original" or condition not in CONDITIONS:
            return None
        return Probe(key=record.key, sample=sample, text=record.prompt or "",
                     system=record.system, condition=condition)

    def scorer(self, run: RunDir, judge: TargetModel | None = None) -> Scorer | None:
        """The per-record scorer that parses stored replies (with ``judge`` when one is
        given and :attr:`scorers` has "judge"); None when records need no parsing."""
        return None

    @abstractmethod
    def metrics(self, run: RunDir, records: list[Record]) -> Results:
        """Figures over the scored records that did not fail (from the run directory
        alone: the records and the files :meth:`setup` wrote), with the tables and figures
        written into the run; the runner adds errors and counts."""


def require_capability(model: TargetModel, capability: str, what: str) -> None:
    """Raise :class:`~telltale.models.base.UnsupportedRequest` unless ``model`` can do
    ``capability`` for ``what`` (the probes that need it). :data:`STATISTICS` needs either
    statistics on generate or scoring (a second pass over the generated text)."""
    from telltale.models.base import UnsupportedRequest

    try:
        if capability != STATISTICS:
            model.require(capability)
        elif "stats_on_generate" not in model.capabilities:
            model.require("score")
    except UnsupportedRequest as exc:
        need = ("per-token statistics (log-probabilities)" if capability == STATISTICS
                else repr(capability))
        raise UnsupportedRequest(f"{what} need {need}, which this model does not return: "
                                 f"{exc}") from None


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
    hints = typing.get_type_hints(cls.config_class)
    names = {f.name for f in dataclasses.fields(cls.config_class)}
    recorded = info.get("config", {})
    values = {k: _from_json(v, hints[k]) for k, v in recorded.items() if k in names}
    return cls(cls.config_class(**values))


def _from_json(value: Any, annotation: Any) -> Any:
    """Undo :meth:`AuditConfig.to_dict` for the types configs use (lists back to tuples,
    path strings back to paths)."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, str) and Path in (*typing.get_args(annotation), annotation):
        return Path(value)
    return value
