"""The run directory: records survive a killed run and resume picks up after them."""

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
