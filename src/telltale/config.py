"""What a run is told: an audit's protocol (:class:`AuditConfig`) and how the run is carried
out (:class:`RunOptions`), both validated when they are built, with no I/O.

Every field that a user may set carries its help text in its metadata (:func:`option`), so
the command line is generated from these classes (:mod:`telltale.arguments`) and a default
is written once. A bad value raises :class:`ConfigError` naming the option as its flag,
before a file is written or a model loaded; what needs a file (a taxonomy, a prompts file)
is checked by the audit's ``prepare``, which runs before the model opens too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RULES = "rules"
#: longest clip an audio audit accepts unless told otherwise: Qwen2-Audio reads 30 s,
#: the calibration organism about 40 s, Audio Flamingo 3 up to 10 minutes
MAX_AUDIO_SECONDS = 60.0


class ConfigError(ValueError):
    """An option value the audit cannot run with; the message names the option."""


def option_name(name: str) -> str:
    """A config field as its command-line flag (``max_new_tokens`` -> ``--max-new-tokens``)."""
    return "--" + name.replace("_", "-")


def field_flag(field: dataclasses.Field) -> str:
    """The command-line flag of a config field (``silence_control`` -> ``--no-silence``)."""
    return field.metadata.get("flag") or option_name(field.name)


def config_flags(cls: type) -> dict[str, str]:
    """Field name -> command-line flag, for every field of a config class."""
    return {f.name: field_flag(f) for f in dataclasses.fields(cls)}


def option(default: Any, help: str = "", *, flag: str | None = None,
           metavar: str | None = None, group: str | None = None,
           choices: Sequence[str] | None = None) -> Any:
    """A config field with what the command line needs to offer it.

    Parameters
    ----------
    default : Any
        The field's default, the only place it is written.
    help : str
        The ``--help`` text (the default is appended to it).
    flag : str, optional
        The flag when it is not the field's name as a flag: a boolean that defaults to True
        is offered as its negation (``silence_control`` as ``--no-silence``).
    metavar, group, choices
        As argparse takes them; ``group`` names the help section.
    """
    meta = {"help": help, "flag": flag, "metavar": metavar, "group": group,
            "choices": tuple(choices) if choices else None}
    return field(default=default, metadata=meta)


def internal(default: Any) -> Any:
    """A config field that is not a command-line option (set by the library or a command
    that builds the config itself)."""
    return field(default=default, metadata={"cli": False})


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


def require_distinct(values: Sequence[str], option: str) -> None:
    """A list option names nothing twice."""
    twice = sorted({v for v in values if list(values).count(v) > 1})
    require(not twice, option, f"{', '.join(map(repr, twice))} given twice")


@dataclass(frozen=True)
class AuditConfig:
    """The options that define an audit's protocol (the base every audit config extends).

    Subclasses add fields (with :func:`option`) and extend :meth:`validate`, which checks
    values alone and reads no file; building a config validates it. The fields are exactly
    what a resume must keep: :meth:`RunDir.check_config` compares them with ``run.json``.
    """

    seed: int = option(0, "seeds every random draw: splits, noise, voices, bootstrap, "
                          "shuffles", group="run")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        require(isinstance(self.seed, int), "seed", f"must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-able values (paths as strings, tuples as lists)."""
        from telltale.records import json_safe

        return json_safe(dataclasses.asdict(self))


@dataclass(frozen=True)
class ClipsConfig(AuditConfig):
    """The base of audits over a manifest of clips: the manifest, how many of its rows,
    whether bad rows are dropped or stop the run, and the longest clip accepted."""

    data: Path | None = option(None, "CSV, JSONL or Parquet manifest (see README)",
                               metavar="MANIFEST", group="run")
    limit: int | None = option(None, "audit N samples drawn at random with --seed (half "
                                     "members, half non-members where the audit compares "
                                     "them)", group="run")
    skip_bad_rows: bool = option(False, "drop unusable manifest rows (recorded in results) "
                                        "instead of stopping", group="run")
    max_audio_seconds: float = option(
        MAX_AUDIO_SECONDS, "longer clips are manifest problems (Qwen2-Audio reads 30 s, the "
                           "calibration organism about 40 s)", group="run")

    def validate(self) -> None:
        super().validate()
        require(self.data is not None, "data", f"the {self.audit_name()} audit needs a manifest")
        require(self.limit is None or self.limit >= 1, "limit",
                f"must be a positive number of samples, got {self.limit}")
        require(self.max_audio_seconds > 0, "max_audio_seconds",
                f"must be positive, got {self.max_audio_seconds}")

    def audit_name(self) -> str:
        return type(self).__name__.removesuffix("Config").lower()


ENDPOINT = "openai: endpoint (a ,name=value option in the spec wins over these)"


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out, as opposed to what it measures: these may differ on a
    resume (another batch size, cache or judge gives the same protocol)."""

    out: Path = option(None, "run directory (resumable)", group="run")
    model: str | None = option(
        None, "hf:<dir> | openai:<model>@<base_url> | organism:<dir> | "
              "docassistant:<ocr engine>", metavar="SPEC", group="model")
    batch_size: int = option(8, "forward batch of in-process models (hf, organism, "
                                "docassistant)", group="model")
    cache: Path | None = option(None, "response cache (when not given: "
                                      "$TELLTALE_CACHE or ~/.cache/telltale/"
                                      "responses.sqlite)", group="model")
    no_cache: bool = option(False, "always query the model", group="model")
    jobs: int = option(2, "processes for the model-free work (features, shuffles, defences, "
                          "OCR); 0: every core", group="run")
    judge: str | None = option(None, "score the replies with this LLM judge (a model spec) "
                                     "instead of the rules", metavar="MODEL_SPEC",
                               group="model")
    max_failure_share: float = option(
        0.5, "exit non-zero when more than this share of probes failed (a run with no "
             "successful probe always does)", group="run")
    timeout: float | None = option(None, "seconds per HTTP request before it is retried "
                                         "(backend default 60)", metavar="SECONDS",
                                   group=ENDPOINT)
    retries: int | None = option(None, "retries of a request on 429, 408, 5xx and timeouts "
                                       "(backend default 5); refused connections and 404s "
                                       "are never retried", group=ENDPOINT)
    concurrency: int | None = option(None, "most requests in flight at once (backend "
                                           "default 8)", group=ENDPOINT)

    def __post_init__(self) -> None:
        require(self.out is not None, "out", "name the run directory")
        object.__setattr__(self, "out", Path(self.out))
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
        for name in ("model", "judge"):
            if getattr(self, name) is not None:
                from telltale.models import ModelSpecError, check_spec

                try:
                    check_spec(getattr(self, name))
                except ModelSpecError as exc:
                    raise ConfigError(f"{option_name(name)}: {exc}") from None
        if self.endpoint_options():
            specs = [s for s in (self.model, self.judge) if s]
            require(any(s.startswith("openai:") for s in specs), "timeout/retries/concurrency",
                    "apply to openai: endpoints only, and neither the model nor the judge "
                    "is one")

    @property
    def scorer(self) -> str:
        """The scorer's name as results record it: ``rules`` or ``judge:<model spec>``."""
        return f"judge:{self.judge}" if self.judge else RULES

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
        raise ConfigError(f"--judge: {name!r} is neither 'rules' nor 'judge:<model spec>'")
    return "judge", spec
