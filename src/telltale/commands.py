"""Audit commands generated from the configs: each command's options are its config's
fields (:func:`telltale.config.option`) and the run options that apply to the audit, so a
default and a help text are written once, an option appears only where it works, and a new
audit is one registry line for the library and the command line alike."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from telltale.arguments import add_command, split_list
from telltale.audit import AUDITS, Audit, audit_class
from telltale.config import ConfigError, RunOptions, field_flag

#: the run options every command that runs an audit takes, and those that depend on it
RUN_FIELDS = ("out",)
MODEL_FIELDS = ("model", "batch_size", "cache", "no_cache", "max_failure_share", "timeout",
                "retries", "concurrency")
#: the run options of ``telltale score`` (the judge and how it is reached)
SCORE_FIELDS = ("judge", "batch_size", "cache", "no_cache", "timeout", "retries",
                "concurrency")


def _base_type(hint: Any) -> Any:
    """``int | None`` -> ``int``; ``tuple[str, ...]`` -> ``tuple``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _shown(value: Any) -> str | None:
    """A default as ``--help`` prints it (None: nothing to print)."""
    if value is None or value is False:
        return None
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "''"
    return str(value)


def cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a config class that the command line offers."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True)]


def add_fields(parser: argparse.ArgumentParser, fields: Iterable[tuple[type, dataclasses.Field]],
               defaults: dict[str, list[tuple[str, Any]]] | None = None,
               titles: dict[str, str] | None = None, required: Sequence[str] = ()) -> None:
    """One option per field, in help groups, with ``argparse.SUPPRESS`` as the parsed
    default (the config's own default applies when an option is not given, so it is
    written in one place; :func:`given_values` reads what was given).

    ``defaults`` maps a field to its (audit, default) pairs where a shared command's
    audits default it differently; ``titles`` names a field's help group."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for owner, field in fields:
        title = (titles or {}).get(field.name) or field.metadata.get("group") or "options"
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        hint = typing.get_type_hints(owner)[field.name]
        base = _base_type(hint)
        default = field.default
        text = field.metadata.get("help", "")
        pairs = (defaults or {}).get(field.name)
        if pairs and len({repr(v) for _, v in pairs}) > 1:
            shown = ", ".join(f"{_shown(v)} ({name})" for name, v in pairs if _shown(v))
        else:
            shown = _shown(default) if base is not bool else None
        if shown:
            text = f"{text} (default: {shown})".strip()
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS,
                                  "help": text.replace("%", "%%")}
        if base is bool:
            kwargs["action"] = "store_false" if default else "store_true"
            if default and not field.metadata.get("flag"):
                raise TypeError(f"{owner.__name__}.{field.name}: a boolean that defaults to "
                                "True needs a negating flag (option(..., flag='--no-...'))")
        else:
            kwargs["type"] = {tuple: str, Path: Path, int: int, float: float}.get(base, str)
            kwargs["metavar"] = field.metadata.get("metavar") or (
                "A,B,..." if base is tuple else None)
            if field.metadata.get("choices"):
                kwargs["choices"] = field.metadata["choices"]
        if field.name in required:
            kwargs["required"] = True
        groups[title].add_argument(field_flag(field), **kwargs)


def given_values(args: argparse.Namespace, classes: Iterable[type]) -> dict[str, Any]:
    """The options the user gave, by field name, as the configs take them (comma lists as
    tuples)."""
    hints: dict[str, Any] = {}
    for cls in classes:
        hints.update(typing.get_type_hints(cls))
    values = {}
    for name, value in vars(args).items():
        if name in hints:
            if _base_type(hints[name]) is tuple and isinstance(value, str):
                value = tuple(split_list(value))
            values[name] = value
    return values


def run_fields(audit: type[Audit]) -> list[str]:
    """The run options that work with ``audit``."""
    names = list(RUN_FIELDS)
    if audit.uses_model:
        names += MODEL_FIELDS
    if "judge" in audit.scorers:
        names.append("judge")
    if audit.uses_jobs:
        names.append("jobs")
    return names


def commands() -> dict[str, list[type[Audit]]]:
    """Each audit command and the audits it runs, in registry order."""
    out: dict[str, list[type[Audit]]] = {}
    for name in AUDITS:
        cls = audit_class(name)
        out.setdefault(cls.command or cls.name, []).append(cls)
    return out


def add_audit_command(subparsers: Any, command: str, audits: list[type[Audit]]) -> None:
    """The parser of one audit command, generated from its audits' configs."""
    first = audits[0]
    parser = add_command(subparsers, command, help=first.summary,
                         description=first.description or first.summary)
    run_options = {f.name: f for f in dataclasses.fields(RunOptions)}
    fields: dict[str, tuple[type, dataclasses.Field]] = {}
    defaults: dict[str, list[tuple[str, Any]]] = {}
    owners: dict[str, set[str]] = {}
    for audit in audits:
        for field in cli_fields(audit.config_class):
            fields.setdefault(field.name, (audit.config_class, field))
            defaults.setdefault(field.name, []).append((audit.name, field.default))
            owners.setdefault(field.name, set()).add(audit.name)
        for name in run_fields(audit):
            fields.setdefault(name, (RunOptions, run_options[name]))
            owners.setdefault(name, set()).add(audit.name)
    # an option of one audit of a shared command is shown under that audit's title
    titles = {name: audit.options_title for name, who in owners.items() if len(audits) > 1
              and len(who) == 1 for audit in audits if audit.name in who
              and audit.options_title}
    required = ["out"] + (["model"] if all(a.uses_model for a in audits) else [])
    order = sorted(fields.values(), key=lambda item: item[0] is not RunOptions)
    add_fields(parser, order, defaults, titles, required)
    parser.set_defaults(func=run_command, audits=audits)


