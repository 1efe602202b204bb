"""The run directory: records survive a killed run and resume picks up after them."""

import pytest

from telltale.records import Record
from telltale.run import RunDir


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


def test_a_resume_may_not_change_the_options_that_define_the_probes(tmp_path):
    config = {"model": "organism:x", "conditions": "original,silence", "max_new_tokens": 48,
              "api_key": "sk-secretsecret", "batch_size": 8}
    fixed = ("conditions", "max_new_tokens", "api_key")
    RunDir(tmp_path / "run").start("membership", config, fixed=fixed)
    # the same options, or other values of options outside ``fixed``, resume
    RunDir(tmp_path / "run").start("membership", {**config, "batch_size": 1}, fixed=fixed)
    # a redacted secret is compared as redacted: another key is not a protocol change
    RunDir(tmp_path / "run").start("membership", {**config, "api_key": "sk-othersecret"},
                                   fixed=fixed)
    with pytest.raises(ValueError, match=r"other --conditions, --max-new-tokens; resume"):
        RunDir(tmp_path / "run").start("membership", {**config, "conditions": "original",
                                                      "max_new_tokens": 96}, fixed=fixed)
    assert RunDir(tmp_path / "run").read_run_json()["config"]["conditions"] == "original,silence"
    # an option the earlier run did not record (an older telltale) is not held against it
    RunDir(tmp_path / "run").check_options({"tts_k": 3}, ("tts_k",))
