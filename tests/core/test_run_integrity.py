"""Runs that cannot be corrupted: one writer per run directory (a second process is refused
with a clear message; a killed holder leaves nothing stuck), duplicate records of an
earlier damaged run ignored, an ``--out`` that cannot be written refused before the model
opens.

The holder of a lock is a real second Python process, because the lock is between
processes. The target model is a scripted stand-in (no weights are needed to test the
bookkeeping); every real backend is exercised by the backend and end-to-end tests.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from telltale.cli import main
from telltale.models.base import BaseModel, Generation
from telltale.records import Record
from telltale.rundir import RunDir

HOLD = textwrap.dedent("""
    import sys, time
    from telltale.rundir import RunDir
    run = RunDir(sys.argv[1])
    if sys.argv[2] == "start":
        run.start("attributes", {})
    else:
        run.lock()
    print("held", flush=True)
    time.sleep(600)
""")


class Answering(BaseModel):
    """Says "male" to everything; counts the models opened and the requests asked."""

    name = "answering"
    fingerprint = "answering"
    capabilities = frozenset({"generate", "audio", "batch"})
    opened = 0
    asked = 0

    def __init__(self) -> None:
        type(self).opened += 1

    def generate(self, requests, decoding=None, with_stats=False):
        type(self).asked += len(requests)
        return [Generation("It sounds male.") for _ in requests]


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    """A manifest of four clips, the model spec the runner opens as :class:`Answering`, and
    the command line of an attribute run into ``tmp_path / 'run'``."""
    monkeypatch.setattr("telltale.runner.open_model", lambda options, spec=None, **kw:
                        Answering())
    Answering.opened = Answering.asked = 0
    rows = ["id,audio,gender"]
    for i in range(4):
        wave = 0.2 * np.sin(np.arange(8000) * 0.03 * (i + 1))
        sf.write(tmp_path / f"c{i}.wav", wave.astype("float32"), 16000)
        rows.append(f"c{i},c{i}.wav,{'male' if i % 2 else 'female'}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    return ["attributes", "--model", "openai:m@http://127.0.0.1:9/v1", "--data",
            str(tmp_path / "m.csv"), "--attributes", "gender", "--modes", "direct",
            "--no-silence", "--no-cache", "--out", str(tmp_path / "run")]


def _hold(run: Path, how: str = "lock") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run), how],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_naming_the_run_and_the_holder_until_it_dies(
        scripted, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(scripted) == 0
    records = (run / "records.jsonl").read_bytes()
    holder = _hold(run)
    try:
        for argv in (scripted, ["score", str(run)], ["report", str(run)]):
            opened = Answering.opened
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert f"{run} is being written by process {holder.pid}" in err, err
            assert "wait for it to finish, or use another --out directory" in err
            assert Answering.opened == opened  # refused before the model opened
        assert (run / "records.jsonl").read_bytes() == records
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: the OS releases the lock
        holder.wait()
    assert main(scripted) == 0
    assert main(["score", str(run)]) == 0


def test_two_fresh_runs_into_one_directory_the_later_is_refused_before_it_writes(tmp_path):
    from telltale.runlock import RunInUse

    holder = _hold(tmp_path / "run", "start")
    try:
        before = (tmp_path / "run" / "run.json").read_bytes()
        with pytest.raises(RunInUse, match=f"process {holder.pid}"):
            RunDir(tmp_path / "run").start("attributes", {})
        assert (tmp_path / "run" / "run.json").read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
    RunDir(tmp_path / "run").start("attributes", {})


def test_the_lock_is_reentrant_in_one_process_and_released_with_the_last_hold(tmp_path):
    first, second = RunDir(tmp_path), RunDir(tmp_path)
    first.lock()
    with second.locked():  # the runner scores and reports under the lock it took to ask
        pass
    probe = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(600)", ""),
                            str(tmp_path), "lock"], capture_output=True, text=True)
    assert probe.returncode != 0 and "RunInUse" in probe.stderr
    first.unlock()
    probe = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(600)", ""),
                            str(tmp_path), "lock"], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr


def test_duplicate_records_keep_the_first_that_did_not_fail():
    from telltale.rundir import unique_records

    records = [Record("a", "a", output="first", error="timeout"),
               Record("b", "b", output="b1"),
               Record("a", "a", output="second"),
               Record("a", "a", output="third"),
               Record("b", "b", output="b2"),
               Record("c", "c", error="bad clip"),
               Record("c", "c", error="bad clip again")]
    kept, dropped = unique_records(records)
    assert [(r.key, r.output, r.error) for r in kept] == [
        ("a", "second", None), ("b", "b1", None), ("c", None, "bad clip")]
    assert dropped == 4


def test_a_run_two_writers_damaged_scores_as_one_writers_and_is_repaired(scripted, tmp_path,
                                                                         capsys):
    run = tmp_path / "run"
    assert main(scripted) == 0
    clean = json.loads((run / "results.json").read_text())
    lines = (run / "records.jsonl").read_text().splitlines()
    # a second writer appended every probe again, with other answers and some failures
    second = [json.loads(line) for line in lines]
    for i, rec in enumerate(second):
        rec["output"], rec["error"] = ("It sounds female.", None) if i % 2 else (None, "boom")
    (run / "records.jsonl").write_text("\n".join(lines + [json.dumps(r) for r in second])
                                       + "\n")
    assert main(["score", str(run)]) == 0
    again = json.loads((run / "results.json").read_text())
    assert again["summary"] == clean["summary"] and again["verdicts"] == clean["verdicts"]
    assert again["counts"] == clean["counts"] and again["errors"] == []
    assert "4 duplicate records ignored" in capsys.readouterr().err
    assert len((run / "records.jsonl").read_text().splitlines()) == len(lines)


@pytest.mark.parametrize("where", ["file", "under a file", "read-only"])
def test_an_out_that_cannot_be_written_is_refused_before_the_model_opens(
        scripted, tmp_path, capsys, where):
    if where == "read-only":
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
        out = folder / "run"
        if _can_create(folder):  # root ignores the mode bits; a kernel folder refuses it
            out = Path("/sys/kernel/telltale-run")
            if _can_create(out.parent):
                pytest.skip("no folder here that this user cannot write")
    elif where == "file":
        out = tmp_path / "taken"
        out.write_text("a file\n")
    else:
        (tmp_path / "taken").write_text("a file\n")
        out = tmp_path / "taken" / "run"
    status = main([*scripted[:-1], str(out)])
    err = capsys.readouterr().err
    assert status == 2 and f"--out {out}" in err, err
    assert "Traceback" not in err and Answering.opened == 0


def _can_create(folder: Path) -> bool:
    try:
        (folder / "probe").mkdir()
    except OSError:
        return False
    (folder / "probe").rmdir()
    return True


def test_the_media_check_names_changed_files_of_answered_probes_only(tmp_path):
    """A failed probe is asked again anyway, so a clip mended after it failed is welcome;
    records from before files were hashed, and files moved away, are not checked."""
    from telltale.digest import file_sha256

    for name in ("a", "b", "gone"):
        (tmp_path / f"{name}.wav").write_bytes(name.encode() * 100)
    run = RunDir(tmp_path / "run")
    run.start("attributes", {})
    digest = {n: file_sha256(tmp_path / f"{n}.wav") for n in ("a", "b", "gone")}
    for key, name, error in (("a|1", "a", None), ("a|2", "a", None), ("b|1", "b", "unreadable"),
                             ("gone|1", "gone", None)):
        run.append(Record(key, name, media=str(tmp_path / f"{name}.wav"),
                          media_file_sha256=digest[name], error=error))
    run.append(Record("old|1", "old", media=str(tmp_path / "b.wav")))  # made before hashing
    (tmp_path / "b.wav").write_bytes(b"mended")
    (tmp_path / "gone.wav").unlink()
    run.check_media()
    (tmp_path / "a.wav").write_bytes(b"other words")
    with pytest.raises(ValueError, match=rf"1 media files changed since their probes were "
                                         rf"asked \(2 records\): {tmp_path / 'a.wav'}; "):
        run.check_media()
