"""Screenshots of run pages at two widths, for looking at them (issue 27's check).

    python scripts/screenshots.py OUT RUN [RUN ...] [--widths 1400,800] [--height 2400]

For each run directory, ``report.html`` and ``samples.html`` are opened in headless Debian
chromium at each width and saved as ``OUT/<run name>-<page>-<width>.png``; a run folder
name that repeats (``.../seed-0/attributes``) is prefixed with its parent's name.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--hide-scrollbars", "--disable-background-networking",
         "--disable-component-update", "--virtual-time-budget=5000"]


def shoot(page: Path, out: Path, width: int, height: int, profile: Path) -> Path:
    """One screenshot of ``page`` at ``width`` x ``height`` CSS pixels."""
    subprocess.run(["chromium", *FLAGS, f"--user-data-dir={profile}",
                    f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()],
                   capture_output=True, timeout=180, check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--widths", default="1400,800")
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = [r.resolve().name for r in args.runs]
    for run in args.runs:
        run = run.resolve()
        name = run.name if names.count(run.name) == 1 else f"{run.parent.name}-{run.name}"
        for page in ("report.html", "samples.html"):
            if not (run / page).is_file():
                continue
            for width in map(int, args.widths.split(",")):
                target = args.out / f"{name}-{page.split('.')[0]}-{width}.png"
                shoot(run / page, target, width, args.height, args.out / ".profile")
                print(target)


if __name__ == "__main__":
    main()
