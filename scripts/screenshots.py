"""Screenshots of the pages of runs, as a reader sees them at two window widths, to look at.

    python scripts/screenshots.py RUN [RUN ...] --out /tmp/shots [--widths 1400,800]

For each run folder it shoots ``report.html`` and, where there is one, ``samples.html``
(and ``index.html`` / ``compare.html`` when a folder holds those instead) in headless Debian
chromium after the pages' scripts ran; one PNG per page and width, ``<run>-<page>-<w>.png``,
as tall as ``--height``. The screenshot check of issue 27 looked at these.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

PAGES = ("index.html", "compare.html", "report.html", "samples.html")


def shoot(page: Path, png: Path, width: int, height: int, profile: Path) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--hide-scrollbars",
                    "--virtual-time-budget=8000", f"--user-data-dir={profile}",
                    f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri()],
                   capture_output=True, timeout=300, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--widths", default="1400,800")
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        for run in args.runs:
            for name in PAGES:
                page = run / name
                if not page.is_file():
                    continue
                for width in map(int, args.widths.split(",")):
                    png = args.out / f"{run.name}-{page.stem}-{width}.png"
                    shoot(page.resolve(), png, width, args.height, Path(profile))
                    print(png)


if __name__ == "__main__":
    main()
