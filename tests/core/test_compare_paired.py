"""``telltale compare`` pairs membership runs on the same clips (one model through two
backends): the AUC difference with its paired interval, and the statistics token by token
where both runs transcribed a clip alike. On small real runs (tests/fixture_runs.py)."""

import json
import shutil

from telltale.compare import load_runs, paired_rows


def test_a_run_paired_with_its_copy_and_with_a_perturbed_copy(fixture_runs, tmp_path):
    first = fixture_runs["membership"]
    same, shifted = tmp_path / "same", tmp_path / "shifted"
    shutil.copytree(first, same)
    shutil.copytree(first, shifted)
    # the copy "served" with one clip's second token 0.5 nats likelier, one clip said
    # otherwise, and the top-k tail mass a server reports
    records = [json.loads(line) for line in (shifted / "records.jsonl").open()]
    originals = [r for r in records if r["probe"].get("condition", "original") == "original"]
    originals[0]["token_stats"]["logprob"][1] += 0.5
    originals[1]["output"] = "something else"
    for r in originals:
        r["token_stats"]["tail_mass"] = [0.1] * len(r["token_stats"]["logprob"])
    (shifted / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    rows, columns = paired_rows(load_runs([first, same, shifted]))
    assert [r["run"] for r in rows] == ["same", "shifted"] and "clips" in columns
    copy, moved = rows
    n = len(originals)
    assert copy["clips"] == n and copy["identical transcriptions"] == n
    assert copy["MIA AUC difference (this - first)"].startswith("0.000 [0.000, 0.000]")
    assert copy["|log p difference| mean (max)"] == "0 (0)"
    assert moved["identical transcriptions"] == n - 1
    assert moved["|log p difference| mean (max)"].endswith("(0.5)")
    assert moved["tail mass mean"] == "0.100"
