"""The HTML report, rendered by a real headless Chromium."""

import base64
import json
import shutil
import subprocess

import pytest

from telltale.report import write_report
from telltale.rundir import RunDir
from telltale.tables import write_table

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def make_run(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start("membership", {"model": "organism:x", "api_key": "sk-secretsecret",
                                   "max_new_tokens": 16}, seed=3)
    run.write_results({
        "audit": "membership",
        "summary": [{"metric": "MIA AUC (aggregated)", "value": 0.81, "low": 0.75, "high": 0.86,
                     "n": 200, "control": "blind AUC 0.52"}],
        "verdicts": [{"level": "ok", "text": "Membership signal credible <script>x</script>"}],
        "counts": {"records": 200, "errors": 1},
        "errors": [{"sample_id": "s9", "error": "s9.wav: file is empty"}],
    })
    write_table(run.tables, "mia_vs_blind", [{"method": "loss", "AUC": 0.7},
                                             {"method": "a|b", "AUC": 0.6}], ["method", "AUC"])
    (run.figures / "roc_linear.png").write_bytes(PNG_1PX)
    return run


def test_report_contains_results_tables_figures_and_escapes_html(tmp_path):
    run = make_run(tmp_path)
    page = write_report(run.path).read_text()
    assert "MIA AUC (aggregated)" in page and "[0.750, 0.860]" in page
    assert "<td>loss</td><td>0.700</td>" in page
    assert "<td>a|b</td><td>0.600</td>" in page  # an escaped pipe stays inside its cell
    assert "data:image/png;base64," in page
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "s9.wav: file is empty" in page
    assert "sk-secretsecret" not in page
    assert "sk-secretsecret" not in (run.path / "run.json").read_text()
    config = json.loads((run.path / "run.json").read_text())["config"]
    assert config["api_key"] == "<redacted>" and config["max_new_tokens"] == 16


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    run = make_run(tmp_path)
    page = write_report(run.path)
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "MIA AUC (aggregated)" in dom and "Membership signal credible" in dom
    assert "<img" in dom and "<table>" in dom
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1000,800",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 5000  # a real rendered page, not an empty canvas


def test_failures_open_the_report_with_a_banner_and_errors_are_grouped_by_kind(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start("attributes", {}, manifest_problems=["row 3: file is empty"])
    errors = [{"sample_id": f"s{i}", "error": f"APIStatusError: 404 Not Found for "
                                              f"/v1/chat/completions (try {i})"}
              for i in range(90)]
    errors += [{"sample_id": "s7", "error": "cannot decode audio (/data/s7.wav: bad header)"}]
    run.finish(counts={"done": 5, "skipped": 0, "errors": 91}, outcome="attributes: FAILED")
    run.write_results({"audit": "attributes", "errors": errors,
                       "manifest_problems": ["row 3: file is empty"]})
    page = write_report(run.path).read_text()
    banner = page.index("class='verdict fail'")
    assert banner < page.index("<h2>")
    assert "This run FAILED. 91 probes failed of 96" in page
    assert "1 manifest row was dropped" in page
    assert "Errors (91 records, 2 kinds)" in page
    assert page.count("APIStatusError: &lt;n&gt; Not Found") == 1  # one row for 90 records
    assert "<td>90</td>" in page
