"""`telltale compare` on real runs of the small demo: the papers' layouts, the same number as
on each run's own report, and a refusal for runs that measured different things."""

import json
import shutil

from cli import telltale


def _relabelled_copy(run, to, model, **config):
    """A copy of a real run under another model name (standing in for a second model: the
    figures then coincide, which the test uses), with config fields changed if asked."""
    shutil.copytree(run, to)
    info = json.loads((to / "run.json").read_text())
    info["model"] = model
    info["config"].update(config)
    (to / "run.json").write_text(json.dumps(info))
    return to


def test_compare_puts_runs_side_by_side_with_the_reports_numbers(demo, tmp_path):
    for audit, layout in (("attributes", "gender silence acc."), ("membership", "blind acoustic")):
        run = demo / audit
        other = _relabelled_copy(run, tmp_path / f"{audit}-b", "openai:second@http://h/v1")
        telltale("-q", "compare", run, other, "--out", tmp_path / audit)
        page = (tmp_path / audit / "compare.html").read_text()
        markdown = (tmp_path / audit / "compare.md").read_text()
        assert layout in markdown and "openai:second@http://h/v1" in page
        assert (tmp_path / audit / "compare.tex").read_text().count("\\begin{table}") == 2
        report = (run / "report.html").read_text()
        for row in json.loads((run / "results.json").read_text())["summary"]:
            if row.get("value") is None:
                continue
            cells = [line for line in markdown.splitlines()
                     if line.startswith(f"| {row['metric']} |")]
            assert len(cells) == 1, row["metric"]
            first, second = (c.strip() for c in cells[0].split(" | ")[1:3])
            assert first == second.rstrip(" |")
            assert f"<td>{first}</td>" in report, (row["metric"], first)


def test_compare_refuses_runs_that_measured_different_things(demo, tmp_path):
    run = demo / "attributes"
    other = _relabelled_copy(run, tmp_path / "b", "x", modes=["direct", "cot"])
    refused = telltale("compare", run, other, "--out", tmp_path / "c", check=False)
    assert refused.returncode == 2 and "--modes" in refused.stderr
    mixed = telltale("compare", run, demo / "membership", "--out", tmp_path / "c", check=False)
    assert mixed.returncode == 2 and "only runs of one audit" in mixed.stderr
    assert not (tmp_path / "c").exists()
