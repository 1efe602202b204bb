"""The README's example block runs top to bottom in an empty folder, as a new user runs it
after ``make setup``: every line as written, with smaller values of its size options
(:data:`SMALL`) and the server on a free port instead of 8000. The lines that need model
weights or a hosted API are in a block of their own, marked as examples, and not run."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from telltale.models.serve_cli import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "# offline, top to bottom on a fresh clone"
#: each size option of the block as the README writes it, and as the test runs it
SMALL = {"--clips 200": "--clips 32", "--size demo": "--size tiny", "--limit 120": "--limit 4",
         "--limit 12": "--limit 1", "--forms 4": "--forms 1", "--memory 20": "--memory 2",
         "--control 8": "--control 1", "--utility 16": "--utility 1",
         "--samples 5": "--samples 2"}
SIZE_OPTIONS = sorted({key.split()[0] for key in SMALL})

def example_block(text: str) -> str:
    """The bash block of the README that starts with :data:`MARK`."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    found = [b for b in blocks if b.startswith(MARK)]
    assert len(found) == 1, "the README has one offline example block"
    return found[0]


def small(block: str, port: int) -> str:
    """``block`` with every size option at its :data:`SMALL` value and port 8000 moved."""
    sized = re.sub(r"(?<!\S)(" + "|".join(SIZE_OPTIONS) + r") (\S+)",
                   lambda m: SMALL[m.group(0)], block)
    return sized.replace("8000", str(port))


@pytest.mark.slow
@pytest.mark.timeout(3600)  # every audit of the block in turn: 10 minutes at load 8
def test_the_readme_example_block_runs_top_to_bottom(tmp_path):
    block = example_block(README.read_text(encoding="utf-8"))
    assert "openai:closed@" not in block and "hf:/models" not in block  # examples only
    script = "\n".join([
        "set -euo pipefail",
        f'telltale() {{ "{sys.executable}" -m telltale "$@"; }}',
        "trap 'if [ -n \"${pid:-}\" ]; then kill $pid 2>/dev/null || true; fi' EXIT",
        small(block, free_port())])
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    runs = tmp_path / "runs"
    for name in ("org-attr", "blind", "mia", "mia-bb", "org-attr-served", "mit", "disc", "ret",
                 "disc-plain", "redact"):
        assert (runs / name / "results.json").is_file(), name
        assert (runs / name / "report.html").is_file(), name
    assert (runs / "cmp" / "compare.html").is_file()
    # the adapter named in the spec is loaded: another model than the base assistant
    fingerprint = {name: json.loads((runs / name / "run.json").read_text())["model_fingerprint"]
                   for name in ("disc", "disc-plain")}
    assert fingerprint["disc"] != fingerprint["disc-plain"]
    assert (tmp_path / "corpus" / "membership.csv").is_file()
    served = (runs / "org-attr-served" / "records.jsonl").read_text()
    direct = (runs / "org-attr" / "records.jsonl").read_text()
    prompt = re.compile(r'"prompt": "([^"]*)"')
    assert sorted(prompt.findall(served)) == sorted(prompt.findall(direct))


def test_the_block_has_a_small_size_for_every_costly_line():
    """Every size option of the block has a small value here (a new one would fail), and
    nothing outside the block's examples needs weights or a hosted API."""
    block = example_block(README.read_text(encoding="utf-8"))
    for written in re.findall(r"(?<!\S)(?:" + "|".join(SIZE_OPTIONS) + r") \S+", block):
        assert written in SMALL, f"{written}: add its small value to SMALL"
    sized = small(block, 1234)
    assert "8000" not in sized and ":1234/v1" in sized
    assert set(re.findall(r"(?<!\S)(?:" + "|".join(SIZE_OPTIONS) + r") \S+", sized)) <= set(
        SMALL.values())
