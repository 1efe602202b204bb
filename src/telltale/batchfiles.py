"""Requests out to batch files, answers back in: the batch-file route of a run, for sweeps
no server should hold open and for engines that take files (vLLM's ``run_batch``, hosted
batch APIs, Ray Data). A run on the route names its model ``openai:<served model>@batch,
capabilities=...``: no server is contacted; ``telltale batch read`` (:mod:`telltale.batch_cli`)
validates an output file and completes the run.

Files, in the run directory's ``batch/`` folder:

- ``requests-<n>.jsonl``: what an invocation left unanswered, one OpenAI Batch API request
  per line, ``{"custom_id": <probe key>, "method": "POST", "url": "/v1/chat/completions",
  "body": <the exact body the openai: backend would send>}``. ``n`` counts the run's
  invocations (run.json's ``resumed`` + 1);
- ``index.jsonl``: per request written, its ``custom_id``, file, stage (``generate`` or
  ``score``) and the sha256 of its body;
- ``answers.jsonl``: what ``telltale batch read`` accepted from output files: per answer
  its ``custom_id``, the sha256 of the request it answers, the output line's ``id``, and
  the reply body or the engine's error.

A probe whose requests are all answered becomes its record, built by the same functions as
over HTTP (:meth:`telltale.models.openai_api.OpenAIModel.read_generation`, ...); one
still waiting for an answer stays pending and is written again. Scoring a model's own
output (``with_stats`` where the engine gives no statistics with generation) needs the
generated text, so its scoring request goes in the file written after the generation is
read back. An answer that is an error (or a reply that cannot be read) becomes the probe's
error record and is used up: the next invocation writes the request again, as a resumed
live run asks its failed probes again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.models.base import DecodingConfig
from telltale.probes import Prepared, answered, plan
from telltale.records import Record
from telltale.rundir import RunDir

#: the only endpoint the route writes (and vLLM's run_batch and hosted batch APIs take)
URL = "/v1/chat/completions"


class BatchFileError(ValueError):
    """An output file that cannot be read into the run; the message names file and line."""


class BatchAnswerError(RuntimeError):
    """A request the engine answered with an error."""


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


class BatchFiles:
    """The batch files of one run directory (see the module docstring)."""

    def __init__(self, run: RunDir):
        self.run = run
        self.root = run.path / "batch"
        self.index_path = self.root / "index.jsonl"
        self.answers_path = self.root / "answers.jsonl"

    def written(self) -> dict[str, list[dict[str, Any]]]:
        """custom_id -> the requests written under it, in order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for entry in _lines(self.index_path):
            out.setdefault(entry["custom_id"], []).append(entry)
        return out

    def answers(self) -> tuple[dict[tuple[str, str], dict[str, Any]], set[tuple[str, str]]]:
        """(custom_id, request sha256) -> the answer not yet used up, and the (id,
        custom_id) of the output lines read so far."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        ids: set[tuple[str, str]] = set()
        for entry in _lines(self.answers_path):
            key = (entry["custom_id"], entry["sha256"])
            if entry.get("consumed"):
                found.pop(key, None)
                continue
            found[key] = entry
            if entry.get("id"):
                ids.add((entry["id"], entry["custom_id"]))
        return found, ids

    def append(self, path: Path, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class _Writer:
    """The requests file of this invocation, opened at the first pending request."""

    def __init__(self, files: BatchFiles):
        self.files = files
        self.count = 0
        self.path = files.root / f"requests-{files.run.read_run_json().get('resumed', 0) + 1}.jsonl"
        self._fh: Any = None
        self._index: list[dict[str, Any]] = []

    def write(self, custom_id: str, stage: str, body: bytes, digest: str) -> None:
        if self._fh is None:
            self.files.root.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 (closed by close())
        self._index.append({"custom_id": custom_id, "file": self.path.name, "stage": stage,
                            "sha256": digest})
        self._fh.write(b'{"custom_id":%s,"method":"POST","url":"%s","body":%s}\n'
                       % (json.dumps(custom_id).encode(), URL.encode(), body))
        self.count += 1

    def close(self) -> None:
        if self._fh is None:
            return
        # the index first: a request it lacks would be refused when its answer comes
        self.files.append(self.files.index_path, self._index)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        log.warning("%d requests written to %s: run them (vLLM's run_batch, a batch API) "
                    "and read the output back with: telltale batch read %s OUTPUT",
                    self.count, self.path, self.files.run.path)


def ask_by_batch_files(run: RunDir, prepared: Iterator[Prepared], model: Any,
                       decoding: DecodingConfig, with_stats: bool,
                       counts: dict[str, int]) -> Iterator[Record]:
    """Records of the probes whose requests are answered in the run's batch files; every
    other request is written to this invocation's requests file and counted in
    ``counts["pending"]``.

    Parameters
    ----------
    model : OpenAIModel
        ``openai:<model>@batch`` (or the response cache around it): it builds the bodies
        and reads the replies.
    """
    files = BatchFiles(run)
    found, _ = files.answers()
    writer = _Writer(files)
    consumed: list[dict[str, Any]] = []
    one_pass = "stats_on_generate" in model.capabilities
    try:
        for probe, request, error in prepared:
            if request is None:
                yield answered(probe, None, error, with_stats)
                continue
            planned = plan(probe, with_stats, one_pass)
            call, outcome = next(planned), None
            while outcome is None:
                try:
                    model.require(call.verb, [request])
                    if call.with_stats:
                        model.require("stats_on_generate")
                    body = (model.generation_body(request, decoding, call.with_stats)
                            if call.verb == "generate"
                            else model.score_body(request, call.continuation or ""))
                except Exception as exc:  # refused before anything is written
                    outcome = exc
                    break
                if body is None:  # a blank continuation needs no request
                    result: Any = model.blank_stats()
                else:
                    digest = _digest(body)
                    answer = found.get((probe.key, digest))
                    if answer is None:
                        writer.write(probe.key, call.verb, body, digest)
                        counts["pending"] += 1
                        break
                    try:
                        if answer.get("error") is not None:
                            raise BatchAnswerError(f"{model.model} in a batch file: "
                                                   f"{answer['error']}")
                        result = (model.read_generation(answer["body"], call.with_stats)
                                  if call.verb == "generate"
                                  else model.read_score(answer["body"], call.continuation or ""))
                    except Exception as exc:  # an error record; used up, so that the
                        outcome = exc  # next invocation sends it again (as a resume does)
                        consumed.append({"custom_id": probe.key, "sha256": digest,
                                         "consumed": True})
                        break
                try:
                    call = planned.send(result)
                except StopIteration as stop:
                    outcome = stop.value
            if outcome is not None:
                yield answered(probe, request, outcome, with_stats)
    finally:
        writer.close()
        files.append(files.answers_path, consumed)


def read_output(run: RunDir, path: Path, served: str) -> dict[str, int]:
    """Validate an output file of the run's requests and keep its answers for the run.

    Every line must be a Batch API output line (``custom_id``, ``response`` with
    ``status_code`` and ``body``, ``error``) answering a request this run wrote, from the
    model ``served`` (a hosted API's dated snapshot, ``served-2024-08-06``, counts as it).
    Nothing is kept unless every line is valid. A line already read (its ``id`` seen before)
    or answering a request already answered is skipped; a request without a line stays
    pending.

    Returns
    -------
    dict
        ``answers`` kept, of which ``errors``, and ``skipped`` lines.

    Raises
    ------
    BatchFileError
        Naming the file, the line and the problem: not JSON, not an output line, a
        ``custom_id`` this run never wrote (output of another run), another model.
    """
    files = BatchFiles(run)
    written = files.written()
    found, seen = files.answers()
    answered_now: set[tuple[str, str]] = set()
    kept: list[dict[str, Any]] = []
    skipped = 0
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            entry = _answer(line, where, written, served, run)
            custom_id = entry["custom_id"]
            if (entry.get("id"), custom_id) in seen:
                skipped += 1
                continue
            stage = _open_stage(written[custom_id], found, answered_now, custom_id)
            if stage is None or not _fits(stage, entry):
                skipped += 1  # answers a request already answered
                continue
            entry["sha256"] = stage["sha256"]
            answered_now.add((custom_id, stage["sha256"]))
            kept.append(entry)
            if entry.get("id"):
                seen.add((entry["id"], custom_id))
    files.append(files.answers_path, kept)
    return {"answers": len(kept), "errors": sum(e.get("error") is not None for e in kept),
            "skipped": skipped}


def _answer(line: str, where: str, written: dict[str, list[dict[str, Any]]], served: str,
            run: RunDir) -> dict[str, Any]:
    """One output line as an answer entry, or BatchFileError."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise BatchFileError(f"{where}: not JSON ({exc})") from None
    custom_id = data.get("custom_id") if isinstance(data, dict) else None
    if not isinstance(custom_id, str):
        raise BatchFileError(f"{where}: not a Batch API output line (no custom_id)")
    if custom_id not in written:
        raise BatchFileError(f"{where}: custom_id {custom_id!r} is no request of the run in "
                             f"{run.path}; is this the output of another run?")
    response = data.get("response")
    if response is not None and not isinstance(response, dict):
        raise BatchFileError(f"{where}: response is not an object")
    status = (response or {}).get("status_code")
    body = (response or {}).get("body")
    error = data.get("error")
    if status == 200 and error is None:
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise BatchFileError(f"{where}: status 200 without a chat completion body")
        model = str(body.get("model"))
        if model != served and not model.startswith(served + "-"):
            raise BatchFileError(f"{where}: answered by model {model!r}, not {served!r} that "
                                 "the run names; is this the output of another model?")
        return {"custom_id": custom_id, "id": data.get("id"), "body": body}
    reason = _reason(error, body) or "no reason given"
    return {"custom_id": custom_id, "id": data.get("id"),
            "error": f"HTTP {status}: {reason}" if status else reason}


def _reason(error: Any, body: Any) -> str | None:
    for holder in (error, body):
        if isinstance(holder, str) and holder:
            return holder
        if isinstance(holder, dict):
            inner = holder.get("error", holder)
            if isinstance(inner, str):
                return inner
            if isinstance(inner, dict) and inner.get("message"):
                return str(inner["message"])
    return None


def _open_stage(entries: list[dict[str, Any]], found: dict[tuple[str, str], Any],
                now: set[tuple[str, str]], custom_id: str) -> dict[str, Any] | None:
    """The latest request written under ``custom_id`` that has no answer yet."""
    for entry in reversed(entries):
        key = (custom_id, entry["sha256"])
        if key not in found and key not in now:
            return entry
    return None


def _fits(stage: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Whether an answer can be the reply to a request of ``stage``: a scoring reply holds
    the prompt's log-probabilities (an error fits any stage)."""
    body = entry.get("body")
    if body is None or stage.get("stage") != "score":
        return True
    return bool(body.get("prompt_logprobs") or body.get("telltale_stats"))


def pending(run: RunDir) -> dict[str, int]:
    """Requests written and not answered yet, and answers not used yet, in a run."""
    files = BatchFiles(run)
    found, _ = files.answers()
    open_requests = {(cid, e["sha256"]) for cid, entries in files.written().items()
                     for e in entries} - set(found)
    return {"requests_waiting": len({cid for cid, _ in open_requests}),
            "answers_kept": len(found)}
