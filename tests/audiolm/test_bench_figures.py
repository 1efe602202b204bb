"""``benchmarks/bench_audiolm.py`` reads a membership run's figures where the membership
audit writes them: a results.json made by the audit's own scoring from synthetic records
(members with a lower loss), read back by the benchmark."""

import json
import sys
from pathlib import Path

import numpy as np

from telltale.membership.config import MembershipConfig
from telltale.membership.scoring import membership_metrics
from telltale.models.base import STAT_NAMES
from telltale.records import Record
from telltale.rundir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_audiolm


def _record(i: int, member: int, rng: np.random.Generator) -> Record:
    n = 8
    shift = -1.5 if member else 0.0  # members: higher log-probabilities
    stats = {"tokens": [f"t{j}" for j in range(n)]}
    for name in STAT_NAMES:
        stats[name] = list(rng.normal(-2.0 + shift, 0.5, n))
    return Record(key=f"c{i}|original|0", sample_id=f"c{i}",
                  probe={"condition": "original", "realisation": 0},
                  output="the words of the clip", token_stats=stats,
                  labels={"member": member})


def test_membership_figures_read_what_the_audit_writes(tmp_path):
    rng = np.random.default_rng(0)
    run = RunDir(tmp_path / "run")
    run.create()
    run.run_json_path.write_text(json.dumps({"data": "synthetic.csv"}))
    config = MembershipConfig(data=Path("synthetic.csv"), baselines=False, folds=4)
    records = [_record(i, i % 2, rng) for i in range(40)]
    found = membership_metrics(run, config, records)
    run.write_results({"audit": "membership", **found.to_dict()})

    figures = bench_audiolm.membership_figures(run.path)
    assert figures["auc"]["value"] > 0.9
    assert figures["verdict"] is not None and figures["verdict_text"]
    assert figures["dataset_inference_p"] is not None and figures["dataset_inference_p"] < 0.01
    # no blind baselines ran: dataset inference cannot rule out a recording difference
    assert figures["dataset_inference_verdict"] == "unverified"
    assert figures["dataset_inference_blind_p"] is None
    assert {v["level"] for v in figures["verdicts"]} <= {"warn", "ok", "info", "caution"}
