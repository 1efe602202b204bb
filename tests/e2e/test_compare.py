"""`telltale compare` on real runs of the small demo: one column per run whatever its model
and data file are called, the same number as on each run's own report, the verdicts in
the reports' words, runs marked whose figures are weaker than they look, and a refusal
naming the real flag for runs that measured different things."""

import json
import re
import shutil

from cli import served, telltale


def _copy(run, to, model=None, **config):
    """A copy of a real run (standing in for another run: the figures then coincide, which
    the test uses), under another model name or config fields if asked."""
    shutil.copytree(run, to)
    info = json.loads((to / "run.json").read_text())
    if model:
        info["model"] = model
    info["config"].update(config)
    info["seed"] = info["config"].get("seed", info.get("seed"))
    (to / "run.json").write_text(json.dumps(info))
    return to


def _table(markdown: str, title: str) -> list[list[str]]:
    """The rows (cells) of the Markdown table under ``## title``."""
    section = markdown.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip("|").split(" | ")]
            for line in section.splitlines()[2:]]


def test_compare_puts_runs_side_by_side_with_the_reports_numbers(demo, tmp_path):
    for audit, layout in (("attributes", "gender silence acc."), ("membership", "blind acoustic")):
        run = demo / audit
        other = _copy(run, tmp_path / "second" / audit, "openai:second@http://h/v1")
        telltale("-q", "compare", run, other, "--out", tmp_path / audit)
        page = (tmp_path / audit / "compare.html").read_text()
        markdown = (tmp_path / audit / "compare.md").read_text()
        assert layout in markdown and "openai:second@http://h/v1" in page
        # a membership run and its copy share their clips, so they are paired too
        paired = audit == "membership"
        assert (tmp_path / audit / "compare.tex").read_text().count("\\begin{table}") == \
            3 + paired
        assert ("Paired on the same clips" in markdown) == paired
        report = (run / "report.html").read_text()
        for row in json.loads((run / "results.json").read_text())["summary"]:
            if row.get("value") is None:
                continue
            cells = [line for line in markdown.splitlines()
                     if line.startswith(f"| {row['metric']} |")]
            assert len(cells) == 1, row["metric"]
            first, second = (c.strip() for c in cells[0].split(" | ")[1:3])
            assert first == second.rstrip(" |")
            assert f"<td class='v'>{first}</td>" in report, (row["metric"], first)


def test_two_runs_of_one_model_on_manifests_of_one_name_stay_two_columns(demo, tmp_path):
    """The demo's membership.csv and another membership.csv: each run keeps its figures."""
    run = demo / "membership"
    other = _copy(run, tmp_path / "other-data" / "membership",
                  data=str(tmp_path / "elsewhere" / "membership.csv"))
    results = json.loads((other / "results.json").read_text())
    results["attack"]["aggregated"]["auc"]["value"] = 0.5  # a different figure
    (other / "results.json").write_text(json.dumps(results))
    telltale("-q", "compare", run, other, "--out", tmp_path / "cmp")
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    mine, theirs = _table(markdown, "Membership AUC beside the blind baselines")
    auc = json.loads((run / "results.json").read_text())["attack"]["aggregated"]["auc"]
    assert mine[:3] == [f"{demo.name}/membership", "membership.csv",
                        f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"]
    assert theirs[:2] == ["other-data/membership", "membership.csv"]
    assert theirs[2].startswith("0.500 [")
    verdict = json.loads((run / "results.json").read_text())["diagnosis"]
    words = {"warn": "Leak", "ok": "No leak shown", "info": "Inconclusive",
             "caution": "Caution"}[verdict["level"]]
    assert mine[-1] == words  # the report's words, not "credible"


def test_runs_that_differ_in_seed_only_show_their_spread(demo, tmp_path):
    run = demo / "attributes"
    other = _copy(run, tmp_path / "seed-1" / "attributes", seed=1)
    telltale("-q", "compare", run, other, "--out", tmp_path / "cmp")
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert "## Spread over seeds" in markdown and "| seed 0 | seed 1 |" in markdown
    assert re.search(r"\| 0\.000 \| .* to ", markdown)  # identical copies: SD 0


def test_a_failed_run_is_marked(demo, tmp_path):
    run = demo / "attributes"
    other = _copy(run, tmp_path / "failed" / "attributes")
    info = json.loads((other / "run.json").read_text())
    info["counts"] = {"done": 64, "skipped": 0, "errors": 896}
    info["outcome"] = "attributes: 960 probes, 64 done now, 0 already recorded, 896 failed - FAILED"
    (other / "run.json").write_text(json.dumps(info))
    telltale("-q", "compare", run, other, "--out", tmp_path / "cmp")
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "failed/attributes (!)" in page
    assert "896 of 960 probes failed (share 0.933" in page


def test_compare_refuses_runs_that_measured_different_things(demo, tmp_path):
    run = demo / "attributes"
    other = _copy(run, tmp_path / "b", "x", modes=["direct", "cot"])
    refused = telltale("compare", run, other, "--out", tmp_path / "c", check=False)
    assert refused.returncode == 2 and "--modes" in refused.stderr
    quiet = _copy(run, tmp_path / "q", silence_control=False)
    refused = telltale("compare", run, quiet, "--out", tmp_path / "c", check=False)
    assert refused.returncode == 2 and "--no-silence" in refused.stderr
    mixed = telltale("compare", run, demo / "membership", "--out", tmp_path / "c", check=False)
    assert mixed.returncode == 2 and "only runs of one audit" in mixed.stderr
    assert not (tmp_path / "c").exists()


def test_a_served_organism_asked_questions_it_never_learnt_is_marked(demo, tmp_path):
    """`telltale serve` lists the organism's card phrasings on /v1/models, so over openai:
    it is asked them; a --prompts file replaces them, and then the run's report and
    compare say that its answers do not measure what was planted."""
    spec = f"organism:{demo / 'organism'}"
    other = tmp_path / "prompts.json"
    other.write_text(json.dumps({"direct": {"user": "Listen closely. {question}"}}))
    runs = []
    with served(spec) as port:
        model = f"openai:{spec}@http://127.0.0.1:{port}/v1"
        common = ("--data", demo / "corpus" / "membership.csv", "--attributes", "gender",
                  "--modes", "direct", "--limit", "6", "--no-cache")
        for seed in (0, 1):
            runs.append(tmp_path / f"seed-{seed}" / "attributes")
            telltale("-q", "attributes", "--model", model, *common, "--seed", seed,
                     "--prompts", other, "--out", runs[-1])
        telltale("-q", "attributes", "--model", model, *common, "--out", tmp_path / "card")
    report = (runs[0] / "report.html").read_text()
    assert "Caution.</b> 12 of 12 probes asked the calibration organism in words it was " \
           "not built for" in report
    telltale("-q", "compare", *runs, "--out", tmp_path / "cmp")
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "seed-0/attributes (!)" in page and "seed-1/attributes (!)" in page
    # the organism asked its card's phrasings, locally or served, is not marked
    assert "words it was not built for" not in (tmp_path / "card" / "report.html").read_text()
    assert "words it was not built for" not in (demo / "attributes" / "report.html").read_text()
