"""The demo's pages in a real browser (headless Debian chromium): no console message, no
broken image, a screenshot of each in the tests' output; the sample browser's filters."""

import json
import re
from pathlib import Path

from browser import chromium, needs_chromium

from telltale.records import Record
from telltale.samples import outcome

pytestmark = needs_chromium


def _pages(demo: Path) -> list[Path]:
    return [demo / "index.html", demo / "organism" / "card.html",
            *(demo / audit / name for audit in ("attributes", "membership")
              for name in ("report.html", "samples.html"))]


def test_every_demo_page_loads_without_console_message_or_broken_image(demo, tmp_path):
    for page in _pages(demo):
        dom, console = chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
        assert not console, (page, console)
        assert "</html>" in dom
        for src in re.findall(r"<img[^>]* src=\"([^\"]+)\"", dom):
            assert src.startswith("data:image/") or (page.parent / src).is_file(), (page, src)
        shot = tmp_path / f"{page.parent.name}-{page.stem}.png"
        chromium(page.as_uri(), tmp_path / "profile", f"--screenshot={shot}",
                 "--window-size=1200,1400")
        assert shot.stat().st_size > 10_000, shot  # a rendered page, not a blank canvas


def test_the_sample_browser_filters_in_the_browser(demo, tmp_path):
    run = demo / "attributes"
    records = [Record.from_dict(json.loads(line))
               for line in (run / "records.jsonl").read_text().splitlines()]
    for hash_, keep in (
            ("condition=silence&outcome=unparsed",
             lambda r: r.probe["condition"] == "silence" and outcome(r) == "unparsed"),
            ("condition=silence&outcome=refusal",
             lambda r: r.probe["condition"] == "silence" and outcome(r) == "refusal"),
            ("mode=direct&label=gender%3Dfemale",
             lambda r: r.probe["mode"] == "direct" and r.labels.get("gender") == "female"),
            ("", lambda r: True)):
        dom, console = chromium(f"{(run / 'samples.html').as_uri()}#{hash_}",
                                tmp_path / "profile", "--dump-dom")
        assert not console
        expected = sum(map(keep, records))
        assert f'data-shown="{expected}"' in dom, (hash_, expected)
        rows = re.findall(r'<tr data-key="([^"]+)"', dom)
        assert len(rows) == min(expected, 50)  # one page of 50
        wanted = {r.key for r in records if keep(r)}
        assert set(rows) <= wanted


def test_the_demo_index_shows_each_audits_verdicts_and_pages(demo, tmp_path):
    dom, console = chromium((demo / "index.html").as_uri(), tmp_path / "profile", "--dump-dom")
    assert not console
    for audit in ("attributes", "membership"):
        verdicts = json.loads((demo / audit / "results.json").read_text())["verdicts"]
        assert all(v["text"].split(" - ")[0].split(" (")[0] in dom for v in verdicts)
        for page in ("report.html", "samples.html"):
            assert f'href="{audit}/{page}"' in dom and (demo / audit / page).is_file()
    # a row names its attribute and prompt; numbers as every page writes them
    assert "gender refusal rate (direct prompt)" in dom
    assert re.findall(r"\d+%", dom.split("<h2>")[1]) == ["95%"]  # "[95% CI]": no figure in %


def test_the_membership_browser_of_the_demo_ranks_clips_and_plays_what_was_heard(demo, tmp_path):
    run = demo / "membership"
    records = [Record.from_dict(json.loads(line))
               for line in (run / "records.jsonl").read_text().splitlines()]
    dom, console = chromium(f"{(run / 'samples.html').as_uri()}#member=non-member&sort=score-low",
                            tmp_path / "profile", "--dump-dom")
    assert not console
    shown = [r for r in records if r.labels["member"] == 0]
    assert f'data-shown="{len(shown)}"' in dom
    lowest = min((r for r in shown if "mia_score" in r.scores),
                 key=lambda r: r.scores["mia_score"])
    assert re.findall(r'<tr data-key="([^"]+)"', dom)[0] == lowest.key
    for condition, heard in (("silence", "silence of the clip's length"),
                             ("tts", "the transcript read by TTS voice no. ")):
        dom, _ = chromium(f"{(run / 'samples.html').as_uri()}#condition={condition}",
                          tmp_path / "profile", "--dump-dom")
        assert dom.count(f"what the model heard: {heard}") == min(50, sum(
            r.probe["condition"] == condition for r in records))
