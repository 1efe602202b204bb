"""How large a run's report and sample browser get, and how fast they open, at 20,000
records.

    python benchmarks/bench_report.py --records 20000 --out /tmp/bench-report

The records are synthetic (attribute-audit shaped: a prompt, a 20-word reply, a parsed
label with its evidence, ground truth) but written and read through the real RunDir and
report code; there is no media, so the sizes are those of the text. The page load is the
wall time of headless Debian chromium dumping the page after its scripts ran (the fastest
of five loads), minus the same for an empty page.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from machine import machine_info

from telltale.records import Record
from telltale.report import write_report
from telltale.rundir import RunDir

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--dump-dom"]


def _load_seconds(url: str, profile: Path, repeats: int = 5) -> tuple[float, str]:
    """The fastest of ``repeats`` loads (a busy machine only ever adds time) and the DOM."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        dom = subprocess.run(["chromium", *FLAGS, f"--user-data-dir={profile}", url],
                             capture_output=True, text=True, timeout=300, check=True).stdout
        times.append(time.perf_counter() - started)
    return min(times), dom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-report"))
    args = parser.parse_args()
    run = RunDir(args.out / "run")
    if run.path.exists():
        raise SystemExit(f"{run.path} exists; choose a new --out")
    run.start("attributes", {"attributes": ["gender"], "modes": ["direct"]}, model="synthetic")
    words = "the speaker sounds like a young woman from the north of england i think".split()
    for i in range(args.records):
        label = "female" if i % 3 else "male"
        run.append(Record(
            key=f"s{i // 4}|gender|direct|{'original' if i % 2 else 'silence'}|{i}",
            sample_id=f"s{i // 4}", prompt="What is the gender of the speaker?",
            output=" ".join(words[(i + k) % len(words)] for k in range(20)) + f" ({label})",
            probe={"attribute": "gender", "mode": "direct",
                   "condition": "original" if i % 2 else "silence"},
            parsed={"label": label, "status": "answer", "evidence": label},
            scores={"correct": bool(i % 3)}, labels={"gender": label}))
    run.write_results({"audit": "attributes", "summary": [], "verdicts": []})
    started = time.perf_counter()
    write_report(run.path)
    write_seconds = time.perf_counter() - started
    empty = args.out / "empty.html"
    empty.write_text("<!doctype html><html><body></body></html>")
    baseline, _ = _load_seconds(empty.as_uri(), args.out / "profile")
    figures = {"machine": machine_info(), "records": args.records,
               "write_seconds": round(write_seconds, 2)}
    for name in ("report.html", "samples.html", "samples.js"):
        figures[f"{name} bytes"] = (run.path / name).stat().st_size
    for name in ("report.html", "samples.html"):
        seconds, dom = _load_seconds((run.path / name).as_uri(), args.out / "profile")
        figures[f"{name} load seconds"] = round(seconds - baseline, 2)
        if name == "samples.html":
            assert f'data-shown="{args.records}"' in dom, "the browser did not list every record"
    figures["chromium empty page seconds"] = round(baseline, 2)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