def audit_from_args(args: argparse.Namespace) -> tuple[Audit, RunOptions]:
    """The audit and run options a parsed audit command asks for; options given that the
    chosen audit does not take are refused, naming the audit they belong to."""
    audits: list[type[Audit]] = args.audits
    values = given_values(args, [a.config_class for a in audits] + [RunOptions])
    chosen = [a for a in audits if a.claims(values)]
    if len(chosen) != 1:
        raise ConfigError(f"the options given fit {len(chosen)} of the audits "
                          f"{', '.join(a.name for a in audits)}")
    audit = chosen[0]
    config_names = {f.name for f in cli_fields(audit.config_class)}
    allowed = config_names | set(run_fields(audit))
    for name in values:
        if name not in allowed:
            owners = {a.name: f for a in audits for f in cli_fields(a.config_class)
                      if f.name == name}
            flag = field_flag(next(iter(owners.values())))
            raise ConfigError(f"{flag}: applies to the {' and '.join(owners)} audit, not to "
                              f"the {audit.name} audit that these options run")
    config = audit.config_class(**{k: v for k, v in values.items() if k in config_names})
    run_names = set(run_fields(audit))
    options = RunOptions(**{k: v for k, v in values.items() if k in run_names})
    return audit(config), options


def run_command(args: argparse.Namespace) -> int:
    """Run an audit as the CLI does: run, print the summary, return the exit status."""
    from telltale.rundir import RunDir
    from telltale.runner import print_summary, run_audit

    audit, options = audit_from_args(args)
    outcome = run_audit(audit, options)
    print_summary(outcome, RunDir(options.out))
    return outcome.status


def add_run_option_fields(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """Run options by name (``telltale score`` takes the judge's)."""
    by_name = {f.name: f for f in dataclasses.fields(RunOptions)}
    add_fields(parser, [(RunOptions, by_name[n]) for n in names])


def run_options_from_args(args: argparse.Namespace, **values: Any) -> RunOptions:
    """:class:`RunOptions` from the run options a command was given (and ``values``)."""
    return RunOptions(**{**given_values(args, [RunOptions]), **values})
