"""``telltale batch``: read an engine's output file back into a batch-file run.

    telltale attributes --model 'openai:qwen2-audio@batch,capabilities=generate+audio' \\
        --data voices.csv --out runs/attr          # writes runs/attr/batch/requests-1.jsonl
    python -m vllm.entrypoints.openai.run_batch -i runs/attr/batch/requests-1.jsonl \\
        -o out-1.jsonl --model Qwen/Qwen2-Audio-7B-Instruct --served-model-name qwen2-audio
    telltale batch read runs/attr out-1.jsonl     # records, results, report; requests-2
    telltale batch status runs/attr

``read`` completes the run from its directory (the audit and config in run.json), so run
it from the folder the run was started in when the manifest path was relative.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from telltale.arguments import add_command

if TYPE_CHECKING:
    from telltale.rundir import RunDir


def _batch_run(args: argparse.Namespace) -> tuple[RunDir, str, str]:
    """The run directory, its model spec and the served model it names; refuses a run
    that is not on the batch-file route."""
    from telltale.models.openai_spec import BATCH, parse_openai_spec
    from telltale.rundir import RunDir

    run = RunDir(args.run_dir)
    info = run.read_run_json()
    if not info:
        raise FileNotFoundError(f"{run.path}: no run.json; is this a telltale run directory?")
    spec = str(info.get("model") or "")
    served, target, _ = parse_openai_spec(spec.removeprefix("openai:")) \
        if spec.startswith("openai:") else ("", "", {})
    if target != BATCH:
        raise ValueError(f"{run.path} is no batch-file run: its model is {spec or 'none'}, "
                         f"not openai:<model>@{BATCH}")
    return run, spec, served


def _complete(run: RunDir, spec: str) -> int:
    """Resume the run from its directory: answered probes become records, the rest is
    written to the next requests file; then score and report."""
    from telltale.audit import from_run
    from telltale.config import RunOptions
    from telltale.runner import print_summary, run_audit

    audit = from_run(run)
    data = getattr(audit.config, "data", None)
    if data is not None and not Path(data).exists():
        raise FileNotFoundError(f"{data} (the run's manifest) not found from {Path.cwd()}; run "
                                "telltale batch from the folder the run was started in")
    outcome = run_audit(audit, RunOptions(out=run.path, model=spec, no_cache=True))
    print_summary(outcome, run)
    return outcome.status


def cmd_read(args: argparse.Namespace) -> int:
    from telltale.batchfiles import pending, read_output

    run, spec, served = _batch_run(args)
    for output in args.outputs:
        got = read_output(run, output, served)
        print(f"{output}: {got['answers']} answers kept ({got['errors']} errors), "
              f"{got['skipped']} lines already read")
    status = _complete(run, spec)
    left = pending(run)["requests_waiting"]
    print(f"batch: {left} requests waiting for an answer" if left else "batch: nothing pending")
    return status


def cmd_write(args: argparse.Namespace) -> int:
    run, spec, _ = _batch_run(args)
    return _complete(run, spec)


def cmd_status(args: argparse.Namespace) -> int:
    from telltale.batchfiles import pending

    run, _, _ = _batch_run(args)
    state = pending(run)
    print(f"{run.path}: {state['requests_waiting']} requests waiting for an answer, "
          f"{len(run.done_keys())} probes recorded")
    return 0


def register(subparsers) -> None:
    parser = add_command(subparsers, "batch",
                         help="batch files (OpenAI Batch API format) for a run whose model is "
                              "openai:<model>@batch")
    sub = parser.add_subparsers(dest="batch_command", metavar="ACTION", required=True)
    read = add_command(sub, "read", help="read output files back into the run and complete "
                                          "it (the rest goes into the next requests file)")
    read.add_argument("run_dir", type=Path)
    read.add_argument("outputs", type=Path, nargs="+", metavar="OUTPUT")
    read.set_defaults(func=cmd_read)
    write = add_command(sub, "write", help="write the run's pending requests to a new file")
    write.add_argument("run_dir", type=Path)
    write.set_defaults(func=cmd_write)
    status = add_command(sub, "status", help="what a batch-file run is waiting for")
    status.add_argument("run_dir", type=Path)
    status.set_defaults(func=cmd_status)
