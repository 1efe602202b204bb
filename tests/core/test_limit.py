"""``--limit``: a seeded draw of the rows, balanced on membership where an audit compares
members with non-members, and a resume that would now select other rows is refused."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from telltale.config import RunOptions
from telltale.limit import check_resume, select_rows
from telltale.membership.blind_audit import BlindAudit, BlindConfig
from telltale.records import Record, Sample
from telltale.rundir import RunDir
from telltale.runner import run_audit


def _rows(members: int, others: int) -> list[Sample]:
    # members first, as a manifest written member by member is
    return [Sample(f"s{i:02d}", member=int(i < members)) for i in range(members + others)]


def test_a_limit_draws_as_many_members_as_non_members_in_manifest_order():
    rows = _rows(30, 10)
    chosen = select_rows(rows, 10, seed=0, by_member=True)
    assert sum(s.member for s in chosen) == 5 and len(chosen) == 10
    assert [s.id for s in chosen] == sorted(s.id for s in chosen)
    assert chosen == select_rows(rows, 10, seed=0, by_member=True)  # the seed decides
    assert chosen != select_rows(rows, 10, seed=1, by_member=True)
    # the first ten rows, which --limit used to take, are all members
    assert sum(s.member for s in rows[:10]) == 10


def test_a_short_class_gives_all_it_has_and_the_other_makes_up_the_number():
    chosen = select_rows(_rows(30, 3), 10, seed=2, by_member=True)
    assert len(chosen) == 10 and sum(1 - s.member for s in chosen) == 3


def test_without_members_a_limit_is_a_seeded_random_sample():
    rows = [Sample(f"s{i:02d}") for i in range(50)]
    chosen = select_rows(rows, 8, seed=0)
    assert len(chosen) == 8 and chosen != rows[:8]
    assert chosen == select_rows(rows, 8, seed=0)
    assert select_rows(rows, None, seed=0) == rows == select_rows(rows, 80, seed=0)


def _manifest(folder, n: int = 24):
    folder.mkdir()
    lines = ["id,audio,member,dataset"]
    for i in range(n):
        t = np.arange(8000) / 16000
        sf.write(folder / f"c{i}.wav", (0.2 * np.sin(2 * np.pi * (120 + 9 * i) * t))
                 .astype("float32"), 16000)
        lines.append(f"c{i:02d},c{i}.wav,{int(i < n // 2)},set")
    (folder / "m.csv").write_text("\n".join(lines) + "\n")
    return folder / "m.csv"


def test_a_resume_whose_limit_now_selects_other_rows_is_refused(tmp_path):
    data = _manifest(tmp_path / "data")
    config = BlindConfig(data=data, limit=8, families=("metadata",), folds=2, permutations=0)
    run = RunDir(tmp_path / "run")
    # a run made when --limit took the first rows: its records name c00..c07
    run.start("blind", config.to_dict(), seed=0, data=data)
    for i in range(8):
        run.append(Record(key=f"c{i:02d}|x", sample_id=f"c{i:02d}", output="x"))
    before = run.run_json_path.read_text()
    with pytest.raises(ValueError, match=r"--limit 8 with --seed 0 does not select"):
        run_audit(BlindAudit(config), RunOptions(out=run.path, jobs=1))
    assert run.run_json_path.read_text() == before  # refused before anything was written


def test_a_resume_of_the_rows_the_limit_selects_goes_on(tmp_path):
    data = _manifest(tmp_path / "data")
    samples = [Sample(f"c{i:02d}", member=int(i < 12)) for i in range(24)]
    chosen = select_rows(samples, 8, seed=0, by_member=True)
    run = RunDir(tmp_path / "run")
    run.start("blind", {}, data=data)
    for sample in chosen[:5]:
        run.append(Record(key=f"{sample.id}|x", sample_id=sample.id, output="x"))
    check_resume(run, chosen, 8, 0)  # a subset of the selection: nothing to refuse
