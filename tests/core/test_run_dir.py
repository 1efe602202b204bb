"""The run directory: records survive a killed run and resume picks up after them."""

import pytest

from telltale.records import Record
from telltale.rundir import RunDir


def test_resume_cuts_a_torn_last_line_so_the_next_record_is_not_lost(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start("membership", {"model": "organism:x"})
    run.append(Record(key="a|original", sample_id="a", output="first"))
    run.append(Record(key="b|original", sample_id="b", output="second"))
    whole = run.records_path.read_bytes()
    # a SIGKILL in the middle of writing the third record
    run.records_path.write_bytes(whole + b'{"key": "c|orig')

    resumed = RunDir(tmp_path / "run")
    resumed.start("membership", {"model": "organism:x"})
    assert resumed.records_path.read_bytes() == whole
    resumed.append(Record(key="c|original", sample_id="c", output="third"))
    assert [r.output for r in resumed.records()] == ["first", "second", "third"]
    assert resumed.done_keys() == {"a|original", "b|original", "c|original"}


def test_start_leaves_complete_records_alone(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start("attributes", {})
    run.append(Record(key="a|direct", sample_id="a", output="male"))
    before = run.records_path.read_bytes()
    RunDir(tmp_path / "run").start("attributes", {})
    assert run.records_path.read_bytes() == before


def test_a_resume_may_not_change_the_config_that_defines_the_probes(tmp_path):
    config = {"conditions": ["original", "silence"], "max_new_tokens": 48,
              "api_key": "sk-secretsecret"}
    RunDir(tmp_path / "run").start("membership", config)
    RunDir(tmp_path / "run").start("membership", config)
    # a redacted secret is compared as redacted: another key is not a protocol change
    RunDir(tmp_path / "run").start("membership", {**config, "api_key": "sk-othersecret"})
    with pytest.raises(ValueError, match=r"other --conditions, --max-new-tokens; resume"):
        RunDir(tmp_path / "run").start("membership", {**config, "conditions": ["original"],
                                                      "max_new_tokens": 96})
    with pytest.raises(ValueError, match="holds a membership run, not attributes"):
        RunDir(tmp_path / "run").check_config("attributes", config)
    assert RunDir(tmp_path / "run").read_run_json()["config"]["conditions"] == [
        "original", "silence"]


def test_opening_a_run_creates_nothing(tmp_path):
    run = RunDir(tmp_path / "typo")
    assert run.records() == [] and run.read_run_json() == {}
    with pytest.raises(FileNotFoundError):
        run.read_results()
    assert not (tmp_path / "typo").exists()


def test_records_reach_the_file_at_once_and_disk_in_groups(tmp_path, monkeypatch):
    """Group commit: each record is written through to the kernel when appended (a killed
    process loses none), and fsync runs once per group of lines or per interval."""
    import os
    import subprocess
    import sys
    import time

    from telltale import rundir

    script = ("import os, signal, sys\n"
              "from telltale.records import Record\n"
              "from telltale.rundir import RunDir\n"
              "run = RunDir(sys.argv[1]); run.create()\n"
              "for i in range(10): run.append(Record(key=f'k{i}', sample_id='s'))\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "killed")],
                          capture_output=True, timeout=60)
    assert proc.returncode == -9
    assert [r.key for r in RunDir(tmp_path / "killed").records()] == [f"k{i}" for i in
                                                                     range(10)]

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(rundir.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    run = RunDir(tmp_path / "run")
    run.create()
    for i in range(600):
        run.append(Record(key=f"k{i}", sample_id="s"))
    assert len(synced) == 2  # groups of 256
    run.sync()
    assert len(synced) == 3 and len(run.records()) == 600
    run.sync()
    assert len(synced) == 3  # nothing pending, nothing flushed
    appender = rundir.GroupCommit(tmp_path / "other.jsonl", max_seconds=0.05)
    appender.append("{}\n")
    deadline = time.monotonic() + 5
    while len(synced) == 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(synced) == 4  # the interval bound: flushed without another append
    # a rewrite through another RunDir of the same folder closes the shared handle
    RunDir(tmp_path / "run").rewrite_records([Record(key="only", sample_id="s")])
    run.append(Record(key="after", sample_id="s"))
    assert [r.key for r in RunDir(tmp_path / "run").records()] == ["only", "after"]


def test_a_model_fingerprinted_another_way_resumes_and_any_other_is_refused(tmp_path):
    """A backend that changed how it fingerprints (the openai: backend added the served
    weights in issue 26) names its earlier fingerprints as aliases."""
    RunDir(tmp_path / "run").start("attributes", {}, model_fingerprint="old-way")
    with pytest.raises(ValueError, match=r"different model fingerprint \(old-way vs new-way\)"):
        RunDir(tmp_path / "run").start("attributes", {}, model_fingerprint="new-way")
    RunDir(tmp_path / "run").start("attributes", {}, model_fingerprint="new-way",
                                   fingerprint_aliases={"old-way"})
    assert RunDir(tmp_path / "run").read_run_json()["model_fingerprint"] == "new-way"


def test_a_refused_resume_names_the_flag_a_user_types(tmp_path):
    from telltale.attributes.audit import AttributesConfig
    from telltale.config import config_flags

    data = tmp_path / "m.csv"
    data.write_text("id\n")
    run = RunDir(tmp_path / "run")
    run.start("attributes", AttributesConfig(data=data).to_dict())
    quiet = AttributesConfig(data=data, silence_control=False, max_new_tokens=8).to_dict()
    with pytest.raises(ValueError, match=r"other --max-new-tokens, --no-silence;"):
        run.check_config("attributes", quiet, config_flags(AttributesConfig))
